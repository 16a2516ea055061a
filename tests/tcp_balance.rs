//! Server selection seen from outside: roundrobin and leastconn distributions,
//! retries and redispatch, maxconn queueing, use_backend rules.

mod common;

use common::*;
use std::time::Duration;

/// Connects to `{{name}}`, sends nothing, returns everything the server sent (its name).
fn ask(proxy: &Proxy, name: &str) -> String {
    String::from_utf8(proxy.connect(name).recv_until_close().0).unwrap()
}

#[test]
fn roundrobin_spreads_evenly() {
    let (a, b, c) = (Backend::reply(b"a"), Backend::reply(b"b"), Backend::reply(b"c"));
    let proxy = ProxyBuilder::logged_tcp(
        "listen l
            bind 127.0.0.1:{{fe}}
            balance roundrobin
            server a 127.0.0.1:{{a}}
            server b 127.0.0.1:{{b}}
            server c 127.0.0.1:{{c}}",
    )
    .port("a", a.port())
    .port("b", b.port())
    .port("c", c.port())
    .start();
    let mut seen = std::collections::HashMap::new();
    for _ in 0..30 {
        *seen.entry(ask(&proxy, "fe")).or_insert(0) += 1;
    }
    assert_eq!(seen.get("a"), Some(&10), "{seen:?}");
    assert_eq!(seen.get("b"), Some(&10), "{seen:?}");
    assert_eq!(seen.get("c"), Some(&10), "{seen:?}");
}

#[test]
fn leastconn_avoids_the_busy_server() {
    // s1 holds connections open (silent), s2 answers at once.
    let busy = Backend::silent();
    let free = Backend::reply(b"free");
    let proxy = ProxyBuilder::logged_tcp(
        "listen l
            bind 127.0.0.1:{{fe}}
            balance leastconn
            server s1 127.0.0.1:{{busy}}
            server s2 127.0.0.1:{{free}}",
    )
    .port("busy", busy.port())
    .port("free", free.port())
    .start();
    // Open connections until one lands on s1 and stays there.
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(proxy.connect("fe"));
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(busy.connections() >= 1);
    // With s1 busy, every new short connection goes to s2.
    for _ in 0..5 {
        assert_eq!(ask(&proxy, "fe"), "free");
    }
    drop(held);
}

#[test]
fn retries_then_redispatch_to_another_server() {
    let dead = RefusingPort::new();
    let alive = Backend::reply(b"alive");
    // Roundrobin starts on `dead`; after each redispatch the next stream starts there again.
    let proxy = ProxyBuilder::logged_tcp(
        "listen l
            bind 127.0.0.1:{{fe}}
            retries 3
            option redispatch
            timeout connect 100ms
            server dead 127.0.0.1:{{dead}}
            server alive 127.0.0.1:{{alive}}",
    )
    .port("dead", dead.port())
    .port("alive", alive.port())
    .start();
    let mut answers = Vec::new();
    for _ in 0..4 {
        answers.push(ask(&proxy, "fe"));
    }
    assert!(answers.iter().all(|a| a == "alive"), "{answers:?}");
    let lines = proxy.wait_for_lines(4, is_log_line, DEADLINE);
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
    let dead = RefusingPort::new();
    let proxy = ProxyBuilder::logged_tcp(
        "listen l
            bind 127.0.0.1:{{fe}}
            retries 2
            timeout connect 100ms
            server dead 127.0.0.1:{{dead}}",
    )
    .port("dead", dead.port())
    .start();
    let t0 = std::time::Instant::now();
    assert!(proxy.connect("fe").recv_until_close().0.is_empty());
    assert!(t0.elapsed() >= Duration::from_millis(200), "two turn-arounds of 100ms");
    let line = proxy.wait_for_line(is_log_line, DEADLINE);
    assert_eq!(field(&line, "ts"), "SC", "{line}");
    assert_eq!(field(&line, "rc"), "2", "{line}");
    assert_eq!(field(&line, "s"), "dead", "{line}");
}

#[test]
fn maxconn_queues_then_serves_in_order() {
    let backend = Backend::echo();
    let proxy = ProxyBuilder::logged_tcp(
        "listen l
            bind 127.0.0.1:{{fe}}
            timeout queue 5s
            server s1 127.0.0.1:{{be}} maxconn 1",
    )
    .port("be", backend.port())
    .start();
    let mut first = proxy.connect("fe");
    first.send(b"1");
    std::thread::sleep(Duration::from_millis(100));
    let mut second = proxy.connect("fe");
    second.send(b"2");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(backend.connections(), 1, "second connection waits in the queue");
    first.shutdown_write();
    assert_eq!(first.recv_until_close().0, b"1");
    second.shutdown_write();
    assert_eq!(second.recv_until_close().0, b"2");
    assert_eq!(backend.connections(), 2);
    let lines = proxy.wait_for_lines(2, is_log_line, DEADLINE);
    let waited: i64 = field(&lines[1], "Tw").parse().unwrap();
    assert!(waited >= 250, "second stream waited in the queue: {lines:?}");
}

#[test]
fn use_backend_rules_pick_by_destination_port() {
    let (a, b) = (Backend::reply(b"a"), Backend::reply(b"b"));
    let proxy = ProxyBuilder::logged_tcp(
        "frontend fe
            bind 127.0.0.1:{{first}}
            bind 127.0.0.1:{{second}}
            acl to_second dst_port {{second}}
            acl local src 127.0.0.0/8
            use_backend bb if to_second local
            default_backend ba
        backend ba
            server a 127.0.0.1:{{a}}
        backend bb
            server b 127.0.0.1:{{b}}",
    )
    .port("a", a.port())
    .port("b", b.port())
    .start();
    assert_eq!(ask(&proxy, "first"), "a");
    assert_eq!(ask(&proxy, "second"), "b");
}

/// `balance source` sends each client address to the same server as HAProxy 2.6 does,
/// with the map-based lookup and with `hash-type consistent` (whose ring layout must be
/// HAProxy's for this to hold), for 60 client addresses and weights 1, 2 and 3.
#[test]
fn source_hashing_picks_the_servers_haproxy_picks() {
    let Some(haproxy) = haproxy_bin() else {
        assert!(std::env::var_os("CI").is_none(), "CI must install haproxy (see .ci/run)");
        eprintln!("haproxy not installed: comparison skipped");
        return;
    };
    let (a, b, c) = (Backend::reply(b"a"), Backend::reply(b"b"), Backend::reply(b"c"));
    for hash_type in ["map-based", "consistent"] {
        let mut seen = Vec::new();
        for bin in [moonproxy_bin(), haproxy.clone()] {
            let config = format!(
                "defaults
                    mode tcp
                    timeout connect 5s
                    timeout client 5s
                    timeout server 5s
                listen fe
                    bind 127.0.0.1:{{{{fe}}}}
                    balance source
                    hash-type {hash_type}
                    server a 127.0.0.1:{{{{a}}}} weight 1
                    server b 127.0.0.1:{{{{b}}}} weight 2
                    server c 127.0.0.1:{{{{c}}}} weight 3"
            );
            let proxy = ProxyBuilder::new(&config)
                .bin(&bin)
                .port("a", a.port())
                .port("b", b.port())
                .port("c", c.port())
                .start();
            let names: Vec<String> = (2..62).map(|host| recv_all_from(proxy.addr("fe"), host)).collect();
            seen.push(names);
        }
        assert_eq!(seen[0], seen[1], "hash-type {hash_type}: moonproxy (left) and HAProxy (right) disagree");
        let distinct: std::collections::HashSet<_> = seen[0].iter().collect();
        assert!(distinct.len() > 1, "hash-type {hash_type}: every client went to one server: {:?}", seen[0]);
    }
}
