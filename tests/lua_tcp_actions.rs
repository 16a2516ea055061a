//! Lua actions in TCP rules (`tcp-request content lua.<name>`, `tcp-response content
//! lua.<name>`) and the `Channel` class (`txn.req`, `txn.res`), end to end: the real
//! binary on loopback with backends written here. Where HAProxy 2.6 is installed the
//! same script and configuration run on it too and must give the same answers.
//!
//! Waiting is checked by behaviour, not by time: an action that must wait for bytes
//! sent later is given an inspect delay far longer than the client pauses, so a proxy
//! that did not resume the action on the new bytes fails the test.

mod common;

use common::*;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

enum Step<'a> {
    Send(&'a [u8]),
    Pause(u64),
    /// Half-close the client side.
    Shut,
}
use Step::{Pause, Send, Shut};

/// Plays `steps` on a new connection, then reads until the peer closes (or 5 s pass:
/// then `closed` is false).
fn exchange(addr: SocketAddr, steps: &[Step<'_>]) -> (String, bool) {
    let mut s = TcpStream::connect(addr).unwrap();
    for step in steps {
        match step {
            Send(b) => s.write_all(b).unwrap(),
            Pause(ms) => std::thread::sleep(Duration::from_millis(*ms)),
            Shut => {
                let _ = s.shutdown(std::net::Shutdown::Write);
            }
        }
    }
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    let closed = loop {
        match s.read(&mut buf) {
            Ok(0) => break true,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break true,
            Err(_) => break false,
        }
    };
    (String::from_utf8_lossy(&out).into_owned(), closed)
}

/// A server that reads until the client half-closes, answers `<tag>:<what it read>`
/// and closes.
fn tagged(tag: &'static str) -> Backend {
    Backend::custom(move |mut s, _| {
        let mut got = Vec::new();
        let _ = s.read_to_end(&mut got);
        let mut out = format!("{tag}:").into_bytes();
        out.extend_from_slice(&got);
        let _ = s.write_all(&out);
    })
}

/// A server that reads the client's first bytes, then sends `parts` with 200 ms pauses
/// between them, then closes.
fn speaking(parts: &'static [&'static [u8]]) -> Backend {
    Backend::custom(move |mut s, _| {
        let _ = s.read(&mut [0u8; 64]);
        for (i, p) in parts.iter().enumerate() {
            if i > 0 {
                std::thread::sleep(Duration::from_millis(200));
            }
            let _ = s.write_all(p);
        }
    })
}

const TCP_DEFAULTS: &str = "defaults
    mode tcp
    timeout connect 2s
    timeout client 5s
    timeout server 5s
";

fn proxy(bin: &std::path::Path, script: &str, sections: &str) -> ProxyBuilder {
    ProxyBuilder::new(&format!(
        "global\n    lua-load {{{{dir}}}}/t.lua\n{TCP_DEFAULTS}{sections}"
    ))
    .bin(bin)
    .file("t.lua", script)
}

const ROUTER: &str = r#"
core.register_action("first_line", { "tcp-req" }, function(txn)
  local line = txn.req:getline()
  if line == "DENY\n" then return act.DENY end
  if line:sub(1, 3) == "TWO" then txn:set_var("txn.route", "two") end
  txn.req:insert("[" .. line:sub(1, -2) .. "]")
  txn.req:insert("+tail", txn.req:input())
  txn:set_var("txn.len", txn.req:input())
end)
core.register_action("rewrite", { "tcp-req" }, function(txn)
  local n = txn.req:set("<all>")
  txn.req:prepend("(" .. n .. ")")
  txn.req:remove(-1)
  txn.req:insert("|", -2)
end)
"#;

/// A `tcp-req` action reads the first line with `txn.req:getline()` as it arrives in
/// two pieces (the action waits for the LF), then routes on it, rejects it, or
/// rewrites the stream with `insert`, `append`, `set`, `prepend` and `remove`.
#[test]
fn a_tcp_action_reads_the_first_line_and_routes_rejects_or_rewrites() {
    for bin in moonproxy_and_haproxy() {
        let (one, two) = (tagged("one"), tagged("two"));
        let p = proxy(
            &bin,
            ROUTER,
            "frontend fe
    bind 127.0.0.1:{{fe}}
    tcp-request inspect-delay 30s
    tcp-request content lua.first_line
    use_backend two if { var(txn.route) -m str two }
    default_backend one
frontend rw
    bind 127.0.0.1:{{rw}}
    tcp-request inspect-delay 30s
    tcp-request content lua.rewrite if { req.len ge 4 }
    default_backend one
backend one
    server s 127.0.0.1:{{one}}
backend two
    server s 127.0.0.1:{{two}}
",
        )
        .port("one", one.port())
        .port("two", two.port())
        .start();
        let name = bin.display().to_string();
        let fe = p.addr("fe");
        let got = exchange(fe, &[Send(b"HEL"), Pause(200), Send(b"LO\nrest"), Pause(100), Shut]);
        assert_eq!(got, ("one:[HELLO]rest+tail".into(), true), "{name}");
        let got = exchange(fe, &[Send(b"TWO"), Pause(200), Send(b"\nx"), Pause(100), Shut]);
        assert_eq!(got, ("two:[TWO]x+tail".into(), true), "{name}");
        let got = exchange(fe, &[Send(b"DE"), Pause(200), Send(b"NY\n")]);
        assert_eq!(got, (String::new(), true), "{name}: act.DENY rejects");
        let got = exchange(p.addr("rw"), &[Send(b"abcdef"), Pause(100), Shut]);
        assert_eq!(got, ("one:(5)<a|ll".into(), true), "{name}");
    }
}

const WAITING: &str = r#"
core.register_action("need10", { "tcp-req" }, function(txn)
  local d = txn.req:data(0, 10)
  txn.req:set(string.upper(d) .. "/" .. #d .. "/" .. tostring(txn.req:may_recv()))
end)
core.register_action("get_all", { "tcp-req" }, function(txn)
  local d = txn.req:get()
  txn.req:append("got " .. d)
  txn.req:append("!")
end)
"#;

/// `txn.req:data(0, 10)` waits until 10 bytes came (resumed by the client's bytes, not
/// by the 30 s inspect delay), or gives what there is once the delay expired;
/// `txn.req:get()` waits for data, then removes it.
#[test]
fn channel_reads_wait_for_data_within_the_inspect_delay() {
    for bin in moonproxy_and_haproxy() {
        let be = tagged("be");
        let p = proxy(
            &bin,
            WAITING,
            "listen long
    bind 127.0.0.1:{{long}}
    tcp-request inspect-delay 30s
    tcp-request content lua.need10
    server s 127.0.0.1:{{be}}
listen short
    bind 127.0.0.1:{{short}}
    tcp-request inspect-delay 300ms
    tcp-request content lua.need10
    server s 127.0.0.1:{{be}}
listen get
    bind 127.0.0.1:{{get}}
    tcp-request inspect-delay 30s
    tcp-request content lua.get_all
    server s 127.0.0.1:{{be}}
",
        )
        .port("be", be.port())
        .start();
        let name = bin.display().to_string();
        let got = exchange(p.addr("long"), &[Send(b"abcd"), Pause(200), Send(b"efghijkl"), Pause(100), Shut]);
        assert_eq!(got, ("be:ABCDEFGHIJ/10/true".into(), true), "{name}");
        let got = exchange(p.addr("short"), &[Send(b"abc"), Pause(800), Shut]);
        assert_eq!(got, ("be:ABC/3/true".into(), true), "{name}: the delay expired");
        // `append` adds at the end of the input, as documented; HAProxy 2.6.12 inserts
        // at its start (a defect moonproxy does not copy).
        let got = exchange(p.addr("get"), &[Pause(200), Send(b"xyz"), Pause(100), Shut]);
        let appended = if bin == moonproxy_bin() { "be:got xyz!" } else { "be:!got xyz" };
        assert_eq!(got, (appended.into(), true), "{name}");
    }
}

const RESPONSE: &str = r#"
core.register_action("upper_first", { "tcp-res" }, function(txn)
  local l = txn.res:line()
  txn.res:set(string.upper(l), 0, #l)
  txn.res:prepend(">")
  txn:set_var("txn.resp", tostring(txn.res:is_resp()) .. tostring(txn.req:is_resp()))
end)
"#;

/// A `tcp-res` action waits for the server's first line (sent in two pieces) with
/// `txn.res:line()` and rewrites it before it reaches the client.
#[test]
fn a_tcp_response_action_rewrites_the_servers_bytes() {
    for bin in moonproxy_and_haproxy() {
        let be = speaking(&[b"hello ", b"world\nbye"]);
        let p = proxy(
            &bin,
            RESPONSE,
            "listen li
    bind 127.0.0.1:{{li}}
    tcp-response inspect-delay 30s
    tcp-response content lua.upper_first
    server s 127.0.0.1:{{be}}
",
        )
        .port("be", be.port())
        .start();
        let got = exchange(p.addr("li"), &[Send(b"x")]);
        assert_eq!(got, (">HELLO WORLD\nbye".into(), true), "{bin:?}");
    }
}

const RETURNS: &str = r#"
core.register_action("ret", { "tcp-req" }, function(txn, what)
  return act[what]
end, 1)
"#;

/// The `act.*` return values in TCP: DENY and ERROR close the connection; DONE, STOP
/// and ABORT end the rules (the data is forwarded, a later `reject` is not reached:
/// HAProxy's `abort` leaves closing to the action); CONTINUE goes on with the next rule.
#[test]
fn action_return_values_in_tcp_rules() {
    for bin in moonproxy_and_haproxy() {
        let be = tagged("be");
        let p = proxy(
            &bin,
            RETURNS,
            "listen li
    bind 127.0.0.1:{{li}}
    tcp-request inspect-delay 30s
    tcp-request content lua.ret DENY if { req.payload(0,1) -m str d }
    tcp-request content lua.ret ERROR if { req.payload(0,1) -m str e }
    tcp-request content lua.ret ABORT if { req.payload(0,1) -m str a }
    tcp-request content reject if { req.payload(0,1) -m str a }
    tcp-request content lua.ret DONE if { req.payload(0,1) -m str s }
    tcp-request content lua.ret STOP if { req.payload(0,1) -m str t }
    tcp-request content lua.ret CONTINUE
    tcp-request content reject if { req.payload(0,1) -m str s } || { req.payload(0,1) -m str t } || { req.payload(0,1) -m str c }
    server s 127.0.0.1:{{be}}
",
        )
        .port("be", be.port())
        .start();
        let name = bin.display().to_string();
        let send = |b: &'static [u8]| exchange(p.addr("li"), &[Send(b), Pause(100), Shut]);
        for refused in [&b"d"[..], b"e", b"c"] {
            assert_eq!(send(refused), (String::new(), true), "{name}: {refused:?}");
        }
        assert_eq!(send(b"s"), ("be:s".into(), true), "{name}: DONE");
        assert_eq!(send(b"t"), ("be:t".into(), true), "{name}: STOP");
        assert_eq!(send(b"a"), ("be:a".into(), true), "{name}: ABORT");
        assert_eq!(send(b"x"), ("be:x".into(), true), "{name}: CONTINUE");
    }
}

const HTTP_PROBE: &str = r#"
local function refused(txn, f, ...)
  local ok, err = pcall(f, ...)
  return tostring(ok) .. ":" .. tostring(err)
end
core.register_action("probe", { "tcp-req", "http-req" }, function(txn, where)
  txn:set_var("txn." .. where .. "_data", refused(txn, txn.req.data, txn.req))
  txn:set_var("txn." .. where .. "_set", refused(txn, txn.req.set, txn.req, "x"))
  txn:set_var("txn." .. where .. "_send", refused(txn, txn.res.send, txn.res, "x"))
  txn:set_var("txn." .. where .. "_flags",
    tostring(txn.req:is_resp()) .. "," .. tostring(txn.res:is_resp()) .. "," .. math.type(txn.req:input()))
end, 1)
"#;

/// On an HTTP stream the `Channel` data functions raise HAProxy's error, from a
/// `tcp-request content` action as from an `http-request` one; `is_resp` and `input`
/// answer.
#[test]
fn channels_are_refused_on_http_streams() {
    for bin in moonproxy_and_haproxy() {
        let be = http_app();
        let p = ProxyBuilder::new(
            "global\n    lua-load {{dir}}/t.lua\ndefaults\n    mode http\n    timeout connect 2s\n    timeout client 5s\n    timeout server 5s
frontend fe
    bind 127.0.0.1:{{fe}}
    tcp-request content lua.probe tcp
    http-request lua.probe http
    http-response set-header x-tcp-data %[var(txn.tcp_data)]
    http-response set-header x-tcp-set %[var(txn.tcp_set)]
    http-response set-header x-tcp-send %[var(txn.tcp_send)]
    http-response set-header x-tcp-flags %[var(txn.tcp_flags)]
    http-response set-header x-http-data %[var(txn.http_data)]
    http-response set-header x-http-flags %[var(txn.http_flags)]
    default_backend be
backend be
    server s 127.0.0.1:{{be}}
",
        )
        .bin(&bin)
        .file("t.lua", HTTP_PROBE)
        .port("be", be.port())
        .start();
        let mut c = p.connect("fe");
        let r = c.http_request(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(r.status, 200, "{bin:?}");
        let refused = Some("false:Cannot manipulate HAProxy channels in HTTP mode.");
        for h in ["x-tcp-data", "x-tcp-set", "x-tcp-send", "x-http-data"] {
            assert_eq!(r.header(h), refused, "{bin:?} {h}: {}", r.head);
        }
        assert_eq!(r.header("x-tcp-flags"), Some("false,true,integer"), "{bin:?}");
        assert_eq!(r.header("x-http-flags"), Some("false,true,integer"), "{bin:?}");
    }
}

const FAILING: &str = r#"
core.register_action("boom", { "tcp-req" }, function(txn)
  error("boom")
end)
core.register_action("mark", { "tcp-req" }, function(txn)
  txn.req:prepend("marked:")
end)
"#;

/// A failing action is logged as HAProxy logs it and the rules go on.
#[test]
fn a_script_error_is_logged_and_the_rules_go_on() {
    for bin in moonproxy_and_haproxy() {
        let be = tagged("be");
        let p = proxy(
            &bin,
            FAILING,
            "listen li
    bind 127.0.0.1:{{li}}
    tcp-request inspect-delay 30s
    tcp-request content lua.boom
    tcp-request content lua.mark
    server s 127.0.0.1:{{be}}
",
        )
        .port("be", be.port())
        .start();
        let got = exchange(p.addr("li"), &[Send(b"x"), Pause(100), Shut]);
        assert_eq!(got, ("be:marked:x".into(), true), "{bin:?}");
        let file = format!("{}/t.lua", p.dir().display());
        p.wait_for_line(
            |l| l.ends_with(&format!("Lua function 'boom': [state-id 0] runtime error: {file}:3: boom from [C]: in global 'error', {file}:3: in function line 2.")),
            DEADLINE,
        );
    }
}

const KINDS: &str = r#"
core.register_action("hreq", { "http-req" }, function(txn) end)
core.register_action("treq", { "tcp-req" }, function(txn, a) end, 1)
core.register_action("tres", { "tcp-res" }, function(txn) end)
"#;

/// The `config : ...` alerts of a check, without HAProxy's `[ALERT] (pid) : ` prefix
/// and without its "Did you mean" suggestion (moonproxy makes none).
fn alerts(bin: &std::path::Path, rule: &str, section: &str) -> Vec<String> {
    let o = ProxyBuilder::new(&format!(
        "global\n    lua-load {{{{dir}}}}/t.lua\n{TCP_DEFAULTS}{section}\n    {rule}\n    server s 127.0.0.1:9\n"
    ))
    .bin(bin)
    .file("t.lua", KINDS)
    .flags(["-c"])
    .run();
    assert_ne!(o.code(), Some(0), "{bin:?}: {rule}");
    o.stderr
        .lines()
        .filter_map(|l| l.split_once(" : config : ").map(|(_, m)| m.to_string()))
        .map(|m| match m.split_once(" Did you mean") {
            Some((head, _)) => head.to_string(),
            None => m,
        })
        .filter(|m| m.starts_with("parsing"))
        .collect()
}

/// Unknown Lua actions, actions of another kind and wrong argument counts are refused
/// with HAProxy's messages.
#[test]
fn tcp_lua_actions_are_checked_at_startup_as_haproxy_does() {
    let cases = [
        ("tcp-request content lua.nope", "listen li\n    bind 127.0.0.1:0"),
        ("tcp-request content lua.hreq", "listen li\n    bind 127.0.0.1:0"),
        ("tcp-request content lua.tres", "listen li\n    bind 127.0.0.1:0"),
        ("tcp-request content lua.treq", "listen li\n    bind 127.0.0.1:0"),
        ("tcp-request content lua.treq a b", "listen li\n    bind 127.0.0.1:0"),
        ("tcp-response content lua.treq a", "backend be"),
        ("tcp-response content lua.tres x", "backend be"),
    ];
    let bins = moonproxy_and_haproxy();
    for (rule, section) in cases {
        let ours = alerts(&bins[0], rule, section);
        assert_eq!(ours.len(), 1, "{rule}: {ours:?}");
        for other in &bins[1..] {
            // HAProxy also refuses the port 0 bind of the listen sections.
            let theirs: Vec<String> = alerts(other, rule, section)
                .into_iter()
                .filter(|m| !m.contains("'bind'"))
                .collect();
            let strip = |m: &str| m.split_once("] ").map(|(_, r)| r.to_string()).unwrap_or_default();
            assert_eq!(
                ours.iter().map(|m| strip(m)).collect::<Vec<_>>(),
                theirs.iter().map(|m| strip(m)).collect::<Vec<_>>(),
                "{rule}"
            );
        }
    }
}

const PROBE: &str = r#"
core.register_action("probe", { "tcp-req" }, function(txn)
  local r, out = txn.req, {}
  local function try(tag, f, ...)
    local res = table.pack(pcall(f, ...))
    for i = 1, res.n do res[i] = tostring(res[i]) end
    out[#out + 1] = tag .. " = " .. table.concat(res, ",", 1, res.n)
  end
  try("data()", r.data, r)
  try("data(2)", r.data, r, 2)
  try("data(-3)", r.data, r, -3)
  try("data(0,3)", r.data, r, 0, 3)
  try("data(0,0)", r.data, r, 0, 0)
  try("data(1,-1)", r.data, r, 1, -1)
  try("data(99)", r.data, r, 99)
  try("data(0,-2)", r.data, r, 0, -2)
  try("data(1,2,3)", r.data, r, 1, 2, 3)
  try("line()", r.line, r)
  try("line(3)", r.line, r, 3)
  try("line(0,3)", r.line, r, 0, 3)
  try("line(1,2,3)", r.line, r, 1, 2, 3)
  try("set()", r.set, r)
  try("set(x,0,99)", r.set, r, "x", 0, 99)
  try("set(XY,0,-1)", r.set, r, "XY", 0, -1)
  try("set(ab,1,0)", r.set, r, "ab", 1, 0)
  try("set(a,0,1,2)", r.set, r, "a", 0, 1, 2)
  try("dup", r.dup, r)
  try("insert(ab)", r.insert, r, "ab")
  try("insert(cd,-1)", r.insert, r, "cd", -1)
  try("insert(ef,99)", r.insert, r, "ef", 99)
  try("insert()", r.insert, r)
  try("insert(a,1,2)", r.insert, r, "a", 1, 2)
  try("prepend(pp)", r.prepend, r, "pp")
  try("prepend(a,1)", r.prepend, r, "a", 1)
  try("append()", r.append, r)
  try("dup", r.dup, r)
  try("remove(1,2)", r.remove, r, 1, 2)
  try("remove(-2)", r.remove, r, -2)
  try("remove(0,99)", r.remove, r, 0, 99)
  try("remove(1,2,3)", r.remove, r, 1, 2, 3)
  try("dup", r.dup, r)
  try("dup(1)", r.dup, r, 1)
  try("lens", function() return r:get_in_len(), r:get_out_len(), r:input(), r:output() end)
  try("forward(2)", r.forward, r, 2)
  try("lens", function() return r:input(), r:output(), r:data() end)
  try("set(Q)", r.set, r, "Q")
  try("lens", function() return r:input(), r:output(), r:data() end)
  try("forward()", r.forward, r)
  try("send()", r.send, r)
  try("getline(1)", r.getline, r, 1)
  try("is_full(1)", r.is_full, r, 1)
  try("input(1)", r.input, r, 1)
  try("flags", function() return r:is_full(), r:may_recv(), r:is_resp(), txn.res:is_resp(), txn.http end)
  r:forward(r:input())
  r:send("\n" .. table.concat(out, "\n") .. "\n")
end)
"#;

/// The `Channel` functions' offsets, lengths, results and argument errors, as HAProxy
/// 2.6 gives them: a probe script's report must be the same on both.
#[test]
fn channel_functions_answer_as_haproxy() {
    let mut reports = Vec::new();
    for bin in moonproxy_and_haproxy() {
        let be = tagged("be");
        let p = proxy(
            &bin,
            PROBE,
            "listen li
    bind 127.0.0.1:{{li}}
    tcp-request inspect-delay 30s
    tcp-request content lua.probe if { req.len ge 12 }
    server s 127.0.0.1:{{be}}
",
        )
        .port("be", be.port())
        .start();
        let (got, closed) = exchange(p.addr("li"), &[Send(b"hello\nworld\n"), Pause(200), Shut]);
        assert!(closed, "{bin:?}");
        reports.push((bin, got));
    }
    let (ours, first) = &reports[0];
    assert!(first.contains("data(0,3) = true,hel"), "{ours:?}: {first}");
    for (bin, report) in &reports[1..] {
        for (a, b) in first.lines().zip(report.lines()) {
            assert_eq!(a, b, "{ours:?} vs {bin:?}");
        }
        assert_eq!(first.lines().count(), report.lines().count(), "{first}\n---\n{report}");
    }
}

const SLEEPY: &str = r#"
core.register_action("nap", { "tcp-req" }, function(txn, what)
  txn:set_var("txn.before", "b")
  core.msleep(100)
  txn:set_var("txn.after", "a")
  if what ~= "-" then return act[what] end
end, 1)
core.register_action("tag", { "tcp-req" }, function(txn)
  txn.req:prepend(txn:get_var("txn.before") .. txn:get_var("txn.after") .. ":")
end)
"#;

/// An action that sleeps resumes at the same rule, in TCP mode and in HTTP mode (where
/// `tcp-request content` rules run before the `http-request` rules, which see their
/// variables); its answer then decides: `act.DENY` and `act.ABORT` close an HTTP
/// stream without a response.
#[test]
fn sleeping_actions_resume_at_the_same_rule_in_tcp_and_http_mode() {
    for bin in moonproxy_and_haproxy() {
        let be = tagged("be");
        let p = proxy(
            &bin,
            SLEEPY,
            "listen tcp
    bind 127.0.0.1:{{tcp}}
    tcp-request inspect-delay 5s
    tcp-request content lua.nap -
    tcp-request content lua.tag
    server s 127.0.0.1:{{be}}
frontend http
    mode http
    bind 127.0.0.1:{{http}}
    tcp-request inspect-delay 5s
    tcp-request content lua.nap DENY if { path /deny }
    tcp-request content lua.nap ABORT if { path /abort }
    tcp-request content lua.nap -
    http-request return status 200 content-type text/plain lf-string \"ok %[var(txn.before)]%[var(txn.after)]\"
",
        )
        .port("be", be.port())
        .start();
        let name = bin.display().to_string();
        let got = exchange(p.addr("tcp"), &[Send(b"x"), Pause(300), Shut]);
        assert_eq!(got, ("be:ba:x".into(), true), "{name}");
        let r = p.connect("http").http_request(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!((r.status, r.body.as_slice()), (200, &b"ok ba"[..]), "{name}");
        for path in ["/deny", "/abort"] {
            let got = exchange(p.addr("http"), &[Send(format!("GET {path} HTTP/1.1\r\nHost: a\r\n\r\n").as_bytes())]);
            assert_eq!(got, (String::new(), true), "{name}: {path}");
        }
    }
}

const ENDINGS: &str = r#"
core.register_action("res_ret", { "tcp-res" }, function(txn, what)
  if txn.res:line() == "secret\n" then return act[what] end
end, 1)
core.register_action("done", { "tcp-req" }, function(txn)
  txn:done()
  error("not reached")
end)
"#;

/// A `tcp-res` action's `act.DENY` closes the connection before the server's bytes
/// reach the client; `txn:done()` in a `tcp-req` action closes the stream.
#[test]
fn a_response_action_denies_and_txn_done_closes() {
    for bin in moonproxy_and_haproxy() {
        let (secret, public) = (speaking(&[b"secr", b"et\nmore"]), speaking(&[b"publ", b"ic\nmore"]));
        let be = tagged("be");
        let p = proxy(
            &bin,
            ENDINGS,
            "listen secret
    bind 127.0.0.1:{{secret}}
    tcp-response inspect-delay 30s
    tcp-response content lua.res_ret DENY
    server s 127.0.0.1:{{s}}
listen public
    bind 127.0.0.1:{{public}}
    tcp-response inspect-delay 30s
    tcp-response content lua.res_ret DENY
    server s 127.0.0.1:{{p}}
listen done
    bind 127.0.0.1:{{done}}
    tcp-request content lua.done
    server s 127.0.0.1:{{be}}
",
        )
        .port("s", secret.port())
        .port("p", public.port())
        .port("be", be.port())
        .start();
        let name = bin.display().to_string();
        assert_eq!(exchange(p.addr("secret"), &[Send(b"x")]), (String::new(), true), "{name}");
        assert_eq!(exchange(p.addr("public"), &[Send(b"x")]), ("public\nmore".into(), true), "{name}");
        assert_eq!(exchange(p.addr("done"), &[Send(b"x"), Pause(100), Shut]), (String::new(), true), "{name}");
    }
}
