//! `server ... track [<backend>/]<server>`: a server whose state follows another's.
//! The runtime finds the trackers when a server changes state
//! (`World::on_marked`) and calls [`Backend::set_tracked_state`] on each, which logs
//! HAProxy's `Server b/s is DOWN via b/t. ...` lines.

use super::{Backend, OpState, ServerId, StateReport};

impl Backend {
    /// Server `id` follows `via` (`backend/server`), now `op`.
    pub fn set_tracked_state(&mut self, id: ServerId, op: OpState, via: &str) -> StateReport {
        let mut report = StateReport::default();
        if self.servers[id.0].op != op {
            if let Some(check) = self.servers[id.0].check.as_mut() {
                check.force(op == OpState::Up);
            }
            self.apply_state(id, op, &format!(" via {via}"), &mut report);
        }
        report
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
