//! The stream side of Lua services: `http-request use-service lua.<name>`.
//!
//! When a request rule answers `use-service lua.<name>` (a service registered with
//! `core.register_service(name, "http", fn)`), the stream enters
//! [`State::LuaService`]. There it first waits for the request body (up to the buffer
//! size, bounded by `timeout http-request`, else `timeout client`), then runs the
//! service as a coroutine of its own ([`LuaService`]): `fn(applet)` with the
//! `AppletHTTP` object of `crate::lua::api::applet`. The coroutine is resumed as actions
//! are (`super::lua`): inside [`host::enter`] with the stream as the host's
//! [`StreamView`] (its variables and transaction) and inside
//! `socket::running_as(Waiter::Stream(key))`; a sleep sets the stream's deadline, a
//! socket call waits for its completion ([`LuaService::complete`]), a forced yield
//! goes through the run queue.
//!
//! The service's output is framed as HAProxy 2.6 frames it: the head as the service
//! built it, the body chunked when the head has no `content-length` and the client
//! speaks HTTP/1.1 (an HTTP/1.0 client gets the body until the close). The connection
//! stays open for the next request when the request was read to its end (HAProxy keeps
//! it too, after a 500 as well). A service that fails, or returns, before
//! `start_response` is answered 500, a failure logged as HAProxy logs it (`Lua applet
//! http '<lua.NAME>': [state-id 0] runtime error: ...`); one that fails after it gets
//! what it sent, then the close. The log line names the service as the server
//! (`fe/<lua.NAME>`), with zero times, `LR--`.
//!
//! What the service sends goes out whenever it yields (one chunk per flush when
//! chunked) and when it ends; beyond [`PENDING_MAX`] bytes the client not read yet, the
//! service is not resumed until the client reads.
use super::state::State;
use super::termination::{Cause, Phase, Termination};
use super::{Env, Stream};
use crate::http::rules::RuleEnv;
use crate::lua::api::applet;
use crate::lua::api::core::{core, error_message, from_clause};
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
    /// Decided when the head goes out.
    framing: Option<Framing>,
    /// Response bytes framed, not yet written to the client.
    pending: Vec<u8>,
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
        if self.task.take().is_some() {
            coroutine_over(self.key);
        }
        applet::take_output(self.handle);
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
}

pub(super) fn log_name(name: &str) -> &'static str {
    LOG_NAMES.with(|m| {
        *m.borrow_mut()
            .entry(name.to_string())
            .or_insert_with(|| Box::leak(format!("<lua.{name}>").into_boxed_str()))
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
            framing: None,
            pending: Vec::new(),
        }));
        self.http_set_service(log_name(svc), true);
        let fe = &env.proxies[self.frontend].timeouts;
        let timeout = fe.http_request.or(fe.client);
        self.state_deadline = timeout.map(|t| env.cx.now + t);
        self.goto(State::LuaService);
    }

    /// [`State::LuaService`]: waits for the request body, then runs (or resumes) the
    /// service; once it ended, its response goes out (`LocalReply`).
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
                self.service_frame();
                if self.service_flush(env).is_err() {
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

    /// Creates the service's coroutine: the applet wrapper, the function, the request.
    fn start_service_task(&mut self, body: Vec<u8>) -> Result<(), String> {
        let h = self.http.as_ref().expect("HTTP mode");
        let req = h.txn.req.as_ref().ok_or("no request")?;
        let core = core().map_err(|e| e.to_string())?;
        let svc = self.lua_service.as_mut().expect("a service");
        let mut task = Task::new(&core.state, core.service_limits).map_err(|e| e.to_string())?;
        applet::push_wrapper(&core.state, &mut task).map_err(|e| e.to_string())?;
        {
            let reg = core.registered.borrow();
            let def = reg.service(&svc.name).ok_or("unknown service")?;
            task.push_function(&def.func).map_err(|e| e.to_string())?;
        }
        let target = req.line.target.as_bytes();
        let (path, qs) = match target.iter().position(|&b| b == b'?') {
            Some(i) => (&target[..i], &target[i + 1..]),
            None => (target, &b""[..]),
        };
        let version = req.line.version.as_str();
        let mut args = vec![
            Value::Integer(i64::from(svc.handle.key)),
            Value::Integer(i64::from(svc.handle.generation)),
            Value::String(req.line.method.to_string().into_bytes()),
            Value::String(path.to_vec()),
            Value::String(qs.to_vec()),
            Value::String(version.as_bytes().to_vec()),
            Value::Integer(body.len() as i64),
            Value::Boolean(version != "HTTP/1.0"),
            Value::String(body),
        ];
        for f in req.headers.iter() {
            args.push(Value::String(f.name.to_ascii_lowercase().into_bytes()));
            args.push(Value::String(f.value.clone()));
        }
        for a in &args {
            task.push_value(a).map_err(|e| e.to_string())?;
        }
        svc.nargs = 1 + args.len() as c_int;
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
            Ran::Done => Outcome::Done,
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

    /// Frames what the service produced since the last call into its pending bytes:
    /// the head once (the framing decided then), then body bytes.
    fn service_frame(&mut self) {
        let Some(handle) = self.lua_service.as_ref().map(|s| s.handle) else { return };
        let Some(out) = applet::drain_output(handle) else { return };
        let req = self.http.as_ref().and_then(|h| h.txn.req.as_ref());
        let http10 = req.is_some_and(|r| r.line.version.as_str() == "HTTP/1.0");
        let head_only = req.is_some_and(|r| r.line.method == crate::http::Method::Head);
        let keep_possible = self.http_reply_keeps(false);
        let svc = self.lua_service.as_mut().expect("a service");
        if let Some(head) = out.head {
            let (head, framing) = frame_head(head, out.has_length, http10, head_only, keep_possible);
            svc.framing = Some(framing);
            svc.pending.extend_from_slice(&head);
        }
        if let Some(f) = svc.framing {
            frame_body(&f, &out.body, &mut svc.pending);
        }
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
        self.service_frame();
        let Some(mut svc) = self.lua_service.take() else { return };
        let Some(f) = svc.framing else {
            drop(svc);
            return self.http_reject(env, 500, Termination::new(Cause::Local, Phase::Request));
        };
        if !truncated {
            frame_end(&f, &mut svc.pending);
        }
        let rest = std::mem::take(&mut svc.pending);
        let phase = svc.phase;
        drop(svc);
        self.http_local_reply_rest(env, rest, f.status, f.keep && !truncated, Termination::new(Cause::Local, phase));
    }
}

/// The head of a service's response as it goes out, and the framing it decides: chunked
/// without a `content-length` for an HTTP/1.1 client; an HTTP/1.0 client gets the body
/// until the close; `connection: close` when the connection cannot stay.
fn frame_head(mut head: Vec<u8>, has_length: bool, http10: bool, head_only: bool, keep_possible: bool) -> (Vec<u8>, Framing) {
    if http10 && head.starts_with(b"HTTP/1.1") {
        head[7] = b'0';
    }
    let chunked = !has_length && !http10;
    let keep = keep_possible && (has_length || chunked);
    if chunked {
        head.extend_from_slice(b"transfer-encoding: chunked\r\n");
    }
    head.extend_from_slice(b"\r\n");
    if !keep {
        super::http::add_close_header(&mut head);
    }
    let status = super::http::status_of(&head);
    (head, Framing { chunked, keep, status, head_only })
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
        Resume::Error { message, traceback } => {
            let message = error_message(message);
            Ran::Failed(format!("[state-id 0] runtime error: {message}{}", from_clause(&traceback, true)))
        }
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
    if let Ok(core) = core() {
        core.log.borrow().error(&format!("Lua applet {kind} '<lua.{name}>': {what}."));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn whole(head: &str, has_length: bool, body: &str, http10: bool) -> (String, Framing) {
        let (mut out, f) = frame_head(head.as_bytes().to_vec(), has_length, http10, false, true);
        frame_body(&f, body.as_bytes(), &mut out);
        frame_end(&f, &mut out);
        (String::from_utf8(out).unwrap(), f)
    }

    #[test]
    fn responses_are_framed_as_haproxy_frames_them() {
        let (r, f) = whole("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n", true, "hi", false);
        assert_eq!(r, "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nhi");
        assert!(f.keep && !f.chunked);
        assert_eq!(f.status, Some(200));
        let (r, f) = whole("HTTP/1.1 200 OK\r\n", false, "abcdefg", false);
        assert_eq!(r, "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n7\r\nabcdefg\r\n0\r\n\r\n");
        assert!(f.keep);
        let (r, f) = whole("HTTP/1.1 200 OK\r\n", false, "abcdefg", true);
        assert!(r.starts_with("HTTP/1.0 200 OK\r\n") && r.ends_with("\r\n\r\nabcdefg"), "{r}");
        assert!(!f.keep, "an HTTP/1.0 body without a length ends with the close");
        let (head, f) = frame_head(b"HTTP/1.1 200 OK\r\n".to_vec(), false, false, true, true);
        let mut out = head;
        frame_body(&f, b"ignored", &mut out);
        frame_end(&f, &mut out);
        assert_eq!(out, b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n", "HEAD: no body");
    }
}
