//! ACLs at run time: each `acl` line and anonymous `{ }` ACL compiled once into a
//! sample expression ([`crate::sample::Expr`]) and a pattern matcher
//! ([`crate::sample::Matcher`]), and `if`/`unless` conditions over them.
//!
//! Patterns are compiled once when the proxy is built ([`AclSet::compile`],
//! [`CompiledCond::compile`]); a condition is evaluated against any
//! [`crate::sample::SampleCtx`]: the connection's addresses in TCP mode, the whole
//! transaction in HTTP mode ([`crate::http::rules::RuleCtx`]).

use crate::config::model::{Acl, AclExpr, AclRef, Condition, MatchMethod, PredefinedAcl};
use crate::sample::map::patref::AclFiles;
use crate::sample::{Expr, Matcher, SampleCtx as Ctx};
use std::collections::HashMap;
use std::net::SocketAddr;

/// The sample context of a connection before any HTTP message: its two addresses.
/// (What `use_backend` sees in TCP mode.)
#[derive(Clone, Copy, Debug, Default)]
pub struct ConnCtx {
    pub src: Option<SocketAddr>,
    pub dst: Option<SocketAddr>,
}

/// The former name of [`ConnCtx`], kept so callers building `SampleCtx { src, dst }`
/// keep compiling.
pub type SampleCtx = ConnCtx;

impl Ctx for ConnCtx {
    fn src(&self) -> Option<SocketAddr> {
        self.src
    }
    fn dst(&self) -> Option<SocketAddr> {
        self.dst
    }
}

/// One compiled ACL expression: a sample expression and its patterns.
#[derive(Clone, Debug)]
pub struct AclMatcher {
    expr: Expr,
    /// The patterns written on the line.
    matcher: Matcher,
    /// The `-f` files' patterns, shared and editable at run time (`core.add_acl`).
    files: Option<std::sync::Arc<AclFiles>>,
}

impl AclMatcher {
    /// Compiles a parsed ACL expression. The parser already checked it, so errors
    /// only come from models built by hand.
    pub fn compile(e: &AclExpr) -> Result<AclMatcher, String> {
        let text = if e.sample.is_empty() {
            let mut t = e.fetch.clone();
            if !e.fetch_args.is_empty() {
                t.push_str(&format!("({})", e.fetch_args.join(",")));
            }
            for (c, args) in &e.converters {
                t.push(',');
                t.push_str(c);
                if !args.is_empty() {
                    t.push_str(&format!("({})", args.join(",")));
                }
            }
            t
        } else {
            e.sample.clone()
        };
        let expr = Expr::parse(&text).map_err(|err| format!("ACL keyword '{}' : {err}", e.fetch))?;
        let pats: Vec<&str> = e.patterns.iter().map(String::as_str).collect();
        // HAProxy compares methods by name, case-sensitively, whatever `-i` says.
        let icase = e.ignore_case && expr.out_type() != crate::sample::SampleType::Meth;
        let matcher = Matcher::compile(&e.fetch, expr.out_type(), e.method, icase, &pats)
            .map_err(|err| err.to_string())?;
        let files = if e.files.is_empty() {
            None
        } else {
            Some(std::sync::Arc::new(AclFiles::load(&e.files, &e.fetch, expr.out_type(), e.method, icase, e.files_are_maps)?))
        };
        Ok(AclMatcher { expr, matcher, files })
    }

    /// Fetches the sample and matches it against the patterns; for a fetch with
    /// several occurrences (`hdr(x)`), true when one of them matches.
    pub fn matches(&self, cx: &dyn Ctx) -> bool {
        // Strings borrowed from the request where the fetch allows it (`path_beg`,
        // `hdr(host) -m beg` ...): no sample is built.
        if self.matcher.reads_strings() && self.files.is_none() {
            let m = &self.matcher;
            if let Some(hit) = self.expr.visit_strs(cx, &mut |v| m.matches_str(v) == Some(true)) {
                return hit;
            }
        }
        self.matches_owned(cx)
    }

    /// [`AclMatcher::matches`] through owned samples: every fetch and converter.
    fn matches_owned(&self, cx: &dyn Ctx) -> bool {
        let one = |s: Option<crate::sample::Sample>| match &self.files {
            None => self.matcher.matches(s),
            Some(files) => self.matcher.matches(s.clone()) || files.matches(s),
        };
        if self.expr.has_occurrences() {
            self.expr.eval_all(cx).into_iter().any(|s| one(Some(s)))
        } else {
            one(self.expr.eval(cx))
        }
    }
}

/// A section's named ACLs; several `acl` lines with one name are ORed. Each name is
/// numbered in order of first appearance: compiled conditions refer to ACLs by that
/// number, so evaluating one hashes no name.
#[derive(Debug, Default)]
pub struct AclSet {
    by_name: HashMap<String, usize>,
    lists: Vec<Vec<AclMatcher>>,
}

impl AclSet {
    pub fn compile(acls: &[Acl]) -> Result<AclSet, String> {
        let mut set = AclSet::default();
        for a in acls {
            let m = AclMatcher::compile(&a.expr)
                .map_err(|e| format!("parsing [{}] : error detected while parsing ACL '{}' : {e}.", a.location, a.name))?;
            let next = set.lists.len();
            let i = *set.by_name.entry(a.name.clone()).or_insert(next);
            if i == next {
                set.lists.push(Vec::new());
            }
            set.lists[i].push(m);
        }
        Ok(set)
    }

    /// Whether the named ACL matches (false when it does not exist).
    pub fn eval(&self, name: &str, cx: &dyn Ctx) -> bool {
        self.by_name.get(name).is_some_and(|&i| self.eval_at(i, cx))
    }

    /// Whether the ACL numbered `i` (see [`AclSet::compile`]) matches.
    fn eval_at(&self, i: usize, cx: &dyn Ctx) -> bool {
        self.lists.get(i).is_some_and(|ms| ms.iter().any(|m| m.matches(cx)))
    }
}

#[derive(Debug)]
enum Term {
    Const(bool),
    /// A named ACL, by its number in the [`AclSet`] the condition was compiled with
    /// (every set of a proxy is compiled from the same `acl` lines, so numbers agree).
    Named(usize),
    Anon(Box<AclMatcher>),
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
                    _ if t.unusable => Term::Const(false),
                    AclRef::Predefined(PredefinedAcl::True) => Term::Const(true),
                    AclRef::Predefined(PredefinedAcl::False) => Term::Const(false),
                    AclRef::Predefined(PredefinedAcl::LocalHost) => Term::Anon(Box::new(localhost())),
                    AclRef::Named(n) => match set.by_name.get(n) {
                        Some(&i) => Term::Named(i),
                        None => return Err(format!("parsing [{}] : no such ACL : '{n}'", cond.location)),
                    },
                    AclRef::Anonymous(e) => Term::Anon(Box::new(
                        AclMatcher::compile(e).map_err(|e| format!("parsing [{}] : {e}", cond.location))?,
                    )),
                };
                terms.push((t.negate, term));
            }
            or_groups.push(terms);
        }
        Ok(CompiledCond { unless: cond.unless, or_groups })
    }

    /// Evaluates the condition: `if` is true when one AND group holds entirely.
    pub fn eval(&self, set: &AclSet, cx: &dyn Ctx) -> bool {
        let hit = self.or_groups.iter().any(|group| {
            group.iter().all(|(negate, term)| {
                let v = match term {
                    Term::Const(b) => *b,
                    Term::Named(i) => set.eval_at(*i, cx),
                    Term::Anon(m) => m.matches(cx),
                };
                v != *negate
            })
        });
        hit != self.unless
    }
}

/// `LOCALHOST`: `src 127.0.0.1/8 ::1`.
fn localhost() -> AclMatcher {
    let expr = Expr::parse("src").expect("src is a fetch");
    let matcher = Matcher::compile("src", expr.out_type(), MatchMethod::Ip, false, &["127.0.0.1/8", "::1"])
        .expect("valid networks");
    AclMatcher { expr, matcher, files: None }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::model::{CondTerm, Location};
    use crate::config::parse::acl::{parse_acl_expr, parse_condition};
    use std::sync::Arc;

    fn loc() -> Location {
        Location { file: Arc::from("t.cfg"), line: 1 }
    }

    fn acl(name: &str, line: &str) -> Acl {
        let words: Vec<String> = line.split_whitespace().map(String::from).collect();
        Acl { name: name.into(), location: loc(), expr: parse_acl_expr(&words).unwrap() }
    }

    fn cond(acls: &[Acl], text: &str) -> Condition {
        let words: Vec<String> = text.split_whitespace().map(String::from).collect();
        let unless = words[0] == "unless";
        parse_condition(unless, &words[1..], acls, &loc()).unwrap()
    }

    fn cx(src: &str, dst: &str) -> ConnCtx {
        ConnCtx { src: Some(src.parse().unwrap()), dst: Some(dst.parse().unwrap()) }
    }

    #[test]
    fn table() {
        let acls = [
            acl("lan", "src 10.0.0.0/8 192.168.1.0/255.255.255.0"),
            acl("lan", "src ::1"),
            acl("high", "dst_port 1024:"),
            acl("p80", "dst_port 80 8080:8090"),
            acl("big_src_port", "src_port gt 50000"),
            acl("dst_str", "dst -m str 127.0.0.1"),
            acl("has_src", "src -m found"),
            acl("masked", "src,ipmask(16) -m str 10.1.0.0"),
            acl("port_text", "dst_port,add(1) -m beg 8"),
        ];
        let set = AclSet::compile(&acls).unwrap();
        let c = cx("10.1.2.3:60000", "127.0.0.1:80");
        let cases: &[(&str, bool)] = &[
            ("if lan", true),
            ("if high", false),
            ("if p80", true),
            ("if lan !p80", false),
            ("if high || p80", true),
            ("if high or p80", true),
            ("unless high", true),
            ("if TRUE", true),
            ("if FALSE", false),
            ("if big_src_port", true),
            ("if dst_str", true),
            ("if has_src", true),
            ("if masked", true),
            ("if port_text", true),
            ("if LOCALHOST", false),
            ("if { src 10.1.2.3 } { dst_port 80 }", true),
            ("if { src 10.1.2.3 } !{ dst_port 80 }", false),
            ("if ! { src 10.1.2.4 }", true),
        ];
        for (text, want) in cases {
            let cc = CompiledCond::compile(&cond(&acls, text), &set).unwrap();
            assert_eq!(cc.eval(&set, &c), *want, "{text}");
        }
        let c2 = cx("192.168.1.77:1", "[::1]:8085");
        for text in ["if lan", "if p80"] {
            assert!(CompiledCond::compile(&cond(&acls, text), &set).unwrap().eval(&set, &c2), "{text}");
        }
        let c3 = cx("[::1]:1", "[::1]:1");
        assert!(CompiledCond::compile(&cond(&acls, "if lan LOCALHOST"), &set).unwrap().eval(&set, &c3));
    }

    #[test]
    fn unknown_named_acl_is_an_error() {
        let set = AclSet::default();
        let c = Condition {
            unless: false,
            or_groups: vec![vec![CondTerm { negate: false, acl: AclRef::Named("nope".into()), unusable: false }]],
            location: loc(),
        };
        let e = CompiledCond::compile(&c, &set).unwrap_err();
        assert!(e.contains("no such ACL : 'nope'"), "{e}");
    }

    #[test]
    fn models_built_by_hand_compile_from_their_fields() {
        let e = AclExpr {
            fetch: "src".into(),
            fetch_args: vec![],
            converters: vec![("ipmask".into(), vec!["8".into()])],
            method: MatchMethod::Str,
            ignore_case: false,
            patterns: vec!["10.0.0.0".into()],
            sample: String::new(),
            files: vec![],
            files_are_maps: false,
            keyword: None,
        };
        let m = AclMatcher::compile(&e).unwrap();
        assert!(m.matches(&cx("10.9.9.9:1", "1.1.1.1:1")));
        assert!(!m.matches(&cx("11.9.9.9:1", "1.1.1.1:1")));
    }

    /// The borrowed path (`Fetch::visit`) answers what the owned samples answer, for
    /// every match method on the fetches that have one.
    #[test]
    fn borrowed_strings_match_like_owned_samples() {
        struct Req(crate::http::Request);
        impl Ctx for Req {
            fn http_req(&self) -> Option<&crate::http::Request> {
                Some(&self.0)
            }
        }
        let raw = b"GET /api/v2/Item.json?x=1 HTTP/1.1\r\nHost: www.Example.com\r\nAccept: text/html, application/json\r\nX-Empty:\r\nX-Two: a\r\nX-Two: b,c\r\n\r\n";
        let req = match crate::http::h1::RequestParser::new(Default::default()).parse(raw) {
            Ok(crate::http::h1::Status::Complete(r, _)) => r,
            other => panic!("{other:?}"),
        };
        let cx = Req(req);
        let (mut checked, mut hits) = (0, 0);
        for fetch in ["path", "url", "hdr(host)", "req.hdr(accept)", "hdr(x-two)", "hdr(x-empty)", "hdr(none)", "hdr(x-two,1)"] {
            for method in ["", "-m str", "-m beg", "-m end", "-m sub", "-m dir", "-m dom", "-m len", "-m found", "-m reg", "-m bin", "-i -m beg", "-m int"] {
                for pattern in ["/api", "www.example.com", "json", "b", "c", "v2", "^/api/v[0-9]", "3", "25", "617069"] {
                    let line = format!("{fetch} {method} {pattern}");
                    let Ok(expr) = parse_acl_expr(&line.split_whitespace().map(String::from).collect::<Vec<_>>()) else { continue };
                    let Ok(m) = AclMatcher::compile(&expr) else { continue };
                    let hit = m.matches(&cx);
                    assert_eq!(hit, m.matches_owned(&cx), "{line}");
                    checked += 1;
                    hits += usize::from(hit);
                }
            }
        }
        assert!(checked > 500, "only {checked} combinations compiled");
        assert!(hits > 30, "only {hits} of {checked} matched: the cases do not exercise matching");
    }
}
