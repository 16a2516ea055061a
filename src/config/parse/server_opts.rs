//! `server` / `default-server` settings beyond the basic ones: the PROXY protocol
//! (`send-proxy`, `send-proxy-v2`, `proxy-v2-options`, `check-send-proxy`), what
//! happens on state changes (`on-marked-down`, `on-marked-up`), `redir` and `non-stick`.
//! [`super::server`] hands each setting here first.

use crate::config::model::{SendProxy, ServerTuning};
use crate::proxy_protocol::Version;

/// The settings of this module, preset by `default-server`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MoreOpts {
    pub send_proxy: SendProxy,
    pub tuning: ServerTuning,
    /// `init-addr`: how the address is found at start-up (`None`: `last,libc`).
    pub init_addr: Option<Vec<InitAddr>>,
}

/// One method of `init-addr`, tried in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InitAddr {
    /// `last`: the server-state file; moonproxy has none, so it never succeeds.
    Last,
    /// `libc`: resolve the host name now.
    Libc,
    /// `none`: start without an address, in maintenance.
    None,
    /// An IP address to start with.
    Ip(std::net::IpAddr),
}

/// The address of a `server` line (`arg`), found as its `init-addr` says, and whether
/// the server must start in maintenance (`none`). A literal IP needs no method.
pub fn initial_address(o: &MoreOpts, arg: &str) -> Result<(crate::config::model::ServerAddr, bool), String> {
    use super::addr::{classify, Parsed};
    use crate::config::model::ServerAddr;
    let Some(methods) = &o.init_addr else { return super::server::parse_server_addr(arg).map(|a| (a, false)) };
    let Parsed::Inet { host, port, .. } = classify(arg) else { return super::server::parse_server_addr(arg).map(|a| (a, false)) };
    if host.parse::<std::net::IpAddr>().is_ok() || host.is_empty() || host == "*" {
        return super::server::parse_server_addr(arg).map(|a| (a, false));
    }
    let port = match port.filter(|p| !p.is_empty()) {
        Some(p) => Some(super::addr::parse_port_or_zero(p).ok_or_else(|| format!("invalid port '{p}'"))?).filter(|p| *p != 0),
        None => None,
    };
    let mut last_err = format!("could not resolve address '{host}'.");
    for m in methods {
        match m {
            InitAddr::Last => {}
            InitAddr::Libc => match super::server::parse_server_addr(arg) {
                Ok(a) => return Ok((a, false)),
                Err(e) => last_err = e,
            },
            InitAddr::Ip(ip) => return Ok((ServerAddr::Inet { ip: *ip, port }, false)),
            InitAddr::None => {
                let ip = std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED);
                return Ok((ServerAddr::Inet { ip, port }, true));
            }
        }
    }
    Err(last_err)
}

/// Applies `kw` (with `value`, the next word) if it is one of this module's
/// settings: `Ok(Some(n))` with the number of words used, `Ok(None)` if not ours.
pub fn apply(o: &mut MoreOpts, kw: &str, value: Option<&str>) -> Result<Option<usize>, String> {
    let sp = &mut o.send_proxy;
    match kw {
        "send-proxy" => sp.version = Some(Version::V1),
        "send-proxy-v2" => sp.version = Some(Version::V2),
        "no-send-proxy" | "no-send-proxy-v2" => sp.version = None,
        // The client connection's TLS in a version 2 header (`crate::tls::pp2_ssl_value`).
        "send-proxy-v2-ssl" | "send-proxy-v2-ssl-cn" => {
            sp.version = Some(Version::V2);
            sp.v2_options.ssl = true;
            sp.v2_options.ssl_cn |= kw == "send-proxy-v2-ssl-cn";
        }
        "no-send-proxy-v2-ssl" => (sp.v2_options.ssl, sp.v2_options.ssl_cn) = (false, false),
        "no-send-proxy-v2-ssl-cn" => sp.v2_options.ssl_cn = false,
        "check-send-proxy" => sp.check = true,
        "no-check-send-proxy" => sp.check = false,
        "proxy-v2-options" => {
            let list = value.filter(|v| !v.is_empty()).ok_or_else(|| format!("'{kw}' expects an argument."))?;
            for opt in list.split(',') {
                match opt {
                    "authority" => sp.v2_options.authority = true,
                    "unique-id" => sp.v2_options.unique_id = true,
                    // The client connection's TLS (the SSL TLV, `crate::tls::pp2_ssl_value`).
                    "ssl" => sp.v2_options.ssl = true,
                    "cert-cn" => (sp.v2_options.ssl, sp.v2_options.ssl_cn) = (true, true),
                    "ssl-cipher" => (sp.v2_options.ssl, sp.v2_options.ssl_cipher) = (true, true),
                    // Not yet: the certificate's signature and key algorithms.
                    "cert-sig" | "cert-key" => return Err(format!("'{kw}' : argument '{opt}' is not supported by moonproxy yet")),
                    "crc32c" => sp.v2_options.crc32c = true,
                    _ => return Err(format!("'{kw}' : argument '{opt}' is not supported")),
                }
            }
            // As HAProxy: the options imply version 2.
            sp.version = Some(Version::V2);
            return Ok(Some(2));
        }
        "track" => {
            let v = value.filter(|v| !v.is_empty()).ok_or_else(|| format!("'{kw}' expects [<proxy>/]<server> as argument."))?;
            o.tuning.track = Some(v.to_string());
            return Ok(Some(2));
        }
        "on-marked-down" | "on-marked-up" | "redir" => {
            let v = value.filter(|v| !v.is_empty());
            let t = &mut o.tuning;
            match (kw, v) {
                ("on-marked-down", Some("shutdown-sessions")) => t.down_shutdown_sessions = true,
                ("on-marked-up", Some("shutdown-backup-sessions")) => t.up_shutdown_backup_sessions = true,
                ("redir", Some(prefix)) => t.redir = Some(prefix.to_string()),
                ("redir", None) => return Err(format!("'{kw}' expects <prefix> as argument.")),
                (_, v) => return Err(format!("'{kw}' expects an argument, got '{}'.", v.unwrap_or(""))),
            }
            return Ok(Some(2));
        }
        "non-stick" => o.tuning.non_stick = true,
        "init-addr" => {
            let v = value.filter(|v| !v.is_empty()).ok_or_else(|| format!("'{kw}' expects an argument."))?;
            let mut methods = Vec::new();
            for m in v.split(',') {
                methods.push(match m {
                    "last" => InitAddr::Last,
                    "libc" => InitAddr::Libc,
                    "none" => InitAddr::None,
                    ip => InitAddr::Ip(ip.parse().map_err(|_| format!("'{kw}' : unsupported method '{ip}'."))?),
                });
            }
            o.init_addr = Some(methods);
            return Ok(Some(2));
        }
        "agent-check" => o.tuning.agent.enabled = true,
        "no-agent-check" => o.tuning.agent.enabled = false,
        "slowstart" => {
            let v = value.filter(|v| !v.is_empty()).ok_or_else(|| format!("'{kw}' expects an argument."))?;
            let t = crate::config::units::parse_time(v)
                .map_err(|e| crate::config::units::time_error_message(&e, v, &format!("'{kw}'")))?;
            o.tuning.slowstart = Some(t).filter(|t| !t.is_zero());
            return Ok(Some(2));
        }
        "agent-port" | "agent-inter" | "agent-addr" | "agent-send" => {
            let v = value.filter(|v| !v.is_empty()).ok_or_else(|| format!("'{kw}' expects an argument."))?;
            let a = &mut o.tuning.agent;
            match kw {
                "agent-port" => {
                    a.port = Some(super::addr::parse_port(v).ok_or_else(|| format!("'{kw}' expects a port number, got '{v}'."))?)
                }
                "agent-inter" => {
                    let t = crate::config::units::parse_time(v)
                        .map_err(|e| crate::config::units::time_error_message(&e, v, &format!("'{kw}'")))?;
                    if t.is_zero() {
                        return Err(format!("invalid value 0 for argument '{kw}'."));
                    }
                    a.inter = Some(t);
                }
                "agent-addr" => a.addr = Some(v.parse().map_err(|_| format!("'{kw}' : invalid address: '{v}'."))?),
                _ => a.send = Some(v.to_string()),
            }
            return Ok(Some(2));
        }
        _ => return Ok(None),
    }
    Ok(Some(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxy_protocol_settings() {
        let mut o = MoreOpts::default();
        assert_eq!(apply(&mut o, "send-proxy", None), Ok(Some(1)));
        assert_eq!(o.send_proxy.version, Some(Version::V1));
        assert_eq!(apply(&mut o, "proxy-v2-options", Some("unique-id,authority")), Ok(Some(2)));
        assert_eq!(o.send_proxy.version, Some(Version::V2));
        assert!(o.send_proxy.v2_options.unique_id && o.send_proxy.v2_options.authority);
        assert!(apply(&mut o, "proxy-v2-options", Some("bogus")).is_err());
        assert!(apply(&mut o, "proxy-v2-options", None).is_err());
        assert_eq!(apply(&mut o, "no-send-proxy-v2", None), Ok(Some(1)));
        assert_eq!(o.send_proxy.version, None);
        assert_eq!(apply(&mut o, "weight", Some("1")), Ok(None));
    }

    #[test]
    fn send_proxy_v2_ssl_settings() {
        let mut o = MoreOpts::default();
        assert_eq!(apply(&mut o, "send-proxy-v2-ssl-cn", None), Ok(Some(1)));
        let v2 = o.send_proxy.v2_options;
        assert_eq!((o.send_proxy.version, v2.ssl, v2.ssl_cn, v2.ssl_cipher), (Some(Version::V2), true, true, false));
        assert_eq!(apply(&mut o, "no-send-proxy-v2-ssl-cn", None), Ok(Some(1)));
        assert!(o.send_proxy.v2_options.ssl && !o.send_proxy.v2_options.ssl_cn);
        assert_eq!(apply(&mut o, "proxy-v2-options", Some("ssl-cipher")), Ok(Some(2)));
        assert!(o.send_proxy.v2_options.ssl_cipher);
        assert_eq!(apply(&mut o, "no-send-proxy-v2-ssl", None), Ok(Some(1)));
        assert!(!o.send_proxy.v2_options.ssl);
        assert!(apply(&mut o, "proxy-v2-options", Some("cert-sig")).unwrap_err().contains("not supported by moonproxy yet"));
    }
}
