//! The SPOE configuration file (`filter spoe [engine <name>] config <file>`): its
//! `[<engine>]` scopes and its `spoe-agent`, `spoe-message` and `spoe-group` sections,
//! read into plain data ([`SpoeConf`]) when the `filter` line is parsed.
//!
//! Errors are HAProxy 2.6's: a line the file cannot have is reported at its own place
//! (`parsing [spoe.conf:4] : unknown keyword 'x' in spoe-agent section.`), and the
//! `filter` line then fails with `'Error(s) found in configuration file <file>'`; what
//! is missing once the scope is read (no `use-backend`, a message or group that is not
//! declared) fails the `filter` line naming the agent's or group's place.

use crate::config::env::Env;
use crate::config::lexer;
use crate::config::model::{Acl, Condition, Location};
use crate::config::Diagnostic;
use std::sync::Arc;
use std::time::Duration;

/// The events a message may be attached to (SPOE.txt 3.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Event {
    ClientSession,
    ServerSession,
    FrontendTcpRequest,
    BackendTcpRequest,
    TcpResponse,
    FrontendHttpRequest,
    BackendHttpRequest,
    HttpResponse,
}

impl Event {
    pub const ALL: [Event; 8] = [
        Event::ClientSession,
        Event::ServerSession,
        Event::FrontendTcpRequest,
        Event::BackendTcpRequest,
        Event::TcpResponse,
        Event::FrontendHttpRequest,
        Event::BackendHttpRequest,
        Event::HttpResponse,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Event::ClientSession => "on-client-session",
            Event::ServerSession => "on-server-session",
            Event::FrontendTcpRequest => "on-frontend-tcp-request",
            Event::BackendTcpRequest => "on-backend-tcp-request",
            Event::TcpResponse => "on-tcp-response",
            Event::FrontendHttpRequest => "on-frontend-http-request",
            Event::BackendHttpRequest => "on-backend-http-request",
            Event::HttpResponse => "on-http-response",
        }
    }

    fn parse(s: &str) -> Option<Event> {
        Event::ALL.into_iter().find(|e| e.name() == s)
    }
}

/// One `filter spoe` line with the scope of its file.
#[derive(Clone, Debug, PartialEq)]
pub struct SpoeConf {
    /// `engine <name>`, else the agent's name.
    pub engine: String,
    /// The `config <file>` path as written.
    pub file: String,
    /// The `filter` line.
    pub location: Location,
    pub agent: AgentConf,
    pub messages: Vec<MessageConf>,
    pub groups: Vec<GroupConf>,
}

impl SpoeConf {
    pub fn message(&self, name: &str) -> Option<&MessageConf> {
        self.messages.iter().find(|m| m.name == name)
    }

    pub fn group(&self, name: &str) -> Option<&GroupConf> {
        self.groups.iter().find(|g| g.name == name)
    }
}

/// The `spoe-agent` section.
#[derive(Clone, Debug, PartialEq)]
pub struct AgentConf {
    pub name: String,
    pub location: Location,
    /// `use-backend`: the backend of the agent's servers (checked against the
    /// configuration's backends after parsing).
    pub backend: String,
    pub timeout_hello: Option<Duration>,
    pub timeout_idle: Option<Duration>,
    pub timeout_processing: Option<Duration>,
    /// `option var-prefix` (default: the agent's name).
    pub var_prefix: String,
    pub set_on_error: Option<String>,
    pub set_process_time: Option<String>,
    pub set_total_time: Option<String>,
    pub continue_on_error: bool,
    pub force_set_var: bool,
    /// `[no] option pipelining` (on by default): several NOTIFY frames in flight on a
    /// connection when the agent announces the capability too. (`[no] option async`
    /// and `send-frag-payload` are accepted without effect: doc/spoe.md.)
    pub pipelining: bool,
    /// `[no] option dontlog-normal` (recorded: moonproxy logs no SPOE line).
    pub dontlog_normal: bool,
    /// `max-frame-size` (default `tune.bufsize - 4`, settled at start-up when 0).
    pub max_frame_size: u32,
    pub max_waiting_frames: u32,
    pub maxconnrate: u32,
    pub maxerrrate: u32,
    /// `messages` and `groups` lines: the names, with the line naming them.
    pub messages: Vec<String>,
    pub groups: Vec<String>,
    pub register_var_names: Vec<String>,
    /// `log` lines (recorded: moonproxy logs no per-event SPOE line).
    pub logs: Vec<Vec<String>>,
}

/// A `spoe-message` section.
#[derive(Clone, Debug, PartialEq)]
pub struct MessageConf {
    pub name: String,
    pub location: Location,
    /// The message's own `acl` lines (its event condition sees these).
    pub acls: Vec<Acl>,
    /// `args [name=]<sample>...`: the name (empty when not given) and the expression.
    pub args: Vec<(String, String)>,
    /// `event <name> [if|unless <cond>]`.
    pub event: Option<(Event, Option<Condition>)>,
}

/// A `spoe-group` section.
#[derive(Clone, Debug, PartialEq)]
pub struct GroupConf {
    pub name: String,
    pub location: Location,
    pub messages: Vec<String>,
}

/// Why a file was refused: the alerts at the SPOE file's lines (possibly none), then
/// the message of the `filter` line.
#[derive(Debug)]
pub struct Refused {
    pub alerts: Vec<Diagnostic>,
    pub filter_error: String,
}

enum Section {
    None,
    Agent,
    Message(usize),
    Group(usize),
}

/// Reads the scope `engine` (`None`: the whole file, which may then have no scope
/// line) of the SPOE file `path`. `filter` is the `filter` line.
pub fn read(path: &str, engine: Option<&str>, env: &Env, bufsize: usize, filter: &Location) -> Result<SpoeConf, Refused> {
    let text = match std::fs::read(path) {
        Ok(b) => String::from_utf8_lossy(&b).into_owned(),
        Err(e) => {
            let reason = match e.kind() {
                std::io::ErrorKind::NotFound => "No such file or directory".to_string(),
                std::io::ErrorKind::PermissionDenied => "Permission denied".to_string(),
                _ => e.to_string(),
            };
            return Err(Refused { alerts: Vec::new(), filter_error: format!("Could not open configuration file {path} : {reason}") });
        }
    };
    parse(path, &text, engine, env, bufsize, filter)
}

/// [`read`] on text already read.
pub fn parse(path: &str, text: &str, engine: Option<&str>, env: &Env, bufsize: usize, filter: &Location) -> Result<SpoeConf, Refused> {
    let file: Arc<str> = Arc::from(path);
    // `max-frame-size` goes up to `tune.bufsize - 4`.
    let max_frame = u32::try_from(bufsize.saturating_sub(4)).unwrap_or(u32::MAX);
    let mut alerts = Vec::new();
    let mut agent: Option<AgentConf> = None;
    let mut messages: Vec<MessageConf> = Vec::new();
    let mut groups: Vec<GroupConf> = Vec::new();
    let mut section = Section::None;
    // Without an engine name the file is read up to its first scope line; with one,
    // only its scope.
    let mut in_scope = engine.is_none();
    for (n, raw) in text.lines().enumerate() {
        let loc = Location { file: file.clone(), line: n as u32 + 1 };
        let trimmed = raw.trim();
        if let Some(rest) = trimmed.strip_prefix('[') {
            let (name, after) = rest.split_once(']').unwrap_or(("", ""));
            if name.is_empty() {
                alerts.push(Diagnostic::alert(&loc, "empty scope name is forbidden.".to_string()));
            } else if let Some(c) = after.chars().find(|c| !c.is_whitespace()) {
                alerts.push(Diagnostic::alert(&loc, format!("character '{c}' is not permitted after scope declaration.")));
            }
            // Without an engine name, what follows a scope line is no one's (HAProxy
            // then finds no agent).
            in_scope = Some(name) == engine;
            section = Section::None;
            continue;
        }
        if !in_scope {
            continue;
        }
        let args = match lexer::split_line(raw, env) {
            Ok(a) => a,
            Err(e) => {
                alerts.push(Diagnostic::alert(&loc, e.render(raw)));
                continue;
            }
        };
        let Some(kw) = args.first().filter(|a| !a.is_empty()) else { continue };
        let arg = |i: usize| args.get(i).map_or("", String::as_str);
        let result: Result<(), Refusal> = match kw.as_str() {
            "spoe-agent" => {
                if arg(1).is_empty() {
                    Err(Refusal::plain("missing name for spoe-agent section.".to_string()))
                } else if agent.is_some() {
                    Err(Refusal::plain("another spoe-agent section previously defined.".to_string()))
                } else {
                    agent = Some(AgentConf::new(arg(1), &loc));
                    section = Section::Agent;
                    Ok(())
                }
            }
            "spoe-message" => {
                if arg(1).is_empty() {
                    Err(Refusal::plain("missing name for spoe-message section.".to_string()))
                } else if let Some(m) = messages.iter().find(|m| m.name == arg(1)) {
                    Err(Refusal::directive(format!("spoe-message section '{}' has the same name as another one declared at {}.", arg(1), m.location)))
                } else {
                    messages.push(MessageConf { name: arg(1).to_string(), location: loc.clone(), acls: Vec::new(), args: Vec::new(), event: None });
                    section = Section::Message(messages.len() - 1);
                    Ok(())
                }
            }
            "spoe-group" => {
                if arg(1).is_empty() {
                    Err(Refusal::plain("missing name for spoe-group section.".to_string()))
                } else if let Some(g) = groups.iter().find(|g| g.name == arg(1)) {
                    Err(Refusal::directive(format!("spoe-group section '{}' has the same name as another one declared at {}.", arg(1), g.location)))
                } else {
                    groups.push(GroupConf { name: arg(1).to_string(), location: loc.clone(), messages: Vec::new() });
                    section = Section::Group(groups.len() - 1);
                    Ok(())
                }
            }
            _ => match &section {
                Section::None => {
                    // HAProxy's wording for this one has no blank before the colon.
                    alerts.push(Diagnostic::alert(&loc, format!("unknown keyword '{kw}' out of section.")).with_style(crate::config::diagnostic::Style::Directive));
                    continue;
                }
                Section::Agent => agent_keyword(agent.as_mut().expect("in the agent section"), &args, max_frame),
                Section::Message(i) => message_keyword(&mut messages[*i], &args, &loc),
                Section::Group(i) => {
                    let g = &mut groups[*i];
                    match kw.as_str() {
                        "messages" => {
                            g.messages.extend(args[1..].iter().cloned());
                            Ok(())
                        }
                        _ => Err(Refusal::plain(format!("unknown keyword '{kw}' in spoe-group section."))),
                    }
                }
            },
        };
        if let Err(e) = result {
            alerts.push(e.diagnostic(&loc));
        }
    }
    let path_error = || format!("Error(s) found in configuration file {path}");
    if !alerts.is_empty() {
        return Err(Refused { alerts, filter_error: path_error() });
    }
    let refuse = |filter_error: String| Err(Refused { alerts: Vec::new(), filter_error });
    let Some(agent) = agent else {
        return refuse(format!("No SPOE agent found in file {path}"));
    };
    if agent.backend.is_empty() {
        return refuse(format!("No backend declared for SPOE agent '{}' declared at {}", agent.name, agent.location));
    }
    if agent.messages.is_empty() && agent.groups.is_empty() {
        return refuse(format!("no message/group declared for SPOE agent '{}' declared at {}", agent.name, agent.location));
    }
    for m in &agent.messages {
        if !messages.iter().any(|x| &x.name == m) {
            return refuse(format!("SPOE agent '{}' try to use undefined SPOE message '{m}' at {}", agent.name, agent.location));
        }
    }
    for g in &groups {
        for m in &g.messages {
            if !messages.iter().any(|x| &x.name == m) {
                // HAProxy names the agent's place here, not the group's.
                return refuse(format!("SPOE group '{}' try to use undefined SPOE message '{m}' at {}", g.name, agent.location));
            }
        }
    }
    for v in &agent.register_var_names {
        let full = format!("{}.{v}", agent.var_prefix);
        if let Some(at) = full.find(|c: char| !(c.is_ascii_alphanumeric() || c == '.' || c == '_')) {
            return refuse(format!("SPOE agent '{}': failed to register variable {full} (invalid syntax at char '{}')", agent.name, &full[at..]));
        }
    }
    for g in &agent.groups {
        if !groups.iter().any(|x| &x.name == g) {
            return refuse(format!("SPOE agent '{}' try to use undefined SPOE group '{g}' at {}", agent.name, agent.location));
        }
    }
    Ok(SpoeConf { engine: engine.unwrap_or(&agent.name).to_string(), file: path.to_string(), location: filter.clone(), agent, messages, groups })
}

impl AgentConf {
    fn new(name: &str, loc: &Location) -> AgentConf {
        AgentConf {
            name: name.to_string(),
            location: loc.clone(),
            backend: String::new(),
            timeout_hello: None,
            timeout_idle: None,
            timeout_processing: None,
            var_prefix: name.to_string(),
            set_on_error: None,
            set_process_time: None,
            set_total_time: None,
            continue_on_error: false,
            force_set_var: false,
            pipelining: true,
            dontlog_normal: false,
            max_frame_size: 0,
            max_waiting_frames: 20,
            maxconnrate: 0,
            maxerrrate: 0,
            messages: Vec::new(),
            groups: Vec::new(),
            register_var_names: Vec::new(),
            logs: Vec::new(),
        }
    }
}

/// Why a keyword line was refused: HAProxy words some `parsing [file:line]: ...` (no
/// blank before the colon), the others `parsing [file:line] : ...`.
struct Refusal {
    text: String,
    directive: bool,
}

impl Refusal {
    fn plain(text: String) -> Refusal {
        Refusal { text, directive: false }
    }

    fn directive(text: String) -> Refusal {
        Refusal { text, directive: true }
    }

    fn diagnostic(self, loc: &Location) -> Diagnostic {
        let d = Diagnostic::alert(loc, self.text);
        if self.directive {
            d.with_style(crate::config::diagnostic::Style::Directive)
        } else {
            d
        }
    }
}

impl From<String> for Refusal {
    fn from(text: String) -> Refusal {
        Refusal::plain(text)
    }
}

impl From<&str> for Refusal {
    fn from(text: &str) -> Refusal {
        Refusal::plain(text.to_string())
    }
}

fn agent_keyword(a: &mut AgentConf, args: &[String], max_frame: u32) -> Result<(), Refusal> {
    let arg = |i: usize| args.get(i).map_or("", String::as_str);
    let no_more = |n: usize| match args.get(n) {
        Some(extra) => Err(format!("'{}' cannot handle unexpected argument '{extra}'.", args[..n].join(" "))),
        None => Ok(()),
    };
    let number = |what: &str| -> Result<u32, String> {
        no_more(2)?;
        arg(1).parse::<u32>().map_err(|_| format!("'{what}' expects a positive integer argument."))
    };
    match arg(0) {
        "use-backend" => {
            if arg(1).is_empty() {
                return Err("'use-backend' expects a backend name.".into());
            }
            no_more(2)?;
            a.backend = arg(1).to_string();
        }
        "messages" => a.messages.extend(args[1..].iter().cloned()),
        "groups" => a.groups.extend(args[1..].iter().cloned()),
        "timeout" => {
            let slot = match arg(1) {
                "hello" => &mut a.timeout_hello,
                "idle" => &mut a.timeout_idle,
                "processing" => &mut a.timeout_processing,
                "" => return Err("'timeout' expects 'hello', 'idle' and 'processing'.".into()),
                other => return Err(format!("'timeout' supports 'hello', 'idle' or 'processing' (got {other}).").into()),
            };
            let what = format!("'timeout {}'", arg(1));
            let t = crate::config::units::parse_time(arg(2)).map_err(|e| format!("{}.", crate::config::units::time_error_message(&e, arg(2), &what)))?;
            *slot = Some(t);
            no_more(3)?;
        }
        "option" | "no" => {
            let negated = arg(0) == "no";
            let (opt, at) = if negated {
                if arg(1) != "option" {
                    return Err(format!("unknown keyword 'no {}' in spoe-agent section.", arg(1)).into());
                }
                (arg(2), 3)
            } else {
                (arg(1), 2)
            };
            // HAProxy words these `parsing [file:line]: ...`.
            let unexpected = |n: usize| match args.get(n) {
                Some(extra) => Err(Refusal::plain(format!("'option' cannot handle unexpected argument '{extra}'."))),
                None => Ok(()),
            };
            let value = || -> Result<String, Refusal> {
                let v = args.get(at).map_or("", String::as_str);
                if v.is_empty() {
                    return Err(Refusal::directive(format!("'option {opt}' expects a value.")));
                }
                if !v.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'.' || c == b'_') {
                    return Err(Refusal::directive(format!("'option {opt}' only supports [a-zA-Z0-9_.] chars.")));
                }
                Ok(v.to_string())
            };
            match opt {
                "async" | "send-frag-payload" => unexpected(at)?,
                "pipelining" => {
                    unexpected(at)?;
                    a.pipelining = !negated;
                }
                "dontlog-normal" => {
                    unexpected(at)?;
                    a.dontlog_normal = !negated;
                }
                "continue-on-error" | "force-set-var" | "var-prefix" | "set-on-error" | "set-process-time" | "set-total-time" if negated => {
                    return Err(Refusal::directive(format!("negation is not supported for option '{opt}'.")))
                }
                "continue-on-error" => {
                    unexpected(at)?;
                    a.continue_on_error = true;
                }
                "force-set-var" => {
                    unexpected(at)?;
                    a.force_set_var = true;
                }
                "var-prefix" => {
                    a.var_prefix = value()?;
                    unexpected(at + 1)?;
                }
                "set-on-error" => {
                    a.set_on_error = Some(value()?);
                    unexpected(at + 1)?;
                }
                "set-process-time" => {
                    a.set_process_time = Some(value()?);
                    unexpected(at + 1)?;
                }
                "set-total-time" => {
                    a.set_total_time = Some(value()?);
                    unexpected(at + 1)?;
                }
                other => return Err(Refusal::directive(format!("option '{other}' is not supported."))),
            }
        }
        "max-frame-size" => {
            let range = format!("'max-frame-size' expects a positive integer argument in the range [256, {max_frame}].");
            no_more(2)?;
            match arg(1).parse::<u32>() {
                Ok(n) if (256..=max_frame).contains(&n) => a.max_frame_size = n,
                _ => return Err(range.into()),
            }
        }
        "max-waiting-frames" => {
            a.max_waiting_frames = number("max-waiting-frames")?;
            if a.max_waiting_frames == 0 {
                return Err("'max-waiting-frames' expects a positive integer argument.".to_string().into());
            }
        }
        // Read as HAProxy reads them (`atoi`: `x` is 0).
        "maxconnrate" | "maxerrrate" => {
            no_more(2)?;
            let n = u32::try_from(crate::config::parse::atoi(arg(1)).max(0)).unwrap_or(u32::MAX);
            if arg(0) == "maxconnrate" {
                a.maxconnrate = n;
            } else {
                a.maxerrrate = n;
            }
        }
        "register-var-names" => {
            if args.len() < 2 {
                return Err("'register-var-names' expects one or more variable names.".into());
            }
            // Checked with the prefix once the scope is read.
            a.register_var_names.extend(args[1..].iter().cloned());
        }
        "log" => {
            if args.len() < 2 {
                return Err("log : expects <address> and <facility> or global as arguments".to_string().into());
            }
            a.logs.push(args[1..].to_vec());
        }
        kw => return Err(format!("unknown keyword '{kw}' in spoe-agent section.").into()),
    }
    Ok(())
}

fn message_keyword(m: &mut MessageConf, args: &[String], loc: &Location) -> Result<(), Refusal> {
    let arg = |i: usize| args.get(i).map_or("", String::as_str);
    match arg(0) {
        "args" => {
            for a in &args[1..] {
                let (name, expr) = match a.split_once('=') {
                    // `name=expr`, unless the `=` belongs to the expression.
                    Some((n, e)) if !n.is_empty() && n.bytes().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'.')) => (n, e),
                    _ => ("", a.as_str()),
                };
                if let Err(e) = crate::sample::Expr::parse(expr) {
                    return Err(format!("'args': {e}.").into());
                }
                m.args.push((name.to_string(), expr.to_string()));
            }
        }
        "acl" => {
            let name = arg(1);
            if name.is_empty() {
                return Err("'acl' expects an ACL name and an ACL expression.".into());
            }
            if args.len() < 3 {
                return Err(format!("error detected while parsing ACL '{name}' : missing fetch method in ACL expression ''.").into());
            }
            let expr = crate::config::parse::acl::parse_acl_expr(&args[2..]).map_err(|e| format!("error detected while parsing ACL '{name}' : {e}."))?;
            // (HAProxy's words when the criterion is missing.)
            m.acls.push(Acl { name: name.to_string(), expr, location: loc.clone() });
        }
        "event" => {
            let Some(event) = Event::parse(arg(1)) else {
                return Err(format!("unknown event '{}'.", arg(1)).into());
            };
            let cond = match arg(2) {
                "" => None,
                w @ ("if" | "unless") => Some(crate::config::parse::acl::parse_condition(w == "unless", &args[3..], &m.acls, loc).map_err(|e| format!("error detected while parsing an 'event {}' condition : {e}.", arg(1)))?),
                other => {
                    return Err(Refusal::directive(format!("'event {}' expects either 'if' or 'unless' followed by a condition but found '{other}'.", arg(1))))
                }
            };
            m.event = Some((event, cond));
        }
        kw => return Err(format!("unknown keyword '{kw}' in spoe-message section.").into()),
    }
    Ok(())
}

/// Post-parse checks, with HAProxy 2.6's messages: the agent's backend exists and is in
/// TCP mode, every `send-spoe-group` names an engine of its proxy and a group of that
/// engine's agent; an agent without its three timeouts gets HAProxy's warning.
pub fn check(config: &crate::config::model::Config, diags: &mut Vec<Diagnostic>) {
    use crate::config::model::Mode;
    use crate::diag::Severity;
    let alert = |diags: &mut Vec<Diagnostic>, msg: String| diags.push(Diagnostic::plain(Severity::Alert, None, msg));
    for p in &config.proxies {
        for (i, f) in p.spoe_filters.iter().enumerate() {
            if p.spoe_filters[..i].iter().any(|g| g.engine == f.engine) {
                alert(diags, format!("Proxy {} : duplicated name for SPOE engine '{}'.", p.name, f.engine));
            }
            let a = &f.agent;
            if a.timeout_hello.is_none() || a.timeout_idle.is_none() || a.timeout_processing.is_none() {
                diags.push(Diagnostic::plain(
                    Severity::Warning,
                    None,
                    format!(
                        "Proxy '{}': missing timeouts for SPOE agent '{}' declare at {}.\n   | While not properly invalid, you will certainly encounter various problems\n   | with such a configuration. To fix this, please ensure that all following\n   | timeouts are set to a non-zero value: 'hello', 'idle', 'processing'.",
                        p.name, a.name, a.location
                    ),
                ));
            }
            match config.proxies.iter().find(|b| b.cap.backend && b.name == a.backend) {
                None => alert(diags, format!("Proxy {} : unknown backend '{}' used by SPOE agent '{}' declared at {}.", p.name, a.backend, a.name, a.location)),
                Some(b) if b.mode != Mode::Tcp => alert(diags, format!("Proxy {} : backend '{}' used by SPOE agent '{}' declared at {} does not support HTTP mode.", p.name, b.name, a.name, a.location)),
                Some(_) => {}
            }
        }
        let http = p.http_rules.iter().filter_map(|r| match r.action.first().map(String::as_str) {
            Some("send-spoe-group") => Some((r.action.get(1).cloned().unwrap_or_default(), r.action.get(2).cloned().unwrap_or_default())),
            _ => None,
        });
        let tcp = p.tcp_rules.iter().filter_map(|r| match &r.action {
            Some(crate::config::model::TcpAction::SendSpoeGroup { engine, group }) => Some((engine.clone(), group.clone())),
            _ => None,
        });
        let groups = tcp.chain(http);
        for (engine, group) in groups {
            match p.spoe_filters.iter().find(|f| f.engine == engine) {
                None => alert(diags, format!("Proxy '{}': unable to find SPOE engine '{engine}' used by the send-spoe-group '{group}'.", p.name)),
                Some(f) if !f.agent.groups.contains(&group) => {
                    alert(diags, format!("Proxy '{}': unable to find SPOE group '{group}' into SPOE engine '{engine}' configuration.", p.name))
                }
                Some(_) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter() -> Location {
        Location { file: Arc::from("h.cfg"), line: 8 }
    }

    fn parse_text(text: &str, engine: Option<&str>) -> Result<SpoeConf, Refused> {
        parse("s.conf", text, engine, &Env::new(), 16384, &filter())
    }

    const GOOD: &str = "[e1]\nspoe-agent a\n  messages m1\n  groups g1\n  use-backend agents\n  option var-prefix pfx\n  option set-on-error err\n  timeout processing 300ms\nspoe-message m1\n  acl local src 127.0.0.1\n  args ip=src str(x) n=int(3)\n  event on-frontend-http-request if local\nspoe-message m2\n  args a=str(x)\nspoe-group g1\n  messages m2\n[other]\nspoe-agent b\n  bogus\n";

    #[test]
    fn a_scope_is_read_with_its_sections() {
        let c = parse_text(GOOD, Some("e1")).unwrap();
        assert_eq!(c.engine, "e1");
        assert_eq!(c.agent.backend, "agents");
        assert_eq!(c.agent.var_prefix, "pfx");
        assert_eq!(c.agent.set_on_error.as_deref(), Some("err"));
        assert_eq!(c.agent.timeout_processing, Some(Duration::from_millis(300)));
        let m1 = c.message("m1").unwrap();
        assert_eq!(m1.args, vec![("ip".into(), "src".into()), (String::new(), "str(x)".into()), ("n".into(), "int(3)".into())]);
        let (event, cond) = m1.event.as_ref().unwrap();
        assert_eq!(*event, Event::FrontendHttpRequest);
        assert!(cond.is_some());
        assert_eq!(c.group("g1").unwrap().messages, vec!["m2".to_string()]);
    }

    #[test]
    fn errors_name_the_spoe_file_and_line() {
        let e = parse_text("[e1]\nspoe-agent a\n  messages m1\n  bogus 1\n", Some("e1")).unwrap_err();
        assert_eq!(e.alerts[0].to_string(), "config : parsing [s.conf:4] : unknown keyword 'bogus' in spoe-agent section.");
        assert_eq!(e.filter_error, "Error(s) found in configuration file s.conf");
        let e = parse_text("[e1]\nfoo bar\n", Some("e1")).unwrap_err();
        assert_eq!(e.alerts[0].to_string(), "config : parsing [s.conf:2]: unknown keyword 'foo' out of section.");
        let e = parse_text("[e1]\nspoe-agent a\n use-backend x\n messages m1\nspoe-message m1\n event on-foo\n", Some("e1")).unwrap_err();
        assert_eq!(e.alerts[0].to_string(), "config : parsing [s.conf:6] : unknown event 'on-foo'.");
        let e = parse_text("[e1]\nspoe-agent a\n use-backend x\n timeout processing abc\n", Some("e1")).unwrap_err();
        assert_eq!(e.alerts[0].to_string(), "config : parsing [s.conf:4] : unexpected character 'a' in 'timeout processing'.");
    }

    #[test]
    fn missing_pieces_fail_the_filter_line() {
        let e = parse_text("[e1]\nspoe-agent a\n  messages m1\n", Some("e1")).unwrap_err();
        assert_eq!(e.filter_error, "No backend declared for SPOE agent 'a' declared at s.conf:2");
        let e = parse_text("[e1]\nspoe-agent a\n  messages m2\n  use-backend b\n", Some("e1")).unwrap_err();
        assert_eq!(e.filter_error, "SPOE agent 'a' try to use undefined SPOE message 'm2' at s.conf:2");
        let e = parse_text("[e1]\nspoe-agent a\n  groups g2\n  use-backend b\nspoe-group g2\n  messages mx\n", Some("e1")).unwrap_err();
        assert_eq!(e.filter_error, "SPOE group 'g2' try to use undefined SPOE message 'mx' at s.conf:2");
    }
}
