//! The Lua engine (filled in by the Lua engine issue). Unsafe code is allowed here.
