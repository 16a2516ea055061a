//! `show activity`: what the reactor did since start, counted once per loop iteration
//! (a few additions on a thread-local, the only cost on the hot path).

use std::cell::Cell;

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
/// not have (tasklets, pools, accept queues, fd takeover, CPU stealing) are 0.
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
        ("avg_loop_us", 0),
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
}
