//! The Lua engine: the safety layer over the Lua 5.4 C API.
//!
//! The unsafe contract this module follows is `doc/lua-ffi.md`; each file says which of its
//! rules it implements. Unsafe code is allowed here (and in `ffi/`, `src/sys/`) only.
//!
//! - [`state`]: the main `lua_State` ([`State`]), protected calls, [`StackGuard`].
//! - [`alloc`]: the counting allocator and `tune.lua.maxmem`.
//! - [`callback`]: the one trampoline for Rust functions ([`RustFunction`], [`CallCtx`]).
//! - [`panic`]: the `lua_atpanic` handler.
//! - [`registry`]: owning references with deferred release ([`RegistryRef`]).
//! - [`task`]: coroutines driven by the reactor ([`Task`], [`Resume`]).
//! - [`userdata`]: typed userdata holding generation handles ([`Class`], [`Handle`]).
//! - [`hook`]: preemption by timer signal or instruction count, budgets ([`Preempt`]).
//! - [`host`]: what callbacks reach of the process during a resume ([`host::Host`]).
pub mod alloc;
pub mod api;
pub mod callback;
pub mod error;
pub mod error_ring;
pub mod hook;
pub mod host;
pub mod modules;
mod panic;
pub mod registry;
pub mod stats;
pub mod state;
pub mod task;
pub mod userdata;

pub use alloc::{maxmem_bytes, MemoryStats};
pub use callback::{CallCtx, RustFn, RustFunction};
pub use error::{LuaError, TimeoutKind};
pub use hook::{Preempt, WaitReason};
pub use registry::RegistryRef;
pub use state::{Options, StackGuard, State, Value};
pub use task::{Limits, Resume, Task, TaskCtx};
pub use userdata::{Class, Handle, HandleTable};
