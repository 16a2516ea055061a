//! `tcp-request connection` and `tcp-request content` rules, on moonproxy and HAProxy
//! 2.6 with the same configuration: a rejected client gets nothing and the server never
//! sees it.

mod common;

use common::*;
use std::time::Duration;

#[test]
fn rejected_connections_never_reach_the_server() {
    for bin in moonproxy_and_haproxy() {
        let server = Backend::reply(b"ok");
        let proxy = ProxyBuilder::new(
            "defaults
    mode tcp
    timeout connect 1s
    timeout client 5s
    timeout server 5s
listen fe
    bind 127.0.0.1:{{fe}}
    tcp-request connection reject if { src 127.0.0.3 }
    tcp-request content reject if { src 127.0.0.4 }
    tcp-request content accept if { src 127.0.0.5 }
    tcp-request content reject if { src 127.0.0.5 }
    server s1 127.0.0.1:{{be}}
",
        )
        .bin(&bin)
        .port("be", server.port())
        .start();
        let name = bin.display().to_string();
        assert_eq!(recv_all_from(proxy.addr("fe"), 2), "ok", "{name}: no rule matched");
        assert_eq!(recv_all_from(proxy.addr("fe"), 3), "", "{name}: connection rule");
        assert_eq!(recv_all_from(proxy.addr("fe"), 4), "", "{name}: content rule");
        assert_eq!(recv_all_from(proxy.addr("fe"), 5), "ok", "{name}: accept stops the list");
        assert!(server.wait_connections(2, Duration::from_secs(5)), "{name}");
        std::thread::sleep(Duration::from_millis(100));
        assert_eq!(server.connections(), 2, "{name}: only the accepted clients reached the server");
    }
}

/// In HTTP mode `tcp-request content` rules see the request and come before the
/// `http-request` rules: a rejected request gets no answer, even one a rule would return.
#[test]
fn http_mode_content_rules_run_before_http_rules() {
    use std::io::{Read, Write};
    for bin in moonproxy_and_haproxy() {
        let server = Backend::http(b"from-server");
        let proxy = ProxyBuilder::new(
            "defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
listen fe
    bind 127.0.0.1:{{fe}}
    tcp-request content reject if { path /blocked }
    http-request return status 200 content-type text/plain string returned if { path /blocked } || { path /ret }
    server s1 127.0.0.1:{{be}}
",
        )
        .bin(&bin)
        .port("be", server.port())
        .start();
        let ask = |path: &str| {
            let mut s = std::net::TcpStream::connect(proxy.addr("fe")).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            s.write_all(format!("GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").as_bytes()).unwrap();
            let mut got = Vec::new();
            let _ = s.read_to_end(&mut got);
            let got = String::from_utf8_lossy(&got).into_owned();
            got.split("\r\n\r\n").nth(1).unwrap_or("").to_string()
        };
        let name = bin.display().to_string();
        assert_eq!(ask("/ret"), "returned", "{name}");
        assert_eq!(ask("/blocked"), "", "{name}: rejected before the return rule");
        assert_eq!(ask("/x"), "from-server", "{name}");
    }
}
