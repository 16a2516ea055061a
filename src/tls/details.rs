//! What a handshake tells beyond rustls's accessors, for the `ssl_fc_*`, `ssl_bc_*`,
//! `ssl_c_*`, `ssl_f_*` and `ssl_s_*` fetches ([`Details`], a part of [`super::TlsInfo`]):
//!
//! - The hellos: [`Taps`] copy the first ClientHello and ServerHello records as they
//!   cross the socket (in clear in every TLS version), for the client and server
//!   randoms, the TLS 1.2 session id and the ClientHello capture
//!   (`tune.ssl.capture-buffer-size`: `ssl_fc_cipherlist_*`, `ssl_fc_extlist_bin` ...).
//! - The secrets: rustls hands them to a [`rustls::KeyLog`]; [`KeyLogSink`] keeps them
//!   by client random until the session that made them takes them ([`take_secrets`]).
//!   `CLIENT_RANDOM` (the TLS 1.2 master secret, `ssl_fc_session_key`) is always
//!   kept; the TLS 1.3 secrets only with `tune.ssl.keylog on`, as HAProxy fills them.
//! - Client certificate errors that `ca-ignore-err`/`crt-ignore-err` forgave: the
//!   verifier notes them by certificate ([`note_verify_error`]) and the session reads
//!   them back by its peer's certificate ([`take_verify_error`]).

use rustls::pki_types::CertificateDer;
use std::collections::VecDeque;
use std::sync::Mutex;

/// The handshake's details ([`super::TlsInfo::details`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Details {
    /// The peer's certificate chain, its own first (client certificates on a bind,
    /// the server's on a server connection).
    pub peer_chain: Vec<CertificateDer<'static>>,
    /// The certificate this side presented (front side: the one the SNI picked).
    pub local_cert: Option<CertificateDer<'static>>,
    pub client_random: Option<[u8; 32]>,
    pub server_random: Option<[u8; 32]>,
    /// The session id of a TLS 1.2 session (the one in the ServerHello); none in TLS 1.3.
    pub session_id: Option<Vec<u8>>,
    /// The key log secrets of the session, by NSS key log label (`CLIENT_RANDOM`,
    /// `CLIENT_TRAFFIC_SECRET_0` ...).
    pub secrets: Vec<(&'static str, Vec<u8>)>,
    /// The ClientHello message (type, length, body), kept when
    /// `tune.ssl.capture-buffer-size` is above 0 (front side only).
    pub client_hello: Option<Vec<u8>>,
    /// `tune.ssl.capture-buffer-size`: how much of the captured lists the fetches return.
    pub capture_size: usize,
    /// The client certificate's verification ([`VerifyNote`]).
    pub verify: VerifyNote,
}

impl Details {
    /// The secret logged under `label`.
    pub fn secret(&self, label: &str) -> Option<&[u8]> {
        self.secrets.iter().find(|(l, _)| *l == label).map(|(_, s)| s.as_slice())
    }
}

/// A client certificate error forgiven by `ca-ignore-err`/`crt-ignore-err`, as
/// OpenSSL's verify callback sees it: its `X509_V_ERR_*` id and the depth in the
/// chain it was found at. Zero everywhere when the certificate verified.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VerifyNote {
    pub id: i64,
    pub depth: i64,
}

use super::hello::{CLIENT_HELLO, HANDSHAKE};
const SERVER_HELLO: u8 = 2;
/// A TLS 1.3 HelloRetryRequest is a ServerHello with this random (RFC 8446 4.1.3).
const HRR_RANDOM: [u8; 32] = [
    0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8, 0x91, 0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c,
];
/// Bytes a tap looks through before giving up (a hello comes first; this bounds
/// the copy if the peer sends something else).
const TAP_LIMIT: usize = 64 * 1024;

/// Copies one direction of a session's bytes until the first hello of `wanted` type
/// (a ServerHello that is not a HelloRetryRequest) has gone by, then keeps that message.
#[derive(Debug)]
pub struct Tap {
    wanted: u8,
    buf: Vec<u8>,
    /// Where the next record starts in `buf`.
    at: usize,
    /// The hello message (type, length, body).
    pub hello: Option<Vec<u8>>,
    done: bool,
}

impl Tap {
    pub fn new(wanted: u8) -> Tap {
        Tap { wanted, buf: Vec::new(), at: 0, hello: None, done: false }
    }

    /// Bytes that crossed the socket.
    pub fn feed(&mut self, bytes: &[u8]) {
        if self.done {
            return;
        }
        self.buf.extend_from_slice(bytes);
        while let Some(header) = self.buf.get(self.at..self.at + 5) {
            let len = usize::from(u16::from_be_bytes([header[3], header[4]]));
            let Some(body) = self.buf.get(self.at + 5..self.at + 5 + len) else { break };
            if header[0] == HANDSHAKE && body.first() == Some(&self.wanted) {
                let msg_len = body.get(1..4).map_or(0, |l| (usize::from(l[0]) << 16) | (usize::from(l[1]) << 8) | usize::from(l[2]));
                let msg = &body[..body.len().min(4 + msg_len)];
                let hrr = self.wanted == SERVER_HELLO && msg.get(6..38) == Some(&HRR_RANDOM[..]);
                if !hrr {
                    self.hello = Some(msg.to_vec());
                    self.done = true;
                    break;
                }
            }
            self.at += 5 + len;
        }
        if self.done || self.buf.len() > TAP_LIMIT {
            self.done = true;
            self.buf = Vec::new();
        }
    }

    pub fn done(&self) -> bool {
        self.done
    }
}

/// A hello's random and legacy session id (the same layout in both hellos:
/// type, length, version, random, session id).
pub fn random_and_session_id(hello: &[u8]) -> Option<([u8; 32], &[u8])> {
    let random: [u8; 32] = hello.get(6..38)?.try_into().ok()?;
    let len = usize::from(*hello.get(38)?);
    Some((random, hello.get(39..39 + len)?))
}

/// The taps of one session while it handshakes: what it reads and what it writes.
#[derive(Debug)]
pub struct Taps {
    pub read: Tap,
    pub written: Tap,
}

impl Taps {
    /// A server session reads a ClientHello and writes a ServerHello; a client the reverse.
    pub fn new(server: bool) -> Taps {
        let (r, w) = if server { (CLIENT_HELLO, SERVER_HELLO) } else { (SERVER_HELLO, CLIENT_HELLO) };
        Taps { read: Tap::new(r), written: Tap::new(w) }
    }
}

/// An `io::Read` that copies what it reads into a [`Tap`].
pub struct TapReader<'a, R> {
    pub inner: &'a mut R,
    pub tap: Option<&'a mut Tap>,
}

impl<R: std::io::Read> std::io::Read for TapReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(t) = self.tap.as_deref_mut() {
            t.feed(&buf[..n]);
        }
        Ok(n)
    }
}

/// An `io::Write` that copies what it writes into a [`Tap`].
pub struct TapWriter<'a, W> {
    pub inner: &'a mut W,
    pub tap: Option<&'a mut Tap>,
}

impl<W: std::io::Write> std::io::Write for TapWriter<'_, W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        if let Some(t) = self.tap.as_deref_mut() {
            t.feed(&buf[..n]);
        }
        Ok(n)
    }
    fn write_vectored(&mut self, bufs: &[std::io::IoSlice<'_>]) -> std::io::Result<usize> {
        let n = self.inner.write_vectored(bufs)?;
        if let Some(t) = self.tap.as_deref_mut() {
            let mut left = n;
            for b in bufs {
                let k = left.min(b.len());
                t.feed(&b[..k]);
                left -= k;
                if left == 0 {
                    break;
                }
            }
        }
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Secrets waiting for their session; bounded: sessions that fail their handshake
/// never take theirs.
const PENDING_LIMIT: usize = 1024;

/// (client random, label, secret).
type Secret = ([u8; 32], &'static str, Vec<u8>);

static SECRETS: Mutex<VecDeque<Secret>> = Mutex::new(VecDeque::new());

/// The key log of every config: keeps `CLIENT_RANDOM` always, the other labels
/// with `tune.ssl.keylog on` (`all`).
#[derive(Debug)]
pub struct KeyLogSink {
    pub all: bool,
}

/// The NSS labels rustls logs, as `&'static str` (rustls passes a borrowed label).
const LABELS: &[&str] = &[
    "CLIENT_RANDOM",
    "CLIENT_EARLY_TRAFFIC_SECRET",
    "CLIENT_HANDSHAKE_TRAFFIC_SECRET",
    "SERVER_HANDSHAKE_TRAFFIC_SECRET",
    "CLIENT_TRAFFIC_SECRET_0",
    "SERVER_TRAFFIC_SECRET_0",
    "EXPORTER_SECRET",
    "EARLY_EXPORTER_SECRET",
];

impl rustls::KeyLog for KeyLogSink {
    fn log(&self, label: &str, client_random: &[u8], secret: &[u8]) {
        let (Some(label), Ok(random)) = (LABELS.iter().find(|l| **l == label), <[u8; 32]>::try_from(client_random)) else { return };
        let mut q = SECRETS.lock().unwrap_or_else(|e| e.into_inner());
        if q.len() >= PENDING_LIMIT {
            q.pop_front();
        }
        q.push_back((random, label, secret.to_vec()));
    }
    fn will_log(&self, label: &str) -> bool {
        self.all || label == "CLIENT_RANDOM"
    }
}

/// Takes the secrets logged for the session of `client_random`.
pub fn take_secrets(client_random: &[u8; 32]) -> Vec<(&'static str, Vec<u8>)> {
    let mut q = SECRETS.lock().unwrap_or_else(|e| e.into_inner());
    if q.is_empty() {
        return Vec::new();
    }
    let mut out = Vec::new();
    q.retain(|(r, label, secret)| {
        if r == client_random {
            out.push((*label, secret.clone()));
            false
        } else {
            true
        }
    });
    out
}

/// Forgiven errors by certificate (the verifier sees the certificate, not the session).
static VERIFY: Mutex<VecDeque<(Vec<u8>, VerifyNote)>> = Mutex::new(VecDeque::new());

/// Notes the error forgiven for the client certificate `ee`.
pub fn note_verify_error(ee: &[u8], note: VerifyNote) {
    let mut q = VERIFY.lock().unwrap_or_else(|e| e.into_inner());
    if q.len() >= PENDING_LIMIT {
        q.pop_front();
    }
    q.push_back((ee.to_vec(), note));
}

/// The error forgiven for `ee` in the handshake that just ended (zero: none).
pub fn take_verify_error(ee: &[u8]) -> VerifyNote {
    let mut q = VERIFY.lock().unwrap_or_else(|e| e.into_inner());
    match q.iter().rposition(|(c, _)| c == ee) {
        Some(i) => q.remove(i).map(|(_, n)| n).unwrap_or_default(),
        None => VerifyNote::default(),
    }
}

/// The parts of a captured ClientHello the `ssl_fc_*` capture fetches return.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct HelloCapture<'a> {
    /// `legacy_version` (0x0303 for TLS 1.2 and 1.3).
    pub version: u16,
    /// The cipher suites, two bytes each, all of them.
    pub ciphers: &'a [u8],
    /// The extension types, two bytes each.
    pub extensions: Vec<u8>,
    /// The `supported_groups` list, two bytes each.
    pub groups: &'a [u8],
    /// The `ec_point_formats` list, one byte each.
    pub point_formats: &'a [u8],
}

/// Reads a ClientHello message (type, length, body).
pub fn parse_client_hello(msg: &[u8]) -> Option<HelloCapture<'_>> {
    let hello = super::hello::ClientHello::parse(msg)?;
    let mut cap = HelloCapture { version: hello.version, ciphers: hello.ciphers, ..HelloCapture::default() };
    let mut ext = hello.extensions;
    // As HAProxy 2.6 reads them: an extension is taken only while more than its
    // 4-byte header is left, so an empty extension at the very end (often
    // `extended_master_secret` from clients that shuffle theirs) is not listed.
    while ext.len() > 4 {
        let len = usize::from(u16::from_be_bytes([ext[2], ext[3]]));
        let body = ext.get(4..4 + len)?;
        cap.extensions.extend_from_slice(&ext[..2]);
        match u16::from_be_bytes([ext[0], ext[1]]) {
            10 if body.len() >= 2 => cap.groups = body.get(2..2 + usize::from(u16::from_be_bytes([body[0], body[1]])))?,
            11 if !body.is_empty() => cap.point_formats = body.get(1..1 + usize::from(body[0]))?,
            _ => {}
        }
        ext = &ext[4 + len..];
    }
    Some(cap)
}

/// A GREASE value (RFC 8701): `0x?a?a` with both bytes equal.
pub fn is_grease(v: u16) -> bool {
    v & 0x0f0f == 0x0a0a && v >> 8 == v & 0xff
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hello_msg(random: u8) -> Vec<u8> {
        let mut body = vec![3, 3];
        body.extend_from_slice(&[random; 32]);
        body.extend_from_slice(&[2, 0xaa, 0xbb]); // session id
        body.extend_from_slice(&[0, 4, 0x0a, 0x0a, 0x13, 0x01, 1, 0]); // GREASE + one suite, null compression
        let ext: Vec<u8> = vec![0, 10, 0, 6, 0, 4, 0, 0x1d, 0, 0x17, 0, 11, 0, 2, 1, 0];
        body.extend_from_slice(&(ext.len() as u16).to_be_bytes());
        body.extend(ext);
        let mut msg = vec![CLIENT_HELLO, 0, 0, body.len() as u8];
        msg.extend(body);
        msg
    }

    fn record(msg: &[u8]) -> Vec<u8> {
        let mut r = vec![HANDSHAKE, 3, 1, 0, msg.len() as u8];
        r.extend_from_slice(msg);
        r
    }

    #[test]
    fn a_tap_keeps_the_first_hello_fed_in_pieces() {
        let msg = hello_msg(7);
        let rec = record(&msg);
        let mut tap = Tap::new(CLIENT_HELLO);
        for chunk in rec.chunks(7) {
            tap.feed(chunk);
        }
        assert!(tap.done());
        assert_eq!(tap.hello.as_deref(), Some(&msg[..]));
        let (random, sid) = random_and_session_id(&msg).unwrap();
        assert_eq!((random, sid), ([7; 32], &[0xaa, 0xbb][..]));
    }

    #[test]
    fn a_hello_retry_request_is_skipped() {
        let mut hrr = hello_msg(0);
        hrr[0] = SERVER_HELLO;
        hrr[6..38].copy_from_slice(&HRR_RANDOM);
        let mut sh = hello_msg(9);
        sh[0] = SERVER_HELLO;
        let mut tap = Tap::new(SERVER_HELLO);
        tap.feed(&record(&hrr));
        tap.feed(&[0x14, 3, 3, 0, 1, 1]); // change_cipher_spec
        assert!(!tap.done());
        tap.feed(&record(&sh));
        assert_eq!(tap.hello.as_deref(), Some(&sh[..]));
    }

    #[test]
    fn the_capture_lists_are_read() {
        let msg = hello_msg(1);
        let c = parse_client_hello(&msg).unwrap();
        assert_eq!(c.version, 0x0303);
        assert_eq!(c.ciphers, &[0x0a, 0x0a, 0x13, 0x01]);
        assert_eq!(c.extensions, vec![0, 10, 0, 11]);
        assert_eq!(c.groups, &[0, 0x1d, 0, 0x17]);
        assert_eq!(c.point_formats, &[0]);
        // An empty extension last is left out, as HAProxy reads the list.
        let mut tail = msg.clone();
        tail.extend_from_slice(&[0, 23, 0, 0]);
        tail[3] += 4;
        let ext_len = tail.len() - 4 - 2 - 32 - 3 - 8 - 2;
        let at = 4 + 2 + 32 + 3 + 8;
        tail[at..at + 2].copy_from_slice(&(ext_len as u16).to_be_bytes());
        assert_eq!(parse_client_hello(&tail).unwrap().extensions, vec![0, 10, 0, 11]);
        assert!(is_grease(0x0a0a) && is_grease(0xfafa) && !is_grease(0x0a1a) && !is_grease(0x1301));
    }

    #[test]
    fn secrets_go_to_their_session_only() {
        use rustls::KeyLog;
        let sink = KeyLogSink { all: false };
        assert!(sink.will_log("CLIENT_RANDOM") && !sink.will_log("EXPORTER_SECRET"));
        sink.log("CLIENT_RANDOM", &[0xe1; 32], b"one");
        sink.log("CLIENT_RANDOM", &[0xe2; 32], b"two");
        assert_eq!(take_secrets(&[0xe2; 32]), vec![("CLIENT_RANDOM", b"two".to_vec())]);
        assert_eq!(take_secrets(&[0xe2; 32]), vec![]);
        assert_eq!(take_secrets(&[0xe1; 32]).len(), 1);
    }
}
