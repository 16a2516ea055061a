//! The command table and the commands that read or change proxies and servers.
//! Map and ACL commands are in [`super::maps`], `show info` in [`super::info`].
//!
//! Every answer is the text HAProxy 2.6 prints, each line ending with `\n`; the
//! session adds the empty line that ends every reply. An empty answer means success
//! for the commands that change something.

use super::{info, maps, process, profiling, servers, ssl_cert, usage, Exec};
use crate::config::model::CliLevel;
use crate::lua::host::ServerOp;
use crate::stats::snapshot::{self, RowKind, Value, View};
use crate::stats::{csv, fields as f, json, typed};

/// A command's handler: the words after the command's own, the answer.
pub type Run = fn(&mut Exec<'_>, &[String]) -> String;

/// One entry of the table.
pub struct Command {
    /// The words that name it (`["show", "stat"]`).
    pub words: &'static [&'static str],
    /// Its usage and description in `help` (empty usage: not listed).
    pub usage: &'static str,
    pub help: &'static str,
    /// The lowest level allowed to run it ("Permission denied" below).
    pub level: CliLevel,
    pub run: Run,
}

const fn cmd(words: &'static [&'static str], usage: &'static str, help: &'static str, level: CliLevel, run: Run) -> Command {
    Command { words, usage, help, level, run }
}

use CliLevel::{Admin, Operator, User};

/// Every command, sorted as `help` prints them. The usages and descriptions are
/// HAProxy 2.6's, including the commands' own quirks (`enable server  (DEPRECATED)`).
pub static COMMANDS: &[Command] = &[
    cmd(&["abort", "ssl", "cert"], "abort ssl cert <certfile>", "abort a transaction for a certificate file", Admin, ssl_cert::abort_cert),
    cmd(&["add", "acl"], "add acl [@<ver>] <acl> <pattern>", "add an acl entry", User, maps::add_acl),
    cmd(&["add", "map"], "add map [@<ver>] <map> <key> <val>", "add a map entry (payload supported instead of key/val)", User, maps::add_map),
    cmd(&["add", "server"], "add server <bk>/<srv>", "create a new server", Admin, servers::add_server),
    cmd(&["add", "ssl", "crt-list"], "add ssl crt-list <list> <cert> [opts]*", "add to crt-list file <list> a line <cert> or a payload", Admin, ssl_cert::add_crt_list),
    cmd(&["clear", "acl"], "clear acl [@<ver>] <acl>", "clear the contents of this acl", User, maps::clear_acl),
    cmd(&["clear", "counters"], "clear counters [all]", "clear max statistics counters (or all counters)", Operator, clear_counters),
    cmd(&["clear", "lua", "errors"], "clear lua errors", "forget the recent Lua errors (moonproxy)", Operator, clear_lua_errors),
    cmd(&["clear", "map"], "clear map [@<ver>] <map>", "clear the contents of this map", User, maps::clear_map),
    cmd(&["clear", "table"], "clear table <table> [<filter>]*", "remove an entry from a table (filter: data/key)", User, |e, a| crate::stick::cli::clear(a, e.state.level >= Operator)),
    cmd(&["commit", "acl"], "commit acl @<ver> <acl>", "commit the ACL at this version", User, maps::commit_acl),
    cmd(&["commit", "map"], "commit map @<ver> <map>", "commit the map at this version", User, maps::commit_map),
    cmd(&["commit", "ssl", "cert"], "commit ssl cert <certfile>", "commit a certificate file", Admin, ssl_cert::commit_cert),
    cmd(&["del", "acl"], "del acl <acl> [<key>|#<ref>]", "delete acl entries matching <key>", User, maps::del_acl),
    cmd(&["del", "map"], "del map <map> [<key>|#<ref>]", "delete map entries matching <key>", User, maps::del_map),
    cmd(&["del", "server"], "del server <bk>/<srv>", "remove a dynamically added server", Admin, servers::del_server),
    cmd(&["del", "ssl", "cert"], "del ssl cert <certfile>", "delete an unused certificate file", Admin, ssl_cert::del_cert),
    cmd(&["del", "ssl", "crt-list"], "del ssl crt-list <list> <cert[:line]>", "delete a line <cert> from crt-list file <list>", Admin, ssl_cert::del_crt_list),
    cmd(&["disable", "agent"], "disable agent", "disable agent checks", Admin, servers::disable_agent),
    cmd(&["disable", "dynamic-cookie", "backend"], "disable dynamic-cookie backend <bk>", "disable dynamic cookies on a specific backend", Admin, servers::disable_dynamic_cookie),
    cmd(&["disable", "frontend"], "disable frontend <frontend>", "temporarily disable specific frontend", Admin, disable_frontend),
    cmd(&["disable", "health"], "disable health", "disable health checks", Admin, disable_health),
    cmd(&["disable", "server"], "disable server (DEPRECATED)", "disable a server for maintenance (use 'set server' instead)", Admin, disable_server),
    cmd(&["enable", "agent"], "enable agent", "enable agent checks", Admin, servers::enable_agent),
    cmd(&["enable", "dynamic-cookie", "backend"], "enable dynamic-cookie backend <bk>", "enable dynamic cookies on a specific backend", Admin, servers::enable_dynamic_cookie),
    cmd(&["enable", "frontend"], "enable frontend <frontend>", "re-enable specific frontend", Admin, enable_frontend),
    cmd(&["enable", "health"], "enable health", "enable health checks", Admin, enable_health),
    cmd(&["enable", "server"], "enable server  (DEPRECATED)", "enable a disabled server (use 'set server' instead)", Admin, enable_server),
    cmd(&["experimental-mode"], "", "", Admin, experimental_mode),
    cmd(&["expert-mode"], "", "", Admin, expert_mode),
    cmd(&["get", "acl"], "get acl <acl> <value>", "report the patterns matching a sample for an ACL", User, maps::get_acl),
    cmd(&["get", "map"], "get map <acl> <value>", "report the keys and values matching a sample for a map", User, maps::get_map),
    cmd(&["get", "var"], "get var <name>", "retrieve contents of a process-wide variable", Operator, get_var),
    cmd(&["get", "weight"], "get weight <bk>/<srv>", "report a server's current weight", User, get_weight),
    cmd(&["new", "ssl", "cert"], "new ssl cert <certfile>", "create a new certificate file to be used in a crt-list or a directory", Admin, ssl_cert::new_cert),
    cmd(&["operator"], "operator", "lower the level of the current CLI session to operator", User, operator),
    cmd(&["prepare", "acl"], "prepare acl <acl>", "prepare a new version for atomic ACL replacement", User, maps::prepare_acl),
    cmd(&["prepare", "map"], "prepare map <acl>", "prepare a new version for atomic map replacement", User, maps::prepare_map),
    cmd(&["set", "dynamic-cookie-key", "backend"], "set dynamic-cookie-key backend <bk> <k>", "change a backend secret key for dynamic cookies", Admin, servers::set_dynamic_cookie_key),
    cmd(&["set", "map"], "set map <map> [<key>|#<ref>] <value>", "modify a map entry", User, maps::set_map),
    cmd(&["set", "maxconn", "frontend"], "set maxconn frontend <frontend> <value>", "change a frontend's maxconn setting", Admin, set_maxconn_frontend),
    cmd(&["set", "maxconn", "global"], "set maxconn global <value>", "change the per-process maxconn setting", Admin, set_maxconn_global),
    cmd(&["set", "maxconn", "server"], "set maxconn server <bk>/<srv>", "change a server's maxconn setting", Admin, set_maxconn_server),
    cmd(&["set", "profiling"], "set profiling <what> {auto|on|off}", "enable/disable resource profiling (tasks,memory)", Admin, profiling::set_profiling),
    cmd(&["set", "rate-limit"], "set rate-limit <setting> <value>", "change a rate limiting value", Admin, set_rate_limit),
    cmd(&["set", "server"], "set server <bk>/<srv> [opts]", "change a server's state, weight, address or ssl", Admin, set_server),
    cmd(&["set", "severity-output"], "set severity-output [none|number|string]", "set presence of severity level in feedback information", User, process::set_severity_output),
    cmd(&["set", "ssl", "cert"], "set ssl cert <certfile> <payload>", "replace a certificate file", Admin, ssl_cert::set_cert),
    cmd(&["set", "ssl", "ocsp-response"], "set ssl ocsp-response <resp|payload>", "update a certificate's OCSP Response from a base64-encode DER", Admin, ssl_cert::set_ocsp_response),
    cmd(&["set", "table"], "set table <table> key <k> [data.* <v>]*", "update or create a table entry's data", Operator, |_, a| crate::stick::cli::set(a)),
    cmd(&["set", "timeout"], "set timeout [cli] <delay>", "change a timeout setting", User, set_timeout),
    cmd(&["set", "weight"], "set weight <bk>/<srv>  (DEPRECATED)", "change a server's weight (use 'set server' instead)", Admin, set_weight),
    cmd(&["show", "acl"], "show acl [@<ver>] <acl>]", "report available acls or dump an acl's contents", User, maps::show_acl),
    cmd(&["show", "activity"], "show activity", "show per-thread activity stats (for support/developers)", User, show_activity),
    cmd(&["show", "backend"], "show backend", "list backends in the current running config", User, show_backend),
    cmd(&["show", "cache"], "show cache", "show cache status", Admin, |_, _| crate::http::cache::show()),
    cmd(&["show", "cli", "level"], "show cli level", "display the level of the current CLI session", User, show_cli_level),
    cmd(&["show", "cli", "sockets"], "show cli sockets", "dump list of cli sockets", User, show_cli_sockets),
    cmd(&["show", "env"], "show env [var]", "dump environment variables known to the process", Operator, show_env),
    cmd(&["show", "errors"], "show errors [<px>] [request|response]", "report last request and/or response errors for each proxy", Operator, show_errors),
    cmd(&["show", "events"], "show events [<sink>] [-w] [-n]", "show event sink state", User, super::events::show_events),
    cmd(&["show", "fd"], "show fd [num]", "dump list of file descriptors in use or a specific one", Operator, show_fd),
    cmd(&["show", "info"], "show info [desc|json|typed|float]*", "report information about the running process", User, info::show_info),
    cmd(&["show", "libs"], "show libs", "show loaded object files and libraries", User, process::show_libs),
    cmd(&["show", "lua", "errors"], "show lua errors", "report the recent Lua errors, repeats counted (moonproxy)", Operator, show_lua_errors),
    cmd(&["show", "lua", "stats"], "show lua stats [name]", "report the counters of each registered Lua function (moonproxy)", Operator, |_, args| crate::lua::stats::show(args.first().map(String::as_str))),
    cmd(&["show", "lua", "tasks"], "show lua tasks", "list the live Lua coroutines: tasks, CLI commands, streams' calls (moonproxy)", Operator, show_lua_tasks),
    cmd(&["show", "map"], "show map [@ver] [map]", "report available maps or dump a map's contents", User, maps::show_map),
    cmd(&["show", "peers"], "show peers [dict|-] [section]", "dump some information about all the peers or this peers section", User, |_, args| crate::peers::show::show(args)),
    cmd(&["show", "pools"], "show pools", "report information about the memory pools usage", User, show_pools),
    cmd(&["show", "profiling"], "show profiling [<what>|<#lines>|byaddr]*", "show profiling state (all,status,tasks,memory)", Admin, profiling::show_profiling),
    cmd(&["show", "resolvers"], "show resolvers [id]", "dumps counters from all resolvers section and associated name servers", User, process::show_resolvers),
    cmd(&["show", "schema", "json"], "show schema json", "report schema used for stats", User, process::show_schema_json),
    cmd(&["show", "servers", "conn"], "show servers conn [<backend>]", "dump server connections status (all or for a single backend)", User, servers::show_servers_conn),
    cmd(&["show", "servers", "state"], "show servers state [<backend>]", "dump volatile server information (all or for a single backend)", User, show_servers_state),
    cmd(&["show", "sess"], "show sess [id]", "report the list of current sessions or dump this exact session", Operator, show_sess),
    cmd(&["show", "ssl", "cert"], "show ssl cert [<certfile>]", "display the SSL certificates used in memory, or the details of a file", Admin, ssl_cert::show_cert),
    cmd(&["show", "ssl", "crt-list"], "show ssl crt-list [-n] [<list>]", "show the list of crt-lists or the content of a crt-list file <list>", Admin, ssl_cert::show_crt_list),
    cmd(&["show", "startup-logs"], "show startup-logs", "report logs emitted during HAProxy startup", Operator, show_startup_logs),
    cmd(&["show", "stat"], "show stat [desc|json|no-maint|typed|up]*", "report counters for each proxy and server", User, show_stat),
    cmd(&["show", "table"], "show table <table> [<filter>]*", "report table usage stats or dump this table's contents (filter: data/key)", User, |e, a| crate::stick::cli::show(a, e.state.level >= Operator)),
    cmd(&["show", "tasks"], "show tasks", "show running tasks", User, profiling::show_tasks),
    cmd(&["show", "threads"], "show threads", "show some threads debugging information", User, profiling::show_threads),
    cmd(&["show", "version"], "show version", "show version of the current process", User, show_version),
    cmd(&["shutdown", "frontend"], "shutdown frontend <frontend>", "stop a specific frontend", Admin, shutdown_frontend),
    cmd(&["shutdown", "session"], "shutdown session [id]", "kill a specific session", Admin, shutdown_session),
    cmd(&["shutdown", "sessions", "server"], "shutdown sessions server <bk>/<srv>", "kill sessions on a server", Admin, shutdown_sessions_server),
    cmd(&["user"], "user", "lower the level of the current CLI session to user", User, user),
];

/// The command named by the first words of `words`.
pub fn find(words: &[String]) -> Option<&'static Command> {
    COMMANDS.iter().find(|c| words.len() >= c.words.len() && c.words.iter().zip(words).all(|(k, w)| k == w))
}

/// What a session does after a command.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Send this answer (possibly empty) and go on.
    Reply(String),
    /// `quit`: close now, nothing more is answered.
    Quit,
    /// Run the `core.register_cli` command of this index (the session starts it).
    Lua(usize),
}

/// Runs one command (its words, already split).
pub fn execute(exec: &mut Exec<'_>, words: &[String]) -> Outcome {
    let Some(first) = words.first() else { return Outcome::Reply(usage::unknown(&[], &exec.host.lua_cli_usages())) };
    match first.as_str() {
        "quit" => return Outcome::Quit,
        "prompt" => {
            exec.state.prompt = !exec.state.prompt;
            return Outcome::Reply(String::new());
        }
        "help" => return Outcome::Reply(usage::help(&words[1..], &exec.host.lua_cli_usages())),
        _ => {}
    }
    let Some(c) = find(words) else {
        // Lua commands have no level of their own (HAProxy runs them at any level).
        return match exec.host.lua_cli_find(words) {
            Some(index) => Outcome::Lua(index),
            None => Outcome::Reply(usage::unknown(words, &exec.host.lua_cli_usages())),
        };
    };
    if exec.state.level < c.level {
        return Outcome::Reply(exec.err("Permission denied\n"));
    }
    let answer = (c.run)(exec, &words[c.words.len()..]);
    if exec.severity.is_none() && !answer.is_empty() {
        exec.severity = message_severity(c.words, &answer);
    }
    Outcome::Reply(answer)
}

/// The syslog severity HAProxy 2.6 gives an answer its handler did not mark (for
/// `severity-output`; `None`: not a message, a dump). A command that answers nothing
/// when it succeeds answers a message otherwise: an error, but for the successes 2.6
/// reports as notices (the certificate store's), warnings (`set server ... addr`) or
/// information (`prepare map`), and the streamed ones it does not mark (`Committing`,
/// `Inserting`). A `show` or `get` answer is a dump unless it is one of their errors.
fn message_severity(words: &[&str], answer: &str) -> Option<u8> {
    const NOTICES: &[&str] = &["New empty certificate store", "Transaction created for", "Transaction updated for", "Transaction aborted for"];
    const SHOW_ERRORS: &[&str] = &[
        "Unknown map identifier",
        "Unknown ACL identifier",
        "Missing map identifier",
        "Missing ACL identifier",
        "Can't find backend.",
        "No such table",
        "No such proxy.",
        "didn't find the specified filename",
        "Can't display the certificate",
        "Variable not found.",
        "Missing process-wide variable identifier",
    ];
    let starts = |list: &[&str]| list.iter().any(|p| answer.starts_with(p));
    match words.first().copied() {
        Some("show") if words.get(1) == Some(&"version") => Some(6),
        Some("show" | "get" | "help") => starts(SHOW_ERRORS).then_some(3),
        _ if answer.starts_with("Committing ") || answer.starts_with("Inserting certificate") => None,
        _ if starts(NOTICES) => Some(5),
        _ if answer.starts_with("Entry '") && answer.contains("' deleted in crtlist '") => Some(5),
        _ if answer.starts_with("Certificate '") && answer.ends_with("' deleted!\n") => Some(5),
        _ if answer.starts_with("IP changed from") || answer.starts_with("no need to change the addr") => Some(4),
        _ if answer.starts_with("New version created") => Some(6),
        _ => Some(3),
    }
}

// ---- Lua -------------------------------------------------------------------------

/// `show lua errors`: the ring of `lua::error_ring`, least recently seen first, one line
/// an error: `<last> count=<n> first=<first> <kind> '<name>' on <fe>/<be>/<srv> at
/// <file:line>: <message> from <traceback>` (UTC times; `on`, `at` and `from` only when
/// known).
fn show_lua_errors(_: &mut Exec<'_>, _: &[String]) -> String {
    let (entries, total, dropped) = crate::lua::error_ring::snapshot();
    let mut out = format!("# {total} errors recorded, {} kept, {dropped} dropped\n", entries.len());
    for e in &entries {
        out.push_str(&format!("{} count={} first={} {} '{}'", utc(e.last), e.count, utc(e.first), e.origin.name(), e.name));
        if let Some(on) = &e.context {
            out.push_str(&format!(" on {on}"));
        }
        let mut message = e.message.as_str();
        if let Some(at) = &e.location {
            out.push_str(&format!(" at {at}"));
            // `file:line: msg` says the place once.
            message = message.strip_prefix(at.as_str()).and_then(|m| m.strip_prefix(": ")).unwrap_or(message);
        }
        out.push_str(&format!(": {message}"));
        if !e.traceback.is_empty() {
            out.push_str(&format!(" from {}", e.traceback));
        }
        out.push('\n');
    }
    out
}

/// `show lua tasks`: one line a live coroutine: `core.register_task` tasks,
/// `core.register_cli` commands, then the streams' calls waiting on their coroutine:
/// `<kind> <name> <state> age=<ms>ms cpu=<us>us at=<file:line>` (`at=-` when unknown),
/// and `stream=0x<id>` for a stream's; the state `runnable`, `sleeping(<ms left>ms)` or
/// `socket`.
fn show_lua_tasks(exec: &mut Exec<'_>, _: &[String]) -> String {
    use super::LuaTaskState;
    let tasks = exec.host.lua_tasks();
    let mut out = format!("# {} Lua tasks: kind name state age cpu at [stream]\n", tasks.len());
    for t in &tasks {
        let state = match t.state {
            LuaTaskState::Runnable => "runnable".to_string(),
            LuaTaskState::Sleeping(left) => format!("sleeping({}ms)", left.as_millis()),
            LuaTaskState::Socket => "socket".to_string(),
        };
        out.push_str(&format!(
            "{} {} {state} age={}ms cpu={}us at={}",
            t.kind,
            t.name,
            t.age.as_millis(),
            t.cpu.as_micros(),
            t.at.as_deref().unwrap_or("-")
        ));
        if let Some(id) = t.stream {
            out.push_str(&format!(" stream=0x{id:x}"));
        }
        out.push('\n');
    }
    out
}

fn clear_lua_errors(_: &mut Exec<'_>, _: &[String]) -> String {
    crate::lua::error_ring::clear();
    String::new()
}

/// `2026-11-26T05:20:01.123Z`.
fn utc(t: std::time::SystemTime) -> String {
    let tm = crate::log::time::breakdown(t, 0);
    format!("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", tm.year, tm.month, tm.day, tm.hour, tm.min, tm.sec, tm.micros / 1000)
}

// ---- the session itself ------------------------------------------------------------

fn show_cli_level(exec: &mut Exec<'_>, _: &[String]) -> String {
    format!("{}\n", exec.state.level.name())
}

fn user(exec: &mut Exec<'_>, _: &[String]) -> String {
    exec.state.level = CliLevel::User;
    String::new()
}

fn operator(exec: &mut Exec<'_>, _: &[String]) -> String {
    if exec.state.level < CliLevel::Operator {
        return "Permission denied\n".into();
    }
    exec.state.level = CliLevel::Operator;
    String::new()
}

fn show_cli_sockets(exec: &mut Exec<'_>, _: &[String]) -> String {
    let mut out = String::from("# socket lvl processes\n");
    for (addr, level) in &exec.shared.sockets {
        out.push_str(&format!("{addr} {} all\n", level.name()));
    }
    out
}

/// `set timeout cli <delay>`: this session's idle timeout.
fn set_timeout(exec: &mut Exec<'_>, args: &[String]) -> String {
    if args.first().map(String::as_str) != Some("cli") {
        return "'set timeout' only supports 'cli'.\n".into();
    }
    let Some(v) = args.get(1) else { return "Expects an integer value.\n".into() };
    match crate::config::units::parse_time(v) {
        Ok(t) if !t.is_zero() => {
            exec.state.timeout = t;
            String::new()
        }
        _ => "Invalid timeout value.\n".into(),
    }
}

/// `expert-mode [on|off]` and `experimental-mode [on|off]`: without argument, the state.
fn mode_switch(flag: &mut bool, name: &str, args: &[String]) -> String {
    match args.first().map(String::as_str) {
        None => format!("{name} is {}\n", if *flag { "ON" } else { "OFF" }),
        Some("on") => {
            *flag = true;
            String::new()
        }
        Some("off") => {
            *flag = false;
            String::new()
        }
        Some(_) => String::new(), // HAProxy 2.6 ignores other words silently
    }
}

fn expert_mode(exec: &mut Exec<'_>, args: &[String]) -> String {
    mode_switch(&mut exec.state.expert, "expert-mode", args)
}

fn experimental_mode(exec: &mut Exec<'_>, args: &[String]) -> String {
    mode_switch(&mut exec.state.experimental, "experimental-mode", args)
}

// ---- process -----------------------------------------------------------------------

fn show_version(_: &mut Exec<'_>, _: &[String]) -> String {
    format!("{}\n", crate::version::VERSION)
}

fn show_env(_: &mut Exec<'_>, args: &[String]) -> String {
    match args.first() {
        None => std::env::vars_os().map(|(k, v)| format!("{}={}\n", k.to_string_lossy(), v.to_string_lossy())).collect(),
        Some(name) => match std::env::var_os(name) {
            Some(v) => format!("{name}={}\n", v.to_string_lossy()),
            None => "Variable not found\n".into(),
        },
    }
}

/// `get var proc.<name>`. HAProxy 2.6 answers a found variable on one line without
/// the empty line that ends other answers; so does this.
fn get_var(_: &mut Exec<'_>, args: &[String]) -> String {
    use crate::sample::{vars, Sample, SampleType, VarName};
    let Some(name) = args.first() else { return "Missing process-wide variable identifier.\n".into() };
    let found = VarName::parse(name)
        .filter(|v| v.scope == vars::Scope::Proc)
        .and_then(|v| vars::with_proc_vars(|store| store.get(&v).cloned()));
    let Some(value) = found else { return "Variable not found.\n".into() };
    let ty = value.ty().name();
    let text = match value.cast(SampleType::Str) {
        Some(Sample::Str(b)) => String::from_utf8_lossy(&b).into_owned(),
        _ => String::new(),
    };
    format!("{name}: type={ty} value=<{text}>")
}

/// `clear counters [all]`: `all` needs the admin level.
fn clear_counters(exec: &mut Exec<'_>, args: &[String]) -> String {
    let all = args.first().is_some_and(|a| a == "all");
    if all && exec.state.level < CliLevel::Admin {
        return "Permission denied\n".into();
    }
    exec.host.clear_counters(all);
    String::new()
}

/// `show errors [<px>] [request|response]`: `<px>` is a proxy's name or id (`-1`: all;
/// an unknown id shows nothing, an unknown name is an error, as in HAProxy).
fn show_errors(exec: &mut Exec<'_>, args: &[String]) -> String {
    use crate::stats::errors::{self, Named, Side};
    let proxies = exec.host.proxies();
    let only = match args.first().map(String::as_str) {
        None | Some("-1") => None,
        Some(px) => match px.parse::<i64>() {
            Ok(id) => Some(proxies.iter().position(|p| i64::from(p.uuid) == id).unwrap_or(usize::MAX)),
            Err(_) => match proxies.iter().position(|p| p.name == px) {
                Some(i) => Some(i),
                None => return "No such proxy.\n".into(),
            },
        },
    };
    let side = match args.get(1).map(String::as_str) {
        Some("request") => Some(Side::Request),
        Some("response") => Some(Side::Response),
        _ => None,
    };
    let named = |i: usize| proxies.get(i).map(|p| Named { name: p.name.clone(), uuid: p.uuid });
    errors::show(&named, only, side)
}

/// `show startup-logs`: the messages printed while starting (HAProxy answers one
/// empty line when there were none).
fn show_startup_logs(_: &mut Exec<'_>, _: &[String]) -> String {
    let logs = crate::diag::startup_logs();
    if logs.is_empty() {
        "\n".into()
    } else {
        logs
    }
}

/// `set rate-limit connections|sessions|ssl-sessions|http-compression global <n>`:
/// checked as HAProxy checks it; moonproxy has none of these limits (`maxconnrate`,
/// `maxsessrate`, `maxsslrate` and `maxcomprate` are refused at load), so a valid
/// request says so.
fn set_rate_limit(_: &mut Exec<'_>, args: &[String]) -> String {
    const USAGE: &str = "'set rate-limit' only supports :\n   \
        - 'connections global' to set the per-process maximum connection rate\n   \
        - 'sessions global' to set the per-process maximum session rate\n   \
        - 'ssl-sessions global' to set the per-process maximum SSL session rate\n   \
        - 'http-compression global' to set the per-process maximum compression speed in kB/s\n";
    let what = args.first().map(String::as_str);
    if !matches!(what, Some("connections" | "sessions" | "ssl-sessions" | "http-compression"))
        || args.get(1).map(String::as_str) != Some("global")
    {
        return USAGE.into();
    }
    let Some(v) = args.get(2) else { return "Expects an integer value.\n".into() };
    if super::parse::atoi(v) < 0 {
        return "Value out of range.\n".into();
    }
    format!("'set rate-limit {} global' is not supported by moonproxy yet.\n", what.unwrap_or_default())
}

fn set_maxconn_global(exec: &mut Exec<'_>, args: &[String]) -> String {
    let Some(v) = args.first() else { return "Expects an integer value.\n".into() };
    let hard = exec.host.process().hard_maxconn;
    let v = super::parse::atoi(v);
    if v > i64::from(hard) {
        return "Value out of range.\n".into();
    }
    // As HAProxy: 0 (or no number at all) means the hard limit.
    let v = if v <= 0 { hard } else { v as u32 };
    exec.host.set_global_maxconn(v);
    String::new()
}

fn set_maxconn_frontend(exec: &mut Exec<'_>, args: &[String]) -> String {
    let Some(name) = args.first() else { return "A frontend name is expected.\n".into() };
    let Some(px) = frontend(exec, name) else { return "No such frontend.\n".into() };
    let Some(v) = args.get(1) else { return "Integer value expected.\n".into() };
    let v = super::parse::atoi(v);
    if v < 0 {
        return "Value out of range.\n".into();
    }
    exec.host.set_frontend_maxconn(px, u32::try_from(v).unwrap_or(u32::MAX));
    String::new()
}

/// A frontend (or `listen`) by name or `#<id>`.
fn frontend(exec: &Exec<'_>, name: &str) -> Option<usize> {
    let proxies = exec.host.proxies();
    proxies.iter().position(|p| p.name == name && p.cap.frontend && !p.disabled)
}

fn disable_frontend(exec: &mut Exec<'_>, args: &[String]) -> String {
    toggle_frontend(exec, args, true)
}

fn enable_frontend(exec: &mut Exec<'_>, args: &[String]) -> String {
    toggle_frontend(exec, args, false)
}

fn toggle_frontend(exec: &mut Exec<'_>, args: &[String], pause: bool) -> String {
    let Some(name) = args.first() else { return "A frontend name is expected.\n".into() };
    let Some(px) = frontend(exec, name) else { return "No such frontend.\n".into() };
    if exec.host.frontend_paused(px) == pause {
        return if pause { "All sockets are already disabled.\n" } else { "All sockets are already enabled.\n" }.into();
    }
    exec.host.pause_frontend(px, pause);
    String::new()
}

fn shutdown_frontend(exec: &mut Exec<'_>, args: &[String]) -> String {
    let Some(name) = args.first() else { return "A frontend name is expected.\n".into() };
    let Some(px) = frontend(exec, name) else { return "No such frontend.\n".into() };
    if !exec.host.stop_frontend(px) {
        return "Frontend was already shut down.\n".into();
    }
    String::new()
}

fn show_backend(exec: &mut Exec<'_>, _: &[String]) -> String {
    let mut out = String::from("# name\n");
    for p in exec.host.proxies().iter().filter(|p| p.cap.backend) {
        out.push_str(&p.name);
        out.push('\n');
    }
    out
}

// ---- servers -----------------------------------------------------------------------

/// Finds `<backend>/<server>`; `Err` is HAProxy's answer.
fn server_arg(exec: &Exec<'_>, arg: Option<&String>) -> Result<(usize, usize), String> {
    let Some((b, s)) = arg.and_then(|a| a.split_once('/')) else { return Err("Require 'backend/server'.\n".into()) };
    let proxies = exec.host.proxies();
    let Some(be) = proxies.iter().position(|p| p.name == b && p.cap.backend) else { return Err("No such backend.\n".into()) };
    let backend = exec.host.backend(be).ok_or_else(|| "No such backend.\n".to_string())?;
    let srv = backend.server_by_name(s).ok_or_else(|| "No such server.\n".to_string())?;
    Ok((be, srv.0))
}

fn apply(exec: &mut Exec<'_>, be: usize, srv: usize, op: ServerOp) -> String {
    match exec.host.server_op(be, srv, op) {
        Ok(()) => String::new(),
        Err(e) => format!("{e}\n"),
    }
}

fn set_server(exec: &mut Exec<'_>, args: &[String]) -> String {
    const USAGE: &str = "usage: set server <backend>/<server> addr | agent | agent-addr | agent-port | agent-send | check-addr | check-port | fqdn | health | ssl | state | weight\n";
    let (be, srv) = match server_arg(exec, args.first()) {
        Ok(x) => x,
        Err(e) => return e,
    };
    match args.get(1).map(String::as_str) {
        Some("state") => {
            let op = match args.get(2).map(String::as_str) {
                Some("ready") => ServerOp::Ready,
                Some("drain") => ServerOp::Drain,
                Some("maint") => ServerOp::Maint,
                _ => return "'set server <srv> state' expects 'ready', 'drain' and 'maint'.\n".into(),
            };
            apply(exec, be, srv, op)
        }
        Some("weight") => change_weight(exec, be, srv, args.get(2)),
        Some("health") => {
            let op = match args.get(2).map(String::as_str) {
                Some("up") => ServerOp::ForceUp,
                Some("stopping") => ServerOp::ForceNolb,
                Some("down") => ServerOp::ForceDown,
                _ => return "'set server <srv> health' expects 'up', 'stopping', or 'down'.\n".into(),
            };
            apply(exec, be, srv, op)
        }
        Some("addr") => change_addr(exec, be, srv, &args[2..]),
        Some(what @ ("agent" | "agent-addr" | "agent-port" | "agent-send" | "check-addr" | "check-port" | "fqdn" | "ssl")) => {
            format!("'set server <srv> {what}' is not supported by moonproxy yet.\n")
        }
        _ => USAGE.into(),
    }
}

/// `set server <b>/<s> addr <ip> [port <port>]`, answered as HAProxy answers it.
fn change_addr(exec: &mut Exec<'_>, be: usize, srv: usize, args: &[String]) -> String {
    const BY: &str = " by 'stats socket command'";
    let Some(text) = args.first() else { return "set server <b>/<s> addr requires an address and optionally a port.\n".into() };
    let Ok(ip) = text.parse::<std::net::IpAddr>() else { return format!("Invalid addr '{text}'{BY}\n") };
    let Some(b) = exec.host.backend(be) else { return "No such backend.\n".into() };
    let (old_ip, old_port) = crate::lua::api::world::ip_port(b.servers()[srv].addr());
    let mut msg = match old_ip {
        Some(old) if old == ip => "no need to change the addr".to_string(),
        Some(old) => format!("IP changed from '{old}' to '{ip}'"),
        None => format!("IP changed from '' to '{ip}'"),
    };
    let mut port = None;
    if args.get(1).map(String::as_str) == Some("port") {
        let p = args.get(2).map_or("", String::as_str);
        match p.parse::<u16>() {
            Ok(p) if Some(p) == old_port => msg.push_str(", no need to change the port"),
            Ok(p) => {
                msg.push_str(&format!(", port changed from '{}' to '{p}'", old_port.unwrap_or(0)));
                port = Some(p);
            }
            Err(_) => msg.push_str(&format!(", problem converting port '{p}' to an int")),
        }
    }
    if let Err(e) = exec.host.server_op(be, srv, ServerOp::Addr(ip, port)) {
        return format!("{e}\n");
    }
    format!("{msg}{BY}\n")
}

fn set_maxconn_server(exec: &mut Exec<'_>, args: &[String]) -> String {
    let (be, srv) = match server_arg(exec, args.first()) {
        Ok(x) => x,
        Err(e) => return e,
    };
    let Some(v) = args.get(1) else { return "Require <maxconn>.\n".into() };
    match v.parse::<u32>() {
        Ok(n) => apply(exec, be, srv, ServerOp::Maxconn(n)),
        Err(_) => "Require <maxconn>.\n".into(),
    }
}

fn enable_health(exec: &mut Exec<'_>, args: &[String]) -> String {
    match server_arg(exec, args.first()) {
        Ok((be, srv)) => apply(exec, be, srv, ServerOp::CheckEnabled(true)),
        Err(e) => e,
    }
}

fn disable_health(exec: &mut Exec<'_>, args: &[String]) -> String {
    match server_arg(exec, args.first()) {
        Ok((be, srv)) => apply(exec, be, srv, ServerOp::CheckEnabled(false)),
        Err(e) => e,
    }
}

fn shutdown_sessions_server(exec: &mut Exec<'_>, args: &[String]) -> String {
    match server_arg(exec, args.first()) {
        Ok((be, srv)) => {
            exec.host.shutdown_server_streams(be, srv);
            String::new()
        }
        Err(e) => e,
    }
}

/// `shutdown session <id>`: the `0x...` handle `show sess` prints (streams only).
fn shutdown_session(exec: &mut Exec<'_>, args: &[String]) -> String {
    let Some(arg) = args.first() else { return "Session pointer expected (use 'show sess').\n".into() };
    let id = u64::from_str_radix(arg.trim_start_matches("0x"), 16).ok();
    if id.is_some_and(|id| exec.host.shutdown_stream(id)) {
        String::new()
    } else {
        "No such session (use 'show sess').\n".into()
    }
}

fn set_weight(exec: &mut Exec<'_>, args: &[String]) -> String {
    match server_arg(exec, args.first()) {
        Ok((be, srv)) => change_weight(exec, be, srv, args.get(1)),
        Err(e) => e,
    }
}

/// `<weight>` or `<percent>%` of the initial weight, with HAProxy's checks.
fn change_weight(exec: &mut Exec<'_>, be: usize, srv: usize, arg: Option<&String>) -> String {
    let Some(arg) = arg.filter(|a| !a.is_empty()) else { return "Require <weight> or <weight%>.\n".into() };
    let w = super::parse::atoi(arg);
    let weight = if arg.ends_with('%') {
        if w < 0 {
            return "Relative weight must be positive.\n".into();
        }
        let initial = i64::from(exec.shared.initial_weight(be, srv));
        let w = initial * w / 100;
        if w > 256 {
            return "Relative weight too large.\n".into();
        }
        w
    } else {
        if !(0..=256).contains(&w) {
            return "Absolute weight can only be between 0 and 256 inclusive.\n".into();
        }
        w
    };
    apply(exec, be, srv, ServerOp::Weight(weight as u32))
}

fn get_weight(exec: &mut Exec<'_>, args: &[String]) -> String {
    match server_arg(exec, args.first()) {
        Ok((be, srv)) => {
            let Some(b) = exec.host.backend(be) else { return "No such backend.\n".into() };
            let w = b.servers()[srv].weight();
            format!("{w} (initial {})\n", exec.shared.initial_weight(be, srv))
        }
        Err(e) => e,
    }
}

fn disable_server(exec: &mut Exec<'_>, args: &[String]) -> String {
    match server_arg(exec, args.first()) {
        Ok((be, srv)) => apply(exec, be, srv, ServerOp::Maint),
        Err(e) => e,
    }
}

fn enable_server(exec: &mut Exec<'_>, args: &[String]) -> String {
    match server_arg(exec, args.first()) {
        Ok((be, srv)) => apply(exec, be, srv, ServerOp::Ready),
        Err(e) => e,
    }
}

/// `show servers state [<backend>]`: the format of `server-state-file` (version 1).
fn show_servers_state(exec: &mut Exec<'_>, args: &[String]) -> String {
    let proxies = exec.host.proxies();
    let only = match args.first() {
        Some(name) => match proxies.iter().position(|p| &p.name == name && p.cap.backend) {
            Some(i) => Some(i),
            None => return "Can't find backend.\n".into(),
        },
        None => None,
    };
    let view = View { with_disabled: true, ..View::new(proxies, exec.host.pool(), exec.host.now()) };
    let rows = snapshot::rows(&view, &|i, p| p.cap.backend && only.is_none_or(|o| o == i));
    let mut out = format!("1\n{}\n", crate::runtime::server_state::HEADER);
    let mut index = vec![0usize; proxies.len()];
    for r in rows.iter().filter(|r| r.kind == RowKind::Server) {
        let Some(b) = exec.host.backend(r.proxy) else { continue };
        let k = index[r.proxy];
        index[r.proxy] += 1;
        let Some((_, s)) = b.iter_servers().nth(k) else { continue };
        let num = |field: usize| match r.get(field) {
            Value::U32(n) => i64::from(*n),
            Value::U64(n) => i64::try_from(*n).unwrap_or(i64::MAX),
            Value::S32(n) => i64::from(*n),
            _ => 0,
        };
        out.push_str(&crate::runtime::server_state::dump_line(&crate::runtime::server_state::DumpRow {
            be: r.proxy,
            be_id: proxies[r.proxy].uuid,
            be_name: &proxies[r.proxy].name,
            srv: k,
            srv_id: num(f::SID),
            server: s,
            last_change: num(f::LASTCHG),
        }));
    }
    out
}

// ---- statistics --------------------------------------------------------------------

/// `show stat [<proxy> <type> <sid>] [typed|json|desc|no-maint|up]*`.
fn show_stat(exec: &mut Exec<'_>, args: &[String]) -> String {
    let proxies = exec.host.proxies();
    let (filter, flags) = if args.len() >= 3 {
        let px = &args[0];
        let iid = if px == "-1" {
            None
        } else {
            // A proxy's name, or its numeric id (the `iid` column).
            let view = View::new(proxies, exec.host.pool(), exec.host.now());
            let by_name = proxies.iter().position(|p| &p.name == px);
            let by_id = || {
                let id = px.parse::<u32>().ok()?;
                snapshot::rows(&view, &|_, _| true).into_iter().find(|r| matches!(r.get(f::IID), Value::U32(n) if *n == id)).map(|r| r.proxy)
            };
            match by_name.or_else(by_id) {
                Some(i) => Some(i),
                None => return "No such proxy.\n".into(),
            }
        };
        let types = super::parse::atoi(&args[1]);
        let sid = super::parse::atoi(&args[2]);
        (Some((iid, types, sid)), &args[3..])
    } else {
        (None, args)
    };
    let mut view = View::new(proxies, exec.host.pool(), exec.host.now());
    view.legends = exec.state.level >= CliLevel::Operator;
    let (keep_px, types, sid) = filter.unwrap_or((None, -1, -1));
    let mut rows = snapshot::rows(&view, &|i, _| keep_px.is_none_or(|p| p == i));
    let no_maint = flags.iter().any(|f| f == "no-maint");
    let up_only = flags.iter().any(|f| f == "up");
    let status = |r: &snapshot::Row| match r.get(f::STATUS) {
        Value::Str(s) => s.clone(),
        _ => String::new(),
    };
    // A stopped server: down (or going up) or in maintenance.
    let stopped = |st: &str| st.starts_with("DOWN") || st.starts_with("MAINT");
    if no_maint || up_only {
        // With these flags HAProxy adds "(usable/total)" servers to a backend's status.
        let counts: Vec<(usize, usize)> = (0..proxies.len())
            .map(|px| {
                let servers = rows.iter().filter(|r| r.proxy == px && r.kind == RowKind::Server);
                servers.fold((0, 0), |(up, all), r| (up + usize::from(!stopped(&status(r))), all + 1))
            })
            .collect();
        for r in rows.iter_mut().filter(|r| r.kind == RowKind::Backend) {
            let (up, all) = counts[r.proxy];
            let text = format!("{} ({up}/{all})", status(r));
            r.values[f::STATUS] = Value::Str(text);
        }
    }
    rows.retain(|r| {
        let bit = match r.kind {
            RowKind::Frontend => 1,
            RowKind::Backend => 2,
            RowKind::Server => 4,
        };
        if types != -1 && types & bit == 0 {
            return false;
        }
        if r.kind != RowKind::Server {
            return true;
        }
        if sid != -1 && !matches!(r.get(f::SID), Value::U32(n) if i64::from(*n) == sid) {
            return false;
        }
        let st = status(r);
        !(no_maint && st.starts_with("MAINT") || up_only && stopped(&st))
    });
    let mut out = String::with_capacity(2048 + rows.len() * 512);
    if flags.iter().any(|f| f == "json") {
        json::write(&mut out, &rows);
    } else if flags.iter().any(|f| f == "typed") {
        typed::write(&mut out, &rows);
    } else {
        csv::write(&mut out, &rows);
    }
    out
}

/// `show activity`: the reactor's counters in HAProxy's one-thread layout
/// ([`crate::stats::activity`]).
fn show_activity(exec: &mut Exec<'_>, _: &[String]) -> String {
    let accepted = exec.host.proxies().iter().map(|p| p.cum_fe).sum::<u64>() + exec.shared.accepted;
    crate::stats::activity::show(accepted, std::time::SystemTime::now())
}

/// `show pools`: HAProxy's layout; moonproxy allocates from the system allocator and
/// keeps no pools, so the list is empty.
fn show_pools(_: &mut Exec<'_>, _: &[String]) -> String {
    "Dumping pools usage. Use SIGQUIT to flush them.\nTotal: 0 pools, 0 bytes allocated, 0 used (~0 by thread caches).\n".into()
}

// ---- file descriptors --------------------------------------------------------------

/// `show fd [num]`: the descriptors moonproxy owns (listeners, the CLI's sockets and
/// sessions, client and server connections), in fd order, with the parts of HAProxy's
/// line that mean something here (no poller flags, owners or handler addresses).
fn show_fd(exec: &mut Exec<'_>, args: &[String]) -> String {
    let only = match args.first() {
        None => None,
        // HAProxy shows nothing for a word or an unused number.
        Some(a) => match a.parse::<i32>() {
            Ok(n) => Some(n),
            Err(_) => return String::new(),
        },
    };
    let fam = |a: Option<std::net::SocketAddr>| match a {
        Some(a) if a.is_ipv4() => "ipv4",
        Some(_) => "ipv6",
        None => "unix",
    };
    let proxies = exec.host.proxies();
    let name = |px: Option<usize>| px.and_then(|i| proxies.get(i)).map_or("GLOBAL", |p| p.name.as_str());
    let mux = |px: Option<usize>| match px.and_then(|i| proxies.get(i)) {
        Some(p) if p.mode == crate::config::model::Mode::Http => "H1",
        _ => "PASS",
    };
    let mut lines: Vec<(i32, String)> = Vec::new();
    let accept = |fe: &str, addr: Option<std::net::SocketAddr>, state: &str| {
        let port = addr.map_or(String::new(), |a| format!(" lport={}", a.port()));
        format!("iocb=(sock_accept_iocb) l.st={state} fe={fe} fam={}{port}", fam(addr))
    };
    for l in exec.host.listeners() {
        lines.push((l.fd, accept(name(Some(l.proxy)), l.addr, l.state)));
    }
    for (fd, addr) in &exec.shared.socket_fds {
        lines.push((*fd, accept("GLOBAL", *addr, "RDY")));
    }
    let mut streams = exec.host.streams();
    streams.extend(exec.shared.cli_sessions.iter().cloned());
    for s in &streams {
        let fe = name(s.frontend);
        lines.push((s.fds.0, format!("iocb=(sock_conn_iocb) back=0 fam={} fe={fe} mux={}", fam(s.src), mux(s.frontend))));
        if let (Some(fd), Some(be)) = (s.fds.1, s.backend) {
            // `sv=<backend>/<server>`, or `px=<backend>` without a server, as HAProxy.
            let sv = s.server.and_then(|i| exec.host.backend(be)?.servers().get(i).map(|x| x.name().to_string()));
            let target = sv.map_or_else(|| format!("px={}", name(Some(be))), |n| format!("sv={}/{n}", name(Some(be))));
            lines.push((fd, format!("iocb=(sock_conn_iocb) back=1 {target} mux={}", mux(Some(be)))));
        }
    }
    lines.sort_by_key(|(fd, _)| *fd);
    let mut out = String::new();
    for (fd, text) in lines.iter().filter(|(fd, _)| only.is_none_or(|o| o == *fd)) {
        out.push_str(&format!("{fd:>7} : {text}\n"));
    }
    out
}

// ---- sessions ----------------------------------------------------------------------

/// `show sess`: one line per stream, then the CLI's own sessions, in HAProxy's layout
/// with the fields moonproxy has (the `0x...` handle is the stream's id).
fn show_sess(exec: &mut Exec<'_>, args: &[String]) -> String {
    let mut lines = exec.host.streams();
    lines.extend(exec.shared.cli_sessions.iter().cloned());
    if let Some(want) = args.first().filter(|a| *a != "all") {
        let id = u64::from_str_radix(want.trim_start_matches("0x"), 16).ok();
        lines.retain(|l| Some(l.id) == id);
        if lines.is_empty() {
            return "No such session (use 'show sess').\n".into();
        }
    }
    let proxies = exec.host.proxies();
    let mut out = String::new();
    for l in &lines {
        let (proto, src) = match l.src {
            Some(a) if a.is_ipv4() => ("tcpv4", format!("{}:{}", a.ip(), a.port())),
            Some(a) => ("tcpv6", format!("{}:{}", a.ip(), a.port())),
            None => ("unix_stream", format!("unix:{}", l.listener)),
        };
        let fe = l.frontend.and_then(|i| proxies.get(i)).map_or("GLOBAL", |p| p.name.as_str());
        let be = l.backend.and_then(|i| proxies.get(i)).map_or("<NONE>", |p| p.name.as_str());
        let srv = match (l.backend, l.server) {
            (Some(b), Some(s)) => exec.host.backend(b).and_then(|b| b.servers().get(s)).map_or("<none>", |s| s.name()),
            _ => "<none>",
        };
        out.push_str(&format!(
            "0x{:x}: proto={proto} src={src} fe={fe} be={be} srv={srv} ts=00 epoch=0 age={} calls=0 rate=0 cpu=0 lat=0 scf=[fd={}] scb=[fd={}]\n",
            l.id,
            human_time(l.age.as_secs()),
            l.fds.0,
            l.fds.1.unwrap_or(-1),
        ));
    }
    out
}

/// A duration as HAProxy prints ages: `5s`, `2m05s`, `3h07m`, `2d04h`.
pub fn human_time(s: u64) -> String {
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m{:02}s", s / 60, s % 60),
        3600..=86399 => format!("{}h{:02}m", s / 3600, s / 60 % 60),
        _ => format!("{}d{:02}h", s / 86400, s / 3600 % 24),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_sorted_and_lookup_takes_the_longest_name() {
        let names: Vec<String> = COMMANDS.iter().map(|c| c.words.join(" ")).collect();
        let mut sorted = names.clone();
        sorted.sort();
        assert_eq!(names, sorted);
        let w = |s: &str| s.split(' ').map(String::from).collect::<Vec<_>>();
        assert_eq!(find(&w("show stat typed")).unwrap().words, &["show", "stat"]);
        assert_eq!(find(&w("set maxconn global 10")).unwrap().words, &["set", "maxconn", "global"]);
        assert!(find(&w("show")).is_none());
    }

    #[test]
    fn ages() {
        assert_eq!(human_time(5), "5s");
        assert_eq!(human_time(125), "2m05s");
        assert_eq!(human_time(3600 * 3 + 7 * 60), "3h07m");
        assert_eq!(human_time(86400 * 2 + 3600 * 4), "2d04h");
    }
}
