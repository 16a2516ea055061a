//! See `super` (src/lua/api/mod.rs) for what this module will hold.
