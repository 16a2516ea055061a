//! `set profiling`, `show profiling`, `show tasks`, `show threads`: HAProxy 2.6's
//! answers over what the reactor measures and holds ([`crate::stats::activity`]).
//!
//! moonproxy's "tasks" are the reactor's handlers (`listener_accept@<fe>`,
//! `stream_client_io@<fe>`, `check_timer`, `lua_task`, `cli_io` ...: see
//! [`crate::stats::activity::TaskFn`]), named where HAProxy prints its C functions.

use super::Exec;
use crate::stats::activity::{self, ShowProfiling, TasksMode};

/// The proxies' names by index, for the `func@proxy` names.
fn proxy_names(exec: &Exec<'_>) -> Vec<String> {
    exec.host.proxies().iter().map(|p| p.name.clone()).collect()
}

/// `set profiling tasks on|auto|off`, `set profiling memory on|off`.
pub fn set_profiling(_: &mut Exec<'_>, args: &[String]) -> String {
    match args.first().map(String::as_str) {
        // moonproxy has no allocator hooks: as a HAProxy built without
        // USE_MEMORY_PROFILING, whatever follows.
        Some("memory") => "Memory profiling not compiled in.\n".into(),
        Some("tasks") => {
            let mode = match args.get(1).map(String::as_str) {
                Some("on") => TasksMode::On,
                Some("auto") => TasksMode::Auto,
                Some("off") => TasksMode::Off,
                _ => return "Expects 'on', 'auto', or 'off'.\n".into(),
            };
            activity::set_tasks_mode(mode);
            String::new()
        }
        _ => "Expects either 'tasks' or 'memory'.\n".into(),
    }
}

/// `show profiling [all|status|tasks|memory] [byaddr|bytime|aggr] [<max_lines>]`.
pub fn show_profiling(exec: &mut Exec<'_>, args: &[String]) -> String {
    let opts = match ShowProfiling::parse(args) {
        Ok(o) => o,
        Err(usage) => return usage.into(),
    };
    let names = proxy_names(exec);
    let name = |i: usize| names.get(i).cloned();
    let stats = activity::task_stats().into_iter().map(|(id, s)| (id.name(&name), s)).collect();
    activity::show_profiling(&opts, stats)
}

/// `show tasks`: the run queue of this thread by handler (HAProxy lists its run
/// queues; moonproxy's is the reactor's wake-up queue, which keeps no dates, so the
/// latency columns are `-`).
pub fn show_tasks(exec: &mut Exec<'_>, _: &[String]) -> String {
    let state = exec.host.reactor_state();
    let names = proxy_names(exec);
    let name = |i: usize| names.get(i).cloned();
    let queued: Vec<(String, std::time::Duration)> = state.queued.iter().map(|id| (id.name(&name), std::time::Duration::ZERO)).collect();
    activity::show_tasks(&queued, 1)
}

/// `show threads`: one block for the reactor thread running the command.
pub fn show_threads(exec: &mut Exec<'_>, _: &[String]) -> String {
    let state = exec.host.reactor_state();
    let now = activity::thread_cpu_ns();
    // The CPU time when poll() returned, as the CPU time now less the wall time since
    // (the thread ran without pause since poll() returned).
    let since = u64::try_from(state.polled.elapsed().as_nanos()).unwrap_or(u64::MAX);
    activity::show_thread(&activity::ThreadInfo {
        number: 1,
        id: os_thread_id(),
        calling: true,
        timers: state.timers,
        runnable: state.queued.len(),
        cpu_now_ns: now,
        cpu_poll_ns: now.saturating_sub(since),
        current: Some(("cli_io".into(), 0)),
    })
}

/// Rust's number of the running thread (`ThreadId(N)`), where HAProxy prints its
/// `pthread_t`.
fn os_thread_id() -> u64 {
    let text = format!("{:?}", std::thread::current().id());
    text.chars().filter(char::is_ascii_digit).collect::<String>().parse().unwrap_or(0)
}
