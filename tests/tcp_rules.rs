//! `tcp-request connection` and `tcp-request content` rules, on moonproxy and HAProxy
//! 2.6 with the same configuration: a rejected client gets nothing and the server never
//! sees it.

mod common;

use common::*;
use std::io::Read;
use std::time::Duration;

/// Connects to `{{fe}}` from `127.0.0.<host>` and returns what the server sent.
fn ask_from(proxy: &Proxy, host: u8) -> String {
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    let from: std::net::SocketAddr = format!("127.0.0.{host}:0").parse().unwrap();
    sock.bind(&from.into()).unwrap();
    sock.connect(&proxy.addr("fe").into()).unwrap();
    let mut stream: std::net::TcpStream = sock.into();
    stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut got = Vec::new();
    let _ = stream.read_to_end(&mut got); // a reject may reset
    String::from_utf8_lossy(&got).into_owned()
}

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
        assert_eq!(ask_from(&proxy, 2), "ok", "{name}: no rule matched");
        assert_eq!(ask_from(&proxy, 3), "", "{name}: connection rule");
        assert_eq!(ask_from(&proxy, 4), "", "{name}: content rule");
        assert_eq!(ask_from(&proxy, 5), "ok", "{name}: accept stops the list");
        assert!(server.wait_connections(2, Duration::from_secs(5)), "{name}");
        std::thread::sleep(Duration::from_millis(100));
        assert_eq!(server.connections(), 2, "{name}: only the accepted clients reached the server");
    }
}
