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
            let v = l.arg(2);
            let t = units::parse_time(v).ok().filter(|t| !t.is_zero());
            p.config.global.stats_timeout = t.ok_or_else(|| format!("'stats timeout' expects a positive value (got '{v}')."))?;
            Ok(())
        }
        "maxconn" => {
            let v = l.arg(2);
            let n = v.parse::<u32>().ok().filter(|n| *n > 0);
            p.config.global.stats_maxconn = n.ok_or_else(|| format!("'stats maxconn' expects a positive numeric value (got '{v}')."))?;
            Ok(())
        }
        "bind-process" => Err(super::not_supported("stats bind-process")),
        other => Err(format!(
            "'stats' only supports 'socket', 'maxconn', 'bind-process' and 'timeout' (got '{other}')."
        )),
    }
}

/// `stats socket <addr> [level l] [mode m] [uid n] [gid n] [user name] [group name]
/// [expose-fd listeners] [name n] [maxconn n] [backlog n] ...`.
fn socket(p: &mut Parser, l: &Line) -> Result<(), String> {
    let spec = l.arg(2);
    if spec.is_empty() {
        return Err("'stats socket' requires a path or an address as an argument.".into());
    }
    let addrs = super::proxy::parse_bind_addr(p, spec).map_err(|e| e.replacen("'bind'", "'stats socket'", 1))?;
    let mut sock = StatsSocket { bind: Bind::new(l.loc.clone(), addrs), level: CliLevel::default(), expose_fd_listeners: false };
    let mut i = 3;
    while i < l.args.len() {
        let kw = l.arg(i);
        let value = l.arg(i + 1);
        let needs_value = !matches!(kw, "v4v6" | "v6only" | "reuseport");
        if needs_value && value.is_empty() {
            return Err(format!("'stats socket {spec}' : '{kw}' : missing value"));
        }
        let bad = || format!("'stats socket {spec}' : '{kw}' : invalid value '{value}'");
        let num = |v: &str| v.parse::<u32>().map_err(|_| bad());
        let b = &mut sock.bind;
        match kw {
            "level" => {
                sock.level = match value {
                    "user" => CliLevel::User,
                    "operator" => CliLevel::Operator,
                    "admin" => CliLevel::Admin,
                    _ => return Err("'level' only supports 'user', 'operator', and 'admin'.".into()),
                }
            }
            "expose-fd" => {
                if value != "listeners" {
                    return Err("'expose-fd' only supports 'listeners'.".into());
                }
                sock.expose_fd_listeners = true;
            }
            "mode" => b.mode = Some(u32::from_str_radix(value, 8).map_err(|_| bad())?),
            "uid" => b.uid = Some(num(value)?),
            "gid" => b.gid = Some(num(value)?),
            "user" => b.uid = Some(lookup_id("/etc/passwd", value).ok_or_else(|| format!("'stats socket {spec}' : unknown user '{value}'"))?),
            "group" => b.gid = Some(lookup_id("/etc/group", value).ok_or_else(|| format!("'stats socket {spec}' : unknown group '{value}'"))?),
            "name" => b.name = Some(value.to_string()),
            "maxconn" => b.maxconn = Some(num(value)?),
            "backlog" => b.backlog = Some(num(value)?),
            "v4v6" => b.v4v6 = true,
            "v6only" => b.v6only = true,
            "reuseport" => b.reuseport = true,
            "process" | "thread" => {} // one process, one thread
            "severity-output" | "accept-netscaler-cip" | "accept-proxy" | "ssl" | "crt" => {
                return Err(format!("'stats socket {spec}' : {}", super::not_supported(kw)));
            }
            _ => return Err(format!("'stats socket {spec}' : unknown keyword '{kw}'")),
        }
        i += if needs_value { 2 } else { 1 };
    }
    p.config.global.stats_sockets.push(sock);
    Ok(())
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
