//! `server` / `default-server` settings beyond the basic ones: the PROXY protocol
//! (`send-proxy`, `send-proxy-v2`, `proxy-v2-options`, `check-send-proxy`), what
//! happens on state changes (`on-marked-down`, `on-marked-up`), `redir`, `non-stick` and
//! `stick`, and the server connection's protocol and socket (`proto`, `ws`, `tcp-ut`,
//! `tfo`, `pool-low-conn`: [`connection_option`]).
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
    if let Some(used) = connection_option(o, kw, value)? {
        return Ok(Some(used));
    }
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
                    "cert-sig" => (sp.v2_options.ssl, sp.v2_options.cert_sig) = (true, true),
                    "cert-key" => (sp.v2_options.ssl, sp.v2_options.cert_key) = (true, true),
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
        // HAProxy 2.6's way to undo a `default-server non-stick`.
        "stick" => o.tuning.non_stick = false,
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

/// The server connection's protocol and socket: `proto h1|h2|fcgi` (HTTP/2 to servers:
/// `crate::stream::h2srv`), `check-proto` (the same for HTTP checks), `ws auto|h1`
/// (WebSocket goes over HTTP/1.1), `tcp-ut` (`TCP_USER_TIMEOUT`),
/// `tfo` / `no-tfo` (`TCP_FASTOPEN_CONNECT`) and `pool-low-conn` (parsed). Errors as
/// HAProxy 2.6 words them.
fn connection_option(o: &mut MoreOpts, kw: &str, value: Option<&str>) -> Result<Option<usize>, String> {
    let v = value.unwrap_or("");
    match kw {
        "proto" => match v {
            "" => return Err("'proto' : missing value.".into()),
            // `h1`, `h2`: a TCP backend refuses them (`super::server::server`).
            "h1" | "h2" => o.tuning.proto = Some(v.to_string()),
            // A FastCGI application: the backend's `use-fcgi-app` (src/config/parse/fcgi_app.rs).
            "fcgi" => o.tuning.proto = Some(v.to_string()),
            other => return Err(format!("'proto' :  unknown MUX protocol '{other}'.")),
        },
        // The framing of a `ring` section's servers (`crate::log::ring`); checked, and
        // without effect on a backend's, as in HAProxy.
        "log-proto" => match v {
            "legacy" | "octet-count" => {}
            other => return Err(format!("'log-proto' expects one of 'legacy' or 'octet-count' but got '{other}'.")),
        },
        "check-proto" => match v {
            "" => return Err("'check-proto' : missing value.".into()),
            "h1" | "h2" | "fcgi" => o.tuning.check_proto = Some(v.to_string()),
            other => return Err(format!("'check-proto' :  unknown MUX protocol '{other}'.")),
        },
        "ws" => match v {
            "auto" | "h1" => {}
            "h2" => return Err("'ws h2' : WebSocket over HTTP/2 (RFC 8441) is not supported: it goes to servers over HTTP/1.1 ('ws auto' or 'ws h1').".into()),
            _ => return Err("'ws' has to be 'auto', 'h1' or 'h2'.".into()),
        },
        "tcp-ut" => o.tuning.tcp_ut = Some(super::bind_opts::parse_tcp_ut(v).map_err(|e| format!("{e}."))?),
        "tfo" => {
            o.tuning.tfo = true;
            return Ok(Some(1));
        }
        "no-tfo" => {
            o.tuning.tfo = false;
            return Ok(Some(1));
        }
        "socks4" => {
            if v.is_empty() {
                // Sic: two dots, as HAProxy 2.6.
                return Err("'socks4' expects <addr>:<port> as argument..".into());
            }
            o.tuning.socks4 = Some(super::addr::ip_port(v).map_err(|e| format!("'socks4 {v}' : {}.", e.trim_end()))?);
        }
        "check-via-socks4" => {
            o.tuning.check_via_socks4 = true;
            return Ok(Some(1));
        }
        "pool-low-conn" => {
            if v.is_empty() {
                // Sic: two dots, as HAProxy 2.6.
                return Err("'pool-low-conn' expects <value> as argument..".into());
            }
            // Read with `atoi`, as HAProxy: a word without digits is 0.
            let digits: String = v.chars().take_while(char::is_ascii_digit).collect();
            o.tuning.pool_low_conn = if v.starts_with('-') { None } else { Some(digits.parse().unwrap_or(if digits.is_empty() { 0 } else { u32::MAX })) };
        }
        _ => return Ok(None),
    }
    Ok(Some(2))
}


/// After parsing: HAProxy's warning for a `tfo` server whose backend would not retry a
/// request lost with a fast-open connection (the connect "succeeds" at once, so a
/// failure shows as an empty response or a timeout).
pub fn check_tfo(config: &crate::config::model::Config, diags: &mut Vec<crate::config::diagnostic::Diagnostic>) {
    use crate::config::model::RetryOn;
    let needed = RetryOn(RetryOn::CONN_FAILURE.0 | RetryOn::EMPTY_RESPONSE.0 | RetryOn::RESPONSE_TIMEOUT.0);
    for p in config.proxies.iter().filter(|p| p.cap.backend && !p.retry_on.is_some_and(|r| r.contains(needed))) {
        for s in p.servers.iter().filter(|s| s.tuning.tfo) {
            let text = format!(
                "[{}] : 'server {}/{}' : server has tfo activated, the backend should be configured with at least 'conn-failure', 'empty-response' and 'response-timeout' or we wouldn't be able to retry the connection on failure.",
                s.location, p.name, s.name
            );
            diags.push(crate::config::diagnostic::Diagnostic::plain(crate::diag::Severity::Warning, Some(&s.location), text));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_settings_as_haproxy_words_them() {
        let mut o = MoreOpts::default();
        assert_eq!(apply(&mut o, "proto", Some("h1")), Ok(Some(2)));
        assert_eq!(o.tuning.proto.as_deref(), Some("h1"));
        assert_eq!(apply(&mut o, "proto", None), Err("'proto' : missing value.".into()));
        assert_eq!(apply(&mut o, "proto", Some("xx")), Err("'proto' :  unknown MUX protocol 'xx'.".into()));
        assert_eq!(apply(&mut o, "proto", Some("h2")), Ok(Some(2)));
        assert_eq!(o.tuning.proto.as_deref(), Some("h2"));
        assert_eq!(apply(&mut o, "ws", Some("auto")), Ok(Some(2)));
        assert_eq!(apply(&mut o, "ws", Some("h1")), Ok(Some(2)));
        assert_eq!(apply(&mut o, "ws", Some("x")), Err("'ws' has to be 'auto', 'h1' or 'h2'.".into()));
        assert!(apply(&mut o, "ws", Some("h2")).unwrap_err().contains("RFC 8441"));
        assert_eq!(apply(&mut o, "tcp-ut", Some("1s")), Ok(Some(2)));
        assert_eq!(o.tuning.tcp_ut, Some(std::time::Duration::from_secs(1)));
        assert_eq!(apply(&mut o, "tcp-ut", None), Err("'tcp-ut' : missing TCP User Timeout value.".into()));
        assert_eq!(apply(&mut o, "tcp-ut", Some("x")), Err("'tcp-ut' : expects a positive delay in milliseconds.".into()));
        assert_eq!((apply(&mut o, "tfo", Some("x")), o.tuning.tfo), (Ok(Some(1)), true));
        assert_eq!((apply(&mut o, "no-tfo", None), o.tuning.tfo), (Ok(Some(1)), false));
        assert_eq!(apply(&mut o, "pool-low-conn", Some("5")), Ok(Some(2)));
        assert_eq!(o.tuning.pool_low_conn, Some(5));
        assert_eq!(apply(&mut o, "pool-low-conn", None), Err("'pool-low-conn' expects <value> as argument..".into()));
        assert_eq!((apply(&mut o, "non-stick", None), o.tuning.non_stick), (Ok(Some(1)), true));
        assert_eq!((apply(&mut o, "stick", None), o.tuning.non_stick), (Ok(Some(1)), false));
    }

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
        assert_eq!(apply(&mut o, "proxy-v2-options", Some("cert-sig,cert-key")), Ok(Some(2)));
        let v2 = o.send_proxy.v2_options;
        assert!(v2.ssl && v2.cert_sig && v2.cert_key);
    }
}
