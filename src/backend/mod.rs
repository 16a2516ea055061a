//! Backends at run time: servers, load balancing, queues and health-check state.
//!
//! This module is *sans-io*: it owns no socket and no timer. It decides which server
//! a request goes to, who waits and who is woken, and what HAProxy would log; the
//! reactor does the connecting, the timing and the logging.
//!
//! # Model
//!
//! A [`Backend`] is built once from a `backend`/`listen` section with
//! [`Backend::from_config`]. Its servers are addressed by [`ServerId`], an index into
//! [`Backend::servers`] in declaration order. Each [`Server`] has an *admin* state set
//! by the operator ([`AdminState`]: ready, drain, maint; `disabled` starts in maint)
//! and an *operational* state set by its health check ([`OpState`]: up, down; a
//! server without `check` is always up). A server is **usable** when it is up,
//! ready and has a weight > 0. The **eligible** farm is the usable active servers,
//! or, when none is left, the usable backup servers (all of them with
//! `option allbackups`, else only the first one declared).
//!
//! ## Connection slots and queues
//!
//! Every connection to a server holds a *slot* on it (HAProxy's `served`). A server
//! with `maxconn` has that many slots; without, unlimited.
//!
//! - [`Backend::pick`] runs the balancing algorithm ([`lb`]) over the eligible farm.
//!   [`Pick::Server`] means a slot is **already reserved** on that server: connect to
//!   it. [`Pick::Queue`] means every eligible server is full: call
//!   [`Backend::enqueue`]`(waiter, None)` to wait in the backend queue.
//!   [`Pick::QueueOnServer`] (only `source`, whose hash picks a full server) means
//!   wait in that server's queue with `enqueue(waiter, Some(id))`.
//!   [`Pick::QueueFull`] (that server's `maxqueue` is reached) and [`Pick::NoServer`]
//!   (no usable server) end in a 503.
//! - A waiter leaves a queue either because it is handed a slot (see below) or
//!   because the reactor calls [`Backend::remove`] (`timeout queue`, client abort).
//! - Every reserved slot is released exactly once with [`Backend::connection_ended`]
//!   (connection closed, or connect failed and the stream gives up or redispatches).
//!   Right after, the reactor calls [`Backend::next_waiter_for_free_slot`] in a loop
//!   until it returns `None`: each returned waiter has been given a slot on the
//!   returned server (already reserved) and must be woken to connect. The oldest
//!   waiter wins between the server's own queue and the backend queue (HAProxy
//!   compares the two queue heads the same way); the backend queue is served only
//!   by an eligible server.
//! - With `roundrobin`, `leastconn` and `first`, a new request does not jump the
//!   backend queue: while it is not empty, [`Backend::pick`] answers [`Pick::Queue`].
//!
//! ## Retries and redispatch
//!
//! On a failed connect, the stream keeps its slot for retries on the same server.
//! To redispatch (`option redispatch`), release the slot with `connection_ended` and
//! call `pick` again with `avoid: Some(failed)`: another server is chosen if one can
//! take it.
//!
//! ## Health checks and admin changes
//!
//! For a server with `check`, the reactor arms a timer with
//! [`HealthCheck::first_check_in`] then [`HealthCheck::next_check_in`]
//! (via [`Server::check`]), runs a TCP connect to [`Server::check_addr`] bounded by
//! [`Backend::check_timeout`] (with `option httpchk`, then the HTTP exchange of
//! [`Backend::http_probe`], bounded by `timeout check` when set), and reports its
//! outcome with [`Backend::on_check_result`]. With `http-check disable-on-404`, a 404
//! makes an UP server "stopping" ([`Server::is_stopping`]): not usable for new
//! traffic, not down. That, [`Backend::set_admin_state`] and
//! [`Backend::set_operational_state`] return a [`StateReport`]: the lines to log
//! (with their level and the stderr severity, as HAProxy prints them), the waiters
//! given a slot on a server that came up, or on any server that became eligible
//! (backups taking over), which must be woken to connect, and the waiters
//! taken out of the queue of a server that went down (wake them to `pick` again;
//! only with `option redispatch`, as HAProxy does).
//!
//! ## Counters
//!
//! [`Backend::stream_attached`]/[`Backend::stream_detached`] count the streams using
//! the backend (`beconn`, `%bc`); [`Server::current_conns`] is `%sc`;
//! [`Dequeued::queue_position`] gives `%sq`/`%bq` for a stream that waited.

pub mod agent;
pub mod check;
mod dynamic;
pub mod hashkey;
pub mod lb;
mod minconn;
pub mod observe;
pub mod rdp;
mod proto_check;
pub mod tcp_check;
pub mod track;

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use crate::config::model::{self, Balance, Level, Proxy, ServerAddr};
use crate::diag::Severity;

pub use dynamic::Undeletable;
pub use check::{CheckResult, ExternalOutcome, FailReason, HealthCheck, HttpProbe, Transition};
pub use tcp_check::{TcpProbe, TcpRun};
use lb::{LbState, Slot};

/// Identifies a request waiting in a queue; chosen by the reactor (e.g. a stream key
/// with its generation) and only compared for equality here.
pub type WaiterId = u64;

/// A server of a backend: an index into [`Backend::servers`], in declaration order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ServerId(pub usize);

/// The operator's state for a server, from the least to the most restrictive.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum AdminState {
    /// Normal operation.
    Ready,
    /// Takes no new load-balanced traffic; current connections and its own queue go on.
    Drain,
    /// Maintenance: no traffic at all, checks paused (`disabled` starts here).
    Maint,
}

/// The operational state of a server, as its health check sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpState {
    /// Up (a server without `check` is always up).
    Up,
    /// Down: failed its checks.
    Down,
}

/// The result of [`Backend::pick`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pick {
    /// Use this server: a connection slot is reserved on it (release it with
    /// [`Backend::connection_ended`]).
    Server(ServerId),
    /// Every eligible server is full: wait in the backend queue
    /// ([`Backend::enqueue`] with `None`).
    Queue,
    /// The algorithm (`source`) chose this server but it is full: wait in its queue
    /// ([`Backend::enqueue`] with `Some(id)`).
    QueueOnServer(ServerId),
    /// The chosen server is full and its queue reached `maxqueue`: HAProxy answers
    /// 503 (termination state `sQ`).
    QueueFull(ServerId),
    /// No usable server at all: 503 (termination state `SC`).
    NoServer,
}

/// Which queue a waiter was in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QueueKind {
    /// A server's own queue (`%sq`).
    Server,
    /// The backend queue (`%bq`).
    Backend,
}

/// A waiter handed a connection slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dequeued {
    /// Who waited.
    pub waiter: WaiterId,
    /// The server whose slot is now reserved for it.
    pub server: ServerId,
    /// The queue it waited in.
    pub from: QueueKind,
    /// How many requests left that queue while this one waited (HAProxy's `%sq` or
    /// `%bq` for this stream, depending on `from`).
    pub queue_position: u64,
}

/// A line HAProxy would emit on a state change: sent to the backend's log targets
/// at `level`, and printed on stderr with `console` severity (HAProxy's
/// `ha_warning`/`ha_alert`) unless `-q`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StateMessage {
    /// Syslog level for the log line.
    pub level: Level,
    /// Severity for the stderr line.
    pub console: Severity,
    /// Text for the log line (no trailing newline).
    pub text: String,
    /// Text for stderr, when it differs from `text` (HAProxy quotes the backend name
    /// in `backend 'b' has no server available!` on stderr only).
    pub console_text: Option<String>,
}

/// What the reactor must do after a server state change.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StateReport {
    /// The server's state changed (up/down or usable/unusable).
    pub changed: bool,
    /// Lines to log, in order.
    pub messages: Vec<StateMessage>,
    /// Waiters given a slot (reserved): wake them to connect.
    pub assigned: Vec<Dequeued>,
    /// Waiters taken out of a dead server's queue: wake them to `pick` again.
    pub redispatch: Vec<WaiterId>,
}

/// Per-server counters (HAProxy's stats fields in parentheses).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ServerCounters {
    /// Slots granted so far (`stot`).
    pub cum_conns: u64,
    /// Times the balancing algorithm chose this server (`lbtot`).
    pub cum_lbconn: u64,
    /// Highest number of slots held at once (`smax`).
    pub max_conns: u32,
    /// Longest queue seen (`qmax`).
    pub max_queue: usize,
    /// Failed checks (`chkfail`).
    pub failed_checks: u64,
    /// Health analyses triggered by `observe` (`hanafail`).
    pub failed_hana: u64,
    /// UP to DOWN transitions (`chkdown`).
    pub down_transitions: u64,
    /// Connection attempts that failed (`econ`).
    pub failed_conns: u64,
    /// Connection attempts retried (`wretr`).
    pub retries: u64,
    /// Streams redispatched away from this server (`wredis`).
    pub redispatches: u64,
}

/// Per-backend counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BackendCounters {
    /// Streams attached so far (`stot`).
    pub cum_conns: u64,
    /// Slots granted through load balancing (`lbtot`).
    pub cum_lbconn: u64,
    /// Highest `beconn` seen (`smax`).
    pub max_conns: u32,
    /// Longest backend queue seen (`qmax`).
    pub max_queue: usize,
    /// Times the backend lost its last server.
    pub down_transitions: u64,
    /// Connection attempts that failed (`econ`).
    pub failed_conns: u64,
    /// Connection attempts retried (`wretr`).
    pub retries: u64,
    /// Streams redispatched (`wredis`).
    pub redispatches: u64,
}

/// Where a stream goes in a queue (`http-request set-priority-class|offset`): lower
/// classes first, then earlier due dates (the arrival date in milliseconds moved by the
/// offset). The default, class 0 due at arrival, keeps the queue first come, first served.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QueuePriority {
    pub class: i32,
    pub due_ms: i64,
}

/// A waiter's place in a queue: its priority, then arrival (a backend-wide sequence
/// number, so the heads of two queues can be compared).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct QueueKey {
    class: i32,
    due_ms: i64,
    seq: u64,
}

/// The waiters of a queue in [`QueueKey`] order.
#[derive(Clone, Debug, Default)]
struct Queue {
    entries: BTreeMap<QueueKey, WaiterId>,
    /// Waiters that left the queue with a slot (HAProxy's queue index).
    dequeued: u64,
}

impl Queue {
    fn len(&self) -> usize {
        self.entries.len()
    }
    fn head(&self) -> Option<QueueKey> {
        self.entries.keys().next().copied()
    }
}

/// Where a waiter is queued.
#[derive(Clone, Copy, Debug)]
struct Waiting {
    server: Option<ServerId>,
    key: QueueKey,
    /// The queue's `dequeued` count when it arrived.
    dequeued_at: u64,
}

/// The run-time state of one server.
#[derive(Clone, Debug)]
pub struct Server {
    name: String,
    addr: ServerAddr,
    puid: u32,
    backup: bool,
    weight: u32,
    maxconn: u32,
    /// `minconn` (equal to `maxconn` when not set: a static limit).
    minconn: u32,
    /// The connection limit now: `maxconn`, or with `minconn` the dynamic limit
    /// (`minconn.rs`). 0: unlimited.
    limit: u32,
    maxqueue: u32,
    /// Its own admin state (the configuration's `disabled`, the CLI, Lua, an agent).
    admin: AdminState,
    /// `track`: the admin state taken from the tracked server (`Drain` or `Maint`,
    /// HAProxy's IDRAIN/IMAINT) and that server's `backend/server` name.
    inherited: Option<(AdminState, Box<str>)>,
    op: OpState,
    /// `http-check disable-on-404`: the UP server answered its check with a 404 and
    /// takes no new load-balanced traffic (HAProxy's "stopping" state).
    stopping: bool,
    check: Option<HealthCheck>,
    /// The health check while disabled at run time (Lua's `check_disable`): the server
    /// then behaves and shows as one without `check`.
    disabled_check: Option<HealthCheck>,
    served: u32,
    queue: Queue,
    counters: ServerCounters,
    /// In maintenance because its name does not resolve (`crate::dns`; HAProxy's
    /// "MAINT (resolution)"), independently of the operator's admin state.
    resolution_maint: bool,
    /// Health checks over TLS (`check-ssl`, or `ssl` on the server's own address).
    check_tls: Option<crate::tls::CheckTls>,
    /// The PROXY protocol header its connections start with.
    send_proxy: model::SendProxy,
    tuning: model::ServerTuning,
    /// The configured weight (what an agent's `<n>%` is a percentage of).
    iweight: u32,
    /// `slowstart`: how far the warm-up after coming back UP is, in thousandths.
    warm: Option<u32>,
    /// `observe`: errors seen on its traffic in a row (`observe.rs`).
    consecutive_errors: u32,
    /// Removed by the CLI's `del server` (`dynamic.rs`): its slot stays so ids held
    /// elsewhere keep their meaning, but it is out of every listing and lookup.
    deleted: bool,
    /// Added by `add server`.
    dynamic: bool,
    /// Named outside its `server` line (a `use-server` rule...): `del server` refuses it.
    referenced: bool,
    /// `disable agent`: the agent check is stopped.
    agent_paused: bool,
    /// Where it was declared (`file:line`), for `add server`'s messages.
    location: Box<str>,
    /// Added with `check`, not enabled yet: `enable health` starts it from health 0.
    check_pending: bool,
    /// Its `puid` was given with `id` to `add server` (HAProxy's `SRV_F_FORCED_ID`;
    /// not tracked for the configuration's servers, shown as 0 as before).
    forced_id: bool,
}

impl Server {
    fn from_config(s: &model::Server, puid: u32) -> Server {
        let (maxconn, minconn) = Server::conn_limits(s);
        Server {
            name: s.name.clone(),
            addr: s.addr.clone(),
            puid,
            backup: s.backup,
            weight: s.weight,
            maxconn,
            minconn,
            limit: maxconn,
            maxqueue: s.maxqueue,
            admin: if s.disabled { AdminState::Maint } else { AdminState::Ready },
            inherited: None,
            op: OpState::Up,
            stopping: false,
            check: s.check.as_ref().map(HealthCheck::new),
            disabled_check: None,
            served: 0,
            queue: Queue::default(),
            counters: ServerCounters::default(),
            resolution_maint: false,
            check_tls: s.tls.as_ref().filter(|t| t.for_checks(s.check.as_ref())).map(|t| t.check.clone()),
            send_proxy: s.send_proxy,
            tuning: s.tuning.clone(),
            iweight: s.weight,
            warm: None,
            consecutive_errors: 0,
            deleted: false,
            dynamic: false,
            referenced: false,
            agent_paused: false,
            location: s.location.to_string().into(),
            check_pending: false,
            forced_id: false,
        }
    }

    /// The TLS config of its health checks, when they go over TLS.
    pub fn check_tls(&self) -> Option<&crate::tls::CheckTls> {
        self.check_tls.as_ref()
    }

    /// `send-proxy`, `send-proxy-v2` and their options.
    pub fn send_proxy(&self) -> model::SendProxy {
        self.send_proxy
    }

    /// `on-marked-down`, `on-marked-up`, `redir`, `non-stick`.
    pub fn tuning(&self) -> &model::ServerTuning {
        &self.tuning
    }

    /// The server's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The address as configured.
    pub fn addr(&self) -> &ServerAddr {
        &self.addr
    }

    /// The IP address and port to connect to, when it has both (an `Inet` address
    /// without a port uses the client's destination port and returns `None` here).
    pub fn socket_addr(&self) -> Option<SocketAddr> {
        match &self.addr {
            ServerAddr::Inet { ip, port: Some(port) } => Some(SocketAddr::new(*ip, *port)),
            ServerAddr::Resolved { addr, .. } => Some(*addr),
            _ => None,
        }
    }

    /// Where the health check connects: the server's address and port, replaced
    /// by the check's `addr` and `port` when set. `None` without `check`, or when
    /// no port is known (an `Inet` server without port and no check `port`).
    pub fn check_addr(&self) -> Option<SocketAddr> {
        let check = self.check.as_ref()?;
        let (ip, port) = match &self.addr {
            ServerAddr::Inet { ip, port } => (Some(*ip), *port),
            ServerAddr::PortOffset { ip, .. } => (Some(*ip), None),
            ServerAddr::Resolved { addr, .. } => (Some(addr.ip()), Some(addr.port())),
            _ => (None, None),
        };
        Some(SocketAddr::new(check.addr().or(ip)?, check.port().or(port)?))
    }

    /// The numeric id (`id` keyword, or the lowest free one from 1, as HAProxy assigns).
    pub fn puid(&self) -> u32 {
        self.puid
    }

    /// `backup` server.
    pub fn is_backup(&self) -> bool {
        self.backup
    }

    /// The current user weight (`weight`, 0..=256).
    pub fn weight(&self) -> u32 {
        self.weight
    }

    /// Its health check is configured but disabled (`disable health`).
    pub fn check_disabled(&self) -> bool {
        self.disabled_check.is_some()
    }

    /// The configured weight (`srv_iweight`), whatever the CLI or a state file set since.
    pub fn initial_weight(&self) -> u32 {
        self.iweight
    }

    /// The weight the balancing uses right now: the user weight, or during a
    /// `slowstart` warm-up its share so far (at least 1), rounded up as HAProxy does.
    pub fn current_weight(&self) -> u32 {
        match self.warm {
            Some(p) if self.weight > 0 => (self.weight * p).div_ceil(1000).max(1),
            _ => self.weight,
        }
    }

    /// The weight the balancing uses: 0 unless the server is usable.
    pub fn effective_weight(&self) -> u32 {
        if self.is_usable() {
            self.weight
        } else {
            0
        }
    }

    /// `maxconn` (0: unlimited).
    pub fn maxconn(&self) -> u32 {
        self.maxconn
    }

    /// `maxqueue` (0: unlimited).
    pub fn maxqueue(&self) -> u32 {
        self.maxqueue
    }

    /// Its own operator state (see [`Server::effective_admin`]).
    pub fn admin_state(&self) -> AdminState {
        self.admin
    }

    /// The admin state that applies: its own or the one inherited through `track`,
    /// whichever is more restrictive.
    pub fn effective_admin(&self) -> AdminState {
        self.inherited.as_ref().map_or(self.admin, |(a, _)| self.admin.max(*a))
    }

    /// The state inherited from the tracked server, if not `Ready`, with that
    /// server's `backend/server` name (`MAINT (via b/s)`).
    pub fn inherited_admin(&self) -> Option<(AdminState, &str)> {
        self.inherited.as_ref().map(|(a, via)| (*a, &**via))
    }

    /// Operational state.
    pub fn op_state(&self) -> OpState {
        self.op
    }

    /// Up, ready and weighted: may receive load-balanced traffic.
    pub fn is_usable(&self) -> bool {
        self.op == OpState::Up && self.effective_admin() == AdminState::Ready && !self.resolution_maint && self.weight > 0 && !self.stopping && !self.deleted
    }

    /// The state `on-marked-down` and `on-marked-up` follow: DOWN when it failed its
    /// checks or is in maintenance (HAProxy ends its sessions when the CLI puts it in
    /// maintenance too), UP otherwise.
    pub fn marked_state(&self) -> OpState {
        if self.in_maint() {
            OpState::Down
        } else {
            self.op
        }
    }

    /// In maintenance for the operator or because its name does not resolve.
    fn in_maint(&self) -> bool {
        self.effective_admin() == AdminState::Maint || self.resolution_maint
    }

    /// In maintenance because its name does not resolve (`MAINT (resolution)`).
    pub fn in_resolution_maint(&self) -> bool {
        self.resolution_maint
    }

    /// Down or in maintenance: takes no traffic at all (its idle connections go).
    pub fn is_out(&self) -> bool {
        self.op == OpState::Down || self.in_maint()
    }

    /// UP but "stopping": its HTTP check answered 404 with `http-check disable-on-404`.
    pub fn is_stopping(&self) -> bool {
        self.stopping
    }

    /// The health check, if the server has `check`. Checks are not run while the
    /// server is in maintenance.
    pub fn check(&self) -> Option<&HealthCheck> {
        self.check.as_ref()
    }

    /// The health check while disabled at run time (`disable health`, Lua's
    /// `check_disable`): no probe is sent until it is enabled again.
    pub fn disabled_check(&self) -> Option<&HealthCheck> {
        self.disabled_check.as_ref()
    }

    /// Slots currently held: connections established or being established (`%sc`,
    /// HAProxy's `served`/`scur`).
    pub fn current_conns(&self) -> u32 {
        self.served
    }

    /// Requests waiting in this server's own queue (`qcur`).
    pub fn queue_len(&self) -> usize {
        self.queue.len()
    }

    /// Counters.
    pub fn counters(&self) -> &ServerCounters {
        &self.counters
    }

    /// No slot left: `maxconn` reached.
    fn at_maxconn(&self) -> bool {
        self.limit != 0 && self.served >= self.limit
    }

    /// HAProxy's "full": `maxconn` reached, or requests already waiting for it.
    fn is_full(&self) -> bool {
        self.limit != 0 && (self.queue.len() != 0 || self.served >= self.limit)
    }

    fn take_slot(&mut self) {
        self.served += 1;
        self.counters.cum_conns += 1;
        self.counters.max_conns = self.counters.max_conns.max(self.served);
    }
}

/// The run-time state of one backend.
#[derive(Clone, Debug)]
pub struct Backend {
    name: String,
    /// What HAProxy's messages call it: `proxy` for a `listen` section, else `backend`.
    kind: &'static str,
    servers: Vec<Server>,
    lb: LbState,
    allbackups: bool,
    redispatch: bool,
    retries: u32,
    log_health_checks: bool,
    timeout_connect: Option<Duration>,
    timeout_check: Option<Duration>,
    /// `option httpchk`: the servers' checks are HTTP checks.
    http_probe: Option<HttpProbe>,
    /// `option tcp-check`: the servers' checks run these rules.
    tcp_probe: Option<TcpProbe>,
    /// Eligible servers, recomputed when a state or weight changes.
    eligible: Vec<ServerId>,
    /// Reused buffer for the algorithm's view of the farm.
    slots: Vec<Slot>,
    queue: Queue,
    waiting: HashMap<WaiterId, Waiting>,
    next_seq: u64,
    beconn: u32,
    /// `fullconn` (configured or defaulted), for the servers with `minconn`.
    fullconn: u32,
    /// Whether a server's limit follows `beconn` (`minconn` below `maxconn`).
    dynamic_limits: bool,
    counters: BackendCounters,
}

impl Backend {
    /// Builds the run-time backend from a parsed section. Servers with `disabled`
    /// start in maintenance; servers with `check` start UP (see [`check`]).
    pub fn from_config(proxy: &Proxy) -> Backend {
        let mut used: Vec<u32> = proxy.servers.iter().filter_map(|s| s.id).collect();
        let mut next_free = 1u32;
        let servers: Vec<Server> = proxy
            .servers
            .iter()
            .map(|s| {
                let puid = s.id.unwrap_or_else(|| {
                    while used.contains(&next_free) {
                        next_free += 1;
                    }
                    used.push(next_free);
                    next_free
                });
                Server::from_config(s, puid)
            })
            .collect();
        let mut be = Backend {
            name: proxy.name.clone(),
            kind: if proxy.cap.frontend { "proxy" } else { "backend" },
            lb: LbState::new(proxy.balance.clone(), servers.len())
                .consistent(proxy.hash_type.consistent)
                .balance_factor(proxy.hash_balance_factor.unwrap_or(0)),
            servers,
            allbackups: proxy.options.allbackups,
            redispatch: proxy.options.redispatch,
            retries: proxy.retries,
            log_health_checks: proxy.options.log_health_checks,
            timeout_connect: proxy.timeouts.connect,
            timeout_check: proxy.timeouts.check,
            http_probe: proxy.http_check.as_ref().map(HttpProbe::new),
            tcp_probe: proxy.tcp_check.as_ref().filter(|tc| tc.enabled).map(|tc| TcpProbe::new(tc, 16384)),
            eligible: Vec::new(),
            slots: Vec::new(),
            queue: Queue::default(),
            waiting: HashMap::new(),
            next_seq: 0,
            beconn: 0,
            fullconn: 0,
            dynamic_limits: false,
            counters: BackendCounters::default(),
        };
        be.dynamic_limits = be.servers.iter().any(|s| s.minconn < s.maxconn);
        be.recompute_eligible();
        be
    }

    /// The backend's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The balancing algorithm.
    pub fn balance(&self) -> &Balance {
        self.lb.algo()
    }

    /// `retries` (connection attempts after the first one).
    pub fn retries(&self) -> u32 {
        self.retries
    }

    /// `option redispatch`.
    pub fn redispatch(&self) -> bool {
        self.redispatch
    }

    /// How long a health-check probe of server `id` may take before it is a
    /// `Layer4 timeout`, as HAProxy documents it: `inter` alone, or, when
    /// `timeout check` is set, `min(timeout connect, inter)` for the connection
    /// (the TCP check is complete once connected). `None` without `check`.
    pub fn check_timeout(&self, id: ServerId) -> Option<Duration> {
        let check = self.servers[id.0].check.as_ref()?;
        let inter = check.inter();
        Some(match (self.timeout_check, self.timeout_connect) {
            (Some(_), Some(connect)) => connect.min(inter),
            _ => inter,
        })
    }

    /// `timeout check`: how long an HTTP check may wait for the response once
    /// connected before it is a `Layer7 timeout`. When unset, the whole check
    /// (connect and response) is bounded by [`Backend::check_timeout`] (`inter`).
    pub fn check_read_timeout(&self) -> Option<Duration> {
        self.timeout_check
    }

    /// The HTTP check (`option httpchk`) its servers' checks run, if any; without
    /// one a check is a TCP connect.
    pub fn http_probe(&self) -> Option<&HttpProbe> {
        self.http_probe.as_ref()
    }

    /// The `tcp-check` rules its servers' checks run (`option tcp-check`), if any.
    pub fn tcp_probe(&self) -> Option<&TcpProbe> {
        self.tcp_probe.as_ref()
    }

    /// All servers, indexed by [`ServerId`], deleted ones included (see
    /// [`Server::is_deleted`]; [`Backend::iter_servers`] skips them).
    pub fn servers(&self) -> &[Server] {
        &self.servers
    }

    /// One server. Panics on an id from another backend.
    pub fn server(&self, id: ServerId) -> &Server {
        &self.servers[id.0]
    }

    /// Finds a server by name.
    pub fn server_by_name(&self, name: &str) -> Option<ServerId> {
        self.servers.iter().position(|s| s.name == name && !s.deleted).map(ServerId)
    }

    /// Iterates over `(id, server)` pairs, in declaration (then addition) order,
    /// without the deleted servers.
    pub fn iter_servers(&self) -> impl Iterator<Item = (ServerId, &Server)> {
        self.servers.iter().enumerate().filter(|(_, s)| !s.deleted).map(|(i, s)| (ServerId(i), s))
    }

    /// Whether the backend has a server (deleted ones do not count).
    pub fn has_servers(&self) -> bool {
        self.iter_servers().next().is_some()
    }

    /// Usable active servers (HAProxy's `srv_act`).
    pub fn active_servers(&self) -> usize {
        self.servers.iter().filter(|s| !s.backup && s.is_usable()).count()
    }

    /// Usable backup servers (HAProxy's `srv_bck`).
    pub fn backup_servers(&self) -> usize {
        self.servers.iter().filter(|s| s.backup && s.is_usable()).count()
    }

    /// The `nbsrv` sample fetch: usable active servers, or if none, the backup
    /// servers in use (1 without `option allbackups`).
    pub fn nbsrv(&self) -> usize {
        let act = self.active_servers();
        if act > 0 {
            act
        } else {
            self.eligible.len()
        }
    }

    /// Servers that currently receive load-balanced traffic.
    pub fn eligible_servers(&self) -> &[ServerId] {
        &self.eligible
    }

    /// Streams currently using the backend (`beconn`, `%bc`).
    pub fn beconn(&self) -> u32 {
        self.beconn
    }

    /// Requests in the backend queue (`%bq` of the backend at log time, `qcur`).
    pub fn queue_len(&self) -> usize {
        self.queue.len()
    }

    /// Requests in the backend queue plus every server queue.
    pub fn total_queued(&self) -> usize {
        self.waiting.len()
    }

    /// Counters.
    pub fn counters(&self) -> &BackendCounters {
        &self.counters
    }

    /// `clear counters [all]` (the stats socket): the highest values (`smax`, `qmax`)
    /// of the backend and its servers, or with `all` every counter.
    pub fn clear_counters(&mut self, all: bool) {
        if all {
            self.counters = BackendCounters::default();
        } else {
            (self.counters.max_conns, self.counters.max_queue) = (0, 0);
        }
        for s in &mut self.servers {
            if all {
                s.counters = ServerCounters::default();
            } else {
                (s.counters.max_conns, s.counters.max_queue) = (0, 0);
            }
        }
    }

    /// A stream starts using this backend (`beconn` +1).
    pub fn stream_attached(&mut self) {
        self.beconn += 1;
        if self.dynamic_limits {
            self.refresh_limits();
        }
        self.counters.cum_conns += 1;
        self.counters.max_conns = self.counters.max_conns.max(self.beconn);
    }

    /// A stream that used this backend ends (`beconn` -1).
    pub fn stream_detached(&mut self) {
        debug_assert!(self.beconn > 0, "stream_detached without stream_attached");
        self.beconn = self.beconn.saturating_sub(1);
        if self.dynamic_limits {
            self.refresh_limits();
        }
    }

    fn recompute_eligible(&mut self) {
        self.eligible.clear();
        let usable = |s: &&Server| s.is_usable();
        let active: Vec<ServerId> = self
            .iter_servers()
            .filter(|(_, s)| !s.backup)
            .filter(|(_, s)| usable(s))
            .map(|(id, _)| id)
            .collect();
        if !active.is_empty() {
            self.eligible = active;
        } else {
            let backups = self
                .iter_servers()
                .filter(|(_, s)| s.backup)
                .filter(|(_, s)| usable(s))
                .map(|(id, _)| id);
            if self.allbackups {
                self.eligible = backups.collect();
            } else {
                self.eligible = backups.take(1).collect();
            }
        }
        self.lb.reset();
    }

    /// Chooses a server for a new request (see the module documentation).
    /// `client_ip` feeds `balance source`; `avoid` is the server that just failed
    /// when redispatching. On [`Pick::Server`] the slot is reserved.
    pub fn pick(&mut self, client_ip: Option<IpAddr>, avoid: Option<ServerId>) -> Pick {
        self.pick_keyed(client_ip, None, avoid)
    }

    /// [`Backend::pick`] with the request's hash for `balance uri`, `url_param` and
    /// `hdr` ([`hashkey::request_hash`]).
    pub fn pick_keyed(&mut self, client_ip: Option<IpAddr>, hash: Option<u32>, avoid: Option<ServerId>) -> Pick {
        if self.eligible.is_empty() {
            return Pick::NoServer;
        }
        // Fairness with queued requests: HAProxy queues new requests behind the
        // backend queue for the walking algorithms.
        let walks = matches!(self.lb.algo(), Balance::RoundRobin | Balance::LeastConn | Balance::First);
        if walks && self.queue.len() != 0 {
            return Pick::Queue;
        }
        self.slots.clear();
        for &id in &self.eligible {
            let s = &self.servers[id.0];
            self.slots.push(Slot {
                id,
                puid: s.puid,
                weight: s.current_weight(),
                served: s.served,
                queued: s.queue.len() as u32,
                maxconn: s.limit,
                maxqueue: s.maxqueue,
            });
        }
        let Some(id) = self.lb.pick_keyed(&self.slots, client_ip, hash, avoid) else {
            return Pick::Queue;
        };
        self.counters.cum_lbconn += 1;
        let srv = &mut self.servers[id.0];
        srv.counters.cum_lbconn += 1;
        if srv.is_full() {
            if srv.maxqueue != 0 && srv.queue.len() >= srv.maxqueue as usize {
                return Pick::QueueFull(id);
            }
            return Pick::QueueOnServer(id);
        }
        srv.take_slot();
        Pick::Server(id)
    }

    /// Cookie persistence: server `id` takes the request without load balancing
    /// unless it is down or in maintenance (a server in drain, at weight 0 or
    /// stopping still takes it, as in HAProxy). The slot is reserved, or the request
    /// waits in the server's queue at its `maxconn`. `None`: the server cannot take it.
    /// `down_ok` (`option persist`): a down server takes it too.
    pub fn pick_persistent(&mut self, id: ServerId, down_ok: bool) -> Option<Pick> {
        let srv = self.servers.get_mut(id.0)?;
        if srv.is_out() && !down_ok {
            return None;
        }
        if srv.is_full() {
            if srv.maxqueue != 0 && srv.queue.len() >= srv.maxqueue as usize {
                return Some(Pick::QueueFull(id));
            }
            return Some(Pick::QueueOnServer(id));
        }
        srv.take_slot();
        Some(Pick::Server(id))
    }

    /// Reserves a slot on a server chosen without load balancing (e.g. a forced
    /// server), ignoring `maxconn`. Released with [`Backend::connection_ended`].
    /// After [`Backend::pick`] returned [`Pick::Server`], the slot is already
    /// reserved: do not call this.
    pub fn connection_started(&mut self, id: ServerId) {
        self.servers[id.0].take_slot();
    }

    /// Releases a slot on `id` (connection closed or abandoned). Then call
    /// [`Backend::next_waiter_for_free_slot`] until it returns `None`.
    pub fn connection_ended(&mut self, id: ServerId) {
        let srv = &mut self.servers[id.0];
        debug_assert!(srv.served > 0, "connection_ended on {} without a slot", srv.name);
        srv.served = srv.served.saturating_sub(1);
    }

    /// Counts a failed connection attempt on `id` (stats only; the slot is still
    /// held until [`Backend::connection_ended`]).
    pub fn connection_failed(&mut self, id: ServerId) {
        self.servers[id.0].counters.failed_conns += 1;
        self.counters.failed_conns += 1;
    }

    /// Counts a retry of a connection to `id` (stats only).
    pub fn connection_retried(&mut self, id: ServerId) {
        self.servers[id.0].counters.retries += 1;
        self.counters.retries += 1;
    }

    /// Counts a redispatch away from `id` (stats only; the caller releases the
    /// slot and picks again with `avoid: Some(id)`).
    pub fn redispatched(&mut self, id: ServerId) {
        self.servers[id.0].counters.redispatches += 1;
        self.counters.redispatches += 1;
    }

    /// Queues `waiter`: in the backend queue (`None`) or in a server's queue.
    /// Returns its position (1 = first). A waiter already queued is moved.
    pub fn enqueue(&mut self, waiter: WaiterId, server: Option<ServerId>) -> usize {
        self.enqueue_with(waiter, server, QueuePriority::default())
    }

    /// [`Backend::enqueue`] at the place `priority` gives (see [`QueuePriority`]); the
    /// returned position is the queue's length, as HAProxy counts it.
    pub fn enqueue_with(&mut self, waiter: WaiterId, server: Option<ServerId>, priority: QueuePriority) -> usize {
        self.remove(waiter);
        let key = QueueKey { class: priority.class, due_ms: priority.due_ms, seq: self.next_seq };
        self.next_seq += 1;
        let queue = match server {
            Some(id) => &mut self.servers[id.0].queue,
            None => &mut self.queue,
        };
        queue.entries.insert(key, waiter);
        let dequeued_at = queue.dequeued;
        let len = queue.len();
        match server {
            Some(id) => {
                let c = &mut self.servers[id.0].counters;
                c.max_queue = c.max_queue.max(len);
            }
            None => self.counters.max_queue = self.counters.max_queue.max(len),
        }
        self.waiting.insert(waiter, Waiting { server, key, dequeued_at });
        len
    }

    /// Takes `waiter` out of its queue (queue timeout, client abort). Returns
    /// `false` if it was not queued (already handed a slot, or unknown).
    pub fn remove(&mut self, waiter: WaiterId) -> bool {
        let Some(w) = self.waiting.remove(&waiter) else { return false };
        let queue = match w.server {
            Some(id) => &mut self.servers[id.0].queue,
            None => &mut self.queue,
        };
        queue.entries.remove(&w.key);
        true
    }

    /// `true` if `waiter` is in a queue.
    pub fn is_queued(&self, waiter: WaiterId) -> bool {
        self.waiting.contains_key(&waiter)
    }

    /// Hands a free slot of `id` to the oldest waiter that may use it: from the
    /// server's own queue, or from the backend queue if the server is eligible.
    /// The slot is reserved for the returned waiter, which must be woken to connect.
    /// Call in a loop after [`Backend::connection_ended`] on `id`.
    pub fn next_waiter_for_free_slot(&mut self, id: ServerId) -> Option<(WaiterId, ServerId)> {
        self.next_dequeued(id).map(|d| (d.waiter, d.server))
    }

    /// Like [`Backend::next_waiter_for_free_slot`], with the queue the waiter came
    /// from and its `%sq`/`%bq` position.
    pub fn next_dequeued(&mut self, id: ServerId) -> Option<Dequeued> {
        let srv = &self.servers[id.0];
        if srv.at_maxconn() || srv.in_maint() {
            return None;
        }
        let own = srv.queue.head();
        let shared = if self.eligible.contains(&id) { self.queue.head() } else { None };
        let (from, key) = match (own, shared) {
            (Some(a), Some(b)) if b < a => (QueueKind::Backend, b),
            (Some(a), _) => (QueueKind::Server, a),
            (None, Some(b)) => (QueueKind::Backend, b),
            (None, None) => return None,
        };
        let queue = match from {
            QueueKind::Server => &mut self.servers[id.0].queue,
            QueueKind::Backend => &mut self.queue,
        };
        let waiter = queue.entries.remove(&key).expect("queue head exists");
        queue.dequeued += 1;
        let dequeued = queue.dequeued;
        let w = self.waiting.remove(&waiter).expect("queued waiter is indexed");
        self.servers[id.0].take_slot();
        Some(Dequeued {
            waiter,
            server: id,
            from,
            queue_position: dequeued - 1 - w.dequeued_at,
        })
    }

    /// Feeds a health-check result for server `id`. Ignored (empty report) while the
    /// server is in maintenance or has no check.
    pub fn on_check_result(&mut self, id: ServerId, result: CheckResult) -> StateReport {
        let mut report = StateReport::default();
        let srv = &mut self.servers[id.0];
        if srv.in_maint() {
            return report;
        }
        let Some(check) = srv.check.as_mut() else { return report };
        // `disable-on-404` applies to a server that is not DOWN; a DOWN one is judged
        // by the expect rules alone.
        let result = match result {
            CheckResult::ConditionalPass { otherwise, .. } if srv.op == OpState::Down => *otherwise,
            r => r,
        };
        let conditional = matches!(result, CheckResult::ConditionalPass { .. });
        let failed = !result.is_ok();
        let transition = check.on_result(result.clone());
        if failed && check.last_changed_health() {
            srv.counters.failed_checks += 1;
        }
        if self.log_health_checks && check.last_worth_logging() {
            let text = format!(
                "Health check for {}server {}/{} {}, {}, status: {}",
                if srv.backup { "backup " } else { "" },
                self.name,
                srv.name,
                if failed { "failed" } else { "succeeded" },
                result,
                check.status_text(),
            );
            report.messages.push(StateMessage {
                level: Level::Notice,
                console: Severity::Warning,
                text: format!("{text}."),
                console_text: None,
            });
        }
        // With `log-health-checks` the reason was already logged on its own line.
        let reason = if self.log_health_checks { String::new() } else { format!(", {result}") };
        let Some(transition) = transition else {
            let srv = &self.servers[id.0];
            if srv.op == OpState::Up && !failed && srv.stopping != conditional {
                self.set_stopping(id, conditional, &reason, &mut report);
            }
            return report;
        };
        let op = match transition {
            Transition::WentUp => OpState::Up,
            Transition::WentDown => OpState::Down,
        };
        self.apply_state(id, op, &reason, &mut report);
        report
    }

    /// Sets a server's operational state by hand (an agent, the CLI's
    /// `set server ... health`), as if its checks had said so.
    pub fn set_operational_state(&mut self, id: ServerId, op: OpState) -> StateReport {
        self.set_operational_state_with_reason(id, op, None)
    }

    /// Like [`Backend::set_operational_state`], with the reason HAProxy appends to
    /// the message (the CLI says `changed from CLI`: `Server b/s1 is DOWN, changed
    /// from CLI. ...`).
    pub fn set_operational_state_with_reason(
        &mut self,
        id: ServerId,
        op: OpState,
        reason: Option<&str>,
    ) -> StateReport {
        let mut report = StateReport::default();
        if let Some(check) = self.servers[id.0].check.as_mut() {
            check.force(op == OpState::Up);
        }
        if self.servers[id.0].op != op {
            let reason = reason.map(|r| format!(", {r}")).unwrap_or_default();
            self.apply_state(id, op, &reason, &mut report);
        }
        report
    }

    /// Changes the operator state of a server (CLI `set server ... state`), with
    /// HAProxy's messages. Entering maintenance takes the server out of the farm
    /// (and, with `option redispatch`, its queue out); leaving it restarts its
    /// check as at start-up, so the server is UP until its first failed check.
    pub fn set_admin_state(&mut self, id: ServerId, admin: AdminState) -> StateReport {
        let srv = &self.servers[id.0];
        if srv.admin == admin {
            return StateReport::default();
        }
        let (before, was_usable, was_down) = (srv.effective_admin(), srv.is_usable(), srv.op == OpState::Down);
        let left_forced_maint = srv.admin == AdminState::Maint;
        self.servers[id.0].admin = admin;
        if let (true, Some((AdminState::Maint, via))) = (left_forced_maint, self.servers[id.0].inherited_admin()) {
            // Still in maintenance through `track`.
            let text = format!("{} is leaving forced maintenance but remains in maintenance via {via}.", self.who(id));
            let mut report = StateReport::default();
            report.messages.push(Self::notice(text));
            return report;
        }
        self.admin_changed(id, before, "", (was_usable, was_down), true)
    }

    /// `track`: server `id` takes the admin state of the server it tracks, `via`
    /// (`backend/server`), whose operational state is `op`; `Ready` ends what it
    /// inherited. Logs HAProxy's `... via b/s` lines.
    pub fn set_inherited_admin(&mut self, id: ServerId, admin: AdminState, via: &str, op: OpState) -> StateReport {
        let srv = &mut self.servers[id.0];
        let inherited = (admin != AdminState::Ready).then(|| (admin, Box::from(via)));
        if srv.inherited == inherited {
            return StateReport::default();
        }
        let (before, was_usable, was_down) = (srv.effective_admin(), srv.is_usable(), srv.op == OpState::Down);
        srv.inherited = inherited;
        if before == AdminState::Maint && srv.effective_admin() != AdminState::Maint {
            // Out of maintenance, it is in the state of the server it follows.
            srv.op = op;
        }
        self.admin_changed(id, before, &format!(" via {via}"), (was_usable, was_down), false)
    }

    /// What follows a change of server `id`'s admin state (its own or inherited) from
    /// `before`: the farm, the queues and HAProxy's messages (`via`: ` via b/s` for an
    /// inherited change; `forced`: the server's own state changed).
    fn admin_changed(&mut self, id: ServerId, before: AdminState, via: &str, (was_usable, was_down): (bool, bool), forced: bool) -> StateReport {
        let mut report = StateReport::default();
        let after = self.servers[id.0].effective_admin();
        if before == after {
            return report;
        }
        if before == AdminState::Maint && forced {
            let srv = &mut self.servers[id.0];
            if let Some(check) = srv.check.as_mut() {
                check.restart();
            }
            // A tracking server (no check of its own) is in its tracked server's state.
            if srv.tuning.track.is_none() {
                srv.op = OpState::Up;
            }
        }
        report.changed = was_usable != self.servers[id.0].is_usable();
        self.recompute_eligible();
        let who = self.who(id);
        let leaving = if forced { "forced " } else { "" };
        match (before, after) {
            (_, AdminState::Maint) if was_down => {
                self.redistribute(id, &mut report);
                report.messages.push(Self::notice(format!("{who} was DOWN and now enters maintenance{via}.")));
            }
            (_, AdminState::Maint) => {
                let xferred = self.redistribute(id, &mut report);
                let mut msg = Self::notice(format!("{who} is going DOWN for maintenance{via}{}", self.down_suffix(id, xferred)));
                if was_usable {
                    msg.level = Level::Alert;
                }
                report.messages.push(msg);
                self.no_server_alert(was_usable, &mut report);
            }
            (AdminState::Maint, AdminState::Ready) => {
                self.grab_from_backend(id, &mut report);
                report.messages.push(Self::notice(format!("{who} is {}/READY (leaving {leaving}maintenance).", self.op_word(id))));
            }
            (AdminState::Maint, AdminState::Drain) => {
                report.messages.push(Self::notice(format!("{who} is {}/DRAIN (leaving {leaving}maintenance).", self.op_word(id))));
                report.messages.push(Self::notice(format!("{who} remains in forced drain mode.")));
            }
            (_, AdminState::Drain) => {
                // A DOWN server's line counts what is left, as when going down.
                let suffix = if was_down { self.down_suffix(id, 0) } else { self.up_suffix(id, 0) };
                report.messages.push(Self::notice(format!("{who} enters drain state{via}{suffix}")));
                self.no_server_alert(was_usable, &mut report);
            }
            (_, AdminState::Ready) => {
                self.grab_from_backend(id, &mut report);
                report.messages.push(Self::notice(format!("{who} is {} (leaving forced drain).", self.op_word(id))));
            }
        }
        self.serve_backend_queue(&mut report);
        report
    }

    /// `UP` or `DOWN`, as a state line words server `id`'s operational state.
    fn op_word(&self, id: ServerId) -> &'static str {
        if self.servers[id.0].op == OpState::Up {
            "UP"
        } else {
            "DOWN"
        }
    }

    /// `[Backup ]Server b/s`, how HAProxy's state lines name a server.
    fn who(&self, id: ServerId) -> String {
        let s = &self.servers[id.0];
        format!("{}Server {}/{}", if s.backup { "Backup " } else { "" }, self.name, s.name)
    }

    /// A state line at level notice, on stderr as a warning.
    fn notice(text: String) -> StateMessage {
        StateMessage { level: Level::Notice, console: Severity::Warning, text, console_text: None }
    }

    /// Sets a server's weight (0..=256) at run time; 0 takes it out of the balancing.
    /// The report lists the waiters that a now eligible server takes from the
    /// backend queue.
    pub fn set_weight(&mut self, id: ServerId, weight: u32) -> StateReport {
        let mut report = StateReport::default();
        let was_usable = self.servers[id.0].is_usable();
        self.servers[id.0].weight = weight.min(256);
        report.changed = was_usable != self.servers[id.0].is_usable();
        self.recompute_eligible();
        self.serve_backend_queue(&mut report);
        report
    }

    /// `slowstart`: the warm-up of server `id` is `permille` thousandths done (`None`:
    /// over, the full weight applies).
    pub fn set_warmup(&mut self, id: ServerId, permille: Option<u32>) {
        self.servers[id.0].warm = permille.filter(|&p| p < 1000);
        self.lb.reset();
    }

    /// Applies an UP/DOWN change and writes HAProxy's messages; `reason` is
    /// appended to `Server b/s is UP` (`, reason: ...` or empty).
    fn apply_state(
        &mut self,
        id: ServerId,
        op: OpState,
        reason: &str,
        report: &mut StateReport,
    ) {
        let was_usable = self.servers[id.0].is_usable();
        self.servers[id.0].op = op;
        self.servers[id.0].stopping = false;
        report.changed = true;
        self.recompute_eligible();
        let s = &self.servers[id.0];
        let head = format!(
            "{}Server {}/{} is {}{reason}",
            if s.backup { "Backup " } else { "" },
            self.name,
            s.name,
            if op == OpState::Up { "UP" } else { "DOWN" },
        );
        match op {
            OpState::Down => {
                self.servers[id.0].counters.down_transitions += 1;
                let xferred = self.redistribute(id, report);
                report.messages.push(StateMessage {
                    level: Level::Alert,
                    console: Severity::Warning,
                    text: format!("{head}{}", self.down_suffix(id, xferred)),
                    console_text: None,
                });
                self.no_server_alert(was_usable, report);
            }
            OpState::Up => {
                let xferred = self.grab_from_backend(id, report);
                report.messages.push(StateMessage {
                    level: Level::Notice,
                    console: Severity::Warning,
                    text: format!("{head}{}", self.up_suffix(id, xferred)),
                    console_text: None,
                });
            }
        }
        self.serve_backend_queue(report);
    }

    /// Enters or leaves the "stopping" state of `http-check disable-on-404`, with
    /// HAProxy's messages: `Server b/s is stopping, reason: ...` then `... is UP` again.
    fn set_stopping(&mut self, id: ServerId, stopping: bool, reason: &str, report: &mut StateReport) {
        if !stopping {
            self.apply_state(id, OpState::Up, reason, report);
            return;
        }
        let was_usable = self.servers[id.0].is_usable();
        self.servers[id.0].stopping = true;
        report.changed = true;
        self.recompute_eligible();
        let s = &self.servers[id.0];
        let text = format!(
            "{}Server {}/{} is stopping{reason}{}",
            if s.backup { "Backup " } else { "" },
            self.name,
            s.name,
            self.up_suffix(id, 0),
        );
        report.messages.push(StateMessage { level: Level::Notice, console: Severity::Warning, text, console_text: None });
        self.no_server_alert(was_usable, report);
        self.serve_backend_queue(report);
    }

    /// `. N active and M backup servers left. [Running on backup. ]X sessions active, Y requeued, Z remaining in queue.`
    fn down_suffix(&self, id: ServerId, xferred: usize) -> String {
        let s = &self.servers[id.0];
        format!(
            ". {} active and {} backup servers left.{} {} sessions active, {} requeued, {} remaining in queue.",
            self.active_servers(),
            self.backup_servers(),
            self.running_on_backup(),
            s.served,
            xferred,
            s.queue.len(),
        )
    }

    /// `. N active and M backup servers online. [Running on backup. ]Y sessions requeued, Z total in queue.`
    fn up_suffix(&self, id: ServerId, xferred: usize) -> String {
        format!(
            ". {} active and {} backup servers online.{} {} sessions requeued, {} total in queue.",
            self.active_servers(),
            self.backup_servers(),
            self.running_on_backup(),
            xferred,
            self.servers[id.0].queue.len(),
        )
    }

    fn running_on_backup(&self) -> &'static str {
        if self.active_servers() == 0 && self.backup_servers() > 0 {
            " Running on backup."
        } else {
            ""
        }
    }

    /// `backend b has no server available!` when the last server just went away
    /// (`proxy b ...` for a `listen` section, as HAProxy words it).
    fn no_server_alert(&mut self, was_usable: bool, report: &mut StateReport) {
        if was_usable && self.eligible.is_empty() {
            self.counters.down_transitions += 1;
            report.messages.push(StateMessage {
                level: Level::Emerg,
                console: Severity::Alert,
                text: format!("{} {} has no server available!", self.kind, self.name),
                console_text: Some(format!("{} '{}' has no server available!", self.kind, self.name)),
            });
        }
    }

    /// A server went down or into maintenance: with `option redispatch`, its queued
    /// requests are taken out to be dispatched again. Returns how many.
    fn redistribute(&mut self, id: ServerId, report: &mut StateReport) -> usize {
        if !self.redispatch {
            return 0;
        }
        let entries = std::mem::take(&mut self.servers[id.0].queue.entries);
        for waiter in entries.into_values() {
            self.waiting.remove(&waiter);
            report.redispatch.push(waiter);
        }
        report.redispatch.len()
    }

    /// After the farm changed (backups taking over, a weight set), lets every
    /// eligible server with free slots take waiters from the backend queue, so a
    /// queue never waits while a usable server idles. (HAProxy only does this for
    /// the server that came up; the others would wait for a connection to end.)
    fn serve_backend_queue(&mut self, report: &mut StateReport) {
        for i in 0..self.eligible.len() {
            let id = self.eligible[i];
            while self.queue.len() != 0 {
                match self.next_dequeued(id) {
                    Some(d) => report.assigned.push(d),
                    None => break,
                }
            }
        }
    }

    /// A server became usable: it takes waiters up to its `maxconn`, oldest first,
    /// from its own queue and, if it is eligible, from the backend queue. Returns
    /// how many came from the backend queue (HAProxy's "requeued").
    fn grab_from_backend(&mut self, id: ServerId, report: &mut StateReport) -> usize {
        let mut n = 0;
        while let Some(d) = self.next_dequeued(id) {
            if d.from == QueueKind::Backend {
                n += 1;
            }
            report.assigned.push(d);
        }
        n
    }
}

#[cfg(test)]
mod tests;

/// Run-time changes asked by an operator or a script (Lua's `Server` class; the CLI's
/// `set server` with issue 7). Whoever calls them applies the report as for a check
/// result (messages, `assigned` slots, `redispatch`), then calls
/// `stats::server_state_changed` when `changed`.
impl Backend {
    /// Sets a server's `maxconn` (0: no limit). Slots it frees go to queued waiters,
    /// listed in the report's `assigned`.
    pub fn set_maxconn(&mut self, id: ServerId, maxconn: u32) -> StateReport {
        self.servers[id.0].maxconn = maxconn;
        self.dynamic_limits = self.servers.iter().any(|s| s.minconn < s.maxconn);
        self.refresh_limits();
        let mut report = StateReport::default();
        while let Some(d) = self.next_dequeued(id) {
            report.assigned.push(d);
        }
        report
    }

    /// Disables or re-enables a server's health check (`check_disable`/`check_enable`).
    /// While disabled no probe is sent (`runtime::checks`) and the server shows as one
    /// without `check`; its state stays what it was. Re-enabled, the check resumes from the
    /// server's current state (a failing check then takes it DOWN as usual).
    pub fn set_check_enabled(&mut self, id: ServerId, enabled: bool) {
        let s = &mut self.servers[id.0];
        if enabled {
            if let Some(mut c) = s.disabled_check.take() {
                if std::mem::take(&mut s.check_pending) {
                    // An added server's first check (health 0): DOWN until `rise`
                    // checks pass.
                    s.op = OpState::Down;
                    s.check = Some(c);
                    self.recompute_eligible();
                    return;
                }
                c.force(s.op == OpState::Up);
                s.check = Some(c);
            }
        } else if let Some(c) = s.check.take() {
            s.disabled_check = Some(c);
        }
    }

    /// Changes where a server's new connections go (existing ones stay).
    pub fn set_addr(&mut self, id: ServerId, addr: ServerAddr) {
        self.servers[id.0].addr = addr;
    }

    /// Puts server `id` in resolution maintenance (`Some(reason)`: "DNS NX status" ...)
    /// or takes it out (`None`; `fqdn` names it in the message), as `crate::dns`
    /// decides. Separate from the admin state: the operator's `maint` stays as it was.
    pub fn set_resolution_maint(&mut self, id: ServerId, reason: Option<&str>, fqdn: &str) -> StateReport {
        let mut report = StateReport::default();
        let srv = &mut self.servers[id.0];
        if srv.resolution_maint == reason.is_some() {
            return report;
        }
        let was_usable = srv.is_usable();
        let was_down = srv.op == OpState::Down;
        let admin_maint = srv.effective_admin() == AdminState::Maint;
        srv.resolution_maint = reason.is_some();
        if reason.is_none() && !admin_maint {
            if let Some(check) = srv.check.as_mut() {
                check.restart();
            }
            srv.op = OpState::Up;
        }
        report.changed = was_usable != srv.is_usable();
        self.recompute_eligible();
        if admin_maint {
            return report;
        }
        let s = &self.servers[id.0];
        let who = format!("{}Server {}/{}", if s.backup { "Backup " } else { "" }, self.name, s.name);
        let mut msg = StateMessage { level: Level::Notice, console: Severity::Warning, text: String::new(), console_text: None };
        match reason {
            Some(reason) if was_down => {
                self.redistribute(id, &mut report);
                msg.text = format!("{who} was DOWN and now enters maintenance ({reason}).");
                report.messages.push(msg);
            }
            Some(reason) => {
                let xferred = self.redistribute(id, &mut report);
                msg.text = format!("{who} is going DOWN for maintenance ({reason}){}", self.down_suffix(id, xferred));
                if was_usable {
                    msg.level = Level::Alert;
                }
                report.messages.push(msg);
                self.no_server_alert(was_usable, &mut report);
            }
            None => {
                self.grab_from_backend(id, &mut report);
                msg.text = format!("{who} ('{fqdn}') is UP/READY (resolves again).");
                report.messages.push(msg);
            }
        }
        report
    }

    /// Makes an UP server "stopping" (no new load-balanced traffic) as if its check
    /// had asked for it (`check_force_nolb`); `reason` follows `is stopping`
    /// (`, changed from Lua script`). Nothing happens to a DOWN or stopping server.
    pub fn force_stopping(&mut self, id: ServerId, reason: &str) -> StateReport {
        let mut report = StateReport::default();
        if let Some(check) = self.servers[id.0].check.as_mut() {
            check.force(true);
        }
        let s = &self.servers[id.0];
        if s.op == OpState::Up && !s.stopping {
            self.set_stopping(id, true, reason, &mut report);
        }
        report
    }
}
