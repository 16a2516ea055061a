//! The smaller names of HAProxy 2.6's Lua API, end to end on the real binary (and on
//! HAProxy 2.6 where it is installed, comparing the answers): `tostring()` of every
//! class, `txn:set_tos/set_mark/set_priority_class/set_priority_offset/deflog`,
//! `act.wake_time`, `HTTP.req_set_uri`, the `Map` match constants, and
//! `tune.lua.service-timeout`.

mod common;
use common::*;
use std::time::Duration;

/// A frontend answering with `http-request return` after `rules`, with `lua-load t.lua`.
fn config(global: &str, rules: &str) -> String {
    format!(
        "global\n    lua-load {{{{dir}}}}/t.lua\n{global}defaults\n    mode http\n    timeout connect 5s\n    timeout client 5s\n    timeout server 5s\nfrontend fe\n    bind 127.0.0.1:{{{{fe}}}}\n{rules}\n    http-request return status 200 content-type text/plain lf-string \"%[var(txn.out)]|%[url]\"\n"
    )
}

fn start(bin: &std::path::Path, script: &str, global: &str, rules: &str) -> Proxy {
    ProxyBuilder::new(&config(global, rules))
        .bin(bin)
        .file("t.lua", script)
        .file("m.map", MAP_FILE)
        .start()
}

fn get(p: &Proxy, path: &str) -> HttpResponse {
    let mut c = p.connect("fe");
    c.http_request(format!("GET {path} HTTP/1.1\r\nHost: a\r\n\r\n").as_bytes())
}

/// The text before the `|%[url]` the answer ends with.
fn out(r: &HttpResponse) -> String {
    let body = String::from_utf8_lossy(&r.body).into_owned();
    body.rsplit_once('|').map(|(o, _)| o.to_string()).unwrap_or(body)
}

const TOSTRING: &str = r#"
local function s(v) return (tostring(v):gsub("0x%x+", "ADDR")) end
local map = Map.new("{{dir}}/m.map", Map.str)
core.register_action("names", { "http-req" }, function(txn)
  local px = core.proxies["fe"]
  local srv
  for _, v in pairs(core.proxies["be"].servers) do srv = v end
  local lst
  for _, v in pairs(px.listeners) do lst = v end
  local t = {
    s(txn), s(txn.http), s(txn.f), s(txn.sf), s(txn.c), s(txn.sc), s(txn.req), s(txn.res),
    s(px), s(srv), s(lst), s(core.concat()), s(select(2, Regex.new("a", true))),
    s(map), s(core.parse_addr("10.0.0.0/8")),
    s(core.tcp()), s(core.httpclient()), s(txn:reply()),
    type(getmetatable(txn).__tostring),
  }
  txn:set_var("txn.out", table.concat(t, ","))
end)
"#;

#[test]
fn tostring_gives_what_haproxy_prints_for_each_class() {
    let expected = "HAProxy class TXN,HAProxy class HTTP,HAProxy class Fetches,HAProxy class Fetches,\
        HAProxy class Converters,HAProxy class Converters,HAProxy class Channel,HAProxy class Channel,\
        HAProxy class Proxy,HAProxy class Server,HAProxy class Listener,Concat object: ADDR,\
        HAProxy class Regex,HAProxy class Map,userdata: ADDR,HAProxy class Socket,\
        HAProxy class HTTPClient,table: ADDR,function";
    for bin in moonproxy_and_haproxy() {
        let cfg = config("", "    http-request lua.names") + "backend be\n    server s1 127.0.0.1:9\n";
        let p = ProxyBuilder::new(&cfg).bin(&bin).file("t.lua", TOSTRING).file("m.map", "a 1\n").start();
        let r = get(&p, "/");
        assert_eq!(r.status, 200, "{bin:?}");
        assert_eq!(out(&r), expected, "{bin:?}");
    }
}

const CHECKS: &str = r##"
local function e(f, ...)
  local ok, err = pcall(f, ...)
  return ok and "ok" or tostring(err)
end
core.register_action("checks", { "http-req" }, function(txn)
  local t = {
    e(txn.set_tos, txn, 8), e(txn.set_tos, txn, "x"), e(txn.set_tos, txn), e(txn.set_tos, txn, 1.5),
    e(txn.set_tos, txn, 100000), e(txn.set_tos, txn, -1), e(txn.set_tos, txn, 1, 2),
    e(txn.set_mark, txn, 3), e(txn.set_mark, txn, "y"), e(txn.set_mark, txn),
    e(txn.set_priority_class, txn, 5), e(txn.set_priority_class, txn, 5000), e(txn.set_priority_class, txn, "z"),
    e(txn.set_priority_class, txn),
    e(txn.set_priority_offset, txn, -100), e(txn.set_priority_offset, txn, 100000000),
    e(txn.set_priority_offset, txn),
    e(txn.deflog, txn, "deflog-message"), e(txn.deflog, txn, 12), e(txn.deflog, txn, {}), e(txn.deflog, txn),
    e(act.wake_time, 10), e(act.wake_time, act, 10), e(act.wake_time), e(act.wake_time, "x"),
    select("#", txn:set_tos(0)), select("#", txn:set_priority_class(1)), select("#", txn:deflog("again")),
  }
  txn:set_var("txn.out", table.concat(t, ";"))
end)
"##;

#[test]
fn txn_methods_check_their_arguments_as_haproxy_does() {
    let expected = "ok;bad argument #2 to '?' (number expected, got string);'set_tos' needs 2 arguments;\
        bad argument #2 to '?' (number has no integer representation);ok;ok;'set_tos' needs 2 arguments;\
        ok;bad argument #2 to '?' (number expected, got string);'set_mark' needs 2 arguments;\
        ok;ok;bad argument #2 to '?' (number expected, got string);'set_priority_class' needs 2 arguments;\
        ok;ok;'set_priority_offset' needs 2 arguments;\
        ok;ok;bad argument #2 to '?' (string expected, got table);'deflog' needs 2 arguments;\
        ok;'wake_time' needs 1 arguments;'wake_time' needs 1 arguments;bad argument #1 to '?' (number expected, got string);\
        0;0;0";
    for bin in moonproxy_and_haproxy() {
        let p = start(&bin, CHECKS, "", "    http-request lua.checks");
        let r = get(&p, "/");
        assert_eq!(r.status, 200, "{bin:?}");
        assert_eq!(out(&r), expected, "{bin:?}");
    }
}

const DEFLOG: &str = r#"
core.register_action("dl", { "http-req" }, function(txn, tag)
  if tag == "lua3" then txn:set_loglevel(3) end
  txn:deflog("deflog-" .. tag)
end, 1)
"#;

/// `txn:deflog()` logs at the transaction's level: `info` unless `set-log-level` or
/// `txn:set_loglevel()` changed it (a deviation: HAProxy 2.6 logs at `emerg` by default
/// and one level lower after `set-log-level`).
#[test]
fn deflog_logs_at_the_transaction_log_level() {
    let rules = "    http-request set-log-level notice if { path /notice }\n    http-request lua.dl plain if { path /plain }\n    http-request lua.dl notice if { path /notice }\n    http-request lua.dl lua3 if { path /lua3 }";
    let p = start(&moonproxy_bin(), DEFLOG, "", rules);
    for (path, level) in [("/plain", "info"), ("/notice", "notice"), ("/lua3", "err")] {
        assert_eq!(get(&p, path).status, 200);
        let tag = &path[1..];
        let line = p.wait_for_line(|l| l.contains(&format!("deflog-{tag}")), Duration::from_secs(5));
        assert!(line.starts_with(&format!("[{level}]")), "{path}: {line}");
    }
}

const WAKE: &str = r#"
core.register_action("again", { "http-req" }, function(txn, delay)
  local st = txn:get_priv() or { n = 0, t0 = core.now() }
  txn:set_priv(st)
  st.n = st.n + 1
  if st.n < 3 then
    act.wake_time(tonumber(delay))
    return act.YIELD
  end
  local now = core.now()
  local ms = (now.sec - st.t0.sec) * 1000 + (now.usec - st.t0.usec) // 1000
  txn:set_var("txn.out", "runs=" .. st.n .. " waited=" .. (ms >= 2 * tonumber(delay) - 20 and "enough" or ms))
end, 1)
"#;

/// An action returning `act.YIELD` after `act.wake_time(ms)` runs again from the start,
/// and not sooner than `ms` later. (HAProxy 2.6 runs it at the same times, verified, but
/// then leaves the request hanging until the client timeout: not compared.)
#[test]
fn wake_time_delays_the_next_run_of_a_yielding_action() {
    let p = start(&moonproxy_bin(), WAKE, "", "    http-request lua.again 250");
    let r = get(&p, "/");
    assert_eq!(r.status, 200);
    assert_eq!(out(&r), "runs=3 waited=enough");
}

const SET_URI: &str = r#"
core.register_action("uri", { "http-req" }, function(txn, to)
  local ok = txn.http:req_set_uri(to == "number" and 12 or to)
  local missing = pcall(txn.http.req_set_uri, txn.http)
  txn:set_var("txn.out", tostring(ok) .. " " .. tostring(missing))
end, 1)
"#;

#[test]
fn req_set_uri_rewrites_the_whole_uri() {
    for bin in moonproxy_and_haproxy() {
        let p = start(&bin, SET_URI, "", "    http-request lua.uri /new/path?q=1 if { path /a }\n    http-request lua.uri number if { path /b }\n    http-request set-var(txn.out) str(seen),concat(' ',,) if FALSE");
        let r = get(&p, "/a?old=1");
        assert_eq!(String::from_utf8_lossy(&r.body), "true false|/new/path?q=1", "{bin:?}");
        let r = get(&p, "/b");
        assert_eq!(String::from_utf8_lossy(&r.body), "true false|12", "{bin:?}");
    }
}

const MAP_FILE: &str = "a 1\nab 2\n/x/y dir\nexample.com dom\n";

const MAPS: &str = r#"
core.register_action("maps", { "http-req" }, function(txn)
  local f = "{{dir}}/m.map"
  local t = { Map.found, Map.bool, Map.int, Map.ip, Map.bin, Map.len, Map.str, Map.beg, Map.sub,
              Map.dir, Map.dom, Map["end"], Map.reg, Map.regm }
  for _, m in ipairs({ Map.found, Map.bool, Map.bin, Map.len, Map.regm }) do
    t[#t + 1] = select(2, pcall(Map.new, f, m))
  end
  txn:set_var("txn.out", table.concat(t, ","))
end)
local f = "{{dir}}/m.map"
local maps = { str = Map.new(f, Map.str), beg = Map.new(f, Map.beg), sub = Map.new(f, Map.sub),
               dir = Map.new(f, Map.dir), dom = Map.new(f, Map.dom), ["end"] = Map.new(f, Map["end"]),
               reg = Map.new(f, Map.reg) }
core.register_action("lookup", { "http-req" }, function(txn, kind, key)
  txn:set_var("txn.out", tostring(maps[kind]:lookup(key)))
end, 2)
"#;

#[test]
fn map_constants_without_underscore_work_as_haproxys() {
    for bin in moonproxy_and_haproxy() {
        let cfg = config(
            "",
            "    http-request lua.maps if { path /consts }\n    http-request lua.lookup str ab if { path /str }\n    http-request lua.lookup beg axe if { path /beg }\n    http-request lua.lookup sub xaby if { path /sub }\n    http-request lua.lookup dir /x/y/z if { path /dir }\n    http-request lua.lookup dom www.example.com if { path /dom }\n    http-request lua.lookup end zab if { path /end }\n    http-request lua.lookup reg zab if { path /reg }",
        );
        let p = ProxyBuilder::new(&cfg).bin(&bin).file("t.lua", MAPS).file("m.map", MAP_FILE).start();
        let refused = "'new' doesn't support this match mode.";
        assert_eq!(
            out(&get(&p, "/consts")),
            format!("0,1,2,3,4,5,6,7,8,9,10,11,12,13,{refused},{refused},{refused},{refused},{refused}"),
            "{bin:?}"
        );
        for (path, want) in [("/str", "2"), ("/beg", "1"), ("/sub", "1"), ("/dir", "dir"), ("/dom", "dom"), ("/end", "2"), ("/reg", "1")] {
            assert_eq!(out(&get(&p, path)), want, "{bin:?} {path}");
        }
    }
}

const BUSY: &str = r#"
core.register_service("busy", "http", function(applet)
  local t0 = os.clock()
  while os.clock() - t0 < tonumber(os.getenv("BUSY_SECONDS")) do end
  applet:set_status(200)
  applet:start_response()
  applet:send("done")
end)
"#;

fn busy_proxy(global: &str, seconds: &str) -> Proxy {
    let cfg = format!(
        "global\n    lua-load {{{{dir}}}}/t.lua\n{global}defaults\n    mode http\n    timeout connect 5s\n    timeout client 5s\n    timeout server 5s\nfrontend fe\n    bind 127.0.0.1:{{{{fe}}}}\n    http-request use-service lua.busy\n"
    );
    ProxyBuilder::new(&cfg).file("t.lua", BUSY).env("BUSY_SECONDS", seconds).start()
}

/// A Lua service runs under `tune.lua.service-timeout`, not `session-timeout`.
#[test]
fn services_run_under_the_service_timeout() {
    // A service longer than the session budget but within its own finishes.
    let p = busy_proxy("    tune.lua.session-timeout 100ms\n    tune.lua.service-timeout 10s\n", "0.4");
    let r = get(&p, "/");
    assert_eq!((r.status, r.body.as_slice()), (200, &b"done"[..]));
    // A service longer than its own budget is stopped (and the error logged).
    let p = busy_proxy("    tune.lua.session-timeout 10s\n    tune.lua.service-timeout 150ms\n", "30");
    let r = get(&p, "/");
    assert_ne!(r.status, 200);
    let line = p.wait_for_line(|l| l.contains("execution timeout"), Duration::from_secs(5));
    assert!(line.contains("busy"), "{line}");
}

const TOS: &str = r#"
core.register_action("tos", { "http-req" }, function(txn, tos)
  txn:set_tos(tonumber(tos))
  txn:set_mark(7) -- refused without CAP_NET_ADMIN: ignored, as in HAProxy
  txn:set_var("txn.out", "set")
end, 1)
"#;

/// The proxy's end of the connection `client` made to `fe`, as `ss --tos -e` shows it
/// (`tos:0x20`, `fwmark:0x7`).
fn proxy_side_tos(p: &Proxy, client: &Client) -> String {
    let filter = format!("( sport = :{} and dport = :{} )", p.port("fe"), client.local_port());
    let out = std::process::Command::new("ss")
        .args(["-tnHe", "--tos", "state", "established", &filter])
        .output()
        .expect("ss (iproute2) runs");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Whether this process may set `SO_MARK` (CAP_NET_ADMIN); the proxies run with the
/// same rights.
fn may_set_marks() -> bool {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    socket2::SockRef::from(&l).set_mark(1).is_ok()
}

/// `txn:set_tos()` sets the TOS of the client connection: the proxy's socket shows it;
/// so does `txn:set_mark()` where the kernel lets the proxy set marks.
#[test]
fn set_tos_reaches_the_client_connection() {
    for bin in moonproxy_and_haproxy() {
        let p = start(&bin, TOS, "", "    http-request lua.tos 32 if { path /tos }");
        let mut c = p.connect("fe");
        let r = c.http_request(b"GET /plain HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(r.status, 200, "{bin:?}");
        let before = proxy_side_tos(&p, &c);
        assert!(before.contains("tos:0 ") || before.contains("tos:0\n"), "{bin:?}: {before}");
        let r = c.http_request(b"GET /tos HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(out(&r), "set", "{bin:?}");
        let after = proxy_side_tos(&p, &c);
        assert!(after.contains("tos:0x20"), "{bin:?}: {after}");
        assert_eq!(after.contains("fwmark:0x7"), may_set_marks(), "{bin:?}: {after}");
    }
}
