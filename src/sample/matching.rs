//! ACL match methods (`-m str beg end sub reg dir dom len int ip bin bool found`, `-i`)
//! over samples, with the patterns compiled once.
//!
//! Each method works on one sample type and the fetch's output is cast to it, as in
//! HAProxy: `str`-family methods see an integer as its decimal text, `int` sees a
//! string's leading digits, `ip` needs an address. A fetch whose type cannot be cast
//! is refused at compile time.

use super::regex::Regex;
use super::{Sample, SampleType};
use std::fmt;
use std::net::IpAddr;

/// A match method.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    Found,
    Bool,
    Int,
    Ip,
    Bin,
    Len,
    Str,
    Sub,
    Reg,
    Beg,
    End,
    Dir,
    Dom,
}

impl Method {
    /// The method named after `-m`.
    pub fn parse(s: &str) -> Option<Method> {
        Some(match s {
            "found" => Method::Found,
            "bool" => Method::Bool,
            "int" => Method::Int,
            "ip" => Method::Ip,
            "bin" => Method::Bin,
            "len" => Method::Len,
            "str" => Method::Str,
            "sub" => Method::Sub,
            "reg" => Method::Reg,
            "beg" => Method::Beg,
            "end" => Method::End,
            "dir" => Method::Dir,
            "dom" => Method::Dom,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Method::Found => "found",
            Method::Bool => "bool",
            Method::Int => "int",
            Method::Ip => "ip",
            Method::Bin => "bin",
            Method::Len => "len",
            Method::Str => "str",
            Method::Sub => "sub",
            Method::Reg => "reg",
            Method::Beg => "beg",
            Method::End => "end",
            Method::Dir => "dir",
            Method::Dom => "dom",
        }
    }

    /// The type the sample is cast to before matching.
    pub fn input(self) -> SampleType {
        match self {
            Method::Found => SampleType::Any,
            Method::Bool => SampleType::Bool,
            Method::Int => SampleType::Sint,
            Method::Ip => SampleType::Addr,
            Method::Bin => SampleType::Bin,
            _ => SampleType::Str,
        }
    }

    /// The default method of a fetch of type `t` when no `-m` is given.
    pub fn default_for(t: SampleType) -> Method {
        match t {
            SampleType::Bool => Method::Bool,
            SampleType::Sint => Method::Int,
            SampleType::Ipv4 | SampleType::Ipv6 | SampleType::Addr => Method::Ip,
            SampleType::Bin => Method::Bin,
            _ => Method::Str,
        }
    }
}

/// A pattern that failed to compile, in HAProxy's words.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MatchError(pub String);

impl fmt::Display for MatchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for MatchError {}

#[derive(Clone, Debug)]
enum Pattern {
    /// Inclusive range.
    Int(i64, i64),
    /// Network and prefix length, in the IPv6 space (IPv4 is v4-mapped).
    Net(u128, u32),
    Bytes(Vec<u8>),
    Regex(Regex),
}

/// A compiled `-m method [-i] patterns...`.
#[derive(Clone, Debug)]
pub struct Matcher {
    method: Method,
    icase: bool,
    patterns: Vec<Pattern>,
}

impl Matcher {
    /// Compiles the patterns for a fetch named `keyword` of type `fetch_type`.
    pub fn compile(
        keyword: &str,
        fetch_type: SampleType,
        method: Method,
        icase: bool,
        patterns: &[&str],
    ) -> Result<Matcher, MatchError> {
        if !fetch_type.can_cast(method.input()) {
            return Err(MatchError(format!(
                "matching method '{}' cannot be used with fetch keyword '{keyword}'",
                method.name()
            )));
        }
        let mut out = Vec::with_capacity(patterns.len());
        match method {
            Method::Found | Method::Bool => {}
            Method::Int | Method::Len => {
                let mut it = patterns.iter();
                while let Some(&p) = it.next() {
                    let pat = match p {
                        "eq" | "ge" | "gt" | "le" | "lt" => {
                            let v = it
                                .next()
                                .ok_or_else(|| MatchError(format!("missing value after '{p}'")))?;
                            let v = parse_int(v)?;
                            match p {
                                "eq" => Pattern::Int(v, v),
                                "ge" => Pattern::Int(v, i64::MAX),
                                "gt" => Pattern::Int(v.saturating_add(1), i64::MAX),
                                "le" => Pattern::Int(i64::MIN, v),
                                _ => Pattern::Int(i64::MIN, v.saturating_sub(1)),
                            }
                        }
                        _ => match p.split_once(':') {
                            None => {
                                let v = parse_int(p)?;
                                Pattern::Int(v, v)
                            }
                            Some((lo, hi)) => {
                                let range = |v: &str| {
                                    super::args::parse_int(v).ok_or_else(|| MatchError(format!("'{p}' is not a valid number range")))
                                };
                                Pattern::Int(
                                    if lo.is_empty() { i64::MIN } else { range(lo)? },
                                    if hi.is_empty() { i64::MAX } else { range(hi)? },
                                )
                            }
                        },
                    };
                    out.push(pat);
                }
            }
            Method::Ip => {
                for p in patterns {
                    out.push(parse_net(p).ok_or_else(|| {
                        MatchError(format!("'{p}' is not a valid IPv4 or IPv6 address"))
                    })?);
                }
            }
            Method::Bin => {
                for p in patterns {
                    let b = super::fetch::unhex(p.as_bytes())
                        .ok_or_else(|| MatchError(format!("'{p}' is not a valid hex string")))?;
                    out.push(Pattern::Bytes(b));
                }
            }
            Method::Reg => {
                for p in patterns {
                    let r =
                        Regex::new(p.as_bytes(), icase).map_err(|e| MatchError(e.to_string()))?;
                    out.push(Pattern::Regex(r));
                }
            }
            _ => out.extend(
                patterns
                    .iter()
                    .map(|p| Pattern::Bytes(p.as_bytes().to_vec())),
            ),
        }
        Ok(Matcher {
            method,
            icase,
            patterns: out,
        })
    }

    pub fn method(&self) -> Method {
        self.method
    }

    /// Whether `sample` (the fetch's result, `None` when it found nothing) matches.
    pub fn matches(&self, sample: Option<Sample>) -> bool {
        let Some(s) = sample else { return false };
        if self.method == Method::Found {
            return true;
        }
        let Some(s) = s.cast(self.method.input()) else {
            return false;
        };
        match (self.method, s) {
            (Method::Bool, Sample::Bool(b)) => b,
            (Method::Int, Sample::Sint(i)) => self.any_int(i),
            (Method::Len, Sample::Str(b)) => self.any_int(b.len() as i64),
            (Method::Ip, s) => {
                let Some(ip) = to_v6(&s) else { return false };
                self.patterns.iter().any(|p| match p {
                    Pattern::Net(net, len) => mask(ip, *len) == *net,
                    _ => false,
                })
            }
            (Method::Reg, Sample::Str(b)) => self
                .patterns
                .iter()
                .any(|p| matches!(p, Pattern::Regex(r) if r.is_match(&b))),
            (m, Sample::Str(b) | Sample::Bin(b)) => self.patterns.iter().any(|p| match p {
                Pattern::Bytes(pat) => self.match_bytes(m, &b, pat),
                _ => false,
            }),
            _ => false,
        }
    }

    /// Whether the method reads strings as they are (not `bool`, `int`, `ip`, which
    /// convert them first): [`Matcher::matches_str`] applies.
    pub fn reads_strings(&self) -> bool {
        !matches!(self.method, Method::Bool | Method::Int | Method::Ip)
    }

    /// What [`Matcher::matches`] answers for `Sample::Str(value)`, without building the
    /// sample; `None` unless [`Matcher::reads_strings`].
    pub fn matches_str(&self, value: &[u8]) -> Option<bool> {
        Some(match self.method {
            Method::Bool | Method::Int | Method::Ip => return None,
            Method::Found => true,
            Method::Len => self.any_int(value.len() as i64),
            Method::Reg => self.patterns.iter().any(|p| matches!(p, Pattern::Regex(r) if r.is_match(value))),
            m => self.patterns.iter().any(|p| matches!(p, Pattern::Bytes(pat) if self.match_bytes(m, value, pat))),
        })
    }

    /// The index of the first pattern `sample` matches (for `ip`, and for `beg` without
    /// `-i`, of the longest matching prefix, as HAProxy's prefix trees answer): what a
    /// map looks up. Patterns keep their order; among equal prefixes the first wins.
    pub fn first_match(&self, sample: Sample) -> Option<usize> {
        let s = sample.cast(self.method.input())?;
        match (self.method, &s) {
            (Method::Beg, Sample::Str(b) | Sample::Bin(b)) if !self.icase => self
                .patterns
                .iter()
                .enumerate()
                .filter_map(|(i, p)| match p {
                    Pattern::Bytes(pat) if b.starts_with(pat) => Some((pat.len(), usize::MAX - i)),
                    _ => None,
                })
                .max()
                .map(|(_, rev)| usize::MAX - rev),
            (Method::Ip, s) => {
                let ip = to_v6(s)?;
                self.patterns
                    .iter()
                    .enumerate()
                    .filter(|(_, p)| matches!(p, Pattern::Net(net, len) if mask(ip, *len) == *net))
                    .max_by_key(|(i, p)| match p {
                        Pattern::Net(_, len) => (*len, usize::MAX - i),
                        _ => (0, 0),
                    })
                    .map(|(i, _)| i)
            }
            (Method::Int, Sample::Sint(v)) => self
                .patterns
                .iter()
                .position(|p| matches!(p, Pattern::Int(lo, hi) if lo <= v && v <= hi)),
            (Method::Reg, Sample::Str(b)) => self
                .patterns
                .iter()
                .position(|p| matches!(p, Pattern::Regex(r) if r.is_match(b))),
            (m, Sample::Str(b) | Sample::Bin(b)) => self
                .patterns
                .iter()
                .position(|p| matches!(p, Pattern::Bytes(pat) if self.match_bytes(m, b, pat))),
            _ => None,
        }
    }

    fn any_int(&self, v: i64) -> bool {
        self.patterns
            .iter()
            .any(|p| matches!(p, Pattern::Int(lo, hi) if *lo <= v && v <= *hi))
    }

    fn match_bytes(&self, m: Method, s: &[u8], pat: &[u8]) -> bool {
        let eq = |a: &[u8], b: &[u8]| {
            if self.icase {
                a.eq_ignore_ascii_case(b)
            } else {
                a == b
            }
        };
        match m {
            Method::Str | Method::Bin => eq(s, pat),
            Method::Beg => s.len() >= pat.len() && eq(&s[..pat.len()], pat),
            Method::End => s.len() >= pat.len() && eq(&s[s.len() - pat.len()..], pat),
            Method::Sub => pat.is_empty() || s.windows(pat.len()).any(|w| eq(w, pat)),
            // A whole `/`- (dir) or `.`-delimited (dom) run of components.
            Method::Dir | Method::Dom => {
                let sep = if m == Method::Dir { b'/' } else { b'.' };
                if pat.is_empty() {
                    return false;
                }
                (0..=s.len().saturating_sub(pat.len())).any(|i| {
                    s.len() >= i + pat.len()
                        && eq(&s[i..i + pat.len()], pat)
                        && (i == 0 || s[i - 1] == sep)
                        && (i + pat.len() == s.len() || s[i + pat.len()] == sep)
                })
            }
            _ => false,
        }
    }
}

fn parse_int(s: &str) -> Result<i64, MatchError> {
    super::args::parse_int(s).ok_or_else(|| MatchError(format!("'{s}' is not a number")))
}

fn to_v6(s: &Sample) -> Option<u128> {
    match s {
        Sample::Ipv4(a) => Some(u128::from(a.to_ipv6_mapped())),
        Sample::Ipv6(a) => Some(u128::from(*a)),
        _ => None,
    }
}

fn mask(ip: u128, len: u32) -> u128 {
    if len == 0 {
        0
    } else {
        ip & (u128::MAX << (128 - len.min(128)))
    }
}

/// `addr`, `addr/len` or `v4addr/dotted.mask`.
fn parse_net(p: &str) -> Option<Pattern> {
    let (addr, len) = match p.split_once('/') {
        Some((a, l)) => (a, Some(l)),
        None => (p, None),
    };
    let ip: IpAddr = addr.parse().ok()?;
    let (ip6, max) = match ip {
        IpAddr::V4(a) => (u128::from(a.to_ipv6_mapped()), 32),
        IpAddr::V6(a) => (u128::from(a), 128),
    };
    let len = match len {
        None => max,
        Some(l) => match l.parse::<u32>() {
            Ok(n) if n <= max => n,
            Ok(_) => return None,
            Err(_) if max == 32 => {
                let m = u32::from(l.parse::<std::net::Ipv4Addr>().ok()?);
                let n = m.leading_ones();
                if m.checked_shl(n).unwrap_or(0) != 0 {
                    return None;
                }
                n
            }
            Err(_) => return None,
        },
    };
    let len6 = if max == 32 { len + 96 } else { len };
    Some(Pattern::Net(mask(ip6, len6), len6))
}
