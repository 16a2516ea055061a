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
//! A rule list is resumable: `cursor` is the next rule to run, so a rule that cannot
//! decide yet ([`Verdict::Yield`]) is run again when the stream is woken. A verdict
//! other than `Continue` stops the list; so does `allow`.
//!
//! Conditions and samples read the transaction through [`RuleCtx`], which the stream
//! can also use for its own conditions (`use_backend` in HTTP mode).
//!
//! Actions are parsed by [`Action::parse`] (the configuration parser calls it to
//! report errors at their line) and compiled again when the proxy is built.

mod fmt;
pub mod normalize;
#[cfg(test)]
mod tests;

pub use fmt::{vars_compiled, Fmt};
pub use normalize::Normalizer;

use super::txn::Txn;
use super::{Method, TargetForm};
use crate::config::model::{Acl, HttpRuleConf, HttpRuleList, Level, Location};
use crate::sample::regex::Regex;
use crate::sample::vars::{Scope, VarName, Vars};
use crate::sample::{Expr, Sample, SampleCtx};
use crate::stream::acl::{AclSet, CompiledCond};
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
    /// The `userlist` sections (`http_auth`, `http_auth_group`).
    pub userlists: &'a [crate::config::model::Userlist],
    /// The client connection's TLS (`ssl_fc*`).
    pub tls: Option<std::sync::Arc<crate::tls::TlsInfo>>,
    /// The server connection's TLS (`ssl_bc*`): response rules and logs.
    pub server_tls: Option<std::sync::Arc<crate::tls::TlsInfo>>,
    /// The client connection's socket and PROXY header (`fc_rtt`, `fc_rcvd_proxy`).
    pub conn: crate::sample::fetch_conn::ClientConn,
}

/// The sample context of a transaction: the connection from [`RuleEnv`], the messages,
/// bodies, captures and variables from [`Txn`].
pub struct RuleCtx<'a, 'e> {
    pub env: &'a RuleEnv<'e>,
    pub txn: &'a Txn,
    /// Where `set-var()`/`unset-var()` converters record their writes while the
    /// transaction is borrowed; the rule runner applies them after each rule.
    writes: Option<&'a VarWrites>,
    /// The connection's addresses: `env`'s, then as the `set-src`... of TCP rules run
    /// through a recording context leave them ([`RuleCtx::addrs`]).
    src: std::cell::Cell<Option<SocketAddr>>,
    dst: std::cell::Cell<Option<SocketAddr>>,
}

/// Variable writes made by converters during one rule: `None` unsets.
pub type VarWrites = std::cell::RefCell<Vec<(VarName, Option<Sample>)>>;

impl<'a, 'e> RuleCtx<'a, 'e> {
    /// A context reading `env` and `txn`. `set-var()` converters evaluated through
    /// it only reach `proc.*` variables (the others need the rule runner).
    pub fn new(env: &'a RuleEnv<'e>, txn: &'a Txn) -> RuleCtx<'a, 'e> {
        RuleCtx::with(env, txn, None)
    }

    fn with(env: &'a RuleEnv<'e>, txn: &'a Txn, writes: Option<&'a VarWrites>) -> RuleCtx<'a, 'e> {
        RuleCtx { env, txn, writes, src: env.src.into(), dst: env.dst.into() }
    }

    fn with_writes(env: &'a RuleEnv<'e>, txn: &'a Txn, writes: &'a VarWrites) -> RuleCtx<'a, 'e> {
        RuleCtx::with(env, txn, Some(writes))
    }

    /// A context whose variable writes (`set-var` of TCP rules, `set-var()`
    /// converters) are recorded in `writes` and seen by later reads through it;
    /// [`apply_writes`] stores them once `txn` may be borrowed mutably.
    pub fn recording(env: &'a RuleEnv<'e>, txn: &'a Txn, writes: &'a VarWrites) -> RuleCtx<'a, 'e> {
        RuleCtx::with_writes(env, txn, writes)
    }

    /// The connection's `(src, dst)` as the rules run through this context left them.
    pub fn addrs(&self) -> (Option<SocketAddr>, Option<SocketAddr>) {
        (self.src.get(), self.dst.get())
    }
}

/// Applies the variable writes recorded through a [`RuleCtx::recording`] context.
pub fn apply_writes(writes: &VarWrites, txn: &mut Txn, env: &mut RuleEnv<'_>) {
    crate::sample::conv_proxy::apply_captures(&mut txn.req_captures, &mut txn.res_captures);
    for (name, value) in writes.borrow_mut().drain(..) {
        match value {
            Some(v) => set_var(&name, v, txn, env),
            None => unset_var(&name, txn, env),
        }
    }
}

impl SampleCtx for RuleCtx<'_, '_> {
    fn client_conn(&self) -> Option<crate::sample::fetch_conn::ClientConn> {
        Some(self.env.conn.clone())
    }
    fn tls(&self) -> Option<&crate::tls::TlsInfo> {
        self.env.tls.as_deref()
    }
    fn server_tls(&self) -> Option<&crate::tls::TlsInfo> {
        self.env.server_tls.as_deref()
    }
    fn src(&self) -> Option<SocketAddr> {
        self.src.get()
    }
    fn set_addr(&self, part: crate::stream::set_addr::AddrPart, value: Sample) -> bool {
        // Only TCP rules call this, through a recording context (the HTTP rules'
        // `set-src` writes `RuleEnv` itself).
        if self.writes.is_none() {
            return false;
        }
        crate::stream::set_addr::set_cell(part, value, (&self.src, &self.dst));
        true
    }
    fn userlist(&self, name: &str) -> Option<&crate::config::model::Userlist> {
        self.env.userlists.iter().find(|u| u.name == name)
    }
    fn dst(&self) -> Option<SocketAddr> {
        self.dst.get()
    }
    fn frontend_name(&self) -> Option<&str> {
        Some(self.env.frontend)
    }
    fn backend_name(&self) -> Option<&str> {
        self.env.backend
    }
    fn server_name(&self) -> Option<&str> {
        self.env.server
    }
    fn var(&self, name: &VarName) -> Option<Sample> {
        // A write made earlier in the same rule wins.
        if let Some(w) = self.writes {
            if let Some((_, v)) = w.borrow().iter().rev().find(|(n, _)| n == name) {
                return v.clone();
            }
        }
        match name.scope {
            Scope::Sess => self.env.sess_vars.get(name).cloned(),
            Scope::Txn | Scope::Req | Scope::Res => self.txn.vars.get(name).cloned(),
            Scope::Proc => crate::sample::vars::with_proc_vars(|v| v.get(name).cloned()),
            _ => None,
        }
    }
    fn http_req(&self) -> Option<&super::Request> {
        self.txn.req.as_ref()
    }
    fn http_res(&self) -> Option<&super::Response> {
        self.txn.res.as_ref()
    }
    fn http_txn(&self) -> Option<&Txn> {
        Some(self.txn)
    }
    fn set_var(&self, name: &VarName, value: Option<Sample>) -> bool {
        match (name.scope, self.writes) {
            (Scope::Proc, _) => crate::sample::vars::with_proc_vars(|p| match value {
                Some(v) => p.set(name, v),
                None => {
                    p.unset(name);
                }
            }),
            (_, Some(w)) => w.borrow_mut().push((name.clone(), value)),
            (_, None) => return false,
        }
        true
    }
    fn set_capture(&self, response: bool, slot: usize, value: &[u8]) -> bool {
        // Stored with the variable writes, once the transaction may be changed.
        self.writes.is_some() && crate::sample::conv_proxy::record_capture(response, slot, value)
    }
}

/// How a rule list ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Every rule ran (or `allow` stopped the list): go on with the transaction.
    Continue,
    /// Stop processing and answer with the proxy's error page for `status`
    /// (`deny`, `auth` without a realm page ...), then close.
    Deny { status: u16 },
    /// `deny` with `return` arguments (`status`, `hdr`, a payload...): this reply, in
    /// place of the error page, logged and counted as a denial (`PR`, `dreq`) and, as
    /// HAProxy 2.6 does, keeping the connection open when the request allows.
    DenyWith(Vec<u8>),
    /// `tarpit`: hold the connection for `timeout tarpit`, then answer `status` (its
    /// error page), or `response` when the rule gave `return` arguments.
    Tarpit { status: u16, response: Option<Vec<u8>> },
    /// `reject` (request) and `silent-drop`: close the client connection without an
    /// answer; `silent`: without telling the client (`sys::sockopt::silent_drop`).
    Drop { silent: bool },
    /// Answer with this complete HTTP/1.1 response (`return`, `redirect`, `auth`)
    /// instead of forwarding; `close` when the connection must close after it.
    Reply { response: Vec<u8>, close: bool },
    /// `use-service <name>`: an applet answers instead of a server.
    UseService(String),
    /// Cannot decide yet: run the rules again from the cursor after this. For
    /// [`WaitFor::Body`] (`wait-for-body`) the cursor is already past the rule: the
    /// stream waits for the body, keeps it for `req.body`, then resumes.
    Yield(WaitFor),
    /// `early-hint`: send this `103 Early Hints` interim response to the client now,
    /// then run the rules again from the cursor (past the rule).
    EarlyHint(Vec<u8>),
    /// `lua.<name>`: the stream runs this Lua action (it may wait), then runs the
    /// rules again from the cursor (past the rule) unless the action's result says
    /// otherwise (`src/stream/lua.rs`).
    Lua(std::sync::Arc<LuaAction>),
    /// `do-resolve`: the stream resolves the name (it waits), stores the address in
    /// the variable, then runs the rules again from the cursor (past the rule)
    /// (`src/stream/resolve.rs`).
    Resolve(Box<crate::stream::resolve::Request>),
    /// `send-spoe-group <engine> <group>`: the stream sends the group's messages to
    /// the engine's agent and waits for the answer (`src/stream/spoe.rs`), then runs
    /// the rules again from the cursor (past the rule).
    Spoe(std::sync::Arc<SpoeGroupRef>),
}

/// `send-spoe-group <engine> <group>`, checked against the proxy's `filter spoe`
/// lines after parsing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpoeGroupRef {
    pub engine: String,
    pub group: String,
}

/// A `lua.<name> [args...]` action: the name `core.register_action` gave and the
/// configuration's arguments. The name is resolved once the `lua-load` files ran
/// (`runtime::lua::resolve_actions`), so the parser accepts any `lua.` word.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LuaAction {
    pub name: String,
    pub args: Vec<String>,
}

/// A proxy's compiled HTTP rules. Empty lists cost nothing at run time.
#[derive(Debug, Default)]
pub struct HttpRules {
    pub request: Vec<HttpRule>,
    pub response: Vec<HttpRule>,
    pub after_response: Vec<HttpRule>,
    /// The proxy's named ACLs, as the rules' conditions see them (shared with
    /// the proxy's other rules).
    pub acls: std::sync::Arc<AclSet>,
    /// The first request capture slot `http-request capture ... len N` uses: the
    /// number of `capture request header` lines before them (set by whoever builds
    /// the captures; 0 by default).
    pub req_capture_base: usize,
    /// The length of each request and response capture slot (`capture ... header`
    /// and `declare capture` lines, in order): what `capture ... id <n>` keeps. Empty
    /// by default (values kept whole).
    pub capture_lens: (Vec<usize>, Vec<usize>),
}

/// One compiled rule: an action and its condition.
#[derive(Debug)]
pub struct HttpRule {
    pub action: Action,
    pub cond: Option<CompiledCond>,
    pub location: Location,
}

/// `redirect location|prefix|scheme`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RedirectKind {
    Location,
    Prefix,
    Scheme,
}

/// A compiled action.
#[derive(Debug)]
pub enum Action {
    SetHeader { name: String, value: Fmt },
    AddHeader { name: String, value: Fmt },
    /// `del-header <name> [-m str|beg|end|sub|reg]`: names compared ignoring case.
    DelHeader { name: String, matcher: Option<crate::sample::Matcher> },
    /// `replace-header` (`per_value: false`) and `replace-value` (`true`).
    ReplaceHeader { name: String, re: Regex, with: Fmt, per_value: bool },
    SetMethod(Fmt),
    SetPath(Fmt),
    SetPathq(Fmt),
    SetQuery(Fmt),
    SetUri(Fmt),
    /// `replace-path`, `replace-pathq`, `replace-uri`.
    ReplaceTarget { part: TargetPart, re: Regex, with: Fmt },
    SetStatus { status: u16, reason: Option<String> },
    Deny { status: u16, reply: Option<Box<ReturnSpec>> },
    /// `tarpit`: the error page of `status`, or the reply (`return` arguments) after
    /// the wait.
    Tarpit { status: u16, reply: Option<Box<ReturnSpec>> },
    /// `http-request reject`, `http-request|response silent-drop`.
    Drop { silent: bool },
    Return(Box<ReturnSpec>),
    Redirect {
        kind: RedirectKind,
        target: Fmt,
        code: u16,
        drop_query: bool,
        append_slash: bool,
        /// `ignore-empty`: no redirect when the target renders empty.
        ignore_empty: bool,
        cookie: Option<String>,
    },
    SetVar { name: VarName, expr: Expr },
    SetVarFmt { name: VarName, fmt: Fmt },
    UnsetVar(VarName),
    SetLogLevel(Option<Level>),
    /// `disable-l7-retry`: this transaction is not retried by `retry-on` (only its
    /// connection failures are).
    DisableL7Retry,
    Allow,
    /// `capture <sample> len <n>` (a new slot) or `id <n>` (a declared slot).
    Capture { expr: Expr, slot: CaptureSlot, response: bool },
    Auth { realm: String },
    UseService(String),
    /// `early-hint <name> <fmt>`: a header of a `103 Early Hints` sent before the
    /// final response (not to HTTP/1.0 clients).
    EarlyHint { name: String, value: Fmt },
    /// `normalize-uri <normalizer> [full|strict]`.
    NormalizeUri(Normalizer),
    /// `wait-for-body time <time> [at-least <bytes>]` (`at_least` 0: none).
    WaitForBody { time: std::time::Duration, at_least: u64 },
    /// `lua.<name> [args...]` (see [`Verdict::Lua`]).
    Lua(std::sync::Arc<LuaAction>),
    /// `send-spoe-group <engine> <group>` (see [`Verdict::Spoe`]).
    SendSpoeGroup(std::sync::Arc<SpoeGroupRef>),
    /// `track-sc*`, `sc-inc-gpc0/1`, `sc-set-gpt0` (src/stick/action.rs).
    Stick(crate::stick::action::StickAction),
    /// `http-request cache-use <cache>`: answer from the cache (src/http/cache.rs).
    CacheUse(String),
    /// `http-response cache-store <cache>`: store the response (src/http/cache.rs).
    CacheStore(String),
    /// `set-map(<file>)`, `del-map(<file>)`, `add-acl(<file>)`, `del-acl(<file>)`:
    /// the run-time map and ACL updates (the CLI's `set map`, `del map`... on the same
    /// pattern references, `crate::sample::map::patref`).
    MapUpdate { op: MapOp, file: String, key: Fmt, value: Option<Fmt> },
    /// `set-mark`, `set-tos`: an option of the client socket.
    SockOpt(crate::stream::sockopt_action::SockOpt),
    /// `set-nice <n>`: accepted without effect (moonproxy has no task priorities).
    SetNice(i32),
    /// `wait-for-handshake`: accepted without effect (moonproxy takes no TLS early data,
    /// so a request never comes before the handshake ends).
    WaitForHandshake,
    /// `strict-mode on|off`: accepted without effect (what it decides in HAProxy, a
    /// rewrite failing for lack of buffer room, does not happen in moonproxy).
    StrictMode(bool),
    /// `set-priority-class <expr>` (`offset` false) and `set-priority-offset <expr>`:
    /// the transaction's place in the queues, bounded as HAProxy bounds them.
    SetPriority { offset: bool, expr: Expr },
    /// `set-timeout server|tunnel <time|expr>` (`tunnel` true for `tunnel`).
    SetTimeout { tunnel: bool, value: TimeoutValue },
    /// `set-src`, `set-dst`, `set-src-port`, `set-dst-port` (`RuleEnv::src`/`dst`,
    /// which the stream keeps after the rules).
    SetAddr(crate::stream::set_addr::SetAddr),
    /// `do-resolve(<var>,<resolvers>[,ipv4|ipv6]) <expr>` (see [`Verdict::Resolve`]).
    DoResolve(Box<crate::stream::resolve::DoResolve>),
}

/// What a map or ACL update action does to its file's entries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MapOp {
    /// `set-map`: the value of the entries with the key, or a new entry.
    SetMap,
    /// `del-map`, `del-acl`: the entries with the key go.
    Delete,
    /// `add-acl`: a new pattern, unless it is there already.
    AddAcl,
}

/// HAProxy's bounds for a queue priority class and offset (`queue_limit_class`,
/// `queue_limit_offset`).
pub const PRIORITY_CLASS_MAX: i64 = 0x7ff;
pub const PRIORITY_OFFSET_MAX: i64 = 0x7ffff;

/// The timeout of a `set-timeout` rule: written in the configuration, or the value of
/// an expression in milliseconds (a value that is not a positive integer leaves the
/// timeout as it was).
#[derive(Debug)]
pub enum TimeoutValue {
    Fixed(std::time::Duration),
    Expr(Expr),
}

/// Which part of the request target a `replace-*` action rewrites.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TargetPart {
    Path,
    Pathq,
    Uri,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CaptureSlot {
    /// The n-th `capture ... len` rule of the proxy, after `req_capture_base`.
    New { index: usize, len: usize },
    Id(usize),
}

/// What `return` (and `deny` with a payload) answers.
#[derive(Debug)]
pub struct ReturnSpec {
    pub status: u16,
    pub content_type: Option<String>,
    pub body: ReturnBody,
    pub headers: Vec<(String, Fmt)>,
}

#[derive(Debug)]
pub enum ReturnBody {
    None,
    Static(Vec<u8>),
    Format(Fmt),
    /// `errorfile <file>`: a whole response, sent as the file has it (its status line
    /// wins over `status`; `content-type` and `hdr` are ignored), as HAProxy 2.6 does.
    File(Vec<u8>),
}

/// The actions each list knows, as HAProxy 2.6 lists them in its error message.
const REQUEST_KEYWORDS: &str = "'wait-for-handshake', 'ot-group', 'set-log-level', 'set-nice', 'use-service', 'sc-inc-gpc(*)', 'sc-inc-gpc0(*)', 'sc-inc-gpc1(*)', 'sc-set-gpt(*)', 'sc-set-gpt0(*)', 'send-spoe-group', 'do-resolve(*)', 'cache-use', 'add-acl(*)', 'add-header', 'allow', 'auth', 'capture', 'del-acl(*)', 'del-header', 'del-map(*)', 'deny', 'disable-l7-retry', 'early-hint', 'normalize-uri', 'redirect', 'reject', 'replace-header', 'replace-path', 'replace-pathq', 'replace-uri', 'replace-value', 'return', 'set-header', 'set-map(*)', 'set-method', 'set-path', 'set-pathq', 'set-query', 'set-uri', 'strict-mode', 'tarpit', 'track-sc(*)', 'set-timeout', 'wait-for-body', 'set-var-fmt(*)', 'set-var(*)', 'unset-var(*)', 'set-dst', 'set-dst-port', 'set-mark', 'set-src', 'set-src-port', 'set-tos', 'silent-drop', 'set-priority-class', 'set-priority-offset'";
const RESPONSE_KEYWORDS: &str = "'ot-group', 'set-log-level', 'set-nice', 'sc-inc-gpc(*)', 'sc-inc-gpc0(*)', 'sc-inc-gpc1(*)', 'sc-set-gpt(*)', 'sc-set-gpt0(*)', 'send-spoe-group', 'cache-store', 'add-acl(*)', 'add-header', 'allow', 'capture', 'del-acl(*)', 'del-header', 'del-map(*)', 'deny', 'redirect', 'replace-header', 'replace-value', 'return', 'set-header', 'set-map(*)', 'set-status', 'strict-mode', 'track-sc(*)', 'wait-for-body', 'set-var-fmt(*)', 'set-var(*)', 'unset-var(*)', 'set-mark', 'set-tos', 'silent-drop'";
const AFTER_RESPONSE_KEYWORDS: &str = "'ot-group', 'add-header', 'allow', 'capture', 'del-header', 'replace-header', 'replace-value', 'set-header', 'set-status', 'strict-mode', 'set-var-fmt(*)', 'set-var(*)', 'unset-var(*)'";

/// Why an action line was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActionError {
    /// The action name is not one of the list's: HAProxy's "'http-request' expects
    /// ... but got 'x'." (printed without the space before the colon).
    UnknownAction(String),
    /// The action is known but its arguments are wrong: the message goes after
    /// `error detected in <proxy> while parsing '<list> <action>' rule : `.
    Args(String),
    /// A keyword HAProxy has and moonproxy does not support yet.
    NotSupported(String),
}

impl HttpRuleList {
    /// HAProxy 2.6's list of this rule set's actions (its error messages).
    pub(crate) fn keywords(self) -> &'static str {
        match self {
            HttpRuleList::Request => REQUEST_KEYWORDS,
            HttpRuleList::Response => RESPONSE_KEYWORDS,
            HttpRuleList::AfterResponse => AFTER_RESPONSE_KEYWORDS,
        }
    }
}

/// Whether `action` is in the list of `list` (HAProxy's names, `(*)` meaning an
/// argument in parentheses).
fn known_action(list: HttpRuleList, action: &str) -> bool {
    let base = action.split('(').next().unwrap_or(action);
    let with_arg = action.contains('(');
    list.keywords().split(", ").any(|k| {
        let k = k.trim_matches('\'');
        match k.strip_suffix("(*)") {
            Some(stem) => with_arg && stem == base,
            None => !with_arg && k == action,
        }
    })
}

fn status_arg(s: Option<&String>) -> Result<u16, String> {
    let s = s.map_or("", String::as_str);
    match s.parse::<u16>() {
        Ok(n) if (200..=599).contains(&n) => Ok(n),
        _ => Err(format!("Unexpected status code '{s}'")),
    }
}

/// Exactly `n` arguments; more are reported as an unexpected keyword (HAProxy reads
/// them as a misspelt `if`).
fn exact<'w>(args: &'w [String], n: usize, what: &str) -> Result<&'w [String], String> {
    match args.len().cmp(&n) {
        std::cmp::Ordering::Equal => Ok(args),
        std::cmp::Ordering::Greater if n > 0 => Err(format!("unexpected keyword '{}'", args[n])),
        _ if n == 0 => Err(format!("unexpected keyword '{}'", args[0])),
        _ => Err(format!("expects exactly {what}")),
    }
}

fn var_name(action: &str) -> Result<VarName, String> {
    let inner = action
        .split_once('(')
        .and_then(|(_, r)| r.strip_suffix(')'))
        .unwrap_or("");
    VarName::parse(inner).ok_or_else(|| {
        format!("invalid variable name '{inner}'. A variable name must be start by its scope. The scope can be 'proc', 'sess', 'txn', 'req', 'res' or 'check'")
    })
}

fn level(name: &str) -> Option<Level> {
    Some(match name {
        "emerg" => Level::Emerg,
        "alert" => Level::Alert,
        "crit" => Level::Crit,
        "err" => Level::Err,
        "warning" => Level::Warning,
        "notice" => Level::Notice,
        "info" => Level::Info,
        "debug" => Level::Debug,
        _ => return None,
    })
}

impl Action {
    /// Parses the words of a rule before `if`/`unless`: the action and its arguments.
    /// `proxy` is the section's name (the default `auth` realm); `capture_index`
    /// counts the `capture ... len` rules before this one.
    pub fn parse(
        list: HttpRuleList,
        words: &[String],
        proxy: &str,
        capture_index: usize,
    ) -> Result<Action, ActionError> {
        let name = words.first().map_or("", String::as_str);
        if let Some(lua) = name.strip_prefix("lua.") {
            // Checked against the registered actions after `lua-load` ran.
            return Ok(Action::Lua(std::sync::Arc::new(LuaAction { name: lua.to_string(), args: words[1..].to_vec() })));
        }
        if list != HttpRuleList::AfterResponse && crate::stick::action::is_stick_action(name) {
            return crate::stick::action::StickAction::parse(words, proxy).map(Action::Stick).map_err(ActionError::Args);
        }
        if !known_action(list, name) {
            return Err(ActionError::UnknownAction(format!(
                "expects {}, but got '{name}'",
                list.keywords()
            )));
        }
        let args = &words[1..];
        let request = list == HttpRuleList::Request;
        let base = name.split('(').next().unwrap_or(name);
        let a = |e: String| ActionError::Args(e);
        let fmt = |s: &String| Fmt::parse(s).map_err(a);
        Ok(match base {
            "set-header" | "add-header" | "early-hint" => {
                let w = exact(args, 2, "2 arguments").map_err(a)?;
                let value = fmt(&w[1])?;
                match base {
                    "set-header" => Action::SetHeader { name: w[0].clone(), value },
                    "add-header" => Action::AddHeader { name: w[0].clone(), value },
                    _ => Action::EarlyHint { name: w[0].clone(), value },
                }
            }
            "normalize-uri" => Action::NormalizeUri(Normalizer::parse(args).map_err(a)?),
            "wait-for-body" => parse_wait_for_body(args).map_err(a)?,
            "del-header" => {
                let matcher = match args {
                    [_] => None,
                    [n, m, meth] if m == "-m" => {
                        use crate::sample::Method as M;
                        let method = match meth.as_str() {
                            "str" => M::Str,
                            "beg" => M::Beg,
                            "end" => M::End,
                            "sub" => M::Sub,
                            "reg" => M::Reg,
                            other => return Err(a(format!("-m with unsupported matching method '{other}'"))),
                        };
                        let m = crate::sample::Matcher::compile("del-header", crate::sample::SampleType::Str, method, true, &[n])
                            .map_err(|e| a(e.to_string()))?;
                        Some(m)
                    }
                    [_, x, ..] if x != "-m" => return Err(a(format!("unexpected keyword '{x}'"))),
                    _ => return Err(a("expects exactly 1 argument".into())),
                };
                Action::DelHeader { name: args[0].clone(), matcher }
            }
            "replace-header" | "replace-value" => {
                let w = exact(args, 3, "3 arguments").map_err(a)?;
                let re = Regex::new(w[1].as_bytes(), false).map_err(|e| a(e.to_string()))?;
                Action::ReplaceHeader { name: w[0].clone(), re, with: fmt(&w[2])?, per_value: base == "replace-value" }
            }
            "replace-path" | "replace-pathq" | "replace-uri" => {
                let w = exact(args, 2, "2 arguments").map_err(a)?;
                let re = Regex::new(w[0].as_bytes(), false).map_err(|e| a(e.to_string()))?;
                let part = match base {
                    "replace-path" => TargetPart::Path,
                    "replace-pathq" => TargetPart::Pathq,
                    _ => TargetPart::Uri,
                };
                Action::ReplaceTarget { part, re, with: fmt(&w[1])? }
            }
            "set-method" | "set-path" | "set-pathq" | "set-query" | "set-uri" => {
                let w = exact(args, 1, "1 argument <format>").map_err(a)?;
                let f = fmt(&w[0])?;
                match base {
                    "set-method" => Action::SetMethod(f),
                    "set-path" => Action::SetPath(f),
                    "set-pathq" => Action::SetPathq(f),
                    "set-query" => Action::SetQuery(f),
                    _ => Action::SetUri(f),
                }
            }
            "set-status" => {
                let status = args
                    .first()
                    .and_then(|s| s.parse::<u16>().ok())
                    .filter(|s| (100..=999).contains(s))
                    .ok_or_else(|| a("expects an integer status code between 100 and 999".into()))?;
                let reason = match (args.get(1).map(String::as_str), args.get(2)) {
                    (None, _) => None,
                    (Some("reason"), Some(r)) => Some(r.clone()),
                    (Some(other), _) => return Err(a(format!("unexpected keyword '{other}'"))),
                };
                if let Some(x) = args.get(3) {
                    return Err(a(format!("unexpected keyword '{x}'")));
                }
                Action::SetStatus { status, reason }
            }
            "deny" | "tarpit" => {
                // A denied response is a bad gateway to the client.
                let default = match (base, list) {
                    ("deny", HttpRuleList::Request) => 403,
                    ("deny", _) => 502,
                    _ => 500,
                };
                let (status, rest) = match args.first().map(String::as_str) {
                    Some("deny_status") => (status_arg(args.get(1)).map_err(a)?, &args[2.min(args.len())..]),
                    _ => (default, args),
                };
                // Nothing but `deny_status`: the error page of the status, one HAProxy
                // has. Any `return` argument (`status`, `hdr`, a payload...) makes the
                // answer a reply built as `return` builds it, empty without a payload
                // (HAProxy 2.6, checked: `deny status 403` is an empty 403).
                let reply = match rest.is_empty() {
                    true => {
                        if !crate::http::errors::HANDLED_STATUSES.contains(&status) {
                            return Err(a(format!("status code '{status}' not handled by default with 'default-errorfiles' argument.")));
                        }
                        None
                    }
                    false => Some(Box::new(parse_return(rest, status).map_err(a)?)),
                };
                let status = reply.as_ref().map_or(status, |r| r.status);
                if base == "tarpit" {
                    Action::Tarpit { status, reply }
                } else {
                    Action::Deny { status, reply }
                }
            }
            "return" => Action::Return(Box::new(parse_return(args, 200).map_err(a)?)),
            "redirect" => parse_redirect(args).map_err(a)?,
            "set-var" => {
                let n = var_name(name).map_err(a)?;
                if args.is_empty() {
                    return Err(a("missing fetch method".into()));
                }
                let w = exact(args, 1, "1 argument <expression>").map_err(a)?;
                let expr = Expr::parse(&w[0]).map_err(|e| a(e.to_string()))?;
                Action::SetVar { name: n, expr }
            }
            "set-var-fmt" => {
                let n = var_name(name).map_err(a)?;
                let w = exact(args, 1, "1 argument <format>").map_err(a)?;
                Action::SetVarFmt { name: n, fmt: fmt(&w[0])? }
            }
            "unset-var" => {
                exact(args, 0, "0 arguments").map_err(a)?;
                Action::UnsetVar(var_name(name).map_err(a)?)
            }
            "set-log-level" => {
                let usage = || a("expects exactly 1 argument (log level name or 'silent')".into());
                match args {
                    [l] if l == "silent" => Action::SetLogLevel(None),
                    [l] => Action::SetLogLevel(Some(level(l).ok_or_else(usage)?)),
                    _ => return Err(usage()),
                }
            }
            "disable-l7-retry" => {
                exact(args, 0, "0 arguments").map_err(a)?;
                Action::DisableL7Retry
            }
            "allow" => {
                exact(args, 0, "0 arguments").map_err(a)?;
                Action::Allow
            }
            "reject" if request => {
                exact(args, 0, "0 arguments").map_err(a)?;
                Action::Drop { silent: false }
            }
            "silent-drop" if list != HttpRuleList::AfterResponse => {
                exact(args, 0, "0 arguments").map_err(a)?;
                Action::Drop { silent: true }
            }
            "capture" => {
                let usage = || {
                    a(if request {
                        "expects <expression> [ 'len' <length> | id <idx> ]".into()
                    } else {
                        "expects <expression> id <idx>".into()
                    })
                };
                let [e, kw, n] = args else { return Err(usage()) };
                let n: usize = match (kw.as_str(), n.parse::<usize>()) {
                    ("len", Ok(n)) if n > 0 => n,
                    ("len", _) => return Err(a("length must be > 0".into())),
                    (_, Ok(n)) => n,
                    _ => return Err(usage()),
                };
                let expr = Expr::parse(e).map_err(|e| a(e.to_string()))?;
                let slot = match kw.as_str() {
                    "len" if request => CaptureSlot::New { index: capture_index, len: n },
                    "id" => CaptureSlot::Id(n),
                    _ => return Err(usage()),
                };
                Action::Capture { expr, slot, response: !request }
            }
            "auth" => {
                let realm = match args {
                    [] => proxy.to_string(),
                    [kw, r] if kw == "realm" => r.clone(),
                    [kw, rest @ ..] if kw == "realm" && rest.len() > 1 => {
                        return Err(a(format!("unexpected keyword '{}'", rest[1])))
                    }
                    [kw, ..] if kw != "realm" => return Err(a(format!("unexpected keyword '{kw}'"))),
                    _ => return Err(a("expects 'realm' <realm>".into())),
                };
                Action::Auth { realm }
            }
            "cache-use" | "cache-store" => {
                let name = match args {
                    [] => return Err(a("expects a cache name".into())),
                    [n] => n.clone(),
                    [_, x, ..] => return Err(a(format!("unexpected keyword '{x}'"))),
                };
                if base == "cache-use" { Action::CacheUse(name) } else { Action::CacheStore(name) }
            }
            "set-timeout" => parse_set_timeout(args).map_err(a)?,
            "set-priority-class" | "set-priority-offset" => {
                let Some(text) = args.first() else { return Err(a("missing fetch method".into())) };
                let expr = Expr::parse(text).map_err(|e| a(e.to_string()))?;
                exact(args, 1, "").map_err(a)?;
                Action::SetPriority { offset: base == "set-priority-offset", expr }
            }
            "set-mark" | "set-tos" => Action::SockOpt(crate::stream::sockopt_action::SockOpt::parse(base, args).map_err(a)?),
            "set-nice" => Action::SetNice(crate::stream::sockopt_action::parse_nice(args).map_err(a)?),
            "wait-for-handshake" => {
                exact(args, 0, "0 arguments").map_err(a)?;
                Action::WaitForHandshake
            }
            "strict-mode" => {
                let w = match args {
                    [] => return Err(a("expects exactly 1 arguments".into())),
                    _ => exact(args, 1, "").map_err(a)?,
                };
                match w[0].to_ascii_lowercase().as_str() {
                    "on" => Action::StrictMode(true),
                    "off" => Action::StrictMode(false),
                    _ => return Err(a(format!("Unexpected value '{}'. Only 'on' and 'off' are supported", w[0]))),
                }
            }
            "set-map" | "del-map" | "add-acl" | "del-acl" => {
                // The file as written between the parentheses: the name a `map()`
                // converter or an ACL's `-f` gave its pattern reference.
                let file = name.split_once('(').and_then(|(_, r)| r.strip_suffix(')')).unwrap_or("").to_string();
                let (op, n) = match base {
                    "set-map" => (MapOp::SetMap, 2),
                    "add-acl" => (MapOp::AddAcl, 1),
                    _ => (MapOp::Delete, 1),
                };
                let w = match args.len().cmp(&n) {
                    std::cmp::Ordering::Less => return Err(a(format!("expects exactly {n} arguments"))),
                    _ => exact(args, n, "").map_err(a)?,
                };
                let value = w.get(1).map(fmt).transpose()?;
                Action::MapUpdate { op, file, key: fmt(&w[0])?, value }
            }
            "set-src" | "set-dst" | "set-src-port" | "set-dst-port" => {
                use crate::stream::set_addr::{AddrPart, SetAddr};
                let part = AddrPart::from_keyword(base).expect("one of the four keywords");
                Action::SetAddr(SetAddr::parse(part, args).map_err(a)?)
            }
            "send-spoe-group" => {
                let w = exact(args, 2, "2 arguments").map_err(a)?;
                Action::SendSpoeGroup(std::sync::Arc::new(SpoeGroupRef { engine: w[0].clone(), group: w[1].clone() }))
            }
            "do-resolve" => {
                if args.len() > 1 {
                    return Err(a(format!("unexpected keyword '{}'", args[1])));
                }
                Action::DoResolve(Box::new(crate::stream::resolve::DoResolve::parse(name, args).map_err(a)?))
            }
            "use-service" => {
                let w = exact(args, 1, "1 argument <service>").map_err(a)?;
                if !w[0].starts_with("lua.") && w[0] != crate::stats::prometheus::SERVICE {
                    return Err(a(format!("'{}' unknown service name.", w[0])));
                }
                Action::UseService(w[0].clone())
            }
            _ => return Err(ActionError::NotSupported(format!("{} {base}", list.name()))),
        })
    }

    /// Whether this action is `capture ... len` (it takes a new capture slot).
    pub fn takes_capture_slot(&self) -> bool {
        matches!(self, Action::Capture { slot: CaptureSlot::New { .. }, .. })
    }
}

impl HttpRuleList {
    /// The keyword (`http-request` ...).
    pub fn name(self) -> &'static str {
        match self {
            HttpRuleList::Request => "http-request",
            HttpRuleList::Response => "http-response",
            HttpRuleList::AfterResponse => "http-after-response",
        }
    }
}

/// `set-timeout server|tunnel <time|expr>`, with HAProxy 2.6's messages: a word that
/// is not a time is read as a sample expression (`req.hdr(x-timeout)`).
fn parse_set_timeout(args: &[String]) -> Result<Action, String> {
    use crate::config::units::{parse_time, UnitError};
    let [which, arg, rest @ ..] = args else { return Err("expects exactly 2 arguments".into()) };
    let tunnel = match which.as_str() {
        "server" => false,
        "tunnel" => true,
        other => return Err(format!("'set-timeout' rule supports 'server'/'tunnel' (got '{other}')")),
    };
    let value = match parse_time(arg) {
        Ok(d) if d.is_zero() => return Err(format!("null value is not valid for a 'set-timeout {which}' rule")),
        Ok(d) => TimeoutValue::Fixed(d),
        // 2.6 rounds a time under a millisecond up to one here.
        Err(UnitError::Underflow) => TimeoutValue::Fixed(std::time::Duration::from_millis(1)),
        Err(UnitError::Overflow) => {
            return Err(format!("timer overflow in argument '{arg}' to rule 'set-timeout {which}' (maximum value is 2147483647 ms or ~24.8 days)"))
        }
        Err(UnitError::Unexpected(c)) => match Expr::parse(arg) {
            Ok(e) => TimeoutValue::Expr(e),
            Err(_) => return Err(format!("unexpected character '{c}' in rule 'set-timeout {which}'")),
        },
        Err(UnitError::Empty) => return Err(format!("unexpected character ' ' in rule 'set-timeout {which}'")),
    };
    if let Some(x) = rest.first() {
        return Err(format!("unexpected keyword '{x}'"));
    }
    Ok(Action::SetTimeout { tunnel, value })
}

/// `wait-for-body time <time> [at-least <bytes>]`, with HAProxy's messages.
fn parse_wait_for_body(args: &[String]) -> Result<Action, String> {
    let mut time = None;
    let mut at_least = 0;
    let mut i = 0;
    while let Some(kw) = args.get(i) {
        let value = || args.get(i + 1).ok_or_else(|| format!("missing argument for '{kw}'"));
        let bad = |v: &str| {
            let c = v.chars().find(|c| !c.is_ascii_digit()).unwrap_or(' ');
            format!("unexpected character '{c}'")
        };
        match kw.as_str() {
            "time" => {
                let v = value()?;
                time = Some(crate::config::units::parse_time(v).map_err(|_| bad(v))?);
            }
            "at-least" => {
                let v = value()?;
                at_least = crate::config::units::parse_size(v).map_err(|_| bad(v))?;
            }
            other => return Err(format!("unexpected keyword '{other}'")),
        }
        i += 2;
    }
    let time = time.ok_or("expects time <time> [ at-least <bytes> ]")?;
    Ok(Action::WaitForBody { time, at_least })
}

/// `[status <code>] [content-type <type>] [string <s> | lf-string <fmt> | file <path> |
/// lf-file <path>] [hdr <name> <fmt>]...`
fn parse_return(args: &[String], default_status: u16) -> Result<ReturnSpec, String> {
    let mut spec = ReturnSpec { status: default_status, content_type: None, body: ReturnBody::None, headers: Vec::new() };
    let mut i = 0;
    let need = |i: usize, what: &str| -> Result<&String, String> {
        args.get(i + 1)
            .filter(|a| !a.is_empty())
            .ok_or_else(|| format!("'{}' expects {what} as argument", args[i]))
    };
    while i < args.len() {
        match args[i].as_str() {
            "status" => {
                spec.status = status_arg(args.get(i + 1))?;
                i += 2;
            }
            "content-type" => {
                spec.content_type = Some(need(i, "<ctype>")?.clone());
                i += 2;
            }
            "string" => {
                spec.body = ReturnBody::Static(need(i, "<str>")?.as_bytes().to_vec());
                i += 2;
            }
            "lf-string" => {
                spec.body = ReturnBody::Format(Fmt::parse(need(i, "<fmt>")?)?);
                i += 2;
            }
            "file" | "lf-file" => {
                let path = need(i, "<file>")?;
                let data = std::fs::read(path).map_err(|_| format!("error opening file '{path}'"))?;
                spec.body = if args[i] == "file" {
                    ReturnBody::Static(data)
                } else {
                    ReturnBody::Format(Fmt::parse(&String::from_utf8_lossy(&data))?)
                };
                i += 2;
            }
            "hdr" => {
                let (Some(n), Some(v)) = (args.get(i + 1), args.get(i + 2)) else {
                    return Err("'hdr' expects <name> and <value> as arguments".into());
                };
                spec.headers.push((n.clone(), Fmt::parse(v)?));
                i += 3;
            }
            "errorfile" => {
                let path = need(i, "<file>")?;
                spec.body = ReturnBody::File(crate::http::errors::load_error_file(path)?);
                i += 2;
            }
            "errorfiles" | "default-errorfiles" => {
                return Err(format!("'{}' in a return rule is not supported by moonproxy yet", args[i]))
            }
            other => return Err(format!("unexpected keyword '{other}'")),
        }
    }
    let empty = match &spec.body {
        ReturnBody::None | ReturnBody::File(_) => true,
        ReturnBody::Static(b) => b.is_empty(),
        ReturnBody::Format(_) => false,
    };
    if !empty && spec.content_type.is_none() {
        return Err("a content type must be defined when non-empty payload is configured".into());
    }
    Ok(spec)
}

/// `redirect location|prefix|scheme <fmt> [code <n>] [drop-query] [append-slash]
/// [set-cookie NAME[=value]] [clear-cookie NAME]`
/// `redirect` options come in any order (`redirect code 301 location /x` is common), as
/// HAProxy reads them; the type and its target are required.
fn parse_redirect(args: &[String]) -> Result<Action, String> {
    let mut kind_target: Option<(RedirectKind, &String)> = None;
    let (mut code, mut drop_query, mut append_slash, mut ignore_empty, mut cookie) = (302, false, false, false, None);
    let mut i = 0;
    while i < args.len() {
        match args[i].as_str() {
            kw @ ("location" | "prefix" | "scheme") => {
                let kind = match kw {
                    "location" => RedirectKind::Location,
                    "prefix" => RedirectKind::Prefix,
                    _ => RedirectKind::Scheme,
                };
                let target = args.get(i + 1).ok_or_else(|| format!("missing argument for '{kw}'"))?;
                kind_target = Some((kind, target));
                i += 2;
            }
            "code" => {
                let c = args.get(i + 1).and_then(|c| c.parse::<u16>().ok());
                code = match c {
                    Some(c @ (301 | 302 | 303 | 307 | 308)) => c,
                    _ => {
                        return Err(format!(
                            "'code': unsupported HTTP code '{}' (must be one of 301, 302, 303, 307 or 308)",
                            args.get(i + 1).map_or("", String::as_str)
                        ))
                    }
                };
                i += 2;
            }
            "drop-query" => {
                drop_query = true;
                i += 1;
            }
            "append-slash" => {
                append_slash = true;
                i += 1;
            }
            "ignore-empty" => {
                ignore_empty = true;
                i += 1;
            }
            "set-cookie" => {
                let c = args.get(i + 1).ok_or("'set-cookie' expects a cookie")?;
                cookie = Some(format!("{c}; path=/;"));
                i += 2;
            }
            "clear-cookie" => {
                let n = args.get(i + 1).ok_or("'clear-cookie' expects a cookie name")?;
                cookie = Some(format!("{n}; path=/; Max-Age=0;"));
                i += 2;
            }
            other => return Err(format!("expects 'code', 'prefix', 'location', 'scheme', 'set-cookie', 'clear-cookie', 'drop-query', 'ignore-empty' or 'append-slash' (was '{other}')")),
        }
    }
    let Some((kind, target)) = kind_target else {
        return Err("redirection type expected ('prefix', 'location', or 'scheme')".into());
    };
    let target = Fmt::parse(target)?;
    Ok(Action::Redirect { kind, target, code, drop_query, append_slash, ignore_empty, cookie })
}

impl HttpRules {
    /// Compiles a proxy's rules. `acls` are the proxy's `acl` lines (the rules'
    /// conditions were checked against them when parsed). Errors are complete alert
    /// texts naming file and line.
    pub fn compile(confs: &[HttpRuleConf], acls: &[Acl], proxy: &str) -> Result<HttpRules, Vec<String>> {
        let acls = AclSet::compile(acls).map_err(|e| vec![e])?;
        HttpRules::compile_with(confs, std::sync::Arc::new(acls), proxy)
    }

    /// [`HttpRules::compile`] with the proxy's ACLs already compiled.
    pub fn compile_with(confs: &[HttpRuleConf], acls: std::sync::Arc<AclSet>, proxy: &str) -> Result<HttpRules, Vec<String>> {
        let mut out = HttpRules { acls, ..HttpRules::default() };
        let mut errors = Vec::new();
        let mut captures = 0;
        // `redirect` lines run after the `http-request` rules of their proxy.
        let ordered = confs.iter().filter(|c| !c.redirect_keyword).chain(confs.iter().filter(|c| c.redirect_keyword));
        for c in ordered {
            let action = match Action::parse(c.list, &c.action, proxy, captures) {
                Ok(a) => a,
                Err(ActionError::UnknownAction(m) | ActionError::Args(m) | ActionError::NotSupported(m)) => {
                    errors.push(format!("parsing [{}] : {m}.", c.location));
                    continue;
                }
            };
            if action.takes_capture_slot() {
                captures += 1;
            }
            let cond = match &c.cond {
                None => None,
                Some(cond) => match CompiledCond::compile(cond, &out.acls) {
                    Ok(cc) => Some(cc),
                    Err(e) => {
                        errors.push(e);
                        continue;
                    }
                },
            };
            let rule = HttpRule { action, cond, location: c.location.clone() };
            match c.list {
                HttpRuleList::Request => out.request.push(rule),
                HttpRuleList::Response => out.response.push(rule),
                HttpRuleList::AfterResponse => out.after_response.push(rule),
            }
        }
        if errors.is_empty() { Ok(out) } else { Err(errors) }
    }

    /// Gives the `do-resolve` rules their `resolvers` sections (a missing one was
    /// refused by the configuration check: such a rule does nothing).
    pub fn bind_resolvers(&mut self, sections: &[crate::config::model::Resolvers]) {
        for rule in &mut self.request {
            if let Action::DoResolve(d) = &mut rule.action {
                d.bind(sections);
            }
        }
    }

    /// Whether the proxy has no HTTP rule at all.
    pub fn is_empty(&self) -> bool {
        self.request.is_empty() && self.response.is_empty() && self.after_response.is_empty()
    }
}

/// Runs `rules.request` from `*cursor` on the request in `txn`.
pub fn run_request(rules: &HttpRules, cursor: &mut usize, txn: &mut Txn, env: &mut RuleEnv<'_>) -> Verdict {
    run(rules, &rules.request, Side::Request, cursor, txn, env)
}

/// Runs `rules.response` from `*cursor` on the response in `txn`.
pub fn run_response(rules: &HttpRules, cursor: &mut usize, txn: &mut Txn, env: &mut RuleEnv<'_>) -> Verdict {
    run(rules, &rules.response, Side::Response, cursor, txn, env)
}

/// Runs `rules.after_response` from `*cursor` on the response about to be sent.
pub fn run_after_response(rules: &HttpRules, cursor: &mut usize, txn: &mut Txn, env: &mut RuleEnv<'_>) -> Verdict {
    run(rules, &rules.after_response, Side::Response, cursor, txn, env)
}

/// Which message the header actions of a list rewrite.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Side {
    Request,
    Response,
}

fn run(rules: &HttpRules, list: &[HttpRule], side: Side, cursor: &mut usize, txn: &mut Txn, env: &mut RuleEnv<'_>) -> Verdict {
    let writes = VarWrites::default();
    while let Some(rule) = list.get(*cursor) {
        *cursor += 1;
        let ran = crate::sample::lua::in_rule(|| {
            if let Some(c) = &rule.cond {
                let holds = c.eval(&rules.acls, &RuleCtx::with_writes(env, txn, &writes));
                if !holds || crate::sample::lua::suspended() {
                    return Flow::Next;
                }
            }
            exec(rules, &rule.action, side, txn, env, &writes)
        });
        apply_writes(&writes, txn, env);
        let flow = match ran {
            Ok(flow) => flow,
            // A Lua fetch or converter of the rule waits: the rule runs again after.
            Err(s) => {
                *cursor -= 1;
                return Verdict::Yield(lua_wait(s));
            }
        };
        match flow {
            Flow::Next => {}
            Flow::Stop => {
                *cursor = list.len();
                txn.last_rule = Some(rule.location.clone());
                return Verdict::Continue;
            }
            Flow::Verdict(v) => {
                *cursor = list.len();
                txn.last_rule = Some(rule.location.clone());
                return v;
            }
            Flow::Resume(v) => return v,
        }
    }
    Verdict::Continue
}

/// What a rule list waits for while a Lua fetch or converter of its rule is parked (a
/// socket's completion wakes the stream, as for a waiting Lua action).
pub fn lua_wait(s: crate::sample::lua::Suspend) -> WaitFor {
    use crate::sample::lua::Suspend;
    match s {
        Suspend::Timer(at) => WaitFor::Timer(at),
        Suspend::Run => WaitFor::Forced,
        Suspend::Io => WaitFor::ClientData,
    }
}

enum Flow {
    Next,
    /// `allow`: the rest of the list is skipped.
    Stop,
    Verdict(Verdict),
    /// The stream must act, then run the list again from the next rule.
    Resume(Verdict),
}

/// Bytes a header value may not hold: a rewrite producing them is dropped rather than
/// letting a sample inject a field line.
fn bad_value(v: &[u8]) -> bool {
    v.iter().any(|&b| b == b'\r' || b == b'\n' || b == 0)
}

fn exec(rules: &HttpRules, action: &Action, side: Side, txn: &mut Txn, env: &mut RuleEnv<'_>, writes: &VarWrites) -> Flow {
    let render = |f: &Fmt, txn: &Txn, env: &RuleEnv<'_>| f.render(&RuleCtx::with_writes(env, txn, writes));
    // A Lua call of the rule waits: what was evaluated is worthless, nothing is done
    // (the rule runs again, see `run`).
    let parked = crate::sample::lua::suspended;
    match action {
        Action::SetHeader { name, value } | Action::AddHeader { name, value } => {
            let v = render(value, txn, env);
            if parked() {
                return Flow::Next;
            }
            if bad_value(&v) {
                return Flow::Next;
            }
            let set = matches!(action, Action::SetHeader { .. });
            if let Some(h) = headers_mut(txn, side) {
                if set {
                    h.set(name.clone(), v);
                } else {
                    h.add(name.clone(), v);
                }
            }
        }
        Action::DelHeader { name, matcher } => {
            if let Some(h) = headers_mut(txn, side) {
                match matcher {
                    None => {
                        h.del(name);
                    }
                    Some(m) => {
                        let names: Vec<String> = h
                            .iter()
                            .filter(|f| m.matches(Some(Sample::str(f.name.as_bytes()))))
                            .map(|f| f.name.clone())
                            .collect();
                        for n in names {
                            h.del(&n);
                        }
                    }
                }
            }
        }
        Action::ReplaceHeader { name, re, with, per_value } => {
            let with = render(with, txn, env);
            if parked() {
                return Flow::Next;
            }
            if let Some(h) = headers_mut(txn, side) {
                h.replace_with(name, |v| {
                    let new = if *per_value {
                        // A replaced element loses the blanks before it; the others
                        // are kept as they were (HAProxy's behaviour).
                        let parts: Vec<Vec<u8>> = v
                            .split(|&b| b == b',')
                            .map(|p| regex_replace(re, crate::http::trim_ows(p), &with).unwrap_or_else(|| p.to_vec()))
                            .collect();
                        parts.join(&b","[..])
                    } else {
                        regex_replace(re, v, &with)?
                    };
                    (!bad_value(&new) && new != v).then_some(new)
                });
            }
        }
        Action::SetMethod(f) => {
            let v = render(f, txn, env);
            if parked() {
                return Flow::Next;
            }
            let token = std::str::from_utf8(&v).ok().filter(|t| !t.is_empty() && t.bytes().all(is_tchar));
            if let (Some(t), Some(req)) = (token, txn.req.as_mut()) {
                req.line.method = Method::from_token(t);
            }
        }
        Action::SetPath(f) | Action::SetPathq(f) | Action::SetQuery(f) | Action::SetUri(f) => {
            let v = render(f, txn, env);
            if parked() {
                return Flow::Next;
            }
            let Ok(v) = String::from_utf8(v) else { return Flow::Next };
            if v.bytes().any(|b| b <= b' ' || b == 0x7f) {
                return Flow::Next;
            }
            if let Some(req) = txn.req.as_mut() {
                let new = match action {
                    Action::SetPath(_) => with_path(&req.line, &v, true),
                    Action::SetPathq(_) => with_path(&req.line, &v, false),
                    Action::SetQuery(_) => with_query(&req.line.target, &v),
                    _ => v,
                };
                set_target(&mut req.line, new);
            }
        }
        Action::ReplaceTarget { part, re, with } => {
            let with = render(with, txn, env);
            if parked() {
                return Flow::Next;
            }
            if let Some(req) = txn.req.as_mut() {
                let subject = match part {
                    TargetPart::Path => req.line.path().to_string(),
                    TargetPart::Pathq => pathq(&req.line).to_string(),
                    TargetPart::Uri => req.line.target.clone(),
                };
                let Some(out) = regex_replace(re, subject.as_bytes(), &with) else { return Flow::Next };
                let Ok(out) = String::from_utf8(out) else { return Flow::Next };
                if out.bytes().any(|b| b <= b' ' || b == 0x7f) {
                    return Flow::Next;
                }
                let new = match part {
                    TargetPart::Path => with_path(&req.line, &out, true),
                    TargetPart::Pathq => with_path(&req.line, &out, false),
                    TargetPart::Uri => out,
                };
                set_target(&mut req.line, new);
            }
        }
        Action::SetStatus { status, reason } => {
            if let Some(res) = txn.res.as_mut() {
                res.line.status = *status;
                res.line.reason = match reason {
                    Some(r) => r.as_bytes().to_vec(),
                    None => reason_phrase(*status).as_bytes().to_vec(),
                };
            }
        }
        Action::Deny { status, reply: None } => return Flow::Verdict(Verdict::Deny { status: *status }),
        Action::Deny { reply: Some(spec), .. } => {
            let response = build_return(spec, &RuleCtx::with_writes(env, txn, writes));
            if parked() {
                return Flow::Next;
            }
            return Flow::Verdict(Verdict::DenyWith(response));
        }
        Action::Tarpit { status, reply } => {
            // The reply is built now, from the request as the rule sees it.
            let response = reply.as_ref().map(|spec| build_return(spec, &RuleCtx::with_writes(env, txn, writes)));
            if parked() {
                return Flow::Next;
            }
            return Flow::Verdict(Verdict::Tarpit { status: *status, response });
        }
        Action::Drop { silent } => return Flow::Verdict(Verdict::Drop { silent: *silent }),
        Action::Return(spec) => {
            let response = build_return(spec, &RuleCtx::with_writes(env, txn, writes));
            if parked() {
                return Flow::Next;
            }
            return Flow::Verdict(Verdict::Reply { response, close: false });
        }
        Action::Redirect { kind, target, code, drop_query, append_slash, ignore_empty, cookie } => {
            let cx = RuleCtx::with_writes(env, txn, writes);
            if *ignore_empty && target.render(&cx).is_empty() {
                return Flow::Next;
            }
            let Some(loc) = redirect_location(*kind, target, *drop_query, *append_slash, &cx) else {
                return Flow::Next;
            };
            if parked() {
                return Flow::Next;
            }
            if bad_value(&loc) {
                return Flow::Next;
            }
            let mut hdrs = vec![("content-length".to_string(), b"0".to_vec()), ("location".to_string(), loc)];
            if matches!(code, 302 | 303 | 307) {
                hdrs.push(("cache-control".into(), b"no-cache".to_vec()));
            }
            if let Some(c) = cookie {
                hdrs.push(("set-cookie".into(), c.as_bytes().to_vec()));
            }
            let response = build_response_with(*code, redirect_reason(*code), &hdrs, b"", is_head(txn));
            return Flow::Verdict(Verdict::Reply { response, close: false });
        }
        Action::SetVar { name, expr } => {
            let v = expr.eval(&RuleCtx::with_writes(env, txn, writes));
            if parked() {
                return Flow::Next;
            }
            if let Some(v) = v {
                set_var(name, v, txn, env);
            }
        }
        Action::SetVarFmt { name, fmt } => {
            let v = render(fmt, txn, env);
            if parked() {
                return Flow::Next;
            }
            set_var(name, Sample::Str(v), txn, env);
        }
        Action::UnsetVar(name) => unset_var(name, txn, env),
        Action::SockOpt(opt) => opt.apply(env.conn.fd),
        Action::SetNice(_) | Action::WaitForHandshake | Action::StrictMode(_) => {}
        Action::MapUpdate { op, file, key, value } => {
            let k = render(key, txn, env);
            let v = value.as_ref().map(|f| render(f, txn, env));
            if parked() {
                return Flow::Next;
            }
            // A file no `map()` converter nor ACL loaded has no reference: nothing to
            // update, as in HAProxy.
            if let Some(r) = crate::sample::map::patref::store().get(file) {
                let k = String::from_utf8_lossy(&k);
                match op {
                    MapOp::SetMap => r.set_or_add(&k, &String::from_utf8_lossy(&v.unwrap_or_default())),
                    MapOp::AddAcl => r.add_unless_present(&k),
                    MapOp::Delete => {
                        r.delete(&k);
                    }
                }
            }
        }
        Action::SetPriority { offset, expr } => {
            let v = expr.eval(&RuleCtx::with_writes(env, txn, writes));
            if parked() {
                return Flow::Next;
            }
            set_priority(&mut txn.priority, *offset, v);
        }
        Action::SetTimeout { tunnel, value } => {
            let d = match value {
                TimeoutValue::Fixed(d) => Some(*d),
                TimeoutValue::Expr(e) => {
                    let v = e.eval(&RuleCtx::with_writes(env, txn, writes));
                    if parked() {
                        return Flow::Next;
                    }
                    v.and_then(|v| v.to_int()).filter(|&ms| ms > 0).map(|ms| std::time::Duration::from_millis(ms as u64))
                }
            };
            if let Some(d) = d {
                *(if *tunnel { &mut txn.timeouts.tunnel } else { &mut txn.timeouts.server }) = Some(d);
            }
        }
        Action::DoResolve(d) => {
            let req = d.request(&RuleCtx::with_writes(env, txn, writes));
            if parked() {
                return Flow::Next;
            }
            if let Some(req) = req {
                return Flow::Resume(Verdict::Resolve(Box::new(req)));
            }
        }
        Action::SetAddr(set) => {
            let v = set.expr.eval(&RuleCtx::with_writes(env, txn, writes));
            if parked() {
                return Flow::Next;
            }
            set.apply(v, (&mut env.src, &mut env.dst));
        }
        Action::SetLogLevel(level) => match level {
            Some(l) => {
                txn.log_level = Some(*l);
                txn.silent = false;
            }
            None => txn.silent = true,
        },
        Action::DisableL7Retry => txn.no_l7_retry = true,
        Action::Allow => return Flow::Stop,
        Action::Capture { expr, slot, response } => {
            let Some(mut v) = expr.eval_str(&RuleCtx::with_writes(env, txn, writes)) else { return Flow::Next };
            if parked() {
                return Flow::Next;
            }
            let (i, len) = match slot {
                CaptureSlot::New { index, len } => (rules.req_capture_base + index, Some(*len)),
                CaptureSlot::Id(i) => {
                    let lens = if *response { &rules.capture_lens.1 } else { &rules.capture_lens.0 };
                    (*i, lens.get(*i).copied())
                }
            };
            if let Some(len) = len {
                v.truncate(len);
            }
            let slots = if *response { &mut txn.res_captures } else { &mut txn.req_captures };
            if slots.len() <= i {
                slots.resize(i + 1, None);
            }
            slots[i] = Some(v);
        }
        Action::Auth { realm } => {
            let body = b"<html><body><h1>401 Unauthorized</h1>\nYou need a valid user and password to access this content.\n</body></html>\n";
            let hdrs = [
                ("content-length".to_string(), body.len().to_string().into_bytes()),
                ("cache-control".to_string(), b"no-cache".to_vec()),
                ("content-type".to_string(), b"text/html".to_vec()),
                ("www-authenticate".to_string(), format!("Basic realm=\"{realm}\"").into_bytes()),
            ];
            let response = build_response(401, &hdrs, body, is_head(txn));
            return Flow::Verdict(Verdict::Reply { response, close: false });
        }
        Action::UseService(name) => return Flow::Verdict(Verdict::UseService(name.clone())),
        Action::EarlyHint { name, value } => {
            // HTTP/1.0 clients do not know interim responses: they get none.
            if txn.req.as_ref().is_none_or(|r| r.line.version == super::Version::Http10) {
                return Flow::Next;
            }
            let v = render(value, txn, env);
            if parked() {
                return Flow::Next;
            }
            if bad_value(&v) {
                return Flow::Next;
            }
            let mut msg = b"HTTP/1.1 103 Early Hints\r\n".to_vec();
            push_field(&mut msg, name.as_bytes(), &v);
            msg.extend_from_slice(b"\r\n");
            return Flow::Resume(Verdict::EarlyHint(msg));
        }
        Action::NormalizeUri(n) => {
            if let Some(req) = txn.req.as_mut() {
                match n.apply(&req.line.target) {
                    Ok(t) if t != req.line.target => set_target(&mut req.line, t),
                    Ok(_) => {}
                    Err(normalize::BadEncoding) => return Flow::Verdict(Verdict::Deny { status: 400 }),
                }
            }
        }
        Action::WaitForBody { time, at_least } => {
            return Flow::Resume(Verdict::Yield(WaitFor::Body { time: *time, at_least: *at_least }))
        }
        Action::Lua(a) => return Flow::Resume(Verdict::Lua(a.clone())),
        Action::SendSpoeGroup(g) => return Flow::Resume(Verdict::Spoe(g.clone())),
        Action::Stick(a) => {
            a.exec(&RuleCtx::with_writes(env, txn, writes), crate::stick::session::Level::Stream);
            if parked() {
                return Flow::Next;
            }
        }
        Action::CacheUse(name) => super::cache::cache_use(name, txn),
        Action::CacheStore(name) => super::cache::cache_store(name, txn),
    }
    Flow::Next
}

/// `replace-header` (`per_value: false`) or `replace-value` on `h`, for callers outside
/// the rule runner (Lua's `txn.http:req_rep_header`).
pub(crate) fn replace_header(h: &mut super::Headers, name: &str, re: &Regex, with: &[u8], per_value: bool) {
    h.replace_with(name, |v| {
        let new = if per_value {
            let parts: Vec<Vec<u8>> = v
                .split(|&b| b == b',')
                .map(|p| regex_replace(re, crate::http::trim_ows(p), with).unwrap_or_else(|| p.to_vec()))
                .collect();
            parts.join(&b","[..])
        } else {
            regex_replace(re, v, with)?
        };
        (!bad_value(&new) && new != v).then_some(new)
    });
}

/// Sets the request's `method`, `path`, `query` or `uri` as `set-method` ... do; false
/// when the value is refused (not a token, blanks or controls in the target).
pub(crate) fn set_request_part(req: &mut super::Request, part: &str, value: &str) -> bool {
    if part == "method" {
        if value.is_empty() || !value.bytes().all(is_tchar) {
            return false;
        }
        req.line.method = Method::from_token(value);
        return true;
    }
    if value.bytes().any(|b| b <= b' ' || b == 0x7f) {
        return false;
    }
    let new = match part {
        "path" => with_path(&req.line, value, true),
        "query" => with_query(&req.line.target, value),
        "uri" => value.to_string(),
        _ => return false,
    };
    set_target(&mut req.line, new);
    true
}

fn headers_mut(txn: &mut Txn, side: Side) -> Option<&mut super::Headers> {
    match side {
        Side::Request => txn.req.as_mut().map(|r| &mut r.headers),
        Side::Response => txn.res.as_mut().map(|r| &mut r.headers),
    }
}

/// `set-priority-class` (`offset` false) and `set-priority-offset` (HTTP and TCP
/// rules): the value of the expression, bounded as HAProxy bounds it, into the
/// (class, offset) pair. An expression that finds nothing changes nothing, as in
/// HAProxy.
pub(crate) fn set_priority(priority: &mut (i32, i32), offset: bool, value: Option<Sample>) {
    let Some(n) = value.and_then(|v| v.to_int()) else { return };
    if offset {
        priority.1 = n.clamp(-PRIORITY_OFFSET_MAX, PRIORITY_OFFSET_MAX) as i32;
    } else {
        priority.0 = n.clamp(-PRIORITY_CLASS_MAX, PRIORITY_CLASS_MAX) as i32;
    }
}

pub(crate) fn set_var(name: &VarName, v: Sample, txn: &mut Txn, env: &mut RuleEnv<'_>) {
    match name.scope {
        Scope::Sess => env.sess_vars.set(name, v),
        Scope::Txn | Scope::Req | Scope::Res => txn.vars.set(name, v),
        Scope::Proc => crate::sample::vars::with_proc_vars(|p| p.set(name, v)),
        _ => {}
    }
}

pub(crate) fn unset_var(name: &VarName, txn: &mut Txn, env: &mut RuleEnv<'_>) {
    match name.scope {
        Scope::Sess => {
            env.sess_vars.unset(name);
        }
        Scope::Proc => {
            crate::sample::vars::with_proc_vars(|p| p.unset(name));
        }
        Scope::Txn | Scope::Req | Scope::Res => {
            txn.vars.unset(name);
        }
        _ => {}
    }
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Replaces the whole of `subject` by `with`, its `\N` replaced by the regex groups,
/// when the regex matches (HAProxy's `replace-header`, `replace-path` ...).
fn regex_replace(re: &Regex, subject: &[u8], with: &[u8]) -> Option<Vec<u8>> {
    let caps = re.captures_at(subject, 0)?;
    let mut out = Vec::with_capacity(with.len());
    let mut i = 0;
    while i < with.len() {
        if with[i] == b'\\' && i + 1 < with.len() && with[i + 1].is_ascii_digit() {
            if let Some(m) = caps.get((with[i + 1] - b'0') as usize) {
                out.extend_from_slice(m.as_bytes());
            }
            i += 2;
        } else {
            out.push(with[i]);
            i += 1;
        }
    }
    Some(out)
}

/// The part of an absolute-form target before its path (`http://host`), or "".
fn target_prefix(line: &super::RequestLine) -> &str {
    if line.form != TargetForm::Absolute {
        return "";
    }
    let t = &line.target;
    let start = t.find("://").map_or(0, |i| i + 3);
    &t[..start + t[start..].find(['/', '?']).unwrap_or(t.len() - start)]
}

fn pathq(line: &super::RequestLine) -> &str {
    &line.target[target_prefix(line).len()..]
}

/// The target with its path (`keep_query`) or its path and query replaced by `new`.
fn with_path(line: &super::RequestLine, new: &str, keep_query: bool) -> String {
    let mut out = target_prefix(line).to_string();
    out.push_str(new);
    if keep_query {
        if let Some(q) = line.query() {
            out.push('?');
            out.push_str(q);
        }
    }
    out
}

/// `set-query`: the query replaced; a `?` is added only for a non-empty query and is
/// kept once present.
fn with_query(target: &str, q: &str) -> String {
    match target.split_once('?') {
        Some((p, _)) => format!("{p}?{q}"),
        None if q.is_empty() => target.to_string(),
        None => format!("{target}?{q}"),
    }
}

fn set_target(line: &mut super::RequestLine, target: String) {
    line.form = if target == "*" {
        TargetForm::Asterisk
    } else if target.starts_with('/') {
        TargetForm::Origin
    } else if target.contains("://") {
        TargetForm::Absolute
    } else if line.form == TargetForm::Authority {
        TargetForm::Authority
    } else {
        TargetForm::Origin
    };
    line.target = target;
}

fn redirect_location(
    kind: RedirectKind,
    target: &Fmt,
    drop_query: bool,
    append_slash: bool,
    cx: &RuleCtx<'_, '_>,
) -> Option<Vec<u8>> {
    let value = target.render(cx);
    let req = cx.txn.req.as_ref();
    // The path and query of the request, as a prefix or scheme redirect appends them.
    let uri = |req: &super::Request| {
        let mut u = req.line.path().to_string();
        if append_slash && !u.ends_with('/') {
            u.push('/');
        }
        if !drop_query {
            if let Some(q) = req.line.query() {
                u.push('?');
                u.push_str(q);
            }
        }
        u
    };
    Some(match kind {
        RedirectKind::Location => value,
        RedirectKind::Prefix => {
            let mut out = value;
            // A prefix of "/" adds nothing before the path.
            if out == b"/" {
                out.clear();
            }
            out.extend_from_slice(uri(req?).as_bytes());
            out
        }
        RedirectKind::Scheme => {
            let req = req?;
            let host = req.headers.get("host").or(req.line.authority().map(str::as_bytes))?;
            let mut out = value;
            out.extend_from_slice(b"://");
            out.extend_from_slice(host);
            out.extend_from_slice(uri(req).as_bytes());
            out
        }
    })
}

/// The reason phrase HAProxy 2.6 gives a status it builds without one (`return`,
/// `set-status`, Lua `txn:done`/replies and services): its own table, read off 2.6.12
/// (a service setting each status, tests/http_rules_vs_haproxy.rs checks some), with the
/// class name for the codes it does not list. Its error pages and redirects carry their
/// own texts ([`super::errors::reason`], [`redirect_reason`]).
#[allow(clippy::match_overlapping_arm)] // the listed codes first, then their class
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        101 => "Switching Protocols",
        102 => "Processing",
        103 => "Informational",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        203 => "Non-Authoritative Information",
        204 => "No Content",
        205 => "Reset Content",
        206 => "Partial Content",
        207 => "Multi-Status",
        226 => "IM Used",
        300 => "Multiple Choices",
        301 => "Moved Permanently",
        302 => "Moved Temporarily",
        303 => "See Other",
        304 => "Not Modified",
        305 => "Use Proxy",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        402 => "Payment Required",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        407 => "Proxy Authentication Required",
        408 => "Request Time-out",
        409 => "Conflict",
        410 => "Gone",
        411 => "Length Required",
        412 => "Precondition Failed",
        413 => "Request Entity Too Large",
        414 => "Request-URI Too Long",
        415 => "Unsupported Media Type",
        416 => "Requested range unsatisfiable",
        417 => "Expectation failed",
        418 => "I'm a teapot",
        421 => "Misdirected Request",
        422 => "Unprocessable Content",
        423 => "Locked",
        424 => "Method failure",
        425 => "Too Early",
        426 => "Upgrade Required",
        428 => "Precondition Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        451 => "Unavailable For Legal Reasons",
        499 => "client has closed connection",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway or Proxy Error",
        503 => "Service Unavailable",
        504 => "Gateway Time-out",
        505 => "HTTP Version not supported",
        506 => "Variant also negotiate",
        507 => "Insufficient storage",
        508 => "Loop detected",
        510 => "Not extended",
        511 => "Network authentication required",
        100..=199 => "Informational",
        200..=299 => "Success",
        300..=399 => "Redirection",
        400..=499 => "Client Error",
        500..=599 => "Server Error",
        _ => "Other",
    }
}

/// The reason phrase of a `redirect` rule's answer (HAProxy's redirect texts).
fn redirect_reason(status: u16) -> &'static str {
    match status {
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        s => reason_phrase(s),
    }
}

/// A complete HTTP/1.1 response: status line, `headers` in order, body. The body is
/// left out (its length kept) when answering a `HEAD` request.
fn build_response(status: u16, headers: &[(String, Vec<u8>)], body: &[u8], head: bool) -> Vec<u8> {
    build_response_with(status, reason_phrase(status), headers, body, head)
}

fn build_response_with(status: u16, reason: &str, headers: &[(String, Vec<u8>)], body: &[u8], head: bool) -> Vec<u8> {
    let mut out = format!("HTTP/1.1 {status} {reason}\r\n").into_bytes();
    for (n, v) in headers {
        push_field(&mut out, n.as_bytes(), v);
    }
    out.extend_from_slice(b"\r\n");
    if !head {
        out.extend_from_slice(body);
    }
    out
}

/// Appends the header field line `name: value` (CRLF-terminated) to a response head.
fn push_field(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

fn is_head(txn: &Txn) -> bool {
    txn.req.as_ref().is_some_and(|r| r.line.method == Method::Head)
}

/// The response of `return`: the `hdr` headers, then content-length and content-type,
/// in HAProxy's order.
///
/// Written straight into the one buffer returned (a `return` with a static body, the
/// common case, allocates nothing else).
fn build_return(spec: &ReturnSpec, cx: &RuleCtx<'_, '_>) -> Vec<u8> {
    use std::io::Write as _;
    let rendered;
    let body: &[u8] = match &spec.body {
        ReturnBody::File(response) => return response.clone(),
        ReturnBody::None => b"",
        ReturnBody::Static(b) => b,
        ReturnBody::Format(f) => {
            rendered = f.render(cx);
            &rendered
        }
    };
    let head = is_head(cx.txn);
    let mut out = Vec::with_capacity(128 + if head { 0 } else { body.len() });
    // Writing into a Vec cannot fail.
    let _ = write!(out, "HTTP/1.1 {} {}\r\n", spec.status, reason_phrase(spec.status));
    for (name, f) in &spec.headers {
        let value = f.render(cx);
        if !bad_value(&value) {
            push_field(&mut out, name.to_ascii_lowercase().as_bytes(), &value);
        }
    }
    let _ = write!(out, "content-length: {}\r\n", body.len());
    // Without a payload HAProxy ignores the content type (and warns).
    if let Some(ct) = spec.content_type.as_ref().filter(|_| !matches!(spec.body, ReturnBody::None)) {
        push_field(&mut out, b"content-type", ct.as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    if !head {
        out.extend_from_slice(body);
    }
    out
}
