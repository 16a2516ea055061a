//! The `TXN` class (HAProxy's `hlua_txn`), with its `HTTP` (`txn.http`) and `Fetches`
//! (`txn.f`, `txn.sf`) objects, as a Lua action sees them.
//!
//! A `TXN` is a Lua table, as in HAProxy: `[0]` holds the [`Handle`] of the stream's Lua
//! context (a light userdata, [`handle_word`]), and `f`, `sf`, `c`, `sc`, `http` are
//! tables holding the same value. The methods are Rust functions (`P.*` below) that check the handle
//! (a stream that ended removed it: `TXN object no longer valid`) and that it is the
//! handle of the stream being run ([`crate::lua::host::StreamView`]), then act on that
//! stream. The tables and metatables are built once per state by a small Lua chunk
//! ([`CLASSES`]), which also hands over the `TXN` metatable, with which [`new_txn`] makes
//! the `TXN` objects (`f`, `sf`, `c`, `sc`, `http` are made at their first use): a
//! stream makes its `TXN` once, at its first Lua call, keeps it in the registry and
//! passes the same object to every action and fetch it runs (`crate::stream::lua`).
//!
//! `txn:get_priv()`/`set_priv()` keep the value in a Lua table of the chunk, indexed by
//! handle key and checked against the generation, so a stream never sees another's.
use crate::config::model::Level;
use crate::lua::host::{self, StreamView};
use crate::lua::{CallCtx, Handle, LuaError, RegistryRef, RustFunction, Value};
use crate::sample::{Expr, Sample, VarName};
use lua54_sys as ffi;
use std::cell::RefCell;
use std::os::raw::c_int;

/// `txn[0]` (and `[0]` of its `f`, `sf`, `c`, `sc`, `http` objects): the stream's
/// [`Handle`] as a light userdata, its key in the high half of the word and its
/// generation in the low half. Scripts cannot make one; a stale one fails the handle
/// table's check (`TXN object no longer valid`). Light rather than a full userdata: no
/// allocation and no finalizer per stream.
pub(crate) fn handle_word(h: Handle) -> *mut std::ffi::c_void {
    const { assert!(usize::BITS >= 64, "a handle needs a 64-bit word") };
    (((h.key as usize) << 32) | h.generation as usize) as *mut std::ffi::c_void
}

thread_local! {
    /// The metatable of the `TXN` objects of this thread's state (built on first use).
    static TXN_MT: RefCell<Option<RegistryRef>> = const { RefCell::new(None) };
    /// `svc_sub(ud, k)`: the `f`, `sf`, `c` or `sc` object of a service ([`CLASSES`]).
    static SVC_SUB: RefCell<Option<RegistryRef>> = const { RefCell::new(None) };
}

/// The `fetch` primitive's flags (its third argument): `sf` (strings), and "called from a
/// service", where HTTP fetches are refused as in HAProxy (a service's `Fetches` object is
/// made without HTTP rights: `AppletHTTP.f`/`sf`).
const FETCH_STRICT: i64 = 1;
const FETCH_SERVICE: i64 = 2;

/// Builds the classes; receives the primitives table and hands the `TXN` metatable
/// back through `P.set_metatable`.
const CLASSES: &str = r#"
local TXN, HTTP = {}, {}
local txn_mt, http_mt = { __index = TXN }, { __index = HTTP }
for _, m in ipairs({ "set_var", "get_var", "unset_var", "log", "Debug", "Info", "Warning",
                     "Alert", "set_loglevel" }) do
  TXN[m] = P[m]
end
local privs = {}
function TXN.get_priv(self)
  local k, g = P.handle(self[0])
  local e = privs[k]
  if e and e[1] == g then return e[2] end
  return nil
end
function TXN.set_priv(self, v)
  local k, g = P.handle(self[0])
  privs[k] = { g, v }
end
local Reply = {}
local reply_mt = { __index = Reply }
function Reply.set_status(self, status, reason)
  self.status = math.tointeger(status) or error("bad argument #1 to 'set_status' (integer expected)")
  self.reason = reason
end
-- Names are kept as given (2.6's `del_header` is case-sensitive); they go out in lower case.
function Reply.add_header(self, name, value)
  local h = self.headers[name]
  if h == nil then h = {}; self.headers[name] = h end
  h[#h + 1] = tostring(value)
end
function Reply.del_header(self, name) self.headers[name] = nil end
function Reply.set_body(self, body) self.body = tostring(body) end
function TXN.reply(self, t)
  local r = setmetatable({ status = 200, headers = {}, body = "" }, reply_mt)
  if t ~= nil then
    if t.status ~= nil then r:set_status(t.status, t.reason) end
    for n, vs in pairs(t.headers or {}) do
      if type(vs) == "table" then
        for _, v in ipairs(vs) do r:add_header(n, v) end
      else
        r:add_header(n, vs)
      end
    end
    if t.body ~= nil then r:set_body(t.body) end
  end
  return r
end
function TXN.done(self, reply)
  if reply == nil then return P.done(self) end
  local names, flat = {}, {}
  for n in pairs(reply.headers) do names[#names + 1] = n end
  table.sort(names)
  for _, n in ipairs(names) do
    for _, v in ipairs(reply.headers[n]) do flat[#flat + 1] = n; flat[#flat + 1] = v end
  end
  return P.done(self, reply.status, reply.reason, flat, reply.body)
end
local function headers(flat)
  local t, n = {}, {}
  for i = 1, #flat, 2 do
    local name, value = flat[i], flat[i + 1]
    local e = t[name]
    if e == nil then e = {}; t[name] = e; n[name] = 0 end
    e[n[name]] = value
    n[name] = n[name] + 1
  end
  return t
end
for _, side in ipairs({ "req", "res" }) do
  local res = side == "res"
  HTTP[side .. "_get_headers"] = function(self) return headers(P.headers(self[0], res)) end
  HTTP[side .. "_set_header"] = function(self, n, v) return P.header(self[0], res, "set", n, v) end
  HTTP[side .. "_add_header"] = function(self, n, v) return P.header(self[0], res, "add", n, v) end
  HTTP[side .. "_del_header"] = function(self, n) return P.header(self[0], res, "del", n) end
  HTTP[side .. "_rep_header"] = function(self, n, re, with) return P.header(self[0], res, "rep", n, re, with) end
  HTTP[side .. "_rep_value"] = function(self, n, re, with) return P.header(self[0], res, "repval", n, re, with) end
end
for _, part in ipairs({ "method", "path", "query", "uri" }) do
  HTTP["req_set_" .. part] = function(self, v) return P.set_target(self[0], part, v) end
end
function HTTP.res_set_status(self, status, reason) return P.set_status(self[0], status, reason) end
-- Fetches and Converters objects: a method per keyword, made on first use. A name that
-- is no keyword is nil, as in HAProxy's classes, so calling it raises Lua's own "attempt
-- to call a nil value (method 'x')" at the script's line.
local function keywords(prim, strict, class)
  local cache, text = {}, "HAProxy class " .. class
  return { __index = function(_, name)
    local f = cache[name]
    if f == nil then
      if type(name) ~= "string" or not P.known(prim, name) then return nil end
      f = function(self, ...) return P[prim](self[0], name, strict, ...) end
      cache[name] = f
    end
    return f
  end, __tostring = function() return text end }
end
local f_mt, sf_mt = keywords("fetch", 0, "Fetches"), keywords("fetch", 1, "Fetches")
local c_mt, sc_mt = keywords("conv", false, "Converters"), keywords("conv", true, "Converters")
-- A TXN's f, sf, c, sc, http, req and res objects are made at their first use (a call
-- uses one or none of them), then kept in the TXN: a stream's garbage is one table.
-- `http` is nil on a TCP stream, as in HAProxy.
local subs = { f = f_mt, sf = sf_mt, c = c_mt, sc = sc_mt, http = http_mt }
-- `t[0]` is always set and `txn_mt` has no `__newindex`: plain indexing, no rawget/rawset
-- calls (this runs once per sub-object and transaction).
function txn_mt.__index(t, k)
  local m = TXN[k]
  if m ~= nil then return m end
  local ud = t[0]
  local o
  if k == "req" or k == "res" then
    o = P.new_channel(ud, k == "res")
  else
    local mt = subs[k]
    if mt == nil or (k == "http" and P.ch_is_tcp(ud)) then return nil end
    o = setmetatable({ [0] = ud }, mt)
  end
  t[k] = o
  return o
end
-- new_txn builds the TXN itself from Rust.
P.set_metatable(txn_mt)
-- A service's f, sf, c, sc (AppletHTTP): the same objects on its stream's handle, its
-- fetches without HTTP rights (fetch flag 2), as HAProxy makes them.
local svc_subs = { f = keywords("fetch", 2, "Fetches"), sf = keywords("fetch", 3, "Fetches"), c = c_mt, sc = sc_mt }
P.set_svc_sub(function(ud, k)
  local mt = svc_subs[k]
  if mt ~= nil then return setmetatable({ [0] = ud }, mt) end
end)
"#;

/// Installs the global `act` table: HAProxy's action return codes.
pub fn install_act(state: &crate::lua::State) -> Result<(), LuaError> {
    state.exec(
        b"act = { CONTINUE = 0, STOP = 1, YIELD = 2, ERROR = 3, DONE = 4, DENY = 5, ABORT = 6, INVALID = 7 }",
        "=act",
    )?;
    Ok(())
}

/// Makes the `TXN` object of the stream whose Lua context is `handle` (see the module
/// comment), kept in the registry: the stream makes it once, at its first Lua call, and
/// hands it to every action and fetch it runs. Builds the classes on first use.
///
/// The table is built here rather than by a Lua function: one table, sized at creation,
/// in one protected call, with no Lua code run (its `f`, `sf`, `c`, `sc` and `http`
/// objects come at their first use, [`CLASSES`]).
pub fn new_txn(state: &crate::lua::State, handle: Handle) -> Result<RegistryRef, LuaError> {
    install_classes(state)?;
    let txn_mt = TXN_MT.with(|w| w.borrow().as_ref().map(RegistryRef::id));
    let txn_mt = txn_mt.ok_or_else(|| LuaError::message("the TXN classes did not install"))?;
    let l = state.raw();
    // The main thread is used between calls or under a Rust callback of a running task (a
    // fetch reached from a script), where its stack is free above the guard's top; the
    // closure leaves the TXN alone on the stack, which from_top pops into the registry.
    // SAFETY: stack use as said above; the closure captures Copy values only and holds no
    // value with a destructor, so a memory error raised inside unwinds nothing.
    unsafe {
        let _guard = crate::lua::state::StackGuard::new(l);
        if ffi::lua_checkstack(l, 6) == 0 {
            return Err(LuaError::Memory);
        }
        crate::lua::state::protect(l, 0, 1, move |l| {
            ffi::lua_rawgeti(l, ffi::LUA_REGISTRYINDEX, ffi::lua_Integer::from(txn_mt));
            ffi::lua_pushlightuserdata(l, handle_word(handle));
            // [txn_mt, ud]; room for [0] and the first sub-objects a call makes (`http`,
            // `f`, ...), which would otherwise resize the table at the first one.
            ffi::lua_createtable(l, 0, 4);
            ffi::lua_rotate(l, -2, 1);
            ffi::lua_rawseti(l, -2, 0);
            // [txn_mt, txn]
            ffi::lua_rotate(l, -2, 1);
            ffi::lua_setmetatable(l, -2);
            1
        })?;
        RegistryRef::from_top(state, l)
    }
}

/// Builds the `TXN` classes of `state` (once).
pub(crate) fn install_classes(state: &crate::lua::State) -> Result<(), LuaError> {
    if TXN_MT.with(|w| w.borrow().is_none()) {
        let mut prologue = String::from("local P = {}\n");
        for (name, f) in PRIMITIVES {
            let global = format!("__moonproxy_txn_{}", name.to_str().unwrap_or(""));
            state.set_global_function(&global, f)?;
            prologue.push_str(&format!(
                "P[\"{}\"] = {global}; {global} = nil\n",
                name.to_str().unwrap_or("")
            ));
        }
        for (name, f) in super::channel::PRIMITIVES {
            let name = name.to_str().unwrap_or("");
            let global = format!("__moonproxy_txn_{name}");
            state.set_global_function(&global, f)?;
            prologue.push_str(&format!("P[\"{name}\"] = {global}; {global} = nil\n"));
        }
        for (name, f) in super::txn_extra::PRIMITIVES {
            let name = name.to_str().unwrap_or("");
            let global = format!("__moonproxy_txn_{name}");
            state.set_global_function(&global, f)?;
            prologue.push_str(&format!("P[\"{name}\"] = {global}; {global} = nil\n"));
        }
        for (name, f) in super::filter_msg::PRIMITIVES.iter().chain(super::filter::PRIMITIVES) {
            let name = name.to_str().unwrap_or("");
            let global = format!("__moonproxy_txn_{name}");
            state.set_global_function(&global, f)?;
            prologue.push_str(&format!("P[\"{name}\"] = {global}; {global} = nil\n"));
        }
        prologue.push_str(super::channel::CLASS);
        prologue.push_str(CLASSES);
        prologue.push_str(super::txn_extra::CLASS);
        // The filters' `HTTPMessage` class and driver use the `HTTP` helpers above.
        prologue.push_str(super::filter_msg::CLASS);
        prologue.push_str(super::filter::CLASS);
        state.exec(prologue.as_bytes(), "=txn")?;
    }
    Ok(())
}

/// The registry id of `svc_sub(ud, k)`, the maker of a service's `f`, `sf`, `c` and `sc`
/// objects (`AppletHTTP`), once [`install_classes`] ran.
pub(crate) fn svc_sub_ref() -> Option<c_int> {
    SVC_SUB.with(|w| w.borrow().as_ref().map(RegistryRef::id))
}

static PRIMITIVES: &[(&std::ffi::CStr, &RustFunction)] = &[
    (c"set_metatable", &SET_TXN_MT),
    (c"set_svc_sub", &SET_SVC_SUB),
    (c"handle", &HANDLE),
    (c"set_var", &SET_VAR),
    (c"get_var", &GET_VAR),
    (c"unset_var", &UNSET_VAR),
    (c"log", &LOG),
    (c"Debug", &DEBUG),
    (c"Info", &INFO),
    (c"Warning", &WARNING),
    (c"Alert", &ALERT),
    (c"set_loglevel", &SET_LOGLEVEL),
    (c"done", &DONE),
    (c"headers", &HEADERS),
    (c"header", &HEADER),
    (c"set_target", &SET_TARGET),
    (c"set_status", &SET_STATUS),
    (c"fetch", &FETCH),
    (c"conv", &CONV),
    (c"known", &KNOWN),
];

static SET_SVC_SUB: RustFunction = RustFunction::new("set_svc_sub", |ctx| {
    let f = ref_first_arg(ctx)?;
    SVC_SUB.with(|w| *w.borrow_mut() = Some(f));
    Ok(0)
});

static SET_TXN_MT: RustFunction = RustFunction::new("set_metatable", |ctx| {
    let f = ref_first_arg(ctx)?;
    TXN_MT.with(|w| *w.borrow_mut() = Some(f));
    Ok(0)
});

/// A registry reference to the first argument (the Lua function a class's prelude hands
/// over: `set_metatable`, `set_wrapper`).
pub(crate) fn ref_first_arg(ctx: &mut CallCtx) -> Result<RegistryRef, LuaError> {
    ref_arg(ctx, 1)
}

/// A registry reference to argument `n`.
pub(crate) fn ref_arg(ctx: &mut CallCtx, n: c_int) -> Result<RegistryRef, LuaError> {
    let core = super::core::core()?;
    ctx.reserve(1)?;
    let l = ctx.raw();
    // SAFETY: lua_pushvalue never raises (room reserved); from_top runs luaL_ref protected
    // and pops the copy.
    unsafe {
        ffi::lua_pushvalue(l, n);
        RegistryRef::from_top(&core.state, l)
    }
}

static HANDLE: RustFunction = RustFunction::new("handle", |ctx| {
    let h = txn_handle(ctx)?;
    ctx.push_integer(i64::from(h.key))?;
    ctx.push_integer(i64::from(h.generation))?;
    Ok(2)
});

/// The live handle of the `TXN` at argument 1: the light userdata itself (what
/// `txn.http` and `txn.f` pass) or a table holding it at `[0]` (the `TXN`, or any object
/// made at its first use from it: [`CLASSES`]), which replaces it on the stack.
pub(crate) fn txn_handle(ctx: &mut CallCtx) -> Result<Handle, LuaError> {
    ctx.unwrap_object(1)?;
    let l = ctx.raw();
    // SAFETY: reading a stack slot's type and light userdata never raises.
    let word = unsafe {
        (ffi::lua_type(l, 1) == ffi::LUA_TLIGHTUSERDATA).then(|| ffi::lua_touserdata(l, 1) as usize)
    };
    let word = word.ok_or_else(|| ctx.arg_error(1, &format!("TXN expected, got {}", ctx.type_name(1))))?;
    let h = Handle {
        key: (word >> 32) as u32,
        generation: word as u32,
    };
    if super::core::core()?.state.handles().is_live(h) {
        Ok(h)
    } else {
        Err(LuaError::runtime("TXN object no longer valid"))
    }
}

/// Runs `f` on the stream of the `TXN` at argument 1: errors when the object is stale
/// (its stream ended) or belongs to a stream other than the one running.
pub(crate) fn with_stream<R>(
    ctx: &mut CallCtx,
    f: impl FnOnce(&mut dyn StreamView) -> R,
) -> Result<R, LuaError> {
    let h = txn_handle(ctx)?;
    host::with_host(|host| match host.stream.as_deref_mut() {
        Some(s) if s.handle() == h => Ok(f(s)),
        _ => Err(LuaError::runtime(
            "TXN object used outside its stream's Lua code",
        )),
    })
    .unwrap_or_else(|| {
        Err(LuaError::runtime(
            "TXN object used outside its stream's Lua code",
        ))
    })
}

/// Argument `n` when it is a string, borrowed from the Lua stack (no copy; numbers are not
/// converted): valid while the argument stays in its slot, that is for the whole call unless
/// the function replaces it.
fn str_arg(ctx: &CallCtx, n: c_int) -> Option<&[u8]> {
    let l = ctx.raw();
    // SAFETY: lua_type and lua_tolstring on a string neither raise nor allocate; the bytes
    // belong to the string anchored by argument slot `n`, which no caller of this function
    // replaces while the borrow (tied to `ctx`) lives.
    unsafe {
        if n > ctx.nargs() || ffi::lua_type(l, n) != ffi::LUA_TSTRING {
            return None;
        }
        let mut len = 0usize;
        let p = ffi::lua_tolstring(l, n, &mut len);
        Some(std::slice::from_raw_parts(p.cast::<u8>(), len))
    }
}

pub(crate) fn var_name(ctx: &CallCtx, n: c_int) -> Result<VarName, LuaError> {
    // The common case, a string argument, is parsed where it lies (no copy).
    if let Some(v) = str_arg(ctx, n).and_then(|b| std::str::from_utf8(b).ok()).and_then(VarName::parse) {
        return Ok(v);
    }
    let name = ctx.string(n)?;
    VarName::parse(&name).ok_or_else(|| {
        LuaError::runtime(format!(
            "invalid variable name '{name}'. A variable name must be start by its scope. The scope can be 'proc', 'sess', 'txn', 'req', 'res' or 'check'"
        ))
    })
}

/// A Lua value as a sample (HAProxy's `hlua_lua2smp`): `None` for types it has no sample for.
pub(crate) fn to_sample(v: Value) -> Option<Sample> {
    Some(match v {
        Value::Boolean(b) => Sample::Bool(b),
        Value::Integer(i) => Sample::Sint(i),
        Value::Number(n) => Sample::Str(super::concat::lua_number_text(n).into_bytes()),
        Value::String(s) => Sample::Str(s),
        Value::Nil | Value::Other(_) => return None,
    })
}

/// Pushes a sample as HAProxy's `hlua_smp2lua` does.
pub(crate) fn push_sample(ctx: &mut CallCtx, s: Option<Sample>) -> Result<(), LuaError> {
    match s {
        None => ctx.push_nil(),
        Some(Sample::Bool(b)) => ctx.push_boolean(b),
        Some(Sample::Sint(i)) => ctx.push_integer(i),
        Some(Sample::Ipv4(a)) => ctx.push_str(&a.to_string()),
        Some(Sample::Ipv6(a)) => ctx.push_str(&a.to_string()),
        Some(Sample::Str(b) | Sample::Bin(b) | Sample::Meth(b)) => ctx.push_bytes(&b),
    }
}

/// `txn:set_var(name, value [, ifexist])`. HAProxy 2.6.12 sets the variable whether or not
/// `ifexist` is given (verified: a variable never set before is created), and so does this.
static SET_VAR: RustFunction = RustFunction::new("set_var", |ctx| {
    let name = var_name(ctx, 2)?;
    let value = to_sample(ctx.value(3));
    with_stream(ctx, |s| match value {
        Some(v) => s.set_var(&name, v),
        None => s.unset_var(&name),
    })?;
    Ok(0)
});

static GET_VAR: RustFunction = RustFunction::new("get_var", |ctx| {
    let name = var_name(ctx, 2)?;
    // Variables keep booleans as integers (HAProxy 2.6 gives `1`, not `true`).
    let v = with_stream(ctx, |s| s.var(&name))?.map(|v| match v {
        Sample::Bool(b) => Sample::Sint(i64::from(b)),
        v => v,
    });
    push_sample(ctx, v)?;
    Ok(1)
});

static UNSET_VAR: RustFunction = RustFunction::new("unset_var", |ctx| {
    let name = var_name(ctx, 2)?;
    with_stream(ctx, |s| s.unset_var(&name))?;
    Ok(0)
});


fn send_log(ctx: &mut CallCtx, level: Level, msg_arg: c_int) -> Result<c_int, LuaError> {
    let msg = String::from_utf8_lossy(&ctx.bytes(msg_arg)?).into_owned();
    with_stream(ctx, |_| ())?;
    let core = super::core::core()?;
    core.log.borrow().send(level, &msg, core.phase.get());
    Ok(0)
}

/// `txn:log(level, msg)`.
static LOG: RustFunction = RustFunction::new("log", |ctx| {
    let n = ctx.integer(2)?;
    let level = super::core::log::level_of(n).ok_or_else(|| ctx.arg_error(2, "Invalid loglevel."))?;
    send_log(ctx, level, 3)
});
static DEBUG: RustFunction = RustFunction::new("Debug", |ctx| send_log(ctx, Level::Debug, 2));
static INFO: RustFunction = RustFunction::new("Info", |ctx| send_log(ctx, Level::Info, 2));
static WARNING: RustFunction = RustFunction::new("Warning", |ctx| send_log(ctx, Level::Warning, 2));
static ALERT: RustFunction = RustFunction::new("Alert", |ctx| send_log(ctx, Level::Alert, 2));

/// `txn:set_loglevel(level)`: the level of the transaction's log line (0..7).
static SET_LOGLEVEL: RustFunction = RustFunction::new("set_loglevel", |ctx| {
    let n = ctx.integer(2)?;
    let level = super::core::log::level_of(n).ok_or_else(|| ctx.arg_error(2, "Invalid loglevel."))?;
    with_stream(ctx, |s| {
        if let Some(t) = s.txn() {
            t.log_level = Some(level);
            t.silent = false;
        }
    })?;
    Ok(0)
});

/// `txn:done([reply])`: the action ends here and the stream closes, or with a reply
/// (`txn:reply()`, passed here as status, reason, `{name, value...}`, body), the reply is
/// sent and the transaction ends. `core.done`'s flag ends the coroutine as finished,
/// which `pcall` cannot catch.
static DONE: RustFunction = RustFunction::new("done", |ctx| {
    let reply = if ctx.nargs() >= 2 {
        let status = ctx.integer(2)?;
        let status = u16::try_from(status)
            .ok()
            .filter(|s| (100..=999).contains(s));
        let status = status.ok_or_else(|| ctx.arg_error(2, "invalid status code"))?;
        let reason = match ctx.type_name(3) {
            "string" => ctx.bytes(3)?,
            _ => crate::http::rules::reason_phrase(status)
                .as_bytes()
                .to_vec(),
        };
        let flat = string_array(ctx, 4)?;
        let body = ctx.bytes(5)?;
        Some((status, reason, flat, body))
    } else {
        None
    };
    with_stream(ctx, |s| {
        let Some((status, reason, flat, body)) = reply else {
            return s.done();
        };
        let head = s
            .txn()
            .and_then(|t| t.req.as_ref())
            .is_some_and(|r| r.line.method == crate::http::Method::Head);
        let mut out = format!("HTTP/1.1 {status} ").into_bytes();
        out.extend_from_slice(&reason);
        out.extend_from_slice(b"\r\n");
        for pair in flat.chunks(2) {
            let [name, value] = pair else { break };
            if name.eq_ignore_ascii_case(b"content-length")
                || value.iter().any(|&b| b == b'\r' || b == b'\n')
            {
                continue;
            }
            out.extend_from_slice(&name.to_ascii_lowercase());
            out.extend_from_slice(b": ");
            out.extend_from_slice(value);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(format!("content-length: {}\r\n\r\n", body.len()).as_bytes());
        if !head {
            out.extend_from_slice(&body);
        }
        s.reply(out);
    })?;
    let core = super::core::core()?;
    core.done.set(true);
    ctx.yield_now(crate::lua::WaitReason::Other)?;
    Ok(0)
});

/// The strings of table argument `n` at `1..#t` (other values are skipped).
fn string_array(ctx: &mut CallCtx, n: c_int) -> Result<Vec<Vec<u8>>, LuaError> {
    if ctx.type_name(n) != "table" {
        return Err(ctx.arg_error(n, &format!("table expected, got {}", ctx.type_name(n))));
    }
    ctx.reserve(1)?;
    let l = ctx.raw();
    let mut out = Vec::new();
    // SAFETY: lua_rawlen and lua_rawgeti call no metamethod and do not allocate; read_value
    // copies the value out and lua_pop drops it; one slot reserved.
    unsafe {
        let len = ffi::lua_rawlen(l, n) as i64;
        for i in 1..=len {
            ffi::lua_rawgeti(l, n, i);
            let v = crate::lua::state::read_value(l, -1);
            ffi::lua_pop(l, 1);
            if let Value::String(b) = v {
                out.push(b);
            }
        }
    }
    Ok(out)
}

/// `P.headers(ud, res)`: `{name1, value1, name2, value2...}`, names in lower case.
static HEADERS: RustFunction = RustFunction::new("headers", |ctx| {
    let res = ctx.boolean(2);
    let flat: Vec<Vec<u8>> = with_stream(ctx, |s| {
        let Some(t) = s.txn() else { return Vec::new() };
        let h = if res {
            t.res.as_ref().map(|r| &r.headers)
        } else {
            t.req.as_ref().map(|r| &r.headers)
        };
        let mut out = Vec::new();
        for f in h.into_iter().flat_map(|h| h.iter()) {
            out.push(f.name.to_ascii_lowercase().into_bytes());
            out.push(f.value.clone());
        }
        out
    })?;
    let items: Vec<&[u8]> = flat.iter().map(Vec::as_slice).collect();
    ctx.push_string_array(&items)?;
    Ok(1)
});

/// A header value may not hold CR, LF or NUL.
fn checked_value(ctx: &CallCtx, n: c_int) -> Result<Vec<u8>, LuaError> {
    let v = ctx.bytes(n)?;
    if v.iter().any(|&b| b == b'\r' || b == b'\n' || b == 0) {
        return Err(ctx.arg_error(n, "invalid header value"));
    }
    Ok(v)
}

/// `P.header(ud, res, op, name [, value | regex, with])`: set, add, del, rep, repval.
static HEADER: RustFunction = RustFunction::new("header", |ctx| {
    let res = ctx.boolean(2);
    let op = str_arg(ctx, 3).unwrap_or_default();
    let name = match str_arg(ctx, 4) {
        Some(b) => String::from_utf8_lossy(b).into_owned(),
        None => ctx.string(4)?,
    };
    enum Op {
        Set(Vec<u8>),
        Add(Vec<u8>),
        Del,
        Rep(crate::sample::regex::Regex, Vec<u8>, bool),
    }
    let op = match op {
        b"set" => Op::Set(checked_value(ctx, 5)?),
        b"add" => Op::Add(checked_value(ctx, 5)?),
        b"del" => Op::Del,
        b"rep" | b"repval" => {
            let re = ctx.string(5)?;
            let re = crate::sample::regex::Regex::new(re.as_bytes(), false)
                .map_err(|e| LuaError::runtime(e.to_string()))?;
            Op::Rep(re, checked_value(ctx, 6)?, op == b"repval")
        }
        _ => return Err(LuaError::runtime("unknown header operation")),
    };
    with_stream(ctx, |s| {
        let Some(t) = s.txn() else { return };
        let h = if res {
            t.res.as_mut().map(|r| &mut r.headers)
        } else {
            t.req.as_mut().map(|r| &mut r.headers)
        };
        let Some(h) = h else { return };
        match op {
            Op::Set(v) => h.set(name, v),
            Op::Add(v) => h.add(name, v),
            Op::Del => {
                h.del(&name);
            }
            Op::Rep(re, with, per_value) => {
                crate::http::rules::replace_header(h, &name, &re, &with, per_value)
            }
        }
    })?;
    Ok(0)
});

/// `P.set_target(ud, part, value)`: `req_set_method/path/query/uri`.
static SET_TARGET: RustFunction = RustFunction::new("set_target", |ctx| {
    let part = ctx.string(2)?;
    let value = ctx.string(3)?;
    let ok = with_stream(ctx, |s| {
        let Some(req) = s.txn().and_then(|t| t.req.as_mut()) else {
            return false;
        };
        crate::http::rules::set_request_part(req, &part, &value)
    })?;
    ctx.push_boolean(ok)?;
    Ok(1)
});

/// `P.set_status(ud, status [, reason])`.
static SET_STATUS: RustFunction = RustFunction::new("set_status", |ctx| {
    let status = ctx.integer(2)?;
    let Ok(status) = u16::try_from(status).map(|s| s.clamp(100, 999)) else {
        return Err(ctx.arg_error(2, "invalid status code"));
    };
    let reason = if ctx.nargs() >= 3 && ctx.type_name(3) == "string" {
        Some(ctx.bytes(3)?)
    } else {
        None
    };
    with_stream(ctx, |s| {
        if let Some(res) = s.txn().and_then(|t| t.res.as_mut()) {
            res.line.status = status;
            res.line.reason = reason.unwrap_or_else(|| {
                crate::http::rules::reason_phrase(status)
                    .as_bytes()
                    .to_vec()
            });
        }
    })?;
    Ok(0)
});

/// The native fetch a Lua name stands for: HAProxy's Lua names replace `.` and `-` by `_`
/// (`req_hdr` is `req.hdr`), so each `_` is tried as `.`, `-` and `_`.
pub fn demangle(lua_name: &str) -> Option<&'static str> {
    let positions: Vec<usize> = lua_name.match_indices('_').map(|(i, _)| i).collect();
    if positions.len() > 6 {
        return crate::sample::fetch::lookup(lua_name).map(|f| f.name);
    }
    let mut name = lua_name.as_bytes().to_vec();
    for combo in 0..3usize.pow(positions.len() as u32) {
        let mut c = combo;
        for &p in &positions {
            name[p] = [b'.', b'-', b'_'][c % 3];
            c /= 3;
        }
        let candidate = std::str::from_utf8(&name).ok()?;
        if let Some(f) = crate::sample::fetch::lookup(candidate) {
            return Some(f.name);
        }
    }
    None
}

/// `txn.f:<name>(args...)` / `txn.sf:<name>(args...)`: the native fetch on the stream;
/// `f` gives nil when it has no value, `sf` an empty string (and strings for every type).
static FETCH: RustFunction = RustFunction::new("fetch", |ctx| {
    // The method name, a string the class passes: read in place.
    let lua_name = str_arg(ctx, 2).and_then(|b| std::str::from_utf8(b).ok()).unwrap_or_default();
    let flags = ctx.integer(3)?;
    let strict = flags & FETCH_STRICT != 0;
    let Some(name) = demangle(lua_name) else {
        return Err(LuaError::runtime(format!(
            "attempt to call a nil value (method '{lua_name}')"
        )));
    };
    if flags & FETCH_SERVICE != 0 && is_http_fetch(name) {
        // No position, as HAProxy raises it.
        return Err(LuaError::message(format!(
            "the sample-fetch '{name}' needs an HTTP parser which is not available in Lua services"
        )));
    }
    let text = call_text(ctx, name, 4); // (txn, name, strict, args...)
    let expr = Expr::parse(&text).map_err(|e| LuaError::runtime(format!("{lua_name}: {e}")))?;
    let v = with_stream(ctx, |s| s.eval(&expr))?;
    if strict {
        let bytes = v.and_then(Sample::into_bytes).unwrap_or_default();
        ctx.push_bytes(&bytes)?;
    } else {
        push_sample(ctx, v)?;
    }
    Ok(1)
});

/// `P.known(kind, lua_name)`: whether a `Fetches` (`kind` "fetch") or `Converters`
/// ("conv") object has the method `lua_name` (else it is nil, as in HAProxy).
static KNOWN: RustFunction = RustFunction::new("known", |ctx| {
    let kind = str_arg(ctx, 1).unwrap_or_default();
    let name = str_arg(ctx, 2).and_then(|b| std::str::from_utf8(b).ok()).unwrap_or_default();
    let known = match kind {
        b"fetch" => demangle(name).is_some(),
        _ => demangle_conv(name).is_some(),
    };
    ctx.push_boolean(known)?;
    Ok(1)
});

/// A fetch of the HTTP message (HAProxy's `SMP_USE_HTTP_ANY`): one of `fetch_http`'s.
fn is_http_fetch(name: &str) -> bool {
    crate::sample::fetch_http::lookup(name).is_some_and(|f| f.name == name)
        && !crate::sample::fetch::FETCHES.iter().any(|f| f.name == name)
}

/// `name(arg1,arg2...)` from the Lua arguments from `first` on, as configuration text
/// (plain `name` without any).
fn call_text(ctx: &CallCtx, name: &str, first: c_int) -> String {
    if ctx.nargs() < first {
        return name.to_string();
    }
    let args: Vec<String> = (first..=ctx.nargs())
        .map(|n| match ctx.value(n) {
            Value::String(s) => String::from_utf8_lossy(&s).into_owned(),
            Value::Integer(i) => i.to_string(),
            Value::Number(f) => super::concat::lua_number_text(f),
            Value::Boolean(b) => b.to_string(),
            _ => String::new(),
        })
        .collect();
    format!("{name}({})", args.join(","))
}

/// The native converter a Lua method name stands for (`.`, `-` and `+` become `_`).
pub fn demangle_conv(lua_name: &str) -> Option<&'static str> {
    crate::sample::conv::all()
        .map(|c| c.name)
        .find(|n| n.replace(['.', '-', '+'], "_") == lua_name)
}

/// `txn.c:NAME(input, args...)` / `txn.sc:...`: a native converter applied to a value;
/// no result is `nil` (`c`) or `""` (`sc`).
static CONV: RustFunction = RustFunction::new("conv", |ctx| {
    let lua_name = ctx.string(2)?;
    let strict = ctx.boolean(3);
    let Some(name) = demangle_conv(&lua_name) else {
        return Err(LuaError::runtime(format!(
            "attempt to call a nil value (method '{lua_name}')"
        )));
    };
    let input = match ctx.value(4) {
        Value::String(s) => Sample::Str(s),
        Value::Integer(i) => Sample::Sint(i),
        Value::Number(f) => Sample::Sint(f as i64),
        Value::Boolean(b) => Sample::Bool(b),
        // HAProxy's `hlua_lua2smp`: nil and any other value are the boolean false
        // (`txn.c:lower(nil)` is "0").
        _ => Sample::Bool(false),
    };
    let text = call_text(ctx, name, 5); // (txn, name, strict, input, args...)
    let v = with_stream(ctx, |s| s.convert(&text, input))?
        .map_err(|e| LuaError::runtime(format!("{lua_name}: {e}")))?;
    if strict {
        let bytes = v.and_then(Sample::into_bytes).unwrap_or_default();
        ctx.push_bytes(&bytes)?;
    } else {
        push_sample(ctx, v)?;
    }
    Ok(1)
});

#[cfg(test)]
mod tests {
    #[test]
    fn lua_names_find_native_fetches() {
        assert_eq!(super::demangle("req_hdr"), Some("req.hdr"));
        assert_eq!(super::demangle("src"), Some("src"));
        assert_eq!(super::demangle("be_name"), Some("be_name"));
        assert_eq!(super::demangle("no_such_fetch"), None);
    }
}
