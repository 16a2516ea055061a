//! The stats socket's certificate commands (`show ssl cert`, `set`/`commit`/`abort ssl
//! cert`, `set ssl ocsp-response`): the same command sequence is run against moonproxy
//! and HAProxy 2.6 and the answers compared (the proxies' directories normalised to
//! `DIR`), and a TLS client sees the old certificate until the commit, the new one
//! from then on, while a connection opened before keeps working.

mod common;

use common::tls::{any_server, connect, handshake, TestCa};
use common::*;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use std::io::{Read, Write};
use std::path::Path;

const CONFIG: &str = "global
    stats socket {{dir}}/cli.sock level admin
defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{{tls}} ssl crt {{dir}}/site.pem
    bind 127.0.0.1:{{other}} ssl crt {{dir}}/b.pem
    http-request return status 200 content-type text/plain string ok
";

/// The site's certificates, issued by one CA: the one loaded and its renewal.
struct Certs {
    old: String,
    new: String,
    b: String,
}

impl Certs {
    fn new() -> Certs {
        let ca = TestCa::new();
        let issue = |cn: &str| {
            let mut p = rcgen::CertificateParams::new(vec![cn.to_string(), format!("www.{cn}")]).unwrap();
            p.distinguished_name.push(rcgen::DnType::CommonName, cn);
            p.serial_number = Some(rcgen::SerialNumber::from_slice(cn.as_bytes()));
            // The CA certificate follows the leaf, as in a real `crt` file.
            let pem = ca.issue(p);
            let (leaf, key) = pem.split_at(pem.find("-----BEGIN PRIVATE KEY").unwrap());
            format!("{leaf}{}{key}", ca.pem())
        };
        Certs { old: issue("site.test"), new: issue("renewed.test"), b: issue("b.test") }
    }
}

fn leaf(pem: &str) -> CertificateDer<'static> {
    CertificateDer::pem_slice_iter(pem.as_bytes()).next().unwrap().unwrap()
}

/// The command sequence a renewal hook and an operator would send.
fn commands(c: &Certs) -> Vec<String> {
    [
        "show ssl cert".to_string(),
        "show ssl cert DIR/site.pem".into(),
        "show ssl cert DIR/missing.pem".into(),
        "show ssl cert *DIR/site.pem".into(),
        "abort ssl cert DIR/site.pem".into(),
        "commit ssl cert DIR/site.pem".into(),
        format!("set ssl cert DIR/site.pem <<\n{}", c.new),
        "show ssl cert".into(),
        "show ssl cert *DIR/site.pem".into(),
        format!("set ssl cert DIR/site.pem <<\n{}", c.new),
        "commit ssl cert DIR/b.pem".into(),
        "abort ssl cert DIR/b.pem".into(),
        // The TLS client checks the old certificate here (see `run`).
        "commit ssl cert DIR/site.pem".into(),
        "show ssl cert".into(),
        "show ssl cert DIR/site.pem".into(),
        "commit ssl cert DIR/site.pem".into(),
        format!("set ssl cert DIR/missing.pem <<\n{}", c.new),
        "set ssl cert DIR/site.pem <<\ngarbage\n".into(),
        "set ssl cert DIR/site.pem".into(),
        format!("set ssl cert DIR/b.pem <<\n{}", c.b),
        format!("set ssl cert DIR/site.pem <<\n{}", c.old),
        "abort ssl cert DIR/b.pem".into(),
        "commit ssl cert".into(),
        "abort ssl cert".into(),
        "set ssl ocsp-response".into(),
        "set ssl ocsp-response QUJD".into(),
        "user;show ssl cert".into(),
        "help show ssl cert".into(),
    ]
    .into()
}

/// Where the TLS client looks, by the index of the command it runs before.
const BEFORE_COMMIT: usize = 12;

/// What one proxy answers, and the leaf certificates a TLS client saw: before the
/// commit, after it, and on a connection opened before it.
struct Run {
    answers: Vec<String>,
    seen: Vec<CertificateDer<'static>>,
}

fn run(bin: &Path, c: &Certs) -> Run {
    let proxy = ProxyBuilder::new(CONFIG).bin(bin).file("site.pem", &c.old).file("b.pem", &c.b).start();
    let sock = proxy.dir().join("cli.sock");
    assert!(proxy.wait_for_path(&sock, DEADLINE));
    let dir = proxy.dir().display().to_string();
    let port = proxy.port("tls");
    let mut seen = Vec::new();
    let mut answers = Vec::new();
    let mut early = None;
    for (i, cmd) in commands(c).iter().enumerate() {
        if i == BEFORE_COMMIT {
            let mut s = connect(port, any_server(None), "site.test");
            seen.push(s.conn.peer_certificates().unwrap()[0].clone());
            s.write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
            let (head, _) = common::tls::read_response(&mut s);
            assert!(head.starts_with("HTTP/1.1 200"), "{head}");
            early = Some(s);
        }
        answers.push(cli(&sock, &format!("{}\n", cmd.replace("DIR", &dir))).replace(&dir, "DIR"));
    }
    let s = handshake(port, any_server(None), Some("site.test")).unwrap();
    seen.push(s.conn.peer_certificates().unwrap()[0].clone());
    // The connection opened before the commit goes on with its certificate.
    let mut early = early.unwrap();
    seen.push(early.conn.peer_certificates().unwrap()[0].clone());
    early.write_all(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").unwrap();
    let mut rest = Vec::new();
    let _ = early.read_to_end(&mut rest);
    assert!(String::from_utf8_lossy(&rest).starts_with("HTTP/1.1 200"), "{}", String::from_utf8_lossy(&rest));
    Run { answers, seen }
}

#[test]
fn certificate_commands_match_haproxy_and_commit_serves_the_new_certificate() {
    let certs = Certs::new();
    let runs: Vec<(String, Run)> = moonproxy_and_haproxy().iter().map(|b| (b.display().to_string(), run(b, &certs))).collect();
    let ours = &runs[0].1;
    let a = &ours.answers;
    assert_eq!(a[0], "# filename\nDIR/b.pem\nDIR/site.pem\n\n");
    assert!(a[1].starts_with("Filename: DIR/site.pem\nStatus: Used\nSerial: 736974652E74657374\n"), "{}", a[1]);
    assert!(a[1].contains("\nSubject Alternative Name: DNS:site.test, DNS:www.site.test\nAlgorithm: EC256\n"), "{}", a[1]);
    assert!(a[1].contains("\nSubject: /CN=site.test\nIssuer: /CN=moonproxy test CA\nChain Subject: /CN=moonproxy test CA\n"), "{}", a[1]);
    assert_eq!(a[6], "Transaction created for certificate DIR/site.pem!\n\n");
    assert_eq!(a[7], "# transaction\n*DIR/site.pem\n# filename\nDIR/b.pem\nDIR/site.pem\n\n");
    assert!(a[8].starts_with("Filename: *DIR/site.pem\nStatus: Unused\n") && a[8].contains("/CN=renewed.test"), "{}", a[8]);
    assert_eq!(a[12], "Committing DIR/site.pem.\nSuccess!\n\n", "a dot for its one bind line");
    assert!(a[14].contains("Subject: /CN=renewed.test\n"), "{}", a[14]);
    assert_eq!(a[20], "The ongoing transaction is about 'DIR/b.pem' but you are trying to set 'DIR/site.pem'\nCan't update DIR/site.pem!\n\n");
    assert_eq!(a[21], "Transaction aborted for certificate 'DIR/b.pem'!\n\n");
    assert_eq!(a[26], "\nPermission denied\n\n", "user;show ssl cert");
    assert_eq!(ours.seen[0], leaf(&certs.old), "before the commit");
    assert_eq!(ours.seen[1], leaf(&certs.new), "after the commit");
    assert_eq!(ours.seen[2], leaf(&certs.old), "a connection made before keeps its certificate");
    if let Some((hname, theirs)) = runs.get(1) {
        for (i, cmd) in commands(&certs).iter().enumerate() {
            // HAProxy 2.6 puts a payload for another file into the ongoing transaction
            // (doc/tls.md): the step that shows it is not compared; below the admin
            // level, it answers `Can't allocate memory!`.
            if i == 20 || i == 26 {
                continue;
            }
            assert_eq!(ours.answers[i], theirs.answers[i], "answer to {:?} ({hname})", cmd.lines().next().unwrap());
        }
        assert_eq!(ours.seen, theirs.seen, "certificates seen ({hname})");
    }
}

/// A DER element (long-form lengths as needed).
fn der(tag: u8, body: &[u8]) -> Vec<u8> {
    let len = body.len();
    let mut out = vec![tag];
    match len {
        0..=127 => out.push(len as u8),
        128..=255 => out.extend([0x81, len as u8]),
        _ => out.extend([0x82, (len >> 8) as u8, len as u8]),
    }
    out.extend_from_slice(body);
    out
}

/// The first DER element of `d`: its header length and its whole encoding; and what
/// follows it.
fn element(d: &[u8]) -> ((usize, &[u8]), &[u8]) {
    let (len, head) = match d[1] {
        n if n < 0x80 => (n as usize, 2),
        0x81 => (d[2] as usize, 3),
        _ => ((d[2] as usize) << 8 | d[3] as usize, 4),
    };
    let (whole, rest) = d.split_at(head + len);
    ((head, whole), rest)
}

/// The contents of the first DER element of `d`.
fn contents(d: &[u8]) -> &[u8] {
    let ((head, whole), _) = element(d);
    &whole[head..]
}

/// A successful OCSP response (unsigned: moonproxy does not check the signature)
/// about the certificate of serial number `serial` issued by the issuer of `leaf`.
fn ocsp_response_for(leaf: &[u8], serial: &[u8]) -> Vec<u8> {
    let tbs = contents(contents(leaf));
    let (_version, rest) = element(tbs);
    let (_serial, rest) = element(rest);
    let (_alg, rest) = element(rest);
    let ((_, issuer), _) = element(rest);
    let sha1 = der(0x30, &[der(0x06, &[0x2b, 0x0e, 0x03, 0x02, 0x1a]), vec![0x05, 0x00]].concat());
    let cert_id = der(0x30, &[sha1.clone(), der(0x04, &moonproxy::tls::x509::sha1(issuer)), der(0x04, &[0; 20]), der(0x02, serial)].concat());
    let time = der(0x18, b"20260101000000Z");
    let single = der(0x30, &[cert_id, vec![0x80, 0x00], time.clone()].concat());
    let data = der(0x30, &[der(0xa2, &der(0x04, &[0; 20])), time, der(0x30, &single)].concat());
    let basic = der(0x30, &[data, sha1, der(0x03, &[0, 1, 2, 3])].concat());
    let oid = der(0x06, &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01, 0x01]); // id-pkix-ocsp-basic
    der(0x30, &[vec![0x0a, 0x01, 0x00], der(0xa0, &der(0x30, &[oid, der(0x04, &basic)].concat()))].concat())
}

/// A client verifier that accepts any certificate and keeps the OCSP response the
/// server stapled (empty: none).
#[derive(Debug)]
struct StapleRecorder(std::sync::Mutex<Option<Vec<u8>>>);

impl rustls::client::danger::ServerCertVerifier for StapleRecorder {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &rustls::pki_types::ServerName<'_>,
        ocsp_response: &[u8],
        _: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        *self.0.lock().unwrap() = Some(ocsp_response.to_vec());
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(&self, m: &[u8], c: &CertificateDer<'_>, d: &rustls::DigitallySignedStruct) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        moonproxy::tls::certs::NoVerify(common::tls::provider()).verify_tls12_signature(m, c, d)
    }

    fn verify_tls13_signature(&self, m: &[u8], c: &CertificateDer<'_>, d: &rustls::DigitallySignedStruct) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        moonproxy::tls::certs::NoVerify(common::tls::provider()).verify_tls13_signature(m, c, d)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        moonproxy::tls::certs::NoVerify(common::tls::provider()).supported_verify_schemes()
    }
}

/// The OCSP response stapled to a new handshake on `port` (empty: none).
fn stapled(port: u16) -> Vec<u8> {
    use std::sync::Arc;
    let recorder = Arc::new(StapleRecorder(std::sync::Mutex::new(None)));
    let verifier: Arc<dyn rustls::client::danger::ServerCertVerifier> = recorder.clone();
    let config = rustls::ClientConfig::builder_with_provider(common::tls::provider()).with_safe_default_protocol_versions().unwrap().dangerous().with_custom_certificate_verifier(verifier).with_no_client_auth();
    handshake(port, Arc::new(config), Some("site.test")).expect("handshake");
    let got = recorder.0.lock().unwrap().take();
    got.expect("the certificate was verified")
}

/// `set ssl ocsp-response` staples the response to the certificate it is about (its
/// serial number and issuer), from the next handshake on; a response about no loaded
/// certificate is refused with HAProxy's message. moonproxy only: HAProxy checks the
/// response's signature and dates, which the hand-made responses here do not pass.
#[test]
fn ocsp_responses_are_stapled_to_the_certificate_they_are_about() {
    use moonproxy::sample::conv::b64_encode;
    let certs = Certs::new();
    let proxy = ProxyBuilder::new(CONFIG).file("site.pem", &certs.old).file("b.pem", &certs.b).start();
    let sock = proxy.dir().join("cli.sock");
    assert!(proxy.wait_for_path(&sock, DEADLINE));
    let port = proxy.port("tls");
    assert!(stapled(port).is_empty(), "nothing stapled at first");
    let site = leaf(&certs.old);
    let other = ocsp_response_for(&site, b"nobody");
    assert_eq!(
        cli(&sock, &format!("set ssl ocsp-response {}\n", String::from_utf8(b64_encode(&other, false)).unwrap())),
        "OCSP single response: Certificate ID does not match any certificate or issuer.\n\n"
    );
    let response = ocsp_response_for(&site, b"site.test");
    let b64 = String::from_utf8(b64_encode(&response, false)).unwrap();
    // As a payload, split on lines as `base64` prints it.
    let lines: Vec<&str> = b64.as_bytes().chunks(64).map(|c| std::str::from_utf8(c).unwrap()).collect();
    assert_eq!(cli(&sock, &format!("set ssl ocsp-response <<\n{}\n\n", lines.join("\n"))), "OCSP Response updated!\n\n");
    assert_eq!(stapled(port), response);
    assert!(stapled(proxy.port("other")).is_empty(), "b.pem is another certificate");
}

const LIST_CONFIG: &str = "global
    stats socket {{dir}}/cli.sock level admin
    crt-base {{dir}}
defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{{tls}} ssl crt-list {{dir}}/list.txt
    http-request return status 200 content-type text/plain string ok
";

/// The crt-list and `new`/`del ssl cert` commands, run against moonproxy and
/// HAProxy: the answers (directories as `DIR`), and the certificate a client asking
/// for `c.test` gets (by index: the command it runs before).
fn crt_list_commands(c_pem: &str) -> Vec<String> {
    [
        "show ssl crt-list".to_string(),
        "show ssl crt-list DIR/list.txt".into(),
        "show ssl crt-list -n DIR/list.txt".into(),
        "show ssl crt-list DIR/nope.txt".into(),
        "show ssl crt-list -n".into(),
        "add ssl crt-list DIR/list.txt DIR/c.pem".into(),
        "new ssl cert DIR/c.pem".into(),
        "new ssl cert DIR/c.pem".into(),
        "add ssl crt-list DIR/list.txt DIR/c.pem".into(),
        "show ssl cert".into(),
        format!("set ssl cert DIR/c.pem <<\n{c_pem}"),
        "commit ssl cert DIR/c.pem".into(),
        // 12: c.test gets the default certificate.
        "add ssl crt-list DIR/list.txt DIR/c.pem".into(),
        // 13: c.test gets its own.
        "show ssl crt-list -n DIR/list.txt".into(),
        "del ssl cert DIR/c.pem".into(),
        "del ssl crt-list DIR/list.txt DIR/c.pem".into(),
        "del ssl crt-list DIR/list.txt DIR/c.pem".into(),
        "del ssl crt-list DIR/list.txt".into(),
        "add ssl crt-list DIR/nope.txt DIR/c.pem".into(),
        "add ssl crt-list".into(),
        "del ssl crt-list DIR/nope.txt DIR/c.pem".into(),
        "show ssl cert".into(),
        "del ssl cert DIR/c.pem".into(),
        "del ssl cert DIR/c.pem".into(),
        "new ssl cert".into(),
        "del ssl cert".into(),
        // 26: the default again.
        "show ssl crt-list DIR/list.txt".into(),
        "help add ssl".into(),
    ]
    .into()
}

const LOOK_AT: [usize; 3] = [12, 13, 26];

#[test]
fn crt_list_commands_match_haproxy_and_serve_the_added_certificate() {
    let ca = TestCa::new();
    let issue = |cn: &str| {
        let mut p = rcgen::CertificateParams::new(vec![cn.to_string()]).unwrap();
        p.distinguished_name.push(rcgen::DnType::CommonName, cn);
        ca.issue(p)
    };
    let (site, b, c) = (issue("site.test"), issue("b.test"), issue("c.test"));
    let mut runs = Vec::new();
    for bin in moonproxy_and_haproxy() {
        let proxy = ProxyBuilder::new(LIST_CONFIG)
            .bin(&bin)
            .file("site.pem", &site)
            .file("b.pem", &b)
            .file("list.txt", "site.pem\nb.pem [alpn h2] b.test !x.test\n")
            .start();
        let sock = proxy.dir().join("cli.sock");
        assert!(proxy.wait_for_path(&sock, DEADLINE));
        let dir = proxy.dir().display().to_string();
        let mut seen = Vec::new();
        for (i, cmd) in crt_list_commands(&c).iter().enumerate() {
            if LOOK_AT.contains(&i) {
                let s = handshake(proxy.port("tls"), any_server(None), Some("c.test")).unwrap();
                let cn = if s.conn.peer_certificates().unwrap()[0] == leaf(&c) { "c.test" } else { "default" };
                seen.push(format!("before {i}: {cn}"));
            }
            // HAProxy 2.6 ends a line's options with a NUL byte where it means a blank
            // (`[alpn h2\0]`): moonproxy writes the blank (doc/tls.md).
            seen.push(cli(&sock, &format!("{}\n", cmd.replace("DIR", &dir))).replace(&dir, "DIR").replace('\0', " "));
        }
        runs.push((bin, seen));
    }
    let ours = &runs[0].1;
    assert!(ours.contains(&"before 13: c.test".to_string()) && ours.contains(&"before 26: default".to_string()), "{ours:#?}");
    assert!(ours.contains(&"# DIR/list.txt\nDIR/site.pem:1\nDIR/b.pem:2 [alpn h2 ] b.test !x.test\nDIR/c.pem:3\n\n".to_string()), "{ours:#?}");
    assert_runs_agree(&runs);
}
