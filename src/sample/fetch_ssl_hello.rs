//! Sample fetches that read a TLS ClientHello (or ServerHello) from the raw request
//! (response) buffer, for `tcp-request content` rules in front of TLS that is not
//! terminated here: SNI routing (`use_backend b if { req.ssl_sni -i a.example }`),
//! ALPN, the protocol version. HAProxy 2.6's `req.ssl_sni`, `req.ssl_hello_type`,
//! `req.ssl_ver`, `req.ssl_alpn`, `req.ssl_ec_ext`, `req.ssl_st_ext`,
//! `res.ssl_hello_type`, and their old names (`req_ssl_sni`, `req_ssl_hello_type`,
//! `req_ssl_ver`, `rep_ssl_hello_type`).
//!
//! Only the first record is read, as HAProxy does. While it is incomplete (inside
//! `tcp-request inspect-delay`) a fetch reports [`SampleCtx::may_change`] and the rule
//! waits; bytes that are not a TLS handshake give no sample at once.

use super::args::{Arg, ArgSpec};
use super::fetch::Fetch;
use super::{Dir, Sample, SampleCtx, SampleType};

use SampleType as T;

fn no_check(_: &mut [Arg]) -> Result<(), String> {
    Ok(())
}

macro_rules! fetch {
    ($name:expr, $out:expr, $run:expr) => {
        Fetch { name: $name, args: ArgSpec::NONE, out: $out, check: no_check, run: $run, all: None, visit: None }
    };
}

/// Every fetch of this module.
pub static FETCHES: &[Fetch] = &[
    fetch!("rep_ssl_hello_type", T::Sint, |_, cx| hello_type(cx, Dir::Res)),
    fetch!("req.ssl_alpn", T::Str, |_, cx| with_hello(cx, |h| Some(Sample::Str(first_alpn(h.extension(ALPN)?)?.to_vec())))),
    fetch!("req.ssl_ec_ext", T::Bool, |_, cx| with_hello(cx, |h| Some(Sample::Bool(h.extension(SUPPORTED_GROUPS).is_some())))),
    fetch!("req.ssl_hello_type", T::Sint, |_, cx| hello_type(cx, Dir::Req)),
    fetch!("req.ssl_sni", T::Str, |_, cx| sni(cx)),
    fetch!("req.ssl_st_ext", T::Sint, |_, cx| with_hello(cx, |h| Some(Sample::Sint(match h.extension(SESSION_TICKET) {
        None => 0,
        Some([]) => 1,
        Some(_) => 2,
    })))),
    fetch!("req.ssl_ver", T::Sint, |_, cx| version(cx)),
    fetch!("req_ssl_hello_type", T::Sint, |_, cx| hello_type(cx, Dir::Req)),
    fetch!("req_ssl_sni", T::Str, |_, cx| sni(cx)),
    fetch!("req_ssl_ver", T::Sint, |_, cx| version(cx)),
    fetch!("res.ssl_hello_type", T::Sint, |_, cx| hello_type(cx, Dir::Res)),
];

/// The fetch named `name`.
pub fn lookup(name: &str) -> Option<&'static Fetch> {
    FETCHES.iter().find(|f| f.name == name)
}

use crate::tls::hello::{ClientHello, Reader, HANDSHAKE};

const SERVER_NAME: u16 = 0;
const SUPPORTED_GROUPS: u16 = 10;
const ALPN: u16 = 16;
const SESSION_TICKET: u16 = 35;

/// Why a buffer gives no ClientHello.
#[derive(Debug, PartialEq, Eq)]
enum NoHello {
    /// The record is not all there yet.
    Incomplete,
    /// Not a TLS handshake record carrying a ClientHello.
    Invalid,
}

/// The body of the first record of `data`, a handshake record.
fn first_record(data: &[u8]) -> Result<&[u8], NoHello> {
    let header = data.get(..5).ok_or(NoHello::Incomplete)?;
    if header[0] != HANDSHAKE || header[1] != 3 {
        return Err(NoHello::Invalid);
    }
    let len = usize::from(u16::from_be_bytes([header[3], header[4]]));
    data.get(5..5 + len).ok_or(NoHello::Incomplete)
}

/// The ClientHello a handshake record carries.
fn client_hello(record: &[u8]) -> Result<ClientHello<'_>, NoHello> {
    ClientHello::parse(record).ok_or(NoHello::Invalid)
}

/// Runs `f` on the first record of the `dir` buffer; waits (may change) while it is
/// incomplete, gives nothing for bytes that are not a handshake record.
fn with_record(cx: &dyn SampleCtx, dir: Dir, f: impl FnOnce(&[u8]) -> Option<Sample>) -> Option<Sample> {
    let d = cx.channel_data(dir)?;
    match first_record(d.bytes) {
        Ok(record) => f(record),
        Err(NoHello::Incomplete) => {
            if !d.last {
                cx.may_change();
            }
            None
        }
        Err(NoHello::Invalid) => None,
    }
}

/// Runs `f` on the request's ClientHello ([`with_record`]).
fn with_hello(cx: &dyn SampleCtx, f: impl FnOnce(&ClientHello<'_>) -> Option<Sample>) -> Option<Sample> {
    with_record(cx, Dir::Req, |record| f(&client_hello(record).ok()?))
}

/// `req.ssl_hello_type` / `res.ssl_hello_type`: the type of the first handshake
/// message (1 ClientHello, 2 ServerHello), once its record is complete.
fn hello_type(cx: &dyn SampleCtx, dir: Dir) -> Option<Sample> {
    with_record(cx, dir, |record| Some(Sample::Sint(i64::from(*record.first()?))))
}

/// `req.ssl_sni`: the host name the client asks for.
fn sni(cx: &dyn SampleCtx) -> Option<Sample> {
    with_hello(cx, |h| Some(Sample::Str(server_name(h.extension(SERVER_NAME)?)?.to_vec())))
}

/// `req.ssl_ver`: the hello's version, major * 65536 + minor.
fn version(cx: &dyn SampleCtx) -> Option<Sample> {
    with_hello(cx, |h| Some(Sample::Sint(i64::from(h.version >> 8) << 16 | i64::from(h.version & 0xff))))
}

/// The host name of a `server_name` extension (the first entry of type host_name).
fn server_name(ext: &[u8]) -> Option<&[u8]> {
    let list = Reader { bytes: ext, at: 0 }.vector(2)?;
    let mut r = Reader { bytes: list, at: 0 };
    while r.at < list.len() {
        let ty = r.take(1)?[0];
        let name = r.vector(2)?;
        if ty == 0 {
            return Some(name);
        }
    }
    None
}

/// The first protocol of an ALPN extension.
fn first_alpn(ext: &[u8]) -> Option<&[u8]> {
    let list = Reader { bytes: ext, at: 0 }.vector(2)?;
    Reader { bytes: list, at: 0 }.vector(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls::hello::CLIENT_HELLO;

    /// The ClientHello in the first record of `data`, as the fetches read it.
    fn parse(data: &[u8]) -> Result<ClientHello<'_>, NoHello> {
        client_hello(first_record(data)?)
    }

    /// A ClientHello record with the given extensions (type, body).
    fn hello(extensions: &[(u16, Vec<u8>)]) -> Vec<u8> {
        let mut ext = Vec::new();
        for (t, body) in extensions {
            ext.extend_from_slice(&t.to_be_bytes());
            ext.extend_from_slice(&(body.len() as u16).to_be_bytes());
            ext.extend_from_slice(body);
        }
        let mut msg = vec![3, 3];
        msg.extend_from_slice(&[7; 32]);
        msg.extend_from_slice(&[0, 0, 2, 0x13, 0x01, 1, 0]);
        msg.extend_from_slice(&(ext.len() as u16).to_be_bytes());
        msg.extend_from_slice(&ext);
        let mut hs = vec![CLIENT_HELLO, 0, (msg.len() >> 8) as u8, msg.len() as u8];
        hs.extend_from_slice(&msg);
        let mut rec = vec![HANDSHAKE, 3, 1, (hs.len() >> 8) as u8, hs.len() as u8];
        rec.extend_from_slice(&hs);
        rec
    }

    fn sni(name: &str) -> (u16, Vec<u8>) {
        let mut entry = vec![0, 0, name.len() as u8];
        entry.extend_from_slice(name.as_bytes());
        let mut body = (entry.len() as u16).to_be_bytes().to_vec();
        body.extend_from_slice(&entry);
        (SERVER_NAME, body)
    }

    #[test]
    fn a_client_hello_gives_its_name_protocols_and_version() {
        let alpn = (ALPN, vec![0, 12, 2, b'h', b'2', 8, b'h', b't', b't', b'p', b'/', b'1', b'.', b'1']);
        let rec = hello(&[sni("a.test"), alpn, (SESSION_TICKET, vec![])]);
        let h = parse(&rec).unwrap();
        assert_eq!(h.version, 0x0303);
        assert_eq!(server_name(h.extension(SERVER_NAME).unwrap()), Some(&b"a.test"[..]));
        assert_eq!(first_alpn(h.extension(ALPN).unwrap()), Some(&b"h2"[..]));
        assert_eq!(h.extension(SESSION_TICKET), Some(&[][..]));
        assert_eq!(h.extension(SUPPORTED_GROUPS), None);
    }

    #[test]
    fn a_short_record_waits_and_other_bytes_give_nothing() {
        let rec = hello(&[sni("a.test")]);
        for cut in [0, 4, 5, 20, rec.len() - 1] {
            assert_eq!(parse(&rec[..cut]).unwrap_err(), NoHello::Incomplete, "cut at {cut}");
        }
        assert_eq!(parse(b"GET / HTTP/1.1\r\n\r\n").unwrap_err(), NoHello::Invalid);
        let mut server_hello = rec.clone();
        server_hello[5] = 2;
        assert_eq!(parse(&server_hello).unwrap_err(), NoHello::Invalid);
        // A record whose inner lengths overrun it is invalid, not incomplete.
        let mut bad = rec.clone();
        bad[5 + 4 + 2 + 32] = 200; // session id length
        assert_eq!(parse(&bad).unwrap_err(), NoHello::Invalid);
    }
}
