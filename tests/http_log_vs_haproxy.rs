//! `option httplog` lines, header captures, `unique-id-format` and `use_backend` on
//! HTTP conditions, side by side with HAProxy 2.6 on the same configuration: the lines
//! must be the same but for what differs from run to run (client port, dates, timers).

mod common;

use common::*;
use std::io::Write;
use std::net::TcpStream;
use std::path::Path;

fn start(bin: &Path, app: &Backend) -> Proxy {
    ProxyBuilder::new(
        "global
    log stdout format raw local0
defaults
    mode http
    log global
    option httplog
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{{fe}}
    capture request header Host len 12
    capture request header X-Trace len 32
    capture response header Content-Length len 8
    capture cookie SID len 10
    unique-id-format %{+X}o\\ %ci-%fp
    unique-id-header X-Unique-ID
    use_backend api if { path_beg /api } { hdr(host) -i api.example.com }
    use_backend api if { url_param(to) -m str api }
    default_backend web
backend api
    server a1 127.0.0.1:{{be}}
backend web
    server w1 127.0.0.1:{{be}}
",
    )
    .bin(bin)
    .port("be", app.port())
    .start()
}

/// The requests, each on its own connection.
const REQUESTS: [&[u8]; 6] = [
    b"GET /api/users HTTP/1.1\r\nHost: api.example.com\r\nX-Trace: abc\r\n\r\n",
    b"GET /api/users HTTP/1.1\r\nHost: www.example.com\r\n\r\n",
    b"GET /index.html?to=api HTTP/1.1\r\nHost: a-very-long-host-name.example.com\r\nCookie: x=1; SID=0123456789abcdef\r\n\r\n",
    b"POST /form HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello",
    b"GET /bad HTTP/1.1\r\nHost: h\r\n\r\n",
    b"GET /weird\"path HTTP/1.0\r\n\r\n",
];

/// Client port, dates and timers vary from run to run: masked. `%B` too: moonproxy
/// counts the bytes sent on the wire, HAProxy 2.6 the size of its internal (HTX) form of
/// the response, 11 bytes more for a 54-byte response here (doc/http.md). The rest
/// must match.
fn masked(line: &str) -> String {
    let mut words: Vec<String> = line.split(' ').map(str::to_string).collect();
    // 0: ip:port, 1: [date], 4: TR/Tw/Tc/Tr/Ta
    if let Some((ip, _)) = words[0].rsplit_once(':') {
        words[0] = format!("{ip}:PORT");
    }
    words[1] = "[DATE]".into();
    words[4] = words[4].split('/').map(|t| if t == "-1" { "-1" } else { "T" }).collect::<Vec<_>>().join("/");
    words[6] = "BYTES".into();
    words.join(" ")
}

/// Connections the proxy has not closed yet whose local port is `port` (its side of its
/// clients' connections: ESTABLISHED, or CLOSE_WAIT once the client's FIN arrived),
/// from /proc/net/tcp.
fn established_on(port: u16) -> usize {
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap_or_default();
    table
        .lines()
        .skip(1)
        .filter(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            f.len() > 3 && (f[3] == "01" || f[3] == "08") && f[1].rsplit(':').next().and_then(|p| u16::from_str_radix(p, 16).ok()) == Some(port)
        })
        .count()
}

fn run(bin: &Path) -> (Vec<String>, Vec<String>) {
    let app = http_app();
    let proxy = start(bin, &app);
    let mut lines = Vec::new();
    let mut bodies = Vec::new();
    for request in REQUESTS {
        // The previous client's connection is closed on the proxy's side too, so that
        // `%ac/%fc` count this request's connection only (a loaded machine may delay
        // the close of the previous one, on either proxy).
        assert!(wait_until(DEADLINE, || established_on(proxy.port("fe")) == 0), "the previous connection stays open");
        let mark = proxy.mark();
        let s = TcpStream::connect(proxy.addr("fe")).unwrap();
        s.set_read_timeout(Some(DEADLINE)).unwrap();
        let mut c = HttpReader::new(s);
        c.get_mut().write_all(request).unwrap();
        let head = c.read_head().unwrap().expect("a response");
        bodies.push(head.status().to_string());
        drop(c);
        lines.push(masked(&proxy.wait_for_line_after(mark, |l| l.contains('[') && l.contains('"'), DEADLINE)));
    }
    (lines, bodies)
}

#[test]
fn httplog_lines_read_the_same_as_haproxys() {
    let Some(haproxy) = haproxy_bin() else {
        assert!(std::env::var_os("CI").is_none(), "CI must install haproxy (see .ci/run)");
        eprintln!("haproxy not installed: comparison skipped");
        return;
    };
    let ours = run(&moonproxy_bin());
    let theirs = run(&haproxy);
    assert_eq!(ours.1, theirs.1, "statuses");
    for (i, (a, b)) in ours.0.iter().zip(&theirs.0).enumerate() {
        assert_eq!(a, b, "request {i}: moonproxy (left) and HAProxy (right) log differently");
    }
    // The routing itself: the first and third requests went to `api`, the others to `web`.
    assert!(ours.0[0].contains(" api/a1 ") && ours.0[2].contains(" api/a1 "), "{:?}", ours.0);
    assert!(ours.0[1].contains(" web/w1 ") && ours.0[3].contains(" web/w1 "), "{:?}", ours.0);
}
