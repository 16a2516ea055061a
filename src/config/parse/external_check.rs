//! External health checks: the global `external-check` and `insecure-fork-wanted`
//! switches, `option external-check` and `external-check command|path` in proxies,
//! and the post-parse checks HAProxy 2.6 makes of them (messages word for word).
//! The checks run in `crate::runtime::external_check`; doc/checks.md describes both.
//!
//! ```text
//! global
//!     external-check
//!     insecure-fork-wanted
//! backend app
//!     option external-check
//!     external-check path "/usr/bin:/bin"
//!     external-check command /usr/local/bin/check-app
//!     server a1 10.0.0.1:80 check inter 5s
//! ```

use super::{Line, Parser};
use crate::config::diagnostic::Diagnostic;
use crate::config::model::{Config, ExternalCheck};
use crate::diag::Severity;

/// Global `external-check`: allows `option external-check`.
pub fn global_external_check(p: &mut Parser, l: &Line) -> Result<(), String> {
    no_argument(l)?;
    p.config.global.external_check.enabled = true;
    Ok(())
}

/// Global `insecure-fork-wanted`: HAProxy forbids forking without it; moonproxy only
/// records it, to warn as HAProxy does when external checks are used without it.
pub fn insecure_fork_wanted(p: &mut Parser, l: &Line) -> Result<(), String> {
    no_argument(l)?;
    p.config.global.external_check.insecure_fork_wanted = true;
    Ok(())
}

fn no_argument(l: &Line) -> Result<(), String> {
    match l.args.get(1) {
        Some(extra) => Err(format!("'{}' cannot handle unexpected argument '{extra}'.", l.arg(0))),
        None => Ok(()),
    }
}

/// `option external-check`: the proxy's health check runs a command. As every check
/// option, it replaces the check chosen before it (`option httpchk`, `tcp-check`...).
pub fn option(p: &mut Parser, l: &Line, negate: bool) -> Result<(), String> {
    if negate {
        p.alert_directive(&l.loc, "negation/default is not supported for option 'external-check'.");
        return Ok(());
    }
    if let Some(extra) = l.args.get(2) {
        return Err(format!("'option external-check' cannot handle unexpected argument '{extra}'."));
    }
    let proxy = &mut p.draft().proxy;
    if let Some(hc) = &mut proxy.http_check {
        hc.enabled = false;
    }
    if let Some(tc) = &mut proxy.tcp_check {
        tc.enabled = false;
        tc.protocol = None;
    }
    proxy.external_check.get_or_insert_with(ExternalCheck::default).enabled = true;
    Ok(())
}

/// Another check option (`option httpchk`, `tcp-check`, `redis-check`...) replaces an
/// earlier `option external-check`, as in HAProxy where the last one wins.
pub fn replaced_by_other_check(p: &mut Parser, option: &str) {
    const CHECKS: &[&str] = &["httpchk", "tcp-check", "redis-check", "smtpchk", "pgsql-check", "mysql-check", "ldap-check", "ssl-hello-chk", "spop-check"];
    if CHECKS.contains(&option) {
        if let Some(ec) = &mut p.draft().proxy.external_check {
            ec.enabled = false;
        }
    }
}

/// `external-check command <path>` and `external-check path <PATH>`.
pub fn proxy_keyword(p: &mut Parser, l: &Line) -> Result<(), String> {
    let what = l.arg(1);
    if what.is_empty() {
        return Err("missing argument after 'external-check'.\n".into());
    }
    if !matches!(what, "command" | "path") {
        return Err(format!("'external-check' only supports 'command' and 'path'. but got '{what}'."));
    }
    let value = l.arg(2);
    if value.is_empty() {
        return Err(format!("missing argument after '{what}'."));
    }
    if let Some(extra) = l.args.get(3) {
        return Err(format!("'external-check' cannot handle unexpected argument '{extra}'."));
    }
    let ec = p.draft().proxy.external_check.get_or_insert_with(ExternalCheck::default);
    if what == "command" {
        ec.command = Some(value.to_string());
        ec.command_location = Some(l.loc.clone());
    } else {
        ec.path = Some(value.to_string());
    }
    Ok(())
}

/// Post-parse: what HAProxy 2.6 says of each backend's external check. An unused
/// command is dropped with a warning; a check without the global switch or without
/// a command is an alert.
pub fn check(config: &mut Config, diags: &mut Vec<Diagnostic>) {
    let global = config.global.external_check.clone();
    for proxy in config.proxies.iter_mut().filter(|p| p.cap.backend && !p.disabled) {
        let Some(ec) = &proxy.external_check else { continue };
        let plain = |severity, text: String| Diagnostic::plain(severity, None, text);
        if !ec.enabled {
            if ec.command.is_some() {
                let kind = super::proxy_type_name(proxy.cap);
                diags.push(plain(Severity::Warning, format!("'external-check command' will be ignored for {kind} '{}' (requires 'option external-check').", proxy.name)));
            }
            proxy.external_check = None;
            continue;
        }
        let name = &proxy.name;
        if !global.enabled {
            diags.push(plain(Severity::Alert, format!("Proxy '{name}' : 'option external-check' unable to find required 'global.external-check'.")));
        }
        if ec.command.is_none() {
            diags.push(plain(Severity::Alert, format!("Proxy '{name}' : 'option external-check' unable to find required 'external-check command'.")));
        }
        if !global.insecure_fork_wanted {
            diags.push(plain(Severity::Warning, format!("Proxy '{name}' : 'insecure-fork-wanted' not enabled in the global section, 'option external-check' will likely fail.")));
        }
    }
}
