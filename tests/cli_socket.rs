//! The stats socket CLI (`stats socket`), driven as `socat` and HAProxy's tools drive
//! it: one line in, half-close, read to the end; and the interactive `prompt` mode.
//! `show stat` and `show info` are compared with HAProxy 2.6 on the same configuration.

mod common;

use common::*;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::Duration;

/// The same over TCP.
fn cli_tcp(port: u16, input: &str) -> String {
    let mut c = Client::connect(port);
    c.send(input.as_bytes());
    c.shutdown_write();
    String::from_utf8_lossy(&c.recv_until_close().0).into_owned()
}

const CONFIG: &str = "global
    stats socket {{dir}}/admin.sock level admin
    stats socket {{dir}}/user.sock level user mode 600
    stats socket {{dir}}/default.sock
    stats socket 127.0.0.1:{{cli}} level operator
    stats timeout 2s
defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{{fe}}
    http-request set-header X-Map %[path,map({{dir}}/paths.map,none)]
    default_backend be
backend be
    balance roundrobin
    server s1 127.0.0.1:{{a}}
    server s2 127.0.0.1:{{b}} weight 5
";

struct Setup {
    proxy: Proxy,
    _a: Backend,
    _b: Backend,
}

impl Setup {
    fn start() -> Setup {
        let a = Backend::http(b"A");
        let b = Backend::http(b"B");
        let proxy = ProxyBuilder::new(CONFIG)
            .file("paths.map", "/x one\n/y two\n")
            .port("a", a.port())
            .port("b", b.port())
            .start();
        assert!(proxy.wait_for_path(&proxy.dir().join("admin.sock"), DEADLINE));
        Setup { proxy, _a: a, _b: b }
    }
    fn sock(&self, name: &str) -> PathBuf {
        self.proxy.dir().join(name)
    }
    fn admin(&self, input: &str) -> String {
        cli(&self.sock("admin.sock"), input)
    }
    fn body(&self) -> String {
        let mut c = Client::connect(self.proxy.port("fe"));
        let r = c.http_request(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
        String::from_utf8_lossy(&r.body).into_owned()
    }
}

#[test]
fn levels_sequences_and_exact_framing() {
    let s = Setup::start();
    assert_eq!(s.admin("show cli level\n"), "admin\n\n");
    assert_eq!(cli(&s.sock("user.sock"), "show cli level\n"), "user\n\n");
    // Without `level`, HAProxy 2.6 gives `operator`.
    assert_eq!(cli(&s.sock("default.sock"), "show cli level\n"), "operator\n\n");
    assert_eq!(cli_tcp(s.proxy.port("cli"), "show cli level\n"), "operator\n\n");
    // `;` sequences: each answer ends with an empty line; lowering the level sticks.
    assert_eq!(s.admin("show cli level;user;show cli level;operator\n"), "admin\n\n\nuser\n\nPermission denied\n\n");
    // `quit` drops what follows.
    assert_eq!(s.admin("show cli level;quit;show cli level\n"), "admin\n\n");
    // Escaped `;`, blanks and CR.
    assert_eq!(s.admin("  show   cli\tlevel \r\n"), "admin\n\n");
    assert_eq!(s.admin("show env NO\\;SUCH\n"), "Variable not found\n\n");
    // Several lines in one buffer are all answered; an unterminated one is not.
    assert_eq!(s.admin("show cli level\nshow version\nshow cli"), format!("admin\n\n{}\n\n", env!("CARGO_PKG_VERSION")));
    assert_eq!(s.admin("show cli level"), "");
    // A user or operator cannot change anything.
    for sock in ["user.sock", "default.sock"] {
        assert_eq!(cli(&s.sock(sock), "set server be/s1 state maint\n"), "Permission denied\n\n");
        assert_eq!(cli(&s.sock(sock), "disable frontend fe\n"), "Permission denied\n\n");
        assert_eq!(cli(&s.sock(sock), "expert-mode on\n"), "Permission denied\n\n");
    }
    assert_eq!(cli(&s.sock("user.sock"), "show sess\n"), "Permission denied\n\n");
    assert_eq!(s.admin("expert-mode\n"), "expert-mode is OFF\n\n");
    assert_eq!(s.admin("expert-mode on;expert-mode;experimental-mode on;experimental-mode\n"), "\nexpert-mode is ON\n\n\nexperimental-mode is ON\n\n");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(s.sock("user.sock")).unwrap().permissions().mode() & 0o777, 0o600);
}

#[test]
fn help_and_unknown_commands_answer_the_usage() {
    let s = Setup::start();
    let help = s.admin("help\n");
    assert!(help.starts_with("The following commands are valid at this level:\n"), "{help}");
    assert!(help.ends_with("  help [<command>]                        : list matching or all commands\n  prompt                                  : toggle interactive mode with prompt\n  quit                                    : disconnect\n\n"));
    let listed: Vec<&str> = help.lines().skip(1).take_while(|l| !l.starts_with("  help ")).collect();
    let mut sorted = listed.clone();
    sorted.sort();
    assert_eq!(listed, sorted, "help is sorted");
    assert!(listed.contains(&"  show stat [desc|json|no-maint|typed|up]*: report counters for each proxy and server"));
    assert_eq!(
        s.admin("help set server\n"),
        "The following commands are valid at this level:\n  set server <bk>/<srv> [opts]            : change a server's state, weight, address or ssl\n  help [<command>]                        : list matching or all commands\n  prompt                                  : toggle interactive mode with prompt\n  quit                                    : disconnect\n\n"
    );
    let unknown = s.admin("set maxconn\n");
    assert!(unknown.starts_with("Unknown command, but maybe one of the following ones is a better match:\n  set maxconn frontend"), "{unknown}");
    assert!(s.admin("\n").starts_with("Unknown command. Please enter one of the following commands only:\n"));
    let fuzzy = s.admin("show foo\n");
    assert!(fuzzy.starts_with("Unknown command, but maybe"), "{fuzzy}");
    // Malformed arguments get the command's own usage.
    assert_eq!(s.admin("set server be\n"), "Require 'backend/server'.\n\n");
    assert_eq!(s.admin("set server be/s1\n"), "usage: set server <backend>/<server> addr | agent | agent-addr | agent-port | agent-send | check-addr | check-port | fqdn | health | ssl | state | weight\n\n");
    assert_eq!(s.admin("set server be/s1 state bogus\n"), "'set server <srv> state' expects 'ready', 'drain' and 'maint'.\n\n");
    assert_eq!(s.admin("set server be/zz state maint\n"), "No such server.\n\n");
    assert_eq!(s.admin("set server zz/s1 state maint\n"), "No such backend.\n\n");
    assert_eq!(s.admin("set server be/s1 weight 300\n"), "Absolute weight can only be between 0 and 256 inclusive.\n\n");
    assert_eq!(s.admin("disable frontend\n"), "A frontend name is expected.\n\n");
    assert_eq!(s.admin("disable frontend be\n"), "No such frontend.\n\n");
    assert_eq!(s.admin("set maxconn global\n"), "Expects an integer value.\n\n");
    assert_eq!(s.admin("show servers state zz\n"), "Can't find backend.\n\n");
    assert_eq!(s.admin("show stat zz 1 -1\n"), "No such proxy.\n\n");
}

#[test]
fn prompt_mode_keeps_the_session() {
    let s = Setup::start();
    let mut c = UnixStream::connect(s.sock("admin.sock")).unwrap();
    c.set_read_timeout(Some(DEADLINE)).unwrap();
    let read_until = |c: &mut UnixStream, end: &str| {
        let mut got = Vec::new();
        let mut b = [0u8; 4096];
        while !String::from_utf8_lossy(&got).ends_with(end) {
            let n = c.read(&mut b).unwrap();
            assert!(n > 0, "closed early: {:?}", String::from_utf8_lossy(&got));
            got.extend_from_slice(&b[..n]);
        }
        String::from_utf8(got).unwrap()
    };
    c.write_all(b"prompt\n").unwrap();
    assert_eq!(read_until(&mut c, "> "), "\n> ");
    // Later lines, one at a time, on the same session.
    c.write_all(b"show cli level\n").unwrap();
    assert_eq!(read_until(&mut c, "> "), "admin\n\n> ");
    c.write_all(b"set server be/s1 state drain;show cli level\n").unwrap();
    assert_eq!(read_until(&mut c, "admin\n\n> "), "\n> admin\n\n> ");
    c.write_all(b"quit\n").unwrap();
    let mut rest = Vec::new();
    c.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty());
    // `prompt` twice leaves interactive mode: the session ends after that line.
    assert_eq!(s.admin("prompt\nprompt\nshow cli level\n"), "\n> \nadmin\n\n");
}

#[test]
fn idle_and_vanished_clients_do_not_hurt() {
    let s = Setup::start();
    // A client that asks for a lot and leaves without reading.
    for _ in 0..5 {
        let mut c = UnixStream::connect(s.sock("admin.sock")).unwrap();
        let burst = "prompt\n".to_string() + &"help\n".repeat(2000);
        let _ = c.write_all(burst.as_bytes());
        drop(c);
    }
    // An idle interactive client is closed by `stats timeout` (2s).
    let mut idle = UnixStream::connect(s.sock("admin.sock")).unwrap();
    idle.set_read_timeout(Some(DEADLINE)).unwrap();
    idle.write_all(b"prompt\n").unwrap();
    let mut all = Vec::new();
    idle.read_to_end(&mut all).expect("closed by the timeout, not by our read timeout");
    assert_eq!(all, b"\n> ");
    // Meanwhile traffic and the CLI go on.
    assert!(["A", "B"].contains(&s.body().as_str()));
    assert_eq!(s.admin("show cli level\n"), "admin\n\n");
}

fn csv_rows(text: &str) -> Vec<Vec<String>> {
    text.lines().filter(|l| !l.is_empty()).map(|l| l.trim_start_matches("# ").split(',').map(String::from).collect()).collect()
}

fn cell(rows: &[Vec<String>], sv: &str, field: &str) -> String {
    let i = rows[0].iter().position(|f| f == field).unwrap();
    rows.iter().find(|r| r[1] == sv).map(|r| r[i].clone()).unwrap_or_default()
}

#[test]
fn server_state_and_weight_reach_stats_and_traffic() {
    let s = Setup::start();
    assert_eq!(s.admin("set server be/s1 state maint\n"), "\n");
    let rows = csv_rows(&s.admin("show stat\n"));
    assert_eq!(cell(&rows, "s1", "status"), "MAINT");
    for _ in 0..6 {
        assert_eq!(s.body(), "B", "a server in maintenance gets no request");
    }
    let state = s.admin("show servers state be\n");
    let line = state.lines().find(|l| l.contains(" s1 ")).unwrap();
    let f: Vec<&str> = line.split(' ').collect();
    assert_eq!((f[1], f[3], f[5], f[6]), ("be", "s1", "0", "1"), "{line}");
    assert_eq!(s.admin("set server be/s1 state ready;set server be/s2 state drain\n"), "\n\n");
    assert_eq!(cell(&csv_rows(&s.admin("show stat\n")), "s2", "status"), "DRAIN");
    for _ in 0..6 {
        assert_eq!(s.body(), "A", "a drained server gets no new request");
    }
    assert_eq!(s.admin("set server be/s2 state ready\n"), "\n");
    assert_eq!(s.admin("get weight be/s2\n"), "5 (initial 5)\n\n");
    assert_eq!(s.admin("set server be/s2 weight 40%\n"), "\n");
    assert_eq!(s.admin("get weight be/s2\n"), "2 (initial 5)\n\n");
    assert_eq!(s.admin("set weight be/s1 0\n"), "\n");
    assert_eq!(cell(&csv_rows(&s.admin("show stat\n")), "s1", "weight"), "0");
    for _ in 0..4 {
        assert_eq!(s.body(), "B", "weight 0 takes no load-balanced request");
    }
    // `disable/enable server` are the deprecated spellings of maint/ready.
    assert_eq!(s.admin("disable server be/s2;enable server be/s2\n"), "\n\n");
    // The filtered forms: servers of `be` only, one server only.
    let only = csv_rows(&s.admin("show stat be 4 -1\n"));
    assert_eq!(only.iter().skip(1).map(|r| r[1].as_str()).collect::<Vec<_>>(), ["s1", "s2"]);
    let one = csv_rows(&s.admin("show stat be 4 2\n"));
    assert_eq!(one.iter().skip(1).map(|r| r[1].as_str()).collect::<Vec<_>>(), ["s2"]);
    assert!(s.admin("show stat typed\n").lines().any(|l| l.starts_with("S.") && l.contains(".svname.1:KNS:str:s1")));
    assert!(s.admin("show stat json\n").starts_with("[[{\"objType\":\"Frontend\""));
}

#[test]
fn frontends_maxconn_env_and_sessions() {
    let s = Setup::start();
    assert_eq!(s.admin("disable frontend fe\n"), "\n");
    assert_eq!(s.admin("disable frontend fe\n"), "All sockets are already disabled.\n\n");
    assert_eq!(s.admin("enable frontend fe\n"), "\n");
    assert_eq!(s.admin("enable frontend fe\n"), "All sockets are already enabled.\n\n");
    assert!(["A", "B"].contains(&s.body().as_str()));
    assert_eq!(s.admin("set maxconn frontend fe 7\n"), "\n");
    assert_eq!(cell(&csv_rows(&s.admin("show stat\n")), "FRONTEND", "slim"), "7");
    assert_eq!(s.admin("set maxconn global 100\n"), "\n");
    assert!(s.admin("show info\n").contains("\nMaxconn: 100\n"));
    assert_eq!(s.admin("set maxconn global 999999999\n"), "Value out of range.\n\n");
    let home = std::env::var("HOME").unwrap_or_default();
    if !home.is_empty() {
        assert_eq!(s.admin("show env HOME\n"), format!("HOME={home}\n\n"));
    }
    assert_eq!(s.admin("show env NO_SUCH_VARIABLE_HERE\n"), "Variable not found\n\n");
    // A stream in flight is listed with its frontend.
    let mut c = Client::connect(s.proxy.port("fe"));
    c.send(b"GET / HTTP/1.1\r\n");
    assert!(wait_until(DEADLINE, || s.admin("show sess\n").lines().any(|l| l.contains(" proto=tcpv4 src=127.0.0.1:") && l.contains(" fe=fe "))));
    assert!(s.admin("show sess\n").lines().any(|l| l.contains("proto=unix_stream") && l.contains("fe=GLOBAL")));
}

#[test]
fn maps_change_at_run_time() {
    let s = Setup::start();
    let map = s.sock("paths.map");
    let name = map.display().to_string();
    let list = s.admin("show map\n");
    assert!(list.starts_with("# id (file) description\n"));
    let id = list.lines().nth(1).unwrap().split(' ').next().unwrap().to_string();
    assert!(list.contains(&format!("({name})")) && list.contains("entry_cnt=2"), "{list}");
    let entries = s.admin(&format!("show map {name}\n"));
    assert_eq!(entries.lines().filter(|l| l.ends_with(" /x one") || l.ends_with(" /y two")).count(), 2, "{entries}");
    assert_eq!(s.admin(&format!("show map #{id}\n")), entries);
    assert_eq!(s.admin(&format!("add map {name} /z three\n")), "\n");
    assert_eq!(s.admin(&format!("get map {name} /z\n")), "type=str, case=sensitive, found=yes, idx=tree, key=\"/z\", value=\"three\", type=\"str\"\n\n");
    assert_eq!(s.admin(&format!("set map {name} /z four\n")), "\n");
    assert_eq!(s.admin(&format!("set map {name} /nope four\n")), "entry not found.\n\n");
    // The running rule sees the change.
    let mut c = Client::connect(s.proxy.port("fe"));
    let r = c.http_request(b"GET /z HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    assert_eq!(r.status, 200);
    assert_eq!(s.admin(&format!("del map {name} /z\n")), "\n");
    assert_eq!(s.admin(&format!("del map {name} /z\n")), "Key not found.\n\n");
    assert_eq!(s.admin(&format!("get map {name} /z\n")), "type=str, case=sensitive, found=no\n\n");
    let first = s.admin(&format!("show map {name}\n")).lines().next().unwrap().split(' ').next().unwrap().to_string();
    assert_eq!(s.admin(&format!("del map {name} #{first}\n")), "\n");
    assert_eq!(s.admin(&format!("add acl {name} x\n")), "This ACL is shared with a map containing samples. You must use the command 'add map' to add values.\n\n");
    assert_eq!(s.admin(&format!("clear map {name}\n")), "\n");
    assert_eq!(s.admin(&format!("show map {name}\n")), "\n");
    assert_eq!(s.admin("show map /nope\n"), "Unknown map identifier. Please use #<id> or <file>.\n\n");
    assert_eq!(s.admin("add map\n"), "'add map' expects three parameters (map identifier, key and value) or one parameter (map identifier) and a payload\n\n");
    assert_eq!(s.admin("clear map\n"), "Missing map identifier.\n\n");
}

/// `show stat` columns and row names, and `show info` field names in order, from
/// moonproxy and from HAProxy 2.6 on the same configuration.
#[test]
fn stat_and_info_fields_match_haproxy() {
    let cfg = "global
    stats socket {{dir}}/cli.sock level admin
defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{{fe}}
    default_backend be
backend be
    server s1 127.0.0.1:{{a}}
    server s2 127.0.0.1:{{a}} disabled
";
    let app = Backend::http(b"ok");
    let mut seen = Vec::new();
    for bin in moonproxy_and_haproxy() {
        let proxy = ProxyBuilder::new(cfg).bin(&bin).port("a", app.port()).start();
        let sock = proxy.dir().join("cli.sock");
        assert!(proxy.wait_for_path(&sock, DEADLINE));
        let stat = csv_rows(&cli(&sock, "show stat\n"));
        let names: Vec<String> = stat.iter().map(|r| format!("{}/{}", r[0], r[1])).collect();
        let info_text = cli(&sock, "show info\n");
        let info: Vec<String> = info_text.lines().filter_map(|l| l.split_once(": ").map(|(k, _)| k.to_string())).collect();
        // Values that do not depend on the implementation (the CLI's own connection and
        // sockets count as HAProxy counts them).
        let values: Vec<String> = info_text
            .lines()
            .filter(|l| ["Nbproc", "Process_num", "CurrConns", "CumConns", "CumReq", "Stopping", "Jobs", "Listeners", "Tainted"].iter().any(|k| l.starts_with(&format!("{k}: "))))
            .map(String::from)
            .collect();
        let typed: Vec<String> = cli(&sock, "show info typed\n").lines().filter_map(|l| l.split(':').next().map(String::from)).collect();
        // `show info json`: each field's position, name, tags and type, without its value.
        let json: Vec<String> = cli(&sock, "show info json\n")
            .split("{\"field\":")
            .skip(1)
            .map(|f| {
                let (head, value) = f.split_once("\"value\":").unwrap();
                format!("{head}{}", value.split(",\"value\"").next().unwrap())
            })
            .collect();
        let status = |sv: &str| cell(&stat, sv, "status");
        seen.push((stat[0].clone(), names, info, typed, status("s1"), status("s2"), json, values));
    }
    if let [ours, theirs] = &seen[..] {
        assert_eq!(ours.0, theirs.0, "show stat header");
        assert_eq!(ours.1, theirs.1, "show stat rows");
        assert_eq!(ours.2, theirs.2, "show info field names");
        assert_eq!(ours.3, theirs.3, "show info typed positions and names");
        assert_eq!((&ours.4, &ours.5), (&theirs.4, &theirs.5), "server status");
        assert_eq!(ours.6, theirs.6, "show info json fields");
        assert_eq!(ours.7, theirs.7, "show info values");
    }
}

#[test]
fn addresses_health_timeouts_and_shutdowns() {
    let s = Setup::start();
    let (a, b) = (s._a.port(), s._b.port());
    assert_eq!(s.admin("show backend\n"), "# name\nbe\n\n");
    let sockets = s.admin("show cli sockets\n");
    let dir = s.proxy.dir().display().to_string();
    assert!(sockets.starts_with("# socket lvl processes\n"), "{sockets}");
    assert!(sockets.contains(&format!("unix@{dir}/admin.sock admin all\n")), "{sockets}");
    assert!(sockets.contains(&format!("ipv4@127.0.0.1:{} operator all\n", s.proxy.port("cli"))), "{sockets}");
    assert_eq!(s.admin("set timeout cli x\n"), "Invalid timeout value.\n\n");
    assert_eq!(s.admin("set timeout foo 1s\n"), "'set timeout' only supports 'cli'.\n\n");
    assert_eq!(s.admin("set timeout cli 1m\n"), "\n");
    // Addresses, as HAProxy words the change.
    assert_eq!(s.admin("set server be/s1 addr\n"), "set server <b>/<s> addr requires an address and optionally a port.\n\n");
    assert_eq!(s.admin("set server be/s1 addr nope\n"), "Invalid addr 'nope' by 'stats socket command'\n\n");
    assert_eq!(
        s.admin(&format!("set server be/s1 addr 127.0.0.1 port {b}\n")),
        format!("no need to change the addr, port changed from '{a}' to '{b}' by 'stats socket command'\n\n")
    );
    for _ in 0..4 {
        assert_eq!(s.body(), "B", "both servers now reach B");
    }
    assert_eq!(
        s.admin(&format!("set server be/s1 addr 127.0.0.1 port {a}\n")),
        format!("no need to change the addr, port changed from '{b}' to '{a}' by 'stats socket command'\n\n")
    );
    // Forced health.
    assert_eq!(s.admin("set server be/s1 health sick\n"), "'set server <srv> health' expects 'up', 'stopping', or 'down'.\n\n");
    assert_eq!(s.admin("set server be/s1 health down\n"), "\n");
    s.proxy.wait_for_line(|l| l.contains("be/s1") && l.contains("changed from CLI"), DEADLINE);
    assert_eq!(cell(&csv_rows(&s.admin("show stat\n")), "s1", "status"), "DOWN");
    for _ in 0..4 {
        assert_eq!(s.body(), "B", "a server forced down gets no request");
    }
    assert_eq!(s.admin("set server be/s1 health up\n"), "\n");
    assert_eq!(cell(&csv_rows(&s.admin("show stat\n")), "s1", "status"), "no check", "up again (a server without check)");
    assert_eq!(s.admin("disable health be/s1;enable health be/s1;enable health be/zz\n"), "\n\nNo such server.\n\n");
    assert_eq!(s.admin("set maxconn server be/s1 10\n"), "\n");
    assert_eq!(cell(&csv_rows(&s.admin("show stat\n")), "s1", "slim"), "10");
    assert_eq!(s.admin("set maxconn server be/s1\n"), "Require <maxconn>.\n\n");
    // `shutdown session`: a stream in flight, by the handle `show sess` prints.
    let mut c = Client::connect(s.proxy.port("fe"));
    c.send(b"GET / HTTP/1.1\r\n");
    let mut handle = String::new();
    assert!(wait_until(DEADLINE, || {
        let list = s.admin("show sess\n");
        handle = list.lines().find(|l| l.contains(" fe=fe ")).map(|l| l.split(':').next().unwrap().to_string()).unwrap_or_default();
        !handle.is_empty()
    }));
    assert_eq!(s.admin(&format!("shutdown session {handle}\n")), "\n");
    assert_eq!(c.recv_until_close().0, b"", "the client is closed without an answer");
    assert_eq!(s.admin(&format!("shutdown session {handle}\n")), "No such session (use 'show sess').\n\n");
    assert_eq!(s.admin("shutdown session\n"), "Session pointer expected (use 'show sess').\n\n");
    assert_eq!(s.admin("shutdown sessions server be/s1\n"), "\n");
    assert_eq!(s.admin("shutdown frontend fe\n"), "\n");
    s.proxy.wait_for_line(|l| l.contains("Proxy fe stopped"), DEADLINE);
    assert!(std::net::TcpStream::connect(("127.0.0.1", s.proxy.port("fe"))).is_err(), "a stopped frontend listens no more");
    assert_eq!(s.admin("shutdown frontend fe\n"), "No such frontend.\n\n");
}

/// Answers that must be the same bytes from moonproxy and HAProxy 2.6.
#[test]
fn answers_match_haproxy() {
    let cfg = "global
    stats socket {{dir}}/cli.sock level admin
defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{{fe}}
    http-request set-var(proc.n) int(42)
    http-request set-var(proc.s) str(abc)
    http-request set-var(proc.b) bool(1)
    http-request set-var(txn.t) str(x)
    default_backend be
backend be
    server s1 127.0.0.1:{{a}}
    server s2 127.0.0.1:{{a}} weight 5
";
    let commands = [
        "get var proc.n\n",
        "get var proc.s;get var proc.b;get var proc.nope;get var txn.t;get var\n",
        "show cli level;user;show cli level;operator\n",
        "show cli level;quit;show cli level\n",
        "prompt\nshow cli level\nprompt\nshow cli level\n",
        "expert-mode;expert-mode on;expert-mode;experimental-mode\n",
        "set maxconn\n",
        "help set server\n",
        "set server be\n",
        "set server be/s1\n",
        "set server be/zz state maint\n",
        "set server zz/s1 state maint\n",
        "set server be/s1 state bogus\n",
        "set server be/s1 weight 300\n",
        "set server be/s1 health sick\n",
        "set server be/s1 addr\n",
        "set server be/s1 addr nope\n",
        "set server be/s2 weight 40%;get weight be/s2;set weight be/s2 7;get weight be/s2\n",
        "set server be/s1 state drain;get weight be/s1;set server be/s1 state ready\n",
        "disable frontend;disable frontend be;disable frontend fe;disable frontend fe;enable frontend fe;enable frontend fe\n",
        "set maxconn global;set maxconn frontend fe;set maxconn frontend zz 1;set maxconn server be/s1\n",
        "show servers state zz\n",
        "show stat zz 1 -1\n",
        "show backend\n",
        "show env NO_SUCH_VARIABLE_HERE\n",
        "set timeout cli x;set timeout foo 1s;set timeout cli 20s\n",
        "shutdown session;shutdown session 0x1;shutdown sessions server be;shutdown frontend zz\n",
        "show map zz;get map zz k;add map;set map;del map;clear map\n",
        "show acl zz;add acl;del acl;clear acl;get acl zz k\n",
        "disable health;enable health be/zz\n",
        "show cli level\nshow cli",
    ];
    let mut answers = Vec::new();
    let app = Backend::http(b"ok");
    for bin in moonproxy_and_haproxy() {
        let proxy = ProxyBuilder::new(cfg).bin(&bin).port("a", app.port()).start();
        let sock = proxy.dir().join("cli.sock");
        assert!(proxy.wait_for_path(&sock, DEADLINE));
        let mut c = Client::connect(proxy.port("fe"));
        assert_eq!(c.http_request(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").status, 200);
        let got: Vec<String> = commands.iter().map(|c| cli(&sock, c)).collect();
        // `show servers state` without the time since the last change. The backend's
        // id counts HAProxy's internal `GLOBAL` proxy (the CLI's) as proxy 1.
        let state: Vec<String> = cli(&sock, "show servers state\n")
            .lines()
            .map(|l| l.split(' ').enumerate().filter(|(i, _)| *i != 9).map(|(_, w)| w).collect::<Vec<_>>().join(" "))
            .collect();
        answers.push((got, state));
    }
    if let [ours, theirs] = &answers[..] {
        for (i, c) in commands.iter().enumerate() {
            assert_eq!(ours.0[i], theirs.0[i], "answer to {c:?}");
        }
        assert_eq!(ours.1, theirs.1, "show servers state");
    }
}

/// Bad `stats` lines are refused with HAProxy's words; good ones are accepted by both.
#[test]
fn stats_keyword_errors_match_haproxy() {
    for (line, message) in [
        ("stats socket", "'stats socket' in global section expects an address or a path to a UNIX socket"),
        ("stats socket {{dir}}/x.sock level foo", "'stats socket' : ''level' only supports 'user', 'operator', and 'admin' (got 'foo')'"),
        ("stats socket {{dir}}/x.sock level", "'stats socket' : ''level' : missing level'"),
        ("stats socket {{dir}}/x.sock gid", "'stats socket' : ''gid' : missing value'"),
        ("stats socket {{dir}}/x.sock mode 9z", "'stats socket' : ''mode' : missing or invalid mode '9z' (octal integer expected)'"),
        ("stats socket {{dir}}/x.sock user no-such-user-here", "'stats socket' : ''user' : unknown user name 'no-such-user-here''"),
        ("stats socket {{dir}}/x.sock expose-fd all", "'stats socket' : ''expose-fd' only supports 'listeners' (got 'all')'"),
        ("stats socket {{dir}}/x.sock bogus 1", "'stats socket' : unknown keyword 'bogus'."),
        ("stats timeout x", "'stats timeout' : unexpected character 'x'"),
        ("stats timeout 0", "'stats timeout' expects a positive value"),
        ("stats maxconn x", "'stats maxconn' expects a positive value"),
        ("stats foo", "'stats' only supports 'socket', 'maxconn', 'bind-process' and 'timeout' (got 'foo')"),
    ] {
        for bin in moonproxy_and_haproxy() {
            let out = ProxyBuilder::new(&format!("global\n    {line}\n")).bin(&bin).flags(["-c"]).run();
            assert_ne!(out.code(), Some(0), "{}: {line}", bin.display());
            assert!(out.stderr.contains(message), "{}: {line}\n{out:?}", bin.display());
        }
    }
    let good = "global\n    stats socket {{dir}}/x.sock uid 0 level admin mode 600 expose-fd listeners\n    stats socket ipv4@127.0.0.1:0 level user\n    stats timeout 1m\n    stats maxconn 5\n";
    let ok = ProxyBuilder::new(good).flags(["-c"]).run();
    assert!(ok.code() == Some(0) || ok.code() == Some(2), "{ok:?}");
}

/// A client that queues many answers and reads none for a while holds only its own
/// session: another one is answered meanwhile, and the slow one gets every answer, in
/// order, once it reads. The CLI also listens on an abstract socket.
#[test]
fn a_slow_reader_gets_everything_and_blocks_nobody() {
    let name = format!("moonproxy-cli-test-{}", std::process::id());
    let cfg = format!(
        "global\n    stats socket abns@{name} level admin\n    stats socket {{{{dir}}}}/cli.sock level admin\n    stats timeout 20s\n{}",
        CONFIG.split_once("defaults\n").map(|(_, rest)| format!("defaults\n{rest}")).unwrap()
    );
    let (a, b) = (Backend::http(b"A"), Backend::http(b"B"));
    let proxy = ProxyBuilder::new(&cfg).file("paths.map", "/x one\n").port("a", a.port()).port("b", b.port()).start();
    let sock = proxy.dir().join("cli.sock");
    assert!(proxy.wait_for_path(&sock, DEADLINE));
    let abns = socket2::Socket::new(socket2::Domain::UNIX, socket2::Type::STREAM, None).unwrap();
    abns.connect(&moonproxy::listener::abstract_addr(&name).unwrap()).expect("the abstract socket listens");
    let mut abns: UnixStream = UnixStream::from(std::os::fd::OwnedFd::from(abns));
    const N: usize = 300;
    let request = format!("show stat\n{}\n", vec!["show stat"; N - 1].join(";"));
    abns.write_all(request.as_bytes()).unwrap();
    abns.shutdown(std::net::Shutdown::Write).unwrap();
    // Not read yet: the socket buffers fill up and the session waits.
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(cli(&sock, "show cli level\n"), "admin\n\n", "another session is answered meanwhile");
    let mut all = String::new();
    abns.set_read_timeout(Some(DEADLINE)).unwrap();
    abns.read_to_string(&mut all).unwrap();
    assert_eq!(all.matches("# pxname,svname,").count(), N, "every answer arrives, whole");
    assert!(all.ends_with(",\n\n"));
}

/// A stats socket that cannot be opened stops the start-up, as a `bind` line does.
#[test]
fn an_unbindable_stats_socket_stops_the_start() {
    let cfg = "global\n    stats socket {{dir}}/no/such/dir/cli.sock\ndefaults\n    mode tcp\n    timeout connect 1s\n    timeout client 1s\n    timeout server 1s\nlisten l\n    bind 127.0.0.1:{{l}}\n    server s 127.0.0.1:{{l}}\n";
    for bin in moonproxy_and_haproxy() {
        let out = ProxyBuilder::new(cfg).bin(&bin).timeout(DEADLINE).run();
        assert_eq!(out.code(), Some(1), "{}: {out:?}", bin.display());
        assert!(out.stderr.contains("for frontend GLOBAL: cannot bind"), "{}: {out:?}", bin.display());
        assert!(out.stderr.contains("Some protocols failed to start their listeners! Exiting."), "{}: {out:?}", bin.display());
    }
}

/// `show stat up` and `no-maint` hide the same servers as HAProxy and give backends the
/// same "(usable/total)" status.
#[test]
fn stat_filters_match_haproxy() {
    let cfg = "global
    stats socket {{dir}}/cli.sock level admin
defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{{fe}}
    default_backend be
backend be
    server s1 127.0.0.1:{{a}}
    server s2 127.0.0.1:{{a}}
    server s3 127.0.0.1:{{a}}
    server s4 127.0.0.1:{{a}}
backend other
    server o1 127.0.0.1:{{a}} disabled
";
    let app = Backend::http(b"ok");
    let mut seen = Vec::new();
    for bin in moonproxy_and_haproxy() {
        let proxy = ProxyBuilder::new(cfg).bin(&bin).port("a", app.port()).start();
        let sock = proxy.dir().join("cli.sock");
        assert!(proxy.wait_for_path(&sock, DEADLINE));
        assert_eq!(cli(&sock, "set server be/s1 state maint;set server be/s2 state drain;set server be/s3 health down\n"), "\n\n\n");
        let view = |flags: &str| -> Vec<String> {
            let rows = csv_rows(&cli(&sock, &format!("show stat {flags}\n")));
            let st = rows[0].iter().position(|f| f == "status").unwrap();
            rows.iter().skip(1).map(|r| format!("{}/{} {}", r[0], r[1], r[st])).collect()
        };
        seen.push((view(""), view("up"), view("no-maint"), view("up no-maint")));
    }
    if let [ours, theirs] = &seen[..] {
        assert_eq!(ours.0, theirs.0, "show stat");
        assert_eq!(ours.1, theirs.1, "show stat up");
        assert_eq!(ours.2, theirs.2, "show stat no-maint");
        assert_eq!(ours.3, theirs.3, "show stat up no-maint");
    }
    assert!(seen[0].1.contains(&"be/s2 DRAIN".to_string()) && !seen[0].1.iter().any(|l| l.starts_with("be/s1 ")));
}

/// Payloads: a line ending with `<<` takes the lines after it, up to an empty one,
/// as HAProxy 2.6 does (`add map <map> <<` adds one `key value` a line).
#[test]
fn payloads_match_haproxy() {
    let cfg = "global
    stats socket {{dir}}/cli.sock level admin
defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{{fe}}
    http-request set-header X-M %[req.hdr(host),map({{dir}}/m.map,none)]
    default_backend be
backend be
    server s1 127.0.0.1:{{a}}
";
    let app = Backend::http(b"ok");
    let mut seen = Vec::new();
    for bin in moonproxy_and_haproxy() {
        let proxy = ProxyBuilder::new(cfg).bin(&bin).file("m.map", "a 1\n").port("a", app.port()).start();
        let sock = proxy.dir().join("cli.sock");
        assert!(proxy.wait_for_path(&sock, DEADLINE));
        let m = proxy.dir().join("m.map").display().to_string();
        let answers: Vec<String> = [
            format!("add map {m} <<\nb 2\nc   three words\n\n"),
            format!("add map {m}  <<\nd\n\n"),
            format!("add map {m} <<\ne 5"),
            format!("prompt\nadd map {m} <<\nf 6\n\nshow cli level\n"),
            "show cli level <<\nignored\n\n".to_string(),
            format!("add map {m} <<x\n"),
        ]
        .iter()
        .map(|c| cli(&sock, c))
        .collect();
        // The entries, without their handles.
        let entries: Vec<String> = cli(&sock, &format!("show map {m}\n")).lines().filter_map(|l| l.split_once(' ').map(|(_, e)| e.to_string())).collect();
        seen.push((answers, entries));
    }
    assert_eq!(seen[0].1, ["a 1", "b 2", "c three words", "f 6"], "moonproxy's map after the payloads");
    if let [ours, theirs] = &seen[..] {
        assert_eq!(ours.0, theirs.0, "answers");
        assert_eq!(ours.1, theirs.1, "entries");
    }
}

/// `disable health` stops the probes (none reaches the server until `enable health`)
/// and `show stat` shows the server as one without check; `disable agent` stops the
/// agent's. Compared with HAProxy 2.6. A second checked server is the clock: while it
/// receives 50 probes (more than 2 s, which is what a disabled check waited between
/// probes before), the disabled one receives none.
#[test]
fn disabled_checks_send_no_probe_until_enabled() {
    let cfg = "global
    stats socket {{dir}}/cli.sock level admin
defaults
    mode http
    timeout connect 1s
    timeout client 3s
    timeout server 3s
listen l
    bind 127.0.0.1:{{fe}}
    option httpchk GET /
    server s 127.0.0.1:{{app}} check inter 50 agent-check agent-port {{agent}} agent-inter 50
    server clock 127.0.0.1:{{clock}} check inter 50
";
    for bin in moonproxy_and_haproxy() {
        let (app, clock, agent) = (Backend::http(b"ok"), Backend::http(b"ok"), Backend::reply(b"up\n"));
        let p = ProxyBuilder::new(cfg).bin(&bin).port("app", app.port()).port("clock", clock.port()).port("agent", agent.port()).start();
        let who = bin.display().to_string();
        let sock = p.dir().join("cli.sock");
        let admin = |cmd: &str| cli(&sock, &format!("{cmd}\n"));
        let probes = || app.stats().requests();
        // The clock's probes counted from now on, `n` of them.
        let ticks = |n: u64| {
            let start = clock.stats().requests();
            assert!(wait_until(DEADLINE, || clock.stats().requests() >= start + n), "{who}: the clock stopped");
        };
        assert!(wait_until(DEADLINE, || probes() >= 2 && agent.connections() >= 2), "{who}: no probe at all");

        assert_eq!(admin("disable health l/s").trim(), "", "{who}");
        let stat = csv_rows(&admin("show stat"));
        assert_eq!((cell(&stat, "s", "status").as_str(), cell(&stat, "s", "check_status").as_str()), ("no check", ""), "{who}");
        ticks(2);
        let while_disabled = probes();
        ticks(50);
        assert_eq!(probes(), while_disabled, "{who}: probes went on while disabled");
        assert!(agent.connections() > 2, "{who}: the agent is still asked");
        assert_eq!(admin("enable health l/s").trim(), "", "{who}");
        assert!(wait_until(DEADLINE, || probes() > while_disabled), "{who}: probes did not resume");
        assert!(wait_until(DEADLINE, || cell(&csv_rows(&admin("show stat")), "s", "check_status") == "L7OK"), "{who}");

        assert_eq!(admin("disable agent l/s").trim(), "", "{who}");
        ticks(2);
        let agent_while_disabled = agent.connections();
        ticks(50);
        assert_eq!(agent.connections(), agent_while_disabled, "{who}: the agent was asked while disabled");
        assert_eq!(admin("enable agent l/s").trim(), "", "{who}");
        assert!(wait_until(DEADLINE, || agent.connections() > agent_while_disabled), "{who}: the agent was not asked again");
    }
}
