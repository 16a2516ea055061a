//! `fcgi-app <name>` sections, `use-fcgi-app` in backends and `proto fcgi` on servers,
//! with HAProxy 2.6's messages (its configuration manual, section 10). The FastCGI
//! client itself is `crate::http::fcgi`; doc/http.md ("FastCGI") describes both.
//!
//! ```text
//! fcgi-app php
//!     docroot /var/www/html          # required
//!     index index.php
//!     path-info ^(/.+\.php)(/.*)?$
//!     log-stderr global
//!     set-param HTTPS on if { ssl_fc }
//!     pass-header Authorization
//!     option keep-conn
//! backend php
//!     use-fcgi-app php
//!     server fpm 127.0.0.1:9000 proto fcgi
//! ```

use super::{Line, Parser};
use crate::config::diagnostic::{Diagnostic, Style};
use crate::config::model::{Acl, Config, FcgiApp, FcgiRule, Location, Mode};
use crate::diag::Severity;

/// Opens an `fcgi-app <name>` section; `None` (its lines checked, then dropped) when
/// the name is missing or taken.
pub fn start(p: &mut Parser, line: &Line) -> Option<usize> {
    let name = line.arg(1);
    if name.is_empty() {
        p.alert_directive(&line.loc, "'fcgi-app' expects <name> as argument.");
        return None;
    }
    if let Some(other) = p.config.fcgi_apps.iter().find(|a| a.name == name) {
        let msg = format!("Parsing [{}]: fcgi-app section '{name}' has the same name as another one declared at {}.", line.loc, other.location);
        p.push(Diagnostic::alert(&line.loc, msg).with_style(Style::Plain));
        return None;
    }
    p.config.fcgi_apps.push(empty(name, &line.loc));
    Some(p.config.fcgi_apps.len() - 1)
}

fn empty(name: &str, loc: &Location) -> FcgiApp {
    FcgiApp {
        name: name.to_string(),
        location: loc.clone(),
        docroot: None,
        index: None,
        path_info: None,
        log_stderr: Vec::new(),
        log_stderr_global: false,
        keep_conn: true,
        get_values: false,
        mpxs_conns: false,
        max_reqs: 1,
        set_params: Vec::new(),
        pass_headers: Vec::new(),
        acls: Vec::new(),
    }
}

/// How a bad line is reported.
enum Issue {
    /// `parsing [file:line] : ...`
    Keyword(String),
    /// `parsing [file:line]: ...`
    Directive(String),
}

/// One line inside an `fcgi-app` section (`section`: its index, `None` for a bad one).
pub fn keyword(p: &mut Parser, section: Option<usize>, line: &Line) {
    let mut scratch = None;
    let app = match section {
        Some(i) => &mut p.config.fcgi_apps[i],
        None => scratch.insert(empty("", &line.loc)),
    };
    match apply(app, line) {
        Ok(()) => {}
        Err(Issue::Keyword(m)) => p.alert(&line.loc, m),
        Err(Issue::Directive(m)) => p.alert_directive(&line.loc, m),
    }
}

fn apply(app: &mut FcgiApp, line: &Line) -> Result<(), Issue> {
    let kw = line.arg(0);
    let arg = line.arg(1);
    match kw {
        "docroot" if arg.is_empty() => return Err(Issue::Keyword("'docroot' expects <path> as argument.".into())),
        "docroot" => app.docroot = Some(arg.to_string()),
        "index" if arg.is_empty() => return Err(Issue::Keyword("'index' expects <filename> as argument.".into())),
        "index" => app.index = Some(arg.to_string()),
        "path-info" if arg.is_empty() => return Err(Issue::Keyword("'path-info' expects <regex> as argument.".into())),
        "path-info" => {
            crate::sample::regex::Regex::new(arg.as_bytes(), false).map_err(|e| Issue::Keyword(format!("'{arg}' : regex '{arg}' is invalid ({e}).")))?;
            app.path_info = Some(arg.to_string());
        }
        "log-stderr" => {
            const USAGE: &str = "log-stderr : expects <address> and <facility> or global as arguments";
            if arg == "global" && line.args.len() == 2 {
                app.log_stderr_global = true;
            } else if line.args.len() < 3 {
                return Err(Issue::Keyword(USAGE.into()));
            } else {
                let target = super::log::parse_log_target(&line.args[1..], &line.loc).map_err(|e| Issue::Keyword(e.replacen("log :", "log-stderr :", 1)))?;
                app.log_stderr.push(target);
            }
        }
        "set-param" | "pass-header" => {
            let is_param = kw == "set-param";
            let at = line.args.iter().position(|w| w == "if" || w == "unless").unwrap_or(line.args.len());
            let words = &line.args[1..at];
            let wanted = if is_param { 2 } else { 1 };
            if words.len() < wanted {
                let usage = if is_param { "'set-param' expects <name> and <value> as arguments." } else { "'pass-header' expects <name> as arguments." };
                return Err(Issue::Keyword(usage.into()));
            }
            let cond = match line.args.get(at) {
                None => None,
                Some(w) => Some(
                    super::acl::parse_condition(w == "unless", &line.args[at + 1..], &app.acls, &line.loc)
                        .map_err(|e| Issue::Keyword(format!("'{}' : {e}.", words[0])))?,
                ),
            };
            let rule = FcgiRule { name: words[0].clone(), value: is_param.then(|| words[1..].join(" ")), cond, location: line.loc.clone() };
            if is_param { app.set_params.push(rule) } else { app.pass_headers.push(rule) }
        }
        "acl" => {
            let name = arg;
            if name.is_empty() || line.args.len() < 3 {
                return Err(Issue::Keyword("'acl' expects an ACL name and an ACL expression.".into()));
            }
            let expr = super::acl::parse_acl_expr(&line.args[2..]).map_err(|e| Issue::Keyword(format!("error detected while parsing ACL '{name}' : {e}.")))?;
            app.acls.push(Acl { name: name.to_string(), expr, location: line.loc.clone() });
        }
        "option" | "no" => return option(app, line),
        _ => return Err(Issue::Directive(format!("unknown keyword '{kw}' in 'fcgi-app' section"))),
    }
    Ok(())
}

/// `[no] option keep-conn|get-values|mpxs-conns`, `option max-reqs <n>`.
fn option(app: &mut FcgiApp, line: &Line) -> Result<(), Issue> {
    let negate = line.arg(0) == "no";
    let args = if negate { &line.args[1..] } else { &line.args[..] };
    if args.first().map(String::as_str) != Some("option") {
        return Err(Issue::Directive(format!("unknown keyword '{}' in 'fcgi-app' section", line.arg(0))));
    }
    let name = args.get(1).map_or("", String::as_str);
    let flag = match name {
        "keep-conn" => &mut app.keep_conn,
        "get-values" => &mut app.get_values,
        "mpxs-conns" => &mut app.mpxs_conns,
        "max-reqs" if !negate => {
            let v = args.get(2).map_or("", String::as_str);
            if v.is_empty() {
                return Err(Issue::Directive("option 'max-reqs' expects an integer argument.".into()));
            }
            match v.parse::<u32>() {
                Ok(n) if n > 0 => app.max_reqs = n,
                _ => return Err(Issue::Directive("option 'max-reqs' expects a strictly positive integer argument.".into())),
            }
            return Ok(());
        }
        _ => return Err(Issue::Keyword(format!("unknown option '{name}'."))),
    };
    *flag = !negate;
    Ok(())
}

/// `use-fcgi-app <name>` in a proxy section.
pub fn use_fcgi_app(p: &mut Parser, l: &Line) -> Result<(), String> {
    if !p.draft().proxy.cap.backend {
        return Err("'use-fcgi-app' only available in backend or listen section".into());
    }
    if l.arg(1).is_empty() {
        return Err("'use-fcgi-app' expects a name as argument.".into());
    }
    p.draft().proxy.use_fcgi_app = Some(l.arg(1).to_string());
    Ok(())
}

/// Post-parse: every `fcgi-app` has a docroot and its `log-stderr global` gets the
/// global targets; every `use-fcgi-app` names an app, in an HTTP backend with FastCGI
/// servers, and every `proto fcgi` server belongs to such a backend.
pub fn check(config: &mut Config, diags: &mut Vec<Diagnostic>) {
    let alert = |diags: &mut Vec<Diagnostic>, msg: String| diags.push(Diagnostic::plain(Severity::Alert, None, msg));
    let global = config.global.logs.clone();
    for app in &mut config.fcgi_apps {
        if app.docroot.is_none() {
            alert(diags, format!("fcgi-app '{}': no docroot configured.", app.name));
        }
        if std::mem::take(&mut app.log_stderr_global) {
            app.log_stderr.extend(global.iter().cloned());
        }
    }
    // A frontend has an app only by `filter fcgi-app`, which HAProxy takes there and
    // then finds no FastCGI server for.
    for proxy in config.proxies.iter().filter(|p| (p.cap.backend || p.use_fcgi_app.is_some()) && !p.disabled) {
        let fcgi_servers: Vec<_> = proxy.servers.iter().filter(|s| s.tuning.proto.as_deref() == Some("fcgi")).collect();
        for s in &fcgi_servers {
            let what = if s.tls.is_some() { Some("'ssl'") } else { s.send_proxy.version.map(|_| "'send-proxy'") };
            if let Some(what) = what {
                let msg = format!("parsing [{}] : 'server {}/{}' : {what} with 'proto fcgi' is not supported by moonproxy yet.", s.location, proxy.name, s.name);
                alert(diags, msg);
            }
        }
        if proxy.mode != Mode::Http {
            for s in &fcgi_servers {
                alert(diags, format!("backend '{}' : MUX protocol 'fcgi' is not usable for server '{}' at [{}].", proxy.name, s.name, s.location));
            }
        }
        match &proxy.use_fcgi_app {
            Some(name) if !config.fcgi_apps.iter().any(|a| &a.name == name) => alert(diags, format!("proxy '{}' : fcgi-app '{name}' not found.", proxy.name)),
            Some(_) if proxy.mode != Mode::Http => alert(diags, format!("proxy '{}': FCGI application cannot be used in non-HTTP mode.", proxy.name)),
            Some(_) if fcgi_servers.is_empty() => alert(diags, format!("proxy '{}': FCGI app configured but no FCGI server found.", proxy.name)),
            Some(_) => {}
            None if proxy.mode == Mode::Http => {
                for s in &fcgi_servers {
                    alert(diags, format!("proxy '{}': FCGI server '{}' has no FCGI app configured.", proxy.name, s.name));
                }
            }
            None => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::config::model::Config;

    fn load(text: &str) -> Result<Config, Vec<String>> {
        let mut p = super::super::Parser::new(&Default::default());
        p.parse_text("t.cfg", text);
        p.finish().map(|(c, _)| c).map_err(|d| d.iter().map(|d| d.render()).collect())
    }

    const OK: &str = "defaults\n mode http\nfcgi-app php\n docroot /var/www\n index index.php\n path-info ^(/.+\\.php)(/.*)?$\n \
        set-param HTTPS on if { ssl_fc }\n pass-header Authorization\n no option keep-conn\n option max-reqs 4\n log-stderr global\n\
        backend b\n use-fcgi-app php\n server s 127.0.0.1:9000 proto fcgi\n";

    #[test]
    fn a_full_section_is_read() {
        let c = load(OK).unwrap();
        let app = &c.fcgi_apps[0];
        assert_eq!((app.docroot.as_deref(), app.index.as_deref(), app.keep_conn, app.max_reqs), (Some("/var/www"), Some("index.php"), false, 4));
        assert_eq!(app.set_params[0].value.as_deref(), Some("on"));
        assert!(app.set_params[0].cond.is_some());
        assert_eq!(app.pass_headers[0].name, "Authorization");
        assert_eq!(c.proxies[0].use_fcgi_app.as_deref(), Some("php"));
        assert_eq!(c.proxies[0].servers[0].tuning.proto.as_deref(), Some("fcgi"));
    }

    #[test]
    fn bad_lines_name_file_and_line() {
        let errs = load("fcgi-app a\n docroot\n option max-reqs 0\n option foo\n bogus 1\n set-param X\n path-info (\n").unwrap_err().join("\n");
        for want in [
            "parsing [t.cfg:2] : 'docroot' expects <path> as argument.",
            "parsing [t.cfg:3]: option 'max-reqs' expects a strictly positive integer argument.",
            "parsing [t.cfg:4] : unknown option 'foo'.",
            "parsing [t.cfg:5]: unknown keyword 'bogus' in 'fcgi-app' section",
            "parsing [t.cfg:6] : 'set-param' expects <name> and <value> as arguments.",
            "parsing [t.cfg:7] : '(' : regex '(' is invalid",
        ] {
            assert!(errs.contains(want), "{want} missing from:\n{errs}");
        }
    }

    #[test]
    fn backends_and_servers_must_agree() {
        let errs = load("defaults\n mode http\nfcgi-app a\n docroot /x\nbackend b1\n use-fcgi-app a\n server s 127.0.0.1:1\nbackend b2\n server s 127.0.0.1:1 proto fcgi\nbackend b3\n use-fcgi-app zz\n server s 127.0.0.1:1 proto fcgi\nfcgi-app e\n").unwrap_err().join("\n");
        for want in [
            "proxy 'b1': FCGI app configured but no FCGI server found.",
            "proxy 'b2': FCGI server 's' has no FCGI app configured.",
            "proxy 'b3' : fcgi-app 'zz' not found.",
            "fcgi-app 'e': no docroot configured.",
        ] {
            assert!(errs.contains(want), "{want} missing from:\n{errs}");
        }
    }

    #[test]
    fn what_the_codec_cannot_wrap_is_refused() {
        let errs = load("defaults\n mode http\nfcgi-app a\n docroot /x\nbackend b\n use-fcgi-app a\n server s 127.0.0.1:1 proto fcgi send-proxy\n").unwrap_err().join("\n");
        assert!(errs.contains("parsing [t.cfg:7] : 'server b/s' : 'send-proxy' with 'proto fcgi' is not supported by moonproxy yet."), "{errs}");
        // HTTP/2 (doc/http.md) is for `mode http` only, as any multiplexer.
        let errs = load("backend b\n server s 127.0.0.1:1 proto h2\n").unwrap_err().join("\n");
        assert!(errs.contains("MUX protocol 'h2' is not usable for server 's'"), "{errs}");
    }
}
