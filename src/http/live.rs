//! What the stream knows of itself while its transaction runs, for the `%` variables
//! of rule log-formats ([`crate::http::rules::Fmt`]): dates, timers, counters and the
//! termination state so far.
//!
//! The stream copies these facts into [`Txn::live`](crate::http::txn::Txn::live)
//! before each list of `http-request`, `http-response` or `http-after-response` rules
//! (plain values: no allocation). A format that prints a variable turns them, with what
//! its [`SampleCtx`] answers (addresses, proxy and server names, the request line,
//! captures), into a [`StreamLog`] and renders the variable with the log module's
//! [`render_var`](crate::log::format::render_var): a rule prints what a log line would,
//! at that point of the stream. As in HAProxy, mid-stream, `%Tt` is 0 (the stream has
//! not ended), `%B` and `%U` are 0 (counted at the end), timers not reached yet are -1
//! and the termination state is `--`.

use std::net::SocketAddr;
use std::time::{Duration, SystemTime};

use crate::log::{HttpLog, StreamLog};
use crate::sample::SampleCtx;

/// A stream's facts at the time its rules run; see the [module](self) documentation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LiveFacts {
    /// `%rt`: the stream's number.
    pub stream_id: u64,
    /// The start of the transaction (`%t`); `None` outside a stream (the current date).
    pub txn_date: Option<SystemTime>,
    /// `%si %sp`: the server address once one is chosen.
    pub server_addr: Option<SocketAddr>,
    /// `%Tw %Tc`: `None` until the stream got there.
    pub t_queue: Option<Duration>,
    pub t_connect: Option<Duration>,
    /// `%Ti %TR %Tr`: `None` until known (`%TR` is known once the request rules ran).
    pub t_idle: Option<Duration>,
    pub t_request: Option<Duration>,
    pub t_response: Option<Duration>,
    /// `%ac %fc %bc %sc`.
    pub actconn: u32,
    pub feconn: u32,
    pub beconn: u32,
    pub srv_conn: u32,
    /// `%rc`, with a `+` when redispatched.
    pub retries: u32,
    pub redispatched: bool,
    /// `%sq %bq`.
    pub srv_queue: u32,
    pub backend_queue: u32,
    /// `%ts`: `--` while nothing ended the stream.
    pub termination: [u8; 2],
    /// `%bi %bp` (kept only when a format prints them).
    pub backend_src: Option<SocketAddr>,
    /// `%lc`: the lines the frontend logged so far.
    pub log_count: u64,
}

/// The log record of the stream behind `cx` as it stands: what `%` variables of rule
/// formats render from.
pub fn record(cx: &dyn SampleCtx) -> StreamLog {
    let txn = cx.http_txn();
    let f = txn.map(|t| t.live).unwrap_or_default();
    let date = f.txn_date.unwrap_or_else(|| cx.now());
    let http = txn.map(|t| {
        let line = cx.http_req().map(|r| &r.line);
        Box::new(HttpLog {
            method: line.map(|l| l.method.as_str().to_string()),
            uri: line.map(|l| l.target.clone()),
            version: line.map(|l| l.version.as_str().to_string()),
            // The response being processed has its status before it is sent.
            status: t.status.or_else(|| Some(cx.http_res()?.line.status)),
            req_captures: t.req_captures.clone(),
            res_captures: t.res_captures.clone(),
            t_handshake: Duration::ZERO,
            t_idle: f.t_idle,
            t_request: f.t_request,
            t_response: f.t_response,
            request_date: Some(date),
            cookie_req: t.cookie_req.clone(),
            cookie_res: t.cookie_res.clone(),
            cookie_flags: [0; 2],
            level: None,
            silent: false,
            logasap: false,
        })
    });
    StreamLog {
        unique_id: txn.and_then(|t| t.unique_id.clone()),
        stream_id: f.stream_id,
        accept_date: date,
        client: cx.src(),
        frontend_addr: cx.dst(),
        frontend: cx.frontend_name().unwrap_or_default().to_string(),
        frontend_ssl: cx.tls().is_some(),
        backend: cx.backend_name().map(str::to_string),
        server: cx.server_name().map(str::to_string),
        server_addr: f.server_addr,
        t_queue: f.t_queue,
        t_connect: f.t_connect,
        // HAProxy's `Tt`, `B` and `U` are set when the stream ends.
        t_total: Duration::ZERO,
        bytes_in: 0,
        bytes_out: 0,
        termination: if f.termination == [0; 2] { *b"--" } else { f.termination },
        actconn: f.actconn,
        feconn: f.feconn,
        beconn: f.beconn,
        srv_conn: f.srv_conn,
        retries: f.retries,
        redispatched: f.redispatched,
        srv_queue: f.srv_queue,
        backend_queue: f.backend_queue,
        http,
        samples: Vec::new(),
        sd_samples: Vec::new(),
        tls: cx.tls().map(|t| std::sync::Arc::new(t.clone())),
        backend_src: f.backend_src,
        log_count: f.log_count,
        server_tls: cx.server_tls().map(|t| std::sync::Arc::new(t.clone())),
    }
}
