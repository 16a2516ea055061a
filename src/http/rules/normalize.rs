//! `http-request normalize-uri <normalizer>`: HAProxy 2.6's URI normalizers, as pure
//! functions on the request target. Each was compared with HAProxy on the same
//! targets (`tests/rules_inspect_vs_haproxy.rs`):
//!
//! | normalizer | on | what it does |
//! |---|---|---|
//! | `path-strip-dot` | path | drops `.` segments (a final one leaves the `/`) |
//! | `path-strip-dotdot [full]` | path | `a/..` pairs go; leading `..` stay unless `full` |
//! | `path-merge-slashes` | path | `//` → `/` |
//! | `percent-decode-unreserved [strict]` | target | `%41` → `A` for `ALPHA DIGIT - . _ ~` |
//! | `percent-to-uppercase [strict]` | target | `%2f` → `%2F` |
//! | `query-sort-by-name` | query | stable sort of `&` parameters by name, empty ones dropped |
//! | `fragment-strip` | target | drops `#...` |
//! | `fragment-encode` | target | `#` → `%23` |
//!
//! With `strict`, a malformed `%` sequence is an error: the request is answered 400.
//! Without it, malformed sequences are left as they are.

/// A compiled normalizer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Normalizer {
    PathStripDot,
    PathStripDotdot { full: bool },
    PathMergeSlashes,
    PercentDecodeUnreserved { strict: bool },
    PercentToUppercase { strict: bool },
    QuerySortByName,
    FragmentStrip,
    FragmentEncode,
}

/// A `strict` normalizer met a malformed percent-encoding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BadEncoding;

impl Normalizer {
    /// Parses the words after `normalize-uri`, with HAProxy's messages.
    pub fn parse(args: &[String]) -> Result<Normalizer, String> {
        let Some(name) = args.first() else { return Err("missing argument <normalizer>".into()) };
        let opt = args.get(1).map(String::as_str);
        let flag = |word: &str| -> Result<bool, String> {
            match opt {
                None => Ok(false),
                Some(w) if w == word => Ok(true),
                Some(w) => Err(format!("unknown argument '{w}' for '{name}' normalizer")),
            }
        };
        // Normalizers without options leave extra words to the condition check.
        let n = match name.as_str() {
            "path-strip-dot" => Normalizer::PathStripDot,
            "path-strip-dotdot" => Normalizer::PathStripDotdot { full: flag("full")? },
            "path-merge-slashes" => Normalizer::PathMergeSlashes,
            "percent-decode-unreserved" => Normalizer::PercentDecodeUnreserved { strict: flag("strict")? },
            "percent-to-uppercase" => Normalizer::PercentToUppercase { strict: flag("strict")? },
            "query-sort-by-name" => Normalizer::QuerySortByName,
            "fragment-strip" => Normalizer::FragmentStrip,
            "fragment-encode" => Normalizer::FragmentEncode,
            other => return Err(format!("unknown normalizer '{other}'")),
        };
        let used = if matches!(
            n,
            Normalizer::PathStripDotdot { full: true }
                | Normalizer::PercentDecodeUnreserved { strict: true }
                | Normalizer::PercentToUppercase { strict: true }
        ) {
            2
        } else {
            1
        };
        if let Some(extra) = args.get(used) {
            return Err(format!("unexpected keyword '{extra}'"));
        }
        Ok(n)
    }

    /// The normalized request target; `Err` for a `strict` normalizer on a malformed
    /// encoding. `target` is origin-form (`/p?q`), absolute-form (`http://h/p?q`) or `*`.
    pub fn apply(self, target: &str) -> Result<String, BadEncoding> {
        if target == "*" {
            return Ok(target.to_string());
        }
        // Split off the scheme and authority of an absolute-form target.
        let path_at = match target.find("://") {
            Some(i) => target[i + 3..].find('/').map_or(target.len(), |j| i + 3 + j),
            None => 0,
        };
        let (prefix, rest) = target.split_at(path_at);
        let (rest, fragment) = match rest.find('#') {
            Some(i) => (&rest[..i], Some(&rest[i..])),
            None => (rest, None),
        };
        let (path, query) = match rest.find('?') {
            Some(i) => (&rest[..i], Some(&rest[i + 1..])),
            None => (rest, None),
        };
        let join = |path: &str, query: Option<&str>, fragment: Option<&str>| {
            let mut out = String::with_capacity(target.len());
            out.push_str(prefix);
            out.push_str(path);
            if let Some(q) = query {
                out.push('?');
                out.push_str(q);
            }
            if let Some(f) = fragment {
                out.push_str(f);
            }
            out
        };
        Ok(match self {
            Normalizer::PathStripDot => join(&strip_dot(path), query, fragment),
            Normalizer::PathStripDotdot { full } => join(&strip_dotdot(path, full), query, fragment),
            Normalizer::PathMergeSlashes => join(&merge_slashes(path), query, fragment),
            Normalizer::QuerySortByName => join(path, query.map(sort_query).as_deref(), fragment),
            Normalizer::FragmentStrip => join(path, query, None),
            Normalizer::FragmentEncode => {
                join(path, query, fragment.map(|f| format!("%23{}", &f[1..]).replace('#', "%23")).as_deref())
            }
            Normalizer::PercentDecodeUnreserved { strict } => {
                format!("{prefix}{}", percent(&target[path_at..], strict, PercentOp::DecodeUnreserved)?)
            }
            Normalizer::PercentToUppercase { strict } => {
                format!("{prefix}{}", percent(&target[path_at..], strict, PercentOp::Uppercase)?)
            }
        })
    }
}

/// The segments of an absolute path (`/a/b` → `["a", "b"]`; `/` → `[""]`).
fn segments(path: &str) -> Option<Vec<&str>> {
    path.strip_prefix('/').map(|p| p.split('/').collect())
}

fn strip_dot(path: &str) -> String {
    let Some(segs) = segments(path) else { return path.to_string() };
    let last_dot = segs.last() == Some(&".");
    let mut kept: Vec<&str> = segs.into_iter().filter(|s| *s != ".").collect();
    if last_dot {
        kept.push("");
    }
    if kept.is_empty() {
        kept.push("");
    }
    format!("/{}", kept.join("/"))
}

fn strip_dotdot(path: &str, full: bool) -> String {
    let Some(segs) = segments(path) else { return path.to_string() };
    let last_dotdot = segs.last() == Some(&"..");
    // From the end: each `..` removes the closest segment before it.
    let mut pending = 0usize;
    let mut kept = Vec::with_capacity(segs.len());
    for s in segs.iter().rev() {
        if *s == ".." {
            pending += 1;
        } else if pending > 0 {
            pending -= 1;
        } else {
            kept.push(*s);
        }
    }
    if !full {
        kept.extend(std::iter::repeat_n("..", pending));
    }
    kept.reverse();
    if last_dotdot {
        kept.push("");
    }
    if kept.is_empty() {
        kept.push("");
    }
    format!("/{}", kept.join("/"))
}

fn merge_slashes(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for c in path.chars() {
        if c == '/' && out.ends_with('/') {
            continue;
        }
        out.push(c);
    }
    out
}

/// Sorts the `&`-separated parameters by name (the bytes before `=`), keeping the
/// order of equal names; empty parameters are dropped.
fn sort_query(query: &str) -> String {
    let mut params: Vec<&str> = query.split('&').filter(|p| !p.is_empty()).collect();
    params.sort_by(|a, b| {
        let name = |p: &str| p.split_once('=').map_or(p, |(n, _)| n).as_bytes().to_vec();
        name(a).cmp(&name(b))
    });
    params.join("&")
}

#[derive(Clone, Copy)]
enum PercentOp {
    DecodeUnreserved,
    Uppercase,
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

fn percent(s: &str, strict: bool, op: PercentOp) -> Result<String, BadEncoding> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'%' {
            out.push(b[i]);
            i += 1;
            continue;
        }
        match (b.get(i + 1).copied().and_then(hex), b.get(i + 2).copied().and_then(hex)) {
            (Some(h), Some(l)) => {
                let v = h * 16 + l;
                match op {
                    PercentOp::DecodeUnreserved if v.is_ascii_alphanumeric() || matches!(v, b'-' | b'.' | b'_' | b'~') => {
                        out.push(v)
                    }
                    PercentOp::DecodeUnreserved => out.extend_from_slice(&b[i..i + 3]),
                    PercentOp::Uppercase => {
                        out.push(b'%');
                        out.push(b[i + 1].to_ascii_uppercase());
                        out.push(b[i + 2].to_ascii_uppercase());
                    }
                }
                i += 3;
            }
            _ if strict => return Err(BadEncoding),
            _ => {
                out.push(b'%');
                i += 1;
            }
        }
    }
    Ok(String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(words: &str, target: &str) -> Result<String, BadEncoding> {
        let args: Vec<String> = words.split_whitespace().map(String::from).collect();
        Normalizer::parse(&args).unwrap().apply(target)
    }

    /// Expected values are HAProxy 2.6.12's answers to the same targets.
    #[test]
    fn as_haproxy_normalizes() {
        let cases: &[(&str, &str, &str)] = &[
            ("path-strip-dot", "/a/./b/.", "/a/b/"),
            ("path-strip-dot", "/./a/b/./", "/a/b/"),
            ("path-strip-dot", "/.", "/"),
            ("path-strip-dot", "/a/.b/..c/./../d", "/a/.b/..c/../d"),
            ("path-strip-dot", "http://a/x/./y/../z?b=1&a=2", "http://a/x/y/../z?b=1&a=2"),
            ("path-strip-dotdot", "/a/../b", "/b"),
            ("path-strip-dotdot", "/a/b/../../../c", "/../c"),
            ("path-strip-dotdot", "/../a", "/../a"),
            ("path-strip-dotdot", "/..", "/../"),
            ("path-strip-dotdot", "/a/..", "/"),
            ("path-strip-dotdot", "/a/b/..?x=../y", "/a/?x=../y"),
            ("path-strip-dotdot", "/a/./../b", "/a/b"),
            ("path-strip-dotdot", "/a///../b", "/a//b"),
            ("path-strip-dotdot", "/a/b/../c/./d", "/a/c/./d"),
            ("path-strip-dotdot", "/a/b/c/../..", "/a/"),
            ("path-strip-dotdot full", "/a/b/../../../c", "/c"),
            ("path-strip-dotdot full", "/../a", "/a"),
            ("path-merge-slashes", "/a//b///c", "/a/b/c"),
            ("path-merge-slashes", "//a", "/a"),
            ("percent-decode-unreserved", "/%41%62c/%7e%2F%2f%25", "/Abc/~%2F%2f%25"),
            ("percent-decode-unreserved", "/%4a%zz", "/J%zz"),
            ("percent-decode-unreserved", "/%2f%41%4", "/%2fA%4"),
            ("percent-decode-unreserved", "/p?%41=%7e&b=%2f%4a", "/p?A=~&b=%2fJ"),
            ("percent-decode-unreserved", "/a/%2E/b/%2e%2e/c", "/a/./b/../c"),
            ("percent-to-uppercase", "/%41%62c/%7e%2F%2f%25", "/%41%62c/%7E%2F%2F%25"),
            ("percent-to-uppercase", "/%4a%zz", "/%4A%zz"),
            ("percent-to-uppercase", "/%a", "/%a"),
            ("query-sort-by-name", "/a?c=1&b=2&a=3&b=1", "/a?a=3&b=2&b=1&c=1"),
            ("query-sort-by-name", "/a?b&a=&c=2&", "/a?a=&b&c=2"),
            ("query-sort-by-name", "/?a=2&a=1&ab=0&a&A=1&a.=1", "/?A=1&a=2&a=1&a&a.=1&ab=0"),
            ("query-sort-by-name", "/a?", "/a?"),
            ("query-sort-by-name", "http://a/x?b=1&a=2", "http://a/x?a=2&b=1"),
            ("fragment-strip", "/a?x#f#g", "/a?x"),
            ("fragment-encode", "/a?x#f#g", "/a?x%23f%23g"),
            ("path-strip-dot", "*", "*"),
        ];
        for (words, target, want) in cases {
            assert_eq!(n(words, target).as_deref(), Ok(*want), "{words} {target}");
        }
        for target in ["/%4a%zz", "/%2f%41%4", "/%a"] {
            assert_eq!(n("percent-decode-unreserved strict", target), Err(BadEncoding), "{target}");
            assert_eq!(n("percent-to-uppercase strict", target), Err(BadEncoding), "{target}");
        }
        assert_eq!(n("percent-to-uppercase strict", "/%2f").as_deref(), Ok("/%2F"));
    }

    #[test]
    fn parse_errors_are_haproxys() {
        let err = |w: &[&str]| Normalizer::parse(&w.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap_err();
        assert_eq!(err(&[]), "missing argument <normalizer>");
        assert_eq!(err(&["foo"]), "unknown normalizer 'foo'");
        assert_eq!(err(&["path-strip-dotdot", "x"]), "unknown argument 'x' for 'path-strip-dotdot' normalizer");
        assert_eq!(err(&["fragment-strip", "x"]), "unexpected keyword 'x'");
        assert_eq!(err(&["percent-to-uppercase", "strict", "x"]), "unexpected keyword 'x'");
    }
}
