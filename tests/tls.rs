//! TLS termination (`bind ... ssl crt`): a rustls client written here talks to the real
//! binary on loopback, in HTTP and TCP mode, with test certificates made by rcgen (no
//! key files checked in). The fetch values and refusals were compared with HAProxy 2.6
//! by hand (doc/tls.md).

mod common;

use common::tls::*;
use common::*;
use rustls::pki_types::ServerName;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

const HTTP: &str = "defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{{tls}} ssl crt {{dir}}/a.pem crt {{dir}}/certs alpn h2,http/1.1 ssl-min-ver TLSv1.2
    bind 127.0.0.1:{{plain}}
    log stdout format raw local0
    option httplog
    http-request redirect scheme https if !{ ssl_fc }
    http-request return status 200 content-type text/plain lf-string \"ssl=%[ssl_fc] sni=%[ssl_fc_sni] hs=%[ssl_fc_has_sni] p=%[ssl_fc_protocol] alpn=%[ssl_fc_alpn] c=%[ssl_fc_cipher] cu=%[ssl_c_used]\" if { path /ssl }
    default_backend app
backend app
    http-response set-header X-Proto %[ssl_fc_protocol]
    server s 127.0.0.1:{{app}}
";

/// SNI picks the certificate (the client trusts only the one it asks for); without a
/// match, the first `crt` is served. Fetches read the session; keep-alive carries
/// several requests; `redirect scheme https if !{ ssl_fc }` sends plain clients over.
#[test]
fn http_over_tls_sni_fetches_keepalive_and_redirect() {
    let (a_pem, a_der) = cert(&["a.test"]);
    let (b_pem, b_der) = cert(&["b.test"]);
    let app = Backend::http(b"hello over tls");
    let proxy = ProxyBuilder::new(HTTP).file("a.pem", &a_pem).file("certs/b.pem", &b_pem).port("app", app.port()).start();

    let mut s = connect(proxy.port("tls"), trusting(&b_der), "b.test");
    assert_eq!(s.conn.alpn_protocol(), Some(&b"http/1.1"[..]), "a client offering http/1.1 only gets it from `alpn h2,http/1.1`");
    let (head, body) = get(&mut s, "/ssl");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let body = String::from_utf8(body).unwrap();
    assert!(body.starts_with("ssl=1 sni=b.test hs=1 p=TLSv1.3 alpn=http/1.1 c=TLS_"), "{body}");
    assert!(body.ends_with(" cu=0"), "{body}");
    for _ in 0..3 {
        let (head, body) = get(&mut s, "/");
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        assert!(head.to_ascii_lowercase().contains("x-proto: tlsv1.3"), "{head}");
        assert_eq!(body, b"hello over tls");
    }
    assert_eq!(app.connections(), 1, "one server connection for the keep-alive client");

    // The default certificate for an unknown name: the client trusting `a` accepts it.
    let mut s = connect(proxy.port("tls"), trusting(&a_der), "a.test");
    assert_eq!(get(&mut s, "/").1, b"hello over tls");
    let any = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(moonproxy::tls::certs::NoVerify(provider())))
        .with_no_client_auth();
    let s = connect(proxy.port("tls"), Arc::new(any), "other.test");
    assert_eq!(s.conn.peer_certificates().unwrap()[0], a_der);

    let mut plain = proxy.connect("plain");
    let r = plain.http_request(b"GET /x HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(r.status, 302);
    assert_eq!(r.header("location"), Some("https://x/x"));
}

/// Plain HTTP sent to the TLS port: logged as a handshake failure naming the peer,
/// the connection closed, and the next client served.
#[test]
fn handshake_garbage_is_logged_and_closed() {
    let (a_pem, a_der) = cert(&["a.test"]);
    let app = Backend::http(b"fine");
    let proxy = ProxyBuilder::new(HTTP).file("a.pem", &a_pem).file("certs/b.pem", &cert(&["b.test"]).0).port("app", app.port()).start();
    let mut raw = TcpStream::connect(("127.0.0.1", proxy.port("tls"))).unwrap();
    raw.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let local = raw.local_addr().unwrap();
    raw.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut got = Vec::new();
    let _ = raw.read_to_end(&mut got); // EOF or reset: closed either way
    assert!(!String::from_utf8_lossy(&got).contains("HTTP/1.1"), "no plain answer on a TLS port");
    // HAProxy's line, in the frontend's log, instead of a stream log.
    let line = proxy.wait_for_line(|l| l.contains("SSL handshake failure"), Duration::from_secs(5));
    assert!(line.starts_with(&format!("{local} [")) && line.ends_with("] fe/1: SSL handshake failure"), "{line}");
    let mut s = connect(proxy.port("tls"), trusting(&a_der), "a.test");
    assert_eq!(get(&mut s, "/").1, b"fine");
    drop(s);
    // The served client is logged as usual; the failed one was not logged as a stream.
    let served = proxy.wait_for_line(|l| l.contains("fe~ app/s "), Duration::from_secs(5));
    assert!(!served.contains(&local.to_string()), "{served}");
}

/// TCP mode: 1 MB each way through the TLS session to an echo server.
#[test]
fn tcp_mode_relays_a_megabyte_both_ways() {
    let (a_pem, a_der) = cert(&["a.test"]);
    let echo = Backend::echo();
    let proxy = ProxyBuilder::new(
        "defaults
    mode tcp
    timeout connect 1s
    timeout client 5s
    timeout server 5s
listen t
    bind 127.0.0.1:{{tls}} ssl crt {{dir}}/a.pem
    server s 127.0.0.1:{{echo}}
",
    )
    .file("a.pem", &a_pem)
    .port("echo", echo.port())
    .start();
    let mut s = connect(proxy.port("tls"), trusting(&a_der), "a.test");
    let data = random_bytes(7, 1 << 20);
    let mut back = vec![0u8; 64 * 1024];
    for chunk in data.chunks(64 * 1024) {
        s.write_all(chunk).unwrap();
        s.flush().unwrap();
        let back = &mut back[..chunk.len()];
        s.read_exact(back).unwrap();
        assert_eq!(back, chunk);
    }
    assert_eq!(echo.stats().bytes_in(), 1 << 20);
}

/// HTTP mode: a 1 MB request body up and a 1 MB response down.
#[test]
fn http_large_bodies_both_ways() {
    let (a_pem, a_der) = cert(&["a.test"]);
    let big = random_bytes(9, 1 << 20);
    let reply = big.clone();
    let app = Backend::custom(move |mut sock, _| {
        let mut r = std::io::BufReader::new(sock.try_clone().unwrap());
        let (head, body) = read_response(&mut r);
        assert!(head.starts_with("POST"), "{head}");
        let ok = body.len() == 1 << 20;
        let _ = write!(sock, "HTTP/1.1 200 OK\r\nX-Got: {ok}\r\nContent-Length: {}\r\n\r\n", reply.len());
        let _ = sock.write_all(&reply);
    });
    let proxy = ProxyBuilder::new(HTTP).file("a.pem", &a_pem).file("certs/b.pem", &cert(&["b.test"]).0).port("app", app.port()).start();
    let mut s = connect(proxy.port("tls"), trusting(&a_der), "a.test");
    write!(s, "POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n", big.len()).unwrap();
    s.write_all(&big).unwrap();
    s.flush().unwrap();
    let (head, body) = read_response(&mut s);
    assert!(head.contains("X-Got: true") || head.contains("x-got: true"), "{head}");
    assert!(body == big, "the 1 MB response arrived intact");
}

/// What `-c` refuses, worded as HAProxy 2.6 words it where it has the case.
#[test]
fn bind_refusals() {
    let (a_pem, _) = cert(&["a.test"]);
    let check = |bind: &str| {
        let cfg = format!("defaults\n    mode http\n    timeout client 1s\n    timeout server 1s\n    timeout connect 1s\nfrontend f\n    bind 127.0.0.1:{{{{p}}}} {bind}\n    default_backend b\nbackend b\n    server s 127.0.0.1:1\n");
        let out = ProxyBuilder::new(&cfg).file("a.pem", &a_pem).free_port("p").flags(["-c"]).run();
        (out.code(), out.stderr)
    };
    let (code, err) = check("ssl");
    assert_ne!(code, Some(0));
    assert!(err.contains("no SSL certificate specified"), "{err}");
    let (code, err) = check("ssl crt {{dir}}/missing.pem");
    assert_ne!(code, Some(0));
    assert!(err.contains("unable to stat SSL certificate from file"), "{err}");
    let (code, err) = check("ssl crt {{dir}}/a.pem ssl-min-ver TLSv1.4");
    assert_ne!(code, Some(0));
    assert!(err.contains("'TLSv1.4' : unknown ssl/tls version"), "{err}");
    let (code, err) = check("ssl crt {{dir}}/a.pem ssl-min-ver SSLv3");
    assert_ne!(code, Some(0), "rustls has no SSLv3: refused rather than silently raised");
    assert!(err.contains("rustls"), "{err}");
    let (code, err) = check("ssl crt {{dir}}/a.pem alpn h2,http/1.1 ssl-max-ver TLSv1.3 ciphers ECDHE-RSA-AES128-GCM-SHA256");
    assert_eq!(code, Some(0), "{err}");
    // The PROXY header before the handshake (tests/accept_proxy_tls.rs).
    let (code, err) = check("accept-proxy ssl crt {{dir}}/a.pem");
    assert_eq!(code, Some(0), "{err}");
}

/// A TLS HTTP server written here (rustls): answers every request with the SNI it
/// received and its request count on the connection.
fn tls_app(pem: &str) -> u16 {
    serve_tls(Arc::new(server_config(pem)), |mut s| {
        let mut n = 0;
        while read_head(&mut s).is_some() {
            n += 1;
            let body = format!("sni={} n={n}", s.conn.server_name().unwrap_or("-"));
            if write!(s, "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}", body.len()).and_then(|_| s.flush()).is_err() {
                return;
            }
        }
    })
}

/// `server ... ssl`: verified against `ca-file` with the SNI from `sni`, refused with
/// another CA (503), unverified with `verify none` (no SNI sent); keep-alive on the
/// server connection; `check-ssl`-style checks over TLS keep the server up.
#[test]
fn server_side_tls() {
    let (b_pem, b_der) = cert(&["b.test"]);
    let (other_pem, _) = cert(&["other.test"]);
    let _ = b_der;
    let app = tls_app(&b_pem);
    let proxy = ProxyBuilder::new(
        "defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
    retries 0
frontend fe
    bind 127.0.0.1:{{fe}}
    use_backend badca if { path_beg /bad }
    use_backend noverify if { path_beg /nov }
    default_backend verified
backend verified
    option httpchk GET /health
    server s 127.0.0.1:{{app}} ssl verify required ca-file {{dir}}/ca.pem sni str(b.test) alpn http/1.1 check inter 100ms fall 2
backend badca
    server s 127.0.0.1:{{app}} ssl verify required ca-file {{dir}}/other.pem sni str(b.test)
backend noverify
    server s 127.0.0.1:{{app}} ssl verify none
",
    )
    .file("ca.pem", &b_pem)
    .file("other.pem", &other_pem)
    .port("app", app)
    .start();
    // Several TLS health checks run (two failures would mark the server down: 503).
    std::thread::sleep(Duration::from_millis(700));
    let mut c = proxy.connect("fe");
    let r = c.http_get("/");
    assert_eq!(r.status, 200, "{}", r.head);
    assert_eq!(String::from_utf8_lossy(&r.body), "sni=b.test n=1");
    let r = c.http_get("/again");
    assert_eq!(String::from_utf8_lossy(&r.body), "sni=b.test n=2", "the TLS server connection is kept alive");
    let r = proxy.connect("fe").http_get("/bad");
    assert_eq!(r.status, 503, "a certificate from another CA is refused");
    let r = proxy.connect("fe").http_get("/nov");
    assert_eq!(r.status, 200, "{}", r.head);
    assert_eq!(String::from_utf8_lossy(&r.body), "sni=- n=1", "no sni: none sent");
}

/// Lua: `Socket:connect_ssl` (no verification, no SNI, as HAProxy 2.6) and
/// `core.httpclient()` with an `https://` URL (`httpclient.ssl.verify none`: the test
/// server's certificate is self-signed).
#[test]
fn lua_connect_ssl_and_https_httpclient() {
    let (b_pem, _) = cert(&["b.test"]);
    let app = tls_app(&b_pem);
    let proxy = ProxyBuilder::new(
        "global
    lua-load {{dir}}/t.lua
    httpclient.ssl.verify none
defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{{fe}}
    http-request lua.probe
    http-request return status 200 content-type text/plain lf-string \"sock=%[var(txn.sock)] hc=%[var(txn.hc)]\"
",
    )
    .file(
        "t.lua",
        r#"
core.register_action("probe", {"http-req"}, function(txn)
    local s = core.tcp()
    s:settimeout(3)
    local ok = s:connect_ssl("127.0.0.1", {{app}})
    local line = "-"
    if ok then
        s:send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        line = s:receive("*l")
        s:receive("*l") -- content-length
        s:receive("*l") -- blank
        line = line .. "|" .. s:receive(9)
    end
    s:close()
    txn:set_var("txn.sock", line)
    local r = core.httpclient():get{url = "https://127.0.0.1:{{app}}/"}
    txn:set_var("txn.hc", tostring(r.status) .. "|" .. tostring(r.body))
end)
"#,
    )
    .port("app", app)
    .start();
    let r = proxy.connect("fe").http_get("/");
    assert_eq!(r.status, 200, "{}", r.head);
    assert_eq!(String::from_utf8_lossy(&r.body), "sock=HTTP/1.1 200 OK|sni=- n=1 hc=200|sni=- n=1");
}

/// A large response ending with the connection (`Connection: close`) to a client that
/// reads late: the proxy closes only once every TLS record is out (no truncation).
#[test]
fn close_after_a_large_response_loses_nothing() {
    let (a_pem, a_der) = cert(&["a.test"]);
    let big = random_bytes(11, 4 << 20);
    let reply = big.clone();
    let app = Backend::custom(move |mut sock, _| {
        let mut r = std::io::BufReader::new(sock.try_clone().unwrap());
        let _ = read_response(&mut r);
        let _ = write!(sock, "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: {}\r\n\r\n", reply.len());
        let _ = sock.write_all(&reply);
    });
    let proxy = ProxyBuilder::new(HTTP).file("a.pem", &a_pem).file("certs/b.pem", &cert(&["b.test"]).0).port("app", app.port()).start();
    // A small receive window, so that the proxy's send buffer fills while we sleep.
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    sock.set_recv_buffer_size(8 * 1024).unwrap();
    sock.connect(&std::net::SocketAddr::from(([127, 0, 0, 1], proxy.port("tls"))).into()).unwrap();
    let tcp: TcpStream = sock.into();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let conn = rustls::ClientConnection::new(trusting(&a_der), ServerName::try_from("a.test").unwrap()).unwrap();
    let mut s = rustls::StreamOwned::new(conn, tcp);
    write!(s, "GET /big HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
    s.flush().unwrap();
    std::thread::sleep(Duration::from_millis(300)); // the proxy's socket buffer fills
    let (head, body) = read_response(&mut s);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(body == big, "all {} bytes arrived ({} did)", big.len(), body.len());
}

/// TCP mode: `use_backend` by SNI once `tcp-request inspect-delay` lets the handshake
/// finish (the `ssl_fc*` fetches "may change" until then, so the rules wait).
#[test]
fn tcp_mode_routes_on_sni() {
    let (a_pem, a_der) = cert(&["a.test"]);
    let (b_pem, b_der) = cert(&["b.test"]);
    let (one, two) = (Backend::reply(b"one"), Backend::reply(b"two"));
    let proxy = ProxyBuilder::new(
        "defaults
    mode tcp
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend t
    bind 127.0.0.1:{{tls}} ssl crt {{dir}}/a.pem crt {{dir}}/b.pem
    tcp-request inspect-delay 2s
    tcp-request content accept if { ssl_fc }
    use_backend two if { ssl_fc_sni b.test }
    default_backend one
backend one
    server s 127.0.0.1:{{one}}
backend two
    server s 127.0.0.1:{{two}}
",
    )
    .file("a.pem", &a_pem)
    .file("b.pem", &b_pem)
    .port("one", one.port())
    .port("two", two.port())
    .start();
    for (der, sni, want) in [(&b_der, "b.test", &b"two"[..]), (&a_der, "a.test", &b"one"[..])] {
        let mut s = connect(proxy.port("tls"), trusting(der), sni);
        let mut got = Vec::new();
        let _ = s.read_to_end(&mut got);
        assert_eq!(got, want, "{sni}");
    }
}

/// The `ssl_bc*` fetches read the server connection's session, in `http-response`
/// rules and in log formats, the same with HAProxy 2.6 side by side: the second
/// connection to the server resumes its session (`ssl-reuse`, one thread), and a plain
/// server has no TLS (`ssl_bc` false, the others absent). `http-request` rules cannot
/// use them (no server connection yet), with HAProxy's message.
#[test]
fn ssl_bc_fetches_in_response_rules_and_logs() {
    let (b_pem, _) = cert(&["b.test"]);
    let mut config = server_config(&b_pem);
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let app = serve_tls(Arc::new(config), |mut s| {
        if read_head(&mut s).is_some() {
            let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok").and_then(|_| s.flush());
            s.conn.send_close_notify();
            let _ = s.flush();
        }
    });
    let plain = Backend::http(b"plain");
    let bc = "bc=%[ssl_bc] p=%[ssl_bc_protocol] c=%[ssl_bc_cipher] a=%[ssl_bc_alpn] r=%[ssl_bc_is_resumed] k=%[ssl_bc_use_keysize]/%[ssl_bc_alg_keysize]";
    let cfg = format!(
        "global
    nbthread 1
defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{{{{fe}}}}
    log stdout format raw local0
    log-format \"LOG %HU {bc}\"
    use_backend plain if {{ path_beg /plain }}
    default_backend tls
backend tls
    http-response set-header X-Bc \"{bc}\"
    server s 127.0.0.1:{{{{app}}}} ssl verify none alpn http/1.1
backend plain
    http-response set-header X-Bc \"{bc}\"
    server s 127.0.0.1:{{{{plain}}}}
"
    );
    for bin in moonproxy_and_haproxy() {
        let who = bin.display();
        let proxy = ProxyBuilder::new(&cfg).bin(&bin).port("app", app).port("plain", plain.port()).start();
        let full = "bc=1 p=TLSv1.3 c=TLS_AES_256_GCM_SHA384 a=http/1.1 r=0 k=256/256";
        let resumed = "bc=1 p=TLSv1.3 c=TLS_AES_256_GCM_SHA384 a=http/1.1 r=1 k=256/256";
        // An absent sample is empty in a header, `-` in a log line.
        for (path, want, logged) in [("/first", full, full), ("/second", resumed, resumed), ("/plain", "bc=0 p= c= a= r=0 k=/", "bc=0 p=- c=- a=- r=0 k=-/-")] {
            let r = get_closing(proxy.port("fe"), path);
            assert_eq!(r.status, 200, "{who}: {}", r.head);
            assert_eq!(r.header("x-bc"), Some(want), "{who}: {path}");
            let line = proxy.wait_for_line(|l| l.starts_with(&format!("LOG {path} ")), Duration::from_secs(5));
            assert_eq!(line, format!("LOG {path} {logged}"), "{who}");
        }
    }

    let refused = "defaults\n    mode http\n    timeout client 1s\n    timeout server 1s\n    timeout connect 1s\nbackend b\n    http-request set-header x %[ssl_bc_cipher]\n    server s 127.0.0.1:1\n";
    let out = ProxyBuilder::new(refused).flags(["-c"]).run();
    assert_ne!(out.code(), Some(0));
    assert!(out.stderr.contains("sample fetch <ssl_bc_cipher]> may not be reliably used here because it needs 'server-side connection' which is not available here."), "{}", out.stderr);
}

/// A client verifier that accepts any certificate and keeps the OCSP response the
/// server stapled (empty: none).
#[derive(Debug)]
struct StapleRecorder(std::sync::Mutex<Option<Vec<u8>>>);

impl rustls::client::danger::ServerCertVerifier for StapleRecorder {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        *self.0.lock().unwrap() = Some(ocsp_response.to_vec());
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(&self, m: &[u8], c: &rustls::pki_types::CertificateDer<'_>, d: &rustls::DigitallySignedStruct) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        moonproxy::tls::certs::NoVerify(provider()).verify_tls12_signature(m, c, d)
    }

    fn verify_tls13_signature(&self, m: &[u8], c: &rustls::pki_types::CertificateDer<'_>, d: &rustls::DigitallySignedStruct) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        moonproxy::tls::certs::NoVerify(provider()).verify_tls13_signature(m, c, d)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        moonproxy::tls::certs::NoVerify(provider()).supported_verify_schemes()
    }
}

/// The OCSP response a client asking for the certificate status gets from `port`
/// with TLS `version` (`None`: the handshake failed).
fn stapled(port: u16, version: &'static rustls::SupportedProtocolVersion) -> Option<Vec<u8>> {
    use rustls::client::danger::ServerCertVerifier;
    let recorder = Arc::new(StapleRecorder(std::sync::Mutex::new(None)));
    let verifier: Arc<dyn ServerCertVerifier> = recorder.clone();
    let config = rustls::ClientConfig::builder_with_provider(provider()).with_protocol_versions(&[version]).unwrap().dangerous().with_custom_certificate_verifier(verifier).with_no_client_auth();
    handshake(port, Arc::new(config), Some("a.test")).ok()?;
    let got = recorder.0.lock().unwrap().take();
    got
}

/// A DER OCSPResponse: `successful`, with `basic` as its (unchecked) response bytes.
fn ocsp_response(basic: &[u8]) -> Vec<u8> {
    let der = |tag: u8, body: &[u8]| [&[tag, body.len() as u8][..], body].concat();
    let oid = der(0x06, &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01, 0x01]); // id-pkix-ocsp-basic
    let bytes = der(0xa0, &der(0x30, &[oid, der(0x04, basic)].concat()));
    der(0x30, &[&[0x0a, 0x01, 0x00][..], &bytes].concat())
}

/// OCSP stapling: `a.pem.ocsp` beside a bind's `a.pem` is stapled as it is, in TLS 1.3
/// and 1.2; a certificate without one staples nothing; a response HAProxy cannot parse
/// is ignored with its warning (HAProxy 2.6's words; it also refuses a response whose
/// certificate ID it cannot compute, which moonproxy does not check).
#[test]
fn ocsp_files_are_stapled() {
    let (a_pem, _) = cert(&["a.test"]);
    let response = ocsp_response(b"a stapled response");
    // The harness writes text files: the DER responses go to a directory of our own.
    let dir = std::env::temp_dir().join(format!("moonproxy-ocsp-test-{}", std::process::id()));
    for (sub, ocsp) in [("ocsp", Some(&response[..])), ("none", None), ("junk", Some(&b"junk\n"[..]))] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
        std::fs::write(dir.join(sub).join("a.pem"), &a_pem).unwrap();
        if let Some(der) = ocsp {
            std::fs::write(dir.join(sub).join("a.pem.ocsp"), der).unwrap();
        }
    }
    let proxy = ProxyBuilder::new(
        "defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{{ocsp}} ssl crt {{certs}}/ocsp/a.pem
    bind 127.0.0.1:{{none}} ssl crt {{certs}}/none/a.pem
    bind 127.0.0.1:{{junk}} ssl crt {{certs}}/junk/a.pem
    http-request return status 200
",
    )
    .var("certs", dir.display())
    .start();
    for v in [&rustls::version::TLS13, &rustls::version::TLS12] {
        assert_eq!(stapled(proxy.port("ocsp"), v), Some(response.clone()), "{v:?}");
        assert_eq!(stapled(proxy.port("none"), v), Some(Vec::new()), "{v:?}");
        assert_eq!(stapled(proxy.port("junk"), v), Some(Vec::new()), "{v:?}");
    }
    proxy.wait_for_line(|l| l.contains("Loading: Unable to parse OCSP response. Content will be ignored."), Duration::from_secs(5));
    drop(proxy);
    std::fs::remove_dir_all(&dir).unwrap();

    // A file that cannot be read (here a directory) is an error of the bind line.
    let cfg = "defaults\n    mode http\n    timeout client 1s\n    timeout server 1s\n    timeout connect 1s\nfrontend f\n    bind 127.0.0.1:{{p}} ssl crt {{dir}}/a.pem\n";
    let out = ProxyBuilder::new(cfg).file("a.pem", &a_pem).file("a.pem.ocsp/x", "").free_port("p").flags(["-c"]).run();
    assert_ne!(out.code(), Some(0));
    assert!(out.stderr.contains(":7] : 'bind 127.0.0.1:") && out.stderr.contains("unable to load OCSP response from file '") && out.stderr.contains("a.pem.ocsp' : Is a directory."), "{}", out.stderr);
}
