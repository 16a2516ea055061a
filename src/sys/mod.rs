//! Thin libc wrappers the reactor needs: signals, daemonizing, inherited fds. Unsafe code is allowed here.
