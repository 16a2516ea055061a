//! Signals delivered inside the reactor through a self-pipe.
//!
//! The handler installed with `sigaction` only writes the signal number (one byte) to
//! a non-blocking socket pair (a pipe that mio can register without its `os-ext`
//! feature), which is async-signal-safe. The pair's read end is registered
//! with mio under [`crate::reactor::token::SIGNALS`]; the reactor drains it with
//! [`Signals::drain`] and acts on [`Signal`]s in normal code.

use mio::{Interest, Registry, Token};
use std::io;
use std::io::Read;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicI32, Ordering};

/// What a received signal asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signal {
    /// SIGINT, SIGTERM: stop now.
    Stop,
    /// SIGUSR1: soft stop (close listeners, let streams finish).
    SoftStop,
    /// SIGTTOU: pause the listeners.
    Pause,
    /// SIGTTIN: resume the listeners.
    Resume,
}

impl Signal {
    fn from_signo(n: i32) -> Option<Signal> {
        Some(match n {
            libc::SIGINT | libc::SIGTERM => Signal::Stop,
            libc::SIGUSR1 => Signal::SoftStop,
            libc::SIGTTOU => Signal::Pause,
            libc::SIGTTIN => Signal::Resume,
            _ => return None,
        })
    }
}

const HANDLED: [i32; 5] = [libc::SIGINT, libc::SIGTERM, libc::SIGUSR1, libc::SIGTTOU, libc::SIGTTIN];

/// The pipe's write end, read by the signal handler.
static WRITE_FD: AtomicI32 = AtomicI32::new(-1);

extern "C" fn on_signal(signo: libc::c_int) {
    let fd = WRITE_FD.load(Ordering::Relaxed);
    if fd >= 0 {
        let b = signo as u8;
        let saved = errno();
        // SAFETY: write(2) is async-signal-safe; `b` lives for the call; a full pipe
        // (EAGAIN) only loses a duplicate wake-up. errno is restored afterwards.
        unsafe {
            libc::write(fd, (&b as *const u8).cast(), 1);
        }
        set_errno(saved);
    }
}

fn errno() -> i32 {
    io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

fn set_errno(v: i32) {
    // SAFETY: __errno_location returns the calling thread's errno slot, always valid.
    unsafe {
        *libc::__errno_location() = v;
    }
}

/// The installed handlers and the pipe's two ends.
pub struct Signals {
    read: mio::net::UnixStream,
    /// Kept open for the handler, which writes to its raw fd.
    _write: UnixStream,
}

impl Signals {
    /// Creates the pipe and installs the handlers (SIGPIPE is ignored as well).
    pub fn install() -> io::Result<Signals> {
        let (read, write) = UnixStream::pair()?;
        read.set_nonblocking(true)?;
        write.set_nonblocking(true)?;
        WRITE_FD.store(write.as_raw_fd(), Ordering::Relaxed);
        for signo in HANDLED {
            set_handler(signo, on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t)?;
        }
        set_handler(libc::SIGPIPE, libc::SIG_IGN)?;
        Ok(Signals { read: mio::net::UnixStream::from_std(read), _write: write })
    }

    pub fn register(&mut self, registry: &Registry, token: Token) -> io::Result<()> {
        registry.register(&mut self.read, token, Interest::READABLE)
    }

    /// Reads every pending signal, oldest first.
    pub fn drain(&mut self) -> Vec<Signal> {
        let mut out = Vec::new();
        let mut buf = [0u8; 64];
        loop {
            match self.read.read(&mut buf) {
                Ok(0) => return out,
                Ok(n) => out.extend(buf[..n].iter().filter_map(|&b| Signal::from_signo(b as i32))),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => return out,
            }
        }
    }
}

impl Drop for Signals {
    fn drop(&mut self) {
        WRITE_FD.store(-1, Ordering::Relaxed);
        for signo in HANDLED {
            let _ = set_handler(signo, disposition_after(signo));
        }
    }
}

/// What a signal does once the reactor is gone (the process is finishing: logs being
/// flushed). A soft stop, pause or resume asked now has nothing left to act on: it is
/// ignored, rather than killing a process on its way to a clean exit (a master, or an
/// operator, may send SIGUSR1 twice during a reload). SIGINT and SIGTERM keep their
/// default action.
fn disposition_after(signo: i32) -> libc::sighandler_t {
    match signo {
        libc::SIGUSR1 | libc::SIGTTOU | libc::SIGTTIN => libc::SIG_IGN,
        _ => libc::SIG_DFL,
    }
}

fn set_handler(signo: i32, handler: libc::sighandler_t) -> io::Result<()> {
    // SAFETY: a zeroed sigaction is a valid "no flags, empty mask" value; we then set
    // the handler (a valid `extern "C" fn(c_int)`, SIG_IGN or SIG_DFL) and SA_RESTART.
    let rc = unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = handler;
        sa.sa_flags = libc::SA_RESTART;
        libc::sigemptyset(&mut sa.sa_mask);
        libc::sigaction(signo, &sa, std::ptr::null_mut())
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signal_numbers_map_to_actions() {
        assert_eq!(Signal::from_signo(libc::SIGTERM), Some(Signal::Stop));
        assert_eq!(Signal::from_signo(libc::SIGINT), Some(Signal::Stop));
        assert_eq!(Signal::from_signo(libc::SIGUSR1), Some(Signal::SoftStop));
        assert_eq!(Signal::from_signo(libc::SIGTTOU), Some(Signal::Pause));
        assert_eq!(Signal::from_signo(libc::SIGTTIN), Some(Signal::Resume));
        assert_eq!(Signal::from_signo(libc::SIGHUP), None);
    }

    #[test]
    fn a_late_soft_stop_is_ignored_not_fatal() {
        assert_eq!(disposition_after(libc::SIGUSR1), libc::SIG_IGN);
        assert_eq!(disposition_after(libc::SIGTTOU), libc::SIG_IGN);
        assert_eq!(disposition_after(libc::SIGTERM), libc::SIG_DFL);
    }
}
