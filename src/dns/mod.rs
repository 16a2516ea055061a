//! Run-time DNS resolution of servers (`resolvers` sections, `doc/resolvers.md`).
//!
//! Servers whose line names a `resolvers` section and an FQDN are grouped by
//! (section, name, preferred family): a plain `server` is a group of one, the slots of
//! a `server-template` form one group. Each group is a [`Name`]: it is asked to the
//! section's name servers over UDP every `hold valid`, its answer's addresses are
//! dealt to the group's servers ([`assign`]), and an error (NXDOMAIN, timeout, refused)
//! that lasts longer than its `hold` puts the servers in resolution maintenance.
//!
//! [`Dns`] only decides: it returns [`Change`]s, and the reactor thread that owns it
//! (thread 1, `crate::runtime::world::dns`) applies them as the CLI's `set server addr`
//! does, on every thread. The wire format lives in [`wire`]; one resolution of a name
//! (its queries, retries and fallback family) is a [`lookup::Lookup`], which the Lua
//! HTTP client and the `do-resolve` action use too, through [`query::Query`] (its UDP
//! sockets).

pub mod lookup;
pub mod query;
pub mod wire;

use lookup::{Failure, Lookup, Step};

use crate::config::model::{Config, ResolvePrefer, Resolvers, ServerAddr};
use mio::net::UdpSocket;
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

/// What the reactor thread must apply to a server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    /// The server's address becomes `to` (its port is kept); `by`: the name server that
    /// answered, as `<resolvers>/<nameserver>`.
    Addr { be: usize, srv: usize, from: Option<IpAddr>, to: IpAddr, by: String },
    /// Into resolution maintenance, for `reason` ("DNS NX status" ...).
    Maint { be: usize, srv: usize, reason: &'static str },
    /// Out of resolution maintenance: `fqdn` resolves again.
    Ready { be: usize, srv: usize, fqdn: String },
}

/// The maintenance reason of a template slot left without an address (sic: HAProxy's
/// words end with a space).
const NO_IP: &str = "No IP for server ";

/// How a resolution ended: the answer's addresses, or why none.
type Outcome = Result<Vec<IpAddr>, Failure>;

/// One server of a [`Name`]'s group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    pub be: usize,
    pub srv: usize,
    /// The address the server has now (`None`: none yet).
    pub ip: Option<IpAddr>,
    /// In resolution maintenance.
    pub maint: bool,
    /// Since when its address is missing from the answers (`hold obsolete` keeps it).
    pub missing_since: Option<Instant>,
}

/// The context of one [`assign`]: the name, who answered, and when.
pub struct Dealing<'a> {
    pub fqdn: &'a str,
    /// `<resolvers>/<nameserver>`.
    pub by: &'a str,
    pub now: Instant,
    /// `hold obsolete`: how long a server keeps an address the answers no longer have.
    pub obsolete: std::time::Duration,
    /// `resolve-opts allow-dup-ip`: servers of the group may share an address.
    pub allow_dup: bool,
}

/// A name resolved for a group of servers.
struct Name {
    section: usize,
    fqdn: String,
    prefer: ResolvePrefer,
    nets: Vec<(IpAddr, u8)>,
    /// `resolve-opts allow-dup-ip` (of the group's first server).
    allow_dup: bool,
    members: Vec<Member>,
    /// The resolution in flight.
    query: Option<Lookup>,
    /// When the next resolution starts (while no query is in flight).
    next_at: Instant,
    /// The last valid answer (the start of the process before the first one: the
    /// servers start with the address resolved by the system then).
    last_valid: Instant,
}

/// A `resolvers` section at run time: its settings and one UDP socket per name server.
struct Section {
    conf: Resolvers,
    sockets: Vec<(SocketAddr, UdpSocket)>,
    /// Per name server, as `sockets`.
    counters: Vec<NsCounters>,
}

/// What a name server was asked and answered (`show resolvers`, HAProxy's counters and
/// order). `update`, `cname`, `cname_error`, `any_err` and `too_big` are not counted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NsCounters {
    /// Queries sent.
    pub sent: u64,
    /// Queries that could not be sent.
    pub snd_error: u64,
    /// Answers with no error.
    pub valid: u64,
    pub update: u64,
    pub cname: u64,
    pub cname_error: u64,
    pub any_err: u64,
    /// `NXDOMAIN` answers.
    pub nx: u64,
    /// Queries it left unanswered past `timeout retry`.
    pub timeout: u64,
    /// `REFUSED` answers.
    pub refused: u64,
    /// Answers with another error code.
    pub other: u64,
    /// Datagrams that are not DNS answers.
    pub invalid: u64,
    pub too_big: u64,
    /// Answers with the TC bit.
    pub truncated: u64,
    /// Answers to no query in flight (late, or to a query already answered).
    pub outdated: u64,
}

impl NsCounters {
    /// The lines of `show resolvers`, as HAProxy 2.6 prints them.
    pub fn lines(&self) -> String {
        let fields = [
            ("sent", self.sent),
            ("snd_error", self.snd_error),
            ("valid", self.valid),
            ("update", self.update),
            ("cname", self.cname),
            ("cname_error", self.cname_error),
            ("any_err", self.any_err),
            ("nx", self.nx),
            ("timeout", self.timeout),
            ("refused", self.refused),
            ("other", self.other),
            ("invalid", self.invalid),
            ("too_big", self.too_big),
            ("truncated", self.truncated),
            ("outdated", self.outdated),
        ];
        fields.iter().map(|(name, v)| format!("  {:<13}{v}\n", format!("{name}:"))).collect()
    }
}

/// The resolution task of one process.
pub struct Dns {
    sections: Vec<Section>,
    names: Vec<Name>,
}

/// The reserved token slots of the name-server sockets start here
/// (`crate::reactor::token::dns`).
pub const FIRST_SLOT: usize = 2;

impl Dns {
    /// The names to resolve in `config`; `None` when no server uses a `resolvers`
    /// section. Backends and servers are numbered as in the configuration (the farm's
    /// order).
    pub fn from_config(config: &Config, now: Instant) -> std::io::Result<Option<Dns>> {
        if config.server_resolutions.is_empty() {
            return Ok(None);
        }
        let mut sections = Vec::new();
        for conf in &config.resolvers {
            let mut sockets = Vec::new();
            for (_, addr) in &conf.nameservers {
                let local: SocketAddr = if addr.is_ipv4() { ([0, 0, 0, 0], 0).into() } else { (std::net::Ipv6Addr::UNSPECIFIED, 0).into() };
                sockets.push((*addr, UdpSocket::bind(local)?));
            }
            let counters = vec![NsCounters::default(); sockets.len()];
            sections.push(Section { conf: conf.clone(), sockets, counters });
        }
        let mut names: Vec<Name> = Vec::new();
        for r in &config.server_resolutions {
            let Some(section) = config.resolvers.iter().position(|s| s.name == r.resolvers) else { continue };
            let Some(be) = config.proxies.iter().position(|p| p.name == r.proxy && p.cap.backend) else { continue };
            let Some(srv) = config.proxies[be].servers.iter().position(|s| s.name == r.server) else { continue };
            let ip = match &config.proxies[be].servers[srv].addr {
                ServerAddr::Inet { ip, .. } | ServerAddr::PortOffset { ip, .. } => Some(*ip),
                ServerAddr::Resolved { addr, .. } => Some(addr.ip()),
                _ => None,
            };
            let member = Member { be, srv, ip, maint: false, missing_since: None };
            let same = |n: &&mut Name| {
                n.section == section && n.fqdn.eq_ignore_ascii_case(&r.fqdn) && n.prefer == r.prefer && n.members[0].be == be
            };
            match names.iter_mut().find(same) {
                Some(n) => n.members.push(member),
                None => names.push(Name {
                    section,
                    fqdn: r.fqdn.to_ascii_lowercase(),
                    prefer: r.prefer,
                    nets: r.nets.clone(),
                    allow_dup: r.allow_dup_ip,
                    members: vec![member],
                    query: None,
                    next_at: now,
                    last_valid: now,
                }),
            }
        }
        Ok(Some(Dns { sections, names }))
    }

    /// Registers the sockets with the reactor: socket `i` (counting over every section)
    /// gets `token(i)`.
    pub fn register(&mut self, registry: &mio::Registry, token: impl Fn(usize) -> mio::Token) -> std::io::Result<()> {
        let sockets = self.sections.iter_mut().flat_map(|s| s.sockets.iter_mut());
        for (i, (_, sock)) in sockets.enumerate() {
            registry.register(sock, token(i), mio::Interest::READABLE)?;
        }
        Ok(())
    }

    /// The counters of every section's name servers: (section, name server id, counters).
    pub fn counters(&self) -> Vec<(&str, &str, NsCounters)> {
        self.sections
            .iter()
            .flat_map(|s| s.conf.nameservers.iter().zip(&s.counters).map(move |((id, _), c)| (s.conf.name.as_str(), id.as_str(), *c)))
            .collect()
    }

    /// The next moment [`Dns::on_timer`] has something to do.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.names.iter().map(|n| n.query.as_ref().map_or(n.next_at, Lookup::deadline)).min()
    }

    /// Starts the resolutions that are due, sends again the queries left unanswered
    /// for `timeout retry`, and ends those that ran out of retries.
    pub fn on_timer(&mut self, now: Instant) -> Vec<Change> {
        let mut changes = Vec::new();
        for i in 0..self.names.len() {
            let n = &mut self.names[i];
            let step = match &mut n.query {
                None if n.next_at <= now => {
                    let conf = &self.sections[n.section].conf;
                    let (lookup, step) = Lookup::start(conf, n.prefer, &n.fqdn, now);
                    n.query = Some(lookup);
                    step
                }
                Some(q) if q.deadline() <= now => {
                    // Every name server of the section left the query unanswered.
                    for c in &mut self.sections[n.section].counters {
                        c.timeout += 1;
                    }
                    q.on_timeout(now)
                }
                _ => continue,
            };
            self.step(i, step, "", now, &mut changes);
        }
        changes
    }

    /// Reads the answers waiting on socket `index` (as numbered by [`Dns::register`]).
    pub fn on_readable(&mut self, index: usize, now: Instant) -> Vec<Change> {
        let mut changes = Vec::new();
        let mut buf = [0u8; 65535];
        let Some((section, k)) = self.sections.iter().enumerate().flat_map(|(i, s)| (0..s.sockets.len()).map(move |k| (i, k))).nth(index) else {
            return changes;
        };
        let conf = &self.sections[section].conf;
        let by = format!("{}/{}", conf.name, conf.nameservers[k].0);
        loop {
            let (ns, sock) = &self.sections[section].sockets[k];
            let (len, from) = match sock.recv_from(&mut buf) {
                Ok(r) => r,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                // An ICMP error reported on the socket (port unreachable...): the query
                // will time out.
                Err(_) => continue,
            };
            if from != *ns {
                continue;
            }
            let Ok(resp) = wire::parse_response(&buf[..len]) else {
                self.sections[section].counters[k].invalid += 1;
                continue;
            };
            let ours = self.on_response(&resp, &by, now, &mut changes);
            let c = &mut self.sections[section].counters[k];
            match resp.rcode {
                _ if !ours => c.outdated += 1,
                wire::RCODE_NOERROR => c.valid += 1,
                wire::RCODE_NXDOMAIN => c.nx += 1,
                wire::RCODE_REFUSED => c.refused += 1,
                _ => c.other += 1,
            }
            if resp.truncated {
                c.truncated += 1;
            }
        }
        changes
    }

    /// Hands an answer to the lookup it answers; `false`: none (a late answer).
    fn on_response(&mut self, resp: &wire::Response, by: &str, now: Instant, changes: &mut Vec<Change>) -> bool {
        for i in 0..self.names.len() {
            let Some(q) = self.names[i].query.as_mut() else { continue };
            match q.on_response(resp, now) {
                Step::Wait => {}
                step => {
                    self.step(i, step, by, now, changes);
                    return true;
                }
            }
        }
        false
    }

    /// Carries out what the lookup of name `i` asks: send its query to every name server
    /// of its section, or end the resolution.
    fn step(&mut self, i: usize, step: Step, by: &str, now: Instant, changes: &mut Vec<Change>) {
        match step {
            Step::Wait => {}
            Step::Send { query, .. } => {
                let section = &mut self.sections[self.names[i].section];
                for ((ns, sock), c) in section.sockets.iter().zip(&mut section.counters) {
                    // A failed send is a query that times out.
                    match sock.send_to(&query, *ns) {
                        Ok(_) => c.sent += 1,
                        Err(_) => c.snd_error += 1,
                    }
                }
            }
            Step::Done(outcome) => {
                self.names[i].query = None;
                self.finish(i, outcome, by, now, changes);
            }
        }
    }

    /// A resolution of name `i` ended: deal its addresses, or judge its error.
    fn finish(&mut self, i: usize, outcome: Outcome, by: &str, now: Instant, changes: &mut Vec<Change>) {
        let n = &mut self.names[i];
        let conf = &self.sections[n.section].conf;
        let hold = match &outcome {
            Ok(addrs) => {
                n.last_valid = now;
                n.next_at = now + conf.hold.valid;
                let addrs = order_by_nets(addrs, &n.nets);
                let deal = Dealing { fqdn: &n.fqdn, by, now, obsolete: conf.hold.obsolete, allow_dup: n.allow_dup };
                changes.extend(assign(&mut n.members, &addrs, &deal));
                return;
            }
            Err(Failure::Nx) => conf.hold.nx,
            Err(Failure::Timeout) => conf.hold.timeout,
            Err(Failure::Refused) => conf.hold.refused,
            Err(Failure::Other) => conf.hold.other,
        };
        // An error: try again at the next `timeout resolve`, and keep the servers on
        // their last valid address for `hold <status>`.
        n.next_at = now + conf.timeout_resolve;
        if now.duration_since(n.last_valid) < hold {
            return;
        }
        for m in n.members.iter_mut().filter(|m| !m.maint) {
            m.maint = true;
            let reason = outcome.as_ref().err().map_or(NO_IP, |f| f.text());
            changes.push(Change::Maint { be: m.be, srv: m.srv, reason });
        }
    }

}

/// The addresses in a `resolve-net` network first (in the order of the networks), the
/// others after, each part in the order of the answer.
fn order_by_nets(addrs: &[IpAddr], nets: &[(IpAddr, u8)]) -> Vec<IpAddr> {
    let rank = |ip: &IpAddr| nets.iter().position(|(net, len)| in_net(*ip, *net, *len)).unwrap_or(nets.len());
    let mut out = addrs.to_vec();
    out.sort_by_key(rank);
    out
}

fn in_net(ip: IpAddr, net: IpAddr, len: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(b)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
            u32::from(a) & mask == u32::from(b) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(b)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
            u128::from(a) & mask == u128::from(b) & mask
        }
        _ => false,
    }
}

/// Deals the addresses of a valid answer to a group's servers, one address each: a
/// server keeps its address while the answer still has it (or for `hold obsolete`
/// after it left), the others take the addresses nobody holds, in order; a server
/// left without one goes to maintenance ("No IP for server "), a server in
/// maintenance that gets one comes back. With `allow-dup-ip` an address may go to
/// several servers: none is left without one.
pub fn assign(members: &mut [Member], addrs: &[IpAddr], deal: &Dealing<'_>) -> Vec<Change> {
    let (fqdn, by) = (deal.fqdn, deal.by);
    let mut taken = vec![false; addrs.len()];
    let mut dealt: Vec<Option<IpAddr>> = vec![None; members.len()];
    for (m, slot) in members.iter_mut().zip(dealt.iter_mut()) {
        let Some(ip) = m.ip else { continue };
        match addrs.iter().position(|a| *a == ip) {
            Some(k) if !taken[k] || deal.allow_dup => {
                taken[k] = true;
                *slot = Some(ip);
                m.missing_since = None;
            }
            Some(_) => {}
            None if !m.maint => {
                let since = *m.missing_since.get_or_insert(deal.now);
                if deal.now.duration_since(since) < deal.obsolete {
                    *slot = Some(ip);
                }
            }
            None => {}
        }
    }
    for slot in dealt.iter_mut().filter(|s| s.is_none()) {
        let free = taken.iter().position(|t| !t);
        if let Some(k) = free.or_else(|| (deal.allow_dup && !addrs.is_empty()).then_some(0)) {
            taken[k] = true;
            *slot = Some(addrs[k]);
        }
    }
    let mut changes = Vec::new();
    for (m, ip) in members.iter_mut().zip(dealt) {
        match ip {
            Some(ip) => {
                if m.ip != Some(ip) {
                    m.missing_since = None;
                    changes.push(Change::Addr { be: m.be, srv: m.srv, from: m.ip, to: ip, by: by.to_string() });
                    m.ip = Some(ip);
                }
                if m.maint {
                    m.maint = false;
                    changes.push(Change::Ready { be: m.be, srv: m.srv, fqdn: fqdn.to_string() });
                }
            }
            None if !m.maint => {
                m.maint = true;
                changes.push(Change::Maint { be: m.be, srv: m.srv, reason: NO_IP });
            }
            None => {}
        }
    }
    changes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn slots(n: usize, start: &str) -> Vec<Member> {
        (0..n).map(|srv| Member { be: 0, srv, ip: Some(ip(start)), maint: false, missing_since: None }).collect()
    }

    fn deal(now: Instant, obsolete_ms: u64) -> Dealing<'static> {
        Dealing { fqdn: "web", by: "d/n", now, obsolete: std::time::Duration::from_millis(obsolete_ms), allow_dup: false }
    }

    #[test]
    fn allow_dup_ip_leaves_no_slot_without_an_address() {
        let mut m = slots(3, "127.0.0.1");
        let d = Dealing { allow_dup: true, ..deal(Instant::now(), 0) };
        let c = assign(&mut m, &[ip("10.0.0.1"), ip("10.0.0.2")], &d);
        assert!(c.iter().all(|c| matches!(c, Change::Addr { .. })), "{c:?}");
        let got: Vec<_> = m.iter().map(|m| m.ip.unwrap()).collect();
        assert_eq!(got, [ip("10.0.0.1"), ip("10.0.0.2"), ip("10.0.0.1")]);
    }

    #[test]
    fn hold_obsolete_keeps_a_vanished_address_for_a_while() {
        let t0 = Instant::now();
        let mut m = slots(2, "10.0.0.1");
        m[1].ip = Some(ip("10.0.0.2"));
        assert!(assign(&mut m, &[ip("10.0.0.1")], &deal(t0, 1000)).is_empty());
        assert!(assign(&mut m, &[ip("10.0.0.1")], &deal(t0 + std::time::Duration::from_millis(900), 1000)).is_empty());
        let c = assign(&mut m, &[ip("10.0.0.1")], &deal(t0 + std::time::Duration::from_millis(1000), 1000));
        assert_eq!(c, vec![Change::Maint { be: 0, srv: 1, reason: "No IP for server " }]);
    }

    #[test]
    fn template_slots_follow_the_record_set() {
        let mut m = slots(4, "127.0.0.1");
        let c = assign(&mut m, &[ip("10.0.0.1"), ip("10.0.0.2"), ip("10.0.0.3")], &deal(Instant::now(), 0));
        assert_eq!(c.len(), 4);
        assert_eq!(c[3], Change::Maint { be: 0, srv: 3, reason: "No IP for server " });
        let got: Vec<_> = m.iter().map(|m| m.ip).collect();
        assert_eq!(got[..3], [Some(ip("10.0.0.1")), Some(ip("10.0.0.2")), Some(ip("10.0.0.3"))]);
        // 10.0.0.2 leaves: its slot goes to maintenance, the others keep theirs.
        let c = assign(&mut m, &[ip("10.0.0.3"), ip("10.0.0.1")], &deal(Instant::now(), 0));
        assert_eq!(c, vec![Change::Maint { be: 0, srv: 1, reason: "No IP for server " }]);
        // A new record fills the first free slot, which comes back.
        let c = assign(&mut m, &[ip("10.0.0.3"), ip("10.0.0.1"), ip("10.0.0.9")], &deal(Instant::now(), 0));
        assert_eq!(c[0], Change::Addr { be: 0, srv: 1, from: Some(ip("10.0.0.2")), to: ip("10.0.0.9"), by: "d/n".into() });
        assert_eq!(c[1], Change::Ready { be: 0, srv: 1, fqdn: "web".into() });
    }

    #[test]
    fn a_single_server_keeps_an_address_still_answered() {
        let mut m = slots(1, "10.0.0.2");
        assert!(assign(&mut m, &[ip("10.0.0.1"), ip("10.0.0.2")], &deal(Instant::now(), 0)).is_empty());
        let c = assign(&mut m, &[ip("10.0.0.1")], &deal(Instant::now(), 0));
        assert_eq!(c, vec![Change::Addr { be: 0, srv: 0, from: Some(ip("10.0.0.2")), to: ip("10.0.0.1"), by: "d/n".into() }]);
    }

    #[test]
    fn resolve_net_orders_addresses() {
        let nets = [(ip("192.168.0.0"), 16)];
        assert_eq!(order_by_nets(&[ip("10.0.0.1"), ip("192.168.3.4")], &nets), vec![ip("192.168.3.4"), ip("10.0.0.1")]);
        assert!(in_net(ip("::1"), ip("::"), 0));
        assert!(!in_net(ip("10.0.0.1"), ip("::"), 0));
    }
}
