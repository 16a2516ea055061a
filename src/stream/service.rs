//! The stream side of Lua services: `http-request use-service lua.<name>`.
//!
//! When a request rule answers `use-service lua.<name>` (a service registered with
//! `core.register_service(name, "http", fn)`), the stream enters
//! [`State::LuaService`]. There it first waits for the request body (up to the buffer
//! size, bounded by `timeout http-request`, else `timeout client`), then runs the
//! service as a coroutine of its own ([`LuaService`]): `fn(applet)` with the
//! `AppletHTTP` object of `crate::lua::api::applet`. The coroutine is resumed as actions
//! are (`super::lua`): inside [`host::enter`] with the stream as the host's
//! [`StreamView`](crate::lua::host::StreamView) (its variables and transaction) and inside
//! `socket::running_as(Waiter::Stream(key))`; a sleep sets the stream's deadline, a
//! socket call waits for its completion ([`LuaService::complete`]), a forced yield
//! goes through the run queue. A service that returned leaves its coroutine to the next
//! call (a small per-thread pool, `Task::reuse`).
//!
//! The service's answer goes through the response rules as a server's does (HAProxy 2.6
//! does this too): its head (`start_response`) becomes the transaction's response, the
//! backend's and the frontend's `http-response` rules and the `http-after-response`
//! rules run on it (they may wait: a Lua action sleeping, or `wait-for-body`, during
//! which the service runs on and its body is kept for `res.body`), and may answer instead
//! (`deny`, `return`: the service is dropped, the log says `LR`). Then the head is
//! serialized once and the output is framed as HAProxy 2.6 frames it: the body chunked
//! when the head has no `content-length` and the client speaks HTTP/1.1 (an HTTP/1.0
//! client gets the body until the close). The connection
//! stays open for the next request when the request was read to its end (HAProxy keeps
//! it too, after a 500 as well). A service that fails, or returns, before
//! `start_response` is answered 500, a failure logged as HAProxy logs it (`Lua applet
//! http '<lua.NAME>': [state-id 0] runtime error: ...`); one that fails after it gets
//! what it sent, then the close. The log line names the service as the server
//! (`fe/<lua.NAME>`), with zero times, `LR--`.
//!
//! What the service sends goes out whenever it yields (one chunk per flush when
//! chunked) and when it ends; beyond `PENDING_MAX` bytes the client not read yet, the
//! service is not resumed until the client reads.
use super::state::State;
use super::termination::{Cause, Phase, Termination};
use super::{Env, Stream};
use crate::http::rules::{reason_phrase, RuleEnv};
use crate::http::{BodyFraming, Method, Response, StatusLine, Version};
use crate::lua::api::applet::{self, ResponseHead};
use crate::lua::api::core::{core, from_clause, runtime_error};
use crate::lua::api::socket::{self, Waiter};
use crate::lua::host::{self, Host};
use crate::lua::{Handle, Resume, Task, Value, WaitReason};
use crate::reactor::{Key, Kind};
use std::cell::RefCell;
use std::collections::HashMap;
use std::os::raw::c_int;
use std::time::Instant;

/// A Lua service answering one transaction.
pub struct LuaService {
    /// The registered name (without `lua.`).
    name: String,
    handle: Handle,
    key: Key,
    /// Created once the request body is in.
    task: Option<Task>,
    nargs: c_int,
    wait: Wait,
    phase: Phase,
    /// Where the response head is.
    head: Head,
    /// The service ended (`Some(truncated)`: it failed after `start_response`) while the
    /// response rules were still running on its head.
    ended: Option<bool>,
    /// The service's function returned: its coroutine may serve another call.
    returned: bool,
    /// An `http-response wait-for-body` on the service's answer (deadline, `at-least`):
    /// the service runs on while the rules wait for its body.
    body_wait: Option<(Instant, u64)>,
    /// Response bytes framed, not yet written to the client.
    pending: Vec<u8>,
    /// Body bytes taken from the service, before framing (kept to reuse the allocation).
    body: Vec<u8>,
    /// When the service took the stream (`show lua tasks`' age).
    started: Instant,
}

/// The service's response head: not made yet, in the transaction while the response
/// rules run on it, or sent with the framing it decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Head {
    Waiting,
    Rules,
    Sent(Framing),
}

/// How a service's response is framed, decided from its head.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Framing {
    chunked: bool,
    /// The connection stays open after the response.
    keep: bool,
    status: Option<u16>,
    /// A response to HEAD: no body bytes.
    head_only: bool,
}

/// Output beyond this waits for the client to read before the service runs again.
const PENDING_MAX: usize = 64 * 1024;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Wait {
    Run,
    Sleep(Instant),
    Io,
}

impl LuaService {
    /// Its coroutine for `show lua tasks`, while it has one.
    pub fn waiting(&self, now: Instant) -> Option<super::lua::Waiting> {
        use crate::cli_socket::LuaTaskState;
        let task = self.task.as_ref()?;
        let state = match self.wait {
            Wait::Run => LuaTaskState::Runnable,
            Wait::Sleep(at) => LuaTaskState::Sleeping(at.saturating_duration_since(now)),
            Wait::Io => LuaTaskState::Socket,
        };
        Some(super::lua::Waiting::of("service", &self.name, state, self.started, task))
    }

    /// A socket call of the service completed: its results are what the call returns.
    /// False when the service was not waiting for one.
    pub fn complete(&mut self, results: &[Value]) -> bool {
        let Some(task) = self.task.as_mut().filter(|_| self.wait == Wait::Io) else {
            return false;
        };
        let mut pushed = 0;
        for v in results {
            if task.push_value(v).is_err() {
                break;
            }
            pushed += 1;
        }
        self.nargs = pushed;
        self.wait = Wait::Run;
        true
    }
}

impl Drop for LuaService {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            if socket::coroutine_ended(Waiter::Stream(self.key)) {
                // Closed and unanchored first, so that the collection frees its sockets.
                drop(task);
                if let Ok(core) = core() {
                    core.state.collect_garbage();
                }
            } else if self.returned {
                spare_task(task);
            }
        }
        applet::close(self.handle);
        if let Ok(core) = core() {
            core.state.handles().remove(self.handle);
        }
    }
}

/// A service's coroutine (HTTP or TCP) of the stream `key` was dropped: the sockets it
/// waited on forget it, and when it used some, a full collection closes those it left
/// open (as HAProxy does at the end of an applet).
pub(super) fn coroutine_over(key: Key) {
    if socket::coroutine_ended(Waiter::Stream(key)) {
        if let Ok(core) = core() {
            core.state.collect_garbage();
        }
    }
}

thread_local! {
    /// `<lua.NAME>` for the log, one per service name (bounded by the configuration).
    static LOG_NAMES: RefCell<HashMap<String, &'static str>> = RefCell::new(HashMap::new());
    /// Coroutines of services that returned, each with the main thread of its state, for
    /// the next calls: a call then costs no new Lua thread nor registry anchor.
    static SPARE_TASKS: RefCell<Vec<(usize, Task)>> = const { RefCell::new(Vec::new()) };
}

/// At most this many spare coroutines are kept (a closed Lua thread is about 1 KiB).
const SPARE_MAX: usize = 64;

fn spare_task(task: Task) {
    if let Ok(core) = core() {
        let state = core.state.raw() as usize;
        SPARE_TASKS.with(|s| {
            let mut s = s.borrow_mut();
            if s.len() < SPARE_MAX {
                s.push((state, task));
            }
        });
    }
}

/// A coroutine for a service call: a spare one of `state` made ready again, else a new
/// one. (A spare task keeps its state alive, so a state's address names it.)
fn service_task(state: &crate::lua::State, limits: crate::lua::Limits) -> Result<Task, crate::lua::LuaError> {
    let id = state.raw() as usize;
    while let Some((owner, mut task)) = SPARE_TASKS.with(|s| s.borrow_mut().pop()) {
        if owner == id && task.is_done() && task.reuse() {
            task.set_limits(limits);
            return Ok(task);
        }
    }
    Task::new(state, limits)
}

pub(super) fn log_name(name: &str) -> &'static str {
    LOG_NAMES.with(|m| {
        if let Some(n) = m.borrow().get(name) {
            return *n; // no allocation per request
        }
        let n: &'static str = Box::leak(format!("<lua.{name}>").into_boxed_str());
        m.borrow_mut().insert(name.to_string(), n);
        n
    })
}

/// How a resume ended.
enum Outcome {
    Wait,
    Done,
    Failed(String),
}

impl Stream {
    /// `use-service <name>`: a Lua HTTP service registered under `lua.<name>` takes the
    /// transaction; anything else (checked at start-up, so not expected) is a 503.
    pub(super) fn http_start_service(&mut self, env: &mut Env<'_, '_>, name: &str, phase: Phase) {
        let registered = name.strip_prefix("lua.").filter(|n| {
            core().is_ok_and(|c| c.registered.borrow().service(n).is_some_and(|s| s.http))
        });
        let handle = core().ok().map(|c| c.state.handles().insert());
        let (Some(svc), Some(handle)) = (registered, handle) else {
            return self.http_reject(env, 503, Termination::new(Cause::ProxyAbort, phase));
        };
        self.lua_service = Some(Box::new(LuaService {
            name: svc.to_string(),
            handle,
            key: env.key,
            task: None,
            nargs: 0,
            wait: Wait::Run,
            phase,
            head: Head::Waiting,
            ended: None,
            returned: false,
            body_wait: None,
            pending: Vec::new(),
            body: Vec::new(),
            started: env.cx.now,
        }));
        self.http_set_service(log_name(svc), true);
        let fe = &env.proxies[self.frontend].timeouts;
        let timeout = fe.http_request.or(fe.client);
        self.state_deadline = timeout.map(|t| env.cx.now + t);
        self.goto(State::LuaService);
    }

    /// [`State::LuaService`]: waits for the request body, then runs (or resumes) the
    /// service; its head goes through the response rules, then out with what it sent;
    /// once it ended, the rest of its response goes out (`LocalReply`).
    pub(super) fn lua_service_run(&mut self, env: &mut Env<'_, '_>) {
        let phase = self.lua_service.as_ref().map_or(Phase::Request, |s| s.phase);
        if self.lua_service.as_ref().is_some_and(|s| s.task.is_none()) {
            if let Err(cause) = self.read_client_early(env) {
                return self.close(env, cause, phase);
            }
            let Some((_, complete)) = self.http_service_body(false) else {
                // The client closed before the end of its body: the service never ran
                // (HAProxy logs `LR--`, status and response time -1).
                let name = log_name(&self.lua_service.take().map(|s| s.name.clone()).unwrap_or_default());
                self.http_set_service(name, false);
                return self.close(env, Cause::Local, phase);
            };
            if !complete {
                if !self.http_send_continue(env) {
                    return;
                }
                if self.state_deadline.is_some_and(|d| d <= env.cx.now) {
                    self.lua_service = None;
                    self.http_reject(env, 408, Termination::new(Cause::ClientTimeout, phase));
                }
                return;
            }
            self.state_deadline = None;
            let (body, _) = self.http_service_body(true).unwrap_or_default();
            if let Err(msg) = self.start_service_task(body) {
                let name = self.lua_service.as_ref().map(|s| s.name.clone()).unwrap_or_default();
                report(&name, &msg);
                return self.service_failed(env);
            }
        }
        // A client that resets (or closes, under `option abortonclose`) ends the service.
        if self.read_client_early(env).is_err() || self.service_flush(env).is_err() {
            return self.close(env, Cause::ClientAbort, Phase::Data);
        }
        let Some(svc) = self.lua_service.as_ref() else { return };
        if svc.head == Head::Rules {
            // The response rules (a Lua action among them) waited: they go on first, and
            // the service's end, if it came meanwhile, is acted on once they are done.
            // Only a wait for the body lets the service run meanwhile.
            let ended = svc.ended;
            if !self.service_output(env) {
                return;
            }
            let svc = self.lua_service.as_ref().expect("a service");
            if svc.head == Head::Rules && (svc.body_wait.is_none() || ended.is_some()) {
                return;
            }
            if svc.head != Head::Rules {
                if let Some(truncated) = ended {
                    return self.service_answer(env, truncated);
                }
                if self.service_flush(env).is_err() {
                    return self.close(env, Cause::ClientAbort, Phase::Data);
                }
            }
        }
        let Some(svc) = self.lua_service.as_mut() else { return };
        if svc.pending.len() > PENDING_MAX {
            return; // the client reads first
        }
        match svc.wait {
            Wait::Sleep(at) if env.cx.now < at => {
                self.state_deadline = Some(at);
                return;
            }
            Wait::Io => return,
            _ => {}
        }
        match self.resume_service(env) {
            Outcome::Wait => {
                // What the service sent so far goes out while it waits.
                if self.service_output(env) && self.service_flush(env).is_err() {
                    self.close(env, Cause::ClientAbort, Phase::Data);
                }
            }
            // A service that returns without `start_response` is a 500 (HAProxy 2.6).
            Outcome::Done if !self.lua_service.as_ref().is_some_and(|s| applet::peek_started(s.handle)) => self.service_failed(env),
            Outcome::Done => self.service_answer(env, false),
            Outcome::Failed(msg) => {
                let name = self.lua_service.as_ref().map(|s| s.name.clone()).unwrap_or_default();
                report(&name, &msg);
                self.service_failed(env);
            }
        }
    }

    /// Creates the service's coroutine: `wrapper(fn, key, generation)`, the applet's
    /// context holding the request body (the applet reads the rest of the request from
    /// the transaction when it is made).
    fn start_service_task(&mut self, body: Vec<u8>) -> Result<(), String> {
        let core = core().map_err(|e| e.to_string())?;
        let svc = self.lua_service.as_mut().expect("a service");
        let mut task = service_task(&core.state, core.service_limits).map_err(|e| e.to_string())?;
        applet::push_wrapper(&core.state, &mut task).map_err(|e| e.to_string())?;
        {
            let reg = core.registered.borrow();
            let def = reg.service(&svc.name).ok_or("unknown service")?;
            task.push_function(&def.func).map_err(|e| e.to_string())?;
        }
        for v in [i64::from(svc.handle.key), i64::from(svc.handle.generation)] {
            task.push_value(&Value::Integer(v)).map_err(|e| e.to_string())?;
        }
        applet::open(svc.handle, body);
        svc.nargs = 3;
        svc.task = Some(task);
        Ok(())
    }

    /// Resumes the service once.
    fn resume_service(&mut self, env: &mut Env<'_, '_>) -> Outcome {
        let be_name = self.backend.map(|b| env.proxies[b].name.as_str());
        let h = self.http.as_mut().expect("HTTP mode");
        let mut renv = RuleEnv {
            src: self.src,
            dst: self.dst,
            frontend: &env.proxies[self.frontend].name,
            backend: be_name,
            server: None,
            sess_vars: &mut h.sess_vars,
            userlists: &env.proxies[self.frontend].userlists,
            tls: self.client.tls_info().cloned(),
            server_tls: None,
            conn: conn_facts!(self).in_txn(h.done),
        };
        let svc = self.lua_service.as_mut().expect("a service");
        let Some(task) = svc.task.as_mut() else { return Outcome::Failed("no coroutine".into()) };
        let nargs = std::mem::replace(&mut svc.nargs, 0);
        svc.wait = Wait::Run;
        let mut view = super::lua::ActionView::new(svc.handle, &mut h.txn, &mut renv);
        let mut world = super::lua::Proxies(env.proxies, &*env.pool);
        let key = env.key;
        let outcome = {
            let mut host = Host { cx: &mut *env.cx, world: &mut world, stream: Some(&mut view) };
            host::enter(&mut host, || socket::running_as(Waiter::Stream(key), || task.resume(nargs)))
        };
        crate::lua::stats::record(crate::lua::error_ring::Origin::Service, &svc.name, task, &outcome);
        // `core.done()` ends the service as if it returned.
        let done_flag = core().is_ok_and(|c| c.done.replace(false));
        match classify(outcome, task) {
            Ran::Yield(_) if done_flag => Outcome::Done,
            Ran::Yield(WaitReason::Sleep(at)) => {
                svc.wait = Wait::Sleep(at);
                self.state_deadline = Some(at);
                Outcome::Wait
            }
            Ran::Yield(WaitReason::Io) => {
                svc.wait = Wait::Io;
                Outcome::Wait
            }
            Ran::Yield(_) => {
                env.cx.wake.push(Kind::Client, key);
                Outcome::Wait
            }
            Ran::Done => {
                svc.returned = true;
                Outcome::Done
            }
            Ran::Failed(msg) => Outcome::Failed(msg),
        }
    }

    /// The service failed: a 500 if it had not started its response, else what it sent
    /// and the close.
    fn service_failed(&mut self, env: &mut Env<'_, '_>) {
        let started = self.lua_service.as_ref().is_some_and(|s| applet::peek_started(s.handle));
        if started {
            return self.service_answer(env, true);
        }
        let phase = self.lua_service.as_ref().map_or(Phase::Request, |s| s.phase);
        self.lua_service = None;
        self.http_reject(env, 500, Termination::new(Cause::Local, phase));
    }

    /// Moves what the service produced since the last call towards the client, as a
    /// server's response goes: its head (once `start_response` made it) becomes the
    /// transaction's response and goes through the `http-response` and
    /// `http-after-response` rules (HAProxy 2.6 runs them on a service's answer too),
    /// then out with the framing it decides; then the body bytes, framed.
    ///
    /// False when the rules answered instead (`deny`, `return`...: the service is
    /// dropped) or closed the stream; true otherwise, also while they wait.
    fn service_output(&mut self, env: &mut Env<'_, '_>) -> bool {
        let Some(svc) = self.lua_service.as_mut() else { return false };
        if svc.head == Head::Waiting {
            let Some(head) = applet::take_head(svc.handle) else { return true };
            svc.head = Head::Rules;
            let h = self.http.as_mut().expect("HTTP mode");
            let http10 = h.txn.req.as_ref().is_some_and(|r| r.line.version == Version::Http10);
            h.txn.res = Some(service_response(head, http10));
            self.http_start_response_rules();
        }
        if self.lua_service.as_ref().is_some_and(|s| s.head == Head::Rules) {
            if !self.service_body_waited(env) {
                return true;
            }
            if !self.http_response_rules(env) {
                if self.state != State::LuaService {
                    // The rules answered (or closed): the service's answer is dropped.
                    self.lua_service = None;
                    return false;
                }
                // They wait: for a Lua action, or for the service's body.
                if let Some(wait) = self.take_res_body_wait() {
                    self.lua_service.as_mut().expect("a service").body_wait = Some(wait);
                    env.cx.wake.push(Kind::Client, env.key);
                }
                return true;
            }
            self.service_emit_head();
        }
        let Some(svc) = self.lua_service.as_mut() else { return false };
        if let Head::Sent(f) = svc.head {
            applet::take_body(svc.handle, &mut svc.body);
            frame_body(&f, &svc.body, &mut svc.pending);
            svc.body.clear();
        }
        true
    }

    /// `http-response wait-for-body` on the service's answer: true once the body is
    /// there for `res.body` (the service ended, `at-least` bytes came, the buffer size
    /// was reached, or the time ran out: the rules then see what came), false while the
    /// service runs on. The body bytes wait in the service's unframed buffer.
    fn service_body_waited(&mut self, env: &mut Env<'_, '_>) -> bool {
        let bufsize = self.http.as_ref().map_or(usize::MAX, |h| h.limits.max_head);
        let Some(svc) = self.lua_service.as_mut() else { return true };
        let Some((deadline, at_least)) = svc.body_wait else { return true };
        applet::take_body(svc.handle, &mut svc.body);
        let enough = at_least > 0 && svc.body.len() as u64 >= at_least;
        if !(svc.ended.is_some() || enough || svc.body.len() >= bufsize || deadline <= env.cx.now) {
            self.state_deadline = Some(deadline);
            return false;
        }
        svc.body_wait = None;
        let body = svc.body.clone();
        self.http.as_mut().expect("HTTP mode").txn.res_body = body;
        true
    }

    /// The response rules are done: the transaction's response (the service's head as
    /// they left it) is serialized once into the pending bytes, and decides the framing.
    fn service_emit_head(&mut self) {
        let keep_possible = self.http_reply_keeps(false);
        let h = self.http.as_mut().expect("HTTP mode");
        let txn = &mut *h.txn;
        let head_only = txn.req.as_ref().is_some_and(|r| r.line.method == Method::Head);
        let Some(res) = txn.res.as_mut() else { return };
        let framing = service_framing(res, head_only, keep_possible);
        txn.status = Some(res.line.status);
        let svc = self.lua_service.as_mut().expect("a service");
        res.write_head(&mut svc.pending);
        svc.head = Head::Sent(framing);
    }

    /// Writes the pending response bytes the client takes now.
    fn service_flush(&mut self, env: &mut Env<'_, '_>) -> Result<(), ()> {
        let Some(svc) = self.lua_service.as_mut() else { return Ok(()) };
        if svc.pending.is_empty() || !self.client.writable {
            return Ok(());
        }
        let (n, end) = self.client.write_vec(&mut svc.pending);
        self.res.total += n as u64;
        if n > 0 {
            self.client_last = env.cx.now;
        }
        if end == super::conn::WriteEnd::Error {
            return Err(());
        }
        Ok(())
    }

    /// The service ended (`truncated`: it failed after `start_response`): the rest of
    /// its response goes out (`LocalReply`), the connection kept if its framing allows.
    fn service_answer(&mut self, env: &mut Env<'_, '_>, truncated: bool) {
        if let Some(svc) = self.lua_service.as_mut() {
            svc.ended = Some(truncated); // a wait for the body is over
        }
        if !self.service_output(env) {
            return;
        }
        let Some(svc) = self.lua_service.as_mut() else { return };
        let f = match svc.head {
            Head::Sent(f) => f,
            Head::Rules => {
                svc.ended = Some(truncated); // the rules wait: the end is acted on after them
                return;
            }
            Head::Waiting => {
                self.lua_service = None;
                return self.http_reject(env, 500, Termination::new(Cause::Local, Phase::Request));
            }
        };
        if !truncated {
            frame_end(&f, &mut svc.pending);
        }
        let rest = std::mem::take(&mut svc.pending);
        let phase = svc.phase;
        self.lua_service = None;
        self.http_local_reply_rest(env, rest, f.status, f.keep && !truncated, Termination::new(Cause::Local, phase));
    }

    /// How the stream ends when a response rule answers instead of the service's
    /// response (`deny`, `return`): as the service itself would, `LR` (HAProxy 2.6 logs
    /// the applet's termination there); `None` when no service answers.
    pub(super) fn service_rule_term(&self) -> Option<Termination> {
        self.lua_service.as_ref().map(|s| Termination::new(Cause::Local, s.phase))
    }
}

/// The transaction's response for a service's head: the client's HTTP version, the
/// status and reason, the headers, and `transfer-encoding: chunked` without a
/// `content-length` for an HTTP/1.1 client (added before the rules run, as HAProxy
/// does; an HTTP/1.0 client gets the body until the close).
fn service_response(head: ResponseHead, http10: bool) -> Response {
    let mut headers = head.headers;
    let has_length = headers.contains("content-length");
    let framing = if has_length {
        let n = headers.get("content-length").and_then(|v| std::str::from_utf8(v).ok()?.trim().parse().ok());
        BodyFraming::ContentLength(n.unwrap_or(0))
    } else if http10 {
        BodyFraming::UntilClose
    } else {
        headers.add("transfer-encoding", "chunked");
        BodyFraming::Chunked
    };
    let reason = head.reason.unwrap_or_else(|| reason_phrase(head.status).as_bytes().to_vec());
    let version = if http10 { Version::Http10 } else { Version::Http11 };
    Response { line: StatusLine { version, status: head.status, reason }, headers, framing }
}

/// The framing of a service's response as the rules left it: chunked when it says so,
/// the connection kept when the body has an end the client sees and the request allows
/// it (`keep_possible`), else `connection: close` is added (`keep-alive` when kept for
/// an HTTP/1.0 client).
fn service_framing(res: &mut Response, head_only: bool, keep_possible: bool) -> Framing {
    let has_length = res.headers.contains("content-length");
    let chunked = !has_length && res.headers.has_token("transfer-encoding", "chunked");
    let keep = keep_possible && (has_length || chunked);
    if !keep && !res.headers.has_token("connection", "close") {
        res.headers.add("connection", "close");
    } else if keep && res.line.version == Version::Http10 && !res.headers.has_token("connection", "keep-alive") {
        // An HTTP/1.0 client assumes the close unless told (HAProxy says it too).
        res.headers.add("connection", "keep-alive");
    }
    Framing { chunked, keep, status: Some(res.line.status), head_only }
}

/// Body bytes as they go out: one chunk per flush when chunked.
fn frame_body(f: &Framing, body: &[u8], out: &mut Vec<u8>) {
    if f.head_only || body.is_empty() {
        return;
    }
    if f.chunked {
        out.extend_from_slice(format!("{:x}\r\n", body.len()).as_bytes());
        out.extend_from_slice(body);
        out.extend_from_slice(b"\r\n");
    } else {
        out.extend_from_slice(body);
    }
}

/// The end of a chunked body.
fn frame_end(f: &Framing, out: &mut Vec<u8>) {
    if f.chunked && !f.head_only {
        out.extend_from_slice(b"0\r\n\r\n");
    }
}


/// How one resume of a service's coroutine (HTTP or TCP) ended.
pub(super) enum Ran {
    Yield(WaitReason),
    Done,
    /// The failure as HAProxy reports it after `Lua applet <kind> '<lua.NAME>': `.
    Failed(String),
}

/// Reads a resume of the service coroutine `task`.
pub(super) fn classify(outcome: Resume, task: &Task) -> Ran {
    match outcome {
        Resume::Yield(w) => Ran::Yield(w),
        Resume::Finished(_) => Ran::Done,
        Resume::Error { message, traceback } => Ran::Failed(runtime_error(message, &traceback, true)),
        Resume::Timeout(k) => {
            let from = task.timeout_traceback().map(|tb| from_clause(tb, true)).unwrap_or_default();
            Ran::Failed(format!("[state-id 0] runtime error: {}{from}", k.message()))
        }
        Resume::NoMem => Ran::Failed("out of memory error".into()),
        Resume::Panic(m) => Ran::Failed(format!("[state-id 0] runtime error: {m}")),
    }
}

/// HAProxy's report of a failed service: `Lua applet http '<lua.NAME>': <what>.`
fn report(name: &str, what: &str) {
    report_applet("http", name, what);
}

/// HAProxy's report of a failed service of `kind` (`http`, `tcp`):
/// `Lua applet <kind> '<lua.NAME>': <what>.`
pub(super) fn report_applet(kind: &str, name: &str, what: &str) {
    crate::lua::error_ring::record(crate::lua::error_ring::Origin::Service, name, what);
    if let Ok(core) = core() {
        core.log.borrow().error(&format!("Lua applet {kind} '<lua.{name}>': {what}."));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::Headers;

    fn head(status: u16, headers: &[(&str, &str)]) -> ResponseHead {
        let mut h = Headers::new();
        for (n, v) in headers {
            h.add(*n, *v);
        }
        ResponseHead { status, reason: None, headers: h }
    }

    /// The head as it goes out, the framing, and the whole response with `body`.
    fn whole(head: ResponseHead, body: &str, http10: bool, head_only: bool) -> (String, Framing) {
        let mut res = service_response(head, http10);
        let f = service_framing(&mut res, head_only, true);
        let mut out = Vec::new();
        res.write_head(&mut out);
        frame_body(&f, body.as_bytes(), &mut out);
        frame_end(&f, &mut out);
        (String::from_utf8(out).unwrap(), f)
    }

    #[test]
    fn responses_are_framed_as_haproxy_frames_them() {
        let (r, f) = whole(head(200, &[("content-length", "2")]), "hi", false, false);
        assert_eq!(r, "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nhi");
        assert!(f.keep && !f.chunked);
        assert_eq!(f.status, Some(200));
        let (r, f) = whole(head(200, &[]), "abcdefg", false, false);
        assert_eq!(r, "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n7\r\nabcdefg\r\n0\r\n\r\n");
        assert!(f.keep);
        let (r, f) = whole(head(200, &[]), "abcdefg", true, false);
        assert_eq!(r, "HTTP/1.0 200 OK\r\nconnection: close\r\n\r\nabcdefg");
        assert!(!f.keep, "an HTTP/1.0 body without a length ends with the close");
        let (r, _) = whole(head(200, &[]), "ignored", false, true);
        assert_eq!(r, "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n", "HEAD: no body");
        let mut custom = head(201, &[]);
        custom.reason = Some(b"Made".to_vec());
        assert!(whole(custom, "", false, false).0.starts_with("HTTP/1.1 201 Made\r\n"));
    }

    #[test]
    fn the_framing_follows_the_headers_the_rules_left() {
        // A rule removed the length: the body cannot end without the close.
        let mut res = service_response(head(200, &[("content-length", "2")]), false);
        res.headers.del("content-length");
        let f = service_framing(&mut res, false, true);
        assert!(!f.keep && !f.chunked);
        assert!(res.headers.has_token("connection", "close"));
        // A request that does not allow keep-alive: `connection: close`, once.
        let mut res = service_response(head(200, &[("content-length", "2"), ("connection", "close")]), false);
        let f = service_framing(&mut res, false, false);
        assert!(!f.keep);
        assert_eq!(res.headers.count("connection"), 1);
        // Kept for an HTTP/1.0 client that asked: it is told.
        let mut res = service_response(head(200, &[("content-length", "2")]), true);
        assert!(service_framing(&mut res, false, true).keep);
        assert_eq!(res.headers.get("connection"), Some(&b"keep-alive"[..]));
    }
}
