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
use super::proxy::{ProxyRt, RuleOutcome};
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
    /// `wait-for-body`: the request body, until it is complete, `at_least` bytes
    /// of it arrived (0: no such bound) or the buffer is full, for at most `time`.
    Body { time: Duration, at_least: u64 },
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
        let outcome = match crate::sample::lua::in_rule(|| fe.rule_outcome(i, cx)) {
            Ok(outcome) => outcome,
            // A Lua fetch of the rule waits: the rule runs again after.
            Err(s) => {
                cursor.next_rule = i;
                return RuleStep::Yield(crate::http::rules::lua_wait(s));
            }
        };
        match outcome {
            RuleOutcome::Backend(be) => return RuleStep::Backend(be),
            RuleOutcome::NoMatch => {}
            RuleOutcome::Unresolved => {
                cursor.next_rule = fe.rules.len();
                break;
            }
        }
    }
    match fe.default_backend {
        Some(be) => RuleStep::Backend(be),
        None => RuleStep::NoBackend,
    }
}

// ---- tcp-request / tcp-response rules ---------------------------------------

use super::acl::{AclMatcher, AclSet, CompiledCond};
use crate::config::model::{Acl, AclExpr, AclRef, Condition, MatchMethod, PredefinedAcl, TcpAction, TcpRuleConf, TcpRuleList};
use crate::sample::vars::{Scope, VarName, Vars};
use crate::sample::Expr;
use std::time::Duration;

/// A proxy's compiled `tcp-request connection|content` and `tcp-response content`
/// rules, with their `inspect-delay`s. The stream runs them with [`run_tcp_rules`]:
/// `connection` rules once a connection is accepted, `content` rules before the
/// backend is chosen (in HTTP mode, before the request is parsed), `response`
/// rules before the response is forwarded.
#[derive(Debug, Default)]
pub struct TcpRules {
    pub connection: Vec<TcpRule>,
    pub content: Vec<TcpRule>,
    pub response: Vec<TcpRule>,
    /// `tcp-request inspect-delay`: how long `content` rules may wait for data.
    pub inspect_delay: Option<Duration>,
    /// `tcp-response inspect-delay`.
    pub response_inspect_delay: Option<Duration>,
    acls: std::sync::Arc<AclSet>,
}

/// One compiled TCP rule.
#[derive(Debug)]
pub struct TcpRule {
    pub action: TcpRuleAction,
    pub cond: Option<InspectCond>,
    /// Where it is written (`last_rule_file`, `last_rule_line`).
    pub location: crate::config::model::Location,
}

#[derive(Debug)]
pub enum TcpRuleAction {
    Accept,
    Reject,
    SilentDrop,
    /// `tcp-response content close`: close the server connection, forward what came.
    Close,
    SetVar(VarName, Expr),
    UnsetVar(VarName),
    /// `use-service lua.<name>` (`tcp-request content`): the name without `lua.`.
    UseService(String),
    /// `lua.<name> [args]`: the stream runs the Lua action ([`TcpVerdict::Lua`]).
    Lua(std::sync::Arc<crate::http::rules::LuaAction>),
    /// `track-sc*`, `sc-inc-gpc0/1`, `sc-set-gpt0` (src/stick/action.rs).
    Stick(crate::stick::action::StickAction),
    /// `set-src`, `set-dst`, `set-src-port`, `set-dst-port`: through
    /// [`SampleCtx::set_addr`], so the next rules see the new address.
    SetAddr(super::set_addr::SetAddr),
    /// `set-mark`, `set-tos`: an option of the client socket.
    SockOpt(super::sockopt_action::SockOpt),
    /// `set-nice`: nothing to do (moonproxy has no task priorities).
    SetNice,
    /// `send-spoe-group <engine> <group>` (`tcp-request content`, `tcp-response
    /// content`): the stream sends the group ([`TcpVerdict::Spoe`]).
    SpoeGroup(std::sync::Arc<crate::http::rules::SpoeGroupRef>),
    /// `tcp-request content do-resolve` ([`TcpVerdict::Resolve`]).
    DoResolve(Box<super::resolve::DoResolve>),
    /// `tcp-request content set-priority-class|offset <expr>` ([`TcpVars::priority`]).
    SetPriority { offset: bool, expr: Expr },
}

/// How a TCP rule list ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TcpVerdict {
    /// No rule decided, or `accept`: go on.
    Continue,
    /// `reject`: close the connection (silently for `connection` rules).
    Reject,
    /// `silent-drop`: close the connection as `reject` does, the client told nothing
    /// (not even a FIN or a reset, where the system allows: `sys::sockopt::silent_drop`).
    SilentDrop,
    /// `close` (response rules): close the server side, forward what was received.
    Close,
    /// A condition needs data that has not arrived yet (its fetches "may change"):
    /// run the list again from the same rule when data comes or the inspect delay
    /// expires (the context then says the data is final).
    Wait,
    /// A Lua fetch or converter of the rule at the cursor waits (`core.msleep`, a
    /// socket): run the list again from that rule once this happened.
    Suspended(WaitFor),
    /// `use-service`: the Lua TCP service of this rule (its index in the list, see
    /// [`TcpRules::service_name`]) takes the connection.
    UseService(usize),
    /// Rule `n` of the list is a Lua action whose condition holds: the stream runs it
    /// (it may wait), then the list again from the cursor, which is past it.
    Lua(usize),
    /// Rule `n` of the list is a `send-spoe-group` whose condition holds: the stream
    /// sends the group (it may wait for the agent), then runs the list again from the
    /// cursor, which is past it (`super::spoe`).
    Spoe(usize),
    /// A `do-resolve` rule asks for the name in [`TcpVars::resolve`]: the stream
    /// resolves it (waiting within the inspect delay), then runs the list again from
    /// the cursor, which is past it.
    Resolve,
}

impl TcpRules {
    /// Compiles a proxy's TCP rules; errors are complete alert texts.
    pub fn compile(confs: &[TcpRuleConf], acls: &[Acl]) -> Result<TcpRules, Vec<String>> {
        let acls = AclSet::compile(acls).map_err(|e| vec![e])?;
        TcpRules::compile_with(confs, std::sync::Arc::new(acls))
    }

    /// [`TcpRules::compile`] with the proxy's ACLs already compiled.
    pub fn compile_with(confs: &[TcpRuleConf], acls: std::sync::Arc<AclSet>) -> Result<TcpRules, Vec<String>> {
        let mut out = TcpRules { acls, ..TcpRules::default() };
        let mut errors = Vec::new();
        for c in confs {
            let Some(action) = &c.action else {
                match c.list {
                    TcpRuleList::ResponseContent => out.response_inspect_delay = c.delay,
                    _ => out.inspect_delay = c.delay,
                }
                continue;
            };
            let var = |n: &str| VarName::parse(n).ok_or_else(|| format!("parsing [{}] : invalid variable name '{n}'.", c.location));
            let action = match action {
                TcpAction::Accept => Ok(TcpRuleAction::Accept),
                TcpAction::Reject => Ok(TcpRuleAction::Reject),
                TcpAction::SilentDrop => Ok(TcpRuleAction::SilentDrop),
                TcpAction::Close => Ok(TcpRuleAction::Close),
                TcpAction::SetVar { name, expr } => var(name).and_then(|v| {
                    Expr::parse(expr)
                        .map(|e| TcpRuleAction::SetVar(v, e))
                        .map_err(|e| format!("parsing [{}] : {e}.", c.location))
                }),
                TcpAction::UnsetVar { name } => var(name).map(TcpRuleAction::UnsetVar),
                TcpAction::UseService { name } => {
                    Ok(TcpRuleAction::UseService(name.strip_prefix("lua.").unwrap_or(name).to_string()))
                }
                TcpAction::Lua { name, args } => Ok(TcpRuleAction::Lua(std::sync::Arc::new(
                    crate::http::rules::LuaAction { name: name.clone(), args: args.clone() },
                ))),
                TcpAction::StickCounter { words, proxy } => crate::stick::action::StickAction::parse(words, proxy)
                    .map(TcpRuleAction::Stick)
                    .map_err(|e| format!("parsing [{}] : {e}.", c.location)),
                TcpAction::SockOpt(opt) => Ok(TcpRuleAction::SockOpt(*opt)),
                TcpAction::SetNice(_) => Ok(TcpRuleAction::SetNice),
                TcpAction::SendSpoeGroup { engine, group } => {
                    Ok(TcpRuleAction::SpoeGroup(std::sync::Arc::new(crate::http::rules::SpoeGroupRef { engine: engine.clone(), group: group.clone() })))
                }
                TcpAction::SetPriority { offset, expr } => Expr::parse(expr)
                    .map(|expr| TcpRuleAction::SetPriority { offset: *offset, expr })
                    .map_err(|e| format!("parsing [{}] : {e}.", c.location)),
                TcpAction::DoResolve { words } => super::resolve::DoResolve::parse(&words[0], &words[1..])
                    .map(|d| TcpRuleAction::DoResolve(Box::new(d)))
                    .map_err(|e| format!("parsing [{}] : {e}.", c.location)),
                TcpAction::SetAddr { keyword, expr } => {
                    let part = super::set_addr::AddrPart::from_keyword(keyword).ok_or_else(|| format!("parsing [{}] : unknown action '{keyword}'.", c.location));
                    part.and_then(|part| {
                        super::set_addr::SetAddr::parse(part, std::slice::from_ref(expr))
                            .map(TcpRuleAction::SetAddr)
                            .map_err(|e| format!("parsing [{}] : {e}.", c.location))
                    })
                }
            };
            let cond = c.cond.as_ref().map(|cond| InspectCond::compile(cond, &out.acls)).transpose();
            match (action, cond) {
                (Ok(action), Ok(cond)) => {
                    let rule = TcpRule { action, cond, location: c.location.clone() };
                    match c.list {
                        TcpRuleList::Connection => out.connection.push(rule),
                        TcpRuleList::Content => out.content.push(rule),
                        TcpRuleList::ResponseContent => out.response.push(rule),
                    }
                }
                (Err(e), _) | (_, Err(e)) => errors.push(e),
            }
        }
        if errors.is_empty() { Ok(out) } else { Err(errors) }
    }

    /// Gives the `do-resolve` rules their `resolvers` sections (a missing one was
    /// refused by the configuration check: such a rule does nothing).
    pub fn bind_resolvers(&mut self, sections: &[crate::config::model::Resolvers]) {
        for rule in &mut self.content {
            if let TcpRuleAction::DoResolve(d) = &mut rule.action {
                d.bind(sections);
            }
        }
    }

    /// The rules of `list`.
    pub fn list(&self, list: TcpRuleList) -> &[TcpRule] {
        match list {
            TcpRuleList::Connection => &self.connection,
            TcpRuleList::Content => &self.content,
            TcpRuleList::ResponseContent => &self.response,
        }
    }

    /// The service of the `content` rule `index` ([`TcpVerdict::UseService`]).
    pub fn service_name(&self, index: usize) -> Option<&str> {
        match &self.content.get(index)?.action {
            TcpRuleAction::UseService(name) => Some(name),
            _ => None,
        }
    }

    /// The group of the `send-spoe-group` rule `index` of `list`.
    pub fn spoe_group(&self, list: TcpRuleList, index: usize) -> Option<std::sync::Arc<crate::http::rules::SpoeGroupRef>> {
        match &self.list(list).get(index)?.action {
            TcpRuleAction::SpoeGroup(g) => Some(g.clone()),
            _ => None,
        }
    }
}

/// The result of a condition on data that may still be incomplete: HAProxy's
/// three-valued ACL logic (`ACL_TEST_FAIL`, `ACL_TEST_MISS`, `ACL_TEST_PASS`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tri {
    Fail,
    /// Not decided: a fetch lacked data that may still come.
    Miss,
    Pass,
}

impl Tri {
    fn not(self) -> Tri {
        match self {
            Tri::Fail => Tri::Pass,
            Tri::Pass => Tri::Fail,
            Tri::Miss => Tri::Miss,
        }
    }
}

#[derive(Debug)]
enum InspectTerm {
    Const(bool),
    Named(String),
    Anon(Box<AclMatcher>),
}

/// An `if|unless` condition of a TCP rule, evaluated term by term so that a term
/// whose fetch lacked data ([`crate::sample::SampleCtx::may_change`]) counts as
/// unknown ([`Tri::Miss`]): `a || b` passes as soon as one term passes, `a b` fails
/// as soon as one fails, and a negated unknown stays unknown, as in HAProxy.
#[derive(Debug)]
pub struct InspectCond {
    unless: bool,
    or_groups: Vec<Vec<(bool, InspectTerm)>>,
}

impl InspectCond {
    /// Compiles `cond` against the proxy's ACLs (every named ACL must exist).
    pub fn compile(cond: &Condition, set: &AclSet) -> Result<InspectCond, String> {
        // The same checks and messages as every other rule's conditions.
        CompiledCond::compile(cond, set)?;
        let mut or_groups = Vec::new();
        for group in &cond.or_groups {
            let mut terms = Vec::new();
            for t in group {
                let term = match &t.acl {
                    _ if t.unusable => InspectTerm::Const(false),
                    AclRef::Predefined(PredefinedAcl::True) => InspectTerm::Const(true),
                    AclRef::Predefined(PredefinedAcl::False) => InspectTerm::Const(false),
                    AclRef::Predefined(PredefinedAcl::LocalHost) => {
                        let e = AclExpr {
                            fetch: "src".into(),
                            fetch_args: vec![],
                            converters: vec![],
                            method: MatchMethod::Ip,
                            ignore_case: false,
                            patterns: vec!["127.0.0.1/8".into(), "::1".into()],
                            sample: String::new(),
                            files: vec![],
                            files_are_maps: false,
                            keyword: None,
                        };
                        InspectTerm::Anon(Box::new(AclMatcher::compile(&e)?))
                    }
                    AclRef::Named(n) => InspectTerm::Named(n.clone()),
                    AclRef::Anonymous(e) => InspectTerm::Anon(Box::new(
                        AclMatcher::compile(e).map_err(|e| format!("parsing [{}] : {e}", cond.location))?,
                    )),
                };
                terms.push((t.negate, term));
            }
            or_groups.push(terms);
        }
        Ok(InspectCond { unless: cond.unless, or_groups })
    }

    /// Evaluates the condition; [`Tri::Miss`] when the answer needs more data.
    pub fn eval(&self, set: &AclSet, cx: &dyn SampleCtx) -> Tri {
        let mut any = Tri::Fail;
        for group in &self.or_groups {
            let mut all = Tri::Pass;
            for (negate, term) in group {
                cx.took_may_change(); // forget what earlier terms reported
                let pass = match term {
                    InspectTerm::Const(b) => *b,
                    InspectTerm::Named(n) => set.eval(n, cx),
                    InspectTerm::Anon(m) => m.matches(cx),
                };
                let missed = cx.took_may_change();
                let mut v = match (pass, missed) {
                    (true, _) => Tri::Pass,
                    (false, true) => Tri::Miss,
                    (false, false) => Tri::Fail,
                };
                if *negate {
                    v = v.not();
                }
                match v {
                    Tri::Fail => {
                        all = Tri::Fail;
                        break;
                    }
                    Tri::Miss => all = Tri::Miss,
                    Tri::Pass => {}
                }
            }
            match all {
                Tri::Pass => {
                    any = Tri::Pass;
                    break;
                }
                Tri::Miss => any = Tri::Miss,
                Tri::Fail => {}
            }
        }
        if self.unless { any.not() } else { any }
    }
}

/// The variables TCP rules may set: `sess.*` always, `txn.*`/`req.*`/`res.*` once a
/// stream exists (`None` for `tcp-request connection`, where HAProxy refuses them).
pub struct TcpVars<'a> {
    pub sess: &'a mut Vars,
    pub txn: Option<&'a mut Vars>,
    /// Set by [`run_tcp_rules`]: the rule whose verdict (`accept`, `reject`, `close`,
    /// `use-service`) ended the list (`last_rule_file`, `last_rule_line`).
    pub decided: Option<usize>,
    /// Set by [`run_tcp_rules`] with [`TcpVerdict::Resolve`]: what to resolve.
    pub resolve: Option<Box<super::resolve::Request>>,
    /// The stream's queue priority class and offset, which `set-priority-class` and
    /// `set-priority-offset` rules change.
    pub priority: (i32, i32),
}

/// Runs the rules of `list` from `cursor` and stops at the first `accept`, `reject`
/// or `close` whose condition holds. `cx` is read by conditions and `set-var`
/// expressions. A variable goes to `cx` when it stores variables itself
/// ([`SampleCtx::set_var`] is true: the next rules see it at once, as in HAProxy),
/// else to `vars`, which `cx` cannot borrow (the rules of that pass then see
/// variables as they were when it started).
///
/// A condition whose fetches lack data that may still come ([`Tri::Miss`]) stops the
/// pass with [`TcpVerdict::Wait`], the cursor on that rule: the stream runs the list
/// again when data arrives, and once the inspect delay expired, with a context whose
/// data is final (then nothing is unknown any more and every rule decides).
pub fn run_tcp_rules(
    rules: &TcpRules,
    list: TcpRuleList,
    cursor: &mut RuleCursor,
    cx: &dyn SampleCtx,
    vars: &mut TcpVars<'_>,
) -> TcpVerdict {
    let list_kind = list;
    let list = rules.list(list);
    while let Some(rule) = list.get(cursor.next_rule) {
        // `None`: the next rule. A Lua fetch of the rule that waits leaves the list at
        // the rule, which runs again once the stream is woken.
        let at = cursor.next_rule;
        let ran = crate::sample::lua::in_rule(|| {
            if let Some(c) = &rule.cond {
                match c.eval(&rules.acls, cx) {
                    _ if crate::sample::lua::suspended() => return None,
                    Tri::Miss => return Some(TcpVerdict::Wait),
                    Tri::Fail => {
                        cursor.next_rule += 1;
                        return None;
                    }
                    Tri::Pass => {}
                }
            }
            let index = cursor.next_rule;
            cursor.next_rule += 1;
            let end = match &rule.action {
                TcpRuleAction::Accept => TcpVerdict::Continue,
                TcpRuleAction::UseService(_) => TcpVerdict::UseService(index),
                TcpRuleAction::Reject => TcpVerdict::Reject,
                TcpRuleAction::SilentDrop => TcpVerdict::SilentDrop,
                TcpRuleAction::Close => TcpVerdict::Close,
                TcpRuleAction::Lua(_) => return Some(TcpVerdict::Lua(cursor.next_rule - 1)),
                TcpRuleAction::SpoeGroup(_) => return Some(TcpVerdict::Spoe(index)),
                TcpRuleAction::Stick(a) => {
                    let level = match list_kind {
                        TcpRuleList::Connection => crate::stick::session::Level::Connection,
                        _ => crate::stick::session::Level::Stream,
                    };
                    a.exec(cx, level);
                    return None;
                }
                TcpRuleAction::SockOpt(opt) => {
                    opt.apply(cx.client_conn().and_then(|c| c.fd));
                    return None;
                }
                TcpRuleAction::SetNice => return None,
                TcpRuleAction::SetPriority { offset, expr } => {
                    let v = expr.eval(cx);
                    if !crate::sample::lua::suspended() {
                        crate::http::rules::set_priority(&mut vars.priority, *offset, v);
                    }
                    return None;
                }
                TcpRuleAction::DoResolve(d) => {
                    let req = d.request(cx);
                    if crate::sample::lua::suspended() {
                        return None;
                    }
                    vars.resolve = Some(Box::new(req?));
                    return Some(TcpVerdict::Resolve);
                }
                TcpRuleAction::SetAddr(set) => {
                    let v = set.expr.eval(cx);
                    if crate::sample::lua::suspended() {
                        return None;
                    }
                    if let Some(v) = v {
                        cx.set_addr(set.part, v);
                    }
                    return None;
                }
                TcpRuleAction::SetVar(name, expr) => {
                    // A context that stores variables itself shows the write to the next
                    // rules at once, as HAProxy does.
                    let v = expr.eval(cx);
                    if crate::sample::lua::suspended() {
                        return None;
                    }
                    if let Some(v) = v.filter(|v| !cx.set_var(name, Some(v.clone()))) {
                        match (name.scope, vars.txn.as_deref_mut()) {
                            (Scope::Sess, _) => vars.sess.set(name, v),
                            (Scope::Proc, _) => crate::sample::vars::with_proc_vars(|p| p.set(name, v)),
                            (Scope::Txn | Scope::Req | Scope::Res, Some(t)) => t.set(name, v),
                            _ => {}
                        }
                    }
                    return None;
                }
                TcpRuleAction::UnsetVar(name) => {
                    if cx.set_var(name, None) {
                        return None;
                    }
                    match (name.scope, vars.txn.as_deref_mut()) {
                        (Scope::Sess, _) => {
                            vars.sess.unset(name);
                        }
                        (Scope::Proc, _) => {
                            crate::sample::vars::with_proc_vars(|p| p.unset(name));
                        }
                        (Scope::Txn | Scope::Req | Scope::Res, Some(t)) => {
                            t.unset(name);
                        }
                        _ => {}
                    }
                    return None;
                }
            };
            cursor.next_rule = list.len();
            vars.decided = Some(index);
            Some(end)
        });
        match ran {
            Ok(Some(v)) => return v,
            Ok(None) => {}
            Err(s) => {
                cursor.next_rule = at;
                return TcpVerdict::Suspended(crate::http::rules::lua_wait(s));
            }
        }
    }
    TcpVerdict::Continue
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{parse_str, ParseOptions};
    use crate::stream::acl::ConnCtx;

    fn rules(body: &str) -> TcpRules {
        let text = format!("frontend fe\n  bind 127.0.0.1:0\n{body}");
        let loaded = parse_str("t.cfg", &text, &ParseOptions::default()).unwrap();
        let p = &loaded.config.proxies[0];
        TcpRules::compile(&p.tcp_rules, &p.acls).unwrap()
    }

    fn cx(src: &str) -> ConnCtx {
        ConnCtx { src: Some(src.parse().unwrap()), dst: Some("127.0.0.1:80".parse().unwrap()) }
    }

    #[test]
    fn accept_reject_and_variables() {
        let r = rules(
            "  acl lan src 10.0.0.0/8\n  tcp-request inspect-delay 2s\n  tcp-request connection set-var(sess.port) src_port\n  tcp-request connection accept if lan\n  tcp-request connection reject\n  tcp-request content set-var(txn.t) str(x)\n  tcp-request content unset-var(sess.port) if { src_port 1 }\n",
        );
        assert_eq!(r.inspect_delay, Some(Duration::from_secs(2)));
        let mut sess = Vars::new();
        let run = |src: &str, sess: &mut Vars| {
            let mut cursor = RuleCursor::default();
            run_tcp_rules(&r, TcpRuleList::Connection, &mut cursor, &cx(src), &mut TcpVars { sess, txn: None, decided: None, resolve: None, priority: (0, 0) })
        };
        assert_eq!(run("10.1.1.1:5", &mut sess), TcpVerdict::Continue);
        assert_eq!(run("11.1.1.1:5", &mut sess), TcpVerdict::Reject);
        let port = VarName::parse("sess.port").unwrap();
        assert_eq!(sess.get(&port), Some(&crate::sample::Sample::Sint(5)));
        let mut txn = Vars::new();
        let mut cursor = RuleCursor::default();
        let v = run_tcp_rules(&r, TcpRuleList::Content, &mut cursor, &cx("10.1.1.1:1"), &mut TcpVars { sess: &mut sess, txn: Some(&mut txn), decided: None, resolve: None, priority: (0, 0) });
        assert_eq!(v, TcpVerdict::Continue);
        assert_eq!(txn.get(&VarName::parse("txn.t").unwrap()), Some(&crate::sample::Sample::str("x")));
        assert_eq!(sess.get(&port), None);
    }

    /// `use_backend %[...]`: the rendered name picks the backend; a name that is no
    /// backend ends the rules with `default_backend` (HAProxy's behaviour).
    #[test]
    fn dynamic_backend_names() {
        let text = "frontend fe\n  mode http\n  bind 127.0.0.1:0\n  use_backend be_%[req.hdr(x-be)] if { req.hdr(x-be) -m found }\n  use_backend be_2 if { path /two }\n  default_backend be_1\nbackend be_1\n  mode http\nbackend be_2\n  mode http\nbackend be_3\n  mode http\n";
        let loaded = parse_str("t.cfg", text, &ParseOptions::default()).unwrap();
        let proxies = crate::stream::proxy::build_proxies(&loaded.config).unwrap();
        let fe = &proxies[0];
        let route = |req: &str| {
            let raw = format!("{req}\r\n\r\n").replace('\n', "\r\n").replace("\r\r", "\r");
            let Ok(crate::http::h1::Status::Complete(r, _)) =
                crate::http::h1::RequestParser::new(Default::default()).parse(raw.as_bytes())
            else {
                panic!("{raw:?}")
            };
            let txn = crate::http::txn::Txn { req: Some(r), ..Default::default() };
            let mut sess = Vars::new();
            let env = crate::http::rules::RuleEnv { src: None, dst: None, frontend: "fe", backend: None, server: None, sess_vars: &mut sess, userlists: &[], tls: None, server_tls: None, conn: Default::default() };
            let cx = crate::http::rules::RuleCtx::new(&env, &txn);
            match run_backend_rules(fe, &mut RuleCursor::default(), &cx) {
                RuleStep::Backend(i) => proxies[i].name.clone(),
                other => format!("{other:?}"),
            }
        };
        assert_eq!(route("GET /two HTTP/1.1\nX-Be: 3"), "be_3");
        assert_eq!(route("GET /two HTTP/1.1\nX-Be: nope"), "be_1");
        assert_eq!(route("GET /two HTTP/1.1"), "be_2");
        assert_eq!(route("GET /x HTTP/1.1"), "be_1");
        // A frontend is not a backend.
        let text = "frontend fe\n  bind 127.0.0.1:0\n  use_backend %[fe_name]\n  default_backend be\nbackend be\n";
        let loaded = parse_str("t.cfg", text, &ParseOptions::default()).unwrap();
        let proxies = crate::stream::proxy::build_proxies(&loaded.config).unwrap();
        let step = run_backend_rules(&proxies[0], &mut RuleCursor::default(), &TestFe);
        assert_eq!(step, RuleStep::Backend(1));
    }

    /// Conditions on data that may still change wait ([`TcpVerdict::Wait`]) at their
    /// rule, with HAProxy's three-valued logic; final data always decides.
    #[test]
    fn content_rules_wait_for_data_that_may_change() {
        use crate::sample::{ChannelData, Dir};
        struct Data(&'static [u8], bool, std::cell::Cell<bool>);
        impl SampleCtx for Data {
            fn channel_data(&self, _: Dir) -> Option<ChannelData<'_>> {
                Some(ChannelData { bytes: self.0, last: self.1 })
            }
            fn may_change(&self) {
                self.2.set(true);
            }
            fn took_may_change(&self) -> bool {
                self.2.replace(false)
            }
        }
        let r = rules(
            "  tcp-request inspect-delay 2s\n  tcp-request content set-var(sess.n) int(1)\n  tcp-request content accept if { req.payload(0,4) -m str PING }\n  tcp-request content reject if { req.len gt 6 } || FALSE\n  tcp-request content reject unless { req.len ge 3 }\n  tcp-request content accept if TRUE || { req.len gt 100 }\n",
        );
        let run = |bytes: &'static [u8], last: bool, cursor: &mut RuleCursor| {
            let mut sess = Vars::new();
            let cx = Data(bytes, last, Default::default());
            run_tcp_rules(&r, TcpRuleList::Content, cursor, &cx, &mut TcpVars { sess: &mut sess, txn: None, decided: None, resolve: None, priority: (0, 0) })
        };
        let mut c = RuleCursor::default();
        assert_eq!(run(b"PI", false, &mut c), TcpVerdict::Wait);
        assert_eq!(c.next_rule, 1, "waits at the rule that needs data, after the set-var");
        assert_eq!(run(b"PING", false, &mut c), TcpVerdict::Continue);
        let mut c = RuleCursor::default();
        assert_eq!(run(b"PANGxyz", false, &mut c), TcpVerdict::Reject, "a passing term decides at once");
        let mut c = RuleCursor::default();
        assert_eq!(run(b"PANG", false, &mut c), TcpVerdict::Wait, "req.len gt 6 may still become true");
        assert_eq!(run(b"PANG", true, &mut c), TcpVerdict::Continue, "final: TRUE || ... accepts");
        let mut c = RuleCursor::default();
        assert_eq!(run(b"PA", true, &mut c), TcpVerdict::Reject, "unless on final data");
    }

    struct TestFe;
    impl SampleCtx for TestFe {
        fn frontend_name(&self) -> Option<&str> {
            Some("fe")
        }
    }
}
