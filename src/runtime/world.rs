//! [`World`]: everything the reactor's tokens point at (listeners, streams, health
//! checks, the signal pipe) and the [`Handler`] that routes each event to it.
//! Process-wide policy lives here: global `maxconn`, pausing listeners, soft and
//! hard stop, logging finished streams and server state changes.

use super::checks::Checks;
use super::pool::{key_of, Farm};
use crate::backend::{CheckResult, ServerId};
use crate::config::model::Level;
use crate::diag::{self, Severity};
use crate::listener::{Accept, Listener};
use crate::log::{events, LogFormat, LogLine, Logger};
use crate::reactor::{token, Ctx, Flow, GenSlab, GlobalTimer, Handler, Key, Kind, Ready, Tagged, TimerTarget};
use crate::stream::conn::Conn;
use crate::stream::proxy::ProxyRt;
use crate::stream::termination::Cause;
use crate::stream::{Env, Event, Life, Stream};
use crate::sys::signals::Signals;
use mio::Token;
use std::time::Duration;

mod cli;
mod dns;
mod dynamic;
mod h2;
mod log_uri;
mod mailbox;
mod observe;
mod stop;

/// Delay before accepting again after `accept()` failed for lack of resources.
const ACCEPT_RETRY: Duration = Duration::from_millis(100);
/// With several threads: how long a thread that left a connection to a less loaded
/// thread waits before taking whatever is still in the accept queue itself.
const ACCEPT_REBALANCE: Duration = Duration::from_millis(5);
/// The generation of a listener's timer key that means "accept whatever the load".
const FORCED: u32 = 1;

/// A proxy's logging: its targets, and the format of the line written when a
/// stream ends (`None`: HAProxy's "Connect from" line at accept instead).
pub struct ProxyLog {
    pub logger: Logger,
    pub format: Option<LogFormat>,
    /// `log-format-sd`: the RFC 5424 structured data of the stream lines.
    pub sd: Option<LogFormat>,
}

/// Where the process is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    Running,
    /// SIGUSR1: listeners closed, waiting for live streams to finish.
    SoftStop,
    /// Leave the loop with this code.
    Exit(i32),
}

pub struct World {
    pub proxies: Vec<ProxyRt>,
    pub farm: Farm,
    pub listeners: Vec<Listener>,
    pub streams: GenSlab<Stream>,
    /// HTTP/2 client connections (world/h2.rs); their requests are in `streams`.
    pub h2: GenSlab<crate::stream::h2conn::SharedRc>,
    /// `tune.h2.*`: the settings each HTTP/2 connection starts with.
    pub h2_settings: crate::http::h2::session::Config,
    /// HTTP/2 connections one of whose streams ran or ended: each may have notes to
    /// deliver or be done now (world/h2.rs, `h2_settle`).
    h2_dirty: Vec<Key>,
    /// `h2_settle` is running (a stream it wakes marks its connection again).
    h2_settling: bool,
    /// HTTP/2 connections whose output waits for the end of the iteration: the frames
    /// of all their streams leave in one write.
    h2_unflushed: Vec<Key>,
    pub checks: Checks,
    /// Per proxy (indexed like `proxies`): its log targets and compiled format.
    pub logs: Vec<ProxyLog>,
    /// The signal pipe: thread 1's (the others hear of signals through their mailbox).
    pub signals: Option<Signals>,
    pub bufsize: usize,
    /// `tune.http.maxhdr`.
    pub http_maxhdr: usize,
    pub maxaccept: u32,
    /// Global `maxconn`.
    pub maxconn: u32,
    /// Live client connections (`%ac`).
    pub actconn: u32,
    pub hard_stop_after: Option<Duration>,
    /// `-d`: HAProxy's per-connection traces on stderr.
    pub debug: bool,
    /// The Lua engine and its tasks (`lua-load` in the configuration).
    pub lua: Option<super::lua::LuaRt>,
    /// What a Lua script asked that needs streams or listeners (`Server.shut_sess`,
    /// `Proxy.pause`...), done after its resume.
    lua_deferred: Vec<crate::lua::host::Deferred>,
    /// Frontends paused by `Proxy.pause` or the CLI's `disable frontend` (indexed like
    /// `proxies`; empty: none yet).
    lua_paused: Vec<bool>,
    /// The stats socket CLI (`stats socket`): its listeners and sessions.
    pub cli: crate::cli_socket::Cli,
    /// The configured global `maxconn` (`set maxconn global` may not exceed it).
    hard_maxconn: u32,
    next_stream_id: u64,
    /// Stream ids go up by the number of threads from the thread's number - 1, so they
    /// are unique in the process.
    stream_id_step: u64,
    /// Which reactor thread this world is (from 1; `nbthread`).
    thread: usize,
    /// Thread 1: the other threads still in their loop (it leaves last).
    peers_running: usize,
    phase: Phase,
    paused_by_signal: bool,
    listeners_dirty: bool,
    /// `maxconnrate`, `maxsessrate`, `rate-limit sessions` (none unless set with
    /// [`World::set_accept_rates`]).
    rates: crate::listener::rate::AcceptRates,
    /// `grace` and `close-spread-time` (world/stop.rs).
    stopping: stop::Stopping,
    /// `tune.http.logurilen`: the request line is cut to this in logs (world/log_uri.rs).
    pub log_uri_len: usize,
    /// The DNS resolution of servers (`resolvers` sections; thread 1 only, world/dns.rs).
    dns: Option<dns::DnsTask>,
    /// The syslog relay (`log-forward` sections; thread 1 only): `crate::log::forward`.
    pub logfwd: Option<crate::log::forward::Forwarder>,
    /// The global `ssl-default-server-*` lines, which `add server` applies as the
    /// configuration's `server` lines do.
    pub tls_defaults: Vec<(String, Vec<String>)>,
    /// The `resolvers` sections and their name servers' ids (`show resolvers`).
    pub resolvers: Vec<(String, Vec<String>)>,
    /// The SPOE agents' connections (`filter spoe`; runtime/spoe.rs).
    spoe: super::spoe::Hub,
}

impl World {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        proxies: Vec<ProxyRt>,
        farm: Farm,
        listeners: Vec<Listener>,
        checks: Checks,
        logs: Vec<ProxyLog>,
        signals: Option<Signals>,
        bufsize: usize,
        maxaccept: u32,
        maxconn: u32,
        hard_stop_after: Option<Duration>,
    ) -> World {
        let (mut proxies, mut farm) = (proxies, farm);
        crate::stats::set_limits(&mut proxies, maxconn);
        // `fullconn`, configured or HAProxy's default, drives `minconn` (backend/minconn.rs).
        for (b, p) in farm.backends.iter_mut().zip(&proxies) {
            if let Some(b) = b {
                b.set_fullconn(p.counters.be_limit);
            }
        }
        for (p, log) in proxies.iter_mut().zip(&logs) {
            p.logs_streams = log.format.is_some() && !log.logger.is_empty();
        }
        // A server a `use-server` rule names cannot be deleted (`del server`).
        for (be, p) in proxies.iter().enumerate() {
            if let Some(Some(b)) = farm.backends.get_mut(be) {
                for (srv, _) in &p.use_servers {
                    b.set_referenced(ServerId(*srv));
                }
            }
        }
        // What `so_id`, `so_name` and `dst_conn` read, on this thread.
        crate::sample::fetch_conn::set_listeners(listeners.iter().map(|l| crate::sample::fetch_conn::ListenerFacts { id: l.luid, name: l.name.clone(), conns: l.conns }).collect());
        let spoe = super::spoe::Hub::new(proxies.iter().flat_map(|p| p.spoe.iter().cloned()).collect());
        World {
            spoe,
            proxies,
            farm,
            listeners,
            streams: GenSlab::with_capacity(1024),
            h2: GenSlab::with_capacity(64),
            h2_settings: crate::http::h2::session::Config::default(),
            h2_dirty: Vec::new(),
            h2_settling: false,
            h2_unflushed: Vec::new(),
            checks,
            logs,
            signals,
            bufsize,
            http_maxhdr: crate::http::h1::Limits::default().max_headers,
            maxaccept: maxaccept.max(1),
            maxconn,
            actconn: 0,
            hard_stop_after,
            debug: false,
            lua: None,
            lua_deferred: Vec::new(),
            lua_paused: Vec::new(),
            cli: crate::cli_socket::Cli::default(),
            hard_maxconn: maxconn,
            next_stream_id: 0,
            stream_id_step: 1,
            thread: 1,
            peers_running: 0,
            phase: Phase::Running,
            paused_by_signal: false,
            rates: crate::listener::rate::AcceptRates::new(None, None, Vec::new(), std::time::Instant::now()),
            stopping: stop::Stopping::default(),
            log_uri_len: log_uri::DEFAULT_LOG_URI_LEN,
            listeners_dirty: true,
            dns: None,
            logfwd: None,
            tls_defaults: Vec::new(),
            resolvers: Vec::new(),
        }
    }

    /// This world is thread `number` (from 1) of `threads` reactor threads.
    pub fn set_thread(&mut self, number: usize, threads: usize) {
        self.thread = number.max(1);
        self.next_stream_id = number.saturating_sub(1) as u64;
        self.stream_id_step = threads.max(1) as u64;
        self.peers_running = if number == 1 { threads.saturating_sub(1) } else { 0 };
    }

    /// The accept rate limits of this thread (see [`crate::listener::rate`]).
    pub fn set_accept_rates(&mut self, rates: crate::listener::rate::AcceptRates) {
        self.rates = rates;
    }

    /// Registers or deregisters every listener according to the limits and signals.
    pub fn sync_listeners(&mut self, cx: &mut Ctx<'_>) {
        self.listeners_dirty = false;
        for li in 0..self.listeners.len() {
            let want = self.listener_wanted(li);
            let l = &mut self.listeners[li];
            if let Err(e) = l.set_active(cx.registry, want) {
                crate::warning!("could not {} listener: {}", if want { "resume" } else { "pause" }, e);
            }
        }
    }

    /// Whether listener `li` should accept now (not stopping, paused, or full).
    fn listener_wanted(&self, li: usize) -> bool {
        let Some(l) = self.listeners.get(li) else { return false };
        self.phase == Phase::Running
            && !self.paused_by_signal
            && !self.lua_paused.get(l.proxy).copied().unwrap_or(false)
            && self.actconn < self.maxconn
            && !self.proxies[l.proxy].frontend_full()
            && !l.full()
            && (l.tls.is_none() || self.rates.ssl_room(self.ssl_conns()))
    }

    /// Live connections on the `ssl` listeners (`maxsslconn`).
    fn ssl_conns(&self) -> u32 {
        self.listeners.iter().filter(|l| l.tls.is_some()).map(|l| l.conns).sum()
    }

    // ---- accepting --------------------------------------------------------

    /// Accepts from listener `li` (`forced`: the first connection even if another thread
    /// has fewer, which did not take it in time).
    fn accept_from(&mut self, cx: &mut Ctx<'_>, li: usize, forced: bool) {
        let mut forced = forced;
        for _ in 0..self.maxaccept {
            // A timer or wake-up may come after the listener was paused.
            if !self.listener_wanted(li) {
                self.listeners_dirty = true; // pause until a connection closes
                return;
            }
            // Over an accept rate: the connections wait in the backlog until it falls.
            if !self.rates.is_empty() {
                let ssl = self.listeners[li].tls.is_some();
                let wait = self.rates.wait(self.listeners[li].proxy, cx.now).max(if ssl { self.rates.ssl_wait(cx.now) } else { None });
                if let Some(wait) = wait {
                    if self.rates.arm_retry(li, cx.now + wait, cx.now) {
                        cx.timers.arm(cx.now + wait, TimerTarget::Entry(Kind::Listener, Key { slot: li, gen: 0 }));
                    }
                    return;
                }
            }
            let Some(l) = self.listeners.get_mut(li) else { return };
            // Every thread is woken for a new connection on the shared queue: the one with
            // the fewest connections takes it; the others come back later in case it did not.
            if !std::mem::take(&mut forced) && !super::threads::should_accept(self.actconn) {
                cx.timers.arm(cx.now + ACCEPT_REBALANCE, TimerTarget::Entry(Kind::Listener, Key { slot: li, gen: FORCED }));
                return;
            }
            match l.accept() {
                Accept::Conn { sock, peer, local } => match l.conn(sock) {
                    Ok(conn) => {
                        self.rates.accepted(cx.now);
                        if l.tls.is_some() {
                            self.rates.ssl_accepted(cx.now);
                        }
                        self.new_stream(cx, li, conn, peer, local)
                    }
                    Err(e) => ::log::warn!("cannot start TLS on an accepted connection: {e}"),
                },
                Accept::WouldBlock => return,
                Accept::Failed(e) => {
                    // Out of file descriptors or memory: the backlog is still
                    // pending but no new edge will come, so retry on a timer.
                    ::log::debug!("accept failed: {e}");
                    cx.timers.arm(cx.now + ACCEPT_RETRY, TimerTarget::Entry(Kind::Listener, Key { slot: li, gen: 0 }));
                    return;
                }
            }
        }
        // Budget spent with connections possibly pending: come back next iteration
        // (edge-triggered readiness will not tell us again).
        cx.wake.push(Kind::Listener, Key { slot: li, gen: 0 });
    }

    fn new_stream(&mut self, cx: &mut Ctx<'_>, li: usize, mut conn: Conn, mut peer: Option<std::net::SocketAddr>, mut local: Option<std::net::SocketAddr>) {
        // `tcp-request connection` rules: a rejected connection is closed at once, before
        // a stream exists, and not logged (HAProxy counts it as denied).
        let fe = self.listeners[li].proxy;
        let rules = &self.proxies[fe].tcp_rules;
        let mut sess = None;
        // Counters tracked by the connection rules (src/stick/session.rs).
        let mut stick = crate::stick::Session::default();
        if !rules.connection.is_empty() {
            use crate::stream::analysers::{run_tcp_rules, RuleCursor, TcpVars, TcpVerdict};
            // The frontend's name: `fe_name`, and the default table of `src_*` fetches.
            let fd = conn.raw_fd();
            let facts = crate::sample::fetch_conn::ClientConn { fd: (fd >= 0).then_some(fd), listener: Some(li), ..Default::default() };
            let cx_conn = crate::stick::sample::ConnRuleCtx { src: peer.into(), dst: local.into(), frontend: &self.proxies[fe].name, conn: facts };
            // `dst_conn` counts the connection being judged, as HAProxy's.
            crate::sample::fetch_conn::set_listener_conns(li, self.listeners[li].conns + 1);
            let vars = sess.insert(crate::sample::vars::Vars::new());
            let mut vars = TcpVars { sess: vars, txn: None, decided: None, resolve: None, priority: (0, 0) };
            let list = crate::config::model::TcpRuleList::Connection;
            let outer = crate::stick::enter(&mut stick);
            let verdict = run_tcp_rules(rules, list, &mut RuleCursor::default(), &cx_conn, &mut vars);
            // `set-src`, `set-dst`...: the stream starts with the rewritten addresses.
            (peer, local) = (cx_conn.src.get(), cx_conn.dst.get());
            let refused = matches!(verdict, TcpVerdict::Reject | TcpVerdict::SilentDrop);
            crate::stick::session::session_accepted_unless(refused);
            crate::stick::leave(&mut stick, outer);
            crate::sample::fetch_conn::set_listener_conns(li, self.listeners[li].conns);
            if refused {
                if verdict == TcpVerdict::SilentDrop {
                    conn.prepare_silent_drop();
                }
                crate::stats::account_conn_denied(&mut self.proxies[fe], cx.now, verdict == TcpVerdict::SilentDrop);
                return; // dropping `conn` closes the socket
            }
        }
        self.rates.session(fe, cx.now);
        let key = self.streams.vacant_key();
        if conn.register(cx.registry, token::encode(Kind::Client, key)).is_err() {
            return;
        }
        let fe = self.listeners[li].proxy;
        let opts = &self.proxies[fe].options;
        if opts.tcpka || opts.clitcpka {
            conn.set_keepalive();
            let _ = crate::sys::sockopt::set_keepalive_probes(conn.raw_fd(), &opts.clitcpka_probes);
        }
        if opts.nolinger {
            conn.set_nolinger();
        }
        if self.debug {
            let from = peer.map_or("unix".to_string(), |a| format!("{}:{}", a.ip(), a.port()));
            let lfd = self.listeners[li].raw_fd().unwrap_or(-1);
            eprintln!("{:08x}:{}.accept({:04x})={:04x} from [{from}] ALPN=<none>", self.next_stream_id as u32, self.proxies[fe].name, lfd as u16, conn.raw_fd() as u16);
        }
        let mut stream = Stream::new(self.next_stream_id, fe, li, conn, peer, local, self.bufsize, cx.now);
        if self.proxies[fe].mode == crate::config::model::Mode::Http {
            let limits = crate::stream::http::limits_for(self.bufsize);
            stream = stream.with_http(crate::http::h1::Limits { max_headers: self.http_maxhdr, ..limits });
            if self.listeners[li].proto_h2 {
                stream.force_h2();
            }
        }
        stream.set_stick(stick);
        if self.listeners[li].accept_proxy {
            stream.expect_proxy_header(cx.now, self.proxies[fe].timeouts.client);
        } else if let Some(magic) = self.listeners[li].netscaler_cip {
            stream.expect_netscaler_cip(magic, cx.now, self.proxies[fe].timeouts.client);
        }
        // What the connection rules set in `sess.*` lives as long as the connection.
        if let Some(vars) = sess.filter(|v| !v.is_empty()) {
            stream.set_session_vars(vars);
        }
        let Some(key) = self.streams.insert(stream) else { return };
        self.next_stream_id += self.stream_id_step;
        self.actconn += 1;
        self.listeners[li].conns += 1;
        crate::sample::fetch_conn::set_listener_conns(li, self.listeners[li].conns);
        let p = &mut self.proxies[fe];
        p.feconn += 1;
        p.cum_fe += 1;
        crate::stats::account_accept(p, cx.now);
        // Without a log format, HAProxy logs the connection at accept time (with
        // `accept-proxy`, moonproxy does not: the addresses are not known yet).
        let log = &self.logs[fe];
        if log.format.is_none() && !log.logger.is_empty() && !self.listeners[li].accept_proxy {
            let line = match (peer, local) {
                (Some(peer), Some(local)) => crate::log::connect_line(peer, local, &p.name, p.mode),
                _ => crate::log::format::connect_line_unix(self.listeners[li].luid, &p.name, p.mode),
            };
            log.logger.send(Level::Info, &line);
        }
        self.stream_event(cx, key, Event::Wake);
    }

    // ---- streams ----------------------------------------------------------

    fn stream_event(&mut self, cx: &mut Ctx<'_>, key: Key, ev: Event) {
        let Some(s) = self.streams.get_mut(key) else { return }; // stale token or timer
        let mut env = Env { cx, key, proxies: &mut self.proxies, pool: &mut self.farm };
        let life = s.on_event(&mut env, ev);
        if let Some(conn) = s.h2_conn() {
            self.h2_dirty.push(conn); // what it wrote may concern its other streams
        }
        crate::lua::error_ring::attach_context(|| cli::lua_error_context(&self.proxies, &self.farm, s.frontend, s.backend, s.server_index()));
        self.spoe_pump(cx);
        self.log_transactions(key);
        match life {
            Life::Finished => self.finish(cx, key),
            Life::H2 => self.h2_takeover(cx, key),
            Life::Alive => {}
        }
        self.h2_settle(cx);
        self.health_analyses(cx); // world/observe.rs
        self.hand_out_slots(cx);
    }

    /// HTTP mode: logs the transactions a stream finished on a connection that stays
    /// open (the last one is logged by [`World::finish`]).
    fn log_transactions(&mut self, key: Key) {
        let Some(s) = self.streams.get_mut(key) else { return };
        let fe = s.frontend;
        for mut rec in s.take_txn_logs() {
            rec.actconn = self.actconn;
            self.log_stream(fe, &rec);
        }
    }

    /// Writes one stream (or HTTP transaction) log line with the frontend's format.
    fn log_stream(&self, fe: usize, rec: &crate::log::StreamLog) {
        let p = &self.proxies[fe];
        let log = &self.logs[fe];
        let Some(format) = &log.format else { return }; // logged at accept
        let silent = rec.http.as_ref().is_some_and(|h| h.silent);
        let normal_unlogged = p.options.dontlog_normal && !rec.is_error();
        if log.logger.is_empty() || silent || normal_unlogged || (p.options.dontlognull && rec.bytes_in == 0) {
            return;
        }
        let rec = &*log_uri::cut_request_line(rec, self.log_uri_len);
        let mut line = String::with_capacity(256);
        format.render(rec, &mut line);
        let level = rec.level(p.options.log_separate_errors);
        match &log.sd {
            Some(sd) => {
                let mut data = String::with_capacity(64);
                if rec.sd_samples.is_empty() {
                    sd.render(rec, &mut data);
                } else {
                    // Its `%[...]` values, evaluated by the stream, in place of the line's.
                    let sd_rec = crate::log::StreamLog { samples: rec.sd_samples.clone(), ..rec.clone() };
                    sd.render(&sd_rec, &mut data);
                }
                log.logger.send_sd(level, &line, &data);
            }
            None => log.logger.send(level, &line),
        }
    }

    /// Wakes the queued streams that were given a server slot, oldest hand-out
    /// first (a woken stream may release slots and hand out more).
    pub(super) fn hand_out_slots(&mut self, cx: &mut Ctx<'_>) {
        while !self.farm.handed.is_empty() {
            for (be, d) in std::mem::take(&mut self.farm.handed) {
                self.hand_out(cx, be, d);
            }
        }
    }

    fn hand_out(&mut self, cx: &mut Ctx<'_>, be: usize, d: crate::backend::Dequeued) {
        let key = key_of(d.waiter);
        let addr = super::pool::target_of(self.farm.backend(be).server(d.server));
        let Some(s) = self.streams.get_mut(key) else {
            // The waiter is gone: give the slot back (it may go to the next one).
            self.farm.backend_mut(be).connection_ended(d.server);
            self.farm.drain_queue(be, d.server.0);
            return;
        };
        let mut env = Env { cx, key, proxies: &mut self.proxies, pool: &mut self.farm };
        let from_server = d.from == crate::backend::QueueKind::Server;
        if let Some(conn) = s.h2_conn() {
            self.h2_dirty.push(conn);
        }
        if s.dequeued(&mut env, d.server.0, addr, from_server, d.queue_position as u32) == Life::Finished {
            self.finish(cx, key);
        }
    }

    /// A stream leaves: its slot, and its place in the process's, listener's and
    /// frontend's connection counts (accepting may resume).
    fn forget_stream(&mut self, key: Key, listener: usize, fe: usize) {
        // A stream serving an HTTP/2 request: the connection holds the counts, and
        // may be done now.
        if let Some(conn) = self.streams.remove(key).and_then(|s| s.h2_conn()) {
            return self.h2_dirty.push(conn);
        }
        self.actconn -= 1;
        if let Some(l) = self.listeners.get_mut(listener) {
            l.conns -= 1;
            crate::sample::fetch_conn::set_listener_conns(listener, l.conns);
        }
        self.proxies[fe].feconn -= 1;
        self.listeners_dirty = true;
    }

    /// Removes a closed stream: counters, listener slot, log line.
    fn finish(&mut self, cx: &mut Ctx<'_>, key: Key) {
        let Some(s) = self.streams.get_mut(key) else { return };
        let fe = s.frontend;
        let tls_failure = s.tls_handshake_failure();
        if let Some(line) = self.listeners.get(s.listener).and_then(|l| {
            let bind = l.name.clone().unwrap_or_else(|| l.luid.to_string());
            s.proxy_error_line(&self.proxies[fe].name, &bind)
        }) {
            // Closed waiting for its PROXY header: HAProxy's one line, no stream log.
            let li = s.listener;
            self.forget_stream(key, li, fe);
            self.logs[fe].logger.send(Level::Info, &line);
            return;
        }
        let logged = tls_failure.is_none() && s.logs_at_close() && !s.logged_early() && self.proxies[fe].logs_streams;
        // The proxy fetches of the log format (`nbsrv`, `be_conn`...) see the proxies.
        let (proxies, farm, actconn, now) = (&self.proxies, &self.farm, self.actconn, cx.now);
        let rec = logged.then(|| crate::stream::lua::in_rules(cx, proxies, farm, || s.log_record(proxies, farm, now, actconn)));
        let facts = s.logs_at_close().then(|| s.end_facts(cx.now));
        let (be, srv) = (s.backend, s.server_index());
        let li = s.listener;
        if self.debug {
            let (cfd, sfd) = s.fds();
            let be = s.backend.map_or(&self.proxies[fe].name, |b| &self.proxies[b].name);
            eprintln!("{:08x}:{be}.closed[{:04x}:{:04x}]", s.id as u32, cfd as u16, sfd.map_or(0xffff, |f| f as u16));
        }
        self.forget_stream(key, li, fe);
        if let Some(facts) = facts {
            crate::stats::account_end(&mut self.proxies, fe, be, srv, &facts, cx.now);
        }
        if let Some(rec) = rec {
            self.log_stream(fe, &rec);
        }
        if let Some((peer, accepted)) = tls_failure {
            let (p, log) = (&self.proxies[fe], &self.logs[fe]);
            if !log.logger.is_empty() && !p.options.dontlognull {
                let bind = self.listeners.get(li).map_or("0".to_string(), |l| l.name.clone().unwrap_or_else(|| l.luid.to_string()));
                log.logger.send(Level::Info, &crate::tls::handshake_failure_line(peer, accepted, &p.name, &bind));
            }
        }
    }

    /// Sends the NOTIFY frames streams queued (`crate::spoe::submit`) to the agents.
    fn spoe_pump(&mut self, cx: &mut Ctx<'_>) {
        if !self.spoe.is_empty() {
            let jobs = crate::spoe::take_jobs();
            if !jobs.is_empty() {
                self.spoe.submit(cx, &self.farm, jobs);
                self.spoe_slots(cx);
            }
        }
    }

    /// The agents' connections opened and closed count on their servers and backend
    /// (`scur`, `stot`), as HAProxy's SPOE applets, streams of that backend, do; a
    /// slot given back may go to a stream queued on that server.
    fn spoe_slots(&mut self, cx: &mut Ctx<'_>) {
        let mut released = false;
        for (be, srv, opened) in self.spoe.take_slot_changes() {
            let b = self.farm.backend_mut(be);
            if opened {
                b.stream_attached();
                b.connection_started(ServerId(srv));
                let p = &mut self.proxies[be];
                p.cum_be += 1;
                crate::stats::account_backend_session(p, cx.now);
                crate::stats::account_connection(&mut self.proxies, be, srv, false);
            } else {
                b.connection_ended(ServerId(srv));
                b.stream_detached();
                self.farm.drain_queue(be, srv);
                released = true;
            }
        }
        if released {
            self.hand_out_slots(cx);
        }
    }

    /// SPOE agents answered (or failed): each waiting stream gets its outcome and runs
    /// again.
    fn spoe_completions(&mut self, cx: &mut Ctx<'_>) {
        for (key, frame_id, outcome) in self.spoe.take_completions() {
            if self.streams.get_mut(key).is_some_and(|s| s.spoe_complete(frame_id, outcome)) {
                self.stream_event(cx, key, Event::Wake);
            }
        }
    }

    /// Socket calls made by streams' Lua actions that completed: each stream gets the
    /// results and runs again (the action resumes at its rule).
    fn lua_stream_completions(&mut self, cx: &mut Ctx<'_>) {
        let Some(lua) = &mut self.lua else { return };
        for (key, results) in lua.take_stream_completions() {
            if self.streams.get_mut(key).is_some_and(|s| s.lua_complete(&results)) {
                self.stream_event(cx, key, Event::Wake);
            }
        }
    }

    // ---- health checks -----------------------------------------------------

    fn check_done(&mut self, cx: &mut Ctx<'_>, be: usize, srv: usize, result: CheckResult) {
        self.apply_check_result(cx, be, srv, result);
        let next = self.farm.backend(be).server(ServerId(srv)).check().map_or(Duration::from_secs(2), |h| h.next_check_in());
        self.checks.schedule(cx, be, srv, next);
    }

    /// A check result for `be/srv`: its logs, the state change and what follows it.
    fn apply_check_result(&mut self, cx: &mut Ctx<'_>, be: usize, srv: usize, result: CheckResult) {
        let before = self.farm.backend(be).server(ServerId(srv)).op_state();
        let report = self.farm.backend_mut(be).on_check_result(ServerId(srv), result);
        self.apply_check_report(cx, be, srv, before, report);
    }

    /// What a check result (or a health analysis, `observe`) did to `be/srv`, whose
    /// state was `before`: logs, the state change and what follows it.
    fn apply_check_report(&mut self, cx: &mut Ctx<'_>, be: usize, srv: usize, before: crate::backend::OpState, report: crate::backend::StateReport) {
        apply_server_report(cx, &mut self.proxies, &mut self.farm, &self.logs, be, srv, report);
        // Checks run on thread 1 only: the other threads take the verdict as it is.
        let after = self.farm.backend(be).server(ServerId(srv)).op_state();
        if after != before {
            self.on_marked(cx, be, srv, after);
            let op = if after == crate::backend::OpState::Up { crate::lua::host::ServerOp::ForceUp } else { crate::lua::host::ServerOp::ForceDown };
            super::threads::broadcast(|| super::threads::Msg::Server { be, srv, op: op.clone() });
        }
        self.hand_out_slots(cx);
    }

    /// `track`: the servers tracking `be/srv` take its new state, last declared first
    /// (HAProxy's order), and their own trackers follow in turn.
    fn follow_trackers(&mut self, cx: &mut Ctx<'_>, be: usize, srv: usize, now: crate::backend::OpState) {
        let trackers = trackers_of(&self.proxies, &self.farm, be, srv);
        let via = format!("{}/{}", self.proxies[be].name, self.farm.backend(be).server(ServerId(srv)).name());
        for (bi, si) in trackers.into_iter().rev() {
            let before = self.farm.backend(bi).server(ServerId(si)).op_state();
            let report = self.farm.backend_mut(bi).set_tracked_state(ServerId(si), now, &via);
            apply_server_report(cx, &mut self.proxies, &mut self.farm, &self.logs, bi, si, report);
            if self.farm.backend(bi).server(ServerId(si)).op_state() != before {
                self.on_marked(cx, bi, si, now);
            }
        }
        self.hand_out_slots(cx);
    }

    /// Applies what agents answered (`agent-check`), as a check result is applied,
    /// and the `slowstart` warm-up steps.
    fn agent_lines(&mut self, cx: &mut Ctx<'_>) {
        for (be, srv, step) in self.checks.take_warm_steps() {
            let up = self.farm.backend(be).server(ServerId(srv)).op_state() == crate::backend::OpState::Up;
            self.farm.backend_mut(be).set_warmup(ServerId(srv), step.filter(|_| up));
        }
        for a in self.checks.take_agent_lines() {
            let (be, srv) = (a.be, a.srv);
            let before = self.farm.backend(be).server(ServerId(srv)).op_state();
            let admin_before = self.farm.backend(be).server(ServerId(srv)).effective_admin();
            let report = self.farm.backend_mut(be).on_agent_reply(ServerId(srv), &a.line, a.duration);
            apply_server_report(cx, &mut self.proxies, &mut self.farm, &self.logs, be, srv, report);
            if self.farm.backend(be).server(ServerId(srv)).effective_admin() != admin_before {
                // `maint`, `drain`, `ready` from the agent: the trackers follow.
                follow_tracked(cx, &mut self.proxies, &mut self.farm, &self.logs, be, srv, false, 0);
            }
            let after = self.farm.backend(be).server(ServerId(srv)).op_state();
            if after != before {
                self.on_marked(cx, be, srv, after);
            }
            self.marked_by_request(cx); // the trackers `follow_tracked` changed
            self.hand_out_slots(cx);
        }
    }

    /// `on-marked-down shutdown-sessions` (the server's streams end with `D`) and
    /// `on-marked-up shutdown-backup-sessions` (the backup servers' end with `U`).
    fn on_marked(&mut self, cx: &mut Ctx<'_>, be: usize, srv: usize, now: crate::backend::OpState) {
        let b = self.farm.backend(be);
        let s = b.server(ServerId(srv));
        if let Some(total) = s.tuning().slowstart {
            // `slowstart`: back UP, the weight starts small and grows.
            let up = now == crate::backend::OpState::Up;
            self.farm.backend_mut(be).set_warmup(ServerId(srv), up.then_some(0));
            if up {
                self.checks.start_warmup(cx, be, srv, total);
            }
        }
        self.follow_trackers(cx, be, srv, now);
        self.shutdown_marked_sessions(cx, be, srv, now);
    }

    /// The sessions `on-marked-down shutdown-sessions` (the server's, ending with `D`) and
    /// `on-marked-up shutdown-backup-sessions` (the backup servers', ending with `U`) end
    /// now that `be/srv` is `now`.
    fn shutdown_marked_sessions(&mut self, cx: &mut Ctx<'_>, be: usize, srv: usize, now: crate::backend::OpState) {
        let b = self.farm.backend(be);
        let s = b.server(ServerId(srv));
        let (cause, hit): (Cause, Box<dyn Fn(usize) -> bool>) = match now {
            crate::backend::OpState::Down if s.tuning().down_shutdown_sessions => (Cause::Down, Box::new(move |i| i == srv)),
            crate::backend::OpState::Up if s.tuning().up_shutdown_backup_sessions && !s.is_backup() => {
                let backups: Vec<bool> = b.servers().iter().map(|s| s.is_backup()).collect();
                (Cause::Up, Box::new(move |i| backups.get(i).copied().unwrap_or(false)))
            }
            _ => return,
        };
        let doomed: Vec<Key> = self
            .streams
            .iter()
            .filter(|(_, s)| s.backend == Some(be) && s.server_index().is_some_and(&hit))
            .map(|(k, _)| k)
            .collect();
        for key in doomed {
            if let Some(s) = self.streams.get_mut(key) {
                let mut env = Env { cx, key, proxies: &mut self.proxies, pool: &mut self.farm };
                s.kill(&mut env, cause);
                self.finish(cx, key);
            }
        }
    }

    // ---- stopping ----------------------------------------------------------

    /// A life-cycle line: on stderr as a warning (unless `-q`) and in the proxy's logs.
    fn announce(&self, pi: usize, line: LogLine) {
        diag::emit(Severity::Warning, format_args!("{}", line.text));
        self.logs[pi].logger.send(line.level, &line.text);
    }

    /// "Proxy X stopped (cumulated conns: FE: n, BE: m)." for every proxy (thread 1 only).
    fn log_proxies_stopped(&mut self) {
        if self.thread > 1 {
            return; // thread 1 says it for the process
        }
        for (pi, p) in self.proxies.iter().enumerate() {
            self.announce(pi, events::proxy_stopped(&p.name, p.cum_fe, p.cum_be));
        }
    }

    /// "Paused proxy l." / "Resumed frontend f." for every proxy that listens (thread 1 only).
    fn log_frontends(&mut self, paused: bool) {
        if self.thread > 1 {
            return; // thread 1 says it for the process
        }
        for (pi, p) in self.proxies.iter().enumerate().filter(|(_, p)| p.cap.frontend && !p.disabled) {
            let line = if paused { events::proxy_paused(p.cap, &p.name) } else { events::proxy_resumed(p.cap, &p.name) };
            self.announce(pi, line);
        }
    }

    /// The soft stop asked by a signal: now, or after `grace` (world/stop.rs).
    fn soft_stop(&mut self, cx: &mut Ctx<'_>) {
        if self.phase != Phase::Running || self.grace_first(cx) {
            return;
        }
        self.soft_stop_now(cx);
    }

    fn soft_stop_now(&mut self, cx: &mut Ctx<'_>) {
        if self.phase != Phase::Running {
            return;
        }
        self.phase = Phase::SoftStop;
        crate::sample::fetch_conn::set_stopping();
        crate::peers::soft_stop(); // the next process is taught the tables
        for l in &mut self.listeners {
            l.close(cx.registry);
        }
        self.cli.close_listeners(cx);
        if let Some(f) = &mut self.logfwd {
            f.close_all(cx);
        }
        self.log_proxies_stopped();
        // HTTP: idle kept-alive clients are let go now (or over `close-spread-time`),
        // the others after their response.
        let keys = self.streams.keys();
        self.let_go(cx, keys);
        self.h2_soft_stop(cx);
        // After the streams: those that closed just now parked their server connections.
        self.farm.idle.close_all(cx);
        if let Some(d) = self.hard_stop_after {
            cx.timers.arm(cx.now + d, TimerTarget::Global(GlobalTimer::HardStop));
        }
    }

    /// Post-init of the Lua engine (`register_init` functions, which may read the
    /// statistics and change servers as tasks do), then its tasks table.
    pub fn start_lua(&mut self, cx: &mut Ctx<'_>, engine: crate::lua::api::core::Engine) -> Result<(), String> {
        let mut world = super::lua::WorldParts::new(&mut self.proxies, &mut self.farm, &self.listeners, &self.logs, (self.actconn, self.maxconn), &mut self.lua_deferred);
        let started = crate::lua::host::enter(&mut crate::lua::host::Host { cx: &mut *cx, world: &mut world, stream: None }, || engine.start());
        self.after_lua(cx);
        started?;
        self.lua = Some(super::lua::LuaRt::new(engine));
        Ok(())
    }

    /// After a Lua resume: kills the streams the script asked to kill, pauses, resumes
    /// or stops the frontends it asked to, and wakes the queued streams handed the slots
    /// its server changes freed.
    fn after_lua(&mut self, cx: &mut Ctx<'_>) {
        use crate::lua::host::{Deferred, Sessions};
        self.marked_by_request(cx);
        let mut doomed = Vec::new();
        for what in std::mem::take(&mut self.lua_deferred) {
            let which = match what {
                Deferred::Kill(which) => which,
                Deferred::Proxy(px, op) => {
                    self.lua_proxy_op(cx, px, op);
                    continue;
                }
            };
            for (key, s) in self.streams.iter() {
                let hit = match (which, s.backend, s.server_index()) {
                    (Sessions::Server(be, srv), Some(b), Some(i)) => b == be && i == srv,
                    (Sessions::Backup(be), Some(b), Some(i)) => {
                        b == be && self.farm.backends[be].as_ref().is_some_and(|b| b.servers()[i].is_backup())
                    }
                    _ => false,
                };
                if hit {
                    doomed.push(key);
                }
            }
        }
        for key in doomed {
            if let Some(s) = self.streams.get_mut(key) {
                let mut env = Env { cx, key, proxies: &mut self.proxies, pool: &mut self.farm };
                s.kill(&mut env, Cause::Killed);
                self.finish(cx, key);
            }
        }
        self.hand_out_slots(cx);
    }

    /// `on-marked-down` and `on-marked-up` for the servers the CLI, Lua or the resolvers
    /// marked DOWN or UP (their checks' verdicts go through [`World::on_marked`]).
    pub(super) fn marked_by_request(&mut self, cx: &mut Ctx<'_>) {
        for (be, srv, now) in std::mem::take(&mut self.farm.marked) {
            self.shutdown_marked_sessions(cx, be, srv, now);
        }
    }

    /// `Proxy.pause/resume/stop` on a frontend (nothing on a backend, as in HAProxy),
    /// with HAProxy's messages; the other reactor threads do the same quietly.
    fn lua_proxy_op(&mut self, cx: &mut Ctx<'_>, px: usize, op: crate::lua::host::ProxyOp) {
        if self.proxy_op(cx, px, op, false) {
            super::threads::broadcast(|| super::threads::Msg::Proxy { px, op });
            super::threads::barrier(&self.proxies, &self.farm, cx.now);
        }
    }

    /// [`World::lua_proxy_op`] on this thread; `quiet`: no message. Whether it changed
    /// anything.
    pub(super) fn proxy_op(&mut self, cx: &mut Ctx<'_>, px: usize, op: crate::lua::host::ProxyOp, quiet: bool) -> bool {
        use crate::lua::host::ProxyOp;
        let Some(p) = self.proxies.get_mut(px).filter(|p| p.cap.frontend && !p.disabled) else { return false };
        self.lua_paused.resize(self.lua_paused.len().max(px + 1), false);
        let line = match op {
            ProxyOp::Pause if !self.lua_paused[px] => events::proxy_paused(p.cap, &p.name),
            ProxyOp::Resume if self.lua_paused[px] => events::proxy_resumed(p.cap, &p.name),
            ProxyOp::Stop => {
                p.disabled = true;
                for l in self.listeners.iter_mut().filter(|l| l.proxy == px) {
                    l.close(cx.registry);
                }
                events::proxy_stopped(&p.name, p.cum_fe, p.cum_be)
            }
            _ => return false,
        };
        self.lua_paused[px] = op == ProxyOp::Pause;
        if !quiet {
            self.announce(px, line);
        }
        self.listeners_dirty = true;
        true
    }

    fn hard_stop(&mut self, cx: &mut Ctx<'_>) {
        for key in self.streams.keys() {
            if let Some(s) = self.streams.get_mut(key) {
                let mut env = Env { cx, key, proxies: &mut self.proxies, pool: &mut self.farm };
                s.kill(&mut env, Cause::Killed);
                self.finish(cx, key);
            }
        }
        self.farm.handed.clear();
        self.phase = Phase::Exit(0);
    }
}

/// Why a change asked of a server could not be made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum NoSuch {
    Backend,
    Server,
}

/// Makes the change `op` that Lua (`Server` methods) or the CLI (`set server`, `enable
/// server`...) asks of server `srv` of backend `be`, then applies what it reports
/// ([`apply_server_report`]). `why` ends the state-change log lines ("changed from CLI").
/// A new address without a port keeps the server's port.
#[allow(clippy::too_many_arguments)]
pub(super) fn apply_server_op(
    cx: &mut Ctx<'_>,
    proxies: &mut [ProxyRt],
    farm: &mut Farm,
    logs: &[ProxyLog],
    be: usize,
    srv: usize,
    op: crate::lua::host::ServerOp,
    why: &str,
) -> Result<(), NoSuch> {
    apply_server_op_here(cx, proxies, farm, logs, be, srv, op.clone(), why, false)?;
    super::threads::broadcast(|| super::threads::Msg::Server { be, srv, op: op.clone() });
    super::threads::barrier(proxies, farm, cx.now);
    Ok(())
}

/// The servers that `track` server `srv` of `be`, as (backend, server).
fn trackers_of(proxies: &[ProxyRt], farm: &Farm, be: usize, srv: usize) -> Vec<(usize, usize)> {
    let be_name = &proxies[be].name;
    let srv_name = farm.backend(be).server(ServerId(srv)).name();
    let mut trackers = Vec::new();
    for (bi, b) in farm.backends.iter().enumerate() {
        let Some(b) = b else { continue };
        for (id, _) in b.iter_servers() {
            let hit = b.tracked(id).is_some_and(|(tb, ts)| ts == srv_name && tb.map_or(bi == be, |tb| tb == be_name));
            if hit && (bi, id.0) != (be, srv) {
                trackers.push((bi, id.0));
            }
        }
    }
    trackers
}

/// `track`, after the CLI or Lua changed `be/srv`: the servers tracking it take its
/// admin state (HAProxy's maintenance and drain "via b/s") and its operational state,
/// last declared first, and their own trackers in turn. (A check's verdict goes
/// through `World::follow_trackers`, which also ends sessions for `on-marked-down`.)
#[allow(clippy::too_many_arguments)]
fn follow_tracked(cx: &mut Ctx<'_>, proxies: &mut [ProxyRt], farm: &mut Farm, logs: &[ProxyLog], be: usize, srv: usize, quiet: bool, depth: u32) {
    // HAProxy refuses loops; the bound only guards against one.
    if depth > 16 {
        return;
    }
    let s = farm.backend(be).server(ServerId(srv));
    let (admin, op) = (s.effective_admin(), s.op_state());
    let via = format!("{}/{}", proxies[be].name, s.name());
    for (bi, si) in trackers_of(proxies, farm, be, srv).into_iter().rev() {
        let id = ServerId(si);
        let before = farm.backend(bi).server(id);
        let marked_before = before.marked_state();
        let before = (before.effective_admin(), before.op_state());
        let mut report = farm.backend_mut(bi).set_inherited_admin(id, admin, &via, op);
        let b = farm.backend_mut(bi);
        if b.server(id).effective_admin() != crate::backend::AdminState::Maint {
            let r = b.set_tracked_state(id, op, &via);
            report.changed |= r.changed;
            report.messages.extend(r.messages);
            report.assigned.extend(r.assigned);
            report.redispatch.extend(r.redispatch);
        }
        if quiet {
            report.messages.clear();
        }
        apply_server_report(cx, proxies, farm, logs, bi, si, report);
        let after = farm.backend(bi).server(id);
        let (marked, after) = (after.marked_state(), (after.effective_admin(), after.op_state()));
        if marked != marked_before {
            farm.marked.push((bi, si, marked));
        }
        if after != before {
            follow_tracked(cx, proxies, farm, logs, bi, si, quiet, depth + 1);
        }
    }
}

/// [`apply_server_op`] on this thread only; `quiet`: no log line nor message (the thread
/// that made the change wrote them).
#[allow(clippy::too_many_arguments)]
fn apply_server_op_here(
    cx: &mut Ctx<'_>,
    proxies: &mut [ProxyRt],
    farm: &mut Farm,
    logs: &[ProxyLog],
    be: usize,
    srv: usize,
    op: crate::lua::host::ServerOp,
    why: &str,
    quiet: bool,
) -> Result<(), NoSuch> {
    use crate::backend::{AdminState, OpState, StateReport};
    use crate::lua::host::ServerOp;
    let Some(Some(b)) = farm.backends.get_mut(be) else { return Err(NoSuch::Backend) };
    if b.servers().get(srv).is_none_or(|s| s.is_deleted()) {
        return Err(NoSuch::Server);
    }
    let id = ServerId(srv);
    let marked_before = b.server(id).marked_state();
    let tracked_state = matches!(op, ServerOp::Drain | ServerOp::Maint | ServerOp::Ready | ServerOp::ForceUp | ServerOp::ForceDown);
    let report = match op {
        ServerOp::Weight(weight) => b.set_weight(id, weight),
        ServerOp::Maxconn(n) => b.set_maxconn(id, n),
        ServerOp::Addr(ip, port) => {
            use crate::config::model::ServerAddr;
            // Without a port, the server keeps its own (or its port offset).
            let addr = match (port, b.server(id).addr()) {
                (None, ServerAddr::PortOffset { offset, .. }) => ServerAddr::PortOffset { ip, offset: *offset },
                (port, _) => ServerAddr::Inet { ip, port: port.or_else(|| b.server(id).socket_addr().map(|a| a.port())) },
            };
            if let Some(persist) = proxies[be].persist.as_mut() {
                // A dynamic cookie follows the address.
                persist.set_addr(srv, &addr);
            }
            b.set_addr(id, addr);
            // Idle connections go to the old address.
            farm.idle.purge_server(cx, be, srv);
            StateReport::default()
        }
        ServerOp::CheckEnabled(on) => {
            b.set_check_enabled(id, on);
            StateReport::default()
        }
        ServerOp::Drain => b.set_admin_state(id, AdminState::Drain),
        ServerOp::Maint => b.set_admin_state(id, AdminState::Maint),
        ServerOp::Ready => b.set_admin_state(id, AdminState::Ready),
        ServerOp::ForceUp => b.set_operational_state_with_reason(id, OpState::Up, Some(why)),
        ServerOp::ForceDown => b.set_operational_state_with_reason(id, OpState::Down, Some(why)),
        ServerOp::ForceNolb => b.force_stopping(id, &format!(", {why}")),
        ServerOp::Resolution { maint, fqdn } => b.set_resolution_maint(id, maint.as_deref(), &fqdn),
    };
    let mut report = report;
    if quiet {
        report.messages.clear();
    }
    apply_server_report(cx, proxies, farm, logs, be, srv, report);
    let marked = farm.backend(be).server(id).marked_state();
    if marked != marked_before {
        // The runtime ends the sessions (`World::shutdown_marked_sessions`), on every thread.
        farm.marked.push((be, srv, marked));
    }
    if tracked_state {
        follow_tracked(cx, proxies, farm, logs, be, srv, quiet, 0);
    }
    Ok(())
}

/// Applies what a server's state change reports (a check result, or a change asked by
/// Lua or the CLI): statistics, the log lines, queued streams handed a slot or sent
/// elsewhere, the idle connections of a server that went out.
pub(super) fn apply_server_report(
    cx: &mut Ctx<'_>,
    proxies: &mut [ProxyRt],
    farm: &mut Farm,
    logs: &[ProxyLog],
    be: usize,
    srv: usize,
    report: crate::backend::StateReport,
) {
    if report.changed {
        crate::stats::server_state_changed(&mut proxies[be], farm.backend(be), srv, cx.now);
    }
    for m in &report.messages {
        super::mailers::note(be, m.level, &m.text);
        diag::emit(m.console, format_args!("{}", m.console_text.as_deref().unwrap_or(&m.text)));
        if let Some(log) = logs.get(be) {
            log.logger.send(m.level, &m.text);
        }
    }
    for d in report.assigned {
        farm.handed.push((be, d));
    }
    for w in report.redispatch {
        cx.wake.push(Kind::Client, key_of(w));
    }
    if farm.backend(be).server(ServerId(srv)).is_out() {
        farm.idle.purge_server(cx, be, srv);
    }
}

impl Handler for World {
    fn reserved(&mut self, cx: &mut Ctx<'_>, token: Token, _ready: Ready) {
        if token == crate::reactor::token::MAILBOX {
            self.mailbox(cx);
            return;
        }
        if let Some(index) = crate::reactor::token::dns_index(token) {
            self.dns_ready(cx, index);
            return;
        }
        if token != crate::reactor::token::SIGNALS {
            return;
        }
        let signals = self.signals.as_mut().map(Signals::drain).unwrap_or_default();
        for sig in signals {
            super::threads::broadcast(|| super::threads::Msg::Signal(sig));
            self.on_signal(cx, sig);
        }
    }

    fn ready(&mut self, cx: &mut Ctx<'_>, target: Tagged, ready: Ready) {
        if let (Some(lua), Kind::Listener | Kind::Client | Kind::Server) = (&mut self.lua, target.kind) {
            lua.note_traffic(cx.now);
        }
        match target.kind {
            Kind::Listener => self.accept_from(cx, target.key.slot, false),
            Kind::Client => self.stream_event(cx, target.key, Event::Client(ready)),
            Kind::Server => self.stream_event(cx, target.key, Event::Server(ready)),
            Kind::Idle => self.farm.idle.event(cx, target.key, ready),
            Kind::Check => {
                if let Some((be, srv, r)) = self.checks.on_ready(cx, target.key, ready) {
                    self.check_done(cx, be, srv, r);
                }
                self.agent_lines(cx);
            }
            Kind::LuaSocket => {
                if let Some(lua) = &mut self.lua {
                    let mut world = super::lua::WorldParts::new(&mut self.proxies, &mut self.farm, &self.listeners, &self.logs, (self.actconn, self.maxconn), &mut self.lua_deferred);
                    lua.socket_ready(cx, &mut world, target.key, ready);
                }
                self.after_lua(cx);
                self.lua_stream_completions(cx);
            }
            Kind::Cli => self.cli_ready(cx, target.key, ready),
            Kind::LogFwd => {
                if let Some(f) = &mut self.logfwd {
                    f.ready(cx, target.key, Some(ready));
                }
            }
            Kind::H2 => self.h2_ready(cx, target.key, ready),
            Kind::Spoe => {
                self.spoe.ready(cx, &self.farm, target.key, ready);
                self.spoe_slots(cx);
                self.spoe_completions(cx);
            }
            // A `do-resolve` answer: the stream reads it where its rules wait.
            Kind::Resolve => self.stream_event(cx, target.key, Event::Wake),
            Kind::Reserved => {}
        }
    }

    fn timer(&mut self, cx: &mut Ctx<'_>, deadline: std::time::Instant, target: TimerTarget) {
        match target {
            TimerTarget::Entry(Kind::Client, key) => self.stream_event(cx, key, Event::Timer(deadline)),
            TimerTarget::Entry(Kind::Idle, key) => self.farm.idle.expire(cx, key, deadline),
            TimerTarget::Entry(Kind::Check, key) => {
                if let Some((be, srv, r)) = self.checks.on_timer(cx, key, &self.farm) {
                    self.check_done(cx, be, srv, r);
                }
                self.agent_lines(cx);
            }
            TimerTarget::Entry(Kind::Listener, key) => self.accept_from(cx, key.slot, key.gen == FORCED),
            TimerTarget::Entry(Kind::Reserved, key) => {
                if let Some(lua) = &mut self.lua {
                    let mut world = super::lua::WorldParts::new(&mut self.proxies, &mut self.farm, &self.listeners, &self.logs, (self.actconn, self.maxconn), &mut self.lua_deferred);
                    lua.timer(cx, &mut world, key, deadline);
                }
                self.after_lua(cx);
                self.lua_stream_completions(cx);
            }
            TimerTarget::Entry(Kind::LuaSocket, key) => {
                if let Some(lua) = &mut self.lua {
                    let mut world = super::lua::WorldParts::new(&mut self.proxies, &mut self.farm, &self.listeners, &self.logs, (self.actconn, self.maxconn), &mut self.lua_deferred);
                    lua.socket_timer(cx, &mut world, key, deadline);
                }
                self.after_lua(cx);
                self.lua_stream_completions(cx);
            }
            TimerTarget::Entry(Kind::Cli, key) => self.cli_timer(cx, key),
            TimerTarget::Entry(Kind::H2, key) => self.h2_timer(cx, key, deadline),
            TimerTarget::Entry(Kind::Spoe, key) => {
                self.spoe.timer(cx, &self.farm, key);
                self.spoe_slots(cx);
                self.spoe_completions(cx);
            }
            TimerTarget::Entry(Kind::LogFwd, key) => {
                if let Some(f) = &mut self.logfwd {
                    f.timer(cx, key);
                }
            }
            TimerTarget::Entry(..) => {}
            TimerTarget::Global(GlobalTimer::HardStop) => self.hard_stop(cx),
            TimerTarget::Global(GlobalTimer::Grace) => self.grace_expired(cx),
            TimerTarget::Global(GlobalTimer::CloseSpread) => self.spread_tick(cx),
            TimerTarget::Global(GlobalTimer::Resolvers) => self.dns_timer(cx, deadline),
        }
    }

    fn wake(&mut self, cx: &mut Ctx<'_>, kind: Kind, key: Key) {
        match kind {
            Kind::Client => self.stream_event(cx, key, Event::Wake),
            Kind::Listener => self.accept_from(cx, key.slot, false),
            Kind::Cli => self.cli_wake(cx, key),
            Kind::LogFwd => {
                if let Some(f) = &mut self.logfwd {
                    f.ready(cx, key, None);
                }
            }
            Kind::Reserved => {
                if let Some(lua) = &mut self.lua {
                    let mut world = super::lua::WorldParts::new(&mut self.proxies, &mut self.farm, &self.listeners, &self.logs, (self.actconn, self.maxconn), &mut self.lua_deferred);
                    lua.wake(cx, &mut world, key);
                }
                self.after_lua(cx);
                self.lua_stream_completions(cx);
            }
            _ => {}
        }
    }

    fn task_id(&self, kind: Kind, key: Key, via: crate::stats::activity::Via) -> crate::stats::activity::TaskId {
        self.profiled_task(kind, key, via) // world/cli.rs
    }

    fn end_of_iteration(&mut self, cx: &mut Ctx<'_>) -> Flow {
        // (Most iterations have no HTTP/2 connection to attend: two length checks.)
        if !self.h2_dirty.is_empty() {
            self.h2_settle(cx);
        }
        if !self.h2_unflushed.is_empty() {
            self.h2_flush(cx);
        }
        if self.phase == Phase::SoftStop && self.streams.is_empty() && self.h2.is_empty() && self.peers_running == 0 {
            self.phase = Phase::Exit(0);
        }
        if let Phase::Exit(code) = self.phase {
            return Flow::Exit(code);
        }
        // Streams run outside `stream_event` (an HTTP/2 connection's) queue theirs too.
        self.spoe_pump(cx);
        if self.listeners_dirty {
            self.sync_listeners(cx);
        }
        super::threads::publish_load(self.actconn);
        if let Some(lua) = &mut self.lua {
            lua.end_of_iteration();
        }
        crate::lua::error_ring::end_of_iteration();
        self.checks.send_alerts(cx);
        if cx.timers.needs_compaction(self.streams.len() + self.checks.count() + self.h2.len() + self.farm.idle.parked()) {
            let (streams, h2, idle) = (&self.streams, &self.h2, &self.farm.idle);
            cx.timers.retain(|at, target| match target {
                TimerTarget::Entry(Kind::Client, key) => streams.get(key).is_some_and(|s| s.armed() == Some(at)),
                TimerTarget::Entry(Kind::H2, key) => h2.get(key).is_some_and(|c| c.borrow().idle_timer == Some(at)),
                // A connection parked, taken and parked again has one live timer, under
                // its last key: those of the keys taken since are stale. Kept, they
                // piled up (one per request for `pool-purge-delay`), and every
                // iteration scanned them all again.
                TimerTarget::Entry(Kind::Idle, key) => idle.is_parked(key),
                _ => true,
            });
        }
        Flow::Continue
    }
}
