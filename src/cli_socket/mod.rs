//! The stats socket CLI (`stats socket` in `global`): HAProxy's runtime API on unix
//! and TCP sockets. See `doc/cli.md` for the commands and their compatibility.
//!
//! Shape:
//! - [`Cli`] owns the CLI's listening sockets and its sessions in one generation-tagged
//!   table; their reactor tokens are [`Kind::Cli`] tokens with the table's keys.
//! - A `session::Session` reads request lines, splits them (`parse`), runs each
//!   command (`commands::execute`) and queues the answer; it never blocks: output is
//!   written as the socket accepts it, input is not read further while an answer is
//!   pending, and a session idle for `stats timeout` is closed.
//! - Commands reach the running process through [`Host`], which the runtime implements
//!   over its tables (`runtime::world`); they run to completion within one event.
//!
//! Levels: a session starts at its socket's `level` and may lower it (`user`,
//! `operator`); a command above the session's level answers `Permission denied`.
//!
//! Extending (the rest of issue 7):
//! - a native command is one row of `commands::COMMANDS` (words, HAProxy's usage and
//!   description, level, handler); `help` and the unknown-command suggestions follow;
//! - what a command needs from the process is one more [`Host`] method, implemented in
//!   `runtime/world/cli.rs` (Lua statistics, profiling, the error ring...);
//! - commands registered by `core.register_cli` are looked up after the table, through
//!   the host, and run as Lua tasks (`runtime::lua::cli`): the command answers
//!   `Outcome::Lua(index)`, the session starts the task and is parked (it runs and reads
//!   nothing more) until the task ends; the world wakes the session's token after each
//!   resume, and the session writes what the command sent meanwhile.

mod commands;
mod events;
mod info;
mod maps;
mod parse;
mod process;
mod profiling;
mod servers;
mod session;
mod ssl_cert;
mod usage;

use crate::backend::Backend;
use crate::config::model::{CliLevel, Global};
use crate::listener::{Accept, Listener};
use crate::lua::host::ServerOp;
use crate::reactor::{token, Ctx, GenSlab, Key, Kind, Ready};
use crate::stream::proxy::ProxyRt;
use crate::stream::ServerPool;
use session::Session;
use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime};

/// What the commands read and change in the running process.
pub trait Host {
    /// The time of this reactor iteration.
    fn now(&self) -> Instant;
    /// The poller, to register and deregister sessions.
    fn registry(&self) -> &mio::Registry;
    /// Arms the timer of the CLI entry `key`.
    fn arm_timer(&mut self, at: Instant, key: Key);
    /// Queues the CLI entry `key` in the run queue.
    fn wake_cli(&mut self, key: Key);
    fn proxies(&self) -> &[ProxyRt];
    /// The servers, as the statistics read them.
    fn pool(&self) -> &dyn ServerPool;
    fn backend(&self, proxy: usize) -> Option<&Backend>;
    fn process(&self) -> Process;
    /// Changes a server (state, weight, address, health), with the same messages, logs
    /// and queue hand-outs as a health check's change.
    fn server_op(&mut self, proxy: usize, server: usize, op: ServerOp) -> Result<(), String>;
    /// `add server <proxy>/<name> <args>`: adds the server on every thread. `Err`:
    /// HAProxy's answer.
    fn add_server(&mut self, proxy: usize, name: &str, args: &[String]) -> Result<(), String>;
    /// `del server`: deletes the server on every thread. `Err`: HAProxy's answer.
    fn del_server(&mut self, proxy: usize, server: usize) -> Result<(), String>;
    /// `enable agent` / `disable agent`.
    fn set_agent(&mut self, proxy: usize, server: usize, enabled: bool);
    /// The `resolvers` sections, in order, with each name server's id and counters
    /// (`show resolvers`).
    fn resolvers(&self) -> Vec<(String, Vec<(String, crate::dns::NsCounters)>)>;
    /// `enable|disable dynamic-cookie backend`, `set dynamic-cookie-key backend`.
    fn dynamic_cookie(&mut self, proxy: usize, op: crate::http::persist::DynamicCookieOp);
    /// A server's idle connection settings (`show servers conn`).
    fn idle_conf(&self, proxy: usize, server: usize) -> crate::config::model::IdlePoolConf;
    /// Kills the stream with this id (`shutdown session`); `false`: no such stream.
    fn shutdown_stream(&mut self, id: u64) -> bool;
    /// Kills the streams on a server (`shutdown sessions server`).
    fn shutdown_server_streams(&mut self, proxy: usize, server: usize);
    /// Stops a frontend for good (`shutdown frontend`); `false`: already stopped.
    fn stop_frontend(&mut self, proxy: usize) -> bool;
    /// Whether a frontend's listeners are paused (`disable frontend`).
    fn frontend_paused(&self, proxy: usize) -> bool;
    fn pause_frontend(&mut self, proxy: usize, pause: bool);
    fn set_global_maxconn(&mut self, maxconn: u32);
    fn set_frontend_maxconn(&mut self, proxy: usize, maxconn: u32);
    /// The live streams (`show sess`).
    fn streams(&self) -> Vec<StreamLine>;
    /// `clear counters [all]`: the maxima of every proxy and server, or every counter.
    fn clear_counters(&mut self, all: bool);
    /// The proxies' listening sockets (`show fd`).
    fn listeners(&self) -> Vec<ListenerLine>;
    /// The `core.register_cli` command named by the first of `words`, by its index.
    fn lua_cli_find(&self, words: &[String]) -> Option<usize>;
    /// The usages of the `core.register_cli` commands (listed by `help`).
    fn lua_cli_usages(&self) -> Vec<String>;
    /// Starts `core.register_cli` command `index` for the session `session`, with the
    /// words typed and the bytes the client sent after the line: the command's task.
    fn lua_cli_start(&mut self, session: Key, index: usize, words: &[String], input: Vec<u8>) -> Result<Key, String>;
    /// What command `task` sent since the last call; once it ended, also the input it
    /// did not read (`Some`, the session runs it as commands).
    fn lua_cli_poll(&mut self, task: Key) -> (Vec<u8>, Option<Vec<u8>>);
    /// The session of command `task` is gone: the command stops.
    fn lua_cli_abort(&mut self, task: Key);
    /// The live Lua tasks and CLI commands (`show lua tasks`).
    fn lua_tasks(&self) -> Vec<LuaTaskLine>;
    /// This thread's run queue and timers (`show tasks`, `show threads`).
    fn reactor_state(&self) -> ReactorState;
}

/// What the reactor of this thread holds (`show tasks`, `show threads`).
#[derive(Clone, Debug)]
pub struct ReactorState {
    /// The run queue, in order, each entry named as task profiling names it.
    pub queued: Vec<crate::stats::activity::TaskId>,
    /// Timers armed (cancelled ones included until they expire: cancellation is lazy).
    pub timers: usize,
    /// When this iteration's `poll()` returned.
    pub polled: Instant,
}

/// Process-wide numbers (`show info`, `set maxconn global`).
#[derive(Clone, Copy, Debug, Default)]
pub struct Process {
    pub actconn: u32,
    pub maxconn: u32,
    /// The limit `set maxconn global` may not exceed (the configured one).
    pub hard_maxconn: u32,
    pub listeners: usize,
    pub stopping: bool,
    /// Reactor threads (`nbthread`; 0 is read as 1).
    pub nbthread: u32,
    /// Connections and HTTP requests the other reactor threads accepted (`CumConns`,
    /// `CumReq` add them to this thread's proxies' counts).
    pub cum_conns_elsewhere: u64,
    pub cum_req_elsewhere: u64,
}

/// One line of `show sess`.
#[derive(Clone, Debug)]
pub struct StreamLine {
    pub id: u64,
    /// The client's address (`None`: a unix socket).
    pub src: Option<SocketAddr>,
    /// The listener's number (`unix:<n>` for unix clients).
    pub listener: usize,
    /// `None`: a CLI session (HAProxy's `GLOBAL` frontend).
    pub frontend: Option<usize>,
    pub backend: Option<usize>,
    pub server: Option<usize>,
    pub age: Duration,
    /// Client and server file descriptors.
    pub fds: (i32, Option<i32>),
}

/// One live Lua coroutine (`show lua tasks`).
#[derive(Clone, Debug)]
pub struct LuaTaskLine {
    /// `task` (`core.register_task`), `cli` (`core.register_cli`), or a stream's
    /// `action`, `fetch`, `converter` or `service`.
    pub kind: &'static str,
    /// `#<n>` for a task, `<lua.cli.w1.w2>` for a CLI command, the registered name of
    /// a stream's function.
    pub name: String,
    pub state: LuaTaskState,
    pub age: Duration,
    /// Lua run time of its call so far.
    pub cpu: Duration,
    /// `file:line` where it waits.
    pub at: Option<String>,
    /// The stream whose coroutine it is (`None`: a task or CLI command).
    pub stream: Option<u64>,
}

/// What a Lua coroutine is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LuaTaskState {
    /// In the run queue (just started, yielded or preempted).
    Runnable,
    /// In `core.sleep`/`msleep`, for this long still.
    Sleeping(Duration),
    /// In a socket call (`core.tcp()`, `core.httpclient()`).
    Socket,
}

/// One listening socket of a proxy (`show fd`).
#[derive(Clone, Debug)]
pub struct ListenerLine {
    pub fd: i32,
    pub proxy: usize,
    /// `None`: a unix socket.
    pub addr: Option<SocketAddr>,
    /// HAProxy's listener state: `RDY`, `FUL` (at its `maxconn`), `PAU` (paused).
    pub state: &'static str,
}

/// A session's own state, which commands may change.
#[derive(Clone, Copy, Debug)]
pub struct SessionState {
    pub level: CliLevel,
    /// Interactive mode (`prompt`): `> ` after each answer, the session stays open.
    pub prompt: bool,
    pub expert: bool,
    pub experimental: bool,
    /// Idle timeout (`stats timeout`, `set timeout cli`).
    pub timeout: Duration,
    /// The socket has `expose-fd listeners`: `_getsocks` hands the listening sockets
    /// over (`session::Session::getsocks`).
    pub expose_fd: bool,
    /// `severity-output`: messages start with their severity.
    pub severity_output: crate::config::model::SeverityOutput,
}

/// What all sessions share.
pub struct Shared {
    /// When the process started (monotonic, wall clock).
    pub started: (Instant, SystemTime),
    /// Per backend, per server: the configured weight (`get weight`, `50%`).
    pub initial_weights: Vec<Vec<u32>>,
    /// An experimental feature was used (`Tainted` in `show info`).
    pub tainted: bool,
    /// The CLI sessions, filled for `show sess`.
    pub cli_sessions: Vec<StreamLine>,
    /// Every CLI socket as `show cli sockets` prints it, with its level.
    pub sockets: Vec<(String, CliLevel)>,
    /// CLI connections accepted so far (HAProxy counts them in `CumConns`).
    pub accepted: u64,
    /// The CLI's listening sockets' descriptors and addresses (`None`: unix).
    pub socket_fds: Vec<(i32, Option<SocketAddr>)>,
}

/// The ids of CLI sessions in `show sess` start here, apart from the streams' ids.
pub const CLI_SESSION_IDS: u64 = 1 << 40;

/// A CLI address as `show cli sockets` prints it.
fn socket_name(addr: &crate::config::model::BindAddr, bound: Option<SocketAddr>) -> String {
    use crate::config::model::BindAddr;
    match (addr, bound) {
        (_, Some(SocketAddr::V4(a))) => format!("ipv4@{a}"),
        (_, Some(SocketAddr::V6(a))) => format!("ipv6@{a}"),
        (BindAddr::Unix(p), None) => format!("unix@{}", p.display()),
        (BindAddr::Abstract(n), None) => format!("abns@{n}"),
        (BindAddr::Fd(fd), None) => format!("fd@{fd}"),
        (BindAddr::Inet(a), None) => format!("{a}"),
    }
}

impl Shared {
    pub fn initial_weight(&self, be: usize, srv: usize) -> u32 {
        self.initial_weights.get(be).and_then(|w| w.get(srv)).copied().unwrap_or(0)
    }
}

/// What a command runs with.
pub struct Exec<'a> {
    pub host: &'a mut dyn Host,
    pub state: &'a mut SessionState,
    pub shared: &'a mut Shared,
    /// The payload given after a line ending with `<<` (for the line's last command).
    pub payload: Option<&'a str>,
    /// Set by `show events <ring> -w`: the session then sends the ring's new lines.
    pub follow: Option<events::Follow>,
    /// The answer is not followed by the empty line that ends the others (HAProxy's
    /// `show events` errors).
    pub bare: bool,
    /// The answer is a message of this syslog severity (3 an error, 6 information):
    /// with `severity-output`, it starts with it.
    pub severity: Option<u8>,
}

impl Exec<'_> {
    /// An error message (HAProxy's `cli_err`): `text`, marked for `severity-output`.
    pub fn err(&mut self, text: impl Into<String>) -> String {
        self.severity = Some(3);
        text.into()
    }

    /// An informational message (HAProxy's `cli_msg(LOG_INFO)`).
    pub fn info(&mut self, text: impl Into<String>) -> String {
        self.severity = Some(6);
        text.into()
    }
}

/// One `stats socket` address, opened.
pub struct CliListener {
    listener: Listener,
    level: CliLevel,
    /// `expose-fd listeners`.
    expose_fd: bool,
    severity_output: crate::config::model::SeverityOutput,
    /// Live sessions accepted here (at most `stats maxconn`).
    sessions: u32,
    /// Connections are waiting while the socket is at its limit.
    blocked: bool,
}

enum Entry {
    Listener(Box<CliListener>),
    Session(Box<Session>),
}

/// Opens every `stats socket` address. On failure, HAProxy's alerts.
pub fn open(global: &Global) -> Result<Vec<CliListener>, Vec<String>> {
    let mut out = Vec::new();
    let mut errors = Vec::new();
    for s in &global.stats_sockets {
        for addr in &s.bind.addrs {
            match Listener::open(&s.bind, addr, usize::MAX, out.len(), None, None) {
                Ok(listener) => out.push(CliListener { listener, level: s.level, expose_fd: s.expose_fd_listeners, severity_output: s.severity_output, sessions: 0, blocked: false }),
                // Worded as a `bind` line's failure; HAProxy's CLI proxy is `GLOBAL`.
                Err(e) => errors.push(format!("Binding [{}] for frontend GLOBAL: {e}", s.bind.location)),
            }
        }
    }
    if errors.is_empty() { Ok(out) } else { Err(errors) }
}

/// The CLI: its sockets and sessions.
pub struct Cli {
    table: GenSlab<Entry>,
    timeout: Duration,
    maxconn: u32,
    shared: Shared,
    next_id: u64,
}

impl Default for Cli {
    fn default() -> Self {
        Cli::new(Vec::new(), Duration::from_secs(10), 10, Vec::new())
    }
}

impl Cli {
    pub fn new(listeners: Vec<CliListener>, timeout: Duration, maxconn: u32, initial_weights: Vec<Vec<u32>>) -> Cli {
        let mut table = GenSlab::with_capacity(listeners.len() + 4);
        let sockets = listeners.iter().map(|l| (socket_name(&l.listener.addr, l.listener.local_addr()), l.level)).collect();
        let socket_fds = listeners.iter().filter_map(|l| Some((l.listener.raw_fd()?, l.listener.local_addr()))).collect();
        for l in listeners {
            table.insert(Entry::Listener(Box::new(l)));
        }
        let shared = Shared { started: (Instant::now(), SystemTime::now()), initial_weights, tainted: false, cli_sessions: Vec::new(), sockets, accepted: 0, socket_fds };
        Cli { table, timeout, maxconn, shared, next_id: CLI_SESSION_IDS }
    }

    /// How many sockets the CLI listens on.
    pub fn socket_count(&self) -> usize {
        self.shared.sockets.len()
    }

    /// Registers the listening sockets with the poller.
    pub fn start(&mut self, cx: &mut Ctx<'_>) {
        for (key, e) in self.table.iter_mut() {
            if let Entry::Listener(l) = e {
                if let Err(e) = l.listener.register_as(cx.registry, token::encode(Kind::Cli, key)) {
                    crate::warning!("could not start the CLI socket: {e}");
                }
            }
        }
    }

    /// Closes the listening sockets (soft stop); sessions finish their answers.
    pub fn close_listeners(&mut self, cx: &mut Ctx<'_>) {
        for (_, e) in self.table.iter_mut() {
            if let Entry::Listener(l) = e {
                l.listener.close(cx.registry);
            }
        }
        // Their numbers may be reused from now on: `_getsocks` and `show fd` forget them.
        self.shared.socket_fds.clear();
    }

    /// A socket event for the CLI token `key`.
    pub fn ready(&mut self, host: &mut dyn Host, key: Key, _ready: Ready) {
        match self.table.get_mut(key) {
            Some(Entry::Listener(_)) => self.accept(host, key),
            Some(Entry::Session(_)) => self.run_session(host, key),
            None => {}
        }
    }

    /// A run-queue wake-up: a listener that was at its limit accepts again.
    /// A parked session (a Lua command) has output or ended.
    pub fn wake(&mut self, host: &mut dyn Host, key: Key) {
        match self.table.get_mut(key) {
            Some(Entry::Listener(_)) => self.accept(host, key),
            Some(Entry::Session(_)) => self.run_session(host, key),
            None => {}
        }
    }

    /// A session's timer: its idle timeout, or the poll of a ring it follows.
    pub fn timer(&mut self, host: &mut dyn Host, key: Key) {
        let Some(Entry::Session(s)) = self.table.get(key) else { return };
        if let Some(at) = s.follow_poll_at() {
            // While following, only the poll timer counts (an idle one firing now is
            // left to lapse).
            if host.now() >= at {
                self.run_session(host, key);
                self.arm_follow(host, key);
            }
            return;
        }
        match s.on_timer(host.now()) {
            Some(next) => host.arm_timer(next, key),
            None => self.close_session(host, key),
        }
    }

    /// Arms the next poll of a session following a ring, or its idle timer again
    /// once it stopped following.
    fn arm_follow(&mut self, host: &mut dyn Host, key: Key) {
        let Some(Entry::Session(s)) = self.table.get_mut(key) else { return };
        let at = if s.following() { s.set_follow_poll(host.now() + session::FOLLOW_POLL) } else { s.deadline() };
        host.arm_timer(at, key);
    }

    fn accept(&mut self, host: &mut dyn Host, lkey: Key) {
        for _ in 0..16 {
            let Some(Entry::Listener(l)) = self.table.get_mut(lkey) else { return };
            if l.sessions >= self.maxconn {
                l.blocked = true; // accepted again when one of its sessions ends
                return;
            }
            let (level, expose_fd, severity_output) = (l.level, l.expose_fd, l.severity_output);
            let luid = lkey.slot + 1;
            let (sock, peer) = match l.listener.accept() {
                Accept::Conn { sock, peer, .. } => (sock, peer),
                Accept::WouldBlock => return,
                Accept::Failed(e) => {
                    ::log::debug!("CLI accept failed: {e}");
                    return;
                }
            };
            l.sessions += 1;
            self.shared.accepted += 1;
            let id = self.next_id;
            self.next_id += 1;
            let key = self.table.vacant_key();
            let mut s = Session::new(sock, id, lkey, luid, peer, level, host.now(), self.timeout);
            s.set_expose_fd(expose_fd);
            s.set_severity_output(severity_output);
            if s.register(host.registry(), token::encode(Kind::Cli, key)).is_err() {
                if let Some(Entry::Listener(l)) = self.table.get_mut(lkey) {
                    l.sessions -= 1;
                }
                continue;
            }
            let deadline = s.deadline();
            if self.table.insert(Entry::Session(Box::new(s))).is_some() {
                host.arm_timer(deadline, key);
            } else if let Some(Entry::Listener(l)) = self.table.get_mut(lkey) {
                l.sessions -= 1; // no slot left for a token: the connection is dropped
            }
        }
        host.wake_cli(lkey); // budget spent: more may be pending
    }

    /// Runs a session as far as its socket allows (it reads and writes until
    /// `WouldBlock`, so the readiness itself is not needed).
    fn run_session(&mut self, host: &mut dyn Host, key: Key) {
        let now = host.now();
        // `show sess` lists the CLI's own sessions too.
        self.shared.cli_sessions = self
            .table
            .iter()
            .filter_map(|(_, e)| match e {
                Entry::Session(s) => Some(s.line(now)),
                Entry::Listener(_) => None,
            })
            .collect();
        let Some(Entry::Session(s)) = self.table.get_mut(key) else { return };
        let alive = s.on_event(now, key, host, &mut self.shared);
        if !alive {
            self.close_session(host, key);
        } else if s.follow_starting() {
            self.arm_follow(host, key);
        }
    }

    fn close_session(&mut self, host: &mut dyn Host, key: Key) {
        let Some(Entry::Session(mut s)) = self.table.remove(key) else { return };
        s.deregister(host.registry());
        if let Some(task) = s.lua_task() {
            host.lua_cli_abort(task);
        }
        let lkey = s.listener();
        if let Some(Entry::Listener(l)) = self.table.get_mut(lkey) {
            l.sessions -= 1;
            if l.blocked {
                l.blocked = false;
                host.wake_cli(lkey);
            }
        }
    }
}
