//! The Concat class (`core.concat()`), and the argument helpers shared by the library modules
//! ([`super::text`], [`super::addr`], [`super::regex`]).
//!
//! HAProxy 2.6 semantics (checked against `haproxy -c` running a `lua-load` body):
//!
//! * `core.concat()` returns a new, empty buffer; extra arguments are ignored.
//! * `c:add(s)` appends `s`, which may be a string or a number (a number is converted as Lua's
//!   `tostring` does: `12`, `1.5`, `3.0`, `1e+100`, `inf`); it returns nothing and ignores
//!   extra arguments. Any other type: `bad argument #1 to 'add' (string expected, got nil)`.
//! * `c:dump()` returns everything appended so far, as one string; the buffer keeps its
//!   content (a later `add` appends to it).
//!
//! Deviations, all in what a script can observe about the object itself:
//!
//! * HAProxy's object is a table holding a userdata at `[0]`, with a readable metatable and a
//!   `__tostring` giving `Concat object: 0x...`. Ours is a userdata of the class `Concat`:
//!   `type(c)` is `"userdata"`, `getmetatable(c)` is `false`, `tostring(c)` is
//!   `Concat: 0x...`, and scripts cannot add fields to it.
//! * A method called on something that is not a Concat (`c.add(nil, "x")`) says
//!   `bad argument #1 to 'add' (Concat expected, got nil)` where HAProxy prints `((null))`.
//! * `core.concat("x")` returns a Concat (HAProxy returns a malformed object there).
//!
//! The buffer is allocated through the state's Lua allocator (`lua_getallocf`), so it counts
//! against `tune.lua.maxmem` like HAProxy's own buffer, which lives in Lua memory: a script
//! cannot bypass the limit by building a large string in a Concat. Growth past the limit fails
//! the `add` with `not enough memory`.
use crate::lua::callback::{CallCtx, RustFunction};
use crate::lua::error::LuaError;
use crate::lua::state;
use crate::lua::userdata::Class;
use lua54_sys as ffi;
use std::cell::RefCell;
use std::os::raw::{c_int, c_void};

/// The Concat class: a byte buffer owned by Rust, allocated in Lua's memory.
pub static CONCAT: Class<RefCell<LuaBuffer>> =
    Class::new("Concat", &[(c"add", &CONCAT_ADD), (c"dump", &CONCAT_DUMP)]).printed_as(crate::lua::userdata::Printed::Object);

static CONCAT_NEW: RustFunction = RustFunction::new("concat", concat_new);
static CONCAT_ADD: RustFunction = RustFunction::new("add", concat_add);
static CONCAT_DUMP: RustFunction = RustFunction::new("dump", concat_dump);

/// The `core` functions of this module, by name without the `core.` prefix.
pub fn core_functions() -> &'static [(&'static str, &'static RustFunction)] {
    &CORE_FUNCTIONS
}

static CORE_FUNCTIONS: [(&str, &RustFunction); 1] = [("concat", &CONCAT_NEW)];

/// `core.concat()`: a new, empty Concat.
fn concat_new(ctx: &mut CallCtx) -> Result<c_int, LuaError> {
    let buffer = LuaBuffer::new(ctx.raw());
    ctx.push_userdata(&CONCAT, RefCell::new(buffer))?;
    Ok(1)
}

/// `Concat.add(c, s)`: appends a string or a number.
fn concat_add(ctx: &mut CallCtx) -> Result<c_int, LuaError> {
    let concat = ctx.check_self(&CONCAT)?;
    let bytes = ctx.check_lstring(2)?;
    // No Lua code runs while the buffer is borrowed (growing only calls the allocator); the
    // collections below may run finalizers, which may use this Concat: no borrow is held then.
    // The object itself is argument 1, so the collector cannot free it meanwhile.
    let grown = concat.borrow_mut().extend(&bytes);
    match grown {
        Ok(allocated) => ctx.collector_step(allocated),
        Err(LuaError::Memory) => {
            // As Lua does for its own allocations: an emergency collection, then one retry.
            // Garbage Concats hold memory the collector does not see, so this matters.
            ctx.full_collection();
            concat.borrow_mut().extend(&bytes)?;
        }
        Err(e) => return Err(e),
    }
    Ok(0)
}

/// `Concat.dump(c)`: the accumulated string.
fn concat_dump(ctx: &mut CallCtx) -> Result<c_int, LuaError> {
    // A copy: pushing a string may run the garbage collector, whose finalizers may run Lua
    // code that appends to this very buffer; a borrow of the buffer cannot be held across it.
    let content = ctx.check_self(&CONCAT)?.borrow().as_bytes().to_vec();
    ctx.push_bytes(&content)?;
    Ok(1)
}

/// A growable byte buffer whose memory comes from a Lua state's allocator, so that it is
/// counted (and limited) with the state's own memory (`tune.lua.maxmem`).
///
/// It keeps the allocator function and its `ud`, which live as long as the state; the buffer
/// is only ever owned by a userdata of that state (dropped by `__gc` at the latest when the
/// state is closed, before the allocator's block is freed).
pub struct LuaBuffer {
    ptr: *mut u8,
    len: usize,
    cap: usize,
    alloc: ffi::lua_Alloc,
    ud: *mut c_void,
}

impl LuaBuffer {
    /// The smallest allocation, to avoid many tiny reallocations for short appends.
    const MIN_CAPACITY: usize = 64;

    /// An empty buffer allocating through `l`'s allocator. Allocates nothing yet.
    fn new(l: *mut ffi::lua_State) -> Self {
        let mut ud = std::ptr::null_mut();
        // SAFETY: lua_getallocf only reads the global state; it never raises.
        let alloc = unsafe { ffi::lua_getallocf(l, &mut ud) };
        LuaBuffer {
            ptr: std::ptr::null_mut(),
            len: 0,
            cap: 0,
            alloc,
            ud,
        }
    }

    /// The content.
    pub fn as_bytes(&self) -> &[u8] {
        if self.len == 0 {
            return &[];
        }
        // SAFETY: `ptr` holds `cap >= len` bytes, the first `len` of them written by extend.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }

    /// Appends `bytes`, growing geometrically; returns how many bytes were newly allocated
    /// (0 when the capacity sufficed). Fails with [`LuaError::Memory`] when the allocator
    /// refuses the growth (the memory limit), leaving the content unchanged.
    pub fn extend(&mut self, bytes: &[u8]) -> Result<usize, LuaError> {
        let old_cap = self.cap;
        let needed = self.len.checked_add(bytes.len()).ok_or(LuaError::Memory)?;
        if needed > self.cap {
            let new_cap = needed
                .max(self.cap.saturating_mul(2))
                .max(Self::MIN_CAPACITY);
            // Growing the block: `ptr`/`cap` describe the block this allocator gave us (or
            // null, where Lua makes `osize` a type tag: 0 is fine). SAFETY: the allocator is
            // plain `extern "C"`, never unwinds, and on refusal returns null, old block intact.
            let new = unsafe { (self.alloc)(self.ud, self.ptr.cast(), self.cap, new_cap) };
            if new.is_null() {
                return Err(LuaError::Memory);
            }
            self.ptr = new.cast();
            self.cap = new_cap;
        }
        // SAFETY: the block holds `cap >= needed` bytes; `bytes` is a distinct Rust slice
        // (scripts cannot get a slice of this buffer), so the ranges do not overlap.
        unsafe {
            std::ptr::copy_nonoverlapping(bytes.as_ptr(), self.ptr.add(self.len), bytes.len())
        };
        self.len = needed;
        Ok(self.cap - old_cap)
    }
}

impl Drop for LuaBuffer {
    fn drop(&mut self) {
        if !self.ptr.is_null() {
            // SAFETY: frees the block this allocator gave us, with its true size; a free
            // never fails and never calls back into Lua.
            unsafe { (self.alloc)(self.ud, self.ptr.cast(), self.cap, 0) };
        }
    }
}

/// The collector does not see memory allocated outside its own accounting, such as a Concat
/// buffer: these keep it informed.
impl CallCtx {
    /// Runs a step of the incremental collector worth `allocated` bytes of allocation, so
    /// that garbage buffers are reclaimed at the pace they are created.
    fn collector_step(&self, allocated: usize) {
        let kilobytes = c_int::try_from(allocated / 1024).unwrap_or(c_int::MAX);
        if kilobytes == 0 {
            return;
        }
        // SAFETY: a collection step raises only if a finalizer's error handling runs out of
        // memory (5.4 turns finalizer errors into warnings); protected anyway. The closure
        // holds only Copy values. Finalizers may run Lua code: the callers hold no borrow.
        let _ = unsafe {
            state::protect(self.raw(), 0, 0, move |l| {
                ffi::lua_gc(l, ffi::LUA_GCSTEP, kilobytes);
                0
            })
        };
    }

    /// A full collection (Lua's emergency collection when an allocation is refused).
    fn full_collection(&self) {
        // SAFETY: as in collector_step.
        let _ = unsafe {
            state::protect(self.raw(), 0, 0, |l| {
                ffi::lua_gc(l, ffi::LUA_GCCOLLECT, 0);
                0
            })
        };
    }
}

/// Argument helpers worded as Lua's auxiliary library words them (`luaL_argerror`,
/// `luaL_checklstring`), which HAProxy's functions use. They belong next to the rest of
/// `CallCtx` (`src/lua/callback.rs`); they live here so the library modules could be written in
/// parallel with the core.
impl CallCtx {
    /// Whether the running function was called with the method syntax (`obj:name(...)`),
    /// as `lua_getinfo` reports it.
    fn called_as_method(&self) -> bool {
        let mut ar = ffi::lua_Debug::zeroed();
        // SAFETY: level 0 is the running C function (the trampoline of this call);
        // lua_getstack and lua_getinfo with "n" only read call information: they neither
        // allocate nor raise. `namewhat` points at a static string of Lua's.
        unsafe {
            ffi::lua_getstack(self.raw(), 0, &mut ar) != 0
                && ffi::lua_getinfo(self.raw(), c"n".as_ptr(), &mut ar) != 0
                && !ar.namewhat.is_null()
                && std::ffi::CStr::from_ptr(ar.namewhat) == c"method"
        }
    }

    /// An argument error worded like `luaL_argerror`: for a method call the object is not
    /// counted (`c:add(nil)` is about argument #1), and a bad object reads
    /// `calling 'add' on bad self (...)`.
    pub(crate) fn lua_arg_error(&self, n: c_int, msg: &str) -> LuaError {
        if self.called_as_method() {
            if n == 1 {
                return LuaError::runtime(format!("calling '{}' on bad self ({msg})", self.name()));
            }
            return self.arg_error(n - 1, msg);
        }
        self.arg_error(n, msg)
    }

    /// `<expected> expected, got <type>` for argument `n`.
    pub(crate) fn lua_type_error(&self, n: c_int, expected: &str) -> LuaError {
        let got = self.type_name(n);
        self.lua_arg_error(n, &format!("{expected} expected, got {got}"))
    }

    /// Argument `n` as `luaL_checklstring` reads it: a string, or a number converted as
    /// `tostring` does (`1`, `1.5`, `3.0`, `1e+100`); anything else is an argument error.
    pub(crate) fn check_lstring(&self, n: c_int) -> Result<Vec<u8>, LuaError> {
        use crate::lua::state::Value;
        match self.value(n) {
            Value::String(b) => Ok(b),
            Value::Integer(i) => Ok(i.to_string().into_bytes()),
            Value::Number(f) => Ok(lua_number_text(f).into_bytes()),
            _ => Err(self.lua_type_error(n, "string")),
        }
    }

    /// The object a method was called on (argument 1), of class `class`.
    pub(crate) fn check_self<T: 'static>(&self, class: &'static Class<T>) -> Result<&T, LuaError> {
        self.userdata(1, class)
            .map_err(|_| self.lua_type_error(1, class.name))
    }
}

/// Formats a float as Lua 5.4's `tostring` does: `%.14g`, plus `.0` when the result looks like
/// an integer.
pub(crate) fn lua_number_text(f: f64) -> String {
    let mut buf = [0u8; 64];
    // SAFETY: snprintf writes at most buf.len() bytes, NUL included, with a constant format
    // taking one double.
    let n = unsafe { libc::snprintf(buf.as_mut_ptr().cast(), buf.len(), c"%.14g".as_ptr(), f) };
    let n = (n.max(0) as usize).min(buf.len() - 1);
    let mut text = String::from_utf8_lossy(&buf[..n]).into_owned();
    if text.bytes().all(|b| b == b'-' || b.is_ascii_digit()) {
        text.push_str(".0");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_formatted_as_lua_tostring() {
        assert_eq!(lua_number_text(1.5), "1.5");
        assert_eq!(lua_number_text(3.0), "3.0");
        assert_eq!(lua_number_text(-0.0), "-0.0");
        assert_eq!(lua_number_text(1e100), "1e+100");
        assert_eq!(lua_number_text(2f64.powi(53)), "9.007199254741e+15");
        assert_eq!(lua_number_text(f64::INFINITY), "inf");
        assert_eq!(lua_number_text(f64::NEG_INFINITY), "-inf");
        assert_eq!(lua_number_text(0.1), "0.1");
    }

    #[test]
    fn buffer_grows_and_keeps_content() {
        let state = crate::lua::State::new().unwrap();
        let mut b = LuaBuffer::new(state.raw());
        assert_eq!(b.as_bytes(), b"");
        let before = state.memory().current;
        for i in 0..1000u32 {
            b.extend(i.to_string().as_bytes()).unwrap();
        }
        let expected: String = (0..1000u32).map(|i| i.to_string()).collect();
        assert_eq!(b.as_bytes(), expected.as_bytes());
        assert!(
            state.memory().current >= before + expected.len(),
            "the buffer is counted by the state's allocator"
        );
        drop(b);
        assert_eq!(state.memory().current, before, "and released on drop");
    }

    #[test]
    fn buffer_growth_is_refused_past_the_limit() {
        let state = crate::lua::State::new().unwrap();
        let mut b = LuaBuffer::new(state.raw());
        b.extend(b"keep").unwrap();
        state.set_memory_limit(state.memory().current + 1000);
        assert_eq!(b.extend(&[b'x'; 4096]), Err(LuaError::Memory));
        assert_eq!(
            b.as_bytes(),
            b"keep",
            "a refused growth leaves the content as it was"
        );
        assert_eq!(b.extend(b" more"), Ok(0), "within the first allocation");
        assert_eq!(b.as_bytes(), b"keep more");
    }
}
