//! Per-entry Lua counters for `show lua stats` and the `moonproxy_lua_*` metrics, and the
//! stall report (`tune.lua.stall-warn`). Beyond HAProxy, which counts nothing per script.
//!
//! Every place that resumes a registered function (actions, fetches, converters, services,
//! tasks, CLI commands) calls [`record`] once after the resume, with the outcome. The
//! duration comes from the clock read [`Task::resume`] already does for its budgets, so
//! accounting adds no clock read. A call is counted at its first resume and is live until
//! it ends (returns, fails, times out) or its task is reused or closed ([`abandon`]).
//!
//! "CPU" is the time the resume held the reactor (monotonic clock around `lua_resume`):
//! the thread's CPU time unless the system descheduled it or a C function blocked.
//!
//! Memory: the allocator keeps a high-water mark since the start of the running resume, so
//! an entry records the most the heap grew during one of its resumes (`mem_peak`: a
//! converter building a 5 MB string shows at least 5 MB). What an entry holds now is
//! approximated at the granularity of resumes (`mem_net`): the sum, over its resumes, of
//! the heap's use at the end less at the start. What it allocated and still holds counts;
//! what it allocated and the collector freed during one of its own resumes does not; but
//! the heap is shared and blocks carry no owner, so an object it made that the collector
//! frees during *another* function's resume is credited to that one (whose `mem_net`
//! may go negative), and collections outside any resume (a full one after a socket call,
//! or when a stream ends) are credited to no one.
//!
//! One table per thread (the Lua engine is per thread), in a `thread_local`.
use super::error_ring::Origin;
use super::task::{Resume, Task, TaskCtx};
use super::WaitReason;
use lua54_sys as ffi;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::time::Duration;

/// The default `tune.lua.stall-warn`.
pub const DEFAULT_STALL_WARN: Duration = Duration::from_millis(100);

/// Buckets of the resume-time histogram: bucket `i` holds resumes of less than `2^i` ns
/// (and at least `2^(i-1)`); the last one everything above.
const BUCKETS: usize = 40;

/// The counters of one registered function.
#[derive(Clone, Debug)]
pub struct Counters {
    pub origin: Origin,
    pub name: String,
    /// Calls started.
    pub calls: u64,
    /// Calls ended by a Lua error, a memory error or a panic.
    pub errors: u64,
    /// Calls stopped by a time budget.
    pub timeouts: u64,
    /// Yields to the reactor forced by preemption.
    pub forced_yields: u64,
    /// Yields asked by the script (sleep, I/O, `core.yield()`).
    pub voluntary_yields: u64,
    /// Resumes longer than `tune.lua.stall-warn`.
    pub stalls: u64,
    /// Resumes, and the time they held the reactor.
    pub resumes: u64,
    pub cpu_total: Duration,
    pub cpu_max: Duration,
    /// Calls in flight (started, not ended).
    pub live: u64,
    /// The most the Lua heap grew during one resume, in bytes (what the function
    /// allocated, less what the collector freed meanwhile).
    pub mem_peak: usize,
    /// The heap's change over all its resumes, in bytes (see the module's comment).
    pub mem_net: i64,
    /// Calls waiting now in `core.sleep`/`msleep`.
    pub sleeping: u64,
    /// Calls waiting now for I/O: a socket or HTTP client call, a service waiting for
    /// its client.
    pub io_waiting: u64,
    /// `core.tcp()` sockets its calls opened that are not closed (nor collected) yet.
    pub sockets: i64,
    histogram: [u64; BUCKETS],
}

impl Counters {
    /// Moves one call from the wait gauge `from` to `to` (0 none, 1 sleep, 2 I/O).
    fn set_wait(&mut self, from: u8, to: u8) {
        match from {
            1 => self.sleeping = self.sleeping.saturating_sub(1),
            2 => self.io_waiting = self.io_waiting.saturating_sub(1),
            _ => {}
        }
        match to {
            1 => self.sleeping += 1,
            2 => self.io_waiting += 1,
            _ => {}
        }
    }

    fn new(origin: Origin, name: &str) -> Counters {
        Counters {
            origin,
            name: name.to_string(),
            calls: 0,
            errors: 0,
            timeouts: 0,
            forced_yields: 0,
            voluntary_yields: 0,
            stalls: 0,
            resumes: 0,
            cpu_total: Duration::ZERO,
            cpu_max: Duration::ZERO,
            live: 0,
            mem_peak: 0,
            mem_net: 0,
            sleeping: 0,
            io_waiting: 0,
            sockets: 0,
            histogram: [0; BUCKETS],
        }
    }

    /// The 99th percentile of the resume times, as the upper bound of its histogram
    /// bucket (within a factor of two).
    pub fn cpu_p99(&self) -> Duration {
        let wanted = self.resumes - self.resumes / 100;
        let mut seen = 0;
        for (i, n) in self.histogram.iter().enumerate() {
            seen += n;
            if seen >= wanted && seen > 0 {
                return Duration::from_nanos(1u64 << i).min(self.cpu_max);
            }
        }
        self.cpu_max
    }
}

#[derive(Default)]
struct Table {
    entries: Vec<Counters>,
    /// Index in `entries` by origin (as `usize`), then name.
    index: [HashMap<String, u32>; 6],
}

impl Table {
    fn slot(&mut self, origin: Origin, name: &str) -> usize {
        if let Some(&i) = self.index[origin as usize].get(name) {
            return i as usize;
        }
        let i = self.entries.len();
        self.entries.push(Counters::new(origin, name));
        self.index[origin as usize].insert(name.to_string(), i as u32);
        i
    }
}

thread_local! {
    static TABLE: RefCell<Table> = RefCell::new(Table::default());
    static STALL_WARN: Cell<Duration> = const { Cell::new(DEFAULT_STALL_WARN) };
    static ENABLED: Cell<bool> = const { Cell::new(true) };
}

/// Sets up the accounting of this thread's engine: `tune.lua.stall-warn` (0 turns the
/// report off), `tune.lua.stats` (`enabled`), and the `moonproxy_lua_*` metrics of the
/// Prometheus exporter.
pub fn install(stall_warn: Duration, enabled: bool) {
    STALL_WARN.with(|s| s.set(stall_warn));
    ENABLED.with(|e| e.set(enabled));
    if enabled {
        crate::stats::prometheus::set_extra_metrics(prometheus);
    }
}

/// Who a `core.tcp()` socket counts against: the call that opened it. Its entry is known
/// once the call's first resume is accounted; until then the call's sockets are counted
/// here (`pending`) and moved to the entry then.
#[derive(Debug)]
pub struct Owner {
    entry: Cell<u32>,
    pending: Cell<i64>,
}

/// A socket opened by the call running on `ctx`: counted for its function. The socket
/// keeps the returned owner and hands it to [`socket_closed`] once.
pub(crate) fn socket_opened(ctx: &TaskCtx) -> std::rc::Rc<Owner> {
    let owner = ctx
        .stats_owner
        .borrow_mut()
        .get_or_insert_with(|| std::rc::Rc::new(Owner { entry: Cell::new(ctx.stats_entry.get()), pending: Cell::new(0) }))
        .clone();
    count_socket(&owner, 1);
    owner
}

/// A socket counted by [`socket_opened`] is closed, or collected.
pub(crate) fn socket_closed(owner: &Owner) {
    count_socket(owner, -1);
}

fn count_socket(owner: &Owner, n: i64) {
    let i = owner.entry.get();
    if i == u32::MAX {
        owner.pending.set(owner.pending.get() + n);
        return;
    }
    // A socket may be collected while the table is borrowed (never during an update,
    // which makes no Lua allocation): then that one change is lost.
    let _ = TABLE.try_with(|t| {
        if let Ok(mut t) = t.try_borrow_mut() {
            if let Some(c) = t.entries.get_mut(i as usize) {
                c.sockets += n;
            }
        }
    });
}

/// Accounts the resume of `task` that just ended with `outcome`, for the function `name`
/// of kind `origin`. Logs a stall report when the resume ran longer than
/// `tune.lua.stall-warn`.
pub fn record(origin: Origin, name: &str, task: &Task, outcome: &Resume) {
    if !ENABLED.with(Cell::get) {
        return;
    }
    if name.is_empty() && task.ctx().stats_entry.get() == u32::MAX {
        // A task has no name: the first resume names it by where its function is defined
        // (its bottom frame while it runs), `-` if it already returned.
        let name = defined_at(task.raw()).unwrap_or_else(|| "-".into());
        return record_ctx(origin, &name, task.ctx(), outcome, || location(task.raw()));
    }
    record_ctx(origin, name, task.ctx(), outcome, || location(task.raw()));
}

/// [`record`] for an outcome that may be missing (a fetch outside the engine).
pub fn record_opt(origin: Origin, name: &str, task: &Task, outcome: Option<&Resume>) {
    if let Some(o) = outcome {
        record(origin, name, task, o);
    }
}

fn record_ctx(
    origin: Origin,
    name: &str,
    ctx: &TaskCtx,
    outcome: &Resume,
    location: impl FnOnce() -> Option<String>,
) {
    let took = ctx.last_resume.get();
    let stall = STALL_WARN.with(|s| s.get());
    let stalled = !stall.is_zero() && took > stall;
    TABLE.with(|t| {
        let mut t = t.borrow_mut();
        let i = match ctx.stats_entry.get() {
            u32::MAX => {
                let i = t.slot(origin, name);
                t.entries[i].calls += 1;
                t.entries[i].live += 1;
                ctx.stats_entry.set(i as u32);
                i
            }
            i => i as usize,
        };
        let c = &mut t.entries[i];
        if let Some(owner) = ctx.stats_owner.borrow().as_ref() {
            if owner.entry.get() == u32::MAX {
                owner.entry.set(i as u32);
                c.sockets += owner.pending.replace(0);
            }
        }
        c.resumes += 1;
        c.cpu_total += took;
        c.cpu_max = c.cpu_max.max(took);
        c.mem_peak = c.mem_peak.max(ctx.last_growth.get());
        c.mem_net += ctx.last_net.get() as i64;
        let ns = took.as_nanos().min(u64::MAX as u128) as u64;
        c.histogram[(64 - ns.leading_zeros() as usize).min(BUCKETS - 1)] += 1;
        c.stalls += u64::from(stalled);
        // The gauges: what this call waited for until now, and what it waits for next.
        let wait = match outcome {
            Resume::Yield(WaitReason::Sleep(_)) => 1,
            Resume::Yield(WaitReason::Io) => 2,
            _ => 0,
        };
        c.set_wait(ctx.stats_wait.replace(wait), wait);
        let ended = match outcome {
            Resume::Yield(WaitReason::Forced) => {
                c.forced_yields += 1;
                false
            }
            Resume::Yield(_) => {
                c.voluntary_yields += 1;
                false
            }
            Resume::Finished(_) => true,
            Resume::Timeout(_) => {
                c.timeouts += 1;
                true
            }
            Resume::Error { .. } | Resume::NoMem | Resume::Panic(_) => {
                c.errors += 1;
                true
            }
        };
        if ended {
            c.live = c.live.saturating_sub(1);
            ctx.stats_entry.set(u32::MAX);
            // Its sockets still open keep counting against this entry; the next call
            // starts a new owner.
            ctx.stats_owner.borrow_mut().take();
        }
    });
    if stalled {
        let at = location().unwrap_or_else(|| "?".into());
        let what = if name.is_empty() { origin.name().to_string() } else { format!("{} '{name}'", origin.name()) };
        stall_report(&format!(
            "Lua {what} held the reactor for {} ms in one resume (tune.lua.stall-warn {} ms), at {at}",
            took.as_millis(),
            stall.as_millis()
        ));
    }
}

/// Whether a call that held the reactor for `took` is a stall (`tune.lua.stall-warn`,
/// accounting on).
pub fn stalls(took: Duration) -> bool {
    let stall = STALL_WARN.with(Cell::get);
    ENABLED.with(Cell::get) && !stall.is_zero() && took > stall
}

/// The stall report of one blocking C function called from Lua (`io.read`, `file:read`,
/// `os.execute`..., as `lua::api::blocking` wraps them): its name, its caller's `at`
/// (`file:line`) and how long it held the reactor. The resume it ran in is reported too,
/// by its Lua function, when it ends.
pub fn c_stall(function: &str, at: &str, took: Duration) {
    let stall = STALL_WARN.with(Cell::get);
    stall_report(&format!(
        "Lua C function '{function}' held the reactor for {} ms (tune.lua.stall-warn {} ms), at {at}",
        took.as_millis(),
        stall.as_millis()
    ));
}

/// Logs a stall report: the log targets at `warning`, and stderr unless `-q`.
fn stall_report(msg: &str) {
    let quiet = match super::api::core::core() {
        Ok(core) => {
            let log = core.log.borrow();
            if let Some(l) = &log.logger {
                l.send(crate::config::model::Level::Warning, msg);
            }
            log.quiet
        }
        Err(_) => false,
    };
    if !quiet {
        crate::warning!("{msg}");
    }
}

/// Ends the call in flight on `ctx` without an outcome (its task is reused or closed).
pub(crate) fn abandon(ctx: &TaskCtx) {
    let i = ctx.stats_entry.replace(u32::MAX);
    let wait = ctx.stats_wait.replace(0);
    ctx.stats_owner.borrow_mut().take();
    if i != u32::MAX {
        let _ = TABLE.try_with(|t| {
            if let Some(c) = t.borrow_mut().entries.get_mut(i as usize) {
                c.live = c.live.saturating_sub(1);
                c.set_wait(wait, 0);
            }
        });
    }
}

/// `file:line` of the innermost function of a script file on the suspended or failed
/// thread `co` (wrappers of our own, such as the blocking-call shims, are skipped), else
/// of its innermost Lua function.
fn location(co: *mut ffi::lua_State) -> Option<String> {
    let mut ar = ffi::lua_Debug::zeroed();
    let mut first = None;
    for level in 0..64 {
        // SAFETY: co is one of our threads, not running (the resume returned); getstack and
        // getinfo with "Sl" only read call information (no allocation: they never raise);
        // source and short_src are NUL-terminated strings that outlive this read.
        unsafe {
            if ffi::lua_getstack(co, level, &mut ar) == 0 {
                break;
            }
            ffi::lua_getinfo(co, c"Sl".as_ptr(), &mut ar);
            if ar.currentline <= 0 {
                continue;
            }
            let src = std::ffi::CStr::from_ptr(ar.short_src.as_ptr()).to_string_lossy();
            let here = format!("{src}:{}", ar.currentline);
            // A user's file (`@/path`); our own chunks (`=applet_tcp`, loaded as
            // `@=name`) are only the fallback.
            let source = if ar.source.is_null() { &[][..] } else { std::ffi::CStr::from_ptr(ar.source).to_bytes() };
            if source.starts_with(b"@") && !source.starts_with(b"@=") {
                return Some(here);
            }
            first.get_or_insert(here);
        }
    }
    first
}

/// `file:line` where the suspended `task` waits (`show lua tasks`, which runs in the
/// reactor between resumes: the task is suspended or fresh, as `location` needs).
pub fn task_location(task: &Task) -> Option<String> {
    location(task.raw())
}

/// `file:line` where the bottom Lua function of the suspended thread `co` is defined.
fn defined_at(co: *mut ffi::lua_State) -> Option<String> {
    let mut ar = ffi::lua_Debug::zeroed();
    let mut found = None;
    for level in 0..256 {
        // SAFETY: as in `location`: co is not running, getstack/getinfo("S") only read.
        unsafe {
            if ffi::lua_getstack(co, level, &mut ar) == 0 {
                break;
            }
            ffi::lua_getinfo(co, c"S".as_ptr(), &mut ar);
            if ar.linedefined > 0 {
                let src = std::ffi::CStr::from_ptr(ar.short_src.as_ptr()).to_string_lossy();
                found = Some(format!("{src}:{}", ar.linedefined));
            }
        }
    }
    found
}

/// The counters of this thread, in registration order; only those of `name` when given.
pub fn snapshot(name: Option<&str>) -> Vec<Counters> {
    TABLE.with(|t| {
        t.borrow()
            .entries
            .iter()
            .filter(|c| name.is_none_or(|n| c.name == n))
            .cloned()
            .collect()
    })
}

/// `show lua stats [name]`: one line per entry.
pub fn show(name: Option<&str>) -> String {
    if !ENABLED.with(Cell::get) {
        return "# Lua accounting is off (tune.lua.stats off)\n".into();
    }
    let mut out = String::from(
        "# kind name calls errors timeouts forced_yields voluntary_yields stalls resumes cpu_total_us cpu_max_us cpu_p99_us live mem_peak_bytes mem_net_bytes sleeping io_waiting sockets\n",
    );
    for c in snapshot(name) {
        out.push_str(&format!(
            "{} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {}\n",
            c.origin.name(),
            if c.name.is_empty() { "-" } else { &c.name },
            c.calls,
            c.errors,
            c.timeouts,
            c.forced_yields,
            c.voluntary_yields,
            c.stalls,
            c.resumes,
            c.cpu_total.as_micros(),
            c.cpu_max.as_micros(),
            c.cpu_p99().as_micros(),
            c.live,
            c.mem_peak,
            c.mem_net,
            c.sleeping,
            c.io_waiting,
            c.sockets,
        ));
    }
    out
}

/// The metrics of [`prometheus`]: name, type, help, and the value of an entry.
type Metric = (&'static str, &'static str, &'static str, fn(&Counters) -> String);

const METRICS: &[Metric] = &[
    ("calls_total", "counter", "Calls started of a registered Lua function.", |c| c.calls.to_string()),
    ("errors_total", "counter", "Calls ended by an error (Lua, memory, panic).", |c| c.errors.to_string()),
    ("timeouts_total", "counter", "Calls stopped by a Lua time budget.", |c| c.timeouts.to_string()),
    ("forced_yields_total", "counter", "Yields forced by preemption.", |c| c.forced_yields.to_string()),
    ("voluntary_yields_total", "counter", "Yields asked by the script (sleep, I/O, core.yield).", |c| c.voluntary_yields.to_string()),
    ("stalls_total", "counter", "Resumes longer than tune.lua.stall-warn.", |c| c.stalls.to_string()),
    ("resumes_total", "counter", "Resumes of the function's coroutines.", |c| c.resumes.to_string()),
    ("cpu_seconds_total", "counter", "Time the function's resumes held the reactor.", |c| secs(c.cpu_total)),
    ("cpu_max_seconds", "gauge", "Longest resume.", |c| secs(c.cpu_max)),
    ("cpu_p99_seconds", "gauge", "99th percentile of the resume times (bucket bound, within a factor of two).", |c| secs(c.cpu_p99())),
    ("live_calls", "gauge", "Calls in flight.", |c| c.live.to_string()),
    ("memory_peak_bytes", "gauge", "Most the Lua heap grew during one resume.", |c| c.mem_peak.to_string()),
    ("memory_net_bytes", "gauge", "Change of the Lua heap over all the function's resumes.", |c| c.mem_net.to_string()),
    ("sleeping_calls", "gauge", "Calls waiting now in core.sleep or core.msleep.", |c| c.sleeping.to_string()),
    ("io_waiting_calls", "gauge", "Calls waiting now for I/O (a socket or HTTP client call, a service's client).", |c| c.io_waiting.to_string()),
    ("open_sockets", "gauge", "core.tcp() sockets opened by the function and not closed yet.", |c| c.sockets.to_string()),
];

fn secs(d: Duration) -> String {
    format!("{:.6}", d.as_secs_f64())
}

/// A label value in the text format (`\`, `"` and newlines escaped).
fn label(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// Writes the `moonproxy_lua_*` metrics, one series per entry labelled `kind` and `name`
/// (the exporter's [`crate::stats::prometheus::ExtraMetrics`] hook).
pub fn prometheus(out: &mut String) {
    use std::fmt::Write;
    let entries = snapshot(None);
    if entries.is_empty() {
        return;
    }
    for (name, kind, help, value) in METRICS {
        let _ = writeln!(out, "# HELP moonproxy_lua_{name} {help}\n# TYPE moonproxy_lua_{name} {kind}");
        for c in &entries {
            let _ = writeln!(
                out,
                "moonproxy_lua_{name}{{kind=\"{}\",name=\"{}\"}} {}",
                c.origin.name(),
                label(&c.name),
                value(c)
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn p99_is_the_bucket_bound_of_the_slowest_percent() {
        let mut c = Counters::new(Origin::Action, "a");
        for _ in 0..99 {
            c.resumes += 1;
            c.histogram[10] += 1; // < 1024 ns
        }
        c.resumes += 1;
        c.histogram[30] += 1;
        c.cpu_max = Duration::from_secs(1);
        assert_eq!(c.cpu_p99(), Duration::from_nanos(1024));
    }

    #[test]
    fn a_call_counts_once_and_is_live_until_it_ends() {
        let state = crate::lua::State::new().unwrap();
        let mut task = Task::new(&state, Default::default()).unwrap();
        task.load(b"coroutine.yield() error('x')", "=t").unwrap();
        let r = task.resume(0);
        record(Origin::Fetch, "unit_f", &task, &r);
        let c = &snapshot(Some("unit_f"))[0];
        assert_eq!((c.calls, c.live, c.voluntary_yields), (1, 1, 1));
        let r = task.resume(0);
        record(Origin::Fetch, "unit_f", &task, &r);
        let c = &snapshot(Some("unit_f"))[0];
        assert_eq!((c.calls, c.live, c.errors, c.resumes), (1, 0, 1, 2));
        // A call abandoned by a reuse is no longer live.
        assert!(task.reuse());
        task.load(b"coroutine.yield()", "=u").unwrap();
        let r = task.resume(0);
        record(Origin::Fetch, "unit_f", &task, &r);
        assert_eq!(snapshot(Some("unit_f"))[0].live, 1);
        assert!(task.reuse());
        assert_eq!(snapshot(Some("unit_f"))[0].live, 0);
    }
}
