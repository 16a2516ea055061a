//! The stream side of Lua: `lua.<name>` actions run in the stream's Lua context.
//!
//! A stream without Lua actions pays one `None` ([`super::Stream::lua`]). The first
//! action creates a [`StreamLua`]: a [`Handle`] in the state's handle table (the identity
//! the `TXN` objects of this stream hold, `crate::lua::api::txn`) and room for the action
//! in progress. Each action call is a coroutine ([`Task`]) running
//! `wrapper(fn, handle, args...)`, which builds the `TXN` and calls the registered
//! function. The coroutine is resumed inside [`host::enter`] with the stream as the
//! host's [`StreamView`] ([`ActionView`]: the transaction, the variables, the rule
//! context), and inside `socket::running_as(Waiter::Stream(key))` so a socket call
//! knows whom to wake.
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
//! script now raises `TXN object no longer valid`), the coroutine is closed and the
//! sockets it waited on forget it.
use super::analysers::WaitFor;
use super::proxy::ProxyRt;
use crate::http::rules::{self, LuaAction, RuleCtx, RuleEnv, Verdict};
use crate::http::txn::Txn;
use crate::lua::api::channel::ChannelIo;
use crate::lua::api::core::{core, error_message, from_clause};
use crate::lua::api::socket::{self, Waiter};
use crate::lua::host::{self, Host, StreamView, WorldView};
use crate::lua::{Handle, Resume, Task, Value, WaitReason};
use crate::reactor::{Ctx, Key};
use crate::sample::{Expr, Sample, VarName};
use std::os::raw::c_int;
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

/// The Lua context of one stream.
pub struct StreamLua {
    handle: Handle,
    key: Key,
    call: Option<Call>,
    /// An action that returned `act.YIELD`: it runs again from the start.
    restart: Option<Arc<LuaAction>>,
    /// Not before this time, when it called `act.wake_time(ms)`.
    restart_at: Option<Instant>,
}

/// An action in progress.
struct Call {
    task: Task,
    action: Arc<LuaAction>,
    /// Values on the coroutine's stack for the next resume.
    nargs: c_int,
    wait: Wait,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Wait {
    /// Resume at the next call (the run queue woke the stream).
    Run,
    Sleep(Instant),
    /// A socket call: resumed by its completion ([`StreamLua::complete`]).
    Io,
}

impl StreamLua {
    fn new(key: Key) -> Option<StreamLua> {
        let core = core().ok()?;
        let handle = core.state.handles().insert();
        Some(StreamLua {
            handle,
            key,
            call: None,
            restart: None,
            restart_at: None,
        })
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
            return false;
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

    /// Ends the action in progress (its coroutine is closed, its sockets forget it).
    fn end_call(&mut self, cx: Option<&mut Ctx<'_>>) {
        if self.call.take().is_some() {
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
        if let Ok(core) = core() {
            core.state.handles().remove(self.handle);
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
        expr.eval(&RuleCtx::new(self.env, self.txn))
    }
    fn convert(&self, call: &str, input: Sample) -> Result<Option<Sample>, crate::sample::ParseError> {
        crate::sample::apply_converter(call, input, &RuleCtx::new(self.env, self.txn))
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

/// The proxies as a stream's Lua (actions, services) sees them: names, statistics and
/// server settings (`core.backends`, `Proxy:get_stats()`, `Server:get_stats()`,
/// `Server:get_addr()`...).
pub(super) struct Proxies<'a>(pub &'a [ProxyRt], pub &'a dyn super::ServerPool);

impl WorldView for Proxies<'_> {
    fn proxy_names(&self) -> Vec<String> {
        self.0.iter().map(|p| p.name.clone()).collect()
    }
    fn stats(&self, of: crate::lua::host::StatsOf, now: std::time::Instant) -> Option<Vec<(&'static str, crate::lua::host::Field)>> {
        crate::runtime::lua::proxy_stats(self.0, self.1, of, now)
    }
    fn server(&self, px: usize, srv: usize) -> Option<crate::lua::host::ServerView> {
        crate::runtime::lua::server_view(self.1.backend_state(px)?, srv)
    }
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
        if slot.is_none() {
            match StreamLua::new(key) {
                Some(l) => *slot = Some(Box::new(l)),
                None => return LuaStep::Next,
            }
        }
        let lua = slot.as_mut().expect("created above");
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
    let handle = lua.handle;
    let Some(call) = lua.call.as_mut() else {
        return LuaStep::Next;
    };
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
    let name = action.name.clone();
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
            let message = error_message(message);
            let from = from_clause(&traceback, true);
            report(
                &name,
                &format!("[state-id 0] runtime error: {message}{from}"),
            );
            LuaStep::Next
        }
        Resume::Timeout(k) => {
            let from = call
                .task
                .timeout_traceback()
                .map(|tb| from_clause(tb, true))
                .unwrap_or_default();
            report(
                &name,
                &format!("[state-id 0] runtime error: {}{from}", k.message()),
            );
            LuaStep::Next
        }
        Resume::NoMem => {
            report(&name, "out of memory error");
            LuaStep::Next
        }
        Resume::Panic(m) => {
            report(&name, &format!("[state-id 0] runtime error: {m}"));
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

/// Creates the coroutine of an action call, its wrapper, function and arguments pushed.
fn start_call(lua: &StreamLua, a: &Arc<LuaAction>) -> Result<Call, String> {
    let core = core().map_err(|e| e.to_string())?;
    let reg = core.registered.borrow();
    let def = reg
        .action(&a.name)
        .ok_or_else(|| "unknown action".to_string())?;
    let mut task = Task::new(&core.state, core.session_limits).map_err(|e| e.to_string())?;
    crate::lua::api::txn::push_wrapper(&core.state, &mut task).map_err(|e| e.to_string())?;
    task.push_function(&def.func).map_err(|e| e.to_string())?;
    task.push_value(&Value::Integer(i64::from(lua.handle.key)))
        .map_err(|e| e.to_string())?;
    task.push_value(&Value::Integer(i64::from(lua.handle.generation)))
        .map_err(|e| e.to_string())?;
    for arg in &a.args {
        task.push_value(&Value::String(arg.as_bytes().to_vec()))
            .map_err(|e| e.to_string())?;
    }
    Ok(Call {
        task,
        action: a.clone(),
        nargs: 3 + a.args.len() as c_int,
        wait: Wait::Run,
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
