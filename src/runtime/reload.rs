//! Seamless reload, the new process's side: take the old process's listening sockets
//! before opening ours (`-x <socket>`), close what the new configuration no longer
//! binds, and tell the old processes to leave once we serve (`-sf` / `-st`).
//!
//! The sequence, as with HAProxy 2.6:
//! 1. [`take_over`]: connect to the old process's stats socket (one with
//!    `expose-fd listeners`), send `_getsocks`, receive its listening sockets
//!    (`crate::sys::scm`) and put them in [`crate::listener::inherited`]'s pool;
//! 2. the listeners open: a `bind` line whose address is in the pool takes that
//!    socket — the same accept queue, so no connection waiting in it is lost and no
//!    connect is refused — the others bind (TCP with SO_REUSEPORT, beside the old
//!    process; unix sockets by rename over the old path);
//! 3. [`close_unclaimed`]: what no `bind` line took is closed;
//! 4. [`tell_old_pids`], the reactor about to run: SIGUSR1 to the `-sf` pids (soft
//!    stop: they close their listeners, finish what is in flight and exit), SIGTERM to
//!    the `-st` pids.
//!
//! Without `-x`, `-sf` takes no socket (HAProxy 2.6 only passes `-x` by itself in
//! master-worker mode): TCP listeners bind beside the old ones thanks to SO_REUSEPORT,
//! and connections queued on the old sockets when the old process closes them are
//! reset — the reason to use `-x`.

use super::RunOptions;
use crate::listener::inherited;
use crate::{alert, warning};
use std::io::{self, Write};
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

/// How long the old process may take to answer `_getsocks`.
const TAKEOVER_TIMEOUT: Duration = Duration::from_secs(5);

/// `-x`: pools the old process's listening sockets. `Err(exit code)` when the old
/// process cannot give them: HAProxy 2.6 outside master-worker mode then stops with
/// "Failed to get the sockets from the old process!".
pub fn take_over(opts: &RunOptions) -> Result<(), i32> {
    let Some(path) = &opts.takeover else { return Ok(()) };
    match receive(path) {
        Ok(n) => {
            ::log::debug!("took {n} listening sockets over from {}", path.display());
            Ok(())
        }
        Err(e) => {
            if e.kind() == io::ErrorKind::ConnectionRefused || e.kind() == io::ErrorKind::NotFound {
                warning!("Failed to connect to the old process socket '{}'", path.display());
            } else {
                warning!("Failed to get the listening sockets from '{}' ({e})", path.display());
            }
            alert!("Failed to get the sockets from the old process!");
            Err(1)
        }
    }
}

/// Asks the stats socket at `path` for its listeners; returns how many were pooled
/// (a socket that is not listening is closed and not counted).
fn receive(path: &Path) -> io::Result<usize> {
    let mut sock = UnixStream::connect(path)?;
    sock.set_read_timeout(Some(TAKEOVER_TIMEOUT))?;
    sock.set_write_timeout(Some(TAKEOVER_TIMEOUT))?;
    sock.write_all(b"_getsocks\n")?;
    let fds = crate::sys::scm::recv_listeners(sock.as_fd())?;
    Ok(fds.into_iter().filter_map(inherited::offer).count())
}

/// Closes the taken-over sockets no `bind` line claimed (the new configuration
/// dropped them); the old process still has its own copies until it stops.
pub fn close_unclaimed() {
    for b in inherited::close_unclaimed() {
        ::log::debug!("closing the unused inherited listener {b:?}");
    }
}

/// `-sf` / `-st`: the old processes are told to leave, now that we serve.
pub fn tell_old_pids(opts: &RunOptions) {
    crate::sys::oldpids::tell_old_pids(&opts.finish_pids, libc::SIGUSR1);
    crate::sys::oldpids::tell_old_pids(&opts.terminate_pids, libc::SIGTERM);
}
