//! Lua filters in the HTTP pipeline (`filter lua.<name>`, HAProxy 2.5's filter API):
//! the hook points the stream calls and what they do. The Lua side (declarations, the
//! driver, `HTTPMessage`) is `crate::lua::api::filter` and `crate::lua::api::filter_msg`;
//! the contract is in `doc/http.md`, "Lua filters".
//!
//! A transaction of a proxy with `filter lua.*` lines gets a [`StreamFilters`] when its
//! request head is parsed: each line's configuration object makes an instance
//! (`Class:new()`), the frontend's first, the backend's once it is chosen. Then, as
//! HAProxy 2.6 calls them:
//!
//! ```text
//! request head parsed ─ start_analyze(req) ─ rules ─ http_headers(req) ─ head sent
//!   ─ http_payload(req)... ─ http_end(req)
//! response head ─ start_analyze(res) ─ rules ─ http_headers(res) ─ head sent
//!   ─ http_payload(res)... ─ http_end(res) ─ end_analyze(req) ─ end_analyze(res)
//! ```
//!
//! `http_payload` and `http_end` are called only for a direction whose data filtering
//! the instance asked (`filter.register_data_filter(self, chn)`). A filtered body goes
//! through the filters' *window* ([`BodyWindow`]): its framing decoded, the payload
//! handed to `http_payload`, what the filters forward sent on as chunks (the message's
//! `Content-Length` is replaced by `Transfer-Encoding: chunked`, so a filter may change
//! the length; HAProxy keeps the length and breaks the message when it changes).
//!
//! Return codes: `filter.CONTINUE` (or nothing) goes on; `filter.WAIT` calls the same
//! callback again later (at `filter.wake_time(ms)`, or at the stream's next event);
//! `filter.ERROR`, or a runtime error, fails the message: on the request side the client
//! gets HAProxy's 400, on the response side the connection is closed without a response
//! (HAProxy 2.6's answers). `http_payload` returns how many bytes it forwards (all by
//! default). No callback may yield (`core.sleep`, sockets): as in HAProxy, the call is
//! abandoned with the error `yield functions like core.tcp() or core.sleep() are not
//! allowed from '<callback>' callback.`, and the stream goes on.
use super::http::Stage;
use super::lua::{ActionView, Proxies};
use super::termination::{Cause, Phase, Termination};
use super::{Env, Stream};
use crate::http::h1::BodyDecoder;
use crate::http::rules::RuleEnv;
use crate::http::txn::Txn;
use crate::http::{BodyFraming, Version};
use crate::lua::api::core::{core, runtime_error};
use crate::lua::api::filter::{self as api, ERROR, WAIT};
use crate::lua::api::filter_msg::BodyWindow;
use crate::lua::host::{self, Host, StreamView};
use crate::lua::{Handle, RegistryRef, Resume, Task, Value, WaitReason};
use crate::sample::{Expr, Sample, VarName};
use std::cell::Cell;
use std::time::Instant;

/// Above this many bytes waiting to be sent, a filtered body is not read further.
const OUT_HIGH: usize = 16 * 1024;

thread_local! {
    /// The next instance key (the driver's table is per thread).
    static NEXT_KEY: Cell<i64> = const { Cell::new(1) };
}

/// The id of the `pos`-th `filter lua.*` line of proxy `proxy`, for the driver: the
/// two indexes side by side in one Lua integer, distinct for every pair.
pub fn conf_id(proxy: usize, pos: usize) -> i64 {
    let (proxy, pos) = (u32::try_from(proxy).expect("proxy index"), u32::try_from(pos).expect("filter index"));
    (i64::from(proxy) << 32) | i64::from(pos)
}

/// One filter instance of a transaction.
struct Inst {
    key: i64,
    name: String,
    /// Data filtering asked, per direction (request, response).
    data: [bool; 2],
}

/// The Lua filters of one HTTP transaction.
pub struct StreamFilters {
    list: Vec<Inst>,
    /// The identity of the filters' `TXN` (its own, not the actions').
    handle: Handle,
    txn: RegistryRef,
    task: Option<Task>,
    win: [BodyWindow; 2],
    /// The decoder of a body the filters own (per direction).
    dec: [Option<Box<BodyDecoder>>; 2],
    /// `start_analyze` ran, per direction.
    started: [bool; 2],
    /// `http_headers` ran for every instance, per direction.
    headers_done: [bool; 2],
    /// `http_end` ran for every instance, per direction.
    ended: [bool; 2],
    /// New input (or its end) since the last `http_payload`, per direction.
    fresh: [bool; 2],
    /// The backend's filters were added.
    be_attached: bool,
    /// The instance a waiting step resumes at.
    cursor: usize,
}

impl Drop for StreamFilters {
    fn drop(&mut self) {
        for i in &self.list {
            api::forget(i.key);
        }
        if let Ok(core) = core() {
            core.state.handles().remove(self.handle);
        }
    }
}

/// What one callback gave.
#[derive(Debug, PartialEq, Eq)]
enum Ret {
    /// The instance has no such function.
    Absent,
    /// It returned this integer (or nothing).
    Code(Option<i64>),
    /// It failed (reported).
    Failed,
}

impl StreamFilters {
    fn new(bufsize: usize) -> Result<StreamFilters, String> {
        let core = core().map_err(|e| e.to_string())?;
        crate::lua::api::txn::install_classes(&core.state).map_err(|e| e.to_string())?;
        let handle = core.state.handles().insert();
        let txn = match crate::lua::api::txn::new_txn(&core.state, handle) {
            Ok(t) => t,
            Err(e) => {
                core.state.handles().remove(handle);
                return Err(e.to_string());
            }
        };
        Ok(StreamFilters {
            list: Vec::new(),
            handle,
            txn,
            task: None,
            win: [BodyWindow::new(bufsize), BodyWindow::new(bufsize)],
            dec: [None, None],
            started: [false; 2],
            headers_done: [false; 2],
            ended: [false; 2],
            fresh: [false; 2],
            be_attached: false,
            cursor: 0,
        })
    }

    /// Whether the filters own the body of direction `res`.
    pub fn owns(&self, res: bool) -> bool {
        self.dec[usize::from(res)].is_some()
    }
}

/// A value for the driver: a plain value or a registry reference.
enum Arg<'a> {
    Val(Value),
    Ref(&'a RegistryRef),
}

/// Runs the driver with `args` on `task`, resuming through forced yields (a filter
/// never waits); `Err` holds the report for a failed call.
fn drive(task: &mut Task, args: &[Arg<'_>], cb: &str) -> Result<Vec<Value>, String> {
    let pushed = (|| {
        api::with_driver(|d| task.push_function(d)).ok_or(crate::lua::LuaError::message("the filter driver is not installed"))??;
        for a in args {
            match a {
                Arg::Val(v) => task.push_value(v)?,
                Arg::Ref(r) => task.push_function(r)?,
            }
        }
        Ok::<(), crate::lua::LuaError>(())
    })();
    pushed.map_err(|e| e.to_string())?;
    let mut nargs = args.len() as i32;
    loop {
        let outcome = task.resume(nargs);
        nargs = 0;
        return match outcome {
            Resume::Yield(WaitReason::Forced) => continue,
            Resume::Yield(_) => Err(format!(": yield functions like core.tcp() or core.sleep() are not allowed from '{cb}' callback")),
            Resume::Finished(v) => Ok(v),
            Resume::Error { message, traceback } => Err(format!(" : {}", runtime_error(message, &traceback, true))),
            Resume::Timeout(k) => Err(format!(" : [state-id 0] runtime error: {}", k.message())),
            Resume::NoMem => Err(" : out of memory error".to_string()),
            Resume::Panic(m) => Err(format!(" : [state-id 0] runtime error: {m}")),
        };
    }
}

/// HAProxy's report of a failed filter callback: `Lua filter '<name>'<what>.`
fn report(name: &str, what: &str) {
    crate::lua::error_ring::record(crate::lua::error_ring::Origin::Action, name, what);
    if let Ok(core) = core() {
        core.log.borrow().error(&format!("Lua filter '{name}'{what}."));
    }
}

/// A task for the filters' calls (one per transaction, reset between calls).
fn task_for(f: &mut StreamFilters) -> Result<Task, String> {
    if let Some(t) = f.task.take() {
        return Ok(t);
    }
    let core = core().map_err(|e| e.to_string())?;
    Task::new(&core.state, core.session_limits).map_err(|e| e.to_string())
}

/// Forgets the instances of ended streams (one driver call), then makes the instances
/// of `proxy`'s filter lines.
fn add_instances(f: &mut StreamFilters, proxy: usize, confs: &[crate::config::model::LuaFilterConf]) {
    let Ok(mut task) = task_for(f) else { return };
    let forgotten = api::take_forgotten();
    if !forgotten.is_empty() {
        let mut args = vec![Arg::Val(Value::String(b"forget".to_vec()))];
        args.extend(forgotten.iter().map(|k| Arg::Val(Value::Integer(*k))));
        let _ = drive(&mut task, &args, "new");
        task.reuse();
    }
    for (pos, conf) in confs.iter().enumerate() {
        let key = NEXT_KEY.with(|k| {
            let v = k.get();
            k.set(v + 1);
            v
        });
        let made = api::with_def(&conf.name, |def| {
            let mut args = vec![
                Arg::Val(Value::String(b"new".to_vec())),
                Arg::Val(Value::Integer(conf_id(proxy, pos))),
                Arg::Val(Value::Integer(key)),
                Arg::Ref(&def.class),
                Arg::Ref(&def.parse),
            ];
            args.extend(conf.args.iter().map(|a| Arg::Val(Value::String(a.clone().into_bytes()))));
            drive(&mut task, &args, "new")
        });
        task.reuse();
        match made {
            Some(Ok(v)) if v.first() == Some(&Value::Boolean(true)) => {
                f.list.push(Inst { key, name: conf.name.clone(), data: [false; 2] });
            }
            Some(Err(what)) => report(&conf.name, &what),
            _ => {}
        }
    }
    f.task = Some(task);
}

/// The stream as a filter callback sees it: the action's view (transaction,
/// variables, fetches) and the payload windows.
struct FilterView<'a, 'e> {
    inner: ActionView<'a, 'e>,
    win: &'a mut [BodyWindow; 2],
}

impl StreamView for FilterView<'_, '_> {
    fn handle(&self) -> Handle {
        self.inner.handle()
    }
    fn var(&self, name: &VarName) -> Option<Sample> {
        self.inner.var(name)
    }
    fn set_var(&mut self, name: &VarName, value: Sample) {
        self.inner.set_var(name, value)
    }
    fn unset_var(&mut self, name: &VarName) {
        self.inner.unset_var(name)
    }
    fn txn(&mut self) -> Option<&mut Txn> {
        self.inner.txn()
    }
    fn eval(&self, expr: &Expr) -> Option<Sample> {
        self.inner.eval(expr)
    }
    fn convert(&self, call: &str, input: Sample) -> Result<Option<Sample>, crate::sample::ParseError> {
        self.inner.convert(call, input)
    }
    fn done(&mut self) {}
    fn reply(&mut self, _response: Vec<u8>) {}
    fn filter_window(&mut self, res: bool) -> Option<&mut BodyWindow> {
        Some(&mut self.win[usize::from(res)])
    }
}

/// What [`Stream::flt_decode`] did.
enum Decoded {
    /// The filters do not own this body (or it ended).
    Nothing,
    Progress(bool),
    /// The body is malformed or cut: the stream closes with this cause.
    Failed(Cause),
}

/// What a step of the filters decided.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Step {
    Continue,
    /// Call again later (not before this time, if set).
    Wait(Option<Instant>),
    Error,
}

impl Stream {
    /// The transaction's filters, kept in the stream's Lua context.
    fn flt_ref(&self) -> Option<&StreamFilters> {
        self.lua.as_ref()?.filters.as_deref()
    }

    fn flt_mut(&mut self) -> Option<&mut StreamFilters> {
        self.lua.as_mut()?.filters.as_deref_mut()
    }

    /// Whether the transaction has Lua filters.
    pub(super) fn flt_active(&self) -> bool {
        self.flt_ref().is_some()
    }

    /// Calls `cb` of instance `i` for direction `res`.
    fn flt_call(&mut self, env: &mut Env<'_, '_>, i: usize, cb: &str, res: bool) -> Ret {
        let be = self.backend.unwrap_or(self.frontend);
        let server = self.server.as_ref().map(|s| (s.be(), s.srv()));
        let (Some(f), Some(h)) = (self.lua.as_mut().and_then(|l| l.filters.as_deref_mut()), self.http.as_mut()) else { return Ret::Absent };
        let Ok(mut task) = task_for(f) else { return Ret::Absent };
        let mut renv = RuleEnv {
            src: self.src,
            dst: self.dst,
            frontend: &env.proxies[self.frontend].name,
            backend: self.backend.map(|_| env.proxies[be].name.as_str()),
            server: server.map(|(be, srv)| env.pool.server_name(be, srv)),
            sess_vars: &mut h.sess_vars,
            userlists: &env.proxies[self.frontend].userlists,
            tls: self.client.tls_info().cloned(),
            server_tls: h.txn.server_tls.clone(),
            conn: conn_facts!(self).in_txn(h.done),
        };
        let mut view = FilterView { inner: ActionView::new(f.handle, &mut h.txn, &mut renv), win: &mut f.win };
        let mut world = Proxies(env.proxies, &*env.pool);
        let inst = &f.list[i];
        let args = [
            Arg::Val(Value::String(b"call".to_vec())),
            Arg::Val(Value::Integer(inst.key)),
            Arg::Val(Value::String(cb.as_bytes().to_vec())),
            Arg::Ref(&f.txn),
            Arg::Val(Value::Boolean(res)),
            Arg::Val(Value::Boolean(true)),
        ];
        api::take_data_requests();
        let outcome = {
            let mut host = Host { cx: &mut *env.cx, world: &mut world, stream: Some(&mut view) };
            host::enter(&mut host, || drive(&mut task, &args, cb))
        };
        if let Ok(core) = core() {
            core.done.set(false);
        }
        task.reuse();
        f.task = Some(task);
        for (dir, asked) in api::take_data_requests().into_iter().enumerate() {
            if let Some(on) = asked {
                f.list[i].data[dir] = on;
            }
        }
        match outcome {
            Ok(v) => match v.first() {
                Some(Value::String(b)) if b == api::ABSENT => Ret::Absent,
                Some(Value::Integer(n)) => Ret::Code(Some(*n)),
                Some(Value::Number(n)) if n.fract() == 0.0 => Ret::Code(Some(*n as i64)),
                _ => Ret::Code(None),
            },
            Err(what) => {
                let yielded = what.starts_with(": yield");
                report(&f.list[i].name, &what);
                if yielded {
                    // HAProxy abandons the call and goes on as if it returned nothing.
                    Ret::Code(None)
                } else {
                    Ret::Failed
                }
            }
        }
    }

    /// Runs `cb` on every instance from the cursor (those with data filtering on `res`
    /// only, when `data_only`), stopping at a `WAIT` or an error.
    fn flt_each(&mut self, env: &mut Env<'_, '_>, cb: &str, res: bool, data_only: bool) -> Step {
        let n = self.flt_ref().map_or(0, |f| f.list.len());
        let mut i = self.flt_ref().map_or(0, |f| f.cursor);
        while i < n {
            let wanted = !data_only || self.flt_ref().is_some_and(|f| f.list[i].data[usize::from(res)]);
            if wanted {
                api::take_wake_time();
                let ret = self.flt_call(env, i, cb, res);
                let wake = api::take_wake_time();
                match ret {
                    Ret::Failed | Ret::Code(Some(ERROR)) => {
                        self.flt_mut().expect("filters").cursor = 0;
                        return Step::Error;
                    }
                    Ret::Code(Some(WAIT)) => {
                        self.flt_mut().expect("filters").cursor = i;
                        return Step::Wait(wake);
                    }
                    Ret::Absent | Ret::Code(_) => {}
                }
            }
            i += 1;
        }
        if let Some(f) = self.flt_mut() {
            f.cursor = 0;
        }
        Step::Continue
    }

    /// A request head was parsed: the frontend's filters get their instances and
    /// `start_analyze(req)`. False when the stream answered (an error: 400).
    pub(super) fn flt_txn_start(&mut self, env: &mut Env<'_, '_>) -> bool {
        if self.flt_ref().is_some() || env.proxies[self.frontend].lua_filters.is_empty() {
            return true;
        }
        self.flt_attach(env, self.frontend)
    }

    /// The backend (another proxy than the frontend) was chosen: its filters join.
    pub(super) fn flt_backend(&mut self, env: &mut Env<'_, '_>, be: usize) -> bool {
        if be == self.frontend || env.proxies[be].lua_filters.is_empty() || self.flt_ref().is_some_and(|f| f.be_attached) {
            return true;
        }
        let ok = self.flt_attach(env, be);
        if let Some(f) = self.flt_mut() {
            f.be_attached = true;
        }
        ok
    }

    /// Adds the instances of `proxy`'s filters and runs their `start_analyze(req)`.
    fn flt_attach(&mut self, env: &mut Env<'_, '_>, proxy: usize) -> bool {
        if self.flt_ref().is_none() {
            match StreamFilters::new(self.req.buf.capacity().max(1024)) {
                Ok(f) => self.lua.get_or_insert_with(|| Box::new(super::lua::StreamLua::new(env.key))).filters = Some(Box::new(f)),
                Err(e) => {
                    ::log::warn!("Lua filters unavailable: {e}");
                    return true;
                }
            }
        }
        let f = self.flt_mut().expect("filters");
        let first = f.list.len();
        add_instances(f, proxy, &env.proxies[proxy].lua_filters);
        let n = f.list.len();
        f.started[0] = true;
        for i in first..n {
            let ret = self.flt_call(env, i, "start_analyze", false);
            if matches!(ret, Ret::Failed | Ret::Code(Some(ERROR))) {
                self.http_reject(env, 400, Termination::new(Cause::ProxyAbort, Phase::Request));
                return false;
            }
        }
        true
    }

    /// The response is about to be parsed: `start_analyze(res)`, once. False when the
    /// stream closed.
    pub(super) fn flt_response_start(&mut self, env: &mut Env<'_, '_>) -> bool {
        let Some(f) = self.flt_mut() else { return true };
        if f.started[1] {
            return true;
        }
        f.started[1] = true;
        let n = f.list.len();
        for i in 0..n {
            let ret = self.flt_call(env, i, "start_analyze", true);
            if matches!(ret, Ret::Failed | Ret::Code(Some(ERROR))) {
                self.close(env, Cause::ProxyAbort, Phase::Headers);
                return false;
            }
        }
        true
    }

    /// `http_headers` of direction `res`, before its head is sent; then, for the
    /// directions whose data the filters filter, the body is theirs. False while a
    /// filter waits (the stream is called again at its wake time) or when the stream
    /// answered (request: 400) or closed (response).
    pub(super) fn flt_http_headers(&mut self, env: &mut Env<'_, '_>, res: bool) -> bool {
        let d = usize::from(res);
        let Some(f) = self.flt_ref() else { return true };
        if f.headers_done[d] {
            return true;
        }
        // A message without a body is whole already: `eom()` says so from `http_headers`
        // on, as in HAProxy.
        let h = self.http.as_ref().expect("HTTP mode");
        let bodyless = match res {
            false => h.txn.req.as_ref().is_some_and(|r| r.framing == BodyFraming::None),
            true => h.txn.res.as_ref().is_some_and(|r| r.framing == BodyFraming::None),
        };
        if bodyless {
            if let Some(f) = self.flt_mut() {
                f.win[d].eom = true;
                f.win[d].may_recv = false;
            }
        }
        match self.flt_each(env, "http_headers", res, false) {
            Step::Continue => {}
            Step::Wait(at) => {
                self.state_deadline = at;
                return false;
            }
            Step::Error => {
                self.flt_fail(env, res);
                return false;
            }
        }
        let (Some(f), Some(h)) = (self.lua.as_mut().and_then(|l| l.filters.as_deref_mut()), self.http.as_mut()) else { return true };
        f.headers_done[d] = true;
        if !f.list.iter().any(|i| i.data[d]) {
            return true;
        }
        let comp = res && h.txn.comp.active.is_some();
        let (framing, version) = match res {
            false => h.txn.req.as_ref().map(|r| (r.framing, r.line.version)),
            true => h.txn.res.as_ref().map(|r| (r.framing, h.txn.req.as_ref().map_or(r.line.version, |q| q.line.version))),
        }
        .unwrap_or((BodyFraming::None, Version::Http11));
        if framing == BodyFraming::None || comp || version != Version::Http11 {
            // No body to filter (or one the filters cannot re-frame): `http_payload`
            // sees the end of the message at once.
            f.win[d].eom = true;
            f.win[d].may_recv = false;
            f.fresh[d] = true;
            if self.flt_payload(env, res) == Step::Error || self.flt_each(env, "http_end", res, true) == Step::Error {
                self.flt_fail(env, res);
                return false;
            }
            if let Some(f) = self.flt_mut() {
                f.ended[d] = true;
            }
            return true;
        }
        let headers = match res {
            false => h.txn.req.as_mut().map(|r| &mut r.headers),
            true => h.txn.res.as_mut().map(|r| &mut r.headers),
        };
        if let Some(headers) = headers {
            if !headers.has_token("transfer-encoding", "chunked") {
                headers.del("content-length");
                headers.add("Transfer-Encoding", "chunked");
            }
        }
        f.dec[d] = Some(Box::new(BodyDecoder::new(framing, &h.limits)));
        // Bytes a scan cleared for forwarding (`option http-buffer-request`) are the
        // filters' now: they decode the body from the start of the buffer.
        if res {
            h.res.fwd = 0;
        } else {
            h.req.fwd = 0;
        }
        true
    }

    /// A filter failed on direction `res`: HAProxy's 400 on the request, a close
    /// without a response on the response.
    fn flt_fail(&mut self, env: &mut Env<'_, '_>, res: bool) {
        if res || self.http.as_ref().is_some_and(|h| h.res_started()) {
            self.close(env, Cause::ProxyAbort, if res { Phase::Data } else { Phase::Request });
        } else {
            self.http_reject(env, 400, Termination::new(Cause::ProxyAbort, Phase::Request));
        }
    }

    /// `http_payload` on the window of `res` if it has news, then the forwarded bytes
    /// go out (as chunks when the filters own the body).
    fn flt_payload(&mut self, env: &mut Env<'_, '_>, res: bool) -> Step {
        let d = usize::from(res);
        let Some(f) = self.flt_mut() else { return Step::Continue };
        if !std::mem::take(&mut f.fresh[d]) {
            return Step::Continue;
        }
        let n = f.list.len();
        let mut fwd = usize::MAX;
        for i in 0..n {
            if !self.flt_ref().is_some_and(|f| f.list[i].data[d]) {
                continue;
            }
            match self.flt_call(env, i, "http_payload", res) {
                Ret::Failed => return Step::Error,
                Ret::Code(Some(k)) if k >= 0 => fwd = fwd.min(k as usize),
                _ => {}
            }
        }
        let f = self.flt_mut().expect("filters");
        let w = &mut f.win[d];
        w.forward(fwd);
        let bytes = w.take_forwarded();
        let owned = f.dec[d].is_some();
        let h = self.http.as_mut().expect("HTTP mode");
        let flow = if res { &mut h.res } else { &mut h.req };
        if owned && !bytes.is_empty() {
            use std::io::Write;
            let _ = write!(flow.out, "{:x}\r\n", bytes.len());
            flow.out.extend_from_slice(&bytes);
            flow.out.extend_from_slice(b"\r\n");
        }
        Step::Continue
    }

    /// Moves the filtered bodies on: decodes what arrived into the windows, runs
    /// `http_payload`, sends what the filters forward, and at the end of a message
    /// `http_end` and the last chunk. `Ok(progress)`, `Err(())` when the stream
    /// answered or closed.
    pub(super) fn flt_bodies(&mut self, env: &mut Env<'_, '_>) -> Result<bool, ()> {
        let mut progress = false;
        for res in [false, true] {
            let d = usize::from(res);
            match self.flt_decode(res) {
                Decoded::Nothing => continue,
                Decoded::Progress(p) => progress |= p,
                Decoded::Failed(cause) => {
                    self.close(env, cause, Phase::Data);
                    return Err(());
                }
            }
            if self.flt_payload(env, res) == Step::Error {
                self.flt_fail(env, res);
                return Err(());
            }
            let f = self.flt_mut().expect("filters");
            let w = &f.win[d];
            if !(w.eom && w.input.is_empty()) {
                continue;
            }
            match self.flt_each(env, "http_end", res, true) {
                Step::Continue => {}
                Step::Wait(at) => {
                    self.state_deadline = at;
                    continue;
                }
                Step::Error => {
                    self.flt_fail(env, res);
                    return Err(());
                }
            }
            let f = self.flt_mut().expect("filters");
            f.ended[d] = true;
            let dec = f.dec[d].take().expect("an owned body");
            let h = self.http.as_mut().expect("HTTP mode");
            let flow = if res { &mut h.res } else { &mut h.req };
            // The filters' last bytes went out with `http_payload`: the last chunk.
            flow.out.extend_from_slice(b"0\r\n");
            dec.trailers().write_to(&mut flow.out);
            flow.out.extend_from_slice(b"\r\n");
            flow.stage = Stage::Done;
            progress = true;
        }
        Ok(progress)
    }

    /// Whether the filters own the body of direction `res` (the stream then leaves
    /// its bytes to [`Stream::flt_bodies`]).
    pub(super) fn flt_owns(&self, res: bool) -> bool {
        self.flt_ref().is_some_and(|f| f.owns(res))
    }

    /// Decodes what arrived on direction `res` into its window, while the window and
    /// the output have room.
    fn flt_decode(&mut self, res: bool) -> Decoded {
        let d = usize::from(res);
        let Some(f) = self.lua.as_mut().and_then(|l| l.filters.as_deref_mut()) else { return Decoded::Nothing };
        let Some(dec) = f.dec[d].as_mut() else { return Decoded::Nothing };
        if f.ended[d] {
            return Decoded::Nothing;
        }
        let h = self.http.as_ref().expect("HTTP mode");
        let (chan, pending_out) = if res { (&mut self.res, h.res.out.len()) } else { (&mut self.req, h.req.out.len()) };
        let w = &mut f.win[d];
        let mut progress = false;
        while !w.eom && !w.is_full() && pending_out < OUT_HIGH {
            let r = match dec.decode(chan.buf.data()) {
                Ok(r) => r,
                Err(_) => return Decoded::Failed(Cause::ProxyAbort),
            };
            let data = chan.buf.data();
            w.input.extend_from_slice(&data[r.data.clone()]);
            chan.buf.consumed(r.consumed);
            if r.consumed > 0 {
                f.fresh[d] = true;
                progress = true;
            }
            if r.done {
                w.eom = true;
                w.may_recv = false;
                f.fresh[d] = true;
            }
            if r.done || r.consumed == 0 {
                break;
            }
        }
        if !w.eom && chan.eof && chan.buf.is_empty() {
            if dec.finish().is_err() {
                return Decoded::Failed(if res { Cause::ServerAbort } else { Cause::ClientAbort });
            }
            w.eom = true;
            w.may_recv = false;
            f.fresh[d] = true;
        }
        Decoded::Progress(progress)
    }

    /// The transaction ends: `end_analyze` of both directions, and the instances go.
    pub(super) fn flt_txn_end(&mut self, env: &mut Env<'_, '_>) {
        if self.flt_ref().is_none() {
            return;
        }
        let _ = self.flt_each(env, "end_analyze", false, false);
        let _ = self.flt_each(env, "end_analyze", true, false);
        if let Some(l) = self.lua.as_mut() {
            l.filters = None;
        }
    }
}

/// The `filter lua.<name>` lines naming no registered filter, as HAProxy reports them
/// once the Lua files ran, and those of TCP-mode proxies (not supported yet):
/// `(file, alert text)`.
pub fn resolve(config: &crate::config::model::Config) -> Vec<(String, String)> {
    let mut errors = Vec::new();
    for p in &config.proxies {
        for f in &p.lua_filters {
            let file = f.location.file.to_string();
            if !api::is_registered(&f.name) {
                errors.push((file, format!("parsing [{}] : 'filter' : unknown keyword 'lua.{}'.", f.location, f.name)));
            } else if p.mode == crate::config::model::Mode::Tcp {
                // Refused rather than silently doing nothing (`tcp_payload` is not done).
                let desc = format!("{} '{}'", crate::config::parse::proxy_type_name(p.cap), p.name);
                errors.push((file, format!("parsing [{}] : 'filter lua.{}' : Lua filters on TCP streams are not supported by moonproxy yet (in {desc}).", f.location, f.name)));
            }
        }
    }
    errors
}

/// Configures every `filter lua.*` line (its parse function runs now, as HAProxy runs
/// it while parsing); a failing one is reported and does nothing.
pub fn configure_all(config: &crate::config::model::Config) {
    let Ok(core) = core() else { return };
    if config.proxies.iter().all(|p| p.lua_filters.is_empty()) || crate::lua::api::txn::install_classes(&core.state).is_err() {
        return;
    }
    let Ok(mut task) = Task::new(&core.state, core.session_limits) else { return };
    for (pi, p) in config.proxies.iter().enumerate() {
        for (pos, conf) in p.lua_filters.iter().enumerate() {
            let done = api::with_def(&conf.name, |def| {
                let mut args = vec![
                    Arg::Val(Value::String(b"configure".to_vec())),
                    Arg::Val(Value::Integer(conf_id(pi, pos))),
                    Arg::Ref(&def.class),
                    Arg::Ref(&def.parse),
                ];
                args.extend(conf.args.iter().map(|a| Arg::Val(Value::String(a.clone().into_bytes()))));
                drive(&mut task, &args, "parse")
            });
            if let Some(Err(what)) = done {
                report(&conf.name, &what);
            }
            task.reuse();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configuration_ids_are_distinct_per_proxy_and_line() {
        assert_ne!(conf_id(0, 1), conf_id(1, 0));
        assert_ne!(conf_id(0, 1000), conf_id(1, 0));
        assert_eq!(conf_id(2, 3), (2 << 32) | 3);
    }
}
