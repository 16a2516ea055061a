//! Streams: one per client connection, an explicit state machine forwarding bytes
//! between the client connection and a server connection.
//!
//! The life of a stream (details in `doc/lifetime-of-a-stream.md`):
//! [`State::Route`] (rule pipeline, [`analysers`]) → [`State::Queued`] (all servers
//! full) → [`State::Connecting`] (⇄ [`State::TurnAround`] between retries) →
//! [`State::Forwarding`] → [`State::Closed`] (termination code, log record). In
//! `mode http` ([`http`]) a stream starts in [`State::HttpHead`] and loops back there
//! for each request of a kept-alive connection. Every move
//! goes through `Stream::goto`, which debug-asserts that the move is legal
//! ([`State::can_go`]).
//!
//! A stream makes no syscall itself: sockets are behind [`conn::Conn`], servers behind
//! the [`ServerPool`] seam, time and registration behind [`Env`].

/// What the sample fetches read of the stream's connections ([`client_facts`]), from a
/// stream whose other fields may be borrowed already (a macro borrows field by field).
macro_rules! conn_facts {
    ($s:expr) => {
        $crate::stream::client_facts(&$s.client, $s.proxy_hdr.as_deref(), $s.listener, $s.server.as_deref())
    };
}

pub mod acl;
pub mod analysers;
pub mod channel;
pub mod conn;
pub mod error_reply;
pub mod filter;
pub mod h1_case;
pub mod h2conn;
pub mod h2srv;
pub mod http;
pub mod inspect;
mod l7retry;
pub mod lua;
mod persist;
pub mod proxy;
mod proxy_header;
pub mod resolve;
mod server_redir;
mod send_name;
pub mod service;
pub mod set_addr;
pub mod sockopt_action;
pub mod service_tcp;
pub mod socks4;
pub mod spoe;
pub mod state;
pub mod termination;

#[cfg(test)]
mod tests;

use crate::config::model::RetryOn;
use crate::log::StreamLog;
use crate::reactor::{token, Ctx, Key, Kind, Ready};
use analysers::{RuleCursor, RuleStep, WaitFor};
use channel::Channel;
pub use conn::Target;
use conn::{Conn, ConnectState, ReadEnd, WriteEnd};
use proxy::ProxyRt;
pub use state::State;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant, SystemTime};
use termination::{Cause, Phase, Termination};

/// Rounds of the forwarding loop per wake-up before the stream yields to others.
pub const MAX_FORWARD_ROUNDS: usize = 64;
/// State transitions per wake-up (a safety cap; a normal wake-up makes at most three).
pub const MAX_STATE_STEPS: usize = 16;
/// The turn-around delay before retrying the same server is `min(timeout connect, 1s)`.
pub const MAX_TURNAROUND: Duration = Duration::from_secs(1);

/// What a server choice gave.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Pick {
    /// A server with a connection slot now reserved for this stream. `addr` is `None`
    /// when the server has no usable address (no port in TCP mode).
    Server { srv: usize, addr: Option<Target> },
    /// Servers are full: wait in the backend queue (`None`) or that server's queue.
    Queue { server: Option<usize> },
    /// The chosen server's queue is at `maxqueue`.
    QueueFull,
    /// No usable server at all.
    NoServer,
}

/// The stream's view of the backend servers: selection, connection slots, queues.
/// The runtime implements it over the backend module; tests may implement it by hand.
pub trait ServerPool {
    /// Chooses a server of backend `be` (not `avoid`, if another is usable) and takes
    /// one of its connection slots.
    fn pick(&mut self, be: usize, client: Option<IpAddr>, avoid: Option<usize>) -> Pick;
    /// HTTP mode: [`ServerPool::pick`] for a request, which the algorithms that hash
    /// requests (`balance uri`, `url_param`, `hdr`) look at. By default the request
    /// is ignored.
    fn pick_request(&mut self, be: usize, client: Option<IpAddr>, req: &crate::http::Request, avoid: Option<usize>) -> Pick {
        let _ = req;
        self.pick(be, client, avoid)
    }
    /// TCP mode: [`ServerPool::pick`] with the client's first bytes, which `balance
    /// rdp-cookie` hashes. By default they are ignored.
    fn pick_payload(&mut self, be: usize, client: Option<IpAddr>, data: &[u8], avoid: Option<usize>) -> Pick {
        let _ = data;
        self.pick(be, client, avoid)
    }
    /// Cookie persistence: server `srv` of backend `be` takes the request without load
    /// balancing (its slot taken, or a place in its queue) and whether it is up;
    /// `None` when it cannot (down or in maintenance, unless `down_ok`): the request
    /// is then load balanced. By default it cannot.
    fn pick_persistent(&mut self, be: usize, srv: usize, down_ok: bool) -> Option<(Pick, bool)> {
        let _ = (be, srv, down_ok);
        None
    }
    /// Gives a connection slot back. The runtime then hands it to a queued stream.
    fn release(&mut self, be: usize, srv: usize);
    /// Puts stream `key` in the backend's queue (or `server`'s) at the place `priority`
    /// gives; returns its position.
    fn enqueue(&mut self, be: usize, key: Key, server: Option<usize>, priority: crate::backend::QueuePriority) -> u32;
    /// Removes `key` from its queue (queue timeout, client abort).
    fn leave_queue(&mut self, be: usize, key: Key);
    /// `false` once the stream left the queue without a slot (its server went down):
    /// it must choose again.
    fn is_queued(&self, be: usize, key: Key) -> bool;
    /// A stream starts / stops using backend `be` (`%bc`).
    fn attach(&mut self, be: usize);
    fn detach(&mut self, be: usize);
    fn beconn(&self, be: usize) -> u32;
    fn server_name(&self, be: usize, srv: usize) -> &str;
    /// Connections currently using server `srv`.
    fn server_conns(&self, be: usize, srv: usize) -> u32;
    /// Counts a connect attempt's outcome, for the server's statistics.
    fn record(&mut self, be: usize, srv: usize, what: Attempt);
    /// HTTP: offers the server connection of a finished transaction for later requests
    /// (`http-reuse`); `owner` is the offering stream, `served` the requests the
    /// connection carried, `leaving` says the stream is closing. By default the stream
    /// keeps it.
    #[allow(clippy::too_many_arguments)]
    fn offer_idle(&mut self, cx: &mut Ctx<'_>, be: usize, srv: usize, conn: Conn, owner: Key, served: u32, leaving: bool) -> IdleOffer {
        let _ = (cx, be, srv, owner, served, leaving);
        IdleOffer::KeepPrivate(conn)
    }
    /// HTTP: an idle connection to server `srv` that stream `owner` may send a request
    /// over (`first`: the first request of its client), with the requests it carried.
    fn take_idle(&mut self, be: usize, srv: usize, owner: Key, first: bool) -> Option<(Conn, u32)> {
        let _ = (be, srv, owner, first);
        None
    }
    /// Idle connections to server `srv` in the shared pool (`srv_icur`).
    fn idle_conns(&self, be: usize, srv: usize) -> u32 {
        let _ = (be, srv);
        0
    }
    /// The state of backend `be` for the statistics (servers, queues, checks);
    /// `None` when the pool cannot show it.
    fn backend_state(&self, be: usize) -> Option<&crate::backend::Backend> {
        let _ = be;
        None
    }
    /// `observe`: what the traffic of server `srv` showed (health analysis,
    /// `crate::backend::observe`). Connection failures come through
    /// [`ServerPool::record`]. By default nothing.
    fn observe(&mut self, be: usize, srv: usize, event: crate::backend::observe::Observed) {
        let _ = (be, srv, event);
    }
}

/// What became of a server connection offered by [`ServerPool::offer_idle`].
pub enum IdleOffer {
    /// Shared with the other clients of the server.
    Pooled,
    /// Not shared now (`http-reuse never`, or `safe` while the client lives): the stream
    /// keeps it for its next request.
    KeepPrivate(Conn),
    /// No idle connection may be kept (`pool-max-conn`): close it.
    Close(Conn),
}

/// Connect-attempt events counted by [`ServerPool::record`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Attempt {
    Failed,
    Retried,
    Redispatched,
}

/// Everything a stream may use while it runs.
pub struct Env<'a, 'r> {
    pub cx: &'a mut Ctx<'r>,
    pub key: Key,
    pub proxies: &'a mut [ProxyRt],
    pub pool: &'a mut dyn ServerPool,
}

/// Why the stream was called.
#[derive(Clone, Copy, Debug)]
pub enum Event {
    Client(Ready),
    Server(Ready),
    /// A timer armed by this stream for this deadline expired.
    Timer(Instant),
    /// Woken from the run queue (a freed queue slot, a forced yield).
    Wake,
}

/// Whether the runtime keeps the stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Life {
    Alive,
    /// Closed: log it and remove it from the slab.
    Finished,
    /// The client speaks HTTP/2 (ALPN `h2`, or the connection preface): the runtime
    /// takes the connection over ([`Stream::into_h2`]) and serves each HTTP/2 stream
    /// with a stream of its own. Nothing was logged or counted for this one.
    H2,
}

/// The server side of the stream.
struct ServerSide {
    /// Backend and server indexes, as `u32`: with the fd below, this keeps the box at
    /// 88 bytes (a 96-byte malloc chunk), and an idle kept-alive client holds one.
    be: u32,
    srv: u32,
    addr: Option<Target>,
    conn: Option<Conn>,
    /// The last connection's fd number, kept after close for `-d` traces (-1: none).
    fd: i32,
    /// The connection slot was given back already (HTTP: the connection was closed
    /// before the stream, or kept idle between transactions).
    released: bool,
    /// HTTP: requests this connection carried before the current one (it came from
    /// the idle pool when not 0).
    served: u32,
    /// HTTP: the server tied the connection to its client (NTLM or Negotiate
    /// authentication): it is never shared with other clients.
    private: bool,
}

impl ServerSide {
    fn be(&self) -> usize {
        self.be as usize
    }

    fn srv(&self) -> usize {
        self.srv as usize
    }
}

/// A proxy or server index as [`ServerSide`] keeps it.
pub(super) fn index(i: usize) -> u32 {
    u32::try_from(i).expect("fewer than 2^32 proxies and servers")
}

pub struct Stream {
    pub id: u64,
    state: State,
    /// Index of the frontend in the proxy table.
    pub frontend: usize,
    /// Index of the listener that accepted the client (for its `maxconn`).
    pub listener: usize,
    /// Chosen backend.
    pub backend: Option<usize>,
    /// Boxed: most of a stream's life (an idle HTTP client, a TCP stream before it
    /// connects) has none, and in HTTP mode it moves to and from `HttpSide::idle`
    /// without a copy.
    server: Option<Box<ServerSide>>,
    client: Conn,
    /// Client → server.
    req: Channel,
    /// Server → client.
    res: Channel,
    cursor: RuleCursor,
    /// The frontend's `tcp-request content` rules ran for this stream (or this HTTP
    /// request); the backend's, once it was chosen.
    tcp_content_done: bool,
    be_tcp_content_done: bool,
    /// The client connection's addresses as this stream (in HTTP, this transaction) sees
    /// them, `set-src`, `set-dst`... included (see `Txn::conn_addrs`).
    src: Option<SocketAddr>,
    dst: Option<SocketAddr>,
    // Timing.
    accept_at: Instant,
    accept_date: crate::log::time::PackedDate,
    queued_at: Option<Instant>,
    t_queue: Option<Duration>,
    connect_started: Option<Instant>,
    t_connect: Option<Duration>,
    client_last: Instant,
    server_last: Instant,
    /// Deadline of the current waiting state (queue, connect, turn-around, rule yield).
    state_deadline: Option<Instant>,
    /// The deadline of the timer currently armed for this stream (lazy cancellation).
    armed: Option<Instant>,
    // Retries.
    retries_left: u32,
    retries_done: u32,
    redispatched: bool,
    queue_seen: (u32, u32),
    term: Termination,
    /// HTTP mode: the transaction and message state (`None` in TCP mode).
    http: Option<Box<http::HttpSide>>,
    /// Content inspection state (TCP rules waiting for data, TCP-mode variables,
    /// `wait-for-body`), created when first needed ([`inspect`]).
    inspect: Option<Box<inspect::Inspect>>,
    /// The Lua context (`lua.<name>` actions), created by the first action ([`lua`]).
    lua: Option<Box<lua::StreamLua>>,
    /// The Lua service answering the transaction (`use-service lua.<name>`, [`service`]).
    lua_service: Option<Box<service::LuaService>>,
    /// The Lua TCP service talking with the client (`tcp-request content use-service
    /// lua.<name>`, [`service_tcp`]); kept after it ended, for the log line.
    tcp_service: Option<Box<service_tcp::TcpService>>,
    /// The sticky counters `sc0`..`sc2` (src/stick/session.rs); lent to the stick
    /// module while the stream runs.
    stick: crate::stick::Session,
    /// `accept-proxy`: the client's PROXY header ([`proxy_header`]).
    /// Boxed: only `accept-proxy` streams have one; an idle connection stays small.
    proxy_hdr: Option<Box<proxy_header::ProxyHeader>>,
    /// The client turned out to speak HTTP/2 (see [`Life::H2`]).
    h2_handover: bool,
}

impl Stream {
    /// The client's TLS handshake failed: the client's address and the accept date,
    /// for HAProxy's "SSL handshake failure" line (logged instead of the stream).
    pub fn tls_handshake_failure(&self) -> Option<(Option<SocketAddr>, SystemTime)> {
        self.client.tls_handshake_failed().then_some((self.src, self.accept_date.get()))
    }

    /// A stream for a freshly accepted connection; the runtime registers `client`.
    #[allow(clippy::too_many_arguments)]
    pub fn new(id: u64, frontend: usize, listener: usize, client: Conn, src: Option<SocketAddr>, dst: Option<SocketAddr>, bufsize: usize, now: Instant) -> Stream {
        Stream {
            id,
            state: State::Route,
            frontend,
            listener,
            backend: None,
            server: None,
            client,
            req: Channel::new(bufsize),
            res: Channel::new(bufsize),
            cursor: RuleCursor::default(),
            tcp_content_done: false,
            be_tcp_content_done: false,
            src,
            dst,
            accept_at: now,
            accept_date: SystemTime::now().into(),
            queued_at: None,
            t_queue: None,
            connect_started: None,
            t_connect: None,
            client_last: now,
            server_last: now,
            state_deadline: None,
            armed: None,
            retries_left: 0,
            retries_done: 0,
            redispatched: false,
            queue_seen: (0, 0),
            term: Termination::NORMAL,
            http: None,
            inspect: None,
            lua: None,
            lua_service: None,
            tcp_service: None,
            stick: crate::stick::Session::default(),
            proxy_hdr: None,
            h2_handover: false,
        }
    }

    /// The client connection and the bytes already read from it, for the HTTP/2
    /// connection that takes over (see [`Life::H2`]).
    pub fn into_h2(self) -> (Conn, Vec<u8>) {
        let bytes = self.req.buf.data().to_vec();
        (self.client, bytes)
    }

    /// `bind ... proto h2`: the connection goes to HTTP/2 at once (see [`Life::H2`]).
    pub fn force_h2(&mut self) {
        self.h2_handover = true;
    }

    /// For a stream serving an HTTP/2 stream: its connection's slot in the runtime.
    pub fn h2_conn(&self) -> Option<crate::reactor::Key> {
        self.client.h2_conn()
    }

    /// The counters tracked by the `tcp-request connection` rules (before the stream).
    pub fn set_stick(&mut self, s: crate::stick::Session) {
        self.stick = s;
    }

    pub fn state(&self) -> State {
        self.state
    }

    /// The stream's Lua coroutine when a call waits on it (the CLI's `show lua tasks`).
    pub fn lua_waiting(&self, now: Instant) -> Option<lua::Waiting> {
        if let Some(svc) = self.lua_service.as_deref() {
            return svc.waiting(now);
        }
        if let Some(svc) = self.tcp_service.as_deref() {
            return svc.waiting(now);
        }
        self.lua.as_ref()?.waiting(now)
    }

    /// The client's address (`None` on a unix socket) and how long ago it was
    /// accepted (the CLI's `show sess`).
    pub fn client_info(&self, now: Instant) -> (Option<SocketAddr>, Duration) {
        (self.src, now.saturating_duration_since(self.accept_at))
    }

    /// The deadline this stream's live timer entry was armed for (others are stale).
    pub fn armed(&self) -> Option<Instant> {
        self.armed
    }

    pub fn termination(&self) -> Termination {
        self.term
    }

    /// The server of the current (or last) transaction, as an index into its
    /// backend's servers (for the statistics).
    pub fn server_index(&self) -> Option<usize> {
        self.server.as_ref().map(|s| s.srv())
    }

    /// The one place where the state changes.
    fn goto(&mut self, to: State) {
        debug_assert!(self.state.can_go(to), "illegal stream transition {:?} -> {:?}", self.state, to);
        self.state = to;
    }

    /// Reacts to `ev` and runs the state machine until it has to wait.
    pub fn on_event(&mut self, env: &mut Env<'_, '_>, ev: Event) -> Life {
        match ev {
            Event::Client(r) => self.client.note(r),
            Event::Server(r) => {
                let idle = self.http.as_mut().and_then(|h| h.idle.as_mut());
                if let Some(c) = self.server.as_mut().and_then(|s| s.conn.as_mut()).or(idle.and_then(|s| s.conn.as_mut())) {
                    c.note(r)
                }
            }
            Event::Timer(at) => {
                if self.armed != Some(at) {
                    return Life::Alive; // a superseded timer: lazy cancellation
                }
                self.armed = None;
            }
            Event::Wake => {}
        }
        // `accept-proxy`: nothing runs before the client's PROXY header is read.
        match self.proxy_header_step(env) {
            proxy_header::Step::Done => {}
            proxy_header::Step::Wait => {
                self.rearm(env);
                return Life::Alive;
            }
            proxy_header::Step::Failed => return Life::Finished,
        }
        if self.h2_handover {
            return Life::H2; // `proto h2`: nothing to read as HTTP/1 first
        }
        let _client = crate::lua::host::client_scope(self.client.raw_fd()); // txn:set_tos()
        lua::enter(&mut self.lua, env.key);
        let outer = crate::stick::enter(&mut self.stick);
        for _ in 0..MAX_STATE_STEPS {
            let before = self.state;
            match self.state {
                State::HttpHead => self.http_head(env),
                State::Tarpit => self.http_tarpit(env),
                State::LocalReply => self.http_local_replying(env),
                State::LuaService => self.lua_service_run(env),
                State::TcpService => self.tcp_service_run(env),
                State::Route => self.route(env),
                State::Queued => self.queued(env),
                State::TurnAround => self.turnaround(env),
                State::Connecting => self.connecting(env),
                State::Forwarding => self.forward(env),
                State::Closed => break,
            }
            if self.state == before {
                break;
            }
        }
        crate::stick::leave(&mut self.stick, outer);
        lua::leave();
        if self.state == State::Closed {
            return Life::Finished;
        }
        if self.h2_handover {
            return Life::H2;
        }
        // An idle stream keeps no buffer memory.
        self.req.buf.release_if_empty();
        self.res.buf.release_if_empty();
        self.rearm(env);
        Life::Alive
    }

    /// The queue gave this stream a server slot (see [`ServerPool::release`]).
    /// `position` is how many streams left that queue while this one waited
    /// (`%sq` when it waited in the server's queue, `%bq` for the backend's).
    pub fn dequeued(&mut self, env: &mut Env<'_, '_>, srv: usize, addr: Option<Target>, from_server_queue: bool, position: u32) -> Life {
        if self.state != State::Queued {
            // Not waiting any more: give the slot back.
            if let Some(be) = self.backend {
                env.pool.release(be, srv);
            }
            return if self.state == State::Closed { Life::Finished } else { Life::Alive };
        }
        self.t_queue = self.queued_at.map(|q| env.cx.now - q);
        self.queue_seen = if from_server_queue { (position, 0) } else { (0, position) };
        let outer = crate::stick::enter(&mut self.stick);
        self.start_connect(env, srv, addr);
        crate::stick::leave(&mut self.stick, outer);
        self.on_event(env, Event::Wake)
    }

    /// Kills the stream (hard stop, server taken down ...).
    pub fn kill(&mut self, env: &mut Env<'_, '_>, cause: Cause) {
        if self.state != State::Closed {
            // A stream killed by a server state change while forwarding ends with `D-`
            // or `U-`, as in HAProxy.
            let phase = match (cause, self.state) {
                (Cause::Down | Cause::Up, State::Forwarding) => Phase::None,
                _ => self.phase(),
            };
            let outer = crate::stick::enter(&mut self.stick);
            self.close(env, cause, phase);
            crate::stick::leave(&mut self.stick, outer);
        }
    }

    // ---- states -------------------------------------------------------------

    fn route(&mut self, env: &mut Env<'_, '_>) {
        // Rules may inspect client data (a yielded rule waiting for `ClientData` is
        // re-run on the next client event): buffer it, and notice a reset (`CR`).
        if let Err(abort) = self.read_client_early(env) {
            return self.close(env, abort, Phase::Request);
        }
        // SPOE events first (`spoe`; HTTP mode ran them with the request's rules).
        if self.backend.is_none() && (!self.spoe_event(env, spoe::Event::ClientSession) || !self.spoe_event(env, spoe::Event::FrontendTcpRequest)) {
            return;
        }
        if self.backend.is_none() && !self.tcp_content_rules(env) {
            return;
        }
        if self.backend.is_none() {
            let fe = &env.proxies[self.frontend];
            // Lua fetches of the conditions see the proxies, and may wait (`lua::in_rules`).
            let step = lua::in_rules(env.cx, env.proxies, &*env.pool, || match self.http.as_mut() {
                // HTTP: conditions see the request (`path_beg`, `hdr(host)` ...).
                Some(h) => {
                    let renv = frontend_rule_env(self.src, self.dst, fe, &mut h.sess_vars, self.client.tls_info().cloned(), conn_facts!(self).in_txn(h.done));
                    let cx = crate::http::rules::RuleCtx::new(&renv, &h.txn);
                    analysers::run_backend_rules(fe, &mut self.cursor, &cx)
                }
                None => {
                    let conn = conn_facts!(self);
                    let cx = inspect::route_ctx((self.src, self.dst), fe, self.inspect.as_deref(), &self.req).with_tls(&self.client).with_conn(conn);
                    analysers::run_backend_rules(fe, &mut self.cursor, &cx)
                }
            });
            match step {
                RuleStep::Backend(be) => {
                    self.backend = Some(be);
                    let p = &mut env.proxies[be];
                    p.cum_be += 1;
                    crate::stats::account_backend_session(p, env.cx.now);
                    self.retries_left = p.retries;
                    env.pool.attach(be);
                }
                RuleStep::NoBackend => return self.close(env, Cause::ProxyAbort, Phase::Request),
                RuleStep::Yield(WaitFor::Forced) => return env.cx.wake.push(Kind::Client, env.key),
                RuleStep::Yield(WaitFor::Timer(at)) => return self.state_deadline = Some(at),
                RuleStep::Yield(WaitFor::ClientData | WaitFor::Body { .. }) => return,
            }
        }
        // The backend's `tcp-request content` rules, then (HTTP) its request rules; both
        // may wait.
        if !self.spoe_event(env, spoe::Event::BackendTcpRequest) || !self.backend_tcp_content_rules(env) {
            return;
        }
        if self.http.is_some() && !self.http_backend_rules(env) {
            return;
        }
        self.assign_server(env, None);
    }

    /// Picks a server and connects, or queues.
    fn assign_server(&mut self, env: &mut Env<'_, '_>, avoid: Option<usize>) {
        let be = self.backend.expect("assign_server after a backend was chosen");
        let client = self.src.map(|s| s.ip());
        // `force-persist` / `ignore-persist`, then the `use-server` rules, then (HTTP) the
        // persistence cookie's server (src/stream/persist.rs), as HAProxy orders them.
        let (force, ignore) = self.persist_rules(env.proxies, be);
        let down_ok = env.proxies[be].options.persist || force;
        let persisted = match self.use_server_pick(env, be, avoid, down_ok) {
            Some(pick) => Some(pick),
            None if ignore => None,
            None => self.persist_pick(env, be, avoid, down_ok),
        };
        // `stick match|on` (src/stick/persist.rs): after `use-server` and the cookie.
        let stuck = self.stick_pick(env, be, avoid, down_ok, persisted.is_none() && !ignore);
        let persisted = persisted.or(stuck);
        let persisted = persisted.or_else(|| self.prefer_last_server(env, be, avoid));
        // `option transparent`: the client's destination, unless persistence decided.
        let persisted = persisted.or_else(|| env.proxies[be].transparent.and_then(|srv| env.pool.pick_persistent(be, srv, true)).map(|(pick, _)| pick));
        let pick = match (persisted, self.http.as_ref().and_then(|h| h.txn.req.as_ref())) {
            (Some(pick), _) => pick,
            (None, Some(req)) => env.pool.pick_request(be, client, req, avoid),
            (None, None) => env.pool.pick_payload(be, client, self.req.buf.data(), avoid),
        };
        match pick {
            Pick::Server { srv, addr } => {
                if self.queued_at.is_none() {
                    self.t_queue = Some(Duration::ZERO);
                }
                self.start_connect(env, srv, addr)
            }
            Pick::Queue { server } => {
                let pos = env.pool.enqueue(be, env.key, server, self.queue_priority());
                self.queue_seen = if server.is_some() { (pos, 0) } else { (0, pos) };
                self.queued_at = Some(env.cx.now);
                let t = &env.proxies[be].timeouts;
                self.state_deadline = t.queue.or(t.connect).map(|d| env.cx.now + d);
                self.goto(State::Queued);
            }
            Pick::QueueFull => self.close(env, Cause::ServerTimeout, Phase::Queue),
            Pick::NoServer => {
                self.server = None;
                self.close(env, Cause::ServerAbort, Phase::Connect)
            }
        }
    }

    /// `use-server`: the first rule of the backend whose condition holds names the server,
    /// which takes the request (or queues it) without load balancing; a server that is
    /// down (unless `option persist`), or the one a redispatch avoids, passes on to the
    /// next rule, as in HAProxy.
    fn use_server_pick(&mut self, env: &mut Env<'_, '_>, be: usize, avoid: Option<usize>, down_ok: bool) -> Option<Pick> {
        let p = &env.proxies[be];
        if p.use_servers.is_empty() {
            return None;
        }
        let pool = &mut *env.pool;
        // In order, each condition evaluated only until a rule's server takes the request.
        self.with_route_ctx(env.proxies, be, |cx| {
            p.use_servers
                .iter()
                .filter(|&&(srv, _)| Some(srv) != avoid)
                .find_map(|(srv, c)| c.eval(&p.acls, cx).then(|| pool.pick_persistent(be, *srv, down_ok)).flatten().map(|(pick, _)| pick))
        })
    }

    /// Whether a `force-persist` condition holds (persistence reaches a down server), and
    /// whether an `ignore-persist` one does (the cookie is ignored).
    fn persist_rules(&mut self, proxies: &[ProxyRt], be: usize) -> (bool, bool) {
        let p = &proxies[be];
        if p.force_persist.is_empty() && p.ignore_persist.is_empty() {
            return (false, false);
        }
        self.with_route_ctx(proxies, be, |cx| {
            let any = |conds: &[acl::CompiledCond]| conds.iter().any(|c| c.eval(&p.acls, cx));
            (any(&p.force_persist), any(&p.ignore_persist))
        })
    }

    /// Runs `f` with what the backend's server-choice conditions see: the transaction in
    /// HTTP mode, the connection and its rules' variables in TCP mode.
    fn with_route_ctx<R>(&mut self, proxies: &[ProxyRt], be: usize, f: impl FnOnce(&dyn crate::sample::SampleCtx) -> R) -> R {
        let fe = &proxies[self.frontend];
        match self.http.as_mut() {
            Some(h) => {
                let mut renv = frontend_rule_env(self.src, self.dst, fe, &mut h.sess_vars, self.client.tls_info().cloned(), conn_facts!(self).in_txn(h.done));
                renv.backend = Some(&proxies[be].name);
                f(&crate::http::rules::RuleCtx::new(&renv, &h.txn))
            }
            None => f(&inspect::route_ctx((self.src, self.dst), fe, self.inspect.as_deref(), &self.req).with_tls(&self.client)),
        }
    }

    fn queued(&mut self, env: &mut Env<'_, '_>) {
        if let Err(abort) = self.read_client_early(env) {
            return self.close(env, abort, Phase::Queue);
        }
        if self.state_deadline.is_some_and(|d| d <= env.cx.now) {
            self.t_queue = self.queued_at.map(|q| env.cx.now - q);
            return self.close(env, Cause::ServerTimeout, Phase::Queue);
        }
        let be = self.backend.expect("queued in a backend");
        if !env.pool.is_queued(be, env.key) {
            // Taken out of a dead server's queue: choose again (keeps the queue deadline).
            let deadline = self.state_deadline;
            self.assign_server(env, None);
            if self.state == State::Queued {
                self.state_deadline = deadline;
            }
        }
    }

    /// `server ... ssl`: how to wrap the connection to server `srv` (its `sni`
    /// expression evaluated on this stream), or `None` for plain TCP.
    fn server_tls_start(&mut self, proxies: &[ProxyRt], be: usize, srv: usize, addr: Option<&Target>) -> Option<impl FnOnce(mio::net::TcpStream) -> std::io::Result<crate::tls::TlsStream>> {
        let t = proxies[be].server_tls.get(srv)?.as_ref()?;
        let sni = t.sni.as_ref().and_then(|e| self.with_route_ctx(proxies, be, |cx| e.eval_str(cx)));
        let ip = match addr {
            Some(Target::Inet(a)) => Some(a.ip()),
            _ => None,
        };
        let name = crate::tls::ServerTls::server_name(sni.as_deref().and_then(|s| std::str::from_utf8(s).ok()), ip);
        let config = t.config.clone();
        Some(move |tcp| crate::tls::TlsStream::connect(tcp, config, name))
    }

    fn start_connect(&mut self, env: &mut Env<'_, '_>, srv: usize, addr: Option<Target>) {
        let be = self.backend.expect("a backend");
        self.stick_store(env, be, srv);
        if self.server_redirect(env, be, srv) {
            return;
        }
        self.http_send_name_header(env, be, srv);
        self.http_case_adjust_request(env, be);
        let client_port = addr.is_none();
        let addr = addr.or_else(|| self.client_port_target(env, be, srv)).map(|t| self.client_ip_target(t));
        if self.http_reuse(env, be, srv, &addr) {
            return;
        }
        let now = env.cx.now;
        self.connect_started.get_or_insert(now);
        let opts = &env.proxies[be].options;
        let (keepalive, nolinger) = (opts.tcpka || opts.srvtcpka, opts.nolinger);
        let probes = opts.srvtcpka_probes;
        crate::stats::account_connection(env.proxies, be, srv, false);
        let tls = self.server_tls_start(env.proxies, be, srv, addr.as_ref());
        // `proto h2`: HTTP/2 from the start (prior knowledge), in `mode http` only.
        let h2 = self.http.is_some() && env.pool.backend_state(be).and_then(|b| b.servers().get(srv)).is_some_and(|s| s.tuning().proto.as_deref() == Some("h2"));
        // With TLS, a PROXY header goes out in clear before the ClientHello; over
        // HTTP/2, before the connection preface.
        let clear_header = if tls.is_some() || h2 { self.proxy_header_to_send(env, be, srv) } else { None };
        let tuning = env.pool.backend_state(be).and_then(|b| b.servers().get(srv)).map(|s| s.tuning());
        let source = tuning.and_then(|t| t.source.as_ref());
        let (tfo, tcp_ut) = tuning.map_or((false, None), |t| (t.tfo, t.tcp_ut));
        let socks4 = tuning.and_then(|t| t.socks4);
        let fcgi_server = env.proxies[be].fcgi.as_ref().and_then(|f| f.server_name(srv));
        let h2_name = h2.then(|| format!("{}/{}", env.proxies[be].name, env.pool.server_name(be, srv)));
        let h2_settings = env.proxies[be].h2_settings;
        let conn = addr.as_ref().and_then(|addr| {
            // Through a SOCKS4 proxy, the socket goes to the proxy, which is asked for
            // the server's address once the layers above are set (below); an address
            // SOCKS4 cannot name (IPv6, a unix socket) fails the connection.
            let socks4 = match (socks4, addr) {
                (Some(proxy), Target::Inet(dest)) => Some((Target::Inet(proxy), *dest)),
                (Some(_), _) => return None,
                (None, _) => None,
            };
            let mut c = Conn::connect_tfo(socks4.as_ref().map_or(addr, |(proxy, _)| proxy), source, self.src, tfo).ok()?;
            let mut clear_header = clear_header;
            if let Some(wrap) = tls {
                c = c.into_tls(wrap).ok()?;
                if let Some(header) = clear_header.take() {
                    c.send_before_tls(header);
                }
            }
            if let Some(name) = fcgi_server.as_deref() {
                c = c.into_fcgi(name);
            }
            if let Some(name) = h2_name.as_deref() {
                c = c.into_h2(name, h2_settings);
                if let Some(header) = clear_header.take() {
                    c.send_before_h2(header);
                }
            }
            if let Some((_, dest)) = socks4 {
                c = c.via_socks4(dest)?;
            }
            c.register(env.cx.registry, token::encode(Kind::Server, env.key)).ok()?;
            if keepalive {
                c.set_keepalive();
                let _ = crate::sys::sockopt::set_keepalive_probes(c.raw_fd(), &probes);
            }
            let _ = crate::sys::sockopt::tune_server_socket(c.raw_fd());
            if let Some(delay) = tcp_ut {
                let _ = crate::sys::sockopt::set_user_timeout_fd(c.raw_fd(), delay);
            }
            if nolinger {
                c.set_nolinger();
            }
            Some(c)
        });
        let fd = conn.as_ref().map_or(-1, Conn::raw_fd);
        if conn.is_none() {
            // No socket, so no event will come: run again to count the failure.
            env.cx.wake.push(Kind::Client, env.key);
        }
        // A connection to the client's port serves this client only (HAProxy shares it
        // with clients of the same destination).
        self.server = Some(Box::new(ServerSide { be: index(be), srv: index(srv), addr, conn, fd, released: false, served: 0, private: client_port }));
        self.state_deadline = env.proxies[be].timeouts.connect.map(|d| now + d);
        self.goto(State::Connecting);
    }

    /// A server address without a port (`server s 10.0.0.1`) connects to the port the
    /// client connected to (`dst_port`, from the PROXY header with `accept-proxy`), as
    /// HAProxy does; with an offset (`10.0.0.1:+1000`) to that port moved by it, wrapping
    /// at 65536 as HAProxy's 16-bit port does. `None` when the client has no such port
    /// (a unix socket listener): the attempt then fails.
    /// Where this stream goes in a queue: its transaction's `set-priority-class` and
    /// `set-priority-offset` (TCP mode: the stream's, from `tcp-request content`
    /// rules; class 0, due now, without them), on the stick tables' monotonic
    /// millisecond clock.
    fn queue_priority(&self) -> crate::backend::QueuePriority {
        let (class, offset) = match &self.http {
            Some(h) => h.txn.priority,
            None => self.inspect.as_ref().map_or((0, 0), |i| i.priority),
        };
        crate::backend::QueuePriority { class, due_ms: crate::stick::now_ms() as i64 + i64::from(offset) }
    }

    /// A server without an address (`0.0.0.0`, `::`) connects to the address the client
    /// connected to (`dst`, as `set-dst` may have changed it), as HAProxy does; `target`
    /// as it is otherwise, or when the client has no IP address (a unix socket).
    fn client_ip_target(&self, target: Target) -> Target {
        match (target, self.dst) {
            (Target::Inet(a), Some(dst)) if a.ip().is_unspecified() => Target::Inet(SocketAddr::new(dst.ip(), a.port())),
            (t, _) => t,
        }
    }

    fn client_port_target(&self, env: &Env<'_, '_>, be: usize, srv: usize) -> Option<Target> {
        use crate::config::model::ServerAddr;
        let server = env.pool.backend_state(be)?.servers().get(srv)?;
        let (ip, offset) = match server.addr() {
            ServerAddr::Inet { ip, port: None } => (*ip, 0),
            ServerAddr::PortOffset { ip, offset } => (*ip, *offset),
            _ => return None,
        };
        let port = (i32::from(self.dst?.port()) + offset).rem_euclid(65536) as u16;
        Some(Target::Inet(SocketAddr::new(ip, port)))
    }

    fn connecting(&mut self, env: &mut Env<'_, '_>) {
        if let Err(abort) = self.read_client_early(env) {
            return self.close(env, abort, Phase::Connect);
        }
        let side = self.server.as_mut().expect("connecting has a server");
        let result = match side.conn.as_mut() {
            None => ConnectState::Failed(None), // no address, or socket creation failed
            Some(c) if c.writable || c.hup => c.connect_state(),
            Some(_) => ConnectState::Pending,
        };
        match result {
            ConnectState::Established => {
                env.pool.observe(side.be(), side.srv(), crate::backend::observe::Observed::Connected);
                self.h2_by_alpn(env);
                if !self.send_proxy_header(env) {
                    return self.connect_failed(env, Cause::ServerAbort);
                }
                self.t_connect = self.connect_started.map(|s| env.cx.now - s);
                self.keep_backend_src();
                self.server_last = env.cx.now;
                self.client_last = env.cx.now;
                self.state_deadline = None;
                self.goto(State::Forwarding);
            }
            ConnectState::Pending => {
                if self.state_deadline.is_some_and(|d| d <= env.cx.now) {
                    self.connect_failed(env, Cause::ServerTimeout);
                }
            }
            ConnectState::Refused | ConnectState::Failed(_) => self.connect_failed(env, Cause::ServerAbort),
        }
    }

    /// `ssl ... alpn h2`: once the handshake chose `h2`, the server connection speaks
    /// HTTP/2 (`super::h2srv`), in `mode http` and unless `proto` says otherwise;
    /// `http/1.1` or no ALPN stays HTTP/1.1.
    fn h2_by_alpn(&mut self, env: &mut Env<'_, '_>) {
        let Some(side) = self.server.as_mut().filter(|_| self.http.is_some()) else { return };
        if !side.conn.as_ref().is_some_and(|c| c.alpn_is_h2() && !c.is_h2_to_server()) {
            return;
        }
        let (be, srv) = (side.be(), side.srv());
        if env.pool.backend_state(be).and_then(|b| b.servers().get(srv)).is_some_and(|s| s.tuning().proto.is_some()) {
            return;
        }
        let name = format!("{}/{}", env.proxies[be].name, env.pool.server_name(be, srv));
        let settings = env.proxies[be].h2_settings;
        side.conn = side.conn.take().map(|c| c.into_h2(&name, settings));
    }

    /// One attempt failed: retry, redispatch or give up (`SC` / `sC`).
    fn connect_failed(&mut self, env: &mut Env<'_, '_>, cause: Cause) {
        let side = self.server.as_mut().expect("a server");
        env.pool.record(side.be(), side.srv(), Attempt::Failed);
        if let Some(mut c) = side.conn.take() {
            c.deregister(env.cx.registry);
        }
        // Connection failures are retried unless `retry-on` leaves out `conn-failure`.
        if self.retries_left == 0 || !env.proxies[side.be()].retry_on.contains(RetryOn::CONN_FAILURE) {
            return self.close(env, cause, Phase::Connect);
        }
        self.retries_left -= 1;
        self.retries_done += 1;
        let (be, srv, addr) = (side.be(), side.srv(), side.addr.clone());
        if self.redispatch_due(&env.proxies[be]) {
            // Give the slot back and choose again, avoiding this server.
            env.pool.record(be, srv, Attempt::Redispatched);
            env.pool.release(be, srv);
            self.server = None;
            self.redispatched = true;
            self.assign_server(env, Some(srv));
        } else if cause == Cause::ServerAbort {
            env.pool.record(be, srv, Attempt::Retried);
            let delay = env.proxies[be].timeouts.connect.map_or(MAX_TURNAROUND, |c| c.min(MAX_TURNAROUND));
            self.state_deadline = Some(env.cx.now + delay);
            self.goto(State::TurnAround);
        } else {
            env.pool.record(be, srv, Attempt::Retried);
            self.start_connect(env, srv, addr);
        }
    }

    /// `option redispatch [interval]`: a positive interval P redispatches on every
    /// Pth retry; −N (N > 1) on the Nth retry before the last, as documented.
    /// Plain `option redispatch` (−1, "the last retry" in the documentation) is
    /// measured on HAProxy 2.6.12 to redispatch on *every* retry, without the
    /// turn-around delay (two refusing servers with `retries 4` are tried
    /// alternately, `%rc` = `+4`, `%Tt` = 0); we do what HAProxy does.
    fn redispatch_due(&self, be: &ProxyRt) -> bool {
        if !be.options.redispatch {
            return false;
        }
        match be.options.redispatch_interval {
            p @ 1.. => self.retries_done.is_multiple_of(p as u32),
            -1 | 0 => true,
            n => self.retries_left + 1 == n.unsigned_abs(),
        }
    }

    fn turnaround(&mut self, env: &mut Env<'_, '_>) {
        if let Err(abort) = self.read_client_early(env) {
            return self.close(env, abort, Phase::Connect);
        }
        if self.state_deadline.is_some_and(|d| d <= env.cx.now) {
            let side = self.server.as_ref().expect("a server");
            let (srv, addr) = (side.srv(), side.addr.clone());
            self.start_connect(env, srv, addr);
        }
    }

    /// Before the server is connected, client bytes are buffered (they are forwarded
    /// once connected) and a client reset is noticed. A client FIN is kept as a
    /// half-close unless `option abortonclose`.
    fn read_client_early(&mut self, env: &mut Env<'_, '_>) -> Result<(), Cause> {
        if self.client.hup && !self.client.readable {
            return Err(Cause::ClientAbort);
        }
        if self.req.eof || !self.client.readable || self.req.buf.is_full() {
            return self.http_scan_early();
        }
        let (n, end) = self.client.read_into(&mut self.req.buf);
        self.req.total += n as u64;
        match end {
            ReadEnd::Error => Err(Cause::ClientAbort),
            ReadEnd::Eof => {
                self.req.eof = true;
                let be = self.backend.unwrap_or(self.frontend);
                if env.proxies[be].options.abortonclose { Err(Cause::ClientAbort) } else { self.http_scan_early() }
            }
            _ => self.http_scan_early(),
        }
    }

    fn forward(&mut self, env: &mut Env<'_, '_>) {
        if self.http.is_some() {
            return self.forward_http(env);
        }
        // SPOE `on-server-session` and `on-tcp-response` (`spoe`), as the response's
        // analysis starts: the response waits for the agent's answers, then for the
        // `tcp-response content` rules.
        let spoe_wait = !self.spoe_event(env, spoe::Event::ServerSession) || !self.spoe_event(env, spoe::Event::TcpResponse) || !self.spoe_group_pending(env);
        // A `tcp-response content send-spoe-group` reached in this pass: the rules stop
        // there until the group is sent (after the loop).
        let mut spoe_rule = None;
        let now = env.cx.now;
        let side = self.server.as_mut().expect("forwarding has a server");
        let srv = side.conn.as_mut().expect("forwarding has a server connection");
        let client = &mut self.client;
        let mut outcome: Option<(Cause, Phase)> = None;
        let mut rounds = 0;
        loop {
            rounds += 1;
            if rounds > MAX_FORWARD_ROUNDS {
                env.cx.wake.push(Kind::Client, env.key); // fairness: continue next iteration
                break;
            }
            let mut progress = false;
            // Request: client → server.
            match self.req.fill_from(client) {
                Ok(f) => {
                    if f.bytes > 0 {
                        self.client_last = now;
                    }
                    progress |= f.progress();
                }
                Err(channel::ReadFailed) => {
                    outcome = Some((Cause::ClientAbort, Phase::Data));
                    break;
                }
            }
            if !self.req.buf.is_empty() && srv.writable {
                let (n, end) = srv.write_from(&mut self.req.buf);
                if n > 0 {
                    self.server_last = now;
                    progress = true;
                }
                if end == WriteEnd::Error {
                    outcome = Some((Cause::ServerAbort, Phase::Data));
                    break;
                }
            }
            if self.req.drained_after_eof() && !srv.shut_w {
                srv.shutdown_write();
                progress = true;
            }
            // Response: server → client.
            match self.res.fill_from(srv) {
                Ok(f) => {
                    if f.bytes > 0 {
                        self.server_last = now;
                    }
                    progress |= f.progress();
                }
                Err(channel::ReadFailed) => {
                    outcome = Some((Cause::ServerAbort, Phase::Data));
                    break;
                }
            }
            // `tcp-response content` rules hold the response until they decide.
            let side = inspect::ResponseSide { addrs: (self.src, self.dst), frontend: self.frontend, backend: self.backend, req: &mut self.req, res: &mut self.res, lua: &mut self.lua };
            let held = spoe_wait || spoe_rule.is_some() || match inspect::tcp_response_rules(&mut self.inspect, side, env) {
                analysers::TcpVerdict::Spoe(rule) => {
                    spoe_rule = Some(rule);
                    true
                }
                analysers::TcpVerdict::Reject => {
                    outcome = Some((Cause::ProxyAbort, Phase::Data));
                    break;
                }
                analysers::TcpVerdict::SilentDrop => {
                    client.prepare_silent_drop();
                    crate::stats::account_response_silent_drop(env.proxies, self.frontend, self.backend);
                    outcome = Some((Cause::ProxyAbort, Phase::Data));
                    break;
                }
                analysers::TcpVerdict::Close if !self.res.eof => {
                    self.res.eof = true;
                    srv.shutdown_write();
                    progress = true;
                    false
                }
                analysers::TcpVerdict::Wait => true,
                _ => false,
            };
            if !held && !self.res.buf.is_empty() && client.writable {
                let (n, end) = client.write_from(&mut self.res.buf);
                if n > 0 {
                    self.client_last = now;
                    progress = true;
                }
                if end == WriteEnd::Error {
                    outcome = Some((Cause::ClientAbort, Phase::Data));
                    break;
                }
            }
            if self.res.drained_after_eof() && !client.shut_w {
                client.shutdown_write();
                progress = true;
            }
            if !progress {
                break;
            }
        }
        if let Some((cause, phase)) = outcome {
            return self.close(env, cause, phase);
        }
        if let Some(rule) = spoe_rule {
            // Sent (or nothing to send): the rules go on at once; else the ACK wakes it.
            let be = self.backend.expect("forwarding has a backend");
            let group = env.proxies[be].tcp_rules.spoe_group(crate::config::model::TcpRuleList::ResponseContent, rule);
            if group.is_none_or(|g| self.spoe_group(env, be, &g)) {
                env.cx.wake.push(Kind::Client, env.key);
            }
        }
        let done = self.req.drained_after_eof() && self.res.drained_after_eof();
        if done {
            return self.close(env, Cause::None, Phase::None);
        }
        let (c, s) = self.side_deadlines(env.proxies);
        match (c, s) {
            (Some(c), s) if c <= now && s.is_none_or(|s| c <= s) => self.close(env, Cause::ClientTimeout, Phase::Data),
            (_, Some(s)) if s <= now => self.close(env, Cause::ServerTimeout, Phase::Data),
            _ => {}
        }
    }

    /// Inactivity deadlines of the client and server sides while forwarding. A side
    /// has one only while the stream waits on it (to read from it or to write to it).
    /// `timeout tunnel` replaces `client`/`server` in TCP mode once connected;
    /// `client-fin`/`server-fin` replace them once we shut that side's write
    /// direction and only wait for it to close.
    fn side_deadlines(&self, proxies: &[ProxyRt]) -> (Option<Instant>, Option<Instant>) {
        let fe = &proxies[self.frontend].timeouts;
        let be = &proxies[self.backend.unwrap_or(self.frontend)].timeouts;
        // `http-request set-timeout server|tunnel` replaces the backend's.
        let set = self.http.as_ref().map(|h| h.txn.timeouts).unwrap_or_default();
        let (be_server, be_tunnel) = (set.server.or(be.server), set.tunnel.or(be.tunnel));
        // A side is half-closed once we sent it our FIN and only wait for its own
        // (the proxy's socket sits in FIN_WAIT: what `client-fin`/`server-fin` bound).
        let server_half = self.server.as_ref().and_then(|s| s.conn.as_ref()).is_some_and(|c| c.shut_w);
        let client_half = self.client.shut_w;
        // HTTP mode waits on a side only while a message needs it, and uses
        // `timeout tunnel` only once upgraded.
        let (wait_client, wait_server, tunnel) = self.http_waits().unwrap_or((
            (!self.req.eof && !self.req.buf.is_full()) || !self.res.buf.is_empty(),
            (!self.res.eof && !self.res.buf.is_full()) || !self.req.buf.is_empty(),
            true,
        ));
        let pick = |base: Option<Duration>, fin: Option<Duration>, half: bool| {
            let base = if tunnel { be_tunnel.or(base) } else { base };
            if half { fin.or(base) } else { base }
        };
        let c = pick(fe.client, fe.client_fin, client_half).filter(|_| wait_client).map(|d| self.client_last + d);
        let s = pick(be_server, be.server_fin, server_half).filter(|_| wait_server).map(|d| self.server_last + d);
        (c, s)
    }

    /// The phase letter for a termination happening now.
    fn phase(&self) -> Phase {
        match self.state {
            State::HttpHead | State::Route | State::LuaService => Phase::Request,
            State::TcpService => Phase::Data,
            State::Tarpit => Phase::Tarpit,
            State::LocalReply => Phase::Last,
            State::Queued => Phase::Queue,
            State::TurnAround | State::Connecting => Phase::Connect,
            State::Forwarding if self.http.is_some() => self.http_phase(),
            State::Forwarding | State::Closed => Phase::Data,
        }
    }

    fn close(&mut self, env: &mut Env<'_, '_>, cause: Cause, phase: Phase) {
        if self.state == State::Queued {
            if let Some(be) = self.backend {
                env.pool.leave_queue(be, env.key);
            }
        }
        // HTTP: a request sent on a reused connection the server had closed is sent
        // again; a client still waiting for its response gets an error page.
        if self.http_retry_reused(env, cause, phase) {
            return;
        }
        // `retry-on empty-response|junk-response|response-timeout` ([`l7retry`]).
        if self.l7_retry_on_close(env, cause, phase) {
            return;
        }
        // HTTP: a client still waiting for its response gets an error page first.
        if let Some(status) = self.http_error_status(cause, phase) {
            return self.http_reject(env, status, Termination::new(cause, phase));
        }
        self.term = Termination::new(cause, phase);
        if crate::stick::session::active() {
            let f = self.end_facts(env.cx.now);
            crate::stick::session::txn_end(f.bytes_in, f.bytes_out, false);
        }
        self.client.deregister(env.cx.registry);
        if let Some(side) = self.server.as_mut() {
            if let Some(c) = side.conn.as_mut() {
                c.deregister(env.cx.registry);
            }
            side.conn = None;
            if !side.released {
                side.released = true;
                env.pool.release(side.be(), side.srv());
            }
        }
        self.http_close_idle(env);
        if let Some(be) = self.backend {
            env.pool.detach(be);
        }
        self.state_deadline = None;
        self.goto(State::Closed);
    }

    /// Arms the timer for the earliest deadline, unless an earlier one is armed.
    fn rearm(&mut self, env: &mut Env<'_, '_>) {
        let next = match self.state {
            State::Forwarding => {
                let (c, s) = self.side_deadlines(env.proxies);
                // A response rule waiting for a Lua sleep (an action's, or a fetch's
                // in a rule) set the state deadline; a stale one is in the past.
                let rules = self.state_deadline.filter(|&at| at > env.cx.now);
                [c, s, self.inspect_deadline(), rules].into_iter().flatten().min()
            }
            State::Closed => None,
            _ => self.state_deadline,
        };
        if let Some(at) = next {
            if self.armed.is_none_or(|a| at < a) {
                self.armed = Some(at);
                env.cx.timers.arm(at, crate::reactor::TimerTarget::Entry(Kind::Client, env.key));
            }
        }
    }

    /// The client's and the (last) server connection's fd numbers, for `-d` traces.
    pub fn fds(&self) -> (i32, Option<i32>) {
        (self.client.raw_fd(), self.server.as_ref().and_then(|s| (s.fd >= 0).then_some(s.fd)))
    }

    /// What the statistics count of the stream (or, in HTTP mode, of its current
    /// transaction) when it ends: the figures of its log record, built without the
    /// record (which exists only when something logs).
    pub fn end_facts(&self, now: Instant) -> crate::stats::EndFacts {
        let mut f = crate::stats::EndFacts {
            http: false,
            status: None,
            bad_request: false,
            termination: self.term.code(),
            bytes_in: self.req.total,
            bytes_out: self.res.total,
            t_queue: self.t_queue,
            t_connect: self.t_connect,
            t_response: None,
            t_total: now - self.accept_at,
        };
        self.http_end_facts(&mut f, now);
        f
    }

    /// The log record, valid once the stream is closed.
    pub fn log_record(&mut self, proxies: &[ProxyRt], pool: &dyn ServerPool, now: Instant, actconn: u32) -> StreamLog {
        let fe = &proxies[self.frontend];
        let be = self.backend.map(|b| &proxies[b]);
        let srv = self.server.as_ref();
        let mut rec = StreamLog {
            unique_id: self.http.as_ref().and_then(|h| h.txn.unique_id.clone()),
            stream_id: self.id,
            accept_date: self.accept_date.get(),
            client: self.src,
            frontend_addr: self.dst,
            frontend: fe.name.clone(),
            frontend_ssl: self.client.is_tls(),
            tls: self.client.tls_info().cloned(),
            // The connection may be closed by now: HTTP keeps its TLS with the response.
            server_tls: srv.and_then(|s| s.conn.as_ref()?.tls_info().cloned()).or_else(|| self.http.as_ref()?.txn.server_tls.clone()),
            backend: be.map(|b| b.name.clone()),
            server: srv.map(|s| pool.server_name(s.be(), s.srv()).to_string()),
            server_addr: srv.and_then(|s| match s.addr {
                Some(Target::Inet(a)) => Some(a),
                _ => None,
            }),
            t_queue: self.t_queue,
            t_connect: self.t_connect,
            t_total: now - self.accept_at,
            bytes_in: self.req.total,
            bytes_out: self.res.total,
            termination: self.term.code(),
            actconn,
            feconn: fe.feconn,
            beconn: self.backend.map_or(0, |b| pool.beconn(b)),
            srv_conn: srv.map_or(0, |s| pool.server_conns(s.be(), s.srv())),
            retries: self.retries_done,
            redispatched: self.redispatched,
            srv_queue: self.queue_seen.0,
            backend_queue: self.queue_seen.1,
            http: None,
            samples: Vec::new(),
            sd_samples: Vec::new(),
            backend_src: self.backend_src(),
            log_count: fe.log_count.replace(fe.log_count.get() + 1),
        };
        self.http_log_fields(&mut rec, now);
        self.persist_log_flags(&mut rec, proxies);
        self.tcp_service_log_fields(&mut rec);
        if let Some(format) = &fe.log_samples {
            // The sticky counters, for `sc*_` fetches at stream end (during the stream's
            // events they are lent already).
            let outer = self.stick.is_tracking().then(|| crate::stick::enter(&mut self.stick));
            // A Lua fetch there cannot wait: the stream is over.
            rec.samples = crate::sample::lua::cannot_yield("log-format at stream end", || {
                self.log_samples(format, proxies, &rec)
            });
            if let Some(outer) = outer {
                crate::stick::leave(&mut self.stick, outer);
            }
        }
        if let Some(sd) = &fe.log_sd_samples {
            rec.sd_samples = crate::sample::lua::cannot_yield("log-format-sd at stream end", || self.log_samples(sd, proxies, &rec));
        }
        rec
    }

    /// The log format's `%[...]` values, evaluated while the transaction exists (its
    /// headers and `txn.*` variables are gone once the next request starts). In TCP
    /// mode the record answers (addresses, names) with the TCP rules' variables.
    fn log_samples(&mut self, format: &crate::log::LogFormat, proxies: &[ProxyRt], rec: &StreamLog) -> Vec<Option<Vec<u8>>> {
        let fe = &proxies[self.frontend];
        let Some(h) = self.http.as_mut() else {
            let conn = crate::sample::fetch_conn::ClientConn {
                backend_src: rec.backend_src,
                ..conn_facts!(self)
            };
            return format.eval_samples(&inspect::LogCtx { rec, ins: self.inspect.as_deref(), conn });
        };
        let renv = crate::http::rules::RuleEnv {
            src: self.src,
            dst: self.dst,
            frontend: &fe.name,
            backend: rec.backend.as_deref(),
            server: rec.server.as_deref(),
            sess_vars: &mut h.sess_vars,
            userlists: &fe.userlists,
            tls: self.client.tls_info().cloned(),
            server_tls: rec.server_tls.clone(),
            conn: crate::sample::fetch_conn::ClientConn {
                backend_src: rec.backend_src,
                ..conn_facts!(self)
            },
        };
        format.eval_samples(&crate::http::rules::RuleCtx::new(&renv, &h.txn))
    }
}

/// What the frontend's rules know of an HTTP stream before a backend is chosen.
fn frontend_rule_env<'a>(
    src: Option<SocketAddr>,
    dst: Option<SocketAddr>,
    fe: &'a ProxyRt,
    sess_vars: &'a mut crate::sample::vars::Vars,
    tls: Option<std::sync::Arc<crate::tls::TlsInfo>>,
    conn: crate::sample::fetch_conn::ClientConn,
) -> crate::http::rules::RuleEnv<'a> {
    crate::http::rules::RuleEnv { src, dst, frontend: &fe.name, backend: None, server: None, sess_vars, userlists: &fe.userlists, tls, server_tls: None, conn }
}

/// What the sample fetches read of the client connection beyond its addresses
/// (`fc_rtt`, `fc_rcvd_proxy`).
fn client_facts(client: &Conn, hdr: Option<&proxy_header::ProxyHeader>, listener: usize, server: Option<&ServerSide>) -> crate::sample::fetch_conn::ClientConn {
    let fd = client.raw_fd();
    crate::sample::fetch_conn::ClientConn {
        fd: (fd >= 0).then_some(fd),
        rcvd_proxy: hdr.is_some_and(|h| h.received),
        first_req: None,
        listener: Some(listener),
        pp: hdr.and_then(|h| h.tlvs.clone()),
        server_fd: server.and_then(|s| s.conn.as_ref()).map(Conn::raw_fd).filter(|fd| *fd >= 0),
        backend_src: None,
    }
}
