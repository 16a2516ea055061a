//! lualib.h: the standard libraries.
//!
//! Each `luaopen_*` is a `lua_CFunction` (call it through `luaL_requiref` or `lua_call`, **Raises**).
use crate::lua::lua_State;
use std::os::raw::c_int;

pub const LUA_COLIBNAME: &std::ffi::CStr = c"coroutine";
pub const LUA_TABLIBNAME: &std::ffi::CStr = c"table";
pub const LUA_IOLIBNAME: &std::ffi::CStr = c"io";
pub const LUA_OSLIBNAME: &std::ffi::CStr = c"os";
pub const LUA_STRLIBNAME: &std::ffi::CStr = c"string";
pub const LUA_UTF8LIBNAME: &std::ffi::CStr = c"utf8";
pub const LUA_MATHLIBNAME: &std::ffi::CStr = c"math";
pub const LUA_DBLIBNAME: &std::ffi::CStr = c"debug";
pub const LUA_LOADLIBNAME: &std::ffi::CStr = c"package";

unsafe extern "C-unwind" {
    pub fn luaopen_base(L: *mut lua_State) -> c_int;
    pub fn luaopen_coroutine(L: *mut lua_State) -> c_int;
    pub fn luaopen_table(L: *mut lua_State) -> c_int;
    pub fn luaopen_io(L: *mut lua_State) -> c_int;
    pub fn luaopen_os(L: *mut lua_State) -> c_int;
    pub fn luaopen_string(L: *mut lua_State) -> c_int;
    pub fn luaopen_utf8(L: *mut lua_State) -> c_int;
    pub fn luaopen_math(L: *mut lua_State) -> c_int;
    pub fn luaopen_debug(L: *mut lua_State) -> c_int;
    pub fn luaopen_package(L: *mut lua_State) -> c_int;
    /// **Raises** (memory): opens every library above into the state.
    pub fn luaL_openlibs(L: *mut lua_State);
}
