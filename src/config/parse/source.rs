//! `source <addr>[:<port>] [usesrc <addr>[:<port>]|client|clientip] [interface <name>]`:
//! the local address of the connections to servers, on a backend (or in `defaults`)
//! and as a `server` / `default-server` setting. A server without its own `source`
//! takes its backend's ([`inherit`], at the end of the section, since HAProxy lets
//! the backend line come after the servers).
//!
//! The messages are HAProxy 2.6's. A server's `source` may give a port range
//! (`source 10.0.0.1:1025-65000`, HAProxy's way past 64k connections per address: each
//! connection takes a free port of the range); a backend's may not, as in HAProxy.
//! What moonproxy refuses: `usesrc hdr_ip(...)`.

use super::addr::{classify, parse_port_or_zero, resolve_host, Parsed};
use super::{Line, Parser};
use crate::config::model::{Location, Proxy, SourceConf, UseSrc};
use std::net::SocketAddr;

/// `source` in `defaults`, `backend` or `listen`.
pub fn source(p: &mut Parser, l: &Line) -> Result<(), String> {
    let words = &l.args[1..];
    if words.first().is_none_or(|w| w.is_empty()) {
        return Err("'source' expects <addr>[:<port>], and optionally 'usesrc' <addr>, and 'interface' <name>.".into());
    }
    let (addr, _) = parse_addr(&words[0], "source", false)?;
    let mut conf = SourceConf { addr, ports: None, usesrc: None, interface: None, location: l.loc.clone() };
    let mut i = 1;
    while i < words.len() {
        match words[i].as_str() {
            "usesrc" => {
                conf.usesrc = Some(parse_usesrc(words.get(i + 1).map_or("", String::as_str), false)?);
                i += 2;
            }
            "interface" => {
                let name = words.get(i + 1).filter(|w| !w.is_empty()).ok_or("'source' : missing interface name.")?;
                conf.interface = Some(name.clone());
                i += 2;
            }
            _ => return Err("'source' only supports optional keywords 'interface' and 'usesrc'.".into()),
        }
    }
    p.draft().proxy.source = Some(conf);
    Ok(())
}

/// The server setting `source` and the words after it that belong to it (`usesrc`,
/// `interface`): the setting and how many words it used. The location is the
/// server's line, set by the caller.
pub fn server_option(words: &[String]) -> Result<(SourceConf, usize), String> {
    let Some(first) = words.get(1).filter(|w| !w.is_empty()) else {
        return Err("'source' expects <addr>[:<port>[-<port>]], and optionally 'usesrc' <addr>, and 'interface' <name> as argument..".into());
    };
    let (addr, ports) = parse_addr(first, "source", true)?;
    let location = Location { file: "".into(), line: 0 };
    let mut conf = SourceConf { addr, ports, usesrc: None, interface: None, location };
    let mut i = 2;
    loop {
        match words.get(i).map(String::as_str) {
            Some("usesrc") => {
                conf.usesrc = Some(parse_usesrc(words.get(i + 1).map_or("", String::as_str), true)?);
                i += 2;
            }
            Some("interface") => {
                let name = words.get(i + 1).filter(|w| !w.is_empty()).ok_or("'server' : missing interface name.")?;
                conf.interface = Some(name.clone());
                i += 2;
            }
            _ => return Ok((conf, i)),
        }
    }
}

/// The message of a server's `usesrc` that does not follow `source`.
pub const USESRC_ALONE: &str = "'usesrc' only allowed after a 'source' statement..";

/// A server without a `source` of its own takes its backend's.
pub fn inherit(proxy: &mut Proxy) {
    let Some(src) = &proxy.source else { return };
    for s in proxy.servers.iter_mut().filter(|s| s.tuning.source.is_none()) {
        s.tuning.source = Some(src.clone());
    }
}

fn parse_usesrc(v: &str, server: bool) -> Result<UseSrc, String> {
    match v {
        "" if server => Err("'usesrc' expects <addr>[:<port>], 'client', 'clientip', or 'hdr_ip(name,#)' as argument.".into()),
        "" => Err("'usesrc' expects <addr>[:<port>], 'client', or 'clientip' as argument.".into()),
        "client" => Ok(UseSrc::Client),
        "clientip" => Ok(UseSrc::ClientIp),
        v if v.starts_with("hdr_ip(") => Err(super::not_supported("usesrc hdr_ip")),
        v => parse_addr(v, "usesrc", false).map(|(a, _)| UseSrc::Addr(a)),
    }
}

/// `<addr>[:<port>]` (and on a server `<addr>:<low>-<high>`: the address with port 0,
/// and the range), with HAProxy's words for a bad address or port.
fn parse_addr(text: &str, kw: &str, server: bool) -> Result<(SocketAddr, Option<(u16, u16)>), String> {
    let Parsed::Inet { family, host, port } = classify(text) else {
        return Err(format!("'{kw} {text}' : invalid address: '{text}' in '{text}'\n"));
    };
    let ip = resolve_host(host, family).ok_or_else(|| format!("'{kw} {text}' : invalid address: '{host}' in '{text}'\n"))?;
    let parse_port = |p: &str| parse_port_or_zero(p).ok_or_else(|| format!("'{kw} {text}' : invalid port '{p}'"));
    match port {
        None | Some("") => Ok((SocketAddr::new(ip, 0), None)),
        Some(p) if p.starts_with('+') || p.starts_with('-') => Err(format!("'{kw} {text}' : port offset not permitted here in '{text}'")),
        Some(range) if range.contains('-') => {
            if !server {
                return Err(format!("'{kw} {text}' : port range not permitted here in '{text}'"));
            }
            let (low, high) = range.split_once('-').unwrap_or((range, ""));
            // An empty bound reads as 0, as HAProxy's `atoi` reads it.
            let bound = |b: &str| if b.is_empty() { Ok(0) } else { parse_port(b) };
            let (low, high) = (bound(low)?, bound(high)?);
            if low > high {
                return Err(format!("'{kw} {text}' : invalid port range '{low}-{high}'"));
            }
            Ok((SocketAddr::new(ip, 0), Some((low, high))))
        }
        Some(p) => Ok((SocketAddr::new(ip, parse_port(p)?), None)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        s.split(' ').map(String::from).collect()
    }

    #[test]
    fn server_source_takes_its_words() {
        let (c, used) = server_option(&words("source 127.0.0.2 usesrc clientip interface lo weight 3")).unwrap();
        assert_eq!(used, 6);
        assert_eq!(c.addr, "127.0.0.2:0".parse().unwrap());
        assert_eq!(c.usesrc, Some(UseSrc::ClientIp));
        assert_eq!(c.interface.as_deref(), Some("lo"));
        let (c, used) = server_option(&words("source 10.0.0.1:1234 usesrc 10.0.0.9:10")).unwrap();
        assert_eq!((c.addr, used), ("10.0.0.1:1234".parse().unwrap(), 4));
        assert_eq!(c.usesrc, Some(UseSrc::Addr("10.0.0.9:10".parse().unwrap())));
    }

    #[test]
    fn bad_sources_get_haproxy_words() {
        let e = |s: &str| server_option(&words(s)).unwrap_err();
        assert_eq!(e("source 127.0.0.1:99999"), "'source 127.0.0.1:99999' : invalid port '99999'");
        assert_eq!(e("source 127.0.0.1 usesrc 1.2.3.4:99999"), "'usesrc 1.2.3.4:99999' : invalid port '99999'");
        assert_eq!(e("source 1.2.3.256"), "'source 1.2.3.256' : invalid address: '1.2.3.256' in '1.2.3.256'\n");
        assert!(e("source 127.0.0.1 usesrc").starts_with("'usesrc' expects"));
        assert_eq!(e("source 127.0.0.1:2000-1000"), "'source 127.0.0.1:2000-1000' : invalid port range '2000-1000'");
        assert_eq!(e("source 127.0.0.1:1000-"), "'source 127.0.0.1:1000-' : invalid port range '1000-0'");
        assert_eq!(e("source 127.0.0.1:1000-70000"), "'source 127.0.0.1:1000-70000' : invalid port '70000'");
        assert_eq!(e("source 127.0.0.1:+1000"), "'source 127.0.0.1:+1000' : port offset not permitted here in '127.0.0.1:+1000'");
    }

    #[test]
    fn a_server_source_may_give_a_port_range() {
        let (c, _) = server_option(&words("source 127.0.0.1:1024-65000")).unwrap();
        assert_eq!((c.addr, c.ports), ("127.0.0.1:0".parse().unwrap(), Some((1024, 65000))));
        let (c, _) = server_option(&words("source 127.0.0.1:1000-1000 usesrc clientip")).unwrap();
        assert_eq!((c.ports, c.usesrc), (Some((1000, 1000)), Some(UseSrc::ClientIp)));
    }
}
