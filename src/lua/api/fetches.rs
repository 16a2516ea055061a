//! Lua sample fetches and converters at run time: the calls `crate::sample::lua` makes
//! when an expression reaches `lua.NAME` or `,lua.NAME`.
//!
//! Each call runs to its end on the Lua thread of the stream being run, which its
//! actions use too (`crate::stream::lua::lend`): a fetch gets the stream's `TXN` and its
//! string arguments; a converter gets the sample, cast to a string, and its arguments.
//! Outside a stream with a Lua context (or while an action of the stream is in progress
//! on its thread), the call borrows a spare thread, and a fetch gets a `TXN` made for
//! the call. The stream is seen through the expression's [`SampleCtx`] ([`FetchView`]):
//! `txn.f`/`txn.sf`, `txn:get_var`/`set_var`/`unset_var` work; `txn.http` finds no HTTP
//! transaction to change.
//!
//! The result becomes the sample by HAProxy's rules (`hlua_lua2smp`): an integer (a float
//! is truncated toward an integer, 0 when it has a fraction, as Lua 5.3's
//! `lua_tointeger` gives) is `sint`, a boolean `bool`, a string `str`; `nil` and any
//! other value are the boolean false; a bare `return` gives no sample.
//!
//! HAProxy forbids yields there: a fetch or converter that sleeps, yields or waits on a
//! socket fails with `Lua sample-fetch 'NAME': yield not allowed.` (`Lua converter`
//! for a converter), and gives no sample; so does an error, logged as HAProxy logs it
//! (`Lua sample-fetch 'NAME': [state-id 0] runtime error: <msg> from <traceback>.`).
//! The request goes on either way.
use super::core::{core, error_message, from_clause};
use crate::lua::host::{self, Host, NoWorld, StreamView};
use crate::lua::{Handle, LuaError, Resume, Task, Value};
use crate::stream::lua::{give_back_lent, lend};
use crate::reactor::{Ctx, Timers, WakeQueue};
use crate::sample::{lua as hook, Expr, Sample, SampleCtx, VarName};
use std::cell::RefCell;
use std::rc::Rc;
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
/// progress when a Lua call reaches the expression, else an idle one.
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
        let mut world = NoWorld;
        let mut h = Host {
            cx: &mut cx,
            world: &mut world,
            stream: view.as_mut().map(|v| &mut **v as &mut dyn StreamView),
        };
        Some(host::enter(&mut h, f))
    })
}

/// `lua.NAME(args)`.
fn call_fetch(name: &str, args: &[String], cx: &dyn SampleCtx) -> Option<Sample> {
    let core = core().ok()?;
    let mut lent = match lend() {
        Ok(lent) => lent,
        Err(msg) => {
            report("sample-fetch", name, &msg);
            return None;
        }
    };
    let txn = Rc::clone(&lent.txn);
    let pushed = (|| {
        let reg = core.registered.borrow();
        let def = reg.fetch(name).ok_or(LuaError::message("unknown sample-fetch"))?;
        lent.task.push_function(&def.func)?;
        lent.task.push_function(&txn)?;
        push_strings(&mut lent.task, args)
    })();
    let result = match pushed {
        Ok(()) => {
            let mut view = FetchView { handle: lent.handle, cx };
            let nargs = 1 + args.len() as c_int;
            let task = &mut lent.task;
            let outcome = in_host(Some(&mut view), || task.resume(nargs));
            finish(&lent.task, outcome, "sample-fetch", name)
        }
        Err(e) => {
            report("sample-fetch", name, &e.to_string());
            None
        }
    };
    give_back_lent(lent);
    result
}

/// `,lua.NAME(args)`.
fn call_conv(name: &str, input: Sample, args: &[String], _cx: &dyn SampleCtx) -> Option<Sample> {
    let core = core().ok()?;
    let mut lent = match lend() {
        Ok(lent) => lent,
        Err(msg) => {
            report("converter", name, &msg);
            return None;
        }
    };
    let pushed = (|| {
        let reg = core.registered.borrow();
        let def = reg.converter(name).ok_or(LuaError::message("unknown converter"))?;
        lent.task.push_function(&def.func)?;
        lent.task.push_value(&to_lua(input))?;
        push_strings(&mut lent.task, args)
    })();
    let result = match pushed {
        Ok(()) => {
            let nargs = 1 + args.len() as c_int;
            let task = &mut lent.task;
            let outcome = in_host(None::<&mut FetchView>, || task.resume(nargs));
            finish(&lent.task, outcome, "converter", name)
        }
        Err(e) => {
            report("converter", name, &e.to_string());
            None
        }
    };
    give_back_lent(lent);
    result
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
        Resume::Error { message, traceback } => {
            let message = error_message(message);
            let from = from_clause(&traceback, true);
            report(
                what,
                name,
                &format!("[state-id 0] runtime error: {message}{from}"),
            );
        }
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
