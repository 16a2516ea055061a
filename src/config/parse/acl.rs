//! `acl` lines and `if`/`unless` conditions.
//!
//! An ACL criterion is any sample expression (`req.hdr(host),lower`), or one of
//! HAProxy's ACL keywords that name a fetch and a match method at once (`path_beg` is
//! `path -m beg`, `hdr_sub(x)` is `req.hdr(x) -m sub`, see [`ACL_KEYWORDS`]).
//! Expressions and patterns are compiled here once to report errors at their line
//! (the stream compiles them again from the model, which cannot fail then).
//!
//! Flags: `-i`, `-n`, `-m <method>`, `-f <file>` (one pattern a line, `#` comments),
//! `-M` (the `-f` file is a map: its first word is the pattern), `-u <id>` (ignored),
//! `--`. Predefined ACLs (`METH_GET`, `HTTP_1.1` ...) expand to their definition.
//!
//! Integer operators are stored as HAProxy's range patterns: `gt 5` becomes `6:`,
//! `ge 5` `5:`, `lt 5` `:4`, `le 5` `:5`, `eq 5` `5`.

use super::{Line, Parser};
use crate::config::diagnostic::Diagnostic;
use crate::config::fetches::KNOWN_FETCHES;
use crate::config::model::{
    Acl, AclExpr, AclRef, CondTerm, Condition, Location, MatchMethod, PredefinedAcl,
};
use crate::diag::Severity;
use crate::sample::usable::Place;
use crate::sample::{Expr, Matcher};

/// The ACL keywords whose patterns are versions, `<major>[.<minor>]` (HAProxy's
/// `pat_parse_dotted_ver`): `3.1` is TLS 1.0 as the fetch gives it, 3 * 65536 + 1.
const DOTTED_VERSION_KEYWORDS: &[&str] = &["req.ssl_ver", "req_ssl_ver"];

/// `<major>[.<minor>]` as the number `major * 65536 + minor`.
fn dotted_version(s: &str) -> Option<i64> {
    let (major, minor) = s.split_once('.').unwrap_or((s, "0"));
    let num = |d: &str| (!d.is_empty() && d.bytes().all(|b| b.is_ascii_digit())).then(|| d.parse::<i64>().ok()).flatten();
    Some((num(major)? << 16) + num(minor)?)
}

/// A dotted version pattern, a value or a range (`3.1:3.3`, `3.1-3.3`, `:3.2`,
/// `3.1:`), as the integer pattern it means.
fn dotted_range(p: &str) -> Result<String, String> {
    match p.find([':', '-']) {
        None => dotted_version(p).map(|v| v.to_string()).ok_or_else(|| format!("'{p}' is not a dotted number")),
        Some(at) => {
            let bad = || format!("'{p}' is not a valid dotted number range");
            let (lo, hi) = (&p[..at], &p[at + 1..]);
            let bound = |b: &str| if b.is_empty() { Ok(String::new()) } else { dotted_version(b).map(|v| v.to_string()).ok_or_else(bad) };
            if lo.is_empty() && hi.is_empty() {
                return Err(bad());
            }
            Ok(format!("{}:{}", bound(lo)?, bound(hi)?))
        }
    }
}

/// HAProxy 2.6's ACL keywords (`haproxy -dKacl`): name, the fetch it reads and its
/// match method. A name that is also a fetch (`path`, `method`) keeps the fetch's
/// type but this method.
pub const ACL_KEYWORDS: &[(&str, &str, &str)] = &[
    ("base", "base", "str"), ("base_beg", "base", "beg"), ("base_dir", "base", "dir"),
    ("base_dom", "base", "dom"), ("base_end", "base", "end"), ("base_len", "base", "len"),
    ("base_reg", "base", "reg"), ("base_sub", "base", "sub"),
    ("cook", "req.cook", "str"), ("cook_beg", "req.cook", "beg"), ("cook_dir", "req.cook", "dir"),
    ("cook_dom", "req.cook", "dom"), ("cook_end", "req.cook", "end"), ("cook_len", "req.cook", "len"),
    ("cook_reg", "req.cook", "reg"), ("cook_sub", "req.cook", "sub"),
    ("hdr", "req.hdr", "str"), ("hdr_beg", "req.hdr", "beg"), ("hdr_dir", "req.hdr", "dir"),
    ("hdr_dom", "req.hdr", "dom"), ("hdr_end", "req.hdr", "end"), ("hdr_len", "req.hdr", "len"),
    ("hdr_reg", "req.hdr", "reg"), ("hdr_sub", "req.hdr", "sub"),
    ("http_auth_group", "http_auth_group", "str"), ("method", "method", "str"),
    ("path", "path", "str"), ("path_beg", "path", "beg"), ("path_dir", "path", "dir"),
    ("path_dom", "path", "dom"), ("path_end", "path", "end"), ("path_len", "path", "len"),
    ("path_reg", "path", "reg"), ("path_sub", "path", "sub"),
    ("payload", "req.payload", "bin"), ("payload_lv", "req.payload_lv", "bin"),
    ("req.ssl_ver", "req.ssl_ver", "int"), ("req_rdp_cookie", "req.rdp_cookie", "str"),
    ("req_rdp_cookie_cnt", "req.rdp_cookie_cnt", "int"), ("req_ssl_sni", "req.ssl_sni", "str"),
    ("req_ssl_ver", "req.ssl_ver", "int"), ("req_ver", "req.ver", "str"), ("resp_ver", "res.ver", "str"),
    ("scook", "res.cook", "str"), ("scook_beg", "res.cook", "beg"), ("scook_dir", "res.cook", "dir"),
    ("scook_dom", "res.cook", "dom"), ("scook_end", "res.cook", "end"), ("scook_len", "res.cook", "len"),
    ("scook_reg", "res.cook", "reg"), ("scook_sub", "res.cook", "sub"),
    ("shdr", "res.hdr", "str"), ("shdr_beg", "res.hdr", "beg"), ("shdr_dir", "res.hdr", "dir"),
    ("shdr_dom", "res.hdr", "dom"), ("shdr_end", "res.hdr", "end"), ("shdr_len", "res.hdr", "len"),
    ("shdr_reg", "res.hdr", "reg"), ("shdr_sub", "res.hdr", "sub"),
    ("ssl_fc_sni_end", "ssl_fc_sni", "end"), ("ssl_fc_sni_reg", "ssl_fc_sni", "reg"),
    ("url", "url", "str"), ("url_beg", "url", "beg"), ("url_dir", "url", "dir"),
    ("url_dom", "url", "dom"), ("url_end", "url", "end"), ("url_len", "url", "len"),
    ("url_reg", "url", "reg"), ("url_sub", "url", "sub"),
    ("urlp", "urlp", "str"), ("urlp_beg", "urlp", "beg"), ("urlp_dir", "urlp", "dir"),
    ("urlp_dom", "urlp", "dom"), ("urlp_end", "urlp", "end"), ("urlp_len", "urlp", "len"),
    ("urlp_reg", "urlp", "reg"), ("urlp_sub", "urlp", "sub"),
];

/// HAProxy's predefined ACLs and their definitions (`TRUE`, `FALSE` and `LOCALHOST`
/// have their own [`PredefinedAcl`] variants).
pub const PREDEFINED: &[(&str, &str)] = &[
    ("HTTP", "req.proto_http"),
    ("HTTP_1.0", "req.ver 1.0"),
    ("HTTP_1.1", "req.ver 1.1"),
    ("HTTP_2.0", "req.ver 2.0"),
    ("HTTP_3.0", "req.ver 3.0"),
    ("HTTP_CONTENT", "req.hdr_val(content-length) gt 0"),
    ("HTTP_URL_ABS", "url_reg ^[^/:]*://"),
    ("HTTP_URL_SLASH", "url_beg /"),
    ("HTTP_URL_STAR", "url *"),
    ("METH_CONNECT", "method CONNECT"),
    ("METH_DELETE", "method DELETE"),
    ("METH_GET", "method GET HEAD"),
    ("METH_HEAD", "method HEAD"),
    ("METH_OPTIONS", "method OPTIONS"),
    ("METH_POST", "method POST"),
    ("METH_PUT", "method PUT"),
    ("METH_TRACE", "method TRACE"),
    ("RDP_COOKIE", "req.rdp_cookie_cnt gt 0"),
    ("REQ_CONTENT", "req.len gt 0"),
    ("WAIT_END", "wait_end"),
];

/// `acl <name> <criterion> [flags] [operator] <value> ...`
pub fn acl(p: &mut Parser, l: &Line) -> Result<(), String> {
    let name = l.arg(1);
    if name.is_empty() {
        return Err("'acl' expects an ACL name and an ACL expression.".into());
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':')))
    {
        return Err(format!(
            "character '{c}' is not permitted in acl name '{name}'."
        ));
    }
    if l.args.len() < 3 {
        return Err(format!(
            "error detected while parsing ACL '{name}' : missing fetch method."
        ));
    }
    let expr = parse_acl_expr(&l.args[2..])
        .map_err(|e| format!("error detected while parsing ACL '{name}' : {e}."))?;
    let explicit_end = l.args[3..].iter().any(|w| w == "--" || w == "-f");
    if expr.patterns.is_empty()
        && !explicit_end
        && !matches!(expr.method, MatchMethod::Found | MatchMethod::Bool)
    {
        let msg = format!(
            "parsing acl keyword '{}' :\n  no pattern to match against were provided, so this ACL will never match.\n  \
             If this is what you intended, please add '--' to get rid of this warning.\n  \
             If you intended to match only for existence, please use '-m found'.\n  \
             If you wanted to force an int to match as a bool, please use '-m bool'.\n",
            expr.fetch
        );
        p.push(Diagnostic::plain(Severity::Warning, Some(&l.loc), msg));
    }
    p.draft().proxy.acls.push(Acl {
        name: name.to_string(),
        expr,
        location: l.loc.clone(),
    });
    Ok(())
}

/// The keyword name at the start of a criterion (`req.hdr` in `req.hdr(host),lower`).
fn keyword_name(criterion: &str) -> &str {
    let end = criterion
        .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '+' | '-')))
        .unwrap_or(criterion.len());
    &criterion[..end]
}

/// Splits `fetch(a,b),conv(c)` at top-level commas.
fn split_top(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut depth, mut start) = (0i32, 0);
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out
}

/// `name(arg1,arg2)` -> (`name`, [args]), for the model's informative fields.
fn call(s: &str) -> (String, Vec<String>) {
    match s.find('(') {
        None => (s.to_string(), Vec::new()),
        Some(i) => {
            let inner = s[i + 1..].strip_suffix(')').unwrap_or(&s[i + 1..]);
            let args = if inner.is_empty() {
                Vec::new()
            } else {
                inner.split(',').map(|a| a.trim().to_string()).collect()
            };
            (s[..i].to_string(), args)
        }
    }
}

/// Parses `<criterion> [flags] [operator] <value> ...` (the words after the ACL name,
/// or inside `{ }`), compiling the expression and the patterns to check them.
pub fn parse_acl_expr(words: &[String]) -> Result<AclExpr, String> {
    let criterion = words[0].as_str();
    let kw = keyword_name(criterion);
    // An ACL keyword names its fetch and method; otherwise the criterion is a sample
    // expression matched with its type's default method.
    let is_acl_keyword = ACL_KEYWORDS.iter().any(|(n, _, _)| *n == kw);
    let (sample, mut method) = match ACL_KEYWORDS.iter().find(|(n, _, _)| *n == kw) {
        Some((_, fetch, m)) => (
            format!("{fetch}{}", &criterion[kw.len()..]),
            MatchMethod::parse(m),
        ),
        None => (criterion.to_string(), None),
    };
    let compiled = match Expr::parse(&sample) {
        Ok(e) => e,
        Err(e) => {
            let fetch = keyword_name(&sample);
            let unknown = crate::sample::fetch::lookup(fetch).is_none();
            return Err(if let Some(why) = crate::sample::fetch::htx_internal_refusal(fetch).filter(|_| unknown) {
                why
            } else if unknown && (KNOWN_FETCHES.contains(&kw) || KNOWN_FETCHES.contains(&fetch)) {
                format!("fetch method '{kw}' is not supported by moonproxy yet")
            } else if unknown && kw.is_empty() {
                format!("missing fetch method in ACL expression '{criterion}'")
            } else if unknown {
                format!("unknown fetch method '{kw}' in ACL expression '{criterion}'")
            } else if let Some(conv) = e.to_string().strip_prefix("unknown converter ").filter(|_| !is_acl_keyword) {
                // On a sample fetch (not an ACL keyword), HAProxy names the expression.
                format!("unknown converter {conv} in ACL expression '{criterion}'")
            } else {
                // HAProxy ends this message with its own period, then adds the line's.
                format!("ACL keyword '{kw}' : {e}.")
            });
        }
    };
    let parts = split_top(&sample);
    let (fetch, fetch_args) = call(parts[0]);
    let converters = parts[1..].iter().filter(|c| !c.is_empty()).map(|c| call(c)).collect();
    let mut ignore_case = false;
    let mut files: Vec<String> = Vec::new();
    let mut map = false;
    let mut i = 1;
    while let Some(w) = words.get(i).filter(|w| w.starts_with('-')) {
        match w.as_str() {
            "-i" => ignore_case = true,
            "-n" => {}
            "--" => {
                i += 1;
                break;
            }
            "-m" => {
                let m = words.get(i + 1).map_or("", String::as_str);
                method = Some(MatchMethod::parse(m).ok_or_else(|| {
                    format!("unknown matching method '{m}' when parsing ACL expression")
                })?);
                i += 1;
            }
            "-f" => {
                let f = words.get(i + 1).ok_or("missing pattern file name")?;
                files.push(f.clone());
                i += 1;
            }
            "-M" => map = true,
            "-u" => i += 1,
            _ => return Err(format!("'{w}' is not a valid pattern matching option")),
        }
        i += 1;
    }
    // A sample of no fixed type (`var()`, `set-var`, `json_query`) has no default
    // method: HAProxy asks for one.
    if method.is_none() && compiled.out_type() == crate::sample::SampleType::Any {
        return Err(format!("matching method must be specified first (using '-m') when using a sample fetch of this type ('{kw}')"));
    }
    // `req.ssl_ver` / `req_ssl_ver` read their patterns as dotted versions, unless a
    // `-m` says how to read them.
    let dotted = is_acl_keyword && DOTTED_VERSION_KEYWORDS.contains(&kw) && !words[1..i].iter().any(|w| w == "-m");
    let method = method.unwrap_or_else(|| MatchMethod::default_for(compiled.out_type()));
    let mut patterns: Vec<String> = Vec::new();
    // Patterns from files are checked one by one so an error names its line.
    for file in &files {
        let text = std::fs::read(file).map_err(|_| format!("failed to open pattern file <{file}>"))?;
        for (n, line) in text.split(|&b| b == b'\n').enumerate() {
            let line = String::from_utf8_lossy(line);
            let line = line.trim_end_matches('\r').trim_start_matches([' ', '\t']);
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let pat = if map {
                line.split([' ', '\t']).next().unwrap_or(line)
            } else {
                line
            };
            Matcher::compile(kw, compiled.out_type(), method, ignore_case, &[pat])
                .map_err(|e| format!("{e} at line {} of file '{file}'", n + 1))?;
        }
    }
    // Integer operators on the line become ranges.
    let mut rest = &words[i..];
    while let Some(w) = rest.first() {
        let op = w.as_str();
        if matches!(method, MatchMethod::Int | MatchMethod::Len)
            && matches!(op, "eq" | "ge" | "gt" | "le" | "lt")
        {
            let v = rest
                .get(1)
                .ok_or_else(|| format!("missing value after operator '{op}'"))?;
            // HAProxy's words, for a value after an operator that does not read.
            let n = match dotted {
                true => dotted_version(v),
                false => v.parse().ok(),
            };
            let n: i64 = n.ok_or_else(|| format!("'{v}' is neither a number nor a supported operator"))?;
            patterns.push(match op {
                "eq" => n.to_string(),
                "ge" => format!("{n}:"),
                "gt" => format!("{}:", n.saturating_add(1)),
                "le" => format!(":{n}"),
                _ => format!(":{}", n.saturating_sub(1)),
            });
            rest = &rest[2..];
        } else {
            let pattern = match dotted {
                true => dotted_range(op)?,
                false => w.clone(),
            };
            Matcher::compile(kw, compiled.out_type(), method, ignore_case, &[&pattern])
                .map_err(|e| e.to_string())?;
            patterns.push(pattern);
            rest = &rest[1..];
        }
    }
    Ok(AclExpr {
        fetch,
        fetch_args,
        converters,
        method,
        ignore_case,
        patterns,
        sample,
        files,
        files_are_maps: map,
        keyword: Some(kw.to_string()),
    })
}

/// Parses the words after `if`/`unless`: terms separated by `||` or `or`, each
/// an ACL name, optionally negated with `!`, or `{ anonymous acl }`.
///
/// Like HAProxy, an empty condition, an empty `||` branch and a final lone `!` are
/// accepted: an empty AND group holds, so `if` with no term never matches (no
/// group) while `if A ||` always does.
pub fn parse_condition(
    unless: bool,
    words: &[String],
    acls: &[Acl],
    loc: &Location,
) -> Result<Condition, String> {
    let mut or_groups = if words.is_empty() { Vec::new() } else { vec![Vec::new()] };
    let mut i = 0;
    while i < words.len() {
        let w = words[i].as_str();
        if w == "||" || w.eq_ignore_ascii_case("or") {
            or_groups.push(Vec::new());
            i += 1;
            continue;
        }
        let (negate, name) = match w.strip_prefix('!') {
            Some(rest) if !rest.is_empty() => (true, rest),
            Some(_) => {
                i += 1;
                match words.get(i) {
                    Some(n) => (true, n.as_str()),
                    None => break,
                }
            }
            None => (false, w),
        };
        let acl = if name == "{" {
            let close = words[i + 1..]
                .iter()
                .position(|x| x == "}")
                .ok_or("missing closing '}' in condition")?;
            let inner = &words[i + 1..i + 1 + close];
            if inner.is_empty() {
                return Err("missing fetch method in ACL expression ''".into());
            }
            i += close + 1;
            AclRef::Anonymous(Box::new(parse_acl_expr(inner)?))
        } else if acls.iter().any(|a| a.name == name) {
            AclRef::Named(name.to_string())
        } else {
            match name {
                "TRUE" => AclRef::Predefined(PredefinedAcl::True),
                "FALSE" => AclRef::Predefined(PredefinedAcl::False),
                "LOCALHOST" => AclRef::Predefined(PredefinedAcl::LocalHost),
                n => match PREDEFINED.iter().find(|(p, _)| *p == n) {
                    Some((_, def)) => {
                        let words: Vec<String> = def.split(' ').map(String::from).collect();
                        AclRef::Anonymous(Box::new(parse_acl_expr(&words)?))
                    }
                    None => return Err(format!("no such ACL : '{name}'")),
                },
            }
        };
        or_groups
            .last_mut()
            .expect("never empty")
            .push(CondTerm { negate, acl, unusable: false });
        i += 1;
    }
    Ok(Condition {
        unless,
        or_groups,
        location: loc.clone(),
    })
}

/// Marks the terms of `cond` whose ACL cannot run at `place` (see
/// [`crate::sample::usable`]) and returns HAProxy's warning for the first of them.
/// `rule` is the rule kind the `tcp-*` warnings name (`tcp-request content`).
pub fn check_place(cond: &mut Condition, acls: &[Acl], place: Place, rule: Option<&str>) -> Option<String> {
    let mut warning = None;
    let in_rule = rule.map(|r| format!(" in '{r}'")).unwrap_or_default();
    for term in cond.or_groups.iter_mut().flatten() {
        let text = match &term.acl {
            AclRef::Anonymous(e) if !usable(&e.fetch, place) => {
                term.unusable = true;
                let kw = e.keyword.as_deref().unwrap_or(&e.fetch);
                format!("anonymous acl will never match{in_rule} because it uses keyword '{kw}' which is incompatible with '{}'", place.name())
            }
            AclRef::Named(name) => {
                let exprs: Vec<&AclExpr> = acls.iter().filter(|a| &a.name == name).map(|a| &a.expr).collect();
                let bad: Vec<&AclExpr> = exprs.iter().copied().filter(|e| !usable(&e.fetch, place)).collect();
                if bad.is_empty() {
                    continue;
                }
                if bad.len() == exprs.len() {
                    term.unusable = true;
                    format!("acl '{name}' will never match because it only involves keywords that are incompatible with '{}'", place.name())
                } else {
                    let kw = bad[0].keyword.as_deref().unwrap_or(&bad[0].fetch);
                    format!("acl '{name}' involves keywords '{kw}' which is incompatible with '{}'", place.name())
                }
            }
            _ => continue,
        };
        warning.get_or_insert(text);
    }
    warning
}

fn usable(fetch: &str, place: Place) -> bool {
    crate::sample::usable::usable(fetch, place)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn w(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn expressions() {
        let e = parse_acl_expr(&w("src 10.0.0.0/8 127.0.0.1 ::1")).unwrap();
        assert_eq!(
            (e.fetch.as_str(), e.method, e.patterns.len()),
            ("src", MatchMethod::Ip, 3)
        );
        let e = parse_acl_expr(&w("dst_port gt 1024 80 8000:8080 le 10")).unwrap();
        assert_eq!(e.patterns, ["1025:", "80", "8000:8080", ":10"]);
        let e = parse_acl_expr(&w("src_port -m int -i 5")).unwrap();
        assert!(e.ignore_case);
        assert_eq!(e.method, MatchMethod::Int);
        let e = parse_acl_expr(&w("hdr_sub(host) -i example")).unwrap();
        assert_eq!((e.sample.as_str(), e.method), ("req.hdr(host)", MatchMethod::Sub));
        let e = parse_acl_expr(&w("path_len gt 3")).unwrap();
        assert_eq!((e.sample.as_str(), e.method, e.patterns[0].as_str()), ("path", MatchMethod::Len, "4:"));
        let e = parse_acl_expr(&w("req.hdr(host),lower -m end .com")).unwrap();
        assert_eq!((e.fetch.as_str(), e.converters.len(), e.method), ("req.hdr", 1, MatchMethod::End));
        let e = parse_acl_expr(&w("status 200:299")).unwrap();
        assert_eq!(e.method, MatchMethod::Int);
    }

    #[test]
    fn pattern_files() {
        let dir = std::env::temp_dir().join(format!("mp-acl-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let pats = dir.join("pats.txt");
        std::fs::write(&pats, "10.0.0.0/8\n# comment\n\n  ::1\n").unwrap();
        let e = parse_acl_expr(&w(&format!("src -f {} 1.2.3.4", pats.display()))).unwrap();
        assert_eq!((e.patterns.as_slice(), e.files.as_slice()), (&["1.2.3.4".to_string()][..], &[pats.display().to_string()][..]));
        let map = dir.join("m.map");
        std::fs::write(&map, "/a be1\n/b\tbe2\n").unwrap();
        let e = parse_acl_expr(&w(&format!("path_beg -M -f {}", map.display()))).unwrap();
        assert_eq!((e.patterns.len(), e.files_are_maps), (0, true));
        std::fs::write(&pats, "10.0.0.0/8\n# c\n\n  foo  \n").unwrap();
        assert_eq!(
            parse_acl_expr(&w(&format!("src -f {}", pats.display()))).unwrap_err(),
            format!("'foo  ' is not a valid IPv4 or IPv6 address at line 4 of file '{}'", pats.display())
        );
        let missing = dir.join("nope.txt");
        assert_eq!(
            parse_acl_expr(&w(&format!("path -f {}", missing.display()))).unwrap_err(),
            format!("failed to open pattern file <{}>", missing.display())
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn predefined_acls_expand_to_their_definition() {
        let loc = Location { file: Arc::from("t"), line: 1 };
        for (name, _) in PREDEFINED {
            let c = parse_condition(false, &w(name), &[], &loc).unwrap();
            assert!(matches!(c.or_groups[0][0].acl, AclRef::Anonymous(_)), "{name}");
        }
        let c = parse_condition(false, &w("METH_GET"), &[], &loc).unwrap();
        let AclRef::Anonymous(e) = &c.or_groups[0][0].acl else { unreachable!() };
        assert_eq!((e.sample.as_str(), e.patterns.len()), ("method", 2));
        let c = parse_condition(false, &w("RDP_COOKIE"), &[], &loc).unwrap();
        let AclRef::Anonymous(e) = &c.or_groups[0][0].acl else { unreachable!() };
        assert_eq!((e.sample.as_str(), e.patterns.len()), ("req.rdp_cookie_cnt", 1));
        assert!(parse_condition(false, &w("NOT_AN_ACL"), &[], &loc).unwrap_err().contains("no such ACL"));
    }

    #[test]
    fn expression_errors() {
        assert_eq!(
            parse_acl_expr(&w("src_porrt 1")).unwrap_err(),
            "unknown fetch method 'src_porrt' in ACL expression 'src_porrt'"
        );
        assert_eq!(
            parse_acl_expr(&w("src 1.2.3.4 foo")).unwrap_err(),
            "'foo' is not a valid IPv4 or IPv6 address"
        );
        assert!(parse_acl_expr(&w("internal.strm.is_htx x"))
            .unwrap_err()
            .contains("internal HTX representation, which has no meaning in moonproxy"));
        assert_eq!(
            parse_acl_expr(&w("path,nope x")).unwrap_err(),
            "ACL keyword 'path' : unknown converter 'nope'."
        );
        assert_eq!(
            parse_acl_expr(&w("src -m foo 1")).unwrap_err(),
            "unknown matching method 'foo' when parsing ACL expression"
        );
        assert!(parse_acl_expr(&w("dst_port abc")).is_err());
    }

    #[test]
    fn conditions() {
        let loc = Location {
            file: Arc::from("t"),
            line: 1,
        };
        let acls = vec![Acl {
            name: "a".into(),
            expr: parse_acl_expr(&w("always_true")).unwrap(),
            location: loc.clone(),
        }];
        let c = parse_condition(
            false,
            &w("a !TRUE || { src 1.2.3.4 } or ! FALSE"),
            &acls,
            &loc,
        )
        .unwrap();
        assert_eq!(c.or_groups.len(), 3);
        assert_eq!(c.or_groups[0].len(), 2);
        assert!(c.or_groups[0][1].negate);
        assert!(c.or_groups[2][0].negate);
        assert_eq!(
            parse_condition(false, &w("nope"), &acls, &loc).unwrap_err(),
            "no such ACL : 'nope'"
        );
        // HAProxy accepts these: no group never holds, an empty group always does.
        assert!(parse_condition(true, &w(""), &acls, &loc).unwrap().or_groups.is_empty());
        assert_eq!(parse_condition(true, &w("a ||"), &acls, &loc).unwrap().or_groups[1].len(), 0);
        assert!(parse_condition(true, &w("{ }"), &acls, &loc).is_err());
    }
}
