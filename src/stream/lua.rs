//! The stream side of Lua: `lua.<name>` actions run in the stream's Lua context, and
//! the stream's Lua fetches and converters share it.
//!
//! A stream without Lua pays one `None` ([`super::Stream::lua`]). A [`StreamLua`] is
//! made at the first action (or, when the Lua files registered fetches or converters,
//! when the stream first runs: [`enter`]); the stream's first Lua call then makes its
//! thread, a [`Handle`] in the state's handle table (the identity the stream's `TXN`
//! holds, `crate::lua::api::txn`) and the `TXN` itself, kept in the registry. Every
//! action, fetch and converter of the stream runs on that thread, one call at a time
//! (HAProxy's per-stream Lua context): an action call is `fn(txn, args...)` on it; a call
//! that failed or was abandoned leaves it reset (`Task::reuse`, `doc/lua-ffi.md` C6),
//! and the budgets count per call. The thread and the `TXN` live in a table by stream
//! key ([`THREADS`]) where a fetch, which only sees its expression's context, finds them
//! through the key of the stream being run ([`enter`]/[`leave`]). The coroutine is
//! resumed inside [`host::enter`] with the stream as the host's [`StreamView`]
//! ([`ActionView`]: the transaction, the variables, the rule context), and inside
//! `socket::running_as(Waiter::Stream(key))` so a socket call knows whom to wake.
//!
//! A fetch or converter that a rule evaluates may wait too (beyond HAProxy): it yields
//! on the stream's thread, which stays *parked* with it ([`park`]) while the rule list
//! waits at the rule; the rule's next evaluation resumes it ([`unpark`]) and takes the
//! results its other calls got before ([`take_kept`]); `doc/lifetime-of-a-stream.md`
//! ("Lua fetches and converters in rules").
//!
//! What the resume gives decides what the rule list does ([`LuaStep`]):
//! - a sleep (`core.sleep`/`msleep`): the stream's state deadline is the wake-up time,
//!   and the rule list stays on the action ([`LuaStep::Wait`]); a forced yield or
//!   `core.yield()`: the run queue; a socket call: the socket's completion;
//! - when the stream is called again, [`run_action`] with no new action resumes the
//!   coroutine where it stopped (an early wake-up, e.g. client data, resumes nothing);
//! - the function's return value, HAProxy's `act.*` constants: `act.CONTINUE` (or no
//!   value) goes on with the next rule, `act.STOP` ends the list, `act.YIELD` runs the
//!   action again from the start at the next iteration, `act.DENY` denies (403 on the
//!   request, 502 on the response), `act.ERROR` is an internal error (500), `act.INVALID`
//!   a bad request (400; 502 on the response), `act.DONE` ends the list as `act.STOP`
//!   does, `act.ABORT` answers 503 (HAProxy 2.6's answers, verified); `txn:done()` closes
//!   the stream without an answer;
//! - an error: logged as HAProxy logs it (`Lua function 'NAME': [state-id 0] runtime
//!   error: <msg> from <traceback>.`), and the rules go on.
//!
//! When the stream ends, [`StreamLua`] drops: the handle is removed (a `TXN` kept by a
//! script now raises `TXN object no longer valid`), an action in progress is abandoned
//! (its sockets forget it; a full collection follows a call that used sockets), and the
//! thread, reset, waits in [`SPARE`] for another stream.
use super::analysers::WaitFor;
use super::proxy::ProxyRt;
use crate::http::rules::{self, LuaAction, RuleCtx, RuleEnv, Verdict};
use crate::http::txn::Txn;
use crate::lua::api::channel::ChannelIo;
use crate::lua::api::core::{core, from_clause, runtime_error};
use crate::lua::api::socket::{self, Waiter};
use crate::lua::host::{self, Host, StreamView, WorldView};
use crate::lua::{Handle, RegistryRef, Resume, Task, Value, WaitReason};
use crate::reactor::{Ctx, Key};
use crate::sample::{Expr, Sample, VarName};
use std::cell::{Cell, RefCell};
use std::os::raw::c_int;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;

/// HAProxy's `act.*` values (`hlua_action` return codes).
pub mod act {
    pub const CONTINUE: i64 = 0;
    pub const STOP: i64 = 1;
    pub const YIELD: i64 = 2;
    pub const ERROR: i64 = 3;
    pub const DONE: i64 = 4;
    pub const DENY: i64 = 5;
    pub const ABORT: i64 = 6;
    pub const INVALID: i64 = 7;
}

/// The Lua context of one stream: what the stream owns (the action in progress); the
/// thread and the `TXN` live in [`THREADS`] under the stream's key, where the stream's
/// fetches and converters find them too.
pub struct StreamLua {
    key: Key,
    /// The transaction's Lua filters (`filter lua.<name>`, `super::filter`), which
    /// share the stream's Lua context (boxed here, the stream itself stays small).
    pub(super) filters: Option<Box<super::filter::StreamFilters>>,
    call: Option<Call>,
    /// An action that returned `act.YIELD`: it runs again from the start.
    restart: Option<Arc<LuaAction>>,
    /// Not before this time, when it called `act.wake_time(ms)`.
    restart_at: Option<Instant>,
}

/// An action in progress.
struct Call {
    /// The stream's thread, lent to the action until it ends ([`StreamLua::end_call`]).
    task: Task,
    handle: Handle,
    action: Arc<LuaAction>,
    /// Values on the coroutine's stack for the next resume.
    nargs: c_int,
    wait: Wait,
    /// When the call started (`show lua tasks`).
    started: Instant,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Wait {
    /// Resume at the next call (the run queue woke the stream).
    Run,
    Sleep(Instant),
    /// A socket call: resumed by its completion ([`StreamLua::complete`]).
    Io,
}

/// The Lua thread of a stream and its `TXN`, made at the stream's first Lua call.
struct Thread {
    /// The identity the stream's `TXN` holds; removed when the stream ends.
    handle: Handle,
    txn: Rc<RegistryRef>,
    /// The coroutine, when no call runs on it.
    task: Option<Task>,
    /// A fetch or converter of a rule that waits, holding the coroutine.
    parked: Option<Parked>,
    /// When it parked (`show lua tasks`).
    parked_at: Option<Instant>,
    /// The results of the fetches and converters of the rule being evaluated, in the
    /// order they completed ([`keep`]), while a later call of the rule is parked.
    kept: Vec<Kept>,
}

/// A result kept for a rule's next evaluations.
struct Kept {
    site: FetchSite,
    result: Option<Sample>,
    /// The evaluation that last used it (`crate::sample::lua::evaluation`).
    used: u64,
}

/// A Lua fetch or converter call of a rule, as the rule's next evaluation finds it
/// again: the function and its arguments (equality: the call site). A converter's
/// input is not part of it: a value that changed between two evaluations (`date`)
/// still finds its call, which keeps the input it started with.
#[derive(Clone, Debug)]
pub(crate) struct FetchSite {
    pub conv: bool,
    pub name: String,
    pub args: Vec<String>,
    /// A converter's input.
    pub input: Option<Sample>,
}

impl PartialEq for FetchSite {
    fn eq(&self, other: &FetchSite) -> bool {
        self.conv == other.conv && self.name == other.name && self.args == other.args
    }
}

/// A fetch or converter that yielded inside a rule (`crate::sample::lua::in_rule`).
pub(crate) struct Parked {
    pub site: FetchSite,
    pub lent: Lent,
    /// Values on the coroutine's stack for the next resume (a socket call's results).
    pub nargs: c_int,
    wait: Wait,
}

/// What a rule's Lua call finds of its stream's parked call ([`unpark`]).
pub(crate) enum Unpark {
    /// None parked (or one parked elsewhere, now abandoned): run the call.
    Free,
    /// This call, ready to resume.
    Ready(Parked),
    /// This call, still waiting.
    Waiting(crate::sample::lua::Suspend),
}

/// A map by stream key: a vector indexed by the key's slot (the reactor's slab keeps
/// slots dense), each entry checked against the key's generation.
struct ByKey<T>(Vec<Option<(u32, T)>>);

impl<T> ByKey<T> {
    fn get(&self, key: &Key) -> Option<&T> {
        match self.0.get(key.slot)? {
            Some((gen, v)) if *gen == key.gen => Some(v),
            _ => None,
        }
    }
    fn get_mut(&mut self, key: &Key) -> Option<&mut T> {
        match self.0.get_mut(key.slot)? {
            Some((gen, v)) if *gen == key.gen => Some(v),
            _ => None,
        }
    }
    fn insert(&mut self, key: Key, v: T) {
        if self.0.len() <= key.slot {
            self.0.resize_with(key.slot + 1, || None);
        }
        self.0[key.slot] = Some((key.gen, v));
    }
    fn remove(&mut self, key: &Key) -> Option<T> {
        let e = self.0.get_mut(key.slot)?;
        match e {
            Some((gen, _)) if *gen == key.gen => e.take().map(|(_, v)| v),
            _ => None,
        }
    }
}

/// How many reset threads of ended streams are kept for the next streams.
const SPARE_THREADS: usize = 64;

thread_local! {
    /// The Lua side of every stream holding a [`StreamLua`], by key: `None` until the
    /// stream's first Lua call.
    static THREADS: RefCell<ByKey<Option<Thread>>> = const { RefCell::new(ByKey(Vec::new())) };
    /// Reset threads, ready for the next stream (a thread costs a `lua_newthread`, its
    /// registry anchor and a collection once dropped).
    static SPARE: RefCell<Vec<Task>> = const { RefCell::new(Vec::new()) };
    /// The stream running its state machine ([`enter`]): its fetches use its thread.
    static CURRENT: Cell<Option<Key>> = const { Cell::new(None) };
}

/// A thread taken from [`SPARE`], or a new one.
fn spare_task() -> Result<Task, String> {
    if let Some(task) = SPARE.with(|s| s.borrow_mut().pop()) {
        return Ok(task);
    }
    let core = core().map_err(|e| e.to_string())?;
    Task::new(&core.state, core.session_limits).map_err(|e| e.to_string())
}

/// Resets `task` and keeps it for another stream (or drops it when enough are kept).
fn keep_spare(mut task: Task) {
    if task.reuse() {
        SPARE.with(|s| {
            let mut s = s.borrow_mut();
            if s.len() < SPARE_THREADS {
                s.push(task);
            }
        });
    }
}

/// Takes the thread of stream `key` for one call, making it (with the `TXN`) at the
/// stream's first call. `Ok(None)`: the thread is busy (a call on it is in progress).
fn take_thread(key: Key) -> Result<Option<(Handle, Rc<RegistryRef>, Task)>, String> {
    let made = THREADS.with(|t| {
        let t = t.borrow();
        match t.get(&key) {
            Some(Some(th)) => Some(th.task.is_some()),
            Some(None) => None,
            None => Some(false),
        }
    });
    match made {
        Some(false) => return Ok(None),
        Some(true) => {}
        None => {
            let core = core().map_err(|e| e.to_string())?;
            let handle = core.state.handles().insert();
            let txn = match crate::lua::api::txn::new_txn(&core.state, handle) {
                Ok(txn) => txn,
                Err(e) => {
                    core.state.handles().remove(handle);
                    return Err(e.to_string());
                }
            };
            let task = spare_task().inspect_err(|_| {
                core.state.handles().remove(handle);
            })?;
            let th = Thread {
                handle,
                txn: Rc::new(txn),
                task: Some(task),
                parked: None,
                parked_at: None,
                kept: Vec::new(),
            };
            THREADS.with(|t| t.borrow_mut().insert(key, Some(th)));
        }
    }
    Ok(THREADS.with(|t| {
        let mut t = t.borrow_mut();
        let th = t.get_mut(&key)?.as_mut()?;
        let task = th.task.take()?;
        Some((th.handle, th.txn.clone(), task))
    }))
}

/// Gives the thread of stream `key` back after a call (reset if the call did not end
/// normally); a stream that ended meanwhile passes it on to the next stream.
fn give_back(key: Key, mut task: Task) {
    if !task.reuse() {
        return;
    }
    let task = THREADS.with(|t| {
        match t.borrow_mut().get_mut(&key) {
            Some(Some(th)) if th.task.is_none() => {
                th.task = Some(task);
                None
            }
            _ => Some(task),
        }
    });
    if let Some(task) = task {
        keep_spare(task);
    }
}

/// The thread a Lua fetch or converter runs on, lent for one call-to-the-end
/// ([`crate::lua::api::fetches`]).
pub(crate) struct Lent {
    /// The stream whose thread this is; `None`: a spare thread with a `TXN` of its own,
    /// valid for this call only.
    key: Option<Key>,
    pub handle: Handle,
    pub txn: Rc<RegistryRef>,
    pub task: Task,
}

impl Lent {
    /// The stream whose thread this is (`None`: a spare thread).
    pub fn key(&self) -> Option<Key> {
        self.key
    }
}

/// Lends the thread of the stream being run (when it has a [`StreamLua`] and no call
/// is in progress on it), else a spare thread with a `TXN` made for the call.
pub(crate) fn lend() -> Result<Lent, String> {
    if let Some(key) = CURRENT.with(Cell::get) {
        if let Some((handle, txn, task)) = take_thread(key)? {
            return Ok(Lent { key: Some(key), handle, txn, task });
        }
    }
    let core = core().map_err(|e| e.to_string())?;
    let handle = core.state.handles().insert();
    let made = crate::lua::api::txn::new_txn(&core.state, handle)
        .map_err(|e| e.to_string())
        .and_then(|txn| Ok((txn, spare_task()?)));
    match made {
        Ok((txn, task)) => Ok(Lent { key: None, handle, txn: Rc::new(txn), task }),
        Err(e) => {
            core.state.handles().remove(handle);
            Err(e)
        }
    }
}

/// Ends a [`lend`]: the stream's thread goes back to the stream; a spare one to the
/// spares, its `TXN` made invalid.
pub(crate) fn give_back_lent(lent: Lent) {
    match lent.key {
        Some(key) => give_back(key, lent.task),
        None => {
            if let Ok(core) = core() {
                core.state.handles().remove(lent.handle);
            }
            keep_spare(lent.task);
        }
    }
}

/// The stream being run, when its Lua fetches may park on its thread.
pub(crate) fn current() -> Option<Key> {
    CURRENT.with(Cell::get)
}

/// The result kept for `site` by an earlier evaluation of the rule (the first one
/// this evaluation did not use yet): the call is not made again.
pub(crate) fn take_kept(key: Key, site: &FetchSite) -> Option<Option<Sample>> {
    let now = crate::sample::lua::evaluation();
    THREADS.with(|t| {
        let mut t = t.borrow_mut();
        let th = t.get_mut(&key)?.as_mut()?;
        let k = th.kept.iter_mut().find(|k| k.used < now && k.site == *site)?;
        k.used = now;
        Some(k.result.clone())
    })
}

/// Keeps the result of a call of the rule being evaluated, for its next evaluation
/// should a later call of the rule park.
pub(crate) fn keep(key: Key, site: FetchSite, result: Option<Sample>) {
    THREADS.with(|t| {
        if let Some(Some(th)) = t.borrow_mut().get_mut(&key) {
            let used = crate::sample::lua::evaluation();
            th.kept.push(Kept { site, result, used });
        }
    });
}

/// What the call at `site` finds of the stream's parked call (see [`Unpark`]). A call
/// parked at another site is abandoned: the evaluation went another way than the one
/// that parked it (a fetch's value changed), which would otherwise never reach it.
pub(crate) fn unpark(key: Key, site: &FetchSite, now: Instant) -> Unpark {
    use crate::sample::lua::Suspend;
    let (found, stale) = THREADS.with(|t| {
        let mut t = t.borrow_mut();
        let Some(Some(th)) = t.get_mut(&key) else { return (Unpark::Free, None) };
        let Some(p) = th.parked.as_ref() else { return (Unpark::Free, None) };
        if p.site != *site {
            return (Unpark::Free, th.parked.take());
        }
        match p.wait {
            Wait::Sleep(at) if now < at => (Unpark::Waiting(Suspend::Timer(at)), None),
            Wait::Io => (Unpark::Waiting(Suspend::Io), None),
            _ => (Unpark::Ready(th.parked.take().expect("parked")), None),
        }
    });
    if let Some(p) = stale {
        abandon(key, p);
    }
    found
}

/// Parks a rule's call that yielded for `why` (its thread stays lent).
pub(crate) fn park(site: FetchSite, lent: Lent, why: &WaitReason) -> crate::sample::lua::Suspend {
    use crate::sample::lua::Suspend;
    let (wait, s) = match why {
        WaitReason::Sleep(at) => (Wait::Sleep(*at), Suspend::Timer(*at)),
        WaitReason::Io => (Wait::Io, Suspend::Io),
        WaitReason::Forced | WaitReason::Other => (Wait::Run, Suspend::Run),
    };
    let Some(key) = lent.key else {
        give_back_lent(lent);
        return s;
    };
    let parked = Parked { site, lent, nargs: 0, wait };
    let left = THREADS.with(|t| match t.borrow_mut().get_mut(&key) {
        Some(Some(th)) => {
            th.parked_at = Some(Instant::now());
            th.parked.replace(parked)
        }
        _ => Some(parked),
    });
    if let Some(p) = left {
        abandon(key, p);
    }
    s
}

/// A rule of stream `key` was evaluated to its end: the kept results go, and a call
/// parked by an earlier evaluation that this one did not reach is abandoned.
pub(crate) fn rule_done(key: Key) {
    let parked = THREADS.with(|t| {
        let mut t = t.borrow_mut();
        let th = t.get_mut(&key)?.as_mut()?;
        th.kept.clear();
        th.parked.take()
    });
    if let Some(p) = parked {
        abandon(key, p);
    }
}

/// Ends a parked call that will not resume: its sockets forget it, the thread goes back.
fn abandon(key: Key, p: Parked) {
    give_back_lent(p.lent);
    if socket::coroutine_ended(Waiter::Stream(key)) {
        if let Ok(core) = core() {
            core.state.collect_garbage();
        }
    }
}

/// The stream calls this before running its state machine (and [`leave`] after): the
/// Lua fetches and converters it runs meanwhile share its thread and `TXN`. A stream
/// gets its [`StreamLua`] here when the Lua files registered fetches or converters
/// (the thread itself is only made at the first Lua call).
pub fn enter(slot: &mut Option<Box<StreamLua>>, key: Key) {
    CURRENT.with(|c| c.set(Some(key)));
    if slot.is_none() && crate::lua::api::fetches::any_registered() {
        *slot = Some(Box::new(StreamLua::new(key)));
    }
}

/// See [`enter`].
pub fn leave() {
    CURRENT.with(|c| c.set(None));
}

/// A stream's coroutine waiting in a call (`show lua tasks`).
pub struct Waiting {
    /// `action`, `fetch`, `converter` or `service`.
    pub kind: &'static str,
    pub name: String,
    pub state: crate::cli_socket::LuaTaskState,
    pub started: Instant,
    /// Lua run time of the call so far.
    pub cpu: std::time::Duration,
    /// `file:line` where it waits.
    pub at: Option<String>,
}

fn waiting(kind: &'static str, name: &str, wait: Wait, started: Instant, task: &Task, now: Instant) -> Waiting {
    use crate::cli_socket::LuaTaskState;
    let state = match wait {
        Wait::Run => LuaTaskState::Runnable,
        Wait::Sleep(at) => LuaTaskState::Sleeping(at.saturating_duration_since(now)),
        Wait::Io => LuaTaskState::Socket,
    };
    Waiting::of(kind, name, state, started, task)
}

impl Waiting {
    /// The line of `task`, a call of `kind` (`action`, `service`...) to `name`.
    pub fn of(kind: &'static str, name: &str, state: crate::cli_socket::LuaTaskState, started: Instant, task: &Task) -> Waiting {
        Waiting { kind, name: name.to_string(), state, started, cpu: task.ctx().run_time(), at: crate::lua::stats::task_location(task) }
    }
}

impl StreamLua {
    /// The stream's coroutine when a call waits on it: an action in progress, or a
    /// fetch or converter parked in a rule.
    pub fn waiting(&self, now: Instant) -> Option<Waiting> {
        if let Some(c) = &self.call {
            return Some(waiting("action", &c.action.name, c.wait, c.started, &c.task, now));
        }
        THREADS.with(|t| {
            let t = t.borrow();
            let th = t.get(&self.key)?.as_ref()?;
            let p = th.parked.as_ref()?;
            let kind = if p.site.conv { "converter" } else { "fetch" };
            Some(waiting(kind, &p.site.name, p.wait, th.parked_at.unwrap_or(now), &p.lent.task, now))
        })
    }

    pub(super) fn new(key: Key) -> StreamLua {
        THREADS.with(|t| t.borrow_mut().insert(key, None));
        StreamLua {
            key,
            filters: None,
            call: None,
            restart: None,
            restart_at: None,
        }
    }

    /// Whether an action is in progress (or must run again, `act.YIELD`): the rule list
    /// resumes it before anything else.
    pub fn pending(&self) -> bool {
        self.call.is_some() || self.restart.is_some()
    }

    /// A socket call of the waiting action completed: its results are what the call
    /// returns when the coroutine resumes. False when nothing waited.
    pub fn complete(&mut self, results: &[Value]) -> bool {
        let Some(call) = self.call.as_mut().filter(|c| c.wait == Wait::Io) else {
            return self.complete_parked(results);
        };
        let mut pushed = 0;
        for v in results {
            if call.task.push_value(v).is_err() {
                break;
            }
            pushed += 1;
        }
        call.nargs = pushed;
        call.wait = Wait::Run;
        true
    }

    /// [`StreamLua::complete`] for a rule's parked fetch or converter.
    fn complete_parked(&mut self, results: &[Value]) -> bool {
        THREADS.with(|t| {
            let mut t = t.borrow_mut();
            let Some(Some(th)) = t.get_mut(&self.key) else { return false };
            let Some(p) = th.parked.as_mut().filter(|p| p.wait == Wait::Io) else {
                return false;
            };
            let mut pushed = 0;
            for v in results {
                if p.lent.task.push_value(v).is_err() {
                    break;
                }
                pushed += 1;
            }
            p.nargs = pushed;
            p.wait = Wait::Run;
            true
        })
    }

    /// Ends the action in progress: the thread goes back to the stream (reset when the
    /// action did not end normally), its sockets forget it.
    fn end_call(&mut self, cx: Option<&mut Ctx<'_>>) {
        if let Some(call) = self.call.take() {
            give_back(self.key, call.task);
            if socket::coroutine_ended(Waiter::Stream(self.key)) {
                if let Ok(core) = core() {
                    core.state.collect_garbage();
                }
            }
            socket::reap(cx.map(|cx| cx.registry));
        }
    }
}

impl Drop for StreamLua {
    fn drop(&mut self) {
        self.end_call(None);
        let th = THREADS.with(|t| t.borrow_mut().remove(&self.key)).flatten();
        if let Some(mut th) = th {
            if let Some(p) = th.parked.take() {
                abandon(self.key, p);
            }
            if let Ok(core) = core() {
                core.state.handles().remove(th.handle);
            }
            if let Some(task) = th.task {
                keep_spare(task);
            }
        }
    }
}

impl super::Stream {
    /// A socket call of this stream's waiting Lua action completed with `results`; true
    /// when the stream must run (the action resumes).
    pub fn lua_complete(&mut self, results: &[Value]) -> bool {
        self.lua.as_mut().is_some_and(|l| l.complete(results))
            || self.lua_service.as_mut().is_some_and(|s| s.complete(results))
            || self.tcp_service.as_mut().is_some_and(|s| s.complete(results))
    }
}

/// What a Lua action gave the rule list.
#[derive(Debug, PartialEq, Eq)]
pub enum LuaStep {
    /// Go on with the next rule.
    Next,
    /// `act.STOP`: the rest of the list is skipped.
    Stop,
    /// The action waits; the rule list stays on it.
    Wait(WaitFor),
    /// Answer as this verdict says (deny, error, bad request).
    Verdict(Verdict),
    /// Close the stream without an answer (`txn:done()`).
    Close,
}

/// The stream as the `TXN` methods see it during one resume (an action's, or a
/// service's, which never calls `done` or `reply`).
pub struct ActionView<'a, 'e> {
    handle: Handle,
    txn: &'a mut Txn,
    env: &'a mut RuleEnv<'e>,
    done: bool,
    reply: Option<Vec<u8>>,
    /// The buffers `txn.req`/`txn.res` work on (TCP rules); `None` on HTTP streams.
    channels: Option<&'a mut dyn ChannelIo>,
}

impl<'a, 'e> ActionView<'a, 'e> {
    pub(super) fn new(handle: Handle, txn: &'a mut Txn, env: &'a mut RuleEnv<'e>) -> Self {
        ActionView { handle, txn, env, done: false, reply: None, channels: None }
    }
}

impl StreamView for ActionView<'_, '_> {
    fn handle(&self) -> Handle {
        self.handle
    }
    fn var(&self, name: &VarName) -> Option<Sample> {
        crate::sample::SampleCtx::var(&RuleCtx::new(self.env, self.txn), name)
    }
    fn set_var(&mut self, name: &VarName, value: Sample) {
        rules::set_var(name, value, self.txn, self.env);
    }
    fn unset_var(&mut self, name: &VarName) {
        rules::unset_var(name, self.txn, self.env);
    }
    fn txn(&mut self) -> Option<&mut Txn> {
        Some(self.txn)
    }
    fn eval(&self, expr: &Expr) -> Option<Sample> {
        let rule = RuleCtx::new(self.env, self.txn);
        match self.channels.as_deref() {
            Some(io) => expr.eval(&TcpRuleCtx { rule, io }),
            None => expr.eval(&rule),
        }
    }
    fn convert(&self, call: &str, input: Sample) -> Result<Option<Sample>, crate::sample::ParseError> {
        let rule = RuleCtx::new(self.env, self.txn);
        match self.channels.as_deref() {
            Some(io) => crate::sample::apply_converter(call, input, &TcpRuleCtx { rule, io }),
            None => crate::sample::apply_converter(call, input, &rule),
        }
    }
    fn done(&mut self) {
        self.done = true;
    }
    fn reply(&mut self, response: Vec<u8>) {
        self.reply = Some(response);
    }
    fn channels(&mut self) -> Option<&mut dyn ChannelIo> {
        match self.channels.as_mut() {
            Some(c) => Some(&mut **c),
            None => None,
        }
    }
}

/// What the fetches of a TCP rule's Lua action (`txn.f:req_len()`, `txn.f:req_payload(0,0)`)
/// read: the rule context, and the stream's buffers as the rules see them (the input
/// bytes of each direction, final once the rules may no longer wait for more).
struct TcpRuleCtx<'a, 'e> {
    rule: RuleCtx<'a, 'e>,
    io: &'a dyn ChannelIo,
}

impl crate::sample::SampleCtx for TcpRuleCtx<'_, '_> {
    fn client_conn(&self) -> Option<crate::sample::fetch_conn::ClientConn> {
        self.rule.client_conn()
    }
    fn src(&self) -> Option<std::net::SocketAddr> {
        self.rule.src()
    }
    fn dst(&self) -> Option<std::net::SocketAddr> {
        self.rule.dst()
    }
    fn frontend_name(&self) -> Option<&str> {
        self.rule.frontend_name()
    }
    fn backend_name(&self) -> Option<&str> {
        self.rule.backend_name()
    }
    fn server_name(&self) -> Option<&str> {
        self.rule.server_name()
    }
    fn nbsrv(&self, backend: Option<&str>) -> Option<i64> {
        self.rule.nbsrv(backend)
    }
    fn fe_conn(&self, frontend: Option<&str>) -> Option<i64> {
        self.rule.fe_conn(frontend)
    }
    fn be_conn(&self, backend: Option<&str>) -> Option<i64> {
        self.rule.be_conn(backend)
    }
    fn var(&self, name: &VarName) -> Option<Sample> {
        self.rule.var(name)
    }
    fn set_var(&self, name: &VarName, value: Option<Sample>) -> bool {
        self.rule.set_var(name, value)
    }
    fn env(&self, name: &str) -> Option<Vec<u8>> {
        self.rule.env(name)
    }
    fn now(&self) -> std::time::SystemTime {
        self.rule.now()
    }
    fn random_u32(&self) -> u32 {
        self.rule.random_u32()
    }
    fn http_req(&self) -> Option<&crate::http::Request> {
        self.rule.http_req()
    }
    fn http_res(&self) -> Option<&crate::http::Response> {
        self.rule.http_res()
    }
    fn userlist(&self, name: &str) -> Option<&crate::config::model::Userlist> {
        self.rule.userlist(name)
    }
    fn http_txn(&self) -> Option<&Txn> {
        self.rule.http_txn()
    }
    fn channel_data(&self, dir: crate::sample::Dir) -> Option<crate::sample::ChannelData<'_>> {
        let res = dir == crate::sample::Dir::Res;
        Some(crate::sample::ChannelData { bytes: self.io.input(res), last: !self.io.can_wait(res) })
    }
}

/// The proxies as a stream's Lua (actions, services) sees them: names, statistics and
/// server settings (`core.backends`, `Proxy:get_stats()`, `Server:get_stats()`,
/// `Server:get_addr()`...).
pub(super) struct Proxies<'a>(pub &'a [ProxyRt], pub &'a dyn super::ServerPool);

impl WorldView for Proxies<'_> {
    fn proxy_names(&self) -> Vec<String> {
        self.0.iter().map(|p| p.name.clone()).collect()
    }
    fn proxies(&self) -> Option<(&[ProxyRt], &dyn super::ServerPool)> {
        Some((self.0, self.1))
    }
    fn stats(&self, of: crate::lua::host::StatsOf, now: std::time::Instant) -> Option<Vec<(&'static str, crate::lua::host::Field)>> {
        crate::runtime::lua::proxy_stats(self.0, self.1, of, now)
    }
    fn server(&self, px: usize, srv: usize) -> Option<crate::lua::host::ServerView> {
        crate::runtime::lua::server_view(self.1.backend_state(px)?, srv)
    }
}

/// Runs `f` (the stream evaluating rules, `use_backend`...) so that the Lua fetches
/// and converters it calls see the proxies and servers as the stream's actions do,
/// and register their sockets with the reactor (`crate::lua::api::fetches::in_stream`).
pub fn in_rules<R>(cx: &mut Ctx<'_>, proxies: &[ProxyRt], pool: &dyn super::ServerPool, f: impl FnOnce() -> R) -> R {
    let mut world = Proxies(proxies, pool);
    crate::lua::api::fetches::in_stream(cx, &mut world, f)
}

/// Where the rule list is: the request side or the response side (the answers to
/// `act.DENY` and `act.INVALID` differ).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Request,
    Response,
}

/// Starts `start` (a rule reached a `lua.<name>` action) or, with `None`, resumes the
/// action in progress, and says what the rule list does next.
#[allow(clippy::too_many_arguments)]
pub fn run_action(
    slot: &mut Option<Box<StreamLua>>,
    cx: &mut Ctx<'_>,
    proxies: &[ProxyRt],
    pool: &dyn super::ServerPool,
    key: Key,
    start: Option<&Arc<LuaAction>>,
    txn: &mut Txn,
    env: &mut RuleEnv<'_>,
    side: Side,
) -> LuaStep {
    run_action_io(slot, cx, proxies, pool, key, start, txn, env, side, None)
}

/// [`run_action`] for TCP rules: `channels` are the stream's buffers, which the
/// action reaches as `txn.req`/`txn.res`.
#[allow(clippy::too_many_arguments)]
pub fn run_action_io(
    slot: &mut Option<Box<StreamLua>>,
    cx: &mut Ctx<'_>,
    proxies: &[ProxyRt],
    pool: &dyn super::ServerPool,
    key: Key,
    start: Option<&Arc<LuaAction>>,
    txn: &mut Txn,
    env: &mut RuleEnv<'_>,
    side: Side,
    mut channels: Option<&mut dyn ChannelIo>,
) -> LuaStep {
    if start.is_none() {
        if let Some(at) = slot.as_ref().and_then(|l| l.restart_at).filter(|&at| cx.now < at) {
            return LuaStep::Wait(WaitFor::Timer(at));
        }
    }
    let start = start
        .cloned()
        .or_else(|| slot.as_mut().and_then(|l| l.restart.take()));
    if let Some(a) = start {
        let lua = slot.get_or_insert_with(|| Box::new(StreamLua::new(key)));
        lua.end_call(Some(&mut *cx));
        match start_call(lua, &a) {
            Ok(call) => lua.call = Some(call),
            Err(msg) => {
                report(&a.name, &msg);
                return LuaStep::Next;
            }
        }
    }
    let Some(lua) = slot.as_mut() else {
        return LuaStep::Next;
    };
    let Some(call) = lua.call.as_mut() else {
        return LuaStep::Next;
    };
    let handle = call.handle;
    match call.wait {
        Wait::Sleep(at) if cx.now < at => return LuaStep::Wait(WaitFor::Timer(at)),
        Wait::Io => return LuaStep::Wait(WaitFor::ClientData),
        _ => {}
    }
    let nargs = std::mem::replace(&mut call.nargs, 0);
    call.wait = Wait::Run;
    let mut view = ActionView {
        handle,
        txn,
        env,
        done: false,
        reply: None,
        channels: match channels.as_mut() {
            Some(c) => Some(&mut **c),
            None => None,
        },
    };
    let mut world = Proxies(proxies, pool);
    let outcome = {
        let task = &mut call.task;
        let mut h = Host {
            cx: &mut *cx,
            world: &mut world,
            stream: Some(&mut view),
        };
        crate::lua::api::txn_extra::take_wake_time();
        host::enter(&mut h, || {
            socket::running_as(Waiter::Stream(key), || task.resume(nargs))
        })
    };
    let wake_time = crate::lua::api::txn_extra::take_wake_time();
    let done_flag = core().is_ok_and(|c| c.done.replace(false));
    let txn_done = view.done;
    let reply = view.reply.take();
    let action = call.action.clone();
    let name = action.name.as_str();
    crate::lua::stats::record(crate::lua::error_ring::Origin::Action, name, &call.task, &outcome);
    let step = match outcome {
        Resume::Yield(_) if reply.is_some() => LuaStep::Verdict(Verdict::Reply {
            response: reply.unwrap_or_default(),
            close: false,
        }),
        Resume::Yield(_) if done_flag || txn_done => finished(txn_done, None, side),
        Resume::Yield(WaitReason::Sleep(at)) => {
            call.wait = Wait::Sleep(at);
            return LuaStep::Wait(WaitFor::Timer(at));
        }
        Resume::Yield(WaitReason::Io) => {
            call.wait = Wait::Io;
            return LuaStep::Wait(WaitFor::ClientData);
        }
        Resume::Yield(_) => return LuaStep::Wait(WaitFor::Forced),
        Resume::Finished(values) => finished(txn_done, values.first(), side),
        Resume::Error { message, traceback } => {
            report(name, &runtime_error(message, &traceback, true));
            LuaStep::Next
        }
        Resume::Timeout(k) => {
            let from = call
                .task
                .timeout_traceback()
                .map(|tb| from_clause(tb, true))
                .unwrap_or_default();
            report(
                name,
                &format!("[state-id 0] runtime error: {}{from}", k.message()),
            );
            LuaStep::Next
        }
        Resume::NoMem => {
            report(name, "out of memory error");
            LuaStep::Next
        }
        Resume::Panic(m) => {
            report(name, &format!("[state-id 0] runtime error: {m}"));
            LuaStep::Next
        }
    };
    lua.end_call(Some(cx));
    if step == LuaStep::Wait(WaitFor::Forced) {
        // act.YIELD: the action runs again from the start (not before `act.wake_time`).
        lua.restart = Some(action);
        lua.restart_at = wake_time;
        if let Some(at) = wake_time {
            return LuaStep::Wait(WaitFor::Timer(at));
        }
    }
    step
}

/// Starts an action call on the stream's thread: the function, the stream's `TXN` and
/// the arguments pushed.
fn start_call(lua: &StreamLua, a: &Arc<LuaAction>) -> Result<Call, String> {
    let core = core().map_err(|e| e.to_string())?;
    let reg = core.registered.borrow();
    let def = reg
        .action(&a.name)
        .ok_or_else(|| "unknown action".to_string())?;
    let (handle, txn, mut task) =
        take_thread(lua.key)?.ok_or_else(|| "the stream's Lua thread is busy".to_string())?;
    let pushed = (|| {
        task.push_function(&def.func)?;
        task.push_function(&txn)?;
        for arg in &a.args {
            task.push_value(&Value::String(arg.as_bytes().to_vec()))?;
        }
        Ok::<(), crate::lua::LuaError>(())
    })();
    if let Err(e) = pushed {
        give_back(lua.key, task);
        return Err(e.to_string());
    }
    Ok(Call {
        task,
        handle,
        action: a.clone(),
        nargs: 1 + a.args.len() as c_int,
        wait: Wait::Run,
        started: Instant::now(),
    })
}

/// The step an action's return value asks for.
fn finished(txn_done: bool, ret: Option<&Value>, side: Side) -> LuaStep {
    if txn_done {
        return LuaStep::Close;
    }
    let code = match ret {
        Some(Value::Integer(i)) => *i,
        Some(Value::Number(n)) if n.fract() == 0.0 => *n as i64,
        _ => act::CONTINUE,
    };
    let refused = match side {
        Side::Request => 403,
        Side::Response => 502,
    };
    let invalid = match side {
        Side::Request => 400,
        Side::Response => 502,
    };
    match code {
        act::STOP | act::DONE => LuaStep::Stop,
        act::YIELD => LuaStep::Wait(WaitFor::Forced),
        act::ERROR => LuaStep::Verdict(Verdict::Deny { status: 500 }),
        act::DENY => LuaStep::Verdict(Verdict::Deny { status: refused }),
        act::INVALID => LuaStep::Verdict(Verdict::Deny { status: invalid }),
        // HAProxy 2.6 answers 503 (verified), with or without a backend.
        act::ABORT => LuaStep::Verdict(Verdict::Deny { status: 503 }),
        _ => LuaStep::Next,
    }
}


/// HAProxy's report of a failed action: `Lua function 'NAME': <what>.`
fn report(name: &str, what: &str) {
    crate::lua::error_ring::record(crate::lua::error_ring::Origin::Action, name, what);
    if let Ok(core) = core() {
        core.log
            .borrow()
            .error(&format!("Lua function '{name}': {what}."));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::model::HttpRuleList;
    use crate::http::rules::Action;

    #[test]
    fn return_values_map_to_haproxys_answers() {
        let req = |v: i64| finished(false, Some(&Value::Integer(v)), Side::Request);
        let res = |v: i64| finished(false, Some(&Value::Integer(v)), Side::Response);
        assert_eq!(finished(false, None, Side::Request), LuaStep::Next);
        assert_eq!(
            finished(false, Some(&Value::String(b"x".to_vec())), Side::Request),
            LuaStep::Next
        );
        assert_eq!(req(act::CONTINUE), LuaStep::Next);
        assert_eq!(req(act::STOP), LuaStep::Stop);
        assert_eq!(req(act::DONE), LuaStep::Stop);
        assert_eq!(req(act::YIELD), LuaStep::Wait(WaitFor::Forced));
        assert_eq!(
            req(act::ERROR),
            LuaStep::Verdict(Verdict::Deny { status: 500 })
        );
        assert_eq!(
            req(act::DENY),
            LuaStep::Verdict(Verdict::Deny { status: 403 })
        );
        assert_eq!(
            res(act::DENY),
            LuaStep::Verdict(Verdict::Deny { status: 502 })
        );
        assert_eq!(
            req(act::INVALID),
            LuaStep::Verdict(Verdict::Deny { status: 400 })
        );
        assert_eq!(
            req(act::ABORT),
            LuaStep::Verdict(Verdict::Deny { status: 503 })
        );
        assert_eq!(
            finished(true, Some(&Value::Integer(act::DENY)), Side::Request),
            LuaStep::Close,
            "txn:done() wins"
        );
    }

    #[test]
    fn a_lua_word_parses_into_an_unresolved_action() {
        let words: Vec<String> = ["lua.cors", "a", "b"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        match Action::parse(HttpRuleList::Response, &words, "fe", 0) {
            Ok(Action::Lua(a)) => assert_eq!(
                *a,
                LuaAction {
                    name: "cors".into(),
                    args: vec!["a".into(), "b".into()]
                }
            ),
            other => panic!("{other:?}"),
        }
    }
}
