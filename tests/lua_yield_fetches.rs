//! Lua fetches and converters that wait (`core.msleep`, `core.yield`, a `core.tcp()`
//! socket) inside the rules that call them: `http-request` rules, ACLs, `use_backend`.
//! HAProxy 2.6 refuses such yields (`yield not allowed`); moonproxy parks the call on
//! the stream's Lua thread and the rule list waits at the rule, so these tests run
//! moonproxy only. Where waiting is impossible (a log-format at stream end) the call
//! fails with a clear error and the request goes on.

mod common;
use common::*;
use std::io::{BufRead, BufReader, Write};
use std::time::Duration;

/// A frontend with `rules` in front of the test application (`be`) and a second
/// backend answering `two` (`be2`); `{{lookup}}` is the lookup service's port.
fn config(rules: &str) -> String {
    format!(
        "global\n    lua-load {{{{dir}}}}/t.lua\ndefaults\n    mode http\n    timeout connect 5s\n    timeout client 5s\n    timeout server 5s\n    log stdout format raw local0\nfrontend fe\n    bind 127.0.0.1:{{{{fe}}}}\n{rules}\n    default_backend be\nbackend be\n    server s1 127.0.0.1:{{{{be}}}}\nbackend be2\n    server s1 127.0.0.1:{{{{be2}}}}\n"
    )
}

struct Setup {
    be: Backend,
    be2: Backend,
    lookup: Backend,
}

impl Setup {
    fn new() -> Setup {
        Setup { be: http_app(), be2: Backend::http(b"two"), lookup: lookup_service() }
    }

    fn start(&self, rules: &str) -> Proxy {
        ProxyBuilder::new(&config(rules))
            .bin(moonproxy_bin())
            .file("t.lua", SCRIPT)
            .port("be", self.be.port())
            .port("be2", self.be2.port())
            .port("lookup", self.lookup.port())
            .start()
    }
}

/// A line-based lookup service: for each line (a user name) it answers one line, the
/// user's backend (`be2` for `vip`, else `be`) and whether the user is blocked.
fn lookup_service() -> Backend {
    Backend::custom(|conn, stats| {
        let mut reader = BufReader::new(conn.try_clone().expect("clone"));
        let mut conn = conn;
        let mut line = String::new();
        while reader.read_line(&mut line).unwrap_or(0) > 0 {
            stats.add_request();
            let answer = match line.trim() {
                "vip" => "be2 ok",
                "mallory" => "be blocked",
                _ => "be ok",
            };
            if conn.write_all(format!("{answer}\n").as_bytes()).is_err() {
                return;
            }
            line.clear();
        }
    })
}

const SCRIPT: &str = r#"
local function lookup(txn)
  local s = core.tcp()
  s:settimeout(2)
  assert(s:connect("127.0.0.1", {{lookup}}))
  s:send((txn.sf:req_hdr("x-user") or "") .. "\n")
  local line = s:receive("*l")
  s:close()
  return line or ""
end
core.register_fetches("via_client", function(txn)
  local r = core.httpclient():get{url = "http://127.0.0.1:{{be}}/headers"}
  return r and tostring(r.status) or "none"
end)
core.register_fetches("backend", function(txn) return (lookup(txn):match("^(%S+)")) end)
core.register_fetches("blocked", function(txn) return lookup(txn):match("blocked$") ~= nil end)
core.register_converters("slow_upper", function(s)
  core.msleep(50)
  return string.upper(s)
end)
core.register_converters("yielding", function(s)
  core.yield()
  return s .. "!"
end)
calls = 0
core.register_fetches("count", function(txn)
  calls = calls + 1
  return calls
end)
core.register_fetches("sleepy", function(txn)
  core.msleep(20)
  return "awake"
end)
core.register_fetches("guarded", function(txn)
  local ok = pcall(core.msleep, 20)
  local ok2, err = pcall(function() core.msleep(10) error("late", 0) end)
  local ok3, v = xpcall(function() core.yield() return "x" end, debug.traceback)
  return tostring(ok) .. "," .. tostring(ok2) .. ":" .. err .. "," .. tostring(ok3) .. v
end)
started, released = false, false
core.register_fetches("gate", function(txn)
  if txn.sf:req_hdr("x-role") == "waiter" then
    started = true
    while not released do core.msleep(10) end
    return "released"
  end
  if not started then return "early" end
  released = true
  return "opened"
end)
"#;

fn get(p: &Proxy, request: &str) -> HttpResponse {
    let mut c = p.connect("fe");
    c.http_request(request.as_bytes())
}

/// A header of the request as the test application received it (`/headers` answers
/// with the request head).
fn seen(r: &HttpResponse, name: &str) -> Option<String> {
    let body = std::str::from_utf8(&r.body).ok()?;
    body.lines().find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
    })
}

#[test]
fn a_sleeping_converter_in_set_header_waits_then_sets_the_header() {
    let s = Setup::new();
    let p = s.start("    http-request set-header X-Up %[req.hdr(x-in),lua.slow_upper]\n    http-request set-header X-Y %[str(a),lua.yielding]\n    http-response set-header X-R %[str(r),lua.slow_upper]\n    http-after-response set-header X-After %[str(b),lua.slow_upper]");
    let r = get(&p, "GET /headers HTTP/1.1\r\nHost: a\r\nX-In: abc\r\n\r\n");
    assert_eq!(r.status, 200);
    assert_eq!(seen(&r, "x-up").as_deref(), Some("ABC"));
    assert_eq!(seen(&r, "x-y").as_deref(), Some("a!"));
    assert_eq!(r.header("x-r"), Some("R"), "http-response");
    assert_eq!(r.header("x-after"), Some("B"), "http-after-response");
    assert_eq!(p.count_lines(|l| l.contains("Lua converter")), 0, "no error logged");
}

#[test]
fn a_fetch_using_a_socket_chooses_the_backend_and_denies() {
    let s = Setup::new();
    let p = s.start("    http-request deny if { lua.blocked -m bool }\n    use_backend %[lua.backend]");
    let r = get(&p, "GET /headers HTTP/1.1\r\nHost: a\r\nX-User: vip\r\n\r\n");
    assert_eq!((r.status, r.body.as_slice()), (200, &b"two"[..]), "use_backend by the lookup");
    let r = get(&p, "GET /headers HTTP/1.1\r\nHost: a\r\nX-User: alice\r\n\r\n");
    assert_eq!(r.status, 200);
    assert_eq!(seen(&r, "x-user").as_deref(), Some("alice"), "the application answered");
    let r = get(&p, "GET /headers HTTP/1.1\r\nHost: a\r\nX-User: mallory\r\n\r\n");
    assert_eq!(r.status, 403, "denied by the ACL's lookup");
    // One lookup for the ACL of each request, one for use_backend of the two let in.
    assert_eq!(s.lookup.stats().requests(), 5);
}

#[test]
fn a_fetch_using_the_http_client_in_a_rule() {
    let s = Setup::new();
    let p = s.start("    http-request set-header X-Status %[lua.via_client]");
    let r = get(&p, "GET /headers HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(r.status, 200);
    assert_eq!(seen(&r, "x-status").as_deref(), Some("200"));
}

#[test]
fn a_call_that_completed_is_not_made_again_when_its_rule_runs_again() {
    let s = Setup::new();
    let p = s.start("    http-request set-header X-C %[lua.count]-%[lua.sleepy]-%[lua.count]");
    let r = get(&p, "GET /headers HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(seen(&r, "x-c").as_deref(), Some("1-awake-2"));
    let r = get(&p, "GET /headers HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(seen(&r, "x-c").as_deref(), Some("3-awake-4"));
}

#[test]
fn a_waiting_converter_whose_input_changes_between_evaluations_completes() {
    // `uuid` differs at each evaluation of the rule: the parked call is found again by
    // its site and completes on the input it started with.
    let s = Setup::new();
    let p = s.start("    http-request set-header X-U %[uuid,lua.slow_upper]");
    let r = get(&p, "GET /headers HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(r.status, 200);
    let u = seen(&r, "x-u").unwrap_or_default();
    assert_eq!(u.len(), 36, "{u:?}");
    assert_eq!(u, u.to_uppercase());
}

#[test]
fn pcall_and_xpcall_around_a_yield_in_a_fetch() {
    let s = Setup::new();
    let p = s.start("    http-request set-header X-G %[lua.guarded]");
    let r = get(&p, "GET /headers HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(seen(&r, "x-g").as_deref(), Some("true,false:late,truex"));
}

#[test]
fn a_waiting_fetch_does_not_hold_another_client() {
    let s = Setup::new();
    let p = s.start("    http-request set-header X-Gate %[lua.gate]");
    // The waiter's fetch sleeps until another request's fetch releases it: were the
    // first one holding the proxy, neither would ever answer.
    let mut waiter = p.connect("fe");
    waiter.send(b"GET /headers HTTP/1.1\r\nHost: a\r\nX-Role: waiter\r\n\r\n");
    let mut opened = false;
    for _ in 0..200 {
        let r = get(&p, "GET /headers HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(r.status, 200);
        match seen(&r, "x-gate").as_deref() {
            Some("opened") => {
                opened = true;
                break;
            }
            Some("early") => std::thread::sleep(Duration::from_millis(10)),
            other => panic!("{other:?}"),
        }
    }
    assert!(opened, "the waiter's fetch never started");
    let r = waiter.read_http_response();
    assert_eq!(seen(&r, "x-gate").as_deref(), Some("released"));
}

#[test]
fn a_fetch_yielding_in_a_log_format_fails_clearly_and_the_request_succeeds() {
    let s = Setup::new();
    let p = s.start("    log global\n    log-format \"log:%ST:%[lua.sleepy]:\"");
    let r = get(&p, "GET /headers HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(r.status, 200);
    p.wait_for_line(
        |l| l.ends_with("Lua sample-fetch 'sleepy': lua.sleepy: cannot yield here (log-format at stream end)."),
        DEADLINE,
    );
    p.wait_for_line(|l| l.contains("log:200:-:"), DEADLINE);
}

#[test]
fn tcp_request_content_rules_and_tcp_use_backend_wait_for_lua_fetches() {
    let s = Setup::new();
    let echo = Backend::echo();
    let cfg = format!(
        "{}frontend ft_reject\n    mode tcp\n    bind 127.0.0.1:{{{{ft1}}}}\n    tcp-request content reject if {{ lua.sleepy -m str awake }}\n    default_backend echo\nfrontend ft_pick\n    mode tcp\n    bind 127.0.0.1:{{{{ft2}}}}\n    tcp-request content set-var(sess.s) lua.sleepy\n    tcp-request content reject unless {{ var(sess.s) -m str awake }}\n    use_backend %[lua.tcp_pick]\nfrontend fh\n    bind 127.0.0.1:{{{{fh}}}}\n    tcp-request content set-var(txn.k) str(k),lua.slow_upper\n    http-request set-header X-K %[var(txn.k)]\n    default_backend be\nbackend echo\n    mode tcp\n    server s1 127.0.0.1:{{{{echo}}}}\n",
        config("").replace("\nbackend be2\n", "\nbackend be2_unused\n")
    );
    let script = format!("{SCRIPT}\ncore.register_fetches(\"tcp_pick\", function(txn) core.msleep(20) return \"echo\" end)\n");
    let p = ProxyBuilder::new(&cfg)
        .bin(moonproxy_bin())
        .file("t.lua", &script)
        .port("be", s.be.port())
        .port("be2", s.be2.port())
        .port("lookup", s.lookup.port())
        .port("echo", echo.port())
        .start();
    let mut c = p.connect("ft1");
    c.send(b"hello\n");
    let (got, _) = c.recv_until_close();
    assert!(got.is_empty(), "rejected after the fetch woke: {got:?}");
    let mut c = p.connect("ft2");
    c.send(b"hello\n");
    assert_eq!(c.recv_until(b"\n"), b"hello\n", "the rules waited, use_backend picked echo");
    let mut c = p.connect("fh");
    let r = c.http_request(b"GET /headers HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(seen(&r, "x-k").as_deref(), Some("K"), "HTTP mode tcp-request content");
}
