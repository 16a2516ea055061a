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
    fn enqueue(&mut self, _be: usize, key: Key, _s: Option<usize>) -> u32 {
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
        let stream = Stream::new(0, 0, 0, client, Some(src), None, 1024, now);
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
    r.pool.picks.push_back(Pick::Server { srv: 4, addr: Some(dead) });
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
