//! `set-mark` and `set-tos` (`http-request`, `http-response`, `tcp-request
//! connection|content`, `tcp-response content`): a socket option on the client
//! connection (`SO_MARK`, `IP_TOS`/`IPV6_TCLASS`, see `crate::sys::sockopt`), for the
//! packets the proxy sends the client from then on. And the value reading of `set-nice`,
//! which moonproxy accepts without effect (it has no task priorities).

/// Which option an action sets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SockOpt {
    Mark(u32),
    Tos(u32),
}

impl SockOpt {
    /// Parses `set-mark <value>` / `set-tos <value>` (`keyword` is one of them) with HAProxy
    /// 2.6's messages. Extra words are `unexpected keyword 'x'` (the callers word that as
    /// their list does).
    pub fn parse(keyword: &str, args: &[String]) -> Result<SockOpt, String> {
        let Some(text) = args.first().filter(|a| !a.is_empty()) else {
            return Err("expects exactly 1 argument (integer/hex value)".into());
        };
        let (value, rest) = strtoul(text);
        if !rest.is_empty() {
            return Err(format!("invalid character starting at '{rest}' (integer/hex value expected)"));
        }
        if let Some(x) = args.get(1) {
            return Err(format!("unexpected keyword '{x}'"));
        }
        // HAProxy keeps an `unsigned int`: the low 32 bits of what `strtoul` read.
        let value = value as u32;
        Ok(if keyword == "set-mark" { SockOpt::Mark(value) } else { SockOpt::Tos(value) })
    }

    /// Sets the option on the client socket `fd`. Failures are ignored, as in HAProxy
    /// (without CAP_NET_ADMIN the kernel refuses a mark; a UNIX socket has no TOS).
    pub fn apply(self, fd: Option<std::os::fd::RawFd>) {
        let Some(fd) = fd else { return };
        let _ = match self {
            SockOpt::Mark(m) => crate::sys::sockopt::set_mark(fd, m),
            SockOpt::Tos(t) => crate::sys::sockopt::set_tos(fd, t),
        };
    }
}

/// C's `strtoul(s, &end, 0)`: blanks, a sign, then a hexadecimal (`0x`), octal (`0`) or
/// decimal number, saturating on overflow; a minus negates modulo 2^64. Returns the value
/// and what follows the number (all of `s` when it holds none).
fn strtoul(s: &str) -> (u64, &str) {
    let t = s.trim_start_matches([' ', '\t', '\n', '\r', '\x0b', '\x0c']);
    let (neg, t) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let hex = t.len() > 2 && (t.starts_with("0x") || t.starts_with("0X")) && t.as_bytes()[2].is_ascii_hexdigit();
    let (radix, digits) = if hex {
        (16, &t[2..])
    } else if t.starts_with('0') {
        (8, t)
    } else {
        (10, t)
    };
    let len = digits.bytes().take_while(|b| (*b as char).is_digit(radix)).count();
    if len == 0 {
        return (0, s);
    }
    let value = digits[..len].bytes().fold(0u64, |acc, b| {
        let d = u64::from((b as char).to_digit(radix).unwrap_or(0));
        acc.checked_mul(u64::from(radix)).and_then(|v| v.checked_add(d)).unwrap_or(u64::MAX)
    });
    let value = if neg { value.wrapping_neg() } else { value };
    (value, &digits[len..])
}

/// `set-nice <n>`: C's `atoi` (the leading integer, 0 without one), bounded to
/// HAProxy's -1024..1024. Only a missing argument is an error.
pub fn parse_nice(args: &[String]) -> Result<i32, String> {
    let Some(text) = args.first().filter(|a| !a.is_empty()) else {
        return Err("expects exactly 1 argument (integer value)".into());
    };
    if let Some(x) = args.get(1) {
        return Err(format!("unexpected keyword '{x}'"));
    }
    let t = text.trim_start();
    let (neg, t) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let n = t.bytes().take_while(u8::is_ascii_digit).fold(0i64, |acc, b| (acc * 10 + i64::from(b - b'0')).min(1 << 20));
    Ok((if neg { -n } else { n }).clamp(-1024, 1024) as i32)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(s: &[&str]) -> Vec<String> {
        s.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn values_read_as_strtoul() {
        assert_eq!(SockOpt::parse("set-mark", &w(&["0x42"])), Ok(SockOpt::Mark(0x42)));
        assert_eq!(SockOpt::parse("set-tos", &w(&["010"])), Ok(SockOpt::Tos(8)));
        assert_eq!(SockOpt::parse("set-mark", &w(&["-1"])), Ok(SockOpt::Mark(u32::MAX)));
        assert_eq!(SockOpt::parse("set-mark", &w(&["0xfffffffff"])), Ok(SockOpt::Mark(u32::MAX)));
        assert_eq!(SockOpt::parse("set-mark", &w(&["12z"])).unwrap_err(), "invalid character starting at 'z' (integer/hex value expected)");
        assert_eq!(SockOpt::parse("set-tos", &w(&["zz"])).unwrap_err(), "invalid character starting at 'zz' (integer/hex value expected)");
        assert_eq!(SockOpt::parse("set-tos", &w(&["0x"])).unwrap_err(), "invalid character starting at 'x' (integer/hex value expected)");
        assert_eq!(SockOpt::parse("set-tos", &[]).unwrap_err(), "expects exactly 1 argument (integer/hex value)");
        assert_eq!(SockOpt::parse("set-tos", &w(&["1", "x"])).unwrap_err(), "unexpected keyword 'x'");
    }

    #[test]
    fn nice_reads_as_atoi_within_bounds() {
        assert_eq!(parse_nice(&w(&["x"])), Ok(0));
        assert_eq!(parse_nice(&w(&["-5000"])), Ok(-1024));
        assert_eq!(parse_nice(&w(&["12ab"])), Ok(12));
        assert_eq!(parse_nice(&[]).unwrap_err(), "expects exactly 1 argument (integer value)");
    }
}
