//! Command-line flags, HAProxy-compatible.

/// Entry point used by `main.rs`; returns the process exit code.
pub fn main() -> i32 {
    0
}
