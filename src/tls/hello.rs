//! The ClientHello message (RFC 8446 §4.1.2, the same layout in TLS 1.0 to 1.3), read
//! from its bytes without a TLS library. Two readers need it: the `req.ssl_*` fetches
//! (`crate::sample::fetch_ssl_hello`), which look at a ClientHello passing through a
//! TCP proxy that does not terminate TLS, and the ClientHello capture of terminated
//! sessions (`super::details`, for `ssl_fc_cipherlist_*` and the like).
//!
//! Lengths are checked against the bytes given: a field that overruns them makes the
//! whole message invalid (`None`), never a panic.

/// The TLS record type of handshake messages.
pub const HANDSHAKE: u8 = 0x16;
/// The handshake message type of a ClientHello.
pub const CLIENT_HELLO: u8 = 1;

/// The parts of a ClientHello, borrowed from the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientHello<'a> {
    /// `legacy_version`: 0x0303 for TLS 1.2 and 1.3 alike.
    pub version: u16,
    /// The 32-byte client random.
    pub random: &'a [u8],
    /// `legacy_session_id` (empty, or up to 32 bytes).
    pub session_id: &'a [u8],
    /// The cipher suites, two bytes each.
    pub ciphers: &'a [u8],
    /// The extensions block after its length (empty when the hello has none).
    pub extensions: &'a [u8],
}

impl<'a> ClientHello<'a> {
    /// Reads a ClientHello handshake message: type (1), length (3), then the body.
    pub fn parse(msg: &'a [u8]) -> Option<ClientHello<'a>> {
        if *msg.first()? != CLIENT_HELLO {
            return None;
        }
        let mut r = Reader { bytes: msg, at: 4 };
        let version = u16::from_be_bytes(r.take(2)?.try_into().ok()?);
        let random = r.take(32)?;
        let session_id = r.vector(1)?;
        let ciphers = r.vector(2)?;
        r.vector(1)?; // compression methods
        let extensions = if r.at == msg.len() { &[][..] } else { r.vector(2)? };
        Some(ClientHello { version, random, session_id, ciphers, extensions })
    }

    /// The body of extension `ty`, if the client sent it.
    pub fn extension(&self, ty: u16) -> Option<&'a [u8]> {
        let mut rest = self.extensions;
        while rest.len() >= 4 {
            let len = usize::from(u16::from_be_bytes([rest[2], rest[3]]));
            let body = rest.get(4..4 + len)?;
            if u16::from_be_bytes([rest[0], rest[1]]) == ty {
                return Some(body);
            }
            rest = &rest[4 + len..];
        }
        None
    }
}

/// A cursor over length-prefixed TLS fields.
pub struct Reader<'a> {
    pub bytes: &'a [u8],
    pub at: usize,
}

impl<'a> Reader<'a> {
    /// The next `n` bytes.
    pub fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let out = self.bytes.get(self.at..self.at.checked_add(n)?)?;
        self.at += n;
        Some(out)
    }

    /// A vector with a `width`-byte big-endian length prefix.
    pub fn vector(&mut self, width: usize) -> Option<&'a [u8]> {
        let len = self.take(width)?.iter().fold(0usize, |n, &x| n << 8 | usize::from(x));
        self.take(len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A ClientHello message with a session id, two suites and the given extensions
    /// block (None: no block at all).
    fn message(extensions: Option<&[u8]>) -> Vec<u8> {
        let mut body = vec![3, 3];
        body.extend_from_slice(&[9; 32]);
        body.extend_from_slice(&[2, 0xaa, 0xbb]); // session id
        body.extend_from_slice(&[0, 4, 0x13, 0x01, 0xc0, 0x2f, 1, 0]);
        if let Some(ext) = extensions {
            body.extend_from_slice(&(ext.len() as u16).to_be_bytes());
            body.extend_from_slice(ext);
        }
        let mut msg = vec![CLIENT_HELLO, 0, (body.len() >> 8) as u8, body.len() as u8];
        msg.extend_from_slice(&body);
        msg
    }

    #[test]
    fn every_field_is_read() {
        let ext = [0, 35, 0, 0, 0, 16, 0, 3, 2, b'h', b'2'];
        let msg = message(Some(&ext));
        let h = ClientHello::parse(&msg).unwrap();
        assert_eq!(h.version, 0x0303);
        assert_eq!(h.random, &[9; 32]);
        assert_eq!(h.session_id, &[0xaa, 0xbb]);
        assert_eq!(h.ciphers, &[0x13, 0x01, 0xc0, 0x2f]);
        assert_eq!(h.extension(35), Some(&[][..]));
        assert_eq!(h.extension(16), Some(&[2, b'h', b'2'][..]));
        assert_eq!(h.extension(0), None);
    }

    #[test]
    fn no_extensions_block_is_an_empty_one() {
        let msg = message(None);
        assert_eq!(ClientHello::parse(&msg).unwrap().extensions, &[] as &[u8]);
    }

    #[test]
    fn overruns_and_other_messages_are_refused() {
        let msg = message(Some(&[0, 16, 0, 9, 1]));
        // Every truncation of the fixed fields, and a ServerHello, give nothing.
        for cut in [0, 1, 5, 37, 40, 44] {
            assert_eq!(ClientHello::parse(&msg[..cut]), None, "cut at {cut}");
        }
        let mut server_hello = msg.clone();
        server_hello[0] = 2;
        assert_eq!(ClientHello::parse(&server_hello), None);
        // A session id length past the end.
        let mut bad = msg.clone();
        bad[4 + 2 + 32] = 200;
        assert_eq!(ClientHello::parse(&bad), None);
        // An extension whose body overruns the block is not found.
        assert_eq!(ClientHello::parse(&msg).unwrap().extension(16), None);
    }
}
