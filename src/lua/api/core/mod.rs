//! The `core` table without streams (HAProxy's `hlua_init_state` / `hlua_fcn_reg_core_fcn`),
//! `lua-load` bodies, `register_init` functions and the specification of `register_task`
//! tasks. The reactor side (resuming tasks from the run queue and timers) is
//! `crate::runtime::lua`.
//!
//! - [`Engine`]: the one Lua state of the process and what scripts registered in it.
//! - `log`: `core.log`, `core.Alert ... core.Debug`, and the task error reports.
//! - `register`: `core.register_*` with HAProxy 2.6's argument checks ([`Registered`]).
//! - `functions`: the other `core` functions (sleeps, yield, now, done, set_nice).
//! - `traceback`: HAProxy's one-line traceback shape.
//!
//! The Rust functions find the engine's data through a thread-local ([`Core`]): one engine per
//! reactor thread, as there is one Lua state per reactor thread.

mod functions;
pub(crate) mod log;
mod register;
mod traceback;

pub use self::log::LogOutput;
pub use register::{ActionDef, ActionKind, CliDef, FunctionDef, Registered, ServiceDef};
pub use traceback::{error_message, from_clause, haproxy_traceback, runtime_error};

use crate::config::model::{LuaDirective, LuaSettings, PreemptMode};
use crate::lua::{
    callback, state, Limits, LuaError, Preempt, RegistryRef, RustFunction, StackGuard, State, Task,
};
use lua54_sys as ffi;
use std::cell::{Cell, RefCell};
use std::ffi::CString;
use std::os::raw::c_int;
use std::rc::Rc;
use std::time::Duration;

/// Where the process is in its life, for the functions whose meaning depends on it
/// (`core.sleep` does nothing in a body or an init function, as in HAProxy).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// `lua-load` bodies (configuration parsing).
    Body,
    /// `register_init` functions.
    Init,
    /// Serving: tasks, and later actions, fetches, services.
    Running,
}

/// A task registered by `core.register_task(fn, args...)`, not started yet.
#[derive(Debug)]
pub struct TaskSpec {
    pub func: RegistryRef,
    pub args: Vec<RegistryRef>,
}

/// The data the `core` functions reach through the thread-local.
pub(crate) struct Core {
    pub(crate) state: State,
    pub(crate) phase: Cell<Phase>,
    pub(crate) inits: RefCell<Vec<RegistryRef>>,
    pub(crate) new_tasks: RefCell<Vec<TaskSpec>>,
    pub(crate) registered: RefCell<Registered>,
    pub(crate) log: RefCell<LogOutput>,
    /// Warnings found while running bodies (duplicate registrations), for `-c`'s summary.
    pub(crate) warnings: RefCell<Vec<String>>,
    /// Set by `core.done()` in a task: the runtime ends the task as finished.
    pub(crate) done: Cell<bool>,
    /// `core.set_nice` (recorded; the reactor has no priorities).
    pub(crate) nice: Cell<i64>,
    /// The budgets of a stream's Lua code (`tune.lua.session-timeout`, `burst-timeout`).
    pub(crate) session_limits: Limits,
    /// The budgets of a Lua service (`tune.lua.service-timeout`, `burst-timeout`).
    pub(crate) service_limits: Limits,
}

thread_local! {
    static CORE: RefCell<Option<Rc<Core>>> = const { RefCell::new(None) };
    /// What `core.thread` says in the engines created on this thread ([`set_thread_id`]).
    static THREAD_ID: Cell<i64> = const { Cell::new(0) };
}

/// Sets what `core.thread` holds in the engines this thread creates from now on: 0 for
/// HAProxy's shared state (`lua-load` with one thread), else the reactor thread's number
/// from 1 (`lua-load-per-thread`, and every state once `nbthread` > 1, each thread having
/// its own; see `crate::runtime::threads`).
pub fn set_thread_id(id: i64) {
    THREAD_ID.with(|t| t.set(id));
}

/// The engine of this thread, for the `core` functions.
pub(crate) fn core() -> Result<Rc<Core>, LuaError> {
    CORE.with(|c| c.borrow().clone())
        .ok_or_else(|| LuaError::message("the Lua engine is not running on this thread"))
}

/// Command-line switches that change what the engine prints.
#[derive(Clone, Copy, Debug, Default)]
pub struct EngineOptions {
    /// `-q`: Lua log lines go to stderr only while starting.
    pub quiet: bool,
    /// `-d`: `core.Debug` lines reach stderr too.
    pub debug: bool,
}

/// The Lua engine: the main state with the `core` table, and what the scripts registered.
/// One per reactor thread; dropping it closes the state once tasks are gone.
pub struct Engine {
    core: Rc<Core>,
    settings: LuaSettings,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("phase", &self.core.phase.get())
            .finish()
    }
}

impl Engine {
    /// Creates the state, installs `core`, and applies the preemption mode. The memory limit
    /// is applied by [`Engine::start`] (HAProxy counts but does not limit while parsing).
    pub fn new(settings: &LuaSettings, opts: EngineOptions) -> Result<Engine, LuaError> {
        let state = State::new()?;
        state.set_preempt(preempt_for(settings.forced_yield, settings.preempt_mode));
        install_core(&state)?;
        super::txn::install_act(&state)?;
        super::txn_extra::install_act_wake_time(&state)?;
        super::filter::install_global(&state)?;
        crate::lua::modules::install_preload(&state)?;
        super::blocking::install(&state)?;
        super::blocking::set_strict(&state, settings.strict_blocking);
        crate::lua::stats::install(settings.stall_warn, settings.accounting);
        let core = Rc::new(Core {
            state,
            phase: Cell::new(Phase::Body),
            inits: RefCell::new(Vec::new()),
            new_tasks: RefCell::new(Vec::new()),
            registered: RefCell::new(Registered::default()),
            log: RefCell::new(LogOutput::new(settings, opts)),
            warnings: RefCell::new(Vec::new()),
            done: Cell::new(false),
            nice: Cell::new(0),
            session_limits: Limits {
                burst: settings.burst_timeout,
                total: settings.session_timeout,
            },
            service_limits: Limits {
                burst: settings.burst_timeout,
                total: settings.service_timeout,
            },
        });
        CORE.with(|c| {
            let mut c = c.borrow_mut();
            assert!(c.is_none(), "one Lua engine per thread");
            *c = Some(core.clone());
        });
        Ok(Engine {
            core,
            settings: settings.clone(),
        })
    }

    pub fn state(&self) -> &State {
        &self.core.state
    }

    /// The Lua part of the configuration (timeouts for the stream side).
    pub fn settings(&self) -> &LuaSettings {
        &self.settings
    }

    pub fn phase(&self) -> Phase {
        self.core.phase.get()
    }

    /// Runs the `lua-load` files and `lua-prepend-path` directives in configuration order.
    /// Stops at the first failure and returns it as HAProxy prints it:
    /// `parsing [file:line] : error in Lua file '<f>': <msg>` or `... : Lua runtime error: <msg>`
    /// (the `config : ` prefix is the caller's).
    pub fn load_files(&self) -> Result<(), String> {
        for d in &self.settings.directives {
            match d {
                LuaDirective::PrependPath {
                    path,
                    cpath,
                    location,
                } => {
                    let field = if *cpath { "cpath" } else { "path" };
                    let chunk = format!(
                        "package.{field} = {} .. ';' .. package.{field}",
                        lua_quote(path)
                    );
                    self.core
                        .state
                        .exec(chunk.as_bytes(), "=lua-prepend-path")
                        .map_err(|e| format!("parsing [{location}] : lua-prepend-path: {e}"))?;
                }
                LuaDirective::Load {
                    file,
                    args,
                    location,
                    ..
                } => {
                    let name = file.display().to_string();
                    let chunk = std::fs::read(file).map_err(|e| {
                        format!(
                            "parsing [{location}] : error in Lua file '{name}': cannot open {name}: {}",
                            io_reason(&e)
                        )
                    })?;
                    run_body(&self.core.state, &chunk, &name, args).map_err(|e| match e {
                        LuaError::Syntax(m) => {
                            format!("parsing [{location}] : error in Lua file '{name}': {m}")
                        }
                        LuaError::Memory => {
                            format!("parsing [{location}] : Lua runtime error: not enough memory")
                        }
                        e => format!("parsing [{location}] : Lua runtime error: {e}"),
                    })?;
                }
            }
        }
        Ok(())
    }

    /// Warnings collected while loading (HAProxy prints them as `config : ...` warnings).
    pub fn take_warnings(&self) -> Vec<String> {
        std::mem::take(&mut *self.core.warnings.borrow_mut())
    }

    /// Where Lua log lines go once serving: the global log targets.
    pub fn set_logger(&self, logger: crate::log::Logger) {
        self.core.log.borrow_mut().logger = Some(logger);
    }

    /// Post-init: applies `tune.lua.maxmem`, then runs the `register_init` functions in order,
    /// each in its own coroutine, to completion (they cannot sleep: `core.sleep` does nothing
    /// there, as in HAProxy; a forced yield is resumed at once). The first failure is returned
    /// as HAProxy words it (`Lua init: ...`), and the start-up stops.
    pub fn start(&self) -> Result<(), String> {
        if self.settings.maxmem_mb > 0 {
            self.core
                .state
                .set_memory_limit(crate::lua::maxmem_bytes(self.settings.maxmem_mb));
        }
        self.core.phase.set(Phase::Init);
        let inits = std::mem::take(&mut *self.core.inits.borrow_mut());
        for f in inits {
            let mut task = Task::new(&self.core.state, Limits::default())
                .map_err(|e| format!("Lua init: {e}."))?;
            task.push_function(&f)
                .map_err(|e| format!("Lua init: {e}."))?;
            let mut nargs = 0;
            loop {
                match task.resume(nargs) {
                    crate::lua::Resume::Yield(_) => nargs = 0,
                    crate::lua::Resume::Finished(_) => break,
                    crate::lua::Resume::Error { message, traceback } => {
                        if self.core.done.replace(false) {
                            break;
                        }
                        return Err(format!(
                            "Lua init: runtime error: '{message}' from {}",
                            haproxy_traceback(&traceback)
                        ));
                    }
                    crate::lua::Resume::NoMem => {
                        return Err("Lua init: out of memory error.".into())
                    }
                    crate::lua::Resume::Timeout(k) => {
                        return Err(format!("Lua init: {}.", k.message()))
                    }
                    crate::lua::Resume::Panic(m) => return Err(format!("Lua init: {m}.")),
                }
                if self.core.done.replace(false) {
                    break;
                }
            }
            self.core.done.set(false);
        }
        self.core.phase.set(Phase::Running);
        // From here on, io.*, os.execute, print... would block the reactor: report them.
        super::blocking::enter_runtime(&self.core.state);
        Ok(())
    }

    /// Tasks registered since the last call (by bodies, init functions or running tasks).
    pub fn take_new_tasks(&self) -> Vec<TaskSpec> {
        std::mem::take(&mut *self.core.new_tasks.borrow_mut())
    }

    /// The budgets of a `register_task` task (`tune.lua.task-timeout`, `burst-timeout`).
    pub fn task_limits(&self) -> Limits {
        Limits {
            burst: self.settings.burst_timeout,
            total: self.settings.task_timeout,
        }
    }

    /// Creates the coroutine of a registered task, function and arguments pushed; returns it
    /// with the number of arguments for its first resume.
    pub fn spawn(&self, spec: &TaskSpec) -> Result<(Task, c_int), LuaError> {
        let mut task = Task::new(&self.core.state, self.task_limits())?;
        task.push_function(&spec.func)?;
        for a in &spec.args {
            task.push_function(a)?;
        }
        Ok((task, spec.args.len() as c_int))
    }

    /// Whether the last resume ended by `core.done()` (and clears it).
    pub fn take_done(&self) -> bool {
        self.core.done.replace(false)
    }

    /// Reports a task's failure as HAProxy does (`Lua task: ...`), to stderr and the log
    /// targets at `err`.
    pub fn report_task_error(&self, what: &str) {
        self.core.log.borrow().error(&format!("Lua task: {what}"));
    }

    /// Reports a failure already worded in full (`Lua cli '<lua.cli.x>': ...`), as
    /// [`Engine::report_task_error`] does.
    pub fn report_error(&self, line: &str) {
        self.core.log.borrow().error(line);
    }

    /// Logs a line as `core.log` does.
    pub fn log(&self, level: crate::config::model::Level, msg: &str) {
        let phase = self.core.phase.get();
        self.core.log.borrow().send(level, msg, phase);
    }

    /// What the scripts registered (actions, fetches, converters, services, CLI commands).
    pub fn registered(&self) -> std::cell::Ref<'_, Registered> {
        self.core.registered.borrow()
    }

    /// `core.set_nice`'s last value.
    pub fn nice(&self) -> i64 {
        self.core.nice.get()
    }

    /// Releases dropped registry references: once per reactor iteration (rule R2).
    pub fn drain(&self) -> usize {
        self.core.state.drain()
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        CORE.with(|c| c.borrow_mut().take());
    }
}

/// HAProxy's default `tune.lua.forced-yield`.
pub const DEFAULT_FORCED_YIELD: u32 = 10_000;

/// `tune.lua.forced-yield N` asks a task to give way every N instructions. In timer mode that
/// becomes a time slice of N µs, bounded to [100 µs, 1 ms]: lower settings still mean more
/// frequent yields (more fairness between tasks, at a cost: bench/lua-loop measured 0.83x of
/// plain Lua with 250 µs slices), while 1000 and above, HAProxy's default 10,000 included, run
/// at full speed with 1 ms slices. Latency for streams does not depend on it: while the reactor
/// serves traffic a task runs in 100 µs slices whatever the setting (`runtime::lua`). `0`, which in HAProxy removes every check, keeps the default:
/// moonproxy never runs a task without preemption. In count mode, N is HAProxy's count hook.
pub fn preempt_for(forced_yield: Option<u32>, mode: PreemptMode) -> Preempt {
    let n = forced_yield.filter(|&n| n > 0).unwrap_or(DEFAULT_FORCED_YIELD);
    match mode {
        PreemptMode::Count => Preempt::Count(n),
        PreemptMode::Timer => Preempt::Timer(forced_yield_slice(n)),
    }
}

/// The time slice standing for `forced-yield n` in timer mode (see [`preempt_for`]).
pub fn forced_yield_slice(n: u32) -> Duration {
    Duration::from_micros(u64::from(n)).clamp(Duration::from_micros(100), Duration::from_millis(1))
}

fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "No such file or directory".into(),
        std::io::ErrorKind::PermissionDenied => "Permission denied".into(),
        _ => e.to_string(),
    }
}

/// A Lua string literal for `s`.
fn lua_quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\0' => out.push_str("\\0"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Runs a `lua-load` body on the main thread with `args` as `...` (no budget, no preemption,
/// as in HAProxy).
fn run_body(st: &State, chunk: &[u8], name: &str, args: &[String]) -> Result<(), LuaError> {
    let l = st.raw();
    // SAFETY: the main thread between calls. load_chunk is self-protected; each string push
    // allocates and is protected; lua_pcall is the protected entry. The guard restores the top.
    unsafe {
        let _guard = StackGuard::new(l);
        if ffi::lua_checkstack(l, args.len() as c_int + 2) == 0 {
            return Err(LuaError::Memory);
        }
        state::load_chunk(l, chunk, name)?;
        for a in args {
            let (p, len) = (a.as_ptr(), a.len());
            state::protect(l, 0, 1, move |l| {
                ffi::lua_pushlstring(l, p.cast(), len);
                1
            })?;
        }
        let status = ffi::lua_pcall(l, args.len() as c_int, 0, 0);
        ffi::lua_sethook(l, None, 0, 0);
        if status != ffi::LUA_OK {
            return Err(state::pop_error(l, status));
        }
    }
    Ok(())
}

/// The `core` functions defined here, by name; [`install_core`] adds those of the
/// `concat`, `text` and `addr` modules and the global `Regex` class.
static CORE_FUNCTIONS: &[(&str, &RustFunction)] = &[
    ("log", &log::LOG),
    ("Debug", &log::DEBUG),
    ("Info", &log::INFO),
    ("Warning", &log::WARNING),
    ("Alert", &log::ALERT),
    ("register_init", &register::REGISTER_INIT),
    ("register_task", &register::REGISTER_TASK),
    ("register_action", &register::REGISTER_ACTION),
    ("register_fetches", &register::REGISTER_FETCHES),
    ("register_converters", &register::REGISTER_CONVERTERS),
    ("register_service", &register::REGISTER_SERVICE),
    ("register_cli", &register::REGISTER_CLI),
    ("register_filter", &super::filter::REGISTER_FILTER),
    ("sleep", &functions::SLEEP),
    ("msleep", &functions::MSLEEP),
    ("yield", &functions::YIELD),
    ("now", &functions::NOW),
    ("done", &functions::DONE),
    ("set_nice", &functions::SET_NICE),
];

/// Syslog levels as `core.emerg ... core.debug`.
const LEVELS: [&str; 8] = [
    "emerg", "alert", "crit", "err", "warning", "notice", "info", "debug",
];

/// Creates the global `core` table.
fn install_core(st: &State) -> Result<(), LuaError> {
    let l = st.raw();
    // SAFETY: main thread between calls; table creation and field sets allocate: protected.
    unsafe {
        state::protect(l, 0, 0, |l| {
            ffi::lua_createtable(l, 0, 48);
            ffi::lua_setglobal(l, c"core".as_ptr());
            0
        })?;
    }
    let mut fields: Vec<(&str, &'static RustFunction)> = CORE_FUNCTIONS.to_vec();
    fields.extend_from_slice(super::concat::core_functions());
    fields.extend_from_slice(super::text::core_functions());
    fields.extend_from_slice(super::addr::core_functions());
    fields.extend_from_slice(super::socket::core_functions());
    fields.extend_from_slice(super::world::core_functions());
    fields.extend_from_slice(super::map::core_functions());
    super::regex::install_globals(st)?; // the global `Regex` class
    super::certcache::install(st)?; // the global `CertCache` class
    for (name, f) in fields {
        set_core_field(st, name, Field::Function(f))?;
    }
    for (i, name) in LEVELS.iter().enumerate() {
        set_core_field(st, name, Field::Integer(i as i64))?;
    }
    // Thread id of the state: 0 is HAProxy's shared state (`lua-load`), 1..n a thread's own.
    set_core_field(st, "thread", Field::Integer(THREAD_ID.with(Cell::get)))?;
    super::httpclient::install(st)?; // `core.httpclient` (a Lua-side class)
    super::world::install(st)?; // core.proxies/frontends/backends
    super::map::install(st)?; // the global `Map`
    Ok(())
}

#[derive(Clone, Copy)]
enum Field {
    Function(&'static RustFunction),
    Integer(i64),
}

/// `core[name] = value`.
fn set_core_field(st: &State, name: &str, value: Field) -> Result<(), LuaError> {
    let cname = CString::new(name).map_err(|_| LuaError::message("name contains NUL"))?;
    let cname = cname.as_ptr();
    // SAFETY: main thread between calls; the closure captures Copy values only (a C string
    // that outlives the call, a &'static, an integer) and runs under protection.
    unsafe {
        state::protect(st.raw(), 0, 0, move |l| {
            ffi::lua_getglobal(l, c"core".as_ptr());
            match value {
                Field::Function(f) => callback::push_function(l, f),
                Field::Integer(i) => ffi::lua_pushinteger(l, i),
            }
            ffi::lua_setfield(l, -2, cname);
            ffi::lua_pop(l, 1);
            0
        })
    }
}

#[cfg(test)]
mod tests;
