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
use std::sync::{Arc, RwLock};

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
    certified_key_from_pem(&read(path)?, &path.display().to_string())
}

/// A PEM chain (leaf first) and private key, from `name` (for the messages).
pub fn certified_key_from_pem(data: &[u8], name: &str) -> Result<CertifiedKey, String> {
    let bad = |what: &str| format!("unable to load SSL certificate from file '{name}' : {what}.");
    let certs = CertificateDer::pem_slice_iter(data).collect::<Result<Vec<_>, _>>().map_err(|e| bad(&e.to_string()))?;
    if certs.is_empty() {
        return Err(bad("no certificate found"));
    }
    let key = PrivateKeyDer::from_pem_slice(data).map_err(|_| format!("unable to load SSL private key from PEM file '{name}'."))?;
    let signer = rustls::crypto::ring::sign::any_supported_type(&key).map_err(|e| bad(&e.to_string()))?;
    let ck = CertifiedKey::new(certs, signer);
    ck.keys_match().map_err(|_| format!("inconsistencies between private key and certificate loaded from PEM file '{name}'."))?;
    Ok(ck)
}

/// A server line's `crt`: the client certificate and key (one PEM) presented to the
/// server for mutual TLS, whatever CAs the server names as acceptable (OpenSSL under
/// HAProxy sends it the same way).
#[derive(Debug)]
pub struct ClientCert(Arc<CertifiedKey>);

impl ClientCert {
    /// Loads the PEM at `path`, with HAProxy's messages for a missing or bad file.
    pub fn load(path: &Path) -> Result<ClientCert, String> {
        std::fs::metadata(path).map_err(|e| format!("unable to stat SSL certificate from file '{}' : {}.", path.display(), crate::listener::strerror(&e)))?;
        Ok(ClientCert(Arc::new(load_certified_key(path)?)))
    }
}

impl rustls::client::ResolvesClientCert for ClientCert {
    fn resolve(&self, _root_hints: &[&[u8]], _sigschemes: &[SignatureScheme]) -> Option<Arc<CertifiedKey>> {
        Some(self.0.clone())
    }

    fn has_certs(&self) -> bool {
        true
    }
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
pub(super) fn dns_names(cert: &CertificateDer<'_>) -> Vec<String> {
    match webpki::EndEntityCert::try_from(cert) {
        Ok(ee) => ee.valid_dns_names().map(|n| n.to_ascii_lowercase()).collect(),
        Err(_) => Vec::new(),
    }
}

/// One certificate source of a bind line, in the order declared: a `crt` (a file or
/// a directory) or a line of a `crt-list`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CrtSpec {
    pub path: PathBuf,
    /// The crt-list line's SNI filters: names or `*.domain` wildcards, `!name` to
    /// exclude one. Without a positive filter, the certificate's own names are used.
    pub filters: Vec<String>,
    /// Which of the bind's configs serves a client given this certificate: 0, the bind
    /// line's; else a crt-list line with its own options (see `super::SniConfigs`).
    pub config: usize,
    /// The crt-list file of the line, as the bind line names it (`None`: a `crt`).
    pub list: Option<Arc<str>>,
}

impl CrtSpec {
    /// A `crt` argument: no filters, the bind line's config.
    pub fn crt(path: PathBuf) -> CrtSpec {
        CrtSpec { path, filters: Vec::new(), config: 0, list: None }
    }
}

/// One certificate and the names it is served for.
#[derive(Debug)]
struct Entry {
    /// The crt-list line's names (lower case) and `*.domain` wildcards; `None`: the
    /// certificate's own names (which `CertCache.set` may change).
    filter_names: Option<Vec<String>>,
    /// Excluded names and wildcards (`!` filters; `*` excludes every name).
    excluded: Vec<String>,
    /// The certificate, replaceable at run time ([`super::cert_store`]).
    slot: Arc<super::cert_store::Slot>,
    /// [`CrtSpec::config`].
    config: usize,
    /// The crt-list and certificate file of the line it comes from (`None`: a `crt`),
    /// for the CLI's `del ssl crt-list`.
    line: Option<(Arc<str>, String)>,
}

impl Entry {
    fn excludes(&self, sni: &str, wild: Option<&str>) -> bool {
        self.excluded.iter().any(|x| x == "*" || x == sni || Some(x.as_str()) == wild)
    }

    /// Whether it is served for `name` (a name or a `*.domain` wildcard).
    fn serves(&self, name: &str) -> bool {
        match &self.filter_names {
            Some(names) => names.iter().any(|n| n == name),
            None => self.slot.has_name(name),
        }
    }
}

/// Picks the certificate by the client's SNI: an exact name first, then a wildcard
/// (`*.example.com` covers one label), in the order the certificates were declared,
/// skipping a certificate whose `!` filters exclude the name; otherwise (no SNI, or no
/// match) the first certificate declared, HAProxy's default certificate, unless
/// `strict-sni` refuses the handshake.
#[derive(Debug)]
pub struct SniResolver {
    /// Read at each handshake; written by the CLI's `add|del ssl crt-list`.
    certs: RwLock<Vec<Entry>>,
    strict: bool,
}

impl SniResolver {
    /// Loads every `crt` and crt-list line, in order. `strict`: `strict-sni` (no
    /// default certificate; then no certificate at all is allowed, as HAProxy allows it
    /// with a warning, and every handshake fails).
    pub fn load(crts: &[CrtSpec], strict: bool) -> Result<SniResolver, String> {
        let mut certs = Vec::new();
        for crt in crts {
            for file in crt_files(&crt.path)? {
                let mut ck = load_certified_key(&file)?;
                if let super::ocsp::Loaded::Staple(der) = super::ocsp::load(&file)? {
                    ck.ocsp = Some(der);
                }
                let (excluded, wanted): (Vec<&String>, Vec<&String>) = crt.filters.iter().partition(|f| f.starts_with('!'));
                let excluded = excluded.iter().map(|f| f[1..].to_ascii_lowercase()).collect();
                let own = ck.cert.first().map(dns_names).unwrap_or_default();
                let filter_names = (!wanted.is_empty()).then(|| wanted.iter().map(|f| f.to_ascii_lowercase()).collect());
                let name = file.to_string_lossy().into_owned();
                let slot = super::cert_store::register(&name, Arc::new(ck), own);
                let line = crt.list.clone().map(|l| (l, name));
                certs.push(Entry { filter_names, excluded, slot, config: crt.config, line });
            }
        }
        if certs.is_empty() && !strict {
            return Err("no SSL certificate specified (use 'crt')".into());
        }
        Ok(SniResolver { certs: RwLock::new(certs), strict })
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Vec<Entry>> {
        // Every change is one push or retain: the data is consistent after a panic.
        self.certs.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Vec<Entry>> {
        self.certs.write().unwrap_or_else(|e| e.into_inner())
    }

    /// The certificate for `sni`; `None` only under `strict-sni`.
    pub fn pick(&self, sni: Option<&str>) -> Option<Arc<CertifiedKey>> {
        let certs = self.read();
        entry(&certs, sni, self.strict).map(|e| e.slot.certified_key())
    }

    /// Which config serves a client that sent `sni` ([`CrtSpec::config`]): its
    /// certificate's, the default certificate's when none matches.
    pub fn config_for(&self, sni: Option<&str>) -> usize {
        let certs = self.read();
        entry(&certs, sni, self.strict).or(certs.first()).map_or(0, |e| e.config)
    }

    /// `add ssl crt-list <list> <crt> [<filters>]`: `slot` (the certificate of file
    /// `crt`) is served for its names, or the `filters`, from the next handshake on,
    /// after the certificates already there, with the bind line's settings.
    pub fn add_line(&self, list: &Arc<str>, crt: &str, slot: Arc<super::cert_store::Slot>, filters: &[String]) {
        let (excluded, wanted): (Vec<&String>, Vec<&String>) = filters.iter().partition(|f| f.starts_with('!'));
        let excluded = excluded.iter().map(|f| f[1..].to_ascii_lowercase()).collect();
        let filter_names = (!wanted.is_empty()).then(|| wanted.iter().map(|f| f.to_ascii_lowercase()).collect());
        self.write().push(Entry { filter_names, excluded, slot, config: 0, line: Some((list.clone(), crt.to_string())) });
    }

    /// Whether the first line of `list` naming `crt` is the default certificate (the
    /// first one of the bind line), which `del ssl crt-list` refuses to remove.
    pub fn is_default(&self, list: &str, crt: &str) -> bool {
        self.read().first().and_then(|e| e.line.as_ref()).is_some_and(|(l, c)| &**l == list && c == crt)
    }

    /// `del ssl crt-list <list> <crt>`: removes the first line of `list` serving `crt`;
    /// its certificate, if it was the line's, is returned so the caller may keep it.
    pub fn remove_line(&self, list: &str, crt: &str) -> Option<Arc<super::cert_store::Slot>> {
        let mut certs = self.write();
        let i = certs.iter().position(|e| e.line.as_ref().is_some_and(|(l, c)| &**l == list && c == crt))?;
        Some(certs.remove(i).slot)
    }
}

/// The entry of `certs` for `sni` (see [`SniResolver`]).
fn entry<'a>(certs: &'a [Entry], sni: Option<&str>, strict: bool) -> Option<&'a Entry> {
    if let Some(sni) = sni {
        let sni = sni.to_ascii_lowercase();
        let wild = sni.split_once('.').map(|(_, parent)| format!("*.{parent}"));
        let wild = wild.as_deref();
        let usable = |e: &&Entry| !e.excludes(&sni, wild);
        if let Some(e) = certs.iter().filter(usable).find(|e| e.serves(&sni)) {
            return Some(e);
        }
        if let Some(e) = wild.and_then(|w| certs.iter().filter(usable).find(|e| e.serves(w))) {
            return Some(e);
        }
    }
    if strict {
        return None;
    }
    certs.first()
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let ck = self.pick(hello.server_name());
        if ck.is_none() {
            ::log::debug!("strict-sni: no certificate for {:?}", hello.server_name());
        }
        ck
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
