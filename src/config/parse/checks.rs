//! Post-parse checks: what needs the whole configuration (references between
//! sections, final modes) and HAProxy's warnings about incomplete proxies.
//!
//! Messages keep HAProxy's wording; unlike HAProxy, alerts name the file and line of
//! the keyword at fault.

use super::proxy_type_name;
use crate::config::diagnostic::Diagnostic;
use crate::config::model::{Config, NamedRef, ServerAddr};
use crate::diag::Severity;

/// Runs every check, appending diagnostics; completes the model (server ids).
pub fn run(config: &mut Config, diags: &mut Vec<Diagnostic>) {
    super::rules::check_modes(config, diags);
    let names: Vec<(String, bool, bool)> = config
        .proxies
        .iter()
        .map(|p| (p.name.clone(), p.cap.frontend, p.cap.backend))
        .collect();
    let bufsize = config.global.bufsize;
    let mut implicit_rules_seen = false;
    for proxy in &mut config.proxies {
        if proxy.disabled {
            continue;
        }
        diags.extend(super::declare::check_capture_ids(proxy));
        // `http-check` rules only matter with `option httpchk`; an HTTP check reads at
        // most one buffer of its server's response.
        match &mut proxy.http_check {
            Some(hc) if !hc.enabled => {
                // `disable-on-404` alone is an option, not a rule: no warning.
                let rules = hc.send || !hc.expects.is_empty() || hc.connect_port.is_some();
                if proxy.cap.backend && !hc.inherited && rules {
                    diags.push(Diagnostic::plain(
                        Severity::Warning,
                        None,
                        format!(
                            "{} '{}' uses http-check rules without 'option httpchk', so the rules are ignored.",
                            proxy_type_name(proxy.cap),
                            proxy.name
                        ),
                    ));
                }
                proxy.http_check = None;
            }
            Some(hc) => hc.response_limit = bufsize,
            None => {}
        }
        // Likewise `tcp-check` rules only matter with `option tcp-check`.
        if let Some(tc) = proxy.tcp_check.as_ref().filter(|tc| !tc.enabled) {
            if proxy.cap.backend && !tc.inherited && !tc.rules.is_empty() {
                diags.push(Diagnostic::plain(
                    Severity::Warning,
                    None,
                    format!("{} '{}' uses tcp-check rules without 'option tcp-check', so the rules are ignored.", proxy_type_name(proxy.cap), proxy.name),
                ));
            }
            proxy.tcp_check = None;
        }
        // A protocol check (`option redis-check`...) runs its own rules only.
        if let Some(tc) = proxy.tcp_check.as_mut().filter(|tc| tc.protocol.is_some() && !tc.rules.is_empty()) {
            if proxy.cap.backend && !tc.inherited {
                diags.push(Diagnostic::plain(
                    Severity::Warning,
                    None,
                    format!("{} '{}' uses tcp-check rules without 'option tcp-check', so the rules are ignored.", proxy_type_name(proxy.cap), proxy.name),
                ));
            }
            tc.rules.clear();
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
        if proxy.cap.backend {
            // `check-proto` names the protocol of HTTP checks: with TCP checks it is
            // refused, as HAProxy 2.6 refuses it.
            let http_checks = proxy.http_check.as_ref().is_some_and(|hc| hc.enabled);
            for s in proxy.servers.iter().filter(|s| s.check.is_some() && s.tuning.check_proto.is_some() && !http_checks) {
                diags.push(Diagnostic::plain(
                    Severity::Alert,
                    None,
                    format!("config: {} '{}': server '{}' uses an incompatible MUX protocol for the selected check type", proxy_type_name(proxy.cap), proxy.name, s.name),
                ));
            }
            for u in proxy.use_servers.iter().filter(|u| !proxy.servers.iter().any(|s| s.name == u.server)) {
                diags.push(Diagnostic::plain(
                    Severity::Alert,
                    None,
                    format!("{desc} : unable to find server '{}' referenced in a 'use-server' rule.", u.server),
                ));
            }
        }
        if proxy.cap.frontend && proxy.binds.is_empty() {
            diags.push(Diagnostic::plain(
                Severity::Warning,
                proxy.location.as_ref(),
                format!("{desc} has no 'bind' directive. Please declare it as a backend if this was intended."),
            ));
        }
        // moonproxy's own hint (HAProxy says nothing), left out when rules may answer
        // by themselves (`use-service`, `return`, the stats page...).
        if proxy.cap.frontend
            && !proxy.cap.backend
            && proxy.default_backend.is_none()
            && proxy.use_backends.is_empty()
            && proxy.http_rules.is_empty()
            && proxy.tcp_rules.is_empty()
            && proxy.stats.is_none()
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
        // A check needs a port from somewhere: a server without one (its connections go
        // to the client's destination port) needs `port`, or a first `connect` rule with one.
        let tcp_check_port = proxy.tcp_check.as_ref().and_then(|tc| {
            tc.rules.iter().find_map(|r| match r {
                crate::config::model::TcpCheckRule::Connect { port, .. } => *port,
                _ => None,
            })
        });
        let check_port = proxy.http_check.as_ref().and_then(|hc| hc.connect_port).or(tcp_check_port);
        let own_rules = match &proxy.tcp_check {
            Some(tc) => Some(tc.protocol.is_some() || !tc.rules.is_empty()),
            None => proxy.http_check.is_some().then_some(true),
        };
        // HAProxy 2.6 words the alert after the check rules the proxy has when its
        // servers are checked: its own (none with a bare `option tcp-check`), or for a
        // proxy without a check option, a rule set that exists only once an earlier
        // backend without a check option was set up (measured: the first such backend
        // of the file gets the short alert, the later ones the long one).
        let rules_then = own_rules.unwrap_or(implicit_rules_seen);
        if proxy.cap.backend && own_rules.is_none() {
            implicit_rules_seen = true;
        }
        if check_port.is_none() {
            for s in &proxy.servers {
                let no_port = matches!(s.addr, ServerAddr::Inet { port: None, .. } | ServerAddr::PortOffset { .. });
                if no_port && s.check.as_ref().is_some_and(|c| c.port.is_none()) {
                    diags.push(Diagnostic::plain(
                        Severity::Alert,
                        None,
                        format!(
                            "config: {} '{}': server '{}' has neither service port nor check port{}.",
                            proxy_type_name(proxy.cap),
                            proxy.name,
                            s.name,
                            if rules_then { " nor tcp_check rule 'connect' with port information" } else { "" }
                        ),
                    ));
                }
            }
        }
        // Automatic server ids as HAProxy 2.6 gives them: the first unused one from a
        // counter that every server advances, numbered or not, in declaration order.
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
            next += 1;
        }
    }
}
