//! The recent Lua errors, for `show lua errors` / `clear lua errors` on the CLI (beyond
//! HAProxy, which only logs them).
//!
//! Every place that reports a Lua failure (actions, fetches, converters, services, tasks,
//! CLI commands) calls [`record`] with what it logs, once: the report itself (stderr and
//! the log targets) is unchanged. The ring keeps the [`CAPACITY`] most recently seen
//! distinct errors; an error identical to one kept (same origin, name, message and
//! traceback) only counts one more and becomes the most recent, so a script failing on
//! every request takes one entry, not the whole ring.
//!
//! The stream an error happened in is known to the world, not to the report: after each
//! stream event the world calls [`attach_context`], which names the stream's frontend,
//! backend and server on the errors recorded meanwhile (actions, fetches, converters,
//! services); [`end_of_iteration`] forgets a pending attachment nobody claimed.
//!
//! One ring per thread (the Lua engine is per thread), in a `thread_local`.
use std::cell::RefCell;
use std::collections::VecDeque;
use std::time::SystemTime;

/// How many distinct errors are kept.
pub const CAPACITY: usize = 64;
/// Longest traceback kept (the rest is cut at a character boundary, marked `...`).
const TRACEBACK_MAX: usize = 200;

/// What failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    Action,
    Fetch,
    Converter,
    Service,
    Task,
    Cli,
}

impl Origin {
    pub fn name(self) -> &'static str {
        match self {
            Origin::Action => "action",
            Origin::Fetch => "fetch",
            Origin::Converter => "converter",
            Origin::Service => "service",
            Origin::Task => "task",
            Origin::Cli => "cli",
        }
    }
}

/// One distinct error.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub origin: Origin,
    /// The function's name as the report gives it (`lua.NAME`, `<lua.cli.w>`; empty for a
    /// task).
    pub name: String,
    /// `file:line` of the error when the message or the traceback tells it.
    pub location: Option<String>,
    /// The message, without `[state-id 0] runtime error: ` and the traceback.
    pub message: String,
    /// The traceback (`[C]: in global 'error', file:line: in function line N`), short.
    pub traceback: String,
    pub first: SystemTime,
    pub last: SystemTime,
    pub count: u64,
    /// `<frontend>/<backend>/<server>` of the stream of its last occurrence (`-` for what
    /// the stream did not have); `None` outside streams.
    pub context: Option<String>,
    /// Recorded during the current stream event: [`attach_context`] fills `context`.
    needs_context: bool,
}

#[derive(Default)]
struct Ring {
    entries: VecDeque<Entry>,
    /// Errors recorded since the start or the last clear (repeats included).
    total: u64,
    /// Distinct errors pushed out of the ring.
    dropped: u64,
    /// Some entry waits for [`attach_context`].
    awaiting: bool,
}

thread_local! {
    static RING: RefCell<Ring> = RefCell::new(Ring::default());
}

/// Records a failure of `origin`'s function `name`, `report` as it is logged (`[state-id 0]
/// runtime error: <msg> from <traceback>`, with or without the final dot).
pub fn record(origin: Origin, name: &str, report: &str) {
    record_at(origin, name, report, SystemTime::now());
}

fn record_at(origin: Origin, name: &str, report: &str, now: SystemTime) {
    let (message, traceback) = split(report);
    let location = location(&message).or_else(|| traceback_location(&traceback));
    let traceback = shorten(traceback);
    RING.with(|r| {
        let mut r = r.borrow_mut();
        r.total += 1;
        let in_stream = !matches!(origin, Origin::Task | Origin::Cli);
        r.awaiting |= in_stream;
        let same = |e: &Entry| e.origin == origin && e.name == name && e.message == message && e.traceback == traceback;
        if let Some(i) = r.entries.iter().position(same) {
            if let Some(mut e) = r.entries.remove(i) {
                e.count += 1;
                e.last = now;
                e.needs_context = in_stream;
                r.entries.push_back(e);
            }
            return;
        }
        if r.entries.len() >= CAPACITY {
            r.entries.pop_front();
            r.dropped += 1;
        }
        let name = name.to_string();
        r.entries.push_back(Entry { origin, name, location, message, traceback, first: now, last: now, count: 1, context: None, needs_context: in_stream });
    });
}

/// A stream event ended: `context` (`fe/be/srv`, computed only when needed) names the
/// stream of the errors recorded during it.
pub fn attach_context(context: impl FnOnce() -> String) {
    RING.with(|r| {
        let mut r = r.borrow_mut();
        if !std::mem::take(&mut r.awaiting) {
            return;
        }
        let context = context();
        for e in r.entries.iter_mut().filter(|e| e.needs_context) {
            e.needs_context = false;
            e.context = Some(context.clone());
        }
    });
}

/// The end of a reactor iteration: errors recorded outside a stream event keep no context.
pub fn end_of_iteration() {
    RING.with(|r| {
        let mut r = r.borrow_mut();
        if std::mem::take(&mut r.awaiting) {
            r.entries.iter_mut().for_each(|e| e.needs_context = false);
        }
    });
}

/// The kept errors, least recently seen first, with the total recorded and the number
/// of distinct errors dropped since the start or the last [`clear`].
pub fn snapshot() -> (Vec<Entry>, u64, u64) {
    RING.with(|r| {
        let r = r.borrow();
        (r.entries.iter().cloned().collect(), r.total, r.dropped)
    })
}

/// Forgets every error (`clear lua errors`).
pub fn clear() {
    RING.with(|r| *r.borrow_mut() = Ring::default());
}

/// The message and the traceback of a report.
fn split(report: &str) -> (String, String) {
    let report = report.strip_suffix('.').unwrap_or(report);
    let report = report.strip_prefix("[state-id 0] ").unwrap_or(report);
    let report = report.strip_prefix("runtime error: ").unwrap_or(report);
    match report.rfind(" from ") {
        Some(i) => (report[..i].to_string(), report[i + 6..].to_string()),
        None => (report.to_string(), String::new()),
    }
}

/// `file:line` at the start of a Lua message (`/x/a.lua:8: boom`).
fn location(message: &str) -> Option<String> {
    let mut parts = message.splitn(3, ':');
    let (file, line) = (parts.next()?, parts.next()?);
    parts.next()?; // a message follows
    (!file.is_empty() && !file.contains(' ') && !line.is_empty() && line.bytes().all(|b| b.is_ascii_digit()))
        .then(|| format!("{file}:{line}"))
}

/// The first `file:line` of a traceback that is not a C function.
fn traceback_location(traceback: &str) -> Option<String> {
    traceback.split(", ").filter(|p| !p.starts_with("[C]")).find_map(location)
}

fn shorten(mut tb: String) -> String {
    if tb.len() > TRACEBACK_MAX {
        let mut end = TRACEBACK_MAX;
        while !tb.is_char_boundary(end) {
            end -= 1;
        }
        tb.truncate(end);
        tb.push_str("...");
    }
    tb
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const REPORT: &str = "[state-id 0] runtime error: /tmp/a.lua:8: kaboom from [C]: in global 'error', /tmp/a.lua:8: in function line 7.";

    #[test]
    fn a_report_is_split_into_its_parts() {
        clear();
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1000);
        record_at(Origin::Action, "lua.x", REPORT, t0);
        let (e, total, dropped) = snapshot();
        assert_eq!((total, dropped), (1, 0));
        assert_eq!(e[0].location.as_deref(), Some("/tmp/a.lua:8"));
        assert_eq!(e[0].message, "/tmp/a.lua:8: kaboom");
        assert_eq!(e[0].traceback, "[C]: in global 'error', /tmp/a.lua:8: in function line 7");
        // No location in the message: the traceback's first Lua frame.
        record_at(Origin::Task, "", "[state-id 0] unknown runtime error from [C]: in global 'error', /t.lua:3: in function line 1.", t0);
        let (e, _, _) = snapshot();
        assert_eq!(e[1].location.as_deref(), Some("/t.lua:3"));
        assert_eq!(e[1].message, "unknown runtime error");
        record_at(Origin::Service, "lua.s", "out of memory error", t0);
        assert_eq!(snapshot().0[2].location, None);
    }

    #[test]
    fn identical_errors_collapse_and_the_ring_is_bounded() {
        clear();
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1000);
        for i in 0..1000 {
            record_at(Origin::Action, "lua.x", REPORT, t0 + Duration::from_secs(i));
        }
        let (e, total, _) = snapshot();
        assert_eq!((e.len(), e[0].count, total), (1, 1000, 1000));
        assert_eq!((e[0].first, e[0].last), (t0, t0 + Duration::from_secs(999)));
        // Another name is another error.
        record_at(Origin::Action, "lua.y", REPORT, t0);
        assert_eq!(snapshot().0.len(), 2);
        for i in 0..CAPACITY {
            record_at(Origin::Fetch, &format!("f{i}"), "boom", t0);
        }
        let (e, _, dropped) = snapshot();
        assert_eq!((e.len(), dropped), (CAPACITY, 2));
        assert_eq!(e[0].name, "f0", "the oldest are dropped first");
        // A repeat moves to the end.
        record_at(Origin::Fetch, "f0", "boom", t0);
        let (e, _, _) = snapshot();
        assert_eq!((e[CAPACITY - 1].name.as_str(), e[CAPACITY - 1].count), ("f0", 2));
        clear();
        assert_eq!(snapshot(), (Vec::new(), 0, 0));
    }

    #[test]
    fn the_stream_is_attached_after_its_event() {
        clear();
        let t0 = SystemTime::UNIX_EPOCH;
        record_at(Origin::Action, "a", "boom", t0);
        record_at(Origin::Task, "", "other", t0);
        attach_context(|| "fe/be/s1".into());
        let (e, _, _) = snapshot();
        assert_eq!((e[0].context.as_deref(), e[1].context.as_deref()), (Some("fe/be/s1"), None));
        attach_context(|| panic!("nothing waits"));
        record_at(Origin::Fetch, "f", "boom", t0);
        end_of_iteration();
        attach_context(|| "late/-/-".into());
        assert_eq!(snapshot().0[2].context, None);
        clear();
    }

    #[test]
    fn long_tracebacks_are_cut() {
        clear();
        let long = format!("boom from {}", "x".repeat(1000));
        record_at(Origin::Cli, "<lua.cli.a>", &long, SystemTime::now());
        assert_eq!(snapshot().0[0].traceback.len(), TRACEBACK_MAX + 3);
        clear();
    }
}
