//! `http-request`, `http-response` and `http-after-response` rules: compiled once per
//! proxy ([`HttpRules`]), run by the stream at the three points of a transaction.
//!
//! The contract with the stream (`src/stream/`):
//! - after the request head is parsed: [`run_request`] with the frontend's rules, then,
//!   once a backend is chosen, with the backend's (a `listen` runs its rules once);
//! - after the response head is parsed: [`run_response`], backend then frontend;
//! - before any response goes to the client, the server's or one the proxy generated
//!   (deny, return, redirect, error pages): [`run_after_response`], backend then frontend.
//!
//! A rule list is resumable: [`RuleCursor`]-style, `cursor` is the next rule to run, so
//! a rule that cannot decide yet ([`Verdict::Yield`]) is run again when the stream is
//! woken. A verdict other than `Continue` stops the list.

use super::txn::Txn;
use crate::sample::vars::Vars;
use crate::stream::analysers::WaitFor;
use std::net::SocketAddr;

/// What the stream knows about the connection when rules run.
pub struct RuleEnv<'a> {
    pub src: Option<SocketAddr>,
    pub dst: Option<SocketAddr>,
    pub frontend: &'a str,
    pub backend: Option<&'a str>,
    pub server: Option<&'a str>,
    /// `sess.*` variables (they live as long as the client connection).
    pub sess_vars: &'a mut Vars,
}

/// How a rule list ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Every rule ran (or `allow` stopped the list): go on with the transaction.
    Continue,
    /// Stop processing and answer with the proxy's error page for `status`
    /// (`deny`, `auth` without a realm page ...), then close.
    Deny { status: u16 },
    /// `tarpit`: hold the connection for `timeout tarpit`, then answer `status`.
    Tarpit { status: u16 },
    /// Answer with this complete HTTP/1.1 response (`return`, `redirect`, `auth`)
    /// instead of forwarding; `close` when the connection must close after it.
    Reply { response: Vec<u8>, close: bool },
    /// `use-service <name>`: an applet answers instead of a server.
    UseService(String),
    /// Cannot decide yet: run the same rule again after this.
    Yield(WaitFor),
}

/// A proxy's compiled HTTP rules. Empty lists cost nothing at run time.
#[derive(Debug, Default)]
pub struct HttpRules {
    pub request: Vec<HttpRule>,
    pub response: Vec<HttpRule>,
    pub after_response: Vec<HttpRule>,
}

/// One compiled rule (action and condition). Filled in by the rules work.
#[derive(Debug)]
pub struct HttpRule {}

/// Runs `rules.request` from `*cursor` on the request in `txn`.
pub fn run_request(rules: &HttpRules, cursor: &mut usize, txn: &mut Txn, env: &mut RuleEnv<'_>) -> Verdict {
    run(&rules.request, cursor, txn, env)
}

/// Runs `rules.response` from `*cursor` on the response in `txn`.
pub fn run_response(rules: &HttpRules, cursor: &mut usize, txn: &mut Txn, env: &mut RuleEnv<'_>) -> Verdict {
    run(&rules.response, cursor, txn, env)
}

/// Runs `rules.after_response` from `*cursor` on the response about to be sent.
pub fn run_after_response(rules: &HttpRules, cursor: &mut usize, txn: &mut Txn, env: &mut RuleEnv<'_>) -> Verdict {
    run(&rules.after_response, cursor, txn, env)
}

fn run(list: &[HttpRule], cursor: &mut usize, _txn: &mut Txn, _env: &mut RuleEnv<'_>) -> Verdict {
    *cursor = (*cursor).max(list.len());
    Verdict::Continue
}
