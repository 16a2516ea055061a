//! `peers` sections: their peers and where the local one listens, as HAProxy 2.6 reads
//! them (`peer <name> <addr:port>`, or `bind <addr:port>` with `server <name>
//! [<addr:port>]`), with its messages. The `table` lines are stick tables
//! (`crate::config::parse::stick`).

use crate::config::model::Location;
use crate::config::parse::addr::{classify, inet, Parsed, Ports, Socket};
use std::net::SocketAddr;

/// One `peers` section.
#[derive(Clone, Debug, Default)]
pub struct Section {
    pub name: String,
    pub location: Option<Location>,
    /// `disabled` (and not `enabled` after it).
    pub disabled: bool,
    pub peers: Vec<Peer>,
    /// `bind <addr>`: where the local peer listens (the `server` form).
    pub bind: Option<SocketAddr>,
    /// Whether `peer` lines were used (they do not mix with `bind`).
    uses_peer_lines: bool,
}

/// A `peer` or `server` line.
#[derive(Clone, Debug)]
pub struct Peer {
    pub name: String,
    /// None: a `server` line without address (the local peer in the `bind` form) or a
    /// `peer` line without one (never connected to).
    pub addr: Option<SocketAddr>,
    pub location: Location,
}

impl Section {
    pub fn new(name: &str, location: Location) -> Section {
        Section { name: name.to_string(), location: Some(location), ..Default::default() }
    }

    /// The address the local peer `local` listens on.
    pub fn listen_addr(&self, local: &str) -> Option<SocketAddr> {
        self.bind.or_else(|| self.peer(local).and_then(|p| p.addr))
    }

    pub fn peer(&self, name: &str) -> Option<&Peer> {
        self.peers.iter().find(|p| p.name == name)
    }

    /// One line of the section other than `table`: `Err` is the alert to give.
    /// `Ok(Some(w))` a warning.
    pub fn line(&mut self, args: &[String], loc: &Location) -> Result<Option<String>, String> {
        let arg = |i: usize| args.get(i).map_or("", String::as_str);
        match arg(0) {
            "disabled" => self.disabled = true,
            "enabled" => self.disabled = false,
            // Options of the peers' connections (`default-server`, `default-bind`) and a
            // log target for the section's events: accepted, moonproxy's peers do not
            // use them (doc/stick-tables.md).
            "default-server" | "default-bind" | "log" => {}
            "bind" => {
                if self.uses_peer_lines {
                    return Err("mixing \"peer\" and \"bind\" line is forbidden".into());
                }
                let addr = parse_addr(arg(1), &format!("bind {}", arg(1)))?;
                self.bind = Some(addr);
            }
            kw @ ("peer" | "server") => {
                if kw == "peer" {
                    if self.bind.is_some() {
                        return Err("mixing \"peer\" and \"bind\" line is forbidden".into());
                    }
                    self.uses_peer_lines = true;
                }
                let name = arg(1);
                if name.is_empty() {
                    return Err(format!("'{kw}' : missing name for server"));
                }
                if let Some(other) = self.peer(name) {
                    return Err(format!("'{kw} {name}' : local peer name already referenced at {}. {name}", other.location));
                }
                let addr = match arg(2) {
                    "" => None,
                    a => Some(parse_addr(a, &format!("{kw} {name}"))?),
                };
                self.peers.push(Peer { name: name.to_string(), addr, location: loc.clone() });
                let ignored = args.iter().skip(3).any(|a| matches!(a.as_str(), "check" | "init-addr" | "resolvers" | "agent-check"));
                if ignored {
                    return Ok(Some(format!("'{kw} {name}' : init_addr, resolvers, check and agent are ignored for peers.")));
                }
            }
            kw => return Err(format!("unknown keyword '{kw}' in 'peers' section")),
        }
        Ok(None)
    }

    /// Post-parse: the local peer (`-L`, `localpeer` or the host name) must be in the
    /// section; the local peer of the `bind` form has no address of its own.
    pub fn check(&self, local: &str) -> Result<(), String> {
        match self.peer(local) {
            None => Err(format!("Removing incomplete section 'peers {}' (no peer named '{local}').", self.name)),
            Some(p) if self.bind.is_some() && p.addr.is_some() => Err(format!(
                "[{}] : 'server {}/{local}' : unknown keyword '{}'. Hint: no address was expected for this server.",
                p.location,
                self.name,
                p.addr.map(|a| a.to_string()).unwrap_or_default()
            )),
            Some(_) => Ok(()),
        }
    }
}

fn parse_addr(text: &str, what: &str) -> Result<SocketAddr, String> {
    if text.is_empty() {
        return Err(format!("'{what}' : missing address"));
    }
    match classify(text) {
        Parsed::Inet { .. } => {
            let (ip, port) = inet(text, Ports::One, Socket::Stream).map_err(|e| format!("'{what}' : {e}"))?;
            Ok(SocketAddr::new(ip, *port.start()))
        }
        _ => Err(format!("'{what}' : unsupported address '{text}' (moonproxy's peers speak TCP only)")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sect(lines: &[&str]) -> Result<Section, String> {
        let mut s = Section::new("p", Location { file: "t.cfg".into(), line: 1 });
        for (i, l) in lines.iter().enumerate() {
            let args: Vec<String> = l.split_whitespace().map(String::from).collect();
            s.line(&args, &Location { file: "t.cfg".into(), line: i as u32 + 2 })?;
        }
        Ok(s)
    }

    #[test]
    fn both_forms_and_haproxys_errors() {
        let s = sect(&["peer a 127.0.0.1:1000", "peer b 127.0.0.1:1001"]).unwrap();
        assert_eq!(s.listen_addr("a"), Some("127.0.0.1:1000".parse().unwrap()));
        assert!(s.check("a").is_ok());
        assert_eq!(s.check("c").unwrap_err(), "Removing incomplete section 'peers p' (no peer named 'c').");
        let s = sect(&["bind 127.0.0.1:1000", "server a", "server b 127.0.0.1:1001"]).unwrap();
        assert_eq!(s.listen_addr("a"), Some("127.0.0.1:1000".parse().unwrap()));
        assert_eq!(sect(&["peer a 127.0.0.1"]).unwrap_err(), "'peer a' : missing port specification in '127.0.0.1'");
        assert_eq!(sect(&["peer a 127.0.0.1:1000", "bind 127.0.0.1:1000"]).unwrap_err(), "mixing \"peer\" and \"bind\" line is forbidden");
        assert_eq!(sect(&["shards 2"]).unwrap_err(), "unknown keyword 'shards' in 'peers' section");
        assert!(sect(&["peer a 127.0.0.1:1000", "peer a 127.0.0.1:1001"]).unwrap_err().contains("already referenced at t.cfg:2"));
        assert!(sect(&["disabled"]).unwrap().disabled);
    }
}
