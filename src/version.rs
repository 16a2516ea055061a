//! Version strings and the HAProxy version moonproxy claims to be compatible with.

/// moonproxy's own version.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The HAProxy release whose configuration language and Lua API moonproxy follows.
/// `.if version_atleast(...)`/`version_before(...)` and `-cc` compare against this.
pub const HAPROXY_COMPAT_VERSION: &str = "2.6.0";
