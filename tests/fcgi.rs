//! FastCGI servers (`fcgi-app`, `use-fcgi-app`, `proto fcgi`): a small FastCGI
//! application written here records the records it gets (BEGIN_REQUEST flags, PARAMS,
//! STDIN, which connection) and answers a CGI response with a STDERR line. The same
//! client sequence runs through moonproxy and, when installed, HAProxy 2.6; the
//! parameters and the responses the client sees are compared.

mod common;

use common::*;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One request as the application received it.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Seen {
    /// The connection it came on (from 1).
    conn: u64,
    /// BEGIN_REQUEST's flags (1: FCGI_KEEP_CONN).
    flags: u8,
    params: Vec<(String, String)>,
    stdin: Vec<u8>,
}

impl Seen {
    fn param(&self, name: &str) -> Option<&str> {
        self.params.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

/// How the application answers.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Answer {
    /// `Content-Type`, `X-App`, "hello <stdin>" in two STDOUT records, a STDERR line.
    Normal,
    /// `Status: 404 Not Found` with a `Content-Length`.
    NotFound,
    /// `Location:` alone.
    Redirect,
    /// Bytes that are not FastCGI.
    Garbage,
    /// Half a CGI head, then the connection closes. (A connection closed in the middle
    /// of a body whose head went to the client already ends the client's connection
    /// too, `SD`, as in HAProxy.)
    Truncated,
}

fn record(t: u8, id: [u8; 2], content: &[u8]) -> Vec<u8> {
    let pad = (8 - content.len() % 8) % 8;
    let mut out = vec![1, t, id[0], id[1], (content.len() >> 8) as u8, content.len() as u8, pad as u8, 0];
    out.extend_from_slice(content);
    out.extend(std::iter::repeat_n(0, pad));
    out
}

fn pairs(mut b: &[u8]) -> Vec<(String, String)> {
    fn len(b: &mut &[u8]) -> usize {
        if b[0] < 128 {
            let n = b[0] as usize;
            *b = &b[1..];
            n
        } else {
            let n = u32::from_be_bytes([b[0] & 0x7f, b[1], b[2], b[3]]) as usize;
            *b = &b[4..];
            n
        }
    }
    let mut out = Vec::new();
    while !b.is_empty() {
        let (n, v) = (len(&mut b), len(&mut b));
        out.push((String::from_utf8_lossy(&b[..n]).into_owned(), String::from_utf8_lossy(&b[n..n + v]).into_owned()));
        b = &b[n + v..];
    }
    out
}

struct App {
    backend: Backend,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl App {
    fn start(answer: Answer) -> App {
        let next = Arc::new(AtomicU64::new(1));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&seen);
        let backend = Backend::custom(move |mut s: TcpStream, _| {
            let conn = next.fetch_add(1, Ordering::SeqCst);
            let mut cur = Seen { conn, flags: 0, params: Vec::new(), stdin: Vec::new() };
            let mut raw_params = Vec::new();
            // The request id BEGIN_REQUEST gave, echoed in the answer's records.
            let mut id = [0u8, 1];
            loop {
                let mut h = [0u8; 8];
                if s.read_exact(&mut h).is_err() {
                    return;
                }
                let len = u16::from_be_bytes([h[4], h[5]]) as usize;
                let mut content = vec![0u8; len + h[6] as usize];
                if s.read_exact(&mut content).is_err() {
                    return;
                }
                content.truncate(len);
                match h[1] {
                    1 => {
                        cur.flags = content[2];
                        id = [h[2], h[3]];
                    }
                    4 => raw_params.extend_from_slice(&content),
                    5 if !content.is_empty() => cur.stdin.extend_from_slice(&content),
                    5 => {
                        cur.params = pairs(&std::mem::take(&mut raw_params));
                        let keep = cur.flags & 1 == 1;
                        let done = std::mem::replace(&mut cur, Seen { conn, flags: 0, params: Vec::new(), stdin: Vec::new() });
                        // No body for HEAD, as PHP does (HAProxy 2.6 answers 502 to a HEAD
                        // response with one; moonproxy drops it: see doc/http.md).
                        let body = if done.param("REQUEST_METHOD") == Some("HEAD") { Vec::new() } else { [b"hello ".as_slice(), &done.stdin].concat() };
                        log.lock().unwrap().push(done);
                        let mut out = Vec::new();
                        match answer {
                            Answer::Normal => {
                                out.extend(record(7, id, b"warning from the app\n"));
                                out.extend(record(6, id, b"Content-Type: text/plain\r\nX-App: yes\r\n"));
                                out.extend(record(6, id, b"\r\n"));
                                for part in body.chunks(65535) {
                                    out.extend(record(6, id, part));
                                }
                            }
                            Answer::NotFound => out.extend(record(6, id, b"Status: 404 Not Found\nContent-Length: 4\n\nnope")),
                            Answer::Redirect => out.extend(record(6, id, b"Location: /elsewhere\r\n\r\n")),
                            Answer::Garbage => {
                                let _ = s.write_all(b"\x07garbage, not records");
                                continue;
                            }
                            Answer::Truncated => {
                                let _ = s.write_all(&record(6, id, b"Content-Type: text/plain\r\nX-"));
                                return;
                            }
                        }
                        out.extend(record(6, id, b""));
                        out.extend(record(3, id, &[0; 8]));
                        if s.write_all(&out).is_err() || !keep {
                            return;
                        }
                    }
                    _ => {}
                }
            }
        });
        App { backend, seen }
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

fn config(app_lines: &str) -> String {
    format!(
        "global
            log stdout format raw local0
        defaults
            mode http
            log global
            option httplog
            timeout connect 5s
            timeout client 5s
            timeout server 5s
        fcgi-app php
            log-stderr global
            docroot /var/www/html
            index index.php
            path-info ^(/.+\\.php)(/.*)?$
            set-param REDIRECT_STATUS 200
            set-param FROM_HDR %[req.hdr(x-fwd)]
            set-param ONLY_DIR yes if {{ path_beg /dir }}
            set-param HTTPS on if {{ ssl_fc }}
            pass-header Authorization
{app_lines}
        frontend fe
            bind 127.0.0.1:{{{{fe}}}}
            default_backend be
        backend be
            use-fcgi-app php
            http-request set-header X-Docroot %[fcgi.docroot]
            http-request set-header X-Index %[fcgi.index]
            server fpm 127.0.0.1:{{{{be}}}} proto fcgi"
    )
}

/// What the client saw of one response: status, the application's headers, the body.
type Seen2 = (u16, Option<String>, Option<String>, Vec<u8>);

const REQUESTS: &[&str] = &[
    "GET /app/page.php/extra/path?x=1 HTTP/1.1\r\nHost: test\r\nAuthorization: Basic eDp5\r\nProxy-Authorization: secret\r\nX-Fwd: forwarded\r\n\r\n",
    "POST /form.php HTTP/1.1\r\nHost: test\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 7\r\n\r\na=1&b=2",
    "POST /upload.php HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nxy\r\n1\r\nz\r\n0\r\n\r\n",
    "GET /dir/ HTTP/1.1\r\nHost: test\r\n\r\n",
    "HEAD /app/page.php HTTP/1.1\r\nHost: test\r\n\r\n",
];

/// Runs [`REQUESTS`] on one client connection through `bin`: the requests the
/// application saw (ports and the proxy's name taken out) and the responses.
fn exchange(bin: &std::path::Path, app_lines: &str) -> (Vec<Seen>, Vec<Seen2>) {
    exchange_on(bin, &config(app_lines))
}

/// [`exchange`] on a whole configuration (`{{be}}`: the application's port).
fn exchange_on(bin: &std::path::Path, config: &str) -> (Vec<Seen>, Vec<Seen2>) {
    let app = App::start(Answer::Normal);
    let proxy = ProxyBuilder::new(config).bin(bin).port("be", app.backend.port()).start();
    let mut client = proxy.connect("fe");
    let mut responses = Vec::new();
    for req in REQUESTS {
        let res = if req.starts_with("HEAD") {
            client.send(req.as_bytes());
            let head = client.recv_until(b"\r\n\r\n");
            let text = String::from_utf8_lossy(&head).to_string();
            let status = text.split(' ').nth(1).unwrap().parse().unwrap();
            (status, None, None, Vec::new())
        } else {
            let r = client.http_request(req.as_bytes());
            (r.status, r.header("content-type").map(str::to_string), r.header("x-app").map(str::to_string), r.body)
        };
        responses.push(res);
    }
    proxy.wait_for_line(|l| l.contains("warning from the app"), Duration::from_secs(5));
    let fe = proxy.port("fe").to_string();
    let seen = app
        .seen()
        .into_iter()
        .map(|mut s| {
            s.params.retain(|(n, _)| !matches!(n.as_str(), "REMOTE_PORT" | "SERVER_SOFTWARE"));
            for (_, v) in &mut s.params {
                *v = v.replace(&fe, "FE");
            }
            s
        })
        .collect();
    (seen, responses)
}

fn params(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect()
}

#[test]
fn params_and_responses_match_haproxy() {
    let (seen, responses) = exchange(&moonproxy_bin(), "            option keep-conn");
    assert_eq!(seen.len(), REQUESTS.len());
    // GET with path-info, pass-header, set-param from a header; Proxy-Authorization hidden.
    assert_eq!(
        seen[0].params,
        params(&[
            ("HTTP_HOST", "test"),
            ("HTTP_AUTHORIZATION", "Basic eDp5"),
            ("HTTP_X_FWD", "forwarded"),
            ("HTTP_X_DOCROOT", "/var/www/html"),
            ("HTTP_X_INDEX", "index.php"),
            // Basic credentials, and the `set-param` values last declared first.
            ("AUTH_TYPE", "Basic"),
            ("FROM_HDR", "forwarded"),
            ("REDIRECT_STATUS", "200"),
            ("REMOTE_USER", "x"),
            ("GATEWAY_INTERFACE", "CGI/1.1"),
            ("DOCUMENT_ROOT", "/var/www/html"),
            ("SCRIPT_NAME", "/app/page.php"),
            ("PATH_INFO", "/extra/path"),
            ("REQUEST_URI", "/app/page.php/extra/path?x=1"),
            ("REQUEST_METHOD", "GET"),
            ("QUERY_STRING", "x=1"),
            ("SERVER_NAME", "test"),
            ("SERVER_PORT", "FE"),
            ("SERVER_PROTOCOL", "HTTP/1.1"),
            ("REMOTE_ADDR", "127.0.0.1"),
            ("SCRIPT_FILENAME", "/var/www/html/app/page.php"),
            ("PATH_TRANSLATED", "/var/www/html/extra/path"),
            ("CONTENT_LENGTH", "0"),
        ])
    );
    assert_eq!(seen[0].stdin, b"");
    // POST: the length and type in place of their headers, the body as STDIN.
    assert_eq!((seen[1].param("CONTENT_LENGTH"), seen[1].param("CONTENT_TYPE")), (Some("7"), Some("application/x-www-form-urlencoded")));
    assert_eq!(seen[1].stdin, b"a=1&b=2");
    // Chunked: de-chunked, and its length once whole.
    assert_eq!((seen[2].param("CONTENT_LENGTH"), seen[2].stdin.as_slice()), (Some("3"), &b"xyz"[..]));
    // A trailing slash gets the index; a conditional set-param.
    assert_eq!((seen[3].param("SCRIPT_NAME"), seen[3].param("SCRIPT_FILENAME")), (Some("/dir/index.php"), Some("/var/www/html/dir/index.php")));
    assert_eq!((seen[3].param("ONLY_DIR"), seen[0].param("ONLY_DIR"), seen[0].param("HTTPS")), (Some("yes"), None, None));
    // Keep-conn: one server connection for the whole client connection.
    assert!(seen.iter().all(|s| s.conn == 1 && s.flags == 1), "{seen:?}");
    let ok = |body: &str| (200, Some("text/plain".to_string()), Some("yes".to_string()), body.as_bytes().to_vec());
    assert_eq!(responses, vec![ok("hello "), ok("hello a=1&b=2"), ok("hello xyz"), ok("hello "), (200, None, None, Vec::new())]);
    match haproxy_bin() {
        Some(h) => {
            // HAProxy 2.6 opens a new connection after the chunked request (moonproxy
            // keeps the one it has): the connection numbers are not compared.
            let anon = |v: Vec<Seen>| v.into_iter().map(|s| Seen { conn: 0, ..s }).collect::<Vec<_>>();
            let (theirs, their_responses) = exchange(&h, "            option keep-conn");
            assert_eq!(anon(theirs), anon(seen), "HAProxy (left) vs moonproxy");
            assert_eq!(their_responses, responses, "HAProxy (left) vs moonproxy");
        }
        None => assert!(std::env::var_os("CI").is_none(), "CI must install haproxy (see .ci/run)"),
    }
}

/// `filter fcgi-app <name>`, the filter `use-fcgi-app` implies written out (a surveyed
/// configuration uses it): the application sees and answers the same, through moonproxy
/// as through HAProxy 2.6.
#[test]
fn filter_fcgi_app_serves_as_use_fcgi_app() {
    let as_filter = config("            option keep-conn").replace("use-fcgi-app php", "filter fcgi-app php");
    assert!(as_filter.contains("filter fcgi-app php") && !as_filter.contains("use-fcgi-app"));
    let (seen, responses) = exchange_on(&moonproxy_bin(), &as_filter);
    assert_eq!((seen.clone(), responses.clone()), exchange(&moonproxy_bin(), "            option keep-conn"));
    if let Some(h) = haproxy_bin() {
        let anon = |v: Vec<Seen>| v.into_iter().map(|s| Seen { conn: 0, ..s }).collect::<Vec<_>>();
        let (theirs, their_responses) = exchange_on(&h, &as_filter);
        assert_eq!((anon(theirs), their_responses), (anon(seen), responses), "HAProxy (left) vs moonproxy");
    }
}

/// `no option keep-conn`: BEGIN_REQUEST without FCGI_KEEP_CONN, the application closes,
/// and the next request of the same client goes on a new connection.
#[test]
fn without_keep_conn_each_request_has_its_connection() {
    let (seen, responses) = exchange(&moonproxy_bin(), "            no option keep-conn");
    assert!(responses.iter().all(|r| r.0 == 200), "{responses:?}");
    let ours: Vec<_> = seen.iter().map(|s| (s.conn, s.flags)).collect();
    assert_eq!(ours, vec![(1, 0), (2, 0), (3, 0), (4, 0), (5, 0)]);
    if let Some(h) = haproxy_bin() {
        let (theirs, their_responses) = exchange(&h, "            no option keep-conn");
        assert_eq!(theirs.iter().map(|s| (s.conn, s.flags)).collect::<Vec<_>>(), ours, "HAProxy (left) vs moonproxy");
        assert_eq!(their_responses, responses, "HAProxy (left) vs moonproxy");
    }
}

fn one_request(bin: &std::path::Path, answer: Answer) -> (HttpResponse, Proxy) {
    let app = App::start(answer);
    let proxy = ProxyBuilder::new(&config(""))
        .bin(bin)
        .port("be", app.backend.port())
        .start();
    let mut client = proxy.connect("fe");
    let res = client.http_get("/x.php");
    (res, proxy)
}

/// `Status:` and `Location:` from the CGI head, as HAProxy turns them into a status line.
#[test]
fn cgi_status_and_location_become_the_status_line() {
    for (answer, status, body) in [(Answer::NotFound, 404, &b"nope"[..]), (Answer::Redirect, 302, b"")] {
        let (res, _proxy) = one_request(&moonproxy_bin(), answer);
        assert_eq!((res.status, res.body.as_slice()), (status, body));
        if answer == Answer::Redirect {
            assert_eq!(res.header("location"), Some("/elsewhere"));
            assert!(res.head.starts_with("HTTP/1.1 302 Moved Temporarily"), "{}", res.head);
        }
        if let Some(h) = haproxy_bin() {
            let (theirs, _p) = one_request(&h, answer);
            assert_eq!((theirs.status, theirs.body), (res.status, res.body), "HAProxy (left) vs moonproxy");
        }
    }
}

/// STDERR records go to `log-stderr` targets, one message per record.
#[test]
fn stderr_is_logged_to_the_log_stderr_targets() {
    let (res, proxy) = one_request(&moonproxy_bin(), Answer::Normal);
    assert_eq!(res.status, 200);
    let line = proxy.wait_for_line(|l| l.contains("warning from the app"), Duration::from_secs(5));
    assert_eq!(line.trim_end(), "warning from the app");
}

/// An application that sends what is not FastCGI, or closes in the middle of its
/// response, gets a 502 at once and a log line naming the server (HAProxy 2.6 waits
/// for `timeout server` on the first and answers 504).
#[test]
fn broken_applications_get_a_502_and_a_log_line() {
    for answer in [Answer::Garbage, Answer::Truncated] {
        let (res, proxy) = one_request(&moonproxy_bin(), answer);
        assert_eq!(res.status, 502, "{}", if answer == Answer::Garbage { "garbage" } else { "truncated" });
        let line = proxy.wait_for_line(|l| l.contains("GET /x.php"), Duration::from_secs(5));
        assert!(line.contains(" be/fpm ") && line.contains(" 502 ") && line.contains(" SH-- "), "{line}");
        let warning = proxy.wait_for_line(|l| l.contains("[WARNING]") && l.contains("FastCGI server be/fpm"), Duration::from_secs(5));
        let why = if answer == Answer::Garbage { "unsupported FastCGI version 7" } else { "closed the connection before the end of its response" };
        assert!(warning.contains(why), "{warning}");
    }
}

/// Configuration errors, as HAProxy words them.
#[test]
fn configuration_errors_read_as_haproxys() {
    let base = "defaults\n mode http\n timeout client 1s\n timeout server 1s\n timeout connect 1s\n";
    for (text, want) in [
        ("fcgi-app\n", "parsing [CFG:6]: 'fcgi-app' expects <name> as argument."),
        ("fcgi-app a\n docroot\n", "parsing [CFG:7] : 'docroot' expects <path> as argument."),
        ("fcgi-app a\n docroot /x\n option max-reqs 0\n", "parsing [CFG:8]: option 'max-reqs' expects a strictly positive integer argument."),
        ("fcgi-app a\n docroot /x\n pass-header\n", "parsing [CFG:8] : 'pass-header' expects <name> as arguments."),
        ("fcgi-app a\n docroot /x\n log-stderr 127.0.0.1:514\n", "parsing [CFG:8] : log-stderr : expects <address> and <facility> or global as arguments"),
        ("fcgi-app a\n docroot /x\n set-param X y if { nope }\n", "parsing [CFG:8] : 'X' : unknown fetch method 'nope' in ACL expression 'nope'."),
        ("fcgi-app a\n docroot /x\n colour blue\n", "parsing [CFG:8]: unknown keyword 'colour' in 'fcgi-app' section"),
        ("fcgi-app a\n index i\n", "fcgi-app 'a': no docroot configured."),
        ("fcgi-app a\n docroot /x\nbackend b\n use-fcgi-app a\n server s 127.0.0.1:1\n", "proxy 'b': FCGI app configured but no FCGI server found."),
        ("backend b\n server s 127.0.0.1:1 proto fcgi\n", "proxy 'b': FCGI server 's' has no FCGI app configured."),
        ("backend b\n use-fcgi-app zz\n server s 127.0.0.1:1 proto fcgi\n", "proxy 'b' : fcgi-app 'zz' not found."),
        ("fcgi-app a\n docroot /x\nfrontend f\n use-fcgi-app a\n", "parsing [CFG:9] : 'use-fcgi-app' only available in backend or listen section"),
        ("fcgi-app a\n docroot /x\nbackend b\n filter fcgi-app\n server s 127.0.0.1:1 proto fcgi\n", "parsing [CFG:9] : 'filter' : 'fcgi-app : expects a <name> argument'"),
        ("fcgi-app a\n docroot /x\nbackend b\n filter fcgi-app a b\n server s 127.0.0.1:1 proto fcgi\n", "parsing [CFG:9] : 'filter fcgi-app' : unknown keyword 'b'."),
        ("fcgi-app a\n docroot /x\nfrontend f\n bind 127.0.0.1:1\n filter fcgi-app a\n", "proxy 'f': FCGI app configured but no FCGI server found."),
        ("backend b\n filter fcgi-app zz\n server s 127.0.0.1:1 proto fcgi\n", "proxy 'b' : fcgi-app 'zz' not found."),
        ("backend b\n server s 127.0.0.1:1 proto h3\n", "'server b/s' : 'proto' :  unknown MUX protocol 'h3'."),
    ] {
        let mut bins = vec![moonproxy_bin()];
        bins.extend(haproxy_bin());
        for bin in bins {
            let out = ProxyBuilder::new(&format!("{base}{text}")).bin(&bin).flags(["-c"]).run();
            assert_ne!(out.code(), Some(0), "{bin:?}: {text}");
            let want = want.replace("CFG", out.stderr.split("parsing [").nth(1).and_then(|s| s.split(':').next()).unwrap_or("?"));
            assert!(out.stderr.contains(&want), "{bin:?}: {text}\nwanted: {want}\ngot: {}", out.stderr);
        }
    }
}

/// A body larger than the buffers, both ways: the request streams as STDIN records, the
/// response (longer than one record) comes back whole.
#[test]
fn large_bodies_stream_both_ways() {
    let app = App::start(Answer::Normal);
    let proxy = ProxyBuilder::new(&config("")).port("be", app.backend.port()).start();
    let body: Vec<u8> = (0..300_000u32).map(|i| b'a' + (i % 26) as u8).collect();
    let mut client = proxy.connect("fe");
    let head = format!("POST /big.php HTTP/1.1\r\nHost: test\r\nContent-Length: {}\r\n\r\n", body.len());
    let res = client.http_request(&[head.as_bytes(), &body].concat());
    assert_eq!(res.status, 200);
    assert_eq!(res.body.len(), body.len() + 6);
    assert!(res.body[6..] == body[..], "the body came back changed");
    let seen = app.seen();
    assert_eq!((seen[0].param("CONTENT_LENGTH"), seen[0].stdin.len()), (Some("300000"), body.len()));
    // A chunked one longer than what is held for CONTENT_LENGTH goes without it.
    let mut chunked = b"POST /big.php HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    for part in body.chunks(10_000) {
        chunked.extend_from_slice(format!("{:x}\r\n", part.len()).as_bytes());
        chunked.extend_from_slice(part);
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    let res = client.http_request(&chunked);
    assert_eq!((res.status, res.body.len()), (200, body.len() + 6));
    let seen = app.seen();
    assert_eq!((seen[1].param("CONTENT_LENGTH"), seen[1].stdin.len()), (None, body.len()));
}
