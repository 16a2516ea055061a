//! SPOE in the stream (HTTP mode): the events of a transaction and the
//! `send-spoe-group` actions send their messages to the engine's agent and wait for the
//! ACK, without blocking: the NOTIFY goes to the runtime ([`crate::spoe::submit`]), the
//! stream keeps its place (the event, or the rule after the action) and its state
//! deadline at `timeout processing`; the runtime hands the ACK over
//! ([`Stream::spoe_complete`]) and wakes the stream, which applies the actions
//! (`set-var`, `unset-var`, names under the agent's `var-prefix`) and goes on.
//!
//! An error (the processing timeout, an agent's AGENT-DISCONNECT, a frame too big)
//! sets `txn.<prefix>.<set-on-error>` with HAProxy's code and, unless `option
//! continue-on-error`, disables the engine for the rest of the transaction, as HAProxy
//! does. The stream goes on either way.
//!
//! Where the events happen (HAProxy's places): `on-client-session` and
//! `on-frontend-tcp-request` before the frontend's `tcp-request content` rules of each
//! transaction (each HTTP request is a stream of its own in HAProxy),
//! `on-frontend-http-request` before the frontend's `http-request` rules,
//! `on-backend-http-request` before a backend's own (not for a `listen`), and
//! `on-http-response` before the `http-response` rules.

use super::{Env, Stream};
use crate::http::rules::{RuleCtx, SpoeGroupRef};
use crate::spoe::conf::Event;
use crate::spoe::engine::{error, Engine};
use crate::spoe::frame::Action;
use crate::spoe::{Job, Outcome, Pending, TxnState, Work};
use std::sync::Arc;

/// One step of an event or group on one engine.
enum Step {
    Done,
    Wait,
}

impl Stream {
    /// The engines that see `event`: the frontend's for its own events; for the
    /// backend's and the response's, the frontend's and the backend's (a `listen` has
    /// no backend events).
    fn spoe_engines(&self, env: &Env<'_, '_>, event: Event) -> Vec<Arc<Engine>> {
        let fe = &env.proxies[self.frontend].spoe;
        let be = self.backend.filter(|&b| b != self.frontend).map(|b| &env.proxies[b].spoe);
        let mut out: Vec<Arc<Engine>> = Vec::new();
        match event {
            Event::ClientSession | Event::FrontendTcpRequest | Event::FrontendHttpRequest => out.extend(fe.iter().cloned()),
            Event::BackendTcpRequest | Event::BackendHttpRequest => {
                if let Some(be) = be {
                    out.extend(fe.iter().cloned());
                    out.extend(be.iter().cloned());
                }
            }
            Event::ServerSession | Event::TcpResponse | Event::HttpResponse => {
                out.extend(fe.iter().cloned());
                out.extend(be.into_iter().flatten().cloned());
            }
        }
        out.retain(|e| e.handles(event));
        out
    }

    /// Runs SPOE event `event` on every engine that has messages for it, in turn.
    /// False while an agent's answer is awaited.
    pub(super) fn spoe_event(&mut self, env: &mut Env<'_, '_>, event: Event) -> bool {
        if self.http.is_none() {
            return true;
        }
        let engines = self.spoe_engines(env, event);
        for e in engines {
            if let Step::Wait = self.spoe_step(env, &e, Work::Event(event)) {
                return false;
            }
        }
        true
    }

    /// `send-spoe-group <engine> <group>` of a rule of `proxy`. False while waiting.
    pub(super) fn spoe_group(&mut self, env: &mut Env<'_, '_>, proxy: usize, g: &SpoeGroupRef) -> bool {
        let engine = env.proxies[proxy].spoe.iter().find(|e| e.name == g.engine).cloned();
        let Some(engine) = engine else { return true }; // checked at start-up
        !matches!(self.spoe_step(env, &engine, Work::Group(g.group.clone())), Step::Wait)
    }

    /// A `send-spoe-group` still waiting for its answer (the rule list is past it):
    /// true once it is done (or when there is none).
    pub(super) fn spoe_group_pending(&mut self, env: &mut Env<'_, '_>) -> bool {
        let pending = self.http.as_ref().and_then(|h| h.txn.spoe.as_ref()).and_then(|s| s.pending.as_ref()).filter(|p| matches!(p.work, Work::Group(_))).map(|p| (p.engine, p.work.clone()));
        let Some((id, work)) = pending else { return true };
        let engine = env.proxies.iter().flat_map(|p| p.spoe.iter()).find(|e| e.id == id).cloned();
        let Some(engine) = engine else { return true };
        !matches!(self.spoe_step(env, &engine, work), Step::Wait)
    }

    /// The runtime brings the answer to NOTIFY `frame_id`; true when the stream waited
    /// for it (it must run again).
    pub fn spoe_complete(&mut self, frame_id: u64, outcome: Outcome) -> bool {
        let pending = self.http.as_mut().and_then(|h| h.txn.spoe.as_mut()).and_then(|s| s.pending.as_mut());
        match pending {
            Some(p) if p.frame_id == frame_id && p.result.is_none() => {
                p.result = Some(outcome);
                true
            }
            _ => false,
        }
    }

    fn spoe_step(&mut self, env: &mut Env<'_, '_>, engine: &Arc<Engine>, work: Work) -> Step {
        let now = env.cx.now;
        let h = self.http.as_mut().expect("HTTP mode");
        let st = h.txn.spoe.get_or_insert_with(Box::<TxnState>::default);
        if st.done.iter().any(|(id, w)| *id == engine.id && *w == work) {
            return Step::Done;
        }
        let outcome = match st.pending.as_mut() {
            Some(p) if p.engine == engine.id && p.work == work => match p.result.take() {
                Some(outcome) => outcome,
                None if p.deadline.is_some_and(|d| d <= now) => Outcome::Error(error::TIMEOUT),
                None => {
                    self.state_deadline = p.deadline;
                    return Step::Wait;
                }
            },
            // Another NOTIFY in flight cannot be (one at a time per transaction).
            Some(_) => return Step::Wait,
            None if st.disabled.contains(&engine.id) => {
                st.done.push((engine.id, work));
                return Step::Done;
            }
            None => {
                let Some(payload) = self.spoe_payload(env, engine, &work) else {
                    let st = self.http.as_mut().and_then(|h| h.txn.spoe.as_mut()).expect("created above");
                    st.done.push((engine.id, work));
                    return Step::Done;
                };
                let h = self.http.as_mut().expect("HTTP mode");
                let st = h.txn.spoe.as_mut().expect("created above");
                // The frame's type, flags and ids take at most 23 bytes.
                if payload.len() + 23 > engine.max_frame_size as usize {
                    Outcome::Error(error::TOO_BIG)
                } else {
                    let frame_id = crate::spoe::next_frame_id();
                    let deadline = engine.processing_timeout().map(|t| now + t);
                    crate::spoe::submit(Job { engine: engine.id, stream: env.key, stream_id: self.id, frame_id, payload, deadline });
                    st.pending = Some(Pending { engine: engine.id, work, frame_id, started: now, deadline, result: None });
                    self.state_deadline = deadline;
                    return Step::Wait;
                }
            }
        };
        self.spoe_finish(env, engine, work, outcome);
        Step::Done
    }

    /// The messages of `work` encoded on the transaction; `None`: nothing to send.
    fn spoe_payload(&mut self, env: &Env<'_, '_>, engine: &Engine, work: &Work) -> Option<Vec<u8>> {
        let fe = &env.proxies[self.frontend];
        let server = self.server.as_ref().map(|s| env.pool.server_name(s.be(), s.srv()));
        let h = self.http.as_mut().expect("HTTP mode");
        let mut renv = super::frontend_rule_env(self.src, self.dst, fe, &mut h.sess_vars, self.client.tls_info().cloned(), conn_facts!(self).in_txn(h.done));
        renv.backend = self.backend.map(|b| env.proxies[b].name.as_str());
        renv.server = server;
        renv.server_tls = h.txn.server_tls.clone();
        let cx = RuleCtx::new(&renv, &h.txn);
        match work {
            Work::Event(e) => engine.encode_event(*e, &cx),
            Work::Group(g) => engine.group(g).map(|m| engine.encode(m, &cx)),
        }
    }

    /// Applies an answer: the agent's actions, or the error; the processing times.
    fn spoe_finish(&mut self, env: &mut Env<'_, '_>, engine: &Engine, work: Work, outcome: Outcome) {
        let now = env.cx.now;
        let h = self.http.as_mut().expect("HTTP mode");
        let st = h.txn.spoe.as_mut().expect("SPOE state");
        let started = st.pending.take().map_or(now, |p| p.started);
        st.done.push((engine.id, work));
        self.state_deadline = None;
        let elapsed = u64::try_from(now.saturating_duration_since(started).as_millis()).unwrap_or(u64::MAX);
        let total = match st.total_ms.iter_mut().find(|(id, _)| *id == engine.id) {
            Some((_, t)) => {
                *t += elapsed;
                *t
            }
            None => {
                st.total_ms.push((engine.id, elapsed));
                elapsed
            }
        };
        let failed = match &outcome {
            Outcome::Error(_) => !engine.agent.continue_on_error,
            Outcome::Ack(_) => false,
        };
        if failed {
            st.disabled.push(engine.id);
        }
        let vars = &mut h.txn.vars;
        let sess = &mut h.sess_vars;
        let mut set = |name: &crate::sample::vars::VarName, v: Option<crate::sample::Sample>| {
            use crate::sample::vars::Scope;
            let store = match name.scope {
                Scope::Sess => &mut *sess,
                Scope::Proc => {
                    return crate::sample::vars::with_proc_vars(|p| match v {
                        Some(v) => p.set(name, v),
                        None => {
                            p.unset(name);
                        }
                    })
                }
                _ => &mut *vars,
            };
            match v {
                Some(v) => store.set(name, v),
                None => {
                    store.unset(name);
                }
            }
        };
        match outcome {
            Outcome::Ack(actions) => {
                for a in actions {
                    match a {
                        Action::SetVar { scope, name, value } => {
                            if let Some(v) = value.into_sample() {
                                set(&engine.agent_var(scope, &name), Some(v));
                            }
                        }
                        Action::UnsetVar { scope, name } => set(&engine.agent_var(scope, &name), None),
                    }
                }
            }
            Outcome::Error(code) => {
                ::log::debug!("stream {}: SPOE engine '{}' error {code}", self.id, engine.name);
                if let Some(v) = &engine.error_var {
                    set(v, Some(crate::sample::Sample::Sint(i64::from(code))));
                }
            }
        }
        let ms = |n: u64| Some(crate::sample::Sample::Sint(i64::try_from(n).unwrap_or(i64::MAX)));
        if let Some(v) = &engine.process_time_var {
            set(v, ms(elapsed));
        }
        if let Some(v) = &engine.total_time_var {
            set(v, ms(total));
        }
    }
}
