//! One HTTP/2 connection, sans-io: the frames the peer sends in, the frames the proxy
//! sends out, and, in between, each stream's messages as HTTP/1.1 bytes: the peer's
//! message (inbound) for the moonproxy stream to read, and the stream's own HTTP/1.1
//! message (outbound) taken back as frames.
//!
//! ```text
//!   socket bytes ─► feed() ─► frames ─► HEADERS/CONTINUATION ─► hpack ─► head (HTTP/1.1)
//!                                      DATA ─► body (raw, or chunked without content-length)
//!   read(id)  ◄── the moonproxy stream reads the inbound message
//!   write(id) ──► the stream's HTTP/1.1 message ─► HEADERS (+CONTINUATION) / DATA ─► out
//! ```
//!
//! The session has two roles ([`Role`]), the same machinery either way:
//! - **server** ([`Session::new`], HTTP/2 from clients): the peer opens streams; inbound
//!   is a request, outbound the response the stream writes.
//! - **client** ([`Session::client`], HTTP/2 to servers, `crate::stream::h2srv`): the
//!   moonproxy stream opens a stream ([`Session::open`]) and writes its request;
//!   inbound is the server's response (interim 1xx heads, then the final one, its
//!   body, its trailers as chunked trailers).
//!
//! Errors follow RFC 9113 §5.4: a connection error queues GOAWAY and stops reading
//! ([`Session::closing`]); a stream error queues RST_STREAM and the connection goes on.

use super::frame::{self, flag, kind, setting, ErrorCode, Head, DEFAULT_FRAME_SIZE, DEFAULT_WINDOW, MAX_WINDOW, PREFACE};
use super::hpack::{self, FieldRef, Fields};
use crate::http::h1::body::BodyDecoder;
use crate::http::h1::{Limits, RequestParser, ResponseParser, Status};
use crate::http::{BodyFraming, Method, TargetForm};
use std::collections::BTreeMap;
use std::io;

/// Our side's settings (`tune.h2.*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    pub header_table_size: u32,
    pub initial_window: u32,
    pub max_concurrent_streams: u32,
    pub max_frame_size: u32,
    /// The largest request header list (the buffer size, as HAProxy bounds it).
    pub max_header_list: usize,
}

impl Config {
    /// `tune.h2.*` from the `global` section, for client and server connections alike;
    /// header lists bounded by `bufsize` (`tune.bufsize`).
    pub fn from_tuning(t: &crate::config::model::GlobalTuning, bufsize: usize) -> Config {
        let d = Config::default();
        Config {
            header_table_size: t.h2_header_table_size.unwrap_or(d.header_table_size),
            initial_window: t.h2_initial_window_size.unwrap_or(d.initial_window),
            max_concurrent_streams: t.h2_max_concurrent_streams.unwrap_or(d.max_concurrent_streams),
            max_frame_size: t.h2_max_frame_size.unwrap_or(d.max_frame_size),
            max_header_list: bufsize,
        }
    }

    /// Our SETTINGS frame's list: `first` (what only one role sends), then the values
    /// that differ from the protocol's defaults.
    fn settings(&self, first: u16, value: u32) -> Vec<(u16, u32)> {
        let mut list = vec![(first, value)];
        if self.header_table_size != 4096 {
            list.push((setting::HEADER_TABLE_SIZE, self.header_table_size));
        }
        if self.initial_window != DEFAULT_WINDOW {
            list.push((setting::INITIAL_WINDOW_SIZE, self.initial_window));
        }
        if self.max_frame_size != DEFAULT_FRAME_SIZE {
            list.push((setting::MAX_FRAME_SIZE, self.max_frame_size));
        }
        list
    }
}

impl Default for Config {
    /// HAProxy 2.6's defaults.
    fn default() -> Config {
        Config { header_table_size: 4096, initial_window: DEFAULT_WINDOW, max_concurrent_streams: 100, max_frame_size: DEFAULT_FRAME_SIZE, max_header_list: 16384 }
    }
}

/// Which end of the connection the proxy is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// A client connected to us: it opens the streams, with requests.
    Server,
    /// We connected to a server: we open the streams. `https` is the `:scheme` of an
    /// origin-form request (the connection is TLS).
    Client { https: bool },
}

/// What the connection's owner must act on after [`Session::feed`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Note {
    /// A new request: start a moonproxy stream reading it with [`Session::read`].
    Opened(u32),
    /// Stream `id` may read more (request bytes, its end, a reset) or write more
    /// (window opened).
    Ready(u32),
}

/// The peer's message on one stream (a client's request, a server's response), as
/// HTTP/1.1 bytes for the moonproxy stream.
#[derive(Debug, Default)]
struct Inbound {
    /// The (final) head was received: a later HEADERS carries trailers.
    head_done: bool,
    /// HTTP/1.1 bytes not read by the moonproxy stream yet.
    buf: Vec<u8>,
    /// DATA payload bytes in `buf` not yet credited back with WINDOW_UPDATE.
    uncredited: usize,
    /// Credit owed to the peer (read out), sent in batches.
    credit: usize,
    /// Our receive window for this stream.
    window: i64,
    /// `content-length` of the message, checked against the DATA received.
    content_length: Option<u64>,
    received: u64,
    /// The body goes chunked (no content-length and not ended with the head).
    chunked: bool,
    /// END_STREAM received.
    ended: bool,
}

/// The moonproxy stream's message (a response to a client, a request to a server):
/// HTTP/1.1 parsed back into frames.
#[derive(Debug)]
enum Outbound {
    /// Collecting the head.
    Head(Vec<u8>),
    Body(Box<BodyDecoder>),
    /// END_STREAM sent.
    Done,
}

#[derive(Debug)]
struct Stream {
    inbound: Inbound,
    outbound: Outbound,
    /// The request's method (a response to HEAD has no body).
    method: Method,
    /// The peer's window for our DATA on this stream.
    send_window: i64,
    /// A RST_STREAM was sent or received: reads end, writes fail.
    reset: bool,
    /// The error code of a RST_STREAM (or GOAWAY) received from the peer.
    peer_reset: Option<ErrorCode>,
    /// The last write was stopped by a window: tell the stream when it opens.
    blocked: bool,
}

impl Stream {
    fn closed(&self) -> bool {
        self.reset || (self.inbound.ended && matches!(self.outbound, Outbound::Done))
    }
}

/// A header block being received across CONTINUATION frames.
struct Pending {
    stream: u32,
    end_stream: bool,
    block: Vec<u8>,
    /// Trailers (a second HEADERS on an open stream).
    trailers: bool,
    /// As a client: a block on a stream whose response ended, decoded (for HPACK's
    /// table) and answered STREAM_CLOSED.
    closed: bool,
}

pub struct Session {
    role: Role,
    cfg: Config,
    rx: Vec<u8>,
    out: Vec<u8>,
    preface_seen: bool,
    decoder: hpack::Decoder,
    /// The last header block decoded, its buffers kept for the next.
    fields: Fields,
    encoder: hpack::Encoder,
    /// The peer's settings that matter to us.
    peer_window: i64,
    peer_frame_size: usize,
    /// A size update owed at the start of our next header block.
    table_update: Option<usize>,
    /// Connection-level windows: ours (what the peer may still send) and the peer's.
    recv_window: i64,
    send_window: i64,
    streams: BTreeMap<u32, Stream>,
    /// The highest stream id opened (by the peer as a server, by us as a client).
    last_id: u32,
    pending: Option<Pending>,
    notes: Vec<Note>,
    /// GOAWAY sent with this code: no new stream, nothing more is read.
    goaway: Option<ErrorCode>,
    /// Why the connection failed, for the log (the error code and a reason).
    pub error: Option<(ErrorCode, &'static str)>,
    /// As a client: the peer sent GOAWAY (no new stream may be opened).
    peer_goaway: bool,
    /// Streams opened (and served) on this connection.
    pub opened: u64,
}

impl Session {
    /// A server-side session; our SETTINGS are queued at once (§3.4).
    pub fn new(cfg: Config) -> Session {
        let mut out = Vec::with_capacity(64);
        frame::settings(&mut out, &cfg.settings(setting::MAX_CONCURRENT_STREAMS, cfg.max_concurrent_streams));
        Session {
            cfg,
            rx: Vec::new(),
            out,
            preface_seen: false,
            decoder: hpack::Decoder::new(cfg.header_table_size as usize),
            fields: Fields::default(),
            encoder: hpack::Encoder::new(),
            peer_window: DEFAULT_WINDOW as i64,
            peer_frame_size: DEFAULT_FRAME_SIZE as usize,
            table_update: None,
            // The connection window is always the RFC's 65535 at first (§6.9.2).
            recv_window: DEFAULT_WINDOW as i64,
            send_window: DEFAULT_WINDOW as i64,
            streams: BTreeMap::new(),
            last_id: 0,
            pending: None,
            notes: Vec::new(),
            goaway: None,
            error: None,
            peer_goaway: false,
            opened: 0,
            role: Role::Server,
        }
    }

    /// A client-side session (HTTP/2 to a server, with prior knowledge or after ALPN
    /// `h2`): the connection preface and our SETTINGS are queued at once (§3.4), server
    /// push disabled.
    pub fn client(cfg: Config, https: bool) -> Session {
        let mut s = Session::new(cfg);
        s.role = Role::Client { https };
        s.preface_seen = true; // a server sends no preface but its SETTINGS
        let mut out = PREFACE.to_vec();
        frame::settings(&mut out, &cfg.settings(setting::ENABLE_PUSH, 0));
        s.out = out;
        s
    }

    /// As a client: opens the next stream for a request the moonproxy stream then
    /// writes with [`Session::write`]; `None` once the connection may open no more
    /// (GOAWAY either way, stream ids exhausted).
    pub fn open(&mut self) -> Option<u32> {
        debug_assert!(matches!(self.role, Role::Client { .. }));
        if self.goaway.is_some() || self.peer_goaway || self.last_id >= (1 << 31) - 2 {
            return None;
        }
        let id = if self.last_id == 0 { 1 } else { self.last_id + 2 };
        self.last_id = id;
        self.streams.insert(
            id,
            Stream {
                inbound: Inbound { window: self.cfg.initial_window as i64, ..Default::default() },
                outbound: Outbound::Head(Vec::new()),
                method: Method::Get,
                send_window: self.peer_window,
                reset: false,
                peer_reset: None,
                blocked: false,
            },
        );
        self.opened += 1;
        Some(id)
    }

    /// The error code a peer's RST_STREAM (or GOAWAY not covering the stream) gave
    /// stream `id`, if it was reset so.
    pub fn peer_reset(&self, id: u32) -> Option<ErrorCode> {
        self.streams.get(&id).and_then(|s| s.peer_reset)
    }

    /// The peer's message on stream `id` was received whole (and read or not).
    pub fn inbound_ended(&self, id: u32) -> bool {
        self.streams.get(&id).is_some_and(|s| s.inbound.ended)
    }

    /// Both messages of stream `id` went whole (a reset may have followed), and the
    /// inbound one was read.
    pub fn is_complete(&self, id: u32) -> bool {
        self.streams.get(&id).is_some_and(|s| s.inbound.ended && s.inbound.buf.is_empty() && matches!(s.outbound, Outbound::Done))
    }

    /// Bytes waiting in the output.
    pub fn output_len(&self) -> usize {
        self.out.len()
    }

    /// The moonproxy stream's message on stream `id` went whole (or it was dropped).
    pub fn outbound_done(&self, id: u32) -> bool {
        self.streams.get(&id).is_none_or(|s| matches!(s.outbound, Outbound::Done))
    }

    /// Stream `id` was reset (by either side).
    pub fn is_reset(&self, id: u32) -> bool {
        self.streams.get(&id).is_none_or(|s| s.reset)
    }

    /// The stream's last write was stopped by a flow-control window.
    pub fn write_blocked(&self, id: u32) -> bool {
        self.streams.get(&id).is_some_and(|s| s.blocked)
    }

    /// Bytes to send to the client.
    pub fn output(&mut self) -> &mut Vec<u8> {
        &mut self.out
    }

    pub fn take_notes(&mut self) -> Vec<Note> {
        std::mem::take(&mut self.notes)
    }

    /// GOAWAY was sent: read no more, close once the output is flushed and the
    /// streams are done.
    pub fn closing(&self) -> Option<ErrorCode> {
        self.goaway
    }

    /// Streams still open or still served.
    pub fn active_streams(&self) -> usize {
        self.streams.len()
    }

    /// Soft stop or idle timeout: GOAWAY(NO_ERROR) naming the last stream accepted.
    pub fn shutdown(&mut self) {
        if self.goaway.is_none() {
            frame::goaway(&mut self.out, self.last_id, ErrorCode::NoError);
            self.goaway = Some(ErrorCode::NoError);
        }
    }

    /// The client closed the connection or it failed: every stream still served sees
    /// its end (a read returns 0, a write fails).
    pub fn peer_gone(&mut self) {
        for (&id, s) in self.streams.iter_mut() {
            if !s.reset {
                s.reset = true;
                self.notes.push(Note::Ready(id));
            }
        }
    }

    fn connection_error(&mut self, code: ErrorCode, why: &'static str) {
        if self.goaway.is_none() {
            frame::goaway(&mut self.out, self.last_id, code);
            self.goaway = Some(code);
            self.error = Some((code, why));
        }
        // The streams still served see their end.
        for (&id, s) in self.streams.iter_mut() {
            if !s.closed() {
                s.reset = true;
                self.notes.push(Note::Ready(id));
            }
        }
    }

    fn stream_error(&mut self, id: u32, code: ErrorCode) {
        frame::rst_stream(&mut self.out, id, code);
        if let Some(s) = self.streams.get_mut(&id) {
            s.reset = true;
            self.notes.push(Note::Ready(id));
        }
    }

    /// Takes bytes received from the client and handles every whole frame in them.
    pub fn feed(&mut self, input: &[u8]) {
        if self.failed() {
            return;
        }
        // The frames are read from the buffer taken out of `self` for the loop.
        let mut rx = std::mem::take(&mut self.rx);
        rx.extend_from_slice(input);
        let mut at = 0;
        if !self.preface_seen {
            let n = rx.len().min(PREFACE.len());
            if rx[..n] != PREFACE[..n] {
                return self.connection_error(ErrorCode::ProtocolError, "bad connection preface");
            }
            if n < PREFACE.len() {
                self.rx = rx;
                return;
            }
            self.preface_seen = true;
            at = PREFACE.len();
        }
        while !self.failed() {
            let Some(head) = Head::parse(&rx[at..]) else { break };
            if head.len > self.cfg.max_frame_size as usize {
                self.connection_error(ErrorCode::FrameSizeError, "frame larger than max-frame-size");
                break;
            }
            let start = at + frame::HEADER_LEN;
            if rx.len() < start + head.len {
                break;
            }
            at = start + head.len;
            self.frame(head, &rx[start..at]);
        }
        if !self.failed() {
            rx.drain(..at);
            self.rx = rx;
        }
    }

    /// A connection error was sent: nothing more is read.
    fn failed(&self) -> bool {
        self.goaway.is_some_and(|c| c != ErrorCode::NoError)
    }

    fn frame(&mut self, h: Head, p: &[u8]) {
        // Inside a header block only its CONTINUATION may come (§6.10).
        if let Some(pend) = &self.pending {
            if h.kind != kind::CONTINUATION || h.stream != pend.stream {
                return self.connection_error(ErrorCode::ProtocolError, "frame inside a header block");
            }
        }
        match h.kind {
            kind::DATA => self.data(h, p),
            kind::HEADERS => self.headers(h, p),
            // Priorities are ignored (RFC 9113 §5.3.2), the frame only checked.
            kind::PRIORITY => {
                if h.stream == 0 {
                    self.connection_error(ErrorCode::ProtocolError, "PRIORITY on stream 0");
                } else if p.len() != 5 {
                    self.stream_error(h.stream, ErrorCode::FrameSizeError);
                }
            }
            kind::RST_STREAM => {
                if h.stream == 0 {
                    return self.connection_error(ErrorCode::ProtocolError, "RST_STREAM on stream 0");
                }
                if p.len() != 4 {
                    return self.connection_error(ErrorCode::FrameSizeError, "RST_STREAM size");
                }
                if h.stream > self.last_id {
                    return self.connection_error(ErrorCode::ProtocolError, "RST_STREAM on an idle stream");
                }
                // The stream serving it reads its end and goes (see `detach`).
                let code = u32::from_be_bytes([p[0], p[1], p[2], p[3]]);
                if let Some(s) = self.streams.get_mut(&h.stream) {
                    s.reset = true;
                    s.peer_reset = Some(error_code(code));
                    self.notes.push(Note::Ready(h.stream));
                }
            }
            kind::SETTINGS => self.settings(h, p),
            // A client never pushes; we disable push as a client (SETTINGS_ENABLE_PUSH 0).
            kind::PUSH_PROMISE => self.connection_error(ErrorCode::ProtocolError, "PUSH_PROMISE (push is not accepted)"),
            kind::PING => {
                if h.stream != 0 {
                    return self.connection_error(ErrorCode::ProtocolError, "PING on a stream");
                }
                if p.len() != 8 {
                    return self.connection_error(ErrorCode::FrameSizeError, "PING size");
                }
                if h.flags & flag::ACK == 0 {
                    frame::write(&mut self.out, kind::PING, flag::ACK, 0, p);
                }
            }
            kind::GOAWAY => {
                if h.stream != 0 {
                    return self.connection_error(ErrorCode::ProtocolError, "GOAWAY on a stream");
                }
                if p.len() < 8 {
                    return self.connection_error(ErrorCode::FrameSizeError, "GOAWAY size");
                }
                if self.role == Role::Server {
                    // The client leaves: finish what is open, take nothing new.
                    return self.shutdown();
                }
                // The server leaves: streams above its last one were not processed
                // (§6.8) and end now; those below are finished; no new one is opened.
                self.peer_goaway = true;
                let last = u32::from_be_bytes([p[0], p[1], p[2], p[3]]) & 0x7fff_ffff;
                let code = error_code(u32::from_be_bytes([p[4], p[5], p[6], p[7]]));
                for (&id, s) in self.streams.iter_mut() {
                    if id > last && !s.reset {
                        s.reset = true;
                        s.peer_reset = Some(if code == ErrorCode::NoError { ErrorCode::RefusedStream } else { code });
                        self.notes.push(Note::Ready(id));
                    }
                }
            }
            kind::WINDOW_UPDATE => self.window_update(h, p),
            kind::CONTINUATION => self.continuation(h, p),
            _ => {} // unknown frame types are ignored (§5.5)
        }
    }

    fn settings(&mut self, h: Head, p: &[u8]) {
        if h.stream != 0 {
            return self.connection_error(ErrorCode::ProtocolError, "SETTINGS on a stream");
        }
        if h.flags & flag::ACK != 0 {
            if !p.is_empty() {
                self.connection_error(ErrorCode::FrameSizeError, "SETTINGS ACK with a payload");
            }
            return;
        }
        if !p.len().is_multiple_of(6) {
            return self.connection_error(ErrorCode::FrameSizeError, "SETTINGS size");
        }
        for s in p.chunks(6) {
            let id = u16::from_be_bytes([s[0], s[1]]);
            let v = u32::from_be_bytes([s[2], s[3], s[4], s[5]]);
            match id {
                setting::HEADER_TABLE_SIZE => self.table_update = self.encoder.peer_limit(v as usize).or(self.table_update),
                setting::ENABLE_PUSH if v > 1 => return self.connection_error(ErrorCode::ProtocolError, "ENABLE_PUSH above 1"),
                setting::INITIAL_WINDOW_SIZE => {
                    if v as i64 > MAX_WINDOW {
                        return self.connection_error(ErrorCode::FlowControlError, "INITIAL_WINDOW_SIZE above 2^31-1");
                    }
                    // Every stream's window moves by the difference (§6.9.2).
                    let delta = v as i64 - self.peer_window;
                    self.peer_window = v as i64;
                    for (&id, s) in self.streams.iter_mut() {
                        s.send_window += delta;
                        if s.send_window > MAX_WINDOW {
                            return self.connection_error(ErrorCode::FlowControlError, "window above 2^31-1");
                        }
                        if delta > 0 && s.blocked {
                            s.blocked = false;
                            self.notes.push(Note::Ready(id));
                        }
                    }
                }
                setting::MAX_FRAME_SIZE => {
                    if !(16_384..=16_777_215).contains(&v) {
                        return self.connection_error(ErrorCode::ProtocolError, "MAX_FRAME_SIZE out of range");
                    }
                    self.peer_frame_size = v as usize;
                }
                _ => {} // MAX_CONCURRENT_STREAMS, MAX_HEADER_LIST_SIZE: limits on us we stay within
            }
        }
        frame::write(&mut self.out, kind::SETTINGS, flag::ACK, 0, &[]);
    }

    fn window_update(&mut self, h: Head, p: &[u8]) {
        if p.len() != 4 {
            return self.connection_error(ErrorCode::FrameSizeError, "WINDOW_UPDATE size");
        }
        let inc = (u32::from_be_bytes([p[0], p[1], p[2], p[3]]) & 0x7fff_ffff) as i64;
        if h.stream == 0 {
            if inc == 0 {
                return self.connection_error(ErrorCode::ProtocolError, "WINDOW_UPDATE of 0");
            }
            self.send_window += inc;
            if self.send_window > MAX_WINDOW {
                return self.connection_error(ErrorCode::FlowControlError, "connection window above 2^31-1");
            }
            for (&id, s) in self.streams.iter_mut() {
                if s.blocked {
                    s.blocked = false;
                    self.notes.push(Note::Ready(id));
                }
            }
            return;
        }
        if h.stream > self.last_id {
            return self.connection_error(ErrorCode::ProtocolError, "WINDOW_UPDATE on an idle stream");
        }
        if inc == 0 {
            return self.stream_error(h.stream, ErrorCode::ProtocolError);
        }
        let Some(s) = self.streams.get_mut(&h.stream) else { return };
        s.send_window += inc;
        if s.send_window > MAX_WINDOW {
            return self.stream_error(h.stream, ErrorCode::FlowControlError);
        }
        if s.blocked {
            s.blocked = false;
            self.notes.push(Note::Ready(h.stream));
        }
    }

    fn data(&mut self, h: Head, p: &[u8]) {
        if h.stream == 0 {
            return self.connection_error(ErrorCode::ProtocolError, "DATA on stream 0");
        }
        // Flow control counts the whole payload, padding included (§6.9.1).
        self.recv_window -= p.len() as i64;
        if self.recv_window < 0 {
            return self.connection_error(ErrorCode::FlowControlError, "DATA beyond the connection window");
        }
        // The connection window is given back at once: each stream's own window bounds
        // what it buffers.
        if self.recv_window < DEFAULT_WINDOW as i64 / 2 {
            frame::window_update(&mut self.out, 0, (DEFAULT_WINDOW as i64 - self.recv_window) as u32);
            self.recv_window = DEFAULT_WINDOW as i64;
        }
        let Some(body) = frame::unpad(h.flags, p) else {
            return self.connection_error(ErrorCode::ProtocolError, "DATA padding");
        };
        if h.stream > self.last_id {
            return self.connection_error(ErrorCode::ProtocolError, "DATA on an idle stream");
        }
        let Some(s) = self.streams.get_mut(&h.stream) else {
            // Closed, or reset by us: STREAM_CLOSED (§6.1), the connection goes on.
            return frame::rst_stream(&mut self.out, h.stream, ErrorCode::StreamClosed);
        };
        if s.inbound.ended || s.reset {
            return self.stream_error(h.stream, ErrorCode::StreamClosed);
        }
        if !s.inbound.head_done {
            return self.stream_error(h.stream, ErrorCode::ProtocolError); // DATA before the response head
        }
        s.inbound.window -= p.len() as i64;
        if s.inbound.window < 0 {
            return self.stream_error(h.stream, ErrorCode::FlowControlError);
        }
        // The padding is credited back at once; the payload once read.
        s.inbound.credit += p.len() - body.len();
        s.inbound.received += body.len() as u64;
        if s.inbound.content_length.is_some_and(|cl| s.inbound.received > cl) {
            return self.stream_error(h.stream, ErrorCode::ProtocolError);
        }
        if !body.is_empty() {
            if s.inbound.chunked {
                s.inbound.buf.extend_from_slice(format!("{:x}\r\n", body.len()).as_bytes());
                s.inbound.buf.extend_from_slice(body);
                s.inbound.buf.extend_from_slice(b"\r\n");
            } else {
                s.inbound.buf.extend_from_slice(body);
            }
            s.inbound.uncredited += body.len();
        }
        if h.flags & flag::END_STREAM != 0 {
            if s.inbound.content_length.is_some_and(|cl| s.inbound.received != cl) {
                return self.stream_error(h.stream, ErrorCode::ProtocolError);
            }
            s.inbound.ended = true;
            if s.inbound.chunked {
                s.inbound.buf.extend_from_slice(b"0\r\n\r\n");
            }
        }
        self.notes.push(Note::Ready(h.stream));
        self.flush_credit(h.stream);
    }

    fn headers(&mut self, h: Head, p: &[u8]) {
        if h.stream == 0 {
            return self.connection_error(ErrorCode::ProtocolError, "HEADERS on stream 0");
        }
        let Some(mut block) = frame::unpad(h.flags, p) else {
            return self.connection_error(ErrorCode::ProtocolError, "HEADERS padding");
        };
        if h.flags & flag::PRIORITY != 0 {
            if block.len() < 5 {
                return self.connection_error(ErrorCode::FrameSizeError, "HEADERS priority");
            }
            if u32::from_be_bytes([block[0], block[1], block[2], block[3]]) & 0x7fff_ffff == h.stream {
                return self.stream_error(h.stream, ErrorCode::ProtocolError);
            }
            block = &block[5..];
        }
        let mut closed = false;
        let trailers = if self.role != Role::Server {
            // A response head, another after a 1xx, or trailers, on a stream we opened.
            // On a stream reset or forgotten (closed by us), or whose response ended,
            // the block is only decoded, for HPACK's table.
            match self.streams.get(&h.stream) {
                Some(s) if !s.inbound.ended && !s.reset => s.inbound.head_done,
                Some(s) => {
                    closed = !s.reset;
                    true
                }
                None if h.stream <= self.last_id && !h.stream.is_multiple_of(2) => true,
                None => return self.connection_error(ErrorCode::ProtocolError, "HEADERS on a stream the proxy did not open"),
            }
        } else if h.stream.is_multiple_of(2) {
            return self.connection_error(ErrorCode::ProtocolError, "even stream id from a client");
        } else if h.stream <= self.last_id {
            match self.streams.get(&h.stream) {
                Some(s) if !s.inbound.ended && !s.reset => true,
                // A closed stream (§5.1): STREAM_CLOSED, as a connection error.
                _ => return self.connection_error(ErrorCode::StreamClosed, "HEADERS on a closed stream"),
            }
        } else {
            false
        };
        self.pending = Some(Pending { stream: h.stream, end_stream: h.flags & flag::END_STREAM != 0, block: block.to_vec(), trailers, closed });
        if !trailers && self.role == Role::Server {
            self.last_id = h.stream;
        }
        if h.flags & flag::END_HEADERS != 0 {
            self.end_of_block();
        }
    }

    fn continuation(&mut self, h: Head, p: &[u8]) {
        let Some(pend) = self.pending.as_mut() else {
            return self.connection_error(ErrorCode::ProtocolError, "CONTINUATION without HEADERS");
        };
        pend.block.extend_from_slice(p);
        if pend.block.len() > self.cfg.max_header_list * 2 {
            return self.connection_error(ErrorCode::ProtocolError, "header block too large");
        }
        if h.flags & flag::END_HEADERS != 0 {
            self.end_of_block();
        }
    }

    fn end_of_block(&mut self) {
        let Some(pend) = self.pending.take() else { return };
        let mut fields = std::mem::take(&mut self.fields);
        self.header_block(pend, &mut fields);
        self.fields = fields;
    }

    /// A complete header block: a request (server role), a response (client role) or
    /// trailers. `fields`: the session's buffers to decode it into.
    fn header_block(&mut self, pend: Pending, fields: &mut Fields) {
        // The block is decoded even for a stream that is refused: the table must follow.
        match self.decoder.decode_into(&pend.block, self.cfg.max_header_list, fields) {
            Ok(()) => {}
            Err(hpack::HpackError::TooLarge) => {
                // Over the bound but well compressed: the stream is refused, not the connection.
                if self.role != Role::Server {
                    return self.stream_error(pend.stream, ErrorCode::InternalError); // a response too large
                }
                if !pend.trailers {
                    frame::rst_stream(&mut self.out, pend.stream, ErrorCode::RefusedStream);
                }
                return;
            }
            Err(_) => return self.connection_error(ErrorCode::CompressionError, "HPACK decoding"),
        };
        let id = pend.stream;
        if pend.closed {
            return self.stream_error(id, ErrorCode::StreamClosed);
        }
        if pend.trailers {
            let Some(s) = self.streams.get_mut(&id).filter(|s| !s.reset) else { return };
            if !pend.end_stream {
                return self.stream_error(id, ErrorCode::ProtocolError);
            }
            if fields.iter().any(|f| f.name.first() == Some(&b':')) {
                return self.stream_error(id, ErrorCode::ProtocolError);
            }
            if s.inbound.content_length.is_some_and(|cl| s.inbound.received != cl) {
                return self.stream_error(id, ErrorCode::ProtocolError);
            }
            s.inbound.ended = true;
            if s.inbound.chunked {
                s.inbound.buf.extend_from_slice(b"0\r\n");
                for f in fields.iter() {
                    if valid_regular(&f) {
                        push_field(&mut s.inbound.buf, f.name, f.value);
                    }
                }
                s.inbound.buf.extend_from_slice(b"\r\n");
            }
            self.notes.push(Note::Ready(id));
            return;
        }
        if self.role != Role::Server {
            return self.response_head(id, fields, pend.end_stream);
        }
        if self.goaway.is_some() {
            return; // after our GOAWAY, new streams are ignored (§6.8)
        }
        // Open streams count against the limit. Closed ones still being served (reset
        // by the client, or answered and about to go) are bounded too, to twice the
        // limit: a client resetting its streams at once cannot make the proxy serve
        // an unbounded number ("rapid reset").
        let max = self.cfg.max_concurrent_streams as usize;
        let open = self.streams.values().filter(|s| !s.closed()).count();
        if open >= max || self.streams.len() >= 2 * max {
            return frame::rst_stream(&mut self.out, id, ErrorCode::RefusedStream);
        }
        let (method, req) = match translate_request(fields, pend.end_stream) {
            Ok(t) => t,
            Err(code) => return frame::rst_stream(&mut self.out, id, code),
        };
        self.streams.insert(
            id,
            Stream {
                inbound: Inbound {
                    window: self.cfg.initial_window as i64,
                    head_done: true,
                    ended: pend.end_stream,
                    content_length: req.content_length,
                    chunked: req.chunked,
                    buf: req.head,
                    ..Default::default()
                },
                outbound: Outbound::Head(Vec::new()),
                method,
                send_window: self.peer_window,
                reset: false,
                peer_reset: None,
                blocked: false,
            },
        );
        self.opened += 1;
        self.notes.push(Note::Opened(id));
    }

    /// As a client: a response head (interim or final) received on stream `id`.
    fn response_head(&mut self, id: u32, fields: &Fields, end_stream: bool) {
        let Some(s) = self.streams.get_mut(&id) else { return };
        let Ok(res) = translate_response(fields, end_stream, &s.method) else {
            return self.stream_error(id, ErrorCode::ProtocolError);
        };
        if res.interim && end_stream {
            return self.stream_error(id, ErrorCode::ProtocolError);
        }
        s.inbound.buf.extend_from_slice(&res.head);
        if !res.interim {
            s.inbound.head_done = true;
            s.inbound.content_length = res.content_length;
            s.inbound.chunked = res.chunked;
            s.inbound.ended = end_stream;
        }
        self.notes.push(Note::Ready(id));
    }

    /// Sends the WINDOW_UPDATE owed on stream `id` once it is worth a frame.
    fn flush_credit(&mut self, id: u32) {
        let Some(s) = self.streams.get_mut(&id) else { return };
        let c = s.inbound.credit;
        if c > 0 && !s.inbound.ended && (c >= self.cfg.initial_window as usize / 4 || s.inbound.buf.is_empty()) {
            frame::window_update(&mut self.out, id, c as u32);
            s.inbound.window += c as i64;
            s.inbound.credit = 0;
        }
    }

    // ---- the moonproxy stream's side ------------------------------------------

    /// The stream's request bytes: `Ok(0)` once its response is complete or it was reset.
    pub fn read(&mut self, id: u32, b: &mut [u8]) -> io::Result<usize> {
        let Some(s) = self.streams.get_mut(&id) else { return Ok(0) };
        if s.inbound.buf.is_empty() {
            let end = match self.role {
                Role::Server => s.closed() || s.reset || matches!(s.outbound, Outbound::Done),
                Role::Client { .. } => s.inbound.ended || s.reset,
            };
            return if end { Ok(0) } else { Err(io::ErrorKind::WouldBlock.into()) };
        }
        let n = b.len().min(s.inbound.buf.len());
        b[..n].copy_from_slice(&s.inbound.buf[..n]);
        s.inbound.buf.drain(..n);
        let credit = n.min(s.inbound.uncredited);
        s.inbound.uncredited -= credit;
        s.inbound.credit += credit;
        self.flush_credit(id);
        Ok(n)
    }

    /// Whether the stream has request bytes or an end to read.
    pub fn readable(&self, id: u32) -> bool {
        self.streams.get(&id).is_none_or(|s| !s.inbound.buf.is_empty() || s.reset)
    }

    /// The stream's HTTP/1.1 response: the head becomes HEADERS, the body DATA within
    /// the windows. Returns the bytes taken; `WouldBlock` when a window is closed.
    ///
    /// As a client, the bytes taken stop at the request's end (what follows is the next
    /// request, for another stream), and a request whose complete response was
    /// followed by a reset (RFC 9113 §8.1) is taken to its end and dropped.
    pub fn write(&mut self, id: u32, b: &[u8]) -> io::Result<usize> {
        let max_frame = self.peer_frame_size;
        let client = self.role != Role::Server;
        let Some(s) = self.streams.get_mut(&id) else { return Err(io::ErrorKind::BrokenPipe.into()) };
        if s.reset {
            return match &mut s.outbound {
                Outbound::Body(dec) if client && s.inbound.ended => {
                    let mut used = 0;
                    loop {
                        let d = dec.decode(&b[used..]).map_err(|_| io::Error::from(io::ErrorKind::InvalidData))?;
                        used += d.consumed;
                        if d.done {
                            s.outbound = Outbound::Done;
                            break;
                        }
                        if d.consumed == 0 {
                            break;
                        }
                    }
                    Ok(used)
                }
                _ => Err(io::ErrorKind::BrokenPipe.into()),
            };
        }
        let mut taken = 0;
        loop {
            match &mut s.outbound {
                // Nothing may follow a complete response on its stream.
                Outbound::Done => return Ok(if client { taken } else { b.len() }),
                Outbound::Head(head) => {
                    let before = head.len();
                    head.extend_from_slice(&b[taken..]);
                    let mut block = Vec::with_capacity(128);
                    if let Some(size) = self.table_update {
                        self.encoder.size_update(&mut block, size);
                    }
                    let parsed = match self.role {
                        Role::Server => encode_response(head, &s.method, &mut self.encoder, &mut block),
                        Role::Client { https } => encode_request(head, https, &mut self.encoder, &mut block),
                    };
                    let out = match parsed {
                        Ok(Some(out)) => out,
                        Ok(None) => return Ok(b.len()),
                        Err(()) => {
                            // A message the proxy cannot translate: the stream fails
                            // (as a client, nothing was sent on it yet: no reset either).
                            s.reset = true;
                            if self.role == Role::Server {
                                frame::rst_stream(&mut self.out, id, ErrorCode::InternalError);
                            }
                            return Err(io::ErrorKind::InvalidData.into());
                        }
                    };
                    self.table_update = None;
                    taken += out.used - before;
                    head.clear();
                    let no_body = out.framing == BodyFraming::None;
                    frame::headers(&mut self.out, id, &block, no_body && !out.interim, max_frame);
                    if let Some(m) = out.method {
                        s.method = m;
                    }
                    if out.switching {
                        // No protocol switch over HTTP/2 (§8.6).
                        s.reset = true;
                        frame::rst_stream(&mut self.out, id, ErrorCode::ProtocolError);
                        return Err(io::ErrorKind::BrokenPipe.into());
                    }
                    s.outbound = if out.interim {
                        Outbound::Head(Vec::new())
                    } else if no_body {
                        self.finished(id);
                        return Ok(if client { taken } else { b.len() });
                    } else {
                        Outbound::Body(Box::new(BodyDecoder::new(out.framing, &Limits::default())))
                    };
                }
                Outbound::Body(dec) => {
                    let input = &b[taken..];
                    let room = s.send_window.min(self.send_window).max(0) as usize;
                    if room == 0 {
                        if taken == 0 {
                            s.blocked = true;
                            return Err(io::ErrorKind::WouldBlock.into());
                        }
                        return Ok(taken);
                    }
                    let d = match dec.decode(&input[..input.len().min(room)]) {
                        Ok(d) => d,
                        Err(_) => {
                            s.reset = true;
                            frame::rst_stream(&mut self.out, id, ErrorCode::InternalError);
                            return Err(io::ErrorKind::InvalidData.into());
                        }
                    };
                    if d.consumed == 0 && !d.done {
                        return Ok(taken);
                    }
                    let data = &input[d.data.clone()];
                    for (i, chunk) in data.chunks(max_frame).enumerate() {
                        let last = d.done && (i + 1) * max_frame >= data.len();
                        let ends = last && dec.trailers().is_empty();
                        frame::write(&mut self.out, kind::DATA, if ends { flag::END_STREAM } else { 0 }, id, chunk);
                    }
                    s.send_window -= data.len() as i64;
                    self.send_window -= data.len() as i64;
                    taken += d.consumed;
                    if d.done {
                        if !dec.trailers().is_empty() {
                            let mut block = Vec::new();
                            for h in dec.trailers().iter() {
                                self.encoder.field(&mut block, h.name.to_ascii_lowercase().as_bytes(), &h.value);
                            }
                            frame::headers(&mut self.out, id, &block, true, max_frame);
                        } else if data.is_empty() {
                            frame::write(&mut self.out, kind::DATA, flag::END_STREAM, id, &[]);
                        }
                        self.finished(id);
                        return Ok(if client { taken } else { b.len() });
                    }
                    if taken == b.len() {
                        return Ok(taken);
                    }
                }
            }
        }
    }

    /// The stream's message was sent whole.
    fn finished(&mut self, id: u32) {
        let server = self.role == Role::Server;
        if let Some(s) = self.streams.get_mut(&id) {
            s.outbound = Outbound::Done;
            if server && !s.inbound.ended {
                // The request is no longer wanted (§8.1): the client may stop sending it.
                frame::rst_stream(&mut self.out, id, ErrorCode::NoError);
                s.reset = true;
            }
            // The stream may read its end (and go idle, then away).
            self.notes.push(Note::Ready(id));
        }
    }

    /// The moonproxy stream closed its side: the end of a response delimited by the
    /// close; a response cut short is reset.
    pub fn shutdown_write(&mut self, id: u32) {
        let Some(s) = self.streams.get_mut(&id) else { return };
        let ended = match &mut s.outbound {
            Outbound::Done => return,
            Outbound::Body(dec) => dec.finish().is_ok(),
            Outbound::Head(_) => false,
        };
        match ended {
            true => {
                frame::write(&mut self.out, kind::DATA, flag::END_STREAM, id, &[]);
                self.finished(id);
            }
            false => {
                if !s.reset {
                    s.reset = true;
                    frame::rst_stream(&mut self.out, id, ErrorCode::InternalError);
                }
            }
        }
    }

    /// The moonproxy stream is gone: a response it left unfinished is ended as by
    /// [`Session::shutdown_write`] (reset, unless the close delimits it), and the
    /// stream is forgotten (later frames for it are answered STREAM_CLOSED). As a
    /// client, a stream left before both messages went whole is reset (CANCEL).
    pub fn detach(&mut self, id: u32) {
        if self.role == Role::Server {
            self.shutdown_write(id);
        } else if let Some(s) = self.streams.get(&id) {
            if !s.closed() {
                frame::rst_stream(&mut self.out, id, ErrorCode::Cancel);
            }
        }
        self.streams.remove(&id);
    }
}

/// A head the moonproxy stream wrote, encoded as a header block.
struct OutHead {
    /// The bytes of the head (the input may go on with the body).
    used: usize,
    /// The body's framing; `None`: the head ends the stream.
    framing: BodyFraming,
    /// A 1xx response: the final head follows.
    interim: bool,
    /// A 101 response, which HTTP/2 cannot carry.
    switching: bool,
    /// The method of a request.
    method: Option<Method>,
}

/// Limits on a head the moonproxy stream wrote (it checked it already).
const OUT_LIMITS: Limits = Limits { max_head: 1 << 20, max_headers: 1000, max_trailers: 1 << 16 };

/// As a server: the stream's HTTP/1.1 response head as `:status` and its fields;
/// `Ok(None)` until the head is whole.
fn encode_response(head: &[u8], method: &Method, enc: &mut hpack::Encoder, block: &mut Vec<u8>) -> Result<Option<OutHead>, ()> {
    let (res, used) = match ResponseParser::new(OUT_LIMITS, method.clone()).parse(head) {
        Ok(Status::Partial) => return Ok(None),
        Ok(Status::Complete(res, used)) => (res, used),
        Err(_) => return Err(()),
    };
    let status = res.line.status;
    enc.field(block, b":status", status.to_string().as_bytes());
    for h in res.headers.iter() {
        let name = h.name.to_ascii_lowercase();
        if !connection_specific(name.as_bytes()) {
            enc.field(block, name.as_bytes(), &h.value);
        }
    }
    let interim = (100..200).contains(&status);
    let framing = if interim { BodyFraming::None } else { res.framing };
    Ok(Some(OutHead { used, framing, interim, switching: status == 101, method: None }))
}

/// As a client: the stream's HTTP/1.1 request head as pseudo-header fields (RFC 9113
/// §8.3.1: `:authority` from an absolute-form target, else from `Host`, which is then
/// not sent; `:scheme` from the target, else the connection's) and its other fields
/// without the connection-specific ones (`te` only as `trailers`); `Ok(None)` until
/// the head is whole. CONNECT (a tunnel) is refused.
fn encode_request(head: &[u8], https: bool, enc: &mut hpack::Encoder, block: &mut Vec<u8>) -> Result<Option<OutHead>, ()> {
    let (req, used) = match RequestParser::new(OUT_LIMITS).accept_payload_with_any_method(true).parse(head) {
        Ok(Status::Partial) => return Ok(None),
        Ok(Status::Complete(req, used)) => (req, used),
        Err(_) => return Err(()),
    };
    let line = &req.line;
    if line.method == Method::Connect {
        return Err(());
    }
    let (scheme, authority) = match line.form {
        TargetForm::Absolute => {
            let (scheme, rest) = line.target.split_once("://").ok_or(())?;
            (scheme.to_ascii_lowercase(), Some(line.authority().unwrap_or(rest).as_bytes()))
        }
        _ => ((if https { "https" } else { "http" }).to_string(), req.headers.get("host")),
    };
    let path = match line.form {
        TargetForm::Asterisk => "*",
        _ => line.origin_form(),
    };
    enc.field(block, b":method", line.method.as_str().as_bytes());
    enc.field(block, b":scheme", scheme.as_bytes());
    if let Some(a) = authority {
        enc.field(block, b":authority", a);
    }
    enc.field(block, b":path", path.as_bytes());
    for h in req.headers.iter() {
        let name = h.name.to_ascii_lowercase();
        match name.as_str() {
            "host" => {}
            "te" if h.value.split(|&c| c == b',').any(|t| t.trim_ascii().eq_ignore_ascii_case(b"trailers")) => enc.field(block, b"te", b"trailers"),
            "te" => {}
            n if connection_specific(n.as_bytes()) => {}
            n => enc.field(block, n.as_bytes(), &h.value),
        }
    }
    let framing = match req.framing {
        BodyFraming::ContentLength(0) => BodyFraming::None,
        f => f,
    };
    Ok(Some(OutHead { used, framing, interim: false, switching: false, method: Some(line.method.clone()) }))
}

/// A response received as a client, translated to HTTP/1.1.
struct TranslatedResponse {
    head: Vec<u8>,
    /// A 1xx response: the final one follows.
    interim: bool,
    /// The body's length, checked against DATA (none for a body the method or status
    /// rules out, whatever `content-length` says).
    content_length: Option<u64>,
    chunked: bool,
}

/// The response head of RFC 9113 §8.3.2 as HTTP/1.1: the status line (without a reason
/// phrase), the fields but connection-specific ones, and the framing: the
/// server's `content-length`, else `content-length: 0` for a response ended with its
/// head, else chunked (which also carries trailers). Errors are malformed responses.
fn translate_response(fields: &Fields, end_stream: bool, method: &Method) -> Result<TranslatedResponse, ()> {
    let mut status = None;
    let mut regular = false;
    for f in fields.iter() {
        if f.name.first() == Some(&b':') {
            if regular || f.name != b":status" || status.is_some() {
                return Err(());
            }
            let v = std::str::from_utf8(f.value).map_err(drop)?;
            if v.len() != 3 {
                return Err(());
            }
            status = Some(v.parse::<u16>().map_err(drop).and_then(|c| if (100..1000).contains(&c) { Ok(c) } else { Err(()) })?);
        } else {
            regular = true;
            if !valid_regular(&f) || connection_specific(f.name) {
                return Err(());
            }
        }
    }
    let status = status.ok_or(())?;
    let mut head = Vec::with_capacity(256);
    head.extend_from_slice(b"HTTP/1.1 ");
    head.extend_from_slice(status.to_string().as_bytes());
    // HTTP/2 has no reason phrase: none, as HAProxy 2.6 sends it.
    head.extend_from_slice(b" \r\n");
    let mut content_length = None;
    for f in fields.iter().filter(|f| f.name.first() != Some(&b':')) {
        if f.name == b"content-length" {
            let v = std::str::from_utf8(f.value).ok().and_then(|v| v.parse::<u64>().ok()).ok_or(())?;
            if content_length.replace(v).is_some_and(|old| old != v) {
                return Err(());
            }
        }
        push_field(&mut head, f.name, f.value);
    }
    let interim = (100..200).contains(&status);
    let bodiless = interim || status == 204 || status == 304 || *method == Method::Head;
    let mut chunked = false;
    if bodiless {
        content_length = None;
    } else if content_length.is_none() {
        if end_stream {
            push_field(&mut head, b"content-length", b"0");
            content_length = Some(0);
        } else {
            push_field(&mut head, b"transfer-encoding", b"chunked");
            chunked = true;
        }
    } else if end_stream && content_length != Some(0) {
        return Err(()); // announced a body and sent none (§8.1.1)
    }
    head.extend_from_slice(b"\r\n");
    Ok(TranslatedResponse { head, interim, content_length, chunked })
}

/// The error code of a frame (an unknown one counts as INTERNAL_ERROR, §7).
fn error_code(v: u32) -> ErrorCode {
    use ErrorCode::*;
    [NoError, ProtocolError, InternalError, FlowControlError, SettingsTimeout, StreamClosed, FrameSizeError, RefusedStream, Cancel, CompressionError, ConnectError, EnhanceYourCalm, InadequateSecurity, Http11Required]
        .into_iter()
        .find(|c| *c as u32 == v)
        .unwrap_or(InternalError)
}

/// A request translated to HTTP/1.1.
struct Translated {
    head: Vec<u8>,
    content_length: Option<u64>,
    chunked: bool,
}

/// Field names a message over HTTP/2 must not carry (RFC 9113 §8.2.2).
fn connection_specific(name: &[u8]) -> bool {
    matches!(name, b"connection" | b"keep-alive" | b"proxy-connection" | b"transfer-encoding" | b"upgrade")
}

/// A regular field as RFC 9113 §8.2.1 allows it: a lower-case token name, a value
/// without NUL, CR or LF.
fn valid_regular(f: &FieldRef<'_>) -> bool {
    !f.name.is_empty()
        // A token (RFC 9110 §5.6.2: visible ASCII but the delimiters), in lower case.
        && f.name.iter().all(|&c| crate::http::h1::parse::is_tchar(c) && !c.is_ascii_uppercase())
        && !f.value.iter().any(|&c| matches!(c, 0 | b'\r' | b'\n'))
}

fn push_field(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// The request head of RFC 9113 §8.3 as HTTP/1.1 (HAProxy's shape: the target in
/// absolute form when `:authority` is given, `host` first, cookies joined), or the
/// code of the stream error: PROTOCOL_ERROR for a malformed request, HTTP_1_1_REQUIRED
/// for CONNECT (tunnels over HTTP/2, RFC 8441 websockets included, are not supported:
/// the client may retry over HTTP/1.1).
fn translate_request(fields: &Fields, end_stream: bool) -> Result<(Method, Translated), ErrorCode> {
    translate(fields, end_stream).map_err(|()| ErrorCode::ProtocolError).and_then(|(m, t)| match m {
        Method::Connect => Err(ErrorCode::Http11Required),
        m => Ok((m, t)),
    })
}

fn translate(fields: &Fields, end_stream: bool) -> Result<(Method, Translated), ()> {
    let (mut method, mut scheme, mut authority, mut path) = (None, None, None, None);
    let mut regular = false;
    for f in fields.iter() {
        if f.name.first() == Some(&b':') {
            if regular {
                return Err(()); // a pseudo-header after a regular field
            }
            let slot = match f.name {
                b":method" => &mut method,
                b":scheme" => &mut scheme,
                b":authority" => &mut authority,
                b":path" => &mut path,
                // `:protocol` (RFC 8441): we never advertise SETTINGS_ENABLE_CONNECT_PROTOCOL.
                _ => return Err(()),
            };
            if slot.replace(f.value).is_some() {
                return Err(());
            }
            if f.value.iter().any(|&c| c <= b' ' || c == 0x7f) {
                return Err(());
            }
        } else {
            regular = true;
            if !valid_regular(&f) || connection_specific(f.name) || (f.name == b"te" && f.value != b"trailers") {
                return Err(());
            }
        }
    }
    let method = std::str::from_utf8(method.ok_or(())?).map_err(drop)?;
    if method.is_empty() || !method.bytes().all(crate::http::h1::parse::is_tchar) {
        return Err(());
    }
    let mut head = Vec::with_capacity(256);
    if method == "CONNECT" {
        if scheme.is_some() || path.is_some() {
            return Err(());
        }
        let a = authority.ok_or(())?;
        head.extend_from_slice(b"CONNECT ");
        head.extend_from_slice(a);
    } else {
        let (scheme, path) = (scheme.ok_or(())?, path.ok_or(())?);
        if path.is_empty() || scheme.is_empty() {
            return Err(());
        }
        head.extend_from_slice(method.as_bytes());
        head.push(b' ');
        match authority {
            Some(a) if path != b"*" => {
                head.extend_from_slice(scheme);
                head.extend_from_slice(b"://");
                head.extend_from_slice(a);
            }
            _ => {}
        }
        head.extend_from_slice(path);
    }
    head.extend_from_slice(b" HTTP/1.1\r\n");
    if let Some(a) = authority {
        push_field(&mut head, b"host", a);
    }
    let mut content_length = None;
    let mut cookies: Vec<&[u8]> = Vec::new();
    for f in fields.iter().filter(|f| f.name.first() != Some(&b':')) {
        match f.name {
            b"host" if authority.is_some() => continue,
            b"cookie" => {
                cookies.push(f.value);
                continue;
            }
            b"content-length" => {
                let v = std::str::from_utf8(f.value).ok().and_then(|v| v.parse::<u64>().ok()).ok_or(())?;
                if content_length.replace(v).is_some_and(|old| old != v) {
                    return Err(());
                }
                if end_stream && v != 0 {
                    return Err(()); // announced a body and sent none (§8.1.1)
                }
            }
            _ => {}
        }
        push_field(&mut head, f.name, f.value);
    }
    if !cookies.is_empty() {
        push_field(&mut head, b"cookie", &cookies.join(&b"; "[..]));
    }
    let chunked = !end_stream && content_length.is_none() && method != "CONNECT";
    if chunked {
        push_field(&mut head, b"transfer-encoding", b"chunked");
    }
    head.extend_from_slice(b"\r\n");
    Ok((Method::from_token(method), Translated { head, content_length, chunked }))
}

#[cfg(test)]
mod tests;
