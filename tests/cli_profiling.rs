//! `set profiling`, `show profiling`, `show tasks`, `show threads` and the streams'
//! coroutines in `show lua tasks`. The layouts are compared with answers recorded from
//! HAProxy 2.6.12 (`echo CMD | socat - UNIX:...`): the same labels, column headers and
//! alignment; the numbers and the function names are moonproxy's own.

mod common;

use common::*;

const CONFIG: &str = "global
    lua-load {{dir}}/prof.lua
    stats socket {{dir}}/admin.sock level admin
    stats socket {{dir}}/oper.sock level operator
defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{{fe}}
    http-request lua.nap if { path /nap }
    http-request set-var(txn.s) lua.slow if { path /slow }
    http-request return status 200
";

const SCRIPT: &str = r#"
core.register_action("nap", { "http-req" }, function(txn)
  core.msleep(1500)
end)
core.register_fetches("slow", function(txn)
  core.msleep(1000)
  return "late"
end)
"#;

/// HAProxy 2.6's `show profiling` after `set profiling tasks on` and a few requests.
const HAPROXY_PROFILING: &str = "Per-task CPU profiling              : on            # set profiling tasks {on|auto|off}
Memory usage profiling              : off           # set profiling memory {on|off}
Tasks activity:
  function                      calls   cpu_tot   cpu_avg   lat_tot   lat_avg
  h1_io_cb                          9   264.0us   29.33us   6.664us   740.0ns
  process_stream                    7   1.678ms   239.7us   9.467us   1.352us
  task_run_applet                   1      -         -      2.044us   2.044us
";

/// HAProxy 2.6's `show tasks` (the header, and a line's layout made from its format).
const HAPROXY_TASKS: &str = "Running tasks: 0 (2 threads)
  function                     places     %    lat_tot   lat_avg
";

/// HAProxy 2.6's `show threads` for the calling thread (its stream dump lines cut).
const HAPROXY_THREADS: &str = "* Thread 1 : id=0x7f4219a2a440 act=1 glob=0 wq=0 rq=0 tl=0 tlsz=0 rqsz=0
      1/1    stuck=0 prof=1 harmless=0 wantrdv=0
             cpu_ns: poll=71326215 now=71428417 diff=102202
             curr_task=0x7f421404ad60 (task) calls=1 last=0
               fct=0x55578c5c1d40(task_run_applet) ctx=0x5557ae9fd6c0(<CLI>)
";

/// The lines of `help` for these commands, as HAProxy 2.6 prints them.
const HAPROXY_HELP: [&str; 4] = [
    "  set profiling <what> {auto|on|off}      : enable/disable resource profiling (tasks,memory)",
    "  show profiling [<what>|<#lines>|byaddr]*: show profiling state (all,status,tasks,memory)",
    "  show tasks                              : show running tasks",
    "  show threads                            : show some threads debugging information",
];

/// A line's shape: runs of digits become `9`, `0x` hex numbers `0x9`, so two answers
/// compare by their labels and layout.
fn shape(line: &str) -> String {
    let mut out = String::new();
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '0' && chars.peek() == Some(&'x') {
            chars.next();
            while chars.peek().is_some_and(|c| c.is_ascii_hexdigit()) {
                chars.next();
            }
            out.push_str("0x9");
        } else if c.is_ascii_digit() {
            while chars.peek().is_some_and(|c| c.is_ascii_digit()) {
                chars.next();
            }
            out.push('9');
        } else {
            out.push(c);
        }
    }
    out
}

/// A `Tasks activity` line: its name, its calls, and the four times in HAProxy's short
/// form (`-`, or four digits and a unit). Checks the columns end where HAProxy's do.
fn activity_line(line: &str) -> (String, u64) {
    let name = line[2..].split(' ').next().unwrap().to_string();
    if name.len() < 34 {
        // `  <name><calls right-aligned to column 37>` then four 10-wide columns.
        assert_eq!(line.len(), 37 + 40, "{line:?}");
        assert_ne!(line.as_bytes()[36], b' ', "calls end at column 37: {line:?}");
    }
    let fields: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(fields.len(), 6, "{line:?}");
    for t in &fields[2..] {
        let ok = *t == "-"
            || ["ns", "us", "ms", "s"].iter().any(|u| {
                t.strip_suffix(u).is_some_and(|n| n.len() == 5 && n.contains('.') && n.replace('.', "").bytes().all(|b| b.is_ascii_digit()))
            });
        assert!(ok, "a short time: {t:?} in {line:?}");
    }
    (name, fields[1].parse().unwrap())
}

fn start() -> (Proxy, std::path::PathBuf, std::path::PathBuf) {
    let proxy = ProxyBuilder::new(CONFIG).file("prof.lua", SCRIPT).start();
    let admin = proxy.dir().join("admin.sock");
    let oper = proxy.dir().join("oper.sock");
    assert!(proxy.wait_for_path(&admin, DEADLINE) && proxy.wait_for_path(&oper, DEADLINE));
    (proxy, admin, oper)
}

#[test]
fn profiling_counts_the_handlers_in_haproxys_layout() {
    let (proxy, admin, _) = start();
    let fe = proxy.port("fe");
    // The default is `auto`, off while the loop is fast (HAProxy starts in `auto` too).
    let status = cli(&admin, "show profiling status\n");
    assert!(status.starts_with("Per-task CPU profiling              : auto-o"), "{status}");
    assert_eq!(cli(&admin, "set profiling tasks off\nshow profiling\n"), "\nPer-task CPU profiling              : off           # set profiling tasks {on|auto|off}\nMemory usage profiling              : off           # set profiling memory {on|off}\nTasks activity:\n  function                      calls   cpu_tot   cpu_avg   lat_tot   lat_avg\n\n");

    assert_eq!(cli(&admin, "set profiling tasks on\n"), "\n");
    for _ in 0..3 {
        assert_eq!(get_closing(fe, "/").status, 200);
    }
    let out = cli(&admin, "show profiling\n");
    let lines: Vec<&str> = out.lines().collect();
    let recorded: Vec<&str> = HAPROXY_PROFILING.lines().collect();
    assert_eq!(lines[..4], recorded[..4], "the status block and the header: {out}");
    let rows: Vec<(String, u64)> = lines[4..].iter().take_while(|l| !l.is_empty()).map(|l| activity_line(l)).collect();
    let calls = |name: &str| rows.iter().find(|(n, _)| n == name).map_or(0, |r| r.1);
    assert!(calls("listener_accept@fe") >= 1, "{out}");
    assert!(calls("stream_client_io@fe") >= 3, "{out}");
    assert!(calls("cli_io") >= 1, "the CLI's own handler: {out}");
    assert!(rows.windows(2).all(|w| w[0].1 >= w[1].1), "most calls first: {out}");
    // HAProxy's own lines pass the same checks.
    for l in &recorded[4..] {
        activity_line(l);
    }

    // Sections, order, limits.
    let tasks = cli(&admin, "show profiling tasks byaddr 2\n");
    let names: Vec<String> = tasks.lines().skip(2).take_while(|l| !l.is_empty()).map(|l| activity_line(l).0).collect();
    assert_eq!(names.len(), 2, "{tasks}");
    assert!(names[0] < names[1], "by name: {tasks}");
    assert!(tasks.starts_with("Tasks activity:\n"), "no status block: {tasks}");
    let aggr = cli(&admin, "show profiling tasks aggr\n");
    assert!(aggr.contains("\n  stream_client_io ") && !aggr.contains('@'), "merged over proxies: {aggr}");
    assert_eq!(cli(&admin, "show profiling memory\n"), "\n", "no memory profiling, as a HAProxy built without it");
    assert_eq!(cli(&admin, "show profiling status\n").lines().filter(|l| !l.is_empty()).count(), 2);

    // Off: nothing more is counted (the counters stay until `on` clears them).
    assert_eq!(cli(&admin, "set profiling tasks off\n"), "\n");
    let before = cli(&admin, "show profiling tasks\n");
    assert_eq!(get_closing(fe, "/").status, 200);
    let after = cli(&admin, "show profiling tasks\n");
    let stream_calls = |t: &str| t.lines().find(|l| l.starts_with("  stream_client_io@fe ")).map(|l| activity_line(l).1);
    assert_eq!(stream_calls(&before), stream_calls(&after), "{before}{after}");
    // `on` starts from zero, as in HAProxy.
    assert_eq!(cli(&admin, "set profiling tasks on\n"), "\n");
    assert!(stream_calls(&cli(&admin, "show profiling tasks\n")).is_none());
    assert_eq!(cli(&admin, "set profiling tasks auto\n"), "\n");
    assert!(cli(&admin, "show profiling status\n").contains(": auto-"));
}

#[test]
fn usage_texts_and_levels_are_haproxys() {
    let (_proxy, admin, oper) = start();
    // The answers HAProxy 2.6 gives (a build without USE_MEMORY_PROFILING).
    for (cmd, answer) in [
        ("set profiling\n", "Expects either 'tasks' or 'memory'.\n\n"),
        ("set profiling foo on\n", "Expects either 'tasks' or 'memory'.\n\n"),
        ("set profiling tasks\n", "Expects 'on', 'auto', or 'off'.\n\n"),
        ("set profiling tasks foo\n", "Expects 'on', 'auto', or 'off'.\n\n"),
        ("set profiling memory on\n", "Memory profiling not compiled in.\n\n"),
        ("show profiling foo\n", "Expects either 'all', 'status', 'tasks', 'memory', 'byaddr' or a max number of output lines.\n\n"),
    ] {
        assert_eq!(cli(&admin, cmd), answer, "{cmd}");
    }
    // `set profiling` and `show profiling` are admin commands in 2.6; `show tasks` and
    // `show threads` answer any level.
    for cmd in ["set profiling tasks on\n", "show profiling\n", "show profiling status\n"] {
        assert_eq!(cli(&oper, cmd), "Permission denied\n\n", "{cmd}");
    }
    assert!(cli(&oper, "user\nshow tasks\n").contains("Running tasks: "));
    assert!(cli(&oper, "user\nshow threads\n").contains(" Thread 1 : "));
    let help = cli(&oper, "help\n");
    for line in HAPROXY_HELP {
        assert!(help.contains(&format!("{line}\n")), "{line} in {help}");
    }
}

#[test]
fn tasks_and_threads_have_haproxys_fields() {
    let (_proxy, admin, _) = start();
    let tasks = cli(&admin, "show tasks\n");
    let mut lines = tasks.lines();
    let first = lines.next().unwrap();
    assert_eq!(shape(first), shape(HAPROXY_TASKS.lines().next().unwrap()), "{tasks}");
    assert_eq!(lines.next(), HAPROXY_TASKS.lines().nth(1), "{tasks}");

    let threads = cli(&admin, "show threads\n");
    let ours: Vec<String> = threads.lines().filter(|l| !l.is_empty()).map(shape).collect();
    let theirs: Vec<String> = HAPROXY_THREADS.lines().map(shape).collect();
    assert_eq!(ours[..4], theirs[..4], "{threads}");
    // The current task is the CLI, by moonproxy's handler name.
    assert_eq!(ours[4], "               fct=0x9(cli_io) ctx=0x9(<CLI>)", "{threads}");
}

#[test]
fn a_stream_action_sleeping_is_listed_with_its_line() {
    let (proxy, admin, _) = start();
    let fe = proxy.port("fe");
    let napper = std::thread::spawn(move || get_closing(fe, "/nap").status);
    let mut listed = String::new();
    let found = wait_until(DEADLINE, || {
        listed = cli(&admin, "show lua tasks\n");
        listed.contains("action nap ")
    });
    assert!(found, "{listed}");
    assert!(listed.starts_with("# 1 Lua tasks: kind name state age cpu at [stream]\n"), "{listed}");
    let line = listed.lines().find(|l| l.starts_with("action nap ")).unwrap();
    let at = SCRIPT.lines().position(|l| l.contains("core.msleep")).unwrap() + 1;
    let rest = line.strip_prefix("action nap sleeping(").unwrap_or_else(|| panic!("{line}"));
    let (left, rest) = rest.split_once("ms) age=").unwrap_or_else(|| panic!("{line}"));
    // Left from the time of the reactor's iteration, which may be a little older.
    assert!(left.parse::<u64>().unwrap() <= 1600, "{line}");
    assert!(rest.contains(&format!(" at={}:{at} stream=0x", proxy.dir().join("prof.lua").display())), "{line}");
    // `show sess` knows the same stream.
    let id = line.rsplit("stream=").next().unwrap();
    assert!(cli(&admin, "show sess\n").contains(&format!("{id}: proto=tcpv4")), "{id}");
    assert_eq!(napper.join().unwrap(), 200);
    assert!(!cli(&admin, "show lua tasks\n").contains("action nap"), "gone once the action ended");

    // A fetch that sleeps parks in its rule (beyond HAProxy): listed as a fetch.
    let slow = std::thread::spawn(move || get_closing(fe, "/slow").status);
    let found = wait_until(DEADLINE, || {
        listed = cli(&admin, "show lua tasks\n");
        listed.contains("fetch slow ")
    });
    assert!(found, "{listed}");
    let line = listed.lines().find(|l| l.starts_with("fetch slow ")).unwrap();
    let at = SCRIPT.lines().position(|l| l.contains("core.msleep(1000)")).unwrap() + 1;
    assert!(line.starts_with("fetch slow sleeping("), "{line}");
    assert!(line.contains(&format!("prof.lua:{at} stream=0x")), "{line}");
    assert_eq!(slow.join().unwrap(), 200);
}

/// `profiling.tasks on` in `global` starts with profiling on (HAProxy's keyword);
/// a bad value is refused with HAProxy's words.
#[test]
fn profiling_tasks_in_global_sets_the_start_mode() {
    let proxy = ProxyBuilder::new(&CONFIG.replace("global\n", "global\n    profiling.tasks on\n")).file("prof.lua", SCRIPT).start();
    let admin = proxy.dir().join("admin.sock");
    assert!(proxy.wait_for_path(&admin, DEADLINE));
    let status = cli(&admin, "show profiling status\n");
    assert!(status.contains("Per-task CPU profiling              : on "), "{status}");
    let dir = std::env::temp_dir().join(format!("mp-prof-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = dir.join("bad.cfg");
    std::fs::write(&cfg, "global\n    profiling.tasks sometimes\n").unwrap();
    let out = std::process::Command::new(moonproxy_bin()).arg("-c").arg("-f").arg(&cfg).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("'profiling.tasks' expects either 'on', 'auto', or 'off' but got 'sometimes'."), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// HTTP and TCP Lua services waiting are listed by `show lua tasks` too, as `service`
/// lines with their state, where they wait and their stream (issue 7: every live
/// coroutine, services included).
#[test]
fn show_lua_tasks_lists_services() {
    let config = "global
    lua-load {{dir}}/svc.lua
    stats socket {{dir}}/admin.sock level admin
defaults
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend web
    mode http
    bind 127.0.0.1:{{fe}}
    http-request use-service lua.slowweb
frontend raw
    mode tcp
    bind 127.0.0.1:{{raw}}
    tcp-request content use-service lua.waiter
";
    let script = "core.register_service('slowweb', 'http', function(applet)\n  core.msleep(1500)\n  applet:set_status(200)\n  applet:start_response()\nend)\ncore.register_service('waiter', 'tcp', function(applet)\n  local line = applet:getline()\n  applet:send(line)\nend)\n";
    let proxy = ProxyBuilder::new(config).file("svc.lua", script).free_port("raw").start();
    let admin = proxy.dir().join("admin.sock");
    assert!(proxy.wait_for_path(&admin, DEADLINE));
    let fe = proxy.port("fe");
    let web = std::thread::spawn(move || get_closing(fe, "/").status);
    let mut raw = std::net::TcpStream::connect(proxy.addr("raw")).unwrap();
    let mut listed = String::new();
    let found = wait_until(DEADLINE, || {
        listed = cli(&admin, "show lua tasks\n");
        listed.contains("service slowweb ") && listed.contains("service waiter ")
    });
    assert!(found, "{listed}");
    let web_line = listed.lines().find(|l| l.starts_with("service slowweb ")).unwrap();
    assert!(web_line.starts_with("service slowweb sleeping("), "{web_line}");
    assert!(web_line.contains("svc.lua:2 stream=0x"), "{web_line}");
    let raw_line = listed.lines().find(|l| l.starts_with("service waiter ")).unwrap();
    assert!(raw_line.starts_with("service waiter socket "), "{raw_line}");
    assert!(raw_line.contains("svc.lua:7 stream=0x"), "{raw_line}");
    use std::io::{Read, Write};
    raw.write_all(b"hi\n").unwrap();
    let mut back = [0u8; 2];
    raw.read_exact(&mut back).unwrap();
    assert_eq!(&back, b"hi");
    assert_eq!(web.join().unwrap(), 200);
}
