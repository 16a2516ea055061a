//! lua.h
use std::os::raw::{c_char, c_int, c_void};

/// Opaque Lua state (a thread).
#[repr(C)]
pub struct lua_State {
    _private: [u8; 0],
    _pin: std::marker::PhantomData<(*mut u8, std::marker::PhantomPinned)>,
}

pub type lua_Number = f64;
pub type lua_Integer = i64;
pub type lua_KContext = isize;
pub type lua_CFunction = unsafe extern "C-unwind" fn(L: *mut lua_State) -> c_int;
pub type lua_KFunction =
    unsafe extern "C-unwind" fn(L: *mut lua_State, status: c_int, ctx: lua_KContext) -> c_int;
/// The allocator never unwinds: it is plain `extern "C"`.
pub type lua_Alloc = unsafe extern "C" fn(
    ud: *mut c_void,
    ptr: *mut c_void,
    osize: usize,
    nsize: usize,
) -> *mut c_void;

// Version.
pub const LUA_VERSION_MAJOR: &str = "5";
pub const LUA_VERSION_MINOR: &str = "4";
pub const LUA_VERSION_NUM: lua_Number = 504.0;

// Thread status.
pub const LUA_OK: c_int = 0;
pub const LUA_YIELD: c_int = 1;
pub const LUA_ERRRUN: c_int = 2;
pub const LUA_ERRSYNTAX: c_int = 3;
pub const LUA_ERRMEM: c_int = 4;
pub const LUA_ERRERR: c_int = 5;

pub const LUA_MULTRET: c_int = -1;
pub const LUA_MINSTACK: c_int = 20;

// Pseudo-indices (LUAI_MAXSTACK is 1000000 in the default luaconf.h).
pub const LUAI_MAXSTACK: c_int = 1_000_000;
pub const LUA_REGISTRYINDEX: c_int = -LUAI_MAXSTACK - 1000;

// Basic types.
pub const LUA_TNONE: c_int = -1;
pub const LUA_TNIL: c_int = 0;
pub const LUA_TBOOLEAN: c_int = 1;
pub const LUA_TLIGHTUSERDATA: c_int = 2;
pub const LUA_TNUMBER: c_int = 3;
pub const LUA_TSTRING: c_int = 4;
pub const LUA_TTABLE: c_int = 5;
pub const LUA_TFUNCTION: c_int = 6;
pub const LUA_TUSERDATA: c_int = 7;
pub const LUA_TTHREAD: c_int = 8;

unsafe extern "C-unwind" {
    // State manipulation.
    pub fn lua_newstate(f: lua_Alloc, ud: *mut c_void) -> *mut lua_State;
    pub fn lua_close(L: *mut lua_State);
    pub fn lua_atpanic(L: *mut lua_State, panicf: lua_CFunction) -> lua_CFunction;
    pub fn lua_version(L: *mut lua_State) -> lua_Number;

    // Basic stack manipulation (non-raising).
    pub fn lua_absindex(L: *mut lua_State, idx: c_int) -> c_int;
    pub fn lua_gettop(L: *mut lua_State) -> c_int;
    pub fn lua_settop(L: *mut lua_State, idx: c_int);
    pub fn lua_checkstack(L: *mut lua_State, n: c_int) -> c_int;

    // Access functions.
    pub fn lua_type(L: *mut lua_State, idx: c_int) -> c_int;
    pub fn lua_tolstring(L: *mut lua_State, idx: c_int, len: *mut usize) -> *const c_char;
    pub fn lua_tointegerx(L: *mut lua_State, idx: c_int, isnum: *mut c_int) -> lua_Integer;

    // Push functions (may raise on memory errors).
    pub fn lua_pushinteger(L: *mut lua_State, n: lua_Integer);
    pub fn lua_pushlstring(L: *mut lua_State, s: *const c_char, len: usize) -> *const c_char;

    // Calls.
    pub fn lua_callk(
        L: *mut lua_State,
        nargs: c_int,
        nresults: c_int,
        ctx: lua_KContext,
        k: Option<lua_KFunction>,
    );
    pub fn lua_pcallk(
        L: *mut lua_State,
        nargs: c_int,
        nresults: c_int,
        errfunc: c_int,
        ctx: lua_KContext,
        k: Option<lua_KFunction>,
    ) -> c_int;
}

/// `lua_pop` macro.
///
/// # Safety
/// `L` must be a valid state with at least `n` values on its stack.
#[inline(always)]
pub unsafe fn lua_pop(L: *mut lua_State, n: c_int) {
    // SAFETY: forwarded contract; lowering the top never raises.
    unsafe { lua_settop(L, -n - 1) }
}

/// `lua_pcall` macro.
///
/// # Safety
/// `L` must be a valid state holding the function and its `nargs` arguments.
#[inline(always)]
pub unsafe fn lua_pcall(L: *mut lua_State, nargs: c_int, nresults: c_int, errfunc: c_int) -> c_int {
    // SAFETY: forwarded contract; pcall catches errors raised by the callee.
    unsafe { lua_pcallk(L, nargs, nresults, errfunc, 0, None) }
}

/// `lua_tostring` macro.
///
/// # Safety
/// `L` must be a valid state and `idx` an acceptable index.
#[inline(always)]
pub unsafe fn lua_tostring(L: *mut lua_State, idx: c_int) -> *const c_char {
    // SAFETY: forwarded contract.
    unsafe { lua_tolstring(L, idx, std::ptr::null_mut()) }
}
