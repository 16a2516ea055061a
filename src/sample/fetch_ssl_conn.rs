//! The `ssl_fc_*` and `ssl_bc_*` fetches beyond the basic ones of `fetch.rs`: session
//! ids, randoms, keys and secrets, the ClientHello capture, errors and NPN. Read from
//! [`crate::tls::details::Details`]; doc/tls.md says where rustls leaves a value out.
//!
//! - Randoms: `ssl_fc_client_random`, `ssl_fc_server_random` and the `ssl_bc_*` pair
//!   (copied from the hellos as they cross the socket).
//! - `ssl_*_session_id`: a TLS 1.2 session's id; none in TLS 1.3 (rustls keeps its
//!   own, and OpenSSL's TLS 1.3 id is never on the wire).
//! - `ssl_*_session_key`: the TLS 1.2 master secret; none in TLS 1.3 (OpenSSL gives
//!   its resumption secret there, which rustls does not expose).
//! - The TLS 1.3 secrets (`ssl_fc_*_secret`), in hex, with `tune.ssl.keylog on`.
//! - The capture (`tune.ssl.capture-buffer-size`): the cipher suites, extension types,
//!   groups and point formats of the ClientHello, sharing one buffer of that size in
//!   that order as HAProxy does; `(1)` leaves GREASE values out.
//! - `ssl_*_err` is 0 and `ssl_*_err_str` absent on every session that got this far
//!   (HAProxy's values when no error was raised); `ssl_*_npn` absent (rustls has no
//!   NPN, and the `npn` option is refused); `ssl_fc_has_early` false (rustls is never
//!   offered early data); `ssl_*_unique_id` absent (the Finished message is encrypted).

use super::args::{Arg, ArgSpec, ArgType};
use super::fetch::Fetch;
use super::{Sample, SampleCtx, SampleType};
use crate::tls::details::{self, Details, HelloCapture};
use crate::tls::TlsInfo;

use SampleType as T;

fn no_check(_: &mut [Arg]) -> Result<(), String> {
    Ok(())
}

macro_rules! fetch {
    ($name:expr, $out:expr, $run:expr) => {
        Fetch { name: $name, args: ArgSpec::NONE, out: $out, check: no_check, run: $run, all: None, visit: None }
    };
    ($name:expr, $args:expr, $out:expr, $run:expr) => {
        Fetch { name: $name, args: $args, out: $out, check: no_check, run: $run, all: None, visit: None }
    };
}

/// `[<filter_option>]`: 1 leaves GREASE values out.
const FILTER: ArgSpec = ArgSpec { types: &[ArgType::Int], mandatory: 0 };

fn front(cx: &dyn SampleCtx) -> Option<&TlsInfo> {
    cx.tls()
}

fn back(cx: &dyn SampleCtx) -> Option<&TlsInfo> {
    cx.server_tls()
}

fn bin(v: &[u8]) -> Option<Sample> {
    Some(Sample::Bin(v.to_vec()))
}

/// A key log secret as HAProxy gives it: lowercase hex.
fn secret(cx: &dyn SampleCtx, label: &str) -> Option<Sample> {
    let s = front(cx)?.details.secret(label)?;
    Some(Sample::Str(s.iter().flat_map(|b| format!("{b:02x}").into_bytes()).collect()))
}

/// The master secret of a TLS 1.2 session.
fn session_key(t: &TlsInfo) -> Option<Sample> {
    (t.protocol == "TLSv1.2").then_some(())?;
    bin(t.details.secret("CLIENT_RANDOM")?)
}

/// The captured lists of the front session's ClientHello, each cut to what is left
/// of the capture buffer after the ones before it (ciphers, extensions, groups,
/// point formats), as HAProxy fills its buffer. `None` without a capture.
struct Captured<'a> {
    hello: HelloCapture<'a>,
    ciphers: usize,
    extensions: usize,
    groups: usize,
    formats: usize,
}

fn captured(d: &Details) -> Option<Captured<'_>> {
    let hello = details::parse_client_hello(d.client_hello.as_deref()?)?;
    let mut left = d.capture_size;
    let mut take = |n: usize| {
        let k = n.min(left);
        left -= k;
        k
    };
    let ciphers = take(hello.ciphers.len());
    let extensions = take(hello.extensions.len());
    let groups = take(hello.groups.len());
    let formats = take(hello.point_formats.len());
    Some(Captured { hello, ciphers, extensions, groups, formats })
}

/// Runs `f` on the front session's capture.
fn with_capture(cx: &dyn SampleCtx, f: impl FnOnce(&Captured<'_>) -> Option<Sample>) -> Option<Sample> {
    f(&captured(&front(cx)?.details)?)
}

/// A list of two-byte values, GREASE left out when the argument is 1.
fn pairs(list: &[u8], a: &[Arg]) -> Vec<u8> {
    let filter = a.first().and_then(Arg::int).is_some_and(|f| f > 0);
    list.chunks(2).filter(|p| !(filter && p.len() == 2 && details::is_grease(u16::from_be_bytes([p[0], p[1]])))).flatten().copied().collect()
}

/// The cipher list: `run` gets the captured suites (filtered).
fn cipherlist(a: &[Arg], cx: &dyn SampleCtx, run: fn(Vec<u8>) -> Sample) -> Option<Sample> {
    with_capture(cx, |c| Some(run(pairs(&c.hello.ciphers[..c.ciphers], a))))
}

fn hex_upper(v: Vec<u8>) -> Sample {
    Sample::Str(v.iter().flat_map(|b| format!("{b:02X}").into_bytes()).collect())
}

/// The suites by OpenSSL's names, `UNKNOWN(xxxx)` for the others, comma-separated.
fn names(v: Vec<u8>) -> Sample {
    let list: Vec<String> = v
        .chunks_exact(2)
        .map(|p| {
            let id = u16::from_be_bytes([p[0], p[1]]);
            match openssl_cipher_name(id) {
                Some(n) => n.to_string(),
                None => format!("UNKNOWN({id:04x})"),
            }
        })
        .collect();
    Sample::Str(list.join(",").into_bytes())
}

/// Every fetch of this module.
pub static FETCHES: &[Fetch] = &[
    fetch!("ssl_bc_client_random", T::Bin, |_, cx| bin(back(cx)?.details.client_random.as_ref()?)),
    fetch!("ssl_bc_err", T::Sint, |_, cx| back(cx).map(|_| Sample::Sint(0))),
    fetch!("ssl_bc_err_str", T::Str, |_, _| None),
    fetch!("ssl_bc_npn", T::Str, |_, _| None),
    fetch!("ssl_bc_server_random", T::Bin, |_, cx| bin(back(cx)?.details.server_random.as_ref()?)),
    fetch!("ssl_bc_session_id", T::Bin, |_, cx| bin(back(cx)?.details.session_id.as_deref()?)),
    fetch!("ssl_bc_session_key", T::Bin, |_, cx| session_key(back(cx)?)),
    fetch!("ssl_bc_unique_id", T::Bin, |_, _| None),
    fetch!("ssl_fc_alg_keysize", T::Sint, |_, cx| front(cx).map(|t| Sample::Sint(t.key_bits.into()))),
    // HAProxy 2.6 declares `ssl_fc_cipherlist_bin` str and `_hex` bin; the values are
    // binary and text, as here.
    fetch!("ssl_fc_cipherlist_bin", FILTER, T::Str, |a, cx| cipherlist(a, cx, Sample::Bin)),
    fetch!("ssl_fc_cipherlist_hex", FILTER, T::Bin, |a, cx| cipherlist(a, cx, hex_upper)),
    fetch!("ssl_fc_cipherlist_str", FILTER, T::Str, |a, cx| cipherlist(a, cx, names)),
    // The hash covers the whole list, cut or not.
    fetch!("ssl_fc_cipherlist_xxh", T::Sint, |_, cx| with_capture(cx, |c| Some(Sample::Sint(super::hash::xxh64(c.hello.ciphers, 0) as i64)))),
    fetch!("ssl_fc_client_early_traffic_secret", T::Str, |_, cx| secret(cx, "CLIENT_EARLY_TRAFFIC_SECRET")),
    fetch!("ssl_fc_client_handshake_traffic_secret", T::Str, |_, cx| secret(cx, "CLIENT_HANDSHAKE_TRAFFIC_SECRET")),
    fetch!("ssl_fc_client_random", T::Bin, |_, cx| bin(front(cx)?.details.client_random.as_ref()?)),
    fetch!("ssl_fc_client_traffic_secret_0", T::Str, |_, cx| secret(cx, "CLIENT_TRAFFIC_SECRET_0")),
    fetch!("ssl_fc_early_exporter_secret", T::Str, |_, cx| secret(cx, "EARLY_EXPORTER_SECRET")),
    fetch!("ssl_fc_ecformats_bin", T::Str, |_, cx| with_capture(cx, |c| bin(&c.hello.point_formats[..c.formats]))),
    fetch!("ssl_fc_eclist_bin", FILTER, T::Str, |a, cx| with_capture(cx, |c| Some(Sample::Bin(pairs(&c.hello.groups[..c.groups], a))))),
    fetch!("ssl_fc_err", T::Sint, |_, cx| front(cx).map(|_| Sample::Sint(0))),
    fetch!("ssl_fc_err_str", T::Str, |_, _| None),
    fetch!("ssl_fc_exporter_secret", T::Str, |_, cx| secret(cx, "EXPORTER_SECRET")),
    fetch!("ssl_fc_extlist_bin", FILTER, T::Str, |a, cx| with_capture(cx, |c| Some(Sample::Bin(pairs(&c.hello.extensions[..c.extensions], a))))),
    fetch!("ssl_fc_has_crt", T::Bool, |_, cx| front(cx).map(|t| Sample::Bool(t.peer_cert && !t.resumed))),
    fetch!("ssl_fc_has_early", T::Bool, |_, cx| front(cx).map(|_| Sample::Bool(false))),
    fetch!("ssl_fc_is_resumed", T::Bool, |_, cx| front(cx).map(|t| Sample::Bool(t.resumed))),
    fetch!("ssl_fc_npn", T::Str, |_, _| None),
    fetch!("ssl_fc_protocol_hello_id", T::Sint, |_, cx| with_capture(cx, |c| Some(Sample::Sint(c.hello.version.into())))),
    fetch!("ssl_fc_server_handshake_traffic_secret", T::Str, |_, cx| secret(cx, "SERVER_HANDSHAKE_TRAFFIC_SECRET")),
    fetch!("ssl_fc_server_random", T::Bin, |_, cx| bin(front(cx)?.details.server_random.as_ref()?)),
    fetch!("ssl_fc_server_traffic_secret_0", T::Str, |_, cx| secret(cx, "SERVER_TRAFFIC_SECRET_0")),
    fetch!("ssl_fc_session_id", T::Bin, |_, cx| bin(front(cx)?.details.session_id.as_deref()?)),
    fetch!("ssl_fc_session_key", T::Bin, |_, cx| session_key(front(cx)?)),
    fetch!("ssl_fc_unique_id", T::Bin, |_, _| None),
    fetch!("ssl_fc_use_keysize", T::Sint, |_, cx| front(cx).map(|t| Sample::Sint(t.key_bits.into()))),
];

/// The fetch named `name`.
pub fn lookup(name: &str) -> Option<&'static Fetch> {
    if !name.starts_with("ssl_") {
        return None;
    }
    FETCHES.iter().find(|f| f.name == name)
}

/// OpenSSL's name of a cipher suite id, for the suites a client commonly offers
/// (`ssl_fc_cipherlist_str`); others print as `UNKNOWN(xxxx)`.
fn openssl_cipher_name(id: u16) -> Option<&'static str> {
    Some(match id {
        0x1301 => "TLS_AES_128_GCM_SHA256",
        0x1302 => "TLS_AES_256_GCM_SHA384",
        0x1303 => "TLS_CHACHA20_POLY1305_SHA256",
        0x1304 => "TLS_AES_128_CCM_SHA256",
        0x1305 => "TLS_AES_128_CCM_8_SHA256",
        0xc02b => "ECDHE-ECDSA-AES128-GCM-SHA256",
        0xc02c => "ECDHE-ECDSA-AES256-GCM-SHA384",
        0xc02f => "ECDHE-RSA-AES128-GCM-SHA256",
        0xc030 => "ECDHE-RSA-AES256-GCM-SHA384",
        0xcca8 => "ECDHE-RSA-CHACHA20-POLY1305",
        0xcca9 => "ECDHE-ECDSA-CHACHA20-POLY1305",
        0xccaa => "DHE-RSA-CHACHA20-POLY1305",
        0x009e => "DHE-RSA-AES128-GCM-SHA256",
        0x009f => "DHE-RSA-AES256-GCM-SHA384",
        0xc023 => "ECDHE-ECDSA-AES128-SHA256",
        0xc024 => "ECDHE-ECDSA-AES256-SHA384",
        0xc027 => "ECDHE-RSA-AES128-SHA256",
        0xc028 => "ECDHE-RSA-AES256-SHA384",
        0x0067 => "DHE-RSA-AES128-SHA256",
        0x006b => "DHE-RSA-AES256-SHA256",
        0xc009 => "ECDHE-ECDSA-AES128-SHA",
        0xc00a => "ECDHE-ECDSA-AES256-SHA",
        0xc013 => "ECDHE-RSA-AES128-SHA",
        0xc014 => "ECDHE-RSA-AES256-SHA",
        0x0033 => "DHE-RSA-AES128-SHA",
        0x0039 => "DHE-RSA-AES256-SHA",
        0x009c => "AES128-GCM-SHA256",
        0x009d => "AES256-GCM-SHA384",
        0x003c => "AES128-SHA256",
        0x003d => "AES256-SHA256",
        0x002f => "AES128-SHA",
        0x0035 => "AES256-SHA",
        0x000a => "DES-CBC3-SHA",
        0x00ff => "TLS_EMPTY_RENEGOTIATION_INFO_SCSV",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_capture_buffer_is_shared_in_order() {
        // ciphers 4 bytes, extensions 4 bytes (10, 11), groups 4, formats 1.
        let mut d = Details::default();
        let mut body = vec![3, 3];
        body.extend_from_slice(&[0; 32]);
        body.extend_from_slice(&[0, 0, 4, 0x0a, 0x0a, 0x13, 0x01, 1, 0]);
        let ext: Vec<u8> = vec![0, 10, 0, 6, 0, 4, 0, 0x1d, 0, 0x17, 0, 11, 0, 2, 1, 0];
        body.extend_from_slice(&(ext.len() as u16).to_be_bytes());
        body.extend(ext);
        let mut msg = vec![crate::tls::hello::CLIENT_HELLO, 0, 0, body.len() as u8];
        msg.extend(body);
        d.client_hello = Some(msg);
        d.capture_size = 10;
        let c = captured(&d).unwrap();
        assert_eq!((c.ciphers, c.extensions, c.groups, c.formats), (4, 4, 2, 0));
        d.capture_size = 3;
        let c = captured(&d).unwrap();
        assert_eq!((c.ciphers, c.extensions, c.groups, c.formats), (3, 0, 0, 0));
        assert_eq!(pairs(&[0x0a, 0x0a, 0x13, 0x01], &[Arg::Int(1)]), vec![0x13, 0x01]);
        assert_eq!(pairs(&[0x0a, 0x0a, 0x13, 0x01], &[]).len(), 4);
        assert_eq!(names(vec![0x13, 0x02, 0x0a, 0x0a]), Sample::str("TLS_AES_256_GCM_SHA384,UNKNOWN(0a0a)"));
    }
}
