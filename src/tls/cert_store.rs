//! Certificates replaceable at run time: Lua's `CertCache.set{filename=..., crt=...,
//! key=..., ocsp=...}` ([`replace`]) and the CLI's `set ssl cert` + `commit ssl cert`
//! (`cli_socket::ssl_cert`: [`prepare`] at `set`, [`install`] at `commit`), one code
//! path: the certificate loaded from `filename` is served from the next handshake on,
//! by every bind line that loaded it; established connections keep theirs.
//!
//! Each certificate file a bind line loads gets a [`Slot`], registered here under its
//! path as loaded (after `crt-base`, one per file of a `crt` directory), which is the
//! name `CertCache.set` takes. The SNI choice ([`super::certs::SniResolver`]) reads the
//! slot's current certificate and, for lines without SNI filters, its names.

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;
use std::sync::{Arc, Mutex, RwLock, Weak};

/// A served certificate and the names (subjectAltName DNS entries, lower case) it
/// is chosen by.
#[derive(Debug)]
pub struct Slot {
    current: RwLock<(Arc<CertifiedKey>, Vec<String>)>,
}

impl Slot {
    /// The certificate served now.
    pub fn certified_key(&self) -> Arc<CertifiedKey> {
        self.current.read().unwrap_or_else(|e| e.into_inner()).0.clone()
    }

    /// Whether the certificate's own names include `name`.
    pub fn has_name(&self, name: &str) -> bool {
        self.current.read().unwrap_or_else(|e| e.into_inner()).1.iter().any(|n| n == name)
    }

    fn set(&self, ck: Arc<CertifiedKey>, names: Vec<String>) {
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = (ck, names);
    }
}

/// Every slot by its file name; dead ones (a configuration dropped) are skipped.
static STORE: Mutex<Vec<(String, Weak<Slot>)>> = Mutex::new(Vec::new());

/// The certificates the CLI keeps alive: made by `new ssl cert` (`None` until a
/// certificate is committed), or taken out of every crt-list line by `del ssl
/// crt-list`; `del ssl cert` forgets them.
static KEPT: Mutex<Vec<(String, Option<Arc<Slot>>)>> = Mutex::new(Vec::new());

fn kept() -> std::sync::MutexGuard<'static, Vec<(String, Option<Arc<Slot>>)>> {
    KEPT.lock().unwrap_or_else(|e| e.into_inner())
}

/// `new ssl cert <file>`: an empty certificate to fill with `set ssl cert` and
/// `commit ssl cert`. `Err`: HAProxy's message.
pub fn new_cert(filename: &str) -> Result<(), String> {
    if is_loaded(filename) || kept().iter().any(|(f, _)| f == filename) {
        return Err(format!("Certificate '{filename}' already exists!"));
    }
    kept().push((filename.to_string(), None));
    Ok(())
}

/// `add ssl crt-list`: the certificate of `filename` to serve on a new line. `Err`:
/// HAProxy's reason.
pub fn slot_for_list(filename: &str) -> Result<Arc<Slot>, String> {
    if let Some((_, kept)) = kept().iter().find(|(f, _)| f == filename) {
        return kept.clone().ok_or_else(|| format!("certificate '{filename}' is empty!"));
    }
    slots(filename).into_iter().next().ok_or_else(|| format!("certificate '{filename}' does not exist!"))
}

/// `del ssl crt-list` took `slot` out of a line: keep the certificate known.
pub fn keep(filename: &str, slot: Arc<Slot>) {
    let mut kept = kept();
    if !kept.iter().any(|(f, _)| f == filename) {
        kept.push((filename.to_string(), Some(slot)));
    }
}

/// How many places serve `filename`'s certificate (bind lines, crt-list lines): the
/// references to its slots beyond the CLI's own.
fn instances(filename: &str) -> usize {
    let own = kept().iter().find(|(f, _)| f == filename).and_then(|(_, s)| s.clone());
    let slots = slots(filename);
    let refs: usize = slots.iter().map(|s| Arc::strong_count(s) - 1).sum();
    // `own` and `slots` hold one reference each to the kept slot.
    refs.saturating_sub(usize::from(own.is_some()) * 2)
}

/// `del ssl cert <file>`: forgets a certificate no line serves. `Err`: HAProxy's message.
pub fn del_cert(filename: &str) -> Result<(), String> {
    let known = is_loaded(filename) || kept().iter().any(|(f, _)| f == filename);
    if !known {
        return Err(format!("Can't remove the certificate: certificate '{filename}' doesn't exist!\n"));
    }
    if instances(filename) > 0 {
        return Err(format!("Can't remove the certificate: certificate '{filename}' in use, can't be deleted!\n"));
    }
    kept().retain(|(f, _)| f != filename);
    Ok(())
}

/// A new slot for the certificate loaded from `filename`.
pub fn register(filename: &str, ck: Arc<CertifiedKey>, names: Vec<String>) -> Arc<Slot> {
    let slot = Arc::new(Slot { current: RwLock::new((ck, names)) });
    let mut store = STORE.lock().unwrap_or_else(|e| e.into_inner());
    store.retain(|(_, w)| w.strong_count() > 0);
    store.push((filename.to_string(), Arc::downgrade(&slot)));
    slot
}

/// Whether a bind line loaded a certificate from `filename`.
pub fn is_loaded(filename: &str) -> bool {
    STORE.lock().unwrap_or_else(|e| e.into_inner()).iter().any(|(f, w)| f == filename && w.strong_count() > 0)
}

/// What `CertCache.set` gives for one certificate.
#[derive(Debug, Default)]
pub struct Update<'a> {
    /// The PEM certificate chain, possibly with the private key.
    pub crt: Option<&'a [u8]>,
    /// The PEM private key, when not in `crt`.
    pub key: Option<&'a [u8]>,
    /// A DER OCSP response, base64-encoded, to staple.
    pub ocsp: Option<&'a [u8]>,
}

/// A replacement certificate checked and ready to serve ([`prepare`]), not yet
/// served: the CLI's `set ssl cert` keeps one in its transaction until `commit`.
#[derive(Debug, Clone)]
pub struct Prepared {
    ck: Arc<CertifiedKey>,
    names: Vec<String>,
}

impl Prepared {
    /// The certificate it would serve.
    pub fn certified_key(&self) -> &Arc<CertifiedKey> {
        &self.ck
    }
}

/// The slots loaded from `filename`.
fn slots(filename: &str) -> Vec<Arc<Slot>> {
    let store = STORE.lock().unwrap_or_else(|e| e.into_inner());
    store.iter().filter(|(f, _)| f == filename).filter_map(|(_, w)| w.upgrade()).collect()
}

/// Every certificate file a bind line loaded, sorted and once each (the CLI's
/// `show ssl cert`).
pub fn filenames() -> Vec<String> {
    let mut names: Vec<String> = {
        let store = STORE.lock().unwrap_or_else(|e| e.into_inner());
        store.iter().filter(|(_, w)| w.strong_count() > 0).map(|(f, _)| f.clone()).collect()
    };
    names.extend(kept().iter().map(|(f, _)| f.clone()));
    names.sort();
    names.dedup();
    names
}

/// The certificate served now for `filename`.
pub fn current(filename: &str) -> Option<Arc<CertifiedKey>> {
    slots(filename).first().map(|s| s.certified_key())
}

/// Replaces the certificate loaded from `filename` in every bind line that loaded
/// it: `crt` replaces the chain (and the key when it holds one: else `key` must give
/// it), `key` alone the key, `ocsp` the stapled response (a new chain drops the old
/// response). Nothing to replace is no change. Errors are HAProxy's messages, raised
/// by `CertCache.set`; the certificate served then stays as it was.
pub fn replace(filename: &str, update: &Update<'_>) -> Result<(), String> {
    match prepare(filename, update)? {
        Some(p) => install(filename, &p).map(drop),
        None => Ok(()),
    }
}

/// Checks an update of the certificate loaded from `filename` and builds what it
/// would serve, without serving it ([`replace`]'s first half; `None`: nothing to
/// change).
pub fn prepare(filename: &str, update: &Update<'_>) -> Result<Option<Prepared>, String> {
    let old = current(filename);
    let empty = old.is_none() && kept().iter().any(|(f, s)| f == filename && s.is_none());
    if old.is_none() && !empty {
        return Err("Can't replace a certificate which is not referenced by the configuration!".into());
    }
    if update.crt.is_none() && update.key.is_none() && update.ocsp.is_none() {
        return Ok(None);
    }
    let certs = match update.crt {
        Some(pem) => CertificateDer::pem_slice_iter(pem)
            .collect::<Result<Vec<_>, _>>()
            .ok()
            .filter(|c| !c.is_empty())
            .ok_or_else(|| format!("unable to load certificate from file '{filename}'.\nCan't load the payload for 'crt'"))?,
        None => match &old {
            Some(old) => old.cert.clone(),
            None => return Err(format!("unable to load certificate from file '{filename}'.\nCan't load the payload for 'crt'")),
        },
    };
    let no_key = || format!("unable to load SSL private key into SSL Context '{filename}'.\n");
    let key_pem = update.key.or(update.crt.filter(|pem| PrivateKeyDer::from_pem_slice(pem).is_ok()));
    let key = match key_pem {
        Some(pem) => {
            let der = PrivateKeyDer::from_pem_slice(pem).map_err(|_| no_key())?;
            rustls::crypto::ring::sign::any_supported_type(&der).map_err(|_| no_key())?
        }
        None => match &old {
            Some(old) if update.crt.is_none() => old.key.clone(),
            _ => return Err(no_key()),
        },
    };
    let mut ck = CertifiedKey::new(certs, key);
    ck.ocsp = if update.crt.is_some() { None } else { old.as_ref().and_then(|o| o.ocsp.clone()) };
    if let Some(b64) = update.ocsp {
        let text: Vec<u8> = b64.iter().copied().filter(|b| !b.is_ascii_whitespace()).collect();
        let der = crate::sample::conv::b64_decode(&text, false).ok_or("Error reading OCSP response in base64 formatCan't load the payload for 'ocsp'")?;
        ck.ocsp = Some(der);
    }
    ck.keys_match().map_err(|_| format!("inconsistencies between private key and certificate loaded '{filename}'."))?;
    let names = ck.cert.first().map(super::certs::dns_names).unwrap_or_default();
    Ok(Some(Prepared { ck: Arc::new(ck), names }))
}

/// Serves `prepared` from the next handshake on, in every bind line that loaded
/// `filename` ([`replace`]'s second half; established connections keep theirs).
/// The number of certificate instances (one per bind line or crt-list line) updated.
pub fn install(filename: &str, prepared: &Prepared) -> Result<usize, String> {
    let slots = slots(filename);
    if slots.is_empty() {
        // A certificate made by `new ssl cert`, filled for the first time.
        let mut kept = kept();
        let Some((_, empty)) = kept.iter_mut().find(|(f, s)| f == filename && s.is_none()) else {
            return Err("Can't replace a certificate which is not referenced by the configuration!".into());
        };
        *empty = Some(register(filename, prepared.ck.clone(), prepared.names.clone()));
        return Ok(0);
    }
    for slot in &slots {
        slot.set(prepared.ck.clone(), prepared.names.clone());
    }
    drop(slots);
    Ok(instances(filename))
}

/// Staples the DER OCSP response `der` to every certificate it is about, from the
/// next handshake on: the certificates whose serial number and issuer name match the
/// response's first single response (RFC 6960 `CertID`; the issuer key hash is not
/// compared). The number of files updated.
pub fn set_ocsp(der: &[u8], is_about: impl Fn(&CertificateDer<'_>) -> bool) -> usize {
    let mut updated = 0;
    for name in filenames() {
        let Some(old) = current(&name) else { continue };
        if !old.cert.first().is_some_and(&is_about) {
            continue;
        }
        let mut ck = CertifiedKey::new(old.cert.clone(), old.key.clone());
        ck.ocsp = Some(der.to_vec());
        let names = ck.cert.first().map(super::certs::dns_names).unwrap_or_default();
        if install(&name, &Prepared { ck: Arc::new(ck), names }).is_ok() {
            updated += 1;
        }
    }
    updated
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pem(name: &str) -> String {
        let ck = rcgen::generate_simple_self_signed(vec![name.to_string()]).unwrap();
        format!("{}{}", ck.cert.pem(), ck.key_pair.serialize_pem())
    }

    #[test]
    fn a_registered_certificate_is_replaced_everywhere() {
        let first = pem("one.test");
        let ck = Arc::new(super::super::certs::certified_key_from_pem(first.as_bytes(), "x").unwrap());
        let a = register("/store-test/a.pem", ck.clone(), vec!["one.test".into()]);
        let b = register("/store-test/a.pem", ck, vec!["one.test".into()]);
        let second = pem("two.test");
        replace("/store-test/a.pem", &Update { crt: Some(second.as_bytes()), ..Update::default() }).unwrap();
        for slot in [&a, &b] {
            assert!(slot.has_name("two.test") && !slot.has_name("one.test"));
        }
        assert_eq!(a.certified_key().cert, b.certified_key().cert);
        assert_eq!(
            replace("/store-test/none.pem", &Update { crt: Some(second.as_bytes()), ..Update::default() }).unwrap_err(),
            "Can't replace a certificate which is not referenced by the configuration!"
        );
        // A certificate without its key, or with another's, is refused; the old one stays.
        let (cert_only, _) = second.split_at(second.find("-----BEGIN PRIVATE KEY").unwrap());
        assert_eq!(
            replace("/store-test/a.pem", &Update { crt: Some(cert_only.as_bytes()), ..Update::default() }).unwrap_err(),
            "unable to load SSL private key into SSL Context '/store-test/a.pem'.\n"
        );
        assert!(replace("/store-test/a.pem", &Update { crt: Some(b"garbage"), ..Update::default() }).unwrap_err().ends_with("Can't load the payload for 'crt'"));
        assert_eq!(replace("/store-test/a.pem", &Update::default()), Ok(()), "nothing to replace");
        let other_key = pem("three.test");
        let key = &other_key[other_key.find("-----BEGIN PRIVATE KEY").unwrap()..];
        let err = replace("/store-test/a.pem", &Update { crt: Some(cert_only.as_bytes()), key: Some(key.as_bytes()), ..Update::default() }).unwrap_err();
        assert!(err.contains("inconsistencies"), "{err}");
        assert!(a.has_name("two.test"));
    }
}
