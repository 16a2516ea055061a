//! Builds Lua 5.4 from the sources vendored by `lua-src` and links it statically.
//!
//! The archive is linked whole (`+whole-archive`): the moonproxy binary is linked with
//! `-rdynamic`, and C modules loaded by `require` resolve every `lua_*`/`luaL_*` symbol against
//! it, including the ones moonproxy itself never calls (without it the linker drops them).
fn main() {
    align_functions();
    let mut build = lua_src::Build::new();
    if std::env::var_os("CARGO_FEATURE_APICHECK").is_some() {
        build.debug(true);
    }
    let artifacts = build.build(lua_src::Lua54);
    println!(
        "cargo:rustc-link-search=native={}",
        artifacts.lib_dir().display()
    );
    for lib in artifacts.libs() {
        println!("cargo:rustc-link-lib=static:+whole-archive,-bundle={lib}");
    }
    println!("cargo:include={}", artifacts.include_dir().display());
    // For ffi/tests/cmodule.rs: the headers to build a C module, and a test executable that
    // exports the Lua symbols like the moonproxy binary does.
    println!(
        "cargo:rustc-env=LUA54_SYS_INCLUDE_DIR={}",
        artifacts.include_dir().display()
    );
    println!("cargo:rustc-link-arg-tests=-rdynamic");
    println!("cargo:lib={}", artifacts.lib_dir().display());
}

/// Compiles Lua with every function aligned to a 64-byte cache line.
///
/// The VM's main loop (`luaV_execute`) dispatches through a jump table to code whose
/// speed depends on where it falls relative to cache lines and the CPU's decoded-op
/// cache: the same object code ran a tight loop at 0.79x or 1.24x of Debian's lua5.4
/// depending only on the function's start address modulo 64 (16 bytes of padding
/// before it moved it between the two; doc/performance.md, "Lua"). Aligning functions
/// makes that placement a constant, the fast one, instead of an accident of link
/// order. `lua-src` has no flag API, so the flag goes through the target-specific
/// `CFLAGS_<target>` variable that `cc` reads, after any flags the user gave.
fn align_functions() {
    let target = std::env::var("TARGET").unwrap_or_default();
    let key = format!("CFLAGS_{}", target.replace('-', "_"));
    let given = [key.as_str(), "TARGET_CFLAGS", "CFLAGS"]
        .iter()
        .find_map(|k| std::env::var(k).ok())
        .unwrap_or_default();
    // A build script is single-threaded: nothing reads the environment concurrently.
    std::env::set_var(&key, format!("{given} -falign-functions=64").trim_start());
}
