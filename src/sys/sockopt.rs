//! Socket options set on a connection by its raw descriptor: the TOS (IPv4) or traffic
//! class (IPv6) and the netfilter mark, for `set-tos`/`set-mark` and Lua's
//! `txn:set_tos()`/`txn:set_mark()`; TCP keep-alive probes (`clitcpka-*`, `srvtcpka-*`)
//! and socket buffer sizes (`tune.rcvbuf.*`, `tune.sndbuf.*`); TCP user timeouts and
//! TCP Fast Open (`tcp-ut`, `tfo` on `bind` and `server` lines).
use crate::config::model::{GlobalTuning, TcpKeepalive};
use std::io;
use std::os::fd::{BorrowedFd, RawFd};
use std::sync::atomic::{AtomicU32, Ordering};

/// `tune.rcvbuf.client`, `tune.sndbuf.client`, `tune.rcvbuf.server`, `tune.sndbuf.server`
/// (0: the kernel's default). Process-wide, like the `global` section they come from;
/// set once at start-up by [`set_buffer_sizes`].
static BUFFER_SIZES: [AtomicU32; 4] = [const { AtomicU32::new(0) }; 4];

/// Records the socket buffer sizes that [`tune_client_buffers`] and
/// [`tune_server_socket`] apply from now on.
pub fn set_buffer_sizes(t: &GlobalTuning) {
    let sizes = [t.rcvbuf_client, t.sndbuf_client, t.rcvbuf_server, t.sndbuf_server];
    for (slot, v) in BUFFER_SIZES.iter().zip(sizes) {
        slot.store(v.unwrap_or(0), Ordering::Relaxed);
    }
}

/// SO_RCVBUF and SO_SNDBUF from `tune.rcvbuf.client` / `tune.sndbuf.client`, set (as
/// HAProxy does) on a listening socket before `listen`, so that accepted connections
/// inherit them and the window scale of the handshake fits them.
pub fn tune_client_buffers(s: &socket2::Socket) -> io::Result<()> {
    apply_buffers(&socket2::SockRef::from(s), 0)
}

fn apply_buffers(s: &socket2::SockRef<'_>, first: usize) -> io::Result<()> {
    let (rcv, snd) = (BUFFER_SIZES[first].load(Ordering::Relaxed), BUFFER_SIZES[first + 1].load(Ordering::Relaxed));
    if rcv > 0 {
        s.set_recv_buffer_size(rcv as usize)?;
    }
    if snd > 0 {
        s.set_send_buffer_size(snd as usize)?;
    }
    Ok(())
}

/// TCP keep-alive probe settings on a connection whose SO_KEEPALIVE is on (`option
/// clitcpka` / `srvtcpka` / `tcpka`): only the values set are changed.
pub fn set_keepalive_probes(fd: RawFd, ka: &TcpKeepalive) -> io::Result<()> {
    if *ka == TcpKeepalive::default() {
        return Ok(());
    }
    let mut params = socket2::TcpKeepalive::new();
    if let Some(idle) = ka.idle.filter(|d| !d.is_zero()) {
        params = params.with_time(idle);
    }
    if let Some(intvl) = ka.intvl.filter(|d| !d.is_zero()) {
        params = params.with_interval(intvl);
    }
    if let Some(cnt) = ka.cnt {
        params = params.with_retries(cnt);
    }
    with_socket(fd, |s| s.set_tcp_keepalive(&params))
}

/// A new connection to a server: `tune.rcvbuf.server` / `tune.sndbuf.server`.
pub fn tune_server_socket(fd: RawFd) -> io::Result<()> {
    with_socket(fd, |s| apply_buffers(s, 2))
}

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

/// `silent-drop`: makes the coming close of client connection `fd` tell the client
/// nothing, as HAProxy does. With `TCP_REPAIR` (it needs CAP_NET_ADMIN) the kernel closes
/// the socket without sending a FIN or a reset; otherwise the socket's hop limit drops to
/// 1 (`IP_TTL`, `IPV6_UNICAST_HOPS`), so that what the close sends dies at the first
/// router (a client on the same host still sees it). True when `TCP_REPAIR` took.
pub fn silent_drop(fd: RawFd) -> bool {
    with_socket(fd, |s| {
        if set_tcp_int(s, libc::TCP_REPAIR, 1).is_ok() {
            return Ok(true);
        }
        match s.local_addr()?.as_socket() {
            Some(std::net::SocketAddr::V4(_)) => s.set_ttl_v4(1)?,
            Some(std::net::SocketAddr::V6(_)) => s.set_unicast_hops_v6(1)?,
            None => {}
        }
        Ok(false)
    })
    .unwrap_or(false)
}

/// `tcp-ut <delay>`: `TCP_USER_TIMEOUT`, how long sent data may stay unacknowledged
/// before the kernel closes the connection. On a listening socket, the connections it
/// accepts inherit it. Zero gives back the kernel's default.
pub fn set_user_timeout(s: &socket2::SockRef<'_>, delay: std::time::Duration) -> io::Result<()> {
    s.set_tcp_user_timeout(Some(delay).filter(|d| !d.is_zero()))
}

/// [`set_user_timeout`] on a connection by its descriptor (a server connection).
pub fn set_user_timeout_fd(fd: RawFd, delay: std::time::Duration) -> io::Result<()> {
    with_socket(fd, |s| set_user_timeout(s, delay))
}

/// `bind ... tfo`: `TCP_FASTOPEN` on a listening socket, with room for `queue`
/// connections whose handshake carried data and that are not accepted yet. The
/// kernel also needs bit 2 of `net.ipv4.tcp_fastopen` to answer them.
pub fn set_fastopen_listener(s: &socket2::Socket, queue: i32) -> io::Result<()> {
    set_tcp_int(s, libc::TCP_FASTOPEN, queue)
}

/// `server ... tfo`: `TCP_FASTOPEN_CONNECT`, set before `connect`: the connect
/// returns at once and the first write goes out with the SYN when the kernel holds a
/// cookie for the server (bit 1 of `net.ipv4.tcp_fastopen`), else a normal handshake
/// happens.
pub fn set_fastopen_connect(s: &socket2::Socket) -> io::Result<()> {
    set_tcp_int(s, libc::TCP_FASTOPEN_CONNECT, 1)
}

/// An `IPPROTO_TCP` option whose value is an `int`.
fn set_tcp_int(s: &socket2::Socket, opt: libc::c_int, value: libc::c_int) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: `s` is an open socket for the whole call; the value is a live `c_int`
    // and the length given is its size, as setsockopt(2) expects for these options.
    let r = unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            libc::IPPROTO_TCP,
            opt,
            (&value as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
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
    fn keepalive_probes_reach_the_socket() {
        use crate::config::model::TcpKeepalive;
        use std::time::Duration;
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let c = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let ka = TcpKeepalive { cnt: Some(4), idle: Some(Duration::from_secs(77)), intvl: Some(Duration::from_secs(9)) };
        super::set_keepalive_probes(c.as_raw_fd(), &ka).unwrap();
        let r = socket2::SockRef::from(&c);
        assert!(r.keepalive().unwrap());
        assert_eq!(r.tcp_keepalive_retries().unwrap(), 4);
        assert_eq!(r.tcp_keepalive_time().unwrap(), Duration::from_secs(77));
        assert_eq!(r.tcp_keepalive_interval().unwrap(), Duration::from_secs(9));
        // Only what is set changes.
        super::set_keepalive_probes(c.as_raw_fd(), &TcpKeepalive { cnt: Some(2), ..Default::default() }).unwrap();
        assert_eq!(r.tcp_keepalive_time().unwrap(), Duration::from_secs(77));
        assert_eq!(r.tcp_keepalive_retries().unwrap(), 2);
    }

    #[test]
    fn user_timeout_and_fast_open_reach_the_socket() {
        use std::time::Duration;
        let l = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        super::set_user_timeout(&socket2::SockRef::from(&l), Duration::from_millis(1500)).unwrap();
        assert_eq!(l.tcp_user_timeout().unwrap(), Some(Duration::from_millis(1500)));
        super::set_fastopen_listener(&l, 64).unwrap();
        let c = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        super::set_fastopen_connect(&c).unwrap();
        let std_l = TcpListener::bind("127.0.0.1:0").unwrap();
        let s = TcpStream::connect(std_l.local_addr().unwrap()).unwrap();
        super::set_user_timeout_fd(s.as_raw_fd(), Duration::from_secs(3)).unwrap();
        assert_eq!(socket2::SockRef::from(&s).tcp_user_timeout().unwrap(), Some(Duration::from_secs(3)));
    }

    #[test]
    fn a_bad_descriptor_is_an_error_not_a_crash() {
        assert!(super::set_tos(-1, 8).is_err());
        assert!(super::set_mark(-1, 8).is_err());
    }
}
