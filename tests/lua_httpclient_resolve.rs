//! `core.httpclient()` with host names: resolved through the `resolvers` section of
//! `httpclient.resolvers.id` (the harness's DNS server, `common::dns`, on a loopback UDP port: tests
//! cannot point `/etc/resolv.conf`, and so the implicit `default` section, at it), with
//! `httpclient.resolvers.prefer`, and compared with HAProxy 2.6 where the answers are
//! deterministic.
//!
//! Scripts report with `core.Alert("R <name> <values>")`, as in `tests/lua_socket.rs`.

mod common;
use common::dns::{question, Answer, Dns};
use common::*;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, TcpListener, UdpSocket};
use std::sync::Arc;
use std::time::Duration;

/// An HTTP server on 127.0.0.1 and [::1], one port: answers `host=<Host> peer=<ip>`.
fn web() -> u16 {
    fn serve(l: TcpListener) {
        std::thread::spawn(move || {
            for sock in l.incoming().flatten() {
                std::thread::spawn(move || {
                    let peer = sock.peer_addr().unwrap().ip();
                    let mut out = sock.try_clone().unwrap();
                    let mut r = BufReader::new(sock);
                    let mut host = String::from("-");
                    loop {
                        let mut line = String::new();
                        if r.read_line(&mut line).unwrap_or(0) == 0 {
                            return;
                        }
                        if line == "\r\n" {
                            break;
                        }
                        if let Some((k, v)) = line.split_once(':') {
                            if k.eq_ignore_ascii_case("host") {
                                host = v.trim().to_string();
                            }
                        }
                    }
                    let body = format!("host={host} peer={peer}");
                    let _ = write!(out, "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
                });
            }
        });
    }
    loop {
        let v4 = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let port = v4.local_addr().unwrap().port();
        if let Ok(v6) = TcpListener::bind((Ipv6Addr::LOCALHOST, port)) {
            serve(v4);
            serve(v6);
            return port;
        }
    }
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// `show(name, ...)` and `dump(name, response)` (status, reason, body, and the headers
/// of a 503: those of a 200 are the test server's).
const PRELUDE: &str = r#"
local function show(name, ...)
  local t = table.pack(...)
  local parts = {}
  for i = 1, t.n do parts[i] = tostring(t[i]):gsub("\r", "\\r"):gsub("\n", "\\n") end
  core.Alert("R " .. name .. " " .. table.concat(parts, "|"))
end
local function dump(name, r)
  local hs = {}
  for k, v in pairs(r.headers) do
    if r.status == 503 then hs[#hs + 1] = k .. "=" .. tostring(v[0]) end
  end
  table.sort(hs)
  show(name, r.status, r.reason, r.body, table.concat(hs, ";"))
end
"#;

/// `global` (with `extra`), a `resolvers dns` section on the test's server, a `listen`
/// both programs need to start, and the script.
fn config(extra: &str, resolvers: &str) -> String {
    format!(
        "global\n    lua-load {{{{dir}}}}/t.lua\n{extra}\
         resolvers dns\n    nameserver ns1 127.0.0.1:{{{{dns}}}}\n{resolvers}\
         defaults\n    mode tcp\n    timeout connect 5s\n    timeout client 5s\n    timeout server 5s\n\
         listen fe\n    bind 127.0.0.1:{{{{fe}}}}\n    server s1 127.0.0.1:{{{{web}}}}\n"
    )
}

fn run(bin: &std::path::Path, cfg: &str, script: &str, dns: &Dns, web: u16) -> (Proxy, Vec<String>) {
    let p = ProxyBuilder::new(cfg)
        .bin(bin)
        .file("t.lua", &format!("{PRELUDE}\n{}", script.replace("{{web}}", &web.to_string())))
        .port("dns", dns.port)
        .port("web", web)
        .start();
    p.wait_for_line(|l| l.trim_end().ends_with(" : R done"), Duration::from_secs(30));
    let results = p.lines().iter().filter_map(|l| l.text.split_once(" : R ").map(|(_, r)| r.trim_end().to_string())).collect();
    (p, results)
}

#[test]
fn names_resolve_through_the_resolvers_section_as_haproxy() {
    let script = r#"
core.register_task(function()
  dump("a-only", core.httpclient():get{url = "http://app.test:{{web}}/x"})
  dump("both", core.httpclient():get{url = "http://both.test:{{web}}/"})
  dump("six", core.httpclient():get{url = "http://six.test:{{web}}/"})
  dump("host header", core.httpclient():get{url = "http://nx.test:{{web}}/", headers = {host = {"app.test:{{web}}"}}})
  dump("nx", core.httpclient():get{url = "http://nx.test:{{web}}/"})
  dump("dst", core.httpclient():get{url = "http://nx.test:{{web}}/", dst = "127.0.0.1:{{web}}"})
  dump("pair", core.httpclient():get{url = "http://pair.test:{{web}}/"})
  show("done")
end)
"#;
    let web = web();
    let mut outputs = Vec::new();
    for bin in moonproxy_and_haproxy() {
        let dns = Dns::start();
        dns.set("app.test", Answer::Addrs(vec![ip("127.0.0.1")]));
        dns.set("both.test", Answer::Addrs(vec![ip("127.0.0.1"), ip("::1")]));
        dns.set("six.test", Answer::Addrs(vec![ip("::1")]));
        // Of several addresses HAProxy's client takes the second (nothing listens on
        // the first).
        dns.set("pair.test", Answer::Addrs(vec![ip("127.0.0.9"), ip("127.0.0.1")]));
        let (proxy, out) = run(&bin, &config("    httpclient.resolvers.id dns\n", ""), script, &dns, web);
        if bin == moonproxy_bin() {
            // The preferred family (IPv6 by default) first, the other when it has none.
            let asked = dns.asked();
            assert_eq!(asked[..4], ["app.test AAAA", "app.test A", "both.test AAAA", "six.test AAAA"], "{asked:?}");
            // A name that does not resolve is a warning naming it.
            proxy.wait_for_line(|l| l.contains("httpclient: cannot resolve 'nx.test' with resolvers 'dns': DNS NX status."), DEADLINE);
        }
        outputs.push(out);
    }
    let expect = [
        format!("a-only 200|OK|host=app.test:{web} peer=127.0.0.1|"),
        format!("both 200|OK|host=both.test:{web} peer=::1|"),
        format!("six 200|OK|host=six.test:{web} peer=::1|"),
        format!("host header 200|OK|host=app.test:{web} peer=127.0.0.1|"),
        "nx 503|Service Unavailable||content-length=0".to_string(),
        format!("dst 200|OK|host=nx.test:{web} peer=127.0.0.1|"),
        format!("pair 200|OK|host=pair.test:{web} peer=127.0.0.1|"),
        "done".to_string(),
    ];
    assert_eq!(outputs[0], expect, "moonproxy");
    if let Some(haproxy) = outputs.get(1) {
        assert_eq!(haproxy, &outputs[0], "HAProxy 2.6 answers the same");
    }
}

#[test]
fn resolvers_prefer_chooses_the_family_asked_first() {
    let script = r#"
core.register_task(function()
  dump("both", core.httpclient():get{url = "http://both.test:{{web}}/"})
  dump("a-only", core.httpclient():get{url = "http://app.test:{{web}}/"})
  show("done")
end)
"#;
    let web = web();
    for bin in moonproxy_and_haproxy() {
        for prefer in ["ipv4", "ipv6"] {
            let dns = Dns::start();
            dns.set("app.test", Answer::Addrs(vec![ip("127.0.0.1")]));
            dns.set("both.test", Answer::Addrs(vec![ip("127.0.0.1"), ip("::1")]));
            let global = format!("    httpclient.resolvers.id dns\n    httpclient.resolvers.prefer {prefer}\n");
            let (_proxy, out) = run(&bin, &config(&global, ""), script, &dns, web);
            let peer = if prefer == "ipv4" { "127.0.0.1" } else { "::1" };
            let who = format!("{} prefer {prefer}", bin.display());
            assert_eq!(out[0], format!("both 200|OK|host=both.test:{web} peer={peer}|"), "{who}");
            // `prefer ipv6` with only an A record: the A query follows the empty AAAA one.
            assert_eq!(out[1], format!("a-only 200|OK|host=app.test:{web} peer=127.0.0.1|"), "{who}");
            if bin == moonproxy_bin() {
                let first = if prefer == "ipv4" { "A" } else { "AAAA" };
                assert_eq!(dns.asked()[0], format!("both.test {first}"), "{who}");
            }
        }
    }
}

/// A name that does not resolve (NXDOMAIN) or whose name server stays silent fails
/// that request only; while a resolution waits, the reactor serves other streams; a
/// valid answer is kept for `hold valid`.
#[test]
fn failures_are_clean_and_a_waiting_resolution_blocks_nothing() {
    let dns = Dns::start();
    dns.set("app.test", Answer::Addrs(vec![ip("127.0.0.1")]));
    dns.set("slow.test", Answer::Gated(vec![ip("127.0.0.1")]));
    let web = web();
    let script = r#"
core.register_service("hc", "http", function(applet)
  local r = core.httpclient():get{url = "http://" .. applet.path:sub(2) .. ":{{web}}/"}
  local body = r.status .. " " .. r.body
  applet:set_status(200)
  applet:add_header("content-length", tostring(#body))
  applet:start_response()
  applet:send(body)
end)
core.register_task(function()
  dump("nx", core.httpclient():get{url = "http://nx.test:{{web}}/"})
  show("done")
end)
"#;
    let cfg = "global\n    lua-load {{dir}}/t.lua\n    httpclient.resolvers.id dns\n\
         resolvers dns\n    nameserver ns1 127.0.0.1:{{dns}}\n    hold valid 1h\n\
         defaults\n    timeout connect 5s\n    timeout client 10s\n    timeout server 10s\n\
         frontend svc\n    mode http\n    bind 127.0.0.1:{{svc}}\n    http-request use-service lua.hc\n\
         listen fe\n    mode tcp\n    bind 127.0.0.1:{{fe}}\n    server s1 127.0.0.1:{{web}}\n";
    let (proxy, out) = run(&moonproxy_bin(), cfg, script, &dns, web);
    assert_eq!(out[0], "nx 503|Service Unavailable||content-length=0");

    // A request waits for `slow.test`, whose answer the test holds back...
    let svc = proxy.port("svc");
    let waiting = std::thread::spawn(move || Client::connect(svc).http_get("/slow.test"));
    assert!(wait_until(DEADLINE, || dns.asked().iter().any(|q| q.starts_with("slow.test"))));
    // ...while other streams are served: a Lua service resolving another name, and a
    // plain TCP proxy.
    let r = Client::connect(svc).http_get("/app.test");
    assert_eq!(String::from_utf8_lossy(&r.body), format!("200 host=app.test:{web} peer=127.0.0.1"));
    let mut c = Client::connect(proxy.port("fe"));
    c.send(b"GET / HTTP/1.1\r\nHost: plain\r\n\r\n");
    assert_eq!(c.read_http_response().status, 200);
    assert!(!waiting.is_finished(), "the held-back resolution is still waiting");
    dns.open_gate();
    let r = waiting.join().unwrap();
    assert_eq!(String::from_utf8_lossy(&r.body), format!("200 host=slow.test:{web} peer=127.0.0.1"));

    // `hold valid 1h`: the name is not asked again.
    let before = dns.asked().len();
    let r = Client::connect(svc).http_get("/app.test");
    assert_eq!(String::from_utf8_lossy(&r.body), format!("200 host=app.test:{web} peer=127.0.0.1"));
    assert_eq!(dns.asked().len(), before, "answered from the cache");
}

/// A silent name server: the resolution gives up after `resolve_retries` queries of
/// `timeout retry` each, with a warning, and the script gets the 503.
#[test]
fn a_silent_name_server_times_out() {
    let dns = Dns::start();
    let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
    silent.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let script = r#"
core.register_task(function()
  dump("quiet", core.httpclient():get{url = "http://quiet.test:{{web}}/"})
  show("done")
end)
"#;
    let cfg = config(
        "    httpclient.resolvers.id quiet\n",
        &format!("resolvers quiet\n    nameserver ns1 127.0.0.1:{}\n    resolve_retries 2\n    timeout retry 100ms\n", silent.local_addr().unwrap().port()),
    );
    let (proxy, out) = run(&moonproxy_bin(), &cfg, script, &dns, web());
    assert_eq!(out[0], "quiet 503|Service Unavailable||content-length=0");
    proxy.wait_for_line(|l| l.contains("httpclient: cannot resolve 'quiet.test' with resolvers 'quiet': DNS timeout status."), DEADLINE);
    // Two queries (AAAA, asked again after `timeout retry`), each to the silent server.
    let mut buf = [0u8; 512];
    for _ in 0..2 {
        let (len, _) = silent.recv_from(&mut buf).expect("a query");
        assert_eq!(question(&buf[..len]), Some(("quiet.test".to_string(), 28)));
    }
}

/// `https://name/`: the name is resolved, sent as SNI and checked against the
/// certificate (`httpclient.ssl.ca-file`).
#[test]
fn https_urls_use_the_name_for_sni_and_verification() {
    let ck = rcgen::generate_simple_self_signed(vec!["secure.test".to_string()]).unwrap();
    let pem = format!("{}{}", ck.cert.pem(), ck.key_pair.serialize_pem());
    let app = tls_app(&pem);
    let dns = Dns::start();
    dns.set("secure.test", Answer::Addrs(vec![ip("127.0.0.1")]));
    let script = r#"
core.register_task(function()
  local r = core.httpclient():get{url = "https://secure.test:{{web}}/"}
  show("https", r.status, r.body)
  show("done")
end)
"#;
    let cfg = config("    httpclient.resolvers.id dns\n    httpclient.ssl.ca-file {{dir}}/ca.pem\n", "");
    let p = ProxyBuilder::new(&cfg)
        .file("ca.pem", &ck.cert.pem())
        .file("t.lua", &format!("{PRELUDE}\n{}", script.replace("{{web}}", &app.to_string())))
        .port("dns", dns.port)
        .port("web", app)
        .start();
    p.wait_for_line(|l| l.trim_end().ends_with(" : R done"), Duration::from_secs(30));
    let line = p.wait_for_line(|l| l.contains(" : R https "), DEADLINE);
    assert!(line.trim_end().ends_with("R https 200|sni=secure.test"), "{line}");
}

/// A TLS HTTP server (rustls) answering `sni=<the SNI received>`.
fn tls_app(pem: &str) -> u16 {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs = CertificateDer::pem_slice_iter(pem.as_bytes()).collect::<Result<Vec<_>, _>>().unwrap();
    let key = PrivateKeyDer::from_pem_slice(pem.as_bytes()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = Arc::new(
        rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .unwrap(),
    );
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for sock in l.incoming().flatten() {
            let config = config.clone();
            std::thread::spawn(move || {
                let conn = rustls::ServerConnection::new(config).unwrap();
                let mut s = rustls::StreamOwned::new(conn, sock);
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    if s.read_exact(&mut byte).is_err() {
                        return;
                    }
                    head.push(byte[0]);
                }
                let body = format!("sni={}", s.conn.server_name().unwrap_or("-"));
                let _ = write!(s, "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
                let _ = s.flush();
                s.conn.send_close_notify();
                let _ = s.flush();
            });
        }
    });
    port
}

/// The client's section defaults to `default`: a configuration's own `resolvers default`
/// serves it without `httpclient.resolvers.id`.
#[test]
fn a_declared_default_section_is_the_clients() {
    let script = r#"
core.register_task(function()
  dump("default", core.httpclient():get{url = "http://app.test:{{web}}/"})
  show("done")
end)
"#;
    let cfg = "global\n    lua-load {{dir}}/t.lua\n\
         resolvers default\n    nameserver ns1 127.0.0.1:{{dns}}\n\
         defaults\n    mode tcp\n    timeout connect 5s\n    timeout client 5s\n    timeout server 5s\n\
         listen fe\n    bind 127.0.0.1:{{fe}}\n    server s1 127.0.0.1:{{web}}\n";
    let web = web();
    for bin in moonproxy_and_haproxy() {
        let dns = Dns::start();
        dns.set("app.test", Answer::Addrs(vec![ip("127.0.0.1")]));
        let (_proxy, out) = run(&bin, cfg, script, &dns, web);
        assert_eq!(out[0], format!("default 200|OK|host=app.test:{web} peer=127.0.0.1|"), "{}", bin.display());
    }
}

/// Without a `resolvers default` section, HAProxy 2.6 builds one from the name servers
/// of `/etc/resolv.conf`: servers and `httpclient.resolvers.id` may name it undeclared.
/// (Only where resolv.conf names a server: otherwise neither program has the section.)
#[test]
fn the_implicit_default_section_can_be_named() {
    let resolv_conf = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    if !resolv_conf.lines().any(|l| l.split_whitespace().next() == Some("nameserver")) {
        eprintln!("no nameserver in /etc/resolv.conf: no implicit section to test");
        return;
    }
    let cfg = "global\n    httpclient.resolvers.id default\n\
         defaults\n    timeout connect 1s\n    timeout client 1s\n    timeout server 1s\n\
         backend b\n    server s localhost:80 resolvers default\n";
    for bin in moonproxy_and_haproxy() {
        let out = ProxyBuilder::new(cfg).bin(&bin).arg("-c").timeout(DEADLINE).run();
        assert!(!out.stderr.contains("ALERT"), "{}: {}", bin.display(), out.stderr);
        assert!(!out.stderr.contains("unable to find required resolvers"), "{}: {}", bin.display(), out.stderr);
    }
    // A section of another name is still required to exist.
    let out = ProxyBuilder::new(&cfg.replace("resolvers default\n", "resolvers other\n")).arg("-c").timeout(DEADLINE).run();
    assert!(out.stderr.contains("unable to find required resolvers 'other'"), "{}", out.stderr);
}

/// With `nbthread 2` each thread runs the task, and each resolves on its own sockets.
#[test]
fn every_thread_resolves() {
    let script = r#"
core.register_task(function()
  dump("t" .. core.thread, core.httpclient():get{url = "http://app.test:{{web}}/"})
end)
"#;
    let dns = Dns::start();
    dns.set("app.test", Answer::Addrs(vec![ip("127.0.0.1")]));
    let web = web();
    let cfg = config("    nbthread 2\n    httpclient.resolvers.id dns\n", "");
    let p = ProxyBuilder::new(&cfg)
        .file("t.lua", &format!("{PRELUDE}\n{}", script.replace("{{web}}", &web.to_string())))
        .port("dns", dns.port)
        .port("web", web)
        .start();
    for t in 1..=2 {
        let want = format!(" : R t{t} 200|OK|host=app.test:{web} peer=127.0.0.1|");
        p.wait_for_line(|l| l.trim_end().ends_with(want.trim_end()), DEADLINE);
    }
}
