//! A small X.509 reader for the certificate fetches (`ssl_c_*`, `ssl_f_*`, `ssl_s_*`):
//! the fields of `tbsCertificate` (RFC 5280 section 4.1) that HAProxy's fetches return,
//! printed as HAProxy 2.6 prints them with OpenSSL:
//!
//! - distinguished names in HAProxy's one-line form (`/C=FR/O=Org/CN=name`: OpenSSL's
//!   short names, the values as they are) or RFC 2253 (`CN=name,O=Org,C=FR`: reversed,
//!   escaped, multi-valued RDNs joined by `+`), and one entry by name and occurrence;
//! - the validity dates as the `YYMMDDhhmmss[Z]` string of the certificate;
//! - the signature and key algorithms by OpenSSL's short names (`RSA-SHA256`,
//!   `ecdsa-with-SHA256`, `rsaEncryption`, `id-ecPublicKey`, `ED25519`);
//! - the version (1-3) and the serial number's bytes.
//!
//! The DER walk is the one of [`super::validity`]; nothing is verified here.

use super::validity::element;

const SEQUENCE: u8 = 0x30;
const SET: u8 = 0x31;
const INTEGER: u8 = 0x02;
const OID: u8 = 0x06;
const BIT_STRING: u8 = 0x03;
const VERSION: u8 = 0xa0;
const UTC_TIME: u8 = 0x17;
const GENERALIZED_TIME: u8 = 0x18;

/// The parts of a DER certificate the fetches read, borrowed from it.
#[derive(Debug, Clone, Copy)]
pub struct Cert<'a> {
    /// 1, 2 or 3 (the encoded value plus one, as OpenSSL's `X509_get_version() + 1`).
    pub version: i64,
    /// The serial number's magnitude, as OpenSSL keeps it: the encoding without the
    /// leading 0 that keeps a number positive (`ssl_*_serial`).
    pub serial: &'a [u8],
    /// The OID (content bytes) of `tbsCertificate.signature`.
    sig_alg: &'a [u8],
    /// The issuer `Name`'s contents (its RDN sets).
    issuer: &'a [u8],
    not_before: (u8, &'a [u8]),
    not_after: (u8, &'a [u8]),
    subject: &'a [u8],
    /// The OID of `subjectPublicKeyInfo.algorithm`.
    key_alg: &'a [u8],
    /// What follows that OID in the algorithm (an EC key's curve).
    key_params: &'a [u8],
    /// The `subjectPublicKey` BIT STRING's contents (its unused-bits byte first).
    public_key: &'a [u8],
}

/// Which name of a certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Which {
    Issuer,
    Subject,
}

/// What a DN fetch asks for: the whole name (HAProxy's form or RFC 2253), or the
/// value of one entry, by its short name (case-insensitive) and occurrence (1 the
/// first, -1 the last; 0 gives nothing, as in HAProxy).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DnSelect {
    OneLine,
    Rfc2253,
    Entry(String, i64),
}

impl<'a> Cert<'a> {
    /// Reads a DER certificate; `None` when its encoding is not one this walk knows.
    pub fn parse(der: &'a [u8]) -> Option<Cert<'a>> {
        let (SEQUENCE, cert, _) = element(der)? else { return None };
        let (SEQUENCE, tbs, _) = element(cert)? else { return None };
        let (mut tag, mut body, mut rest) = element(tbs)?;
        let mut version = 1;
        if tag == VERSION {
            let (INTEGER, v, _) = element(body)? else { return None };
            version = 1 + v.iter().fold(0i64, |n, &b| n << 8 | i64::from(b));
            (tag, body, rest) = element(rest)?;
        }
        if tag != INTEGER {
            return None;
        }
        let serial = match body {
            [0, rest @ ..] if !rest.is_empty() => rest,
            b => b,
        };
        let (SEQUENCE, alg, rest) = element(rest)? else { return None };
        let (OID, sig_alg, _) = element(alg)? else { return None };
        let (SEQUENCE, issuer, rest) = element(rest)? else { return None };
        let (SEQUENCE, validity, rest) = element(rest)? else { return None };
        let (t1, nb, after) = element(validity)?;
        let (t2, na, _) = element(after)?;
        let (SEQUENCE, subject, rest) = element(rest)? else { return None };
        let (SEQUENCE, spki, _) = element(rest)? else { return None };
        let (SEQUENCE, alg, after_alg) = element(spki)? else { return None };
        let (OID, key_alg, key_params) = element(alg)? else { return None };
        let (BIT_STRING, public_key, _) = element(after_alg)? else { return None };
        Some(Cert { version, serial, sig_alg, issuer, not_before: (t1, nb), not_after: (t2, na), subject, key_alg, key_params, public_key })
    }

    /// The issuer's or subject's name as `sel` asks; `None` for an empty name or a
    /// missing entry.
    pub fn dn(&self, which: Which, sel: &DnSelect) -> Option<Vec<u8>> {
        let entries = entries(if which == Which::Issuer { self.issuer } else { self.subject })?;
        match sel {
            DnSelect::OneLine => one_line(&entries),
            DnSelect::Rfc2253 => rfc2253(&entries),
            DnSelect::Entry(name, occ) => entry(&entries, name, *occ),
        }
    }

    /// `notBefore` as HAProxy prints it: `YYMMDDhhmmssZ` ([`time_string`]).
    pub fn not_before(&self) -> Option<Vec<u8>> {
        time_string(self.not_before.0, self.not_before.1)
    }

    /// `notAfter`, as [`Cert::not_before`].
    pub fn not_after(&self) -> Option<Vec<u8>> {
        time_string(self.not_after.0, self.not_after.1)
    }

    /// OpenSSL's short name of the signature algorithm; `None` for one it has no name for.
    pub fn sig_alg(&self) -> Option<&'static str> {
        oid_name(self.sig_alg)
    }

    /// OpenSSL's short name of the public key's algorithm.
    pub fn key_alg(&self) -> Option<&'static str> {
        oid_name(self.key_alg)
    }

    /// The key's type and size as the PROXY protocol's `PP2_SUBTYPE_SSL_KEY_ALG` (and
    /// HAProxy) give them: `RSA2048`, `EC256`; `None` for other keys.
    pub fn key_label(&self) -> Option<String> {
        const RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
        const EC: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
        match self.key_alg {
            RSA => {
                // RSAPublicKey: SEQUENCE { modulus INTEGER, publicExponent INTEGER }.
                let (SEQUENCE, key, _) = element(self.public_key.get(1..)?)? else { return None };
                let (INTEGER, modulus, _) = element(key)? else { return None };
                let n = match modulus {
                    [0, rest @ ..] => rest,
                    m => m,
                };
                let bits = (n.len() as u32).checked_sub(1)? * 8 + (8 - n.first()?.leading_zeros());
                Some(format!("RSA{bits}"))
            }
            EC => {
                let (OID, curve, _) = element(self.key_params)? else { return None };
                let bits = match curve {
                    [0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07] => 256, // prime256v1
                    [0x2b, 0x81, 0x04, 0x00, 0x22] => 384,                   // secp384r1
                    [0x2b, 0x81, 0x04, 0x00, 0x23] => 521,                   // secp521r1
                    [0x2b, 0x81, 0x04, 0x00, 0x0a] => 256,                   // secp256k1
                    _ => return None,
                };
                Some(format!("EC{bits}"))
            }
            _ => None,
        }
    }
}

/// The SHA-1 of a DER certificate (`ssl_*_sha1`).
pub fn sha1(der: &[u8]) -> Vec<u8> {
    crate::sample::digest::Algorithm::Sha1.digest(der)
}

/// A time as HAProxy prints it, `YYMMDDhhmmss[Z]` of the years 2000-2099 only: a
/// `UTCTime` as it is (nothing for the years 1950-1999, `5` to `9` first), a
/// `GeneralizedTime` without its century (nothing outside the 2000s).
pub fn time_string(tag: u8, text: &[u8]) -> Option<Vec<u8>> {
    match tag {
        GENERALIZED_TIME if text.len() >= 12 && text.starts_with(b"20") => Some(text[2..].to_vec()),
        UTC_TIME if text.len() >= 10 && text[0] < b'5' => Some(text.to_vec()),
        _ => None,
    }
}

/// One attribute of a name.
#[derive(Debug)]
struct Entry<'a> {
    /// Its type's OID (content bytes).
    oid: &'a [u8],
    /// The value's ASN.1 string tag and content.
    tag: u8,
    value: &'a [u8],
    /// The value's whole encoding (tag and length too), for RFC 2253's `#hex` form.
    encoded: &'a [u8],
    /// Its RDN's number: entries of one multi-valued RDN share it.
    rdn: usize,
}

/// The attributes of a `Name`'s contents, in encoding order.
fn entries(name: &[u8]) -> Option<Vec<Entry<'_>>> {
    let mut out = Vec::new();
    let mut rdns = name;
    let mut n = 0;
    while !rdns.is_empty() {
        let (SET, mut set, next) = element(rdns)? else { return None };
        rdns = next;
        while !set.is_empty() {
            let (SEQUENCE, pair, next) = element(set)? else { return None };
            set = next;
            let (OID, oid, value) = element(pair)? else { return None };
            let (tag, content, after) = element(value)?;
            let encoded = &value[..value.len() - after.len()];
            out.push(Entry { oid, tag, value: content, encoded, rdn: n });
        }
        n += 1;
    }
    Some(out)
}

/// An attribute type's name: OpenSSL's short name, else the dotted OID.
fn type_name(oid: &[u8]) -> String {
    match oid_name(oid) {
        Some(n) => n.to_string(),
        None => dotted(oid),
    }
}

/// HAProxy's form: `/<short name>=<value>` for each entry, the value's bytes as they are.
fn one_line(entries: &[Entry<'_>]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    for e in entries {
        out.push(b'/');
        out.extend_from_slice(type_name(e.oid).as_bytes());
        out.push(b'=');
        out.extend_from_slice(e.value);
    }
    (!out.is_empty()).then_some(out)
}

/// The `occ`th entry named `name` (1: the first, -1: the last).
fn entry(entries: &[Entry<'_>], name: &str, occ: i64) -> Option<Vec<u8>> {
    let named = |e: &&Entry<'_>| type_name(e.oid).eq_ignore_ascii_case(name);
    let found = match occ {
        0 => None,
        n if n > 0 => entries.iter().filter(named).nth(usize::try_from(n - 1).ok()?),
        n => entries.iter().rev().filter(named).nth(usize::try_from(-n - 1).ok()?),
    }?;
    Some(found.value.to_vec())
}

/// RFC 2253 as OpenSSL's `XN_FLAG_RFC2253` prints it: the entries last first, RDNs
/// separated by `,`, the entries of one RDN by `+`; values converted to UTF-8 and
/// escaped (`,+"\<>;`, a leading `#` or space, a trailing space, control characters
/// and every byte above 0x7f as `\XX`); a type with no name as its dotted OID, its
/// value as `#` and the hex of its encoding.
fn rfc2253(entries: &[Entry<'_>]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let mut prev: Option<usize> = None;
    for e in entries.iter().rev() {
        if let Some(p) = prev {
            out.push(if p == e.rdn { b'+' } else { b',' });
        }
        prev = Some(e.rdn);
        match oid_name(e.oid) {
            Some(n) => out.extend_from_slice(n.as_bytes()),
            None => {
                out.extend_from_slice(dotted(e.oid).as_bytes());
                out.extend_from_slice(b"=#");
                out.extend(e.encoded.iter().flat_map(|b| format!("{b:02X}").into_bytes()));
                continue;
            }
        }
        out.push(b'=');
        let Some(text) = string_value(e.tag, e.value) else {
            out.push(b'#');
            out.extend(e.encoded.iter().flat_map(|b| format!("{b:02X}").into_bytes()));
            continue;
        };
        let bytes = text.as_bytes();
        for (i, &b) in bytes.iter().enumerate() {
            let first = i == 0;
            let last = i + 1 == bytes.len();
            match b {
                b',' | b'+' | b'"' | b'\\' | b'<' | b'>' | b';' => out.extend_from_slice(&[b'\\', b]),
                b'#' if first => out.extend_from_slice(b"\\#"),
                b' ' if first || last => out.extend_from_slice(b"\\ "),
                b if !(0x20..0x7f).contains(&b) => out.extend_from_slice(format!("\\{b:02X}").as_bytes()),
                b => out.push(b),
            }
        }
    }
    (!out.is_empty()).then_some(out)
}

/// An ASN.1 string's text: UTF8String as it is, the one-byte types as Latin-1,
/// BMPString as UCS-2, UniversalString as UCS-4. `None` for other types (dumped).
fn string_value(tag: u8, v: &[u8]) -> Option<String> {
    match tag {
        0x0c => Some(String::from_utf8_lossy(v).into_owned()),
        // PrintableString, T61String, IA5String, VisibleString, NumericString
        0x13 | 0x14 | 0x16 | 0x1a | 0x12 => Some(v.iter().map(|&b| char::from(b)).collect()),
        0x1e => Some(char::decode_utf16(v.chunks_exact(2).map(|c| u16::from_be_bytes([c[0], c[1]]))).map(|c| c.unwrap_or('\u{fffd}')).collect()),
        0x1c => Some(v.chunks_exact(4).map(|c| char::from_u32(u32::from_be_bytes([c[0], c[1], c[2], c[3]])).unwrap_or('\u{fffd}')).collect()),
        _ => None,
    }
}

/// An OID's dotted text (`2.5.4.3`).
fn dotted(oid: &[u8]) -> String {
    let mut arcs: Vec<u64> = Vec::new();
    let mut acc = 0u64;
    for &b in oid {
        acc = acc << 7 | u64::from(b & 0x7f);
        if b & 0x80 == 0 {
            if arcs.is_empty() {
                let first = (acc / 40).min(2);
                arcs.push(first);
                arcs.push(acc - first * 40);
            } else {
                arcs.push(acc);
            }
            acc = 0;
        }
    }
    arcs.iter().map(u64::to_string).collect::<Vec<_>>().join(".")
}

/// OpenSSL's short names (`OBJ_nid2sn`) of the OIDs certificates carry: name
/// attributes, signature and key algorithms.
const NAMES: &[(&str, &str)] = &[
    ("2.5.4.3", "CN"),
    ("2.5.4.4", "SN"),
    ("2.5.4.5", "serialNumber"),
    ("2.5.4.6", "C"),
    ("2.5.4.7", "L"),
    ("2.5.4.8", "ST"),
    ("2.5.4.9", "street"),
    ("2.5.4.10", "O"),
    ("2.5.4.11", "OU"),
    ("2.5.4.12", "title"),
    ("2.5.4.13", "description"),
    ("2.5.4.15", "businessCategory"),
    ("2.5.4.17", "postalCode"),
    ("2.5.4.41", "name"),
    ("2.5.4.42", "GN"),
    ("2.5.4.43", "initials"),
    ("2.5.4.44", "generationQualifier"),
    ("2.5.4.46", "dnQualifier"),
    ("2.5.4.65", "pseudonym"),
    ("2.5.4.97", "organizationIdentifier"),
    ("1.2.840.113549.1.9.1", "emailAddress"),
    ("0.9.2342.19200300.100.1.1", "UID"),
    ("0.9.2342.19200300.100.1.25", "DC"),
    ("1.3.6.1.4.1.311.60.2.1.1", "jurisdictionL"),
    ("1.3.6.1.4.1.311.60.2.1.2", "jurisdictionST"),
    ("1.3.6.1.4.1.311.60.2.1.3", "jurisdictionC"),
    ("1.2.840.113549.1.1.1", "rsaEncryption"),
    ("1.2.840.113549.1.1.4", "RSA-MD5"),
    ("1.2.840.113549.1.1.5", "RSA-SHA1"),
    ("1.2.840.113549.1.1.10", "RSASSA-PSS"),
    ("1.2.840.113549.1.1.11", "RSA-SHA256"),
    ("1.2.840.113549.1.1.12", "RSA-SHA384"),
    ("1.2.840.113549.1.1.13", "RSA-SHA512"),
    ("1.2.840.113549.1.1.14", "RSA-SHA224"),
    ("1.2.840.10040.4.1", "DSA"),
    ("2.16.840.1.101.3.4.3.2", "dsa_with_SHA256"),
    ("1.2.840.10045.2.1", "id-ecPublicKey"),
    ("1.2.840.10045.4.1", "ecdsa-with-SHA1"),
    ("1.2.840.10045.4.3.1", "ecdsa-with-SHA224"),
    ("1.2.840.10045.4.3.2", "ecdsa-with-SHA256"),
    ("1.2.840.10045.4.3.3", "ecdsa-with-SHA384"),
    ("1.2.840.10045.4.3.4", "ecdsa-with-SHA512"),
    ("1.3.101.110", "X25519"),
    ("1.3.101.111", "X448"),
    ("1.3.101.112", "ED25519"),
    ("1.3.101.113", "ED448"),
];

/// The short name of an OID (content bytes).
fn oid_name(oid: &[u8]) -> Option<&'static str> {
    let text = dotted(oid);
    NAMES.iter().find(|(o, _)| *o == text).map(|(_, n)| *n)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A certificate with `dn` as both subject and issuer (self-signed), an
    /// ECDSA P-256 key, serial 0x00c0ffee.
    fn self_signed(dn: &[(rcgen::DnType, &str)]) -> rcgen::Certificate {
        let mut params = rcgen::CertificateParams::new(vec!["a.test".to_string()]).unwrap();
        params.distinguished_name = rcgen::DistinguishedName::new();
        for (t, v) in dn {
            params.distinguished_name.push(t.clone(), *v);
        }
        params.serial_number = Some(rcgen::SerialNumber::from_slice(&[0x00, 0xc0, 0xff, 0xee]));
        params.not_before = rcgen::date_time_ymd(2001, 2, 3);
        params.not_after = rcgen::date_time_ymd(2061, 4, 5);
        params.self_signed(&rcgen::KeyPair::generate().unwrap()).unwrap()
    }

    /// A self-signed RSA-1024 certificate (made with `openssl req -x509 -newkey
    /// rsa:1024`) for the RSA side of [`Cert::key_label`].
    const RSA_PEM: &str = "-----BEGIN CERTIFICATE-----\n\
MIICAjCCAWugAwIBAgIULvN/t0T4qHnjxFHgourmSJbN3YswDQYJKoZIhvcNAQEL\n\
BQAwEzERMA8GA1UEAwwIcnNhLnRlc3QwHhcNMjYxMTI3MDMzMjQ3WhcNMzYxMTI0\n\
MDMzMjQ3WjATMREwDwYDVQQDDAhyc2EudGVzdDCBnzANBgkqhkiG9w0BAQEFAAOB\n\
jQAwgYkCgYEAvSp80nUIVpkxh2JhJJEbsM5C5TZQHp2ecTD9szRy5T+mKDHRK9EG\n\
i3YEs4X9mcAd5xn+OefHa9OcK6nRmo9jC3JWkv3ZtwGTmDuplMvz5xYRxbugNGlR\n\
u1U24L6sHUNzQY2EG/2eWO7yBKMGB8DMWFsG1dfL5GEDwytEQnwc4YUCAwEAAaNT\n\
MFEwHQYDVR0OBBYEFCCvX243WVlmTk21OtFS2yiHM9phMB8GA1UdIwQYMBaAFCCv\n\
X243WVlmTk21OtFS2yiHM9phMA8GA1UdEwEB/wQFMAMBAf8wDQYJKoZIhvcNAQEL\n\
BQADgYEAENsecPyyOjVZ3bIi40gGQShKzEkQR0KTTIBdlaed0FBhtUC6QofJbGTN\n\
e+xzUQoQMGqf9EyYscGO4qZ05O9rGUZg8vvIjmhlHV2uhclw2eioOgNV2WqAC1b2\n\
WB5oRWLMy9bk4h2Oy93sOWbNpGRseXbGOVoC4OZTXSSjFBXxvug=\n\
-----END CERTIFICATE-----\n";

    /// `cert-key`'s labels: an RSA key's size read from its modulus, an EC key's from
    /// its curve.
    #[test]
    fn key_labels_give_the_type_and_size() {
        use rustls::pki_types::pem::PemObject;
        let der = rustls::pki_types::CertificateDer::from_pem_slice(RSA_PEM.as_bytes()).unwrap();
        let rsa = Cert::parse(der.as_ref()).unwrap();
        assert_eq!((rsa.key_label().as_deref(), rsa.sig_alg()), (Some("RSA1024"), Some("RSA-SHA256")));
        let ec = self_signed(&[]);
        assert_eq!(Cert::parse(ec.der()).unwrap().key_label().as_deref(), Some("EC256"));
    }

    #[test]
    fn fields_read_as_haproxy_prints_them() {
        use rcgen::DnType as D;
        let c = self_signed(&[(D::CountryName, "FR"), (D::OrganizationName, "Test, Inc"), (D::CommonName, "one")]);
        let cert = Cert::parse(c.der()).expect("parsed");
        assert_eq!(cert.version, 3);
        assert_eq!(cert.serial, &[0xc0, 0xff, 0xee], "without the sign byte, as OpenSSL");
        assert_eq!(cert.sig_alg(), Some("ecdsa-with-SHA256"));
        assert_eq!(cert.key_alg(), Some("id-ecPublicKey"));
        assert_eq!(cert.not_before().as_deref(), Some(&b"010203000000Z"[..]));
        // 2061 is past UTCTime's range: a GeneralizedTime, printed without its century.
        assert_eq!(cert.not_after().as_deref(), Some(&b"610405000000Z"[..]));
        let dn = |sel| String::from_utf8(cert.dn(Which::Subject, &sel).unwrap()).unwrap();
        assert_eq!(dn(DnSelect::OneLine), "/C=FR/O=Test, Inc/CN=one");
        assert_eq!(dn(DnSelect::Rfc2253), "CN=one,O=Test\\, Inc,C=FR");
        assert_eq!(dn(DnSelect::Entry("cn".into(), 1)), "one");
        assert_eq!(cert.dn(Which::Issuer, &DnSelect::Entry("O".into(), -1)).as_deref(), Some(&b"Test, Inc"[..]));
        assert_eq!(cert.dn(Which::Subject, &DnSelect::Entry("CN".into(), 0)), None, "occurrence 0 gives nothing");
        assert_eq!(cert.dn(Which::Subject, &DnSelect::Entry("commonName".into(), 1)), None, "short names only");
        assert_eq!(sha1(c.der()).len(), 20);
    }

    /// The contents of a `Name` of one-attribute RDNs (type OID, UTF8String value).
    fn name(rdns: &[(&[u8], &[u8])]) -> Vec<u8> {
        let mut name = Vec::new();
        for (oid, v) in rdns {
            let mut pair = vec![OID, oid.len() as u8];
            pair.extend_from_slice(oid);
            pair.extend_from_slice(&[0x0c, v.len() as u8]);
            pair.extend_from_slice(v);
            let mut seq = vec![SEQUENCE, pair.len() as u8];
            seq.extend(pair);
            name.extend_from_slice(&[SET, seq.len() as u8]);
            name.extend(seq);
        }
        name
    }

    const OU: &[u8] = &[0x55, 4, 11];

    #[test]
    fn occurrences_count_from_either_end() {
        let n = name(&[(OU, b"A"), (OU, b"B"), (OU, b"C")]);
        let e = entries(&n).unwrap();
        let ou = |occ| entry(&e, "ou", occ).map(|v| String::from_utf8(v).unwrap());
        assert_eq!(ou(2).as_deref(), Some("B"));
        assert_eq!(ou(-1).as_deref(), Some("C"));
        assert_eq!(ou(-3).as_deref(), Some("A"));
        assert_eq!(ou(4), None);
        assert_eq!(ou(0), None);
        let empty = self_signed(&[]);
        assert_eq!(Cert::parse(empty.der()).unwrap().dn(Which::Subject, &DnSelect::OneLine), None);
    }

    #[test]
    fn rfc2253_escapes_as_openssl() {
        // ` sp #x` (leading space), `a+b<c>;"d" `, `#hé`, an unknown type.
        let n = name(&[(OU, b" sp #x"), (&[0x55, 4, 10], b"a+b<c>;\"d\" "), (&[0x55, 4, 3], "#h\u{e9}".as_bytes()), (&[0x2a, 3, 4], b"z")]);
        let e = entries(&n).unwrap();
        assert_eq!(String::from_utf8(rfc2253(&e).unwrap()).unwrap(), "1.2.3.4=#0C017A,CN=\\#h\\C3\\A9,O=a\\+b\\<c\\>\\;\\\"d\\\"\\ ,OU=\\ sp #x");
        assert_eq!(String::from_utf8(one_line(&e).unwrap()).unwrap(), "/OU= sp #x/O=a+b<c>;\"d\" /CN=#h\u{e9}/1.2.3.4=z");
    }

    #[test]
    fn oids_print_dotted_and_times_keep_their_text() {
        assert_eq!(dotted(&[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b]), "1.2.840.113549.1.1.11");
        assert_eq!(oid_name(&[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b]), Some("RSA-SHA256"));
        assert_eq!(time_string(0x17, b"261126175650Z").as_deref(), Some(&b"261126175650Z"[..]));
        assert_eq!(time_string(GENERALIZED_TIME, b"19500101000000Z"), None);
        assert_eq!(time_string(UTC_TIME, b"750101000000Z"), None, "1975: HAProxy prints the 2000s only");
        assert_eq!(Cert::parse(&[0x30, 0x00]).map(|c| c.version), None);
    }
}
