//! The `stats` keyword of the `global` section: the CLI's sockets and limits
//! (`stats socket`, `stats timeout`, `stats maxconn`). The runtime side is
//! `crate::cli_socket`; `doc/cli.md` lists what the sessions can do.

use super::{Line, Parser};
use crate::config::model::{Bind, CliLevel, StatsSocket};
use crate::config::units;

/// `stats socket <addr> [settings]`, `stats timeout <time>`, `stats maxconn <n>`.
pub fn stats(p: &mut Parser, l: &Line) -> Result<(), String> {
    match l.arg(1) {
        "socket" => socket(p, l),
        "timeout" => {
            let t = match units::parse_time(l.arg(2)) {
                Err(units::UnitError::Unexpected(c)) => return Err(format!("'stats timeout' : unexpected character '{c}'")),
                t => t.ok().filter(|t| !t.is_zero()),
            };
            p.config.global.stats_timeout = t.ok_or("'stats timeout' expects a positive value")?;
            Ok(())
        }
        "maxconn" => {
            let n = l.arg(2).parse::<u32>().ok().filter(|n| *n > 0);
            p.config.global.stats_maxconn = n.ok_or("'stats maxconn' expects a positive value")?;
            Ok(())
        }
        // One process: nothing to bind to, as HAProxy 2.6 says nothing either.
        "bind-process" => super::proxy::process_set(&l.args[2..]).map_err(|e| e.replacen("bind-process :", "'stats bind-process' :", 1)),
        other => Err(format!(
            "'stats' only supports 'socket', 'maxconn', 'bind-process' and 'timeout' (got '{other}')"
        )),
    }
}

/// `stats socket <addr> [level l] [mode m] [uid n] [gid n] [user name] [group name]
/// [expose-fd listeners] [name n] [maxconn n] [backlog n] ...`.
fn socket(p: &mut Parser, l: &Line) -> Result<(), String> {
    let spec = l.arg(2);
    if spec.is_empty() {
        return Err("'stats socket' in global section expects an address or a path to a UNIX socket".into());
    }
    let addrs = super::proxy::parse_bind_addr(p, spec).map_err(|e| format!("'stats socket' : {e}"))?;
    let mut sock = StatsSocket { bind: Bind::new(l.loc.clone(), addrs), level: CliLevel::default(), expose_fd_listeners: false, severity_output: Default::default() };
    // HAProxy words a setting's error inside the keyword's: `'stats socket' : '<error>'`.
    let wrap = |msg: String| format!("'stats socket' : '{msg}'");
    let mut i = 3;
    while i < l.args.len() {
        let kw = l.arg(i);
        let value = l.arg(i + 1);
        let needs_value = !matches!(kw, "v4v6" | "v6only" | "reuseport");
        let b = &mut sock.bind;
        match kw {
            "level" => {
                sock.level = match value {
                    "user" => CliLevel::User,
                    "operator" => CliLevel::Operator,
                    "admin" => CliLevel::Admin,
                    "" => return Err(wrap("'level' : missing level".into())),
                    _ => return Err(wrap(format!("'level' only supports 'user', 'operator', and 'admin' (got '{value}')"))),
                }
            }
            "expose-fd" => {
                if value != "listeners" {
                    return Err(wrap(format!("'expose-fd' only supports 'listeners' (got '{value}')")));
                }
                sock.expose_fd_listeners = true;
            }
            "severity-output" => {
                if value.is_empty() {
                    return Err(wrap("'severity-output' : missing severity format".into()));
                }
                sock.severity_output = crate::config::model::SeverityOutput::parse(value)
                    .ok_or_else(|| wrap(format!("'severity-output' only supports 'none', 'number', and 'string' (got '{value}')")))?;
            }
            "mode" => {
                let mode = u32::from_str_radix(value, 8).ok();
                b.mode = Some(mode.ok_or_else(|| wrap(format!("'mode' : missing or invalid mode '{value}' (octal integer expected)")))?);
            }
            "user" | "group" => {
                let db = if kw == "user" { "/etc/passwd" } else { "/etc/group" };
                let id = lookup_id(db, value).ok_or_else(|| wrap(format!("'{kw}' : unknown {kw} name '{value}'")))?;
                if kw == "user" {
                    b.uid = Some(id);
                } else {
                    b.gid = Some(id);
                }
            }
            _ if needs_value && value.is_empty() && KNOWN.contains(&kw) => return Err(wrap(format!("'{kw}' : missing value"))),
            // Numbers are read as C's `atoi` reads them, as HAProxy does.
            "uid" => b.uid = Some(leading_number(value)),
            "gid" => b.gid = Some(leading_number(value)),
            "maxconn" => b.maxconn = Some(leading_number(value)),
            "backlog" => b.backlog = Some(leading_number(value)),
            "name" => b.name = Some(value.to_string()),
            "v4v6" => b.v4v6 = true,
            "v6only" => b.v6only = true,
            "reuseport" => b.reuseport = true,
            "process" | "thread" => {} // one process, one thread
            "accept-netscaler-cip" | "accept-proxy" | "ssl" | "crt" | "tfo" => {
                return Err(format!("'stats socket {spec}' : {}", super::not_supported(kw)));
            }
            _ => {
                let hint = crate::config::keywords::suggest(kw, KNOWN.iter().copied()).map(|s| format!(" Did you mean '{s}' maybe ?")).unwrap_or_default();
                return Err(format!("'stats socket' : unknown keyword '{kw}'.{hint}"));
            }
        }
        i += if needs_value { 2 } else { 1 };
    }
    p.config.global.stats_sockets.push(sock);
    Ok(())
}

/// The settings `stats socket` knows.
const KNOWN: &[&str] = &[
    "level", "expose-fd", "mode", "uid", "gid", "user", "group", "name", "maxconn", "backlog", "v4v6", "v6only", "reuseport", "process",
    "thread", "severity-output", "accept-netscaler-cip", "accept-proxy", "ssl", "crt", "tfo",
];

/// The leading decimal digits of `s` (0 if none), as `atoi` reads a setting.
fn leading_number(s: &str) -> u32 {
    s.bytes().take_while(u8::is_ascii_digit).fold(0u32, |n, d| n.saturating_mul(10).saturating_add(u32::from(d - b'0')))
}

/// The numeric id of `name` in a `name:x:id:...` database file (`/etc/passwd`,
/// `/etc/group`); a number is taken as is.
fn lookup_id(db: &str, name: &str) -> Option<u32> {
    if let Ok(n) = name.parse() {
        return Some(n);
    }
    let text = std::fs::read_to_string(db).ok()?;
    text.lines().find_map(|line| {
        let mut f = line.split(':');
        (f.next()? == name).then_some(())?;
        f.nth(1)?.parse().ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_come_from_the_database_or_the_number() {
        assert_eq!(lookup_id("/etc/passwd", "root"), Some(0));
        assert_eq!(lookup_id("/etc/passwd", "42"), Some(42));
        assert_eq!(lookup_id("/etc/passwd", "no-such-user-here"), None);
    }
}
