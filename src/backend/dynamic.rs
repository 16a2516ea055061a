//! Servers added and removed at run time (the CLI's `add server` and `del server`).
//!
//! A server added is appended: it takes the next [`ServerId`], so the ids held by
//! streams, queues, checks and counters for the other servers keep their meaning. A
//! server deleted keeps its slot as a tombstone ([`Server::is_deleted`]): it is
//! skipped by [`Backend::iter_servers`], [`Backend::server_by_name`] and the balancing,
//! and its `puid` becomes free for the next server added, as in HAProxy. Slots are
//! never reused, so a tombstone costs one `Server` until the process ends.

use super::{AdminState, Backend, Server, ServerId};
use crate::config::model;

/// Why `del server` refuses a server ([`Backend::deletable`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Undeletable {
    /// Another server tracks it (`track`), or it is named by a rule.
    Referenced,
    /// Not in maintenance.
    NotInMaint,
    /// Connections are established or queued on it.
    Busy,
}

impl Undeletable {
    /// HAProxy 2.6's words.
    pub fn message(self) -> &'static str {
        match self {
            Undeletable::Referenced => "This server cannot be removed at runtime due to other configuration elements pointing to it.",
            Undeletable::NotInMaint => "Only servers in maintenance mode can be deleted.",
            Undeletable::Busy => "Server still has connections attached to it, cannot remove it.",
        }
    }
}

impl Server {
    /// Removed by `del server`: kept only so its id stays taken.
    pub fn is_deleted(&self) -> bool {
        self.deleted
    }

    /// Where it was declared (`file:line`; `(null):0` for a server added at run time, as HAProxy names it).
    pub fn location(&self) -> &str {
        &self.location
    }

    /// Its id was given with `id` (`srv_f_forced_id`).
    pub fn forced_id(&self) -> bool {
        self.forced_id
    }

    /// Added at run time by `add server`.
    pub fn is_dynamic(&self) -> bool {
        self.dynamic
    }

    /// Its agent check is configured and not stopped by `disable agent`.
    pub fn agent_enabled(&self) -> bool {
        self.tuning.agent.enabled && !self.agent_paused
    }
}

impl Backend {
    /// Whether its algorithm lets servers come and go (HAProxy's "dynamic load
    /// balancing"): not `static-rr`, not a map-based hash.
    pub fn allows_dynamic_servers(&self) -> bool {
        use crate::config::model::Balance;
        match self.lb.algo() {
            Balance::StaticRr => false,
            Balance::Source | Balance::Uri(_) | Balance::UrlParam { .. } | Balance::Hdr { .. } | Balance::RdpCookie { .. } => self.lb.is_consistent(),
            Balance::RoundRobin | Balance::LeastConn | Balance::First | Balance::Random { .. } => true,
        }
    }

    /// The `puid` a new server without `id` gets: the smallest one no live server has.
    pub fn next_free_puid(&self) -> u32 {
        let mut used: Vec<u32> = self.iter_servers().map(|(_, s)| s.puid).collect();
        used.sort_unstable();
        let mut next = 1;
        for id in used {
            if id == next {
                next += 1;
            } else if id > next {
                break;
            }
        }
        next
    }

    /// The live server with this `puid`.
    pub fn server_by_puid(&self, puid: u32) -> Option<&Server> {
        self.iter_servers().map(|(_, s)| s).find(|s| s.puid == puid)
    }

    /// Appends a server built from `conf` (the words of `add server`), with `puid`.
    /// As in HAProxy, it starts in maintenance unless `conf` says `enabled`
    /// (`start_ready`), and its health check, if any, stays off until `enable health`.
    pub fn add_server(&mut self, conf: &model::Server, puid: u32, start_ready: bool) -> ServerId {
        let mut s = Server::from_config(conf, puid);
        s.dynamic = true;
        s.forced_id = conf.id.is_some();
        if !start_ready {
            s.admin = AdminState::Maint;
        }
        // Its agent, like its check, waits for `enable agent`.
        s.agent_paused = s.tuning.agent.enabled;
        // A dynamic server with `check` starts with its check configured but not
        // running (`srv_check_state` 2, "no check"; the caller disables it once the
        // check slots are made), at health 0: once `enable health` starts it, the
        // first failure takes the server DOWN, as in HAProxy.
        if let Some(c) = s.check.as_mut() {
            c.force(false);
            s.check_pending = true;
        }
        self.servers.push(s);
        self.dynamic_limits = self.servers.iter().any(|s| !s.deleted && s.minconn < s.maxconn);
        self.refresh_limits();
        self.recompute_eligible();
        ServerId(self.servers.len() - 1)
    }

    /// Whether `del server` may remove server `id`, tested in HAProxy's order, as far
    /// as this backend knows (the caller checks that no server of any backend
    /// `track`s it, and that no other thread has connections on it).
    pub fn deletable(&self, id: ServerId) -> Result<(), Undeletable> {
        let s = &self.servers[id.0];
        if s.referenced {
            return Err(Undeletable::Referenced);
        }
        if s.admin != AdminState::Maint {
            return Err(Undeletable::NotInMaint);
        }
        if s.served > 0 || s.queue.len() > 0 {
            return Err(Undeletable::Busy);
        }
        Ok(())
    }

    /// Marks server `id` deleted (check [`Backend::deletable`] first).
    pub fn delete_server(&mut self, id: ServerId) {
        let s = &mut self.servers[id.0];
        s.deleted = true;
        s.check = None;
        s.disabled_check = None;
        self.dynamic_limits = self.servers.iter().any(|s| !s.deleted && s.minconn < s.maxconn);
        self.recompute_eligible();
    }

    /// Marks server `id` as named by the configuration outside its `server` line (a
    /// `use-server` rule...), which `del server` refuses.
    pub fn set_referenced(&mut self, id: ServerId) {
        self.servers[id.0].referenced = true;
    }

    /// `enable agent` / `disable agent`: while stopped, no agent probe starts and what a
    /// probe already running answers is ignored.
    pub fn set_agent_paused(&mut self, id: ServerId, paused: bool) {
        self.servers[id.0].agent_paused = paused;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::model::{Balance, Location, Proxy, Server as ServerConf, ServerAddr};

    fn conf(name: &str, port: u16) -> ServerConf {
        let loc = Location { file: "t.cfg".into(), line: 1 };
        ServerConf::new(name, loc, ServerAddr::Inet { ip: [127, 0, 0, 1].into(), port: Some(port) })
    }

    fn backend() -> Backend {
        let p = Proxy { name: "be".into(), balance: Balance::RoundRobin, servers: vec![conf("s1", 1), conf("s2", 2)], ..Proxy::default() };
        Backend::from_config(&p)
    }

    #[test]
    fn added_servers_take_free_ids_and_start_in_maintenance() {
        let mut b = backend();
        let puid = b.next_free_puid();
        assert_eq!(puid, 3);
        let id = b.add_server(&conf("d1", 3), puid, false);
        assert_eq!(b.server(id).admin_state(), AdminState::Maint);
        assert_eq!(b.eligible_servers().len(), 2);
        assert_eq!(b.deletable(ServerId(0)), Err(Undeletable::NotInMaint));
        b.set_admin_state(ServerId(0), AdminState::Maint);
        b.delete_server(ServerId(0));
        assert_eq!(b.server_by_name("s1"), None);
        assert_eq!(b.next_free_puid(), 1);
        assert_eq!(b.iter_servers().map(|(_, s)| s.name()).collect::<Vec<_>>(), ["s2", "d1"]);
    }
}
