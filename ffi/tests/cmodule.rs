//! A C module loaded by `require` resolves the Lua API against the executable (-rdynamic):
//! the same copy of Lua, not a second one.
use lua54_sys::*;
use std::ffi::CStr;
use std::process::Command;

const MODULE: &str = r#"
#include <stdint.h>
#include "lua.h"
#include "lauxlib.h"

static int hello(lua_State *L) {
    lua_pushstring(L, "hello from C");
    return 1;
}

/* The address this module resolved for lua_pushstring. */
static int addr(lua_State *L) {
    lua_pushinteger(L, (lua_Integer)(intptr_t)&lua_pushstring);
    return 1;
}

int luaopen_tiny(lua_State *L) {
    static const luaL_Reg fns[] = {{"hello", hello}, {"addr", addr}, {NULL, NULL}};
    luaL_newlib(L, fns);
    return 1;
}
"#;

#[test]
fn require_c_module_resolves_against_the_executable() {
    let dir = std::env::temp_dir().join(format!("lua54-sys-cmodule-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let src = dir.join("tiny.c");
    std::fs::write(&src, MODULE).unwrap();
    let so = dir.join("tiny.so");
    // No -llua: every lua_* symbol must come from the executable.
    let status = Command::new(std::env::var("CC").unwrap_or_else(|_| "cc".into()))
        .args(["-shared", "-fPIC", "-o"])
        .arg(&so)
        .arg(&src)
        .arg(format!("-I{}", env!("LUA54_SYS_INCLUDE_DIR")))
        .status()
        .expect("a C compiler (cc) is needed to build C modules");
    assert!(status.success());
    let code = format!(
        "package.cpath = '{}/?.so'\nlocal tiny = require('tiny')\nreturn tiny.hello(), tiny.addr()",
        dir.display()
    );
    // SAFETY: a fresh state used on this thread only; loading and running are protected.
    unsafe {
        let l = luaL_newstate();
        luaL_openlibs(l);
        assert_eq!(
            luaL_loadbufferx(
                l,
                code.as_ptr().cast(),
                code.len(),
                c"=t".as_ptr(),
                std::ptr::null()
            ),
            LUA_OK
        );
        let st = lua_pcall(l, 0, 2, 0);
        if st != LUA_OK {
            panic!("{}", CStr::from_ptr(lua_tostring(l, -1)).to_string_lossy());
        }
        assert_eq!(
            CStr::from_ptr(lua_tostring(l, -2)).to_str().unwrap(),
            "hello from C"
        );
        let theirs = lua_tointeger(l, -1) as usize;
        let ours = lua_pushstring as *const () as usize;
        assert_eq!(
            theirs, ours,
            "the module must use the executable's lua_pushstring"
        );
        lua_close(l);
    }
    let _ = std::fs::remove_dir_all(&dir);
}
