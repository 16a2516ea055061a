//! Coroutines driven by the reactor (`doc/lua-ffi.md` section 7).
//!
//! A [`Task`] is one Lua thread anchored in the registry, with a small [`TaskCtx`] reachable
//! from its extra space. [`Task::resume`] runs it until it stops and says why ([`Resume`]); the
//! reactor acts on that: finished, waiting (forced yield, sleep deadline, I/O), or failed.
use super::error::{LuaError, TimeoutKind};
use super::hook::{self, WaitReason};
use super::registry::RegistryRef;
use super::state::{self, read_value, shared_of, Inner, State, Value};
use lua54_sys as ffi;
use std::cell::Cell;
use std::os::raw::{c_int, c_void};
use std::rc::Rc;
use std::time::{Duration, Instant};

/// Lua's memory error message (`LUA_ERRMEM`'s error object).
const MEMORY_ERROR: &str = "not enough memory";

/// Time budgets of a task (None: unlimited).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Limits {
    /// Longest single resume (`tune.lua.burst-timeout`).
    pub burst: Option<Duration>,
    /// Longest total Lua run time over all resumes (`session-timeout`, `task-timeout`…).
    pub total: Option<Duration>,
}

/// Why a resume stopped.
#[derive(Debug, Clone, PartialEq)]
pub enum Resume {
    /// The function returned these values. The task is over.
    Finished(Vec<Value>),
    /// The task waits; resume it again when the reason is satisfied.
    Yield(WaitReason),
    /// A Lua error (message, and traceback of the coroutine). The task is over.
    Error { message: String, traceback: String },
    /// A time budget ran out. The task is over.
    Timeout(TimeoutKind),
    /// Lua ran out of memory. The task is over.
    NoMem,
    /// A Rust callback panicked (rule P1). The task is over.
    Panic(String),
}

/// What the hook and the callbacks need to know about the running task. Reached through the
/// state's `running_task` pointer and the thread's extra space (rule C2).
pub struct TaskCtx {
    pub(crate) co: *mut ffi::lua_State,
    pub(crate) limits: Limits,
    pub(crate) resume_start: Cell<Instant>,
    /// Lua run time of the previous resumes.
    pub(crate) run_before: Cell<Duration>,
    /// The reason of a task-level yield in progress (rule Y3).
    pub(crate) pending: Cell<Option<WaitReason>>,
    /// How long the last resume ran (measured by [`Task::resume`], read by `lua::stats`).
    pub(crate) last_resume: Cell<Duration>,
    /// How much the Lua heap grew at most during the last resume, in bytes (`lua::stats`).
    pub(crate) last_growth: Cell<usize>,
    /// The heap's use at the end of the last resume less at its start (`lua::stats`).
    pub(crate) last_net: Cell<isize>,
    /// The `lua::stats` entry of the call in flight, `u32::MAX` when none.
    pub(crate) stats_entry: Cell<u32>,
    /// What the last accounted resume left it waiting for (`lua::stats`'s gauges):
    /// 0 nothing, 1 a sleep, 2 I/O.
    pub(crate) stats_wait: Cell<u8>,
    /// The owner the sockets opened by the call in flight count against (`lua::stats`).
    pub(crate) stats_owner: std::cell::RefCell<Option<std::rc::Rc<crate::lua::stats::Owner>>>,
}

impl TaskCtx {
    /// The budget that ran out by `now`, if any.
    pub(crate) fn over_budget(&self, now: Instant) -> Option<TimeoutKind> {
        let this = now.saturating_duration_since(self.resume_start.get());
        if self.limits.burst.is_some_and(|b| this > b) {
            return Some(TimeoutKind::Burst);
        }
        if self
            .limits
            .total
            .is_some_and(|t| self.run_before.get() + this > t)
        {
            return Some(TimeoutKind::Total);
        }
        None
    }

    /// Total Lua run time so far.
    pub fn run_time(&self) -> Duration {
        self.run_before.get()
    }
}

/// The task context of thread `l`, if `l` is a task's own coroutine (null extra space means
/// "not ours": the main thread and script coroutines).
///
/// # Safety
/// `l` is a valid thread of one of our states.
pub unsafe fn task_of<'a>(l: *mut ffi::lua_State) -> Option<&'a TaskCtx> {
    // SAFETY: the extra space holds null or a pointer to a live TaskCtx (cleared on close).
    unsafe { (*ffi::lua_getextraspace(l).cast::<*const TaskCtx>()).as_ref() }
}

/// A coroutine owned by Rust.
pub struct Task {
    inner: Rc<Inner>,
    anchor: Option<RegistryRef>,
    ctx: Box<TaskCtx>,
    done: bool,
    /// Not resumed since it was made or reused: the thread is at its base with an empty
    /// stack, so making it ready again needs no `lua_closethread` (which would also shrink
    /// its stack to the minimum, regrown by the next call).
    fresh: bool,
    /// Where the task was when a budget stopped it (HAProxy logs it after the message).
    timeout_traceback: Option<String>,
}

impl std::fmt::Debug for Task {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Task").field("done", &self.done).finish()
    }
}

impl Task {
    /// Creates the coroutine, anchored in the registry in the same protected step (rule C1).
    pub fn new(state: &State, limits: Limits) -> Result<Task, LuaError> {
        let main = state.raw();
        let mut co: *mut ffi::lua_State = std::ptr::null_mut();
        let mut id: c_int = ffi::LUA_NOREF;
        let (co_out, id_out): (*mut *mut ffi::lua_State, *mut c_int) = (&mut co, &mut id);
        // SAFETY: main thread between calls; newthread and ref allocate: protected. The closure
        // writes through raw pointers to this frame's locals.
        unsafe {
            state::protect(main, 0, 0, move |l| {
                *co_out = ffi::lua_newthread(l);
                *id_out = ffi::luaL_ref(l, ffi::LUA_REGISTRYINDEX);
                0
            })?;
        }
        let ctx = Box::new(TaskCtx {
            co,
            limits,
            resume_start: Cell::new(Instant::now()),
            run_before: Cell::new(Duration::ZERO),
            pending: Cell::new(None),
            last_resume: Cell::new(Duration::ZERO),
            last_growth: Cell::new(0),
            last_net: Cell::new(0),
            stats_entry: Cell::new(u32::MAX),
            stats_wait: Cell::new(0),
            stats_owner: std::cell::RefCell::new(None),
        });
        // SAFETY: co is a fresh anchored thread; its extra space is one pointer.
        unsafe { *ffi::lua_getextraspace(co).cast::<*const TaskCtx>() = &*ctx };
        let anchor = RegistryRef::from_id(state, id);
        Ok(Task {
            inner: state.inner.clone(),
            anchor: Some(anchor),
            ctx,
            done: false,
            fresh: true,
            timeout_traceback: None,
        })
    }

    /// The coroutine, for raw API use by the rest of `crate::lua`.
    pub fn raw(&self) -> *mut ffi::lua_State {
        self.ctx.co
    }

    pub fn ctx(&self) -> &TaskCtx {
        &self.ctx
    }

    /// Whether the task is over (finished, failed or closed).
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// Pushes the function in `f` onto the coroutine (before the first resume).
    pub fn push_function(&mut self, f: &RegistryRef) -> Result<(), LuaError> {
        // SAFETY: co is not running; checkstack and rawgeti never raise.
        unsafe {
            if ffi::lua_checkstack(self.ctx.co, 1) == 0 {
                return Err(LuaError::Memory);
            }
            f.push(self.ctx.co);
        }
        Ok(())
    }

    /// Compiles `chunk` onto the coroutine as its function.
    pub fn load(&mut self, chunk: &[u8], name: &str) -> Result<(), LuaError> {
        // SAFETY: co is not running.
        unsafe { state::load_chunk(self.ctx.co, chunk, name) }
    }

    /// Pushes an argument (or the values for a resume after a yield).
    pub fn push_value(&mut self, v: &Value) -> Result<(), LuaError> {
        let co = self.ctx.co;
        // SAFETY: co is not running (not started, or suspended in a yield); strings allocate:
        // protected, on the main thread (between calls) and moved with lua_xmove, which
        // never raises (room checked on co above).
        unsafe {
            if ffi::lua_checkstack(co, 3) == 0 {
                return Err(LuaError::Memory);
            }
            match v {
                Value::Nil | Value::Other(_) => ffi::lua_pushnil(co),
                Value::Boolean(b) => ffi::lua_pushboolean(co, *b as c_int),
                Value::Integer(i) => ffi::lua_pushinteger(co, *i),
                Value::Number(n) => ffi::lua_pushnumber(co, *n),
                Value::String(s) => {
                    // A suspended coroutine cannot run a protected call (Lua asserts
                    // "cannot do calls on non-normal thread"): the string is made on the
                    // main thread, between calls, and moved over.
                    let (p, len) = (s.as_ptr(), s.len());
                    let main = self.inner.main;
                    if ffi::lua_checkstack(main, 3) == 0 {
                        return Err(LuaError::Memory);
                    }
                    state::protect(main, 0, 1, move |l| {
                        ffi::lua_pushlstring(l, p.cast(), len);
                        1
                    })?;
                    ffi::lua_xmove(main, co, 1);
                }
            }
        }
        Ok(())
    }

    /// Runs the coroutine with the `nargs` values on top of its stack until it stops.
    pub fn resume(&mut self, nargs: c_int) -> Resume {
        if self.done {
            return Resume::Error {
                message: "cannot resume dead coroutine".into(),
                traceback: String::new(),
            };
        }
        let shared = &self.inner.shared;
        assert!(
            shared.running_task.get().is_null(),
            "a task is resumed while another one runs (rule C5)"
        );
        let co = self.ctx.co;
        let mode = shared.preempt.get();
        self.fresh = false;
        self.ctx.pending.set(None);
        shared.running_task.set(&*self.ctx);
        let mem_start = shared.alloc.start_mark();
        let start = Instant::now();
        self.ctx.resume_start.set(start);
        let mut nres: c_int = 0;
        // SAFETY: co is anchored and suspended (or fresh) with its function and arguments
        // pushed; lua_resume is a protected entry; the hook setup is non-raising.
        let status = unsafe {
            hook::begin_resume(co, mode);
            let status = ffi::lua_resume(co, self.inner.main, nargs, &mut nres);
            hook::end_resume(mode);
            status
        };
        shared.running_task.set(std::ptr::null());
        let elapsed = start.elapsed();
        self.ctx.last_resume.set(elapsed);
        self.ctx.last_growth.set(shared.alloc.mark().saturating_sub(mem_start));
        self.ctx.last_net.set(shared.alloc.stats().current as isize - mem_start as isize);
        self.ctx.run_before.set(self.ctx.run_before.get() + elapsed);
        let abort = shared.take_abort();
        let outcome = match (status, abort) {
            (_, Some(LuaError::Timeout(k))) => {
                self.timeout_traceback = self.traceback();
                Resume::Timeout(k)
            }
            (_, Some(LuaError::Panic(m))) => Resume::Panic(m),
            (ffi::LUA_YIELD, _) => {
                // SAFETY: the yielded values are on co's stack; drop them (a task-level yield
                // passes none).
                unsafe { ffi::lua_pop(co, nres) };
                let reason = self.ctx.pending.take().unwrap_or(WaitReason::Other);
                match self.budget_after(elapsed) {
                    Some(k) => {
                        self.timeout_traceback = self.traceback();
                        Resume::Timeout(k)
                    }
                    None => return Resume::Yield(reason),
                }
            }
            (ffi::LUA_OK, _) => {
                // SAFETY: the nres results are on top of co's stack.
                let values = unsafe {
                    let top = ffi::lua_gettop(co);
                    let v: Vec<Value> = (top - nres + 1..=top).map(|i| read_value(co, i)).collect();
                    ffi::lua_settop(co, 0);
                    v
                };
                // The function returned: the thread is back at its base, with nothing left
                // to close, ready for another call ([`Task::reuse`]) without a reset.
                self.done = true;
                return Resume::Finished(values);
            }
            (ffi::LUA_ERRMEM, _) => Resume::NoMem,
            _ => {
                // SAFETY: the error object is on top of co, whose stack is left as it was at
                // the error, so the traceback can still walk it.
                let message = unsafe { state::error_message(co) };
                if message == MEMORY_ERROR {
                    // A Rust callback failed to allocate (LuaError::Memory): the C API has no
                    // way to raise LUA_ERRMEM itself, so it raised Lua's message.
                    Resume::NoMem
                } else {
                    let traceback = self.traceback().unwrap_or_default();
                    Resume::Error { message, traceback }
                }
            }
        };
        self.finish();
        outcome
    }

    fn budget_after(&self, elapsed: Duration) -> Option<TimeoutKind> {
        let l = self.ctx.limits;
        if l.burst.is_some_and(|b| elapsed > b) {
            return Some(TimeoutKind::Burst);
        }
        if l.total.is_some_and(|t| self.ctx.run_before.get() > t) {
            return Some(TimeoutKind::Total);
        }
        None
    }

    /// After [`Resume::Timeout`]: the traceback of the coroutine where the budget stopped it,
    /// taken before the coroutine was closed.
    pub fn timeout_traceback(&self) -> Option<&str> {
        self.timeout_traceback.as_deref()
    }

    /// The traceback of the (errored) coroutine, built on the main thread.
    fn traceback(&self) -> Option<String> {
        let main = self.inner.main;
        let co = self.ctx.co;
        // SAFETY: main is between calls; luaL_traceback allocates: protected; the result is
        // copied before the guard pops it.
        unsafe {
            let _guard = state::StackGuard::new(main);
            state::protect(main, 0, 1, move |l| {
                ffi::luaL_traceback(l, co, std::ptr::null(), 0);
                1
            })
            .ok()?;
            Some(state::error_message(main))
        }
    }

    /// Closes the coroutine (rule C4): runs its pending `__close` variables, frees its stack,
    /// and queues its anchor for release. Idempotent; the task cannot be reused after it.
    pub fn close(&mut self) {
        self.finish();
        super::stats::abandon(&self.ctx);
        if self.anchor.take().is_some() {
            // SAFETY: co is still anchored here (the reference is only queued for release)
            // and not running; the extra space is one pointer. A script that kept the
            // thread (`coroutine.running()`) now sees it as no task of ours.
            unsafe { *ffi::lua_getextraspace(self.ctx.co).cast::<*mut c_void>() = std::ptr::null_mut() };
        }
    }

    /// Makes a task whose call is over ready for another call on the same thread (rule C6):
    /// a suspended call is abandoned first (the thread is reset with `lua_closethread`,
    /// which runs its pending `__close` variables), as is a thread an error or a budget
    /// stopped. The budgets count again from zero. False when the task was closed
    /// ([`Task::close`]): it cannot be reused.
    pub fn reuse(&mut self) -> bool {
        if self.anchor.is_none() {
            return false;
        }
        self.finish();
        super::stats::abandon(&self.ctx);
        let co = self.ctx.co;
        // SAFETY: co is anchored and not running; its stack is empty (a finished call
        // cleared it, finish reset it otherwise); the extra space is one pointer, and the
        // context outlives the thread's use as a task (it is cleared again on close).
        unsafe {
            ffi::lua_settop(co, 0);
            *ffi::lua_getextraspace(co).cast::<*const TaskCtx>() = &*self.ctx;
        }
        self.ctx.run_before.set(Duration::ZERO);
        self.ctx.pending.set(None);
        self.timeout_traceback = None;
        self.done = false;
        self.fresh = true;
        true
    }

    /// The budgets of the next calls (a reused task may serve another kind of caller).
    pub fn set_limits(&mut self, limits: Limits) {
        self.ctx.limits = limits;
    }

    /// Resets the thread unless its last call returned normally or it was not resumed since
    /// it was made or reused (either leaves it clean).
    fn finish(&mut self) {
        if self.done {
            return;
        }
        self.done = true;
        if self.fresh {
            return;
        }
        #[cfg(test)]
        RESETS.with(|r| r.set(r.get() + 1));
        let co = self.ctx.co;
        // SAFETY: co is not running; lua_closethread is protected internally (errors in
        // __close become its status); hooks and the extra space are plain writes.
        unsafe {
            ffi::lua_sethook(co, None, 0, 0);
            let status = ffi::lua_closethread(co, self.inner.main);
            if status != ffi::LUA_OK && status != ffi::LUA_YIELD {
                // The error object of the close is left on co's stack: clear it.
                ffi::lua_settop(co, 0);
            }
            *ffi::lua_getextraspace(co).cast::<*mut c_void>() = std::ptr::null_mut();
            // An abort raised while closing (a __close handler running into the re-raise
            // hook) must not leak into the next task.
            let _ = shared_of(co).take_abort();
        }
    }
}

impl Drop for Task {
    fn drop(&mut self) {
        self.close();
    }
}

#[cfg(test)]
thread_local! {
    /// `lua_closethread` calls made by [`Task::finish`] on this thread.
    static RESETS: Cell<u32> = const { Cell::new(0) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_task_runs_again_on_its_coroutine_with_fresh_budgets() {
        let state = State::new().unwrap();
        let limits = Limits { burst: None, total: Some(Duration::from_secs(5)) };
        let mut task = Task::new(&state, limits).unwrap();
        task.load(b"return 1", "=a").unwrap();
        assert_eq!(task.resume(0), Resume::Finished(vec![Value::Integer(1)]));
        let co = task.raw();
        assert!(task.reuse());
        assert!(!task.is_done());
        assert_eq!(task.ctx().run_time(), Duration::ZERO);
        // A suspended call is abandoned: its pending to-be-closed variable runs.
        task.load(b"local t <close> = setmetatable({}, { __close = function() X = 2 end }) coroutine.yield()", "=b").unwrap();
        assert_eq!(task.resume(0), Resume::Yield(WaitReason::Other));
        assert!(task.reuse());
        task.load(b"return X", "=c").unwrap();
        assert_eq!(task.resume(0), Resume::Finished(vec![Value::Integer(2)]));
        assert_eq!(task.raw(), co, "the same thread");
        // A task that failed is reset for the next call.
        assert!(task.reuse());
        task.load(b"error('x')", "=d").unwrap();
        assert!(matches!(task.resume(0), Resume::Error { .. }));
        assert!(task.reuse());
        task.set_limits(Limits::default());
        task.load(b"return 3", "=e").unwrap();
        assert_eq!(task.resume(0), Resume::Finished(vec![Value::Integer(3)]));
        // A closed task cannot run again.
        task.close();
        assert!(!task.reuse());
    }

    /// A task reused twice after a normal return (the stream gives its thread back after an
    /// action, then to the spare list when it ends) is not reset: a reset would shrink the
    /// stack the next call grows again, and cost a `lua_closethread` per request.
    #[test]
    fn a_clean_task_is_not_reset_when_reused_again() {
        let state = State::new().unwrap();
        let mut task = Task::new(&state, Limits::default()).unwrap();
        let resets = || RESETS.with(Cell::get);
        let before = resets();
        assert!(task.reuse(), "a new task");
        task.load(b"return 1", "=a").unwrap();
        assert_eq!(task.resume(0), Resume::Finished(vec![Value::Integer(1)]));
        assert!(task.reuse());
        assert!(task.reuse());
        assert_eq!(resets(), before, "no reset for a clean thread");
        task.load(b"coroutine.yield()", "=b").unwrap();
        assert_eq!(task.resume(0), Resume::Yield(WaitReason::Other));
        assert!(task.reuse());
        assert_eq!(resets(), before + 1, "a suspended call is reset");
        assert!(task.reuse());
        assert_eq!(resets(), before + 1, "once");
        task.load(b"return 2", "=c").unwrap();
        assert_eq!(task.resume(0), Resume::Finished(vec![Value::Integer(2)]));
    }
}
