//! lualib.h
use crate::lua::lua_State;

unsafe extern "C-unwind" {
    pub fn luaL_openlibs(L: *mut lua_State);
}
