//! Lua sample fetches and converters at run time: the calls `crate::sample::lua` makes
//! when an expression reaches `lua.NAME` or `,lua.NAME`.
//!
//! Each call runs on the Lua thread of the stream being run, which its actions use too
//! (`crate::stream::lua::lend`): a fetch gets the stream's `TXN` and its string
//! arguments; a converter gets the sample, cast to a string, and its arguments. Outside
//! a stream with a Lua context (or while an action of the stream is in progress on its
//! thread), the call borrows a spare thread, and a fetch gets a `TXN` made for the call.
//! The stream is seen through the expression's [`SampleCtx`] ([`FetchView`]):
//! `txn.f`/`txn.sf`, `txn:get_var`/`set_var`/`unset_var` work; `txn.http` finds no HTTP
//! transaction to change; in a TCP rule `txn.req`/`txn.res` read the buffers the rule
//! sees (`txn.req:data()`), as in HAProxy, but may not change them (HAProxy lets them). The proxies and servers are those the stream gave with
//! [`in_stream`] (`core.backends`, `Server:get_stats()`), as its actions see them.
//!
//! The result becomes the sample by HAProxy's rules (`hlua_lua2smp`): an integer (a float
//! is truncated toward an integer, 0 when it has a fraction, as Lua 5.3's
//! `lua_tointeger` gives) is `sint`, a boolean `bool`, a string `str`; `nil` and any
//! other value are the boolean false; a bare `return` gives no sample.
//!
//! Beyond HAProxy, which forbids yields there: inside a rule that can wait
//! (`crate::sample::lua::in_rule`), a call that sleeps, yields or waits on a socket is
//! parked on the stream's thread (`crate::stream::lua::park`) and the rule waits; the
//! rule's next evaluation resumes it, or takes its result if it completed. Anywhere
//! else the yield fails with `Lua sample-fetch 'NAME': lua.NAME: cannot yield here
//! (<place>).` (`Lua converter` for a converter), and gives no sample; so does an
//! error, logged as HAProxy logs it (`Lua sample-fetch 'NAME': [state-id 0] runtime
//! error: <msg> from <traceback>.`). The request goes on either way.
use super::core::{core, from_clause, runtime_error};
use crate::lua::host::{self, Host, NoWorld, StreamView, WorldView};
use crate::lua::{Handle, LuaError, Resume, Task, Value};
use crate::lua::api::socket::{self, Waiter};
use crate::stream::lua::{self as stream_lua, give_back_lent, lend, FetchSite, Lent, Unpark};
use crate::reactor::{Ctx, Timers, WakeQueue};
use crate::lua::api::channel::ChannelIo;
use crate::sample::{lua as hook, ChannelData, Dir, Expr, Sample, SampleCtx, VarName};
use std::cell::RefCell;
use std::cell::Cell;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, Ordering};
use std::os::raw::c_int;
use std::time::Instant;

/// Whether the Lua files registered fetches or converters (streams then give their
/// Lua context to the fetches they run: `crate::stream::lua::enter`).
static REGISTERED: AtomicBool = AtomicBool::new(false);

/// See [`REGISTERED`].
pub fn any_registered() -> bool {
    REGISTERED.load(Ordering::Relaxed)
}

/// Installs the hooks and publishes the names the `lua-load` files registered.
pub fn install() {
    hook::install(hook::Hooks {
        fetch: call_fetch,
        conv: call_conv,
        rule_done,
    });
    let (fetches, converters) = match core() {
        Ok(core) => {
            let reg = core.registered.borrow();
            (
                reg.fetches.iter().map(|f| f.name.clone()).collect(),
                reg.converters.iter().map(|c| c.name.clone()).collect(),
            )
        }
        Err(_) => (Vec::new(), Vec::new()),
    };
    REGISTERED.store(!fetches.is_empty() || !converters.is_empty(), Ordering::Relaxed);
    hook::publish(fetches, converters);
}

/// The stream as a Lua fetch sees it: what its sample expression can reach.
struct FetchView<'a> {
    handle: Handle,
    cx: &'a dyn SampleCtx,
    /// The buffers of a TCP rule's stream (`txn.req:data()`), read-only; `None` where
    /// the expression has none (HTTP mode).
    channels: Option<ReadOnlyChannels<'a>>,
}

impl<'a> FetchView<'a> {
    fn new(handle: Handle, cx: &'a dyn SampleCtx) -> Self {
        let req = cx.channel_data(Dir::Req);
        let res = cx.channel_data(Dir::Res);
        let channels = (req.is_some() || res.is_some()).then_some(ReadOnlyChannels { req, res });
        FetchView { handle, cx, channels }
    }
}

/// The buffers a Lua fetch of a TCP rule reads through `txn.req`/`txn.res`: the bytes its
/// expression's context shows, which the fetch may read but not change, nor wait for.
struct ReadOnlyChannels<'a> {
    req: Option<ChannelData<'a>>,
    res: Option<ChannelData<'a>>,
}

impl ReadOnlyChannels<'_> {
    fn side(&self, res: bool) -> Option<&ChannelData<'_>> {
        if res { self.res.as_ref() } else { self.req.as_ref() }
    }
}

impl ChannelIo for ReadOnlyChannels<'_> {
    fn input(&self, res: bool) -> &[u8] {
        self.side(res).map_or(&[], |d| d.bytes)
    }
    fn output_len(&self, _res: bool) -> usize {
        0
    }
    fn splice(&mut self, _res: bool, _at: usize, _remove: usize, _with: &[u8]) -> bool {
        false
    }
    fn send(&mut self, _res: bool, _bytes: &[u8]) -> bool {
        false
    }
    fn forward(&mut self, _res: bool, _n: usize) {}
    fn room(&self, _res: bool) -> usize {
        0
    }
    fn may_recv(&self, res: bool) -> bool {
        self.side(res).is_some_and(|d| !d.last)
    }
    fn input_closed(&self, _res: bool) -> bool {
        false
    }
    fn is_full(&self, _res: bool) -> bool {
        false
    }
    fn can_wait(&self, _res: bool) -> bool {
        false
    }
    fn wait_data(&mut self, _res: bool) {}
    fn read_only(&self) -> bool {
        true
    }
}

impl StreamView for FetchView<'_> {
    fn handle(&self) -> Handle {
        self.handle
    }
    fn var(&self, name: &VarName) -> Option<Sample> {
        self.cx.var(name)
    }
    fn set_var(&mut self, name: &VarName, value: Sample) {
        self.cx.set_var(name, Some(value));
    }
    fn unset_var(&mut self, name: &VarName) {
        self.cx.set_var(name, None);
    }
    fn txn(&mut self) -> Option<&mut crate::http::txn::Txn> {
        None
    }
    fn eval(&self, expr: &Expr) -> Option<Sample> {
        expr.eval(self.cx)
    }
    fn convert(
        &self,
        call: &str,
        input: Sample,
    ) -> Result<Option<Sample>, crate::sample::ParseError> {
        crate::sample::apply_converter(call, input, self.cx)
    }
    fn done(&mut self) {}
    fn reply(&mut self, _response: Vec<u8>) {}
    fn channels(&mut self) -> Option<&mut dyn ChannelIo> {
        self.channels.as_mut().map(|c| c as &mut dyn ChannelIo)
    }
}

/// The reactor context and the world of the stream whose rules are being evaluated
/// ([`in_stream`]), lifetimes erased.
#[derive(Clone, Copy)]
struct Scope {
    cx: NonNull<Ctx<'static>>,
    world: NonNull<dyn WorldView + 'static>,
}

thread_local! {
    /// See [`Scope`]; taken out while a call uses it.
    static SCOPE: Cell<Option<Scope>> = const { Cell::new(None) };
}

/// Restores [`SCOPE`] as it was, even if the evaluation unwinds.
struct ScopeGuard(Option<Scope>);

impl Drop for ScopeGuard {
    fn drop(&mut self) {
        SCOPE.with(|w| w.set(self.0));
    }
}

/// Runs `f` (a stream evaluating its rules or its `use_backend`) so that the Lua
/// fetches and converters it calls run in the reactor's context `cx` (their sockets
/// register there) and see `world`'s proxies and servers (`core.backends`,
/// `Server:get_stats()`...), as the stream's actions do.
pub fn in_stream<R>(cx: &mut Ctx<'_>, world: &mut dyn WorldView, f: impl FnOnce() -> R) -> R {
    let cx: NonNull<Ctx<'_>> = NonNull::from(cx);
    let world: NonNull<dyn WorldView + '_> = NonNull::from(world);
    // The pointers are reachable through SCOPE only while `f` runs (the guard puts the
    // previous value back when `f` returns or unwinds), during which this frame holds
    // both exclusive borrows; a user takes them out of SCOPE while it holds the `&mut`s
    // ([`take_scope`]), so no two exist.
    // SAFETY: only lifetimes are erased, and the pointers live no longer than this frame's
    // borrows (above).
    let scope = unsafe {
        Scope {
            cx: std::mem::transmute::<NonNull<Ctx<'_>>, NonNull<Ctx<'static>>>(cx),
            world: std::mem::transmute::<NonNull<dyn WorldView + '_>, NonNull<dyn WorldView + 'static>>(world),
        }
    };
    let _guard = ScopeGuard(SCOPE.with(|w| w.replace(Some(scope))));
    f()
}

/// Runs `f` with the world of the stream whose rules (or end-of-stream log format) are
/// being evaluated ([`in_stream`]), or of the Lua resume in progress; `None` outside both
/// (unit tests). What the proxy and server sample fetches read (`crate::sample::fetch_proxy`).
pub fn with_world<R>(f: impl FnOnce(Option<&dyn WorldView>) -> R) -> R {
    if host::is_entered() {
        let mut f = Some(f);
        if let Some(r) = host::with_host(|h| (f.take().expect("called once"))(Some(&*h.world))) {
            return r;
        }
        return (f.take().expect("not called"))(None);
    }
    take_scope(|scope| f(scope.map(|(_, w)| &*w)))
}

/// Runs `f` with the context and world [`in_stream`] set, if any (taken out meanwhile).
fn take_scope<R>(f: impl FnOnce(Option<(&mut Ctx<'_>, &mut dyn WorldView)>) -> R) -> R {
    let scope = SCOPE.with(|w| w.take());
    let _guard = ScopeGuard(scope);
    match scope {
        // SAFETY: `in_stream` keeps both pointees exclusively borrowed for as long as
        // the pointers are in SCOPE, and they were taken out of SCOPE (one user at a
        // time) until the guard puts them back after `f`.
        Some(mut s) => f(Some(unsafe { (s.cx.as_mut(), s.world.as_mut()) })),
        None => f(None),
    }
}

/// The reactor parts of a call made outside any resume (a rule, a log line): nothing
/// there can wait, so they are only there for the host's shape.
struct Idle {
    poll: mio::Poll,
    timers: Timers,
    wake: WakeQueue,
}

thread_local! {
    static IDLE: RefCell<Option<Idle>> = const { RefCell::new(None) };
}

/// Runs `f` (a resume) inside a host whose stream is `view`: the host of the resume in
/// progress when a Lua call reaches the expression, else the stream's context and world
/// ([`in_stream`]), else an idle one (nothing there can wait).
fn in_host<V: StreamView, R>(mut view: Option<&mut V>, f: impl FnOnce() -> R) -> Option<R> {
    if host::is_entered() {
        return host::with_host(|h| {
            let mut inner = Host {
                cx: &mut *h.cx,
                world: &mut *h.world,
                stream: view.as_mut().map(|v| &mut **v as &mut dyn StreamView),
            };
            host::enter(&mut inner, f)
        });
    }
    take_scope(|scope| {
        if let Some((cx, world)) = scope {
            let mut h = Host {
                cx,
                world,
                stream: view.as_mut().map(|v| &mut **v as &mut dyn StreamView),
            };
            return Some(host::enter(&mut h, f));
        }
        IDLE.with(|cell| {
            let mut slot = cell.try_borrow_mut().ok()?;
            if slot.is_none() {
                *slot = Some(Idle {
                    poll: mio::Poll::new().ok()?,
                    timers: Timers::default(),
                    wake: WakeQueue::default(),
                });
            }
            let idle = slot.as_mut()?;
            let mut cx = Ctx {
                registry: idle.poll.registry(),
                timers: &mut idle.timers,
                wake: &mut idle.wake,
                now: Instant::now(),
            };
            let mut h = Host {
                cx: &mut cx,
                world: &mut NoWorld,
                stream: view.as_mut().map(|v| &mut **v as &mut dyn StreamView),
            };
            Some(host::enter(&mut h, f))
        })
    })
}

/// `lua.NAME(args)`.
fn call_fetch(name: &str, args: &[String], cx: &dyn SampleCtx) -> Option<Sample> {
    call(FetchSite { conv: false, name: name.to_string(), args: args.to_vec(), input: None }, cx)
}

/// `,lua.NAME(args)`.
fn call_conv(name: &str, input: Sample, args: &[String], cx: &dyn SampleCtx) -> Option<Sample> {
    let site = FetchSite { conv: true, name: name.to_string(), args: args.to_vec(), input: Some(input) };
    call(site, cx)
}

/// A rule of the stream being run was evaluated to its end (see [`hook::Hooks`]).
fn rule_done() {
    if let Some(key) = stream_lua::current() {
        stream_lua::rule_done(key);
    }
}

/// Runs the call at `site`, or, inside a rule that may wait, takes its result kept by
/// an earlier evaluation of the rule or resumes it where it parked.
fn call(site: FetchSite, cx: &dyn SampleCtx) -> Option<Sample> {
    let what = if site.conv { "converter" } else { "sample-fetch" };
    let place = if host::is_entered() {
        Err("inside a Lua call")
    } else {
        hook::may_yield()
    };
    let key = place.ok().and_then(|()| stream_lua::current());
    if let Some(key) = key {
        if hook::suspended() {
            return None; // an earlier call of the rule waits: this one runs later
        }
        if let Some(kept) = stream_lua::take_kept(key, &site) {
            return kept;
        }
        match stream_lua::unpark(key, &site, Instant::now()) {
            Unpark::Free => {}
            Unpark::Waiting(s) => {
                hook::suspend(s);
                return None;
            }
            Unpark::Ready(p) => return run(p.lent, p.nargs, site, Ok(()), cx),
        }
    }
    let place = match (place, key) {
        (Ok(()), None) => Err("outside a stream"),
        (p, _) => p,
    };
    let core = core().ok()?;
    let mut lent = match lend() {
        Ok(lent) => lent,
        Err(msg) => {
            report(what, &site.name, &msg);
            return None;
        }
    };
    let pushed = (|| {
        let reg = core.registered.borrow();
        if site.conv {
            let def = reg.converter(&site.name).ok_or(LuaError::message("unknown converter"))?;
            lent.task.push_function(&def.func)?;
            lent.task.push_value(&to_lua(site.input.clone().unwrap_or(Sample::Bool(false))))?;
        } else {
            let def = reg.fetch(&site.name).ok_or(LuaError::message("unknown sample-fetch"))?;
            lent.task.push_function(&def.func)?;
            lent.task.push_function(&lent.txn)?;
        }
        push_strings(&mut lent.task, &site.args)
    })();
    if let Err(e) = pushed {
        report(what, &site.name, &e.to_string());
        give_back_lent(lent);
        return None;
    }
    let nargs = 1 + site.args.len() as c_int;
    run(lent, nargs, site, place, cx)
}

/// Resumes the call on `lent` with `nargs` values on its stack: its result, or, when
/// it yields where it may (`place`), parks it and suspends the rule.
fn run(
    mut lent: Lent,
    nargs: c_int,
    site: FetchSite,
    place: Result<(), &'static str>,
    cx: &dyn SampleCtx,
) -> Option<Sample> {
    let what = if site.conv { "converter" } else { "sample-fetch" };
    let key = lent.key();
    let outcome = {
        let task = &mut lent.task;
        let resume = || match key {
            Some(k) => socket::running_as(Waiter::Stream(k), || task.resume(nargs)),
            None => task.resume(nargs),
        };
        if site.conv {
            in_host(None::<&mut FetchView>, resume)
        } else {
            let mut view = FetchView::new(lent.handle, cx);
            in_host(Some(&mut view), resume)
        }
    };
    crate::lua::stats::record_opt(if site.conv { crate::lua::error_ring::Origin::Converter } else { crate::lua::error_ring::Origin::Fetch }, &site.name, &lent.task, outcome.as_ref());
    let place = match (place, key) {
        (Ok(()), None) => Err("the stream's Lua thread is busy"),
        (p, _) => p,
    };
    match (outcome, place) {
        (Some(Resume::Yield(why)), Ok(())) => {
            let s = stream_lua::park(site, lent, &why);
            hook::suspend(s);
            None
        }
        (Some(Resume::Yield(_)), Err(place)) => {
            report(what, &site.name, &format!("lua.{}: cannot yield here ({place})", site.name));
            give_back_lent(lent);
            if let Some(k) = key {
                socket::coroutine_ended(Waiter::Stream(k));
            }
            None
        }
        (outcome, place) => {
            let result = finish(&lent.task, outcome, what, &site.name);
            give_back_lent(lent);
            if let (Some(k), Ok(())) = (key, place) {
                stream_lua::keep(k, site, result.clone());
            }
            result
        }
    }
}

fn push_strings(task: &mut Task, args: &[String]) -> Result<(), crate::lua::LuaError> {
    for a in args {
        task.push_value(&Value::String(a.as_bytes().to_vec()))?;
    }
    Ok(())
}

/// The sample a converter receives (its input is cast to a string first).
fn to_lua(s: Sample) -> Value {
    match s {
        Sample::Sint(i) => Value::Integer(i),
        Sample::Bool(b) => Value::Boolean(b),
        other => Value::String(other.into_bytes().unwrap_or_default()),
    }
}

/// A function's return value as a sample (`hlua_lua2smp`, see the module comment).
pub fn to_sample(v: Option<&Value>) -> Option<Sample> {
    Some(match v? {
        Value::Integer(i) => Sample::Sint(*i),
        Value::Number(n) if n.fract() == 0.0 && n.abs() < 9.2e18 => Sample::Sint(*n as i64),
        Value::Number(_) => Sample::Sint(0),
        Value::Boolean(b) => Sample::Bool(*b),
        Value::String(s) => Sample::Str(s.clone()),
        Value::Nil | Value::Other(_) => Sample::Bool(false),
    })
}

/// What a call's resume gives the expression; errors are reported.
fn finish(task: &Task, outcome: Option<Resume>, what: &str, name: &str) -> Option<Sample> {
    let Some(outcome) = outcome else {
        report(what, name, "no context to run in");
        return None;
    };
    match outcome {
        Resume::Finished(values) => return to_sample(values.first()),
        Resume::Yield(_) => report(what, name, "yield not allowed"),
        Resume::Error { message, traceback } => report(what, name, &runtime_error(message, &traceback, true)),
        Resume::Timeout(k) => {
            let from = task
                .timeout_traceback()
                .map(|tb| from_clause(tb, true))
                .unwrap_or_default();
            report(
                what,
                name,
                &format!("[state-id 0] runtime error: {}{from}", k.message()),
            );
        }
        Resume::NoMem => report(what, name, "out of memory error"),
        Resume::Panic(m) => report(what, name, &format!("[state-id 0] runtime error: {m}")),
    }
    None
}


/// `Lua sample-fetch 'NAME': <what>.` / `Lua converter 'NAME': <what>.`
fn report(what: &str, name: &str, msg: &str) {
    crate::lua::error_ring::record(if what == "converter" { crate::lua::error_ring::Origin::Converter } else { crate::lua::error_ring::Origin::Fetch }, name, msg);
    if let Ok(core) = core() {
        core.log
            .borrow()
            .error(&format!("Lua {what} '{name}': {msg}."));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn return_values_become_samples_as_in_haproxy() {
        assert_eq!(to_sample(None), None, "a bare return: no sample");
        assert_eq!(to_sample(Some(&Value::Nil)), Some(Sample::Bool(false)));
        assert_eq!(
            to_sample(Some(&Value::Other("table"))),
            Some(Sample::Bool(false))
        );
        assert_eq!(to_sample(Some(&Value::Integer(7))), Some(Sample::Sint(7)));
        assert_eq!(to_sample(Some(&Value::Number(3.0))), Some(Sample::Sint(3)));
        assert_eq!(to_sample(Some(&Value::Number(2.5))), Some(Sample::Sint(0)));
        assert_eq!(
            to_sample(Some(&Value::Boolean(true))),
            Some(Sample::Bool(true))
        );
        assert_eq!(
            to_sample(Some(&Value::String(b"x".to_vec()))),
            Some(Sample::str("x"))
        );
    }
}
