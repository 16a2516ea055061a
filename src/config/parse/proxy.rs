//! Keyword parsers of the proxy sections (`defaults`, `frontend`, `backend`, `listen`).

use super::{expect_args, not_supported, u32_arg, Line, Parser};
use crate::config::keywords::{self, Section, SubState, B, D, F};
use crate::config::model::{Balance, Bind, BindAddr, Mode, NamedRef, UseBackend};
use crate::config::units;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// HAProxy's `option tcplog` format.
pub const TCPLOG_FORMAT: &str =
    "%ci:%cp [%t] %ft %b/%s %Tw/%Tc/%Tt %B %ts %ac/%fc/%bc/%sc/%rc %sq/%bq";
/// HAProxy's `option httplog` format.
pub use crate::log::HTTPLOG_FORMAT;

pub use super::acl::acl;
pub use super::rules::{http_rule, redirect_rule, tcp_rule};
pub use super::server::{default_server, server};

pub fn mode(p: &mut Parser, l: &Line) -> Result<(), String> {
    let m = match l.arg(1) {
        "tcp" => Mode::Tcp,
        "http" => Mode::Http,
        "health" => return Err("'mode health' doesn't exist anymore. Please use 'http-request return' or 'tcp-request connection reject' instead.".into()),
        other => return Err(format!("unknown proxy mode '{other}'.")),
    };
    expect_args(l, 1, "one argument")?;
    p.draft().proxy.mode = m;
    Ok(())
}

pub fn maxconn(p: &mut Parser, l: &Line) -> Result<(), String> {
    expect_args(l, 1, "an integer argument")?;
    p.draft().proxy.maxconn = Some(u32_arg(l, 1, "maxconn")?);
    Ok(())
}

pub fn backlog(p: &mut Parser, l: &Line) -> Result<(), String> {
    expect_args(l, 1, "an integer argument")?;
    p.draft().proxy.backlog = Some(u32_arg(l, 1, "backlog")?);
    Ok(())
}

pub fn fullconn(p: &mut Parser, l: &Line) -> Result<(), String> {
    expect_args(l, 1, "an integer argument")?;
    p.draft().proxy.fullconn = Some(u32_arg(l, 1, "fullconn")?);
    Ok(())
}

pub fn retries(p: &mut Parser, l: &Line) -> Result<(), String> {
    if l.arg(1).is_empty() {
        return Err("'retries' expects an integer argument (dispatch counts for one).".into());
    }
    expect_args(l, 1, "an integer argument")?;
    p.draft().proxy.retries = u32_arg(l, 1, "retries")?;
    Ok(())
}

/// `http-reuse never|safe|aggressive|always`.
pub fn http_reuse(p: &mut Parser, l: &Line) -> Result<(), String> {
    use crate::config::model::HttpReuse;
    let mode = match l.arg(1) {
        "never" => HttpReuse::Never,
        "safe" => HttpReuse::Safe,
        "aggressive" => HttpReuse::Aggressive,
        "always" => HttpReuse::Always,
        _ => return Err("'http-reuse' only supports 'never', 'safe', 'aggressive', 'always'.".into()),
    };
    if l.args.len() > 2 {
        return Err(format!("'http-reuse {}' cannot handle unexpected argument '{}'.", l.arg(1), l.arg(2)));
    }
    p.draft().proxy.http_reuse = mode;
    Ok(())
}

pub fn disabled(p: &mut Parser, l: &Line) -> Result<(), String> {
    expect_args(l, 0, "no argument")?;
    p.draft().proxy.disabled = true;
    Ok(())
}

pub fn enabled(p: &mut Parser, l: &Line) -> Result<(), String> {
    expect_args(l, 0, "no argument")?;
    p.draft().proxy.disabled = false;
    Ok(())
}

/// `description <text...>`: informational, not kept in the model.
pub fn description(p: &mut Parser, l: &Line) -> Result<(), String> {
    if l.args.len() < 2 {
        p.alert_directive(&l.loc, "'description' expects a string argument.");
    }
    Ok(())
}

/// `bind-process <set>...`: processes are gone from HAProxy 2.6 (threads took their
/// place); it accepts the keyword with a deprecation warning, and refuses a process it
/// does not have.
pub fn bind_process(p: &mut Parser, l: &Line) -> Result<(), String> {
    process_set(&l.args[1..])?;
    let text = format!("parsing [{}]: 'bind-process' has no effect, is deprecated, and will be removed in version 2.7.", l.loc);
    p.push(crate::config::diagnostic::Diagnostic::plain(crate::diag::Severity::Warning, Some(&l.loc), text));
    Ok(())
}

/// The process set of `bind-process` and `stats bind-process`: `all`, `odd`, `even`, or
/// numbers and ranges of the one process there is.
pub(super) fn process_set(words: &[String]) -> Result<(), String> {
    for w in words {
        let ok = matches!(w.as_str(), "all" | "odd" | "even")
            || w.split_once('-').map_or(w.as_str() == "1", |(a, b)| a == "1" && (b == "1" || b.is_empty()));
        if !ok {
            return Err(format!("bind-process : '{w}' is not a valid number/range. It supports numbers from 1 to 1.\n"));
        }
    }
    Ok(())
}

/// `id <n>`: the proxy's numeric id (`iid`, Lua's `Proxy.uuid`), unique among proxies.
pub fn id(p: &mut Parser, l: &Line) -> Result<(), String> {
    expect_args(l, 1, "an integer argument")?;
    let v = u32_arg(l, 1, "id")?;
    if v == 0 {
        return Err("custom id 0 reserved for internal use.".into());
    }
    let me = &p.draft().proxy;
    let me = format!("{} {}", super::proxy_type_name(me.cap), me.name);
    if let Some(other) = p.config.proxies.iter().find(|o| o.id == Some(v)) {
        let at = other.location.as_ref().map_or(String::new(), |l| l.to_string());
        let msg = format!("{me} reuses same custom id as {} {} (declared at {at}).", super::proxy_type_name(other.cap), other.name);
        p.alert_directive(&l.loc, msg);
        return Ok(());
    }
    p.draft().proxy.id = Some(v);
    Ok(())
}

pub fn log_format(p: &mut Parser, l: &Line) -> Result<(), String> {
    if l.args.len() < 2 {
        return Err("log-format expects an argument.".into());
    }
    expect_args(
        l,
        1,
        "a format string as argument. Use quotes if the format contains spaces",
    )?;
    p.draft().proxy.log_format = Some(l.arg(1).to_string());
    Ok(())
}

pub fn unique_id_format(p: &mut Parser, l: &Line) -> Result<(), String> {
    if l.args.len() < 2 {
        return Err("'unique-id-format' expects an argument.".into());
    }
    expect_args(
        l,
        1,
        "an argument. Use quotes if the format contains spaces",
    )?;
    p.draft().proxy.unique_id_format = Some(l.arg(1).to_string());
    Ok(())
}

pub fn default_backend(p: &mut Parser, l: &Line) -> Result<(), String> {
    if l.arg(1).is_empty() {
        return Err("'default_backend' expects a backend name.".into());
    }
    expect_args(l, 1, "a backend name")?;
    if l.arg(1).contains('%') {
        return Err(not_supported("default_backend with a log-format name"));
    }
    p.draft().proxy.default_backend = Some(NamedRef {
        name: l.arg(1).to_string(),
        location: l.loc.clone(),
    });
    Ok(())
}

/// `monitor-uri <uri>`.
pub fn monitor_uri(p: &mut Parser, l: &Line) -> Result<(), String> {
    if l.arg(1).is_empty() {
        return Err("'monitor-uri' expects an URI.".into());
    }
    if let Some(extra) = l.args.get(2) {
        return Err(format!("'monitor-uri' cannot handle unexpected argument '{extra}'."));
    }
    p.draft().proxy.monitor_uri = Some(l.arg(1).to_string());
    Ok(())
}

/// `monitor fail if|unless <cond>`.
pub fn monitor(p: &mut Parser, l: &Line) -> Result<(), String> {
    if l.arg(1) != "fail" {
        return Err("'monitor' only supports 'fail'.".into());
    }
    let w = l.arg(2);
    if w != "if" && w != "unless" {
        return Err("'monitor fail' requires either 'if' or 'unless' followed by a condition.".into());
    }
    let acls = p.draft().proxy.acls.clone();
    let c = super::acl::parse_condition(w == "unless", &l.args[3..], &acls, &l.loc)
        .map_err(|e| format!("error detected while parsing a 'monitor fail' condition : {e}."))?;
    p.draft().proxy.monitor_fail.push(c);
    Ok(())
}

/// `force-persist if|unless <cond>` and `ignore-persist if|unless <cond>` (backends).
pub fn persist_rule(p: &mut Parser, l: &Line) -> Result<(), String> {
    let kw = l.arg(0);
    let w = l.arg(1);
    if w != "if" && w != "unless" {
        return Err(format!("'{kw}' requires either 'if' or 'unless' followed by a condition."));
    }
    let acls = p.draft().proxy.acls.clone();
    let mut cond = super::acl::parse_condition(w == "unless", &l.args[2..], &acls, &l.loc)
        .map_err(|e| format!("error detected while parsing a '{kw}' rule : {e}."))?;
    super::rules::check_cond_place(p, l, &mut cond, (crate::sample::usable::Place::BeUseServer, None));
    let proxy = &mut p.draft().proxy;
    if kw == "force-persist" {
        proxy.force_persist.push(cond);
    } else {
        proxy.ignore_persist.push(cond);
    }
    Ok(())
}

/// `use-server <server> if|unless <cond>` (backends).
pub fn use_server(p: &mut Parser, l: &Line) -> Result<(), String> {
    if l.arg(1).is_empty() {
        return Err("'use-server' expects a server name.".into());
    }
    let w = l.arg(2);
    if w != "if" && w != "unless" {
        return Err("'use-server' requires either 'if' or 'unless' followed by a condition.".into());
    }
    let acls = p.draft().proxy.acls.clone();
    let mut cond = super::acl::parse_condition(w == "unless", &l.args[3..], &acls, &l.loc)
        .map_err(|e| format!("error detected while parsing switching rule : {e}."))?;
    super::rules::check_cond_place(p, l, &mut cond, (crate::sample::usable::Place::BeUseServer, None));
    p.draft().proxy.use_servers.push(crate::config::model::UseServer { server: l.arg(1).to_string(), cond });
    Ok(())
}

pub fn use_backend(p: &mut Parser, l: &Line) -> Result<(), String> {
    if l.arg(1).is_empty() {
        return Err("'use_backend' expects a backend name.".into());
    }
    if l.arg(1).contains('%') {
        crate::http::rules::Fmt::parse(l.arg(1))
            .map_err(|e| format!("use_backend '{}' : {e}.", l.arg(1)))?;
        // A fetch that cannot run when the backend is chosen: 2.6 refuses it when it
        // checks the rules, after parsing (hence its other message shape).
        if let Some(m) = crate::sample::usable::check_log_format(l.arg(1), crate::sample::usable::Place::FeUseBackend) {
            let msg = format!("Parsing [{}]: failed to parse use_backend rule '{}' : {m}.", l.loc, l.arg(1));
            p.push(crate::config::diagnostic::Diagnostic::plain(crate::diag::Severity::Alert, Some(&l.loc), msg));
        }
    }
    let cond = match l.args.get(2).map(String::as_str) {
        None => None,
        Some(w @ ("if" | "unless")) => {
            let acls = p.draft().proxy.acls.clone();
            let mut c = super::acl::parse_condition(w == "unless", &l.args[3..], &acls, &l.loc)
                .map_err(|e| format!("error detected while parsing switching rule : {e}."))?;
            super::rules::check_cond_place(p, l, &mut c, (crate::sample::usable::Place::FeUseBackend, None));
            Some(c)
        }
        Some(other) => {
            return Err(format!(
                "unexpected keyword '{other}' after switching rule, only 'if' and 'unless' are allowed."
            ))
        }
    };
    let rule = UseBackend {
        backend: NamedRef {
            name: l.arg(1).to_string(),
            location: l.loc.clone(),
        },
        cond,
    };
    p.draft().proxy.use_backends.push(rule);
    Ok(())
}

pub fn balance(p: &mut Parser, l: &Line) -> Result<(), String> {
    let algo = l.arg(1);
    let b = match algo {
        "roundrobin" => Balance::RoundRobin,
        "static-rr" => Balance::StaticRr,
        "leastconn" => Balance::LeastConn,
        "first" => Balance::First,
        "source" => Balance::Source,
        "uri" => return balance_uri(p, l),
        "url_param" => {
            let name = l.args.get(2).filter(|n| !n.is_empty()).ok_or("balance url_param requires an URL parameter name.")?;
            // `check_post [<max_wait>]` looks into POST bodies: accepted, the query string is used.
            Balance::UrlParam { name: name.clone() }
        }
        "random" => Balance::Random { draws: 2 },
        a if a.starts_with("random(") => {
            let inner = &a["random(".len()..];
            let digits = inner.find(|c: char| !c.is_ascii_digit()).unwrap_or(inner.len());
            if !inner[digits..].starts_with(')') || inner.len() != digits + 1 {
                let bad = inner[digits..].chars().next().unwrap_or(')');
                return Err(format!("balance random : unexpected character '{bad}' after argument."));
            }
            let draws: u32 = inner[..digits].parse().unwrap_or(0);
            if draws < 1 {
                return Err("balance random : number of draws must be at least 1.".into());
            }
            Balance::Random { draws }
        }
        a if a.starts_with("hdr(") => {
            let name = a["hdr(".len()..].strip_suffix(')').unwrap_or(&a["hdr(".len()..]);
            if name.is_empty() {
                return Err("balance hdr requires an http header field name.".into());
            }
            let domain_only = match l.args.get(2).map(String::as_str) {
                None => false,
                Some("use_domain_only") => true,
                Some(other) => {
                    return Err(format!("balance {a} only accepts 'use_domain_only' modifier (got '{other}')."));
                }
            };
            Balance::Hdr { name: name.to_string(), domain_only }
        }
        "hash" => return Err(not_supported("balance hash")),
        a if a.starts_with("rdp-cookie") => {
            let name = cookie_name(&a["rdp-cookie".len()..], "mstshash").ok_or("balance rdp-cookie : missing cookie name.")?;
            Balance::RdpCookie { name }
        }
        _ => {
            return Err("balance only supports 'roundrobin', 'static-rr', 'leastconn', 'source', 'uri', 'url_param', 'hdr(name)' and 'rdp-cookie(name)' options.".into())
        }
    };
    // HAProxy ignores what follows `rdp-cookie(name)`.
    let takes_args = matches!(b, Balance::UrlParam { .. } | Balance::Hdr { .. } | Balance::RdpCookie { .. });
    if let Some(extra) = l.args.get(2).filter(|_| !takes_args) {
        return Err(format!("'balance {algo}' cannot handle unexpected argument '{extra}'."));
    }
    p.draft().proxy.balance = b;
    p.draft().proxy.balance_set = true;
    Ok(())
}

/// The name of `rdp-cookie` (what follows the keyword: nothing, or `(<name>)`), or
/// `default`; `None` when it is malformed or empty.
fn cookie_name(rest: &str, default: &str) -> Option<String> {
    if rest.is_empty() {
        return Some(default.to_string());
    }
    let inner = rest.strip_prefix('(')?;
    let name = &inner[..inner.find(')')?];
    (!name.is_empty()).then(|| name.to_string())
}

/// `persist rdp-cookie[(<name>)]`: the RDP cookie names the server to go to (TCP
/// mode). HAProxy's only `persist` method; what follows it is ignored, as HAProxy does.
pub fn persist(p: &mut Parser, l: &Line) -> Result<(), String> {
    let method = l.arg(1);
    if method.is_empty() {
        return Err("missing persist method.".into());
    }
    let rest = method.strip_prefix("rdp-cookie").ok_or("unknown persist method.")?;
    let name = cookie_name(rest, "msts").ok_or("persist rdp-cookie(name)' requires an rdp cookie name.")?;
    p.draft().proxy.persist_rdp_cookie = Some(name);
    Ok(())
}

/// `balance uri [whole] [len N] [depth N] [path-only]`.
fn balance_uri(p: &mut Parser, l: &Line) -> Result<(), String> {
    let mut u = crate::config::model::UriHash::default();
    let mut i = 2;
    while let Some(word) = l.args.get(i) {
        match word.as_str() {
            "whole" => u.whole = true,
            "path-only" => u.path_only = true,
            "len" | "depth" => {
                let value = l.args.get(i + 1).map_or("", String::as_str);
                let n: u32 = value
                    .parse()
                    .ok()
                    .filter(|&n| n > 0)
                    .ok_or_else(|| format!("balance uri : '{word}' expects a positive integer (got '{value}')."))?;
                if word == "len" { u.len = n } else { u.depth = n }
                i += 1;
            }
            other => {
                return Err(format!(
                    "balance uri only accepts parameters 'len', 'depth', 'path-only', and 'whole' (got '{other}')."
                ))
            }
        }
        i += 1;
    }
    p.draft().proxy.balance = Balance::Uri(u);
    p.draft().proxy.balance_set = true;
    Ok(())
}

/// `hash-type <map-based|consistent> [sdbm|djb2|wt6|crc32] [avalanche]`.
pub fn hash_type(p: &mut Parser, l: &Line) -> Result<(), String> {
    use crate::config::model::{HashFunction, HashType};
    let mut ht = HashType::default();
    match l.arg(1) {
        "map-based" => {}
        "consistent" => ht.consistent = true,
        _ => return Err("'hash-type' only supports 'consistent' and 'map-based'.".into()),
    }
    if let Some(f) = l.args.get(2) {
        ht.function = match f.as_str() {
            "sdbm" => HashFunction::Sdbm,
            "djb2" => HashFunction::Djb2,
            "wt6" => HashFunction::Wt6,
            "crc32" => HashFunction::Crc32,
            _ => return Err("'hash-type' only supports 'sdbm', 'djb2', 'crc32', or 'wt6' hash functions.".into()),
        };
    }
    match l.args.get(3).map(String::as_str) {
        None => {}
        Some("avalanche") => ht.avalanche = true,
        Some(_) => return Err("'hash-type' only supports 'avalanche' as a modifier for hash functions.".into()),
    }
    p.draft().proxy.hash_type = ht;
    Ok(())
}

/// `log global | no log | log <target> ...`.
pub fn log(p: &mut Parser, l: &Line) -> Result<(), String> {
    if l.arg(0) == "no" {
        if l.args.len() > 2 {
            return Err("log : 'no log' does not expect arguments".into());
        }
        p.draft().proxy.logs.clear();
        return Ok(());
    }
    if l.args.len() < 2 {
        return Err("log : expects <address> and <facility> or global as arguments".into());
    }
    if l.arg(1) == "global" {
        expect_args(l, 1, "no argument after 'global'")?;
        let global = p.config.global.logs.clone();
        p.draft().proxy.logs.extend(global);
        return Ok(());
    }
    let target = super::log::parse_log_target(&l.args[1..], &l.loc)?;
    p.draft().proxy.logs.push(target);
    Ok(())
}

const TIMEOUTS: &str = "'timeout' supports 'client', 'server', 'connect', 'check', 'queue', 'http-keep-alive', 'http-request', 'tunnel', 'tarpit', 'client-fin' and 'server-fin'";

pub fn timeout(p: &mut Parser, l: &Line) -> Result<(), String> {
    let name = l.arg(1);
    // Which side of a proxy uses the timeout.
    let side = match name {
        "client" | "client-fin" | "http-request" => F,
        "server" | "server-fin" | "connect" | "queue" | "check" | "tunnel" => B,
        "http-keep-alive" | "tarpit" => F | B,
        _ => return Err(format!("{TIMEOUTS} (got '{name}')")),
    };
    let what = format!("'timeout {name}'");
    let value = l.arg(2);
    let t: Duration =
        units::parse_time(value).map_err(|e| units::time_error_message(&e, value, &what))?;
    if let Some(extra) = l.args.get(3) {
        return Err(format!(
            "{what} cannot handle unexpected argument '{extra}'."
        ));
    }
    let d = p.draft();
    let cap = d.proxy.cap;
    let usable = d.section == Section::Defaults
        || (side & F != 0 && cap.frontend)
        || (side & B != 0 && cap.backend);
    if !usable {
        let msg = format!(
            "{what} will be ignored because {} has no {} capability",
            d.describe(),
            if side & F != 0 { "frontend" } else { "backend" }
        );
        p.warn(&l.loc, msg);
        return Ok(());
    }
    let t = Some(t);
    let to = &mut p.draft().proxy.timeouts;
    match name {
        "client" => to.client = t,
        "client-fin" => to.client_fin = t,
        "http-request" => to.http_request = t,
        "server" => to.server = t,
        "server-fin" => to.server_fin = t,
        "connect" => to.connect = t,
        "queue" => to.queue = t,
        "check" => to.check = t,
        "tunnel" => to.tunnel = t,
        "http-keep-alive" => to.http_keep_alive = t,
        _ => to.tarpit = t,
    }
    Ok(())
}

/// `option X`, `no option X`.
pub fn option(p: &mut Parser, l: &Line) -> Result<(), String> {
    let negate = l.arg(0) == "no";
    let args = if negate { &l.args[1..] } else { &l.args[..] };
    let name = args.get(1).map_or("", String::as_str);
    if name.is_empty() {
        p.alert_directive(&l.loc, "'option' expects an option name.");
        return Ok(());
    }
    let Some(opt) = keywords::lookup_sub(keywords::OPTIONS, name) else {
        return Err(format!("unknown option '{name}'."));
    };
    let d = p.draft();
    let section = d.section;
    let allowed = match section {
        Section::Defaults => opt.sections & D != 0,
        _ => {
            (d.proxy.cap.frontend && opt.sections & F != 0)
                || (d.proxy.cap.backend && opt.sections & B != 0)
        }
    };
    if !allowed {
        let lacking = if opt.sections & F != 0 {
            "frontend"
        } else {
            "backend"
        };
        // HAProxy 2.6 words the log formats its own way.
        let msg = match name {
            "httplog" | "tcplog" => format!("{} : 'option {name}' directive is ignored in backends.", d.describe()),
            _ => format!("'{name}' ignored because {} has no {lacking} capability.", d.describe()),
        };
        p.warn(&l.loc, msg);
        return Ok(());
    }
    match opt.state {
        SubState::NotYet => return Err(not_supported(&format!("option {name}"))),
        SubState::Ignored => return Ok(()),
        SubState::Supported => {}
    }
    if !negate {
        super::external_check::replaced_by_other_check(p, name);
    }
    if name == "external-check" {
        return super::external_check::option(p, l, negate);
    }
    if name == "httpchk" {
        return super::http_check::option_httpchk(p, l, negate, &args[2..]);
    }
    if name == "tcp-check" {
        return super::tcp_check::option_tcp_check(p, l, negate);
    }
    if let Some(result) = super::tcp_check::option_protocol(p, l, negate, name, &args[2..]) {
        return result;
    }
    if negate && matches!(name, "tcplog" | "httplog") {
        p.alert_directive(
            &l.loc,
            format!("negation/default is not supported for option '{name}'."),
        );
        return Ok(());
    }
    if let Some(result) = http_option(p, name, negate, &args[2..]) {
        return result;
    }
    let parsed = crate::http::options::parse(&mut p.draft().proxy.options, name, negate, &args[2..])
        .or_else(|| crate::http::proxy_options::parse(&mut p.draft().proxy.options, name, negate, &args[2..]));
    match parsed {
        Some(crate::http::options::Parsed::Ok) => return Ok(()),
        Some(crate::http::options::Parsed::Err(e)) => return Err(e),
        Some(crate::http::options::Parsed::Directive(e)) => {
            p.alert_directive(&l.loc, e);
            return Ok(());
        }
        None => {}
    }
    let max_args = match name {
        "redispatch" | "httplog" => 1,
        _ => 0,
    };
    if let Some(extra) = args.get(2 + max_args) {
        return Err(format!(
            "'option {name}' cannot handle unexpected argument '{extra}'."
        ));
    }
    let arg = args.get(2).map(String::as_str);
    let on = !negate;
    let proxy = &mut p.draft().proxy;
    let o = &mut proxy.options;
    match name {
        "tcplog" => {
            o.tcplog = true;
            o.httplog = false;
            proxy.log_format = Some(TCPLOG_FORMAT.to_string());
        }
        "httplog" => {
            let format = match arg {
                None => HTTPLOG_FORMAT,
                Some("clf") => crate::log::HTTPLOG_CLF_FORMAT,
                Some(a) => return Err(format!("'option httplog' cannot handle unexpected argument '{a}'.")),
            };
            o.httplog = true;
            o.tcplog = false;
            proxy.log_format = Some(format.to_string());
        }
        "redispatch" => {
            o.redispatch = on;
            // HAProxy's default interval is -1: redispatch on the last retry.
            o.redispatch_interval = match arg {
                None => -1,
                Some(a) => a.parse::<i32>().map_err(|_| {
                    format!("'option redispatch' expects an integer interval, got '{a}'.")
                })?,
            };
            if o.redispatch_interval == 0 {
                o.redispatch = false;
            }
        }
        "dontlognull" => o.dontlognull = on,
        "log-separate-errors" => o.log_separate_errors = on,
        "tcpka" => o.tcpka = on,
        "clitcpka" => o.clitcpka = on,
        "srvtcpka" => o.srvtcpka = on,
        "nolinger" => o.nolinger = on,
        "abortonclose" => o.abortonclose = on,
        "log-health-checks" => o.log_health_checks = on,
        "allbackups" => o.allbackups = on,
        "persist" => o.persist = on,
        "transparent" => o.transparent = on,
        "splice-auto" => o.splice_auto = on,
        "h1-case-adjust-bogus-client" => o.h1_case_adjust_bogus_client = on,
        "h1-case-adjust-bogus-server" => o.h1_case_adjust_bogus_server = on,
        _ => {}
    }
    match name {
        "httplog" => p.draft().httplog_at = Some(l.loc.clone()),
        "tcplog" => p.draft().httplog_at = None,
        _ => {}
    }
    Ok(())
}

/// The HTTP-mode options (issue 5): `option http-keep-alive`, `http-server-close`,
/// `httpclose`, `http-pretend-keepalive`, `http-buffer-request`, `forwardfor`,
/// `originalto`. `None` when `name` is not one of them.
fn http_option(p: &mut Parser, name: &str, negate: bool, args: &[String]) -> Option<Result<(), String>> {
    use crate::config::model::{ForwardFor, HttpConnMode, OriginalTo};
    let mode = match name {
        "http-keep-alive" => Some(HttpConnMode::KeepAlive),
        "http-server-close" => Some(HttpConnMode::ServerClose),
        "httpclose" => Some(HttpConnMode::Close),
        "http-pretend-keepalive" | "http-buffer-request" | "forwardfor" | "originalto" => None,
        _ => return None,
    };
    let takes_args = matches!(name, "forwardfor" | "originalto");
    if !takes_args {
        if let Some(extra) = args.first() {
            return Some(Err(format!("'option {name}' cannot handle unexpected argument '{extra}'.")));
        }
    }
    let o = &mut p.draft().proxy.options.http;
    if let Some(m) = mode {
        // `no option X` goes back to the default only if X was the mode in force.
        if !negate {
            o.conn_mode = Some(m);
        } else if o.conn_mode == Some(m) {
            o.conn_mode = None;
        }
        return Some(Ok(()));
    }
    match name {
        "http-pretend-keepalive" => o.pretend_keepalive = !negate,
        "http-buffer-request" => o.buffer_request = !negate,
        _ if negate => {
            if name == "forwardfor" {
                o.forwardfor = None;
            } else {
                o.originalto = None;
            }
        }
        _ => {
            let default_header = if name == "forwardfor" { "X-Forwarded-For" } else { "X-Original-To" };
            let (mut header, mut except, mut if_none) = (default_header.to_string(), None, false);
            let mut i = 0;
            while i < args.len() {
                let value = args.get(i + 1).filter(|v| !v.is_empty());
                match args[i].as_str() {
                    "except" => match value.map(|v| parse_net(v)) {
                        Some(Ok(net)) => except = Some(net),
                        Some(Err(e)) => return Some(Err(e)),
                        None => return Some(Err(format!("'option {name}' : missing netmask after 'except'."))),
                    },
                    "header" => match value {
                        Some(v) => header = v.clone(),
                        None => return Some(Err(format!("'option {name}' : missing header name after 'header'."))),
                    },
                    "if-none" if name == "forwardfor" => {
                        if_none = true;
                        i += 1;
                        continue;
                    }
                    other => {
                        let expected = if name == "forwardfor" { "'except', 'header' and 'if-none'" } else { "'except' and 'header'" };
                        return Some(Err(format!("'option {name}' only supports optional values {expected} (got '{other}').")));
                    }
                }
                i += 2;
            }
            if name == "forwardfor" {
                o.forwardfor = Some(ForwardFor { header, except, if_none });
            } else {
                o.originalto = Some(OriginalTo { header, except });
            }
        }
    }
    Some(Ok(()))
}

/// `addr[/prefix]` or `addr/dotted-mask`, for `except`.
fn parse_net(s: &str) -> Result<(std::net::IpAddr, u8), String> {
    let bad = || format!("invalid network '{s}'.");
    let (addr, len) = match s.split_once('/') {
        Some((a, l)) => (a, Some(l)),
        None => (s, None),
    };
    let ip: std::net::IpAddr = addr.parse().map_err(|_| bad())?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    let len = match len {
        None => max,
        Some(l) => match (l.parse::<u8>(), l.parse::<std::net::Ipv4Addr>()) {
            (Ok(n), _) if n <= max => n,
            (_, Ok(mask)) if ip.is_ipv4() => {
                let m = u32::from(mask);
                if m.leading_ones() + m.trailing_zeros() != 32 {
                    return Err(bad());
                }
                m.leading_ones() as u8
            }
            _ => return Err(bad()),
        },
    };
    Ok((ip, len))
}

/// `bind <addr>[,<addr>...] [settings]`.
pub fn bind(p: &mut Parser, l: &Line) -> Result<(), String> {
    let section = p.draft().section.name();
    let b = parse_bind(p, l, section)?;
    p.draft().proxy.binds.push(b);
    Ok(())
}

/// A `bind` line of section `section` (also `log-forward`'s: src/config/parse/log_forward.rs).
pub(super) fn parse_bind(p: &mut Parser, l: &Line, section: &str) -> Result<Bind, String> {
    const USAGE: &str =
        "'bind' expects {<path>|[addr1]:port1[-end1]}{,[addr]:port[-end]}... as arguments.";
    let spec = l.arg(1);
    if spec.is_empty() {
        return Err(USAGE.into());
    }
    // HAProxy names the address in a log-forward section's messages, not in a proxy's.
    let addr_ctx = if section == "log-forward" { format!("'bind {spec}'") } else { "'bind'".into() };
    let mut addrs = Vec::new();
    for one in spec.split(',') {
        addrs.extend(parse_bind_addr(p, one).map_err(|e| format!("{addr_ctx} : {e}"))?);
    }
    let ctx = format!("'bind {spec}' in section '{section}'");
    let mut b = Bind::new(l.loc.clone(), addrs);
    let gtls = crate::tls::parse::GlobalTls::from_lines(&p.config.global.tls_defaults).map_err(|e| format!("{ctx} : {e}"))?;
    let mut tls = crate::tls::BindTlsOpts::default();
    let mut i = 2;
    while i < l.args.len() {
        let kw = l.arg(i);
        if let Some(r) = crate::tls::parse::bind_option(&mut tls, &gtls, kw, l.arg(i + 1)) {
            i += r.map_err(|e| format!("{ctx} : {e}"))?;
            continue;
        }
        let Some(sub) = keywords::lookup_sub(keywords::BIND_OPTIONS, kw) else {
            let hint = keywords::suggest(kw, keywords::BIND_OPTIONS.iter().map(|k| k.name))
                .map(|s| format!("; did you mean '{s}' maybe ?"))
                .unwrap_or_default();
            return Err(format!("{ctx}: unknown keyword '{kw}'{hint}"));
        };
        if sub.state == SubState::NotYet {
            return Err(format!("{ctx} : {}", not_supported(kw)));
        }
        match super::bind_opts::apply(&mut b.tuning, kw, l.arg(i + 1)) {
            Ok(Some(used)) => {
                i += used;
                continue;
            }
            Ok(None) => {}
            Err(e) => return Err(format!("{ctx} : {e}")),
        }
        let takes_value = matches!(kw, "name" | "maxconn" | "backlog" | "mode" | "uid" | "gid");
        let value = l.arg(i + 1);
        if takes_value && value.is_empty() {
            return Err(format!("{ctx} : '{kw}' : missing value"));
        }
        let num = |v: &str| -> Result<u32, String> {
            v.parse::<u32>()
                .map_err(|_| format!("{ctx} : '{kw}' : invalid value '{v}'"))
        };
        match kw {
            "name" => b.name = Some(value.to_string()),
            "maxconn" => b.maxconn = Some(num(value)?),
            "backlog" => b.backlog = Some(num(value)?),
            "mode" => {
                b.mode = Some(
                    u32::from_str_radix(value, 8)
                        .map_err(|_| format!("{ctx} : '{kw}' : invalid value '{value}'"))?,
                )
            }
            "uid" => b.uid = Some(num(value)?),
            "gid" => b.gid = Some(num(value)?),
            "v4v6" => b.v4v6 = true,
            "v6only" => b.v6only = true,
            "reuseport" => b.reuseport = true,
            "accept-proxy" => b.accept_proxy = true,
            _ => {}
        }
        i += if takes_value { 2 } else { 1 };
    }
    b.tls = crate::tls::parse::finish_bind(&tls, &gtls).map_err(|e| format!("{ctx} : {e}"))?;
    for w in crate::tls::parse::bind_warnings(&tls, &gtls) {
        p.warn(&l.loc, format!("{ctx} : {w}"));
    }
    // Both headers in turn is not built; a NetScaler header before TLS is untested.
    if b.tuning.netscaler_cip.is_some() && (b.accept_proxy || b.tls.is_some()) {
        let other = if b.accept_proxy { "accept-proxy" } else { "ssl" };
        return Err(format!("{ctx} : 'accept-netscaler-cip' together with '{other}' is not supported by moonproxy yet."));
    }
    Ok(b)
}

/// One address of a `bind` line; port ranges expand to several addresses. The error
/// is HAProxy's reason, without the keyword the caller puts before it.
pub(super) fn parse_bind_addr(p: &Parser, s: &str) -> Result<Vec<BindAddr>, String> {
    use super::addr::{classify, expand_env, inet, Parsed, Ports, Socket};
    let s = &*expand_env(&p.env, s);
    match classify(s) {
        Parsed::Unix(path) => {
            if path.is_empty() {
                return Err(format!("empty path in '{s}'"));
            }
            Ok(vec![BindAddr::Unix(PathBuf::from(path))])
        }
        Parsed::Abstract(name) => Ok(vec![BindAddr::Abstract(name.to_string())]),
        Parsed::Fd(n) => {
            // `fd@${VAR}` outside quotes was expanded above, as every address is.
            let fd = n
                .parse::<i32>()
                .ok()
                .filter(|fd| *fd >= 0)
                .ok_or_else(|| format!("invalid file descriptor '{n}' in '{s}'"))?;
            Ok(vec![BindAddr::Fd(fd)])
        }
        Parsed::Unsupported(prefix) => Err(format!("'{prefix}' addresses are not supported by moonproxy yet.")),
        Parsed::Inet { .. } => {
            let (ip, ports) = inet(s, Ports::Range, Socket::Stream)?;
            Ok(ports.map(|port| BindAddr::Inet(SocketAddr::new(ip, port))).collect())
        }
    }
}
