//! The run-time view of a `frontend`, `backend` or `listen` section: its compiled
//! rules, its timeouts and its live counters. Built once from the configuration by
//! [`build_proxies`]; streams read it, the runtime updates the counters.

use super::acl::{AclSet, CompiledCond};
use crate::sample::SampleCtx;
use crate::config::model::{Capabilities, Config, LogTarget, Mode, ProxyOptions, Timeouts};

/// One `use_backend` rule, compiled.
#[derive(Debug)]
pub struct BackendRule {
    pub cond: Option<CompiledCond>,
    /// Index of the target in the proxy table (unused when `dynamic` is set).
    pub backend: usize,
    /// `use_backend %[...]`: the name is rendered per stream and looked up.
    pub dynamic: Option<DynamicBackend>,
}

/// A log-format backend name and the backends it may name.
#[derive(Debug)]
pub struct DynamicBackend {
    pub name: crate::http::rules::Fmt,
    /// Name and index of every proxy with the backend capability.
    pub table: std::sync::Arc<Vec<(String, usize)>>,
}

/// What one `use_backend` rule decides.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RuleOutcome {
    /// Its condition holds: this backend.
    Backend(usize),
    /// Its condition does not hold: next rule.
    NoMatch,
    /// Its condition holds but its log-format name names no backend: HAProxy then
    /// skips the remaining rules and uses `default_backend`.
    Unresolved,
}

/// `monitor-uri`: what the proxy answers by itself to a load balancer's probe.
#[derive(Debug)]
pub struct Monitor {
    /// Compared with the request target as received, exactly.
    pub uri: String,
    /// `monitor fail` conditions: any that holds makes the answer a 503.
    pub fail: Vec<CompiledCond>,
}

#[derive(Debug)]
pub struct ProxyRt {
    pub name: String,
    /// The proxy's id (`iid`, Lua's `Proxy.uuid`), see [`crate::stats::proxy_ids`].
    pub uuid: u32,
    /// Declared `disabled`: never started, and without statistics in HAProxy (unlike a
    /// proxy stopped at run time, which `disabled` also marks).
    pub declared_disabled: bool,
    pub cap: Capabilities,
    pub mode: Mode,
    pub timeouts: Timeouts,
    /// The named ACLs, shared by `use_backend`, HTTP and TCP rules.
    pub acls: std::sync::Arc<AclSet>,
    pub rules: Vec<BackendRule>,
    /// `use-server` rules: the server (its index in the backend) and the condition.
    pub use_servers: Vec<(usize, CompiledCond)>,
    /// `force-persist` and `ignore-persist` conditions.
    pub force_persist: Vec<CompiledCond>,
    pub ignore_persist: Vec<CompiledCond>,
    /// `default_backend`, or the section itself for a `listen` with servers.
    pub default_backend: Option<usize>,
    pub retries: u32,
    /// `retry-on`: what retries a request (`conn-failure` by default, see `l7retry`).
    pub retry_on: crate::config::model::RetryOn,
    pub options: ProxyOptions,
    /// `option transparent`: the server (named `<NOSRV>`, at `0.0.0.0`) that takes the
    /// connections persistence does not send elsewhere, to the client's destination
    /// (`config::parse::server_extra::finish_dispatch`).
    pub transparent: Option<usize>,
    /// The global `h1-accept-payload-with-any-method` (see
    /// [`crate::http::h1::RequestParser::accept_payload_with_any_method`]).
    pub h1_payload_any_method: bool,
    /// `tune.h2.*` and `tune.bufsize`: the settings of HTTP/2 connections to this
    /// proxy's servers (`super::h2srv`).
    pub h2_settings: crate::http::h2::session::Config,
    pub maxconn: Option<u32>,
    pub logs: Vec<LogTarget>,
    pub log_format: Option<String>,
    /// The compiled log format when it has `%[...]` expressions: the stream evaluates
    /// them into its log record while its transaction exists (set by the runtime).
    pub log_samples: Option<std::sync::Arc<crate::log::LogFormat>>,
    /// The same for `log-format-sd` (set by the runtime).
    pub log_sd_samples: Option<std::sync::Arc<crate::log::LogFormat>>,
    /// `http-request`, `http-response` and `http-after-response` rules.
    pub http_rules: crate::http::rules::HttpRules,
    /// `tcp-request` and `tcp-response` rules (run by the stream with
    /// [`super::analysers::run_tcp_rules`]).
    pub tcp_rules: super::analysers::TcpRules,
    /// The pages of `errorfile`, `errorloc`, `errorfiles` (defaults when none).
    pub error_pages: crate::http::errors::ErrorPages,
    /// The `http-error` replies rendered per response (see [`super::error_reply`]).
    pub error_replies: Vec<(u16, std::sync::Arc<super::error_reply::ErrorReply>)>,
    /// `capture request header` / `capture response header` / `capture cookie`.
    pub req_captures: Vec<crate::config::model::CaptureHeader>,
    pub res_captures: Vec<crate::config::model::CaptureHeader>,
    pub capture_cookie: Option<crate::config::model::CaptureCookie>,
    /// `cookie`: the backend's persistence cookie (HTTP mode).
    pub persist: Option<Box<crate::http::persist::CookiePersist>>,
    /// `persist rdp-cookie(<name>)`: the cookie's name (TCP mode, src/stream/persist.rs).
    pub persist_rdp: Option<Box<str>>,
    /// `stick on|match|store-*` rules (backends, src/stick/persist.rs).
    pub stick_rules: Option<Box<crate::stick::persist::StickRules>>,
    /// The configuration's `userlist` sections, shared by every proxy.
    pub userlists: std::sync::Arc<[crate::config::model::Userlist]>,
    /// `unique-id-format`, compiled, and `unique-id-header`.
    pub unique_id: Option<crate::log::LogFormat>,
    pub unique_id_header: Option<String>,
    pub disabled: bool,
    /// Live connections on the frontend side (`%fc`); `%bc` is kept by the backend.
    pub feconn: u32,
    /// Cumulated connections (for "Proxy X stopped (cumulated conns: FE: n, BE: m)").
    pub cum_fe: u64,
    pub cum_be: u64,
    /// `%lc`: the stream lines this frontend logged (this thread's), counted as their
    /// records are built ([`super::Stream::log_record`]).
    pub log_count: std::cell::Cell<u64>,
    /// The statistics counters (`show stat`, the stats page), see [`crate::stats`].
    pub counters: crate::stats::ProxyCounters,
    /// `stats enable|uri|...`: the stats page this proxy answers.
    pub stats_page: Option<Box<crate::stats::StatsPage>>,
    /// `monitor-uri` and its `monitor fail` conditions (HTTP frontends).
    pub monitor: Option<Box<Monitor>>,
    /// Streams and HTTP transactions of this frontend get a log line (a log format and
    /// at least one log target). When false they build no log record at all: the
    /// runtime clears it for frontends that log nothing. True as built.
    pub logs_streams: bool,
    /// `compression` lines (HTTP mode), compiled: see [`crate::http::compress`].
    pub compression: Option<Box<crate::http::compress::Policy>>,
    /// `filter lua.<name>` lines (`super::filter`).
    pub lua_filters: Vec<crate::config::model::LuaFilterConf>,
    /// `filter spoe` lines, compiled (`super::spoe`).
    pub spoe: Vec<std::sync::Arc<crate::spoe::engine::Engine>>,
    /// Per server (config order): the TLS of its `ssl` line (`crate::tls`).
    pub server_tls: Vec<Option<crate::tls::ServerTls>>,
    /// `use-fcgi-app` and its `proto fcgi` servers (`crate::http::fcgi`).
    pub fcgi: Option<Box<crate::http::fcgi::Backend>>,
}

impl ProxyRt {
    pub fn frontend_full(&self) -> bool {
        self.maxconn.is_some_and(|m| m > 0 && self.feconn >= m)
    }

    pub fn is_listen(&self) -> bool {
        self.cap.frontend && self.cap.backend
    }

    /// Evaluates the `use_backend` rules from `cursor` on (see [`super::analysers`]).
    pub fn rule_matches(&self, i: usize, cx: &dyn SampleCtx) -> Option<usize> {
        match self.rule_outcome(i, cx) {
            RuleOutcome::Backend(be) => Some(be),
            _ => None,
        }
    }

    /// Evaluates the `i`-th `use_backend` rule.
    pub fn rule_outcome(&self, i: usize, cx: &dyn SampleCtx) -> RuleOutcome {
        let Some(r) = self.rules.get(i) else { return RuleOutcome::NoMatch };
        if let Some(c) = &r.cond {
            if !c.eval(&self.acls, cx) {
                return RuleOutcome::NoMatch;
            }
        }
        let Some(d) = &r.dynamic else { return RuleOutcome::Backend(r.backend) };
        let name = d.name.render(cx);
        match d.table.iter().find(|(n, _)| n.as_bytes() == name.as_slice()) {
            Some((_, be)) => RuleOutcome::Backend(*be),
            None => RuleOutcome::Unresolved,
        }
    }
}

/// Builds the proxy table, resolving backend names to indexes. Errors are worded
/// like HAProxy's post-parse alerts and name file and line.
pub fn build_proxies(cfg: &Config) -> Result<Vec<ProxyRt>, Vec<String>> {
    let index_of = |name: &str| cfg.proxies.iter().position(|p| p.name == name && p.cap.backend);
    let mut errors = Vec::new();
    let mut out = Vec::new();
    let userlists: std::sync::Arc<[crate::config::model::Userlist]> = cfg.userlists.clone().into();
    let backends: std::sync::Arc<Vec<(String, usize)>> = std::sync::Arc::new(
        cfg.proxies.iter().enumerate().filter(|(_, p)| p.cap.backend).map(|(i, p)| (p.name.clone(), i)).collect(),
    );
    let ids = crate::stats::proxy_ids(cfg);
    let mut spoe_ids = 0..;
    for (i, p) in cfg.proxies.iter().enumerate() {
        let mut spoe = Vec::new();
        for f in &p.spoe_filters {
            // The backend was checked after parsing.
            let Some(be) = index_of(&f.agent.backend) else { continue };
            match crate::spoe::engine::Engine::build(spoe_ids.next().expect("unbounded"), f, be, cfg.global.bufsize) {
                Ok(e) => spoe.push(std::sync::Arc::new(e)),
                Err(e) => errors.push(e),
            }
        }
        let acls = std::sync::Arc::new(match AclSet::compile(&p.acls) {
            Ok(a) => a,
            Err(e) => {
                errors.push(e);
                AclSet::default()
            }
        });
        let http_rules = match crate::http::rules::HttpRules::compile_with(&p.http_rules, acls.clone(), &p.name) {
            // `capture ... len` rules take the slots after the `capture request header` ones.
            Ok(mut r) => {
                r.bind_resolvers(&cfg.resolvers);
                crate::http::rules::HttpRules { req_capture_base: p.req_captures.len(), capture_lens: crate::config::parse::declare::slot_lens(p), ..r }
            }
            Err(e) => {
                errors.extend(e);
                Default::default()
            }
        };
        let tcp_rules = match super::analysers::TcpRules::compile_with(&p.tcp_rules, acls.clone()) {
            Ok(mut r) => {
                r.bind_resolvers(&cfg.resolvers);
                r
            }
            Err(e) => {
                errors.extend(e);
                Default::default()
            }
        };
        let kind = if p.cap.frontend && p.cap.backend { "proxy" } else if p.cap.frontend { "frontend" } else { "backend" };
        let mut rules = Vec::new();
        for ub in &p.use_backends {
            let dynamic = match ub.backend.name.contains('%') {
                false => None,
                true => match crate::http::rules::Fmt::parse(&ub.backend.name) {
                    Ok(name) => Some(DynamicBackend { name, table: backends.clone() }),
                    Err(e) => {
                        errors.push(format!("parsing [{}] : use_backend '{}' : {e}.", ub.backend.location, ub.backend.name));
                        continue;
                    }
                },
            };
            let Some(be) = index_of(&ub.backend.name).or(dynamic.as_ref().map(|_| usize::MAX)) else {
                errors.push(format!(
                    "{kind} '{}': unable to find required use_backend: '{}'.",
                    p.name, ub.backend.name
                ));
                continue;
            };
            let cond = match &ub.cond {
                None => None,
                Some(c) => match CompiledCond::compile(c, &acls) {
                    Ok(c) => Some(c),
                    Err(e) => {
                        errors.push(e);
                        continue;
                    }
                },
            };
            rules.push(BackendRule { cond, backend: be, dynamic });
        }
        let default_backend = match &p.default_backend {
            Some(r) => match index_of(&r.name) {
                Some(be) => Some(be),
                None => {
                    errors.push(format!("{kind} '{}': unable to find required default_backend: '{}'.", p.name, r.name));
                    None
                }
            },
            None if p.cap.backend => Some(i),
            None => None,
        };
        let stats_page = match p.stats.as_ref().map(|s| crate::stats::StatsPage::new(s, &acls, &p.name)) {
            Some(Ok(page)) => Some(Box::new(page)),
            Some(Err(e)) => {
                errors.push(e);
                None
            }
            None => None,
        };
        let monitor = match (&p.monitor_uri, p.mode, p.cap.frontend) {
            (Some(uri), Mode::Http, true) => {
                let mut fail = Vec::new();
                for c in &p.monitor_fail {
                    match CompiledCond::compile(c, &acls) {
                        Ok(c) => fail.push(c),
                        Err(e) => errors.push(e),
                    }
                }
                Some(Box::new(Monitor { uri: uri.clone(), fail }))
            }
            _ => None,
        };
        let mut use_servers = Vec::new();
        for us in p.use_servers.iter().filter(|_| p.cap.backend) {
            let Some(srv) = p.servers.iter().position(|s| s.name == us.server) else {
                errors.push(format!("{kind} '{}' : unable to find server '{}' referenced in a 'use-server' rule.", p.name, us.server));
                continue;
            };
            match CompiledCond::compile(&us.cond, &acls) {
                Ok(c) => use_servers.push((srv, c)),
                Err(e) => errors.push(e),
            }
        }
        let stick_rules = match crate::stick::persist::StickRules::compile(if p.cap.backend { &p.stick_rules } else { &[] }, &acls) {
            Ok(r) => r,
            Err(e) => {
                errors.extend(e);
                None
            }
        };
        let mut compile_all = |conds: &[crate::config::model::Condition]| {
            let mut out = Vec::new();
            for c in conds.iter().filter(|_| p.cap.backend) {
                match CompiledCond::compile(c, &acls) {
                    Ok(c) => out.push(c),
                    Err(e) => errors.push(e),
                }
            }
            out
        };
        let force_persist = compile_all(&p.force_persist);
        let ignore_persist = compile_all(&p.ignore_persist);
        let nservers = if p.cap.backend { p.servers.len() } else { 0 };
        let fcgi = crate::http::fcgi::Backend::build(cfg, p).unwrap_or_else(|e| {
            errors.extend(e);
            None
        });
        let error_replies = p.error_replies.iter().filter_map(|r| super::error_reply::ErrorReply::compile(r).map_err(|e| errors.push(format!("parsing [{}] : http-error : {e}", r.location))).ok()).collect();
        out.push(ProxyRt {
            monitor,
            use_servers,
            force_persist,
            ignore_persist,
            name: p.name.clone(),
            uuid: ids[i],
            cap: p.cap,
            mode: p.mode,
            timeouts: p.timeouts.clone(),
            acls,
            rules,
            default_backend,
            retries: p.retries,
            retry_on: p.retry_on.unwrap_or(crate::config::model::RetryOn::CONN_FAILURE),
            options: crate::http::options::effective(p),
            transparent: p.options.transparent.then(|| p.servers.iter().rposition(|s| s.name == crate::config::parse::server_extra::DISPATCH_SERVER)).flatten(),
            h1_payload_any_method: cfg.global.tuning.h1_accept_payload_with_any_method,
            h2_settings: crate::http::h2::session::Config::from_tuning(&cfg.global.tuning, cfg.global.bufsize),
            maxconn: p.maxconn,
            logs: p.logs.clone(),
            log_format: p.log_format.clone(),
            log_samples: None,
            log_sd_samples: None,
            http_rules,
            tcp_rules,
            error_pages: crate::http::errors::ErrorPages::from_proxy(p),
            error_replies,
            req_captures: p.req_captures.clone(),
            res_captures: p.res_captures.clone(),
            capture_cookie: p.capture_cookie.clone(),
            persist: (p.mode == Mode::Http).then(|| crate::http::persist::CookiePersist::from_proxy(p).map(Box::new)).flatten(),
            persist_rdp: p.persist_rdp_cookie.as_deref().map(Box::from),
            stick_rules,
            unique_id: crate::http::capture::unique_id_format(p),
            unique_id_header: p.unique_id_header.clone(),
            userlists: userlists.clone(),
            disabled: p.disabled,
            declared_disabled: p.disabled,
            feconn: 0,
            cum_fe: 0,
            cum_be: 0,
            log_count: std::cell::Cell::new(0),
            counters: crate::stats::ProxyCounters {
                fullconn: p.fullconn,
                ..crate::stats::ProxyCounters::new(nservers, std::time::Instant::now())
            },
            stats_page,
            logs_streams: true,
            compression: (p.mode == Mode::Http)
                .then(|| p.compression.as_ref().map(|c| Box::new(crate::http::compress::Policy::new(c, &cfg.global.compression))))
                .flatten(),
            server_tls: p.servers.iter().map(|s| s.tls.clone()).collect(),
            lua_filters: p.lua_filters.clone(),
            spoe,
            fcgi,
        });
    }
    if errors.is_empty() { Ok(out) } else { Err(errors) }
}
