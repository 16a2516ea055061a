//! Root build script: stamps the build and watches `lua-modules/`.
//! Lua itself is built by `ffi/build.rs` (lua-src).
fn main() {
    println!("cargo:rerun-if-changed=lua-modules");
    println!("cargo:rerun-if-changed=build.rs");
    let profile = std::env::var("PROFILE").unwrap_or_default();
    let target = std::env::var("TARGET").unwrap_or_default();
    println!("cargo:rustc-env=MOONPROXY_BUILD_PROFILE={profile}");
    println!("cargo:rustc-env=MOONPROXY_BUILD_TARGET={target}");
    // Export the Lua symbols from the binary so C modules loaded with `require`
    // (luaopen_*) resolve against the Lua linked into moonproxy.
    println!("cargo:rustc-link-arg-bins=-rdynamic");
}
