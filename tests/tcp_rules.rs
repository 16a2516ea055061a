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
