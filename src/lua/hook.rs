//! Preemption: taking control back from running Lua (`doc/lua-ffi.md` section 8).
//!
//! Lua runs with **no hook**. In [`Preempt::Timer`] mode each OS thread that runs Lua owns a
//! POSIX timer aimed at itself (`SIGEV_THREAD_ID`); while a task is resumed the timer ticks
//! every slice, and the signal handler sets a count hook of one instruction on the coroutine
//! recorded as running, as lua.c does from its SIGINT handler. The hook then yields that
//! coroutine if it is yieldable, or checks the time budgets and tries again later.
//!
//! The running coroutine is tracked through a Lua prelude (`prelude.lua`) that wraps
//! `coroutine.resume` and `coroutine.wrap` between two Rust functions, `ENTER` and
//! `LEAVE`; the same wrappers pass a task-level yield (forced yield, sleep, I/O) from a
//! script's coroutine up to the task, and resume the inner coroutine when the task resumes.
//!
//! [`Preempt::Count`] is HAProxy's `tune.lua.forced-yield`: a count hook every N instructions.
use super::callback::{CallCtx, RustFunction};
use super::error::{LuaError, TimeoutKind};
use super::state::{self, shared_of, AbortKind, State};
use lua54_sys as ffi;
use std::cell::Cell;
use std::os::raw::{c_int, c_void};
use std::ptr;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, Ordering};
use std::sync::Once;
use std::time::{Duration, Instant};

/// How running tasks are interrupted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Preempt {
    /// No hook, no timer: budgets are checked only when the task yields by itself.
    Off,
    /// HAProxy's mechanism: a count hook every N VM instructions (`tune.lua.forced-yield N`).
    Count(u32),
    /// moonproxy's default: no hook, a timer signal every slice arms a one-shot hook.
    Timer(Duration),
}

/// The default slice of the timer mode.
pub const DEFAULT_SLICE: Duration = Duration::from_millis(1);

impl Default for Preempt {
    fn default() -> Self {
        Preempt::Timer(DEFAULT_SLICE)
    }
}

/// Why a task yielded to the reactor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitReason {
    /// Preempted: resume it as soon as possible.
    Forced,
    /// `core.sleep`/`msleep`: resume it at the deadline.
    Sleep(Instant),
    /// Waiting for I/O readiness of the object it registered.
    Io,
    /// A plain `coroutine.yield()` at task level, or `core.yield()`: resume it soon.
    Other,
}

/// The signal used by the preemption timer (`SIGRTMIN + 2`; glibc's `SIGRTMIN` already
/// skips the real-time signals it uses itself).
pub fn preempt_signal() -> c_int {
    libc::SIGRTMIN() + 2
}

/// Per-OS-thread preemption record, shared with the signal handler. Leaked on purpose: a
/// signal already queued when a thread ends must never find it freed.
pub(crate) struct Slot {
    /// The coroutine really running now (null between resumes).
    pub(crate) running: AtomicPtr<ffi::lua_State>,
    /// The task's own coroutine during a resume: hooked by every tick too, so the task can
    /// always be yielded even if `running` went stale (an error thrown between `enter` and
    /// `leave`, which only a memory error in `coroutine.resume` itself can cause).
    task_co: AtomicPtr<ffi::lua_State>,
    /// The slice ran out since the last forced yield.
    pub(crate) expired: AtomicBool,
    /// The slice of the current resume (ns), `u64::MAX` between resumes.
    slice: AtomicU64,
    /// This thread's CPU time (`CLOCK_THREAD_CPUTIME_ID`, ns) at the first tick of the
    /// current resume, [`NO_MARK`] before it. Read by the signal handler only, so a resume
    /// costs no clock syscall: the first tick of a resume only takes this mark, and a later
    /// tick finds the slice over when the thread used at least half a slice of CPU since
    /// the mark (cumulative, so a thread that gets only part of a CPU is still preempted).
    /// A resume descheduled by the system is thus not preempted for it, and a signal queued
    /// by an earlier resume but delivered late only takes the mark.
    cpu_mark: AtomicU64,
    /// The thread's timer while it is armed ([`armed_token`]: the id plus one, since
    /// glibc's first timer id is 0, a null `timer_t`), null when
    /// disarmed. It stays armed between resumes, so a busy reactor arms it once rather
    /// than twice per resume; the first tick that finds no Lua running disarms it.
    timer_armed: AtomicPtr<c_void>,
    armed_slice: AtomicU64,
    /// A resume began since the last tick: a tick that finds no Lua running disarms the
    /// timer only after a whole slice without any resume, so a busy reactor (a resume per
    /// slice or more) keeps it armed rather than disarming and re-arming it (two
    /// `timer_settime` calls) around every idle tick.
    resumed: AtomicBool,
}

/// `clock` in nanoseconds (async-signal-safe: `clock_gettime` is).
fn clock_ns(clock: libc::clockid_t) -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes the timespec we pass.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// `CLOCK_THREAD_CPUTIME_ID` in nanoseconds: a real syscall (the vDSO does not serve
/// per-thread CPU clocks), so it is read on timer ticks only, never per resume.
fn thread_cpu_ns() -> u64 {
    clock_ns(libc::CLOCK_THREAD_CPUTIME_ID)
}

/// [`Slot::cpu_mark`] before the first tick of a resume.
const NO_MARK: u64 = u64::MAX;

/// The POSIX timer of this thread, deleted when the thread ends.
struct ThreadTimer {
    id: Cell<Option<libc::timer_t>>,
    failed: Cell<bool>,
}

impl Drop for ThreadTimer {
    fn drop(&mut self) {
        if let Some(id) = self.id.get() {
            // SAFETY: a timer we created on this thread and never deleted.
            unsafe { libc::timer_delete(id) };
        }
    }
}

thread_local! {
    static SLOT: &'static Slot = Box::leak(Box::new(Slot {
        running: AtomicPtr::new(ptr::null_mut()),
        task_co: AtomicPtr::new(ptr::null_mut()),
        expired: AtomicBool::new(false),
        slice: AtomicU64::new(u64::MAX),
        cpu_mark: AtomicU64::new(NO_MARK),
        timer_armed: AtomicPtr::new(ptr::null_mut()),
        armed_slice: AtomicU64::new(0),
        resumed: AtomicBool::new(false),
    }));
    static TIMER: ThreadTimer = const { ThreadTimer { id: Cell::new(None), failed: Cell::new(false) } };
}

pub(crate) fn thread_slot() -> &'static Slot {
    SLOT.with(|s| *s)
}

static HANDLER: Once = Once::new();

fn install_handler() {
    HANDLER.call_once(|| {
        // SAFETY: a zeroed sigaction is valid; the handler only touches atomics and calls
        // lua_sethook, which Lua allows from a signal handler.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_signal as *const () as usize;
            sa.sa_flags = libc::SA_SIGINFO | libc::SA_RESTART;
            libc::sigemptyset(&mut sa.sa_mask);
            if libc::sigaction(preempt_signal(), &sa, ptr::null_mut()) != 0 {
                log::error!("Lua: cannot install the preemption signal handler");
            }
            // POSIX timers are not inherited by fork (daemon mode): the child forgets the id.
            libc::pthread_atfork(None, None, Some(forget_timer_after_fork));
        }
    });
}

/// `pthread_atfork` child handler: runs in the child's only thread, the one that forked.
extern "C" fn forget_timer_after_fork() {
    let _ = TIMER.try_with(|t| t.id.set(None));
    let _ = SLOT.try_with(|s| s.timer_armed.store(ptr::null_mut(), Ordering::Release));
}

/// The signal handler: async-signal-safe (atomics and `lua_sethook` only).
extern "C" fn on_signal(_sig: c_int, info: *mut libc::siginfo_t, _uc: *mut c_void) {
    // SAFETY: the kernel passes the siginfo of a timer signal whose value is the leaked Slot of
    // the thread the timer targets (this thread).
    unsafe {
        let slot = (*info).si_value().sival_ptr.cast::<Slot>();
        if slot.is_null() {
            return;
        }
        if (*slot).running.load(Ordering::Acquire).is_null() && (*slot).task_co.load(Ordering::Acquire).is_null() {
            // No Lua runs: the timer was left armed by the last resume; stop it, unless a
            // resume began during the last slice (a busy reactor: the next one comes soon).
            if (*slot).resumed.swap(false, Ordering::AcqRel) {
                return;
            }
            let token = (*slot).timer_armed.swap(ptr::null_mut(), Ordering::AcqRel);
            if let Some(id) = armed_id(token) {
                set_timer(id, Duration::ZERO);
            }
            return;
        }
        // The slice is over when this resume has seen an earlier tick and the thread used at
        // least half a slice of CPU since the first one (see `Slot::cpu_mark`).
        let cpu = thread_cpu_ns();
        let mark = (*slot).cpu_mark.load(Ordering::Acquire);
        if mark == NO_MARK {
            (*slot).cpu_mark.store(cpu, Ordering::Release);
            return;
        }
        if cpu.saturating_sub(mark) < (*slot).slice.load(Ordering::Relaxed) / 2 {
            return;
        }
        (*slot).expired.store(true, Ordering::Relaxed);
        // Both threads are anchored while recorded: the task's by its registry reference,
        // the running one by the registry slot `enter` writes (RUNNING_ANCHOR).
        let co = (*slot).running.load(Ordering::Acquire);
        if !co.is_null() {
            ffi::lua_sethook(co, Some(preempt_hook), ffi::LUA_MASKCOUNT, 1);
        }
        let task_co = (*slot).task_co.load(Ordering::Acquire);
        if !task_co.is_null() && task_co != co {
            ffi::lua_sethook(task_co, Some(preempt_hook), ffi::LUA_MASKCOUNT, 1);
        }
    }
}

/// This thread's timer, created on first use (None if the system refused one).
fn thread_timer() -> Option<libc::timer_t> {
    TIMER.with(|t| {
        if let Some(id) = t.id.get() {
            return Some(id);
        }
        if t.failed.get() {
            return None;
        }
        install_handler();
        // SAFETY: zeroed sigevent is valid; SIGEV_THREAD_ID aims the signal at this thread,
        // with the leaked slot as its value.
        unsafe {
            let mut sev: libc::sigevent = std::mem::zeroed();
            sev.sigev_notify = libc::SIGEV_THREAD_ID;
            sev.sigev_signo = preempt_signal();
            sev.sigev_value = libc::sigval {
                sival_ptr: (thread_slot() as *const Slot).cast_mut().cast(),
            };
            sev.sigev_notify_thread_id = libc::gettid();
            let mut id: libc::timer_t = ptr::null_mut();
            if libc::timer_create(libc::CLOCK_MONOTONIC, &mut sev, &mut id) != 0 {
                log::error!(
                    "Lua: timer_create failed ({}); tasks will not be preempted",
                    std::io::Error::last_os_error()
                );
                t.failed.set(true);
                return None;
            }
            t.id.set(Some(id));
            Some(id)
        }
    })
}

fn set_timer(id: libc::timer_t, slice: Duration) -> bool {
    let ts = libc::timespec {
        tv_sec: slice.as_secs() as libc::time_t,
        tv_nsec: slice.subsec_nanos() as libc::c_long,
    };
    let spec = libc::itimerspec {
        it_interval: ts,
        it_value: ts,
    };
    // SAFETY: a timer id of this thread (or a stale one, which the kernel refuses); a zero
    // spec disarms it.
    unsafe { libc::timer_settime(id, 0, &spec, ptr::null_mut()) == 0 }
}

/// Arms this thread's timer for `slice`; if the kernel refuses the id (it should not: fork is
/// handled by `forget_timer_after_fork`), a new timer is created.
fn arm_timer(slice: Duration) -> Option<libc::timer_t> {
    let id = thread_timer()?;
    if set_timer(id, slice) {
        return Some(id);
    }
    TIMER.with(|t| t.id.set(None));
    let id = thread_timer()?;
    set_timer(id, slice).then_some(id)
}

/// Prepares the preemption of `co`, about to be resumed by a task (called by task.rs).
///
/// # Safety
/// `co` is an anchored task thread of a state whose `shared.preempt` is `mode`.
pub(crate) unsafe fn begin_resume(co: *mut ffi::lua_State, mode: Preempt) {
    let slot = thread_slot();
    slot.expired.store(false, Ordering::Relaxed);
    // SAFETY: co is valid and not running; lua_sethook never raises.
    unsafe {
        match mode {
            Preempt::Count(n) => ffi::lua_sethook(
                co,
                Some(preempt_hook),
                ffi::LUA_MASKCOUNT,
                n.max(1) as c_int,
            ),
            Preempt::Off | Preempt::Timer(_) => ffi::lua_sethook(co, None, 0, 0),
        }
    }
    slot.running.store(co, Ordering::Release);
    slot.task_co.store(co, Ordering::Release);
    match mode {
        Preempt::Timer(slice) => {
            let nanos = slice.as_nanos() as u64;
            // No clock read here: the signal handler measures the CPU used (`cpu_mark`).
            slot.cpu_mark.store(NO_MARK, Ordering::Relaxed);
            slot.slice.store(nanos, Ordering::Relaxed);
            slot.resumed.store(true, Ordering::Relaxed);
            // Left armed by an earlier resume with the same slice: its next tick comes
            // within a slice and only takes the CPU mark; the one after can preempt.
            let armed = !slot.timer_armed.load(Ordering::Acquire).is_null();
            if !armed || slot.armed_slice.load(Ordering::Relaxed) != nanos {
                if let Some(id) = arm_timer(slice) {
                    slot.armed_slice.store(nanos, Ordering::Relaxed);
                    slot.timer_armed.store(armed_token(id), Ordering::Release);
                }
            }
        }
        Preempt::Count(_) | Preempt::Off => disarm_timer(slot),
    }
}

/// Stops this thread's timer if a timer-mode resume left it armed.
fn disarm_timer(slot: &Slot) {
    if let Some(id) = armed_id(slot.timer_armed.swap(ptr::null_mut(), Ordering::AcqRel)) {
        set_timer(id, Duration::ZERO);
    }
}

/// What [`Slot::timer_armed`] holds for the armed timer `id`: never null, even for id 0
/// (the first timer glibc hands out is the kernel's id 0, a null pointer; storing it as
/// is made the timer look disarmed, so every resume armed it again with a syscall).
fn armed_token(id: libc::timer_t) -> *mut c_void {
    (id as usize).wrapping_add(1) as *mut c_void
}

/// The timer id of a [`Slot::timer_armed`] value, `None` when disarmed (null).
fn armed_id(token: *mut c_void) -> Option<libc::timer_t> {
    (!token.is_null()).then(|| (token as usize).wrapping_sub(1) as libc::timer_t)
}

/// Ends the preemption of the resume started by [`begin_resume`]. The timer stays armed
/// (see [`Slot::timer_armed`]).
pub(crate) fn end_resume(_mode: Preempt) {
    let slot = thread_slot();
    slot.running.store(ptr::null_mut(), Ordering::Release);
    slot.task_co.store(ptr::null_mut(), Ordering::Release);
    slot.slice.store(u64::MAX, Ordering::Relaxed);
    slot.cpu_mark.store(NO_MARK, Ordering::Relaxed);
    slot.expired.store(false, Ordering::Relaxed);
}

/// Arms the re-raise hook on `l`: every instruction it runs raises the pending abort again,
/// so `pcall` cannot swallow a timeout or a panic.
///
/// # Safety
/// `l` is a valid thread of one of our states.
pub(crate) unsafe fn arm_reraise(l: *mut ffi::lua_State) {
    // SAFETY: lua_sethook never raises.
    unsafe { ffi::lua_sethook(l, Some(preempt_hook), ffi::LUA_MASKCOUNT, 1) }
}

/// The hook. `C-unwind` because it raises (`lua_error`) and yields; the work is done in
/// [`hook_body`], whose frame holds only `Copy` values.
unsafe extern "C-unwind" fn preempt_hook(l: *mut ffi::lua_State, ar: *mut ffi::lua_Debug) {
    // SAFETY: called by Lua with a valid thread and activation record.
    unsafe { hook_body(l, ar) }
}

/// `extern "C"`: a panic here aborts instead of unwinding through the VM; Lua's longjmp may
/// cross it (only `Copy` locals).
unsafe extern "C" fn hook_body(l: *mut ffi::lua_State, ar: *mut ffi::lua_Debug) {
    // SAFETY: l is a running thread of one of our states; every call below is a non-raising
    // API call, except the final lua_error (tail action, Copy locals only) and lua_yield,
    // which returns normally inside a hook (the hook then returns at once).
    unsafe {
        let shared = shared_of(l);
        if let Some(kind) = shared.abort.get() {
            raise_abort(l, kind);
        }
        let task = shared.running_task.get();
        if task.is_null() {
            // Main-thread code, or a stale hook after the task ended: no preemption there.
            ffi::lua_sethook(l, None, 0, 0);
            return;
        }
        let task = &*task;
        let mode = shared.preempt.get();
        let count = match mode {
            Preempt::Count(n) => n.max(1) as c_int,
            _ => 0,
        };
        if (*ar).event == ffi::LUA_HOOKRET {
            // A non-yieldable function just returned: try again at the next instruction.
            ffi::lua_sethook(l, Some(preempt_hook), ffi::LUA_MASKCOUNT, 1);
            return;
        }
        if task.pending.get().is_some() {
            // A task-level yield is on its way up through the coroutine wrappers: let it go
            // (in count mode, keep counting on this thread).
            if count > 0 {
                ffi::lua_sethook(l, Some(preempt_hook), ffi::LUA_MASKCOUNT, count);
            } else {
                ffi::lua_sethook(l, None, 0, 0);
            }
            return;
        }
        let slot = thread_slot();
        // The coroutine the timer aims at, or the task's own (always safe to yield).
        let tracked = slot.running.load(Ordering::Acquire) == l || task.co == l;
        // In timer mode the signal handler set `expired` after checking the CPU used.
        let expired = match mode {
            Preempt::Timer(_) => slot.expired.load(Ordering::Relaxed),
            _ => true,
        };
        if tracked && !expired {
            // A hook left over from an earlier slice, or the thread was descheduled for part of
            // the slice: the periodic timer comes back.
            slot.expired.store(false, Ordering::Relaxed);
            ffi::lua_sethook(l, None, 0, 0);
            return;
        }
        if tracked && ffi::lua_isyieldable(l) != 0 {
            if count > 0 {
                ffi::lua_sethook(l, Some(preempt_hook), ffi::LUA_MASKCOUNT, count);
            } else {
                ffi::lua_sethook(l, None, 0, 0);
            }
            slot.expired.store(false, Ordering::Relaxed);
            task.pending.set(Some(WaitReason::Forced));
            ffi::lua_yield(l, 0);
            return;
        }
        // Cannot yield here (inside a C call such as table.sort, or an untracked coroutine):
        // check the budgets, then come back later.
        if let Some(kind) = task.over_budget(Instant::now()) {
            shared.set_abort(AbortKind::Timeout(kind));
            raise_abort(l, AbortKind::Timeout(kind));
        }
        if tracked {
            // Right after the blocking function returns; the periodic timer also comes back.
            // (A return hook alone does not make the VM trace every instruction; a count
            // hook does, so it is added only in count mode.)
            let mask = if count > 0 {
                ffi::LUA_MASKRET | ffi::LUA_MASKCOUNT
            } else {
                ffi::LUA_MASKRET
            };
            ffi::lua_sethook(l, Some(preempt_hook), mask, count);
        } else {
            // The timer cannot find an untracked coroutine: fall back to counting.
            let n = if count > 0 { count } else { UNTRACKED_COUNT };
            ffi::lua_sethook(l, Some(preempt_hook), ffi::LUA_MASKCOUNT, n);
        }
    }
}

/// Instructions between budget checks in a coroutine the timer cannot see.
const UNTRACKED_COUNT: c_int = 10_000;

/// Raises the error of an abort, after arming the re-raise hook (never returns).
///
/// # Safety
/// Inside a hook or C function of the running thread `l`; Copy locals only in the callers.
unsafe fn raise_abort(l: *mut ffi::lua_State, kind: AbortKind) -> ! {
    let msg: &'static std::ffi::CStr = match kind {
        AbortKind::Timeout(TimeoutKind::Burst) => c"burst timeout",
        AbortKind::Timeout(TimeoutKind::Total) => c"execution timeout",
        AbortKind::Panic => c"internal error: a Rust function panicked",
    };
    // SAFETY: forwarded contract; pushstring may raise a memory error instead, which is fine:
    // the abort record still decides what the resume reports.
    unsafe {
        arm_reraise(l);
        ffi::lua_pushstring(l, msg.as_ptr());
        ffi::lua_error(l)
    }
}

/// `enter(co)`: records `co` as the running coroutine and returns it.
pub(crate) static ENTER: RustFunction = RustFunction::new("resume", enter);
/// `leave(co)`: records the caller as running again and says what the wrapper does next:
/// 0 return to the script, 1 pass a task-level yield up, 2 resume the inner coroutine again.
pub(crate) static LEAVE: RustFunction = RustFunction::new("resume", leave);

fn enter(ctx: &mut CallCtx) -> Result<c_int, LuaError> {
    let l = ctx.raw();
    // SAFETY: non-raising reads; the pushed copy of argument 1 has a slot (LUA_MINSTACK).
    unsafe {
        let co = ffi::lua_tothread(l, 1);
        ffi::lua_settop(l, 1);
        if !co.is_null() && co != l && ffi::lua_status(co) <= ffi::LUA_YIELD {
            // Anchor it for as long as it is recorded, even if an error skips `leave`: the
            // registry slot exists (install_prelude), so this raw set does not allocate.
            ffi::lua_pushvalue(l, 1);
            ffi::lua_rawsetp(l, ffi::LUA_REGISTRYINDEX, running_anchor());
            thread_slot().running.store(co, Ordering::Release);
        }
    }
    Ok(1)
}

fn leave(ctx: &mut CallCtx) -> Result<c_int, LuaError> {
    let l = ctx.raw();
    let slot = thread_slot();
    // SAFETY: l is the running thread of one of our states.
    let shared = unsafe { shared_of(l) };
    if let Some(kind) = shared.abort.get() {
        // An abort left the inner coroutine: raise it here too (uncatchable, rule P1).
        // SAFETY: l is running; the trampoline raises the error we return.
        unsafe { arm_reraise(l) };
        return Err(LuaError::message(match kind {
            AbortKind::Timeout(k) => k.message(),
            AbortKind::Panic => "internal error: a Rust function panicked",
        }));
    }
    if shared.running_task.get().is_null() {
        // Main-thread code: nothing to track or pass up.
        ctx.push_integer(0)?;
        return Ok(1);
    }
    slot.running.store(l, Ordering::Release);
    // SAFETY: the task context is alive while it runs.
    let task = unsafe { &*shared.running_task.get() };
    let action = match task.pending.get() {
        None => 0,
        // SAFETY: lua_isyieldable never raises.
        Some(_) if unsafe { ffi::lua_isyieldable(l) } != 0 => 1,
        Some(WaitReason::Forced) => {
            task.pending.set(None);
            2
        }
        Some(_) => {
            task.pending.set(None);
            return Err(LuaError::runtime(
                "attempt to yield across a C-call boundary",
            ));
        }
    };
    ctx.push_integer(action)?;
    Ok(1)
}

const PRELUDE: &str = include_str!("prelude.lua");

/// Registry key (a static's address) of the slot anchoring the recorded running coroutine.
static RUNNING_ANCHOR: u8 = 0;

fn running_anchor() -> *const c_void {
    (&RUNNING_ANCHOR as *const u8).cast()
}

/// Runs `prelude.lua` with `ENTER` and `LEAVE` (needs the coroutine library).
pub(crate) fn install_prelude(state: &State) -> Result<(), LuaError> {
    let (p, len) = (PRELUDE.as_ptr(), PRELUDE.len());
    // SAFETY: main thread between calls; everything runs under protection; the closure
    // captures a 'static buffer.
    unsafe {
        state::protect(state.raw(), 0, 0, move |l| {
            if ffi::luaL_loadbufferx(
                l,
                p.cast(),
                len,
                c"=[moonproxy prelude]".as_ptr(),
                c"t".as_ptr(),
            ) != ffi::LUA_OK
            {
                ffi::lua_error(l);
            }
            ffi::lua_pushboolean(l, 0);
            ffi::lua_rawsetp(l, ffi::LUA_REGISTRYINDEX, running_anchor());
            super::callback::push_function(l, &ENTER);
            super::callback::push_function(l, &LEAVE);
            ffi::lua_call(l, 2, 0);
            0
        })
    }
}
