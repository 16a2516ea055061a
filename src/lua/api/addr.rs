//! Network addresses of the `core` table: `core.parse_addr`, `core.match_addr`.
//!
//! HAProxy 2.6 semantics (checked against `haproxy -c` running a `lua-load` body):
//!
//! * `core.parse_addr(str)` parses an IPv4 or IPv6 address with an optional mask and returns an
//!   opaque userdata, or `nil` when the text is not an address. IPv4 masks are a length
//!   (`/0` to `/32`) or a dotted mask (`/255.0.0.0`, even a non-contiguous one such as
//!   `/255.0.255.0`); IPv6 masks are a length (`/0` to `/128`). The length may have leading
//!   blanks, a `+` sign and leading zeros (`/ 8`, `/+8`, `/08`), nothing after it. Without a
//!   mask the network is the host (`/32`, `/128`). The address is kept as written (it is not
//!   masked: `10.1.2.3/8` stays `10.1.2.3` with mask `255.0.0.0`). Refused: blanks around the
//!   address, ports, brackets, zone ids (`fe80::1%eth0`), `ipv4@` prefixes, masks out of range,
//!   IPv6 dotted masks, an empty mask (`1.2.3.4/`). A number argument is read as its string; any
//!   other type is `bad argument #1 to 'parse_addr' (string expected, got nil)`.
//! * `core.match_addr(a, b)` is true when both are networks of the same family and
//!   `a.ip & b.mask == b.ip & a.mask`. For networks written in their canonical form this means
//!   "they overlap"; since addresses are not masked at parse time, `10.1.0.0/16` and
//!   `10.1.0.0/8` do not match (`10.1.0.0 & /8 != 10.0.0.0 & /16`), exactly as in HAProxy. An
//!   IPv4 address never matches an IPv6 one (not even `::ffff:1.2.3.4`). Any argument that is
//!   not a parsed address (`nil`, a string, another object) gives `false`, not an error.
//!
//! Deviations:
//!
//! * HAProxy resolves what is not a numeric address with the system resolver (`getaddrinfo`),
//!   so `localhost`, a host name, the shorthand `1.2.3` or `1234`, and octal `01.2.3.4` parse
//!   there. A DNS lookup would block the process (forbidden at run time), so moonproxy accepts
//!   numeric addresses only, in their standard forms (dotted quad; RFC 4291 text for IPv6,
//!   including `::ffff:1.2.3.4`), and returns `nil` for the rest.
//! * The string is read whole: a NUL byte makes it invalid (HAProxy reads up to the NUL).
//! * The userdata has the class `Addr`: `tostring` gives `userdata: 0x...` as in HAProxy,
//!   and `getmetatable` gives `false` (HAProxy: `nil`).
use crate::lua::callback::{CallCtx, RustFunction};
use crate::lua::error::LuaError;
use crate::lua::userdata::Class;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::os::raw::c_int;

/// A network: an address and its mask, as `core.parse_addr` returns it. The address is kept
/// as written, not masked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Network {
    V4 { ip: Ipv4Addr, mask: Ipv4Addr },
    V6 { ip: Ipv6Addr, mask: Ipv6Addr },
}

impl Network {
    /// Parses `address[/mask]` as HAProxy's `core.parse_addr` does (numeric forms only).
    pub fn parse(text: &[u8]) -> Option<Network> {
        let text = std::str::from_utf8(text).ok()?;
        let (address, mask) = match text.split_once('/') {
            Some((address, mask)) => (address, Some(mask)),
            None => (text, None),
        };
        if let Ok(ip) = address.parse::<Ipv4Addr>() {
            let mask = match mask {
                None => Ipv4Addr::BROADCAST,
                Some(m) => match m.parse::<Ipv4Addr>() {
                    Ok(dotted) => dotted,
                    Err(_) => prefix_mask_v4(mask_length(m, 32)?),
                },
            };
            return Some(Network::V4 { ip, mask });
        }
        let ip = address.parse::<Ipv6Addr>().ok()?;
        let mask = match mask {
            None => Ipv6Addr::from(u128::MAX),
            Some(m) => prefix_mask_v6(mask_length(m, 128)?),
        };
        Some(Network::V6 { ip, mask })
    }

    /// HAProxy's `core.match_addr` test: same family and `a.ip & b.mask == b.ip & a.mask`.
    pub fn matches(&self, other: &Network) -> bool {
        match (*self, *other) {
            (Network::V4 { ip: a, mask: ma }, Network::V4 { ip: b, mask: mb }) => a & mb == b & ma,
            (Network::V6 { ip: a, mask: ma }, Network::V6 { ip: b, mask: mb }) => {
                u128::from(a) & u128::from(mb) == u128::from(b) & u128::from(ma)
            }
            _ => false,
        }
    }
}

/// A mask length as HAProxy reads it (`strtol` then a check that nothing follows): leading
/// blanks, an optional `+`, at least one digit, at most `max`.
fn mask_length(text: &str, max: u32) -> Option<u32> {
    let digits = text.trim_start_matches([' ', '\t', '\n', '\r', '\x0b', '\x0c']);
    let digits = digits.strip_prefix('+').unwrap_or(digits);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // Leading zeros are fine; many of them must not overflow the parse.
    let significant = digits.trim_start_matches('0');
    if significant.len() > 3 {
        return None;
    }
    let n = if significant.is_empty() {
        0
    } else {
        significant.parse::<u32>().ok()?
    };
    (n <= max).then_some(n)
}

fn prefix_mask_v4(len: u32) -> Ipv4Addr {
    Ipv4Addr::from(u32::MAX.checked_shl(32 - len).unwrap_or(0))
}

fn prefix_mask_v6(len: u32) -> Ipv6Addr {
    Ipv6Addr::from(u128::MAX.checked_shl(128 - len).unwrap_or(0))
}

/// The class of the userdata `core.parse_addr` returns. It has no methods.
pub static ADDR: Class<Network> =
    Class::new("Addr", &[]).printed_as(crate::lua::userdata::Printed::Userdata);

static PARSE_ADDR: RustFunction = RustFunction::new("parse_addr", parse_addr);
static MATCH_ADDR: RustFunction = RustFunction::new("match_addr", match_addr);

static CORE_FUNCTIONS: [(&str, &RustFunction); 2] =
    [("parse_addr", &PARSE_ADDR), ("match_addr", &MATCH_ADDR)];

/// The `core` functions of this module, by name without the `core.` prefix.
pub fn core_functions() -> &'static [(&'static str, &'static RustFunction)] {
    &CORE_FUNCTIONS
}

/// `core.parse_addr(str)`: an `Addr` userdata, or `nil`.
fn parse_addr(ctx: &mut CallCtx) -> Result<c_int, LuaError> {
    let text = ctx.check_lstring(1)?;
    match Network::parse(&text) {
        Some(network) => ctx.push_userdata(&ADDR, network)?,
        None => ctx.push_nil()?,
    }
    Ok(1)
}

/// `core.match_addr(a, b)`: a boolean; `false` when either is not an `Addr`.
fn match_addr(ctx: &mut CallCtx) -> Result<c_int, LuaError> {
    let matched = match (ctx.userdata(1, &ADDR), ctx.userdata(2, &ADDR)) {
        (Ok(a), Ok(b)) => a.matches(b),
        _ => false,
    };
    ctx.push_boolean(matched)?;
    Ok(1)
}

#[cfg(test)]
mod tests {
    use super::Network;
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn v4(ip: u32, mask: u32) -> Option<Network> {
        Some(Network::V4 {
            ip: Ipv4Addr::from(ip),
            mask: Ipv4Addr::from(mask),
        })
    }

    fn v6(ip: u128, mask: u128) -> Option<Network> {
        Some(Network::V6 {
            ip: Ipv6Addr::from(ip),
            mask: Ipv6Addr::from(mask),
        })
    }

    fn net(s: &str) -> Option<Network> {
        Network::parse(s.as_bytes())
    }

    fn matches(a: &str, b: &str) -> bool {
        net(a).unwrap().matches(&net(b).unwrap())
    }

    #[test]
    fn parses_ipv4_with_masks() {
        assert_eq!(net("192.168.1.1"), v4(0xc0a8_0101, !0));
        assert_eq!(
            net("10.1.2.3/8"),
            v4(0x0a01_0203, 0xff00_0000),
            "the address is not masked"
        );
        assert_eq!(net("1.2.3.4/0"), v4(0x0102_0304, 0));
        assert_eq!(net("10.0.0.0/255.0.255.0"), v4(0x0a00_0000, 0xff00_ff00));
        for ok in [
            "1.2.3.4/ 8",
            "1.2.3.4/+8",
            "1.2.3.4/08",
            "1.2.3.4/32",
            "1.2.3.4/0.0.0.0",
        ] {
            assert!(net(ok).is_some(), "{ok}");
        }
        for bad in [
            "",
            "bogus",
            "256.1.1.1",
            " 1.2.3.4",
            "1.2.3.4 ",
            "1.2.3.4/",
            "1.2.3.4/33",
            "1.2.3.4/-1",
            "1.2.3.4/8x",
            "1.2.3.4/24/8",
            "1.2.3.4:80",
            "1.2.3.4/4294967295",
            "ipv4@1.2.3.4",
            "*",
            "1.2.3.4\0junk",
        ] {
            assert_eq!(net(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn parses_ipv6_with_lengths() {
        assert_eq!(net("::1"), v6(1, !0));
        assert_eq!(net("2001:db8::/32"), v6(0x2001_0db8 << 96, !0 << 96));
        assert_eq!(net("::/0"), v6(0, 0));
        assert!(matches!(net("::ffff:1.2.3.4"), Some(Network::V6 { .. })));
        assert!(net("::1/ 64").is_some());
        for bad in [
            "::1/129",
            "::1/64x",
            "::1/-1",
            "2001:db8::1/ffff::",
            "[::1]",
            "fe80::1%eth0",
        ] {
            assert_eq!(net(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn matching_follows_haproxy_formula() {
        // Verified against HAProxy 2.6.
        assert!(matches("192.168.1.1", "192.168.1.0/24"));
        assert!(matches("192.168.1.0/24", "192.168.1.1"));
        assert!(!matches("192.168.2.1", "192.168.1.0/24"));
        assert!(matches("192.168.0.0/16", "192.168.1.0/24"));
        assert!(matches("0.0.0.0/0", "1.2.3.4"));
        assert!(!matches("1.2.3.4", "1.2.3.4/0"));
        assert!(!matches("10.1.0.0/16", "10.1.0.0/8"));
        assert!(matches("10.0.0.0/255.0.255.0", "10.1.0.1"));
        assert!(!matches("10.0.0.0/255.0.255.0", "10.1.1.1"));
        assert!(matches("2001:db8::/32", "2001:db8:1::5"));
        assert!(!matches("2001:db8::/32", "2001:db9::5"));
        assert!(!matches("2001:db8::/32", "2001:db8::/16"));
        assert!(matches("2001:db8::4/127", "2001:db8::5"));
        assert!(!matches("2001:db8::5/127", "2001:db8::4"));
        assert!(matches("2001:db8::/33", "2001:db8:7fff::"));
        assert!(!matches("2001:db8::/33", "2001:db8:8000::"));
        assert!(!matches("1.2.3.4", "::ffff:1.2.3.4"));
        assert!(!matches("::/0", "1.2.3.4"));
    }
}
