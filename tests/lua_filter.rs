//! Lua filters (`core.register_filter`, `filter lua.<name>`, `HTTPMessage`), end to end:
//! the real binary in front of the HTTP test application (`common::http_app`, whose
//! `/echo` answers the request body). Where HAProxy 2.6 is installed the same script and
//! configuration run on it too, and the answers must be the same.

mod common;
use common::*;

/// A frontend with `filter lua.<line>` in front of the test application.
fn config(line: &str) -> String {
    format!(
        "global\n    lua-load {{{{dir}}}}/t.lua\ndefaults\n    mode http\n    timeout connect 5s\n    timeout client 5s\n    timeout server 5s\nfrontend fe\n    bind 127.0.0.1:{{{{fe}}}}\n    filter lua.{line}\n    default_backend be\nbackend be\n    server s1 127.0.0.1:{{{{be}}}}\n"
    )
}

fn start(bin: &std::path::Path, script: &str, line: &str, be: &Backend) -> Proxy {
    ProxyBuilder::new(&config(line)).bin(bin).file("t.lua", script).port("be", be.port()).start()
}

fn post(p: &Proxy, path: &str, body: &str) -> HttpResponse {
    let mut c = p.connect("fe");
    let req = format!("POST {path} HTTP/1.1\r\nHost: a\r\nContent-Length: {}\r\n\r\n{body}", body.len());
    c.http_request(req.as_bytes())
}

/// The filter class every script starts with: `F`, HTX-capable, with `new`.
const CLASS: &str = r#"
F = {}
F.id = "test filter"
F.flags = filter.FLT_CFG_FL_HTX
F.__index = F
function F:new()
  local f = setmetatable({ bytes = 0, waits = 0 }, F)
  f.args = self.args
  return f
end
"#;

fn script(body: &str) -> String {
    format!("{CLASS}\n{body}\ncore.register_filter(\"t\", F, function(f, args) f.args = args; return f end)\n")
}

#[test]
fn a_filter_uppercases_response_bodies() {
    let be = http_app();
    let s = script(
        r#"
function F:start_analyze(txn, chn)
  if chn:is_resp() then filter.register_data_filter(self, chn) end
end
function F:http_payload(txn, msg)
  local b = msg:body()
  if b then msg:set(b:upper()) end
end
"#,
    );
    for bin in moonproxy_and_haproxy() {
        let p = start(&bin, &s, "t", &be);
        let r = post(&p, "/echo", "hello filtered world");
        assert_eq!(r.status, 200, "{bin:?}");
        assert_eq!(r.body, b"HELLO FILTERED WORLD", "{bin:?}");
        // The next request on a new connection is filtered by its own instance.
        let r = post(&p, "/echo", "again");
        assert_eq!(r.body, b"AGAIN", "{bin:?}");
    }
}

#[test]
fn a_filter_counts_request_bytes_and_adds_a_response_header() {
    let be = http_app();
    let s = script(
        r#"
function F:start_analyze(txn, chn)
  if not chn:is_resp() then filter.register_data_filter(self, chn) end
end
function F:http_payload(txn, msg)
  self.bytes = self.bytes + msg:input()
end
function F:http_end(txn, msg)
  self.ended = msg:is_resp() and "res" or "req"
end
function F:http_headers(txn, msg)
  if not msg:is_resp() then
    local st = txn.http_req:get_stline()
    self.stline = st.method .. " " .. st.uri .. " " .. st.version
  else
    msg:add_header("x-req-bytes", tostring(self.bytes))
    msg:add_header("x-ended", tostring(self.ended))
    msg:add_header("x-args", table.concat(self.args, ","))
    msg:add_header("x-stline", self.stline)
    msg:add_header("x-code", msg:get_stline().code)
  end
end
"#,
    );
    for bin in moonproxy_and_haproxy() {
        let p = start(&bin, &s, "t a b", &be);
        let r = post(&p, "/echo", "abcdef");
        assert_eq!(r.status, 200, "{bin:?}");
        assert_eq!(r.body, b"abcdef", "{bin:?}");
        assert_eq!(r.header("x-req-bytes"), Some("6"), "{bin:?}: {}", r.head);
        assert_eq!(r.header("x-ended"), Some("req"), "{bin:?}: {}", r.head);
        assert_eq!(r.header("x-args"), Some("a,b"), "{bin:?}");
        assert_eq!(r.header("x-stline"), Some("POST /echo HTTP/1.1"), "{bin:?}");
        assert_eq!(r.header("x-code"), Some("200"), "{bin:?}");
    }
}

#[test]
fn a_filter_rewrites_the_request_body_and_head() {
    let be = http_app();
    let s = script(
        r#"
function F:start_analyze(txn, chn)
  filter.register_data_filter(self, chn)
end
function F:http_headers(txn, msg)
  if not msg:is_resp() then msg:set_path("/echo") end
end
function F:http_payload(txn, msg)
  if not msg:is_resp() then
    local b = msg:body()
    if b then msg:set(b:upper()) end
  end
end
"#,
    );
    for bin in moonproxy_and_haproxy() {
        let p = start(&bin, &s, "t", &be);
        let r = post(&p, "/elsewhere", "lower case");
        assert_eq!(r.status, 200, "{bin:?}");
        assert_eq!(r.body, b"LOWER CASE", "{bin:?}");
    }
}

#[test]
fn a_filter_that_waits_is_called_again() {
    let be = http_app();
    let s = script(
        r#"
function F:http_headers(txn, msg)
  if not msg:is_resp() then return filter.CONTINUE end
  self.waits = self.waits + 1
  if self.waits < 3 then
    filter.wake_time(20)
    return filter.WAIT
  end
  msg:set_header("x-calls", tostring(self.waits))
  return filter.CONTINUE
end
"#,
    );
    for bin in moonproxy_and_haproxy() {
        let p = start(&bin, &s, "t", &be);
        let r = post(&p, "/echo", "x");
        assert_eq!(r.status, 200, "{bin:?}");
        assert_eq!(r.header("x-calls"), Some("3"), "{bin:?}: {}", r.head);
    }
}

#[test]
fn a_failing_request_filter_gets_a_400_and_a_failing_response_filter_a_close() {
    let be = http_app();
    let s = script(
        r#"
function F:http_headers(txn, msg)
  local p = self.path
  if not msg:is_resp() then
    p = msg:get_stline().uri
    self.path = p
    if p == "/error" then error("boom") end
    if p == "/code" then return filter.ERROR end
    return
  end
  if p == "/res-error" then error("boom on the response") end
end
"#,
    );
    for bin in moonproxy_and_haproxy() {
        let p = start(&bin, &s, "t", &be);
        for path in ["/error", "/code"] {
            let r = post(&p, path, "x");
            assert_eq!(r.status, 400, "{bin:?} {path}");
        }
        // The response side: the connection closes with no response.
        let mut c = p.connect("fe");
        c.send(b"POST /res-error HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n\r\nx");
        assert_eq!(c.recv_until_close().0, b"", "{bin:?}");
        let line = p.wait_for_line(|l| l.contains("Lua filter 't' : [state-id 0] runtime error: ") && l.contains("boom on the response"), DEADLINE);
        // The traceback ends with the script's callback, as HAProxy prints it.
        let tb = line.split(" from ").nth(1).unwrap_or_default();
        let last = tb.rsplit(", ").next().unwrap_or_default();
        assert!(tb.starts_with("[C]: in global 'error', ") && last.contains("t.lua:") && last.contains(": in function line "), "{bin:?}: {line}");
        assert!(!line.contains("=txn"), "{bin:?}: {line}");
        // The process goes on.
        assert_eq!(post(&p, "/echo", "ok").body, b"ok", "{bin:?}");
    }
}

#[test]
fn a_yield_in_a_callback_is_refused_and_the_stream_goes_on() {
    let be = http_app();
    let s = script(
        r#"
function F:http_headers(txn, msg)
  if msg:is_resp() then
    core.msleep(10)
    msg:add_header("x-never", "1")
  end
end
"#,
    );
    for bin in moonproxy_and_haproxy() {
        let p = start(&bin, &s, "t", &be);
        let r = post(&p, "/echo", "z");
        assert_eq!(r.status, 200, "{bin:?}");
        assert_eq!(r.header("x-never"), None, "{bin:?}");
        p.wait_for_line(|l| l.contains("yield functions like core.tcp() or core.sleep() are not allowed from 'http_headers' callback"), DEADLINE);
    }
}

#[test]
fn an_unregistered_filter_is_refused_with_its_file_and_line() {
    for bin in moonproxy_and_haproxy() {
        let o = ProxyBuilder::new(&config("nope x"))
            .bin(&bin)
            .file("t.lua", &script(""))
            .free_port("be")
            .flags(["-c"])
            .run();
        assert_ne!(o.code(), Some(0), "{bin:?}");
        assert!(
            o.stderr.contains(".cfg:10] : 'filter' : unknown keyword 'lua.nope'."),
            "{bin:?}: {}",
            o.stderr
        );
    }
}

#[test]
fn httpmessage_edits_the_head_and_a_chunked_body() {
    let be = http_app();
    let s = script(
        r#"
function F:start_analyze(txn, chn)
  if chn:is_resp() then filter.register_data_filter(self, chn) end
end
function F:http_headers(txn, msg)
  if not msg:is_resp() then
    msg:set_uri("/echo")
    return
  end
  msg:set_status(201, "Made")
  msg:add_header("x-a", "one")
  msg:add_header("x-a", "two")
  msg:add_header("x-second", msg:get_headers()["x-a"][1])
  msg:rep_header("x-a", "^t(.*)$", "T\\1")
  msg:add_header("x-gone", "1")
  msg:del_header("x-gone")
  msg:add_header("x-resp", tostring(txn.http_res:is_resp()) .. " " .. tostring(msg.channel:is_resp()))
end
function F:http_payload(txn, msg)
  if msg:eom() then
    msg:remove(0, 1)
    msg:insert("<", 0)
    msg:append(">")
    msg:prepend("[")
    msg:set("!", 5, 1)
  end
end
"#,
    );
    for bin in moonproxy_and_haproxy() {
        let p = start(&bin, &s, "t", &be);
        let mut c = p.connect("fe");
        let r = c.http_request(b"POST /other HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n");
        assert_eq!(r.status, 201, "{bin:?}: {}", r.head);
        assert!(r.head.starts_with("HTTP/1.1 201 Made"), "{bin:?}: {}", r.head);
        assert_eq!(r.header("x-second"), Some("two"), "{bin:?}");
        let xa: Vec<&str> = r.headers.iter().filter(|(k, _)| k.eq_ignore_ascii_case("x-a")).map(|(_, v)| v.as_str()).collect();
        assert_eq!(xa, ["one", "Two"], "{bin:?}");
        assert_eq!(r.header("x-gone"), None, "{bin:?}");
        assert_eq!(r.header("x-resp"), Some("true true"), "{bin:?}");
        assert_eq!(r.body, b"[<ell!>", "{bin:?}");
    }
}

#[test]
fn httpmessage_forwards_sends_and_reports_its_state() {
    let be = http_app();
    let s = script(
        r#"
function F:start_analyze(txn, chn)
  filter.register_data_filter(self, chn)
  if chn:is_resp() then filter.unregister_data_filter(self, chn) end
end
function F:end_analyze(txn, chn)
  core.Info("end_analyze of " .. (chn:is_resp() and "res" or "req") .. " " .. self.path)
end
function F:http_headers(txn, msg)
  if not msg:is_resp() then
    self.path = msg:get_stline().uri
    msg:set_method("PUT")
    msg:set_header("x-h", "v1")
    msg:add_header("x-l", "a, b, c")
    msg:rep_value("x-l", "^b$", "B")
    return
  end
  for k, v in pairs(self.rec) do msg:add_header("x-" .. k, tostring(v)) end
end
function F:http_payload(txn, msg)
  self.rec = self.rec or {}
  if msg:is_resp() then self.rec.respayload = "called"; return end
  -- Only on the chunked request: HAProxy breaks a Content-Length one whose length changes.
  if msg:input() == 0 or self.path ~= "/echo" then return end
  self.rec.full = msg:is_full()
  self.rec.may_recv = msg:may_recv()
  self.rec.eom_before = msg:eom()
  msg:unset_eom()
  self.rec.eom_unset = msg:eom()
  msg:set_eom()
  self.rec.eom_set = msg:eom()
  local out0 = msg:output()
  self.rec.fwd = msg:forward(2)
  local out1 = msg:output()
  self.rec.send = msg:send("S")
  self.rec.outs = (out1 - out0) .. " " .. (msg:output() - out1)
end
"#,
    );
    for bin in moonproxy_and_haproxy() {
        let p = start(&bin, &s, "t", &be);
        let r = post(&p, "/headers", "x");
        let head = String::from_utf8_lossy(&r.body).to_lowercase();
        assert!(head.starts_with("put /headers http/1.1"), "{bin:?}: {head}");
        assert!(head.contains("x-h: v1\r\n"), "{bin:?}: {head}");
        assert!(head.contains("x-l: a,b, c\r\n"), "{bin:?}: {head}");
        p.wait_for_line(|l| l.contains("end_analyze of res /headers"), DEADLINE);
        let mut c = p.connect("fe");
        let r = c.http_request(b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nabcdef\r\n0\r\n\r\n");
        assert_eq!(r.body, b"abScdef", "{bin:?}");
        let got = |k: &str| r.header(k).map(str::to_string);
        assert_eq!(got("x-respayload"), None, "{bin:?}: unregistered");
        assert_eq!(got("x-full").as_deref(), Some("false"), "{bin:?}");
        assert_eq!(got("x-may_recv").as_deref(), Some("false"), "{bin:?}");
        assert_eq!(got("x-eom_before").as_deref(), Some("true"), "{bin:?}");
        assert_eq!(got("x-eom_unset").as_deref(), Some("false"), "{bin:?}");
        assert_eq!(got("x-eom_set").as_deref(), Some("true"), "{bin:?}");
        assert_eq!(got("x-fwd").as_deref(), Some("2"), "{bin:?}");
        assert_eq!(got("x-send").as_deref(), Some("1"), "{bin:?}");
        assert_eq!(got("x-outs").as_deref(), Some("2 1"), "{bin:?}");
    }
}

/// moonproxy runs Lua filters on HTTP streams only: a TCP-mode proxy's `filter lua.*`
/// is refused rather than silently doing nothing (HAProxy 2.6 calls `tcp_payload`).
#[test]
fn a_lua_filter_in_a_tcp_proxy_is_refused() {
    let cfg = config("t").replace("mode http", "mode tcp");
    let o = ProxyBuilder::new(&cfg).file("t.lua", &script("")).free_port("be").flags(["-c"]).run();
    assert_ne!(o.code(), Some(0));
    assert!(
        o.stderr.contains(".cfg:10] : 'filter lua.t' : Lua filters on TCP streams are not supported by moonproxy yet (in frontend 'fe')."),
        "{}",
        o.stderr
    );
}

/// A server answering each request with its request line as the body.
fn request_line_app() -> Backend {
    Backend::custom(|conn, _| {
        use std::io::Write;
        let Ok(mut out) = conn.try_clone() else { return };
        let mut r = HttpReader::new(conn);
        while let Ok(Some(head)) = r.read_head() {
            if r.read_body(&head, false, |_| {}).is_err() {
                return;
            }
            let body = head.line.clone();
            if write!(out, "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{body}", body.len()).is_err() {
                return;
            }
        }
    })
}

#[test]
fn httpmessage_rewrites_the_request_line() {
    let be = request_line_app();
    let s = script(
        r#"
function F:http_headers(txn, msg)
  if msg:is_resp() then return end
  local uri = msg:get_stline().uri
  if uri == "/q" then msg:set_query("a=1&b=2") end
  if uri == "/m" then msg:set_method("DELETE") end
  if uri == "/p?x=1" then msg:set_path("/other") end
end
"#,
    );
    for bin in moonproxy_and_haproxy() {
        let p = start(&bin, &s, "t", &be);
        for (path, line) in [("/q", "GET /q?a=1&b=2 HTTP/1.1"), ("/m", "DELETE /m HTTP/1.1"), ("/p?x=1", "GET /other?x=1 HTTP/1.1")] {
            let mut c = p.connect("fe");
            let r = c.http_request(format!("GET {path} HTTP/1.1\r\nHost: a\r\n\r\n").as_bytes());
            assert_eq!(String::from_utf8_lossy(&r.body), line, "{bin:?} {path}");
        }
    }
}
