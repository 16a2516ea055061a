//! HTTP keywords of the proxy sections that feed the log and the proxy's own responses:
//! `capture request|response header`, `capture cookie`, `unique-id-header`,
//! `errorfile`, `errorloc`, `errorloc302`, `errorloc303`, `errorfiles`, and the
//! `http-errors` section.
//!
//! Error files are read and checked while parsing (a missing file or a response that
//! does not parse is an alert at its line, as in HAProxy); `errorfiles` references are
//! resolved after parsing by [`resolve_error_pages`], which fills `Proxy::error_pages`.
//!
//! `log-format` and `unique-id-format` are compiled after parsing too
//! ([`check_formats`]), when the proxy's mode is known, as HAProxy does.

use super::{Current, Line, Parser};
use crate::config::diagnostic::Diagnostic;
use crate::config::model::Mode;
use crate::config::model::{
    CaptureCookie, CaptureHeader, Config, ErrorDirective, ErrorFile, HttpErrorsSection,
};
use crate::diag::Severity;
use crate::http::errors::{load_error_file, HANDLED_STATUSES};
use crate::log::LogFormat;
use crate::sample::usable::Place;
use std::path::PathBuf;
use std::sync::Arc;

/// HAProxy reads lengths and statuses with `atol`: leading digits, 0 when there are none.
fn atol(s: &str) -> i64 {
    let (neg, digits) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let v = digits
        .bytes()
        .take_while(u8::is_ascii_digit)
        .fold(0i64, |v, d| {
            v.saturating_mul(10).saturating_add(i64::from(d - b'0'))
        });
    if neg {
        -v
    } else {
        v
    }
}

fn len_arg(s: &str) -> usize {
    usize::try_from(atol(s)).unwrap_or(0)
}

/// `capture request header <name> len <n>`, `capture response header <name> len <n>`,
/// `capture cookie <name> len <n>` (frontends).
pub fn capture(p: &mut Parser, l: &Line) -> Result<(), String> {
    match l.arg(1) {
        "cookie" => {
            if l.args.len() < 5 {
                return Err("'capture' expects 'cookie' <cookie_name> 'len' <len>.".into());
            }
            p.draft().proxy.capture_cookie = Some(CaptureCookie {
                name: l.arg(2).to_string(),
                len: len_arg(l.arg(4)),
                location: l.loc.clone(),
            });
            Ok(())
        }
        dir @ ("request" | "response") => {
            if l.args.len() < 5 || l.arg(2) != "header" || l.arg(4) != "len" {
                return Err(format!(
                    "'capture {dir}' expects 'header' <header_name> 'len' <len>."
                ));
            }
            if let Some(extra) = l.args.get(6) {
                return Err(format!(
                    "'capture {dir}' cannot handle unexpected argument '{extra}'."
                ));
            }
            let decl = CaptureHeader {
                name: l.arg(3).to_string(),
                len: len_arg(l.arg(5)),
                location: l.loc.clone(),
            };
            let proxy = &mut p.draft().proxy;
            if dir == "request" {
                proxy.req_captures.push(decl);
            } else {
                proxy.res_captures.push(decl);
            }
            Ok(())
        }
        _ => Err("'capture' expects 'cookie' or 'request header' or 'response header'.".into()),
    }
}

/// `unique-id-header <name>`.
pub fn unique_id_header(p: &mut Parser, l: &Line) -> Result<(), String> {
    if l.arg(1).is_empty() {
        return Err("unique-id-header expects an argument.".into());
    }
    p.draft().proxy.unique_id_header = Some(l.arg(1).to_string());
    Ok(())
}

/// The status of an `errorfile` or `errorfiles` line, which must be one HAProxy
/// generates ([`HANDLED_STATUSES`]).
fn status_arg(kw: &str, s: &str) -> Result<u16, String> {
    let v = atol(s);
    u16::try_from(v)
        .ok()
        .filter(|s| HANDLED_STATUSES.contains(s))
        .ok_or_else(|| format!("{kw} : status code '{v}' not handled."))
}

/// Reads an `errorfile <status> <path>` line (`sep` is `" :"` in proxies and `":"` in
/// `http-errors` sections, as HAProxy words its usage message).
fn error_file(l: &Line, sep: &str) -> Result<ErrorFile, String> {
    if l.args.len() < 3 {
        return Err(format!(
            "errorfile{sep} expects <status_code> and <file> as arguments."
        ));
    }
    let status = status_arg("errorfile", l.arg(1))?;
    let response = load_error_file(l.arg(2)).map_err(|e| format!("errorfile : {e}"))?;
    Ok(ErrorFile {
        status,
        path: PathBuf::from(l.arg(2)),
        response: Arc::from(response),
        location: l.loc.clone(),
    })
}

/// `errorfile <status> <file>` in a proxy section.
pub fn errorfile(p: &mut Parser, l: &Line) -> Result<(), String> {
    let f = error_file(l, " :")?;
    p.draft()
        .proxy
        .error_directives
        .push(ErrorDirective::File(f));
    Ok(())
}

/// `errorloc <status> <url>` and `errorloc302` (a 302 to `url` instead of the page),
/// `errorloc303` (a 303).
pub fn errorloc(p: &mut Parser, l: &Line) -> Result<(), String> {
    let kw = l.arg(0);
    if l.args.len() < 3 {
        return Err(format!(
            "{kw} : expects <status_code> and <url> as arguments."
        ));
    }
    let status = status_arg(kw, l.arg(1))?;
    let code = if kw == "errorloc303" { 303 } else { 302 };
    let response = crate::http::errors::redirect_page(code, l.arg(2));
    p.draft()
        .proxy
        .error_directives
        .push(ErrorDirective::Redirect {
            status,
            response: Arc::from(response),
            location: l.loc.clone(),
        });
    Ok(())
}

/// `errorfiles <name> [<status> ...]`.
pub fn errorfiles(p: &mut Parser, l: &Line) -> Result<(), String> {
    if l.arg(1).is_empty() {
        return Err("errorfiles : expects <name> as argument.".into());
    }
    let statuses = l.args[2..]
        .iter()
        .map(|s| status_arg("errorfiles", s))
        .collect::<Result<Vec<u16>, String>>()?;
    p.draft()
        .proxy
        .error_directives
        .push(ErrorDirective::Section {
            name: l.arg(1).to_string(),
            statuses,
            location: l.loc.clone(),
        });
    Ok(())
}

/// `http-errors <name>`: opens the section (the caller has closed the previous one).
pub(super) fn start_http_errors(p: &mut Parser, l: &Line) -> Current {
    let name = l.arg(1);
    if name.is_empty() {
        p.alert(&l.loc, "missing name for http-errors section.");
        return Current::Unsupported;
    }
    if let Some(other) = p.config.http_errors.iter().find(|s| s.name == name) {
        let msg = format!(
            "http-errors section '{name}' already exists (declared at {}).",
            other.location
        );
        p.alert_directive(&l.loc, msg);
        return Current::Unsupported;
    }
    Current::HttpErrors(Box::new(HttpErrorsSection {
        name: name.to_string(),
        files: Vec::new(),
        location: l.loc.clone(),
    }))
}

/// One line inside an `http-errors` section: only `errorfile`.
pub(super) fn http_errors_line(p: &mut Parser, l: &Line) {
    if l.args[0] != "errorfile" {
        p.alert(
            &l.loc,
            format!("unknown keyword '{}' in 'http-errors' section", l.args[0]),
        );
        return;
    }
    let file = match error_file(l, ":") {
        Ok(f) => f,
        Err(e) if e.starts_with("errorfile:") => return p.alert_directive(&l.loc, e),
        Err(e) => return p.alert(&l.loc, e),
    };
    if let Current::HttpErrors(section) = &mut p.current {
        section.files.push(file);
    }
}

/// After parsing: each proxy's `errorfile` and `errorfiles` lines, in order, become its
/// `error_pages` (a later line wins for a status). An unknown section is an alert, a
/// status the section does not declare a warning, with HAProxy's messages.
pub fn resolve_error_pages(config: &mut Config, diags: &mut Vec<Diagnostic>) {
    let sections = &config.http_errors;
    for proxy in &mut config.proxies {
        let mut pages: Vec<(u16, Arc<[u8]>)> = Vec::new();
        // `None`: the status has no page of this proxy (`http-error ... default-errorfiles`).
        let mut set = |status: u16, page: Option<&Arc<[u8]>>| {
            pages.retain(|(s, _)| *s != status);
            pages.extend(page.map(|p| (status, p.clone())));
        };
        for d in &proxy.error_directives {
            match d {
                ErrorDirective::File(f) => set(f.status, Some(&f.response)),
                // Per-response replies: resolved by `http_extra::resolve_replies`.
                ErrorDirective::Default { status, .. } | ErrorDirective::Reply(crate::config::model::HttpErrorReply { status, .. }) => set(*status, None),
                ErrorDirective::Redirect {
                    status, response, ..
                } => set(*status, Some(response)),
                ErrorDirective::Section {
                    name,
                    statuses,
                    location,
                } => {
                    let Some(section) = sections.iter().find(|s| &s.name == name) else {
                        diags.push(Diagnostic::plain(
                            Severity::Alert,
                            None,
                            format!(
                                "proxy '{}': unknown http-errors section '{name}' (at {location}).",
                                proxy.name
                            ),
                        ));
                        continue;
                    };
                    if statuses.is_empty() {
                        section
                            .files
                            .iter()
                            .for_each(|f| set(f.status, Some(&f.response)));
                    }
                    for st in statuses {
                        match section.files.iter().rev().find(|f| f.status == *st) {
                            Some(f) => set(f.status, Some(&f.response)),
                            None => diags.push(Diagnostic::plain(
                                Severity::Warning,
                                None,
                                format!(
                                    "config: proxy '{}' : status '{st}' not declared in http-errors section '{name}' (at {location}).",
                                    proxy.name
                                ),
                            )),
                        }
                    }
                }
            }
        }
        pages.sort_by_key(|(s, _)| *s);
        proxy.error_pages = pages;
    }
}

/// `log-format <fmt>`: [`super::proxy::log_format`], and where it was written.
pub fn log_format(p: &mut Parser, l: &Line) -> Result<(), String> {
    super::proxy::log_format(p, l)?;
    p.draft().proxy.log_format_at = Some(l.loc.clone());
    Ok(())
}

/// `unique-id-format <fmt>`: [`super::proxy::unique_id_format`], and where.
pub fn unique_id_format(p: &mut Parser, l: &Line) -> Result<(), String> {
    super::proxy::unique_id_format(p, l)?;
    p.draft().proxy.unique_id_format_at = Some(l.loc.clone());
    Ok(())
}

/// Compiles the `log-format` and `unique-id-format` of every proxy with a frontend
/// (backends ignore them) for its mode. Errors are HAProxy's
/// `Parsing [file:line]: failed to parse log-format : <reason>` (`unique-id` for the
/// other), reported once per line even when several proxies inherit it.
pub fn check_formats(config: &Config, diags: &mut Vec<Diagnostic>) {
    let mut seen: Vec<String> = Vec::new();
    for proxy in config.proxies.iter().filter(|p| p.cap.frontend) {
        let formats = [
            (
                "log-format",
                &proxy.log_format,
                &proxy.log_format_at,
                proxy.mode,
            ),
            // The unique id is built for HTTP and TCP streams alike.
            (
                "unique-id",
                &proxy.unique_id_format,
                &proxy.unique_id_format_at,
                Mode::Http,
            ),
        ];
        for (what, fmt, at, mode) in formats {
            let (Some(fmt), Some(at)) = (fmt, at) else {
                continue;
            };
            // The unique id is built once the request is in: no response data yet (2.6's
            // refusal). A log line, beyond 2.6, can read the request and response headers
            // (doc/logging.md), so `log-format` is not checked this way.
            let unusable = match what {
                "unique-id" => crate::sample::usable::check_log_format(fmt, Place::FeHttpRequest).map(|m| m + "."),
                _ => None,
            };
            if let Some(m) = unusable.or_else(|| LogFormat::compile_for(fmt, mode).err().map(|e| e.message)) {
                let msg = format!("Parsing [{at}]: failed to parse {what} : {m}");
                if !seen.contains(&msg) {
                    diags.push(Diagnostic::plain(Severity::Alert, Some(at), msg.clone()));
                    seen.push(msg);
                }
            }
        }
    }
}
