//! Byte-exact forwarding through the real binary: 100 MB each way with half-closes,
//! and 1,000 concurrent connections.

mod support_tcp;

use std::io::{Read, Write};
use std::net::Shutdown;
use std::time::Duration;
use support_tcp::*;

const HUNDRED_MB: usize = 100 * 1024 * 1024;

/// The client sends 100 MB then half-closes; the server checks every byte, sends its
/// own 100 MB, then half-closes; the client checks every byte. Both directions run
/// at once (the server starts sending before it has read everything), so each half
/// close is propagated while the other direction is still busy.
#[test]
fn hundred_megabytes_each_way_with_half_closes() {
    let backend = Backend::spawn(|c| {
        let mut reader = c.try_clone().unwrap();
        let mut writer = c;
        let sender = std::thread::spawn(move || {
            send_random(&mut writer, 2, HUNDRED_MB).unwrap();
            writer.shutdown(Shutdown::Write).unwrap();
        });
        let n = expect_random(&mut reader, 1, HUNDRED_MB);
        assert_eq!(n, HUNDRED_MB);
        sender.join().unwrap();
    });
    let port = free_port();
    let cfg = format!(
        "{}frontend fe\n    bind 127.0.0.1:{port}\n    default_backend be\nbackend be\n    server s1 {}\n",
        preamble("", ""),
        backend.addr
    );
    let proxy = Proxy::start(&cfg, port);
    let c = connect(port);
    c.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let mut w = c.try_clone().unwrap();
    let sender = std::thread::spawn(move || {
        send_random(&mut w, 1, HUNDRED_MB).unwrap();
        w.shutdown(Shutdown::Write).unwrap();
    });
    let mut r = c;
    assert_eq!(expect_random(&mut r, 2, HUNDRED_MB), HUNDRED_MB);
    sender.join().unwrap();
    let line = proxy.log_line("LOG ");
    assert_eq!(field(&line, "ts"), "--", "{line}");
    assert_eq!(field(&line, "U"), HUNDRED_MB.to_string());
    assert_eq!(field(&line, "B"), HUNDRED_MB.to_string());
}

/// A server that answers only after the client half-closed: the FIN must reach it
/// while the response direction stays open.
#[test]
fn client_half_close_reaches_the_server_and_the_answer_comes_back() {
    let backend = Backend::spawn(|mut c| {
        let mut got = Vec::new();
        c.read_to_end(&mut got).unwrap();
        let reply = format!("got {} bytes", got.len());
        c.write_all(reply.as_bytes()).unwrap();
    });
    let port = free_port();
    let cfg = format!("{}listen l\n    bind 127.0.0.1:{port}\n    server s1 {}\n", preamble("", ""), backend.addr);
    let _proxy = Proxy::start(&cfg, port);
    let mut c = connect(port);
    c.write_all(&[b'x'; 12345]).unwrap();
    c.shutdown(Shutdown::Write).unwrap();
    assert_eq!(read_all(c), b"got 12345 bytes");
}

/// 1,000 clients connected at the same time, each echoed its own payload.
#[test]
fn thousand_concurrent_connections() {
    let backend = Backend::echo();
    let port = free_port();
    let cfg = format!("{}listen l\n    bind 127.0.0.1:{port}\n    server s1 {}\n", preamble("", ""), backend.addr);
    let _proxy = Proxy::start(&cfg, port);
    // Open all connections first so they are truly concurrent.
    let mut conns = Vec::new();
    for _ in 0..1000 {
        conns.push(connect(port));
    }
    for (i, c) in conns.iter_mut().enumerate() {
        c.write_all(format!("hello {i}\n").as_bytes()).unwrap();
    }
    for (i, c) in conns.iter_mut().enumerate() {
        let want = format!("hello {i}\n");
        let mut got = vec![0u8; want.len()];
        c.read_exact(&mut got).unwrap();
        assert_eq!(got, want.as_bytes());
    }
    for c in &conns {
        c.shutdown(Shutdown::Write).unwrap();
    }
    for c in conns {
        assert!(read_all(c).is_empty());
    }
    assert_eq!(backend.hits(), 1000);
}
