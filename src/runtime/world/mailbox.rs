//! What the other reactor threads ask of this one (`nbthread` > 1, see
//! [`crate::runtime::threads`]), and the signals every thread obeys.

use super::{apply_server_op_here, Phase, World};
use crate::reactor::Ctx;
use crate::runtime::threads::{self, Msg};
use crate::sys::signals::Signal;

impl World {
    /// Handles the messages in this thread's mailbox.
    pub(super) fn mailbox(&mut self, cx: &mut Ctx<'_>) {
        for msg in threads::take_messages() {
            match msg {
                Msg::Signal(sig) => self.on_signal(cx, sig),
                Msg::Server { be, srv, op } => {
                    let _ = apply_server_op_here(cx, &mut self.proxies, &mut self.farm, &self.logs, be, srv, op, "", true);
                }
                Msg::Proxy { px, op } => {
                    self.proxy_op(cx, px, op, true);
                }
                Msg::KillServerStreams { be, srv } => {
                    self.lua_deferred.push(crate::lua::host::Deferred::Kill(crate::lua::host::Sessions::Server(be, srv)));
                }
                Msg::ClearCounters { all } => self.clear_counters(all),
                Msg::AddServer { be, conf, puid, ready } => self.add_server_here(cx, be, &conf, puid, ready),
                Msg::DelServer { be, srv } => self.del_server_here(cx, be, srv),
                Msg::DynamicCookie { be, op } => self.dynamic_cookie_here(be, &op),
                Msg::Maxconn(maxconn) => {
                    self.maxconn = maxconn;
                    self.listeners_dirty = true;
                }
                Msg::Ask { from, serial, what } => {
                    threads::reply(from, serial, threads::respond(what, &self.proxies, &self.farm, cx.now));
                }
                Msg::Answer { .. } => {} // too late: the asker stopped waiting
                Msg::Exited(_) => self.peers_running = self.peers_running.saturating_sub(1),
            }
        }
        // Server changes may have handed queued streams their slots.
        self.hand_out_slots(cx);
        self.after_lua(cx);
    }

    /// A signal: read from the pipe by thread 1, which passes it on to the others.
    pub(super) fn on_signal(&mut self, cx: &mut Ctx<'_>, sig: Signal) {
        match sig {
            Signal::Stop => {
                if self.phase == Phase::Running {
                    self.log_proxies_stopped();
                }
                self.phase = Phase::Exit(0);
            }
            Signal::SoftStop => self.soft_stop(cx),
            Signal::Pause if !self.paused_by_signal => {
                self.paused_by_signal = true;
                self.listeners_dirty = true;
                self.log_frontends(true);
            }
            Signal::Resume if self.paused_by_signal => {
                self.paused_by_signal = false;
                self.listeners_dirty = true;
                self.log_frontends(false);
            }
            Signal::Pause | Signal::Resume => {}
        }
    }

    /// `clear counters [all]` on this thread's proxies and servers.
    pub(super) fn clear_counters(&mut self, all: bool) {
        for p in self.proxies.iter_mut() {
            p.counters.clear(all);
        }
        for b in self.farm.backends.iter_mut().flatten() {
            b.clear_counters(all);
        }
    }
}
