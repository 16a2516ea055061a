//! HTTP mode of a stream: the per-transaction analysers.
//!
//! A stream of a `mode http` frontend carries an [`HttpSide`] and runs extra states
//! (see `doc/lifetime-of-a-stream.md`, "HTTP mode"):
//!
//! ```text
//! HttpHead ─▶ Route ─▶ [Queued] ─▶ Connecting ─▶ Forwarding ─┬─▶ HttpHead (next request)
//!    │          │  └── idle server connection reused ──▶ ▲   └─▶ Closed
//!    ├─▶ Tarpit ┤                                          │
//!    ▼          ▼                                          ▼
//! LocalReply (error page, `return`; also from Queued, Connecting, TurnAround)
//!    └─▶ Closed, or HttpHead after a `return` that keeps the connection
//! ```
//!
//! The message bookkeeping is sans-io: a [`Flow`] per direction knows which bytes at
//! the front of its channel belong to the current message and may be forwarded
//! (`fwd`), holds the rewritten head to send before them (`out`), and runs the body
//! decoder over new bytes ([`Flow::scan`]). The stream only moves bytes between the
//! sockets and the channels, never more than `fwd`: a message ends exactly where its
//! framing says, and a pipelined next request stays in the buffer.

use super::conn::{ReadEnd, WriteEnd};
use super::termination::{Cause, Phase, Termination};
use super::{IdleOffer, ServerSide, State, Stream};
use crate::config::model::{HttpConnMode, RetryOn, Timeouts};
use crate::http::h1::{BodyDecoder, Limits, ParseError, RequestParser, ResponseParser, Status};
use crate::http::rules::{self, RuleEnv, Verdict};
use crate::http::txn::Txn;
use crate::http::compress::{self, BodyEncoder};
use crate::spoe::conf::Event as SpoeEvent;
use crate::http::{capture, errors, BodyFraming, Headers, Method, Version};
use crate::log::{HttpLog, StreamLog};
use crate::reactor::{token, Kind};
use crate::sample::vars::Vars;
use std::net::IpAddr;
use std::time::{Duration, Instant, SystemTime};

use super::analysers::WaitFor;
use super::lua::{self, LuaStep};
use super::resolve;
use super::Env;


/// `tune.maxrewrite`'s default: room kept free in a buffer for header rewrites, so
/// the largest head accepted is `tune.bufsize - 1024`.
pub const MAX_REWRITE: usize = 1024;

/// The parser limits for buffers of `bufsize` bytes.
pub fn limits_for(bufsize: usize) -> Limits {
    let max_head = bufsize - MAX_REWRITE.min(bufsize / 2);
    Limits { max_head, max_headers: Limits::default().max_headers, max_trailers: max_head }
}

/// Where a message is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Stage {
    /// Its head is not parsed yet.
    #[default]
    Head,
    /// Its body is being forwarded.
    Body,
    /// Its last byte is known (it may still sit in the buffer, counted in `fwd`).
    Done,
    /// Upgraded or CONNECT: every byte is forwarded as it comes.
    Tunnel,
}

/// One message's progress through its channel (sans-io).
#[derive(Debug, Default)]
pub struct Flow {
    /// Bytes the proxy produced (the head as rewritten, an interim response, an error
    /// page), sent before the `fwd` bytes of the buffer.
    pub out: Vec<u8>,
    /// Bytes at the front of the channel's buffer that belong to this message and
    /// have been checked: they may be sent.
    pub fwd: usize,
    pub stage: Stage,
    /// Boxed: an idle connection's flows hold none, and stay small.
    decoder: Option<Box<BodyDecoder>>,
    /// A response being compressed: its payload goes to `out` through the encoder
    /// instead of being forwarded (`fwd` stays 0), see [`crate::http::compress`].
    encoder: Option<Box<BodyEncoder>>,
}

impl Flow {
    /// The head was parsed: its body (if any) follows.
    pub fn start_body(&mut self, framing: BodyFraming, limits: &Limits) {
        if framing == BodyFraming::None {
            self.stage = Stage::Done;
        } else {
            self.decoder = Some(Box::new(BodyDecoder::new(framing, limits)));
            self.stage = Stage::Body;
        }
    }

    /// Checks the bytes of `data` (the channel's pending bytes) not checked yet, and
    /// clears them for forwarding up to the end of the message.
    pub fn scan(&mut self, data: &[u8]) -> Result<(), ParseError> {
        match self.stage {
            Stage::Tunnel => self.fwd = data.len(),
            Stage::Body => {
                let dec = self.decoder.as_mut().expect("a body has a decoder");
                if let Some(enc) = self.encoder.as_mut() {
                    if enc.scan(dec, data, &mut self.out)? {
                        self.stage = Stage::Done;
                        self.decoder = None;
                    }
                    return Ok(());
                }
                loop {
                    let d = dec.decode(&data[self.fwd..])?;
                    self.fwd += d.consumed;
                    if d.done {
                        self.stage = Stage::Done;
                        self.decoder = None;
                        break;
                    }
                    if d.consumed == 0 {
                        break;
                    }
                }
            }
            Stage::Head | Stage::Done => {}
        }
        Ok(())
    }

    /// From now on the body is compressed by `encoder` (set after [`Flow::start_body`]).
    pub fn encode_with(&mut self, encoder: Box<BodyEncoder>) {
        self.encoder = Some(encoder);
    }

    /// Bytes at the front of the channel the encoder used since the last call: the
    /// caller drops them from the buffer (0 when not compressing).
    pub fn take_consumed(&mut self) -> usize {
        self.encoder.as_mut().map_or(0, |e| e.take_consumed())
    }

    /// The producer closed its side: a body read until close ends here, any other
    /// unfinished body is truncated.
    pub fn producer_closed(&mut self) -> Result<(), ParseError> {
        if let (Stage::Body, Some(dec)) = (self.stage, self.decoder.as_mut()) {
            dec.finish()?;
            self.stage = Stage::Done;
            self.decoder = None;
        }
        Ok(())
    }

    /// `n` bytes of the buffer were sent.
    pub fn sent(&mut self, n: usize) {
        debug_assert!(n <= self.fwd);
        self.fwd -= n;
    }

    /// Nothing of this message is waiting to be sent.
    pub fn flushed(&self) -> bool {
        self.out.is_empty() && self.fwd == 0
    }

    /// The whole message was sent.
    pub fn complete(&self) -> bool {
        self.stage == Stage::Done && self.flushed()
    }

    fn reset(&mut self) {
        // Freed, not cleared: an idle kept-alive connection holds no head bytes.
        self.out = Vec::new();
        self.fwd = 0;
        self.stage = Stage::Head;
        self.decoder = None;
        self.encoder = None;
    }
}

/// The transaction of an [`HttpSide`], allocated only while one is in progress: a kept-alive
/// connection waiting for its next request holds none (a [`Txn`] is about 400 bytes, as much
/// as the rest of the idle connection). It reads as a [`Txn`]: an empty slot reads as a
/// fresh one, and the first write allocates it.
#[derive(Debug, Default)]
pub struct TxnSlot(Option<Box<Txn>>);

impl TxnSlot {
    /// Ends the transaction: what it held is freed (the next one starts empty).
    pub fn release(&mut self) {
        self.0 = None;
    }

    /// Whether a transaction is allocated.
    pub fn is_allocated(&self) -> bool {
        self.0.is_some()
    }
}

impl std::ops::Deref for TxnSlot {
    type Target = Txn;
    fn deref(&self) -> &Txn {
        static EMPTY: std::sync::LazyLock<Txn> = std::sync::LazyLock::new(Txn::new);
        self.0.as_deref().unwrap_or(&EMPTY)
    }
}

impl std::ops::DerefMut for TxnSlot {
    fn deref_mut(&mut self) -> &mut Txn {
        self.0.get_or_insert_with(Default::default)
    }
}

/// The rule lists of the current transaction still to run, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum RulesAt {
    /// Frontend `http-request` rules (in `HttpHead`).
    FrontendRequest,
    /// Backend `http-request` rules (in `Route`, once the backend is known).
    BackendRequest,
    /// Request rules done: the head is rewritten and queued for the server.
    RequestDone,
}

/// What a stream in HTTP mode adds: the transaction and both messages' progress.
pub struct HttpSide {
    pub limits: Limits,
    pub txn: TxnSlot,
    pub req: Flow,
    pub res: Flow,
    // Boxed, like the other parts only a transaction in progress needs, so that an
    // idle kept-alive connection stays small.
    req_parser: Option<Box<RequestParser>>,
    res_parser: Option<Box<ResponseParser>>,
    /// Method, target and version as received, for the log (only when the frontend logs;
    /// boxed, as it is only there during a transaction).
    line: Option<Box<(String, String, &'static str)>>,
    /// `sess.*` variables: they live as long as the client connection.
    pub sess_vars: Vars,
    rules_at: RulesAt,
    rule_cursor: usize,
    /// The backend's request rules were started (their cursor was reset).
    be_rules_started: bool,
    /// `option http-buffer-request` waited for the body already.
    body_buffered: bool,
    /// Response rules: 0 backend `http-response`, 1 frontend, 2/3 after-response, 4 done.
    res_rules: (u8, u32),
    conn_mode: HttpConnMode,
    /// The client's request allows the connection to persist (before the head was
    /// rewritten for the server).
    client_persistent: bool,
    /// Decided when the response head is sent: the client connection stays open.
    client_keep_alive: bool,
    /// The server connection may serve the next request.
    server_keep_alive: bool,
    /// The proxy's own response closes the connection once sent (`LocalReply`).
    reply_close: bool,
    /// The proxy's own response waits for the `http-after-response` rules: its head is
    /// `txn.res`, `res.out` holds only its body until they are done.
    after_pending: bool,
    /// Those rules ran on one of the proxy's responses in this transaction: a response
    /// they cause themselves goes out as it is (HAProxy does not run them twice).
    after_ran: bool,
    reply_term: Termination,
    /// The status line of the response was sent (no error page can replace it now).
    res_started: bool,
    /// The stream closes without an answer (`tcp-request content reject`).
    pub(super) silent_close: bool,
    /// `reject` or `silent-drop` closed the transaction, on the response side (`true`)
    /// or the request side: its log line has no request (`TR`) or response (`Tr`) time.
    dropped: Option<bool>,
    /// A request-body error found before the response started: answer this status.
    req_error: Option<u16>,
    /// The status of a tarpitted request.
    tarpit_status: u16,
    /// A server connection kept open from the previous transaction.
    pub(super) idle: Option<Box<ServerSide>>,
    /// The request (which has no body) went on a reused server connection: until the
    /// response starts, if the server had closed that connection, it is sent again on a
    /// new one (its head written again from `txn.req`, as it was prepared for the server).
    replay: bool,
    /// The copy of the request kept for `retry-on` (`super::l7retry`).
    pub(super) l7: super::l7retry::L7Copy,
    /// Transactions finished on this connection.
    pub done: u64,
    /// The proxy's own service answered this transaction (the stats page): the name
    /// the log shows for the server (`<STATS>`).
    service: Option<&'static str>,
    /// That service answered (the log shows a response time of 0) rather than refused
    /// the request (-1).
    service_answered: bool,
    /// The process is stopping (soft stop): no next request on this connection.
    stopping: bool,
    /// Whether the stream's close is logged: not for a kept-alive client that leaves
    /// (or times out) between requests.
    pub log_at_close: bool,
    /// `option logasap`: this transaction was logged when its response head went out.
    logged_asap: bool,
    // Timing of the current transaction.
    txn_start: Instant,
    txn_date: crate::log::time::PackedDate,
    first_byte: Option<Instant>,
    head_at: Option<Instant>,
    req_sent: Option<Instant>,
    res_head_at: Option<Instant>,
    /// The channels' byte counters when the transaction started (`%U`/`%B` per request).
    bytes_at_start: (u64, u64),
    /// Log records of transactions finished on a connection that stays open.
    pub logs: Vec<StreamLog>,
}

impl HttpSide {
    pub fn new(limits: Limits, now: Instant, date: SystemTime) -> HttpSide {
        HttpSide {
            limits,
            txn: TxnSlot::default(),
            req: Flow::default(),
            res: Flow::default(),
            req_parser: None,
            res_parser: None,
            line: None,
            sess_vars: Vars::default(),
            rules_at: RulesAt::FrontendRequest,
            rule_cursor: 0,
            be_rules_started: false,
            body_buffered: false,
            res_rules: (0, 0),
            conn_mode: HttpConnMode::KeepAlive,
            client_persistent: false,
            client_keep_alive: false,
            server_keep_alive: false,
            reply_close: true,
            after_pending: false,
            after_ran: false,
            reply_term: Termination::NORMAL,
            res_started: false,
            silent_close: false,
            dropped: None,
            req_error: None,
            tarpit_status: 500,
            idle: None,
            replay: false,
            l7: Default::default(),
            done: 0,
            service: None,
            service_answered: false,
            stopping: false,
            log_at_close: true,
            logged_asap: false,
            txn_start: now,
            txn_date: date.into(),
            first_byte: None,
            head_at: None,
            req_sent: None,
            res_head_at: None,
            bytes_at_start: (0, 0),
            logs: Vec::new(),
        }
    }

    /// Puts a parsed request in the transaction as `HttpHead` does (tests).
    #[cfg(test)]
    pub(super) fn set_request_for_test(&mut self, req: crate::http::Request) {
        self.line = Some(Box::new((req.line.method.to_string(), req.line.target.clone(), req.line.version.as_str())));
        self.req.start_body(req.framing, &self.limits);
        self.client_persistent = req.keep_alive();
        self.txn.req = Some(req);
    }

    /// The HTTP part of the log record of the current transaction.
    pub fn log(&self) -> HttpLog {
        let since = |a: Option<Instant>, b: Option<Instant>| match (a, b) {
            (Some(a), Some(b)) => Some(b.saturating_duration_since(a)),
            _ => None,
        };
        let t_idle = self.first_byte.map(|f| f.saturating_duration_since(self.txn_start));
        let (method, uri, version) = match self.line.as_deref() {
            Some((m, u, v)) => (Some(m.clone()), Some(u.clone()), Some(v.to_string())),
            None => (None, None, None),
        };
        HttpLog {
            method,
            uri,
            version,
            status: self.txn.status,
            req_captures: self.txn.req_captures.clone(),
            res_captures: self.txn.res_captures.clone(),
            t_handshake: Duration::ZERO,
            t_idle,
            t_request: since(self.first_byte, self.head_at).filter(|_| self.dropped.is_none() && self.txn.tarpit_since.is_none()),
            t_response: since(self.req_sent, self.res_head_at).filter(|_| self.dropped != Some(true)),
            // The transaction's start: the log adds Th and Ti for `%tr`.
            request_date: Some(self.txn_date.get()),
            cookie_req: self.txn.cookie_req.clone(),
            cookie_res: self.txn.cookie_res.clone(),
            cookie_flags: [0; 2],
            level: self.txn.log_level,
            silent: self.txn.silent,
            logasap: false,
        }
    }

    /// Whether the response's status line went to the client.
    pub(super) fn res_started(&self) -> bool {
        self.res_started
    }

    /// The response so far is dropped: the request is sent again (`super::l7retry`).
    pub(super) fn l7_discard_response(&mut self) {
        self.res.reset();
        self.res_parser = None;
        if self.txn.res.is_some() {
            self.txn.res = None;
        }
        self.req_sent = None;
        self.res_head_at = None;
    }

    /// Starts the next transaction on the same client connection.
    fn next_txn(&mut self, now: Instant, date: SystemTime, bytes: (u64, u64)) {
        self.txn.release();
        self.req.reset();
        self.res.reset();
        self.req_parser = None;
        self.res_parser = None;
        self.line = None;
        self.rules_at = RulesAt::FrontendRequest;
        self.rule_cursor = 0;
        self.be_rules_started = false;
        self.body_buffered = false;
        self.res_rules = (0, 0);
        self.client_keep_alive = false;
        self.server_keep_alive = false;
        self.client_persistent = false;
        self.reply_close = true;
        self.after_pending = false;
        self.after_ran = false;
        self.reply_term = Termination::NORMAL;
        self.res_started = false;
        self.logged_asap = false;
        self.silent_close = false;
        self.dropped = None;
        self.req_error = None;
        self.replay = false;
        self.l7 = Default::default();
        self.done += 1;
        self.service = None;
        self.service_answered = false;
        self.txn_start = now;
        self.txn_date = date.into();
        self.first_byte = None;
        self.head_at = None;
        self.req_sent = None;
        self.res_head_at = None;
        self.bytes_at_start = bytes;
    }
}

/// Whether a client connection speaks HTTP/2 (see [`h2_start`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum H2Start {
    Yes,
    /// The bytes so far are the start of the preface.
    Maybe,
    No,
}

/// HTTP/2 "prior knowledge": the first bytes are the connection preface (HAProxy
/// detects it on any HTTP bind unless `option disable-h2-upgrade`).
fn h2_start(data: &[u8]) -> H2Start {
    let p = crate::http::h2::PREFACE;
    if data.starts_with(p) {
        H2Start::Yes
    } else if !data.is_empty() && p.starts_with(data) {
        H2Start::Maybe
    } else {
        H2Start::No
    }
}

/// Whether `ip` is in `net` (`except` of `option forwardfor` / `originalto`).
fn in_net(ip: IpAddr, (net, len): (IpAddr, u8)) -> bool {
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

/// A WebSocket upgrade (RFC 6455 §4.1) must carry `Sec-WebSocket-Key`.
fn is_websocket_without_key(req: &crate::http::Request) -> bool {
    req.upgrade().is_some_and(|u| u.eq_ignore_ascii_case(b"websocket")) && !req.headers.contains("sec-websocket-key")
}

/// The payload of the (possibly partial) body `bytes` framed as `framing`: what
/// `req.body` returns after `option http-buffer-request` (chunk framing removed).
fn payload(framing: BodyFraming, limits: &Limits, bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    if framing == BodyFraming::None {
        return out;
    }
    let mut dec = BodyDecoder::new(framing, limits);
    let mut at = 0;
    while let Ok(d) = dec.decode(&bytes[at..]) {
        out.extend_from_slice(&bytes[at..][d.data.clone()]);
        at += d.consumed;
        if d.done || d.consumed == 0 {
            break;
        }
    }
    out
}

/// Rewrites the `Connection` header: its `close` and `keep-alive` tokens are replaced
/// by `token` (none: the version's default), other tokens are kept.
fn set_connection(headers: &mut Headers, token: Option<&str>) {
    let mut tokens: Vec<Vec<u8>> = headers
        .list("connection")
        .filter(|t| !t.eq_ignore_ascii_case(b"close") && !t.eq_ignore_ascii_case(b"keep-alive"))
        .map(<[u8]>::to_vec)
        .collect();
    let had = headers.contains("connection");
    if let Some(t) = token {
        tokens.push(t.as_bytes().to_vec());
    }
    if tokens.is_empty() {
        if had {
            headers.del("connection");
        }
        return;
    }
    headers.set("Connection", tokens.join(&b", "[..]));
}

/// The status code of a complete response the proxy generated.
pub(super) fn status_of(response: &[u8]) -> Option<u16> {
    let line = response.split(|&b| b == b'\r').next()?;
    std::str::from_utf8(line).ok()?.split(' ').nth(1)?.parse().ok()
}

/// How long to keep reading (and discarding) what a client still sends after the
/// proxy's final response to a request not read entirely, so that closing does not
/// reset the connection before the client read the response.
const LINGER: Duration = Duration::from_secs(1);

impl Stream {
    /// Puts a new stream of a `mode http` frontend in HTTP mode, waiting for its first
    /// request head. Called once, before the first event.
    pub fn with_http(mut self, limits: Limits) -> Stream {
        debug_assert_eq!(self.state, State::Route);
        self.http = Some(Box::new(HttpSide::new(limits, self.accept_at, self.accept_date.get())));
        self.state = State::HttpHead;
        self
    }

    /// The runtime logs these transactions (finished on a connection that stays open)
    /// now; the last transaction is logged when the stream closes.
    pub fn take_txn_logs(&mut self) -> Vec<StreamLog> {
        self.http.as_mut().map(|h| std::mem::take(&mut h.logs)).unwrap_or_default()
    }

    /// Soft stop: a kept-alive connection waiting for its next request is closed now
    /// (without a log line), unless `option idle-close-on-response`; one in a
    /// transaction closes after its response (which says `Connection: close`). TCP streams are left alone. Returns the stream's life.
    pub fn soft_stop(&mut self, env: &mut Env<'_, '_>) -> super::Life {
        let Some(h) = self.http.as_mut() else { return super::Life::Alive };
        h.stopping = true;
        // `option idle-close-on-response`: the idle connection waits for a last request.
        let wait_request = env.proxies[self.frontend].options.idle_close_on_response;
        if !wait_request && self.state == State::HttpHead && h.done > 0 && h.txn.req.is_none() && self.req.buf.is_empty() {
            h.log_at_close = false;
            self.close(env, Cause::None, Phase::Request);
            return super::Life::Finished;
        }
        super::Life::Alive
    }

    /// Whether the runtime logs this stream when it closes.
    pub fn logs_at_close(&self) -> bool {
        self.http.as_ref().is_none_or(|h| h.log_at_close)
    }

    /// The transaction's line is already out (`option logasap`): none at close,
    /// though the stream still counts in the statistics.
    pub fn logged_early(&self) -> bool {
        self.http.as_ref().is_some_and(|h| h.logged_asap)
    }

    /// `option logasap`: the line of the transaction goes out now that the response
    /// head is on its way, with the times and bytes so far (`+` before `%Tt %Ta %B`).
    fn http_logasap(&mut self, env: &mut Env<'_, '_>) {
        let fe = &env.proxies[self.frontend];
        if !fe.options.logasap || !fe.logs_streams {
            return;
        }
        let now = env.cx.now;
        let mut rec = lua::in_rules(env.cx, env.proxies, &*env.pool, || self.log_record(env.proxies, env.pool, now, 0));
        let h = self.http.as_mut().expect("HTTP mode");
        // The head just written counts as sent.
        rec.bytes_out += h.res.out.len() as u64;
        if let Some(http) = rec.http.as_mut() {
            http.logasap = true;
        }
        h.logged_asap = true;
        h.logs.push(rec);
    }

    pub(super) fn http_mut(&mut self) -> &mut HttpSide {
        self.http.as_mut().expect("HTTP mode")
    }

    /// The timeouts of the backend once chosen, else of the frontend.
    fn be_timeouts<'p>(&self, env: &'p Env<'_, '_>) -> &'p Timeouts {
        &env.proxies[self.backend.unwrap_or(self.frontend)].timeouts
    }

    // ---- HttpHead ---------------------------------------------------------------

    /// Waits for a request head, parses it and runs the frontend's request rules.
    pub(super) fn http_head(&mut self, env: &mut Env<'_, '_>) {
        let now = env.cx.now;
        // One capture slot per declaration, even when nothing is captured (`{|}` in logs).
        let (nreq, nres) = {
            let fe = &env.proxies[self.frontend];
            (fe.req_captures.len(), fe.res_captures.len())
        };
        // Read first: an idle connection's transaction is only allocated by a write.
        let txn = &mut self.http_mut().txn;
        if txn.req_captures.len() < nreq {
            txn.req_captures.resize(nreq, None);
        }
        if txn.res_captures.len() < nres {
            txn.res_captures.resize(nres, None);
        }
        let idle_between = self.http_mut().done > 0;
        if let Some(idle) = self.http_mut().idle.as_mut().and_then(|s| s.conn.as_mut()) {
            if idle.readable || idle.hup {
                // The server closed (or talked out of turn) while idle: forget it.
                let mut side = self.http_mut().idle.take().expect("idle");
                crate::stats::account_private_idle(env.proxies, side.be(), side.srv(), -1);
                if let Some(c) = side.conn.as_mut() {
                    c.deregister(env.cx.registry);
                }
            }
        }
        let read = self.read_client_early(env);
        if self.http_mut().txn.req.is_some() {
            // Resuming: buffering the body, or the rules after a yield.
            if let Err(cause) = read {
                if let Some(status) = self.http_mut().req_error {
                    return self.http_reject(env, status, Termination::new(Cause::ProxyAbort, Phase::Request));
                }
                return self.close(env, cause, Phase::Request);
            }
        } else {
            let nothing = self.req.buf.is_empty();
            // Nothing received: between two requests, the normal end of a kept-alive
            // connection; before the first one, a probe `option http-ignore-probes`
            // ignores. Neither gets a 408 or a log line.
            let quiet = nothing && (idle_between || env.proxies[self.frontend].options.http_ignore_probes);
            if read.is_err() || (nothing && self.req.eof) {
                if quiet {
                    self.http_mut().log_at_close = false;
                }
                let cause = if quiet {
                    Cause::None
                } else {
                    // HAProxy logs an aborted request as a 400 (`CR`), sent or not.
                    self.http_mut().txn.status = Some(400);
                    Cause::ClientAbort
                };
                return self.close(env, cause, Phase::Request);
            }
            // HTTP/2 (ALPN `h2`, or the client's connection preface): handed over
            // before anything is parsed (see `Life::H2`); a partial preface waits.
            let h2 = if idle_between || self.client.h2_conn().is_some() {
                H2Start::No
            } else if self.client.alpn_is_h2() {
                H2Start::Yes
            } else if env.proxies[self.frontend].options.disable_h2_upgrade {
                H2Start::No
            } else {
                h2_start(self.req.buf.data())
            };
            if h2 == H2Start::Yes {
                self.h2_handover = true;
                return;
            }
            let fe = &env.proxies[self.frontend].timeouts;
            let req_timeout = fe.http_request.or(fe.client);
            let h = self.http.as_mut().expect("HTTP mode");
            if !nothing && h.first_byte.is_none() {
                h.first_byte = Some(now);
            }
            // `timeout http-keep-alive` bounds the wait for the first byte of a next
            // request, then `timeout http-request` the head from that byte on.
            let (timeout, from) = match (idle_between, h.first_byte) {
                (true, None) => (fe.http_keep_alive.or(req_timeout), h.txn_start),
                (true, Some(first)) => (req_timeout, first),
                (false, _) => (req_timeout, h.txn_start),
            };
            let deadline = timeout.map(|t| from + t);
            // No parser for an empty buffer: an idle connection keeps none.
            let parsed = if nothing || h2 == H2Start::Maybe {
                Ok(Status::Partial)
            } else {
                let fe = &env.proxies[self.frontend];
                let (lenient, any_method) = (fe.options.accept_invalid_http_request, fe.h1_payload_any_method);
                let parser = h.req_parser.get_or_insert_with(|| {
                    Box::new(RequestParser::new(h.limits).accept_invalid(lenient).accept_payload_with_any_method(any_method))
                });
                parser.parse(self.req.buf.data())
            };
            match parsed {
                Err(e) => {
                    ::log::debug!("stream {}: request rejected: {e}", self.id);
                    crate::stats::errors::capture(crate::stats::errors::Capture {
                        side: crate::stats::errors::Side::Request,
                        proxy: self.frontend,
                        other: None,
                        server: None,
                        src: self.src,
                        bytes: self.req.buf.data().to_vec(),
                        error_at: usize::try_from(e.offset).unwrap_or(usize::MAX),
                        bufsize: self.req.buf.capacity(),
                    });
                    return self.http_reject(env, e.kind.status(), Termination::new(Cause::ProxyAbort, Phase::Request));
                }
                Ok(Status::Partial) => {
                    if deadline.is_some_and(|d| d <= now) {
                        if quiet {
                            h.log_at_close = false;
                            return self.close(env, Cause::None, Phase::Request);
                        }
                        return self.http_reject(env, 408, Termination::new(Cause::ClientTimeout, Phase::Request));
                    }
                    if self.req.eof {
                        // Closed in the middle of a head.
                        return self.http_reject(env, 400, Termination::new(Cause::ClientAbort, Phase::Request));
                    }
                    self.state_deadline = deadline;
                    return;
                }
                Ok(Status::Complete(mut req, n)) => {
                    if self.client.h2_conn().is_some() {
                        // Translated from HTTP/2 (`crate::http::h2`): what logs and fetches see.
                        req.line.version = crate::http::Version::Http2;
                    }
                    crate::stats::account_request(&mut env.proxies[self.frontend], now);
                    crate::stick::session::http_request();
                    if is_websocket_without_key(&req) {
                        // HAProxy 2.6 answers such an upgrade 400 too.
                        return self.http_reject(env, 400, Termination::new(Cause::ProxyAbort, Phase::Request));
                    }
                    self.req.buf.consumed(n);
                    h.req_parser = None;
                    h.head_at = Some(now);
                    let fe = &env.proxies[self.frontend];
                    if fe.logs_streams {
                        h.line = Some(Box::new((req.line.method.to_string(), req.line.target.clone(), req.line.version.as_str())));
                    }
                    h.req.start_body(req.framing, &h.limits);
                    h.client_persistent = req.keep_alive();
                    let mut req = req;
                    // Captures see the request as received, before any rule rewrites it.
                    capture::capture_headers(&fe.req_captures, &req.headers, &mut h.txn.req_captures);
                    if let Some(c) = &fe.capture_cookie {
                        h.txn.cookie_req = capture::capture_request_cookie(c, &req.headers);
                    }
                    if let Some(format) = &fe.unique_id {
                        let rec = StreamLog {
                            stream_id: self.id,
                            accept_date: self.accept_date.get(),
                            client: self.src,
                            frontend_addr: self.dst,
                            frontend: fe.name.clone(),
                            ..StreamLog::default()
                        };
                        let id = capture::unique_id(format, &rec, None);
                        if let Some(name) = &fe.unique_id_header {
                            capture::unique_id_header(&mut req.headers, name, &id);
                        }
                        h.txn.unique_id = Some(id);
                    }
                    h.txn.req = Some(req);
                    h.rules_at = RulesAt::FrontendRequest;
                    h.rule_cursor = 0;
                    self.state_deadline = None;
                }
            }
        }
        // Lua filters: their instances and `start_analyze(req)`.
        if !self.flt_txn_start(env) || !self.http_buffer_body(env) {
            return;
        }
        // `tcp-request content` rules come first, then the frontend's HTTP rules
        // (resumed here after a yield); SPOE events before each (`super::spoe`).
        if !self.spoe_event(env, SpoeEvent::ClientSession) || !self.spoe_event(env, SpoeEvent::FrontendTcpRequest) {
            return;
        }
        if !self.tcp_content_rules(env) || self.http_monitor(env) {
            return;
        }
        if !self.http_body_wait(env) || !self.spoe_event(env, SpoeEvent::FrontendHttpRequest) || !self.http_request_rules(env, self.frontend, Phase::Request) {
            return;
        }
        self.http_mut().rules_at = RulesAt::BackendRequest;
        self.goto(State::Route);
    }

    /// `monitor-uri`: a request for exactly the frontend's monitor URI is answered here,
    /// before the HTTP rules: the `200` page ("Service ready."), or the `503` one when
    /// a `monitor fail` condition holds (both `errorfile`-able). As HAProxy, without a
    /// log line nor `http-after-response` rules. True when it answered.
    fn http_monitor(&mut self, env: &mut Env<'_, '_>) -> bool {
        let fe = &env.proxies[self.frontend];
        let Some(m) = fe.monitor.as_deref() else { return false };
        let h = self.http.as_mut().expect("HTTP mode");
        if h.txn.req.as_ref().is_none_or(|r| r.line.target != m.uri) {
            return false;
        }
        let failed = {
            let renv = super::frontend_rule_env(self.src, self.dst, fe, &mut h.sess_vars, self.client.tls_info().cloned(), conn_facts!(self).in_txn(h.done));
            let cx = rules::RuleCtx::new(&renv, &h.txn);
            m.fail.iter().any(|c| c.eval(&fe.acls, &cx))
        };
        h.txn.silent = true;
        h.after_ran = true;
        let page = errors::page_for(if failed { 503 } else { 200 }, None, &fe.error_pages).into_owned();
        let close = head_says_close(&page);
        self.http_local_reply(env, page, close, Termination::new(Cause::Local, Phase::Request));
        true
    }

    /// `option http-buffer-request` (frontend): before the rules run, wait until the
    /// whole body is buffered (or the buffer is full, or the client closed), bounded by
    /// `timeout http-request`, and give the payload to the rules as `txn.req_body`.
    /// False while waiting (or answered: a bad body is a 400, a slow one a 408).
    fn http_buffer_body(&mut self, env: &mut Env<'_, '_>) -> bool {
        if !env.proxies[self.frontend].options.http.buffer_request || self.http_mut().body_buffered {
            return true;
        }
        if self.http_scan_early().is_err() {
            let status = self.http_mut().req_error.unwrap_or(400);
            self.http_reject(env, status, Termination::new(Cause::ProxyAbort, Phase::Request));
            return false;
        }
        let fe = &env.proxies[self.frontend].timeouts;
        let timeout = fe.http_request.or(fe.client);
        let h = self.http.as_mut().expect("HTTP mode");
        if h.req.stage == Stage::Body && !self.req.eof && !self.req.buf.is_full() {
            if !self.http_send_continue(env) {
                return false;
            }
            let h = self.http.as_mut().expect("HTTP mode");
            let deadline = timeout.map(|t| h.first_byte.unwrap_or(h.txn_start) + t);
            if deadline.is_some_and(|d| d <= env.cx.now) {
                self.http_reject(env, 408, Termination::new(Cause::ClientTimeout, Phase::Request));
            } else {
                self.state_deadline = deadline;
            }
            return false;
        }
        let framing = h.txn.req.as_ref().map_or(BodyFraming::None, |r| r.framing);
        h.txn.req_body = payload(framing, &h.limits, &self.req.buf.data()[..h.req.fwd]);
        h.body_buffered = true;
        self.state_deadline = None;
        true
    }

    /// A client waiting for `100 Continue` before its body gets it from the proxy while
    /// the proxy waits for the body itself (the server will not be asked: the
    /// expectation is removed). False when the client is gone (the stream closed).
    pub(super) fn http_send_continue(&mut self, env: &mut Env<'_, '_>) -> bool {
        let h = self.http.as_mut().expect("HTTP mode");
        let Some(req) = h.txn.req.as_mut().filter(|r| r.expects_continue()) else { return true };
        req.headers.del("expect");
        let mut interim = b"HTTP/1.1 100 Continue\r\n\r\n".to_vec();
        let (n, end) = self.client.write_vec(&mut interim);
        self.res.total += n as u64;
        if end != WriteEnd::Drained {
            // 25 bytes on a connection with nothing in flight: only a dead client does
            // not take them.
            self.close(env, Cause::ClientAbort, Phase::Request);
            return false;
        }
        true
    }

    /// Runs `proxy`'s `http-request` rules from the cursor; false when the stream must
    /// not go on (it waits, or answers by itself).
    fn http_request_rules(&mut self, env: &mut Env<'_, '_>, proxy: usize, phase: Phase) -> bool {
        // A `send-spoe-group` waiting for its agent: the rules go on once it answered.
        if !self.spoe_group_pending(env) {
            return false;
        }
        self.refresh_live_facts(env, false);
        let policy = env.proxies[proxy].options.restrict_req_hdr_names;
        let req = self.http_mut().txn.req.as_mut();
        if req.is_some_and(|r| !crate::http::options::restrict_header_names(policy, &mut r.headers)) {
            self.http_reject(env, 403, Termination::new(Cause::ProxyAbort, Phase::Request));
            return false;
        }
        let p = &env.proxies[proxy];
        // Nothing to run and nothing that answers after the rules (most proxies, and
        // each request goes through two of them): no rule environment to set up.
        let waiting = self.lua.as_ref().is_some_and(|l| l.pending()) || self.inspect.as_ref().is_some_and(|i| i.resolution.is_some());
        if p.http_rules.request.is_empty() && p.stats_page.is_none() && !waiting {
            return true;
        }
        let be_name = self.backend.map(|b| env.proxies[b].name.as_str());
        let h = self.http.as_mut().expect("HTTP mode");
        let mut renv = RuleEnv {
            src: self.src,
            dst: self.dst,
            frontend: &env.proxies[self.frontend].name,
            backend: be_name,
            server: None,
            sess_vars: &mut h.sess_vars,
            userlists: &env.proxies[self.frontend].userlists,
            tls: self.client.tls_info().cloned(),
            server_tls: None,
            conn: conn_facts!(self).in_txn(h.done),
        };
        // A Lua action in progress resumes first; a rule reaching one runs it, then the
        // list goes on after it.
        let mut start = None;
        let mut verdict = loop {
            // A `do-resolve` lookup in progress: its answer, or wait on.
            if let Some(r) = self.inspect.as_mut().and_then(|i| i.resolution.as_mut()) {
                match r.poll(env.cx.now) {
                    None => break Verdict::Yield(WaitFor::Timer(r.deadline())),
                    Some(found) => {
                        if let Some(ip) = found {
                            resolve::store(r.var(), ip, renv.sess_vars, &mut h.txn.vars);
                        }
                        if let Some(i) = self.inspect.as_mut() {
                            i.resolution = None;
                        }
                    }
                }
            }
            if start.is_some() || self.lua.as_ref().is_some_and(|l| l.pending()) {
                let step = lua::run_action(&mut self.lua, env.cx, env.proxies, &*env.pool, env.key, start.take().as_ref(), &mut h.txn, &mut renv, lua::Side::Request);
                match step {
                    LuaStep::Next => {}
                    LuaStep::Stop => break Verdict::Continue,
                    LuaStep::Wait(w) => break Verdict::Yield(w),
                    LuaStep::Verdict(v) => break v,
                    LuaStep::Close => {
                        self.close(env, Cause::ProxyAbort, phase);
                        return false;
                    }
                }
            }
            // No rule environment to set up for an empty list (most backends).
            if p.http_rules.request.is_empty() {
                break Verdict::Continue;
            }
            let ran = lua::in_rules(env.cx, env.proxies, &*env.pool, || {
                rules::run_request(&p.http_rules, &mut h.rule_cursor, &mut h.txn, &mut renv)
            });
            match ran {
                Verdict::Lua(a) => start = Some(a),
                Verdict::Resolve(req) => {
                    let token = token::encode(Kind::Resolve, env.key);
                    // A lookup that cannot start leaves the variable unset.
                    let started = resolve::Resolution::begin(env.cx.registry, token, *req, env.cx.now, None);
                    self.inspect.get_or_insert_with(Default::default).resolution = started;
                }
                v => break v,
            }
        };
        // `set-src`, `set-dst`...: the rest of the stream (logs, `option forwardfor`,
        // the next proxy's rules) sees the rewritten addresses.
        let addrs = (renv.src, renv.dst);
        if addrs != (self.src, self.dst) {
            h.txn.conn_addrs.get_or_insert((self.src, self.dst));
            (self.src, self.dst) = addrs;
        }
        // `send-spoe-group`: the group is sent, then the rules go on after the rule.
        if let Verdict::Spoe(g) = &verdict {
            let g = g.clone();
            return self.spoe_group(env, proxy, &g) && self.http_request_rules(env, proxy, phase);
        }
        // `use-service prometheus-exporter`: the exporter answers at once.
        if matches!(&verdict, Verdict::UseService(s) if s == crate::stats::prometheus::SERVICE) {
            let mut view = crate::stats::View::new(env.proxies, &*env.pool, env.cx.now);
            view.serving = Some(proxy);
            let req = h.txn.req.as_ref();
            let target = req.map_or("", |r| r.line.target.as_str());
            let head_only = req.is_some_and(|r| r.line.method == crate::http::Method::Head);
            verdict = crate::stats::prometheus::answer(&view, target, head_only);
            h.service = Some(crate::stats::prometheus::LOG_SERVER_NAME);
            h.service_answered = matches!(verdict, Verdict::Reply { .. });
            if h.service_answered {
                crate::stats::account_intercepted(&mut env.proxies[proxy]);
            }
            return self.http_verdict(env, verdict, phase);
        }
        // `cache-use` found the answer: logged as HAProxy logs its cache applet (`<CACHE>`).
        if let Some(response) = crate::http::cache::after_request_rules(&mut h.txn.cache, &verdict) {
            verdict = Verdict::Reply { response, close: false };
            (h.service, h.service_answered) = (Some(crate::http::cache::LOG_SERVER_NAME), true);
        }
        // The stats page (`stats enable`) answers here, once the rules let the request in.
        let mut stats = None;
        if let (Verdict::Continue, Some(page)) = (&verdict, p.stats_page.as_deref()) {
            let view = crate::stats::View::new(env.proxies, &*env.pool, env.cx.now);
            if let Some(answer) = page.intercept(&view, proxy, &h.txn, &renv) {
                (verdict, stats) = (answer.verdict, Some(answer.served));
            }
        }
        if let Some(served) = stats {
            h.service = Some(crate::stats::page::LOG_SERVER_NAME);
            h.service_answered = served;
            if served {
                crate::stats::account_intercepted(&mut env.proxies[proxy]);
            }
        }
        self.http_verdict(env, verdict, phase)
    }

    /// Acts on a request-side verdict; true for `Continue`.
    pub(super) fn http_verdict(&mut self, env: &mut Env<'_, '_>, verdict: Verdict, phase: Phase) -> bool {
        match verdict {
            Verdict::Continue => return true,
            Verdict::Deny { status } => self.http_reject(env, status, Termination::new(Cause::ProxyAbort, phase)),
            Verdict::DenyWith(response) => {
                if let Some(status) = status_of(&response) {
                    crate::stick::session::http_status(status);
                }
                self.http_local_reply(env, response, false, Termination::new(Cause::ProxyAbort, phase));
            }
            Verdict::Drop { silent } => self.http_drop(env, silent, false),
            Verdict::Tarpit { status, response } => {
                let t = self.be_timeouts(env);
                let delay = t.tarpit.or(t.connect).unwrap_or_default();
                let h = self.http_mut();
                h.tarpit_status = status;
                h.txn.tarpit_reply = response;
                h.txn.tarpit_since = Some(env.cx.now);
                self.state_deadline = Some(env.cx.now + delay);
                self.goto(State::Tarpit);
            }
            Verdict::Reply { response, close } => {
                self.http_local_reply(env, response, close, Termination::new(Cause::Local, phase))
            }
            Verdict::UseService(name) => self.http_start_service(env, &name, phase),
            Verdict::Yield(WaitFor::Forced) => env.cx.wake.push(Kind::Client, env.key),
            Verdict::Yield(WaitFor::Timer(at)) => self.state_deadline = Some(at),
            Verdict::Yield(WaitFor::ClientData) => {}
            Verdict::Yield(WaitFor::Body { time, at_least }) => self.http_start_body_wait(env, time, at_least),
            Verdict::EarlyHint(msg) => self.http_send_early_hint(env, msg),
            // Run by `http_request_rules` before a verdict gets here.
            Verdict::Lua(_) | Verdict::Spoe(_) | Verdict::Resolve(_) => return true,
        }
        false
    }

    // ---- Route (HTTP part) -------------------------------------------------------

    /// Once `use_backend` chose the backend: its `http-request` rules (unless it is
    /// the frontend itself), then the head is rewritten and queued for the server.
    /// False when the stream must not connect (yet).
    pub(super) fn http_backend_rules(&mut self, env: &mut Env<'_, '_>) -> bool {
        let be = self.backend.expect("a backend was chosen");
        if self.http_mut().rules_at == RulesAt::BackendRequest {
            if be != self.frontend {
                let h = self.http_mut();
                if !h.be_rules_started {
                    // The frontend's list left the cursor at its end.
                    h.be_rules_started = true;
                    h.rule_cursor = 0;
                }
                if !self.flt_backend(env, be) || !self.http_body_wait(env) || !self.spoe_event(env, SpoeEvent::BackendHttpRequest) || !self.http_request_rules(env, be, Phase::Request) {
                    return false;
                }
            }
            if !self.flt_http_headers(env, false) {
                return false;
            }
            self.http_prepare_request(env);
            if !self.http_fcgi_prepare(env) {
                return false;
            }
            self.http_mut().rules_at = RulesAt::RequestDone;
        }
        true
    }

    /// The request head as it goes to the server: `X-Forwarded-For`, `X-Original-To`,
    /// the `Connection` header the connection mode asks for; written to `req.out`.
    fn http_prepare_request(&mut self, env: &mut Env<'_, '_>) {
        let fe = &env.proxies[self.frontend].options.http;
        let be = &env.proxies[self.backend.unwrap_or(self.frontend)].options.http;
        let mode = fe.conn_mode.unwrap_or_default().max(be.conn_mode.unwrap_or_default());
        let pretend = fe.pretend_keepalive || be.pretend_keepalive;
        let forwardfor = be.forwardfor.as_ref().or(fe.forwardfor.as_ref()).cloned();
        let originalto = be.originalto.as_ref().or(fe.originalto.as_ref()).cloned();
        let (src, dst) = (self.src, self.dst);
        self.persist_request(env);
        let (fe_comp, be_comp) = (&env.proxies[self.frontend].compression, &env.proxies[self.backend.unwrap_or(self.frontend)].compression);
        let h = self.http.as_mut().expect("HTTP mode");
        h.conn_mode = mode;
        compress::on_request(&mut h.txn, fe_comp.as_deref(), be_comp.as_deref());
        let req = h.txn.req.as_mut().expect("a parsed request");
        h.client_persistent = req.keep_alive(); // as the rules left it
        if let (Some(ff), Some(src)) = (forwardfor, src) {
            let skip = ff.except.is_some_and(|net| in_net(src.ip(), net)) || (ff.if_none && req.headers.contains(&ff.header));
            if !skip {
                req.headers.add(ff.header, src.ip().to_string());
            }
        }
        if let (Some(ot), Some(dst)) = (originalto, dst) {
            if !ot.except.is_some_and(|net| in_net(dst.ip(), net)) {
                req.headers.set(ot.header, dst.ip().to_string());
            }
        }
        if mode != HttpConnMode::KeepAlive && !pretend && req.upgrade().is_none() {
            req.headers.set("Connection", "close");
        }
        h.req.out.clear();
        req.write_head(&mut h.req.out);
    }

    /// `use-fcgi-app`: the CGI variables of the request, for a FastCGI server
    /// (`crate::http::fcgi::App::prepare`). False when the request was refused.
    fn http_fcgi_prepare(&mut self, env: &mut Env<'_, '_>) -> bool {
        let be = self.backend.unwrap_or(self.frontend);
        let Some(app) = env.proxies[be].fcgi.as_ref().map(|f| f.app.clone()) else { return true };
        let facts = crate::http::fcgi::ConnFacts { src: self.src, dst: self.dst, tls: self.client.is_tls() };
        let fe = &env.proxies[self.frontend];
        let h = self.http.as_mut().expect("HTTP mode");
        let mut renv = super::frontend_rule_env(self.src, self.dst, fe, &mut h.sess_vars, self.client.tls_info().cloned(), conn_facts!(self).in_txn(h.done));
        renv.backend = Some(&env.proxies[be].name);
        let prepared = app.prepare(h.txn.req.as_ref().expect("a parsed request"), &rules::RuleCtx::new(&renv, &h.txn), &facts);
        match prepared {
            Ok(p) => {
                h.txn.fcgi = Some(std::sync::Arc::new(p));
                true
            }
            Err(status) => {
                self.http_reject(env, status, Termination::new(Cause::ProxyAbort, Phase::Request));
                false
            }
        }
    }

    // ---- Tarpit and LocalReply ---------------------------------------------------------

    pub(super) fn http_tarpit(&mut self, env: &mut Env<'_, '_>) {
        if self.read_client_early(env).is_err() {
            return self.close(env, Cause::ClientAbort, Phase::Tarpit);
        }
        self.req.buf.clear(); // a tarpitted client's bytes are not kept
        if self.state_deadline.is_some_and(|d| d <= env.cx.now) {
            let h = self.http_mut();
            let (status, reply) = (h.tarpit_status, h.txn.tarpit_reply.take());
            let term = Termination::new(Cause::ProxyAbort, Phase::Tarpit);
            match reply {
                // Kept open after it when the request allows, as after the error page
                // (HAProxy 2.6).
                Some(response) => self.http_local_reply(env, response, false, term),
                None => self.http_reject(env, status, term),
            }
        }
    }

    /// Answers with the error page for `status` (the backend's `errorfile`, else the
    /// frontend's, else the default); `term` is logged. As HAProxy 2.6 does, the client
    /// connection stays open after it unless the page says `connection: close` (the 400
    /// and 408 pages) or the request was not read to its end.
    /// `reject` and `silent-drop`: the client connection closes without an answer. HAProxy
    /// logs and counts it as a request the proxy refused (`PR`, `dreq` of the frontend and
    /// of the backend), on the response side too.
    /// Its log line has no request time (`TR` -1) on the request side, no response time
    /// (`Tr` -1) on the response side, as HAProxy's.
    fn http_drop(&mut self, env: &mut Env<'_, '_>, silent: bool, response: bool) {
        if silent {
            self.client.prepare_silent_drop();
        }
        if let Some(h) = self.http.as_mut() {
            h.silent_close = true;
            h.dropped = Some(response);
        }
        self.close(env, Cause::ProxyAbort, Phase::Request);
    }

    pub(super) fn http_reject(&mut self, env: &mut Env<'_, '_>, status: u16, term: Termination) {
        crate::stick::session::http_status(status);
        if let Some(reply) = self.http_error_reply(env, status) {
            return self.http_local_reply(env, reply, false, term);
        }
        let be = self.backend.filter(|&b| b != self.frontend).map(|b| &env.proxies[b].error_pages);
        let page = errors::page_for(status, be, &env.proxies[self.frontend].error_pages).into_owned();
        let close = head_says_close(&page);
        self.http_local_reply(env, page, close, term)
    }

    /// Sends `response` (a complete response the proxy made) instead of a server's;
    /// any server connection of this transaction is closed.
    pub(super) fn http_local_reply(&mut self, env: &mut Env<'_, '_>, response: Vec<u8>, close: bool, term: Termination) {
        let status = status_of(&response);
        let keep = self.http_reply_keeps(close);
        let mut response = response;
        if !keep {
            // Tell the client the connection ends here (harmless for HTTP/1.0).
            add_close_header(&mut response);
        }
        self.http_local_reply_rest(env, response, status, keep, term);
    }

    /// Whether the connection may stay open after the proxy's own response: only for a
    /// request fully read and not asking to close (nor `close` asked), and not while
    /// the process is stopping.
    pub(super) fn http_reply_keeps(&self, close: bool) -> bool {
        let h = self.http.as_ref().expect("HTTP mode");
        !close && !h.stopping && h.req_error.is_none() && h.req.stage == Stage::Done && h.req.fwd == 0 && h.client_persistent
    }

    /// Sends `rest`, the end of a response the proxy made (all of it, or what follows
    /// the part a service already sent), whose head said `status` and, unless `keep`,
    /// `connection: close`.
    pub(super) fn http_local_reply_rest(&mut self, env: &mut Env<'_, '_>, mut rest: Vec<u8>, status: Option<u16>, keep: bool, term: Termination) {
        self.drop_server(env);
        let after = self.http_after_rules_apply(env, &rest);
        let h = self.http.as_mut().expect("HTTP mode");
        h.txn.status = status.or(h.txn.status);
        h.after_pending = false;
        if let Some((head, len)) = after {
            // `http_local_replying` runs the rules on the head, then sends it.
            h.txn.res = Some(head);
            rest.drain(..len);
            // A response from the cache goes through the `http-response` rules too,
            // as HAProxy's cache applet's does; the proxy's others only through the
            // `http-after-response` ones.
            h.res_rules = (if h.txn.cache.hit.is_some() { 0 } else { 2 }, 0);
            h.after_pending = true;
            h.after_ran = true;
        }
        h.res.reset();
        h.res.out = rest;
        h.res.stage = Stage::Done;
        h.res_started = true;
        h.reply_close = !keep;
        h.reply_term = term;
        self.res.buf.clear();
        let fe = &env.proxies[self.frontend].timeouts;
        self.state_deadline = fe.client.map(|t| env.cx.now + t);
        self.client_last = env.cx.now;
        self.goto(State::LocalReply);
        if keep && self.http_mut().res.out.is_empty() && !self.http_mut().after_pending {
            // A service already sent everything: the transaction ends here.
            self.http_end_txn(env);
        }
    }

    /// The head of `reply` (a whole response the proxy made: `return`, `deny`, a
    /// redirect, an error page) and its length, when `http-after-response` rules of
    /// the backend or the frontend must see it first — as HAProxy runs them on its
    /// own responses too, once per transaction.
    fn http_after_rules_apply(&self, env: &Env<'_, '_>, reply: &[u8]) -> Option<(crate::http::Response, usize)> {
        let h = self.http.as_ref()?;
        let be = self.backend.unwrap_or(self.frontend);
        let from_cache = h.txn.cache.hit.is_some();
        let has_rules = |p: usize| {
            let rules = &env.proxies[p].http_rules;
            !rules.after_response.is_empty() || (from_cache && !rules.response.is_empty())
        };
        if h.after_ran || !reply.starts_with(b"HTTP/") || !(has_rules(be) || has_rules(self.frontend)) {
            return None;
        }
        let method = h.txn.req.as_ref().map_or(Method::Get, |r| r.line.method.clone());
        match ResponseParser::new(Limits::default(), method).parse(reply) {
            Ok(Status::Complete(head, len)) => Some((head, len)),
            _ => None,
        }
    }

    /// Runs the `http-after-response` rules on the proxy's own response (see
    /// [`Self::http_after_rules_apply`]) and puts its head, as they left it, before its
    /// body. False while they wait (a Lua action) or when the stream closed.
    fn http_local_after_rules(&mut self, env: &mut Env<'_, '_>) -> bool {
        let done = self.http_response_rules(env);
        if self.state != State::LocalReply {
            return false;
        }
        let h = self.http.as_mut().expect("HTTP mode");
        if !h.after_pending {
            // A rule answered by itself: that answer replaced this one.
            return true;
        }
        if !done {
            return false;
        }
        h.after_pending = false;
        if let Some(res) = h.txn.res.as_ref() {
            let mut out = Vec::with_capacity(h.res.out.len() + 256);
            res.write_head(&mut out);
            out.append(&mut h.res.out);
            h.res.out = out;
            h.txn.status = Some(res.line.status);
        }
        // A rule that waited moved the deadline: the client's timeout again.
        self.state_deadline = env.proxies[self.frontend].timeouts.client.map(|t| env.cx.now + t);
        true
    }

    /// Closes the server connection of the current transaction, if any, and gives its
    /// slot back.
    /// The forwarded response is sent and the connection closes, but the client is still
    /// sending its request body: shut our side, then drain until the client closes or
    /// [`LINGER`] passes (`http_local_replying`, which waits so for the proxy's own answers).
    fn http_linger(&mut self, env: &mut Env<'_, '_>) {
        self.drop_server(env);
        self.client.shutdown_write();
        let h = self.http_mut();
        h.res.out.clear();
        h.reply_close = true;
        h.after_pending = false;
        h.reply_term = Termination::NORMAL;
        self.state_deadline = Some(env.cx.now + LINGER);
        self.goto(State::LocalReply);
    }

    fn drop_server(&mut self, env: &mut Env<'_, '_>) {
        if let Some(mut side) = self.server.take() {
            if let Some(c) = side.conn.as_mut() {
                c.deregister(env.cx.registry);
            }
            if !side.released {
                env.pool.release(side.be(), side.srv());
                side.released = true;
            }
            // Keep the server for the log line and traces.
            side.conn = None;
            self.server = Some(side);
        }
    }

    /// A service of the proxy answers this transaction: the log shows `name` as the
    /// server, with no queue, connect or response time.
    /// `answered`: false when the service did not get to answer (a `-1` response time).
    pub(super) fn http_set_service(&mut self, name: &'static str, answered: bool) {
        let h = self.http_mut();
        h.service = Some(name);
        h.service_answered = answered;
    }

    /// The request body for a service: the payload buffered so far (framing removed),
    /// taken out of the request channel; and whether the whole body is there (false
    /// while it is still coming and there is room for more). `None` when the client
    /// closed before the end of its body.
    pub(super) fn http_service_body(&mut self, take: bool) -> Option<(Vec<u8>, bool)> {
        let h = self.http.as_mut().expect("HTTP mode");
        if h.req.stage == Stage::Body && self.req.eof {
            return None;
        }
        let complete = h.req.stage != Stage::Body || self.req.buf.is_full();
        if !take {
            return Some((Vec::new(), complete));
        }
        let framing = h.txn.req.as_ref().map_or(BodyFraming::None, |r| r.framing);
        let fwd = h.req.fwd;
        let body = payload(framing, &h.limits, &self.req.buf.data()[..fwd]);
        self.req.buf.consumed(fwd);
        h.req.sent(fwd);
        Some((body, complete))
    }

    pub(super) fn http_local_replying(&mut self, env: &mut Env<'_, '_>) {
        if self.http_mut().after_pending && !self.http_local_after_rules(env) {
            return;
        }
        let now = env.cx.now;
        let h = self.http.as_mut().expect("HTTP mode");
        if !h.res.out.is_empty() {
            if self.client.writable {
                let (n, end) = self.client.write_vec(&mut h.res.out);
                self.res.total += n as u64;
                if n > 0 {
                    self.client_last = now;
                }
                if end == WriteEnd::Error {
                    let phase = h.reply_term.phase;
                    return self.close(env, Cause::ClientAbort, phase);
                }
            }
            if !h.res.out.is_empty() {
                if self.state_deadline.is_some_and(|d| d <= now) {
                    let phase = h.reply_term.phase;
                    return self.close(env, Cause::ClientTimeout, phase);
                }
                return;
            }
            // Sent. Keep-alive after a `return` that allows it.
            if !h.reply_close {
                return self.http_end_txn(env);
            }
            self.client.shutdown_write();
            self.state_deadline = Some(now + LINGER);
        }
        // Sent and shut: read and discard until the client closes, so that our close
        // does not reset the connection under the response.
        loop {
            if !self.client.readable {
                break;
            }
            let (_, end) = self.client.read_into(&mut self.req.buf);
            self.req.buf.clear();
            match end {
                ReadEnd::Eof | ReadEnd::Error => {
                    let term = self.http_mut().reply_term;
                    return self.close(env, term.cause, term.phase);
                }
                ReadEnd::WouldBlock => break,
                ReadEnd::BufferFull => {}
            }
        }
        // A client whose request was read entirely has nothing more to send: once its
        // pending bytes are drained, closing cannot reset the connection. Otherwise
        // (a rejected head, a body still coming) wait for its close, a little.
        let h = self.http.as_ref().expect("HTTP mode");
        let request_read = matches!(h.req.stage, Stage::Done | Stage::Tunnel) && self.req.buf.is_empty();
        if request_read || self.client.hup || self.state_deadline.is_some_and(|d| d <= now) {
            let term = h.reply_term;
            self.close(env, term.cause, term.phase);
        }
    }

    /// In HTTP mode, the error page a closing stream owes the client instead of a
    /// silent close: 503 when no server could be reached, 502 for a server that failed
    /// before its response head (`SH`) or sent an invalid one (`PH`), 504 for one that
    /// did not answer in time (`sH`). `None` once
    /// a response started, or when the client is the one that left.
    pub(super) fn http_error_status(&self, cause: Cause, phase: Phase) -> Option<u16> {
        let h = self.http.as_ref()?;
        if h.res_started || h.silent_close || self.state == State::LocalReply || self.state == State::HttpHead {
            return None;
        }
        if let Some(status) = h.req_error {
            return Some(status);
        }
        match (cause, phase) {
            (Cause::ServerAbort | Cause::ServerTimeout | Cause::ProxyAbort | Cause::Resource, Phase::Queue | Phase::Connect | Phase::Request) => Some(503),
            (Cause::ServerTimeout, Phase::Headers) => Some(504),
            (Cause::ServerAbort | Cause::ProxyAbort | Cause::Internal, Phase::Headers) => Some(502),
            _ => None,
        }
    }

    /// Before the server is reached: check the request-body bytes already buffered, so
    /// a malformed body is answered 400 without contacting the server.
    pub(super) fn http_scan_early(&mut self) -> Result<(), Cause> {
        if self.flt_owns(false) {
            return Ok(()); // the Lua filters read it (`super::filter`)
        }
        if let Some(h) = self.http.as_mut() {
            if let Err(e) = h.req.scan(self.req.buf.data()) {
                ::log::debug!("stream {}: request body rejected: {e}", self.id);
                h.req_error = Some(e.kind.status());
                return Err(Cause::ProxyAbort);
            }
        }
        Ok(())
    }

    // ---- Forwarding -------------------------------------------------------------

    /// Forwarding in HTTP mode: both messages move with their framing, the response
    /// head is parsed and the transaction ends when the response was sent.
    pub(super) fn forward_http(&mut self, env: &mut Env<'_, '_>) {
        let now = env.cx.now;
        let abortonclose = env.proxies[self.backend.unwrap_or(self.frontend)].options.abortonclose;
        let l7_retries = env.proxies[self.backend.unwrap_or(self.frontend)].retry_on.any_l7();
        let mut rounds = 0;
        loop {
            rounds += 1;
            if rounds > super::MAX_FORWARD_ROUNDS {
                env.cx.wake.push(Kind::Client, env.key);
                break;
            }
            let mut progress = false;
            // Bodies the Lua filters own move through them (`super::filter`).
            let req_owned = self.flt_owns(false);
            if self.flt_active() {
                match self.flt_bodies(env) {
                    Ok(p) => progress = p,
                    Err(()) => return,
                }
            }
            let h = self.http.as_mut().expect("HTTP mode");
            let srv = self.server.as_mut().and_then(|s| s.conn.as_mut()).expect("forwarding has a server connection");
            let client = &mut self.client;
            // Request: client → buffer.
            match self.req.fill_from(client) {
                Ok(f) => {
                    if f.bytes > 0 {
                        self.client_last = now;
                    }
                    progress |= f.progress();
                }
                Err(super::channel::ReadFailed) => return self.close(env, Cause::ClientAbort, Phase::Data),
            }
            if let Err(e) = h.req.scan(if req_owned { &[] } else { self.req.buf.data() }) {
                ::log::debug!("stream {}: request body rejected: {e}", self.id);
                h.req_error = Some(e.kind.status());
                return self.close(env, Cause::ProxyAbort, Phase::Data);
            }
            if !req_owned && self.req.eof && h.req.stage == Stage::Body && h.req.producer_closed().is_err() {
                return self.close(env, Cause::ClientAbort, Phase::Data);
            }
            // Buffer → server: the head first, then the checked body bytes (one system call
            // for both when the body is already here).
            if srv.writable && !h.req.out.is_empty() {
                super::l7retry::keep_request(h, self.req.buf.data(), l7_retries);
                if let Some(p) = &h.txn.fcgi {
                    srv.fcgi_expect(p);
                }
            }
            if srv.writable && !h.req.out.is_empty() {
                let (n, end) = if h.req.fwd > 0 {
                    let (head, body, end) = srv.write_head_and_body(&mut h.req.out, &mut self.req.buf, h.req.fwd);
                    h.req.sent(body);
                    (head + body, end)
                } else {
                    srv.write_vec(&mut h.req.out)
                };
                if n > 0 {
                    self.server_last = now;
                    progress = true;
                }
                if end == WriteEnd::Error {
                    return self.close(env, Cause::ServerAbort, self.http_phase());
                }
            }
            if h.req.out.is_empty() {
                if h.req_sent.is_none() {
                    h.req_sent = Some(now);
                }
                if h.req.fwd > 0 && srv.writable {
                    let (n, end) = srv.write_some(&mut self.req.buf, h.req.fwd);
                    h.req.sent(n);
                    if n > 0 {
                        self.server_last = now;
                        progress = true;
                    }
                    if end == WriteEnd::Error {
                        return self.close(env, Cause::ServerAbort, self.http_phase());
                    }
                }
            }
            if h.req.stage == Stage::Tunnel && self.req.drained_after_eof() && !srv.shut_w {
                srv.shutdown_write();
                progress = true;
            }
            // `option abortonclose`: a client that closed while its response is still
            // due does not wait for it (`CH`).
            if self.req.eof && h.req.stage == Stage::Done && !h.res_started && abortonclose {
                return self.close(env, Cause::ClientAbort, Phase::Headers);
            }
            // Response: server → buffer.
            match self.res.fill_from(srv) {
                Ok(f) => {
                    if f.bytes > 0 {
                        self.server_last = now;
                    }
                    // An HTTP/2 server's window opened for request bytes waiting here.
                    progress |= f.progress() | srv.take_reopened();
                }
                Err(super::channel::ReadFailed) => {
                    // A TLS server refusing the handshake after the client's side of
                    // it was done (TLS 1.3): a connection failure, as in HAProxy.
                    let phase = if srv.tls_handshake_failed() {
                        self.t_connect = None;
                        Phase::Connect
                    } else {
                        self.http_phase()
                    };
                    return self.close(env, Cause::ServerAbort, phase);
                }
            }
            match self.http_response(env) {
                Ok(p) => progress |= p,
                Err(()) => return, // the stream answered or closed
            }
            let h = self.http.as_mut().expect("HTTP mode");
            // More of this response waits in the server's socket (its read stopped at a
            // full buffer): what goes to the client now may wait for it in the kernel
            // (`Conn::more`), to leave as one segment; uncorked below if nothing came.
            let more = h.res.stage == Stage::Body && self.server.as_ref().and_then(|s| s.conn.as_ref()).is_some_and(|c| c.readable && !c.hup);
            // Buffer → client: the head (one system call with the body already here).
            if self.client.writable && !h.res.out.is_empty() {
                let (n, end) = if h.res.fwd > 0 {
                    self.client.more = more;
                    let (head, body, end) = self.client.write_head_and_body(&mut h.res.out, &mut self.res.buf, h.res.fwd);
                    h.res.sent(body);
                    (head + body, end)
                } else {
                    self.client.write_vec(&mut h.res.out)
                };
                if n > 0 {
                    self.client_last = now;
                    progress = true;
                }
                if end == WriteEnd::Error {
                    return self.close(env, Cause::ClientAbort, Phase::Data);
                }
            }
            if h.res.out.is_empty() && h.res.fwd > 0 && self.client.writable {
                self.client.more = more;
                let (n, end) = self.client.write_some(&mut self.res.buf, h.res.fwd);
                h.res.sent(n);
                if n > 0 {
                    self.client_last = now;
                    progress = true;
                }
                if end == WriteEnd::Error {
                    return self.close(env, Cause::ClientAbort, Phase::Data);
                }
            }
            if h.res.stage == Stage::Tunnel {
                if self.res.drained_after_eof() && !self.client.shut_w {
                    self.client.shutdown_write();
                    progress = true;
                }
                if self.req.drained_after_eof() && self.res.drained_after_eof() {
                    return self.close(env, Cause::None, Phase::None);
                }
            } else if h.res.complete() {
                return self.http_end_txn(env);
            }
            if !progress {
                break;
            }
        }
        self.client.uncork();
        // Inactivity timeouts.
        let (c, s) = self.side_deadlines(env.proxies);
        match (c, s) {
            (Some(c), s) if c <= now && s.is_none_or(|s| c <= s) => self.close(env, Cause::ClientTimeout, Phase::Data),
            (_, Some(s)) if s <= now => {
                let phase = self.http_phase();
                let srv = self.server.as_ref().map(|s| (s.be(), s.srv())).filter(|_| phase == Phase::Headers);
                self.close(env, Cause::ServerTimeout, phase);
                if let Some((be, s)) = srv {
                    // After the close, as HAProxy (the slot is free).
                    env.pool.observe(be, s, crate::backend::observe::Observed::ReadTimeout);
                }
            }
            _ => {}
        }
    }

    /// The phase letter while forwarding: `H` until the response head arrived.
    pub(super) fn http_phase(&self) -> Phase {
        match self.http.as_ref() {
            Some(h) if h.res.stage == Stage::Head => Phase::Headers,
            _ => Phase::Data,
        }
    }

    /// Parses the response head, runs the response rules and checks the body bytes.
    /// `Ok(progress)`, or `Err(())` when the stream answered by itself or closed.
    fn http_response(&mut self, env: &mut Env<'_, '_>) -> Result<bool, ()> {
        let now = env.cx.now;
        let mut progress = false;
        // Lua filters: `start_analyze(res)` before the response head is read.
        if self.http.as_ref().is_some_and(|h| h.res.stage == Stage::Head) && !self.flt_response_start(env) {
            return Err(());
        }
        loop {
            let h = self.http.as_mut().expect("HTTP mode");
            if h.res.stage != Stage::Head {
                break;
            }
            if h.txn.res.is_none() {
                let method = h.txn.req.as_ref().map_or(Method::Get, |r| r.line.method.clone());
                let limits = h.limits;
                let lenient = env.proxies[self.backend.unwrap_or(self.frontend)].options.accept_invalid_http_response;
                let parser = h.res_parser.get_or_insert_with(|| Box::new(ResponseParser::new(limits, method).accept_invalid(lenient)));
                match parser.parse(self.res.buf.data()) {
                    Err(e) => {
                        // An invalid response is blocked by the proxy (`PH`, as HAProxy).
                        ::log::debug!("stream {}: response rejected: {e}", self.id);
                        let srv = self.server.as_ref().map(|s| (s.be(), s.srv()));
                        if let Some((be, s)) = srv {
                            let server = env.pool.backend_state(be).and_then(|b| b.servers().get(s)).map(|s| (s.name().to_string(), s.puid()));
                            crate::stats::errors::capture(crate::stats::errors::Capture {
                                side: crate::stats::errors::Side::Response,
                                proxy: be,
                                other: Some(self.frontend),
                                server,
                                src: self.src,
                                bytes: self.res.buf.data().to_vec(),
                                error_at: usize::try_from(e.offset).unwrap_or(usize::MAX),
                                bufsize: self.res.buf.capacity(),
                            });
                        }
                        crate::stats::account_response(env.proxies, self.frontend, srv, crate::stats::ResponseEvent::Invalid);
                        if let Some((be, s)) = srv {
                            env.pool.observe(be, s, crate::backend::observe::Observed::InvalidResponse);
                        }
                        if self.l7_retry(env, RetryOn::JUNK_RESPONSE) {
                            return Err(());
                        }
                        self.close(env, Cause::ProxyAbort, Phase::Headers);
                        return Err(());
                    }
                    Ok(Status::Partial) => {
                        if self.res.eof {
                            let srv = self.server.as_ref().map(|s| (s.be(), s.srv()));
                            self.close(env, Cause::ServerAbort, Phase::Headers);
                            if let Some((be, s)) = srv {
                                // After the close, as HAProxy (the slot is free).
                                env.pool.observe(be, s, crate::backend::observe::Observed::ServerClosed);
                            }
                            return Err(());
                        }
                        return Ok(progress);
                    }
                    Ok(Status::Complete(res, n)) => {
                        progress = true;
                        self.res.buf.consumed(n);
                        h.res_parser = None;
                        if res.is_interim() {
                            // 100-continue and friends go to the client as they are;
                            // the final response follows.
                            res.write_head(&mut h.res.out);
                            continue;
                        }
                        // `retry-on <status>`: this response is dropped, the request sent again.
                        if RetryOn::status(res.line.status).is_some_and(|st| self.l7_retry(env, st)) {
                            return Err(());
                        }
                        let h = self.http.as_mut().expect("HTTP mode");
                        h.res_head_at = Some(now);
                        if is_connection_based_auth(&res) {
                            if let Some(side) = self.server.as_mut() {
                                side.private = true;
                            }
                        }
                        if let Some(side) = self.server.as_ref() {
                            crate::stats::account_server_response(env.proxies, side.be(), side.srv(), res.line.status);
                            env.pool.observe(side.be(), side.srv(), crate::backend::observe::Observed::Status(res.line.status));
                            crate::stick::session::http_status(res.line.status);
                            h.txn.server_tls = side.conn.as_ref().and_then(|c| c.tls_info().cloned());
                        }
                        let fe = &env.proxies[self.frontend];
                        capture::capture_headers(&fe.res_captures, &res.headers, &mut h.txn.res_captures);
                        if let Some(c) = &fe.capture_cookie {
                            h.txn.cookie_res = capture::capture_response_cookie(c, &res.headers);
                        }
                        h.txn.res = Some(res);
                        let be = &env.proxies[self.backend.unwrap_or(self.frontend)];
                        compress::on_response(&mut h.txn, fe.compression.as_deref(), be.compression.as_deref());
                        h.res_rules = (0, 0);
                        self.http_tcp_response_pending();
                    }
                }
            }
            // `http-response wait-for-body` in progress: the rules after it resume once
            // the body is here.
            if !self.http_res_body_wait(env)? {
                return Ok(progress);
            }
            if !self.spoe_event(env, SpoeEvent::ServerSession) || !self.spoe_event(env, SpoeEvent::TcpResponse) || !self.http_tcp_response_rules(env) || !self.http_response_rules(env) {
                return Err(());
            }
            if self.state != State::Forwarding {
                return Err(());
            }
            if self.http_checkcache(env) {
                return Err(());
            }
            // Lua filters: `http_headers(res)` (it may wait).
            if !self.flt_http_headers(env, true) {
                return if self.state == State::Forwarding { Ok(progress) } else { Err(()) };
            }
            self.persist_response(env.proxies);
            self.stick_response(env.proxies, &*env.pool);
            self.http_emit_response_head();
            self.http_logasap(env);
            self.http_case_adjust_response(env);
            progress = true;
        }
        if self.flt_owns(true) {
            return Ok(progress); // the Lua filters read it (`super::filter`)
        }
        let h = self.http.as_mut().expect("HTTP mode");
        let scanned = h.res.fwd;
        if let Err(e) = h.res.scan(self.res.buf.data()) {
            ::log::debug!("stream {}: response body rejected: {e}", self.id);
            self.close(env, Cause::ServerAbort, Phase::Data);
            return Err(());
        }
        // `cache-store`: the body is stored as it goes by.
        if h.txn.cache.storing() {
            crate::http::cache::on_body(&mut h.txn.cache, &self.res.buf.data()[scanned..h.res.fwd], h.res.stage == Stage::Done);
        }
        // A compressed body's bytes went through the encoder: they leave the buffer.
        let used = h.res.take_consumed();
        if used > 0 {
            self.res.buf.consumed(used);
            progress = true;
        }
        if self.res.eof && h.res.stage == Stage::Body {
            if h.res.producer_closed().is_err() {
                self.close(env, Cause::ServerAbort, Phase::Data);
                return Err(());
            }
            progress = true;
        }
        Ok(progress)
    }

    /// `option checkcache`: a cacheable response with a cookie is answered 502 (`PH`)
    /// with HAProxy's alert ([`crate::http::proxy_options::checkcache_blocks`]).
    fn http_checkcache(&mut self, env: &mut Env<'_, '_>) -> bool {
        let be = self.backend.unwrap_or(self.frontend);
        let txn = &self.http.as_ref().expect("HTTP mode").txn;
        let (Some(req), Some(res)) = (txn.req.as_ref(), txn.res.as_ref()) else { return false };
        if !env.proxies[be].options.checkcache || !crate::http::proxy_options::checkcache_blocks(&req.line.method, res) {
            return false;
        }
        let srv = self.server.as_ref().and_then(|s| env.pool.backend_state(s.be())?.servers().get(s.srv()).map(|s| s.name().to_string()));
        let (name, srv) = (&env.proxies[be].name, srv.as_deref().unwrap_or("<none>"));
        crate::diag::emit(crate::diag::Severity::Alert, format_args!("Blocking cacheable cookie in response from instance {name}, server {srv}."));
        self.http_reject(env, 502, Termination::new(Cause::ProxyAbort, Phase::Headers));
        true
    }

    /// The response rules start from the first (a new response head is in the
    /// transaction: a server's, or a Lua service's, `super::service`).
    pub(super) fn http_start_response_rules(&mut self) {
        self.http_mut().res_rules = (0, 0);
    }

    /// `http-response` (backend, then frontend) and `http-after-response` rules;
    /// false when the stream must wait or answered by itself. On a Lua service's answer
    /// too (`super::service`), where a rule's own answer ends the stream as the service
    /// would (`LR`, as HAProxy logs it).
    pub(super) fn http_response_rules(&mut self, env: &mut Env<'_, '_>) -> bool {
        // SPOE: the `on-http-response` event, then a `send-spoe-group` still waiting.
        if !self.spoe_event(env, SpoeEvent::HttpResponse) || !self.spoe_group_pending(env) {
            return false;
        }
        self.refresh_live_facts(env, true);
        let be = self.backend.unwrap_or(self.frontend);
        let server = self.server.as_ref().map(|s| (s.be(), s.srv()));
        loop {
            let h = self.http.as_mut().expect("HTTP mode");
            let (step, ref mut cursor) = h.res_rules;
            let proxy = match step {
                0 | 2 => be,
                1 | 3 if be != self.frontend => self.frontend,
                1 | 3 => {
                    h.res_rules = (step + 1, 0);
                    continue;
                }
                _ => return true,
            };
            // Most proxies have no response rules of one kind or the other: skip the
            // step without setting up a rule environment (no Lua action can be pending
            // on an empty list).
            let rules = &env.proxies[proxy].http_rules;
            let list_empty = if step < 2 { rules.response.is_empty() } else { rules.after_response.is_empty() };
            if list_empty && !self.lua.as_ref().is_some_and(|l| l.pending()) {
                h.res_rules = (step + 1, 0);
                continue;
            }
            let mut cursor_v = *cursor as usize;
            let mut renv = RuleEnv {
                src: self.src,
                dst: self.dst,
                frontend: &env.proxies[self.frontend].name,
                backend: Some(&env.proxies[be].name),
                server: server.map(|(be, srv)| env.pool.server_name(be, srv)),
                sess_vars: &mut h.sess_vars,
                userlists: &env.proxies[self.frontend].userlists,
                tls: self.client.tls_info().cloned(),
                server_tls: h.txn.server_tls.clone(),
                conn: conn_facts!(self).in_txn(h.done),
            };
            let list = &env.proxies[proxy].http_rules;
            let side = lua::Side::Response;
            let mut start = None;
            let verdict = loop {
                if start.is_some() || self.lua.as_ref().is_some_and(|l| l.pending()) {
                    match lua::run_action(&mut self.lua, env.cx, env.proxies, &*env.pool, env.key, start.take().as_ref(), &mut h.txn, &mut renv, side) {
                        LuaStep::Next => {}
                        LuaStep::Stop => {
                            cursor_v = usize::MAX;
                            break Verdict::Continue;
                        }
                        LuaStep::Wait(w) => break Verdict::Yield(w),
                        LuaStep::Verdict(v) => break v,
                        LuaStep::Close => {
                            self.close(env, Cause::ProxyAbort, Phase::Headers);
                            return false;
                        }
                    }
                }
                let v = lua::in_rules(env.cx, env.proxies, &*env.pool, || {
                    if step < 2 {
                        rules::run_response(list, &mut cursor_v, &mut h.txn, &mut renv)
                    } else {
                        rules::run_after_response(list, &mut cursor_v, &mut h.txn, &mut renv)
                    }
                });
                match v {
                    Verdict::Lua(a) => start = Some(a),
                    v => break v,
                }
            };
            // Past the end (a Lua action's `Stop`) stays past the end.
            h.res_rules.1 = u32::try_from(cursor_v).unwrap_or(u32::MAX);
            match verdict {
                Verdict::Continue => h.res_rules = (step + 1, 0),
                Verdict::Yield(WaitFor::Forced) => {
                    env.cx.wake.push(Kind::Client, env.key);
                    return false;
                }
                Verdict::Yield(WaitFor::Body { time, at_least }) => {
                    self.http_start_res_body_wait(env, time, at_least);
                    return false;
                }
                Verdict::Yield(WaitFor::Timer(at)) => {
                    self.state_deadline = Some(at);
                    return false;
                }
                Verdict::Yield(_) => return false,
                // Run by the loop above before a verdict gets here; `do-resolve` is a
                // request action.
                Verdict::Lua(_) | Verdict::Resolve(_) => h.res_rules = (step + 1, 0),
                // `send-spoe-group`: the step goes on from the cursor (past the rule)
                // once the agent answered.
                Verdict::Spoe(g) => {
                    if !self.spoe_group(env, proxy, &g) {
                        return false;
                    }
                }
                // A request-only action: nothing to send here.
                Verdict::EarlyHint(_) => {}
                Verdict::Drop { silent } => {
                    // HAProxy logs and counts the server's status (`hrsp_*`) though
                    // nothing reaches the client.
                    let h = self.http.as_mut().expect("HTTP mode");
                    h.txn.status = h.txn.res.as_ref().map(|r| r.line.status).or(h.txn.status);
                    self.http_drop(env, silent, true);
                    return false;
                }
                Verdict::Deny { status } | Verdict::Tarpit { status, .. } => {
                    let srv = self.server.as_ref().map(|s| (s.be(), s.srv()));
                    crate::stats::account_response(env.proxies, self.frontend, srv, crate::stats::ResponseEvent::Denied);
                    let term = self.service_rule_term().unwrap_or(Termination::new(Cause::ProxyAbort, Phase::Headers));
                    self.http_reject(env, status, term);
                    return false;
                }
                Verdict::DenyWith(response) => {
                    let srv = self.server.as_ref().map(|s| (s.be(), s.srv()));
                    crate::stats::account_response(env.proxies, self.frontend, srv, crate::stats::ResponseEvent::Denied);
                    let term = self.service_rule_term().unwrap_or(Termination::new(Cause::ProxyAbort, Phase::Headers));
                    if let Some(status) = status_of(&response) {
                        crate::stick::session::http_status(status);
                    }
                    self.http_local_reply(env, response, false, term);
                    return false;
                }
                Verdict::Reply { response, close } => {
                    let term = self.service_rule_term().unwrap_or(Termination::new(Cause::Local, Phase::Headers));
                    self.http_local_reply(env, response, close, term);
                    return false;
                }
                Verdict::UseService(_) => {
                    self.http_reject(env, 500, Termination::new(Cause::ProxyAbort, Phase::Headers));
                    return false;
                }
            }
        }
    }

    /// The final response head goes to the client: the keep-alive decisions are made
    /// and the `Connection` header says them; a 101 or a 2xx to CONNECT turns both
    /// sides into a tunnel.
    fn http_emit_response_head(&mut self) {
        let h = self.http.as_mut().expect("HTTP mode");
        let txn = &mut *h.txn;
        let req = txn.req.as_ref().expect("a request");
        let res = txn.res.as_mut().expect("a response");
        let status = res.line.status;
        txn.status = Some(status);
        h.res_started = true;
        let tunnel = status == 101 || (req.line.method == Method::Connect && (200..300).contains(&status));
        if tunnel {
            res.write_head(&mut h.res.out);
            h.res.stage = Stage::Tunnel;
            h.req.stage = Stage::Tunnel;
            h.client_keep_alive = false;
            h.server_keep_alive = false;
            return;
        }
        let client_ka = h.client_persistent && !h.stopping && h.conn_mode != HttpConnMode::Close && res.framing != BodyFraming::UntilClose;
        h.server_keep_alive = h.conn_mode == HttpConnMode::KeepAlive && res.keep_alive() && req.keep_alive();
        h.client_keep_alive = client_ka;
        // `Connection` is hop-by-hop: what the server said about its connection is
        // replaced by what the proxy decided for the client's.
        // Either side in HTTP/1.0 means close unless said otherwise: a 1.1 client reading
        // a 1.0 server's status line is told the connection persists (as HAProxy does).
        let token = if !client_ka {
            Some("close")
        } else if req.line.version == Version::Http10 || res.line.version == Version::Http10 {
            Some("keep-alive")
        } else {
            None
        };
        // Before `Connection`, which HAProxy writes last.
        compress::on_emit(&txn.comp, &mut res.headers);
        set_connection(&mut res.headers, token);
        res.write_head(&mut h.res.out);
        let framing = res.framing;
        h.res.start_body(framing, &h.limits);
        if let Some(encoder) = compress::body_encoder(&txn.comp) {
            h.res.encode_with(encoder);
        }
    }

    /// The response was sent: log the transaction and serve the next request on the
    /// same connection, or close.
    fn http_end_txn(&mut self, env: &mut Env<'_, '_>) {
        self.flt_txn_end(env);
        let h = self.http.as_mut().expect("HTTP mode");
        let keep = h.client_keep_alive && !h.stopping && h.req.complete() && !(self.req.eof && self.req.buf.is_empty())
            || (self.state == State::LocalReply && !h.reply_close && !h.stopping);
        if !keep {
            // A response that ended while the request body was still coming in (an early
            // answer: a 401 or a 413 to an upload): read and discard what the client
            // still sends for a moment, so that closing does not reset the connection
            // under the response, as HAProxy does.
            if self.state != State::LocalReply && !h.req.complete() && !self.client.hup && !self.req.eof {
                return self.http_linger(env);
            }
            // The last transaction is logged with the stream.
            return self.close(env, Cause::None, Phase::None);
        }
        if self.state == State::LocalReply {
            self.term = h.reply_term; // `LR` for a `return` on a kept-alive connection
        }
        // Nothing logs this frontend's transactions: no record to build.
        let logged = self.http.as_ref().is_some_and(|h| h.logged_asap);
        let now = env.cx.now;
        let rec = (env.proxies[self.frontend].logs_streams && !logged).then(|| lua::in_rules(env.cx, env.proxies, &*env.pool, || self.log_record(env.proxies, env.pool, now, 0)));
        let counted = self.server.as_ref().map(|side| (side.be(), side.srv()));
        let facts = self.end_facts(env.cx.now);
        crate::stats::account_end(env.proxies, self.frontend, self.backend, counted.map(|(_, s)| s), &facts, env.cx.now);
        crate::stick::session::txn_end(facts.bytes_in, facts.bytes_out, true);
        let h = self.http.as_mut().expect("HTTP mode");
        // The server connection: kept idle for the next request if it may be reused.
        let reuse = h.server_keep_alive && self.res.buf.is_empty() && !self.res.eof;
        if let Some(mut side) = self.server.take() {
            if !side.released {
                env.pool.release(side.be(), side.srv());
                side.released = true;
            }
            match side.conn.take() {
                Some(conn) if reuse => {
                    side.served += 1;
                    let offer = if side.private {
                        IdleOffer::KeepPrivate(conn)
                    } else {
                        env.pool.offer_idle(env.cx, side.be(), side.srv(), conn, env.key, side.served, false)
                    };
                    match offer {
                        IdleOffer::Pooled => {}
                        IdleOffer::KeepPrivate(conn) => {
                            side.conn = Some(conn);
                            crate::stats::account_private_idle(env.proxies, side.be(), side.srv(), 1);
                            h.idle = Some(side);
                        }
                        IdleOffer::Close(mut c) => c.deregister(env.cx.registry),
                    }
                }
                Some(mut c) => c.deregister(env.cx.registry),
                None => {}
            }
        }
        if let Some(be) = self.backend.take() {
            env.pool.detach(be);
        }
        // As in HAProxy, whose stream ends with the transaction: `%bc` and `%sc` no longer
        // count this transaction (its server connection is idle or closed).
        if let Some(mut rec) = rec {
            if let Some((be, srv)) = counted {
                rec.beconn = env.pool.beconn(be);
                rec.srv_conn = env.pool.server_conns(be, srv);
            }
            self.http_mut().logs.push(rec);
        }
        self.res.buf.clear();
        self.res.eof = false;
        self.cursor = Default::default();
        self.tcp_content_done = false;
        self.be_tcp_content_done = false;
        // A `set-src`... of the last transaction does not carry over.
        if let Some(addrs) = self.http_mut().txn.conn_addrs.take() {
            (self.src, self.dst) = addrs;
        }
        self.queued_at = None;
        self.t_queue = None;
        self.connect_started = None;
        self.t_connect = None;
        self.retries_done = 0;
        self.redispatched = false;
        self.queue_seen = (0, 0);
        self.term = Termination::NORMAL;
        self.state_deadline = None;
        let bytes = (self.req.total - self.req.buf.len() as u64, self.res.total);
        self.http_mut().next_txn(env.cx.now, SystemTime::now(), bytes);
        // HAProxy runs each transaction in a stream of its own: the Lua context (the
        // `TXN` handle, `set_priv`) does not outlive the transaction.
        self.lua = None;
        self.goto(State::HttpHead);
    }

    /// `option prefer-last-server`: the server whose connection the previous request
    /// of this client connection left idle takes this one, when it is usable (not for
    /// hash-based balancing, see [`crate::http::options::effective`]).
    pub(super) fn prefer_last_server(&mut self, env: &mut Env<'_, '_>, be: usize, avoid: Option<usize>) -> Option<super::Pick> {
        if !env.proxies[be].options.prefer_last_server {
            return None;
        }
        let idle = self.http.as_ref()?.idle.as_ref()?;
        if idle.be() != be || avoid == Some(idle.srv()) {
            return None;
        }
        env.pool.pick_persistent(be, idle.srv(), false).map(|(pick, _)| pick)
    }

    /// Sends the request over an idle connection to `(be, srv)` if there is one: the
    /// stream's own (kept from its previous transaction, which is closed if it goes
    /// elsewhere), else one from the shared pool as `http-reuse` allows. True when
    /// reused (the stream is then `Forwarding`).
    pub(super) fn http_reuse(&mut self, env: &mut Env<'_, '_>, be: usize, srv: usize, addr: &Option<super::Target>) -> bool {
        let Some(h) = self.http.as_mut() else { return false };
        let mut own = h.idle.take();
        if let Some(idle) = own.as_ref() {
            crate::stats::account_private_idle(env.proxies, idle.be(), idle.srv(), -1);
        }
        if let Some(idle) = own.as_mut() {
            let usable = idle.be() == be && idle.srv() == srv && idle.conn.as_ref().is_some_and(|c| !c.readable && !c.hup && !c.shut_w);
            if !usable {
                if let Some(c) = idle.conn.as_mut() {
                    c.deregister(env.cx.registry);
                }
                own = None;
            }
        }
        let mut idle = match own {
            Some(idle) => idle,
            None => {
                // The first request of the client's session (an HTTP/2 connection's
                // first stream, not each of its streams).
                let first = h.done == 0 && !self.client.h2_later_request();
                let Some((mut conn, served)) = env.pool.take_idle(be, srv, env.key, first) else { return false };
                if conn.reregister(env.cx.registry, token::encode(Kind::Server, env.key)).is_err() {
                    conn.deregister(env.cx.registry);
                    return false;
                }
                let (addr, fd) = (addr.clone(), conn.raw_fd());
                Box::new(ServerSide { be: super::index(be), srv: super::index(srv), addr, conn: Some(conn), fd, released: false, served, private: false })
            }
        };
        idle.released = false; // the pick reserved a slot on this server again
        crate::stats::account_connection(env.proxies, be, srv, true);
        h.replay = h.req.stage == Stage::Done && h.req.fwd == 0;
        self.server = Some(idle);
        self.t_connect = Some(Duration::ZERO);
        self.server_last = env.cx.now;
        self.client_last = env.cx.now;
        self.state_deadline = None;
        self.goto(State::Forwarding);
        true
    }

    /// A reused server connection failed before any response byte (the server closed
    /// it while it was idle): send the request again on a new connection to the same
    /// server, once. True when done.
    pub(super) fn http_retry_reused(&mut self, env: &mut Env<'_, '_>, cause: Cause, phase: Phase) -> bool {
        if self.state != State::Forwarding || cause != Cause::ServerAbort || phase != Phase::Headers {
            return false;
        }
        let Some(h) = self.http.as_mut() else { return false };
        if h.res_head_at.is_some() || !h.res.out.is_empty() || !self.res.buf.is_empty() {
            return false;
        }
        let Some(req) = h.txn.req.as_ref().filter(|_| std::mem::take(&mut h.replay)) else { return false };
        h.req.out.clear();
        req.write_head(&mut h.req.out);
        h.req_sent = None;
        h.res_parser = None;
        self.res.eof = false;
        let side = self.server.as_mut().expect("forwarding has a server");
        if let Some(c) = side.conn.as_mut() {
            c.deregister(env.cx.registry);
        }
        side.conn = None;
        let (srv, addr) = (side.srv(), side.addr.clone());
        ::log::debug!("stream {}: idle server connection was closed, reconnecting", self.id);
        // The slot stays reserved: the new connection takes it over.
        self.t_connect = None;
        self.connect_started = None;
        self.start_connect(env, srv, addr);
        true
    }

    /// Closes the idle server connection (the stream is closing).
    /// The stream closes: its idle server connection goes to the shared pool if
    /// `http-reuse` allows (`safe` shares it only now), or is closed.
    pub(super) fn http_close_idle(&mut self, env: &mut Env<'_, '_>) {
        let Some(mut idle) = self.http.as_mut().and_then(|h| h.idle.take()) else { return };
        crate::stats::account_private_idle(env.proxies, idle.be(), idle.srv(), -1);
        let Some(mut conn) = idle.conn.take() else { return };
        let healthy = !conn.readable && !conn.hup && !conn.shut_w;
        if healthy && !idle.private {
            match env.pool.offer_idle(env.cx, idle.be(), idle.srv(), conn, env.key, idle.served, true) {
                IdleOffer::Pooled => return,
                IdleOffer::KeepPrivate(c) | IdleOffer::Close(c) => conn = c,
            }
        }
        conn.deregister(env.cx.registry);
    }

    /// What the client and server sides wait for while forwarding in HTTP mode (for
    /// their inactivity timeouts), and whether `timeout tunnel` applies.
    pub(super) fn http_waits(&self) -> Option<(bool, bool, bool)> {
        let h = self.http.as_ref()?;
        let tunnel = h.res.stage == Stage::Tunnel;
        let wait_client = (matches!(h.req.stage, Stage::Body | Stage::Tunnel) && !self.req.eof && !self.req.buf.is_full())
            || !h.res.flushed();
        let wait_server = (h.res.stage != Stage::Done && !self.res.eof && !self.res.buf.is_full()) || !h.req.flushed();
        Some((wait_client, wait_server, tunnel))
    }

    /// The per-transaction parts of the log record (HTTP mode).
    /// The HTTP part of [`Stream::end_facts`]: the transaction's status, bytes and
    /// times, as [`Stream::http_log_fields`] puts them in the log record.
    pub(super) fn http_end_facts(&self, f: &mut crate::stats::EndFacts, now: Instant) {
        let Some(h) = self.http.as_ref() else { return };
        f.http = true;
        f.status = h.txn.status;
        // `line` is kept only when the frontend logs: a parsed head is what tells.
        f.bad_request = h.head_at.is_none();
        f.t_total = now.saturating_duration_since(h.txn_start);
        f.bytes_in = self.req.total.saturating_sub(h.bytes_at_start.0);
        f.bytes_out = self.res.total.saturating_sub(h.bytes_at_start.1);
        f.t_response = match (h.req_sent, h.res_head_at) {
            (Some(a), Some(b)) => Some(b.saturating_duration_since(a)),
            _ => None,
        };
        if h.service.is_some() {
            f.t_queue = Some(Duration::ZERO);
            f.t_connect = Some(Duration::ZERO);
            if h.service_answered {
                f.t_response = Some(Duration::ZERO);
            }
        }
    }

    /// Copies what the `%` variables of rule log-formats print into the transaction
    /// ([`crate::http::live`]); `TR` is known once the request rules are over.
    fn refresh_live_facts(&mut self, env: &Env<'_, '_>, response: bool) {
        // Read only by formats that print a variable: none compiled, nothing to take.
        if !crate::http::rules::vars_compiled() {
            return;
        }
        let srv = self.server.as_ref();
        let (feconn, log_count) = (env.proxies[self.frontend].feconn, env.proxies[self.frontend].log_count.get());
        let backend_src = self.backend_src();
        let Some(h) = self.http.as_mut() else { return };
        let since = |a: Option<Instant>, b: Option<Instant>| Some(b?.saturating_duration_since(a?));
        h.txn.live = crate::http::live::LiveFacts {
            stream_id: self.id,
            txn_date: Some(h.txn_date.get()),
            server_addr: srv.and_then(|s| match s.addr {
                Some(super::Target::Inet(a)) => Some(a),
                _ => None,
            }),
            t_queue: self.t_queue,
            t_connect: self.t_connect,
            t_idle: h.first_byte.map(|f| f.saturating_duration_since(h.txn_start)),
            t_request: since(h.first_byte, h.head_at).filter(|_| response),
            t_response: since(h.req_sent, h.res_head_at),
            // The stream does not see the process-wide count: its frontend's stands in.
            actconn: feconn,
            feconn,
            beconn: self.backend.map_or(0, |b| env.pool.beconn(b)),
            srv_conn: srv.map_or(0, |s| env.pool.server_conns(s.be(), s.srv())),
            retries: self.retries_done,
            redispatched: self.redispatched,
            srv_queue: self.queue_seen.0,
            backend_queue: self.queue_seen.1,
            termination: self.term.code(),
            backend_src,
            log_count,
        };
    }

    pub(super) fn http_log_fields(&self, rec: &mut StreamLog, now: Instant) {
        let Some(h) = self.http.as_ref() else { return };
        rec.http = Some(Box::new(h.log()));
        rec.accept_date = h.txn_date.get();
        rec.t_total = now.saturating_duration_since(h.txn_start);
        rec.bytes_in = self.req.total.saturating_sub(h.bytes_at_start.0);
        rec.bytes_out = self.res.total.saturating_sub(h.bytes_at_start.1);
        if let Some(since) = h.txn.tarpit_since {
            rec.t_queue = Some(now.saturating_duration_since(since));
        }
        if let Some(name) = h.service {
            // As HAProxy logs its applets: no queue or connect time, no response time
            // unless the applet itself answered.
            rec.server = Some(name.to_string());
            rec.t_queue = Some(Duration::ZERO);
            rec.t_connect = Some(Duration::ZERO);
            if let Some(http) = rec.http.as_mut().filter(|_| h.service_answered) {
                http.t_response = Some(Duration::ZERO);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flow_stops_at_the_end_of_a_message() {
        let limits = Limits::default();
        let mut f = Flow::default();
        f.start_body(BodyFraming::Chunked, &limits);
        let data = b"3\r\nabc\r\n0\r\n\r\nGET /next HTTP/1.1\r\n";
        f.scan(&data[..5]).unwrap();
        assert_eq!(f.stage, Stage::Body);
        f.scan(data).unwrap();
        assert_eq!(f.stage, Stage::Done);
        assert_eq!(f.fwd, 13, "the pipelined request stays behind");
        f.sent(13);
        assert!(f.complete());
    }

    #[test]
    fn flow_content_length_and_errors() {
        let limits = Limits::default();
        let mut f = Flow::default();
        f.start_body(BodyFraming::ContentLength(4), &limits);
        f.scan(b"ab").unwrap();
        assert_eq!((f.fwd, f.stage), (2, Stage::Body));
        f.sent(2);
        f.scan(b"cdXY").unwrap();
        assert_eq!((f.fwd, f.stage), (2, Stage::Done));
        let mut bad = Flow::default();
        bad.start_body(BodyFraming::Chunked, &limits);
        assert!(bad.scan(b"zz\r\n").is_err());
        let mut until = Flow::default();
        until.start_body(BodyFraming::UntilClose, &limits);
        until.scan(b"anything").unwrap();
        assert_eq!(until.fwd, 8);
        until.producer_closed().unwrap();
        assert_eq!(until.stage, Stage::Done);
        let mut cut = Flow::default();
        cut.start_body(BodyFraming::ContentLength(9), &limits);
        cut.scan(b"abc").unwrap();
        assert!(cut.producer_closed().is_err(), "truncated");
    }

    #[test]
    fn buffered_payload_has_no_chunk_framing() {
        let l = Limits::default();
        assert_eq!(payload(BodyFraming::Chunked, &l, b"3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n"), b"abcde");
        assert_eq!(payload(BodyFraming::Chunked, &l, b"3\r\nabc\r\n2\r\nd"), b"abcd", "partial");
        assert_eq!(payload(BodyFraming::ContentLength(3), &l, b"abc"), b"abc");
        assert!(payload(BodyFraming::None, &l, b"").is_empty());
    }

    #[test]
    fn connection_header_is_rewritten() {
        let mut h = Headers::new();
        h.add("Connection", "close, X-Foo");
        set_connection(&mut h, None);
        assert_eq!(h.get("connection"), Some(&b"X-Foo"[..]));
        set_connection(&mut h, Some("keep-alive"));
        assert_eq!(h.get("connection"), Some(&b"X-Foo, keep-alive"[..]));
        let mut only = Headers::new();
        only.add("connection", "close");
        set_connection(&mut only, None);
        assert!(!only.contains("connection"));
        set_connection(&mut only, Some("close"));
        assert_eq!(only.get("Connection"), Some(&b"close"[..]));
    }

    /// An idle kept-alive client costs its `Stream` plus this: keep it small (the parts
    /// only a transaction in progress needs are boxed). 424 bytes are a 432-byte malloc
    /// chunk; each 16 bytes more cost every idle connection 16 bytes (the acceptance
    /// bound of issue 5 is HAProxy's ~1.1 KB per idle client, doc/performance.md).
    #[test]
    fn http_side_stays_small() {
        assert!(std::mem::size_of::<HttpSide>() <= 424, "{}", std::mem::size_of::<HttpSide>());
        assert!(std::mem::size_of::<super::Stream>() <= 496, "Stream: {}", std::mem::size_of::<super::Stream>());
        // An idle client keeps its server connection: 88 bytes are a 96-byte chunk.
        assert!(std::mem::size_of::<super::ServerSide>() <= 88, "ServerSide: {}", std::mem::size_of::<super::ServerSide>());
        assert!(std::mem::size_of::<Flow>() <= 64);
        assert_eq!(std::mem::size_of::<TxnSlot>(), std::mem::size_of::<usize>());
    }

    #[test]
    fn txn_slot_allocates_on_write_only() {
        let mut slot = TxnSlot::default();
        assert!(slot.req.is_none() && slot.status.is_none(), "an empty slot reads as a fresh transaction");
        assert!(!slot.is_allocated());
        slot.status = Some(200);
        assert!(slot.is_allocated());
        assert_eq!(slot.status, Some(200));
        slot.release();
        assert!(!slot.is_allocated());
        assert_eq!(slot.status, None);
    }

    #[test]
    fn networks_and_limits() {
        let net = ("10.0.0.0".parse().unwrap(), 8);
        assert!(in_net("10.1.2.3".parse().unwrap(), net));
        assert!(!in_net("11.1.2.3".parse().unwrap(), net));
        assert!(in_net("::1".parse().unwrap(), ("::1".parse().unwrap(), 128)));
        assert!(in_net("1.2.3.4".parse().unwrap(), ("9.9.9.9".parse().unwrap(), 0)));
        assert_eq!(limits_for(16384).max_head, 15360);
        assert_eq!(limits_for(1024).max_head, 512);
        assert_eq!(status_of(b"HTTP/1.1 503 Service Unavailable\r\n"), Some(503));
    }
}

/// Whether a complete response the proxy holds has `Connection: close` in its head.
/// NTLM and Negotiate authenticate the connection, not the request: a connection
/// that carried such a challenge (a 401 or 407, as HAProxy checks) stays with its client.
fn is_connection_based_auth(res: &crate::http::Response) -> bool {
    let header = match res.line.status {
        401 => "www-authenticate",
        407 => "proxy-authenticate",
        _ => return false,
    };
    res.headers.list(header).any(|v| {
        let v = v.trim_ascii_start();
        [&b"NTLM"[..], b"Negotiate"].iter().any(|scheme| {
            v.len() >= scheme.len()
                && v[..scheme.len()].eq_ignore_ascii_case(scheme)
                && v.get(scheme.len()).is_none_or(|b| *b == b' ')
        })
    })
}

fn head_says_close(response: &[u8]) -> bool {
    let head_end = response.windows(4).position(|w| w == b"\r\n\r\n").unwrap_or(response.len());
    response[..head_end].split(|&c| c == b'\n').skip(1).any(|line| {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        match line.iter().position(|&c| c == b':') {
            Some(colon) => {
                line[..colon].trim_ascii().eq_ignore_ascii_case(b"connection")
                    && line[colon + 1..].split(|&c| c == b',').any(|t| t.trim_ascii().eq_ignore_ascii_case(b"close"))
            }
            None => false,
        }
    })
}

/// Adds `connection: close` to the head of a complete response that lacks it.
pub(super) fn add_close_header(response: &mut Vec<u8>) {
    if head_says_close(response) {
        return;
    }
    if let Some(end) = response.windows(4).position(|w| w == b"\r\n\r\n") {
        response.splice(end + 2..end + 2, b"connection: close\r\n".iter().copied());
    }
}

#[cfg(test)]
mod close_header_tests {
    use super::{add_close_header, head_says_close};

    #[test]
    fn close_is_read_from_the_head_only_and_added_once() {
        assert!(head_says_close(b"HTTP/1.1 400 Bad request\r\nConnection: keep-alive, Close\r\n\r\nx"));
        assert!(!head_says_close(b"HTTP/1.1 503 X\r\ncontent-length: 17\r\n\r\nconnection: close"));
        let mut r = b"HTTP/1.1 503 X\r\ncontent-length: 0\r\n\r\n".to_vec();
        add_close_header(&mut r);
        assert_eq!(r, b"HTTP/1.1 503 X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
        add_close_header(&mut r);
        assert_eq!(r.windows(17).filter(|w| w == b"connection: close").count(), 1);
    }
}
