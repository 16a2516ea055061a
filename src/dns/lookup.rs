//! One-off name lookups for the Lua HTTP client (`core.httpclient()`), sans-io.
//!
//! HAProxy 2.6's HTTP client resolves the host of a request (`hdr(Host),host_only`)
//! with a `do-resolve` rule of its internal proxy, through the `resolvers` section named
//! by `httpclient.resolvers.id` (default: `default`, the section HAProxy builds from
//! `/etc/resolv.conf` when the configuration has none of that name), asking the family of
//! `httpclient.resolvers.prefer` first (IPv6 when unset) and the other one when the answer
//! has no address of it. A name that does not resolve makes the request answer `503`.
//!
//! This module holds the decisions: [`Lookup`] is one resolution (query, retries after
//! `timeout retry`, at most `resolve_retries` queries, the fallback family; the servers'
//! resolutions in [`super::Dns`] run on it too), [`Cache`]
//! keeps valid answers for `hold valid`, and [`configure`] records the client's section
//! at start. The I/O (a UDP socket per name server, the reactor's token and timer) is the
//! HTTP client's socket slot's, in `crate::lua::api::socket`.

use super::wire;
use crate::config::model::{Config, Location, ResolvePrefer, Resolvers};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// The HTTP client's resolution settings: its section, and the family asked first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    pub section: Resolvers,
    pub prefer: ResolvePrefer,
}

/// What [`configure`] found: the settings, or why names cannot be resolved.
static HTTPCLIENT: Mutex<Option<Result<Arc<Settings>, String>>> = Mutex::new(None);

/// Records the HTTP client's section (`httpclient.resolvers.id`, else `default`) and
/// family (`httpclient.resolvers.prefer`). Called once at start, before any thread runs
/// Lua.
pub fn configure(config: &Config) {
    let tuning = &config.global.tuning;
    let id = tuning.httpclient_resolvers_id.as_deref().unwrap_or(DEFAULT_SECTION);
    let prefer = match tuning.httpclient_resolvers_prefer.as_deref() {
        Some("ipv4") => ResolvePrefer::Ipv4,
        _ => ResolvePrefer::Ipv6,
    };
    let found = match config.resolvers.iter().find(|r| r.name == id) {
        Some(r) if r.nameservers.is_empty() => Err(format!("resolvers section '{id}' has no nameserver")),
        Some(r) => Ok(Arc::new(Settings { section: r.clone(), prefer })),
        None => Err(format!("no resolvers section '{id}'")),
    };
    *HTTPCLIENT.lock().unwrap_or_else(|e| e.into_inner()) = Some(found);
}

/// The HTTP client's settings, or why it cannot resolve names.
pub fn httpclient() -> Result<Arc<Settings>, String> {
    HTTPCLIENT
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone()
        .unwrap_or_else(|| Err("no resolvers configured".into()))
}

/// The name of the section HAProxy 2.6 creates when the configuration has none.
pub const DEFAULT_SECTION: &str = "default";

/// HAProxy 2.6's implicit `resolvers default` section: the name servers of
/// `/etc/resolv.conf` (as `parse-resolv-conf` reads them) and the default timings.
/// `None` when the configuration declares its own `default`, or when resolv.conf names
/// no server (HAProxy then goes without it too).
pub fn default_section(config: &Config, resolv_conf: &str) -> Option<Resolvers> {
    if config.resolvers.iter().any(|r| r.name == DEFAULT_SECTION) {
        return None;
    }
    let nameservers: Vec<_> = crate::config::parse::resolvers::resolv_conf_nameservers(resolv_conf)
        .into_iter()
        .enumerate()
        .map(|(n, ip)| (format!("resolv.conf.{}", n + 1), std::net::SocketAddr::new(ip, 53)))
        .collect();
    if nameservers.is_empty() {
        return None;
    }
    let location = Location { file: Arc::from("/etc/resolv.conf"), line: 0 };
    let mut section = crate::config::parse::resolvers::with_defaults(DEFAULT_SECTION, &location);
    section.nameservers = nameservers;
    Some(section)
}

/// Why a lookup failed, in HAProxy's words (those of its server maintenance reasons).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    Nx,
    Timeout,
    Refused,
    /// Another error code, an answer with no address in either family, or a name that
    /// cannot be asked (a label longer than 63 bytes ...).
    Other,
}

impl Failure {
    pub fn text(self) -> &'static str {
        match self {
            Failure::Nx => "DNS NX status",
            Failure::Timeout => "DNS timeout status",
            Failure::Refused => "DNS refused status",
            Failure::Other => "unspecified DNS error",
        }
    }
}

/// What the socket side does next for a [`Lookup`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Send this query to every name server, and wait until `deadline`.
    Send { query: Vec<u8>, deadline: Instant },
    /// Keep waiting (the datagram was not an answer to this lookup).
    Wait,
    /// Over: the addresses of the answer, in its order (never empty), or the failure.
    Done(Result<Vec<IpAddr>, Failure>),
}

/// One resolution of one name: the query in flight and what is left to try.
#[derive(Debug)]
pub struct Lookup {
    name: String,
    qtype: u16,
    /// The preferred family had no address: this asks the other one.
    fallback: bool,
    id: u16,
    /// Queries sent for the current family (`resolve_retries` bounds it).
    sent: u32,
    retries: u32,
    timeout_retry: std::time::Duration,
    payload: u16,
    deadline: Instant,
}

impl Lookup {
    /// Starts resolving `name` (a host name, not an address) with the name servers and
    /// timings of `conf`, asking `prefer` first; the first step is the query to send, or
    /// a failure for a name that cannot be asked.
    pub fn start(conf: &Resolvers, prefer: ResolvePrefer, name: &str, now: Instant) -> (Lookup, Step) {
        let mut l = Lookup {
            name: name.trim_end_matches('.').to_ascii_lowercase(),
            qtype: match prefer {
                ResolvePrefer::Ipv4 => wire::TYPE_A,
                ResolvePrefer::Ipv6 => wire::TYPE_AAAA,
            },
            fallback: false,
            id: 0,
            sent: 0,
            retries: conf.resolve_retries.max(1),
            timeout_retry: conf.timeout_retry,
            payload: conf.accepted_payload_size,
            deadline: now,
        };
        let step = l.send(now);
        (l, step)
    }

    /// The name asked (lower case, no trailing dot).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// When the query in flight is given up.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    fn send(&mut self, now: Instant) -> Step {
        self.id = next_id();
        self.sent += 1;
        self.deadline = now + self.timeout_retry;
        match wire::encode_query(self.id, &self.name, self.qtype, self.payload) {
            Some(query) => Step::Send { query, deadline: self.deadline },
            None => Step::Done(Err(Failure::Other)),
        }
    }

    /// A datagram arrived from a name server of the section.
    pub fn on_datagram(&mut self, data: &[u8], now: Instant) -> Step {
        match wire::parse_response(data) {
            Ok(resp) => self.on_response(&resp, now),
            Err(_) => Step::Wait,
        }
    }

    /// A response arrived: [`Step::Wait`] when it answers another query.
    pub fn on_response(&mut self, resp: &wire::Response, now: Instant) -> Step {
        let ours = resp.id == self.id
            && resp.question.as_ref().is_some_and(|(n, t)| *n == self.name && *t == self.qtype);
        if !ours {
            return Step::Wait;
        }
        match resp.rcode {
            wire::RCODE_NOERROR => match resp.addresses(&self.name, self.qtype) {
                addrs if !addrs.is_empty() => Step::Done(Ok(addrs)),
                _ if !self.fallback => {
                    // Nothing of the preferred family: ask the other one.
                    self.fallback = true;
                    self.sent = 0;
                    self.qtype = if self.qtype == wire::TYPE_A { wire::TYPE_AAAA } else { wire::TYPE_A };
                    self.send(now)
                }
                _ => Step::Done(Err(Failure::Other)),
            },
            // A name that does not exist has no record of any type: no fallback.
            wire::RCODE_NXDOMAIN => Step::Done(Err(Failure::Nx)),
            wire::RCODE_REFUSED => Step::Done(Err(Failure::Refused)),
            _ => Step::Done(Err(Failure::Other)),
        }
    }

    /// The deadline passed with no answer: ask again, or give up after
    /// `resolve_retries` queries.
    pub fn on_timeout(&mut self, now: Instant) -> Step {
        if now < self.deadline {
            return Step::Wait;
        }
        if self.sent >= self.retries {
            return Step::Done(Err(Failure::Timeout));
        }
        self.send(now)
    }
}

thread_local! {
    static NEXT_ID: std::cell::Cell<u16> = std::cell::Cell::new(seed());
    static CACHE: std::cell::RefCell<Cache> = std::cell::RefCell::new(Cache::default());
}

fn seed() -> u16 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    (nanos ^ std::process::id().rotate_left(16)) as u16
}

/// Query ids: a per-thread sequence with an odd stride from a random-ish start, so two
/// lookups in flight on a thread never share one.
fn next_id() -> u16 {
    NEXT_ID.with(|n| {
        let id = n.get().wrapping_add(0x9e37);
        n.set(id);
        id
    })
}

/// Valid answers kept for `hold valid` (HAProxy's resolvers keep a name's last valid
/// answer that long before asking again), per thread. Failures are not kept: the next
/// request asks again.
#[derive(Default, Debug)]
pub struct Cache {
    entries: HashMap<(String, String, bool), (IpAddr, Instant)>,
}

/// Names kept at most; when full, expired entries go first, then everything.
const CACHE_MAX: usize = 4096;

impl Cache {
    fn key(settings: &Settings, name: &str) -> (String, String, bool) {
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        (settings.section.name.clone(), name, settings.prefer == ResolvePrefer::Ipv4)
    }

    pub fn get(&self, settings: &Settings, name: &str, now: Instant) -> Option<IpAddr> {
        let (ip, until) = self.entries.get(&Self::key(settings, name))?;
        (now < *until).then_some(*ip)
    }

    pub fn put(&mut self, settings: &Settings, name: &str, ip: IpAddr, now: Instant) {
        let hold = settings.section.hold.valid;
        if hold.is_zero() {
            return;
        }
        if self.entries.len() >= CACHE_MAX {
            self.entries.retain(|_, (_, until)| *until > now);
            if self.entries.len() >= CACHE_MAX {
                self.entries.clear();
            }
        }
        self.entries.insert(Self::key(settings, name), (ip, now + hold));
    }
}

/// The thread's cached address for `name`, if still valid.
pub fn cached(settings: &Settings, name: &str, now: Instant) -> Option<IpAddr> {
    CACHE.with(|c| c.borrow().get(settings, name, now))
}

/// Keeps a valid answer for `hold valid`.
pub fn remember(settings: &Settings, name: &str, ip: IpAddr, now: Instant) {
    CACHE.with(|c| c.borrow_mut().put(settings, name, ip, now));
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn settings(prefer: ResolvePrefer) -> Settings {
        let loc = Location { file: Arc::from("t"), line: 1 };
        let mut section = crate::config::parse::resolvers::with_defaults("dns", &loc);
        section.nameservers = vec![("ns".into(), "127.0.0.1:53".parse().unwrap())];
        section.resolve_retries = 2;
        section.timeout_retry = Duration::from_millis(100);
        Settings { section, prefer }
    }

    /// The answer a server gives to `query`: `rcode` and these records.
    fn reply(query: &[u8], rcode: u8, records: &[(u16, &[u8])]) -> Vec<u8> {
        let mut out = query.to_vec();
        out[2] = 0x81;
        out[3] = 0x80 | rcode;
        out[6..8].copy_from_slice(&(records.len() as u16).to_be_bytes());
        for (t, data) in records {
            out.extend_from_slice(&[0xc0, 12]);
            out.extend_from_slice(&t.to_be_bytes());
            out.extend_from_slice(&[0, 1, 0, 0, 0, 60]);
            out.extend_from_slice(&(data.len() as u16).to_be_bytes());
            out.extend_from_slice(data);
        }
        out
    }

    fn query_of(step: &Step) -> Vec<u8> {
        match step {
            Step::Send { query, .. } => query.clone(),
            other => panic!("expected a query, got {other:?}"),
        }
    }

    fn qtype(query: &[u8]) -> u16 {
        // The question ends 4 bytes after the name's final 0 (no EDNS0 at 512).
        let mut pos = 12;
        while query[pos] != 0 {
            pos += 1 + query[pos] as usize;
        }
        u16::from_be_bytes([query[pos + 1], query[pos + 2]])
    }

    #[test]
    fn the_preferred_family_is_asked_first_then_the_other() {
        let t0 = Instant::now();
        let s = settings(ResolvePrefer::Ipv6);
        let (mut l, step) = Lookup::start(&s.section, s.prefer, "App.Test.", t0);
        assert_eq!(l.name(), "app.test");
        let q = query_of(&step);
        assert_eq!(qtype(&q), wire::TYPE_AAAA);
        // No AAAA record: the A query follows.
        let next = l.on_datagram(&reply(&q, 0, &[]), t0);
        let q2 = query_of(&next);
        assert_eq!(qtype(&q2), wire::TYPE_A);
        // An answer to the first query no longer counts.
        assert_eq!(l.on_datagram(&reply(&q, 0, &[(wire::TYPE_A, &[10, 0, 0, 1])]), t0), Step::Wait);
        assert_eq!(l.on_datagram(&reply(&q2, 0, &[(wire::TYPE_A, &[10, 0, 0, 2])]), t0), Step::Done(Ok(vec!["10.0.0.2".parse().unwrap()])));
    }

    #[test]
    fn nxdomain_ends_at_once_and_silence_after_the_retries() {
        let t0 = Instant::now();
        let s = settings(ResolvePrefer::Ipv4);
        let (mut l, step) = Lookup::start(&s.section, s.prefer, "nx.test", t0);
        let q = query_of(&step);
        assert_eq!(qtype(&q), wire::TYPE_A);
        assert_eq!(l.on_datagram(&reply(&q, wire::RCODE_NXDOMAIN, &[]), t0), Step::Done(Err(Failure::Nx)));

        let (mut l, _) = Lookup::start(&s.section, s.prefer, "quiet.test", t0);
        assert_eq!(l.on_timeout(t0 + Duration::from_millis(50)), Step::Wait, "not yet");
        let t1 = t0 + Duration::from_millis(100);
        assert!(matches!(l.on_timeout(t1), Step::Send { deadline, .. } if deadline == t1 + Duration::from_millis(100)));
        assert_eq!(l.on_timeout(t1 + Duration::from_millis(100)), Step::Done(Err(Failure::Timeout)), "resolve_retries 2");
    }

    #[test]
    fn names_that_cannot_be_asked_fail() {
        let long = format!("{}.test", "a".repeat(64));
        let s = settings(ResolvePrefer::Ipv4);
        let (_, step) = Lookup::start(&s.section, s.prefer, &long, Instant::now());
        assert_eq!(step, Step::Done(Err(Failure::Other)));
    }

    #[test]
    fn valid_answers_are_kept_for_hold_valid() {
        let s = settings(ResolvePrefer::Ipv4);
        let t0 = Instant::now();
        let mut c = Cache::default();
        c.put(&s, "App.test", "10.0.0.1".parse().unwrap(), t0);
        assert_eq!(c.get(&s, "app.test.", t0 + Duration::from_secs(9)), Some("10.0.0.1".parse().unwrap()));
        assert_eq!(c.get(&s, "app.test", t0 + Duration::from_secs(10)), None, "hold valid 10s");
        assert_eq!(c.get(&settings(ResolvePrefer::Ipv6), "app.test", t0), None, "per family preference");
    }

    #[test]
    fn the_default_section_comes_from_resolv_conf_unless_declared() {
        let mut config = Config::default();
        let d = default_section(&config, "search x\nnameserver 10.0.0.53\n").unwrap();
        assert_eq!((d.name.as_str(), d.nameservers[0].1), ("default", "10.0.0.53:53".parse().unwrap()));
        assert_eq!((d.resolve_retries, d.hold.valid), (3, Duration::from_secs(10)));
        assert!(default_section(&config, "# none\n").is_none());
        config.resolvers.push(d);
        assert!(default_section(&config, "nameserver 10.0.0.54\n").is_none(), "declared");
    }
}
