//! `bind ... ssl crt ... accept-proxy`: behind a TCP load balancer that speaks the PROXY
//! protocol, the header (v1 or v2) comes in clear, then the TLS handshake. The addresses
//! of the header are the client's (`src`, `%ci`, the handshake failure line), and a bad
//! header closes the connection with HAProxy's log line. Each scenario runs under
//! moonproxy and HAProxy 2.6 on the same configuration.

mod common;

use common::tls::*;
use common::*;
use rustls::pki_types::{CertificateDer, ServerName};
use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::time::Duration;

const CONFIG: &str = r#"global
    log stdout format raw local0
defaults
    log global
    timeout connect 1s
    timeout client 3s
    timeout server 3s
frontend web
    mode http
    bind 127.0.0.1:{{web}} ssl crt {{dir}}/a.pem accept-proxy
    log-format "LOG web %ci:%cp %fi:%fp ssl=%[ssl_fc] %HU"
    http-request return status 200 content-type text/plain lf-string "src=%[src]:%[src_port] dst=%[dst]:%[dst_port] ssl=%[ssl_fc] sni=%[ssl_fc_sni]"
frontend tcp
    mode tcp
    bind 127.0.0.1:{{tcp}} ssl crt {{dir}}/a.pem accept-proxy
    log-format "LOG tcp %ci:%cp %fi:%fp ssl=%[ssl_fc] %B"
    default_backend echo
backend echo
    mode tcp
    server s 127.0.0.1:{{echo}}
"#;

/// A PROXY v2 header for a TCP connection from `src` to `dst`.
fn v2(src: SocketAddr, dst: SocketAddr) -> Vec<u8> {
    let ip = |a: SocketAddr| match a.ip() {
        IpAddr::V4(v4) => v4.octets().to_vec(),
        IpAddr::V6(v6) => v6.octets().to_vec(),
    };
    let body = [ip(src), ip(dst), src.port().to_be_bytes().to_vec(), dst.port().to_be_bytes().to_vec()].concat();
    let mut h = b"\r\n\r\n\0\r\nQUIT\n".to_vec();
    h.extend_from_slice(&[0x21, if src.is_ipv4() { 0x11 } else { 0x21 }]);
    h.extend_from_slice(&(body.len() as u16).to_be_bytes());
    h.extend_from_slice(&body);
    h
}

/// How the PROXY header and the ClientHello reach the proxy.
#[derive(Clone, Copy, Debug)]
enum Send {
    /// In one write: the proxy finds both in its first read.
    Together,
    /// The header, then the handshake a moment later.
    Apart,
}

/// Sends `header` to `port`, then does a TLS handshake for `a.test` on the same
/// connection.
fn tls_after_header(port: u16, header: &[u8], send: Send, root: &CertificateDer<'static>) -> Tls {
    let mut tcp = TcpStream::connect(("127.0.0.1", port)).unwrap();
    tcp.set_read_timeout(Some(DEADLINE)).unwrap();
    let mut conn = rustls::ClientConnection::new(trusting(root), ServerName::try_from("a.test").unwrap()).unwrap();
    match send {
        Send::Together => {
            let mut first = header.to_vec();
            conn.write_tls(&mut first).unwrap(); // the ClientHello
            tcp.write_all(&first).unwrap();
        }
        Send::Apart => {
            tcp.write_all(header).unwrap();
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    let mut s = rustls::StreamOwned::new(conn, tcp);
    while s.conn.is_handshaking() {
        s.conn.complete_io(&mut s.sock).expect("TLS handshake after the PROXY header");
    }
    s
}

fn start(bin: &std::path::Path, pem: &str, echo: &Backend) -> Proxy {
    ProxyBuilder::new(CONFIG).bin(bin).file("a.pem", pem).port("echo", echo.port()).start()
}

#[test]
fn the_proxy_header_before_tls_gives_the_client_address() {
    let (pem, der) = cert(&["a.test"]);
    let echo = Backend::echo();
    for bin in moonproxy_and_haproxy() {
        let who = bin.display();
        let proxy = start(&bin, &pem, &echo);
        let web = proxy.port("web");
        let v6 = v2("[2001:db8::7]:5555".parse().unwrap(), "[2001:db8::1]:8443".parse().unwrap());
        let cases: [(&[u8], Send, &str); 4] = [
            (b"PROXY TCP4 192.0.2.7 198.51.100.1 4321 443\r\n", Send::Together, "src=192.0.2.7:4321 dst=198.51.100.1:443"),
            (b"PROXY TCP4 192.0.2.8 198.51.100.1 4322 443\r\n", Send::Apart, "src=192.0.2.8:4322 dst=198.51.100.1:443"),
            (&v2("192.0.2.9:4323".parse().unwrap(), "198.51.100.1:443".parse().unwrap()), Send::Together, "src=192.0.2.9:4323 dst=198.51.100.1:443"),
            (&v6, Send::Apart, "src=2001:db8::7:5555 dst=2001:db8::1:8443"),
        ];
        for (header, send, addrs) in cases {
            let mut s = tls_after_header(web, header, send, &der);
            let (head, body) = get(&mut s, "/x");
            assert!(head.starts_with("HTTP/1.1 200"), "{who}: {send:?}: {head}");
            assert_eq!(String::from_utf8_lossy(&body), format!("{addrs} ssl=1 sni=a.test"), "{who}: {send:?}");
        }
        // The log line names the header's addresses too.
        let line = proxy.wait_for_line(|l| l.starts_with("LOG web 192.0.2.7:4321 "), DEADLINE);
        assert_eq!(line, "LOG web 192.0.2.7:4321 198.51.100.1:443 ssl=1 /x", "{who}");

        // TCP mode: bytes both ways through the session.
        let mut s = tls_after_header(proxy.port("tcp"), b"PROXY TCP4 203.0.113.5 198.51.100.1 6000 443\r\n", Send::Together, &der);
        s.write_all(b"ping").unwrap();
        let mut got = [0u8; 4];
        s.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"ping", "{who}");
        s.conn.send_close_notify();
        let _ = s.flush();
        let _ = s.sock.shutdown(std::net::Shutdown::Write);
        let _ = s.read_to_end(&mut Vec::new());
        let line = proxy.wait_for_line(|l| l.starts_with("LOG tcp "), DEADLINE);
        assert_eq!(line, "LOG tcp 203.0.113.5:6000 198.51.100.1:443 ssl=1 4", "{who}");
    }
}

/// What a connection that sent `data` saw (EOF or reset: closed either way), and the
/// address its client connected from.
fn send_and_close(port: u16, data: &[u8]) -> (Vec<u8>, SocketAddr) {
    let mut c = Client::connect(port);
    let me = c.stream().local_addr().unwrap();
    c.send(data);
    (c.recv_until_close().0, me)
}

#[test]
fn a_bad_header_before_tls_closes_with_haproxys_log_line() {
    let (pem, der) = cert(&["a.test"]);
    let echo = Backend::echo();
    // A ClientHello without the header.
    let mut hello = Vec::new();
    rustls::ClientConnection::new(trusting(&der), ServerName::try_from("a.test").unwrap()).unwrap().write_tls(&mut hello).unwrap();
    for bin in moonproxy_and_haproxy() {
        let who = bin.display();
        let proxy = start(&bin, &pem, &echo);
        let web = proxy.port("web");
        let cases: [(&[u8], &str); 3] = [
            (&hello, "Received something which does not look like a PROXY protocol header"),
            (b"PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n", "Received an unhandled protocol in the PROXY protocol header"),
            (b"PROXY TCP4 1.2.3.4 5.6.7.8 1\r\nx", "Received an invalid PROXY protocol header"),
        ];
        for (data, message) in cases {
            let (got, me) = send_and_close(web, data);
            assert!(got.is_empty(), "{who}: {message}: nothing answered");
            let line = proxy.wait_for_line(|l| l.ends_with(message), DEADLINE);
            assert!(line.starts_with(&format!("{me} [")) && line.contains("] web/1: "), "{who}: {line}");
        }
        // A good header, then no TLS: HAProxy's handshake failure line, from the
        // header's address.
        let (got, _) = send_and_close(web, b"PROXY TCP4 192.0.2.66 198.51.100.1 4444 443\r\nGET / HTTP/1.1\r\n\r\n");
        assert!(got.is_empty() || !String::from_utf8_lossy(&got).contains("HTTP/1.1"), "{who}: no plain answer");
        let line = proxy.wait_for_line(|l| l.ends_with("SSL handshake failure"), DEADLINE);
        assert!(line.starts_with("192.0.2.66:4444 [") && line.ends_with("] web/1: SSL handshake failure"), "{who}: {line}");
        // And the next client is served.
        let mut s = tls_after_header(web, b"PROXY TCP4 192.0.2.7 198.51.100.1 4321 443\r\n", Send::Together, &der);
        assert!(get(&mut s, "/").0.starts_with("HTTP/1.1 200"), "{who}");
        proxy.wait_for_line(|l| l.starts_with("LOG web 192.0.2.7:4321 "), DEADLINE);
        assert_eq!(proxy.count_lines(|l| l.starts_with("LOG web ")), 1, "{who}: the failed connections are not logged as streams");
    }
}
