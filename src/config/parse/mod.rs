//! From lines to a [`Config`]: sections, `.if` blocks, keyword dispatch and
//! `defaults` inheritance. Keyword parsers live in the submodules, post-parse checks
//! in [`checks`].
//!
//! The parser collects every diagnostic instead of stopping at the first one, as
//! HAProxy does; post-parse checks only run when parsing found no error.

pub mod acl;
pub mod addr;
pub mod bind_opts;
pub mod checks;
pub mod cli;
pub mod compression;
pub mod cookie;
pub mod declare;
pub mod external_check;
pub mod global;
pub mod global_extra;
pub mod http_check;
pub mod http_extra;
pub mod http_misc;
pub mod log;
pub mod log_forward;
pub mod log_extra;
pub mod lua;
pub mod mailers;
pub mod program;
pub mod ring;
pub mod cache;
pub mod fcgi_app;
pub mod process;
pub mod proxy;
pub mod rates;
pub mod resolvers;
pub mod retry_on;
pub mod rules;
pub mod server;
pub mod server_extra;
pub mod server_health;
pub mod server_opts;
pub mod server_state;
pub mod source;
pub mod sockets;
pub mod stats;
pub mod stick;
pub mod tcp_check;
pub mod userlist;

use super::cond;
use super::diagnostic::{Diagnostic, Style};
use super::env::Env;
use super::keywords::{self, Section, State};
use super::lexer;
use super::model::{Capabilities, Config, Location, Mode, Proxy};
use crate::diag::Severity;
use std::sync::Arc;

/// A keyword parser: the line's words (`args[0]` is the keyword) and location.
/// `Err` is the alert text (without the `parsing [file:line] :` prefix).
pub type KwFn = fn(&mut Parser, &Line) -> Result<(), String>;

/// One logical configuration line after tokenizing.
#[derive(Clone, Debug)]
pub struct Line {
    pub args: Vec<String>,
    pub loc: Location,
}

impl Line {
    /// The `i`-th word, or `""` when absent (HAProxy's convention).
    pub fn arg(&self, i: usize) -> &str {
        self.args.get(i).map_or("", String::as_str)
    }
}

/// A proxy section being built, with what the model does not keep.
#[derive(Clone, Debug)]
pub struct Draft {
    pub proxy: Proxy,
    pub section: Section,
    /// `default-server` settings, inherited from `defaults`.
    pub default_server: server::ServerOpts,
    /// Where `option httplog` was set (it may come from a `defaults` section).
    pub httplog_at: Option<Location>,
}

impl Draft {
    fn new(section: Section, name: &str, location: Location) -> Self {
        let cap = match section {
            Section::Frontend => Capabilities {
                frontend: true,
                backend: false,
            },
            Section::Backend => Capabilities {
                frontend: false,
                backend: true,
            },
            Section::Listen => Capabilities {
                frontend: true,
                backend: true,
            },
            _ => Capabilities::default(),
        };
        let proxy = Proxy {
            name: name.to_string(),
            cap,
            location: Some(location),
            retries: 3,
            ..Proxy::default()
        };
        Draft {
            proxy,
            section,
            default_server: server::ServerOpts::default(),
            httplog_at: None,
        }
    }

    /// A new proxy inheriting from a `defaults` section.
    fn from_defaults(defaults: &Draft, section: Section, name: &str, location: Location) -> Self {
        let mut d = Draft::new(section, name, location.clone());
        let cap = d.proxy.cap;
        d.proxy = defaults.proxy.clone();
        d.proxy.name = name.to_string();
        d.proxy.cap = cap;
        d.proxy.location = Some(location);
        // Never inherited: what only makes sense in the section itself.
        d.proxy.binds.clear();
        d.proxy.servers.clear();
        d.proxy.acls.clear();
        d.proxy.use_backends.clear();
        d.default_server = defaults.default_server.clone();
        d.httplog_at = defaults.httplog_at.clone();
        d
    }

    /// `frontend 'fe'`, `backend 'be'`, `proxy 'li'` as HAProxy names proxies in messages.
    pub fn describe(&self) -> String {
        format!("{} '{}'", proxy_type_name(self.proxy.cap), self.proxy.name)
    }
}

/// HAProxy's name for a proxy of these capabilities.
pub fn proxy_type_name(cap: Capabilities) -> &'static str {
    match (cap.frontend, cap.backend) {
        (true, true) => "proxy",
        (true, false) => "frontend",
        (false, true) => "backend",
        (false, false) => "defaults",
    }
}

enum Current {
    None,
    Global,
    Proxy(Box<Draft>),
    Defaults(Box<Draft>, Option<String>),
    /// A section moonproxy does not support (its lines are skipped after one alert).
    Unsupported,
    /// A `frontend` or `listen` header with an address (the pre-1.5 syntax): HAProxy
    /// refuses the section, and each of its lines ("'listen' or 'defaults' expected.").
    RefusedProxy,
    /// An `http-errors` section ([`http_misc`]).
    HttpErrors(Box<super::model::HttpErrorsSection>),
    /// A `userlist` section (index in `config.userlists`; `None`: a duplicate name).
    Userlist(Option<usize>),
    /// A `peers` section, by name: its `table` lines (src/config/parse/stick.rs).
    Peers(String),
    /// A `resolvers` section (index in `config.resolvers`; `None`: a bad name).
    Resolvers(Option<usize>),
    /// A `mailers` section (index in `config.mailers`; `None`: a bad name).
    Mailers(Option<usize>),
    /// A `ring` section (index in `config.rings`; `None`: a bad name).
    Ring(Option<usize>),
    /// A `program` section (index in `config.programs`; `None`: a bad name).
    Program(Option<usize>),
    /// A `cache` section (index in `config.caches`; `None`: a bad name).
    Cache(Option<usize>),
    /// A `log-forward` section (index in `config.log_forwards`; `None`: a bad name).
    LogForward(Option<usize>),
    /// An `fcgi-app` section (index in `config.fcgi_apps`; `None`: a bad name).
    FcgiApp(Option<usize>),
}

/// One open `.if` block.
struct CondFrame {
    /// Were lines active when the block was opened?
    parent_active: bool,
    /// Is the current branch active?
    active: bool,
    /// Has a branch already been taken?
    taken: bool,
    in_else: bool,
}

/// Options from the command line that influence parsing.
#[derive(Clone, Debug, Default)]
pub struct ParseOptions {
    /// `-L name`: local peer name (`HAPROXY_LOCALPEER`).
    pub localpeer: Option<String>,
    /// `-W`/`-Ws`: master-worker mode from the command line (`program` sections need
    /// it, or `master-worker` in `global`; `HAPROXY_MWORKER` is set).
    pub master_worker: bool,
}

/// The configuration parser. Feed it files with [`Parser::parse_text`], then call
/// [`Parser::finish`].
pub struct Parser {
    pub env: Env,
    pub config: Config,
    pub diags: Vec<Diagnostic>,
    current: Current,
    /// The last `defaults` section read (anonymous or named): what new proxies inherit.
    last_defaults: Option<Box<Draft>>,
    named_defaults: Vec<(String, Box<Draft>)>,
    /// Alerts found in the file being parsed.
    file_alerts: usize,
    /// Alerts found during parsing (all files).
    parse_alerts: usize,
    /// A `.if` structure error or an `.alert` stopped parsing.
    aborted: bool,
    /// [`ParseOptions::master_worker`].
    master_worker: bool,
    /// `-L` was given: `localpeer` is then ignored (with HAProxy's warning).
    pub localpeer_from_cli: bool,
}

impl Parser {
    pub fn new(opts: &ParseOptions) -> Self {
        let mut env = Env::new();
        let localpeer = opts.localpeer.clone().unwrap_or_else(|| crate::log::target::system_hostname().to_string());
        env.set("HAPROXY_LOCALPEER", &localpeer);
        if opts.master_worker {
            env.set("HAPROXY_MWORKER", "1");
        } else {
            env.unset("HAPROXY_MWORKER");
        }
        // Never set: moonproxy does not export the master CLI's addresses.
        env.unset("HAPROXY_MASTER_CLI");
        env.unset("HAPROXY_CLI");
        let mut config = Config::default();
        config.global.localpeer = opts.localpeer.clone();
        Parser {
            env,
            config,
            diags: Vec::new(),
            current: Current::None,
            last_defaults: None,
            named_defaults: Vec::new(),
            file_alerts: 0,
            parse_alerts: 0,
            aborted: false,
            master_worker: opts.master_worker,
            localpeer_from_cli: opts.localpeer.is_some(),
        }
    }

    /// Sets `HAPROXY_CFGFILES` (the files list, `;`-separated) before parsing.
    pub fn set_files(&mut self, files: &[std::path::PathBuf]) {
        let list: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
        self.env.set("HAPROXY_CFGFILES", &list.join(";"));
        self.config.files = files.to_vec();
    }

    pub fn alert(&mut self, loc: &Location, msg: impl Into<String>) {
        self.push(Diagnostic::alert(loc, msg));
    }

    /// An alert in HAProxy's other shape, `parsing [file:line]: message` (no blank
    /// before the colon), which some of its keywords use.
    pub fn alert_directive(&mut self, loc: &Location, msg: impl Into<String>) {
        self.push(Diagnostic::alert(loc, msg).with_style(Style::Directive));
    }

    pub fn warn(&mut self, loc: &Location, msg: impl Into<String>) {
        self.push(Diagnostic::warning(loc, msg));
    }

    /// Adds a diagnostic (alerts count as errors of the current file).
    pub fn push(&mut self, d: Diagnostic) {
        if d.is_alert() {
            self.file_alerts += 1;
        }
        self.diags.push(d);
    }

    /// The proxy section being parsed. Keyword parsers for proxy keywords are only
    /// called inside one.
    pub fn draft(&mut self) -> &mut Draft {
        match &mut self.current {
            Current::Proxy(d) | Current::Defaults(d, _) => d,
            _ => unreachable!("proxy keyword dispatched outside a proxy section"),
        }
    }

    /// Parses one file's text. `name` is the file name used in messages.
    pub fn parse_text(&mut self, name: &str, text: &str) {
        let file: Arc<str> = Arc::from(name);
        self.file_alerts = 0;
        let mut conds: Vec<CondFrame> = Vec::new();
        let mut last_line = 0;
        for (n, raw) in text.lines().enumerate() {
            last_line = n as u32 + 1;
            let loc = Location {
                file: file.clone(),
                line: n as u32 + 1,
            };
            let args = match lexer::split_line(raw, &self.env) {
                Ok(a) => a,
                Err(e) => {
                    self.push(Diagnostic::alert(&loc, e.render(raw)).with_style(Style::Directive));
                    continue;
                }
            };
            if args.first().is_none_or(|a| a.is_empty()) {
                continue;
            }
            let active = conds.last().is_none_or(|f| f.active);
            if args[0].starts_with('.') {
                let known = DIRECTIVES.contains(&args[0].as_str());
                let before = self.file_alerts;
                self.directive(&args, raw, &loc, &mut conds, active);
                if known && self.file_alerts > before {
                    // As in HAProxy, an error in a block structure or an `.alert`
                    // stops reading: what follows cannot be trusted.
                    self.aborted = true;
                    break;
                }
                continue;
            }
            if active {
                super::units::take_time_warnings();
                self.line(Line { args, loc: loc.clone() });
                // Timers with characters after their unit: HAProxy's warning, without the
                // place (server lines say theirs first: `server::server`).
                for w in super::units::take_time_warnings() {
                    self.push(Diagnostic::plain(Severity::Warning, Some(&loc), w));
                }
            }
        }
        if !conds.is_empty() && !self.aborted {
            // HAProxy reports it at the last line of the file.
            let loc = Location {
                file: file.clone(),
                line: last_line,
            };
            self.push(
                Diagnostic::alert(&loc, "non-terminated '.if' block.").with_style(Style::Directive),
            );
            self.aborted = true;
        }
        // A section does not continue into the next file.
        self.end_section();
        if self.file_alerts > 0 {
            self.diags.push(Diagnostic::plain(
                Severity::Alert,
                None,
                format!("Error(s) found in configuration file : {name}"),
            ));
        }
        self.parse_alerts += self.file_alerts;
    }

    /// `.if`, `.elif`, `.else`, `.endif`, `.diag`, `.notice`, `.warning`, `.alert`.
    fn directive(
        &mut self,
        args: &[String],
        raw: &str,
        loc: &Location,
        conds: &mut Vec<CondFrame>,
        active: bool,
    ) {
        let d = |msg: String| Diagnostic::alert(loc, msg).with_style(Style::Directive);
        let kw = args[0].as_str();
        match kw {
            ".if" | ".elif" => {
                let expr = args[1..].join(" ");
                let value = if (kw == ".if" && active)
                    || (kw == ".elif" && conds.last().is_some_and(|f| f.parent_active && !f.taken))
                {
                    match cond::evaluate_in(&expr, &self.env) {
                        Ok(v) => v,
                        Err(e) => {
                            let expr_start =
                                raw.find(&args[0]).map_or(0, |p| p + args[0].len() + 1);
                            let msg = format!("{} in '{kw}'", e.message);
                            self.push(d(lexer::caret_message(
                                &msg,
                                raw,
                                expr_start + e.offset,
                                e.offset + 1,
                            )));
                            false
                        }
                    }
                } else {
                    false
                };
                if kw == ".if" {
                    conds.push(CondFrame {
                        parent_active: active,
                        active: active && value,
                        taken: value,
                        in_else: false,
                    });
                    return;
                }
                match conds.last_mut() {
                    None => self.push(d("lone '.elif' with no matching '.if'.".into())),
                    Some(f) if f.in_else => {
                        self.push(d("'.elif' after '.else' is not permitted.".into()))
                    }
                    Some(f) => {
                        f.active = f.parent_active && !f.taken && value;
                        f.taken |= f.active;
                    }
                }
            }
            ".else" => match conds.last_mut() {
                None => self.push(d("lone '.else' with no matching '.if'.".into())),
                Some(f) if f.in_else => {
                    self.push(d("'.else' after '.else' is not permitted.".into()))
                }
                Some(f) => {
                    f.in_else = true;
                    f.active = f.parent_active && !f.taken;
                    f.taken = true;
                }
            },
            ".endif" => match conds.pop() {
                Some(_) => {}
                None => self.push(d("lone '.endif' with no matching '.if'.".into())),
            },
            ".diag" | ".notice" | ".warning" | ".alert" if active => {
                if let Some(extra) = args.get(2) {
                    self.push(d(format!(
                        "Unexpected argument '{extra}' for '{kw}'. Use quotes if the message should contain spaces."
                    )));
                    return;
                }
                let severity = match kw {
                    ".diag" => Severity::Diag,
                    ".notice" => Severity::Notice,
                    ".warning" => Severity::Warning,
                    _ => Severity::Alert,
                };
                let msg = format!("'{}'.", args.get(1).map_or("", String::as_str));
                self.push(Diagnostic {
                    severity,
                    location: Some(loc.clone()),
                    message: msg,
                    style: Style::Directive,
                });
            }
            ".diag" | ".notice" | ".warning" | ".alert" => {}
            _ if active => self.push(d(format!("unknown directive '{kw}'."))),
            _ => {}
        }
    }

    /// One active, non-directive line.
    fn line(&mut self, line: Line) {
        let kw = line.args[0].as_str();
        let section = match kw {
            "global" => Some(Section::Global),
            "defaults" => Some(Section::Defaults),
            "frontend" => Some(Section::Frontend),
            "backend" => Some(Section::Backend),
            "listen" => Some(Section::Listen),
            _ => None,
        };
        if let Some(section) = section {
            self.start_section(section, &line);
            return;
        }
        if kw == "http-errors" {
            self.end_section();
            self.current = http_misc::start_http_errors(self, &line);
            return;
        }
        if kw == "userlist" {
            self.end_section();
            self.current = Current::Userlist(userlist::start(self, &line));
            return;
        }
        if kw == "peers" {
            self.end_section();
            self.current = Current::Peers(stick::start_peers(self, &line));
            return;
        }
        if kw == "resolvers" {
            self.end_section();
            self.current = Current::Resolvers(resolvers::start(self, &line));
            return;
        }
        if kw == "mailers" {
            self.end_section();
            self.current = Current::Mailers(mailers::start(self, &line));
            return;
        }
        if kw == "program" {
            self.end_section();
            self.current = Current::Program(program::start(self, &line));
            return;
        }
        if kw == "ring" {
            self.end_section();
            self.current = Current::Ring(ring::start(self, &line));
            return;
        }
        if kw == "cache" {
            self.end_section();
            self.current = Current::Cache(cache::start(self, &line));
            return;
        }
        if kw == "log-forward" {
            self.end_section();
            self.current = Current::LogForward(log_forward::start(self, &line));
            return;
        }
        if kw == "fcgi-app" {
            self.end_section();
            self.current = Current::FcgiApp(fcgi_app::start(self, &line));
            return;
        }
        if kw == "crt-store" {
            self.end_section();
            self.alert(
                &line.loc,
                format!("'{kw}' sections are not supported by moonproxy yet."),
            );
            self.current = Current::Unsupported;
            return;
        }
        let section = match &self.current {
            Current::None => {
                self.push(
                    Diagnostic::alert(&line.loc, format!("unknown keyword '{kw}' out of section."))
                        .with_style(Style::Directive),
                );
                return;
            }
            Current::Unsupported => return,
            Current::RefusedProxy => {
                self.alert(&line.loc, "'listen' or 'defaults' expected.".to_string());
                return;
            }
            Current::HttpErrors(_) => return http_misc::http_errors_line(self, &line),
            Current::Userlist(ul) => return userlist::keyword(self, *ul, &line),
            Current::Peers(name) => {
                let name = name.clone();
                return stick::peers_line(self, &name, &line);
            }
            Current::Resolvers(r) => return resolvers::keyword(self, *r, &line),
            Current::Mailers(m) => return mailers::keyword(self, *m, &line),
            Current::Ring(r) => return ring::keyword(self, *r, &line),
            Current::Program(i) => return program::keyword(self, *i, &line),
            Current::Cache(c) => return cache::keyword(self, *c, &line),
            Current::LogForward(f) => return log_forward::keyword(self, *f, &line),
            Current::FcgiApp(a) => return fcgi_app::keyword(self, *a, &line),
            Current::Global => Section::Global,
            Current::Proxy(d) | Current::Defaults(d, _) => d.section,
        };
        self.keyword(section, &line);
    }

    fn keyword(&mut self, section: Section, line: &Line) {
        let kw = line.args[0].as_str();
        // `no option X` / `no log` (`no strict-limits` in global): negation prefix handled
        // by the keyword itself.
        let lookup_name = if kw == "no" && (section != Section::Global || line.arg(1) == "strict-limits") {
            line.arg(1)
        } else {
            kw
        };
        let Some(k) = keywords::lookup(section, lookup_name)
            .filter(|_| kw != "no" || matches!(lookup_name, "option" | "log" | "strict-limits"))
        else {
            if let Some(msg) = keywords::removed(section, kw, line.arg(1)) {
                self.alert(&line.loc, msg);
                return;
            }
            let suggestion = keywords::suggest(kw, keywords::keywords(section).map(|k| k.name));
            let hint = suggestion
                .map(|s| format!("; did you mean '{s}' maybe ?"))
                .unwrap_or_default();
            self.alert(
                &line.loc,
                format!(
                    "unknown keyword '{kw}' in '{}' section{hint}",
                    section.name()
                ),
            );
            return;
        };
        if !k.allowed_in(section) {
            self.not_allowed(section, k.name, line);
            return;
        }
        match k.state {
            State::Supported(f) => {
                if let Err(msg) = f(self, line) {
                    self.alert(&line.loc, msg);
                }
            }
            State::Ignored => {}
            State::NotYet => {
                // Name the action too for keywords that are families (`stats socket`).
                let what = match line.args.get(1) {
                    Some(sub) if COMPOUND_KEYWORDS.contains(&k.name) => format!("{} {sub}", k.name),
                    _ => k.name.to_string(),
                };
                self.alert(&line.loc, not_supported(&what));
            }
        }
    }

    /// A proxy keyword used in a section that cannot use it. Like HAProxy: an alert
    /// in `defaults` and for `server`/`default-server`, otherwise a warning and the
    /// line is ignored.
    fn not_allowed(&mut self, section: Section, kw: &str, line: &Line) {
        let (desc, lacking) = {
            let d = self.draft();
            let lacking = if d.proxy.cap.frontend {
                "backend"
            } else {
                "frontend"
            };
            (d.describe(), lacking)
        };
        let loc = &line.loc;
        match (section, kw) {
            (Section::Defaults, _) => {
                self.alert(loc, format!("'{kw}' not allowed in 'defaults' section."))
            }
            (_, "server" | "default-server") => self.alert(
                loc,
                format!("'{kw}' not allowed because {desc} has no {lacking} capability."),
            ),
            (_, "log-format" | "unique-id-format") => {
                self.warn(loc, format!("{desc} : '{kw}' directive is ignored in backends."))
            }
            (_, "maxconn") => self.warn(
                loc,
                format!(
                    "'{kw}' ignored because {desc} has no {lacking} capability. Maybe you want 'fullconn' instead ?"
                ),
            ),
            _ => self.warn(
                loc,
                format!("'{kw}' ignored because {desc} has no {lacking} capability."),
            ),
        }
    }

    fn start_section(&mut self, section: Section, line: &Line) {
        self.end_section();
        let kw = section.name();
        if section == Section::Global {
            if let Some(extra) = line.args.get(1) {
                self.alert(
                    &line.loc,
                    format!("'global' cannot handle unexpected argument '{extra}'."),
                );
            }
            if self.config.global.location.is_none() {
                self.config.global.location = Some(line.loc.clone());
            }
            self.current = Current::Global;
            return;
        }
        // defaults [<name>] [from <defaults>]; frontend|backend|listen <name> [from <defaults>]
        let mut rest = &line.args[1..];
        let mut name = None;
        if let Some(first) = rest.first() {
            if first != "from" || section != Section::Defaults {
                name = Some(first.clone());
                rest = &rest[1..];
            }
        }
        let mut from = None;
        if rest.first().is_some_and(|w| w == "from") {
            if rest.len() < 2 {
                self.alert(
                    &line.loc,
                    format!("'{kw}' : 'from' expects a defaults section name."),
                );
            } else {
                from = Some(rest[1].clone());
            }
            rest = &rest[rest.len().min(2)..];
        }
        if let Some(extra) = rest.first() {
            if matches!(section, Section::Frontend | Section::Listen) {
                // `listen name 0.0.0.0:80`, the syntax HAProxy 1.4 had.
                self.alert(&line.loc, "please use the 'bind' keyword for listening addresses.".to_string());
                self.current = Current::RefusedProxy;
                return;
            }
            self.alert(
                &line.loc,
                format!("'{kw}' cannot handle unexpected argument '{extra}'."),
            );
        }
        if section != Section::Defaults && name.as_deref().is_none_or(str::is_empty) {
            self.alert(&line.loc, format!("'{kw}' expects an <id> argument"));
            self.current = Current::Unsupported;
            return;
        }
        if let Some(n) = &name {
            if let Some(c) = n
                .chars()
                .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':')))
            {
                self.alert(
                    &line.loc,
                    format!("character '{c}' is not permitted in '{kw}' name '{n}'."),
                );
            }
        }
        let parent: Option<Box<Draft>> = match &from {
            Some(f) => match self.named_defaults.iter().rev().find(|(n, _)| n == f) {
                Some((_, d)) => Some(d.clone()),
                None => {
                    let what = match &name {
                        Some(n) => format!("{kw} '{n}'"),
                        None => "anonymous defaults section".into(),
                    };
                    self.alert(
                        &line.loc,
                        format!("defaults section '{f}' not found for {what}."),
                    );
                    None
                }
            },
            None if section == Section::Defaults => None,
            None => self.last_defaults.clone(),
        };
        let name_str = name.clone().unwrap_or_default();
        let draft = match parent {
            Some(p) => Draft::from_defaults(&p, section, &name_str, line.loc.clone()),
            None => Draft::new(section, &name_str, line.loc.clone()),
        };
        if section == Section::Defaults {
            self.current = Current::Defaults(Box::new(draft), name);
            return;
        }
        if let Some(other) = self.config.proxies.iter().find(|p| {
            p.name == name_str
                && ((p.cap.frontend && draft.proxy.cap.frontend)
                    || (p.cap.backend && draft.proxy.cap.backend))
        }) {
            let other_loc = other
                .location
                .as_ref()
                .map(|l| l.to_string())
                .unwrap_or_default();
            let msg = format!(
                "Parsing [{}]: {} has the same name as {} '{}' declared at {other_loc}.",
                line.loc,
                draft.describe(),
                proxy_type_name(other.cap),
                other.name
            );
            self.push(Diagnostic::plain(Severity::Alert, Some(&line.loc), msg));
        } else if let Some(lf) = self.config.log_forwards.iter().find(|lf| lf.name == name_str) {
            // A log forwarder is a proxy in HAProxy: one name space for both (the
            // other order is checked where `log-forward` is read).
            let msg = format!(
                "Parsing [{}]: {} has the same name as log forward section '{}' declared at {}.",
                line.loc,
                draft.describe(),
                lf.name,
                lf.location
            );
            self.push(Diagnostic::plain(Severity::Alert, Some(&line.loc), msg));
        }
        self.current = Current::Proxy(Box::new(draft));
    }

    fn end_section(&mut self) {
        match std::mem::replace(&mut self.current, Current::None) {
            Current::Proxy(mut d) => {
                // `option httplog` needs HTTP: in TCP mode HAProxy falls back to tcplog.
                if let Some(at) = d.httplog_at.as_ref().filter(|_| d.proxy.mode == Mode::Tcp) {
                    if d.proxy.cap.frontend && d.proxy.options.httplog {
                        let msg = format!(
                            "'option httplog' not usable with {} (needs 'mode http'). Falling back to 'option tcplog'.",
                            d.describe()
                        );
                        self.warn(&at.clone(), msg);
                        d.proxy.options.httplog = false;
                        d.proxy.options.tcplog = true;
                        d.proxy.log_format = Some(proxy::TCPLOG_FORMAT.to_string());
                    }
                }
                crate::tls::parse::end_of_proxy(&mut d.proxy.binds, d.proxy.mode == Mode::Http);
                source::inherit(&mut d.proxy);
                self.config.proxies.push(d.proxy)
            }
            Current::Defaults(d, name) => {
                if let Some(name) = name {
                    self.named_defaults.push((name, d.clone()));
                }
                self.last_defaults = Some(d);
            }
            Current::HttpErrors(section) => self.config.http_errors.push(*section),
            Current::Cache(Some(i)) => cache::end(self, i),
            _ => {}
        }
    }

    /// Ends parsing: runs the post-parse checks when parsing found no error.
    /// Returns the configuration, or every diagnostic when there is an alert.
    pub fn finish(mut self) -> Result<(Config, Vec<Diagnostic>), Vec<Diagnostic>> {
        self.end_section();
        if self.aborted {
            // HAProxy exits at once, without its "Fatal errors" line.
            return Err(self.diags);
        }
        if self.parse_alerts > 0 {
            self.diags.push(fatal());
            return Err(self.diags);
        }
        // Parsing may leave non-fatal alerts (HAProxy's "already specified. Continuing."):
        // only the alerts of the post-parse checks are errors here.
        let alerts = |d: &[Diagnostic]| d.iter().filter(|d| d.is_alert()).count();
        let parse_only = alerts(&self.diags);
        http_misc::resolve_error_pages(&mut self.config, &mut self.diags);
        http_extra::resolve_replies(&mut self.config);
        http_misc::check_formats(&self.config, &mut self.diags);
        userlist::check(&mut self.config, &mut self.diags);
        resolvers::add_default(&mut self.config);
        resolvers::check(&self.config, &mut self.diags);
        server_extra::finish_dispatch(&mut self.config, &mut self.diags);
        checks::run(&mut self.config, &mut self.diags);
        external_check::check(&mut self.config, &mut self.diags);
        mailers::check(&mut self.config, &mut self.diags);
        ring::check(&mut self.config, &mut self.diags);
        log_forward::check(&self.config, &mut self.diags);
        program::check(&self.config, self.master_worker, &mut self.diags);
        cache::check(&self.config, &mut self.diags);
        crate::spoe::conf::check(&self.config, &mut self.diags);
        fcgi_app::check(&mut self.config, &mut self.diags);
        cookie::check(&self.config, &mut self.diags);
        global_extra::finish(&mut self.config, &mut self.diags);
        global::check(&self.config, &mut self.diags);
        stick::check(&mut self.config, &mut self.diags);
        server_opts::check_tfo(&self.config, &mut self.diags);
        if alerts(&self.diags) > parse_only {
            self.diags.push(fatal());
            return Err(self.diags);
        }
        Ok((self.config, self.diags))
    }

    /// Did an error stop parsing (no further file should be read)?
    pub fn aborted(&self) -> bool {
        self.aborted
    }

    /// The environment after parsing (with `setenv` and friends applied).
    pub fn env(&self) -> &Env {
        &self.env
    }
}


fn fatal() -> Diagnostic {
    Diagnostic::plain(
        Severity::Alert,
        None,
        "Fatal errors found in configuration.",
    )
}

/// The directives of conditional blocks and messages.
const DIRECTIVES: &[&str] = &[
    ".if", ".elif", ".else", ".endif", ".diag", ".notice", ".warning", ".alert",
];

/// Keywords whose second word says what they do; "not supported" messages name both.
const COMPOUND_KEYWORDS: &[&str] = &[
    "capture",
    "declare",
    "email-alert",
    "http-after-response",
    "http-check",
    "http-request",
    "http-response",
    "monitor",
    "rate-limit",
    "stats",
    "stick",
    "tcp-check",
    "tcp-request",
    "tcp-response",
];

/// The message for a keyword HAProxy has and moonproxy does not support yet.
/// C's `atoi`: the leading decimal digits after blanks and a sign, 0 when there are none,
/// saturating. HAProxy reads several numbers this way (`maxsslconn x` is 0, `maxcomprate
/// 12kb` is 12), in the configuration and on the CLI (`set maxconn`).
pub fn atoi(s: &str) -> i64 {
    let s = s.trim_start();
    let (neg, digits) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let n = digits.bytes().take_while(u8::is_ascii_digit).fold(0i64, |n, d| n.saturating_mul(10).saturating_add(i64::from(d - b'0')));
    if neg {
        -n
    } else {
        n
    }
}

pub fn not_supported(what: &str) -> String {
    format!("'{what}' is not supported by moonproxy yet.")
}

/// Checks that a keyword got exactly `n` arguments after it.
pub fn expect_args(line: &Line, n: usize, usage: &str) -> Result<(), String> {
    let got = line.args.len() - 1;
    if got < n {
        return Err(format!("'{}' expects {usage}.", line.args[0]));
    }
    if got > n {
        return Err(format!(
            "'{}' cannot handle unexpected argument '{}'.",
            line.args[0],
            line.args[n + 1]
        ));
    }
    Ok(())
}

/// Parses an unsigned integer argument of a keyword (`'maxconn' expects an integer argument.`).
pub fn uint_arg(line: &Line, idx: usize, what: &str) -> Result<u64, String> {
    let a = line.arg(idx);
    super::units::parse_uint(a).map_err(|e| match e {
        super::units::UnitError::Empty => format!("'{what}' expects an integer argument."),
        super::units::UnitError::Overflow => format!("'{what}' : value '{a}' is too large."),
        _ => format!("'{what}' expects an integer argument, got '{a}'."),
    })
}

/// [`uint_arg`] limited to `u32`.
pub fn u32_arg(line: &Line, idx: usize, what: &str) -> Result<u32, String> {
    let v = uint_arg(line, idx, what)?;
    u32::try_from(v).map_err(|_| format!("'{what}' : value '{}' is too large.", line.arg(idx)))
}

/// For the sections' unit tests: `text` parsed as file `t.cfg`, or its diagnostics, one a
/// line.
#[cfg(test)]
pub(crate) fn parse_for_test(text: &str) -> Result<crate::config::model::Config, String> {
    crate::config::parse_str("t.cfg", text, &Default::default())
        .map(|l| l.config)
        .map_err(|d| d.iter().map(|d| d.to_string()).collect::<Vec<_>>().join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atoi_reads_like_c() {
        assert_eq!(atoi("12"), 12);
        assert_eq!(atoi("12kb"), 12);
        assert_eq!(atoi(" +7"), 7);
        assert_eq!(atoi("x"), 0);
        assert_eq!(atoi("-3"), -3);
        assert_eq!(atoi(""), 0);
        assert_eq!(atoi("99999999999999999999"), i64::MAX, "saturates");
    }

    /// Random configurations built from real keywords never make the parser panic,
    /// and every failure ends with one of HAProxy's closing lines.
    #[test]
    fn random_configurations_never_panic() {
        let words = [
            "global",
            "defaults",
            "frontend",
            "backend",
            "listen",
            "from",
            "d",
            "fe",
            "be",
            "bind",
            "server",
            "s",
            "default-server",
            "acl",
            "a",
            "src",
            "dst_port",
            "use_backend",
            "default_backend",
            "if",
            "unless",
            "!",
            "||",
            "{",
            "}",
            "TRUE",
            "timeout",
            "client",
            "1s",
            "log",
            "global",
            "stdout",
            "local0",
            "option",
            "no",
            "tcplog",
            "redispatch",
            "balance",
            "first",
            "mode",
            "http",
            "maxconn",
            "10",
            ":0",
            "127.0.0.1:80",
            "unix@/x",
            "fd@",
            "weight",
            "check",
            "inter",
            ".if",
            ".elif",
            ".else",
            ".endif",
            ".notice",
            "\"x",
            "setenv",
            "X",
            "\"${X}\"",
            "#",
            "\\",
            "'",
            "-m",
            "int",
            "gt",
        ];
        let mut seed: u64 = 0x1234_5678_9abc_def0;
        let mut next = || {
            seed = seed
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (seed >> 33) as usize
        };
        for _ in 0..300 {
            let mut text = String::new();
            for _ in 0..next() % 30 {
                for _ in 0..next() % 6 {
                    text.push_str(words[next() % words.len()]);
                    text.push(' ');
                }
                text.push('\n');
            }
            let mut p = Parser::new(&ParseOptions::default());
            p.parse_text("r.cfg", &text);
            if let Err(diags) = p.finish() {
                let last = diags.last().expect("a failure has diagnostics").to_string();
                let trailers = [
                    "config : Fatal errors found in configuration.",
                    "config : Error(s) found in configuration file : r.cfg",
                ];
                assert!(trailers.contains(&last.as_str()), "{last}\n{text}");
            }
        }
    }
}
