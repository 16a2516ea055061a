//! The stream side of Lua TCP services: `tcp-request content use-service lua.<name>`.
//!
//! When a `tcp-request content` rule of a TCP-mode frontend answers `use-service
//! lua.<name>` (a service registered with `core.register_service(name, "tcp", fn)`),
//! the stream enters [`State::TcpService`] and the service talks with the client in a
//! coroutine of its own ([`TcpService`]): `fn(applet)` with the `AppletTCP` object of
//! `crate::lua::api::applet_tcp`. There is no server: the stream moves the client's
//! bytes (those the content rules inspected first included) into the applet's input and
//! writes what the service sends. The coroutine is resumed as the HTTP services' are
//! (`super::service`): inside [`host::enter`] with the stream as the host's
//! [`StreamView`] ([`TcpView`]: the TCP rules' variables, fetches and converters on the
//! connection) and inside `socket::running_as(Waiter::Stream(key))`, so `core.tcp()`
//! sockets, `core.sleep` and forced yields work in a service.
//!
//! A service waiting in `receive`/`getline` runs again when client bytes come, the
//! client closes, or its `receive` timeout expires; one waiting in `send` when the client
//! read enough. While it waits on the client, `timeout client` bounds the silence
//! (`cD`). When the function returns, what it sent goes out, then our FIN, and the
//! stream ends when the client closes its side (`--`; after `timeout client`, `cD`),
//! as in HAProxy 2.6. A failure is logged as HAProxy logs it (`Lua applet tcp
//! '<lua.NAME>': [state-id 0] runtime error: ...`) and closes the connection at once,
//! after what the service sent (HAProxy 2.6 logs `--` there too). The log line names the
//! service as the server (`fe fe/<lua.NAME>`, `Tw` and `Tc` 0), as HAProxy's does.
use super::inspect::{Inspect, InspectCtx};
use super::service::{classify, coroutine_over, log_name, report_applet, Ran};
use super::state::State;
use super::termination::{Cause, Phase};
use super::{Env, Stream};
use crate::lua::api::applet_tcp::{self, Want, OUTPUT_MAX};
use crate::lua::api::core::core;
use crate::lua::api::socket::{self, Waiter};
use crate::lua::host::{self, Host, StreamView};
use crate::lua::{Handle, Task, Value, WaitReason};
use crate::reactor::{Key, Kind};
use crate::sample::vars::Scope;
use crate::sample::{Expr, Sample, VarName};
use std::net::SocketAddr;
use std::os::raw::c_int;
use std::time::{Duration, Instant};

/// Resumes in one run of the stream before it yields to the reactor.
const MAX_RESUMES_PER_RUN: usize = 16;

/// Client bytes handed to a service ahead of its reads; beyond, the client waits.
const INPUT_MAX: usize = 64 * 1024;

/// A Lua TCP service talking with the client of one stream.
pub struct TcpService {
    /// The registered name (without `lua.`).
    name: String,
    handle: Handle,
    key: Key,
    /// `None` once the service ended.
    task: Option<Task>,
    /// Values on the coroutine's stack for the next resume.
    nargs: c_int,
    wait: Wait,
    /// What the service sent, not written to the client yet.
    pending: Vec<u8>,
    /// The service failed: the connection closes without waiting for the client.
    failed: bool,
    /// When the service took the connection (`show lua tasks`' age).
    started: Instant,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Wait {
    /// Resume at the next run.
    Run,
    Sleep(Instant),
    /// A socket call: resumed by its completion ([`TcpService::complete`]).
    Io,
    /// Client bytes ([`Want::Input`]).
    Input { need: Option<usize>, deadline: Option<Instant> },
    /// The client to read what was sent.
    Room,
}

impl TcpService {
    /// Its coroutine for `show lua tasks`, while it has one. Waiting for the client's
    /// bytes or for room to send shows as waiting on a socket.
    pub fn waiting(&self, now: Instant) -> Option<super::lua::Waiting> {
        use crate::cli_socket::LuaTaskState;
        let task = self.task.as_ref()?;
        let state = match self.wait {
            Wait::Run => LuaTaskState::Runnable,
            Wait::Sleep(at) => LuaTaskState::Sleeping(at.saturating_duration_since(now)),
            Wait::Io | Wait::Input { .. } | Wait::Room => LuaTaskState::Socket,
        };
        Some(super::lua::Waiting::of("service", &self.name, state, self.started, task))
    }

    /// A socket call of the service completed: its results are what the call returns.
    /// False when the service was not waiting for one.
    pub fn complete(&mut self, results: &[Value]) -> bool {
        let Some(task) = self.task.as_mut().filter(|_| self.wait == Wait::Io) else {
            return false;
        };
        self.nargs = push_all(task, results);
        self.wait = Wait::Run;
        true
    }

    /// Ends the coroutine (the service returned or failed, or the stream closes).
    fn end(&mut self) {
        if self.task.take().is_some() {
            coroutine_over(self.key);
        }
    }
}

impl Drop for TcpService {
    fn drop(&mut self) {
        self.end();
        applet_tcp::forget(self.handle);
        if let Ok(core) = core() {
            core.state.handles().remove(self.handle);
        }
    }
}

/// Pushes `values` on `task`'s stack; how many went.
fn push_all(task: &mut Task, values: &[Value]) -> c_int {
    let mut pushed = 0;
    for v in values {
        if task.push_value(v).is_err() {
            break;
        }
        pushed += 1;
    }
    pushed
}

/// Creates the service's coroutine: the applet wrapper, the function, and a `TXN` of the
/// service's handle (the applet takes its `f`, `sf`, `c`, `sc` and variable methods).
fn start_task(name: &str, handle: Handle) -> Result<Task, String> {
    let core = core().map_err(|e| e.to_string())?;
    let mut task = Task::new(&core.state, core.service_limits).map_err(|e| e.to_string())?;
    applet_tcp::push_wrapper(&core.state, &mut task).map_err(|e| e.to_string())?;
    {
        let reg = core.registered.borrow();
        let def = reg.service(name).filter(|s| !s.http).ok_or("unknown service")?;
        task.push_function(&def.func).map_err(|e| e.to_string())?;
    }
    let txn = crate::lua::api::txn::new_txn(&core.state, handle).map_err(|e| e.to_string())?;
    task.push_function(&txn).map_err(|e| e.to_string())?;
    Ok(task)
}

/// The stream as the applet's methods see it during one resume: the variables of the
/// TCP rules (`sess.*`, `txn.*`), fetches and converters on the connection.
struct TcpView<'a> {
    handle: Handle,
    ins: &'a mut Inspect,
    addrs: (Option<SocketAddr>, Option<SocketAddr>),
    frontend: &'a str,
}

impl TcpView<'_> {
    fn ctx(&self) -> InspectCtx<'_> {
        InspectCtx::new(self.addrs, self.frontend, None, Some(self.ins))
    }
}

impl StreamView for TcpView<'_> {
    fn handle(&self) -> Handle {
        self.handle
    }
    fn var(&self, name: &VarName) -> Option<Sample> {
        crate::sample::SampleCtx::var(&self.ctx(), name)
    }
    fn set_var(&mut self, name: &VarName, value: Sample) {
        match name.scope {
            Scope::Sess => self.ins.sess_vars.set(name, value),
            Scope::Txn | Scope::Req | Scope::Res => self.ins.txn_vars.set(name, value),
            Scope::Proc => crate::sample::vars::with_proc_vars(|p| p.set(name, value)),
            _ => {}
        }
    }
    fn unset_var(&mut self, name: &VarName) {
        match name.scope {
            Scope::Sess => {
                self.ins.sess_vars.unset(name);
            }
            Scope::Txn | Scope::Req | Scope::Res => {
                self.ins.txn_vars.unset(name);
            }
            Scope::Proc => {
                crate::sample::vars::with_proc_vars(|p| p.unset(name));
            }
            _ => {}
        }
    }
    fn txn(&mut self) -> Option<&mut crate::http::txn::Txn> {
        None
    }
    fn eval(&self, expr: &Expr) -> Option<Sample> {
        expr.eval(&self.ctx())
    }
    fn convert(&self, call: &str, input: Sample) -> Result<Option<Sample>, crate::sample::ParseError> {
        crate::sample::apply_converter(call, input, &self.ctx())
    }
    // An applet has no `done` or `reply` (`core.done()` ends the service, see below).
    fn done(&mut self) {}
    fn reply(&mut self, _response: Vec<u8>) {}
}

impl Stream {
    /// `tcp-request content use-service lua.<name>` decided: the service takes the
    /// connection (a name that is no TCP service was refused at start-up; should one
    /// come, the connection closes).
    pub(super) fn tcp_start_service(&mut self, env: &mut Env<'_, '_>, name: &str) {
        let Ok(core) = core() else { return self.close(env, Cause::ProxyAbort, Phase::Request) };
        let handle = core.state.handles().insert();
        let mut svc = Box::new(TcpService { name: name.to_string(), handle, key: env.key, task: None, nargs: 0, wait: Wait::Run, pending: Vec::new(), failed: false, started: env.cx.now });
        // An applet answers at once: no queue, no connect (`Tw`/`Tc` 0 in the log).
        self.t_queue = Some(Duration::ZERO);
        self.t_connect = Some(Duration::ZERO);
        self.inspect.get_or_insert_with(Default::default);
        match start_task(name, handle) {
            Ok(task) => {
                svc.task = Some(task);
                svc.nargs = 2; // fn, txn
            }
            Err(msg) => {
                report_applet("tcp", name, &msg);
                svc.failed = true;
            }
        }
        self.tcp_service = Some(svc);
        self.state_deadline = None;
        self.goto(State::TcpService);
    }

    /// [`State::TcpService`]: moves bytes between the client and the service, resumes
    /// it when what it waits for happened, and closes once it ended and its output left.
    pub(super) fn tcp_service_run(&mut self, env: &mut Env<'_, '_>) {
        let now = env.cx.now;
        for _ in 0..MAX_RESUMES_PER_RUN {
            if let Err(cause) = self.tcp_service_io(env) {
                return self.close(env, cause, Phase::Data);
            }
            let Some(svc) = self.tcp_service.as_mut() else { return };
            if svc.task.is_none() {
                // Ended: what it sent goes out, then our FIN; the stream ends when the
                // client closes too (`--`), or after `timeout client` (`cD`), as in
                // HAProxy 2.6.
                if svc.pending.is_empty() {
                    self.client.shutdown_write();
                    if self.req.eof || svc.failed {
                        return self.close(env, Cause::None, Phase::None);
                    }
                }
                return self.tcp_service_deadline(env);
            }
            let handle = svc.handle;
            let ready = match svc.wait {
                // However it waits, a service whose client lags is not run (a socket
                // completion is kept until then).
                _ if svc.pending.len() >= OUTPUT_MAX => false,
                Wait::Run | Wait::Room => true,
                Wait::Io => false,
                Wait::Sleep(at) => now >= at,
                Wait::Input { need, deadline } => {
                    let (have, eof) = applet_tcp::with_io(handle, |io| (io.input.len(), io.eof));
                    let timed_out = deadline.is_some_and(|d| now >= d);
                    let ready = eof || timed_out || need.is_some_and(|n| have >= n);
                    if ready {
                        if let Some(task) = svc.task.as_mut() {
                            svc.nargs = push_all(task, &[Value::Boolean(timed_out && !eof)]);
                        }
                    }
                    ready
                }
            };
            if !ready {
                return self.tcp_service_deadline(env);
            }
            if self.tcp_service_resume(env) {
                break; // a forced yield: through the run queue
            }
        }
        // Still runnable: the others run first (a flush of the last output included).
        self.tcp_service_deadline(env);
        if self.state == State::TcpService {
            env.cx.wake.push(Kind::Client, env.key);
        }
    }

    /// Reads the client, hands its bytes to the service, writes what the service sent.
    fn tcp_service_io(&mut self, env: &mut Env<'_, '_>) -> Result<(), Cause> {
        let now = env.cx.now;
        let Some(svc) = self.tcp_service.as_mut() else { return Ok(()) };
        loop {
            let f = self.req.fill_from(&mut self.client).map_err(|_| Cause::ClientAbort)?;
            if f.bytes > 0 {
                self.client_last = now;
            }
            // The service's input holds at most [`INPUT_MAX`] bytes, unless a read asks
            // for more (`receive()` until the close, a larger `receive(n)`).
            let limit = match svc.wait {
                Wait::Input { need: None, .. } => usize::MAX,
                Wait::Input { need: Some(n), .. } => n.max(INPUT_MAX),
                _ => INPUT_MAX,
            };
            let ended = svc.task.is_none();
            let moved = applet_tcp::with_io(svc.handle, |io| {
                if ended {
                    // Nobody reads any more: the client's bytes are dropped until it closes.
                    io.input.clear();
                }
                let room = limit.saturating_sub(io.input.len());
                let data = self.req.buf.data();
                let n = data.len().min(room);
                io.input.extend_from_slice(&data[..n]);
                io.eof = self.req.eof && n == data.len();
                n
            });
            self.req.buf.consumed(moved);
            if moved == 0 || !self.client.readable || self.req.eof {
                break;
            }
        }
        svc.pending.append(&mut applet_tcp::with_io(svc.handle, |io| std::mem::take(&mut io.output)));
        if !svc.pending.is_empty() && self.client.writable {
            let (n, end) = self.client.write_vec(&mut svc.pending);
            self.res.total += n as u64;
            if n > 0 {
                self.client_last = now;
            }
            if end == super::conn::WriteEnd::Error {
                return Err(Cause::ClientAbort);
            }
        }
        Ok(())
    }

    /// The service waits: the stream's deadline is the earliest of its wake-up and,
    /// while it waits on the client, `timeout client` (expired: `cD`).
    fn tcp_service_deadline(&mut self, env: &mut Env<'_, '_>) {
        let Some(svc) = self.tcp_service.as_ref() else { return };
        let lagging = svc.pending.len() >= OUTPUT_MAX;
        let on_client = matches!(svc.wait, Wait::Input { .. } | Wait::Room) || svc.task.is_none() || lagging;
        let client = env.proxies[self.frontend].timeouts.client.filter(|_| on_client).map(|t| self.client_last + t);
        if client.is_some_and(|c| c <= env.cx.now) {
            return self.close(env, Cause::ClientTimeout, Phase::Data);
        }
        let own = match svc.wait {
            _ if lagging => None,
            Wait::Sleep(at) => Some(at),
            Wait::Input { deadline, .. } => deadline,
            _ => None,
        };
        self.state_deadline = [client, own].into_iter().flatten().min();
    }

    /// Resumes the service once and records what it waits for next; true after a
    /// forced yield (or `core.yield()`), which lets the other streams run first.
    fn tcp_service_resume(&mut self, env: &mut Env<'_, '_>) -> bool {
        let fe = &env.proxies[self.frontend];
        let ins = self.inspect.get_or_insert_with(Default::default);
        let svc = self.tcp_service.as_mut().expect("a TCP service");
        let Some(task) = svc.task.as_mut() else { return false };
        let nargs = std::mem::replace(&mut svc.nargs, 0);
        svc.wait = Wait::Run;
        applet_tcp::with_io(svc.handle, |io| io.want = None);
        let mut view = TcpView { handle: svc.handle, ins, addrs: (self.src, self.dst), frontend: &fe.name };
        let mut world = super::lua::Proxies(env.proxies, &*env.pool);
        let key = env.key;
        let outcome = {
            let mut host = Host { cx: &mut *env.cx, world: &mut world, stream: Some(&mut view) };
            host::enter(&mut host, || socket::running_as(Waiter::Stream(key), || task.resume(nargs)))
        };
        crate::lua::stats::record(crate::lua::error_ring::Origin::Service, &svc.name, task, &outcome);
        // `core.done()` ends the service as if it returned.
        let done_flag = core().is_ok_and(|c| c.done.replace(false));
        let want = applet_tcp::with_io(svc.handle, |io| io.want.take());
        match classify(outcome, task) {
            Ran::Yield(_) if done_flag => svc.end(),
            Ran::Yield(WaitReason::Sleep(at)) => svc.wait = Wait::Sleep(at),
            Ran::Yield(WaitReason::Io) => svc.wait = Wait::Io,
            Ran::Yield(_) => {
                svc.wait = match want {
                    Some(Want::Input { need, deadline }) => Wait::Input { need, deadline },
                    Some(Want::Room) => Wait::Room,
                    // A forced yield or `core.yield()`: the next run.
                    None => Wait::Run,
                }
            }
            Ran::Done => svc.end(),
            Ran::Failed(msg) => {
                report_applet("tcp", &svc.name, &msg);
                svc.failed = true;
                svc.end();
            }
        }
        if svc.task.is_none() {
            socket::reap(Some(env.cx.registry));
            // What it sent last goes out before the close.
            svc.pending.append(&mut applet_tcp::with_io(svc.handle, |io| std::mem::take(&mut io.output)));
        }
        svc.wait == Wait::Run && svc.task.is_some()
    }

    /// The log names the service as the server of the frontend (`fe/<lua.NAME>`).
    pub(super) fn tcp_service_log_fields(&self, rec: &mut crate::log::StreamLog) {
        if let Some(svc) = self.tcp_service.as_ref() {
            rec.backend = Some(rec.frontend.clone());
            rec.server = Some(log_name(&svc.name).to_string());
        }
    }
}
