//! Every `%` variable of HAProxy 2.6's log-format in the log-formats of rules
//! (`http-request`, `http-response` and `http-after-response set-header`), side by side
//! with HAProxy on the same configuration: the values the backend sees (request rules)
//! and the client gets (response rules) must have the same shape on both proxies, each
//! run of digits and upper-case hex letters standing for a number (ports, dates and
//! timers differ from run to run; `-1` for a timer not reached still reads `-h`).
//!
//! `%Td` in response rules is `%Tt` (0 until the end) minus the time so far: its
//! sign depends on timing there (`-h` or `h`), only its being a number is compared.
//! Left out: `%bi %bp` (the server connection's source address, which moonproxy does not
//! record yet) and `%lc` (HAProxy's count of log lines, empty here).

mod common;

use common::*;
use std::io::Write;
use std::net::TcpStream;
use std::path::Path;

/// The variables, each set by the three rule lists as `X-<n>-<var>` (request),
/// `Y-<n>-<var>` (response) and `Z-<n>-<var>` (after-response).
const VARS: &[&str] = &[
    "Ts", "ms", "t", "T", "Tl", "tr", "trg", "trl", "pid", "H", "ac", "fc", "bc", "sc", "rc", "sq",
    "bq", "B", "U", "CC", "CS", "hr", "hrl", "hs", "hsl", "rt", "ts", "tsc", "Ta", "Tc", "Td", "Th",
    "Ti", "Tq", "TR", "Tr", "Tt", "Tw", "Tu", "ST", "r", "sslc", "sslv", "ci", "cp", "fi", "fp", "f",
    "ft", "b", "s", "si", "sp", "ID", "HM", "HU", "HP", "HPO", "HQ", "HV",
];

/// Flags and samples: `+Q` on strings, addresses and a sample that finds nothing (which
/// prints nothing, not `""`), `+X` on numbers and addresses, `+E` on the URI, `%o`, and
/// spaces, which rules keep as written.
const FLAGS_REQ: &str = "%{+Q}ci|%{+Q}si|%{+Q}CC|%{+Q}r|%{+Q}ID|%{+Q}[req.hdr(nope)]|%{+X}Ts|%{+X}pid|%{+X}ci:%{+X}cp|%{+E}HU|%[req.hdr(nope)]|%{+Q}hrl|%{+Q}hr|%{+Q}o%f|%b";
const FLAGS_RES: &str = "%{+Q}ci|%{+Q}si|%{+Q}CC|%{+Q}r|%{+Q}[res.hdr(nope)]|%{+X}sp|%{+Q}hsl|%{+Q}s|%ST";

fn config() -> String {
    let mut c = String::from(
        "global
    log stdout format raw local0
defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{{fe}}
    capture request header Host len 20
    capture response header Content-Length len 20
    default_backend be
",
    );
    c += &format!("    http-request set-header X-Flags \"{FLAGS_REQ}\"\n");
    c += "    http-request set-header X-Spaces \"a   b%[req.hdr(nope)]  c\"\n";
    c += &format!("    http-after-response set-header Z-Flags \"{FLAGS_RES}\"\n");
    for (i, v) in VARS.iter().enumerate() {
        c += &format!("    http-request set-header X-{i}-{v} %{v}\n");
        c += &format!("    http-response set-header Y-{i}-{v} %{v}\n");
        c += &format!("    http-after-response set-header Z-{i}-{v} %{v}\n");
    }
    c += "backend be\n    server s1 127.0.0.1:{{be}}\n";
    c
}

/// A backend answering each request with its head as the body.
fn echo_head_backend() -> Backend {
    Backend::custom(|mut s: TcpStream, _| {
        let Some(head) = read_request_head(&mut s) else { return };
        let reply = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", head.len());
        let _ = s.write_all(reply.as_bytes());
        let _ = s.write_all(&head);
    })
}

/// Each run of digits and `A-F` (numbers, hex numbers) becomes `h`.
fn shape(v: &str) -> String {
    let mut out = String::new();
    for c in v.chars() {
        if c.is_ascii_digit() || ('A'..='F').contains(&c) {
            if !out.ends_with('h') {
                out.push('h');
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// `(header name lowercased, shape of its value)` for the headers the rules set, in
/// a stable order: those the backend saw, then those the client got.
fn run(bin: &Path) -> Vec<(String, String)> {
    let app = echo_head_backend();
    let proxy = ProxyBuilder::new(&config()).bin(bin).port("be", app.port()).start();
    let s = TcpStream::connect(proxy.addr("fe")).unwrap();
    s.set_read_timeout(Some(DEADLINE)).unwrap();
    let mut c = HttpReader::new(s);
    c.get_mut().write_all(b"GET /p/a?q=\"1 HTTP/1.1\r\nHost: h.example\r\nCookie: a=b\r\n\r\n").unwrap();
    let head = c.read_head().unwrap().expect("a response");
    let mut body = Vec::new();
    c.read_body(&head, false, |b| body.extend_from_slice(b)).unwrap();
    let seen = String::from_utf8_lossy(&body).into_owned();
    let mut out: Vec<(String, String)> = seen
        .split("\r\n")
        .filter_map(|l| l.split_once(": "))
        .map(|(k, v)| (k.to_ascii_lowercase(), v.to_string()))
        .chain(head.headers.iter().cloned())
        .filter(|(k, _)| k.starts_with("x-") || k.starts_with("y-") || k.starts_with("z-"))
        .filter(|(k, _)| !k.ends_with("-bi") && !k.ends_with("-bp"))
        // Mid-response `Td` is `Tt` (0) minus the time so far: 0 or negative. `Ta` is
        // `Tt` minus the idle and handshake times: 0 or negative in any rule, depending on
        // the millisecond the request came in (a run under load caught HAProxy's at -1).
        .map(|(k, v)| {
            let signless = (k.ends_with("-td") && !k.starts_with("x-")) || k.ends_with("-ta");
            if signless { (k, shape(v.trim_start_matches('-'))) } else { (k, shape(&v)) }
        })
        .collect();
    out.sort();
    out
}

#[test]
fn every_variable_renders_in_rules_as_in_haproxy() {
    let ours = run(&moonproxy_bin());
    // Without HAProxy, the values checked here still hold.
    let get = |k: &str| ours.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str()).unwrap_or_else(|| panic!("{k} missing: {ours:?}"));
    assert_eq!(get("x-30-td"), "-h", "Td before the response");
    assert_eq!(get("x-27-tsc"), "----");
    assert_eq!(get("x-50-s"), "<NOSRV>");
    assert_eq!(get("y-39-st"), "h", "the response's status in http-response rules");
    assert_eq!(get("x-spaces"), "a   b  c");
    assert_eq!(get("x-flags"), "\"h.h.h.h\"|\"\"|\"\"|\"GhT /p/a?q=#h HTTP/h.h\"|\"\"||h|h|h:h|/p/a?q=#h||\"h.example\"|\"{h.example}\"|\"fe\"|\"fe\"");
    let Some(haproxy) = haproxy_bin() else {
        assert!(std::env::var_os("CI").is_none(), "CI must install haproxy (see .ci/run)");
        eprintln!("haproxy not installed: comparison skipped");
        return;
    };
    let theirs = run(&haproxy);
    let names = |v: &[(String, String)]| v.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>();
    assert_eq!(names(&ours), names(&theirs), "the same headers");
    for (a, b) in ours.iter().zip(&theirs) {
        assert_eq!(a, b, "moonproxy (left) and HAProxy (right) render differently");
    }
}
