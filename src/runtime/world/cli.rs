//! The world as the CLI's commands see it ([`crate::cli_socket::Host`]), and the
//! routing of CLI events. The CLI is taken out of the world while a session runs, so
//! a command can borrow every other table.

use super::{Phase, World};
use crate::backend::Backend;
use crate::cli_socket::{Cli, Host, ListenerLine, Process, ReactorState, StreamLine};
use crate::lua::host::ServerOp;
use crate::reactor::{Ctx, Key, Kind, Ready, TimerTarget};
use crate::stats::activity::{TaskId, Via};
use crate::stream::proxy::ProxyRt;
use crate::stream::ServerPool;
use std::time::Instant;

/// `<frontend>/<backend>/<server>` of a stream for `show lua errors` (`-`: none yet).
pub(super) fn lua_error_context(proxies: &[ProxyRt], farm: &super::Farm, fe: usize, be: Option<usize>, srv: Option<usize>) -> String {
    let name = |px: usize| proxies.get(px).map_or("-", |p| p.name.as_str());
    let server = be.zip(srv).and_then(|(b, s)| Some(farm.backends.get(b)?.as_ref()?.servers().get(s)?.name().to_string()));
    format!("{}/{}/{}", name(fe), be.map_or("-", name), server.as_deref().unwrap_or("-"))
}

impl World {
    /// What task profiling names a dispatch: the handler, with the frontend of a
    /// stream and the proxy of a listener ([`crate::reactor::Handler::task_id`]).
    pub(super) fn profiled_task(&self, kind: Kind, key: Key, via: Via) -> TaskId {
        let mut id = TaskId::of(kind, via);
        id.proxy = match kind {
            Kind::Client | Kind::Server | Kind::Resolve => self.streams.get(key).map(|s| s.frontend as u32),
            Kind::Listener => self.listeners.get(key.slot).map(|l| l.proxy as u32),
            _ => None,
        };
        id
    }
}

struct CliHost<'w, 'c, 'r> {
    world: &'w mut World,
    cx: &'c mut Ctx<'r>,
}

impl World {
    /// Installs the CLI (its sockets already open) and starts listening.
    pub fn start_cli(&mut self, cx: &mut Ctx<'_>, mut cli: Cli) {
        cli.start(cx);
        let (nbthread, (maxconn, hard_maxconn)) = match crate::runtime::threads::local() {
            Some(l) => (l.threads() as u32, l.maxconn()),
            None => (1, (self.maxconn, self.hard_maxconn)),
        };
        crate::stats::prometheus::set_process_info(crate::stats::prometheus::ProcessInfo {
            nbthread,
            maxconn,
            hard_maxconn,
            listeners: self.listeners.len() + cli.socket_count(),
            started: (cx.now, std::time::SystemTime::now()),
        });
        self.cli = cli;
    }

    /// Runs `f` on the CLI with the rest of the world as its host.
    fn with_cli(&mut self, cx: &mut Ctx<'_>, f: impl FnOnce(&mut Cli, &mut dyn Host)) {
        let mut cli = std::mem::take(&mut self.cli);
        f(&mut cli, &mut CliHost { world: self, cx: &mut *cx });
        self.cli = cli;
    }

    pub(super) fn cli_timer(&mut self, cx: &mut Ctx<'_>, key: Key) {
        self.with_cli(cx, |cli, host| cli.timer(host, key));
    }

    pub(super) fn cli_wake(&mut self, cx: &mut Ctx<'_>, key: Key) {
        self.with_cli(cx, |cli, host| cli.wake(host, key));
    }

    pub(super) fn cli_ready(&mut self, cx: &mut Ctx<'_>, key: Key, ready: Ready) {
        self.with_cli(cx, |cli, host| cli.ready(host, key, ready));
        // A server change may have handed queued streams their slots.
        self.hand_out_slots(cx);
        self.after_lua(cx);
    }
}

/// With several reactor threads: the process's figures (sums over the threads, limits
/// for the whole process) in `p`, which holds this thread's.
fn threads_process(p: &mut Process, w: &World, now: Instant) {
    let Some(local) = crate::runtime::threads::local() else { return };
    let totals = crate::runtime::threads::process_totals(&w.proxies, &w.farm, now);
    let here = crate::runtime::threads::Totals::of(&w.proxies);
    p.nbthread = local.threads() as u32;
    p.actconn = totals.actconn;
    (p.maxconn, p.hard_maxconn) = local.maxconn();
    p.cum_conns_elsewhere = totals.cum_conns - here.cum_conns;
    p.cum_req_elsewhere = totals.cum_req - here.cum_req;
}

impl Host for CliHost<'_, '_, '_> {
    fn now(&self) -> Instant {
        self.cx.now
    }

    fn registry(&self) -> &mio::Registry {
        self.cx.registry
    }

    fn arm_timer(&mut self, at: Instant, key: Key) {
        self.cx.timers.arm(at, TimerTarget::Entry(Kind::Cli, key));
    }

    fn wake_cli(&mut self, key: Key) {
        self.cx.wake.push(Kind::Cli, key);
    }

    fn proxies(&self) -> &[ProxyRt] {
        &self.world.proxies
    }

    fn pool(&self) -> &dyn ServerPool {
        &self.world.farm
    }

    fn backend(&self, proxy: usize) -> Option<&Backend> {
        self.world.farm.backends.get(proxy)?.as_ref()
    }

    fn process(&self) -> Process {
        let w = &*self.world;
        let mut p = Process {
            actconn: w.actconn,
            maxconn: w.maxconn,
            hard_maxconn: w.hard_maxconn,
            listeners: w.listeners.len(),
            stopping: w.phase != Phase::Running,
            ..Process::default()
        };
        threads_process(&mut p, w, self.cx.now);
        p
    }

    fn server_op(&mut self, proxy: usize, server: usize, op: ServerOp) -> Result<(), String> {
        let w = &mut *self.world;
        super::apply_server_op(self.cx, &mut w.proxies, &mut w.farm, &w.logs, proxy, server, op, "changed from CLI")
            .map_err(|e| match e {
                super::NoSuch::Backend => "No such backend.".to_string(),
                super::NoSuch::Server => "No such server.".to_string(),
            })
    }

    fn shutdown_stream(&mut self, id: u64) -> bool {
        let w = &mut *self.world;
        let Some(key) = w.streams.iter().find(|(_, s)| s.id == id).map(|(k, _)| k) else { return false };
        if let Some(s) = w.streams.get_mut(key) {
            let mut env = crate::stream::Env { cx: self.cx, key, proxies: &mut w.proxies, pool: &mut w.farm };
            s.kill(&mut env, crate::stream::termination::Cause::Killed);
            w.finish(self.cx, key);
        }
        true
    }

    fn add_server(&mut self, proxy: usize, name: &str, args: &[String]) -> Result<(), String> {
        self.world.add_server(self.cx, proxy, name, args)
    }

    fn del_server(&mut self, proxy: usize, server: usize) -> Result<(), String> {
        self.world.del_server(self.cx, proxy, server)
    }

    fn set_agent(&mut self, proxy: usize, server: usize, enabled: bool) {
        // The agent checks run on thread 1 only: nothing to pass on.
        self.world.farm.backend_mut(proxy).set_agent_paused(crate::backend::ServerId(server), !enabled);
    }

    fn resolvers(&self) -> Vec<(String, Vec<(String, crate::dns::NsCounters)>)> {
        let counted = self.world.dns_counters();
        self.world
            .resolvers
            .iter()
            .map(|(section, ids)| {
                let ns = ids
                    .iter()
                    .map(|id| {
                        let c = counted.iter().find(|(s, n, _)| s == section && n == id).map(|(_, _, c)| *c).unwrap_or_default();
                        (id.clone(), c)
                    })
                    .collect();
                (section.clone(), ns)
            })
            .collect()
    }

    fn dynamic_cookie(&mut self, proxy: usize, op: crate::http::persist::DynamicCookieOp) {
        self.world.dynamic_cookie(self.cx, proxy, op);
    }

    fn idle_conf(&self, proxy: usize, server: usize) -> crate::config::model::IdlePoolConf {
        self.world.farm.idle.conf(proxy, server)
    }

    fn shutdown_server_streams(&mut self, proxy: usize, server: usize) {
        use crate::lua::host::{Deferred, Sessions};
        // Done once the command is over, as for Lua's `Server.shut_sess`.
        self.world.lua_deferred.push(Deferred::Kill(Sessions::Server(proxy, server)));
        crate::runtime::threads::broadcast(|| crate::runtime::threads::Msg::KillServerStreams { be: proxy, srv: server });
    }

    fn stop_frontend(&mut self, proxy: usize) -> bool {
        if self.world.proxies.get(proxy).is_none_or(|p| p.disabled) {
            return false;
        }
        self.world.lua_proxy_op(self.cx, proxy, crate::lua::host::ProxyOp::Stop);
        true
    }

    fn frontend_paused(&self, proxy: usize) -> bool {
        self.world.lua_paused.get(proxy).copied().unwrap_or(false)
    }

    fn pause_frontend(&mut self, proxy: usize, pause: bool) {
        use crate::lua::host::ProxyOp;
        // The same path as Lua's `Proxy.pause/resume`: messages, logs, listeners.
        self.world.lua_proxy_op(self.cx, proxy, if pause { ProxyOp::Pause } else { ProxyOp::Resume });
    }

    fn set_global_maxconn(&mut self, maxconn: u32) {
        self.world.maxconn = crate::runtime::threads::set_global_maxconn(maxconn);
        crate::stats::prometheus::set_process_maxconn(maxconn);
        self.world.listeners_dirty = true;
    }

    fn set_frontend_maxconn(&mut self, proxy: usize, maxconn: u32) {
        if let Some(p) = self.world.proxies.get_mut(proxy) {
            p.maxconn = Some(maxconn);
            p.counters.fe_limit = maxconn; // `slim`, as HAProxy shows the new limit
            self.world.listeners_dirty = true;
        }
    }

    fn clear_counters(&mut self, all: bool) {
        self.world.clear_counters(all);
        crate::runtime::threads::broadcast(|| crate::runtime::threads::Msg::ClearCounters { all });
    }

    fn listeners(&self) -> Vec<ListenerLine> {
        let w = &*self.world;
        w.listeners
            .iter()
            .filter_map(|l| {
                let state = if self.frontend_paused(l.proxy) {
                    "PAU"
                } else if l.full() {
                    "FUL"
                } else {
                    "RDY"
                };
                Some(ListenerLine { fd: l.raw_fd()?, proxy: l.proxy, addr: l.local_addr(), state })
            })
            .collect()
    }

    fn streams(&self) -> Vec<StreamLine> {
        self.world
            .streams
            .iter()
            .map(|(_, s)| {
                let (src, age) = s.client_info(self.cx.now);
                StreamLine {
                    id: s.id,
                    src,
                    listener: self.world.listeners.get(s.listener).map_or(0, |l| l.luid as usize),
                    frontend: Some(s.frontend),
                    backend: s.backend,
                    server: s.server_index(),
                    age,
                    fds: s.fds(),
                }
            })
            .collect()
    }

    fn lua_cli_find(&self, words: &[String]) -> Option<usize> {
        self.world.lua.as_ref()?.cli_find(words)
    }

    fn lua_cli_usages(&self) -> Vec<String> {
        self.world.lua.as_ref().map(|l| l.cli_usages()).unwrap_or_default()
    }

    fn lua_cli_start(&mut self, session: Key, index: usize, words: &[String], input: Vec<u8>) -> Result<Key, String> {
        let lua = self.world.lua.as_mut().ok_or("no Lua engine")?;
        lua.cli_start(self.cx, session, index, words, input)
    }

    fn lua_cli_poll(&mut self, task: Key) -> (Vec<u8>, Option<Vec<u8>>) {
        match self.world.lua.as_mut() {
            Some(lua) => lua.cli_poll(self.cx, task),
            None => (Vec::new(), Some(Vec::new())),
        }
    }

    fn lua_cli_abort(&mut self, task: Key) {
        if let Some(lua) = self.world.lua.as_mut() {
            lua.cli_abort(self.cx, task);
        }
    }

    fn lua_tasks(&self) -> Vec<crate::cli_socket::LuaTaskLine> {
        let mut lines = self.world.lua.as_ref().map(|l| l.task_lines(self.cx.now)).unwrap_or_default();
        lines.extend(stream_coroutines(self.world, self.cx.now));
        lines
    }

    fn reactor_state(&self) -> ReactorState {
        reactor_state(self.world, self.cx)
    }
}

/// The streams' Lua coroutines waiting in a call (`show lua tasks`), by stream id.
fn stream_coroutines(world: &World, now: Instant) -> Vec<crate::cli_socket::LuaTaskLine> {
    let mut lines: Vec<_> = world
        .streams
        .iter()
        .filter_map(|(_, s)| {
            let w = s.lua_waiting(now)?;
            Some(crate::cli_socket::LuaTaskLine {
                kind: w.kind,
                name: w.name,
                state: w.state,
                age: now.saturating_duration_since(w.started),
                cpu: w.cpu,
                at: w.at,
                stream: Some(s.id),
            })
        })
        .collect();
    lines.sort_by_key(|l| l.stream);
    lines
}

/// The run queue and timers of this thread (`show tasks`, `show threads`).
fn reactor_state(world: &World, cx: &Ctx<'_>) -> ReactorState {
    ReactorState {
        queued: cx.wake.iter().map(|&(kind, key)| world.profiled_task(kind, key, Via::Wake)).collect(),
        timers: cx.timers.len(),
        polled: cx.now,
    }
}
