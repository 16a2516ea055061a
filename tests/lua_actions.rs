//! Lua actions in the stream (`http-request lua.<name>`, `http-response lua.<name>`) and
//! the `TXN` object, end to end: the real binary on loopback in front of the HTTP test
//! application (`common::http_app`). Where HAProxy 2.6 is installed the same script and
//! configuration run on it too and the answers are compared.

mod common;
use common::*;
use std::io::Read;

/// A frontend with `rules` in front of the test application.
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

fn get(p: &Proxy, request: &str) -> HttpResponse {
    let mut c = p.connect("fe");
    c.http_request(request.as_bytes())
}

/// The `config : ...` alerts of a run, without HAProxy's `[ALERT] (pid) : ` prefix.
fn alerts(o: &RunOutput) -> Vec<String> {
    o.stderr
        .lines()
        .filter_map(|l| l.split_once(" : config : ").map(|(_, m)| m.to_string()))
        .collect()
}

const CORS: &str = r#"
core.register_action("cors_req", { "http-req" }, function(txn)
  local h = txn.http:req_get_headers()
  if h["origin"] ~= nil then txn:set_priv(h["origin"][0]) end
end)
core.register_action("cors_res", { "http-res" }, function(txn)
  local origin = txn:get_priv()
  if origin ~= nil then
    txn.http:res_set_header("Access-Control-Allow-Origin", origin)
    txn.http:res_add_header("Vary", "Origin")
    txn.http:res_add_header("Vary", "Accept-Encoding")
  end
end)
"#;

#[test]
fn the_cors_example_adds_response_headers_from_the_request() {
    let be = http_app();
    for bin in moonproxy_and_haproxy() {
        let p = start(
            &bin,
            CORS,
            "    http-request lua.cors_req\n    http-response lua.cors_res",
            &be,
        );
        let r = get(
            &p,
            "GET /x HTTP/1.1\r\nHost: a\r\nOrigin: https://site.example\r\n\r\n",
        );
        assert_eq!(r.status, 200, "{bin:?}");
        assert_eq!(
            r.header("access-control-allow-origin"),
            Some("https://site.example"),
            "{bin:?}: {}",
            r.head
        );
        let vary: Vec<&str> = r
            .headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case("vary"))
            .map(|(_, v)| v.as_str())
            .collect();
        assert_eq!(vary, ["Origin", "Accept-Encoding"], "{bin:?}");
        // Without an Origin, no header (and the private value of another stream is not seen).
        let r = get(&p, "GET /x HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(
            r.header("access-control-allow-origin"),
            None,
            "{bin:?}: {}",
            r.head
        );
    }
}

const TAG: &str = r#"
core.register_action("tag", { "http-req" }, function(txn, value)
  txn:set_var("txn.tag", value)
  txn:set_var("txn.n", 42)
  txn:set_var("txn.never_declared", "x", true)
  txn.http:req_set_header("X-Lua", "yes")
  txn.http:req_add_header("X-Multi", "1")
  txn.http:req_add_header("X-Multi", "2")
  txn.http:req_del_header("X-Remove")
  local h = txn.http:req_get_headers()
  txn:set_var("txn.seen", h["x-multi"][0] .. "," .. h["x-multi"][1] .. "," .. tostring(h["x-multi"][2]))
  txn:set_var("txn.ua", txn.f:req_hdr("user-agent"))
  txn:set_var("txn.none", tostring(txn.f:req_hdr("nope")) .. "|" .. txn.sf:req_hdr("nope") .. "|")
  txn:set_var("txn.unset", tostring(txn:get_var("txn.never")) .. tostring(txn:get_var("txn.never_declared")))
  txn:set_var("txn.gone", "x")
  txn:unset_var("txn.gone")
  txn:set_var("txn.back", txn:get_var("txn.n") + 1)
end, 1)
"#;

#[test]
fn variables_and_headers_set_by_an_action_reach_rules_and_the_server() {
    let be = http_app();
    let rules = "    http-request lua.tag hello\n    http-request set-header X-Vars \"%[var(txn.tag)] %[var(txn.n)] %[var(txn.seen)] %[var(txn.ua)] %[var(txn.none)] %[var(txn.unset)] <%[var(txn.gone)]> %[var(txn.back)]\"";
    for bin in moonproxy_and_haproxy() {
        let p = start(&bin, TAG, rules, &be);
        let r = get(
            &p,
            "GET /headers HTTP/1.1\r\nHost: a\r\nUser-Agent: ua1\r\nX-Remove: 1\r\n\r\n",
        );
        assert_eq!(r.status, 200, "{bin:?}");
        let seen = String::from_utf8_lossy(&r.body).to_ascii_lowercase();
        assert!(seen.contains("x-lua: yes"), "{bin:?}: {seen}");
        assert!(!seen.contains("x-remove"), "{bin:?}: {seen}");
        assert!(
            seen.contains("x-vars: hello 42 1,2,nil ua1 nil|| nilx <> 43"),
            "{bin:?}: {seen}"
        );
    }
}

const SLEEP: &str = r#"
core.register_action("nap", { "http-req" }, function(txn)
  core.msleep(700)
  txn.http:req_set_header("X-Slept", "1")
end)
"#;

#[test]
fn an_action_that_sleeps_holds_its_stream_only() {
    let be = http_app();
    let p = start(
        &moonproxy_bin(),
        SLEEP,
        "    http-request lua.nap if { req.hdr(x-nap) -m found }",
        &be,
    );
    let mut slow = p.connect("fe");
    slow.send(b"GET /headers HTTP/1.1\r\nHost: a\r\nX-Nap: 1\r\n\r\n");
    // Served while the other stream sleeps.
    let r = get(&p, "GET /fast HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(r.status, 200);
    slow.stream().set_nonblocking(true).unwrap();
    let mut byte = [0u8; 1];
    let early = slow.stream().peek(&mut byte);
    assert!(
        early.is_err(),
        "the sleeping stream answered before its action ended: {early:?}"
    );
    slow.stream().set_nonblocking(false).unwrap();
    let r = slow.read_http_response();
    assert_eq!(r.status, 200);
    let seen = String::from_utf8_lossy(&r.body).to_ascii_lowercase();
    assert!(seen.contains("x-slept: 1"), "{seen}");
}

const FAILING: &str = r#"
core.register_action("boom", { "http-req" }, function(txn)
  local x = nil
  return x.y
end)
core.register_action("raise", { "http-req" }, function(txn)
  error("custom")
end)
core.register_action("table", { "http-req" }, function(txn)
  error({})
end)
"#;

#[test]
fn an_action_error_is_logged_and_the_request_still_served() {
    let be = http_app();
    for bin in moonproxy_and_haproxy() {
        let p = start(&bin, FAILING, "    http-request lua.boom if { path /boom }\n    http-request lua.raise if { path /raise }\n    http-request lua.table if { path /table }", &be);
        assert_eq!(
            get(&p, "GET /boom HTTP/1.1\r\nHost: a\r\n\r\n").status,
            200,
            "{bin:?}"
        );
        assert_eq!(
            get(&p, "GET /raise HTTP/1.1\r\nHost: a\r\n\r\n").status,
            200,
            "{bin:?}"
        );
        let file = format!("{}/t.lua", p.dir().display());
        p.wait_for_line(
            |l| l.ends_with(&format!("Lua function 'boom': [state-id 0] runtime error: {file}:4: attempt to index a nil value (local 'x') from {file}:4: in function line 2.")),
            DEADLINE,
        );
        p.wait_for_line(
            |l| l.ends_with(&format!("Lua function 'raise': [state-id 0] runtime error: {file}:7: custom from [C]: in global 'error', {file}:7: in function line 6.")),
            DEADLINE,
        );
        // An error object that is not a string: HAProxy's words, without `runtime error:`.
        assert_eq!(get(&p, "GET /table HTTP/1.1\r\nHost: a\r\n\r\n").status, 200, "{bin:?}");
        p.wait_for_line(
            |l| l.ends_with(&format!("Lua function 'table': [state-id 0] unknown runtime error from [C]: in global 'error', {file}:10: in function line 9.")),
            DEADLINE,
        );
    }
}

const RETURNS: &str = r#"
core.register_action("ret", { "http-req", "http-res" }, function(txn, what)
  return act[what]
end, 1)
"#;

#[test]
fn the_return_value_of_an_action_decides_as_in_haproxy() {
    let be = http_app();
    let rules = "    http-request lua.ret DENY if { path /deny }\n    http-request lua.ret ERROR if { path /error }\n    http-request lua.ret ABORT if { path /abort }\n    http-request lua.ret DONE if { path /done }\n    http-request return status 204 if { path /done }\n    http-request lua.ret INVALID if { path /invalid }\n    http-request lua.ret STOP if { path /stop }\n    http-request lua.ret CONTINUE\n    http-request return status 204 if { path /stop }\n    http-request set-var(txn.resdeny) bool(true) if { path /resdeny }\n    http-response lua.ret DENY if { var(txn.resdeny) -m bool }";
    for bin in moonproxy_and_haproxy() {
        let p = start(&bin, RETURNS, rules, &be);
        let status =
            |path: &str| get(&p, &format!("GET {path} HTTP/1.1\r\nHost: a\r\n\r\n")).status;
        assert_eq!(status("/deny"), 403, "{bin:?}");
        assert_eq!(status("/invalid"), 400, "{bin:?}");
        assert_eq!(status("/error"), 500, "{bin:?}");
        assert_eq!(status("/abort"), 503, "{bin:?}");
        assert_eq!(
            status("/done"),
            200,
            "{bin:?}: act.DONE skips the rest of the list"
        );
        assert_eq!(
            status("/stop"),
            200,
            "{bin:?}: act.STOP skips the rest of the list"
        );
        assert_eq!(status("/other"), 200, "{bin:?}");
        // On the response side HAProxy 2.6 answers its error page with the server's status
        // (here 200: a defect); moonproxy answers 502, as `http-response deny` does.
        let expected = if bin == moonproxy_bin() { 502 } else { 200 };
        assert_eq!(status("/resdeny"), expected, "{bin:?}");
    }
}

#[test]
fn txn_done_closes_the_stream_without_an_answer() {
    let be = http_app();
    let script = "core.register_action(\"stop\", { \"http-req\" }, function(txn) txn:done(); error(\"not reached\") end)";
    for bin in moonproxy_and_haproxy() {
        let p = start(&bin, script, "    http-request lua.stop", &be);
        let mut c = p.connect("fe");
        c.send(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n");
        let mut all = Vec::new();
        let _ = c.read_to_end(&mut all);
        assert!(all.is_empty(), "{bin:?}: {}", String::from_utf8_lossy(&all));
        assert!(
            !p.lines().iter().any(|l| l.text.contains("not reached")),
            "{bin:?}"
        );
    }
}

#[test]
fn a_txn_kept_after_its_stream_ended_raises_an_error() {
    let be = http_app();
    let script = r#"
kept = nil
core.register_action("keep", { "http-req" }, function(txn) kept = txn end)
core.register_task(function()
  while kept == nil do core.msleep(10) end
  core.msleep(200)
  local ok, err = pcall(function() kept:set_var("txn.x", 1) end)
  core.Alert("R " .. tostring(ok) .. " " .. tostring(err))
end)
"#;
    let p = start(&moonproxy_bin(), script, "    http-request lua.keep", &be);
    let mut c = p.connect("fe");
    assert_eq!(
        c.http_request(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
            .status,
        200
    );
    drop(c);
    p.wait_for_line(
        |l| l.contains(" : R false ") && l.ends_with("TXN object no longer valid"),
        DEADLINE,
    );
}

const REWRITE: &str = r#"
core.register_action("rewrite", { "http-req" }, function(txn)
  txn:Alert("A rewrite " .. txn.sf:path())
  txn.http:req_set_method("POST")
  txn.http:req_set_path("/headers")
  if txn.sf:req_hdr("x-q") ~= "" then txn.http:req_set_query("q=1") end
  txn.http:req_rep_header("X-Rep", "^a(.*)$", "b\\1")
  txn.http:req_rep_value("X-RV", "^a$", "q")
  txn:set_var("txn.seen", txn.sf:req_hdr("x-rep") .. "|" .. txn.sf:req_fhdr("x-rv"))
  txn:set_loglevel(core.debug)
end)
core.register_action("resp", { "http-res" }, function(txn)
  local h = txn.http:res_get_headers()
  txn.http:res_set_header("X-Had-Length", tostring(h["content-length"] ~= nil))
  txn.http:res_del_header("X-Drop")
  txn.http:res_rep_header("X-Rep-Res", "^(.*)$", "<\\1>")
  txn.http:res_rep_value("X-Vals", "^a$", "z")
  txn.http:res_set_status(201, "Made")
end)
"#;

#[test]
fn an_action_rewrites_the_request_line_and_the_response() {
    let be = http_app();
    let rules = "    http-request lua.rewrite\n    http-response add-header X-Drop 1\n    http-response add-header X-Rep-Res v\n    http-response add-header X-Vals \"a, b,a\"\n    http-response set-header X-Seen %[var(txn.seen)]\n    http-response lua.resp";
    for bin in moonproxy_and_haproxy() {
        let p = start(&bin, REWRITE, rules, &be);
        let r = get(
            &p,
            "GET /original HTTP/1.1\r\nHost: a\r\nX-Rep: abc\r\nX-RV: a,b\r\nX-Q: 1\r\n\r\n",
        );
        assert_eq!(r.status, 201, "{bin:?}: {}", r.head);
        assert!(
            r.head.starts_with("HTTP/1.1 201 Made"),
            "{bin:?}: {}",
            r.head
        );
        assert_eq!(r.header("x-had-length"), Some("true"), "{bin:?}");
        assert_eq!(r.header("x-drop"), None, "{bin:?}");
        assert_eq!(r.header("x-rep-res"), Some("<v>"), "{bin:?}");
        assert_eq!(r.header("x-vals"), Some("z, b,z"), "{bin:?}");
        assert_eq!(
            String::from_utf8_lossy(&r.body),
            "path=/headers?q=1",
            "{bin:?}"
        );
        assert_eq!(r.header("x-seen"), Some("bbc|q,b"), "{bin:?}");
        let r = get(&p, "GET /original HTTP/1.1\r\nHost: a\r\n\r\n");
        let seen = String::from_utf8_lossy(&r.body).to_ascii_lowercase();
        assert!(
            seen.starts_with("post /headers http/1.1"),
            "{bin:?}: {seen}"
        );
        p.wait_for_line(|l| l.ends_with("A rewrite /original"), DEADLINE);
    }
}

const REGISTER: &str = r#"
core.register_action("hello", { "http-req" }, function(txn) end)
core.register_action("two", { "http-req", "http-res" }, function(txn, a, b) end, 2)
"#;

#[test]
fn configuration_errors_are_haproxys() {
    let cases = [
        ("http-request lua.nope", "but got 'lua.nope'."),
        ("http-response lua.hello", "but got 'lua.hello'."),
        ("http-after-response lua.hello", "'http-after-response' expects"),
        ("http-request lua.two x", "error detected in frontend 'fe' while parsing 'http-request lua.two' rule : expect 2 arguments."),
        ("http-request lua.two x y z", "'http-request lua.two' expects either 'if' or 'unless' followed by a condition but found 'z'."),
    ];
    for bin in moonproxy_and_haproxy() {
        for (rule, expected) in cases {
            let o = ProxyBuilder::new(&config(&format!("    {rule}")))
                .bin(&bin)
                .file("t.lua", REGISTER)
                .free_port("be")
                .flags(["-c"])
                .run();
            assert_ne!(o.code(), Some(0), "{bin:?} {rule}");
            let a = alerts(&o);
            let hit = a.iter().find(|m| m.contains(expected));
            let hit = hit.unwrap_or_else(|| panic!("{bin:?} {rule}: {a:?}"));
            assert!(
                hit.contains(".cfg:10]"),
                "{bin:?} names file and line: {hit}"
            );
            if rule == "http-request lua.nope" {
                assert!(
                    hit.contains("'set-priority-offset', 'lua.hello', 'lua.two', but got"),
                    "{bin:?}: {hit}"
                );
            }
        }
        let o = ProxyBuilder::new(&config("    http-request lua.two x y"))
            .bin(&bin)
            .file("t.lua", REGISTER)
            .free_port("be")
            .flags(["-c"])
            .run();
        assert_eq!(o.code(), Some(0), "{bin:?}: {}", o.stderr);
    }
}

#[test]
fn an_action_without_lua_load_is_unknown() {
    let o = ProxyBuilder::new(
        "defaults\n    mode http\n    timeout connect 5s\n    timeout client 5s\n    timeout server 5s\nfrontend fe\n    bind 127.0.0.1:{{fe}}\n    http-request lua.x\n",
    )
    .flags(["-c"])
    .run();
    assert_ne!(o.code(), Some(0));
    assert!(
        alerts(&o).iter().any(|m| m.contains("but got 'lua.x'.")),
        "{}",
        o.stderr
    );
}

const SOCKET: &str = r#"
core.register_action("ask", { "http-req" }, function(txn, port)
  local s = core.tcp()
  s:settimeout(2)
  assert(s:connect("127.0.0.1", tonumber(port)))
  s:send("ping\n")
  local line = s:receive("*l")
  s:close()
  txn.http:req_set_header("X-Echo", line)
end, 1)
"#;

#[test]
fn an_action_waits_for_a_socket_and_resumes_at_its_rule() {
    let be = http_app();
    let echo = Backend::echo();
    let rules = format!(
        "    http-request lua.ask {}\n    http-request set-header X-After %[req.hdr(x-echo)]",
        echo.port()
    );
    for bin in moonproxy_and_haproxy() {
        let p = start(&bin, SOCKET, &rules, &be);
        for _ in 0..3 {
            let r = get(&p, "GET /headers HTTP/1.1\r\nHost: a\r\n\r\n");
            assert_eq!(r.status, 200, "{bin:?}");
            let seen = String::from_utf8_lossy(&r.body).to_ascii_lowercase();
            assert!(seen.contains("x-echo: ping"), "{bin:?}: {seen}");
            assert!(seen.contains("x-after: ping"), "{bin:?}: {seen}");
        }
    }
}

#[test]
fn a_client_leaving_during_a_sleep_and_kept_alive_requests_are_fine() {
    let be = http_app();
    let script = r#"
core.register_action("nap", { "http-req" }, function(txn, ms)
  txn:set_priv((txn:get_priv() or 0) + 1)
  core.msleep(tonumber(ms))
  txn.http:req_set_header("X-Count", tostring(txn:get_priv()))
end, 1)
"#;
    let rules = "    http-request lua.nap 20 if !{ path /long }\n    http-request lua.nap 2000 if { path /long }";
    // HAProxy runs each request of a kept-alive connection in a new stream: the private
    // value starts again at each one.
    for bin in moonproxy_and_haproxy() {
        let p = start(&bin, script, rules, &be);
        let mut c = p.connect("fe");
        for _ in 1..=3 {
            let r = c.http_request(b"GET /headers HTTP/1.1\r\nHost: a\r\n\r\n");
            let seen = String::from_utf8_lossy(&r.body).to_ascii_lowercase();
            assert!(seen.contains("x-count: 1"), "{bin:?}: {seen}");
        }
    }
    let p = start(&moonproxy_bin(), script, rules, &be);
    let mut c = p.connect("fe");
    // A client that leaves while its action sleeps: the stream ends, the process goes on.
    let mut gone = p.connect("fe");
    gone.send(b"GET /long HTTP/1.1\r\nHost: a\r\n\r\n");
    std::thread::sleep(std::time::Duration::from_millis(100));
    drop(gone);
    let r = c.http_request(b"GET /headers HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(r.status, 200);
}

#[test]
fn a_spinning_action_times_out_and_the_request_goes_on() {
    let be = http_app();
    let script = "core.register_action(\"spin\", { \"http-req\" }, function(txn)\n  while true do end\nend)\n";
    let cfg = config("    http-request lua.spin if { path /spin }")
        .replace("global\n", "global\n    tune.lua.session-timeout 300\n");
    for bin in moonproxy_and_haproxy() {
        let p = ProxyBuilder::new(&cfg)
            .bin(&bin)
            .file("t.lua", script)
            .port("be", be.port())
            .start();
        // Preempted and resumed until `session-timeout` runs out; the rules then go on.
        assert_eq!(
            get(&p, "GET /spin HTTP/1.1\r\nHost: a\r\n\r\n").status,
            200,
            "{bin:?}"
        );
        let file = format!("{}/t.lua", p.dir().display());
        p.wait_for_line(
            |l| l.ends_with(&format!("Lua function 'spin': [state-id 0] runtime error: execution timeout from {file}:2: in function line 1.")),
            DEADLINE,
        );
    }
}

const REPLY: &str = r#"
core.register_action("rep", { "http-req" }, function(txn)
  local r = txn:reply({ status = 201, headers = { ["x-a"] = { "1", "2" } }, body = "unused" })
  r:set_body("hello")
  r:add_header("x-b", "3")
  r:add_header("x-c", "4")
  r:del_header("x-c")
  r:set_status(202, "Accepted!")
  r:add_header("content-type", "text/plain")
  txn:done(r)
  error("not reached")
end)
core.register_action("empty", { "http-req" }, function(txn) txn:done(txn:reply()) end)
"#;

#[test]
fn txn_done_sends_a_reply_built_with_txn_reply() {
    let be = http_app();
    let rules =
        "    http-request lua.rep if { path /a }\n    http-request lua.empty if { path /b }";
    for bin in moonproxy_and_haproxy() {
        let p = start(&bin, REPLY, rules, &be);
        let mut c = p.connect("fe");
        let r = c.http_request(b"GET /a HTTP/1.1\r\nHost: a\r\n\r\n");
        assert!(
            r.head.starts_with("HTTP/1.1 202 Accepted!"),
            "{bin:?}: {}",
            r.head
        );
        let a: Vec<&str> = r
            .headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case("x-a"))
            .map(|(_, v)| v.as_str())
            .collect();
        assert_eq!(a, ["1", "2"], "{bin:?}");
        assert_eq!(r.header("x-b"), Some("3"), "{bin:?}");
        assert_eq!(r.header("x-c"), None, "{bin:?}");
        assert_eq!(r.header("content-type"), Some("text/plain"), "{bin:?}");
        assert_eq!(r.body, b"hello", "{bin:?}");
        // The connection stays open for the next request.
        let r = c.http_request(b"GET /b HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(
            (r.status, r.header("content-length")),
            (200, Some("0")),
            "{bin:?}: {}",
            r.head
        );
        let r = c.http_request(b"GET /c HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(r.status, 200, "{bin:?}");
        assert!(
            !p.lines().iter().any(|l| l.text.contains("not reached")),
            "{bin:?}"
        );
    }
}
