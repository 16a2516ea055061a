//! The Lua panic handler (`doc/lua-ffi.md` rule P3).
//!
//! Lua calls it for an error raised outside any protected call. moonproxy protects every entry
//! into Lua, so reaching it is a bug: it logs the error object and aborts. It must not return
//! (Lua would then `abort()` itself, without a message) and must not unwind.
use lua54_sys as ffi;
use std::os::raw::c_int;

/// Installed with `lua_atpanic` on every state.
///
/// # Safety
/// Called by Lua with a valid state.
pub(crate) unsafe extern "C-unwind" fn at_panic(l: *mut ffi::lua_State) -> c_int {
    let mut len = 0;
    // SAFETY: lua_type never raises; lua_tolstring on a string value does not allocate.
    let msg = unsafe {
        if ffi::lua_type(l, -1) == ffi::LUA_TSTRING {
            let p = ffi::lua_tolstring(l, -1, &mut len);
            String::from_utf8_lossy(std::slice::from_raw_parts(p.cast::<u8>(), len)).into_owned()
        } else {
            "(error object is not a string)".to_owned()
        }
    };
    log::error!("Lua panic: unprotected error in call to Lua API: {msg}");
    eprintln!("moonproxy: Lua panic: unprotected error in call to Lua API: {msg}");
    std::process::abort()
}
