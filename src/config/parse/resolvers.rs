//! `resolvers <name>` sections and the server options that use them (`resolvers`,
//! `resolve-prefer`, `resolve-opts`, `resolve-net`). The resolution itself runs in
//! `crate::dns`; `doc/resolvers.md` describes both.
//!
//! ```text
//! resolvers docker
//!     nameserver dns1 127.0.0.11:53
//!     hold valid 10s
//! backend web
//!     server-template web 5 web:80 check resolvers docker init-addr none
//! ```

use super::{Line, Parser};
use crate::config::diagnostic::Diagnostic;
use crate::config::model::{Config, Location, ResolvePrefer, Resolvers, ServerResolution};
use crate::config::units;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

/// Opens a `resolvers <name>` section; `None` (its lines checked, then dropped) when the
/// name is missing or taken.
pub fn start(p: &mut Parser, line: &Line) -> Option<usize> {
    let name = line.arg(1);
    if name.is_empty() {
        p.alert(&line.loc, "missing name for resolvers section.");
        return None;
    }
    if let Some(other) = p.config.resolvers.iter().find(|r| r.name == name) {
        let text = format!(
            "Parsing [{}]: resolvers '{name}' has same name as another resolvers (declared at {}).",
            line.loc, other.location
        );
        p.push(Diagnostic::plain(crate::diag::Severity::Alert, Some(&line.loc), text));
        return None;
    }
    p.config.resolvers.push(with_defaults(name, &line.loc));
    Some(p.config.resolvers.len() - 1)
}

/// One line inside a `resolvers` section (`section`: its index, `None` for a bad one).
pub fn keyword(p: &mut Parser, section: Option<usize>, line: &Line) {
    // The lines of a section that was refused are still checked, on a scratch copy.
    let mut scratch = None;
    let r = match section {
        Some(i) => &mut p.config.resolvers[i],
        None => scratch.insert(with_defaults("", &line.loc)),
    };
    if let Err(msg) = apply(r, line) {
        p.alert(&line.loc, msg);
    }
}

/// A section with HAProxy's defaults and no name server yet.
pub(crate) fn with_defaults(name: &str, loc: &Location) -> Resolvers {
    Resolvers {
        name: name.to_string(),
        location: loc.clone(),
        nameservers: Vec::new(),
        resolve_retries: 3,
        timeout_resolve: Duration::from_secs(1),
        timeout_retry: Duration::from_secs(1),
        hold: Default::default(),
        accepted_payload_size: 512,
    }
}

fn apply(r: &mut Resolvers, line: &Line) -> Result<(), String> {
    match line.arg(0) {
        "nameserver" => {
            let (id, addr) = (line.arg(1), line.arg(2));
            if id.is_empty() || addr.is_empty() {
                return Err("'nameserver' expects <name> and <addr>[:<port>] as arguments.".into());
            }
            if let Some(ns) = r.nameservers.iter().find(|(n, _)| n == id) {
                return Err(format!("'nameserver' : another nameserver with the same name ('{}') already exists.", ns.0));
            }
            let addr = nameserver_addr(addr).ok_or_else(|| format!("'nameserver' : invalid address: '{addr}'"))?;
            r.nameservers.push((id.to_string(), addr));
        }
        "parse-resolv-conf" => {
            let text = std::fs::read_to_string("/etc/resolv.conf")
                .map_err(|e| format!("failed to open /etc/resolv.conf: {e}"))?;
            for (n, ip) in resolv_conf_nameservers(&text).into_iter().enumerate() {
                r.nameservers.push((format!("resolv.conf.{}", n + 1), SocketAddr::new(ip, 53)));
            }
        }
        "resolve_retries" => {
            let v = line.arg(1);
            if v.is_empty() {
                return Err("'resolve_retries' expects <nb> as argument.".into());
            }
            // HAProxy reads the number with atoi(): junk counts as 0.
            r.resolve_retries = v.parse().unwrap_or(0);
        }
        "timeout" => {
            let (what, v) = (line.arg(1), line.arg(2));
            let slot = match what {
                "retry" => &mut r.timeout_retry,
                "resolve" => &mut r.timeout_resolve,
                _ => {
                    return Err(format!(
                        "'timeout' expects 'retry' or 'resolve' and <time> as arguments got '{what}'."
                    ))
                }
            };
            if v.is_empty() {
                return Err("'timeout' expects 'retry' or 'resolve' and <time> as arguments.".into());
            }
            *slot = time(v, &format!("'timeout {what}'"))?;
        }
        "hold" => {
            let (event, v) = (line.arg(1), line.arg(2));
            if event.is_empty() || v.is_empty() {
                return Err("'hold' expects an <event> and a <time> as arguments.".into());
            }
            let h = &mut r.hold;
            let slot = match event {
                "valid" => &mut h.valid,
                "nx" => &mut h.nx,
                "timeout" => &mut h.timeout,
                "refused" => &mut h.refused,
                "other" => &mut h.other,
                "obsolete" => &mut h.obsolete,
                _ => {
                    return Err(format!(
                        "'hold' unknown <event>: '{event}', expects either 'nx', 'timeout', 'valid', 'obsolete' or 'other'."
                    ))
                }
            };
            *slot = time(v, &format!("'hold {event}'"))?;
        }
        "accepted_payload_size" => {
            let v = line.arg(1);
            if v.is_empty() {
                return Err("'accepted_payload_size' expects <nb> as argument.".into());
            }
            match v.parse::<i64>().unwrap_or(0) {
                n @ 12..=65535 => r.accepted_payload_size = n as u16,
                n => return Err(format!("'accepted_payload_size' must be between 12 and 65535 inclusive (was {n}).")),
            }
        }
        kw => return Err(format!("unknown keyword '{kw}' in 'resolvers' section")),
    }
    Ok(())
}

fn time(v: &str, what: &str) -> Result<Duration, String> {
    units::parse_time(v).map_err(|e| units::time_error_message(&e, v, what))
}

/// `<ip>[:<port>]` (port 53 when absent), `[v6]:port` accepted too.
fn nameserver_addr(s: &str) -> Option<SocketAddr> {
    let s = s.strip_prefix("udp@").or_else(|| s.strip_prefix("udp4@")).or_else(|| s.strip_prefix("ipv4@")).unwrap_or(s);
    if let Ok(a) = s.parse::<SocketAddr>() {
        return Some(a);
    }
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Some(SocketAddr::new(ip, 53));
    }
    let (host, port) = s.rsplit_once(':')?;
    Some(SocketAddr::new(host.parse().ok()?, port.parse().ok()?))
}

/// The `nameserver` lines of a resolv.conf text.
pub fn resolv_conf_nameservers(text: &str) -> Vec<IpAddr> {
    text.lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            (w.next() == Some("nameserver")).then(|| w.next()?.parse().ok()).flatten()
        })
        .collect()
}

/// What the `resolve*` options of a `server` or `default-server` line set.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ResolveOpts {
    /// `resolvers <id>`.
    pub resolvers: Option<String>,
    pub prefer: ResolvePrefer,
    pub allow_dup_ip: bool,
    pub ignore_weight: bool,
    pub nets: Vec<(IpAddr, u8)>,
}

/// The server options of this module: true when `kw` is one of them (it takes a value).
pub fn is_server_option(kw: &str) -> bool {
    matches!(kw, "resolvers" | "resolve-prefer" | "resolve-opts" | "resolve-net")
}

/// Applies `resolvers`, `resolve-prefer`, `resolve-opts` or `resolve-net` with value `v`.
pub fn server_option(o: &mut ResolveOpts, kw: &str, v: &str) -> Result<(), String> {
    match kw {
        "resolvers" => o.resolvers = Some(v.to_string()),
        "resolve-prefer" => {
            o.prefer = match v {
                "ipv4" => ResolvePrefer::Ipv4,
                "ipv6" => ResolvePrefer::Ipv6,
                _ => return Err("'resolve-prefer' expects either ipv4 or ipv6 as argument..".into()),
            }
        }
        "resolve-opts" => {
            for opt in v.split(',') {
                match opt {
                    "allow-dup-ip" => o.allow_dup_ip = true,
                    "prevent-dup-ip" => o.allow_dup_ip = false,
                    "ignore-weight" => o.ignore_weight = true,
                    _ => {
                        return Err(format!(
                            "'resolve-opts' : unknown resolve-opts option '{opt}', supported methods are 'allow-dup-ip', 'ignore-weight', and 'prevent-dup-ip'.."
                        ))
                    }
                }
            }
        }
        "resolve-net" => {
            o.nets.clear();
            for net in v.split(',') {
                o.nets.push(parse_net(net).ok_or_else(|| format!("'resolve-net' invalid network '{net}'.."))?);
            }
        }
        _ => {}
    }
    Ok(())
}

/// `a.b.c.d/len`, `v6/len`, or a lone address (a host network).
fn parse_net(s: &str) -> Option<(IpAddr, u8)> {
    let (ip, len) = match s.split_once('/') {
        Some((ip, len)) => (ip.parse::<IpAddr>().ok()?, Some(len)),
        None => (s.parse::<IpAddr>().ok()?, None),
    };
    let max = if ip.is_ipv4() { 32 } else { 128 };
    let len = match len {
        None => max,
        Some(l) => l.parse::<u8>().ok().filter(|l| *l <= max)?,
    };
    Some((ip, len))
}

/// A `server` line with `resolvers <id>`: remembered for the resolution task. `addr` is
/// the line's `<fqdn>[:<port>]`; an IP address is never resolved.
pub fn note_server(p: &mut Parser, proxy: &str, server: &str, addr: &str, o: &ResolveOpts, loc: &Location) {
    let Some(resolvers) = &o.resolvers else { return };
    let host = match addr.rsplit_once(':') {
        Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) && !h.contains(':') => h,
        _ => addr,
    };
    if host.parse::<IpAddr>().is_ok() || host.starts_with('/') || host.contains('@') {
        return;
    }
    p.config.server_resolutions.push(ServerResolution {
        proxy: proxy.to_string(),
        server: server.to_string(),
        location: loc.clone(),
        fqdn: host.to_string(),
        resolvers: resolvers.clone(),
        prefer: o.prefer,
        allow_dup_ip: o.allow_dup_ip,
        ignore_weight: o.ignore_weight,
        nets: o.nets.clone(),
    });
}

/// After parsing: HAProxy 2.6's implicit `resolvers default` section (built from
/// `/etc/resolv.conf`) when the configuration declares none, so `resolvers default` on
/// a server and the Lua HTTP client's default find it.
pub fn add_default(config: &mut Config) {
    let resolv_conf = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    if let Some(section) = crate::dns::lookup::default_section(config, &resolv_conf) {
        config.resolvers.push(section);
    }
}

/// After parsing: every server and every `do-resolve` rule names a `resolvers` section
/// that exists (HAProxy's alerts otherwise).
pub fn check(config: &Config, diags: &mut Vec<Diagnostic>) {
    for p in &config.proxies {
        let tcp = p.tcp_rules.iter().filter_map(|r| match &r.action {
            Some(crate::config::model::TcpAction::DoResolve { words }) => Some(words),
            _ => None,
        });
        let sections = p.http_rules.iter().map(|r| &r.action).chain(tcp).filter_map(|words| {
            let d = crate::stream::resolve::DoResolve::parse(words.first()?, &words[1..]).ok()?;
            Some(d.section)
        });
        for section in sections {
            if !config.resolvers.iter().any(|s| s.name == section) {
                let text = format!("Proxy '{}': Can't find resolvers section '{section}' for do-resolve action.", p.name);
                diags.push(Diagnostic::plain(crate::diag::Severity::Alert, None, text));
            }
        }
    }
    for r in &config.server_resolutions {
        if config.resolvers.iter().any(|s| s.name == r.resolvers) {
            continue;
        }
        let kind = match config.proxy(&r.proxy) {
            Some(px) if px.cap.frontend => "proxy",
            _ => "backend",
        };
        let text = format!(
            "{kind} '{}', server '{}': unable to find required resolvers '{}'",
            r.proxy, r.server, r.resolvers
        );
        diags.push(Diagnostic::plain(crate::diag::Severity::Alert, None, text));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nameserver_addresses() {
        assert_eq!(nameserver_addr("127.0.0.11:53"), Some("127.0.0.11:53".parse().unwrap()));
        assert_eq!(nameserver_addr("10.0.0.1"), Some("10.0.0.1:53".parse().unwrap()));
        assert_eq!(nameserver_addr("[::1]:5353"), Some("[::1]:5353".parse().unwrap()));
        assert_eq!(nameserver_addr("dns.example:53"), None);
    }

    #[test]
    fn resolv_conf() {
        let t = "# c\nsearch x\nnameserver 10.0.0.2\nnameserver ::1\nnameserver junk\n";
        assert_eq!(resolv_conf_nameservers(t), vec!["10.0.0.2".parse::<IpAddr>().unwrap(), "::1".parse().unwrap()]);
    }

    #[test]
    fn server_options() {
        let mut o = ResolveOpts::default();
        assert_eq!(o.prefer, ResolvePrefer::Ipv6);
        server_option(&mut o, "resolve-prefer", "ipv4").unwrap();
        server_option(&mut o, "resolve-opts", "allow-dup-ip,ignore-weight").unwrap();
        server_option(&mut o, "resolve-net", "10.0.0.0/8,192.168.1.1").unwrap();
        assert!(o.allow_dup_ip && o.ignore_weight && o.prefer == ResolvePrefer::Ipv4);
        assert_eq!(o.nets[1].1, 32);
        assert!(server_option(&mut o, "resolve-prefer", "ipv5").is_err());
        assert!(server_option(&mut o, "resolve-opts", "bogus").is_err());
        assert!(server_option(&mut o, "resolve-net", "10.0.0.0/8,zz").is_err());
    }
}
