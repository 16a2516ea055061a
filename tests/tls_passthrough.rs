//! TLS passed through in `mode tcp`, routed on the ClientHello (`req.ssl_sni`,
//! `req.ssl_alpn`, `req_ssl_hello_type`...): the proxy never terminates TLS, the
//! backends do. Compared with HAProxy 2.6 on the same configuration.

mod common;

use common::tls::*;
use common::*;
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

/// A TLS backend answering every request with `name`.
fn named_backend(name: &'static str) -> u16 {
    let (pem, _) = cert(&[&format!("{name}.test")]);
    serve_tls(Arc::new(server_config(&pem)), move |mut s| {
        while read_head(&mut s).is_some() {
            let _ = write!(s, "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{name}", name.len());
            let _ = s.flush();
        }
    })
}

const CONFIG: &str = "global
    log stdout format raw local0
defaults
    mode tcp
    log global
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{{fe}}
    tcp-request inspect-delay 5s
    tcp-request content set-var(sess.sni) req.ssl_sni if { req_ssl_hello_type 1 }
    tcp-request content set-var(sess.ver) req.ssl_ver if { req_ssl_hello_type 1 }
    tcp-request content set-var(sess.alpn) req.ssl_alpn if { req_ssl_hello_type 1 }
    tcp-request content set-var(sess.ec) req.ssl_ec_ext if { req_ssl_hello_type 1 }
    tcp-request content set-var(sess.st) req.ssl_st_ext if { req_ssl_hello_type 1 }
    tcp-request content accept if { req.ssl_hello_type 1 }
    log-format \"LOG sni=%[var(sess.sni)] ver=%[var(sess.ver)] alpn=%[var(sess.alpn)] ec=%[var(sess.ec)] st=%[var(sess.st)] b=%b\"
    use_backend be_a if { req.ssl_sni -i a.test }
    use_backend be_b if { req_ssl_sni -m end .b.test }
    default_backend be_other
backend be_a
    server s 127.0.0.1:{{a}}
backend be_b
    server s 127.0.0.1:{{b}}
backend be_other
    server s 127.0.0.1:{{o}}
";

#[test]
fn sni_routing_without_terminating_tls_matches_haproxy() {
    let (a, b, o) = (named_backend("a"), named_backend("b"), named_backend("other"));
    let mut seen = Vec::new();
    for bin in moonproxy_and_haproxy() {
        let proxy = ProxyBuilder::new(CONFIG).bin(&bin).port("a", a).port("b", b).port("o", o).start();
        let mut answers = Vec::new();
        let mut offering_alpn = (*any_server(None)).clone();
        offering_alpn.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        let client = Arc::new(offering_alpn);
        for sni in [Some("A.Test"), Some("www.b.test"), Some("c.test"), None] {
            let mut s = handshake(proxy.port("fe"), client.clone(), sni).expect("the backend's handshake through the proxy");
            let (_, body) = get(&mut s, "/");
            answers.push(String::from_utf8(body).unwrap());
            drop(s);
            let line = proxy.wait_for_line(|l| l.starts_with("LOG ") && l.contains(&format!("sni={} ", sni.unwrap_or("-"))), Duration::from_secs(10));
            answers.push(line);
        }
        seen.push((bin, answers));
    }
    let (_, ours) = &seen[0];
    assert_eq!([&ours[0], &ours[2], &ours[4], &ours[6]], ["a", "b", "other", "other"]);
    // 3.3: TLS 1.3's ClientHello says TLS 1.2 (0x0303); rustls offers h2 first.
    assert_eq!(ours[1], "LOG sni=A.Test ver=196611 alpn=h2 ec=1 st=1 b=be_a", "{ours:?}");
    if let Some((hname, theirs)) = seen.get(1) {
        assert_eq!(ours, theirs, "{}", hname.display());
    }
}

/// Bytes that are not TLS give no sample at once (no wait for the inspect delay), and
/// a ClientHello split over several packets is waited for.
#[test]
fn partial_hellos_wait_and_other_bytes_do_not() {
    let o = named_backend("other");
    let cfg = "defaults
    mode tcp
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{{fe}}
    tcp-request inspect-delay 5s
    tcp-request content reject if { req.ssl_sni -m found } !{ req.ssl_sni a.test }
    tcp-request content accept
    default_backend be
backend be
    server s 127.0.0.1:{{o}}
";
    let proxy = ProxyBuilder::new(cfg).port("o", o).start();
    // Plain text: decided at once (no SNI), forwarded to the backend, which is TLS and
    // closes on it: the point is that it does not take the 5 s inspect delay.
    let started = std::time::Instant::now();
    let mut c = Client::connect(proxy.port("fe"));
    c.send(b"GET / HTTP/1.1\r\n\r\n");
    let _ = c.recv_until_close();
    assert!(started.elapsed() < Duration::from_secs(4), "not a TLS record: no wait");
    // A ClientHello for b.test, split in two writes: the rule waits for all of it,
    // then rejects (a.test would pass).
    let hello = client_hello_bytes("b.test");
    let mut c = Client::connect(proxy.port("fe"));
    c.send(&hello[..20]);
    std::thread::sleep(Duration::from_millis(200));
    c.send(&hello[20..]);
    let (got, _) = c.recv_until_close();
    assert!(got.is_empty(), "rejected without a byte from the backend");
    let mut s = handshake(proxy.port("fe"), any_server(None), Some("a.test")).expect("a.test passes");
    assert_eq!(get(&mut s, "/").1, b"other");
}

/// The first record a rustls client sends for `sni`.
fn client_hello_bytes(sni: &str) -> Vec<u8> {
    let name = rustls::pki_types::ServerName::try_from(sni.to_string()).unwrap();
    let mut conn = rustls::ClientConnection::new(any_server(None), name).unwrap();
    let mut out = Vec::new();
    conn.write_tls(&mut out).unwrap();
    out
}

/// `req_ssl_ver` and `req.ssl_ver` read their patterns as dotted versions (`3.3` is
/// 3 * 65536 + 3, what a TLS 1.2 or 1.3 ClientHello's record says), values, ranges
/// with `:` or `-` and operators alike; `-m int` reads plain numbers. As HAProxy 2.6.
#[test]
fn req_ssl_ver_patterns_are_dotted_versions_as_haproxy() {
    let a = named_backend("a");
    let cfg = "global
    log stdout format raw local0
defaults
    mode tcp
    log global
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{{fe}}
    tcp-request inspect-delay 5s
    acl tls12 req_ssl_ver 3.3
    tcp-request content set-var(sess.eq) str(yes) if tls12
    tcp-request content set-var(sess.range) str(yes) if { req.ssl_ver 3.1:3.3 }
    tcp-request content set-var(sess.dash) str(yes) if { req_ssl_ver 3.1-3.2 }
    tcp-request content set-var(sess.lt) str(yes) if { req_ssl_ver lt 3.3 }
    tcp-request content set-var(sess.gt) str(yes) if { req_ssl_ver gt 3.2 }
    tcp-request content set-var(sess.major) str(yes) if { req_ssl_ver 3 }
    tcp-request content set-var(sess.int) str(yes) if { req.ssl_ver -m int 196611 }
    tcp-request content accept if { req.ssl_hello_type 1 }
    log-format \"LOG eq=%[var(sess.eq)] range=%[var(sess.range)] dash=%[var(sess.dash)] lt=%[var(sess.lt)] gt=%[var(sess.gt)] major=%[var(sess.major)] int=%[var(sess.int)]\"
    default_backend be_a
backend be_a
    server s 127.0.0.1:{{a}}
";
    let mut runs = Vec::new();
    for bin in moonproxy_and_haproxy() {
        let proxy = ProxyBuilder::new(cfg).bin(&bin).port("a", a).start();
        let mut s = handshake(proxy.port("fe"), any_server(None), Some("a.test")).expect("the backend's handshake through the proxy");
        let (_, body) = get(&mut s, "/");
        drop(s);
        let line = proxy.wait_for_line(|l| l.starts_with("LOG "), Duration::from_secs(10));
        runs.push((bin, vec![String::from_utf8(body).unwrap(), line]));
    }
    assert_eq!(runs[0].1, ["a", "LOG eq=yes range=yes dash=- lt=- gt=yes major=- int=yes"]);
    assert_runs_agree(&runs);
}
