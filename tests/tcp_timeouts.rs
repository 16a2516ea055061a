//! Every timeout fires with HAProxy's termination code in the log line.

mod common;

use common::*;
use std::io::Read;
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// Frontend `fe` on `{{fe}}`, backend `be` (with `backend_extra` lines) whose only server is
/// 127.0.0.1:`server_port`, the defaults followed by `defaults_extra`.
fn start(defaults_extra: &str, server_port: u16, backend_extra: &str) -> Proxy {
    let proxies = "frontend fe
            bind 127.0.0.1:{{fe}}
            default_backend be
        backend be
            {{backend_extra}}
            server s1 127.0.0.1:{{be}}";
    ProxyBuilder::new(&logged_tcp_config("", defaults_extra, proxies))
        .var("backend_extra", backend_extra)
        .port("be", server_port)
        .start()
}

/// Connects to the proxy, sends nothing, and checks that it closes without a byte; returns
/// the stream's log line.
fn closed_empty(proxy: &Proxy) -> String {
    assert!(proxy.connect("fe").recv_until_close().0.is_empty());
    proxy.wait_for_line(is_log_line, DEADLINE)
}

/// Drops `client` with a reset rather than a FIN: a half-close is forwarded, an abort ends
/// the stream.
fn abort(client: Client) {
    socket2::SockRef::from(client.stream()).set_linger(Some(Duration::ZERO)).unwrap();
    drop(client);
}

/// A server whose connects hang: a listener with a full accept queue (backlog 0, filled,
/// never accepted) makes the kernel drop further SYNs. Keep it alive for the test.
struct BlackHole {
    _listener: socket2::Socket,
    _queued: Vec<TcpStream>,
    port: u16,
}

impl BlackHole {
    fn new() -> BlackHole {
        use socket2::{Domain, Socket, Type};
        let listener = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
        listener.bind(&loopback(0).into()).unwrap();
        listener.listen(0).unwrap();
        let addr = listener.local_addr().unwrap().as_socket().unwrap();
        let mut queued = Vec::new();
        for _ in 0..4 {
            let c = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
            c.set_nonblocking(true).unwrap();
            let _ = c.connect(&addr.into());
            queued.push(TcpStream::from(c));
        }
        std::thread::sleep(Duration::from_millis(50));
        BlackHole { _listener: listener, _queued: queued, port: addr.port() }
    }
}

#[test]
fn client_timeout_is_cd() {
    let backend = Backend::silent();
    let proxy = start("    timeout client 200ms\n    timeout server 5s\n", backend.port(), "");
    let mut c = proxy.connect("fe");
    let t0 = Instant::now();
    assert!(c.recv_until_close().0.is_empty());
    assert!(t0.elapsed() < Duration::from_secs(4), "closed by the client timeout, not the server's");
    let line = proxy.wait_for_line(is_log_line, DEADLINE);
    assert_eq!(field(&line, "ts"), "cD", "{line}");
}

#[test]
fn server_timeout_is_sd() {
    let backend = Backend::silent();
    let proxy = start("    timeout client 5s\n    timeout server 200ms\n", backend.port(), "");
    let mut c = proxy.connect("fe");
    c.send(b"ping");
    assert!(c.recv_until_close().0.is_empty());
    let line = proxy.wait_for_line(is_log_line, DEADLINE);
    assert_eq!(field(&line, "ts"), "sD", "{line}");
    assert_eq!(field(&line, "U"), "4");
}

#[test]
fn tunnel_timeout_supersedes_client_and_server() {
    let backend = Backend::silent();
    let proxy = start("    timeout client 10s\n    timeout server 10s\n    timeout tunnel 200ms\n", backend.port(), "");
    let mut c = proxy.connect("fe");
    let t0 = Instant::now();
    assert!(c.recv_until_close().0.is_empty());
    assert!(t0.elapsed() < Duration::from_secs(5));
    let line = proxy.wait_for_line(is_log_line, DEADLINE);
    assert_eq!(field(&line, "ts"), "cD", "{line}");
}

/// The server closes its side; the proxy forwards the FIN to the client, which
/// keeps its own side open: `timeout client-fin` (not `timeout client`) ends it.
#[test]
fn client_fin_timeout_applies_once_the_client_was_sent_a_fin() {
    let backend = Backend::custom(|mut c, _| {
        c.shutdown(std::net::Shutdown::Write).unwrap();
        let mut buf = [0u8; 64];
        while matches!(c.read(&mut buf), Ok(n) if n > 0) {}
    });
    let proxy = start("    timeout client 10s\n    timeout server 10s\n    timeout client-fin 200ms\n", backend.port(), "");
    let mut c = proxy.connect("fe");
    let t0 = Instant::now();
    let mut buf = [0u8; 8];
    assert_eq!(c.read(&mut buf).unwrap(), 0, "server FIN forwarded");
    let line = proxy.wait_for_line(is_log_line, DEADLINE);
    assert!(t0.elapsed() < Duration::from_secs(5));
    assert_eq!(field(&line, "ts"), "cD", "{line}");
}

/// The client half-closes; the proxy forwards the FIN to the server, which stays
/// silent: `timeout server-fin` ends it.
#[test]
fn server_fin_timeout_applies_once_the_server_was_sent_a_fin() {
    let backend = Backend::custom(|c, _| {
        std::thread::sleep(Duration::from_secs(8));
        drop(c);
    });
    let proxy = start("    timeout client 10s\n    timeout server 10s\n    timeout server-fin 200ms\n", backend.port(), "");
    let mut c = proxy.connect("fe");
    c.shutdown_write();
    let t0 = Instant::now();
    assert!(c.recv_until_close().0.is_empty());
    let line = proxy.wait_for_line(is_log_line, DEADLINE);
    assert!(t0.elapsed() < Duration::from_secs(5));
    assert_eq!(field(&line, "ts"), "sD", "{line}");
}

#[test]
fn connect_timeout_is_sc_after_retries() {
    let hole = BlackHole::new();
    let proxy = start("    timeout connect 100ms\n", hole.port, "    retries 1\n");
    let line = closed_empty(&proxy);
    assert_eq!(field(&line, "ts"), "sC", "{line}");
    assert_eq!(field(&line, "rc"), "1", "{line}");
    assert_eq!(field(&line, "Tc"), "-1", "{line}");
}

#[test]
fn refused_connect_is_sc_after_retries() {
    let dead = RefusingPort::new();
    let proxy = start("    timeout connect 100ms\n", dead.port(), "    retries 2\n");
    let line = closed_empty(&proxy);
    assert_eq!(field(&line, "ts"), "SC", "{line}");
    assert_eq!(field(&line, "rc"), "2", "{line}");
}

#[test]
fn client_abort_while_connecting_is_cc() {
    let hole = BlackHole::new();
    let proxy = start("    timeout connect 3s\n", hole.port, "    retries 0\n");
    let c = proxy.connect("fe");
    std::thread::sleep(Duration::from_millis(100));
    abort(c);
    let line = proxy.wait_for_line(is_log_line, DEADLINE);
    assert_eq!(field(&line, "ts"), "CC", "{line}");
}

#[test]
fn server_abort_during_data_is_sd_and_client_abort_is_cd() {
    let backend = Backend::custom(|c, _| {
        std::thread::sleep(Duration::from_millis(50));
        socket2::SockRef::from(&c).set_linger(Some(Duration::ZERO)).unwrap();
    });
    let proxy = start("", backend.port(), "");
    let _ = proxy.connect("fe").recv_until_close();
    let line = proxy.wait_for_line(is_log_line, DEADLINE);
    assert_eq!(field(&line, "ts"), "SD", "{line}");

    let backend = Backend::silent();
    let proxy = start("", backend.port(), "");
    let mut c = proxy.connect("fe");
    c.send(b"x");
    std::thread::sleep(Duration::from_millis(100));
    abort(c);
    let line = proxy.wait_for_line(is_log_line, DEADLINE);
    assert_eq!(field(&line, "ts"), "CD", "{line}");
}

#[test]
fn queue_timeout_is_sq() {
    let backend = Backend::silent();
    let proxy = ProxyBuilder::logged_tcp(
        "frontend fe
            bind 127.0.0.1:{{fe}}
            default_backend be
        backend be
            timeout queue 200ms
            server s1 127.0.0.1:{{be}} maxconn 1",
    )
    .port("be", backend.port())
    .start();
    let holder = proxy.connect("fe");
    std::thread::sleep(Duration::from_millis(100));
    let line = closed_empty(&proxy);
    assert_eq!(field(&line, "ts"), "sQ", "{line}");
    let tw: i64 = field(&line, "Tw").parse().unwrap();
    assert!(tw >= 150, "waited in the queue: {line}");
    drop(holder);
}
