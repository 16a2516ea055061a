//! Process life: bind errors, pidfile, signals (SIGTERM, SIGINT, SIGUSR1 soft stop,
//! SIGTTOU/SIGTTIN), listener maxconn, unix sockets.

mod support_tcp;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::time::Duration;
use support_tcp::*;

fn listen_cfg(port: u16, server: std::net::SocketAddr, extra: &str) -> String {
    format!("{}listen l\n    bind 127.0.0.1:{port}\n{extra}    server s1 {server}\n", preamble("", ""))
}

#[test]
fn bind_error_is_an_alert_naming_file_line_and_address_then_exit_1() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let cfg = format!("{}frontend f\n    bind 127.0.0.1:{port}\n    default_backend b\nbackend b\n    server s 127.0.0.1:1\n", preamble("", ""));
    let mut p = Proxy::start_with(&cfg, &[]);
    assert_eq!(p.wait_exit(Duration::from_secs(10)), Some(1));
    let line = p.lines.wait_for(Duration::from_secs(5), |l| l.contains("cannot bind socket"));
    assert!(line.starts_with("[ALERT]    ("), "{line}");
    let want = format!("Binding [{}:", p.cfg.display());
    assert!(line.contains(&want), "{line}");
    assert!(line.ends_with(&format!("for frontend f: cannot bind socket (Address already in use) for [127.0.0.1:{port}]")), "{line}");
    p.lines.wait_for(Duration::from_secs(5), |l| l.contains("Some protocols failed to start their listeners! Exiting."));
}

#[test]
fn sigterm_and_sigint_exit_0() {
    for sig in ["TERM", "INT"] {
        let backend = Backend::echo();
        let port = free_port();
        let mut p = Proxy::start(&listen_cfg(port, backend.addr, ""), port);
        p.signal(sig);
        assert_eq!(p.wait_exit(Duration::from_secs(10)), Some(0), "SIG{sig}");
    }
}

#[test]
fn soft_stop_closes_listeners_and_lets_live_connections_finish() {
    let backend = Backend::echo();
    let port = free_port();
    let mut p = Proxy::start(&listen_cfg(port, backend.addr, ""), port);
    let mut live = connect(port);
    live.write_all(b"before").unwrap();
    let mut buf = [0u8; 6];
    live.read_exact(&mut buf).unwrap();
    p.signal("USR1");
    p.lines.wait_for(Duration::from_secs(5), |l| l.contains("Proxy l stopped (cumulated conns: FE: 1, BE: 1)."));
    // New connections are refused once the listener is closed.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while TcpStream::connect(("127.0.0.1", port)).is_ok() {
        assert!(std::time::Instant::now() < deadline, "listener still open after SIGUSR1");
        std::thread::sleep(Duration::from_millis(20));
    }
    // The live connection still works, and the process waits for it.
    live.write_all(b"after!").unwrap();
    live.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"after!");
    assert!(p.child.try_wait().unwrap().is_none(), "still running while a stream is live");
    live.shutdown(Shutdown::Write).unwrap();
    assert!(read_all(live).is_empty());
    assert_eq!(p.wait_exit(Duration::from_secs(10)), Some(0));
}

#[test]
fn hard_stop_after_ends_a_soft_stop() {
    let backend = Backend::silent();
    let port = free_port();
    let cfg = format!("{}listen l\n    bind 127.0.0.1:{port}\n    server s1 {}\n", preamble("    hard-stop-after 300ms\n", ""), backend.addr);
    let mut p = Proxy::start(&cfg, port);
    let live = connect(port);
    std::thread::sleep(Duration::from_millis(100));
    p.signal("USR1");
    assert_eq!(p.wait_exit(Duration::from_secs(10)), Some(0));
    drop(live);
}

#[test]
fn pidfile_holds_the_pid() {
    let backend = Backend::echo();
    let port = free_port();
    let dir = temp_dir("pid");
    let pidfile = dir.join("moonproxy.pid");
    let p = Proxy::start_with(&listen_cfg(port, backend.addr, ""), &["-p", pidfile.to_str().unwrap()]);
    p.wait_listening(port);
    let text = std::fs::read_to_string(&pidfile).unwrap();
    assert_eq!(text, format!("{}\n", p.pid()));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn listener_maxconn_pauses_accepting_until_a_connection_closes() {
    let backend = Backend::echo();
    let port = free_port();
    let cfg = format!("{}listen l\n    bind 127.0.0.1:{port} maxconn 1\n    server s1 {}\n", preamble("", ""), backend.addr);
    let _p = Proxy::start(&cfg, port);
    let mut first = connect(port);
    first.write_all(b"a").unwrap();
    let mut b = [0u8; 1];
    first.read_exact(&mut b).unwrap();
    // The second connection completes in the kernel backlog but is not served.
    let mut second = connect(port);
    second.write_all(b"b").unwrap();
    second.set_read_timeout(Some(Duration::from_millis(300))).unwrap();
    assert!(second.read_exact(&mut b).is_err(), "not served while the listener is full");
    first.shutdown(Shutdown::Write).unwrap();
    assert!(read_all(first).is_empty());
    second.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    second.read_exact(&mut b).unwrap();
    assert_eq!(&b, b"b");
}

#[test]
fn global_maxconn_pauses_every_listener() {
    let backend = Backend::echo();
    let (p1, p2) = (free_port(), free_port());
    let cfg = format!(
        "{}listen l\n    bind 127.0.0.1:{p1}\n    bind 127.0.0.1:{p2}\n    server s1 {}\n",
        preamble("    maxconn 1\n", ""),
        backend.addr
    );
    let p = Proxy::start(&cfg, p1);
    p.wait_listening(p2);
    let mut first = connect(p1);
    first.write_all(b"1").unwrap();
    let mut b = [0u8; 1];
    first.read_exact(&mut b).unwrap();
    let mut other = connect(p2);
    other.write_all(b"2").unwrap();
    other.set_read_timeout(Some(Duration::from_millis(300))).unwrap();
    assert!(other.read_exact(&mut b).is_err(), "global maxconn reached: not served");
    drop(first);
    other.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    other.read_exact(&mut b).unwrap();
    assert_eq!(&b, b"2");
}

#[test]
fn sigttou_pauses_and_sigttin_resumes_listeners() {
    let backend = Backend::echo();
    let port = free_port();
    let p = Proxy::start(&listen_cfg(port, backend.addr, ""), port);
    p.signal("TTOU");
    p.lines.wait_for(Duration::from_secs(5), |l| l == "Paused proxy l.");
    let mut c = connect(port); // queued in the backlog
    c.write_all(b"z").unwrap();
    c.set_read_timeout(Some(Duration::from_millis(300))).unwrap();
    let mut b = [0u8; 1];
    assert!(c.read_exact(&mut b).is_err(), "paused listener does not accept");
    p.signal("TTIN");
    p.lines.wait_for(Duration::from_secs(5), |l| l.ends_with(") : Resumed proxy l."));
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    c.read_exact(&mut b).unwrap();
    assert_eq!(&b, b"z");
}

#[test]
fn unix_socket_bind_with_mode() {
    let backend = Backend::echo();
    let dir = temp_dir("unix");
    let path = dir.join("front.sock");
    std::fs::write(&path, b"").ok(); // not a socket: must NOT be removed silently? replaced below
    let _ = std::fs::remove_file(&path);
    let cfg = format!("{}listen l\n    bind unix@{} mode 600\n    server s1 {}\n", preamble("", ""), path.display(), backend.addr);
    let _p = Proxy::start_with(&cfg, &[]);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let mut c = loop {
        if let Ok(c) = std::os::unix::net::UnixStream::connect(&path) {
            break c;
        }
        assert!(std::time::Instant::now() < deadline, "unix listener never came up");
        std::thread::sleep(Duration::from_millis(20));
    };
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    c.write_all(b"over unix").unwrap();
    c.shutdown(Shutdown::Write).unwrap();
    let mut got = Vec::new();
    c.read_to_end(&mut got).unwrap();
    assert_eq!(got, b"over unix");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn daemon_mode_detaches_and_writes_the_pidfile() {
    let backend = Backend::named("d");
    let port = free_port();
    let dir = temp_dir("daemon");
    let pidfile = dir.join("d.pid");
    let mut p = Proxy::start_with(&listen_cfg(port, backend.addr, ""), &["-D", "-p", pidfile.to_str().unwrap()]);
    // The foreground process returns once the daemon wrote its pidfile.
    assert_eq!(p.wait_exit(Duration::from_secs(10)), Some(0));
    let pid: u32 = std::fs::read_to_string(&pidfile).unwrap().trim().parse().unwrap();
    assert_ne!(pid, p.pid(), "the daemon is another process");
    p.wait_listening(port);
    assert_eq!(read_all(connect(port)), b"d");
    let kill = |sig: &str| std::process::Command::new("kill").arg(sig).arg(pid.to_string()).status().unwrap().success();
    assert!(kill("-TERM"));
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while kill("-0") {
        assert!(std::time::Instant::now() < deadline, "daemon did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = std::fs::remove_dir_all(&dir);
}
