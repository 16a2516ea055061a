//! An SPOE filter compiled for the runtime: its messages' samples and conditions, which
//! messages each event sends, its groups, and the agent's settings the streams and the
//! connections use. Built once at start-up from [`super::conf::SpoeConf`].

use super::conf::{AgentConf, Event, SpoeConf};
use super::frame::{self, Value};
use crate::sample::vars::{Scope, VarName};
use crate::sample::{Expr, SampleCtx};
use crate::stream::acl::{AclSet, CompiledCond};
use std::time::Duration;

/// One `spoe-message`.
#[derive(Debug)]
pub struct Message {
    pub name: String,
    pub args: Vec<(String, Expr)>,
    /// The event's `if|unless` condition, over the message's own ACLs.
    cond: Option<CompiledCond>,
    acls: AclSet,
}

/// A compiled `filter spoe` line.
#[derive(Debug)]
pub struct Engine {
    /// The engine's index among all the configuration's SPOE filters: its agent's
    /// connections in `crate::runtime::spoe`.
    pub id: usize,
    pub name: String,
    pub agent: AgentConf,
    /// The agent's backend (proxy index).
    pub backend: usize,
    /// `max-frame-size`, or `tune.bufsize - 4`.
    pub max_frame_size: u32,
    pub messages: Vec<Message>,
    /// Per event (in [`Event::ALL`]'s order): the messages it sends.
    events: [Vec<usize>; 8],
    /// The agent's `groups`: name and messages.
    groups: Vec<(String, Vec<usize>)>,
    /// `txn.<prefix>.<name>` of `option set-on-error`, `set-process-time`, `set-total-time`.
    pub error_var: Option<VarName>,
    pub process_time_var: Option<VarName>,
    pub total_time_var: Option<VarName>,
}

/// HAProxy's error codes for `option set-on-error` (below 256: the engine's own).
pub mod error {
    pub const TIMEOUT: u32 = 1;
    pub const RES: u32 = 2;
    pub const TOO_BIG: u32 = 3;
    pub const INTERRUPT: u32 = 5;
    pub const UNKNOWN: u32 = 255;
    /// An SPOP status code `n` from the agent (or the connection) is `256 + n`.
    pub const fn spop(n: u32) -> u32 {
        256 + n
    }
}

fn event_index(e: Event) -> usize {
    Event::ALL.iter().position(|x| *x == e).expect("an event of Event::ALL")
}

impl Engine {
    /// Compiles `conf` as engine `id`, its agent's backend at proxy index `backend`.
    /// (The parser checked that every message and group the agent names exists.)
    pub fn build(id: usize, conf: &SpoeConf, backend: usize, bufsize: usize) -> Result<Engine, String> {
        let a = &conf.agent;
        let mut messages = Vec::new();
        let mut events: [Vec<usize>; 8] = Default::default();
        let mut index_of = std::collections::HashMap::new();
        for m in &conf.messages {
            let acls = AclSet::compile(&m.acls)?;
            let mut args = Vec::new();
            for (name, text) in &m.args {
                let expr = Expr::parse(text).map_err(|e| format!("parsing [{}] : 'args' : failed to parse sample expression '{text}' : {e}.", m.location))?;
                args.push((name.clone(), expr));
            }
            let cond = match m.event.as_ref().and_then(|(_, c)| c.as_ref()) {
                Some(c) => Some(CompiledCond::compile(c, &acls)?),
                None => None,
            };
            index_of.insert(m.name.clone(), messages.len());
            messages.push(Message { name: m.name.clone(), args, cond, acls });
        }
        // Only the messages the agent lists are sent on their events.
        for name in &a.messages {
            let i = index_of[name];
            if let Some((event, _)) = conf.messages[i].event {
                let list = &mut events[event_index(event)];
                if !list.contains(&i) {
                    list.push(i);
                }
            }
        }
        let groups = a
            .groups
            .iter()
            .filter_map(|g| conf.group(g))
            .map(|g| (g.name.clone(), g.messages.iter().map(|m| index_of[m]).collect()))
            .collect();
        let var = |name: &Option<String>| name.as_ref().map(|n| VarName { scope: Scope::Txn, name: format!("{}.{n}", a.var_prefix) });
        let max = u32::try_from(bufsize.saturating_sub(4)).unwrap_or(u32::MAX);
        Ok(Engine {
            id,
            name: conf.engine.clone(),
            agent: a.clone(),
            backend,
            max_frame_size: if a.max_frame_size == 0 { max } else { a.max_frame_size.min(max) },
            messages,
            events,
            groups,
            error_var: var(&a.set_on_error),
            process_time_var: var(&a.set_process_time),
            total_time_var: var(&a.set_total_time),
        })
    }

    /// Whether any message is sent on `event`.
    pub fn handles(&self, event: Event) -> bool {
        !self.events[event_index(event)].is_empty()
    }

    /// The messages of group `name` (one the agent lists).
    pub fn group(&self, name: &str) -> Option<&[usize]> {
        self.groups.iter().find(|(n, _)| n == name).map(|(_, m)| m.as_slice())
    }

    /// The NOTIFY payload for `event`: the messages whose condition holds, their
    /// arguments evaluated on `cx`; `None` when no message applies (nothing is sent).
    pub fn encode_event(&self, event: Event, cx: &dyn SampleCtx) -> Option<Vec<u8>> {
        let list = &self.events[event_index(event)];
        let chosen: Vec<usize> = list.iter().copied().filter(|&i| self.messages[i].cond.as_ref().is_none_or(|c| c.eval(&self.messages[i].acls, cx))).collect();
        (!chosen.is_empty()).then(|| self.encode(&chosen, cx))
    }

    /// The NOTIFY payload of `messages` (a group: no condition).
    pub fn encode(&self, messages: &[usize], cx: &dyn SampleCtx) -> Vec<u8> {
        let mut out = Vec::new();
        for &i in messages {
            let m = &self.messages[i];
            let values: Vec<(&str, Value)> = m.args.iter().map(|(name, expr)| (name.as_str(), Value::from_sample(expr.eval(cx)))).collect();
            frame::put_message(&mut out, &m.name, &values);
        }
        out
    }

    /// The variable an agent's action names: `<scope>.<prefix>.<name>`.
    pub fn agent_var(&self, scope: frame::VarScope, name: &str) -> VarName {
        VarName { scope: scope.scope(), name: format!("{}.{name}", self.agent.var_prefix) }
    }

    /// `timeout processing` (HAProxy waits forever without it).
    pub fn processing_timeout(&self) -> Option<Duration> {
        self.agent.timeout_processing
    }
}
