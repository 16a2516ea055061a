//! Builds Lua 5.4 from the sources vendored by `lua-src` and links it statically.
fn main() {
    let mut build = lua_src::Build::new();
    if std::env::var_os("CARGO_FEATURE_APICHECK").is_some() {
        build.debug(true);
    }
    build.build(lua_src::Lua54).print_cargo_metadata();
}
