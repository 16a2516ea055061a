//! The C modules moonproxy ships (`lua-modules/c/`).
//!
//! Unlike the rest of this crate, these symbols are not part of liblua: the root crate's
//! `build.rs` compiles `lua-modules/c/*.c` with `cc` and links the archive into moonproxy
//! (its library, binary and tests). They are declared here because this crate is the one
//! place that names C symbols; referencing them from a program that does not link moonproxy
//! fails at link time.
use crate::lua::lua_State;
use std::os::raw::c_int;

unsafe extern "C-unwind" {
    /// Opens `moonproxy.codec` (`lua-modules/c/codec.c`): a `lua_CFunction` that pushes the
    /// module table. Call it only through Lua (`require` via `package.preload`, `lua_call`).
    /// **Raises** (memory).
    pub fn luaopen_moonproxy_codec(L: *mut lua_State) -> c_int;
}
