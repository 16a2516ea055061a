//! Rules that look at content as it arrives, on moonproxy and HAProxy 2.6 with the
//! same configurations: `tcp-request inspect-delay` with content rules that wait for
//! data, `tcp-response content` rules, session variables in TCP mode, and the HTTP
//! actions `early-hint`, `normalize-uri` and `wait-for-body`.
//!
//! Waiting is checked by behaviour, not by time: a rule that must decide on data
//! arriving later is given an inspect delay far longer than the client waits, so a
//! proxy that waited for the delay instead of re-running the rule fails the test.

mod common;

use common::*;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// What the client does: send bytes, or pause.
enum Step<'a> {
    Send(&'a [u8]),
    Pause(u64),
}
use Step::{Pause, Send};

/// Plays `steps` on a new connection to `addr`, then reads until the peer closes (or
/// `wait` passes: then `closed` is false).
fn exchange(addr: SocketAddr, steps: &[Step<'_>], wait: Duration) -> (Vec<u8>, bool) {
    let mut s = TcpStream::connect(addr).unwrap();
    for step in steps {
        match step {
            Send(b) => s.write_all(b).unwrap(),
            Pause(ms) => std::thread::sleep(Duration::from_millis(*ms)),
        }
    }
    s.set_read_timeout(Some(wait)).unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return (out, true),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return (out, true),
            Err(_) => return (out, false),
        }
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A server that answers `<tag>:<what it read>` to the first bytes it reads, then
/// half-closes.
fn tagged(tag: &'static str) -> Backend {
    Backend::custom(move |mut s, _| {
        let mut buf = [0u8; 4096];
        let n = s.read(&mut buf).unwrap_or(0);
        let mut out = format!("{tag}:").into_bytes();
        out.extend_from_slice(&buf[..n]);
        let _ = s.write_all(&out);
        let _ = s.shutdown(std::net::Shutdown::Write);
        let _ = s.read(&mut buf);
    })
}

const TCP_DEFAULTS: &str = "defaults
    mode tcp
    timeout connect 1s
    timeout client 5s
    timeout server 5s
";

/// `tcp-request content` rules with `inspect-delay` re-run as bytes arrive: a rule on
/// `req.payload` waits for enough bytes, a passing term decides at once, and when
/// the delay expires the rules decide on what came. Session variables set by the
/// rules choose the backend.
#[test]
fn content_rules_wait_for_data_within_the_inspect_delay() {
    for bin in moonproxy_and_haproxy() {
        let (ping, other) = (tagged("ping"), tagged("other"));
        let proxy = ProxyBuilder::new(&format!(
            "{TCP_DEFAULTS}frontend fe
    bind 127.0.0.1:{{{{fe}}}}
    tcp-request inspect-delay 30s
    tcp-request content set-var(sess.proto) str(ping) if {{ req.payload(0,4) -m str PING }}
    tcp-request content accept if {{ var(sess.proto) -m found }}
    tcp-request content accept if {{ req.payload(0,1) -m bin 05 }} {{ req.payload_lv(0,1) -m str hello }}
    tcp-request content reject if {{ req.len gt 6 }}
    use_backend be_ping if {{ var(sess.proto) -m str ping }}
    default_backend be_other
frontend short
    bind 127.0.0.1:{{{{short}}}}
    tcp-request inspect-delay 300ms
    tcp-request content reject if {{ req.payload(0,4) -m str PING }}
    default_backend be_other
frontend proto
    bind 127.0.0.1:{{{{proto}}}}
    tcp-request inspect-delay 30s
    tcp-request content accept if {{ req.proto_http }}
    tcp-request content accept if {{ req.len ge 3 }}
    use_backend be_ping if {{ req.proto_http }}
    default_backend be_other
backend be_ping
    server s 127.0.0.1:{{{{ping}}}}
backend be_other
    server s 127.0.0.1:{{{{other}}}}
"
        ))
        .bin(&bin)
        .port("ping", ping.port())
        .port("other", other.port())
        .start();
        let name = bin.display().to_string();
        let fe = proxy.addr("fe");
        let wait = Duration::from_secs(5);
        // The set-var rule waits for 4 bytes, then the variable routes to be_ping.
        let (got, _) = exchange(fe, &[Send(b"PI"), Pause(200), Send(b"NGxx")], wait);
        assert_eq!(text(&got), "ping:PINGxx", "{name}");
        // 7 bytes that are not PING: `req.len gt 6` passes at once.
        let (got, closed) = exchange(fe, &[Send(b"PANGxyz")], wait);
        assert_eq!((text(&got).as_str(), closed), ("", true), "{name}: rejected");
        // A length-prefixed value, complete after the second segment.
        let (got, _) = exchange(fe, &[Send(b"\x05hel"), Pause(200), Send(b"lo")], wait);
        assert_eq!(text(&got), "other:\x05hello", "{name}");
        // `req.proto_http` waits for a complete request head; a TLS hello is not HTTP.
        let (got, _) = exchange(proxy.addr("proto"), &[Send(b"GET / HT"), Pause(200), Send(b"TP/1.0\r\n\r\n")], wait);
        assert_eq!(text(&got), "ping:GET / HTTP/1.0\r\n\r\n", "{name}");
        let (got, _) = exchange(proxy.addr("proto"), &[Send(b"\x16\x03\x01")], wait);
        assert_eq!(text(&got), "other:\x16\x03\x01", "{name}");
        // Too short for any rule to decide before the (short) delay expires: the rules
        // then run on final data and nothing rejects.
        let (got, _) = exchange(proxy.addr("short"), &[Send(b"PI")], wait);
        assert_eq!(text(&got), "other:PI", "{name}");
        let (got, closed) = exchange(proxy.addr("short"), &[Send(b"PI"), Pause(100), Send(b"NG")], wait);
        assert_eq!((text(&got).as_str(), closed), ("", true), "{name}: rejected once PING is complete");
    }
}

/// A server sending `parts` with pauses between them, then keeping the connection
/// open until the client side closes.
fn speaking(parts: &'static [&'static [u8]]) -> Backend {
    Backend::custom(move |mut s, _| {
        let mut buf = [0u8; 4096];
        let _ = s.read(&mut buf);
        for (i, p) in parts.iter().enumerate() {
            if i > 0 {
                std::thread::sleep(Duration::from_millis(150));
            }
            let _ = s.write_all(p);
        }
        let _ = s.read(&mut buf); // until the proxy closes
    })
}

/// `tcp-response content` rules hold the response until they decide: `accept` once
/// the expected bytes came, `reject` closes without forwarding, `close` forwards what
/// came and closes although the server keeps its connection open. `sess` variables
/// set by request rules are seen by response rules. Without an inspect delay the
/// rules decide as soon as the server is connected, on no data: an unconditional
/// `close` then forwards nothing.
#[test]
fn response_rules_hold_the_response_until_they_decide() {
    for bin in moonproxy_and_haproxy() {
        let hello = speaking(&[b"HE", b"LLO"]);
        let bye = speaking(&[b"BYE!"]);
        let closing = speaking(&[b"CLOSE"]);
        let proxy = ProxyBuilder::new(&format!(
            "{TCP_DEFAULTS}listen hello
    bind 127.0.0.1:{{{{hello}}}}
    tcp-request content set-var(sess.tag) str(T)
    tcp-response inspect-delay 30s
    tcp-response content accept if {{ res.payload(0,5) -m str HELLO }} {{ var(sess.tag) -m str T }}
    tcp-response content reject
    server s 127.0.0.1:{{{{hello_srv}}}}
listen bye
    bind 127.0.0.1:{{{{bye}}}}
    tcp-response inspect-delay 30s
    tcp-response content accept if {{ res.payload(0,5) -m str HELLO }}
    tcp-response content reject if {{ res.len ge 4 }}
    server s 127.0.0.1:{{{{bye_srv}}}}
listen closing
    bind 127.0.0.1:{{{{closing}}}}
    tcp-response inspect-delay 30s
    tcp-response content close if {{ res.payload(0,5) -m str CLOSE }}
    server s 127.0.0.1:{{{{closing_srv}}}}
listen at_once
    bind 127.0.0.1:{{{{at_once}}}}
    tcp-response content close
    server s 127.0.0.1:{{{{closing_srv}}}}
"
        ))
        .bin(&bin)
        .port("hello_srv", hello.port())
        .port("bye_srv", bye.port())
        .port("closing_srv", closing.port())
        .start();
        let name = bin.display().to_string();
        let wait = Duration::from_secs(5);
        let (got, _) = exchange(proxy.addr("hello"), &[Send(b"x")], Duration::from_secs(1));
        assert_eq!(text(&got), "HELLO", "{name}: accepted once complete, nothing before");
        let (got, closed) = exchange(proxy.addr("bye"), &[Send(b"x")], wait);
        assert_eq!((text(&got).as_str(), closed), ("", true), "{name}: rejected");
        let (got, closed) = exchange(proxy.addr("closing"), &[Send(b"x")], wait);
        assert_eq!((text(&got).as_str(), closed), ("CLOSE", true), "{name}: forwarded, then closed");
        let (got, closed) = exchange(proxy.addr("at_once"), &[Send(b"x")], wait);
        assert_eq!((text(&got).as_str(), closed), ("", true), "{name}: closed before any byte");
    }
}

const HTTP_DEFAULTS: &str = "global
    expose-experimental-directives
defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
";

/// `early-hint` sends a `103 Early Hints` per rule before the final response (what
/// HAProxy 2.6.12 does: its documentation's grouping of consecutive rules does not
/// happen on HTTP/1), and none to an HTTP/1.0 client.
#[test]
fn early_hints_precede_the_response() {
    for bin in moonproxy_and_haproxy() {
        let proxy = ProxyBuilder::new(&format!(
            "{HTTP_DEFAULTS}listen fe
    bind 127.0.0.1:{{{{fe}}}}
    http-request early-hint link \"</a.css>; rel=preload\" if {{ path /eh }}
    http-request early-hint link \"</b.js>; rel=preload\" if {{ path /eh }}
    http-request set-header x-mid 1
    http-request early-hint x-path %[path] if {{ path /eh }}
    http-request return status 200 content-type text/plain string ok
"
        ))
        .bin(&bin)
        .start();
        let name = bin.display().to_string();
        let wait = Duration::from_secs(5);
        let (got, _) = exchange(proxy.addr("fe"), &[Send(b"GET /eh HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")], wait);
        let want = "HTTP/1.1 103 Early Hints\r\nlink: </a.css>; rel=preload\r\n\r\n\
                    HTTP/1.1 103 Early Hints\r\nlink: </b.js>; rel=preload\r\n\r\n\
                    HTTP/1.1 103 Early Hints\r\nx-path: /eh\r\n\r\n\
                    HTTP/1.1 200 OK\r\n";
        assert!(text(&got).starts_with(want), "{name}: {}", text(&got));
        assert!(text(&got).ends_with("\r\n\r\nok"), "{name}: {}", text(&got));
        let (got, _) = exchange(proxy.addr("fe"), &[Send(b"GET /eh HTTP/1.0\r\nHost: a\r\n\r\n")], wait);
        assert!(text(&got).starts_with("HTTP/1.1 200 OK\r\n"), "{name}: no hints for HTTP/1.0: {}", text(&got));
        let (got, _) = exchange(proxy.addr("fe"), &[Send(b"GET /x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")], wait);
        assert!(text(&got).starts_with("HTTP/1.1 200 OK\r\n"), "{name}: {}", text(&got));
    }
}

const NORMALIZERS: &[&str] = &[
    "path-strip-dot",
    "path-strip-dotdot",
    "path-strip-dotdot full",
    "path-merge-slashes",
    "percent-decode-unreserved",
    "percent-decode-unreserved strict",
    "percent-to-uppercase",
    "percent-to-uppercase strict",
    "query-sort-by-name",
];

const TARGETS: &[&str] = &[
    "/a/./b/.",
    "/a/b/../../../c",
    "/..",
    "/a/./../b",
    "/a//b///c/..?x=../y",
    "/%41%62c/%7e%2F%2f%25",
    "/%4a%zz",
    "/%2f%41%4",
    "/p?%41=%7e&b=%2f%4a",
    "/?a=2&a=1&ab=0&a&A=1&a.=1&",
    "http://h/x/./y/../z?b=1&a=2",
];

/// Each normalizer on each target: the same rewritten URI (or the same 400 for a
/// `strict` normalizer on a bad encoding) as HAProxy.
#[test]
fn normalize_uri_matches_haproxy() {
    let mut results: Vec<Vec<String>> = Vec::new();
    for bin in moonproxy_and_haproxy() {
        let mut config = HTTP_DEFAULTS.to_string();
        for (i, n) in NORMALIZERS.iter().enumerate() {
            config.push_str(&format!(
                "listen n{i}\n    bind 127.0.0.1:{{{{n{i}}}}}\n    http-request normalize-uri {n}\n    http-request return status 200 content-type text/plain lf-string \"%[url]|%[path]|%[query]\"\n"
            ));
        }
        let proxy = ProxyBuilder::new(&config).bin(&bin).start();
        let mut got = Vec::new();
        for (i, normalizer) in NORMALIZERS.iter().enumerate() {
            for t in TARGETS {
                let req = format!("GET {t} HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
                let (out, _) = exchange(proxy.addr(&format!("n{i}")), &[Send(req.as_bytes())], Duration::from_secs(5));
                let out = text(&out);
                let status = out.get(9..12).unwrap_or("").to_string();
                let body = if status == "200" { out.split("\r\n\r\n").nth(1).unwrap_or("").to_string() } else { String::new() };
                got.push(format!("{normalizer} {t} -> {status} {body}"));
            }
        }
        results.push(got);
    }
    // The fixed points HAProxy 2.6.12 gave when this test was written.
    let mine = &results[0];
    for line in [
        "path-strip-dot /a/./b/. -> 200 /a/b/|/a/b/|",
        "path-strip-dotdot /a/b/../../../c -> 200 /../c|/../c|",
        "path-strip-dotdot full /a/b/../../../c -> 200 /c|/c|",
        "path-strip-dotdot /.. -> 200 /../|/../|",
        "percent-decode-unreserved strict /%4a%zz -> 400 ",
        "query-sort-by-name /?a=2&a=1&ab=0&a&A=1&a.=1& -> 200 /?A=1&a=2&a=1&a&a.=1&ab=0|/|A=1&a=2&a=1&a&a.=1&ab=0",
    ] {
        assert!(mine.iter().any(|l| l == line), "moonproxy lacks {line:?}:\n{}", mine.join("\n"));
    }
    if let Some(haproxy) = results.get(1) {
        let diff: Vec<String> = mine.iter().zip(haproxy).filter(|(a, b)| a != b).map(|(a, b)| format!("moonproxy {a}\nhaproxy   {b}")).collect();
        assert!(diff.is_empty(), "{}", diff.join("\n"));
    }
}

/// `wait-for-body`: the rules after it see the body once it is complete or `at-least`
/// bytes came; when the time runs out first the client gets a 408.
#[test]
fn wait_for_body_feeds_the_rules_after_it() {
    for bin in moonproxy_and_haproxy() {
        let proxy = ProxyBuilder::new(&format!(
            "{HTTP_DEFAULTS}listen fe
    bind 127.0.0.1:{{{{fe}}}}
    http-request wait-for-body time 400ms at-least 10 if {{ path /w }}
    http-request return status 200 content-type text/plain lf-string \"len=%[req.body_len] body=%[req.body]\"
"
        ))
        .bin(&bin)
        .start();
        let name = bin.display().to_string();
        let wait = Duration::from_secs(5);
        let post = |body: &str, len: usize| format!("POST /w HTTP/1.1\r\nHost: a\r\nContent-Length: {len}\r\nConnection: close\r\n\r\n{body}");
        let body_of = |out: &[u8]| text(out).split("\r\n\r\n").nth(1).unwrap_or("").to_string();
        // Complete, in two segments.
        let r = post("ab", 5);
        let (got, _) = exchange(proxy.addr("fe"), &[Send(r.as_bytes()), Pause(100), Send(b"cde")], wait);
        assert_eq!(body_of(&got), "len=5 body=abcde", "{name}: {}", text(&got));
        // At least 10 of 20 bytes.
        let r = post("abcdefghijkl", 20);
        let (got, _) = exchange(proxy.addr("fe"), &[Send(r.as_bytes())], wait);
        assert_eq!(body_of(&got), "len=12 body=abcdefghijkl", "{name}: {}", text(&got));
        // Too slow: 408.
        let r = post("abc", 20);
        let (got, _) = exchange(proxy.addr("fe"), &[Send(r.as_bytes())], wait);
        assert!(text(&got).starts_with("HTTP/1.1 408 Request Time-out\r\n"), "{name}: {}", text(&got));
    }
}

/// `http-response wait-for-body`: the response rules after it see `res.body` once the
/// body is complete; a server too slow for the time gets the client a 504.
#[test]
fn response_wait_for_body_feeds_the_rules_after_it() {
    for bin in moonproxy_and_haproxy() {
        let server = Backend::custom(|mut s, _| {
            let mut buf = [0u8; 4096];
            let n = s.read(&mut buf).unwrap_or(0);
            if buf[..n].starts_with(b"GET /slow") {
                let _ = s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 20\r\n\r\nabc");
            } else {
                let _ = s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nab");
                std::thread::sleep(Duration::from_millis(150));
                let _ = s.write_all(b"cde");
            }
            let _ = s.read(&mut buf); // until the proxy closes
        });
        let proxy = ProxyBuilder::new(&format!(
            "{HTTP_DEFAULTS}listen fe
    bind 127.0.0.1:{{{{fe}}}}
    http-response wait-for-body time 400ms at-least 10
    http-response set-header x-body \"%[res.body]\"
    server s 127.0.0.1:{{{{be}}}}
"
        ))
        .bin(&bin)
        .port("be", server.port())
        .start();
        let name = bin.display().to_string();
        let wait = Duration::from_secs(3);
        let (got, _) = exchange(proxy.addr("fe"), &[Send(b"GET /two HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")], wait);
        let got = text(&got);
        assert!(got.starts_with("HTTP/1.1 200 OK\r\n") && got.contains("\r\nx-body: abcde\r\n") && got.ends_with("\r\n\r\nabcde"), "{name}: {got}");
        let (got, _) = exchange(proxy.addr("fe"), &[Send(b"GET /slow HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")], wait);
        assert!(text(&got).starts_with("HTTP/1.1 504 Gateway Time-out\r\n"), "{name}: {}", text(&got));
    }
}

/// `wait-for-body` in a backend's rules, on a chunked body whose client first waits
/// for `100 Continue`: the proxy sends it, and the rules see the decoded body.
#[test]
fn backend_wait_for_body_on_a_chunked_body_after_100_continue() {
    for bin in moonproxy_and_haproxy() {
        let proxy = ProxyBuilder::new(&format!(
            "{HTTP_DEFAULTS}frontend fe
    bind 127.0.0.1:{{{{fe}}}}
    default_backend be
backend be
    http-request wait-for-body time 3s
    http-request return status 200 content-type text/plain lf-string \"len=%[req.body_len] body=%[req.body]\"
"
        ))
        .bin(&bin)
        .start();
        let name = bin.display().to_string();
        let mut s = TcpStream::connect(proxy.addr("fe")).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.write_all(b"POST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n").unwrap();
        let mut buf = [0u8; 25];
        s.read_exact(&mut buf).unwrap();
        assert_eq!(&buf[..], b"HTTP/1.1 100 Continue\r\n\r\n", "{name}");
        s.write_all(b"3\r\nabc\r\n").unwrap();
        std::thread::sleep(Duration::from_millis(100));
        s.write_all(b"2\r\nde\r\n0\r\n\r\n").unwrap();
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
        let out = text(&out);
        assert!(out.starts_with("HTTP/1.1 200 OK\r\n") && out.ends_with("\r\n\r\nlen=5 body=abcde"), "{name}: {out}");
    }
}

/// In HTTP mode `tcp-request content` rules see the parsed request (the payload
/// fetches find nothing there, in HAProxy too) and the variables they set are seen by
/// the next rules and by the `http-request` rules.
#[test]
fn http_mode_content_rules_share_variables_with_http_rules() {
    for bin in moonproxy_and_haproxy() {
        let proxy = ProxyBuilder::new(&format!(
            "{HTTP_DEFAULTS}listen fe
    bind 127.0.0.1:{{{{fe}}}}
    tcp-request inspect-delay 5s
    tcp-request content set-var(txn.a) path
    tcp-request content set-var(sess.b) var(txn.a),upper
    tcp-request content set-var(txn.p) req.payload(0,3)
    http-request return status 200 content-type text/plain lf-string \"a=%[var(txn.a)] b=%[var(sess.b)] p=%[var(txn.p)]\"
"
        ))
        .bin(&bin)
        .start();
        let name = bin.display().to_string();
        let (got, _) = exchange(proxy.addr("fe"), &[Send(b"GET /x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")], Duration::from_secs(5));
        assert!(text(&got).ends_with("\r\n\r\na=/x b=/X p="), "{name}: {}", text(&got));
    }
}

/// A backend's own `tcp-request content` rules run once it is chosen — with its own
/// `inspect-delay`, waiting for data, in TCP mode; before its `http-request` rules in
/// HTTP mode, where a `reject` closes without an answer. (They were ignored.)
#[test]
fn backend_content_rules_run_after_the_switch() {
    for bin in moonproxy_and_haproxy() {
        let (tcp, web) = (tagged("tcp"), http_app());
        let proxy = ProxyBuilder::new(&format!(
            "{TCP_DEFAULTS}frontend fe
    bind 127.0.0.1:{{{{fe}}}}
    default_backend be
backend be
    tcp-request inspect-delay 30s
    tcp-request content reject if {{ req.payload(0,3) -m str BAD }}
    tcp-request content accept if {{ req.len ge 3 }}
    server s 127.0.0.1:{{{{tcp}}}}
frontend fh
    mode http
    bind 127.0.0.1:{{{{fh}}}}
    default_backend bh
backend bh
    mode http
    tcp-request content set-var(txn.seen) be_name
    tcp-request content reject if {{ path /reject }}
    http-request return status 200 hdr x-seen %[var(txn.seen)] if {{ path /seen }}
    server s 127.0.0.1:{{{{web}}}}
"
        ))
        .bin(&bin)
        .port("tcp", tcp.port())
        .port("web", web.port())
        .free_port("fh")
        .start();
        let name = bin.display().to_string();
        let wait = Duration::from_secs(5);
        let (got, closed) = exchange(proxy.addr("fe"), &[Send(b"BA"), Pause(200), Send(b"D!")], wait);
        assert_eq!((text(&got).as_str(), closed), ("", true), "{name}: rejected by the backend's rule");
        let (got, _) = exchange(proxy.addr("fe"), &[Send(b"GO"), Pause(200), Send(b"OD")], wait);
        assert_eq!(text(&got), "tcp:GOOD", "{name}");
        let (got, closed) = exchange(proxy.addr("fh"), &[Send(b"GET /reject HTTP/1.1\r\nHost: t\r\n\r\n")], wait);
        assert_eq!((text(&got).as_str(), closed), ("", true), "{name}: closed without an answer");
        let (got, _) = exchange(proxy.addr("fh"), &[Send(b"GET /seen HTTP/1.0\r\n\r\n")], wait);
        assert!(text(&got).starts_with("HTTP/1.0 200") || text(&got).starts_with("HTTP/1.1 200"), "{name}: {}", text(&got));
        assert!(text(&got).to_ascii_lowercase().contains("x-seen: bh\r\n"), "{name}: {}", text(&got));
    }
}

/// HTTP mode: the backend's `tcp-response content` rules run on each response before
/// its `http-response` rules (a variable they set is seen there); a `reject` closes
/// the client connection without an answer. (They were ignored, with a warning.)
#[test]
fn response_content_rules_run_in_http_mode() {
    for bin in moonproxy_and_haproxy() {
        let web = http_app();
        let proxy = ProxyBuilder::new(
            "defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend fh
    bind 127.0.0.1:{{fh}}
    default_backend bh
backend bh
    http-request set-var(txn.p) path
    tcp-response content set-var(txn.r) str(tcp-res)
    tcp-response content reject if { var(txn.p) -m str /reject }
    http-response set-header x-r %[var(txn.r)]
    server s 127.0.0.1:{{web}}
",
        )
        .bin(&bin)
        .port("web", web.port())
        .start();
        let name = bin.display().to_string();
        let wait = Duration::from_secs(5);
        let (got, _) = exchange(proxy.addr("fh"), &[Send(b"GET / HTTP/1.0\r\n\r\n")], wait);
        assert!(text(&got).to_ascii_lowercase().contains("x-r: tcp-res\r\n"), "{name}: {}", text(&got));
        let (got, closed) = exchange(proxy.addr("fh"), &[Send(b"GET /reject HTTP/1.1\r\nHost: t\r\n\r\n")], wait);
        assert_eq!((text(&got).as_str(), closed), ("", true), "{name}: closed without an answer");
    }
}
