//! The Lua modules built into moonproxy (`lua-modules/`), offered to scripts through
//! `package.preload`, so `require` finds them without any file on disk.
//!
//! - Pure Lua modules: every `lua-modules/**/*.lua`, embedded by the root `build.rs`
//!   (`lua-modules/moonproxy/print_r.lua` is `require("moonproxy.print_r")`). Each is compiled
//!   when installed (a syntax error in a shipped module is a moonproxy bug, reported then) and
//!   runs on its first `require`, with the standard loader arguments (name, `":preload:"`).
//! - C modules: `lua-modules/c/*.c`, compiled by `build.rs` and linked into the binary; their
//!   `luaopen_*` (declared in the `lua54-sys` crate, `ffi/src/modules.rs`) are the loaders.
//!   Linking them in rather than shipping `.so` files means nothing to install or find on
//!   `package.cpath`, and a module always matches the Lua it runs on. External C modules are
//!   still loaded from `package.cpath` as usual (the binary exports the Lua API, `-rdynamic`).
//!
//! Built-in names live under `moonproxy.`: `package.preload` is searched before
//! `package.path`, so a bare name (`print_r`) would shadow a user's own file of that name.
use super::error::LuaError;
use super::state::{protect, State};
use lua54_sys as ffi;
use std::os::raw::c_char;

include!(concat!(env!("OUT_DIR"), "/lua_modules.rs"));

/// The C modules linked into moonproxy: (module name, `luaopen_*`).
static C_MODULES: &[(&std::ffi::CStr, ffi::lua_CFunction)] =
    &[(c"moonproxy.codec", ffi::modules::luaopen_moonproxy_codec)];

/// Registers the built-in modules in `package.preload` (the registry's `_PRELOAD` table, which
/// `package.preload` designates once the package library is open). Call it once, at state
/// creation, before the first script runs.
pub fn install_preload(state: &State) -> Result<(), LuaError> {
    // SAFETY: main thread between calls; the closure captures nothing and only makes API
    // calls, under protection (rule L2). It uses at most 3 slots (preload table, a loader,
    // an error object).
    unsafe {
        protect(state.raw(), 0, 0, |l| {
            ffi::luaL_getsubtable(l, ffi::LUA_REGISTRYINDEX, ffi::LUA_PRELOAD_TABLE.as_ptr());
            for (name, chunk, source) in LUA_MODULES {
                let status = ffi::luaL_loadbufferx(
                    l,
                    source.as_ptr().cast::<c_char>(),
                    source.len(),
                    chunk.as_ptr(),
                    c"t".as_ptr(),
                );
                if status != ffi::LUA_OK {
                    ffi::lua_error(l);
                }
                ffi::lua_setfield(l, -2, name.as_ptr());
            }
            for (name, open) in C_MODULES {
                // A light C function: no upvalue, no allocation.
                ffi::lua_pushcfunction(l, *open);
                ffi::lua_setfield(l, -2, name.as_ptr());
            }
            ffi::lua_pop(l, 1);
            0
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lua::Value;

    #[test]
    fn every_embedded_module_compiles_runs_and_returns_a_value() {
        let state = State::new().unwrap();
        install_preload(&state).unwrap();
        assert!(!LUA_MODULES.is_empty());
        let names = LUA_MODULES
            .iter()
            .map(|(n, _, _)| n.to_str().unwrap())
            .chain(C_MODULES.iter().map(|(n, _)| n.to_str().unwrap()));
        for name in names {
            let code = format!("return type(require({name:?})), package.loaded[{name:?}] ~= nil");
            let r = state.exec(code.as_bytes(), "t.lua").unwrap();
            assert_eq!(r[1], Value::Boolean(true), "{name}");
            assert!(
                matches!(r[0].as_str(), Some("table" | "function")),
                "{name}: {r:?}"
            );
        }
    }

    #[test]
    fn chunk_names_point_at_the_source_file() {
        let (name, chunk, _) = LUA_MODULES
            .iter()
            .find(|(n, _, _)| n.to_str() == Ok("moonproxy.print_r"))
            .expect("print_r is shipped");
        assert_eq!(name.to_str(), Ok("moonproxy.print_r"));
        assert_eq!(chunk.to_str(), Ok("@lua-modules/moonproxy/print_r.lua"));
    }
}
