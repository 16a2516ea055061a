//! HAProxy's Lua filter API (2.5, experimental in HAProxy): `core.register_filter`, the
//! global `filter` table, and the *driver* that runs a filter class's functions for the
//! stream side (`crate::stream::filter`).
//!
//! `core.register_filter(name, Class, parse)` declares `filter lua.<name>`. Each
//! `filter lua.<name> [args...]` line of a proxy is *configured* once per Lua state:
//! `parse(obj, args)` is called with a new object whose fields come from `Class`
//! (HAProxy hands the parse function a fresh object, not the class) and the line's
//! arguments as a list; what it returns is the filter's configuration object (`nil`:
//! the line does nothing). The runtime configures every line when it starts
//! ([`configure_all`]), so a failing parse function shows at start-up as in HAProxy;
//! a thread whose state was not configured yet does it at its first stream.
//!
//! Per stream (per HTTP transaction, as HAProxy makes one stream per transaction), the
//! configuration object's `new()` makes the instance (`nil`: no filter for this
//! stream), and the stream calls the instance's callbacks through the driver
//! ([`Op`]): `start_analyze`, `end_analyze`, `http_headers`, `http_payload`, `http_end`
//! and `tcp_payload`, each as `cb(instance, txn, msg_or_channel)`. The instances and
//! configuration objects stay in Lua tables of the driver, keyed by integers the
//! stream side holds, so Rust keeps no reference per instance; an instance whose stream
//! ended is forgotten at the next driver call ([`forget`]).
//!
//! The driver is a Lua function built by the `TXN` prologue ([`CLASS`], appended to
//! `crate::lua::api::txn`'s classes, where the `HTTPMessage` class and the
//! `txn.http_req`/`txn.http_res` objects are made too: `super::filter_msg`).
use crate::lua::{CallCtx, LuaError, RegistryRef, RustFunction, Value};
use std::cell::{Cell, RefCell};
use std::os::raw::c_int;
use std::time::{Duration, Instant};

/// HAProxy's `filter.*` return codes.
pub const CONTINUE: i64 = 1;
pub const WAIT: i64 = 0;
pub const ERROR: i64 = -1;
/// `filter.FLT_CFG_FL_HTX`: the class filters HTTP streams.
pub const FLT_CFG_FL_HTX: i64 = 1;

/// What the driver's `call` answers for an instance without the callback (a string no
/// callback returns).
pub const ABSENT: &[u8] = b"\0absent";

/// A `core.register_filter` declaration.
#[derive(Debug)]
pub struct FilterDef {
    pub name: String,
    pub class: RegistryRef,
    pub parse: RegistryRef,
}

thread_local! {
    /// The filters declared by this thread's state, in order (a second declaration of a
    /// name replaces the first).
    static DEFS: RefCell<Vec<FilterDef>> = const { RefCell::new(Vec::new()) };
    /// The driver function ([`CLASS`]), handed over by the prologue.
    static DRIVER: RefCell<Option<RegistryRef>> = const { RefCell::new(None) };
    /// Instances of ended streams, forgotten at the next driver call.
    static FORGOTTEN: RefCell<Vec<i64>> = const { RefCell::new(Vec::new()) };
    /// `filter.wake_time(ms)` of the callback running.
    static WAKE_TIME: Cell<Option<Instant>> = const { Cell::new(None) };
    /// The data filtering asked by the running callback (`register_data_filter` and
    /// `unregister_data_filter`): per direction, `Some(on)` when asked.
    static DATA: Cell<[Option<bool>; 2]> = const { Cell::new([None, None]) };
}

/// Whether `name` was declared by `core.register_filter` on this thread's state.
pub fn is_registered(name: &str) -> bool {
    DEFS.with(|d| d.borrow().iter().any(|f| f.name == name))
}

/// Runs `f` on the declaration of `name`.
pub fn with_def<R>(name: &str, f: impl FnOnce(&FilterDef) -> R) -> Option<R> {
    DEFS.with(|d| d.borrow().iter().find(|d| d.name == name).map(f))
}

/// The driver function, once the `TXN` classes are installed.
pub fn driver() -> Option<c_int> {
    DRIVER.with(|d| d.borrow().as_ref().map(RegistryRef::id))
}

/// Runs `f` with the driver's registry reference.
pub fn with_driver<R>(f: impl FnOnce(&RegistryRef) -> R) -> Option<R> {
    DRIVER.with(|d| d.borrow().as_ref().map(f))
}

/// The instance `key` (a stream that ended) is forgotten at the next driver call.
pub fn forget(key: i64) {
    FORGOTTEN.with(|f| f.borrow_mut().push(key));
}

/// The keys queued by [`forget`], taken.
pub fn take_forgotten() -> Vec<i64> {
    FORGOTTEN.with(|f| std::mem::take(&mut *f.borrow_mut()))
}

/// Takes what the running callback asked with `filter.wake_time(ms)`.
pub fn take_wake_time() -> Option<Instant> {
    WAKE_TIME.with(Cell::take)
}

/// Takes the data filtering changes the running callback asked, per direction
/// (request, response).
pub fn take_data_requests() -> [Option<bool>; 2] {
    DATA.with(|d| d.replace([None, None]))
}

/// `core.register_filter(name, Class, fn)`.
fn register_filter(ctx: &mut CallCtx) -> Result<c_int, LuaError> {
    if ctx.nargs() != 3 {
        return Err(LuaError::runtime("'register_filter' needs 3 arguments"));
    }
    let name = ctx.string(1)?;
    if ctx.type_name(2) != "table" {
        return Err(ctx.arg_error(2, &format!("table expected, got {}", ctx.type_name(2))));
    }
    if ctx.type_name(3) != "function" {
        return Err(ctx.arg_error(3, &format!("function expected, got {}", ctx.type_name(3))));
    }
    let class = super::txn::ref_arg(ctx, 2)?;
    let parse = super::txn::ref_arg(ctx, 3)?;
    DEFS.with(|d| {
        let mut d = d.borrow_mut();
        d.retain(|f| f.name != name);
        d.push(FilterDef { name, class, parse });
    });
    Ok(0)
}

pub static REGISTER_FILTER: RustFunction = RustFunction::new("register_filter", register_filter);

/// `filter.wake_time(ms)`.
static WAKE_TIME_FN: RustFunction = RustFunction::new("wake_time", |ctx| {
    let ms = match ctx.value(1) {
        Value::Integer(i) => i,
        Value::Number(n) => n as i64,
        _ => return Err(ctx.arg_error(1, &format!("number expected, got {}", ctx.type_name(1)))),
    };
    let ms = u64::try_from(ms).unwrap_or(0);
    WAKE_TIME.with(|w| w.set(Some(Instant::now() + Duration::from_millis(ms))));
    Ok(0)
});

/// `data(res, on)`: `register_data_filter` / `unregister_data_filter` on the
/// channel of direction `res` (the Lua side checked the arguments).
static DATA_FN: RustFunction = RustFunction::new("data_filter", |ctx| {
    let (res, on) = (ctx.boolean(1), ctx.boolean(2));
    DATA.with(|d| {
        let mut v = d.get();
        v[usize::from(res)] = Some(on);
        d.set(v);
    });
    Ok(0)
});

/// `P.flt_set_driver(fn)`: the prologue hands the driver over.
static SET_DRIVER: RustFunction = RustFunction::new("set_driver", |ctx| {
    let f = super::txn::ref_first_arg(ctx)?;
    DRIVER.with(|d| *d.borrow_mut() = Some(f));
    Ok(0)
});

/// The primitives of [`CLASS`], as `P.<name>`.
pub static PRIMITIVES: &[(&std::ffi::CStr, &RustFunction)] = &[(c"flt_set_driver", &SET_DRIVER)];

/// The global `filter` table, made when the engine starts (class bodies read
/// `filter.FLT_CFG_FL_HTX` while `lua-load` runs them).
const GLOBAL: &str = r##"
filter = { CONTINUE = 1, WAIT = 0, ERROR = -1, FLT_CFG_FL_HTX = 1 }
filter.wake_time = __moonproxy_flt_wake_time
local data = __moonproxy_flt_data
__moonproxy_flt_wake_time, __moonproxy_flt_data = nil, nil
local function data_filter(on, name)
  return function(flt, chn)
    if type(chn) ~= "table" or type(chn.is_resp) ~= "function" then
      error("bad argument #2 to '" .. name .. "' (Channel expected, got " .. type(chn) .. ")")
    end
    data(chn:is_resp(), on)
  end
end
filter.register_data_filter = data_filter(true, "register_data_filter")
filter.unregister_data_filter = data_filter(false, "unregister_data_filter")
"##;

/// Installs the global `filter` table.
pub fn install_global(state: &crate::lua::State) -> Result<(), LuaError> {
    state.set_global_function("__moonproxy_flt_wake_time", &WAKE_TIME_FN)?;
    state.set_global_function("__moonproxy_flt_data", &DATA_FN)?;
    state.exec(GLOBAL.as_bytes(), "=filter")?;
    Ok(())
}

/// The driver (appended to the `TXN` prologue, after the `HTTPMessage` class of
/// `super::filter_msg`, whose `P.new_msg` it uses).
///
/// The driver's operations (`op` first):
/// - `"configure", id, class, parse, args...`: configures a `filter` line (`true` when
///   it has a configuration object with a `new` function);
/// - `"new", id, key, class, parse, args...`: the instance `key` of configured line
///   `id` (configured first if needed): `true` when `new()` made one;
/// - `"call", key, callback, txn, res, http`: what the callback returned, or
///   [`ABSENT`] when the instance has no such function;
/// - `"forget", keys...`: drops instances.
pub const CLASS: &str = r##"
local configured, instances = {}, {}
local function configure(id, class, parse, ...)
  local obj = setmetatable({}, { __index = class })
  local conf = parse(obj, { ... })
  configured[id] = conf or false
  return conf ~= nil and type(conf.new) == "function"
end
local ops = {}
ops.configure = configure
function ops.new(id, key, class, parse, ...)
  if configured[id] == nil then configure(id, class, parse, ...) end
  local conf = configured[id]
  if not conf or type(conf.new) ~= "function" then return false end
  local inst = conf:new()
  if inst == nil then return false end
  instances[key] = inst
  return true
end
-- The callback is tail-called, so that an error's traceback ends with the script's
-- function, as HAProxy's does.
local ABSENT = "\0absent"
function ops.call(key, cb, txn, res, http, ...)
  local inst = instances[key]
  if inst == nil then return ABSENT end
  local f = inst[cb]
  if type(f) ~= "function" then return ABSENT end
  if http and rawget(txn, "http_req") == nil then
    rawset(txn, "http_req", P.new_msg(rawget(txn, 0), false))
    rawset(txn, "http_res", P.new_msg(rawget(txn, 0), true))
  end
  local arg
  if http then arg = res and txn.http_res or txn.http_req else arg = res and txn.res or txn.req end
  return f(inst, txn, arg, ...)
end
function ops.forget(...)
  for _, k in ipairs({ ... }) do instances[k] = nil end
  return true
end
P.flt_set_driver(function(op, ...) return ops[op](...) end)
"##;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_return_codes_are_haproxys() {
        assert_eq!((CONTINUE, WAIT, ERROR, FLT_CFG_FL_HTX), (1, 0, -1, 1));
    }

    #[test]
    fn data_requests_are_taken_once() {
        DATA.with(|d| d.set([None, Some(true)]));
        assert_eq!(take_data_requests(), [None, Some(true)]);
        assert_eq!(take_data_requests(), [None, None]);
    }
}
