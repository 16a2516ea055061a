//! `core.tcp()` sockets and `core.httpclient()` on the reactor, end to end: tasks talking to
//! backends written here, and the same scripts run on HAProxy 2.6 where the answers are
//! deterministic.
//!
//! Scripts report with `core.Alert("R <name> <values>")`: both programs print that on stderr
//! as `[ALERT] (pid) : R ...`; [`results`] collects the part after `R `.

mod common;
use common::*;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// A `listen` proxy (both programs need one to start) and the script `{{dir}}/t.lua`.
const CONFIG: &str = "global\n    lua-load {{dir}}/t.lua\ndefaults\n    mode tcp\n    timeout connect 5s\n    timeout client 5s\n    timeout server 5s\nlisten fe\n    bind 127.0.0.1:{{fe}}\n    server s1 127.0.0.1:{{be}}\n";

/// Lua helpers prepended to every script: `show(name, ...)` prints the values on one line,
/// with `nil` and escaped line ends, so the two programs can be compared line by line.
const PRELUDE: &str = r#"
local function show(name, ...)
  local t = table.pack(...)
  local parts = {}
  for i = 1, t.n do
    parts[i] = tostring(t[i]):gsub("\r", "\\r"):gsub("\n", "\\n")
  end
  core.Alert("R " .. name .. " " .. table.concat(parts, "|"))
end
"#;

/// Runs `script` (with [`PRELUDE`]) on `bin` until its line `R done` appears; returns the
/// `R` lines in order.
fn run_script(bin: &std::path::Path, script: &str, vars: &[(&str, String)]) -> Vec<String> {
    let mut b = ProxyBuilder::new(CONFIG)
        .bin(bin)
        .file("t.lua", &format!("{PRELUDE}\n{script}"))
        .free_port("be");
    for (k, v) in vars {
        b = b.var(k, v);
    }
    let p = b.start();
    p.wait_for_line(
        |l| l.ends_with(" : R done") || l.ends_with(" : R done "),
        Duration::from_secs(20),
    );
    results(&p)
}

fn results(p: &Proxy) -> Vec<String> {
    p.lines()
        .iter()
        .filter_map(|l| {
            l.text
                .split_once(" : R ")
                .map(|(_, r)| r.trim_end().to_string())
        })
        .collect()
}

/// A line protocol in the style of redis: `PING` → `+PONG`, `ECHO x` → `$len` then `x`,
/// `BYTES` → ten bytes with no line end, `ALL` → two lines then close, `CLOSE` → `partial`
/// then close, `SILENT` → nothing.
fn redis_like() -> Backend {
    Backend::custom(|stream: TcpStream, _| {
        let mut out = stream.try_clone().unwrap();
        let mut reader = BufReader::new(stream);
        let mut line = String::new();
        while reader.read_line(&mut line).unwrap_or(0) > 0 {
            let cmd = line.trim_end().to_string();
            line.clear();
            let reply: &[u8] = match cmd
                .split_once(' ')
                .map_or((cmd.as_str(), ""), |(a, b)| (a, b))
            {
                ("PING", _) => b"+PONG\r\n",
                ("ECHO", arg) => {
                    let _ = out.write_all(format!("${}\r\n{arg}\r\n", arg.len()).as_bytes());
                    continue;
                }
                ("BYTES", _) => b"abcdefghij",
                ("ALL", _) => {
                    let _ = out.write_all(b"line1\nline2\r\n");
                    return;
                }
                ("CLOSE", _) => {
                    let _ = out.write_all(b"partial");
                    return;
                }
                _ => continue,
            };
            let _ = out.write_all(reply);
        }
    })
}

const REDIS_SCRIPT: &str = r#"
local ok, err = pcall(core.tcp)
show("body", ok, err and err:gsub("^.*: socket", "socket"))
core.register_task(function()
  local s = core.tcp()
  show("connect", s:connect("127.0.0.1", {{port}}))
  show("peer", s:getpeername())
  show("sockname", s:getsockname():match("^127%.0%.0%.1:%d+$") ~= nil)
  show("send", s:send("PING\r\n"))
  show("line", s:receive())
  show("send", s:send("xxECHO hello world\r\nyy", 3, -3))
  show("bulk", s:receive("*l"))
  show("bulk", s:receive(13))
  show("send", s:send("BYTES\n"))
  show("bytes", s:receive(3))
  show("bytes", s:receive(7))
  show("i>j", s:send("abc", 3, 2))
  show("send", s:send("ALL\n"))
  show("all", s:receive("*a"))
  show("all again", s:receive("*a"))
  show("line after eof", s:receive("*l"))
  show("settimeout", s:settimeout(1))
  show("setoption", s:setoption("keepalive", true))
  show("close", s:close())
  show("send closed", s:send("x"))
  show("recv closed", s:receive())
  show("peer closed", s:getpeername())
  local c = core.tcp()
  c:connect("127.0.0.1:{{port}}")
  c:send("CLOSE\n")
  show("partial", c:receive("*l"))
  show("partial again", c:receive("*l"))
  show("refused", core.tcp():connect("127.0.0.1", {{refused}}))
  show("unconnected peer", core.tcp():getpeername())
  show("ipv4@", core.tcp():connect("ipv4@127.0.0.1:{{port}}"))
  show("port string", core.tcp():connect("127.0.0.1", "{{port}}"))
  local function err(f) local ok, e = pcall(f) return ok, (tostring(e):gsub("^[^:]*:%d+: ", "")) end
  show("name", err(function() return core.tcp():connect("localhost", 80) end))
  show("no port", err(function() return core.tcp():connect("127.0.0.1") end))
  show("no args", err(function() return core.tcp().connect() end))
  show("bad pattern", err(function() return s:receive("*L") end))
  show("bad size", err(function() return s:receive(-1) end))
  show("bad port", err(function() return core.tcp():connect("127.0.0.1", "x") end))
  show("settimeout args", err(function() return s:settimeout() end))
  show("settimeout neg", err(function() return s:settimeout(-1) end))
  show("settimeout type", err(function() return s:settimeout("x") end))
  show("ssl args", err(function() return s:connect_ssl("127.0.0.1") end))
  local t = core.tcp()
  t:settimeout(0.2)
  t:connect("127.0.0.1", {{port}})
  t:send("SILENT\n")
  show("timeout", t:receive("*l"))
  show("after timeout", t:receive("*l"))
  show("done")
end)
"#;

fn redis_vars(be: &Backend) -> Vec<(&'static str, String)> {
    vec![
        ("port", be.port().to_string()),
        ("refused", RefusingPort::new().port().to_string()),
    ]
}

#[test]
fn a_task_talks_to_a_redis_like_backend_as_on_haproxy() {
    let be = redis_like();
    let mut outputs = Vec::new();
    for bin in moonproxy_and_haproxy() {
        outputs.push(run_script(&bin, REDIS_SCRIPT, &redis_vars(&be)));
    }
    let ours = &outputs[0];
    let peer = format!("peer 127.0.0.1:{}", be.port());
    let expect = [
        "body false|socket: uninitialized pools.",
        "connect 1",
        peer.as_str(),
        "sockname true",
        "send 6",
        "line +PONG",
        "send 18",
        "bulk $11",
        "bulk hello world\\r\\n",
        "send 6",
        "bytes abc",
        "bytes defghij",
        "i>j 0",
        "send 4",
        "all line1\\nline2\\r\\n",
        "all again nil|connection closed.",
        "line after eof nil|connection closed.",
        "settimeout 1",
        "setoption",
        "close",
        "send closed -1",
        "recv closed nil|connection closed.",
        "peer closed nil",
        "partial partial",
        "partial again nil|connection closed.",
        "refused nil|Can't connect",
        "unconnected peer nil",
        "ipv4@ 1",
        "port string 1",
        "name false|connect: cannot parse destination address 'localhost:'",
        "no port false|connect: port missing",
        "no args false|connect: need at least 2 arguments",
        "bad pattern false|Unsupported pattern.",
        "bad size false|Unsupported size.",
        "bad port false|bad argument #2 to 'connect' (number expected, got string)",
        "settimeout args false|'settimeout' needs 2 arguments",
        "settimeout neg false|settimeout: cannot set negatives values",
        "settimeout type false|bad argument #1 to 'settimeout' (number expected, got string)",
        "ssl args false|'connect_ssl' needs 3 arguments",
        "timeout nil|connection closed.",
        "after timeout nil|connection closed.",
        "done",
    ];
    assert_eq!(ours, &expect, "moonproxy");
    if let Some(haproxy) = outputs.get(1) {
        assert_eq!(haproxy, ours, "HAProxy 2.6 answers the same");
    }
}

#[test]
fn a_byte_count_with_a_prefix_reads_that_many_bytes() {
    // HAProxy 2.6 counts the prefix in the size (receive(4, "PRE") gives "PREa"), against
    // its own documentation and LuaSocket's; moonproxy reads 4 bytes (doc/lua-sockets.md).
    let be = redis_like();
    let script = r#"
core.register_task(function()
  local s = core.tcp()
  s:connect("127.0.0.1", {{port}})
  s:send("BYTES\n")
  show("n", s:receive(4, "PRE"))
  show("rest", s:receive(6, ">"))
  s:close()
  show("done")
end)
"#;
    let out = run_script(&moonproxy_bin(), script, &redis_vars(&be));
    assert_eq!(out, ["n PREabcd", "rest >efghij", "done"]);
}

#[test]
fn fifty_sockets_wait_at_once() {
    // The backend answers only once all 50 connections are open: the 50 tasks must be
    // waiting in receive at the same time, with the reactor serving them all.
    const N: usize = 50;
    let open = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&open);
    let be = Backend::custom(move |stream: TcpStream, _| {
        let mut out = stream.try_clone().unwrap();
        let mut reader = BufReader::new(stream);
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        seen.fetch_add(1, Ordering::SeqCst);
        let all = wait_until(Duration::from_secs(10), || seen.load(Ordering::SeqCst) >= N);
        let _ = out.write_all(if all { b"together\n" } else { b"alone\n" });
    });
    let script = r#"
local left = 50
for i = 1, 50 do
  core.register_task(function()
    local s = core.tcp()
    s:settimeout(20)
    local c = s:connect("127.0.0.1", {{port}})
    s:send("HELLO " .. i .. "\n")
    local r = s:receive()
    s:close()
    show("task", c, r)
    left = left - 1
    if left == 0 then show("done") end
  end)
end
"#;
    let out = run_script(&moonproxy_bin(), script, &[("port", be.port().to_string())]);
    assert_eq!(out.len(), N + 1, "{out:?}");
    assert!(out[..N].iter().all(|l| l == "task 1|together"), "{out:?}");
    assert_eq!(open.load(Ordering::SeqCst), N);
}

#[test]
fn a_socket_left_open_is_closed_when_its_task_ends_and_a_global_one_is_kept() {
    let be = Backend::sink();
    let pong = redis_like();
    let script = r#"
kept = nil
core.register_task(function()
  local s = core.tcp()
  show("lost", s:connect("127.0.0.1", {{sink}}))
  kept = core.tcp()
  show("kept", kept:connect("127.0.0.1", {{pong}}))
end)
core.register_task(function()
  core.msleep(300)
  kept:send("PING\n")
  show("reused", kept:receive())
  show("done")
end)
"#;
    let out = run_script(
        &moonproxy_bin(),
        script,
        &[
            ("sink", be.port().to_string()),
            ("pong", pong.port().to_string()),
        ],
    );
    assert_eq!(out, ["lost 1", "kept 1", "reused +PONG", "done"]);
    // The unreachable socket was closed by the collection at the end of its task.
    assert!(wait_until(DEADLINE, || be.connections() == 1
        && be.stats().active() == 0));
}

#[test]
fn unix_sockets_connect_by_path_and_with_the_prefix() {
    let dir = std::env::temp_dir().join(format!("moonproxy-luasock-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("u.sock");
    let _ = std::fs::remove_file(&path);
    let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
    std::thread::spawn(move || {
        for c in listener.incoming() {
            let Ok(mut c) = c else { return };
            let mut buf = [0u8; 5];
            if c.read_exact(&mut buf).is_ok() {
                let _ = c.write_all(&[b"U:", &buf[..]].concat());
            }
        }
    });
    let script = r#"
core.register_task(function()
  for _, addr in ipairs({ "unix@{{path}}", "{{path}}" }) do
    local s = core.tcp()
    show("connect", s:connect(addr))
    show("names", s:getpeername(), s:getsockname())
    s:send("hello")
    show("recv", s:receive(7))
    s:close()
  end
  show("missing", core.tcp():connect("unix@{{path}}.none"))
  show("done")
end)
"#;
    let out = run_script(
        &moonproxy_bin(),
        script,
        &[("path", path.display().to_string())],
    );
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(
        out,
        [
            "connect 1",
            "names unix|unix",
            "recv U:hello",
            "connect 1",
            "names unix|unix",
            "recv U:hello",
            "missing nil|Can't connect",
            "done",
        ]
    );
}

/// An HTTP/1.1 server: `/cl` answers with Content-Length, `/chunked` chunked with a repeated
/// header, `/close` until close, `/echo` the request's method and body (either framing).
fn http_backend() -> Backend {
    Backend::custom(|stream: TcpStream, _| {
        let mut out = stream.try_clone().unwrap();
        let mut r = BufReader::new(stream);
        let mut head = Vec::new();
        loop {
            let mut line = String::new();
            if r.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            if line == "\r\n" {
                break;
            }
            head.push(line.trim_end().to_string());
        }
        let header = |n: &str| {
            head.iter().find_map(|l| {
                l.split_once(':')
                    .filter(|(k, _)| k.eq_ignore_ascii_case(n))
                    .map(|(_, v)| v.trim().to_string())
            })
        };
        let mut body = Vec::new();
        if let Some(n) = header("content-length") {
            body.resize(n.parse().unwrap(), 0);
            r.read_exact(&mut body).unwrap();
        } else if header("transfer-encoding").is_some() {
            loop {
                let mut size = String::new();
                r.read_line(&mut size).unwrap();
                let n = usize::from_str_radix(size.trim(), 16).unwrap();
                let mut chunk = vec![0; n + 2];
                r.read_exact(&mut chunk).unwrap();
                if n == 0 {
                    break;
                }
                body.extend_from_slice(&chunk[..n]);
            }
        }
        let mut parts = head[0].split(' ');
        let (method, path) = (
            parts.next().unwrap().to_string(),
            parts.next().unwrap().to_string(),
        );
        let reply: Vec<u8> = match path.as_str() {
            "/cl" => b"HTTP/1.1 201 Created\r\nContent-Length: 3\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\n\r\nabc".to_vec(),
            "/chunked" => {
                let x = header("x-test").unwrap_or_default();
                format!("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-Seen: {x}\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n").into_bytes()
            }
            "/close" => b"HTTP/1.1 404 Not Here\r\nContent-Type: text/plain\r\n\r\nbody until close".to_vec(),
            _ => {
                let text = format!("{method} {}", String::from_utf8_lossy(&body));
                format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{text}", text.len()).into_bytes()
            }
        };
        let _ = out.write_all(&reply);
    })
}

const HTTP_SCRIPT: &str = r#"
local function dump(name, r)
  local names = {}
  for k in pairs(r.headers) do names[#names + 1] = k end
  table.sort(names)
  local hs = {}
  for _, k in ipairs(names) do
    if k ~= "content-length" or r.status < 500 then
      local v = r.headers[k]
      hs[#hs + 1] = k .. "=" .. tostring(v[0]) .. (v[1] and ("," .. v[1]) or "")
    end
  end
  show(name, r.status, r.reason, r.body, table.concat(hs, ";"))
end
core.register_task(function()
  local dst = "127.0.0.1:{{port}}"
  local base = "http://127.0.0.1:{{port}}"
  local hc = core.httpclient()
  dump("cl", hc:get{url = base .. "/cl", dst = dst})
  dump("chunked", hc:get{url = base .. "/chunked", dst = dst, headers = {["X-Test"] = {"a"}}})
  dump("close", core.httpclient():get{url = base .. "/close", dst = dst})
  dump("post", core.httpclient():post{url = base .. "/echo", dst = dst, body = "payload"})
  dump("put", core.httpclient():put{url = base .. "/echo", dst = dst, body = "x"})
  dump("delete", core.httpclient():delete{url = base .. "/echo", dst = dst})
  dump("head", core.httpclient():head{url = base .. "/cl", dst = dst})
  local function err(f) local ok, e = pcall(f) return ok, (tostring(e):gsub("^[^:]*:%d+: ", "")) end
  show("unknown key", err(function() return hc:get{url = base, foo = 1} end))
  show("no url", err(function() return hc:get{} end))
  show("no table", err(function() return hc:get() end))
  local r = core.httpclient():get{url = "http://127.0.0.1:{{refused}}/", dst = "127.0.0.1:{{refused}}"}
  show("refused", r.status, r.reason)
  show("done")
end)
"#;

#[test]
fn httpclient_requests_get_haproxy_response_tables() {
    let be = http_backend();
    let vars = [
        ("port", be.port().to_string()),
        ("refused", RefusingPort::new().port().to_string()),
    ];
    let mut outputs = Vec::new();
    for bin in moonproxy_and_haproxy() {
        outputs.push(run_script(&bin, HTTP_SCRIPT, &vars));
    }
    let expect = [
        "cl 201|Created|abc|content-length=3;set-cookie=a=1,b=2",
        "chunked 200|OK|hello world|transfer-encoding=chunked;x-seen=a",
        "close 404|Not Here|body until close|content-type=text/plain",
        "post 200|OK|POST payload|content-length=12",
        "put 200|OK|PUT x|content-length=5",
        "delete 200|OK|DELETE |content-length=7",
        "head 201|Created||content-length=3;set-cookie=a=1,b=2",
        "unknown key false|'foo' invalid parameter name",
        "no url false|'get' need a 'url' argument",
        "no table false|'get' needs a table as argument",
        "refused 503|Service Unavailable",
        "done",
    ];
    assert_eq!(outputs[0], expect, "moonproxy");
    if let Some(haproxy) = outputs.get(1) {
        assert_eq!(haproxy, &outputs[0], "HAProxy 2.6 answers the same");
    }
}

#[test]
fn httpclient_timeout_gives_a_504() {
    let be = Backend::silent();
    let script = r#"
core.register_task(function()
  local r = core.httpclient():get{url = "http://127.0.0.1:{{port}}/", timeout = 200}
  show("timeout", r.status, r.reason)
  show("https", pcall(function() return core.httpclient():get{url = "https://127.0.0.1/"} end))
  show("done")
end)
"#;
    let out = run_script(&moonproxy_bin(), script, &[("port", be.port().to_string())]);
    assert_eq!(out[0], "timeout 504|Gateway Time-out");
    // https now goes over TLS (tests/tls.rs): nothing listens on 443 here, so no error
    // is raised and an answer table comes back.
    assert!(out[1].starts_with("https true|"), "{out:?}");
}

#[test]
fn closing_a_socket_another_task_waits_on_wakes_it() {
    let be = redis_like();
    let script = r#"
shared = nil
core.register_task(function()
  shared = core.tcp()
  shared:connect("127.0.0.1", {{port}})
  show("waiter", shared:receive())
  show("done")
end)
core.register_task(function()
  core.msleep(200)
  local ok, err = pcall(function() return shared:receive() end)
  show("busy", ok, (tostring(err):gsub("^[^:]*:%d+: ", "")))
  shared:close()
end)
"#;
    let out = run_script(&moonproxy_bin(), script, &[("port", be.port().to_string())]);
    assert_eq!(
        out,
        [
            "busy false|socket: another coroutine is already waiting on this socket",
            "waiter nil|connection closed.",
            "done",
        ]
    );
}

#[test]
fn the_read_timeout_counts_from_the_last_data() {
    // Eight bytes 200 ms apart, then the line end: 1.6 s in all, never 1 s without data.
    let be = Backend::custom(|mut stream: TcpStream, _| {
        let mut buf = [0u8; 6];
        if stream.read_exact(&mut buf).is_err() {
            return;
        }
        for b in b"slowdata" {
            std::thread::sleep(Duration::from_millis(200));
            let _ = stream.write_all(&[*b]);
        }
        let _ = stream.write_all(b"\n");
    });
    let script = r#"
core.register_task(function()
  local s = core.tcp()
  s:settimeout(1)
  s:connect("127.0.0.1", {{port}})
  s:send("START\n")
  show("line", s:receive())
  show("done")
end)
"#;
    let out = run_script(&moonproxy_bin(), script, &[("port", be.port().to_string())]);
    assert_eq!(out, ["line slowdata", "done"]);
}

#[test]
fn a_socket_waits_inside_a_script_coroutine() {
    // The wait passes up through coroutine.wrap (doc/lua-ffi.md, rule Y3): the task is
    // suspended, and the inner call still gets its results.
    let be = redis_like();
    let script = r#"
core.register_task(function()
  local fetch = coroutine.wrap(function()
    local s = core.tcp()
    s:connect("127.0.0.1", {{port}})
    s:send("ECHO inner\r\n")
    local len = s:receive()
    local data = s:receive(7)
    s:close()
    return len, data
  end)
  show("wrapped", fetch())
  show("done")
end)
"#;
    let out = run_script(&moonproxy_bin(), script, &[("port", be.port().to_string())]);
    assert_eq!(out, ["wrapped $5|inner\\r\\n", "done"]);
}

#[test]
fn large_transfers_wait_for_the_peer_in_both_directions() {
    // 2 MB in: `*a` collects it all; 2 MB out: `send` waits while the kernel buffers are
    // full and returns the whole count.
    const LEN: u64 = 2 * 1024 * 1024;
    let source = Backend::random(7, LEN);
    let sink = Backend::sink();
    let script = r#"
core.register_task(function()
  local s = core.tcp()
  s:connect("127.0.0.1", {{source}})
  local all = s:receive("*a")
  show("in", #all, s:receive("*a"))
  local o = core.tcp()
  o:connect("127.0.0.1", {{sink}})
  show("out", o:send(string.rep("x", {{len}})))
  o:close()
  show("done")
end)
"#;
    let vars = [
        ("source", source.port().to_string()),
        ("sink", sink.port().to_string()),
        ("len", LEN.to_string()),
    ];
    let out = run_script(&moonproxy_bin(), script, &vars);
    assert_eq!(
        out,
        [
            format!("in {LEN}|nil|connection closed."),
            format!("out {LEN}"),
            "done".into()
        ]
    );
    assert!(
        wait_until(DEADLINE, || sink.stats().bytes_in() == LEN),
        "the sink got {}",
        sink.stats().bytes_in()
    );
}
