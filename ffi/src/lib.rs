//! Hand-written declarations of the Lua 5.4 C API (lua.h, lauxlib.h, lualib.h).
//!
//! This crate is the only place in moonproxy that names C symbols. It holds no logic:
//! opaque types, constants, `extern "C-unwind"` blocks grouped like the headers, and the
//! C macros rewritten as `#[inline(always)]` functions. Lua itself is compiled from the
//! sources vendored by `lua-src` (see `build.rs`).
//!
//! Functions that may `longjmp` (raise an error or a yield) say **Raises** in their docs; the
//! rules for calling them are in `doc/lua-ffi.md`. Every declaration is `extern "C-unwind"`
//! except the allocator and warning function types, which must never unwind.
#![allow(non_camel_case_types, non_snake_case)]

pub mod crypt;
pub mod lauxlib;
pub mod lua;
pub mod lualib;
pub mod modules;

pub use lauxlib::*;
pub use lua::*;
pub use lualib::*;
