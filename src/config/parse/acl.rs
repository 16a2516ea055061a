//! `acl` lines and `if`/`unless` conditions.
//!
//! Fetches moonproxy evaluates today: `src`, `src_port`, `dst`, `dst_port`,
//! `always_true`, `always_false`. Other fetches HAProxy knows are refused as not
//! supported yet; converters too.
//!
//! Integer operators are stored as HAProxy's range patterns: `gt 5` becomes `6:`,
//! `ge 5` `5:`, `lt 5` `:4`, `le 5` `:5`, `eq 5` `5`.

use super::{not_supported, Line, Parser};
use crate::config::diagnostic::Diagnostic;
use crate::config::fetches::KNOWN_FETCHES;
use crate::config::model::{
    Acl, AclExpr, AclRef, CondTerm, Condition, Location, MatchMethod, PredefinedAcl,
};
use crate::diag::Severity;
use std::net::IpAddr;

/// Fetches supported now, with their default match method.
const SUPPORTED_FETCHES: &[(&str, MatchMethod)] = &[
    ("src", MatchMethod::Ip),
    ("dst", MatchMethod::Ip),
    ("src_port", MatchMethod::Int),
    ("dst_port", MatchMethod::Int),
    ("always_true", MatchMethod::Bool),
    ("always_false", MatchMethod::Bool),
];

/// HAProxy's predefined ACLs that need HTTP (not supported yet).
const PREDEFINED_HTTP: &[&str] = &[
    "HTTP",
    "HTTP_1.0",
    "HTTP_1.1",
    "HTTP_2.0",
    "HTTP_CONTENT",
    "HTTP_URL_ABS",
    "HTTP_URL_SLASH",
    "HTTP_URL_STAR",
    "METH_CONNECT",
    "METH_DELETE",
    "METH_GET",
    "METH_HEAD",
    "METH_OPTIONS",
    "METH_POST",
    "METH_PUT",
    "METH_TRACE",
    "RDP_COOKIE",
    "REQ_CONTENT",
    "WAIT_END",
];

const METHODS: &[(&str, MatchMethod)] = &[
    ("found", MatchMethod::Found),
    ("bool", MatchMethod::Bool),
    ("int", MatchMethod::Int),
    ("ip", MatchMethod::Ip),
    ("bin", MatchMethod::Bin),
    ("len", MatchMethod::Len),
    ("str", MatchMethod::Str),
    ("sub", MatchMethod::Sub),
    ("reg", MatchMethod::Reg),
    ("beg", MatchMethod::Beg),
    ("end", MatchMethod::End),
    ("dir", MatchMethod::Dir),
    ("dom", MatchMethod::Dom),
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
    let explicit_end = l.args[3..].iter().any(|w| w == "--");
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

/// `name(arg1,arg2)` -> (`name`, [args]).
fn call(s: &str) -> Result<(String, Vec<String>), String> {
    match s.find('(') {
        None => Ok((s.to_string(), Vec::new())),
        Some(i) => {
            let Some(inner) = s[i + 1..].strip_suffix(')') else {
                return Err(format!(
                    "missing closing ')' after arguments to fetch keyword '{}'",
                    &s[..i]
                ));
            };
            let args = if inner.is_empty() {
                Vec::new()
            } else {
                inner.split(',').map(|a| a.trim().to_string()).collect()
            };
            Ok((s[..i].to_string(), args))
        }
    }
}

/// Parses `<criterion> [flags] [operator] <value> ...` (the words after the ACL name,
/// or inside `{ }`).
pub fn parse_acl_expr(words: &[String]) -> Result<AclExpr, String> {
    let criterion = &words[0];
    let parts = split_top(criterion);
    let (fetch, fetch_args) = call(parts[0])?;
    let method = match SUPPORTED_FETCHES.iter().find(|(n, _)| *n == fetch) {
        Some((_, m)) => *m,
        None if KNOWN_FETCHES.contains(&fetch.as_str()) => {
            return Err(format!(
                "fetch method '{fetch}' is not supported by moonproxy yet"
            ))
        }
        None => {
            return Err(format!(
                "unknown fetch method '{fetch}' in ACL expression '{criterion}'"
            ))
        }
    };
    if !fetch_args.is_empty() {
        return Err(format!(
            "fetch method '{fetch}' : no argument supported (got '{}')",
            fetch_args.join(",")
        ));
    }
    if let Some(conv) = parts.get(1) {
        let (name, _) = call(conv)?;
        return Err(format!(
            "converter '{name}' is not supported by moonproxy yet"
        ));
    }
    let converters = Vec::new();
    let mut expr = AclExpr {
        fetch,
        fetch_args,
        converters,
        method,
        ignore_case: false,
        patterns: Vec::new(),
    };
    let mut i = 1;
    while let Some(w) = words.get(i).filter(|w| w.starts_with('-')) {
        match w.as_str() {
            "-i" => expr.ignore_case = true,
            "-n" => {}
            "--" => {
                i += 1;
                break;
            }
            "-m" => {
                let m = words.get(i + 1).map_or("", String::as_str);
                expr.method = METHODS
                    .iter()
                    .find(|(n, _)| *n == m)
                    .map(|(_, v)| *v)
                    .ok_or_else(|| format!("unknown pattern matching method '{m}'"))?;
                i += 1;
            }
            "-f" | "-M" | "-u" => {
                return Err(format!("ACL flag '{w}' is not supported by moonproxy yet"))
            }
            _ => return Err(format!("'{w}' is not a valid pattern matching option")),
        }
        i += 1;
    }
    let mut rest = &words[i..];
    while let Some(w) = rest.first() {
        match expr.method {
            MatchMethod::Ip => {
                check_ip_pattern(w)?;
                expr.patterns.push(w.clone());
                rest = &rest[1..];
            }
            MatchMethod::Int | MatchMethod::Len => {
                let op = w.as_str();
                if matches!(op, "eq" | "ge" | "gt" | "le" | "lt") {
                    let v = rest
                        .get(1)
                        .ok_or_else(|| format!("missing value after operator '{op}'"))?;
                    let n: i64 = v.parse().map_err(|_| format!("'{v}' is not a number"))?;
                    expr.patterns.push(match op {
                        "eq" => n.to_string(),
                        "ge" => format!("{n}:"),
                        "gt" => format!("{}:", n + 1),
                        "le" => format!(":{n}"),
                        _ => format!(":{}", n - 1),
                    });
                    rest = &rest[2..];
                } else {
                    let valid = match w.split_once(':') {
                        Some((a, b)) => {
                            (a.is_empty() || a.parse::<i64>().is_ok())
                                && (b.is_empty() || b.parse::<i64>().is_ok())
                        }
                        None => w.parse::<i64>().is_ok(),
                    };
                    if !valid {
                        return Err(format!("'{w}' is not a number"));
                    }
                    expr.patterns.push(w.clone());
                    rest = &rest[1..];
                }
            }
            _ => {
                expr.patterns.push(w.clone());
                rest = &rest[1..];
            }
        }
    }
    Ok(expr)
}

fn check_ip_pattern(w: &str) -> Result<(), String> {
    let (addr, mask) = match w.split_once('/') {
        Some((a, m)) => (a, Some(m)),
        None => (w, None),
    };
    let ip: IpAddr = addr
        .parse()
        .map_err(|_| format!("'{w}' is not a valid IPv4 or IPv6 address"))?;
    if let Some(m) = mask {
        let max = if ip.is_ipv4() { 32 } else { 128 };
        let ok = m.parse::<u8>().is_ok_and(|b| b <= max)
            || (ip.is_ipv4() && m.parse::<std::net::Ipv4Addr>().is_ok());
        if !ok {
            return Err(format!("'{w}' is not a valid IPv4 or IPv6 address"));
        }
    }
    Ok(())
}

/// Parses the words after `if`/`unless`: terms separated by `||` or `or`, each
/// an ACL name, optionally negated with `!`, or `{ anonymous acl }`.
pub fn parse_condition(
    unless: bool,
    words: &[String],
    acls: &[Acl],
    loc: &Location,
) -> Result<Condition, String> {
    if words.is_empty() {
        return Err("missing condition after 'if' or 'unless'".into());
    }
    let mut or_groups = vec![Vec::new()];
    let mut i = 0;
    while i < words.len() {
        let w = words[i].as_str();
        if w == "||" || w == "or" {
            if or_groups.last().is_some_and(Vec::is_empty) {
                return Err("missing ACL before '||'".into());
            }
            or_groups.push(Vec::new());
            i += 1;
            continue;
        }
        let (negate, name) = match w.strip_prefix('!') {
            Some(rest) if !rest.is_empty() => (true, rest),
            Some(_) => {
                i += 1;
                let n = words.get(i).ok_or("missing ACL after '!'")?;
                (true, n.as_str())
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
                return Err("empty anonymous ACL in condition".into());
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
                n if PREDEFINED_HTTP.contains(&n) => {
                    return Err(not_supported(&format!("predefined ACL {n}")))
                }
                _ => return Err(format!("no such ACL : '{name}'")),
            }
        };
        or_groups
            .last_mut()
            .expect("never empty")
            .push(CondTerm { negate, acl });
        i += 1;
    }
    if or_groups.last().is_some_and(Vec::is_empty) {
        return Err("missing ACL after '||'".into());
    }
    Ok(Condition {
        unless,
        or_groups,
        location: loc.clone(),
    })
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
        assert!(parse_acl_expr(&w("path_beg /x"))
            .unwrap_err()
            .contains("not supported by moonproxy yet"));
        assert!(parse_acl_expr(&w("src,ipmask(24) 1.2.3.4"))
            .unwrap_err()
            .contains("converter 'ipmask'"));
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
        assert!(parse_condition(true, &w(""), &acls, &loc).is_err());
        assert!(parse_condition(true, &w("a ||"), &acls, &loc).is_err());
    }
}
