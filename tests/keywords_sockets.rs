//! Socket tuning keywords, observed from outside with `ss` on the proxy's own sockets
//! and compared with HAProxy 2.6: `clitcpka-idle`, `srvtcpka-idle` (the keep-alive
//! timer), `tune.rcvbuf.client`, `tune.sndbuf.server` (the socket's buffer sizes).
//! `*-cnt` and `*-intvl` are not visible to `ss`: the unit test of
//! `sys::sockopt::set_keepalive_probes` reads them back with getsockopt.

mod common;

use common::*;
use std::process::Command;

/// `ss` lines (two per socket: the socket, then its `skmem`) for established TCP
/// sockets matching `filter`, joined per socket.
fn ss(filter: &str) -> Vec<String> {
    let out = Command::new("ss").args(["-tnoemH", "state", "established", filter]).output().expect("ss runs");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut socks: Vec<String> = Vec::new();
    for line in text.lines() {
        if line.starts_with(char::is_whitespace) {
            if let Some(last) = socks.last_mut() {
                last.push_str(line);
            }
        } else {
            socks.push(line.to_string());
        }
    }
    socks
}

/// The keep-alive timer's remaining seconds (`timer:(keepalive,1min16sec,0)` → 76).
fn keepalive_secs(sock: &str) -> Option<u64> {
    let t = sock.split("timer:(keepalive,").nth(1)?.split(',').next()?;
    let (min, rest) = match t.split_once("min") {
        Some((m, r)) => (m.parse::<u64>().ok()?, r),
        None => (0, t),
    };
    let sec = rest.trim_end_matches("sec");
    let sec = if sec.is_empty() { 0.0 } else { sec.parse::<f64>().ok()? };
    Some(min * 60 + sec as u64)
}

/// A value of the `skmem:(...)` part (`rb`, `tb`).
fn skmem(sock: &str, key: &str) -> Option<u64> {
    let m = sock.split("skmem:(").nth(1)?.split(')').next()?;
    m.split(',').find_map(|f| f.strip_prefix(key)?.parse().ok())
}

#[test]
fn keepalive_idle_and_buffer_sizes_reach_the_sockets() {
    let backend = Backend::silent();
    for bin in moonproxy_and_haproxy() {
        let proxy = ProxyBuilder::new(
            "global\n tune.rcvbuf.client 50000\n tune.sndbuf.server 60000\n\
             defaults\n mode tcp\n timeout client 50s\n timeout server 50s\n timeout connect 5s\n\
             frontend f\n bind 127.0.0.1:{{fe}}\n option clitcpka\n clitcpka-idle 77\n clitcpka-cnt 3\n clitcpka-intvl 5\n default_backend b\n\
             backend b\n option srvtcpka\n srvtcpka-idle 88s\n srvtcpka-intvl 1500ms\n server s 127.0.0.1:{{be}}\n",
        )
        .bin(&bin)
        .port("be", backend.port())
        .start();
        let before = backend.connections();
        let client = proxy.connect("fe");
        assert!(backend.wait_connections(before + 1, DEADLINE), "{}", bin.display());
        let who = bin.display().to_string();
        let fe = ss(&format!("( sport = :{} and dport = :{} )", proxy.port("fe"), client.local_port()));
        let be_side: Vec<String> = ss(&format!("( dport = :{} )", backend.port()));
        assert_eq!(fe.len(), 1, "{who}: {fe:?}");
        let idle = keepalive_secs(&fe[0]).unwrap_or_else(|| panic!("{who}: no keep-alive timer: {fe:?}"));
        assert!((70..=77).contains(&idle), "{who}: {fe:?}");
        // The kernel doubles what SO_RCVBUF / SO_SNDBUF ask for.
        assert_eq!(skmem(&fe[0], "rb"), Some(100_000), "{who}: {fe:?}");
        // The proxy's connection to the backend (not the backend's own socket, which has
        // no keep-alive timer) has the server-side settings.
        let srv: Vec<&String> = be_side.iter().filter(|s| s.contains("timer:(keepalive")).collect();
        assert_eq!(srv.len(), 1, "{who}: {be_side:?}");
        let idle = keepalive_secs(srv[0]).unwrap();
        assert!((80..=88).contains(&idle), "{who}: {srv:?}");
        assert_eq!(skmem(srv[0], "tb"), Some(120_000), "{who}: {srv:?}");
        drop(client);
    }
}

#[test]
fn tcpka_tuning_errors_as_haproxy() {
    for bin in moonproxy_and_haproxy() {
        for (line, msg) in [
            ("clitcpka-idle", "'clitcpka-idle' expects an integer value"),
            ("clitcpka-idle 10x", "unexpected character 'x' in argument to <clitcpka-idle>."),
            ("clitcpka-cnt x", "'clitcpka-cnt' : unexpected character 'x' in integer value 'x'"),
        ] {
            let cfg = format!("defaults\n timeout client 1s\n timeout server 1s\n timeout connect 1s\nfrontend f\n bind 127.0.0.1:{{{{fe}}}}\n {line}\n");
            let out = ProxyBuilder::new(&cfg).bin(&bin).flags(["-c"]).run();
            assert_eq!(out.code(), Some(1), "{}: {line}", bin.display());
            assert!(out.stderr.contains(msg), "{}: {line}: {}", bin.display(), out.stderr);
        }
    }
}

/// A configuration with nothing to listen on (no `bind` in an enabled frontend, no
/// stats socket, no log-forward, no peers) makes HAProxy 2.6 exit 1 with its alert
/// (moonproxy ran its health checks and nothing else); one listener of any kind runs.
#[test]
fn nothing_to_listen_on_exits_as_haproxy_does() {
    let backend_only = "defaults
    mode http
    timeout connect 1s
    timeout client 1s
    timeout server 1s
backend be
    server s1 127.0.0.1:{{app}}
";
    let disabled = format!("{backend_only}frontend fe\n    disabled\n    bind 127.0.0.1:{{{{fe}}}}\n    default_backend be\n");
    let with_socket = format!("global\n    stats socket {{{{dir}}}}/cli.sock\n{backend_only}");
    for bin in moonproxy_and_haproxy() {
        for config in [backend_only, disabled.as_str()] {
            let out = ProxyBuilder::new(config).bin(&bin).var("app", 1).free_port("fe").run();
            assert_eq!(out.status.code(), Some(1), "{}: {config}", bin.display());
            let alert = format!("{}{}", out.stdout, out.stderr);
            assert!(alert.contains(".main()] No enabled listener found (check for 'bind' directives) ! Exiting."), "{}: {alert}", bin.display());
        }
        let proxy = ProxyBuilder::new(&with_socket).bin(&bin).var("app", 1).start();
        assert!(wait_until(DEADLINE, || proxy.dir().join("cli.sock").exists()), "{}", bin.display());
        assert!(cli(&proxy.dir().join("cli.sock"), "show info\n").contains("Pid: "), "{}: a stats socket is a listener", bin.display());
    }
}
