//! The Lua engine on the reactor: `lua-load` at start-up ([`boot`]) and the
//! `core.register_task` tasks ([`LuaRt`]), resumed from the run queue and the timers.
//!
//! Tasks use [`Kind::Reserved`] keys (a slot and a generation of [`LuaRt`]'s table) in the
//! timer heap and the run queue. Their sockets (`core.tcp()`, `core.httpclient()`) have
//! their own tokens and timers ([`Kind::LuaSocket`], `lua::api::socket`): the world hands
//! those events here ([`LuaRt::socket_ready`], [`LuaRt::socket_timer`]), and the task
//! whose call they complete is resumed with the call's results.
//!
//! What a resume returns decides what comes next ([`Resume`]):
//! - `Yield(Sleep(deadline))` (`core.sleep`/`msleep`): a reactor timer at the deadline;
//! - `Yield(Io)` (a socket call): nothing until the socket completes the call;
//! - `Yield(Forced)` (preempted), `Yield(Other)` (`core.yield`): the run queue, which the
//!   reactor serves after the I/O events and timers of the iteration, so a task that spins
//!   never starves connections;
//! - `Finished`, or `core.done()`: the task ends;
//! - `Error`, `Timeout`, `NoMem`, `Panic`: reported as HAProxy does
//!   (`Lua task: [state-id 0] runtime error: <msg> from <traceback>.`) to stderr and the global
//!   log targets; the task ends and the process goes on.
use crate::config::model::Config;
use crate::lua::api::core::{from_clause, runtime_error, ActionKind, Engine, EngineOptions, Registered};
use crate::lua::api::socket::{self, Completion, Waiter};
use crate::lua::host::{self, Host, WorldView};
use crate::lua::{Preempt, Resume, Task, WaitReason};
use crate::reactor::{Ctx, GenSlab, Key, Kind, Ready, TimerTarget};
use std::os::raw::c_int;
use std::time::{Duration, Instant};

/// While streams have had I/O within [`TRAFFIC_WINDOW`], a task runs in slices of at most
/// [`INTERACTIVE_SLICE`]: each step of a request through the proxy (accept, read, connect,
/// forward the answer) may wait behind one slice of a spinning task, so short slices keep a
/// round trip to a few hundred microseconds. With no traffic the configured slice applies
/// and the task runs at full speed: each resume costs a few microseconds (two timer calls, a
/// signal, a poll), about 5% at 100 µs slices, so short slices last only as long as a
/// request is in flight.
pub const INTERACTIVE_SLICE: Duration = Duration::from_micros(100);
/// How long after the last socket event the reactor counts as serving traffic: a proxied
/// round trip on loopback takes well under this, so the window covers its next steps.
pub const TRAFFIC_WINDOW: Duration = Duration::from_millis(5);

/// Creates the Lua engine and runs the `lua-load` bodies, if the configuration has any.
/// A failure is printed as HAProxy prints a configuration error (the location of the
/// `lua-load` line, then the file and fatal trailers) and gives `Err(BootFailed)`.
pub fn boot(config: &Config, opts: EngineOptions) -> Result<Option<Engine>, BootFailed> {
    let settings = &config.global.lua;
    if settings.directives.is_empty() {
        crate::sample::lua::publish(Vec::new(), Vec::new());
        recheck_lua_samples(config)?;
        return check_actions(config, &Registered::default()).map(|()| None);
    }
    // What core.proxies and friends stand for, and the start for core.get_info.
    crate::lua::api::world::set_topology(crate::lua::api::world::Topology::from_config(config));
    crate::lua::api::world::mark_start();
    let engine = match Engine::new(settings, opts) {
        Ok(e) => e,
        Err(e) => {
            crate::alert!("Lua init: {e}.");
            return Err(BootFailed);
        }
    };
    if let Err(msg) = engine.load_files() {
        crate::alert!("config : {msg}");
        if let Some(file) = failing_file(&msg) {
            crate::alert!("config : Error(s) found in configuration file : {file}");
        }
        crate::alert!("config : Fatal errors found in configuration.");
        return Err(BootFailed);
    }
    // `lua.NAME` fetches and converters: known from now on (the expressions compile
    // again when the proxies are built).
    crate::lua::api::fetches::install();
    recheck_lua_samples(config)?;
    check_actions(config, &engine.registered())?;
    crate::stream::filter::configure_all(config);
    Ok(Some(engine))
}

/// The configuration used `lua.NAME` fetches or converters before the Lua files ran:
/// it is read again now that their names are known, and its errors (an unknown name,
/// in HAProxy's words and place) are fatal. Its warnings were printed the first time.
fn recheck_lua_samples(config: &Config) -> Result<(), BootFailed> {
    if !crate::sample::lua::took_deferred() || config.files.is_empty() {
        return Ok(());
    }
    let opts = crate::config::ParseOptions {
        localpeer: config.global.localpeer.clone(),
        // The first parse checked the `program` sections against the command line.
        master_worker: true,
    };
    let Err(diags) = crate::config::load(&config.files, &opts) else {
        return Ok(());
    };
    let alerts: Vec<_> = diags
        .into_iter()
        .filter(|d| d.severity == crate::diag::Severity::Alert)
        .collect();
    if alerts.is_empty() {
        return Ok(());
    }
    crate::config::diagnostic::print_all(&alerts);
    Err(BootFailed)
}

/// Resolves the `lua.<name>` actions of the rules against what the `lua-load` files
/// registered; prints HAProxy's alerts and fails if any is wrong.
fn check_actions(config: &Config, registered: &Registered) -> Result<(), BootFailed> {
    let mut errors = resolve_actions(config, registered);
    errors.extend(crate::stream::filter::resolve(config));
    if errors.is_empty() {
        return Ok(());
    }
    let mut files = Vec::new();
    for (file, e) in &errors {
        crate::alert!("config : {e}");
        if !files.contains(file) {
            files.push(file.clone());
        }
    }
    for f in files {
        crate::alert!("config : Error(s) found in configuration file : {f}");
    }
    crate::alert!("config : Fatal errors found in configuration.");
    Err(BootFailed)
}

/// The `lua.<name>` actions of the configuration checked as HAProxy 2.6 checks them
/// once the Lua files ran: the name must be registered for the rule set (not for
/// `http-after-response`, where HAProxy has no Lua actions), with at least `nb_args`
/// arguments; more are read as a misplaced condition. Each error is `(file, alert text)`.
pub fn resolve_actions(config: &Config, registered: &Registered) -> Vec<(String, String)> {
    use crate::config::model::HttpRuleList;
    let mut errors = resolve_services(config, registered);
    errors.extend(resolve_tcp_actions(config, registered));
    let mut seen = std::collections::HashSet::new();
    for p in &config.proxies {
        for r in &p.http_rules {
            let Some(name) = r.action.first().and_then(|a| a.strip_prefix("lua.")) else { continue };
            if !seen.insert(r.location.to_string()) {
                continue; // a `defaults` rule seen through another proxy
            }
            let kind = match r.list {
                HttpRuleList::Request => Some(ActionKind::HttpReq),
                HttpRuleList::Response => Some(ActionKind::HttpRes),
                HttpRuleList::AfterResponse => None,
            };
            let usable = |a: &&crate::lua::api::core::ActionDef| kind.is_some_and(|k| a.kinds.contains(&k));
            let list_name = r.list.name();
            let file = r.location.file.to_string();
            let Some(def) = registered.actions.iter().find(|a| a.name == name).filter(usable) else {
                let mut expected = r.list.keywords().to_string();
                for a in registered.actions.iter().filter(usable) {
                    expected.push_str(&format!(", 'lua.{}'", a.name));
                }
                errors.push((file, format!("parsing [{}]: '{list_name}' expects {expected}, but got 'lua.{name}'.", r.location)));
                continue;
            };
            let args = r.action.len() - 1;
            let wanted = usize::try_from(def.nb_args).unwrap_or(0);
            if args < wanted {
                let desc = format!("{} '{}'", crate::config::parse::proxy_type_name(p.cap), p.name);
                errors.push((
                    file,
                    format!("parsing [{}] : error detected in {desc} while parsing '{list_name} lua.{name}' rule : expect {wanted} arguments.", r.location),
                ));
            } else if args > wanted {
                let extra = &r.action[1 + wanted];
                errors.push((
                    file,
                    format!("parsing [{}]: '{list_name} lua.{name}' expects either 'if' or 'unless' followed by a condition but found '{extra}'.", r.location),
                ));
            }
        }
    }
    errors
}

/// The keywords HAProxy 2.6 lists when a `tcp-request content` action is unknown
/// (before the Lua actions registered for the list).
const TCP_REQ_CONTENT_KEYWORDS: &str = "'accept', 'reject', 'capture', 'expect-proxy', 'expect-netscaler-cip', 'track-sc0' ... 'track-sc2', 'ot-group', 'set-log-level', 'set-nice', 'switch-mode', 'use-service', 'sc-inc-gpc(*)', 'sc-inc-gpc0(*)', 'sc-inc-gpc1(*)', 'sc-set-gpt(*)', 'sc-set-gpt0(*)', 'send-spoe-group', 'do-resolve(*)', 'set-var-fmt(*)', 'set-var(*)', 'unset-var(*)', 'set-src', 'set-src-port', 'set-dst', 'set-dst-port', 'set-mark', 'set-tos', 'silent-drop', 'set-priority-class', 'set-priority-offset'";
/// The same for `tcp-response content`.
const TCP_RES_CONTENT_KEYWORDS: &str = "'accept', 'close', 'reject', 'ot-group', 'set-log-level', 'set-nice', 'sc-inc-gpc(*)', 'sc-inc-gpc0(*)', 'sc-inc-gpc1(*)', 'sc-set-gpt(*)', 'sc-set-gpt0(*)', 'send-spoe-group', 'set-var-fmt(*)', 'set-var(*)', 'unset-var(*)', 'set-mark', 'set-tos', 'silent-drop'";

/// The `tcp-request content` / `tcp-response content` `lua.<name>` rules checked as
/// HAProxy 2.6 checks them: the name must be registered for `tcp-req` (`tcp-res`), with
/// exactly `nb_args` arguments before the condition. HAProxy adds a "Did you mean"
/// suggestion to the unknown-action message, which is left out here.
fn resolve_tcp_actions(config: &Config, registered: &Registered) -> Vec<(String, String)> {
    use crate::config::model::{TcpAction, TcpRuleList};
    let mut errors = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for p in &config.proxies {
        for r in &p.tcp_rules {
            let Some(TcpAction::Lua { name, args }) = &r.action else { continue };
            if !seen.insert(r.location.to_string()) {
                continue; // a `defaults` rule seen through another proxy
            }
            let (kind, list_name, keywords) = match r.list {
                TcpRuleList::ResponseContent => (ActionKind::TcpRes, "tcp-response content", TCP_RES_CONTENT_KEYWORDS),
                _ => (ActionKind::TcpReq, "tcp-request content", TCP_REQ_CONTENT_KEYWORDS),
            };
            let usable = |a: &&crate::lua::api::core::ActionDef| a.kinds.contains(&kind);
            let file = r.location.file.to_string();
            let desc = format!("{} '{}'", crate::config::parse::proxy_type_name(p.cap), p.name);
            let Some(def) = registered.actions.iter().find(|a| &a.name == name).filter(usable) else {
                let mut expected = keywords.to_string();
                for a in registered.actions.iter().filter(usable) {
                    expected.push_str(&format!(", 'lua.{}'", a.name));
                }
                errors.push((file, format!("parsing [{}] : '{list_name}' expects {expected} in {desc} (got 'lua.{name}').", r.location)));
                continue;
            };
            let wanted = usize::try_from(def.nb_args).unwrap_or(0);
            if args.len() < wanted {
                errors.push((file, format!("parsing [{}] : expect {wanted} arguments", r.location)));
            } else if let Some(extra) = args.get(wanted) {
                errors.push((file, format!("parsing [{}] : '{list_name} lua.{name}' only accepts 'if' or 'unless', in {desc} (got '{extra}')", r.location)));
            }
        }
    }
    errors
}

/// The `http-request use-service lua.<name>` rules checked as HAProxy 2.6 checks them:
/// the name must be a registered service, an HTTP one; `tcp-request content
/// use-service lua.<name>` needs a TCP one, in a TCP-mode proxy. Each error is
/// `(file, alert text)`.
fn resolve_services(config: &Config, registered: &Registered) -> Vec<(String, String)> {
    use crate::config::model::{Mode, TcpAction};
    let mut errors = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for p in &config.proxies {
        for r in &p.http_rules {
            let [kw, target, ..] = r.action.as_slice() else { continue };
            let Some(name) = target.strip_prefix("lua.").filter(|_| kw == "use-service") else { continue };
            if !seen.insert(r.location.to_string()) {
                continue; // a `defaults` rule seen through another proxy
            }
            let why = match registered.service(name) {
                None => format!("'{target}' unknown service name.."),
                Some(s) if !s.http => "Lua TCP services cannot be used on HTTP proxies.".to_string(),
                Some(_) => continue,
            };
            let desc = format!("{} '{}'", crate::config::parse::proxy_type_name(p.cap), p.name);
            errors.push((
                r.location.file.to_string(),
                format!("parsing [{}] : error detected in {desc} while parsing '{} use-service' rule : {why}", r.location, r.list.name()),
            ));
        }
        for r in &p.tcp_rules {
            let Some(TcpAction::UseService { name: target }) = &r.action else { continue };
            if !seen.insert(r.location.to_string()) {
                continue;
            }
            let name = target.strip_prefix("lua.").unwrap_or(target);
            let why = match registered.service(name) {
                None => "'content' unknown service name.",
                Some(s) if s.http => "HTTP applets are forbidden from 'tcp-request' rulesets",
                Some(_) if p.mode == Mode::Http => "Lua TCP services cannot be used on HTTP proxies",
                Some(_) => continue,
            };
            errors.push((r.location.file.to_string(), format!("parsing [{}] : {why}", r.location)));
        }
    }
    errors
}

/// The preemption for a resume at `now`: the configured timer slice, shortened to
/// [`INTERACTIVE_SLICE`] while the reactor serves traffic. Count mode is left as asked.
fn preempt_now(configured: Preempt, traffic_at: Option<Instant>, now: Instant) -> Preempt {
    match configured {
        Preempt::Timer(slice)
            if traffic_at.is_some_and(|t| now.saturating_duration_since(t) < TRAFFIC_WINDOW) =>
        {
            Preempt::Timer(slice.min(INTERACTIVE_SLICE))
        }
        other => other,
    }
}


mod cli;
mod world_view;
pub use world_view::{proxy_stats, server_view, WorldParts};

/// The Lua start-up failed; the reason was printed on stderr (exit code 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BootFailed;

/// The configuration file named in `parsing [file:line] : ...`.
fn failing_file(msg: &str) -> Option<&str> {
    let rest = msg.strip_prefix("parsing [")?;
    let end = rest.find("] : ")?;
    rest[..end].rsplit_once(':').map(|(f, _)| f)
}

/// A running task and what it waits for.
struct Running {
    task: Task,
    /// Values on the coroutine's stack for the next resume (the arguments, then 0).
    nargs: c_int,
    /// `None`: runnable (in the run queue); `Some(at)`: sleeping until `at` (a timer).
    sleep: Option<Instant>,
    /// Waiting in a socket call (resumed by [`LuaRt::socket_ready`] / `socket_timer`).
    io: bool,
    /// A `core.register_cli` command: its session and applet (`cli`).
    cli: Option<cli::CliTask>,
    /// When it started (`show lua tasks`).
    started: Instant,
}

/// The tasks of the Lua engine. Fields drop in order: tasks before the engine.
pub struct LuaRt {
    tasks: GenSlab<Running>,
    pub engine: Engine,
    /// The preemption the configuration asked for (`tune.lua.forced-yield`, `tune.lua.preempt`).
    configured: Preempt,
    /// The last socket event of a listener or stream.
    traffic_at: Option<Instant>,
    /// Socket calls of streams' Lua actions that completed: the world hands the results
    /// to the streams ([`LuaRt::take_stream_completions`]).
    stream_completions: Vec<(Key, Vec<crate::lua::Value>)>,
    /// CLI commands that ended, with their applets, until their sessions take the rest
    /// of their output (`cli`).
    cli_ended: Vec<(Key, crate::lua::Handle)>,
}

impl LuaRt {
    pub fn new(engine: Engine) -> LuaRt {
        let configured = engine.state().preempt();
        LuaRt {
            tasks: GenSlab::default(),
            engine,
            configured,
            traffic_at: None,
            stream_completions: Vec::new(),
            cli_ended: Vec::new(),
        }
    }

    /// Live tasks.
    pub fn len(&self) -> usize {
        self.tasks.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Starts the tasks registered since the last call: each is queued to run at once.
    pub fn spawn_new(&mut self, cx: &mut Ctx<'_>) {
        for spec in self.engine.take_new_tasks() {
            match self.engine.spawn(&spec) {
                Ok((task, nargs)) => {
                    let running = Running { task, nargs, sleep: None, io: false, cli: None, started: cx.now };
                    match self.tasks.insert(running) {
                        Some(key) => cx.wake.push(Kind::Reserved, key),
                        None => self.engine.report_task_error("too many tasks."),
                    }
                }
                Err(e) => self.engine.report_task_error(&format!("{e}.")),
            }
        }
    }

    fn live(&mut self, key: Key) -> Option<&mut Running> {
        self.tasks.get_mut(key)
    }

    /// The run queue reached task `key`.
    pub fn wake(&mut self, cx: &mut Ctx<'_>, world: &mut dyn WorldView, key: Key) {
        if self.live(key).is_some_and(|r| r.sleep.is_none() && !r.io) {
            self.run(cx, world, key);
        }
    }

    /// A timer armed for task `key` at `deadline` expired (ignored if the task no longer
    /// sleeps until then).
    pub fn timer(&mut self, cx: &mut Ctx<'_>, world: &mut dyn WorldView, key: Key, deadline: Instant) {
        if self.live(key).is_some_and(|r| r.sleep == Some(deadline)) {
            self.run(cx, world, key);
        }
    }

    /// A Lua socket had an event: resumes the task whose call it completes.
    pub fn socket_ready(&mut self, cx: &mut Ctx<'_>, world: &mut dyn WorldView, key: Key, ready: Ready) {
        if let Some(c) = socket::on_ready(cx, key, ready) {
            self.complete(cx, world, c);
        }
    }

    /// A Lua socket's timer expired: the waiting call times out.
    pub fn socket_timer(&mut self, cx: &mut Ctx<'_>, world: &mut dyn WorldView, key: Key, deadline: Instant) {
        if let Some(c) = socket::on_timer(cx, key, deadline) {
            self.complete(cx, world, c);
        }
    }

    /// Resumes the coroutine of a completed socket call with the call's results.
    fn complete(&mut self, cx: &mut Ctx<'_>, world: &mut dyn WorldView, c: Completion) {
        match c.waiter {
            Waiter::Task(key) => {
                let Some(r) = self.live(key).filter(|r| r.io) else { return };
                let mut pushed = 0;
                for v in &c.results {
                    if r.task.push_value(v).is_err() {
                        break;
                    }
                    pushed += 1;
                }
                r.nargs = pushed;
                r.io = false;
                self.run(cx, world, key);
            }
            // Streams' coroutines resume through their own rules (`stream::lua`).
            Waiter::Stream(key) => self.stream_completions.push((key, c.results)),
        }
    }

    /// The socket calls of streams' Lua actions completed since the last call.
    pub fn take_stream_completions(&mut self) -> Vec<(Key, Vec<crate::lua::Value>)> {
        std::mem::take(&mut self.stream_completions)
    }

    /// A listener or stream had a socket event (see [`INTERACTIVE_SLICE`]).
    pub fn note_traffic(&mut self, now: Instant) {
        self.traffic_at = Some(now);
    }

    fn run(&mut self, cx: &mut Ctx<'_>, world: &mut dyn WorldView, key: Key) {
        let preempt = preempt_now(self.configured, self.traffic_at, cx.now);
        self.engine.state().set_preempt(preempt);
        let Some(r) = self.live(key) else { return };
        let nargs = std::mem::replace(&mut r.nargs, 0);
        r.sleep = None;
        let applet = r.cli.as_ref().map(|c| c.handle);
        let outcome = host::enter(&mut Host { cx: &mut *cx, world, stream: None }, || {
            socket::running_as(Waiter::Task(key), || match applet {
                Some(h) => crate::lua::api::applet_tcp::running_cli(h, || r.task.resume(nargs)),
                None => r.task.resume(nargs),
            })
        });
        // HAProxy names a failing CLI command, not a task; its function is called through
        // the applet wrapper (a tail call, left out of the traceback).
        let cli_name = self.live(key).and_then(|r| r.cli.as_ref()).map(|c| c.name.clone());
        if let Some(r) = self.live(key) { crate::lua::stats::record(if cli_name.is_some() { crate::lua::error_ring::Origin::Cli } else { crate::lua::error_ring::Origin::Task }, cli_name.as_deref().unwrap_or(""), &r.task, &outcome) }
        let engine = &self.engine;
        let report = |what: &str| match &cli_name {
            Some(name) => {
                crate::lua::error_ring::record(crate::lua::error_ring::Origin::Cli, name, what);
                engine.report_error(&format!("Lua cli '{name}': {what}"));
            }
            None => {
                crate::lua::error_ring::record(crate::lua::error_ring::Origin::Task, "", what);
                engine.report_task_error(what);
            }
        };
        let done = self.engine.take_done();
        let keep = match outcome {
            Resume::Yield(_) if done => false,
            Resume::Yield(WaitReason::Io) => {
                if let Some(r) = self.live(key) {
                    r.io = true;
                }
                true
            }
            Resume::Yield(WaitReason::Sleep(at)) => {
                if let Some(r) = self.live(key) {
                    r.sleep = Some(at);
                }
                cx.timers.arm(at, TimerTarget::Entry(Kind::Reserved, key));
                true
            }
            // Forced, core.yield(), a plain coroutine.yield() at task level.
            // A CLI command that sent more than its client read waits for its session
            // (`cli::cli_poll`) instead.
            Resume::Yield(_) => {
                if !self.cli_waits_for_room(key) {
                    cx.wake.push(Kind::Reserved, key);
                }
                true
            }
            Resume::Finished(_) => false,
            Resume::Error { .. } if done => false,
            Resume::Error { message, traceback } => {
                report(&format!("{}.", runtime_error(message, &traceback, cli_name.is_some())));
                false
            }
            Resume::Timeout(k) => {
                let from = self
                    .tasks
                    .get(key)
                    .and_then(|r| r.task.timeout_traceback().map(|tb| from_clause(tb, cli_name.is_some())))
                    .unwrap_or_default();
                report(&format!(
                    "[state-id 0] runtime error: {}{from}.",
                    k.message()
                ));
                false
            }
            Resume::NoMem => {
                report("out of memory error.");
                false
            }
            Resume::Panic(m) => {
                report(&format!("[state-id 0] runtime error: {m}."));
                false
            }
        };
        if keep {
            if let Some(c) = self.live(key).and_then(|r| r.cli.as_ref()) {
                cx.wake.push(Kind::Cli, c.session); // it may have sent something
            }
        } else if let Some(Running { cli: Some(c), .. }) = self.tasks.remove(key) {
            self.cli_ended(cx, key, c);
        }
        if !keep {
            // Sockets it left open and unreachable are closed now (HAProxy's full
            // collection at the end of a context that used sockets).
            if socket::coroutine_ended(Waiter::Task(key)) {
                self.engine.state().collect_garbage();
            }
            socket::reap(Some(cx.registry));
        }
        // A task may have registered others.
        self.spawn_new(cx);
        // It may have closed a socket another task waits on.
        for c in socket::take_completed() {
            self.complete(cx, world, c);
        }
    }

    /// Once per reactor iteration: releases dropped registry references (rule R2).
    pub fn end_of_iteration(&mut self) {
        self.engine.drain();
        // Sockets whose Lua objects the collector finalized meanwhile.
        socket::reap(None);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn traffic_shortens_the_timer_slice_for_a_while() {
        use super::{preempt_now, INTERACTIVE_SLICE, TRAFFIC_WINDOW};
        use crate::lua::Preempt;
        use std::time::{Duration, Instant};
        let now = Instant::now();
        let ms = Preempt::Timer(Duration::from_millis(1));
        assert_eq!(preempt_now(ms, None, now), ms, "no traffic: the configured slice");
        assert_eq!(preempt_now(ms, Some(now), now), Preempt::Timer(INTERACTIVE_SLICE));
        let later = now + TRAFFIC_WINDOW;
        assert_eq!(preempt_now(ms, Some(now), later), ms, "the window has passed");
        let short = Preempt::Timer(Duration::from_micros(50));
        assert_eq!(preempt_now(short, Some(now), now), short, "never longer than configured");
        assert_eq!(preempt_now(Preempt::Count(1000), Some(now), now), Preempt::Count(1000));
    }

    #[test]
    fn failing_file_is_read_from_the_location() {
        assert_eq!(
            super::failing_file("parsing [a/b.cfg:12] : error in Lua file 'x': y"),
            Some("a/b.cfg")
        );
        assert_eq!(super::failing_file("other"), None);
    }
}
