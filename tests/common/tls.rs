//! TLS helpers for the TLS test files (`use common::tls::*;`): certificates made with
//! rcgen (no key files checked in), rustls clients and a TLS server on a std thread.
//!
//! Not glob-exported by `common` itself: names such as `get` or `connect` would
//! collide with the helpers of other test files.

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

/// The crypto provider every test config is built on (moonproxy's: ring).
pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A self-signed certificate for `names`: its PEM (chain + key, as `crt` wants) and DER.
pub fn cert(names: &[&str]) -> (String, CertificateDer<'static>) {
    let ck = rcgen::generate_simple_self_signed(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).unwrap();
    (format!("{}{}", ck.cert.pem(), ck.key_pair.serialize_pem()), ck.cert.der().clone())
}

/// The certificate chain of a PEM holding chain and key.
pub fn chain_of(pem: &str) -> Vec<CertificateDer<'static>> {
    CertificateDer::pem_slice_iter(pem.as_bytes()).collect::<Result<Vec<_>, _>>().unwrap()
}

/// The private key of a PEM holding chain and key.
pub fn key_of(pem: &str) -> PrivateKeyDer<'static> {
    PrivateKeyDer::from_pem_slice(pem.as_bytes()).unwrap()
}

/// A client config that trusts only `root` (and offers `h2,http/1.1`).
pub fn trusting(root: &CertificateDer<'static>) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(root.clone()).unwrap();
    let mut c = rustls::ClientConfig::builder_with_provider(provider()).with_safe_default_protocol_versions().unwrap().with_root_certificates(roots).with_no_client_auth();
    // These clients speak HTTP/1.1 (tests/http2.rs covers `h2`).
    c.alpn_protocols = vec![b"http/1.1".to_vec()];
    Arc::new(c)
}

/// A client that accepts any server certificate (the tests look at which one came),
/// presenting `client_cert` (a PEM with chain and key) when given.
pub fn any_server(client_cert: Option<&str>) -> Arc<rustls::ClientConfig> {
    let b = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(moonproxy::tls::certs::NoVerify(provider())));
    Arc::new(match client_cert {
        None => b.with_no_client_auth(),
        Some(pem) => b.with_client_auth_cert(chain_of(pem), key_of(pem)).unwrap(),
    })
}

/// A client TLS session over a blocking socket.
pub type Tls = rustls::StreamOwned<rustls::ClientConnection, TcpStream>;

/// Connects to loopback `port` and completes the handshake; `sni: None` sends none.
pub fn handshake(port: u16, config: Arc<rustls::ClientConfig>, sni: Option<&str>) -> Result<Tls, std::io::Error> {
    let tcp = TcpStream::connect(("127.0.0.1", port)).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let name = match sni {
        Some(s) => ServerName::try_from(s.to_string()).unwrap(),
        None => ServerName::IpAddress(std::net::Ipv4Addr::LOCALHOST.into()),
    };
    let conn = rustls::ClientConnection::new(config, name).unwrap();
    let mut s = rustls::StreamOwned::new(conn, tcp);
    while s.conn.is_handshaking() {
        s.conn.complete_io(&mut s.sock)?;
    }
    Ok(s)
}

/// [`handshake`] sending `sni`, which must succeed.
pub fn connect(port: u16, config: Arc<rustls::ClientConfig>, sni: &str) -> Tls {
    handshake(port, config, Some(sni)).expect("handshake")
}

/// Reads one HTTP message head and its Content-Length body (none without the header).
pub fn try_read_response(s: &mut impl Read) -> std::io::Result<(String, Vec<u8>)> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        s.read_exact(&mut byte)?;
        head.push(byte[0]);
    }
    let head = String::from_utf8(head).unwrap();
    let len = head
        .lines()
        .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse::<usize>().unwrap()))
        .unwrap_or(0);
    let mut body = vec![0u8; len];
    s.read_exact(&mut body)?;
    Ok((head, body))
}

/// [`try_read_response`], which must succeed.
pub fn read_response(s: &mut impl Read) -> (String, Vec<u8>) {
    try_read_response(s).expect("a response")
}

/// Sends one GET and reads its response (head, body); `None` when the connection
/// failed before a response.
pub fn try_get(s: &mut Tls, path: &str) -> Option<(String, Vec<u8>)> {
    write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").ok()?;
    s.flush().ok()?;
    try_read_response(s).ok()
}

/// [`try_get`], which must succeed.
pub fn get(s: &mut Tls, path: &str) -> (String, Vec<u8>) {
    try_get(s, path).expect("a response")
}

/// A server config serving `pem` (chain and key) to any client.
pub fn server_config(pem: &str) -> rustls::ServerConfig {
    rustls::ServerConfig::builder_with_provider(provider()).with_safe_default_protocol_versions().unwrap().with_no_client_auth().with_single_cert(chain_of(pem), key_of(pem)).unwrap()
}

/// A server session over a blocking socket, as [`serve_tls`] hands it to its handler.
pub type ServerTls = rustls::StreamOwned<rustls::ServerConnection, TcpStream>;

/// A TLS server on loopback port 0: each accepted connection gets its own thread,
/// where `handler` runs on the session (the handshake happens on its first read or
/// write). Returns the port.
pub fn serve_tls(config: Arc<rustls::ServerConfig>, handler: impl Fn(ServerTls) + Send + Sync + 'static) -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let handler = Arc::new(handler);
    std::thread::spawn(move || {
        for sock in l.incoming() {
            let Ok(sock) = sock else { continue };
            let (config, handler) = (config.clone(), handler.clone());
            std::thread::spawn(move || handler(rustls::StreamOwned::new(rustls::ServerConnection::new(config).unwrap(), sock)));
        }
    });
    port
}

/// Reads a request head on a server session; `None` once the client is gone.
pub fn read_head(s: &mut ServerTls) -> Option<String> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        s.read_exact(&mut byte).ok()?;
        head.push(byte[0]);
    }
    Some(String::from_utf8_lossy(&head).into_owned())
}

/// A certificate authority made for a test: it issues server and client certificates.
pub struct TestCa {
    pub cert: rcgen::Certificate,
    key: rcgen::KeyPair,
}

impl TestCa {
    pub fn new() -> TestCa {
        TestCa::named("moonproxy test CA")
    }

    /// A CA whose subject's common name is `cn` (to tell two CAs' names apart).
    pub fn named(cn: &str) -> TestCa {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut p = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        p.distinguished_name.push(rcgen::DnType::CommonName, cn);
        p.key_usages = vec![rcgen::KeyUsagePurpose::KeyCertSign, rcgen::KeyUsagePurpose::CrlSign, rcgen::KeyUsagePurpose::DigitalSignature];
        TestCa { cert: p.self_signed(&key).unwrap(), key }
    }

    /// The CA certificate's PEM (a `ca-file`).
    pub fn pem(&self) -> String {
        self.cert.pem()
    }

    /// A client certificate with common name `cn`: its PEM, chain and key (a `crt`).
    pub fn client(&self, cn: &str) -> String {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut p = rcgen::CertificateParams::new(vec![cn.to_string()]).unwrap();
        p.distinguished_name.push(rcgen::DnType::CommonName, cn);
        p.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
        format!("{}{}", p.signed_by(&key, &self.cert, &self.key).unwrap().pem(), key.serialize_pem())
    }

    /// A certificate made from `params` and signed by this CA: its PEM, chain and key.
    pub fn issue(&self, params: rcgen::CertificateParams) -> String {
        let key = rcgen::KeyPair::generate().unwrap();
        format!("{}{}", params.signed_by(&key, &self.cert, &self.key).unwrap().pem(), key.serialize_pem())
    }

    /// A server config serving `pem` that requires a client certificate issued by
    /// this CA.
    pub fn requiring_clients(&self, pem: &str) -> rustls::ServerConfig {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.cert.der().clone()).unwrap();
        let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider()).build().unwrap();
        rustls::ServerConfig::builder_with_provider(provider()).with_safe_default_protocol_versions().unwrap().with_client_cert_verifier(verifier).with_single_cert(chain_of(pem), key_of(pem)).unwrap()
    }
}

/// A client config (trusting any server, TLS `version` only, presenting `client_cert`
/// when given) whose key log is kept in the returned [`KeyLogged`].
pub fn logging_client(client_cert: Option<&str>, version: &'static rustls::SupportedProtocolVersion) -> (Arc<rustls::ClientConfig>, Arc<KeyLogged>) {
    let b = rustls::ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[version])
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(moonproxy::tls::certs::NoVerify(provider())));
    let mut c = match client_cert {
        None => b.with_no_client_auth(),
        Some(pem) => b.with_client_auth_cert(chain_of(pem), key_of(pem)).unwrap(),
    };
    let log = Arc::new(KeyLogged::default());
    c.key_log = log.clone();
    (Arc::new(c), log)
}

/// One key log line: (label, client random, secret).
pub type KeyLogLine = (String, Vec<u8>, Vec<u8>);

/// What a peer's rustls logged.
#[derive(Debug, Default)]
pub struct KeyLogged(pub std::sync::Mutex<Vec<KeyLogLine>>);

impl KeyLogged {
    /// The secret logged under `label`, and the client random, in uppercase hex.
    pub fn hex(&self, label: &str) -> Option<(String, String)> {
        let hex = |v: &[u8]| v.iter().map(|b| format!("{b:02X}")).collect::<String>();
        self.0.lock().unwrap().iter().find(|(l, _, _)| l == label).map(|(_, r, s)| (hex(r), hex(s)))
    }
}

impl rustls::KeyLog for KeyLogged {
    fn log(&self, label: &str, client_random: &[u8], secret: &[u8]) {
        self.0.lock().unwrap().push((label.to_string(), client_random.to_vec(), secret.to_vec()));
    }
    fn will_log(&self, _label: &str) -> bool {
        true
    }
}
