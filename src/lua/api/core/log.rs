//! `core.log(level, msg)`, `core.Debug/Info/Warning/Alert(msg)`, and where Lua log lines go.
//!
//! As HAProxy 2.6's `hlua_sendlog`: to the global log targets (`tune.lua.log.loggers`, on by
//! default) and to stderr as `[info] 328/211039 (pid) : msg` (day of year, local time), unless
//! `-q` once started; `debug` lines reach stderr only with `-d`. `tune.lua.log.stderr auto`
//! (HAProxy 2.9) prints only the lines no logger took.
use super::{core, Phase};
use crate::config::model::{Level, LuaLogStderr, LuaSettings};
use crate::lua::{CallCtx, LuaError, RustFunction};
use std::io::Write;
use std::os::raw::c_int;
use std::time::SystemTime;

/// Where Lua log lines go.
pub struct LogOutput {
    /// The global log targets (set once serving).
    pub logger: Option<crate::log::Logger>,
    pub to_loggers: bool,
    pub stderr: LuaLogStderr,
    pub quiet: bool,
    pub debug: bool,
}

impl LogOutput {
    pub(crate) fn new(settings: &LuaSettings, opts: super::EngineOptions) -> LogOutput {
        LogOutput {
            logger: None,
            to_loggers: settings.log_loggers,
            stderr: settings.log_stderr,
            quiet: opts.quiet,
            debug: opts.debug,
        }
    }

    /// Sends one `core.log` line.
    pub fn send(&self, level: Level, msg: &str, phase: Phase) {
        let mut logged = false;
        if self.to_loggers {
            if let Some(l) = &self.logger {
                if !l.is_empty() {
                    l.send(level, msg);
                    logged = true;
                }
            }
        }
        let stderr = match self.stderr {
            LuaLogStderr::On => true,
            LuaLogStderr::Auto => !logged,
            LuaLogStderr::Off => false,
        };
        let starting = phase != Phase::Running;
        if stderr && (!self.quiet || starting) && (level != Level::Debug || self.debug) {
            let line = format!(
                "[{}] {} ({}) : {msg}",
                level_name(level),
                stamp(),
                std::process::id()
            );
            let _ = writeln!(std::io::stderr().lock(), "{line}");
        }
    }

    /// A failure report (HAProxy's `SEND_ERR`): the log targets at `err`, and an alert on
    /// stderr unless `-q`.
    pub fn error(&self, msg: &str) {
        if let Some(l) = &self.logger {
            l.send(Level::Err, msg);
        }
        if !self.quiet {
            crate::alert!("{msg}");
        }
    }
}

/// HAProxy's `%03d/%02d%02d%02d`: day of the year (from 0), hours, minutes, seconds, local.
fn stamp() -> String {
    let now = SystemTime::now();
    let tm = crate::log::time::breakdown(now, crate::log::time::local_offset(now));
    const BEFORE: [u32; 12] = [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334];
    let leap = (tm.year % 4 == 0 && tm.year % 100 != 0) || tm.year % 400 == 0;
    let month = (tm.month.clamp(1, 12) - 1) as usize;
    let yday = BEFORE[month] + tm.day - 1 + u32::from(leap && month >= 2);
    format!("{yday:03}/{:02}{:02}{:02}", tm.hour, tm.min, tm.sec)
}

pub(crate) fn level_name(level: Level) -> &'static str {
    super::LEVELS[level as usize]
}

/// The log level numbered `n` (`core.emerg` 0 .. `core.debug` 7).
pub(crate) fn level_of(n: i64) -> Option<Level> {
    Some(match n {
        0 => Level::Emerg,
        1 => Level::Alert,
        2 => Level::Crit,
        3 => Level::Err,
        4 => Level::Warning,
        5 => Level::Notice,
        6 => Level::Info,
        7 => Level::Debug,
        _ => return None,
    })
}

fn emit(level: Level, msg: &str) -> Result<c_int, LuaError> {
    let core = core()?;
    let phase = core.phase.get();
    core.log.borrow().send(level, msg, phase);
    Ok(0)
}

fn log(ctx: &mut CallCtx) -> Result<c_int, LuaError> {
    if ctx.nargs() != 2 {
        return Err(LuaError::runtime("'log' needs 2 arguments"));
    }
    let n = ctx.integer(1)?;
    let level = level_of(n).ok_or_else(|| ctx.arg_error(1, "Invalid loglevel."))?;
    let msg = ctx.string(2)?;
    emit(level, &msg)
}

/// The shortcuts: HAProxy's messages name them in lower case (`'alert' needs 1 arguments`).
fn shortcut(ctx: &mut CallCtx, level: Level, name: &str) -> Result<c_int, LuaError> {
    if ctx.nargs() != 1 {
        return Err(LuaError::runtime(format!("'{name}' needs 1 arguments")));
    }
    let msg = ctx.string(1)?;
    emit(level, &msg)
}

pub static LOG: RustFunction = RustFunction::new("log", log);
pub static DEBUG: RustFunction = RustFunction::new("Debug", |c| shortcut(c, Level::Debug, "debug"));
pub static INFO: RustFunction = RustFunction::new("Info", |c| shortcut(c, Level::Info, "info"));
pub static WARNING: RustFunction =
    RustFunction::new("Warning", |c| shortcut(c, Level::Warning, "warning"));
pub static ALERT: RustFunction = RustFunction::new("Alert", |c| shortcut(c, Level::Alert, "alert"));
