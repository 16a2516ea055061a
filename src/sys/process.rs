//! Processes for master-worker mode (`crate::master`): fork, exec, reap, signal, and
//! the master's own signal pipe.
//!
//! The master is single-threaded whenever it forks (it never starts a thread), so the
//! child may go on running ordinary Rust code: it becomes a worker and runs the
//! normal runtime in its own copy of the address space.

use std::ffi::CString;
use std::io::{self, Read};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicI32, Ordering};

/// Which side of [`fork`] we are on.
pub enum Forked {
    Child,
    Parent(i32),
}

/// `fork(2)`. The caller must be single-threaded (the master always is).
pub fn fork() -> io::Result<Forked> {
    // SAFETY: the master process has a single thread, so the child inherits a
    // consistent heap and no lock held by another thread.
    match unsafe { libc::fork() } {
        -1 => Err(io::Error::last_os_error()),
        0 => Ok(Forked::Child),
        pid => Ok(Forked::Parent(pid)),
    }
}

/// How a child process ended, HAProxy's way: the exit code, or 128 + the signal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Exit {
    pub pid: i32,
    pub code: i32,
}

impl Exit {
    /// `Exit` for a normal exit, else the signal's name (`Killed`, `Terminated`), as
    /// HAProxy words "exited with code 137 (Killed)".
    pub fn reason(&self) -> String {
        if self.code < 128 {
            return "Exit".into();
        }
        // SAFETY: strsignal returns a pointer to a NUL-terminated string that stays
        // valid until the next call; it is copied at once (the master has one thread).
        unsafe {
            let p = libc::strsignal(self.code - 128);
            if p.is_null() {
                return format!("signal {}", self.code - 128);
            }
            std::ffi::CStr::from_ptr(p).to_string_lossy().into_owned()
        }
    }
}

/// Reaps one exited child without blocking. `Ok(None)`: children remain but none has
/// exited; `Err` with `ECHILD`: no child at all.
pub fn reap() -> io::Result<Option<Exit>> {
    let mut status = 0;
    // SAFETY: `status` is a valid int for waitpid to write into.
    let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
    match pid {
        -1 => Err(io::Error::last_os_error()),
        0 => Ok(None),
        pid => {
            let code = if libc::WIFEXITED(status) {
                libc::WEXITSTATUS(status)
            } else if libc::WIFSIGNALED(status) {
                128 + libc::WTERMSIG(status)
            } else {
                255
            };
            Ok(Some(Exit { pid, code }))
        }
    }
}

/// Sends `sig` to `pid`; a process already gone is not an error worth reporting.
pub fn kill(pid: i32, sig: i32) -> bool {
    // SAFETY: kill(2) has no memory arguments.
    unsafe { libc::kill(pid, sig) == 0 }
}

/// Replaces this process image with `/proc/self/exe` run with `args` (`args[0]` is
/// the program name shown by `ps`). Returns only on failure.
pub fn exec_self(args: &[String]) -> io::Error {
    let Ok(cargs) = args.iter().map(|a| CString::new(a.as_bytes())).collect::<Result<Vec<_>, _>>() else {
        return io::Error::from(io::ErrorKind::InvalidInput);
    };
    let mut argv: Vec<*const libc::c_char> = cargs.iter().map(|a| a.as_ptr()).collect();
    argv.push(std::ptr::null());
    let exe = std::fs::read_link("/proc/self/exe").ok().and_then(|p| CString::new(p.as_os_str().as_bytes()).ok());
    let exe = exe.unwrap_or_else(|| CString::from(c"/proc/self/exe"));
    // SAFETY: `exe` and every `argv` entry are NUL-terminated strings that outlive the
    // call, and `argv` ends with a null pointer; the environment is the process's own.
    unsafe { libc::execv(exe.as_ptr(), argv.as_ptr()) };
    io::Error::last_os_error()
}

/// Keeps (`false`) or closes (`true`) `fd` across [`exec_self`].
pub fn set_cloexec(fd: RawFd, on: bool) -> io::Result<()> {
    // SAFETY: fcntl on an fd number with integer arguments only.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFD) };
    if flags < 0 {
        return Err(io::Error::last_os_error());
    }
    let flags = if on { flags | libc::FD_CLOEXEC } else { flags & !libc::FD_CLOEXEC };
    // SAFETY: as above.
    if unsafe { libc::fcntl(fd, libc::F_SETFD, flags) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Closes fds the child inherited from the master and must not keep. The caller
/// guarantees nothing in the child uses them afterwards (their owners are never
/// dropped: the child leaves with `exit`).
pub fn close_in_child(fds: &[RawFd]) {
    for &fd in fds {
        // SAFETY: closing an fd number; the objects owning it are never used again.
        unsafe { libc::close(fd) };
    }
}

/// Blocks (`true`) or unblocks the master's signals. A reload blocks them before
/// `execv` (the mask survives it) so that no signal arriving before the next image has
/// installed its handlers kills it with the default action; that image unblocks them
/// once its handlers are in place, and pending ones are delivered then.
pub fn block_master_signals(block: bool) -> io::Result<()> {
    // SAFETY: `set` is a valid sigset_t, initialised by sigemptyset before use.
    let rc = unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for signo in MASTER_SIGNALS {
            libc::sigaddset(&mut set, signo);
        }
        libc::sigprocmask(if block { libc::SIG_BLOCK } else { libc::SIG_UNBLOCK }, &set, std::ptr::null_mut())
    };
    if rc == 0 { Ok(()) } else { Err(io::Error::last_os_error()) }
}

/// The signals the master acts on.
pub const MASTER_SIGNALS: [i32; 6] = [libc::SIGCHLD, libc::SIGUSR1, libc::SIGUSR2, libc::SIGTERM, libc::SIGINT, libc::SIGHUP];

static MASTER_WRITE_FD: AtomicI32 = AtomicI32::new(-1);

extern "C" fn on_master_signal(signo: libc::c_int) {
    let fd = MASTER_WRITE_FD.load(Ordering::Relaxed);
    if fd >= 0 {
        let b = signo as u8;
        // SAFETY: errno is saved and restored around write(2), which is
        // async-signal-safe; `b` lives for the call. A full pipe only loses a duplicate.
        unsafe {
            let saved = *libc::__errno_location();
            libc::write(fd, (&b as *const u8).cast(), 1);
            *libc::__errno_location() = saved;
        }
    }
}

/// The master's self-pipe: the handler writes the signal number, the master's poll
/// loop reads it (registered with mio as a Unix stream).
pub struct MasterSignals {
    pub read: mio::net::UnixStream,
    write: UnixStream,
}

impl MasterSignals {
    pub fn install() -> io::Result<MasterSignals> {
        let (read, write) = UnixStream::pair()?;
        read.set_nonblocking(true)?;
        write.set_nonblocking(true)?;
        MASTER_WRITE_FD.store(write.as_raw_fd(), Ordering::Relaxed);
        for signo in MASTER_SIGNALS {
            set_handler(signo, on_master_signal as extern "C" fn(libc::c_int) as libc::sighandler_t)?;
        }
        set_handler(libc::SIGPIPE, libc::SIG_IGN)?;
        block_master_signals(false)?;
        Ok(MasterSignals { read: mio::net::UnixStream::from_std(read), write })
    }

    /// The signal numbers received since the last call, oldest first.
    pub fn drain(&mut self) -> Vec<i32> {
        let mut out = Vec::new();
        let mut buf = [0u8; 64];
        loop {
            match self.read.read(&mut buf) {
                Ok(0) => return out,
                Ok(n) => out.extend(buf[..n].iter().map(|&b| i32::from(b))),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => return out,
            }
        }
    }

    /// The pipe's two fds, for a forked child to close.
    pub fn fds(&self) -> [RawFd; 2] {
        [self.read.as_raw_fd(), self.write.as_raw_fd()]
    }

    /// In a freshly forked worker: the master's handlers go back to the defaults
    /// (SIGUSR2 and SIGHUP are ignored: they reload the master, never a worker).
    pub fn reset_in_child(&self) {
        MASTER_WRITE_FD.store(-1, Ordering::Relaxed);
        for signo in MASTER_SIGNALS {
            let ignored = signo == libc::SIGUSR2 || signo == libc::SIGHUP;
            let _ = set_handler(signo, if ignored { libc::SIG_IGN } else { libc::SIG_DFL });
        }
        close_in_child(&self.fds());
    }
}

fn set_handler(signo: i32, handler: libc::sighandler_t) -> io::Result<()> {
    // SAFETY: a zeroed sigaction is a valid "no flags, empty mask" value; the handler
    // is a valid `extern "C" fn(c_int)`, SIG_IGN or SIG_DFL.
    let rc = unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = handler;
        sa.sa_flags = libc::SA_RESTART | if signo == libc::SIGCHLD { libc::SA_NOCLDSTOP } else { 0 };
        libc::sigemptyset(&mut sa.sa_mask);
        libc::sigaction(signo, &sa, std::ptr::null_mut())
    };
    if rc == 0 { Ok(()) } else { Err(io::Error::last_os_error()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_reasons_name_the_signal() {
        assert_eq!(Exit { pid: 1, code: 0 }.reason(), "Exit");
        assert_eq!(Exit { pid: 1, code: 137 }.reason(), "Killed");
        assert_eq!(Exit { pid: 1, code: 143 }.reason(), "Terminated");
    }

    #[test]
    fn cloexec_toggles() {
        let (r, _w) = UnixStream::pair().unwrap();
        set_cloexec(r.as_raw_fd(), false).unwrap();
        // SAFETY: F_GETFD on an open fd.
        assert_eq!(unsafe { libc::fcntl(r.as_raw_fd(), libc::F_GETFD) } & libc::FD_CLOEXEC, 0);
        set_cloexec(r.as_raw_fd(), true).unwrap();
        // SAFETY: as above.
        assert_ne!(unsafe { libc::fcntl(r.as_raw_fd(), libc::F_GETFD) } & libc::FD_CLOEXEC, 0);
    }
}
