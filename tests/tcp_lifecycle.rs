//! Process life: bind errors, pidfile, signals (SIGTERM, SIGINT, SIGUSR1 soft stop,
//! SIGTTOU/SIGTTIN), listener maxconn, unix sockets.

mod common;

use common::*;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::time::Duration;

/// Sends one byte and reads it back through an echo backend: the connection is served.
fn echo_one_byte(client: &mut Client, byte: u8) {
    client.send(&[byte]);
    assert_eq!(client.recv_exact(1), [byte]);
}

/// Sends one byte that must not come back within 300 ms (the connection waits in a backlog),
/// then gives the client 5 s for what follows (the connection served at last).
fn not_served(client: &mut Client, byte: u8, why: &str) {
    client.send(&[byte]);
    client.set_timeout(Duration::from_millis(300));
    let mut b = [0u8; 1];
    assert!(client.read_exact(&mut b).is_err(), "{why}");
    client.set_timeout(Duration::from_secs(5));
}

#[test]
fn bind_error_is_an_alert_naming_file_line_and_address_then_exit_1() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let mut p = ProxyBuilder::logged_tcp(
        "frontend f
            bind 127.0.0.1:{{taken}}
            default_backend b
        backend b
            server s 127.0.0.1:1",
    )
    .port("taken", port)
    .spawn();
    assert_eq!(p.wait_exit(DEADLINE).code(), Some(1));
    let line = p.wait_for_line(|l| l.contains("cannot bind socket"), Duration::from_secs(5));
    assert!(line.starts_with("[ALERT]    ("), "{line}");
    let want = format!("Binding [{}:", p.config_path().display());
    assert!(line.contains(&want), "{line}");
    assert!(line.ends_with(&format!("for frontend f: cannot bind socket (Address already in use) for [127.0.0.1:{port}]")), "{line}");
    p.wait_for_line(|l| l.contains("Some protocols failed to start their listeners! Exiting."), Duration::from_secs(5));
}

#[test]
fn sigterm_and_sigint_exit_0() {
    for sig in ["TERM", "INT"] {
        let backend = Backend::echo();
        let mut p = ProxyBuilder::logged_tcp_listen(&backend).start();
        p.signal(sig);
        assert_eq!(p.wait_exit(DEADLINE).code(), Some(0), "SIG{sig}");
    }
}

#[test]
fn soft_stop_closes_listeners_and_lets_live_connections_finish() {
    let backend = Backend::echo();
    let mut p = ProxyBuilder::logged_tcp_listen(&backend).start();
    let mut live = p.connect("fe");
    live.send(b"before");
    assert_eq!(live.recv_exact(6), b"before");
    p.signal("USR1");
    p.wait_for_line(|l| l.contains("Proxy l stopped (cumulated conns: FE: 1, BE: 1)."), Duration::from_secs(5));
    // New connections are refused once the listener is closed.
    let refused = wait_until(Duration::from_secs(5), || TcpStream::connect(p.addr("fe")).is_err());
    assert!(refused, "listener still open after SIGUSR1");
    // The live connection still works, and the process waits for it.
    live.send(b"after!");
    assert_eq!(live.recv_exact(6), b"after!");
    assert!(p.try_exit_status().is_none(), "still running while a stream is live");
    live.shutdown_write();
    assert!(live.recv_until_close().0.is_empty());
    assert_eq!(p.wait_exit(DEADLINE).code(), Some(0));
}

#[test]
fn hard_stop_after_ends_a_soft_stop() {
    let backend = Backend::silent();
    let config = logged_tcp_config(
        "    hard-stop-after 300ms",
        "",
        "listen l
            bind 127.0.0.1:{{fe}}
            server s1 127.0.0.1:{{be}}",
    );
    let mut p = ProxyBuilder::new(&config).port("be", backend.port()).start();
    let live = p.connect("fe");
    std::thread::sleep(Duration::from_millis(100));
    p.signal("USR1");
    assert_eq!(p.wait_exit(DEADLINE).code(), Some(0));
    drop(live);
}

#[test]
fn pidfile_holds_the_pid() {
    let backend = Backend::echo();
    let p = ProxyBuilder::logged_tcp_listen(&backend).arg("-p").arg("{{dir}}/moonproxy.pid").start();
    let text = std::fs::read_to_string(p.dir().join("moonproxy.pid")).unwrap();
    assert_eq!(text, format!("{}\n", p.pid()));
}

#[test]
fn listener_maxconn_pauses_accepting_until_a_connection_closes() {
    let backend = Backend::echo();
    let p = ProxyBuilder::logged_tcp(
        "listen l
            bind 127.0.0.1:{{fe}} maxconn 1
            server s1 127.0.0.1:{{be}}",
    )
    .port("be", backend.port())
    .start();
    let mut first = p.connect("fe");
    echo_one_byte(&mut first, b'a');
    // The second connection completes in the kernel backlog but is not served.
    let mut second = p.connect("fe");
    not_served(&mut second, b'b', "not served while the listener is full");
    first.shutdown_write();
    assert!(first.recv_until_close().0.is_empty());
    assert_eq!(second.recv_exact(1), b"b");
}

#[test]
fn global_maxconn_pauses_every_listener() {
    let backend = Backend::echo();
    let p = ProxyBuilder::new(&logged_tcp_config(
        "    maxconn 1",
        "",
        "listen l
            bind 127.0.0.1:{{first}}
            bind 127.0.0.1:{{second}}
            server s1 127.0.0.1:{{be}}",
    ))
    .port("be", backend.port())
    .start();
    let mut first = p.connect("first");
    echo_one_byte(&mut first, b'1');
    let mut other = p.connect("second");
    not_served(&mut other, b'2', "global maxconn reached: not served");
    drop(first);
    assert_eq!(other.recv_exact(1), b"2");
}

#[test]
fn sigttou_pauses_and_sigttin_resumes_listeners() {
    let backend = Backend::echo();
    let p = ProxyBuilder::logged_tcp_listen(&backend).start();
    p.signal("TTOU");
    p.wait_for_line(|l| l == "Paused proxy l.", Duration::from_secs(5));
    let mut c = p.connect("fe"); // queued in the backlog
    not_served(&mut c, b'z', "paused listener does not accept");
    p.signal("TTIN");
    p.wait_for_line(|l| l.ends_with(") : Resumed proxy l."), Duration::from_secs(5));
    assert_eq!(c.recv_exact(1), b"z");
}

#[test]
fn unix_socket_bind_with_mode() {
    let backend = Backend::echo();
    let p = ProxyBuilder::logged_tcp(
        "listen l
            bind unix@{{dir}}/front.sock mode 600
            server s1 127.0.0.1:{{be}}",
    )
    .port("be", backend.port())
    .start();
    let path = p.dir().join("front.sock");
    let mut c = connect_unix(&path);
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    c.write_all(b"over unix").unwrap();
    c.shutdown(Shutdown::Write).unwrap();
    let mut got = Vec::new();
    c.read_to_end(&mut got).unwrap();
    assert_eq!(got, b"over unix");
}

#[test]
fn daemon_mode_detaches_and_writes_the_pidfile() {
    let backend = Backend::reply(b"d");
    let mut p = ProxyBuilder::logged_tcp_listen(&backend).flags(["-D", "-p", "{{dir}}/d.pid"]).spawn();
    // The foreground process returns once the daemon wrote its pidfile.
    assert_eq!(p.wait_exit(DEADLINE).code(), Some(0));
    let pid: u32 = std::fs::read_to_string(p.dir().join("d.pid")).unwrap().trim().parse().unwrap();
    assert_ne!(pid, p.pid(), "the daemon is another process");
    assert!(wait_until(DEADLINE, || is_listening(p.port("fe"))), "the daemon listens");
    assert_eq!(p.connect("fe").recv_until_close().0, b"d");
    let kill = |sig: &str| std::process::Command::new("kill").arg(sig).arg(pid.to_string()).status().unwrap().success();
    assert!(kill("-TERM"));
    let stopped = wait_until(DEADLINE, || !kill("-0"));
    assert!(stopped, "daemon did not stop on SIGTERM");
}
