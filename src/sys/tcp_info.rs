//! A TCP socket's `TCP_INFO` (Linux) and addresses: what the `fc_rtt`, `fc_retrans`,
//! `fc_src`... sample fetches read of the client connection.
use std::net::SocketAddr;
use std::os::fd::{BorrowedFd, RawFd};

/// The local and peer addresses of socket `fd` (`fc_dst`, `fc_src`: the connection's
/// own, whatever a PROXY header said); `None` when it has none (not an IP socket).
pub fn addrs(fd: RawFd) -> Option<(SocketAddr, SocketAddr)> {
    if fd < 0 {
        return None;
    }
    // SAFETY: the caller passes the descriptor of a connection it owns, open for the
    // duration of this call; the borrow does not outlive it and nothing is closed.
    let fd = unsafe { BorrowedFd::borrow_raw(fd) };
    let s = socket2::SockRef::from(&fd);
    Some((s.local_addr().ok()?.as_socket()?, s.peer_addr().ok()?.as_socket()?))
}

/// The `TCP_INFO` fields the sample fetches read (times in microseconds).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TcpInfo {
    pub rtt_us: u32,
    pub rttvar_us: u32,
    pub unacked: u32,
    pub sacked: u32,
    pub retrans: u32,
    pub fackets: u32,
    pub lost: u32,
    pub reordering: u32,
}

/// The `TCP_INFO` of socket `fd`; `None` when it has none (not TCP, closed).
#[cfg(target_os = "linux")]
pub fn read(fd: RawFd) -> Option<TcpInfo> {
    if fd < 0 {
        return None;
    }
    let mut info = std::mem::MaybeUninit::<libc::tcp_info>::zeroed();
    let mut len = std::mem::size_of::<libc::tcp_info>() as libc::socklen_t;
    // SAFETY: `info` is a writable buffer of `len` bytes that getsockopt fills at most;
    // `len` is updated to what it wrote. A bad `fd` only makes the call fail.
    let rc = unsafe { libc::getsockopt(fd, libc::IPPROTO_TCP, libc::TCP_INFO, info.as_mut_ptr().cast(), &mut len) };
    if rc != 0 {
        return None;
    }
    // SAFETY: zero-initialised above, and every field is a plain integer: any bytes the
    // kernel did not write (an older kernel's shorter struct) stay 0.
    let i = unsafe { info.assume_init() };
    Some(TcpInfo {
        rtt_us: i.tcpi_rtt,
        rttvar_us: i.tcpi_rttvar,
        unacked: i.tcpi_unacked,
        sacked: i.tcpi_sacked,
        retrans: i.tcpi_retrans,
        fackets: i.tcpi_fackets,
        lost: i.tcpi_lost,
        reordering: i.tcpi_reordering,
    })
}

/// No `TCP_INFO` outside Linux.
#[cfg(not(target_os = "linux"))]
pub fn read(_fd: RawFd) -> Option<TcpInfo> {
    None
}

#[cfg(test)]
mod tests {
    use std::net::{TcpListener, TcpStream};
    use std::os::fd::AsRawFd;

    #[test]
    fn a_connected_socket_has_tcp_info() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let c = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let info = super::read(c.as_raw_fd()).expect("TCP_INFO of a TCP socket");
        assert!(info.rtt_us > 0, "the handshake measured a round trip: {info:?}");
        assert_eq!(super::read(-1), None);
        let (local, peer) = super::addrs(c.as_raw_fd()).unwrap();
        assert_eq!((local, peer), (c.local_addr().unwrap(), c.peer_addr().unwrap()));
    }
}
