//! `server ... track [<backend>/]<server>`: a server whose state follows another's.
//! The runtime finds the trackers when a server changes state
//! (`World::on_marked`) and calls [`Backend::set_tracked_state`] on each, which logs
//! HAProxy's `Server b/s is DOWN via b/t. ...` lines.

use super::{AdminState, Backend, OpState, ServerId, StateReport};

impl Backend {
    /// Server `id` follows `via` (`backend/server`), now `op`.
    pub fn set_tracked_state(&mut self, id: ServerId, op: OpState, via: &str) -> StateReport {
        let mut report = StateReport::default();
        if self.servers[id.0].op != op {
            if let Some(check) = self.servers[id.0].check.as_mut() {
                check.force(op == OpState::Up);
            }
            if self.servers[id.0].in_maint() {
                // It takes no traffic: it follows without a word, as in HAProxy, and
                // leaves maintenance in the tracked server's state.
                self.servers[id.0].op = op;
                report.changed = true;
            } else {
                self.apply_state(id, op, &format!(" via {via}"), &mut report);
            }
        }
        report
    }

    /// Server `id` tracks `via`, in `admin` state, from the start: no message, no
    /// counter (HAProxy starts it so, silently). See [`inherit_admin_states`].
    fn start_inherited(&mut self, id: ServerId, admin: AdminState, via: String) {
        self.servers[id.0].inherited = (admin != AdminState::Ready).then(|| (admin, via.into()));
        self.recompute_eligible();
    }

    /// The server this one tracks, as `(backend name or None for this one, server)`.
    pub fn tracked(&self, id: ServerId) -> Option<(Option<&str>, &str)> {
        let t = self.servers[id.0].tuning.track.as_deref()?;
        Some(match t.split_once('/') {
            Some((b, s)) => (Some(b), s),
            None => (None, t),
        })
    }
}

/// At start-up, once the configuration (and a server-state file) set the servers' own
/// states, and when a server is added: a server tracking one in maintenance or drain
/// starts in that state "via" it, down the whole chain.
pub fn inherit_admin_states(backends: &mut [Option<Backend>]) {
    // Each round settles one more link of the chains; HAProxy refuses loops, the bound
    // only guards against one.
    for _ in 0..16 {
        let mut changes = Vec::new();
        for (bi, b) in backends.iter().enumerate() {
            let Some(b) = b else { continue };
            for (id, s) in b.iter_servers() {
                let Some((tb, ts)) = b.tracked(id) else { continue };
                let tracked = match tb {
                    None => Some(b),
                    Some(name) => backends.iter().flatten().find(|o| o.name() == name),
                };
                let Some((t, tid)) = tracked.and_then(|t| Some((t, t.server_by_name(ts)?))) else { continue };
                let admin = t.server(tid).effective_admin();
                let via = format!("{}/{}", t.name(), ts);
                let now = s.inherited_admin().map_or(AdminState::Ready, |(a, _)| a);
                if now != admin {
                    changes.push((bi, id, admin, via));
                }
            }
        }
        if changes.is_empty() {
            return;
        }
        for (bi, id, admin, via) in changes {
            if let Some(b) = backends[bi].as_mut() {
                b.start_inherited(id, admin, via);
            }
        }
    }
}
