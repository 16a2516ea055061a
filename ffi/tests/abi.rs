//! ABI smoke tests: the declarations match the library lua-src builds.
use lua54_sys::*;
use std::ffi::CStr;
use std::os::raw::c_int;
use std::ptr;
use std::sync::atomic::{AtomicI32, AtomicU8, Ordering};

/// A fresh state with the standard libraries.
unsafe fn new_state() -> *mut lua_State {
    // SAFETY: plain state creation; luaL_openlibs raises only on memory exhaustion, which
    // luaL_newstate's allocator turns into the panic handler (acceptable in a test).
    unsafe {
        let l = luaL_newstate();
        assert!(!l.is_null());
        luaL_openlibs(l);
        l
    }
}

unsafe fn load(l: *mut lua_State, code: &str) {
    // SAFETY: the state is valid; the buffer outlives the call.
    let st = unsafe {
        luaL_loadbufferx(
            l,
            code.as_ptr().cast(),
            code.len(),
            c"=t".as_ptr(),
            ptr::null(),
        )
    };
    assert_eq!(st, LUA_OK);
}

unsafe fn string_at(l: *mut lua_State, idx: c_int) -> String {
    let mut len = 0;
    // SAFETY: valid state; the value at idx is a string (asserted by the callers' context).
    unsafe {
        let p = lua_tolstring(l, idx, &mut len);
        assert!(!p.is_null());
        String::from_utf8_lossy(std::slice::from_raw_parts(p.cast::<u8>(), len)).into_owned()
    }
}

#[test]
fn version_and_protected_error() {
    // SAFETY: a fresh state is used only on this thread and closed at the end; every
    // raising call (load, pcall) is protected.
    unsafe {
        let l = new_state();
        assert_eq!(lua_version(l), LUA_VERSION_NUM);
        load(l, "return 6 * 7");
        assert_eq!(lua_pcall(l, 0, 1, 0), LUA_OK);
        let mut isnum = 0;
        assert_eq!(lua_tointegerx(l, -1, &mut isnum), 42);
        assert_eq!(isnum, 1);
        lua_pop(l, 1);
        load(l, "error('boom')");
        assert_eq!(lua_pcall(l, 0, 0, 0), LUA_ERRRUN);
        let msg = CStr::from_ptr(lua_tostring(l, -1)).to_str().unwrap();
        assert_eq!(msg, "t:1: boom");
        assert_eq!(lua_gettop(l), 1);
        lua_close(l);
    }
}

#[test]
fn push_pop_and_types() {
    // SAFETY: fresh state; pushes stay within LUA_MINSTACK; nothing raises except under
    // memory exhaustion.
    unsafe {
        let l = new_state();
        lua_pushnil(l);
        lua_pushboolean(l, 1);
        lua_pushinteger(l, -7);
        lua_pushnumber(l, 2.5);
        lua_pushlstring(l, b"a\0b".as_ptr().cast(), 3);
        lua_newtable(l);
        assert_eq!(lua_gettop(l), 6);
        let types: Vec<c_int> = (1..=6).map(|i| lua_type(l, i)).collect();
        assert_eq!(
            types,
            [
                LUA_TNIL,
                LUA_TBOOLEAN,
                LUA_TNUMBER,
                LUA_TNUMBER,
                LUA_TSTRING,
                LUA_TTABLE
            ]
        );
        assert_eq!(lua_isinteger(l, 3), 1);
        assert_eq!(lua_isinteger(l, 4), 0);
        assert_eq!(lua_tonumber(l, 4), 2.5);
        assert_eq!(string_at(l, 5), "a\0b");
        assert_eq!(lua_rawlen(l, 5), 3);
        // rawseti/rawgeti/next on the table.
        lua_pushinteger(l, 11);
        lua_rawseti(l, 6, 1);
        lua_pushinteger(l, 22);
        lua_rawseti(l, 6, 2);
        assert_eq!(lua_rawgeti(l, 6, 2), LUA_TNUMBER);
        assert_eq!(lua_tointeger(l, -1), 22);
        lua_pop(l, 1);
        let mut sum = 0;
        lua_pushnil(l);
        while lua_next(l, 6) != 0 {
            sum += lua_tointeger(l, -1);
            lua_pop(l, 1);
        }
        assert_eq!(sum, 33);
        lua_rotate(l, 1, -1);
        assert!(lua_isnil(l, -1));
        lua_remove(l, -1);
        lua_pop(l, 5);
        assert_eq!(lua_gettop(l), 0);
        // Extra space: one pointer, writable; lua_newstate leaves the main thread's
        // uninitialised, and new threads copy it.
        let extra = lua_getextraspace(l).cast::<*mut u8>();
        *extra = 0x1234 as *mut u8;
        assert_eq!(*lua_getextraspace(l).cast::<usize>(), 0x1234);
        let co = lua_newthread(l);
        assert_eq!(*lua_getextraspace(co).cast::<usize>(), 0x1234);
        *extra = ptr::null_mut();
        lua_close(l);
    }
}

#[test]
fn resume_and_yield() {
    // SAFETY: fresh state; the thread is anchored on the main stack while used.
    unsafe {
        let l = new_state();
        let co = lua_newthread(l);
        load(
            co,
            "local a = ... ; local b = coroutine.yield(a + 1) ; return b * 2, 'done'",
        );
        lua_pushinteger(co, 10);
        let mut nres = 0;
        assert_eq!(lua_resume(co, l, 1, &mut nres), LUA_YIELD);
        assert_eq!(nres, 1);
        assert_eq!(lua_tointeger(co, -1), 11);
        lua_pop(co, nres);
        lua_pushinteger(co, 5);
        assert_eq!(lua_resume(co, l, 1, &mut nres), LUA_OK);
        assert_eq!(nres, 2);
        assert_eq!(lua_tointeger(co, -2), 10);
        assert_eq!(string_at(co, -1), "done");
        lua_pop(co, nres);
        assert_eq!(lua_status(co), LUA_OK);
        // An error in a coroutine leaves it dead; closethread reports it and resets it.
        load(co, "error('bad')");
        assert_eq!(lua_resume(co, l, 0, &mut nres), LUA_ERRRUN);
        assert_eq!(string_at(co, -1), "t:1: bad");
        assert_eq!(lua_closethread(co, l), LUA_ERRRUN);
        assert_eq!(lua_status(co), LUA_OK);
        lua_close(l);
    }
}

#[test]
fn registry_ref_round_trip() {
    // SAFETY: fresh state; luaL_ref/unref on the registry with values we pushed.
    unsafe {
        let l = new_state();
        lua_pushstring(l, c"kept".as_ptr());
        let r = luaL_ref(l, LUA_REGISTRYINDEX);
        assert!(r > 0);
        assert_eq!(lua_gettop(l), 0);
        assert_eq!(
            lua_rawgeti(l, LUA_REGISTRYINDEX, r as lua_Integer),
            LUA_TSTRING
        );
        assert_eq!(string_at(l, -1), "kept");
        lua_pop(l, 1);
        lua_pushnil(l);
        assert_eq!(luaL_ref(l, LUA_REGISTRYINDEX), LUA_REFNIL);
        luaL_unref(l, LUA_REGISTRYINDEX, r);
        // The freed slot is reused.
        lua_pushboolean(l, 1);
        assert_eq!(luaL_ref(l, LUA_REGISTRYINDEX), r);
        // Predefined slots.
        assert_eq!(
            lua_rawgeti(l, LUA_REGISTRYINDEX, LUA_RIDX_MAINTHREAD),
            LUA_TTHREAD
        );
        assert_eq!(lua_tothread(l, -1), l);
        lua_close(l);
    }
}

static HOOK_LINE: AtomicI32 = AtomicI32::new(0);
static HOOK_SRC0: AtomicU8 = AtomicU8::new(0);

unsafe extern "C-unwind" fn line_hook(l: *mut lua_State, ar: *mut lua_Debug) {
    // SAFETY: called by Lua with a valid activation record; getinfo "Sl" fills plain fields.
    unsafe {
        assert_eq!((*ar).event, LUA_HOOKCOUNT);
        assert_ne!(lua_getinfo(l, c"Sl".as_ptr(), ar), 0);
        HOOK_LINE.store((*ar).currentline, Ordering::Relaxed);
        let src = CStr::from_ptr((*ar).short_src.as_ptr()).to_bytes();
        HOOK_SRC0.store(src[0], Ordering::Relaxed);
        lua_sethook(l, None, 0, 0);
    }
}

#[test]
fn lua_debug_layout_and_hook() {
    // Offsets checked against lua.h 5.4.9 with gcc on x86_64/aarch64 (LP64).
    assert_eq!(std::mem::size_of::<lua_Debug>(), 136);
    assert_eq!(std::mem::offset_of!(lua_Debug, currentline), 48);
    assert_eq!(std::mem::offset_of!(lua_Debug, nups), 60);
    assert_eq!(std::mem::offset_of!(lua_Debug, ftransfer), 64);
    assert_eq!(std::mem::offset_of!(lua_Debug, short_src), 68);
    // SAFETY: fresh state; the hook only reads debug info and clears itself.
    unsafe {
        let l = new_state();
        load(l, "local x = 0\nx = x + 1\nx = x + 2\nreturn x");
        lua_sethook(l, Some(line_hook), LUA_MASKCOUNT, 3);
        assert_eq!(lua_gethookmask(l), LUA_MASKCOUNT);
        assert_eq!(lua_gethookcount(l), 3);
        assert_eq!(lua_pcall(l, 0, 1, 0), LUA_OK);
        assert!(lua_gethook(l).is_none());
        let line = HOOK_LINE.load(Ordering::Relaxed);
        assert!(line >= 2, "line {line}");
        assert_eq!(HOOK_SRC0.load(Ordering::Relaxed), b't');
        lua_close(l);
    }
}

#[test]
fn userdata_and_metatables() {
    // SAFETY: fresh state; the userdata block is 16 bytes we write before reading.
    unsafe {
        let l = new_state();
        let p = lua_newuserdatauv(l, 16, 0).cast::<u64>();
        *p = 99;
        lua_newtable(l);
        lua_pushboolean(l, 0);
        lua_setfield(l, -2, c"__metatable".as_ptr());
        lua_setmetatable(l, -2);
        assert_eq!(lua_getmetatable(l, -1), 1);
        lua_pop(l, 1);
        assert_eq!(*lua_touserdata(l, -1).cast::<u64>(), 99);
        lua_setglobal(l, c"u".as_ptr());
        load(l, "return getmetatable(u)");
        assert_eq!(lua_pcall(l, 0, 1, 0), LUA_OK);
        assert_eq!(lua_type(l, -1), LUA_TBOOLEAN);
        assert_eq!(lua_toboolean(l, -1), 0);
        lua_close(l);
    }
}
