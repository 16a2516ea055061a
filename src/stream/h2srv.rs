//! HTTP/2 to a server (`server ... proto h2`, or `ssl ... alpn h2` when the TLS
//! handshake selects `h2`): a layer on the server connection's socket, as FastCGI's
//! codec is (`crate::http::fcgi::codec`). The moonproxy stream writes its HTTP/1.1
//! request and reads an HTTP/1.1 response as over any server connection; the layer
//! runs a client-role [`Session`] between them and the socket:
//!
//! ```text
//!   stream ── HTTP/1.1 request ──► write() ─► pending ─► Session::write ─► HEADERS/DATA ─► socket
//!   stream ◄─ HTTP/1.1 response ── read()  ◄─ Session::read ◄─ feed ◄─ frames ◄──────────── socket
//! ```
//!
//! One HTTP/2 stream at a time: a request opens the next stream id when the one
//! before is complete, so an idle connection is reused by the backend's idle pool as
//! an HTTP/1.1 one would be. Request bytes a flow-control window holds back wait in
//! `pending` (up to [`HIGH_WATER`], then writes stop); they leave as WINDOW_UPDATEs
//! come in, read with the response, and the connection is then writable again
//! ([`Layer::take_reopened`]).
//!
//! A stream the server resets, a GOAWAY that leaves it out, a protocol error or a close
//! before the response ends fail the read (`InvalidData`, said on stderr naming the
//! server): the moonproxy stream answers 502 (`SH`) if nothing went to the client yet,
//! as HAProxy does.

use crate::http::h2::frame::ErrorCode;
use crate::http::h2::session::{Config, Session};
use std::io::{self, Read, Write};
use std::sync::Arc;

/// Request bytes held back by flow control beyond which writes stop.
pub const HIGH_WATER: usize = 64 * 1024;

/// The HTTP/2 layer of one server connection.
pub struct Layer {
    /// `backend/server`, for messages.
    server: Arc<str>,
    session: Session,
    /// The stream of the request in flight (or of the last one, until it is complete).
    cur: Option<u32>,
    /// HTTP/1.1 request bytes taken from the moonproxy stream, not yet framed: a
    /// window is closed, or they are the next request, waiting for the end of the
    /// exchange before it.
    pending: Vec<u8>,
    /// The server closed its side.
    eof: bool,
    /// The last socket read filled its buffer: more may be waiting.
    maybe_more: bool,
    /// A write was refused for `pending` being full: the next read that frees room
    /// says so ([`Layer::take_reopened`]).
    refused: bool,
    reopened: bool,
}

/// A broken exchange: said on stderr (`[WARNING]`, naming the server), and the error
/// that fails the read or write, which the stream answers with a 502.
fn invalid(msg: String) -> io::Error {
    crate::diag::emit(crate::diag::Severity::Warning, format_args!("{msg}"));
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

impl Layer {
    /// The layer of a connection to `server` (`backend/server`) with our HTTP/2
    /// settings `cfg`; `https`: the connection is TLS (the `:scheme` of origin-form
    /// requests).
    pub fn new(server: &str, cfg: Config, https: bool) -> Layer {
        Layer {
            server: server.into(),
            session: Session::client(cfg, https),
            cur: None,
            pending: Vec::new(),
            eof: false,
            maybe_more: false,
            refused: false,
            reopened: false,
        }
    }

    /// Bytes to send before the connection preface (a PROXY header); only before
    /// anything was sent.
    pub fn send_first(&mut self, bytes: Vec<u8>) {
        self.session.output().splice(0..0, bytes);
    }

    /// Frames are waiting to be sent.
    pub fn has_pending_output(&self) -> bool {
        self.session.output_len() > 0
    }

    /// Response bytes are held, or the socket may hold more: a read shorter than asked
    /// does not prove the socket empty (see `stream::conn`).
    pub fn holds_input(&self) -> bool {
        self.maybe_more || self.cur.is_some_and(|id| self.session.readable(id))
    }

    /// Once after a read freed room for request bytes a write was refused for: the
    /// connection is writable again although the socket said nothing.
    pub fn take_reopened(&mut self) -> bool {
        std::mem::take(&mut self.reopened)
    }

    /// Sends what frames it can.
    pub fn flush(&mut self, io: &mut impl Write) -> io::Result<()> {
        crate::http::write_queued(io, self.session.output())
    }

    /// Takes HTTP/1.1 request bytes from the stream: all of them, unless frames or
    /// bytes held by flow control are piling up.
    pub fn write(&mut self, io: &mut impl Write, bufs: &[&[u8]]) -> io::Result<usize> {
        match self.flush(io) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock && self.session.output_len() < HIGH_WATER => {}
            Err(e) => return Err(e),
        }
        if self.pending.len() >= HIGH_WATER {
            self.refused = true;
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let mut taken = 0;
        for b in bufs {
            self.pending.extend_from_slice(b);
            taken += b.len();
        }
        self.pump()?;
        match self.flush(io) {
            Err(e) if e.kind() != io::ErrorKind::WouldBlock => Err(e),
            _ => Ok(taken),
        }
    }

    /// Frames what `pending` holds, as far as the windows allow: the request of the
    /// current stream, then (once that exchange is complete) the next request on a new
    /// stream.
    fn pump(&mut self) -> io::Result<()> {
        while !self.pending.is_empty() {
            let id = match self.cur {
                Some(id) if self.session.outbound_done(id) => {
                    if !self.session.is_complete(id) {
                        break; // the next request waits for this response's end
                    }
                    self.session.detach(id);
                    self.cur = None;
                    continue;
                }
                Some(id) => id,
                None => {
                    let Some(id) = self.session.open() else {
                        return Err(invalid(format!("HTTP/2 server {}: the connection takes no new stream (GOAWAY)", self.server)));
                    };
                    self.cur = Some(id);
                    id
                }
            };
            match self.session.write(id, &self.pending) {
                Ok(0) if !self.session.outbound_done(id) => break,
                Ok(n) => {
                    self.pending.drain(..n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(_) => return Err(self.stream_failed(id)),
            }
        }
        if self.refused && self.pending.len() < HIGH_WATER {
            self.refused = false;
            self.reopened = true;
        }
        Ok(())
    }

    /// Why stream `id` cannot go on, as the error for the stream.
    fn stream_failed(&self, id: u32) -> io::Error {
        let s = &self.server;
        if let Some((code, why)) = self.session.error {
            return invalid(format!("HTTP/2 server {s}: connection error {} ({why})", code.name()));
        }
        match self.session.peer_reset(id) {
            Some(ErrorCode::RefusedStream) => invalid(format!("HTTP/2 server {s} refused the stream (REFUSED_STREAM)")),
            Some(code) => invalid(format!("HTTP/2 server {s} reset the stream ({})", code.name())),
            None => invalid(format!("HTTP/2 server {s}: the request or its response could not be translated")),
        }
    }

    /// Gives the stream HTTP/1.1 response bytes: `Ok(0)` once the server closed
    /// between responses.
    pub fn read(&mut self, io: &mut (impl Read + Write), buf: &mut [u8]) -> io::Result<usize> {
        let mut tmp = [0u8; 16384];
        loop {
            if let Some(id) = self.cur {
                match self.session.read(id, buf) {
                    Ok(0) if self.session.is_reset(id) && !self.session.inbound_ended(id) => return Err(self.stream_failed(id)),
                    Ok(0) if !self.pending.is_empty() => {
                        // The response was read whole: a next request waiting for
                        // that goes now.
                        self.pump()?;
                        let _ = self.flush(io);
                    }
                    Ok(0) => {} // the response is complete: only frames for the connection may come
                    Ok(n) => {
                        // Credit given back for what was read goes out now.
                        let _ = self.flush(io);
                        return Ok(n);
                    }
                    Err(_) => {} // more to come
                }
            }
            if self.session.error.is_some() {
                return Err(self.stream_failed(self.cur.unwrap_or(0)));
            }
            if self.eof {
                return match self.cur {
                    Some(id) if !self.session.inbound_ended(id) => Err(invalid(format!("HTTP/2 server {} closed the connection before the end of its response", self.server))),
                    _ => Ok(0),
                };
            }
            let got = io.read(&mut tmp);
            self.maybe_more = matches!(got, Ok(n) if n == tmp.len());
            match got {
                Ok(0) => self.eof = true,
                Ok(n) => {
                    self.session.feed(&tmp[..n]);
                    // One stream: every note is about it, and it is read next anyway.
                    self.session.take_notes();
                    // WINDOW_UPDATEs may let held request bytes go; SETTINGS and PING
                    // want their acknowledgements.
                    self.pump()?;
                    match self.flush(io) {
                        Err(e) if e.kind() != io::ErrorKind::WouldBlock => return Err(e),
                        _ => {}
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// The stream closed its side of the connection.
    pub fn shutdown(&mut self) {
        if let Some(id) = self.cur.take() {
            self.session.detach(id);
        }
    }
}
