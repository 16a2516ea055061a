//! Detection of blocking calls at run time.
//!
//! moonproxy runs every script on the reactor thread: a function that waits for the disk, a
//! child process or the network stalls every connection of the process. The seed's "non
//! blocking design" forbids them after initialisation (during `lua-load` and the init functions
//! they are expected: that is where files are read). This module finds them:
//!
//! - [`install`] (at state creation, after the standard libraries) replaces each blocking
//!   function by a Lua wrapper that first calls a Rust check, then the original function. The
//!   wrapped functions: `print`, `dofile`, `loadfile`, `io.close/flush/input/lines/open/output/
//!   popen/read/tmpfile/write`, the file methods `close/flush/lines/read/seek/setvbuf/write`,
//!   `os.execute/exit/remove/rename/tmpname`, `package.loadlib/searchpath`, `require` of a
//!   module neither loaded nor preloaded (it searches the file system), and LuaSocket's
//!   functions (`socket.tcp`, `socket.connect`, `socket.dns.toip`..., `socket.http.request`...),
//!   wrapped when `require` returns the module.
//! - Until [`enter_runtime`], the check returns at once: the functions work normally.
//! - After it, a call reports a [`BlockingCall`] (function, file and line of the nearest Lua
//!   caller) to the state's sink ([`set_sink`]; default: a `[WARNING]` on stderr through
//!   [`crate::warning!`]), once per call site; with [`set_strict`] (`tune.lua.strict-blocking
//!   on`) the call raises `file:line: blocking function 'io.open' called at run time
//!   (tune.lua.strict-blocking on)` instead of running.
//!
//! Errors keep their wording. A wrapper calls the original through a local of the same short
//! name and not as a tail call, so Lua's argument errors still name it (`bad argument #1 to
//! 'open'`); it calls it under `pcall` and raises such an error again at the script's line
//! instead of the wrapper's. Deviations:
//! - a blocking function called in tail position (`return io.open(p)`) is a Lua function now,
//!   so the caller's frame is gone: the report and the errors give the position of the nearest
//!   Lua code still on the stack;
//! - called directly by a C function (`pcall(io.open)`), its errors get that position too
//!   where Lua gives none;
//! - for file methods, argument numbers count `self` (Lua skips it for calls written
//!   `f:read()`);
//! - an error raised deeper (in code run by `dofile`) keeps its message, but its traceback
//!   starts at the wrapper;
//! - an iterator returned by `io.lines` at init and called at run time is not detected.
//!
//! The per-state detector (phase, strictness, sites already reported, sink) is a userdata
//! (`doc/lua-ffi.md` section 9) anchored in the registry and held by the wrappers.
use crate::lua::callback::{self, CallCtx, RustFunction};
use crate::lua::state::{protect, StackGuard, State};
use crate::lua::userdata::{self, Class};
use crate::lua::LuaError;
use lua54_sys as ffi;
use std::cell::{Cell, RefCell};
use std::collections::HashSet;
use std::fmt;
use std::os::raw::{c_char, c_int, c_void};
use std::rc::Rc;

/// A blocking function called at run time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockingCall {
    /// As scripts write it: `io.open`, `print`, `file:write`, `socket.tcp`, `require`.
    pub function: String,
    /// The chunk of the nearest Lua caller, as Lua shows it in error messages (`t.lua`).
    pub source: String,
    /// Its current line (0 when unknown).
    pub line: i32,
}

impl fmt::Display for BlockingCall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}: blocking function '{}' called at run time",
            self.source, self.line, self.function
        )
    }
}

/// Receives the calls detected at run time (once per call site). It runs inside a Lua call:
/// it must not call into Lua nor the setters of this module.
pub type Sink = Rc<dyn Fn(&BlockingCall)>;

/// The per-state detector, held in a userdata.
struct Detector {
    runtime: Cell<bool>,
    strict: Cell<bool>,
    /// (function, source, line) already reported.
    seen: RefCell<HashSet<(String, String, i32)>>,
    sink: RefCell<Option<Sink>>,
}

static DETECTOR: Class<Detector> = Class::new("moonproxy.blocking", &[]);

/// The registry slot of the detector (the address of this static is the key).
static REGISTRY_KEY: u8 = 0;

fn registry_key() -> *const c_void {
    (&REGISTRY_KEY as *const u8).cast()
}

static CHECK: RustFunction = RustFunction::new("blocking_check", check);
static STAMP: RustFunction = RustFunction::new("blocking_stamp", stamp);

/// The Lua side: receives (check, detector, stamp) and installs the wrappers.
const WRAPPERS: &str = r#"
local check, det, stamp = ...
-- Without the standard libraries there is nothing to wrap.
if not (type and load and ipairs and getmetatable and setmetatable and string) then return end
local load, type, ipairs, getmetatable, setmetatable = load, type, ipairs, getmetatable, setmetatable
local format = string.format
local G = _G

local match, error, pcall = string.match, error, pcall
local getinfo = debug and debug.getinfo or function() return nil end

local function pass(...) return ... end

-- Ends a wrapper: the results, or the error raised again. An error raised by the original
-- function itself (an argument error) got the position of the wrapper's chunk: it is raised
-- again with the position of the wrapper's caller, as without the wrapper. Other errors
-- (from code run by dofile, say) keep theirs.
local function finish(ok, ...)
  if ok then return ... end
  local e = ...
  local msg = type(e) == "string" and match(e, "^%[blocking [^%]]+%]:%d+: (.*)$")
  if not msg then error(e, 0) end
  -- The wrapper tail-called finish: level 2 is what called the wrapper. As for the report,
  -- the position is the nearest Lua code (a script's tail call or pcall left no line there).
  for level = 2, 64 do
    local info = getinfo(level, "Sl")
    if not info then break end
    if info.currentline >= 0 then
      error(info.short_src .. ":" .. info.currentline .. ": " .. msg, 0)
    end
  end
  error(msg, 0)
end

-- Wrappers made here (weak keys), so a function is never wrapped twice.
local wrappers = setmetatable({}, { __mode = "k" })

-- A wrapper that checks, then calls f. f is called through a local named like it and not as
-- a tail call, so Lua's argument errors name it as before ('open').
local function wrap(name, short, f)
  local src = format("local check, stamp, det, pass, finish, pcall, %s = ...\n" ..
    "local function call(...) return pass(%s(...)) end\n" ..
    "return function(...) local t0 = check(det, %q) return finish(stamp(det, %q, t0, pcall(call, ...))) end",
    short, short, name, name)
  local w = load(src, "=[blocking " .. name .. "]")(check, stamp, det, pass, finish, pcall, f)
  wrappers[w] = true
  return w
end

local function wrap_fields(t, prefix, names)
  for _, short in ipairs(names) do
    local f = t[short]
    if type(f) == "function" and not wrappers[f] then
      t[short] = wrap(prefix .. short, short, f)
    end
  end
end

wrap_fields(G, "", { "print", "dofile", "loadfile" })
if type(io) == "table" then
  wrap_fields(io, "io.", { "close", "flush", "input", "lines", "open", "output", "popen",
                           "read", "tmpfile", "write" })
  local mt = getmetatable(io.stdout)
  if type(mt) == "table" and type(mt.__index) == "table" then
    wrap_fields(mt.__index, "file:", { "close", "flush", "lines", "read", "seek", "setvbuf",
                                       "write" })
  end
end
if type(os) == "table" then
  wrap_fields(os, "os.", { "execute", "exit", "remove", "rename", "tmpname" })
end

if type(package) ~= "table" or type(require) ~= "function" then return end
wrap_fields(package, "package.", { "loadlib", "searchpath" })

-- LuaSocket (and LuaSec's https): every function that resolves names or opens, waits on or
-- uses sockets. socket.lua extends socket.core's table, so both names lead to one table.
local SOCKET = { "bind", "connect", "connect4", "connect6", "select", "sleep", "tcp", "tcp4",
                 "tcp6", "udp", "udp4", "udp6" }
local NETWORK = {
  ["socket"] = SOCKET, ["socket.core"] = SOCKET,
  ["socket.http"] = { "request" }, ["socket.ftp"] = { "command", "get", "put" },
  ["socket.smtp"] = { "send" }, ["ssl.https"] = { "request" },
}
local DNS = { "getaddrinfo", "gethostname", "getnameinfo", "tohostname", "toip" }

local loaded, preload = package.loaded, package.preload
local require = require

local function after(name, mod, ...)
  local list = NETWORK[name]
  if list and type(mod) == "table" then
    wrap_fields(mod, name:gsub("%.core$", "") .. ".", list)
    if type(mod.dns) == "table" then wrap_fields(mod.dns, "socket.dns.", DNS) end
  end
  return mod, ...
end

local function wrapped_require(name, ...)
  -- A module already loaded or preloaded is found without touching the file system.
  if loaded[name] == nil and preload[name] == nil then check(det, "require") end
  return after(name, require(name, ...))
end
wrappers[wrapped_require] = true
G.require = wrapped_require
"#;

/// Wraps the blocking functions of the state (see the module docs). Call it once at state
/// creation, after the standard libraries are open and before any script runs; a second call
/// does nothing.
pub fn install(state: &State) -> Result<(), LuaError> {
    if with_detector(state, |_| ()).is_some() {
        return Ok(());
    }
    let mut slot = Some(Detector {
        runtime: Cell::new(false),
        strict: Cell::new(false),
        seen: RefCell::new(HashSet::new()),
        sink: RefCell::new(None),
    });
    let slot_ptr: *mut Option<Detector> = &mut slot;
    let (src, len) = (WRAPPERS.as_ptr(), WRAPPERS.len());
    // The closure captures raw pointers only: `slot` (this frame, outside the protected
    // call; userdata::push moves the value out right after allocating its block) and the
    // static source; it uses 4 slots (the userdata, the chunk, its two arguments).
    // SAFETY: main thread between calls, under protection (rule L2); pointers as above.
    unsafe {
        protect(state.raw(), 0, 0, move |l| {
            userdata::push(l, &DETECTOR, slot_ptr);
            ffi::lua_pushvalue(l, -1);
            ffi::lua_rawsetp(l, ffi::LUA_REGISTRYINDEX, registry_key());
            let status = ffi::luaL_loadbufferx(
                l,
                src.cast::<c_char>(),
                len,
                c"=[blocking]".as_ptr(),
                c"t".as_ptr(),
            );
            if status != ffi::LUA_OK {
                ffi::lua_error(l);
            }
            callback::push_function(l, &CHECK);
            ffi::lua_pushvalue(l, -3);
            callback::push_function(l, &STAMP);
            ffi::lua_call(l, 3, 0);
            ffi::lua_pop(l, 1);
            0
        })
    }
}

/// Switches the state to the run-time phase (after `lua-load` and the init functions): from
/// now on blocking calls are reported or refused. Does nothing if [`install`] was not called.
pub fn enter_runtime(state: &State) {
    with_detector(state, |d| d.runtime.set(true));
}

/// `tune.lua.strict-blocking`: when on, a blocking call at run time raises an error instead of
/// being reported.
pub fn set_strict(state: &State, strict: bool) {
    with_detector(state, |d| d.strict.set(strict));
}

/// Where run-time blocking calls are reported (default: a warning on stderr).
pub fn set_sink(state: &State, sink: impl Fn(&BlockingCall) + 'static) {
    let sink: Sink = Rc::new(sink);
    with_detector(state, |d| *d.sink.borrow_mut() = Some(sink));
}

/// Runs `f` on the state's detector, or returns `None` if there is none.
fn with_detector<R>(state: &State, f: impl FnOnce(&Detector) -> R) -> Option<R> {
    let l = state.raw();
    // SAFETY: main thread; checkstack, rawgetp (no metamethod, no allocation) and
    // userdata::check never raise. The detector stays on the stack, so alive, while `f` runs;
    // the guard pops it afterwards.
    unsafe {
        let _guard = StackGuard::new(l);
        if ffi::lua_checkstack(l, 1) == 0 {
            return None;
        }
        ffi::lua_rawgetp(l, ffi::LUA_REGISTRYINDEX, registry_key());
        userdata::check(l, -1, &DETECTOR).map(f)
    }
}

/// `check(detector, name)`, called by every wrapper before the original function.
fn check(ctx: &mut CallCtx) -> Result<c_int, LuaError> {
    let det = ctx.userdata(1, &DETECTOR)?;
    if !det.runtime.get() {
        return Ok(0);
    }
    let function = ctx.string(2)?;
    // Level 0 is this function, 1 the wrapper, 2 the code that called the blocking function.
    // SAFETY: ctx.raw() is the running thread; call_site only reads the stack.
    let (source, line) = unsafe { call_site(ctx.raw(), 2) };
    let call = BlockingCall {
        function,
        source,
        line,
    };
    if det.strict.get() {
        return Err(LuaError::message(format!(
            "{call} (tune.lua.strict-blocking on)"
        )));
    }

    let key = (call.function.clone(), call.source.clone(), call.line);
    if det.seen.borrow_mut().insert(key) {
        let sink = det.sink.borrow().clone();
        match sink {
            Some(sink) => sink(&call),
            None => crate::warning!(
                "Lua: {call}: it stalls the whole process (reported once per call site)."
            ),
        }
    }
    // The start of the call, for [`stamp`]: microseconds, an integer (no allocation).
    ctx.push_integer(micros_now())?;
    Ok(1)
}

/// Microseconds since the first call: the clock of [`check`] and [`stamp`].
fn micros_now() -> i64 {
    static EPOCH: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    EPOCH.get_or_init(std::time::Instant::now).elapsed().as_micros() as i64
}

/// After a blocking function returned (at run time, when [`check`] gave its start `t0`):
/// a call that held the reactor longer than `tune.lua.stall-warn` is reported by name,
/// with its caller's file and line (`lua::stats`). Returns the call's results as they are
/// (`ok, ...` of the wrapper's `pcall`, above its three arguments).
fn stamp(ctx: &mut CallCtx) -> Result<c_int, LuaError> {
    let results = ctx.nargs() - 3;
    if let Ok(t0) = ctx.integer(3) {
        let took = std::time::Duration::from_micros(micros_now().saturating_sub(t0).max(0) as u64);
        if crate::lua::stats::stalls(took) {
            let function = ctx.string(2)?;
            // Level 1 is the wrapper, 2 the code that called the blocking function.
            // SAFETY: ctx.raw() is the running thread; call_site only reads the stack.
            let (source, line) = unsafe { call_site(ctx.raw(), 2) };
            crate::lua::stats::c_stall(&function, &format!("{source}:{line}"), took);
        }
    }
    Ok(results)
}

/// The chunk name and current line of the first Lua function at or above `level` of `l`
/// (a C caller such as `pcall` has no line: the Lua code that called it is the site).
///
/// # Safety
/// `l` is a valid running thread.
unsafe fn call_site(l: *mut ffi::lua_State, level: c_int) -> (String, i32) {
    for level in level..level + 64 {
        let mut ar = ffi::lua_Debug::zeroed();
        // SAFETY: lua_getstack fills `ar` for an existing level; lua_getinfo with "Sl" and no
        // '>' only reads the activation record (no push, no allocation): neither raises.
        unsafe {
            if ffi::lua_getstack(l, level, &mut ar) == 0 {
                break;
            }
            ffi::lua_getinfo(l, c"Sl".as_ptr(), &mut ar);
        }
        if ar.currentline >= 0 {
            // SAFETY: short_src is a NUL-terminated buffer inside `ar`.
            let src = unsafe { std::ffi::CStr::from_ptr(ar.short_src.as_ptr()) };
            return (src.to_string_lossy().into_owned(), ar.currentline);
        }
    }
    ("?".to_string(), 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lua::Value;

    #[test]
    fn install_is_idempotent_and_setters_without_install_do_nothing() {
        let bare = State::new().unwrap();
        enter_runtime(&bare);
        set_strict(&bare, true);
        assert_eq!(
            bare.exec(b"return type(print)", "t.lua").unwrap(),
            vec![Value::String(b"function".to_vec())]
        );
        let state = State::new().unwrap();
        install(&state).unwrap();
        state.exec(b"first = print", "t.lua").unwrap();
        install(&state).unwrap();
        // Not wrapped twice: a second install leaves the same wrapper.
        let r = state
            .exec(
                b"return rawequal(first, print), debug.getinfo(print, 'S').source",
                "t.lua",
            )
            .unwrap();
        assert_eq!(
            r,
            vec![
                Value::Boolean(true),
                Value::String(b"=[blocking print]".to_vec())
            ]
        );
        // Without the standard libraries there is nothing to wrap, and nothing fails.
        let nolibs = State::with_options(crate::lua::Options { openlibs: false }).unwrap();
        install(&nolibs).unwrap();
    }

    #[test]
    fn the_call_site_skips_c_callers() {
        let state = State::new().unwrap();
        install(&state).unwrap();
        enter_runtime(&state);
        set_strict(&state, true);
        let r = state
            .exec(
                b"\nlocal ok, e = pcall(os.remove, '/nonexistent')\nreturn e",
                "s.lua",
            )
            .unwrap();
        assert_eq!(
            r,
            vec![Value::String(
                b"s.lua:2: blocking function 'os.remove' called at run time (tune.lua.strict-blocking on)"
                    .to_vec()
            )]
        );
    }
}
