//! TLS with rustls (the `ring` provider): `bind ... ssl crt <pem>`, server `ssl`,
//! the `ssl_fc*` fetches and Lua's `Socket:connect_ssl`. See `doc/tls.md`.
//!
//! - [`BindTls`] / [`ServerTls`]: what a `bind` or `server` line asks for, turned into
//!   a rustls `ServerConfig` / `ClientConfig` once, when the configuration is parsed
//!   (certificates are read then, as HAProxy does, so `-c` reports a bad file).
//! - [`stream::TlsStream`]: one non-blocking TLS session over a mio TCP socket, the
//!   `Sock::Tls` variant of `crate::stream::conn::Sock`.
//! - [`TlsInfo`]: what the `ssl_fc_*` fetches and `%sslv`/`%sslc` read once the
//!   handshake is done.
//! - [`certs`], [`crt_list`]: certificates and their choice by SNI (`crt`,
//!   `crt-list`, `strict-sni`); [`ocsp`]: stapling `<crt>.ocsp`; [`verify`]: `verifyhost`, `crl-file`,
//!   `ca-ignore-err`/`crt-ignore-err`; [`tickets`]: `tls-ticket-keys`; [`parse`]: the
//!   words of bind, server and global lines.
//! - [`details`]: what a handshake tells beyond rustls's accessors (hellos, key log,
//!   forgiven errors) and [`x509`]: the certificate reader, for the `ssl_c_*`,
//!   `ssl_f_*`, `ssl_s_*` and other `ssl_fc_*`/`ssl_bc_*` fetches;
//!   [`cert_store`]: certificates replaced at run time (Lua `CertCache.set`).
//!
//! rustls speaks TLS 1.2 and 1.3 only: `ssl-min-ver`/`ssl-max-ver` naming an older
//! version are refused. OpenSSL cipher strings and group lists (`ciphers`,
//! `ciphersuites`, `curves`, `ecdhe`, `ssl-default-*`) are read as OpenSSL reads them
//! and narrow what rustls offers ([`ciphers`]).

pub mod cert_store;
pub mod certs;
pub mod ciphers;
pub mod crt_list;
pub mod crt_list_store;
pub mod details;
pub mod hello;
pub mod ocsp;
pub mod parse;
pub mod stream;
pub mod tickets;
pub mod validity;
pub mod verify;
pub mod x509;

pub use stream::TlsStream;

use rustls::pki_types::CertificateDer;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The crypto provider every config is built on.
pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A TLS protocol version as HAProxy names it (`ssl-min-ver`, `ssl-max-ver`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Version {
    Tls12,
    Tls13,
}

/// Parses `SSLv3`, `TLSv1.0` ... `TLSv1.3`. Versions rustls does not implement are an
/// error that says so; an unknown name gets HAProxy's message.
pub fn parse_version(s: &str) -> Result<Version, String> {
    match s {
        "TLSv1.2" => Ok(Version::Tls12),
        "TLSv1.3" => Ok(Version::Tls13),
        "SSLv3" | "TLSv1.0" | "TLSv1.1" => Err(format!("'{s}' : {}", not_in_rustls())),
        _ => Err(format!("'{s}' : unknown ssl/tls version")),
    }
}

fn not_in_rustls() -> &'static str {
    "not supported by moonproxy, whose TLS library (rustls) speaks only TLSv1.2 and TLSv1.3"
}

/// The protocol versions a bind or server line allows, as HAProxy reads them:
/// `ssl-min-ver`/`ssl-max-ver` (and `force-tlsv1x`, which sets both), or else the
/// `no-tlsv1x` exclusions, which HAProxy ignores (with a warning) once a min or max is set.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VersionOpts {
    pub min: Option<Version>,
    pub max: Option<Version>,
    /// `no-tlsv12`.
    pub no_tls12: bool,
    /// `no-tlsv13`.
    pub no_tls13: bool,
    /// `no-sslv3`, `no-tlsv10`, `no-tlsv11`: nothing to turn off, but HAProxy warns
    /// about them beside a min or max too.
    pub no_old: bool,
}

impl VersionOpts {
    /// One version keyword (`ssl-min-ver`, `force-tlsv12`, `no-tlsv13` ...) with its
    /// value: how many words it used, `None` if `kw` is not one.
    pub fn option(&mut self, kw: &str, value: &str) -> Option<Result<usize, String>> {
        let r = match kw {
            "ssl-min-ver" | "ssl-max-ver" if value.is_empty() => Err(format!("'{kw}' : missing the version")),
            "ssl-min-ver" => parse_version(value).map(|v| {
                self.min = Some(v);
                2
            }),
            "ssl-max-ver" => parse_version(value).map(|v| {
                self.max = Some(v);
                2
            }),
            "force-tlsv12" | "force-tlsv13" => {
                let v = if kw == "force-tlsv12" { Version::Tls12 } else { Version::Tls13 };
                (self.min, self.max) = (Some(v), Some(v));
                Ok(1)
            }
            "force-sslv3" | "force-tlsv10" | "force-tlsv11" => Err(format!("'{kw}' : {}", not_in_rustls())),
            "no-tlsv12" => {
                self.no_tls12 = true;
                Ok(1)
            }
            "no-tlsv13" => {
                self.no_tls13 = true;
                Ok(1)
            }
            // rustls has none of these versions: nothing to turn off.
            "no-sslv3" | "no-tlsv10" | "no-tlsv11" => {
                self.no_old = true;
                Ok(1)
            }
            _ => return None,
        };
        Some(r)
    }

    /// A line's versions over the global defaults (`ssl-default-*-options`): the
    /// line's min and max win, the exclusions add up.
    pub fn or(self, global: VersionOpts) -> VersionOpts {
        VersionOpts {
            min: self.min.or(global.min),
            max: self.max.or(global.max),
            no_tls12: self.no_tls12 || global.no_tls12,
            no_tls13: self.no_tls13 || global.no_tls13,
            no_old: self.no_old || global.no_old,
        }
    }

    /// HAProxy's warning when `no-*` words are ignored beside a min or max.
    pub fn warning(self, what: &str) -> Option<String> {
        let ignored = (self.min.is_some() || self.max.is_some()) && (self.no_tls12 || self.no_tls13 || self.no_old);
        ignored.then(|| format!("no-sslv3/no-tlsv1x are ignored for this {what}. Use only 'ssl-min-ver' and 'ssl-max-ver' to fix."))
    }

    /// The rustls protocol versions allowed; none is HAProxy's error.
    fn rustls(self) -> Result<Vec<&'static rustls::SupportedProtocolVersion>, String> {
        let allowed = |v: Version| match (self.min, self.max) {
            (None, None) => !(v == Version::Tls12 && self.no_tls12 || v == Version::Tls13 && self.no_tls13),
            (min, max) => min.is_none_or(|m| v >= m) && max.is_none_or(|m| v <= m),
        };
        let mut out = Vec::new();
        if allowed(Version::Tls13) {
            out.push(&rustls::version::TLS13);
        }
        if allowed(Version::Tls12) {
            out.push(&rustls::version::TLS12);
        }
        if out.is_empty() {
            return Err("all SSL/TLS versions are disabled".into());
        }
        Ok(out)
    }
}

/// HAProxy's name of a protocol version (`ssl_fc_protocol`, `%sslv`).
pub fn version_name(v: rustls::ProtocolVersion) -> &'static str {
    use rustls::ProtocolVersion as P;
    match v {
        P::TLSv1_3 => "TLSv1.3",
        P::TLSv1_2 => "TLSv1.2",
        P::TLSv1_1 => "TLSv1.1",
        P::TLSv1_0 => "TLSv1",
        P::SSLv3 => "SSLv3",
        _ => "unknown",
    }
}

/// OpenSSL's name of a cipher suite (`ssl_fc_cipher`, `%sslc`), which HAProxy logs:
/// `TLS_AES_256_GCM_SHA384` for TLS 1.3, `ECDHE-RSA-AES128-GCM-SHA256` for TLS 1.2.
pub fn cipher_name(s: rustls::SupportedCipherSuite) -> String {
    use rustls::CipherSuite as C;
    let n = match s.suite() {
        C::TLS13_AES_128_GCM_SHA256 => "TLS_AES_128_GCM_SHA256",
        C::TLS13_AES_256_GCM_SHA384 => "TLS_AES_256_GCM_SHA384",
        C::TLS13_CHACHA20_POLY1305_SHA256 => "TLS_CHACHA20_POLY1305_SHA256",
        C::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 => "ECDHE-ECDSA-AES128-GCM-SHA256",
        C::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384 => "ECDHE-ECDSA-AES256-GCM-SHA384",
        C::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256 => "ECDHE-ECDSA-CHACHA20-POLY1305",
        C::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 => "ECDHE-RSA-AES128-GCM-SHA256",
        C::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384 => "ECDHE-RSA-AES256-GCM-SHA384",
        C::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256 => "ECDHE-RSA-CHACHA20-POLY1305",
        other => return format!("{other:?}"),
    };
    n.to_string()
}

/// The key size in bits of a suite's symmetric cipher, as OpenSSL counts it
/// (`SSL_CIPHER_get_bits`): 128 for AES-128, 256 for AES-256 and ChaCha20.
pub fn cipher_key_bits(s: rustls::SupportedCipherSuite) -> u16 {
    use rustls::CipherSuite as C;
    match s.suite() {
        C::TLS13_AES_128_GCM_SHA256 | C::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 | C::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 => 128,
        _ => 256,
    }
}

/// The value of the PROXY protocol v2 `PP2_TYPE_SSL` TLV (`send-proxy-v2-ssl`,
/// `proxy-v2-options ssl`) for a client connection with TLS `info` (`None`: none):
/// the client flags (`PP2_CLIENT_SSL` 0x01, `PP2_CLIENT_CERT_CONN` 0x02 for a
/// certificate sent on this connection, `PP2_CLIENT_CERT_SESS` 0x04 for one in its
/// session), the verify result (0: verified, else the OpenSSL id of an error
/// `ca-ignore-err`/`crt-ignore-err` forgave, as `ssl_c_verify`), then the version
/// sub-TLV (0x21) and, as asked, the certificate's CN (0x22, `send-proxy-v2-ssl-cn`),
/// the cipher (0x23), and the key (0x25, `cert-key`) and signature (0x24, `cert-sig`)
/// algorithms of the certificate the frontend presented.
pub fn pp2_ssl_value(info: Option<&TlsInfo>, opts: &crate::proxy_protocol::V2Options) -> Vec<u8> {
    let mut out = vec![0u8; 5];
    let Some(info) = info else { return out };
    out[0] = 0x01;
    let verify = u32::try_from(info.details.verify.id).unwrap_or(0);
    out[1..5].copy_from_slice(&verify.to_be_bytes());
    if info.peer_cert {
        out[0] |= if info.resumed { 0x04 } else { 0x06 };
    }
    let mut sub = |ty: u8, value: &[u8]| {
        out.push(ty);
        out.extend_from_slice(&(value.len() as u16).to_be_bytes());
        out.extend_from_slice(value);
    };
    sub(0x21, info.protocol.as_bytes());
    if opts.ssl_cn {
        if let Some(name) = info.peer_cn.as_deref().filter(|_| info.peer_cert) {
            sub(0x22, name.as_bytes());
        }
    }
    if opts.ssl_cipher {
        sub(0x23, info.cipher.as_bytes());
    }
    // The key before the signature, as HAProxy 2.6 writes them.
    let front = info.details.local_cert.as_ref().and_then(|der| x509::Cert::parse(der.as_ref()));
    if let Some(key) = front.as_ref().and_then(|c| c.key_label()).filter(|_| opts.cert_key) {
        sub(0x25, key.as_bytes());
    }
    if let Some(sig) = front.as_ref().and_then(|c| c.sig_alg()).filter(|_| opts.cert_sig) {
        sub(0x24, sig.as_bytes());
    }
    out
}

/// HAProxy's log line for a client whose TLS handshake failed, sent to the frontend's
/// log targets instead of a stream log:
/// `127.0.0.1:40000 [26/Nov/2026:10:00:40.889] fe/1: SSL handshake failure`
/// (`1`: the bind's `name`, else its number in the frontend).
pub fn handshake_failure_line(peer: Option<std::net::SocketAddr>, accepted: std::time::SystemTime, frontend: &str, bind: &str) -> String {
    let mut out = String::with_capacity(96);
    match peer {
        Some(p) => out.push_str(&format!("{}:{} [", p.ip(), p.port())),
        None => out.push_str("unix:0 ["),
    }
    let offset = crate::log::time::local_offset(accepted);
    crate::log::time::breakdown(accepted, offset).write_log_date_ms(&mut out);
    out.push_str(&format!("] {frontend}/{bind}: SSL handshake failure"));
    out
}

/// What a finished handshake negotiated, for the `ssl_fc_*` / `ssl_bc_*` fetches
/// and the `%sslv`/`%sslc` log variables.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TlsInfo {
    /// `TLSv1.3`, `TLSv1.2`.
    pub protocol: &'static str,
    /// OpenSSL's suite name.
    pub cipher: String,
    /// The server name the client sent (front side only).
    pub sni: Option<String>,
    /// The ALPN protocol agreed on.
    pub alpn: Option<Vec<u8>>,
    /// The peer presented a certificate (client certificates on a `verify` bind).
    pub peer_cert: bool,
    /// The common name of the peer's certificate subject (`send-proxy-v2-ssl-cn`).
    pub peer_cn: Option<String>,
    /// The session was resumed (`ssl_*_is_resumed`).
    pub resumed: bool,
    /// The symmetric cipher's key size in bits (`ssl_*_use_keysize`,
    /// `ssl_*_alg_keysize`: the same for rustls's AEAD suites).
    pub key_bits: u16,
    /// Certificates, randoms, secrets, the ClientHello capture ([`details`]).
    pub details: details::Details,
}

/// The TLS half of a `bind` line: `ssl`, `crt`, `crt-list`, `alpn`, `ssl-min-ver` ...
#[derive(Clone, Debug, Default)]
pub struct BindTlsOpts {
    pub ssl: bool,
    /// `crt` files or directories and `crt-list` lines, in order: the first
    /// certificate is the default.
    pub crts: Vec<certs::CrtSpec>,
    /// `alpn`: comma-separated protocol names as written.
    pub alpn: Vec<String>,
    /// `ssl-min-ver`, `ssl-max-ver`, `force-tlsv1x`, `no-tlsv1x`.
    pub versions: VersionOpts,
    /// `verify none|optional|required` (client certificates).
    pub verify: Option<String>,
    /// `ca-file`: the CAs client certificates are checked against, whose names the
    /// CertificateRequest lists.
    pub ca_file: Option<PathBuf>,
    /// `ca-verify-file`: more CAs to check client certificates against, left out of
    /// the names listed (the roots, when `ca-file` holds the intermediates).
    pub ca_verify_file: Option<PathBuf>,
    /// `no-ca-names`: the CertificateRequest lists no CA names.
    pub no_ca_names: bool,
    /// `crl-file`: revocation lists for client certificates.
    pub crl_file: Option<PathBuf>,
    /// `ca-ignore-err`, `crt-ignore-err`: client certificate errors forgiven.
    pub ca_ignore_err: verify::IgnoreErr,
    pub crt_ignore_err: verify::IgnoreErr,
    /// `strict-sni`: no default certificate.
    pub strict_sni: bool,
    /// `no-tls-tickets`: stateful session resumption only.
    pub no_tls_tickets: bool,
    /// `tls-ticket-keys` (checked, see [`tickets`]).
    pub ticket_keys: Option<PathBuf>,
    /// `allow-0rtt`: accepted; rustls is never offered early data (doc/tls.md).
    pub allow_0rtt: bool,
    /// `ciphers`, `ciphersuites`, `curves`, `ecdhe` ([`ciphers`]).
    pub suites: ciphers::Suites,
    /// `prefer-client-ciphers`: the client's order of suites wins (HAProxy's default:
    /// the server's).
    pub prefer_client_ciphers: bool,
    /// crt-list lines with `[...]` options: where, and what they set; each gets its
    /// own config (see [`SniConfigs`], [`crt_list`]).
    pub crt_list_opts: Vec<crt_list::LineOpts>,
    /// `tune.ssl.capture-buffer-size` (global): the ClientHello is kept for the
    /// capture fetches when above 0.
    pub capture_size: usize,
    /// `tune.ssl.keylog on` (global): the TLS 1.3 secrets are kept for the fetches.
    pub keylog: bool,
}

/// A bind line's TLS, ready to accept with.
#[derive(Clone, Debug)]
pub struct BindTls {
    /// The bind line's config (every client's, without `by_sni`).
    pub config: Arc<rustls::ServerConfig>,
    /// `alpn` as written (the config advertises what the proxy's mode allows).
    pub alpn: Vec<String>,
    /// crt-list lines with their own `[...]` options: the config is chosen by the
    /// client's SNI once its ClientHello is read ([`TlsStream::accept_bind`]).
    pub by_sni: Option<Arc<SniConfigs>>,
    /// The certificates, to tell which one a session was served (`ssl_f_*`).
    pub resolver: Arc<certs::SniResolver>,
    /// `tune.ssl.capture-buffer-size`.
    pub capture_size: usize,
}

/// The configs of a bind whose crt-list lines carry options: the bind line's own
/// first, then one per such line. The certificate the SNI picks tells which applies
/// (the default certificate's when none matches), as HAProxy switches to the
/// certificate's SSL context.
#[derive(Debug)]
pub struct SniConfigs {
    resolver: Arc<certs::SniResolver>,
    /// Each config with its `alpn` names as written.
    configs: Vec<(Arc<rustls::ServerConfig>, Vec<String>)>,
}

impl SniConfigs {
    /// The config for a client that sent `sni`.
    pub fn pick(&self, sni: Option<&str>) -> Arc<rustls::ServerConfig> {
        self.configs[self.resolver.config_for(sni)].0.clone()
    }

    /// The same configs advertising what the proxy's mode allows (see [`alpn_for_mode`]).
    fn for_mode(&self, http: bool) -> SniConfigs {
        let configs = self
            .configs
            .iter()
            .map(|(c, names)| {
                let mut c = (**c).clone();
                c.alpn_protocols = alpn_for_mode(names, http);
                (Arc::new(c), names.clone())
            })
            .collect();
        SniConfigs { resolver: self.resolver.clone(), configs }
    }
}

impl BindTls {
    /// Once the proxy's mode is known: the ALPN names advertised (see [`alpn_for_mode`]).
    pub fn set_mode(&mut self, http: bool) {
        let mut c = (*self.config).clone();
        c.alpn_protocols = alpn_for_mode(&self.alpn, http);
        self.config = Arc::new(c);
        if let Some(s) = &self.by_sni {
            self.by_sni = Some(Arc::new(s.for_mode(http)));
        }
    }
}

/// The ALPN names moonproxy advertises on a TLS bind: in HTTP mode the protocols it
/// speaks to clients (`h2`, `http/1.1`, `http/1.0`; any other name is left out); in
/// TCP mode the bytes are only relayed and every name is advertised.
pub fn alpn_for_mode(names: &[String], http: bool) -> Vec<Vec<u8>> {
    names.iter().filter(|n| !http || matches!(n.as_str(), "h2" | "http/1.1" | "http/1.0")).map(|n| n.as_bytes().to_vec()).collect()
}

/// What every config of one bind line shares: its certificates and its session
/// resumption state (so a session resumes whichever config served it).
struct Shared {
    resolver: Arc<certs::SniResolver>,
    ticketer: Option<Arc<dyn rustls::server::ProducesTickets>>,
    sessions: Arc<dyn rustls::server::StoresServerSessions>,
}

impl BindTlsOpts {
    /// Checks the options and loads the certificates. `http`: the frontend is in
    /// `mode http` (see [`alpn_for_mode`]). Errors are worded for
    /// `'bind ...' in section ...: <error>`.
    pub fn build(&self, http: bool) -> Result<BindTls, String> {
        let resolver = Arc::new(certs::SniResolver::load(&self.crts, self.strict_sni)?);
        let mut lists: Vec<&str> = self.crts.iter().filter_map(|c| c.list.as_deref()).collect();
        lists.dedup();
        for list in lists {
            crt_list_store::attach(list, &resolver);
        }
        let shared = Shared {
            resolver,
            // HAProxy's default: stateless resumption (RFC 5077 tickets, and TLS 1.3
            // tickets carrying the session). Without, rustls keeps sessions in memory.
            ticketer: if self.no_tls_tickets { None } else { Some(rustls::crypto::ring::Ticketer::new().map_err(|e| e.to_string())?) },
            sessions: rustls::server::ServerSessionMemoryCache::new(256),
        };
        let config = Arc::new(self.server_config(&shared, http)?);
        let by_sni = if self.crt_list_opts.is_empty() {
            None
        } else {
            let mut configs = vec![(config.clone(), self.alpn.clone())];
            for line in &self.crt_list_opts {
                let o = line.apply_to(self);
                let c = o.server_config(&shared, http).map_err(|e| format!("'crt-list' : parsing [{}]: {e}", line.place))?;
                configs.push((Arc::new(c), o.alpn));
            }
            Some(Arc::new(SniConfigs { resolver: shared.resolver.clone(), configs }))
        };
        Ok(BindTls { config, alpn: self.alpn.clone(), by_sni, resolver: shared.resolver.clone(), capture_size: self.capture_size })
    }

    /// One rustls config with these options.
    fn server_config(&self, shared: &Shared, http: bool) -> Result<rustls::ServerConfig, String> {
        let vers = self.versions.rustls()?;
        let builder = rustls::ServerConfig::builder_with_provider(self.suites.provider()?).with_protocol_versions(&vers).map_err(|e| e.to_string())?;
        let builder = match self.verify.as_deref() {
            None | Some("none") => builder.with_no_client_auth(),
            Some(mode @ ("optional" | "required")) => {
                if self.ca_file.is_none() && self.ca_verify_file.is_none() {
                    return Err("verify is enabled but no CA file specified".into());
                }
                // Verified against both files; only `ca-file`'s names are listed.
                let mut roots = rustls::RootCertStore::empty();
                let mut anchors = Vec::new();
                let mut listed = Vec::new();
                for (path, list) in [(&self.ca_file, true), (&self.ca_verify_file, false)] {
                    let Some(path) = path else { continue };
                    let store = certs::load_roots(path)?;
                    if list {
                        listed = store.subjects();
                    }
                    roots.roots.extend(store.roots);
                    anchors.extend(certs::read_certs(path)?);
                }
                let mut v = rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider()).clear_root_hint_subjects();
                if !self.no_ca_names {
                    v = v.add_root_hint_subjects(listed);
                }
                if let Some(crl) = &self.crl_file {
                    v = v.with_crls(verify::load_crls(crl)?);
                }
                let v = if mode == "optional" { v.allow_unauthenticated() } else { v };
                let inner = v.build().map_err(|e| e.to_string())?;
                let ignore = self.ca_ignore_err.union(&self.crt_ignore_err);
                builder.with_client_cert_verifier(Arc::new(verify::ClientVerifier { inner, ignore, anchors }))
            }
            Some(other) => return Err(format!("'verify' : unknown verify method '{other}', only 'none', 'optional', and 'required' are supported")),
        };
        let mut config = builder.with_cert_resolver(shared.resolver.clone());
        config.ignore_client_order = !self.prefer_client_ciphers;
        config.alpn_protocols = alpn_for_mode(&self.alpn, http);
        if let Some(t) = &shared.ticketer {
            config.ticketer = t.clone();
        }
        config.session_storage = shared.sessions.clone();
        config.key_log = Arc::new(details::KeyLogSink { all: self.keylog });
        Ok(config)
    }
}

/// `verify` on a server line, or `ssl-server-verify`'s default.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServerVerify {
    None,
    Required,
}

/// The TLS half of a `server` line.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServerTlsOpts {
    pub ssl: bool,
    /// `verify`; `None`: the global `ssl-server-verify` (default `required`).
    pub verify: Option<ServerVerify>,
    pub ca_file: Option<PathBuf>,
    /// `crt`: the client certificate and key (one PEM) presented to the server, for
    /// servers that require one (mutual TLS); health checks present it too.
    pub crt: Option<PathBuf>,
    /// `crl-file`: revocation lists for the server's certificate.
    pub crl_file: Option<PathBuf>,
    /// `sni <expr>`, as written.
    pub sni: Option<String>,
    /// `verifyhost`: the name checked when no SNI was sent.
    pub verifyhost: Option<String>,
    pub alpn: Vec<String>,
    /// `ssl-min-ver`, `ssl-max-ver`, `force-tlsv1x`, `no-tlsv1x`.
    pub versions: VersionOpts,
    /// `check-ssl`: health checks over TLS too.
    pub check_ssl: bool,
    /// `check-sni`: the SNI of health checks.
    pub check_sni: Option<String>,
    /// `check-alpn`: the ALPN of health checks (else `alpn`).
    pub check_alpn: Option<Vec<String>>,
    /// `no-ssl-reuse`: a full handshake for every connection.
    pub no_ssl_reuse: bool,
    /// `no-tls-tickets`: TLS 1.2 resumption by session id only.
    pub no_tls_tickets: bool,
    /// `ciphers`, `ciphersuites` ([`ciphers`]; servers take no `curves` in HAProxy 2.6).
    pub suites: ciphers::Suites,
}

/// A server line's TLS, ready to connect with.
#[derive(Clone, Debug)]
pub struct ServerTls {
    pub config: Arc<rustls::ClientConfig>,
    /// `sni <expr>`: evaluated per connection on the request (the server name sent,
    /// and the name the certificate is checked against).
    pub sni: Option<Arc<crate::sample::Expr>>,
    /// `check-ssl`: health checks over TLS too.
    pub check_ssl: bool,
    /// How health checks connect when they go over TLS.
    pub check: CheckTls,
}

/// How a server's health checks speak TLS: `check-alpn` (else the server's `alpn`)
/// and `check-sni`; the certificate is verified as for traffic (`verifyhost` when
/// no SNI is sent).
#[derive(Clone, Debug)]
pub struct CheckTls {
    pub config: Arc<rustls::ClientConfig>,
    /// `check-sni`.
    pub sni: Option<String>,
}

impl CheckTls {
    /// Starts a check's session on a connecting socket to `ip`.
    pub fn connect(&self, tcp: mio::net::TcpStream, ip: std::net::IpAddr) -> std::io::Result<TlsStream> {
        TlsStream::connect(tcp, self.config.clone(), ServerTls::server_name(self.sni.as_deref(), Some(ip)))
    }
}

impl ServerTls {
    /// Whether health checks of this server go over TLS: `check-ssl`, or `ssl` with
    /// the check on the server's own address (no `port`/`addr`), as HAProxy decides.
    pub fn for_checks(&self, check: Option<&crate::config::model::CheckParams>) -> bool {
        self.check_ssl || check.is_some_and(|c| c.port.is_none() && c.addr.is_none())
    }

    /// The rustls server name for a connection: the SNI when there is one, else an
    /// IP address placeholder (no SNI is sent; `verify required` then checks
    /// `verifyhost`, or the chain only, as HAProxy does).
    pub fn server_name(sni: Option<&str>, addr: Option<std::net::IpAddr>) -> rustls::pki_types::ServerName<'static> {
        if let Some(name) = sni.and_then(|s| rustls::pki_types::ServerName::try_from(s.to_string()).ok()) {
            return name;
        }
        rustls::pki_types::ServerName::IpAddress(addr.unwrap_or(std::net::Ipv4Addr::LOCALHOST.into()).into())
    }
}

impl ServerTlsOpts {
    /// Checks and builds. `default_verify`: the global `ssl-server-verify`.
    pub fn build(&self, default_verify: ServerVerify) -> Result<ServerTls, String> {
        let vers = self.versions.rustls()?;
        // HAProxy ends these server messages with a period.
        let suites = self.suites.provider().map_err(|e| format!("{e}."))?;
        let builder = rustls::ClientConfig::builder_with_provider(suites).with_protocol_versions(&vers).map_err(|e| e.to_string())?;
        let verifier: Arc<dyn rustls::client::danger::ServerCertVerifier> = match (self.verify.unwrap_or(default_verify), &self.ca_file) {
            (ServerVerify::None, _) => Arc::new(certs::NoVerify(provider())),
            (ServerVerify::Required, Some(ca)) => {
                let roots = Arc::new(certs::load_roots(ca)?);
                let anchors = certs::read_certs(ca)?;
                let mut inner = rustls::client::WebPkiServerVerifier::builder_with_provider(roots, provider());
                if let Some(crl) = &self.crl_file {
                    inner = inner.with_crls(verify::load_crls(crl)?);
                }
                let inner = inner.build().map_err(|e| e.to_string())?;
                let verifyhost = match &self.verifyhost {
                    Some(h) => Some(rustls::pki_types::ServerName::try_from(h.clone()).map_err(|_| format!("'verifyhost' : invalid host name '{h}'"))?),
                    None => None,
                };
                Arc::new(verify::ServerVerifier { inner, verifyhost, anchors })
            }
            (ServerVerify::Required, None) => {
                return Err("verify is enabled by default but no CA file specified. If you're running on a LAN where you're certain to trust the server's certificate, please set an explicit 'verify none' statement on the 'server' line, or use 'ssl-server-verify none' in the global section to disable server-side verifications by default.".into())
            }
        };
        let builder = builder.dangerous().with_custom_certificate_verifier(verifier);
        let mut config = match &self.crt {
            Some(path) => builder.with_client_cert_resolver(Arc::new(certs::ClientCert::load(path)?)),
            None => builder.with_no_client_auth(),
        };
        config.alpn_protocols = self.alpn.iter().map(|a| a.as_bytes().to_vec()).collect();
        // The TLS 1.2 master secret (`ssl_bc_session_key`).
        config.key_log = Arc::new(details::KeyLogSink { all: false });
        // rustls keeps client sessions (256) by default: HAProxy's `ssl-reuse`.
        config.resumption = if self.no_ssl_reuse {
            rustls::client::Resumption::disabled()
        } else if self.no_tls_tickets {
            rustls::client::Resumption::default().tls12_resumption(rustls::client::Tls12Resumption::SessionIdOnly)
        } else {
            rustls::client::Resumption::default()
        };
        let sni = match &self.sni {
            Some(text) => Some(Arc::new(crate::sample::Expr::parse(text).map_err(|e| format!("error detected while parsing sni expression : {e}"))?)),
            None => None,
        };
        let config = Arc::new(config);
        let check_config = match &self.check_alpn {
            Some(alpn) => {
                let mut c = (*config).clone();
                c.alpn_protocols = alpn.iter().map(|a| a.as_bytes().to_vec()).collect();
                Arc::new(c)
            }
            None => config.clone(),
        };
        Ok(ServerTls { config, sni, check_ssl: self.check_ssl, check: CheckTls { config: check_config, sni: self.check_sni.clone() } })
    }
}

/// A client config that checks nothing: Lua's `Socket:connect_ssl` (HAProxy 2.6
/// verifies nothing there either) and the httpclient's `https://`.
pub fn insecure_client_config() -> Arc<rustls::ClientConfig> {
    static CONFIG: std::sync::OnceLock<Arc<rustls::ClientConfig>> = std::sync::OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let mut c = rustls::ClientConfig::builder_with_provider(provider())
                .with_safe_default_protocol_versions()
                .expect("ring supports the default versions")
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(certs::NoVerify(provider())))
                .with_no_client_auth();
            // HAProxy 2.6's connect_ssl sends no SNI either.
            c.enable_sni = false;
            Arc::new(c)
        })
        .clone()
}

/// The HTTP client's TLS settings (`httpclient.ssl.verify`, `httpclient.ssl.ca-file`)
/// and its config once built (the CA bundle is read once).
struct HttpClientTls {
    verify: Option<bool>,
    ca_file: Option<PathBuf>,
    built: Option<Result<Arc<rustls::ClientConfig>, String>>,
}

static HTTPCLIENT: std::sync::Mutex<HttpClientTls> = std::sync::Mutex::new(HttpClientTls { verify: None, ca_file: None, built: None });

/// Where `@system-ca` is on Debian-like systems.
const SYSTEM_CA: &str = "/etc/ssl/certs/ca-certificates.crt";

/// Takes the `httpclient.ssl.*` lines of `global` (recorded with the TLS defaults).
pub fn configure_httpclient(lines: &[(String, Vec<String>)]) {
    let mut h = HTTPCLIENT.lock().unwrap_or_else(|e| e.into_inner());
    *h = HttpClientTls { verify: None, ca_file: None, built: None };
    for (kw, args) in lines {
        match (kw.as_str(), args.first().map(String::as_str)) {
            ("httpclient.ssl.verify", Some(v)) => h.verify = Some(v != "none"),
            ("httpclient.ssl.ca-file", Some(f)) => h.ca_file = Some(PathBuf::from(f)),
            _ => {}
        }
    }
}

/// The HTTP client's `https://` config: like HAProxy 2.6, certificates are verified
/// against the system CAs (`@system-ca`) unless `httpclient.ssl.verify none`; the URL's
/// host is the SNI and the name checked.
pub fn httpclient_config() -> Result<Arc<rustls::ClientConfig>, String> {
    let mut h = HTTPCLIENT.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(r) = &h.built {
        return r.clone();
    }
    let built = (|| {
        if h.verify == Some(false) {
            let mut c = (*insecure_client_config()).clone();
            c.enable_sni = true;
            return Ok(Arc::new(c));
        }
        let ca = match h.ca_file.as_deref() {
            None => Path::new(SYSTEM_CA),
            Some(p) if p == Path::new("@system-ca") => Path::new(SYSTEM_CA),
            Some(p) => p,
        };
        let roots = certs::load_roots(ca)?;
        let c = rustls::ClientConfig::builder_with_provider(provider()).with_safe_default_protocol_versions().map_err(|e| e.to_string())?.with_root_certificates(roots).with_no_client_auth();
        Ok(Arc::new(c))
    })();
    h.built = Some(built.clone());
    built
}

/// The server name to send for `host` (an IP address is sent as none: SNI carries
/// DNS names only).
pub fn server_name(host: &str) -> rustls::pki_types::ServerName<'static> {
    match host.parse::<std::net::IpAddr>() {
        Ok(ip) => rustls::pki_types::ServerName::IpAddress(ip.into()),
        Err(_) => rustls::pki_types::ServerName::try_from(host.to_string()).unwrap_or(rustls::pki_types::ServerName::IpAddress(std::net::Ipv4Addr::UNSPECIFIED.into())),
    }
}

/// The certificates of a PEM file (helper for the tests and [`certs`]).
pub fn pem_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    certs::read_certs(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_rustls_lacks_are_refused_with_a_reason() {
        assert_eq!(parse_version("TLSv1.3"), Ok(Version::Tls13));
        assert!(parse_version("TLSv1.0").unwrap_err().contains("rustls"));
        assert_eq!(parse_version("TLSv1.4").unwrap_err(), "'TLSv1.4' : unknown ssl/tls version");
        let v = |min, max| VersionOpts { min, max, ..VersionOpts::default() };
        assert_eq!(v(Some(Version::Tls13), Some(Version::Tls12)).rustls().unwrap_err(), "all SSL/TLS versions are disabled");
        assert_eq!(v(Some(Version::Tls13), None).rustls().unwrap().len(), 1);
    }

    #[test]
    fn version_options_read_as_haproxy_reads_them() {
        let read = |words: &[&str]| {
            let mut o = VersionOpts::default();
            let mut i = 0;
            while i < words.len() {
                i += o.option(words[i], words.get(i + 1).copied().unwrap_or("")).unwrap()?;
            }
            o.rustls().map(|v| v.iter().map(|v| v.version).collect::<Vec<_>>())
        };
        use rustls::ProtocolVersion::{TLSv1_2, TLSv1_3};
        assert_eq!(read(&["no-tlsv13"]), Ok(vec![TLSv1_2]));
        assert_eq!(read(&["no-tlsv12"]), Ok(vec![TLSv1_3]));
        assert_eq!(read(&["force-tlsv12"]), Ok(vec![TLSv1_2]));
        assert_eq!(read(&["no-tlsv13", "ssl-max-ver", "TLSv1.3"]), Ok(vec![TLSv1_3, TLSv1_2]), "no-* ignored beside a min/max");
        assert_eq!(read(&["no-tlsv12", "no-tlsv13"]).unwrap_err(), "all SSL/TLS versions are disabled");
        assert_eq!(read(&["force-tlsv12", "ssl-min-ver", "TLSv1.3"]).unwrap_err(), "all SSL/TLS versions are disabled");
        assert!(read(&["force-tlsv10"]).unwrap_err().contains("rustls"));
        let global = VersionOpts { no_tls13: true, ..VersionOpts::default() };
        assert_eq!(VersionOpts::default().or(global), global);
    }

    #[test]
    fn http_mode_advertises_only_http() {
        let names = vec!["h2".to_string(), "spdy/3".to_string(), "http/1.1".to_string()];
        assert_eq!(alpn_for_mode(&names, true), vec![b"h2".to_vec(), b"http/1.1".to_vec()]);
        assert_eq!(alpn_for_mode(&names, false).len(), 3);
    }

    #[test]
    fn sni_picks_exact_then_wildcard_then_the_first() {
        let dir = std::env::temp_dir().join(format!("moonproxy-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut files = Vec::new();
        for (i, name) in ["default.test", "*.wild.test", "exact.test"].iter().enumerate() {
            let ck = rcgen::generate_simple_self_signed(vec![name.to_string()]).unwrap();
            let path = dir.join(format!("{i}.pem"));
            std::fs::write(&path, format!("{}{}", ck.cert.pem(), ck.key_pair.serialize_pem())).unwrap();
            files.push((path, ck.cert.der().clone()));
        }
        let r = certs::SniResolver::load(&[certs::CrtSpec::crt(dir.clone())], false).unwrap();
        let served = |sni: Option<&str>| r.pick(sni).unwrap().cert[0].clone();
        assert_eq!(served(Some("EXACT.test")), files[2].1);
        assert_eq!(served(Some("a.wild.test")), files[1].1);
        assert_eq!(served(Some("b.a.wild.test")), files[0].1, "a wildcard covers one label");
        assert_eq!(served(None), files[0].1);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn handshake_failure_line_has_haproxys_shape() {
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_millis(1_764_151_240_889);
        let line = handshake_failure_line(Some("127.0.0.1:40000".parse().unwrap()), t, "fe", "1");
        assert!(line.starts_with("127.0.0.1:40000 ["), "{line}");
        assert!(line.ends_with(".889] fe/1: SSL handshake failure"), "{line}");
    }
}
