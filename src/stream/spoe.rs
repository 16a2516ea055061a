//! SPOE in the stream: the events of a stream (in HTTP mode, of each transaction) and
//! the `send-spoe-group` actions send their messages to the engine's agent and wait for the
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
//! `on-frontend-tcp-request` before the frontend's `tcp-request content` rules (in HTTP
//! mode, of each transaction: each HTTP request is a stream of its own in HAProxy),
//! `on-backend-tcp-request` before a backend's own (not for a `listen`),
//! `on-frontend-http-request` before the frontend's `http-request` rules,
//! `on-backend-http-request` before a backend's own, `on-server-session` then
//! `on-tcp-response` as the response's analysis starts, before the `tcp-response
//! content` rules (TCP mode: the response is held until then), and `on-http-response`
//! before the `http-response` rules. The state is the transaction's (`Txn::spoe`) in
//! HTTP mode, the stream's (`Inspect::spoe`) in TCP mode, and so are the variables.

use super::{Env, Stream};
use crate::http::rules::{RuleCtx, SpoeGroupRef};
pub(super) use crate::spoe::conf::Event;
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
        if env.proxies[self.frontend].spoe.is_empty() && self.backend.is_none_or(|b| env.proxies[b].spoe.is_empty()) {
            return true; // most streams
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
        let pending = self.spoe_state_ref().and_then(|s| s.pending.as_ref()).filter(|p| matches!(p.work, Work::Group(_))).map(|p| (p.engine, p.work.clone()));
        let Some((id, work)) = pending else { return true };
        let engine = env.proxies.iter().flat_map(|p| p.spoe.iter()).find(|e| e.id == id).cloned();
        let Some(engine) = engine else { return true };
        !matches!(self.spoe_step(env, &engine, work), Step::Wait)
    }

    /// The runtime brings the answer to NOTIFY `frame_id`; true when the stream waited
    /// for it (it must run again).
    pub fn spoe_complete(&mut self, frame_id: u64, outcome: Outcome) -> bool {
        let state = match self.http.as_mut() {
            // (An idle connection has no transaction to allocate for a late answer.)
            Some(h) if !h.txn.is_allocated() => None,
            Some(h) => h.txn.spoe.as_deref_mut(),
            None => self.inspect.as_mut().and_then(|i| i.spoe.as_deref_mut()),
        };
        let pending = state.and_then(|s| s.pending.as_mut());
        match pending {
            Some(p) if p.frame_id == frame_id && p.result.is_none() => {
                p.result = Some(outcome);
                true
            }
            _ => false,
        }
    }

    /// The SPOE state of the transaction (HTTP) or of the stream (TCP), if any.
    fn spoe_state_ref(&self) -> Option<&TxnState> {
        match self.http.as_ref() {
            Some(h) => h.txn.spoe.as_deref(),
            None => self.inspect.as_ref().and_then(|i| i.spoe.as_deref()),
        }
    }

    /// The SPOE state, created when first needed.
    fn spoe_state(&mut self) -> &mut TxnState {
        let slot = match self.http.as_mut() {
            Some(h) => &mut h.txn.spoe,
            None => &mut self.inspect.get_or_insert_with(Default::default).spoe,
        };
        slot.get_or_insert_with(Default::default)
    }

    fn spoe_step(&mut self, env: &mut Env<'_, '_>, engine: &Arc<Engine>, work: Work) -> Step {
        let now = env.cx.now;
        let st = self.spoe_state();
        if st.is_done(engine.id, &work) {
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
                st.mark_done(engine.id, &work);
                return Step::Done;
            }
            None => {
                let Some(payload) = self.spoe_payload(env, engine, &work) else {
                    self.spoe_state().mark_done(engine.id, &work);
                    return Step::Done;
                };
                // The frame's type, flags and ids take at most 23 bytes.
                if payload.len() + 23 > engine.max_frame_size as usize {
                    Outcome::Error(error::TOO_BIG)
                } else {
                    let frame_id = crate::spoe::next_frame_id();
                    let deadline = engine.processing_timeout().map(|t| now + t);
                    crate::spoe::submit(Job { engine: engine.id, stream: env.key, stream_id: self.id, frame_id, payload, deadline });
                    self.spoe_state().pending = Some(Pending { engine: engine.id, work, frame_id, started: now, deadline, result: None });
                    self.state_deadline = deadline;
                    return Step::Wait;
                }
            }
        };
        self.spoe_finish(env, engine, work, outcome);
        Step::Done
    }

    /// The messages of `work` encoded on the transaction (HTTP) or on the connection
    /// and the request bytes received so far (TCP); `None`: nothing to send.
    fn spoe_payload(&mut self, env: &Env<'_, '_>, engine: &Engine, work: &Work) -> Option<Vec<u8>> {
        let fe = &env.proxies[self.frontend];
        let be_name = self.backend.map(|b| env.proxies[b].name.as_str());
        let encode = |cx: &dyn crate::sample::SampleCtx| match work {
            Work::Event(e) => engine.encode_event(*e, cx),
            Work::Group(g) => engine.group(g).map(|m| engine.encode(m, cx)),
        };
        let Some(h) = self.http.as_mut() else {
            let mut cx = super::inspect::InspectCtx::new((self.src, self.dst), &fe.name, be_name, self.inspect.as_deref()).with_tls(&self.client).with_conn(conn_facts!(self));
            cx.req = Some(crate::sample::ChannelData { bytes: self.req.buf.data(), last: self.req.eof });
            cx.res = Some(crate::sample::ChannelData { bytes: self.res.buf.data(), last: self.res.eof });
            return encode(&cx);
        };
        let server = self.server.as_ref().map(|s| env.pool.server_name(s.be(), s.srv()));
        let mut renv = super::frontend_rule_env(self.src, self.dst, fe, &mut h.sess_vars, self.client.tls_info().cloned(), conn_facts!(self).in_txn(h.done));
        renv.backend = be_name;
        renv.server = server;
        renv.server_tls = h.txn.server_tls.clone();
        encode(&RuleCtx::new(&renv, &h.txn))
    }

    /// Applies an answer: the agent's actions, or the error; the processing times.
    fn spoe_finish(&mut self, env: &mut Env<'_, '_>, engine: &Engine, work: Work, outcome: Outcome) {
        let now = env.cx.now;
        self.state_deadline = None;
        let st = self.spoe_state();
        let started = st.pending.take().map_or(now, |p| p.started);
        st.mark_done(engine.id, &work);
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
        let (vars, sess) = match self.http.as_mut() {
            Some(h) => (&mut h.txn.vars, &mut h.sess_vars),
            None => {
                let ins = self.inspect.get_or_insert_with(Default::default);
                (&mut ins.txn_vars, &mut ins.sess_vars)
            }
        };
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
