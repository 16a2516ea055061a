//! OpenSSL's cipher and group names as `ciphers`, `ciphersuites`, `curves` and `ecdhe` (and
//! the global `ssl-default-*` forms) write them, read as OpenSSL 3.0 reads them (what
//! HAProxy 2.6 hands them to), then narrowed to the suites and groups rustls implements.
//!
//! - `ciphers` (TLS 1.2 and older) is OpenSSL's cipher-list language: names and aliases
//!   (`HIGH`, `ECDHE`, `aRSA`, `AESGCM`, `A+B` for both), `!` removes for good, `-`
//!   removes, `+` moves to the end, `@STRENGTH` sorts; unknown words are skipped, and a list
//!   that selects nothing is an error. It is evaluated over [`OPENSSL`], the TLS 1.2 and
//!   older suites OpenSSL 3.0 knows, in its order, so what OpenSSL accepts is accepted.
//! - `ciphersuites` (TLS 1.3): names separated by `:`, unknown ones skipped, none known is
//!   an error.
//! - `curves` / `ecdhe`: group names separated by `:`, each one OpenSSL knows, else an
//!   error.
//!
//! The suites and groups rustls lacks (CBC, DHE, RSA key exchange, PSK, CCM, P-521,
//! X448 ...) drop out of what is offered; [`Suites::warnings`] says when a whole version
//! or every group drops out.

use rustls::crypto::{CryptoProvider, SupportedKxGroup};
use rustls::{NamedGroup, SupportedCipherSuite};
use std::sync::Arc;

/// What a bind or server line (or the global defaults) says of suites and groups, as
/// written; `None`: OpenSSL's default (every suite and group rustls has).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Suites {
    /// `ciphers`: TLS 1.2 suites, OpenSSL's cipher-list language.
    pub ciphers: Option<String>,
    /// `ciphersuites`: TLS 1.3 suites.
    pub ciphersuites: Option<String>,
    /// `curves`: key-exchange groups (wins over `ecdhe`).
    pub curves: Option<String>,
    /// `ecdhe`: one named curve.
    pub ecdhe: Option<String>,
}

impl Suites {
    /// These settings where set, else `defaults`' (the global `ssl-default-*` lines).
    pub fn or(&self, defaults: &Suites) -> Suites {
        Suites {
            ciphers: self.ciphers.clone().or_else(|| defaults.ciphers.clone()),
            ciphersuites: self.ciphersuites.clone().or_else(|| defaults.ciphersuites.clone()),
            curves: self.curves.clone().or_else(|| defaults.curves.clone()),
            ecdhe: self.ecdhe.clone().or_else(|| defaults.ecdhe.clone()),
        }
    }

    /// Whether nothing is set: the default provider serves.
    fn is_default(&self) -> bool {
        *self == Suites::default()
    }

    /// Checks the names as OpenSSL would (HAProxy's messages) and builds the provider
    /// offering what they select, in their order.
    pub fn provider(&self) -> Result<Arc<CryptoProvider>, String> {
        let base = rustls::crypto::ring::default_provider();
        if self.is_default() {
            return Ok(Arc::new(base));
        }
        let (tls13, tls12) = self.select(&base.cipher_suites)?;
        let kx_groups = self.groups(&base.kx_groups)?;
        if kx_groups.is_empty() {
            let (kw, spec) = self.group_setting().unwrap_or(("curves", ""));
            return Err(format!("none of the groups of '{kw} {spec}' is available in moonproxy (it has X25519, P-256 and P-384)"));
        }
        if tls13.is_empty() && tls12.is_empty() {
            return Err("none of the cipher suites selected by 'ciphers' and 'ciphersuites' is available in moonproxy (its TLS 1.2 suites are ECDHE with AES-GCM or ChaCha20-Poly1305)".into());
        }
        Ok(Arc::new(CryptoProvider { cipher_suites: tls13.into_iter().chain(tls12).collect(), kx_groups, ..base }))
    }

    /// What HAProxy does not say but a user should know: a protocol version left with no
    /// suite rustls has (it is not offered).
    pub fn warnings(&self) -> Vec<String> {
        let base = rustls::crypto::ring::default_provider();
        let Ok((tls13, tls12)) = self.select(&base.cipher_suites) else { return Vec::new() };
        let mut w = Vec::new();
        if let (Some(spec), true, false) = (&self.ciphers, tls12.is_empty(), tls13.is_empty()) {
            w.push(format!("none of the TLS 1.2 suites selected by 'ciphers {spec}' is available in moonproxy: TLS 1.2 is not offered."));
        }
        if let (Some(spec), true, false) = (&self.ciphersuites, tls13.is_empty(), tls12.is_empty()) {
            w.push(format!("none of the TLS 1.3 suites of 'ciphersuites {spec}' is available in moonproxy: TLS 1.3 is not offered."));
        }
        w
    }

    /// The rustls suites selected: (TLS 1.3, TLS 1.2), each in the order the settings say.
    fn select(&self, all: &[SupportedCipherSuite]) -> Result<(Vec<SupportedCipherSuite>, Vec<SupportedCipherSuite>), String> {
        let by_name = |name: &str| all.iter().copied().find(|s| super::cipher_name(*s) == name);
        let is13 = |s: &SupportedCipherSuite| matches!(s, SupportedCipherSuite::Tls13(_));
        let tls13 = match &self.ciphersuites {
            None => all.iter().copied().filter(is13).collect(),
            Some(spec) => tls13_list(spec)?.into_iter().filter_map(by_name).collect(),
        };
        let tls12 = match &self.ciphers {
            None => all.iter().copied().filter(|s| !is13(s)).collect(),
            Some(spec) => cipher_list(spec)?.into_iter().filter_map(|i| by_name(OPENSSL[i].name)).collect(),
        };
        Ok((tls13, tls12))
    }

    /// `curves`, else `ecdhe`, as (keyword, value).
    fn group_setting(&self) -> Option<(&'static str, &str)> {
        match (&self.curves, &self.ecdhe) {
            (Some(c), _) => Some(("curves", c)),
            (None, Some(e)) => Some(("ecdhe", e)),
            (None, None) => None,
        }
    }

    /// The rustls groups selected, in the order written.
    fn groups(&self, all: &[&'static dyn SupportedKxGroup]) -> Result<Vec<&'static dyn SupportedKxGroup>, String> {
        let Some((kw, spec)) = self.group_setting() else { return Ok(all.to_vec()) };
        let names = group_list(spec).ok_or_else(|| match kw {
            "curves" => format!("unable to set SSL curves list to '{spec}'"),
            _ => format!("unable to set elliptic named curve to '{spec}'"),
        })?;
        let mut out: Vec<&'static dyn SupportedKxGroup> = Vec::new();
        for group in names.into_iter().filter_map(rustls_group) {
            if let Some(g) = all.iter().find(|g| g.name() == group) {
                if !out.iter().any(|o| o.name() == group) {
                    out.push(*g);
                }
            }
        }
        Ok(out)
    }
}

/// `ciphersuites`: the TLS 1.3 names OpenSSL knows, in the order written; an error when
/// none is known (unknown ones are skipped, as OpenSSL 3.0 does).
pub fn tls13_list(spec: &str) -> Result<Vec<&'static str>, String> {
    const KNOWN: [&str; 5] = ["TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256", "TLS_AES_128_CCM_SHA256", "TLS_AES_128_CCM_8_SHA256"];
    let mut out = Vec::new();
    for word in spec.split(':') {
        if let Some(name) = KNOWN.iter().find(|k| **k == word) {
            if !out.contains(name) {
                out.push(*name);
            }
        }
    }
    if out.is_empty() {
        return Err(format!("unable to set TLS 1.3 cipher suites to '{spec}'"));
    }
    Ok(out)
}

/// `curves` / `ecdhe`: the group names, each one OpenSSL 3.0 takes for TLS (NIST,
/// SEC 2 and its own names, case as written); `None` when one is not.
pub fn group_list(spec: &str) -> Option<Vec<&str>> {
    const KNOWN: &[&str] = &[
        "P-192", "P-224", "P-256", "P-384", "P-521", "K-163", "K-233", "K-283", "K-409", "K-571", "B-163", "B-233", "B-283", "B-409", "B-571",
        "sect163k1", "sect163r1", "sect163r2", "sect193r1", "sect193r2", "sect233k1", "sect233r1", "sect239k1", "sect283k1", "sect283r1",
        "sect409k1", "sect409r1", "sect571k1", "sect571r1", "secp160k1", "secp160r1", "secp160r2", "secp192k1", "secp192r1", "prime192v1",
        "secp224k1", "secp224r1", "secp256k1", "secp256r1", "prime256v1", "secp384r1", "secp521r1", "brainpoolP256r1", "brainpoolP384r1",
        "brainpoolP512r1", "X25519", "x25519", "X448", "x448", "ffdhe2048", "ffdhe3072", "ffdhe4096", "ffdhe6144", "ffdhe8192",
    ];
    spec.split(':').map(|name| KNOWN.contains(&name).then_some(name)).collect()
}

/// The rustls group an OpenSSL group name stands for, when rustls (ring) has it.
fn rustls_group(name: &str) -> Option<NamedGroup> {
    match name {
        "X25519" | "x25519" => Some(NamedGroup::X25519),
        "P-256" | "secp256r1" | "prime256v1" => Some(NamedGroup::secp256r1),
        "P-384" | "secp384r1" => Some(NamedGroup::secp384r1),
        _ => None,
    }
}

/// `ciphers`: OpenSSL's cipher-list language evaluated over [`OPENSSL`]; the indexes of
/// the suites selected, in order. An error, with HAProxy's words, when none is.
pub fn cipher_list(spec: &str) -> Result<Vec<usize>, String> {
    let mut list = CipherList { active: Vec::new(), killed: vec![false; OPENSSL.len()] };
    // A list starting with DEFAULT starts from OpenSSL's default list.
    let rest = match spec.strip_prefix("DEFAULT") {
        Some(rest) => {
            list.apply("ALL:!COMPLEMENTOFDEFAULT:!eNULL");
            rest
        }
        None => spec,
    };
    list.apply(rest);
    if list.active.is_empty() {
        return Err(format!("unable to set SSL cipher list to '{spec}'"));
    }
    Ok(list.active)
}

/// The state of [`cipher_list`]: the suites selected so far, in order, and those `!`
/// removed for good.
struct CipherList {
    active: Vec<usize>,
    killed: Vec<bool>,
}

impl CipherList {
    fn apply(&mut self, spec: &str) {
        for word in spec.split([':', ',', ';', ' ']).filter(|w| !w.is_empty()) {
            if word == "@STRENGTH" {
                // Stable: equal strengths keep their order.
                self.active.sort_by_key(|&i| std::cmp::Reverse(OPENSSL[i].bits));
                continue;
            }
            if word.starts_with('@') {
                continue; // `@SECLEVEL=n`: rustls's suites are all above any level.
            }
            let (op, body) = match word.as_bytes()[0] {
                b'!' | b'-' | b'+' => (word.as_bytes()[0], &word[1..]),
                _ => (b' ', word),
            };
            // `A+B`: the suites both select; an unknown part skips the word.
            let terms: Option<Vec<Term>> = body.split('+').map(term).collect();
            let Some(terms) = terms else { continue };
            let hit = |i: usize| terms.iter().all(|t| t.matches(i));
            match op {
                b'!' => {
                    self.active.retain(|&i| !hit(i));
                    for i in (0..OPENSSL.len()).filter(|&i| hit(i)) {
                        self.killed[i] = true;
                    }
                }
                b'-' => self.active.retain(|&i| !hit(i)),
                b'+' => {
                    let (moved, kept): (Vec<usize>, Vec<usize>) = self.active.iter().partition(|&&i| hit(i));
                    self.active = kept.into_iter().chain(moved).collect();
                }
                _ => {
                    for i in 0..OPENSSL.len() {
                        if hit(i) && !self.killed[i] && !self.active.contains(&i) {
                            self.active.push(i);
                        }
                    }
                }
            }
        }
    }
}

/// One word of a cipher list: a suite's name or an alias.
enum Term {
    Name(usize),
    Alias(fn(&Cipher) -> bool),
}

impl Term {
    fn matches(&self, i: usize) -> bool {
        match self {
            Term::Name(n) => *n == i,
            Term::Alias(f) => f(&OPENSSL[i]),
        }
    }
}

/// The aliases of OpenSSL 3.0's `ciphers` manual, over the suites of [`OPENSSL`].
fn term(word: &str) -> Option<Term> {
    if let Some(i) = OPENSSL.iter().position(|c| c.name == word) {
        return Some(Term::Name(i));
    }
    use {Au as A, Enc as E, Kx as K, Mac as M};
    let f: fn(&Cipher) -> bool = match word {
        "ALL" | "HIGH" => |c| c.enc != E::Null,
        "COMPLEMENTOFALL" | "eNULL" | "NULL" => |c| c.enc == E::Null,
        "DEFAULT" => |c| c.default,
        "COMPLEMENTOFDEFAULT" => |c| c.enc != E::Null && !c.default,
        "aNULL" => |c| c.au == A::Anonymous,
        "kRSA" | "RSA" => |c| c.kx == K::Rsa,
        "aRSA" => |c| c.au == A::RsaCert,
        "kDHE" | "kEDH" | "DH" => |c| c.kx == K::Dhe,
        "DHE" | "EDH" => |c| c.kx == K::Dhe && c.au != A::Anonymous,
        "ADH" => |c| c.kx == K::Dhe && c.au == A::Anonymous,
        "kECDHE" | "kEECDH" | "ECDH" => |c| c.kx == K::Ecdhe,
        "ECDHE" | "EECDH" => |c| c.kx == K::Ecdhe && c.au != A::Anonymous,
        "AECDH" => |c| c.kx == K::Ecdhe && c.au == A::Anonymous,
        "aECDSA" | "ECDSA" => |c| c.au == A::EcdsaCert,
        "aDSS" | "DSS" => |c| c.au == A::DssCert,
        "kPSK" => |c| c.kx == K::Psk,
        "kECDHEPSK" => |c| c.kx == K::EcdhePsk,
        "kDHEPSK" => |c| c.kx == K::DhePsk,
        "kRSAPSK" => |c| c.kx == K::RsaPsk,
        "aPSK" => |c| c.au == A::PskAuth,
        "PSK" => |c| matches!(c.kx, K::Psk | K::EcdhePsk | K::DhePsk | K::RsaPsk),
        "kSRP" | "SRP" => |c| c.kx == K::Srp,
        "aSRP" => |c| c.au == A::SrpAuth,
        "AES" => |c| matches!(c.enc, E::Aes | E::AesGcm | E::AesCcm | E::AesCcm8),
        "AES128" => |c| matches!(c.enc, E::Aes | E::AesGcm | E::AesCcm | E::AesCcm8) && c.bits == 128,
        "AES256" => |c| matches!(c.enc, E::Aes | E::AesGcm | E::AesCcm | E::AesCcm8) && c.bits == 256,
        "AESGCM" => |c| c.enc == E::AesGcm,
        "AESCCM" => |c| matches!(c.enc, E::AesCcm | E::AesCcm8),
        "AESCCM8" => |c| c.enc == E::AesCcm8,
        "CAMELLIA" => |c| c.enc == E::Camellia,
        "CAMELLIA128" => |c| c.enc == E::Camellia && c.bits == 128,
        "CAMELLIA256" => |c| c.enc == E::Camellia && c.bits == 256,
        "ARIA" => |c| c.enc == E::AriaGcm,
        "ARIA128" => |c| c.enc == E::AriaGcm && c.bits == 128,
        "ARIA256" => |c| c.enc == E::AriaGcm && c.bits == 256,
        "CHACHA20" => |c| c.enc == E::Chacha20,
        "MD5" => |c| c.mac == M::Md5,
        "SHA1" | "SHA" => |c| c.mac == M::Sha1,
        "SHA256" => |c| c.mac == M::Sha256,
        "SHA384" => |c| c.mac == M::Sha384,
        "TLSv1.2" => |c| c.ver == Ver::Tls12,
        "TLSv1.0" | "TLSv1" => |c| c.ver == Ver::Tls1,
        "SSLv3" => |c| c.ver == Ver::Ssl3,
        _ => return None,
    };
    Some(Term::Alias(f))
}

/// The oldest protocol version of a suite.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Ver {
    Ssl3,
    Tls1,
    Tls12,
}

/// Key exchange.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kx {
    Rsa,
    Dhe,
    Ecdhe,
    Psk,
    DhePsk,
    EcdhePsk,
    RsaPsk,
    Srp,
}

/// Authentication.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Au {
    RsaCert,
    EcdsaCert,
    DssCert,
    Anonymous,
    PskAuth,
    SrpAuth,
}

/// Encryption.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Enc {
    Aes,
    AesGcm,
    AesCcm,
    AesCcm8,
    Camellia,
    AriaGcm,
    Chacha20,
    Null,
}

/// Message authentication.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mac {
    Aead,
    Sha1,
    Sha256,
    Sha384,
    Md5,
}

/// A TLS 1.2-or-older suite OpenSSL 3.0 knows.
#[derive(Debug)]
struct Cipher {
    name: &'static str,
    ver: Ver,
    kx: Kx,
    au: Au,
    enc: Enc,
    /// The cipher's strength (`@STRENGTH`).
    bits: u16,
    mac: Mac,
    /// In OpenSSL's `DEFAULT` list.
    default: bool,
}

#[allow(clippy::too_many_arguments)]
const fn c(name: &'static str, ver: Ver, kx: Kx, au: Au, enc: Enc, bits: u16, mac: Mac, default: bool) -> Cipher {
    Cipher { name, ver, kx, au, enc, bits, mac, default }
}

/// The TLS 1.2-and-older suites of OpenSSL 3.0 (`openssl ciphers -v ALL:COMPLEMENTOFALL`)
/// in its order, which a cipher list adds suites in.
const OPENSSL: &[Cipher] = {
    use {Au::*, Enc::*, Kx::*, Mac::*, Ver::*};
    &[
    c("ECDHE-ECDSA-AES256-GCM-SHA384", Tls12, Ecdhe, EcdsaCert, AesGcm, 256, Aead, true),
    c("ECDHE-RSA-AES256-GCM-SHA384", Tls12, Ecdhe, RsaCert, AesGcm, 256, Aead, true),
    c("DHE-DSS-AES256-GCM-SHA384", Tls12, Dhe, DssCert, AesGcm, 256, Aead, false),
    c("DHE-RSA-AES256-GCM-SHA384", Tls12, Dhe, RsaCert, AesGcm, 256, Aead, true),
    c("ECDHE-ECDSA-CHACHA20-POLY1305", Tls12, Ecdhe, EcdsaCert, Chacha20, 256, Aead, true),
    c("ECDHE-RSA-CHACHA20-POLY1305", Tls12, Ecdhe, RsaCert, Chacha20, 256, Aead, true),
    c("DHE-RSA-CHACHA20-POLY1305", Tls12, Dhe, RsaCert, Chacha20, 256, Aead, true),
    c("ECDHE-ECDSA-AES256-CCM8", Tls12, Ecdhe, EcdsaCert, AesCcm8, 256, Aead, false),
    c("ECDHE-ECDSA-AES256-CCM", Tls12, Ecdhe, EcdsaCert, AesCcm, 256, Aead, false),
    c("DHE-RSA-AES256-CCM8", Tls12, Dhe, RsaCert, AesCcm8, 256, Aead, false),
    c("DHE-RSA-AES256-CCM", Tls12, Dhe, RsaCert, AesCcm, 256, Aead, false),
    c("ECDHE-ECDSA-ARIA256-GCM-SHA384", Tls12, Ecdhe, EcdsaCert, AriaGcm, 256, Aead, false),
    c("ECDHE-ARIA256-GCM-SHA384", Tls12, Ecdhe, RsaCert, AriaGcm, 256, Aead, false),
    c("DHE-DSS-ARIA256-GCM-SHA384", Tls12, Dhe, DssCert, AriaGcm, 256, Aead, false),
    c("DHE-RSA-ARIA256-GCM-SHA384", Tls12, Dhe, RsaCert, AriaGcm, 256, Aead, false),
    c("ADH-AES256-GCM-SHA384", Tls12, Dhe, Anonymous, AesGcm, 256, Aead, false),
    c("ECDHE-ECDSA-AES128-GCM-SHA256", Tls12, Ecdhe, EcdsaCert, AesGcm, 128, Aead, true),
    c("ECDHE-RSA-AES128-GCM-SHA256", Tls12, Ecdhe, RsaCert, AesGcm, 128, Aead, true),
    c("DHE-DSS-AES128-GCM-SHA256", Tls12, Dhe, DssCert, AesGcm, 128, Aead, false),
    c("DHE-RSA-AES128-GCM-SHA256", Tls12, Dhe, RsaCert, AesGcm, 128, Aead, true),
    c("ECDHE-ECDSA-AES128-CCM8", Tls12, Ecdhe, EcdsaCert, AesCcm8, 128, Aead, false),
    c("ECDHE-ECDSA-AES128-CCM", Tls12, Ecdhe, EcdsaCert, AesCcm, 128, Aead, false),
    c("DHE-RSA-AES128-CCM8", Tls12, Dhe, RsaCert, AesCcm8, 128, Aead, false),
    c("DHE-RSA-AES128-CCM", Tls12, Dhe, RsaCert, AesCcm, 128, Aead, false),
    c("ECDHE-ECDSA-ARIA128-GCM-SHA256", Tls12, Ecdhe, EcdsaCert, AriaGcm, 128, Aead, false),
    c("ECDHE-ARIA128-GCM-SHA256", Tls12, Ecdhe, RsaCert, AriaGcm, 128, Aead, false),
    c("DHE-DSS-ARIA128-GCM-SHA256", Tls12, Dhe, DssCert, AriaGcm, 128, Aead, false),
    c("DHE-RSA-ARIA128-GCM-SHA256", Tls12, Dhe, RsaCert, AriaGcm, 128, Aead, false),
    c("ADH-AES128-GCM-SHA256", Tls12, Dhe, Anonymous, AesGcm, 128, Aead, false),
    c("ECDHE-ECDSA-AES256-SHA384", Tls12, Ecdhe, EcdsaCert, Aes, 256, Sha384, true),
    c("ECDHE-RSA-AES256-SHA384", Tls12, Ecdhe, RsaCert, Aes, 256, Sha384, true),
    c("DHE-RSA-AES256-SHA256", Tls12, Dhe, RsaCert, Aes, 256, Sha256, true),
    c("DHE-DSS-AES256-SHA256", Tls12, Dhe, DssCert, Aes, 256, Sha256, false),
    c("ECDHE-ECDSA-CAMELLIA256-SHA384", Tls12, Ecdhe, EcdsaCert, Camellia, 256, Sha384, false),
    c("ECDHE-RSA-CAMELLIA256-SHA384", Tls12, Ecdhe, RsaCert, Camellia, 256, Sha384, false),
    c("DHE-RSA-CAMELLIA256-SHA256", Tls12, Dhe, RsaCert, Camellia, 256, Sha256, false),
    c("DHE-DSS-CAMELLIA256-SHA256", Tls12, Dhe, DssCert, Camellia, 256, Sha256, false),
    c("ADH-AES256-SHA256", Tls12, Dhe, Anonymous, Aes, 256, Sha256, false),
    c("ADH-CAMELLIA256-SHA256", Tls12, Dhe, Anonymous, Camellia, 256, Sha256, false),
    c("ECDHE-ECDSA-AES128-SHA256", Tls12, Ecdhe, EcdsaCert, Aes, 128, Sha256, true),
    c("ECDHE-RSA-AES128-SHA256", Tls12, Ecdhe, RsaCert, Aes, 128, Sha256, true),
    c("DHE-RSA-AES128-SHA256", Tls12, Dhe, RsaCert, Aes, 128, Sha256, true),
    c("DHE-DSS-AES128-SHA256", Tls12, Dhe, DssCert, Aes, 128, Sha256, false),
    c("ECDHE-ECDSA-CAMELLIA128-SHA256", Tls12, Ecdhe, EcdsaCert, Camellia, 128, Sha256, false),
    c("ECDHE-RSA-CAMELLIA128-SHA256", Tls12, Ecdhe, RsaCert, Camellia, 128, Sha256, false),
    c("DHE-RSA-CAMELLIA128-SHA256", Tls12, Dhe, RsaCert, Camellia, 128, Sha256, false),
    c("DHE-DSS-CAMELLIA128-SHA256", Tls12, Dhe, DssCert, Camellia, 128, Sha256, false),
    c("ADH-AES128-SHA256", Tls12, Dhe, Anonymous, Aes, 128, Sha256, false),
    c("ADH-CAMELLIA128-SHA256", Tls12, Dhe, Anonymous, Camellia, 128, Sha256, false),
    c("ECDHE-ECDSA-AES256-SHA", Tls1, Ecdhe, EcdsaCert, Aes, 256, Sha1, true),
    c("ECDHE-RSA-AES256-SHA", Tls1, Ecdhe, RsaCert, Aes, 256, Sha1, true),
    c("DHE-RSA-AES256-SHA", Ssl3, Dhe, RsaCert, Aes, 256, Sha1, true),
    c("DHE-DSS-AES256-SHA", Ssl3, Dhe, DssCert, Aes, 256, Sha1, false),
    c("DHE-RSA-CAMELLIA256-SHA", Ssl3, Dhe, RsaCert, Camellia, 256, Sha1, false),
    c("DHE-DSS-CAMELLIA256-SHA", Ssl3, Dhe, DssCert, Camellia, 256, Sha1, false),
    c("AECDH-AES256-SHA", Tls1, Ecdhe, Anonymous, Aes, 256, Sha1, false),
    c("ADH-AES256-SHA", Ssl3, Dhe, Anonymous, Aes, 256, Sha1, false),
    c("ADH-CAMELLIA256-SHA", Ssl3, Dhe, Anonymous, Camellia, 256, Sha1, false),
    c("ECDHE-ECDSA-AES128-SHA", Tls1, Ecdhe, EcdsaCert, Aes, 128, Sha1, true),
    c("ECDHE-RSA-AES128-SHA", Tls1, Ecdhe, RsaCert, Aes, 128, Sha1, true),
    c("DHE-RSA-AES128-SHA", Ssl3, Dhe, RsaCert, Aes, 128, Sha1, true),
    c("DHE-DSS-AES128-SHA", Ssl3, Dhe, DssCert, Aes, 128, Sha1, false),
    c("DHE-RSA-CAMELLIA128-SHA", Ssl3, Dhe, RsaCert, Camellia, 128, Sha1, false),
    c("DHE-DSS-CAMELLIA128-SHA", Ssl3, Dhe, DssCert, Camellia, 128, Sha1, false),
    c("AECDH-AES128-SHA", Tls1, Ecdhe, Anonymous, Aes, 128, Sha1, false),
    c("ADH-AES128-SHA", Ssl3, Dhe, Anonymous, Aes, 128, Sha1, false),
    c("ADH-CAMELLIA128-SHA", Ssl3, Dhe, Anonymous, Camellia, 128, Sha1, false),
    c("RSA-PSK-AES256-GCM-SHA384", Tls12, RsaPsk, RsaCert, AesGcm, 256, Aead, true),
    c("DHE-PSK-AES256-GCM-SHA384", Tls12, DhePsk, PskAuth, AesGcm, 256, Aead, true),
    c("RSA-PSK-CHACHA20-POLY1305", Tls12, RsaPsk, RsaCert, Chacha20, 256, Aead, true),
    c("DHE-PSK-CHACHA20-POLY1305", Tls12, DhePsk, PskAuth, Chacha20, 256, Aead, true),
    c("ECDHE-PSK-CHACHA20-POLY1305", Tls12, EcdhePsk, PskAuth, Chacha20, 256, Aead, true),
    c("DHE-PSK-AES256-CCM8", Tls12, DhePsk, PskAuth, AesCcm8, 256, Aead, false),
    c("DHE-PSK-AES256-CCM", Tls12, DhePsk, PskAuth, AesCcm, 256, Aead, false),
    c("RSA-PSK-ARIA256-GCM-SHA384", Tls12, RsaPsk, RsaCert, AriaGcm, 256, Aead, false),
    c("DHE-PSK-ARIA256-GCM-SHA384", Tls12, DhePsk, PskAuth, AriaGcm, 256, Aead, false),
    c("AES256-GCM-SHA384", Tls12, Rsa, RsaCert, AesGcm, 256, Aead, true),
    c("AES256-CCM8", Tls12, Rsa, RsaCert, AesCcm8, 256, Aead, false),
    c("AES256-CCM", Tls12, Rsa, RsaCert, AesCcm, 256, Aead, false),
    c("ARIA256-GCM-SHA384", Tls12, Rsa, RsaCert, AriaGcm, 256, Aead, false),
    c("PSK-AES256-GCM-SHA384", Tls12, Psk, PskAuth, AesGcm, 256, Aead, true),
    c("PSK-CHACHA20-POLY1305", Tls12, Psk, PskAuth, Chacha20, 256, Aead, true),
    c("PSK-AES256-CCM8", Tls12, Psk, PskAuth, AesCcm8, 256, Aead, false),
    c("PSK-AES256-CCM", Tls12, Psk, PskAuth, AesCcm, 256, Aead, false),
    c("PSK-ARIA256-GCM-SHA384", Tls12, Psk, PskAuth, AriaGcm, 256, Aead, false),
    c("RSA-PSK-AES128-GCM-SHA256", Tls12, RsaPsk, RsaCert, AesGcm, 128, Aead, true),
    c("DHE-PSK-AES128-GCM-SHA256", Tls12, DhePsk, PskAuth, AesGcm, 128, Aead, true),
    c("DHE-PSK-AES128-CCM8", Tls12, DhePsk, PskAuth, AesCcm8, 128, Aead, false),
    c("DHE-PSK-AES128-CCM", Tls12, DhePsk, PskAuth, AesCcm, 128, Aead, false),
    c("RSA-PSK-ARIA128-GCM-SHA256", Tls12, RsaPsk, RsaCert, AriaGcm, 128, Aead, false),
    c("DHE-PSK-ARIA128-GCM-SHA256", Tls12, DhePsk, PskAuth, AriaGcm, 128, Aead, false),
    c("AES128-GCM-SHA256", Tls12, Rsa, RsaCert, AesGcm, 128, Aead, true),
    c("AES128-CCM8", Tls12, Rsa, RsaCert, AesCcm8, 128, Aead, false),
    c("AES128-CCM", Tls12, Rsa, RsaCert, AesCcm, 128, Aead, false),
    c("ARIA128-GCM-SHA256", Tls12, Rsa, RsaCert, AriaGcm, 128, Aead, false),
    c("PSK-AES128-GCM-SHA256", Tls12, Psk, PskAuth, AesGcm, 128, Aead, true),
    c("PSK-AES128-CCM8", Tls12, Psk, PskAuth, AesCcm8, 128, Aead, false),
    c("PSK-AES128-CCM", Tls12, Psk, PskAuth, AesCcm, 128, Aead, false),
    c("PSK-ARIA128-GCM-SHA256", Tls12, Psk, PskAuth, AriaGcm, 128, Aead, false),
    c("AES256-SHA256", Tls12, Rsa, RsaCert, Aes, 256, Sha256, true),
    c("CAMELLIA256-SHA256", Tls12, Rsa, RsaCert, Camellia, 256, Sha256, false),
    c("AES128-SHA256", Tls12, Rsa, RsaCert, Aes, 128, Sha256, true),
    c("CAMELLIA128-SHA256", Tls12, Rsa, RsaCert, Camellia, 128, Sha256, false),
    c("ECDHE-PSK-AES256-CBC-SHA384", Tls1, EcdhePsk, PskAuth, Aes, 256, Sha384, true),
    c("ECDHE-PSK-AES256-CBC-SHA", Tls1, EcdhePsk, PskAuth, Aes, 256, Sha1, true),
    c("SRP-DSS-AES-256-CBC-SHA", Ssl3, Srp, DssCert, Aes, 256, Sha1, false),
    c("SRP-RSA-AES-256-CBC-SHA", Ssl3, Srp, RsaCert, Aes, 256, Sha1, true),
    c("SRP-AES-256-CBC-SHA", Ssl3, Srp, SrpAuth, Aes, 256, Sha1, true),
    c("RSA-PSK-AES256-CBC-SHA384", Tls1, RsaPsk, RsaCert, Aes, 256, Sha384, true),
    c("DHE-PSK-AES256-CBC-SHA384", Tls1, DhePsk, PskAuth, Aes, 256, Sha384, true),
    c("RSA-PSK-AES256-CBC-SHA", Ssl3, RsaPsk, RsaCert, Aes, 256, Sha1, true),
    c("DHE-PSK-AES256-CBC-SHA", Ssl3, DhePsk, PskAuth, Aes, 256, Sha1, true),
    c("ECDHE-PSK-CAMELLIA256-SHA384", Tls1, EcdhePsk, PskAuth, Camellia, 256, Sha384, false),
    c("RSA-PSK-CAMELLIA256-SHA384", Tls1, RsaPsk, RsaCert, Camellia, 256, Sha384, false),
    c("DHE-PSK-CAMELLIA256-SHA384", Tls1, DhePsk, PskAuth, Camellia, 256, Sha384, false),
    c("AES256-SHA", Ssl3, Rsa, RsaCert, Aes, 256, Sha1, true),
    c("CAMELLIA256-SHA", Ssl3, Rsa, RsaCert, Camellia, 256, Sha1, false),
    c("PSK-AES256-CBC-SHA384", Tls1, Psk, PskAuth, Aes, 256, Sha384, true),
    c("PSK-AES256-CBC-SHA", Ssl3, Psk, PskAuth, Aes, 256, Sha1, true),
    c("PSK-CAMELLIA256-SHA384", Tls1, Psk, PskAuth, Camellia, 256, Sha384, false),
    c("ECDHE-PSK-AES128-CBC-SHA256", Tls1, EcdhePsk, PskAuth, Aes, 128, Sha256, true),
    c("ECDHE-PSK-AES128-CBC-SHA", Tls1, EcdhePsk, PskAuth, Aes, 128, Sha1, true),
    c("SRP-DSS-AES-128-CBC-SHA", Ssl3, Srp, DssCert, Aes, 128, Sha1, false),
    c("SRP-RSA-AES-128-CBC-SHA", Ssl3, Srp, RsaCert, Aes, 128, Sha1, true),
    c("SRP-AES-128-CBC-SHA", Ssl3, Srp, SrpAuth, Aes, 128, Sha1, true),
    c("RSA-PSK-AES128-CBC-SHA256", Tls1, RsaPsk, RsaCert, Aes, 128, Sha256, true),
    c("DHE-PSK-AES128-CBC-SHA256", Tls1, DhePsk, PskAuth, Aes, 128, Sha256, true),
    c("RSA-PSK-AES128-CBC-SHA", Ssl3, RsaPsk, RsaCert, Aes, 128, Sha1, true),
    c("DHE-PSK-AES128-CBC-SHA", Ssl3, DhePsk, PskAuth, Aes, 128, Sha1, true),
    c("ECDHE-PSK-CAMELLIA128-SHA256", Tls1, EcdhePsk, PskAuth, Camellia, 128, Sha256, false),
    c("RSA-PSK-CAMELLIA128-SHA256", Tls1, RsaPsk, RsaCert, Camellia, 128, Sha256, false),
    c("DHE-PSK-CAMELLIA128-SHA256", Tls1, DhePsk, PskAuth, Camellia, 128, Sha256, false),
    c("AES128-SHA", Ssl3, Rsa, RsaCert, Aes, 128, Sha1, true),
    c("CAMELLIA128-SHA", Ssl3, Rsa, RsaCert, Camellia, 128, Sha1, false),
    c("PSK-AES128-CBC-SHA256", Tls1, Psk, PskAuth, Aes, 128, Sha256, true),
    c("PSK-AES128-CBC-SHA", Ssl3, Psk, PskAuth, Aes, 128, Sha1, true),
    c("PSK-CAMELLIA128-SHA256", Tls1, Psk, PskAuth, Camellia, 128, Sha256, false),
    c("ECDHE-ECDSA-NULL-SHA", Tls1, Ecdhe, EcdsaCert, Null, 0, Sha1, false),
    c("ECDHE-RSA-NULL-SHA", Tls1, Ecdhe, RsaCert, Null, 0, Sha1, false),
    c("AECDH-NULL-SHA", Tls1, Ecdhe, Anonymous, Null, 0, Sha1, false),
    c("NULL-SHA256", Tls12, Rsa, RsaCert, Null, 0, Sha256, false),
    c("ECDHE-PSK-NULL-SHA384", Tls1, EcdhePsk, PskAuth, Null, 0, Sha384, false),
    c("ECDHE-PSK-NULL-SHA256", Tls1, EcdhePsk, PskAuth, Null, 0, Sha256, false),
    c("ECDHE-PSK-NULL-SHA", Tls1, EcdhePsk, PskAuth, Null, 0, Sha1, false),
    c("RSA-PSK-NULL-SHA384", Tls1, RsaPsk, RsaCert, Null, 0, Sha384, false),
    c("RSA-PSK-NULL-SHA256", Tls1, RsaPsk, RsaCert, Null, 0, Sha256, false),
    c("DHE-PSK-NULL-SHA384", Tls1, DhePsk, PskAuth, Null, 0, Sha384, false),
    c("DHE-PSK-NULL-SHA256", Tls1, DhePsk, PskAuth, Null, 0, Sha256, false),
    c("RSA-PSK-NULL-SHA", Ssl3, RsaPsk, RsaCert, Null, 0, Sha1, false),
    c("DHE-PSK-NULL-SHA", Ssl3, DhePsk, PskAuth, Null, 0, Sha1, false),
    c("NULL-SHA", Ssl3, Rsa, RsaCert, Null, 0, Sha1, false),
    c("NULL-MD5", Ssl3, Rsa, RsaCert, Null, 0, Md5, false),
    c("PSK-NULL-SHA384", Tls1, Psk, PskAuth, Null, 0, Sha384, false),
    c("PSK-NULL-SHA256", Tls1, Psk, PskAuth, Null, 0, Sha256, false),
    c("PSK-NULL-SHA", Ssl3, Psk, PskAuth, Null, 0, Sha1, false),
    ]
};

#[cfg(test)]
mod tests {
    use super::*;

    fn names(spec: &str) -> Vec<&'static str> {
        cipher_list(spec).unwrap().into_iter().map(|i| OPENSSL[i].name).collect()
    }

    #[test]
    fn cipher_lists_select_as_openssl_does() {
        assert_eq!(names("ECDHE-RSA-AES128-GCM-SHA256:BOGUS"), ["ECDHE-RSA-AES128-GCM-SHA256"]);
        assert_eq!(names("ECDHE+AESGCM+aRSA"), ["ECDHE-RSA-AES256-GCM-SHA384", "ECDHE-RSA-AES128-GCM-SHA256"]);
        assert_eq!(names("ECDHE+AESGCM+aRSA:@STRENGTH"), ["ECDHE-RSA-AES256-GCM-SHA384", "ECDHE-RSA-AES128-GCM-SHA256"]);
        // `+` moves to the end, `-` removes and lets a later word add back.
        assert_eq!(names("ECDHE+AESGCM+aRSA:+AES256"), ["ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-RSA-AES256-GCM-SHA384"]);
        assert_eq!(names("ECDHE+AESGCM+aRSA:-AES256:AES256+ECDHE+aRSA+AESGCM"), ["ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-RSA-AES256-GCM-SHA384"]);
        // `!` removes for good.
        assert_eq!(names("ECDHE+AESGCM+aRSA:!AES256:ECDHE-RSA-AES256-GCM-SHA384"), ["ECDHE-RSA-AES128-GCM-SHA256"]);
        assert_eq!(names("AES128-SHA"), ["AES128-SHA"]);
        assert!(names("HIGH:!aNULL:!MD5").iter().all(|n| !n.starts_with("ADH") && !n.starts_with("AECDH")));
        assert_eq!(names("DEFAULT").len(), OPENSSL.iter().filter(|c| c.default).count());
    }

    #[test]
    fn cipher_lists_selecting_nothing_are_refused() {
        for spec in ["BOGUS", "AES128-SHA:!AES128-SHA", "ECDHE-RSA-AES128-GCM-SHA256+BOGUS", "DEFAULT:-ALL", "kRSA+aNULL", "@STRENGTH", "TLS_AES_128_GCM_SHA256"] {
            assert_eq!(cipher_list(spec), Err(format!("unable to set SSL cipher list to '{spec}'")), "{spec}");
        }
    }

    #[test]
    fn tls13_lists_and_groups_as_openssl_takes_them() {
        assert_eq!(tls13_list("BOGUS:TLS_AES_128_GCM_SHA256").unwrap(), ["TLS_AES_128_GCM_SHA256"]);
        assert!(tls13_list("BOGUS").is_err() && tls13_list("tls_aes_128_gcm_sha256").is_err());
        assert_eq!(group_list("X25519:P-256"), Some(vec!["X25519", "P-256"]));
        for bad in ["BOGUS", "X25519:BOGUS", "p-256", "PRIME256V1", "X25519:", ":X25519", "X25519,P-256", "secp112r1"] {
            assert_eq!(group_list(bad), None, "{bad}");
        }
    }

    #[test]
    fn settings_narrow_what_rustls_offers() {
        let s = Suites { ciphers: Some("ECDHE-RSA-AES256-GCM-SHA384:AES128-SHA".into()), ciphersuites: Some("TLS_AES_256_GCM_SHA384".into()), curves: Some("P-521:P-384:X25519".into()), ecdhe: None };
        let p = s.provider().unwrap();
        let suites: Vec<String> = p.cipher_suites.iter().map(|s| crate::tls::cipher_name(*s)).collect();
        assert_eq!(suites, ["TLS_AES_256_GCM_SHA384", "ECDHE-RSA-AES256-GCM-SHA384"]);
        let groups: Vec<NamedGroup> = p.kx_groups.iter().map(|g| g.name()).collect();
        assert_eq!(groups, [NamedGroup::secp384r1, NamedGroup::X25519]);
        assert!(s.warnings().is_empty());
        // Only suites rustls lacks for TLS 1.2: TLS 1.3 alone, with a warning.
        let s = Suites { ciphers: Some("AES128-SHA".into()), ..Suites::default() };
        assert_eq!(s.provider().unwrap().cipher_suites.len(), 3);
        assert_eq!(s.warnings().len(), 1);
        let s = Suites { curves: Some("X448".into()), ..Suites::default() };
        assert!(s.provider().unwrap_err().contains("none of the groups of 'curves X448'"));
    }
}
