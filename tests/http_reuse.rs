//! `http-reuse`: which idle server connection a request is sent over. The same client
//! sequence runs through moonproxy and HAProxy 2.6; the backend numbers its
//! connections and answers each request with the number it arrived on.

mod common;

use common::*;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A backend numbering its connections (from 1) and logging what happens on them.
struct Numbered {
    backend: Backend,
    events: Arc<Mutex<Vec<String>>>,
}

impl Numbered {
    /// `challenge`: answer 401 with `WWW-Authenticate: <challenge>`.
    fn start(challenge: Option<&'static str>) -> Numbered {
        let next = Arc::new(AtomicU64::new(1));
        let events = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&events);
        let backend = Backend::custom(move |stream: TcpStream, _stats| {
            let id = next.fetch_add(1, Ordering::SeqCst);
            let mut out = stream.try_clone().expect("clone");
            let mut reader = BufReader::new(stream);
            loop {
                let mut line = String::new();
                match reader.read_line(&mut line) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
                // The rest of the head (requests here have no body).
                loop {
                    let mut h = String::new();
                    if reader.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
                        break;
                    }
                }
                let path = line.split(' ').nth(1).unwrap_or("?").to_string();
                log.lock().unwrap().push(format!("{id} {path}"));
                let body = format!("{id}");
                let auth = challenge.map(|c| format!("www-authenticate: {c}\r\n")).unwrap_or_default();
                let status = if challenge.is_some() { "401 Unauthorized" } else { "200 OK" };
                let res = format!("HTTP/1.1 {status}\r\ncontent-length: {}\r\n{auth}\r\n{body}", body.len());
                if out.write_all(res.as_bytes()).is_err() {
                    break;
                }
            }
            log.lock().unwrap().push(format!("{id} closed"));
        });
        Numbered { backend, events }
    }

    fn closed(&self, id: &str) -> bool {
        self.events.lock().unwrap().iter().any(|e| *e == format!("{id} closed"))
    }
}

fn config(mode: &str, server_opts: &str) -> String {
    format!(
        "defaults
            mode http
            timeout connect 5s
            timeout client 5s
            timeout server 5s
        frontend fe
            bind 127.0.0.1:{{{{fe}}}}
            default_backend be
        backend be
            http-reuse {mode}
            server s1 127.0.0.1:{{{{be}}}} {server_opts}"
    )
}

/// The connection number each request of a fixed sequence of four clients arrived on.
fn sequence(bin: &std::path::Path, mode: &str, server_opts: &str, challenge: Option<&'static str>) -> Vec<String> {
    let be = Numbered::start(challenge);
    let proxy = ProxyBuilder::new(&config(mode, server_opts)).bin(bin).port("be", be.backend.port()).start();
    let pause = || std::thread::sleep(Duration::from_millis(100));
    let get = |c: &mut Client, name: &str| {
        let res = c.http_get(&format!("/{name}"));
        assert_eq!(res.status, if challenge.is_some() { 401 } else { 200 }, "{name}");
        format!("{name}:{}", String::from_utf8_lossy(&res.body))
    };
    let mut clients = [proxy.connect("fe"), proxy.connect("fe"), proxy.connect("fe")];
    let mut seen = Vec::new();
    for (client, name) in [(0, "a1"), (1, "b1"), (1, "b2"), (0, "a2"), (2, "c1")] {
        seen.push(get(&mut clients[client], name));
        pause();
    }
    let [a, mut b, _c] = clients;
    drop(a);
    pause();
    seen.push(get(&mut b, "b3"));
    pause();
    let mut d = proxy.connect("fe");
    seen.push(get(&mut d, "d1"));
    seen
}

fn expect(seq: &str) -> Vec<String> {
    seq.split(' ').map(String::from).collect()
}

/// The sequences measured on HAProxy 2.6.12; each run also compares with a live HAProxy
/// when one is installed.
#[test]
fn idle_connections_are_shared_as_haproxy_shares_them() {
    let cases = [
        ("never", "", "a1:1 b1:2 b2:2 a2:1 c1:3 b3:2 d1:4"),
        ("safe", "", "a1:1 b1:2 b2:2 a2:1 c1:3 b3:2 d1:4"),
        // A first request may take a connection that was reused already.
        ("aggressive", "", "a1:1 b1:2 b2:2 a2:1 c1:1 b3:2 d1:2"),
        ("always", "", "a1:1 b1:1 b2:1 a2:1 c1:1 b3:1 d1:1"),
        // No idle connection at all, not even for the same client.
        ("always", "pool-max-conn 0", "a1:1 b1:2 b2:3 a2:4 c1:5 b3:6 d1:7"),
        // max-reuse does not limit HTTP/1 connections.
        ("always", "max-reuse 1", "a1:1 b1:1 b2:1 a2:1 c1:1 b3:1 d1:1"),
    ];
    let haproxy = haproxy_bin();
    if haproxy.is_none() {
        assert!(std::env::var_os("CI").is_none(), "CI must install haproxy (see .ci/run)");
    }
    for (mode, opts, want) in cases {
        let ours = sequence(&moonproxy_bin(), mode, opts, None);
        assert_eq!(ours, expect(want), "http-reuse {mode} {opts}");
        if let Some(h) = &haproxy {
            // HAProxy's own sequence depends on timing when the machine is loaded (a CI run
            // saw it give `b2` a connection of its own in `aggressive` mode): up to three
            // runs of it, one of which must match.
            let mut theirs = Vec::new();
            for _ in 0..3 {
                theirs = sequence(h, mode, opts, None);
                if theirs == ours {
                    break;
                }
            }
            assert_eq!(theirs, ours, "http-reuse {mode} {opts}: HAProxy (left) vs moonproxy");
        }
    }
}

/// A server that answers 401 with an NTLM challenge authenticates the connection: it is
/// never given to another client, even with `http-reuse always`.
#[test]
fn connection_based_authentication_keeps_the_connection_private() {
    let ours = sequence(&moonproxy_bin(), "always", "", Some("NTLM"));
    // Every client keeps its own connection; B's goes on serving B after A left.
    assert_eq!(ours, expect("a1:1 b1:2 b2:2 a2:1 c1:3 b3:2 d1:4"));
    if let Some(h) = haproxy_bin() {
        assert_eq!(sequence(&h, "always", "", Some("NTLM")), ours, "HAProxy (left) vs moonproxy");
    }
    // Basic is per request: shared as usual.
    assert_eq!(sequence(&moonproxy_bin(), "always", "", Some("Basic realm=\"x\"")), expect("a1:1 b1:1 b2:1 a2:1 c1:1 b3:1 d1:1"));
}

/// A pooled connection that outlives its client goes on serving others, and one the
/// server closes while it is idle is dropped from the pool without failing a request.
#[test]
fn pooled_connections_outlive_their_client_and_leave_when_the_server_closes() {
    let be = Numbered::start(None);
    let proxy = ProxyBuilder::new(&config("always", "")).port("be", be.backend.port()).start();
    {
        let mut a = proxy.connect("fe");
        assert_eq!(a.http_get("/a").body, b"1");
    }
    std::thread::sleep(Duration::from_millis(100));
    let mut b = proxy.connect("fe");
    assert_eq!(b.http_get("/b").body, b"1", "A's connection serves B after A left");
    assert!(!be.closed("1"));
    // The server closes every idle connection: the proxy notices and opens another.
    be.backend.close_connections();
    let deadline = Instant::now() + Duration::from_secs(5);
    while !be.closed("1") && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(100));
    let mut c = proxy.connect("fe");
    assert_eq!(c.http_get("/c").body, b"2");
    assert_eq!(b.http_get("/b2").body, b"2");
}

/// `pool-purge-delay`: a connection idle that long is closed.
#[test]
fn idle_connections_are_purged_after_the_delay() {
    let be = Numbered::start(None);
    let proxy = ProxyBuilder::new(&config("always", "pool-purge-delay 200ms")).port("be", be.backend.port()).start();
    let mut a = proxy.connect("fe");
    assert_eq!(a.http_get("/a").body, b"1");
    let deadline = Instant::now() + Duration::from_secs(5);
    while !be.closed("1") && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(be.closed("1"), "the idle connection was not purged");
    assert_eq!(a.http_get("/a2").body, b"2");
}

#[test]
fn http_reuse_arguments_are_checked_like_haproxy() {
    for (line, message) in [
        ("http-reuse sometimes", "'http-reuse' only supports 'never', 'safe', 'aggressive', 'always'."),
        ("http-reuse safe now", "'http-reuse safe' cannot handle unexpected argument 'now'."),
        ("server s2 127.0.0.1:1 pool-max-conn -2", "'pool-max-conn' must be >= -1."),
        ("server s2 127.0.0.1:1 pool-max-conn", "'pool-max-conn' expects <value> as argument."),
        ("server s2 127.0.0.1:1 pool-purge-delay 5x", "unexpected character 'x' in argument to <pool-purge-delay>."),
    ] {
        let cfg = format!("{}\n            {line}", config("safe", ""));
        let out = ProxyBuilder::new(&cfg).port("be", 1).arg("-c").run();
        assert_ne!(out.code(), Some(0), "{line}");
        assert!(out.stderr.contains(message), "{line}: {}", out.stderr);
    }
}

/// `safe`: the connection of a client that left is shared; a later (not first) request
/// of another client takes it, a first request does not.
#[test]
fn safe_shares_the_connection_of_a_client_that_left() {
    let run = |bin: &std::path::Path| -> Vec<String> {
        let be = Numbered::start(None);
        let cfg = config("safe", "").replace(
            "default_backend be",
            "http-request return status 200 content-type text/plain string local if { path /local }\n            default_backend be",
        );
        let proxy = ProxyBuilder::new(&cfg).bin(bin).port("be", be.backend.port()).start();
        let body = |c: &mut Client, path: &str| format!("{path}:{}", String::from_utf8_lossy(&c.http_get(path).body));
        let mut seen = Vec::new();
        {
            let mut a = proxy.connect("fe");
            seen.push(body(&mut a, "/a1"));
        }
        std::thread::sleep(Duration::from_millis(200));
        let mut b = proxy.connect("fe");
        seen.push(body(&mut b, "/local"));
        seen.push(body(&mut b, "/b2"));
        let mut c = proxy.connect("fe");
        seen.push(body(&mut c, "/c1"));
        seen
    };
    let ours = run(&moonproxy_bin());
    assert_eq!(ours, expect("/a1:1 /local:local /b2:1 /c1:2"));
    if let Some(h) = haproxy_bin() {
        assert_eq!(run(&h), ours, "HAProxy (left) vs moonproxy");
    }
}

/// `show stat`'s connection-reuse columns after kept-alive clients: `connect` counts
/// the connections opened, `reuse` the requests sent over an idle one, `srv_icur` and
/// `safe_conn_cur` the idle connections — the values HAProxy 2.6 shows.
#[test]
fn reuse_columns_of_show_stat_count_as_haproxy_does() {
    let fields = ["connect", "reuse", "stot", "srv_icur", "idle_conn_cur", "safe_conn_cur", "used_conn_cur"];
    let run = |bin: &std::path::Path| -> Vec<String> {
        let be = Numbered::start(None);
        let cfg = format!(
            "{}\n        listen st\n            bind 127.0.0.1:{{{{st}}}}\n            stats enable\n            stats uri /",
            config("safe", "")
        );
        let proxy = ProxyBuilder::new(&cfg).bin(bin).port("be", be.backend.port()).start();
        let (mut a, mut b) = (proxy.connect("fe"), proxy.connect("fe"));
        for _ in 0..3 {
            assert_eq!(a.http_get("/a").status, 200);
        }
        for _ in 0..2 {
            assert_eq!(b.http_get("/b").status, 200);
        }
        std::thread::sleep(Duration::from_millis(100));
        let csv = String::from_utf8(proxy.connect("st").http_get("/;csv").body).unwrap();
        let mut lines = csv.lines();
        let header: Vec<&str> = lines.next().unwrap().trim_start_matches("# ").split(',').collect();
        lines
            .map(|l| l.split(',').collect::<Vec<_>>())
            .filter(|v| v[0] == "be")
            .map(|v| {
                let cols: Vec<String> = fields.iter().map(|f| format!("{f}={}", v[header.iter().position(|h| h == f).unwrap()])).collect();
                format!("{} {}", v[1], cols.join(" "))
            })
            .collect()
    };
    let ours = run(&moonproxy_bin());
    assert_eq!(
        ours,
        [
            "s1 connect=2 reuse=3 stot=5 srv_icur=2 idle_conn_cur=0 safe_conn_cur=2 used_conn_cur=0",
            "BACKEND connect=2 reuse=3 stot=5 srv_icur= idle_conn_cur= safe_conn_cur= used_conn_cur=",
        ]
    );
    if let Some(h) = haproxy_bin() {
        assert_eq!(run(&h), ours, "HAProxy (left) vs moonproxy");
    }
}

/// Short-lived clients each leave their server connection in the pool (`safe`: a first
/// request never takes another's) until `pool-purge-delay`; the pool's share of the
/// file descriptors (`tune.pool-high-fd-ratio`) bounds how many stay. Here `maxconn
/// 100` gives a `maxsock` of 214, of which 2% is 4: of twelve clients' connections at
/// most four stay open at the server, where twelve stay with the default 25%. (HAProxy
/// 2.6 keeps fewer still, 3 and 1: it also keeps no more idle connections than its
/// recent peak of connections in use calls for, which moonproxy does not estimate; the
/// bounds hold for both.)
#[test]
fn the_fd_ratio_bounds_the_idle_connections_of_short_clients() {
    let cfg = |ratio: &str| {
        format!(
            "global
    maxconn 100
    {ratio}
defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{{{{fe}}}}
    default_backend be
backend be
    server s1 127.0.0.1:{{{{app}}}} pool-purge-delay 30s
"
        )
    };
    for bin in moonproxy_and_haproxy() {
        for ratio in ["", "tune.pool-high-fd-ratio 2"] {
            let app = http_app();
            let proxy = ProxyBuilder::new(&cfg(ratio)).bin(&bin).port("app", app.port()).start();
            for _ in 0..12 {
                let mut c = proxy.connect("fe");
                assert_eq!(c.http_request(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n").status, 200);
            }
            // Each client is gone: what stays open at the server is the pool.
            assert!(wait_until(DEADLINE, || app.stats().connections() == 12), "{}: one server connection per client", bin.display());
            let open = || app.stats().active();
            let bound = if ratio.is_empty() { 12 } else { 4 };
            assert!(wait_until(DEADLINE, || open() <= bound), "{} {ratio:?}: {} idle connections left open", bin.display(), open());
            if bin == moonproxy_and_haproxy()[0] {
                // moonproxy keeps exactly what the rule allows (none closed early).
                assert_eq!(open(), bound, "{ratio:?}");
            }
        }
    }
}
