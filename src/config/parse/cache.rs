//! `cache <name>` sections, with HAProxy 2.6's messages (the cache itself is
//! `crate::http::cache`; doc/cache.md describes both).
//!
//! ```text
//! cache static
//!     total-max-size 64        # megabytes, 1..4095, required
//!     max-object-size 100000   # bytes, default: a 256th of total-max-size
//!     max-age 60               # seconds
//!     process-vary off
//!     max-secondary-entries 10
//! backend app
//!     http-request cache-use static
//!     http-response cache-store static
//! ```
//!
//! HAProxy reports some bad values as `[WARNING]` lines that still fail the load;
//! they are written the same way here ([`warn_fatal`]).

use super::{Line, Parser};
use crate::config::diagnostic::{Diagnostic, Style};
use crate::config::model::{CacheSection, Config, HttpRuleList, Location};
use crate::diag::Severity;

/// The largest `total-max-size`, in megabytes (HAProxy's limit).
pub const MAX_TOTAL_MB: i64 = 4095;

/// Opens a `cache <name>` section; `None` (its lines checked, then dropped) when the
/// name is missing or taken.
pub fn start(p: &mut Parser, line: &Line) -> Option<usize> {
    let name = line.arg(1);
    if name.is_empty() {
        p.alert(&line.loc, "'cache' expects a <name> argument");
        return None;
    }
    if let Some(extra) = line.args.get(2) {
        p.alert(&line.loc, format!("'cache' cannot handle unexpected argument '{extra}'."));
        return None;
    }
    if p.config.caches.iter().any(|c| c.name == name) {
        p.push(Diagnostic::alert(&line.loc, format!("Duplicate cache name '{name}'.")).with_style(Style::Directive));
        return None;
    }
    p.config.caches.push(empty(name, &line.loc));
    Some(p.config.caches.len() - 1)
}

fn empty(name: &str, loc: &Location) -> CacheSection {
    CacheSection {
        name: name.to_string(),
        location: loc.clone(),
        total_max_size_mb: 0,
        max_object_size: 0,
        max_age: 60,
        process_vary: false,
        max_secondary_entries: 10,
    }
}

/// What a line of the section leads to.
enum Issue {
    /// A plain alert (`parsing [file:line] : ...`).
    Alert(String),
    /// HAProxy's `[WARNING] parsing [file:line]: ...` that fails the load.
    Fatal(Vec<String>),
    /// A warning only.
    Warning(String),
}

/// One line inside a `cache` section (`section`: its index, `None` for a bad one).
pub fn keyword(p: &mut Parser, section: Option<usize>, line: &Line) {
    let mut scratch = None;
    let c = match section {
        Some(i) => &mut p.config.caches[i],
        None => scratch.insert(empty("", &line.loc)),
    };
    match apply(c, line) {
        None => {}
        Some(Issue::Alert(msg)) => p.alert(&line.loc, msg),
        Some(Issue::Fatal(msgs)) => {
            for m in msgs {
                warn_fatal(p, &line.loc, m);
            }
        }
        Some(Issue::Warning(msg)) => p.push(Diagnostic::warning(&line.loc, msg).with_style(Style::Directive)),
    }
}

/// A `[WARNING]` line that HAProxy counts as an error of the file.
fn warn_fatal(p: &mut Parser, loc: &Location, msg: String) {
    p.push(Diagnostic::warning(loc, msg).with_style(Style::Directive));
    p.file_alerts += 1;
}

/// A number as C's `strtoll` reads it in HAProxy's parser: `None` when it has junk.
fn number(s: &str) -> Option<i64> {
    if s.is_empty() {
        return None;
    }
    s.parse::<i64>().ok()
}

fn apply(c: &mut CacheSection, line: &Line) -> Option<Issue> {
    let kw = line.arg(0);
    let known = matches!(kw, "total-max-size" | "max-object-size" | "max-age" | "process-vary" | "max-secondary-entries");
    if !known {
        return Some(Issue::Alert(format!("unknown keyword '{kw}' in 'cache' section")));
    }
    if let Some(extra) = line.args.get(2) {
        return Some(Issue::Alert(format!("'{kw}' cannot handle unexpected argument '{extra}'.")));
    }
    let v = line.arg(1);
    match kw {
        "total-max-size" => match number(v) {
            None => return Some(Issue::Fatal(vec![format!("total-max-size wrong value '{v}'")])),
            // HAProxy compares as unsigned: a negative size is "greater" too.
            Some(n) if !(0..=MAX_TOTAL_MB).contains(&n) => {
                return Some(Issue::Fatal(vec![format!("\"total-max-size\" ({n}) must not be greater than {MAX_TOTAL_MB}")]))
            }
            Some(n) => c.total_max_size_mb = n as u32,
        },
        "max-object-size" => match number(v) {
            None if v.is_empty() => {
                return Some(Issue::Fatal(vec![
                    "'max-object-size' expects a maximum file size parameter in bytes.".into(),
                    "max-object-size wrong value ''".into(),
                ]))
            }
            None => return Some(Issue::Fatal(vec![format!("max-object-size wrong value '{v}'")])),
            // `strtoul` wraps a negative value to a huge one.
            Some(n) => c.max_object_size = u64::try_from(n).unwrap_or(u64::MAX),
        },
        "max-age" => {
            // HAProxy reads it with atoi: junk is 0, no value only a warning.
            c.max_age = leading_int(v).max(0) as u32;
            if v.is_empty() {
                return Some(Issue::Warning("'max-age' expects an age parameter in seconds.".into()));
            }
        }
        "process-vary" => match v {
            "on" => c.process_vary = true,
            "off" => c.process_vary = false,
            _ => return Some(Issue::Warning("'process-vary' expects \"on\" or \"off\" (enable or disable vary processing).".into())),
        },
        _ => match number(v) {
            None if v.is_empty() => {
                return Some(Issue::Fatal(vec![
                    "'max-secondary-entries' expects a strictly positive number.".into(),
                    "max-secondary-entries wrong value ''".into(),
                ]))
            }
            Some(0) | None => return Some(Issue::Fatal(vec![format!("max-secondary-entries wrong value '{v}'")])),
            Some(n) => c.max_secondary_entries = u32::try_from(n).unwrap_or(u32::MAX),
        },
    }
    None
}

/// C's `atoi`: the leading digits (with a sign), 0 without.
fn leading_int(s: &str) -> i64 {
    let s = s.trim_start();
    let (neg, digits) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let end = digits.bytes().position(|b| !b.is_ascii_digit()).unwrap_or(digits.len());
    let n = digits[..end].parse::<i64>().unwrap_or(0).min(i64::from(i32::MAX));
    if neg { -n } else { n }
}

/// The end of a `cache` section: the size is required and bounds the object size.
pub fn end(p: &mut Parser, section: usize) {
    let c = &p.config.caches[section];
    let total = u64::from(c.total_max_size_mb) * 1024 * 1024;
    let msg = if c.total_max_size_mb == 0 {
        Some(format!("Size not specified for cache '{}'", c.name))
    } else if c.max_object_size > total / 2 {
        Some(format!("\"max-object-size\" is limited to an half of \"total-max-size\" => {}", total / 2))
    } else {
        None
    };
    if let Some(msg) = msg {
        let loc = c.location.clone();
        p.push(Diagnostic::plain(Severity::Alert, Some(&loc), msg));
    }
}

/// Post-parse: every `cache-use` and `cache-store` names a cache that exists (HAProxy's
/// message, which names its implicit `cache` filter).
pub fn check(config: &Config, diags: &mut Vec<Diagnostic>) {
    for proxy in config.proxies.iter().filter(|p| !p.disabled) {
        for f in proxy.cache_filters.iter().filter(|f| !config.caches.iter().any(|c| c.name == f.name)) {
            let kind = super::proxy_type_name(proxy.cap);
            diags.push(Diagnostic::plain(
                Severity::Alert,
                Some(&f.location),
                format!("config: {kind} '{}': unable to find the cache '{}' referenced by the filter 'cache'.", proxy.name, f.name),
            ));
        }
        for rule in &proxy.http_rules {
            let uses = matches!(
                (rule.list, rule.action.first().map(String::as_str)),
                (HttpRuleList::Request, Some("cache-use")) | (HttpRuleList::Response, Some("cache-store"))
            );
            let Some(name) = rule.action.get(1).filter(|_| uses) else { continue };
            if !config.caches.iter().any(|c| &c.name == name) {
                let kind = super::proxy_type_name(proxy.cap);
                diags.push(Diagnostic::plain(
                    Severity::Alert,
                    Some(&rule.location),
                    format!("config: {kind} '{}': unable to find the cache '{name}' referenced by the filter 'cache'.", proxy.name),
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atoi_reads_leading_digits() {
        assert_eq!(leading_int("60"), 60);
        assert_eq!(leading_int("abc"), 0);
        assert_eq!(leading_int("12s"), 12);
        assert_eq!(leading_int("-1"), -1);
    }
}
