//! Idle HTTP server connections shared between clients (`http-reuse`).
//!
//! When a transaction ends on a server connection that may carry another request, the
//! stream parks it here (`aggressive`, `always`), or keeps it until its client leaves
//! and parks it then (`safe`; `never` and connections the server made private, e.g.
//! NTLM, stay with their client and close with it). Any stream going to the same
//! server may then take a parked one, under the backend's `http-reuse` rule:
//!
//! | mode         | first request of a client            | later requests           |
//! |--------------|--------------------------------------|--------------------------|
//! | `never`      | a new connection                     | its own idle connection  |
//! | `safe`       | a new connection                     | its own, else any        |
//! | `aggressive` | one that carried 2+ requests already | its own, else any        |
//! | `always`     | any                                  | its own, else any        |
//!
//! (measured on HAProxy 2.6: `tests/http_reuse.rs`). A client's own connection is the
//! one it parked last; it is preferred so that a client keeps its server when it can.
//! Among the others the most recently parked is taken (its peer is the least likely to
//! have timed it out).
//!
//! While parked a connection has its own token ([`Kind::Idle`]): a readable event
//! means the server closed it or sent something unasked, and either way it is closed.
//! It is also closed after `pool-purge-delay` without use, when its server is
//! saturated with `pool-max-conn` idle connections, when the thread's pool holds its
//! share of `tune.pool-high-fd-ratio` (25% of `maxsock` by default, as HAProxy: many
//! short-lived clients would otherwise leave one idle connection each for the whole
//! purge delay, thousands a second), and at soft stop.

use crate::config::model::{HttpReuse, IdlePoolConf};
use crate::reactor::{token, Ctx, GenSlab, Key, Kind, Ready, TimerTarget};
use crate::stream::conn::Conn;
use crate::stream::IdleOffer as Offer;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// HAProxy's default `tune.pool-high-fd-ratio`: 25% of `maxsock`.
pub const DEFAULT_HIGH_FD_RATIO: u32 = 25;

/// How many idle connections each thread's pool may hold (set once at start-up from
/// `maxsock` and `tune.pool-high-fd-ratio`; unlimited until then, as in unit tests).
static LIMIT: AtomicU64 = AtomicU64::new(u64::MAX);

/// Sets the per-thread limit of parked connections.
pub fn set_limit(n: u64) {
    LIMIT.store(n, Ordering::Relaxed);
}

struct Parked {
    be: usize,
    srv: usize,
    conn: Conn,
    /// The stream that used it last.
    owner: Key,
    /// Requests it has carried.
    served: u32,
    since: Instant,
}

#[derive(Default)]
pub struct IdlePool {
    parked: GenSlab<Parked>,
    /// Per `(backend, server)`: the parked connections, the most recent last.
    by_server: HashMap<(usize, usize), Vec<Key>>,
    /// Per proxy: `http-reuse`, and per server its pool settings.
    modes: Vec<HttpReuse>,
    confs: Vec<Vec<IdlePoolConf>>,
}

impl IdlePool {
    pub fn new(config: &crate::config::model::Config) -> IdlePool {
        IdlePool {
            modes: config.proxies.iter().map(|p| p.http_reuse).collect(),
            confs: config.proxies.iter().map(|p| p.servers.iter().map(|s| s.idle.clone()).collect()).collect(),
            ..IdlePool::default()
        }
    }

    /// The pool settings of a server added at run time (`add server`), index `srv`.
    pub fn add_server(&mut self, be: usize, srv: usize, conf: IdlePoolConf) {
        if self.confs.len() <= be {
            self.confs.resize(be + 1, Vec::new());
        }
        let confs = &mut self.confs[be];
        confs.resize(srv, IdlePoolConf::default());
        confs.push(conf);
    }

    /// The pool settings of server `srv` (`show servers conn`).
    pub fn conf(&self, be: usize, srv: usize) -> IdlePoolConf {
        self.confs.get(be).and_then(|s| s.get(srv)).cloned().unwrap_or_default()
    }

    /// Offers the connection of a finished transaction; `served` counts the requests it
    /// carried, this one included. `leaving`: its client is gone (the stream closes).
    ///
    /// Under `safe` a connection stays with its client while the client lives (HAProxy
    /// gives a client's later requests its own connection first, and a first request
    /// never takes another's), so it is shared only once the client leaves: that spares
    /// two `epoll_ctl` calls per request of a kept-alive client. `aggressive` and
    /// `always` share it at once, as a first request may take it.
    #[allow(clippy::too_many_arguments)]
    pub fn offer(&mut self, cx: &mut Ctx<'_>, be: usize, srv: usize, mut conn: Conn, owner: Key, served: u32, leaving: bool) -> Offer {
        let conf = self.conf(be, srv);
        if conf.max_conn == Some(0) {
            return Offer::Close(conn);
        }
        match self.modes.get(be).copied().unwrap_or_default() {
            HttpReuse::Never => return Offer::KeepPrivate(conn),
            HttpReuse::Safe if !leaving => return Offer::KeepPrivate(conn),
            _ => {}
        }
        if self.parked.len() as u64 >= LIMIT.load(Ordering::Relaxed) {
            return Offer::Close(conn);
        }
        let list = self.by_server.entry((be, srv)).or_default();
        if conf.max_conn.is_some_and(|max| list.len() as u32 >= max) {
            return Offer::Close(conn);
        }
        let key = self.parked.vacant_key();
        if conn.reregister(cx.registry, token::encode(Kind::Idle, key)).is_err() {
            return Offer::Close(conn);
        }
        // What the poller said for the stream's token does not carry over.
        conn.readable = false;
        conn.writable = false;
        let Some(key) = self.parked.insert(Parked { be, srv, conn, owner, served, since: cx.now }) else {
            return Offer::Pooled; // dropped: more slots than a token can name
        };
        list.push(key);
        cx.timers.arm(cx.now + conf.purge_delay, TimerTarget::Entry(Kind::Idle, key));
        Offer::Pooled
    }

    /// Connections parked, all servers together (each has a purge timer armed).
    pub fn parked(&self) -> usize {
        self.parked.len()
    }

    /// Whether `key` still names a parked connection: a purge timer armed for a
    /// connection taken since is stale, and the timer heap's compaction drops it.
    pub fn is_parked(&self, key: Key) -> bool {
        self.parked.get(key).is_some()
    }

    /// Connections parked for `(be, srv)`.
    pub fn count(&self, be: usize, srv: usize) -> u32 {
        self.by_server.get(&(be, srv)).map_or(0, |l| l.len() as u32)
    }

    /// Takes an idle connection to `(be, srv)` for a request of stream `owner`
    /// (`first`: the first request of its client connection), if the backend's
    /// `http-reuse` allows one. Returns it with the number of requests it carried; it
    /// is still registered under its idle token, the caller moves it to its own.
    pub fn take(&mut self, be: usize, srv: usize, owner: Key, first: bool) -> Option<(Conn, u32)> {
        let mode = self.modes.get(be).copied().unwrap_or_default();
        let list = self.by_server.get_mut(&(be, srv))?;
        let parked = &self.parked;
        let usable = |k: &Key| parked.get(*k).is_some_and(|p| !p.conn.readable && !p.conn.hup);
        let own = list.iter().rposition(|k| usable(k) && parked.get(*k).is_some_and(|p| p.owner == owner));
        let other = || {
            list.iter().rposition(|k| {
                usable(k)
                    && match mode {
                        HttpReuse::Never => false,
                        HttpReuse::Safe => !first,
                        HttpReuse::Aggressive => !first || parked.get(*k).is_some_and(|p| p.served >= 2),
                        HttpReuse::Always => true,
                    }
            })
        };
        let at = own.or_else(other)?;
        let key = list.remove(at);
        let p = self.parked.remove(key)?;
        Some((p.conn, p.served))
    }

    /// The poller reported on a parked connection: anything readable (data, FIN, an
    /// error) ends it.
    pub fn event(&mut self, cx: &mut Ctx<'_>, key: Key, ready: Ready) {
        if ready.readable || ready.read_closed || ready.error {
            self.close(cx, key, "closed by the server or readable while idle");
        }
    }

    /// The purge timer of a parked connection fired.
    pub fn expire(&mut self, cx: &mut Ctx<'_>, key: Key, at: Instant) {
        let Some(p) = self.parked.get(key) else { return };
        let delay = self.conf(p.be, p.srv).purge_delay;
        if p.since + delay <= at {
            self.close(cx, key, "unused for pool-purge-delay");
        }
    }

    /// Closes every parked connection to `(be, srv)` (its server went down).
    pub fn purge_server(&mut self, cx: &mut Ctx<'_>, be: usize, srv: usize) {
        for key in self.by_server.get(&(be, srv)).cloned().unwrap_or_default() {
            self.close(cx, key, "server down");
        }
    }

    /// Closes every parked connection (soft stop).
    pub fn close_all(&mut self, cx: &mut Ctx<'_>) {
        for key in self.parked.keys() {
            self.close(cx, key, "stopping");
        }
    }

    fn close(&mut self, cx: &mut Ctx<'_>, key: Key, why: &str) {
        let Some(mut p) = self.parked.remove(key) else { return };
        if let Some(list) = self.by_server.get_mut(&(p.be, p.srv)) {
            list.retain(|k| *k != key);
        }
        ::log::debug!("idle server connection fd {} closed: {why}", p.conn.raw_fd());
        p.conn.deregister(cx.registry);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reactor::{Timers, WakeQueue};
    use crate::stream::conn::Sock;

    /// Each parking arms a purge timer under the connection's new key; taking the
    /// connection leaves that timer stale, which [`IdlePool::is_parked`] tells the timer
    /// heap's compaction. (It used to keep them all: under `http-reuse always` one entry
    /// per request piled up for `pool-purge-delay`, and every reactor iteration scanned
    /// them again, 37,000 instructions a request at a thousand requests.)
    #[test]
    fn a_taken_connection_leaves_its_purge_timer_stale() {
        let poll = mio::Poll::new().unwrap();
        let (mut timers, mut wake) = (Timers::default(), WakeQueue::default());
        let mut cx = Ctx { registry: poll.registry(), timers: &mut timers, wake: &mut wake, now: Instant::now() };
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mut pool = IdlePool { modes: vec![HttpReuse::Always], confs: vec![vec![IdlePoolConf::default()]], ..IdlePool::default() };
        let owner = Key { slot: 0, gen: 0 };
        let mut conn = Conn::new(Sock::Tcp(mio::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap()));
        conn.register(cx.registry, token::encode(Kind::Client, owner)).unwrap();
        let mut keys = Vec::new();
        for _ in 0..3 {
            assert!(matches!(pool.offer(&mut cx, 0, 0, conn, owner, 2, false), Offer::Pooled));
            let key = *pool.by_server[&(0, 0)].last().unwrap();
            assert!(pool.is_parked(key) && pool.parked() == 1);
            keys.push(key);
            conn = pool.take(0, 0, owner, false).expect("the connection just parked").0;
        }
        assert_eq!(cx.timers.len(), 3, "one purge timer per parking");
        assert!(keys.iter().all(|k| !pool.is_parked(*k)), "every one of them stale");
        assert_eq!(pool.parked(), 0);
    }
}
