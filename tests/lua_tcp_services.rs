//! Lua TCP services (`tcp-request content use-service lua.<name>`) and the `AppletTCP`
//! class, end to end: the real binary on loopback, with scripts written the way users
//! write them (an echo service, a redis-style server, CONNECT and SOCKS5 handlers that
//! relay to a backend over `core.tcp()`). Where HAProxy 2.6 is installed the same
//! script and configuration run on it too and the answers are compared.

mod common;
use common::*;
use std::io::{BufRead, BufReader, Write};
use std::time::Duration;

/// A TCP-mode configuration loading `t.lua`, logging to stdout, with `frontends`.
fn config(frontends: &str) -> String {
    format!(
        "global\n    lua-load {{{{dir}}}}/t.lua\ndefaults\n    mode tcp\n    timeout connect 5s\n    timeout client 5s\n    timeout server 5s\n    log stdout format raw local0\n    option tcplog\n{frontends}"
    )
}

/// A frontend `name` on `{{name}}` whose content rules are `rules`.
fn frontend(name: &str, rules: &str) -> String {
    format!("frontend {name}\n    bind 127.0.0.1:{{{{{name}}}}}\n{rules}\n")
}

fn start(bin: &std::path::Path, script: &str, frontends: &str) -> Proxy {
    ProxyBuilder::new(&config(frontends)).bin(bin).file("t.lua", script).start()
}

/// What the client reads until the service closes, and how it closed.
fn until_close(c: &mut Client) -> (String, CloseKind) {
    let (bytes, kind) = c.recv_until_close();
    (String::from_utf8_lossy(&bytes).into_owned(), kind)
}

const BASICS: &str = r#"
core.register_service("echo", "tcp", function(applet)
  local line = applet:getline()
  applet:send("line:" .. line)
  applet:send("three:" .. applet:receive(3) .. "\n")
  local rest = applet:receive()
  applet:send("rest:" .. rest .. "|" .. applet:receive() .. "|" .. applet:getline() .. "\n")
end)
core.register_service("hello", "tcp", function(applet)
  local n = applet:send("Hello World !\n")
  applet:send(math.type(n) .. " " .. n .. "\n")
  applet:send(tostring(applet:get_var("txn.from_rule")) .. " " .. tostring(applet:get_var("sess.nope")) .. "\n")
  applet:set_var("txn.mine", 42)
  applet:send(applet:get_var("txn.mine") .. "\n")
  applet:unset_var("txn.mine")
  applet:send(tostring(applet:get_var("txn.mine")) .. "\n")
  applet:send(applet.sf:src() .. " " .. applet.f:dst_port() .. " " .. applet.sc:upper("ab") .. " " .. tostring(applet.c:lower("CD")) .. "\n")
end)
core.register_service("badsend", "tcp", function(applet)
  local ok, err = pcall(function() return applet:send({}) end)
  applet:send(tostring(ok) .. " " .. err .. "\n")
end)
"#;

/// The echo-style service reads as HAProxy's: a line, exact sizes, until the close;
/// `send` returns the count; variables of the content rules, fetches and converters
/// reach the service; the log names the service as the server.
#[test]
fn reads_sends_variables_and_fetches_are_haproxys() {
    let fes = frontend("echo", "    tcp-request content use-service lua.echo")
        + &frontend("hello", "    tcp-request content set-var(txn.from_rule) str(rule)\n    tcp-request content use-service lua.hello")
        + &frontend("badsend", "    tcp-request content use-service lua.badsend")
        + &frontend("linger", "    timeout client 300ms\n    tcp-request content use-service lua.hello");
    let mut answers = Vec::new();
    for bin in moonproxy_and_haproxy() {
        let p = start(&bin, BASICS, &fes);
        let mut c = p.connect("echo");
        c.send(b"first line\nabcdef");
        assert_eq!(String::from_utf8_lossy(&c.recv_until(b"three:abc\n")), "line:first line\nthree:abc\n", "{bin:?}");
        std::thread::sleep(Duration::from_millis(100));
        c.send(b"ghi");
        c.shutdown_write();
        let echo = until_close(&mut c);
        assert_eq!(echo, ("rest:defghi||\n".to_string(), CloseKind::Eof), "{bin:?}");

        let mut c = p.connect("hello");
        let port = p.port("hello");
        let hello = until_close(&mut c);
        let want = format!("Hello World !\ninteger 14\nrule nil\n42\nnil\n127.0.0.1 {port} AB cd\n");
        assert_eq!(hello, (want, CloseKind::Eof), "{bin:?}");
        drop(c); // the stream ends when the client closes too
        let line = p.wait_for_line(|l| l.contains(" hello hello/<lua.hello> "), DEADLINE);
        answers.push(line.split_once("] ").map(|(_, rest)| rest.to_string()).unwrap_or_default());
        // A client that stays after the service's FIN: `timeout client` ends it (`cD`).
        let mut lingering = p.connect("linger");
        assert_eq!(until_close(&mut lingering).1, CloseKind::Eof, "{bin:?}");
        let line = p.wait_for_line(|l| l.contains(" linger linger/<lua.hello> "), DEADLINE);
        assert_eq!(TcpLog::parse(&line).termination, "cD", "{bin:?}: {line}");
        drop(lingering);

        let mut c = p.connect("badsend");
        let (text, _) = until_close(&mut c);
        assert!(text.starts_with("false ") && text.contains("bad argument #1 to 'send' (string expected, got table)"), "{bin:?}: {text}");

        let line = p.wait_for_line(|l| l.contains(" echo echo/<lua.echo> "), DEADLINE);
        let log = TcpLog::parse(&line);
        assert!(log.timers.starts_with("0/0/"), "{bin:?}: {line}");
        assert_eq!((log.bytes, log.termination), ("40", "--"), "{bin:?}: {line}");
    }
    // Timings aside (the last field before the bytes), the log lines are the same.
    let strip = |l: &str| l.split(' ').enumerate().filter(|(i, _)| *i != 2).map(|(_, w)| w).collect::<Vec<_>>().join(" ");
    if answers.len() == 2 {
        assert_eq!(strip(&answers[0]), strip(&answers[1]));
    }
}

/// HAProxy 2.6 loses the private value of an `AppletTCP` (`get_priv` gives nil after
/// `set_priv`); moonproxy keeps it, per applet.
#[test]
fn private_values_are_kept_per_applet() {
    let script = r#"
core.register_service("priv", "tcp", function(applet)
  applet:send(tostring(applet:get_priv()) .. "\n")
  applet:set_priv({ n = applet:getline() })
  core.msleep(10)
  applet:send(applet:get_priv().n)
end)
"#;
    let p = start(&moonproxy_bin(), script, &frontend("fe", "    tcp-request content use-service lua.priv"));
    let mut a = p.connect("fe");
    let mut b = p.connect("fe");
    a.send(b"from a\n");
    b.send(b"from b\n");
    assert_eq!(until_close(&mut a).0, "nil\nfrom a\n");
    assert_eq!(until_close(&mut b).0, "nil\nfrom b\n");
}

const REDIS: &str = r#"
-- A redis-style server: RESP arrays of bulk strings (and inline commands), a Lua table
-- as the store shared by every connection.
local store = {}

local function strip(line) return (line:gsub("\r?\n$", "")) end

local function read_command(applet)
  local line = applet:getline()
  if line == "" then return nil end
  line = strip(line)
  local args = {}
  if line:sub(1, 1) ~= "*" then
    for w in line:gmatch("%S+") do args[#args + 1] = w end
    return args
  end
  for i = 1, tonumber(line:sub(2)) do
    local len = tonumber(strip(applet:getline()):sub(2))
    args[i] = applet:receive(len + 2):sub(1, len)
  end
  return args
end

local function bulk(v)
  if v == nil then return "$-1\r\n" end
  return "$" .. #v .. "\r\n" .. v .. "\r\n"
end

core.register_service("redis", "tcp", function(applet)
  while true do
    local cmd = read_command(applet)
    if cmd == nil then return end
    local name = string.upper(cmd[1] or "")
    if name == "PING" then
      applet:send(cmd[2] and bulk(cmd[2]) or "+PONG\r\n")
    elseif name == "SET" then
      store[cmd[2]] = cmd[3]
      applet:send("+OK\r\n")
    elseif name == "GET" then
      applet:send(bulk(store[cmd[2]]))
    elseif name == "DEL" then
      local n = 0
      for i = 2, #cmd do
        if store[cmd[i]] ~= nil then n = n + 1; store[cmd[i]] = nil end
      end
      applet:send(":" .. n .. "\r\n")
    elseif name == "INCR" then
      local v = math.tointeger(tonumber(store[cmd[2]] or "0"))
      if v == nil then
        applet:send("-ERR value is not an integer or out of range\r\n")
      else
        store[cmd[2]] = tostring(v + 1)
        applet:send(":" .. (v + 1) .. "\r\n")
      end
    elseif name == "QUIT" then
      applet:send("+OK\r\n")
      return
    else
      applet:send("-ERR unknown command '" .. tostring(cmd[1]) .. "'\r\n")
    end
  end
end)
"#;

/// RESP as a client library sends it.
fn resp(args: &[&str]) -> String {
    let mut out = format!("*{}\r\n", args.len());
    for a in args {
        out.push_str(&format!("${}\r\n{a}\r\n", a.len()));
    }
    out
}

/// Reads one RESP reply (simple string, error, integer or bulk string).
fn read_reply(c: &mut Client) -> String {
    let head = String::from_utf8_lossy(&c.recv_until(b"\r\n")).into_owned();
    if let Some(len) = head.strip_prefix('$').and_then(|n| n.trim_end().parse::<usize>().ok()) {
        return head + &String::from_utf8_lossy(&c.recv_exact(len + 2));
    }
    head
}

#[test]
fn a_redis_style_service_answers_pipelines_pieces_and_two_clients() {
    for bin in moonproxy_and_haproxy() {
        let p = start(&bin, REDIS, &frontend("redis", "    tcp-request inspect-delay 1s\n    tcp-request content use-service lua.redis if { req.len gt 0 }"));
        let mut a = p.connect("redis");
        a.send(resp(&["PING"]).as_bytes());
        assert_eq!(read_reply(&mut a), "+PONG\r\n", "{bin:?}");
        // Several commands in one packet, answered in order.
        let pipeline = [resp(&["SET", "k", "v a l"]), resp(&["GET", "k"]), resp(&["INCR", "n"]), resp(&["INCR", "n"]), resp(&["INCR", "k"]), resp(&["DEL", "k", "n", "none"]), resp(&["GET", "k"]), "ping hi\r\n".into()].concat();
        a.send(pipeline.as_bytes());
        let replies: Vec<String> = (0..8).map(|_| read_reply(&mut a)).collect();
        assert_eq!(
            replies,
            ["+OK\r\n", "$5\r\nv a l\r\n", ":1\r\n", ":2\r\n", "-ERR value is not an integer or out of range\r\n", ":2\r\n", "$-1\r\n", "$2\r\nhi\r\n"],
            "{bin:?}"
        );
        // A command in pieces, while a second client is served.
        let mut b = p.connect("redis");
        let set = resp(&["SET", "shared", "from-a"]);
        let (one, two) = set.split_at(9);
        a.send(one.as_bytes());
        b.send(resp(&["PING"]).as_bytes());
        assert_eq!(read_reply(&mut b), "+PONG\r\n", "{bin:?}: b is not held by a's half command");
        for byte in two.as_bytes() {
            a.send(&[*byte]);
            std::thread::sleep(Duration::from_millis(2));
        }
        assert_eq!(read_reply(&mut a), "+OK\r\n", "{bin:?}");
        b.send(resp(&["GET", "shared"]).as_bytes());
        assert_eq!(read_reply(&mut b), "$6\r\nfrom-a\r\n", "{bin:?}: one store for every connection");
        b.send(b"FLUSHALL\r\n");
        assert_eq!(read_reply(&mut b), "-ERR unknown command 'FLUSHALL'\r\n", "{bin:?}");
        b.send(resp(&["QUIT"]).as_bytes());
        assert_eq!(until_close(&mut b), ("+OK\r\n".to_string(), CloseKind::Eof), "{bin:?}");
        a.shutdown_write();
        assert_eq!(until_close(&mut a), (String::new(), CloseKind::Eof), "{bin:?}");
    }
}

const RELAYS: &str = r#"
-- Relays lines between the client and the target until one side closes.
local function relay(applet, sock)
  while true do
    local line = applet:getline()
    if line == "" then break end
    if sock:send(line) == nil then break end
    local answer = sock:receive("*l")
    if answer == nil then break end
    applet:send(answer .. "\n")
  end
  sock:close()
end

local function dial(host, port)
  local sock = core.tcp()
  sock:settimeout(5)
  if sock:connect(host, port) then return sock end
  return nil
end

-- An HTTP CONNECT proxy.
core.register_service("connect", "tcp", function(applet)
  local request = applet:getline()
  local host, port = request:match("^CONNECT ([%d%.]+):(%d+) HTTP/1%.[01]\r?\n$")
  repeat
    local h = applet:getline()
  until h == "\r\n" or h == "\n" or h == ""
  if not host then
    applet:send("HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n")
    return
  end
  local sock = dial(host, tonumber(port))
  if not sock then
    applet:send("HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\n\r\n")
    return
  end
  applet:send("HTTP/1.1 200 Connection established\r\n\r\n")
  relay(applet, sock)
end)

-- A SOCKS5 server without authentication, IPv4 targets.
core.register_service("socks5", "tcp", function(applet)
  local greeting = applet:receive(2)
  if #greeting < 2 or greeting:byte(1) ~= 5 then return end
  local methods = applet:receive(greeting:byte(2))
  if not methods:find("\0", 1, true) then
    applet:send("\5\255")
    return
  end
  applet:send("\5\0")
  local req = applet:receive(4)
  if req:byte(2) ~= 1 or req:byte(4) ~= 1 then
    applet:send("\5\7\0\1\0\0\0\0\0\0")
    return
  end
  local a, p = applet:receive(4), applet:receive(2)
  local sock = dial(string.format("%d.%d.%d.%d", a:byte(1, 4)), p:byte(1) * 256 + p:byte(2))
  if not sock then
    applet:send("\5\5\0\1\0\0\0\0\0\0")
    return
  end
  applet:send("\5\0\0\1\0\0\0\0\0\0")
  relay(applet, sock)
end)
"#;

/// A line server: `echo: <line>` for each line, `bye` and the close after `quit`.
fn line_server() -> Backend {
    Backend::custom(|stream, _| {
        let mut out = stream.try_clone().expect("clone");
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { return };
            if line == "quit" {
                let _ = out.write_all(b"bye\n");
                return;
            }
            if out.write_all(format!("echo: {line}\n").as_bytes()).is_err() {
                return;
            }
        }
    })
}

#[test]
fn connect_and_socks5_handlers_relay_to_the_target() {
    let target = line_server();
    let port = target.port();
    let fes = frontend("connect", "    tcp-request content use-service lua.connect") + &frontend("socks", "    tcp-request content use-service lua.socks5");
    for bin in moonproxy_and_haproxy() {
        let p = start(&bin, RELAYS, &fes);
        // CONNECT, then lines both ways; the client closes first.
        let mut c = p.connect("connect");
        c.send(format!("CONNECT 127.0.0.1:{port} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n").as_bytes());
        assert_eq!(String::from_utf8_lossy(&c.recv_until(b"\r\n\r\n")), "HTTP/1.1 200 Connection established\r\n\r\n", "{bin:?}");
        for i in 0..3 {
            c.send(format!("hello {i}\n").as_bytes());
            assert_eq!(String::from_utf8_lossy(&c.recv_until(b"\n")), format!("echo: hello {i}\n"), "{bin:?}");
        }
        c.shutdown_write();
        assert_eq!(until_close(&mut c), (String::new(), CloseKind::Eof), "{bin:?}");
        // The target closes first: the next exchange ends the relay.
        let mut c = p.connect("connect");
        c.send(format!("CONNECT 127.0.0.1:{port} HTTP/1.0\r\n\r\nquit\n").as_bytes());
        c.recv_until(b"\r\n\r\n");
        assert_eq!(String::from_utf8_lossy(&c.recv_until(b"\n")), "bye\n", "{bin:?}");
        c.send(b"anyone?\n");
        assert_eq!(until_close(&mut c).1, CloseKind::Eof, "{bin:?}");
        // A refused target and a bad request.
        let refused = RefusingPort::new();
        let mut c = p.connect("connect");
        c.send(format!("CONNECT 127.0.0.1:{} HTTP/1.1\r\n\r\n", refused.port()).as_bytes());
        assert!(until_close(&mut c).0.starts_with("HTTP/1.1 502 Bad Gateway\r\n"), "{bin:?}");
        let mut c = p.connect("connect");
        c.send(b"GET / HTTP/1.1\r\n\r\n");
        assert!(until_close(&mut c).0.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{bin:?}");

        // SOCKS5: greeting, connect request, then the relay.
        let mut s = p.connect("socks");
        s.send(&[5, 1, 0]);
        assert_eq!(s.recv_exact(2), [5, 0], "{bin:?}");
        let mut req = vec![5, 1, 0, 1, 127, 0, 0, 1];
        req.extend_from_slice(&port.to_be_bytes());
        // The request in two pieces: exact-size reads wait for the rest.
        s.send(&req[..5]);
        std::thread::sleep(Duration::from_millis(50));
        s.send(&req[5..]);
        assert_eq!(s.recv_exact(10), [5, 0, 0, 1, 0, 0, 0, 0, 0, 0], "{bin:?}");
        s.send(b"through socks\n");
        assert_eq!(String::from_utf8_lossy(&s.recv_until(b"\n")), "echo: through socks\n", "{bin:?}");
        s.shutdown_write();
        assert_eq!(until_close(&mut s).1, CloseKind::Eof, "{bin:?}");
        // No acceptable method.
        let mut s = p.connect("socks");
        s.send(&[5, 1, 2]);
        assert_eq!(s.recv_until_close().0, [5, 255], "{bin:?}");
        p.wait_for_line(|l| l.contains(" socks socks/<lua.socks5> "), DEADLINE);
    }
}

const FAILING: &str = r#"
core.register_service("fail", "tcp", function(applet)
  applet:send("partial\n")
  local line = applet:getline()
  error("boom on " .. (line:gsub("\n", "")))
end)
core.register_service("ok", "tcp", function(applet)
  applet:send("still here\n")
end)
"#;

/// A failing service is logged as HAProxy logs it and its connection closes, after what
/// it sent; other connections are served.
#[test]
fn a_failing_service_is_logged_and_closed() {
    let fes = frontend("fe", "    tcp-request content use-service lua.fail") + &frontend("other", "    tcp-request content use-service lua.ok");
    for bin in moonproxy_and_haproxy() {
        let p = start(&bin, FAILING, &fes);
        let mut c = p.connect("fe");
        assert_eq!(String::from_utf8_lossy(&c.recv_until(b"\n")), "partial\n", "{bin:?}");
        c.send(b"x\n");
        let (rest, kind) = until_close(&mut c);
        assert_eq!(rest, "", "{bin:?}");
        assert_ne!(kind, CloseKind::Timeout, "{bin:?}: the connection closes");
        let alert = p.wait_for_line(|l| l.contains("Lua applet tcp '<lua.fail>'"), DEADLINE);
        let (_, what) = alert.split_once("Lua applet tcp '<lua.fail>': ").unwrap_or_default();
        let what = what.replace(&format!("{}/", p.dir().display()), "");
        assert_eq!(what, "[state-id 0] runtime error: t.lua:5: boom on x from [C]: in global 'error', t.lua:5: in function line 2.", "{bin:?}");
        let mut o = p.connect("other");
        assert_eq!(until_close(&mut o), ("still here\n".to_string(), CloseKind::Eof), "{bin:?}");
        let line = p.wait_for_line(|l| l.contains(" fe fe/<lua.fail> "), DEADLINE);
        assert_eq!(TcpLog::parse(&line).termination, "--", "{bin:?}: {line}");
    }
}

/// `receive(size, timeout)` and `receive(nil, timeout)` (HAProxy 3.2's form): at most the
/// timeout, then what came (nil when nothing did); exact sizes otherwise.
#[test]
fn receive_with_a_size_and_a_timeout() {
    let script = r#"
core.register_service("timed", "tcp", function(applet)
  local function show(v) return "[" .. tostring(v) .. "]" end
  applet:send(show(applet:receive(10, 100)) .. "\n")
  applet:send(show(applet:receive(nil, 50)) .. "\n")
  applet:send(show(applet:receive(3)) .. "\n")
  applet:send(show(applet:receive(2, 5000)) .. "\n")
  applet:send(show(applet:receive(5, 5000)) .. "\n")
end)
"#;
    let p = start(&moonproxy_bin(), script, &frontend("fe", "    tcp-request content use-service lua.timed"));
    let mut c = p.connect("fe");
    c.send(b"abc");
    assert_eq!(String::from_utf8_lossy(&c.recv_until(b"\n")), "[abc]\n", "partial after the timeout");
    assert_eq!(String::from_utf8_lossy(&c.recv_until(b"\n")), "[nil]\n", "nothing came");
    c.send(b"xy");
    std::thread::sleep(Duration::from_millis(150));
    c.send(b"z12");
    assert_eq!(String::from_utf8_lossy(&c.recv_until(b"\n")), "[xyz]\n", "an exact size waits");
    assert_eq!(String::from_utf8_lossy(&c.recv_until(b"\n")), "[12]\n", "enough before the timeout");
    c.send(b"end");
    c.shutdown_write();
    assert_eq!(until_close(&mut c), ("[end]\n".to_string(), CloseKind::Eof), "the close ends a sized read");
}

/// Large transfers: a service reading everything until the close, and one sending more
/// than the client reads at once.
#[test]
fn large_input_and_output_flow() {
    let script = r#"
core.register_service("count", "tcp", function(applet)
  local all = applet:receive()
  applet:send(#all .. "\n")
end)
core.register_service("flood", "tcp", function(applet)
  local chunk = string.rep("0123456789abcdef", 4096)
  for _ = 1, 64 do applet:send(chunk) end
end)
"#;
    let p = start(&moonproxy_bin(), script, &(frontend("count", "    tcp-request content use-service lua.count") + &frontend("flood", "    tcp-request content use-service lua.flood")));
    let mut c = p.connect("count");
    let data = vec![b'x'; 1_000_000];
    c.send(&data);
    c.shutdown_write();
    assert_eq!(until_close(&mut c), ("1000000\n".to_string(), CloseKind::Eof));
    let mut f = p.connect("flood");
    let (bytes, kind) = f.recv_until_close();
    assert_eq!((bytes.len(), kind), (64 * 65536, CloseKind::Eof));
    assert!(bytes.chunks(16).all(|c| c == b"0123456789abcdef"));
}

/// Start-up refuses what HAProxy 2.6 refuses, with its messages.
#[test]
fn invalid_service_rules_are_refused_as_haproxy_refuses_them() {
    let script = "core.register_service(\"t\", \"tcp\", function(a) end)\ncore.register_service(\"h\", \"http\", function(a) end)\n";
    let cases = [
        ("    mode http\n    tcp-request content use-service lua.t", ":13] : Lua TCP services cannot be used on HTTP proxies"),
        ("    tcp-request content use-service lua.h", ":12] : HTTP applets are forbidden from 'tcp-request' rulesets"),
        ("    tcp-request content use-service lua.nope", ":12] : 'content' unknown service name."),
        ("    tcp-request content use-service t", ":12] : 'content' unknown service name."),
        ("    tcp-request content use-service", ":12] : 'tcp-request' expects a service name."),
        ("    tcp-request content use-service lua.t foo", ":12] : 'tcp-request content use-service' only accepts 'if' or 'unless', in frontend 'fe' (got 'foo')"),
    ];
    for bin in moonproxy_and_haproxy() {
        for (rules, want) in cases {
            let cfg = config(&format!("frontend fe\n    bind 127.0.0.1:{{{{fe}}}}\n{rules}\n"));
            let out = ProxyBuilder::new(&cfg).bin(&bin).file("t.lua", script).flags(["-c"]).run();
            assert_eq!(out.code(), Some(1), "{bin:?} {rules}: {out:?}");
            assert!(out.stderr.lines().any(|l| l.contains("[ALERT]") && l.contains(".cfg") && l.ends_with(want)), "{bin:?} {rules}: wanted {want:?} in\n{}", out.stderr);
        }
        let cfg = config("frontend fe\n    mode http\n    bind 127.0.0.1:{{fe}}\n    http-request use-service lua.t\n");
        let out = ProxyBuilder::new(&cfg).bin(&bin).file("t.lua", script).flags(["-c"]).run();
        assert!(out.stderr.contains("while parsing 'http-request use-service' rule : Lua TCP services cannot be used on HTTP proxies."), "{bin:?}: {}", out.stderr);
    }
}

/// A service in a busy loop is preempted: other connections are served meanwhile (one
/// of them ends the loop).
#[test]
fn a_spinning_service_does_not_hold_the_others() {
    let script = r#"
local released = false
core.register_service("spin", "tcp", function(applet)
  local n = 0
  while not released do n = n + 1 end
  applet:send("released\n")
end)
core.register_service("release", "tcp", function(applet)
  released = true
  applet:send("ok\n")
end)
"#;
    let fes = frontend("spin", "    tcp-request content use-service lua.spin") + &frontend("release", "    tcp-request content use-service lua.release");
    for bin in moonproxy_and_haproxy() {
        let p = start(&bin, script, &fes);
        let mut spin = p.connect("spin");
        std::thread::sleep(Duration::from_millis(50));
        let mut release = p.connect("release");
        assert_eq!(until_close(&mut release), ("ok\n".to_string(), CloseKind::Eof), "{bin:?}");
        assert_eq!(until_close(&mut spin), ("released\n".to_string(), CloseKind::Eof), "{bin:?}");
    }
}

/// A client that leaves while its service waits on a `core.tcp()` socket ends the
/// stream; the socket the service had open is closed (the target sees the close) and
/// other connections are served.
#[test]
fn a_client_leaving_closes_the_services_socket() {
    use std::io::Read;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    let closed = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&closed);
    // Reads until the proxy closes, never answers.
    let target = Backend::custom(move |mut stream, _| {
        let mut buf = [0u8; 64];
        while matches!(stream.read(&mut buf), Ok(n) if n > 0) {}
        seen.fetch_add(1, Ordering::SeqCst);
    });
    let script = format!(
        r#"
core.register_service("wait", "tcp", function(applet)
  local sock = core.tcp()
  sock:connect("127.0.0.1", {})
  sock:send("hi\n")
  applet:send("connected\n")
  local never = sock:receive("*l")
  applet:send("unreachable " .. tostring(never))
end)
core.register_service("ok", "tcp", function(applet) applet:send("ok\n") end)
"#,
        target.port()
    );
    let fes = frontend("fe", "    tcp-request content use-service lua.wait") + &frontend("ok", "    tcp-request content use-service lua.ok");
    for bin in moonproxy_and_haproxy() {
        let before = closed.load(Ordering::SeqCst);
        let p = start(&bin, &script, &fes);
        let mut c = p.connect("fe");
        assert_eq!(String::from_utf8_lossy(&c.recv_until(b"\n")), "connected\n", "{bin:?}");
        socket2::SockRef::from(c.stream()).set_linger(Some(Duration::ZERO)).expect("linger");
        drop(c); // a reset
        assert!(wait_until(DEADLINE, || closed.load(Ordering::SeqCst) > before), "{bin:?}: the service's socket is closed");
        let mut o = p.connect("ok");
        assert_eq!(until_close(&mut o), ("ok\n".to_string(), CloseKind::Eof), "{bin:?}");
    }
}
