//! A server that answers before reading the request body (a 401 or a 413 to an upload)
//! and closes: the client must get the answer whole, and no reset, though it is still
//! sending. moonproxy used to close at once with the body's bytes unread in the kernel,
//! which resets the connection; HAProxy 2.6 keeps reading. Both proxies run the test.

mod common;

use common::*;
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

#[test]
fn an_early_answer_to_an_upload_reaches_the_client_without_a_reset() {
    let server = Backend::custom(|mut conn, _| {
        if read_request_head(&mut conn).is_none() {
            return;
        }
        let _ = conn.write_all(b"HTTP/1.1 401 Unauthorized\r\ncontent-length: 4\r\nconnection: close\r\n\r\nnope");
        std::thread::sleep(Duration::from_millis(200));
    });
    for bin in moonproxy_and_haproxy() {
        let proxy = ProxyBuilder::new(
            "defaults\n mode http\n timeout client 5s\n timeout server 5s\n timeout connect 5s\n\
             frontend f\n bind 127.0.0.1:{{f}}\n default_backend b\nbackend b\n server s 127.0.0.1:{{be}}\n",
        )
        .bin(&bin)
        .port("be", server.port())
        .start();
        let mut s = TcpStream::connect(("127.0.0.1", proxy.port("f"))).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
        s.set_write_timeout(Some(Duration::from_secs(3))).unwrap();
        s.write_all(b"POST /upload HTTP/1.1\r\nhost: x\r\ncontent-length: 10000000\r\n\r\n").unwrap();
        // More than the socket buffers hold, as an upload does before it looks for an answer.
        let chunk = vec![b'x'; 65536];
        for _ in 0..40 {
            if s.write_all(&chunk).is_err() {
                break;
            }
        }
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        let end = loop {
            match s.read(&mut buf) {
                Ok(0) => break "end of file",
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => break "open",
                Err(e) => break if e.kind() == ErrorKind::ConnectionReset { "reset" } else { "error" },
            }
        };
        let text = String::from_utf8_lossy(&got);
        assert!(text.starts_with("HTTP/1.1 401") && text.ends_with("nope"), "{}: {text:?} ({end})", bin.display());
        assert_ne!(end, "reset", "{}: the connection was reset under the answer", bin.display());
    }
}
