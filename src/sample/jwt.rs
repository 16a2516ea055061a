//! JSON Web Tokens (RFC 7519) in the JWS compact form `header.payload.signature`:
//! `jwt_header_query`, `jwt_payload_query` and `jwt_verify`, as HAProxy 2.6 has them.
//!
//! `jwt_verify(<alg>,<key>)` checks the signature only (no claim is looked at) and
//! answers HAProxy's codes ([`Verdict`]): 1 valid, 0 not valid, -1 unknown algorithm,
//! -2 algorithm not managed, -3 malformed token, -5 unknown key file. `<key>` is the
//! HMAC secret itself for `HS*`, else the path of a PEM public key (`BEGIN PUBLIC
//! KEY`) that some `jwt_verify` named as a constant, so that it was read when the
//! configuration was loaded: like HAProxy, a key path coming from a variable is only
//! found if it was loaded that way, and nothing is read from disk at run time.
//!
//! Signatures are checked with `ring`: HMAC-SHA-2 (`HS256/384/512`), RSA PKCS#1 v1.5
//! (`RS256/384/512`, keys of 2048 to 8192 bits) and ECDSA with the JWS fixed-size
//! `r||s` form (`ES256` on P-256, `ES384` on P-384). HAProxy 2.6 refuses `PS*` at load
//! time (`RSASSA-PSS JWS signing not managed yet`) and so does this module. Two
//! deviations: `ring` has no P-521, so `ES512` answers -2 (HAProxy verifies it), and
//! RSA keys under 2048 bits never verify (0).

use super::args::{Arg, ArgType as A};
use super::conv::{self, spec, Conv};
use super::{Sample, SampleCtx, SampleType as T, VarName};
use ring::signature::{self as sig, UnparsedPublicKey};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

pub static CONVERTERS: &[Conv] = &[
    Conv::new("jwt_header_query", spec(&[A::Str, A::Str], 0), T::Bin, T::Any, conv::check_json_query, |s, a, cx| query(s, a, cx, 0)),
    Conv::new("jwt_payload_query", spec(&[A::Str, A::Str], 0), T::Bin, T::Any, conv::check_json_query, |s, a, cx| query(s, a, cx, 1)),
    Conv::new("jwt_verify", spec(&[A::Str, A::Str], 2), T::Bin, T::Sint, check_verify, run_verify),
];

/// `jwt_header_query([path[,int]])` / `jwt_payload_query`: `json_query` on the decoded
/// part. Without a path HAProxy 2.6 gives nothing, and so does this.
fn query(s: Sample, a: &[Arg], cx: &dyn SampleCtx, part: usize) -> Option<Sample> {
    if a.first().and_then(Arg::str).unwrap_or("").is_empty() {
        return None;
    }
    let token = conv::bytes(s)?;
    let parts = split(&token)?;
    let decoded = conv::b64_decode(parts.get(part)?, true)?;
    conv::run_json_query(Sample::Bin(decoded), a, cx)
}

/// The dot-separated parts of a token: at most three, else `None`.
fn split(token: &[u8]) -> Option<Vec<&[u8]>> {
    let parts: Vec<&[u8]> = token.split(|&c| c == b'.').collect();
    (parts.len() <= 3).then_some(parts)
}

/// The JWS algorithms of RFC 7518 section 3.1.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Alg {
    None,
    Hs(Sha),
    Rs(Sha),
    Es(Sha),
    Ps(Sha),
}

/// The SHA-2 size an algorithm name ends with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sha {
    S256,
    S384,
    S512,
}

impl Alg {
    /// The algorithm named exactly `name` (`HS256`, `none`...).
    pub fn parse(name: &[u8]) -> Option<Alg> {
        if name == b"none" {
            return Some(Alg::None);
        }
        if name.len() != 5 {
            return None;
        }
        let sha = match &name[2..] {
            b"256" => Sha::S256,
            b"384" => Sha::S384,
            b"512" => Sha::S512,
            _ => return None,
        };
        Some(match &name[..2] {
            b"HS" => Alg::Hs(sha),
            b"RS" => Alg::Rs(sha),
            b"ES" => Alg::Es(sha),
            b"PS" => Alg::Ps(sha),
            _ => return None,
        })
    }
}

/// What `jwt_verify` answers (HAProxy's `enum jwt_vrfy_status`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Ok = 1,
    Ko = 0,
    UnknownAlg = -1,
    UnmanagedAlg = -2,
    InvalidToken = -3,
    UnknownKey = -5,
}

/// `jwt_verify(<alg>,<key>)`: either may be a variable name; a constant algorithm must
/// be known, and a constant key is loaded as a public key file (quietly skipped when
/// the file cannot be opened, a warning when it holds no public key, as HAProxy does).
fn check_verify(a: &mut [Arg]) -> Result<(), String> {
    for arg in a.iter_mut() {
        if let Some(v) = arg.str().and_then(VarName::parse) {
            *arg = Arg::Var(v);
        }
    }
    if let Some(name) = a.first().and_then(Arg::str) {
        match Alg::parse(name.as_bytes()) {
            None => return Err(format!("unknown JWT algorithm: {name}")),
            Some(Alg::Ps(_)) => return Err("RSASSA-PSS JWS signing not managed yet".into()),
            Some(_) => {}
        }
    }
    if let Some(path) = a.get(1).and_then(Arg::str) {
        if let Err(e) = load_key(path) {
            log::warn!("{e}");
        }
    }
    Ok(())
}

fn run_verify(s: Sample, a: &[Arg], cx: &dyn SampleCtx) -> Option<Sample> {
    let text = |arg: &Arg| match arg {
        Arg::Str(t) => Some(t.as_bytes().to_vec()),
        Arg::Var(v) => cx.var(v)?.cast(T::Str).and_then(conv::bytes),
        _ => None,
    };
    let alg = text(a.first()?)?;
    let key = text(a.get(1)?)?;
    Some(Sample::Sint(verify(&conv::bytes(s)?, &alg, &key) as i64))
}

/// Verifies the signature of `token` with the algorithm named `alg` and `key` (the
/// secret for `HS*`, the path of a key loaded by [`load_key`] otherwise).
pub fn verify(token: &[u8], alg: &[u8], key: &[u8]) -> Verdict {
    let Some(alg) = Alg::parse(alg) else { return Verdict::UnknownAlg };
    let Some(parts) = split(token) else { return Verdict::InvalidToken };
    if alg == Alg::None {
        // Unsigned: two parts, or three with an empty signature.
        return match parts.len() {
            2 => Verdict::Ok,
            3 if parts[2].is_empty() => Verdict::Ok,
            3 => Verdict::Ko,
            _ => Verdict::InvalidToken,
        };
    }
    if parts.len() != 3 || parts[2].is_empty() {
        return Verdict::InvalidToken;
    }
    let Some(signature) = conv::b64_decode(parts[2], true) else { return Verdict::InvalidToken };
    let signed = &token[..parts[0].len() + 1 + parts[1].len()];
    let ok = match alg {
        Alg::None => unreachable!("handled above"),
        Alg::Ps(_) => return Verdict::UnmanagedAlg,
        Alg::Hs(sha) => {
            let algorithm = match sha {
                Sha::S256 => ring::hmac::HMAC_SHA256,
                Sha::S384 => ring::hmac::HMAC_SHA384,
                Sha::S512 => ring::hmac::HMAC_SHA512,
            };
            ring::hmac::verify(&ring::hmac::Key::new(algorithm, key), signed, &signature).is_ok()
        }
        Alg::Rs(sha) | Alg::Es(sha) => {
            let Some(public) = String::from_utf8(key.to_vec()).ok().and_then(|p| cached_key(&p)) else {
                return Verdict::UnknownKey;
            };
            // HAProxy splits an ECDSA `r||s` in two equal halves to make OpenSSL's DER
            // form: an odd length is a malformed token, another even one fails.
            if matches!(alg, Alg::Es(_)) && signature.len() % 2 == 1 {
                return Verdict::InvalidToken;
            }
            let algorithm: &'static dyn sig::VerificationAlgorithm = match (alg, sha, public.kind) {
                (Alg::Rs(_), Sha::S256, KeyKind::Rsa) => &sig::RSA_PKCS1_2048_8192_SHA256,
                (Alg::Rs(_), Sha::S384, KeyKind::Rsa) => &sig::RSA_PKCS1_2048_8192_SHA384,
                (Alg::Rs(_), Sha::S512, KeyKind::Rsa) => &sig::RSA_PKCS1_2048_8192_SHA512,
                (Alg::Es(_), Sha::S256, KeyKind::P256) => &sig::ECDSA_P256_SHA256_FIXED,
                (Alg::Es(_), Sha::S384, KeyKind::P384) => &sig::ECDSA_P384_SHA384_FIXED,
                (Alg::Es(_), Sha::S512, KeyKind::P521) => return Verdict::UnmanagedAlg,
                // A key of another type or curve: the signature cannot be valid.
                _ => return Verdict::Ko,
            };
            UnparsedPublicKey::new(algorithm, &public.der).verify(signed, &signature).is_ok()
        }
    };
    if ok {
        Verdict::Ok
    } else {
        Verdict::Ko
    }
}

/// The kind of a loaded public key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum KeyKind {
    Rsa,
    P256,
    P384,
    P521,
}

/// A public key as `ring` takes it: the PKCS#1 `RSAPublicKey` for RSA, the
/// uncompressed point for EC.
#[derive(Debug)]
struct PublicKey {
    kind: KeyKind,
    der: Vec<u8>,
}

/// The keys `jwt_verify` arguments loaded, by path (HAProxy's certificate tree).
fn keys() -> &'static Mutex<HashMap<String, Arc<PublicKey>>> {
    static KEYS: OnceLock<Mutex<HashMap<String, Arc<PublicKey>>>> = OnceLock::new();
    KEYS.get_or_init(Default::default)
}

fn cached_key(path: &str) -> Option<Arc<PublicKey>> {
    keys().lock().unwrap_or_else(|e| e.into_inner()).get(path).cloned()
}

/// Reads the PEM public key at `path` into the cache. A file that cannot be read is
/// skipped without a word (`Ok`), as HAProxy does; one without a usable public key is
/// HAProxy's warning text.
fn load_key(path: &str) -> Result<(), String> {
    use rustls_pki_types::pem::PemObject;
    if cached_key(path).is_some() {
        return Ok(());
    }
    let Ok(pem) = std::fs::read(path) else { return Ok(()) };
    let key = rustls_pki_types::SubjectPublicKeyInfoDer::from_pem_slice(&pem)
        .ok()
        .and_then(|spki| parse_spki(spki.as_ref()))
        .ok_or_else(|| format!("file not found ({path})"))?;
    keys().lock().unwrap_or_else(|e| e.into_inner()).insert(path.to_string(), Arc::new(key));
    Ok(())
}

const OID_RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
const OID_EC: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
const OID_P256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
const OID_P384: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x22];
const OID_P521: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x23];

/// `SubjectPublicKeyInfo ::= SEQUENCE { algorithm SEQUENCE { OID, params }, BIT STRING }`.
fn parse_spki(der: &[u8]) -> Option<PublicKey> {
    let (0x30, spki, _) = tlv(der)? else { return None };
    let (0x30, algorithm, rest) = tlv(spki)? else { return None };
    let (0x03, bits, _) = tlv(rest)? else { return None };
    // The first byte of a BIT STRING counts the unused bits: 0 here.
    let (0, key) = bits.split_first()? else { return None };
    let (0x06, oid, params) = tlv(algorithm)? else { return None };
    let kind = if oid == OID_RSA {
        KeyKind::Rsa
    } else if oid == OID_EC {
        let (0x06, curve, _) = tlv(params)? else { return None };
        match curve {
            c if c == OID_P256 => KeyKind::P256,
            c if c == OID_P384 => KeyKind::P384,
            c if c == OID_P521 => KeyKind::P521,
            _ => return None,
        }
    } else {
        return None;
    };
    Some(PublicKey { kind, der: key.to_vec() })
}

/// One DER element: its tag, its contents and what follows it.
fn tlv(b: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = b.split_first()?;
    let (&first, mut rest) = rest.split_first()?;
    let len = if first < 0x80 {
        first as usize
    } else {
        let n = (first & 0x7f) as usize;
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n].iter().fold(0usize, |acc, &c| acc << 8 | c as usize);
        rest = &rest[n..];
        len
    };
    (rest.len() >= len).then(|| (tag, &rest[..len], &rest[len..]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample::{Expr, TestCtx};

    fn b64(b: &[u8]) -> String {
        String::from_utf8(conv::b64_encode(b, true)).unwrap()
    }

    /// `header.payload` for the JSON texts given.
    fn unsigned(header: &str, payload: &str) -> String {
        format!("{}.{}", b64(header.as_bytes()), b64(payload.as_bytes()))
    }

    fn hs(alg: ring::hmac::Algorithm, key: &[u8], signed: &str) -> String {
        let tag = ring::hmac::sign(&ring::hmac::Key::new(alg, key), signed.as_bytes());
        format!("{signed}.{}", b64(tag.as_ref()))
    }

    #[test]
    fn hmac_tokens_and_malformed_ones() {
        let signed = unsigned(r#"{"alg":"HS256","typ":"JWT"}"#, r#"{"sub":"1234","n":5}"#);
        let tok = hs(ring::hmac::HMAC_SHA256, b"secret", &signed);
        let v = |t: &str, alg: &str, key: &str| verify(t.as_bytes(), alg.as_bytes(), key.as_bytes()) as i64;
        assert_eq!(v(&tok, "HS256", "secret"), 1);
        assert_eq!(v(&tok, "HS256", "secreT"), 0);
        assert_eq!(v(&tok, "HS384", "secret"), 0);
        assert_eq!(v(&hs(ring::hmac::HMAC_SHA512, b"k", &signed), "HS512", "k"), 1);
        assert_eq!(v(&tok, "XX256", "secret"), -1);
        assert_eq!(v(&tok, "PS256", "secret"), -2);
        assert_eq!(v(&tok, "none", "secret"), 0);
        assert_eq!(v(&tok, "ES256", "/not/loaded.pem"), -5);
        // Values HAProxy 2.6.12 gives for these shapes.
        assert_eq!(v("a.b.c.d", "HS256", "s"), -3);
        assert_eq!(v("a.b", "HS256", "s"), -3);
        assert_eq!(v("a.b.", "HS256", "s"), -3);
        assert_eq!(v("a.b.!!", "HS256", "s"), -3);
        assert_eq!(v("a.b.", "none", "s"), 1);
        assert_eq!(v("a.b", "none", "s"), 1);
        assert_eq!(v("a.b.c", "none", "s"), 0);
    }

    #[test]
    fn ecdsa_with_a_loaded_key_file() {
        let rng = ring::rand::SystemRandom::new();
        let pkcs8 = sig::EcdsaKeyPair::generate_pkcs8(&sig::ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let pair = sig::EcdsaKeyPair::from_pkcs8(&sig::ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng).unwrap();
        use ring::signature::KeyPair;
        // SubjectPublicKeyInfo for a P-256 point: a fixed 26-byte prefix.
        let mut spki = vec![
            0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08,
            0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
        ];
        spki.extend_from_slice(pair.public_key().as_ref());
        let dir = std::env::temp_dir().join(format!("mp-jwt-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("ec.pub");
        let body = String::from_utf8(conv::b64_encode(&spki, false)).unwrap();
        std::fs::write(&path, format!("-----BEGIN PUBLIC KEY-----\n{body}\n-----END PUBLIC KEY-----\n")).unwrap();
        let path = path.to_str().unwrap();
        let signed = unsigned(r#"{"alg":"ES256"}"#, r#"{"sub":"1234"}"#);
        let signature = pair.sign(&rng, signed.as_bytes()).unwrap();
        let tok = format!("{signed}.{}", b64(signature.as_ref()));
        // The key is loaded by the expression, at compile time.
        let e = Expr::parse(&format!("str({tok}),jwt_verify(ES256,{path})")).unwrap();
        assert_eq!(e.eval(&TestCtx::default()), Some(Sample::Sint(1)));
        assert_eq!(verify(tok.as_bytes(), b"ES384", path.as_bytes()), Verdict::Ko);
        assert_eq!(verify(tok.as_bytes(), b"RS256", path.as_bytes()), Verdict::Ko);
        let bad = format!("{signed}x.{}", b64(signature.as_ref()));
        assert_eq!(verify(bad.as_bytes(), b"ES256", path.as_bytes()), Verdict::Ko);
        // One byte too many in the signature: HAProxy 2.6 cannot convert it (-3).
        let long = format!("{tok}x");
        assert_eq!(verify(long.as_bytes(), b"ES256", path.as_bytes()), Verdict::InvalidToken);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn queries_and_argument_checks() {
        let tok = format!("{}.sig", unsigned(r#"{"alg":"HS256"}"#, r#"{"n":5,"t":true,"s":"x"}"#));
        let cx = TestCtx::default();
        let eval = |e: String| Expr::parse(&e).unwrap().eval(&cx);
        assert_eq!(eval(format!("str({tok}),jwt_header_query('$.alg')")), Some(Sample::str("HS256")));
        assert_eq!(eval(format!("str({tok}),jwt_payload_query('$.n','int')")), Some(Sample::Sint(5)));
        assert_eq!(eval(format!("str({tok}),jwt_payload_query('$.t')")), Some(Sample::Bool(true)));
        assert_eq!(eval(format!("str({tok}),jwt_payload_query('$.zz')")), None);
        assert_eq!(eval(format!("str({tok}),jwt_payload_query")), None);
        let err = |e: &str| Expr::parse(e).unwrap_err().to_string();
        assert_eq!(err("str(a),jwt_verify(XX,k)"), "invalid args in converter 'jwt_verify' : unknown JWT algorithm: XX");
        assert_eq!(err("str(a),jwt_verify(,k)"), "invalid args in converter 'jwt_verify' : unknown JWT algorithm: ");
        assert_eq!(err("str(a),jwt_verify(PS256,k)"), "invalid args in converter 'jwt_verify' : RSASSA-PSS JWS signing not managed yet");
        assert_eq!(
            err("str(a),jwt_header_query(a,b)"),
            "invalid args in converter 'jwt_header_query' : output_type only supports \"int\" as argument"
        );
        assert!(Expr::parse("str(a),jwt_verify(txn.a,txn.b)").is_ok());
    }

    #[test]
    fn der_reader() {
        assert_eq!(tlv(&[0x04, 0x02, 1, 2, 9]), Some((0x04, &[1u8, 2][..], &[9u8][..])));
        assert_eq!(tlv(&[0x04, 0x81, 0x01, 7]), Some((0x04, &[7u8][..], &[][..])));
        assert_eq!(tlv(&[0x04, 0x03, 1]), None);
        assert!(parse_spki(&[0x30, 0x00]).is_none());
    }
}
