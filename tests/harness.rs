//! Tests of the test harness itself (`tests/common/`): its backends and client against each
//! other, and the proxy runner on moonproxy and on HAProxy (when installed). moonproxy's behaviour
//! is tested in the other files of `tests/`.

mod common;

use common::*;
use std::time::Duration;

#[test]
fn render_fills_placeholders_and_leaves_lookalikes() {
    let value = |name: &str| (name == "fe").then(|| "8080".to_string());
    assert_eq!(
        render("bind :{{fe}} {{ fe }} {{}} {fe} {{fe", value).unwrap(),
        "bind :8080 {{ fe }} {{}} {fe} {{fe"
    );
    let err = render("server s1 127.0.0.1:{{be}}", value).unwrap_err();
    assert!(err.contains("{{be}}"), "{err}");
}

/// `free_port` claims each port it hands out: never twice in a process, and the claim
/// file is locked against every other open (another test process asking for ports). A CI
/// run lost a test to another test's proxy listening on the same port (SO_REUSEPORT).
#[test]
fn free_ports_are_claimed_against_other_tests() {
    let ports: Vec<u16> = (0..200).map(|_| free_port()).collect();
    let distinct: std::collections::BTreeSet<u16> = ports.iter().copied().collect();
    assert_eq!(distinct.len(), ports.len(), "a port was handed out twice: {ports:?}");
    let claim = std::env::temp_dir().join("moonproxy-tests").join("ports").join(ports[0].to_string());
    let other = std::fs::OpenOptions::new().write(true).open(&claim).expect("the claim file exists");
    assert!(other.try_lock().is_err(), "{} is not locked", claim.display());
}

/// A held port cannot be handed to another socket (a test's backend binding it) until
/// the hold is dropped; a proxy with SO_REUSEPORT binds beside it (every start does).
#[test]
fn held_ports_stay_out_of_reach_until_released() {
    let (port, hold) = held_port();
    assert!(std::net::TcpListener::bind(loopback(port)).is_err(), "{port} was free to take while held");
    drop(hold);
    assert!(std::net::TcpListener::bind(loopback(port)).is_ok(), "{port} still taken after the hold");
}

#[test]
fn echo_backend_echoes_and_follows_half_close() {
    let echo = Backend::echo();
    let mut client = Client::connect(echo.port());
    client.send(b"hello");
    assert_eq!(client.recv_exact(5), b"hello");
    client.shutdown_write();
    let (rest, how) = client.recv_until_close();
    assert_eq!((rest.as_slice(), how), (&b""[..], CloseKind::Eof));
    assert_eq!(echo.connections(), 1);
    assert!(wait_until(DEADLINE, || echo.stats().active() == 0));
    assert_eq!(echo.stats().bytes_in(), 5);
}

#[test]
fn sink_backend_counts_bytes() {
    let sink = Backend::sink();
    let mut client = Client::connect(sink.port());
    client.send(&[7; 100_000]);
    client.shutdown_write();
    assert_eq!(client.recv_until_close().1, CloseKind::Eof);
    assert_eq!(sink.stats().bytes_in(), 100_000);
    assert_eq!(sink.stats().bytes_out(), 0);
}

#[test]
fn http_backend_keeps_alive_and_answers_pipelined_requests() {
    let http = Backend::http(b"0123456789");
    let mut client = Client::connect(http.port());
    let first = client.http_get("/a");
    assert_eq!(
        (first.status, first.body.as_slice()),
        (200, &b"0123456789"[..])
    );
    assert_eq!(first.header("Content-Length"), Some("10"));
    // Two requests in one write, the first with a body the server must skip.
    client.send(b"POST /b HTTP/1.1\r\nContent-Length: 3\r\n\r\nabcGET /c HTTP/1.1\r\nConnection: close\r\n\r\n");
    assert_eq!(client.read_http_response().body, b"0123456789");
    assert_eq!(client.read_http_response().status, 200);
    assert_eq!(client.recv_until_close().1, CloseKind::Eof);
    assert_eq!((http.connections(), http.stats().requests()), (1, 3));
}

#[test]
fn random_backend_sends_the_documented_stream() {
    let random = Backend::random(42, 100_003);
    let mut client = Client::connect(random.port());
    let (data, how) = client.recv_until_close();
    assert_eq!(how, CloseKind::Eof);
    assert_eq!(data, random_bytes(42, 100_003));
    assert_ne!(random_bytes(42, 64), random_bytes(43, 64));
    // The stream does not depend on how it is cut.
    let mut stream = RandomStream::new(42);
    let mut pieces = vec![0; 100_003];
    for chunk in pieces.chunks_mut(13) {
        stream.fill(chunk);
    }
    assert_eq!(pieces, data);
}

#[test]
fn close_backend_closes_and_silent_backend_stays_quiet() {
    let close = Backend::close();
    let mut client = Client::connect(close.port());
    let (data, how) = client.recv_until_close();
    assert!(data.is_empty() && how != CloseKind::Timeout, "{how:?}");

    let mut silent = Backend::silent();
    let mut client = Client::connect(silent.port());
    client.send(b"anyone?");
    client.set_timeout(Duration::from_millis(200));
    assert_eq!(client.recv_until_close(), (Vec::new(), CloseKind::Timeout));
    // Stopping the backend shuts its connections down.
    silent.stop();
    client.set_timeout(DEADLINE);
    assert_ne!(client.recv_until_close().1, CloseKind::Timeout);
}

#[test]
fn stopped_backend_refuses_and_restarts_on_its_port() {
    let mut echo = Backend::echo();
    let port = echo.port();
    assert!(is_listening(port));
    echo.stop();
    // Checked while the backend still holds a second descriptor of its listener: stopping
    // must not wait for the last one to close.
    assert!(!is_listening(port));
    assert!(
        Client::try_connect(port).is_err(),
        "a stopped backend must refuse connections"
    );
    let again = Backend::start_on(port, Behaviour::Echo).expect("the port is free again");
    let mut client = Client::connect(again.port());
    client.send(b"back");
    assert_eq!(client.recv_exact(4), b"back");
}

/// The proxy runner on moonproxy and on HAProxy 2.6 (when installed), with the same
/// configuration and the same assertions: start-up on picked ports, forwarding to a backend,
/// log capture, signals, exit status, and `run` for a refused configuration.
#[test]
fn harness_drives_moonproxy_and_haproxy() {
    for bin in moonproxy_and_haproxy() {
        drive(&bin);
    }
}

/// `listen fe` on `{{fe}}` to one server on `{{be}}`, logging `option tcplog` lines on stdout.
const TCPLOG_LISTEN: &str = "global
    log stdout format raw local0
defaults
    mode tcp
    log global
    option tcplog
    timeout connect 5s
    timeout client 5s
    timeout server 5s
listen fe
    bind 127.0.0.1:{{fe}}
    server s1 127.0.0.1:{{be}}";

fn drive(bin: &std::path::Path) {
    let echo = Backend::echo();
    let mut proxy = ProxyBuilder::new(&format!(
        "{TCPLOG_LISTEN}
         listen unused
            bind 127.0.0.1:{{{{other}}}}
            server s1 127.0.0.1:{{{{dead}}}}
        "
    ))
    .bin(bin)
    .port("be", echo.port())
    .free_port("dead")
    .start();
    assert!(proxy.config_path().starts_with(proxy.dir()));
    assert_ne!(proxy.port("fe"), proxy.port("other"));
    // Waiting for the listeners did not open a connection through the proxy.
    assert_eq!(echo.connections(), 0);

    let mut client = proxy.connect("fe");
    client.send(b"ping");
    assert_eq!(client.recv_exact(4), b"ping");
    client.shutdown_write();
    assert_eq!(client.recv_until_close().1, CloseKind::Eof);
    let log = proxy.wait_for_line(|l| l.contains(" fe fe/s1 "), DEADLINE);
    assert!(
        log.contains(" 4 --"),
        "tcplog line with 4 bytes and no error: {log}"
    );
    assert_eq!(echo.connections(), 1);

    let mark = proxy.mark();
    proxy.signal("USR1");
    proxy.wait_for_line_after(mark, |l| l.contains("Proxy fe stopped"), DEADLINE);
    assert_eq!(proxy.wait_exit(DEADLINE).code(), Some(0));

    let refused = ProxyBuilder::new("frontend fe\n    bind 127.0.0.1:{{fe}}\n    nosuchkeyword\n")
        .bin(bin)
        .flags(["-c"])
        .run();
    assert_eq!(refused.code(), Some(1));
    assert!(
        refused.stderr.contains("nosuchkeyword"),
        "{}",
        refused.stderr
    );
}

/// When the proxy exits because a port the harness picked was taken meanwhile, `start` tries
/// again on new ports. The race is staged by a shell script standing for the proxy: its first
/// run reports HAProxy's bind error, the second runs moonproxy.
#[test]
fn start_retries_on_new_ports_after_a_lost_bind_race() {
    let attempts = std::env::temp_dir().join(format!("moonproxy-retry-{}", std::process::id()));
    let _ = std::fs::remove_file(&attempts);
    let script = r#"
        echo {{fe}} >> "{{attempts}}"
        if [ "$(wc -l < "{{attempts}}")" -eq 1 ]; then
            echo "[ALERT] Binding [x:1] for proxy fe: cannot bind socket (Address already in use) for [127.0.0.1:{{fe}}]" >&2
            exit 1
        fi
        exec "{{proxy}}" -db "$@"
    "#;
    let mut proxy = ProxyBuilder::new(
        "defaults
            mode tcp
            timeout connect 5s
            timeout client 5s
            timeout server 5s
         listen fe
            bind 127.0.0.1:{{fe}}
            server s1 127.0.0.1:{{dead}}",
    )
    .bin("/bin/sh")
    .flags(["-c", script, "fake-proxy"])
    .var("attempts", attempts.display())
    .var("proxy", moonproxy_bin().display())
    .free_port("dead")
    .start();
    let ports = std::fs::read_to_string(&attempts).unwrap();
    let _ = std::fs::remove_file(&attempts);
    let ports: Vec<u16> = ports.lines().map(|l| l.parse().unwrap()).collect();
    assert_eq!(ports.len(), 2, "{ports:?}");
    assert_ne!(ports[0], ports[1], "the second attempt must use a new port");
    assert_eq!(proxy.port("fe"), ports[1]);
    assert!(is_listening(proxy.port("fe")));
    assert_eq!(proxy.stop().code(), Some(0));
}

#[test]
fn refusing_port_refuses_until_it_listens() {
    let dead = RefusingPort::new();
    assert!(!is_listening(dead.port()));
    let err = Client::try_connect(dead.port()).expect_err("a reserved port refuses");
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused);
    let port = dead.port();
    let alive = dead.listen(Behaviour::Reply(b"up".to_vec()));
    assert_eq!(alive.port(), port);
    let mut client = Client::connect(port);
    assert_eq!(client.recv_until_close(), (b"up".to_vec(), CloseKind::Eof));
}

#[test]
fn send_random_and_expect_random_agree_with_random_bytes() {
    let mut sent = Vec::new();
    send_random(&mut sent, 9, 200_001).unwrap();
    assert_eq!(sent, random_bytes(9, 200_001));
    assert_eq!(expect_random(&mut sent.as_slice(), 9, 200_001), 200_001);
}

#[test]
#[should_panic(expected = "byte mismatch")]
fn expect_random_rejects_a_changed_byte() {
    let mut sent = random_bytes(9, 100_000);
    sent[70_000] ^= 1;
    expect_random(&mut sent.as_slice(), 9, 100_000);
}

#[test]
#[should_panic(expected = "short stream")]
fn expect_random_rejects_a_short_stream() {
    let sent = random_bytes(9, 100_000);
    expect_random(&mut &sent[..99_999], 9, 100_000);
}

/// `logged_tcp_config` is a configuration HAProxy takes too, and `field` reads its lines on
/// both; `wait_for_lines` returns the first lines that match, in order.
#[test]
fn logged_tcp_lines_read_the_same_on_moonproxy_and_haproxy() {
    for bin in moonproxy_and_haproxy() {
        let echo = Backend::echo();
        let proxy = ProxyBuilder::logged_tcp_listen(&echo).bin(&bin).start();
        for (i, payload) in [&b"ab"[..], b"cdef"].into_iter().enumerate() {
            let mut client = proxy.connect("fe");
            client.send(payload);
            assert_eq!(client.recv_exact(payload.len()), payload);
            client.shutdown_write();
            assert_eq!(client.recv_until_close().1, CloseKind::Eof);
            // One stream at a time: the lines come in the order of the connections.
            proxy.wait_for_lines(i + 1, is_log_line, DEADLINE);
        }
        let lines = proxy.wait_for_lines(2, is_log_line, DEADLINE);
        for (line, bytes) in lines.iter().zip(["2", "4"]) {
            assert_eq!(field(line, "ts"), "--", "{}: {line}", bin.display());
            assert_eq!(field(line, "b"), "l", "{line}");
            assert_eq!(field(line, "s"), "s1", "{line}");
            assert_eq!((field(line, "U"), field(line, "B")), (bytes, bytes), "{line}");
        }
    }
}

/// `TcpLog` splits the `option tcplog` line HAProxy writes, and moonproxy's.
#[test]
fn tcplog_lines_split_into_named_fields_on_moonproxy_and_haproxy() {
    for bin in moonproxy_and_haproxy() {
        let echo = Backend::echo();
        let proxy = ProxyBuilder::new(TCPLOG_LISTEN)
        .bin(&bin)
        .port("be", echo.port())
        .start();
        let mut client = proxy.connect("fe");
        let client_port = client.local_port();
        client.send(b"hello");
        assert_eq!(client.recv_exact(5), b"hello");
        client.shutdown_write();
        assert_eq!(client.recv_until_close().1, CloseKind::Eof);
        let line = proxy.wait_for_line(|l| l.contains(" fe fe/s1 "), DEADLINE);
        let log = TcpLog::parse(&line);
        assert_eq!(log.client, format!("127.0.0.1:{client_port}"), "{}: {line}", bin.display());
        assert!(log.date.starts_with('[') && log.date.ends_with(']'), "{line}");
        assert_eq!((log.frontend, log.backend_server), ("fe", "fe/s1"), "{line}");
        assert_eq!(log.timers.split('/').count(), 3, "{line}");
        assert_eq!((log.bytes, log.termination), ("5", "--"), "{line}");
        assert_eq!(log.conns.split('/').count(), 5, "{line}");
        assert_eq!(log.queues, "0/0", "{line}");
    }
}

#[test]
#[should_panic(expected = "not a tcplog line")]
fn tcplog_parse_rejects_another_line() {
    TcpLog::parse("LOG ts=-- b=l s=s1");
}
