//! `daemon` / `-D`: detach from the terminal; `pidfile` / `-p`: record our pid.

use std::io::{self, Write};
use std::path::Path;

/// Which side of [`daemonize`] we are on.
pub enum Detached {
    /// The original process: exit with this code (0 once the daemon is running).
    Parent(i32),
    /// The daemon: go on serving.
    Daemon,
}

/// Double fork and `setsid`, so the daemon is re-parented to init and can never
/// reacquire a controlling terminal. The original process waits until the daemon
/// has written `pidfile` (if any), so `moonproxy -D -p f` returns with `f` in place.
/// The daemon keeps the standard descriptors: the caller closes them with
/// [`close_stdio`] once start-up can no longer fail, so that a late failure (a `chroot`
/// or `setuid` refused) still prints its alert, as HAProxy's daemon does.
pub fn daemonize(pidfile: Option<&Path>) -> io::Result<Detached> {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: `fds` is a valid array of two ints for pipe to fill.
    if unsafe { libc::pipe(fds.as_mut_ptr()) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let (rd, wr) = (fds[0], fds[1]);
    // SAFETY: we are single-threaded at this point (called before the reactor
    // starts); the child only uses async-signal-safe calls until it continues as the
    // daemon in a fresh single-threaded process image.
    match unsafe { libc::fork() } {
        -1 => Err(io::Error::last_os_error()),
        0 => {
            // SAFETY: closing our copy of the read end; setsid detaches the session.
            unsafe {
                libc::close(rd);
                libc::setsid();
            }
            // SAFETY: as above, second fork in the session leader.
            match unsafe { libc::fork() } {
                -1 => std::process::exit(1),
                0 => {}
                _ => {
                    // SAFETY: the intermediate child leaves at once without running destructors.
                    unsafe { libc::_exit(0) }
                }
            }
            let status = match pidfile {
                Some(p) => write_pidfile(p).map(|_| 0u8).unwrap_or(1),
                None => 0,
            };
            // SAFETY: `status` is one readable byte; `wr` is our pipe end, closed once.
            unsafe {
                libc::write(wr, (&status as *const u8).cast(), 1);
                libc::close(wr);
            }
            Ok(Detached::Daemon)
        }
        child => {
            // SAFETY: closing our copy of the write end, then reaping the intermediate
            // child; `status` and `b` are valid for the kernel to write into.
            let b = unsafe {
                libc::close(wr);
                let mut status = 0;
                libc::waitpid(child, &mut status, 0);
                let mut b = 1u8;
                let n = libc::read(rd, (&mut b as *mut u8).cast(), 1);
                libc::close(rd);
                if n == 1 { b } else { 1 }
            };
            Ok(Detached::Parent(if b == 0 { 0 } else { 1 }))
        }
    }
}

/// A daemon's standard input and output go to /dev/null; stderr too unless
/// `keep_stderr` (`-V`).
pub fn close_stdio(keep_stderr: bool) {
    let Ok(null) = std::fs::OpenOptions::new().read(true).write(true).open("/dev/null") else { return };
    use std::os::fd::AsRawFd;
    let n = null.as_raw_fd();
    // SAFETY: dup2 onto the standard descriptors with a valid open fd.
    unsafe {
        libc::dup2(n, 0);
        libc::dup2(n, 1);
        if !keep_stderr {
            libc::dup2(n, 2);
        }
    }
}

/// Writes our pid followed by a newline, as HAProxy does.
pub fn write_pidfile(path: &Path) -> io::Result<()> {
    let mut f = std::fs::File::create(path)?;
    writeln!(f, "{}", std::process::id())
}
