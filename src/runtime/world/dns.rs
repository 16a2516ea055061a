//! The DNS resolution task in the reactor (thread 1): its sockets and timer, and the
//! changes it decides ([`crate::dns::Change`]) applied to the servers the way the CLI's
//! `set server addr` and `disable server` apply theirs (on every thread).

use super::{apply_server_op, World};
use crate::diag::{self, Severity};
use crate::dns::{Change, Dns};
use crate::lua::host::ServerOp;
use crate::reactor::{token, Ctx, GlobalTimer, TimerTarget};

/// The resolution task of this thread, with the deadline its timer is armed for.
pub struct DnsTask {
    dns: Dns,
    armed: Option<std::time::Instant>,
}

impl World {
    /// Starts resolving the servers that name a `resolvers` section (thread 1 only).
    pub fn start_dns(&mut self, cx: &mut Ctx<'_>, mut dns: Dns) -> std::io::Result<()> {
        dns.register(cx.registry, token::dns)?;
        self.dns = Some(DnsTask { dns, armed: None });
        self.dns_rearm(cx);
        Ok(())
    }

    /// The counters of the name servers the task asks (none without the task):
    /// (section, name server id, counters).
    pub(super) fn dns_counters(&self) -> Vec<(String, String, crate::dns::NsCounters)> {
        let Some(task) = &self.dns else { return Vec::new() };
        task.dns.counters().into_iter().map(|(s, n, c)| (s.to_string(), n.to_string(), c)).collect()
    }

    /// A name-server socket is readable.
    pub(super) fn dns_ready(&mut self, cx: &mut Ctx<'_>, index: usize) {
        let Some(task) = &mut self.dns else { return };
        let changes = task.dns.on_readable(index, cx.now);
        self.apply_dns(cx, changes);
        self.dns_rearm(cx);
    }

    /// The task's timer fired.
    pub(super) fn dns_timer(&mut self, cx: &mut Ctx<'_>, at: std::time::Instant) {
        let Some(task) = &mut self.dns else { return };
        if task.armed != Some(at) {
            return; // superseded by an earlier deadline
        }
        task.armed = None;
        let changes = task.dns.on_timer(cx.now);
        self.apply_dns(cx, changes);
        self.dns_rearm(cx);
    }

    fn dns_rearm(&mut self, cx: &mut Ctx<'_>) {
        let Some(task) = &mut self.dns else { return };
        let Some(at) = task.dns.next_deadline() else { return };
        if task.armed.is_some_and(|armed| armed <= at) {
            return;
        }
        task.armed = Some(at);
        cx.timers.arm(at, TimerTarget::Global(GlobalTimer::Resolvers));
    }

    /// Applies the task's decisions. A changed address is announced once every thread
    /// uses it (after [`apply_server_op`]'s barrier), so whoever reads the line may count
    /// on the new address.
    fn apply_dns(&mut self, cx: &mut Ctx<'_>, changes: Vec<Change>) {
        for change in changes {
            let (be, srv, op, announce) = match change {
                Change::Addr { be, srv, from, to, by } => {
                    let from = from.map_or_else(|| "(none)".to_string(), |ip| ip.to_string());
                    let server = self.farm.backend(be).server(crate::backend::ServerId(srv)).name();
                    let text = format!("{}/{server} changed its IP from {from} to {to} by {by}.", self.proxies[be].name);
                    (be, srv, ServerOp::Addr(to, None), Some(text))
                }
                Change::Maint { be, srv, reason } => (be, srv, ServerOp::Resolution { maint: Some(reason.to_string()), fqdn: String::new() }, None),
                Change::Ready { be, srv, fqdn } => (be, srv, ServerOp::Resolution { maint: None, fqdn }, None),
            };
            // The server exists: the task was built from the same configuration.
            let _ = apply_server_op(cx, &mut self.proxies, &mut self.farm, &self.logs, be, srv, op, "DNS");
            if let Some(text) = announce {
                diag::emit(Severity::Warning, format_args!("{text}"));
                if let Some(log) = self.logs.get(be) {
                    log.logger.send(crate::config::model::Level::Notice, &text);
                }
            }
        }
        self.marked_by_request(cx);
        self.hand_out_slots(cx);
    }
}
