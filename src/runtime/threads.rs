//! `nbthread N`: N reactor threads in one process, sharing nothing but the listening
//! sockets' accept queues and a mailbox each.
//!
//! Thread 1 is the thread that called [`super::run`]: it opened every socket, it owns
//! the signal pipe, the CLI sockets and the health checks. Threads 2..N are spawned by
//! [`spawn`] once the process has detached; each builds its own world from the
//! configuration (proxies, backends, loggers, and a Lua state that runs every
//! `lua-load` file again, as HAProxy's `lua-load-per-thread` does), registers its own
//! copy (`dup`) of every listening socket in its own poller, and runs its own
//! [`crate::reactor::Reactor`]. A connection goes to the thread whose `accept()` wins;
//! the others see `WouldBlock`.
//!
//! What must stay the same on every thread travels as [`Msg`]s through the threads'
//! [`Mailbox`]es (a queue, a condition variable and the reactor's [`mio::Waker`]):
//! - signals, read by thread 1 and sent to the others (stop, soft stop, pause, resume);
//! - server changes (CLI, Lua `Server` methods, health-check results), so every thread
//!   routes the same way;
//! - frontends paused, resumed or stopped, `shutdown sessions server`, `clear counters`,
//!   `set maxconn global`;
//! - requests for statistics: a thread that needs the process's figures (`show stat`,
//!   `show info`, the stats page, the Prometheus exporter) asks every other thread
//!   ([`Local::ask`]) and waits at most [`ASK_TIMEOUT`] for the answers. While it waits it
//!   answers the requests it receives itself, so two threads asking each other at the
//!   same time cannot deadlock.
//!
//! The process exits once every thread has left its loop (a soft stop waits for the
//! streams of every thread); the exit code is the largest of the threads'.

use super::world::{ProxyLog, World};
use super::{compile_log_formats, pool, RunOptions};
use crate::config::model::{Config, LuaDirective};
use crate::listener::Listener;
use crate::log::{LogIdentity, Logger};
use crate::lua::host::ServerOp;
use crate::reactor::{token, Reactor};
use crate::stats::snapshot::{self, Row, View};
use crate::stream::proxy::{build_proxies, ProxyRt};
use crate::stream::ServerPool;
use crate::sys::signals::Signal;
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{mpsc, Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long a thread waits for the others' statistics before answering with what it has.
pub const ASK_TIMEOUT: Duration = Duration::from_secs(1);

/// What one reactor thread tells another.
#[derive(Debug)]
pub enum Msg {
    /// A signal thread 1 received.
    Signal(Signal),
    /// A change made to a server on another thread, to make here too (quietly: the
    /// thread that made it logged it).
    Server { be: usize, srv: usize, op: ServerOp },
    /// A frontend paused, resumed or stopped on another thread (CLI `disable frontend`,
    /// Lua `Proxy` methods), to do here too, quietly.
    Proxy { px: usize, op: crate::lua::host::ProxyOp },
    /// CLI `shutdown sessions server`: the streams of this server, on this thread too.
    KillServerStreams { be: usize, srv: usize },
    /// `clear counters [all]`.
    ClearCounters { all: bool },
    /// CLI `add server`: the same server added here, with the same id and `puid`.
    AddServer { be: usize, conf: Box<crate::config::model::Server>, puid: u32, ready: bool },
    /// CLI `del server`: the server deleted here too.
    DelServer { be: usize, srv: usize },
    /// CLI `enable|disable dynamic-cookie`, `set dynamic-cookie-key`.
    DynamicCookie { be: usize, op: crate::http::persist::DynamicCookieOp },
    /// `set maxconn global`: this thread's share of the new limit.
    Maxconn(u32),
    /// A thread asks for this thread's figures; the answer goes to `from`'s mailbox.
    Ask { from: usize, serial: u64, what: Ask },
    /// The answer to an [`Msg::Ask`].
    Answer { from: usize, serial: u64, answer: Answer },
    /// Thread `n` left its loop (sent to thread 1, which leaves last).
    Exited(usize),
}

/// What a thread can ask the others.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ask {
    /// Every statistics row (`View::legends`, `View::with_disabled`).
    Rows { legends: bool, with_disabled: bool },
    /// The process figures of `show info`.
    Totals,
    /// Nothing: the answer means every message posted before was handled ([`barrier`]).
    Barrier,
    /// Whether a server has connections (established, queued or idle) on the thread
    /// (`del server`).
    ServerBusy { be: usize, srv: usize },
}

#[derive(Debug)]
pub enum Answer {
    Rows(Vec<Row>),
    Totals(Totals),
    Done,
    Busy(bool),
}

/// A thread's share of `show info`'s process figures.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    /// Live client connections.
    pub actconn: u32,
    /// Connections accepted since start (frontends' `cum_fe`).
    pub cum_conns: u64,
    /// HTTP requests since start.
    pub cum_req: u64,
}

impl Totals {
    /// This thread's figures, from its proxies.
    pub fn of(proxies: &[ProxyRt]) -> Totals {
        let fe = || proxies.iter().filter(|p| p.cap.frontend);
        Totals {
            actconn: fe().map(|p| p.feconn).sum(),
            cum_conns: fe().map(|p| p.cum_fe).sum(),
            cum_req: fe().map(|p| p.counters.fe.req_tot).sum(),
        }
    }
}

/// The answer to `what` from this thread's tables.
pub fn respond(what: Ask, proxies: &[ProxyRt], pool: &dyn ServerPool, now: Instant) -> Answer {
    match what {
        Ask::Rows { legends, with_disabled } => {
            let view = View { legends, with_disabled, ..View::new(proxies, pool, now) };
            Answer::Rows(snapshot::local_rows(&view, &|_, _| true))
        }
        Ask::Totals => Answer::Totals(Totals::of(proxies)),
        Ask::Barrier => Answer::Done,
        Ask::ServerBusy { be, srv } => Answer::Busy(server_busy(pool, be, srv)),
    }
}

/// Whether server `srv` of backend `be` holds connections on this thread: established
/// or being established, waiting in its queue, or idle.
pub fn server_busy(pool: &dyn ServerPool, be: usize, srv: usize) -> bool {
    let queued = pool.backend_state(be).and_then(|b| b.servers().get(srv)).is_some_and(|s| s.queue_len() > 0);
    pool.server_conns(be, srv) > 0 || pool.idle_conns(be, srv) > 0 || queued
}

/// [`server_busy`] on any thread (thread 1, for `del server`).
pub fn server_busy_anywhere(proxies: &[ProxyRt], pool: &dyn ServerPool, now: Instant, be: usize, srv: usize) -> bool {
    if server_busy(pool, be, srv) {
        return true;
    }
    let Some(l) = local() else { return false };
    l.ask(Ask::ServerBusy { be, srv }, &|what| respond(what, proxies, pool, now)).iter().any(|(_, a)| matches!(a, Answer::Busy(true)))
}

/// Waits (at most [`ASK_TIMEOUT`]) until every other thread handled the messages this
/// thread sent it so far: after `disable frontend` or `set server ... state maint`, the
/// command answers once no thread accepts or routes the old way any more. Thread 1 only
/// (where the CLI runs): the others' Lua changes are not waited for, since thread 1 may
/// still be starting and not answering.
pub fn barrier(proxies: &[ProxyRt], pool: &dyn ServerPool, now: Instant) {
    if let Some(l) = local().filter(|l| l.number == 1) {
        l.ask(Ask::Barrier, &|what| respond(what, proxies, pool, now));
    }
}

/// One thread's inbox.
struct Mailbox {
    queue: Mutex<VecDeque<Msg>>,
    /// Signalled on every post, for a thread waiting in [`Local::ask`].
    posted: Condvar,
    /// Wakes the thread's reactor; set once the thread created its poller (messages
    /// posted before wait in the queue, drained when the reactor starts).
    waker: OnceLock<mio::Waker>,
}

impl Mailbox {
    fn lock(&self) -> MutexGuard<'_, VecDeque<Msg>> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Every thread's mailbox and load, indexed by thread number - 1.
pub struct Hub {
    boxes: Vec<Mailbox>,
    /// Live client connections per thread, for [`should_accept`].
    load: Vec<AtomicU32>,
}

impl Hub {
    pub fn new(threads: usize) -> Arc<Hub> {
        let boxes = (0..threads.max(1))
            .map(|_| Mailbox { queue: Mutex::new(VecDeque::new()), posted: Condvar::new(), waker: OnceLock::new() })
            .collect();
        let load = (0..threads.max(1)).map(|_| AtomicU32::new(0)).collect();
        Arc::new(Hub { boxes, load })
    }

    pub fn threads(&self) -> usize {
        self.boxes.len()
    }

    /// Queues `msg` for thread `to` (from 1) and wakes it.
    pub fn post(&self, to: usize, msg: Msg) {
        let Some(mb) = self.boxes.get(to.wrapping_sub(1)) else { return };
        mb.lock().push_back(msg);
        mb.posted.notify_all();
        if let Some(w) = mb.waker.get() {
            let _ = w.wake();
        }
    }
}

/// This thread's place among the threads (installed by [`install`]).
pub struct Local {
    /// From 1.
    number: usize,
    hub: Arc<Hub>,
    serial: Cell<u64>,
    /// Messages received while waiting for answers, for the reactor to handle.
    held: RefCell<Vec<Msg>>,
    /// The process's global `maxconn` and the most `set maxconn global` may set (what
    /// thread 1 reports; each thread enforces its [`share`]).
    maxconn: Cell<(u32, u32)>,
    /// The other threads' figures, as asked at this reactor time ([`process_totals`]).
    totals: Cell<Option<(Instant, Totals)>>,
}

thread_local! {
    static LOCAL: RefCell<Option<Rc<Local>>> = const { RefCell::new(None) };
}

/// This thread's [`Local`], if the process has several threads.
pub fn local() -> Option<Rc<Local>> {
    LOCAL.with(|l| l.borrow().clone())
}

/// Makes this thread thread `number` of `hub`: its mailbox wakes `registry`'s poller,
/// and the statistics it reports add up the other threads'.
pub fn install(hub: Arc<Hub>, number: usize, registry: &mio::Registry, maxconn: u32) -> std::io::Result<()> {
    let waker = mio::Waker::new(registry, token::MAILBOX)?;
    let mb = &hub.boxes[number - 1];
    let _ = mb.waker.set(waker);
    if !mb.lock().is_empty() {
        if let Some(w) = mb.waker.get() {
            w.wake()?; // posted before the waker existed
        }
    }
    let local = Rc::new(Local { number, hub, serial: Cell::new(0), held: RefCell::new(Vec::new()), maxconn: Cell::new((maxconn, maxconn)), totals: Cell::new(None) });
    snapshot::set_peers(Some(local.clone()));
    LOCAL.with(|l| *l.borrow_mut() = Some(local));
    Ok(())
}

/// Publishes this thread's live connections (once per reactor iteration).
pub fn publish_load(actconn: u32) {
    if let Some(l) = local() {
        l.hub.load[l.number - 1].store(actconn, Ordering::Relaxed);
    }
}

/// Whether this thread, holding `actconn` connections, should take the next connection
/// of a shared accept queue: every thread is woken for it, and the one with the fewest
/// connections takes it (ties: whoever comes first). A thread that passes comes back a
/// few milliseconds later (`ACCEPT_REBALANCE` in `world.rs`) and then takes one
/// connection whatever the loads, so none is left behind when the other thread is slow
/// to wake or the loads changed meanwhile.
pub fn should_accept(actconn: u32) -> bool {
    let Some(l) = local() else { return true };
    let me = l.number - 1;
    l.hub.load[me].store(actconn, Ordering::Relaxed);
    l.hub.load.iter().enumerate().all(|(i, n)| i == me || n.load(Ordering::Relaxed) >= actconn)
}

/// Sends `msg()` to every other thread (nothing with one thread).
pub fn broadcast(msg: impl Fn() -> Msg) {
    if let Some(l) = local() {
        for to in (1..=l.hub.threads()).filter(|&t| t != l.number) {
            l.hub.post(to, msg());
        }
    }
}

/// The messages waiting for this thread, oldest first.
pub fn take_messages() -> Vec<Msg> {
    let Some(l) = local() else { return Vec::new() };
    let mut out = std::mem::take(&mut *l.held.borrow_mut());
    out.extend(l.hub.boxes[l.number - 1].lock().drain(..));
    out
}

/// Sends `answer` to thread `to`, which asked with `serial`.
pub fn reply(to: usize, serial: u64, answer: Answer) {
    if let Some(l) = local() {
        l.hub.post(to, Msg::Answer { from: l.number, serial, answer });
    }
}

/// `set maxconn global <maxconn>` (for the process): gives every other thread its share
/// and returns this thread's (all of it with one thread).
pub fn set_global_maxconn(maxconn: u32) -> u32 {
    let Some(l) = local() else { return maxconn };
    l.maxconn.set((maxconn, l.maxconn.get().1));
    let n = l.hub.threads();
    for to in (1..=n).filter(|&t| t != l.number) {
        l.hub.post(to, Msg::Maxconn(share(maxconn, n, to)));
    }
    share(maxconn, n, l.number)
}

/// The process's `show info` figures: this thread's plus the others'. The other
/// threads are asked once per reactor iteration (`now`): `show info` reads its fields
/// one by one.
pub fn process_totals(proxies: &[ProxyRt], pool: &dyn ServerPool, now: Instant) -> Totals {
    let mut t = Totals::of(proxies);
    let Some(l) = local() else { return t };
    let others = match l.totals.get() {
        Some((at, others)) if at == now => others,
        _ => {
            let mut others = Totals::default();
            for (_, a) in l.ask(Ask::Totals, &|what| respond(what, proxies, pool, now)) {
                if let Answer::Totals(o) = a {
                    others.actconn += o.actconn;
                    others.cum_conns += o.cum_conns;
                    others.cum_req += o.cum_req;
                }
            }
            l.totals.set(Some((now, others)));
            others
        }
    };
    t.actconn += others.actconn;
    t.cum_conns += others.cum_conns;
    t.cum_req += others.cum_req;
    t
}

/// The number of reactor threads (1 when `nbthread` is not set).
pub fn count(config: &Config) -> usize {
    config.global.nbthread.max(1) as usize
}

/// What `core.thread` says on thread `number`: 0 (HAProxy's shared state) when one thread
/// runs only `lua-load` files, else the thread's number.
pub fn lua_thread_id(config: &Config, number: usize) -> i64 {
    let per_thread = config.global.lua.directives.iter().any(|d| matches!(d, LuaDirective::Load { per_thread: true, .. }));
    if count(config) == 1 && !per_thread { 0 } else { number as i64 }
}

/// Before anything Lua runs on the main thread (thread 1): what its `core.thread` says,
/// and the notice that Lua globals are per thread.
pub fn prepare(config: &Config) {
    crate::lua::api::core::set_thread_id(lua_thread_id(config, 1));
    if count(config) > 1 && !config.global.lua.directives.is_empty() {
        crate::notice!(
            "nbthread {}: each thread runs the lua-load files in its own Lua state; globals are per thread (lua-load-per-thread semantics).",
            count(config)
        );
    }
}

/// Thread `number`'s share of a process-wide connection limit: `maxconn` is split so that
/// the threads together accept `maxconn` connections (at least one each).
pub fn share(maxconn: u32, threads: usize, number: usize) -> u32 {
    let n = threads.max(1) as u32;
    let k = (number.max(1) - 1) as u32;
    (maxconn / n + u32::from(k < maxconn % n)).max(1)
}

/// Pins the calling thread to its `cpu-map` CPUs (`crate::sys::affinity`), called on
/// each thread with its number (1..N) before its reactor starts.
pub fn pin(config: &Config, number: usize) {
    crate::sys::affinity::apply(&config.global.process, number as u32);
}

impl Local {
    pub fn number(&self) -> usize {
        self.number
    }

    /// How many reactor threads the process runs.
    pub fn threads(&self) -> usize {
        self.hub.threads()
    }

    /// The process's global `maxconn` and its ceiling (`show info`'s `Maxconn`,
    /// `Hard_maxconn`).
    pub fn maxconn(&self) -> (u32, u32) {
        self.maxconn.get()
    }

    /// Asks every other thread for `what` and waits (at most [`ASK_TIMEOUT`]) for their
    /// answers, answering with `respond` the requests this thread receives meanwhile.
    /// Returns `(thread number, answer)` in thread order; a thread that did not answer
    /// in time is missing.
    pub fn ask(&self, what: Ask, respond: &dyn Fn(Ask) -> Answer) -> Vec<(usize, Answer)> {
        let serial = self.serial.get() + 1;
        self.serial.set(serial);
        let others = self.hub.threads() - 1;
        for to in (1..=self.hub.threads()).filter(|&t| t != self.number) {
            self.hub.post(to, Msg::Ask { from: self.number, serial, what });
        }
        let mb = &self.hub.boxes[self.number - 1];
        let deadline = Instant::now() + ASK_TIMEOUT;
        let mut got = Vec::new();
        while got.len() < others {
            let batch: Vec<Msg> = {
                let mut q = mb.lock();
                loop {
                    if !q.is_empty() {
                        break q.drain(..).collect();
                    }
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        break Vec::new();
                    }
                    q = mb.posted.wait_timeout(q, left).unwrap_or_else(|e| e.into_inner()).0;
                }
            };
            if batch.is_empty() {
                crate::warning!("thread {}: {} of {others} threads did not answer within {ASK_TIMEOUT:?}.", self.number, others - got.len());
                break;
            }
            for m in batch {
                match m {
                    Msg::Answer { from, serial: s, answer } if s == serial => got.push((from, answer)),
                    Msg::Answer { .. } => {} // a late answer to an earlier question
                    Msg::Ask { from, serial, what } => self.hub.post(from, Msg::Answer { from: self.number, serial, answer: respond(what) }),
                    other => self.held.borrow_mut().push(other),
                }
            }
        }
        if !self.held.borrow().is_empty() {
            // The reactor's wake-up for these may have been consumed already.
            if let Some(w) = mb.waker.get() {
                let _ = w.wake();
            }
        }
        got.sort_by_key(|(from, _)| *from);
        got
    }
}

impl snapshot::Peers for Local {
    fn is_base(&self) -> bool {
        self.number == 1
    }

    fn rows(&self, view: &View<'_>) -> Vec<(bool, Vec<Row>)> {
        let what = Ask::Rows { legends: view.legends, with_disabled: view.with_disabled };
        self.ask(what, &|what| respond(what, view.proxies, view.pool, view.now))
            .into_iter()
            .filter_map(|(from, a)| match a {
                Answer::Rows(rows) => Some((from == 1, rows)),
                Answer::Totals(_) | Answer::Done | Answer::Busy(_) => None,
            })
            .collect()
    }
}

/// What a spawned thread reports once its world is built (or why it could not be).
type Ready = Result<(), String>;

/// The threads 2..N, running.
pub struct Spawned {
    handles: Vec<(usize, JoinHandle<std::io::Result<i32>>)>,
    ready: mpsc::Receiver<(usize, Ready)>,
    hub: Arc<Hub>,
}

/// Starts threads 2..N of `hub`, each with a copy of every listener in `listeners` (which
/// thread 1 keeps). Nothing is started with one thread.
pub fn spawn(hub: &Arc<Hub>, config: &Config, opts: &RunOptions, listeners: &[Listener]) -> std::io::Result<Spawned> {
    let (tx, ready) = mpsc::channel();
    let mut spawned = Spawned { handles: Vec::new(), ready, hub: hub.clone() };
    let config = Arc::new(config.clone());
    for number in 2..=hub.threads() {
        let copies = listeners.iter().map(Listener::try_clone).collect::<std::io::Result<Vec<_>>>()?;
        let (config, opts, hub, tx) = (config.clone(), opts.clone(), hub.clone(), tx.clone());
        let handle = std::thread::Builder::new()
            .name(format!("moonproxy-{number}"))
            .spawn(move || thread_main(number, &config, &opts, copies, hub, tx))?;
        spawned.handles.push((number, handle));
    }
    Ok(spawned)
}

impl Spawned {
    /// Waits until every spawned thread built its world; the first failure, if any.
    pub fn wait_ready(&self) -> Result<(), String> {
        for _ in 0..self.handles.len() {
            match self.ready.recv() {
                Ok((_, Ok(()))) => {}
                Ok((number, Err(e))) => return Err(format!("thread {number}: {e}")),
                Err(_) => return Err("a thread ended while starting".into()),
            }
        }
        Ok(())
    }

    /// Tells every thread to stop now (start-up failed elsewhere).
    pub fn stop_all(&self) {
        for (number, _) in &self.handles {
            self.hub.post(*number, Msg::Signal(Signal::Stop));
        }
    }

    /// Waits for every thread to leave its loop; `code` is thread 1's exit code, the
    /// result the largest of all.
    pub fn join(self, code: i32) -> i32 {
        let mut code = code;
        for (number, h) in self.handles {
            let c = match h.join() {
                Ok(Ok(c)) => c,
                Ok(Err(e)) => {
                    crate::alert!("thread {number}: reactor failure: {e}");
                    1
                }
                Err(_) => {
                    crate::alert!("thread {number} panicked.");
                    1
                }
            };
            code = code.max(c);
        }
        code
    }
}

/// The life of thread `number` (2..N): build its world, report, run.
fn thread_main(number: usize, config: &Config, opts: &RunOptions, listeners: Vec<Listener>, hub: Arc<Hub>, ready: mpsc::Sender<(usize, Ready)>) -> std::io::Result<i32> {
    pin(config, number);
    super::proc_vars::init(config);
    let (mut reactor, mut world) = match build(number, config, opts, listeners, hub.clone()) {
        Ok(built) => built,
        Err(e) => {
            let _ = ready.send((number, Err(e)));
            return Ok(1);
        }
    };
    let _ = ready.send((number, Ok(())));
    drop(ready);
    let code = reactor.run(&mut world);
    drop(world); // this thread's sockets and Lua state
    hub.post(1, Msg::Exited(number));
    code
}

/// Builds the world of thread `number` (2..N) as thread 1's was built from the same
/// configuration, which thread 1 already checked.
fn build(number: usize, config: &Config, opts: &RunOptions, listeners: Vec<Listener>, hub: Arc<Hub>) -> Result<(Reactor, World), String> {
    let engine = boot_lua(number, config, opts)?;
    let proxies = build_proxies(config).map_err(|e| e.join("; "))?;
    let formats = compile_log_formats(config).map_err(|e| e.join("; "))?;
    let farm = farm(config);
    let mut reactor = Reactor::new().map_err(|e| e.to_string())?;
    let g = &config.global;
    let threads = count(config);
    let total = g.maxconn.unwrap_or(1024); // set by `run` from the fd limit
    install(hub, number, reactor.registry(), total).map_err(|e| e.to_string())?;
    let maxconn = share(total, threads, number);
    let identity = Arc::new(LogIdentity::from_global(g));
    let logs = proxy_logs(config, &formats, &identity);
    let mut proxies = proxies;
    attach_log_samples(&mut proxies, &formats);
    attach_sd_samples(&mut proxies, config);
    let checks = super::checks::Checks::build(&farm).with_pp2_never_send_local(g.tuning.pp2_never_send_local);
    let mut world = World::new(proxies, farm, listeners, checks, logs, None, g.bufsize, g.maxaccept, maxconn, g.hard_stop_after);
    world.debug = opts.debug;
    world.http_maxhdr = g.http_maxhdr;
    world.set_h2_tuning(&g.tuning);
    world.set_thread(number, threads);
    world.set_accept_rates(crate::listener::rate::AcceptRates::for_thread(config, threads, number, Instant::now()));
    world.set_stop_pacing(g.tuning.grace, g.tuning.close_spread_time);
    if let Some(len) = g.tuning.http_logurilen {
        world.log_uri_len = len;
    }
    crate::stats::prometheus::set_process_info(crate::stats::prometheus::ProcessInfo {
        nbthread: threads as u32,
        maxconn: total,
        hard_maxconn: total,
        listeners: world.listeners.len(),
        started: (Instant::now(), std::time::SystemTime::now()),
    });
    if let Some(engine) = engine {
        engine.set_logger(Logger::new(&g.logs, identity.clone()));
        world.start_lua(&mut reactor.ctx(), engine)?;
    }
    let mut cx = reactor.ctx();
    world.sync_listeners(&mut cx);
    if let Some(lua) = &mut world.lua {
        lua.spawn_new(&mut cx);
    }
    Ok((reactor, world))
}

/// Thread `number`'s own Lua state, loaded from every `lua-load` file (which thread 1
/// already ran and checked).
fn boot_lua(number: usize, config: &Config, opts: &RunOptions) -> Result<Option<crate::lua::api::core::Engine>, String> {
    if config.global.lua.directives.is_empty() {
        return Ok(None);
    }
    crate::lua::api::core::set_thread_id(lua_thread_id(config, number));
    crate::lua::api::world::set_topology(crate::lua::api::world::Topology::from_config(config));
    let eopts = crate::lua::api::core::EngineOptions { quiet: opts.quiet && !opts.verbose, debug: opts.debug };
    let engine = crate::lua::api::core::Engine::new(&config.global.lua, eopts).map_err(|e| format!("Lua init: {e}."))?;
    engine.load_files()?;
    let _ = engine.take_warnings(); // thread 1 printed them
    crate::lua::api::fetches::install();
    Ok(Some(engine))
}

/// The backends of `config`, as [`super::run`] builds them for thread 1.
fn farm(config: &Config) -> pool::Farm {
    let mut farm = pool::Farm::from_config(config);
    super::server_state::apply_quietly(config, &mut farm.backends);
    crate::backend::track::inherit_admin_states(&mut farm.backends);
    farm
}

/// Per proxy: its loggers and compiled format.
pub(super) fn proxy_logs(config: &Config, formats: &[Option<crate::log::LogFormat>], identity: &Arc<LogIdentity>) -> Vec<ProxyLog> {
    config
        .proxies
        .iter()
        .zip(formats)
        .map(|(p, format)| {
            // `log-tag` in the proxy: its own identity.
            let identity = match &p.log_tag {
                Some(tag) => Arc::new(LogIdentity { tag: tag.clone(), ..LogIdentity::clone(identity) }),
                None => identity.clone(),
            };
            let sd = p.log_format_sd.as_deref().and_then(|f| crate::log::LogFormat::compile_for(f, p.mode).ok());
            ProxyLog { logger: Logger::new(&p.logs, identity), format: format.clone(), sd }
        })
        .collect()
}

/// The proxies whose `log-format-sd` reads samples keep a compiled copy for the
/// streams, which evaluate it into `StreamLog::sd_samples`.
pub(super) fn attach_sd_samples(proxies: &mut [ProxyRt], config: &Config) {
    for (p, conf) in proxies.iter_mut().zip(&config.proxies) {
        let sd = conf.log_format_sd.as_deref().and_then(|f| crate::log::LogFormat::compile_for(f, conf.mode).ok());
        p.log_sd_samples = sd.filter(|f| f.has_samples()).map(Arc::new);
    }
}

/// The proxies whose format reads samples keep a copy for the streams.
pub(super) fn attach_log_samples(proxies: &mut [ProxyRt], formats: &[Option<crate::log::LogFormat>]) {
    for (p, format) in proxies.iter_mut().zip(formats) {
        p.log_samples = format.as_ref().filter(|f| f.has_samples()).map(|f| Arc::new(f.clone()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_add_up_to_the_limit() {
        for (maxconn, n) in [(100, 2), (101, 2), (7, 3), (1_000_000, 4)] {
            let total: u32 = (1..=n).map(|k| share(maxconn, n, k)).sum();
            assert_eq!(total, maxconn, "maxconn {maxconn} over {n} threads");
        }
        assert_eq!(share(1, 2, 2), 1, "every thread may accept at least one connection");
        assert_eq!(share(50, 1, 1), 50);
    }

    #[test]
    fn the_least_loaded_thread_takes_the_next_connection() {
        let hub = Hub::new(2);
        let poll = mio::Poll::new().unwrap();
        install(hub.clone(), 1, poll.registry(), 100).unwrap();
        hub.load[1].store(3, Ordering::Relaxed);
        assert!(should_accept(2));
        assert!(should_accept(3), "a tie: whoever comes first");
        assert!(!should_accept(4));
        assert_eq!(hub.load[0].load(Ordering::Relaxed), 4, "the check publishes this thread's load");
        snapshot::set_peers(None);
    }

    #[test]
    fn a_question_is_answered_by_every_other_thread_and_waiting_threads_answer_too() {
        let hub = Hub::new(3);
        let poll = mio::Poll::new().unwrap();
        // Threads 2 and 3 answer from plain loops (no reactor): 2 by draining its queue,
        // 3 by asking thread 2 itself while thread 1 asks everyone.
        let answerer = |number: usize, hub: Arc<Hub>| {
            std::thread::spawn(move || {
                let p = mio::Poll::new().unwrap();
                install(hub.clone(), number, p.registry(), 100).unwrap();
                let me = local().unwrap();
                let deadline = Instant::now() + Duration::from_secs(5);
                let mut answered = 0;
                let expected = if number == 2 { 2 } else { 1 };
                if number == 3 {
                    let got = me.ask(Ask::Totals, &|_| Answer::Totals(Totals { actconn: 3, ..Totals::default() }));
                    assert_eq!(got.len(), 2, "thread 3 heard from 1 and 2");
                    answered += 1;
                }
                while answered < expected && Instant::now() < deadline {
                    for m in take_messages() {
                        if let Msg::Ask { from, serial, .. } = m {
                            reply(from, serial, Answer::Totals(Totals { actconn: number as u32, ..Totals::default() }));
                            answered += 1;
                        }
                    }
                    std::thread::sleep(Duration::from_millis(5));
                }
            })
        };
        install(hub.clone(), 1, poll.registry(), 100).unwrap();
        let t2 = answerer(2, hub.clone());
        let t3 = answerer(3, hub.clone());
        let me = local().unwrap();
        let got = me.ask(Ask::Totals, &|_| Answer::Totals(Totals { actconn: 1, ..Totals::default() }));
        let actconn: Vec<_> = got.iter().map(|(n, a)| (*n, matches!(a, Answer::Totals(t) if t.actconn as usize == *n))).collect();
        assert_eq!(actconn, vec![(2, true), (3, true)]);
        t2.join().unwrap();
        t3.join().unwrap();
        snapshot::set_peers(None);
    }
}
