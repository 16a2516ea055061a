//! Content inspection: the parts of the rules that need the stream's buffers and
//! clock, kept out of the forwarding code.
//!
//! - `tcp-request content` rules that wait for data: with `tcp-request inspect-delay`,
//!   a rule whose condition lacks data that may still come ([`TcpVerdict::Wait`],
//!   HAProxy's `SMP_F_MAY_CHANGE`) is run again as client bytes arrive, until a rule
//!   decides, the buffer is full, the client closes or the delay expires (then the
//!   data is final and every rule decides).
//! - `tcp-response content` rules of the backend, the same way on the server's
//!   bytes, from the moment the server is connected; nothing goes to the client
//!   before they decide (TCP mode).
//! - `lua.<name>` actions in those lists (`core.register_action(.., {"tcp-req"}` or
//!   `{"tcp-res"}`): the rule list stops on them ([`TcpVerdict::Lua`]), the stream runs
//!   the action through [`super::lua::run_action_io`] with its buffers as `txn.req` and
//!   `txn.res` ([`TcpChannels`]), and the list goes on after it, or waits with it: a
//!   `Channel` call short of data waits for client (server) bytes within the
//!   inspect-delay, a `core.sleep` for its timer. In HTTP mode the actions run too
//!   (before the `http-request` rules), with the channels refused as in HAProxy.
//! - Session variables of a TCP-mode stream (`sess.*`; HTTP mode keeps them in the
//!   `HttpSide`) and `txn.*` variables of TCP rules, which conditions, `use_backend`
//!   and the response rules read.
//! - `http-request wait-for-body` and `http-request early-hint`, which the HTTP rules
//!   ask of the stream ([`super::analysers::WaitFor::Body`],
//!   [`crate::http::rules::Verdict::EarlyHint`]).
//!
//! State lives in an [`Inspect`] box created only for streams that use one of these.

use super::analysers::{run_tcp_rules, RuleCursor, TcpRuleAction, TcpVars, TcpVerdict, WaitFor};
use super::lua::LuaStep;
use super::channel::Channel;
use super::conn::WriteEnd;
use super::http::Stage;
use super::proxy::ProxyRt;
use super::termination::{Cause, Phase, Termination};
use super::{Env, Stream};
use crate::config::model::TcpRuleList;
use crate::http::h1::BodyDecoder;
use crate::http::BodyFraming;
use crate::reactor::Kind;
use crate::sample::vars::{Scope, VarName, Vars};
use crate::sample::{ChannelData, Dir, Sample, SampleCtx};
use std::cell::{Cell, RefCell};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// What a stream keeps for content inspection.
#[derive(Debug, Default)]
pub struct Inspect {
    /// `sess.*` variables of a TCP-mode stream.
    pub sess_vars: Vars,
    /// `txn.*` (and `req.*`/`res.*`) variables set by TCP rules in TCP mode.
    pub txn_vars: Vars,
    req_cursor: RuleCursor,
    /// When `tcp-request content` rules first ran (the inspect delay counts from it).
    req_started: Option<Instant>,
    res_cursor: RuleCursor,
    res_started: Option<Instant>,
    /// The response rules decided: the response flows.
    res_done: bool,
    /// The response rules wait for data until this deadline.
    res_waiting: Option<Instant>,
    /// A request `wait-for-body` in progress: its deadline and byte bound.
    body_wait: Option<(Instant, u64)>,
    /// The same for `http-response wait-for-body`.
    res_body_wait: Option<(Instant, u64)>,
    /// Bytes at the head of the request and response buffers that Lua actions sent or
    /// forwarded (`Channel.send`/`forward`): the channels' output parts, which the rules
    /// no longer see.
    lua_out: [usize; 2],
    /// HTTP mode: where the `tcp-request content` rules of the request are (a Lua
    /// action among them may wait).
    http_cursor: RuleCursor,
    /// `%bi %bp`: the local address of the last server connection established, kept
    /// only when some format prints it (see [`Stream::keep_backend_src`]).
    backend_src: Option<Box<SocketAddr>>,
    /// TCP mode: the content rule whose verdict ended its list last
    /// (`last_rule_file`, `last_rule_line`).
    last_rule: Option<crate::config::model::Location>,
    /// TCP mode: the queue priority class and offset `tcp-request content
    /// set-priority-class|offset` gave the stream (HTTP mode: the transaction's).
    pub priority: (i32, i32),
    /// A `do-resolve` lookup the rules wait for (`super::resolve`), in either mode.
    pub resolution: Option<super::resolve::Resolution>,
    /// TCP mode: the stream's SPOE state (HTTP mode keeps one per transaction in the
    /// `Txn`), see `super::spoe`.
    pub spoe: Option<Box<crate::spoe::TxnState>>,
}

/// The sample context of TCP content rules: the connection, the variables and the
/// raw bytes of both channels, and whether those bytes are final.
pub struct InspectCtx<'a> {
    /// The connection's addresses, as `set-src`, `set-dst`... leave them.
    pub src: Cell<Option<SocketAddr>>,
    pub dst: Cell<Option<SocketAddr>>,
    pub frontend: &'a str,
    pub backend: Option<&'a str>,
    /// Copies of the stream's variables: rules write them as they run (so the next
    /// rule sees the write), the stream takes them back after the pass.
    pub sess: RefCell<Vars>,
    pub txn: RefCell<Vars>,
    pub req: Option<ChannelData<'a>>,
    pub res: Option<ChannelData<'a>>,
    missed: Cell<bool>,
    /// The client connection's TLS (`ssl_fc*`), and whether its handshake is still
    /// going on (the fetches then "may change": rules with an inspect delay wait).
    pub tls: Option<std::sync::Arc<crate::tls::TlsInfo>>,
    pub tls_pending: bool,
    /// The client socket, its listener and PROXY TLVs (`fc_rtt`, `so_id`, `dst_conn`,
    /// `fc_pp_authority`...), where the stream gives them.
    pub conn: Option<crate::sample::fetch_conn::ClientConn>,
    /// The content rule that decided last (`last_rule_file`, `last_rule_line`).
    pub last_rule: Option<crate::config::model::Location>,
}

impl<'a> InspectCtx<'a> {
    /// Gives the context the client connection's TLS state.
    pub(super) fn with_tls(mut self, client: &super::conn::Conn) -> Self {
        self.tls = client.tls_info().cloned();
        self.tls_pending = client.tls_handshaking();
        self
    }

    /// Gives the context what the stream knows of its connections.
    pub(super) fn with_conn(mut self, conn: crate::sample::fetch_conn::ClientConn) -> Self {
        self.conn = Some(conn);
        self
    }

    /// A context on `ins`'s variables (none before a stream has any).
    pub(super) fn new(s: (Option<SocketAddr>, Option<SocketAddr>), frontend: &'a str, backend: Option<&'a str>, ins: Option<&'a Inspect>) -> Self {
        InspectCtx {
            src: Cell::new(s.0),
            dst: Cell::new(s.1),
            frontend,
            backend,
            sess: RefCell::new(ins.map(|i| i.sess_vars.clone()).unwrap_or_default()),
            txn: RefCell::new(ins.map(|i| i.txn_vars.clone()).unwrap_or_default()),
            req: None,
            res: None,
            missed: Cell::new(false),
            tls: None,
            tls_pending: false,
            conn: None,
            last_rule: ins.and_then(|i| i.last_rule.clone()),
        }
    }
}

impl SampleCtx for InspectCtx<'_> {
    fn client_conn(&self) -> Option<crate::sample::fetch_conn::ClientConn> {
        self.conn.clone()
    }
    fn last_rule(&self) -> Option<&crate::config::model::Location> {
        self.last_rule.as_ref()
    }
    fn tls(&self) -> Option<&crate::tls::TlsInfo> {
        if self.tls_pending {
            self.may_change();
        }
        self.tls.as_deref()
    }
    fn src(&self) -> Option<SocketAddr> {
        self.src.get()
    }
    fn dst(&self) -> Option<SocketAddr> {
        self.dst.get()
    }
    fn set_addr(&self, part: super::set_addr::AddrPart, value: Sample) -> bool {
        super::set_addr::set_cell(part, value, (&self.src, &self.dst));
        true
    }
    fn frontend_name(&self) -> Option<&str> {
        Some(self.frontend)
    }
    fn backend_name(&self) -> Option<&str> {
        self.backend
    }
    fn var(&self, name: &VarName) -> Option<Sample> {
        match name.scope {
            Scope::Sess => self.sess.borrow().get(name).cloned(),
            Scope::Txn | Scope::Req | Scope::Res => self.txn.borrow().get(name).cloned(),
            Scope::Proc => crate::sample::vars::with_proc_vars(|v| v.get(name).cloned()),
            _ => None,
        }
    }
    fn set_var(&self, name: &VarName, value: Option<Sample>) -> bool {
        let store = match name.scope {
            Scope::Sess => &self.sess,
            Scope::Txn | Scope::Req | Scope::Res => &self.txn,
            Scope::Proc => {
                crate::sample::vars::with_proc_vars(|p| match value {
                    Some(v) => p.set(name, v),
                    None => {
                        p.unset(name);
                    }
                });
                return true;
            }
            _ => return false,
        };
        match value {
            Some(v) => store.borrow_mut().set(name, v),
            None => {
                store.borrow_mut().unset(name);
            }
        }
        true
    }
    fn channel_data(&self, dir: Dir) -> Option<ChannelData<'_>> {
        match dir {
            Dir::Req => self.req,
            Dir::Res => self.res,
        }
    }
    fn may_change(&self) {
        self.missed.set(true);
    }
    fn took_may_change(&self) -> bool {
        self.missed.replace(false)
    }
}

/// Whether a channel's bytes are final for rules with `delay` started at `started`.
fn is_last(ch: &Channel, delay: Option<Duration>, started: Instant, now: Instant) -> bool {
    delay.is_none_or(|d| now >= started + d) || ch.eof || ch.buf.is_full()
}

/// What a pass of TCP rules leaves.
struct Pass {
    verdict: TcpVerdict,
    cursor: RuleCursor,
    /// The variables as the rules left them.
    sess: Vars,
    txn: Vars,
    /// Where the rule that decided is written (if one did).
    decided: Option<crate::config::model::Location>,
    /// The connection's addresses (`set-src`...).
    addrs: (Option<SocketAddr>, Option<SocketAddr>),
    /// The name a `do-resolve` rule asks for ([`TcpVerdict::Resolve`]).
    resolve: Option<Box<super::resolve::Request>>,
    /// The stream's queue priority (`set-priority-class`, `set-priority-offset`).
    priority: (i32, i32),
}

/// Runs the rules of `list` from `cursor` with `cx`, the stream's queue priority being
/// `priority`.
fn run_pass(rules: &super::analysers::TcpRules, list: TcpRuleList, cursor: RuleCursor, cx: InspectCtx<'_>, priority: (i32, i32)) -> Pass {
    let mut cursor = cursor;
    // `cx` stores the writes itself (see `InspectCtx::set_var`).
    let (mut unused_sess, mut unused_txn) = (Vars::new(), Vars::new());
    let mut vars = TcpVars { sess: &mut unused_sess, txn: Some(&mut unused_txn), decided: None, resolve: None, priority };
    let verdict = run_tcp_rules(rules, list, &mut cursor, &cx, &mut vars);
    let decided = vars.decided.and_then(|i| rules.list(list).get(i)).map(|r| r.location.clone());
    let (resolve, priority) = (vars.resolve, vars.priority);
    Pass {
        verdict,
        cursor,
        sess: cx.sess.into_inner(),
        txn: cx.txn.into_inner(),
        decided,
        addrs: (cx.src.get(), cx.dst.get()),
        resolve,
        priority,
    }
}

/// The context of a TCP-mode stream's `use_backend` conditions: the connection,
/// the variables the TCP rules set, and the client bytes received (final).
pub(super) fn route_ctx<'a>(addrs: (Option<SocketAddr>, Option<SocketAddr>), fe: &'a ProxyRt, ins: Option<&'a Inspect>, req: &'a Channel) -> InspectCtx<'a> {
    let mut cx = InspectCtx::new(addrs, &fe.name, None, ins);
    cx.req = Some(ChannelData { bytes: req.buf.data(), last: true });
    cx
}

/// The stream's parts the response rules use (the forwarding loop holds the others).
pub(super) struct ResponseSide<'a> {
    pub addrs: (Option<SocketAddr>, Option<SocketAddr>),
    pub frontend: usize,
    pub backend: Option<usize>,
    pub req: &'a mut Channel,
    pub res: &'a mut Channel,
    /// The stream's Lua context (`lua.<name>` actions of the response rules).
    pub lua: &'a mut Option<Box<super::lua::StreamLua>>,
}

/// While a TCP-mode stream forwards (from the moment the server connection is up):
/// its backend's `tcp-response content` rules on the server's bytes received so far,
/// with the Lua actions among them. `Continue` once they decided (or when there are
/// none); `Wait` holds the response back.
pub(super) fn tcp_response_rules(ins: &mut Option<Box<Inspect>>, side: ResponseSide<'_>, env: &mut Env<'_, '_>) -> TcpVerdict {
    let proxies = &*env.proxies;
    let be = match side.backend {
        Some(b) if !proxies[b].tcp_rules.response.is_empty() => &proxies[b],
        _ => return TcpVerdict::Continue,
    };
    if ins.as_ref().is_some_and(|i| i.res_done) {
        return TcpVerdict::Continue;
    }
    // As in HAProxy, the rules first run once the server connection is up, before
    // any byte: without an inspect delay they decide on an empty response.
    let now = env.cx.now;
    let fe = &proxies[side.frontend];
    let delay = be.tcp_rules.response_inspect_delay;
    let ins = ins.get_or_insert_with(Default::default);
    let started = *ins.res_started.get_or_insert(now);
    let last = is_last(side.res, delay, started, now);
    let mut start = None;
    let v = loop {
        if start.is_some() || side.lua.as_ref().is_some_and(|l| l.pending()) {
            let mut txn = crate::http::txn::Txn { vars: std::mem::take(&mut ins.txn_vars), ..Default::default() };
            let mut renv = crate::http::rules::RuleEnv { src: side.addrs.0, dst: side.addrs.1, frontend: &fe.name, backend: Some(&be.name), server: None, sess_vars: &mut ins.sess_vars, userlists: &fe.userlists, tls: None, server_tls: None, conn: Default::default() };
            let mut io = TcpChannels { chans: [&mut *side.req, &mut *side.res], outs: &mut ins.lua_out, can_wait: [false, !last], waited: false };
            let step = super::lua::run_action_io(side.lua, env.cx, proxies, &*env.pool, env.key, start.take().as_ref(), &mut txn, &mut renv, super::lua::Side::Response, Some(&mut io));
            let waited = io.waited;
            ins.txn_vars = txn.vars;
            match step {
                LuaStep::Next => {}
                LuaStep::Stop => break TcpVerdict::Continue,
                LuaStep::Wait(w) => {
                    ins.res_waiting = if waited { delay.map(|d| started + d) } else { lua_wait(w, env) };
                    return TcpVerdict::Wait;
                }
                LuaStep::Verdict(v) => break tcp_verdict(v),
                LuaStep::Close => break TcpVerdict::Reject,
            }
        }
        let out = ins.lua_out[1].min(side.res.buf.len());
        let mut cx = InspectCtx::new(side.addrs, &fe.name, Some(&be.name), Some(ins));
        cx.req = Some(ChannelData { bytes: side.req.buf.data(), last: true });
        cx.res = Some(ChannelData { bytes: &side.res.buf.data()[out..], last });
        // (`tcp-response content` has no `set-src`: the addresses are as they were.)
        let pass = super::lua::in_rules(env.cx, proxies, &*env.pool, || {
            run_pass(&be.tcp_rules, TcpRuleList::ResponseContent, ins.res_cursor, cx, (0, 0))
        });
        ins.res_cursor = pass.cursor;
        ins.last_rule = pass.decided.or(ins.last_rule.take());
        ins.sess_vars = pass.sess;
        ins.txn_vars = pass.txn;
        match pass.verdict {
            TcpVerdict::Lua(i) => start = lua_action(&be.tcp_rules, TcpRuleList::ResponseContent, i),
            // A Lua fetch of a rule waits (a socket's completion wakes the stream).
            TcpVerdict::Suspended(w) => {
                ins.res_waiting = lua_wait(w, env);
                return TcpVerdict::Wait;
            }
            v => break v,
        }
    };
    match v {
        TcpVerdict::Wait => ins.res_waiting = delay.map(|d| started + d),
        // `send-spoe-group`: the stream sends the group, then the rules go on.
        TcpVerdict::Spoe(_) => ins.res_waiting = None,
        _ => {
            ins.res_done = true;
            ins.res_waiting = None;
        }
    }
    v
}

/// What a Lua action's answer means to the TCP rules of a TCP stream: `act.DENY`,
/// `act.ERROR` and `act.INVALID` reject; `act.ABORT` (the 503 of
/// [`super::lua::run_action`]) ends the rules and lets the stream go on, as HAProxy's
/// `abort` leaves closing to the action (verified with 2.6).
fn tcp_verdict(v: crate::http::rules::Verdict) -> TcpVerdict {
    match v {
        crate::http::rules::Verdict::Deny { status: 503 } => TcpVerdict::Continue,
        _ => TcpVerdict::Reject,
    }
}

/// A Lua action or fetch of the TCP rules waits: the deadline that resumes it (a sleep),
/// or `None` when something else does (client data, a socket's completion, or the run
/// queue, where a forced yield is put here).
fn lua_wait(w: WaitFor, env: &mut Env<'_, '_>) -> Option<Instant> {
    match w {
        WaitFor::Timer(at) => Some(at),
        WaitFor::Forced => {
            env.cx.wake.push(Kind::Client, env.key);
            None
        }
        WaitFor::ClientData | WaitFor::Body { .. } => None,
    }
}

/// The Lua action of rule `i` of `list`.
fn lua_action(rules: &super::analysers::TcpRules, list: TcpRuleList, i: usize) -> Option<std::sync::Arc<crate::http::rules::LuaAction>> {
    match rules.list(list).get(i).map(|r| &r.action) {
        Some(TcpRuleAction::Lua(a)) => Some(a.clone()),
        _ => None,
    }
}

/// A TCP stream's buffers as Lua's `Channel` sees them (`[request, response]`): the
/// first `outs[d]` bytes of a buffer are its output part (sent or forwarded by Lua),
/// the rest its input.
struct TcpChannels<'a> {
    chans: [&'a mut Channel; 2],
    outs: &'a mut [usize; 2],
    /// Whether the rules may still wait for bytes of each direction.
    can_wait: [bool; 2],
    /// A `Channel` call asked to wait for data.
    waited: bool,
}

impl TcpChannels<'_> {
    fn out(&self, d: usize) -> usize {
        self.outs[d].min(self.chans[d].buf.len())
    }
}

/// Replaces `remove` bytes at `at` of `buf` by `with`; false (nothing changed) when the
/// result would not fit.
fn rewrite(buf: &mut super::channel::Buffer, at: usize, remove: usize, with: &[u8]) -> bool {
    let data = buf.data();
    if data.len() - remove + with.len() > buf.capacity() {
        return false;
    }
    let mut v = Vec::with_capacity(data.len() - remove + with.len());
    v.extend_from_slice(&data[..at]);
    v.extend_from_slice(with);
    v.extend_from_slice(&data[at + remove..]);
    buf.clear();
    buf.space()[..v.len()].copy_from_slice(&v);
    buf.produced(v.len());
    true
}

impl crate::lua::api::channel::ChannelIo for TcpChannels<'_> {
    fn input(&self, res: bool) -> &[u8] {
        let d = usize::from(res);
        &self.chans[d].buf.data()[self.out(d)..]
    }
    fn output_len(&self, res: bool) -> usize {
        self.out(usize::from(res))
    }
    fn splice(&mut self, res: bool, at: usize, remove: usize, with: &[u8]) -> bool {
        let d = usize::from(res);
        let at = self.out(d) + at;
        rewrite(&mut self.chans[d].buf, at, remove, with)
    }
    fn send(&mut self, res: bool, bytes: &[u8]) -> bool {
        let d = usize::from(res);
        let at = self.out(d);
        if !rewrite(&mut self.chans[d].buf, at, 0, bytes) {
            return false;
        }
        self.outs[d] = at + bytes.len();
        true
    }
    fn forward(&mut self, res: bool, n: usize) {
        let d = usize::from(res);
        self.outs[d] = (self.out(d) + n).min(self.chans[d].buf.len());
    }
    fn room(&self, res: bool) -> usize {
        let b = &self.chans[usize::from(res)].buf;
        b.capacity() - b.len()
    }
    fn may_recv(&self, res: bool) -> bool {
        let c = &self.chans[usize::from(res)];
        !c.eof && !c.buf.is_full()
    }
    fn input_closed(&self, res: bool) -> bool {
        self.chans[usize::from(res)].eof
    }
    fn is_full(&self, res: bool) -> bool {
        self.chans[usize::from(res)].buf.is_full()
    }
    fn can_wait(&self, res: bool) -> bool {
        self.can_wait[usize::from(res)] && self.may_recv(res)
    }
    fn wait_data(&mut self, _res: bool) {
        self.waited = true;
    }
}

impl Stream {
    /// Gives the stream the `sess.*` variables `tcp-request connection` rules set
    /// before it existed (HTTP mode keeps them in the `HttpSide`).
    pub fn set_session_vars(&mut self, vars: Vars) {
        match self.http.as_mut() {
            Some(h) => h.sess_vars = vars,
            None => self.inspect.get_or_insert_with(Default::default).sess_vars = vars,
        }
    }

    /// The frontend's `tcp-request content` rules, once per stream in TCP mode (before
    /// `use_backend`, waiting for data within `inspect-delay`) and once per request in
    /// HTTP mode (before the `http-request` rules, on the parsed request), as HAProxy
    /// orders them. False while they wait, or when a `reject` closed the stream.
    pub(super) fn tcp_content_rules(&mut self, env: &mut Env<'_, '_>) -> bool {
        self.tcp_content_rules_of(env, self.frontend)
    }

    /// The backend's own `tcp-request content` rules, once it is chosen (a `listen`'s
    /// ran as the frontend's): before its `http-request` rules, with its own
    /// `inspect-delay` counted from there.
    pub(super) fn backend_tcp_content_rules(&mut self, env: &mut Env<'_, '_>) -> bool {
        match self.backend {
            Some(be) if be != self.frontend => self.tcp_content_rules_of(env, be),
            _ => true,
        }
    }

    fn tcp_content_rules_of(&mut self, env: &mut Env<'_, '_>, proxy: usize) -> bool {
        let backend = proxy != self.frontend;
        let done = if backend { self.be_tcp_content_done } else { self.tcp_content_done };
        if done {
            return true;
        }
        let mark_done = |s: &mut Stream| {
            if backend {
                s.be_tcp_content_done = true;
            } else {
                s.tcp_content_done = true;
                // The backend's rules, if any, start from their first, with their own delay.
                if let Some(ins) = s.inspect.as_mut() {
                    ins.req_cursor = RuleCursor::default();
                    ins.req_started = None;
                }
            }
        };
        if env.proxies[proxy].tcp_rules.content.is_empty() {
            mark_done(self);
            return true;
        }
        // A `send-spoe-group` waiting for its agent: the rules go on once it answered.
        if !self.spoe_group_pending(env) {
            return false;
        }
        let verdict = match self.http.is_some() {
            true => match self.http_tcp_content_pass(env, proxy) {
                Some(v) => v,
                None => return false,
            },
            false => match self.tcp_content_pass(env, proxy) {
                Some(v) => v,
                None => return false,
            },
        };
        if let TcpVerdict::Spoe(rule) = verdict {
            // `send-spoe-group`: the group is sent, then the rules go on after the rule.
            let Some(group) = env.proxies[proxy].tcp_rules.spoe_group(TcpRuleList::Content, rule) else { return true };
            return self.spoe_group(env, proxy, &group) && self.tcp_content_rules_of(env, proxy);
        }
        mark_done(self);
        if let TcpVerdict::UseService(rule) = verdict {
            // Only TCP-mode proxies get here: start-up refuses a TCP service in an HTTP
            // proxy and an HTTP service in `tcp-request` rules, as HAProxy does.
            let name = env.proxies[proxy].tcp_rules.service_name(rule).map(str::to_string);
            if self.http.is_none() {
                if let Some(name) = name {
                    self.tcp_start_service(env, &name);
                    return false;
                }
            }
        }
        if matches!(verdict, TcpVerdict::Reject | TcpVerdict::SilentDrop) {
            // No answer, not even an error page: the connection just closes.
            if verdict == TcpVerdict::SilentDrop {
                self.client.prepare_silent_drop();
            }
            if let Some(h) = self.http.as_mut() {
                h.silent_close = true;
            }
            self.close(env, Cause::ProxyAbort, Phase::Request);
            return false;
        }
        true
    }

    /// TCP mode: the `tcp-request content` rules from where they are, waiting for data
    /// within `inspect-delay`, with the Lua actions among them. `None` while they wait.
    fn tcp_content_pass(&mut self, env: &mut Env<'_, '_>, proxy: usize) -> Option<TcpVerdict> {
        let fe = &env.proxies[self.frontend];
        let px = &env.proxies[proxy];
        let be_name = (proxy != self.frontend).then_some(px.name.as_str());
        let now = env.cx.now;
        let delay = px.tcp_rules.inspect_delay;
        let ins = self.inspect.get_or_insert_with(Default::default);
        let started = *ins.req_started.get_or_insert(now);
        let last = is_last(&self.req, delay, started, now);
        let mut start = None;
        loop {
            // A `do-resolve` lookup in progress: its answer, or wait on while the rules
            // may wait (HAProxy gives it up once the data is final: the delay expired,
            // the client closed or the buffer is full).
            if let Some(r) = ins.resolution.as_mut() {
                match r.poll(now) {
                    None if last => ins.resolution = None,
                    None => {
                        self.state_deadline = Some(r.deadline());
                        return None;
                    }
                    Some(found) => {
                        if let Some(ip) = found {
                            super::resolve::store(r.var(), ip, &mut ins.sess_vars, &mut ins.txn_vars);
                        }
                        ins.resolution = None;
                    }
                }
            }
            if start.is_some() || self.lua.as_ref().is_some_and(|l| l.pending()) {
                let mut txn = crate::http::txn::Txn { vars: std::mem::take(&mut ins.txn_vars), ..Default::default() };
                let mut renv = super::frontend_rule_env(self.src, self.dst, fe, &mut ins.sess_vars, self.client.tls_info().cloned(), conn_facts!(self));
                renv.backend = be_name;
                let mut io = TcpChannels { chans: [&mut self.req, &mut self.res], outs: &mut ins.lua_out, can_wait: [!last, false], waited: false };
                let step = super::lua::run_action_io(&mut self.lua, env.cx, env.proxies, &*env.pool, env.key, start.take().as_ref(), &mut txn, &mut renv, super::lua::Side::Request, Some(&mut io));
                let waited = io.waited;
                ins.txn_vars = txn.vars;
                match step {
                    LuaStep::Next => {}
                    LuaStep::Stop => break Some(TcpVerdict::Continue),
                    LuaStep::Wait(w) => {
                        // A `Channel` call short of data: the next client bytes or the
                        // end of the inspect delay resume it.
                        self.state_deadline = if waited { delay.map(|d| started + d) } else { lua_wait(w, env) };
                        return None;
                    }
                    LuaStep::Verdict(v) => break Some(tcp_verdict(v)),
                    LuaStep::Close => break Some(TcpVerdict::Reject),
                }
            }
            let out = ins.lua_out[0].min(self.req.buf.len());
            let conn = conn_facts!(self);
            let mut cx = InspectCtx::new((self.src, self.dst), &fe.name, be_name, Some(ins)).with_tls(&self.client).with_conn(conn);
            cx.req = Some(ChannelData { bytes: &self.req.buf.data()[out..], last });
            let pass = super::lua::in_rules(env.cx, env.proxies, &*env.pool, || {
                run_pass(&px.tcp_rules, TcpRuleList::Content, ins.req_cursor, cx, ins.priority)
            });
            (self.src, self.dst) = pass.addrs;
            ins.req_cursor = pass.cursor;
            ins.last_rule = pass.decided.or(ins.last_rule.take());
            ins.sess_vars = pass.sess;
            ins.txn_vars = pass.txn;
            ins.priority = pass.priority;
            let resolve = pass.resolve;
            match pass.verdict {
                TcpVerdict::Lua(i) => start = lua_action(&px.tcp_rules, TcpRuleList::Content, i),
                // As HAProxy, a lookup is waited for only while the rules may still
                // wait: on final data the variable stays unset.
                TcpVerdict::Resolve => {
                    if let Some(req) = resolve.filter(|_| !last) {
                        let until = delay.map(|d| started + d);
                        let token = crate::reactor::token::encode(Kind::Resolve, env.key);
                        ins.resolution = super::resolve::Resolution::begin(env.cx.registry, token, *req, now, until);
                    }
                }
                // A Lua fetch of a rule waits (a socket's completion wakes the stream).
                TcpVerdict::Suspended(w) => {
                    self.state_deadline = lua_wait(w, env);
                    return None;
                }
                TcpVerdict::Wait => {
                    // Not final yet (a final pass always decides): run again on the
                    // next client bytes, or when the delay expires.
                    self.state_deadline = delay.map(|d| started + d);
                    return None;
                }
                v => {
                    self.state_deadline = None;
                    break Some(v);
                }
            }
        }
    }

    /// HTTP mode: `proxy`'s `tcp-request content` rules on the parsed request, or its
    /// `tcp-response content` rules on the parsed response head (nothing waits for data:
    /// payload fetches find nothing, as on HAProxy's HTX streams), with the Lua actions
    /// among them (which may wait: sleeps, sockets). Variables are recorded by the
    /// context (the next rules see them), then stored in the transaction (`txn.*`, read
    /// by the HTTP rules) and the session. `None` while a Lua action waits.
    fn http_tcp_content_pass(&mut self, env: &mut Env<'_, '_>, proxy: usize) -> Option<TcpVerdict> {
        self.http_tcp_pass(env, proxy, TcpRuleList::Content)
    }

    fn http_tcp_pass(&mut self, env: &mut Env<'_, '_>, proxy: usize, list: TcpRuleList) -> Option<TcpVerdict> {
        use crate::http::rules::{apply_writes, RuleCtx, VarWrites};
        let fe = &env.proxies[self.frontend];
        let px = &env.proxies[proxy];
        let be_name = (proxy != self.frontend).then_some(px.name.as_str());
        let side = if list == TcpRuleList::ResponseContent { super::lua::Side::Response } else { super::lua::Side::Request };
        let h = self.http.as_mut().expect("HTTP mode");
        let ins = self.inspect.get_or_insert_with(Default::default);
        let mut start = None;
        let v = loop {
            // A `do-resolve` lookup in progress (see `tcp_content_pass`).
            if let Some(r) = ins.resolution.as_mut() {
                match r.poll(env.cx.now) {
                    None => {
                        self.state_deadline = Some(r.deadline());
                        return None;
                    }
                    Some(found) => {
                        if let Some(ip) = found {
                            super::resolve::store(r.var(), ip, &mut h.sess_vars, &mut h.txn.vars);
                        }
                        ins.resolution = None;
                    }
                }
            }
            if start.is_some() || self.lua.as_ref().is_some_and(|l| l.pending()) {
                let mut renv = super::frontend_rule_env(self.src, self.dst, fe, &mut h.sess_vars, self.client.tls_info().cloned(), conn_facts!(self));
                renv.backend = be_name;
                match super::lua::run_action(&mut self.lua, env.cx, env.proxies, &*env.pool, env.key, start.take().as_ref(), &mut h.txn, &mut renv, side) {
                    LuaStep::Next => {}
                    LuaStep::Stop => break TcpVerdict::Continue,
                    LuaStep::Wait(w) => {
                        if let Some(at) = lua_wait(w, env) {
                            self.state_deadline = Some(at);
                        }
                        return None;
                    }
                    // Every answer closes an HTTP stream, `act.ABORT` too (HAProxy 2.6, verified).
                    LuaStep::Verdict(_) => break TcpVerdict::Reject,
                    LuaStep::Close => break TcpVerdict::Reject,
                }
            }
            let cursor = if list == TcpRuleList::ResponseContent { &mut ins.res_cursor } else { &mut ins.http_cursor };
            let writes = VarWrites::default();
            let (v, addrs, resolve, priority) = {
                let mut renv = super::frontend_rule_env(self.src, self.dst, fe, &mut h.sess_vars, self.client.tls_info().cloned(), conn_facts!(self));
                renv.backend = be_name;
                let cx = RuleCtx::recording(&renv, &h.txn, &writes);
                let (mut unused_sess, mut unused_txn) = (Vars::new(), Vars::new());
                let mut vars = TcpVars { sess: &mut unused_sess, txn: Some(&mut unused_txn), decided: None, resolve: None, priority: h.txn.priority };
                let v = super::lua::in_rules(env.cx, env.proxies, &*env.pool, || run_tcp_rules(&px.tcp_rules, list, cursor, &cx, &mut vars));
                (v, cx.addrs(), vars.resolve, vars.priority)
            };
            h.txn.priority = priority;
            if addrs != (self.src, self.dst) {
                h.txn.conn_addrs.get_or_insert((self.src, self.dst));
                (self.src, self.dst) = addrs;
            }
            let mut renv = super::frontend_rule_env(self.src, self.dst, fe, &mut h.sess_vars, self.client.tls_info().cloned(), conn_facts!(self));
            apply_writes(&writes, &mut h.txn, &mut renv);
            match v {
                TcpVerdict::Lua(i) => start = lua_action(&px.tcp_rules, list, i),
                // The request is complete here, so HAProxy waits for a lookup only
                // when an inspect delay lets the rules wait (moonproxy counts it from
                // the rule); without one the variable stays unset.
                TcpVerdict::Resolve => {
                    if let (Some(req), Some(delay)) = (resolve, px.tcp_rules.inspect_delay) {
                        let (now, token) = (env.cx.now, crate::reactor::token::encode(Kind::Resolve, env.key));
                        ins.resolution = super::resolve::Resolution::begin(env.cx.registry, token, *req, now, Some(now + delay));
                    }
                }
                // A Lua fetch of a rule waits (a socket's completion wakes the stream).
                TcpVerdict::Suspended(w) => {
                    if let Some(at) = lua_wait(w, env) {
                        self.state_deadline = Some(at);
                    }
                    return None;
                }
                v => break v,
            }
        };
        // The next request (or response) starts over; after a `send-spoe-group` the
        // list goes on from the cursor.
        let cursor = if list == TcpRuleList::ResponseContent { &mut ins.res_cursor } else { &mut ins.http_cursor };
        if !matches!(v, TcpVerdict::Spoe(_)) {
            *cursor = RuleCursor::default();
        }
        Some(v)
    }

    /// HTTP mode: the backend's `tcp-response content` rules, once per response (see
    /// [`Self::http_tcp_pass`]), before the `http-response` rules. A `reject` closes
    /// without an answer. False when the stream must not go on (a Lua action waits, or
    /// the stream closed).
    pub(super) fn http_tcp_response_rules(&mut self, env: &mut Env<'_, '_>) -> bool {
        let Some(be) = self.backend.filter(|&b| !env.proxies[b].tcp_rules.response.is_empty()) else { return true };
        if self.inspect.as_ref().is_some_and(|i| i.res_done) {
            return true;
        }
        // A `send-spoe-group` waiting for its agent: the rules go on once it answered.
        if !self.spoe_group_pending(env) {
            return false;
        }
        let Some(v) = self.http_tcp_pass(env, be, TcpRuleList::ResponseContent) else { return false };
        if let TcpVerdict::Spoe(rule) = v {
            let Some(group) = env.proxies[be].tcp_rules.spoe_group(TcpRuleList::ResponseContent, rule) else { return true };
            return self.spoe_group(env, be, &group) && self.http_tcp_response_rules(env);
        }
        self.inspect.get_or_insert_with(Default::default).res_done = true;
        if matches!(v, TcpVerdict::Reject | TcpVerdict::SilentDrop) {
            if v == TcpVerdict::SilentDrop {
                self.client.prepare_silent_drop();
                crate::stats::account_response_silent_drop(env.proxies, self.frontend, self.backend);
            }
            if let Some(h) = self.http.as_mut() {
                h.silent_close = true;
            }
            self.close(env, Cause::ProxyAbort, Phase::Headers);
            return false;
        }
        true
    }

    /// A server connection is established: when some format prints `%bi`/`%bp`, its
    /// local address is kept for the log line (the connection may be gone by then).
    /// This box holds it so that the stream and its server side stay their size and a
    /// proxy that does not log these pays nothing.
    pub(super) fn keep_backend_src(&mut self) {
        if !crate::log::format::backend_src_used() {
            return;
        }
        let addr = self.server.as_ref().and_then(|s| s.conn.as_ref()).and_then(|c| c.local_addr());
        self.inspect.get_or_insert_with(Default::default).backend_src = addr.map(Box::new);
    }

    /// `%bi %bp`: the server connection's local address (asked of a connection still
    /// open, which may be a reused one, else the one kept at connect).
    pub(super) fn backend_src(&self) -> Option<SocketAddr> {
        if !crate::log::format::backend_src_used() {
            return None;
        }
        let open = self.server.as_ref().and_then(|s| s.conn.as_ref()).and_then(|c| c.local_addr());
        open.or_else(|| self.inspect.as_ref()?.backend_src.as_deref().copied())
    }

    /// A new response head: its `tcp-response content` rules are still to run.
    pub(super) fn http_tcp_response_pending(&mut self) {
        if let Some(i) = self.inspect.as_mut() {
            i.res_done = false;
        }
    }

    /// While forwarding: the deadline of the TCP response rules waiting for data, or
    /// of an `http-response wait-for-body`.
    pub(super) fn inspect_deadline(&self) -> Option<Instant> {
        let i = self.inspect.as_ref()?;
        i.res_waiting.or(i.res_body_wait.map(|(at, _)| at))
    }

    // ---- HTTP: wait-for-body, early hints ------------------------------------------

    /// `http-request wait-for-body` yielded: wait from now on (the next wake checks
    /// whether the body is already here).
    pub(super) fn http_start_body_wait(&mut self, env: &mut Env<'_, '_>, time: Duration, at_least: u64) {
        let deadline = env.cx.now + time;
        self.inspect.get_or_insert_with(Default::default).body_wait = Some((deadline, at_least));
        env.cx.wake.push(Kind::Client, env.key);
    }

    /// A `wait-for-body` in progress: true once the body is complete, `at-least`
    /// bytes of it arrived, the buffer is full or the client closed; the payload is
    /// then kept for `req.body` and the rules after it run. When the time runs out
    /// first the client gets a 408, as HAProxy answers. A client waiting for
    /// `100 Continue` gets it from the proxy.
    pub(super) fn http_body_wait(&mut self, env: &mut Env<'_, '_>) -> bool {
        let Some((deadline, at_least)) = self.inspect.as_ref().and_then(|i| i.body_wait) else { return true };
        if self.http_scan_early().is_err() {
            self.end_body_waits();
            let status = 400; // the scan found a malformed body
            self.http_reject(env, status, Termination::new(Cause::ProxyAbort, Phase::Request));
            return false;
        }
        let h = self.http.as_mut().expect("HTTP mode");
        let framing = h.txn.req.as_ref().map_or(BodyFraming::None, |r| r.framing);
        // The bytes were checked by the scan above.
        let (body, _) = decode_body(framing, &h.limits, &self.req.buf.data()[..h.req.fwd]).unwrap_or_default();
        let enough = at_least > 0 && body.len() as u64 >= at_least;
        if h.req.stage == Stage::Body && !enough && !self.req.eof && !self.req.buf.is_full() {
            if !self.http_send_continue(env) {
                return false;
            }
            if deadline <= env.cx.now {
                self.end_body_waits();
                self.http_reject(env, 408, Termination::new(Cause::ClientTimeout, Phase::Request));
            } else {
                self.state_deadline = Some(deadline);
            }
            return false;
        }
        h.txn.req_body = body;
        self.state_deadline = None;
        if let Some(i) = self.inspect.as_mut() {
            i.body_wait = None;
        }
        true
    }

    /// Forgets the `wait-for-body`s of a transaction the proxy answers by itself (a
    /// kept-alive connection's next transaction starts without them).
    fn end_body_waits(&mut self) {
        if let Some(i) = self.inspect.as_mut() {
            i.body_wait = None;
            i.res_body_wait = None;
        }
    }

    /// `http-response wait-for-body` yielded: wait from now on.
    pub(super) fn http_start_res_body_wait(&mut self, env: &mut Env<'_, '_>, time: Duration, at_least: u64) {
        let deadline = env.cx.now + time;
        self.inspect.get_or_insert_with(Default::default).res_body_wait = Some((deadline, at_least));
        env.cx.wake.push(Kind::Client, env.key);
    }

    /// Takes the `http-response wait-for-body` just started, if any (deadline, `at-least`):
    /// on a Lua service's answer the service feeds it (`super::service`), not the server.
    pub(super) fn take_res_body_wait(&mut self) -> Option<(Instant, u64)> {
        self.inspect.as_mut().and_then(|i| i.res_body_wait.take())
    }

    /// An `http-response wait-for-body` in progress, before the response head is
    /// sent: `Ok(true)` once the body is complete, `at-least` bytes of it came, the
    /// buffer is full or the server closed (the payload is kept for `res.body`);
    /// `Ok(false)` while waiting; `Err` when the stream answered: a 504 when the time
    /// runs out first (what HAProxy answers), a 502 for a malformed body.
    pub(super) fn http_res_body_wait(&mut self, env: &mut Env<'_, '_>) -> Result<bool, ()> {
        let Some((deadline, at_least)) = self.inspect.as_ref().and_then(|i| i.res_body_wait) else { return Ok(true) };
        let h = self.http.as_mut().expect("HTTP mode");
        let framing = h.txn.res.as_ref().map_or(BodyFraming::None, |r| r.framing);
        let Ok((body, complete)) = decode_body(framing, &h.limits, self.res.buf.data()) else {
            self.end_body_waits();
            self.http_reject(env, 502, Termination::new(Cause::ServerAbort, Phase::Data));
            return Err(());
        };
        let enough = at_least > 0 && body.len() as u64 >= at_least;
        if !(complete || enough || self.res.eof || self.res.buf.is_full()) {
            if deadline <= env.cx.now {
                self.end_body_waits();
                self.http_reject(env, 504, Termination::new(Cause::ServerTimeout, Phase::Data));
                return Err(());
            }
            return Ok(false);
        }
        h.txn.res_body = body;
        if let Some(i) = self.inspect.as_mut() {
            i.res_body_wait = None;
        }
        Ok(true)
    }

    /// `http-request early-hint`: sends the `103 Early Hints` message now and runs the
    /// rules again on the next turn of the loop.
    pub(super) fn http_send_early_hint(&mut self, env: &mut Env<'_, '_>, mut msg: Vec<u8>) {
        let (n, end) = self.client.write_vec(&mut msg);
        self.res.total += n as u64;
        if end != WriteEnd::Drained {
            // A hundred bytes on a connection with nothing in flight: only a dead
            // client does not take them.
            return self.close(env, Cause::ClientAbort, Phase::Request);
        }
        env.cx.wake.push(Kind::Client, env.key);
    }
}

/// The payload of the (possibly partial) body `bytes` framed as `framing`, chunk
/// framing removed (what `req.body`/`res.body` return), and whether the body is
/// complete. `Err` for a malformed body.
fn decode_body(framing: BodyFraming, limits: &crate::http::h1::Limits, bytes: &[u8]) -> Result<(Vec<u8>, bool), ()> {
    let mut out = Vec::new();
    if framing == BodyFraming::None {
        return Ok((out, true));
    }
    let mut dec = BodyDecoder::new(framing, limits);
    let mut at = 0;
    loop {
        let d = dec.decode(&bytes[at..]).map_err(|_| ())?;
        out.extend_from_slice(&bytes[at..][d.data.clone()]);
        at += d.consumed;
        if d.done {
            return Ok((out, true));
        }
        if d.consumed == 0 {
            return Ok((out, false));
        }
    }
}

/// The sample context of a TCP-mode stream's log-format expressions: the log record
/// answers for the connection and the names, the TCP rules' variables for `var()`.
pub(super) struct LogCtx<'a> {
    pub rec: &'a crate::log::StreamLog,
    /// The TCP rules' variables, when they ran.
    pub ins: Option<&'a Inspect>,
    /// The connections (`so_id`, `bc_src`, `fc_pp_*`...).
    pub conn: crate::sample::fetch_conn::ClientConn,
}

impl SampleCtx for LogCtx<'_> {
    fn client_conn(&self) -> Option<crate::sample::fetch_conn::ClientConn> {
        Some(self.conn.clone())
    }
    fn last_rule(&self) -> Option<&crate::config::model::Location> {
        self.ins?.last_rule.as_ref()
    }
    fn tls(&self) -> Option<&crate::tls::TlsInfo> {
        self.rec.tls()
    }
    fn server_tls(&self) -> Option<&crate::tls::TlsInfo> {
        self.rec.server_tls()
    }
    fn src(&self) -> Option<SocketAddr> {
        self.rec.src()
    }
    fn dst(&self) -> Option<SocketAddr> {
        self.rec.dst()
    }
    fn frontend_name(&self) -> Option<&str> {
        self.rec.frontend_name()
    }
    fn backend_name(&self) -> Option<&str> {
        self.rec.backend_name()
    }
    fn server_name(&self) -> Option<&str> {
        self.rec.server_name()
    }
    fn var(&self, name: &VarName) -> Option<Sample> {
        match name.scope {
            Scope::Sess => self.ins?.sess_vars.get(name).cloned(),
            Scope::Txn | Scope::Req | Scope::Res => self.ins?.txn_vars.get(name).cloned(),
            Scope::Proc => crate::sample::vars::with_proc_vars(|v| v.get(name).cloned()),
            _ => None,
        }
    }
}
