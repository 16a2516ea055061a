//! Certificate files: HAProxy's `crt` PEM (the chain and its private key in one
//! file, or a directory of them), CA bundles, and the SNI certificate choice.

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::{DigitallySignedStruct, SignatureScheme};
use std::path::{Path, PathBuf};
use std::sync::Arc;

fn read(path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("unable to load SSL certificate from file '{}' : {}.", path.display(), crate::listener::strerror(&e)))
}

/// Every certificate of a PEM file, in order.
pub fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let data = read(path)?;
    let certs = CertificateDer::pem_slice_iter(&data)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("unable to load SSL certificate from file '{}' : {e}.", path.display()))?;
    Ok(certs)
}

/// One `crt` PEM: its chain (leaf first) and private key, ready to serve.
pub fn load_certified_key(path: &Path) -> Result<CertifiedKey, String> {
    let data = read(path)?;
    let bad = |what: &str| format!("unable to load SSL certificate from file '{}' : {what}.", path.display());
    let certs = CertificateDer::pem_slice_iter(&data).collect::<Result<Vec<_>, _>>().map_err(|e| bad(&e.to_string()))?;
    if certs.is_empty() {
        return Err(bad("no certificate found"));
    }
    let key = PrivateKeyDer::from_pem_slice(&data).map_err(|_| format!("unable to load SSL private key from PEM file '{}'.", path.display()))?;
    let signer = rustls::crypto::ring::sign::any_supported_type(&key).map_err(|e| bad(&e.to_string()))?;
    let ck = CertifiedKey::new(certs, signer);
    ck.keys_match().map_err(|_| format!("inconsistencies between private key and certificate loaded from PEM file '{}'.", path.display()))?;
    Ok(ck)
}

/// The files a `crt` argument names: the file itself, or every regular file of a
/// directory (sorted; `.key`, `.ocsp`, `.issuer`, `.sctl` companions skipped, as
/// HAProxy skips them).
pub fn crt_files(path: &Path) -> Result<Vec<PathBuf>, String> {
    let meta = std::fs::metadata(path)
        .map_err(|e| format!("unable to stat SSL certificate from file '{}' : {}.", path.display(), crate::listener::strerror(&e)))?;
    if !meta.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let rd = std::fs::read_dir(path).map_err(|e| format!("unable to scan directory '{}' : {}.", path.display(), crate::listener::strerror(&e)))?;
    let mut files: Vec<PathBuf> = rd
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .filter(|p| !matches!(p.extension().and_then(|e| e.to_str()), Some("key" | "ocsp" | "issuer" | "sctl")))
        .collect();
    files.sort();
    Ok(files)
}

/// The DNS names a certificate is valid for (its subjectAltName DNS entries).
fn dns_names(cert: &CertificateDer<'_>) -> Vec<String> {
    match webpki::EndEntityCert::try_from(cert) {
        Ok(ee) => ee.valid_dns_names().map(|n| n.to_ascii_lowercase()).collect(),
        Err(_) => Vec::new(),
    }
}

/// Picks the certificate by the client's SNI: an exact name first, then a wildcard
/// (`*.example.com` covers one label); otherwise (no SNI, or no match) the first
/// certificate loaded, as HAProxy's default certificate.
#[derive(Debug)]
pub struct SniResolver {
    certs: Vec<(Vec<String>, Arc<CertifiedKey>)>,
}

impl SniResolver {
    /// Loads every `crt` (files and directories), in order.
    pub fn load(crts: &[PathBuf]) -> Result<SniResolver, String> {
        let mut certs = Vec::new();
        for crt in crts {
            for file in crt_files(crt)? {
                let ck = load_certified_key(&file)?;
                let names = ck.cert.first().map(dns_names).unwrap_or_default();
                certs.push((names, Arc::new(ck)));
            }
        }
        if certs.is_empty() {
            return Err("no SSL certificate specified (use 'crt')".into());
        }
        Ok(SniResolver { certs })
    }

    /// The certificate for `sni`.
    pub fn pick(&self, sni: Option<&str>) -> Arc<CertifiedKey> {
        if let Some(sni) = sni {
            let sni = sni.to_ascii_lowercase();
            if let Some((_, ck)) = self.certs.iter().find(|(names, _)| names.contains(&sni)) {
                return ck.clone();
            }
            let parent = sni.split_once('.').map(|(_, rest)| rest);
            if let Some(parent) = parent {
                let wild = format!("*.{parent}");
                if let Some((_, ck)) = self.certs.iter().find(|(names, _)| names.contains(&wild)) {
                    return ck.clone();
                }
            }
        }
        self.certs[0].1.clone()
    }
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.pick(hello.server_name()))
    }
}

/// The CAs of a PEM bundle (`ca-file`).
pub fn load_roots(path: &Path) -> Result<rustls::RootCertStore, String> {
    let mut roots = rustls::RootCertStore::empty();
    let certs = read_certs(path).map_err(|_| format!("unable to load CA file '{}'.", path.display()))?;
    if certs.is_empty() {
        return Err(format!("unable to load CA file '{}'.", path.display()));
    }
    for c in certs {
        roots.add(c).map_err(|e| format!("unable to load CA file '{}' : {e}.", path.display()))?;
    }
    Ok(roots)
}

/// `verify required` on a server line: the chain must lead to a `ca-file` CA; the
/// name is checked only when the connection sent an SNI (its server name is a DNS
/// name): without one, rustls is given the server's IP address as placeholder and a
/// name mismatch is forgiven, as HAProxy checks no name without `sni`/`verifyhost`.
#[derive(Debug)]
pub struct ChainOnlyWithoutSni(pub Arc<rustls::client::WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnlyWithoutSni {
    fn verify_server_cert(&self, ee: &CertificateDer<'_>, im: &[CertificateDer<'_>], name: &ServerName<'_>, ocsp: &[u8], now: UnixTime) -> Result<ServerCertVerified, rustls::Error> {
        use rustls::{CertificateError as E, Error};
        match self.0.verify_server_cert(ee, im, name, ocsp, now) {
            Err(Error::InvalidCertificate(E::NotValidForName | E::NotValidForNameContext { .. })) if matches!(name, ServerName::IpAddress(_)) => Ok(ServerCertVerified::assertion()),
            r => r,
        }
    }
    fn verify_tls12_signature(&self, message: &[u8], cert: &CertificateDer<'_>, dss: &DigitallySignedStruct) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }
    fn verify_tls13_signature(&self, message: &[u8], cert: &CertificateDer<'_>, dss: &DigitallySignedStruct) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// `verify none`: accepts any server certificate (signatures are still checked, so
/// the session keys are the server's).
#[derive(Debug)]
pub struct NoVerify(pub Arc<CryptoProvider>);

impl ServerCertVerifier for NoVerify {
    fn verify_server_cert(&self, _: &CertificateDer<'_>, _: &[CertificateDer<'_>], _: &ServerName<'_>, _: &[u8], _: UnixTime) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(&self, message: &[u8], cert: &CertificateDer<'_>, dss: &DigitallySignedStruct) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }
    fn verify_tls13_signature(&self, message: &[u8], cert: &CertificateDer<'_>, dss: &DigitallySignedStruct) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
