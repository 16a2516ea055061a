//! The small ACL evaluator TCP mode needs: fetches on the connection's addresses
//! (`src`, `src_port`, `dst`, `dst_port`), the predefined `TRUE`, `FALSE` and
//! `LOCALHOST`, and the match methods `ip` (CIDR), `int` (values, `a:b` ranges and
//! `eq/ge/gt/le/lt`), `str`, `bool` and `found`. The HTTP issue grows the fetch list.
//!
//! Patterns are compiled once when the frontend is built ([`AclSet::compile`],
//! [`CompiledCond::compile`]); evaluating a condition allocates nothing.

use crate::config::model::{Acl, AclExpr, AclRef, Condition, MatchMethod, PredefinedAcl};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};

/// What fetches may read about a stream at rule time.
#[derive(Clone, Copy, Debug, Default)]
pub struct SampleCtx {
    pub src: Option<SocketAddr>,
    pub dst: Option<SocketAddr>,
}

/// A fetched value.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Sample {
    Ip(IpAddr),
    Int(i64),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fetch {
    Src,
    SrcPort,
    Dst,
    DstPort,
}

impl Fetch {
    fn parse(name: &str) -> Option<Fetch> {
        Some(match name {
            "src" => Fetch::Src,
            "src_port" => Fetch::SrcPort,
            "dst" => Fetch::Dst,
            "dst_port" => Fetch::DstPort,
            _ => return None,
        })
    }

    fn fetch(self, cx: &SampleCtx) -> Option<Sample> {
        Some(match self {
            Fetch::Src => Sample::Ip(cx.src?.ip()),
            Fetch::SrcPort => Sample::Int(cx.src?.port() as i64),
            Fetch::Dst => Sample::Ip(cx.dst?.ip()),
            Fetch::DstPort => Sample::Int(cx.dst?.port() as i64),
        })
    }
}

#[derive(Clone, Debug, PartialEq)]
enum Pattern {
    /// Network address and prefix length.
    Net(IpAddr, u8),
    /// Inclusive integer range.
    Range(i64, i64),
    Str(String),
}

#[derive(Clone, Debug)]
struct Matcher {
    fetch: Fetch,
    method: MatchMethod,
    ignore_case: bool,
    patterns: Vec<Pattern>,
}

impl Matcher {
    fn compile(e: &AclExpr) -> Result<Matcher, String> {
        let fetch = Fetch::parse(&e.fetch).ok_or_else(|| format!("unknown fetch method '{}' in ACL expression", e.fetch))?;
        if !e.converters.is_empty() {
            return Err(format!("converters are not supported yet on '{}'", e.fetch));
        }
        let mut patterns = Vec::new();
        match e.method {
            MatchMethod::Ip => {
                for p in &e.patterns {
                    patterns.push(parse_net(p).ok_or_else(|| format!("'{p}' is not a valid IPv4 or IPv6 address"))?);
                }
            }
            MatchMethod::Int => {
                let mut it = e.patterns.iter();
                while let Some(p) = it.next() {
                    let op = p.as_str();
                    let pat = match op {
                        "eq" | "ge" | "gt" | "le" | "lt" => {
                            let v = it.next().ok_or_else(|| format!("missing value after '{op}'"))?;
                            let v: i64 = v.parse().map_err(|_| format!("'{v}' is not a number"))?;
                            match op {
                                "eq" => Pattern::Range(v, v),
                                "ge" => Pattern::Range(v, i64::MAX),
                                "gt" => Pattern::Range(v.saturating_add(1), i64::MAX),
                                "le" => Pattern::Range(i64::MIN, v),
                                _ => Pattern::Range(i64::MIN, v.saturating_sub(1)),
                            }
                        }
                        _ => parse_range(p).ok_or_else(|| format!("'{p}' is not a number or a range"))?,
                    };
                    patterns.push(pat);
                }
            }
            MatchMethod::Str => patterns.extend(e.patterns.iter().map(|p| Pattern::Str(p.clone()))),
            MatchMethod::Found | MatchMethod::Bool => {}
            m => return Err(format!("match method {m:?} is not supported yet in TCP mode")),
        }
        Ok(Matcher { fetch, method: e.method, ignore_case: e.ignore_case, patterns })
    }

    fn matches(&self, cx: &SampleCtx) -> bool {
        let Some(sample) = self.fetch.fetch(cx) else { return false };
        match self.method {
            MatchMethod::Found => true,
            MatchMethod::Bool => match sample {
                Sample::Int(i) => i != 0,
                Sample::Ip(_) => true,
            },
            _ => self.patterns.iter().any(|p| pattern_matches(p, sample, self.ignore_case)),
        }
    }
}

fn pattern_matches(p: &Pattern, s: Sample, ignore_case: bool) -> bool {
    match (p, s) {
        (Pattern::Net(net, len), Sample::Ip(ip)) => in_net(ip, *net, *len),
        (Pattern::Range(lo, hi), Sample::Int(i)) => *lo <= i && i <= *hi,
        (Pattern::Str(txt), s) => {
            let rendered = match s {
                Sample::Ip(ip) => ip.to_string(),
                Sample::Int(i) => i.to_string(),
            };
            if ignore_case { rendered.eq_ignore_ascii_case(txt) } else { rendered == *txt }
        }
        _ => false,
    }
}

fn in_net(ip: IpAddr, net: IpAddr, len: u8) -> bool {
    let to_v6 = |a: IpAddr| match a {
        IpAddr::V4(v4) => v4.to_ipv6_mapped(),
        IpAddr::V6(v6) => v6,
    };
    // Compare in the IPv6 space; an IPv4 prefix length counts from bit 96.
    let len6 = if net.is_ipv4() { len as u32 + 96 } else { len as u32 };
    let (a, b) = (u128::from(to_v6(ip)), u128::from(to_v6(net)));
    let mask = if len6 == 0 { 0 } else { u128::MAX << (128 - len6.min(128)) };
    a & mask == b & mask
}

fn parse_net(p: &str) -> Option<Pattern> {
    let (addr, len) = match p.split_once('/') {
        Some((a, l)) => (a, Some(l)),
        None => (p, None),
    };
    let ip: IpAddr = addr.parse().ok()?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    let len = match len {
        None => max,
        Some(l) => match l.parse::<u8>() {
            Ok(n) if n <= max => n,
            Ok(_) => return None,
            // A dotted netmask (255.255.0.0) for IPv4.
            Err(_) => {
                let m: std::net::Ipv4Addr = l.parse().ok()?;
                let bits = u32::from(m);
                if bits.leading_ones() + bits.trailing_zeros() != 32 {
                    return None;
                }
                bits.leading_ones() as u8
            }
        },
    };
    Some(Pattern::Net(ip, len))
}

fn parse_range(p: &str) -> Option<Pattern> {
    match p.split_once(':') {
        None => {
            let v = p.parse().ok()?;
            Some(Pattern::Range(v, v))
        }
        Some((a, b)) => {
            let lo = if a.is_empty() { i64::MIN } else { a.parse().ok()? };
            let hi = if b.is_empty() { i64::MAX } else { b.parse().ok()? };
            Some(Pattern::Range(lo, hi))
        }
    }
}

/// A frontend's named ACLs; several `acl` lines with one name are ORed.
#[derive(Debug, Default)]
pub struct AclSet {
    by_name: HashMap<String, Vec<Matcher>>,
}

impl AclSet {
    pub fn compile(acls: &[Acl]) -> Result<AclSet, String> {
        let mut by_name: HashMap<String, Vec<Matcher>> = HashMap::new();
        for a in acls {
            let m = Matcher::compile(&a.expr).map_err(|e| format!("parsing [{}] : acl '{}' : {e}", a.location, a.name))?;
            by_name.entry(a.name.clone()).or_default().push(m);
        }
        Ok(AclSet { by_name })
    }
}

#[derive(Debug)]
enum Term {
    Const(bool),
    Named(String),
    Anon(Matcher),
}

/// A compiled `if|unless` condition.
#[derive(Debug)]
pub struct CompiledCond {
    unless: bool,
    or_groups: Vec<Vec<(bool, Term)>>,
}

impl CompiledCond {
    /// Compiles `cond`; every named ACL must exist in `set`.
    pub fn compile(cond: &Condition, set: &AclSet) -> Result<CompiledCond, String> {
        let mut or_groups = Vec::new();
        for group in &cond.or_groups {
            let mut terms = Vec::new();
            for t in group {
                let term = match &t.acl {
                    AclRef::Predefined(PredefinedAcl::True) => Term::Const(true),
                    AclRef::Predefined(PredefinedAcl::False) => Term::Const(false),
                    AclRef::Predefined(PredefinedAcl::LocalHost) => Term::Anon(Matcher {
                        fetch: Fetch::Src,
                        method: MatchMethod::Ip,
                        ignore_case: false,
                        patterns: vec![Pattern::Net("127.0.0.0".parse().unwrap(), 8), Pattern::Net("::1".parse().unwrap(), 128)],
                    }),
                    AclRef::Named(n) if set.by_name.contains_key(n) => Term::Named(n.clone()),
                    AclRef::Named(n) => return Err(format!("parsing [{}] : no such ACL : '{n}'", cond.location)),
                    AclRef::Anonymous(e) => Term::Anon(Matcher::compile(e).map_err(|e| format!("parsing [{}] : {e}", cond.location))?),
                };
                terms.push((t.negate, term));
            }
            or_groups.push(terms);
        }
        Ok(CompiledCond { unless: cond.unless, or_groups })
    }

    /// Evaluates the condition: `if` is true when one AND group holds entirely.
    pub fn eval(&self, set: &AclSet, cx: &SampleCtx) -> bool {
        let hit = self.or_groups.iter().any(|group| {
            group.iter().all(|(negate, term)| {
                let v = match term {
                    Term::Const(b) => *b,
                    Term::Named(n) => set.by_name.get(n).is_some_and(|ms| ms.iter().any(|m| m.matches(cx))),
                    Term::Anon(m) => m.matches(cx),
                };
                v != *negate
            })
        });
        hit != self.unless
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::model::{CondTerm, Location};
    use std::sync::Arc;

    fn loc() -> Location {
        Location { file: Arc::from("t.cfg"), line: 1 }
    }

    fn acl(name: &str, fetch: &str, method: MatchMethod, pats: &[&str]) -> Acl {
        Acl {
            name: name.into(),
            location: loc(),
            expr: AclExpr {
                fetch: fetch.into(),
                fetch_args: vec![],
                converters: vec![],
                method,
                ignore_case: false,
                patterns: pats.iter().map(|s| s.to_string()).collect(),
            },
        }
    }

    fn cond(unless: bool, groups: &[&[(bool, &str)]]) -> Condition {
        Condition {
            unless,
            location: loc(),
            or_groups: groups
                .iter()
                .map(|g| {
                    g.iter()
                        .map(|(neg, n)| CondTerm {
                            negate: *neg,
                            acl: match *n {
                                "TRUE" => AclRef::Predefined(PredefinedAcl::True),
                                "FALSE" => AclRef::Predefined(PredefinedAcl::False),
                                other => AclRef::Named(other.into()),
                            },
                        })
                        .collect()
                })
                .collect(),
        }
    }

    fn cx(src: &str, dst: &str) -> SampleCtx {
        SampleCtx { src: Some(src.parse().unwrap()), dst: Some(dst.parse().unwrap()) }
    }

    #[test]
    fn table() {
        let set = AclSet::compile(&[
            acl("lan", "src", MatchMethod::Ip, &["10.0.0.0/8", "192.168.1.0/255.255.255.0"]),
            acl("lan", "src", MatchMethod::Ip, &["::1"]),
            acl("high", "dst_port", MatchMethod::Int, &["1024:"]),
            acl("p80", "dst_port", MatchMethod::Int, &["80", "8080:8090"]),
            acl("big_src_port", "src_port", MatchMethod::Int, &["gt", "50000"]),
            acl("dst_str", "dst", MatchMethod::Str, &["127.0.0.1"]),
            acl("has_src", "src", MatchMethod::Found, &[]),
        ])
        .unwrap();
        let c = cx("10.1.2.3:60000", "127.0.0.1:80");
        let cases: &[(Condition, bool)] = &[
            (cond(false, &[&[(false, "lan")]]), true),
            (cond(false, &[&[(false, "high")]]), false),
            (cond(false, &[&[(false, "p80")]]), true),
            (cond(false, &[&[(false, "lan"), (true, "p80")]]), false),
            (cond(false, &[&[(false, "high")], &[(false, "p80")]]), true),
            (cond(true, &[&[(false, "high")]]), true),
            (cond(false, &[&[(false, "TRUE")]]), true),
            (cond(false, &[&[(false, "FALSE")]]), false),
            (cond(false, &[&[(false, "big_src_port")]]), true),
            (cond(false, &[&[(false, "dst_str")]]), true),
            (cond(false, &[&[(false, "has_src")]]), true),
        ];
        for (i, (cnd, want)) in cases.iter().enumerate() {
            let cc = CompiledCond::compile(cnd, &set).unwrap();
            assert_eq!(cc.eval(&set, &c), *want, "case {i}");
        }
        let c2 = cx("192.168.1.77:1", "[::1]:8085");
        assert!(CompiledCond::compile(&cond(false, &[&[(false, "lan")]]), &set).unwrap().eval(&set, &c2));
        assert!(CompiledCond::compile(&cond(false, &[&[(false, "p80")]]), &set).unwrap().eval(&set, &c2));
        let c3 = cx("[::1]:1", "[::1]:1");
        assert!(CompiledCond::compile(&cond(false, &[&[(false, "lan")]]), &set).unwrap().eval(&set, &c3));
    }

    #[test]
    fn unknown_named_acl_is_an_error() {
        let set = AclSet::default();
        let e = CompiledCond::compile(&cond(false, &[&[(false, "nope")]]), &set).unwrap_err();
        assert!(e.contains("no such ACL : 'nope'"), "{e}");
    }

    #[test]
    fn bad_patterns_are_rejected() {
        assert!(AclSet::compile(&[acl("x", "src", MatchMethod::Ip, &["10.0.0.0/33"])]).is_err());
        assert!(AclSet::compile(&[acl("x", "dst_port", MatchMethod::Int, &["8a"])]).is_err());
        assert!(AclSet::compile(&[acl("x", "hdr", MatchMethod::Str, &["a"])]).is_err());
    }
}
