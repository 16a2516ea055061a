//! `source ... usesrc ...` needs IP_TRANSPARENT, which only a process with
//! CAP_NET_ADMIN may set. HAProxy finds out at the first connection (`Cannot bind to
//! tproxy source address before connect()`), and its checks and streams fail from
//! then on; moonproxy finds out before it serves, and refuses to start with an alert
//! naming the line.

use crate::config::model::{Config, SourceConf};

/// Every `source` line with `usesrc`, once each.
fn transparent_sources(config: &Config) -> Vec<&SourceConf> {
    let mut out: Vec<&SourceConf> = Vec::new();
    let all = config.proxies.iter().flat_map(|p| p.source.iter().chain(p.servers.iter().filter_map(|s| s.tuning.source.as_ref())));
    for src in all.filter(|s| s.usesrc.is_some()) {
        if !out.iter().any(|o| o.location == src.location) {
            out.push(src);
        }
    }
    out
}

/// Whether this process may bind to foreign addresses: the alerts of the lines that
/// need it when it may not.
pub fn check_transparent(config: &Config) -> Result<(), Vec<String>> {
    let sources = transparent_sources(config);
    let mut errors = Vec::new();
    for src in sources {
        if let Err(e) = try_transparent(src) {
            errors.push(format!(
                "config : parsing [{}] : 'usesrc' needs the IP_TRANSPARENT socket option, refused here ({}): run moonproxy with CAP_NET_ADMIN (or as root).",
                src.location,
                crate::listener::strerror(&e)
            ));
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

fn try_transparent(src: &SourceConf) -> std::io::Result<()> {
    let s = socket2::Socket::new(socket2::Domain::for_address(src.addr), socket2::Type::STREAM, None)?;
    if src.addr.is_ipv4() {
        s.set_ip_transparent_v4(true)
    } else {
        s.set_ip_transparent_v6(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_with_usesrc_are_probed_once() {
        let text = "defaults\n    source 127.0.0.2 usesrc clientip\nbackend b\n    server s1 127.0.0.1:1\n    server s2 127.0.0.1:2 source 127.0.0.3\n";
        let config = crate::config::parse_str("t.cfg", text, &Default::default()).expect("valid").config;
        let found = transparent_sources(&config);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].location.line, 2);
    }
}
