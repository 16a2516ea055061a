//! Lua HTTP services (`http-request use-service lua.<name>`) and the `AppletHTTP` class,
//! end to end: the real binary on loopback. Where HAProxy 2.6 is installed the same
//! script and configuration run on it too and the answers are compared.

mod common;
use common::*;
use std::time::Duration;

/// A frontend with `rules`, a backend `be` with one server that is never contacted.
fn config(rules: &str) -> String {
    format!(
        "global\n    lua-load {{{{dir}}}}/t.lua\ndefaults\n    mode http\n    timeout connect 5s\n    timeout client 5s\n    timeout server 5s\n    log stdout format raw local0\nfrontend fe\n    bind 127.0.0.1:{{{{fe}}}}\n    option httplog\n{rules}\n    default_backend be\nbackend be\n    server s1 127.0.0.1:{{{{be}}}}\n"
    )
}

fn start(bin: &std::path::Path, script: &str, rules: &str) -> Proxy {
    ProxyBuilder::new(&config(rules))
        .bin(bin)
        .file("t.lua", script)
        .free_port("be")
        .start()
}

/// The seed's first service, and a few more.
const SERVICES: &str = r#"
core.register_service("hello", "http", function(applet)
  local response = "Hello World !"
  applet:set_status(200)
  applet:add_header("content-length", string.len(response))
  applet:add_header("content-type", "text/plain")
  applet:start_response()
  applet:send(response)
end)
core.register_service("chunk", "http", function(applet)
  applet:start_response()
  applet:send("abc")
  applet:send("defg")
end)
core.register_service("echo", "http", function(applet)
  applet:set_var("txn.v", "var")
  applet:set_var("txn.gone", "x")
  applet:unset_var("txn.gone")
  local first = applet:getline()
  local two = applet:receive(2)
  local rest = applet:receive()
  local r = table.concat({ applet.method, applet.path, applet.qs, applet.version, tostring(applet.length),
    applet.headers["host"][0], tostring(applet.headers["x-m"][1]), "[" .. first .. "]", "[" .. two .. "]",
    "[" .. rest .. "]", type(applet:receive()), applet:get_var("txn.v"), tostring(applet:get_var("txn.gone")) }, " ")
  applet:set_status(201, "Made")
  applet:add_header("content-length", #r)
  applet:start_response()
  applet:send(r)
end)
core.register_service("fail", "http", function(applet)
  error("boom")
end)
core.register_service("nap", "http", function(applet)
  core.msleep(300)
  applet:add_header("content-length", 5)
  applet:start_response()
  applet:send("slept")
end)
core.register_service("t", "tcp", function(applet) end)
core.register_service("nothing", "http", function(applet) end)
core.register_service("early", "http", function(applet)
  applet:send("x")
end)
core.register_service("priv", "http", function(applet)
  applet:set_priv("p")
  applet:add_header("content-length", 1)
  applet:start_response()
  applet:send(applet:get_priv())
end)
"#;

const RULES: &str = "    http-request use-service lua.hello if { path /hello }\n    http-request use-service lua.chunk if { path /chunk }\n    http-request use-service lua.echo if { path_beg /echo }\n    http-request use-service lua.fail if { path /fail }\n    http-request use-service lua.nap if { path /nap }\n    http-request use-service lua.early if { path /early }\n    http-request use-service lua.priv if { path /priv }\n    http-request use-service lua.nothing if { path /nothing }";

/// Reads exactly `n` bytes of a response.
fn raw(c: &mut Client, request: &str, n: usize) -> String {
    c.send(request.as_bytes());
    String::from_utf8_lossy(&c.recv_exact(n)).into_owned()
}

#[test]
fn hello_world_and_chunked_output_are_haproxys_bytes() {
    // HAProxy writes the headers in the order of a Lua table walk (a hash order): the
    // head is compared as a set of lines.
    let hello = "HTTP/1.1 200 OK\r\ncontent-length: 13\r\ncontent-type: text/plain\r\n\r\nHello World !";
    let sorted = |s: String| {
        let (head, body) = s.split_once("\r\n\r\n").unwrap_or((&s, ""));
        let mut lines: Vec<&str> = head.split("\r\n").collect();
        lines[1..].sort();
        format!("{}\r\n\r\n{body}", lines.join("\r\n"))
    };
    let chunk = "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n7\r\nabcdefg\r\n0\r\n\r\n";
    for bin in moonproxy_and_haproxy() {
        let p = start(&bin, SERVICES, RULES);
        let mut c = p.connect("fe");
        // Kept alive after each answer: three on one connection.
        assert_eq!(sorted(raw(&mut c, "GET /hello HTTP/1.1\r\nHost: a\r\n\r\n", hello.len())), hello, "{bin:?}");
        assert_eq!(raw(&mut c, "GET /chunk HTTP/1.1\r\nHost: a\r\n\r\n", chunk.len()), chunk, "{bin:?}");
        assert_eq!(sorted(raw(&mut c, "GET /hello HTTP/1.1\r\nHost: a\r\n\r\n", hello.len())), hello, "{bin:?}");
        // An HTTP/1.0 client gets the body until the close.
        let mut c = p.connect("fe");
        c.send(b"GET /chunk HTTP/1.0\r\n\r\n");
        let (bytes, kind) = c.recv_until_close();
        let text = String::from_utf8_lossy(&bytes);
        assert_eq!(kind, CloseKind::Eof, "{bin:?}");
        assert!(text.starts_with("HTTP/1.0 200 OK\r\n"), "{bin:?}: {text}");
        assert!(text.ends_with("\r\n\r\nabcdefg"), "{bin:?}: {text}");
        assert!(!text.contains("chunked"), "{bin:?}: {text}");
        // Logged as HAProxy logs an applet.
        let line = p.wait_for_line(|l| l.contains("fe/<lua.hello>"), DEADLINE);
        assert!(line.contains(" 0/0/0/0/0 200 "), "{bin:?}: {line}");
        assert!(line.contains(" LR-- "), "{bin:?}: {line}");
        assert!(line.ends_with("\"GET /hello HTTP/1.1\""), "{bin:?}: {line}");
    }
}

#[test]
fn a_service_reads_the_request_and_its_body() {
    let expected = "POST /echo x=1 HTTP/1.1 11 a m2 [line1\n] [li] [ne2] string var nil";
    for bin in moonproxy_and_haproxy() {
        let p = start(&bin, SERVICES, RULES);
        let mut c = p.connect("fe");
        let r = c.http_request(b"POST /echo?x=1 HTTP/1.1\r\nHost: a\r\nX-M: m1\r\nX-M: m2\r\nContent-Length: 11\r\n\r\nline1\nline2");
        assert_eq!(r.status, 201, "{bin:?}");
        assert!(r.head.starts_with("HTTP/1.1 201 Made\r\n"), "{bin:?}: {}", r.head);
        assert_eq!(String::from_utf8_lossy(&r.body), expected, "{bin:?}");
        // A chunked body, sent in two parts: the service sees it whole.
        c.send(b"POST /echo HTTP/1.1\r\nHost: a\r\nX-M: a\r\nX-M: b\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nline1\n\r\n");
        std::thread::sleep(Duration::from_millis(50));
        c.send(b"5\r\nline2\r\n0\r\n\r\n");
        let r = c.read_http_response();
        // `applet.length` of a chunked body: HAProxy gives what had arrived when the
        // service started (6 here), moonproxy the whole body (it waits for it first).
        let body = String::from_utf8_lossy(&r.body).replacen(" 6 a b", " 11 a b", 1);
        assert_eq!(body, "POST /echo  HTTP/1.1 11 a b [line1\n] [li] [ne2] string var nil", "{bin:?}");
    }
}

#[test]
fn a_service_failing_before_its_response_is_a_500_and_the_connection_stays() {
    for bin in moonproxy_and_haproxy() {
        let p = start(&bin, SERVICES, RULES);
        let mut c = p.connect("fe");
        let r = c.http_request(b"GET /fail HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(r.status, 500, "{bin:?}");
        let r = c.http_request(b"GET /hello HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(r.status, 200, "{bin:?}");
        assert_eq!(r.body, b"Hello World !", "{bin:?}");
        // Returning without a response is a 500 too.
        let r = c.http_request(b"GET /nothing HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(r.status, 500, "{bin:?}");
        let file = format!("{}/t.lua", p.dir().display());
        p.wait_for_line(
            |l| l.ends_with(&format!("Lua applet http '<lua.fail>': [state-id 0] runtime error: {file}:31: boom from [C]: in global 'error', {file}:31: in function line 30.")),
            DEADLINE,
        );
        let line = p.wait_for_line(|l| l.contains("fe/<lua.fail>"), DEADLINE);
        assert!(line.contains(" 500 ") && line.contains(" LR-- "), "{bin:?}: {line}");
    }
}

#[test]
fn send_before_start_response_fails_and_the_private_value_is_kept() {
    for bin in moonproxy_and_haproxy() {
        let p = start(&bin, SERVICES, RULES);
        let mut c = p.connect("fe");
        assert_eq!(c.http_request(b"GET /early HTTP/1.1\r\nHost: a\r\n\r\n").status, 500, "{bin:?}");
        let file = format!("{}/t.lua", p.dir().display());
        p.wait_for_line(
            |l| l.contains(&format!("Lua applet http '<lua.early>': [state-id 0] runtime error: {file}:42: Lua: 'send' you must call start_response() before sending data. from ")),
            DEADLINE,
        );
    }
    // As documented (HAProxy 2.6.12 gives nil back here: a deviation, see doc/lua-api.md).
    let p = start(&moonproxy_bin(), SERVICES, RULES);
    let r = p.connect("fe").http_request(b"GET /priv HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(r.body, b"p");
}

#[test]
fn a_sleeping_service_holds_its_stream_only() {
    for bin in moonproxy_and_haproxy() {
        let p = start(&bin, SERVICES, RULES);
        let mut slow = p.connect("fe");
        slow.send(b"GET /nap HTTP/1.1\r\nHost: a\r\n\r\n");
        // Served while the other one sleeps.
        let mut fast = p.connect("fe");
        assert_eq!(fast.http_request(b"GET /hello HTTP/1.1\r\nHost: a\r\n\r\n").status, 200);
        slow.stream().set_nonblocking(true).unwrap();
        let early = slow.stream().peek(&mut [0u8; 1]);
        assert!(early.is_err(), "{bin:?}: the sleeping service answered early: {early:?}");
        slow.stream().set_nonblocking(false).unwrap();
        let r = slow.read_http_response();
        assert_eq!((r.status, r.body.as_slice()), (200, &b"slept"[..]), "{bin:?}");
    }
}

const EXPORTER: &str = r#"
core.register_service("metrics", "http", function(applet)
  local out = {}
  for name, be in pairs(core.backends) do
    if name == "be" then
      local st = be:get_stats()
      out[#out + 1] = string.format('backend_status{backend="%s"} %s', st.pxname, st.status)
      for sname, srv in pairs(be.servers) do
        local s = srv:get_stats()
        out[#out + 1] = string.format('server_weight{backend="%s",server="%s"} %d', s.pxname, s.svname, s.weight)
      end
    end
  end
  local body = table.concat(out, "\n") .. "\n"
  applet:add_header("content-type", "text/plain")
  applet:start_response()
  applet:send(body)
end)
"#;

#[test]
fn a_prometheus_style_service_reads_the_backends_stats() {
    for bin in moonproxy_and_haproxy() {
        let p = start(&bin, EXPORTER, "    http-request use-service lua.metrics");
        let r = p.connect("fe").http_request(b"GET /metrics HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(r.status, 200, "{bin:?}");
        assert_eq!(r.header("transfer-encoding"), Some("chunked"), "{bin:?}");
        assert_eq!(
            String::from_utf8_lossy(&r.body),
            "backend_status{backend=\"be\"} UP\nserver_weight{backend=\"be\",server=\"s1\"} 1\n",
            "{bin:?}"
        );
    }
}

#[test]
fn configuration_errors_are_haproxys() {
    let cases = [
        ("http-request use-service lua.nope", "error detected in frontend 'fe' while parsing 'http-request use-service' rule : 'lua.nope' unknown service name.."),
        ("http-request use-service lua.t", "error detected in frontend 'fe' while parsing 'http-request use-service' rule : Lua TCP services cannot be used on HTTP proxies."),
    ];
    for bin in moonproxy_and_haproxy() {
        for (rule, expected) in cases {
            let o = ProxyBuilder::new(&config(&format!("    {rule}")))
                .bin(&bin)
                .file("t.lua", SERVICES)
                .free_port("be")
                .flags(["-c"])
                .run();
            assert_ne!(o.code(), Some(0), "{bin:?} {rule}");
            let hit = o.stderr.lines().find(|l| l.contains(expected));
            let hit = hit.unwrap_or_else(|| panic!("{bin:?} {rule}: {}", o.stderr));
            assert!(hit.contains(".cfg:12] : "), "{bin:?} names file and line: {hit}");
        }
    }
}

#[test]
fn a_service_waits_for_a_socket_and_answers_with_what_it_read() {
    let echo = Backend::echo();
    let script = r#"
core.register_service("ask", "http", function(applet)
  local s = core.tcp()
  s:settimeout(2)
  assert(s:connect("127.0.0.1", tonumber(applet.qs)))
  s:send("ping\n")
  local line = s:receive("*l")
  s:close()
  applet:add_header("content-length", #line)
  applet:start_response()
  applet:send(line)
end)
"#;
    for bin in moonproxy_and_haproxy() {
        let p = start(&bin, script, "    http-request use-service lua.ask");
        let mut c = p.connect("fe");
        for _ in 0..3 {
            let r = c.http_request(format!("GET /?{} HTTP/1.1\r\nHost: a\r\n\r\n", echo.port()).as_bytes());
            assert_eq!((r.status, r.body.as_slice()), (200, &b"ping"[..]), "{bin:?}");
        }
    }
}

#[test]
fn a_client_leaving_while_its_service_sleeps_does_not_disturb_others() {
    let p = start(&moonproxy_bin(), SERVICES, RULES);
    let mut gone = p.connect("fe");
    gone.send(b"GET /nap HTTP/1.1\r\nHost: a\r\n\r\n");
    std::thread::sleep(Duration::from_millis(50));
    drop(gone);
    // A body that never completes: the client leaves while the service waits for it.
    let mut partial = p.connect("fe");
    partial.send(b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\nabc");
    std::thread::sleep(Duration::from_millis(50));
    drop(partial);
    std::thread::sleep(Duration::from_millis(400));
    let mut c = p.connect("fe");
    for _ in 0..2 {
        assert_eq!(c.http_request(b"GET /hello HTTP/1.1\r\nHost: a\r\n\r\n").body, b"Hello World !");
    }
    let line = p.wait_for_line(|l| l.contains("fe/<lua.echo>"), DEADLINE);
    // As HAProxy 2.6 logs it: the service never answered.
    assert!(line.contains(" 0/0/0/-1/") && line.contains(" -1 0 - - LR-- "), "{line}");
}

const STREAMING: &str = r#"
core.register_service("tick", "http", function(applet)
  applet:start_response()
  applet:send("first")
  -- Waits until the test has seen "first": the test's listener answers then.
  local s = core.tcp()
  s:settimeout(5)
  assert(s:connect("127.0.0.1", tonumber(applet.qs)))
  local go = s:receive("*l")
  s:close()
  applet:send(go)
end)
core.register_service("sized", "http", function(applet)
  applet:add_header("content-length", 6)
  applet:start_response()
  applet:send("abc")
  core.msleep(100)
  applet:send("def")
  core.msleep(50)
end)
"#;

#[test]
fn what_a_service_sends_goes_out_while_it_sleeps() {
    for bin in moonproxy_and_haproxy() {
        let p = start(&bin, STREAMING, "    http-request use-service lua.tick if { path /tick }\n    http-request use-service lua.sized if { path /sized }");
        let gate = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mut c = p.connect("fe");
        c.send(format!("GET /tick?{} HTTP/1.1\r\nHost: a\r\n\r\n", gate.local_addr().unwrap().port()).as_bytes());
        // The head and the first chunk arrive while the service waits on its socket,
        // which the test answers only then.
        let head = c.recv_until(b"\r\n\r\n");
        assert!(String::from_utf8_lossy(&head).contains("transfer-encoding: chunked"), "{bin:?}");
        assert_eq!(c.recv_until(b"first\r\n"), b"5\r\nfirst\r\n", "{bin:?}");
        let (mut peer, _) = gate.accept().unwrap();
        std::io::Write::write_all(&mut peer, b"second\n").unwrap();
        assert_eq!(c.recv_until(b"0\r\n\r\n"), b"6\r\nsecond\r\n0\r\n\r\n", "{bin:?}");
        // Kept alive, also after a response whose body was all sent before the end.
        let r = c.http_request(b"GET /sized HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(r.body, b"abcdef", "{bin:?}");
        let r = c.http_request(b"GET /sized HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(r.body, b"abcdef", "{bin:?}");
    }
}

#[test]
fn a_backend_rule_hands_the_request_to_a_service() {
    let cfg = "global\n    lua-load {{dir}}/t.lua\ndefaults\n    mode http\n    timeout connect 5s\n    timeout client 5s\n    timeout server 5s\n    log stdout format raw local0\nfrontend fe\n    bind 127.0.0.1:{{fe}}\n    option httplog\n    default_backend be\nbackend be\n    http-request use-service lua.hello\n    server s1 127.0.0.1:{{be}}\n";
    for bin in moonproxy_and_haproxy() {
        let p = ProxyBuilder::new(cfg).bin(&bin).file("t.lua", SERVICES).free_port("be").start();
        let mut c = p.connect("fe");
        for _ in 0..2 {
            let r = c.http_request(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n");
            assert_eq!((r.status, r.body.as_slice()), (200, &b"Hello World !"[..]), "{bin:?}");
        }
        let line = p.wait_for_line(|l| l.contains("<lua.hello>"), DEADLINE);
        assert!(line.contains(" fe be/<lua.hello> 0/0/0/0/0 200 "), "{bin:?}: {line}");
    }
}

#[test]
fn a_client_expecting_100_continue_gets_it_before_sending_its_body() {
    for bin in moonproxy_and_haproxy() {
        let p = start(&bin, SERVICES, RULES);
        let mut c = p.connect("fe");
        c.send(b"POST /echo HTTP/1.1\r\nHost: a\r\nX-M: a\r\nX-M: b\r\nExpect: 100-continue\r\nContent-Length: 11\r\n\r\n");
        assert_eq!(c.recv_until(b"\r\n\r\n"), b"HTTP/1.1 100 Continue\r\n\r\n", "{bin:?}");
        c.send(b"line1\nline2");
        let r = c.read_http_response();
        assert_eq!(r.status, 201, "{bin:?}");
        assert!(String::from_utf8_lossy(&r.body).contains("[line1\n] [li] [ne2]"), "{bin:?}");
    }
}

#[test]
fn under_abortonclose_a_client_leaving_ends_a_waiting_service_and_its_socket() {
    let script = r#"
core.register_service("wait", "http", function(applet)
  local s = core.tcp()
  assert(s:connect("127.0.0.1", tonumber(applet.qs)))
  s:receive("*l")
end)
"#;
    // abortonclose is a backend option: the service runs from the backend's rules.
    let cfg = "global\n    lua-load {{dir}}/t.lua\ndefaults\n    mode http\n    timeout connect 5s\n    timeout client 5s\n    timeout server 5s\n    log stdout format raw local0\nfrontend fe\n    bind 127.0.0.1:{{fe}}\n    option httplog\n    default_backend be\nbackend be\n    option abortonclose\n    http-request use-service lua.wait\n    server s1 127.0.0.1:{{be}}\n";
    let p = ProxyBuilder::new(cfg).bin(moonproxy_bin()).file("t.lua", script).free_port("be").start();
    let gate = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut c = p.connect("fe");
    c.send(format!("GET /?{} HTTP/1.1\r\nHost: a\r\n\r\n", gate.local_addr().unwrap().port()).as_bytes());
    let (mut peer, _) = gate.accept().unwrap();
    drop(c);
    // The service's coroutine is closed with the stream: its socket closes.
    peer.set_read_timeout(Some(DEADLINE)).unwrap();
    let n = std::io::Read::read(&mut peer, &mut [0u8; 16]).unwrap();
    assert_eq!(n, 0, "the service's socket was closed");
    let line = p.wait_for_line(|l| l.contains("be/<lua.wait>"), DEADLINE);
    assert!(line.contains(" CD-- ") || line.contains(" CR-- "), "{line}");
}

/// The README's first command runs `examples/hello.cfg`: it must start and answer with
/// no backend (a Lua service), and serve its stats page.
#[test]
fn the_bundled_hello_example_answers_without_a_backend() {
    let root = env!("CARGO_MANIFEST_DIR");
    let cfg = std::fs::read_to_string(format!("{root}/examples/hello.cfg"))
        .unwrap()
        .replace("127.0.0.1:8080", "127.0.0.1:{{fe}}")
        .replace("examples/hello.lua", &format!("{root}/examples/hello.lua"));
    let p = ProxyBuilder::new(&cfg).start();
    let mut c = p.connect("fe");
    let res = c.http_get("/x");
    assert_eq!(res.status, 200);
    assert_eq!(String::from_utf8_lossy(&res.body), "Hello from Lua! You asked for GET /x (request 1).\n");
    let stats = c.http_get("/stats;csv");
    assert_eq!(stats.status, 200);
    assert!(String::from_utf8_lossy(&stats.body).starts_with("# pxname,svname,"), "the stats page answers /stats");
}

const ANSWERS: &str = r#"
core.register_service("hello", "http", function(applet)
  applet:add_header("content-length", 13)
  applet:add_header("x-svc", "1")
  applet:start_response()
  applet:send("Hello World !")
end)
core.register_service("chunk", "http", function(applet)
  applet:add_header("x-svc", "1")
  applet:start_response()
  applet:send("abc")
  applet:send("defg")
end)
"#;

/// HAProxy 2.6 runs the frontend's `http-response` and `http-after-response` rules on a
/// service's answer: they see its status and headers (`status`, `res.hdr`), rewrite it
/// (`set-header`, `del-header`, `set-status`), or answer instead (`deny`, `return`), and
/// the log shows the status sent. (A service run from the frontend: the backend is never
/// chosen, so its rules do not run.)
#[test]
fn response_rules_run_on_a_services_answer() {
    let rules = "    http-request set-var(txn.p) path\n    log-format \"%ST %[var(txn.st)] %[var(txn.h)] %b/%s %tsc\"\n    http-request use-service lua.chunk if { path /chunk }\n    http-request use-service lua.hello\n    http-response set-header x-fe %[res.hdr(x-svc)]-%[status]\n    http-response del-header x-svc if { var(txn.p) -m str /chunk }\n    http-response set-var(txn.st) status\n    http-response set-var(txn.h) res.hdr(x-svc)\n    http-response deny if { var(txn.p) -m str /deny }\n    http-response set-status 202 reason Acc if { var(txn.p) -m str /status }\n    http-response return status 203 content-type text/plain string ret if { var(txn.p) -m str /ret }\n    http-after-response set-header x-after %[status]";
    let cfg = config(rules).replace("\nbackend be\n", "\nbackend be\n    http-response set-header x-be 1\n");
    for bin in moonproxy_and_haproxy() {
        let p = ProxyBuilder::new(&cfg).bin(&bin).file("t.lua", ANSWERS).free_port("be").start();
        let mut c = p.connect("fe");
        let r = c.http_request(b"GET /hello HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!((r.status, r.body.as_slice()), (200, &b"Hello World !"[..]), "{bin:?}");
        assert_eq!(r.header("x-fe"), Some("1-200"), "{bin:?}: {}", r.head);
        assert_eq!(r.header("x-after"), Some("200"), "{bin:?}: {}", r.head);
        assert_eq!(r.header("x-svc"), Some("1"), "{bin:?}: {}", r.head);
        assert_eq!(r.header("x-be"), None, "{bin:?}: {}", r.head);
        // Kept alive; the chunked framing is in the head the rules see, `x-svc` deleted.
        let r = c.http_request(b"GET /chunk HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!((r.status, r.body.as_slice()), (200, &b"abcdefg"[..]), "{bin:?}");
        assert_eq!(r.header("transfer-encoding"), Some("chunked"), "{bin:?}");
        assert_eq!((r.header("x-svc"), r.header("x-fe")), (None, Some("1-200")), "{bin:?}: {}", r.head);
        let r = c.http_request(b"GET /status HTTP/1.1\r\nHost: a\r\n\r\n");
        assert!(r.head.starts_with("HTTP/1.1 202 Acc\r\n"), "{bin:?}: {}", r.head);
        assert_eq!((r.header("x-fe"), r.header("x-after")), (Some("1-200"), Some("202")), "{bin:?}: {}", r.head);
        assert_eq!(r.body, b"Hello World !", "{bin:?}");
        // `deny` on a response is a 502; `return` replaces the service's answer.
        let r = c.http_request(b"GET /deny HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!((r.status, r.header("x-svc")), (502, None), "{bin:?}: {}", r.head);
        let mut c = p.connect("fe");
        let r = c.http_request(b"GET /ret HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!((r.status, r.body.as_slice(), r.header("x-svc")), (203, &b"ret"[..], None), "{bin:?}: {}", r.head);
        // An HTTP/1.0 client asking for keep-alive is told, after the rules' headers.
        let mut c = p.connect("fe");
        for _ in 0..2 {
            let r = c.http_request(b"GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
            assert!(r.head.starts_with("HTTP/1.0 200 OK\r\n"), "{bin:?}: {}", r.head);
            assert_eq!((r.header("x-after"), r.header("connection")), (Some("200"), Some("keep-alive")), "{bin:?}: {}", r.head);
        }
        // The log: the status sent, what the rules read, the service's termination.
        for (status, var) in [("200", "200 1"), ("200", "200 -"), ("202", "200 1"), ("502", "200 1"), ("203", "200 1")] {
            let line = format!("{status} {var} fe/<lua.");
            p.wait_for_line(|l| l.starts_with(&line) && l.ends_with(" LR--"), DEADLINE);
        }
    }
}

/// A service run from a backend: the backend's response rules run, then the
/// frontend's; a Lua `http-response` action may wait (here it sleeps) before the head
/// goes out, and reads the service's headers.
#[test]
fn a_waiting_lua_response_action_holds_the_services_head() {
    let script = format!(
        "{ANSWERS}\ncore.register_action(\"late\", {{ \"http-res\" }}, function(txn)\n  core.msleep(100)\n  txn.http:res_set_header(\"x-late\", txn.http:res_get_headers()[\"x-svc\"][0])\nend)\n"
    );
    let cfg = "global\n    lua-load {{dir}}/t.lua\ndefaults\n    mode http\n    timeout connect 5s\n    timeout client 5s\n    timeout server 5s\nfrontend fe\n    bind 127.0.0.1:{{fe}}\n    http-response set-header x-fe %[res.hdr(x-be)]\n    default_backend be\nbackend be\n    http-request use-service lua.chunk if { path /chunk }\n    http-request use-service lua.hello\n    http-response lua.late\n    http-response set-header x-be 1\n    server s1 127.0.0.1:{{be}}\n";
    for bin in moonproxy_and_haproxy() {
        let p = ProxyBuilder::new(cfg).bin(&bin).file("t.lua", &script).free_port("be").start();
        let mut c = p.connect("fe");
        for path in ["/hello", "/chunk", "/hello"] {
            let r = c.http_request(format!("GET {path} HTTP/1.1\r\nHost: a\r\n\r\n").as_bytes());
            assert_eq!(r.status, 200, "{bin:?} {path}");
            assert_eq!((r.header("x-late"), r.header("x-be"), r.header("x-fe")), (Some("1"), Some("1"), Some("1")), "{bin:?} {path}: {}", r.head);
            let body: &[u8] = if path == "/chunk" { b"abcdefg" } else { b"Hello World !" };
            assert_eq!(r.body, body, "{bin:?} {path}");
        }
    }
}

/// `http-response wait-for-body` on a service's answer: the rules wait while the service
/// runs on (here it sleeps between two sends), then `res.body` is what it sent.
#[test]
fn response_rules_may_wait_for_a_services_body() {
    let script = format!(
        "{ANSWERS}\ncore.register_service(\"slow\", \"http\", function(applet)\n  applet:start_response()\n  applet:send(\"abc\")\n  core.msleep(100)\n  applet:send(\"defg\")\nend)\n"
    );
    let rules = "    http-request use-service lua.chunk if { path /chunk }\n    http-request use-service lua.slow if { path /slow }\n    http-request use-service lua.hello\n    http-response wait-for-body time 2s\n    http-response set-header x-len %[res.body,length]";
    for bin in moonproxy_and_haproxy() {
        let p = start(&bin, &script, rules);
        let mut c = p.connect("fe");
        for (path, body) in [("/hello", "Hello World !"), ("/chunk", "abcdefg"), ("/slow", "abcdefg"), ("/hello", "Hello World !")] {
            let r = c.http_request(format!("GET {path} HTTP/1.1\r\nHost: a\r\n\r\n").as_bytes());
            assert_eq!((r.status, String::from_utf8_lossy(&r.body).as_ref()), (200, body), "{bin:?} {path}");
            assert_eq!(r.header("x-len"), Some(body.len().to_string().as_str()), "{bin:?} {path}: {}", r.head);
        }
    }
}

/// `AppletHTTP.f`, `sf`, `c`, `sc`: a service's native fetches and converters. Its
/// fetches act on its stream, HTTP fetches refused (HAProxy makes a service's `Fetches`
/// without HTTP rights), and each object is kept in the applet.
const FETCHES: &str = r#"
core.register_service("fetches", "http", function(applet)
  local out = {}
  local function try(name, f)
    local ok, v = pcall(f)
    out[#out + 1] = name .. "=" .. tostring(ok) .. ":" .. tostring(v)
  end
  try("f.src", function() return applet.f:src() end)
  try("sf.src", function() return applet.sf:src() end)
  try("f.dst_port", function() return type(applet.f:dst_port()) end)
  try("sf.dst_port", function() return type(applet.sf:dst_port()) end)
  try("f.req_hdr", function() return applet.f:req_hdr("host") end)
  try("sf.req_hdr", function() return applet.sf:req_hdr("host") end)
  try("f.path", function() return applet.f:path() end)
  try("f.method", function() return applet.f:method() end)
  applet:set_var("txn.x", "v1")
  try("f.var", function() return applet.f:var("txn.x") end)
  try("sf.var_none", function() return applet.sf:var("txn.none") end)
  try("c.lower", function() return applet.c:lower("AbC") end)
  try("sc.lower", function() return applet.sc:lower("AbC") end)
  try("c.upper", function() return applet.c:upper(12) end)
  try("kept", function() return rawequal(applet.f, applet.f) and rawequal(applet.sc, applet.sc) end)
  local body = table.concat(out, "\n") .. "\n"
  applet:add_header("content-length", #body)
  applet:start_response()
  applet:send(body)
end)
-- `applet.response`: the headers added so far, by name, 1-based; what the script puts
-- there is what start_response sends.
core.register_service("resp", "http", function(applet)
  applet:add_header("x-a", "1")
  local r = applet.response
  local seen = {}
  for k, v in pairs(r) do seen[#seen + 1] = k .. "=" .. table.concat(v, ",") end
  table.sort(seen)
  applet:add_header("x-b", 2)
  applet:add_header("x-a", "3")
  r["x-direct"] = { "d1", "d2" }
  local body = table.concat(seen, ";") .. " " .. tostring(rawequal(r, applet.response)) .. " " .. r["x-a"][2]
    .. " " .. type(r["x-b"][1]) .. "\n"
  applet:add_header("content-length", #body)
  applet:start_response()
  applet:send(body)
end)
"#;

#[test]
fn a_services_fetches_converters_and_response_table_are_haproxys() {
    let rules = "    http-request use-service lua.fetches if { path /f }\n    http-request use-service lua.resp if { path /r }";
    let expected = "f.src=true:127.0.0.1\nsf.src=true:127.0.0.1\nf.dst_port=true:number\nsf.dst_port=true:string\n\
f.req_hdr=false:the sample-fetch 'req.hdr' needs an HTTP parser which is not available in Lua services\n\
sf.req_hdr=false:the sample-fetch 'req.hdr' needs an HTTP parser which is not available in Lua services\n\
f.path=false:the sample-fetch 'path' needs an HTTP parser which is not available in Lua services\n\
f.method=false:the sample-fetch 'method' needs an HTTP parser which is not available in Lua services\n\
f.var=true:v1\nsf.var_none=true:\nc.lower=true:abc\nsc.lower=true:abc\nc.upper=true:12\nkept=true:true\n";
    for bin in moonproxy_and_haproxy() {
        let p = start(&bin, FETCHES, rules);
        let mut c = p.connect("fe");
        let r = c.http_request(b"GET /f HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(r.status, 200, "{bin:?}: {}", r.head);
        assert_eq!(String::from_utf8_lossy(&r.body), expected, "{bin:?}");
        let r = c.http_request(b"GET /r HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(String::from_utf8_lossy(&r.body), "x-a=1 true 3 string\n", "{bin:?}");
        // Sent in a hash order by both: compared as a set.
        let mut lines: Vec<&str> = r.head.split("\r\n").skip(1).filter(|l| !l.is_empty()).collect();
        lines.sort();
        assert_eq!(
            lines,
            ["content-length: 20", "x-a: 1", "x-a: 3", "x-b: 2", "x-direct: d1", "x-direct: d2"],
            "{bin:?}: {}",
            r.head
        );
    }
}
