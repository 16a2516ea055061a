//! Address forms shared by `bind`, `server`, `log` and the other keywords that take an
//! address (one reader, [`inet`], for those that need a port): `host:port`, `[v6]:port`,
//! `ipv4@`, `ipv6@`, `unix@`, `abns@`, `fd@`, absolute paths.

use crate::config::env::Env;
use std::borrow::Cow;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs};
use std::ops::RangeInclusive;

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

/// What the port part of an address may be, as each keyword allows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ports {
    /// One port, 1 to 65535: `dispatch`, `peer`/`server` in `peers`, `mailer`, `socks4`.
    One,
    /// One port or a range `<a>-<b>`: `bind`, `dgram-bind`. Port 0 (the kernel picks
    /// one) is a moonproxy extension there (doc/config.md, deviation 14).
    Range,
}

/// What kind of socket an address is for: the `udp@` prefixes name datagram ones, the
/// `tcp@` prefixes stream ones.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Socket {
    Stream,
    Datagram,
}

/// An IP address with its port(s), `whole` (which [`classify`] finds `Inet`), read as
/// HAProxy reads an address where a port is required, with its messages: the one
/// reader of `bind`, `dgram-bind`, `dispatch`, the `peers` section, `mailer` and
/// `socks4` addresses. A host name is resolved now, with the system resolver.
pub fn inet(whole: &str, ports: Ports, socket: Socket) -> Result<(IpAddr, RangeInclusive<u16>), String> {
    let Parsed::Inet { family, host, port } = classify(whole) else {
        return Err(format!("'{whole}' is not an IP address"));
    };
    let (stream, datagram) = (["tcp@", "tcp4@", "tcp6@"], ["udp@", "udp4@", "udp6@"]);
    match socket {
        Socket::Stream if datagram.iter().any(|p| whole.starts_with(p)) => {
            return Err(format!("dgram-type address not acceptable in '{whole}'"))
        }
        Socket::Datagram if stream.iter().any(|p| whole.starts_with(p)) => {
            return Err(format!("stream-type address not acceptable in '{whole}'"))
        }
        _ => {}
    }
    let Some(port) = port.filter(|p| !p.is_empty()) else {
        return Err(format!("missing port specification in '{whole}'"));
    };
    if port.starts_with(['+', '-']) {
        return Err(format!("port offset not permitted here in '{whole}'"));
    }
    let range = match (port.split_once('-'), ports) {
        (Some(_), Ports::One) => return Err(format!("port range not permitted here in '{whole}'")),
        (Some((a, b)), Ports::Range) => match (parse_port(a), parse_port(b)) {
            (Some(a), Some(b)) if a <= b => a..=b,
            _ => return Err(format!("invalid port range '{port}'")),
        },
        // HAProxy reads the port with atoi ("8x" is port 8); moonproxy refuses what is
        // not a number.
        (None, _) => match parse_port_or_zero(port) {
            Some(0) if ports == Ports::One => return Err(format!("invalid port '{port}'")),
            Some(p) => p..=p,
            None => return Err(format!("invalid port '{port}'")),
        },
    };
    let ip = resolve_host(host, family).ok_or_else(|| format!("invalid address: '{host}' in '{whole}'"))?;
    Ok((ip, range))
}

/// `[<family>@]<host>:<port>`, one port: [`inet`] for the keywords that take nothing
/// else (`mailer` lines, a server's `socks4`).
pub fn ip_port(s: &str) -> Result<SocketAddr, String> {
    inet(s, Ports::One, Socket::Stream).map(|(ip, ports)| SocketAddr::new(ip, *ports.start()))
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
    fn one_reader_with_haproxys_words() {
        let one = ip_port;
        let range = |s: &str| inet(s, Ports::Range, Socket::Datagram);
        assert_eq!(one("127.0.0.1:25"), Ok("127.0.0.1:25".parse().unwrap()));
        assert_eq!(one("[::1]:25"), Ok("[::1]:25".parse().unwrap()));
        assert_eq!(one("localhost:25"), Ok("127.0.0.1:25".parse().unwrap()), "host names resolve, as in HAProxy");
        assert_eq!(one("1.2.3.4").unwrap_err(), "missing port specification in '1.2.3.4'");
        assert_eq!(one("1.2.3.4:").unwrap_err(), "missing port specification in '1.2.3.4:'");
        assert_eq!(one("127.0.0.1:0").unwrap_err(), "invalid port '0'");
        assert_eq!(one("127.0.0.1:99999").unwrap_err(), "invalid port '99999'");
        assert_eq!(one("127.0.0.1:8x").unwrap_err(), "invalid port '8x'");
        assert_eq!(one("127.0.0.1:+1").unwrap_err(), "port offset not permitted here in '127.0.0.1:+1'");
        assert_eq!(one("127.0.0.1:25-30").unwrap_err(), "port range not permitted here in '127.0.0.1:25-30'");
        assert_eq!(one("host.invalid:25").unwrap_err(), "invalid address: 'host.invalid' in 'host.invalid:25'");
        assert_eq!(one("ipv4@::1:25").unwrap_err(), "invalid address: '::1' in 'ipv4@::1:25'");
        assert!(one("unix@/x").is_err());
        assert_eq!(one("udp@127.0.0.1:25").unwrap_err(), "dgram-type address not acceptable in 'udp@127.0.0.1:25'");
        assert_eq!(range("tcp@127.0.0.1:514").unwrap_err(), "stream-type address not acceptable in 'tcp@127.0.0.1:514'");
        assert_eq!(range("127.0.0.1:80-82").map(|(_, r)| r), Ok(80..=82));
        assert_eq!(range("127.0.0.1:0").map(|(_, r)| r), Ok(0..=0), "moonproxy's ephemeral port");
        assert_eq!(range("127.0.0.1:90-80").unwrap_err(), "invalid port range '90-80'");
        assert_eq!(range("127.0.0.1:-1").unwrap_err(), "port offset not permitted here in '127.0.0.1:-1'");
    }
}
