//! Smaller `global` keywords: `zero-warning`, `grace`, `close-spread-time`,
//! `tune.http.logurilen`, `tune.http.cookielen`, `tune.maxrewrite`,
//! `tune.vars.*-max-size`, `unix-bind`; and [`finish`], their post-parse step.

use super::{expect_args, Line, Parser};
use crate::config::diagnostic::Diagnostic;
use crate::config::model::{BindAddr, Config};
use crate::config::units;
use crate::diag::Severity;
use std::path::PathBuf;
use std::time::Duration;

/// `zero-warning`: the configuration's warnings are fatal ([`finish`]).
pub fn zero_warning(p: &mut Parser, l: &Line) -> Result<(), String> {
    expect_args(l, 0, "no argument")?;
    p.config.global.tuning.zero_warning = true;
    Ok(())
}

/// A time argument with HAProxy's `'<kw>' expects <time> as argument.` (`None`:
/// `infinite`).
fn time(l: &Line) -> Result<Option<Duration>, String> {
    let kw = l.arg(0);
    let v = l.arg(1);
    if v.is_empty() {
        return Err(format!("'{kw}' expects <time> as argument.\n"));
    }
    if v == "infinite" {
        return Ok(None);
    }
    units::parse_time(v).map(Some).map_err(|e| match e {
        units::UnitError::Unexpected(c) => format!("unexpected character '{c}' in argument to <{kw}>.\n"),
        e => units::time_error_message(&e, v, &format!("<{kw}>")),
    })
}

/// `grace <time>`: on a soft stop, the listeners stay open this long first.
pub fn grace(p: &mut Parser, l: &Line) -> Result<(), String> {
    p.config.global.tuning.grace = time(l)?.filter(|d| !d.is_zero());
    Ok(())
}

/// `close-spread-time <time|infinite>`; `infinite` ([`Duration::MAX`]): no connection
/// is closed early, each ends at its client's pace (or at `hard-stop-after`).
pub fn close_spread_time(p: &mut Parser, l: &Line) -> Result<(), String> {
    p.config.global.tuning.close_spread_time = match time(l)? {
        None => Some(Duration::MAX),
        Some(d) => Some(d).filter(|d| !d.is_zero()),
    };
    Ok(())
}

/// `tune.http.logurilen`, `tune.http.cookielen`, `tune.maxrewrite <n>`.
pub fn tune_int(p: &mut Parser, l: &Line) -> Result<(), String> {
    let kw = l.arg(0);
    if l.arg(1).is_empty() {
        return Err(format!("'{kw}' expects an integer argument."));
    }
    let v = atol(l.arg(1));
    let t = &mut p.config.global.tuning;
    match kw {
        "tune.http.logurilen" => t.http_logurilen = Some(v),
        "tune.http.cookielen" => t.http_cookielen = Some(v),
        _ => t.maxrewrite = Some(v),
    }
    Ok(())
}

/// `tune.vars.{global,proc,reqres,sess,txn}-max-size <size>`: recorded (see the note in
/// doc/config.md).
pub fn tune_vars(p: &mut Parser, l: &Line) -> Result<(), String> {
    let v = l.arg(1);
    // HAProxy reads it with `atol` and accepts a missing value as 0.
    let n = atol(v) as u64;
    let scope = l.arg(0).trim_start_matches("tune.vars.").trim_end_matches("-max-size").to_string();
    let t = &mut p.config.global.tuning.vars_max_size;
    t.retain(|(s, _)| *s != scope);
    t.push((scope, n));
    Ok(())
}

/// `unix-bind [prefix <p>] [mode <m>] [user <u>] [uid <n>] [group <g>] [gid <n>]`.
pub fn unix_bind(p: &mut Parser, l: &Line) -> Result<(), String> {
    let mut i = 1;
    while i < l.args.len() {
        let (kw, value) = (l.arg(i), l.arg(i + 1));
        let u = &mut p.config.global.tuning.unix_bind;
        match kw {
            "prefix" => u.prefix = Some(value.to_string()),
            "mode" => u.mode = Some(u32::from_str_radix(value, 8).unwrap_or(0)),
            "uid" => u.uid = Some(atol(value) as u32),
            "gid" => u.gid = Some(atol(value) as u32),
            "user" => {
                let id = crate::sys::privs::user_id(value).map_err(|_| format!("'unix-bind' : '{value}' unknown user."))?;
                u.uid = Some(id);
            }
            "group" => {
                let id = crate::sys::privs::group_id(value).map_err(|_| format!("'unix-bind' : '{value}' unknown group."))?;
                u.gid = Some(id);
            }
            _ => return Err("'unix-bind' only supports the 'prefix', 'mode', 'uid', 'gid', 'user' and 'group' options.".into()),
        }
        i += 2;
    }
    Ok(())
}

/// `set-var proc.<name> <expr>` and `set-var-fmt proc.<name> <fmt>` in `global`: the
/// expression or format is checked now and evaluated at start
/// (`crate::runtime::proc_vars`).
pub fn set_var(p: &mut Parser, l: &Line) -> Result<(), String> {
    let kw = l.arg(0);
    let (name, value) = (l.arg(1), l.arg(2));
    let what = if kw == "set-var" { "a sample expression" } else { "a format string" };
    if name.is_empty() || value.is_empty() {
        return Err(format!("'{kw}' requires a process-wide variable name ('proc.<name>') and {what}."));
    }
    if let Some(extra) = l.args.get(3) {
        return Err(format!("'{kw}' cannot handle unexpected argument '{extra}'."));
    }
    match crate::sample::vars::VarName::parse(name) {
        Some(v) if v.scope == crate::sample::vars::Scope::Proc => {}
        _ => return Err(format!("'{kw}': cannot set variable '{name}', only scope 'proc' is permitted in the global section.")),
    }
    let fmt = kw == "set-var-fmt";
    if fmt {
        crate::http::rules::Fmt::parse(value).map_err(|e| format!("'{kw}': {e}"))?;
    } else {
        crate::sample::Expr::parse(value).map_err(|e| format!("'{kw}': {e}"))?;
    }
    let init = crate::config::model::ProcVarInit { name: name.to_string(), value: value.to_string(), fmt, location: l.loc.clone() };
    p.config.global.tuning.proc_vars.push(init);
    Ok(())
}

/// `h1-case-adjust <from> <to>`: `<to>` is how the name is written (the same name
/// in another case).
pub fn h1_case_adjust(p: &mut Parser, l: &Line) -> Result<(), String> {
    let (from, to) = (l.arg(1), l.arg(2));
    if from.is_empty() || to.is_empty() {
        return Err("'h1-case-adjust' expects <from> and <to> as argument.".into());
    }
    if !from.eq_ignore_ascii_case(to) {
        // (sic: HAProxy's spelling)
        return Err("<from> and <to> must not differ execpt the case".into());
    }
    p.config.global.tuning.h1_case_adjust.push((from.to_ascii_lowercase(), to.to_string()));
    Ok(())
}

/// `h1-case-adjust-file <path>`: read after parsing ([`finish`]).
pub fn h1_case_adjust_file(p: &mut Parser, l: &Line) -> Result<(), String> {
    if l.arg(1).is_empty() {
        return Err("'h1-case-adjust-file' expects <file> as argument.".into());
    }
    p.config.global.tuning.h1_case_adjust_file = Some(PathBuf::from(l.arg(1)));
    Ok(())
}

/// The `<from> <to>` lines of an `h1-case-adjust-file` (blank lines and `#` comments
/// skipped), or HAProxy's message.
fn read_case_file(path: &std::path::Path) -> Result<Vec<(String, String)>, String> {
    let shown = path.display();
    let text = std::fs::read_to_string(path).map_err(|_| format!("h1-headers-case-adjust-file '{shown}': failed to open file."))?;
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut words = line.split_whitespace();
        let from = words.next().unwrap_or_default();
        let Some(to) = words.next() else {
            return Err(format!("h1-headers-case-adjust-file '{shown}' : expect <to> at line {}.", n + 1));
        };
        if !from.eq_ignore_ascii_case(to) {
            return Err(format!("h1-headers-case-adjust-file '{shown}' : <from> and <to> must not differ execpt the case at line {}.", n + 1));
        }
        out.push((from.to_ascii_lowercase(), to.to_string()));
    }
    Ok(out)
}

/// After parsing: `unix-bind` on every UNIX socket bind (the prefix on its path, its
/// mode and owner when the bind line sets none), the `tune.http.cookielen` bound on
/// `capture cookie`, the `h1-case-adjust-file`, then `zero-warning`.
pub fn finish(config: &mut Config, diags: &mut Vec<Diagnostic>) {
    let u = config.global.tuning.unix_bind.clone();
    let binds = config.proxies.iter_mut().flat_map(|p| p.binds.iter_mut()).chain(config.global.stats_sockets.iter_mut().map(|s| &mut s.bind));
    for b in binds {
        let mut unix = false;
        for a in &mut b.addrs {
            if let BindAddr::Unix(path) = a {
                unix = true;
                if let Some(prefix) = &u.prefix {
                    *path = PathBuf::from(format!("{prefix}{}", path.display()));
                }
            }
        }
        if unix {
            b.mode = b.mode.or(u.mode);
            b.uid = b.uid.or(u.uid);
            b.gid = b.gid.or(u.gid);
        }
    }
    // HAProxy keeps one byte of a cookie capture for its terminator.
    let max = config.global.tuning.http_cookielen.unwrap_or(63);
    for p in config.proxies.iter_mut().filter(|p| p.cap.frontend) {
        if let Some(c) = p.capture_cookie.as_mut().filter(|c| c.len > max) {
            c.len = max;
            let msg = format!("truncating capture length to {max} bytes for frontend '{}'.", p.name);
            diags.push(Diagnostic::plain(Severity::Warning, None, msg));
        }
    }
    if let Some(path) = config.global.tuning.h1_case_adjust_file.clone() {
        match read_case_file(&path) {
            Ok(map) => config.global.tuning.h1_case_adjust.extend(map),
            Err(msg) => diags.push(Diagnostic::plain(Severity::Alert, None, msg)),
        }
    }
    if config.global.tuning.zero_warning && diags.iter().any(|d| d.severity == Severity::Warning) {
        diags.push(Diagnostic::plain(Severity::Alert, None, "Some warnings were found and 'zero-warning' is set. Aborting."));
    }
}

/// HAProxy's `atol`: the leading digits (0 when none).
fn atol(s: &str) -> usize {
    let digits: String = s.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().unwrap_or(if digits.is_empty() { 0 } else { usize::MAX })
}
