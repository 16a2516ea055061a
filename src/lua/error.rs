//! Errors crossing the boundary between Rust and Lua.
use std::fmt;

/// Which time budget ran out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeoutKind {
    /// One resume ran longer than `burst` (`tune.lua.burst-timeout`).
    Burst,
    /// The task's Lua run time, summed over its resumes, passed `total`
    /// (`tune.lua.session-timeout`, `service-timeout`, `task-timeout`).
    Total,
}

impl TimeoutKind {
    /// The Lua error message raised for this timeout.
    pub fn message(self) -> &'static str {
        match self {
            TimeoutKind::Burst => "burst timeout",
            TimeoutKind::Total => "execution timeout",
        }
    }
}

/// An error from Lua, or one a Rust callback raises into Lua.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LuaError {
    /// A runtime error. Raised from a callback, it gets the `chunk:line:` prefix of the calling
    /// Lua code, as `luaL_error` adds it.
    Runtime(String),
    /// A runtime error raised as is, with no position prefix.
    Message(String),
    /// A syntax error while loading a chunk (the message has the chunk name and line).
    Syntax(String),
    /// Lua ran out of memory (the state's limit or the system's).
    Memory,
    /// A Rust callback panicked (`doc/lua-ffi.md` rule P1).
    Panic(String),
    /// A time budget ran out.
    Timeout(TimeoutKind),
}

impl LuaError {
    /// A runtime error with the caller's position prepended (like `luaL_error`).
    pub fn runtime(msg: impl Into<String>) -> Self {
        LuaError::Runtime(msg.into())
    }

    /// A runtime error without position.
    pub fn message(msg: impl Into<String>) -> Self {
        LuaError::Message(msg.into())
    }
}

impl fmt::Display for LuaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LuaError::Runtime(m) | LuaError::Message(m) | LuaError::Syntax(m) => f.write_str(m),
            LuaError::Memory => f.write_str("not enough memory"),
            LuaError::Panic(m) => write!(f, "panic in Rust code: {m}"),
            LuaError::Timeout(k) => f.write_str(k.message()),
        }
    }
}

impl std::error::Error for LuaError {}
