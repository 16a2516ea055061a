//! The rule actions on the stream's connection, timeouts and pattern files (`set-src`,
//! `set-dst`, `set-src-port`, `set-dst-port`, `set-timeout`, `set-map`, `del-map`,
//! `add-acl`, `del-acl`, `set-tos`, `set-mark`, `set-priority-class`,
//! `set-priority-offset`; `set-nice`, `wait-for-handshake` and
//! `strict-mode` are accepted without effect), each run on moonproxy and on HAProxy 2.6
//! with the same configuration: what the client, the server, the log line and the
//! kernel (`ss --tos -e`) see.

mod common;

use common::*;
use std::io::Write;
use std::time::Duration;

/// A server answering every request with the `X-Forwarded-For` it received (`-` when
/// none) in an `x-got-xff` header, one request per connection.
fn xff_echo() -> Backend {
    Backend::custom(|mut conn, _| {
        let Some(head) = read_request_head(&mut conn) else { return };
        let head = String::from_utf8_lossy(&head).to_string();
        let xff: Vec<&str> = head
            .lines()
            .filter_map(|l| l.split_once(':'))
            .filter(|(n, _)| n.eq_ignore_ascii_case("x-forwarded-for"))
            .map(|(_, v)| v.trim())
            .collect();
        let xff = if xff.is_empty() { "-".to_string() } else { xff.join(",") };
        let _ = conn.write_all(format!("HTTP/1.1 200 OK\r\nx-got-xff: {xff}\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok").as_bytes());
    })
}

/// `http-request set-src hdr(x-real-ip)` behind a CDN, and the three others: the
/// addresses later rules, the stick table, `option forwardfor` and the log line see.
#[test]
fn http_request_set_src_and_dst_as_haproxy() {
    let srv = xff_echo();
    let mut runs = Vec::new();
    for bin in moonproxy_and_haproxy() {
        let proxy = ProxyBuilder::new(
            "global\n log stdout format raw local0\n\
             defaults\n mode http\n log global\n timeout client 5s\n timeout server 5s\n timeout connect 5s\n\
             frontend f\n bind 127.0.0.1:{{f}}\n\
              log-format \"LOG %ci %HP\"\n\
              option forwardfor\n\
              stick-table type ip size 10 store http_req_cnt\n\
              http-request set-src hdr(x-real-ip) if { req.hdr(x-real-ip) -m found }\n\
              http-request set-src-port hdr(x-port) if { req.hdr(x-port) -m found }\n\
              http-request set-dst str(10.9.8.7) if { path /dst }\n\
              http-request set-dst-port int(70000) if { path /dst }\n\
              http-request track-sc0 src\n\
              http-request set-var(txn.cnt) sc0_http_req_cnt\n\
              http-request set-var(txn.src) src\n\
              http-request set-var(txn.port) src_port if { req.hdr(x-port) -m found }\n\
              http-request set-var(txn.dst) dst if { path /dst }\n\
              http-request set-var(txn.dstport) dst_port if { path /dst }\n\
              http-response set-header x-addrs \"%[var(txn.src)] port=%[var(txn.port)] dst=%[var(txn.dst)]:%[var(txn.dstport)] cnt=%[var(txn.cnt)] now=%[src]\"\n\
              default_backend b\n\
             backend b\n server s 127.0.0.1:{{be}}\n",
        )
        .bin(&bin)
        .port("be", srv.port())
        .start();
        let f = proxy.port("f");
        let mut seen = Vec::new();
        for (path, headers) in [
            ("/a", "x-real-ip: 10.1.2.3\r\n"),
            ("/b", "x-real-ip: 10.1.2.3\r\nx-port: 4242\r\n"),
            ("/c", "x-real-ip: 2001:db8::7\r\n"),
            ("/d", "x-real-ip: unknown\r\n"),
            ("/e", "x-real-ip: 10.4.5.6\r\nx-real-ip: 10.1.2.3\r\n"),
            ("/dst", "x-real-ip: 10.4.5.6\r\n"),
        ] {
            let mut c = Client::connect(f);
            let r = c.http_request(format!("GET {path} HTTP/1.1\r\nhost: x\r\n{headers}\r\n").as_bytes());
            let header = |n: &str| r.header(n).unwrap_or("none").to_string();
            seen.push(format!("{path} {} xff={} {}", r.status, header("x-got-xff"), header("x-addrs")));
        }
        // Two requests on one connection: the second starts from the connection's address.
        let mut c = Client::connect(f);
        for (path, headers) in [("/ka1", "x-real-ip: 10.5.5.5\r\n"), ("/ka2", "")] {
            let r = c.http_request(format!("GET {path} HTTP/1.1\r\nhost: x\r\n{headers}\r\n").as_bytes());
            seen.push(format!("{path} {} {}", r.status, r.header("x-addrs").unwrap_or("none")));
        }
        // Each stream logs once its connection closed: sorted, not in arrival order.
        let mut logs = proxy.wait_for_lines(8, |l| l.starts_with("LOG "), Duration::from_secs(5));
        logs.sort();
        seen.extend(logs);
        runs.push((bin, seen));
    }
    let moon = &runs[0].1;
    assert_eq!(moon[0], "/a 200 xff=10.1.2.3 10.1.2.3 port= dst=: cnt=1 now=10.1.2.3", "{moon:#?}");
    assert!(moon[1].contains("port=4242 dst=: cnt=2"), "the table counts the new source: {moon:#?}");
    assert!(moon.iter().any(|l| l == "LOG 2001:db8::7 /c"), "{moon:#?}");
    assert!(moon[7].starts_with("/ka2 200 127.0.0.1 "), "{moon:#?}");
    assert_runs_agree(&runs);
}

/// The same four actions in `tcp-request connection` and `tcp-request content` rules, in
/// TCP and in HTTP mode: what the next rules, the stick table and the log line see.
#[test]
fn tcp_request_set_src_and_dst_as_haproxy() {
    let echo = Backend::echo();
    let http = xff_echo();
    let mut runs = Vec::new();
    for bin in moonproxy_and_haproxy() {
        let proxy = ProxyBuilder::new(
            "global\n log stdout format raw local0\n\
             defaults\n log global\n timeout client 5s\n timeout server 5s\n timeout connect 5s\n\
             frontend tcp\n mode tcp\n bind 127.0.0.1:{{tcp}}\n\
              log-format \"LOG tcp %ci:%cp conn=%[var(sess.conn)] content=%[var(txn.content)]:%[var(txn.port)] cnt=%[var(txn.cnt)]\"\n\
              stick-table type ip size 10 store conn_cnt\n\
              tcp-request connection set-src str(10.0.0.1)\n\
              tcp-request connection set-src-port int(1234)\n\
              tcp-request connection track-sc0 src\n\
              tcp-request connection set-var(sess.conn) src\n\
              tcp-request inspect-delay 5s\n\
              tcp-request content set-dst ipv4(10.0.0.2)\n\
              tcp-request content set-dst-port int(81)\n\
              tcp-request content set-src-port int(70001) if { req.len gt 0 }\n\
              tcp-request content set-var(txn.content) dst\n\
              tcp-request content set-var(txn.port) dst_port\n\
              tcp-request content set-var(txn.cnt) sc0_conn_cnt\n\
              default_backend echo\n\
             frontend http\n mode http\n bind 127.0.0.1:{{http}}\n\
              log-format \"LOG http %ci %HP\"\n\
              option forwardfor\n\
              tcp-request content set-src req.hdr(x-real-ip)\n\
              tcp-request content set-dst-port int(8080)\n\
              http-request return status 200 content-type text/plain lf-string \"%[src] %[dst_port]\\n\" if { path /here }\n\
              default_backend xff\n\
             backend echo\n mode tcp\n server s 127.0.0.1:{{echo}}\n\
             backend xff\n mode http\n server s 127.0.0.1:{{xff}}\n",
        )
        .bin(&bin)
        .port("echo", echo.port())
        .port("xff", http.port())
        .start();
        let mut seen = Vec::new();
        for _ in 0..2 {
            let mut c = Client::connect(proxy.port("tcp"));
            c.send(b"ping");
            assert_eq!(c.recv_exact(4), b"ping", "{}: the connection goes through", bin.display());
        }
        for (path, headers) in [("/here", "x-real-ip: 10.7.7.7\r\n"), ("/xff", "x-real-ip: 10.8.8.8\r\n"), ("/none", "")] {
            let mut c = Client::connect(proxy.port("http"));
            let r = c.http_request(format!("GET {path} HTTP/1.1\r\nhost: x\r\n{headers}\r\n").as_bytes());
            let xff = r.header("x-got-xff").unwrap_or("none");
            seen.push(format!("{path} {} xff={xff} body={}", r.status, String::from_utf8_lossy(&r.body).trim()));
        }
        let mut logs = proxy.wait_for_lines(5, |l| l.starts_with("LOG "), Duration::from_secs(5));
        logs.sort();
        seen.extend(logs);
        runs.push((bin, seen));
    }
    let moon = &runs[0].1;
    assert_eq!(moon[0], "/here 200 xff=none body=10.7.7.7 8080", "{moon:#?}");
    assert_eq!(moon[1], "/xff 200 xff=10.8.8.8 body=ok", "{moon:#?}");
    assert_eq!(moon[6], "LOG tcp 10.0.0.1:4465 conn=10.0.0.1 content=10.0.0.2:81 cnt=1", "{moon:#?}");
    assert_runs_agree(&runs);
}

/// A server without an address (`0.0.0.0`) connects to the client's destination: with
/// `set-dst` (and `set-dst-port` for a server without a port), the rewritten one.
#[test]
fn set_dst_steers_a_server_without_an_address_as_haproxy() {
    let at = |port: u16| std::net::SocketAddr::from(([127, 0, 0, 2], port));
    let one = Backend::start_at(at(0), Behaviour::Http { status: 200, body: b"one".to_vec() }).expect("listen on 127.0.0.2");
    let two = Backend::start_at(at(0), Behaviour::Http { status: 200, body: b"two".to_vec() }).expect("listen on 127.0.0.2");
    let mut runs = Vec::new();
    for bin in moonproxy_and_haproxy() {
        let proxy = ProxyBuilder::new(
            "defaults\n mode http\n timeout client 5s\n timeout server 5s\n timeout connect 5s\n\
             frontend f\n bind 127.0.0.1:{{f}}\n\
              http-request set-dst str(127.0.0.2)\n\
              http-request set-dst-port int({{two}}) if { path /two }\n\
              use_backend noport if { path /two }\n\
              default_backend any\n\
             backend any\n server s 0.0.0.0:{{one}}\n\
             backend noport\n server s 0.0.0.0\n",
        )
        .bin(&bin)
        .port("one", one.port())
        .port("two", two.port())
        .start();
        let mut seen = Vec::new();
        for path in ["/one", "/two"] {
            let r = Client::connect(proxy.port("f")).http_request(format!("GET {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n").as_bytes());
            seen.push(format!("{path} {} {}", r.status, String::from_utf8_lossy(&r.body)));
        }
        runs.push((bin, seen));
    }
    assert_eq!(runs[0].1, ["/one 200 one", "/two 200 two"]);
    assert_runs_agree(&runs);
}

/// `http-request set-timeout server|tunnel <time|expr>`: what `cur_server_timeout` and
/// `cur_tunnel_timeout` read after it, and a silent server timed out by the new value
/// (the configured one, a minute, would outlast the client's patience: 10 s).
#[test]
fn http_request_set_timeout_as_haproxy() {
    let silent = Backend::silent();
    let app = Backend::http(b"ok");
    let rules = "http-request set-timeout server 200ms if { path_end /short }\n\
                 http-request set-timeout server req.hdr(x-timeout) if { req.hdr(x-timeout) -m found }\n\
                 http-request set-timeout tunnel 3s if { path_end /tunnel }\n";
    let mut runs = Vec::new();
    for bin in moonproxy_and_haproxy() {
        let proxy = ProxyBuilder::new(&format!(
            "global\n log stdout format raw local0\n\
             defaults\n mode http\n log global\n timeout client 60s\n timeout server 60s\n timeout connect 5s\n\
             frontend f\n bind 127.0.0.1:{{{{f}}}}\n log-format \"LOG %HP %ST %ts\"\n\
              use_backend show if {{ path_beg /show }}\n default_backend slow\n\
             backend show\n {rules}\
              http-response set-header x-t \"server=%[cur_server_timeout] tunnel=%[cur_tunnel_timeout]\"\n\
              server s 127.0.0.1:{{{{app}}}}\n\
             backend slow\n {rules} server s 127.0.0.1:{{{{be}}}}\n",
        ))
        .bin(&bin)
        .port("app", app.port())
        .bin(&bin)
        .port("be", silent.port())
        .start();
        let mut seen = Vec::new();
        for (path, headers) in [
            ("/show", ""),
            ("/show/short", ""),
            ("/show/tunnel", ""),
            ("/show", "x-timeout: 1500\r\n"),
            ("/show", "x-timeout: none\r\n"),
            ("/short", ""),
            ("/expr", "x-timeout: 300\r\n"),
        ] {
            let mut c = Client::connect(proxy.port("f"));
            c.set_timeout(Duration::from_secs(10));
            let r = c.http_request(format!("GET {path} HTTP/1.1\r\nhost: x\r\n{headers}\r\n").as_bytes());
            seen.push(format!("{path} {headers:?} {} {}", r.status, r.header("x-t").unwrap_or("-")));
        }
        let mut logs = proxy.wait_for_lines(7, |l| l.starts_with("LOG "), Duration::from_secs(5));
        logs.sort();
        seen.extend(logs);
        runs.push((bin, seen));
    }
    let moon = &runs[0].1;
    assert_eq!(moon[1], "/show/short \"\" 200 server=200 tunnel=0", "{moon:#?}");
    assert!(moon[5].starts_with("/short \"\" 504"), "{moon:#?}");
    assert_runs_agree(&runs);
}

/// `set-map`, `del-map`, `add-acl`, `del-acl` in `http-request` and `http-response`
/// rules: what later lookups of the same files (`map()`, an ACL's `-f`) find.
#[test]
fn map_and_acl_updates_as_haproxy() {
    let app = Backend::http(b"ok");
    let mut runs = Vec::new();
    for bin in moonproxy_and_haproxy() {
        let proxy = ProxyBuilder::new(
            "defaults\n mode http\n timeout client 5s\n timeout server 5s\n timeout connect 5s\n\
             frontend f\n bind 127.0.0.1:{{f}}\n\
              http-request return status 403 if { path /check } { req.hdr(ip) -f {{dir}}/blocked.acl }\n\
              http-request return status 200 content-type text/plain lf-string \"%[req.hdr(k),map({{dir}}/m.map,none)]\" if { path /get }\n\
              http-request return status 200 if { path /check }\n\
              http-request set-map({{dir}}/m.map) %[req.hdr(k)] %[req.hdr(v)] if { path /set }\n\
              http-request del-map({{dir}}/m.map) %[req.hdr(k)] if { path /del }\n\
              http-request add-acl({{dir}}/blocked.acl) %[req.hdr(ip)] if { path /block }\n\
              http-request del-acl({{dir}}/blocked.acl) %[req.hdr(ip)] if { path /unblock }\n\
              http-request set-map({{dir}}/unused.map) a b\n\
              http-request set-var(txn.k) req.hdr(k)\n\
              http-response set-map({{dir}}/m.map) status-%[var(txn.k)] %[status]\n\
              default_backend b\n\
             backend b\n server s 127.0.0.1:{{be}}\n",
        )
        .bin(&bin)
        .file("m.map", "a 1\nb 2\nb 3\n")
        .file("blocked.acl", "10.0.0.1\n")
        .port("be", app.port())
        .start();
        let mut seen = Vec::new();
        for (path, headers) in [
            ("/get", "k: a\r\n"),
            ("/set", "k: a\r\nv: 10\r\n"),
            ("/get", "k: a\r\n"),
            ("/set", "k: new\r\nv: 20\r\n"),
            ("/get", "k: new\r\n"),
            ("/set", "k: b\r\nv: 30\r\n"),
            ("/get", "k: b\r\n"),
            ("/del", "k: b\r\n"),
            ("/get", "k: b\r\n"),
            ("/get", "k: status-new\r\n"),
            ("/check", "ip: 10.0.0.1\r\n"),
            ("/check", "ip: 10.0.0.2\r\n"),
            ("/block", "ip: 10.0.0.2\r\n"),
            ("/block", "ip: 10.0.0.2\r\n"),
            ("/check", "ip: 10.0.0.2\r\n"),
            ("/unblock", "ip: 10.0.0.2\r\n"),
            ("/check", "ip: 10.0.0.2\r\n"),
            ("/unblock", "ip: 10.0.0.1\r\n"),
            ("/check", "ip: 10.0.0.1\r\n"),
        ] {
            let r = Client::connect(proxy.port("f")).http_request(format!("GET {path} HTTP/1.1\r\nhost: x\r\n{headers}\r\n").as_bytes());
            seen.push(format!("{path} {headers:?} {} {}", r.status, String::from_utf8_lossy(&r.body)));
        }
        runs.push((bin, seen));
    }
    let moon = &runs[0].1;
    assert!(moon[2].ends_with(" 200 10"), "{moon:#?}");
    assert!(moon[8].ends_with(" 200 none"), "{moon:#?}");
    assert!(moon[9].ends_with(" 200 200"), "http-response set-map: {moon:#?}");
    assert!(moon[14].contains(" 403"), "{moon:#?}");
    assert_runs_agree(&runs);
}

/// The `tos:` and `fwmark:` that `ss --tos -e` shows for the proxy's end of the client
/// connection on port `port` (`-` when absent: no mark, or no permission to set one).
fn socket_tos_and_mark(port: u16) -> String {
    let out = std::process::Command::new("ss")
        .args(["-Htn", "--tos", "-e", "state", "established", &format!("( sport = :{port} )")])
        .output()
        .expect("ss (iproute2) shows the sockets' TOS and mark");
    let text = String::from_utf8_lossy(&out.stdout);
    let field = |name: &str| text.split_whitespace().find_map(|w| w.strip_prefix(name)).unwrap_or("-").to_string();
    format!("tos={} mark={}", field("tos:"), field("fwmark:"))
}

/// `set-tos` and `set-mark` in `http-request`, `http-response` and `tcp-request
/// connection|content` rules: the options of the proxy's socket to the client, as `ss`
/// shows them while the connection is open.
#[test]
fn set_tos_and_set_mark_as_haproxy() {
    let app = Backend::http(b"ok");
    let echo = Backend::echo();
    let mut runs = Vec::new();
    for bin in moonproxy_and_haproxy() {
        let proxy = ProxyBuilder::new(
            "defaults\n timeout client 5s\n timeout server 5s\n timeout connect 5s\n\
             frontend http\n mode http\n bind 127.0.0.1:{{http}}\n\
              http-request set-tos 0x20 if { path /tos }\n\
              http-request set-mark 0x42 if { path /tos }\n\
              http-request set-var(txn.path) path\n\
              http-response set-tos 0x48 if { var(txn.path) -m str /response }\n\
              http-request set-nice 100\n\
              http-request wait-for-handshake\n\
              http-request strict-mode off\n\
              default_backend app\n\
             frontend tcp\n mode tcp\n bind 127.0.0.1:{{tcp}}\n\
              tcp-request connection set-tos 0x10\n\
              tcp-request content set-mark 0x7\n\
              tcp-request content set-nice -3\n\
              default_backend echo\n\
             backend app\n mode http\n server s 127.0.0.1:{{app}}\n\
             backend echo\n mode tcp\n server s 127.0.0.1:{{echo}}\n",
        )
        .bin(&bin)
        .port("app", app.port())
        .port("echo", echo.port())
        .start();
        let mut seen = Vec::new();
        for path in ["/plain", "/tos", "/response"] {
            // Keep-alive: the connection stays open while `ss` looks at it.
            let mut c = Client::connect(proxy.port("http"));
            let r = c.http_request(format!("GET {path} HTTP/1.1\r\nhost: x\r\n\r\n").as_bytes());
            seen.push(format!("{path} {} {}", r.status, socket_tos_and_mark(proxy.port("http"))));
        }
        let mut c = Client::connect(proxy.port("tcp"));
        c.send(b"ping");
        assert_eq!(c.recv_exact(4), b"ping", "{}: the connection goes through", bin.display());
        seen.push(format!("tcp {}", socket_tos_and_mark(proxy.port("tcp"))));
        runs.push((bin, seen));
    }
    let moon = &runs[0].1;
    assert!(moon[0].starts_with("/plain 200 tos=0 "), "{moon:#?}");
    assert!(moon[1].starts_with("/tos 200 tos=0x20 "), "{moon:#?}");
    assert!(moon[2].starts_with("/response 200 tos=0x48 "), "{moon:#?}");
    assert!(moon[3].starts_with("tcp tos=0x10 "), "{moon:#?}");
    assert_runs_agree(&runs);
}

/// The backend's current queue length (`qcur` of `show stat`).
fn queued(sock: &std::path::Path, backend: &str) -> usize {
    let text = cli(sock, "show stat\n");
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap_or("").trim_start_matches("# ").split(',').collect();
    let col = header.iter().position(|h| *h == "qcur").expect("a qcur column");
    lines
        .map(|l| l.split(',').collect::<Vec<_>>())
        .find(|v| v.len() > col && v[0] == backend && v[1] == "BACKEND")
        .and_then(|v| v[col].parse().ok())
        .unwrap_or(0)
}

/// A server that notes each request's path, in arrival order, and holds `/hold` until
/// the flag is set: the queue-order tests' server (`maxconn 1` makes the others queue).
fn holding_server() -> (Backend, std::sync::Arc<std::sync::Mutex<Vec<String>>>, std::sync::Arc<std::sync::atomic::AtomicBool>) {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex};
    let order = Arc::new(Mutex::new(Vec::<String>::new()));
    let release = Arc::new(AtomicBool::new(false));
    let (o, r) = (order.clone(), release.clone());
    let server = Backend::custom(move |mut conn, _| {
        let Some(head) = read_request_head(&mut conn) else { return };
        let path = String::from_utf8_lossy(&head).split(' ').nth(1).unwrap_or("").to_string();
        o.lock().unwrap().push(path.clone());
        while path == "/hold" && !r.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = conn.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok");
    });
    (server, order, release)
}

/// `http-request set-priority-class` and `set-priority-offset` (and Lua's
/// `txn:set_priority_class()`): the order in which a server with `maxconn 1` gets the
/// requests that queued while it was busy.
#[test]
fn set_priority_orders_the_queue_as_haproxy() {
    let mut runs = Vec::new();
    for bin in moonproxy_and_haproxy() {
        let (server, order, release) = holding_server();
        let proxy = ProxyBuilder::new(
            "global\n stats socket {{dir}}/cli.sock level admin\n lua-load {{dir}}/prio.lua\n\
             defaults\n mode http\n timeout client 10s\n timeout server 10s\n timeout connect 5s\n timeout queue 10s\n\
             frontend f\n bind 127.0.0.1:{{f}}\n\
              http-request set-priority-class int(5) if { path /low }\n\
              http-request set-priority-class int(-5) if { path /high }\n\
              http-request set-priority-offset int(-5000) if { path /early }\n\
              http-request set-priority-offset int(5000) if { path /late }\n\
              http-request lua.first if { path /lua }\n\
              default_backend b\n\
             backend b\n server s 127.0.0.1:{{be}} maxconn 1\n",
        )
        .bin(&bin)
        .file("prio.lua", "core.register_action('first', { 'http-req' }, function(txn) txn:set_priority_class(-9) end)\n")
        .port("be", server.port())
        .start();
        let sock = proxy.dir().join("cli.sock");
        let wait_for = |what: &dyn Fn() -> bool| {
            let deadline = std::time::Instant::now() + Duration::from_secs(5);
            while !what() {
                assert!(std::time::Instant::now() < deadline, "{}: the requests did not queue", bin.display());
                std::thread::sleep(Duration::from_millis(10));
            }
        };
        let port = proxy.port("f");
        let get = move |path: &'static str| {
            std::thread::spawn(move || {
                let r = Client::connect(port).http_request(format!("GET {path} HTTP/1.1\r\nhost: x\r\n\r\n").as_bytes());
                r.status
            })
        };
        let mut clients = vec![get("/hold")];
        wait_for(&|| order.lock().unwrap().len() == 1);
        // One at a time, each in the queue before the next comes.
        for (n, path) in ["/low", "/mid", "/late", "/high", "/early", "/lua"].into_iter().enumerate() {
            clients.push(get(path));
            wait_for(&|| queued(&sock, "b") == n + 1);
        }
        release.store(true, std::sync::atomic::Ordering::SeqCst);
        let statuses: Vec<u16> = clients.into_iter().map(|c| c.join().unwrap()).collect();
        assert!(statuses.iter().all(|&s| s == 200), "{}: {statuses:?}", bin.display());
        let seen = order.lock().unwrap().clone();
        runs.push((bin, seen));
    }
    assert_eq!(runs[0].1, ["/hold", "/lua", "/high", "/early", "/mid", "/late", "/low"]);
    assert_runs_agree(&runs);
}

/// `tcp-request content set-priority-class|offset` in TCP mode: the same queue order
/// as the HTTP rules give, each client coming through a frontend of its own.
#[test]
fn tcp_request_content_set_priority_orders_the_queue_as_haproxy() {
    let mut runs = Vec::new();
    for bin in moonproxy_and_haproxy() {
        let (server, order, release) = holding_server();
        let frontend = |name: &str, rule: &str| format!("frontend {name}\n bind 127.0.0.1:{{{{{name}}}}}\n {rule}\n default_backend b\n");
        let config = [
            "global\n stats socket {{dir}}/cli.sock level admin\n\
             defaults\n mode tcp\n timeout client 10s\n timeout server 10s\n timeout connect 5s\n timeout queue 10s\n"
                .to_string(),
            frontend("hold", ""),
            frontend("low", "tcp-request content set-priority-class int(5)"),
            frontend("mid", ""),
            frontend("late", "tcp-request content set-priority-offset int(5000)"),
            frontend("high", "tcp-request content set-priority-class int(-5)"),
            frontend("early", "tcp-request content set-priority-offset int(-5000)"),
            "backend b\n server s 127.0.0.1:{{be}} maxconn 1\n".to_string(),
        ]
        .concat();
        let proxy = ProxyBuilder::new(&config).bin(&bin).port("be", server.port()).start();
        let sock = proxy.dir().join("cli.sock");
        let wait_for = |what: &dyn Fn() -> bool| {
            let deadline = std::time::Instant::now() + Duration::from_secs(5);
            while !what() {
                assert!(std::time::Instant::now() < deadline, "{}: the requests did not queue", bin.display());
                std::thread::sleep(Duration::from_millis(10));
            }
        };
        let get = |name: &'static str| {
            let port = proxy.port(name);
            std::thread::spawn(move || Client::connect(port).http_request(format!("GET /{name} HTTP/1.1\r\nhost: x\r\n\r\n").as_bytes()).status)
        };
        let mut clients = vec![get("hold")];
        wait_for(&|| order.lock().unwrap().len() == 1);
        // One at a time, each in the queue before the next comes.
        for (n, name) in ["low", "mid", "late", "high", "early"].into_iter().enumerate() {
            clients.push(get(name));
            wait_for(&|| queued(&sock, "b") == n + 1);
        }
        release.store(true, std::sync::atomic::Ordering::SeqCst);
        let statuses: Vec<u16> = clients.into_iter().map(|c| c.join().unwrap()).collect();
        assert!(statuses.iter().all(|&s| s == 200), "{}: {statuses:?}", bin.display());
        let seen = order.lock().unwrap().clone();
        runs.push((bin, seen));
    }
    assert_eq!(runs[0].1, ["/hold", "/high", "/early", "/mid", "/late", "/low"]);
    assert_runs_agree(&runs);
}

/// `option transparent`: a backend connects to the address the client connected to, as
/// `set-dst` and `set-dst-port` left it (in production, the original destination of a
/// TPROXY-intercepted connection), and logs `<NOSRV>`, servers or not (they take only
/// what persistence sends them); `balance` is refused with it. As in HAProxy 2.6.
#[test]
fn option_transparent_connects_to_the_client_destination_as_haproxy() {
    let at = |port: u16| std::net::SocketAddr::from(([127, 0, 0, 2], port));
    let dest = Backend::start_at(at(0), Behaviour::Http { status: 200, body: b"dest".to_vec() }).expect("listen on 127.0.0.2");
    let server = Backend::http(b"server");
    let mut runs = Vec::new();
    for bin in moonproxy_and_haproxy() {
        let proxy = ProxyBuilder::new(
            "global\n log stdout format raw local0\n\
             defaults\n mode http\n log global\n log-format \"LOG %b/%s %ST\"\n timeout client 5s\n timeout server 5s\n timeout connect 5s\n\
             frontend f\n bind 127.0.0.1:{{f}}\n\
              http-request set-dst str(127.0.0.2)\n\
              http-request set-dst-port int({{dest}})\n\
              use_backend with_servers if { path /servers }\n\
              default_backend transparent\n\
             backend transparent\n option transparent\n\
             backend with_servers\n option transparent\n cookie SRV insert\n server s 127.0.0.1:{{be}} cookie s1\n",
        )
        .bin(&bin)
        .port("dest", dest.port())
        .port("be", server.port())
        .start();
        let mut seen = Vec::new();
        // A persistence cookie naming a server still sends the request there.
        for (path, cookie) in [("/", ""), ("/servers", ""), ("/servers", "cookie: SRV=s1\r\n")] {
            let r = Client::connect(proxy.port("f")).http_request(format!("GET {path} HTTP/1.1\r\nhost: x\r\n{cookie}connection: close\r\n\r\n").as_bytes());
            seen.push(format!("{path} {} {}", r.status, String::from_utf8_lossy(&r.body)));
        }
        let lines = proxy.wait_for_lines(3, |l| l.starts_with("LOG "), DEADLINE);
        seen.extend(lines);
        // `balance` and `option transparent` together are refused.
        let refused = ProxyBuilder::new("defaults\n mode http\n timeout client 5s\n timeout server 5s\n timeout connect 5s\nbackend b\n option transparent\n balance roundrobin\n server s 127.0.0.1:1\n")
            .bin(&bin)
            .flags(["-c"])
            .run();
        seen.push(format!("{:?} {}", refused.code(), refused.stderr.contains("backend 'b' cannot use both transparent and balance mode.")));
        runs.push((bin, seen));
    }
    assert_eq!(
        runs[0].1,
        [
            "/ 200 dest",
            "/servers 200 dest",
            "/servers 200 server",
            "LOG transparent/<NOSRV> 200",
            "LOG with_servers/<NOSRV> 200",
            "LOG with_servers/s 200",
            "Some(1) true"
        ]
    );
    assert_runs_agree(&runs);
}
