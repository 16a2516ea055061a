//! Address forms shared by `bind`, `server` and `log`: `host:port`, `[v6]:port`,
//! `ipv4@`, `ipv6@`, `unix@`, `abns@`, `fd@`, absolute paths.

use crate::config::env::Env;
use std::borrow::Cow;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs};

/// Address family forced by a prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    Any,
    V4,
    V6,
}

/// What an address string designates before host resolution.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Parsed<'a> {
    /// Host (possibly empty or `*`) and optional port text.
    Inet {
        family: Family,
        host: &'a str,
        port: Option<&'a str>,
    },
    Unix(&'a str),
    Abstract(&'a str),
    Fd(&'a str),
    /// A prefix moonproxy knows but does not support (e.g. `ring@`, `quic4@`).
    Unsupported(&'a str),
}

/// Expands the environment variables of an address word. HAProxy does it for addresses even
/// outside double quotes, and users rely on it (`bind :$PORT`, `server s ${HOST}:80`,
/// `$REGION.$APP.internal:5433`): `$NAME` (the longest run of letters, digits and `_`) and
/// `${NAME}`; an unset variable expands to nothing. The lexer's `${NAME-default}` and
/// `${NAME[*]}` forms are for quoted words only: HAProxy refuses them in a bare address, and
/// here they stay as written (so the address is refused too).
pub fn expand_env<'a>(env: &Env, s: &'a str) -> Cow<'a, str> {
    if !s.contains('$') {
        return Cow::Borrowed(s);
    }
    let name_char = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        let (name, len) = if let Some(braced) = after.strip_prefix('{') {
            let end = braced.find(|c: char| !name_char(c)).unwrap_or(braced.len());
            match braced[end..].starts_with('}') {
                true => (&braced[..end], end + 2),
                false => ("", 0),
            }
        } else {
            let end = after.find(|c: char| !name_char(c)).unwrap_or(after.len());
            (&after[..end], end)
        };
        if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
            out.push('$');
            rest = after;
            continue;
        }
        out.push_str(&env.get(name).unwrap_or_default());
        rest = &after[len..];
    }
    out.push_str(rest);
    Cow::Owned(out)
}

/// Splits the prefix and the host/port parts.
pub fn classify(s: &str) -> Parsed<'_> {
    if let Some(rest) = s.strip_prefix("unix@") {
        return Parsed::Unix(rest);
    }
    if s.starts_with('/') {
        return Parsed::Unix(s);
    }
    if let Some(rest) = s.strip_prefix("abns@") {
        return Parsed::Abstract(rest);
    }
    if let Some(rest) = s.strip_prefix("fd@") {
        return Parsed::Fd(rest);
    }
    let (family, rest) = if let Some(r) = s.strip_prefix("ipv4@") {
        (Family::V4, r)
    } else if let Some(r) = s.strip_prefix("ipv6@") {
        (Family::V6, r)
    } else if let Some(r) = s.strip_prefix("udp@").or_else(|| s.strip_prefix("tcp@")) {
        (Family::Any, r)
    } else if let Some(r) = s.strip_prefix("udp4@").or_else(|| s.strip_prefix("tcp4@")) {
        (Family::V4, r)
    } else if let Some(r) = s.strip_prefix("udp6@").or_else(|| s.strip_prefix("tcp6@")) {
        (Family::V6, r)
    } else if let Some(at) = s.find('@').filter(|&at| {
        s[..at]
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-')
    }) {
        return Parsed::Unsupported(&s[..at + 1]);
    } else {
        (Family::Any, s)
    };
    let (host, port) = split_host_port(rest);
    Parsed::Inet { family, host, port }
}

/// `[v6]:port`, `host:port` (the last colon separates the port, as in HAProxy), `host`.
pub fn split_host_port(s: &str) -> (&str, Option<&str>) {
    if let Some(r) = s.strip_prefix('[') {
        if let Some(end) = r.find(']') {
            let host = &r[..end];
            let after = &r[end + 1..];
            return (host, after.strip_prefix(':'));
        }
    }
    match s.rfind(':') {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    }
}

/// Resolves a host: empty or `*` is the wildcard address, an IP literal is itself,
/// anything else goes through the system resolver (at parse time).
pub fn resolve_host(host: &str, family: Family) -> Option<IpAddr> {
    if host.is_empty() || host == "*" {
        return Some(match family {
            Family::V6 => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
            _ => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        });
    }
    if let Ok(ip) = host.parse::<IpAddr>() {
        return match (family, ip) {
            (Family::V4, IpAddr::V6(_)) | (Family::V6, IpAddr::V4(_)) => None,
            _ => Some(ip),
        };
    }
    if host.parse::<f64>().is_ok() || host.contains(':') {
        return None;
    }
    let addrs = (host, 0u16).to_socket_addrs().ok()?;
    addrs.map(|a: SocketAddr| a.ip()).find(|ip| match family {
        Family::Any => true,
        Family::V4 => ip.is_ipv4(),
        Family::V6 => ip.is_ipv6(),
    })
}

/// A port number 1..=65535 (0 refused).
pub fn parse_port(s: &str) -> Option<u16> {
    parse_port_or_zero(s).filter(|p| *p > 0)
}

/// A port number 0..=65535.
pub fn parse_port_or_zero(s: &str) -> Option<u16> {
    if s.is_empty() || !s.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    s.parse::<u16>().ok()
}


/// `<ip>:<port>` (IPv6 in brackets), with HAProxy's complaints: `mailer` lines, a
/// server's `socks4`.
pub fn ip_port(s: &str) -> Result<std::net::SocketAddr, String> {
    let Some((host, port)) = s.rsplit_once(':') else {
        return Err(format!("missing port specification in '{s}'"));
    };
    if host.parse::<std::net::IpAddr>().is_err() && !host.starts_with('[') {
        return Err(format!("invalid address: '{host}' in '{s}'\n"));
    }
    if port.contains('-') {
        return Err(format!("port range not permitted here in '{s}'"));
    }
    if let Some(c) = port.chars().find(|c| !c.is_ascii_digit()) {
        return Err(format!("invalid character '{c}' in port number '{port}' in '{s}'\n"));
    }
    match port.parse::<u16>() {
        Ok(0) | Err(_) => Err(format!("invalid port '{port}'")),
        Ok(_) => s.parse().map_err(|_| format!("invalid address: '{host}' in '{s}'\n")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment_variables_in_an_address() {
        let mut env = Env::new();
        env.set("H", "127.0.0.1");
        env.set("P", "8080");
        env.set("REGION", "fra");
        env.set("APP", "pg");
        env.unset("NOPE");
        assert_eq!(expand_env(&env, "127.0.0.1:80"), "127.0.0.1:80");
        assert_eq!(expand_env(&env, "$H:$P"), "127.0.0.1:8080");
        assert_eq!(expand_env(&env, "${H}:80${P}"), "127.0.0.1:808080");
        assert_eq!(expand_env(&env, "$REGION.$APP.internal:5433"), "fra.pg.internal:5433");
        assert_eq!(expand_env(&env, "[$H]:1"), "[127.0.0.1]:1");
        assert_eq!(expand_env(&env, "*:$NOPE"), "*:", "unset: empty");
        assert_eq!(expand_env(&env, "fd@${P}"), "fd@8080");
        // Forms that are no variable stay as written.
        assert_eq!(expand_env(&env, "a$:1"), "a$:1");
        assert_eq!(expand_env(&env, "$1:2"), "$1:2");
        assert_eq!(expand_env(&env, ":${P-80}"), ":${P-80}");
        assert_eq!(expand_env(&env, ":${P"), ":${P");
    }

    #[test]
    fn forms() {
        assert_eq!(
            classify(":80"),
            Parsed::Inet {
                family: Family::Any,
                host: "",
                port: Some("80")
            }
        );
        assert_eq!(
            classify("*:80"),
            Parsed::Inet {
                family: Family::Any,
                host: "*",
                port: Some("80")
            }
        );
        assert_eq!(
            classify("[::1]:80"),
            Parsed::Inet {
                family: Family::Any,
                host: "::1",
                port: Some("80")
            }
        );
        assert_eq!(
            classify(":::80"),
            Parsed::Inet {
                family: Family::Any,
                host: "::",
                port: Some("80")
            }
        );
        assert_eq!(
            classify("ipv6@:80"),
            Parsed::Inet {
                family: Family::V6,
                host: "",
                port: Some("80")
            }
        );
        assert_eq!(
            classify("1.2.3.4"),
            Parsed::Inet {
                family: Family::Any,
                host: "1.2.3.4",
                port: None
            }
        );
        assert_eq!(classify("unix@/tmp/s"), Parsed::Unix("/tmp/s"));
        assert_eq!(classify("/tmp/s"), Parsed::Unix("/tmp/s"));
        assert_eq!(classify("abns@x"), Parsed::Abstract("x"));
        assert_eq!(classify("fd@3"), Parsed::Fd("3"));
        assert_eq!(classify("ring@buf"), Parsed::Unsupported("ring@"));
    }

    #[test]
    fn hosts_and_ports() {
        assert_eq!(
            resolve_host("", Family::V6),
            Some(IpAddr::V6(Ipv6Addr::UNSPECIFIED))
        );
        assert_eq!(resolve_host("127.0.0.1", Family::V6), None);
        assert_eq!(resolve_host("1.2.3.4.5", Family::Any), None);
        assert_eq!(
            resolve_host("localhost", Family::V4),
            Some(IpAddr::V4(Ipv4Addr::LOCALHOST))
        );
        assert_eq!(parse_port("80"), Some(80));
        assert_eq!(parse_port("0"), None);
        assert_eq!(parse_port("99999"), None);
        assert_eq!(parse_port("+1"), None);
    }

    #[test]
    fn ip_port_as_haproxy_words_it() {
        assert_eq!(ip_port("127.0.0.1:25"), Ok("127.0.0.1:25".parse().unwrap()));
        assert_eq!(ip_port("[::1]:25"), Ok("[::1]:25".parse().unwrap()));
        assert_eq!(ip_port("1.2.3.4").unwrap_err(), "missing port specification in '1.2.3.4'");
        assert_eq!(ip_port("127.0.0.1:0").unwrap_err(), "invalid port '0'");
        assert_eq!(ip_port("127.0.0.1:25-30").unwrap_err(), "port range not permitted here in '127.0.0.1:25-30'");
        assert!(ip_port("host.invalid:25").unwrap_err().starts_with("invalid address: 'host.invalid'"));
    }
}
