//! HTTP/2 to servers (doc/http.md, "HTTP/2 to servers"): `server ... proto h2` and
//! `ssl ... alpn h2,http/1.1`, through moonproxy and HAProxy 2.6 on the same
//! configuration. The well-behaved backend is HAProxy 2.6 itself (`bind ... proto h2`
//! and TLS binds with ALPN, answering with a Lua service); the misbehaving ones are
//! written here with a few hand-made frames (a reset, garbage, a close, a GOAWAY) and
//! a gRPC-like server that ends its response with trailers.

mod common;

use common::*;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// The backend's service: what it received (method, path, HTTP version, body length and
/// a checksum of the body) and a body of `/size/<n>` more bytes, with content-length
/// unless the path says `nolen`.
const ECHO_LUA: &str = r#"
core.register_service("echo", "http", function(applet)
  local n, sum = 0, 0
  while true do
    local b = applet:receive()
    if b == nil or #b == 0 then break end
    for i = 1, #b do sum = (sum * 31 + b:byte(i)) % 1000000007 end
    n = n + #b
  end
  local size = tonumber(applet.path:match("/size/(%d+)") or "0")
  local body = string.format("%s %s %s len=%d sum=%d te=%s\n", applet.method, applet.path, applet.version, n, sum,
    applet.headers["te"] and applet.headers["te"][0] or "-") .. string.rep("x", size)
  applet:set_status(200)
  applet:add_header("x-seen", tostring(n))
  if not applet.path:match("nolen") then applet:add_header("content-length", tostring(#body)) end
  applet:start_response()
  applet:send(body)
end)
"#;

const BACKEND: &str = "global
    lua-load {{dir}}/echo.lua
    log stdout format raw local0
defaults
    mode http
    timeout connect 2s
    timeout client 5s
    timeout server 5s
frontend h2c
    bind 127.0.0.1:{{h2c}} proto h2
    http-request use-service lua.echo
frontend tls
    bind 127.0.0.1:{{tls}} ssl crt {{dir}}/a.pem alpn h2,http/1.1
    http-request use-service lua.echo
frontend tls11
    bind 127.0.0.1:{{tls11}} ssl crt {{dir}}/a.pem alpn http/1.1
    http-request use-service lua.echo
frontend pp
    bind 127.0.0.1:{{pp}} proto h2 accept-proxy
    http-request use-service lua.echo
frontend tlsh2only
    bind 127.0.0.1:{{tlsh2only}} ssl crt {{dir}}/a.pem alpn h2 proto h2
    log global
    log-format \"BE %HM %HU %HV\"
    http-request use-service lua.echo
frontend early
    bind 127.0.0.1:{{early}} proto h2
    http-request return status 200 content-type text/plain lf-string \"early %[path]\\n\"
";

/// HAProxy 2.6 as the HTTP/2 backend; `None` (a note) where it is not installed
/// outside CI.
fn haproxy_backend(pem: &str) -> Option<Proxy> {
    let bin = match haproxy_bin() {
        Some(b) => b,
        None => {
            assert!(std::env::var_os("CI").is_none(), "CI must install haproxy (see .ci/run)");
            eprintln!("note: haproxy is not installed; the HTTP/2 backend is HAProxy: skipped");
            return None;
        }
    };
    Some(ProxyBuilder::new(BACKEND).bin(bin).file("echo.lua", ECHO_LUA).file("a.pem", pem).free_port("tls").free_port("tls11").free_port("pp").free_port("early").free_port("tlsh2only").start())
}

const PROXY: &str = "global
    log stdout format raw local0
    # Announced to the servers as well (a larger window, table and frames).
    tune.h2.initial-window-size 1048576
    tune.h2.header-table-size 8192
    tune.h2.max-frame-size 32768
defaults
    mode http
    log global
    log-format \"LOG %HM %HU %ST %ts %b\"
    timeout connect 2s
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{{fe}}
    use_backend tls if { path_beg /tls/ }
    use_backend tls11 if { path_beg /tls11/ }
    use_backend pp if { path_beg /pp/ }
    use_backend tlsh2 if { path_beg /tlsh2/ }
    use_backend early if { path_beg /early/ }
    default_backend h2c
backend h2c
    server s 127.0.0.1:{{h2c}} proto h2
backend tls
    server s 127.0.0.1:{{tls}} ssl verify none alpn h2,http/1.1
backend tls11
    server s 127.0.0.1:{{tls11}} ssl verify none alpn h2,http/1.1
backend pp
    server s 127.0.0.1:{{pp}} proto h2 send-proxy
backend tlsh2
    server s 127.0.0.1:{{tls}} ssl verify none proto h2
backend early
    server s 127.0.0.1:{{early}} proto h2
";

/// Runs curl (HTTP/1.1 to the proxy); returns what a comparison needs of the answer:
/// the status, the framing (`cl` / `chunked` / `none`), `x-seen`, the first body line
/// and the body's length.
fn fetch(args: &[&str]) -> String {
    let out = Command::new("curl").args(["-s", "-i", "--max-time", "10"]).args(args).output().expect("curl");
    let all = out.stdout;
    let Some(split) = all.windows(4).position(|w| w == b"\r\n\r\n") else { return format!("no response (curl {:?})", out.status.code()) };
    let head = String::from_utf8_lossy(&all[..split]).to_ascii_lowercase();
    let body = &all[split + 4..];
    let status = head.split(' ').nth(1).unwrap_or("?").to_string();
    let framing = if head.contains("\r\ncontent-length:") {
        "cl"
    } else if head.contains("\r\ntransfer-encoding: chunked") {
        "chunked"
    } else {
        "none"
    };
    let seen = head.lines().find_map(|l| l.strip_prefix("x-seen: ")).unwrap_or("-").trim().to_string();
    let first = String::from_utf8_lossy(body.split(|&b| b == b'\n').next().unwrap_or(b"")).into_owned();
    format!("{status} {framing} x-seen={seen} [{first}] {} curl={}", body.len(), out.status.code().unwrap_or(-1))
}

/// The scenarios against the well-behaved backend, as the client sees them.
fn scenarios(proxy: &Proxy, dir: &Path) -> Vec<String> {
    let url = |p: &str| format!("http://127.0.0.1:{}{p}", proxy.port("fe"));
    let body: Vec<u8> = (0..300_000u64).map(pattern).collect();
    let file = dir.join("body.bin");
    std::fs::write(&file, &body).unwrap();
    let at = format!("@{}", file.display());
    let mut seen = Vec::new();
    for args in [
        vec![url("/small")],
        vec![url("/size/100000")],
        vec![url("/size/1000000/nolen")],
        vec!["-I".into(), url("/size/10")],
        vec!["-H".into(), "TE: trailers".into(), url("/te")],
        // A body larger than the 65,535-byte initial window, with a length and chunked.
        vec!["--data-binary".into(), at.clone(), url("/post")],
        vec!["--data-binary".into(), at.clone(), "-H".into(), "Transfer-Encoding: chunked".into(), url("/chunked")],
        // ALPN: h2 chosen, and http/1.1 where the server offers only that.
        vec![url("/tls/a")],
        vec!["--data-binary".into(), at.clone(), url("/tls/post")],
        vec![url("/tls11/a")],
        // A PROXY header first, then the preface.
        vec![url("/pp/a")],
        // TLS without ALPN, HTTP/2 by `proto h2`.
        vec!["--data-binary".into(), at.clone(), url("/tlsh2/post")],
    ] {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        seen.push(fetch(&args));
    }
    // Keep-alive: several requests on one client connection, each a stream of its own.
    let mut c = Client::connect(proxy.port("fe"));
    for i in 0..3 {
        let r = c.http_request(format!("GET /ka/{i} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes());
        seen.push(format!("{} {}", r.status, String::from_utf8_lossy(&r.body).trim_end()));
    }
    // A server that answers before the request body's end and resets the stream
    // (RFC 9113 §8.1): the answer reaches the client; the next request is served.
    // (Whether curl manages to send its whole body first is a race: its exit code
    // is not compared.)
    let early = fetch(&["--data-binary", &at, &url("/early/1")]);
    seen.push(early[..early.rfind(" curl=").unwrap_or(early.len())].to_string());
    seen.push(fetch(&[&url("/early/2")]));
    seen
}

#[test]
fn answers_through_an_h2_server_match_haproxy() {
    let (pem, _) = tls::cert(&["a.test"]);
    let Some(backend) = haproxy_backend(&pem) else { return };
    let mut runs = Vec::new();
    for bin in moonproxy_and_haproxy() {
        let p = ProxyBuilder::new(PROXY)
            .bin(&bin)
            .port("h2c", backend.port("h2c"))
            .port("tls", backend.port("tls"))
            .port("tls11", backend.port("tls11"))
            .port("pp", backend.port("pp"))
            .port("early", backend.port("early"))
            .start();
        let seen = scenarios(&p, p.dir());
        runs.push((bin, seen));
    }
    let first = &runs[0].1;
    // The checksum the service computes of the 300,000 bytes posted.
    let sum = (0..300_000u64).fold(0u64, |s, i| (s * 31 + pattern(i) as u64) % 1_000_000_007);
    let want = [
        "200 cl x-seen=0 [GET /small HTTP/2.0 len=0 sum=0 te=-] 37 curl=0".to_string(),
        "200 cl x-seen=0 [GET /size/100000 HTTP/2.0 len=0 sum=0 te=-] 100043 curl=0".into(),
        // No content-length from the server: chunked to the HTTP/1.1 client.
        "200 chunked x-seen=0 [GET /size/1000000/nolen HTTP/2.0 len=0 sum=0 te=-] 1000050 curl=0".into(),
        // HEAD: the length, no body.
        "200 cl x-seen=0 [] 0 curl=0".into(),
        "200 cl x-seen=0 [GET /te HTTP/2.0 len=0 sum=0 te=trailers] 41 curl=0".into(),
        format!("200 cl x-seen=300000 [POST /post HTTP/2.0 len=300000 sum={sum} te=-] 50 curl=0"),
        format!("200 cl x-seen=300000 [POST /chunked HTTP/2.0 len=300000 sum={sum} te=-] 53 curl=0"),
        // ALPN chose h2, then http/1.1 where the server offers only that.
        "200 cl x-seen=0 [GET /tls/a HTTP/2.0 len=0 sum=0 te=-] 37 curl=0".into(),
        format!("200 cl x-seen=300000 [POST /tls/post HTTP/2.0 len=300000 sum={sum} te=-] 54 curl=0"),
        "200 cl x-seen=0 [GET /tls11/a HTTP/1.1 len=0 sum=0 te=-] 39 curl=0".into(),
        "200 cl x-seen=0 [GET /pp/a HTTP/2.0 len=0 sum=0 te=-] 36 curl=0".into(),
        format!("200 cl x-seen=300000 [POST /tlsh2/post HTTP/2.0 len=300000 sum={sum} te=-] 56 curl=0"),
        "200 GET /ka/0 HTTP/2.0 len=0 sum=0 te=-".into(),
        "200 GET /ka/1 HTTP/2.0 len=0 sum=0 te=-".into(),
        "200 GET /ka/2 HTTP/2.0 len=0 sum=0 te=-".into(),
        "200 cl x-seen=- [early /early/1] 15".into(),
        "200 cl x-seen=- [early /early/2] 15 curl=0".into(),
    ];
    assert_eq!(first[..], want[..]);
    assert_runs_agree(&runs);
}

// ---- hand-written HTTP/2 servers -----------------------------------------------------

/// How a hand-written server answers the request of each stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Act {
    /// RST_STREAM(INTERNAL_ERROR) before any response.
    Reset,
    /// Bytes that are not HTTP/2 (an HTTP/1.1 server behind `proto h2`).
    Garbage,
    /// Closes the connection.
    Close,
    /// GOAWAY naming no stream processed (the request was not).
    GoAway,
    /// A response head and part of a body, then RST_STREAM.
    Truncated,
    /// A gRPC-like answer: head, a DATA frame, then trailers (`grpc-status`).
    Grpc,
    /// Waits for the flag, then answers 200 "late".
    Late,
    /// Answers which connection (counted from 1) and stream carried the request.
    Which,
}

fn frame(out: &mut Vec<u8>, kind: u8, flags: u8, stream: u32, payload: &[u8]) {
    let l = payload.len();
    out.extend_from_slice(&[(l >> 16) as u8, (l >> 8) as u8, l as u8, kind, flags]);
    out.extend_from_slice(&stream.to_be_bytes());
    out.extend_from_slice(payload);
}

/// An HPACK literal field without indexing, new name (RFC 7541 §6.2.2); short strings only.
fn literal(out: &mut Vec<u8>, name: &str, value: &str) {
    out.push(0);
    out.push(name.len() as u8);
    out.extend_from_slice(name.as_bytes());
    out.push(value.len() as u8);
    out.extend_from_slice(value.as_bytes());
}

/// `:status 200` (static table entry 8) and the literal fields given.
fn head_block(fields: &[(&str, &str)]) -> Vec<u8> {
    let mut b = vec![0x88];
    for (n, v) in fields {
        literal(&mut b, n, v);
    }
    b
}

/// Serves each connection on its own thread: the SETTINGS exchange, then `act` for every
/// stream whose request ended.
fn h2_server(act: Act, go: Arc<AtomicBool>) -> u16 {
    h2_server_counted(act, go).0
}

/// [`h2_server`], with the count of requests it answered (with `Act::Which`).
fn h2_server_counted(act: Act, go: Arc<AtomicBool>) -> (u16, Arc<AtomicUsize>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let answered = Arc::new(AtomicUsize::new(0));
    let count = answered.clone();
    std::thread::spawn(move || {
        for (n, s) in l.incoming().flatten().enumerate() {
            let (go, count) = (go.clone(), count.clone());
            std::thread::spawn(move || serve(s, act, &go, n + 1, &count));
        }
    });
    (port, answered)
}

fn serve(mut s: TcpStream, act: Act, go: &AtomicBool, conn: usize, answered: &AtomicUsize) {
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut preface = [0u8; 24];
    if s.read_exact(&mut preface).is_err() || &preface != b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" {
        return;
    }
    let mut out = Vec::new();
    frame(&mut out, 0x4, 0, 0, &[]);
    let _ = s.write_all(&out);
    loop {
        let mut h = [0u8; 9];
        if s.read_exact(&mut h).is_err() {
            return;
        }
        let len = (h[0] as usize) << 16 | (h[1] as usize) << 8 | h[2] as usize;
        let (kind, flags, id) = (h[3], h[4], u32::from_be_bytes([h[5], h[6], h[7], h[8]]) & 0x7fff_ffff);
        let mut p = vec![0u8; len];
        if s.read_exact(&mut p).is_err() {
            return;
        }
        let mut out = Vec::new();
        match kind {
            0x4 if flags & 1 == 0 => frame(&mut out, 0x4, 1, 0, &[]),
            // The request ended (on HEADERS or DATA): answer it.
            0x0 | 0x1 if flags & 1 != 0 => match act {
                Act::Reset => frame(&mut out, 0x3, 0, id, &2u32.to_be_bytes()),
                Act::Garbage => out.extend_from_slice(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi"),
                Act::Close => return,
                Act::GoAway => frame(&mut out, 0x7, 0, 0, &[0, 0, 0, 0, 0, 0, 0, 0]),
                Act::Truncated => {
                    frame(&mut out, 0x1, 0x4, id, &head_block(&[("content-type", "text/plain")]));
                    frame(&mut out, 0x0, 0, id, b"partial\n");
                    let _ = s.write_all(&out);
                    out.clear();
                    std::thread::sleep(Duration::from_millis(50));
                    frame(&mut out, 0x3, 0, id, &2u32.to_be_bytes());
                }
                Act::Grpc => {
                    frame(&mut out, 0x1, 0x4, id, &head_block(&[("content-type", "application/grpc")]));
                    frame(&mut out, 0x0, 0, id, b"\0\0\0\0\x02hi");
                    let mut t = Vec::new();
                    literal(&mut t, "grpc-status", "0");
                    literal(&mut t, "grpc-message", "fine");
                    frame(&mut out, 0x1, 0x5, id, &t);
                }
                Act::Late => {
                    while !go.load(Ordering::SeqCst) {
                        std::thread::sleep(Duration::from_millis(10));
                    }
                    frame(&mut out, 0x1, 0x4, id, &head_block(&[("content-length", "5")]));
                    frame(&mut out, 0x0, 1, id, b"late\n");
                }
                Act::Which => {
                    answered.fetch_add(1, Ordering::SeqCst);
                    let body = format!("conn={conn} stream={id}\n");
                    frame(&mut out, 0x1, 0x4, id, &head_block(&[("content-length", &body.len().to_string())]));
                    frame(&mut out, 0x0, 1, id, body.as_bytes());
                }
            },
            _ => {}
        }
        if !out.is_empty() && s.write_all(&out).is_err() {
            return;
        }
    }
}

const BAD_PROXY: &str = "global
    log stdout format raw local0
defaults
    mode http
    log global
    log-format \"LOG %HM %HU %ST %ts %b %rc\"
    timeout connect 2s
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{{fe}}
    use_backend reset if { path_beg /reset }
    use_backend garbage if { path_beg /garbage }
    use_backend close if { path_beg /close }
    use_backend goaway if { path_beg /goaway }
    use_backend truncated if { path_beg /truncated }
    use_backend late if { path_beg /late }
    use_backend retried if { path_beg /retried }
backend reset
    server s 127.0.0.1:{{reset}} proto h2
backend garbage
    server s 127.0.0.1:{{garbage}} proto h2
backend close
    server s 127.0.0.1:{{close}} proto h2
backend goaway
    server s 127.0.0.1:{{goaway}} proto h2
backend truncated
    server s 127.0.0.1:{{truncated}} proto h2
backend late
    server s 127.0.0.1:{{late}} proto h2
backend retried
    retries 2
    retry-on empty-response
    server s 127.0.0.1:{{reset}} proto h2
";

/// Servers that reset, send garbage, close or go away: a 502 (`SH`) as in HAProxy (a
/// reset counts as an empty response for `retry-on`), a response cut short is cut short
/// for the client too (`SD`), and a stream waiting on another server meanwhile gets
/// its answer.
#[test]
fn misbehaving_h2_servers_get_haproxys_502_and_harm_no_other_stream() {
    let mut runs = Vec::new();
    for bin in moonproxy_and_haproxy() {
        let go = Arc::new(AtomicBool::new(false));
        let mut b = ProxyBuilder::new(BAD_PROXY).bin(&bin);
        for (name, act) in [("reset", Act::Reset), ("garbage", Act::Garbage), ("close", Act::Close), ("goaway", Act::GoAway), ("truncated", Act::Truncated), ("late", Act::Late)] {
            b = b.port(name, h2_server(act, go.clone()));
        }
        let p = b.start();
        let mark = p.mark();
        let fe = p.port("fe");
        // A request in flight on another server the whole time.
        let late = std::thread::spawn(move || fetch(&[&format!("http://127.0.0.1:{fe}/late")]));
        let mut seen = Vec::new();
        for path in ["/reset", "/garbage", "/close", "/truncated", "/retried"] {
            seen.push(fetch(&[&format!("http://127.0.0.1:{fe}{path}")]));
        }
        go.store(true, Ordering::SeqCst);
        seen.push(late.join().unwrap());
        for path in ["/reset", "/garbage", "/close", "/truncated", "/retried", "/late"] {
            seen.push(p.wait_for_line_after(mark, |l| l.starts_with("LOG ") && l.contains(&format!(" {path} ")), DEADLINE));
        }
        if bin == moonproxy_bin() {
            // A GOAWAY that leaves the request out (it was not processed): a 502 at once,
            // where HAProxy 2.6 waits for `timeout server` (504 `sH`). A deviation
            // (doc/http.md).
            assert_eq!(fetch(&[&format!("http://127.0.0.1:{fe}/goaway")]), "502 cl x-seen=- [<html><body><h1>502 Bad Gateway</h1>] 107 curl=0");
            p.wait_for_line_after(mark, |l| l == "LOG GET /goaway 502 SH goaway 0", DEADLINE);
            // The message names the server and what went wrong.
            p.wait_for_line_after(mark, |l| l.contains("HTTP/2 server reset/s reset the stream (INTERNAL_ERROR)"), DEADLINE);
            p.wait_for_line_after(mark, |l| l.contains("HTTP/2 server garbage/s: connection error FRAME_SIZE_ERROR"), DEADLINE);
        }
        runs.push((bin, seen));
    }
    let first = &runs[0].1;
    let bad_gateway = "502 cl x-seen=- [<html><body><h1>502 Bad Gateway</h1>] 107 curl=0";
    assert_eq!(&first[..3], [bad_gateway; 3], "{first:?}");
    // The client sees the response cut short: curl's error 18 (partial file).
    assert_eq!(first[3], "200 chunked x-seen=- [partial] 8 curl=18", "{first:?}");
    assert_eq!(first[4], bad_gateway);
    assert_eq!(first[5], "200 cl x-seen=- [late] 5 curl=0");
    // A reset before the response is an empty response to `retry-on`: retried twice.
    let logs = ["reset 502 SH reset 0", "garbage 502 SH garbage 0", "close 502 SH close 0", "truncated 200 SD truncated 0", "retried 502 SH retried 2", "late 200 -- late 0"];
    assert_eq!(first[6..], logs.map(|l| format!("LOG GET /{l}")));
    assert_runs_agree(&runs);
}

/// gRPC through moonproxy end to end: an HTTP/2 client, HTTP/2 to the server, and the
/// response's trailers (`grpc-status`) reaching the client as HTTP/2 trailers.
#[test]
fn grpc_trailers_reach_an_h2_client() {
    let config = "defaults
    mode http
    timeout connect 2s
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{{fe}} proto h2
    default_backend grpc
backend grpc
    server s 127.0.0.1:{{grpc}} proto h2
";
    let mut runs = Vec::new();
    for bin in moonproxy_and_haproxy() {
        let port = h2_server(Act::Grpc, Arc::new(AtomicBool::new(true)));
        let p = ProxyBuilder::new(config).bin(&bin).port("grpc", port).start();
        let out = Command::new("nghttp")
            .args(["-v", "-H", "content-type: application/grpc", "-H", "te: trailers", "-d", "/dev/null"])
            .arg(format!("http://127.0.0.1:{}/svc/Method", p.port("fe")))
            .output()
            .expect("nghttp");
        let text = String::from_utf8_lossy(&out.stdout);
        // The fields of the frames received, in order (timestamps dropped).
        let fields: Vec<String> = text.lines().filter(|l| l.contains("recv (stream_id=") || l.trim() == "; END_STREAM | END_HEADERS").map(|l| l[l.find(']').map_or(0, |i| i + 2)..].trim().to_string()).collect();
        runs.push((bin, fields));
    }
    let first = &runs[0].1;
    // The head, then the trailers, the end of the stream on them.
    let want = ["recv (stream_id=13) :status: 200", "recv (stream_id=13) content-type: application/grpc", "recv (stream_id=13) grpc-status: 0", "recv (stream_id=13) grpc-message: fine", "; END_STREAM | END_HEADERS"];
    assert_eq!(first[..], want, "{first:?}");
    assert_runs_agree(&runs);
}

/// An HTTP/2 server connection left idle after a response carries the next request of
/// the same client connection, on the next stream id, as in HAProxy.
#[test]
fn an_idle_h2_connection_carries_the_next_request() {
    let config = "defaults
    mode http
    timeout connect 2s
    timeout client 5s
    timeout server 5s
listen fe
    bind 127.0.0.1:{{fe}}
    server s 127.0.0.1:{{which}} proto h2
";
    let mut runs = Vec::new();
    for bin in moonproxy_and_haproxy() {
        let port = h2_server(Act::Which, Arc::new(AtomicBool::new(true)));
        let p = ProxyBuilder::new(config).bin(&bin).port("which", port).start();
        let mut c = Client::connect(p.port("fe"));
        let mut seen = Vec::new();
        for i in 0..3 {
            let r = c.http_request(format!("GET /{i} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes());
            seen.push(format!("{} {}", r.status, String::from_utf8_lossy(&r.body).trim_end()));
        }
        runs.push((bin, seen));
    }
    assert_eq!(runs[0].1, ["200 conn=1 stream=1", "200 conn=1 stream=3", "200 conn=1 stream=5"]);
    assert_runs_agree(&runs);
}

/// `option httpchk` on a `proto h2` server checks it over HTTP/2, as HAProxy does: an
/// HTTP/2-only server stays up (checked over HTTP/1.1, it would go down at once).
#[test]
fn http_checks_of_an_h2_server_speak_h2() {
    let config = "defaults
    mode http
    timeout connect 2s
    timeout client 5s
    timeout server 5s
listen fe
    bind 127.0.0.1:{{fe}}
    option httpchk GET /health
    server s 127.0.0.1:{{which}} proto h2 check inter 100ms fall 1 rise 1
";
    let mut runs = Vec::new();
    for bin in moonproxy_and_haproxy() {
        let (port, answered) = h2_server_counted(Act::Which, Arc::new(AtomicBool::new(true)));
        let p = ProxyBuilder::new(config).bin(&bin).port("which", port).start();
        assert!(wait_until(DEADLINE, || answered.load(Ordering::SeqCst) >= 3), "{}: no check was answered", bin.display());
        let r = Client::connect(p.port("fe")).http_request(b"GET /x HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
        runs.push((bin, vec![r.status]));
    }
    assert_eq!(runs[0].1, [200]);
    assert_runs_agree(&runs);
}

/// HTTP checks over TLS follow ALPN as the traffic does: a server that selects `h2`
/// (here one that speaks nothing else) is checked over HTTP/2 and stays up, as in
/// HAProxy with `check-alpn h2`. (Without `check-alpn`, HAProxy 2.6 offers the
/// server's `alpn` to its checks, gets `h2` and speaks HTTP/1.1 anyway: the server
/// goes down. moonproxy speaks HTTP/2 there too: a deviation, doc/http.md.)
#[test]
fn http_checks_over_tls_follow_alpn_h2() {
    let (pem, _) = tls::cert(&["a.test"]);
    let Some(backend) = haproxy_backend(&pem) else { return };
    let config = "defaults
    mode http
    timeout connect 2s
    timeout client 5s
    timeout server 5s
listen fe
    bind 127.0.0.1:{{fe}}
    option httpchk GET /health
    server s 127.0.0.1:{{be}} ssl verify none alpn h2,http/1.1 {{check_alpn}} check inter 100ms fall 1 rise 1
";
    let mut runs = Vec::new();
    for bin in moonproxy_and_haproxy() {
        let mark = backend.mark();
        let p = ProxyBuilder::new(config).bin(&bin).port("be", backend.port("tlsh2only")).var("check_alpn", "check-alpn h2").start();
        // Two checks reached the server as HTTP/2 requests.
        let checks = || backend.lines()[mark..].iter().filter(|l| l.text.starts_with("BE GET /health HTTP/2.0")).count();
        assert!(wait_until(DEADLINE, || checks() >= 2), "{}: {} checks over HTTP/2", bin.display(), checks());
        let r = Client::connect(p.port("fe")).http_request(b"GET /x HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
        runs.push((bin, vec![r.status]));
    }
    assert_eq!(runs[0].1, [200]);
    assert_runs_agree(&runs);
    // Without `check-alpn`: HTTP/2 as well (HAProxy 2.6 would mark the server down).
    let mark = backend.mark();
    let p = ProxyBuilder::new(config).port("be", backend.port("tlsh2only")).var("check_alpn", "").start();
    let checks = || backend.lines()[mark..].iter().filter(|l| l.text.starts_with("BE GET /health HTTP/2.0")).count();
    assert!(wait_until(DEADLINE, || checks() >= 2), "{} checks over HTTP/2", checks());
    let r = Client::connect(p.port("fe")).http_request(b"GET /x HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    assert_eq!(r.status, 200);
}

/// `check-proto` gives HTTP checks their protocol in place of the server's: `h2` checks
/// an HTTP/2-only server over HTTP/2 (it stays up) where its traffic has no `proto`,
/// and `h1` on a `proto h2` server checks it over HTTP/1.1 (it goes down): the same
/// verdicts as HAProxy 2.6's.
#[test]
fn check_proto_chooses_the_protocol_of_http_checks() {
    let config = "defaults
    mode http
    timeout connect 2s
    timeout client 5s
    timeout server 5s
listen fe
    bind 127.0.0.1:{{fe}}
    option httpchk GET /health
    server s 127.0.0.1:{{which}} {{protos}} check inter 100ms fall 1 rise 1
";
    let mut runs = Vec::new();
    for bin in moonproxy_and_haproxy() {
        let mut seen = Vec::new();
        for protos in ["check-proto h2", "proto h2 check-proto h1"] {
            let (port, answered) = h2_server_counted(Act::Which, Arc::new(AtomicBool::new(true)));
            let p = ProxyBuilder::new(config).bin(&bin).port("which", port).var("protos", protos).start();
            let down = || p.count_lines(|l| l.contains("Server fe/s is DOWN")) > 0;
            assert!(wait_until(DEADLINE, || answered.load(Ordering::SeqCst) >= 3 || down()), "{protos}: neither");
            seen.push(format!("{protos}: {}", if down() { "DOWN" } else { "checks answered over HTTP/2" }));
        }
        runs.push((bin, seen));
    }
    assert_eq!(runs[0].1, ["check-proto h2: checks answered over HTTP/2", "proto h2 check-proto h1: DOWN"]);
    assert_runs_agree(&runs);
}
