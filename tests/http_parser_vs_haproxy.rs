//! The parser's edge behaviours run on moonproxy and on HAProxy 2.6 with the same
//! configuration (doc/http.md, "Compared with HAProxy"): `tune.http.maxhdr` on requests
//! and responses, hop-by-hop headers named in `Connection`, a close-delimited response
//! to a keep-alive client, and the case of forwarded header names (where the two differ
//! on purpose, each binary's answer is pinned).

mod common;

use common::*;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::sync::{Arc, Mutex};

/// What the server saw: the head lines of every request, in order.
type Seen = Arc<Mutex<Vec<Vec<String>>>>;

/// The server. `GET /many/<n>`: a response with `n` field lines (Content-Length
/// included); `GET /hop`: a response whose `Connection` names `X-Hop`; `GET /close`: a
/// response delimited by closing; anything else: 200 with an empty body.
fn server(seen: Seen) -> Backend {
    Backend::custom(move |stream, stats| {
        let mut w = stream.try_clone().unwrap();
        let mut r = BufReader::new(stream);
        loop {
            let mut head = Vec::new();
            loop {
                let mut line = String::new();
                if r.read_line(&mut line).unwrap_or(0) == 0 {
                    return;
                }
                let line = line.trim_end().to_string();
                if line.is_empty() {
                    break;
                }
                head.push(line);
            }
            stats.add_request();
            let target = head[0].split(' ').nth(1).unwrap_or("").to_string();
            seen.lock().unwrap().push(head);
            let reply = if let Some(n) = target.strip_prefix("/many/") {
                let n: usize = n.parse().unwrap();
                let fields: String = (1..n).map(|i| format!("X-H{i}: v\r\n")).collect();
                format!("HTTP/1.1 200 OK\r\n{fields}Content-Length: 2\r\n\r\nok")
            } else if target == "/hop" {
                "HTTP/1.1 200 OK\r\nConnection: X-Hop\r\nX-Hop: 1\r\nContent-Length: 2\r\n\r\nok"
                    .into()
            } else if target == "/close" {
                w.write_all(b"HTTP/1.1 200 OK\r\nX-A: 1\r\n\r\nuntil-close")
                    .unwrap();
                return;
            } else {
                "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n".into()
            };
            if w.write_all(reply.as_bytes()).is_err() {
                return;
            }
        }
    })
}

fn start(bin: &Path, backend: &Backend) -> Proxy {
    start_with(bin, backend, "")
}

/// `global` lines first (e.g. `tune.http.maxhdr 10`).
fn start_with(bin: &Path, backend: &Backend, global: &str) -> Proxy {
    ProxyBuilder::new(&format!(
        "global
    {global}
defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
listen l
    bind 127.0.0.1:{{{{fe}}}}
    server s1 127.0.0.1:{{{{be}}}}
"
    ))
    .bin(bin)
    .port("be", backend.port())
    .start()
}

fn is_moonproxy(bin: &Path) -> bool {
    bin == moonproxy_bin()
}

/// Sends `request` on a new connection; returns the response head lines, and the body
/// and whether the proxy closed, read until close or for up to 300 ms after the head.
fn exchange(proxy: &Proxy, request: &[u8]) -> (Vec<String>, String, bool) {
    let s = TcpStream::connect(proxy.addr("fe")).unwrap();
    s.set_read_timeout(Some(DEADLINE)).unwrap();
    let mut r = BufReader::new(s);
    r.get_mut().write_all(request).unwrap();
    let mut head = Vec::new();
    loop {
        let mut line = String::new();
        assert!(
            r.read_line(&mut line).unwrap() > 0,
            "the proxy closed before a response"
        );
        let line = line.trim_end().to_string();
        if line.is_empty() {
            break;
        }
        head.push(line);
    }
    r.get_ref()
        .set_read_timeout(Some(std::time::Duration::from_millis(300)))
        .unwrap();
    let mut body = Vec::new();
    let closed = match r.read_to_end(&mut body) {
        Ok(_) => true,
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ) =>
        {
            false
        }
        Err(e) => panic!("reading the body: {e}"),
    };
    (head, String::from_utf8_lossy(&body).into_owned(), closed)
}

fn status(head: &[String]) -> u16 {
    head[0]
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status")
}

/// The value of `name` in head lines, whatever the case of the name.
fn header<'a>(head: &'a [String], name: &str) -> Option<&'a str> {
    head.iter().find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// A request with `fields` field lines (Host included).
fn request_with_fields(fields: usize) -> Vec<u8> {
    let mut r = b"GET /plain HTTP/1.1\r\nHost: t\r\n".to_vec();
    for i in 1..fields {
        r.extend_from_slice(format!("X-H{i}: v\r\n").as_bytes());
    }
    r.extend_from_slice(b"\r\n");
    r
}

#[test]
fn maxhdr_counts_the_start_line_as_haproxy_does() {
    for bin in moonproxy_and_haproxy() {
        let seen = Seen::default();
        let backend = server(seen.clone());
        let proxy = start(&bin, &backend);
        let who = bin.display();

        // tune.http.maxhdr is 101 and counts the request line: 100 field lines pass.
        let (head, _, _) = exchange(&proxy, &request_with_fields(100));
        assert_eq!(status(&head), 200, "{who}");
        assert_eq!(seen.lock().unwrap().last().unwrap().len(), 101, "{who}");

        // 101 field lines are refused and the server sees nothing. HAProxy answers 400,
        // moonproxy 431 (RFC 6585; doc/http.md, "Rejections").
        let (head, _, closed) = exchange(&proxy, &request_with_fields(101));
        let expected = if is_moonproxy(&bin) { 431 } else { 400 };
        assert_eq!(status(&head), expected, "{who}");
        assert!(closed, "{who}: the connection closes after a refused head");
        assert_eq!(backend.stats().requests(), 1, "{who}");

        // The same count on responses: 101 field lines are a 502.
        let (head, body, _) = exchange(&proxy, b"GET /many/100 HTTP/1.1\r\nHost: t\r\n\r\n");
        assert_eq!((status(&head), body.as_str()), (200, "ok"), "{who}");
        let (head, _, _) = exchange(&proxy, b"GET /many/101 HTTP/1.1\r\nHost: t\r\n\r\n");
        assert_eq!(status(&head), 502, "{who}");
    }
}

/// `tune.http.maxhdr 10`: 9 field lines pass, 10 are refused, for requests and responses.
#[test]
fn a_configured_maxhdr_applies_as_in_haproxy() {
    for bin in moonproxy_and_haproxy() {
        let backend = server(Seen::default());
        let proxy = start_with(&bin, &backend, "tune.http.maxhdr 10");
        let who = bin.display();
        let (head, _, _) = exchange(&proxy, &request_with_fields(9));
        assert_eq!(status(&head), 200, "{who}");
        let (head, _, _) = exchange(&proxy, &request_with_fields(10));
        assert_eq!(status(&head), if is_moonproxy(&bin) { 431 } else { 400 }, "{who}");
        let (head, _, _) = exchange(&proxy, b"GET /many/9 HTTP/1.1\r\nHost: t\r\n\r\n");
        assert_eq!(status(&head), 200, "{who}");
        let (head, _, _) = exchange(&proxy, b"GET /many/10 HTTP/1.1\r\nHost: t\r\n\r\n");
        assert_eq!(status(&head), 502, "{who}");
    }
}

#[test]
fn headers_named_in_connection_are_forwarded_as_haproxy_does() {
    for bin in moonproxy_and_haproxy() {
        let seen = Seen::default();
        let backend = server(seen.clone());
        let proxy = start(&bin, &backend);
        let who = bin.display();

        // HAProxy 2.6 does not remove the fields a Connection header names (RFC 9110
        // §7.6.1 says a proxy should); neither does moonproxy, so both ends keep seeing
        // what they saw through HAProxy.
        let (head, _, _) = exchange(
            &proxy,
            b"GET /plain HTTP/1.1\r\nHost: t\r\nConnection: X-Foo\r\nX-Foo: a\r\n\r\n",
        );
        assert_eq!(status(&head), 200, "{who}");
        let got = seen.lock().unwrap().last().unwrap().clone();
        assert_eq!(header(&got, "x-foo"), Some("a"), "{who}: {got:?}");
        assert_eq!(header(&got, "connection"), Some("X-Foo"), "{who}: {got:?}");

        let (head, _, _) = exchange(&proxy, b"GET /hop HTTP/1.1\r\nHost: t\r\n\r\n");
        assert_eq!(header(&head, "x-hop"), Some("1"), "{who}: {head:?}");
        assert_eq!(
            header(&head, "connection"),
            Some("X-Hop"),
            "{who}: {head:?}"
        );
    }
}

#[test]
fn close_delimited_response_closes_a_keep_alive_client_as_haproxy_does() {
    for bin in moonproxy_and_haproxy() {
        let backend = server(Seen::default());
        let proxy = start(&bin, &backend);
        let who = bin.display();
        // HAProxy 2.6 does not chunk a close-delimited response for an HTTP/1.1 client:
        // it forwards the body as it comes, says `connection: close` and closes.
        for request in [
            &b"GET /close HTTP/1.1\r\nHost: t\r\n\r\n"[..],
            b"GET /close HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
        ] {
            let (head, body, closed) = exchange(&proxy, request);
            assert_eq!(status(&head), 200, "{who}");
            assert_eq!(
                header(&head, "connection"),
                Some("close"),
                "{who}: {head:?}"
            );
            assert_eq!(header(&head, "transfer-encoding"), None, "{who}: {head:?}");
            assert_eq!(header(&head, "content-length"), None, "{who}: {head:?}");
            assert_eq!(body, "until-close", "{who}");
            assert!(
                closed,
                "{who}: the client connection is closed after the body"
            );
        }
    }
}

#[test]
fn header_names_keep_their_case_where_haproxy_lowercases_them() {
    for bin in moonproxy_and_haproxy() {
        let seen = Seen::default();
        let backend = server(seen.clone());
        let proxy = start(&bin, &backend);
        let (head, _, _) = exchange(
            &proxy,
            b"GET /hop HTTP/1.1\r\nHost: t\r\nX-MiXed: 1\r\n\r\n",
        );
        let sent = seen.lock().unwrap().last().unwrap().clone();
        // HAProxy 2.6 lowercases every name it forwards in HTTP/1.1 (`h1-case-adjust`
        // exists to undo that for peers that care); moonproxy forwards names as received
        // (doc/http.md, "Header names").
        let (to_server, to_client) = if is_moonproxy(&bin) {
            ("X-MiXed: 1", "X-Hop: 1")
        } else {
            ("x-mixed: 1", "x-hop: 1")
        };
        assert!(
            sent.iter().any(|l| l == to_server),
            "{}: {sent:?}",
            bin.display()
        );
        assert!(
            head.iter().any(|l| l == to_client),
            "{}: {head:?}",
            bin.display()
        );
    }
}

/// Starts a logged proxy (`option httplog` on stdout) with `global` lines added.
fn start_logged(bin: &Path, backend: &Backend, global: &str) -> Proxy {
    ProxyBuilder::new(&format!(
        "global
    log stdout format raw local0
    {global}
defaults
    mode http
    log global
    option httplog
    timeout connect 1s
    timeout client 5s
    timeout server 5s
listen l
    bind 127.0.0.1:{{{{fe}}}}
    server s1 127.0.0.1:{{{{be}}}}
"
    ))
    .bin(bin)
    .port("be", backend.port())
    .start()
}

/// The log line's fields from the frontend on: client address and date dropped, timers
/// kept only where they are -1, and `%B` masked (HAProxy counts 0 bytes for an error
/// its parser answers, moonproxy the bytes sent: doc/http.md, "Logged bytes").
fn log_tail(line: &str) -> String {
    let words: Vec<&str> = line.split(' ').collect();
    let timers = words[4].split('/').map(|t| if t == "-1" { "-1" } else { "T" }).collect::<Vec<_>>().join("/");
    format!("{} {} {timers} {} BYTES {}", words[2], words[3], words[5], words[7..].join(" "))
}

/// HAProxy 2.6 answers 413 to an HTTP/1.0 GET, HEAD or DELETE request announcing a
/// payload (Content-Length above 0, or chunked), logs it as a bad request, and the
/// server sees nothing; HTTP/1.1, other methods and an empty payload pass, and so does
/// everything with the global `h1-accept-payload-with-any-method`.
#[test]
fn http10_payload_on_get_head_delete_is_refused_as_haproxy_does() {
    let refused: [&[u8]; 4] = [
        b"GET / HTTP/1.0\r\nContent-Length: 4\r\n\r\nabcd",
        b"HEAD / HTTP/1.0\r\nContent-Length: 4\r\n\r\nabcd",
        b"DELETE / HTTP/1.0\r\nContent-Length: 4\r\n\r\nabcd",
        b"GET / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\n0\r\n\r\n",
    ];
    let passed: [&[u8]; 4] = [
        b"GET / HTTP/1.0\r\nContent-Length: 0\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\n\r\nabcd",
        b"POST / HTTP/1.0\r\nContent-Length: 4\r\n\r\nabcd",
        b"OPTIONS / HTTP/1.0\r\nContent-Length: 4\r\n\r\nabcd",
    ];
    let mut lines = Vec::new();
    for bin in moonproxy_and_haproxy() {
        let who = bin.display();
        let backend = server(Seen::default());
        let proxy = start_logged(&bin, &backend, "");
        let mut ours = Vec::new();
        for request in refused {
            let mark = proxy.mark();
            let (head, body, closed) = exchange(&proxy, request);
            assert_eq!(status(&head), 413, "{who}: {:?}", String::from_utf8_lossy(request));
            assert!(body.contains("413 Payload Too Large"), "{who}: {body}");
            assert!(closed, "{who}");
            ours.push(log_tail(&proxy.wait_for_line_after(mark, |l| l.contains(" 413 "), DEADLINE)));
        }
        assert_eq!(backend.stats().requests(), 0, "{who}: the server saw a refused request");
        for request in passed {
            let (head, _, _) = exchange(&proxy, request);
            assert_eq!(status(&head), 200, "{who}: {:?}", String::from_utf8_lossy(request));
        }
        assert_eq!(backend.stats().requests(), passed.len() as u64, "{who}");
        lines.push(ours);

        let backend = server(Seen::default());
        let proxy = start_logged(&bin, &backend, "h1-accept-payload-with-any-method");
        let (head, _, _) = exchange(&proxy, refused[0]);
        assert_eq!(status(&head), 200, "{who}: with h1-accept-payload-with-any-method");
        assert_eq!(backend.stats().requests(), 1, "{who}");
    }
    for line in &lines[0] {
        assert_eq!(line, "l l/<NOSRV> -1/-1/-1/-1/T 413 BYTES - - PR-- 1/1/0/0/0 0/0 \"<BADREQ>\"");
    }
    if lines.len() == 2 {
        // The connection counts aside: on a loaded machine HAProxy may log a refusal
        // before it has closed the previous connection (`2/2/0/0/0`).
        let [ours, theirs] = [&lines[0], &lines[1]].map(|l| l.iter().map(|l| without_conn_counts(l)).collect::<Vec<_>>());
        assert_eq!(ours, theirs, "moonproxy (left) and HAProxy (right) log the refusals differently");
    }
}

/// A log tail with its `actconn/feconn/beconn/srv_conn/retries` field (the ninth) masked.
fn without_conn_counts(line: &str) -> String {
    let mut fields: Vec<&str> = line.split(' ').collect();
    if let Some(f) = fields.get_mut(8) {
        *f = "*";
    }
    fields.join(" ")
}
