//! HTTP/2 on the client side (doc/http.md, "HTTP/2"): clear-text prior knowledge and
//! TLS with ALPN, through moonproxy and HAProxy 2.6 on the same configuration, with
//! curl, nghttp's h2load and a hand-written client for malformed input. The backend is
//! the harness's HTTP/1.1 application (tests/common/http.rs).

mod common;

use common::*;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;

const LUA: &str = r#"
core.register_service("hello", "http", function(applet)
    local body = "lua " .. applet.method .. " " .. applet.path .. " " .. applet.version .. "\n"
    applet:set_status(200)
    applet:add_header("content-type", "text/plain")
    applet:add_header("content-length", tostring(#body))
    applet:start_response()
    applet:send(body)
end)
"#;

const CONFIG: &str = "global
    log stdout format raw local0
    lua-load {{dir}}/svc.lua
    tune.h2.max-concurrent-streams 20
defaults
    mode http
    log global
    timeout connect 2s
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{{fe}}
    bind 127.0.0.1:{{tls}} ssl crt {{dir}}/a.pem alpn h2,http/1.1
    capture request header Host len 32
    log-format \"%HM %HU %HV %ST %hr %{+Q}r\"
    http-request return status 203 content-type text/plain lf-string \"rule %[req.ver] %[path] %[url]\\n\" if { path /rule }
    http-request use-service lua.hello if { path /lua }
    default_backend be
backend be
    server s1 127.0.0.1:{{be}}
";

fn start(bin: &Path, app: &Backend, pem: &str) -> Proxy {
    ProxyBuilder::new(CONFIG).bin(bin).file("svc.lua", LUA).file("a.pem", pem).port("be", app.port()).free_port("tls").start()
}

/// Runs curl; returns its standard output (the body, then `-w`'s line).
fn curl(args: &[&str]) -> String {
    let out = Command::new("curl").args(["-s", "--max-time", "10"]).args(args).output().expect("curl");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// What a client sees of each scenario, to compare between the proxies.
fn scenarios(proxy: &Proxy, app: &Backend, dir: &Path) -> Vec<String> {
    let clear = format!("http://127.0.0.1:{}", proxy.port("fe"));
    let tls = format!("https://127.0.0.1:{}", proxy.port("tls"));
    let w = ["-w", "\n%{http_code} %{http_version}"];
    let mut seen = Vec::new();
    // Prior knowledge: a rule, a Lua service and the backend's view of the request.
    for path in ["/rule?x=1", "/lua", "/headers"] {
        let out = curl(&[&["--http2-prior-knowledge", &format!("{clear}{path}"), "-H", "X-Test: one", "-H", "Cookie: a=1", "-H", "Cookie: b=2"][..], &w[..]].concat());
        // The backend's head: its request line and fields in order, values but the port.
        seen.push(out.replace(&proxy.port("fe").to_string(), "PORT"));
    }
    // Bodiless answers (HEAD, 204) and an interim 100 Continue: the head of what the
    // client gets.
    for args in [&["-I"][..], &["-D", "-", "-o", "/dev/null"][..]] {
        let path = if args[0] == "-I" { "/head" } else { "/204" };
        let out = curl(&[args, &["--http2-prior-knowledge", &format!("{clear}{path}")][..], &w[..]].concat());
        seen.push(out.lines().filter(|l| !l.starts_with("date:")).collect::<Vec<_>>().join("|"));
    }
    let out = curl(&[&["--http2-prior-knowledge", "-D", "-", "-H", "Expect: 100-continue", "--data-binary", "ping", &format!("{clear}/continue")][..], &w[..]].concat());
    seen.push(out.replace("\r", ""));
    // A POST larger than the windows both ways, echoed back; and a large download.
    let body: Vec<u8> = (0..300_000u64).map(pattern).collect();
    std::fs::write(dir.join("body.bin"), &body).unwrap();
    let out = Command::new("curl")
        .args(["-sv", "--max-time", "10", "--http2-prior-knowledge", "--data-binary"])
        .arg(format!("@{}", dir.join("body.bin").display()))
        .arg(format!("{clear}/echo"))
        .output()
        .unwrap();
    assert!(out.stdout == body, "the echoed body differs ({} bytes back): {}", out.stdout.len(), String::from_utf8_lossy(&out.stderr));
    let out = Command::new("curl").args(["-s", "--max-time", "10", "--http2-prior-knowledge"]).arg(format!("{clear}/download/1000000")).output().unwrap();
    assert_eq!(out.stdout.len(), 1_000_000);
    assert!(out.stdout.iter().enumerate().all(|(i, &b)| b == pattern(i as u64)), "the downloaded body differs");
    // The same with the client's windows at 64 KiB (stream and connection): the proxy
    // sends within them and waits for its WINDOW_UPDATEs.
    let out = Command::new("nghttp").args(["-w", "16", "-W", "16"]).arg(format!("{clear}/download/1000000")).output().expect("nghttp");
    assert_eq!(out.stdout.len(), 1_000_000, "{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.stdout.iter().enumerate().all(|(i, &b)| b == pattern(i as u64)), "the downloaded body differs (64 KiB windows)");
    // TLS: ALPN h2, and http/1.1 for a client that only offers it.
    for v in ["--http2", "--http1.1"] {
        seen.push(curl(&[&["-k", v, &format!("{tls}/rule")][..], &w[..]].concat()).replace(&proxy.port("tls").to_string(), "TLS"));
    }
    // Many streams on few connections: every request reaches the backend.
    let before = app.stats().requests();
    let conns_before = app.connections();
    let out = Command::new("h2load").args(["-n", "2000", "-c", "4", "-m", "20"]).arg(format!("{clear}/x")).output().expect("h2load");
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(report.contains("2000 succeeded, 0 failed, 0 errored"), "{report}");
    assert!(wait_until(DEADLINE, || app.stats().requests() - before == 2000), "the backend saw {} requests", app.stats().requests() - before);
    // Server connections are reused between the streams (`http-reuse safe`: only the
    // first request of a client connection, not of each stream, gets its own): at most
    // the 80 streams in flight at once hold one.
    let opened = app.connections() - conns_before;
    assert!(opened <= 100, "{opened} server connections for 2000 requests");
    seen
}

#[test]
fn requests_over_h2_read_the_same_as_through_haproxy() {
    let (pem, _) = tls::cert(&["a.test"]);
    let mut runs = Vec::new();
    for bin in moonproxy_and_haproxy() {
        let app = http_app();
        let proxy = start(&bin, &app, &pem);
        let mark = proxy.mark();
        let seen = scenarios(&proxy, &app, proxy.dir());
        // The log lines of the first scenarios (the h2load ones are not compared).
        let mut lines: Vec<String> = Vec::new();
        for want in ["/rule?x=1", "/lua", "/headers"] {
            let l = proxy.wait_for_line_after(mark, |l| l.starts_with("GET ") && l.contains(want), DEADLINE);
            lines.push(l.replace(&proxy.port("fe").to_string(), "PORT"));
        }
        runs.push((bin, [seen, lines].concat()));
    }
    let first = &runs[0].1;
    assert!(first[0].starts_with("rule 2.0 /rule http://127.0.0.1:PORT/rule?x=1\n\n203 2"), "{first:?}");
    assert!(first[1].starts_with("lua GET "), "{first:?}");
    assert!(first[2].starts_with("GET /headers HTTP/1.1\r\nhost: 127.0.0.1:PORT\r\n"), "{first:?}");
    assert_eq!(first[3], "HTTP/2 200 |content-length: 5|||200 2", "HEAD");
    assert_eq!(first[4], "HTTP/2 204 |||204 2");
    assert!(first[5].starts_with("HTTP/2 100 \n\nHTTP/2 200 \ncontent-length: 4\n\nping"), "{first:?}");
    assert!(first[6].ends_with("203 2"), "{first:?}");
    assert!(first[7].ends_with("203 1.1"), "{first:?}");
    assert!(first[8].contains("HTTP/2.0 203 {127.0.0.1:PORT} \"GET http://127.0.0.1:PORT/rule?x=1 HTTP/2.0\""), "{first:?}");
    assert_runs_agree(&runs);
}

// ---- malformed input ---------------------------------------------------------

/// A literal header field without indexing, new name, no Huffman (RFC 7541 §6.2.2).
fn literal(block: &mut Vec<u8>, name: &str, value: &str) {
    block.push(0);
    block.push(name.len() as u8);
    block.extend_from_slice(name.as_bytes());
    block.push(value.len() as u8);
    block.extend_from_slice(value.as_bytes());
}

fn frame(out: &mut Vec<u8>, kind: u8, flags: u8, stream: u32, payload: &[u8]) {
    let l = payload.len();
    out.extend_from_slice(&[(l >> 16) as u8, (l >> 8) as u8, l as u8, kind, flags]);
    out.extend_from_slice(&stream.to_be_bytes());
    out.extend_from_slice(payload);
}

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

fn request_block(path: &str, extra: &[(&str, &str)]) -> Vec<u8> {
    let mut b = Vec::new();
    for (n, v) in [(":method", "GET"), (":scheme", "http"), (":path", path), (":authority", "h")].iter().chain(extra) {
        literal(&mut b, n, v);
    }
    b
}

/// Sends `input` on a new connection and describes how the proxy answers: the
/// first GOAWAY or RST_STREAM (with its error code), a HEADERS answer, an HTTP/1
/// status line, or the close.
fn answer(port: u16, input: &[u8]) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(DEADLINE)).unwrap();
    s.write_all(input).unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16384];
    loop {
        if buf.starts_with(b"HTTP/1.") {
            return String::from_utf8_lossy(&buf[..12.min(buf.len())]).into_owned();
        }
        let mut at = 0;
        while buf.len() >= at + 9 {
            let len = (buf[at] as usize) << 16 | (buf[at + 1] as usize) << 8 | buf[at + 2] as usize;
            if buf.len() < at + 9 + len {
                break;
            }
            let (kind, id) = (buf[at + 3], u32::from_be_bytes(buf[at + 5..at + 9].try_into().unwrap()) & 0x7fff_ffff);
            let p = &buf[at + 9..at + 9 + len];
            match kind {
                7 => return format!("GOAWAY {}", u32::from_be_bytes(p[4..8].try_into().unwrap())),
                3 => return format!("RST_STREAM {id} {}", u32::from_be_bytes(p[..4].try_into().unwrap())),
                1 => return format!("HEADERS {id}"),
                _ => {}
            }
            at += 9 + len;
        }
        match s.read(&mut chunk) {
            Ok(0) | Err(_) => return "closed".into(),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

fn malformed_cases() -> Vec<(&'static str, Vec<u8>)> {
    let start = || {
        let mut v = PREFACE.to_vec();
        frame(&mut v, 4, 0, 0, &[]);
        v
    };
    let mut cases = Vec::new();
    cases.push(("bad preface", b"PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n".to_vec()));
    let mut v = start();
    v.extend_from_slice(&[0, 0x80, 0, 0, 0, 0, 0, 0, 1]); // DATA of 32 KiB > 16384
    v.extend_from_slice(&[0u8; 32768]);
    cases.push(("frame too large", v));
    let mut v = start();
    frame(&mut v, 6, 0, 0, &[0; 7]);
    cases.push(("PING of 7 bytes", v));
    let mut v = start();
    frame(&mut v, 1, 5, 1, &request_block("/", &[("X-Upper", "v")]));
    cases.push(("upper-case field name", v));
    let mut v = start();
    frame(&mut v, 1, 5, 1, &request_block("/", &[("connection", "close")]));
    cases.push(("connection-specific field", v));
    let mut v = start();
    frame(&mut v, 1, 5, 1, &[0xff, 0xff, 0xff, 0xff]);
    cases.push(("HPACK index overflow", v));
    let mut v = start();
    frame(&mut v, 1, 5, 2, &request_block("/", &[]));
    cases.push(("even stream id", v));
    let mut v = start();
    frame(&mut v, 8, 0, 0, &0x7fff_ffffu32.to_be_bytes());
    cases.push(("connection window overflow", v));
    let mut v = start();
    frame(&mut v, 1, 4, 1, &request_block("/", &[("content-length", "4")]));
    frame(&mut v, 0, 1, 1, b"abc");
    cases.push(("content-length disagrees", v));
    // 21 requests on a path the backend never answers: the last is beyond
    // `tune.h2.max-concurrent-streams 20`.
    let mut v = start();
    for i in 0..21u32 {
        frame(&mut v, 1, 5, 2 * i + 1, &request_block("/slow", &[]));
    }
    cases.push(("beyond max-concurrent-streams", v));
    cases
}

#[test]
fn malformed_input_is_answered_as_haproxy_does() {
    let (pem, _) = tls::cert(&["a.test"]);
    let mut runs = Vec::new();
    for bin in moonproxy_and_haproxy() {
        let app = http_app();
        let proxy = start(&bin, &app, &pem);
        let mut seen = Vec::new();
        for (name, input) in malformed_cases() {
            seen.push(format!("{name}: {}", answer(proxy.port("fe"), &input)));
            // Other clients are still served.
            let ok = curl(&["--http2-prior-knowledge", "-w", "%{http_code}", &format!("http://127.0.0.1:{}/rule", proxy.port("fe"))]);
            assert!(ok.ends_with("203"), "{}: after {name}: {ok:?}", bin.display());
        }
        runs.push((bin, seen));
    }
    eprintln!("{runs:#?}");
    let ours = &runs[0].1;
    for (want, got) in [
        ("frame too large: GOAWAY 6", &ours[1]),
        ("PING of 7 bytes: GOAWAY 6", &ours[2]),
        ("upper-case field name: RST_STREAM 1 1", &ours[3]),
        ("HPACK index overflow: GOAWAY 9", &ours[5]),
        ("beyond max-concurrent-streams: RST_STREAM 41 7", &ours[9]),
    ] {
        assert_eq!(got, want);
    }
    assert_runs_agree(&runs);
}

// ---- option httplog ------------------------------------------------------------

/// Client port, dates, timers and byte counts vary from run to run (and HAProxy counts
/// the bytes of its internal form): masked. The rest must match.
fn masked_httplog(line: &str) -> String {
    let mut words: Vec<String> = line.split(' ').map(str::to_string).collect();
    if let Some((ip, _)) = words[0].rsplit_once(':') {
        words[0] = format!("{ip}:PORT");
    }
    words[1] = "[DATE]".into();
    words[4] = words[4].split('/').map(|t| if t == "-1" { "-1" } else { "T" }).collect::<Vec<_>>().join("/");
    words[6] = "BYTES".into();
    words.join(" ")
}

#[test]
fn httplog_lines_over_h2_read_the_same_as_haproxys() {
    let mut runs = Vec::new();
    for bin in moonproxy_and_haproxy() {
        let app = http_app();
        let proxy = ProxyBuilder::new(
            "global
    log stdout format raw local0
defaults
    mode http
    log global
    option httplog
    timeout connect 2s
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{{fe}}
    capture request header Host len 32
    http-request deny if { path /denied }
    default_backend be
backend be
    server s1 127.0.0.1:{{be}}
",
        )
        .bin(&bin)
        .port("be", app.port())
        .start();
        let mut lines = Vec::new();
        for path in ["/page?a=1", "/denied", "/204"] {
            let mark = proxy.mark();
            let code = curl(&["--http2-prior-knowledge", "-o", "/dev/null", "-w", "%{http_code}", &format!("http://127.0.0.1:{}{path}", proxy.port("fe"))]);
            let line = proxy.wait_for_line_after(mark, |l| l.contains(path), DEADLINE);
            lines.push(format!("{code} {}", masked_httplog(&line).replace(&proxy.port("fe").to_string(), "FE")));
        }
        runs.push((bin, lines));
    }
    let ours = &runs[0].1;
    assert!(ours[0].starts_with("200 ") && ours[0].contains(" fe be/s1 ") && ours[0].ends_with("{127.0.0.1:FE} \"GET http://127.0.0.1:FE/page?a=1 HTTP/2.0\""), "{ours:?}");
    assert!(ours[1].starts_with("403 ") && ours[1].contains(" PR-- "), "{ours:?}");
    assert_runs_agree(&runs);
}

// ---- connection life -------------------------------------------------------------

/// Reads frames until GOAWAY or the close: the GOAWAY's error code, or `None`.
fn goaway(s: &mut TcpStream) -> Option<u32> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16384];
    loop {
        let mut at = 0;
        while buf.len() >= at + 9 {
            let len = (buf[at] as usize) << 16 | (buf[at + 1] as usize) << 8 | buf[at + 2] as usize;
            if buf.len() < at + 9 + len {
                break;
            }
            if buf[at + 3] == 7 {
                return Some(u32::from_be_bytes(buf[at + 13..at + 17].try_into().unwrap()));
            }
            at += 9 + len;
        }
        buf.drain(..at);
        match s.read(&mut chunk) {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

/// An idle connection after `timeout http-keep-alive` and one on soft stop get
/// GOAWAY(NO_ERROR); a `proto h2` bind speaks HTTP/2 at once; `option
/// disable-h2-upgrade` reads the preface as HTTP/1. On both proxies.
#[test]
fn idle_timeout_soft_stop_and_proto_h2() {
    let mut runs = Vec::new();
    for bin in moonproxy_and_haproxy() {
        let app = http_app();
        let mut proxy = ProxyBuilder::new(
            "defaults
    mode http
    timeout connect 2s
    timeout client 5s
    timeout server 5s
    timeout http-keep-alive 100ms
frontend fe
    bind 127.0.0.1:{{fe}}
    bind 127.0.0.1:{{h2}} proto h2
    default_backend be
frontend noup
    bind 127.0.0.1:{{noup}}
    option disable-h2-upgrade
    default_backend be
frontend quiet
    bind 127.0.0.1:{{quiet}}
    timeout http-keep-alive 1h
    timeout client 1h
    default_backend be
backend be
    server s1 127.0.0.1:{{be}}
",
        )
        .bin(&bin)
        .port("be", app.port())
        .free_port("h2")
        .free_port("quiet")
        .free_port("noup")
        .start();
        let mut seen = Vec::new();
        let mut hello = PREFACE.to_vec();
        frame(&mut hello, 4, 0, 0, &[]);
        frame(&mut hello, 1, 5, 1, &request_block("/x", &[]));
        // Idle after one exchange: the keep-alive timeout ends it.
        let mut idle = TcpStream::connect(proxy.addr("fe")).unwrap();
        idle.set_read_timeout(Some(DEADLINE)).unwrap();
        idle.write_all(&hello).unwrap();
        seen.push(format!("idle: {:?}", goaway(&mut idle)));
        // `proto h2`: HTTP/2 from the first byte (curl speaks it with prior knowledge).
        seen.push(curl(&["--http2-prior-knowledge", "-w", " %{http_version}", &format!("http://127.0.0.1:{}/x", proxy.port("h2"))]));
        // `option disable-h2-upgrade`: the preface is read as an HTTP/1 request.
        seen.push(format!("no upgrade: {}", answer(proxy.port("noup"), &hello)));
        // Soft stop: a connection that would stay open for an hour is told to go.
        let mut kept = TcpStream::connect(proxy.addr("quiet")).unwrap();
        kept.set_read_timeout(Some(DEADLINE)).unwrap();
        kept.write_all(&hello).unwrap();
        assert_eq!(answer_on(&mut kept), "HEADERS 1", "{}", bin.display());
        proxy.signal("USR1");
        seen.push(format!("soft stop: {:?}", goaway(&mut kept)));
        // HAProxy waits for the client to close after its GOAWAY; moonproxy closes an
        // idle connection at once. Either way the process leaves once it is closed.
        drop(kept);
        assert!(proxy.wait_exit(DEADLINE).success(), "{}", bin.display());
        runs.push((bin, seen));
    }
    let ours = &runs[0].1;
    assert_eq!(ours[0], "idle: Some(0)");
    assert_eq!(ours[1], "path=/x 2");
    assert_eq!(ours[2], "no upgrade: HTTP/1.1 400");
    assert_eq!(ours[3], "soft stop: Some(0)");
    assert_runs_agree(&runs);
}

/// [`answer`] on a connection already open.
fn answer_on(s: &mut TcpStream) -> String {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16384];
    loop {
        let mut at = 0;
        while buf.len() >= at + 9 {
            let len = (buf[at] as usize) << 16 | (buf[at + 1] as usize) << 8 | buf[at + 2] as usize;
            if buf.len() < at + 9 + len {
                break;
            }
            let (kind, id) = (buf[at + 3], u32::from_be_bytes(buf[at + 5..at + 9].try_into().unwrap()) & 0x7fff_ffff);
            if kind == 1 {
                return format!("HEADERS {id}");
            }
            at += 9 + len;
        }
        match s.read(&mut chunk) {
            Ok(0) | Err(_) => return "closed".into(),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

/// Five requests on one HTTP/2 connection: one session and one connection in the
/// frontend's statistics, five requests, as in HAProxy.
#[test]
fn statistics_count_the_connection_once_and_every_request() {
    let mut runs = Vec::new();
    for bin in moonproxy_and_haproxy() {
        let proxy = ProxyBuilder::new(
            "global
    stats socket {{dir}}/stats.sock level admin
defaults
    mode http
    timeout connect 2s
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{{fe}}
    http-request return status 200 content-type text/plain string ok
",
        )
        .bin(&bin)
        .start();
        let base = format!("http://127.0.0.1:{}", proxy.port("fe"));
        let out = Command::new("nghttp").arg("-n").args(["/a", "/b", "/c", "/d", "/e"].map(|p| format!("{base}{p}"))).output().expect("nghttp");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let sock = proxy.dir().join("stats.sock");
        let mut seen = String::new();
        assert!(
            wait_until(DEADLINE, || {
                let stat = cli(&sock, "show stat\n");
                let header: Vec<&str> = stat.lines().next().unwrap_or("").trim_start_matches("# ").split(',').collect();
                let Some(row) = stat.lines().find(|l| l.starts_with("fe,FRONTEND,")) else { return false };
                let row: Vec<&str> = row.split(',').collect();
                let col = |name: &str| header.iter().position(|h| *h == name).and_then(|i| row.get(i)).copied().unwrap_or("?");
                seen = format!("stot={} conn_tot={} req_tot={} scur={}", col("stot"), col("conn_tot"), col("req_tot"), col("scur"));
                col("scur") == "0"
            }),
            "{seen}"
        );
        runs.push((bin, vec![seen]));
    }
    assert_eq!(runs[0].1[0], "stot=1 conn_tot=1 req_tot=5 scur=0");
    assert_runs_agree(&runs);
}
