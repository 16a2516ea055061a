//! `server ... socks4 <addr>:<port>`: the connection to the server goes through a SOCKS4
//! proxy. Once the TCP connection to the proxy is up, its CONNECT request names the
//! server; the connection counts as established when the proxy grants it (before any
//! PROXY header or TLS handshake of the server's own). As HAProxy 2.6 sends it:
//! version 4, command 1 (CONNECT), the server's port and IPv4 address, and the user id
//! `HAProxy`; the reply is 8 bytes, granted when its second byte is 90.

use std::io::{self, Read, Write};
use std::net::SocketAddr;

/// The request's length: version, command, port (2), address (4), `HAProxy\0`.
const REQUEST_LEN: usize = 16;
/// The reply's length: version 0, status, then 6 bytes the proxy may fill.
const REPLY_LEN: usize = 8;
/// The status of a granted request.
const GRANTED: u8 = 90;

/// One SOCKS4 CONNECT exchange in progress.
#[derive(Debug)]
pub struct Socks4 {
    request: [u8; REQUEST_LEN],
    sent: usize,
    reply: [u8; REPLY_LEN],
    got: usize,
}

impl Socks4 {
    /// The exchange asking for `dest`; `None` for an address SOCKS4 cannot name (IPv6).
    pub fn new(dest: SocketAddr) -> Option<Socks4> {
        let SocketAddr::V4(dest) = dest else { return None };
        let mut request = [0; REQUEST_LEN];
        request[..2].copy_from_slice(&[4, 1]);
        request[2..4].copy_from_slice(&dest.port().to_be_bytes());
        request[4..8].copy_from_slice(&dest.ip().octets());
        request[8..].copy_from_slice(b"HAProxy\0");
        Some(Socks4 { request, sent: 0, reply: [0; REPLY_LEN], got: 0 })
    }

    /// Moves the exchange on over `io` (the connected socket to the proxy): `Ok(true)`
    /// once the proxy granted the connection (nothing past its reply has been read),
    /// `Ok(false)` while waiting for the socket, an error when the proxy refused, closed
    /// or failed.
    pub fn drive(&mut self, mut io: impl Read + Write) -> io::Result<bool> {
        while self.sent < REQUEST_LEN {
            match io.write(&self.request[self.sent..]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => self.sent += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        while self.got < REPLY_LEN {
            match io.read(&mut self.reply[self.got..]) {
                Ok(0) => return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the SOCKS4 proxy closed before its reply")),
                Ok(n) => self.got += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        match self.reply[1] {
            GRANTED => Ok(true),
            status => Err(io::Error::new(io::ErrorKind::ConnectionRefused, format!("the SOCKS4 proxy refused the connection (status {status})"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A socket stand-in: what was written, what is left to read, and a `WouldBlock`
    /// once the input runs out.
    struct Fake {
        out: Vec<u8>,
        input: Vec<u8>,
        closed: bool,
    }

    impl Read for Fake {
        fn read(&mut self, b: &mut [u8]) -> io::Result<usize> {
            if self.input.is_empty() {
                return if self.closed { Ok(0) } else { Err(io::ErrorKind::WouldBlock.into()) };
            }
            let n = b.len().min(self.input.len());
            b[..n].copy_from_slice(&self.input[..n]);
            self.input.drain(..n);
            Ok(n)
        }
    }

    impl Write for Fake {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            self.out.extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn the_request_is_haproxys_and_a_granted_reply_ends_it() {
        let mut s = Socks4::new("10.1.2.3:8080".parse().unwrap()).unwrap();
        let mut io = Fake { out: Vec::new(), input: vec![0, 90, 0, 0], closed: false };
        // Bytes HAProxy 2.6.12 sent for `server s 10.1.2.3:8080 socks4 ...`.
        assert!(!s.drive(&mut io).unwrap(), "half a reply: wait");
        assert_eq!(io.out, b"\x04\x01\x1f\x90\x0a\x01\x02\x03HAProxy\x00");
        io.input.extend_from_slice(&[0, 0, 0, 0, b'd', b'a', b't', b'a']);
        assert!(s.drive(&mut io).unwrap());
        assert_eq!(io.out.len(), REQUEST_LEN, "the request went out once");
        assert_eq!(io.input, b"data", "what follows the reply is the server's");
    }

    #[test]
    fn a_refusal_a_close_and_ipv6_fail() {
        let mut s = Socks4::new("10.1.2.3:80".parse().unwrap()).unwrap();
        let err = s.drive(Fake { out: Vec::new(), input: vec![0, 91, 0, 0, 0, 0, 0, 0], closed: false }).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused);
        let mut s = Socks4::new("10.1.2.3:80".parse().unwrap()).unwrap();
        let err = s.drive(Fake { out: Vec::new(), input: vec![0, 90], closed: true }).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
        assert!(Socks4::new("[::1]:80".parse().unwrap()).is_none());
    }
}
