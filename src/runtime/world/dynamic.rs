//! Servers added and deleted at run time (the CLI's `add server` and `del server`,
//! `src/cli_socket/servers.rs`), on every thread.
//!
//! Thread 1 (where the CLI runs) checks the request, makes the change in its world,
//! then posts it to the other threads and waits until they made it too (the
//! [`threads::barrier`] of `set server`), so every thread gives the server the same
//! [`ServerId`] (servers are only ever appended, in the order thread 1 decides) and
//! routes the same way once the command answers. The per-server tables of a world
//! grow with the backend: the statistics counters, the idle connection settings, the
//! FastCGI names and, on thread 1, the health and agent check slots.

use super::World;
use crate::backend::{OpState, ServerId, Undeletable};
use crate::config::model::Server as ServerConf;
use crate::http::persist::DynamicCookieOp;
use crate::reactor::Ctx;
use crate::runtime::threads::{self, Msg};
use crate::stats::counters::{StateClock, TrafficCounters};

impl World {
    /// `add server <be>/<name> <args>`: checks, adds on every thread. `Err`: HAProxy's
    /// answer.
    pub(super) fn add_server(&mut self, cx: &mut Ctx<'_>, be: usize, name: &str, args: &[String]) -> Result<(), String> {
        let b = self.farm.backend(be);
        let gtls = crate::tls::parse::GlobalTls::from_lines(&self.tls_defaults)?;
        let (conf, ready) = crate::config::parse::server::dynamic_server(name, args, self.proxies[be].mode, &gtls)?;
        if let Some(id) = conf.id {
            if let Some(other) = b.server_by_puid(id) {
                return Err(format!("'id' : custom id {id} already used at {} ('server {}').", other.location(), other.name()));
            }
        }
        if let Some(track) = conf.tuning.track.as_deref() {
            self.check_trackable(be, track)?;
        }
        if b.server_by_name(name).is_some() {
            return Err("Already exists a server with the same name in backend.".into());
        }
        let puid = conf.id.unwrap_or_else(|| b.next_free_puid());
        self.add_server_here(cx, be, &conf, puid, ready);
        threads::broadcast(|| Msg::AddServer { be, conf: Box::new(conf.clone()), puid, ready });
        threads::barrier(&self.proxies, &self.farm, cx.now);
        Ok(())
    }

    /// Whether a new server may `track` `spec` (`[<backend>/]<server>`).
    fn check_trackable(&self, be: usize, spec: &str) -> Result<(), String> {
        let (tb, ts) = match spec.split_once('/') {
            Some((b, s)) => {
                let i = self.proxies.iter().position(|p| p.name == b && p.cap.backend);
                (i.ok_or_else(|| format!("unable to find required proxy '{b}' for tracking."))?, s)
            }
            None => (be, spec),
        };
        let b = self.farm.backend(tb);
        let id = b.server_by_name(ts).ok_or_else(|| format!("unable to find required server '{ts}' for tracking."))?;
        let s = b.server(id);
        let name = format!("{}/{}", b.name(), s.name());
        if s.is_dynamic() {
            return Err(format!("unable to use {name} for tracking as it is a dynamic server."));
        }
        if s.check().is_none() && !s.check_disabled() && !s.tuning().agent.enabled && b.tracked(id).is_none() {
            return Err(format!("unable to use {name} for tracking as it does not have any check nor agent enabled."));
        }
        Ok(())
    }

    /// Adds the server on this thread: the backend and every per-server table.
    pub(super) fn add_server_here(&mut self, cx: &mut Ctx<'_>, be: usize, conf: &ServerConf, puid: u32, ready: bool) {
        let id = self.farm.backend_mut(be).add_server(conf, puid, ready);
        // A tracker starts in the state of the server it follows.
        if let Some(op) = self.tracked_state(be, id) {
            let via = conf.tuning.track.clone().unwrap_or_default();
            let _quiet = self.farm.backend_mut(be).set_tracked_state(id, op, &via);
            // And in its maintenance or drain, if it is in one.
            crate::backend::track::inherit_admin_states(&mut self.farm.backends);
        }
        let p = &mut self.proxies[be];
        p.counters.servers.resize(id.0, TrafficCounters::default());
        p.counters.servers.push(TrafficCounters::default());
        p.counters.server_states.resize(id.0 + 1, StateClock::new(cx.now));
        self.farm.idle.add_server(be, id.0, conf.idle.clone());
        if let Some(persist) = p.persist.as_mut() {
            persist.add_server(id.0, conf.cookie.clone(), &conf.addr);
        }
        // `ssl`: its connections start with a TLS handshake.
        p.server_tls.resize(id.0, None);
        p.server_tls.push(conf.tls.clone());
        if let Some(f) = p.fcgi.as_mut() {
            f.add_server(id.0, (conf.tuning.proto.as_deref() == Some("fcgi")).then(|| format!("{}/{}", p.name, conf.name).into()));
        }
        if self.thread == 1 {
            self.checks.add_server(cx, &self.farm, be, id.0);
        }
        let lua = crate::lua::api::world::ServerInfo { name: conf.name.clone(), puid, weight: conf.weight, maxconn: conf.maxconn, addr: conf.addr.clone(), deleted: false };
        crate::lua::api::world::topology_add_server(be, id.0, lua);
        // Its health check waits for `enable health`.
        self.farm.backend_mut(be).set_check_enabled(id, false);
    }

    /// The state of the server `id` of `be` tracks, if it tracks one.
    fn tracked_state(&self, be: usize, id: ServerId) -> Option<OpState> {
        let (tb, ts) = self.farm.backend(be).tracked(id)?;
        let tb = match tb {
            Some(name) => self.proxies.iter().position(|p| p.name == name && p.cap.backend)?,
            None => be,
        };
        let b = self.farm.backend(tb);
        Some(b.server(b.server_by_name(ts)?).op_state())
    }

    /// `del server <be>/<srv>`: checks, deletes on every thread.
    pub(super) fn del_server(&mut self, cx: &mut Ctx<'_>, be: usize, srv: usize) -> Result<(), String> {
        let tracked = !super::trackers_of(&self.proxies, &self.farm, be, srv).is_empty();
        let b = self.farm.backend(be);
        let verdict = if tracked { Err(Undeletable::Referenced) } else { b.deletable(ServerId(srv)) };
        let verdict = verdict.and_then(|()| {
            let busy = threads::server_busy_anywhere(&self.proxies, &self.farm, cx.now, be, srv);
            if busy {
                Err(Undeletable::Busy)
            } else {
                Ok(())
            }
        });
        verdict.map_err(|e| e.message().to_string())?;
        self.del_server_here(cx, be, srv);
        threads::broadcast(|| Msg::DelServer { be, srv });
        threads::barrier(&self.proxies, &self.farm, cx.now);
        Ok(())
    }

    /// Deletes the server on this thread.
    pub(super) fn del_server_here(&mut self, cx: &mut Ctx<'_>, be: usize, srv: usize) {
        self.farm.backend_mut(be).delete_server(ServerId(srv));
        self.farm.idle.purge_server(cx, be, srv);
        crate::lua::api::world::topology_del_server(be, srv);
        if let Some(persist) = self.proxies[be].persist.as_mut() {
            persist.remove_server(srv);
        }
        if self.thread == 1 {
            self.checks.remove_server(cx, be, srv);
        }
    }

    /// `enable|disable dynamic-cookie backend`, `set dynamic-cookie-key backend`, on
    /// every thread.
    pub(super) fn dynamic_cookie(&mut self, cx: &mut Ctx<'_>, be: usize, op: DynamicCookieOp) {
        self.dynamic_cookie_here(be, &op);
        threads::broadcast(|| Msg::DynamicCookie { be, op: op.clone() });
        threads::barrier(&self.proxies, &self.farm, cx.now);
    }

    pub(super) fn dynamic_cookie_here(&mut self, be: usize, op: &DynamicCookieOp) {
        if let Some(persist) = self.proxies.get_mut(be).and_then(|p| p.persist.as_mut()) {
            persist.dynamic_op(op);
        }
    }
}
