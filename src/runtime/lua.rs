//! The Lua engine on the reactor: `lua-load` at start-up ([`boot`]) and the
//! `core.register_task` tasks ([`LuaRt`]), resumed from the run queue and the timers.
//!
//! Tasks have no socket, so they use [`Kind::Reserved`] keys (a slot and a generation of
//! [`LuaRt`]'s table) in the timer heap and the run queue; poll tokens never carry them.
//!
//! What a resume returns decides what comes next ([`Resume`]):
//! - `Yield(Sleep(deadline))` (`core.sleep`/`msleep`): a reactor timer at the deadline;
//! - `Yield(Forced)` (preempted), `Yield(Other)` (`core.yield`): the run queue, which the
//!   reactor serves after the I/O events and timers of the iteration, so a task that spins
//!   never starves connections;
//! - `Finished`, or `core.done()`: the task ends;
//! - `Error`, `Timeout`, `NoMem`, `Panic`: reported as HAProxy does
//!   (`Lua task: [state-id 0] runtime error: <msg> from <traceback>.`) to stderr and the global
//!   log targets; the task ends and the process goes on.
use crate::config::model::Config;
use crate::lua::api::core::{haproxy_traceback, Engine, EngineOptions};
use crate::lua::host::{self, Host, WorldView};
use crate::lua::{Preempt, Resume, Task, WaitReason};
use crate::reactor::{Ctx, Key, Kind, TimerTarget};
use std::os::raw::c_int;
use std::time::{Duration, Instant};

/// While streams have had I/O within [`TRAFFIC_WINDOW`], a task runs in slices of at most
/// [`INTERACTIVE_SLICE`]: each step of a request through the proxy (accept, read, connect,
/// forward the answer) may wait behind one slice of a spinning task, so short slices keep a
/// round trip to a few hundred microseconds. With no traffic the configured slice applies
/// and the task runs at full speed: each resume costs a few microseconds (two timer calls, a
/// signal, a poll), about 5% at 100 µs slices, so short slices last only as long as a
/// request is in flight.
pub const INTERACTIVE_SLICE: Duration = Duration::from_micros(100);
/// How long after the last socket event the reactor counts as serving traffic: a proxied
/// round trip on loopback takes well under this, so the window covers its next steps.
pub const TRAFFIC_WINDOW: Duration = Duration::from_millis(5);

/// Creates the Lua engine and runs the `lua-load` bodies, if the configuration has any.
/// A failure is printed as HAProxy prints a configuration error (the location of the
/// `lua-load` line, then the file and fatal trailers) and gives `Err(BootFailed)`.
pub fn boot(config: &Config, opts: EngineOptions) -> Result<Option<Engine>, BootFailed> {
    let settings = &config.global.lua;
    if settings.directives.is_empty() {
        return Ok(None);
    }
    // What core.proxies and friends stand for, and the start for core.get_info.
    crate::lua::api::world::set_topology(crate::lua::api::world::Topology::from_config(config));
    crate::lua::api::world::mark_start();
    let engine = match Engine::new(settings, opts) {
        Ok(e) => e,
        Err(e) => {
            crate::alert!("Lua init: {e}.");
            return Err(BootFailed);
        }
    };
    if let Err(msg) = engine.load_files() {
        crate::alert!("config : {msg}");
        if let Some(file) = failing_file(&msg) {
            crate::alert!("config : Error(s) found in configuration file : {file}");
        }
        crate::alert!("config : Fatal errors found in configuration.");
        return Err(BootFailed);
    }
    Ok(Some(engine))
}

/// The preemption for a resume at `now`: the configured timer slice, shortened to
/// [`INTERACTIVE_SLICE`] while the reactor serves traffic. Count mode is left as asked.
fn preempt_now(configured: Preempt, traffic_at: Option<Instant>, now: Instant) -> Preempt {
    match configured {
        Preempt::Timer(slice)
            if traffic_at.is_some_and(|t| now.saturating_duration_since(t) < TRAFFIC_WINDOW) =>
        {
            Preempt::Timer(slice.min(INTERACTIVE_SLICE))
        }
        other => other,
    }
}

/// HAProxy's ` from <traceback>` after a task's error message, or nothing without one.
fn from_clause(traceback: &str) -> String {
    let tb = haproxy_traceback(traceback);
    if tb.is_empty() {
        String::new()
    } else {
        format!(" from {tb}")
    }
}

mod world_view;
pub use world_view::WorldParts;

/// The Lua start-up failed; the reason was printed on stderr (exit code 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BootFailed;

/// The configuration file named in `parsing [file:line] : ...`.
fn failing_file(msg: &str) -> Option<&str> {
    let rest = msg.strip_prefix("parsing [")?;
    let end = rest.find("] : ")?;
    rest[..end].rsplit_once(':').map(|(f, _)| f)
}

/// A running task and what it waits for.
struct Running {
    task: Task,
    /// Values on the coroutine's stack for the next resume (the arguments, then 0).
    nargs: c_int,
    /// `None`: runnable (in the run queue); `Some(at)`: sleeping until `at` (a timer).
    sleep: Option<Instant>,
}

struct Slot {
    gen: u32,
    task: Option<Running>,
}

/// The tasks of the Lua engine. Fields drop in order: tasks before the engine.
pub struct LuaRt {
    slots: Vec<Slot>,
    free: Vec<usize>,
    pub engine: Engine,
    /// The preemption the configuration asked for (`tune.lua.forced-yield`, `tune.lua.preempt`).
    configured: Preempt,
    /// The last socket event of a listener or stream.
    traffic_at: Option<Instant>,
}

impl LuaRt {
    pub fn new(engine: Engine) -> LuaRt {
        let configured = engine.state().preempt();
        LuaRt {
            slots: Vec::new(),
            free: Vec::new(),
            engine,
            configured,
            traffic_at: None,
        }
    }

    /// Live tasks.
    pub fn len(&self) -> usize {
        self.slots.iter().filter(|s| s.task.is_some()).count()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Starts the tasks registered since the last call: each is queued to run at once.
    pub fn spawn_new(&mut self, cx: &mut Ctx<'_>) {
        for spec in self.engine.take_new_tasks() {
            match self.engine.spawn(&spec) {
                Ok((task, nargs)) => {
                    let key = self.insert(Running {
                        task,
                        nargs,
                        sleep: None,
                    });
                    cx.wake.push(Kind::Reserved, key);
                }
                Err(e) => self.engine.report_task_error(&format!("{e}.")),
            }
        }
    }

    fn insert(&mut self, r: Running) -> Key {
        match self.free.pop() {
            Some(slot) => {
                let s = &mut self.slots[slot];
                s.gen = s.gen.wrapping_add(1);
                s.task = Some(r);
                Key { slot, gen: s.gen }
            }
            None => {
                self.slots.push(Slot {
                    gen: 0,
                    task: Some(r),
                });
                Key {
                    slot: self.slots.len() - 1,
                    gen: 0,
                }
            }
        }
    }

    fn live(&mut self, key: Key) -> Option<&mut Running> {
        let s = self.slots.get_mut(key.slot)?;
        if s.gen != key.gen {
            return None;
        }
        s.task.as_mut()
    }

    /// The run queue reached task `key`.
    pub fn wake(&mut self, cx: &mut Ctx<'_>, world: &mut dyn WorldView, key: Key) {
        if self.live(key).is_some_and(|r| r.sleep.is_none()) {
            self.run(cx, world, key);
        }
    }

    /// A timer armed for task `key` at `deadline` expired (ignored if the task no longer
    /// sleeps until then).
    pub fn timer(&mut self, cx: &mut Ctx<'_>, world: &mut dyn WorldView, key: Key, deadline: Instant) {
        if self.live(key).is_some_and(|r| r.sleep == Some(deadline)) {
            self.run(cx, world, key);
        }
    }

    /// A listener or stream had a socket event (see [`INTERACTIVE_SLICE`]).
    pub fn note_traffic(&mut self, now: Instant) {
        self.traffic_at = Some(now);
    }

    fn run(&mut self, cx: &mut Ctx<'_>, world: &mut dyn WorldView, key: Key) {
        let preempt = preempt_now(self.configured, self.traffic_at, cx.now);
        self.engine.state().set_preempt(preempt);
        let Some(r) = self.live(key) else { return };
        let nargs = std::mem::replace(&mut r.nargs, 0);
        r.sleep = None;
        let outcome = host::enter(&mut Host { cx: &mut *cx, world }, || r.task.resume(nargs));
        let done = self.engine.take_done();
        let keep = match outcome {
            Resume::Yield(_) if done => false,
            Resume::Yield(WaitReason::Sleep(at)) => {
                if let Some(r) = self.live(key) {
                    r.sleep = Some(at);
                }
                cx.timers.arm(at, TimerTarget::Entry(Kind::Reserved, key));
                true
            }
            // Forced, core.yield(), a plain coroutine.yield() at task level. (`Io` has no
            // producer for tasks yet: sockets come with the stream API issue.)
            Resume::Yield(_) => {
                cx.wake.push(Kind::Reserved, key);
                true
            }
            Resume::Finished(_) => false,
            Resume::Error { .. } if done => false,
            Resume::Error { message, traceback } => {
                // HAProxy's words for an error object that is not a string.
                let message = if message.starts_with("(error object is a") {
                    "unknown runtime error".to_string()
                } else {
                    message
                };
                let from = from_clause(&traceback);
                self.engine
                    .report_task_error(&format!("[state-id 0] runtime error: {message}{from}."));
                false
            }
            Resume::Timeout(k) => {
                let from = self
                    .live(key)
                    .and_then(|r| r.task.timeout_traceback().map(from_clause))
                    .unwrap_or_default();
                self.engine.report_task_error(&format!(
                    "[state-id 0] runtime error: {}{from}.",
                    k.message()
                ));
                false
            }
            Resume::NoMem => {
                self.engine.report_task_error("out of memory error.");
                false
            }
            Resume::Panic(m) => {
                self.engine
                    .report_task_error(&format!("[state-id 0] runtime error: {m}."));
                false
            }
        };
        if !keep {
            if let Some(s) = self.slots.get_mut(key.slot) {
                s.task = None;
                self.free.push(key.slot);
            }
        }
        // A task may have registered others.
        self.spawn_new(cx);
    }

    /// Once per reactor iteration: releases dropped registry references (rule R2).
    pub fn end_of_iteration(&mut self) {
        self.engine.drain();
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn traffic_shortens_the_timer_slice_for_a_while() {
        use super::{preempt_now, INTERACTIVE_SLICE, TRAFFIC_WINDOW};
        use crate::lua::Preempt;
        use std::time::{Duration, Instant};
        let now = Instant::now();
        let ms = Preempt::Timer(Duration::from_millis(1));
        assert_eq!(preempt_now(ms, None, now), ms, "no traffic: the configured slice");
        assert_eq!(preempt_now(ms, Some(now), now), Preempt::Timer(INTERACTIVE_SLICE));
        let later = now + TRAFFIC_WINDOW;
        assert_eq!(preempt_now(ms, Some(now), later), ms, "the window has passed");
        let short = Preempt::Timer(Duration::from_micros(50));
        assert_eq!(preempt_now(short, Some(now), now), short, "never longer than configured");
        assert_eq!(preempt_now(Preempt::Count(1000), Some(now), now), Preempt::Count(1000));
    }

    #[test]
    fn failing_file_is_read_from_the_location() {
        assert_eq!(
            super::failing_file("parsing [a/b.cfg:12] : error in Lua file 'x': y"),
            Some("a/b.cfg")
        );
        assert_eq!(super::failing_file("other"), None);
    }
}
