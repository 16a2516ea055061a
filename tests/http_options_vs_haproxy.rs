//! HTTP and logging options side by side with HAProxy 2.6 on the same configuration:
//! `dontlog-normal`, `http-ignore-probes`, `http-restrict-req-hdr-names`,
//! `idle-close-on-response`, and the host field of RFC 3164 log lines sent over UDP
//! with and without `format rfc3164`.
//!
//! Without `haproxy` the comparisons are skipped with a note, unless `CI` is set; the
//! checks on moonproxy's own results still run.

mod common;

use common::*;
use std::io::{Read, Write};
use std::net::{TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// moonproxy, then HAProxy when installed.
fn bins() -> Vec<PathBuf> {
    moonproxy_and_haproxy()
}

/// A backend answering each request with its head as the body; `503` for `/fail`.
fn echo_head_backend() -> Backend {
    Backend::custom(|mut s: TcpStream, _| loop {
        let mut head = Vec::new();
        let mut b = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            match s.read(&mut b) {
                Ok(1) => head.push(b[0]),
                _ => return,
            }
        }
        let status = if head.starts_with(b"GET /fail") { "503 Service Unavailable" } else { "200 OK" };
        let reply = format!("HTTP/1.1 {status}\r\nContent-Length: {}\r\n\r\n", head.len());
        if s.write_all(reply.as_bytes()).and_then(|_| s.write_all(&head)).is_err() {
            return;
        }
    })
}

/// Sends `bytes` on a new connection, half-closes if `close`, and returns all it got
/// until the proxy closed.
fn exchange(addr: std::net::SocketAddr, bytes: &[u8], close: bool) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(DEADLINE)).unwrap();
    s.write_all(bytes).unwrap();
    if close {
        s.shutdown(std::net::Shutdown::Write).unwrap();
    }
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

const CONFIG: &str = "global
    log stdout format raw local0
defaults
    mode http
    log global
    log-format \"%f %ST %tsc %HU\"
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{{fe}}
    option http-restrict-req-hdr-names reject
    default_backend be
frontend fe2
    bind 127.0.0.1:{{fe2}}
    timeout http-request 300ms
    option http-restrict-req-hdr-names delete
    option dontlog-normal
    option http-ignore-probes
    default_backend be
backend be
    server s1 127.0.0.1:{{be}}
";

const BAD_NAMES: &str = "Host: h\r\nX_Foo: 1\r\nX.Bar: 2\r\nOk-1: 3\r\nConnection: close\r\n\r\n";

/// What each scenario gave, and the log lines, in order.
fn run(bin: &Path) -> (Vec<String>, Vec<String>) {
    let app = echo_head_backend();
    let proxy = ProxyBuilder::new(CONFIG).bin(bin).port("be", app.port()).start();
    let (fe, fe2) = (proxy.addr("fe"), proxy.addr("fe2"));
    let status = |r: &str| r.split(' ').nth(1).unwrap_or("none").to_string();
    let mut got = Vec::new();
    // `reject`: 403.
    got.push(status(&exchange(fe, format!("GET /reject HTTP/1.1\r\n{BAD_NAMES}").as_bytes(), false)));
    // `delete`: the server sees the other headers only (lower-cased by HAProxy;
    // `Connection`, which the two proxies handle each its own way, left out).
    let r = exchange(fe2, format!("GET /delete HTTP/1.1\r\n{BAD_NAMES}").as_bytes(), false);
    let body = r.split_once("\r\n\r\n").map_or("", |(_, b)| b).to_ascii_lowercase();
    got.push(body.lines().filter(|l| l.contains(": ")).map(|l| l.split(':').next().unwrap()).filter(|n| *n != "connection").collect::<Vec<_>>().join(","));
    // Probes: closed at once, or silent until `timeout http-request`: nothing back.
    got.push(format!("probe closed: {:?}", exchange(fe2, b"", true)));
    got.push(format!("probe timed out: {:?}", exchange(fe2, b"", false)));
    // A normal transaction on fe2 (not logged), a 503 (logged), a partial request
    // closed by the client (logged: not a probe).
    got.push(status(&exchange(fe2, b"GET /normal HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n", false)));
    got.push(status(&exchange(fe2, b"GET /fail HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n", false)));
    exchange(fe2, b"GET /partial HTTP/1.1\r\n", true);
    // The last line: every line before it is out.
    exchange(fe, b"GET /end HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n", false);
    proxy.wait_for_line(|l| l.contains("/end"), DEADLINE);
    let lines = proxy.lines().into_iter().map(|l| l.text).filter(|l| l.starts_with("fe")).collect();
    (got, lines)
}

#[test]
fn logging_probes_and_header_names_as_in_haproxy() {
    let mut results = Vec::new();
    for bin in bins() {
        results.push(run(&bin));
    }
    let (got, lines) = &results[0];
    assert_eq!(got[0], "403");
    assert_eq!(got[1], "host,ok-1");
    assert_eq!(got[2], "probe closed: \"\"");
    assert_eq!(got[3], "probe timed out: \"\"");
    assert_eq!(lines, &["fe 403 PR-- /reject", "fe2 503 ---- /fail", "fe2 400 CR-- <BADREQ>", "fe 200 ---- /end"]);
    if let Some(theirs) = results.get(1) {
        assert_eq!(&results[0], theirs, "moonproxy (left) and HAProxy (right)");
    }
}

/// Soft-stop (SIGUSR1) with a kept-alive client connection idle: closed at once
/// without the option; with it, the next request is served and its response closes.
fn soft_stop(bin: &Path, option: bool) -> String {
    let app = echo_head_backend();
    let config = format!(
        "defaults\n    mode http\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n\
         frontend fe\n    bind 127.0.0.1:{{{{fe}}}}\n    {}\n    default_backend be\n\
         backend be\n    server s1 127.0.0.1:{{{{be}}}}\n",
        if option { "option idle-close-on-response" } else { "" }
    );
    let proxy = ProxyBuilder::new(&config).bin(bin).port("be", app.port()).start();
    let s = TcpStream::connect(proxy.addr("fe")).unwrap();
    s.set_read_timeout(Some(DEADLINE)).unwrap();
    let mut c = HttpReader::new(s);
    c.get_mut().write_all(b"GET /1 HTTP/1.1\r\nHost: h\r\n\r\n").unwrap();
    let head = c.read_head().unwrap().expect("a response");
    c.read_body(&head, false, |_| {}).unwrap();
    proxy.signal("USR1");
    std::thread::sleep(Duration::from_millis(300));
    let _ = c.get_mut().write_all(b"GET /2 HTTP/1.1\r\nHost: h\r\n\r\n");
    match c.read_head() {
        Ok(Some(h)) => format!("{} connection: {}", h.line, h.header("connection").unwrap_or("-")),
        Ok(None) | Err(_) => "closed".into(),
    }
}

#[test]
fn idle_close_on_response_as_in_haproxy() {
    let mut results = Vec::new();
    for bin in bins() {
        results.push((soft_stop(&bin, false), soft_stop(&bin, true)));
    }
    assert_eq!(results[0].0, "closed");
    assert_eq!(results[0].1, "HTTP/1.1 200 OK connection: close");
    if let Some(theirs) = results.get(1) {
        assert_eq!(&results[0], theirs, "moonproxy (left) and HAProxy (right)");
    }
}

/// The header of an RFC 3164 line after its date: `localhost haproxy[` or `haproxy[`.
fn host_field(line: &str) -> String {
    let after_pri = &line[line.find('>').unwrap() + 1..];
    // "Nov 26 10:12:22 " is 16 bytes.
    let rest = &after_pri[16..];
    rest[..rest.find('[').unwrap()].to_string()
}

#[test]
fn rfc3164_host_field_over_udp_as_in_haproxy() {
    let app = echo_head_backend();
    let mut results = Vec::new();
    for bin in bins() {
        let plain = UdpSocket::bind("127.0.0.1:0").unwrap();
        let explicit = UdpSocket::bind("127.0.0.1:0").unwrap();
        for s in [&plain, &explicit] {
            s.set_read_timeout(Some(DEADLINE)).unwrap();
        }
        let proxy = ProxyBuilder::new(
            "global\n    log 127.0.0.1:{{plain}} local0\n    log 127.0.0.1:{{explicit}} format rfc3164 local0\n\
             defaults\n    mode http\n    log global\n    log-format \"%ST\"\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n\
             frontend fe\n    bind 127.0.0.1:{{fe}}\n    default_backend be\n\
             backend be\n    server s1 127.0.0.1:{{be}}\n",
        )
        .bin(&bin)
        .port("be", app.port())
        .var("plain", plain.local_addr().unwrap().port())
        .var("explicit", explicit.local_addr().unwrap().port())
        .start();
        exchange(proxy.addr("fe"), b"GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n", false);
        let mut fields = Vec::new();
        for s in [&plain, &explicit] {
            // Start-up lines may come first: the stream's line ends with its status.
            loop {
                let mut buf = [0u8; 2048];
                let n = s.recv(&mut buf).expect("a log line");
                let line = String::from_utf8_lossy(&buf[..n]).into_owned();
                if line.trim_end().ends_with(": 200") {
                    fields.push(host_field(&line));
                    break;
                }
            }
        }
        results.push(fields);
    }
    assert_eq!(results[0], ["haproxy", "localhost haproxy"]);
    if let Some(theirs) = results.get(1) {
        assert_eq!(&results[0], theirs, "moonproxy (left) and HAProxy (right)");
    }
}

/// Each run of digits stands for a number: `+8 +74` reads `+9 +9`.
fn digits_masked(line: &str) -> String {
    let mut out = String::new();
    for c in line.chars() {
        if !c.is_ascii_digit() {
            out.push(c);
        } else if !out.ends_with('9') {
            out.push('9');
        }
    }
    out
}

/// `option logasap`: the line goes out with the response head, before the body
/// (the server here holds the rest of its body back until the line was seen), with
/// `+` before the times and bytes so far.
#[test]
fn logasap_logs_with_the_response_head_as_in_haproxy() {
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    let release_rx = std::sync::Mutex::new(release_rx);
    let app = Backend::custom(move |mut s: TcpStream, _| {
        let mut head = Vec::new();
        let mut b = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            match s.read(&mut b) {
                Ok(1) => head.push(b[0]),
                _ => return,
            }
        }
        let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello");
        let _ = release_rx.lock().unwrap().recv_timeout(DEADLINE);
        let _ = s.write_all(b"world");
    });
    let mut lines = Vec::new();
    for bin in bins() {
        let proxy = ProxyBuilder::new(
            "global\n    log stdout format raw local0\n\
             defaults\n    mode http\n    log global\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n\
             frontend fe\n    bind 127.0.0.1:{{fe}}\n    option logasap\n    log-format \"asap %Tt %B %Ta %Tu %ts %U %ST %HU\"\n    default_backend be\n\
             backend be\n    server s1 127.0.0.1:{{be}}\n",
        )
        .bin(&bin)
        .port("be", app.port())
        .start();
        let s = TcpStream::connect(proxy.addr("fe")).unwrap();
        s.set_read_timeout(Some(DEADLINE)).unwrap();
        let mut c = HttpReader::new(s);
        c.get_mut().write_all(b"GET /slow HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n").unwrap();
        c.read_head().unwrap().expect("a response");
        // The line is out while the body is not complete.
        let line = proxy.wait_for_line(|l| l.starts_with("asap"), DEADLINE);
        release_tx.send(()).unwrap();
        let mut body = Vec::new();
        let _ = c.get_mut().read_to_end(&mut body);
        assert!(body.ends_with(b"world"), "the rest of the body: {body:?}");
        drop(c);
        std::thread::sleep(Duration::from_millis(200));
        assert_eq!(proxy.count_lines(|l| l.starts_with("asap")), 1, "one line only");
        lines.push(digits_masked(&line));
    }
    assert_eq!(lines[0], "asap +9 +9 +9 +9 -- 9 9 /slow");
    if let Some(theirs) = lines.get(1) {
        assert_eq!(&lines[0], theirs, "moonproxy (left) and HAProxy (right)");
    }
}

/// A keep-alive backend answering every request with `name`.
fn named_backend(name: &'static str) -> Backend {
    Backend::custom(move |mut s: TcpStream, _| loop {
        let mut head = Vec::new();
        let mut b = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            match s.read(&mut b) {
                Ok(1) => head.push(b[0]),
                _ => return,
            }
        }
        let reply = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{name}", name.len());
        if s.write_all(reply.as_bytes()).is_err() {
            return;
        }
    })
}

/// Four requests on one kept-alive connection to a round-robin backend of two
/// servers: which server answered each. HAProxy 2.6 prefers the last server only
/// when `http-reuse never` keeps the connection with the client's.
fn servers_seen(bin: &Path, option: bool, reuse: &str) -> Vec<String> {
    let (a, b) = (named_backend("a"), named_backend("b"));
    let config = format!(
        "defaults\n    mode http\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n\
         frontend fe\n    bind 127.0.0.1:{{{{fe}}}}\n    default_backend be\n\
         backend be\n    {}\n    http-reuse {reuse}\n    server a 127.0.0.1:{{{{a}}}}\n    server b 127.0.0.1:{{{{b}}}}\n",
        if option { "option prefer-last-server" } else { "" }
    );
    let proxy = ProxyBuilder::new(&config).bin(bin).port("a", a.port()).port("b", b.port()).start();
    let s = TcpStream::connect(proxy.addr("fe")).unwrap();
    s.set_read_timeout(Some(DEADLINE)).unwrap();
    let mut c = HttpReader::new(s);
    let mut seen = Vec::new();
    for _ in 0..4 {
        c.get_mut().write_all(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n").unwrap();
        let head = c.read_head().unwrap().expect("a response");
        let mut body = Vec::new();
        c.read_body(&head, false, |d| body.extend_from_slice(d)).unwrap();
        seen.push(String::from_utf8(body).unwrap());
    }
    seen
}

#[test]
fn prefer_last_server_as_in_haproxy() {
    let mut results = Vec::new();
    for bin in bins() {
        results.push((servers_seen(&bin, false, "never"), servers_seen(&bin, true, "never"), servers_seen(&bin, true, "safe")));
    }
    assert_eq!(results[0].0, ["a", "b", "a", "b"], "round robin");
    assert_eq!(results[0].1, ["a", "a", "a", "a"], "the last server");
    assert_eq!(results[0].2, ["a", "b", "a", "b"], "no effect with http-reuse safe");
    if let Some(theirs) = results.get(1) {
        assert_eq!(&results[0], theirs, "moonproxy (left) and HAProxy (right)");
    }
}

/// `option http-use-proxy-header` is accepted; in HAProxy 2.6 `Proxy-Connection` decides
/// nothing (an HTTP/1.0 request asking keep-alive through it is answered with a close),
/// and so in moonproxy.
#[test]
fn proxy_connection_header_decides_nothing_as_in_haproxy() {
    let app = echo_head_backend();
    let mut results = Vec::new();
    for bin in bins() {
        let proxy = ProxyBuilder::new(
            "defaults\n    mode http\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n\
             frontend fe\n    bind 127.0.0.1:{{fe}}\n    option http-use-proxy-header\n    default_backend be\n\
             backend be\n    server s1 127.0.0.1:{{be}}\n",
        )
        .bin(&bin)
        .port("be", app.port())
        .start();
        let r = exchange(proxy.addr("fe"), b"GET http://h/ HTTP/1.0\r\nHost: h\r\nProxy-Connection: keep-alive\r\n\r\n", false);
        let head = r.split("\r\n\r\n").next().unwrap_or("").to_ascii_lowercase();
        results.push((head.lines().next().unwrap_or("").to_string(), head.contains("connection: close")));
    }
    assert_eq!(results[0], ("http/1.1 200 ok".to_string(), true));
    if let Some(theirs) = results.get(1) {
        assert_eq!(&results[0], theirs, "moonproxy (left) and HAProxy (right)");
    }
}
