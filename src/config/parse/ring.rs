//! `ring <name>` sections and the rings HAProxy makes for `log tcp@<addr>` lines, with
//! HAProxy 2.6's messages. The buffers and their TCP forwarding are in
//! `crate::log::ring`; `show events` dumps them.
//!
//! ```text
//! ring logbuf
//!     description "request logs"
//!     format rfc3164
//!     maxlen 1200
//!     size 32764
//!     timeout connect 5s
//!     timeout server 10s
//!     server syslog1 127.0.0.1:6514 log-proto octet-count
//! ```

use super::addr::{self, Parsed};
use super::{Diagnostic, Line, Parser};
use crate::config::model::{Config, Location, LogDest, LogWireFormat, Ring, RingServer};
use crate::config::units;
use crate::diag::Severity;
use std::net::SocketAddr;

/// HAProxy's ring size and default line length: its buffer size.
pub const DEFAULT_SIZE: usize = 16384;

/// The most a `size` may ask for (the buffer grows with its lines up to it).
const MAX_SIZE: u64 = u32::MAX as u64;

/// Opens a `ring <name>` section; `None` (its lines checked, then dropped) when the
/// name is missing or taken.
pub fn start(p: &mut Parser, line: &Line) -> Option<usize> {
    let name = line.arg(1);
    if name.is_empty() {
        p.alert(&line.loc, "missing ring name.");
        return None;
    }
    if p.config.rings.iter().any(|r| r.name == name) {
        p.alert(&line.loc, format!("sink named '{name}' already exists."));
        return None;
    }
    p.config.rings.push(empty(name, &line.loc));
    Some(p.config.rings.len() - 1)
}

fn empty(name: &str, loc: &Location) -> Ring {
    Ring {
        name: name.to_string(),
        location: loc.clone(),
        description: None,
        format: LogWireFormat::Raw,
        maxlen: DEFAULT_SIZE,
        size: DEFAULT_SIZE,
        timeout_connect: None,
        timeout_server: None,
        servers: Vec::new(),
    }
}

/// One line inside a `ring` section (`section`: its index, `None` for a bad one).
pub fn keyword(p: &mut Parser, section: Option<usize>, line: &Line) {
    let mut scratch = None;
    let ring = match section {
        Some(i) => &mut p.config.rings[i],
        None => scratch.insert(empty("", &line.loc)),
    };
    match apply(ring, line) {
        Ok(None) => {}
        Ok(Some(warning)) => p.warn(&line.loc, warning),
        Err(Problem::Alert(msg)) => p.alert(&line.loc, msg),
        Err(Problem::Directive(msg)) => p.alert_directive(&line.loc, msg),
        Err(Problem::Plain(msg)) => p.push(Diagnostic::plain(Severity::Alert, None, format!("[{}] : {msg}", line.loc))),
    }
}

/// The shapes of HAProxy's messages for ring lines.
enum Problem {
    /// `parsing [file:line] : msg`.
    Alert(String),
    /// `parsing [file:line]: msg`.
    Directive(String),
    /// `[file:line] : msg` (the server keywords').
    Plain(String),
}

/// Applies one line; `Ok(Some(..))` is a warning.
fn apply(ring: &mut Ring, line: &Line) -> Result<Option<String>, Problem> {
    match line.arg(0) {
        "description" => {
            if line.args.len() < 2 {
                return Err(Problem::Alert("missing ring description text.".into()));
            }
            ring.description = Some(line.args[1..].join(" "));
        }
        "format" => {
            let v = line.arg(1);
            ring.format = super::log::wire_format(v).ok_or_else(|| Problem::Alert(format!("unknown format '{v}'.")))?;
        }
        "maxlen" => {
            let v = line.arg(1);
            let n = units::parse_size(v).ok().filter(|n| *n > 0).ok_or_else(|| invalid_size(v))?;
            ring.maxlen = usize::try_from(n).unwrap_or(usize::MAX);
        }
        "size" => {
            let v = line.arg(1);
            let n = units::parse_size(v).ok().filter(|n| *n > 0).ok_or_else(|| invalid_size(v))?;
            if n < ring.size as u64 {
                // A warning in HAProxy's words, counted as an error as HAProxy 2.6 does.
                return Err(Problem::Alert(format!(
                    "ignoring new size '{n}' that is smaller than current size '{}' for ring '{}'.",
                    ring.size, ring.name
                )));
            }
            if n > MAX_SIZE {
                return Err(Problem::Alert(format!("fail to set sink buffer size '{}' for ring '{}'.", ring.size, ring.name)));
            }
            ring.size = n as usize;
        }
        "timeout" => {
            let (what, v) = (line.arg(1), line.arg(2));
            let slot = match what {
                "connect" => &mut ring.timeout_connect,
                "server" => &mut ring.timeout_server,
                // HAProxy accepts any other name silently; say that it does nothing.
                _ => return Ok(Some(format!("'timeout {what}' has no effect in a ring section (only 'connect' and 'server').")))
            };
            if v.is_empty() {
                return Err(Problem::Alert(format!("'timeout {what}' expects <time> as argument.")));
            }
            let d = units::parse_time(v).map_err(|e| match e {
                units::UnitError::Unexpected(c) => Problem::Directive(format!("unexpected character '{c}' in argument to <timeout {what}>.")),
                e => Problem::Alert(units::time_error_message(&e, v, &format!("'timeout {what}'"))),
            })?;
            *slot = (!d.is_zero()).then_some(d);
        }
        "server" => ring.servers.push(server(&ring.name, line)?),
        kw => return Err(Problem::Alert(format!("unknown statement '{kw}'."))),
    }
    Ok(None)
}

fn invalid_size(v: &str) -> Problem {
    Problem::Alert(format!("invalid size '{v}' for new sink buffer."))
}

/// `server <name> <addr> [log-proto legacy|octet-count]`.
fn server(ring: &str, line: &Line) -> Result<RingServer, Problem> {
    let (name, target) = (line.arg(1), line.arg(2));
    if name.is_empty() || target.is_empty() {
        return Err(Problem::Plain("'server' expects <name> and <addr>[:<port>] as arguments.".into()));
    }
    let who = format!("'server {ring}/{name}'");
    let addr = server_addr(target).map_err(|why| Problem::Plain(format!("{who} : {why}")))?;
    let mut octet_count = false;
    let mut i = 3;
    while i < line.args.len() {
        match line.arg(i) {
            "log-proto" => {
                octet_count = match line.arg(i + 1) {
                    "legacy" => false,
                    "octet-count" => true,
                    other => {
                        return Err(Problem::Plain(format!("{who} : 'log-proto' expects one of 'legacy' or 'octet-count' but got '{other}'.")));
                    }
                };
                i += 2;
            }
            kw => {
                return Err(Problem::Plain(format!(
                    "{who} : '{kw}' is not supported on a ring's server by moonproxy yet (only 'log-proto')."
                )));
            }
        }
    }
    Ok(RingServer { name: name.to_string(), location: line.loc.clone(), addr, octet_count })
}

/// A stream address: `ip:port` (`tcp@`, `ipv4@`, `ipv6@` prefixes allowed).
fn server_addr(target: &str) -> Result<SocketAddr, String> {
    match addr::classify(target) {
        Parsed::Inet { host, port, family } => {
            if ["udp@", "udp4@", "udp6@"].iter().any(|p| target.starts_with(p)) {
                return Err(format!("dgram-type address not acceptable in '{target}'"));
            }
            let ip = addr::resolve_host(host, family).ok_or_else(|| format!("invalid address: '{host}' in '{target}'"))?;
            let port = port.ok_or_else(|| format!("missing port in '{target}' (a ring's server needs one)"))?;
            let port = addr::parse_port(port).ok_or_else(|| format!("invalid port '{port}'"))?;
            Ok(SocketAddr::new(ip, port))
        }
        _ => Err(format!("'{target}': only TCP addresses are supported on a ring's server by moonproxy yet")),
    }
}

/// Post-parse: every `log tcp@<addr>` line gets a ring of its own, named `ring#N` in
/// the order the lines appear, as HAProxy does (a `defaults` line copied into
/// several proxies is one line, one ring); `ring@<name>` targets must name a ring.
/// Servers without timeouts get HAProxy's warning.
pub fn check(config: &mut Config, diags: &mut Vec<Diagnostic>) {
    let mut made: Vec<(Location, SocketAddr, String)> = Vec::new();
    let mut rings = Vec::new();
    let forwarders = config.log_forwards.iter_mut().flat_map(|f| f.logs.iter_mut());
    let targets = config.global.logs.iter_mut().chain(config.proxies.iter_mut().flat_map(|p| p.logs.iter_mut())).chain(forwarders);
    for t in targets {
        if let LogDest::Tcp(addr) = t.dest {
            let name = match made.iter().find(|(loc, a, _)| *loc == t.location && *a == addr) {
                Some((_, _, name)) => name.clone(),
                None => {
                    let name = format!("ring#{}", made.len() + 1);
                    made.push((t.location.clone(), addr, name.clone()));
                    rings.push(implicit_ring(&name, &t.location, t.format, t.maxlen, addr));
                    name
                }
            };
            t.dest = LogDest::Ring(name);
        }
    }
    config.rings.extend(rings);
    // In the order HAProxy makes them, which `show events` lists: a `log tcp@` line
    // in `global` comes before the `ring` sections that follow it.
    let files: Vec<String> = config.files.iter().map(|f| f.display().to_string()).collect();
    config.rings.sort_by_key(|r| (files.iter().position(|f| **f == *r.location.file).unwrap_or(usize::MAX), r.location.line));
    let mut unknown: Vec<&str> = Vec::new();
    let forwarders = config.log_forwards.iter().flat_map(|f| f.logs.iter());
    let targets = config.global.logs.iter().chain(config.proxies.iter().flat_map(|p| p.logs.iter())).chain(forwarders);
    for t in targets {
        if let LogDest::Ring(name) = &t.dest {
            if !config.rings.iter().any(|r| r.name == *name) && !unknown.contains(&name.as_str()) {
                unknown.push(name);
                // HAProxy 2.6 accepts the line and its messages go nowhere; say so.
                diags.push(Diagnostic::warning(&t.location, format!("log : no ring named '{name}': lines sent to 'ring@{name}' are dropped.")));
            }
        }
    }
    for ring in &config.rings {
        if !ring.servers.is_empty() && (ring.timeout_connect.is_none() || ring.timeout_server.is_none()) {
            diags.push(Diagnostic::plain(
                Severity::Warning,
                None,
                format!(
                    "missing timeouts for backend '{}'.\n   | While not properly invalid, you will certainly encounter various problems\n   | with such a configuration. To fix this, please ensure that all following\n   | timeouts are set to a non-zero value: 'client', 'connect', 'server'.",
                    ring.name
                ),
            ));
        }
        if ring.maxlen > ring.size {
            diags.push(Diagnostic::plain(
                Severity::Warning,
                None,
                format!("ring '{}' event max length '{}' exceeds size, forced to size '{}'.", ring.name, ring.maxlen, ring.size),
            ));
        }
    }
    for ring in &mut config.rings {
        ring.maxlen = ring.maxlen.min(ring.size);
    }
}

/// The ring of a `log tcp@<addr>` line: the line's format and length, one server.
fn implicit_ring(name: &str, loc: &Location, format: LogWireFormat, maxlen: usize, addr: SocketAddr) -> Ring {
    Ring {
        name: name.to_string(),
        location: loc.clone(),
        description: Some(format!("created from logserver declared into '{}' at line {}", loc.file, loc.line)),
        format,
        maxlen,
        size: DEFAULT_SIZE,
        timeout_connect: None,
        timeout_server: None,
        servers: vec![RingServer { name: name.to_string(), location: loc.clone(), addr, octet_count: false }],
    }
}

#[cfg(test)]
mod tests {
    use crate::config::model::LogDest;

    use crate::config::parse::parse_for_test as parse;

    #[test]
    fn a_ring_section_and_its_server() {
        let c = parse(
            "ring r\n  description my local buffer\n  format rfc3164\n  maxlen 1200\n  size 32764\n  timeout connect 5s\n  timeout server 10s\n  server s1 127.0.0.1:6514 log-proto octet-count\n",
        )
        .unwrap();
        let r = &c.rings[0];
        assert_eq!(r.description.as_deref(), Some("my local buffer"));
        assert_eq!((r.maxlen, r.size), (1200, 32764));
        assert_eq!(r.timeout_server, Some(std::time::Duration::from_secs(10)));
        assert!(r.servers[0].octet_count);
        assert_eq!(r.servers[0].addr, "127.0.0.1:6514".parse().unwrap());
    }

    #[test]
    fn haproxys_refusals() {
        let err = |body: &str| parse(&format!("ring r\n  {body}\n")).unwrap_err();
        assert!(err("size 300").contains("ignoring new size '300' that is smaller than current size '16384' for ring 'r'."));
        assert!(err("maxlen 0").contains("invalid size '0' for new sink buffer."));
        assert!(err("format foo").contains("unknown format 'foo'."));
        assert!(err("bogus 1").contains("unknown statement 'bogus'."));
        assert!(err("description").contains("missing ring description text."));
        assert!(err("timeout connect").contains("'timeout connect' expects <time> as argument."));
        assert!(err("server s").contains("'server' expects <name> and <addr>[:<port>] as arguments."));
        assert!(err("server s 127.0.0.1:1 log-proto x").contains("'server r/s' : 'log-proto' expects one of 'legacy' or 'octet-count' but got 'x'."));
        assert!(err("server s udp@127.0.0.1:1").contains("dgram-type address not acceptable"));
        assert!(parse("ring r\nring r\n").unwrap_err().contains("sink named 'r' already exists."));
        assert!(parse("ring\n").unwrap_err().contains("missing ring name."));
    }

    #[test]
    fn a_tcp_log_line_gets_its_own_ring_shared_by_the_proxies_that_copy_it() {
        let c = parse(
            "defaults\n  mode http\n  log tcp@127.0.0.1:6515 local1\nfrontend a\n  bind 127.0.0.1:1\nfrontend b\n  bind 127.0.0.1:2\n  log tcp@127.0.0.1:6516 local2\n",
        )
        .unwrap();
        let names: Vec<_> = c.rings.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["ring#1", "ring#2"]);
        let g = parse("global\n  log tcp@127.0.0.1:6515 local1\nring r\n").unwrap();
        let names: Vec<_> = g.rings.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["ring#1", "r"], "in the order of their lines");
        assert_eq!(c.rings[0].description.as_deref(), Some("created from logserver declared into 't.cfg' at line 3"));
        for p in c.proxies.iter().filter(|p| p.name == "a" || p.name == "b") {
            assert_eq!(p.logs[0].dest, LogDest::Ring("ring#1".into()), "{}", p.name);
        }
    }
}
