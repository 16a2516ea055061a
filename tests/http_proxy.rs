//! `mode http` end to end: the real binary between a raw client and the HTTP test
//! application ([`http_app`]): framing, keep-alive, pipelining, streaming, interim
//! responses, upgrades, and every class of rejection with its log line.

mod common;

use common::*;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// The log format of these tests (only variables that exist for every mode).
const HTTP_LOG: &str = "LOG ts=%ts b=%b s=%s U=%U B=%B";

/// An HTTP `listen l` on `{{fe}}` in front of `backend`, logging with [`HTTP_LOG`];
/// `extra` lines go in the `listen` section.
fn http_proxy(backend: &Backend, defaults_extra: &str, extra: &str) -> Proxy {
    ProxyBuilder::new(&format!(
        "global
    log stdout format raw local0
defaults
    mode http
    log global
    log-format \"{HTTP_LOG}\"
    timeout connect 1s
    timeout client 5s
    timeout server 5s
{defaults_extra}
listen l
    bind 127.0.0.1:{{{{fe}}}}
{extra}
    server s1 127.0.0.1:{{{{be}}}}
"
    ))
    .port("be", backend.port())
    .start()
}

fn connect(proxy: &Proxy) -> HttpReader<TcpStream> {
    let s = TcpStream::connect(proxy.addr("fe")).expect("connect to the proxy");
    s.set_read_timeout(Some(DEADLINE)).unwrap();
    HttpReader::new(s)
}

/// Reads one response: its head and its body.
fn response(r: &mut HttpReader<TcpStream>, head_request: bool) -> (Head, Vec<u8>) {
    let head = r.read_head().expect("read a response head").expect("a response, not a close");
    let no_body = head_request || head.status() < 200 || head.status() == 204 || head.status() == 304;
    let mut body = Vec::new();
    r.read_body(&head, no_body, |p| body.extend_from_slice(p)).expect("read the body");
    (head, body)
}

fn log_lines(proxy: &Proxy, n: usize) -> Vec<String> {
    proxy.wait_for_lines(n, is_log_line, DEADLINE)
}

#[test]
fn get_goes_through_and_is_logged() {
    let app = http_app();
    let proxy = http_proxy(&app, "", "");
    let mut c = connect(&proxy);
    c.get_mut().write_all(b"GET /hello?x=1 HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
    let (head, body) = response(&mut c, false);
    assert_eq!(head.status(), 200, "{head:?}");
    assert_eq!(body, b"path=/hello?x=1");
    drop(c);
    let line = proxy.wait_for_line(is_log_line, DEADLINE);
    assert_eq!(field(&line, "ts"), "--", "{line}");
    assert_eq!(field(&line, "s"), "s1", "{line}");
    assert_eq!(app.stats().requests(), 1);
}

#[test]
fn keep_alive_serves_three_requests_on_one_connection() {
    let app = http_app();
    let proxy = http_proxy(&app, "", "");
    let mut c = connect(&proxy);
    for i in 0..3 {
        c.get_mut().write_all(format!("GET /r{i} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes()).unwrap();
        let (head, body) = response(&mut c, false);
        assert_eq!(head.status(), 200);
        assert_eq!(body, format!("path=/r{i}").as_bytes());
        assert!(!head.has_token("connection", "close"), "{head:?}");
    }
    // One log line per transaction, all before the client leaves.
    let lines = log_lines(&proxy, 3);
    assert!(lines.iter().all(|l| field(l, "ts") == "--"), "{lines:?}");
    assert_eq!(app.connections(), 1, "the server connection is reused");
    drop(c);
    // Leaving between requests is not an error and is not logged.
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(proxy.count_lines(is_log_line), 3);
}

#[test]
fn http10_and_connection_close_end_the_connection() {
    let app = http_app();
    let proxy = http_proxy(&app, "", "");
    let mut c = connect(&proxy);
    c.get_mut().write_all(b"GET /a HTTP/1.0\r\n\r\n").unwrap();
    let (head, body) = response(&mut c, false);
    assert_eq!((head.status(), body.as_slice()), (200, &b"path=/a"[..]));
    assert!(head.has_token("connection", "close"), "{head:?}");
    assert!(c.read_head().unwrap().is_none(), "closed after an HTTP/1.0 response");

    let mut c = connect(&proxy);
    c.get_mut().write_all(b"GET /b HTTP/1.1\r\nHost: t\r\nConnection: keep-alive\r\n\r\n").unwrap();
    assert_eq!(response(&mut c, false).0.status(), 200);
    c.get_mut().write_all(b"GET /c HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").unwrap();
    let (head, _) = response(&mut c, false);
    assert!(head.has_token("connection", "close"), "{head:?}");
    assert!(c.read_head().unwrap().is_none());
}

#[test]
fn httpclose_closes_after_each_response() {
    let app = http_app();
    let proxy = http_proxy(&app, "", "    option httpclose");
    let mut c = connect(&proxy);
    c.get_mut().write_all(b"GET /headers HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
    let (head, body) = response(&mut c, false);
    assert!(head.has_token("connection", "close"));
    let seen = String::from_utf8_lossy(&body).to_ascii_lowercase();
    assert!(seen.contains("connection: close"), "the server is told too: {seen}");
    assert!(c.read_head().unwrap().is_none());
}

#[test]
fn pipelined_requests_with_mixed_framings_are_answered_in_order() {
    let app = http_app();
    let proxy = http_proxy(&app, "", "");
    let mut c = connect(&proxy);
    let batch = b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc\
POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n5;ext=1\r\nworld\r\n0\r\nX-Trailer: 1\r\n\r\n\
GET /third HTTP/1.1\r\nHost: t\r\n\r\n";
    c.get_mut().write_all(batch).unwrap();
    let (h1, b1) = response(&mut c, false);
    let (h2, b2) = response(&mut c, false);
    let (h3, b3) = response(&mut c, false);
    assert_eq!((h1.status(), b1.as_slice()), (200, &b"abc"[..]));
    assert!(h2.chunked(), "{h2:?}");
    assert_eq!((h2.status(), b2.as_slice()), (200, &b"helloworld"[..]));
    assert_eq!((h3.status(), b3.as_slice()), (200, &b"path=/third"[..]));
    assert_eq!(log_lines(&proxy, 3).len(), 3);
    assert_eq!(app.stats().requests(), 3);
}

#[test]
fn expect_100_continue_is_forwarded_before_the_body() {
    let app = http_app();
    let proxy = http_proxy(&app, "", "");
    let mut c = connect(&proxy);
    c.get_mut()
        .write_all(b"POST /continue HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n")
        .unwrap();
    let interim = c.read_head().unwrap().unwrap();
    assert_eq!(interim.status(), 100, "{interim:?}");
    c.get_mut().write_all(b"12345").unwrap();
    let (head, body) = response(&mut c, false);
    assert_eq!((head.status(), body.as_slice()), (200, &b"12345"[..]));
}

#[test]
fn head_and_204_have_no_body() {
    let app = http_app();
    let proxy = http_proxy(&app, "", "");
    let mut c = connect(&proxy);
    c.get_mut().write_all(b"HEAD /x HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
    let (head, _) = response(&mut c, true);
    assert_eq!((head.status(), head.content_length()), (200, Some(5)));
    c.get_mut().write_all(b"GET /204 HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
    assert_eq!(response(&mut c, false).0.status(), 204);
    // Had the proxy waited for 5 body bytes after HEAD, or any after 204, this would hang.
    c.get_mut().write_all(b"GET /after HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
    let (head, body) = response(&mut c, false);
    assert_eq!((head.status(), body.as_slice()), (200, &b"path=/after"[..]));
}

#[test]
fn websocket_upgrade_becomes_a_tunnel() {
    let app = http_app();
    let proxy = http_proxy(&app, "", "");
    let mut c = connect(&proxy);
    c.get_mut()
        .write_all(b"GET /ws HTTP/1.1\r\nHost: t\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
        .unwrap();
    let head = c.read_head().unwrap().unwrap();
    assert_eq!(head.status(), 101, "{head:?}");
    for msg in [&b"\x81\x05hello"[..], b"not even http\r\n\r\n", b"GET / HTTP/1.1\r\n\r\n"] {
        c.get_mut().write_all(msg).unwrap();
        let mut got = Vec::new();
        while got.len() < msg.len() {
            let piece = c.read_some(msg.len() - got.len()).unwrap();
            assert!(!piece.is_empty(), "closed after {got:?}");
            got.extend_from_slice(piece);
        }
        assert_eq!(got, msg);
    }
    c.get_mut().shutdown(std::net::Shutdown::Write).unwrap();
    assert!(c.read_some(10).unwrap().is_empty(), "the close goes through the tunnel");
}

#[test]
fn forwardfor_adds_the_client_address() {
    let app = http_app();
    let proxy = http_proxy(&app, "", "    option forwardfor");
    let mut c = connect(&proxy);
    c.get_mut().write_all(b"GET /headers HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
    let (_, body) = response(&mut c, false);
    let seen = String::from_utf8_lossy(&body);
    assert!(seen.contains("X-Forwarded-For: 127.0.0.1\r\n"), "{seen}");

    let proxy = http_proxy(&app, "", "    option forwardfor except 127.0.0.0/8");
    let mut c = connect(&proxy);
    c.get_mut().write_all(b"GET /headers HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
    let (_, body) = response(&mut c, false);
    assert!(!String::from_utf8_lossy(&body).contains("X-Forwarded-For"));

    let proxy = http_proxy(&app, "", "    option forwardfor header X-Client if-none");
    let mut c = connect(&proxy);
    c.get_mut().write_all(b"GET /headers HTTP/1.1\r\nHost: t\r\nX-Client: 1.2.3.4\r\n\r\n").unwrap();
    let (_, body) = response(&mut c, false);
    let seen = String::from_utf8_lossy(&body);
    assert_eq!(seen.matches("X-Client").count(), 1, "{seen}");
}

/// Sends `request` and returns the status of the proxy's answer. `closes`: the
/// connection must close after it (a request that cannot be resynchronised, the 400
/// and 408 pages); otherwise it must stay open and serve the next request, as HAProxy
/// 2.6 keeps the client after its 502, 503 and 504 pages.
fn rejected(proxy: &Proxy, request: &[u8], closes: bool) -> u16 {
    let mut c = connect(proxy);
    c.get_mut().write_all(request).unwrap();
    let (head, _) = response(&mut c, false);
    if closes {
        assert!(head.has_token("connection", "close"), "{head:?}");
        let mut rest = Vec::new();
        let _ = c.get_mut().read_to_end(&mut rest);
    } else {
        assert!(!head.has_token("connection", "close"), "{head:?}");
        c.get_mut().write_all(b"GET /one HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").unwrap();
        assert!(c.read_head().unwrap().is_some(), "the connection serves the next request");
    }
    head.status()
}

#[test]
fn malformed_requests_are_answered_by_the_proxy_and_never_forwarded() {
    let app = http_app();
    let proxy = http_proxy(&app, "", "");
    let big = format!("GET / HTTP/1.1\r\nHost: t\r\nX-Big: {}\r\n\r\n", "a".repeat(20_000));
    let cases: [(&str, &[u8], u16); 6] = [
        ("bad request line", b"GET  / HTTP/1.1\r\nHost: t\r\n\r\n", 400),
        ("CL and TE", b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
        ("oversized head", big.as_bytes(), 431),
        ("bad chunk size", b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n", 400),
        ("unknown coding", b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: foo, chunked\r\n\r\n", 501),
        ("websocket without key", b"GET /ws HTTP/1.1\r\nHost: t\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n", 400),
    ];
    for (i, (name, request, status)) in cases.iter().enumerate() {
        assert_eq!(rejected(&proxy, request, true), *status, "{name}");
        let lines = log_lines(&proxy, i + 1);
        let line = &lines[i];
        assert!(field(line, "ts").starts_with('P'), "{name}: {line}");
        assert_eq!(field(line, "s"), "<NOSRV>", "{name}: {line}");
    }
    assert_eq!(app.connections(), 0, "the server never saw any of them");
    assert_eq!(app.stats().bytes_in(), 0);
}

#[test]
fn slow_request_head_gets_408() {
    let app = http_app();
    let proxy = http_proxy(&app, "    timeout http-request 300ms", "");
    let mut c = connect(&proxy);
    c.get_mut().write_all(b"GET / HTTP/1.1\r\nHost: t\r\n").unwrap();
    let (head, _) = response(&mut c, false);
    assert_eq!(head.status(), 408);
    let line = proxy.wait_for_line(is_log_line, DEADLINE);
    assert_eq!(field(&line, "ts"), "cR", "{line}");
    assert_eq!(app.connections(), 0);
}

#[test]
fn idle_keep_alive_client_is_closed_silently() {
    let app = http_app();
    let proxy = http_proxy(&app, "    timeout http-keep-alive 200ms", "");
    let mut c = connect(&proxy);
    c.get_mut().write_all(b"GET /one HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
    assert_eq!(response(&mut c, false).0.status(), 200);
    assert!(c.read_head().unwrap().is_none(), "closed after timeout http-keep-alive");
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(proxy.count_lines(is_log_line), 1, "only the request is logged");
}

#[test]
fn bad_server_response_gets_502() {
    let app = http_app();
    let proxy = http_proxy(&app, "", "");
    assert_eq!(rejected(&proxy, b"GET /bad HTTP/1.1\r\nHost: t\r\n\r\n", false), 502);
    let line = proxy.wait_for_line(is_log_line, DEADLINE);
    // HAProxy 2.6 logs an invalid response as blocked by the proxy (PH), a server
    // closing before its head as SH.
    assert_eq!(field(&line, "ts"), "PH", "{line}");
    assert_eq!(field(&line, "s"), "s1", "{line}");
}

#[test]
fn server_closing_before_its_response_gets_502() {
    let app = http_app();
    let proxy = http_proxy(&app, "", "");
    assert_eq!(rejected(&proxy, b"GET /close HTTP/1.1\r\nHost: t\r\n\r\n", false), 502);
    let line = proxy.wait_for_line(is_log_line, DEADLINE);
    assert_eq!(field(&line, "ts"), "SH", "{line}");
}

#[test]
fn silent_server_gets_504() {
    let app = http_app();
    let proxy = http_proxy(&app, "    timeout server 300ms", "");
    assert_eq!(rejected(&proxy, b"GET /slow HTTP/1.1\r\nHost: t\r\n\r\n", false), 504);
    let line = proxy.wait_for_line(is_log_line, DEADLINE);
    assert_eq!(field(&line, "ts"), "sH", "{line}");
}

#[test]
fn unreachable_server_gets_503() {
    let dead = RefusingPort::new();
    let proxy = ProxyBuilder::new(&format!(
        "global
    log stdout format raw local0
defaults
    mode http
    log global
    log-format \"{HTTP_LOG}\"
    timeout connect 1s
    timeout client 5s
    timeout server 5s
listen l
    bind 127.0.0.1:{{{{fe}}}}
    server s1 127.0.0.1:{{{{be}}}}
"
    ))
    .port("be", dead.port())
    .start();
    assert_eq!(rejected(&proxy, b"GET / HTTP/1.1\r\nHost: t\r\n\r\n", false), 503);
    let line = proxy.wait_for_line(is_log_line, DEADLINE);
    assert_eq!(field(&line, "ts"), "SC", "{line}");
}

#[test]
fn http_server_close_keeps_the_client_but_not_the_server_connection() {
    let app = http_app();
    let proxy = http_proxy(&app, "", "    option http-server-close");
    let mut c = connect(&proxy);
    for i in 0..3 {
        c.get_mut().write_all(format!("GET /headers HTTP/1.1\r\nHost: t\r\nX-I: {i}\r\n\r\n").as_bytes()).unwrap();
        let (head, body) = response(&mut c, false);
        assert!(!head.has_token("connection", "close"), "the client side stays open: {head:?}");
        let seen = String::from_utf8_lossy(&body).to_ascii_lowercase();
        assert!(seen.contains("connection: close"), "the server is told to close: {seen}");
    }
    assert_eq!(app.connections(), 3, "one server connection per request");

    // With http-pretend-keepalive the server is not told.
    let proxy = http_proxy(&app, "", "    option http-server-close\n    option http-pretend-keepalive");
    let mut c = connect(&proxy);
    c.get_mut().write_all(b"GET /headers HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
    let (_, body) = response(&mut c, false);
    assert!(!String::from_utf8_lossy(&body).to_ascii_lowercase().contains("connection: close"));
}

#[test]
fn originalto_adds_the_destination_address() {
    let app = http_app();
    let proxy = http_proxy(&app, "", "    option originalto header X-Dst");
    let mut c = connect(&proxy);
    c.get_mut().write_all(b"GET /headers HTTP/1.1\r\nHost: t\r\nX-Dst: spoofed\r\n\r\n").unwrap();
    let (_, body) = response(&mut c, false);
    let seen = String::from_utf8_lossy(&body);
    assert!(seen.contains("X-Dst: 127.0.0.1\r\n"), "{seen}");
    assert!(!seen.contains("spoofed"), "{seen}");
}

#[test]
fn pipelined_requests_sent_a_byte_at_a_time_are_parsed_the_same() {
    let app = http_app();
    let proxy = http_proxy(&app, "", "");
    let mut c = connect(&proxy);
    c.get_mut().set_nodelay(true).unwrap();
    let batch: &[u8] = b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n\
GET /second HTTP/1.1\r\nHost: t\r\n\r\nPOST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\nok";
    let mut w = c.get_mut().try_clone().unwrap();
    let writer = std::thread::spawn(move || {
        for b in batch {
            w.write_all(std::slice::from_ref(b)).unwrap();
            std::thread::sleep(Duration::from_micros(200));
        }
    });
    let bodies: Vec<Vec<u8>> = (0..3).map(|_| response(&mut c, false).1).collect();
    writer.join().unwrap();
    assert_eq!(bodies, [b"abc".to_vec(), b"path=/second".to_vec(), b"ok".to_vec()]);
}

#[test]
fn http_buffer_request_waits_for_the_body_before_connecting() {
    let app = http_app();
    let proxy = http_proxy(&app, "", "    option http-buffer-request");
    let mut c = connect(&proxy);
    c.get_mut()
        .write_all(b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel")
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(app.connections(), 0, "no server before the body is complete");
    c.get_mut().write_all(b"lo\r\n0\r\n\r\n").unwrap();
    let (head, body) = response(&mut c, false);
    assert_eq!((head.status(), body.as_slice()), (200, &b"hello"[..]));

    // A client expecting 100-continue is answered by the proxy, which needs the body.
    c.get_mut()
        .write_all(b"POST /echo HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n")
        .unwrap();
    assert_eq!(c.read_head().unwrap().unwrap().status(), 100);
    c.get_mut().write_all(b"abc").unwrap();
    let (head, body) = response(&mut c, false);
    assert_eq!((head.status(), body.as_slice()), (200, &b"abc"[..]));

    // A body that never completes gets 408 (timeout http-request).
    let proxy = http_proxy(&app, "    timeout http-request 300ms", "    option http-buffer-request");
    let mut c = connect(&proxy);
    c.get_mut().write_all(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nabc").unwrap();
    assert_eq!(response(&mut c, false).0.status(), 408);
    assert_eq!(app.connections(), 1, "only the first request reached the server");
}

#[test]
fn abortonclose_stops_waiting_for_a_response_the_client_gave_up_on() {
    let app = http_app();
    let proxy = http_proxy(&app, "", "    option abortonclose");
    let mut c = connect(&proxy);
    c.get_mut().write_all(b"GET /slow HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
    // Wait for the request to reach the server, not only for its connection to be
    // accepted: a client leaving while the proxy still connects is a `CC`.
    assert!(wait_until(DEADLINE, || app.stats().requests() >= 1));
    c.get_mut().shutdown(std::net::Shutdown::Write).unwrap();
    let line = proxy.wait_for_line(is_log_line, DEADLINE);
    assert_eq!(field(&line, "ts"), "CH", "{line}");
    assert!(c.read_head().unwrap().is_none(), "no response, closed");
}

#[test]
fn a_response_delimited_by_close_ends_the_connection() {
    let app = http_app();
    let proxy = http_proxy(&app, "", "");
    let mut c = connect(&proxy);
    c.get_mut().write_all(b"GET /untilclose HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
    let (head, body) = response(&mut c, false);
    assert!(head.has_token("connection", "close"), "the client cannot be kept: {head:?}");
    assert_eq!(body, b"until close");
    let line = proxy.wait_for_line(is_log_line, DEADLINE);
    assert_eq!(field(&line, "ts"), "--", "{line}");
}

#[test]
fn connect_becomes_a_tunnel() {
    let app = http_app();
    let proxy = http_proxy(&app, "", "");
    let mut c = connect(&proxy);
    c.get_mut().write_all(b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n").unwrap();
    let head = c.read_head().unwrap().unwrap();
    assert_eq!(head.status(), 200, "{head:?}");
    let msg = b"\x16\x03\x01 tls-ish bytes";
    c.get_mut().write_all(msg).unwrap();
    let mut got = Vec::new();
    while got.len() < msg.len() {
        let piece = c.read_some(msg.len() - got.len()).unwrap();
        assert!(!piece.is_empty(), "closed after {got:?}");
        got.extend_from_slice(piece);
    }
    assert_eq!(got, msg);
}

#[test]
fn soft_stop_lets_idle_keep_alive_clients_go() {
    let app = http_app();
    let mut proxy = http_proxy(&app, "", "");
    let mut idle = connect(&proxy);
    idle.get_mut().write_all(b"GET /a HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
    assert_eq!(response(&mut idle, false).0.status(), 200);
    let mut busy = connect(&proxy);
    busy.get_mut().write_all(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\n\r\nab").unwrap();
    assert!(app.wait_connections(2, DEADLINE));
    proxy.signal("USR1");
    assert!(idle.read_head().unwrap().is_none(), "the idle client is closed at once");
    // The one in a transaction finishes it, told to close.
    busy.get_mut().write_all(b"cd").unwrap();
    let (head, body) = response(&mut busy, false);
    assert_eq!((head.status(), body.as_slice()), (200, &b"abcd"[..]));
    assert!(head.has_token("connection", "close"), "{head:?}");
    assert!(proxy.wait_exit(DEADLINE).success());
}

#[test]
fn balance_uri_sends_a_uri_to_the_same_server() {
    let (a, b) = (http_app(), http_app());
    let proxy = ProxyBuilder::new(
        "defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
listen l
    bind 127.0.0.1:{{fe}}
    balance uri
    server a 127.0.0.1:{{a}}
    server b 127.0.0.1:{{b}}
",
    )
    .port("a", a.port())
    .port("b", b.port())
    .start();
    let mut c = connect(&proxy);
    for path in ["/same", "/same", "/same", "/same", "/other", "/same"] {
        c.get_mut().write_all(format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes()).unwrap();
        assert_eq!(response(&mut c, false).0.status(), 200);
    }
    // Round robin would have split the five /same requests between a and b.
    let (ra, rb) = (a.stats().requests(), b.stats().requests());
    assert_eq!(ra + rb, 6);
    assert!(ra >= 5 || rb >= 5, "a served {ra}, b served {rb}");
}

#[test]
fn unique_id_is_sent_to_the_server_and_logged() {
    let app = http_app();
    let proxy = http_proxy(
        &app,
        "",
        "    unique-id-format %{+X}o\\ %ci-%fp\n    unique-id-header X-Unique-ID\n    log-format \"LOG id=%ID\"",
    );
    let mut c = connect(&proxy);
    c.get_mut().write_all(b"GET /headers HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
    let (_, body) = response(&mut c, false);
    // The client address and the frontend port in hexadecimal, as HAProxy renders it.
    let expected = format!("7F000001-{:X}", proxy.port("fe"));
    let seen = String::from_utf8_lossy(&body);
    assert!(seen.contains(&format!("X-Unique-ID: {expected}")), "{seen}");
    let line = proxy.wait_for_line(|l| l.starts_with("LOG id="), DEADLINE);
    assert_eq!(line, format!("LOG id={expected}"));
}

#[test]
fn use_backend_rules_see_the_request() {
    let (api, web) = (http_app(), Backend::http(b"web"));
    let proxy = ProxyBuilder::new(
        "defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{{fe}}
    acl is_api path_beg /api
    use_backend api if is_api || { hdr(host) -i api.example.com }
    default_backend web
backend api
    server a 127.0.0.1:{{api}}
backend web
    server w 127.0.0.1:{{web}}
",
    )
    .port("api", api.port())
    .port("web", web.port())
    .start();
    for (request, body) in [
        (&b"GET /api/x HTTP/1.1\r\nHost: t\r\n\r\n"[..], "path=/api/x"),
        (b"GET /x HTTP/1.1\r\nHost: API.example.com\r\n\r\n", "path=/x"),
        (b"GET /x HTTP/1.1\r\nHost: www.example.com\r\n\r\n", "web"),
    ] {
        let mut c = connect(&proxy);
        c.get_mut().write_all(request).unwrap();
        let (_, got) = response(&mut c, false);
        assert_eq!(String::from_utf8_lossy(&got), body);
    }
}

/// `userlist`, `http_auth`, `http_auth_group` and `http-request auth`, on moonproxy and
/// HAProxy alike: 401 with a realm without credentials or with wrong ones, the page
/// for a user outside the group, 200 for an admin (crypt(3) and plain passwords).
#[test]
fn basic_auth_against_a_userlist_as_haproxy_does() {
    for bin in moonproxy_and_haproxy() {
        let app = http_app();
        let proxy = ProxyBuilder::new(
            "userlist L1
    group admins users tiger
    user tiger password $6$saltsalt$TVLlQcbpFVof5W3Yz4DTP6gRstiNuHwwTt6GLc1E5n0U0aDehy0S5knV8wiOQSpT0Y77vwPZN.Pq.H91p5hVO1
    user scott insecure-password elgato
defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
listen l
    bind 127.0.0.1:{{fe}}
    acl authed http_auth(L1)
    acl admin http_auth_group(L1) admins
    http-request auth realm Private if !authed
    http-request deny if !admin
    server s1 127.0.0.1:{{be}}
",
        )
        .bin(&bin)
        .port("be", app.port())
        .start();
        let ask = |auth: Option<&str>| {
            let mut c = connect(&proxy);
            let header = auth.map(|a| format!("Authorization: Basic {a}\r\n")).unwrap_or_default();
            c.get_mut().write_all(format!("GET /x HTTP/1.1\r\nHost: t\r\n{header}\r\n").as_bytes()).unwrap();
            let (head, _) = response(&mut c, false);
            (head.status(), head.header("www-authenticate").map(str::to_string))
        };
        let challenge = Some("Basic realm=\"Private\"".to_string());
        assert_eq!(ask(None), (401, challenge.clone()), "{}", bin.display());
        // base64("tiger:wrong"), ("scott:elgato"), ("tiger:secret").
        assert_eq!(ask(Some("dGlnZXI6d3Jvbmc=")), (401, challenge), "{}", bin.display());
        assert_eq!(ask(Some("c2NvdHQ6ZWxnYXRv")), (403, None), "{}", bin.display());
        assert_eq!(ask(Some("dGlnZXI6c2VjcmV0")), (200, None), "{}", bin.display());
    }
}
