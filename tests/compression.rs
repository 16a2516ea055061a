//! HTTP response compression (`compression algo|type|offload`, `filter compression`,
//! `res.comp`, `res.comp_algo`) through the real binary, with a backend written here.
//! The last test runs the same configuration on HAProxy 2.6 and compares the response
//! heads; every other test states what HAProxy does, checked against it by hand.

mod common;

use common::*;
use std::io::{Read, Write};
use std::net::TcpStream;

const CONFIG: &str = "global
    tune.comp.maxlevel 1
    maxcomprate 0
    maxcompcpuusage 100
defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
listen gz
    bind 127.0.0.1:{{gz}}
    compression algo gzip deflate
    filter compression
    http-response set-header X-R %[res.comp]/%[res.comp_algo]
    http-after-response set-header X-A %[res.comp]/%[res.comp_algo]
    server s 127.0.0.1:{{app}}
listen typed
    bind 127.0.0.1:{{typed}}
    compression algo raw-deflate
    compression algo gzip
    compression type text/html application/json
    compression offload
    server s 127.0.0.1:{{app}}
listen ident
    bind 127.0.0.1:{{ident}}
    compression algo identity deflate
    server s 127.0.0.1:{{app}}
listen wfb
    bind 127.0.0.1:{{wfb}}
    compression algo gzip
    http-response wait-for-body time 2s
    http-response set-header X-Body-Len %[res.body_len]
    server s 127.0.0.1:{{app}}
frontend fe
    bind 127.0.0.1:{{fe}}
    compression algo gzip
    compression type text/plain
    http-after-response set-header X-A %[res.comp]/%[res.comp_algo]
    default_backend be
backend be
    compression algo deflate
    server s 127.0.0.1:{{app}}
";

/// Text that compresses well: `len` bytes of numbered lines.
fn text(len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 32);
    let mut i = 0;
    while out.len() < len {
        out.extend_from_slice(format!("line {i} of a text to compress\n").as_bytes());
        i += 1;
    }
    out.truncate(len);
    out
}

/// The application server. Each request says what it wants in its headers:
/// `X-Len` body bytes (default 3000) of [`text`]; `X-Status`; `X-Framing: cl` (default),
/// `chunked` (chunks of 10 000 bytes and a trailer) or `close`; `X-Ct` the
/// Content-Type (default `text/html`, `none` for none); each `X-Res: Name: value`
/// becomes a response header. Every response says what `Accept-Encoding` the server
/// received (`X-Seen-AE`, `-` for none).
fn app() -> Backend {
    Backend::custom(|s: TcpStream, stats| {
        let mut r = HttpReader::new(s);
        while let Ok(Some(head)) = r.read_head() {
            if r.read_body(&head, false, |_| {}).is_err() {
                return;
            }
            stats.add_request();
            let h = |n: &str| head.header(n).map(str::to_string);
            let status: u16 = h("x-status").and_then(|s| s.parse().ok()).unwrap_or(200);
            let len: usize = h("x-len").and_then(|s| s.parse().ok()).unwrap_or(3000);
            let framing = h("x-framing").unwrap_or_else(|| "cl".into());
            let head_only = head.line.starts_with("HEAD ") || status == 204 || status == 304;
            let ae: Vec<&str> = head.headers.iter().filter(|(k, _)| k == "accept-encoding").map(|(_, v)| v.as_str()).collect();
            let mut out = format!("HTTP/1.1 {status} X\r\n");
            match h("x-ct").as_deref() {
                Some("none") => {}
                Some(ct) => out.push_str(&format!("Content-Type: {ct}\r\n")),
                None => out.push_str("Content-Type: text/html\r\n"),
            }
            for (k, v) in &head.headers {
                if k == "x-res" {
                    out.push_str(v);
                    out.push_str("\r\n");
                }
            }
            out.push_str(&format!("X-Seen-AE: {}\r\n", if ae.is_empty() { "-".to_string() } else { ae.join("; ") }));
            let body = text(len);
            let mut wire = Vec::new();
            match framing.as_str() {
                "chunked" => {
                    out.push_str("Transfer-Encoding: chunked\r\n\r\n");
                    wire.extend_from_slice(out.as_bytes());
                    if !head_only {
                        for part in body.chunks(10_000) {
                            wire.extend_from_slice(format!("{:x}\r\n", part.len()).as_bytes());
                            wire.extend_from_slice(part);
                            wire.extend_from_slice(b"\r\n");
                        }
                        wire.extend_from_slice(b"0\r\nX-Trailer: t\r\n\r\n");
                    }
                }
                "close" => {
                    out.push_str("Connection: close\r\n\r\n");
                    wire.extend_from_slice(out.as_bytes());
                    wire.extend_from_slice(&body);
                    let _ = r.get_mut().write_all(&wire);
                    return;
                }
                _ => {
                    if status != 204 && status != 304 {
                        out.push_str(&format!("Content-Length: {len}\r\n"));
                    }
                    out.push_str("\r\n");
                    wire.extend_from_slice(out.as_bytes());
                    if !head_only {
                        wire.extend_from_slice(&body);
                    }
                }
            }
            if r.get_mut().write_all(&wire).is_err() {
                return;
            }
        }
    })
}

fn start(bin: &std::path::Path, app: &Backend) -> Proxy {
    ProxyBuilder::new(CONFIG).bin(bin).port("app", app.port()).start()
}

/// One request on a fresh connection: `GET /` with `headers` (`HTTP/1.1` unless the
/// first is `HTTP/1.0`, `HEAD` if one is `HEAD`).
fn get(proxy: &Proxy, listen: &str, headers: &[&str]) -> HttpResponse {
    let mut c = proxy.connect(listen);
    if !headers.contains(&"HEAD") {
        return c.http_request(&request(headers));
    }
    c.http_head_request(&request(headers))
}

fn request(headers: &[&str]) -> Vec<u8> {
    let version = if headers.contains(&"HTTP/1.0") { "HTTP/1.0" } else { "HTTP/1.1" };
    let method = if headers.contains(&"HEAD") { "HEAD" } else { "GET" };
    let mut req = format!("{method} / {version}\r\nHost: t\r\n");
    for h in headers.iter().filter(|h| h.contains(':')) {
        req.push_str(h);
        req.push_str("\r\n");
    }
    req.push_str("\r\n");
    req.into_bytes()
}

fn inflate(coding: Option<&str>, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    match coding {
        Some("gzip") => flate2::read::GzDecoder::new(data).read_to_end(&mut out),
        // raw-deflate also says `deflate`: a zlib stream starts with 0x78.
        Some("deflate") if data.first() == Some(&0x78) => flate2::read::ZlibDecoder::new(data).read_to_end(&mut out),
        Some("deflate") => flate2::read::DeflateDecoder::new(data).read_to_end(&mut out),
        None => {
            out.extend_from_slice(data);
            Ok(0)
        }
        Some(other) => panic!("unexpected coding {other}"),
    }
    .unwrap_or_else(|e| panic!("the body does not decode as {coding:?}: {e}"));
    out
}

/// A compressed response: chunked, no length, `Vary`, its coding; the body decodes to
/// the server's.
fn assert_compressed(res: &HttpResponse, coding: &str, len: usize) {
    assert!((200..=203).contains(&res.status), "{}", res.head);
    assert_eq!(res.header("content-encoding"), Some(coding), "{}", res.head);
    assert_eq!(res.header("transfer-encoding"), Some("chunked"), "{}", res.head);
    assert_eq!(res.header("content-length"), None, "{}", res.head);
    assert!(res.headers.iter().any(|(k, v)| k.eq_ignore_ascii_case("vary") && v == "Accept-Encoding"), "{}", res.head);
    assert_eq!(inflate(Some(coding), &res.body), text(len));
}

/// A response left as the server made it.
fn assert_plain(res: &HttpResponse, why: &str) {
    assert_eq!(res.header("content-encoding").filter(|c| *c != "br"), None, "{why}: {}", res.head);
    assert!(!res.headers.iter().any(|(k, v)| k.eq_ignore_ascii_case("vary") && v == "Accept-Encoding"), "{why}: {}", res.head);
}

#[test]
fn compressed_bodies_decode_to_the_original() {
    let app = app();
    let proxy = start(&moonproxy_bin(), &app);
    let small = get(&proxy, "gz", &["Accept-Encoding: gzip"]);
    assert_compressed(&small, "gzip", 3000);
    assert!(small.body.len() < 1000, "3000 bytes of text compress: {}", small.body.len());
    assert_eq!(small.header("x-r"), Some("1/gzip"), "res.comp is known to http-response rules");
    assert_eq!(small.header("x-a"), Some("1/gzip"));
    let mb = 1 << 20;
    let cl = get(&proxy, "gz", &["Accept-Encoding: gzip", &format!("X-Len: {mb}")]);
    assert_compressed(&cl, "gzip", mb);
    let chunked = get(&proxy, "gz", &["Accept-Encoding: gzip", &format!("X-Len: {mb}"), "X-Framing: chunked"]);
    assert_compressed(&chunked, "gzip", mb);
    let deflate = get(&proxy, "gz", &["Accept-Encoding: deflate", "X-Len: 70000", "X-Framing: chunked"]);
    assert_compressed(&deflate, "deflate", 70000);
    assert_eq!(deflate.body.first(), Some(&0x78), "deflate is a zlib stream");
    let raw = get(&proxy, "typed", &["Accept-Encoding: deflate", "X-Len: 70000"]);
    assert_compressed(&raw, "deflate", 70000);
    assert_ne!(raw.body.first(), Some(&0x78), "raw-deflate has no zlib header");
    // An empty chunked body is compressed too (an empty gzip stream), as HAProxy does.
    let empty = get(&proxy, "gz", &["Accept-Encoding: gzip", "X-Len: 0", "X-Framing: chunked"]);
    assert_compressed(&empty, "gzip", 0);
    // identity: no coding, but chunked and `Vary`, as HAProxy sends it.
    let id = get(&proxy, "ident", &["Accept-Encoding: br"]);
    assert_eq!((id.header("content-encoding"), id.header("transfer-encoding")), (None, Some("chunked")), "{}", id.head);
    assert_eq!(id.body, text(3000));
}

/// `http-response wait-for-body` keeps the body in the buffer for the rules (which see
/// it as the server sent it); it is compressed on its way out.
#[test]
fn a_body_waited_for_by_rules_is_compressed_after_them() {
    let app = app();
    let proxy = start(&moonproxy_bin(), &app);
    for framing in ["cl", "chunked"] {
        let res = get(&proxy, "wfb", &["Accept-Encoding: gzip", "X-Len: 9000", &format!("X-Framing: {framing}")]);
        assert_eq!(res.header("x-body-len"), Some("9000"), "{framing}");
        assert_compressed(&res, "gzip", 9000);
    }
}

#[test]
fn trailers_follow_the_compressed_body() {
    let app = app();
    let proxy = start(&moonproxy_bin(), &app);
    let mut c = proxy.connect("gz");
    c.send(&request(&["Accept-Encoding: gzip", "X-Framing: chunked", "X-Len: 25000"]));
    let wire = c.recv_until(b"0\r\nX-Trailer: t\r\n\r\n");
    assert!(wire.ends_with(b"\r\n0\r\nX-Trailer: t\r\n\r\n"));
}

#[test]
fn accept_encoding_negotiation() {
    let app = app();
    let proxy = start(&moonproxy_bin(), &app);
    // `compression algo gzip deflate`; what HAProxy 2.6 answers to each.
    for (accept, coding) in [
        ("gzip", Some("gzip")),
        ("deflate, gzip", Some("deflate")),
        ("gzip, deflate", Some("gzip")),
        ("*", Some("deflate")),
        ("gzip;q=0", None),
        ("gzip;q=0, deflate", Some("deflate")),
        ("deflate;q=0.5, gzip;q=0.6", Some("gzip")),
        ("identity;q=0", None),
        ("br", None),
        ("GZIP", Some("gzip")),
    ] {
        let res = get(&proxy, "gz", &[&format!("Accept-Encoding: {accept}"), "X-Len: 5000"]);
        assert_eq!(res.header("content-encoding"), coding, "{accept}: {}", res.head);
        assert_eq!(inflate(coding, &res.body), text(5000), "{accept}");
    }
    let none = get(&proxy, "gz", &[]);
    assert_plain(&none, "no Accept-Encoding");
    assert_eq!(none.header("x-a"), Some("0/"), "res.comp false, res.comp_algo empty");
    // The backend's algorithms win over the frontend's, the frontend's types apply.
    let be = get(&proxy, "fe", &["Accept-Encoding: gzip, deflate", "X-Ct: text/plain"]);
    assert_eq!(be.header("x-a"), Some("1/deflate"));
    assert_plain(&get(&proxy, "fe", &["Accept-Encoding: deflate"]), "text/html is not in the frontend's types");
    assert_plain(&get(&proxy, "fe", &["Accept-Encoding: gzip", "X-Ct: text/plain"]), "gzip is the frontend's only");
}

#[test]
fn responses_left_alone() {
    let app = app();
    let proxy = start(&moonproxy_bin(), &app);
    let gzip = "Accept-Encoding: gzip";
    for (why, headers) in [
        ("an HTTP/1.0 request", vec!["HTTP/1.0", gzip]),
        ("a 404", vec![gzip, "X-Status: 404"]),
        ("a 206", vec![gzip, "X-Status: 206"]),
        ("Content-Encoding", vec![gzip, "X-Res: Content-Encoding: br"]),
        ("no-transform", vec![gzip, "X-Res: Cache-Control: public, no-transform"]),
        ("multipart", vec![gzip, "X-Ct: multipart/mixed; boundary=x"]),
        ("an empty Content-Length body", vec![gzip, "X-Len: 0"]),
        ("a body read until close", vec![gzip, "X-Framing: close"]),
        ("a malformed ETag", vec![gzip, "X-Res: ETag: abc"]),
        ("two ETags", vec![gzip, "X-Res: ETag: \"a\"", "X-Res: ETag: \"b\""]),
        ("an old Mozilla/4", vec![gzip, "User-Agent: Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.1)"]),
    ] {
        let res = get(&proxy, "gz", &headers);
        assert_plain(&res, why);
        assert_eq!(res.header("x-a"), Some("0/"), "{why}");
        let len = if why.contains("empty") { 0 } else { 3000 };
        assert_eq!(res.body, text(len), "{why}");
    }
    // 200 to 203 are compressed.
    assert_compressed(&get(&proxy, "gz", &[gzip, "X-Status: 201"]), "gzip", 3000);
    // `compression type`: only the listed types (prefixes, any case).
    assert_compressed(&get(&proxy, "typed", &[gzip, "X-Ct: Application/JSON; charset=utf-8"]), "gzip", 3000);
    assert_plain(&get(&proxy, "typed", &[gzip, "X-Ct: image/png"]), "image/png is not listed");
    assert_plain(&get(&proxy, "typed", &[gzip, "X-Ct: none"]), "no Content-Type with a type list");
    // HEAD, 204, 304: no body, no compression, the head as the server sent it.
    let head = get(&proxy, "gz", &["HEAD", gzip]);
    assert_plain(&head, "HEAD");
    assert_eq!(head.header("content-length"), Some("3000"));
    for status in ["204", "304"] {
        let res = get(&proxy, "gz", &[gzip, &format!("X-Status: {status}")]);
        assert_plain(&res, status);
        assert!(res.body.is_empty());
    }
}

#[test]
fn offload_removes_accept_encoding_at_the_backend() {
    let app = app();
    let proxy = start(&moonproxy_bin(), &app);
    let off = get(&proxy, "typed", &["Accept-Encoding: gzip;q=0.5, br"]);
    assert_eq!(off.header("x-seen-ae"), Some("-"), "offload: the server sees no Accept-Encoding");
    assert_compressed(&off, "gzip", 3000);
    // Nothing chosen: the header goes through.
    let kept = get(&proxy, "typed", &["Accept-Encoding: br"]);
    assert_eq!(kept.header("x-seen-ae"), Some("br"));
    // Without offload the server sees it (and could compress by itself).
    let plain = get(&proxy, "gz", &["Accept-Encoding: gzip"]);
    assert_eq!(plain.header("x-seen-ae"), Some("gzip"));
}

#[test]
fn keep_alive_goes_on_after_compressed_responses() {
    let app = app();
    let proxy = start(&moonproxy_bin(), &app);
    let mut c = proxy.connect("gz");
    for (i, headers) in [
        vec!["Accept-Encoding: gzip", "X-Len: 200000"],
        vec!["X-Len: 10"],
        vec!["Accept-Encoding: deflate", "X-Framing: chunked", "X-Len: 30000"],
        vec!["Accept-Encoding: gzip", "X-Len: 7"],
    ]
    .into_iter()
    .enumerate()
    {
        let res = c.http_request(&request(&headers));
        let len: usize = headers.iter().find_map(|h| h.strip_prefix("X-Len: ")).unwrap().parse().unwrap();
        assert_eq!(inflate(res.header("content-encoding"), &res.body), text(len), "request {i}");
        assert_eq!(res.header("connection"), None, "request {i} keeps the connection");
    }
    assert_eq!(app.connections(), 1, "the server connection was reused too");
    assert_eq!(app.stats().requests(), 4);
}

#[test]
fn fetches_in_log_format() {
    let app = app();
    let config = format!(
        "global\n    log stdout format raw local0\n{}",
        CONFIG.replace("listen gz\n", "listen gz\n    log global\n    log-format \"comp=%[res.comp] algo=%[res.comp_algo]\"\n").trim_start_matches("global\n")
    );
    let proxy = ProxyBuilder::new(&config).port("app", app.port()).start();
    let mark = proxy.mark();
    get(&proxy, "gz", &["Accept-Encoding: deflate"]);
    proxy.wait_for_line_after(mark, |l| l.contains("comp=1 algo=deflate"), DEADLINE);
    let mark = proxy.mark();
    get(&proxy, "gz", &[]);
    proxy.wait_for_line_after(mark, |l| l.contains("comp=0 algo=-"), DEADLINE);
}

#[test]
fn configuration_keywords() {
    let check = |extra: &str| {
        let cfg = format!("global\n    tune.comp.maxlevel 9\n    maxzlibmem 10\n    tune.zlib.memlevel 8\n    tune.zlib.windowsize 15\ndefaults\n    mode http\n{extra}");
        ProxyBuilder::new(&cfg).flags(["-c"]).run()
    };
    let ok = check("    compression offload\nfrontend f\n    bind 127.0.0.1:0\n    compression algo gzip\n    compression offload\n    filter compression\n");
    assert_eq!(ok.code(), Some(0), "{}", ok.stderr);
    assert!(ok.stderr.contains("'compression' : 'offload' ignored in 'defaults' section."), "{}", ok.stderr);
    for (line, message) in [
        ("compression algo brotli", "'compression' : 'brotli' is not a supported algorithm."),
        ("compression algo", "'compression' expects <algorithm>."),
        ("compression type", "'compression' expects <type>."),
        ("compression bogus", "'compression' expects 'algo', 'type' or 'offload'"),
        // HAProxy 2.6 has no bandwidth-limiting filter (2.7 added it).
        ("filter bwlim-in", "'filter' : unknown keyword 'bwlim-in'."),
    ] {
        let out = check(&format!("frontend f\n    bind 127.0.0.1:0\n    {line}\n"));
        assert_eq!(out.code(), Some(1), "{line}");
        assert!(out.stderr.contains(message), "{line}: {}", out.stderr);
    }
    let level = ProxyBuilder::new("global\n    tune.comp.maxlevel 10\n").flags(["-c"]).run();
    assert!(level.stderr.contains("'tune.comp.maxlevel' expects a numeric value between 1 and 9"), "{}", level.stderr);
}

/// The response heads of moonproxy and HAProxy 2.6 for the same requests on the same
/// configuration: the same header lines in the same order (names compared without case:
/// HAProxy writes them in lower case) and bodies that decode to the same bytes.
#[test]
fn heads_match_haproxy() {
    let cases: &[&[&str]] = &[
        &["Accept-Encoding: gzip"],
        &["Accept-Encoding: gzip", "X-Framing: chunked"],
        &["Accept-Encoding: gzip", "X-Res: ETag: \"v1\"", "X-Res: Vary: Cookie"],
        &["Accept-Encoding: gzip", "X-Res: ETag: W/\"v1\""],
        &["Accept-Encoding: deflate", "X-Status: 203"],
        &["Accept-Encoding: *"],
        &["Accept-Encoding: gzip", "X-Status: 404"],
        &["Accept-Encoding: gzip", "X-Len: 0"],
        &["Accept-Encoding: gzip", "X-Res: Cache-Control: no-transform"],
        &["Accept-Encoding: br"],
        &["HEAD", "Accept-Encoding: gzip"],
        &["Accept-Encoding: gzip", "X-Len: 1"],
        &["Accept-Encoding: gzip", "X-Ct: TEXT/HTML; charset=utf-8"],
        &["Accept-Encoding: gzip", "X-Ct: none"],
    ];
    let app = app();
    let mut runs = Vec::new();
    for bin in moonproxy_and_haproxy() {
        let proxy = start(&bin, &app);
        let mut seen = Vec::new();
        for listen in ["gz", "typed", "ident"] {
            for case in cases {
                let res = get(&proxy, listen, case);
                let coding = res.header("content-encoding").filter(|c| *c != "br");
                let body = if case.contains(&"HEAD") { Vec::new() } else { inflate(coding, &res.body) };
                // Compared by length and hash: a difference is reported short.
                let body = (body.len(), std::hash::BuildHasher::hash_one(&std::hash::BuildHasherDefault::<std::collections::hash_map::DefaultHasher>::default(), &body));
                let lines = res.header_lines();
                seen.push((format!("{listen} {case:?}"), res.status, lines, body));
            }
        }
        runs.push((bin, seen));
    }
    assert_runs_agree(&runs);
}

/// A client that does not read for a while, then reads slowly enough: the proxy takes
/// the server's bytes no faster than the client takes the compressed ones, so its
/// memory stays bounded whatever the size of the body (incompressible here, the worst
/// case), and what the client decodes is every byte the server sent.
#[test]
fn a_lagging_client_keeps_the_proxy_memory_bounded() {
    const LEN: u64 = 64 << 20;
    const SEED: u64 = 7;
    let app = Backend::custom(|s: TcpStream, _| {
        let mut r = HttpReader::new(s);
        if let Ok(Some(_)) = r.read_head() {
            let head = format!("HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: {LEN}\r\n\r\n");
            if r.get_mut().write_all(head.as_bytes()).is_ok() {
                let _ = send_random(r.get_mut(), SEED, LEN);
            }
        }
    });
    let proxy = ProxyBuilder::new(
        "defaults\n    mode http\n    timeout connect 1s\n    timeout client 20s\n    timeout server 20s\nlisten gz\n    bind 127.0.0.1:{{gz}}\n    compression algo gzip\n    server s 127.0.0.1:{{app}}\n",
    )
    .port("app", app.port())
    .start();
    let s = TcpStream::connect(proxy.addr("gz")).unwrap();
    s.set_read_timeout(Some(DEADLINE)).unwrap();
    let mut c = HttpReader::new(s);
    c.get_mut().write_all(&request(&["Accept-Encoding: gzip"])).unwrap();
    // Not reading: the server, then the proxy, must wait for the client.
    std::thread::sleep(std::time::Duration::from_millis(1000));
    let head = c.read_head().unwrap().expect("a response");
    assert!(head.chunked() && head.header("content-encoding") == Some("gzip"), "{}", head.line);

    /// Checks the decoded bytes against the server's stream as they come.
    struct Check(RandomStream, u64, Vec<u8>);
    impl Write for Check {
        fn write(&mut self, got: &[u8]) -> std::io::Result<usize> {
            self.2.resize(got.len(), 0);
            self.0.fill(&mut self.2);
            assert!(self.2 == got, "decoded bytes differ at offset {}", self.1);
            self.1 += got.len() as u64;
            Ok(got.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut gunzip = flate2::write::GzDecoder::new(Check(RandomStream::new(SEED), 0, Vec::new()));
    c.read_body(&head, false, |piece| gunzip.write_all(piece).unwrap()).unwrap();
    let check = gunzip.finish().unwrap();
    assert_eq!(check.1, LEN, "every byte arrived");
    let status = std::fs::read_to_string(format!("/proc/{}/status", proxy.pid())).unwrap();
    let hwm: u64 = status.lines().find_map(|l| l.strip_prefix("VmHWM:")).unwrap().trim().trim_end_matches("kB").trim().parse().unwrap();
    assert!(hwm < 20 * 1024, "the proxy's peak RSS is {hwm} KiB for a {} MiB body", LEN >> 20);
}
