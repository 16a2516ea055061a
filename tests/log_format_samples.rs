//! `%[...]` sample expressions in a `log-format`, rendered by the running binary from
//! what a TCP stream's log record holds.

mod common;

use common::*;
use std::time::Duration;

#[test]
fn sample_expressions_are_rendered_in_tcp_logs() {
    let backend = Backend::echo();
    let p = ProxyBuilder::new(
        "global
            log stdout format raw local0
        defaults
            mode tcp
            log global
            timeout connect 1s
            timeout client 5s
            timeout server 5s
        listen li
            bind 127.0.0.1:{{fe}}
            log-format \"S %[src] %{+Q}[fe_name,upper] %[be_name]/%[srv_name] %[dst_port] %[str(x),base64] %[env(MOONPROXY_NOPE_X)] E\"
            server s1 127.0.0.1:{{be}}",
    )
    .port("be", backend.port())
    .start();
    let mut c = p.connect("fe");
    c.send(b"hi");
    c.shutdown_write();
    assert_eq!(c.recv_until_close().0, b"hi");
    let line = p.wait_for_line(|l| l.starts_with("S "), Duration::from_secs(5));
    assert_eq!(
        line,
        format!("S 127.0.0.1 \"LI\" li/s1 {} eA== - E", p.port("fe"))
    );
}

#[test]
fn a_bad_expression_is_refused_at_load() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_moonproxy"))
        .arg("-c")
        .arg("-f")
        .arg("/dev/stdin")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child.stdin.take().unwrap().write_all(
                b"frontend fe\n  bind 127.0.0.1:0\n  log stdout local0\n  log-format \"%[nope]\"\n",
            )?;
            child.wait_with_output()
        })
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains(
            "config : Parsing [/dev/stdin:4]: failed to parse log-format : failed to parse sample expression <nope]> : unknown fetch method 'nope'."
        ),
        "{stderr}"
    );
}

/// In HTTP mode `%[...]` sees the transaction the line is about: its captures, status,
/// method and `txn.*` variables, one line per request of a kept-alive connection.
/// Compared with HAProxy 2.6 when it is installed. Beyond HAProxy (which refuses them
/// in a log-format at load), the request and response headers can be read too.
#[test]
fn sample_expressions_see_each_transaction_in_http_logs() {
    let app = Backend::http(b"ok");
    let lines_of = |bin: &std::path::Path, format: &str| -> Vec<String> {
        let config = format!(
            "global
                log stdout format raw local0
            defaults
                mode http
                log global
                timeout connect 1s
                timeout client 5s
                timeout server 5s
            frontend fe
                bind 127.0.0.1:{{{{fe}}}}
                capture request header X-Trace len 8
                http-request set-var(txn.who) req.hdr(x-user),lower
                http-request set-var(sess.first) path if !{{ var(sess.first) -m found }}
                http-response set-header X-Seen %[var(txn.who)]
                log-format \"{format}\"
                default_backend be
            backend be
                server s1 127.0.0.1:{{{{be}}}}"
        );
        let p = ProxyBuilder::new(&config).bin(bin).port("be", app.port()).start();
        let mut c = p.connect("fe");
        for (path, user, trace) in [("/one", "ALICE", "t1"), ("/two", "Bob", "t2")] {
            let req = format!("GET {path} HTTP/1.1\r\nHost: h{path}\r\nX-User: {user}\r\nX-Trace: {trace}\r\n\r\n");
            assert_eq!(c.http_request(req.as_bytes()).status, 200);
        }
        p.wait_for_lines(2, |l| l.starts_with("L "), Duration::from_secs(5))
    };
    let common = "L %[var(txn.who)] %[capture.req.hdr(0)] %[status] %[var(sess.first)] %{+Q}[method]";
    let ours = lines_of(&moonproxy_bin(), common);
    assert_eq!(ours, ["L alice t1 200 /one \"GET\"", "L bob t2 200 /one \"GET\""]);
    match haproxy_bin() {
        Some(h) => assert_eq!(lines_of(&h, common), ours, "HAProxy (left) vs moonproxy"),
        None => assert!(std::env::var_os("CI").is_none(), "CI must install haproxy (see .ci/run)"),
    }
    let headers = lines_of(&moonproxy_bin(), "L %[req.hdr(host)] %[path] %[res.hdr(x-seen)]");
    assert_eq!(headers, ["L h/one /one alice", "L h/two /two bob"]);
}

/// TCP mode: the variables set by `tcp-request connection` and `content` rules reach
/// the log line (the connection rules run before the stream exists: their `sess.*`
/// variables are handed to it). Compared with HAProxy 2.6 when installed.
#[test]
fn tcp_rule_variables_reach_tcp_logs() {
    let backend = Backend::echo();
    let line_of = |bin: &std::path::Path| -> String {
        let p = ProxyBuilder::new(
            "global
                log stdout format raw local0
            defaults
                mode tcp
                log global
                timeout connect 1s
                timeout client 5s
                timeout server 5s
            listen li
                bind 127.0.0.1:{{fe}}
                tcp-request connection set-var(sess.c) str(conn)
                tcp-request content set-var(txn.t) str(content)
                log-format \"V %[var(sess.c)] %[var(txn.t)] %[srv_name] %[var(txn.none)]\"
                server s1 127.0.0.1:{{be}}",
        )
        .bin(bin)
        .port("be", backend.port())
        .start();
        let mut c = p.connect("fe");
        c.send(b"hi");
        c.shutdown_write();
        assert_eq!(c.recv_until_close().0, b"hi");
        p.wait_for_line(|l| l.starts_with("V "), Duration::from_secs(5))
    };
    let ours = line_of(&moonproxy_bin());
    assert_eq!(ours, "V conn content s1 -");
    match haproxy_bin() {
        Some(h) => assert_eq!(line_of(&h), ours, "HAProxy (left) vs moonproxy"),
        None => assert!(std::env::var_os("CI").is_none(), "CI must install haproxy (see .ci/run)"),
    }
}
