//! The RDP cookie: what a Remote Desktop client puts at the start of its first packet
//! (an X.224 connection request), read by the `rdp_cookie` fetches, `balance
//! rdp-cookie` and `persist rdp-cookie`.
//!
//! The packet starts with a 4-byte TPKT header and the 7 bytes of the X.224
//! connection request; the cookie line follows: `Cookie: <name>=<value>\r\n`
//! (`mstshash=<user>` from the client, `msts=<ip>.<port>.0000` when a broker
//! redirected it to a server). As in HAProxy, the name is compared without case,
//! spaces after `Cookie:` are skipped and the value runs to the CR, which must be
//! followed by LF.

use std::net::{Ipv4Addr, SocketAddrV4};

/// Where the cookie line starts: TPKT header (4) + X.224 connection request (7).
const COOKIE_AT: usize = 11;

/// What the first bytes of the client say about an RDP cookie.
#[derive(Debug, PartialEq, Eq)]
pub enum Cookie<'a> {
    /// The value of the cookie asked for (of the first cookie without a name).
    Found(&'a [u8]),
    /// The bytes cannot hold it (or another name): a final "no".
    Absent,
    /// Too few bytes to tell yet: more may bring the cookie.
    TooShort,
}

/// The RDP cookie `name` (any name when `None`) in `data`, the client's first bytes.
pub fn cookie<'a>(data: &'a [u8], name: Option<&[u8]>) -> Cookie<'a> {
    let Some(mut rest) = data.get(COOKIE_AT..).filter(|r| r.len() > 7) else { return Cookie::TooShort };
    if !rest[..7].eq_ignore_ascii_case(b"Cookie:") {
        return Cookie::Absent;
    }
    rest = &rest[7..];
    while let [b' ', tail @ ..] = rest {
        rest = tail;
    }
    match name {
        Some(name) => {
            if rest.len() <= name.len() {
                return Cookie::TooShort;
            }
            if rest[name.len()] != b'=' || !rest[..name.len()].eq_ignore_ascii_case(name) {
                return Cookie::Absent;
            }
            rest = &rest[name.len() + 1..];
        }
        None => match rest.iter().position(|&b| matches!(b, b'=' | b'\r' | b'\n')) {
            Some(i) if rest[i] == b'=' => rest = &rest[i + 1..],
            Some(_) => return Cookie::Absent,
            None => return Cookie::TooShort,
        },
    }
    match rest.iter().position(|&b| b == b'\r') {
        Some(end) if end + 1 < rest.len() => {
            if rest[end + 1] == b'\n' {
                Cookie::Found(&rest[..end])
            } else {
                Cookie::Absent
            }
        }
        _ => Cookie::TooShort,
    }
}

/// The server an `msts` cookie names: `<ip>.<port>.<reserved>`, where `ip` is the
/// decimal value of the four address bytes read as a little-endian integer and `port`
/// the decimal value of the two port bytes in network order read the same way
/// (`msts=3640205228.15629.0000` is 172.31.249.216:3389), Microsoft's encoding, which
/// HAProxy decodes as its x86 memory layout. `None` when the value has another shape.
pub fn msts_server(value: &[u8]) -> Option<SocketAddrV4> {
    let text = std::str::from_utf8(value).ok()?;
    let mut parts = text.splitn(3, '.');
    let ip: u32 = parse_ul(parts.next()?)?;
    let port: u16 = parse_ul(parts.next()?)?;
    parts.next()?; // the reserved field must be there, whatever it holds
    Some(SocketAddrV4::new(Ipv4Addr::from(ip.to_le_bytes()), u16::from_be_bytes(port.to_le_bytes())))
}

/// A decimal field as `strtoul` reads it here: digits only, truncated to the type.
fn parse_ul<T: TryFrom<u64>>(s: &str) -> Option<T> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let v = s.bytes().try_fold(0u64, |acc, b| acc.checked_mul(10)?.checked_add(u64::from(b - b'0')))?;
    T::try_from(v).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A connection request as mstsc sends it: TPKT, X.224, then the cookie line.
    fn packet(line: &[u8]) -> Vec<u8> {
        let mut p = vec![0x03, 0x00, 0x00, 0x00, 0x00, 0xe0, 0x00, 0x00, 0x00, 0x00, 0x00];
        p.extend_from_slice(line);
        p
    }

    #[test]
    fn finds_the_cookie_by_name_or_the_first_one() {
        let p = packet(b"Cookie: mstshash=alice\r\n\x01\x00\x08\x00");
        assert_eq!(cookie(&p, Some(b"mstshash")), Cookie::Found(b"alice"));
        assert_eq!(cookie(&p, Some(b"MSTSHASH")), Cookie::Found(b"alice"));
        assert_eq!(cookie(&p, None), Cookie::Found(b"alice"));
        assert_eq!(cookie(&p, Some(b"msts")), Cookie::Absent);
        assert_eq!(cookie(&packet(b"cookie:   msts=1.2.0\r\n"), Some(b"msts")), Cookie::Found(b"1.2.0"));
    }

    #[test]
    fn waits_for_a_cut_line_and_refuses_other_bytes() {
        let p = packet(b"Cookie: mstshash=alice\r\n");
        for cut in 0..p.len() - 1 {
            assert_eq!(cookie(&p[..cut], Some(b"mstshash")), Cookie::TooShort, "{cut}");
        }
        assert_eq!(cookie(&packet(b"Hello: mstshash=alice\r\n"), None), Cookie::Absent);
        assert_eq!(cookie(&packet(b"Cookie: mstshash=alice\rX"), None), Cookie::Absent);
        assert_eq!(cookie(&packet(b"Cookie: nothing\r\n"), None), Cookie::Absent);
    }

    #[test]
    fn decodes_an_msts_server() {
        assert_eq!(msts_server(b"3640205228.15629.0000"), Some("172.31.249.216:3389".parse().unwrap()));
        // 127.0.0.1:8080 as a broker writes it.
        let ip = u32::from_le_bytes([127, 0, 0, 1]);
        let port = u16::from_le_bytes(8080u16.to_be_bytes());
        assert_eq!(msts_server(format!("{ip}.{port}.0000").as_bytes()), Some("127.0.0.1:8080".parse().unwrap()));
        assert_eq!(msts_server(b"16777343.36895"), None);
        assert_eq!(msts_server(b"x.1.0"), None);
        assert_eq!(msts_server(b"99999999999.1.0"), None);
    }
}
