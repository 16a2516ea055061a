//! Socket options set on a connection by its raw descriptor: the TOS (IPv4) or traffic
//! class (IPv6) and the netfilter mark, for `set-tos`/`set-mark` and Lua's
//! `txn:set_tos()`/`txn:set_mark()`.
use std::io;
use std::os::fd::{BorrowedFd, RawFd};

/// Sets the TOS byte (`IP_TOS`) of an IPv4 socket, or the traffic class (`IPV6_TCLASS`)
/// of an IPv6 one. A UNIX socket has neither: nothing is done.
pub fn set_tos(fd: RawFd, tos: u32) -> io::Result<()> {
    with_socket(fd, |s| match s.local_addr()?.as_socket() {
        Some(std::net::SocketAddr::V4(_)) => s.set_tos_v4(tos),
        Some(std::net::SocketAddr::V6(_)) => s.set_tclass_v6(tos),
        None => Ok(()),
    })
}

/// Sets the netfilter mark (`SO_MARK`); the kernel refuses it without CAP_NET_ADMIN.
pub fn set_mark(fd: RawFd, mark: u32) -> io::Result<()> {
    with_socket(fd, |s| s.set_mark(mark))
}

fn with_socket<R>(fd: RawFd, f: impl FnOnce(&socket2::SockRef<'_>) -> io::Result<R>) -> io::Result<R> {
    if fd < 0 {
        return Err(io::Error::from_raw_os_error(libc::EBADF));
    }
    // SAFETY: the caller passes the descriptor of a connection it owns, open for the
    // duration of this call; the borrow does not outlive it and nothing is closed.
    let fd = unsafe { BorrowedFd::borrow_raw(fd) };
    f(&socket2::SockRef::from(&fd))
}

#[cfg(test)]
mod tests {
    use std::net::{TcpListener, TcpStream};
    use std::os::fd::AsRawFd;

    #[test]
    fn tos_reaches_an_ipv4_socket() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let c = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        super::set_tos(c.as_raw_fd(), 0x20).unwrap();
        assert_eq!(socket2::SockRef::from(&c).tos_v4().unwrap(), 0x20);
    }

    #[test]
    fn tclass_reaches_an_ipv6_socket() {
        let Ok(l) = TcpListener::bind("[::1]:0") else { return }; // no IPv6 loopback here
        let c = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        super::set_tos(c.as_raw_fd(), 0x28).unwrap();
        assert_eq!(socket2::SockRef::from(&c).tclass_v6().unwrap(), 0x28);
    }

    #[test]
    fn a_bad_descriptor_is_an_error_not_a_crash() {
        assert!(super::set_tos(-1, 8).is_err());
        assert!(super::set_mark(-1, 8).is_err());
    }
}
