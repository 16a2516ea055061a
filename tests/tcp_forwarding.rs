//! Byte-exact forwarding through the real binary: 100 MB each way with half-closes,
//! and 1,000 concurrent connections.

mod common;

use common::*;
use std::io::{Read, Write};
use std::net::Shutdown;
use std::time::Duration;

const HUNDRED_MB: u64 = 100 * 1024 * 1024;

/// The client sends 100 MB then half-closes; the server checks every byte, sends its
/// own 100 MB, then half-closes; the client checks every byte. Both directions run
/// at once (the server starts sending before it has read everything), so each half
/// close is propagated while the other direction is still busy.
#[test]
fn hundred_megabytes_each_way_with_half_closes() {
    let backend = Backend::custom(|c, _| {
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
    let proxy = ProxyBuilder::logged_tcp(
        "frontend fe
            bind 127.0.0.1:{{fe}}
            default_backend be
        backend be
            server s1 127.0.0.1:{{be}}",
    )
    .port("be", backend.port())
    .start();
    let mut client = proxy.connect("fe");
    client.set_timeout(Duration::from_secs(60));
    let mut writer = client.stream().try_clone().unwrap();
    let sender = std::thread::spawn(move || {
        send_random(&mut writer, 1, HUNDRED_MB).unwrap();
        writer.shutdown(Shutdown::Write).unwrap();
    });
    assert_eq!(expect_random(&mut client, 2, HUNDRED_MB), HUNDRED_MB);
    sender.join().unwrap();
    let line = proxy.wait_for_line(is_log_line, DEADLINE);
    assert_eq!(field(&line, "ts"), "--", "{line}");
    assert_eq!(field(&line, "U"), HUNDRED_MB.to_string());
    assert_eq!(field(&line, "B"), HUNDRED_MB.to_string());
}

/// A server that answers only after the client half-closed: the FIN must reach it
/// while the response direction stays open.
#[test]
fn client_half_close_reaches_the_server_and_the_answer_comes_back() {
    let backend = Backend::custom(|mut c, _| {
        let mut got = Vec::new();
        c.read_to_end(&mut got).unwrap();
        let reply = format!("got {} bytes", got.len());
        c.write_all(reply.as_bytes()).unwrap();
    });
    let proxy = ProxyBuilder::logged_tcp_listen(&backend).start();
    let mut client = proxy.connect("fe");
    client.send(&[b'x'; 12345]);
    client.shutdown_write();
    assert_eq!(client.recv_until_close().0, b"got 12345 bytes");
}

/// 1,000 clients connected at the same time, each echoed its own payload.
#[test]
fn thousand_concurrent_connections() {
    let backend = Backend::echo();
    let proxy = ProxyBuilder::logged_tcp_listen(&backend).start();
    // Open all connections first so they are truly concurrent.
    let mut clients: Vec<Client> = (0..1000).map(|_| proxy.connect("fe")).collect();
    for (i, c) in clients.iter_mut().enumerate() {
        c.send(format!("hello {i}\n").as_bytes());
    }
    for (i, c) in clients.iter_mut().enumerate() {
        let want = format!("hello {i}\n");
        assert_eq!(c.recv_exact(want.len()), want.as_bytes());
    }
    for c in &clients {
        c.shutdown_write();
    }
    for mut c in clients {
        assert!(c.recv_until_close().0.is_empty());
    }
    assert_eq!(backend.connections(), 1000);
}

/// Servers on a unix socket path and in the abstract namespace (`abns@`, padded as
/// HAProxy pads it).
#[test]
fn unix_and_abstract_servers() {
    use std::os::unix::net::UnixListener;
    /// Answers every connection on `listener` with `reply`, in a background thread.
    fn serve(listener: UnixListener, reply: &'static [u8]) {
        std::thread::spawn(move || {
            for c in listener.incoming() {
                c.unwrap().write_all(reply).unwrap();
            }
        });
    }
    let name = format!("moonproxy-srv-{}", std::process::id());
    let abns = socket2::Socket::new(socket2::Domain::UNIX, socket2::Type::STREAM, None).unwrap();
    abns.bind(&moonproxy::listener::abstract_addr(&name).unwrap()).unwrap();
    abns.listen(16).unwrap();
    serve(abns.into(), b"from abns");
    let builder = ProxyBuilder::logged_tcp(
        "listen u
            bind 127.0.0.1:{{u}}
            server s1 {{dir}}/srv.sock
        listen a
            bind 127.0.0.1:{{a}}
            server s1 abns@{{abns}}",
    )
    .var("abns", &name);
    // The unix server's socket lives in the proxy's directory, known once it runs: start the
    // proxy, then the server (the proxy connects only when a client comes).
    let proxy = builder.start();
    serve(UnixListener::bind(proxy.dir().join("srv.sock")).unwrap(), b"from unix");
    assert_eq!(proxy.connect("u").recv_until_close().0, b"from unix");
    assert_eq!(proxy.connect("a").recv_until_close().0, b"from abns");
}

/// Backpressure: while the server does not read, the proxy stops reading from the
/// client once its buffer is full, so the client's writes block (bounded memory);
/// when the server reads again every byte arrives, in order.
#[test]
fn a_slow_server_pushes_back_on_the_client() {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::Arc;
    const TOTAL: usize = 64 * 1024 * 1024;
    let go = Arc::new(AtomicBool::new(false));
    let go2 = go.clone();
    let backend = Backend::custom(move |mut c, _| {
        while !go2.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(expect_random(&mut c, 7, TOTAL as u64), TOTAL as u64);
        c.write_all(b"ok").unwrap();
    });
    let proxy = ProxyBuilder::logged_tcp_listen(&backend).start();
    let mut client = proxy.connect("fe");
    let sent = Arc::new(AtomicUsize::new(0));
    let (mut w, sent2) = (client.stream().try_clone().unwrap(), sent.clone());
    let writer = std::thread::spawn(move || {
        let mut p = RandomStream::new(7);
        let mut buf = vec![0u8; 64 * 1024];
        for _ in 0..TOTAL / buf.len() {
            p.fill(&mut buf);
            w.write_all(&buf).unwrap();
            sent2.fetch_add(buf.len(), Ordering::SeqCst);
        }
        w.shutdown(Shutdown::Write).unwrap();
    });
    std::thread::sleep(Duration::from_millis(700));
    let stalled_at = sent.load(Ordering::SeqCst);
    assert!(stalled_at < TOTAL / 2, "the client could push {stalled_at} bytes into a proxy whose server reads nothing");
    go.store(true, Ordering::SeqCst);
    writer.join().unwrap();
    assert_eq!(client.recv_until_close().0, b"ok");
}
