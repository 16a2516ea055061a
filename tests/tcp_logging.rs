//! What is logged for TCP streams: HAProxy's "Connect from" line without a log
//! format, `option tcplog`, `option dontlognull`.

mod common;

use common::*;
use std::time::Duration;

/// Logs on stdout in raw format, without a `log-format` (proxies add their options).
const PLAIN: &str = "global
    log stdout format raw local0
defaults
    mode tcp
    log global
    timeout connect 1s
    timeout client 5s
    timeout server 5s
";

/// [`PLAIN`] followed by `rest` (more defaults lines, then the proxies), in front of
/// `backend` on `{{be}}`.
fn plain(rest: &str, backend: &Backend) -> ProxyBuilder {
    ProxyBuilder::new(&format!("{PLAIN}{rest}")).port("be", backend.port())
}

#[test]
fn without_log_format_the_connection_is_logged_at_accept() {
    let backend = Backend::echo();
    let p = plain(
        "frontend fe
            bind 127.0.0.1:{{fe}}
            default_backend be
        backend be
            server s1 127.0.0.1:{{be}}",
        &backend,
    )
    .start();
    let c = p.connect("fe");
    let local = c.stream().local_addr().unwrap();
    let line = p.wait_for_line(|l| l.starts_with("Connect from"), Duration::from_secs(5));
    assert_eq!(line, format!("Connect from {}:{} to 127.0.0.1:{} (fe/TCP)", local.ip(), local.port(), p.port("fe")));
}

#[test]
fn unix_listener_accept_line() {
    let backend = Backend::echo();
    let p = plain(
        "frontend fe
            bind 127.0.0.1:{{fe}}
            bind unix@{{dir}}/f.sock
            default_backend be
        backend be
            server s1 127.0.0.1:{{be}}",
        &backend,
    )
    .start();
    let c = connect_unix(&p.dir().join("f.sock"));
    let line = p.wait_for_line(|l| l.starts_with("Connect to"), Duration::from_secs(5));
    assert_eq!(line, "Connect to unix:2 (fe/TCP)", "second listener of fe");
    drop(c);
}

#[test]
fn tcplog_line_at_close() {
    let backend = Backend::echo();
    let p = plain(
        "    option tcplog
        listen l
            bind 127.0.0.1:{{fe}}
            server s1 127.0.0.1:{{be}}",
        &backend,
    )
    .start();
    let mut c = p.connect("fe");
    c.send(b"hello");
    c.shutdown_write();
    assert_eq!(c.recv_until_close().0, b"hello");
    let line = p.wait_for_line(|l| l.contains(" l l/s1 "), Duration::from_secs(5));
    let log = TcpLog::parse(&line);
    assert!(log.client.starts_with("127.0.0.1:"), "{line}");
    assert!(log.date.starts_with('[') && log.date.contains('/'), "{line}");
    assert_eq!(log.bytes, "5", "bytes to the client: {line}");
    assert_eq!(log.termination, "--", "{line}");
    // HAProxy 2.6 prints 1/1/0/0/0 here: the backend and server counts are
    // already released when the line is written.
    assert_eq!(log.conns, "1/1/0/0/0", "{line}");
    assert_eq!(log.queues, "0/0", "{line}");
}

#[test]
fn dontlognull_skips_empty_connections() {
    let backend = Backend::echo();
    let p = plain(
        "    option dontlognull
            log-format \"{{log_format}}\"
        listen l
            bind 127.0.0.1:{{fe}}
            server s1 127.0.0.1:{{be}}",
        &backend,
    )
    .var("log_format", LOG_FORMAT)
    .start();
    // An empty connection first, then one with data: only the second is logged.
    let mut empty = p.connect("fe");
    empty.shutdown_write();
    assert!(empty.recv_until_close().0.is_empty());
    let mut c = p.connect("fe");
    c.send(b"data");
    c.shutdown_write();
    assert_eq!(c.recv_until_close().0, b"data");
    let line = p.wait_for_line(is_log_line, DEADLINE);
    assert_eq!(field(&line, "U"), "4", "the empty connection was not logged: {line}");
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(p.count_lines(is_log_line), 1);
}

/// `-d` prints HAProxy's per-connection traces on stderr.
#[test]
fn debug_mode_traces_accept_and_close() {
    let backend = Backend::reply(b"x");
    let p = plain(
        "listen l
            bind 127.0.0.1:{{fe}}
            server s1 127.0.0.1:{{be}}",
        &backend,
    )
    .flags(["-d"])
    .start();
    let mut c = p.connect("fe");
    let cport = c.local_port();
    assert_eq!(c.recv_until_close().0, b"x");
    drop(c); // the stream ends (and is traced as closed) once the client closes too
    let accept = p.wait_for_line(|l| l.contains(".accept("), Duration::from_secs(5));
    assert!(accept.starts_with("00000000:l.accept("), "{accept}");
    assert!(accept.ends_with(&format!(" from [127.0.0.1:{cport}] ALPN=<none>")), "{accept}");
    let closed = p.wait_for_line(|l| l.contains(".closed["), Duration::from_secs(5));
    assert!(closed.starts_with("00000000:l.closed["), "{closed}");
}
