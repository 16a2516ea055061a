//! `aes_gcm_dec(<bits>,<nonce>,<key>,<aead_tag>)`: AES-GCM decryption of the input with
//! `ring`. `<nonce>`, `<key>` and `<aead_tag>` are base64 text, given as is or as the
//! name of a variable holding it (decoded at each use); the plaintext comes out as
//! `bin`, and a failed authentication (or an unset variable, bad base64, a key of the
//! wrong size) drops the sample, as HAProxy does.
//!
//! Deviations, from what `ring` offers: 192-bit keys, nonces other than 12 bytes and
//! tags other than 16 bytes give no sample (HAProxy's OpenSSL takes them).

use super::args::{Arg, ArgType as A};
use super::conv::{self, spec, Conv};
use super::{Sample, SampleCtx, SampleType as T, VarName};
use ring::aead;

pub static CONVERTERS: &[Conv] = &[Conv::new(
    "aes_gcm_dec",
    spec(&[A::Int, A::Str, A::Str, A::Str], 4),
    T::Bin,
    T::Bin,
    check,
    run,
)];

/// The key size, then each base64 argument: a variable name, or text that must decode.
fn check(a: &mut [Arg]) -> Result<(), String> {
    if !matches!(a.first().and_then(Arg::int), Some(128 | 192 | 256)) {
        return Err("key size must be 128, 192 or 256 (bits).".into());
    }
    for (i, what) in [(1, "nonce"), (2, "key"), (3, "aead_tag")] {
        let Some(text) = a.get(i).and_then(Arg::str) else { continue };
        if let Some(var) = VarName::parse(text) {
            a[i] = Arg::Var(var);
        } else if conv::b64_decode(text.as_bytes(), false).is_none() {
            return Err(format!(
                "failed to parse {what} : argument needs to be base64 encoded, and can either be a string or a variable"
            ));
        }
    }
    Ok(())
}

/// An argument's bytes: its base64 text (or its variable's) decoded.
fn decoded(arg: &Arg, cx: &dyn SampleCtx) -> Option<Vec<u8>> {
    let text = match arg {
        Arg::Str(t) => t.as_bytes().to_vec(),
        Arg::Var(v) => conv::bytes(cx.var(v)?.cast(T::Str)?)?,
        _ => return None,
    };
    conv::b64_decode(&text, false)
}

fn run(s: Sample, a: &[Arg], cx: &dyn SampleCtx) -> Option<Sample> {
    let algorithm = match a.first()?.int()? {
        128 => &aead::AES_128_GCM,
        256 => &aead::AES_256_GCM,
        _ => return None,
    };
    let nonce = decoded(a.get(1)?, cx)?;
    let key = decoded(a.get(2)?, cx)?;
    let tag = decoded(a.get(3)?, cx)?;
    Some(Sample::Bin(decrypt(algorithm, &nonce, &key, &tag, &conv::bytes(s)?)?))
}

/// The plaintext of `ciphertext`, or `None` when anything does not fit or authenticate.
pub fn decrypt(algorithm: &'static aead::Algorithm, nonce: &[u8], key: &[u8], tag: &[u8], ciphertext: &[u8]) -> Option<Vec<u8>> {
    let key = aead::LessSafeKey::new(aead::UnboundKey::new(algorithm, key).ok()?);
    let nonce = aead::Nonce::try_assume_unique_for_key(nonce).ok()?;
    if tag.len() != algorithm.tag_len() {
        return None;
    }
    let mut buf = Vec::with_capacity(ciphertext.len() + tag.len());
    buf.extend_from_slice(ciphertext);
    buf.extend_from_slice(tag);
    let plain = key.open_in_place(nonce, aead::Aad::empty(), &mut buf).ok()?.len();
    buf.truncate(plain);
    Some(buf)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample::{Expr, TestCtx, Vars};

    fn b64(b: &[u8]) -> String {
        String::from_utf8(conv::b64_encode(b, false)).unwrap()
    }

    #[test]
    fn decrypts_what_ring_encrypted() {
        let (key, nonce) = ([7u8; 16], [9u8; 12]);
        let sealing = aead::LessSafeKey::new(aead::UnboundKey::new(&aead::AES_128_GCM, &key).unwrap());
        let mut data = b"hello world".to_vec();
        let tag = sealing
            .seal_in_place_separate_tag(aead::Nonce::assume_unique_for_key(nonce), aead::Aad::empty(), &mut data)
            .unwrap();
        let mut vars = Vars::new();
        vars.set(&VarName::parse("txn.key").unwrap(), Sample::str(b64(&key)));
        let cx = TestCtx { vars, ..TestCtx::default() };
        let e = format!("bin({}),aes_gcm_dec(128,{},txn.key,{})", hex(&data), b64(&nonce), b64(tag.as_ref()));
        assert_eq!(Expr::parse(&e).unwrap().eval(&cx), Some(Sample::Bin(b"hello world".to_vec())));
        let wrong_tag = b64(&[0u8; 16]);
        let e = format!("bin({}),aes_gcm_dec(128,{},txn.key,{wrong_tag})", hex(&data), b64(&nonce));
        assert_eq!(Expr::parse(&e).unwrap().eval(&cx), None);
        let e = format!("bin({}),aes_gcm_dec(128,{},txn.nope,{wrong_tag})", hex(&data), b64(&nonce));
        assert_eq!(Expr::parse(&e).unwrap().eval(&cx), None);
    }

    fn hex(b: &[u8]) -> String {
        b.iter().map(|c| format!("{c:02x}")).collect()
    }

    #[test]
    fn argument_errors() {
        let err = |e: &str| Expr::parse(e).unwrap_err().to_string();
        assert_eq!(
            err("str(a),aes_gcm_dec(100,a,b,c)"),
            "invalid args in converter 'aes_gcm_dec' : key size must be 128, 192 or 256 (bits)."
        );
        assert_eq!(
            err("str(a),aes_gcm_dec(128,AAAAAAAAAAAAAAAA,a,b)"),
            "invalid args in converter 'aes_gcm_dec' : failed to parse key : argument needs to be base64 encoded, and can either be a string or a variable"
        );
        assert!(Expr::parse("str(a),aes_gcm_dec(128,txn.a,AAAA,txn.c)").is_ok());
    }
}
