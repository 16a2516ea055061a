//! The statistics page (`stats enable`, `stats uri` ...): answered by the proxy itself
//! when a request's URI starts with the `stats uri` prefix, after the proxy's
//! `http-request` rules let the request through.
//!
//! - `<uri>`: an HTML page, one table per proxy;
//! - `<uri>;csv`: HAProxy 2.6's `show stat` CSV ([`super::csv`]);
//! - `<uri>;typed` and `<uri>;json`: `show stat typed` and `show stat json`;
//! - `;norefresh` drops the `Refresh` header, `;up` keeps only servers that are UP,
//!   `;no-maint` drops servers in maintenance, `;scope=<text>` keeps the proxies whose
//!   name contains `<text>`.
//!
//! `stats http-request allow|deny|auth` rules run first, then `stats auth` (basic
//! authentication answered with HAProxy's 401 page and the `stats realm`).
//! `stats admin` is parsed but the page offers no admin actions.

use std::fmt::Write;

use super::csv;
use super::fields as f;
use super::snapshot::{self, Row, RowKind, Value, View};
use crate::config::model::StatsConf;
use crate::http::rules::{RuleCtx, RuleEnv, Verdict};
use crate::http::txn::Txn;
use crate::stream::acl::{AclSet, CompiledCond};
use crate::stream::proxy::ProxyRt;

/// HAProxy's realm when `stats realm` is not set.
pub const DEFAULT_REALM: &str = "HAProxy Statistics";

/// The name the log shows in place of a server for a request the page answered.
pub const LOG_SERVER_NAME: &str = "<STATS>";

/// One `stats http-request` rule, compiled.
#[derive(Debug)]
struct StatsRule {
    action: StatsAction,
    cond: Option<CompiledCond>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum StatsAction {
    Allow,
    Deny,
    Auth { realm: Option<String> },
}

/// What the page does with a request for it.
#[derive(Debug)]
pub struct Intercepted {
    /// The page (a `Reply`), or a refusal (`Deny`, a 401 `Reply`).
    pub verdict: Verdict,
    /// The page itself was served (not refused).
    pub served: bool,
}

/// A proxy's stats page, compiled from its [`StatsConf`].
#[derive(Debug)]
pub struct StatsPage {
    pub conf: StatsConf,
    rules: Vec<StatsRule>,
    /// `stats show-node`, resolved (the host name when no name was given).
    node: Option<String>,
}

/// HAProxy's refusal of `stats auth` or `stats realm` together with
/// `stats http-request` in proxy `proxy`, if `conf` has both.
pub fn conflict(conf: &StatsConf, proxy: &str) -> Option<String> {
    let auth = !conf.auth.is_empty() || conf.realm.is_some();
    (auth && !conf.http_rules.is_empty())
        .then(|| format!("proxy '{proxy}': stats 'auth'/'realm' and 'http-request' can't be used at the same time."))
}

/// What the URI asks for, after the `stats uri` prefix.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Options {
    format: Format,
    norefresh: bool,
    up_only: bool,
    no_maint: bool,
    scope: Option<String>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Format {
    #[default]
    Html,
    Csv,
    Typed,
    Json,
}

impl StatsPage {
    /// Compiles the `stats http-request` conditions against the ACLs of `proxy`.
    /// As HAProxy, refuses `stats auth` or `stats realm` together with
    /// `stats http-request`.
    pub fn new(conf: &StatsConf, acls: &AclSet, proxy: &str) -> Result<StatsPage, String> {
        if let Some(e) = conflict(conf, proxy) {
            return Err(e);
        }
        let mut rules = Vec::new();
        for r in &conf.http_rules {
            let action = match r.action.first().map(String::as_str) {
                Some("allow") => StatsAction::Allow,
                Some("deny") => StatsAction::Deny,
                _ => StatsAction::Auth { realm: r.action.get(2).cloned() },
            };
            let cond = r.cond.as_ref().map(|c| CompiledCond::compile(c, acls)).transpose()?;
            rules.push(StatsRule { action, cond });
        }
        let node = conf.show_node.as_ref().map(|n| if n.is_empty() { crate::log::target::system_hostname().to_string() } else { n.clone() });
        Ok(StatsPage { conf: conf.clone(), rules, node })
    }

    /// Whether `target` (a request target as received) is for this page: its path and
    /// query start with the `stats uri` prefix.
    pub fn matches(&self, target: &str) -> bool {
        origin_part(target).starts_with(self.conf.uri.as_str())
    }

    /// Answers a request for the page (`None` when the request is not for it):
    /// the page itself, or the verdict of `stats http-request` / `stats auth` (a 403,
    /// a 401 with the realm). `proxy` is the proxy whose page it is.
    pub fn intercept(&self, view: &View<'_>, proxy: usize, txn: &Txn, env: &RuleEnv<'_>) -> Option<Intercepted> {
        let req = txn.req.as_ref()?;
        if !self.matches(&req.line.target) {
            return None;
        }
        let acls = &view.proxies[proxy].acls;
        let cx = RuleCtx::new(env, txn);
        let refused = |verdict| Some(Intercepted { verdict, served: false });
        // `stats http-request` and `stats auth` do not go together (checked at load).
        for rule in &self.rules {
            if rule.cond.as_ref().is_some_and(|c| !c.eval(acls, &cx)) {
                continue;
            }
            match &rule.action {
                StatsAction::Allow => break,
                StatsAction::Deny => return refused(Verdict::Deny { status: 403 }),
                StatsAction::Auth { realm } => return refused(self.unauthorized(realm.as_deref())),
            }
        }
        if !self.conf.auth.is_empty() && !self.authorized(&req.headers) {
            return refused(self.unauthorized(None));
        }
        let after = &origin_part(&req.line.target)[self.conf.uri.len()..];
        let opts = Options::parse(after);
        let head_only = req.line.method == crate::http::Method::Head;
        let response = self.render(view, proxy, &opts, head_only);
        Some(Intercepted { verdict: Verdict::Reply { response, close: false }, served: true })
    }

    fn authorized(&self, headers: &crate::http::Headers) -> bool {
        let Some((user, pass)) = crate::http::auth::basic_credentials(headers) else { return false };
        self.conf.auth.iter().any(|(u, p)| u.as_bytes() == user.as_slice() && p.as_bytes() == pass.as_slice())
    }

    /// HAProxy's 401 page for the stats.
    fn unauthorized(&self, rule_realm: Option<&str>) -> Verdict {
        let realm = rule_realm.or(self.conf.realm.as_deref()).unwrap_or(DEFAULT_REALM);
        let body = "<html><body><h1>401 Unauthorized</h1>\n\
                    You need a valid user and password to access this content.\n\
                    </body></html>\n";
        let response = format!(
            "HTTP/1.1 401 Unauthorized\r\ncontent-length: {}\r\ncache-control: no-cache\r\n\
             content-type: text/html\r\nwww-authenticate: Basic realm=\"{}\"\r\n\r\n{body}",
            body.len(),
            realm.replace('"', "\\\"")
        );
        Verdict::Reply { response: response.into_bytes(), close: false }
    }

    /// The rows this page shows: `stats scope` (`.` is the page's own proxy) and the
    /// URI's `;scope=` filter.
    fn rows(&self, view: &View<'_>, proxy: usize, opts: &Options) -> Vec<Row> {
        let own = &view.proxies[proxy].name;
        let keep = |_: usize, p: &ProxyRt| {
            let in_scope = self.conf.scope.is_empty()
                || self.conf.scope.iter().any(|s| if s == "." { &p.name == own } else { s == &p.name });
            in_scope && opts.scope.as_ref().is_none_or(|s| p.name.contains(s.as_str()))
        };
        let mut rows = snapshot::rows(view, &keep);
        let status = |r: &Row| match r.get(f::STATUS) {
            Value::Str(s) => s.clone(),
            _ => String::new(),
        };
        if opts.up_only {
            rows.retain(|r| r.kind != RowKind::Server || status(r).starts_with("UP") || status(r) == "no check");
        }
        if opts.no_maint {
            // `MAINT`, `MAINT (via b/s)`, `MAINT (resolution)`.
            rows.retain(|r| r.kind != RowKind::Server || !status(r).starts_with("MAINT"));
        }
        rows
    }

    /// The complete response for the page.
    fn render(&self, view: &View<'_>, proxy: usize, opts: &Options, head_only: bool) -> Vec<u8> {
        let view = View { legends: self.conf.show_legends, serving: Some(proxy), ..*view };
        let rows = self.rows(&view, proxy, opts);
        let mut body = String::with_capacity(4096 + rows.len() * 512);
        let ctype = match opts.format {
            Format::Csv => {
                csv::write(&mut body, &rows);
                "text/plain"
            }
            Format::Typed => {
                super::typed::write(&mut body, &rows);
                "text/plain"
            }
            Format::Json => {
                super::json::write(&mut body, &rows);
                "application/json"
            }
            Format::Html => {
                self.html(&mut body, &view, proxy, &rows);
                "text/html"
            }
        };
        let mut head = format!("HTTP/1.1 200 OK\r\ncache-control: no-cache\r\ncontent-type: {ctype}\r\n");
        if let Some(r) = self.conf.refresh.filter(|_| !opts.norefresh && opts.format != Format::Json) {
            let _ = write!(head, "refresh: {}\r\n", r.as_secs());
        }
        let _ = write!(head, "content-length: {}\r\n\r\n", body.len());
        let mut out = head.into_bytes();
        if !head_only {
            out.extend_from_slice(body.as_bytes());
        }
        out
    }

    /// The HTML page: a header, then one table per proxy (its frontend, servers and
    /// backend rows).
    fn html(&self, out: &mut String, view: &View<'_>, proxy: usize, rows: &[Row]) {
        let own = &view.proxies[proxy].name;
        out.push_str("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">\n<title>Statistics Report");
        if let Some(node) = &self.node {
            let _ = write!(out, " for {}", esc(node));
        }
        out.push_str("</title>\n<style>\n\
            body{font-family:sans-serif;font-size:13px;margin:1em}\n\
            table{border-collapse:collapse;margin:0 0 1.5em 0}\n\
            th,td{border:1px solid #bbb;padding:2px 6px;text-align:right}\n\
            th{background:#e8e8f0} td.n{text-align:left;font-weight:bold}\n\
            caption{text-align:left;font-weight:bold;font-size:15px;padding:4px 0}\n\
            tr.up td{background:#e4f4e4} tr.down td{background:#f8dcdc} tr.maint td{background:#e0e0f8}\n\
            tr.fe td,tr.be td{background:#f0f0f0}\n</style></head><body>\n");
        out.push_str("<h1>Statistics Report");
        if let Some(node) = &self.node {
            let _ = write!(out, " for {}", esc(node));
        }
        out.push_str("</h1>\n<p>");
        if !self.conf.hide_version {
            let _ = write!(out, "moonproxy version {} (HAProxy {} configuration). ", crate::version::VERSION, crate::version::HAPROXY_COMPAT_VERSION);
        }
        if let Some(desc) = self.conf.show_desc.as_deref().filter(|d| !d.is_empty()) {
            let _ = write!(out, "{} ", esc(desc));
        }
        let _ = write!(out, "Page of proxy <b>{}</b>.", esc(own));
        if let Some(r) = self.conf.refresh {
            let _ = write!(out, " Refreshed every {} s.", r.as_secs());
        }
        out.push_str(" Also as <a href=\";csv\">CSV</a> and <a href=\";json\">JSON</a>.</p>\n");
        if self.conf.show_legends {
            out.push_str(
                "<p>Legend: <b>Queue</b> cur/max, <b>Sessions</b> cur/max/limit/total, <b>Bytes</b> in/out, \
                 <b>Denied</b> req/resp, <b>Errors</b> req/conn/resp, <b>Warnings</b> retries/redispatches, \
                 <b>LastChk</b> the last health check, <b>Wght</b> weight, <b>Act</b>/<b>Bck</b> active/backup.</p>\n",
            );
        }
        const COLS: [(&str, usize); 22] = [
            ("Queue cur", f::QCUR),
            ("Queue max", f::QMAX),
            ("Sess cur", f::SCUR),
            ("Sess max", f::SMAX),
            ("Sess limit", f::SLIM),
            ("Sess total", f::STOT),
            ("Rate", f::RATE),
            ("Requests", f::REQ_TOT),
            ("Bytes in", f::BIN),
            ("Bytes out", f::BOUT),
            ("Denied req", f::DREQ),
            ("Denied resp", f::DRESP),
            ("Err req", f::EREQ),
            ("Err conn", f::ECON),
            ("Err resp", f::ERESP),
            ("Retr", f::WRETR),
            ("Redis", f::WREDIS),
            ("Status", f::STATUS),
            ("LastChk", f::CHECK_DESC),
            ("Wght", f::WEIGHT),
            ("Act", f::ACT),
            ("Bck", f::BCK),
        ];
        let mut current: Option<usize> = None;
        for r in rows {
            if current != Some(r.proxy) {
                if current.is_some() {
                    out.push_str("</table>\n");
                }
                current = Some(r.proxy);
                let p = &view.proxies[r.proxy];
                let _ = write!(out, "<table id=\"{0}\">\n<caption>{0} <small>(mode {1})</small></caption>\n<tr><th>Name</th>", esc(&p.name), cell(r.get(f::MODE)));
                for (title, _) in COLS {
                    let _ = write!(out, "<th>{title}</th>");
                }
                out.push_str("<th>2xx</th><th>4xx</th><th>5xx</th></tr>\n");
            }
            let class = match (r.kind, r.get(f::STATUS)) {
                (RowKind::Frontend, _) => "fe",
                (RowKind::Backend, Value::Str(s)) if s == "DOWN" => "down",
                (RowKind::Backend, _) => "be",
                (_, Value::Str(s)) if s.starts_with("MAINT") || s.starts_with("DRAIN") => "maint",
                (_, Value::Str(s)) if s.starts_with("DOWN") => "down",
                _ => "up",
            };
            let _ = write!(out, "<tr class=\"{class}\"><td class=\"n\">{}</td>", cell(r.get(f::SVNAME)));
            for (_, field) in COLS {
                let _ = write!(out, "<td>{}</td>", cell(r.get(field)));
            }
            for field in [f::HRSP_2XX, f::HRSP_4XX, f::HRSP_5XX] {
                let _ = write!(out, "<td>{}</td>", cell(r.get(field)));
            }
            out.push_str("</tr>\n");
        }
        if current.is_some() {
            out.push_str("</table>\n");
        } else {
            out.push_str("<p>No proxy in scope.</p>\n");
        }
        out.push_str("</body></html>\n");
    }
}

impl Options {
    /// Reads the `;csv`, `;json`, `;norefresh`, `;up` and `;scope=<text>` options
    /// after the `stats uri` prefix (anywhere, in any order, as HAProxy does).
    fn parse(after: &str) -> Options {
        let mut o = Options::default();
        for part in after.split(';').skip(1) {
            let word = part.split(['/', '?', '&']).next().unwrap_or("");
            match word {
                "csv" => o.format = Format::Csv,
                "typed" => o.format = Format::Typed,
                "no-maint" => o.no_maint = true,
                "json" => o.format = Format::Json,
                "norefresh" => o.norefresh = true,
                "up" => o.up_only = true,
                w if w.starts_with("scope=") => {
                    let s = &w["scope=".len()..];
                    o.scope = (!s.is_empty()).then(|| s.to_string());
                }
                _ => {}
            }
        }
        o
    }
}

/// The path and query of a target: an absolute-form target loses its scheme and
/// authority.
fn origin_part(target: &str) -> &str {
    match target.find("://") {
        Some(i) if !target.starts_with('/') => {
            let rest = &target[i + 3..];
            rest.find('/').map_or("", |j| &rest[j..])
        }
        _ => target,
    }
}

fn cell(v: &Value) -> String {
    match v {
        Value::Empty => String::new(),
        Value::U32(n) => n.to_string(),
        Value::U64(n) => n.to_string(),
        Value::S32(n) => n.to_string(),
        Value::Str(s) => esc(s),
    }
}

/// Escapes text for HTML.
fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '&' => o.push_str("&amp;"),
            '"' => o.push_str("&quot;"),
            c => o.push(c),
        }
    }
    o
}


#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_are_read_after_the_prefix() {
        assert_eq!(Options::parse(""), Options::default());
        let o = Options::parse(";csv;norefresh");
        assert_eq!((o.format, o.norefresh, o.up_only), (Format::Csv, true, false));
        assert_eq!(Options::parse("/;json").format, Format::Json);
        let o = Options::parse(";up;scope=web;no-maint;typed");
        assert!(o.up_only && o.no_maint);
        assert_eq!(o.format, Format::Typed);
        assert_eq!(o.scope.as_deref(), Some("web"));
    }

    #[test]
    fn the_prefix_is_matched_on_the_path_and_query() {
        let page = StatsPage::new(&StatsConf::default(), &AclSet::default(), "p").unwrap();
        assert!(page.matches("/haproxy?stats"));
        assert!(page.matches("/haproxy?stats;csv"));
        assert!(page.matches("http://h:80/haproxy?stats"));
        assert!(!page.matches("/haproxy"));
        assert!(!page.matches("/other/haproxy?stats"));
    }

    #[test]
    fn unauthorized_names_the_realm() {
        let conf = StatsConf { realm: Some("My Realm".into()), ..StatsConf::default() };
        let page = StatsPage::new(&conf, &AclSet::default(), "p").unwrap();
        let Verdict::Reply { response, .. } = page.unauthorized(None) else { panic!() };
        let text = String::from_utf8(response).unwrap();
        assert!(text.starts_with("HTTP/1.1 401 Unauthorized\r\ncontent-length: 112\r\n"), "{text}");
        assert!(text.contains("www-authenticate: Basic realm=\"My Realm\"\r\n"));
        let Verdict::Reply { response, .. } = page.unauthorized(Some("R2")) else { panic!() };
        assert!(String::from_utf8(response).unwrap().contains("realm=\"R2\""));
    }

    #[test]
    fn auth_and_rules_do_not_go_together() {
        let mut conf = StatsConf { auth: vec![("u".into(), "p".into())], ..StatsConf::default() };
        conf.http_rules.push(crate::config::model::HttpRuleConf {
            list: crate::config::model::HttpRuleList::Request,
            action: vec!["allow".into()],
            cond: None,
            location: crate::config::model::Location { file: "t.cfg".into(), line: 1 },
            redirect_keyword: false,
        });
        let err = StatsPage::new(&conf, &AclSet::default(), "web").unwrap_err();
        assert_eq!(err, "proxy 'web': stats 'auth'/'realm' and 'http-request' can't be used at the same time.");
    }

    #[test]
    fn html_is_escaped() {
        assert_eq!(esc("<a&\"b\">"), "&lt;a&amp;&quot;b&quot;&gt;");
    }
}
