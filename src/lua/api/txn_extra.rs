//! The smaller `TXN` methods and `act.wake_time`, beside [`super::txn`], which builds
//! the classes and registers these with its own primitives:
//!
//! * `txn:set_tos(n)`, `txn:set_mark(n)`: the TOS/traffic class and the netfilter mark of
//!   the client connection ([`crate::lua::host::StreamView::client_fd`]); a refusal by the
//!   kernel (`SO_MARK` without CAP_NET_ADMIN) is ignored, as HAProxy ignores it.
//! * `txn:set_priority_class(n)`, `txn:set_priority_offset(n)`: HAProxy clamps them to
//!   ±2047 and ±524287 and orders its server queues by them; moonproxy's queues have no
//!   priorities, so the values are checked and clamped, then have no effect.
//! * `txn:deflog(msg)`: a log line at the transaction's log level (see [`DEFLOG`]).
//! * `act.wake_time(ms)`: an action that then returns `act.YIELD` runs again no sooner
//!   than `ms` later ([`take_wake_time`], read by `crate::stream::lua`).
//!
//! HAProxy 2.6's argument checks are reproduced: exactly two arguments (`'set_tos' needs
//! 2 arguments`, `act.wake_time` exactly one), integers as `luaL_checkinteger` takes them
//! (`bad argument #2 to '?' (number expected, got string)`), all without position.
//!
//! The chunk [`CLASS`] runs at the end of the TXN prologue, where the class metatables
//! are locals: it adds these methods and the `__tostring` HAProxy gives every class
//! (`HAProxy class TXN`...).
use super::txn::with_stream;
use crate::config::model::Level;
use crate::lua::{CallCtx, LuaError, RustFunction};
use std::cell::Cell;
use std::os::raw::c_int;
use std::time::{Duration, Instant};

/// The primitives `CLASS` installs, added to the TXN prologue's `P` table.
pub(crate) static PRIMITIVES: &[(&std::ffi::CStr, &RustFunction)] = &[
    (c"set_tos", &SET_TOS),
    (c"set_mark", &SET_MARK),
    (c"set_priority_class", &SET_PRIORITY_CLASS),
    (c"set_priority_offset", &SET_PRIORITY_OFFSET),
    (c"deflog", &DEFLOG),
];

/// Lua run after the TXN classes, in the same chunk (their metatables are in scope).
pub(crate) const CLASS: &str = r#"
for _, m in ipairs({ "set_tos", "set_mark", "set_priority_class", "set_priority_offset", "deflog" }) do
  TXN[m] = P[m]
end
for mt, name in pairs({ [txn_mt] = "TXN", [http_mt] = "HTTP", [f_mt] = "Fetches", [sf_mt] = "Fetches",
                        [c_mt] = "Converters", [sc_mt] = "Converters", [channel_mt] = "Channel" }) do
  local text = "HAProxy class " .. name
  mt.__tostring = function() return text end
end
"#;

/// HAProxy's `check_args`: exactly `n` arguments.
fn need_args(ctx: &CallCtx, name: &str, n: c_int) -> Result<(), LuaError> {
    if ctx.nargs() != n {
        return Err(LuaError::message(format!("'{name}' needs {n} arguments")));
    }
    Ok(())
}

/// `luaL_checkinteger` as HAProxy's methods raise it: the function is `'?'` (it is found
/// in a table, not by name) and the message has no position.
fn int_arg(ctx: &CallCtx, n: c_int) -> Result<i64, LuaError> {
    ctx.integer(n).map_err(|_| {
        let why = match ctx.type_name(n) {
            "number" => "number has no integer representation".to_string(),
            other => format!("number expected, got {other}"),
        };
        LuaError::message(format!("bad argument #{n} to '?' ({why})"))
    })
}

/// Applies a socket option to the client connection, when the stream exposes it;
/// failures are ignored (HAProxy does not check them either).
fn client_sockopt(ctx: &mut CallCtx, name: &str, set: fn(i32, u32) -> std::io::Result<()>) -> Result<c_int, LuaError> {
    need_args(ctx, name, 2)?;
    let v = int_arg(ctx, 2)?;
    with_stream(ctx, |s| {
        if let Some(fd) = s.client_fd() {
            // The value is an `int` in HAProxy; the kernel reads the low bits it needs.
            let _ = set(fd, v as u32);
        }
    })?;
    Ok(0)
}

/// `txn:set_tos(tos)`.
static SET_TOS: RustFunction =
    RustFunction::new("?", |ctx| client_sockopt(ctx, "set_tos", crate::sys::sockopt::set_tos));

/// `txn:set_mark(mark)`.
static SET_MARK: RustFunction =
    RustFunction::new("?", |ctx| client_sockopt(ctx, "set_mark", crate::sys::sockopt::set_mark));

/// `txn:set_priority_class(n)` (`offset` false) and `txn:set_priority_offset(n)`: the
/// transaction's place in the queues, as `http-request set-priority-*` sets it (bounded
/// alike). A TCP-mode stream has no transaction to keep it: nothing changes there.
fn set_priority(ctx: &mut CallCtx, name: &str, offset: bool) -> Result<c_int, LuaError> {
    use crate::http::rules::{PRIORITY_CLASS_MAX, PRIORITY_OFFSET_MAX};
    need_args(ctx, name, 2)?;
    let max = if offset { PRIORITY_OFFSET_MAX } else { PRIORITY_CLASS_MAX };
    let v = int_arg(ctx, 2)?.clamp(-max, max) as i32;
    with_stream(ctx, |s| {
        if let Some(t) = s.txn() {
            if offset {
                t.priority.1 = v;
            } else {
                t.priority.0 = v;
            }
        }
    })?;
    Ok(0)
}

/// `txn:set_priority_class(n)`.
static SET_PRIORITY_CLASS: RustFunction = RustFunction::new("?", |ctx| set_priority(ctx, "set_priority_class", false));

/// `txn:set_priority_offset(n)`.
static SET_PRIORITY_OFFSET: RustFunction = RustFunction::new("?", |ctx| set_priority(ctx, "set_priority_offset", true));

/// `txn:deflog(msg)`: the message at the transaction's log level: `info`, or what
/// `set-log-level` or `txn:set_loglevel()` chose. (HAProxy 2.6 passes its internal
/// number, which is the level plus one, as a syslog level: `emerg` when nothing set it
/// and one level less severe than `set-log-level` said; moonproxy does not reproduce
/// that.) The message goes where `txn:log()` sends it.
static DEFLOG: RustFunction = RustFunction::new("?", |ctx| {
    need_args(ctx, "deflog", 2)?;
    let msg = match ctx.value(2) {
        crate::lua::Value::String(s) => s,
        crate::lua::Value::Integer(i) => i.to_string().into_bytes(),
        crate::lua::Value::Number(f) => super::concat::lua_number_text(f).into_bytes(),
        _ => {
            let got = ctx.type_name(2);
            return Err(LuaError::message(format!("bad argument #2 to '?' (string expected, got {got})")));
        }
    };
    let level = with_stream(ctx, |s| s.txn().and_then(|t| t.log_level))?.unwrap_or(Level::Info);
    let core = super::core::core()?;
    core.log.borrow().send(level, &String::from_utf8_lossy(&msg), core.phase.get());
    Ok(0)
});

thread_local! {
    /// The wake-up time `act.wake_time` asked for during the current resume.
    static WAKE_TIME: Cell<Option<Instant>> = const { Cell::new(None) };
}

/// The time `act.wake_time` set since the last call (each resume starts without one,
/// as in HAProxy, which resets it before resuming a coroutine).
pub fn take_wake_time() -> Option<Instant> {
    WAKE_TIME.with(Cell::take)
}

/// `act.wake_time(ms)`: HAProxy registers it as a plain function of the `act` table,
/// so it takes exactly one argument (`act:wake_time(ms)`, as its documentation writes
/// it, fails in 2.6 with `'wake_time' needs 1 arguments`). In the body (no coroutine)
/// it does nothing and checks nothing. The delay is an unsigned 32-bit count of
/// milliseconds, as in HAProxy (a negative number wraps to a long delay).
static WAKE_TIME_FN: RustFunction = RustFunction::new("?", |ctx| {
    // SAFETY: `ctx.raw()` is the running thread of our state.
    if unsafe { crate::lua::task::task_of(ctx.raw()) }.is_none() {
        return Ok(0);
    }
    need_args(ctx, "wake_time", 1)?;
    let ms = int_arg(ctx, 1)? as u32;
    WAKE_TIME.with(|w| w.set(Some(Instant::now() + Duration::from_millis(u64::from(ms)))));
    Ok(0)
});

/// Adds `wake_time` to the global `act` table (made by [`super::txn::install_act`]).
pub fn install_act_wake_time(state: &crate::lua::State) -> Result<(), LuaError> {
    state.set_global_function("__moonproxy_act_wake_time", &WAKE_TIME_FN)?;
    state.exec(
        b"act.wake_time = __moonproxy_act_wake_time; __moonproxy_act_wake_time = nil",
        "=act",
    )?;
    Ok(())
}
