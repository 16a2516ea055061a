//! Keywords about a backend's servers: `server-template`, `dispatch`,
//! `hash-balance-factor`, `max-keep-alive-queue`.
//!
//! `server-template <prefix> <num | range> <fqdn>[:<port>] [params*]`: servers named
//! `<prefix><n>` for each n of the range, all with the same address and settings.
//!
//! Without a `resolvers` section (which moonproxy does not have), HAProxy resolves the
//! name once at start with the system resolver (`init-addr libc`), so every server of
//! the template gets the first address: moonproxy does the same, through the `server`
//! parser. An unresolvable name is HAProxy's alert, once per server.

use super::{Line, Parser};
use crate::config::diagnostic::Diagnostic;
use crate::config::model::{Config, Location, Server, ServerAddr};
use crate::diag::Severity;

pub fn server_template(p: &mut Parser, l: &Line) -> Result<(), String> {
    let alert = |p: &mut Parser, msg: String| {
        p.push(Diagnostic::plain(Severity::Alert, Some(&l.loc), format!("[{}] : {msg}", l.loc)));
    };
    if l.args.len() < 4 {
        alert(p, "'server-template' expects <prefix> <nb | range> <addr>[:<port>] as arguments.".into());
        return Ok(());
    }
    let Some(range) = parse_range(l.arg(2)) else {
        alert(p, format!("Wrong server-template number or range arg '{}'.", l.arg(2)));
        return Ok(());
    };
    for n in range {
        let mut args = l.args.clone();
        args[0] = "server".into();
        args[1] = format!("{}{n}", l.arg(1));
        args.remove(2);
        super::server::server(p, &Line { args, loc: l.loc.clone() })?;
    }
    Ok(())
}

/// The name of the server that stands for a `dispatch` address: what HAProxy logs as
/// `%s` for such a connection.
pub const DISPATCH_SERVER: &str = "<NOSRV>";

/// `dispatch <addr>:<port>` (backends): the address every connection of a backend
/// without servers goes to.
pub fn dispatch(p: &mut Parser, l: &Line) -> Result<(), String> {
    let a = l.arg(1);
    if a.is_empty() {
        return Err("'dispatch' : '' resolves to an empty address (environment variable missing?)\n".into());
    }
    // An IP address or host name with a port, read as `bind` and `peers` addresses are
    // (HAProxy's messages); the other forms (`unix@`, paths) as a server's.
    let addr = match super::addr::classify(a) {
        super::addr::Parsed::Inet { host, .. } => {
            let (ip, port) = super::addr::inet(a, super::addr::Ports::One, super::addr::Socket::Stream).map_err(|e| format!("'dispatch' : {e}"))?;
            let addr = std::net::SocketAddr::new(ip, *port.start());
            match host.parse::<std::net::IpAddr>() {
                Err(_) if !host.is_empty() && host != "*" => ServerAddr::Resolved { host: host.to_string(), addr },
                _ => ServerAddr::Inet { ip, port: Some(addr.port()) },
            }
        }
        _ => super::server::parse_server_addr(a).map_err(|e| format!("'dispatch' : {e}"))?,
    };
    p.draft().proxy.dispatch = Some(addr);
    Ok(())
}

/// After parsing, before the checks: a backend with a `dispatch` address and no
/// `server` line gets one server at that address, named [`DISPATCH_SERVER`], which
/// takes every connection (no check, no weight to share). HAProxy has no server
/// there; the deviation shows in `show stat` and Lua's `Proxy.servers`, which list it.
///
/// `option transparent` gets such a server too, at the address `0.0.0.0` without a
/// port: it connects to the client's destination address and port
/// (`Stream::client_ip_target`, as `set-dst` leaves them), where HAProxy 2.6 sends
/// every connection of a transparent backend that persistence (a cookie, `use-server`,
/// `stick`) does not send to one of its servers (`ProxyRt::transparent`). HAProxy
/// refuses `balance` with it.
pub fn finish_dispatch(config: &mut Config, diags: &mut Vec<crate::config::Diagnostic>) {
    for p in config.proxies.iter_mut().filter(|p| p.cap.backend && !p.disabled) {
        if p.options.transparent && p.dispatch.is_none() {
            if p.balance_set {
                let text = format!("backend '{}' cannot use both transparent and balance mode.", p.name);
                diags.push(crate::config::Diagnostic::plain(crate::diag::Severity::Alert, None, text));
                continue;
            }
            let location = p.location.clone().unwrap_or_else(|| Location { file: "".into(), line: 0 });
            let addr = ServerAddr::Inet { ip: std::net::Ipv4Addr::UNSPECIFIED.into(), port: None };
            p.servers.push(Server::new(DISPATCH_SERVER, location, addr));
            continue;
        }
        if !p.servers.is_empty() {
            continue;
        }
        let Some(addr) = p.dispatch.clone() else { continue };
        let location = p.location.clone().unwrap_or_else(|| Location { file: "".into(), line: 0 });
        p.servers.push(Server::new(DISPATCH_SERVER, location, addr));
    }
}

/// `hash-balance-factor <percent>`: 0 (off) or more than 100; read with `atol` as
/// HAProxy does.
pub fn hash_balance_factor(p: &mut Parser, l: &Line) -> Result<(), String> {
    if l.arg(1).is_empty() {
        return Err("'hash-balance-factor' expects an integer argument.".into());
    }
    let digits: String = l.arg(1).chars().take_while(char::is_ascii_digit).collect();
    let v: u32 = digits.parse().unwrap_or(if digits.is_empty() { 0 } else { u32::MAX });
    if v != 0 && v <= 100 {
        return Err("'hash-balance-factor' must be 0 or greater than 100.".into());
    }
    p.draft().proxy.hash_balance_factor = Some(v);
    Ok(())
}

/// `max-keep-alive-queue <n>` (-1: no limit): checked and recorded. HAProxy uses it to
/// stop sending a kept-alive client's next request to its previous server when that
/// server's queue is longer; moonproxy load-balances every request afresh (there is
/// no `prefer-last-server` yet), so no request is ever held for its previous server
/// and the limit has nothing to act on.
pub fn max_keep_alive_queue(p: &mut Parser, l: &Line) -> Result<(), String> {
    let v = l.arg(1);
    if v.is_empty() {
        return Err("'max-keep-alive-queue' expects expects an integer value (or -1 to disable)".into());
    }
    let digits = v.strip_prefix('-').unwrap_or(v);
    if let Some(c) = digits.chars().find(|c| !c.is_ascii_digit()) {
        return Err(format!("'max-keep-alive-queue' : unexpected character '{c}' in integer value '{v}'"));
    }
    p.draft().proxy.max_keep_alive_queue = v.parse::<i64>().ok().and_then(|n| u32::try_from(n).ok());
    Ok(())
}

/// `<n>` (1 to n) or `<a>-<b>` (a to b), with 0 < a ≤ b.
fn parse_range(s: &str) -> Option<std::ops::RangeInclusive<u32>> {
    let num = |t: &str| t.parse::<u32>().ok().filter(|&n| n > 0 && t.bytes().all(|b| b.is_ascii_digit()));
    let (a, b) = match s.split_once('-') {
        Some((a, b)) => (num(a)?, num(b)?),
        None => (1, num(s)?),
    };
    (a <= b).then_some(a..=b)
}

#[cfg(test)]
mod tests {
    use super::parse_range;

    #[test]
    fn ranges_as_haproxy_reads_them() {
        assert_eq!(parse_range("3"), Some(1..=3));
        assert_eq!(parse_range("5-6"), Some(5..=6));
        for bad in ["0", "3-1", "x", "", "-2", "1-", "+3"] {
            assert_eq!(parse_range(bad), None, "{bad}");
        }
    }
}
