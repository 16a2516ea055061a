//! Keyword parsers of the Lua part of the `global` section (`lua-load`, `lua-prepend-path`,
//! `tune.lua.*`). The parser only records them in [`LuaSettings`]; the Lua engine
//! (`crate::lua::api::core::Engine`) runs the files right after the configuration is parsed.
//!
//! Messages follow HAProxy 2.6's wording (checked with `haproxy -c`). Keywords HAProxy 2.6 does
//! not have (`burst-timeout`, `log.*`, `bool-sample-conversion`, `openlibs`, arguments after a
//! `lua-load` file) are moonproxy extensions with the meaning later HAProxy versions gave them.
//!
//! [`LuaSettings`]: crate::config::model::LuaSettings

use super::{Line, Parser};
use crate::config::model::{LuaDirective, LuaLogStderr, PreemptMode};
use crate::config::units;
use std::path::PathBuf;
use std::time::Duration;

fn load_common(p: &mut Parser, l: &Line, per_thread: bool) -> Result<(), String> {
    if l.arg(1).is_empty() {
        return Err(if per_thread {
            format!("'{}' expects a file as parameter.", l.arg(0))
        } else {
            format!("'{}' expects a file name as parameter.", l.arg(0))
        });
    }
    p.config.global.lua.directives.push(LuaDirective::Load {
        file: PathBuf::from(l.arg(1)),
        args: l.args[2..].to_vec(),
        per_thread,
        location: l.loc.clone(),
    });
    Ok(())
}

/// `lua-load <file> [args...]`.
pub fn load(p: &mut Parser, l: &Line) -> Result<(), String> {
    load_common(p, l, false)
}

/// `lua-load-per-thread <file> [args...]`: one reactor thread, so the same state as `lua-load`.
pub fn load_per_thread(p: &mut Parser, l: &Line) -> Result<(), String> {
    load_common(p, l, true)
}

/// `lua-prepend-path <path> [path|cpath]`.
pub fn prepend_path(p: &mut Parser, l: &Line) -> Result<(), String> {
    if l.arg(1).is_empty() {
        return Err(format!(
            "'{}' expects to receive a <path> as argument",
            l.arg(0)
        ));
    }
    let cpath = match l.arg(2) {
        "" | "path" => false,
        "cpath" => true,
        _ => {
            return Err(format!(
                "'{}' expects <type> to either be 'path' or 'cpath'",
                l.arg(0)
            ))
        }
    };
    p.config
        .global
        .lua
        .directives
        .push(LuaDirective::PrependPath {
            path: l.arg(1).to_string(),
            cpath,
            location: l.loc.clone(),
        });
    Ok(())
}

/// A `tune.lua.*-timeout` value: HAProxy time units, `0` means no limit.
fn timeout(l: &Line) -> Result<Option<Duration>, String> {
    let t = units::parse_time(l.arg(1)).map_err(|_| format!("{}: invalid timeout", l.arg(0)))?;
    Ok((!t.is_zero()).then_some(t))
}

pub fn session_timeout(p: &mut Parser, l: &Line) -> Result<(), String> {
    p.config.global.lua.session_timeout = timeout(l)?;
    Ok(())
}

pub fn service_timeout(p: &mut Parser, l: &Line) -> Result<(), String> {
    p.config.global.lua.service_timeout = timeout(l)?;
    Ok(())
}

pub fn task_timeout(p: &mut Parser, l: &Line) -> Result<(), String> {
    p.config.global.lua.task_timeout = timeout(l)?;
    Ok(())
}

/// `tune.lua.burst-timeout` (HAProxy 2.8).
pub fn burst_timeout(p: &mut Parser, l: &Line) -> Result<(), String> {
    p.config.global.lua.burst_timeout = timeout(l)?;
    Ok(())
}

/// `tune.lua.forced-yield <n>`. HAProxy reads it with `atoi` after checking its digits, so an
/// absent value is 0.
pub fn forced_yield(p: &mut Parser, l: &Line) -> Result<(), String> {
    let arg = l.arg(1);
    let n = if arg.is_empty() {
        0
    } else {
        arg.parse::<u32>()
            .map_err(|_| format!("{}: invalid number", l.arg(0)))?
    };
    p.config.global.lua.forced_yield = Some(n);
    Ok(())
}

/// `tune.lua.preempt timer|count` (moonproxy): how `tune.lua.forced-yield` is enforced.
pub fn preempt(p: &mut Parser, l: &Line) -> Result<(), String> {
    p.config.global.lua.preempt_mode = match l.arg(1) {
        "timer" => PreemptMode::Timer,
        "count" => PreemptMode::Count,
        _ => return Err(format!("'{}' expects 'timer' or 'count'.", l.arg(0))),
    };
    Ok(())
}

/// `tune.lua.maxmem <MB>`.
pub fn maxmem(p: &mut Parser, l: &Line) -> Result<(), String> {
    let arg = l.arg(1);
    if arg.is_empty() {
        return Err(format!(
            "'{}' expects an integer argument (Lua memory size in MB).",
            l.arg(0)
        ));
    }
    if let Some(pos) = arg.find(|c: char| !c.is_ascii_digit()) {
        return Err(format!(
            "{}: invalid number {arg} (error at '{}')",
            l.arg(0),
            &arg[pos..]
        ));
    }
    p.config.global.lua.maxmem_mb = arg
        .parse()
        .map_err(|_| format!("{}: invalid number {arg}", l.arg(0)))?;
    Ok(())
}

fn on_off(l: &Line) -> Result<bool, String> {
    match l.arg(1) {
        "on" => Ok(true),
        "off" => Ok(false),
        _ => Err(format!("'{}' expects 'on' or 'off'.", l.arg(0))),
    }
}

/// `tune.lua.log.loggers on|off` (HAProxy 2.9).
pub fn log_loggers(p: &mut Parser, l: &Line) -> Result<(), String> {
    p.config.global.lua.log_loggers = on_off(l)?;
    Ok(())
}

/// `tune.lua.stall-warn <time>` (moonproxy): the stall report's threshold; 0 turns it off.
pub fn stall_warn(p: &mut Parser, l: &Line) -> Result<(), String> {
    p.config.global.lua.stall_warn = timeout(l)?.unwrap_or(Duration::ZERO);
    Ok(())
}

/// `tune.lua.stats on|off` (moonproxy): per-function accounting (`show lua stats`).
pub fn accounting(p: &mut Parser, l: &Line) -> Result<(), String> {
    p.config.global.lua.accounting = on_off(l)?;
    Ok(())
}

/// `tune.lua.strict-blocking on|off` (moonproxy): blocking calls at run time are errors.
pub fn strict_blocking(p: &mut Parser, l: &Line) -> Result<(), String> {
    p.config.global.lua.strict_blocking = on_off(l)?;
    Ok(())
}

/// `tune.lua.log.stderr on|auto|off` (HAProxy 2.9).
pub fn log_stderr(p: &mut Parser, l: &Line) -> Result<(), String> {
    p.config.global.lua.log_stderr = match l.arg(1) {
        "on" => LuaLogStderr::On,
        "auto" => LuaLogStderr::Auto,
        "off" => LuaLogStderr::Off,
        _ => return Err(format!("'{}' expects 'on', 'auto' or 'off'.", l.arg(0))),
    };
    Ok(())
}

/// `tune.lua.bool-sample-conversion normal|pre-3.1-bug` (HAProxy 3.2).
pub fn bool_sample_conversion(p: &mut Parser, l: &Line) -> Result<(), String> {
    p.config.global.lua.bool_sample_normal = match l.arg(1) {
        "normal" => true,
        "pre-3.1-bug" => false,
        _ => return Err(format!("'{}' expects 'normal' or 'pre-3.1-bug'.", l.arg(0))),
    };
    Ok(())
}

/// `tune.lua.openlibs all` (HAProxy 3.4). Only `all` for now: a partial set would also drop
/// the prelude moonproxy's preemption relies on (the `coroutine` wrappers).
pub fn openlibs(p: &mut Parser, l: &Line) -> Result<(), String> {
    if p.config
        .global
        .lua
        .directives
        .iter()
        .any(|d| matches!(d, LuaDirective::Load { .. }))
    {
        return Err(format!("'{}' must come before any 'lua-load'.", l.arg(0)));
    }
    match l.arg(1) {
        "all" => Ok(()),
        "" => Err(format!(
            "'{}' expects 'all', 'none' or a list of libraries.",
            l.arg(0)
        )),
        other => Err(format!(
            "'{} {other}' is not supported by moonproxy yet: only 'all'.",
            l.arg(0)
        )),
    }
}

#[cfg(test)]
mod tests {
    use crate::config::model::{LuaDirective, LuaLogStderr};
    use crate::config::{parse_str, ParseOptions};
    use std::time::Duration;

    fn global(lines: &str) -> Result<crate::config::model::LuaSettings, String> {
        let text = format!("global\n{lines}\n");
        parse_str("t.cfg", &text, &ParseOptions::default())
            .map(|l| l.config.global.lua)
            .map_err(|d| {
                d.iter()
                    .map(|d| d.to_string())
                    .collect::<Vec<_>>()
                    .join("\n")
            })
    }

    #[test]
    fn directives_keep_their_order_and_arguments() {
        let lua = global(
            "  lua-prepend-path /a/?.lua\n  lua-load /x.lua a b\n  lua-prepend-path /c/?.so cpath\n  lua-load-per-thread /y.lua",
        )
        .unwrap();
        assert_eq!(lua.directives.len(), 4);
        assert!(
            matches!(&lua.directives[0], LuaDirective::PrependPath { path, cpath: false, .. } if path == "/a/?.lua")
        );
        assert!(
            matches!(&lua.directives[1], LuaDirective::Load { args, per_thread: false, location, .. } if args == &["a", "b"] && location.line == 3)
        );
        assert!(matches!(
            &lua.directives[2],
            LuaDirective::PrependPath { cpath: true, .. }
        ));
        assert!(matches!(
            &lua.directives[3],
            LuaDirective::Load {
                per_thread: true,
                ..
            }
        ));
    }

    #[test]
    fn tunables() {
        let lua = global(
            "  tune.lua.forced-yield 500\n  tune.lua.maxmem 8\n  tune.lua.task-timeout 2s\n  tune.lua.session-timeout 0\n  tune.lua.log.stderr auto\n  tune.lua.log.loggers off\n  tune.lua.bool-sample-conversion normal\n  tune.lua.burst-timeout 100\n  tune.lua.stall-warn 250",
        )
        .unwrap();
        assert_eq!(lua.forced_yield, Some(500));
        assert_eq!(lua.maxmem_mb, 8);
        assert_eq!(lua.task_timeout, Some(Duration::from_secs(2)));
        assert_eq!(lua.session_timeout, None);
        assert_eq!(lua.service_timeout, Some(Duration::from_secs(4)));
        assert_eq!(lua.burst_timeout, Some(Duration::from_millis(100)));
        assert_eq!(lua.stall_warn, Duration::from_millis(250));
        assert_eq!(lua.log_stderr, LuaLogStderr::Auto);
        assert!(!lua.log_loggers && lua.bool_sample_normal);
    }

    #[test]
    fn haproxy_messages() {
        for (line, msg) in [
            ("lua-load", "'lua-load' expects a file name as parameter."),
            (
                "lua-load-per-thread",
                "'lua-load-per-thread' expects a file as parameter.",
            ),
            (
                "lua-prepend-path",
                "'lua-prepend-path' expects to receive a <path> as argument",
            ),
            (
                "lua-prepend-path /x foo",
                "'lua-prepend-path' expects <type> to either be 'path' or 'cpath'",
            ),
            (
                "tune.lua.session-timeout abc",
                "tune.lua.session-timeout: invalid timeout",
            ),
            (
                "tune.lua.maxmem",
                "'tune.lua.maxmem' expects an integer argument (Lua memory size in MB).",
            ),
            (
                "tune.lua.maxmem x",
                "tune.lua.maxmem: invalid number x (error at 'x')",
            ),
            (
                "tune.lua.forced-yield x",
                "tune.lua.forced-yield: invalid number",
            ),
        ] {
            let err = global(&format!("  {line}")).unwrap_err();
            assert!(
                err.contains(&format!("parsing [t.cfg:2] : {msg}")),
                "{line}: {err}"
            );
        }
    }
}
