//! `source` (backend, defaults, server) and `usesrc`: the local address of the
//! connections to servers and of their health checks, seen from the server side.

mod common;

use common::*;
use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::sync::{Arc, Mutex};

/// A TCP server on 127.0.0.1 that notes the address of every peer (as `accept` gives
/// it: a health check may reset the connection at once) and answers `ok`.
struct Recording {
    port: u16,
    seen: Arc<Mutex<Vec<IpAddr>>>,
}

impl Recording {
    fn start() -> Recording {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        std::thread::spawn(move || {
            for (mut s, peer) in std::iter::from_fn(|| listener.accept().ok()) {
                log.lock().unwrap().push(peer.ip());
                let _ = s.write_all(b"ok");
            }
        });
        Recording { port, seen }
    }

    fn seen(&self) -> Vec<IpAddr> {
        self.seen.lock().unwrap().clone()
    }
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// Reads what the proxy relays until it closes.
fn read_all(mut c: TcpStream) -> Vec<u8> {
    c.set_read_timeout(Some(DEADLINE)).unwrap();
    let mut out = Vec::new();
    let _ = c.read_to_end(&mut out);
    out
}

/// `source` in `defaults` applies to a backend's servers and their checks; a server's
/// own `source` wins (here with `interface lo`: SO_BINDTODEVICE). HAProxy 2.6 does the same.
#[test]
fn connections_and_checks_come_from_the_source_address() {
    for bin in moonproxy_and_haproxy() {
        let (a, b) = (Recording::start(), Recording::start());
        let config = "defaults
    mode tcp
    timeout connect 1s
    timeout client 5s
    timeout server 5s
    source 127.0.0.2
frontend fe
    bind 127.0.0.1:{{fe}}
    default_backend be
frontend fe2
    bind 127.0.0.1:{{fe2}}
    default_backend be2
backend be
    server s1 127.0.0.1:{{a}} check inter 200ms
backend be2
    server s2 127.0.0.1:{{b}} check inter 200ms source 127.0.0.3 interface lo
";
        let proxy = ProxyBuilder::new(config).bin(&bin).port("a", a.port).port("b", b.port).start();
        for fe in ["fe", "fe2"] {
            let c = TcpStream::connect(("127.0.0.1", proxy.port(fe))).unwrap();
            assert_eq!(read_all(c), b"ok", "{bin:?} through {fe}");
        }
        // The request's connection and at least one check each.
        // moonproxy's checks complete the handshake, so the server accepts them and sees
        // their source too; HAProxy's pure TCP checks reset the connection before the
        // server's `accept` returns it, so with HAProxy only the relayed one shows.
        let want = if bin == moonproxy_bin() { 2 } else { 1 };
        assert!(wait_until(DEADLINE, || a.seen().len() >= want && b.seen().len() >= want), "{bin:?}: {:?} {:?}", a.seen(), b.seen());
        assert!(a.seen().iter().all(|p| *p == ip("127.0.0.2")), "{bin:?}: {:?}", a.seen());
        assert!(b.seen().iter().all(|p| *p == ip("127.0.0.3")), "{bin:?}: {:?}", b.seen());
    }
}

/// Whether this process may set IP_TRANSPARENT (root, or CAP_NET_ADMIN).
fn may_be_transparent() -> bool {
    let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    s.set_ip_transparent_v4(true).is_ok()
}

/// `usesrc clientip`: the server sees the client's address (here 127.0.0.5, which the
/// client binds to), not the proxy's.
#[test]
fn usesrc_clientip_shows_the_client_address() {
    if !may_be_transparent() {
        eprintln!("skipped: IP_TRANSPARENT is not permitted here");
        return;
    }
    let a = Recording::start();
    let config = "defaults
    mode tcp
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{{fe}}
    default_backend be
backend be
    source 0.0.0.0 usesrc clientip
    server s1 127.0.0.1:{{a}}
";
    let proxy = ProxyBuilder::new(config).port("a", a.port).start();
    let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    s.bind(&SocketAddr::new(ip("127.0.0.5"), 0).into()).unwrap();
    s.connect(&SocketAddr::new(ip("127.0.0.1"), proxy.port("fe")).into()).unwrap();
    assert_eq!(read_all(s.into()), b"ok");
    assert_eq!(a.seen(), vec![ip("127.0.0.5")]);
}

/// Without CAP_NET_ADMIN, `usesrc` stops the start with an alert naming the line
/// (HAProxy starts and fails each connection instead).
#[test]
fn usesrc_without_cap_net_admin_is_refused_at_start() {
    let capsh = ["/usr/sbin/capsh", "/sbin/capsh", "/usr/bin/capsh"].into_iter().find(|p| std::path::Path::new(p).exists());
    let (Some(capsh), true) = (capsh, may_be_transparent()) else {
        eprintln!("skipped: needs capsh and a process allowed to drop CAP_NET_ADMIN");
        return;
    };
    let dir = std::env::temp_dir().join(format!("moonproxy-usesrc-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = dir.join("usesrc.cfg");
    let text = format!(
        "defaults\n    mode tcp\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\nfrontend fe\n    bind 127.0.0.1:{}\n    default_backend be\nbackend be\n    server s1 127.0.0.1:1 source 0.0.0.0 usesrc client\n",
        free_port()
    );
    std::fs::write(&cfg, text).unwrap();
    let cmd = format!("exec {} -db -f {}", moonproxy_bin().display(), cfg.display());
    let out = std::process::Command::new(capsh).args(["--drop=cap_net_admin,cap_net_raw", "--", "-c", &cmd]).output().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let expected = format!("parsing [{}:10] : 'usesrc' needs the IP_TRANSPARENT socket option", cfg.display());
    assert!(stderr.contains("[ALERT]") && stderr.contains(&expected), "{stderr}");
}

/// `source` errors are refused by `-c` with HAProxy's words.
#[test]
fn bad_source_lines_are_refused() {
    for (line, message) in [
        ("    source", "'source' expects <addr>[:<port>], and optionally 'usesrc' <addr>, and 'interface' <name>."),
        ("    source 127.0.0.1 usesrc", "'usesrc' expects <addr>[:<port>], 'client', or 'clientip' as argument."),
        ("    source 127.0.0.1 foo", "'source' only supports optional keywords 'interface' and 'usesrc'."),
        ("    source 127.0.0.1:99999", "'source 127.0.0.1:99999' : invalid port '99999'"),
        ("    source 127.0.0.1:1000-2000", "'source 127.0.0.1:1000-2000' : port range not permitted here in '127.0.0.1:1000-2000'"),
        ("    server s1 127.0.0.1:1 source 127.0.0.1:2000-1000", "'source 127.0.0.1:2000-1000' : invalid port range '2000-1000'"),
        ("    server s1 127.0.0.1:1 source 127.0.0.1:1000-70000", "'source 127.0.0.1:1000-70000' : invalid port '70000'"),
        ("    server s1 127.0.0.1:1 usesrc client", "'server be/s1' : 'usesrc' only allowed after a 'source' statement.."),
    ] {
        let config = format!("backend be\n{line}\n");
        for bin in moonproxy_and_haproxy() {
            let out = ProxyBuilder::new(&config).bin(&bin).flags(["-c"]).run();
            assert_ne!(out.code(), Some(0), "{bin:?} {line}");
            assert!(out.stderr.contains(message), "{bin:?} {line}:\n{}", out.stderr);
        }
    }
}

/// Three consecutive loopback ports nobody uses, below the system's ephemeral range
/// (where other tests' outgoing connections would take ports of the window).
fn port_window() -> u16 {
    for attempt in 0..1000u32 {
        let low = 20000 + ((std::process::id() * 7 + attempt * 97) % 12000) as u16;
        if (0..3).all(|k| std::net::TcpListener::bind(("127.0.0.1", low + k)).is_ok()) {
            return low;
        }
    }
    panic!("no three free consecutive ports in 20000..32003");
}

/// A server's `source <addr>:<low>-<high>`: each connection to the server binds to a
/// port of the range that no other connection to it uses; with every port taken, a
/// further connection fails (the client is closed on), as in HAProxy 2.6.
#[test]
fn a_source_port_range_gives_each_connection_a_free_port_as_haproxy() {
    let mut runs = Vec::new();
    for bin in moonproxy_and_haproxy() {
        // A server telling each client the port it came from, then holding the
        // connection until the client closes.
        let server = Backend::custom(|mut conn, _| {
            let peer = conn.peer_addr().map(|a| a.port()).unwrap_or(0);
            let _ = conn.write_all(format!("{peer}\n").as_bytes());
            let mut sink = [0u8; 64];
            while matches!(conn.read(&mut sink), Ok(n) if n > 0) {}
        });
        let low = port_window();
        let config = "defaults
    mode tcp
    retries 0
    timeout connect 1s
    timeout client 5s
    timeout server 5s
listen l
    bind 127.0.0.1:{{fe}}
    server s1 127.0.0.1:{{be}} source 127.0.0.1:{{low}}-{{high}}
";
        let proxy = ProxyBuilder::new(config).bin(&bin).port("be", server.port()).var("low", low.to_string()).var("high", (low + 2).to_string()).start();
        let mut held = Vec::new();
        let mut ports = Vec::new();
        for _ in 0..3 {
            let mut c = proxy.connect("fe");
            let line = c.recv_until(b"\n");
            ports.push(String::from_utf8_lossy(&line).trim().parse::<u16>().unwrap_or(0) - low);
            held.push(c);
        }
        ports.sort();
        let mut seen = vec![format!("offsets in the range: {ports:?}")];
        // Every port of the range is taken: the fourth connection cannot be made.
        let mut fourth = proxy.connect("fe");
        let (data, _) = fourth.recv_until_close();
        seen.push(format!("fourth: {:?}", String::from_utf8_lossy(&data)));
        // A port given back serves again.
        drop(held.pop());
        assert!(wait_until(DEADLINE, || server.stats().active() < 3), "{}: the connection did not end", bin.display());
        let mut again = proxy.connect("fe");
        let line = again.recv_until(b"\n");
        let port = String::from_utf8_lossy(&line).trim().parse::<u16>().unwrap_or(0);
        seen.push(format!("again in the range: {}", (low..=low + 2).contains(&port)));
        runs.push((bin, seen));
    }
    assert_eq!(runs[0].1, ["offsets in the range: [0, 1, 2]", "fourth: \"\"", "again in the range: true"]);
    assert_runs_agree(&runs);
}
