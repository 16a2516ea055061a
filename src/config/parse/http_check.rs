//! HTTP health checks: `option httpchk` and the `http-check` keyword.
//!
//! Both fill [`Proxy::http_check`](crate::config::model::Proxy::http_check), read by the
//! backend at start-up (`crate::backend::check::HttpProbe`). HAProxy 2.6 semantics:
//! - `option httpchk [<method> <uri> [<version>]]` enables the check and sets the
//!   request line (default `OPTIONS / HTTP/1.0`). The pre-2.2 form hides header lines
//!   after `\r\n` in the version (`HTTP/1.1\r\nHost:\ www`): still accepted, with
//!   HAProxy's deprecation warning.
//! - `http-check send [meth <m>] [uri <u>] [ver <v>] [hdr <name> <value>]... [body <s>]`
//!   overrides parts of that request.
//! - `http-check expect [!] status|rstatus|string|rstring <pattern>` adds a rule; every
//!   rule must match. Without rules, a 2xx or 3xx status passes.
//! - `http-check connect [port <n>]`, `http-check disable-on-404`.
//!
//! Inheritance, as HAProxy 2.6 does it: `option httpchk` and the `http-check` rules
//! of a `defaults` section form one rule set, inherited only by a proxy that has no
//! rule (nor `option httpchk`) of its own. A proxy with its own rules starts from
//! scratch: its `expect` rules alone send no request at all. `http-check` rules
//! without `option httpchk` are ignored, with a warning (see `checks.rs`).
//!
//! Error messages are HAProxy's, word for word.

use super::{Line, Parser};
use crate::config::keywords::Section;
use crate::config::model::{HttpCheck, HttpCheckExpect, HttpCheckMatch};

/// The check of the proxy being parsed, created on first use. A proxy inheriting
/// rules from `defaults` starts over on its first rule of its own (`rule`); whether
/// the check is enabled and `disable-on-404` are options, not rules, and stay.
fn check(p: &mut Parser, rule: bool) -> &mut HttpCheck {
    let in_defaults = p.draft().section == Section::Defaults;
    let hc = p.draft().proxy.http_check.get_or_insert_with(HttpCheck::default);
    if in_defaults {
        hc.inherited = true;
    } else if rule && hc.inherited {
        *hc = HttpCheck {
            enabled: hc.enabled,
            disable_on_404: hc.disable_on_404,
            ..HttpCheck::default()
        };
    }
    hc
}

/// `option httpchk [<method> <uri> [<version>]]`. `args` start after `httpchk`; the
/// caller checked the section and the option's state. `no option httpchk` is an
/// error, as in HAProxy.
pub fn option_httpchk(p: &mut Parser, l: &Line, negate: bool, args: &[String]) -> Result<(), String> {
    if negate {
        p.alert_directive(&l.loc, "negation/default is not supported for option 'httpchk'.");
        return Ok(());
    }
    if let Some(extra) = args.get(3) {
        return Err(format!("'option httpchk' cannot handle unexpected argument '{extra}'."));
    }
    let mut hidden = Vec::new();
    let version = args.get(2).map(|v| {
        let mut parts = v.split("\r\n");
        let version = parts.next().unwrap_or_default().to_string();
        hidden.extend(parts.filter(|h| !h.is_empty()).map(str::to_string));
        version
    });
    if !hidden.is_empty() {
        // HAProxy's directive shape: no blank before the first colon.
        p.push(
            crate::config::diagnostic::Diagnostic::warning(
                &l.loc,
                "'option httpchk' : hiding headers or body at the end of the version string is deprecated. Please, consider to use 'http-check send' directive instead.",
            )
            .with_style(crate::config::diagnostic::Style::Directive),
        );
    }
    let hc = check(p, true);
    hc.enabled = true;
    hc.send = true;
    let (method, uri) = match args {
        [] => ("OPTIONS", "/"),
        [uri] => ("OPTIONS", uri.as_str()),
        [method, uri, ..] => (method.as_str(), uri.as_str()),
    };
    hc.method = method.to_string();
    hc.uri = uri.to_string();
    hc.version = version.unwrap_or_else(|| "HTTP/1.0".to_string());
    for h in hidden {
        let (name, value) = h.split_once(':').unwrap_or((&h, ""));
        hc.headers.push((name.trim().to_string(), value.trim().to_string()));
    }
    Ok(())
}

/// `http-check <action> ...`.
pub fn http_check(p: &mut Parser, l: &Line) -> Result<(), String> {
    match l.arg(1) {
        "disable-on-404" => {
            if let Some(extra) = l.args.get(2) {
                return Err(format!("'http-check' cannot handle unexpected argument '{extra}'."));
            }
            check(p, false).disable_on_404 = true;
            Ok(())
        }
        "send" => send(p, l),
        "expect" => expect(p, l),
        "connect" => connect(p, l),
        // A comment rule only labels the rules after it in HAProxy's reports.
        "comment" => Ok(()),
        kw @ "send-state" => Err(super::not_supported(&format!("http-check {kw}"))),
        kw if kw.starts_with("set-var") || kw.starts_with("unset-var") => {
            Err(super::not_supported(&format!("http-check {kw}")))
        }
        other => Err(format!(
            "'http-check' only supports 'disable-on-404', 'send-state', 'comment', 'connect', 'send', 'expect', 'set-var-fmt(*)', 'set-var(*)', 'unset-var(*)'. but got '{other}'"
        )),
    }
}

/// `http-check send [meth <m>] [uri <u>] [ver <v>] [hdr <n> <v>]... [body <s>]`.
fn send(p: &mut Parser, l: &Line) -> Result<(), String> {
    const CTX: &str = "'http-check send'";
    let mut meth = None;
    let mut uri = None;
    let mut ver = None;
    let mut headers = Vec::new();
    let mut body = None;
    let mut i = 2;
    while i < l.args.len() {
        let kw = l.arg(i);
        let value = l.args.get(i + 1);
        match kw {
            "meth" | "uri" | "ver" | "body" => {
                let v = value.ok_or_else(|| format!("{CTX} : '{kw}' expects a string as argument.."))?;
                let slot = match kw {
                    "meth" => &mut meth,
                    "uri" => &mut uri,
                    "ver" => &mut ver,
                    _ => &mut body,
                };
                *slot = Some(v.clone());
                i += 2;
            }
            "hdr" => {
                let (Some(n), Some(v)) = (value, l.args.get(i + 2)) else {
                    return Err(format!("{CTX} : 'hdr' expects <name> and <value> as arguments."));
                };
                headers.push((n.clone(), v.clone()));
                i += 3;
            }
            "comment" => i += 2,
            "uri-lf" | "body-lf" => {
                return Err(super::not_supported(&format!("http-check send {kw}")));
            }
            _ => {
                return Err(format!(
                    "{CTX} : expects 'comment', 'meth', 'uri', 'uri-lf', 'ver', 'hdr', 'body' or 'body-lf' but got '{kw}' as argument.."
                ))
            }
        }
    }
    let hc = check(p, true);
    hc.send = true;
    if let Some(m) = meth {
        hc.method = m;
    }
    if let Some(u) = uri {
        hc.uri = u;
    }
    if let Some(v) = ver {
        hc.version = v;
    }
    hc.headers.extend(headers);
    if let Some(b) = body {
        hc.body = b;
    }
    Ok(())
}

/// `http-check expect [!] <match> <pattern>`.
fn expect(p: &mut Parser, l: &Line) -> Result<(), String> {
    const CTX: &str = "'http-check expect'";
    let mut i = 2;
    let mut negate = false;
    while l.arg(i) == "!" {
        negate = !negate;
        i += 1;
    }
    let kw = l.arg(i);
    if kw.is_empty() {
        return Err(format!("{CTX} : expects at least a matching pattern as arguments."));
    }
    let only = |got: &str| {
        format!(
            "{CTX} : 'only supports min-recv, [!]string', '[!]rstring', '[!]string-lf', '[!]status', '[!]rstatus', [!]hdr, [!]fhdr or comment but got '{got}' as argument.."
        )
    };
    if !matches!(kw, "status" | "rstatus" | "string" | "rstring") {
        if matches!(kw, "min-recv" | "string-lf" | "hdr" | "fhdr" | "comment") {
            return Err(super::not_supported(&format!("http-check expect {kw}")));
        }
        return Err(only(kw));
    }
    let Some(pattern) = l.args.get(i + 1) else {
        return Err(format!("{CTX} : '{kw}' expects a <pattern> as argument."));
    };
    // Options after the pattern: a comment, or what moonproxy does not do yet.
    let mut j = i + 2;
    while let Some(opt) = l.args.get(j) {
        match opt.as_str() {
            "comment" if l.args.get(j + 1).is_none() => {
                return Err(format!("{CTX} : 'comment' expects a string as argument."));
            }
            "comment" => j += 2,
            "min-recv" | "ok-status" | "error-status" | "tout-status" | "on-success" | "on-error"
            | "status-code" => return Err(super::not_supported(&format!("http-check expect {opt}"))),
            _ => return Err(only(opt)),
        }
    }
    let kind = match kw {
        "status" => HttpCheckMatch::Status(status_list(pattern).map_err(|e| format!("{CTX} : {e}"))?),
        "string" => HttpCheckMatch::String(pattern.clone()),
        _ => {
            crate::sample::regex::Regex::new(pattern.as_bytes(), false).map_err(|e| format!("{CTX} : {e}."))?;
            if kw == "rstatus" {
                HttpCheckMatch::RStatus(pattern.clone())
            } else {
                HttpCheckMatch::RString(pattern.clone())
            }
        }
    };
    check(p, true).expects.push(HttpCheckExpect { negate, kind });
    Ok(())
}

/// A status list: `200`, `200-399`, `200,302,400-403`.
fn status_list(s: &str) -> Result<Vec<(u16, u16)>, String> {
    if let Some(c) = s.chars().find(|c| !c.is_ascii_digit() && *c != ',' && *c != '-') {
        return Err(format!("invalid character '{c}' in the list of status codes."));
    }
    s.split(',')
        .filter(|r| !r.is_empty())
        .map(|r| {
            let (lo, hi) = r.split_once('-').unwrap_or((r, r));
            let num = |v: &str| v.parse::<u16>().map_err(|_| format!("invalid range of status codes '{r}'."));
            Ok((num(lo)?, num(hi)?))
        })
        .collect()
}

/// The `port <n>` of an `http-check connect` or `tcp-check connect` rule (`ctx` names
/// the rule in HAProxy's messages).
pub(super) fn connect_port(ctx: &str, value: Option<&String>) -> Result<u16, String> {
    let Some(v) = value else {
        return Err(format!("{ctx} : 'port' expects a port number or a sample expression as argument.."));
    };
    match v.parse::<u32>() {
        Ok(n) if (1..=65535).contains(&n) => Ok(n as u16),
        _ => Err(format!("{ctx} : expects a valid TCP port (from range 1 to 65535) or a sample expression, got {v}..")),
    }
}

/// `http-check connect [port <n>] [comment <text>]`.
fn connect(p: &mut Parser, l: &Line) -> Result<(), String> {
    const CTX: &str = "'http-check connect'";
    let mut port = None;
    let mut i = 2;
    while i < l.args.len() {
        match l.arg(i) {
            "port" => {
                port = Some(connect_port(CTX, l.args.get(i + 1))?);
                i += 2;
            }
            "comment" => i += 2,
            other => return Err(super::not_supported(&format!("http-check connect {other}"))),
        }
    }
    check(p, true).connect_port = port;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::status_list;

    #[test]
    fn status_lists_take_codes_and_ranges() {
        assert_eq!(status_list("200").unwrap(), vec![(200, 200)]);
        assert_eq!(status_list("200-399,404").unwrap(), vec![(200, 399), (404, 404)]);
        assert_eq!(status_list("abc").unwrap_err(), "invalid character 'a' in the list of status codes.");
    }
}
