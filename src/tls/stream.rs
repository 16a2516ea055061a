//! One TLS session over a non-blocking TCP socket, driven by the reactor's
//! edge-triggered readiness (the `Sock::Tls` variant of `crate::stream::conn`).
//!
//! The rules it keeps, so that the stream above sees a socket like any other:
//! - `read` returns plaintext rustls already holds before touching the socket, and
//!   says `WouldBlock` only when rustls holds none *and* the socket said
//!   `WouldBlock`: plaintext never sits in rustls after a read reported "drained"
//!   (a short plaintext read proves nothing about the socket, so `Conn`'s
//!   short-read shortcut is not taken on TLS, see [`TlsStream::short_read_drains`]).
//! - `write` first pushes out the records made earlier; while some remain it accepts
//!   nothing (`WouldBlock`), so at most one batch of records waits in rustls. When a
//!   batch cannot all go out, the last byte taken is reported as not taken (it is
//!   "owed"): the caller keeps it and writes it again, which returns once the records
//!   are out. So a caller never sees its buffer drained while its data still sits in
//!   rustls, and may close right after (a `Connection: close` response). Records
//!   are also pushed by the next writable event ([`TlsStream::flush`], from
//!   `Conn::note`).
//! - `shutdown(Write)` sends close_notify, then the TCP FIN once the records are out.
//! - A handshake failure makes reads fail, so the stream closes; the runtime then
//!   logs HAProxy's "SSL handshake failure" line instead of the stream's.

use super::details::{self, Details, TapReader, TapWriter, Taps};
use super::TlsInfo;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr};

/// Plaintext rustls accepts ahead of the socket (one batch of records).
const WRITE_AHEAD: usize = 64 * 1024;

pub struct TlsStream {
    tcp: mio::net::TcpStream,
    tls: rustls::Connection,
    peer: Option<SocketAddr>,
    /// The socket said EOF.
    eof: bool,
    /// `shutdown(Write)` was asked: FIN once the records (close_notify last) are out.
    fin_pending: bool,
    /// The handshake failed (logged once); on a client session also a fatal alert
    /// before any plaintext came (see [`TlsStream::fail`]).
    failed: bool,
    /// Plaintext was read from the peer.
    plaintext_seen: bool,
    /// Filled when the handshake completes.
    info: Option<std::sync::Arc<TlsInfo>>,
    /// Plaintext bytes already encrypted that the last write reported as not taken
    /// (see the module doc): the next write takes them once the records are out.
    owed: usize,
    /// A bind whose config depends on the SNI: the ClientHello is read first (`tls`
    /// is a placeholder until then).
    hello: Option<Box<Hello>>,
    /// Bytes written in clear before the first record: a server's PROXY header, which
    /// HAProxy sends ahead of its ClientHello.
    clear_prefix: Vec<u8>,
    /// Copies of the hellos while handshaking ([`details`]).
    taps: Option<Box<Taps>>,
    /// A bind's session: its certificates and capture size.
    front: Option<Box<Front>>,
}

/// What a bind's session needs to describe itself ([`Details`]).
struct Front {
    resolver: std::sync::Arc<super::certs::SniResolver>,
    capture_size: usize,
}

/// Reading a ClientHello to choose the config ([`super::SniConfigs`]).
struct Hello {
    acceptor: rustls::server::Acceptor,
    configs: std::sync::Arc<super::SniConfigs>,
}

impl TlsStream {
    /// A server-side session on an accepted socket (`bind ... ssl`).
    pub fn accept(tcp: mio::net::TcpStream, config: std::sync::Arc<rustls::ServerConfig>) -> io::Result<TlsStream> {
        let conn = rustls::ServerConnection::new(config).map_err(io::Error::other)?;
        Ok(TlsStream::new(tcp, conn.into()))
    }

    /// A server-side session for a `bind ... ssl` line: its config, or the one the
    /// client's SNI chooses when crt-list lines carry their own options.
    pub fn accept_bind(tcp: mio::net::TcpStream, bind: &super::BindTls) -> io::Result<TlsStream> {
        let mut s = TlsStream::accept(tcp, bind.config.clone())?;
        s.front = Some(Box::new(Front { resolver: bind.resolver.clone(), capture_size: bind.capture_size }));
        if let Some(configs) = &bind.by_sni {
            s.hello = Some(Box::new(Hello { acceptor: rustls::server::Acceptor::default(), configs: configs.clone() }));
        }
        Ok(s)
    }

    /// A client-side session on a connecting socket (`server ... ssl`, Lua
    /// `connect_ssl`): the ClientHello goes out once the connect completes.
    pub fn connect(tcp: mio::net::TcpStream, config: std::sync::Arc<rustls::ClientConfig>, name: rustls::pki_types::ServerName<'static>) -> io::Result<TlsStream> {
        let conn = rustls::ClientConnection::new(config, name).map_err(io::Error::other)?;
        Ok(TlsStream::new(tcp, conn.into()))
    }

    fn new(tcp: mio::net::TcpStream, mut tls: rustls::Connection) -> TlsStream {
        tls.set_buffer_limit(Some(WRITE_AHEAD));
        let peer = tcp.peer_addr().ok();
        let taps = Some(Box::new(Taps::new(matches!(tls, rustls::Connection::Server(_)))));
        TlsStream { tcp, tls, peer, eof: false, fin_pending: false, failed: false, plaintext_seen: false, info: None, owed: 0, hello: None, clear_prefix: Vec::new(), taps, front: None }
    }

    pub fn tcp(&self) -> &mio::net::TcpStream {
        &self.tcp
    }

    pub fn tcp_mut(&mut self) -> &mut mio::net::TcpStream {
        &mut self.tcp
    }

    /// What the handshake negotiated, once it is done.
    pub fn info(&self) -> Option<&std::sync::Arc<TlsInfo>> {
        self.info.as_ref()
    }

    /// The handshake failed (the connection is closed without a stream log: see
    /// [`super::handshake_failure_line`]).
    pub fn handshake_failed(&self) -> bool {
        self.failed
    }

    pub fn is_handshaking(&self) -> bool {
        self.tls.is_handshaking()
    }

    /// A short plaintext read does not mean the socket is empty: never.
    pub fn short_read_drains(&self) -> bool {
        false
    }

    /// Records are waiting for the socket.
    pub fn has_pending_output(&self) -> bool {
        self.tls.wants_write() || !self.clear_prefix.is_empty()
    }

    /// Queues `bytes` to go out in clear before any record (call before the connect
    /// completes: the ClientHello leaves on the first writable event).
    pub fn send_clear_first(&mut self, bytes: Vec<u8>) {
        self.clear_prefix.extend_from_slice(&bytes);
    }

    /// Pushes out the records rustls holds (after the clear prefix, if any).
    /// `Err(WouldBlock)`: some remain.
    pub fn flush(&mut self) -> io::Result<()> {
        while !self.clear_prefix.is_empty() {
            match io::Write::write(&mut self.tcp, &self.clear_prefix) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    self.clear_prefix.drain(..n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        while self.tls.wants_write() {
            let mut out = TapWriter { inner: &mut self.tcp, tap: self.taps.as_deref_mut().map(|t| &mut t.written) };
            match self.tls.write_tls(&mut out) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        if self.fin_pending {
            self.fin_pending = false;
            let _ = self.tcp.shutdown(Shutdown::Write);
        }
        Ok(())
    }

    fn note_handshake(&mut self) {
        if self.info.is_some() || self.tls.is_handshaking() {
            return;
        }
        let sni = match &self.tls {
            rustls::Connection::Server(s) => s.server_name().map(str::to_string),
            rustls::Connection::Client(_) => None,
        };
        self.info = Some(std::sync::Arc::new(TlsInfo {
            protocol: self.tls.protocol_version().map(super::version_name).unwrap_or("unknown"),
            cipher: self.tls.negotiated_cipher_suite().map(super::cipher_name).unwrap_or_default(),
            sni,
            alpn: self.tls.alpn_protocol().map(<[u8]>::to_vec),
            peer_cert: self.tls.peer_certificates().is_some_and(|c| !c.is_empty()),
            peer_cn: self.tls.peer_certificates().and_then(|c| super::validity::subject_cn(c.first()?)),
            resumed: self.tls.handshake_kind() == Some(rustls::HandshakeKind::Resumed),
            key_bits: self.tls.negotiated_cipher_suite().map(super::cipher_key_bits).unwrap_or(0),
            details: self.details(),
        }));
    }

    /// The handshake's [`Details`], once it is done (the taps are dropped then).
    fn details(&mut self) -> Details {
        let taps = self.taps.take();
        let server = matches!(self.tls, rustls::Connection::Server(_));
        let (client_hello, server_hello) = match taps {
            Some(t) if server => (t.read.hello, t.written.hello),
            Some(t) => (t.written.hello, t.read.hello),
            None => (None, None),
        };
        let client = client_hello.as_deref().and_then(details::random_and_session_id);
        let srv = server_hello.as_deref().and_then(details::random_and_session_id);
        let tls12 = self.tls.protocol_version() == Some(rustls::ProtocolVersion::TLSv1_2);
        let peer_chain: Vec<_> = self.tls.peer_certificates().map(|c| c.iter().map(|c| c.clone().into_owned()).collect()).unwrap_or_default();
        let mut d = Details {
            client_random: client.map(|(r, _)| r),
            server_random: srv.map(|(r, _)| r),
            session_id: srv.filter(|(_, id)| tls12 && !id.is_empty()).map(|(_, id)| id.to_vec()),
            ..Details::default()
        };
        if let Some(r) = &d.client_random {
            d.secrets = details::take_secrets(r);
        }
        if server {
            if let Some(ee) = peer_chain.first() {
                d.verify = details::take_verify_error(ee.as_ref());
            }
        }
        if let Some(front) = &self.front {
            let sni = match &self.tls {
                rustls::Connection::Server(s) => s.server_name(),
                rustls::Connection::Client(_) => None,
            };
            d.local_cert = front.resolver.pick(sni).and_then(|ck| ck.cert.first().cloned());
            d.capture_size = front.capture_size;
            if front.capture_size > 0 {
                d.client_hello = client_hello;
            }
        }
        d.peer_chain = peer_chain;
        d
    }

    /// A session error. It is a handshake failure while handshaking, and also, on a
    /// client session, for a fatal alert before any plaintext: in TLS 1.3 the client's
    /// side of the handshake is done once it sent its Finished, and a server refusing
    /// the client's certificate (server `crt`, or none) says so only then. HAProxy
    /// reports that as a connection failure too (503, `SC`).
    fn fail(&mut self, e: rustls::Error) -> io::Error {
        // The alert rustls queued goes out if the socket takes it now.
        let _ = self.flush();
        let refused = matches!(self.tls, rustls::Connection::Client(_)) && !self.plaintext_seen && matches!(e, rustls::Error::AlertReceived(_));
        if self.tls.is_handshaking() || refused {
            self.failed = true;
            ::log::debug!("{}: SSL handshake failure: {e}", self.peer.map(|p| p.to_string()).unwrap_or_else(|| "-".into()));
        }
        io::Error::new(io::ErrorKind::InvalidData, e)
    }

    /// A client session on a connected socket: moves the handshake on with what the
    /// socket has. `Ok(true)` once it is done, `Ok(false)` while it goes on, an error
    /// when it failed (the server connection failed: HAProxy's connection error).
    pub fn drive_handshake(&mut self) -> io::Result<bool> {
        if self.failed {
            return Err(io::ErrorKind::InvalidData.into());
        }
        while self.tls.is_handshaking() {
            match self.flush() {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) => return Err(e),
            }
            let mut input = TapReader { inner: &mut self.tcp, tap: self.taps.as_deref_mut().map(|t| &mut t.read) };
            match self.tls.read_tls(&mut input) {
                Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) => return Err(e),
            }
            if let Err(e) = self.tls.process_new_packets() {
                return Err(self.fail(e));
            }
        }
        self.note_handshake();
        match self.flush() {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(true),
            Err(e) => Err(e),
        }
    }

    /// Reads the ClientHello of a bind with several configs and starts the session
    /// with the one its SNI chooses. `Ok(false)`: more of it is to come (the socket said
    /// `WouldBlock`) or the client left.
    fn read_hello(&mut self) -> io::Result<bool> {
        let Some(hello) = self.hello.as_mut() else { return Ok(true) };
        let accepted = loop {
            let mut input = TapReader { inner: &mut self.tcp, tap: self.taps.as_deref_mut().map(|t| &mut t.read) };
            match hello.acceptor.read_tls(&mut input) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(false);
                }
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) => return Err(e),
            }
            match hello.acceptor.accept() {
                Ok(None) => {}
                Ok(Some(accepted)) => break Ok(accepted),
                Err(e) => break Err(e),
            }
        };
        let conn = accepted.and_then(|a| {
            let config = hello.configs.pick(a.client_hello().server_name());
            a.into_connection(config)
        });
        self.hello = None;
        match conn {
            Ok(conn) => {
                self.tls = conn.into();
                self.tls.set_buffer_limit(Some(WRITE_AHEAD));
                // The server's first flight answers the hello now.
                match self.flush() {
                    Err(e) if e.kind() != io::ErrorKind::WouldBlock => Err(e),
                    _ => Ok(true),
                }
            }
            Err((e, mut alert)) => {
                let _ = alert.write_all(&mut self.tcp);
                self.failed = true;
                ::log::debug!("{}: SSL handshake failure: {e}", self.peer.map(|p| p.to_string()).unwrap_or_else(|| "-".into()));
                Err(io::Error::new(io::ErrorKind::InvalidData, e))
            }
        }
    }

    /// Reads plaintext: what rustls holds first, then records from the socket.
    pub fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.failed {
            return Err(io::ErrorKind::InvalidData.into());
        }
        if self.hello.is_some() && !self.read_hello()? {
            return if self.eof { Ok(0) } else { Err(io::ErrorKind::WouldBlock.into()) };
        }
        loop {
            match self.tls.reader().read(buf) {
                Ok(n) => {
                    self.plaintext_seen |= n > 0;
                    return Ok(n); // 0: close_notify received
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                // The peer closed the TCP connection without close_notify: an EOF all the same.
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(0),
                Err(e) => return Err(e),
            }
            if self.eof {
                return Ok(0);
            }
            let mut input = TapReader { inner: &mut self.tcp, tap: self.taps.as_deref_mut().map(|t| &mut t.read) };
            match self.tls.read_tls(&mut input) {
                Ok(0) => self.eof = true,
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
            if let Err(e) = self.tls.process_new_packets() {
                return Err(self.fail(e));
            }
            self.note_handshake();
            // Handshake messages, alerts, key updates to answer.
            match self.flush() {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Takes plaintext to send (see the module doc).
    pub fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_vectored(&[io::IoSlice::new(buf)])
    }

    pub fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        let len: usize = bufs.iter().map(|b| b.len()).sum();
        self.flush()?;
        if self.owed > 0 {
            // The records holding the owed bytes are out: they are taken now.
            let n = self.owed.min(len);
            self.owed -= n;
            return Ok(n);
        }
        let mut total = 0;
        for b in bufs {
            let n = self.tls.writer().write(b)?;
            total += n;
            if n < b.len() {
                break;
            }
        }
        if total == 0 && len > 0 {
            // The write-ahead is full (plaintext waits for the handshake to finish).
            return Err(io::ErrorKind::WouldBlock.into());
        }
        match self.flush() {
            Ok(()) => Ok(total),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                self.owed = 1;
                match total - 1 {
                    0 => Err(e),
                    n => Ok(n),
                }
            }
            Err(e) => Err(e),
        }
    }

    /// `Write`: close_notify, then the FIN once every record is out. `Read`/`Both`
    /// go to the socket as they are.
    pub fn shutdown(&mut self, how: Shutdown) -> io::Result<()> {
        if how == Shutdown::Read {
            return self.tcp.shutdown(how);
        }
        self.tls.send_close_notify();
        self.fin_pending = true;
        match self.flush() {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(()),
            r => {
                if how == Shutdown::Both {
                    let _ = self.tcp.shutdown(Shutdown::Both);
                }
                r
            }
        }
    }
}
