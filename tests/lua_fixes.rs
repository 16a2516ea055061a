//! Small differences from HAProxy 2.6 in the Lua API, fixed, each compared with HAProxy
//! 2.6 running the same script where it is installed (the real binary on loopback):
//! - the fetches of a TCP rule's Lua action (`txn.f:req_len()`, `txn.f:req_payload(0,0)`)
//!   read the stream's buffer;
//! - a Lua fetch evaluated by a `tcp-request content` rule reads `txn.req:data()`;
//! - an `AppletTCP`'s `f` refuses HTTP fetches as an `AppletHTTP`'s does;
//! - a converter called with nil converts the boolean false (`txn.c:lower(nil)` is "0");
//! - `tostring()` of `Fetches`, `Converters` and `Channel` objects names their class;
//! - an unknown `Fetches` method is nil: calling it raises Lua's own error at the
//!   script's line.

mod common;

use common::*;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// Sends `data` (the connection stays open), then reads until the peer closes.
fn exchange(addr: SocketAddr, data: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(data).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

const SCRIPT: &str = r#"
core.register_fetches("reqd", function(txn)
  local ok, r = pcall(function() return txn.req:data() end)
  return tostring(ok) .. ":" .. tostring(r) .. ":" .. tostring(txn.http)
end)
core.register_action("tcpact", { "tcp-req" }, function(txn)
  txn:set_var("txn.plen", txn.f:req_len())
  txn:set_var("txn.pay", txn.f:req_payload(0, 0))
  txn:set_var("txn.low", tostring(txn.c:lower(nil)) .. "/" .. tostring(txn.sc:upper(nil)))
  txn:set_var("txn.ts", tostring(txn.f) .. "|" .. tostring(txn.c) .. "|" .. tostring(txn.req)
    .. "|" .. tostring(txn.sf) .. "|" .. tostring(txn.sc))
  local ok, e = pcall(function() return txn.f:nosuch() end)
  txn:set_var("txn.unk", tostring(ok) .. ":" .. tostring(e))
end)
core.register_service("show", "tcp", function(applet)
  for _, v in ipairs({ "plen", "pay", "low", "ts", "unk", "rd" }) do
    applet:send(v .. "=" .. tostring(applet:get_var("txn." .. v)) .. "\n")
  end
end)
core.register_service("svc", "tcp", function(applet)
  local ok, e = pcall(function() return applet.f:req_hdr("host") end)
  applet:send("hdr=" .. tostring(ok) .. ":" .. tostring(e) .. "\n")
  ok, e = pcall(function() return applet.sf:req_hdr("host") end)
  applet:send("shdr=" .. tostring(ok) .. ":" .. tostring(e) .. "\n")
  ok, e = pcall(function() return applet.f:nosuch() end)
  applet:send("unk=" .. tostring(ok) .. ":" .. tostring(e) .. "\n")
  ok, e = pcall(function() return applet.c:nosuch("x") end)
  applet:send("cunk=" .. tostring(ok) .. ":" .. tostring(e) .. "\n")
  local lw = applet.c:lower(nil)
  applet:send("low=" .. type(lw) .. ":" .. tostring(lw) .. "\n")
  applet:send("ts=" .. tostring(applet.f) .. "|" .. tostring(applet.c) .. "|"
    .. tostring(applet.sf) .. "|" .. tostring(applet.sc) .. "\n")
  applet:send("src=" .. tostring(applet.f:src() == "127.0.0.1") .. "\n")
end)
core.register_fetches("wr", function(txn)
  local ok, e = pcall(function() return txn.req:set("XY") end)
  return tostring(ok) .. ":" .. tostring(e) .. ":" .. txn.req:data()
end)
core.register_service("echo_wr", "tcp", function(applet)
  applet:send(tostring(applet:get_var("txn.wr")) .. "|" .. applet:receive(5))
end)
"#;

fn proxy(bin: &std::path::Path) -> Proxy {
    ProxyBuilder::new(
        "global
    lua-load {{dir}}/t.lua
defaults
    mode tcp
    timeout connect 2s
    timeout client 5s
    timeout server 5s
frontend act
    bind 127.0.0.1:{{act}}
    tcp-request inspect-delay 5s
    tcp-request content lua.tcpact if { req.len ge 11 }
    tcp-request content set-var(txn.rd) lua.reqd if { req.len ge 11 }
    tcp-request content use-service lua.show
frontend svc
    bind 127.0.0.1:{{svc}}
    tcp-request content use-service lua.svc
frontend ro
    bind 127.0.0.1:{{ro}}
    tcp-request inspect-delay 5s
    tcp-request content set-var(txn.wr) lua.wr if { req.len ge 5 }
    tcp-request content use-service lua.echo_wr
",
    )
    .bin(bin)
    .file("t.lua", SCRIPT)
    .start()
}

/// A TCP action's fetches read the request buffer; a converter given nil converts
/// false; the classes print their names; an unknown fetch method fails at the script's
/// line; a Lua fetch of a TCP rule reads `txn.req:data()` (and sees no `txn.http`).
#[test]
fn tcp_action_fetches_converters_and_lua_fetch_channels_behave_as_in_haproxy() {
    for bin in moonproxy_and_haproxy() {
        let p = proxy(&bin);
        let name = bin.display().to_string();
        let got = exchange(p.addr("act"), b"hello world");
        let lines: Vec<&str> = got.lines().collect();
        assert_eq!(
            lines,
            [
                "plen=11",
                "pay=hello world",
                "low=0/0",
                "ts=HAProxy class Fetches|HAProxy class Converters|HAProxy class Channel|HAProxy class Fetches|HAProxy class Converters",
                lines.get(4).copied().unwrap_or_default(),
                "rd=true:hello world:nil",
            ],
            "{name}"
        );
        assert!(
            lines[4].starts_with("unk=false:") && lines[4].ends_with("/t.lua:12: attempt to call a nil value (method 'nosuch')"),
            "{name}: {}",
            lines[4]
        );
    }
}

/// An AppletTCP's `f`/`sf` refuse HTTP fetches with HAProxy's message (no position) and
/// still run the others; unknown methods fail at the script's line; `c:lower(nil)` is
/// the string "0"; the objects print their classes.
#[test]
fn an_applet_tcp_refuses_http_fetches_as_haproxy_does() {
    for bin in moonproxy_and_haproxy() {
        let p = proxy(&bin);
        let name = bin.display().to_string();
        let got = exchange(p.addr("svc"), b"x");
        let lines: Vec<&str> = got.lines().collect();
        let refused = "false:the sample-fetch 'req.hdr' needs an HTTP parser which is not available in Lua services";
        assert_eq!(lines.len(), 7, "{name}: {got}");
        assert_eq!(lines[0], format!("hdr={refused}"), "{name}");
        assert_eq!(lines[1], format!("shdr={refused}"), "{name}");
        assert!(lines[2].ends_with("/t.lua:25: attempt to call a nil value (method 'nosuch')"), "{name}: {}", lines[2]);
        assert!(lines[3].ends_with("/t.lua:27: attempt to call a nil value (method 'nosuch')"), "{name}: {}", lines[3]);
        assert_eq!(lines[4], "low=string:0", "{name}");
        assert_eq!(
            lines[5],
            "ts=HAProxy class Fetches|HAProxy class Converters|HAProxy class Fetches|HAProxy class Converters",
            "{name}"
        );
        assert_eq!(lines[6], "src=true", "{name}");
    }
}

/// A Lua fetch of a TCP rule may read the request but not change it: moonproxy's
/// documented deviation (HAProxy 2.6 lets a fetch change the buffers), so moonproxy only.
#[test]
fn a_lua_fetch_of_a_tcp_rule_reads_but_does_not_change_the_request() {
    let p = proxy(&moonproxy_bin());
    let got = exchange(p.addr("ro"), b"hello");
    assert_eq!(
        got,
        "false:Cannot modify HAProxy channels from a Lua sample-fetch.:hello|hello"
    );
}
