//! Server state across reloads: the files `show servers state` writes and
//! `load-server-state-from-file` reads back at start-up, as HAProxy 2.6 does.
//!
//! An operator dumps the state before a reload
//! (`echo "show servers state" | socat stdio /run/haproxy.sock > /var/lib/haproxy/state`);
//! the new process reads it before it serves and gives each server back what the old
//! one had: maintenance or drain set from the CLI, DOWN (until its checks say
//! otherwise), the weight set at run time, the port (and, for a server named by a host
//! name, the address) changed at run time, a health check disabled from the CLI.
//!
//! The file (version 1): a first line `1`, then one line per server of 20 to 25
//! space-separated fields (`#` lines and blank lines are skipped); the columns are
//! [`HEADER`]'s. HAProxy's rules, kept here:
//! - a line with too few or too many fields, or one not ending in a newline, makes the
//!   whole file "corrupted" (a warning naming the file and the line, counted from the
//!   line after the version) and nothing of it applies;
//! - a server line with a bad value is not applied (`server-state application failed
//!   for server 'b/s', invalid srv_op_state value 'x'`); the others are;
//! - the configuration wins over the file: a weight applies only if the configured
//!   weight is the one the file saw (`srv_iweight`), `disabled` in the configuration
//!   only changes with the configuration;
//! - with `global`, a line belongs to the backend of its name (`be_name`) and unknown
//!   servers are ignored; with `local`, the backend id or name must match and unknown
//!   servers are reported.
//!
//! What moonproxy does not restore: `srv_time_since_last_change` (the statistics
//! count from the start), the STARTING state (taken as running: moonproxy has no
//! warm-up state of its own outside `slowstart`), agent state, check and agent
//! addresses, FQDN changes, SRV records, `srv_use_ssl`.
//!
//! Thread 1 reads the files once ([`load`]) and applies the result to its backends
//! with the messages; the other threads apply the same plan quietly ([`apply_quietly`]).

use crate::backend::{AdminState, Backend, OpState, ServerId, StateReport};
use crate::config::model::{Config, LoadServerState, ServerAddr};
use crate::diag::{self, Severity};
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::OnceLock;

/// The column names line of `show servers state` (version 1).
pub const HEADER: &str = "# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port srv_check_addr srv_agent_addr srv_agent_port";

const MIN_FIELDS: usize = 20;
const MAX_FIELDS: usize = 25;

/// `srv_admin_state` bits (HAProxy's `SRV_ADMF_*`).
pub mod admin {
    /// Forced into maintenance (CLI).
    pub const FMAINT: u32 = 0x01;
    /// Inherited maintenance (a tracked server).
    pub const IMAINT: u32 = 0x02;
    /// Maintenance from the configuration (`disabled`).
    pub const CMAINT: u32 = 0x04;
    /// Forced drain (CLI).
    pub const FDRAIN: u32 = 0x08;
    /// Inherited drain.
    pub const IDRAIN: u32 = 0x10;
    /// Resolution maintenance (DNS).
    pub const RMAINT: u32 = 0x20;
    /// FQDN changed from the CLI.
    pub const FQDN_CHANGED: u32 = 0x80;
}

/// `srv_check_state` bits (HAProxy's `CHK_ST_*`).
pub mod check_state {
    pub const CONFIGURED: u32 = 0x02;
    pub const ENABLED: u32 = 0x04;
    pub const PAUSED: u32 = 0x08;
    pub const ALL: u32 = 0x1f;
}

/// HAProxy's check status numbers (`HCHK_STATUS_*`) for `show stat`'s `check_status`
/// names: `srv_check_status` in the file.
pub fn check_status_code(name: &str) -> u32 {
    match name.trim_start_matches("* ") {
        "INI" => 1,
        "HANA" => 4,
        "SOCKERR" => 5,
        "L4OK" => 6,
        "L4TOUT" => 7,
        "L4CON" => 8,
        "L6OK" => 9,
        "L6TOUT" => 10,
        "L6RSP" => 11,
        "L7TOUT" => 12,
        "L7RSP" => 13,
        "L7OK" => 15,
        "L7OKC" => 16,
        "L7STS" => 17,
        _ => 0,
    }
}

/// `srv_check_result` (`CHK_RES_*`) for a check status number: unknown before the
/// first check, passed or failed after.
pub fn check_result_code(status: u32) -> u32 {
    match status {
        0..=3 => 0,
        6 | 9 | 15 => 3,
        16 => 4,
        _ => 2,
    }
}

// ---- writing (`show servers state`) ----------------------------------------------

/// What the configuration says that the running backends forget: a forced backend
/// id and `disabled`, for the dump's `bk_f_forced_id` and `SRV_ADMF_CMAINT`. Recorded
/// by [`apply`]. (Server ids are all set after parsing, so `srv_f_forced_id` is 0.)
struct ConfigFacts {
    /// Per proxy: `id` set; per server: `disabled`.
    proxies: Vec<(bool, Vec<bool>)>,
}

static FACTS: OnceLock<ConfigFacts> = OnceLock::new();

/// The servers a state file said were running. HAProxy then counts a server without
/// a check at full health (`rise + fall - 1`) rather than `rise`, and its dump says so.
static LOADED_RUNNING: OnceLock<Vec<(usize, usize)>> = OnceLock::new();

fn record_facts(config: &Config) {
    FACTS.get_or_init(|| ConfigFacts {
        proxies: config.proxies.iter().map(|p| (p.id.is_some(), p.servers.iter().map(|s| s.disabled).collect())).collect(),
    });
}

/// One server as `show servers state` sees it.
pub struct DumpRow<'a> {
    /// Index of the backend among the proxies, and its id (`be_id`) and name.
    pub be: usize,
    pub be_id: u32,
    pub be_name: &'a str,
    /// Index of the server in its backend, and its id (`srv_id`).
    pub srv: usize,
    pub srv_id: i64,
    pub server: &'a crate::backend::Server,
    /// Seconds since its last state change.
    pub last_change: i64,
}

/// One line of `show servers state`, HAProxy's 25 columns ([`HEADER`]), newline included.
pub fn dump_line(r: &DumpRow<'_>) -> String {
    let s = r.server;
    let (forced_be, conf_maint) = FACTS
        .get()
        .and_then(|f| f.proxies.get(r.be))
        .map_or((false, false), |(be, servers)| (*be, servers.get(r.srv).copied().unwrap_or_default()));
    let maint = s.effective_admin() == AdminState::Maint;
    let op_state = if maint || s.op_state() == OpState::Down {
        0
    } else if s.is_stopping() {
        3
    } else {
        2
    };
    let mut admin_state = match s.admin_state() {
        AdminState::Ready => 0,
        AdminState::Maint if conf_maint => admin::FMAINT | admin::CMAINT,
        AdminState::Maint => admin::FMAINT,
        AdminState::Drain => admin::FDRAIN,
    };
    if s.in_resolution_maint() {
        admin_state |= admin::RMAINT;
    }
    // What it takes from the server it tracks.
    match s.inherited_admin() {
        Some((AdminState::Maint, _)) => admin_state |= admin::IMAINT,
        Some((AdminState::Drain, _)) => admin_state |= admin::IDRAIN,
        _ => {}
    }
    // A server added in maintenance (`add server`) has its check configured, not paused.
    let paused = if maint && !s.is_dynamic() { check_state::PAUSED } else { 0 };
    // A check paused (maintenance) or disabled (`disable health`) keeps its last result,
    // as HAProxy's dump does.
    let (status, result, health, chk_state) = match s.check().or(s.disabled_check()) {
        Some(c) => {
            let status = c.last_result().map_or(1, |res| check_status_code(crate::stats::snapshot::check_code(res)));
            let health = if op_state == 0 { 0 } else { c.health() };
            let enabled = if s.check().is_some() { check_state::ENABLED } else { 0 };
            (status, check_result_code(status), health, check_state::CONFIGURED | enabled | paused)
        }
        None => {
            let loaded = LOADED_RUNNING.get().is_some_and(|l| l.contains(&(r.be, r.srv)));
            // HAProxy's defaults, rise 2 and fall 3.
            let health = match (op_state, loaded) {
                (0, _) => 0,
                (_, true) => 4,
                _ => 2,
            };
            (1, 0, health, if conf_maint { check_state::PAUSED } else { 0 })
        }
    };
    let agent = &s.tuning().agent;
    // CONFIGURED | ENABLED | AGENT, without ENABLED after `disable agent`.
    let agent_state = match (agent.enabled, s.agent_enabled()) {
        (false, _) => 0,
        (true, true) => 0x16,
        (true, false) => 0x12,
    };
    let (ip, port) = crate::lua::api::world::ip_port(s.addr());
    let fqdn = match s.addr() {
        ServerAddr::Resolved { host, .. } => host.as_str(),
        _ => "-",
    };
    let check_port = s.check().and_then(|c| c.port());
    let dash = |v: Option<IpAddr>| v.map_or("-".to_string(), |ip| ip.to_string());
    format!(
        "{} {} {} {} {} {op_state} {admin_state} {} {} {} {status} {result} {health} {chk_state} {agent_state} {} {} {fqdn} {} - {} {} {} {} {}\n",
        r.be_id,
        r.be_name,
        r.srv_id,
        s.name(),
        dash(ip),
        s.weight(),
        s.initial_weight(),
        r.last_change.max(0),
        u8::from(forced_be),
        u8::from(s.forced_id()),
        port.unwrap_or(0),
        u8::from(s.check_tls().is_some()),
        check_port.unwrap_or(0),
        dash(s.check().and_then(|c| c.addr())),
        dash(agent.addr),
        agent.port.or(check_port).unwrap_or(0),
    )
}

// ---- reading a file -------------------------------------------------------------

/// What a state file holds.
#[derive(Debug, PartialEq, Eq)]
pub enum FileState {
    /// Nothing at all.
    Empty,
    /// The first line is not a version moonproxy reads.
    NoVersion,
    /// A bad line (numbered as HAProxy numbers them: from the line after the version).
    Corrupted(usize),
    /// The server lines, each split in fields.
    Lines(Vec<Vec<String>>),
}

/// Parses the text of a state file.
pub fn parse(text: &str) -> FileState {
    let mut lines = text.split_inclusive('\n');
    let Some(first) = lines.next() else { return FileState::Empty };
    if first.strip_suffix('\n') != Some("1") {
        return FileState::NoVersion;
    }
    let mut out = Vec::new();
    for (n, raw) in lines.enumerate() {
        let Some(line) = raw.strip_suffix('\n') else { return FileState::Corrupted(n + 1) };
        let line = line.trim_start_matches([' ', '\t']);
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let fields: Vec<String> = line.split([' ', '\t']).filter(|f| !f.is_empty()).take(MAX_FIELDS).map(String::from).collect();
        if fields.len() < MIN_FIELDS {
            return FileState::Corrupted(n + 1);
        }
        out.push(fields);
    }
    FileState::Lines(out)
}

/// The path of a state file name: absolute as is, else under `server-state-base`.
pub fn file_path(base: Option<&str>, name: &str) -> PathBuf {
    match base {
        Some(base) if !name.starts_with('/') => {
            let sep = if base.ends_with('/') { "" } else { "/" };
            PathBuf::from(format!("{base}{sep}{name}"))
        }
        _ => PathBuf::from(name),
    }
}

// ---- what to apply --------------------------------------------------------------

/// What the file says of one server, checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Planned {
    pub be: usize,
    pub srv: usize,
    /// `srv_op_state`: 0 stopped, 1 starting, 2 running, 3 stopping.
    pub op: u32,
    /// `srv_admin_state` without the inherited bits.
    pub admin: u32,
    pub uweight: u32,
    pub iweight: u32,
    pub check_state: u32,
    /// `srv_addr` (`-`: none).
    pub addr: Option<IpAddr>,
    /// `srv_port`.
    pub port: Option<u16>,
}

/// The `srv_admin_state` bits a new process recomputes itself.
const INHERITED: u32 = admin::IDRAIN | admin::IMAINT | admin::RMAINT | admin::FQDN_CHANGED;

/// Checks one line's fields for server `srv` of backend `be`: the plan, or the
/// complaints (`, invalid srv_op_state value 'x'` ...), each field as HAProxy checks it.
fn check_line(be: usize, srv: usize, f: &[String]) -> Result<Planned, String> {
    let mut errors = String::new();
    let mut num = |i: usize, name: &str, valid: &dyn Fn(i64) -> bool| -> u32 {
        match f[i].parse::<i64>() {
            Ok(v) if valid(v) => u32::try_from(v).unwrap_or(0),
            _ => {
                errors.push_str(&format!(", invalid {name} value '{}'", f[i]));
                0
            }
        }
    };
    let flags_only = |v: i64| v >= 0 && v & !i64::from(check_state::ALL) == 0;
    let admin_ok = |v: i64| {
        use admin::*;
        let v = u32::try_from(v).map_or(u32::MAX, |v| v & !INHERITED);
        [0, FMAINT, CMAINT, CMAINT | FMAINT, CMAINT | FDRAIN, FDRAIN].contains(&v)
    };
    let op = num(5, "srv_op_state", &|v| (0..=3).contains(&v));
    let admin = num(6, "srv_admin_state", &admin_ok) & !INHERITED;
    let uweight = num(7, "srv_uweight", &|v| (0..=256).contains(&v));
    let iweight = num(8, "srv_iweight", &|v| (0..=256).contains(&v));
    num(9, "srv_last_time_change", &|_| true);
    num(10, "srv_check_status", &|v| (0..18).contains(&v));
    num(11, "srv_check_result", &|v| (0..=4).contains(&v));
    num(12, "srv_check_health", &|_| true);
    let check_state = num(13, "srv_check_state", &flags_only);
    num(14, "srv_agent_state", &flags_only);
    num(15, "bk_f_forced_id", &|v| v == 0 || v == 1);
    num(16, "srv_f_forced_id", &|v| v == 0 || v == 1);
    let port = match f[18].parse::<u32>() {
        Ok(p) if p <= 65535 => Some(p as u16).filter(|p| *p != 0),
        Ok(_) => {
            errors.push_str(&format!(", invalid srv_port value '{}'", f[18]));
            None
        }
        Err(_) => None,
    };
    if !errors.is_empty() {
        return Err(errors);
    }
    let addr = f[4].parse().ok();
    Ok(Planned { be, srv, op, admin, uweight, iweight, check_state, addr, port })
}

/// The plan of the whole configuration, made once by thread 1.
static PLAN: OnceLock<Vec<Planned>> = OnceLock::new();

/// Reads the state files of every backend that asks for them (warnings on stderr, as
/// HAProxy words them) and returns what applies to which server; remembered for the
/// other threads.
pub fn load(config: &Config) -> &'static [Planned] {
    PLAN.get_or_init(|| plan(config))
}

fn plan(config: &Config) -> Vec<Planned> {
    let wants = |mode| config.proxies.iter().any(|p| p.cap.backend && p.server_state.load == Some(mode));
    if !wants(LoadServerState::Global) && !wants(LoadServerState::Local) {
        return Vec::new();
    }
    let ids = crate::stats::proxy_ids(config);
    let base = config.global.server_state.base.as_deref();
    let global_lines = match (&config.global.server_state.file, wants(LoadServerState::Global)) {
        (Some(name), true) => read_file(&file_path(base, name), None),
        _ => None,
    };
    let mut out = Vec::new();
    for (be, p) in config.proxies.iter().enumerate() {
        if !p.cap.backend || p.disabled || p.servers.is_empty() {
            continue;
        }
        let local;
        let lines: Vec<&Vec<String>> = match p.server_state.load {
            Some(LoadServerState::Global) => global_lines.iter().flatten().filter(|f| f[1] == p.name).collect(),
            Some(LoadServerState::Local) => {
                let path = file_path(base, p.server_state.file_name.as_deref().unwrap_or(&p.name));
                local = read_file(&path, Some(&p.name)).unwrap_or_default();
                local_lines(p, ids[be], &local)
            }
            _ => continue,
        };
        for (srv, s) in p.servers.iter().enumerate() {
            // A duplicate line (a hand-made file) is dropped: the first one counts.
            let Some(f) = lines.iter().find(|f| f[3] == s.name) else { continue };
            match check_line(be, srv, f) {
                Ok(planned) => out.push(planned),
                Err(why) => warn(&format!("server-state application failed for server '{}/{}'{why}", p.name, s.name)),
            }
        }
    }
    out
}

/// The lines of backend `p`'s own file that are about it: its id or its name (then
/// with a warning about the other; a name mismatch only counts when the file says the
/// id was forced). Lines naming a server it does not have are reported.
fn local_lines<'a>(p: &crate::config::model::Proxy, id: u32, file: &'a [Vec<String>]) -> Vec<&'a Vec<String>> {
    let mut lines = Vec::new();
    for f in file {
        let same_id = f[0].parse::<u32>().ok() == Some(id);
        let same_name = f[1] == p.name;
        if !same_id && !same_name {
            continue;
        }
        if !same_id {
            warn(&format!("Proxy '{}': backend ID mismatch: from server state file: '{}', from running config '{id}'", p.name, f[0]));
        } else if !same_name {
            warn(&format!("Proxy '{}': backend name mismatch: from server state file: '{}', from running config '{}'", p.name, f[1], p.name));
            if f[15] != "1" {
                continue;
            }
        }
        lines.push(f);
    }
    for f in &lines {
        if !p.servers.iter().any(|s| s.name == f[3]) {
            warn(&format!("Proxy '{}': can't find server '{}' in backend '{}'", p.name, f[3], p.name));
        }
    }
    lines
}

/// The lines of a state file, or `None` (with HAProxy's warning) when there are none
/// to apply. `proxy`: the backend of a local file, named in the messages.
fn read_file(path: &std::path::Path, proxy: Option<&str>) -> Option<Vec<Vec<String>>> {
    let shown = path.display();
    let (who, what) = match proxy {
        Some(p) => (format!("Proxy '{p}': "), "server state file"),
        None => ("config: ".to_string(), "global server state file"),
    };
    let end = if proxy.is_some() { "." } else { "" };
    let text = match std::fs::read(path) {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(e) => {
            let err = crate::listener::strerror(&e);
            warn(&format!("{who}Can't open {what} '{shown}': {err}{end}"));
            return None;
        }
    };
    match parse(&text) {
        FileState::Lines(lines) => Some(lines),
        FileState::Empty => {
            diag::emit(Severity::Notice, format_args!("config : {who}Empty {what} '{shown}'."));
            None
        }
        FileState::NoVersion => {
            warn(&format!("{who}Can't get version of the {what} '{shown}'."));
            None
        }
        FileState::Corrupted(line) => {
            warn(&format!("{who}corrupted {what} '{shown}' at line {line}."));
            None
        }
    }
}

fn warn(text: &str) {
    diag::emit(Severity::Warning, format_args!("config : {text}"));
}

// ---- applying -------------------------------------------------------------------

/// Why the state-change messages say the state changed.
const WHY: &str = "changed from server-state after a reload";

/// Applies the plan to thread 1's backends, with HAProxy's messages on stderr.
pub fn apply(config: &Config, backends: &mut [Option<Backend>]) {
    record_facts(config);
    LOADED_RUNNING.get_or_init(|| load(config).iter().filter(|p| p.op == 1 || p.op == 2).map(|p| (p.be, p.srv)).collect());
    for p in load(config) {
        // HAProxy says which servers went DOWN, not that a backend has none left.
        for m in apply_one(config, backends, p).messages.into_iter().filter(|m| m.console != Severity::Alert) {
            diag::emit(m.console, format_args!("config : {}", m.console_text.as_deref().unwrap_or(&m.text)));
        }
    }
}

/// Applies the plan (already made by thread 1) to another thread's backends.
pub fn apply_quietly(config: &Config, backends: &mut [Option<Backend>]) {
    for p in PLAN.get().map_or(&[][..], Vec::as_slice) {
        apply_one(config, backends, p);
    }
}

fn apply_one(config: &Config, backends: &mut [Option<Backend>], p: &Planned) -> StateReport {
    let mut report = StateReport::default();
    let Some(Some(b)) = backends.get_mut(p.be) else { return report };
    let Some(conf) = config.proxies.get(p.be).and_then(|px| px.servers.get(p.srv)) else { return report };
    let id = ServerId(p.srv);
    let fall = b.server(id).check().map_or(3, |c| c.fall());
    // The operational state first, then the administrative one, as HAProxy does.
    let mut merge = |r: StateReport| report.messages.extend(r.messages);
    match p.op {
        0 => merge(b.set_operational_state_with_reason(id, OpState::Down, Some(WHY))),
        3 if fall == 1 => merge(b.set_operational_state_with_reason(id, OpState::Down, Some(WHY))),
        3 => merge(b.force_stopping(id, &format!(", {WHY}"))),
        // Running, or starting (moonproxy has no such state: taken as running).
        _ => {
            b.set_operational_state(id, OpState::Up);
        }
    }
    // The CLI's maintenance comes back unless `disabled` was added to or removed from
    // the configuration since (the configuration wins), or is still there.
    if p.admin & admin::FMAINT != 0 && p.admin & admin::CMAINT == 0 && !conf.disabled {
        // Quiet: HAProxy says nothing more than the DOWN above.
        b.set_admin_state(id, AdminState::Maint);
    }
    if b.server(id).admin_state() != AdminState::Maint && p.admin & admin::FDRAIN != 0 && (p.iweight > 0 || conf.weight == 0) {
        b.set_admin_state(id, AdminState::Drain);
        let who = format!("{}Server {}/{}", if conf.backup { "Backup " } else { "" }, b.name(), conf.name);
        report.messages.push(crate::backend::StateMessage {
            level: crate::config::model::Level::Notice,
            console: Severity::Warning,
            text: format!("{who} remains in forced drain mode."),
            console_text: None,
        });
    }
    // A disabled health check stays disabled.
    let cs = p.check_state;
    if b.server(id).check().is_some() && cs & check_state::CONFIGURED != 0 && cs & check_state::ENABLED == 0 {
        b.set_check_enabled(id, false);
    }
    // The weight set at run time, unless the configuration changed it since.
    if p.iweight == conf.weight {
        b.set_weight(id, p.uweight);
    }
    // The port changed at run time; the address only for a server named by a host
    // name (HAProxy's `init-addr last`): an IP in the configuration wins.
    let new_addr = match &conf.addr {
        ServerAddr::Resolved { host, addr } => {
            let to = std::net::SocketAddr::new(p.addr.unwrap_or(addr.ip()), p.port.unwrap_or(addr.port()));
            (to != *addr).then(|| ServerAddr::Resolved { host: host.clone(), addr: to })
        }
        ServerAddr::Inet { ip, port: Some(old) } => p.port.filter(|port| port != old).map(|port| ServerAddr::Inet { ip: *ip, port: Some(port) }),
        _ => None,
    };
    if let Some(a) = new_addr {
        b.set_addr(id, a);
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINE: &str = "3 be 1 s1 127.0.0.1 0 1 1 1 2 1 0 0 0 0 0 0 - 18081 - 0 0 - - 0";

    fn fields(s: &str) -> Vec<String> {
        s.split(' ').map(String::from).collect()
    }

    #[test]
    fn parses_haproxy_dump() {
        let text = format!("1\n{HEADER}\n{LINE}\n\n");
        assert_eq!(parse(&text), FileState::Lines(vec![fields(LINE)]));
        assert_eq!(parse(""), FileState::Empty);
        assert_eq!(parse("2\n"), FileState::NoVersion);
        assert_eq!(parse("1"), FileState::NoVersion);
    }

    #[test]
    fn corrupted_lines_are_numbered_from_after_the_version() {
        assert_eq!(parse(&format!("1\n{LINE}\n3 be 2 s2 1.2.3.4 0\n")), FileState::Corrupted(2));
        // The last line must end with a newline.
        assert_eq!(parse(&format!("1\n{LINE}")), FileState::Corrupted(1));
        // More than 25 fields: the rest is ignored.
        assert!(matches!(parse(&format!("1\n{LINE} 1 2 3\n")), FileState::Lines(_)));
    }

    #[test]
    fn values_are_checked() {
        let p = check_line(0, 0, &fields(LINE)).unwrap();
        assert_eq!((p.op, p.admin, p.uweight, p.port), (0, admin::FMAINT, 1, Some(18081)));
        let bad = fields(&LINE.replacen(" 0 1 1 1 ", " x 1 1 999 ", 1));
        assert_eq!(check_line(0, 0, &bad).unwrap_err(), ", invalid srv_op_state value 'x', invalid srv_iweight value '999'");
        // Inherited bits are ignored.
        let inherited = fields(&LINE.replacen(" 0 1 1 1 ", " 2 24 1 1 ", 1));
        assert_eq!(check_line(0, 0, &inherited).unwrap().admin, admin::FDRAIN);
    }

    #[test]
    fn relative_names_go_under_the_base() {
        assert_eq!(file_path(Some("/var/lib/haproxy"), "state"), PathBuf::from("/var/lib/haproxy/state"));
        assert_eq!(file_path(Some("/var/lib/haproxy/"), "state"), PathBuf::from("/var/lib/haproxy/state"));
        assert_eq!(file_path(Some("/x"), "/abs"), PathBuf::from("/abs"));
        assert_eq!(file_path(None, "rel"), PathBuf::from("rel"));
    }

    #[test]
    fn check_codes_follow_haproxy() {
        assert_eq!(check_status_code("L4CON"), 8);
        assert_eq!(check_status_code("* L7OK"), 15);
        assert_eq!(check_result_code(8), 2);
        assert_eq!(check_result_code(1), 0);
        assert_eq!(check_result_code(15), 3);
    }
}
