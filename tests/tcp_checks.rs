//! Health checks: a dead server is taken down by its checks and brought back.

mod common;

use common::*;

/// Connects to `{{fe}}`, sends nothing, returns everything the server sent (its name).
fn ask(proxy: &Proxy) -> String {
    String::from_utf8(proxy.connect("fe").recv_until_close().0).unwrap()
}

#[test]
fn dead_server_goes_down_and_comes_back() {
    let good = Backend::reply(b"good");
    // The flaky server's port: reserved, refusing until we listen on it.
    let flaky_port = RefusingPort::new();
    let proxy = ProxyBuilder::logged_tcp(
        "listen l
            bind 127.0.0.1:{{fe}}
            balance roundrobin
            server flaky 127.0.0.1:{{flaky}} check inter 100ms rise 2 fall 2
            server good 127.0.0.1:{{good}} check inter 100ms",
    )
    .port("flaky", flaky_port.port())
    .port("good", good.port())
    .start();
    let down = proxy.wait_for_line(|l| l.contains("Server l/flaky is DOWN"), DEADLINE);
    assert!(down.contains("reason: Layer4 connection problem"), "{down}");
    assert!(down.contains("info: \"Connection refused\""), "{down}");
    assert!(down.contains("1 active and 0 backup servers left."), "{down}");
    // While down, all traffic goes to `good`.
    for _ in 0..4 {
        assert_eq!(ask(&proxy), "good");
    }
    // Bring it back on the same port.
    let flaky = flaky_port.listen(Behaviour::Reply(b"flaky".to_vec()));
    let up = proxy.wait_for_line(|l| l.contains("Server l/flaky is UP"), DEADLINE);
    assert!(up.contains("reason: Layer4 check passed"), "{up}");
    let mut seen = std::collections::HashSet::new();
    for _ in 0..6 {
        seen.insert(ask(&proxy));
    }
    assert!(seen.contains("flaky"), "traffic returns to the revived server: {seen:?}");
    drop(flaky);
}

#[test]
fn backend_with_no_server_left_is_reported_and_refuses_with_sc() {
    let dead = RefusingPort::new();
    let proxy = ProxyBuilder::logged_tcp(
        "listen l
            bind 127.0.0.1:{{fe}}
            server only 127.0.0.1:{{dead}} check inter 100ms fall 1",
    )
    .port("dead", dead.port())
    .start();
    proxy.wait_for_line(|l| l.contains("Server l/only is DOWN"), DEADLINE);
    // A `listen` section is a "proxy" in HAProxy's words (it said "backend 'l'").
    proxy.wait_for_line(|l| l.contains("proxy 'l' has no server available!") || l.contains("proxy l has no server available!"), DEADLINE);
    assert!(proxy.connect("fe").recv_until_close().0.is_empty());
    let line = proxy.wait_for_line(is_log_line, DEADLINE);
    assert_eq!(field(&line, "ts"), "SC", "{line}");
    assert_eq!(field(&line, "s"), "<NOSRV>", "{line}");
}
