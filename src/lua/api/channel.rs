//! The `Channel` class (HAProxy's `hlua_channel_*`, 2.5 API): `txn.req` and `txn.res`
//! of a Lua action, the bytes of one direction of the stream.
//!
//! A channel holds an *output* part (bytes already forwarded: `send`, `forward`) followed
//! by the *input* part (bytes received and not yet forwarded), which the data functions
//! read and rewrite. Offsets are relative to the start of the input; a negative offset
//! counts from its end. The stream lends its buffers through [`ChannelIo`]
//! ([`crate::lua::host::StreamView::channels`]); an HTTP stream lends none, and then, as
//! in HAProxy, every function but `input`, `output`, `may_recv`, `is_full` and `is_resp`
//! raises `Cannot manipulate HAProxy channels in HTTP mode.`
//!
//! A Lua sample fetch evaluated by a TCP rule reads the buffers as the rule sees them
//! (HAProxy 2.6 gives it the channels too); the functions that change them raise
//! [`READ_ONLY`] there (HAProxy lets a fetch change them: not done yet).
//!
//! Waiting for data: `data`, `line`, `get`, `dup`, `getline` and `forward` wait when the
//! bytes they need are not there yet and more may come ([`ChannelIo::can_wait`]: the
//! input is open, the buffer not full, and the rules' `inspect-delay` not over). The
//! primitive then says "again" and the method's Lua loop yields
//! ([`ChannelIo::wait_data`] tells the stream why); the stream resumes the action when
//! bytes arrive or the delay expires, and the loop calls the primitive again. Once the
//! data is final, the functions answer with what is there.
//!
//! Errors are raised without a position, as HAProxy's C functions raise them (their
//! messages are HAProxy's, checked against 2.6).
use crate::lua::host;
use crate::lua::{CallCtx, Class, Handle, LuaError, RustFunction};
use std::os::raw::c_int;

/// What a Lua action may do with the stream's buffers. `res` picks the direction
/// (`txn.res`); offsets are in the input part.
pub trait ChannelIo {
    /// The input bytes (received, not forwarded).
    fn input(&self, res: bool) -> &[u8];
    /// Bytes of the output part (forwarded by `send`/`forward`, not yet sent).
    fn output_len(&self, res: bool) -> usize;
    /// Replaces `remove` input bytes at `at` by `with`; false (nothing done) when the
    /// result does not fit in the buffer.
    fn splice(&mut self, res: bool, at: usize, remove: usize, with: &[u8]) -> bool;
    /// Puts `bytes` at the end of the output part (`send`); false when they do not fit.
    fn send(&mut self, res: bool, bytes: &[u8]) -> bool;
    /// Moves the first `n` input bytes (at most what there is) to the output part.
    fn forward(&mut self, res: bool, n: usize);
    /// Free room in the buffer.
    fn room(&self, res: bool) -> usize;
    /// More input may come (the producer did not close, the buffer is not full).
    fn may_recv(&self, res: bool) -> bool;
    /// The input side was closed by the producer.
    fn input_closed(&self, res: bool) -> bool;
    fn is_full(&self, res: bool) -> bool;
    /// A function short of data may wait for more (the rules may still wait on this
    /// direction: `inspect-delay` not over, input open, buffer not full).
    fn can_wait(&self, res: bool) -> bool;
    /// The action is about to wait for more bytes of this direction.
    fn wait_data(&mut self, res: bool);
    /// The buffers may be read, not changed: those a Lua sample fetch sees
    /// (`crate::lua::api::fetches`), whose changing functions raise [`READ_ONLY`].
    fn read_only(&self) -> bool {
        false
    }
}

/// The userdata at `channel[0]`: the stream's handle and the direction.
#[derive(Clone, Copy)]
pub struct ChanRef {
    handle: Handle,
    res: bool,
}

pub static CHANNEL_CLASS: Class<ChanRef> = Class::new("Channel", &[]);

/// The Lua side of the class, run by the TXN prologue with the primitives in `P` (names
/// prefixed `ch_`): the methods, and `P.new_channel(txn_ud, res)` for the wrapper.
pub const CLASS: &str = r##"
local Channel = {}
local channel_mt = { __index = Channel }
for _, m in ipairs({ "input", "output", "may_recv", "is_full", "is_resp", "set", "remove",
                     "insert", "append", "prepend", "send" }) do
  Channel[m] = P["ch_" .. m]
end
Channel.get_in_len, Channel.get_out_len = Channel.input, Channel.output
-- The functions that may wait: the primitive answers `again` when the bytes it needs
-- may still come; the action yields until the stream has more.
local wait = P.ch_wait
for _, m in ipairs({ "data", "line", "dup", "get", "getline" }) do
  local prim = P["ch_" .. m]
  Channel[m] = function(...)
    while true do
      local r, again = prim(...)
      if not again then return r end
      wait(...)
    end
  end
end
local forward = P.ch_forward
function Channel.forward(self, ...)
  if select("#", ...) ~= 1 then return forward(self) end -- "'forward' needs 2 arguments"
  local n, done = ..., 0
  while true do
    local f, again = forward(self, n, done)
    done = done + f
    if not again then return done end
    wait(self)
  end
end
local new_ref = P.ch_new_ref
function P.new_channel(ud, res)
  return setmetatable({ [0] = new_ref(ud, res) }, channel_mt)
end
"##;

/// The primitives of [`CLASS`], as `P.ch_<name>`.
pub static PRIMITIVES: &[(&std::ffi::CStr, &RustFunction)] = &[
    (c"ch_new_ref", &NEW_REF),
    (c"ch_is_tcp", &IS_TCP),
    (c"ch_wait", &WAIT),
    (c"ch_input", &INPUT),
    (c"ch_output", &OUTPUT),
    (c"ch_may_recv", &MAY_RECV),
    (c"ch_is_full", &IS_FULL),
    (c"ch_is_resp", &IS_RESP),
    (c"ch_data", &DATA),
    (c"ch_line", &LINE),
    (c"ch_dup", &DUP),
    (c"ch_get", &GET),
    (c"ch_getline", &GETLINE),
    (c"ch_set", &SET),
    (c"ch_remove", &REMOVE),
    (c"ch_insert", &INSERT),
    (c"ch_append", &APPEND),
    (c"ch_prepend", &PREPEND),
    (c"ch_send", &SEND),
    (c"ch_forward", &FORWARD),
];

const HTTP_REFUSED: &str = "Cannot manipulate HAProxy channels in HTTP mode.";
/// Raised by the changing functions on read-only buffers ([`ChannelIo::read_only`]):
/// HAProxy 2.6 lets a sample fetch change them; moonproxy does not (yet).
pub const READ_ONLY: &str = "Cannot modify HAProxy channels from a Lua sample-fetch.";

/// `P.ch_new_ref(txn_ud, res)`: the channel userdata of a `TXN`'s stream.
static NEW_REF: RustFunction = RustFunction::new("new_ref", |ctx| {
    let handle = super::txn::txn_handle(ctx)?;
    let res = ctx.boolean(2);
    ctx.push_userdata(&CHANNEL_CLASS, ChanRef { handle, res })?;
    Ok(1)
});

/// `P.ch_is_tcp(txn_ud)`: whether the running stream lends its buffers (a TCP stream:
/// `txn.http` is then nil, as HAProxy leaves it on non-HTTP streams).
static IS_TCP: RustFunction = RustFunction::new("is_tcp", |ctx| {
    let handle = super::txn::txn_handle(ctx)?;
    let tcp = host::with_host(|host| match host.stream.as_deref_mut() {
        Some(s) if s.handle() == handle => s.channels().is_some(),
        _ => false,
    })
    .unwrap_or(false);
    ctx.push_boolean(tcp)?;
    Ok(1)
});

/// The channel at argument 1: the `Channel` table, whose `[0]` replaces it on the stack.
fn chan_ref(ctx: &mut CallCtx, name: &str) -> Result<ChanRef, LuaError> {
    ctx.unwrap_object(1)?;
    if ctx.type_name(1) != "userdata" {
        return Err(LuaError::message(format!("bad argument #1 to '{name}' (Channel expected)")));
    }
    ctx.userdata(1, &CHANNEL_CLASS).copied()
}

/// Runs `f` on the channels of the stream of the channel at argument 1; `None` for an
/// HTTP stream.
fn with_io<R>(
    ctx: &mut CallCtx,
    name: &str,
    f: impl FnOnce(Option<&mut dyn ChannelIo>, bool) -> R,
) -> Result<R, LuaError> {
    let c = chan_ref(ctx, name)?;
    let stale = || LuaError::runtime("Channel object used outside its stream's Lua code");
    host::with_host(|host| match host.stream.as_deref_mut() {
        Some(s) if s.handle() == c.handle => Ok(f(s.channels(), c.res)),
        _ => Err(stale()),
    })
    .unwrap_or_else(|| Err(stale()))
}

/// [`with_io`] for the data functions: an HTTP stream refuses them.
fn with_tcp<R>(
    ctx: &mut CallCtx,
    name: &str,
    f: impl FnOnce(&mut dyn ChannelIo, bool) -> Result<R, LuaError>,
) -> Result<R, LuaError> {
    with_io(ctx, name, |io, res| io.map(|io| f(io, res)))?
        .unwrap_or_else(|| Err(LuaError::message(HTTP_REFUSED)))
}

/// [`with_tcp`] for the functions that change the buffers: read-only ones refuse them.
fn with_tcp_mut<R>(
    ctx: &mut CallCtx,
    name: &str,
    f: impl FnOnce(&mut dyn ChannelIo, bool) -> Result<R, LuaError>,
) -> Result<R, LuaError> {
    with_tcp(ctx, name, |io, res| match io.read_only() {
        true => Err(LuaError::message(READ_ONLY)),
        false => f(io, res),
    })
}

/// HAProxy's `check_args`: exactly `n` arguments, the channel included.
fn need_args(ctx: &CallCtx, name: &str, n: c_int) -> Result<(), LuaError> {
    if ctx.nargs() != n {
        return Err(LuaError::message(format!("'{name}' needs {n} arguments")));
    }
    Ok(())
}

/// Integer argument `n` if given, with `luaL_checkinteger`'s message (no position).
fn opt_int(ctx: &CallCtx, name: &str, n: c_int) -> Result<Option<i64>, LuaError> {
    if ctx.nargs() < n {
        return Ok(None);
    }
    opt_int_at(ctx, name, n, n)
}

/// [`opt_int`] of the value at stack index `at`, named argument `n` in the messages
/// (`HTTPMessage`'s primitives, `super::filter_msg`, take two slots for the message).
pub(super) fn opt_int_at(ctx: &CallCtx, name: &str, at: c_int, n: c_int) -> Result<Option<i64>, LuaError> {
    if ctx.nargs() < at {
        return Ok(None);
    }
    let bad = |got: &str| {
        LuaError::message(format!("bad argument #{n} to '{name}' (number expected, got {got})"))
    };
    match ctx.value(at) {
        crate::lua::Value::Integer(i) => Ok(Some(i)),
        crate::lua::Value::Number(f) if f.fract() == 0.0 => Ok(Some(f as i64)),
        crate::lua::Value::Number(_) => Err(LuaError::message(format!(
            "bad argument #{n} to '{name}' (number has no integer representation)"
        ))),
        crate::lua::Value::String(s) => String::from_utf8_lossy(&s)
            .trim()
            .parse::<i64>()
            .map(Some)
            .map_err(|_| bad("string")),
        _ => Err(bad(ctx.type_name(at))),
    }
}

/// String argument `n` (numbers converted), with `luaL_checklstring`'s message.
fn str_arg(ctx: &CallCtx, name: &str, n: c_int) -> Result<Vec<u8>, LuaError> {
    str_arg_at(ctx, name, n, n)
}

/// [`str_arg`] of the value at stack index `at`, named argument `n` in the messages.
pub(super) fn str_arg_at(ctx: &CallCtx, name: &str, at: c_int, n: c_int) -> Result<Vec<u8>, LuaError> {
    match ctx.value(at) {
        crate::lua::Value::String(s) => Ok(s),
        crate::lua::Value::Integer(i) => Ok(i.to_string().into_bytes()),
        crate::lua::Value::Number(f) => Ok(super::concat::lua_number_text(f).into_bytes()),
        _ => Err(LuaError::message(format!(
            "bad argument #{n} to '{name}' (string expected, got {})",
            ctx.type_name(at)
        ))),
    }
}

/// An offset relative to the input start, negative from its end (0 by default); out of
/// `0..=input` is HAProxy's `offset out of range.`
fn offset(off: Option<i64>, input: usize) -> Result<usize, LuaError> {
    let mut off = off.unwrap_or(0);
    if off < 0 {
        off = (input as i64 + off).max(0);
    }
    usize::try_from(off)
        .ok()
        .filter(|&o| o <= input)
        .ok_or_else(|| LuaError::message("offset out of range."))
}

/// The length of a range at `off` for `set`/`remove`: the rest of the input by default
/// or with `-1`; past the input is `length out of range.`
fn span(len: Option<i64>, off: usize, input: usize) -> Result<usize, LuaError> {
    match len {
        None | Some(-1) => Ok(input - off),
        Some(l) if l < 0 || off + l as usize > input => Err(LuaError::message(OUT_OF_RANGE_LEN)),
        Some(l) => Ok(l as usize),
    }
}

const OUT_OF_RANGE_LEN: &str = "length out of range.";

/// [`offset`], [`span`] and [`window`] for `HTTPMessage` (`super::filter_msg`).
pub(super) fn offset_of(off: Option<i64>, input: usize) -> Result<usize, LuaError> {
    offset(off, input)
}
pub(super) fn span_of(len: Option<i64>, off: usize, input: usize) -> Result<usize, LuaError> {
    span(len, off, input)
}
pub(super) fn window_of(off: Option<i64>, len: Option<i64>, input: usize) -> Result<(usize, Option<usize>), LuaError> {
    window(off, len, input)
}

/// Pushes `(value, again)`: the primitives of the waiting functions.
fn answer(ctx: &mut CallCtx, v: Option<Vec<u8>>, again: bool) -> Result<c_int, LuaError> {
    match v {
        Some(b) => ctx.push_bytes(&b)?,
        None => ctx.push_nil()?,
    }
    ctx.push_boolean(again)?;
    Ok(2)
}

/// `P.ch_wait(ch)`: the action waits for more bytes of the channel.
static WAIT: RustFunction = RustFunction::new("wait", |ctx| {
    with_tcp(ctx, "wait", |io, res| {
        io.wait_data(res);
        Ok(())
    })?;
    ctx.yield_now(crate::lua::WaitReason::Forced)?;
    Ok(0)
});

static INPUT: RustFunction = RustFunction::new("input", |ctx| {
    need_args(ctx, "input", 1)?;
    let n = with_io(ctx, "input", |io, res| io.map_or(0, |io| io.input(res).len()))?;
    ctx.push_integer(n as i64)?;
    Ok(1)
});

static OUTPUT: RustFunction = RustFunction::new("output", |ctx| {
    need_args(ctx, "output", 1)?;
    let n = with_io(ctx, "output", |io, res| io.map_or(0, |io| io.output_len(res)))?;
    ctx.push_integer(n as i64)?;
    Ok(1)
});

static MAY_RECV: RustFunction = RustFunction::new("may_recv", |ctx| {
    need_args(ctx, "may_recv", 1)?;
    let b = with_io(ctx, "may_recv", |io, res| io.is_none_or(|io| io.may_recv(res)))?;
    ctx.push_boolean(b)?;
    Ok(1)
});

static IS_FULL: RustFunction = RustFunction::new("is_full", |ctx| {
    need_args(ctx, "is_full", 1)?;
    let b = with_io(ctx, "is_full", |io, res| io.is_some_and(|io| io.is_full(res)))?;
    ctx.push_boolean(b)?;
    Ok(1)
});

static IS_RESP: RustFunction = RustFunction::new("is_resp", |ctx| {
    need_args(ctx, "is_resp", 1)?;
    let b = chan_ref(ctx, "is_resp")?.res;
    ctx.push_boolean(b)?;
    Ok(1)
});

/// The `(offset, length)` of `data`/`line` on an input of `input` bytes: the length is
/// `None` for "as much as there is"; `-1` asks for a buffer's worth.
fn window(off: Option<i64>, len: Option<i64>, input: usize) -> Result<(usize, Option<usize>), LuaError> {
    let off = offset(off, input)?;
    match len {
        None => Ok((off, None)),
        Some(-1) => Ok((off, Some(usize::MAX))),
        Some(l) if l < 0 => Err(LuaError::message(OUT_OF_RANGE_LEN)),
        Some(l) => Ok((off, Some(l as usize))),
    }
}

/// `ch:data([off [, len]])`: a copy of input bytes; waits while the range asked for
/// goes past the input (or, without a length, while there is no input); `nil` when
/// there is nothing and the input is closed.
static DATA: RustFunction = RustFunction::new("data", |ctx| {
    if ctx.nargs() > 3 {
        return Err(LuaError::message("'data' expects at most 2 arguments"));
    }
    let (off, len) = (opt_int(ctx, "data", 2)?, opt_int(ctx, "data", 3)?);
    let (v, again) = with_tcp(ctx, "data", |io, res| {
        let input = io.input(res);
        let (off, len) = window(off, len, input.len())?;
        let avail = input.len() - off;
        let short = match len {
            Some(0) => false,
            Some(l) => l > avail,
            None => avail == 0,
        };
        if short && io.can_wait(res) {
            return Ok((None, true));
        }
        let out = &input[off..off + len.unwrap_or(avail).min(avail)];
        if out.is_empty() && io.input_closed(res) {
            return Ok((None, false));
        }
        Ok((Some(out.to_vec()), false))
    })?;
    answer(ctx, v, again)
});

/// `ch:line([off [, len]])`: the first line (LF included) of the range; waits for the
/// LF while more may come, then gives what there is.
static LINE: RustFunction = RustFunction::new("line", |ctx| {
    if ctx.nargs() > 3 {
        return Err(LuaError::message("'line' expects at most 2 arguments"));
    }
    let (off, len) = (opt_int(ctx, "line", 2)?, opt_int(ctx, "line", 3)?);
    let (v, again) = with_tcp(ctx, "line", |io, res| {
        let input = io.input(res);
        let (off, len) = window(off, len, input.len())?;
        let avail = &input[off..];
        let window = &avail[..len.unwrap_or(avail.len()).min(avail.len())];
        if let Some(i) = window.iter().position(|&b| b == b'\n') {
            return Ok((Some(window[..=i].to_vec()), false));
        }
        if io.can_wait(res) {
            return Ok((None, true));
        }
        if window.is_empty() && io.input_closed(res) {
            return Ok((None, false));
        }
        Ok((Some(window.to_vec()), false))
    })?;
    answer(ctx, v, again)
});

/// `dup` and `get`: all the input, waiting while there is none; `get` removes it.
fn dup_or_get(ctx: &mut CallCtx, name: &str, remove: bool) -> Result<c_int, LuaError> {
    need_args(ctx, name, 1)?;
    let (v, again) = with_tcp(ctx, name, |io, res| {
        let input = io.input(res).to_vec();
        if input.is_empty() {
            return Ok((None, io.can_wait(res)));
        }
        if remove {
            io.splice(res, 0, input.len(), b"");
        }
        Ok((Some(input), false))
    })?;
    answer(ctx, v, again)
}

static DUP: RustFunction = RustFunction::new("dup", |ctx| dup_or_get(ctx, "dup", false));
static GET: RustFunction = RustFunction::new("get", |ctx| dup_or_get(ctx, "get", true));

/// `ch:getline()`: removes and returns the first line, waiting for its LF while more
/// may come; then the rest of the input (`nil` when none is left and the input closed).
static GETLINE: RustFunction = RustFunction::new("getline", |ctx| {
    need_args(ctx, "getline", 1)?;
    let (v, again) = with_tcp(ctx, "getline", |io, res| {
        let input = io.input(res);
        let take = match input.iter().position(|&b| b == b'\n') {
            Some(i) => i + 1,
            None if io.can_wait(res) => return Ok((None, true)),
            None if input.is_empty() => return Ok((None, false)),
            None => input.len(),
        };
        let line = input[..take].to_vec();
        io.splice(res, 0, take, b"");
        Ok((Some(line), false))
    })?;
    answer(ctx, v, again)
});

/// `ch:set(str [, off [, len]])`: replaces `len` input bytes at `off` (all the rest by
/// default, or with `-1`) by `str`; the length written, or -1 when it does not fit.
static SET: RustFunction = RustFunction::new("set", |ctx| {
    if !(2..=4).contains(&ctx.nargs()) {
        return Err(LuaError::message(
            "'set' expects at least 1 argument and at most 3 arguments",
        ));
    }
    let s = str_arg(ctx, "set", 2)?;
    let (off, len) = (opt_int(ctx, "set", 3)?, opt_int(ctx, "set", 4)?);
    let ret = with_tcp_mut(ctx, "set", |io, res| {
        let input = io.input(res).len();
        let off = offset(off, input)?;
        let len = if len == Some(0) { 0 } else { span(len, off, input)? };
        if s.len() > io.room(res) + len || !io.splice(res, off, len, &s) {
            return Ok(-1);
        }
        Ok(s.len() as i64)
    })?;
    ctx.push_integer(ret)?;
    Ok(1)
});

/// `ch:remove([off [, len]])`: deletes input bytes; the count removed.
static REMOVE: RustFunction = RustFunction::new("remove", |ctx| {
    if ctx.nargs() > 3 {
        return Err(LuaError::message("'remove' expects at most 2 arguments"));
    }
    let (off, len) = (opt_int(ctx, "remove", 2)?, opt_int(ctx, "remove", 3)?);
    let ret = with_tcp_mut(ctx, "remove", |io, res| {
        let input = io.input(res).len();
        let off = offset(off, input)?;
        let len = span(len, off, input)?;
        io.splice(res, off, len, b"");
        Ok(len as i64)
    })?;
    ctx.push_integer(ret)?;
    Ok(1)
});

/// Inserts `s` at input offset `off`: its length, or -1 when it does not fit.
fn insert_at(io: &mut dyn ChannelIo, res: bool, off: usize, s: &[u8]) -> i64 {
    if s.len() > io.room(res) || !io.splice(res, off, 0, s) {
        return -1;
    }
    s.len() as i64
}

/// `ch:insert(str [, off])`: at the input start by default.
static INSERT: RustFunction = RustFunction::new("insert", |ctx| {
    if !(2..=3).contains(&ctx.nargs()) {
        return Err(LuaError::message(
            "'insert' expects at least 1 argument and at most 2 arguments",
        ));
    }
    let s = str_arg(ctx, "insert", 2)?;
    let off = opt_int(ctx, "insert", 3)?;
    let ret = with_tcp_mut(ctx, "insert", |io, res| {
        let off = offset(off, io.input(res).len())?;
        Ok(insert_at(io, res, off, &s))
    })?;
    ctx.push_integer(ret)?;
    Ok(1)
});

static APPEND: RustFunction = RustFunction::new("append", |ctx| {
    need_args(ctx, "append", 2)?;
    let s = str_arg(ctx, "append", 2)?;
    let ret = with_tcp_mut(ctx, "append", |io, res| {
        let end = io.input(res).len();
        Ok(insert_at(io, res, end, &s))
    })?;
    ctx.push_integer(ret)?;
    Ok(1)
});

static PREPEND: RustFunction = RustFunction::new("prepend", |ctx| {
    need_args(ctx, "prepend", 2)?;
    let s = str_arg(ctx, "prepend", 2)?;
    let ret = with_tcp_mut(ctx, "prepend", |io, res| Ok(insert_at(io, res, 0, &s)))?;
    ctx.push_integer(ret)?;
    Ok(1)
});

/// `ch:send(str)`: the bytes go out ahead of the input (at the end of the output part);
/// their length, or -1 when they do not fit. They leave once the rules let the stream
/// forward (HAProxy sends them at once and yields until they are out).
static SEND: RustFunction = RustFunction::new("send", |ctx| {
    need_args(ctx, "send", 2)?;
    let s = str_arg(ctx, "send", 2)?;
    let ret = with_tcp_mut(ctx, "send", |io, res| {
        if s.len() > io.room(res) || !io.send(res, &s) {
            return Ok(-1);
        }
        Ok(s.len() as i64)
    })?;
    ctx.push_integer(ret)?;
    Ok(1)
});

/// `P.ch_forward(ch, n, done)`: forwards up to `n - done` input bytes; `(count, again)`,
/// again while bytes are missing and more may come.
static FORWARD: RustFunction = RustFunction::new("forward", |ctx| {
    if ctx.nargs() != 3 {
        return Err(LuaError::message("'forward' needs 2 arguments"));
    }
    let want = opt_int(ctx, "forward", 2)?.unwrap_or(0).max(0) as usize;
    let done = opt_int(ctx, "forward", 3)?.unwrap_or(0).max(0) as usize;
    let (n, again) = with_tcp_mut(ctx, "forward", |io, res| {
        let left = want.saturating_sub(done);
        let now = left.min(io.input(res).len());
        io.forward(res, now);
        Ok((now, now < left && io.can_wait(res)))
    })?;
    ctx.push_integer(n as i64)?;
    ctx.push_boolean(again)?;
    Ok(2)
});

/// A [`ChannelIo`] over plain byte vectors, for tests and tools.
#[derive(Default, Debug)]
pub struct MemChannels {
    /// `[request, response]`: `(bytes, output length)`.
    pub dirs: [(Vec<u8>, usize); 2],
    pub cap: usize,
    pub closed: [bool; 2],
    pub can_wait: bool,
    pub waited: Option<bool>,
}

impl ChannelIo for MemChannels {
    fn input(&self, res: bool) -> &[u8] {
        let (b, out) = &self.dirs[usize::from(res)];
        &b[*out..]
    }
    fn output_len(&self, res: bool) -> usize {
        self.dirs[usize::from(res)].1
    }
    fn splice(&mut self, res: bool, at: usize, remove: usize, with: &[u8]) -> bool {
        let cap = self.cap;
        let (b, out) = &mut self.dirs[usize::from(res)];
        if b.len() - remove + with.len() > cap {
            return false;
        }
        let at = *out + at;
        b.splice(at..at + remove, with.iter().copied());
        true
    }
    fn send(&mut self, res: bool, bytes: &[u8]) -> bool {
        let cap = self.cap;
        let (b, out) = &mut self.dirs[usize::from(res)];
        if b.len() + bytes.len() > cap {
            return false;
        }
        b.splice(*out..*out, bytes.iter().copied());
        *out += bytes.len();
        true
    }
    fn forward(&mut self, res: bool, n: usize) {
        let (b, out) = &mut self.dirs[usize::from(res)];
        *out = (*out + n).min(b.len());
    }
    fn room(&self, res: bool) -> usize {
        self.cap - self.dirs[usize::from(res)].0.len()
    }
    fn may_recv(&self, res: bool) -> bool {
        !self.closed[usize::from(res)] && !self.is_full(res)
    }
    fn input_closed(&self, res: bool) -> bool {
        self.closed[usize::from(res)]
    }
    fn is_full(&self, res: bool) -> bool {
        self.dirs[usize::from(res)].0.len() >= self.cap
    }
    fn can_wait(&self, res: bool) -> bool {
        self.can_wait && self.may_recv(res)
    }
    fn wait_data(&mut self, res: bool) {
        self.waited = Some(res);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mem_channels_keep_output_ahead_of_input() {
        let mut m = MemChannels { cap: 16, ..Default::default() };
        m.dirs[0].0 = b"hello".to_vec();
        assert!(m.splice(false, 1, 2, b"EY"));
        assert_eq!(m.input(false), b"hEYlo");
        m.forward(false, 2);
        assert!(m.send(false, b"SS"));
        assert_eq!((m.input(false), m.output_len(false)), (&b"Ylo"[..], 4));
        assert_eq!(m.dirs[0].0, b"hESSYlo");
        assert!(!m.splice(false, 0, 0, b"0123456789"), "past the capacity");
        assert_eq!(m.room(false), 9);
    }
}
