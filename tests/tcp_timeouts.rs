//! Every timeout fires with HAProxy's termination code in the log line.

mod support_tcp;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::time::{Duration, Instant};
use support_tcp::*;

fn start(defaults: &str, server: std::net::SocketAddr, backend_extra: &str) -> (Proxy, u16) {
    let port = free_port();
    let cfg = format!(
        "{}frontend fe\n    bind 127.0.0.1:{port}\n    default_backend be\nbackend be\n{backend_extra}\n    server s1 {server}\n",
        preamble("", defaults)
    );
    (Proxy::start(&cfg, port), port)
}

/// A server address whose connects hang: a listener with a full accept queue
/// (backlog 0, filled, never accepted) makes the kernel drop further SYNs.
fn black_hole() -> (socket2::Socket, Vec<TcpStream>, std::net::SocketAddr) {
    let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    s.bind(&"127.0.0.1:0".parse::<std::net::SocketAddr>().unwrap().into()).unwrap();
    s.listen(0).unwrap();
    let addr = s.local_addr().unwrap().as_socket().unwrap();
    let mut fill = Vec::new();
    for _ in 0..4 {
        let c = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        c.set_nonblocking(true).unwrap();
        let _ = c.connect(&addr.into());
        fill.push(TcpStream::from(c));
    }
    std::thread::sleep(Duration::from_millis(50));
    (s, fill, addr)
}

#[test]
fn client_timeout_is_cd() {
    let backend = Backend::silent();
    let (proxy, port) = start("    timeout client 200ms\n    timeout server 5s\n", backend.addr, "");
    let c = connect(port);
    let t0 = Instant::now();
    assert!(read_all(c).is_empty());
    assert!(t0.elapsed() < Duration::from_secs(4), "closed by the client timeout, not the server's");
    let line = proxy.log_line("LOG ");
    assert_eq!(field(&line, "ts"), "cD", "{line}");
}

#[test]
fn server_timeout_is_sd() {
    let backend = Backend::silent();
    let (proxy, port) = start("    timeout client 5s\n    timeout server 200ms\n", backend.addr, "");
    let mut c = connect(port);
    c.write_all(b"ping").unwrap();
    assert!(read_all(c).is_empty());
    let line = proxy.log_line("LOG ");
    assert_eq!(field(&line, "ts"), "sD", "{line}");
    assert_eq!(field(&line, "U"), "4");
}

#[test]
fn tunnel_timeout_supersedes_client_and_server() {
    let backend = Backend::silent();
    let (proxy, port) = start("    timeout client 10s\n    timeout server 10s\n    timeout tunnel 200ms\n", backend.addr, "");
    let c = connect(port);
    let t0 = Instant::now();
    assert!(read_all(c).is_empty());
    assert!(t0.elapsed() < Duration::from_secs(5));
    let line = proxy.log_line("LOG ");
    assert_eq!(field(&line, "ts"), "cD", "{line}");
}

/// The server closes its side; the proxy forwards the FIN to the client, which
/// keeps its own side open: `timeout client-fin` (not `timeout client`) ends it.
#[test]
fn client_fin_timeout_applies_once_the_client_was_sent_a_fin() {
    let backend = Backend::spawn(|mut c| {
        c.shutdown(Shutdown::Write).unwrap();
        let mut buf = [0u8; 64];
        while matches!(c.read(&mut buf), Ok(n) if n > 0) {}
    });
    let (proxy, port) = start("    timeout client 10s\n    timeout server 10s\n    timeout client-fin 200ms\n", backend.addr, "");
    let mut c = connect(port);
    let t0 = Instant::now();
    let mut buf = [0u8; 8];
    assert_eq!(c.read(&mut buf).unwrap(), 0, "server FIN forwarded");
    let line = proxy.log_line("LOG ");
    assert!(t0.elapsed() < Duration::from_secs(5));
    assert_eq!(field(&line, "ts"), "cD", "{line}");
}

/// The client half-closes; the proxy forwards the FIN to the server, which stays
/// silent: `timeout server-fin` ends it.
#[test]
fn server_fin_timeout_applies_once_the_server_was_sent_a_fin() {
    let backend = Backend::spawn(|c| {
        std::thread::sleep(Duration::from_secs(8));
        drop(c);
    });
    let (proxy, port) = start("    timeout client 10s\n    timeout server 10s\n    timeout server-fin 200ms\n", backend.addr, "");
    let c = connect(port);
    c.shutdown(Shutdown::Write).unwrap();
    let t0 = Instant::now();
    assert!(read_all(c).is_empty());
    let line = proxy.log_line("LOG ");
    assert!(t0.elapsed() < Duration::from_secs(5));
    assert_eq!(field(&line, "ts"), "sD", "{line}");
}

#[test]
fn connect_timeout_is_sc_after_retries() {
    let (_hole, _fill, addr) = black_hole();
    let (proxy, port) = start("    timeout connect 100ms\n", addr, "    retries 1\n");
    let c = connect(port);
    assert!(read_all(c).is_empty());
    let line = proxy.log_line("LOG ");
    assert_eq!(field(&line, "ts"), "sC", "{line}");
    assert_eq!(field(&line, "rc"), "1", "{line}");
    assert_eq!(field(&line, "Tc"), "-1", "{line}");
}

#[test]
fn refused_connect_is_sc_after_retries() {
    let dead = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap(); // closed again
    let (proxy, port) = start("    timeout connect 100ms\n", dead, "    retries 2\n");
    let c = connect(port);
    assert!(read_all(c).is_empty());
    let line = proxy.log_line("LOG ");
    assert_eq!(field(&line, "ts"), "SC", "{line}");
    assert_eq!(field(&line, "rc"), "2", "{line}");
}

#[test]
fn client_abort_while_connecting_is_cc() {
    let (_hole, _fill, addr) = black_hole();
    let (proxy, port) = start("    timeout connect 3s\n", addr, "    retries 0\n");
    let c = connect(port);
    std::thread::sleep(Duration::from_millis(100));
    // Reset, not FIN: a half-close is forwarded, an abort ends the stream.
    socket2::SockRef::from(&c).set_linger(Some(Duration::ZERO)).unwrap();
    drop(c);
    let line = proxy.log_line("LOG ");
    assert_eq!(field(&line, "ts"), "CC", "{line}");
}

#[test]
fn server_abort_during_data_is_sd_and_client_abort_is_cd() {
    let backend = Backend::spawn(|c| {
        std::thread::sleep(Duration::from_millis(50));
        socket2::SockRef::from(&c).set_linger(Some(Duration::ZERO)).unwrap();
    });
    let (proxy, port) = start("", backend.addr, "");
    let c = connect(port);
    let _ = read_all(c);
    let line = proxy.log_line("LOG ");
    assert_eq!(field(&line, "ts"), "SD", "{line}");

    let backend = Backend::silent();
    let (proxy, port) = start("", backend.addr, "");
    let mut c = connect(port);
    c.write_all(b"x").unwrap();
    std::thread::sleep(Duration::from_millis(100));
    socket2::SockRef::from(&c).set_linger(Some(Duration::ZERO)).unwrap();
    drop(c);
    let line = proxy.log_line("LOG ");
    assert_eq!(field(&line, "ts"), "CD", "{line}");
}

#[test]
fn queue_timeout_is_sq() {
    let backend = Backend::silent();
    let port = free_port();
    let cfg = format!(
        "{}frontend fe\n    bind 127.0.0.1:{port}\n    default_backend be\nbackend be\n    timeout queue 200ms\n    server s1 {} maxconn 1\n",
        preamble("", ""),
        backend.addr
    );
    let proxy = Proxy::start(&cfg, port);
    let holder = connect(port);
    std::thread::sleep(Duration::from_millis(100));
    let waiter = connect(port);
    assert!(read_all(waiter).is_empty());
    let line = proxy.log_line("LOG ");
    assert_eq!(field(&line, "ts"), "sQ", "{line}");
    let tw: i64 = field(&line, "Tw").parse().unwrap();
    assert!(tw >= 150, "waited in the queue: {line}");
    drop(holder);
}
