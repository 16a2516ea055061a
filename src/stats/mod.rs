//! Statistics: the counters of every frontend, backend and server, snapshots of them
//! with HAProxy 2.6's `show stat` columns, and the stats page that serves them.
//!
//! - [`counters`]: what a proxy counts ([`ProxyCounters`], kept in
//!   [`ProxyRt::counters`]), updated in place by the `account_*` functions below,
//!   which the stream and the runtime call at the moments HAProxy counts: a
//!   connection accepted, a request head parsed, a backend chosen, a transaction ended
//!   (from its log record), a server's state changed.
//! - [`snapshot`]: [`snapshot::rows`] reads those counters and the backend state
//!   ([`crate::backend::Backend`]: sessions, queues, weights, checks) into rows of
//!   [`fields`] columns, in HAProxy's order and with its empty cells.
//! - [`csv`], [`typed`] and [`json`]: the `show stat` output formats (the CLI reuses
//!   them).
//! - [`page`]: `stats enable|uri|auth|...`, the page answered by the proxy itself.
//!
//! See doc/stats.md for what is filled and how it differs from HAProxy.

pub mod counters;
pub mod activity;
pub mod csv;
pub mod errors;
pub mod fields;
pub mod json;
pub mod page;
pub mod prometheus;
pub mod snapshot;
pub mod typed;

use std::time::Instant;

pub use counters::ProxyCounters;
pub use page::StatsPage;
pub use snapshot::{Row, RowKind, Value, View};

use crate::backend::Backend;
use crate::stream::proxy::ProxyRt;

/// A connection was accepted by `p`'s frontend and became a session (call after
/// `feconn` counts it).
pub fn account_accept(p: &mut ProxyRt, now: Instant) {
    let ms = counters::millis(now);
    let c = &mut p.counters.fe;
    c.conn_tot += 1;
    c.conn_rate.add(ms);
    c.sess_tot += 1;
    c.sess_rate.add(ms);
    c.sess_max = c.sess_max.max(p.feconn);
}

/// A connection was refused by `tcp-request connection` rules: `dcon` for `reject`;
/// `silent-drop` counts a denied request (`dreq`) instead, in every rule set, as HAProxy
/// 2.6 does.
pub fn account_conn_denied(p: &mut ProxyRt, now: Instant, silent_drop: bool) {
    let c = &mut p.counters.fe;
    c.conn_tot += 1;
    c.conn_rate.add(counters::millis(now));
    match silent_drop {
        true => c.denied_req += 1,
        false => c.denied_conn += 1,
    }
}

/// `silent-drop` in response rules: HAProxy counts a denied request (`dreq`) on the
/// frontend and the backend, whichever rule set dropped the connection (request-side
/// drops end with a `PR` termination, counted so by [`account_end`]).
pub fn account_response_silent_drop(proxies: &mut [ProxyRt], fe: usize, be: Option<usize>) {
    proxies[fe].counters.fe.denied_req += 1;
    if let Some(p) = be.filter(|&b| b != fe).and_then(|b| proxies.get_mut(b)) {
        p.counters.be.denied_req += 1;
    }
}

/// An HTTP request head was received by `p`'s frontend (`req_tot`, `req_rate`).
pub fn account_request(p: &mut ProxyRt, now: Instant) {
    let c = &mut p.counters.fe;
    c.req_tot += 1;
    c.req_rate.add(counters::millis(now));
}

/// A server connection of backend `be`'s server `srv` was opened (`reused`: false) or
/// an idle one taken for a request (`reused`: true): `connect` and `reuse`.
pub fn account_connection(proxies: &mut [ProxyRt], be: usize, srv: usize, reused: bool) {
    let c = &mut proxies[be].counters;
    for t in [Some(&mut c.be), c.servers.get_mut(srv)].into_iter().flatten() {
        if reused {
            t.reuses += 1;
        } else {
            t.connects += 1;
        }
    }
}

/// A client starts (`+1`) or stops (`-1`) keeping an idle connection to server `srv`.
pub fn account_private_idle(proxies: &mut [ProxyRt], be: usize, srv: usize, delta: i32) {
    if let Some(t) = proxies.get_mut(be).and_then(|p| p.counters.servers.get_mut(srv)) {
        t.idle_private = t.idle_private.saturating_add_signed(delta);
    }
}

/// A stream chose `p` as its backend.
pub fn account_backend_session(p: &mut ProxyRt, now: Instant) {
    p.counters.be.sess_rate.add(counters::millis(now));
    p.counters.be.last_sess = Some(now);
}

/// The stats page answered a request of `p`'s (`intercepted`).
pub fn account_intercepted(p: &mut ProxyRt) {
    p.counters.fe.intercepted += 1;
}

/// What the statistics count of an ended transaction (HTTP) or stream (TCP): the
/// figures its log record would carry, gathered without building the record
/// (`Stream::end_facts`), since a frontend that logs nothing builds none.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EndFacts {
    /// An HTTP transaction (a request is counted).
    pub http: bool,
    pub status: Option<u16>,
    /// No request line could be read (HAProxy's `<BADREQ>`).
    pub bad_request: bool,
    /// The termination state (`%ts`).
    pub termination: [u8; 2],
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub t_queue: Option<std::time::Duration>,
    pub t_connect: Option<std::time::Duration>,
    pub t_response: Option<std::time::Duration>,
    pub t_total: std::time::Duration,
}

/// A transaction (HTTP) or a stream (TCP) ended: counts its bytes, status,
/// termination and times on its frontend, backend (`be`) and server (`srv`, an index
/// into the backend's servers).
pub fn account_end(proxies: &mut [ProxyRt], fe: usize, be: Option<usize>, srv: Option<usize>, rec: &EndFacts, now: Instant) {
    let status = rec.status;
    let bad_request = rec.http && rec.bad_request;
    let [cause, phase] = rec.termination;
    {
        let c = &mut proxies[fe].counters.fe;
        c.bytes_in += rec.bytes_in;
        c.bytes_out += rec.bytes_out;
        if let Some(s) = status {
            c.rsp.add(s);
        }
        if bad_request {
            // No complete head, so not counted by `account_request`: HAProxy counts
            // bad, timed-out and aborted requests in `req_tot` too.
            c.req_tot += 1;
            c.req_rate.add(counters::millis(now));
        }
        match (cause, phase) {
            // Rules refused it (`deny`, `tarpit`, `reject`), or it could not be parsed.
            (b'P', b'R' | b'T') if !bad_request => c.denied_req += 1,
            (b'P', b'R') => c.failed_req += 1,
            // The client left or timed out before its request was complete.
            (b'c' | b'C', b'R') => c.failed_req += 1,
            _ => {}
        }
    }
    let Some(be) = be.filter(|&b| b < proxies.len()) else { return };
    let p = &mut proxies[be];
    let denied_by_backend = be != fe && matches!((cause, phase), (b'P', b'R' | b'T')) && !bad_request;
    // A backend counts every request and the status sent to the client; a server
    // counts the responses it sent, when they arrive (`account_server_response`).
    let update = |t: &mut counters::TrafficCounters, server: bool| {
        t.bytes_in += rec.bytes_in;
        t.bytes_out += rec.bytes_out;
        if rec.http && !server {
            t.req_tot += 1;
        }
        if let Some(s) = status.filter(|_| !server) {
            t.rsp.add(s);
        }
        match (cause, phase) {
            (b'c' | b'C', b'D') => t.cli_abrt += 1,
            (b'S' | b's', b'D') => t.srv_abrt += 1,
            // Server aborts and timeouts before the response head; invalid responses
            // and `http-response deny` are counted where they happen (`PH`).
            (b'S' | b's', b'H') => t.failed_resp += 1,
            _ => {}
        }
        if server || srv.is_some() {
            if let Some(q) = rec.t_queue {
                t.qtime.add(q);
            }
            if let Some(c) = rec.t_connect {
                t.ctime.add(c);
            }
            if let Some(r) = rec.t_response {
                t.rtime.add(r);
            }
            t.ttime.add(rec.t_total);
        }
    };
    update(&mut p.counters.be, false);
    if denied_by_backend {
        p.counters.be.denied_req += 1;
    }
    if let Some(t) = srv.and_then(|s| p.counters.servers.get_mut(s)) {
        update(t, true);
        t.sess_rate.add(counters::millis(now));
        t.last_sess = Some(now);
    }
}

/// Server `srv` of backend `be` sent a (final) response head with `status`
/// (`req_tot` and `hrsp_*` of the server, as HAProxy counts them).
pub fn account_server_response(proxies: &mut [ProxyRt], be: usize, srv: usize, status: u16) {
    if let Some(t) = proxies.get_mut(be).and_then(|p| p.counters.servers.get_mut(srv)) {
        t.req_tot += 1;
        t.rsp.add(status);
    }
}

/// What happened to a response, counted where it happens (the log record's `PH`
/// does not tell them apart).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResponseEvent {
    /// The server's response head was invalid (`eresp` of the backend and server).
    Invalid,
    /// `http-response deny`: `dresp` of the frontend, backend and server.
    Denied,
}

/// Counts `ev` for the frontend `fe` and the `(backend, server)` that answered.
pub fn account_response(proxies: &mut [ProxyRt], fe: usize, srv: Option<(usize, usize)>, ev: ResponseEvent) {
    if ev == ResponseEvent::Denied {
        proxies[fe].counters.fe.denied_resp += 1;
    }
    let Some((be, s)) = srv else { return };
    let Some(p) = proxies.get_mut(be) else { return };
    let targets = std::iter::once(&mut p.counters.be).chain(p.counters.servers.get_mut(s));
    for t in targets {
        match ev {
            ResponseEvent::Invalid => t.failed_resp += 1,
            ResponseEvent::Denied => t.denied_resp += 1,
        }
    }
}

/// Server `srv` of backend `b` (proxy `p`) may have changed state (a check result, an
/// admin command): records the change time and downtime of the server and of the
/// backend (`lastchg`, `downtime`).
pub fn server_state_changed(p: &mut ProxyRt, b: &Backend, srv: usize, now: Instant) {
    if let (Some(clock), Some(s)) = (p.counters.server_states.get_mut(srv), b.servers().get(srv)) {
        clock.changed(s.op_state() == crate::backend::OpState::Up, now);
    }
    let up = !b.eligible_servers().is_empty() || !b.has_servers();
    if up != p.counters.be_up {
        p.counters.be_up = up;
        p.counters.be_state.changed(up, now);
    }
}

/// Computes the `slim` of every proxy once the global `maxconn` is known: a
/// frontend's own `maxconn`, else the global one; a backend's `fullconn`, else, as
/// HAProxy defaults it, 10% (rounded up, at least 1) of the limits of the frontends
/// that can reach it (`default_backend`, `use_backend` with a fixed name, a `listen`
/// itself).
pub fn set_limits(proxies: &mut [ProxyRt], global_maxconn: u32) {
    for p in proxies.iter_mut() {
        p.counters.fe_limit = p.maxconn.unwrap_or(global_maxconn);
    }
    let mut sums = vec![0u64; proxies.len()];
    for p in proxies.iter().filter(|p| p.cap.frontend) {
        let mut targets: Vec<usize> = p.rules.iter().filter(|r| r.dynamic.is_none()).map(|r| r.backend).collect();
        targets.extend(p.default_backend);
        targets.sort_unstable();
        targets.dedup();
        for be in targets {
            if let Some(sum) = sums.get_mut(be) {
                *sum += u64::from(p.counters.fe_limit);
            }
        }
    }
    for (p, sum) in proxies.iter_mut().zip(sums) {
        let computed = u32::try_from(sum.div_ceil(10)).unwrap_or(u32::MAX).max(1);
        p.counters.be_limit = p.counters.fullconn.unwrap_or(computed);
    }
}

/// Each proxy's id (`iid` and `pid`'s companion in `show stat`, `be_id` in `show
/// servers state`, Lua's `Proxy.uuid`), computed once, as HAProxy 2.6 numbers them: an
/// explicit `id`, else the first free number from a counter every proxy advances,
/// numbered or not, in declaration order. When a stats socket exists, HAProxy's
/// internal `GLOBAL` frontend (the CLI's) comes first and advances the counter, so the
/// configuration's proxies usually start at 2 (compared in `tests/cli_commands.rs`).
pub fn proxy_ids(cfg: &crate::config::model::Config) -> Vec<u32> {
    let used: std::collections::HashSet<u32> = cfg.proxies.iter().filter_map(|p| p.id).collect();
    let mut next = 1u32;
    let take_free = |next: &mut u32| {
        while used.contains(next) {
            *next += 1;
        }
        *next
    };
    if !cfg.global.stats_sockets.is_empty() {
        next += 1; // GLOBAL
    }
    cfg.proxies
        .iter()
        .map(|p| {
            let id = p.id.unwrap_or_else(|| take_free(&mut next));
            next += 1;
            id
        })
        .collect()
}

/// `show stat`'s output formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Csv,
    Typed,
    Json,
}

/// `show stat [typed|json]` of every proxy, as the CLI prints it.
pub fn show_stat(view: &View<'_>, format: Format) -> String {
    let rows = snapshot::rows(view, &|_, _| true);
    let mut out = String::with_capacity(2048 + rows.len() * 512);
    match format {
        Format::Csv => csv::write(&mut out, &rows),
        Format::Typed => typed::write(&mut out, &rows),
        Format::Json => json::write(&mut out, &rows),
    }
    out
}
