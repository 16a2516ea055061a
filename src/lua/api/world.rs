//! The process's tables as Lua sees them (HAProxy's hlua_fcn.c): `core.proxies`,
//! `core.frontends`, `core.backends` with the `Proxy`, `Server` and `Listener` classes,
//! `core.get_info`, and the HTTP date parsers (`core.http_date` and friends).
//!
//! Shape, as in HAProxy 2.6: each object is a table with its private reference at
//! `[0]`, its fields (`Proxy.name/uuid/servers/listeners`, `Server.name/puid`; ids are
//! strings) and a metatable whose `__index` holds the methods; the three tables are
//! snapshots built at their first use after the configuration is loaded
//! (`world.lua`), and are `nil` in `lua-load` bodies.
//!
//! Where the values come from:
//! - the structure (names, ids, capabilities, modes, servers, listeners) from the
//!   configuration, recorded at start-up ([`set_topology`]);
//! - run-time state and changes through the host of the resume in progress
//!   ([`crate::lua::host::WorldView`]): stats tables with `show stat`'s field names
//!   (non-empty fields only, numbers as integers), the servers' state and its changes
//!   (through the backend module, at once). What needs the streams or the listeners
//!   (`Server.shut_sess`, `Proxy.shut_bcksess`, `pause`, `resume`, `stop`) is
//!   [deferred](crate::lua::host::Deferred): the world does it when the callback's
//!   resume is over, so it shows in the next resume, not in the same one.
//!   `register_init` functions run inside a host too (`World::start_lua`), so they
//!   read the stats and change servers as tasks do; in `lua-load` bodies the stats and
//!   the setters raise `not available before the process serves`.
//!
//! Deviations from 2.6, all in what a script sees of a misuse: calling a method on
//! something else than its object says `bad argument #1 to 'get_weight' (Server
//! expected, got nil)` where HAProxy says `bad argument #1 to '?' ((null))`;
//! `Listener.get_stats` gives the listener's own fields (`pxname svname scur slim
//! status pid iid sid type`) where 2.6 returns a copy of unrelated fields; a paused
//! frontend leaves connections in the listen queue (2.6 refuses them) and its status
//! stays `OPEN`;
//! `tostring(obj)` is Lua's `table: 0x...` (HAProxy: `HAProxy class Server`).
use crate::config::model::{Balance, Config, Mode, ServerAddr};
use crate::lua::api::core::{core, Phase};
use crate::lua::callback::{self, CallCtx, RustFunction};
use crate::lua::error::LuaError;
use crate::lua::host::{self, Deferred, Field, ProxyOp, ServerOp, ServerView, Sessions, StatsOf};
use crate::lua::userdata::{self, Class};
use crate::lua::{state, State};
use lua54_sys as ffi;
use std::cell::RefCell;
use std::ffi::CStr;
use std::net::IpAddr;
use std::os::raw::c_int;
use std::sync::OnceLock;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

// ---- the structure, from the configuration ---------------------------------------

/// The proxies as the configuration declares them.
#[derive(Clone, Debug, Default)]
pub struct Topology {
    pub proxies: Vec<ProxyInfo>,
    /// Bumped by every server added or deleted at run time: world.lua rebuilds
    /// `core.proxies`, `core.frontends` and `core.backends` when it changed.
    pub generation: u64,
}

#[derive(Clone, Debug)]
pub struct ProxyInfo {
    pub name: String,
    /// `Proxy.uuid` (the stats' `iid`).
    pub uuid: u32,
    pub frontend: bool,
    pub backend: bool,
    pub mode: Mode,
    /// A static load-balancing algorithm (`static-rr`, map-based hashing): weights can
    /// only be switched between 0 and the configured one at run time.
    pub static_lb: bool,
    pub servers: Vec<ServerInfo>,
    /// Listener names: the `bind` line's `name`, else `sock-<n>` (n from 1 in the proxy).
    pub listeners: Vec<String>,
}

#[derive(Clone, Debug)]
pub struct ServerInfo {
    pub name: String,
    pub puid: u32,
    /// As configured: what the getters read before the reactor runs, and the base of
    /// relative weights (`set_weight("50%")`).
    pub weight: u32,
    pub maxconn: u32,
    pub addr: ServerAddr,
    /// Deleted at run time (`del server`): left out of `Proxy.servers`; its index
    /// stays taken, as the backend's server slot does.
    pub deleted: bool,
}

impl Topology {
    pub fn from_config(config: &Config) -> Topology {
        let ids = crate::stats::proxy_ids(config);
        let proxies = config
            .proxies
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let servers = if p.cap.backend {
                    let b = crate::backend::Backend::from_config(p);
                    p.servers
                        .iter()
                        .zip(b.servers())
                        .map(|(c, s)| ServerInfo {
                            name: s.name().to_string(),
                            puid: s.puid(),
                            weight: c.weight,
                            maxconn: c.maxconn,
                            addr: c.addr.clone(),
                            deleted: false,
                        })
                        .collect()
                } else {
                    Vec::new()
                };
                let mut listeners = Vec::new();
                if p.cap.frontend {
                    for bind in &p.binds {
                        for _ in &bind.addrs {
                            let n = listeners.len() + 1;
                            listeners.push(bind.name.clone().unwrap_or_else(|| format!("sock-{n}")));
                        }
                    }
                }
                ProxyInfo {
                    name: p.name.clone(),
                    uuid: ids[i],
                    frontend: p.cap.frontend,
                    backend: p.cap.backend,
                    mode: p.mode,
                    static_lb: match p.balance {
                        Balance::StaticRr => true,
                        Balance::Source | Balance::Uri(_) | Balance::UrlParam { .. } | Balance::Hdr { .. } | Balance::RdpCookie { .. } => {
                            !p.hash_type.consistent
                        }
                        Balance::RoundRobin | Balance::LeastConn | Balance::First | Balance::Random { .. } => false,
                    },
                    servers,
                    listeners,
                }
            })
            .collect();
        Topology { proxies, generation: 0 }
    }
}

thread_local! {
    static TOPOLOGY: RefCell<Topology> = RefCell::new(Topology::default());
}

/// Records the proxies the Lua objects stand for (the runtime, at start-up).
pub fn set_topology(t: Topology) {
    TOPOLOGY.with(|c| *c.borrow_mut() = t);
}

/// A server added at run time (`add server`) to proxy `proxy`, at index `index` (its
/// `ServerId`), on this thread.
pub fn topology_add_server(proxy: usize, index: usize, server: ServerInfo) {
    TOPOLOGY.with(|c| {
        let mut t = c.borrow_mut();
        t.generation += 1;
        if let Some(p) = t.proxies.get_mut(proxy) {
            while p.servers.len() < index {
                p.servers.push(ServerInfo { deleted: true, ..server.clone() });
            }
            p.servers.push(server);
        }
    });
}

/// Server `index` of proxy `proxy` deleted at run time (`del server`), on this thread.
pub fn topology_del_server(proxy: usize, index: usize) {
    TOPOLOGY.with(|c| {
        let mut t = c.borrow_mut();
        t.generation += 1;
        if let Some(s) = t.proxies.get_mut(proxy).and_then(|p| p.servers.get_mut(index)) {
            s.deleted = true;
        }
    });
}

fn with_topology<R>(f: impl FnOnce(&Topology) -> R) -> R {
    TOPOLOGY.with(|c| f(&c.borrow()))
}

// ---- the private references at [0] ------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum RefKind {
    Proxy = 1,
    Server = 2,
    Listener = 3,
}

impl RefKind {
    fn class_name(self) -> &'static str {
        match self {
            RefKind::Proxy => "Proxy",
            RefKind::Server => "Server",
            RefKind::Listener => "Listener",
        }
    }
}

/// What an object's `[0]` holds: its kind and indexes (from 0). Proxies, servers and
/// listeners live as long as the process (no `del server` yet), so plain indexes do.
#[derive(Clone, Copy, Debug)]
struct Ref {
    kind: RefKind,
    proxy: usize,
    index: usize,
}

static REF: Class<Ref> = Class::new("HAProxy object", &[]);

impl CallCtx {
    /// Argument 1 as an object of `kind` (a table whose `[0]` is its reference).
    fn world_ref(&mut self, kind: RefKind) -> Result<Ref, LuaError> {
        let l = self.raw();
        // SAFETY: lua_type never raises.
        if unsafe { ffi::lua_type(l, 1) } == ffi::LUA_TTABLE {
            self.reserve(1)?;
            // SAFETY: a raw read of a table never raises nor runs metamethods; one slot
            // is reserved. `check` only reads the value, which stays at `top` until the
            // pop; the copy is taken before.
            let r = unsafe {
                ffi::lua_rawgeti(l, 1, 0);
                let top = ffi::lua_gettop(l);
                let r = userdata::check::<Ref>(l, top, &REF).copied();
                ffi::lua_settop(l, top - 1);
                r
            };
            if let Some(r) = r.filter(|r| r.kind == kind) {
                return Ok(r);
            }
        }
        Err(self.lua_type_error(1, kind.class_name()))
    }

    /// Pushes `{name = value, ...}`.
    fn push_fields(&mut self, fields: &[(&'static str, Field)]) -> Result<(), LuaError> {
        self.reserve(3)?;
        let (list, count) = (fields.as_ptr(), fields.len());
        // SAFETY: the closure captures a pointer and length into `fields`, which outlives
        // the call, and holds only Copy locals and borrows (rule L1); it pushes exactly one
        // value: each key/value pair is consumed by lua_rawset on a fresh table.
        unsafe {
            self.allocating(move |l| {
                ffi::lua_createtable(l, 0, count as c_int);
                for i in 0..count {
                    let (name, value) = &*list.add(i);
                    ffi::lua_pushlstring(l, name.as_ptr().cast(), name.len());
                    match value {
                        Field::Int(n) => ffi::lua_pushinteger(l, *n),
                        Field::Str(s) => {
                            ffi::lua_pushlstring(l, s.as_ptr().cast(), s.len());
                        }
                    }
                    ffi::lua_rawset(l, -3);
                }
                1
            })
        }
    }
}

/// Runs `f` with the world of the resume in progress; without one (`lua-load`
/// bodies), the error names the method.
fn with_world<R>(ctx: &CallCtx, f: impl for<'h, 'r> FnOnce(&mut host::Host<'h, 'r>) -> R) -> Result<R, LuaError> {
    host::with_host(f).ok_or_else(|| {
        LuaError::runtime(format!("'{}': not available before the process serves (lua-load bodies)", ctx.name()))
    })
}

// ---- the hidden primitives world.lua builds the tables with -----------------------

static PRIM_READY: RustFunction = RustFunction::new("ready", prim_ready);
static PRIM_COUNT: RustFunction = RustFunction::new("count", prim_count);
static PRIM_PROXY: RustFunction = RustFunction::new("proxy", prim_proxy);
static PRIM_SERVER: RustFunction = RustFunction::new("server", prim_server);
static PRIM_LISTENER: RustFunction = RustFunction::new("listener", prim_listener);
static PRIM_REF: RustFunction = RustFunction::new("ref", prim_ref);

/// Whether the configuration is loaded (the tables are nil in bodies, as in 2.6), and
/// the topology's generation.
fn prim_ready(ctx: &mut CallCtx) -> Result<c_int, LuaError> {
    let ready = core()?.phase.get() != Phase::Body;
    ctx.push_boolean(ready)?;
    ctx.push_integer(with_topology(|t| t.generation) as i64)?;
    Ok(2)
}

fn prim_count(ctx: &mut CallCtx) -> Result<c_int, LuaError> {
    let n = with_topology(|t| t.proxies.len());
    ctx.push_integer(n as i64)?;
    Ok(1)
}

/// An index argument from 1, as an index from 0.
fn index_arg(ctx: &CallCtx, n: c_int) -> Result<usize, LuaError> {
    let i = ctx.integer(n)?;
    usize::try_from(i - 1).map_err(|_| ctx.arg_error(n, "out of range"))
}

/// `proxy(i)`: name, uuid, is frontend, is backend, server count, listener count.
fn prim_proxy(ctx: &mut CallCtx) -> Result<c_int, LuaError> {
    let i = index_arg(ctx, 1)?;
    let p = with_topology(|t| t.proxies.get(i).cloned()).ok_or_else(|| ctx.arg_error(1, "out of range"))?;
    ctx.push_str(&p.name)?;
    ctx.push_str(&p.uuid.to_string())?;
    ctx.push_boolean(p.frontend)?;
    ctx.push_boolean(p.backend)?;
    ctx.push_integer(p.servers.len() as i64)?;
    ctx.push_integer(p.listeners.len() as i64)?;
    Ok(6)
}

/// `server(i, j)`: name, puid; nothing for a deleted server.
fn prim_server(ctx: &mut CallCtx) -> Result<c_int, LuaError> {
    let (i, j) = (index_arg(ctx, 1)?, index_arg(ctx, 2)?);
    let s = with_topology(|t| t.proxies.get(i).and_then(|p| p.servers.get(j)).map(|s| (s.name.clone(), s.puid, s.deleted)));
    let (name, puid, deleted) = s.ok_or_else(|| ctx.arg_error(2, "out of range"))?;
    if deleted {
        return Ok(0);
    }
    ctx.push_str(&name)?;
    ctx.push_str(&puid.to_string())?;
    Ok(2)
}

fn prim_listener(ctx: &mut CallCtx) -> Result<c_int, LuaError> {
    let (i, k) = (index_arg(ctx, 1)?, index_arg(ctx, 2)?);
    let name = with_topology(|t| t.proxies.get(i).and_then(|p| p.listeners.get(k)).cloned());
    let name = name.ok_or_else(|| ctx.arg_error(2, "out of range"))?;
    ctx.push_str(&name)?;
    Ok(1)
}

/// `ref(kind, i, j)`: the private reference of an object.
fn prim_ref(ctx: &mut CallCtx) -> Result<c_int, LuaError> {
    let kind = match ctx.integer(1)? {
        1 => RefKind::Proxy,
        2 => RefKind::Server,
        _ => RefKind::Listener,
    };
    let proxy = index_arg(ctx, 2)?;
    let index = if kind == RefKind::Proxy { 0 } else { index_arg(ctx, 3)? };
    ctx.push_userdata(&REF, Ref { kind, proxy, index })?;
    Ok(1)
}

// ---- Proxy ------------------------------------------------------------------------

static PROXY_METHODS: &[(&CStr, &RustFunction)] = &[
    (c"get_cap", &PROXY_GET_CAP),
    (c"get_mode", &PROXY_GET_MODE),
    (c"get_stats", &PROXY_GET_STATS),
    (c"shut_bcksess", &PROXY_SHUT_BCKSESS),
    (c"pause", &PROXY_PAUSE),
    (c"resume", &PROXY_RESUME),
    (c"stop", &PROXY_STOP),
];
static PROXY_GET_CAP: RustFunction = RustFunction::new("get_cap", proxy_get_cap);
static PROXY_GET_MODE: RustFunction = RustFunction::new("get_mode", proxy_get_mode);
static PROXY_GET_STATS: RustFunction = RustFunction::new("get_stats", proxy_get_stats);
static PROXY_SHUT_BCKSESS: RustFunction = RustFunction::new("shut_bcksess", proxy_shut_bcksess);
static PROXY_PAUSE: RustFunction = RustFunction::new("pause", proxy_pause);
static PROXY_RESUME: RustFunction = RustFunction::new("resume", proxy_resume);
static PROXY_STOP: RustFunction = RustFunction::new("stop", proxy_stop);

fn proxy_info(r: Ref) -> Option<ProxyInfo> {
    with_topology(|t| t.proxies.get(r.proxy).cloned())
}

/// `"frontend"`, `"backend"` or `"proxy"` (both).
fn proxy_get_cap(ctx: &mut CallCtx) -> Result<c_int, LuaError> {
    let p = proxy_info(ctx.world_ref(RefKind::Proxy)?).ok_or_else(|| LuaError::runtime("unknown proxy"))?;
    let cap = match (p.frontend, p.backend) {
        (true, true) => "proxy",
        (true, false) => "frontend",
        (false, true) => "backend",
        (false, false) => "ruleset",
    };
    ctx.push_str(cap)?;
    Ok(1)
}

fn proxy_get_mode(ctx: &mut CallCtx) -> Result<c_int, LuaError> {
    let p = proxy_info(ctx.world_ref(RefKind::Proxy)?).ok_or_else(|| LuaError::runtime("unknown proxy"))?;
    ctx.push_str(match p.mode {
        Mode::Tcp => "tcp",
        Mode::Http => "http",
    })?;
    Ok(1)
}

fn push_stats(ctx: &mut CallCtx, of: StatsOf) -> Result<c_int, LuaError> {
    let fields = with_world(ctx, |h| h.world.stats(of, h.cx.now))?;
    match fields {
        Some(f) => ctx.push_fields(&f)?,
        None => ctx.push_nil()?,
    }
    Ok(1)
}

/// The proxy's `BACKEND` row if it is a backend, else its `FRONTEND` row.
fn proxy_get_stats(ctx: &mut CallCtx) -> Result<c_int, LuaError> {
    let r = ctx.world_ref(RefKind::Proxy)?;
    push_stats(ctx, StatsOf::Proxy(r.proxy))
}

/// `pause`, `resume`, `stop`: done by the world once the running callback returns
/// (its listeners stop or resume accepting; a stopped proxy closes them for good).
fn proxy_op(ctx: &mut CallCtx, op: ProxyOp) -> Result<c_int, LuaError> {
    let r = ctx.world_ref(RefKind::Proxy)?;
    defer(ctx, Deferred::Proxy(r.proxy, op))
}

fn proxy_pause(ctx: &mut CallCtx) -> Result<c_int, LuaError> {
    proxy_op(ctx, ProxyOp::Pause)
}

fn proxy_resume(ctx: &mut CallCtx) -> Result<c_int, LuaError> {
    proxy_op(ctx, ProxyOp::Resume)
}

fn proxy_stop(ctx: &mut CallCtx) -> Result<c_int, LuaError> {
    proxy_op(ctx, ProxyOp::Stop)
}

/// Kills the streams on the backend's backup servers (after the running callback).
fn proxy_shut_bcksess(ctx: &mut CallCtx) -> Result<c_int, LuaError> {
    let r = ctx.world_ref(RefKind::Proxy)?;
    shut(ctx, Sessions::Backup(r.proxy))
}

fn shut(ctx: &mut CallCtx, which: Sessions) -> Result<c_int, LuaError> {
    defer(ctx, Deferred::Kill(which))
}

fn defer(ctx: &mut CallCtx, what: Deferred) -> Result<c_int, LuaError> {
    if !with_world(ctx, |h| h.world.defer(what))? {
        return Err(LuaError::runtime(format!("'{}': not available here", ctx.name())));
    }
    Ok(0)
}

// ---- Listener -----------------------------------------------------------------------

static LISTENER_METHODS: &[(&CStr, &RustFunction)] = &[(c"get_stats", &LISTENER_GET_STATS)];
static LISTENER_GET_STATS: RustFunction = RustFunction::new("get_stats", listener_get_stats);

fn listener_get_stats(ctx: &mut CallCtx) -> Result<c_int, LuaError> {
    let r = ctx.world_ref(RefKind::Listener)?;
    push_stats(ctx, StatsOf::Listener(r.proxy, r.index))
}

// ---- Server -------------------------------------------------------------------------

static SERVER_METHODS: &[(&CStr, &RustFunction)] = &[
    (c"is_draining", &SERVER_IS_DRAINING),
    (c"set_maxconn", &SERVER_SET_MAXCONN),
    (c"get_maxconn", &SERVER_GET_MAXCONN),
    (c"set_weight", &SERVER_SET_WEIGHT),
    (c"get_weight", &SERVER_GET_WEIGHT),
    (c"set_addr", &SERVER_SET_ADDR),
    (c"get_addr", &SERVER_GET_ADDR),
    (c"get_stats", &SERVER_GET_STATS),
    (c"shut_sess", &SERVER_SHUT_SESS),
    (c"set_drain", &SERVER_SET_DRAIN),
    (c"set_maint", &SERVER_SET_MAINT),
    (c"set_ready", &SERVER_SET_READY),
    (c"check_enable", &SERVER_CHECK_ENABLE),
    (c"check_disable", &SERVER_CHECK_DISABLE),
    (c"check_force_up", &SERVER_CHECK_FORCE_UP),
    (c"check_force_nolb", &SERVER_CHECK_FORCE_NOLB),
    (c"check_force_down", &SERVER_CHECK_FORCE_DOWN),
    (c"agent_enable", &SERVER_AGENT_ENABLE),
    (c"agent_disable", &SERVER_AGENT_DISABLE),
    (c"agent_force_up", &SERVER_AGENT_FORCE_UP),
    (c"agent_force_down", &SERVER_AGENT_FORCE_DOWN),
];
static SERVER_IS_DRAINING: RustFunction = RustFunction::new("is_draining", server_is_draining);
static SERVER_SET_MAXCONN: RustFunction = RustFunction::new("set_maxconn", server_set_maxconn);
static SERVER_GET_MAXCONN: RustFunction = RustFunction::new("get_maxconn", server_get_maxconn);
static SERVER_SET_WEIGHT: RustFunction = RustFunction::new("set_weight", server_set_weight);
static SERVER_GET_WEIGHT: RustFunction = RustFunction::new("get_weight", server_get_weight);
static SERVER_SET_ADDR: RustFunction = RustFunction::new("set_addr", server_set_addr);
static SERVER_GET_ADDR: RustFunction = RustFunction::new("get_addr", server_get_addr);
static SERVER_GET_STATS: RustFunction = RustFunction::new("get_stats", server_get_stats);
static SERVER_SHUT_SESS: RustFunction = RustFunction::new("shut_sess", server_shut_sess);
static SERVER_SET_DRAIN: RustFunction = RustFunction::new("set_drain", server_set_drain);
static SERVER_SET_MAINT: RustFunction = RustFunction::new("set_maint", server_set_maint);
static SERVER_SET_READY: RustFunction = RustFunction::new("set_ready", server_set_ready);
static SERVER_CHECK_ENABLE: RustFunction = RustFunction::new("check_enable", server_check_enable);
static SERVER_CHECK_DISABLE: RustFunction = RustFunction::new("check_disable", server_check_disable);
static SERVER_CHECK_FORCE_UP: RustFunction = RustFunction::new("check_force_up", server_check_force_up);
static SERVER_CHECK_FORCE_NOLB: RustFunction = RustFunction::new("check_force_nolb", server_check_force_nolb);
static SERVER_CHECK_FORCE_DOWN: RustFunction = RustFunction::new("check_force_down", server_check_force_down);
static SERVER_AGENT_ENABLE: RustFunction = RustFunction::new("agent_enable", server_agent_noop);
static SERVER_AGENT_DISABLE: RustFunction = RustFunction::new("agent_disable", server_agent_noop);
static SERVER_AGENT_FORCE_UP: RustFunction = RustFunction::new("agent_force_up", server_agent_noop);
static SERVER_AGENT_FORCE_DOWN: RustFunction = RustFunction::new("agent_force_down", server_agent_noop);

/// The server's settings: from the running process, or, before it runs (init
/// functions), from the configuration.
fn server_view(ctx: &mut CallCtx) -> Result<ServerView, LuaError> {
    let r = ctx.world_ref(RefKind::Server)?;
    if let Some(v) = host::with_host(|h| h.world.server(r.proxy, r.index)) {
        return v.ok_or_else(|| LuaError::runtime("unknown server"));
    }
    let s = with_topology(|t| t.proxies.get(r.proxy).and_then(|p| p.servers.get(r.index)).cloned());
    let s = s.ok_or_else(|| LuaError::runtime("unknown server"))?;
    let (ip, port) = ip_port(&s.addr);
    Ok(ServerView { weight: s.weight, maxconn: s.maxconn, addr: addr_text(&s.addr), ip, port, draining: false })
}

/// The IP and port of an address, where it has them.
pub fn ip_port(a: &ServerAddr) -> (Option<IpAddr>, Option<u16>) {
    match a {
        ServerAddr::Inet { ip, port } => (Some(*ip), *port),
        // The port is the client's, moved by the offset: none of its own.
        ServerAddr::PortOffset { ip, .. } => (Some(*ip), None),
        ServerAddr::Resolved { addr, .. } => (Some(addr.ip()), Some(addr.port())),
        _ => (None, None),
    }
}

/// An address as `get_addr` prints it: `ip:port` (`::1:80` for IPv6, as HAProxy 2.6),
/// the IP alone without a port, the socket path for UNIX sockets.
pub fn addr_text(a: &ServerAddr) -> String {
    match a {
        ServerAddr::Unix(p) => p.display().to_string(),
        ServerAddr::Abstract(n) => format!("abns@{n}"),
        _ => match ip_port(a) {
            (Some(ip), Some(port)) => format!("{ip}:{port}"),
            (Some(ip), None) => ip.to_string(),
            _ => String::new(),
        },
    }
}

/// Applies a change; `Err` from the world is raised.
fn server_change(ctx: &mut CallCtx, op: ServerOp) -> Result<(), LuaError> {
    let r = ctx.world_ref(RefKind::Server)?;
    with_world(ctx, |h| h.world.server_op(h.cx, r.proxy, r.index, op))?.map_err(LuaError::runtime)
}

/// Pushes HAProxy's answer to a setter: nothing (`nil`) or the message.
fn push_outcome(ctx: &mut CallCtx, msg: Option<String>) -> Result<c_int, LuaError> {
    match msg {
        Some(m) => ctx.push_str(&m)?,
        None => ctx.push_nil()?,
    }
    Ok(1)
}

/// An integer (not a boolean) in 2.6.
fn server_is_draining(ctx: &mut CallCtx) -> Result<c_int, LuaError> {
    let v = server_view(ctx)?;
    ctx.push_integer(v.draining as i64)?;
    Ok(1)
}

fn server_get_maxconn(ctx: &mut CallCtx) -> Result<c_int, LuaError> {
    let v = server_view(ctx)?;
    ctx.push_integer(i64::from(v.maxconn))?;
    Ok(1)
}

fn server_get_weight(ctx: &mut CallCtx) -> Result<c_int, LuaError> {
    let v = server_view(ctx)?;
    ctx.push_integer(i64::from(v.weight))?;
    Ok(1)
}

fn server_get_addr(ctx: &mut CallCtx) -> Result<c_int, LuaError> {
    let v = server_view(ctx)?;
    ctx.push_str(&v.addr)?;
    Ok(1)
}

fn server_get_stats(ctx: &mut CallCtx) -> Result<c_int, LuaError> {
    let r = ctx.world_ref(RefKind::Server)?;
    push_stats(ctx, StatsOf::Server(r.proxy, r.index))
}

/// Kills the streams using the server (after the running callback).
fn server_shut_sess(ctx: &mut CallCtx) -> Result<c_int, LuaError> {
    let r = ctx.world_ref(RefKind::Server)?;
    shut(ctx, Sessions::Server(r.proxy, r.index))
}

/// C's `strtol` on `s`: the value of the leading integer (after blanks) and the rest;
/// `None` when there is no digit.
fn strtol(s: &str) -> Option<(i64, &str)> {
    let t = s.trim_start_matches([' ', '\t', '\n', '\r', '\x0b', '\x0c']);
    let (neg, digits) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let end = digits.bytes().take_while(u8::is_ascii_digit).count();
    if end == 0 {
        return None;
    }
    let v = digits[..end].bytes().fold(0i64, |a, d| a.saturating_mul(10).saturating_add(i64::from(d - b'0')));
    Some((if neg { -v } else { v }, &digits[end..]))
}

/// The CLI's weight syntax (`N` or `N%` of the configured weight), with HAProxy's
/// messages; with a static algorithm only 0 and the configured weight are accepted.
pub fn parse_weight(text: &str, initial: u32, static_lb: bool) -> Result<u32, &'static str> {
    let w = parse_weight_value(text, initial)?;
    if static_lb && w != 0 && w != initial {
        return Err("Backend is using a static LB algorithm and only accepts weights '0%' and '100%'.");
    }
    Ok(w)
}

fn parse_weight_value(text: &str, initial: u32) -> Result<u32, &'static str> {
    if text.is_empty() {
        return Err("Require <weight> or <weight%>.");
    }
    let (w, rest) = strtol(text).ok_or("Empty weight string empty or preceded by garbage")?;
    match rest {
        "%" => {
            if w < 0 {
                return Err("Relative weight must be positive.");
            }
            Ok((i64::from(initial) * w / 100).min(256) as u32)
        }
        "" if (0..=256).contains(&w) => Ok(w as u32),
        "" => Err("Absolute weight can only be between 0 and 256 inclusive."),
        _ => Err("Trailing garbage in weight string"),
    }
}

/// The CLI's maxconn syntax, with HAProxy's messages (a negative value wraps, as in 2.6).
pub fn parse_maxconn(text: &str) -> Result<u32, &'static str> {
    if text.is_empty() {
        return Err("Require <maxconn>.");
    }
    match strtol(text) {
        None => Err("maxconn string empty or preceded by garbage"),
        Some((v, "")) => Ok(v as u32),
        Some(_) => Err("Trailing garbage in maxconn string"),
    }
}

fn server_set_weight(ctx: &mut CallCtx) -> Result<c_int, LuaError> {
    let r = ctx.world_ref(RefKind::Server)?;
    let text = String::from_utf8_lossy(&ctx.check_lstring(2)?).into_owned();
    let (initial, static_lb) = with_topology(|t| {
        let p = t.proxies.get(r.proxy)?;
        Some((p.servers.get(r.index)?.weight, p.static_lb))
    })
    .unwrap_or((1, false));
    match parse_weight(&text, initial, static_lb) {
        Ok(w) => {
            server_change(ctx, ServerOp::Weight(w))?;
            push_outcome(ctx, None)
        }
        Err(m) => push_outcome(ctx, Some(m.into())),
    }
}

fn server_set_maxconn(ctx: &mut CallCtx) -> Result<c_int, LuaError> {
    ctx.world_ref(RefKind::Server)?;
    let text = String::from_utf8_lossy(&ctx.check_lstring(2)?).into_owned();
    match parse_maxconn(&text) {
        Ok(n) => {
            server_change(ctx, ServerOp::Maxconn(n))?;
            push_outcome(ctx, None)
        }
        Err(m) => push_outcome(ctx, Some(m.into())),
    }
}

/// `set_addr(addr [, port])`: HAProxy's report of what changed, always a string.
fn server_set_addr(ctx: &mut CallCtx) -> Result<c_int, LuaError> {
    let old = server_view(ctx)?;
    let addr = String::from_utf8_lossy(&ctx.check_lstring(2)?).into_owned();
    let port = if ctx.nargs() >= 3 && ctx.type_name(3) != "nil" {
        Some(String::from_utf8_lossy(&ctx.check_lstring(3)?).into_owned())
    } else {
        None
    };
    let Ok(ip) = addr.parse::<IpAddr>() else {
        return push_outcome(ctx, Some(format!("Invalid addr '{addr}' by 'Lua script'")));
    };
    let mut msg = match old.ip {
        Some(o) if o == ip => "no need to change the addr".to_string(),
        Some(o) => format!("IP changed from '{o}' to '{ip}'"),
        None => format!("IP changed from '' to '{ip}'"),
    };
    let mut new_port = old.port;
    if let Some(p) = &port {
        match p.parse::<u16>() {
            Err(_) => msg.push_str(&format!(", problem converting port '{p}' to an int")),
            Ok(p) if Some(p) == old.port => msg.push_str(", no need to change the port"),
            Ok(p) => {
                let from = old.port.map(|p| p.to_string()).unwrap_or_default();
                msg.push_str(&format!(", port changed from '{from}' to '{p}'"));
                new_port = Some(p);
            }
        }
    }
    msg.push_str(" by 'Lua script'");
    server_change(ctx, ServerOp::Addr(ip, new_port))?;
    push_outcome(ctx, Some(msg))
}

macro_rules! state_change {
    ($f:ident, $op:expr) => {
        fn $f(ctx: &mut CallCtx) -> Result<c_int, LuaError> {
            server_change(ctx, $op)?;
            Ok(0)
        }
    };
}
state_change!(server_set_drain, ServerOp::Drain);
state_change!(server_set_maint, ServerOp::Maint);
state_change!(server_set_ready, ServerOp::Ready);
state_change!(server_check_enable, ServerOp::CheckEnabled(true));
state_change!(server_check_disable, ServerOp::CheckEnabled(false));
state_change!(server_check_force_up, ServerOp::ForceUp);
state_change!(server_check_force_nolb, ServerOp::ForceNolb);
state_change!(server_check_force_down, ServerOp::ForceDown);

/// moonproxy has no agent checks (`agent-check` is refused by the configuration), so
/// these do what 2.6 does on a server without one: nothing.
fn server_agent_noop(ctx: &mut CallCtx) -> Result<c_int, LuaError> {
    ctx.world_ref(RefKind::Server)?;
    Ok(0)
}

// ---- core.get_info, dates ---------------------------------------------------------

static GET_INFO: RustFunction = RustFunction::new("get_info", get_info);
static HTTP_DATE: RustFunction = RustFunction::new("http_date", http_date);
static IMF_DATE: RustFunction = RustFunction::new("imf_date", imf_date);
static RFC850_DATE: RustFunction = RustFunction::new("rfc850_date", rfc850_date);
static ASCTIME_DATE: RustFunction = RustFunction::new("asctime_date", asctime_date);

/// The `core` functions of this module.
pub fn core_functions() -> &'static [(&'static str, &'static RustFunction)] {
    &CORE_FUNCTIONS
}

static CORE_FUNCTIONS: [(&str, &RustFunction); 5] = [
    ("get_info", &GET_INFO),
    ("http_date", &HTTP_DATE),
    ("imf_date", &IMF_DATE),
    ("rfc850_date", &RFC850_DATE),
    ("asctime_date", &ASCTIME_DATE),
];

/// When the process started (`Uptime`, `Start_time_sec`).
static START: OnceLock<(Instant, SystemTime)> = OnceLock::new();

/// Records the start time (the runtime, at boot).
pub fn mark_start() {
    START.get_or_init(|| (Instant::now(), SystemTime::now()));
}

/// `core.get_info()`: the `show info` fields the process has. Those of the runtime's
/// tables (connections, requests, listeners) only once it serves.
fn get_info(ctx: &mut CallCtx) -> Result<c_int, LuaError> {
    let now = Instant::now();
    let (started, started_wall) = *START.get_or_init(|| (now, SystemTime::now()));
    let up = now.saturating_duration_since(started).as_secs();
    let start_sec = started_wall.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let node = std::fs::read_to_string("/proc/sys/kernel/hostname").map(|s| s.trim().to_string()).unwrap_or_default();
    let int = |v: u64| Field::Int(i64::try_from(v).unwrap_or(i64::MAX));
    let mut fields = vec![
        ("Name", Field::Str("moonproxy".into())),
        ("Version", Field::Str(crate::version::VERSION.into())),
        ("Nbthread", Field::Int(1)),
        ("Nbproc", Field::Int(1)),
        ("Process_num", Field::Int(1)),
        ("Pid", Field::Int(i64::from(std::process::id()))),
        ("Uptime", Field::Str(format!("{}d {}h{:02}m{:02}s", up / 86400, up / 3600 % 24, up / 60 % 60, up % 60))),
        ("Uptime_sec", int(up)),
        ("Start_time_sec", int(start_sec)),
        ("node", Field::Str(node)),
    ];
    fields.extend(host::with_host(|h| h.world.info(h.cx.now)).unwrap_or_default());
    ctx.push_fields(&fields)?;
    Ok(1)
}

fn push_date(ctx: &mut CallCtx, parse: fn(&[u8]) -> Option<i64>) -> Result<c_int, LuaError> {
    let text = ctx.check_lstring(1)?;
    match parse(&text) {
        Some(t) => ctx.push_integer(t)?,
        None => ctx.push_nil()?,
    }
    Ok(1)
}

fn http_date(ctx: &mut CallCtx) -> Result<c_int, LuaError> {
    push_date(ctx, |t| dates::imf(t).or_else(|| dates::rfc850(t)).or_else(|| dates::asctime(t)))
}
fn imf_date(ctx: &mut CallCtx) -> Result<c_int, LuaError> {
    push_date(ctx, dates::imf)
}
fn rfc850_date(ctx: &mut CallCtx) -> Result<c_int, LuaError> {
    push_date(ctx, dates::rfc850)
}
fn asctime_date(ctx: &mut CallCtx) -> Result<c_int, LuaError> {
    push_date(ctx, dates::asctime)
}

pub mod dates;

// ---- installation ---------------------------------------------------------------------

/// Creates the method tables and the hidden primitives, then runs `world.lua`, which
/// gives `core` the lazily built `proxies`, `frontends` and `backends`.
pub fn install(st: &State) -> Result<(), LuaError> {
    let l = st.raw();
    // SAFETY: the main thread between calls; the closure captures only &'static data and
    // holds only Copy locals; it runs under protection (rule L2) and leaves the stack as
    // it found it (every table is consumed by lua_setfield or lua_setglobal).
    unsafe {
        state::protect(l, 0, 0, |l| {
            ffi::lua_createtable(l, 0, 10);
            for (name, f) in [
                (c"ready", &PRIM_READY),
                (c"count", &PRIM_COUNT),
                (c"proxy", &PRIM_PROXY),
                (c"server", &PRIM_SERVER),
                (c"listener", &PRIM_LISTENER),
                (c"ref", &PRIM_REF),
                (c"stktable", &super::stktable::PRIM_STKTABLE),
                (c"stkdump", &super::stktable::STK_DUMP),
            ] {
                callback::push_function(l, f);
                ffi::lua_setfield(l, -2, name.as_ptr());
            }
            for (name, methods) in [
                (c"Proxy", PROXY_METHODS),
                (c"Server", SERVER_METHODS),
                (c"Listener", LISTENER_METHODS),
                (c"StickTable", super::stktable::METHODS),
            ] {
                ffi::lua_createtable(l, 0, methods.len() as c_int);
                for (m, f) in methods {
                    callback::push_function(l, f);
                    ffi::lua_setfield(l, -2, m.as_ptr());
                }
                ffi::lua_setfield(l, -2, name.as_ptr());
            }
            ffi::lua_setglobal(l, c"__moonproxy_world".as_ptr());
            0
        })?;
    }
    st.exec(include_bytes!("world.lua"), "=world.lua")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Messages and values from HAProxy 2.6 (`Server.set_weight` / `set_maxconn`).
    #[test]
    fn weights_and_maxconn_parse_as_haproxy() {
        assert_eq!(parse_weight_value("", 10), Err("Require <weight> or <weight%>."));
        assert_eq!(parse_weight_value("x", 10), Err("Empty weight string empty or preceded by garbage"));
        assert_eq!(parse_weight_value("5x", 10), Err("Trailing garbage in weight string"));
        assert_eq!(parse_weight_value("12 ", 10), Err("Trailing garbage in weight string"));
        assert_eq!(parse_weight_value("-1", 10), Err("Absolute weight can only be between 0 and 256 inclusive."));
        assert_eq!(parse_weight_value("257", 10), Err("Absolute weight can only be between 0 and 256 inclusive."));
        assert_eq!(parse_weight_value("-5%", 10), Err("Relative weight must be positive."));
        assert_eq!(parse_weight_value("256", 10), Ok(256));
        assert_eq!(parse_weight_value(" 12", 10), Ok(12));
        assert_eq!(parse_weight_value("50%", 10), Ok(5));
        assert_eq!(parse_weight_value("300%", 10), Ok(30));
        let stat = "Backend is using a static LB algorithm and only accepts weights '0%' and '100%'.";
        assert_eq!(parse_weight("5", 10, true), Err(stat));
        assert_eq!(parse_weight("0", 10, true), Ok(0));
        assert_eq!(parse_weight("100%", 10, true), Ok(10));
        assert_eq!(parse_weight("5", 10, false), Ok(5));
        assert_eq!(parse_maxconn(""), Err("Require <maxconn>."));
        assert_eq!(parse_maxconn("x"), Err("maxconn string empty or preceded by garbage"));
        assert_eq!(parse_maxconn("5x"), Err("Trailing garbage in maxconn string"));
        assert_eq!(parse_maxconn("-1"), Ok(u32::MAX));
        assert_eq!(parse_maxconn(" 8"), Ok(8));
    }
}
