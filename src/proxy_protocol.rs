//! The PROXY protocol, versions 1 (text) and 2 (binary), as HAProxy speaks it.
//!
//! Sans-io: [`parse`] reads a header from the first bytes a client sent (`bind ...
//! accept-proxy`), [`v1`] and [`v2`] build the header a server connection starts with
//! (`server ... send-proxy`, `send-proxy-v2`). The stream calls them
//! (`src/stream/proxy_header.rs`); nothing here touches a socket.
//!
//! Like HAProxy 2.6, a received header must arrive whole in the first read: HAProxy
//! peeks at the socket once and fails a partial header ("Truncated PROXY protocol
//! header received") rather than waiting for the rest.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// The 12 bytes every version 2 header starts with.
pub const V2_SIG: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";

/// The longest version 1 line, CRLF included (the specification's 107 bytes).
const V1_MAX: usize = 107;

/// Which header a server connection starts with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    V1,
    V2,
}

/// `proxy-v2-options` that add a TLV to version 2 headers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct V2Options {
    /// `authority` (PP2_TYPE_AUTHORITY, 0x02): the SNI the client sent, when it sent one.
    pub authority: bool,
    /// `unique-id` (PP2_TYPE_UNIQUE_ID, 0x05): the stream's `unique-id-format` value.
    pub unique_id: bool,
    /// `crc32c` (PP2_TYPE_CRC32C, 0x03): a CRC32c of the whole header, first TLV.
    pub crc32c: bool,
    /// `send-proxy-v2-ssl`, `proxy-v2-options ssl` (PP2_TYPE_SSL, 0x20): the client
    /// connection's TLS, see `crate::tls::pp2_ssl_value`.
    pub ssl: bool,
    /// `send-proxy-v2-ssl-cn`, `proxy-v2-options cert-cn`: the SSL TLV with the client
    /// certificate's common name.
    pub ssl_cn: bool,
    /// `proxy-v2-options ssl-cipher`: the SSL TLV with the cipher's name.
    pub ssl_cipher: bool,
    /// `proxy-v2-options cert-sig`: the SSL TLV with the signature algorithm of the
    /// certificate the frontend presented.
    pub cert_sig: bool,
    /// `proxy-v2-options cert-key`: the SSL TLV with that certificate's key algorithm
    /// and size (`EC256`, `RSA2048`).
    pub cert_key: bool,
}

/// A header read from a client.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Received {
    /// Its length: the client's own data starts after it.
    pub len: usize,
    /// The source and destination it carries; `None` for `UNKNOWN` (v1), the `LOCAL`
    /// command or an address family moonproxy does not relay (v2): the connection's
    /// own addresses stay.
    pub addrs: Option<(SocketAddr, SocketAddr)>,
}

/// Why a connection expecting a header is closed; [`Error::message`] is HAProxy's
/// wording, logged as `<src>:<port> [<date>] <frontend>/<bind>: <message>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// The client closed before sending anything.
    Empty,
    /// A read error (reset) before the header.
    Abort,
    /// `timeout client` struck before the header.
    Timeout,
    /// A partial header.
    Truncated,
    /// Something else than a PROXY header.
    NotHeader,
    /// A PROXY header with a malformed field.
    BadHeader,
    /// A v1 protocol other than `TCP4`, `TCP6` or `UNKNOWN`.
    BadProto,
    /// `accept-netscaler-cip`: the client closed before sending anything.
    CipEmpty,
    /// `accept-netscaler-cip`: a read error before the header.
    CipAbort,
    /// `accept-netscaler-cip`: `timeout client` struck before the header.
    CipTimeout,
    /// `accept-netscaler-cip`: a partial header.
    CipTruncated,
    /// `accept-netscaler-cip`: the first four bytes are not the configured magic.
    CipBadMagic,
    /// `accept-netscaler-cip`: an unknown header version, or an IP packet that is not
    /// TCP over IPv4 or IPv6.
    CipBadProto,
}

impl Error {
    pub fn message(self) -> &'static str {
        match self {
            Error::Empty => "Connection closed while waiting for PROXY protocol header",
            Error::Abort => "Connection error while waiting for PROXY protocol header",
            Error::Timeout => "Timeout while waiting for PROXY protocol header",
            Error::Truncated => "Truncated PROXY protocol header received",
            Error::NotHeader => "Received something which does not look like a PROXY protocol header",
            Error::BadHeader => "Received an invalid PROXY protocol header",
            Error::BadProto => "Received an unhandled protocol in the PROXY protocol header",
            Error::CipEmpty => "Connection closed while waiting for NetScaler Client IP header",
            Error::CipAbort => "Connection error while waiting for NetScaler Client IP header",
            Error::CipTimeout => "Timeout while waiting for a NetScaler Client IP header",
            Error::CipTruncated => "Truncated NetScaler Client IP header received",
            Error::CipBadMagic => "Received an invalid NetScaler Client IP magic number",
            Error::CipBadProto => "Received an unhandled protocol in the NetScaler Client IP header",
        }
    }

    /// The same failure while waiting for a NetScaler Client IP header.
    pub fn for_netscaler(self) -> Error {
        match self {
            Error::Empty => Error::CipEmpty,
            Error::Abort => Error::CipAbort,
            Error::Timeout => Error::CipTimeout,
            Error::Truncated => Error::CipTruncated,
            e => e,
        }
    }
}

/// Reads a NetScaler Client IP insertion header (`bind ... accept-netscaler-cip
/// <magic>`) at the start of `buf`, as HAProxy 2.6 does: the 32-bit magic; then either
/// the legacy form (a 32-bit length of what follows) or the standard one (a zero byte,
/// three more, a 16-bit length); then a copy of the client's IPv4 or IPv6 header and
/// its TCP header, from which the client's and the destination's addresses and ports
/// are taken. The header is `magic + form + length` bytes long.
pub fn parse_netscaler_cip(buf: &[u8], magic: u32) -> Result<Received, Error> {
    if buf.len() < 12 {
        return Err(Error::CipTruncated);
    }
    if u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]) != magic {
        return Err(Error::CipBadMagic);
    }
    let (start, len) = if buf[8] & 0xd0 == 0x40 {
        (8, u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]) as usize)
    } else if buf[8] == 0 {
        (12, usize::from(u16::from_be_bytes([buf[10], buf[11]])))
    } else {
        return Err(Error::CipBadProto);
    };
    let ip = &buf[start..];
    let Some(&first) = ip.first() else { return Err(Error::CipTruncated) };
    const TCP: u8 = 6;
    let (src, dst, tcp) = match first >> 4 {
        4 => {
            let ihl = usize::from(first & 0x0f) * 4;
            if ip.len() < 20 + 20 || ip.len() < ihl + 4 {
                return Err(Error::CipTruncated);
            }
            if ip[9] != TCP {
                return Err(Error::CipBadProto);
            }
            let v4 = |o: usize| IpAddr::V4(Ipv4Addr::new(ip[o], ip[o + 1], ip[o + 2], ip[o + 3]));
            (v4(12), v4(16), ihl)
        }
        6 => {
            if ip.len() < 40 + 20 {
                return Err(Error::CipTruncated);
            }
            if ip[6] != TCP {
                return Err(Error::CipBadProto);
            }
            let v6 = |o: usize| IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(&ip[o..o + 16]).expect("16 bytes")));
            (v6(8), v6(24), 40)
        }
        _ => return Err(Error::CipBadProto),
    };
    let port = |o: usize| u16::from_be_bytes([ip[tcp + o], ip[tcp + o + 1]]);
    let total = start + len;
    if buf.len() < total {
        return Err(Error::CipTruncated);
    }
    Ok(Received { len: total, addrs: Some((SocketAddr::new(src, port(0)), SocketAddr::new(dst, port(2)))) })
}

/// Reads the header at the start of `buf`, which holds everything received so far.
pub fn parse(buf: &[u8]) -> Result<Received, Error> {
    if buf.starts_with(b"PROXY ") {
        return parse_v1(buf);
    }
    if buf.len() >= V2_SIG.len() && buf.starts_with(&V2_SIG) {
        return parse_v2(buf);
    }
    // Too short to tell: a prefix of either signature is a truncated header.
    let prefix_of = |sig: &[u8]| buf.len() < sig.len() && sig.starts_with(buf);
    if buf.len() < 6 || prefix_of(&V2_SIG) || prefix_of(b"PROXY ") {
        return Err(Error::Truncated);
    }
    Err(Error::NotHeader)
}

fn parse_v1(buf: &[u8]) -> Result<Received, Error> {
    let window = &buf[..buf.len().min(V1_MAX)];
    let Some(cr) = window.windows(2).position(|w| w == b"\r\n") else {
        return Err(if buf.len() >= V1_MAX { Error::BadHeader } else { Error::Truncated });
    };
    let len = cr + 2;
    let line = std::str::from_utf8(&buf[6..cr]).map_err(|_| Error::BadHeader)?;
    let mut fields = line.split(' ');
    let proto = fields.next().unwrap_or("");
    let v6 = match proto {
        "UNKNOWN" => return Ok(Received { len, addrs: None }),
        "TCP4" => false,
        "TCP6" => true,
        _ => return Err(Error::BadProto),
    };
    let ip = |s: Option<&str>| -> Result<IpAddr, Error> {
        let s = s.ok_or(Error::BadHeader)?;
        let ip = if v6 { s.parse::<Ipv6Addr>().map(IpAddr::V6) } else { s.parse::<Ipv4Addr>().map(IpAddr::V4) };
        ip.map_err(|_| Error::BadHeader)
    };
    let port = |s: Option<&str>| -> Result<u16, Error> {
        let s = s.ok_or(Error::BadHeader)?;
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Error::BadHeader);
        }
        s.parse().map_err(|_| Error::BadHeader)
    };
    let (src, dst) = (ip(fields.next())?, ip(fields.next())?);
    let (sport, dport) = (port(fields.next())?, port(fields.next())?);
    if fields.next().is_some() {
        return Err(Error::BadHeader);
    }
    Ok(Received { len, addrs: Some((SocketAddr::new(src, sport), SocketAddr::new(dst, dport))) })
}

fn parse_v2(buf: &[u8]) -> Result<Received, Error> {
    if buf.len() < 16 {
        return Err(Error::Truncated);
    }
    if buf[12] >> 4 != 2 {
        return Err(Error::NotHeader);
    }
    let body_len = u16::from_be_bytes([buf[14], buf[15]]) as usize;
    let len = 16 + body_len;
    if buf.len() < len {
        return Err(Error::Truncated);
    }
    let body = &buf[16..len];
    match buf[12] & 0x0f {
        0 => return Ok(Received { len, addrs: None }), // LOCAL: a health check of ours
        1 => {}
        _ => return Err(Error::BadHeader),
    }
    // The address family and transport; TLVs after the addresses are skipped.
    let addrs = match buf[13] {
        0x11 => {
            let a = body.get(..12).ok_or(Error::BadHeader)?;
            let ip = |o: usize| IpAddr::V4(Ipv4Addr::new(a[o], a[o + 1], a[o + 2], a[o + 3]));
            let port = |o: usize| u16::from_be_bytes([a[o], a[o + 1]]);
            Some((SocketAddr::new(ip(0), port(8)), SocketAddr::new(ip(4), port(10))))
        }
        0x21 => {
            let a = body.get(..36).ok_or(Error::BadHeader)?;
            let ip = |o: usize| IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(&a[o..o + 16]).expect("16 bytes")));
            let port = |o: usize| u16::from_be_bytes([a[o], a[o + 1]]);
            Some((SocketAddr::new(ip(0), port(32)), SocketAddr::new(ip(16), port(34))))
        }
        // UNSPEC, UDP, unix sockets: the connection keeps its own addresses.
        _ => None,
    };
    Ok(Received { len, addrs })
}

/// Both addresses in one family (an IPv4 one paired with an IPv6 one is mapped, as
/// HAProxy does), or `None` when either is unknown (a unix socket).
fn same_family(src: Option<SocketAddr>, dst: Option<SocketAddr>) -> Option<(SocketAddr, SocketAddr)> {
    let (src, dst) = (src?, dst?);
    let v6 = |a: SocketAddr| match a.ip() {
        IpAddr::V4(v4) => SocketAddr::new(IpAddr::V6(v4.to_ipv6_mapped()), a.port()),
        IpAddr::V6(_) => a,
    };
    Some(if src.is_ipv4() == dst.is_ipv4() { (src, dst) } else { (v6(src), v6(dst)) })
}

/// The version 1 line for a connection from `src` to `dst` (`PROXY UNKNOWN` when
/// either is unknown).
pub fn v1(src: Option<SocketAddr>, dst: Option<SocketAddr>) -> Vec<u8> {
    match same_family(src, dst) {
        None => b"PROXY UNKNOWN\r\n".to_vec(),
        Some((s, d)) => {
            let proto = if s.is_ipv4() { "TCP4" } else { "TCP6" };
            format!("PROXY {proto} {} {} {} {}\r\n", s.ip(), d.ip(), s.port(), d.port()).into_bytes()
        }
    }
}

/// The version 2 header for a connection from `src` to `dst`, with `tlvs` (type,
/// value) after the addresses. Unknown addresses give the `PROXY` command with the
/// `UNSPEC` family and no address, as HAProxy sends for a unix socket client.
pub fn v2(src: Option<SocketAddr>, dst: Option<SocketAddr>, tlvs: &[(u8, &[u8])]) -> Vec<u8> {
    let mut out = V2_SIG.to_vec();
    out.push(0x21); // version 2, PROXY
    let mut body = Vec::with_capacity(36);
    match same_family(src, dst) {
        None => out.push(0x00),
        Some((s, d)) => {
            match (s.ip(), d.ip()) {
                (IpAddr::V4(a), IpAddr::V4(b)) => {
                    out.push(0x11);
                    body.extend_from_slice(&a.octets());
                    body.extend_from_slice(&b.octets());
                }
                (a, b) => {
                    let v6 = |ip: IpAddr| match ip {
                        IpAddr::V6(v6) => v6,
                        IpAddr::V4(v4) => v4.to_ipv6_mapped(),
                    };
                    out.push(0x21);
                    body.extend_from_slice(&v6(a).octets());
                    body.extend_from_slice(&v6(b).octets());
                }
            }
            body.extend_from_slice(&s.port().to_be_bytes());
            body.extend_from_slice(&d.port().to_be_bytes());
        }
    }
    for (kind, value) in tlvs {
        body.push(*kind);
        body.extend_from_slice(&(value.len().min(u16::MAX as usize) as u16).to_be_bytes());
        body.extend_from_slice(&value[..value.len().min(u16::MAX as usize)]);
    }
    out.extend_from_slice(&(body.len() as u16).to_be_bytes());
    out.extend_from_slice(&body);
    out
}

/// [`v2`] with a PP2_TYPE_CRC32C TLV first: the CRC32c (Castagnoli) of the whole
/// header computed with that TLV's value at zero, as the specification says.
pub fn v2_checksummed(src: Option<SocketAddr>, dst: Option<SocketAddr>, tlvs: &[(u8, &[u8])]) -> Vec<u8> {
    let zero = [0u8; 4];
    let mut all: Vec<(u8, &[u8])> = vec![(PP2_TYPE_CRC32C, &zero)];
    all.extend_from_slice(tlvs);
    let mut out = v2(src, dst, &all);
    // The CRC TLV follows the addresses: find it after the fixed part and addresses.
    let addr_len = match out[13] {
        0x11 => 12,
        0x21 => 36,
        _ => 0,
    };
    let at = 16 + addr_len + 3;
    let crc = crc32c(&out);
    out[at..at + 4].copy_from_slice(&crc.to_be_bytes());
    out
}

/// CRC32c (Castagnoli, reflected polynomial 0x82F63B78), bit by bit: headers are short.
pub fn crc32c(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 { (crc >> 1) ^ 0x82F6_3B78 } else { crc >> 1 };
        }
    }
    !crc
}

/// The `LOCAL` version 2 header (no address): what a health check sends with
/// `check-send-proxy` on a `send-proxy-v2` server.
pub fn v2_local() -> Vec<u8> {
    let mut out = V2_SIG.to_vec();
    out.extend_from_slice(&[0x20, 0x00, 0x00, 0x00]);
    out
}

/// TLV types of `proxy-v2-options`.
pub const PP2_TYPE_AUTHORITY: u8 = 0x02;
pub const PP2_TYPE_CRC32C: u8 = 0x03;
pub const PP2_TYPE_UNIQUE_ID: u8 = 0x05;
pub const PP2_TYPE_SSL: u8 = 0x20;

/// The TLVs of a version 2 `PROXY` header (`header`: the header [`parse`] read, whole),
/// as `(type, value)`, in order; none for a version 1 header or the `LOCAL` command. A
/// TLV running past the header ends the list (`fc_pp_authority`, `fc_pp_unique_id`).
pub fn v2_tlvs(header: &[u8]) -> impl Iterator<Item = (u8, &[u8])> {
    let is_proxy_v2 = header.len() >= 16 && header.starts_with(&V2_SIG) && header[12] == 0x21;
    let addr_len = match header.get(13).map(|f| f >> 4) {
        Some(1) => 12,
        Some(2) => 36,
        Some(3) => 216,
        _ => 0,
    };
    let mut rest = if is_proxy_v2 { header.get(16 + addr_len..).unwrap_or_default() } else { &[] };
    std::iter::from_fn(move || {
        let [kind, h, l, tail @ ..] = rest else { return None };
        let len = usize::from(u16::from_be_bytes([*h, *l]));
        let value = tail.get(..len)?;
        rest = &tail[len..];
        Some((*kind, value))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sa(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn v1_round_trip() {
        let h = v1(Some(sa("1.2.3.4:1111")), Some(sa("5.6.7.8:2222")));
        assert_eq!(h, b"PROXY TCP4 1.2.3.4 5.6.7.8 1111 2222\r\n");
        let mut buf = h.clone();
        buf.extend_from_slice(b"hello");
        assert_eq!(parse(&buf), Ok(Received { len: h.len(), addrs: Some((sa("1.2.3.4:1111"), sa("5.6.7.8:2222"))) }));
        let h6 = v1(Some(sa("[::1]:1")), Some(sa("[2001:db8::1]:2")));
        assert_eq!(h6, b"PROXY TCP6 ::1 2001:db8::1 1 2\r\n");
        assert_eq!(parse(&h6).unwrap().addrs, Some((sa("[::1]:1"), sa("[2001:db8::1]:2"))));
        assert_eq!(v1(None, Some(sa("1.2.3.4:1"))), b"PROXY UNKNOWN\r\n");
        assert_eq!(parse(b"PROXY UNKNOWN\r\nxx"), Ok(Received { len: 15, addrs: None }));
    }

    #[test]
    fn v2_round_trip() {
        let h = v2(Some(sa("127.0.0.1:9252")), Some(sa("127.0.0.1:28003")), &[]);
        // Byte for byte what HAProxy 2.6 sends for this connection.
        let mut want = V2_SIG.to_vec();
        want.extend_from_slice(b"\x21\x11\x00\x0c\x7f\x00\x00\x01\x7f\x00\x00\x01\x24\x24\x6d\x63");
        assert_eq!(h, want);
        assert_eq!(parse(&h).unwrap().addrs, Some((sa("127.0.0.1:9252"), sa("127.0.0.1:28003"))));
        let h6 = v2(Some(sa("[::1]:1")), Some(sa("[2001:db8::1]:2")), &[(PP2_TYPE_UNIQUE_ID, b"abc")]);
        assert_eq!(h6.len(), 16 + 36 + 6);
        assert_eq!(parse(&h6).unwrap(), Received { len: 58, addrs: Some((sa("[::1]:1"), sa("[2001:db8::1]:2"))) });
        assert_eq!(parse(&v2_local()), Ok(Received { len: 16, addrs: None }));
        let mixed = v2(Some(sa("1.2.3.4:1")), Some(sa("[::1]:2")), &[]);
        assert_eq!(parse(&mixed).unwrap().addrs, Some((sa("[::ffff:1.2.3.4]:1"), sa("[::1]:2"))));
    }

    #[test]
    fn crc32c_check_value() {
        // The standard check value of CRC-32C.
        assert_eq!(crc32c(b"123456789"), 0xE306_9283);
        let h = v2_checksummed(Some(sa("1.2.3.4:1")), Some(sa("5.6.7.8:2")), &[]);
        assert_eq!(h.len(), 16 + 12 + 7);
        let mut zeroed = h.clone();
        zeroed[31..35].fill(0);
        assert_eq!(crc32c(&zeroed).to_be_bytes(), h[31..35]);
        assert_eq!(parse(&h).unwrap().len, h.len());
    }

    #[test]
    fn errors_as_haproxy_names_them() {
        assert_eq!(parse(b"P"), Err(Error::Truncated));
        assert_eq!(parse(b"PROXY TCP4 1.2.3.4"), Err(Error::Truncated));
        assert_eq!(parse(b"GET / HTTP/1.0\r\n\r\n"), Err(Error::NotHeader));
        assert_eq!(parse(b"PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n"), Err(Error::BadProto));
        assert_eq!(parse(b"PROXY TCP4 1.2.3.4 5.6.7.8 1 99999\r\n"), Err(Error::BadHeader));
        assert_eq!(parse(b"PROXY TCP4 ::1 5.6.7.8 1 2\r\n"), Err(Error::BadHeader));
        let mut long = b"PROXY TCP4 ".to_vec();
        long.extend(std::iter::repeat_n(b'1', 120));
        assert_eq!(parse(&long), Err(Error::BadHeader));
        let mut v3 = V2_SIG.to_vec();
        v3.extend_from_slice(b"\x31\x11\x00\x0c");
        assert_eq!(parse(&v3), Err(Error::NotHeader));
        let mut short = V2_SIG.to_vec();
        short.extend_from_slice(b"\x21\x11\x00\x0c\x01\x02");
        assert_eq!(parse(&short), Err(Error::Truncated));
        assert_eq!(parse(&V2_SIG[..5]), Err(Error::Truncated));
        assert!(!Error::Timeout.message().is_empty());
    }

    #[test]
    fn v2_tlvs_are_read_after_the_addresses() {
        let h = v2(Some(sa("1.2.3.4:1")), Some(sa("5.6.7.8:2")), &[(PP2_TYPE_AUTHORITY, b"example.org"), (PP2_TYPE_UNIQUE_ID, b"id-1")]);
        let tlvs: Vec<_> = v2_tlvs(&h).collect();
        assert_eq!(tlvs, vec![(PP2_TYPE_AUTHORITY, &b"example.org"[..]), (PP2_TYPE_UNIQUE_ID, &b"id-1"[..])]);
        assert_eq!(v2_tlvs(&v2_local()).count(), 0);
        assert_eq!(v2_tlvs(b"PROXY UNKNOWN\r\n").count(), 0);
        // A TLV longer than what is left ends the list.
        let mut cut = h.clone();
        cut.truncate(h.len() - 2);
        assert_eq!(v2_tlvs(&cut).count(), 1);
    }

    /// A NetScaler header: `magic`, the form's bytes, then the client's IP and TCP
    /// headers (`v6`: IPv6).
    fn cip(magic: u32, legacy: bool, v6: bool) -> Vec<u8> {
        let mut ip = Vec::new();
        if v6 {
            ip.extend_from_slice(&[0x60, 0, 0, 0, 0, 20, 6, 64]);
            ip.extend_from_slice(&"2001:db8::1".parse::<Ipv6Addr>().unwrap().octets());
            ip.extend_from_slice(&"2001:db8::2".parse::<Ipv6Addr>().unwrap().octets());
        } else {
            ip.extend_from_slice(&[0x45, 0, 0, 40, 0, 0, 0, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2]);
        }
        ip.extend_from_slice(&[0x30, 0x39, 0x00, 0x50]); // ports 12345 -> 80
        ip.extend_from_slice(&[0; 16]);
        let mut h = magic.to_be_bytes().to_vec();
        if legacy {
            h.extend_from_slice(&(ip.len() as u32).to_be_bytes());
        } else {
            h.extend_from_slice(&[0, 0, 0, 0]);
            h.extend_from_slice(&[0, 0]);
            h.extend_from_slice(&(ip.len() as u16).to_be_bytes());
        }
        h.extend_from_slice(&ip);
        h
    }

    #[test]
    fn netscaler_client_ip_headers() {
        for legacy in [true, false] {
            let h = cip(1234, legacy, false);
            let mut buf = h.clone();
            buf.extend_from_slice(b"GET /");
            let r = parse_netscaler_cip(&buf, 1234).unwrap();
            assert_eq!(r, Received { len: h.len(), addrs: Some((sa("10.0.0.1:12345"), sa("10.0.0.2:80"))) }, "legacy {legacy}");
            let r6 = parse_netscaler_cip(&cip(7, legacy, true), 7).unwrap();
            assert_eq!(r6.addrs, Some((sa("[2001:db8::1]:12345"), sa("[2001:db8::2]:80"))));
        }
        assert_eq!(parse_netscaler_cip(&cip(1234, false, false), 99), Err(Error::CipBadMagic));
        assert_eq!(parse_netscaler_cip(&cip(1234, false, false)[..30], 1234), Err(Error::CipTruncated));
        let mut udp = cip(1, true, false);
        udp[8 + 9] = 17;
        assert_eq!(parse_netscaler_cip(&udp, 1), Err(Error::CipBadProto));
        assert_eq!(Error::CipBadMagic.message(), "Received an invalid NetScaler Client IP magic number");
        assert_eq!(Error::Timeout.for_netscaler(), Error::CipTimeout);
    }
}
