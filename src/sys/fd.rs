//! Inherited file descriptors (`bind fd@N`).

use std::io;
use std::os::fd::{FromRawFd, RawFd};

/// Takes ownership of the listening socket `fd` inherited from the parent process.
/// Fails if `fd` is not open or is not a socket, so we never adopt a random fd.
pub fn inherited_socket(fd: RawFd) -> io::Result<socket2::Socket> {
    if fd < 0 {
        return Err(io::Error::from_raw_os_error(libc::EBADF));
    }
    // SAFETY: fcntl(F_GETFD) on any integer is harmless; it only reports EBADF.
    if unsafe { libc::fcntl(fd, libc::F_GETFD) } < 0 {
        return Err(io::Error::last_os_error());
    }
    let mut ty: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `ty` and `len` are valid for getsockopt to write an int into.
    let rc = unsafe {
        libc::getsockopt(fd, libc::SOL_SOCKET, libc::SO_TYPE, (&mut ty as *mut libc::c_int).cast(), &mut len)
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is open and is a socket (checked above); from here on the returned
    // Socket is its only owner: the configuration names each fd@N once.
    Ok(unsafe { socket2::Socket::from_raw_fd(fd) })
}

/// Raises the soft `RLIMIT_NOFILE` to the hard limit (HAProxy does the same to fit
/// `maxconn`); returns the resulting soft limit.
pub fn raise_nofile_limit() -> io::Result<u64> {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: `lim` is a valid rlimit for getrlimit to fill.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return Err(io::Error::last_os_error());
    }
    if lim.rlim_cur < lim.rlim_max {
        let raised = libc::rlimit { rlim_cur: lim.rlim_max, rlim_max: lim.rlim_max };
        // SAFETY: `raised` is a valid rlimit; raising the soft limit to the hard one is always allowed.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            lim = raised;
        }
    }
    Ok(lim.rlim_cur)
}
