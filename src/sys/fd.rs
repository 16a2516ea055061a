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
