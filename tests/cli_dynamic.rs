//! Servers added and deleted at run time (`add server`, `del server`), `enable|disable
//! agent` and `show servers conn`: the answers compared with HAProxy 2.6 on the same
//! configuration, and the effect on traffic (an added server answers requests, a
//! deleted one gets none), with one and with several reactor threads.

mod common;

use common::*;
use std::path::Path;

const CONFIG: &str = "global
    nbthread {{threads}}
    stats socket {{dir}}/cli.sock level admin
defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{{fe}}
    stats uri /stats
    default_backend be
backend be
    balance roundrobin
    server s1 127.0.0.1:{{a}}
backend st
    balance static-rr
    server s1 127.0.0.1:{{a}}
backend chk
    server c1 127.0.0.1:{{a}} check inter 100
backend ruled
    use-server r1 if { path /r1 }
    server r1 127.0.0.1:{{a}}
    server r2 127.0.0.1:{{a}}
";

/// The commands compared byte for byte, in order (`{{b}}` is the second server's port).
const COMMANDS: &[&str] = &[
    "add server be/d1 127.0.0.1:{{b}}",
    "add server be/d1 127.0.0.1:{{b}}",
    "add server st/d1 127.0.0.1:{{b}}",
    "add server nope/d1 127.0.0.1:{{b}}",
    "add server be/d2",
    "add server be",
    "add server be/d2 127.0.0.1:{{b}} cookie x",
    "add server be/d2 127.0.0.1:{{b}} resolvers r",
    "add server be/d2 127.0.0.1:{{b}} weight 300",
    "add server be/d2 127.0.0.1:{{b}} agent-check",
    "add server be/d2 127.0.0.1:{{b}} track d1",
    "add server be/d2 127.0.0.1:{{b}} track s1",
    "add server be/d2 127.0.0.1:{{b}} track chk/c1 weight 3 maxconn 10",
    "add server be/d3 127.0.0.1:{{b}} id 12 backup",
    "add server chk/d4 127.0.0.1:{{b}} check inter 100",
    "show servers conn be",
    "show servers conn nope",
    "show servers conn st",
    "enable agent be/s1",
    "disable agent be/s1",
    "disable agent be/nope",
    "disable agent nope/s1",
    "disable agent",
    "del server be/s1",
    "del server be/d9",
    "del server nope/d1",
    "del server be",
    "del server chk/c1",
    "del server be/d2",
    "del server be/d3",
    "del server be/d3",
    "add server be/d5 127.0.0.1:{{b}}",
    "set server ruled/r1 state maint",
    "set server ruled/r2 state maint",
    "del server ruled/r1",
    "del server ruled/r2",
    "add server be/d6 127.0.0.1:{{b}} id 12",
    "add server be/d6 127.0.0.1:{{b}} track nope/x",
    "add server be/d6 127.0.0.1:{{b}} track chk/nope",
    "add server be/d6 127.0.0.1:{{b}} zzzzqqqq",
    "add server be/d6 127.0.0.1:{{b}} inter 0",
];

/// `show stat`'s identity and status columns (the rest are counters and times).
fn stat_ids(sock: &Path) -> Vec<String> {
    cli(sock, "show stat\n")
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let c: Vec<&str> = l.split(',').collect();
            format!("{},{},{},{},{},{}", c[0], c[1], c[17], c[18], c[27], c[28])
        })
        .collect()
}

/// `show servers state`, without the time since the last change (column 10).
fn servers_state(sock: &Path) -> Vec<String> {
    cli(sock, "show servers state\n")
        .lines()
        .map(|l| {
            let mut w: Vec<&str> = l.split(' ').collect();
            if w.len() > 10 && !l.starts_with('#') {
                w[9] = "-";
            }
            w.join(" ")
        })
        .collect()
}

/// Bodies of `n` requests, each on its own connection.
fn bodies(fe: u16, n: usize) -> Vec<String> {
    (0..n)
        .map(|_| {
            let mut c = Client::connect(fe);
            let r = c.http_request(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
            assert_eq!(r.status, 200);
            String::from_utf8_lossy(&r.body).into_owned()
        })
        .collect()
}

#[test]
fn answers_match_haproxy() {
    let (a, b) = (Backend::http(b"A"), Backend::http(b"B"));
    let mut runs = Vec::new();
    for bin in moonproxy_and_haproxy() {
        let proxy = ProxyBuilder::new(CONFIG).bin(&bin).var("threads", 1).port("a", a.port()).port("b", b.port()).start();
        let sock = proxy.dir().join("cli.sock");
        assert!(proxy.wait_for_path(&sock, DEADLINE));
        let mut seen = Vec::new();
        for c in COMMANDS {
            let line = c.replace("{{b}}", &b.port().to_string());
            seen.push(format!("{c}\n{}", cli(&sock, &format!("{line}\n"))));
        }
        seen.extend(stat_ids(&sock));
        seen.extend(servers_state(&sock));
        runs.push((bin, seen));
    }
    let ours = &runs[0].1;
    let answer = |cmd: &str| ours.iter().find(|s| s.starts_with(&format!("{cmd}\n"))).cloned().unwrap_or_default();
    assert_eq!(answer("add server be/d1 127.0.0.1:{{b}}"), "add server be/d1 127.0.0.1:{{b}}\nNew server registered.\n\n");
    assert_eq!(answer("del server be/d3"), "del server be/d3\nServer deleted.\n");
    assert!(ours.iter().any(|l| l.starts_with("be,d1,MAINT,")), "{ours:#?}");
    assert!(!ours.iter().any(|l| l.starts_with("be,d3,")), "{ours:#?}");
    assert_runs_agree(&runs);
}

/// An added server takes traffic once ready, a deleted one none, the others keep
/// serving; with `threads` reactor threads.
fn traffic(threads: usize) {
    let (a, b) = (Backend::http(b"A"), Backend::http(b"B"));
    let proxy = ProxyBuilder::new(CONFIG).var("threads", threads).port("a", a.port()).port("b", b.port()).start();
    let sock = proxy.dir().join("cli.sock");
    assert!(proxy.wait_for_path(&sock, DEADLINE));
    let fe = proxy.port("fe");
    assert!(bodies(fe, 4).iter().all(|b| b == "A"));
    assert_eq!(cli(&sock, &format!("add server be/d1 127.0.0.1:{}\n", b.port())), "New server registered.\n\n");
    // In maintenance until told otherwise.
    assert!(bodies(fe, 4).iter().all(|b| b == "A"));
    assert_eq!(cli(&sock, "set server be/d1 state ready\n"), "\n");
    let got = bodies(fe, 40);
    assert!(got.iter().any(|b| b == "B") && got.iter().any(|b| b == "A"), "{got:?}");
    assert!(cli(&sock, "show stat\n").contains("\nbe,d1,"));
    let page = |fe: u16| {
        let mut c = Client::connect(fe);
        String::from_utf8_lossy(&c.http_request(b"GET /stats;csv HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").body).into_owned()
    };
    assert!(page(fe).contains("\nbe,d1,"), "the stats page lists it");
    assert_eq!(cli(&sock, "del server be/d1\n"), "Only servers in maintenance mode can be deleted.\n");
    assert_eq!(cli(&sock, "set server be/d1 state maint\n"), "\n");
    assert_eq!(cli(&sock, "del server be/d1\n"), "Server deleted.\n");
    assert!(bodies(fe, 40).iter().all(|b| b == "A"));
    assert!(!cli(&sock, "show stat\n").contains("\nbe,d1,"));
    assert!(!page(fe).contains("\nbe,d1,"));
    assert!(!cli(&sock, "show servers state be\n").contains(" d1 "));
    // The name and the id are free again; the new server is another one.
    assert_eq!(cli(&sock, &format!("add server be/d1 127.0.0.1:{} enabled\n", b.port())), "New server registered.\n\n");
    let got = bodies(fe, 40);
    assert!(got.iter().any(|b| b == "B"), "{got:?}");
    assert!(cli(&sock, "show servers state be\n").contains("3 be 2 d1 127.0.0.1 2 0 "));
}

#[test]
fn added_and_deleted_servers_route_traffic() {
    traffic(1);
}

#[test]
fn added_and_deleted_servers_route_traffic_on_every_thread() {
    traffic(3);
}

/// `check` on an added server runs once `enable health` asks for it: from health 0,
/// DOWN until it passes, as in HAProxy.
#[test]
fn added_server_checks_run_after_enable_health() {
    let (a, b) = (Backend::http(b"A"), Backend::http(b"B"));
    let closed = RefusingPort::new();
    let proxy = ProxyBuilder::new(CONFIG).var("threads", 1).port("a", a.port()).port("b", b.port()).start();
    let sock = proxy.dir().join("cli.sock");
    assert!(proxy.wait_for_path(&sock, DEADLINE));
    let status = |sock: &Path, srv: &str| stat_ids(sock).into_iter().find(|l| l.starts_with(&format!("chk,{srv},"))).unwrap_or_default();
    assert_eq!(cli(&sock, &format!("add server chk/ok 127.0.0.1:{} check inter 100\n", b.port())), "New server registered.\n\n");
    assert_eq!(cli(&sock, &format!("add server chk/ko 127.0.0.1:{} check inter 100\n", closed.port())), "New server registered.\n\n");
    for srv in ["ok", "ko"] {
        assert_eq!(cli(&sock, &format!("set server chk/{srv} state ready\n")), "\n");
        // Its check is off: shown as a server without one.
        assert!(status(&sock, srv).starts_with(&format!("chk,{srv},no check,")), "{}", status(&sock, srv));
        assert_eq!(cli(&sock, &format!("enable health chk/{srv}\n")), "\n");
    }
    assert!(wait_until(DEADLINE, || status(&sock, "ok").starts_with("chk,ok,UP,")), "{}", status(&sock, "ok"));
    // Checked too (its check status is HAProxy's "connection refused"), and DOWN.
    let ko = || cli(&sock, "show stat\n").lines().find(|l| l.starts_with("chk,ko,")).map(str::to_string).unwrap_or_default();
    assert!(wait_until(DEADLINE, || ko().contains(",L4CON,")), "{}", ko());
    assert!(status(&sock, "ko").starts_with("chk,ko,DOWN,"), "{}", status(&sock, "ko"));
    for srv in ["ok", "ko"] {
        assert_eq!(cli(&sock, &format!("set server chk/{srv} state maint\n")), "\n");
        assert_eq!(cli(&sock, &format!("del server chk/{srv}\n")), "Server deleted.\n");
        assert!(status(&sock, srv).is_empty());
    }
}

/// Lua's `core.backends[..].servers` follows the servers added and deleted (HAProxy
/// 2.6 keeps the tables it built first: a deviation, doc/cli.md).
#[test]
fn lua_sees_added_and_deleted_servers() {
    let lua = r#"
core.register_cli({"servers"}, "list", function(applet)
  local t = {}
  for n, s in pairs(core.backends["be"].servers) do t[#t + 1] = n .. "=" .. s:get_addr() end
  table.sort(t)
  applet:send(table.concat(t, ",") .. "\n")
end)
"#;
    let cfg = CONFIG.replace("    stats socket", "    lua-load {{dir}}/l.lua\n    stats socket");
    let (a, b) = (Backend::http(b"A"), Backend::http(b"B"));
    let proxy = ProxyBuilder::new(&cfg).file("l.lua", lua).var("threads", 1).port("a", a.port()).port("b", b.port()).start();
    let sock = proxy.dir().join("cli.sock");
    assert!(proxy.wait_for_path(&sock, DEADLINE));
    assert_eq!(cli(&sock, "servers\n"), format!("s1=127.0.0.1:{}\n\n", a.port()));
    assert_eq!(cli(&sock, &format!("add server be/d1 127.0.0.1:{}\n", b.port())), "New server registered.\n\n");
    assert_eq!(cli(&sock, "servers\n"), format!("d1=127.0.0.1:{},s1=127.0.0.1:{}\n\n", b.port(), a.port()));
    assert_eq!(cli(&sock, "del server be/d1\n"), "Server deleted.\n");
    assert_eq!(cli(&sock, "servers\n"), format!("s1=127.0.0.1:{}\n\n", a.port()));
}

const MAP_CONFIG: &str = "global
    nbthread {{threads}}
    stats socket {{dir}}/cli.sock level admin
defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{{fe}}
    acl denied path -f {{dir}}/deny.acl
    http-request deny if denied
    use_backend %[path,map({{dir}}/route.map,ba)]
backend ba
    server s1 127.0.0.1:{{a}}
backend bb
    server s1 127.0.0.1:{{b}}
";

/// The versioned map and ACL commands, compared with HAProxy (entry handles and the
/// `show map` descriptions aside), in order.
const MAP_COMMANDS: &[&str] = &[
    "prepare map {{dir}}/route.map",
    "prepare map {{dir}}/route.map",
    "add map @1 {{dir}}/route.map /x bb",
    "add map @2 {{dir}}/route.map /y bb",
    "add map @7 {{dir}}/route.map /y bb",
    "add map @1 {{dir}}/route.map",
    "show map @1 {{dir}}/route.map",
    "show map @2 {{dir}}/route.map",
    "show map @9 {{dir}}/route.map",
    "show map {{dir}}/route.map",
    "show map @1",
    "show map",
    "commit map @5 {{dir}}/route.map",
    "commit map @x {{dir}}/route.map",
    "commit map {{dir}}/route.map",
    "commit map @1 {{dir}}/nope.map",
    "prepare map",
    "prepare map {{dir}}/nope.map",
    "prepare acl {{dir}}/deny.acl",
    "add acl @1 {{dir}}/deny.acl /blocked",
    "show acl @1 {{dir}}/deny.acl",
    "commit acl",
    "clear acl @1",
];

/// What HAProxy and moonproxy both print: an entry without its handle, a `show map`
/// line from its versions on.
fn comparable(answer: &str) -> String {
    answer
        .lines()
        .map(|l| match l.split_once(' ') {
            Some((h, rest)) if h.starts_with("0x") => rest.to_string(),
            _ => l.find("curr_ver=").map_or(l.to_string(), |i| l[i..].to_string()),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn map_versions_match_haproxy_and_route_at_commit() {
    let (a, b) = (Backend::http(b"A"), Backend::http(b"B"));
    let mut runs = Vec::new();
    for bin in moonproxy_and_haproxy() {
        let proxy = ProxyBuilder::new(MAP_CONFIG)
            .bin(&bin)
            .var("threads", 1)
            .file("route.map", "/a ba\n/b bb\n")
            .file("deny.acl", "/denied\n")
            .port("a", a.port())
            .port("b", b.port())
            .start();
        let sock = proxy.dir().join("cli.sock");
        assert!(proxy.wait_for_path(&sock, DEADLINE));
        let dir = proxy.dir().display().to_string();
        let fe = proxy.port("fe");
        let get = |path: &str| {
            let mut c = Client::connect(fe);
            let r = c.http_request(format!("GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").as_bytes());
            format!("{path} {} {}", r.status, String::from_utf8_lossy(&r.body))
        };
        let mut seen = vec![get("/x"), get("/b")];
        for c in MAP_COMMANDS {
            seen.push(format!("{c}\n{}", comparable(&cli(&sock, &format!("{}\n", c.replace("{{dir}}", &dir))))));
        }
        // Version 1 is not seen before its commit.
        seen.extend([get("/x"), get("/blocked")]);
        seen.push(comparable(&cli(&sock, &format!("commit map @1 {dir}/route.map\n"))));
        seen.push(comparable(&cli(&sock, &format!("commit acl @1 {dir}/deny.acl\n"))));
        // Now it is, and it replaced the file's entries; version 2 waits.
        seen.extend([get("/x"), get("/b"), get("/y"), get("/blocked"), get("/denied")]);
        seen.push(comparable(&cli(&sock, "show map\n")));
        seen.push(comparable(&cli(&sock, &format!("commit map @1 {dir}/route.map\n"))));
        seen.push(comparable(&cli(&sock, &format!("clear map @2 {dir}/route.map\n"))));
        seen.push(comparable(&cli(&sock, "show map\n")));
        runs.push((bin, seen));
    }
    let ours = &runs[0].1;
    for want in ["/x 200 A", "/x 200 B", "/b 200 A", "/blocked 403", "/denied 200 A"] {
        assert!(ours.iter().any(|l| l.starts_with(want)), "{want}: {ours:#?}");
    }
    assert!(ours.iter().any(|l| l.ends_with("\ncurr_ver=1 next_ver=2 entry_cnt=2\n")), "{ours:#?}");
    assert_runs_agree(&runs);
}

const COOKIE_CONFIG: &str = "global
    nbthread {{threads}}
    stats socket {{dir}}/cli.sock level admin
defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{{fe}}
    default_backend be
backend be
    cookie SRV insert dynamic
    dynamic-cookie-key mykey
    server s1 127.0.0.1:{{a}}
    server s2 127.0.0.1:{{b}} cookie fixed
backend nock
    server s1 127.0.0.1:{{a}}
";

const COOKIE_COMMANDS: &[&str] = &[
    "disable dynamic-cookie backend nope",
    "disable dynamic-cookie backend",
    "enable dynamic-cookie backend nock",
    "set dynamic-cookie-key backend be",
    "set dynamic-cookie-key backend nope k",
    "set dynamic-cookie-key backend",
    "set dynamic-cookie-key backend nock k2",
];

/// Dynamic cookies: the values HAProxy computes, the CLI switches and key, a server
/// added getting its own, and requests carrying one routed to its server.
#[test]
fn dynamic_cookies_match_haproxy() {
    let (a, b, c) = (Backend::http(b"A"), Backend::http(b"B"), Backend::http(b"C"));
    let mut runs = Vec::new();
    for bin in moonproxy_and_haproxy() {
        let proxy = ProxyBuilder::new(COOKIE_CONFIG).bin(&bin).var("threads", 1).port("a", a.port()).port("b", b.port()).start();
        let sock = proxy.dir().join("cli.sock");
        assert!(proxy.wait_for_path(&sock, DEADLINE));
        let fe = proxy.port("fe");
        let get = |cookie: Option<&str>| {
            let mut cl = Client::connect(fe);
            let extra = cookie.map_or(String::new(), |c| format!("Cookie: SRV={c}\r\n"));
            let r = cl.http_request(format!("GET / HTTP/1.1\r\nHost: t\r\n{extra}Connection: close\r\n\r\n").as_bytes());
            format!("{} {}", String::from_utf8_lossy(&r.body), r.header("set-cookie").unwrap_or("-"))
        };
        // Both servers, whichever comes first.
        let both = || {
            let mut v = vec![get(None), get(None)];
            v.sort();
            v
        };
        let mut seen = both();
        for cmd in COOKIE_COMMANDS {
            seen.push(format!("{cmd}\n{}", cli(&sock, &format!("{cmd}\n"))));
        }
        seen.push(cli(&sock, "set dynamic-cookie-key backend be other\n"));
        seen.extend(both());
        seen.push(cli(&sock, "disable dynamic-cookie backend be\n"));
        seen.extend(both());
        seen.push(cli(&sock, "enable dynamic-cookie backend be\n"));
        // The cookie of s1 under the key "other" leads to s1.
        let s1 = moonproxy_dynamic_cookie("other", a.port());
        seen.push(get(Some(&s1)));
        seen.push(cli(&sock, &format!("add server be/d1 127.0.0.1:{} enabled\n", c.port())));
        let d1 = moonproxy_dynamic_cookie("other", c.port());
        seen.push(get(Some(&d1)));
        seen.push(cli(&sock, "enable dynamic-cookie backend be\n"));
        seen.push(get(Some(&d1)));
        seen.push(cli(&sock, &format!("set server be/d1 addr 127.0.0.1 port {}\n", a.port())));
        seen.push(get(Some(&moonproxy_dynamic_cookie("other", a.port()))));
        runs.push((bin, seen));
    }
    let ours = &runs[0].1;
    assert!(ours.iter().any(|l| l == "B SRV=fixed; path=/"), "{ours:#?}");
    assert!(ours.iter().any(|l| l == &format!("A SRV={}; path=/", moonproxy_dynamic_cookie("mykey", a.port()))), "{ours:#?}");
    assert!(ours.iter().any(|l| l == "A -"), "disabled: {ours:#?}");
    assert!(ours.iter().filter(|l| l.starts_with("A ") || l.starts_with("C ")).count() >= 5, "{ours:#?}");
    // An added server gets its dynamic cookie at the next recomputation (as in 2.6),
    // and the cookie follows its address.
    let n = ours.len();
    assert!(ours[n - 5].starts_with("A SRV=") && ours[n - 3] == "C -" && ours[n - 1] == "A -", "{ours:#?}");
    assert_runs_agree(&runs);
}

/// HAProxy's dynamic cookie for a server at 127.0.0.1:`port` (XXH64, seed 0, of the
/// key, the address bytes and the port as a big-endian u32), written again here so the
/// test does not trust the code it checks.
fn moonproxy_dynamic_cookie(key: &str, port: u16) -> String {
    let mut buf = key.as_bytes().to_vec();
    buf.extend_from_slice(&[127, 0, 0, 1]);
    buf.extend_from_slice(&u32::from(port).to_be_bytes());
    format!("{:016x}", xxh64(&buf))
}

/// XXH64 with seed 0 (the published algorithm).
fn xxh64(data: &[u8]) -> u64 {
    const P1: u64 = 0x9E37_79B1_85EB_CA87;
    const P2: u64 = 0xC2B2_AE3D_27D4_EB4F;
    const P3: u64 = 0x1656_67B1_9E37_79F9;
    const P4: u64 = 0x85EB_CA77_C2B2_AE63;
    const P5: u64 = 0x27D4_EB2F_1656_67C5;
    let round = |acc: u64, v: u64| acc.wrapping_add(v.wrapping_mul(P2)).rotate_left(31).wrapping_mul(P1);
    let merge = |acc: u64, v: u64| (acc ^ round(0, v)).wrapping_mul(P1).wrapping_add(P4);
    let u64_at = |b: &[u8]| u64::from_le_bytes(b[..8].try_into().unwrap());
    let mut rest = data;
    let mut h = if data.len() >= 32 {
        let mut v = [P1.wrapping_add(P2), P2, 0, 0u64.wrapping_sub(P1)];
        while rest.len() >= 32 {
            for (i, lane) in v.iter_mut().enumerate() {
                *lane = round(*lane, u64_at(&rest[i * 8..]));
            }
            rest = &rest[32..];
        }
        let mut h = v[0].rotate_left(1).wrapping_add(v[1].rotate_left(7)).wrapping_add(v[2].rotate_left(12)).wrapping_add(v[3].rotate_left(18));
        for lane in v {
            h = merge(h, lane);
        }
        h
    } else {
        P5
    };
    h = h.wrapping_add(data.len() as u64);
    while rest.len() >= 8 {
        h = (h ^ round(0, u64_at(rest))).rotate_left(27).wrapping_mul(P1).wrapping_add(P4);
        rest = &rest[8..];
    }
    if rest.len() >= 4 {
        h = (h ^ u64::from(u32::from_le_bytes(rest[..4].try_into().unwrap())).wrapping_mul(P1)).rotate_left(23).wrapping_mul(P2).wrapping_add(P3);
        rest = &rest[4..];
    }
    for &b in rest {
        h = (h ^ u64::from(b).wrapping_mul(P5)).rotate_left(11).wrapping_mul(P1);
    }
    h ^= h >> 33;
    h = h.wrapping_mul(P2);
    h ^= h >> 29;
    h = h.wrapping_mul(P3);
    h ^ (h >> 32)
}

/// A server added with `ssl` speaks TLS to its server.
#[test]
fn added_server_with_ssl_connects_over_tls() {
    use common::tls::{read_head, serve_tls, server_config, TestCa};
    use std::io::Write;
    let ca = TestCa::new();
    let mut params = rcgen::CertificateParams::new(vec!["app.test".to_string()]).unwrap();
    params.distinguished_name.push(rcgen::DnType::CommonName, "app.test");
    let pem = ca.issue(params);
    let tls_port = serve_tls(std::sync::Arc::new(server_config(&pem)), |mut s| {
        while read_head(&mut s).is_some() {
            if write!(s, "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nTLS").and_then(|_| s.flush()).is_err() {
                return;
            }
        }
    });
    let a = Backend::http(b"A");
    let proxy = ProxyBuilder::new(CONFIG).var("threads", 2).port("a", a.port()).port("b", 1).start();
    let sock = proxy.dir().join("cli.sock");
    assert!(proxy.wait_for_path(&sock, DEADLINE));
    let add = format!("add server be/t1 127.0.0.1:{tls_port} ssl verify none enabled\n");
    assert_eq!(cli(&sock, &add), "New server registered.\n\n");
    assert_eq!(cli(&sock, "set server be/s1 state maint\n"), "\n");
    assert!(bodies(proxy.port("fe"), 6).iter().all(|b| b == "TLS"));
}
