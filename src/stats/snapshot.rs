//! A snapshot of the statistics: one [`Row`] per frontend, server and backend, with
//! HAProxy 2.6's `show stat` columns ([`super::fields`]). Which columns a row fills
//! depends on its type and mode exactly as HAProxy 2.6 leaves them empty or not
//! (compared with a live HAProxy in `tests/http_stats.rs`); columns for features
//! moonproxy does not have (compression, caches, SSL, HTTP/2, agents) hold the zeros
//! HAProxy prints when they are unused.

use std::time::Instant;

use super::counters::{StatusClasses, TrafficCounters};
use super::fields as f;
use crate::backend::{AdminState, Backend, CheckResult, FailReason, OpState, Server};
use crate::config::model::{Balance, Mode};
use crate::stream::proxy::ProxyRt;
use crate::stream::ServerPool;

/// One cell. `Empty` is what HAProxy leaves blank for that row type.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Value {
    Empty,
    U32(u32),
    U64(u64),
    S32(i32),
    Str(String),
}

impl Value {
    fn u32(v: usize) -> Value {
        Value::U32(u32::try_from(v).unwrap_or(u32::MAX))
    }
}

/// HAProxy's row types (the `type` column).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RowKind {
    Frontend = 0,
    Backend = 1,
    Server = 2,
}

/// One line of `show stat`.
#[derive(Clone, Debug)]
pub struct Row {
    pub kind: RowKind,
    /// Index of the proxy in the proxy table.
    pub proxy: usize,
    pub values: Vec<Value>,
}

impl Row {
    fn new(kind: RowKind, proxy: usize) -> Row {
        Row { kind, proxy, values: vec![Value::Empty; f::COUNT] }
    }

    fn set(&mut self, field: usize, v: Value) {
        self.values[field] = v;
    }

    fn zeros(&mut self, fields: impl IntoIterator<Item = usize>) {
        for i in fields {
            self.values[i] = Value::U64(0);
        }
    }

    /// The value of a column (tests, the HTML page).
    pub fn get(&self, field: usize) -> &Value {
        &self.values[field]
    }
}

/// What a snapshot reads.
pub struct View<'a> {
    pub proxies: &'a [ProxyRt],
    pub pool: &'a dyn ServerPool,
    pub now: Instant,
    /// `stats show-legends`: fill `addr` and `algo` (HAProxy shows them to admins and
    /// with this option only).
    pub legends: bool,
    /// The stats page of this proxy is answering: its `intercepted` count includes
    /// the request being answered, as HAProxy counts it before answering.
    pub serving: Option<usize>,
    /// Rows for `disabled` proxies too (`show servers state` lists them; the
    /// statistics, as HAProxy's, do not).
    pub with_disabled: bool,
}

impl<'a> View<'a> {
    pub fn new(proxies: &'a [ProxyRt], pool: &'a dyn ServerPool, now: Instant) -> View<'a> {
        View { proxies, pool, now, legends: false, serving: None, with_disabled: false }
    }
}

/// The rows of the proxies `keep` accepts, in HAProxy's order: per proxy in
/// declaration order, its frontend, then its servers, then its backend.
///
/// With several reactor threads (`nbthread`), each thread counts its own traffic: the
/// rows are then the sums over the threads ([`merge`]), collected by the [`Peers`]
/// installed on this thread ([`set_peers`]).
pub fn rows(view: &View<'_>, keep: &dyn Fn(usize, &ProxyRt) -> bool) -> Vec<Row> {
    let mut out = local_rows(view, keep);
    let peers = PEERS.with(|p| p.borrow().clone());
    if let Some(peers) = peers {
        let others = peers.rows(view);
        merge(&mut out, peers.is_base(), &others);
    }
    out
}

/// Where the other reactor threads' rows come from (`crate::runtime::threads`).
pub trait Peers {
    /// Whether this thread's rows give the columns that are not summed (thread 1: the
    /// one that runs the health checks).
    fn is_base(&self) -> bool;
    /// The rows of every other thread (all proxies, [`local_rows`] with `view`'s
    /// options), each with whether it is the base thread's. `view` is this thread's,
    /// for the other threads that ask it while it waits.
    fn rows(&self, view: &View<'_>) -> Vec<(bool, Vec<Row>)>;
}

thread_local! {
    static PEERS: std::cell::RefCell<Option<std::rc::Rc<dyn Peers>>> = const { std::cell::RefCell::new(None) };
}

/// Installs (or removes) this thread's source of the other threads' rows.
pub fn set_peers(peers: Option<std::rc::Rc<dyn Peers>>) {
    PEERS.with(|p| *p.borrow_mut() = peers);
}

/// How a column adds up over threads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Merge {
    /// Counters, current values, rates, and maxima (an upper bound of the process's).
    Sum,
    /// Average and maximum times: the slowest thread's.
    Max,
    /// Seconds since the last session: the most recent (`-1`: never).
    Recent,
    /// Names, states, limits, weights, checks: the base thread's.
    Base,
}

fn merge_rule(field: usize) -> Merge {
    match field {
        f::QCUR | f::QMAX | f::SCUR | f::SMAX | f::STOT | f::BIN | f::BOUT | f::DREQ | f::DRESP | f::EREQ | f::ECON
        | f::ERESP | f::WRETR | f::WREDIS | f::LBTOT | f::RATE | f::RATE_MAX | f::REQ_RATE | f::REQ_RATE_MAX
        | f::REQ_TOT | f::CLI_ABRT | f::SRV_ABRT | f::CONN_RATE | f::CONN_RATE_MAX | f::CONN_TOT | f::INTERCEPTED
        | f::DCON | f::DSES | f::CONNECT | f::REUSE | f::SRV_ICUR | f::IDLE_CONN_CUR | f::SAFE_CONN_CUR
        | f::USED_CONN_CUR => Merge::Sum,
        f::HRSP_1XX..=f::HRSP_OTHER | f::H1_OPEN_CONNECTIONS..=f::H1_SPLICED_BYTES_OUT => Merge::Sum,
        f::QTIME | f::CTIME | f::RTIME | f::TTIME | f::QTIME_MAX | f::CTIME_MAX | f::RTIME_MAX | f::TTIME_MAX => Merge::Max,
        f::LASTSESS => Merge::Recent,
        _ => Merge::Base,
    }
}

fn add(a: &Value, b: &Value, rule: Merge) -> Value {
    use Value::*;
    match (rule, a, b) {
        (Merge::Sum, U32(x), U32(y)) => U32(x.saturating_add(*y)),
        (Merge::Sum, U64(x), U64(y)) => U64(x.saturating_add(*y)),
        (Merge::Max, U32(x), U32(y)) => U32(*x.max(y)),
        (Merge::Max, U64(x), U64(y)) => U64(*x.max(y)),
        (Merge::Recent, S32(x), S32(y)) if *x < 0 => S32(*y),
        (Merge::Recent, S32(x), S32(y)) if *y >= 0 => S32(*x.min(y)),
        _ => a.clone(),
    }
}

/// Adds the other threads' rows into `rows` (this thread's): a row is matched by
/// type, proxy and server id. Summed columns add up, times take the slowest thread,
/// and the other columns come from the base thread (see [`Peers::is_base`]).
pub fn merge(rows: &mut [Row], local_is_base: bool, others: &[(bool, Vec<Row>)]) {
    let key = |r: &Row| (r.kind as u8, r.proxy, r.values[f::SID].clone());
    for (base, other) in others {
        let index: std::collections::HashMap<_, &Row> = other.iter().map(|r| (key(r), r)).collect();
        for r in rows.iter_mut() {
            let Some(o) = index.get(&key(r)) else { continue };
            for (i, v) in r.values.iter_mut().enumerate() {
                let rule = merge_rule(i);
                if rule == Merge::Base {
                    if *base && !local_is_base {
                        *v = o.values[i].clone();
                    }
                } else {
                    *v = add(v, &o.values[i], rule);
                }
            }
        }
    }
}

/// The rows of this thread alone (see [`rows`]).
pub fn local_rows(view: &View<'_>, keep: &dyn Fn(usize, &ProxyRt) -> bool) -> Vec<Row> {
    let mut out = Vec::new();
    for (i, p) in view.proxies.iter().enumerate() {
        // As HAProxy, a proxy declared `disabled` has no statistics.
        if (p.declared_disabled && !view.with_disabled) || !keep(i, p) {
            continue;
        }
        if p.cap.frontend {
            out.push(frontend_row(view, i, p));
        }
        if let Some(b) = view.pool.backend_state(i).filter(|_| p.cap.backend) {
            for (id, s) in b.iter_servers() {
                out.push(server_row(view, i, p, id.0, s));
            }
            out.push(backend_row(view, i, p, b));
        }
    }
    out
}

fn mode_name(m: Mode) -> &'static str {
    match m {
        Mode::Tcp => "tcp",
        Mode::Http => "http",
    }
}

fn secs(d: std::time::Duration) -> Value {
    Value::U32(u32::try_from(d.as_secs()).unwrap_or(u32::MAX))
}

fn hrsp(r: &mut Row, c: &StatusClasses) {
    for (k, n) in c.0.iter().enumerate() {
        r.set(f::HRSP_1XX + k, Value::U64(*n));
    }
}

/// The columns common to the rows of every type.
fn identity(r: &mut Row, p: &ProxyRt, svname: &str, sid: u32) {
    r.set(f::PXNAME, Value::Str(p.name.clone()));
    r.set(f::SVNAME, Value::Str(svname.to_string()));
    r.set(f::PID, Value::U32(1));
    r.set(f::IID, Value::U32(p.uuid));
    r.set(f::SID, Value::U32(sid));
    r.set(f::TYPE, Value::U32(r.kind as u32));
    r.set(f::MODE, Value::Str(mode_name(p.mode).into()));
    r.set(f::DASH, Value::Str("-".into()));
    r.zeros([f::WREW, f::EINT, f::SSL_SESS, f::SSL_REUSED_SESS, f::SSL_FAILED_HANDSHAKE]);
}

fn frontend_row(view: &View<'_>, i: usize, p: &ProxyRt) -> Row {
    let now_ms = super::counters::millis(view.now);
    let c = &p.counters.fe;
    let http = p.mode == Mode::Http;
    let mut r = Row::new(RowKind::Frontend, i);
    identity(&mut r, p, "FRONTEND", 0);
    r.set(f::SCUR, Value::U32(p.feconn));
    r.set(f::SMAX, Value::U32(c.sess_max));
    r.set(f::SLIM, Value::U32(p.counters.fe_limit));
    r.set(f::STOT, Value::U64(c.sess_tot));
    r.set(f::BIN, Value::U64(c.bytes_in));
    r.set(f::BOUT, Value::U64(c.bytes_out));
    r.set(f::DREQ, Value::U64(c.denied_req));
    r.set(f::DRESP, Value::U64(c.denied_resp));
    r.set(f::EREQ, Value::U64(c.failed_req));
    let status = if p.disabled {
        "STOP"
    } else if p.frontend_full() {
        "FULL"
    } else {
        "OPEN"
    };
    r.set(f::STATUS, Value::Str(status.into()));
    r.set(f::RATE, Value::U32(c.sess_rate.ctr.read(now_ms)));
    r.set(f::RATE_LIM, Value::U32(0));
    r.set(f::RATE_MAX, Value::U32(c.sess_rate.max));
    r.set(f::REQ_RATE, Value::U32(c.req_rate.ctr.read(now_ms)));
    r.set(f::REQ_RATE_MAX, Value::U32(c.req_rate.max));
    r.set(f::REQ_TOT, Value::U64(if http { c.req_tot } else { 0 }));
    r.set(f::CONN_RATE, Value::U32(c.conn_rate.ctr.read(now_ms)));
    r.set(f::CONN_RATE_MAX, Value::U32(c.conn_rate.max));
    r.set(f::CONN_TOT, Value::U64(c.conn_tot));
    r.set(f::DCON, Value::U64(c.denied_conn));
    r.set(f::DSES, Value::U64(c.denied_sess));
    r.zeros([f::COMP_IN, f::COMP_OUT, f::COMP_BYP, f::COMP_RSP]);
    r.zeros(f::H2_HEADERS_RCVD..=f::H1_SPLICED_BYTES_OUT);
    if http {
        hrsp(&mut r, &c.rsp);
        let answering = u64::from(view.serving == Some(i));
        r.set(f::INTERCEPTED, Value::U64(c.intercepted + answering));
        r.zeros([f::CACHE_LOOKUPS, f::CACHE_HITS]);
        // HTTP/1 is the only multiplexer: its counters are the frontend's.
        r.set(f::H1_OPEN_CONNECTIONS, Value::U32(p.feconn));
        r.set(f::H1_OPEN_STREAMS, Value::U32(p.feconn));
        r.set(f::H1_TOTAL_CONNECTIONS, Value::U64(c.sess_tot));
        r.set(f::H1_TOTAL_STREAMS, Value::U64(c.req_tot));
        r.set(f::H1_BYTES_IN, Value::U64(c.bytes_in));
        r.set(f::H1_BYTES_OUT, Value::U64(c.bytes_out));
    }
    r
}

/// The columns servers and backends share.
fn traffic(r: &mut Row, view: &View<'_>, p: &ProxyRt, t: &TrafficCounters) {
    let http = p.mode == Mode::Http;
    r.set(f::BIN, Value::U64(t.bytes_in));
    r.set(f::BOUT, Value::U64(t.bytes_out));
    r.set(f::DRESP, Value::U64(t.denied_resp));
    r.set(f::ERESP, Value::U64(t.failed_resp));
    r.set(f::RATE, Value::U32(t.sess_rate.ctr.read(super::counters::millis(view.now))));
    r.set(f::RATE_MAX, Value::U32(t.sess_rate.max));
    r.set(f::CLI_ABRT, Value::U64(t.cli_abrt));
    r.set(f::SRV_ABRT, Value::U64(t.srv_abrt));
    let last = t.last_sess.map_or(-1, |at| i32::try_from(view.now.saturating_duration_since(at).as_secs()).unwrap_or(i32::MAX));
    r.set(f::LASTSESS, Value::S32(last));
    for (avg, max, a) in [(f::QTIME, f::QTIME_MAX, &t.qtime), (f::CTIME, f::CTIME_MAX, &t.ctime), (f::RTIME, f::RTIME_MAX, &t.rtime), (f::TTIME, f::TTIME_MAX, &t.ttime)] {
        r.set(avg, Value::U32(u32::try_from(a.avg()).unwrap_or(u32::MAX)));
        r.set(max, Value::U32(u32::try_from(a.max).unwrap_or(u32::MAX)));
    }
    r.set(f::REUSE, Value::U64(t.reuses));
    if http {
        hrsp(r, &t.rsp);
        r.set(f::REQ_TOT, Value::U64(t.req_tot));
    }
}

/// HAProxy's check status code for a result (`check_status`).
pub(crate) fn check_code(res: &CheckResult) -> &'static str {
    match res {
        CheckResult::Ok { .. } => "L4OK",
        CheckResult::L6Passed { .. } => "L6OK",
        CheckResult::Passed { .. } | CheckResult::TcpPassed { .. } => "L7OK",
        CheckResult::ConditionalPass { .. } => "L7OKC",
        CheckResult::WrongStatus { .. } => "L7STS",
        CheckResult::External { outcome, .. } => outcome.code(),
        CheckResult::Failed { reason, .. } => match reason {
            FailReason::L4Connection => "L4CON",
            FailReason::L4Timeout => "L4TOUT",
            FailReason::SocketError => "SOCKERR",
            FailReason::L7Timeout => "L7TOUT",
            FailReason::L7Response => "L7RSP",
            FailReason::L7Status => "L7STS",
            FailReason::L6Response => "L6RSP",
            FailReason::L6Timeout => "L6TOUT",
            FailReason::HealthAnalyze => "HANA",
        },
    }
}

/// The `status` column of a server, as HAProxy 2.6 words it: `MAINT (resolution)`,
/// `MAINT (via b/s)` (in maintenance through `track`), `MAINT`, then its health:
/// `UP`, `DOWN`, `UP n/m` (going down), `DOWN n/m` (going up), `DRAIN`, `DRAIN n/m`,
/// `NOLB`, `no check`. The health is that of `reference`, the server at the end of
/// its `track` chain (itself when it tracks none): a tracking server has no check of
/// its own and shows the tracked server's.
pub fn server_status(s: &Server, reference: &Server) -> String {
    if s.in_resolution_maint() && s.admin_state() != AdminState::Maint {
        return "MAINT (resolution)".into();
    }
    if let Some((AdminState::Maint, via)) = s.inherited_admin() {
        return format!("MAINT (via {via})");
    }
    if s.admin_state() == AdminState::Maint {
        return "MAINT".into();
    }
    let drain = s.effective_admin() == AdminState::Drain;
    let Some(hc) = reference.check() else {
        // Without a check a server is down only when forced so (Lua, the CLI).
        return match (s.op_state(), drain) {
            (OpState::Down, _) => "DOWN",
            (OpState::Up, true) => "DRAIN",
            (OpState::Up, false) => "no check",
        }
        .into();
    };
    let (h, rise, fall) = (hc.health(), hc.rise(), hc.fall());
    let going_down = h < rise + fall - 1 && h >= rise;
    match s.op_state() {
        OpState::Up if s.is_stopping() => "NOLB".into(),
        OpState::Up => match (drain, going_down) {
            (true, true) => format!("DRAIN {}/{fall}", h - rise + 1),
            (true, false) => "DRAIN".into(),
            (false, true) => format!("UP {}/{fall}", h - rise + 1),
            (false, false) => "UP".into(),
        },
        OpState::Down if h > 0 && h < rise => format!("DOWN {h}/{rise}"),
        OpState::Down => "DOWN".into(),
    }
}

/// The server whose health `s` (of backend `be`) shows: the end of its `track` chain.
fn reference<'v>(view: &View<'v>, be: usize, s: &'v Server) -> &'v Server {
    let mut at = (be, s);
    // A chain is short; the bound only guards against a loop.
    for _ in 0..16 {
        let Some(track) = at.1.tuning().track.as_deref() else { break };
        let (b, name) = match track.split_once('/') {
            Some((b, name)) => (view.proxies.iter().position(|p| p.name == b && p.cap.backend), name),
            None => (Some(at.0), track),
        };
        let next = b.and_then(|b| Some((b, view.pool.backend_state(b)?))).and_then(|(b, backend)| Some((b, backend.server(backend.server_by_name(name)?))));
        match next {
            Some(next) => at = next,
            None => break,
        }
    }
    at.1
}

fn server_row(view: &View<'_>, i: usize, p: &ProxyRt, sid: usize, s: &Server) -> Row {
    let mut r = Row::new(RowKind::Server, i);
    identity(&mut r, p, s.name(), s.puid());
    let sc = s.counters();
    let fallback = TrafficCounters::default();
    let t = p.counters.servers.get(sid).unwrap_or(&fallback);
    r.set(f::QCUR, Value::u32(s.queue_len()));
    r.set(f::QMAX, Value::u32(sc.max_queue));
    r.set(f::SCUR, Value::U32(s.current_conns()));
    r.set(f::SMAX, Value::U32(sc.max_conns));
    if s.maxconn() > 0 {
        r.set(f::SLIM, Value::U32(s.maxconn()));
    }
    r.set(f::STOT, Value::U64(sc.cum_conns));
    r.set(f::ECON, Value::U64(sc.failed_conns));
    r.set(f::WRETR, Value::U64(sc.retries));
    r.set(f::WREDIS, Value::U64(sc.redispatches));
    r.set(f::STATUS, Value::Str(server_status(s, reference(view, i, s))));
    r.set(f::WEIGHT, Value::U32(s.current_weight()));
    r.set(f::UWEIGHT, Value::U32(s.weight()));
    r.set(f::ACT, Value::U32(u32::from(!s.is_backup())));
    r.set(f::BCK, Value::U32(u32::from(s.is_backup())));
    if let Some(clock) = p.counters.server_states.get(sid) {
        r.set(f::LASTCHG, secs(view.now.saturating_duration_since(clock.last_change)));
        if s.check().is_some() {
            r.set(f::DOWNTIME, secs(clock.downtime(view.now)));
        }
    }
    if s.maxqueue() > 0 {
        r.set(f::QLIMIT, Value::U32(s.maxqueue()));
    }
    r.set(f::LBTOT, Value::U64(sc.cum_lbconn));
    r.set(f::CONNECT, Value::U64(t.connects));
    traffic(&mut r, view, p, t);
    if let Some(hc) = s.check() {
        r.set(f::CHKFAIL, Value::U64(sc.failed_checks));
        r.set(f::CHKDOWN, Value::U64(sc.down_transitions));
        if s.tuning().observe.is_some() {
            r.set(f::HANAFAIL, Value::U64(sc.failed_hana));
        }
        r.set(f::CHECK_RISE, Value::U32(hc.rise()));
        r.set(f::CHECK_FALL, Value::U32(hc.fall()));
        r.set(f::CHECK_HEALTH, Value::U32(hc.health()));
        // In maintenance the check is paused: HAProxy leaves its results out.
        if s.effective_admin() != AdminState::Maint && !s.in_resolution_maint() {
            // The check's output (the error text of a failed connect, the reason of a
            // wrong status), empty for a passed check: the typed formats show it.
            let output = match hc.last_result() {
                Some(CheckResult::Failed { info, .. } | CheckResult::WrongStatus { info, .. }) => info.clone(),
                _ => String::new(),
            };
            r.set(f::LAST_CHK, Value::Str(output));
            match hc.last_result() {
                Some(res) => {
                    r.set(f::CHECK_STATUS, Value::Str(check_code(res).into()));
                    if let CheckResult::Passed { code, .. } | CheckResult::ConditionalPass { code, .. } | CheckResult::WrongStatus { code, .. } | CheckResult::TcpPassed { code, .. } = res {
                        r.set(f::CHECK_CODE, Value::U32(u32::from(*code)));
                    }
                    r.set(f::CHECK_DURATION, Value::U64(res.duration().as_millis() as u64));
                    r.set(f::CHECK_DESC, Value::Str(res.description().into()));
                }
                None => r.set(f::CHECK_STATUS, Value::Str("INI".into())),
            }
        }
    }
    if view.legends {
        // A server without a port (it takes the client's) shows port 0, and one with
        // a port offset the offset (`127.0.0.2:-1`), as in HAProxy.
        use crate::config::model::ServerAddr;
        let addr = match s.addr() {
            ServerAddr::Inet { ip, port: None } => Some(std::net::SocketAddr::new(*ip, 0).to_string()),
            ServerAddr::PortOffset { ip: ip @ std::net::IpAddr::V4(_), offset } => Some(format!("{ip}:{offset}")),
            ServerAddr::PortOffset { ip, offset } => Some(format!("[{ip}]:{offset}")),
            _ => s.socket_addr().map(|a| a.to_string()),
        };
        if let Some(a) = addr {
            r.set(f::ADDR, Value::Str(a));
        }
    }
    r.zeros([f::SRV_ICUR, f::IDLE_CONN_CUR, f::SAFE_CONN_CUR, f::USED_CONN_CUR, f::NEED_CONN_EST]);
    r.set(f::USED_CONN_CUR, Value::U32(s.current_conns()));
    // Every idle connection carried a request to its end: HAProxy's "safe" ones.
    let idle = t.idle_private + view.pool.idle_conns(i, sid);
    r.set(f::SRV_ICUR, Value::U32(idle));
    r.set(f::SAFE_CONN_CUR, Value::U32(idle));
    r
}

fn balance_name(b: &Balance) -> &'static str {
    match b {
        Balance::RoundRobin => "roundrobin",
        Balance::StaticRr => "static-rr",
        Balance::LeastConn => "leastconn",
        Balance::First => "first",
        Balance::Source => "source",
        Balance::Uri(_) => "uri",
        Balance::UrlParam { .. } => "url_param",
        Balance::Hdr { .. } => "hdr",
        Balance::Random { .. } => "random",
        Balance::RdpCookie { .. } => "rdp-cookie",
    }
}

fn backend_row(view: &View<'_>, i: usize, p: &ProxyRt, b: &Backend) -> Row {
    let mut r = Row::new(RowKind::Backend, i);
    identity(&mut r, p, "BACKEND", 0);
    let bc = b.counters();
    let t = &p.counters.be;
    r.set(f::QCUR, Value::u32(b.queue_len()));
    r.set(f::QMAX, Value::u32(bc.max_queue));
    r.set(f::SCUR, Value::U32(b.beconn()));
    r.set(f::SMAX, Value::U32(bc.max_conns));
    r.set(f::SLIM, Value::U32(p.counters.be_limit));
    r.set(f::STOT, Value::U64(bc.cum_conns));
    r.set(f::DREQ, Value::U64(t.denied_req));
    r.set(f::ECON, Value::U64(bc.failed_conns));
    r.set(f::WRETR, Value::U64(bc.retries));
    r.set(f::WREDIS, Value::U64(bc.redispatches));
    let eligible = b.eligible_servers();
    let up = !eligible.is_empty() || !b.has_servers();
    r.set(f::STATUS, Value::Str(if up { "UP" } else { "DOWN" }.into()));
    let weight: u32 = eligible.iter().map(|id| b.server(*id).weight()).sum();
    r.set(f::WEIGHT, Value::U32(weight));
    r.set(f::UWEIGHT, Value::U32(weight));
    r.set(f::ACT, Value::u32(b.active_servers()));
    r.set(f::BCK, Value::u32(b.backup_servers()));
    r.set(f::CHKDOWN, Value::U64(bc.down_transitions));
    r.set(f::LASTCHG, secs(view.now.saturating_duration_since(p.counters.be_state.last_change)));
    if b.has_servers() {
        r.set(f::DOWNTIME, secs(p.counters.be_state.downtime(view.now)));
    }
    r.set(f::LBTOT, Value::U64(bc.cum_lbconn));
    r.set(f::CONNECT, Value::U64(t.connects));
    traffic(&mut r, view, p, t);
    r.zeros([f::COMP_IN, f::COMP_OUT, f::COMP_BYP, f::COMP_RSP]);
    r.zeros([f::AGG_SERVER_STATUS, f::AGG_SERVER_CHECK_STATUS, f::AGG_CHECK_STATUS]);
    r.zeros(f::H2_HEADERS_RCVD..=f::H1_SPLICED_BYTES_OUT);
    if p.mode == Mode::Http {
        r.zeros([f::CACHE_LOOKUPS, f::CACHE_HITS]);
        r.set(f::H1_OPEN_CONNECTIONS, Value::U32(b.beconn()));
        r.set(f::H1_OPEN_STREAMS, Value::U32(b.beconn()));
        r.set(f::H1_TOTAL_CONNECTIONS, Value::U64(t.connects));
        r.set(f::H1_TOTAL_STREAMS, Value::U64(t.req_tot));
        r.set(f::H1_BYTES_IN, Value::U64(t.bytes_out));
        r.set(f::H1_BYTES_OUT, Value::U64(t.bytes_in));
    }
    if view.legends {
        r.set(f::ALGO, Value::Str(balance_name(b.balance()).into()));
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::ServerId;
    use crate::config::model::{self, CheckParams, Location, Proxy, ServerAddr};
    use std::time::Duration;

    fn backend() -> Backend {
        let mut s = model::Server::new("s", Location { file: "t.cfg".into(), line: 1 }, ServerAddr::Inet { ip: [127, 0, 0, 1].into(), port: Some(1) });
        s.check = Some(CheckParams { rise: 2, fall: 3, ..CheckParams::default() });
        let plain = model::Server::new("p", Location { file: "t.cfg".into(), line: 2 }, ServerAddr::Inet { ip: [127, 0, 0, 1].into(), port: Some(2) });
        Backend::from_config(&Proxy { name: "b".into(), servers: vec![s, plain], ..Proxy::default() })
    }

    fn fail() -> CheckResult {
        CheckResult::Failed { reason: FailReason::L4Connection, info: "Connection refused".into(), duration: Duration::ZERO }
    }

    fn row(kind: RowKind, sid: u32, cells: &[(usize, Value)]) -> Row {
        let mut r = Row::new(kind, 0);
        r.set(f::SID, Value::U32(sid));
        for (i, v) in cells {
            r.set(*i, v.clone());
        }
        r
    }

    #[test]
    fn merged_rows_sum_counters_keep_the_slowest_time_and_take_states_from_the_base() {
        let mine = |stot, status: &str| {
            row(RowKind::Server, 1, &[(f::STOT, Value::U64(stot)), (f::TTIME, Value::U32(5)), (f::LASTSESS, Value::S32(-1)), (f::STATUS, Value::Str(status.into()))])
        };
        let theirs = row(RowKind::Server, 1, &[(f::STOT, Value::U64(7)), (f::TTIME, Value::U32(9)), (f::LASTSESS, Value::S32(3)), (f::STATUS, Value::Str("DOWN".into()))]);
        let other_server = row(RowKind::Server, 2, &[(f::STOT, Value::U64(100))]);
        // Thread 2 merging thread 1's (the base's) row: the state comes from thread 1.
        let mut rows = vec![mine(2, "UP")];
        merge(&mut rows, false, &[(true, vec![other_server.clone(), theirs.clone()])]);
        assert_eq!(rows[0].get(f::STOT), &Value::U64(9));
        assert_eq!(rows[0].get(f::TTIME), &Value::U32(9));
        assert_eq!(rows[0].get(f::LASTSESS), &Value::S32(3));
        assert_eq!(rows[0].get(f::STATUS), &Value::Str("DOWN".into()));
        // Thread 1 merging another thread's row keeps its own state.
        let mut rows = vec![mine(2, "UP")];
        merge(&mut rows, true, &[(false, vec![theirs])]);
        assert_eq!(rows[0].get(f::STOT), &Value::U64(9));
        assert_eq!(rows[0].get(f::STATUS), &Value::Str("UP".into()));
    }

    #[test]
    fn status_follows_the_health_as_haproxy_shows_it() {
        let mut b = backend();
        let id = ServerId(0);
        // Before its first check a server is UP at the bottom of its range (HAProxy 2.6
        // shows `UP 1/3` with `INI`); a passed check takes it to the top.
        assert_eq!(server_status(b.server(id), b.server(id)), "UP 1/3");
        assert_eq!(server_status(b.server(ServerId(1)), b.server(ServerId(1))), "no check");
        b.on_check_result(id, CheckResult::Ok { duration: Duration::ZERO });
        assert_eq!(server_status(b.server(id), b.server(id)), "UP");
        b.on_check_result(id, fail());
        assert_eq!(server_status(b.server(id), b.server(id)), "UP 2/3");
        b.on_check_result(id, fail());
        assert_eq!(server_status(b.server(id), b.server(id)), "UP 1/3");
        b.on_check_result(id, fail());
        assert_eq!(server_status(b.server(id), b.server(id)), "DOWN");
        b.on_check_result(id, CheckResult::Ok { duration: Duration::ZERO });
        assert_eq!(server_status(b.server(id), b.server(id)), "DOWN 1/2");
        b.on_check_result(id, CheckResult::Ok { duration: Duration::ZERO });
        assert!(server_status(b.server(id), b.server(id)).starts_with("UP"));
        b.set_admin_state(id, AdminState::Drain);
        assert_eq!(server_status(b.server(id), b.server(id)), "DRAIN");
        b.set_admin_state(id, AdminState::Maint);
        assert_eq!(server_status(b.server(id), b.server(id)), "MAINT");
        assert_eq!(check_code(&fail()), "L4CON");
    }
}
