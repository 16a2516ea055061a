//! Server state across restarts (`show servers state` dumped to a file, read back with
//! `load-server-state-from-file`), compared with HAProxy 2.6 on the same steps.

mod common;

use common::*;
use std::time::Duration;

/// Four servers: `s1` and `s3` on A, `s2` on B, `s4` on a port nobody listens on
/// (moved to A's port at run time).
const CONFIG: &str = "global
    stats socket {{dir}}/admin.sock level admin
    server-state-base {{dir}}
    server-state-file state
defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
    load-server-state-from-file global
frontend fe
    bind 127.0.0.1:{{fe}}
    default_backend be
backend be
    balance roundrobin
    server s1 127.0.0.1:{{a}}
    server s2 127.0.0.1:{{b}} weight 5
    server s3 127.0.0.1:{{a}}
    server s4 127.0.0.1:{{dead}}
";

/// `show servers state` without the seconds since the last change (column 10).
fn state_without_times(sock: &std::path::Path) -> Vec<String> {
    cli(sock, "show servers state\n")
        .lines()
        .map(|l| l.split(' ').enumerate().filter(|(i, _)| *i != 9).map(|(_, w)| w).collect::<Vec<_>>().join(" "))
        .collect()
}

/// Operator lines without the tag and pid: `config : Server be/s1 is DOWN, ...`.
fn messages(proxy: &Proxy, about: &str) -> Vec<String> {
    let mut out: Vec<String> = proxy
        .lines()
        .iter()
        .filter(|l| l.text.contains(about))
        .map(|l| l.text.split_once(") : ").map_or(l.text.clone(), |(_, m)| m.to_string()))
        .collect();
    out.sort();
    out
}

fn start(bin: &std::path::Path, a: &Backend, b: &Backend, dead: u16, state: Option<&str>) -> Proxy {
    let mut builder = ProxyBuilder::new(CONFIG).bin(bin).port("a", a.port()).port("b", b.port()).port("dead", dead);
    if let Some(text) = state {
        builder = builder.file("state", text);
    }
    let proxy = builder.start();
    assert!(proxy.wait_for_path(&proxy.dir().join("admin.sock"), DEADLINE));
    proxy
}

/// Maintenance, drain, a weight and a port set from the CLI survive a restart through
/// the state file; the servers' lines and the messages are HAProxy's.
#[test]
fn cli_changes_survive_a_restart() {
    let a = Backend::http(b"A");
    let b = Backend::http(b"B");
    // A port claimed for the test, where nobody listens.
    let dead = free_port();
    let mut results = Vec::new();
    for bin in moonproxy_and_haproxy() {
        let mut first = start(&bin, &a, &b, dead, None);
        let sock = first.dir().join("admin.sock");
        let set = format!(
            "set server be/s1 state maint;set weight be/s2 3;set server be/s3 state drain;set server be/s4 addr 127.0.0.1 port {}\n",
            a.port()
        );
        cli(&sock, &set);
        let dump = cli(&sock, "show servers state\n");
        first.stop();
        assert!(dump.starts_with("1\n# be_id be_name srv_id srv_name srv_addr srv_op_state "), "{dump}");

        let second = start(&bin, &a, &b, dead, Some(&dump));
        let sock = second.dir().join("admin.sock");
        let stat = cli(&sock, "show stat\n");
        let row = |srv: &str| -> Vec<String> {
            let line = stat.lines().find(|l| l.starts_with(&format!("be,{srv},"))).unwrap_or_else(|| panic!("{srv} in {stat}"));
            line.split(',').map(String::from).collect()
        };
        // status (col 18) and weight (col 19).
        assert_eq!(row("s1")[17], "MAINT", "{bin:?}");
        assert_eq!(row("s2")[18], "3", "{bin:?}");
        assert_eq!(row("s3")[17], "DRAIN", "{bin:?}");
        // Traffic: s1 in maintenance and s3 draining take none; s4 reaches A at its new port.
        let bodies: Vec<String> = (0..8)
            .map(|_| {
                let r = get_closing(second.port("fe"), "/");
                assert_eq!(r.status, 200, "{bin:?}");
                String::from_utf8_lossy(&r.body).into_owned()
            })
            .collect();
        assert_eq!(bodies.iter().filter(|b| *b == "B").count(), 6, "{bin:?}: weights 3 and 1: {bodies:?}");
        assert_eq!(bodies.iter().filter(|b| *b == "A").count(), 2, "{bin:?}: {bodies:?}");
        let notes = messages(&second, "server-state") ;
        let drain = messages(&second, "forced drain");
        results.push((state_without_times(&sock), notes, drain));
    }
    let (ours, _, _) = &results[0];
    assert!(ours.iter().any(|l| l.starts_with("3 be 1 s1 127.0.0.1 0 1 1 1 1 0 0 0 0 0 0 - ")), "{ours:?}");
    if let [ours, theirs] = &results[..] {
        assert_eq!(ours.0, theirs.0, "show servers state after the restart");
        assert_eq!(ours.1, theirs.1, "server-state messages");
        assert_eq!(ours.2, theirs.2, "drain messages");
    }
}

/// A line with too few fields spoils its whole file (HAProxy's words, the line counted
/// from after the version line); a bad value spoils its server only; either way the
/// process starts and serves.
#[test]
fn malformed_state_files_warn_and_start() {
    let a = Backend::http(b"A");
    let b = Backend::http(b"B");
    let dead = free_port();
    let config = CONFIG.replace("    server s4 127.0.0.1:{{dead}}\n", "    server s4 127.0.0.1:{{dead}}\nbackend be2\n    load-server-state-from-file local\n    server-state-file-name be2.state\n    server x 127.0.0.1:{{a}}\n    server y 127.0.0.1:{{a}}\n");
    let global = "1\n3 be 1 s1 127.0.0.1 0 1 1 1 2 1 0 0 0 0 0 0 - 1 - 0 0 - - 0\n3 be 2 s2 127.0.0.1 0 0 3\n";
    let local = "1\n4 be2 1 x 127.0.0.1 x 1 1 1 2 1 0 0 0 0 0 0 - 1 - 0 0 - - 0\n4 be2 2 y 127.0.0.1 0 1 1 1 2 1 0 0 0 0 0 0 - 1 - 0 0 - - 0\n4 be2 3 zz 127.0.0.1 0 1 1 1 2 1 0 0 0 0 0 0 - 1 - 0 0 - - 0\n";
    let mut results = Vec::new();
    for bin in moonproxy_and_haproxy() {
        let proxy = ProxyBuilder::new(&config)
            .bin(&bin)
            .port("a", a.port())
            .port("b", b.port())
            .port("dead", dead)
            .file("state", global)
            .file("be2.state", local)
            .start();
        let dir = proxy.dir().display().to_string();
        assert_eq!(get_closing(proxy.port("fe"), "/").status, 200, "{bin:?} serves");
        let sock = proxy.dir().join("admin.sock");
        assert!(proxy.wait_for_path(&sock, DEADLINE));
        let stat = cli(&sock, "show stat\n");
        // Nothing of the corrupted global file applies; y of the local file does.
        assert!(stat.lines().any(|l| l.starts_with("be,s1,") && l.contains(",no check,")), "{bin:?}: {stat}");
        assert!(stat.lines().any(|l| l.starts_with("be2,y,") && l.contains(",MAINT,")), "{bin:?}: {stat}");
        assert!(stat.lines().any(|l| l.starts_with("be2,x,") && l.contains(",no check,")), "{bin:?}: {stat}");
        let lines: Vec<String> = ["corrupted", "server-state application failed", "can't find server"]
            .iter()
            .flat_map(|w| messages(&proxy, w))
            .map(|l| l.replace(&dir, "DIR"))
            .collect();
        results.push(lines);
    }
    assert!(results[0].contains(&"config : config: corrupted global server state file 'DIR/state' at line 2.".to_string()), "{:?}", results[0]);
    assert!(
        results[0].contains(&"config : server-state application failed for server 'be2/x', invalid srv_op_state value 'x'".to_string()),
        "{:?}",
        results[0]
    );
    if let [ours, theirs] = &results[..] {
        assert_eq!(ours, theirs);
    }
}

/// No file, or an empty one: a warning or a notice, and the process starts.
#[test]
fn missing_state_file_is_not_fatal() {
    let a = Backend::http(b"A");
    let b = Backend::http(b"B");
    let dead = free_port();
    let proxy = start(&moonproxy_bin(), &a, &b, dead, None);
    let line = proxy.wait_for_line(|l| l.contains("Can't open global server state file"), Duration::from_secs(5));
    assert!(line.ends_with("/state': No such file or directory"), "{line}");
    assert_eq!(get_closing(proxy.port("fe"), "/").status, 200);
}

/// The keywords' errors, with HAProxy's words.
#[test]
fn keyword_errors_match_haproxy() {
    let config = "global
    server-state-file
    server-state-base
defaults
    load-server-state-from-file
    server-state-file-name a b
backend b
    load-server-state-from-file foo
backend c
    server-state-file-name
frontend f
    load-server-state-from-file local
";
    let mut results = Vec::new();
    for bin in moonproxy_and_haproxy() {
        let out = ProxyBuilder::new(config).bin(&bin).flags(["-c"]).run();
        assert_eq!(out.code(), Some(1), "{bin:?}");
        let lines: Vec<String> = out
            .stderr
            .lines()
            .filter(|l| l.contains(": parsing ["))
            .map(|l| l.split_once(") : ").map_or(l.to_string(), |(_, m)| m.to_string()))
            .map(|l| l.split_once("cfg:").map_or(l.clone(), |(_, rest)| rest.to_string()))
            .collect();
        results.push(lines);
    }
    assert_eq!(results[0].len(), 6, "{:?}", results[0]);
    assert!(results[0].contains(&"5] : 'load-server-state-from-file' expects 'global', 'local' or 'none'. Got ''".to_string()), "{:?}", results[0]);
    if let [ours, theirs] = &results[..] {
        assert_eq!(ours, theirs);
    }
}

/// With `nbthread 2` every thread starts from the state file.
#[test]
fn every_thread_applies_the_state() {
    let a = Backend::http(b"A");
    let b = Backend::http(b"B");
    let config = "global
    nbthread 2
    server-state-file {{dir}}/state
defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
    load-server-state-from-file global
frontend fe
    bind 127.0.0.1:{{fe}}
    default_backend be
backend be
    server s1 127.0.0.1:{{a}}
    server s2 127.0.0.1:{{b}}
";
    let state = "1\n2 be 1 s1 127.0.0.1 0 1 1 1 5 1 0 0 0 0 0 0 - 1 - 0 0 - - 0\n";
    let proxy = ProxyBuilder::new(config).port("a", a.port()).port("b", b.port()).file("state", state).start();
    for _ in 0..20 {
        let r = get_closing(proxy.port("fe"), "/");
        assert_eq!((r.status, r.body.as_slice()), (200, &b"B"[..]), "s1 stays in maintenance on every thread");
    }
    assert_eq!(a.connections(), 0);
    // Thread 1 says it once.
    assert_eq!(proxy.count_lines(|l| l.contains("Server be/s1 is DOWN, changed from server-state after a reload.")), 1);
}

/// A check paused by maintenance or disabled (`disable health`) keeps its last result
/// in the dump (`srv_check_status`, `srv_check_result`, `srv_check_health`), passed or
/// failed, as HAProxy 2.6's does; moonproxy used to show them as never run.
#[test]
fn paused_and_disabled_checks_keep_their_last_result() {
    let up = Backend::silent();
    let dead = free_port();
    let mut dumps = Vec::new();
    for bin in moonproxy_and_haproxy() {
        let p = ProxyBuilder::new(
            "global
    stats socket {{dir}}/admin.sock level admin
    log stdout format raw local0
defaults
    mode tcp
    log global
    timeout connect 1s
    timeout client 5s
    timeout server 5s
backend be
    server up1 127.0.0.1:{{up}} check inter 100
    server up2 127.0.0.1:{{up}} check inter 100
    server down1 127.0.0.1:{{dead}} check inter 100
    server down2 127.0.0.1:{{dead}} check inter 100
",
        )
        .bin(&bin)
        .port("up", up.port())
        .port("dead", dead)
        .start();
        p.wait_for_lines(2, |l| l.contains("Server be/down") && l.contains(" is DOWN"), DEADLINE);
        let sock = p.dir().join("admin.sock");
        // Two more checks each, so every server has a settled result.
        std::thread::sleep(Duration::from_millis(300));
        cli(&sock, "disable health be/up1;disable health be/down1;set server be/up2 state maint;set server be/down2 state maint\n");
        dumps.push(state_without_times(&sock));
    }
    let ours = &dumps[0];
    // srv_op_state .. srv_check_state, the last change left out.
    let fields = |srv: &str| -> String {
        let line = ours.iter().find(|l| l.split(' ').nth(3) == Some(srv)).unwrap_or_else(|| panic!("{srv} in {ours:?}"));
        line.split(' ').skip(5).take(8).collect::<Vec<_>>().join(" ")
    };
    // L4OK passed at full health (rise 2 + fall 3 - 1), L4CON failed.
    assert_eq!(fields("up1"), "2 0 1 1 6 3 4 2");
    assert_eq!(fields("down1"), "0 0 1 1 8 2 0 2");
    assert_eq!(fields("up2"), "0 1 1 1 6 3 0 14");
    assert_eq!(fields("down2"), "0 1 1 1 8 2 0 14");
    if let [ours, theirs] = &dumps[..] {
        assert_eq!(ours, theirs, "moonproxy (left) vs HAProxy");
    }
}
