//! Messages to the operator on stderr, in HAProxy's shape:
//! `[ALERT]    (pid) : config : parsing [file:line] : message`.
//!
//! These are start-up and life-cycle messages (config errors, bind failures, signals).
//! Traffic logs go through [`crate::log`], never through here.

use std::fmt;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

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
    match sev {
        Severity::Alert => {}
        Severity::Diag if !DIAG.load(Ordering::Relaxed) => return,
        _ if QUIET.load(Ordering::Relaxed) => return,
        _ => {}
    }
    let line = format_line(sev, args);
    let _ = writeln!(std::io::stderr().lock(), "{line}");
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
