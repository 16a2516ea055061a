//! Server options compared with HAProxy 2.6 on the same configuration: `redir`,
//! `on-marked-down shutdown-sessions`, `on-marked-up shutdown-backup-sessions`.

mod common;

use common::*;
use std::net::TcpListener;
use std::time::Duration;

#[test]
fn redir_answers_302_to_the_prefix() {
    for bin in moonproxy_and_haproxy() {
        let backend = Backend::http(b"never");
        let p = ProxyBuilder::new(
            "global
    log stdout format raw local0
defaults
    mode http
    log global
    option httplog
    timeout connect 1s
    timeout client 3s
    timeout server 3s
listen l
    bind 127.0.0.1:{{fe}}
    server s1 127.0.0.1:{{be}} redir http://example.com:8080
",
        )
        .bin(&bin)
        .port("be", backend.port())
        .start();
        let who = bin.display().to_string();
        let mut c = p.connect("fe");
        c.send(b"GET /a/b?x=1 HTTP/1.1\r\nhost: h\r\n\r\n");
        let (got, _) = c.recv_until_close();
        assert_eq!(
            String::from_utf8_lossy(&got),
            "HTTP/1.1 302 Found\r\ncache-control: no-cache\r\ncontent-length: 0\r\nlocation: http://example.com:8080/a/b?x=1\r\nconnection: close\r\n\r\n",
            "{who}"
        );
        let line = p.wait_for_line(|l| l.contains("\"GET /a/b?x=1 HTTP/1.1\""), DEADLINE);
        // HAProxy logs 127 bytes for the 128 it sends (its count leaves out one byte of
        // the added `connection: close`); the byte count is not compared.
        assert!(line.contains(" l l/s1 0/0/-1/-1/") && line.contains(" 302 ") && line.contains(" - - LC-- "), "{who}: {line}");
        assert_eq!(backend.connections(), 0, "{who}: the server saw nothing");
    }
}

/// A port whose listener the test closes to make the checks of a server fail.
fn check_port() -> (TcpListener, u16) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    (l, port)
}

#[test]
fn on_marked_down_shutdown_sessions() {
    for bin in moonproxy_and_haproxy() {
        let backend = Backend::silent();
        let (chk, chk_port) = check_port();
        let p = ProxyBuilder::new(
            "global
    log stdout format raw local0
defaults
    mode tcp
    log global
    option tcplog
    timeout connect 1s
    timeout client 10s
    timeout server 10s
listen l
    bind 127.0.0.1:{{fe}}
    server s1 127.0.0.1:{{be}} check port {{chk}} inter 100 rise 1 fall 1 on-marked-down shutdown-sessions
",
        )
        .bin(&bin)
        .port("be", backend.port())
        .port("chk", chk_port)
        .start();
        let who = bin.display().to_string();
        let mut c = p.connect("fe");
        c.send(b"x");
        assert!(wait_until(DEADLINE, || backend.connections() == 1), "{who}: connected");
        drop(chk);
        let (_, _) = c.recv_until_close();
        let line = p.wait_for_line(|l| l.contains(" l l/s1 "), DEADLINE);
        let log = TcpLog::parse(&line);
        assert_eq!(log.termination, "D-", "{who}: {line}");
    }
}

#[test]
fn on_marked_up_shutdown_backup_sessions() {
    for bin in moonproxy_and_haproxy() {
        let active = Backend::silent();
        let backup = Backend::silent();
        // The active server's checks fail until the test listens on its check port.
        let chk_port = free_port();
        let p = ProxyBuilder::new(
            "global
    log stdout format raw local0
defaults
    mode tcp
    log global
    option tcplog
    timeout connect 1s
    timeout client 10s
    timeout server 10s
listen l
    bind 127.0.0.1:{{fe}}
    server a 127.0.0.1:{{a}} check port {{chk}} inter 100 rise 1 fall 1 on-marked-up shutdown-backup-sessions
    server b 127.0.0.1:{{b}} backup
",
        )
        .bin(&bin)
        .port("a", active.port())
        .port("b", backup.port())
        .port("chk", chk_port)
        .start();
        let who = bin.display().to_string();
        p.wait_for_line(|l| l.contains("Server l/a is DOWN"), DEADLINE);
        let mut c = p.connect("fe");
        c.send(b"x");
        assert!(wait_until(DEADLINE, || backup.connections() == 1), "{who}: on the backup");
        let _chk = TcpListener::bind(("127.0.0.1", chk_port)).unwrap();
        let (_, _) = c.recv_until_close();
        let line = p.wait_for_line(|l| l.contains(" l l/b "), DEADLINE);
        assert_eq!(TcpLog::parse(&line).termination, "U-", "{who}: {line}");
        std::thread::sleep(Duration::from_millis(10));
    }
}
