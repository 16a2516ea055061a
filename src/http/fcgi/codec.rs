//! The FastCGI side of a server connection: HTTP/1.1 written by the stream becomes
//! records, records read from the application become an HTTP/1.1 response.
//!
//! # Requests
//!
//! The stream writes the head it prepared, then the body bytes as the client framed
//! them. The head itself is not translated: its CGI variables were computed by the
//! stream ([`super::Prepared`], handed over with [`Codec::expect`]); the codec only
//! finds where it ends. Then it sends `BEGIN_REQUEST` (with `FCGI_KEEP_CONN` under
//! `option keep-conn`), `PARAMS` and the empty `PARAMS`, the body as `STDIN` (chunk
//! framing removed) and the empty `STDIN`. A chunked body's length is known only at
//! its end: up to [`CHUNKED_HOLD`] bytes are held so CONTENT_LENGTH can be sent, as
//! HAProxy does for a body that fits its buffer; a longer one goes without.
//!
//! # Responses
//!
//! `STDOUT` is a CGI response (RFC 3875 §6): header lines, an empty line, the body.
//! `Status:` gives the status (200 without it, 302 with `Location:` alone). The head
//! goes out as HTTP/1.1 with `Content-Length` when the application gave one or when
//! `END_REQUEST` came with the head, else chunked. `STDERR` records are logged to the
//! application's `log-stderr` targets. `END_REQUEST` ends the response; without
//! `option keep-conn` the head says `Connection: close`, so the stream does not reuse
//! the connection, which the application closes.
//!
//! Bytes that are not FastCGI, a record for another request, a response without a
//! head, or a body longer or shorter than its `Content-Length`, fail the read
//! (`InvalidData`): the stream answers 502 (`SH`) if nothing was sent to the client
//! yet, and the message names the server.

use super::record::{self, Type};
use super::Prepared;
use crate::http::h1::{BodyDecoder, Limits};
use crate::http::BodyFraming;
use std::io::{self, Read, Write};
use std::sync::Arc;

/// The request id of every request: one at a time per connection.
const ID: u16 = 1;
/// The most body bytes of a chunked request held to send CONTENT_LENGTH.
pub const CHUNKED_HOLD: usize = 16384;
/// Records not sent yet beyond which `write` takes no more (backpressure).
const HIGH_WATER: usize = 64 * 1024;
/// The largest CGI head accepted.
const MAX_CGI_HEAD: usize = 16384;

/// Where the request side is.
enum Req {
    /// Between requests (or before the first).
    Idle,
    /// Reading the HTTP head the stream wrote (its last three bytes, to find its end).
    Head { tail: [u8; 3] },
    /// Translating the body.
    Body { decoder: BodyDecoder, held: Option<Vec<u8>> },
}

/// Where the response side is.
enum Res {
    /// No response is due.
    Idle,
    /// Collecting the CGI head from STDOUT.
    Head { cgi: Vec<u8> },
    /// Head sent; the body follows.
    Body { framing: Framing },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Framing {
    /// `Content-Length`: this many bytes still due.
    Length(u64),
    Chunked,
    /// HEAD, 204, 304: STDOUT after the head is dropped.
    None,
}

/// The translator of one FastCGI server connection.
pub struct Codec {
    /// `backend/server`, for messages.
    server: Arc<str>,
    /// The request the stream prepared, taken when its head is written.
    next: Option<Arc<Prepared>>,
    /// The request in flight.
    cur: Option<Arc<Prepared>>,
    req: Req,
    res: Res,
    /// Records to send.
    out: Vec<u8>,
    /// Bytes read from the application, not decoded yet.
    input: Vec<u8>,
    /// HTTP bytes for the stream.
    http: Vec<u8>,
    /// The application closed its side.
    eof: bool,
    /// The last socket read filled its buffer: more may be waiting.
    maybe_more: bool,
}

/// A broken exchange: said on stderr (`[WARNING]`, naming the server), and the error
/// that fails the read or write, which the stream answers with a 502.
fn invalid(msg: String) -> io::Error {
    crate::diag::emit(crate::diag::Severity::Warning, format_args!("{msg}"));
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

impl Codec {
    pub fn new(server: &str) -> Codec {
        Codec {
            server: server.into(),
            next: None,
            cur: None,
            req: Req::Idle,
            res: Res::Idle,
            out: Vec::new(),
            input: Vec::new(),
            http: Vec::new(),
            eof: false,
            maybe_more: false,
        }
    }

    /// The request whose head the stream writes next (called before each write of a
    /// head; a retry of the same request hands it again).
    pub fn expect(&mut self, prepared: Arc<Prepared>) {
        if matches!(self.req, Req::Idle) {
            self.next = Some(prepared);
        }
    }

    /// Records are waiting to be sent.
    pub fn has_pending_output(&self) -> bool {
        !self.out.is_empty()
    }

    /// Decoded bytes or input are held, or the socket may hold more: a read shorter
    /// than asked does not prove the socket empty (see `stream::conn`).
    pub fn holds_input(&self) -> bool {
        !self.http.is_empty() || !self.input.is_empty() || self.maybe_more
    }

    /// Sends what records it can.
    pub fn flush(&mut self, io: &mut impl Write) -> io::Result<()> {
        crate::http::write_queued(io, &mut self.out)
    }

    /// Takes HTTP bytes from the stream: all of them, unless records are piling up.
    pub fn write(&mut self, io: &mut impl Write, bufs: &[&[u8]]) -> io::Result<usize> {
        match self.flush(io) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock && self.out.len() < HIGH_WATER => {}
            Err(e) => return Err(e),
        }
        let mut taken = 0;
        for b in bufs {
            self.encode(b)?;
            taken += b.len();
        }
        match self.flush(io) {
            Err(e) if e.kind() != io::ErrorKind::WouldBlock => Err(e),
            _ => Ok(taken),
        }
    }

    /// Translates HTTP request bytes into records.
    fn encode(&mut self, mut data: &[u8]) -> io::Result<()> {
        while !data.is_empty() {
            match &mut self.req {
                Req::Idle => {
                    let Some(p) = self.next.take() else {
                        return Err(invalid(format!("FastCGI server {}: a request without its parameters", self.server)));
                    };
                    self.cur = Some(p);
                    self.res = Res::Head { cgi: Vec::new() };
                    self.req = Req::Head { tail: [0; 3] };
                }
                Req::Head { tail } => {
                    // The end of the head: the first CRLFCRLF (the stream's own head).
                    let mut end = None;
                    for (i, &b) in data.iter().enumerate() {
                        if tail == b"\r\n\r" && b == b'\n' {
                            end = Some(i + 1);
                            break;
                        }
                        *tail = [tail[1], tail[2], b];
                    }
                    let Some(end) = end else { return Ok(()) };
                    data = &data[end..];
                    self.start_request();
                }
                Req::Body { decoder, held } => {
                    let d = decoder.decode(data).map_err(|e| invalid(format!("request body: {e}")))?;
                    let payload = &data[d.data.clone()];
                    match held {
                        Some(h) if h.len() + payload.len() <= CHUNKED_HOLD => h.extend_from_slice(payload),
                        Some(h) => {
                            // Too long to hold: the parameters go without a length.
                            let h = std::mem::take(h);
                            self.send_params(None);
                            record::push_stream(&mut self.out, Type::Stdin, ID, &h);
                            record::push_stream(&mut self.out, Type::Stdin, ID, payload);
                            if let Req::Body { held, .. } = &mut self.req {
                                *held = None;
                            }
                        }
                        None => record::push_stream(&mut self.out, Type::Stdin, ID, payload),
                    }
                    let (used, done) = (d.consumed, d.done);
                    data = &data[used..];
                    if done {
                        self.end_body();
                    } else if used == 0 {
                        return Ok(());
                    }
                }
            }
        }
        Ok(())
    }

    /// The head was written: BEGIN_REQUEST, and PARAMS unless a chunked body is held.
    fn start_request(&mut self) {
        let p = self.cur.clone().expect("a request in flight");
        record::push_begin(&mut self.out, ID, p.keep_conn);
        match p.framing {
            BodyFraming::Chunked => {
                self.req = Req::Body { decoder: BodyDecoder::new(BodyFraming::Chunked, &Limits::default()), held: Some(Vec::new()) };
            }
            BodyFraming::ContentLength(n) if n > 0 => {
                self.send_params(None);
                self.req = Req::Body { decoder: BodyDecoder::new(p.framing, &Limits::default()), held: None };
            }
            _ => {
                self.send_params(Some(0));
                self.end_body();
            }
        }
    }

    /// PARAMS, with CONTENT_LENGTH in its slot when known.
    fn send_params(&mut self, length: Option<u64>) {
        let p = self.cur.clone().expect("a request in flight");
        let mut pairs = p.params.clone();
        if let (true, Some(n)) = (p.length_slot, length) {
            record::push_pair(&mut pairs, b"CONTENT_LENGTH", n.to_string().as_bytes());
        }
        pairs.extend_from_slice(&p.tail);
        record::push_stream(&mut self.out, Type::Params, ID, &pairs);
        record::push(&mut self.out, Type::Params, ID, b"");
    }

    /// The body ended: the held chunked body with its length, then the empty STDIN.
    fn end_body(&mut self) {
        if let Req::Body { held: Some(h), .. } = &mut self.req {
            let h = std::mem::take(h);
            self.send_params(Some(h.len() as u64));
            record::push_stream(&mut self.out, Type::Stdin, ID, &h);
        }
        record::push(&mut self.out, Type::Stdin, ID, b"");
        self.req = Req::Idle;
    }

    /// Gives the stream HTTP response bytes: `Ok(0)` once the application closed
    /// between responses.
    pub fn read(&mut self, io: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
        let mut tmp = [0u8; 16384];
        loop {
            if !self.http.is_empty() {
                let n = buf.len().min(self.http.len());
                buf[..n].copy_from_slice(&self.http[..n]);
                self.http.drain(..n);
                return Ok(n);
            }
            if self.eof {
                return match self.res {
                    Res::Idle => Ok(0),
                    _ => Err(invalid(format!("FastCGI server {} closed the connection before the end of its response", self.server))),
                };
            }
            let got = io.read(&mut tmp);
            self.maybe_more = matches!(got, Ok(n) if n == tmp.len());
            match got {
                Ok(0) => self.eof = true,
                Ok(n) => {
                    self.input.extend_from_slice(&tmp[..n]);
                    self.decode()?;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Decodes every whole record of `input`.
    fn decode(&mut self) -> io::Result<()> {
        let mut at = 0;
        let mut ended = false;
        while let Some((rec, used)) = record::take(&self.input[at..]).map_err(|e| invalid(format!("FastCGI server {}: {e}", self.server)))? {
            at += used;
            match rec.kind {
                Type::Stdout | Type::Stderr | Type::EndRequest if rec.id != ID => {
                    return Err(invalid(format!("FastCGI server {}: record for unknown request {}", self.server, rec.id)));
                }
                Type::Stdout => self.stdout(&rec.content)?,
                Type::Stderr => {
                    if let Some(p) = &self.cur {
                        p.app.log_stderr(&rec.content);
                    }
                }
                Type::EndRequest => {
                    self.end_response()?;
                    ended = true;
                }
                // Answers to questions never asked: ignored.
                Type::GetValuesResult | Type::UnknownType => {}
                other => return Err(invalid(format!("FastCGI server {}: unexpected {other:?} record", self.server))),
            }
        }
        self.input.drain(..at);
        // A head whose end came without END_REQUEST in the same read: chunked.
        if !ended {
            if let Res::Head { .. } = self.res {
                self.try_head(false)?;
            }
        }
        Ok(())
    }

    fn stdout(&mut self, data: &[u8]) -> io::Result<()> {
        match &mut self.res {
            Res::Idle => Err(invalid(format!("FastCGI server {}: STDOUT without a request", self.server))),
            Res::Head { cgi } => {
                cgi.extend_from_slice(data);
                if cgi.len() > MAX_CGI_HEAD && cgi_head_end(cgi).is_none() {
                    return Err(invalid(format!("FastCGI server {}: response head too large", self.server)));
                }
                Ok(())
            }
            Res::Body { framing } => {
                let framing = *framing;
                self.body(framing, data)
            }
        }
    }

    /// Body bytes after the head.
    fn body(&mut self, framing: Framing, data: &[u8]) -> io::Result<()> {
        match framing {
            Framing::None => {}
            Framing::Length(left) => {
                if data.len() as u64 > left {
                    return Err(invalid(format!("FastCGI server {}: more body than its Content-Length", self.server)));
                }
                self.http.extend_from_slice(data);
                self.res = Res::Body { framing: Framing::Length(left - data.len() as u64) };
            }
            Framing::Chunked if data.is_empty() => {}
            Framing::Chunked => {
                self.http.extend_from_slice(format!("{:x}\r\n", data.len()).as_bytes());
                self.http.extend_from_slice(data);
                self.http.extend_from_slice(b"\r\n");
            }
        }
        Ok(())
    }

    /// Sends the HTTP head once the CGI head is complete (`whole`: END_REQUEST came, so
    /// everything after the head is the whole body). Returns whether it was sent.
    fn try_head(&mut self, whole: bool) -> io::Result<bool> {
        let Res::Head { cgi } = &mut self.res else { return Ok(true) };
        let Some((head_len, body_at)) = cgi_head_end(cgi) else { return Ok(false) };
        let cgi = std::mem::take(cgi);
        let p = self.cur.clone().expect("a request in flight");
        let (status, reason, mut fields, length) = parse_cgi_head(&cgi[..head_len]).map_err(|e| invalid(format!("FastCGI server {}: {e}", self.server)))?;
        let body = &cgi[body_at..];
        let no_body = p.head_only || status == 204 || status == 304 || (100..200).contains(&status);
        let framing = if no_body {
            Framing::None
        } else if let Some(n) = length {
            Framing::Length(n)
        } else if whole {
            fields.push(("Content-Length".into(), body.len().to_string().into_bytes()));
            Framing::Length(body.len() as u64)
        } else {
            fields.push(("Transfer-Encoding".into(), b"chunked".to_vec()));
            Framing::Chunked
        };
        if !p.keep_conn {
            fields.push(("Connection".into(), b"close".to_vec()));
        }
        let h = &mut self.http;
        h.extend_from_slice(format!("HTTP/1.1 {status} ").as_bytes());
        h.extend_from_slice(&reason);
        h.extend_from_slice(b"\r\n");
        for (n, v) in &fields {
            h.extend_from_slice(n.as_bytes());
            h.extend_from_slice(b": ");
            h.extend_from_slice(v);
            h.extend_from_slice(b"\r\n");
        }
        h.extend_from_slice(b"\r\n");
        self.res = Res::Body { framing };
        self.body(framing, body)?;
        Ok(true)
    }

    /// END_REQUEST: the response is complete.
    fn end_response(&mut self) -> io::Result<()> {
        if matches!(self.res, Res::Idle) {
            return Err(invalid(format!("FastCGI server {}: END_REQUEST without a request", self.server)));
        }
        if !self.try_head(true)? {
            return Err(invalid(format!("FastCGI server {}: response ended without a complete head", self.server)));
        }
        match self.res {
            Res::Body { framing: Framing::Chunked } => self.http.extend_from_slice(b"0\r\n\r\n"),
            Res::Body { framing: Framing::Length(left) } if left > 0 => {
                return Err(invalid(format!("FastCGI server {}: response shorter than its Content-Length", self.server)));
            }
            _ => {}
        }
        self.res = Res::Idle;
        self.cur = None;
        Ok(())
    }
}

/// Where the CGI head ends: its length and the start of the body (an empty line, LF or
/// CRLF line ends).
fn cgi_head_end(b: &[u8]) -> Option<(usize, usize)> {
    let mut line_start = 0;
    for (i, &c) in b.iter().enumerate() {
        if c == b'\n' {
            let line = &b[line_start..i];
            if line.is_empty() || line == b"\r" {
                return Some((line_start, i + 1));
            }
            line_start = i + 1;
        }
    }
    None
}

type CgiHead = (u16, Vec<u8>, Vec<(String, Vec<u8>)>, Option<u64>);

/// The status, reason, header fields (without `Status`, framing and hop-by-hop fields)
/// and `Content-Length` of a CGI head.
fn parse_cgi_head(head: &[u8]) -> Result<CgiHead, String> {
    let mut status = None;
    let mut location = false;
    let mut length = None;
    let mut fields = Vec::new();
    for line in head.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            continue;
        }
        let colon = line.iter().position(|&b| b == b':').ok_or("CGI header line without ':'")?;
        let name = std::str::from_utf8(&line[..colon]).map_err(|_| "bad CGI header name")?;
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(format!("bad CGI header name '{}'", name.escape_debug()));
        }
        let value = line[colon + 1..].trim_ascii().to_vec();
        if value.iter().any(|&b| b == b'\r' || b == 0) {
            return Err(format!("bad value of CGI header '{name}'"));
        }
        match name.to_ascii_lowercase().as_str() {
            "status" => {
                let text = String::from_utf8_lossy(&value).into_owned();
                let (code, reason) = text.split_once(' ').unwrap_or((&text, ""));
                let code: u16 = code.parse().ok().filter(|c| (100..1000).contains(c)).ok_or(format!("bad Status '{text}'"))?;
                status = Some((code, reason.trim().as_bytes().to_vec()));
            }
            "content-length" => {
                let n = std::str::from_utf8(&value).ok().and_then(|v| v.parse::<u64>().ok()).ok_or("bad Content-Length")?;
                if length.is_some_and(|l| l != n) {
                    return Err("several Content-Length values".into());
                }
                length = Some(n);
            }
            "transfer-encoding" | "connection" | "keep-alive" => {}
            lower => {
                location |= lower == "location";
                fields.push((name.to_string(), value));
            }
        }
    }
    let (code, reason) = status.unwrap_or(if location { (302, Vec::new()) } else { (200, Vec::new()) });
    let reason = if reason.is_empty() { crate::http::rules::reason_phrase(code).as_bytes().to_vec() } else { reason };
    if let Some(n) = length {
        fields.push(("Content-Length".into(), n.to_string().into_bytes()));
    }
    Ok((code, reason, fields, length))
}
