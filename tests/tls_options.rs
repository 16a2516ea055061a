//! TLS options beyond `ssl crt` (doc/tls.md): `crt-list` and `strict-sni`, the protocol
//! version options, `verifyhost`, `check-sni`/`check-alpn`, `crl-file` with
//! `crt-ignore-err`. Certificates are made here with rcgen (no key files checked in);
//! the clients are rustls clients written here. Behaviours were compared with HAProxy 2.6
//! by hand (`haproxy -c`, and the same configurations run side by side).

mod common;

use common::tls::*;
use common::*;
use rustls::pki_types::CertificateDer;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One GET on a TLS connection: the response's status line and body, or `None` when
/// the connection failed before a response.
fn get(s: &mut Tls, path: &str) -> Option<(String, String)> {
    let (head, body) = try_get(s, path)?;
    Some((head.lines().next().unwrap().to_string(), String::from_utf8(body).unwrap()))
}

/// The certificate the server presented for `sni` (`None`: the handshake failed).
fn served(port: u16, sni: Option<&str>) -> Option<CertificateDer<'static>> {
    let s = handshake(port, any_server(None), sni).ok()?;
    Some(s.conn.peer_certificates()?[0].clone())
}

/// `moonproxy -c` on a frontend with `bind` options: exit code and stderr.
fn check_bind(files: &[(&str, &str)], global: &str, bind: &str) -> (Option<i32>, String) {
    let cfg = format!("global\n{global}\ndefaults\n    mode http\n    timeout client 1s\n    timeout server 1s\n    timeout connect 1s\nfrontend f\n    bind 127.0.0.1:{{{{p}}}} {bind}\n    default_backend b\nbackend b\n    server s 127.0.0.1:1\n");
    let mut b = ProxyBuilder::new(&cfg).free_port("p").flags(["-c"]);
    for (name, text) in files {
        b = b.file(name, text);
    }
    let out = b.run();
    (out.code(), out.stderr)
}

/// `crt-list`: SNI filters choose the certificate (a filter name the certificate does
/// not carry, a wildcard, a `!` exclusion falling back to the default); `!*` keeps the
/// first certificate as the default only. A line's `[...]` options apply to the clients
/// it serves: its `alpn`, `ssl-max-ver`, `verify`. `strict-sni` refuses a client with an
/// unknown name or none, and serves a known one.
#[test]
fn crt_list_filters_options_and_strict_sni() {
    let (d_pem, d_der) = cert(&["d.test"]);
    let (a_pem, a_der) = cert(&["a.test"]);
    let (b_pem, b_der) = cert(&["b.test"]);
    let (c_pem, _) = cert(&["c.test"]);
    let (w_pem, w_der) = cert(&["*.w.test"]);
    let list = "# the default, served for no name of its own
{{dir}}/d.pem !*

{{dir}}/b.pem [alpn http/1.0 ssl-max-ver TLSv1.2 ciphers ECDHE-ECDSA-AES128-GCM-SHA256] b.test alias.test
{{dir}}/w.pem *.w.test !secret.w.test
c.pem [verify required ca-file {{dir}}/c.pem]
a.pem
";
    let proxy = ProxyBuilder::new(
        "global
    crt-base {{dir}}
defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{{list}} ssl crt-list list.txt alpn http/1.1
    bind 127.0.0.1:{{strict}} ssl strict-sni crt {{dir}}/a.pem
    http-request return status 200 content-type text/plain lf-string \"%[ssl_fc_sni] %[ssl_fc_protocol] %[ssl_fc_alpn]\"
",
    )
    .file("d.pem", &d_pem)
    .file("a.pem", &a_pem)
    .file("b.pem", &b_pem)
    .file("c.pem", &c_pem)
    .file("w.pem", &w_pem)
    .file("list.txt", list)
    .start();
    let port = proxy.port("list");
    assert_eq!(served(port, Some("b.test")), Some(b_der.clone()));
    // The line's `ciphers` (with its `ssl-max-ver`) choose the suite.
    let s = handshake(port, any_server(None), Some("b.test")).unwrap();
    assert_eq!(s.conn.negotiated_cipher_suite().map(moonproxy::tls::cipher_name).as_deref(), Some("ECDHE-ECDSA-AES128-GCM-SHA256"));
    assert_eq!(served(port, Some("alias.test")), Some(b_der), "a filter names what the certificate is served for");
    assert_eq!(served(port, Some("x.w.test")), Some(w_der));
    assert_eq!(served(port, Some("secret.w.test")), Some(d_der.clone()), "excluded by `!`: the default");
    assert_eq!(served(port, Some("a.test")), Some(a_der.clone()), "no filter: the certificate's own names");
    assert_eq!(served(port, Some("d.test")), Some(d_der.clone()));
    assert_eq!(served(port, Some("unknown.test")), Some(d_der.clone()));
    assert_eq!(served(port, None), Some(d_der));

    // The line's options for its clients, the bind line's for the others.
    let mut offering = (*any_server(None)).clone();
    offering.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec(), b"http/1.0".to_vec()];
    let offering = Arc::new(offering);
    let ask = |sni: &str| handshake(port, offering.clone(), Some(sni)).ok().and_then(|mut s| get(&mut s, "/")).map(|r| r.1);
    assert_eq!(ask("alias.test").as_deref(), Some("alias.test TLSv1.2 http/1.0"));
    assert_eq!(ask("a.test").as_deref(), Some("a.test TLSv1.3 http/1.1"));
    assert_eq!(ask("x.w.test").as_deref(), Some("x.w.test TLSv1.3 http/1.1"));
    assert_eq!(ask("c.test"), None, "its line requires a client certificate");
    assert_eq!(handshake(port, any_server(Some(&c_pem)), Some("c.test")).ok().and_then(|mut s| get(&mut s, "/")).map(|r| r.1).as_deref(), Some("c.test TLSv1.3 "));

    let port = proxy.port("strict");
    let mut s = handshake(port, any_server(None), Some("a.test")).expect("a known name is served");
    assert_eq!(s.conn.peer_certificates().unwrap()[0], a_der);
    assert_eq!(get(&mut s, "/").map(|r| r.1), Some("a.test TLSv1.3 ".to_string()));
    assert!(handshake(port, any_server(None), Some("other.test")).is_err(), "strict-sni: no default certificate");
    assert!(handshake(port, any_server(None), None).is_err(), "strict-sni: no SNI, no certificate");
}

/// What `-c` says about crt-list and the other bind options, as HAProxy 2.6 (messages
/// compared by hand), and where moonproxy refuses what rustls cannot do.
#[test]
fn bind_option_refusals() {
    let (a_pem, _) = cert(&["a.test"]);
    let files = [("a.pem", a_pem.as_str()), ("alpn.txt", "{{dir}}/a.pem [alpn h2]\n"), ("bogus.txt", "{{dir}}/a.pem [alpn h2 bogus] x.test\n"), ("verify.txt", "{{dir}}/a.pem [verify required]\n"), ("npn.txt", "{{dir}}/a.pem [npn h2]\n"), ("keys", "QUJD\n")];
    let err = |global: &str, bind: &str| {
        let (code, err) = check_bind(&files, global, bind);
        assert_ne!(code, Some(0), "{bind}: accepted");
        err
    };
    assert!(err("", "ssl crt-list {{dir}}/missing.txt").contains("'crt-list' : cannot open file"));
    assert!(err("", "ssl crt-list {{dir}}/bogus.txt").contains("unknown ssl keyword bogus"));
    assert!(err("", "ssl crt-list {{dir}}/verify.txt").contains("verify is enabled but no CA file specified"));
    assert!(err("", "ssl crt-list {{dir}}/npn.txt").contains("'npn' is not supported by moonproxy"));
    assert!(err("", "ssl crt {{dir}}/a.pem no-tlsv12 no-tlsv13").contains("all SSL/TLS versions are disabled"));
    assert!(err("", "ssl crt {{dir}}/a.pem force-tlsv12 ssl-min-ver TLSv1.3").contains("all SSL/TLS versions are disabled"));
    assert!(err("", "ssl crt {{dir}}/a.pem force-tlsv10").contains("rustls"));
    assert!(err("", "ssl crt {{dir}}/a.pem ca-ignore-err 10,bogus").contains("'ca-ignore-err' : ID '0' out of range (1..94) in error IDs list '10,bogus'"));
    assert!(err("", "ssl crt {{dir}}/a.pem tls-ticket-keys {{dir}}/keys").contains("wrong sized key on line 1"));
    assert!(err("", "ssl crt {{dir}}/a.pem crl-file {{dir}}/none.pem").contains("'crl-file' : unable to load"));
    assert!(err("    ssl-default-bind-options no-tlsv13 bogus", "ssl crt {{dir}}/a.pem").contains("unknown option 'bogus' on global statement 'ssl-default-bind-options'."));
    assert!(err("    ssl-default-server-options no-ssl-reuse", "ssl crt {{dir}}/a.pem").contains("unknown option 'no-ssl-reuse' on global statement 'ssl-default-server-options'."));
    let (code, err) = check_bind(&files, "    ssl-default-bind-options no-tls-tickets force-tlsv13", "ssl strict-sni crt-list {{dir}}/alpn.txt alpn h2 allow-0rtt crt-ignore-err all no-tlsv13 ssl-max-ver TLSv1.3");
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains("no-sslv3/no-tlsv1x are ignored for this bind. Use only 'ssl-min-ver' and 'ssl-max-ver' to fix."), "HAProxy's warning: {err}");
    let (code, err) = check_bind(&files, "", "ssl strict-sni");
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains("no SSL certificate specified, ssl connections will fail (use 'crt')."), "{err}");
}

/// `no-tlsv13` (on the line or from `ssl-default-bind-options`) and `force-tlsv12`
/// negotiate TLSv1.2; a line with `ssl-max-ver` ignores the global `no-tlsv13`, as
/// HAProxy ignores no-* beside a min/max; `force-tlsv13` refuses a TLSv1.2-only client.
#[test]
fn version_options_choose_the_protocol() {
    let (a_pem, _) = cert(&["a.test"]);
    let proxy = ProxyBuilder::new(
        "global
    ssl-default-bind-options no-tlsv13
defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{{global}} ssl crt {{dir}}/a.pem
    bind 127.0.0.1:{{no13}} ssl crt {{dir}}/a.pem no-tlsv13
    bind 127.0.0.1:{{force12}} ssl crt {{dir}}/a.pem force-tlsv12
    bind 127.0.0.1:{{max13}} ssl crt {{dir}}/a.pem ssl-max-ver TLSv1.3
    bind 127.0.0.1:{{force13}} ssl crt {{dir}}/a.pem force-tlsv13
    http-request return status 200 content-type text/plain lf-string \"%[ssl_fc_protocol]\"
",
    )
    .file("a.pem", &a_pem)
    .start();
    let protocol = |name: &str| {
        let mut s = handshake(proxy.port(name), any_server(None), Some("a.test")).unwrap();
        get(&mut s, "/").unwrap().1
    };
    assert_eq!(protocol("global"), "TLSv1.2");
    assert_eq!(protocol("no13"), "TLSv1.2");
    assert_eq!(protocol("force12"), "TLSv1.2");
    assert_eq!(protocol("max13"), "TLSv1.3");
    assert_eq!(protocol("force13"), "TLSv1.3");
    let tls12_only = rustls::ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS12])
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(moonproxy::tls::certs::NoVerify(provider())))
        .with_no_client_auth();
    assert!(handshake(proxy.port("force13"), Arc::new(tls12_only), Some("a.test")).is_err());
}

/// A TLS HTTP server written here (rustls) that records, for each request, its path,
/// the SNI, the ALPN protocol agreed (it prefers `http/1.0`, so a client offering it
/// gets it) and whether the session was resumed, answers 200 and closes.
struct TlsApp {
    port: u16,
    seen: Arc<Mutex<Vec<String>>>,
}

impl TlsApp {
    fn start(pem: &str) -> TlsApp {
        let mut config = server_config(pem);
        config.alpn_protocols = vec![b"http/1.0".to_vec(), b"http/1.1".to_vec()];
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        let port = serve_tls(Arc::new(config), move |mut s| {
            let Some(head) = read_head(&mut s) else { return };
            let path = head.split(' ').nth(1).unwrap_or("").to_string();
            let sni = s.conn.server_name().unwrap_or("-").to_string();
            let alpn = s.conn.alpn_protocol().map(|a| String::from_utf8_lossy(a).into_owned()).unwrap_or("-".into());
            let resumed = s.conn.handshake_kind() == Some(rustls::HandshakeKind::Resumed);
            log.lock().unwrap().push(format!("{path} sni={sni} alpn={alpn}{}", if resumed { " resumed" } else { "" }));
            let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok").and_then(|_| s.flush());
            s.conn.send_close_notify();
            let _ = s.flush();
        });
        TlsApp { port, seen }
    }

    fn seen(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }
}

/// The `status` cell of server `be/srv` in `show stat`.
fn server_status(sock: &std::path::Path, be: &str, srv: &str) -> String {
    let out = cli(sock, "show stat\n");
    let mut lines = out.lines();
    let header: Vec<&str> = lines.next().unwrap().trim_start_matches("# ").split(',').collect();
    let col = header.iter().position(|h| *h == "status").unwrap();
    lines.map(|l| l.split(',').collect::<Vec<_>>()).find(|c| c[0] == be && c[1] == srv).map(|c| c[col].to_string()).unwrap_or_default()
}

/// `verifyhost`: the server's certificate (for b.test) is checked against it when no SNI
/// is sent: the right name serves (200, check UP), a wrong one is refused (503, check
/// DOWN); with `sni`, the SNI is the name checked, as HAProxy does. `check-sni` and
/// `check-alpn` are what health checks send, while traffic keeps `alpn`. A self-signed
/// certificate marked as a CA and listed in `ca-file` is trusted (OpenSSL does so; webpki
/// alone refuses a CA as end entity).
#[test]
fn verifyhost_check_sni_and_check_alpn() {
    let (b_pem, _) = cert(&["b.test"]);
    let app = TlsApp::start(&b_pem);
    // Self-signed and marked as a CA, as `openssl req -x509` makes them.
    let ca_pem = {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut p = rcgen::CertificateParams::new(vec!["c.test".to_string()]).unwrap();
        p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        format!("{}{}", p.self_signed(&key).unwrap().pem(), key.serialize_pem())
    };
    let ca_app = TlsApp::start(&ca_pem);
    let proxy = ProxyBuilder::new(
        "global
    stats socket {{dir}}/cli.sock level admin
defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
    retries 0
frontend fe
    bind 127.0.0.1:{{fe}}
    use_backend wrong if { path_beg /wrong }
    use_backend bysni if { path_beg /bysni }
    use_backend selfca if { path_beg /selfca }
    use_backend selfcawrong if { path_beg /scwrong }
    default_backend right
backend right
    option httpchk GET /health
    server s 127.0.0.1:{{app}} ssl verify required ca-file {{dir}}/ca.pem verifyhost b.test alpn http/1.1 check-sni b.test check-alpn http/1.0 check inter 100ms fall 1 rise 1
backend wrong
    option httpchk GET /health-wrong
    server s 127.0.0.1:{{app}} ssl verify required ca-file {{dir}}/ca.pem verifyhost wrong.test check inter 100ms fall 1 rise 1
backend bysni
    server s 127.0.0.1:{{app}} ssl verify required ca-file {{dir}}/ca.pem sni str(b.test) verifyhost wrong.test
backend selfca
    server s 127.0.0.1:{{ca_app}} ssl verify required ca-file {{dir}}/self.pem verifyhost c.test
backend selfcawrong
    server s 127.0.0.1:{{ca_app}} ssl verify required ca-file {{dir}}/self.pem verifyhost b.test
",
    )
    .file("ca.pem", &b_pem)
    .file("self.pem", &ca_pem)
    .port("app", app.port)
    .port("ca_app", ca_app.port)
    .start();
    let sock = proxy.dir().join("cli.sock");
    assert!(wait_until(Duration::from_secs(5), || server_status(&sock, "wrong", "s").starts_with("DOWN")), "a wrong verifyhost fails the checks");
    assert!(wait_until(Duration::from_secs(5), || app.seen().iter().any(|l| l.starts_with("/health "))), "{:?}", app.seen());
    assert!(server_status(&sock, "right", "s").starts_with("UP"), "{}", server_status(&sock, "right", "s"));

    let r = proxy.connect("fe").http_get("/");
    assert_eq!(r.status, 200, "{}", r.head);
    let r = proxy.connect("fe").http_get("/wrong");
    assert_eq!(r.status, 503, "{}", r.head);
    let r = proxy.connect("fe").http_get("/bysni");
    assert_eq!(r.status, 200, "the SNI sent is the name checked: {}", r.head);
    let r = proxy.connect("fe").http_get("/selfca");
    assert_eq!(r.status, 200, "a ca-file certificate served as is is trusted, as OpenSSL does: {}", r.head);
    let r = proxy.connect("fe").http_get("/scwrong");
    assert_eq!(r.status, 503, "its name is still checked: {}", r.head);

    // Sessions may be resumed: " resumed" ends some lines.
    let seen: Vec<String> = app.seen().iter().map(|l| l.trim_end_matches(" resumed").to_string()).collect();
    assert!(seen.iter().any(|l| l == "/health sni=b.test alpn=http/1.0"), "checks: check-sni, check-alpn: {seen:?}");
    assert!(seen.iter().any(|l| l == "/ sni=- alpn=http/1.1"), "traffic: no SNI, alpn: {seen:?}");
    assert!(seen.iter().any(|l| l == "/bysni sni=b.test alpn=-"), "{seen:?}");
    assert!(!seen.iter().any(|l| l.starts_with("/health-wrong") || l.starts_with("/wrong")), "never past a refused handshake: {seen:?}");
}

/// A certificate listed in `ca-file` and served as it is stays subject to its dates:
/// expired, the server is refused (503), as OpenSSL refuses an expired trust anchor in
/// HAProxy; the same certificate within its dates serves. (moonproxy trusted it whatever
/// its dates.)
#[test]
fn an_expired_ca_file_certificate_is_refused_as_haproxy_does() {
    let self_signed = |not_after: (i32, u8, u8)| {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut p = rcgen::CertificateParams::new(vec!["c.test".to_string()]).unwrap();
        p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        p.not_before = rcgen::date_time_ymd(2001, 1, 1);
        p.not_after = rcgen::date_time_ymd(not_after.0, not_after.1, not_after.2);
        format!("{}{}", p.self_signed(&key).unwrap().pem(), key.serialize_pem())
    };
    let (expired, valid) = (self_signed((2002, 1, 1)), self_signed((2090, 1, 1)));
    let (old_app, new_app) = (TlsApp::start(&expired), TlsApp::start(&valid));
    for bin in moonproxy_and_haproxy() {
        let proxy = ProxyBuilder::new(
            "defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
    retries 0
frontend fe
    bind 127.0.0.1:{{fe}}
    use_backend expired if { path_beg /expired }
    default_backend valid
backend expired
    server s 127.0.0.1:{{old}} ssl verify required ca-file {{dir}}/expired.pem verifyhost c.test
backend valid
    server s 127.0.0.1:{{new}} ssl verify required ca-file {{dir}}/valid.pem verifyhost c.test
",
        )
        .bin(&bin)
        .file("expired.pem", &expired)
        .file("valid.pem", &valid)
        .port("old", old_app.port)
        .port("new", new_app.port)
        .start();
        let who = bin.display();
        let r = proxy.connect("fe").http_get("/expired");
        assert_eq!(r.status, 503, "{who}: an expired certificate is refused: {}", r.head);
        let r = proxy.connect("fe").http_get("/");
        assert_eq!(r.status, 200, "{who}: {}", r.head);
    }
}

/// `crl-file` on a bind with `verify required`: a client certificate from the CA is
/// served, a revoked one is refused; `crt-ignore-err 23` (CERT_REVOKED) lets the
/// revoked one through, as HAProxy does.
#[test]
fn crl_file_rejects_a_revoked_client_certificate() {
    use rcgen::{BasicConstraints, CertificateParams, CertificateRevocationListParams, IsCa, KeyIdMethod, KeyPair, KeyUsagePurpose, RevokedCertParams, SerialNumber};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let client = |serial: u64| {
        let key = KeyPair::generate().unwrap();
        let mut p = CertificateParams::new(vec!["client.test".to_string()]).unwrap();
        p.serial_number = Some(SerialNumber::from(serial));
        p.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
        format!("{}{}", p.signed_by(&key, &ca, &ca_key).unwrap().pem(), key.serialize_pem())
    };
    let (good, revoked) = (client(1001), client(1002));
    let crl = CertificateRevocationListParams {
        this_update: rcgen::date_time_ymd(2024, 1, 1),
        next_update: rcgen::date_time_ymd(2090, 1, 1),
        crl_number: SerialNumber::from(1u64),
        issuing_distribution_point: None,
        revoked_certs: vec![RevokedCertParams { serial_number: SerialNumber::from(1002u64), revocation_time: rcgen::date_time_ymd(2024, 1, 1), reason_code: None, invalidity_date: None }],
        key_identifier_method: KeyIdMethod::Sha256,
    }
    .signed_by(&ca, &ca_key)
    .unwrap();
    let (srv_pem, _) = cert(&["a.test"]);
    let proxy = ProxyBuilder::new(
        "defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{{strict}} ssl crt {{dir}}/a.pem verify required ca-file {{dir}}/ca.pem crl-file {{dir}}/crl.pem
    bind 127.0.0.1:{{ignore}} ssl crt {{dir}}/a.pem verify required ca-file {{dir}}/ca.pem crl-file {{dir}}/crl.pem crt-ignore-err 23
    http-request return status 200 content-type text/plain lf-string \"cert=%[ssl_c_used]\"
",
    )
    .file("a.pem", &srv_pem)
    .file("ca.pem", &ca.pem())
    .file("crl.pem", &crl.pem().unwrap())
    .start();
    let ask = |port: &str, pem: &str| handshake(proxy.port(port), any_server(Some(pem)), Some("a.test")).ok().and_then(|mut s| get(&mut s, "/"));
    assert_eq!(ask("strict", &good).map(|r| r.1), Some("cert=1".to_string()));
    assert_eq!(ask("strict", &revoked), None, "a revoked certificate is refused");
    assert_eq!(ask("ignore", &revoked).map(|r| r.1), Some("cert=1".to_string()), "crt-ignore-err 23 forgives CERT_REVOKED");
    let (self_signed, _) = cert(&["client.test"]);
    assert_eq!(ask("ignore", &self_signed), None, "other errors are not forgiven");
}

/// `ssl-reuse` (the default): the next connection to the server resumes the session
/// (TLS 1.2 here; also with `no-tls-tickets`, by session id); `no-ssl-reuse`
/// makes a full handshake every time. Compared with HAProxy 2.6 against
/// `openssl s_server -www` (with `nbthread 1`: HAProxy keeps one session per thread).
#[test]
fn ssl_reuse_resumes_server_sessions() {
    let (b_pem, _) = cert(&["b.test"]);
    let app = TlsApp::start(&b_pem);
    let proxy = ProxyBuilder::new(
        "defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{{fe}}
    use_backend noreuse if { path_beg /noreuse }
    use_backend noticket if { path_beg /noticket }
    default_backend reuse
backend reuse
    server s 127.0.0.1:{{app}} ssl verify none ssl-max-ver TLSv1.2
backend noreuse
    server s 127.0.0.1:{{app}} ssl verify none ssl-max-ver TLSv1.2 no-ssl-reuse
backend noticket
    server s 127.0.0.1:{{app}} ssl verify none force-tlsv12 no-tls-tickets
",
    )
    .port("app", app.port)
    .start();
    for path in ["/reuse", "/noreuse", "/noticket"] {
        for _ in 0..3 {
            let r = get_closing(proxy.port("fe"), path);
            assert_eq!(r.status, 200, "{}", r.head);
        }
    }
    let seen = app.seen();
    let resumed = |path: &str| seen.iter().filter(|l| l.starts_with(&format!("{path} "))).map(|l| l.ends_with(" resumed")).collect::<Vec<_>>();
    assert_eq!(resumed("/reuse"), [false, true, true], "{seen:?}");
    assert_eq!(resumed("/noreuse"), [false, false, false], "{seen:?}");
    assert_eq!(resumed("/noticket"), [false, true, true], "a session id resumes it: {seen:?}");
}

/// Server `crt`: a TLS server requiring a client certificate from its CA is reached
/// with `crt client.pem` (also given by `default-server`, relative to `crt-base`);
/// without one its handshake fails and the client gets a 503. A missing file is
/// refused by `-c` at the server line, with HAProxy 2.6's message.
#[test]
fn server_crt_presents_a_client_certificate() {
    let ca = TestCa::new();
    let (srv_pem, _) = cert(&["b.test"]);
    let app = serve_tls(Arc::new(ca.requiring_clients(&srv_pem)), |mut s| {
        while read_head(&mut s).is_some() {
            let n = s.conn.peer_certificates().map_or(0, |c| c.len());
            let body = format!("client certificates: {n}");
            if write!(s, "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}", body.len()).and_then(|_| s.flush()).is_err() {
                return;
            }
        }
    });
    let cfg = "global
    crt-base {{dir}}/certs
defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
    retries 0
    log stdout format raw local0
    option httplog
frontend fe
    bind 127.0.0.1:{{fe}}
    use_backend without if { path_beg /without }
    use_backend bydefault if { path_beg /default }
    default_backend with
backend with
    server s1 127.0.0.1:{{app}} ssl verify none crt {{dir}}/certs/client.pem
backend bydefault
    default-server crt client.pem
    server s1 127.0.0.1:{{app}} ssl verify none
backend without
    server s1 127.0.0.1:{{app}} ssl verify none
";
    let client_pem = ca.client("moonproxy.test");
    for bin in moonproxy_and_haproxy() {
        let who = bin.display();
        let proxy = ProxyBuilder::new(cfg).bin(&bin).file("certs/client.pem", &client_pem).port("app", app).start();
        let mut c = proxy.connect("fe");
        let r = c.http_get("/");
        assert_eq!(r.status, 200, "{who}: {}", r.head);
        assert_eq!(String::from_utf8_lossy(&r.body), "client certificates: 1");
        let r = proxy.connect("fe").http_get("/default");
        assert_eq!(r.status, 200, "{who}: default-server crt, relative to crt-base: {}", r.head);
        let r = proxy.connect("fe").http_get("/without");
        let line = proxy.wait_for_line(|l| l.contains("/without"), Duration::from_secs(5));
        if bin == moonproxy_bin() {
            // A connection failure (no connect time, `SC`), though TLS 1.3 tells the
            // client only after its side of the handshake is done.
            assert_eq!(r.status, 503, "{who}: no client certificate: the server refuses the handshake: {}", r.head);
            assert!(line.contains(" fe without/s1 0/0/-1/-1/") && line.contains(" SC-- "), "{who}: {line}");
        } else {
            // HAProxy says 503 `SC` or, when the alert comes after it sent the
            // request, 502 `SH`: a race between its threads and the server.
            assert!(matches!(r.status, 502 | 503), "{who}: {}", r.head);
        }
    }

    let out = ProxyBuilder::new(&cfg.replace("crt client.pem", "crt missing.pem")).file("certs/client.pem", "").free_port("fe").port("app", app).flags(["-c"]).run();
    assert_ne!(out.code(), Some(0));
    assert!(out.stderr.contains(":20] : 'server bydefault/s1' : unable to stat SSL certificate from file '"), "{}", out.stderr);
    assert!(out.stderr.contains("certs/missing.pem' : No such file or directory."), "{}", out.stderr);
    let out = ProxyBuilder::new(cfg).file("certs/client.pem", "junk\n").free_port("fe").port("app", app).flags(["-c"]).run();
    assert_ne!(out.code(), Some(0));
    assert!(out.stderr.contains(":17] : 'server with/s1' : unable to load SSL certificate from file '"), "{}", out.stderr);
}

/// The TLVs of a PROXY v2 header over TCP/IPv4 (after its 12 address bytes).
fn v2_tlvs(header: &[u8]) -> Vec<u8> {
    assert_eq!(&header[12..14], &[0x21, 0x11], "PROXY v2, TCP over IPv4: {header:?}");
    header[16 + 12..].to_vec()
}

/// `send-proxy-v2-ssl`, `send-proxy-v2-ssl-cn` and `send-proxy-v2 proxy-v2-options
/// authority,ssl,cert-cn,ssl-cipher`: the TLVs describe the client's TLS (flags, verify
/// result, version, the client certificate's CN, the cipher, its SNI), byte for byte as
/// HAProxy 2.6 writes them, with and without a client certificate.
#[test]
fn send_proxy_v2_ssl_tlvs_as_haproxy() {
    use std::io::Read;
    let ca = TestCa::new();
    let (srv_pem, _) = cert(&["a.test"]);
    let client_pem = ca.client("client one");
    let headers = Arc::new(Mutex::new(Vec::new()));
    let seen = headers.clone();
    let app = Backend::custom(move |mut sock, _| {
        let mut fixed = [0u8; 16];
        if sock.read_exact(&mut fixed).is_err() {
            return;
        }
        let mut rest = vec![0u8; u16::from_be_bytes([fixed[14], fixed[15]]) as usize];
        sock.read_exact(&mut rest).unwrap();
        seen.lock().unwrap().push([&fixed[..], &rest].concat());
        let _ = try_read_response(&mut sock); // the request
        let _ = sock.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    });
    let cfg = "defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{{fe}} ssl crt {{dir}}/a.pem verify optional ca-file {{dir}}/ca.pem
    use_backend cn if { path_beg /cn }
    use_backend opts if { path_beg /opts }
    use_backend sig if { path_beg /sig }
    default_backend ssl
backend ssl
    server s 127.0.0.1:{{app}} send-proxy-v2-ssl
backend cn
    server s 127.0.0.1:{{app}} send-proxy-v2-ssl-cn
backend opts
    server s 127.0.0.1:{{app}} send-proxy-v2 proxy-v2-options authority,ssl,cert-cn,ssl-cipher
backend sig
    server s 127.0.0.1:{{app}} send-proxy-v2 proxy-v2-options cert-sig,cert-key
";
    let paths = ["/ssl", "/cn", "/opts", "/sig"];
    let mut results = Vec::new();
    for bin in moonproxy_and_haproxy() {
        let proxy = ProxyBuilder::new(cfg).bin(&bin).file("a.pem", &srv_pem).file("ca.pem", &ca.pem()).port("app", app.port()).start();
        let mut tlvs = Vec::new();
        for client in [Some(client_pem.as_str()), None] {
            for path in paths {
                let mut s = handshake(proxy.port("fe"), any_server(client), Some("a.test")).unwrap();
                assert_eq!(get(&mut s, path).map(|r| r.0), Some("HTTP/1.1 200 OK".to_string()), "{}", bin.display());
                let header = headers.lock().unwrap().pop().expect("a PROXY header");
                tlvs.push(v2_tlvs(&header));
            }
        }
        results.push((bin, tlvs));
    }
    let ssl_tlv = |flags: u8, subs: &[(u8, &str)]| {
        let mut v = vec![flags, 0, 0, 0, 0];
        for (ty, text) in subs {
            v.extend_from_slice(&[*ty, 0, text.len() as u8]);
            v.extend_from_slice(text.as_bytes());
        }
        [vec![0x20, 0, v.len() as u8], v].concat()
    };
    let (name, tlvs) = &results[0];
    let v = (0x21, "TLSv1.3");
    let cipher = (0x23, "TLS_AES_256_GCM_SHA384");
    let authority = [0x02, 0x00, 0x06].iter().copied().chain(*b"a.test").collect::<Vec<u8>>();
    // `cert-sig`, `cert-key`: the frontend's own certificate (rcgen's: ECDSA P-256).
    let (sig, key) = ((0x24, "ecdsa-with-SHA256"), (0x25, "EC256"));
    assert_eq!(tlvs[0], ssl_tlv(0x07, &[v]), "{}: certificate, verified", name.display());
    assert_eq!(tlvs[1], ssl_tlv(0x07, &[v, (0x22, "client one")]), "{}", name.display());
    assert_eq!(tlvs[2], [authority.clone(), ssl_tlv(0x07, &[v, (0x22, "client one"), cipher])].concat(), "{}", name.display());
    // The key's sub-TLV before the signature's, as HAProxy writes them.
    assert_eq!(tlvs[3], ssl_tlv(0x07, &[v, key, sig]), "{}", name.display());
    assert_eq!(tlvs[4], ssl_tlv(0x01, &[v]), "{}: no certificate", name.display());
    assert_eq!(tlvs[5], ssl_tlv(0x01, &[v]), "{}", name.display());
    assert_eq!(tlvs[6], [authority, ssl_tlv(0x01, &[v, cipher])].concat(), "{}", name.display());
    assert_eq!(tlvs[7], ssl_tlv(0x01, &[v, key, sig]), "{}", name.display());
    for (other, theirs) in &results[1..] {
        assert_eq!(theirs, tlvs, "{} and {} write the same TLVs", name.display(), other.display());
    }
}

/// `ssl send-proxy`: the PROXY header goes out in clear before the ClientHello, as
/// HAProxy sends it (a server behind `accept-proxy ssl` reads it first). moonproxy
/// used to send it inside the TLS session.
#[test]
fn send_proxy_on_a_tls_server_precedes_the_handshake() {
    use std::io::Read;
    let (srv_pem, _) = cert(&["a.test"]);
    let config = Arc::new(server_config(&srv_pem));
    let app = Backend::custom(move |mut sock, _| {
        let mut line = Vec::new();
        let mut byte = [0u8; 1];
        while !line.ends_with(b"\r\n") && line.len() < 108 {
            if sock.read_exact(&mut byte).is_err() {
                return;
            }
            line.push(byte[0]);
        }
        let proxy_line = String::from_utf8_lossy(&line).trim_end().to_string();
        let mut tls = rustls::StreamOwned::new(rustls::ServerConnection::new(config.clone()).unwrap(), sock);
        if read_head(&mut tls).is_none() {
            return;
        }
        // Only the protocol and family: the addresses are the client's.
        let shape: Vec<&str> = proxy_line.split(' ').take(2).collect();
        let body = shape.join(" ");
        let _ = tls.write_all(format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len()).as_bytes());
        let _ = tls.flush();
    });
    let cfg = "defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{{fe}}
    default_backend be
backend be
    server s 127.0.0.1:{{app}} ssl verify none send-proxy
";
    for bin in moonproxy_and_haproxy() {
        let proxy = ProxyBuilder::new(cfg).bin(&bin).port("app", app.port()).start();
        let r = get_closing(proxy.port("fe"), "/");
        assert_eq!((r.status, String::from_utf8_lossy(&r.body).into_owned()), (200, "PROXY TCP4".to_string()), "{}", bin.display());
    }
}

/// A client offering `suites` (OpenSSL names, in its order of preference) and `groups`.
fn offering(suites: &[&str], groups: &[rustls::NamedGroup]) -> Arc<rustls::ClientConfig> {
    let base = rustls::crypto::ring::default_provider();
    let cipher_suites = suites.iter().map(|n| *base.cipher_suites.iter().find(|s| moonproxy::tls::cipher_name(**s) == *n).expect(n)).collect();
    let kx_groups = base.kx_groups.iter().copied().filter(|g| groups.contains(&g.name())).collect();
    let provider = Arc::new(rustls::crypto::CryptoProvider { cipher_suites, kx_groups, ..base });
    let tls13 = suites.iter().any(|s| s.starts_with("TLS_"));
    let versions: &[&rustls::SupportedProtocolVersion] = if tls13 { &[&rustls::version::TLS13] } else { &[&rustls::version::TLS12] };
    let mut c = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(moonproxy::tls::certs::NoVerify(common::tls::provider())))
        .with_no_client_auth();
    c.alpn_protocols = vec![b"http/1.1".to_vec()];
    Arc::new(c)
}

/// `ciphers`, `ciphersuites` and `curves` narrow what a bind offers, and the server's
/// order of suites wins unless `prefer-client-ciphers`: the suite negotiated (or the
/// handshake refused) is the same on moonproxy and HAProxy 2.6.
#[test]
fn cipher_and_curve_lists_narrow_the_handshake_as_on_haproxy() {
    use rustls::NamedGroup::{secp256r1, secp384r1, X25519};
    let (pem, _) = cert(&["a.test"]);
    for bin in moonproxy_and_haproxy() {
        let p = ProxyBuilder::new(
            "defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{{server_order}} ssl crt {{dir}}/a.pem ciphers ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-ECDSA-AES256-GCM-SHA384 ciphersuites TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256
    bind 127.0.0.1:{{client_order}} ssl crt {{dir}}/a.pem prefer-client-ciphers ciphers BOGUS:ECDHE+CHACHA20:ECDHE+AES256 ciphersuites TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256
    bind 127.0.0.1:{{p384}} ssl crt {{dir}}/a.pem curves P-521:P-384
    http-request return status 200 content-type text/plain lf-string \"%[ssl_fc_protocol] %[ssl_fc_cipher]\"
",
        )
        .bin(&bin)
        .file("a.pem", &pem)
        .start();
        let who = bin.display().to_string();
        let ask = |port: &str, suites: &[&str], groups: &[rustls::NamedGroup]| {
            let mut s = handshake(p.port(port), offering(suites, groups), Some("a.test")).ok()?;
            get(&mut s, "/").map(|(_, body)| body)
        };
        let tls12 = ["ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-ECDSA-CHACHA20-POLY1305"];
        let tls13 = ["TLS_AES_128_GCM_SHA256", "TLS_CHACHA20_POLY1305_SHA256", "TLS_AES_256_GCM_SHA384"];
        // P-256 too: OpenSSL refuses a TLS 1.2 client whose groups leave out the curve of
        // its ECDSA certificate.
        let both = [X25519, secp256r1, secp384r1];
        assert_eq!(ask("server_order", &tls12, &both).as_deref(), Some("TLSv1.2 ECDHE-ECDSA-CHACHA20-POLY1305"), "{who}");
        assert_eq!(ask("server_order", &tls13, &both).as_deref(), Some("TLSv1.3 TLS_AES_256_GCM_SHA384"), "{who}");
        assert_eq!(ask("client_order", &tls12, &both).as_deref(), Some("TLSv1.2 ECDHE-ECDSA-AES256-GCM-SHA384"), "{who}");
        assert_eq!(ask("client_order", &tls13, &both).as_deref(), Some("TLSv1.3 TLS_CHACHA20_POLY1305_SHA256"), "{who}");
        assert_eq!(ask("server_order", &tls12[..1], &both), None, "{who}: a suite the list leaves out");
        assert_eq!(ask("server_order", &tls13[..1], &both), None, "{who}: a suite the list leaves out");
        assert_eq!(ask("p384", &tls13, &[X25519]), None, "{who}: a group the list leaves out");
        assert_eq!(ask("p384", &tls13, &both).as_deref(), Some("TLSv1.3 TLS_AES_256_GCM_SHA384"), "{who}");
    }
}

/// Cipher and curve lists are read as OpenSSL reads them: one selecting nothing, an
/// unknown curve, is refused at its line with HAProxy's words; one naming only suites
/// rustls lacks leaves that protocol version out, with a warning.
#[test]
fn cipher_and_curve_lists_are_checked_at_their_line() {
    let (pem, _) = cert(&["a.test"]);
    let files = [("a.pem", pem.as_str())];
    for (bind, error) in [
        ("ciphers BOGUS", "unable to set SSL cipher list to 'BOGUS'"),
        ("ciphers AES128-SHA:!AES128-SHA", "unable to set SSL cipher list to 'AES128-SHA:!AES128-SHA'"),
        ("ciphersuites BOGUS", "unable to set TLS 1.3 cipher suites to 'BOGUS'"),
        ("curves X25519:BOGUS", "unable to set SSL curves list to 'X25519:BOGUS'"),
        ("ecdhe p-256", "unable to set elliptic named curve to 'p-256'"),
        ("curves", "'curves' : missing curve suite"),
        ("curves X448", "none of the groups of 'curves X448' is available in moonproxy"),
    ] {
        let (code, err) = check_bind(&files, "", &format!("ssl crt {{{{dir}}}}/a.pem {bind}"));
        assert_eq!(code, Some(1), "{bind}: {err}");
        assert!(err.contains(":9] : 'bind 127.0.0.1:") && err.contains(error), "{bind}: {err}");
    }
    let (code, err) = check_bind(&files, "    ssl-default-bind-ciphers AES128-SHA:DHE-RSA-AES256-GCM-SHA384", "ssl crt {{dir}}/a.pem");
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains("[WARNING]") && err.contains("none of the TLS 1.2 suites selected by 'ciphers AES128-SHA:DHE-RSA-AES256-GCM-SHA384' is available in moonproxy: TLS 1.2 is not offered."), "{err}");
}

/// A server line's `ciphers` and `ciphersuites` narrow what moonproxy offers the server:
/// the backend (a rustls server here) sees the suite the list leaves, as from HAProxy 2.6.
#[test]
fn server_cipher_lists_narrow_what_is_offered_to_the_server() {
    let (pem, _) = cert(&["b.test"]);
    let port = serve_tls(Arc::new(server_config(&pem)), |mut s| {
        if read_head(&mut s).is_some() {
            let suite = s.conn.negotiated_cipher_suite().map(moonproxy::tls::cipher_name).unwrap_or_default();
            let body = format!("{:?} {suite}", s.conn.protocol_version().unwrap());
            let _ = write!(s, "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}", body.len());
            let _ = s.flush();
        }
    });
    for bin in moonproxy_and_haproxy() {
        let p = ProxyBuilder::new(
            "defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{{tls12}}
    bind 127.0.0.1:{{tls13}}
    use_backend b13 if { dst_port {{tls13}} }
    default_backend b12
backend b12
    server s 127.0.0.1:{{be}} ssl verify none ssl-max-ver TLSv1.2 ciphers ECDHE+CHACHA20:!aRSA
backend b13
    server s 127.0.0.1:{{be}} ssl verify none ciphersuites TLS_CHACHA20_POLY1305_SHA256
",
        )
        .bin(&bin)
        .port("be", port)
        .start();
        let who = bin.display().to_string();
        for (listener, expected) in [("tls12", "TLSv1_2 ECDHE-ECDSA-CHACHA20-POLY1305"), ("tls13", "TLSv1_3 TLS_CHACHA20_POLY1305_SHA256")] {
            let mut c = p.connect(listener);
            c.send(b"GET / HTTP/1.1\r\nhost: b.test\r\nconnection: close\r\n\r\n");
            let (got, _) = c.recv_until_close();
            let got = String::from_utf8_lossy(&got);
            assert!(got.starts_with("HTTP/1.1 200") && got.ends_with(expected), "{who}: {got}");
        }
    }
}

/// A client certificate resolver that notes the CA names the server's
/// CertificateRequest listed, and presents `cert` if any.
#[derive(Debug)]
struct NamesSeen {
    names: Mutex<Option<Vec<Vec<u8>>>>,
    cert: Option<Arc<rustls::sign::CertifiedKey>>,
}

impl rustls::client::ResolvesClientCert for NamesSeen {
    fn resolve(&self, names: &[&[u8]], _: &[rustls::SignatureScheme]) -> Option<Arc<rustls::sign::CertifiedKey>> {
        *self.names.lock().unwrap() = Some(names.iter().map(|n| n.to_vec()).collect());
        self.cert.clone()
    }
    fn has_certs(&self) -> bool {
        self.cert.is_some()
    }
}

/// `ca-verify-file` adds CAs that client certificates are verified against without
/// listing them in the CertificateRequest, and `no-ca-names` lists none: the names a
/// client is sent, and a client certificate issued by the `ca-verify-file` CA being
/// accepted, are the same on moonproxy and HAProxy 2.6.
#[test]
fn ca_verify_file_and_no_ca_names_choose_the_names_sent() {
    let (pem, _) = cert(&["a.test"]);
    let (listed, unlisted) = (TestCa::named("listed CA"), TestCa::named("unlisted CA"));
    let client_pem = unlisted.client("client.test");
    let key = provider().key_provider.load_private_key(key_of(&client_pem)).unwrap();
    let client_key = Arc::new(rustls::sign::CertifiedKey::new(chain_of(&client_pem), key));
    let subject = |ca: &TestCa| {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(ca.cert.der().clone()).unwrap();
        roots.subjects()[0].as_ref().to_vec()
    };
    for bin in moonproxy_and_haproxy() {
        let p = ProxyBuilder::new(
            "defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{{both}} ssl crt {{dir}}/a.pem verify optional ca-file {{dir}}/listed.pem ca-verify-file {{dir}}/unlisted.pem
    bind 127.0.0.1:{{plain}} ssl crt {{dir}}/a.pem verify optional ca-file {{dir}}/listed.pem
    bind 127.0.0.1:{{none}} ssl crt {{dir}}/a.pem verify optional ca-file {{dir}}/listed.pem no-ca-names
    bind 127.0.0.1:{{only}} ssl crt {{dir}}/a.pem verify required ca-verify-file {{dir}}/unlisted.pem
    http-request return status 200 content-type text/plain lf-string \"%[ssl_c_used] %[ssl_c_verify]\"
",
        )
        .bin(&bin)
        .file("a.pem", &pem)
        .file("listed.pem", &listed.pem())
        .file("unlisted.pem", &unlisted.pem())
        .start();
        let who = bin.display().to_string();
        let ask = |port: &str, cert: Option<Arc<rustls::sign::CertifiedKey>>| {
            let seen = Arc::new(NamesSeen { names: Mutex::new(None), cert });
            let mut c = rustls::ClientConfig::builder_with_provider(provider())
                .with_safe_default_protocol_versions()
                .unwrap()
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(moonproxy::tls::certs::NoVerify(provider())))
                .with_client_cert_resolver(seen.clone());
            c.alpn_protocols = vec![b"http/1.1".to_vec()];
            let body = handshake(p.port(port), Arc::new(c), Some("a.test")).ok().and_then(|mut s| get(&mut s, "/")).map(|(_, b)| b);
            let names = seen.names.lock().unwrap().clone();
            (names, body)
        };
        let listed_name = vec![subject(&listed)];
        assert_eq!(ask("both", None), (Some(listed_name.clone()), Some("0 0".into())), "{who}");
        assert_eq!(ask("plain", None), (Some(listed_name), Some("0 0".into())), "{who}");
        assert_eq!(ask("none", None), (Some(vec![]), Some("0 0".into())), "{who}");
        assert_eq!(ask("only", Some(client_key.clone())), (Some(vec![]), Some("1 0".into())), "{who}: verified against the unlisted CA");
        assert_eq!(ask("both", Some(client_key.clone())).1.as_deref(), Some("1 0"), "{who}");
    }
}
