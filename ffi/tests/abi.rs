//! ABI smoke tests: the declarations match the library lua-src builds.
use lua54_sys::*;
use std::ffi::CStr;

#[test]
fn version_and_protected_error() {
    // SAFETY: a fresh state is used only on this thread and closed at the end; every
    // raising call (load, pcall) is protected.
    unsafe {
        let l = luaL_newstate();
        assert!(!l.is_null());
        assert_eq!(lua_version(l), LUA_VERSION_NUM);
        luaL_openlibs(l);
        let code = b"return 6 * 7";
        assert_eq!(luaL_loadbufferx(l, code.as_ptr().cast(), code.len(), c"=t".as_ptr(), std::ptr::null()), LUA_OK);
        assert_eq!(lua_pcall(l, 0, 1, 0), LUA_OK);
        let mut isnum = 0;
        assert_eq!(lua_tointegerx(l, -1, &mut isnum), 42);
        assert_eq!(isnum, 1);
        lua_pop(l, 1);
        let bad = b"error('boom')";
        assert_eq!(luaL_loadbufferx(l, bad.as_ptr().cast(), bad.len(), c"=t".as_ptr(), std::ptr::null()), LUA_OK);
        assert_eq!(lua_pcall(l, 0, 0, 0), LUA_ERRRUN);
        let msg = CStr::from_ptr(lua_tostring(l, -1)).to_str().unwrap();
        assert_eq!(msg, "t:1: boom");
        assert_eq!(lua_gettop(l), 1);
        lua_close(l);
    }
}
