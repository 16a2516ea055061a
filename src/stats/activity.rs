//! `show activity`: what the reactor did since start, counted once per loop iteration
//! (a few additions on a thread-local, the only cost on the hot path).
//!
//! Task profiling (`show profiling`, `set profiling tasks`, HAProxy's "Tasks activity"):
//! while it is active, the reactor times every dispatch it makes ([`timed`]) and
//! counts, per [`TaskId`] (what ran, and for which proxy), the calls, the time the
//! handler held the reactor (`cpu`) and the time the work waited before it ran
//! (`lat`). Inactive, the reactor pays one branch per iteration and per dispatch.
//!
//! The mode is process-wide ([`set_tasks_mode`]); the counters and the `auto`
//! state are per reactor thread. `auto` (the default, as in HAProxy 2.6) measures the
//! length of each loop iteration (one clock read) and turns profiling on while the
//! average iteration takes 1 ms or more, off again below 0.99 ms, as HAProxy does.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::time::{Duration, Instant};

/// The reactor's counters (one reactor per thread).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Activity {
    /// Loop iterations (`loops`).
    pub loops: u64,
    /// I/O events handled (`poll_io`).
    pub poll_io: u64,
    /// Iterations woken by a deadline rather than I/O (`poll_exp`).
    pub poll_exp: u64,
    /// Timers fired (`tasksw` counts them with the wake-ups).
    pub timers: u64,
    /// Run-queue wake-ups handled (`wake_tasks`).
    pub wakes: u64,
}

thread_local! {
    static ACTIVITY: Cell<Activity> = const {
        Cell::new(Activity { loops: 0, poll_io: 0, poll_exp: 0, timers: 0, wakes: 0 })
    };
}

/// One loop iteration handled `events` I/O events, `timers` expired timers and
/// `wakes` run-queue entries.
#[inline]
pub fn iteration(events: usize, timers: usize, wakes: usize) {
    ACTIVITY.with(|a| {
        let mut v = a.get();
        v.loops += 1;
        v.poll_io += events as u64;
        v.poll_exp += u64::from(events == 0 && timers > 0);
        v.timers += timers as u64;
        v.wakes += wakes as u64;
        a.set(v);
    });
}

/// The counters so far.
pub fn get() -> Activity {
    ACTIVITY.with(Cell::get)
}

/// `show activity` as HAProxy 2.6 prints it for one thread. `accepted` is the
/// connections accepted (the CLI's included). Counters of mechanisms moonproxy does
/// not have (tasklets, pools, accept queues, fd takeover, CPU stealing) are 0;
/// `avg_loop_us` is measured while task profiling is not `off`.
pub fn show(accepted: u64, now: std::time::SystemTime) -> String {
    let a = get();
    let date = now.duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let switches = a.timers + a.wakes;
    let fields: [(&str, u64); 24] = [
        ("ctxsw", switches + a.poll_io),
        ("tasksw", switches),
        ("empty_rq", 0),
        ("long_rq", 0),
        ("loops", a.loops),
        ("wake_tasks", a.wakes),
        ("wake_signal", 0),
        ("poll_io", a.poll_io),
        ("poll_exp", a.poll_exp),
        ("poll_drop_fd", 0),
        ("poll_skip_fd", 0),
        ("conn_dead", 0),
        ("stream_calls", 0),
        ("pool_fail", 0),
        ("buf_wait", 0),
        ("cpust_ms_tot", 0),
        ("cpust_ms_1s", 0),
        ("cpust_ms_15s", 0),
        ("avg_loop_us", avg_loop_ns() / 1000),
        ("accepted", accepted),
        ("accq_pushed", 0),
        ("accq_full", 0),
        ("accq_ring", 0),
        ("fd_takeover", 0),
    ];
    let mut out = format!("thread_id: 1 (1..1)\ndate_now: {}.{:06}\n", date.as_secs(), date.subsec_micros());
    for (name, v) in fields {
        out.push_str(&format!("{name}: {v}\n"));
    }
    out
}

// ---- task profiling ------------------------------------------------------------------

/// `set profiling tasks on|auto|off`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TasksMode {
    Off = 0,
    Auto = 1,
    On = 2,
}

/// The mode every reactor thread follows (HAProxy 2.6 starts in `auto`).
static TASKS_MODE: AtomicU8 = AtomicU8::new(TasksMode::Auto as u8);
/// Bumped by `set profiling tasks on`: each thread then forgets its counters.
static EPOCH: AtomicU64 = AtomicU64::new(0);

/// Average iterations over this many loops (HAProxy's sliding average).
const LOOP_SAMPLES: u64 = 128;
/// `auto` turns profiling on at this average iteration length, off below 99% of it.
const AUTO_ON_NS: u64 = 1_000_000;

/// Sets the profiling mode of every thread. `on` also clears the counters, as
/// HAProxy does.
pub fn set_tasks_mode(mode: TasksMode) {
    TASKS_MODE.store(mode as u8, Ordering::Relaxed);
    if mode == TasksMode::On {
        EPOCH.fetch_add(1, Ordering::Relaxed);
    }
}

pub fn tasks_mode() -> TasksMode {
    match TASKS_MODE.load(Ordering::Relaxed) {
        0 => TasksMode::Off,
        2 => TasksMode::On,
        _ => TasksMode::Auto,
    }
}

/// The state `show profiling` prints: `off`, `on`, `auto-off` or `auto-on` (this
/// thread's `auto` state).
pub fn tasks_status() -> &'static str {
    match tasks_mode() {
        TasksMode::Off => "off",
        TasksMode::On => "on",
        TasksMode::Auto if AUTO_ON.with(Cell::get) => "auto-on",
        TasksMode::Auto => "auto-off",
    }
}

/// How a dispatch reached its handler, which decides what its latency is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Via {
    /// A socket event (latency: since `poll()` returned).
    Io,
    /// An expired timer (latency: since its deadline).
    Timer,
    /// The run queue (latency: since `poll()` returned; the queue keeps no dates).
    Wake,
}

/// What a dispatch ran: the "function" of HAProxy's profiling lines.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TaskFn {
    ListenerAccept,
    StreamClientIo,
    StreamServerIo,
    StreamTimer,
    StreamWake,
    CheckIo,
    CheckTimer,
    IdleConnIo,
    IdleConnTimer,
    LuaSocketIo,
    LuaSocketTimer,
    LuaTask,
    CliIo,
    CliTimer,
    CliWake,
    /// `log-forward` sockets and connections (HAProxy's syslog handlers).
    LogForward,
    /// HTTP/2 client connections (HAProxy's `h2_io_cb`).
    H2Io,
    /// SPOE agent connections (`crate::runtime::spoe`).
    SpoeIo,
    Signals,
    HardStop,
    Other,
}

impl TaskFn {
    pub fn name(self) -> &'static str {
        match self {
            TaskFn::ListenerAccept => "listener_accept",
            TaskFn::StreamClientIo => "stream_client_io",
            TaskFn::StreamServerIo => "stream_server_io",
            TaskFn::StreamTimer => "stream_timer",
            TaskFn::StreamWake => "stream_wake",
            TaskFn::CheckIo => "check_io",
            TaskFn::CheckTimer => "check_timer",
            TaskFn::IdleConnIo => "idle_conn_io",
            TaskFn::IdleConnTimer => "idle_conn_timer",
            TaskFn::LuaSocketIo => "lua_socket_io",
            TaskFn::LuaSocketTimer => "lua_socket_timer",
            TaskFn::LuaTask => "lua_task",
            TaskFn::CliIo => "cli_io",
            TaskFn::CliTimer => "cli_timer",
            TaskFn::CliWake => "cli_wake",
            TaskFn::LogForward => "syslog_io_handler",
            TaskFn::H2Io => "h2_io_cb",
            TaskFn::SpoeIo => "spoe_agent_io",
            TaskFn::Signals => "signal_handler",
            TaskFn::HardStop => "hard_stop",
            TaskFn::Other => "other",
        }
    }
}

/// One profiling line: a handler, and the proxy it worked for (a stream's frontend,
/// a listener's proxy), by index in the world's proxies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TaskId {
    pub func: TaskFn,
    pub proxy: Option<u32>,
}

impl TaskId {
    /// The handler of a dispatch of this token kind, without its proxy.
    pub fn of(kind: crate::reactor::Kind, via: Via) -> TaskId {
        use crate::reactor::Kind;
        let func = match (kind, via) {
            (Kind::Listener, _) => TaskFn::ListenerAccept,
            (Kind::Client, Via::Io) => TaskFn::StreamClientIo,
            (Kind::Server, Via::Io) => TaskFn::StreamServerIo,
            // A `do-resolve` answer runs the stream's rules: counted with its I/O.
            (Kind::Resolve, _) => TaskFn::StreamClientIo,
            (Kind::Client | Kind::Server, Via::Timer) => TaskFn::StreamTimer,
            (Kind::Client | Kind::Server, Via::Wake) => TaskFn::StreamWake,
            (Kind::Check, Via::Timer) => TaskFn::CheckTimer,
            (Kind::Check, _) => TaskFn::CheckIo,
            (Kind::Idle, Via::Timer) => TaskFn::IdleConnTimer,
            (Kind::Idle, _) => TaskFn::IdleConnIo,
            (Kind::LuaSocket, Via::Timer) => TaskFn::LuaSocketTimer,
            (Kind::LuaSocket, _) => TaskFn::LuaSocketIo,
            // Reserved keys on timers and the run queue are Lua tasks and commands.
            (Kind::Reserved, Via::Io) => TaskFn::Signals,
            (Kind::Reserved, _) => TaskFn::LuaTask,
            (Kind::Cli, Via::Io) => TaskFn::CliIo,
            (Kind::Cli, Via::Timer) => TaskFn::CliTimer,
            (Kind::Cli, Via::Wake) => TaskFn::CliWake,
            (Kind::LogFwd, _) => TaskFn::LogForward,
            (Kind::H2, _) => TaskFn::H2Io,
            (Kind::Spoe, _) => TaskFn::SpoeIo,
        };
        TaskId { func, proxy: None }
    }

    pub fn global(func: TaskFn) -> TaskId {
        TaskId { func, proxy: None }
    }

    /// `func`, or `func@proxy` (`names`: the proxies by index).
    pub fn name(&self, names: &dyn Fn(usize) -> Option<String>) -> String {
        match self.proxy.and_then(|p| names(p as usize)) {
            Some(px) => format!("{}@{px}", self.func.name()),
            None => self.func.name().to_string(),
        }
    }
}

/// The counters of one [`TaskId`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TaskStat {
    pub calls: u64,
    /// Time the handler held the reactor, in ns (monotonic clock around the call).
    pub cpu_ns: u64,
    /// Time the work waited before the handler ran, in ns.
    pub lat_ns: u64,
}

#[derive(Default)]
struct Profile {
    epoch: u64,
    tasks: HashMap<TaskId, TaskStat>,
}

impl Profile {
    /// The counters, emptied first if `set profiling tasks on` ran since.
    fn current(&mut self) -> &mut HashMap<TaskId, TaskStat> {
        let epoch = EPOCH.load(Ordering::Relaxed);
        if self.epoch != epoch {
            self.epoch = epoch;
            self.tasks.clear();
        }
        &mut self.tasks
    }
}

thread_local! {
    static PROFILE: RefCell<Profile> = RefCell::new(Profile::default());
    /// `auto` found the loop slow: profiling is on.
    static AUTO_ON: Cell<bool> = const { Cell::new(false) };
    /// Sliding average of the iterations' length, in ns.
    static AVG_LOOP_NS: Cell<u64> = const { Cell::new(0) };
}

/// Whether this thread profiles its dispatches (read once per reactor iteration).
#[inline]
pub fn profiling() -> bool {
    match TASKS_MODE.load(Ordering::Relaxed) {
        0 => false,
        2 => true,
        _ => AUTO_ON.with(Cell::get),
    }
}

/// Runs a dispatch of `id`, ready since `ready_since`, and counts it.
#[inline]
pub fn timed(id: TaskId, ready_since: Instant, run: impl FnOnce()) {
    let start = Instant::now();
    run();
    let cpu = start.elapsed();
    record(id, start.saturating_duration_since(ready_since), cpu);
}

/// Counts one call of `id` that waited `lat` and ran for `cpu`.
pub fn record(id: TaskId, lat: Duration, cpu: Duration) {
    PROFILE.with(|p| {
        let mut p = p.borrow_mut();
        let s = p.current().entry(id).or_default();
        s.calls += 1;
        s.cpu_ns += cpu.as_nanos() as u64;
        s.lat_ns += lat.as_nanos() as u64;
    });
}

/// The end of a reactor iteration that began when `poll()` returned at `started`:
/// unless profiling is `off`, measures its length for `auto` and `avg_loop_us`.
#[inline]
pub fn loop_end(started: Instant) {
    if TASKS_MODE.load(Ordering::Relaxed) == TasksMode::Off as u8 {
        return;
    }
    let took = started.elapsed().as_nanos().min(u128::from(u64::MAX / 2)) as u64;
    let avg = AVG_LOOP_NS.with(|a| {
        let v = a.get();
        let v = v - v / LOOP_SAMPLES + took / LOOP_SAMPLES;
        a.set(v);
        v
    });
    AUTO_ON.with(|on| {
        if !on.get() && avg >= AUTO_ON_NS {
            on.set(true);
        } else if on.get() && avg < AUTO_ON_NS * 99 / 100 {
            on.set(false);
        }
    });
}

/// The average iteration length, in ns (0 while profiling is `off` from the start).
pub fn avg_loop_ns() -> u64 {
    AVG_LOOP_NS.with(Cell::get)
}

/// This thread's profiling counters.
pub fn task_stats() -> Vec<(TaskId, TaskStat)> {
    PROFILE.with(|p| p.borrow_mut().current().iter().map(|(k, v)| (*k, *v)).collect())
}

/// How `show profiling` orders its lines.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Order {
    /// Most calls first (HAProxy's default).
    #[default]
    Calls,
    /// By name (`byaddr`: HAProxy sorts by function address, moonproxy has names).
    Name,
    /// Most time first (`bytime`, HAProxy 2.8's).
    Time,
}

/// What `show profiling` prints.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ShowProfiling {
    pub status: bool,
    pub tasks: bool,
    pub order: Order,
    /// Merge the lines of one handler across proxies (`aggr`, HAProxy 2.8's).
    pub aggregate: bool,
    /// At most this many lines (0: all).
    pub max_lines: usize,
}

impl ShowProfiling {
    /// Parses the words after `show profiling`; `Err`: HAProxy's usage text.
    pub fn parse(args: &[String]) -> Result<ShowProfiling, &'static str> {
        let mut s = ShowProfiling { status: true, tasks: true, order: Order::Calls, aggregate: false, max_lines: 0 };
        for a in args {
            match a.as_str() {
                "all" => (s.status, s.tasks) = (true, true),
                "status" => (s.status, s.tasks) = (true, false),
                "tasks" => (s.status, s.tasks) = (false, true),
                // No memory profiling: the section is empty, as in a HAProxy built
                // without USE_MEMORY_PROFILING.
                "memory" => (s.status, s.tasks) = (false, false),
                "byaddr" => s.order = Order::Name,
                "bytime" => s.order = Order::Time,
                "aggr" => s.aggregate = true,
                // A number: its leading digits, as C's atoi reads them.
                w if w.starts_with(|c: char| c.is_ascii_digit()) => {
                    s.max_lines = w.bytes().take_while(u8::is_ascii_digit).fold(0usize, |n, d| n.saturating_mul(10).saturating_add(usize::from(d - b'0')));
                }
                _ => return Err("Expects either 'all', 'status', 'tasks', 'memory', 'byaddr' or a max number of output lines.\n"),
            }
        }
        Ok(s)
    }
}

/// `show profiling` in HAProxy 2.6's layout. `stats`: the counters with their names.
pub fn show_profiling(opts: &ShowProfiling, stats: Vec<(String, TaskStat)>) -> String {
    let mut out = String::new();
    if opts.status {
        out.push_str(&format!("Per-task CPU profiling              : {:<8}      # set profiling tasks {{on|auto|off}}\n", tasks_status()));
        out.push_str(&format!("Memory usage profiling              : {:<8}      # set profiling memory {{on|off}}\n", "off"));
    }
    if !opts.tasks {
        return out;
    }
    let mut lines: Vec<(String, TaskStat)> = Vec::new();
    for (name, s) in stats.into_iter().filter(|(_, s)| s.calls > 0) {
        let name = if opts.aggregate { name.split('@').next().unwrap_or_default().to_string() } else { name };
        match lines.iter_mut().find(|(n, _)| *n == name) {
            Some((_, t)) => {
                t.calls += s.calls;
                t.cpu_ns += s.cpu_ns;
                t.lat_ns += s.lat_ns;
            }
            None => lines.push((name, s)),
        }
    }
    match opts.order {
        Order::Calls => lines.sort_by(|a, b| b.1.calls.cmp(&a.1.calls).then_with(|| a.0.cmp(&b.0))),
        Order::Name => lines.sort_by(|a, b| a.0.cmp(&b.0)),
        Order::Time => lines.sort_by(|a, b| b.1.cpu_ns.cmp(&a.1.cpu_ns).then_with(|| a.0.cmp(&b.0))),
    }
    if opts.max_lines > 0 {
        lines.truncate(opts.max_lines);
    }
    out.push_str("Tasks activity:\n  function                      calls   cpu_tot   cpu_avg   lat_tot   lat_avg\n");
    for (name, s) in &lines {
        out.push_str(&format!(
            "  {name}{:>w$}{}{}{}{}\n",
            s.calls,
            short_time(s.cpu_ns),
            short_time(s.cpu_ns / s.calls),
            short_time(s.lat_ns),
            short_time(s.lat_ns / s.calls),
            w = 35usize.saturating_sub(name.len()).max(1),
        ));
    }
    out
}

/// `show tasks` in HAProxy 2.6's layout: `queued` are the handlers waiting in the run
/// queue (with their wait so far, when known) on `threads` threads.
pub fn show_tasks(queued: &[(String, Duration)], threads: usize) -> String {
    let mut lines: Vec<(String, u64, u64)> = Vec::new();
    for (name, lat) in queued {
        let lat = lat.as_nanos() as u64;
        match lines.iter_mut().find(|(n, _, _)| n == name) {
            Some((_, places, l)) => {
                *places += 1;
                *l += lat;
            }
            None => lines.push((name.clone(), 1, lat)),
        }
    }
    lines.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let total = queued.len() as u64;
    let mut out = format!("Running tasks: {total} ({threads} threads)\n  function                     places     %    lat_tot   lat_avg\n");
    for (name, places, lat) in &lines {
        out.push_str(&format!(
            "  {name}{places:>w$}  {:>3}.{}{}{}\n",
            100 * places / total,
            1000 * places / total % 10,
            short_time(*lat),
            short_time(lat / places),
            w = 35usize.saturating_sub(name.len()).max(1),
        ));
    }
    out
}

/// A duration in ns as HAProxy's profiling prints it, after three blanks: four
/// significant digits and a unit (`551.0ns`, `2.044us`, `13.56us`, `1.678ms`), a
/// centred `-` for zero.
pub fn short_time(ns: u64) -> String {
    if ns == 0 {
        return "      -   ".into();
    }
    // The unit and the decimals are chosen on the value as it will be rounded, so
    // 999.96us prints as 1.000ms and 9.9996us as 10.00us, never with five digits.
    let (mut v, mut unit) = (ns as f64, "ns");
    for next in ["us", "ms", "s"] {
        if v < 999.95 {
            break;
        }
        v /= 1000.0;
        unit = next;
    }
    let decimals = if v < 9.9995 {
        3
    } else if v < 99.995 {
        2
    } else {
        1
    };
    format!("   {v:.decimals$}{unit}")
}

/// What `show threads` prints of one reactor thread.
#[derive(Clone, Debug, Default)]
pub struct ThreadInfo {
    /// Counted from 1.
    pub number: usize,
    /// An identifier of the OS thread.
    pub id: u64,
    /// The thread running the command (`*`).
    pub calling: bool,
    /// Timers armed (`wq`).
    pub timers: usize,
    /// Entries in the run queue (`rq`, `rqsz`).
    pub runnable: usize,
    /// The thread's CPU time now, and when `poll()` last returned, in ns.
    pub cpu_now_ns: u64,
    pub cpu_poll_ns: u64,
    /// What the thread runs now (the calling thread: the CLI), and its id.
    pub current: Option<(String, u64)>,
}

/// One block of `show threads` in HAProxy 2.6's layout. Fields of mechanisms
/// moonproxy does not have are 0: `glob` (a shared run queue), `tl`/`tlsz`
/// (tasklets), `stuck` (no watchdog), `harmless`/`wantrdv` (thread isolation).
pub fn show_thread(t: &ThreadInfo) -> String {
    let mut out = format!(
        "{} Thread {:<2}: id=0x{:x} act={} glob=0 wq={} rq={} tl=0 tlsz=0 rqsz={}\n",
        if t.calling { '*' } else { ' ' },
        t.number,
        t.id,
        u8::from(t.calling || t.runnable > 0),
        u8::from(t.timers > 0),
        u8::from(t.runnable > 0),
        t.runnable,
    );
    out.push_str(&format!("     {:>2}/{:<2}   stuck=0 prof={} harmless=0 wantrdv=0\n", 1, t.number, u8::from(profiling())));
    out.push_str(&format!(
        "             cpu_ns: poll={} now={} diff={}\n",
        t.cpu_poll_ns,
        t.cpu_now_ns,
        t.cpu_now_ns.saturating_sub(t.cpu_poll_ns)
    ));
    if t.calling {
        match &t.current {
            Some((func, id)) => {
                out.push_str(&format!("             curr_task=0x{id:x} (task) calls=1 last=0\n"));
                out.push_str(&format!("               fct=0x0({func}) ctx=0x{id:x}(<CLI>)\n"));
            }
            None => out.push_str("             curr_task=0\n"),
        }
    }
    out
}

/// The calling thread's CPU time in ns (`/proc/thread-self/schedstat`: time on CPU),
/// 0 when unreadable.
pub fn thread_cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iterations_add_up_and_print_in_haproxys_order() {
        let before = get();
        iteration(3, 0, 1);
        iteration(0, 2, 0);
        let a = get();
        assert_eq!((a.loops - before.loops, a.poll_io - before.poll_io, a.poll_exp - before.poll_exp), (2, 3, 1));
        let text = show(5, std::time::SystemTime::now());
        let names: Vec<&str> = text.lines().map(|l| l.split(':').next().unwrap_or_default()).collect();
        assert_eq!(names[..4], ["thread_id", "date_now", "ctxsw", "tasksw"]);
        assert_eq!(names.last(), Some(&"fd_takeover"));
        assert!(text.contains("\naccepted: 5\n"));
    }
    #[test]
    fn times_print_with_four_digits_as_haproxy() {
        assert_eq!(short_time(0), "      -   ");
        assert_eq!(short_time(551), "   551.0ns");
        assert_eq!(short_time(5), "   5.000ns");
        // Values that round up into the next digit class or unit (a test saw "1000.0us").
        assert_eq!(short_time(999_960), "   1.000ms");
        assert_eq!(short_time(999_940), "   999.9us");
        assert_eq!(short_time(9_999_600), "   10.00ms");
        assert_eq!(short_time(99_996), "   100.0us");
        assert_eq!(short_time(2_044), "   2.044us");
        assert_eq!(short_time(13_560), "   13.56us");
        assert_eq!(short_time(264_000), "   264.0us");
        assert_eq!(short_time(1_678_000), "   1.678ms");
        assert_eq!(short_time(12_500_000_000), "   12.50s");
    }

    #[test]
    fn profiling_lines_align_as_haproxy() {
        let opts = ShowProfiling::parse(&["tasks".to_string()]).unwrap();
        let stat = |calls, cpu_ns, lat_ns| TaskStat { calls, cpu_ns, lat_ns };
        let out = show_profiling(&opts, vec![("task_run_applet".into(), stat(1, 0, 2_044)), ("process_stream".into(), stat(7, 1_678_000, 9_467))]);
        // Lines of a HAProxy 2.6 answer, with the same numbers.
        assert_eq!(
            out,
            "Tasks activity:\n  function                      calls   cpu_tot   cpu_avg   lat_tot   lat_avg\n  process_stream                    7   1.678ms   239.7us   9.467us   1.352us\n  task_run_applet                   1      -         -      2.044us   2.044us\n"
        );
        let opts = ShowProfiling::parse(&["tasks".into(), "aggr".into(), "1".into()]).unwrap();
        let out = show_profiling(&opts, vec![("f@a".into(), stat(1, 1, 1)), ("f@b".into(), stat(2, 1, 1)), ("g".into(), stat(2, 1, 1))]);
        assert!(out.contains("\n  f                                 3   2.000ns"), "{out}");
        assert_eq!(out.lines().count(), 3, "{out}");
        assert!(ShowProfiling::parse(&["bogus".into()]).is_err());
        assert_eq!(ShowProfiling::parse(&["12x".into()]).unwrap().max_lines, 12);
    }

    #[test]
    fn running_tasks_count_places_as_haproxy() {
        let z = Duration::ZERO;
        let out = show_tasks(&[("a".into(), z), ("b".into(), z), ("a".into(), z)], 1);
        assert_eq!(
            out,
            "Running tasks: 3 (1 threads)\n  function                     places     %    lat_tot   lat_avg\n  a                                 2   66.6      -         -   \n  b                                 1   33.3      -         -   \n"
        );
    }

    #[test]
    fn a_thread_block_has_haproxys_fields() {
        let t = ThreadInfo { number: 1, id: 0x2a, calling: true, timers: 3, runnable: 0, cpu_now_ns: 10, cpu_poll_ns: 4, current: Some(("cli_io".into(), 7)) };
        let out = show_thread(&t);
        let lines: Vec<&str> = out.lines().collect();
        assert!(lines[0].starts_with("* Thread 1 : id=0x2a act=1 glob=0 wq=1 rq=0 tl=0 tlsz=0 rqsz=0"), "{out}");
        assert!(lines[1].starts_with("      1/1    stuck=0 prof="), "{out}");
        assert_eq!(lines[2], "             cpu_ns: poll=4 now=10 diff=6");
        assert_eq!(lines[3], "             curr_task=0x7 (task) calls=1 last=0");
    }
}
