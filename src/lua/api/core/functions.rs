//! `core.sleep`, `core.msleep`, `core.yield`, `core.now`, `core.done`, `core.set_nice`.
use super::{core, Phase};
use crate::lua::{CallCtx, LuaError, RustFunction, WaitReason};
use lua54_sys as ffi;
use std::os::raw::c_int;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Whether a `core.sleep`-like call may suspend here: in a running task (not in a body or an
/// init function, where HAProxy does nothing either).
fn can_suspend(ctx: &CallCtx) -> Result<bool, LuaError> {
    let core = core()?;
    if core.phase.get() != Phase::Running {
        return Ok(false);
    }
    // SAFETY: the running thread of our state.
    Ok(unsafe { task_running(ctx.raw()) })
}

/// True while a task is being resumed (false for main-thread code: bodies).
///
/// # Safety
/// `l` is a thread of one of our states.
unsafe fn task_running(l: *mut ffi::lua_State) -> bool {
    // SAFETY: forwarded; reading the running-task pointer never raises.
    !unsafe { crate::lua::state::shared_of(l) }
        .running_task
        .get()
        .is_null()
}

fn sleep_for(ctx: &mut CallCtx, d: Duration) -> Result<c_int, LuaError> {
    if can_suspend(ctx)? {
        ctx.yield_now(WaitReason::Sleep(Instant::now() + d))?;
    }
    Ok(0)
}

/// `core.sleep(seconds)`: an integer, as in HAProxy (`luaL_checkinteger`).
fn sleep(ctx: &mut CallCtx) -> Result<c_int, LuaError> {
    let s = ctx.integer(1)?;
    sleep_for(ctx, Duration::from_secs(s.max(0) as u64))
}

fn msleep(ctx: &mut CallCtx) -> Result<c_int, LuaError> {
    let ms = ctx.integer(1)?;
    sleep_for(ctx, Duration::from_millis(ms.max(0) as u64))
}

/// `core.yield()`: back to the reactor, resumed at the next iteration after I/O.
fn yield_(ctx: &mut CallCtx) -> Result<c_int, LuaError> {
    if can_suspend(ctx)? {
        ctx.yield_now(WaitReason::Other)?;
    }
    Ok(0)
}

/// `core.now()`: `{sec=, usec=}` of the wall clock.
fn now(ctx: &mut CallCtx) -> Result<c_int, LuaError> {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let (sec, usec) = (d.as_secs() as i64, i64::from(d.subsec_micros()));
    ctx.reserve(3)?;
    // SAFETY: the table and its two fields allocate: `allocating` protects them when a memory
    // limit is set (rule M2); the closure captures two integers.
    unsafe {
        ctx.allocating(move |l| {
            ffi::lua_createtable(l, 0, 2);
            ffi::lua_pushinteger(l, sec);
            ffi::lua_setfield(l, -2, c"sec".as_ptr());
            ffi::lua_pushinteger(l, usec);
            ffi::lua_setfield(l, -2, c"usec".as_ptr());
            1
        })?;
    }
    Ok(1)
}

/// `core.done()`: ends the running task at once. In a task it yields to the reactor with the
/// engine's `done` flag set, so `pcall` cannot catch it; elsewhere (bodies, init functions) it
/// does nothing, as observed with HAProxy 2.6 in bodies.
fn done(ctx: &mut CallCtx) -> Result<c_int, LuaError> {
    let core = core()?;
    // SAFETY: the running thread of our state.
    let in_task = unsafe { task_running(ctx.raw()) };
    if in_task {
        core.done.set(true);
        // SAFETY: lua_isyieldable never raises.
        if unsafe { ffi::lua_isyieldable(ctx.raw()) } != 0 {
            ctx.yield_now(WaitReason::Other)?;
        } else {
            return Err(LuaError::message(""));
        }
    }
    Ok(0)
}

/// `core.set_nice(n)`: recorded, clamped to HAProxy's -1024..1024; the reactor has no
/// priorities.
fn set_nice(ctx: &mut CallCtx) -> Result<c_int, LuaError> {
    let n = ctx.integer(1)?;
    core()?.nice.set(n.clamp(-1024, 1024));
    Ok(0)
}

pub static SLEEP: RustFunction = RustFunction::new("sleep", sleep);
pub static MSLEEP: RustFunction = RustFunction::new("msleep", msleep);
pub static YIELD: RustFunction = RustFunction::new("yield", yield_);
pub static NOW: RustFunction = RustFunction::new("now", now);
pub static DONE: RustFunction = RustFunction::new("done", done);
pub static SET_NICE: RustFunction = RustFunction::new("set_nice", set_nice);
