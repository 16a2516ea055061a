//! Health checks driven by the reactor: the backend module decides (rise/fall,
//! intervals, state changes); this file does the I/O: a timer per checked server,
//! a non-blocking TCP connect, for an HTTP check ([`HttpProbe`]) the request written
//! and the response read, and the outcome as a [`CheckResult`].
//!
//! With `option external-check` a probe runs a command instead
//! (`super::external_check`); email alerts (`super::mailers`) run their SMTP dialogue
//! as a `tcp-check` on slots of their own.
//!
//! Each checked server has one [`CheckSlot`] whose index is the token slot and whose
//! `gen` changes after every probe, so a late event from an old probe's socket and
//! a superseded timer are both dropped.

use super::external_check::{ExternalProbe, Poll, Reaper, Running, POLL};
use super::pool::Farm;
use crate::backend::{CheckResult, FailReason, HttpProbe, ServerId, TcpProbe, TcpRun};
use crate::reactor::{token, Ctx, Key, Kind, Ready, TimerTarget};
use crate::stream::channel::Buffer;
use crate::stream::conn::{Conn, ConnectState, ReadEnd, WriteEnd};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// How HTTP checks come to speak HTTP/2 (`crate::stream::h2srv`), with the server's
/// `backend/server` name for messages.
#[derive(Clone, Debug)]
enum CheckH2 {
    /// `proto h2`: from the first byte.
    Prior(String),
    /// Over TLS without `proto`: when the handshake selects `h2` by ALPN.
    ByAlpn(String),
}

struct Probe {
    conn: Conn,
    started: Instant,
    /// When the probe times out; timers armed for an earlier deadline are ignored.
    deadline: Instant,
    /// Set once connected, for an HTTP check.
    http: Option<HttpExchange>,
}

/// An HTTP check's request going out and response coming in.
struct HttpExchange {
    out: Buffer,
    response: Buffer,
    /// A `tcp-check` in progress: where it is in the rules, and the bytes its `send`
    /// rules produced that are not written yet (`out` is then unused).
    tcp: Option<(TcpRun, Vec<u8>)>,
}

pub struct CheckSlot {
    pub be: usize,
    pub srv: usize,
    addr: Option<SocketAddr>,
    gen: u32,
    /// Connect timeout of one probe.
    timeout: Duration,
    /// HTTP checks: how long the response may take once connected (`timeout
    /// check`); `None`: the connect deadline bounds the whole check.
    read_timeout: Option<Duration>,
    /// The HTTP check to run once connected; `None`: a TCP check.
    http: Option<HttpProbe>,
    /// The `tcp-check` rules to run once connected (`option tcp-check`).
    tcp: Option<TcpProbe>,
    /// Probes over TLS (`check-ssl`, `crate::tls`).
    tls: Option<crate::tls::CheckTls>,
    /// `check-send-proxy`: the PROXY header version each probe starts with.
    send_proxy: Option<crate::proxy_protocol::Version>,
    /// `check-via-socks4`: the SOCKS4 proxy each probe goes through.
    socks4: Option<SocketAddr>,
    /// Whether HTTP checks speak HTTP/2, as the server's traffic does.
    h2: Option<CheckH2>,
    /// An agent check's slot (`agent-check`) rather than a health check's.
    agent: Option<AgentProbe>,
    /// A `slowstart` warm-up's slot: no probe, a timer that raises the weight.
    warm: Option<WarmUp>,
    probe: Option<Probe>,
    /// `option external-check`: the command each probe runs instead of connecting.
    external: Option<ExternalProbe>,
    /// The external check's command while it runs.
    running: Option<Running>,
    /// An email alert's slot (`super::mailers`): its result is dropped, and the slot
    /// is reused by the next mail once done.
    mail: bool,
}

impl CheckSlot {
    /// A slot with no probe of any kind yet (a warm-up's or a mail's, set up after).
    fn bare(be: usize, srv: usize, timeout: Duration) -> CheckSlot {
        CheckSlot {
            be,
            srv,
            addr: None,
            gen: 0,
            timeout,
            read_timeout: None,
            http: None,
            tcp: None,
            tls: None,
            send_proxy: None,
            h2: None,
            socks4: None,
            agent: None,
            warm: None,
            probe: None,
            external: None,
            running: None,
            mail: false,
        }
    }
}

/// A server's `slowstart` warm-up in progress.
struct WarmUp {
    since: Instant,
    total: Duration,
}

/// An agent check: what to send, and how often.
struct AgentProbe {
    send: Vec<u8>,
    inter: Duration,
}

/// A line an agent answered, for the runtime to apply
/// ([`crate::backend::Backend::on_agent_reply`]).
pub struct AgentLine {
    pub be: usize,
    pub srv: usize,
    pub line: String,
    pub duration: Duration,
}

#[derive(Default)]
pub struct Checks {
    slots: Vec<CheckSlot>,
    /// Agent answers not applied yet ([`Checks::take_agent_lines`]).
    agent_lines: Vec<AgentLine>,
    /// Warm-up steps not applied yet: (backend, server, thousandths or `None` when over).
    warm_steps: Vec<(usize, usize, Option<u32>)>,
    /// The servers' `source` lines (by backend and server): the local address probes
    /// bind to.
    sources: std::collections::HashMap<(usize, usize), crate::config::model::SourceConf>,
    /// `pp2-never-send-local` (global): version 2 headers of `check-send-proxy` carry
    /// the `PROXY` command with the probe's addresses, as HAProxy before 2.2, not `LOCAL`.
    pp2_never_send_local: bool,
    /// External check commands killed on timeout, not reaped yet.
    reaper: Reaper,
    /// The proxies' email alerts (`email-alert`), sent from mail slots.
    alerts: super::mailers::Alerts,
}

impl Checks {
    /// One slot per server with `check`. Disabled servers are probed too: the
    /// backend ignores results while a server is in maintenance.
    pub fn build(farm: &Farm) -> Checks {
        let mut slots = Vec::new();
        for (be, b) in farm.backends.iter().enumerate() {
            let Some(b) = b else { continue };
            for (id, _) in b.iter_servers() {
                slots.extend(server_slots(be, b, id));
            }
        }
        let sources = farm
            .backends
            .iter()
            .enumerate()
            .filter_map(|(be, b)| Some((be, b.as_ref()?)))
            .flat_map(|(be, b)| b.iter_servers().filter_map(move |(id, s)| Some(((be, id.0), s.tuning().source.clone()?))))
            .collect();
        Checks { slots, agent_lines: Vec::new(), warm_steps: Vec::new(), sources, pp2_never_send_local: false, reaper: Reaper::default(), alerts: Default::default() }
    }

    /// Makes the health checks of the backends with `option external-check` run their
    /// command (`super::external_check`) instead of connecting.
    pub fn use_external(&mut self, config: &crate::config::model::Config, farm: &Farm) {
        for s in self.slots.iter_mut().filter(|s| s.agent.is_none() && s.warm.is_none()) {
            let Some(hc) = farm.backend(s.be).server(ServerId(s.srv)).check() else { continue };
            s.external = ExternalProbe::for_server(config, s.be, s.srv, hc.inter());
        }
    }

    /// Sends the proxies' email alerts (`email-alert`, `mailers` sections).
    pub fn use_mailers(&mut self, config: &crate::config::model::Config) {
        self.alerts = super::mailers::Alerts::build(config);
    }

    /// Starts sending the email alerts of the state changes since the last call: each
    /// mail is a `tcp-check` run to its mailer, on a slot of its own.
    pub fn send_alerts(&mut self, cx: &mut Ctx<'_>) {
        if !super::mailers::active() {
            return;
        }
        for mail in self.alerts.take() {
            // A mail slot is busy while it has a dialogue.
            let i = match self.slots.iter().position(|s| s.mail && s.tcp.is_none()) {
                Some(i) => i,
                None => {
                    self.slots.push(CheckSlot { mail: true, ..CheckSlot::bare(usize::MAX, usize::MAX, Duration::ZERO) });
                    self.slots.len() - 1
                }
            };
            let s = &mut self.slots[i];
            s.gen = s.gen.wrapping_add(1);
            s.addr = Some(mail.to);
            s.timeout = mail.timeout;
            s.tcp = Some(mail.dialogue);
            cx.timers.arm(cx.now, TimerTarget::Entry(Kind::Check, Key { slot: i, gen: s.gen }));
        }
    }

    /// An external check's timer: starts its command, or looks whether it has ended
    /// (killing it past its deadline).
    fn external_timer(&mut self, cx: &mut Ctx<'_>, key: Key, farm: &Farm) -> Option<(usize, usize, CheckResult)> {
        self.reaper.reap();
        let slot = &mut self.slots[key.slot];
        let probe = slot.external.as_ref()?;
        let result = match &mut slot.running {
            Some(run) => match run.poll(cx.now, &mut self.reaper) {
                Poll::Done(result) => result,
                Poll::Again(at) => {
                    cx.timers.arm(at, TimerTarget::Entry(Kind::Check, key));
                    return None;
                }
            },
            None => match probe.start(farm.backend(slot.be).server(ServerId(slot.srv)), cx.now) {
                Ok(run) => {
                    slot.running = Some(run);
                    cx.timers.arm(cx.now + POLL.min(probe.timeout), TimerTarget::Entry(Kind::Check, key));
                    return None;
                }
                Err(result) => result,
            },
        };
        slot.running = None;
        Some(self.finish(cx, key.slot, result))
    }

    /// Starts (or restarts) the `slowstart` warm-up of a server that came back UP.
    /// HAProxy raises the weight every `max(1s, slowstart / 20)`.
    pub fn start_warmup(&mut self, cx: &mut Ctx<'_>, be: usize, srv: usize, total: Duration) {
        let i = match self.slots.iter().position(|s| s.be == be && s.srv == srv && s.warm.is_some()) {
            Some(i) => i,
            None => {
                self.slots.push(CheckSlot::bare(be, srv, total));
                self.slots.len() - 1
            }
        };
        let s = &mut self.slots[i];
        s.gen = s.gen.wrapping_add(1);
        s.warm = Some(WarmUp { since: cx.now, total });
        cx.timers.arm(cx.now + warm_step(total), TimerTarget::Entry(Kind::Check, Key { slot: i, gen: s.gen }));
    }

    /// The warm-up steps since the last call.
    pub fn take_warm_steps(&mut self) -> Vec<(usize, usize, Option<u32>)> {
        std::mem::take(&mut self.warm_steps)
    }

    /// A warm-up timer: the next step, and the next timer unless it is over.
    fn warm_tick(&mut self, cx: &mut Ctx<'_>, slot: usize) {
        let s = &mut self.slots[slot];
        let Some(w) = &s.warm else { return };
        let done = (cx.now - w.since).as_millis() * 1000 / w.total.as_millis().max(1);
        if done >= 1000 {
            s.warm = None;
            self.warm_steps.push((s.be, s.srv, None));
            return;
        }
        self.warm_steps.push((s.be, s.srv, Some(done as u32)));
        s.gen = s.gen.wrapping_add(1);
        cx.timers.arm(cx.now + warm_step(w.total), TimerTarget::Entry(Kind::Check, Key { slot, gen: s.gen }));
    }

    /// The agents' answers received since the last call.
    pub fn take_agent_lines(&mut self) -> Vec<AgentLine> {
        std::mem::take(&mut self.agent_lines)
    }

    /// Number of checked servers.
    pub fn count(&self) -> usize {
        self.slots.len()
    }

    /// Arms the first probe of every check, spread over one interval per backend.
    pub fn start(&mut self, cx: &mut Ctx<'_>, farm: &Farm) {
        let mut per_be: std::collections::HashMap<usize, (usize, usize)> = Default::default();
        for s in &self.slots {
            per_be.entry(s.be).or_insert((0, 0)).1 += 1;
        }
        for (i, s) in self.slots.iter().enumerate() {
            let e = per_be.get_mut(&s.be).expect("counted");
            let hc = farm.backend(s.be).server(ServerId(s.srv)).check();
            let delay = match (&s.agent, hc) {
                (Some(a), _) => a.inter * e.0 as u32 / e.1.max(1) as u32,
                (None, hc) => hc.map_or(Duration::from_secs(2), |h| h.first_check_in(e.0, e.1)),
            };
            e.0 += 1;
            cx.timers.arm(cx.now + delay, TimerTarget::Entry(Kind::Check, Key { slot: i, gen: s.gen }));
        }
    }

    /// A timer for slot `key` expired: start a probe, or time the running one out.
    pub fn on_timer(&mut self, cx: &mut Ctx<'_>, key: Key, farm: &Farm) -> Option<(usize, usize, CheckResult)> {
        let slot = self.slots.get(key.slot).filter(|s| s.gen == key.gen)?;
        if slot.warm.is_some() {
            self.warm_tick(cx, key.slot);
            return None;
        }
        if !slot.mail && slot.agent.is_none() && slot.probe.is_none() && slot.running.is_none() {
            let server = farm.backend(slot.be).server(ServerId(slot.srv));
            if let Some(paused) = server.disabled_check() {
                // `disable health` (Lua's `check_disable`): no probe until it is enabled
                // again; look once per interval.
                cx.timers.arm(cx.now + paused.inter(), TimerTarget::Entry(Kind::Check, key));
                return None;
            }
        }
        if slot.external.is_some() {
            return self.external_timer(cx, key, farm);
        }
        if slot.mail {
            // An email alert: sent or not, nothing to apply; the slot is free again.
            if self.on_timer_inner(cx, key).is_some() {
                self.slots[key.slot].tcp = None;
            }
            return None;
        }
        let agent = slot.agent.is_some();
        if agent && slot.probe.is_none() && !farm.backend(slot.be).server(ServerId(slot.srv)).agent_enabled() {
            // `disable agent`: no probe starts until `enable agent`.
            self.agent_done(cx, key.slot, None);
            return None;
        }
        let result = self.on_timer_inner(cx, key);
        if agent {
            // An agent that cannot be reached changes nothing: try again later.
            if result.is_some() {
                self.agent_done(cx, key.slot, None);
            }
            return None;
        }
        result
    }

    fn on_timer_inner(&mut self, cx: &mut Ctx<'_>, key: Key) -> Option<(usize, usize, CheckResult)> {
        let slot = self.slots.get_mut(key.slot).filter(|s| s.gen == key.gen)?;
        match &mut slot.probe {
            Some(p) if cx.now < p.deadline => None,
            Some(_) if slot.agent.is_some() => {
                // An agent that does not answer changes nothing.
                self.agent_done(cx, key.slot, None);
                None
            }
            Some(p) => {
                let duration = cx.now - p.started;
                let result = match (&slot.tcp, p.http.as_ref().and_then(|ex| ex.tcp.as_ref())) {
                    (Some(tcp), Some((run, _))) => tcp.timeout(run, duration),
                    (Some(tcp), None) => CheckResult::Failed { reason: FailReason::L4Timeout, info: tcp.connect_failure_info(""), duration },
                    (None, _) => {
                        let reason = if p.http.is_some() { FailReason::L7Timeout } else { FailReason::L4Timeout };
                        CheckResult::Failed { reason, info: String::new(), duration }
                    }
                };
                Some(self.finish(cx, key.slot, result))
            }
            None => {
                let Some(addr) = slot.addr else {
                    let r = CheckResult::Failed { reason: FailReason::SocketError, info: "no address".into(), duration: Duration::ZERO };
                    return Some(self.finish(cx, key.slot, r));
                };
                let tls = slot.tls.clone();
                let source = self.sources.get(&(slot.be, slot.srv));
                let via = slot.socks4.unwrap_or(addr);
                let pp2_never_send_local = self.pp2_never_send_local;
                let conn = Conn::connect_from(&crate::stream::Target::Inet(via), source, None).and_then(|mut c| {
                    if let Some(tls) = tls {
                        c = c.into_tls(|tcp| tls.connect(tcp, addr.ip()))?;
                    }
                    if let Some(CheckH2::Prior(name)) = &slot.h2 {
                        // A PROXY header goes before the connection preface.
                        let header = slot.send_proxy.map(|v| proxy_header(v, c.local_addr(), Some(addr), pp2_never_send_local));
                        // HAProxy's default settings (a probe reads one small response).
                        c = c.into_h2(name, crate::http::h2::session::Config::default());
                        if let Some(h) = header {
                            c.send_before_h2(h);
                        }
                    }
                    if slot.socks4.is_some() {
                        c = c.via_socks4(addr).ok_or_else(|| std::io::Error::new(std::io::ErrorKind::Unsupported, "SOCKS4 cannot name an IPv6 server"))?;
                    }
                    c.register(cx.registry, token::encode(Kind::Check, key))?;
                    Ok(c)
                });
                match conn {
                    Ok(conn) => {
                        let deadline = cx.now + slot.timeout;
                        slot.probe = Some(Probe { conn, started: cx.now, deadline, http: None });
                        cx.timers.arm(deadline, TimerTarget::Entry(Kind::Check, key));
                        None
                    }
                    Err(e) => {
                        let r = CheckResult::Failed { reason: FailReason::SocketError, info: crate::listener::strerror(&e), duration: Duration::ZERO };
                        Some(self.finish(cx, key.slot, r))
                    }
                }
            }
        }
    }

    /// A server added at run time (`add server`): its slots, their first probe armed
    /// at once. Their indexes are new, so the other slots' tokens stay valid.
    pub fn add_server(&mut self, cx: &mut Ctx<'_>, farm: &Farm, be: usize, srv: usize) {
        let b = farm.backend(be);
        if let Some(source) = b.server(ServerId(srv)).tuning().source.clone() {
            self.sources.insert((be, srv), source);
        }
        for slot in server_slots(be, b, ServerId(srv)) {
            cx.timers.arm(cx.now, TimerTarget::Entry(Kind::Check, Key { slot: self.slots.len(), gen: slot.gen }));
            self.slots.push(slot);
        }
    }

    /// A server deleted (`del server`): its probes are dropped and its slots retired
    /// (their timers and sockets' events no longer match them).
    pub fn remove_server(&mut self, cx: &mut Ctx<'_>, be: usize, srv: usize) {
        for s in self.slots.iter_mut().filter(|s| s.be == be && s.srv == srv && !s.mail) {
            if let Some(mut p) = s.probe.take() {
                p.conn.deregister(cx.registry);
            }
            s.running = None;
            s.gen = s.gen.wrapping_add(1);
            s.srv = usize::MAX;
        }
        self.sources.remove(&(be, srv));
    }

    /// `pp2-never-send-local`: see the field.
    pub fn with_pp2_never_send_local(mut self, on: bool) -> Checks {
        self.pp2_never_send_local = on;
        self
    }

    /// The probe's socket is ready: did the connect succeed? For an HTTP check, send
    /// the request and read the response as far as the socket allows.
    pub fn on_ready(&mut self, cx: &mut Ctx<'_>, key: Key, ready: Ready) -> Option<(usize, usize, CheckResult)> {
        let mail = self.slots.get(key.slot).is_some_and(|s| s.mail);
        let result = self.on_ready_inner(cx, key, ready);
        if mail && result.is_some() {
            // An email alert's result has nothing to apply; the slot is free again.
            self.slots[key.slot].tcp = None;
            return None;
        }
        result
    }

    fn on_ready_inner(&mut self, cx: &mut Ctx<'_>, key: Key, ready: Ready) -> Option<(usize, usize, CheckResult)> {
        let slot = self.slots.get_mut(key.slot).filter(|s| s.gen == key.gen)?;
        let p = slot.probe.as_mut()?;
        p.conn.note(ready);
        let duration = cx.now - p.started;
        if let Some(agent) = &slot.agent {
            if let Some(outcome) = agent_exchange(p, agent) {
                let line = outcome.map(|line| AgentLine { be: slot.be, srv: slot.srv, line, duration });
                self.agent_done(cx, key.slot, line);
            }
            return None;
        }
        if p.http.is_some() {
            let result = match &slot.tcp {
                Some(tcp) => tcp_exchange(p, tcp, duration),
                None => exchange(p, slot.http.as_ref()?, duration),
            };
            return result.map(|r| self.finish(cx, key.slot, r));
        }
        let state = p.conn.connect_state();
        if let (ConnectState::Established, Some(version), false) = (state, slot.send_proxy, matches!(slot.h2, Some(CheckH2::Prior(_)))) {
            let mut header = proxy_header(version, p.conn.local_addr(), p.conn.peer_addr(), self.pp2_never_send_local);
            let _ = p.conn.write_vec(&mut header);
        }
        if let (ConnectState::Established, Some(CheckH2::ByAlpn(name))) = (state, &slot.h2) {
            if p.conn.alpn_is_h2() {
                let probe = slot.probe.take()?;
                let conn = probe.conn.into_h2(name, crate::http::h2::session::Config::default());
                slot.probe = Some(Probe { conn, ..probe });
            }
        }
        let p = slot.probe.as_mut()?;
        let result = match state {
            ConnectState::Pending => return None,
            ConnectState::Established => match &slot.http {
                None if slot.tcp.is_some() => {
                    let tcp = slot.tcp.as_ref()?;
                    let response = Buffer::new(tcp.max_response());
                    p.http = Some(HttpExchange { out: Buffer::new(0), response, tcp: Some((TcpRun::default(), Vec::new())) });
                    if let Some(t) = slot.read_timeout {
                        p.deadline = cx.now + t;
                        cx.timers.arm(p.deadline, TimerTarget::Entry(Kind::Check, key));
                    }
                    let result = tcp_exchange(p, tcp, duration);
                    return result.map(|r| self.finish(cx, key.slot, r));
                }
                None => CheckResult::Ok { duration },
                Some(http) => {
                    let mut out = Buffer::new(http.request().len());
                    out.space()[..http.request().len()].copy_from_slice(http.request());
                    out.produced(http.request().len());
                    p.http = Some(HttpExchange { out, response: Buffer::new(http.max_response()), tcp: None });
                    if let Some(t) = slot.read_timeout {
                        // The response has its own deadline, from now.
                        p.deadline = cx.now + t;
                        cx.timers.arm(p.deadline, TimerTarget::Entry(Kind::Check, key));
                    }
                    let result = exchange(p, http, duration);
                    return result.map(|r| self.finish(cx, key.slot, r));
                }
            },
            ConnectState::Refused => {
                CheckResult::Failed { reason: FailReason::L4Connection, info: "Connection refused".into(), duration }
            }
            ConnectState::Failed(errno) => {
                let info = errno.map(|e| crate::listener::strerror(&std::io::Error::from_raw_os_error(e))).unwrap_or_default();
                CheckResult::Failed { reason: FailReason::L4Connection, info, duration }
            }
        };
        // A `tcp-check` says at which step the connection failed.
        let result = match (result, &slot.tcp) {
            (CheckResult::Failed { reason, info, duration }, Some(tcp)) => CheckResult::Failed { reason, info: tcp.connect_failure_info(&info), duration },
            (other, _) => other,
        };
        Some(self.finish(cx, key.slot, result))
    }

    /// Ends an agent probe: keeps its answer, if any, and arms the next one.
    fn agent_done(&mut self, cx: &mut Ctx<'_>, slot: usize, line: Option<AgentLine>) {
        self.agent_lines.extend(line);
        let s = &mut self.slots[slot];
        if let Some(mut p) = s.probe.take() {
            p.conn.deregister(cx.registry);
        }
        s.gen = s.gen.wrapping_add(1);
        let inter = s.agent.as_ref().map_or(Duration::from_secs(2), |a| a.inter);
        cx.timers.arm(cx.now + inter, TimerTarget::Entry(Kind::Check, Key { slot, gen: s.gen }));
    }

    /// Ends the probe of `slot` (closing its socket) and bumps the generation.
    fn finish(&mut self, cx: &mut Ctx<'_>, slot: usize, result: CheckResult) -> (usize, usize, CheckResult) {
        let s = &mut self.slots[slot];
        if let Some(mut p) = s.probe.take() {
            p.conn.deregister(cx.registry);
        }
        s.gen = s.gen.wrapping_add(1);
        (s.be, s.srv, result)
    }

    /// Arms the next probe of the check of (`be`, `srv`) after `delay`.
    pub fn schedule(&mut self, cx: &mut Ctx<'_>, be: usize, srv: usize, delay: Duration) {
        if let Some((i, s)) = self.slots.iter().enumerate().find(|(_, s)| s.be == be && s.srv == srv && s.agent.is_none() && s.warm.is_none()) {
            cx.timers.arm(cx.now + delay, TimerTarget::Entry(Kind::Check, Key { slot: i, gen: s.gen }));
        }
    }
}

/// Moves an HTTP check forward: writes what is left of the request, reads what the
/// server sent, and asks the probe for a verdict. `None`: wait for the socket.
fn exchange(p: &mut Probe, http: &HttpProbe, duration: Duration) -> Option<CheckResult> {
    let ex = p.http.as_mut()?;
    // Once connected, a socket error is HAProxy's "Socket error" with the error's text
    // (the errno is not kept by `Conn`: on loopback it is a reset); a close before a
    // complete response is a "Layer7 invalid response".
    let reset = || CheckResult::Failed { reason: FailReason::SocketError, info: "Connection reset by peer".into(), duration };
    if !ex.out.is_empty() && p.conn.writable {
        if let (_, WriteEnd::Error) = p.conn.write_from(&mut ex.out) {
            // The server may have answered and closed before reading everything:
            // judge what it sent, if anything.
            if ex.response.is_empty() {
                return Some(reset());
            }
        }
    }
    if !p.conn.readable {
        return None;
    }
    let (_, end) = p.conn.read_into(&mut ex.response);
    if end == ReadEnd::Error && ex.response.is_empty() {
        return Some(reset());
    }
    let ended = matches!(end, ReadEnd::Eof | ReadEnd::Error | ReadEnd::BufferFull);
    if ex.response.is_empty() && ended {
        return Some(CheckResult::Failed { reason: FailReason::L7Response, info: String::new(), duration });
    }
    http.evaluate(ex.response.data(), ended, duration)
}

/// Moves a `tcp-check` forward: runs the rules on what was received (so the sends
/// before the first `expect` go out as soon as connected, before anything is read, as
/// in HAProxy: a `send` drops what was received before it), writes what the `send`
/// rules produced, reads what the server sent, and again. `None`: wait for the socket.
fn tcp_exchange(p: &mut Probe, probe: &TcpProbe, duration: Duration) -> Option<CheckResult> {
    let ex = p.http.as_mut()?;
    let (run, out) = ex.tcp.as_mut()?;
    let mut ended = false;
    loop {
        let verdict = probe.advance(run, ex.response.data(), ended, out, duration);
        if verdict.is_some() {
            if !out.is_empty() && p.conn.writable {
                let _ = p.conn.write_vec(out);
            }
            return verdict;
        }
        if !out.is_empty() && p.conn.writable {
            if let (_, WriteEnd::Error) = p.conn.write_vec(out) {
                if !run.has_new(ex.response.len()) {
                    return Some(probe.socket_error(run, duration));
                }
            }
        }
        if !p.conn.readable {
            return None;
        }
        let (n, end) = p.conn.read_into(&mut ex.response);
        if end == ReadEnd::Error && !run.has_new(ex.response.len()) {
            return Some(probe.socket_error(run, duration));
        }
        ended = matches!(end, ReadEnd::Eof | ReadEnd::Error | ReadEnd::BufferFull);
        if n == 0 && !ended {
            return None;
        }
    }
}

/// `check-send-proxy`'s header: v1 with the probe's own addresses, v2 `LOCAL` (unless
/// `pp2-never-send-local`), as HAProxy.
fn proxy_header(version: crate::proxy_protocol::Version, local: Option<SocketAddr>, peer: Option<SocketAddr>, pp2_never_send_local: bool) -> Vec<u8> {
    match version {
        crate::proxy_protocol::Version::V1 => crate::proxy_protocol::v1(local, peer),
        crate::proxy_protocol::Version::V2 if pp2_never_send_local => crate::proxy_protocol::v2(local, peer, &[]),
        crate::proxy_protocol::Version::V2 => crate::proxy_protocol::v2_local(),
    }
}

/// The slots of server `id` of backend `be` (`b`): its agent check's, its health
/// check's.
fn server_slots(be: usize, b: &crate::backend::Backend, id: ServerId) -> Vec<CheckSlot> {
    let s = b.server(id);
    let mut slots: Vec<CheckSlot> = agent_slot(be, id.0, s).into_iter().collect();
    let Some(timeout) = b.check_timeout(id) else { return slots };
        let http = b.http_probe().cloned();
        let tcp = if http.is_none() { b.tcp_probe().cloned() } else { None };
        // `http-check connect port` wins over the server's and the check's port,
        // and gives one to a server configured without.
        let rule_port = http.as_ref().and_then(HttpProbe::port).or(tcp.as_ref().and_then(TcpProbe::port));
        let addr = match (s.check_addr(), rule_port) {
            (Some(a), Some(port)) => Some(SocketAddr::new(a.ip(), port)),
            (None, Some(port)) => check_ip(s).map(|ip| SocketAddr::new(ip, port)),
            (a, None) => a,
        };
        let read_timeout = b.check_read_timeout();
        let tls = s.check_tls().cloned();
        let sp = s.send_proxy();
        let send_proxy = sp.version.filter(|_| sp.check);
        let socks4 = s.tuning().socks4.filter(|_| s.tuning().check_via_socks4);
        let name = || format!("{}/{}", b.name(), s.name());
        // `check-proto` wins over `proto` for the checks.
        let proto = s.tuning().check_proto.as_deref().or(s.tuning().proto.as_deref());
        let h2 = match (&http, proto) {
            (Some(_), Some("h2")) => Some(CheckH2::Prior(name())),
            (Some(_), None) if tls.is_some() => Some(CheckH2::ByAlpn(name())),
            _ => None,
        };
    slots.push(CheckSlot { be, srv: id.0, addr, gen: 0, timeout, read_timeout, http, tcp, tls, send_proxy, socks4, h2, agent: None, warm: None, probe: None, external: None, running: None, mail: false });
    slots
}

/// The address a check of `s` connects to, before the port is chosen: the check's
/// `addr`, else the server's.
/// The agent check slot of server `srv`, when it has `agent-check`.
fn agent_slot(be: usize, srv: usize, s: &crate::backend::Server) -> Option<CheckSlot> {
    let conf = &s.tuning().agent;
    let port = conf.port.filter(|_| conf.enabled)?;
    let ip = conf.addr.or_else(|| check_ip(s))?;
    let inter = conf.inter.or(s.check().map(|c| c.inter())).unwrap_or(Duration::from_secs(2));
    let agent = AgentProbe { send: conf.send.clone().unwrap_or_default().into_bytes(), inter };
    Some(CheckSlot {
        be,
        srv,
        addr: Some(SocketAddr::new(ip, port)),
        gen: 0,
        timeout: inter,
        read_timeout: None,
        tls: None,
        http: None,
        tcp: None,
        send_proxy: None,
        h2: None,
        socks4: None,
        agent: Some(agent),
        warm: None,
        probe: None,
        external: None,
        running: None,
        mail: false,
    })
}

/// How often a `slowstart` warm-up raises the weight.
fn warm_step(total: Duration) -> Duration {
    (total / 20).max(Duration::from_secs(1))
}

/// Moves an agent check forward: once connected, writes `agent-send` and reads the
/// answer up to its first line feed or the agent's close. `None`: wait; `Some(None)`:
/// the agent could not be reached or said nothing; `Some(Some(line))`: its answer.
fn agent_exchange(p: &mut Probe, agent: &AgentProbe) -> Option<Option<String>> {
    if p.http.is_none() {
        match p.conn.connect_state() {
            ConnectState::Pending => return None,
            ConnectState::Established => {}
            ConnectState::Refused | ConnectState::Failed(_) => return Some(None),
        }
        let mut out = Buffer::new(agent.send.len());
        out.space()[..agent.send.len()].copy_from_slice(&agent.send);
        out.produced(agent.send.len());
        p.http = Some(HttpExchange { out, response: Buffer::new(1024), tcp: None });
    }
    let ex = p.http.as_mut()?;
    if let (_, WriteEnd::Error) = p.conn.write_from(&mut ex.out) {
        return Some(None);
    }
    let (_, end) = p.conn.read_into(&mut ex.response);
    let data = ex.response.data();
    if let Some(nl) = data.iter().position(|&b| b == b'\n') {
        return Some(Some(String::from_utf8_lossy(&data[..nl]).into_owned()));
    }
    match end {
        ReadEnd::Eof | ReadEnd::BufferFull | ReadEnd::Error if !data.is_empty() => Some(Some(String::from_utf8_lossy(data).into_owned())),
        ReadEnd::Eof | ReadEnd::Error => Some(None),
        _ => None,
    }
}

fn check_ip(s: &crate::backend::Server) -> Option<std::net::IpAddr> {
    let configured = match s.addr() {
        crate::config::model::ServerAddr::Inet { ip, .. } | crate::config::model::ServerAddr::PortOffset { ip, .. } => Some(*ip),
        crate::config::model::ServerAddr::Resolved { addr, .. } => Some(addr.ip()),
        _ => None,
    };
    s.check().and_then(|c| c.addr()).or(configured)
}
