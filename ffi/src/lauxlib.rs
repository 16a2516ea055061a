//! lauxlib.h: the auxiliary library.
//!
//! `luaL_check*`, `luaL_error` and `luaL_argerror` raise by design: moonproxy never calls them
//! from Rust (`doc/lua-ffi.md` rule L4); they are declared for completeness of the C modules'
//! view and for tests.
use crate::lua::*;
use std::os::raw::{c_char, c_int, c_void};

/// Key, in the registry, of the table of loaded modules.
pub const LUA_LOADED_TABLE: &std::ffi::CStr = c"_LOADED";
/// Key, in the registry, of the table of preloaded loaders.
pub const LUA_PRELOAD_TABLE: &std::ffi::CStr = c"_PRELOAD";
/// Global table name.
pub const LUA_GNAME: &std::ffi::CStr = c"_G";
/// Extra error code for `luaL_loadfilex`.
pub const LUA_ERRFILE: c_int = LUA_ERRERR + 1;

// Predefined references.
pub const LUA_NOREF: c_int = -2;
pub const LUA_REFNIL: c_int = -1;

#[repr(C)]
pub struct luaL_Reg {
    pub name: *const c_char,
    pub func: Option<lua_CFunction>,
}

unsafe extern "C-unwind" {
    /// **Raises** when the versions differ.
    pub fn luaL_checkversion_(L: *mut lua_State, ver: lua_Number, sz: usize);
    /// **Raises** (memory, for the field name).
    pub fn luaL_getmetafield(L: *mut lua_State, obj: c_int, e: *const c_char) -> c_int;
    /// **Raises** (anything the metamethod raises).
    pub fn luaL_callmeta(L: *mut lua_State, obj: c_int, e: *const c_char) -> c_int;
    /// **Raises** (`__tostring`, memory).
    pub fn luaL_tolstring(L: *mut lua_State, idx: c_int, len: *mut usize) -> *const c_char;
    /// **Raises**, always.
    pub fn luaL_argerror(L: *mut lua_State, arg: c_int, extramsg: *const c_char) -> c_int;
    /// **Raises**, always.
    pub fn luaL_typeerror(L: *mut lua_State, arg: c_int, tname: *const c_char) -> c_int;
    /// **Raises**.
    pub fn luaL_checklstring(L: *mut lua_State, arg: c_int, l: *mut usize) -> *const c_char;
    /// **Raises**.
    pub fn luaL_optlstring(
        L: *mut lua_State,
        arg: c_int,
        def: *const c_char,
        l: *mut usize,
    ) -> *const c_char;
    /// **Raises**.
    pub fn luaL_checknumber(L: *mut lua_State, arg: c_int) -> lua_Number;
    /// **Raises**.
    pub fn luaL_optnumber(L: *mut lua_State, arg: c_int, def: lua_Number) -> lua_Number;
    /// **Raises**.
    pub fn luaL_checkinteger(L: *mut lua_State, arg: c_int) -> lua_Integer;
    /// **Raises**.
    pub fn luaL_optinteger(L: *mut lua_State, arg: c_int, def: lua_Integer) -> lua_Integer;
    /// **Raises**.
    pub fn luaL_checkstack(L: *mut lua_State, sz: c_int, msg: *const c_char);
    /// **Raises**.
    pub fn luaL_checktype(L: *mut lua_State, arg: c_int, t: c_int);
    /// **Raises**.
    pub fn luaL_checkany(L: *mut lua_State, arg: c_int);
    /// **Raises** (memory).
    pub fn luaL_newmetatable(L: *mut lua_State, tname: *const c_char) -> c_int;
    /// **Raises** (memory).
    pub fn luaL_setmetatable(L: *mut lua_State, tname: *const c_char);
    /// **Raises** (memory, for the name).
    pub fn luaL_testudata(L: *mut lua_State, ud: c_int, tname: *const c_char) -> *mut c_void;
    /// **Raises**.
    pub fn luaL_checkudata(L: *mut lua_State, ud: c_int, tname: *const c_char) -> *mut c_void;
    /// **Raises** (memory).
    pub fn luaL_where(L: *mut lua_State, lvl: c_int);
    /// **Raises**, always.
    pub fn luaL_error(L: *mut lua_State, fmt: *const c_char, ...) -> c_int;
    /// **Raises** (memory): pops a value, stores it in table `t`, returns its reference
    /// (`LUA_REFNIL` for nil).
    pub fn luaL_ref(L: *mut lua_State, t: c_int) -> c_int;
    /// Releases a reference (no-op for `LUA_REFNIL`/`LUA_NOREF`). Writes existing slots only.
    pub fn luaL_unref(L: *mut lua_State, t: c_int, r: c_int);
    /// **Raises** (memory).
    pub fn luaL_loadfilex(L: *mut lua_State, filename: *const c_char, mode: *const c_char)
        -> c_int;
    /// Returns a status; a memory error may still **raise** before the parser's own protection.
    pub fn luaL_loadbufferx(
        L: *mut lua_State,
        buff: *const c_char,
        sz: usize,
        name: *const c_char,
        mode: *const c_char,
    ) -> c_int;
    pub fn luaL_loadstring(L: *mut lua_State, s: *const c_char) -> c_int;
    /// Creates a state with the C library allocator and lauxlib's panic and warning functions.
    pub fn luaL_newstate() -> *mut lua_State;
    /// **Raises** (`__len`, non-integer length).
    pub fn luaL_len(L: *mut lua_State, idx: c_int) -> lua_Integer;
    /// **Raises** (memory).
    pub fn luaL_gsub(
        L: *mut lua_State,
        s: *const c_char,
        p: *const c_char,
        r: *const c_char,
    ) -> *const c_char;
    /// **Raises** (memory).
    pub fn luaL_setfuncs(L: *mut lua_State, l: *const luaL_Reg, nup: c_int);
    /// **Raises** (memory).
    pub fn luaL_getsubtable(L: *mut lua_State, idx: c_int, fname: *const c_char) -> c_int;
    /// **Raises** (memory): pushes the traceback of `L1` onto `L`.
    pub fn luaL_traceback(L: *mut lua_State, L1: *mut lua_State, msg: *const c_char, level: c_int);
    /// **Raises** (anything `openf` raises).
    pub fn luaL_requiref(
        L: *mut lua_State,
        modname: *const c_char,
        openf: lua_CFunction,
        glb: c_int,
    );
}

/// `luaL_getmetatable` macro (raw access to a string key of the registry).
///
/// # Safety
/// Valid state, protected context (the key string is interned: **Raises** (memory)).
#[inline(always)]
pub unsafe fn luaL_getmetatable(L: *mut lua_State, n: *const c_char) -> c_int {
    // SAFETY: forwarded contract.
    unsafe { lua_getfield(L, LUA_REGISTRYINDEX, n) }
}

/// `luaL_loadbuffer` macro.
///
/// # Safety
/// Valid state; `s` points at `sz` bytes; `n` is a C string.
#[inline(always)]
pub unsafe fn luaL_loadbuffer(
    L: *mut lua_State,
    s: *const c_char,
    sz: usize,
    n: *const c_char,
) -> c_int {
    // SAFETY: forwarded contract.
    unsafe { luaL_loadbufferx(L, s, sz, n, std::ptr::null()) }
}

/// `luaL_typename` macro.
///
/// # Safety
/// Valid state and index.
#[inline(always)]
pub unsafe fn luaL_typename(L: *mut lua_State, i: c_int) -> *const c_char {
    // SAFETY: forwarded contract.
    unsafe { lua_typename(L, lua_type(L, i)) }
}
