//! Cookie persistence in the stream (`cookie` in a backend): the request's cookie is
//! read (and stripped) before the head is prepared for the server, the server it names
//! is tried before load balancing, the server's `Set-Cookie` lines are handled before
//! the response head goes to the client, and the outcome is logged in `%tsc`. What is
//! done to the messages is [`crate::http::persist`]'s part. In TCP mode, `persist
//! rdp-cookie` takes the same step with the server an RDP cookie names.

use super::proxy::ProxyRt;
use super::{Env, Pick, Stream};
use crate::http::persist::PersistTxn;
use crate::log::StreamLog;

impl Stream {
    /// The request goes to the backend: finds its persistence cookie and rewrites the
    /// `Cookie` headers for the server (`indirect`, `prefix`).
    pub(super) fn persist_request(&mut self, env: &mut Env<'_, '_>) {
        let Some(be) = self.backend else { return };
        let Some(cp) = env.proxies[be].persist.as_deref() else { return };
        let Some(h) = self.http.as_mut() else { return };
        let txn: &mut crate::http::txn::Txn = &mut h.txn;
        let Some(req) = txn.req.as_mut() else { return };
        txn.persist = cp.on_request(req, unix_now());
    }

    /// The persistence step of the server choice: the cookie's server if it can take
    /// the request. A redispatch (`avoid`) load balances, and the response then
    /// inserts the cookie of the server that answers. A down server's cookie is logged
    /// `D` and the request load balanced (unless `option persist` or a `force-persist`
    /// condition: `down_ok`).
    pub(super) fn persist_pick(&mut self, env: &mut Env<'_, '_>, be: usize, avoid: Option<usize>, down_ok: bool) -> Option<Pick> {
        if self.http.is_none() {
            return self.rdp_persist_pick(env, be, avoid, down_ok);
        }
        let p = &mut self.http.as_mut()?.txn.persist;
        if avoid.is_some() {
            // Redispatched away from the cookie's server: HAProxy then logs it as down.
            if p.direct {
                *p = PersistTxn { req: b'D', target: None, direct: false, ..*p };
            }
            return None;
        }
        let srv = p.target?;
        match env.pool.pick_persistent(be, srv, down_ok) {
            Some((pick, up)) => {
                // `option persist` sends to a down server: logged `D`.
                if !up {
                    p.req = b'D';
                }
                p.direct = true;
                Some(pick)
            }
            None => {
                *p = PersistTxn { req: b'D', target: None, direct: false, ..*p };
                None
            }
        }
    }

    /// `persist rdp-cookie(<name>)` (TCP mode): the server whose IPv4 address and port
    /// the cookie's value encodes ([`crate::backend::rdp::msts_server`]), if it can take
    /// the connection (a down one with `option persist` or `force-persist`); otherwise,
    /// or without the cookie, or on a redispatch, the connection is load balanced.
    fn rdp_persist_pick(&mut self, env: &mut Env<'_, '_>, be: usize, avoid: Option<usize>, down_ok: bool) -> Option<Pick> {
        use crate::backend::rdp;
        let name = env.proxies[be].persist_rdp.as_deref()?;
        if avoid.is_some() {
            return None;
        }
        let rdp::Cookie::Found(value) = rdp::cookie(self.req.buf.data(), Some(name.as_bytes())) else { return None };
        let addr = std::net::SocketAddr::V4(rdp::msts_server(value)?);
        let servers = env.pool.backend_state(be)?.servers();
        let named: Vec<usize> = (0..servers.len()).filter(|&i| !servers[i].is_deleted() && servers[i].socket_addr() == Some(addr)).collect();
        named.into_iter().find_map(|srv| env.pool.pick_persistent(be, srv, down_ok).map(|(pick, _)| pick))
    }

    /// `stick match|on`: the server a table remembers for the request's key, when
    /// `may_match`; the keys of `stick on|store-request` rules are kept to be stored
    /// once connected ([`Stream::stick_store`]).
    pub(super) fn stick_pick(&mut self, env: &mut Env<'_, '_>, be: usize, avoid: Option<usize>, down_ok: bool, may_match: bool) -> Option<Pick> {
        let rules = env.proxies[be].stick_rules.as_deref()?;
        let acls = &env.proxies[be].acls;
        let stuck = self.with_route_ctx(env.proxies, be, |cx| rules.on_request(acls, cx, may_match && avoid.is_none()))?;
        let b = env.pool.backend_state(be)?;
        let by_name = b.iter_servers().find(|(_, s)| !stuck.name.is_empty() && s.name() == stuck.name);
        let srv = by_name.or_else(|| b.iter_servers().find(|(_, s)| s.puid() == stuck.id))?.0 .0;
        env.pool.pick_persistent(be, srv, down_ok).map(|(pick, _)| pick)
    }

    /// The stream connects to `srv`: the keys its `stick` rules left get the server's id.
    pub(super) fn stick_store(&mut self, env: &Env<'_, '_>, be: usize, srv: usize) {
        if env.proxies[be].stick_rules.is_none() || !crate::stick::session::active() {
            return;
        }
        if let Some(s) = env.pool.backend_state(be).and_then(|b| b.servers().get(srv)) {
            if s.tuning().non_stick {
                // `non-stick`: the keys of this request are not stored, for any server.
                drop(crate::stick::session::take_stores());
            } else {
                crate::stick::persist::store_pending((s.puid(), s.name()));
            }
        }
    }

    /// `stick store-response` on the server's response head.
    pub(super) fn stick_response(&mut self, proxies: &[ProxyRt], pool: &dyn super::ServerPool) {
        let Some(side) = self.server.as_deref() else { return };
        let (be, srv) = (side.be(), side.srv());
        let Some(rules) = proxies[be].stick_rules.as_deref() else { return };
        let Some(s) = pool.backend_state(be).and_then(|b| b.servers().get(srv)).filter(|s| !s.tuning().non_stick) else { return };
        self.with_route_ctx(proxies, be, |cx| rules.on_response(&proxies[be].acls, cx, (s.puid(), s.name())));
    }

    /// The server's response head, before it goes to the client: its `Set-Cookie`
    /// lines (insert, rewrite, prefix, preserve, nocache).
    pub(super) fn persist_response(&mut self, proxies: &[ProxyRt]) {
        let Some(side) = self.server.as_deref() else { return };
        let (be, srv) = (side.be(), side.srv());
        let Some(cp) = proxies[be].persist.as_deref() else { return };
        let Some(h) = self.http.as_mut() else { return };
        let txn: &mut crate::http::txn::Txn = &mut h.txn;
        let (Some(req), Some(res)) = (txn.req.as_ref(), txn.res.as_mut()) else { return };
        cp.on_response(&mut txn.persist, srv, &req.line.method, unix_now(), res);
    }

    /// The last two characters of `%tsc`: `--` unless the backend (the frontend when
    /// none was chosen) has a persistence cookie with a mode or `indirect`.
    pub(super) fn persist_log_flags(&self, rec: &mut StreamLog, proxies: &[ProxyRt]) {
        let Some(http) = rec.http.as_mut() else { return };
        let be = self.backend.unwrap_or(self.frontend);
        let configured = proxies[be].persist.as_deref().is_some_and(|p| p.logs_flags());
        let txn = self.http.as_ref().map(|h| h.txn.persist).unwrap_or_default();
        http.cookie_flags = txn.flags(configured);
    }
}

/// The date cookies are stamped and judged with (`maxidle`, `maxlife`), in seconds.
fn unix_now() -> u32 {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    u32::try_from(secs).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use crate::backend::{Backend, Pick, ServerId};
    use crate::config::model::{Location, Proxy, Server, ServerAddr};

    fn server(name: &str) -> Server {
        let addr = ServerAddr::Inet { ip: [127, 0, 0, 1].into(), port: Some(80) };
        Server::new(name, Location { file: "t.cfg".into(), line: 1 }, addr)
    }

    #[test]
    fn the_cookies_server_takes_the_request_or_queues_on_it() {
        let mut full = server("full");
        (full.maxconn, full.maxqueue) = (1, 1);
        let mut drained = server("drained");
        drained.weight = 0;
        let mut maint = server("maint");
        maint.disabled = true;
        let p = Proxy { name: "b".into(), servers: vec![full, drained, maint], ..Proxy::default() };
        let mut b = Backend::from_config(&p);
        assert_eq!(b.pick_persistent(ServerId(0), false), Some(Pick::Server(ServerId(0))));
        assert_eq!(b.pick_persistent(ServerId(0), false), Some(Pick::QueueOnServer(ServerId(0))));
        b.enqueue(7, Some(ServerId(0)));
        assert_eq!(b.pick_persistent(ServerId(0), false), Some(Pick::QueueFull(ServerId(0))));
        // Weight 0 takes no load-balanced request, but its sticky clients.
        assert_eq!(b.pick_persistent(ServerId(1), false), Some(Pick::Server(ServerId(1))));
        // Maintenance: only with `option persist`.
        assert_eq!(b.pick_persistent(ServerId(2), false), None);
        assert_eq!(b.pick_persistent(ServerId(2), true), Some(Pick::Server(ServerId(2))));
    }
}
