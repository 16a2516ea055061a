//! `bind` settings about the listening socket and its scheduling: `mss`, `interface`,
//! `transparent`, `defer-accept`, `tfo`, `tcp-ut`, `id`, `nice`, `process`, `thread`,
//! and `accept-netscaler-cip` (the NetScaler Client IP header connections start with).
//! [`super::proxy::bind`] hands each setting here first.

use crate::config::model::BindTuning;

/// Applies `kw` (with `value`, the next word) if it is one of this module's settings:
/// `Ok(Some(n))` with the number of words used, `Ok(None)` if not ours. Errors are
/// the part after `'bind <addr>' in section '<name>' : `.
pub fn apply(t: &mut BindTuning, kw: &str, value: &str) -> Result<Option<usize>, String> {
    let need = || -> Result<&str, String> {
        if value.is_empty() {
            Err(format!("'{kw}' : missing value"))
        } else {
            Ok(value)
        }
    };
    match kw {
        "transparent" => t.transparent = true,
        "defer-accept" => t.defer_accept = true,
        "tfo" => t.tfo = true,
        "mss" => {
            let v = need()?;
            let n: i64 = v.parse().map_err(|_| format!("'{kw}' : invalid value '{v}'"))?;
            // HAProxy: a negative value asks for the path MTU minus it, which the
            // kernel does not offer on a listening socket; moonproxy takes it as the size.
            let n = n.unsigned_abs();
            if !(1..=65535).contains(&n) {
                return Err(format!("'{kw}' : invalid value '{v}'"));
            }
            t.mss = Some(n as u32);
            return Ok(Some(2));
        }
        "tcp-ut" => {
            t.tcp_ut = Some(parse_tcp_ut(value)?);
            return Ok(Some(2));
        }
        // The protocol of the connections: `h2` serves HTTP/2 from the first byte
        // (the frontend must be in `mode http`); `h1` is what a bind does anyway.
        "proto" => {
            match need()? {
                "h2" => t.proto_h2 = true,
                "h1" => t.proto_h2 = false,
                other => return Err(format!("'{kw}' :  unknown MUX protocol '{other}'")),
            }
            return Ok(Some(2));
        }
        "accept-netscaler-cip" => {
            t.netscaler_cip = Some(parse_netscaler_magic(need()?)?);
            return Ok(Some(2));
        }
        "interface" => {
            t.interface = Some(need()?.to_string());
            return Ok(Some(2));
        }
        "id" => {
            let v = need()?;
            let id: u32 = v.parse().map_err(|_| format!("'{kw}' : invalid value '{v}'"))?;
            if id == 0 {
                return Err("custom id 0 reserved for internal use.".into());
            }
            t.id = Some(id);
            return Ok(Some(2));
        }
        // Scheduling hints with no counterpart in a single-reactor-per-thread design:
        // checked and accepted.
        "nice" => {
            let v = need()?;
            let n: i32 = v.parse().map_err(|_| format!("'{kw}' : invalid value '{v}'"))?;
            if !(-1024..=1024).contains(&n) {
                return Err(format!("'{kw}' : values must be between -1024 and 1024 (got {n})"));
            }
            return Ok(Some(2));
        }
        "process" | "thread" => {
            need()?;
            return Ok(Some(2));
        }
        _ => return Ok(None),
    }
    Ok(Some(1))
}

/// The delay of `tcp-ut` (on `bind` and `server` lines): a time, in milliseconds by
/// default; 0 leaves the kernel's default. Errors as HAProxy words them (a `server`
/// line adds a final dot).
pub fn parse_tcp_ut(v: &str) -> Result<std::time::Duration, String> {
    use crate::config::units::{parse_time, time_error_message, UnitError};
    match parse_time(v) {
        Ok(d) => Ok(d),
        Err(UnitError::Empty) => Err("'tcp-ut' : missing TCP User Timeout value".into()),
        Err(e @ (UnitError::Overflow | UnitError::Underflow)) => Err(time_error_message(&e, v, "'tcp-ut'")),
        Err(UnitError::Unexpected(_)) => Err("'tcp-ut' : expects a positive delay in milliseconds".into()),
    }
}

/// The magic number of `accept-netscaler-cip`, read as HAProxy reads it: the leading
/// integer of the word (C's `atol`), kept as 32 bits (so `-1` is `0xffffffff`); 0,
/// what a word without digits gives, is refused.
fn parse_netscaler_magic(v: &str) -> Result<u32, String> {
    let (neg, rest) = match v.trim_start().as_bytes() {
        [b'-', r @ ..] => (true, r),
        [b'+', r @ ..] => (false, r),
        r => (false, r),
    };
    let n = rest.iter().take_while(|b| b.is_ascii_digit()).fold(0i64, |n, &b| n.wrapping_mul(10).wrapping_add(i64::from(b - b'0')));
    let magic = (if neg { n.wrapping_neg() } else { n }) as u32;
    if magic == 0 {
        return Err("'accept-netscaler-cip' : invalid value 0, must be >= 0".into());
    }
    Ok(magic)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings() {
        let mut t = BindTuning::default();
        assert_eq!(apply(&mut t, "mss", "1400"), Ok(Some(2)));
        assert_eq!(apply(&mut t, "interface", "lo"), Ok(Some(2)));
        assert_eq!(apply(&mut t, "transparent", ""), Ok(Some(1)));
        assert_eq!(apply(&mut t, "thread", "1-2"), Ok(Some(2)));
        assert_eq!((t.mss, t.interface.as_deref(), t.transparent), (Some(1400), Some("lo"), true));
        assert!(apply(&mut t, "mss", "x").is_err());
        assert!(apply(&mut t, "nice", "5000").is_err());
        assert!(apply(&mut t, "id", "0").is_err());
        assert_eq!(apply(&mut t, "name", "x"), Ok(None));
    }

    #[test]
    fn user_timeout_and_netscaler_magic_as_haproxy_reads_them() {
        let mut t = BindTuning::default();
        assert_eq!(apply(&mut t, "tcp-ut", "10s"), Ok(Some(2)));
        assert_eq!(t.tcp_ut, Some(std::time::Duration::from_secs(10)));
        assert_eq!(apply(&mut t, "tcp-ut", ""), Err("'tcp-ut' : missing TCP User Timeout value".into()));
        assert_eq!(apply(&mut t, "tcp-ut", "10x"), Err("'tcp-ut' : expects a positive delay in milliseconds".into()));
        assert!(apply(&mut t, "tcp-ut", "5000000000").unwrap_err().starts_with("timer overflow in argument '5000000000' to 'tcp-ut'"));
        assert_eq!(apply(&mut t, "accept-netscaler-cip", "1234"), Ok(Some(2)));
        assert_eq!(t.netscaler_cip, Some(1234));
        assert_eq!(parse_netscaler_magic("-1"), Ok(u32::MAX));
        assert_eq!(parse_netscaler_magic("12ab"), Ok(12));
        assert_eq!(parse_netscaler_magic("x"), Err("'accept-netscaler-cip' : invalid value 0, must be >= 0".into()));
        assert_eq!(apply(&mut t, "accept-netscaler-cip", ""), Err("'accept-netscaler-cip' : missing value".into()));
    }
}
