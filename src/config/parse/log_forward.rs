//! `log-forward <name>` sections: HAProxy's syslog relay, with HAProxy 2.6's messages.
//! The listeners and the relaying are `crate::log::forward`; doc/config.md (Logs)
//! describes the behaviour.
//!
//! ```text
//! log-forward syslog
//!     dgram-bind 127.0.0.1:1514
//!     bind 127.0.0.1:1514
//!     maxconn 100
//!     backlog 10
//!     timeout client 10s
//!     log global
//!     log ring@myring local0
//!     log 10.0.0.1:514 format rfc5424 sample 1:2 local0 info
//! ```

use super::addr::{self, Parsed};
use super::{Diagnostic, Line, Parser};
use crate::config::model::{Bind, BindAddr, Config, Location, LogForward};
use crate::config::units;
use crate::diag::Severity;
use std::net::SocketAddr;

/// HAProxy's `maxconn` of a log forwarder when none is given.
pub const DEFAULT_MAXCONN: u32 = 10;

/// Opens a `log-forward <name>` section; `None` (its lines checked, then dropped) when
/// the name is missing or taken.
pub fn start(p: &mut Parser, line: &Line) -> Option<usize> {
    let name = line.arg(1);
    if name.is_empty() {
        // HAProxy's own wording.
        p.alert(&line.loc, "missing name for ip-forward section.");
        return None;
    }
    let clash = if let Some(other) = p.config.log_forwards.iter().find(|f| f.name == name) {
        Some(format!("log-forward section '{name}' has the same name as another log-forward section declared at {}.", other.location))
    } else {
        p.config.proxies.iter().find(|px| px.name == name).map(|px| {
            let kind = super::proxy_type_name(px.cap);
            format!("log forward section '{name}' has the same name as {kind} '{name}' declared at {}.", px.location.as_ref().map(|l| l.to_string()).unwrap_or_default())
        })
    };
    if let Some(clash) = clash {
        p.push(Diagnostic::plain(Severity::Alert, Some(&line.loc), format!("Parsing [{}]: {clash}", line.loc)));
        return None;
    }
    p.config.log_forwards.push(empty(name, &line.loc));
    Some(p.config.log_forwards.len() - 1)
}

fn empty(name: &str, loc: &Location) -> LogForward {
    LogForward {
        name: name.to_string(),
        location: loc.clone(),
        binds: Vec::new(),
        dgram_binds: Vec::new(),
        logs: Vec::new(),
        maxconn: DEFAULT_MAXCONN,
        backlog: None,
        timeout_client: None,
    }
}

/// One line inside a `log-forward` section (`section`: its index, `None` for a bad one).
pub fn keyword(p: &mut Parser, section: Option<usize>, line: &Line) {
    let result = match line.arg(0) {
        // `bind` goes through the proxies' parser (addresses, TLS, every option).
        "bind" => super::proxy::parse_bind(p, line, "log-forward").and_then(|mut b| {
            // TLS: the ALPN names as in a TCP-mode proxy (all of those configured).
            crate::tls::parse::end_of_proxy(std::slice::from_mut(&mut b), false);
            if b.accept_proxy {
                return Err(format!("'bind {}' in section 'log-forward' : 'accept-proxy' is not supported by moonproxy in a log-forward section yet.", line.arg(1)));
            }
            Ok(Some(Item::Bind(b)))
        }),
        "dgram-bind" => dgram_bind(line).map(|b| Some(Item::Dgram(b))),
        "log" => log(p, line).map(|t| Some(Item::Logs(t))),
        _ => {
            let mut scratch = empty("", &line.loc);
            let f = match section {
                Some(i) => &mut p.config.log_forwards[i],
                None => &mut scratch,
            };
            apply(f, line).map(|()| None)
        }
    };
    match result {
        Ok(Some(item)) => {
            let Some(f) = section.map(|i| &mut p.config.log_forwards[i]) else { return };
            match item {
                Item::Bind(b) => f.binds.push(b),
                Item::Dgram(b) => f.dgram_binds.push(b),
                Item::Logs(t) => f.logs.extend(t),
            }
        }
        Ok(None) => {}
        Err(msg) => p.alert(&line.loc, msg),
    }
}

/// What a line adds to the section.
enum Item {
    Bind(Bind),
    Dgram(Bind),
    Logs(Vec<crate::config::model::LogTarget>),
}

/// `maxconn`, `backlog`, `timeout client`.
fn apply(f: &mut LogForward, line: &Line) -> Result<(), String> {
    let kw = line.arg(0);
    match kw {
        "maxconn" | "backlog" => {
            let v = line.arg(1);
            if v.is_empty() {
                return Err(format!("'{kw}' expects an integer argument."));
            }
            // Read as C's atoi, as HAProxy reads it.
            let n = u32::try_from(super::atoi(v).max(0)).unwrap_or(u32::MAX);
            if kw == "maxconn" {
                f.maxconn = n;
            } else {
                f.backlog = Some(n);
            }
        }
        "timeout" if line.arg(1) == "client" => {
            let v = line.arg(2);
            if v.is_empty() {
                return Err("missing timeout client value.".into());
            }
            let d = units::parse_time(v).map_err(|e| match e {
                units::UnitError::Unexpected(c) => format!("unexpected character '{c}' in 'timeout client'"),
                e => units::time_error_message(&e, v, "'timeout client'"),
            })?;
            f.timeout_client = (!d.is_zero()).then_some(d);
        }
        "timeout" => return Err(format!("unknown keyword 'timeout {}' in log-forward section.", line.arg(1))),
        _ => return Err(format!("unknown keyword '{kw}' in log-forward section.")),
    }
    Ok(())
}

/// `log global` (the `global` section's targets, as they are at this line) or a target.
fn log(p: &Parser, line: &Line) -> Result<Vec<crate::config::model::LogTarget>, String> {
    if line.args.len() < 2 {
        return Err("log : expects <address> and <facility> or global as arguments".into());
    }
    if line.arg(1) == "global" {
        super::expect_args(line, 1, "no argument after 'global'")?;
        return Ok(p.config.global.logs.clone());
    }
    Ok(vec![super::log::parse_log_target(&line.args[1..], &line.loc)?])
}

/// `dgram-bind <addr>[,<addr>...] [param*]`: UDP addresses. The bind options that mean
/// something for a datagram socket are taken (`interface`, `transparent`, `name`, `id`);
/// the others HAProxy ignores silently, and so does moonproxy, after a warning-free
/// parse (they are listed in doc/config.md).
fn dgram_bind(line: &Line) -> Result<Bind, String> {
    let spec = line.arg(1);
    if spec.is_empty() {
        return Err("'dgram-bind' expects {<path>|[addr1]:port1[-end1]}{,[addr]:port[-end]}... as arguments.".into());
    }
    let mut addrs = Vec::new();
    for one in spec.split(',') {
        addrs.extend(dgram_addr(spec, one)?);
    }
    let mut b = Bind::new(line.loc.clone(), addrs);
    let mut i = 2;
    while i < line.args.len() {
        let kw = line.arg(i);
        let Some(sub) = crate::config::keywords::lookup_sub(crate::config::keywords::BIND_OPTIONS, kw) else {
            let hint = crate::config::keywords::suggest(kw, crate::config::keywords::BIND_OPTIONS.iter().map(|k| k.name))
                .map(|s| format!("; did you mean '{s}' maybe ?"))
                .unwrap_or_default();
            return Err(format!("unknown keyword '{kw}' in 'log-forward' section{hint}"));
        };
        let value = line.arg(i + 1);
        match kw {
            "interface" | "transparent" | "id" => {
                let used = super::bind_opts::apply(&mut b.tuning, kw, value)
                    .map_err(|e| format!("'dgram-bind {spec}' : {e}"))?
                    .unwrap_or(1);
                i += used;
                continue;
            }
            "name" => {
                b.name = Some(value.to_string());
                i += 2;
                continue;
            }
            // A unix socket's permissions.
            "mode" => {
                b.mode = Some(u32::from_str_radix(value, 8).map_err(|_| format!("'dgram-bind {spec}' : 'mode' : invalid value '{value}'"))?);
                i += 2;
                continue;
            }
            _ => {}
        }
        // Irrelevant for UDP: skipped with its value, as HAProxy skips it.
        let _ = sub;
        i += if VALUED_BIND_OPTIONS.contains(&kw) { 2 } else { 1 };
    }
    Ok(b)
}

/// The `bind` options followed by a value (skipped together on a `dgram-bind` line).
const VALUED_BIND_OPTIONS: &[&str] = &[
    "accept-netscaler-cip", "alpn", "backlog", "ca-file", "ca-ignore-err", "ca-sign-file", "ca-sign-pass", "ciphers",
    "ciphersuites", "client-sigalgs", "crl-file", "crt", "crt-ignore-err", "crt-list", "curves", "ecdhe", "gid", "group",
    "id", "interface", "label", "level", "maxconn", "mode", "mss", "name", "namespace", "nice", "npn", "process", "proto",
    "severity-output", "sigalgs", "ssl-max-ver", "ssl-min-ver", "tcp-ut", "thread", "uid", "user", "verify",
];

/// One datagram address: UDP (`ip:port`, `udp@`, `udp4@`, `udp6@`, `ipv4@`, `ipv6@`;
/// port ranges) or a unix datagram socket's path.
fn dgram_addr(spec: &str, one: &str) -> Result<Vec<BindAddr>, String> {
    let ctx = format!("'dgram-bind {spec}'");
    match addr::classify(one) {
        Parsed::Inet { .. } => {
            let (ip, ports) = addr::inet(one, addr::Ports::Range, addr::Socket::Datagram).map_err(|e| format!("{ctx} : {e}"))?;
            Ok(ports.map(|port| BindAddr::Inet(SocketAddr::new(ip, port))).collect())
        }
        Parsed::Unix(path) if !path.is_empty() => Ok(vec![BindAddr::Unix(path.into())]),
        _ => Err(format!("{ctx} : only UDP addresses (ip:port) and unix socket paths are supported by moonproxy yet, not '{one}'.")),
    }
}

/// Post-parse: HAProxy's warning for a forwarder without listeners.
pub fn check(config: &Config, diags: &mut Vec<Diagnostic>) {
    for f in &config.log_forwards {
        if f.binds.is_empty() && f.dgram_binds.is_empty() {
            diags.push(Diagnostic::plain(
                Severity::Warning,
                None,
                format!("frontend '{}' has no 'bind' directive. Please declare it as a backend if this was intended.", f.name),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::config::model::{BindAddr, LogDest};
    use std::time::Duration;

    use crate::config::parse::parse_for_test as parse;

    #[test]
    fn a_section_with_every_keyword() {
        let c = parse(
            "global\n  log 127.0.0.1:514 local1\nring r\n  server s 127.0.0.1:6514\nlog-forward lf\n  dgram-bind 127.0.0.1:1514 interface lo\n  bind 127.0.0.1:1515 name tcp\n  maxconn 100\n  backlog 10\n  timeout client 10s\n  log global\n  log ring@r local0\n  log tcp@127.0.0.1:6515 local0\n  log 10.0.0.1:514 format rfc5424 sample 1:2 local0 info\n",
        )
        .unwrap();
        let f = &c.log_forwards[0];
        assert_eq!(f.name, "lf");
        assert_eq!(f.dgram_binds[0].addrs, vec![BindAddr::Inet("127.0.0.1:1514".parse().unwrap())]);
        assert_eq!(f.dgram_binds[0].tuning.interface.as_deref(), Some("lo"));
        assert_eq!(f.binds[0].name.as_deref(), Some("tcp"));
        assert_eq!((f.maxconn, f.backlog, f.timeout_client), (100, Some(10), Some(Duration::from_secs(10))));
        assert_eq!(f.logs.len(), 4);
        assert_eq!(f.logs[0].dest, LogDest::Udp("127.0.0.1:514".parse().unwrap()), "log global");
        assert_eq!(f.logs[1].dest, LogDest::Ring("r".into()));
        // `tcp@` goes through a ring of its own, as in proxies.
        assert!(matches!(&f.logs[2].dest, LogDest::Ring(n) if n.starts_with("ring#")));
        assert_eq!(f.logs[3].sample.as_deref(), Some("1:2"));
        let d = parse("log-forward lf\n  dgram-bind 127.0.0.1:1514\n").unwrap().log_forwards.remove(0);
        let u = parse("log-forward lf\n  dgram-bind /run/log.sock\n").unwrap().log_forwards.remove(0);
        assert_eq!(u.dgram_binds[0].addrs, vec![BindAddr::Unix("/run/log.sock".into())]);
        assert_eq!((d.maxconn, d.backlog, d.timeout_client), (10, None, None), "HAProxy's defaults");
    }

    #[test]
    fn haproxys_refusals() {
        let err = |body: &str| parse(&format!("log-forward lf\n  {body}\n")).unwrap_err();
        assert!(err("bogus 1").contains("unknown keyword 'bogus' in log-forward section."));
        assert!(err("maxconn").contains("'maxconn' expects an integer argument."));
        assert!(err("backlog").contains("'backlog' expects an integer argument."));
        assert!(err("timeout client").contains("missing timeout client value."));
        assert!(err("timeout server 1s").contains("unknown keyword 'timeout server' in log-forward section."));
        assert!(err("dgram-bind 127.0.0.1").contains("'dgram-bind 127.0.0.1' : missing port specification in '127.0.0.1'"));
        assert!(err("dgram-bind 127.0.0.1:1514 foo").contains("unknown keyword 'foo' in 'log-forward' section"));
        assert!(err("bind 127.0.0.1:1515 foo").contains("'bind 127.0.0.1:1515' in section 'log-forward': unknown keyword 'foo'"));
        assert!(err("log").contains("log : expects <address> and <facility> or global as arguments"));
        // HAProxy reads `global` as an address there and complains about `x`.
        assert!(err("log global x").contains("'log' cannot handle unexpected argument 'x'."));
        assert!(parse("log-forward\n").unwrap_err().contains("missing name for ip-forward section."));
        assert!(parse("log-forward a\nlog-forward a\n")
            .unwrap_err()
            .contains("Parsing [t.cfg:2]: log-forward section 'a' has the same name as another log-forward section declared at t.cfg:1."));
        assert!(parse("frontend a\n  bind :8000\nlog-forward a\n")
            .unwrap_err()
            .contains("Parsing [t.cfg:3]: log forward section 'a' has the same name as frontend 'a' declared at t.cfg:1."));
        // The other order (was accepted): HAProxy 2.6's words for each kind of proxy.
        for (kind, described) in [("frontend", "frontend"), ("backend", "backend"), ("listen", "proxy")] {
            let cfg = format!("log-forward a\n  log stderr local0\n{kind} a\n");
            assert!(
                parse(&cfg).unwrap_err().contains(&format!(
                    "Parsing [t.cfg:3]: {described} 'a' has the same name as log forward section 'a' declared at t.cfg:1."
                )),
                "{kind}"
            );
        }
    }

    #[test]
    fn a_forwarder_without_listeners_is_warned_about() {
        let loaded = crate::config::parse_str("t.cfg", "log-forward a\n  log stderr local0\n", &Default::default()).unwrap();
        assert!(loaded
            .diagnostics
            .iter()
            .any(|d| d.to_string().contains("frontend 'a' has no 'bind' directive. Please declare it as a backend if this was intended.")));
    }
}
