//! `reject` and `silent-drop` in `http-request`, `http-response`, `tcp-request connection`,
//! `tcp-request content` and `tcp-response content` rules, each run on moonproxy and on
//! HAProxy 2.6 with the same configuration: what the client sees (no byte; an end of file
//! for `reject`; for `silent-drop` nothing at all where the system lets the proxy use
//! `TCP_REPAIR`, as both do as root) and the counters of `show stat`.

mod common;

use common::*;
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::Duration;

/// What the client saw after sending `request`: the bytes it got, then how the read ended.
fn outcome(port: u16, request: &[u8]) -> (Vec<u8>, &'static str) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_millis(1500))).unwrap();
    if !request.is_empty() {
        let _ = s.write_all(request);
    }
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return (got, "closed"),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => return (got, "silence"),
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return (got, "reset"),
            Err(e) => panic!("read: {e}"),
        }
    }
}

/// A server answering 404 to `/n` and 200 otherwise, one request per connection.
fn server() -> Backend {
    Backend::custom(|mut conn, _| {
        let Some(head) = read_request_head(&mut conn) else { return };
        let status = if head.starts_with(b"GET /n ") { "404 Not Found" } else { "200 OK" };
        let _ = conn.write_all(format!("HTTP/1.1 {status}\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok").as_bytes());
    })
}

/// `show stat` fields `names` of each line `pxname,svname` listed.
fn stat(sock: &Path, rows: &[&str], names: &[&str]) -> Vec<String> {
    let text = cli(sock, "show stat\n");
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap_or("").trim_start_matches("# ").split(',').collect();
    let col = |n: &str| header.iter().position(|h| *h == n).unwrap_or_else(|| panic!("no column {n}"));
    let mut out = Vec::new();
    for line in lines {
        let v: Vec<&str> = line.split(',').collect();
        if v.len() < 2 || !rows.contains(&format!("{},{}", v[0], v[1]).as_str()) {
            continue;
        }
        let values: Vec<String> = names.iter().map(|n| format!("{n}={}", v.get(col(n)).unwrap_or(&""))).collect();
        out.push(format!("{},{} {}", v[0], v[1], values.join(" ")));
    }
    out
}

const GET: &[u8] = b"GET / HTTP/1.1\r\nhost: x\r\n\r\n";

#[test]
fn http_reject_and_silent_drop_as_haproxy() {
    let srv = server();
    let mut runs = Vec::new();
    for bin in moonproxy_and_haproxy() {
        let proxy = ProxyBuilder::new(
            "global\n stats socket {{dir}}/cli.sock level admin\n\
             defaults\n mode http\n timeout client 5s\n timeout server 5s\n timeout connect 5s\n\
             frontend f\n bind 127.0.0.1:{{f}}\n\
              http-request reject if { path /r }\n\
              http-request silent-drop if { path /s }\n\
              default_backend b\n\
             backend b\n http-response silent-drop if { status 404 }\n server s 127.0.0.1:{{be}}\n",
        )
        .bin(&bin)
        .port("be", srv.port())
        .start();
        let f = proxy.port("f");
        let mut seen = vec![
            format!("/r {:?}", outcome(f, b"GET /r HTTP/1.1\r\nhost: x\r\n\r\n")),
            format!("/s {:?}", outcome(f, b"GET /s HTTP/1.1\r\nhost: x\r\n\r\n")),
            format!("/n {:?}", outcome(f, b"GET /n HTTP/1.1\r\nhost: x\r\n\r\n")),
        ];
        let (ok, _) = outcome(f, GET);
        assert!(ok.starts_with(b"HTTP/1.1 200"), "{}: the other requests are served", bin.display());
        seen.extend(stat(&proxy.dir().join("cli.sock"), &["f,FRONTEND", "b,BACKEND"], &["dreq", "dresp", "req_tot", "hrsp_2xx", "hrsp_4xx"]));
        runs.push((bin, seen));
    }
    let moon = &runs[0].1;
    assert_eq!(moon[0], "/r ([], \"closed\")", "reject closes without a byte");
    assert!(moon[1].starts_with("/s ([]"), "silent-drop sends nothing: {}", moon[1]);
    assert!(moon[2].starts_with("/n ([]"), "http-response silent-drop sends nothing: {}", moon[2]);
    assert_runs_agree(&runs);
}

#[test]
fn tcp_silent_drop_as_haproxy() {
    let echo = Backend::echo();
    let mut runs = Vec::new();
    for bin in moonproxy_and_haproxy() {
        let proxy = ProxyBuilder::new(
            "global\n stats socket {{dir}}/cli.sock level admin\n\
             defaults\n mode tcp\n timeout client 5s\n timeout server 5s\n timeout connect 5s\n\
             frontend conn\n bind 127.0.0.1:{{conn}}\n tcp-request connection silent-drop if { dst_port {{conn}} }\n default_backend b\n\
             frontend content\n bind 127.0.0.1:{{content}}\n tcp-request inspect-delay 2s\n\
              tcp-request content silent-drop if { req.payload(0,4) -m str DROP }\n default_backend b\n\
             frontend response\n bind 127.0.0.1:{{response}}\n default_backend bres\n\
             backend b\n server s 127.0.0.1:{{be}}\n\
             backend bres\n tcp-response inspect-delay 2s\n tcp-response content silent-drop if { res.payload(0,4) -m str DROP }\n server s 127.0.0.1:{{be}}\n",
        )
        .bin(&bin)
        .port("be", echo.port())
        .start();
        let mut seen = vec![
            // Nothing sent: bytes arriving after the silent close would draw a reset from
            // the client's own kernel, sooner or later depending on the timing.
            format!("connection {:?}", outcome(proxy.port("conn"), b"")),
            format!("content {:?}", outcome(proxy.port("content"), b"DROP me")),
            format!("response {:?}", outcome(proxy.port("response"), b"DROP echoed")),
        ];
        let (echoed, _) = outcome(proxy.port("content"), b"keep");
        assert_eq!(echoed, b"keep", "{}: other connections go through", bin.display());
        seen.extend(stat(&proxy.dir().join("cli.sock"), &["conn,FRONTEND", "content,FRONTEND", "response,FRONTEND", "bres,BACKEND"], &["dcon", "dses", "dreq", "dresp", "stot"]));
        runs.push((bin, seen));
    }
    for line in &runs[0].1[..3] {
        assert!(line.contains("([]"), "nothing reaches the client: {line}");
    }
    assert_runs_agree(&runs);
}
