//! Messages to the operator on stderr, in HAProxy's shape:
//! `[ALERT]    (pid) : config : parsing [file:line] : message`.
//!
//! These are start-up and life-cycle messages (config errors, bind failures, signals).
//! Traffic logs go through [`crate::log`], never through here.

use std::fmt;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

/// Severity of an operator message, with HAProxy's padded tags.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Alert,
    Warning,
    Notice,
    Diag,
}

impl Severity {
    /// The tag padded to HAProxy's column width (`[ALERT]    `).
    pub fn tag(self) -> &'static str {
        match self {
            Severity::Alert => "[ALERT]    ",
            Severity::Warning => "[WARNING]  ",
            Severity::Notice => "[NOTICE]   ",
            Severity::Diag => "[DIAG]     ",
        }
    }
}

static QUIET: AtomicBool = AtomicBool::new(false);
static DIAG: AtomicBool = AtomicBool::new(false);

/// `-q` / `quiet`: only alerts are printed.
pub fn set_quiet(q: bool) {
    QUIET.store(q, Ordering::Relaxed);
}

/// `-dD`: diagnostic messages are printed.
pub fn set_diag(d: bool) {
    DIAG.store(d, Ordering::Relaxed);
}

/// Formats one message line (without the trailing newline).
pub fn format_line(sev: Severity, args: fmt::Arguments<'_>) -> String {
    format!("{}({}) : {}", sev.tag(), std::process::id(), args)
}

/// Prints one message to stderr unless filtered by `-q`. Never fails.
pub fn emit(sev: Severity, args: fmt::Arguments<'_>) {
    if sev == Severity::Diag && !DIAG.load(Ordering::Relaxed) {
        return;
    }
    let line = format_line(sev, args);
    keep_startup_line(&line);
    if sev == Severity::Alert || !QUIET.load(Ordering::Relaxed) {
        let _ = writeln!(std::io::stderr().lock(), "{line}");
    }
}

/// The messages emitted while the process starts (`show startup-logs`), and whether
/// it is still starting. Bounded like HAProxy's startup ring.
static STARTUP_LOGS: Mutex<(String, bool)> = Mutex::new((String::new(), true));
const STARTUP_LOGS_MAX: usize = 64 * 1024;

fn keep_startup_line(line: &str) {
    let mut logs = STARTUP_LOGS.lock().unwrap_or_else(|e| e.into_inner());
    if logs.1 && logs.0.len() + line.len() < STARTUP_LOGS_MAX {
        logs.0.push_str(line);
        logs.0.push('\n');
    }
}

/// The process has started: later messages are not startup logs.
pub fn end_startup() {
    STARTUP_LOGS.lock().unwrap_or_else(|e| e.into_inner()).1 = false;
}

/// The messages emitted while starting, as `show startup-logs` prints them (even
/// those `-q` kept off stderr, as HAProxy keeps them).
pub fn startup_logs() -> String {
    STARTUP_LOGS.lock().unwrap_or_else(|e| e.into_inner()).0.clone()
}

#[macro_export]
macro_rules! alert {
    ($($arg:tt)*) => { $crate::diag::emit($crate::diag::Severity::Alert, format_args!($($arg)*)) };
}
#[macro_export]
macro_rules! warning {
    ($($arg:tt)*) => { $crate::diag::emit($crate::diag::Severity::Warning, format_args!($($arg)*)) };
}
#[macro_export]
macro_rules! notice {
    ($($arg:tt)*) => { $crate::diag::emit($crate::diag::Severity::Notice, format_args!($($arg)*)) };
}
