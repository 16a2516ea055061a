//! Thin libc wrappers the reactor needs: signals, daemonizing, inherited fds.
//! Unsafe code is allowed here (and only here, besides `ffi/` and `src/lua/`); every
//! block carries a `// SAFETY:` comment.

pub mod affinity;
pub mod crypt;
pub mod daemon;
pub mod fd;
pub mod libs;
pub mod oldpids;
pub mod scm;
pub mod privs;
pub mod process;
pub mod signals;
pub mod sockopt;
pub mod tcp_info;
