//! Health analysis (`observe layer4|layer7`, `on-error`, `error-limit`): errors seen
//! on real traffic count toward the server's health check. Each scenario runs on
//! moonproxy and on HAProxy 2.6 with the same configuration.

mod common;

use common::*;
use std::io::{Read, Write};
use std::net::TcpStream;

const GLOBAL: &str = "global
    log stdout format raw local0
defaults
    log global
    retries 0
    timeout connect 1s
    timeout client 5s
    timeout server 5s
";

/// The first line starting with `prefix`.
fn down_line(proxy: &Proxy, prefix: &str) -> String {
    proxy.wait_for_line(|l| l.starts_with(prefix), DEADLINE)
}

/// A TCP connection through `{{fe}}` that the proxy ends (the server refused it).
fn refused_through(proxy: &Proxy) {
    let (data, _) = proxy.connect("fe").recv_until_close();
    assert!(data.is_empty());
}

#[test]
fn layer4_connection_failures_mark_the_server_down() {
    for bin in moonproxy_and_haproxy() {
        let dead = RefusingPort::new();
        let alive = Backend::sink();
        let proxy = ProxyBuilder::new(&format!(
            "{GLOBAL}listen l
    mode tcp
    bind 127.0.0.1:{{{{fe}}}}
    server s 127.0.0.1:{{{{dead}}}} check port {{{{alive}}}} inter 1h observe layer4 error-limit 2 on-error mark-down"
        ))
        .bin(&bin)
        .port("dead", dead.port())
        .port("alive", alive.port())
        .start();
        let who = bin.display();
        refused_through(&proxy);
        assert_eq!(proxy.count_lines(|l| l.starts_with("Server l/s is DOWN")), 0, "{who}: one error is not enough");
        refused_through(&proxy);
        assert_eq!(
            down_line(&proxy, "Server l/s is DOWN"),
            // The stream that saw the error still holds its slot.
            "Server l/s is DOWN, reason: Health analyze, info: \"Detected 2 consecutive errors, last one was: L4 unsuccessful connection\". 0 active and 0 backup servers left. 1 sessions active, 0 requeued, 0 remaining in queue.",
            "{who}"
        );
    }
}

#[test]
fn the_default_error_limit_is_ten() {
    for bin in moonproxy_and_haproxy() {
        let dead = RefusingPort::new();
        let alive = Backend::sink();
        let proxy = ProxyBuilder::new(&format!(
            "{GLOBAL}listen l
    mode tcp
    bind 127.0.0.1:{{{{fe}}}}
    server s 127.0.0.1:{{{{dead}}}} check port {{{{alive}}}} inter 1h observe layer4 on-error mark-down"
        ))
        .bin(&bin)
        .port("dead", dead.port())
        .port("alive", alive.port())
        .start();
        for _ in 0..9 {
            refused_through(&proxy);
        }
        assert_eq!(proxy.count_lines(|l| l.starts_with("Server l/s is DOWN")), 0, "{}", bin.display());
        refused_through(&proxy);
        let line = down_line(&proxy, "Server l/s is DOWN");
        assert!(line.contains("\"Detected 10 consecutive errors, last one was: L4 unsuccessful connection\""), "{}: {line}", bin.display());
    }
}

/// An HTTP server answering the status its path names (`GET /503` is a 503).
fn status_server() -> Backend {
    Backend::custom(|mut s: TcpStream, _| {
        let mut buf = [0u8; 4096];
        let mut got = Vec::new();
        while !got.windows(4).any(|w| w == b"\r\n\r\n") {
            match s.read(&mut buf) {
                Ok(n) if n > 0 => got.extend_from_slice(&buf[..n]),
                _ => return,
            }
        }
        let text = String::from_utf8_lossy(&got);
        let status = text.split(' ').nth(1).and_then(|p| p.strip_prefix('/')).unwrap_or("200").to_string();
        let _ = s.write_all(format!("HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n").as_bytes());
    })
}

fn http_proxy(bin: &std::path::Path, server: &str, app: &Backend, alive: &Backend) -> Proxy {
    ProxyBuilder::new(&format!(
        "{GLOBAL}listen l
    mode http
    option log-health-checks
    bind 127.0.0.1:{{{{fe}}}}
    server s 127.0.0.1:{{{{app}}}} check port {{{{alive}}}} {server}"
    ))
    .bin(bin)
    .port("app", app.port())
    .port("alive", alive.port())
    .start()
}

fn status_of(proxy: &Proxy, path: &str) -> u16 {
    get_closing(proxy.port("fe"), path).status
}

/// `observe layer7`: 5xx are errors but 501 and 505; any other answer resets the count.
#[test]
fn layer7_counts_server_errors_in_a_row() {
    for bin in moonproxy_and_haproxy() {
        let (app, alive) = (status_server(), Backend::sink());
        let proxy = http_proxy(&bin, "inter 1h rise 2 fall 3 observe layer7 error-limit 2", &app, &alive);
        let who = bin.display();
        let first = proxy.wait_for_line(|l| l.starts_with("Health check for server l/s "), DEADLINE);
        assert!(first.ends_with("status: 3/3 UP."), "{who}: {first}");
        for path in ["/500", "/200", "/503", "/501", "/502", "/505", "/404", "/504"] {
            assert_eq!(status_of(&proxy, path).to_string(), path[1..], "{who}");
        }
        assert_eq!(proxy.count_lines(|l| l.contains("Health analyze")), 0, "{who}: never two in a row");
        assert_eq!(status_of(&proxy, "/500"), 500);
        assert_eq!(
            proxy.wait_for_line(|l| l.starts_with("Health check") && l.contains("Health analyze"), DEADLINE),
            "Health check for server l/s failed, reason: Health analyze, info: \"Detected 2 consecutive errors, last one was: Wrong http response\", status: 2/3 UP.",
            "{who}"
        );
    }
}

/// Invalid responses and servers closing before answering are layer-7 errors too; once
/// `mark-down` took the only server down, requests are answered 503.
#[test]
fn layer7_mark_down_then_requests_get_503() {
    for bin in moonproxy_and_haproxy() {
        let junk = Backend::custom(|mut s: TcpStream, _| {
            let mut buf = [0u8; 4096];
            let n = s.read(&mut buf).unwrap_or(0);
            // `/close` gets nothing, the rest an invalid response.
            if !buf[..n].starts_with(b"GET /close") {
                let _ = s.write_all(b"garbage\r\n\r\n");
            }
        });
        let alive = Backend::sink();
        let proxy = http_proxy(&bin, "inter 1h observe layer7 error-limit 3 on-error mark-down", &junk, &alive);
        let who = bin.display();
        assert_eq!(status_of(&proxy, "/junk"), 502, "{who}");
        assert_eq!(status_of(&proxy, "/close"), 502, "{who}");
        assert_eq!(proxy.count_lines(|l| l.starts_with("Server l/s is DOWN")), 0, "{who}");
        assert_eq!(status_of(&proxy, "/close"), 502, "{who}");
        // With `option log-health-checks` the reason has a line of its own.
        assert_eq!(
            proxy.wait_for_line(|l| l.starts_with("Health check") && l.contains("Health analyze"), DEADLINE),
            "Health check for server l/s failed, reason: Health analyze, info: \"Detected 3 consecutive errors, last one was: Close from server (http)\", status: 0/2 DOWN.",
            "{who}"
        );
        assert_eq!(
            down_line(&proxy, "Server l/s is DOWN"),
            // A server that closed has given its slot back.
            "Server l/s is DOWN. 0 active and 0 backup servers left. 0 sessions active, 0 requeued, 0 remaining in queue.",
            "{who}"
        );
        assert_eq!(status_of(&proxy, "/junk"), 503, "{who}: no server left");
    }
}

/// `on-error fastinter` only brings the next check closer (with `fastinter` set).
#[test]
fn fastinter_brings_the_next_check_closer() {
    for bin in moonproxy_and_haproxy() {
        let dead = RefusingPort::new();
        // The checks say something (a bare connect check may end before the server
        // accepts it: HAProxy resets it as soon as it is established).
        let alive = Backend::custom(|mut s: TcpStream, _| {
            let mut buf = [0u8; 64];
            if matches!(s.read(&mut buf), Ok(n) if n > 0) {
                let _ = s.write_all(b"+PONG\r\n");
            }
        });
        let proxy = ProxyBuilder::new(&format!(
            "{GLOBAL}listen l
    mode tcp
    bind 127.0.0.1:{{{{fe}}}}
    option redis-check
    option log-health-checks
    server s 127.0.0.1:{{{{dead}}}} check port {{{{alive}}}} inter 1h fastinter 100ms observe layer4 error-limit 1 on-error fastinter"
        ))
        .bin(&bin)
        .port("dead", dead.port())
        .port("alive", alive.port())
        .start();
        let who = bin.display();
        // The first check passed: the next one is an hour away.
        proxy.wait_for_line(|l| l.starts_with("Health check for server l/s succeeded"), DEADLINE);
        assert_eq!(alive.connections(), 1, "{who}: the first check");
        refused_through(&proxy);
        assert!(alive.wait_connections(2, DEADLINE), "{who}: a check soon after the error");
        assert_eq!(proxy.count_lines(|l| l.starts_with("Server l/s is")), 0, "{who}: still up");
    }
}

#[test]
fn configuration_errors_match_haproxy() {
    let cases = [
        ("tcp", "observe foo", "'observe' expects one of 'none', 'layer4', 'layer7' but got 'foo'."),
        ("tcp", "observe", "'observe' expects <mode> as argument.."),
        ("tcp", "on-error foo", "'on-error' expects one of 'fastinter', 'fail-check', 'sudden-death' or 'mark-down' but got 'foo'."),
        ("tcp", "error-limit 0", "error-limit has to be > 0.."),
        ("tcp", "error-limit", "'error-limit' expects an integer argument.."),
    ];
    for bin in moonproxy_and_haproxy() {
        for (mode, opt, message) in cases {
            let cfg = format!("{GLOBAL}listen l\n    mode {mode}\n    bind 127.0.0.1:{{{{fe}}}}\n    server s 127.0.0.1:9 check {opt}\n");
            let out = ProxyBuilder::new(&cfg).bin(&bin).arg("-c").run();
            assert_ne!(out.code(), Some(0), "{}: {opt}", bin.display());
            assert!(out.stderr.contains(&format!("'server l/s' : {message}")), "{}: {opt}\n{}", bin.display(), out.stderr);
        }
        // HAProxy alerts, yet keeps the server without `observe` and the configuration
        // valid: moonproxy warns with the same words.
        let tcp = format!("{GLOBAL}listen l\n    mode tcp\n    bind 127.0.0.1:{{{{fe}}}}\n    server s 127.0.0.1:9 check observe layer7\n");
        let out = ProxyBuilder::new(&tcp).bin(&bin).arg("-c").run();
        assert_eq!(out.code(), Some(0), "{}: {}", bin.display(), out.stderr);
        assert!(out.stderr.contains("'server l/s' : 'layer7' can only be used in http proxies.."), "{}: {}", bin.display(), out.stderr);
        let fine = format!("{GLOBAL}listen l\n    mode http\n    bind 127.0.0.1:{{{{fe}}}}\n    server s 127.0.0.1:9 check observe layer7 on-error sudden-death error-limit 5\n");
        let out = ProxyBuilder::new(&fine).bin(&bin).arg("-c").run();
        assert_eq!(out.code(), Some(0), "{}: {}", bin.display(), out.stderr);
    }
}

/// `show stat`: `hanafail` counts the analyses of a server with `observe` (empty for
/// one without), and the last check's status is `HANA`.
#[test]
fn show_stat_counts_health_analyses() {
    for bin in moonproxy_and_haproxy() {
        let dead = RefusingPort::new();
        let alive = Backend::sink();
        let proxy = ProxyBuilder::new(&format!(
            "{GLOBAL}    mode tcp
listen l
    bind 127.0.0.1:{{{{fe}}}}
    balance first
    server s 127.0.0.1:{{{{dead}}}} check port {{{{alive}}}} inter 1h observe layer4 error-limit 1
    server t 127.0.0.1:{{{{alive}}}} check inter 1h"
        )
        .replacen("global\n", "global\n    stats socket {{dir}}/cli.sock level admin\n", 1))
        .bin(&bin)
        .port("dead", dead.port())
        .port("alive", alive.port())
        .start();
        let who = bin.display();
        refused_through(&proxy);
        let out = cli(&proxy.dir().join("cli.sock"), "show stat\n");
        let header: Vec<&str> = out.lines().next().unwrap().trim_start_matches("# ").split(',').collect();
        let column = |row: &str, name: &str| -> String {
            let line = out.lines().find(|l| l.starts_with(&format!("l,{row},"))).unwrap();
            let at = header.iter().position(|h| *h == name).unwrap();
            line.split(',').nth(at).unwrap().to_string()
        };
        assert_eq!((column("s", "hanafail"), column("s", "check_status"), column("s", "chkfail")), ("1".into(), "HANA".into(), "1".into()), "{who}");
        assert_eq!(column("t", "hanafail"), "", "{who}");
    }
}

/// A server that does not answer within `timeout server` (504) is a layer-7 error.
#[test]
fn layer7_read_timeouts_count() {
    for bin in moonproxy_and_haproxy() {
        let (silent, alive) = (Backend::silent(), Backend::sink());
        let proxy = ProxyBuilder::new(&format!(
            "{GLOBAL}listen l
    mode http
    option log-health-checks
    timeout server 200ms
    bind 127.0.0.1:{{{{fe}}}}
    server s 127.0.0.1:{{{{app}}}} check port {{{{alive}}}} inter 1h observe layer7 error-limit 2"
        ))
        .bin(&bin)
        .port("app", silent.port())
        .port("alive", alive.port())
        .start();
        let who = bin.display();
        assert_eq!(status_of(&proxy, "/"), 504, "{who}");
        assert_eq!(status_of(&proxy, "/"), 504, "{who}");
        let line = proxy.wait_for_line(|l| l.starts_with("Health check") && l.contains("Health analyze"), DEADLINE);
        assert!(line.contains("info: \"Detected 2 consecutive errors, last one was: Read timeout (http)\""), "{who}: {line}");
    }
}
