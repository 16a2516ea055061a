//! Lua observability beyond HAProxy: `show lua stats` (per registered function: calls,
//! errors, yields, time holding the reactor), the stall report of `tune.lua.stall-warn`,
//! and the `moonproxy_lua_*` metrics of the Prometheus exporter.

mod common;

use common::*;

const CONFIG: &str = "global
    lua-load {{dir}}/stats.lua
    stats socket {{dir}}/cli.sock level admin
    tune.lua.stall-warn 150
defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{{fe}}
    http-request use-service prometheus-exporter if { path /metrics }
    http-request lua.spin if { path /spin }
    http-request lua.stall if { path /stall }
    http-request set-var(txn.x) lua.bad if { path /bad }
    http-request set-var(txn.y) str(a),lua.big if { path /big }
    http-request return status 200
";

const SCRIPT: &str = r#"
core.register_action("spin", { "http-req" }, function(txn)
  local x = 0
  for i = 1, 20000000 do x = x + i end
end)
core.register_action("stall", { "http-req" }, function(txn)
  io.popen("sleep 0.2"):read("*a")
  core.msleep(1)
end)
core.register_fetches("bad", function(txn) error("bad fetch") end)
core.register_converters("big", function(s) return #string.rep(s, 5 * 1024 * 1024) end)
core.register_task(function()
  while true do core.sleep(60) end
end)
"#;

/// The fields of the `show lua stats` line of `kind name`, by column name.
fn row(stats: &str, kind: &str, name: &str) -> std::collections::HashMap<String, i64> {
    let header: Vec<&str> = stats.lines().next().expect("a header").trim_start_matches("# ").split(' ').collect();
    let line = stats
        .lines()
        .find(|l| l.starts_with(&format!("{kind} {name} ")))
        .unwrap_or_else(|| panic!("a line for {kind} {name} in {stats}"));
    header[2..].iter().zip(line.split(' ').skip(2)).map(|(k, v)| (k.to_string(), v.parse().unwrap())).collect()
}

#[test]
fn counters_stall_report_and_metrics() {
    let proxy = ProxyBuilder::new(CONFIG).file("stats.lua", SCRIPT).start();
    let sock = proxy.dir().join("cli.sock");
    assert!(proxy.wait_for_path(&sock, DEADLINE));
    let fe = proxy.port("fe");

    // A long loop is preempted: forced yields and time in the reactor.
    assert_eq!(get_closing(fe, "/spin").status, 200);
    let stats = cli(&sock, "show lua stats spin\n");
    let spin = row(&stats, "action", "spin");
    assert_eq!(spin["calls"], 1, "{stats}");
    assert!(spin["forced_yields"] > 0, "{stats}");
    assert!(spin["cpu_total_us"] > 0 && spin["cpu_max_us"] > 0, "{stats}");
    assert_eq!((spin["errors"], spin["live"]), (0, 0), "{stats}");
    assert_eq!(stats.lines().filter(|l| !l.is_empty()).count(), 2, "only the entry asked for: {stats}");

    // 1,000 calls of a failing fetch on one connection.
    let mut c = Client::connect(fe);
    for _ in 0..1000 {
        let r = c.http_request(b"GET /bad HTTP/1.1\r\nHost: t\r\n\r\n");
        assert_eq!(r.status, 200);
    }
    let stats = cli(&sock, "show lua stats\n");
    let bad = row(&stats, "fetch", "bad");
    assert_eq!((bad["calls"], bad["errors"], bad["live"]), (1000, 1000, 0), "{stats}");

    // A blocking call of 200 ms holds the reactor past tune.lua.stall-warn.
    assert_eq!(get_closing(fe, "/stall").status, 200);
    let line = proxy.wait_for_line(|l| l.contains("Lua action 'stall' held the reactor"), DEADLINE);
    // The line of the blocking call in the file.
    let at = SCRIPT.lines().position(|l| l.contains("io.popen")).unwrap() + 1;
    assert!(line.contains("(tune.lua.stall-warn 150 ms)"), "{line}");
    assert!(line.contains(&format!("stats.lua:{at}")), "the line of the blocking call: {line}");
    // The C function itself is named, with its caller's line: `file:read` blocked ~200 ms
    // (the popen before it returned at once).
    let c = proxy.wait_for_line(|l| l.contains("Lua C function 'file:read' held the reactor for "), DEADLINE);
    assert!(c.contains("(tune.lua.stall-warn 150 ms)") && c.contains(&format!("stats.lua:{at}")), "{c}");
    assert_eq!(proxy.count_lines(|l| l.contains("Lua C function 'io.popen'")), 0, "a fast call is not reported");
    let stats = cli(&sock, "show lua stats stall\n");
    let stall = row(&stats, "action", "stall");
    assert_eq!((stall["calls"], stall["stalls"]), (1, 1), "{stats}");
    assert!(stall["cpu_max_us"] >= 200_000, "{stats}");

    // A converter building a 5 MB string: the heap grew by at least that much in its resume.
    assert_eq!(get_closing(fe, "/big").status, 200);
    let stats = cli(&sock, "show lua stats big\n");
    let big = row(&stats, "converter", "big");
    assert_eq!((big["calls"], big["errors"]), (1, 0), "{stats}");
    assert!(big["mem_peak_bytes"] >= 5 * 1024 * 1024, "{stats}");

    // A task is named by where its function is defined; it is live while it sleeps.
    let stats = cli(&sock, "show lua stats\n");
    let at = SCRIPT.lines().position(|l| l.contains("register_task")).unwrap() + 1;
    let task = stats.lines().find(|l| l.starts_with("task ")).unwrap_or_else(|| panic!("a task line: {stats}"));
    let name = task.split(' ').nth(1).unwrap();
    assert!(name.ends_with(&format!("stats.lua:{at}")), "{stats}");
    let task = row(&stats, "task", name);
    assert_eq!((task["calls"], task["live"], task["voluntary_yields"]), (1, 1, 1), "{stats}");

    // The same counters as moonproxy_lua_* metrics, by default and in the scope `lua`.
    for path in ["/metrics", "/metrics?scope=lua"] {
        let r = get_closing(fe, path);
        assert_eq!(r.status, 200);
        let body = String::from_utf8(r.body).unwrap();
        for series in [
            "moonproxy_lua_calls_total{kind=\"fetch\",name=\"bad\"} 1000\n",
            "moonproxy_lua_errors_total{kind=\"fetch\",name=\"bad\"} 1000\n",
            "moonproxy_lua_stalls_total{kind=\"action\",name=\"stall\"} 1\n",
            "moonproxy_lua_live_calls{kind=\"action\",name=\"spin\"} 0\n",
            "# TYPE moonproxy_lua_cpu_seconds_total counter\n",
            "# TYPE moonproxy_lua_memory_peak_bytes gauge\n",
        ] {
            assert!(body.contains(series), "{path}: {series} in {body}");
        }
        let forced = body
            .lines()
            .find_map(|l| l.strip_prefix("moonproxy_lua_forced_yields_total{kind=\"action\",name=\"spin\"} "))
            .unwrap_or_else(|| panic!("{path}: spin's forced yields in {body}"));
        assert!(forced.parse::<u64>().unwrap() > 0, "{body}");
    }
}

/// `mem_net_bytes`: what a function keeps counts (the heap's change over its resumes),
/// unlike `mem_peak_bytes`, which also counts what it dropped.
#[test]
fn net_memory_counts_what_a_function_keeps() {
    const CONFIG: &str = "global
    lua-load {{dir}}/keep.lua
    stats socket {{dir}}/cli.sock level admin
defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{{fe}}
    http-request set-var(txn.k) str(a),lua.keep if { path /keep }
    http-request set-var(txn.d) str(a),lua.drop if { path /drop }
    http-request return status 200
";
    const SCRIPT: &str = r#"
kept = {}
core.register_converters("keep", function(s) kept[#kept + 1] = string.rep(s, 1024 * 1024) .. #kept return #kept end)
core.register_converters("drop", function(s) local x = string.rep(s, 1024 * 1024) .. "x" x = nil collectgarbage() return 1 end)
"#;
    let proxy = ProxyBuilder::new(CONFIG).file("keep.lua", SCRIPT).start();
    let sock = proxy.dir().join("cli.sock");
    assert!(proxy.wait_for_path(&sock, DEADLINE));
    let fe = proxy.port("fe");
    for _ in 0..2 {
        assert_eq!(get_closing(fe, "/keep").status, 200);
    }
    assert_eq!(get_closing(fe, "/drop").status, 200);
    let stats = cli(&sock, "show lua stats\n");
    let keep = row(&stats, "converter", "keep");
    assert_eq!(keep["calls"], 2, "{stats}");
    assert!(keep["mem_net_bytes"] >= 2 * 1024 * 1024, "holds two 1 MB strings: {stats}");
    let drop = row(&stats, "converter", "drop");
    assert!(drop["mem_peak_bytes"] >= 1024 * 1024, "{stats}");
    assert!(drop["mem_net_bytes"] < 512 * 1024, "freed what it made: {stats}");
}

/// `tune.lua.stats off`: nothing is accounted, `show lua stats` says so, and the
/// exporter has no `moonproxy_lua_*` metric; the scripts run as before.
#[test]
fn accounting_can_be_turned_off() {
    let config = CONFIG.replace("    tune.lua.stall-warn 150\n", "    tune.lua.stall-warn 150\n    tune.lua.stats off\n");
    let proxy = ProxyBuilder::new(&config).file("stats.lua", SCRIPT).start();
    let sock = proxy.dir().join("cli.sock");
    assert!(proxy.wait_for_path(&sock, DEADLINE));
    let fe = proxy.port("fe");
    assert_eq!(get_closing(fe, "/spin").status, 200);
    assert_eq!(cli(&sock, "show lua stats\n"), "# Lua accounting is off (tune.lua.stats off)\n\n");
    let metrics = get_closing(fe, "/metrics");
    assert_eq!(metrics.status, 200);
    let body = String::from_utf8_lossy(&metrics.body).into_owned();
    assert!(body.contains("haproxy_process_") && !body.contains("moonproxy_lua_"), "{body}");
}

/// The wait gauges: a call sleeping in `core.msleep` counts in `sleeping`, one waiting
/// for a socket's answer in `io_waiting` and its socket in `sockets`, while they wait and
/// not after (the socket is closed).
#[test]
fn sleeping_and_io_waiting_count_the_calls_waiting_now() {
    let silent = Backend::silent();
    let config = "global
    lua-load {{dir}}/waits.lua
    stats socket {{dir}}/cli.sock level admin
defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{{fe}}
    http-request lua.nap if { path /nap }
    http-request lua.ask {{be}} if { path /ask }
    http-request lua.leak {{be}} if { path /leak }
    http-request return status 200
";
    let script = "core.register_action('nap', { 'http-req' }, function(txn)\n  core.msleep(1500)\nend)\ncore.register_action('ask', { 'http-req' }, function(txn, port)\n  local s = core.tcp()\n  s:settimeout(1)\n  s:connect('127.0.0.1', tonumber(port))\n  s:send('hello\\n')\n  s:receive('*l')\n  s:close()\nend, 1)\ncore.register_action('leak', { 'http-req' }, function(txn, port)\n  local s = core.tcp()\n  s:connect('127.0.0.1', tonumber(port))\nend, 1)\n";
    let proxy = ProxyBuilder::new(config).file("waits.lua", script).port("be", silent.port()).start();
    let sock = proxy.dir().join("cli.sock");
    assert!(proxy.wait_for_path(&sock, DEADLINE));
    let fe = proxy.port("fe");
    let nap = std::thread::spawn(move || get_closing(fe, "/nap").status);
    let ask = std::thread::spawn(move || get_closing(fe, "/ask").status);
    let mut stats = String::new();
    let both = wait_until(DEADLINE, || {
        stats = cli(&sock, "show lua stats\n");
        stats.contains("action nap ") && stats.contains("action ask ") && row(&stats, "action", "nap")["sleeping"] == 1 && row(&stats, "action", "ask")["io_waiting"] == 1
    });
    assert!(both, "{stats}");
    assert_eq!(row(&stats, "action", "nap")["io_waiting"], 0, "{stats}");
    assert_eq!(row(&stats, "action", "ask")["sleeping"], 0, "{stats}");
    assert_eq!((row(&stats, "action", "ask")["sockets"], row(&stats, "action", "nap")["sockets"]), (1, 0), "{stats}");
    assert_eq!((nap.join().unwrap(), ask.join().unwrap()), (200, 200));
    let stats = cli(&sock, "show lua stats\n");
    for name in ["nap", "ask"] {
        let r = row(&stats, "action", name);
        assert_eq!((r["sleeping"], r["io_waiting"], r["live"], r["sockets"]), (0, 0, 0, 0), "{name}: {stats}");
    }
    // A socket never closed counts until the collector takes it (the full collection
    // after a stream that used sockets).
    assert_eq!(get_closing(fe, "/leak").status, 200);
    let mut stats = String::new();
    let collected = wait_until(DEADLINE, || {
        stats = cli(&sock, "show lua stats leak\n");
        stats.contains("action leak ") && row(&stats, "action", "leak")["sockets"] == 0
    });
    assert!(collected, "{stats}");
    assert_eq!(row(&stats, "action", "leak")["calls"], 1, "{stats}");
}
