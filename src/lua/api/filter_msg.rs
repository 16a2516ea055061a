//! The `HTTPMessage` class (HAProxy 2.5's `hlua_http_msg_*`): the request or the
//! response as a Lua filter sees it (`txn.http_req`, `txn.http_res`, the message
//! argument of `http_headers`, `http_payload` and `http_end`).
//!
//! An `HTTPMessage` is a table `{ [0] = <the TXN's handle>, [1] = <is response>,
//! channel = <Channel> }`. The head functions (`get_headers`, `add_header`,
//! `set_method`, `set_status`...) act on the transaction's parsed head, as the `HTTP`
//! class's do (`crate::lua::api::txn`): changes made before the head is sent reach the
//! peer, as in HAProxy. The body functions work on the filter's *window* of the
//! message's payload ([`BodyWindow`]): the bytes received (framing removed) that the
//! filters did not forward yet. `body`, `set`, `insert`, `remove`... read and rewrite
//! that input; `forward(n)` moves its first bytes to the output; `send(s)` puts `s`
//! straight into the output. A filter never waits, so these functions never yield
//! (HAProxy's filter context). Offsets are relative to the input, negative from its
//! end, with HAProxy's errors (`offset out of range.`, `length out of range.`).
//!
//! The stream lends the window through [`crate::lua::host::StreamView::filter_window`]
//! while a filter callback runs (`crate::stream::filter`); outside it the functions
//! raise an error.
use super::channel::{self as chan};
use crate::lua::host;
use crate::lua::{CallCtx, LuaError, RustFunction};
use std::os::raw::c_int;

/// One direction's payload as the filters see it.
#[derive(Debug, Default)]
pub struct BodyWindow {
    /// Payload received and not forwarded yet (the filters' input).
    pub input: Vec<u8>,
    /// Bytes forwarded by the running callback (`forward`, `send`), to be sent.
    pub forwarded: Vec<u8>,
    /// Payload bytes forwarded since the message started (`output()`).
    pub output_total: usize,
    /// The end of the message was received (`eom()`).
    pub eom: bool,
    /// The input may still grow (the producer did not close, the message goes on).
    pub may_recv: bool,
    /// How much input the window holds at most (`tune.bufsize`).
    pub cap: usize,
}

impl BodyWindow {
    /// A window holding at most `cap` bytes of input.
    pub fn new(cap: usize) -> BodyWindow {
        BodyWindow { may_recv: true, cap, ..BodyWindow::default() }
    }

    /// `is_full()`.
    pub fn is_full(&self) -> bool {
        self.input.len() >= self.cap
    }

    /// Moves the first `n` input bytes (at most what there is) to the output.
    pub fn forward(&mut self, n: usize) -> usize {
        let n = n.min(self.input.len());
        self.forwarded.extend(self.input.drain(..n));
        self.output_total += n;
        n
    }

    /// Takes the bytes forwarded so far, for the stream to send.
    pub fn take_forwarded(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.forwarded)
    }
}

/// The Lua side of the class, appended to the `TXN` prologue (it uses the `HTTP`
/// helpers `headers` and the `P.header`, `P.set_target`, `P.set_status` primitives of
/// `crate::lua::api::txn`, and `P.new_channel` of `crate::lua::api::channel`).
pub const CLASS: &str = r##"
local HTTPMessage = {}
local msg_mt = { __index = HTTPMessage, __tostring = function() return "HAProxy class HTTPMessage" end }
function P.new_msg(ud, res)
  return setmetatable({ [0] = ud, [1] = res, channel = P.new_channel(ud, res) }, msg_mt)
end
local function check(m, name)
  if type(m) ~= "table" or getmetatable(m) ~= msg_mt then
    error("bad argument #1 to '" .. name .. "' (HTTPMessage expected, got " .. type(m) .. ")")
  end
  return m[0], m[1]
end
function HTTPMessage.get_headers(m) local ud, res = check(m, "get_headers"); return headers(P.headers(ud, res)) end
function HTTPMessage.add_header(m, n, v) local ud, res = check(m, "add_header"); return P.header(ud, res, "add", n, v) end
function HTTPMessage.set_header(m, n, v) local ud, res = check(m, "set_header"); return P.header(ud, res, "set", n, v) end
function HTTPMessage.del_header(m, n) local ud, res = check(m, "del_header"); return P.header(ud, res, "del", n) end
function HTTPMessage.rep_header(m, n, re, w) local ud, res = check(m, "rep_header"); return P.header(ud, res, "rep", n, re, w) end
function HTTPMessage.rep_value(m, n, re, w) local ud, res = check(m, "rep_value"); return P.header(ud, res, "repval", n, re, w) end
for _, part in ipairs({ "method", "path", "query", "uri" }) do
  HTTPMessage["set_" .. part] = function(m, v)
    local ud, res = check(m, "set_" .. part)
    if res then error("'set_" .. part .. "' is only available for the request") end
    return P.set_target(ud, part, v)
  end
end
function HTTPMessage.set_status(m, status, reason)
  local ud, res = check(m, "set_status")
  if not res then error("'set_status' is only available for the response") end
  return P.set_status(ud, status, reason)
end
function HTTPMessage.get_stline(m)
  local ud, res = check(m, "get_stline")
  local k1, v1, k2, v2, k3, v3 = P.msg_get_stline(ud, res)
  if k1 == nil then return nil end
  return { [k1] = v1, [k2] = v2, [k3] = v3 }
end
for _, name in ipairs({ "body", "set", "remove", "insert", "append", "prepend", "send",
                        "forward", "input", "output", "is_full", "may_recv", "eom", "set_eom", "unset_eom" }) do
  local prim = P["msg_" .. name]
  HTTPMessage[name] = function(m, ...)
    local ud, res = check(m, name)
    return prim(ud, res, ...)
  end
end
function HTTPMessage.is_resp(m) local _, res = check(m, "is_resp"); return res end
"##;

/// The primitives of [`CLASS`], as `P.msg_<name>(ud, res, args...)`.
pub static PRIMITIVES: &[(&std::ffi::CStr, &RustFunction)] = &[
    (c"msg_get_stline", &GET_STLINE),
    (c"msg_body", &BODY),
    (c"msg_set", &SET),
    (c"msg_remove", &REMOVE),
    (c"msg_insert", &INSERT),
    (c"msg_append", &APPEND),
    (c"msg_prepend", &PREPEND),
    (c"msg_send", &SEND),
    (c"msg_forward", &FORWARD),
    (c"msg_input", &INPUT),
    (c"msg_output", &OUTPUT),
    (c"msg_is_full", &IS_FULL),
    (c"msg_may_recv", &MAY_RECV),
    (c"msg_eom", &EOM),
    (c"msg_set_eom", &SET_EOM),
    (c"msg_unset_eom", &UNSET_EOM),
];

/// Where a method's argument `k` (the message is its first) lies on the primitive's
/// stack: the message takes two slots there (handle, direction).
const SHIFT: c_int = 1;

/// Runs `f` on the window of the message at arguments 1 (the TXN's handle) and 2 (the
/// direction), lent by the filter callback running.
fn with_window<R>(ctx: &mut CallCtx, f: impl FnOnce(&mut BodyWindow) -> Result<R, LuaError>) -> Result<R, LuaError> {
    let res = ctx.boolean(2);
    let h = super::txn::txn_handle(ctx)?;
    let outside = || LuaError::runtime("HTTPMessage object used outside its filter's callback");
    host::with_host(|host| match host.stream.as_deref_mut() {
        Some(s) if s.handle() == h => match s.filter_window(res) {
            Some(w) => f(w),
            None => Err(outside()),
        },
        _ => Err(outside()),
    })
    .unwrap_or_else(|| Err(outside()))
}

/// Optional integer argument `n` of the method (the message is argument 1).
fn opt_int(ctx: &CallCtx, name: &str, n: c_int) -> Result<Option<i64>, LuaError> {
    if ctx.nargs() < n + SHIFT {
        return Ok(None);
    }
    chan::opt_int_at(ctx, name, n + SHIFT, n)
}

fn str_arg(ctx: &CallCtx, name: &str, n: c_int) -> Result<Vec<u8>, LuaError> {
    chan::str_arg_at(ctx, name, n + SHIFT, n)
}

/// `get_stline()`: `{method, uri, version}` or `{version, code, reason}`.
static GET_STLINE: RustFunction = RustFunction::new("get_stline", |ctx| {
    let res = ctx.boolean(2);
    let line = super::txn::with_stream(ctx, |s| {
        let txn = s.txn()?;
        Some(if res {
            let r = txn.res.as_ref()?;
            vec![
                ("version", r.line.version.as_str().to_string()),
                ("code", r.line.status.to_string()),
                ("reason", String::from_utf8_lossy(&r.line.reason).into_owned()),
            ]
        } else {
            let r = txn.req.as_ref()?;
            vec![
                ("method", r.line.method.to_string()),
                ("uri", r.line.target.clone()),
                ("version", r.line.version.as_str().to_string()),
            ]
        })
    })?;
    let Some(line) = line else {
        ctx.push_nil()?;
        return Ok(1);
    };
    ctx.reserve(6)?;
    for (k, v) in &line {
        ctx.push_str(k)?;
        ctx.push_str(v)?;
    }
    Ok(6)
});

/// `body([off [, len]])`: a copy of input bytes, never waiting: `nil` when there is no
/// input and none may come; a length past the input gives what there is.
static BODY: RustFunction = RustFunction::new("body", |ctx| {
    let (off, len) = (opt_int(ctx, "body", 2)?, opt_int(ctx, "body", 3)?);
    let v = with_window(ctx, |w| {
        let (off, len) = chan::window_of(off, len, w.input.len())?;
        let avail = w.input.len() - off;
        let out = &w.input[off..off + len.unwrap_or(avail).min(avail)];
        if w.input.is_empty() && (w.eom || !w.may_recv) {
            return Ok(None);
        }
        Ok(Some(out.to_vec()))
    })?;
    match v {
        Some(b) => ctx.push_bytes(&b)?,
        None => ctx.push_nil()?,
    }
    Ok(1)
});

/// Replaces `remove` input bytes at `at` by `with`; -1 when the result would not fit.
fn splice(w: &mut BodyWindow, at: usize, remove: usize, with: &[u8]) -> i64 {
    if w.input.len() - remove + with.len() > w.cap.max(w.input.len()) {
        return -1;
    }
    w.input.splice(at..at + remove, with.iter().copied());
    with.len() as i64
}

/// `set(s [, off [, len]])`: replaces a range of the input (all of it from `off` by
/// default); the length copied, or -1.
static SET: RustFunction = RustFunction::new("set", |ctx| {
    let s = str_arg(ctx, "set", 2)?;
    let (off, len) = (opt_int(ctx, "set", 3)?, opt_int(ctx, "set", 4)?);
    let n = with_window(ctx, |w| {
        let off = chan::offset_of(off, w.input.len())?;
        let len = chan::span_of(len, off, w.input.len())?;
        Ok(splice(w, off, len, &s))
    })?;
    ctx.push_integer(n)?;
    Ok(1)
});

/// `remove([off [, len]])`: the count of bytes removed.
static REMOVE: RustFunction = RustFunction::new("remove", |ctx| {
    let (off, len) = (opt_int(ctx, "remove", 2)?, opt_int(ctx, "remove", 3)?);
    let n = with_window(ctx, |w| {
        let off = chan::offset_of(off, w.input.len())?;
        let len = chan::span_of(len, off, w.input.len())?;
        w.input.drain(off..off + len);
        Ok(len as i64)
    })?;
    ctx.push_integer(n)?;
    Ok(1)
});

/// Inserts the string argument 1 at `at(input length)`: the length copied, or -1.
fn insert_with(ctx: &mut CallCtx, name: &str, at: impl FnOnce(&CallCtx, usize) -> Result<usize, LuaError>) -> Result<c_int, LuaError> {
    let s = str_arg(ctx, name, 2)?;
    let n = {
        let len = with_window(ctx, |w| Ok(w.input.len()))?;
        let off = at(ctx, len)?;
        with_window(ctx, |w| Ok(splice(w, off.min(w.input.len()), 0, &s)))?
    };
    ctx.push_integer(n)?;
    Ok(1)
}

/// `insert(s [, off])`: at the start of the input by default.
static INSERT: RustFunction = RustFunction::new("insert", |ctx| {
    let off = opt_int(ctx, "insert", 3)?;
    insert_with(ctx, "insert", |_, len| chan::offset_of(off, len))
});

static APPEND: RustFunction = RustFunction::new("append", |ctx| insert_with(ctx, "append", |_, len| Ok(len)));
static PREPEND: RustFunction = RustFunction::new("prepend", |ctx| insert_with(ctx, "prepend", |_, _| Ok(0)));

/// `send(s)`: `s` goes out at once, before the input.
static SEND: RustFunction = RustFunction::new("send", |ctx| {
    let s = str_arg(ctx, "send", 2)?;
    let n = with_window(ctx, |w| {
        w.forwarded.extend_from_slice(&s);
        w.output_total += s.len();
        Ok(s.len() as i64)
    })?;
    ctx.push_integer(n)?;
    Ok(1)
});

/// `forward(n)`: the count forwarded (at most the input).
static FORWARD: RustFunction = RustFunction::new("forward", |ctx| {
    let n = opt_int(ctx, "forward", 2)?.ok_or_else(|| LuaError::message("'forward' needs 2 arguments"))?;
    let n = usize::try_from(n).unwrap_or(0);
    let done = with_window(ctx, |w| Ok(w.forward(n)))?;
    ctx.push_integer(done as i64)?;
    Ok(1)
});

static INPUT: RustFunction = RustFunction::new("input", |ctx| {
    let n = with_window(ctx, |w| Ok(w.input.len()))?;
    ctx.push_integer(n as i64)?;
    Ok(1)
});

static OUTPUT: RustFunction = RustFunction::new("output", |ctx| {
    let n = with_window(ctx, |w| Ok(w.output_total))?;
    ctx.push_integer(n as i64)?;
    Ok(1)
});

static IS_FULL: RustFunction = RustFunction::new("is_full", |ctx| {
    let b = with_window(ctx, |w| Ok(w.is_full()))?;
    ctx.push_boolean(b)?;
    Ok(1)
});

static MAY_RECV: RustFunction = RustFunction::new("may_recv", |ctx| {
    let b = with_window(ctx, |w| Ok(w.may_recv && !w.eom && !w.is_full()))?;
    ctx.push_boolean(b)?;
    Ok(1)
});

static EOM: RustFunction = RustFunction::new("eom", |ctx| {
    let b = with_window(ctx, |w| Ok(w.eom))?;
    ctx.push_boolean(b)?;
    Ok(1)
});

static SET_EOM: RustFunction = RustFunction::new("set_eom", |ctx| {
    with_window(ctx, |w| {
        w.eom = true;
        Ok(())
    })?;
    Ok(0)
});

static UNSET_EOM: RustFunction = RustFunction::new("unset_eom", |ctx| {
    with_window(ctx, |w| {
        w.eom = false;
        Ok(())
    })?;
    Ok(0)
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwarding_moves_input_to_the_output() {
        let mut w = BodyWindow::new(16);
        w.input.extend_from_slice(b"hello");
        assert_eq!(w.forward(3), 3);
        assert_eq!(w.forward(10), 2);
        assert_eq!((w.input.len(), w.output_total), (0, 5));
        assert_eq!(w.take_forwarded(), b"hello");
        assert!(w.take_forwarded().is_empty());
    }

    #[test]
    fn a_splice_that_would_overflow_the_window_is_refused() {
        let mut w = BodyWindow::new(4);
        w.input.extend_from_slice(b"abcd");
        assert_eq!(splice(&mut w, 1, 1, b"XY"), -1);
        assert_eq!(splice(&mut w, 1, 2, b"XY"), 2);
        assert_eq!(w.input, b"aXYd");
        assert!(w.is_full());
    }
}
