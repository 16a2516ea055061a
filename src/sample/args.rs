//! Keyword arguments: splitting `name(a,b,c)` the way HAProxy does (quotes, a few
//! backslash escapes, the maximum count) and typing each argument.

use super::regex::Regex;
use super::vars::VarName;
use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

/// The declared type of one argument.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArgType {
    Int,
    Str,
    /// `proc.x`, `sess.x`, `txn.x`, `req.x`, `res.x`.
    Var,
    /// An IPv4 netmask: a prefix length or a dotted mask.
    Mask4,
    /// An IPv6 prefix length.
    Mask6,
    Ipv4,
    Ipv6,
    Regex,
    /// A duration (`10s`, `5m`, milliseconds by default).
    Time,
    /// A size (`4k`, `1m`).
    Size,
    /// A backend name.
    Backend,
    /// A dotted path of protocol buffers field numbers (`1.2.3`): `protobuf`, `ungrpc`.
    PbufFieldNumber,
}

impl ArgType {
    /// HAProxy's name for the type in error messages.
    pub fn name(self) -> &'static str {
        match self {
            ArgType::Int => "integer",
            ArgType::Str => "string",
            ArgType::Var => "variable",
            ArgType::Mask4 => "IPv4 mask",
            ArgType::Mask6 => "IPv6 mask",
            ArgType::Ipv4 => "IPv4 address",
            ArgType::Ipv6 => "IPv6 address",
            ArgType::Regex => "regex",
            ArgType::Time => "delay",
            ArgType::Size => "size",
            ArgType::Backend => "backend",
            ArgType::PbufFieldNumber => "Protocol buffers field number",
        }
    }
}

/// A keyword's argument list: the types in order, the first `mandatory` required.
#[derive(Clone, Copy, Debug)]
pub struct ArgSpec {
    pub types: &'static [ArgType],
    pub mandatory: usize,
}

impl ArgSpec {
    pub const NONE: ArgSpec = ArgSpec {
        types: &[],
        mandatory: 0,
    };

    pub fn max(&self) -> usize {
        self.types.len()
    }
}

/// A typed argument value.
#[derive(Clone, Debug)]
pub enum Arg {
    Int(i64),
    Str(String),
    Var(VarName),
    Ipv4(Ipv4Addr),
    Ipv6(Ipv6Addr),
    /// Prefix length.
    Mask(u8),
    Regex(Regex),
    /// Milliseconds.
    Time(u64),
    Size(u64),
    /// A map file loaded at compile time (`map*` converters).
    Map(std::sync::Arc<super::map::MapFile>),
    /// State a converter's check compiled for its run (`map_regm`'s regexes, `aes_gcm_dec`'s
    /// key), which only that converter knows how to read.
    Data(std::sync::Arc<dyn std::any::Any + Send + Sync>),
}

impl Arg {
    pub fn int(&self) -> Option<i64> {
        match self {
            Arg::Int(i) => Some(*i),
            _ => None,
        }
    }

    pub fn str(&self) -> Option<&str> {
        match self {
            Arg::Str(s) => Some(s),
            _ => None,
        }
    }
}

/// An argument error: which argument (1-based) and HAProxy's wording.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArgError {
    pub arg: usize,
    pub msg: String,
}

impl fmt::Display for ArgError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.msg)
    }
}

/// Splits the arguments starting at `start` (just after the `(`) into raw strings and
/// returns them with the position after the closing `)`.
///
/// An argument ends at `,` or `)` outside quotes. Single and double quotes group (and
/// are removed); outside single quotes a backslash protects a following `\`, `'`, `"`
/// or space, and is kept before anything else. At most `max` arguments are taken.
pub fn split(text: &str, start: usize, max: usize) -> Result<(Vec<String>, usize), ArgError> {
    let b = text.as_bytes();
    let mut pos = start;
    let mut out: Vec<String> = Vec::new();
    if max == 0 {
        // `lower()` is fine, `lower(x)` is not.
        return match b.get(pos) {
            Some(b')') => Ok((out, pos + 1)),
            _ => Err(before(text, pos, 1)),
        };
    }
    // From here `()` is one empty argument, which only a string may be.
    loop {
        if out.len() == max {
            return Err(before(text, pos, out.len() + 1));
        }
        let mut arg = Vec::new();
        let (mut sq, mut dq) = (false, false);
        while pos < b.len() {
            let c = b[pos];
            if !sq && !dq && (c == b',' || c == b')') {
                break;
            }
            match c {
                b'\\'
                    if !sq
                        && pos + 1 < b.len()
                        && matches!(b[pos + 1], b'\\' | b'\'' | b'"' | b' ') =>
                {
                    arg.push(b[pos + 1]);
                    pos += 2;
                    continue;
                }
                b'\'' if !dq => sq = !sq,
                b'"' if !sq => dq = !dq,
                _ => arg.push(c),
            }
            pos += 1;
        }
        out.push(String::from_utf8_lossy(&arg).into_owned());
        match b.get(pos) {
            None => {
                return Err(ArgError {
                    arg: out.len(),
                    msg: "expected ')'".into(),
                })
            }
            Some(b')') => return Ok((out, pos + 1)),
            _ => {
                if out.len() == max {
                    return Err(before(text, pos, out.len() + 1));
                }
                pos += 1;
            }
        }
    }
}

fn before(text: &str, pos: usize, arg: usize) -> ArgError {
    if pos >= text.len() {
        return ArgError {
            arg,
            msg: "expected ')'".into(),
        };
    }
    ArgError {
        arg,
        msg: format!("expected ')' before '{}'", &text[pos..]),
    }
}

/// Types the raw arguments against `spec`.
pub fn type_args(raw: &[String], spec: ArgSpec) -> Result<Vec<Arg>, ArgError> {
    // The count is checked before any value (HAProxy resolves regexes last).
    if raw.len() < spec.mandatory {
        let n = raw.len() + 1;
        return Err(ArgError {
            arg: n,
            msg: format!(
                "missing arguments (got {}/{}), type '{}' expected",
                raw.len(),
                spec.mandatory,
                spec.types[raw.len()].name()
            ),
        });
    }
    let mut out = Vec::with_capacity(raw.len());
    for (i, r) in raw.iter().enumerate() {
        let ty = spec.types[i];
        let n = i + 1;
        if r.is_empty() && ty != ArgType::Str {
            if i < spec.mandatory {
                return Err(ArgError {
                    arg: n,
                    msg: format!(
                        "expected type '{}' at position {n}, but got nothing",
                        ty.name()
                    ),
                });
            }
            break;
        }
        let bad = || ArgError {
            arg: n,
            msg: format!(
                "failed to parse '{r}' as type '{}' at position {n}",
                ty.name()
            ),
        };
        out.push(match ty {
            ArgType::Int => Arg::Int(parse_int(r).ok_or_else(bad)?),
            ArgType::Str | ArgType::Backend => Arg::Str(r.clone()),
            ArgType::Var => Arg::Var(VarName::parse(r).ok_or_else(bad)?),
            ArgType::Mask4 => Arg::Mask(parse_mask4(r).ok_or_else(bad)?),
            ArgType::Mask6 => {
                Arg::Mask(r.parse::<u8>().ok().filter(|m| *m <= 128).ok_or_else(bad)?)
            }
            ArgType::Ipv4 => Arg::Ipv4(r.parse().map_err(|_| bad())?),
            ArgType::Ipv6 => Arg::Ipv6(r.parse().map_err(|_| bad())?),
            ArgType::Regex => {
                Arg::Regex(Regex::new(r.as_bytes(), false).map_err(|e| ArgError {
                    arg: n,
                    msg: e.to_string(),
                })?)
            }
            ArgType::Time => Arg::Time(parse_time(r).ok_or_else(bad)?),
            ArgType::Size => Arg::Size(parse_size(r).ok_or_else(bad)?),
            ArgType::PbufFieldNumber => {
                let ok = r.bytes().all(|c| c.is_ascii_digit() || c == b'.') && !r.ends_with('.');
                Arg::Str(if ok { r.clone() } else { return Err(bad()) })
            }
        });
    }
    Ok(out)
}

/// A whole decimal integer with an optional sign; out-of-range values saturate.
pub fn parse_int(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let digits = b
        .strip_prefix(b"-")
        .or_else(|| b.strip_prefix(b"+"))
        .unwrap_or(b);
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    super::str_to_int(b)
}

fn parse_mask4(s: &str) -> Option<u8> {
    if let Ok(n) = s.parse::<u8>() {
        return (n <= 32).then_some(n);
    }
    let m = u32::from(s.parse::<Ipv4Addr>().ok()?);
    // A dotted mask must be contiguous ones.
    let len = m.leading_ones();
    (m.checked_shl(len).unwrap_or(0) == 0).then_some(len as u8)
}

/// `10`, `10ms`, `10s`, `10m`, `10h`, `10d`, `10us`: milliseconds.
pub fn parse_time(s: &str) -> Option<u64> {
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let n: u64 = s[..split].parse().ok()?;
    Some(match &s[split..] {
        "" | "ms" => n,
        "us" => n / 1000,
        "s" => n * 1000,
        "m" => n * 60_000,
        "h" => n * 3_600_000,
        "d" => n * 86_400_000,
        _ => return None,
    })
}

/// `4096`, `4k`, `1m`, `1g`: bytes.
pub fn parse_size(s: &str) -> Option<u64> {
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let n: u64 = s[..split].parse().ok()?;
    Some(match &s[split..] {
        "" => n,
        "k" | "K" => n << 10,
        "m" | "M" => n << 20,
        "g" | "G" => n << 30,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sp(s: &str, max: usize) -> Result<(Vec<String>, usize), ArgError> {
        split(s, 0, max)
    }

    #[test]
    fn split_follows_haproxy_quoting() {
        assert_eq!(sp("a,b)x", 2).unwrap(), (vec!["a".into(), "b".into()], 4));
        assert_eq!(sp(")", 2).unwrap(), (vec![String::new()], 1));
        assert_eq!(sp(")", 0).unwrap(), (vec![], 1));
        assert_eq!(sp("'a,b')", 1).unwrap().0, vec!["a,b"]);
        assert_eq!(sp("\"a)b\")", 1).unwrap().0, vec!["a)b"]);
        assert_eq!(sp("'it''s')", 1).unwrap().0, vec!["its"]);
        assert_eq!(sp("'a\\\\b')", 1).unwrap().0, vec!["a\\\\b"]);
        assert_eq!(sp("\"a\\\"b\")", 1).unwrap().0, vec!["a\"b"]);
        assert_eq!(sp("a\\ b\\x)", 1).unwrap().0, vec!["a b\\x"]);
        assert_eq!(sp("a,b)", 1).unwrap_err(), ArgError { arg: 2, msg: "expected ')' before ',b)'".into() });
        assert_eq!(sp("x)", 0).unwrap_err(), ArgError { arg: 1, msg: "expected ')' before 'x)'".into() });
        assert_eq!(sp("'abc)", 1).unwrap_err().msg, "expected ')'");
    }

    #[test]
    fn typed_values() {
        assert_eq!(parse_int("-0012"), Some(-12));
        assert_eq!(parse_int("99999999999999999999"), Some(i64::MAX));
        assert_eq!(parse_int("1k"), None);
        assert_eq!(parse_int("-"), None);
        assert_eq!(parse_time("10s"), Some(10_000));
        assert_eq!(parse_time("250"), Some(250));
        assert_eq!(parse_time("2m"), Some(120_000));
        assert_eq!(parse_time("1x"), None);
        assert_eq!(parse_size("4k"), Some(4096));
        assert_eq!(parse_size("1m"), Some(1 << 20));
        assert_eq!(parse_mask4("255.255.255.0"), Some(24));
        assert_eq!(parse_mask4("255.0.255.0"), None);
        assert_eq!(parse_mask4("33"), None);
        let spec = ArgSpec { types: &[ArgType::Int, ArgType::Str], mandatory: 2 };
        assert_eq!(
            type_args(&["1".into()], spec).unwrap_err().msg,
            "missing arguments (got 1/2), type 'string' expected"
        );
    }
}
