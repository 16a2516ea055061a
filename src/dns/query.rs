//! One name looked up on the reactor for a requester that waits: the UDP side of a
//! [`Lookup`].
//!
//! The Lua HTTP client (`crate::lua::api::socket`) and the `do-resolve` rules of a
//! stream (`crate::stream::resolve`) resolve a name each on their own: a [`Query`] opens
//! one UDP socket per name server of the section (a fresh source port for each lookup),
//! registers them under the requester's token, sends the lookup's queries to all of
//! them and reads the answers. The requester arms a timer at [`Query::deadline`] and
//! calls [`Query::on_readable`] / [`Query::on_timer`] from its token's events; both
//! return the outcome once the lookup is over: the answer's addresses, in its order.

use super::lookup::{Failure, Lookup, Settings, Step};
use mio::{Interest, Registry, Token};
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

/// How a query ended: the addresses of the answer (never empty), or why there are none.
pub type Outcome = Result<Vec<IpAddr>, Failure>;

/// The address HAProxy 2.6's `do-resolve` takes from an answer (never empty), and so its
/// HTTP client, which resolves with that action: the second one when there are several
/// (HAProxy rotates the answer's records once before the action reads them; checked
/// live, `tests/do_resolve.rs`, `tests/lua_httpclient_resolve.rs`), else the only one.
pub fn chosen(addrs: &[IpAddr]) -> IpAddr {
    addrs.get(1).copied().unwrap_or(addrs[0])
}

/// A lookup in flight and its sockets.
#[derive(Debug)]
pub struct Query {
    lookup: Lookup,
    settings: Arc<Settings>,
    sockets: Vec<(SocketAddr, mio::net::UdpSocket)>,
}

impl Query {
    /// Opens the sockets (registered under `token`) and sends the lookup's first query.
    /// `Err`: the lookup is over already (a name that cannot be asked), or no socket
    /// could be opened.
    pub fn start(registry: &Registry, token: Token, settings: Arc<Settings>, name: &str, now: Instant) -> Result<Query, Failure> {
        let (lookup, step) = Lookup::start(&settings.section, settings.prefer, name, now);
        let query = match step {
            Step::Send { query, .. } => query,
            Step::Done(Err(failure)) => return Err(failure),
            _ => return Err(Failure::Other),
        };
        let mut sockets = Vec::new();
        for (_, ns) in &settings.section.nameservers {
            let local: SocketAddr = if ns.is_ipv4() { (Ipv4Addr::UNSPECIFIED, 0).into() } else { (Ipv6Addr::UNSPECIFIED, 0).into() };
            let Ok(mut sock) = mio::net::UdpSocket::bind(local) else { continue };
            if registry.register(&mut sock, token, Interest::READABLE).is_ok() {
                sockets.push((*ns, sock));
            }
        }
        if sockets.is_empty() {
            return Err(Failure::Other);
        }
        let q = Query { lookup, settings, sockets };
        q.send(&query);
        Ok(q)
    }

    /// A query with no socket, which only a timer can end (unit tests of requesters).
    #[cfg(test)]
    pub fn detached(settings: Arc<Settings>, name: &str, now: Instant) -> Query {
        let (lookup, _) = Lookup::start(&settings.section, settings.prefer, name, now);
        Query { lookup, settings, sockets: Vec::new() }
    }

    /// The name asked (lower case, no trailing dot).
    pub fn name(&self) -> &str {
        self.lookup.name()
    }

    pub fn settings(&self) -> &Arc<Settings> {
        &self.settings
    }

    /// When the query in flight is given up (asked again, or the lookup fails): the
    /// requester's timer. It moves when a retry or the other family's query goes out.
    pub fn deadline(&self) -> Instant {
        self.lookup.deadline()
    }

    /// Sends a query to every name server (a failed send is a query that times out).
    fn send(&self, query: &[u8]) {
        for (ns, sock) in &self.sockets {
            let _ = sock.send_to(query, *ns);
        }
    }

    /// Reads every datagram waiting (readiness is edge-triggered: this reads until the
    /// sockets would block); the outcome once the lookup is over. A fallback query is
    /// sent from here.
    pub fn on_readable(&mut self, now: Instant) -> Option<Outcome> {
        let mut buf = [0u8; 65535];
        for k in 0..self.sockets.len() {
            loop {
                let (ns, sock) = &self.sockets[k];
                let (len, from) = match sock.recv_from(&mut buf) {
                    Ok(r) => r,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    // WouldBlock, or an ICMP error (the query then times out).
                    Err(_) => break,
                };
                if from != *ns {
                    continue;
                }
                match self.lookup.on_datagram(&buf[..len], now) {
                    Step::Wait => {}
                    Step::Send { query, .. } => self.send(&query),
                    Step::Done(r) => return Some(r),
                }
            }
        }
        None
    }

    /// The requester's timer fired (or it checks the time): asks again once the
    /// deadline passed, or gives up after `resolve_retries` queries.
    pub fn on_timer(&mut self, now: Instant) -> Option<Outcome> {
        match self.lookup.on_timeout(now) {
            Step::Done(r) => Some(r),
            Step::Send { query, .. } => {
                self.send(&query);
                None
            }
            Step::Wait => None,
        }
    }

    /// Deregisters and closes the sockets (closing the descriptors would remove them
    /// from epoll anyway; `None` when no registry is at hand).
    pub fn close(&mut self, registry: Option<&Registry>) {
        for (_, mut sock) in self.sockets.drain(..) {
            if let Some(r) = registry {
                let _ = r.deregister(&mut sock);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_second_address_of_several_is_taken() {
        let a: Vec<IpAddr> = ["10.0.0.3", "10.0.0.2", "10.0.0.4"].iter().map(|s| s.parse().unwrap()).collect();
        assert_eq!(chosen(&a), a[1]);
        assert_eq!(chosen(&a[..1]), a[0]);
    }
}
