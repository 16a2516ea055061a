//! Lua sample fetches and converters: `lua.NAME(args)` and `,lua.NAME(args)` in any
//! sample expression, for the functions `core.register_fetches` and
//! `core.register_converters` declared.
//!
//! This module keeps the sample machinery free of Lua: it holds the process-wide list of
//! registered names and the two functions that call Lua ([`Hooks`]), both installed by
//! the Lua runtime once the `lua-load` files ran (`runtime::lua::boot`).
//!
//! The configuration is parsed before Lua runs. Until the names are published
//! ([`publish`]), a `lua.NAME` is accepted as is; the runtime compiles every expression
//! again after the boot, and from then on an unknown name is refused with HAProxy's
//! messages (`unknown fetch method 'lua.NAME'`, `unknown converter 'lua.NAME'`).
//!
//! A Lua keyword compiles to the [`LUA_FETCH`] / [`LUA_CONV`] table entries with the
//! function's name as first argument and its arguments as strings after it, as HAProxy
//! passes them. Their types are HAProxy's: a fetch declares `str` out, a converter takes
//! `str` (its input is cast to a string) and gives `str`; the actual sample is whatever
//! the function returned ([`from_lua_result`] rules are the Lua side's).
//!
//! A Lua call may wait (`core.msleep`, a socket) where the evaluator can come back to
//! the expression later: a rule list that runs each rule inside [`in_rule`]. The call
//! then parks on the stream's Lua thread and flags the evaluation [`suspended`]; the
//! rule, whose result is worthless, must have no effect, and the list runs it again
//! once the [`Suspend`] happened (the parked call then resumes, and its result is kept
//! for the next evaluation of that rule). Anywhere else ([`cannot_yield`] names the
//! place, e.g. a log-format at stream end) a call that yields fails.
use super::args::{Arg, ArgSpec};
use super::conv::Conv;
use super::fetch::Fetch;
use super::{Sample, SampleCtx, SampleType};
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{OnceLock, RwLock};
use std::time::Instant;

/// The most arguments a Lua fetch or converter takes (HAProxy declares 12 strings).
pub const MAX_ARGS: usize = 12;

/// The calls into Lua, installed by the runtime.
pub struct Hooks {
    /// Runs fetch `name` with `args`; `None`: no sample.
    pub fetch: fn(name: &str, args: &[String], cx: &dyn SampleCtx) -> Option<Sample>,
    /// Runs converter `name` on `input` with `args`; `None`: no sample.
    pub conv: fn(name: &str, input: Sample, args: &[String], cx: &dyn SampleCtx) -> Option<Sample>,
    /// A rule's evaluation ended without waiting: the results kept for it go, and a
    /// call parked by an earlier evaluation that this one did not reach is abandoned.
    pub rule_done: fn(),
}

/// What a parked Lua call waits for before the rule is worth evaluating again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Suspend {
    /// A sleep: not before this time.
    Timer(Instant),
    /// A yield (`core.yield`, preemption): at the next iteration.
    Run,
    /// A socket call: its completion wakes the stream.
    Io,
}

/// Where the expression being evaluated is, for a Lua call that would wait.
#[derive(Clone, Copy)]
enum Place {
    /// Outside any rule (or inside a Lua call): the text names it.
    Fixed(&'static str),
    /// In a rule evaluated by [`in_rule`]; the suspension, once a call parked.
    Rule(Option<Suspend>),
}

thread_local! {
    static PLACE: Cell<Place> = const { Cell::new(Place::Fixed("outside a rule")) };
    /// Whether a Lua call ran since the last [`in_rule`] began (else nothing is kept).
    static CALLED: Cell<bool> = const { Cell::new(false) };
    /// Counts the [`in_rule`] evaluations ([`evaluation`]).
    static EVALUATION: Cell<u64> = const { Cell::new(0) };
}

/// The number of the rule evaluation in progress: a result kept by an earlier
/// evaluation serves each later one once.
pub fn evaluation() -> u64 {
    EVALUATION.with(Cell::get)
}

/// Restores the previous place, even if the evaluation unwinds.
struct PlaceGuard(Place);

impl Drop for PlaceGuard {
    fn drop(&mut self) {
        PLACE.with(|p| p.set(self.0));
    }
}

/// Evaluates one rule (`f`: its condition and its action) where a Lua call may wait:
/// `Err` when one parked, and the rule must be run again once the [`Suspend`] happened.
pub fn in_rule<R>(f: impl FnOnce() -> R) -> Result<R, Suspend> {
    let _guard = PlaceGuard(PLACE.with(|p| p.replace(Place::Rule(None))));
    CALLED.with(|c| c.set(false));
    EVALUATION.with(|e| e.set(e.get() + 1));
    let r = f();
    match PLACE.with(Cell::get) {
        Place::Rule(Some(s)) => Err(s),
        _ => {
            if CALLED.with(|c| c.replace(false)) {
                if let Some(h) = HOOKS.get() {
                    (h.rule_done)();
                }
            }
            Ok(r)
        }
    }
}

/// Evaluates `f` where no Lua call may wait; `place` names it in the error a call that
/// tries gets (`lua.NAME: cannot yield here (<place>)`).
pub fn cannot_yield<R>(place: &'static str, f: impl FnOnce() -> R) -> R {
    let _guard = PlaceGuard(PLACE.with(|p| p.replace(Place::Fixed(place))));
    f()
}

/// Whether a Lua call of the rule being evaluated parked: the rule must have no effect.
pub fn suspended() -> bool {
    matches!(PLACE.with(Cell::get), Place::Rule(Some(_)))
}

/// For the Lua side: `Ok` where a call may park, else the place to name in the error.
pub fn may_yield() -> Result<(), &'static str> {
    CALLED.with(|c| c.set(true));
    match PLACE.with(Cell::get) {
        Place::Rule(_) => Ok(()),
        Place::Fixed(place) => Err(place),
    }
}

/// For the Lua side: a call parked, the rule waits for `s` (the first one parked wins).
pub fn suspend(s: Suspend) {
    PLACE.with(|p| {
        if let Place::Rule(None) = p.get() {
            p.set(Place::Rule(Some(s)));
        }
    });
}

static HOOKS: OnceLock<Hooks> = OnceLock::new();

/// The registered names; `None` until the Lua files ran.
static NAMES: RwLock<Option<Names>> = RwLock::new(None);

#[derive(Default)]
struct Names {
    fetches: Vec<String>,
    converters: Vec<String>,
}

/// Whether a `lua.NAME` was accepted before the names were published.
static DEFERRED: AtomicBool = AtomicBool::new(false);

/// Whether an expression used `lua.NAME` before the names were known (the
/// configuration must then be checked again), and forgets it.
pub fn took_deferred() -> bool {
    DEFERRED.swap(false, Ordering::Relaxed)
}

/// Installs the calls into Lua (the first call wins).
pub fn install(hooks: Hooks) {
    let _ = HOOKS.set(hooks);
}

/// Publishes what the Lua files registered: from now on `lua.NAME` must be one of them.
pub fn publish(fetches: Vec<String>, converters: Vec<String>) {
    let mut names = NAMES.write().unwrap_or_else(|e| e.into_inner());
    *names = Some(Names {
        fetches,
        converters,
    });
}

/// Whether `name` (without `lua.`) may be used as a fetch (`conv`: a converter) now:
/// always before the names are published.
pub fn is_known(name: &str, conv: bool) -> bool {
    let names = NAMES.read().unwrap_or_else(|e| e.into_inner());
    match names.as_ref() {
        None => {
            DEFERRED.store(true, Ordering::Relaxed);
            true
        }
        Some(n) if conv => n.converters.iter().any(|c| c == name),
        Some(n) => n.fetches.iter().any(|f| f == name),
    }
}

/// The table entry every `lua.NAME` fetch compiles to.
pub static LUA_FETCH: Fetch = Fetch {
    name: "lua",
    args: ArgSpec::NONE,
    out: SampleType::Str,
    check: |_| Ok(()),
    run: run_fetch,
    all: None,
    visit: None,
};

/// The table entry every `,lua.NAME` converter compiles to.
pub static LUA_CONV: Conv = Conv {
    name: "lua",
    args: ArgSpec::NONE,
    input: SampleType::Str,
    out: SampleType::Str,
    check: |_| Ok(()),
    run: run_conv,
};

/// The compiled arguments of a Lua keyword: its name, then its arguments.
pub(super) fn compiled_args(name: &str, args: Vec<String>) -> Vec<Arg> {
    std::iter::once(name.to_string())
        .chain(args)
        .map(Arg::Str)
        .collect()
}

fn split_args(args: &[Arg]) -> Option<(&str, Vec<String>)> {
    let mut strs = args.iter().map(|a| match a {
        Arg::Str(s) => s.clone(),
        _ => String::new(),
    });
    let name = match args.first()? {
        Arg::Str(s) => s.as_str(),
        _ => return None,
    };
    strs.next();
    Some((name, strs.collect()))
}

fn run_fetch(args: &[Arg], cx: &dyn SampleCtx) -> Option<Sample> {
    let (name, args) = split_args(args)?;
    (HOOKS.get()?.fetch)(name, &args, cx)
}

fn run_conv(input: Sample, args: &[Arg], cx: &dyn SampleCtx) -> Option<Sample> {
    let (name, args) = split_args(args)?;
    (HOOKS.get()?.conv)(name, input, &args, cx)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample::{apply_converter, Expr, TestCtx};

    #[test]
    fn lua_keywords_compile_against_the_published_names() {
        // The only test publishing names (they are process-wide).
        publish(vec!["my-hash".into()], vec!["up".into()]);
        let e = Expr::parse("lua.my-hash(a,'b c'),lua.up(x),lower").unwrap();
        assert_eq!(e.keyword(), "lua.my-hash");
        assert_eq!(e.out_type(), SampleType::Str);
        assert_eq!(
            Expr::parse("lua.nope").unwrap_err().to_string(),
            "unknown fetch method 'lua.nope'"
        );
        assert_eq!(
            Expr::parse("str(a),lua.nope").unwrap_err().to_string(),
            "unknown converter 'lua.nope'"
        );
        assert_eq!(
            Expr::parse("lua.up").unwrap_err().to_string(),
            "unknown fetch method 'lua.up'",
            "a converter is not a fetch"
        );
        assert_eq!(
            Expr::parse("lua.my-hash(a)x").unwrap_err().to_string(),
            "missing comma after fetch keyword 'lua.my-hash'"
        );
    }

    #[test]
    fn a_rule_is_suspended_by_a_parked_call_and_places_name_themselves() {
        assert_eq!(may_yield(), Err("outside a rule"));
        assert_eq!(in_rule(may_yield), Ok(Ok(())));
        let at = Instant::now();
        let r = in_rule(|| {
            suspend(Suspend::Timer(at));
            suspend(Suspend::Io); // the first one parked wins
            suspended()
        });
        assert_eq!(r, Err(Suspend::Timer(at)));
        assert!(!suspended(), "the next evaluation starts afresh");
        let e = in_rule(evaluation).unwrap();
        assert!(in_rule(evaluation).unwrap() > e);
        assert_eq!(
            cannot_yield("log-format at stream end", || in_rule(|| cannot_yield("x", may_yield))),
            Ok(Err("x"))
        );
        assert_eq!(cannot_yield("log-format at stream end", may_yield), Err("log-format at stream end"));
        assert_eq!(may_yield(), Err("outside a rule"), "places are restored");
    }

    #[test]
    fn a_converter_applies_by_name() {
        let cx = TestCtx::default();
        assert_eq!(
            apply_converter("upper", Sample::str("ab"), &cx).unwrap(),
            Some(Sample::str("AB"))
        );
        assert_eq!(
            apply_converter("add(2)", Sample::Sint(40), &cx).unwrap(),
            Some(Sample::Sint(42))
        );
        assert!(apply_converter("no_such", Sample::Sint(1), &cx).is_err());
        assert!(apply_converter("upper,lower", Sample::Sint(1), &cx).is_err());
    }
}
