//! `http-request`, `http-response`, `http-after-response`, `tcp-request` and
//! `tcp-response` lines: split into the action and its condition, checked with the
//! same code that compiles them (`crate::http::rules::Action::parse`), and stored in
//! the model in order.
//!
//! HAProxy 2.6 accepts these rules in a *named* `defaults` section only (proxies that
//! name it with `from` run its rules before their own); an anonymous one is refused.

use super::{Line, Parser};
use crate::config::keywords::Section;
use crate::config::diagnostic::Diagnostic;
use crate::config::model::{Config, HttpRuleConf, HttpRuleList, Mode, TcpAction, TcpRuleConf, TcpRuleList};
use crate::diag::Severity;
use crate::http::rules::{Action, ActionError};
use crate::sample::usable::Place;
use crate::sample::{Expr, VarName};

/// Splits `words` at the first `if`/`unless` and parses the condition after it.
/// `what` names the rule in condition errors (`'http-request deny'`); `place` is
/// where the rule runs, with the rule kind `tcp-*` warnings name.
fn split_cond(
    p: &mut Parser,
    l: &Line,
    words: &[String],
    what: &str,
    place: (Place, Option<&str>),
) -> Result<(Vec<String>, Option<crate::config::model::Condition>), String> {
    let Some(at) = words.iter().position(|w| w == "if" || w == "unless") else {
        return Ok((words.to_vec(), None));
    };
    let acls = p.draft().proxy.acls.clone();
    let mut cond = super::acl::parse_condition(words[at] == "unless", &words[at + 1..], &acls, &l.loc)
        .map_err(|e| format!("error detected while parsing an '{what}' condition : {e}."))?;
    check_cond_place(p, l, &mut cond, place);
    Ok((words[..at].to_vec(), Some(cond)))
}

/// HAProxy's warning for an ACL whose fetch cannot run at `place`; the term then
/// never matches (see [`super::acl::check_place`]). Not in a `defaults` section,
/// whose rules run in proxies of either kind.
pub(super) fn check_cond_place(p: &mut Parser, l: &Line, cond: &mut crate::config::model::Condition, (place, rule): (Place, Option<&str>)) {
    if p.draft().section == Section::Defaults {
        return;
    }
    let acls = &p.draft().proxy.acls;
    if let Some(w) = super::acl::check_place(cond, acls, place, rule) {
        p.warn(&l.loc, w);
    }
}

/// The request-side rule kinds in the order a stream runs them, whatever the order
/// of the lines: HAProxy warns about a rule written after one that runs later.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Stage {
    TcpConnection,
    TcpContent,
    HttpRequest,
    Redirect,
    UseBackend,
}

/// HAProxy's "a 'X' rule placed after a 'Y' rule will still be processed before."
/// for a `stage` rule (written `kw`), naming the earliest later kind present.
pub(super) fn warn_misplaced(p: &mut Parser, l: &Line, stage: Stage, kw: &str) {
    let d = &p.draft().proxy;
    let has = |s: Stage| match s {
        Stage::TcpConnection => d.tcp_rules.iter().any(|r| r.list == TcpRuleList::Connection && r.action.is_some()),
        Stage::TcpContent => d.tcp_rules.iter().any(|r| r.list == TcpRuleList::Content && r.action.is_some()),
        Stage::HttpRequest => d.http_rules.iter().any(|r| r.list == HttpRuleList::Request && !r.redirect_keyword),
        Stage::Redirect => d.http_rules.iter().any(|r| r.redirect_keyword),
        Stage::UseBackend => !d.use_backends.is_empty(),
    };
    let later = [Stage::TcpContent, Stage::HttpRequest, Stage::Redirect, Stage::UseBackend].into_iter().find(|&s| s > stage && has(s));
    let Some(later) = later else { return };
    let after = match later {
        Stage::TcpContent => "a 'tcp-request content'",
        Stage::HttpRequest => "an 'http-request'",
        Stage::Redirect => "a 'redirect'",
        _ => "a 'use_backend'",
    };
    p.warn(&l.loc, format!("a '{kw}' rule placed after {after} rule will still be processed before."));
}

/// Refuses rules in an anonymous `defaults` section, as HAProxy 2.6 does.
fn check_defaults(p: &mut Parser, kw: &str) -> Result<(), String> {
    let d = p.draft();
    if d.section == Section::Defaults && d.proxy.name.is_empty() {
        return Err(format!("'{kw}' not allowed in anonymous 'defaults' section."));
    }
    Ok(())
}

/// `http-request|http-response|http-after-response <action> [args] [if|unless <cond>]`
pub fn http_rule(p: &mut Parser, l: &Line) -> Result<(), String> {
    let kw = l.arg(0);
    let list = match kw {
        "http-request" => HttpRuleList::Request,
        "http-response" => HttpRuleList::Response,
        _ => HttpRuleList::AfterResponse,
    };
    check_defaults(p, kw)?;
    let action = l.arg(1);
    let what = format!("{kw} {action}");
    let cap = p.draft().proxy.cap;
    if list == HttpRuleList::Request {
        warn_misplaced(p, l, Stage::HttpRequest, kw);
    }
    let place = match list {
        HttpRuleList::Request => Place::request(true, cap.frontend),
        HttpRuleList::Response | HttpRuleList::AfterResponse => Place::response(true, cap.backend),
    };
    let (words, cond) = split_cond(p, l, &l.args[1..], &what, (place, None))?;
    let captures = p
        .draft()
        .proxy
        .http_rules
        .iter()
        .filter(|r| r.list == list && r.action.first().is_some_and(|a| a == "capture") && r.action.get(2).is_some_and(|k| k == "len"))
        .count();
    let desc = p.draft().describe();
    let name = p.draft().proxy.name.clone();
    // 2.6 checks this once the arguments are counted, before reading them.
    if list == HttpRuleList::Request && action == "set-timeout" && words.len() >= 3 && !cap.backend && p.draft().section != Section::Defaults {
        return Err(format!("error detected in {desc} while parsing '{what}' rule : proxy '{name}' has no backend capability."));
    }
    if let Err(e) = Action::parse(list, &words, &name, captures) {
        match e {
            ActionError::UnknownAction(m) => {
                p.alert_directive(&l.loc, format!("'{kw}' {m}."));
                return Ok(());
            }
            ActionError::NotSupported(what) => return Err(super::not_supported(&what)),
            // Arguments the action did not take: HAProxy reads them as a bad condition keyword.
            ActionError::Args(m) if m.starts_with("unexpected keyword") && cond.is_none() => {
                let extra = m.split('\'').nth(1).unwrap_or("");
                p.alert_directive(
                    &l.loc,
                    format!("'{what}' expects either 'if' or 'unless' followed by a condition but found '{extra}'."),
                );
                return Ok(());
            }
            ActionError::Args(m) => {
                return Err(format!("error detected in {desc} while parsing '{what}' rule : {m}."))
            }
        }
    }
    if let Some(m) = unusable_sample(p, &words, place) {
        return Err(format!("error detected in {desc} while parsing '{what}' rule : {m}."));
    }
    p.draft().proxy.http_rules.push(HttpRuleConf { list, action: words, cond, location: l.loc.clone(), redirect_keyword: false });
    Ok(())
}

/// HAProxy 2.6 refuses a rule whose sample expression (`set-var`, `capture`) or
/// log-format argument (`set-header X %[status]` in `http-request`) starts with a fetch
/// that cannot run where the rule runs ([`crate::sample::usable`]). Not checked in a
/// `defaults` section, whose rules run in proxies of either kind, nor for Lua actions,
/// whose arguments are plain strings.
fn unusable_sample(p: &mut Parser, words: &[String], place: Place) -> Option<String> {
    use crate::sample::usable::{check_expr, check_log_format};
    let action = words.first()?;
    if p.draft().section == Section::Defaults || action.starts_with("lua.") {
        return None;
    }
    let addr = crate::stream::set_addr::AddrPart::from_keyword(action).is_some();
    let named_by_action = action.starts_with("set-var(") || action.starts_with("set-priority-");
    if named_by_action || action == "capture" || addr {
        if let Some((_, data)) = words.get(1).and_then(|e| check_expr(e, place)) {
            // 2.6 names the whole expression for `capture` and `set-src`..., the action
            // for `set-var` and `set-priority-*`.
            let name = if named_by_action { action } else { &words[1] };
            return Some(format!("fetch method '{name}' extracts information from '{data}', none of which is available here"));
        }
    }
    words[1..].iter().find_map(|w| check_log_format(w, place))
}

/// `redirect location|prefix|scheme <to> [options] [if|unless <cond>]`: an
/// `http-request redirect` run after the proxy's `http-request` rules.
pub fn redirect_rule(p: &mut Parser, l: &Line) -> Result<(), String> {
    warn_misplaced(p, l, Stage::Redirect, "redirect");
    let desc = p.draft().describe();
    let (words, cond) = match l.args.iter().position(|w| w == "if" || w == "unless") {
        None => (l.args.clone(), None),
        Some(at) => {
            let acls = p.draft().proxy.acls.clone();
            let mut c = super::acl::parse_condition(l.args[at] == "unless", &l.args[at + 1..], &acls, &l.loc).map_err(|e| {
                format!("error detected in {desc} while parsing redirect rule : error in condition: {e}.")
            })?;
            let place = Place::request(true, p.draft().proxy.cap.frontend);
            check_cond_place(p, l, &mut c, (place, None));
            (l.args[..at].to_vec(), Some(c))
        }
    };
    let name = p.draft().proxy.name.clone();
    Action::parse(HttpRuleList::Request, &words, &name, 0).map_err(|e| match e {
        ActionError::Args(m) | ActionError::UnknownAction(m) | ActionError::NotSupported(m) => {
            format!("error detected in {desc} while parsing redirect rule : {m}.")
        }
    })?;
    // (2.6 does not check the fetches of a `redirect` line's log-format, unlike
    // `http-request redirect`.)
    p.draft().proxy.http_rules.push(HttpRuleConf {
        list: HttpRuleList::Request,
        action: words,
        cond,
        location: l.loc.clone(),
        redirect_keyword: true,
    });
    Ok(())
}

/// `tcp-request connection|content <action> [if|unless <cond>]`,
/// `tcp-request inspect-delay <time>`, and the same for `tcp-response content`.
pub fn tcp_rule(p: &mut Parser, l: &Line) -> Result<(), String> {
    let kw = l.arg(0);
    check_defaults(p, kw)?;
    let desc = p.draft().describe();
    let response = kw == "tcp-response";
    let sub = l.arg(1);
    let cap = p.draft().proxy.cap;
    let list = match (response, sub) {
        (_, "inspect-delay") => None,
        (false, "connection") => Some(TcpRuleList::Connection),
        (false, "content") => Some(TcpRuleList::Content),
        (true, "content") => Some(TcpRuleList::ResponseContent),
        (false, _) => {
            return Err(format!("'{kw}' expects 'inspect-delay', 'connection', or 'content' in {desc} (got '{sub}')"))
        }
        (true, _) => return Err(format!("'{kw}' expects 'inspect-delay' or 'content' in {desc} (got '{sub}')")),
    };
    if response && !cap.backend && p.draft().section != Section::Defaults {
        return Err("tcp-response content is only allowed in 'backend' sections or 'defaults' section with a name".into());
    }
    if list == Some(TcpRuleList::Connection) && !cap.frontend && p.draft().section != Section::Defaults {
        return Err(format!("tcp-request connection is not allowed because {} {} is not a frontend", crate::config::parse::proxy_type_name(cap), p.draft().proxy.name));
    }
    let Some(list) = list else {
        let d = crate::config::units::parse_time(l.arg(2)).map_err(|e| {
            let base = format!("'{kw} inspect-delay' expects a positive delay in milliseconds, in {desc}");
            match e {
                crate::config::units::UnitError::Empty => base,
                _ => match l.arg(2).chars().find(|c| !c.is_ascii_digit()) {
                    Some(c) => format!("{base} (unexpected character '{c}')"),
                    None => base,
                },
            }
        })?;
        let list = if response { TcpRuleList::ResponseContent } else { TcpRuleList::Content };
        p.draft().proxy.tcp_rules.push(TcpRuleConf { list, action: None, delay: Some(d), cond: None, location: l.loc.clone() });
        return Ok(());
    };
    let what = format!("{kw} {sub} {}", l.arg(2));
    if list != TcpRuleList::ResponseContent {
        let stage = if list == TcpRuleList::Connection { Stage::TcpConnection } else { Stage::TcpContent };
        warn_misplaced(p, l, stage, kw);
    }
    let place = match list {
        TcpRuleList::Connection => (Place::FeTcpConnection, Some("tcp-request connection")),
        TcpRuleList::Content => (Place::request(false, cap.frontend), Some("tcp-request content")),
        TcpRuleList::ResponseContent => (Place::response(false, cap.backend), Some("tcp-response content")),
    };
    let (words, cond) = split_cond(p, l, &l.args[2..], what.trim_end(), place)?;
    let action_name = words.first().map_or("", String::as_str);
    let base = action_name.split('(').next().unwrap_or("");
    let var = || -> Result<String, String> {
        let inner = action_name.split_once('(').and_then(|(_, r)| r.strip_suffix(')')).unwrap_or("");
        VarName::parse(inner).map(|_| inner.to_string()).ok_or_else(|| {
            format!("invalid variable name '{inner}'. A variable name must be start by its scope. The scope can be 'proc', 'sess', 'txn', 'req', 'res' or 'check'")
        })
    };
    let extra = |n: usize| -> Result<(), String> {
        match words.get(n) {
            Some(x) => Err(format!("'{what}' only accepts 'if' or 'unless', in {desc} (got '{x}')")),
            None => Ok(()),
        }
    };
    let action = match base {
        "accept" => {
            extra(1)?;
            TcpAction::Accept
        }
        "reject" => {
            extra(1)?;
            TcpAction::Reject
        }
        "silent-drop" => {
            extra(1)?;
            TcpAction::SilentDrop
        }
        "set-var" => {
            let name = var()?;
            let expr = words.get(1).map_or("", String::as_str);
            Expr::parse(expr).map_err(|e| e.to_string())?;
            if p.draft().section != Section::Defaults {
                if let Some((_, data)) = crate::sample::usable::check_expr(expr, place.0) {
                    return Err(format!("fetch method '{action_name}' extracts information from '{data}', none of which is available here"));
                }
            }
            extra(2)?;
            TcpAction::SetVar { name, expr: expr.to_string() }
        }
        "unset-var" => {
            let name = var()?;
            extra(1)?;
            TcpAction::UnsetVar { name }
        }
        "use-service" if list == TcpRuleList::Content => {
            let Some(name) = words.get(1) else { return Err(format!("'{kw}' expects a service name.")) };
            // Only Lua services exist; whether this one is registered, and a TCP one, is
            // checked once the Lua files ran (`runtime::lua`).
            if !name.starts_with("lua.") {
                return Err(format!("'{sub}' unknown service name."));
            }
            extra(2)?;
            TcpAction::UseService { name: name.clone() }
        }
        kw @ ("set-src" | "set-dst" | "set-src-port" | "set-dst-port") if list != TcpRuleList::ResponseContent => {
            let part = crate::stream::set_addr::AddrPart::from_keyword(kw).expect("one of the four keywords");
            let expr = words.get(1).map_or("", String::as_str);
            if expr.is_empty() {
                return Err("missing fetch method".into());
            }
            crate::stream::set_addr::SetAddr::parse(part, &words[1..2]).map_err(|e| e.to_string())?;
            // HAProxy 2.6 checks the fetch against an HTTP request's, whatever the list
            // (`tcp-request connection set-src hdr(x)` is accepted, and finds nothing).
            if p.draft().section != Section::Defaults {
                if let Some((_, data)) = crate::sample::usable::check_expr(expr, Place::request(true, cap.frontend)) {
                    return Err(format!("fetch method '{expr}' extracts information from '{data}', none of which is available here"));
                }
            }
            extra(2)?;
            TcpAction::SetAddr { keyword: kw.to_string(), expr: expr.to_string() }
        }
        kw @ ("set-mark" | "set-tos") => {
            let value = &words[1..words.len().min(2)];
            let opt = crate::stream::sockopt_action::SockOpt::parse(kw, value)?;
            extra(2)?;
            TcpAction::SockOpt(opt)
        }
        "set-nice" if list != TcpRuleList::Connection => {
            let nice = crate::stream::sockopt_action::parse_nice(&words[1..words.len().min(2)])?;
            extra(2)?;
            TcpAction::SetNice(nice)
        }
        "send-spoe-group" if list != TcpRuleList::Connection => {
            if words.len() != 3 {
                return Err(format!("'{kw} {sub}' : 'send-spoe-group' expects exactly 2 arguments, in {desc}"));
            }
            TcpAction::SendSpoeGroup { engine: words[1].clone(), group: words[2].clone() }
        }
        kw @ ("set-priority-class" | "set-priority-offset") if list == TcpRuleList::Content => {
            let Some(expr) = words.get(1) else { return Err("missing fetch method".into()) };
            Expr::parse(expr).map_err(|e| e.to_string())?;
            extra(2)?;
            TcpAction::SetPriority { offset: kw == "set-priority-offset", expr: expr.clone() }
        }
        "do-resolve" if list == TcpRuleList::Content => {
            crate::stream::resolve::DoResolve::parse(action_name, &words[1..words.len().min(2)])
                .map_err(|e| format!("error detected in {desc} while parsing '{kw} {sub} {action_name}' rule : {e}."))?;
            extra(2)?;
            TcpAction::DoResolve { words: words[..2].to_vec() }
        }
        "close" if list == TcpRuleList::ResponseContent => {
            extra(1)?;
            TcpAction::Close
        }
        // Any `lua.` word: its name and argument count are checked once the Lua files
        // ran (`runtime::lua::resolve_actions`); `connection` rules have no Lua actions.
        lua if lua.starts_with("lua.") && list != TcpRuleList::Connection => {
            TcpAction::Lua { name: lua["lua.".len()..].to_string(), args: words[1..].to_vec() }
        }
        // Stick counters (src/stick/action.rs); HAProxy has no `tcp-response content track-sc*`.
        s if crate::stick::action::is_stick_action(s) && !(list == TcpRuleList::ResponseContent && s.starts_with("track-sc")) => {
            let proxy = p.draft().proxy.name.clone();
            crate::stick::action::StickAction::parse(&words, &proxy).map_err(|e| format!("'{what}' : {e}"))?;
            TcpAction::StickCounter { words: words.to_vec(), proxy }
        }
        "capture" | "expect-proxy" | "expect-netscaler-cip" | "sc-inc-gpc" | "sc-set-gpt" | "set-var-fmt" | "set-log-level"
        | "switch-mode" | "use-service" | "close" | "send-spoe-group" | "lua" => return Err(super::not_supported(&format!("{kw} {sub} {base}"))),
        _ => {
            return Err(format!(
                "'{kw} {sub}' expects 'accept', 'reject', 'set-var(*)', 'unset-var(*)' and others moonproxy does not support yet, in {desc} (got '{action_name}')"
            ))
        }
    };
    p.draft().proxy.tcp_rules.push(TcpRuleConf { list, action: Some(action), delay: None, cond, location: l.loc.clone() });
    Ok(())
}

/// Post-parse: HTTP rules in a TCP-mode proxy are ignored, with HAProxy's warning;
/// so is a `monitor-uri`.
pub fn check_modes(config: &Config, diags: &mut Vec<Diagnostic>) {
    // An HTTP frontend cannot hand its streams to a TCP backend (a TCP frontend may
    // upgrade to an HTTP one); names given by a log-format are resolved per request.
    let place = |p: &crate::config::model::Proxy| p.location.as_ref().map_or_else(String::new, |l| format!(" ({l})"));
    for fe in config.proxies.iter().filter(|p| p.mode == Mode::Http && p.cap.frontend && !p.disabled) {
        let refs = fe.default_backend.iter().map(|r| (r, "as its default backend")).chain(fe.use_backends.iter().map(|u| (&u.backend, "in a 'use_backend' rule")));
        for (r, how) in refs.filter(|(r, _)| !r.name.contains('%')) {
            let Some(be) = config.proxies.iter().find(|b| b.name == r.name && b.cap.backend && b.mode == Mode::Tcp) else { continue };
            let text = format!(
                "http {} '{}'{} tries to use incompatible tcp {} '{}'{} {how} (see 'mode').",
                super::proxy_type_name(fe.cap),
                fe.name,
                place(fe),
                super::proxy_type_name(be.cap),
                be.name,
                place(be)
            );
            diags.push(Diagnostic::plain(Severity::Alert, None, text));
        }
    }
    for p in config.proxies.iter().filter(|p| p.mode == Mode::Tcp && p.cap.frontend && p.monitor_uri.is_some()) {
        let what = format!("{} '{}'", super::proxy_type_name(p.cap), p.name);
        diags.push(Diagnostic::plain(Severity::Warning, None, format!("monitor-uri will be ignored for {what} (needs 'mode http').")));
    }
    for p in config.proxies.iter().filter(|p| p.mode == Mode::Tcp && !p.disabled) {
        let kind = super::proxy_type_name(p.cap);
        let http = &p.options.http;
        for (set, name) in [(http.forwardfor.is_some(), "forwardfor"), (http.originalto.is_some(), "originalto")] {
            if set {
                let text = format!("'option {name}' ignored for {kind} '{}' as it requires HTTP mode.", p.name);
                diags.push(Diagnostic::plain(Severity::Warning, None, text));
            }
        }
        for list in [HttpRuleList::Request, HttpRuleList::Response, HttpRuleList::AfterResponse] {
            if p.http_rules.iter().any(|r| r.list == list) {
                diags.push(Diagnostic::plain(
                    Severity::Warning,
                    None,
                    format!(
                        "'{}' rules ignored for {} '{}' as they require HTTP mode.",
                        list.name(),
                        super::proxy_type_name(p.cap),
                        p.name
                    ),
                ));
            }
        }
    }
}
