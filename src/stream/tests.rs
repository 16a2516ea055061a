//! The stream state machine driven by hand: a real loopback client socket, a real
//! poll registry, and a scripted [`ServerPool`], without a reactor loop or a binary.

use super::*;
use crate::config::model::{Capabilities, Config, Proxy, Timeouts};
use crate::reactor::{Timers, WakeQueue};
use std::collections::VecDeque;

/// A pool whose answers are scripted; records what the stream asked.
#[derive(Default)]
struct ScriptedPool {
    picks: VecDeque<Pick>,
    queued: Vec<Key>,
    released: Vec<usize>,
    attached: i32,
    records: Vec<Attempt>,
}

impl ServerPool for ScriptedPool {
    fn pick(&mut self, _be: usize, _c: Option<IpAddr>, _avoid: Option<usize>) -> Pick {
        self.picks.pop_front().unwrap_or(Pick::NoServer)
    }
    fn release(&mut self, _be: usize, srv: usize) {
        self.released.push(srv);
    }
    fn enqueue(&mut self, _be: usize, key: Key, _s: Option<usize>, _p: crate::backend::QueuePriority) -> u32 {
        self.queued.push(key);
        self.queued.len() as u32
    }
    fn leave_queue(&mut self, _be: usize, key: Key) {
        self.queued.retain(|k| *k != key);
    }
    fn is_queued(&self, _be: usize, key: Key) -> bool {
        self.queued.contains(&key)
    }
    fn attach(&mut self, _be: usize) {
        self.attached += 1;
    }
    fn detach(&mut self, _be: usize) {
        self.attached -= 1;
    }
    fn beconn(&self, _be: usize) -> u32 {
        self.attached as u32
    }
    fn server_name(&self, _be: usize, _srv: usize) -> &str {
        "s"
    }
    fn server_conns(&self, _be: usize, _srv: usize) -> u32 {
        0
    }
    fn record(&mut self, _be: usize, _srv: usize, what: Attempt) {
        self.records.push(what);
    }
}

struct Rig {
    poll: mio::Poll,
    timers: Timers,
    wake: WakeQueue,
    proxies: Vec<ProxyRt>,
    pool: ScriptedPool,
    _peer: std::net::TcpStream,
    stream: Stream,
    key: Key,
}

impl Rig {
    fn new(timeouts: Timeouts, retries: u32) -> Rig {
        Rig::with_mode(timeouts, retries, false)
    }

    /// A rig whose stream runs in HTTP mode.
    fn http(timeouts: Timeouts) -> Rig {
        Rig::with_mode(timeouts, 0, true)
    }

    fn with_mode(timeouts: Timeouts, retries: u32, http_mode: bool) -> Rig {
        let p = Proxy {
            name: "l".into(),
            cap: Capabilities { frontend: true, backend: true },
            timeouts,
            retries,
            ..Default::default()
        };
        let proxies = proxy::build_proxies(&Config { proxies: vec![p], ..Default::default() }).unwrap();
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let peer = std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (s, src) = l.accept().unwrap();
        s.set_nonblocking(true).unwrap();
        let client = Conn::new(conn::Sock::Tcp(mio::net::TcpStream::from_std(s)));
        let now = Instant::now();
        let mut stream = Stream::new(0, 0, 0, client, Some(src), None, 1024, now);
        if http_mode {
            stream = stream.with_http(http::limits_for(1024));
        }
        Rig {
            poll: mio::Poll::new().unwrap(),
            timers: Timers::default(),
            wake: WakeQueue::default(),
            proxies,
            pool: ScriptedPool::default(),
            _peer: peer,
            stream,
            key: Key { slot: 0, gen: 0 },
        }
    }

    fn run(&mut self, ev: Event, now: Instant) -> Life {
        let mut cx = Ctx { registry: self.poll.registry(), timers: &mut self.timers, wake: &mut self.wake, now };
        let mut env = Env { cx: &mut cx, key: self.key, proxies: &mut self.proxies, pool: &mut self.pool };
        self.stream.on_event(&mut env, ev)
    }

    /// Runs `f` on the stream with an `Env`, as the runtime would during an event.
    fn with_env<T>(&mut self, f: impl FnOnce(&mut Stream, &mut Env<'_, '_>) -> T) -> T {
        let mut cx = Ctx { registry: self.poll.registry(), timers: &mut self.timers, wake: &mut self.wake, now: Instant::now() };
        let mut env = Env { cx: &mut cx, key: self.key, proxies: &mut self.proxies, pool: &mut self.pool };
        f(&mut self.stream, &mut env)
    }

    /// Fires armed timers at their own deadlines until the state changes. A timer
    /// armed for an earlier deadline that was since pushed back only re-arms
    /// (lazy cancellation), so this may take more than one.
    fn fire_timer(&mut self) -> Life {
        let before = self.stream.state();
        for _ in 0..5 {
            let at = self.stream.armed.expect("a timer is armed");
            let (deadline, _) = self.timers.pop_expired(at).expect("heap has it");
            let life = self.run(Event::Timer(deadline), deadline);
            if life == Life::Finished || self.stream.state() != before {
                return life;
            }
        }
        panic!("state {before:?} never changed");
    }
}

#[test]
fn no_server_closes_with_sc_and_detaches() {
    let mut r = Rig::new(Timeouts::default(), 3);
    assert_eq!(r.run(Event::Wake, Instant::now()), Life::Finished);
    assert_eq!(r.stream.termination().to_string(), "SC");
    assert_eq!(r.pool.attached, 0, "attached then detached");
}

#[test]
fn queue_timeout_closes_with_sq_and_leaves_the_queue() {
    let t = Timeouts { queue: Some(Duration::from_millis(50)), ..Default::default() };
    let mut r = Rig::new(t, 3);
    r.pool.picks.push_back(Pick::Queue { server: None });
    assert_eq!(r.run(Event::Wake, Instant::now()), Life::Alive);
    assert_eq!(r.stream.state(), State::Queued);
    assert_eq!(r.pool.queued, vec![r.key]);
    assert_eq!(r.fire_timer(), Life::Finished);
    assert_eq!(r.stream.termination().to_string(), "sQ");
    assert!(r.pool.queued.is_empty());
}

#[test]
fn superseded_timer_is_ignored() {
    let t = Timeouts { queue: Some(Duration::from_millis(50)), ..Default::default() };
    let mut r = Rig::new(t, 3);
    r.pool.picks.push_back(Pick::Queue { server: None });
    let now = Instant::now();
    r.run(Event::Wake, now);
    // A timer for another deadline (already replaced) does nothing.
    assert_eq!(r.run(Event::Timer(now + Duration::from_millis(1)), now + Duration::from_secs(1)), Life::Alive);
    assert_eq!(r.stream.state(), State::Queued);
}

#[test]
fn refused_connects_retry_after_turnaround_then_sc() {
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let t = Timeouts { connect: Some(Duration::from_millis(20)), ..Default::default() };
    let mut r = Rig::new(t, 1);
    r.pool.picks.push_back(Pick::Server { srv: 4, addr: Some(Target::Inet(dead)) });
    r.run(Event::Wake, Instant::now());
    assert_eq!(r.stream.state(), State::Connecting);
    // Let the kernel refuse, then deliver the writable/error event.
    let refused = Ready { writable: true, error: true, ..Default::default() };
    std::thread::sleep(Duration::from_millis(20));
    r.run(Event::Server(refused), Instant::now());
    assert_eq!(r.stream.state(), State::TurnAround, "error: wait before retrying the same server");
    r.fire_timer();
    assert_eq!(r.stream.state(), State::Connecting);
    std::thread::sleep(Duration::from_millis(20));
    assert_eq!(r.run(Event::Server(refused), Instant::now()), Life::Finished);
    assert_eq!(r.stream.termination().to_string(), "SC");
    assert_eq!(r.pool.records, vec![Attempt::Failed, Attempt::Retried, Attempt::Failed]);
    assert_eq!(r.pool.released, vec![4], "the slot is released once, at close");
}

#[test]
fn a_server_without_address_fails_like_a_refused_one() {
    let mut r = Rig::new(Timeouts::default(), 1);
    r.pool.picks.push_back(Pick::Server { srv: 0, addr: None });
    r.run(Event::Wake, Instant::now());
    assert_eq!(r.stream.state(), State::TurnAround, "first attempt failed at once");
    assert_eq!(r.fire_timer(), Life::Finished);
    assert_eq!(r.stream.termination().to_string(), "SC");
}

/// A redispatch to a server whose socket cannot be created ends a pass in
/// `Connecting` with no socket to report anything: the stream must have queued
/// itself in the run queue.
#[test]
fn a_socketless_attempt_wakes_itself() {
    let mut r = Rig::new(Timeouts::default(), 1);
    r.proxies[0].options.redispatch = true;
    r.pool.picks.push_back(Pick::Server { srv: 0, addr: None });
    r.pool.picks.push_back(Pick::Server { srv: 1, addr: None });
    assert_eq!(r.run(Event::Wake, Instant::now()), Life::Alive);
    assert_eq!(r.stream.state(), State::Connecting);
    assert!(!r.wake.is_empty(), "queued itself");
    r.wake.take();
    assert_eq!(r.run(Event::Wake, Instant::now()), Life::Finished);
    assert_eq!(r.stream.termination().to_string(), "SC");
    assert_eq!(r.pool.released, vec![0, 1]);
}

/// The client sends `bytes`; the stream runs on the readable event.
fn client_sends(r: &mut Rig, bytes: &[u8]) -> Life {
    use std::io::Write;
    r._peer.write_all(bytes).unwrap();
    std::thread::sleep(Duration::from_millis(20));
    r.run(Event::Client(Ready { readable: true, writable: true, ..Default::default() }), Instant::now())
}

/// What the client received, up to the proxy's close.
fn client_reads(r: &mut Rig) -> String {
    use std::io::Read;
    r._peer.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    r._peer.shutdown(std::net::Shutdown::Write).unwrap();
    std::thread::sleep(Duration::from_millis(20));
    let life = r.run(Event::Client(Ready { readable: true, writable: true, read_closed: true, ..Default::default() }), Instant::now());
    assert_eq!(life, Life::Finished, "closed once the client closed");
    let mut out = String::new();
    r._peer.read_to_string(&mut out).unwrap();
    out
}

#[test]
fn http_bad_request_is_answered_without_choosing_a_server() {
    let mut r = Rig::http(Timeouts::default());
    assert_eq!(r.stream.state(), State::HttpHead);
    r.pool.picks.push_back(Pick::Server { srv: 0, addr: None });
    assert_eq!(client_sends(&mut r, b"GET / HTTP/1.1\r\nBad Header: x\r\n\r\n"), Life::Alive);
    assert_eq!(r.stream.state(), State::LocalReply);
    assert_eq!(r.pool.picks.len(), 1, "no server was picked");
    assert_eq!(r.pool.attached, 0);
    let out = client_reads(&mut r);
    assert!(out.starts_with("HTTP/1.1 400 "), "{out}");
    assert_eq!(r.stream.termination().to_string(), "PR");
    let rec = r.stream.log_record(&r.proxies, &r.pool, Instant::now(), 1);
    let http = rec.http.expect("an HTTP log record");
    assert_eq!((http.status, http.method), (Some(400), None));
}

#[test]
fn http_request_without_server_gets_503_and_is_logged_as_such() {
    use std::io::Read;
    let mut r = Rig::http(Timeouts::default());
    // The request was read entirely and asks to close: the stream closes as soon as the
    // page is sent (a kept-alive client would wait for its next request, as in HAProxy).
    assert_eq!(client_sends(&mut r, b"GET /x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"), Life::Finished);
    let mut out = String::new();
    r._peer.read_to_string(&mut out).unwrap();
    assert!(out.starts_with("HTTP/1.1 503 "), "{out}");
    assert_eq!(r.stream.termination().to_string(), "SC");
    let rec = r.stream.log_record(&r.proxies, &r.pool, Instant::now(), 1);
    let http = rec.http.expect("an HTTP log record");
    assert_eq!(http.status, Some(503));
    assert_eq!(http.uri.as_deref(), Some("/x"));
    assert!(http.t_request.is_some());
    assert_eq!(r.pool.attached, 0, "detached at close");
}

#[test]
fn http_slow_head_times_out_with_408() {
    // Long enough that a loaded machine never reaches it before `fire_timer` does
    // (which runs the stream at the deadline itself): 30 ms made the test flaky.
    let t = Timeouts { http_request: Some(Duration::from_secs(5)), ..Default::default() };
    let mut r = Rig::http(t);
    assert_eq!(client_sends(&mut r, b"GET / HTTP/1.1\r\n"), Life::Alive);
    assert_eq!(r.stream.state(), State::HttpHead);
    r.fire_timer();
    assert_eq!(r.stream.state(), State::LocalReply);
    let out = client_reads(&mut r);
    assert!(out.starts_with("HTTP/1.1 408 "), "{out}");
    assert_eq!(r.stream.termination().to_string(), "cR");
}

/// An HTTP rig whose stream has just parsed `GET / HTTP/1.1` (with `Connection: close`,
/// so that the stream ends after its answer) and is about to run its rules; `verdict`
/// is what they answered.
fn http_verdict(timeouts: Timeouts, verdict: crate::http::rules::Verdict) -> Rig {
    http_verdict_on(timeouts, verdict, b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
}

/// [`http_verdict`] on the request head `head`.
fn http_verdict_on(timeouts: Timeouts, verdict: crate::http::rules::Verdict, head: &[u8]) -> Rig {
    use crate::http::h1::{RequestParser, Status};
    let mut r = Rig::http(timeouts);
    let Ok(Status::Complete(req, _)) = RequestParser::new(Default::default()).parse(head) else {
        panic!("a valid request")
    };
    r.stream.http_mut().set_request_for_test(req);
    let go_on = r.with_env(|s, env| s.http_verdict(env, verdict, Phase::Request));
    assert!(!go_on, "only Continue goes on");
    r.run(Event::Wake, Instant::now()); // as after an event: timers armed
    r
}

#[test]
fn http_deny_and_use_service_answer_with_error_pages() {
    use crate::http::rules::Verdict;
    let mut r = http_verdict(Timeouts::default(), Verdict::Deny { status: 403 });
    assert_eq!(r.stream.state(), State::LocalReply);
    assert!(client_reads(&mut r).starts_with("HTTP/1.1 403 "));
    assert_eq!(r.stream.termination().to_string(), "PR");
    let mut r = http_verdict(Timeouts::default(), Verdict::UseService("x".into()));
    assert!(client_reads(&mut r).starts_with("HTTP/1.1 503 "));
}

#[test]
fn http_tarpit_holds_then_answers() {
    use crate::http::rules::Verdict;
    let t = Timeouts { tarpit: Some(Duration::from_millis(20)), ..Default::default() };
    let mut r = http_verdict(t, Verdict::Tarpit { status: 500, response: None });
    assert_eq!(r.stream.state(), State::Tarpit);
    r.fire_timer();
    assert_eq!(r.stream.state(), State::LocalReply);
    assert!(client_reads(&mut r).starts_with("HTTP/1.1 500 "));
    assert_eq!(r.stream.termination().to_string(), "PT");
}

#[test]
fn http_reply_without_close_keeps_the_connection() {
    use crate::http::rules::Verdict;
    let response = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nhi".to_vec();
    let mut r = http_verdict_on(Timeouts::default(), Verdict::Reply { response, close: false }, b"GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(r.stream.state(), State::LocalReply);
    r.run(Event::Client(Ready { writable: true, ..Default::default() }), Instant::now());
    assert_eq!(r.stream.state(), State::HttpHead, "ready for the next request");
    let logs = r.stream.take_txn_logs();
    assert_eq!(logs.len(), 1);
    assert_eq!(&logs[0].termination, b"LR");
    assert_eq!(logs[0].http.as_ref().and_then(|h| h.status), Some(200));
}

/// A frontend that logs nothing gets no log record per transaction; either way the
/// connection, once back to waiting for its next request, holds no transaction.
#[test]
fn http_txn_without_logging_builds_no_record_and_idles_empty() {
    use crate::http::rules::Verdict;
    for logs in [true, false] {
        let response = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nhi".to_vec();
        let head = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n";
        let mut r = Rig::http(Timeouts::default());
        r.proxies[0].logs_streams = logs;
        let mut r = {
            // As `http_verdict_on`, with the flag set before the transaction ends.
            use crate::http::h1::{RequestParser, Status};
            let Ok(Status::Complete(req, _)) = RequestParser::new(Default::default()).parse(head) else {
                panic!("a valid request")
            };
            r.stream.http_mut().set_request_for_test(req);
            let go_on = r.with_env(|s, env| s.http_verdict(env, Verdict::Reply { response, close: false }, Phase::Request));
            assert!(!go_on);
            r
        };
        r.run(Event::Client(Ready { writable: true, ..Default::default() }), Instant::now());
        assert_eq!(r.stream.state(), State::HttpHead, "ready for the next request");
        assert_eq!(r.stream.take_txn_logs().len(), usize::from(logs), "logs_streams = {logs}");
        let h = r.stream.http.as_ref().expect("HTTP mode");
        assert!(!h.txn.is_allocated(), "an idle connection holds no transaction");
        assert!(h.txn.req.is_none() && h.txn.status.is_none());
    }
}
