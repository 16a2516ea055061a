//! The last fetches, converters and `bind`/`server` options a HAProxy 2.6 user may
//! need, side by side with the real HAProxy where it is installed:
//!
//! - the listener's `so_id`, `so_name`, `dst_conn`; the PROXY v2 TLVs `fc_pp_authority`
//!   and `fc_pp_unique_id`; `last_rule_file`/`last_rule_line`; `bc_src`/`bc_src_port`
//!   (checked against `%bi`/`%bp`); proxy fetches (`nbsrv`, `be_conn`, `srv_conn`...)
//!   in the log line written when the stream ends;
//! - the `capture-req`/`capture-res` and `srv_queue` converters;
//! - `tcp-ut`, `tfo`, `no-tfo`, `ws`, `proto h1`, `stick`, `pool-low-conn`: the same
//!   configurations accepted, the same words refused, and traffic through them.

mod common;

use common::*;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;

/// One request on its own connection (`preamble` first, e.g. a PROXY header): the
/// status and the response head.
fn request(port: u16, preamble: &[u8], path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(loopback(port)).unwrap();
    s.set_read_timeout(Some(DEADLINE)).unwrap();
    let mut req = preamble.to_vec();
    req.extend_from_slice(format!("GET {path} HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n").as_bytes());
    // A rejected connection may be reset before the request is written.
    let _ = s.write_all(&req);
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out).to_string();
    let status = text.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    (status, text)
}

/// The value of `key=` in a log line (up to the next space).
fn value<'a>(line: &'a str, key: &str) -> &'a str {
    let start = line.find(&format!("{key}=")).map(|i| i + key.len() + 1).unwrap_or_else(|| panic!("{key} not in {line}"));
    line[start..].split(' ').next().unwrap_or("")
}

const LOG_CONFIG: &str = "global
    log stdout format raw local0
defaults
    mode http
    log global
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{{pp}} accept-proxy id 7 name web
    bind 127.0.0.1:{{plain}}
    log-format \"so_id=%[so_id] so_name=%[so_name] dst_conn=%[dst_conn] auth=%[fc_pp_authority] uid=%[fc_pp_unique_id] rule=%[last_rule_file]:%[last_rule_line] nbsrv=%[nbsrv(be)] be_conn=%[be_conn(be)] srv_conn=%[srv_conn(be/s1)] bc=%bc sc=%sc queue=%[queue(be)] bi=%bi bc_src=%[bc_src] bp=%bp bc_src_port=%[bc_src_port] st=%ST\"
    http-request deny if { path /deny }
    http-request allow if { path /allow }
    default_backend be
backend be
    server s1 127.0.0.1:{{app}}
    server s2 127.0.0.1:{{app}} disabled
";

/// The log lines of three requests: through the PROXY listener, denied, allowed.
fn log_lines(bin: &Path) -> (Vec<String>, String) {
    let app = http_app();
    let proxy = ProxyBuilder::new(LOG_CONFIG).bin(bin).port("app", app.port()).start();
    let header = moonproxy::proxy_protocol::v2(
        Some("10.1.2.3:4444".parse().unwrap()),
        Some("10.9.9.9:80".parse().unwrap()),
        &[(moonproxy::proxy_protocol::PP2_TYPE_AUTHORITY, b"example.org"), (moonproxy::proxy_protocol::PP2_TYPE_UNIQUE_ID, b"uid-42")],
    );
    let mut lines = Vec::new();
    for (port, preamble, path, status) in [("pp", &header[..], "/", 200), ("plain", &b""[..], "/deny", 403), ("plain", &b""[..], "/allow", 200)] {
        let mark = proxy.mark();
        assert_eq!(request(proxy.port(port), preamble, path).0, status, "{path} on {port}");
        lines.push(proxy.wait_for_line_after(mark, |l| l.contains("so_id="), DEADLINE));
    }
    (lines, proxy.config_path().display().to_string())
}

#[test]
fn listener_tlv_rule_and_proxy_fetches_in_log_lines() {
    for bin in moonproxy_and_haproxy() {
        let (lines, cfg) = log_lines(&bin);
        let who = bin.display();
        let [pp, denied, allowed] = &lines[..] else { unreachable!() };
        // The PROXY listener: its id and name, the TLVs, no final rule, one connection.
        assert_eq!(value(pp, "so_id"), "7", "{who}: {pp}");
        assert_eq!(value(pp, "so_name"), "web", "{who}: {pp}");
        assert_eq!(value(pp, "dst_conn"), "1", "{who}: {pp}");
        assert_eq!(value(pp, "auth"), "example.org", "{who}: {pp}");
        assert_eq!(value(pp, "uid"), "uid-42", "{who}: {pp}");
        assert_eq!(value(pp, "rule"), "-:-", "{who}: {pp}");
        // Proxy fetches at log time: the same counts as `%bc`/`%sc` (whether this
        // stream still counts there depends on when each proxy sees the server close).
        assert_eq!(value(pp, "nbsrv"), "1", "{who}: {pp}");
        assert_eq!(value(pp, "be_conn"), value(pp, "bc"), "{who}: {pp}");
        assert_eq!(value(pp, "srv_conn"), value(pp, "sc"), "{who}: {pp}");
        assert_eq!(value(pp, "queue"), "0", "{who}: {pp}");
        // The server connection's source, as `%bi`/`%bp` print it.
        assert_eq!(value(pp, "bc_src"), value(pp, "bi"), "{who}: {pp}");
        assert_eq!(value(pp, "bc_src_port"), value(pp, "bp"), "{who}: {pp}");
        assert_ne!(value(pp, "bc_src_port"), "-", "{who}: {pp}");
        // The other listener: no name; the rule that decided, file and line.
        assert_eq!(value(denied, "so_name"), "-", "{who}: {denied}");
        assert_eq!(value(denied, "auth"), "-", "{who}: {denied}");
        assert_eq!(value(denied, "rule"), format!("{cfg}:13"), "{who}: {denied}");
        assert_eq!(value(denied, "st"), "403", "{who}: {denied}");
        assert_eq!(value(allowed, "rule"), format!("{cfg}:14"), "{who}: {allowed}");
    }
}

#[test]
fn the_listener_without_an_id_is_numbered_as_haproxy_does() {
    let mut ids = Vec::new();
    for bin in moonproxy_and_haproxy() {
        let (lines, _) = log_lines(&bin);
        ids.push(value(&lines[1], "so_id").to_string());
    }
    assert!(ids.iter().all(|id| id == &ids[0]), "moonproxy, haproxy: {ids:?}");
}

#[test]
fn dst_conn_counts_the_connection_being_judged() {
    // One connection at a time: a second one, while the first is open, is rejected by
    // the `tcp-request connection` rule.
    for bin in moonproxy_and_haproxy() {
        let proxy = ProxyBuilder::new(
            "defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{{fe}}
    tcp-request connection reject if { dst_conn gt 1 }
    http-request return status 200 hdr x-conn %[dst_conn]
",
        )
        .bin(&bin)
        .start();
        let mut first = TcpStream::connect(proxy.addr("fe")).unwrap();
        first.set_read_timeout(Some(DEADLINE)).unwrap();
        first.write_all(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n").unwrap();
        let mut buf = [0u8; 512];
        let n = first.read(&mut buf).unwrap();
        let head = String::from_utf8_lossy(&buf[..n]).to_lowercase();
        assert!(head.contains("x-conn: 1"), "{}: {head}", bin.display());
        let (status, _) = request(proxy.port("fe"), b"", "/");
        assert_eq!(status, 0, "{}: the second connection is rejected", bin.display());
        drop(first);
    }
}

/// The capture converters and `srv_queue`: headers of the response and `%hr`/`%hs`.
#[test]
fn capture_and_srv_queue_converters_match_haproxy() {
    const CONFIG: &str = "global
    log stdout format raw local0
defaults
    mode http
    log global
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{{fe}}
    declare capture request len 3
    declare capture response len 20
    log-format \"hr=%hr hs=%hs\"
    http-request set-var(txn.a) str(abcdef),capture-req(0)
    http-request set-var(txn.b) str(xyz),capture-req(5)
    http-request set-var(txn.c) str(response-side),capture-res(0)
    http-after-response set-header x-cap %[capture.req.hdr(0)]
    http-after-response set-header x-a %[var(txn.a)]
    http-after-response set-header x-b %[var(txn.b)]
    default_backend be
backend be
    http-response set-header x-q %[str(be/s1),srv_queue]
    http-response set-header x-q-short %[str(s1),srv_queue]
    http-response set-header x-q-none %[str(be/nope),srv_queue]
    server s1 127.0.0.1:{{app}}
";
    let mut seen = Vec::new();
    for bin in moonproxy_and_haproxy() {
        let app = http_app();
        let proxy = ProxyBuilder::new(CONFIG).bin(&bin).port("app", app.port()).start();
        let mark = proxy.mark();
        let (status, text) = request(proxy.port("fe"), b"", "/");
        assert_eq!(status, 200, "{}: {text}", bin.display());
        let header = |name: &str| {
            text.lines()
                .find_map(|l| l.split_once(':').filter(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.trim().to_string()))
                .unwrap_or_else(|| "<none>".into())
        };
        let line = proxy.wait_for_line_after(mark, |l| l.contains("hr="), DEADLINE);
        let got = [header("x-cap"), header("x-a"), header("x-b"), header("x-q"), header("x-q-short"), header("x-q-none"), line.trim().to_string()];
        assert_eq!(got[0], "abc", "{}: the slot holds the first 3 bytes", bin.display());
        assert_eq!(got[1], "abcdef", "{}: the converter passes its input on", bin.display());
        assert_eq!(got[2], "", "{}: an undeclared slot makes it fail (the variable stays unset)", bin.display());
        assert_eq!(got[3], "0", "{}", bin.display());
        assert_eq!(got[6], "hr={abc} hs={response-side}", "{}", bin.display());
        seen.push(got);
    }
    assert!(seen.windows(2).all(|w| w[0] == w[1]), "moonproxy, haproxy: {seen:#?}");
}

/// `-c` on one configuration line: exit code and the alert lines.
fn check(bin: &Path, server_opts: &str, bind_opts: &str) -> (Option<i32>, Vec<String>) {
    let config = format!(
        "defaults
    mode http
    timeout connect 1s
    timeout client 1s
    timeout server 1s
frontend fe
    bind 127.0.0.1:{{{{fe}}}} {bind_opts}
    default_backend be
backend be
    retry-on conn-failure empty-response response-timeout
    server s1 127.0.0.1:{{{{app}}}} {server_opts}
"
    );
    let out = ProxyBuilder::new(&config).bin(bin).var("app", 1).flags(["-c"]).run();
    let alerts = format!("{}\n{}", out.stdout, out.stderr)
        .lines()
        .filter(|l| l.contains("[ALERT]") && !l.contains("Error(s) found") && !l.contains("Fatal errors"))
        // The file name and the process id differ between the runs.
        .map(|l| l.split_once("] : ").map_or(l, |(_, rest)| rest).to_string())
        .map(|l| l.split_once(" : ").map_or(l.clone(), |(_, rest)| rest.to_string()))
        .collect();
    (out.code(), alerts)
}

#[test]
fn server_and_bind_options_are_accepted_and_refused_as_haproxy_does() {
    let accepted: &[(&str, &str)] = &[
        ("tcp-ut 10s", "tcp-ut 2500"),
        ("tfo", "tfo"),
        ("tfo no-tfo", ""),
        ("ws auto", ""),
        ("ws h1", ""),
        ("proto h1", ""),
        ("non-stick stick", ""),
        ("pool-low-conn 5", ""),
        ("", "accept-netscaler-cip 1234"),
        ("", "id 4 name front"),
    ];
    let refused: &[(&str, &str)] = &[
        ("tcp-ut", ""),
        ("tcp-ut x", ""),
        ("tcp-ut 5000000000", ""),
        ("", "tcp-ut"),
        ("", "tcp-ut 10x"),
        ("ws", ""),
        ("ws h3", ""),
        ("proto", ""),
        ("proto xx", ""),
        ("pool-low-conn", ""),
        ("", "accept-netscaler-cip"),
        ("", "accept-netscaler-cip x"),
    ];
    for bin in moonproxy_and_haproxy() {
        for (srv, bind) in accepted {
            let (code, alerts) = check(&bin, srv, bind);
            assert_eq!(code, Some(0), "{}: server '{srv}' bind '{bind}': {alerts:?}", bin.display());
        }
    }
    let Some(haproxy) = haproxy_bin() else { return };
    for (srv, bind) in refused {
        let ours = check(&moonproxy_bin(), srv, bind);
        let theirs = check(&haproxy, srv, bind);
        assert_ne!(ours.0, Some(0), "server '{srv}' bind '{bind}' must be refused");
        assert_eq!(ours.1, theirs.1, "server '{srv}' bind '{bind}': moonproxy (left), HAProxy (right)");
    }
}

#[test]
fn websocket_over_h2_is_refused_and_muxes_need_http_mode() {
    let (code, alerts) = check(&moonproxy_bin(), "ws h2", "");
    assert_ne!(code, Some(0), "ws h2");
    assert!(alerts.iter().any(|a| a.contains("RFC 8441")), "ws h2: {alerts:?}");
    // `proto h1` / `proto h2` in a TCP backend: HAProxy's alert.
    for mux in ["h1", "h2"] {
        let out = ProxyBuilder::new(
            "defaults
    mode tcp
    timeout connect 1s
    timeout client 1s
    timeout server 1s
backend b
    server s 127.0.0.1:{{app}} proto {{mux}}
",
        )
        .var("app", 1)
        .var("mux", mux)
        .flags(["-c"])
        .run();
        assert_ne!(out.code(), Some(0));
        assert!(out.stderr.contains(&format!("MUX protocol '{mux}' is not usable for server 's'")), "{}", out.stderr);
    }
}

#[test]
fn htx_internals_are_refused_with_a_reason() {
    let out = ProxyBuilder::new(
        "defaults
    mode http
    timeout connect 1s
    timeout client 1s
    timeout server 1s
frontend fe
    bind 127.0.0.1:{{fe}}
    http-request set-header x %[internal.htx.size]
    http-request return status 200
",
    )
    .flags(["-c"])
    .run();
    assert_ne!(out.code(), Some(0));
    assert!(out.stderr.contains("internal HTX representation, which has no meaning in moonproxy"), "{}", out.stderr);
}

/// Traffic through listeners and servers with the socket options set.
#[test]
fn traffic_flows_with_user_timeouts_and_fast_open() {
    let app = http_app();
    let proxy = ProxyBuilder::new(
        "defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{{fe}} tfo tcp-ut 3s
    default_backend be
backend be
    retry-on conn-failure empty-response response-timeout
    server s1 127.0.0.1:{{app}} tfo tcp-ut 2s ws h1 proto h1 pool-low-conn 2
",
    )
    .port("app", app.port())
    .start();
    for _ in 0..3 {
        let (status, text) = request(proxy.port("fe"), b"", "/");
        assert_eq!(status, 200, "{text}");
    }
}

/// A NetScaler Client IP header: `magic`, the legacy or the standard form, then the
/// client's IPv4 and TCP headers (10.0.0.1:12345 to 10.0.0.2:80).
fn netscaler_cip(magic: u32, legacy: bool) -> Vec<u8> {
    let mut ip = vec![0x45, 0, 0, 40, 0, 0, 0, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2];
    ip.extend_from_slice(&[0x30, 0x39, 0x00, 0x50]);
    ip.extend_from_slice(&[0; 16]);
    let mut h = magic.to_be_bytes().to_vec();
    if legacy {
        h.extend_from_slice(&(ip.len() as u32).to_be_bytes());
    } else {
        h.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
        h.extend_from_slice(&(ip.len() as u16).to_be_bytes());
    }
    h.extend_from_slice(&ip);
    h
}

#[test]
fn netscaler_client_ip_headers_give_the_client_address() {
    for bin in moonproxy_and_haproxy() {
        let proxy = ProxyBuilder::new(
            "global
    log stdout format raw local0
defaults
    mode http
    log global
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{{fe}} accept-netscaler-cip 1234 name ns
    http-request return status 200 hdr x-src %[src]:%[src_port] hdr x-dst %[dst]:%[dst_port] hdr x-pp %[fc_rcvd_proxy]
",
        )
        .bin(&bin)
        .start();
        let who = bin.display();
        for legacy in [true, false] {
            let (status, text) = request(proxy.port("fe"), &netscaler_cip(1234, legacy), "/");
            assert_eq!(status, 200, "{who}: {text}");
            let text = text.to_lowercase();
            assert!(text.contains("x-src: 10.0.0.1:12345"), "{who} legacy={legacy}: {text}");
            assert!(text.contains("x-dst: 10.0.0.2:80"), "{who} legacy={legacy}: {text}");
            assert!(text.contains("x-pp: 0"), "{who} legacy={legacy}: {text}");
        }
        let mark = proxy.mark();
        let (status, _) = request(proxy.port("fe"), &netscaler_cip(99, true), "/");
        assert_eq!(status, 0, "{who}: a wrong magic closes the connection");
        let line = proxy.wait_for_line_after(mark, |l| l.contains("NetScaler"), DEADLINE);
        assert!(line.contains("fe/ns: Received an invalid NetScaler Client IP magic number"), "{who}: {line}");
    }
}

/// TCP mode: the listener fetches in `tcp-request content` rules and, with the proxy
/// fetches, `bc_src_port` and the content rule that decided, in the log line.
#[test]
fn tcp_mode_rules_and_log_lines_see_the_listener_and_the_proxies() {
    for bin in moonproxy_and_haproxy() {
        let app = Backend::echo();
        let proxy = ProxyBuilder::new(
            "global
    log stdout format raw local0
defaults
    mode tcp
    log global
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{{fe}} id 9 name tcpfe
    log-format \"so_id=%[so_id] so_name=%[so_name] nbsrv=%[nbsrv(be)] bp=%bp bc_src_port=%[bc_src_port] seen=%[var(sess.seen)] rule=%[last_rule_file]:%[last_rule_line]\"
    tcp-request content set-var(sess.seen) so_id,add(100)
    tcp-request content accept
    default_backend be
backend be
    server s1 127.0.0.1:{{app}}
",
        )
        .bin(&bin)
        .port("app", app.port())
        .start();
        let who = bin.display();
        let mark = proxy.mark();
        let mut c = TcpStream::connect(proxy.addr("fe")).unwrap();
        c.set_read_timeout(Some(DEADLINE)).unwrap();
        c.write_all(b"ping").unwrap();
        let mut got = [0u8; 4];
        c.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"ping", "{who}");
        drop(c);
        let line = proxy.wait_for_line_after(mark, |l| l.contains("so_id="), DEADLINE);
        assert_eq!(value(&line, "so_id"), "9", "{who}: {line}");
        assert_eq!(value(&line, "so_name"), "tcpfe", "{who}: {line}");
        assert_eq!(value(&line, "nbsrv"), "1", "{who}: {line}");
        assert_eq!(value(&line, "seen"), "109", "{who}: {line}");
        // The `accept` on line 13 decided.
        assert_eq!(value(&line, "rule"), format!("{}:13", proxy.config_path().display()), "{who}: {line}");
        assert_eq!(value(&line, "bc_src_port"), value(&line, "bp"), "{who}: {line}");
        assert_ne!(value(&line, "bp"), "-", "{who}: {line}");
    }
}

/// `non-stick` servers are never stored by `stick` rules; `stick` undoes a
/// `default-server non-stick`.
#[test]
fn non_stick_servers_are_not_stored() {
    for bin in moonproxy_and_haproxy() {
        let app = http_app();
        let proxy = ProxyBuilder::new(
            "defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{{fe}}
    use_backend sticky if { path /sticky }
    default_backend loose
backend loose
    stick-table type string len 32 size 10
    stick on hdr(host)
    default-server non-stick
    server s1 127.0.0.1:{{app}}
    http-response set-header x-stored %[str(h),in_table(loose)]
backend sticky
    stick-table type string len 32 size 10
    stick on hdr(host)
    default-server non-stick
    server s1 127.0.0.1:{{app}} stick
    http-response set-header x-stored %[str(h),in_table(sticky)]
",
        )
        .bin(&bin)
        .port("app", app.port())
        .start();
        let who = bin.display();
        for (path, stored) in [("/loose", "0"), ("/sticky", "1")] {
            let (status, text) = request(proxy.port("fe"), b"", path);
            assert_eq!(status, 200, "{who}: {text}");
            assert!(text.to_lowercase().contains(&format!("x-stored: {stored}")), "{who} {path}: {text}");
        }
    }
}

/// A `tfo` server in a backend that would not retry a lost request: HAProxy's warning,
/// and none once `retry-on` has what it needs.
#[test]
fn tfo_servers_want_retries() {
    let config = |retry: &str| {
        format!(
            "defaults
    mode http
    timeout connect 1s
    timeout client 1s
    timeout server 1s
backend be
    {retry}
    server s1 127.0.0.1:{{{{app}}}} tfo
"
        )
    };
    let mut seen = Vec::new();
    for bin in moonproxy_and_haproxy() {
        let warnings = |retry: &str| -> Vec<String> {
            let out = ProxyBuilder::new(&config(retry)).bin(&bin).var("app", 1).flags(["-c"]).run();
            format!("{}\n{}", out.stdout, out.stderr)
                .lines()
                .filter(|l| l.contains("tfo activated"))
                .map(|l| l.split_once("] : ").map_or(l, |(_, rest)| rest).to_string())
                .collect()
        };
        let without = warnings("");
        assert_eq!(without.len(), 1, "{}: {without:?}", bin.display());
        assert!(warnings("retry-on conn-failure empty-response response-timeout").is_empty(), "{}", bin.display());
        seen.push(without);
    }
    assert!(seen.windows(2).all(|w| w[0] == w[1]), "moonproxy, haproxy: {seen:#?}");
}
