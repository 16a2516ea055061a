//! Server selection seen from outside: roundrobin and leastconn distributions,
//! retries and redispatch, maxconn queueing, use_backend rules.

mod support_tcp;

use std::io::Write;
use std::time::Duration;
use support_tcp::*;

fn ask(port: u16) -> String {
    String::from_utf8(read_all(connect(port))).unwrap()
}

#[test]
fn roundrobin_spreads_evenly() {
    let (a, b, c) = (Backend::named("a"), Backend::named("b"), Backend::named("c"));
    let port = free_port();
    let cfg = format!(
        "{}listen l\n    bind 127.0.0.1:{port}\n    balance roundrobin\n    server a {}\n    server b {}\n    server c {}\n",
        preamble("", ""),
        a.addr,
        b.addr,
        c.addr
    );
    let _p = Proxy::start(&cfg, port);
    let mut seen = std::collections::HashMap::new();
    for _ in 0..30 {
        *seen.entry(ask(port)).or_insert(0) += 1;
    }
    assert_eq!(seen.get("a"), Some(&10), "{seen:?}");
    assert_eq!(seen.get("b"), Some(&10), "{seen:?}");
    assert_eq!(seen.get("c"), Some(&10), "{seen:?}");
}

#[test]
fn leastconn_avoids_the_busy_server() {
    // s1 holds connections open (silent), s2 answers at once.
    let busy = Backend::silent();
    let free = Backend::named("free");
    let port = free_port();
    let cfg = format!(
        "{}listen l\n    bind 127.0.0.1:{port}\n    balance leastconn\n    server s1 {}\n    server s2 {}\n",
        preamble("", ""),
        busy.addr,
        free.addr
    );
    let _p = Proxy::start(&cfg, port);
    // Open connections until one lands on s1 and stays there.
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(connect(port));
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(busy.hits() >= 1);
    // With s1 busy, every new short connection goes to s2.
    for _ in 0..5 {
        assert_eq!(ask(port), "free");
    }
    drop(held);
}

#[test]
fn retries_then_redispatch_to_another_server() {
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let alive = Backend::named("alive");
    let port = free_port();
    // Roundrobin starts on `dead`; after each redispatch the next stream starts there again.
    let cfg = format!(
        "{}listen l\n    bind 127.0.0.1:{port}\n    retries 3\n    option redispatch\n    timeout connect 100ms\n    server dead {dead}\n    server alive {}\n",
        preamble("", ""),
        alive.addr
    );
    let p = Proxy::start(&cfg, port);
    let mut answers = Vec::new();
    for _ in 0..4 {
        answers.push(ask(port));
    }
    assert!(answers.iter().all(|a| a == "alive"), "{answers:?}");
    let lines = p.lines.wait_n(4, Duration::from_secs(10), |l| l.starts_with("LOG "));
    let redispatched: Vec<_> = lines.iter().filter(|l| field(l, "rc").starts_with('+')).collect();
    assert!(!redispatched.is_empty(), "some stream was redispatched: {lines:?}");
    for l in redispatched {
        // HAProxy 2.6 redispatches at the first retry (see `Stream::redispatch_due`).
        assert_eq!(field(l, "rc"), "+1", "{l}");
        assert_eq!(field(l, "s"), "alive", "{l}");
        assert_eq!(field(l, "ts"), "--", "{l}");
    }
}

/// Without `option redispatch`, the same server is retried after a turn-around of
/// `min(timeout connect, 1s)` per retry.
#[test]
fn retries_without_redispatch_wait_between_attempts() {
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let port = free_port();
    let cfg = format!(
        "{}listen l\n    bind 127.0.0.1:{port}\n    retries 2\n    timeout connect 100ms\n    server dead {dead}\n",
        preamble("", "")
    );
    let p = Proxy::start(&cfg, port);
    let t0 = std::time::Instant::now();
    assert!(read_all(connect(port)).is_empty());
    assert!(t0.elapsed() >= Duration::from_millis(200), "two turn-arounds of 100ms");
    let line = p.log_line("LOG ");
    assert_eq!(field(&line, "ts"), "SC", "{line}");
    assert_eq!(field(&line, "rc"), "2", "{line}");
    assert_eq!(field(&line, "s"), "dead", "{line}");
}

#[test]
fn maxconn_queues_then_serves_in_order() {
    let backend = Backend::echo();
    let port = free_port();
    let cfg = format!(
        "{}listen l\n    bind 127.0.0.1:{port}\n    timeout queue 5s\n    server s1 {} maxconn 1\n",
        preamble("", ""),
        backend.addr
    );
    let p = Proxy::start(&cfg, port);
    let mut first = connect(port);
    first.write_all(b"1").unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let mut second = connect(port);
    second.write_all(b"2").unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(backend.hits(), 1, "second connection waits in the queue");
    first.shutdown(std::net::Shutdown::Write).unwrap();
    assert_eq!(read_all(first), b"1");
    second.shutdown(std::net::Shutdown::Write).unwrap();
    assert_eq!(read_all(second), b"2");
    assert_eq!(backend.hits(), 2);
    let lines = p.lines.wait_n(2, Duration::from_secs(10), |l| l.starts_with("LOG "));
    let waited: i64 = field(&lines[1], "Tw").parse().unwrap();
    assert!(waited >= 250, "second stream waited in the queue: {lines:?}");
}

#[test]
fn use_backend_rules_pick_by_destination_port() {
    let (a, b) = (Backend::named("a"), Backend::named("b"));
    let (p1, p2) = (free_port(), free_port());
    let cfg = format!(
        "{}frontend fe\n    bind 127.0.0.1:{p1}\n    bind 127.0.0.1:{p2}\n    acl to_second dst_port {p2}\n    acl local src 127.0.0.0/8\n    use_backend bb if to_second local\n    default_backend ba\nbackend ba\n    server a {}\nbackend bb\n    server b {}\n",
        preamble("", ""),
        a.addr,
        b.addr
    );
    let p = Proxy::start(&cfg, p1);
    p.wait_listening(p2);
    assert_eq!(ask(p1), "a");
    assert_eq!(ask(p2), "b");
}
