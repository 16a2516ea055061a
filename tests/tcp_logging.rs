//! What is logged for TCP streams: HAProxy's "Connect from" line without a log
//! format, `option tcplog`, `option dontlognull`.

mod support_tcp;

use std::io::Write;
use std::time::Duration;
use support_tcp::*;

const PLAIN: &str = "global\n    log stdout format raw local0\ndefaults\n    mode tcp\n    log global\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n";

#[test]
fn without_log_format_the_connection_is_logged_at_accept() {
    let backend = Backend::echo();
    let port = free_port();
    let cfg = format!("{PLAIN}frontend fe\n    bind 127.0.0.1:{port}\n    default_backend be\nbackend be\n    server s1 {}\n", backend.addr);
    let p = Proxy::start(&cfg, port);
    let c = connect(port);
    let local = c.local_addr().unwrap();
    let line = p.lines.wait_for(Duration::from_secs(5), |l| l.starts_with("Connect from"));
    assert_eq!(line, format!("Connect from {}:{} to 127.0.0.1:{port} (fe/TCP)", local.ip(), local.port()));
}

#[test]
fn tcplog_line_at_close() {
    let backend = Backend::echo();
    let port = free_port();
    let cfg = format!("{PLAIN}    option tcplog\nlisten l\n    bind 127.0.0.1:{port}\n    server s1 {}\n", backend.addr);
    let p = Proxy::start(&cfg, port);
    let mut c = connect(port);
    c.write_all(b"hello").unwrap();
    c.shutdown(std::net::Shutdown::Write).unwrap();
    assert_eq!(read_all(c), b"hello");
    // 127.0.0.1:port [date] l l/s1 Tw/Tc/Tt 5 -- ac/fc/bc/sc/rc sq/bq
    let line = p.lines.wait_for(Duration::from_secs(5), |l| l.contains(" l l/s1 "));
    let f: Vec<&str> = line.split(' ').collect();
    assert!(f[0].starts_with("127.0.0.1:"), "{line}");
    assert!(f[1].starts_with('[') && f[1].contains('/'), "{line}");
    assert_eq!(f[5], "5", "bytes to the client: {line}");
    assert_eq!(f[6], "--", "{line}");
    // HAProxy 2.6 prints 1/1/0/0/0 here: the backend and server counts are
    // already released when the line is written.
    assert_eq!(f[7], "1/1/0/0/0", "{line}");
    assert_eq!(f[8], "0/0", "{line}");
}

#[test]
fn dontlognull_skips_empty_connections() {
    let backend = Backend::echo();
    let port = free_port();
    let cfg = format!(
        "{PLAIN}    option dontlognull\n    log-format \"{LOG_FORMAT}\"\nlisten l\n    bind 127.0.0.1:{port}\n    server s1 {}\n",
        backend.addr
    );
    let p = Proxy::start(&cfg, port);
    // An empty connection first, then one with data: only the second is logged.
    let empty = connect(port);
    empty.shutdown(std::net::Shutdown::Write).unwrap();
    assert!(read_all(empty).is_empty());
    let mut c = connect(port);
    c.write_all(b"data").unwrap();
    c.shutdown(std::net::Shutdown::Write).unwrap();
    assert_eq!(read_all(c), b"data");
    let line = p.log_line("LOG ");
    assert_eq!(field(&line, "U"), "4", "the empty connection was not logged: {line}");
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(p.lines.all().iter().filter(|l| l.starts_with("LOG ")).count(), 1);
}

/// `-d` prints HAProxy's per-connection traces on stderr.
#[test]
fn debug_mode_traces_accept_and_close() {
    let backend = Backend::named("x");
    let port = free_port();
    let cfg = format!("{PLAIN}listen l\n    bind 127.0.0.1:{port}\n    server s1 {}\n", backend.addr);
    let p = Proxy::start_with(&cfg, &["-d"]);
    p.wait_listening(port);
    let c = connect(port);
    let cport = c.local_addr().unwrap().port();
    assert_eq!(read_all(c), b"x");
    let accept = p.lines.wait_for(Duration::from_secs(5), |l| l.contains(".accept("));
    assert!(accept.starts_with("00000000:l.accept("), "{accept}");
    assert!(accept.ends_with(&format!(" from [127.0.0.1:{cport}] ALPN=<none>")), "{accept}");
    let closed = p.lines.wait_for(Duration::from_secs(5), |l| l.contains(".closed["));
    assert!(closed.starts_with("00000000:l.closed["), "{closed}");
}
