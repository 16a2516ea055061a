//! Agent checks (`agent-check`): what a server's agent answered, applied as HAProxy
//! 2.6 does. The runtime (`src/runtime/checks.rs`) connects, writes `agent-send` and
//! reads one line; [`Backend::on_agent_reply`] applies it.
//!
//! The line is made of words separated by spaces, tabs or commas; a `#` starts a
//! free-text reason that ends the line:
//! - `<n>%`: the weight becomes n% of the configured one;
//! - `maxconn:<n>`: the server's maxconn;
//! - `ready`, `drain`, `maint`: the operator state (`drain` takes no new traffic);
//! - `up`; `down`, `stopped`, `fail` (with the reason): the operational state, with
//!   HAProxy's messages (`Server b/s is DOWN, reason: Layer7 wrong status, code: 0,
//!   info: "via agent : down (gone fishing)", check duration: 0ms. ...`).
//!
//! An agent that cannot be reached changes nothing (the health check says whether the
//! server is reachable).

use super::{AdminState, Backend, OpState, ServerId, StateReport};
use std::time::Duration;

/// One line an agent sent, taken apart.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AgentReply {
    pub weight_percent: Option<u32>,
    pub maxconn: Option<u32>,
    pub admin: Option<AdminState>,
    /// `up` (true) or `down|stopped|fail` (false), with the word said.
    pub op: Option<(bool, String)>,
    pub reason: Option<String>,
}

impl AgentReply {
    pub fn parse(line: &str) -> AgentReply {
        let line = line.lines().next().unwrap_or("");
        let (words, reason) = match line.split_once('#') {
            Some((w, r)) => (w, Some(r.trim().to_string()).filter(|r| !r.is_empty())),
            None => (line, None),
        };
        let mut r = AgentReply { reason, ..AgentReply::default() };
        for w in words.split([' ', '\t', ',', '\r']).filter(|w| !w.is_empty()) {
            let lower = w.to_ascii_lowercase();
            if let Some(n) = lower.strip_suffix('%').and_then(|n| n.parse::<u32>().ok()) {
                r.weight_percent = Some(n);
            } else if let Some(n) = lower.strip_prefix("maxconn:").and_then(|n| n.parse::<u32>().ok()) {
                r.maxconn = Some(n);
            } else {
                match lower.as_str() {
                    "ready" => r.admin = Some(AdminState::Ready),
                    "drain" => r.admin = Some(AdminState::Drain),
                    "maint" => r.admin = Some(AdminState::Maint),
                    "up" => r.op = Some((true, lower)),
                    "down" | "stopped" | "fail" => r.op = Some((false, lower)),
                    _ => {}
                }
            }
        }
        r
    }
}

impl Backend {
    /// Applies what the agent of server `id` answered (`line`), `duration` after the
    /// probe started. The messages and the report are those of the state changes made.
    pub fn on_agent_reply(&mut self, id: ServerId, line: &str, duration: Duration) -> StateReport {
        let mut reply = AgentReply::parse(line);
        if self.servers[id.0].agent_paused {
            // `disable agent` while a probe ran: what would change the weight is ignored.
            reply.weight_percent = None;
            reply.admin = reply.admin.filter(|a| *a != AdminState::Drain);
        }
        let mut report = StateReport::default();
        let merge = |r: StateReport, report: &mut StateReport| {
            report.changed |= r.changed;
            report.messages.extend(r.messages);
            report.assigned.extend(r.assigned);
            report.redispatch.extend(r.redispatch);
        };
        if let Some(pct) = reply.weight_percent {
            let w = (u64::from(self.servers[id.0].iweight) * u64::from(pct) / 100).min(256) as u32;
            let r = self.set_weight(id, w);
            merge(r, &mut report);
        }
        if let Some(n) = reply.maxconn {
            let r = self.set_maxconn(id, n);
            merge(r, &mut report);
        }
        if let Some(admin) = reply.admin {
            let r = self.set_admin_state(id, admin);
            merge(r, &mut report);
        }
        if let Some((up, word)) = reply.op {
            let info = match &reply.reason {
                Some(reason) => format!("via agent : {word} ({reason})"),
                None => format!("via agent : {word}"),
            };
            let ms = duration.as_millis();
            let (op, status) = if up { (OpState::Up, "Layer7 check passed") } else { (OpState::Down, "Layer7 wrong status") };
            if self.servers[id.0].op != op && self.servers[id.0].effective_admin() != AdminState::Maint {
                let reason = format!(", reason: {status}, code: 0, info: \"{info}\", check duration: {ms}ms");
                let mut r = StateReport::default();
                if let Some(check) = self.servers[id.0].check.as_mut() {
                    check.force(up);
                }
                self.apply_state(id, op, &reason, &mut r);
                merge(r, &mut report);
            }
        }
        report
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies() {
        let r = AgentReply::parse("75%\n");
        assert_eq!(r.weight_percent, Some(75));
        let r = AgentReply::parse("ready 50%,maxconn:10\n");
        assert_eq!((r.admin, r.weight_percent, r.maxconn), (Some(AdminState::Ready), Some(50), Some(10)));
        let r = AgentReply::parse("down #gone fishing\n");
        assert_eq!(r.op, Some((false, "down".into())));
        assert_eq!(r.reason.as_deref(), Some("gone fishing"));
        assert_eq!(AgentReply::parse("UP").op, Some((true, "up".into())));
        assert_eq!(AgentReply::parse("bogus"), AgentReply::default());
    }
}
