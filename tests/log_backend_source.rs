//! `%bi %bp` (the local address of the server connection) and `%lc` (the frontend's log
//! counter) in log lines and rule formats, side by side with HAProxy 2.6: the port
//! printed must be the one the server saw its peer connect from.

mod common;

use common::*;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::Path;
use std::sync::{Arc, Mutex};

/// An HTTP server recording, per request, the peer port it saw and the `x-lc` header.
fn server(seen: Arc<Mutex<Vec<(u16, String)>>>) -> Backend {
    Backend::custom(move |stream, _| {
        let peer = stream.peer_addr().unwrap().port();
        let mut w = stream.try_clone().unwrap();
        let mut r = BufReader::new(stream);
        let mut lc = String::new();
        loop {
            let mut line = String::new();
            if r.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((n, v)) = line.split_once(':') {
                if n.eq_ignore_ascii_case("x-lc") {
                    lc = v.trim().to_string();
                }
            }
        }
        seen.lock().unwrap().push((peer, lc));
        let _ = w.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
    })
}

fn start(bin: &Path, http: &Backend, tcp: &Backend) -> Proxy {
    ProxyBuilder::new(
        "global
    log stdout format raw local0
defaults
    log global
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend web
    mode http
    bind 127.0.0.1:{{web}}
    log-format \"web lc=%lc bi=%bi bp=%bp hex=%{+X}bp\"
    http-request set-header x-lc %lc
    http-response set-header x-bp %bp
    http-request return status 200 if { path /local }
    default_backend app
backend app
    mode http
    server s1 127.0.0.1:{{http}}
listen raw
    mode tcp
    bind 127.0.0.1:{{raw}}
    log-format \"raw lc=%lc bi=%bi bp=%bp\"
    server s1 127.0.0.1:{{tcp}}
",
    )
    .bin(bin)
    .port("http", http.port())
    .port("tcp", tcp.port())
    .start()
}

/// Sends one request on its own connection; returns the response's `x-bp` value.
fn get(proxy: &Proxy, path: &str) -> Option<String> {
    let s = TcpStream::connect(proxy.addr("web")).unwrap();
    s.set_read_timeout(Some(DEADLINE)).unwrap();
    let mut c = HttpReader::new(s);
    c.get_mut().write_all(format!("GET {path} HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n").as_bytes()).unwrap();
    let head = c.read_head().unwrap().expect("a response");
    assert_eq!(head.status(), 200);
    head.header("x-bp").map(str::to_string)
}

/// The log lines and what the server saw, on one binary.
fn run(bin: &Path) -> Vec<String> {
    let who = bin.display();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let app = server(seen.clone());
    let peers = Arc::new(Mutex::new(Vec::new()));
    let echo = {
        let peers = peers.clone();
        Backend::custom(move |mut stream, _| {
            peers.lock().unwrap().push(stream.peer_addr().unwrap().port());
            let _ = stream.write_all(b"hi");
        })
    };
    let proxy = start(bin, &app, &echo);
    let mut out = Vec::new();
    for (i, path) in ["/a", "/b", "/local", "/c"].into_iter().enumerate() {
        let mark = proxy.mark();
        let x_bp = get(&proxy, path);
        let line = proxy.wait_for_line_after(mark, |l| l.starts_with("web "), DEADLINE);
        if path == "/local" {
            // Answered by the proxy: no server connection.
            assert_eq!(x_bp, None, "{who}");
            assert_eq!(line, format!("web lc={i} bi=- bp=- hex=-"), "{who}");
        } else {
            let (port, lc) = seen.lock().unwrap().last().cloned().unwrap();
            assert_eq!(lc, i.to_string(), "{who}: %lc in a rule counts the lines logged so far");
            assert_eq!(x_bp, Some(port.to_string()), "{who}: %bp in a response rule");
            assert_eq!(line, format!("web lc={i} bi=127.0.0.1 bp={port} hex={port:04X}"), "{who}");
        }
        out.push(line.split(" bp=").next().unwrap().to_string());
    }
    // TCP mode: the line is written once both connections are closed.
    for i in 0..2 {
        let mark = proxy.mark();
        let mut c = proxy.connect("raw");
        assert_eq!(c.recv_until_close().0, b"hi");
        drop(c);
        let line = proxy.wait_for_line_after(mark, |l| l.starts_with("raw "), DEADLINE);
        let bp: u16 = line.rsplit("bp=").next().unwrap().parse().unwrap_or_else(|_| panic!("{who}: {line}"));
        assert_eq!(Some(&bp), peers.lock().unwrap().last(), "{who}: {line}");
        out.push(line.split(" bp=").next().unwrap().to_string());
        assert!(line.starts_with(&format!("raw lc={i} bi=127.0.0.1 bp=")), "{who}: {line}");
    }
    out
}

#[test]
fn backend_source_and_log_counter_print_as_haproxy() {
    let ours = run(&moonproxy_bin());
    let Some(haproxy) = haproxy_bin() else {
        assert!(std::env::var_os("CI").is_none(), "CI must install haproxy (see .ci/run)");
        eprintln!("haproxy not installed: comparison skipped");
        return;
    };
    assert_eq!(ours, run(&haproxy), "moonproxy (left) and HAProxy (right)");
}
