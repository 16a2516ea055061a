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
