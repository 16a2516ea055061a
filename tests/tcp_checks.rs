//! Health checks: a dead server is taken down by its checks and brought back.

mod support_tcp;

use std::net::TcpListener;
use std::time::Duration;
use support_tcp::*;

#[test]
fn dead_server_goes_down_and_comes_back() {
    let good = Backend::named("good");
    // Reserve a port for the flaky server, then free it so checks are refused.
    let flaky_addr = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let port = free_port();
    let cfg = format!(
        "{}listen l\n    bind 127.0.0.1:{port}\n    balance roundrobin\n    server flaky {flaky_addr} check inter 100ms rise 2 fall 2\n    server good {} check inter 100ms\n",
        preamble("", ""),
        good.addr
    );
    let p = Proxy::start(&cfg, port);
    let down = p.lines.wait_for(Duration::from_secs(10), |l| l.contains("Server l/flaky is DOWN"));
    assert!(down.contains("reason: Layer4 connection problem"), "{down}");
    assert!(down.contains("info: \"Connection refused\""), "{down}");
    assert!(down.contains("1 active and 0 backup servers left."), "{down}");
    // While down, all traffic goes to `good`.
    for _ in 0..4 {
        assert_eq!(String::from_utf8(read_all(connect(port))).unwrap(), "good");
    }
    // Bring it back on the same port.
    let l = TcpListener::bind(flaky_addr).expect("port still free");
    let flaky = Backend::spawn_on(l, |mut c| {
        use std::io::Write;
        let _ = c.write_all(b"flaky");
    });
    let up = p.lines.wait_for(Duration::from_secs(10), |l| l.contains("Server l/flaky is UP"));
    assert!(up.contains("reason: Layer4 check passed"), "{up}");
    let mut seen = std::collections::HashSet::new();
    for _ in 0..6 {
        seen.insert(String::from_utf8(read_all(connect(port))).unwrap());
    }
    assert!(seen.contains("flaky"), "traffic returns to the revived server: {seen:?}");
    drop(flaky);
}

#[test]
fn backend_with_no_server_left_is_reported_and_refuses_with_sc() {
    let dead = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let port = free_port();
    let cfg = format!(
        "{}listen l\n    bind 127.0.0.1:{port}\n    server only {dead} check inter 100ms fall 1\n",
        preamble("", ""),
    );
    let p = Proxy::start(&cfg, port);
    p.lines.wait_for(Duration::from_secs(10), |l| l.contains("Server l/only is DOWN"));
    p.lines.wait_for(Duration::from_secs(10), |l| l.contains("has no server available!"));
    assert!(read_all(connect(port)).is_empty());
    let line = p.log_line("LOG ");
    assert_eq!(field(&line, "ts"), "SC", "{line}");
    assert_eq!(field(&line, "s"), "<NOSRV>", "{line}");
}
