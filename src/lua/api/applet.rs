//! The `AppletHTTP` class (HAProxy's `hlua_appletHTTP`): what a Lua service registered
//! with `core.register_service(name, "http", fn)` receives.
//!
//! The stream side (`crate::stream::service`) opens an applet context for each service
//! call ([`open`], with the request body it read) and runs the call as a coroutine of
//! `wrapper(fn, key, generation)`: the wrapper makes the applet (`P.new`) and calls
//! `fn(applet)` as a tail call. The applet is a Lua table, as in HAProxy: `[0]` holds a
//! userdata with the [`Handle`] of the service's context, and `method`, `path`, `qs`,
//! `version`, `length` are plain fields read from the stream's request when the applet
//! is made. `headers` (0-indexed arrays per lower-cased name) is built the first time a
//! script reads it, by the metatable's `__index`, and then kept in the table: a service
//! that never looks at the headers does not pay for them.
//!
//! The methods are Rust functions working on the context of the handle (a thread-local
//! map of `Applet` contexts): the request body is kept there and `receive`/`getline` hand out
//! pieces of it (they never wait: the stream read the body before the service started);
//! `set_status`, `add_header` and `start_response` build the response head as a
//! structure ([`ResponseHead`]), and `send` appends body bytes. The stream takes the head
//! once ([`take_head`]) to run the response rules on it and serialize it, and the body
//! bytes whenever the service yields or ends ([`take_body`]): a service that fails after
//! `start_response` still leaves what it produced, one that fails before it leaves
//! nothing (the stream answers 500).
use crate::http::Headers;
use crate::lua::host::{self, StreamView};
use crate::lua::{CallCtx, Class, Handle, LuaError, RegistryRef, RustFunction};
use lua54_sys as ffi;
use std::cell::RefCell;
use std::collections::HashMap;
use std::os::raw::c_int;

/// The userdata at `applet[0]`.
pub static APPLET_CLASS: Class<Handle> = Class::new("AppletHTTP", &[]);

/// The response head a service built with `set_status`, `add_header` and
/// `start_response`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseHead {
    pub status: u16,
    /// `set_status`'s reason, if given (else the status's usual phrase).
    pub reason: Option<Vec<u8>>,
    /// In the order added, names lower-cased.
    pub headers: Headers,
}

/// The context of one service call.
#[derive(Debug)]
struct Applet {
    status: u16,
    reason: Option<Vec<u8>>,
    headers: Headers,
    /// `start_response` ran.
    started: bool,
    /// The head, from `start_response` until the stream takes it.
    head: Option<ResponseHead>,
    /// Body bytes sent and not yet taken by the stream.
    body: Vec<u8>,
    /// The request body, and how far `receive`/`getline` read it.
    request: Vec<u8>,
    pos: usize,
}

thread_local! {
    static WRAPPER: RefCell<Option<RegistryRef>> = const { RefCell::new(None) };
    /// The applet metatable (its `__index` holds the methods and builds `headers`).
    static META: RefCell<Option<RegistryRef>> = const { RefCell::new(None) };
    static APPLETS: RefCell<HashMap<Handle, Applet>> = RefCell::new(HashMap::new());
}

/// Opens the context of the service call of `handle`, with the request body it reads.
pub fn open(handle: Handle, request: Vec<u8>) {
    let applet = Applet {
        status: 200,
        reason: None,
        headers: Headers::new(),
        started: false,
        head: None,
        body: Vec::new(),
        request,
        pos: 0,
    };
    APPLETS.with(|a| a.borrow_mut().insert(handle, applet));
}

/// Forgets the context of `handle` (the service call ended).
pub fn close(handle: Handle) {
    APPLETS.with(|a| a.borrow_mut().remove(&handle));
}

/// Whether the service of `handle` started its response.
pub fn peek_started(handle: Handle) -> bool {
    APPLETS.with(|a| a.borrow().get(&handle).is_some_and(|s| s.started))
}

/// The response head of the service of `handle`, once: `None` before `start_response`
/// and after the first call.
pub fn take_head(handle: Handle) -> Option<ResponseHead> {
    APPLETS.with(|a| a.borrow_mut().get_mut(&handle).and_then(|s| s.head.take()))
}

/// Moves the body bytes the service sent since the last call to the end of `out`.
pub fn take_body(handle: Handle, out: &mut Vec<u8>) {
    APPLETS.with(|a| {
        if let Some(s) = a.borrow_mut().get_mut(&handle) {
            if out.is_empty() {
                std::mem::swap(out, &mut s.body);
            } else {
                out.append(&mut s.body);
            }
        }
    })
}

/// Builds the class (once per state): the methods, the metatable, the wrapper.
const CLASSES: &str = r#"
local Applet = {}
for _, m in ipairs({ "set_status", "add_header", "start_response", "send", "receive", "getline",
                     "set_var", "get_var", "unset_var" }) do
  Applet[m] = P[m]
end
local privs = setmetatable({}, { __mode = "k" })
function Applet.get_priv(self) return privs[self] end
function Applet.set_priv(self, v) privs[self] = v end
local headers, rawset, rawget, pairs, tostring = P.headers, rawset, rawget, pairs, tostring
local svc_sub, word = P.svc_sub(), P.word
-- `applet.response` (undocumented in HAProxy, filled by add_header and read by
-- start_response): made on first read from the headers added so far; from then on the
-- table is the list of headers, and this applet's add_header/start_response go through it.
local function add_header_t(self, n, v)
  P.add_header(self, n, v)
  local r = rawget(self, "response")
  local e = r[n]
  if e == nil then e = {}; r[n] = e end
  e[#e + 1] = tostring(v)
end
local function start_response_t(self)
  local flat = {}
  for n, vs in pairs(rawget(self, "response")) do
    if type(vs) == "table" then
      for _, v in pairs(vs) do flat[#flat + 1] = tostring(n); flat[#flat + 1] = tostring(v) end
    end
  end
  P.set_headers(self, flat)
  return P.start_response(self)
end
local function response(self)
  local r, flat = {}, P.added(self)
  for i = 1, #flat, 2 do
    local e = r[flat[i]]
    if e == nil then e = {}; r[flat[i]] = e end
    e[#e + 1] = flat[i + 1]
  end
  rawset(self, "add_header", add_header_t)
  rawset(self, "start_response", start_response_t)
  return r
end
local lazy = { f = true, sf = true, c = true, sc = true }
P.set_meta({ __index = function(self, k)
  local m = Applet[k]
  if m ~= nil then return m end
  local v
  if k == "headers" then
    v = headers(self)
  elseif k == "response" then
    v = response(self)
  elseif lazy[k] then
    v = svc_sub(word(self), k)
  else
    return nil
  end
  rawset(self, k, v)
  return v
end, __tostring = function() return "HAProxy class AppletHTTP" end })
local new = P.new
P.set_wrapper(function(fn, key, gen) return fn(new(key, gen)) end)
"#;

static PRIMITIVES: &[(&std::ffi::CStr, &RustFunction)] = &[
    (c"set_wrapper", &SET_WRAPPER),
    (c"set_meta", &SET_META),
    (c"new", &NEW),
    (c"headers", &HEADERS),
    (c"set_status", &SET_STATUS),
    (c"add_header", &ADD_HEADER),
    (c"start_response", &START_RESPONSE),
    (c"send", &SEND),
    (c"receive", &RECEIVE),
    (c"getline", &GETLINE),
    (c"set_var", &SET_VAR),
    (c"get_var", &GET_VAR),
    (c"unset_var", &UNSET_VAR),
    (c"svc_sub", &SVC_SUB),
    (c"word", &WORD),
    (c"added", &ADDED),
    (c"set_headers", &SET_HEADERS),
];

/// Pushes the wrapper every service call goes through (see the module comment) on
/// `task`; builds the class on first use.
pub fn push_wrapper(state: &crate::lua::State, task: &mut crate::lua::Task) -> Result<(), LuaError> {
    if WRAPPER.with(|w| w.borrow().is_none()) {
        // `f`, `sf`, `c`, `sc` are the TXN classes' (`super::txn::svc_sub_ref`).
        super::txn::install_classes(state)?;
        let mut prologue = String::from("local P = {}\n");
        for (name, f) in PRIMITIVES {
            let name = name.to_str().unwrap_or("");
            let global = format!("__moonproxy_applet_{name}");
            state.set_global_function(&global, f)?;
            prologue.push_str(&format!("P[\"{name}\"] = {global}; {global} = nil\n"));
        }
        prologue.push_str(CLASSES);
        state.exec(prologue.as_bytes(), "=applet")?;
    }
    WRAPPER.with(|w| match w.borrow().as_ref() {
        Some(f) => task.push_function(f),
        None => Err(LuaError::message("the AppletHTTP class did not install")),
    })
}

static SET_WRAPPER: RustFunction = RustFunction::new("set_wrapper", |ctx| {
    let f = super::txn::ref_first_arg(ctx)?;
    WRAPPER.with(|w| *w.borrow_mut() = Some(f));
    Ok(0)
});

static SET_META: RustFunction = RustFunction::new("set_meta", |ctx| {
    let f = super::txn::ref_first_arg(ctx)?;
    META.with(|m| *m.borrow_mut() = Some(f));
    Ok(0)
});

/// A byte string borrowed for the length of one raw building step (Copy, so a protected
/// closure may capture it).
#[derive(Clone, Copy)]
struct Raw(*const u8, usize);

impl Raw {
    fn of(b: &[u8]) -> Raw {
        Raw(b.as_ptr(), b.len())
    }
}

/// `P.new(key, generation)`: the applet table of the service call of that handle, its
/// fields read from the stream's request.
static NEW: RustFunction = RustFunction::new("new", |ctx| {
    let key = u32::try_from(ctx.integer(1)?).map_err(|_| ctx.arg_error(1, "bad key"))?;
    let generation = u32::try_from(ctx.integer(2)?).map_err(|_| ctx.arg_error(2, "bad generation"))?;
    let handle = Handle { key, generation };
    let length = APPLETS.with(|a| a.borrow().get(&handle).map(|s| s.request.len()));
    let length = length.ok_or_else(|| LuaError::runtime("AppletHTTP object used outside its service"))? as i64;
    let meta = META.with(|m| m.borrow().as_ref().map(RegistryRef::id));
    let meta = meta.ok_or_else(|| LuaError::message("the AppletHTTP class did not install"))?;
    ctx.reserve(8)?;
    with_own_stream(handle, |s| {
        let req = s.txn().and_then(|t| t.req.as_ref()).ok_or_else(|| LuaError::runtime("no request"))?;
        // HAProxy's `path` and `qs` come from the path of the URI: an absolute-form
        // target (any request over HTTP/2) loses its scheme and authority.
        let target = req.line.origin_form().as_bytes();
        let (path, qs) = match target.iter().position(|&b| b == b'?') {
            Some(i) => (&target[..i], &target[i + 1..]),
            None => (target, &b""[..]),
        };
        let (method, version) = (Raw::of(req.line.method.as_str().as_bytes()), Raw::of(req.line.version.as_str().as_bytes()));
        let (path, qs) = (Raw::of(path), Raw::of(qs));
        let mut ud = Some(handle);
        let ud_ptr: *mut Option<Handle> = &mut ud;
        // The closure pushes exactly one value (the table: every other push is popped by the
        // set that follows it), using at most 3 slots (8 reserved). `allocating` protects
        // it when a memory limit is set.
        // SAFETY: the closure captures raw pointers into the request (borrowed for this
        // whole call) and to `ud`, a local of this frame; stack use as said above.
        unsafe {
            ctx.allocating(move |l| {
                ffi::lua_createtable(l, 0, 7);
                crate::lua::userdata::push(l, &APPLET_CLASS, ud_ptr);
                ffi::lua_rawseti(l, -2, 0);
                for (name, v) in [(c"method", method), (c"path", path), (c"qs", qs), (c"version", version)] {
                    ffi::lua_pushlstring(l, v.0.cast(), v.1);
                    ffi::lua_setfield(l, -2, name.as_ptr());
                }
                ffi::lua_pushinteger(l, length);
                ffi::lua_setfield(l, -2, c"length".as_ptr());
                ffi::lua_rawgeti(l, ffi::LUA_REGISTRYINDEX, ffi::lua_Integer::from(meta));
                ffi::lua_setmetatable(l, -2);
                1
            })
        }
    })??;
    Ok(1)
});

/// `P.headers(applet)`: the request headers as HAProxy gives them, a table of 0-indexed
/// arrays per lower-cased name.
static HEADERS: RustFunction = RustFunction::new("headers", |ctx| {
    let handle = applet_handle(ctx)?;
    ctx.reserve(8)?;
    with_own_stream(handle, |s| {
        let req = s.txn().and_then(|t| t.req.as_ref()).ok_or_else(|| LuaError::runtime("no request"))?;
        let groups = req.headers.grouped();
        let groups_ptr: *const Vec<(String, Vec<&[u8]>)> = &groups;
        // The closure pushes exactly one value (the outer table; each inner table and value
        // is popped by the set that stores it), at most 3 slots deep (8 reserved).
        // SAFETY: the closure reads `groups` (alive for this whole call) through a raw
        // pointer and creates nothing with a destructor; stack use as said above.
        unsafe {
            ctx.allocating(move |l| {
                let groups = &*groups_ptr;
                ffi::lua_createtable(l, 0, groups.len() as c_int);
                for (name, values) in groups {
                    ffi::lua_pushlstring(l, name.as_ptr().cast(), name.len());
                    ffi::lua_createtable(l, values.len() as c_int, 1);
                    for (i, v) in values.iter().enumerate() {
                        ffi::lua_pushlstring(l, v.as_ptr().cast(), v.len());
                        ffi::lua_rawseti(l, -2, i as ffi::lua_Integer);
                    }
                    ffi::lua_rawset(l, -3);
                }
                1
            })
        }
    })??;
    Ok(1)
});

/// The handle of the applet at argument 1: the table (its `[0]`, which then replaces it
/// on the stack) or the userdata itself.
fn applet_handle(ctx: &mut CallCtx) -> Result<Handle, LuaError> {
    ctx.unwrap_object(1)?;
    ctx.handle(1, &APPLET_CLASS)
}

/// Runs `f` on the stream running the service of `handle`: an applet kept after its
/// service ended, or used from another stream's code, is refused.
fn with_own_stream<R>(handle: Handle, f: impl FnOnce(&mut dyn StreamView) -> R) -> Result<R, LuaError> {
    let refused = || LuaError::runtime("AppletHTTP object used outside its service");
    host::with_host(|host| match host.stream.as_deref_mut() {
        Some(s) if s.handle() == handle => Ok(f(s)),
        _ => Err(refused()),
    })
    .unwrap_or_else(|| Err(refused()))
}

/// Runs `f` on the context of the applet at argument 1 (see [`with_own_stream`]).
fn with_applet<R>(ctx: &mut CallCtx, f: impl FnOnce(&mut Applet) -> R) -> Result<R, LuaError> {
    let handle = applet_handle(ctx)?;
    with_own_stream(handle, |_| ())?;
    APPLETS.with(|a| a.borrow_mut().get_mut(&handle).map(f))
        .ok_or_else(|| LuaError::runtime("AppletHTTP object used outside its service"))
}

/// Argument `n` as Lua's `tostring` gives it for the types a header value takes.
fn text_arg(ctx: &CallCtx, n: c_int) -> Vec<u8> {
    match ctx.value(n) {
        crate::lua::Value::Boolean(b) => b.to_string().into_bytes(),
        crate::lua::Value::Nil => b"nil".to_vec(),
        _ => ctx.bytes(n).unwrap_or_default(),
    }
}

/// `P.svc_sub()`: the maker of a service's `f`, `sf`, `c`, `sc` objects (`txn.rs`).
pub(super) static SVC_SUB: RustFunction = RustFunction::new("svc_sub", |ctx| {
    let id = super::txn::svc_sub_ref().ok_or_else(|| LuaError::message("the TXN classes did not install"))?;
    ctx.reserve(1)?;
    // SAFETY: a raw get from the registry neither raises nor allocates (room reserved).
    unsafe { ffi::lua_rawgeti(ctx.raw(), ffi::LUA_REGISTRYINDEX, ffi::lua_Integer::from(id)) };
    Ok(1)
});

/// `P.word(applet)`: the applet's stream handle as a `TXN` holds it (`txn::handle_word`),
/// the `[0]` of its `f`, `sf`, `c`, `sc` objects, which then act on the service's stream.
static WORD: RustFunction = RustFunction::new("word", |ctx| {
    let handle = applet_handle(ctx)?;
    ctx.reserve(1)?;
    // SAFETY: pushing a light userdata never raises (room reserved).
    unsafe { ffi::lua_pushlightuserdata(ctx.raw(), super::txn::handle_word(handle)) };
    Ok(1)
});

/// `P.added(applet)`: the headers added so far, as a flat list of names and values.
static ADDED: RustFunction = RustFunction::new("added", |ctx| {
    let flat: Vec<(String, Vec<u8>)> = with_applet(ctx, |a| {
        a.headers.iter().map(|h| (h.name.clone(), h.value.clone())).collect()
    })?;
    ctx.reserve(3)?;
    let flat = &flat;
    // SAFETY: one table pushed, every other push popped by the set after it (3 slots
    // reserved); `allocating` protects the building when a memory limit is set; the closure
    // borrows `flat`, alive for this whole call, and holds nothing to drop.
    unsafe {
        ctx.allocating(move |l| {
            ffi::lua_createtable(l, (flat.len() * 2) as c_int, 0);
            for (i, (n, v)) in flat.iter().enumerate() {
                ffi::lua_pushlstring(l, n.as_ptr().cast(), n.len());
                ffi::lua_rawseti(l, -2, (2 * i + 1) as ffi::lua_Integer);
                ffi::lua_pushlstring(l, v.as_ptr().cast(), v.len());
                ffi::lua_rawseti(l, -2, (2 * i + 2) as ffi::lua_Integer);
            }
            1
        })
    }?;
    Ok(1)
});

/// `P.set_headers(applet, flat)`: replaces the headers added with the names and values of
/// `flat` (strings), what `start_response` sends once a script read `applet.response`.
static SET_HEADERS: RustFunction = RustFunction::new("set_headers", |ctx| {
    let l = ctx.raw();
    let mut pairs = Vec::new();
    // SAFETY: raw reads of argument 2 (checked a table) and of string slots, which neither
    // raise nor allocate; the bytes are copied while the value is on the stack.
    unsafe {
        if ffi::lua_type(l, 2) != ffi::LUA_TTABLE {
            return Err(ctx.arg_error(2, "table expected"));
        }
        let n = ffi::lua_rawlen(l, 2) as ffi::lua_Integer;
        ctx.reserve(1)?;
        let mut i = 1;
        while i < n {
            let mut item = [Vec::new(), Vec::new()];
            for (j, slot) in item.iter_mut().enumerate() {
                ffi::lua_rawgeti(l, 2, i + j as ffi::lua_Integer);
                if ffi::lua_type(l, -1) == ffi::LUA_TSTRING {
                    let mut len = 0usize;
                    let p = ffi::lua_tolstring(l, -1, &mut len);
                    *slot = std::slice::from_raw_parts(p.cast::<u8>(), len).to_vec();
                }
                ffi::lua_settop(l, -2);
            }
            let [mut name, value] = item;
            name.make_ascii_lowercase();
            pairs.push((String::from_utf8_lossy(&name).into_owned(), value));
            i += 2;
        }
    }
    with_applet(ctx, |a| {
        a.headers = Headers::default();
        for (n, v) in pairs {
            a.headers.add(n, v);
        }
    })?;
    Ok(0)
});

/// `applet:set_status(code [, reason])`.
static SET_STATUS: RustFunction = RustFunction::new("set_status", |ctx| {
    let status = ctx.integer(2).map_err(|_| ctx.arg_error(1, "integer expected"))?;
    let status = u16::try_from(status).map_err(|_| ctx.arg_error(1, "invalid status code"))?;
    let reason = match ctx.type_name(3) {
        "nil" | "no value" => None,
        _ => Some(ctx.bytes(3)?),
    };
    with_applet(ctx, |a| {
        a.status = status;
        a.reason = reason;
    })?;
    Ok(0)
});

/// `applet:add_header(name, value)`: names go out in lower case, as HAProxy sends them.
static ADD_HEADER: RustFunction = RustFunction::new("add_header", |ctx| {
    let mut name = text_arg(ctx, 2);
    name.make_ascii_lowercase();
    let name = String::from_utf8_lossy(&name).into_owned();
    let value = text_arg(ctx, 3);
    with_applet(ctx, |a| a.headers.add(name, value))?;
    Ok(0)
});

/// `applet:start_response()`: the head is made (once).
static START_RESPONSE: RustFunction = RustFunction::new("start_response", |ctx| {
    with_applet(ctx, |a| {
        if !a.started {
            a.started = true;
            a.head = Some(ResponseHead { status: a.status, reason: a.reason.take(), headers: std::mem::take(&mut a.headers) });
        }
    })?;
    Ok(0)
});

/// `applet:send(data)`.
static SEND: RustFunction = RustFunction::new("send", |ctx| {
    let l = ctx.raw();
    // SAFETY: lua_type never raises.
    let is_string = unsafe { ffi::lua_type(l, 2) } == ffi::LUA_TSTRING;
    let owned = if is_string { None } else { Some(text_arg(ctx, 2)) };
    let sent = with_applet(ctx, |a| {
        if !a.started {
            return false;
        }
        match &owned {
            Some(b) => a.body.extend_from_slice(b),
            None => {
                let mut len = 0usize;
                // SAFETY: argument 2 is a string: lua_tolstring neither converts nor
                // allocates, and the bytes stay valid while it is on the stack (this call).
                unsafe {
                    let p = ffi::lua_tolstring(l, 2, &mut len);
                    a.body.extend_from_slice(std::slice::from_raw_parts(p.cast::<u8>(), len));
                }
            }
        }
        true
    })?;
    if !sent {
        return Err(LuaError::runtime("Lua: 'send' you must call start_response() before sending data."));
    }
    Ok(0)
});

/// `applet:receive([size])`: the rest of the request body, or up to `size` bytes of it.
static RECEIVE: RustFunction = RustFunction::new("receive", |ctx| {
    let size = match ctx.type_name(2) {
        "nil" | "no value" => None,
        _ => Some(ctx.integer(2).map_err(|_| ctx.arg_error(1, "integer expected"))?),
    };
    push_request_part(ctx, |rest| match size {
        Some(n) => usize::try_from(n).unwrap_or(0).min(rest.len()),
        None => rest.len(),
    })
});

/// `applet:getline()`: the request body up to and including the next `\n`, or its rest.
static GETLINE: RustFunction = RustFunction::new("getline", |ctx| {
    push_request_part(ctx, |rest| rest.iter().position(|&b| b == b'\n').map_or(rest.len(), |i| i + 1))
});

/// Pushes the next `len(rest)` bytes of the request body and moves past them.
fn push_request_part(ctx: &mut CallCtx, len: impl FnOnce(&[u8]) -> usize) -> Result<c_int, LuaError> {
    let handle = applet_handle(ctx)?;
    with_own_stream(handle, |_| ())?;
    ctx.reserve(1)?;
    let pushed = APPLETS.with(|a| {
        let mut a = a.borrow_mut();
        let s = a.get_mut(&handle)?;
        let rest = s.request.get(s.pos..).unwrap_or_default();
        let n = len(rest);
        s.pos += n;
        Some(ctx.push_bytes(&rest[..n]))
    });
    pushed.ok_or_else(|| LuaError::runtime("AppletHTTP object used outside its service"))??;
    Ok(1)
}

/// `applet:set_var(name, value)`, as `TXN`'s.
static SET_VAR: RustFunction = RustFunction::new("set_var", |ctx| {
    let name = super::txn::var_name(ctx, 2)?;
    let value = super::txn::to_sample(ctx.value(3));
    let handle = applet_handle(ctx)?;
    with_own_stream(handle, |s| match value {
        Some(v) => s.set_var(&name, v),
        None => s.unset_var(&name),
    })?;
    Ok(0)
});

/// `applet:get_var(name)`.
static GET_VAR: RustFunction = RustFunction::new("get_var", |ctx| {
    let name = super::txn::var_name(ctx, 2)?;
    let handle = applet_handle(ctx)?;
    let v = with_own_stream(handle, |s| s.var(&name))?.map(|v| match v {
        crate::sample::Sample::Bool(b) => crate::sample::Sample::Sint(i64::from(b)),
        v => v,
    });
    super::txn::push_sample(ctx, v)?;
    Ok(1)
});

/// `applet:unset_var(name)`.
static UNSET_VAR: RustFunction = RustFunction::new("unset_var", |ctx| {
    let name = super::txn::var_name(ctx, 2)?;
    let handle = applet_handle(ctx)?;
    with_own_stream(handle, |s| s.unset_var(&name))?;
    Ok(0)
});
