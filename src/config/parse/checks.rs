//! Post-parse checks: what needs the whole configuration (references between
//! sections, final modes) and HAProxy's warnings about incomplete proxies.
//!
//! Messages keep HAProxy's wording; unlike HAProxy, alerts name the file and line of
//! the keyword at fault.

use super::proxy_type_name;
use crate::config::diagnostic::Diagnostic;
use crate::config::model::{Config, Mode, NamedRef, ServerAddr};
use crate::diag::Severity;

/// Runs every check, appending diagnostics; completes the model (server ids).
pub fn run(config: &mut Config, diags: &mut Vec<Diagnostic>) {
    super::rules::check_modes(config, diags);
    let names: Vec<(String, bool, bool)> = config
        .proxies
        .iter()
        .map(|p| (p.name.clone(), p.cap.frontend, p.cap.backend))
        .collect();
    for proxy in &mut config.proxies {
        if proxy.disabled {
            continue;
        }
        let desc = format!("{} '{}'", proxy_type_name(proxy.cap), proxy.name);
        // Backend references.
        let check_ref = |r: &NamedRef, what: &str, diags: &mut Vec<Diagnostic>| {
            if r.name == proxy.name && proxy.cap.backend {
                diags.push(Diagnostic::alert(
                    &r.location,
                    format!(
                        "Proxy '{}': loop detected for {what}: '{}'.",
                        proxy.name, r.name
                    ),
                ));
                return;
            }
            match names.iter().find(|(n, _, be)| *n == r.name && *be) {
                Some(_) => {}
                None => {
                    let why = if names.iter().any(|(n, fe, _)| *n == r.name && *fe) {
                        format!(
                            " ('{}' is a frontend: it has no backend capability)",
                            r.name
                        )
                    } else {
                        String::new()
                    };
                    diags.push(Diagnostic::alert(
                        &r.location,
                        format!(
                            "Proxy '{}': unable to find required {what}: '{}'.{why}",
                            proxy.name, r.name
                        ),
                    ));
                }
            }
        };
        if proxy.cap.frontend {
            if let Some(r) = &proxy.default_backend {
                check_ref(r, "default_backend", diags);
            }
            // A log-format name (`use_backend %[...]`) is resolved per request.
            for u in proxy.use_backends.iter().filter(|u| !u.backend.name.contains('%')) {
                check_ref(&u.backend, "use_backend", diags);
            }
        }
        if proxy.cap.frontend && proxy.binds.is_empty() {
            diags.push(Diagnostic::plain(
                Severity::Warning,
                proxy.location.as_ref(),
                format!("{desc} has no 'bind' directive. Please declare it as a backend if this was intended."),
            ));
        }
        if proxy.cap.frontend
            && !proxy.cap.backend
            && proxy.default_backend.is_none()
            && proxy.use_backends.is_empty()
        {
            diags.push(Diagnostic::plain(
                Severity::Warning,
                proxy.location.as_ref(),
                format!("{desc} has no backend ('default_backend' or 'use_backend'): its connections will be closed."),
            ));
        }
        let t = &proxy.timeouts;
        let missing_client = proxy.cap.frontend && t.client.is_none_or(|d| d.is_zero());
        let missing_be = proxy.cap.backend
            && !proxy.servers.is_empty()
            && (t.connect.is_none_or(|d| d.is_zero()) || t.server.is_none_or(|d| d.is_zero()));
        if missing_client || missing_be {
            diags.push(Diagnostic::plain(
                Severity::Warning,
                proxy.location.as_ref(),
                format!(
                    "missing timeouts for {desc}.\n   | While not properly invalid, you will certainly encounter various problems\n   | with such a configuration. To fix this, please ensure that all following\n   | timeouts are set to a non-zero value: 'client', 'connect', 'server'."
                ),
            ));
        }
        if proxy.cap.frontend && proxy.log_format.is_some() && proxy.logs.is_empty() {
            diags.push(Diagnostic::plain(
                Severity::Warning,
                proxy.location.as_ref(),
                format!("log format ignored for {desc} since it has no log address."),
            ));
        }
        for (i, s) in proxy.servers.iter().enumerate() {
            if let Some(first) = proxy.servers[..i].iter().find(|f| f.name == s.name) {
                diags.push(Diagnostic::alert(
                    &s.location,
                    format!(
                        "{desc}, another server named '{}' was already defined at line {}, please use distinct names.",
                        s.name, first.location.line
                    ),
                ));
            }
        }
        if proxy.mode == Mode::Tcp {
            for s in &proxy.servers {
                if matches!(s.addr, ServerAddr::Inet { port: None, .. }) {
                    diags.push(Diagnostic::alert(
                        &s.location,
                        format!(
                            "'server {}/{}' : no port specified: a server in a TCP-mode proxy needs an explicit port.",
                            proxy.name, s.name
                        ),
                    ));
                }
            }
        }
        // Automatic server ids: the lowest unused ones, in declaration order.
        let mut used: Vec<u32> = proxy.servers.iter().filter_map(|s| s.id).collect();
        let mut next = 1;
        for s in &mut proxy.servers {
            if s.id.is_none() {
                while used.contains(&next) {
                    next += 1;
                }
                s.id = Some(next);
                used.push(next);
            }
        }
    }
}
