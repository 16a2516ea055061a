//! `server` and `default-server` lines.

use super::addr::{classify, parse_port, parse_port_or_zero, resolve_host, Parsed};
use super::{not_supported, Line, Parser};
use crate::config::diagnostic::Diagnostic;
use crate::config::keywords::{self, SubState};
use crate::config::model::{CheckParams, IdlePoolConf, Server, ServerAddr};
use crate::config::units;
use crate::diag::Severity;
use std::path::PathBuf;

/// Settings a `server` line can take, which `default-server` presets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerOpts {
    pub weight: u32,
    pub maxconn: u32,
    pub maxqueue: u32,
    pub backup: bool,
    pub disabled: bool,
    pub check: bool,
    pub params: CheckParams,
    pub id: Option<u32>,
    pub idle: IdlePoolConf,
    /// `cookie <value>` (persistence).
    pub cookie: Option<String>,
    /// `resolvers`, `resolve-prefer`, `resolve-opts`, `resolve-net` ([`super::resolvers`]).
    pub resolve: super::resolvers::ResolveOpts,
    /// `ssl`, `verify`, `ca-file`, `sni`, `alpn` ... (`crate::tls::parse`).
    pub tls: crate::tls::ServerTlsOpts,
    /// The settings of [`super::server_opts`].
    pub more: super::server_opts::MoreOpts,
}

impl ServerOpts {
    /// The server these settings describe (a `server` line's, or `add server`'s).
    fn server(self, name: &str, location: crate::config::model::Location, addr: ServerAddr, tls: Option<crate::tls::ServerTls>, cookie: Option<String>) -> Server {
        Server {
            name: name.to_string(),
            location,
            addr,
            weight: self.weight,
            maxconn: self.maxconn,
            maxqueue: self.maxqueue,
            backup: self.backup,
            disabled: self.disabled,
            check: self.check.then_some(self.params),
            id: self.id,
            idle: self.idle,
            cookie,
            tls,
            send_proxy: self.more.send_proxy,
            tuning: self.more.tuning,
        }
    }
}

impl Default for ServerOpts {
    fn default() -> Self {
        ServerOpts {
            weight: 1,
            maxconn: 0,
            maxqueue: 0,
            backup: false,
            disabled: false,
            check: false,
            params: CheckParams::default(),
            id: None,
            idle: IdlePoolConf::default(),
            cookie: None,
            resolve: Default::default(),
            tls: crate::tls::ServerTlsOpts::default(),
            more: Default::default(),
        }
    }
}

/// HAProxy prints server errors as `[file:line] : 'server be/name' : message`.
fn server_alert(p: &mut Parser, l: &Line, who: &str, msg: &str) {
    let text = format!("[{}] : {who} : {msg}", l.loc);
    p.push(Diagnostic::plain(Severity::Alert, Some(&l.loc), text));
}

pub fn server(p: &mut Parser, l: &Line) -> Result<(), String> {
    let backend = p.draft().proxy.name.clone();
    if l.args.len() < 3 {
        let text = format!(
            "[{}] : 'server' expects <name> and <addr>[:<port>] as arguments.",
            l.loc
        );
        p.push(Diagnostic::plain(Severity::Alert, Some(&l.loc), text));
        return Ok(());
    }
    let name = l.arg(1);
    let who = format!("'server {backend}/{name}'");
    let mut opts = p.draft().default_server.clone();
    opts.id = None;
    let gtls = crate::tls::parse::GlobalTls::from_lines(&p.config.global.tls_defaults)?;
    let applied = apply_opts(&mut opts, &l.args[3..], name, true, &gtls);
    // A timer with characters after its unit (`inter 1s[`): HAProxy's warning, placed.
    for w in crate::config::units::take_time_warnings() {
        let text = format!("[{}] : {who} : {w}", l.loc);
        p.push(Diagnostic::plain(Severity::Warning, Some(&l.loc), text));
    }
    if let Err(e) = applied {
        server_alert(p, l, &who, &e);
        return Ok(());
    }
    let tls = match crate::tls::parse::finish_server(&opts.tls, &gtls) {
        Ok(t) => t,
        Err(e) => {
            server_alert(p, l, &who, &e);
            return Ok(());
        }
    };
    for w in crate::tls::parse::server_warnings(&opts.tls, &gtls) {
        p.warn(&l.loc, format!("{who} : {w}"));
    }
    if let Err(e) = super::server_health::check_mode(&opts.more.tuning, p.draft().proxy.mode) {
        // HAProxy says so as an alert yet keeps the server, without `observe`, and the
        // configuration valid: a warning here (moonproxy's alerts are fatal).
        let text = format!("[{}] : {who} : {e}", l.loc);
        p.push(Diagnostic::plain(Severity::Warning, Some(&l.loc), text));
        opts.more.tuning.observe = None;
    }
    if let Some(mux @ ("h1" | "h2")) = opts.more.tuning.proto.as_deref().filter(|_| p.draft().proxy.mode != crate::config::model::Mode::Http) {
        // HAProxy's words (said once the proxy is complete; here its mode so far).
        let text = format!("backend '{backend}' : MUX protocol '{mux}' is not usable for server '{name}' at [{}].", l.loc);
        p.push(Diagnostic::plain(Severity::Alert, Some(&l.loc), text));
        return Ok(());
    }
    // `init-addr` decides how a host name is looked up (`none`: in maintenance).
    let addr_text = super::addr::expand_env(&p.env, l.arg(2)).into_owned();
    let addr = match super::server_opts::initial_address(&opts.more, &addr_text) {
        Ok((a, maint)) => {
            opts.disabled |= maint;
            a
        }
        Err(e) => {
            server_alert(p, l, &who, &e);
            return Ok(());
        }
    };
    if let Some(id) = opts.id {
        let taken = p.draft().proxy.servers.iter().find(|s| s.id == Some(id));
        if let Some(other) = taken {
            let msg = format!(
                "'id' : custom id {id} already used at {} ('server {}').",
                other.location, other.name
            );
            server_alert(p, l, &who, &msg);
            return Ok(());
        }
    }
    if opts.more.tuning.agent.enabled && opts.more.tuning.agent.port.is_none() {
        // HAProxy 2.6 refuses it with these words.
        server_alert(p, l, &who, &format!("server {name} does not have agent port. Agent check has been disabled."));
        return Ok(());
    }
    if let Some(source) = opts.more.tuning.source.as_mut() {
        source.location = l.loc.clone();
    }
    let (cookie, resolve) = (opts.cookie.clone(), opts.resolve.clone());
    let s = opts.server(name, l.loc.clone(), addr, tls, cookie);
    p.draft().proxy.servers.push(s);
    super::resolvers::note_server(p, &backend, name, &addr_text, &resolve, &l.loc);
    Ok(())
}

pub fn default_server(p: &mut Parser, l: &Line) -> Result<(), String> {
    let mut opts = p.draft().default_server.clone();
    let gtls = crate::tls::parse::GlobalTls::from_lines(&p.config.global.tls_defaults)?;
    if let Err(e) = apply_opts(&mut opts, &l.args[1..], "", false, &gtls) {
        if e.starts_with(UNKNOWN_KEYWORD) {
            // HAProxy 2.6's words: no keyword before it, a hint after it.
            let text = format!("[{}] : {e} Hint: no address was expected for this server.", l.loc);
            p.push(Diagnostic::plain(Severity::Alert, Some(&l.loc), text));
        } else {
            server_alert(p, l, "'default-server'", &e);
        }
        return Ok(());
    }
    p.draft().default_server = opts;
    Ok(())
}

/// The `server` keywords `add server` accepts (HAProxy 2.6's management guide);
/// the others known to the configuration are refused with HAProxy's words.
const DYNAMIC_OK: &[&str] = &[
    "agent-addr", "agent-check", "agent-inter", "agent-port", "agent-send", "allow-0rtt", "alpn", "addr", "backup",
    "ca-file", "check", "check-alpn", "check-proto", "check-send-proxy", "check-sni", "check-ssl", "check-via-socks4",
    "ciphers", "ciphersuites", "crl-file", "crt", "disabled", "downinter", "enabled", "error-limit", "fall", "fastinter",
    "force-sslv3", "force-tlsv10", "force-tlsv11", "force-tlsv12", "force-tlsv13", "id", "inter", "maxconn", "maxqueue",
    "minconn", "no-ssl-reuse", "no-sslv3", "no-tlsv10", "no-tlsv11", "no-tlsv12", "no-tlsv13", "no-tls-tickets", "npn",
    "observe", "on-error", "on-marked-down", "on-marked-up", "pool-low-conn", "pool-max-conn", "pool-purge-delay", "port",
    "proto", "proxy-v2-options", "rise", "send-proxy", "send-proxy-v2", "send-proxy-v2-ssl", "send-proxy-v2-ssl-cn",
    "slowstart", "sni", "source", "ssl", "ssl-max-ver", "ssl-min-ver", "tfo", "tls-tickets", "track", "usesrc", "verify",
    "verifyhost", "weight", "ws",
];

/// What `add server <backend>/<name> <addr> [args]*` builds: `args` are the words
/// after the name. As in HAProxy 2.6, no `default-server` applies, a host name is
/// not resolved (the server keeps no address until `set server ... addr`), idle
/// connections are not kept unless `pool-max-conn` says so, and `enabled` makes it
/// start ready (`Ok((server, enabled))`). The error is HAProxy's answer.
pub fn dynamic_server(
    name: &str,
    args: &[String],
    mode: crate::config::model::Mode,
    gtls: &crate::tls::parse::GlobalTls,
) -> Result<(Server, bool), String> {
    let Some(addr_arg) = args.first() else { return Err("'server' expects <name> and <addr>[:<port>] as arguments.".into()) };
    for w in &args[1..] {
        let known = keywords::lookup_sub(keywords::SERVER_OPTIONS, w).is_some();
        if known && !DYNAMIC_OK.contains(&w.as_str()) {
            return Err(format!("'{w}' option is not accepted for dynamic server"));
        }
    }
    let mut opts = ServerOpts { idle: IdlePoolConf { max_conn: Some(0), purge_delay: std::time::Duration::ZERO, ..IdlePoolConf::default() }, ..ServerOpts::default() };
    // HAProxy ends a keyword's error with a dot, even one that has its own.
    apply_opts(&mut opts, &args[1..], name, true, gtls).map_err(|e| if e.starts_with(UNKNOWN_KEYWORD) { e } else { format!("{e}.") })?;
    let tls = crate::tls::parse::finish_server(&opts.tls, gtls)?;
    super::server_health::check_mode(&opts.more.tuning, mode)?;
    if opts.more.tuning.agent.enabled && opts.more.tuning.agent.port.is_none() {
        return Err(format!("server {name} does not have agent port. Agent check has been disabled."));
    }
    // `init-addr none`: a name stays unresolved, the address unset (`0.0.0.0`).
    opts.more.init_addr = Some(vec![super::server_opts::InitAddr::None]);
    let (addr, _unresolved) = super::server_opts::initial_address(&opts.more, addr_arg)?;
    let enabled = args[1..].iter().any(|w| w == "enabled") && !opts.disabled;
    // What HAProxy 2.6 names the place of a server added at run time.
    let location = crate::config::model::Location { file: "(null)".into(), line: 0 };
    Ok((opts.server(name, location, addr, tls, None), enabled))
}

/// `<addr>[:<port>]`, `unix@path`, `/path`, `abns@name`; host names resolved now.
pub fn parse_server_addr(s: &str) -> Result<ServerAddr, String> {
    match classify(s) {
        Parsed::Unix(path) => Ok(ServerAddr::Unix(PathBuf::from(path))),
        Parsed::Abstract(name) => Ok(ServerAddr::Abstract(name.to_string())),
        Parsed::Fd(_) => Err(format!(
            "'fd@' addresses cannot be used for servers ('{s}')"
        )),
        Parsed::Unsupported(prefix) => Err(format!(
            "'{prefix}' addresses are not supported by moonproxy yet."
        )),
        Parsed::Inet { family, host, port } => {
            let port = match port.filter(|p| !p.is_empty()) {
                None => None,
                Some(p) if p.starts_with('+') || p.starts_with('-') => {
                    let offset = p[1..].parse::<u16>().ok().filter(|_| p[1..].bytes().all(|b| b.is_ascii_digit())).ok_or_else(|| format!("invalid port '{p}'"))?;
                    let offset = if p.starts_with('-') { -i32::from(offset) } else { i32::from(offset) };
                    let ip = resolve_host(host, family).ok_or_else(|| format!("could not resolve address '{host}'."))?;
                    return Ok(match offset {
                        0 => ServerAddr::Inet { ip, port: None },
                        offset => ServerAddr::PortOffset { ip, offset },
                    });
                }
                Some(p) if p.contains('-') => {
                    return Err(format!("port ranges and offsets are not allowed in '{s}'"))
                }
                // Port 0 means "no port", as in HAProxy.
                Some(p) => {
                    Some(parse_port_or_zero(p).ok_or_else(|| format!("invalid port '{p}'"))?)
                        .filter(|p| *p != 0)
                }
            };
            let literal =
                host.parse::<std::net::IpAddr>().is_ok() || host.is_empty() || host == "*";
            let ip = resolve_host(host, family)
                .ok_or_else(|| format!("could not resolve address '{host}'."))?;
            Ok(match (literal, port) {
                (false, Some(port)) => ServerAddr::Resolved {
                    host: host.to_string(),
                    addr: std::net::SocketAddr::new(ip, port),
                },
                _ => ServerAddr::Inet { ip, port },
            })
        }
    }
}

/// How the message about a keyword `server`/`default-server` does not know starts.
const UNKNOWN_KEYWORD: &str = "unknown keyword '";

/// Applies `server`/`default-server` settings. `is_server`: `id` allowed.
fn apply_opts(
    o: &mut ServerOpts,
    args: &[String],
    name: &str,
    is_server: bool,
    gtls: &crate::tls::parse::GlobalTls,
) -> Result<(), String> {
    let mut i = 0;
    while i < args.len() {
        let kw = args[i].as_str();
        if let Some(r) = crate::tls::parse::server_option(&mut o.tls, gtls, kw, args.get(i + 1).map_or("", String::as_str)) {
            i += r?;
            continue;
        }
        let Some(sub) = keywords::lookup_sub(keywords::SERVER_OPTIONS, kw) else {
            let hint = keywords::suggest(kw, keywords::SERVER_OPTIONS.iter().map(|k| k.name))
                .map_or_else(|| ".".to_string(), |s| format!("; did you mean '{s}' maybe ?"));
            return Err(format!("{UNKNOWN_KEYWORD}{kw}'{hint}"));
        };
        match sub.state {
            SubState::NotYet => return Err(not_supported(kw)),
            SubState::Ignored => {
                i += 1;
                continue;
            }
            SubState::Supported => {}
        }
        if kw == "source" {
            let (source, used) = super::source::server_option(&args[i..])?;
            o.more.tuning.source = Some(source);
            i += used;
            continue;
        }
        if kw == "usesrc" {
            return Err(super::source::USESRC_ALONE.into());
        }
        if let Some(used) = super::server_health::apply(&mut o.more.tuning, kw, args.get(i + 1).map(String::as_str))? {
            i += used;
            continue;
        }
        if let Some(used) = super::server_opts::apply(&mut o.more, kw, args.get(i + 1).map(String::as_str))? {
            i += used;
            continue;
        }
        let takes_value = matches!(
            kw,
            "weight"
                | "maxconn"
                | "maxqueue"
                | "inter"
                | "fastinter"
                | "downinter"
                | "rise"
                | "fall"
                | "port"
                | "addr"
                | "id"
                | "pool-max-conn"
                | "pool-purge-delay"
                | "max-reuse"
                | "cookie"
        ) || super::resolvers::is_server_option(kw);
        let v = args.get(i + 1).map_or("", String::as_str);
        if takes_value && v.is_empty() {
            if kw == "cookie" {
                // Sic: HAProxy 2.6 ends this one with two dots.
                return Err("'cookie' expects <value> as argument..".into());
            }
            if kw.starts_with("pool-") || kw == "max-reuse" {
                return Err(format!("'{kw}' expects <value> as argument."));
            }
            return Err(format!("'{kw}' expects an argument."));
        }
        // -1 (no limit) or a count.
        let limit = |v: &str| -> Result<Option<u32>, String> {
            match v.parse::<i64>() {
                Ok(-1) => Ok(None),
                Ok(n) if n >= 0 && n <= u32::MAX as i64 => Ok(Some(n as u32)),
                Ok(_) => Err(format!("'{kw}' must be >= -1.")),
                Err(_) => Err(format!("'{kw}' expects an integer argument, got '{v}'.")),
            }
        };
        let num = |v: &str| -> Result<u32, String> {
            v.parse::<u32>()
                .map_err(|_| format!("'{kw}' expects an integer argument, got '{v}'."))
        };
        let time = |v: &str| -> Result<std::time::Duration, String> {
            let t = units::parse_time(v).map_err(|e| match e {
                units::UnitError::Unexpected(c) => {
                    format!("unexpected character '{c}' in '{kw}' argument of server {name}.")
                }
                e => units::time_error_message(&e, v, &format!("'{kw}'")),
            })?;
            if t.is_zero() {
                return Err(format!(
                    "invalid value 0 for argument '{kw}' of server {name}."
                ));
            }
            Ok(t)
        };
        match kw {
            "weight" => {
                let w = num(v)?;
                if w > 256 {
                    return Err(format!(
                        "weight of server {name} is not within 0 and 256 ({w})."
                    ));
                }
                o.weight = w;
            }
            "maxconn" => o.maxconn = num(v)?,
            "maxqueue" => o.maxqueue = num(v)?,
            "cookie" => o.cookie = Some(v.to_string()),
            kw if super::resolvers::is_server_option(kw) => super::resolvers::server_option(&mut o.resolve, kw, v)?,
            "pool-max-conn" => o.idle.max_conn = limit(v)?,
            "max-reuse" => o.idle.max_reuse = limit(v)?,
            "pool-purge-delay" => {
                o.idle.purge_delay = units::parse_time(v).map_err(|e| match e {
                    units::UnitError::Unexpected(c) => {
                        format!("unexpected character '{c}' in argument to <{kw}>.")
                    }
                    e => units::time_error_message(&e, v, &format!("'{kw}'")),
                })?
            }
            "backup" => o.backup = true,
            "no-backup" => o.backup = false,
            "disabled" => o.disabled = true,
            "enabled" => o.disabled = false,
            "check" => o.check = true,
            "no-check" => o.check = false,
            "inter" => o.params.inter = time(v)?,
            "fastinter" => o.params.fastinter = Some(time(v)?),
            "downinter" => o.params.downinter = Some(time(v)?),
            "rise" | "fall" => {
                // HAProxy reads these with atol: `2s` is 2 (users write it), `abc` is 0.
                let digits = v.bytes().take_while(u8::is_ascii_digit).count();
                let n: u32 = v[..digits].parse().unwrap_or(0);
                if n == 0 {
                    return Err(format!("'{kw}' has to be > 0.."));
                }
                if kw == "rise" {
                    o.params.rise = n;
                } else {
                    o.params.fall = n;
                }
            }
            "port" => {
                o.params.port = Some(parse_port(v).ok_or_else(|| format!("invalid port '{v}'"))?)
            }
            "addr" => {
                // A host name is looked up now, as HAProxy does (`addr localhost`).
                let ip = v.parse().ok().or_else(|| super::addr::resolve_host(v, super::addr::Family::Any));
                o.params.addr = Some(ip.ok_or_else(|| format!("'addr' : invalid address: '{v}' in '{v}'."))?)
            }
            "id" => {
                if !is_server {
                    return Err("'id' option is not accepted in default-server sections".into());
                }
                let id = num(v)?;
                if id == 0 {
                    return Err("custom id 0 reserved for internal use.".into());
                }
                o.id = Some(id);
            }
            _ => {}
        }
        i += if takes_value { 2 } else { 1 };
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::IpAddr;

    #[test]
    fn addresses() {
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        assert_eq!(
            parse_server_addr("127.0.0.1:80"),
            Ok(ServerAddr::Inet { ip, port: Some(80) })
        );
        assert_eq!(
            parse_server_addr("127.0.0.1"),
            Ok(ServerAddr::Inet { ip, port: None })
        );
        assert!(matches!(
            parse_server_addr("localhost:80"),
            Ok(ServerAddr::Resolved { .. })
        ));
        assert_eq!(
            parse_server_addr("/tmp/s"),
            Ok(ServerAddr::Unix("/tmp/s".into()))
        );
        assert_eq!(
            parse_server_addr("1.2.3.4:99999"),
            Err("invalid port '99999'".into())
        );
        assert_eq!(
            parse_server_addr("127.0.0.1:+1000"),
            Ok(ServerAddr::PortOffset { ip, offset: 1000 })
        );
        assert_eq!(
            parse_server_addr("127.0.0.1:-1"),
            Ok(ServerAddr::PortOffset { ip, offset: -1 })
        );
        assert_eq!(
            parse_server_addr("127.0.0.1:+0"),
            Ok(ServerAddr::Inet { ip, port: None })
        );
        assert_eq!(
            parse_server_addr("127.0.0.1:+70000"),
            Err("invalid port '+70000'".into())
        );
        assert!(parse_server_addr("nohost.invalid:80").is_err());
    }

    #[test]
    fn settings() {
        let mut o = ServerOpts::default();
        let a: Vec<String> = "weight 10 maxconn 5 check inter 3s rise 1 fall 2 backup id 7"
            .split(' ')
            .map(String::from)
            .collect();
        let g = crate::tls::parse::GlobalTls::default();
        apply_opts(&mut o, &a, "s", true, &g).unwrap();
        assert_eq!(
            (o.weight, o.maxconn, o.check, o.backup, o.id),
            (10, 5, true, true, Some(7))
        );
        assert_eq!(
            (o.params.inter.as_secs(), o.params.rise, o.params.fall),
            (3, 1, 2)
        );
        let bad = |s: &str| {
            apply_opts(
                &mut ServerOpts::default(),
                &s.split(' ').map(String::from).collect::<Vec<_>>(),
                "s5",
                true,
                &crate::tls::parse::GlobalTls::default(),
            )
            .unwrap_err()
        };
        assert_eq!(
            bad("weight 300"),
            "weight of server s5 is not within 0 and 256 (300)."
        );
        assert_eq!(
            bad("inter 5x"),
            "unexpected character 'x' in 'inter' argument of server s5."
        );
        assert_eq!(bad("rise 0"), "'rise' has to be > 0..");
        assert_eq!(bad("fall abc"), "'fall' has to be > 0..", "atol reads no digit as 0");
        assert_eq!(bad("ssl verify maybe"), "'verify' : unknown verify method 'maybe', only 'none' and 'required' are supported.");
        assert_eq!(bad("namespace ns1"), "'namespace' is not supported by moonproxy yet.");
        assert_eq!(bad("socks4 1.2.3.4"), "'socks4 1.2.3.4' : missing port specification in '1.2.3.4'.");
        assert!(bad("wieght 1").contains("did you mean 'weight'"));
    }
}
