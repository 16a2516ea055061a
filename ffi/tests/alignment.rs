//! build.rs compiles Lua with `-falign-functions=64` so that the VM's dispatch loop sits
//! at the same place relative to cache lines in every build (its speed depended on it by
//! up to 1.5x). Every Lua function is aligned, so the public ones show that the flag
//! reached the compiler.

#[test]
fn lua_functions_start_on_a_cache_line() {
    let functions: [(&str, usize); 4] = [
        ("lua_pushinteger", lua54_sys::lua_pushinteger as *const () as usize),
        ("lua_resume", lua54_sys::lua_resume as *const () as usize),
        ("lua_gettop", lua54_sys::lua_gettop as *const () as usize),
        ("luaL_newstate", lua54_sys::luaL_newstate as *const () as usize),
    ];
    for (name, addr) in functions {
        assert_eq!(addr % 64, 0, "{name} at {addr:#x} is not 64-byte aligned: is -falign-functions=64 in the Lua build?");
    }
}
