//! HTTP response compression, as HAProxy 2.6's `compression` keywords configure it.
//!
//! Three steps, each a plain function the stream calls at its place
//! (`src/stream/http.rs`), and a body encoder:
//!
//! 1. [`negotiate`], when the request head goes to the server (after the backend's
//!    rules): the algorithm is chosen from the request's `Accept-Encoding`, and with
//!    `compression offload` that header is removed so the server does not compress.
//! 2. [`decide`], when the response head arrives (before the `http-response` rules, so
//!    `res.comp` is known to them, as in HAProxy): whether this response is compressed.
//! 3. [`rewrite_head`], when the response head is sent (after every rule): no
//!    `Content-Length`, `Transfer-Encoding: chunked`, a weak `ETag`, `Vary:
//!    Accept-Encoding` and `Content-Encoding`, appended in HAProxy's order.
//!
//! The body then goes through a [`BodyEncoder`]: the response's own framing is decoded,
//! its payload compressed, and the output framed as chunks. Each pass over the bytes the
//! server sent ends with a sync flush, so what arrived leaves at once (HAProxy flushes
//! per forwarded buffer too), and a pass stops while [`OUT_HIGH`] bytes wait for the
//! client: the server is read no faster than the client takes the compressed bytes.
//! Memory per compressed response is the deflate state (about 300 KB, freed with the
//! transaction), never the body.
//!
//! Where the frontend and the backend both have `compression` lines, the backend's
//! algorithms and types win when it has some, and `offload` applies if either says it
//! (the rules HAProxy's manual gives). The contract is in `doc/http.md`, "Compression".

use std::io::Write;

use flate2::write::{DeflateEncoder, GzEncoder, ZlibEncoder};

use super::h1::{BodyDecoder, ErrorKind, ParseError};
use super::txn::Txn;
use super::{BodyFraming, Headers, Method, Request, Response, Version};
use crate::config::model::{Compression, CompressionAlgo, CompressionTuning};

/// Compressed bytes waiting for the client above which the encoder stops taking
/// more of the server's bytes (one buffer's worth).
pub const OUT_HIGH: usize = 16 * 1024;

/// One proxy's compression settings, compiled for the data path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    /// In HAProxy's order of preference: the last declared first (it prepends each
    /// `compression algo` word to its list).
    algos: Vec<CompressionAlgo>,
    /// `compression type` prefixes.
    types: Vec<String>,
    offload: bool,
    /// `tune.comp.maxlevel`.
    level: u32,
}

impl Policy {
    /// The policy of a proxy with `compression` lines.
    pub fn new(conf: &Compression, tuning: &CompressionTuning) -> Policy {
        Policy {
            algos: conf.algos.iter().rev().copied().collect(),
            types: conf.types.clone(),
            offload: conf.offload,
            level: tuning.maxlevel.clamp(1, 9),
        }
    }
}

/// The settings that apply to one stream: the backend's algorithms and types when it
/// has some, else the frontend's; `offload` from either.
#[derive(Clone, Copy, Debug)]
pub struct Applied<'a> {
    pub algos: &'a [CompressionAlgo],
    pub types: &'a [String],
    pub offload: bool,
    pub level: u32,
}

/// What applies to a stream whose frontend has `fe` and whose backend has `be` (the
/// same proxy for a `listen`); `None` when neither has `compression` lines.
pub fn applied<'a>(fe: Option<&'a Policy>, be: Option<&'a Policy>) -> Option<Applied<'a>> {
    let first = be.or(fe)?;
    let pick = |f: fn(&'a Policy) -> bool| be.filter(|p| f(p)).or(fe.filter(|p| f(p)));
    Some(Applied {
        algos: pick(|p| !p.algos.is_empty()).map_or(&[], |p| &p.algos),
        types: pick(|p| !p.types.is_empty()).map_or(&[], |p| &p.types),
        offload: be.is_some_and(|p| p.offload) || fe.is_some_and(|p| p.offload),
        level: first.level,
    })
}

/// A transaction's compression state, kept in [`super::txn::Txn`] for `res.comp`
/// and `res.comp_algo`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TxnComp {
    /// The algorithm the request allows ([`negotiate`]).
    pub negotiated: Option<CompressionAlgo>,
    /// The algorithm the response is compressed with ([`decide`]).
    pub active: Option<CompressionAlgo>,
    /// The compression level (`tune.comp.maxlevel`).
    pub level: u8,
}

// ---- The stream's hooks ---------------------------------------------------------------

/// Step 1 on a transaction whose request head is about to go to the server; `fe` and
/// `be` are the policies of its frontend and backend.
pub fn on_request(txn: &mut Txn, fe: Option<&Policy>, be: Option<&Policy>) {
    let Some(req) = txn.req.as_mut() else { return };
    txn.comp.negotiated = applied(fe, be).and_then(|policy| negotiate(policy, req));
}

/// Step 2 on a transaction whose response head just arrived.
pub fn on_response(txn: &mut Txn, fe: Option<&Policy>, be: Option<&Policy>) {
    let policy = applied(fe, be);
    let active = match (policy, &txn.req, &txn.res) {
        (Some(policy), Some(req), Some(res)) => decide(policy, txn.comp.negotiated, req, res),
        _ => None,
    };
    txn.comp.active = active;
    txn.comp.level = policy.map_or(1, |p| p.level as u8);
}

/// Step 3: the response head as it goes to the client.
pub fn on_emit(comp: &TxnComp, headers: &mut Headers) {
    if let Some(algo) = comp.active {
        rewrite_head(headers, algo);
    }
}

/// The encoder of a compressed response's body.
pub fn body_encoder(comp: &TxnComp) -> Option<Box<BodyEncoder>> {
    comp.active.map(|algo| Box::new(BodyEncoder::new(algo, u32::from(comp.level))))
}

// ---- 1. The request ----------------------------------------------------------------

/// Chooses the algorithm for the response to `req`, from its `Accept-Encoding`, and
/// removes that header when `offload` is set and one was chosen. HAProxy's rules:
///
/// - no compression for a `User-Agent` starting `Mozilla/4`, unless it is MSIE 7 or
///   later, or MSIE 6 with XP SP2 (`SV1`);
/// - the list element with the highest q-value wins (the first of equals), and for it
///   the first algorithm, in the order of preference, whose token it names (`*` names
///   any); an element with `q=0` is never chosen;
/// - with none, `identity` if it is configured (then `Accept-Encoding` is left alone).
///
/// One deviation: `*` never picks an algorithm whose token the same header refuses with
/// `q=0` (HAProxy's `deflate;q=0, *` answers deflate; RFC 9110 §12.5.3 says not to).
pub fn negotiate(policy: Applied<'_>, req: &mut Request) -> Option<CompressionAlgo> {
    if req.headers.get("user-agent").is_some_and(is_old_mozilla) {
        return None;
    }
    let mut chosen = None;
    let mut best_q = 0;
    for element in req.headers.list("accept-encoding") {
        let (token, q) = coding_and_q(element);
        if q <= best_q {
            continue;
        }
        let found = if token == b"*" {
            policy.algos.iter().find(|a| !refused(&req.headers, a.token()))
        } else {
            policy.algos.iter().find(|a| token.eq_ignore_ascii_case(a.token().as_bytes()))
        };
        if let Some(a) = found {
            chosen = Some(*a);
            best_q = q;
        }
    }
    if chosen.is_some() {
        if policy.offload {
            req.headers.del("accept-encoding");
        }
        return chosen;
    }
    policy.algos.iter().copied().find(|a| *a == CompressionAlgo::Identity)
}

/// The content-coding of one `Accept-Encoding` element and its weight in thousandths
/// (1000 without `q=`).
fn coding_and_q(element: &[u8]) -> (&[u8], u32) {
    let end = element.iter().position(|b| !is_tchar(*b)).unwrap_or(element.len());
    let (token, params) = element.split_at(end);
    let q = params
        .split(|&b| b == b';')
        .skip(1)
        .map(super::trim_ows)
        .find_map(|p| p.strip_prefix(b"q=").or_else(|| p.strip_prefix(b"Q=")))
        .map_or(1000, qvalue);
    (token, q)
}

/// A q-value in thousandths, read as HAProxy reads it: the leading digit and up to
/// three decimals, capped at 1000; a value that does not start with a digit counts as 1.
fn qvalue(v: &[u8]) -> u32 {
    let Some((&first, rest)) = v.split_first().filter(|(d, _)| d.is_ascii_digit()) else { return 1000 };
    let mut q = u32::from(first - b'0') * 1000;
    if let Some(decimals) = rest.strip_prefix(b".") {
        for (d, scale) in decimals.iter().take_while(|d| d.is_ascii_digit()).zip([100, 10, 1]) {
            q += u32::from(d - b'0') * scale;
        }
    }
    q.min(1000)
}

/// Whether `Accept-Encoding` refuses `token` explicitly (`token;q=0`).
fn refused(headers: &Headers, token: &str) -> bool {
    headers.list("accept-encoding").map(coding_and_q).any(|(t, q)| q == 0 && t.eq_ignore_ascii_case(token.as_bytes()))
}

/// RFC 9110 §5.6.2 `tchar`.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Old browsers known to mishandle compressed responses: `Mozilla/4...` unless the
/// product at offset 25 is `MSIE ` 7 or later, or MSIE 6 with `SV1` at offset 51.
fn is_old_mozilla(ua: &[u8]) -> bool {
    if !ua.starts_with(b"Mozilla/4") {
        return false;
    }
    let msie = ua.len() >= 31 && &ua[25..30] == b"MSIE ";
    let known_good = msie && (ua[30] > b'6' || (ua[30] == b'6' && ua.len() >= 54 && &ua[51..54] == b"SV1"));
    !known_good
}

// ---- 2. The response head ------------------------------------------------------------

/// Whether the response `res` to `req` is compressed, with the algorithm [`negotiate`]
/// chose. Not when (HAProxy 2.6's list, in `doc/http.md`): no algorithm was chosen; the
/// request or the response is not HTTP/1.1; the request is HEAD; the status is not 200,
/// 201, 202 or 203; the body has no length of its own (read until close) or is empty
/// by its `Content-Length`; a transfer coding other than `chunked` is applied (a
/// safety rule of moonproxy's: the codings would end up in the wrong order); the
/// response has `Content-Encoding`; `Cache-Control` holds
/// `no-transform`; its `ETag` is malformed or repeated; its `Content-Type` starts with
/// `multipart`, or is not one of `compression type` (when set; no `Content-Type` then
/// means no compression).
pub fn decide(policy: Applied<'_>, negotiated: Option<CompressionAlgo>, req: &Request, res: &Response) -> Option<CompressionAlgo> {
    let algo = negotiated?;
    let compressible = req.line.version == Version::Http11
        && res.line.version == Version::Http11
        && req.line.method != Method::Head
        && (200..=203).contains(&res.line.status)
        && matches!(res.framing, BodyFraming::Chunked | BodyFraming::ContentLength(1..))
        && res.headers.list("transfer-encoding").all(|c| c.eq_ignore_ascii_case(b"chunked"))
        && !res.headers.contains("content-encoding")
        && !res.headers.list("cache-control").any(|d| d.eq_ignore_ascii_case(b"no-transform"))
        && etag_allows(&res.headers)
        && content_type_allows(policy.types, res.headers.get("content-type"));
    compressible.then_some(algo)
}

/// At most one `ETag`, and a well-formed one: `"..."` or `W/"..."`.
fn etag_allows(headers: &Headers) -> bool {
    let mut tags = headers.get_all("etag");
    match (tags.next(), tags.next()) {
        (None, _) => true,
        (Some(_), Some(_)) => false,
        (Some(t), None) => {
            let quoted = |s: &[u8]| s.len() >= 2 && s[0] == b'"' && s[s.len() - 1] == b'"';
            quoted(t) || t.strip_prefix(b"W/").is_some_and(|s| s.len() >= 2 && quoted(s))
        }
    }
}

fn content_type_allows(types: &[String], content_type: Option<&[u8]>) -> bool {
    let starts = |v: &[u8], p: &[u8]| v.len() >= p.len() && v[..p.len()].eq_ignore_ascii_case(p);
    match content_type {
        Some(ct) if starts(ct, b"multipart") => false,
        Some(ct) => types.is_empty() || types.iter().any(|t| starts(ct, t.as_bytes())),
        None => types.is_empty(),
    }
}

// ---- 3. The response head as sent ------------------------------------------------------

/// Rewrites the head of a response compressed with `algo` as HAProxy 2.6 does: the
/// body is sent chunked (`Content-Length` removed, `Transfer-Encoding: chunked`
/// appended unless already there), a strong `ETag` becomes weak, then `Vary:
/// Accept-Encoding` and (but for `identity`) `Content-Encoding` are appended.
pub fn rewrite_head(headers: &mut Headers, algo: CompressionAlgo) {
    if !headers.has_token("transfer-encoding", "chunked") {
        headers.del("content-length");
        headers.add("Transfer-Encoding", "chunked");
    }
    headers.replace_with("etag", |v| v.starts_with(b"\"").then(|| [&b"W/"[..], v].concat()));
    headers.add("Vary", "Accept-Encoding");
    if algo != CompressionAlgo::Identity {
        headers.add("Content-Encoding", algo.token());
    }
}

// ---- The body ----------------------------------------------------------------------

/// The compressor of one algorithm, writing into memory.
enum Deflater {
    Identity(Vec<u8>),
    Gzip(GzEncoder<Vec<u8>>),
    Zlib(ZlibEncoder<Vec<u8>>),
    Raw(DeflateEncoder<Vec<u8>>),
}

impl Deflater {
    fn new(algo: CompressionAlgo, level: u32) -> Deflater {
        let level = flate2::Compression::new(level);
        match algo {
            CompressionAlgo::Identity => Deflater::Identity(Vec::new()),
            CompressionAlgo::Gzip => Deflater::Gzip(GzEncoder::new(Vec::new(), level)),
            CompressionAlgo::Deflate => Deflater::Zlib(ZlibEncoder::new(Vec::new(), level)),
            CompressionAlgo::RawDeflate => Deflater::Raw(DeflateEncoder::new(Vec::new(), level)),
        }
    }

    fn write(&mut self, data: &[u8]) -> std::io::Result<()> {
        match self {
            Deflater::Identity(v) => {
                v.extend_from_slice(data);
                Ok(())
            }
            Deflater::Gzip(e) => e.write_all(data),
            Deflater::Zlib(e) => e.write_all(data),
            Deflater::Raw(e) => e.write_all(data),
        }
    }

    /// A sync flush: everything written so far can be decoded by the client now.
    /// Returns the bytes produced since the last call, to be cleared by the caller
    /// (the buffer keeps its capacity for the next pass).
    fn flush(&mut self) -> std::io::Result<&mut Vec<u8>> {
        Ok(match self {
            Deflater::Identity(v) => v,
            Deflater::Gzip(e) => e.flush().map(|_| e.get_mut())?,
            Deflater::Zlib(e) => e.flush().map(|_| e.get_mut())?,
            Deflater::Raw(e) => e.flush().map(|_| e.get_mut())?,
        })
    }

    /// Ends the stream (final block, checksum): the last bytes, as [`Deflater::flush`].
    fn finish(&mut self) -> std::io::Result<&mut Vec<u8>> {
        Ok(match self {
            Deflater::Identity(v) => v,
            Deflater::Gzip(e) => e.try_finish().map(|_| e.get_mut())?,
            Deflater::Zlib(e) => e.try_finish().map(|_| e.get_mut())?,
            Deflater::Raw(e) => e.try_finish().map(|_| e.get_mut())?,
        })
    }
}

/// Compresses one response body on its way to the client (see the module docs).
///
/// The stream gives it the bytes the server sent after the head; it decodes their
/// framing with the response's [`BodyDecoder`], compresses the payload and appends the
/// output, framed as chunks, to the bytes waiting for the client. The server's bytes
/// it used are then dropped by the stream ([`BodyEncoder::take_consumed`]): none of
/// them is forwarded as is.
pub struct BodyEncoder {
    deflater: Deflater,
    /// Bytes at the front of the server's buffer used and not yet dropped.
    consumed: usize,
}

impl std::fmt::Debug for BodyEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BodyEncoder").field("consumed", &self.consumed).finish_non_exhaustive()
    }
}

impl BodyEncoder {
    pub fn new(algo: CompressionAlgo, level: u32) -> BodyEncoder {
        BodyEncoder { deflater: Deflater::new(algo, level), consumed: 0 }
    }

    /// Takes what it can of `data` (the server's pending bytes, from the front of the
    /// buffer) and appends the compressed chunks to `out`; at the end of the message,
    /// the last chunk, the trailers and the final CRLF. Returns whether the message
    /// ended. Stops early while `out` holds [`OUT_HIGH`] bytes or more.
    pub fn scan(&mut self, dec: &mut BodyDecoder, data: &[u8], out: &mut Vec<u8>) -> Result<bool, ParseError> {
        let mut fed = false;
        let done = loop {
            if out.len() >= OUT_HIGH {
                break false;
            }
            let rest = &data[self.consumed..];
            let d = dec.decode(rest)?;
            if !d.data.is_empty() {
                self.deflater.write(&rest[d.data.clone()]).map_err(failed)?;
                fed = true;
            }
            self.consumed += d.consumed;
            if d.done {
                break true;
            }
            if d.consumed == 0 {
                break false;
            }
        };
        if done {
            write_chunk(out, self.deflater.finish().map_err(failed)?);
            out.extend_from_slice(b"0\r\n");
            dec.trailers().write_to(out);
            out.extend_from_slice(b"\r\n");
        } else if fed {
            write_chunk(out, self.deflater.flush().map_err(failed)?);
        }
        Ok(done)
    }

    /// The server's bytes used since the last call, for the stream to drop.
    pub fn take_consumed(&mut self) -> usize {
        std::mem::take(&mut self.consumed)
    }
}

/// Compressing into memory does not fail; if it ever did, the response could not go
/// on: it ends as a truncated one (the stream closes).
fn failed(e: std::io::Error) -> ParseError {
    ::log::warn!("compression failed: {e}");
    ParseError { kind: ErrorKind::Truncated, offset: 0 }
}

/// Moves `bytes` to `out` as one chunk (none for no bytes: an empty chunk would end
/// the body).
fn write_chunk(out: &mut Vec<u8>, bytes: &mut Vec<u8>) {
    if bytes.is_empty() {
        return;
    }
    // Writing to a Vec cannot fail.
    let _ = write!(out, "{:x}\r\n", bytes.len());
    out.extend_from_slice(bytes);
    out.extend_from_slice(b"\r\n");
    bytes.clear();
}

#[cfg(test)]
mod tests;
