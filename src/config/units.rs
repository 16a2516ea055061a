//! Time and size values as HAProxy reads them.
//!
//! Times: an unsigned integer followed by an optional unit `us`, `ms`, `s`, `m`,
//! `h` or `d`; no unit means milliseconds. The result must fit HAProxy's timer range
//! (2147483647 ms, about 24.8 days), and a non-zero value may not round down to 0 ms.
//!
//! Sizes: an unsigned integer followed by an optional `k`, `m` or `g` (either case,
//! powers of 1024); the result must fit 32 bits.

use std::fmt;
use std::time::Duration;

/// The largest timer HAProxy accepts, in milliseconds.
pub const MAX_TIMER_MS: u64 = i32::MAX as u64;

/// Why a time or size value was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UnitError {
    /// The value is empty.
    Empty,
    /// A character that is neither a digit nor a known unit.
    Unexpected(char),
    /// Larger than [`MAX_TIMER_MS`] (times) or `u32::MAX` (sizes).
    Overflow,
    /// A non-zero time shorter than 1 ms.
    Underflow,
}

thread_local! {
    /// Warnings of [`parse_time`] for characters after a valid unit, which HAProxy 2.6
    /// accepts with a warning; the configuration parser says them after the line.
    static TRAILING: std::cell::RefCell<Vec<String>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// The warnings [`parse_time`] recorded since the last call (see `TRAILING`).
pub fn take_time_warnings() -> Vec<String> {
    TRAILING.with(|t| std::mem::take(&mut *t.borrow_mut()))
}

/// Parses a time; no unit means milliseconds. Characters after a valid unit (`15min`,
/// `1s[`, `30sec`) are ignored with HAProxy 2.6's warning ([`take_time_warnings`]);
/// a number followed by no unit at all (`5x`) is refused.
pub fn parse_time(s: &str) -> Result<Duration, UnitError> {
    let digits = s.bytes().take_while(u8::is_ascii_digit).count();
    if s.is_empty() {
        return Err(UnitError::Empty);
    }
    if digits == 0 {
        return Err(UnitError::Unexpected(s.chars().next().unwrap_or(' ')));
    }
    let value: u64 = s[..digits].parse().map_err(|_| UnitError::Overflow)?;
    let unit = &s[digits..];
    // (numerator, denominator) to milliseconds
    let (mul, div): (u64, u64) = match unit {
        "" | "ms" => (1, 1),
        "us" => (1, 1000),
        "s" => (1000, 1),
        "m" => (60_000, 1),
        "h" => (3_600_000, 1),
        "d" => (86_400_000, 1),
        _ => {
            let Some(valid) = ["ms", "us", "s", "m", "h", "d"].into_iter().find(|u| unit.starts_with(*u)) else {
                return Err(UnitError::Unexpected(unit.chars().next().unwrap_or(' ')));
            };
            let bad = unit[valid.len()..].chars().next().unwrap_or(' ');
            // Bounded: run-time callers (the CLI) never drain it.
            TRAILING.with(|t| {
                let mut t = t.borrow_mut();
                if t.len() >= 16 {
                    return;
                }
                t.push(format!(
                    "unexpected character '{bad}' after the timer value '{s}', only (us=microseconds,ms=milliseconds,s=seconds,m=minutes,h=hours,d=days) are supported. This will be reported as an error in next versions."
                ))
            });
            return parse_time(&s[..digits + valid.len()]);
        }
    };
    let ms = value.checked_mul(mul).ok_or(UnitError::Overflow)? / div;
    if ms > MAX_TIMER_MS {
        return Err(UnitError::Overflow);
    }
    if ms == 0 && value != 0 {
        return Err(UnitError::Underflow);
    }
    Ok(Duration::from_millis(ms))
}

/// Parses a size in bytes with an optional `k`/`m`/`g` suffix.
pub fn parse_size(s: &str) -> Result<u64, UnitError> {
    if s.is_empty() {
        return Err(UnitError::Empty);
    }
    let digits = s.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return Err(UnitError::Unexpected(s.chars().next().unwrap_or(' ')));
    }
    let value: u64 = s[..digits].parse().map_err(|_| UnitError::Overflow)?;
    let rest = &s[digits..];
    let mut chars = rest.chars();
    let mul: u64 = match chars.next() {
        None => 1,
        Some('k' | 'K') => 1 << 10,
        Some('m' | 'M') => 1 << 20,
        Some('g' | 'G') => 1 << 30,
        Some(c) => return Err(UnitError::Unexpected(c)),
    };
    if let Some(c) = chars.next() {
        return Err(UnitError::Unexpected(c));
    }
    let v = value.checked_mul(mul).ok_or(UnitError::Overflow)?;
    if v > u64::from(u32::MAX) {
        return Err(UnitError::Overflow);
    }
    Ok(v)
}

/// Parses an unsigned decimal integer (no unit, no sign).
pub fn parse_uint(s: &str) -> Result<u64, UnitError> {
    if s.is_empty() {
        return Err(UnitError::Empty);
    }
    if let Some(c) = s.chars().find(|c| !c.is_ascii_digit()) {
        return Err(UnitError::Unexpected(c));
    }
    s.parse().map_err(|_| UnitError::Overflow)
}

/// HAProxy's wording for a time error in `what` (e.g. `'timeout client'`).
pub fn time_error_message(err: &UnitError, arg: &str, what: &str) -> String {
    match err {
        UnitError::Empty => format!("{what} expects an integer value (in milliseconds)"),
        UnitError::Unexpected(c) => format!("unexpected character '{c}' in {what}"),
        UnitError::Overflow => format!(
            "timer overflow in argument '{arg}' to {what} (maximum value is 2147483647 ms or ~24.8 days)"
        ),
        UnitError::Underflow => {
            format!("timer underflow in argument '{arg}' to {what} (minimum non-null value is 1 ms)")
        }
    }
}

/// Wording for a size error in `what`.
pub fn size_error_message(err: &UnitError, arg: &str, what: &str) -> String {
    match err {
        UnitError::Empty => format!("{what} expects a size value"),
        UnitError::Unexpected(c) => {
            format!("unexpected character '{c}' in size argument '{arg}' to {what}")
        }
        UnitError::Overflow | UnitError::Underflow => {
            format!("size overflow in argument '{arg}' to {what} (maximum value is 4294967295)")
        }
    }
}

impl fmt::Display for UnitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UnitError::Empty => f.write_str("missing value"),
            UnitError::Unexpected(c) => write!(f, "unexpected character '{c}'"),
            UnitError::Overflow => f.write_str("value too large"),
            UnitError::Underflow => f.write_str("value too small"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times() {
        assert_eq!(parse_time("1500"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_time("10ms"), Ok(Duration::from_millis(10)));
        assert_eq!(parse_time("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_time("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_time("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_time("1d"), Ok(Duration::from_secs(86400)));
        assert_eq!(parse_time("2000us"), Ok(Duration::from_millis(2)));
        assert_eq!(parse_time("0"), Ok(Duration::ZERO));
        assert_eq!(parse_time("24d"), Ok(Duration::from_secs(24 * 86400)));
    }

    #[test]
    fn time_errors() {
        assert_eq!(parse_time("5x"), Err(UnitError::Unexpected('x')));
        // After a valid unit, HAProxy 2.6 only warns.
        take_time_warnings();
        assert_eq!(parse_time("5sx"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_time("15min"), Ok(Duration::from_secs(900)));
        assert_eq!(parse_time("10mss"), Ok(Duration::from_millis(10)));
        let w = take_time_warnings();
        assert_eq!(w.len(), 3);
        assert!(w[1].starts_with("unexpected character 'i' after the timer value '15min', only (us=microseconds"), "{}", w[1]);
        assert_eq!(parse_time("5["), Err(UnitError::Unexpected('[')));
        assert_eq!(parse_time("abc"), Err(UnitError::Unexpected('a')));
        assert_eq!(parse_time(""), Err(UnitError::Empty));
        assert_eq!(parse_time("25d"), Err(UnitError::Overflow));
        assert_eq!(parse_time("99999999999"), Err(UnitError::Overflow));
        assert_eq!(
            parse_time("99999999999999999999999"),
            Err(UnitError::Overflow)
        );
        assert_eq!(parse_time("1us"), Err(UnitError::Underflow));
        assert_eq!(
            time_error_message(&UnitError::Overflow, "5000000d", "'timeout connect'"),
            "timer overflow in argument '5000000d' to 'timeout connect' (maximum value is 2147483647 ms or ~24.8 days)"
        );
        assert_eq!(
            time_error_message(&UnitError::Unexpected('x'), "5x", "'timeout client'"),
            "unexpected character 'x' in 'timeout client'"
        );
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("16384"), Ok(16384));
        assert_eq!(parse_size("16k"), Ok(16384));
        assert_eq!(parse_size("1M"), Ok(1 << 20));
        assert_eq!(parse_size("2g"), Ok(2 << 30));
        assert_eq!(parse_size("4g"), Err(UnitError::Overflow));
        assert_eq!(parse_size("10x"), Err(UnitError::Unexpected('x')));
        assert_eq!(parse_size("10kb"), Err(UnitError::Unexpected('b')));
        assert_eq!(parse_size("k"), Err(UnitError::Unexpected('k')));
        assert_eq!(parse_uint("12a"), Err(UnitError::Unexpected('a')));
    }
}
