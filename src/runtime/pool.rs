//! [`Farm`]: the [`ServerPool`] streams use, over the backend module's sans-io
//! [`Backend`]s (one per proxy with backend capability, indexed like the proxy table).

use crate::backend::{hashkey, Backend, Dequeued, Pick as BePick, ServerId, WaiterId};
use crate::config::model::{Balance, HashType};
use crate::reactor::{Ctx, Key};
use crate::stream::conn::Conn;
use crate::stream::{Attempt, IdleOffer, Pick, ServerPool, Target};
use std::net::IpAddr;

pub struct Farm {
    /// Indexed like the proxy table; `None` for frontends.
    pub backends: Vec<Option<Backend>>,
    /// Slots handed to queued streams by [`ServerPool::release`] (and by check
    /// reports), waiting for the runtime to wake those streams.
    pub handed: Vec<(usize, Dequeued)>,
    /// Indexed like the proxy table: what a request hashes to for the backends whose
    /// `balance` hashes requests (`uri`, `url_param`, `hdr`, and in TCP mode
    /// `rdp-cookie`), see [`request_key`].
    pub request_keys: Vec<Option<(Balance, HashType)>>,
    /// Idle HTTP server connections shared between clients.
    pub idle: super::idle::IdlePool,
    /// Health analyses (`observe`) triggered by streams, waiting for the runtime to
    /// apply them (`world/observe.rs`): (backend, server, what to do).
    pub observed: Vec<(usize, usize, crate::backend::observe::HealthAnalysis)>,
    /// Servers that a change asked by the CLI, Lua or the resolvers (or tracking) marked
    /// DOWN or UP, waiting for the runtime to end the sessions `on-marked-down` and
    /// `on-marked-up` say: (backend, server, new [`Server::marked_state`]).
    ///
    /// [`Server::marked_state`]: crate::backend::Server::marked_state
    pub marked: Vec<(usize, usize, crate::backend::OpState)>,
}

/// The algorithm and hash function of a backend that balances on the request.
pub fn request_key(p: &crate::config::model::Proxy) -> Option<(Balance, HashType)> {
    matches!(p.balance, Balance::Uri(_) | Balance::UrlParam { .. } | Balance::Hdr { .. } | Balance::RdpCookie { .. })
        .then(|| (p.balance.clone(), p.hash_type))
}

/// A stream's key as the backend's opaque waiter id.
pub fn waiter_of(key: Key) -> WaiterId {
    ((key.gen as u64) << 32) | key.slot as u64
}

pub fn key_of(w: WaiterId) -> Key {
    Key { slot: (w & 0xffff_ffff) as usize, gen: (w >> 32) as u32 }
}

/// Where a server's connections go (`None`: an address without port).
pub fn target_of(s: &crate::backend::Server) -> Option<Target> {
    use crate::config::model::ServerAddr;
    match s.addr() {
        ServerAddr::Unix(p) => Some(Target::Unix(p.clone())),
        ServerAddr::Abstract(n) => Some(Target::Abstract(n.clone())),
        _ => s.socket_addr().map(Target::Inet),
    }
}

impl Farm {
    /// The backends of `config`'s proxies as configured (no state file applied yet),
    /// with nothing pending: what each reactor thread starts from.
    pub fn from_config(config: &crate::config::model::Config) -> Farm {
        Farm {
            backends: config.proxies.iter().map(|p| p.cap.backend.then(|| Backend::from_config(p))).collect(),
            handed: Vec::new(),
            request_keys: config.proxies.iter().map(request_key).collect(),
            idle: super::idle::IdlePool::new(config),
            observed: Vec::new(),
            marked: Vec::new(),
        }
    }

    pub fn backend(&self, be: usize) -> &Backend {
        self.backends[be].as_ref().expect("index of a backend")
    }

    pub fn backend_mut(&mut self, be: usize) -> &mut Backend {
        self.backends[be].as_mut().expect("index of a backend")
    }

    /// Hands every free slot of `srv` to queued streams.
    pub fn drain_queue(&mut self, be: usize, srv: usize) {
        let b = self.backends[be].as_mut().expect("index of a backend");
        while let Some(d) = b.next_dequeued(ServerId(srv)) {
            self.handed.push((be, d));
        }
    }
}

impl Farm {
    /// A pick with the request's hash (`None`: not a request-hashing backend, or the
    /// request has nothing to hash).
    fn pick_hashed(&mut self, be: usize, client: Option<IpAddr>, hash: Option<u32>, avoid: Option<usize>) -> Pick {
        let b = self.backend_mut(be);
        match b.pick_keyed(client, hash, avoid.map(ServerId)) {
            BePick::Server(id) => Pick::Server { srv: id.0, addr: target_of(b.server(id)) },
            BePick::Queue => Pick::Queue { server: None },
            BePick::QueueOnServer(id) => Pick::Queue { server: Some(id.0) },
            BePick::QueueFull(_) => Pick::QueueFull,
            BePick::NoServer => Pick::NoServer,
        }
    }
}

impl ServerPool for Farm {
    fn pick(&mut self, be: usize, client: Option<IpAddr>, avoid: Option<usize>) -> Pick {
        self.pick_hashed(be, client, None, avoid)
    }

    fn pick_request(&mut self, be: usize, client: Option<IpAddr>, req: &crate::http::Request, avoid: Option<usize>) -> Pick {
        let hash = match self.request_keys.get(be) {
            Some(Some((algo, ht))) => hashkey::request_hash(algo, *ht, req),
            _ => None,
        };
        self.pick_hashed(be, client, hash, avoid)
    }

    fn pick_payload(&mut self, be: usize, client: Option<IpAddr>, data: &[u8], avoid: Option<usize>) -> Pick {
        let hash = match self.request_keys.get(be) {
            Some(Some((algo, ht))) => hashkey::payload_hash(algo, *ht, data),
            _ => None,
        };
        self.pick_hashed(be, client, hash, avoid)
    }

    fn pick_persistent(&mut self, be: usize, srv: usize, down_ok: bool) -> Option<(Pick, bool)> {
        let b = self.backend_mut(be);
        let pick = match b.pick_persistent(ServerId(srv), down_ok)? {
            BePick::Server(id) => Pick::Server { srv: id.0, addr: target_of(b.server(id)) },
            BePick::QueueOnServer(id) => Pick::Queue { server: Some(id.0) },
            BePick::QueueFull(_) => Pick::QueueFull,
            BePick::Queue | BePick::NoServer => Pick::NoServer,
        };
        Some((pick, !b.server(ServerId(srv)).is_out()))
    }

    fn release(&mut self, be: usize, srv: usize) {
        self.backend_mut(be).connection_ended(ServerId(srv));
        self.drain_queue(be, srv);
    }

    fn enqueue(&mut self, be: usize, key: Key, server: Option<usize>, priority: crate::backend::QueuePriority) -> u32 {
        self.backend_mut(be).enqueue_with(waiter_of(key), server.map(ServerId), priority) as u32
    }

    fn leave_queue(&mut self, be: usize, key: Key) {
        self.backend_mut(be).remove(waiter_of(key));
    }

    fn is_queued(&self, be: usize, key: Key) -> bool {
        self.backend(be).is_queued(waiter_of(key))
    }

    fn attach(&mut self, be: usize) {
        self.backend_mut(be).stream_attached();
    }

    fn detach(&mut self, be: usize) {
        self.backend_mut(be).stream_detached();
    }

    fn beconn(&self, be: usize) -> u32 {
        self.backend(be).beconn()
    }

    fn server_name(&self, be: usize, srv: usize) -> &str {
        self.backend(be).server(ServerId(srv)).name()
    }

    fn server_conns(&self, be: usize, srv: usize) -> u32 {
        self.backend(be).server(ServerId(srv)).current_conns()
    }

    fn record(&mut self, be: usize, srv: usize, what: Attempt) {
        let b = self.backend_mut(be);
        match what {
            Attempt::Failed => {
                b.connection_failed(ServerId(srv));
                self.observe(be, srv, crate::backend::observe::Observed::ConnectFailed);
            }
            Attempt::Retried => b.connection_retried(ServerId(srv)),
            Attempt::Redispatched => b.redispatched(ServerId(srv)),
        }
    }

    fn offer_idle(&mut self, cx: &mut Ctx<'_>, be: usize, srv: usize, conn: Conn, owner: Key, served: u32, leaving: bool) -> IdleOffer {
        self.idle.offer(cx, be, srv, conn, owner, served, leaving)
    }

    fn take_idle(&mut self, be: usize, srv: usize, owner: Key, first: bool) -> Option<(Conn, u32)> {
        self.idle.take(be, srv, owner, first)
    }

    fn idle_conns(&self, be: usize, srv: usize) -> u32 {
        self.idle.count(be, srv)
    }

    fn backend_state(&self, be: usize) -> Option<&Backend> {
        self.backends.get(be).and_then(Option::as_ref)
    }

    fn observe(&mut self, be: usize, srv: usize, event: crate::backend::observe::Observed) {
        if let Some(analysis) = self.backend_mut(be).observe(ServerId(srv), event) {
            self.observed.push((be, srv, analysis));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waiter_ids_round_trip() {
        let k = Key { slot: 12345, gen: 0xdead_beef };
        assert_eq!(key_of(waiter_of(k)), k);
    }
}
