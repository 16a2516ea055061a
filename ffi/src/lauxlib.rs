//! lauxlib.h
use crate::lua::lua_State;
use std::os::raw::{c_char, c_int};

unsafe extern "C-unwind" {
    pub fn luaL_newstate() -> *mut lua_State;
    pub fn luaL_loadbufferx(
        L: *mut lua_State,
        buff: *const c_char,
        sz: usize,
        name: *const c_char,
        mode: *const c_char,
    ) -> c_int;
    pub fn luaL_traceback(L: *mut lua_State, L1: *mut lua_State, msg: *const c_char, level: c_int);
}
