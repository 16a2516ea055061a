//! Builds Lua 5.4 from the sources vendored by `lua-src` and links it statically.
//!
//! The archive is linked whole (`+whole-archive`): the moonproxy binary is linked with
//! `-rdynamic`, and C modules loaded by `require` resolve every `lua_*`/`luaL_*` symbol against
//! it, including the ones moonproxy itself never calls (without it the linker drops them).
fn main() {
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
