//! The `AppletHTTP` class (HAProxy's `hlua_appletHTTP`): what a Lua service registered
//! with `core.register_service(name, "http", fn)` receives.
//!
//! The stream side (`crate::stream::service`) runs each service call as a coroutine of
//! `wrapper(fn, key, generation, method, path, qs, version, length, http11, body,
//! name1, value1, ...)`: the wrapper builds the applet (a Lua table, as in HAProxy: the
//! request fields, `headers` as 0-indexed arrays per lower-cased name, `[0]` holding a
//! userdata with the [`Handle`] of the service's context) and calls `fn(applet)`.
//!
//! The request body is read by the stream before the service starts (up to the buffer
//! size) and handed over as a string: `receive` and `getline` read from it and never
//! wait. The response goes out through two primitives, `start` (the head) and `send`
//! (body bytes), into a per-handle [`AppletOut`] the stream drains whenever the service
//! yields or ends ([`drain_output`]); so a service that fails after `start_response`
//! still leaves what it produced, and one that fails before it leaves nothing (the
//! stream answers 500). The chunked framing is the stream's: a response without `content-length` to
//! an HTTP/1.1 client is sent chunked.
use crate::lua::host::{self, StreamView};
use crate::lua::{CallCtx, Class, Handle, LuaError, RegistryRef, RustFunction};
use std::cell::RefCell;
use std::collections::HashMap;

/// The userdata at `applet[0]`.
pub static APPLET_CLASS: Class<Handle> = Class::new("AppletHTTP", &[]);

/// What a service produced so far.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct AppletOut {
    /// The response head (status line and headers, CRLF-terminated, without the final
    /// empty line) once `start_response` ran.
    pub head: Option<Vec<u8>>,
    /// The head has a `content-length`.
    pub has_length: bool,
    /// Body bytes sent.
    pub body: Vec<u8>,
    /// `start_response` ran (the head may have been taken already).
    pub started: bool,
}

thread_local! {
    static WRAPPER: RefCell<Option<RegistryRef>> = const { RefCell::new(None) };
    static OUTPUT: RefCell<HashMap<Handle, AppletOut>> = RefCell::new(HashMap::new());
}

/// Takes (and forgets) what the service of `handle` produced.
pub fn take_output(handle: Handle) -> AppletOut {
    OUTPUT.with(|o| o.borrow_mut().remove(&handle).unwrap_or_default())
}

/// Takes what the service of `handle` produced since the last call (the head once),
/// while it runs; `None` before `start_response`.
pub fn drain_output(handle: Handle) -> Option<AppletOut> {
    OUTPUT.with(|o| {
        let mut o = o.borrow_mut();
        let out = o.get_mut(&handle).filter(|out| out.started)?;
        Some(AppletOut {
            head: out.head.take(),
            has_length: out.has_length,
            body: std::mem::take(&mut out.body),
            started: true,
        })
    })
}

const CLASSES: &str = r#"
local Applet = {}
local applet_mt = { __index = Applet, __tostring = function() return "HAProxy class AppletHTTP" end }
local st = setmetatable({}, { __mode = "k" })
function Applet.set_status(self, code, reason)
  local s = st[self]
  s.status = math.tointeger(code) or error("bad argument #1 to 'set_status' (integer expected)")
  s.reason = reason
end
function Applet.add_header(self, name, value)
  local h = st[self].headers
  h[#h + 1] = { string.lower(tostring(name)), tostring(value) }
end
function Applet.start_response(self)
  local s = st[self]
  if s.started then return end
  s.started = true
  local out = { "HTTP/1.1 ", tostring(s.status), " ", s.reason or P.reason(s.status), "\r\n" }
  local has_length = false
  for _, h in ipairs(s.headers) do
    if h[1] == "content-length" then has_length = true end
    out[#out + 1] = h[1] .. ": " .. h[2] .. "\r\n"
  end
  P.start(self[0], table.concat(out), has_length)
end
function Applet.send(self, data)
  local s = st[self]
  if not s.started then error("Lua: 'send' you must call start_response() before sending data.", 2) end
  P.send(self[0], tostring(data))
end
function Applet.receive(self, size)
  local s = st[self]
  local body, pos = s.body, s.pos
  local last = #body
  if size ~= nil then
    size = math.tointeger(size) or error("bad argument #1 to 'receive' (integer expected)")
    last = math.min(last, pos + size - 1)
  end
  s.pos = last + 1
  return string.sub(body, pos, last)
end
function Applet.getline(self)
  local s = st[self]
  local body, pos = s.body, s.pos
  local nl = string.find(body, "\n", pos, true) or #body
  s.pos = nl + 1
  return string.sub(body, pos, nl)
end
function Applet.get_priv(self) return st[self].priv end
function Applet.set_priv(self, v) st[self].priv = v end
function Applet.set_var(self, name, value) return P.var(self[0], "set", name, value) end
function Applet.get_var(self, name) return P.var(self[0], "get", name) end
function Applet.unset_var(self, name) return P.var(self[0], "unset", name) end
P.set_wrapper(function(fn, key, gen, method, path, qs, version, length, http11, body, ...)
  local flat = table.pack(...)
  local headers, n = {}, {}
  for i = 1, flat.n, 2 do
    local name, value = flat[i], flat[i + 1]
    local e = headers[name]
    if e == nil then e = {}; headers[name] = e; n[name] = 0 end
    e[n[name]] = value
    n[name] = n[name] + 1
  end
  local applet = setmetatable({ [0] = P.new_ref(key, gen), method = method, path = path,
    qs = qs, version = version, length = length, headers = headers }, applet_mt)
  st[applet] = { status = 200, headers = {}, body = body, pos = 1 }
  return fn(applet)
end)
"#;

static PRIMITIVES: &[(&std::ffi::CStr, &RustFunction)] = &[
    (c"set_wrapper", &SET_WRAPPER),
    (c"new_ref", &NEW_REF),
    (c"reason", &REASON),
    (c"start", &START),
    (c"send", &SEND),
    (c"var", &VAR),
];

/// Pushes the wrapper every service call goes through (see the module comment) on
/// `task`; builds the class on first use.
pub fn push_wrapper(state: &crate::lua::State, task: &mut crate::lua::Task) -> Result<(), LuaError> {
    if WRAPPER.with(|w| w.borrow().is_none()) {
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

static NEW_REF: RustFunction = RustFunction::new("new_ref", |ctx| {
    let key = u32::try_from(ctx.integer(1)?).map_err(|_| ctx.arg_error(1, "bad key"))?;
    let generation = u32::try_from(ctx.integer(2)?).map_err(|_| ctx.arg_error(2, "bad generation"))?;
    ctx.push_userdata(&APPLET_CLASS, Handle { key, generation })?;
    Ok(1)
});

static REASON: RustFunction = RustFunction::new("reason", |ctx| {
    let status = u16::try_from(ctx.integer(1)?).unwrap_or(0);
    ctx.push_str(crate::http::rules::reason_phrase(status))?;
    Ok(1)
});

/// Runs `f` on the stream of the applet whose handle is at argument 1: an applet kept
/// after its service ended, or used from another stream's code, is refused.
fn with_stream<R>(ctx: &mut CallCtx, f: impl FnOnce(&mut dyn StreamView) -> R) -> Result<R, LuaError> {
    let h = ctx.handle(1, &APPLET_CLASS)?;
    let refused = || LuaError::runtime("AppletHTTP object used outside its service");
    host::with_host(|host| match host.stream.as_deref_mut() {
        Some(s) if s.handle() == h => Ok(f(s)),
        _ => Err(refused()),
    })
    .unwrap_or_else(|| Err(refused()))
}

/// `P.start(ud, head, has_length)`.
static START: RustFunction = RustFunction::new("start", |ctx| {
    let head = ctx.bytes(2)?;
    let has_length = ctx.boolean(3);
    let h = with_stream(ctx, |s| s.handle())?;
    OUTPUT.with(|o| {
        let mut o = o.borrow_mut();
        let out = o.entry(h).or_default();
        out.head = Some(head);
        out.has_length = has_length;
        out.started = true;
    });
    Ok(0)
});

/// `P.send(ud, data)`.
static SEND: RustFunction = RustFunction::new("send", |ctx| {
    let data = ctx.bytes(2)?;
    let h = with_stream(ctx, |s| s.handle())?;
    OUTPUT.with(|o| o.borrow_mut().entry(h).or_default().body.extend_from_slice(&data));
    Ok(0)
});

/// `P.var(ud, "set"|"get"|"unset", name [, value])`: the applet's `set_var`,
/// `get_var`, `unset_var`, as `TXN`'s.
static VAR: RustFunction = RustFunction::new("var", |ctx| {
    use super::txn::{push_sample, to_sample, var_name};
    let op = ctx.string(2)?;
    let name = var_name(ctx, 3)?;
    match op.as_str() {
        "set" => {
            let value = to_sample(ctx.value(4));
            with_stream(ctx, |s| match value {
                Some(v) => s.set_var(&name, v),
                None => s.unset_var(&name),
            })?;
            Ok(0)
        }
        "get" => {
            let v = with_stream(ctx, |s| s.var(&name))?.map(|v| match v {
                crate::sample::Sample::Bool(b) => crate::sample::Sample::Sint(i64::from(b)),
                v => v,
            });
            push_sample(ctx, v)?;
            Ok(1)
        }
        _ => {
            with_stream(ctx, |s| s.unset_var(&name))?;
            Ok(0)
        }
    }
});

/// Whether the service of `handle` started its response.
pub fn peek_started(handle: Handle) -> bool {
    OUTPUT.with(|o| o.borrow().get(&handle).is_some_and(|out| out.started))
}
