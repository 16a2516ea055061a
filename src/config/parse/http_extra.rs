//! HTTP keywords of proxies that are small enough to share a file:
//! `http-send-name-header`, `http-error`.

use super::{Line, Parser};
use crate::config::model::{Config, ErrorDirective, ErrorFile, HttpErrorReply};
use crate::http::errors::{load_error_file, HANDLED_STATUSES};
use std::path::PathBuf;
use std::sync::Arc;

/// `http-send-name-header <name>`: the chosen server's name goes to the server in
/// this request header. HAProxy 2.6 requires the name (its manual's
/// `X-Server-Name`-style examples are only examples).
pub fn send_name_header(p: &mut Parser, l: &Line) -> Result<(), String> {
    let name = l.arg(1);
    if name.is_empty() {
        return Err("'http-send-name-header' requires a header string.".into());
    }
    p.draft().proxy.options.http.send_name_header = Some(name.to_string());
    Ok(())
}

/// `http-error status <code> [content-type <type>] [default-errorfiles | errorfile <file>
/// | errorfiles <name> | file <file> | lf-file <file> | string <str> | lf-string <fmt>]
/// [hdr <name> <fmt>]*`: the response the proxy sends for its own `<code>` errors, like
/// `errorfile` (the same list, so a later line wins for a status).
///
/// Without log-format parts the response is built once, at load, and joins the
/// `errorfile` pages; with them (`lf-string`, `lf-file`, a `hdr` value with `%`) it is
/// rendered for each response (`crate::stream::error_reply`).
pub fn http_error(p: &mut Parser, l: &Line) -> Result<(), String> {
    let d = http_error_directive(l)?;
    p.draft().proxy.error_directives.push(d);
    Ok(())
}

fn http_error_directive(l: &Line) -> Result<ErrorDirective, String> {
    let args = &l.args[1..];
    if args.first().map(String::as_str) != Some("status") || args.len() < 2 {
        return Err("http-error : expects at least a <status> as arguments.\n".into());
    }
    let status = u16::try_from(atol(&args[1]))
        .ok()
        .filter(|s| HANDLED_STATUSES.contains(s))
        .ok_or_else(|| format!("http-error: status code '{}' not handled.", atol(&args[1])))?;
    let err = |m: String| format!("http-error : {m}");
    enum Body {
        None,
        Bytes(Vec<u8>),
        /// `lf-string` / `lf-file`: a log-format string.
        Format(String),
        /// A whole response (`errorfile`).
        Page(Vec<u8>),
        Section(String),
        Default,
    }
    let mut body = Body::None;
    let mut content_type: Option<String> = None;
    let mut headers: Vec<(String, String)> = Vec::new();
    let mut i = 2;
    let value = |i: usize, what: &str| -> Result<String, String> {
        args.get(i + 1)
            .filter(|a| !a.is_empty())
            .cloned()
            .ok_or_else(|| err(format!("'{}' expects {what} as argument", args[i])))
    };
    let check_fmt = |f: &str| crate::http::rules::Fmt::parse(f).map(|_| ()).map_err(|e| format!("http-error : {e}"));
    while i < args.len() {
        match args[i].as_str() {
            "content-type" => content_type = Some(value(i, "<ctype>")?),
            "string" => body = Body::Bytes(value(i, "<str>")?.into_bytes()),
            "file" => {
                let path = value(i, "<file>")?;
                let data = std::fs::read(&path).map_err(|_| err(format!("error opening file '{path}'")))?;
                body = Body::Bytes(data);
            }
            "errorfile" => {
                let path = value(i, "<file>")?;
                body = Body::Page(load_error_file(&path).map_err(err)?);
            }
            "errorfiles" => body = Body::Section(value(i, "<name>")?),
            "default-errorfiles" => {
                body = Body::Default;
                i += 1;
                continue;
            }
            "hdr" => {
                let (Some(n), Some(v)) = (args.get(i + 1), args.get(i + 2)) else {
                    return Err(err("'hdr' expects <name> and <value> as arguments".into()));
                };
                check_fmt(v)?;
                headers.push((n.to_ascii_lowercase(), v.clone()));
                i += 3;
                continue;
            }
            "lf-string" => {
                let f = value(i, "<fmt>")?;
                check_fmt(&f)?;
                body = Body::Format(f);
            }
            "lf-file" => {
                let path = value(i, "<file>")?;
                let data = std::fs::read(&path).map_err(|_| err(format!("error opening file '{path}'")))?;
                let f = String::from_utf8_lossy(&data).into_owned();
                check_fmt(&f)?;
                body = Body::Format(f);
            }
            other => return Err(err(format!("unknown keyword '{other}'."))),
        }
        i += 2;
    }
    let dynamic = matches!(body, Body::Format(_)) || headers.iter().any(|(_, v)| v.contains('%'));
    if dynamic {
        let (bytes, body_is_format) = match body {
            Body::Format(f) => (f.into_bytes(), true),
            Body::Bytes(b) => (b, false),
            _ => (Vec::new(), false),
        };
        if content_type.is_none() && !bytes.is_empty() {
            return Err(err("a content type must be defined when non-empty payload is configured".into()));
        }
        return Ok(ErrorDirective::Reply(HttpErrorReply { status, content_type, body: bytes, body_is_format, headers, location: l.loc.clone() }));
    }
    let response = match body {
        Body::Format(_) => unreachable!("dynamic replies returned above"),
        Body::Section(name) => {
            return Ok(ErrorDirective::Section { name, statuses: vec![status], location: l.loc.clone() });
        }
        Body::Default => return Ok(ErrorDirective::Default { status, location: l.loc.clone() }),
        Body::Page(page) => page,
        Body::None => reply(status, &headers, None, b""),
        Body::Bytes(b) => match content_type.as_deref() {
            None if !b.is_empty() => {
                return Err(err("a content type must be defined when non-empty payload is configured".into()))
            }
            ct => reply(status, &headers, ct, &b),
        },
    };
    Ok(ErrorDirective::File(ErrorFile {
        status,
        path: PathBuf::from("http-error"),
        response: Arc::from(response),
        location: l.loc.clone(),
    }))
}

/// After `resolve_error_pages`: each proxy's per-response `http-error` replies that no
/// later error directive overrides for their status.
pub fn resolve_replies(config: &mut Config) {
    let sections = config.http_errors.clone();
    for proxy in &mut config.proxies {
        let d = &proxy.error_directives;
        let covers = |dir: &ErrorDirective, st: u16| match dir {
            ErrorDirective::File(f) => f.status == st,
            ErrorDirective::Redirect { status, .. } | ErrorDirective::Default { status, .. } => *status == st,
            ErrorDirective::Reply(r) => r.status == st,
            ErrorDirective::Section { name, statuses, .. } => {
                statuses.contains(&st)
                    || (statuses.is_empty() && sections.iter().any(|s| &s.name == name && s.files.iter().any(|f| f.status == st)))
            }
        };
        proxy.error_replies = d
            .iter()
            .enumerate()
            .filter_map(|(i, dir)| match dir {
                ErrorDirective::Reply(r) if !d[i + 1..].iter().any(|later| covers(later, r.status)) => Some(r.clone()),
                _ => None,
            })
            .collect();
    }
}

/// A response as HAProxy 2.6 builds `http-error` and `return` ones: the `hdr` fields,
/// then `content-length`, then `content-type`.
fn reply(status: u16, headers: &[(String, String)], content_type: Option<&str>, body: &[u8]) -> Vec<u8> {
    let mut out = format!("HTTP/1.1 {status} {}\r\n", crate::http::errors::reason(status)).into_bytes();
    for (n, v) in headers {
        out.extend_from_slice(format!("{n}: {v}\r\n").as_bytes());
    }
    out.extend_from_slice(format!("content-length: {}\r\n", body.len()).as_bytes());
    if let Some(ct) = content_type {
        out.extend_from_slice(format!("content-type: {ct}\r\n").as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
    out
}

/// HAProxy's `atol`: leading digits (with an optional sign), 0 when there are none.
fn atol(s: &str) -> i64 {
    let s = s.trim_start();
    let (neg, digits) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let n = digits.bytes().take_while(u8::is_ascii_digit).fold(0i64, |n, d| n.saturating_mul(10).saturating_add(i64::from(d - b'0')));
    if neg { -n } else { n }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::model::Location;

    fn line(s: &str) -> Line {
        Line { args: s.split(' ').map(String::from).collect(), loc: Location { file: "t".into(), line: 1 } }
    }

    fn page(s: &str) -> String {
        match http_error_directive(&line(s)) {
            Ok(ErrorDirective::File(f)) => String::from_utf8(f.response.to_vec()).unwrap(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn static_replies_in_haproxy_order() {
        assert_eq!(
            page("http-error status 503 content-type text/plain string hi hdr X-A a"),
            "HTTP/1.1 503 Service Unavailable\r\nx-a: a\r\ncontent-length: 2\r\ncontent-type: text/plain\r\n\r\nhi"
        );
        assert_eq!(page("http-error status 429"), "HTTP/1.1 429 Too Many Requests\r\ncontent-length: 0\r\n\r\n");
    }

    #[test]
    fn errors_as_haproxy_words_them() {
        let e = |s: &str| http_error_directive(&line(s)).unwrap_err();
        assert_eq!(e("http-error status 299"), "http-error: status code '299' not handled.");
        assert_eq!(e("http-error status 503 string x"), "http-error : a content type must be defined when non-empty payload is configured");
        assert_eq!(e("http-error status 503 bogus"), "http-error : unknown keyword 'bogus'.");
        assert!(matches!(http_error_directive(&line("http-error status 503 content-type t lf-string %[path]")), Ok(ErrorDirective::Reply(_))));
        assert!(matches!(http_error_directive(&line("http-error status 503 hdr x %[path]")), Ok(ErrorDirective::Reply(_))));
        assert!(matches!(http_error_directive(&line("http-error status 503 errorfiles s")), Ok(ErrorDirective::Section { .. })));
    }
}
