//! The rule pipeline run before a stream connects. Today it holds one analyser, the
//! frontend's `use_backend` rules then `default_backend`; the HTTP and Lua issues add
//! more (request parsing, `tcp-request`/`http-request` rules, Lua actions).
//!
//! The pipeline is resumable: [`RuleCursor`] remembers the next rule to run, so a
//! rule that cannot decide yet returns [`RuleStep::Yield`] and, when the stream is
//! woken (timer, data, run queue), [`run_backend_rules`] resumes at the same rule.
//! A pass runs at most [`MAX_RULES_PER_PASS`] rules, then yields to the reactor
//! ([`WaitFor::Forced`]) so a long rule list cannot monopolize the loop.

use crate::sample::SampleCtx;
use super::proxy::ProxyRt;
use std::time::Instant;

/// Rules evaluated in one pass before yielding.
pub const MAX_RULES_PER_PASS: usize = 200;

/// The resumable position in the rule list.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RuleCursor {
    pub next_rule: usize,
}

/// What a yielded rule waits for before the stream runs it again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WaitFor {
    /// Budget spent: resume from the run queue at the next iteration.
    Forced,
    /// A timer (e.g. a Lua `core.msleep`).
    Timer(Instant),
    /// More bytes from the client (e.g. `tcp-request content` inspection).
    ClientData,
}

/// Outcome of one pass.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RuleStep {
    /// A backend was chosen (index in the proxy table).
    Backend(usize),
    /// No rule matched and there is no default backend.
    NoBackend,
    /// Not decided yet; run again when `WaitFor` happens.
    Yield(WaitFor),
}

/// Runs the `use_backend` rules of `fe` from the cursor. `cx` is what the conditions
/// read: [`super::acl::ConnCtx`] in TCP mode, [`crate::http::rules::RuleCtx`] in HTTP mode.
pub fn run_backend_rules(fe: &ProxyRt, cursor: &mut RuleCursor, cx: &dyn SampleCtx) -> RuleStep {
    let mut budget = MAX_RULES_PER_PASS;
    while cursor.next_rule < fe.rules.len() {
        if budget == 0 {
            return RuleStep::Yield(WaitFor::Forced);
        }
        budget -= 1;
        let i = cursor.next_rule;
        cursor.next_rule += 1;
        if let Some(be) = fe.rule_matches(i, cx) {
            return RuleStep::Backend(be);
        }
    }
    match fe.default_backend {
        Some(be) => RuleStep::Backend(be),
        None => RuleStep::NoBackend,
    }
}
