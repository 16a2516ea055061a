//! `mailers <name>` sections and the proxies' `email-alert` lines, with HAProxy 2.6's
//! messages. The alerts are sent by `crate::runtime::mailers`; doc/checks.md describes
//! both.
//!
//! ```text
//! mailers mta
//!     mailer smtp1 192.0.2.25:25
//!     timeout mail 20s
//! backend app
//!     email-alert mailers mta
//!     email-alert from haproxy@example.com
//!     email-alert to ops@example.com
//!     email-alert level notice
//!     server a1 10.0.0.1:80 check
//! ```

use super::{Line, Parser};
use crate::config::diagnostic::Diagnostic;
use crate::config::model::{Config, EmailAlert, Location, Mailers};
use crate::config::units;
use crate::diag::Severity;
use std::time::Duration;

/// HAProxy's default `timeout mail`.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// The syslog severities by name, in order (`email-alert level`).
const LEVELS: [&str; 8] = ["emerg", "alert", "crit", "err", "warning", "notice", "info", "debug"];

/// Opens a `mailers <name>` section; `None` (its lines checked, then dropped) when the
/// name is missing or taken.
pub fn start(p: &mut Parser, line: &Line) -> Option<usize> {
    let name = line.arg(1);
    if name.is_empty() {
        p.alert(&line.loc, "missing name for mailers section.");
        return None;
    }
    if let Some(other) = p.config.mailers.iter().find(|m| m.name == name) {
        let text = format!(
            "Parsing [{}]: mailers section '{name}' has the same name as another mailers section declared at {}.",
            line.loc, other.location
        );
        p.push(Diagnostic::plain(Severity::Alert, Some(&line.loc), text));
        return None;
    }
    p.config.mailers.push(empty(name, &line.loc));
    Some(p.config.mailers.len() - 1)
}

fn empty(name: &str, loc: &Location) -> Mailers {
    Mailers { name: name.to_string(), location: loc.clone(), mailers: Vec::new(), timeout_mail: DEFAULT_TIMEOUT }
}

/// One line inside a `mailers` section (`section`: its index, `None` for a bad one).
pub fn keyword(p: &mut Parser, section: Option<usize>, line: &Line) {
    let mut scratch = None;
    let m = match section {
        Some(i) => &mut p.config.mailers[i],
        None => scratch.insert(empty("", &line.loc)),
    };
    if let Err(msg) = apply(m, line) {
        p.alert(&line.loc, msg);
    }
}

fn apply(m: &mut Mailers, line: &Line) -> Result<(), String> {
    match line.arg(0) {
        "mailer" => {
            let (name, addr) = (line.arg(1), line.arg(2));
            if name.is_empty() || addr.is_empty() {
                return Err("'mailer' expects <name> and <addr>[:<port>] as arguments.".into());
            }
            let addr = super::addr::ip_port(addr).map_err(|why| format!("'mailer {name}' : {why}"))?;
            m.mailers.push((name.to_string(), addr));
        }
        "timeout" => {
            let (what, v) = (line.arg(1), line.arg(2));
            if what != "mail" {
                return Err(format!("'timeout' expects 'mail' and <time> as arguments got '{what}'."));
            }
            if v.is_empty() {
                return Err("'timeout mail' expects <time> as argument.".into());
            }
            m.timeout_mail = units::parse_time(v).map_err(|e| units::time_error_message(&e, v, "timeout mail"))?;
        }
        kw => return Err(format!("unknown keyword '{kw}' in 'mailers' section")),
    }
    Ok(())
}


/// `email-alert from|to|mailers|myhostname <value>`, `email-alert level <level>`.
/// Like HAProxy, a missing value is taken as empty and extra words are ignored.
pub fn email_alert(p: &mut Parser, l: &Line) -> Result<(), String> {
    let what = l.arg(1);
    if what.is_empty() {
        return Err("missing argument after 'email-alert'.".into());
    }
    let value = l.arg(2).to_string();
    let loc = l.loc.clone();
    let ea = p.draft().proxy.email_alert.get_or_insert_with(EmailAlert::default);
    ea.location.get_or_insert(loc);
    match what {
        "from" => ea.from = Some(value),
        "to" => ea.to = Some(value),
        "mailers" => ea.mailers = Some(value),
        "myhostname" => ea.myhostname = Some(value),
        "level" => {
            let Some(level) = LEVELS.iter().position(|n| *n == value) else {
                // HAProxy names the two words the other way round.
                return Err(format!("unknown log level '{what}' after '{value}'"));
            };
            ea.level = Some(level as u8);
        }
        _ => return Err(format!("email-alert: unknown argument '{what}'.")),
    }
    Ok(())
}

/// Post-parse: an incomplete `email-alert` set is dropped with HAProxy's warning, a
/// missing `mailers` section is an alert, and an unused section is removed with a
/// warning.
pub fn check(config: &mut Config, diags: &mut Vec<Diagnostic>) {
    let mut used = vec![false; config.mailers.len()];
    for proxy in config.proxies.iter_mut().filter(|p| !p.disabled) {
        let Some(ea) = &proxy.email_alert else { continue };
        if ea.from.is_none() || ea.to.is_none() || ea.mailers.is_none() {
            let kind = super::proxy_type_name(proxy.cap);
            diags.push(Diagnostic::plain(Severity::Warning, None, format!("'email-alert' will be ignored for {kind} '{}' (the presence any of 'email-alert from', 'email-alert level' 'email-alert mailers', 'email-alert myhostname', or 'email-alert to' requires each of 'email-alert from', 'email-alert mailers' and 'email-alert to' to be present).", proxy.name)));
            proxy.email_alert = None;
            continue;
        }
        let name = ea.mailers.as_deref().unwrap_or_default();
        match config.mailers.iter().position(|m| m.name == name) {
            Some(i) => used[i] = true,
            None => diags.push(Diagnostic::plain(Severity::Alert, None, format!("Proxy '{}': unable to find mailers '{name}'.", proxy.name))),
        }
    }
    for (m, used) in config.mailers.iter().zip(used) {
        if !used {
            diags.push(Diagnostic::plain(Severity::Warning, None, format!("Removing incomplete section 'mailers {}'.", m.name)));
        }
    }
    config.mailers.retain(|m| config.proxies.iter().any(|p| p.email_alert.as_ref().and_then(|e| e.mailers.as_deref()) == Some(m.name.as_str())));
}
