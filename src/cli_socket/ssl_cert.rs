//! HAProxy 2.6's certificate commands: `show ssl cert`, the `set`/`commit`/`abort ssl
//! cert` transaction, and `set ssl ocsp-response`. This is how certbot or acme.sh
//! hooks renew a certificate without a reload:
//!
//! ```text
//! set ssl cert /etc/haproxy/site.pem <<
//! <the new PEM: certificate, chain, key>
//!
//! commit ssl cert /etc/haproxy/site.pem
//! ```
//!
//! Certificates are the files bind lines loaded (`crt`, a `crt` directory's files,
//! crt-list lines), named by their path as loaded, in [`crate::tls::cert_store`]: the
//! transaction's certificate is checked and built by `cert_store::prepare` (the code
//! path of Lua's `CertCache.set`) and served by `cert_store::install` from the next
//! handshake on; established connections keep the certificate they were given.
//!
//! As in HAProxy, one transaction exists per process: `set ssl cert` creates it (or
//! replaces its certificate), `show ssl cert *<file>` shows it, `commit` serves it and
//! `abort` drops it. Messages and formats are HAProxy 2.6's. Deviations (doc/tls.md):
//! a payload without its private key is refused at `set` (HAProxy keeps the old key
//! and refuses at `commit` when it does not match); `set ssl cert` on another file
//! than the ongoing transaction's is refused (HAProxy 2.6 silently puts the payload
//! in the ongoing transaction); `OCSP Response Key:` stays empty.

use super::Exec;
use crate::tls::cert_store::{self, Prepared, Update};
use crate::tls::x509::{self, DnSelect, Which};
use rustls::pki_types::CertificateDer;
use std::sync::Mutex;

/// The process's one certificate transaction: its file and what commit would serve.
static TRANSACTION: Mutex<Option<(String, Prepared)>> = Mutex::new(None);

fn transaction() -> std::sync::MutexGuard<'static, Option<(String, Prepared)>> {
    TRANSACTION.lock().unwrap_or_else(|e| e.into_inner())
}

/// `show ssl cert [<file>|*<file>]`: the files (the transaction's first), or one
/// certificate's details.
pub fn show_cert(_: &mut Exec<'_>, args: &[String]) -> String {
    const NOT_FOUND: &str = "Can't display the certificate: Not found or the certificate is a bundle!\n";
    let tx = transaction();
    let Some(name) = args.first() else {
        let mut out = String::new();
        if let Some((file, _)) = tx.as_ref() {
            out.push_str(&format!("# transaction\n*{file}\n"));
        }
        out.push_str("# filename\n");
        for file in cert_store::filenames() {
            out.push_str(&file);
            out.push('\n');
        }
        return out;
    };
    if let Some(file) = name.strip_prefix('*') {
        return match tx.as_ref() {
            Some((f, p)) if f == file => details(name, "Unused", p.certified_key().cert.as_slice(), p.certified_key().ocsp.is_some()),
            _ => NOT_FOUND.into(),
        };
    }
    match cert_store::current(name) {
        Some(ck) => details(name, "Used", &ck.cert, ck.ocsp.is_some()),
        None => NOT_FOUND.into(),
    }
}

/// `set ssl cert <file> <payload>`: creates or updates the transaction.
pub fn set_cert(exec: &mut Exec<'_>, args: &[String]) -> String {
    let (Some(file), Some(payload)) = (args.first(), exec.payload) else {
        return "'set ssl cert expects a filename and a certificate as a payload\n".into();
    };
    let mut tx = transaction();
    if let Some((ongoing, _)) = tx.as_ref().filter(|(f, _)| f != file) {
        return format!("The ongoing transaction is about '{ongoing}' but you are trying to set '{file}'\nCan't update {file}!\n");
    }
    let update = Update { crt: Some(payload.as_bytes()), ..Update::default() };
    match cert_store::prepare(file, &update) {
        Ok(Some(prepared)) => {
            let verb = if tx.is_some() { "updated" } else { "created" };
            *tx = Some((file.clone(), prepared));
            format!("Transaction {verb} for certificate {file}!\n")
        }
        // Not reached: a payload is always something to change.
        Ok(None) => format!("Can't update {file}!\n"),
        Err(e) => {
            // The payload is the CLI's one field: HAProxy does not name it.
            let e = e.replace("Can't load the payload for 'crt'", "Can't load the payload");
            let sep = if e.ends_with('\n') { "" } else { "\n" };
            format!("{e}{sep}Can't update {file}!\n")
        }
    }
}

/// `commit ssl cert <file>`: serves the transaction's certificate.
pub fn commit_cert(_: &mut Exec<'_>, args: &[String]) -> String {
    let Some(file) = args.first() else { return "'commit ssl cert expects a filename\n".into() };
    let mut tx = transaction();
    match tx.as_ref() {
        None => format!("No ongoing transaction! !\nCan't commit {file}!\n"),
        // HAProxy 2.6 words it as `set` does.
        Some((ongoing, _)) if ongoing != file => {
            format!("The ongoing transaction is about '{ongoing}' but you are trying to set '{file}'\nCan't commit {file}!\n")
        }
        Some((_, prepared)) => match cert_store::install(file, prepared) {
            // A dot for each instance (bind or crt-list line) updated.
            Ok(instances) => {
                *tx = None;
                format!("Committing {file}{}\nSuccess!\n", ".".repeat(instances))
            }
            Err(e) => format!("Committing {file}\n{e}\nCan't commit {file}!\n"),
        },
    }
}

/// `abort ssl cert <file>`: drops the transaction.
pub fn abort_cert(_: &mut Exec<'_>, args: &[String]) -> String {
    let Some(file) = args.first() else { return "'abort ssl cert' expects a filename\n".into() };
    let mut tx = transaction();
    match tx.as_ref() {
        None => "No ongoing transaction!\n".into(),
        Some((ongoing, _)) if ongoing != file => {
            format!("The ongoing transaction is about '{ongoing}' but you are trying to abort a transaction for '{file}'\n")
        }
        Some(_) => {
            *tx = None;
            format!("Transaction aborted for certificate '{file}'!\n")
        }
    }
}

/// `set ssl ocsp-response <base64>` (or the base64 as a payload): staples the DER
/// OCSP response to the certificates it is about, from the next handshake on.
pub fn set_ocsp_response(exec: &mut Exec<'_>, args: &[String]) -> String {
    let text: Vec<u8> = match (exec.payload, args.first()) {
        (Some(p), _) => p.bytes().filter(|b| !b.is_ascii_whitespace()).collect(),
        (None, Some(a)) => a.as_bytes().to_vec(),
        (None, None) => return "'set ssl ocsp-response' expects response in base64 encoding.\n".into(),
    };
    let Some(der) = crate::sample::conv::b64_decode(&text, false) else {
        return "'set ssl ocsp-response' received invalid base64 encoded response.\n".into();
    };
    let id = match ocsp_cert_id(&der) {
        Ok(id) => id,
        Err(e) => return format!("{e}\n"),
    };
    match cert_store::set_ocsp(&der, |leaf| id.is_about(leaf)) {
        0 => "OCSP single response: Certificate ID does not match any certificate or issuer.\n".into(),
        _ => "OCSP Response updated!\n".into(),
    }
}

// ---- `show ssl cert <file>` ----------------------------------------------------------

/// The details of a certificate chain (leaf first), as HAProxy 2.6 prints them.
fn details(name: &str, status: &str, chain: &[CertificateDer<'_>], _ocsp: bool) -> String {
    let mut out = format!("Filename: {name}\nStatus: {status}\n");
    if let Some(leaf) = chain.first() {
        out.push_str(&leaf_details(leaf));
        for c in &chain[1..] {
            if let Some(cert) = x509::Cert::parse(c) {
                out.push_str(&format!("Chain Subject: {}\n", dn(&cert, Which::Subject)));
                out.push_str(&format!("Chain Issuer: {}\n", dn(&cert, Which::Issuer)));
            }
        }
    }
    // The key of the OCSP response's CertID (not computed: see the module's doc).
    out.push_str("OCSP Response Key: \n");
    out
}

fn leaf_details(der: &[u8]) -> String {
    let Some(cert) = x509::Cert::parse(der) else { return String::new() };
    let mut out = format!("Serial: {}\n", hex(cert.serial));
    let validity = tbs_fields(der).and_then(|f| f.get(3).map(|v| v.1 .1));
    let mut times = std::iter::successors(validity.and_then(tlv), |t| tlv(t.2));
    for label in ["notBefore", "notAfter"] {
        if let Some(t) = times.next().and_then(|(tag, t, _)| asn1_time(tag, t.1)) {
            out.push_str(&format!("{label}: {t}\n"));
        }
    }
    let san: Vec<String> = webpki::EndEntityCert::try_from(&CertificateDer::from(der))
        .map(|ee| ee.valid_dns_names().map(|n| format!("DNS:{n}")).collect())
        .unwrap_or_default();
    if !san.is_empty() {
        out.push_str(&format!("Subject Alternative Name: {}\n", san.join(", ")));
    }
    if let Some(alg) = key_algorithm(der) {
        out.push_str(&format!("Algorithm: {alg}\n"));
    }
    out.push_str(&format!("SHA1 FingerPrint: {}\n", hex(&x509::sha1(der))));
    out.push_str(&format!("Subject: {}\n", dn(&cert, Which::Subject)));
    out.push_str(&format!("Issuer: {}\n", dn(&cert, Which::Issuer)));
    out
}

fn dn(cert: &x509::Cert<'_>, which: Which) -> String {
    cert.dn(which, &DnSelect::OneLine).map(|v| String::from_utf8_lossy(&v).into_owned()).unwrap_or_default()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

/// A `UTCTime` (tag 0x17, `YYMMDDhhmmssZ`, 1950-2049) or `GeneralizedTime` (0x18,
/// `YYYYMMDDhhmmssZ`) as OpenSSL's `ASN1_TIME_print`: `Dec  6 19:00:06 2026 GMT`.
fn asn1_time(tag: u8, t: &[u8]) -> Option<String> {
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let t = std::str::from_utf8(t).ok()?;
    let (year, t) = match tag {
        0x17 => {
            let yy: usize = t.get(..2)?.parse().ok()?;
            (if yy >= 50 { 1900 + yy } else { 2000 + yy }, t.get(2..)?)
        }
        0x18 => (t.get(..4)?.parse().ok()?, t.get(4..)?),
        _ => return None,
    };
    let n = |i: usize| t.get(i..i + 2)?.parse::<usize>().ok();
    let month = MONTHS.get(n(0)?.checked_sub(1)?)?;
    Some(format!("{month} {:2} {:02}:{:02}:{:02} {year} GMT", n(2)?, n(4)?, n(6)?, n(8)?))
}

/// The key's algorithm and size as HAProxy prints them (`RSA2048`, `EC256`).
fn key_algorithm(der: &[u8]) -> Option<String> {
    const RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
    const EC: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
    const ED25519: &[u8] = &[0x2b, 0x65, 0x70];
    let spki = spki(der)?;
    let (_, alg, rest) = tlv(spki.1)?;
    let (_, oid, params) = tlv(alg.1)?;
    match oid.1 {
        RSA => {
            let (_, bits, _) = tlv(rest)?;
            let (_, key, _) = tlv(bits.1.get(1..)?)?;
            let (_, n, _) = tlv(key.1)?;
            let n = &n.1[n.1.iter().take_while(|&&b| b == 0).count()..];
            let bits = n.len() * 8 - n.first().map_or(0, |b| b.leading_zeros() as usize);
            Some(format!("RSA{bits}"))
        }
        EC => {
            let (_, curve, _) = tlv(params)?;
            let bits = match curve.1 {
                [0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07] => 256,
                [0x2b, 0x81, 0x04, 0x00, 0x22] => 384,
                [0x2b, 0x81, 0x04, 0x00, 0x23] => 521,
                _ => return None,
            };
            Some(format!("EC{bits}"))
        }
        ED25519 => Some("ED25519253".into()),
        _ => None,
    }
}

/// One DER element: its tag and contents (the whole element in `.0`), and what follows.
type Tlv<'a> = (u8, (&'a [u8], &'a [u8]), &'a [u8]);

/// Reads one DER element at the start of `der`.
fn tlv(der: &[u8]) -> Option<Tlv<'_>> {
    let (&tag, rest) = der.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, head) = if first < 0x80 {
        (first as usize, 2)
    } else {
        let n = (first & 0x7f) as usize;
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        (rest[..n].iter().fold(0usize, |acc, &b| acc << 8 | b as usize), 2 + n)
    };
    let end = head.checked_add(len)?;
    (der.len() >= end).then(|| (tag, (&der[..end], &der[head..end]), &der[end..]))
}

/// `tbsCertificate`'s elements from the serial on: serial, signature, issuer, ...
fn tbs_fields(der: &[u8]) -> Option<Vec<Tlv<'_>>> {
    let (_, cert, _) = tlv(der)?;
    let (_, tbs, _) = tlv(cert.1)?;
    let mut rest = tbs.1;
    let mut fields = Vec::new();
    while let Some(e) = tlv(rest) {
        rest = e.2;
        if e.0 != 0xa0 || !fields.is_empty() {
            fields.push(e);
        }
    }
    Some(fields)
}

/// The `subjectPublicKeyInfo` element.
fn spki(der: &[u8]) -> Option<(&[u8], &[u8])> {
    tbs_fields(der)?.get(5).map(|e| e.1)
}

// ---- OCSP responses ------------------------------------------------------------------

/// What a response's `CertID` names: the serial number, and the SHA-1 of the issuer's
/// name when the response uses SHA-1.
#[derive(Debug)]
struct CertId {
    serial: Vec<u8>,
    issuer_name_sha1: Option<Vec<u8>>,
}

impl CertId {
    /// Whether `leaf` is the certificate named.
    fn is_about(&self, leaf: &CertificateDer<'_>) -> bool {
        let Some(fields) = tbs_fields(leaf) else { return false };
        let (Some(serial), Some(issuer)) = (fields.first(), fields.get(2)) else { return false };
        strip_zero(serial.1 .1) == strip_zero(&self.serial) && self.issuer_name_sha1.as_ref().is_none_or(|h| *h == x509::sha1(issuer.1 .0))
    }
}

fn strip_zero(b: &[u8]) -> &[u8] {
    match b {
        [0, rest @ ..] if !rest.is_empty() => rest,
        b => b,
    }
}

/// The `CertID` of the first single response of a DER `OCSPResponse` (RFC 6960 4.2.1),
/// or HAProxy's message for a response it refuses.
fn ocsp_cert_id(der: &[u8]) -> Result<CertId, &'static str> {
    const UNPARSABLE: &str = "Unable to parse OCSP response.";
    let walk = || -> Option<Result<CertId, &'static str>> {
        let (0x30, resp, _) = tlv(der)? else { return None };
        let (0x0a, status, rest) = tlv(resp.1)? else { return None };
        if status.1 != [0] {
            return Some(Err("OCSP response status not successful."));
        }
        let (0xa0, bytes, _) = tlv(rest)? else { return None };
        let (0x30, bytes, _) = tlv(bytes.1)? else { return None };
        let (0x06, _, rest) = tlv(bytes.1)? else { return None };
        let (0x04, basic, _) = tlv(rest)? else { return None };
        let (0x30, basic, _) = tlv(basic.1)? else { return None };
        let (0x30, data, _) = tlv(basic.1)? else { return None };
        // [0] version, responderID ([1] or [2]), producedAt, then the responses.
        let mut rest = data.1;
        let responses = loop {
            let (tag, e, next) = tlv(rest)?;
            if tag == 0x30 {
                break e;
            }
            rest = next;
        };
        let (0x30, single, _) = tlv(responses.1)? else { return None };
        let (0x30, id, _) = tlv(single.1)? else { return None };
        let (0x30, alg, rest) = tlv(id.1)? else { return None };
        let (0x04, name_hash, rest) = tlv(rest)? else { return None };
        let (0x04, _, rest) = tlv(rest)? else { return None };
        let (0x02, serial, _) = tlv(rest)? else { return None };
        let (_, oid, _) = tlv(alg.1)?;
        let sha1 = oid.1 == [0x2b, 0x0e, 0x03, 0x02, 0x1a];
        Some(Ok(CertId { serial: serial.1.to_vec(), issuer_name_sha1: sha1.then(|| name_hash.1.to_vec()) }))
    };
    walk().unwrap_or(Err(UNPARSABLE))
}

/// `new ssl cert <file>`: an empty certificate, to fill with `set ssl cert` and
/// `commit ssl cert`, then serve with `add ssl crt-list`.
pub fn new_cert(_: &mut Exec<'_>, args: &[String]) -> String {
    let Some(file) = args.first() else { return "'new ssl cert' expects a filename\n".into() };
    match cert_store::new_cert(file) {
        Ok(()) => format!("New empty certificate store '{file}'!\n"),
        Err(e) => format!("{e}\n"),
    }
}

/// `del ssl cert <file>`: forgets a certificate no bind or crt-list line serves.
pub fn del_cert(_: &mut Exec<'_>, args: &[String]) -> String {
    let Some(file) = args.first() else { return "'del ssl cert' expects a certificate name\n".into() };
    if transaction().as_ref().is_some_and(|(f, _)| f == file) {
        return format!("Can't remove the certificate: certificate '{file}' in a transaction!\n\n");
    }
    match cert_store::del_cert(file) {
        Ok(()) => format!("Certificate '{file}' deleted!\n"),
        // HAProxy 2.6 ends these with an empty line of their own.
        Err(e) => format!("{e}\n"),
    }
}

/// `show ssl crt-list [-n] [<list>]`: the crt-lists, or one's lines (`-n`: numbered).
pub fn show_crt_list(_: &mut Exec<'_>, args: &[String]) -> String {
    use crate::tls::crt_list_store;
    let numbered = args.first().is_some_and(|a| a == "-n");
    let Some(name) = args.get(usize::from(numbered)) else {
        if numbered {
            return "'show ssl crt-list -n' expects a filename or a directory\n".into();
        }
        return crt_list_store::names().iter().map(|n| format!("{n}\n")).collect();
    };
    match crt_list_store::lines(name) {
        Some(lines) => {
            let mut out = format!("# {name}\n");
            for l in lines {
                out.push_str(&l.show(numbered));
                out.push('\n');
            }
            out
        }
        None => "didn't find the specified filename\n".into(),
    }
}

/// `add ssl crt-list <list> <certfile>`, or `add ssl crt-list <list> <<` with the line
/// (`<certfile> [[<options>]] [<filters>]`) as the payload: the certificate serves new
/// handshakes for its names (or the filters). As in HAProxy 2.6, words after the
/// certificate on the command line are ignored; the options of a payload line are
/// not applied (doc/tls.md).
pub fn add_crt_list(exec: &mut Exec<'_>, args: &[String]) -> String {
    const USAGE: &str = "'add ssl crtlist' expects a filename and a certificate name\n";
    let Some(list) = args.first() else { return USAGE.into() };
    let (crt, filters) = match (exec.payload, args.get(1)) {
        (Some(payload), _) => {
            let line = payload.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or("");
            let (crt, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
            let rest = rest.trim_start();
            let filters = match rest.strip_prefix('[') {
                Some(inner) => inner.split_once(']').map_or("", |(_, f)| f),
                None => rest,
            };
            (crt.to_string(), filters.split_whitespace().map(str::to_string).collect::<Vec<_>>())
        }
        (None, Some(crt)) => (crt.clone(), Vec::new()),
        (None, None) => return USAGE.into(),
    };
    if crt.is_empty() {
        return USAGE.into();
    }
    match crate::tls::crt_list_store::add(list, &crt, &filters) {
        Ok(()) => format!("Inserting certificate '{crt}' in crt-list '{list}'.\nSuccess!\n"),
        Err(e) => format!("Can't edit the crt-list: {e}\n"),
    }
}

/// `del ssl crt-list <list> <certfile>`: its first line naming the certificate; not
/// the default certificate of a bind line.
pub fn del_crt_list(_: &mut Exec<'_>, args: &[String]) -> String {
    let (Some(list), Some(crt)) = (args.first(), args.get(1)) else { return "'del ssl crtlist' expects a filename and a certificate name\n".into() };
    match crate::tls::crt_list_store::del(list, crt) {
        Ok(()) => format!("Entry '{crt}' deleted in crtlist '{list}'!\n"),
        Err(e) => format!("Can't delete the entry: {e}\n"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_print_as_openssl_prints_them() {
        assert_eq!(asn1_time(0x17, b"261206190006Z").as_deref(), Some("Dec  6 19:00:06 2026 GMT"));
        assert_eq!(asn1_time(0x17, b"750101000000Z").as_deref(), Some("Jan  1 00:00:00 1975 GMT"));
        assert_eq!(asn1_time(0x18, b"40960101000000Z").as_deref(), Some("Jan  1 00:00:00 4096 GMT"));
        assert_eq!(asn1_time(0x17, b"261306190006Z"), None);
    }

    #[test]
    fn key_algorithms_and_details() {
        let ck = rcgen::generate_simple_self_signed(vec!["a.test".to_string(), "www.a.test".to_string()]).unwrap();
        let der = ck.cert.der().to_vec();
        assert_eq!(key_algorithm(&der).as_deref(), Some("EC256"));
        let text = details("/x.pem", "Used", &[CertificateDer::from(der)], false);
        assert!(text.starts_with("Filename: /x.pem\nStatus: Used\nSerial: "), "{text}");
        assert!(text.contains("\nSubject Alternative Name: DNS:a.test, DNS:www.a.test\nAlgorithm: EC256\nSHA1 FingerPrint: "), "{text}");
        assert!(text.ends_with("Issuer: /CN=rcgen self signed cert\nOCSP Response Key: \n"), "{text}");
    }

    #[test]
    fn ocsp_responses_are_checked() {
        assert_eq!(ocsp_cert_id(b"junk").unwrap_err(), "Unable to parse OCSP response.");
        assert_eq!(ocsp_cert_id(&[0x30, 0x03, 0x0a, 0x01, 0x01]).unwrap_err(), "OCSP response status not successful.");
    }
}
