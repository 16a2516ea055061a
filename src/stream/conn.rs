//! One side of a stream: a non-blocking socket plus the readiness the poller last
//! reported for it. Reads and writes loop until the kernel says `WouldBlock` (mio is
//! edge-triggered) and report how they ended as a small enum; the stream never calls
//! a syscall itself.
//!
//! One shortcut saves a syscall per read: on a stream socket, a read that returns less
//! than the room it was given has emptied the receive queue, so the next read could only
//! say `WouldBlock`. It is taken as that answer, and any data arriving later raises a new
//! edge-triggered event (epoll reports every arrival, not only empty-to-non-empty
//! changes). The shortcut is skipped once the poller has reported the peer's FIN or an
//! error, whose EOF or error must still be read.

use super::channel::Buffer;
use mio::event::Source;
use mio::{Interest, Registry, Token};
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr};

/// A connected socket, TCP or unix (clients of `unix@` binds).
pub enum Sock {
    Tcp(mio::net::TcpStream),
    Unix(mio::net::UnixStream),
}

/// What a [`Conn`] reads and writes: a plain socket, or a TLS session over TCP
/// (`bind ... ssl`, `server ... ssl`: `crate::tls::stream`).
enum Io {
    Tcp(mio::net::TcpStream),
    Unix(mio::net::UnixStream),
    Tls(Box<crate::tls::TlsStream>),
    /// A FastCGI server (`proto fcgi`): the stream's HTTP/1.1 translated to and from
    /// records over the socket below (`crate::http::fcgi::codec`).
    Fcgi(Box<(Io, crate::http::fcgi::codec::Codec)>),
    /// A server reached through a SOCKS4 proxy (`server ... socks4`) while the proxy's
    /// CONNECT exchange goes on: the layer below (TCP, TLS, FastCGI) is used once the
    /// proxy granted the connection, and this layer removed ([`Conn::connect_state`]).
    /// (The layer is an `Option` only so that it can be taken out when granted.)
    Socks4(Box<(Option<Io>, super::socks4::Socks4)>),
    /// One stream of an HTTP/2 client connection (`super::h2conn`): its request read as
    /// HTTP/1.1, its HTTP/1.1 response written back as frames. No socket of its own.
    H2(Box<super::h2conn::Handle>),
    /// A server spoken to in HTTP/2 (`proto h2`, ALPN `h2`): the stream's HTTP/1.1
    /// request framed, the server's frames read back as an HTTP/1.1 response, over the
    /// socket below (`super::h2srv`).
    H2Srv(Box<(Io, super::h2srv::Layer)>),
}

/// `Read`/`Write` over an [`Io`], for the FastCGI codec.
struct Raw<'a>(&'a mut Io);

impl Read for Raw<'_> {
    fn read(&mut self, b: &mut [u8]) -> io::Result<usize> {
        self.0.read(b)
    }
}

impl Write for Raw<'_> {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        self.0.write(b)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl From<Sock> for Io {
    fn from(s: Sock) -> Io {
        match s {
            Sock::Tcp(s) => Io::Tcp(s),
            Sock::Unix(s) => Io::Unix(s),
        }
    }
}

impl Io {
    fn read(&mut self, b: &mut [u8]) -> io::Result<usize> {
        match self {
            Io::Tcp(s) => s.read(b),
            Io::Unix(s) => s.read(b),
            Io::Tls(s) => s.read(b),
            Io::Fcgi(f) => f.1.read(&mut Raw(&mut f.0), b),
            Io::H2Srv(f) => f.1.read(&mut Raw(&mut f.0), b),
            Io::H2(h) => h.read(b),
            Io::Socks4(_) => Err(io::ErrorKind::WouldBlock.into()),
        }
    }
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        match self {
            Io::Tcp(s) => s.write(b),
            Io::Unix(s) => s.write(b),
            Io::Tls(s) => s.write(b),
            Io::Fcgi(f) => f.1.write(&mut Raw(&mut f.0), &[b]),
            Io::H2Srv(f) => f.1.write(&mut Raw(&mut f.0), &[b]),
            Io::H2(h) => h.write(b),
            Io::Socks4(_) => Err(io::ErrorKind::WouldBlock.into()),
        }
    }
    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        match self {
            Io::Tcp(s) => s.write_vectored(bufs),
            Io::Unix(s) => s.write_vectored(bufs),
            Io::Tls(s) => s.write_vectored(bufs),
            Io::Fcgi(f) => f.1.write(&mut Raw(&mut f.0), &bufs.iter().map(|b| &b[..]).collect::<Vec<_>>()),
            Io::H2Srv(f) => f.1.write(&mut Raw(&mut f.0), &bufs.iter().map(|b| &b[..]).collect::<Vec<_>>()),
            Io::Socks4(_) => Err(io::ErrorKind::WouldBlock.into()),
            Io::H2(h) => {
                let mut total = 0;
                for b in bufs.iter().filter(|b| !b.is_empty()) {
                    match h.write(b) {
                        Ok(n) if n == b.len() => total += n,
                        Ok(n) => return Ok(total + n),
                        Err(e) if total == 0 => return Err(e),
                        Err(_) => break,
                    }
                }
                Ok(total)
            }
        }
    }
    /// `write`, with `MSG_MORE` on TCP when `more` (see [`Conn::more`]).
    fn send(&mut self, b: &[u8], more: bool) -> io::Result<usize> {
        match self {
            Io::Tcp(s) if more => socket2::SockRef::from(&*s).send_with_flags(b, libc::MSG_MORE | libc::MSG_NOSIGNAL),
            _ => self.write(b),
        }
    }
    /// `write_vectored`, with `MSG_MORE` on TCP when `more`: the kernel may hold a
    /// partial segment until the next write (or [`Conn::uncork`]).
    fn send_vectored(&mut self, bufs: &[io::IoSlice<'_>], more: bool) -> io::Result<usize> {
        match self {
            Io::Tcp(s) if more => socket2::SockRef::from(&*s).send_vectored_with_flags(bufs, libc::MSG_MORE | libc::MSG_NOSIGNAL),
            _ => self.write_vectored(bufs),
        }
    }
    fn shutdown(&mut self, how: Shutdown) -> io::Result<()> {
        match self {
            Io::Tcp(s) => s.shutdown(how),
            Io::Unix(s) => s.shutdown(how),
            Io::Tls(s) => s.shutdown(how),
            Io::Fcgi(f) => f.0.shutdown(how),
            // A FIN would end the HTTP/2 connection, not the request: the stream is
            // left (reset unless complete), the socket only closed with the connection.
            Io::H2Srv(f) => {
                f.1.shutdown();
                match how {
                    Shutdown::Write => Ok(()),
                    how => f.0.shutdown(how),
                }
            }
            Io::Socks4(f) => f.0.as_mut().map_or(Ok(()), |io| io.shutdown(how)),
            Io::H2(h) => {
                if how != Shutdown::Read {
                    h.shutdown_write();
                }
                Ok(())
            }
        }
    }
    /// The socket to register; none for an HTTP/2 stream, whose connection is
    /// registered once for all its streams.
    fn source(&mut self) -> Option<&mut dyn Source> {
        match self {
            Io::Tcp(s) => Some(s),
            Io::Unix(s) => Some(s),
            Io::Tls(s) => Some(s.tcp_mut()),
            Io::Fcgi(f) => f.0.source(),
            Io::H2Srv(f) => f.0.source(),
            Io::Socks4(f) => f.0.as_mut().and_then(Io::source),
            Io::H2(_) => None,
        }
    }
    /// Whether a read shorter than the room given proves the socket empty (see the
    /// module doc): not on TLS, where rustls may hold more plaintext.
    fn short_read_drains(&self) -> bool {
        match self {
            Io::Tls(s) => s.short_read_drains(),
            Io::Fcgi(f) => !f.1.holds_input() && f.0.short_read_drains(),
            Io::H2Srv(f) => !f.1.holds_input() && f.0.short_read_drains(),
            Io::H2(h) => !h.readable(),
            _ => true,
        }
    }
    /// The file descriptor of the socket underneath (-1 if none).
    fn raw_fd(&self) -> i32 {
        use std::os::fd::AsRawFd;
        match self {
            Io::Tcp(s) => s.as_raw_fd(),
            Io::Unix(s) => s.as_raw_fd(),
            Io::Tls(s) => s.tcp().as_raw_fd(),
            Io::H2(h) => h.fd,
            Io::Fcgi(f) => f.0.raw_fd(),
            Io::H2Srv(f) => f.0.raw_fd(),
            Io::Socks4(f) => f.0.as_ref().map_or(-1, Io::raw_fd),
        }
    }
    /// The TCP socket under a TCP or TLS connection.
    fn tcp(&self) -> Option<&mio::net::TcpStream> {
        match self {
            Io::Tcp(s) => Some(s),
            Io::Tls(s) => Some(s.tcp()),
            Io::Fcgi(f) => f.0.tcp(),
            Io::H2Srv(f) => f.0.tcp(),
            Io::Socks4(f) => f.0.as_ref().and_then(Io::tcp),
            Io::Unix(_) | Io::H2(_) => None,
        }
    }
}

/// Where a server connection goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    Inet(SocketAddr),
    /// A unix socket path (`server s /run/app.sock`, `unix@...`).
    Unix(std::path::PathBuf),
    /// `abns@name`, HAProxy's padded abstract address.
    Abstract(String),
}

/// How a read loop ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadEnd {
    /// The socket has nothing more for now.
    WouldBlock,
    /// The buffer is full: stop reading until the other side drains it (backpressure).
    BufferFull,
    /// The peer closed its write side.
    Eof,
    /// A hard error (reset ...).
    Error,
}

/// How a write loop ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteEnd {
    /// Everything buffered was sent.
    Drained,
    /// The kernel's send buffer is full.
    WouldBlock,
    /// The peer is gone (EPIPE, reset ...).
    Error,
}

/// Result of connecting a server socket, decided on its first writable event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnectState {
    Established,
    /// Still in progress (spurious event).
    Pending,
    Refused,
    /// Another error (`errno` when known).
    Failed(Option<i32>),
}

pub struct Conn {
    sock: Io,
    /// The poller said readable and we have not seen `WouldBlock` since.
    pub readable: bool,
    /// The poller said writable and we have not seen `WouldBlock` since.
    pub writable: bool,
    /// The poller reported an error or hang-up on this socket.
    pub hup: bool,
    /// We sent a FIN (shutdown(Write)).
    pub shut_w: bool,
    /// The poller reported the peer's FIN (or an error): read until the kernel says so.
    read_closed: bool,
    /// A hint for the next write only (then cleared): more bytes of the same message
    /// follow right away (its producer has more to read), so the write goes out with
    /// `MSG_MORE` and the kernel joins it to the next one: one segment and one wake-up
    /// of the peer instead of two (as HAProxy does for a 16 KiB response).
    pub more: bool,
    /// The last write used `MSG_MORE`: its tail may wait in the kernel until the next
    /// write, or [`Conn::uncork`] when none comes now.
    corked: bool,
}

impl Conn {
    pub fn new(sock: Sock) -> Conn {
        Conn::with_io(sock.into())
    }

    fn with_io(sock: Io) -> Conn {
        Conn { sock, readable: false, writable: false, hup: false, shut_w: false, read_closed: false, more: false, corked: false }
    }

    /// Starts a non-blocking connect to `target`.
    pub fn connect(target: &Target) -> io::Result<Conn> {
        Ok(match target {
            Target::Inet(addr) => {
                let s = mio::net::TcpStream::connect(*addr)?;
                let _ = s.set_nodelay(true);
                Conn::new(Sock::Tcp(s))
            }
            Target::Unix(path) => Conn::new(Sock::Unix(mio::net::UnixStream::connect(path)?)),
            Target::Abstract(name) => {
                let s = socket2::Socket::new(socket2::Domain::UNIX, socket2::Type::STREAM, None)?;
                s.set_nonblocking(true)?;
                s.set_cloexec(true)?;
                match s.connect(&crate::listener::abstract_addr(name)?) {
                    Ok(()) => {}
                    Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
                    Err(e) => return Err(e),
                }
                Conn::new(Sock::Unix(mio::net::UnixStream::from_std(s.into())))
            }
        })
    }

    /// [`Conn::connect`] from the local address a `source` line gives (the server's or
    /// its backend's): bound to `source <addr>[:<port>]`, or with `usesrc` to a
    /// foreign address (IP_TRANSPARENT): the client's (`client`: address and port;
    /// `clientip`: address) or a fixed one. `client` is the stream's source address
    /// (`None` for checks and UNIX clients, which then bind to the `source` address).
    pub fn connect_from(target: &Target, source: Option<&crate::config::model::SourceConf>, client: Option<SocketAddr>) -> io::Result<Conn> {
        Conn::connect_tfo(target, source, client, false)
    }

    /// [`Conn::connect_from`], with `TCP_FASTOPEN_CONNECT` set before the connect
    /// when `tfo` (a server's `tfo`): the first write then leaves with the SYN.
    pub fn connect_tfo(target: &Target, source: Option<&crate::config::model::SourceConf>, client: Option<SocketAddr>, tfo: bool) -> io::Result<Conn> {
        use crate::config::model::UseSrc;
        let Target::Inet(addr) = target else { return Conn::connect(target) };
        let Some(src) = source else {
            if !tfo {
                return Conn::connect(target);
            }
            let s = socket2::Socket::new(socket2::Domain::for_address(*addr), socket2::Type::STREAM, None)?;
            s.set_nonblocking(true)?;
            s.set_cloexec(true)?;
            crate::sys::sockopt::set_fastopen_connect(&s)?;
            return Conn::connect_socket(s, addr);
        };
        let foreign = match (&src.usesrc, client) {
            (Some(UseSrc::Client), Some(c)) => Some(c),
            (Some(UseSrc::ClientIp), Some(c)) => Some(SocketAddr::new(c.ip(), 0)),
            (Some(UseSrc::Addr(a)), _) => Some(*a),
            _ => None,
        };
        // An address of the other family than the server's cannot be bound: the
        // `source` address then, as for a client without an IP address.
        let local = foreign.filter(|a| a.is_ipv4() == addr.is_ipv4()).unwrap_or(src.addr);
        let transparent = local != src.addr;
        let same_family = local.is_ipv4() == addr.is_ipv4();
        let open = |local: SocketAddr| -> io::Result<Conn> {
            let s = socket2::Socket::new(socket2::Domain::for_address(*addr), socket2::Type::STREAM, None)?;
            s.set_nonblocking(true)?;
            s.set_cloexec(true)?;
            if let Some(name) = &src.interface {
                s.bind_device(Some(name.as_bytes()))?;
            }
            if local.port() != 0 {
                s.set_reuse_address(true)?;
            }
            if transparent {
                if local.is_ipv4() {
                    s.set_ip_transparent_v4(true)?;
                } else {
                    s.set_ip_transparent_v6(true)?;
                }
            }
            if same_family {
                s.bind(&local.into())?;
            }
            if tfo {
                crate::sys::sockopt::set_fastopen_connect(&s)?;
            }
            Conn::connect_socket(s, addr)
        };
        match src.ports.filter(|_| same_family) {
            Some(range) => connect_in_range(range, |port| open(SocketAddr::new(local.ip(), port))),
            None => open(local),
        }
    }

    /// Starts the non-blocking connect of a prepared socket.
    fn connect_socket(s: socket2::Socket, addr: &SocketAddr) -> io::Result<Conn> {
        match s.connect(&(*addr).into()) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
            Err(e) => return Err(e),
        }
        let s = mio::net::TcpStream::from_std(s.into());
        let _ = s.set_nodelay(true);
        Ok(Conn::new(Sock::Tcp(s)))
    }

    /// Registers for both directions once: readiness is edge-triggered, so interest
    /// never needs to change; what the stream wants is decided from the hints.
    pub fn register(&mut self, registry: &Registry, token: Token) -> io::Result<()> {
        match self.sock.source() {
            Some(s) => registry.register(s, token, Interest::READABLE | Interest::WRITABLE),
            None => Ok(()),
        }
    }

    /// Moves the socket to another token (an idle server connection changing hands).
    pub fn reregister(&mut self, registry: &Registry, token: Token) -> io::Result<()> {
        match self.sock.source() {
            Some(s) => registry.reregister(s, token, Interest::READABLE | Interest::WRITABLE),
            None => Ok(()),
        }
    }

    pub fn deregister(&mut self, registry: &Registry) {
        if let Some(s) = self.sock.source() {
            let _ = registry.deregister(s);
        }
    }

    /// One stream of an HTTP/2 connection (see [`super::h2conn`]).
    pub fn h2(handle: super::h2conn::Handle) -> Conn {
        Conn::with_io(Io::H2(Box::new(handle)))
    }

    /// For a stream of an HTTP/2 connection: the connection's slot in the runtime.
    pub fn h2_conn(&self) -> Option<crate::reactor::Key> {
        match &self.sock {
            Io::H2(h) => Some(h.conn_key),
            _ => None,
        }
    }

    /// A stream of an HTTP/2 connection that is not its first request (the session's
    /// first request, for `http-reuse`, was another stream's).
    pub fn h2_later_request(&self) -> bool {
        matches!(&self.sock, Io::H2(h) if h.later)
    }

    /// The TLS session said `h2` in ALPN.
    pub fn alpn_is_h2(&self) -> bool {
        self.tls_info().is_some_and(|i| i.alpn.as_deref() == Some(b"h2"))
    }

    /// Records the poller's report.
    pub fn note(&mut self, ready: crate::reactor::Ready) {
        self.readable |= ready.readable || ready.read_closed || ready.error;
        self.writable |= ready.writable || ready.write_closed || ready.error;
        self.hup |= ready.error;
        self.read_closed |= ready.read_closed || ready.error;
        // TLS records the last write left in rustls go out on the next writable event
        // (the stream above saw its bytes taken and waits for nothing).
        if let Io::Tls(s) = &mut self.sock {
            if ready.writable && s.has_pending_output() {
                let _ = s.flush();
            }
        }
        // FastCGI records and HTTP/2 frames a layer could not send yet, likewise.
        match &mut self.sock {
            Io::Fcgi(f) if ready.writable && f.1.has_pending_output() => {
                let _ = f.1.flush(&mut Raw(&mut f.0));
            }
            Io::H2Srv(f) if ready.writable => {
                if f.1.has_pending_output() {
                    let _ = f.1.flush(&mut Raw(&mut f.0));
                }
                // And the TLS records under the frames.
                if let Io::Tls(s) = &mut f.0 {
                    if s.has_pending_output() {
                        let _ = s.flush();
                    }
                }
            }
            _ => {}
        }
    }

    /// Wraps an accepted or connecting TCP socket into a TLS session.
    pub fn into_tls(self, wrap: impl FnOnce(mio::net::TcpStream) -> io::Result<crate::tls::TlsStream>) -> io::Result<Conn> {
        match self.sock {
            Io::Tcp(s) => Ok(Conn::with_io(Io::Tls(Box::new(wrap(s)?)))),
            _ => Err(io::Error::new(io::ErrorKind::InvalidInput, "TLS needs a TCP socket")),
        }
    }

    /// Makes a server connection speak FastCGI (`proto fcgi`); `server` names it in
    /// messages (`backend/server`).
    pub fn into_fcgi(self, server: &str) -> Conn {
        Conn::with_io(Io::Fcgi(Box::new((self.sock, crate::http::fcgi::codec::Codec::new(server)))))
    }

    /// Makes a server connection speak HTTP/2 with our settings `cfg` (`proto h2`, or
    /// ALPN `h2` once the TLS handshake is done); `server` names it in messages
    /// (`backend/server`). The connection keeps its readiness.
    pub fn into_h2(self, server: &str, cfg: crate::http::h2::session::Config) -> Conn {
        let https = self.is_tls();
        Conn { sock: Io::H2Srv(Box::new((self.sock, super::h2srv::Layer::new(server, cfg, https)))), ..self }
    }

    /// Bytes to send in clear before the HTTP/2 connection preface (a server's PROXY
    /// header); no effect on another connection.
    pub fn send_before_h2(&mut self, bytes: Vec<u8>) {
        if let Io::H2Srv(f) = &mut self.sock {
            f.1.send_first(bytes);
        }
    }

    /// The connection speaks HTTP/2 to its server.
    pub fn is_h2_to_server(&self) -> bool {
        matches!(self.sock, Io::H2Srv(_))
    }

    /// Once after an HTTP/2 server's WINDOW_UPDATE let request bytes go that a write
    /// had to leave: the connection takes more (its socket raised no event for it).
    pub fn take_reopened(&mut self) -> bool {
        let reopened = match &mut self.sock {
            Io::H2Srv(f) => f.1.take_reopened(),
            _ => false,
        };
        self.writable |= reopened;
        reopened
    }

    /// The FastCGI request whose head is written next (no effect on other connections).
    pub fn fcgi_expect(&mut self, prepared: &std::sync::Arc<crate::http::fcgi::Prepared>) {
        if let Io::Fcgi(f) = &mut self.sock {
            f.1.expect(prepared.clone());
        }
    }

    /// Bytes to send in clear before the TLS session's first record (a server's PROXY
    /// header); no effect on a plain connection.
    pub fn send_before_tls(&mut self, bytes: Vec<u8>) {
        if let Io::Tls(s) = &mut self.sock {
            s.send_clear_first(bytes);
        }
    }

    /// What the TLS handshake negotiated (`None`: no TLS, or not done yet).
    pub fn tls_info(&self) -> Option<&std::sync::Arc<crate::tls::TlsInfo>> {
        match &self.sock {
            Io::Tls(s) => s.info(),
            Io::H2Srv(f) => match &f.0 {
                Io::Tls(s) => s.info(),
                _ => None,
            },
            Io::H2(h) => h.tls.as_ref(),
            _ => None,
        }
    }

    /// A TLS handshake on this connection is still going on.
    pub fn tls_handshaking(&self) -> bool {
        matches!(self.tls_layer(), Some(s) if s.is_handshaking())
    }

    /// The TLS session, under an HTTP/2 layer or not.
    fn tls_layer(&self) -> Option<&crate::tls::TlsStream> {
        match &self.sock {
            Io::Tls(s) => Some(s),
            Io::H2Srv(f) => match &f.0 {
                Io::Tls(s) => Some(s),
                _ => None,
            },
            _ => None,
        }
    }

    /// A TLS handshake on this connection failed.
    pub fn tls_handshake_failed(&self) -> bool {
        matches!(self.tls_layer(), Some(s) if s.handshake_failed())
    }

    /// The connection is TLS (`ssl_fc`).
    pub fn is_tls(&self) -> bool {
        self.tls_layer().is_some() || matches!(&self.sock, Io::H2(h) if h.tls.is_some())
    }

    /// Makes this connection (to a SOCKS4 proxy) ask the proxy for `dest` once it is
    /// connected; false when SOCKS4 cannot name `dest` (an IPv6 address).
    /// Call it last, once TLS or FastCGI wrap the connection: the exchange happens
    /// under them, on the TCP socket.
    pub fn via_socks4(self, dest: SocketAddr) -> Option<Conn> {
        let socks = super::socks4::Socks4::new(dest)?;
        Some(Conn::with_io(Io::Socks4(Box::new((Some(self.sock), socks)))))
    }

    /// For a connecting server socket: did the connect complete? Checks `SO_ERROR`
    /// and then `getpeername`, as a writable event alone does not mean success.
    /// Through a SOCKS4 proxy, the proxy's grant completes it.
    pub fn connect_state(&mut self) -> ConnectState {
        if let Io::Socks4(layer) = &mut self.sock {
            let Some(tcp) = layer.0.as_ref().and_then(Io::tcp) else { return ConnectState::Failed(None) };
            match tcp.take_error() {
                Ok(Some(e)) | Err(e) => return classify_connect_error(&e),
                Ok(None) => {}
            }
            match tcp.peer_addr() {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::NotConnected => return ConnectState::Pending,
                Err(e) => return classify_connect_error(&e),
            }
            match layer.1.drive(tcp) {
                Ok(true) => {}
                Ok(false) => return ConnectState::Pending,
                Err(e) => return ConnectState::Failed(e.raw_os_error()),
            }
            // Granted: the connection is the layer below from now on (a TLS one
            // starts its handshake below).
            if let Some(below) = layer.0.take() {
                self.sock = below;
            }
        }
        // A FastCGI or HTTP/2 connection connects as the socket under its layer.
        let sock = match &mut self.sock {
            Io::Fcgi(f) => &mut f.0,
            Io::H2Srv(f) => &mut f.0,
            s => s,
        };
        let (err, peer) = match &*sock {
            Io::Tcp(s) => (s.take_error(), s.peer_addr().map(drop)),
            Io::Unix(s) => (s.take_error(), s.peer_addr().map(drop)),
            Io::Tls(s) => (s.tcp().take_error(), s.tcp().peer_addr().map(drop)),
            Io::Fcgi(_) | Io::H2Srv(_) => unreachable!("the socket under the layer"),
            Io::Socks4(_) => unreachable!("removed above"),
            Io::H2(_) => return ConnectState::Established,
        };
        match err {
            Ok(Some(e)) | Err(e) => return classify_connect_error(&e),
            Ok(None) => {}
        }
        // A failed connect always leaves SO_ERROR set, so "not connected" here means
        // "not yet" (e.g. an event left over from a previous attempt's socket, which
        // shared this token): keep waiting, the connect timeout bounds it.
        match peer {
            // A TLS server connection is established once its handshake is done: a
            // failed handshake is a failed connection (retried, `SC`), as in HAProxy.
            Ok(()) => match sock {
                Io::Tls(s) => match s.drive_handshake() {
                    Ok(true) => ConnectState::Established,
                    Ok(false) => ConnectState::Pending,
                    Err(e) => ConnectState::Failed(e.raw_os_error()),
                },
                _ => ConnectState::Established,
            },
            Err(e) if e.kind() == io::ErrorKind::NotConnected => ConnectState::Pending,
            Err(e) => classify_connect_error(&e),
        }
    }

    /// Reads into `buf` until `WouldBlock`, EOF, an error, or the buffer is full.
    pub fn read_into(&mut self, buf: &mut Buffer) -> (usize, ReadEnd) {
        let mut total = 0;
        loop {
            let room = buf.space();
            if room.is_empty() {
                return (total, ReadEnd::BufferFull);
            }
            let asked = room.len();
            match self.sock.read(room) {
                Ok(0) => return (total, ReadEnd::Eof),
                Ok(n) => {
                    buf.produced(n);
                    total += n;
                    if n < asked && !self.read_closed && self.sock.short_read_drains() {
                        // A short read emptied the receive queue (see the module doc).
                        self.readable = false;
                        return (total, ReadEnd::WouldBlock);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.readable = false;
                    return (total, ReadEnd::WouldBlock);
                }
                Err(_) => return (total, ReadEnd::Error),
            }
        }
    }

    /// `bind ... accept-proxy ssl`: the PROXY header comes in clear ahead of the TLS
    /// session's first record. Copies what the socket holds into `buf` without taking it
    /// (`MSG_PEEK`), so that once the header's length is known [`Conn::skip_clear`] takes
    /// exactly that and the TLS session reads the rest from the socket, as HAProxy does.
    /// Only before the TLS session read anything. `EOF` when the peer closed without a byte.
    pub fn peek_clear(&mut self, buf: &mut Buffer) -> (usize, ReadEnd) {
        let Some(tcp) = self.clear_tcp() else { return (0, ReadEnd::Error) };
        loop {
            return match tcp.peek(buf.space()) {
                Ok(0) => (0, ReadEnd::Eof),
                // Peeked bytes stay in the socket: still readable.
                Ok(n) => {
                    buf.produced(n);
                    (n, ReadEnd::WouldBlock)
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.readable = false;
                    (0, ReadEnd::WouldBlock)
                }
                Err(_) => (0, ReadEnd::Error),
            };
        }
    }

    /// Takes `n` bytes [`Conn::peek_clear`] saw off the socket, below any TLS session.
    pub fn skip_clear(&mut self, mut n: usize) -> io::Result<()> {
        let tcp = self.clear_tcp().ok_or_else(|| io::Error::from(io::ErrorKind::InvalidInput))?;
        let mut scratch = [0u8; 512];
        while n > 0 {
            match tcp.read(&mut scratch[..n.min(512)]) {
                Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
                Ok(got) => n -= got,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// The TCP socket itself, under a TLS session if there is one.
    fn clear_tcp(&mut self) -> Option<&mut mio::net::TcpStream> {
        match &mut self.sock {
            Io::Tcp(s) => Some(s),
            Io::Tls(s) => Some(s.tcp_mut()),
            _ => None,
        }
    }

    /// Writes from `buf` until it is empty, `WouldBlock` or an error.
    pub fn write_from(&mut self, buf: &mut Buffer) -> (usize, WriteEnd) {
        self.write_some(buf, usize::MAX)
    }

    /// Writes at most `max` bytes from the front of `buf` (HTTP mode forwards only
    /// the bytes of the current message), until they are sent, `WouldBlock` or an error.
    pub fn write_some(&mut self, buf: &mut Buffer, max: usize) -> (usize, WriteEnd) {
        let mut total = 0;
        loop {
            let data = buf.data();
            let data = &data[..data.len().min(max - total)];
            if data.is_empty() {
                return (total, WriteEnd::Drained);
            }
            let more = std::mem::take(&mut self.more);
            self.corked = more;
            match self.sock.send(data, more) {
                Ok(0) => return (total, WriteEnd::Error),
                Ok(n) => {
                    buf.consumed(n);
                    total += n;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.writable = false;
                    return (total, WriteEnd::WouldBlock);
                }
                Err(_) => return (total, WriteEnd::Error),
            }
        }
    }

    /// Writes the front of `out` (bytes the proxy generated: a rewritten head, an
    /// error page) and removes what was sent, until it is empty, `WouldBlock` or an error.
    pub fn write_vec(&mut self, out: &mut Vec<u8>) -> (usize, WriteEnd) {
        // A plain write: it also sends whatever an earlier `MSG_MORE` left waiting.
        (self.more, self.corked) = (false, false);
        let mut total = 0;
        let end = loop {
            if total == out.len() {
                break WriteEnd::Drained;
            }
            match self.sock.write(&out[total..]) {
                Ok(0) => break WriteEnd::Error,
                Ok(n) => total += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.writable = false;
                    break WriteEnd::WouldBlock;
                }
                Err(_) => break WriteEnd::Error,
            }
        };
        out.drain(..total);
        (total, end)
    }

    /// Writes a head the proxy made (`out`) followed by up to `max` bytes of body from the
    /// front of `buf`, with one `writev` where a `write` of each would take two system
    /// calls (and wake the peer twice). Returns the bytes taken from `out` and from
    /// `buf` (both removed), and how it ended.
    pub fn write_head_and_body(&mut self, out: &mut Vec<u8>, buf: &mut Buffer, max: usize) -> (usize, usize, WriteEnd) {
        let (mut from_out, mut from_buf) = (0, 0);
        let end = loop {
            let head = &out[from_out..];
            let body = buf.data();
            let body = &body[..body.len().min(max - from_buf)];
            if head.is_empty() && body.is_empty() {
                break WriteEnd::Drained;
            }
            let more = std::mem::take(&mut self.more);
            self.corked = more;
            match self.sock.send_vectored(&[io::IoSlice::new(head), io::IoSlice::new(body)], more) {
                Ok(0) => break WriteEnd::Error,
                Ok(n) => {
                    let h = n.min(head.len());
                    from_out += h;
                    buf.consumed(n - h);
                    from_buf += n - h;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.writable = false;
                    break WriteEnd::WouldBlock;
                }
                Err(_) => break WriteEnd::Error,
            }
        };
        out.drain(..from_out);
        (from_out, from_buf, end)
    }

    /// Sends our FIN once.
    pub fn shutdown_write(&mut self) {
        if !self.shut_w {
            self.shut_w = true;
            let _ = self.sock.shutdown(Shutdown::Write);
        }
    }

    /// `option tcpka` / `clitcpka` / `srvtcpka`: TCP keep-alive probes (TCP only).
    /// Sends what a write with `MSG_MORE` left waiting in the kernel, when no other
    /// write follows now (the producer had nothing more after all).
    pub fn uncork(&mut self) {
        self.more = false;
        if std::mem::take(&mut self.corked) {
            if let Some(s) = self.sock.tcp() {
                // Setting TCP_NODELAY (already set) pushes the pending segments.
                let _ = s.set_nodelay(true);
            }
        }
    }

    pub fn set_keepalive(&self) {
        if let Some(s) = self.sock.tcp() {
            let _ = socket2::SockRef::from(s).set_keepalive(true);
        }
    }

    /// `option nolinger`: close with a reset instead of a FIN, dropping unsent data.
    pub fn set_nolinger(&self) {
        if let Some(s) = self.sock.tcp() {
            let _ = socket2::SockRef::from(s).set_linger(Some(std::time::Duration::ZERO));
        }
    }

    /// The file descriptor number, for `-d` traces.
    pub fn raw_fd(&self) -> i32 {
        self.sock.raw_fd()
    }

    /// `silent-drop`: the close that follows tells the client nothing (a TCP or TLS
    /// connection of its own; an HTTP/2 stream shares its connection with others, which
    /// go on: it is closed as `reject` closes it).
    /// Called right before the stream closes the connection (no I/O on it after this).
    pub fn prepare_silent_drop(&self) {
        if let Some(tcp) = self.sock.tcp() {
            use std::os::fd::AsRawFd;
            crate::sys::sockopt::silent_drop(tcp.as_raw_fd());
        }
    }

    /// The local address (TCP only).
    pub fn local_addr(&self) -> Option<SocketAddr> {
        if let Io::H2(h) = &self.sock {
            return h.local;
        }
        self.sock.tcp().and_then(|s| s.local_addr().ok())
    }

    /// The peer's address (TCP only).
    pub fn peer_addr(&self) -> Option<SocketAddr> {
        if let Io::H2(h) = &self.sock {
            return h.peer;
        }
        self.sock.tcp().and_then(|s| s.peer_addr().ok())
    }
}

fn classify_connect_error(e: &io::Error) -> ConnectState {
    match e.kind() {
        io::ErrorKind::ConnectionRefused => ConnectState::Refused,
        _ => ConnectState::Failed(e.raw_os_error()),
    }
}

/// Where the next connection from a `source` port range starts looking (shared by the
/// ranges of the process: only a starting point, so consecutive connections take
/// consecutive ports).
static NEXT_PORT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

/// Connects with `open` from the first port of `range` that is free, as HAProxy 2.6's
/// per-server port ranges do: each port is tried at most once, from a rotating start;
/// a port bound by another socket (`EADDRINUSE`, the socket reusing addresses) or
/// already connected to this server (`EADDRNOTAVAIL` at the connect) is skipped. No
/// free port: the last error (the connection fails, as HAProxy's does).
fn connect_in_range((low, high): (u16, u16), mut open: impl FnMut(u16) -> io::Result<Conn>) -> io::Result<Conn> {
    let size = u32::from(high - low) + 1;
    let start = NEXT_PORT.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % size;
    let mut last = io::Error::from_raw_os_error(libc::EADDRNOTAVAIL);
    for k in 0..size {
        let port = low + ((start + k) % size) as u16;
        match open(port) {
            Ok(c) => {
                NEXT_PORT.store(start + k + 1, std::sync::atomic::Ordering::Relaxed);
                return Ok(c);
            }
            Err(e) if matches!(e.raw_os_error(), Some(libc::EADDRINUSE | libc::EADDRNOTAVAIL)) => last = e,
            Err(e) => return Err(e),
        }
    }
    Err(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair() -> (Conn, std::net::TcpStream) {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let c = std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (s, _) = l.accept().unwrap();
        s.set_nonblocking(true).unwrap();
        (Conn::new(Sock::Tcp(mio::net::TcpStream::from_std(s))), c)
    }

    #[test]
    fn read_stops_when_buffer_full_then_on_eof() {
        let (mut conn, mut peer) = pair();
        peer.write_all(&[7u8; 100]).unwrap();
        let mut buf = Buffer::new(64);
        std::thread::sleep(std::time::Duration::from_millis(20));
        assert_eq!(conn.read_into(&mut buf), (64, ReadEnd::BufferFull));
        buf.consumed(64);
        assert_eq!(conn.read_into(&mut buf), (36, ReadEnd::WouldBlock));
        drop(peer);
        std::thread::sleep(std::time::Duration::from_millis(20));
        buf.consumed(36);
        assert_eq!(conn.read_into(&mut buf), (0, ReadEnd::Eof));
    }

    #[test]
    fn a_short_read_counts_as_drained_without_another_syscall() {
        let (mut conn, mut peer) = pair();
        peer.write_all(b"hello").unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        conn.readable = true;
        let mut buf = Buffer::new(64);
        assert_eq!(conn.read_into(&mut buf), (5, ReadEnd::WouldBlock));
        assert!(!conn.readable, "a short read clears the readiness hint");
    }

    #[test]
    fn data_and_fin_together_still_read_to_eof() {
        let (mut conn, mut peer) = pair();
        peer.write_all(b"last words").unwrap();
        drop(peer);
        std::thread::sleep(std::time::Duration::from_millis(20));
        conn.note(crate::reactor::Ready { readable: true, read_closed: true, ..Default::default() });
        let mut buf = Buffer::new(64);
        assert_eq!(conn.read_into(&mut buf), (10, ReadEnd::Eof));
    }

    /// A write hinted `more` then one without: the peer gets both parts, in order; a
    /// hinted write with nothing after it is pushed out by `uncork`.
    #[test]
    fn more_hinted_writes_arrive_joined_or_uncorked() {
        use std::io::Read;
        let (mut conn, mut peer) = pair();
        conn.writable = true;
        peer.set_read_timeout(Some(std::time::Duration::from_secs(5))).unwrap();
        let mut buf = Buffer::new(64);
        buf.space()[..10].copy_from_slice(b"first-half");
        buf.produced(10);
        conn.more = true;
        assert_eq!(conn.write_some(&mut buf, 10), (10, WriteEnd::Drained));
        assert!(!conn.more, "the hint is for one write");
        let mut head = b"+rest".to_vec();
        assert_eq!(conn.write_vec(&mut head), (5, WriteEnd::Drained));
        let mut got = [0u8; 15];
        peer.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"first-half+rest");
        buf.space()[..5].copy_from_slice(b"alone");
        buf.produced(5);
        conn.more = true;
        assert_eq!(conn.write_some(&mut buf, 5), (5, WriteEnd::Drained));
        conn.uncork();
        let mut got = [0u8; 5];
        peer.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"alone");
    }

    #[test]
    fn keepalive_and_nolinger_options_reach_the_socket() {
        let (conn, _peer) = pair();
        conn.set_keepalive();
        conn.set_nolinger();
        let Io::Tcp(s) = &conn.sock else { unreachable!() };
        let r = socket2::SockRef::from(s);
        assert!(r.keepalive().unwrap());
        assert_eq!(r.linger().unwrap(), Some(std::time::Duration::ZERO));
    }

    #[test]
    fn write_drains_and_reports() {
        let (mut conn, mut peer) = pair();
        let mut buf = Buffer::new(16);
        buf.space()[..5].copy_from_slice(b"hello");
        buf.produced(5);
        assert_eq!(conn.write_from(&mut buf), (5, WriteEnd::Drained));
        let mut got = [0u8; 5];
        peer.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"hello");
    }

    #[test]
    fn head_and_body_go_out_together_up_to_the_limit() {
        let (mut conn, mut peer) = pair();
        let mut buf = Buffer::new(16);
        buf.space()[..8].copy_from_slice(b"bodyNEXT");
        buf.produced(8);
        let mut head = b"HEAD|".to_vec();
        // Only the 4 bytes of this message's body: the next message stays buffered.
        assert_eq!(conn.write_head_and_body(&mut head, &mut buf, 4), (5, 4, WriteEnd::Drained));
        assert!(head.is_empty());
        assert_eq!(buf.data(), b"NEXT");
        let mut got = [0u8; 9];
        peer.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"HEAD|body");
    }

    #[test]
    fn connect_to_closed_port_is_refused() {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
        let mut c = Conn::connect(&Target::Inet(port)).unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
        loop {
            match c.connect_state() {
                ConnectState::Pending if std::time::Instant::now() < deadline => std::thread::sleep(std::time::Duration::from_millis(5)),
                s => {
                    assert_eq!(s, ConnectState::Refused);
                    break;
                }
            }
        }
    }
}
