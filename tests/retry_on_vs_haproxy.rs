//! `retry-on` (L7 retries) on moonproxy and on HAProxy 2.6 with the same configuration:
//! a scripted server fails a request (closes without answering, answers junk, 503s, or
//! never answers) and then answers; both proxies must give the client the same status,
//! log the same termination state and `%rc`, and send the server the same requests.

mod common;

use common::*;
use std::collections::VecDeque;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the scripted server does with the next connection's request.
#[derive(Clone, Copy, Debug)]
enum Act {
    /// Closes without a byte of response.
    Close,
    /// Answers something that is not HTTP, then closes.
    Junk,
    /// Never answers (until the proxy gives up and closes).
    Hang,
    /// Answers this status with the body `ok`.
    Status(u16),
}

/// The server's script (one act per connection, the last one repeats) and the
/// requests it received, as bytes.
#[derive(Default)]
struct Script {
    acts: VecDeque<Act>,
    last: Option<Act>,
    requests: Vec<Vec<u8>>,
}

fn scripted() -> (Backend, Arc<Mutex<Script>>) {
    let script = Arc::new(Mutex::new(Script::default()));
    let shared = Arc::clone(&script);
    let backend = Backend::custom(move |mut s, _| {
        s.set_read_timeout(Some(DEADLINE)).unwrap();
        let Some(request) = read_request(&mut s) else { return };
        let act = {
            let mut sc = shared.lock().unwrap();
            sc.requests.push(request);
            let act = sc.acts.pop_front().or(sc.last).unwrap_or(Act::Status(200));
            sc.last = Some(act);
            act
        };
        match act {
            Act::Close => {}
            Act::Junk => {
                let _ = s.write_all(b"this is not HTTP\r\n\r\n");
            }
            Act::Hang => {
                let mut sink = [0u8; 64];
                while matches!(s.read(&mut sink), Ok(n) if n > 0) {}
            }
            Act::Status(code) => {
                let _ = write!(s, "HTTP/1.1 {code} Scripted\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
            }
        }
    });
    (backend, script)
}

/// One request (head and `Content-Length` body), or `None` if the peer left first.
fn read_request(s: &mut TcpStream) -> Option<Vec<u8>> {
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        if let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&data[..end]).to_ascii_lowercase();
            let len = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .map_or(0, |v| v.trim().parse::<usize>().unwrap());
            if data.len() >= end + 4 + len {
                return Some(data);
            }
        }
        match s.read(&mut buf) {
            Ok(n) if n > 0 => data.extend_from_slice(&buf[..n]),
            _ => return None,
        }
    }
}

fn start(bin: &Path, server: &Backend) -> Proxy {
    ProxyBuilder::new(
        "global
    log stdout format raw local0
defaults
    mode http
    log global
    log-format \"LOG ts=%ts rc=%rc st=%ST\"
    timeout connect 1s
    timeout client 5s
    timeout server 300ms
listen l
    bind 127.0.0.1:{{fe}}
    retries 2
    retry-on conn-failure empty-response junk-response response-timeout 503
    server s1 127.0.0.1:{{be}}
listen st
    bind 127.0.0.1:{{st}}
    no log
    stats enable
    stats uri /st
",
    )
    .bin(bin)
    .port("be", server.port())
    .start()
}

/// What one exchange showed: the client's status, the log's `ts` and `rc`, the number of
/// requests the server received, and whether they were all the same bytes.
#[derive(Debug, PartialEq)]
struct Seen {
    status: u16,
    ts: String,
    rc: String,
    requests: usize,
    identical: bool,
}

/// Runs `acts` on the server and sends `request` in `parts` (a pause between them).
fn exchange(p: &Proxy, script: &Mutex<Script>, acts: &[Act], parts: &[&[u8]]) -> Seen {
    *script.lock().unwrap() = Script { acts: acts.iter().copied().collect(), ..Script::default() };
    let mark = p.mark();
    let s = TcpStream::connect(p.addr("fe")).unwrap();
    s.set_read_timeout(Some(DEADLINE)).unwrap();
    let mut c = HttpReader::new(s);
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            std::thread::sleep(Duration::from_millis(100));
        }
        c.get_mut().write_all(part).unwrap();
    }
    let status = c.read_head().unwrap().expect("a response").status();
    let line = p.wait_for_line_after(mark, is_log_line, DEADLINE);
    let sc = script.lock().unwrap();
    Seen {
        status,
        ts: field(&line, "ts").to_string(),
        rc: field(&line, "rc").to_string(),
        requests: sc.requests.len(),
        identical: sc.requests.windows(2).all(|w| w[0] == w[1]),
    }
}

fn seen(status: u16, ts: &str, rc: u32, requests: usize) -> Seen {
    Seen { status, ts: ts.into(), rc: rc.to_string(), requests, identical: true }
}

/// `wretr` of the server `s1` in backend `l`, from the stats CSV.
fn wretr(p: &Proxy) -> u64 {
    let mut s = TcpStream::connect(p.addr("st")).unwrap();
    s.set_read_timeout(Some(DEADLINE)).unwrap();
    s.write_all(b"GET /st;csv HTTP/1.0\r\n\r\n").unwrap();
    let mut csv = String::new();
    s.read_to_string(&mut csv).unwrap();
    let header = csv.lines().find(|l| l.starts_with("# pxname")).expect("a CSV header");
    let col = header.trim_start_matches("# ").split(',').position(|c| c == "wretr").unwrap();
    let row = csv.lines().find(|l| l.starts_with("l,s1,")).expect("a row for l/s1");
    row.split(',').nth(col).unwrap().parse().unwrap()
}

const GET: &[u8] = b"GET /r HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";

#[test]
fn failed_responses_are_retried_until_retries_run_out() {
    use Act::*;
    for bin in moonproxy_and_haproxy() {
        let (server, script) = scripted();
        let p = start(&bin, &server);
        let who = bin.display();
        // One failure, then an answer: the client sees only the answer.
        assert_eq!(exchange(&p, &script, &[Close, Status(200)], &[GET]), seen(200, "--", 1, 2), "{who}: empty-response");
        assert_eq!(exchange(&p, &script, &[Status(503), Status(200)], &[GET]), seen(200, "--", 1, 2), "{who}: 503");
        assert_eq!(exchange(&p, &script, &[Hang, Status(200)], &[GET]), seen(200, "--", 1, 2), "{who}: response-timeout");
        assert_eq!(exchange(&p, &script, &[Junk, Status(200)], &[GET]), seen(200, "--", 1, 2), "{who}: junk-response");
        // A status not in the set is not retried.
        assert_eq!(exchange(&p, &script, &[Status(500), Status(200)], &[GET]), seen(500, "--", 0, 1), "{who}: 500");
        // `retries 2`: three attempts, then the last one's outcome stands.
        assert_eq!(exchange(&p, &script, &[Status(503)], &[GET]), seen(503, "--", 2, 3), "{who}: 503 exhausted");
        assert_eq!(exchange(&p, &script, &[Close], &[GET]), seen(502, "SH", 2, 3), "{who}: empty exhausted");
        assert_eq!(exchange(&p, &script, &[Hang], &[GET]), seen(504, "sH", 2, 3), "{who}: timeout exhausted");
        // 4 + 2 + 2 + 2 retries. HAProxy 2.6.12 counts each L7 retry twice in `wretr`.
        let per_retry = if bin == moonproxy_bin() { 1 } else { 2 };
        assert_eq!(wretr(&p), 10 * per_retry, "{who}: wretr");
    }
}

#[test]
fn a_request_body_is_resent_only_if_it_was_whole_in_the_buffer() {
    use Act::*;
    let head = b"POST /p HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Length: 5\r\n\r\n";
    let whole = [&head[..], b"hello"].concat();
    for bin in moonproxy_and_haproxy() {
        let (server, script) = scripted();
        let p = start(&bin, &server);
        let who = bin.display();
        // Head and body together: the same bytes go to the server twice.
        let got = exchange(&p, &script, &[Close, Status(200)], &[&whole]);
        assert_eq!(got, seen(200, "--", 1, 2), "{who}: whole body");
        assert!(script.lock().unwrap().requests[1].ends_with(b"\r\n\r\nhello"), "{who}: the body was sent again");
        // The body arrives after the head left: the request cannot be sent again.
        assert_eq!(exchange(&p, &script, &[Close, Status(200)], &[head, b"hello"]), seen(502, "SH", 0, 1), "{who}: streamed body");
        assert_eq!(exchange(&p, &script, &[Status(503), Status(200)], &[head, b"hello"]), seen(503, "--", 0, 1), "{who}: streamed, 503");
    }
}

/// `retry-on` without `conn-failure` does not retry a refused connection; the parse
/// errors are HAProxy's.
#[test]
fn conn_failure_gates_connection_retries_and_errors_match() {
    for bin in moonproxy_and_haproxy() {
        let dead = RefusingPort::new();
        let p = ProxyBuilder::new(
            "global
    log stdout format raw local0
defaults
    mode http
    log global
    log-format \"LOG ts=%ts rc=%rc st=%ST\"
    timeout connect 1s
    timeout client 5s
    timeout server 1s
listen only503
    bind 127.0.0.1:{{a}}
    retries 2
    retry-on 503
    server s1 127.0.0.1:{{dead}}
listen default
    bind 127.0.0.1:{{b}}
    retries 1
    server s1 127.0.0.1:{{dead}}
",
        )
        .bin(&bin)
        .port("dead", dead.port())
        .start();
        for (name, rc) in [("a", "0"), ("b", "1")] {
            let mark = p.mark();
            let s = TcpStream::connect(p.addr(name)).unwrap();
            s.set_read_timeout(Some(DEADLINE)).unwrap();
            let mut c = HttpReader::new(s);
            c.get_mut().write_all(GET).unwrap();
            assert_eq!(c.read_head().unwrap().unwrap().status(), 503, "{}", bin.display());
            let line = p.wait_for_line_after(mark, is_log_line, DEADLINE);
            assert_eq!((field(&line, "ts"), field(&line, "rc")), ("SC", rc), "{}: {name}", bin.display());
        }
    }
    for (args, message) in [
        ("", "'retry-on' needs at least one keyword to specify when to retry"),
        ("foo", "'retry-on': unknown keyword 'foo'"),
        ("200", "'retry-on': unknown keyword '200'"),
        ("503 none", "'retry-on' 'none' keyworld only usable alone"),
    ] {
        for bin in moonproxy_and_haproxy() {
            let out = ProxyBuilder::new(&format!("defaults\n    mode http\nbackend b\n    retry-on {args}\n    server s 127.0.0.1:9\n"))
                .bin(&bin)
                .arg("-c")
                .run();
            assert_ne!(out.code(), Some(0), "{}: retry-on {args}", bin.display());
            assert!(out.stderr.contains(message) || out.stdout.contains(message), "{}: retry-on {args}: {}{}", bin.display(), out.stdout, out.stderr);
        }
    }
}

/// With `option redispatch`, an L7 retry goes to another server at once (HAProxy
/// 2.6.12 does so whatever the interval), and `%rc` shows `+1`.
#[test]
fn option_redispatch_sends_the_retry_to_another_server() {
    use Act::*;
    for bin in moonproxy_and_haproxy() {
        let (failing, failing_script) = scripted();
        let (healthy, healthy_script) = scripted();
        failing_script.lock().unwrap().acts = [Status(503)].into();
        healthy_script.lock().unwrap().acts = [Status(200)].into();
        let p = ProxyBuilder::new(
            "global
    log stdout format raw local0
defaults
    mode http
    log global
    log-format \"LOG ts=%ts rc=%rc st=%ST s=%s\"
    timeout connect 1s
    timeout client 5s
    timeout server 1s
listen l
    bind 127.0.0.1:{{fe}}
    balance first
    retries 3
    retry-on 503
    option redispatch 2
    server s1 127.0.0.1:{{s1}}
    server s2 127.0.0.1:{{s2}}
",
        )
        .bin(&bin)
        .port("s1", failing.port())
        .port("s2", healthy.port())
        .start();
        let mark = p.mark();
        let s = TcpStream::connect(p.addr("fe")).unwrap();
        s.set_read_timeout(Some(DEADLINE)).unwrap();
        let mut c = HttpReader::new(s);
        c.get_mut().write_all(GET).unwrap();
        assert_eq!(c.read_head().unwrap().unwrap().status(), 200, "{}", bin.display());
        let line = p.wait_for_line_after(mark, is_log_line, DEADLINE);
        assert_eq!((field(&line, "rc"), field(&line, "s")), ("+1", "s2"), "{}", bin.display());
        assert_eq!(failing_script.lock().unwrap().requests.len(), 1, "{}", bin.display());
    }
}

/// Each request of a kept-alive client has its own retries and its own `%rc`.
#[test]
fn each_request_of_a_kept_alive_client_is_retried_on_its_own() {
    use Act::*;
    for bin in moonproxy_and_haproxy() {
        let (server, script) = scripted();
        let p = start(&bin, &server);
        script.lock().unwrap().acts = [Status(503), Status(503), Status(200), Status(503), Status(200)].into();
        let s = TcpStream::connect(p.addr("fe")).unwrap();
        s.set_read_timeout(Some(DEADLINE)).unwrap();
        let mut c = HttpReader::new(s);
        let mut seen = Vec::new();
        for _ in 0..2 {
            let mark = p.mark();
            c.get_mut().write_all(b"GET /k HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
            let head = c.read_head().unwrap().expect("a response");
            c.read_body(&head, false, |_| {}).unwrap();
            let line = p.wait_for_line_after(mark, is_log_line, DEADLINE);
            seen.push((head.status(), field(&line, "rc").to_string()));
        }
        assert_eq!(seen, vec![(200, "2".to_string()), (200, "1".to_string())], "{}", bin.display());
    }
}
