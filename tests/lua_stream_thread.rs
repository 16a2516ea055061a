//! One Lua thread per stream (issue 6): the actions, fetches and converters of a stream
//! run on the same coroutine, an action's failure leaves it usable for the next call,
//! and threads kept across streams do not make Lua memory grow. The real binary on
//! loopback in front of the HTTP test application (`/headers` echoes the request head);
//! where HAProxy 2.6 is installed, the shared-coroutine behaviour is checked on it too.

mod common;
use common::*;

fn config(rules: &str) -> String {
    format!(
        "global\n    lua-load {{{{dir}}}}/t.lua\ndefaults\n    mode http\n    timeout connect 5s\n    timeout client 5s\n    timeout server 5s\nfrontend fe\n    bind 127.0.0.1:{{{{fe}}}}\n{rules}\n    default_backend be\nbackend be\n    server s1 127.0.0.1:{{{{be}}}}\n"
    )
}

fn start(bin: &std::path::Path, script: &str, rules: &str, be: &Backend) -> Proxy {
    ProxyBuilder::new(&config(rules))
        .bin(bin)
        .file("t.lua", script)
        .port("be", be.port())
        .start()
}

/// The value of request header `name` as the application saw it.
fn echoed(r: &HttpResponse, name: &str) -> Option<String> {
    let body = String::from_utf8_lossy(&r.body).into_owned();
    let prefix = format!("{name}: ");
    body.lines()
        .find(|l| l.to_ascii_lowercase().starts_with(&prefix))
        .map(|l| l[prefix.len()..].trim().to_string())
}

const SHARED: &str = r#"
local function me() return tostring(coroutine.running()) end
core.register_action("a1", { "http-req" }, function(txn) txn:set_var("txn.a1", me()) end)
core.register_action("a2", { "http-req" }, function(txn) txn:set_var("txn.a2", me()) end)
core.register_fetches("who", function(txn) return me() end)
core.register_converters("who_c", function(s) return me() end)
core.register_action("boom", { "http-req" }, function(txn) local x = nil; return x.y end)
"#;

#[test]
fn two_actions_a_fetch_and_a_converter_of_a_stream_run_on_one_coroutine() {
    let be = http_app();
    let rules = "    http-request lua.a1\n    http-request lua.a2\n    http-request set-var(txn.f) lua.who\n    http-request set-var(txn.c) str(x),lua.who_c\n    http-request set-header X-Co \"%[var(txn.a1)]|%[var(txn.a2)]|%[var(txn.f)]|%[var(txn.c)]\"";
    for bin in moonproxy_and_haproxy() {
        let p = start(&bin, SHARED, rules, &be);
        let mut c = p.connect("fe");
        for _ in 0..3 {
            let r = c.http_request(b"GET /headers HTTP/1.1\r\nHost: a\r\n\r\n");
            assert_eq!(r.status, 200, "{bin:?}");
            let co = echoed(&r, "x-co").unwrap_or_default();
            let ids: Vec<&str> = co.split('|').collect();
            assert_eq!(ids.len(), 4, "{bin:?}: {co}");
            assert!(ids[0].starts_with("thread: "), "{bin:?}: {co}");
            assert!(ids.iter().all(|id| *id == ids[0]), "{bin:?}: {co}");
        }
    }
}

#[test]
fn an_action_error_leaves_the_stream_thread_usable_for_the_next_calls() {
    let be = http_app();
    let rules = "    http-request lua.a1\n    http-request lua.boom\n    http-request lua.a2\n    http-request set-var(txn.f) lua.who\n    http-request set-header X-Co \"%[var(txn.a1)]|%[var(txn.a2)]|%[var(txn.f)]\"";
    let p = start(&moonproxy_bin(), SHARED, rules, &be);
    let mut c = p.connect("fe");
    for _ in 0..3 {
        let r = c.http_request(b"GET /headers HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(r.status, 200);
        let co = echoed(&r, "x-co").unwrap_or_default();
        let ids: Vec<&str> = co.split('|').collect();
        assert_eq!(ids.len(), 3, "{co}");
        assert!(ids[0].starts_with("thread: "), "{co}");
        // The thread was reset after the error, not replaced.
        assert!(ids.iter().all(|id| *id == ids[0]), "{co}");
    }
    p.wait_for_line(
        |l| l.contains("Lua function 'boom': [state-id 0] runtime error: ") && l.contains("attempt to index a nil value"),
        DEADLINE,
    );
}

const MEMORY: &str = r#"
core.register_action("work", { "http-req" }, function(txn)
  txn.http:req_set_header("x-lua", "1")
  txn:set_var("txn.v", "action")
  txn:set_priv({ n = 1 })
end)
core.register_action("slow", { "http-req" }, function(txn) core.yield() end)
core.register_action("bad", { "http-req" }, function(txn) error("bad") end)
core.register_fetches("val", function(txn) return txn.f:path() end)
core.register_fetches("mem", function(txn)
  collectgarbage("collect")
  collectgarbage("collect")
  return math.floor(collectgarbage("count") * 1024)
end)
"#;

#[test]
fn lua_memory_stays_flat_over_many_requests() {
    let be = http_app();
    let rules = "    http-request lua.work\n    http-request lua.slow if { path /lua-yield }\n    http-request lua.bad if { path /lua-error }\n    http-request set-var(txn.f) lua.val\n    http-request return status 200 hdr x-mem %[lua.mem] if { path /mem }";
    let p = start(&moonproxy_bin(), MEMORY, rules, &be);
    let mut c = p.connect("fe");
    let mut round = |n: usize| {
        for i in 0..n {
            let path = match i % 10 {
                3 => "/lua-yield",
                7 => "/lua-error",
                _ => "/x",
            };
            let r = c.http_request(format!("GET {path} HTTP/1.1\r\nHost: a\r\n\r\n").as_bytes());
            assert_eq!(r.status, 200);
        }
        let r = c.http_request(b"GET /mem HTTP/1.1\r\nHost: a\r\n\r\n");
        let mem: i64 = r.header("x-mem").and_then(|v| v.parse().ok()).expect("x-mem");
        mem
    };
    let warm = round(300);
    let after = round(3000);
    eprintln!("Lua memory: {warm} B after 300 requests, {after} B after 3300");
    // Ten times more requests than the warm-up: a leak of even a few bytes per request
    // would show; the slack is for the registry's and the string table's own growth.
    assert!(after < warm + 16 * 1024, "Lua memory grew from {warm} to {after} bytes");
}

// `%p` prints the object's address: `tostring` would give the class's `__tostring`.
const CACHED: &str = r#"
local function id(txn) return string.format("%p/%p", txn, txn.http) end
core.register_action("t1", { "http-req" }, function(txn)
  txn:set_var("txn.t1", id(txn))
end)
core.register_action("t2", { "http-req" }, function(txn)
  txn:set_var("txn.t2", id(txn))
  txn:set_var("txn.p", txn.f:path())
end)
core.register_fetches("t3", function(txn) return id(txn) end)
"#;

#[test]
fn a_stream_builds_its_txn_once_for_its_actions_and_fetches() {
    let be = http_app();
    let rules = "    http-request lua.t1\n    http-request lua.t2\n    http-request set-var(txn.t3) lua.t3\n    http-request set-header X-Txn \"%[var(txn.t1)]|%[var(txn.t2)]|%[var(txn.t3)]|%[var(txn.p)]\"";
    let p = start(&moonproxy_bin(), CACHED, rules, &be);
    let mut c = p.connect("fe");
    for _ in 0..2 {
        let r = c.http_request(b"GET /headers HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(r.status, 200);
        let v = echoed(&r, "x-txn").unwrap_or_default();
        let parts: Vec<&str> = v.split('|').collect();
        assert_eq!(parts.len(), 4, "{v}");
        assert!(parts[0].starts_with("0x"), "{v}");
        assert!(parts[0] == parts[1] && parts[1] == parts[2], "{v}");
        assert_eq!(parts[3], "/headers", "{v}");
    }
}

#[test]
fn an_action_stopped_by_its_budget_leaves_the_thread_usable_and_budgets_count_per_call() {
    let be = http_app();
    let script = format!(
        "{SHARED}\ncore.register_action(\"spin\", {{ \"http-req\" }}, function(txn)\n  while true do end\nend)\ncore.register_action(\"busy\", {{ \"http-req\" }}, function(txn)\n  local t = core.now(); local n = 0\n  repeat n = n + 1; local u = core.now() until (u.sec - t.sec) * 1000 + (u.usec - t.usec) // 1000 >= 200\nend)\n"
    );
    // Two actions of 200 ms each fit a 300 ms budget counted per call, not per stream.
    let rules = "    http-request lua.busy\n    http-request lua.busy\n    http-request lua.a1\n    http-request lua.spin\n    http-request lua.a2\n    http-request set-var(txn.f) lua.who\n    http-request set-header X-Co \"%[var(txn.a1)]|%[var(txn.a2)]|%[var(txn.f)]\"";
    let cfg = config(rules).replace("global\n", "global\n    tune.lua.session-timeout 300\n");
    let p = ProxyBuilder::new(&cfg)
        .bin(moonproxy_bin())
        .file("t.lua", &script)
        .port("be", be.port())
        .start();
    let mut c = p.connect("fe");
    let r = c.http_request(b"GET /headers HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(r.status, 200);
    let co = echoed(&r, "x-co").unwrap_or_default();
    let ids: Vec<&str> = co.split('|').collect();
    assert_eq!(ids.len(), 3, "{co}");
    assert!(ids[0].starts_with("thread: "), "{co}");
    assert!(ids.iter().all(|id| *id == ids[0]), "{co}");
    p.wait_for_line(|l| l.contains("Lua function 'spin': [state-id 0] runtime error: execution timeout"), DEADLINE);
    assert_eq!(
        p.count_lines(|l| l.contains("Lua function 'busy'")),
        0,
        "a 200 ms action must not run out of a 300 ms budget"
    );
}
