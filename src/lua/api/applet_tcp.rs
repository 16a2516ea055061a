//! The `AppletTCP` class (HAProxy's `hlua_appletTCP`): what a Lua service registered
//! with `core.register_service(name, "tcp", fn)` receives.
//!
//! The stream side (`crate::stream::service_tcp`) runs each service as a coroutine of
//! `wrapper(fn, txn)`, `txn` a `TXN` of the service's [`Handle`] (`super::txn::new_txn`);
//! the wrapper makes the applet from it: a Lua table whose `[0]` is that `TXN`'s
//! handle, so `c`, `sc` and `set_var`/`get_var`/`unset_var` are the `TXN`'s own (they read `self[0]` and act on
//! the stream being run); `f` and `sf` are a service's (`AppletHTTP`'s too), which refuse
//! HTTP fetches as HAProxy does (`the sample-fetch 'req.hdr' needs an HTTP parser which is
//! not available in Lua services`). Then it calls `fn(applet)`.
//!
//! A CLI command of `core.register_cli` gets the same class (HAProxy 2.6 gives it an
//! `AppletTCP`): `runtime::lua` runs `wrapper(fn, txn, words...)` with a `TXN` of its own
//! handle, marked as the running applet by [`running_cli`] instead of a stream; its
//! `TcpIo` holds what the CLI client sent after the command and what the command says.
//!
//! Bytes travel through a per-handle [`TcpIo`]: the stream moves the client's bytes into
//! its `input` (and says when the client closed) before each resume, and takes the
//! service's `output` after it. The reading methods are Lua loops over two primitives:
//! `take` gives what the call can return now (or nil), `wait` records what the service
//! waits for ([`Want`]) and yields; the stream resumes it when client bytes come, the
//! client closes or the timeout of `receive(size, timeout)` expires (`wait` then
//! returns true, and the call returns what it has). `send` appends to `output` and
//! yields ([`Want::Room`]) while the client has not read [`OUTPUT_MAX`] bytes.
//!
//! Semantics (HAProxy 2.6, and 3.2 for the timeout):
//! - `receive()`: everything until the client closes; `receive(n)`: exactly `n` bytes,
//!   fewer only when the client closed; `""` when it closed with nothing left;
//!   `receive(n, ms)` / `receive(nil, ms)`: at most `ms` milliseconds, then what came
//!   (nil when nothing did);
//! - `getline()`: one line with its `\n`, at the close what is left (`""` at the end);
//! - `send(data)`: returns the number of bytes (HAProxy 2.6 does);
//! - `get_priv`/`set_priv`: per applet. HAProxy 2.6 loses the value (`get_priv` gives
//!   nil after `set_priv`, verified); moonproxy keeps it (doc/lua-api.md).
use crate::lua::host;
use crate::lua::{CallCtx, Handle, LuaError, RegistryRef, RustFunction, WaitReason};
use std::cell::RefCell;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Output the client has not taken beyond which `send` waits.
pub const OUTPUT_MAX: usize = 64 * 1024;

/// The bytes between a TCP service and its stream.
#[derive(Debug, Default)]
pub struct TcpIo {
    /// Client bytes handed over, not read by the service yet.
    pub input: Vec<u8>,
    /// The client closed its side and every byte it sent is in `input`.
    pub eof: bool,
    /// Bytes the service sent, not taken by the stream yet.
    pub output: Vec<u8>,
    /// What the service waits for, while it is yielded in a read or a send.
    pub want: Option<Want>,
}

/// What a yielded TCP service waits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Want {
    /// More client bytes: `need` of them in `input` (`None`: until the close), until
    /// `deadline` if any.
    Input { need: Option<usize>, deadline: Option<Instant> },
    /// The client to read what was sent.
    Room,
}

thread_local! {
    static WRAPPER: RefCell<Option<RegistryRef>> = const { RefCell::new(None) };
    static IO: RefCell<HashMap<Handle, TcpIo>> = RefCell::new(HashMap::new());
    /// The handle of the CLI command being resumed, if one is.
    static CLI_RUNNING: std::cell::Cell<Option<Handle>> = const { std::cell::Cell::new(None) };
    /// The origin of `P.clock()` (milliseconds, monotonic).
    static EPOCH: Instant = Instant::now();
}

/// Runs `f` on the I/O state of the service of `handle` (created on first use).
pub fn with_io<R>(handle: Handle, f: impl FnOnce(&mut TcpIo) -> R) -> R {
    IO.with(|io| f(io.borrow_mut().entry(handle).or_default()))
}

/// Runs `f` (a resume of a CLI command's coroutine) with `handle` as the applet in use.
pub fn running_cli<R>(handle: Handle, f: impl FnOnce() -> R) -> R {
    let before = CLI_RUNNING.with(|c| c.replace(Some(handle)));
    let r = f();
    CLI_RUNNING.with(|c| c.set(before));
    r
}

/// Forgets the I/O state of the service of `handle` (its stream ended).
pub fn forget(handle: Handle) {
    IO.with(|io| io.borrow_mut().remove(&handle));
}

const CLASSES: &str = r#"
local Applet = {}
local applet_mt = { __index = Applet, __tostring = function() return "HAProxy class AppletTCP" end }
local privs = setmetatable({}, { __mode = "k" })
local function read(self, kind, n, timeout, fname)
  local deadline
  if timeout ~= nil then
    timeout = math.tointeger(timeout) or error("bad argument #2 to '" .. fname .. "' (integer expected)", 3)
    deadline = P.clock() + math.max(timeout, 0)
  end
  local timed_out = false
  while true do
    local data = P.take(self[0], kind, n, timed_out)
    if data ~= nil or timed_out then return data end
    timed_out = P.wait(self[0], kind, n, deadline)
  end
end
function Applet.receive(self, size, timeout)
  if size ~= nil then
    size = math.tointeger(size) or error("bad argument #1 to 'receive' (integer expected)", 2)
  end
  if size == nil or size < 0 then return read(self, "a", 0, timeout, "receive") end
  if size == 0 then return "" end
  return read(self, "n", size, timeout, "receive")
end
function Applet.getline(self)
  return read(self, "l", 0, nil, "getline")
end
function Applet.send(self, data)
  local t = type(data)
  if t ~= "string" and t ~= "number" then
    error("bad argument #1 to 'send' (string expected, got " .. t .. ")", 2)
  end
  data = tostring(data)
  P.send(self[0], data)
  return #data
end
function Applet.get_priv(self) return privs[self] end
function Applet.set_priv(self, v) privs[self] = v end
local svc_sub = P.svc_sub()
P.set_wrapper(function(fn, txn, ...)
  if Applet.set_var == nil then
    Applet.set_var, Applet.get_var, Applet.unset_var = txn.set_var, txn.get_var, txn.unset_var
  end
  -- f and sf refuse HTTP fetches, as HAProxy's AppletTCP's do (a service has no HTTP parser).
  local ud = txn[0]
  local applet = setmetatable({ [0] = ud, f = svc_sub(ud, "f"), sf = svc_sub(ud, "sf"), c = txn.c, sc = txn.sc }, applet_mt)
  return fn(applet, ...)
end)
"#;

static PRIMITIVES: &[(&std::ffi::CStr, &RustFunction)] = &[
    (c"set_wrapper", &SET_WRAPPER),
    (c"clock", &CLOCK),
    (c"take", &TAKE),
    (c"wait", &WAIT),
    (c"send", &SEND),
    (c"svc_sub", &super::applet::SVC_SUB),
];

/// Pushes the wrapper every TCP service goes through (see the module comment) on
/// `task`; builds the class on first use. The caller pushes `fn` and the stream's `TXN`
/// ([`super::txn::new_txn`]) after it.
pub fn push_wrapper(state: &crate::lua::State, task: &mut crate::lua::Task) -> Result<(), LuaError> {
    if WRAPPER.with(|w| w.borrow().is_none()) {
        super::txn::install_classes(state)?; // `svc_sub`, the maker of `f` and `sf`
        let mut prologue = String::from("local P = {}\n");
        for (name, f) in PRIMITIVES {
            let name = name.to_str().unwrap_or("");
            let global = format!("__moonproxy_applet_tcp_{name}");
            state.set_global_function(&global, f)?;
            prologue.push_str(&format!("P[\"{name}\"] = {global}; {global} = nil\n"));
        }
        prologue.push_str(CLASSES);
        state.exec(prologue.as_bytes(), "=applet_tcp")?;
    }
    WRAPPER.with(|w| match w.borrow().as_ref() {
        Some(f) => task.push_function(f),
        None => Err(LuaError::message("the AppletTCP class did not install")),
    })
}

static SET_WRAPPER: RustFunction = RustFunction::new("set_wrapper", |ctx| {
    let f = super::txn::ref_first_arg(ctx)?;
    WRAPPER.with(|w| *w.borrow_mut() = Some(f));
    Ok(0)
});

/// `P.clock()`: milliseconds on a monotonic clock (deadlines of `receive`).
static CLOCK: RustFunction = RustFunction::new("clock", |ctx| {
    let ms = EPOCH.with(|e| e.elapsed().as_millis());
    ctx.push_integer(i64::try_from(ms).unwrap_or(i64::MAX))?;
    Ok(1)
});

/// The handle of the applet at argument 1, refused unless it is the service being run
/// (an applet kept by a script after its service ended, or passed to another stream), or
/// the CLI command being run.
fn own_handle(ctx: &mut CallCtx) -> Result<Handle, LuaError> {
    let h = super::txn::txn_handle(ctx)?;
    let stream = host::with_host(|host| host.stream.as_deref().map(|s| s.handle())).flatten();
    let running = stream.or_else(|| CLI_RUNNING.with(|c| c.get()));
    if running != Some(h) {
        return Err(LuaError::runtime("AppletTCP object used outside its service"));
    }
    Ok(h)
}

/// What a read of `kind` (`a`: until the close, `n`: `n` bytes, `l`: a line) takes from
/// `io` now; `last`: its timeout expired, whatever came is the answer.
fn take(io: &mut TcpIo, kind: &str, n: usize, last: bool) -> Option<Vec<u8>> {
    let end = match kind {
        "n" if io.input.len() >= n => n,
        "l" => match io.input.iter().position(|&b| b == b'\n') {
            Some(i) => i + 1,
            None if io.eof || last => io.input.len(),
            None => return None,
        },
        _ if io.eof => io.input.len(),
        _ if last && !io.input.is_empty() => io.input.len(),
        _ => return None,
    };
    if kind == "l" && end == 0 && !io.eof {
        return None; // a timed-out getline cannot happen; nothing to give yet
    }
    Some(io.input.drain(..end).collect())
}

/// `P.take(ud, kind, n, last)`: the bytes the read returns now, or nil.
static TAKE: RustFunction = RustFunction::new("take", |ctx| {
    let kind = ctx.string(2)?;
    let n = usize::try_from(ctx.integer(3)?).unwrap_or(0);
    let last = ctx.boolean(4);
    let h = own_handle(ctx)?;
    match with_io(h, |io| take(io, &kind, n, last)) {
        Some(bytes) => ctx.push_bytes(&bytes)?,
        None => ctx.push_nil()?,
    }
    Ok(1)
});

/// `P.wait(ud, kind, n, deadline_ms)`: yields until the read may be answered; the
/// stream resumes it with `true` when the deadline passed.
static WAIT: RustFunction = RustFunction::new("wait", |ctx| {
    let kind = ctx.string(2)?;
    let n = usize::try_from(ctx.integer(3)?).unwrap_or(0);
    let deadline = match ctx.type_name(4) {
        "nil" => None,
        _ => {
            let ms = u64::try_from(ctx.integer(4)?).unwrap_or(0);
            Some(EPOCH.with(|e| *e + Duration::from_millis(ms)))
        }
    };
    let h = own_handle(ctx)?;
    let need = match kind.as_str() {
        "a" => None,
        "n" => Some(n),
        // A line: one more byte than what is there.
        _ => Some(with_io(h, |io| io.input.len() + 1)),
    };
    with_io(h, |io| io.want = Some(Want::Input { need, deadline }));
    ctx.yield_now(WaitReason::Other)?;
    Ok(0)
});

/// `P.send(ud, data)`: queues the bytes for the client; waits while too many are queued.
static SEND: RustFunction = RustFunction::new("send", |ctx| {
    let data = ctx.bytes(2)?;
    let h = own_handle(ctx)?;
    let full = with_io(h, |io| {
        io.output.extend_from_slice(&data);
        io.output.len() > OUTPUT_MAX
    });
    if full {
        with_io(h, |io| io.want = Some(Want::Room));
        ctx.yield_now(WaitReason::Other)?;
    }
    Ok(0)
});

#[cfg(test)]
mod tests {
    use super::*;

    fn io(input: &str, eof: bool) -> TcpIo {
        TcpIo { input: input.as_bytes().to_vec(), eof, ..TcpIo::default() }
    }

    fn s(v: Option<Vec<u8>>) -> Option<String> {
        v.map(|b| String::from_utf8(b).unwrap())
    }

    #[test]
    fn reads_take_what_they_can_answer() {
        let mut i = io("ab\ncd", false);
        assert_eq!(s(take(&mut i, "l", 0, false)).as_deref(), Some("ab\n"));
        assert_eq!(s(take(&mut i, "l", 0, false)), None, "no full line yet");
        assert_eq!(s(take(&mut i, "n", 3, false)), None, "two bytes of three");
        assert_eq!(s(take(&mut i, "n", 3, true)).as_deref(), Some("cd"), "timed out: what came");
        assert_eq!(s(take(&mut i, "a", 0, true)), None, "timed out with nothing: nil");
        let mut i = io("xyz", true);
        assert_eq!(s(take(&mut i, "n", 2, false)).as_deref(), Some("xy"));
        assert_eq!(s(take(&mut i, "a", 0, false)).as_deref(), Some("z"));
        assert_eq!(s(take(&mut i, "a", 0, false)).as_deref(), Some(""), "closed: empty string");
        assert_eq!(s(take(&mut i, "l", 0, false)).as_deref(), Some(""));
        let mut i = io("abc", false);
        assert_eq!(s(take(&mut i, "a", 0, false)), None, "until the close");
    }
}
