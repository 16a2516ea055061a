//! The one trampoline for Rust functions exposed to Lua (`doc/lua-ffi.md` sections 2 and 3).
//!
//! A [`RustFunction`] is a `static` naming a plain Rust function
//! `fn(&mut CallCtx) -> Result<c_int, LuaError>`. Lua calls `trampoline`, which runs it under
//! `catch_unwind` in `invoke`; every Rust value the function owned is dropped when `invoke`
//! returns, and only then does the trampoline, holding `Copy` locals only, return, yield
//! (`lua_yieldk`) or raise (`lua_error`). This file is the only place that calls those two.
use super::error::LuaError;
use super::hook::{self, WaitReason};
use super::state::{self, shared_of, AbortKind, Shared, Value};
use super::userdata::{self, Class, Handle};
use lua54_sys as ffi;
use std::os::raw::c_int;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// The signature of a Rust function callable from Lua: it reads its arguments and pushes its
/// results through the [`CallCtx`], and returns how many results it pushed.
pub type RustFn = fn(&mut CallCtx) -> Result<c_int, LuaError>;

/// A Rust function exposed to Lua. Always a `static`: Lua keeps a pointer to it.
pub struct RustFunction {
    /// The name used in argument errors (`bad argument #1 to 'name'`).
    pub name: &'static str,
    pub func: RustFn,
}

impl RustFunction {
    pub const fn new(name: &'static str, func: RustFn) -> Self {
        RustFunction { name, func }
    }
}

/// Pushes `f` as a C closure (one light-userdata upvalue: the static's address).
/// **Raises** (memory).
///
/// # Safety
/// Protected context, one free stack slot.
pub(crate) unsafe fn push_function(l: *mut ffi::lua_State, f: &'static RustFunction) {
    // SAFETY: forwarded contract; the static outlives the state.
    unsafe {
        ffi::lua_pushlightuserdata(l, (f as *const RustFunction).cast_mut().cast());
        ffi::lua_pushcclosure(l, trampoline, 1);
    }
}

/// What the trampoline does once the Rust function is over.
#[derive(Clone, Copy)]
enum Outcome {
    Return(c_int),
    Yield(c_int),
    /// The error object is on top of the stack.
    Raise,
}

/// The C function behind every [`RustFunction`].
unsafe extern "C-unwind" fn trampoline(l: *mut ffi::lua_State) -> c_int {
    // SAFETY: pushed by push_function, so upvalue 1 is a &'static RustFunction. `invoke` owns
    // and drops every Rust value; what remains here is Copy (rule L1), so lua_yieldk and
    // lua_error may longjmp over this frame.
    unsafe {
        let f = &*ffi::lua_touserdata(l, ffi::lua_upvalueindex(1)).cast::<RustFunction>();
        match invoke(l, f) {
            Outcome::Return(n) => n,
            Outcome::Yield(n) => ffi::lua_yieldk(l, n, 0, None),
            Outcome::Raise => ffi::lua_error(l),
        }
    }
}

/// Runs the Rust function and prepares the outcome. Never raises. Not inlined, so that the
/// frame that owned Rust values is gone when the trampoline longjmps.
#[inline(never)]
unsafe fn invoke(l: *mut ffi::lua_State, f: &'static RustFunction) -> Outcome {
    // SAFETY: l is the running thread of one of our states.
    let shared = unsafe { shared_of(l) };
    // SAFETY: lua_gettop never raises.
    let nargs = unsafe { ffi::lua_gettop(l) };
    let mut ctx = CallCtx {
        l,
        shared,
        name: f.name,
        nargs,
        yield_reason: None,
    };
    let result = catch_unwind(AssertUnwindSafe(|| (f.func)(&mut ctx)));
    match result {
        Ok(Ok(n)) => match ctx.yield_reason {
            Some(reason) => {
                let task = shared.running_task.get();
                // SAFETY: yield_now checked that a task is running; its context is alive while
                // it runs.
                unsafe { (*task).pending.set(Some(reason)) };
                Outcome::Yield(n)
            }
            None => Outcome::Return(n),
        },
        Ok(Err(e)) => {
            // SAFETY: l is valid; push_error leaves exactly one value on top.
            unsafe { push_error(l, &e) };
            Outcome::Raise
        }
        Err(payload) => {
            let what = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "non-string panic payload".into());
            let msg = format!("panic in Rust function '{}': {what}", f.name);
            log::error!("Lua: {msg}");
            shared.set_abort(AbortKind::Panic);
            shared.panic_msg.borrow_mut().get_or_insert(msg.clone());
            // SAFETY: as above; the re-raise hook makes the error uncatchable (rule P1).
            unsafe {
                push_error(l, &LuaError::Message(msg));
                hook::arm_reraise(l);
            }
            Outcome::Raise
        }
    }
}

/// Pushes the error value for `e` under protection. If even that runs out of memory, the
/// memory error object is on top instead: either way exactly one value is pushed.
///
/// # Safety
/// `l` is the running thread inside a C function.
unsafe fn push_error(l: *mut ffi::lua_State, e: &LuaError) {
    let text = e.to_string();
    let bytes: &[u8] = text.as_bytes();
    let with_position = matches!(e, LuaError::Runtime(_));
    // SAFETY: the closure captures a slice owned by this frame, outside the protected call,
    // and pushes one value. On failure lua_pcall leaves the error object (for a memory error,
    // Lua's preallocated "not enough memory" string) in its place: one value either way.
    unsafe {
        state::pcall_raw(l, 0, 1, move |l| {
            if with_position {
                // Level 0 is the protect trampoline, 1 the callback's C function, 2 its caller.
                ffi::luaL_where(l, 2);
                ffi::lua_pushlstring(l, bytes.as_ptr().cast(), bytes.len());
                ffi::lua_concat(l, 2);
            } else {
                ffi::lua_pushlstring(l, bytes.as_ptr().cast(), bytes.len());
            }
            1
        });
    }
}

/// The view a Rust function has of its call: arguments, results, yields.
pub struct CallCtx {
    l: *mut ffi::lua_State,
    shared: &'static Shared,
    name: &'static str,
    nargs: c_int,
    yield_reason: Option<WaitReason>,
}

impl CallCtx {
    /// The calling thread, for raw API use inside `crate::lua`.
    pub fn raw(&self) -> *mut ffi::lua_State {
        self.l
    }

    /// The function's name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Number of arguments.
    pub fn nargs(&self) -> c_int {
        self.nargs
    }

    /// An argument error, worded like Lua's `luaL_argerror`.
    pub fn arg_error(&self, n: c_int, msg: &str) -> LuaError {
        LuaError::runtime(format!("bad argument #{n} to '{}' ({msg})", self.name))
    }

    fn type_error(&self, n: c_int, expected: &str) -> LuaError {
        let got = self.type_name(n);
        self.arg_error(n, &format!("{expected} expected, got {got}"))
    }

    /// Replaces argument `n` (a positive index), when it is an object made in Lua around
    /// a value (a table holding it at `[0]`: `TXN`, `Channel`, `AppletHTTP`...), by that
    /// `[0]` on the stack; any other argument stays as it is.
    pub fn unwrap_object(&mut self, n: c_int) -> Result<(), LuaError> {
        if self.type_name(n) == "table" {
            self.reserve(1)?;
            // SAFETY: a raw get neither raises nor allocates (room reserved); lua_replace
            // moves the value into argument n's slot and pops it.
            unsafe {
                ffi::lua_rawgeti(self.l, n, 0);
                ffi::lua_replace(self.l, n);
            }
        }
        Ok(())
    }

    /// Lua's name for the type of argument `n` (`no value` when absent).
    pub fn type_name(&self, n: c_int) -> &'static str {
        // SAFETY: lua_type never raises.
        match unsafe { ffi::lua_type(self.l, n) } {
            ffi::LUA_TNONE => "no value",
            ffi::LUA_TNIL => "nil",
            ffi::LUA_TBOOLEAN => "boolean",
            ffi::LUA_TLIGHTUSERDATA | ffi::LUA_TUSERDATA => "userdata",
            ffi::LUA_TNUMBER => "number",
            ffi::LUA_TSTRING => "string",
            ffi::LUA_TTABLE => "table",
            ffi::LUA_TFUNCTION => "function",
            _ => "thread",
        }
    }

    /// Copies argument `n` (absent: `Nil`).
    pub fn value(&self, n: c_int) -> Value {
        // SAFETY: read_value never raises.
        unsafe { state::read_value(self.l, n) }
    }

    /// Argument `n` as an integer (numbers with an exact integer value and numeric strings are
    /// accepted, as `luaL_checkinteger` does).
    pub fn integer(&self, n: c_int) -> Result<i64, LuaError> {
        let mut isnum = 0;
        // SAFETY: lua_tointegerx never raises.
        let v = unsafe { ffi::lua_tointegerx(self.l, n, &mut isnum) };
        if isnum != 0 {
            return Ok(v);
        }
        // SAFETY: lua_type never raises.
        if unsafe { ffi::lua_type(self.l, n) } == ffi::LUA_TNUMBER {
            return Err(self.arg_error(n, "number has no integer representation"));
        }
        Err(self.type_error(n, "number"))
    }

    /// Argument `n` as a number.
    pub fn number(&self, n: c_int) -> Result<f64, LuaError> {
        let mut isnum = 0;
        // SAFETY: lua_tonumberx never raises.
        let v = unsafe { ffi::lua_tonumberx(self.l, n, &mut isnum) };
        if isnum != 0 {
            Ok(v)
        } else {
            Err(self.type_error(n, "number"))
        }
    }

    /// Argument `n` as bytes: a string, or a number formatted as Lua does for integers.
    pub fn bytes(&self, n: c_int) -> Result<Vec<u8>, LuaError> {
        match self.value(n) {
            Value::String(b) => Ok(b),
            Value::Integer(i) => Ok(i.to_string().into_bytes()),
            Value::Number(f) => Ok(format!("{f}").into_bytes()),
            _ => Err(self.type_error(n, "string")),
        }
    }

    /// Argument `n` as a UTF-8 string (invalid sequences replaced).
    pub fn string(&self, n: c_int) -> Result<String, LuaError> {
        self.bytes(n)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
    }

    /// Argument `n` is truthy.
    pub fn boolean(&self, n: c_int) -> bool {
        // SAFETY: lua_toboolean never raises.
        unsafe { ffi::lua_toboolean(self.l, n) != 0 }
    }

    /// Makes room for `n` more values (rule S1).
    pub fn reserve(&mut self, n: c_int) -> Result<(), LuaError> {
        // SAFETY: lua_checkstack never raises in 5.4.
        if unsafe { ffi::lua_checkstack(self.l, n) } != 0 {
            Ok(())
        } else {
            Err(LuaError::message("stack overflow"))
        }
    }

    pub fn push_nil(&mut self) -> Result<(), LuaError> {
        self.reserve(1)?;
        // SAFETY: room reserved; never raises.
        unsafe { ffi::lua_pushnil(self.l) };
        Ok(())
    }

    pub fn push_boolean(&mut self, b: bool) -> Result<(), LuaError> {
        self.reserve(1)?;
        // SAFETY: room reserved; never raises.
        unsafe { ffi::lua_pushboolean(self.l, b as c_int) };
        Ok(())
    }

    pub fn push_integer(&mut self, i: i64) -> Result<(), LuaError> {
        self.reserve(1)?;
        // SAFETY: room reserved; never raises.
        unsafe { ffi::lua_pushinteger(self.l, i) };
        Ok(())
    }

    pub fn push_number(&mut self, f: f64) -> Result<(), LuaError> {
        self.reserve(1)?;
        // SAFETY: room reserved; never raises.
        unsafe { ffi::lua_pushnumber(self.l, f) };
        Ok(())
    }

    /// Pushes a string (allocates: protected when a memory limit is set, rule M2).
    pub fn push_bytes(&mut self, b: &[u8]) -> Result<(), LuaError> {
        self.reserve(1)?;
        let (p, len) = (b.as_ptr(), b.len());
        // SAFETY: the closure captures a pointer and length into `b`, which outlives the call.
        unsafe {
            self.allocating(move |l| {
                ffi::lua_pushlstring(l, p.cast(), len);
                1
            })
        }
    }

    pub fn push_str(&mut self, s: &str) -> Result<(), LuaError> {
        self.push_bytes(s.as_bytes())
    }

    /// Runs allocating raw code that pushes exactly `1` value: directly when the state has no
    /// memory limit (it cannot raise then, rule M2), else under protection.
    ///
    /// # Safety
    /// `f` follows `state::protect`'s contract and pushes one value.
    pub(crate) unsafe fn allocating<F>(&mut self, f: F) -> Result<(), LuaError>
    where
        F: FnOnce(*mut ffi::lua_State) -> c_int + Copy,
    {
        if self.shared.alloc.is_limited() {
            // SAFETY: forwarded contract.
            unsafe { state::protect(self.l, 0, 1, f) }
        } else {
            // With no limit the allocator never fails (it aborts), so nothing raises.
            f(self.l);
            Ok(())
        }
    }

    /// The task being resumed when this function runs in one (`None` in a body or an
    /// init function run on the main thread).
    pub fn running_task(&self) -> Option<&crate::lua::task::TaskCtx> {
        let task = self.shared.running_task.get();
        // SAFETY: `Task::resume` sets the pointer for the length of the resume, which
        // contains this call, and clears it after; the context is boxed in its task and
        // outlives the resume, so the borrow (bounded by `self`) stays valid.
        (!task.is_null()).then(|| unsafe { &*task })
    }

    /// Asks to yield the running task once this function returns (rule Y1): the task's resume
    /// reports `reason`, and when the task is resumed, the values passed to the resume are the
    /// results of this call. Fails outside a task or where Lua cannot yield.
    pub fn yield_now(&mut self, reason: WaitReason) -> Result<(), LuaError> {
        if self.shared.running_task.get().is_null() {
            return Err(LuaError::runtime("cannot yield outside a task"));
        }
        // SAFETY: lua_isyieldable never raises.
        if unsafe { ffi::lua_isyieldable(self.l) } == 0 {
            return Err(LuaError::runtime(
                "attempt to yield across a C-call boundary",
            ));
        }
        self.yield_reason = Some(reason);
        Ok(())
    }

    /// Pushes a new userdata of class `class` holding `value` (rule U1).
    pub fn push_userdata<T: 'static>(
        &mut self,
        class: &'static Class<T>,
        value: T,
    ) -> Result<(), LuaError> {
        self.reserve(4)?;
        let mut slot = Some(value);
        let slot_ptr: *mut Option<T> = &mut slot;
        // SAFETY: the closure captures raw pointers only; the value moves into the block right
        // after allocation, with no raising call in between (userdata::push).
        unsafe { self.allocating(move |l| userdata::push(l, class, slot_ptr)) }
    }

    /// Argument `n` as a userdata of class `class` (a type error otherwise).
    pub fn userdata<T: 'static>(&self, n: c_int, class: &'static Class<T>) -> Result<&T, LuaError> {
        // SAFETY: the check only reads; the value stays on the stack (an argument) for the
        // whole call, which bounds the borrow of `self`.
        match unsafe { userdata::check::<T>(self.l, n, class) } {
            Some(p) => Ok(p),
            None => Err(self.type_error(n, class.name)),
        }
    }

    /// Argument `n` as a live handle of class `class`: a type error, or
    /// `<Class> object no longer valid` when its generation is gone (rule U2).
    pub fn handle(&self, n: c_int, class: &'static Class<Handle>) -> Result<Handle, LuaError> {
        let h = *self.userdata(n, class)?;
        if self.shared.handles.borrow().is_live(h) {
            Ok(h)
        } else {
            Err(LuaError::runtime(format!(
                "{} object no longer valid",
                class.name
            )))
        }
    }
}
