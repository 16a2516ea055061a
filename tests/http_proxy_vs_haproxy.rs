//! `mode http` scenarios run on moonproxy and on HAProxy 2.6 with the same
//! configuration: both must answer the same statuses and log the same termination
//! states. (Where moonproxy is deliberately stricter than HAProxy, e.g. Content-Length
//! with Transfer-Encoding, see doc/http.md; those cases are in tests/http_proxy.rs.)

mod common;

use common::*;
use std::io::Write;
use std::net::TcpStream;
use std::path::Path;
use std::time::Duration;

/// `l` in front of the test application, `dead` in front of a refusing port.
fn start(bin: &Path, app: &Backend, dead: &RefusingPort, defaults_extra: &str) -> Proxy {
    ProxyBuilder::new(&format!(
        "global
    log stdout format raw local0
defaults
    mode http
    log global
    log-format \"LOG ts=%ts b=%b\"
    timeout connect 1s
    timeout client 5s
    timeout server 5s
{defaults_extra}
listen l
    bind 127.0.0.1:{{{{fe}}}}
    server s1 127.0.0.1:{{{{be}}}}
listen dead
    bind 127.0.0.1:{{{{dead_fe}}}}
    server s1 127.0.0.1:{{{{dead}}}}
"
    ))
    .bin(bin)
    .port("be", app.port())
    .port("dead", dead.port())
    .free_port("dead_fe")
    .start()
}

fn connect(proxy: &Proxy, name: &str) -> HttpReader<TcpStream> {
    let s = TcpStream::connect(proxy.addr(name)).expect("connect to the proxy");
    s.set_read_timeout(Some(DEADLINE)).unwrap();
    HttpReader::new(s)
}

/// Sends `request`, returns the final status and the next log line's `ts`.
fn exchange(proxy: &Proxy, name: &str, request: &[u8]) -> (u16, String) {
    let mark = proxy.mark();
    let mut c = connect(proxy, name);
    c.get_mut().write_all(request).unwrap();
    let head = c.read_head().unwrap().expect("a response");
    let line = proxy.wait_for_line_after(mark, is_log_line, DEADLINE);
    (head.status(), field(&line, "ts").to_string())
}

/// Runs `scenario` on moonproxy and HAProxy and checks they agree with `expected`.
fn on_both<T: PartialEq + std::fmt::Debug>(defaults_extra: &str, expected: T, scenario: impl Fn(&Proxy, &Backend) -> T) {
    for bin in moonproxy_and_haproxy() {
        let app = http_app();
        let dead = RefusingPort::new();
        let proxy = start(&bin, &app, &dead, defaults_extra);
        assert_eq!(scenario(&proxy, &app), expected, "{}", bin.display());
    }
}

#[test]
fn failures_get_the_same_status_and_termination_state() {
    on_both("    timeout server 300ms\n    timeout http-request 300ms", true, |p, _| {
        assert_eq!(exchange(p, "fe", b"GET /bad HTTP/1.1\r\nHost: t\r\n\r\n"), (502, "PH".into()));
        assert_eq!(exchange(p, "fe", b"GET /close HTTP/1.1\r\nHost: t\r\n\r\n"), (502, "SH".into()));
        assert_eq!(exchange(p, "fe", b"GET /slow HTTP/1.1\r\nHost: t\r\n\r\n"), (504, "sH".into()));
        assert_eq!(exchange(p, "fe", b"GET / HTTP/1.1\r\nHost: t\r\n"), (408, "cR".into()));
        assert_eq!(exchange(p, "dead_fe", b"GET / HTTP/1.1\r\nHost: t\r\n\r\n"), (503, "SC".into()));
        assert_eq!(exchange(p, "fe", b"G(T / HTTP/1.1\r\nHost: t\r\n\r\n"), (400, "PR".into()));
        true
    });
}

#[test]
fn keep_alive_reuses_both_connections_and_logs_each_request() {
    on_both("    timeout http-keep-alive 300ms", (vec![200, 204, 200], 3, 1, 3), |p, app| {
        let mut c = connect(p, "fe");
        let mut statuses = Vec::new();
        for (req, head_only) in [
            (&b"HEAD /a HTTP/1.1\r\nHost: t\r\n\r\n"[..], true),
            (b"GET /204 HTTP/1.1\r\nHost: t\r\n\r\n", false),
            (b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\nok", false),
        ] {
            c.get_mut().write_all(req).unwrap();
            let head = c.read_head().unwrap().unwrap();
            let no_body = head_only || head.status() == 204;
            c.read_body(&head, no_body, |_| {}).unwrap();
            statuses.push(head.status());
        }
        // The client stays idle until timeout http-keep-alive closes it, unlogged.
        assert!(c.read_head().unwrap().is_none());
        std::thread::sleep(Duration::from_millis(100));
        let lines = p.count_lines(is_log_line);
        let normal = p.count_lines(|l| is_log_line(l) && field(l, "ts") == "--");
        (statuses, lines, app.connections(), normal)
    });
}

#[test]
fn interim_and_upgrade_responses_pass_through() {
    on_both("", (100, 200, 101, b"ping".to_vec()), |p, _| {
        let mut c = connect(p, "fe");
        c.get_mut()
            .write_all(b"POST /continue HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n")
            .unwrap();
        let interim = c.read_head().unwrap().unwrap().status();
        c.get_mut().write_all(b"ok").unwrap();
        let head = c.read_head().unwrap().unwrap();
        c.read_body(&head, false, |_| {}).unwrap();
        let mut ws = connect(p, "fe");
        ws.get_mut()
            .write_all(b"GET /ws HTTP/1.1\r\nHost: t\r\nConnection: upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
            .unwrap();
        let switched = ws.read_head().unwrap().unwrap().status();
        ws.get_mut().write_all(b"ping").unwrap();
        let mut echoed = Vec::new();
        while echoed.len() < 4 {
            let piece = ws.read_some(4 - echoed.len()).unwrap();
            assert!(!piece.is_empty(), "closed after {echoed:?}");
            echoed.extend_from_slice(piece);
        }
        (interim, head.status(), switched, echoed)
    });
}

#[test]
fn pipelined_requests_and_server_close_behave_the_same() {
    let expected = (vec![b"abc".to_vec(), b"helloworld".to_vec(), b"path=/third".to_vec()], 3, 3);
    on_both("    option http-server-close", expected, |p, app| {
        let mut c = connect(p, "fe");
        c.get_mut()
            .write_all(
                b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc\
POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n5\r\nworld\r\n0\r\n\r\n\
GET /third HTTP/1.1\r\nHost: t\r\n\r\n",
            )
            .unwrap();
        let mut bodies = Vec::new();
        for _ in 0..3 {
            let head = c.read_head().unwrap().unwrap();
            let mut body = Vec::new();
            c.read_body(&head, false, |b| body.extend_from_slice(b)).unwrap();
            bodies.push(body);
        }
        let lines = p.wait_for_lines(3, is_log_line, DEADLINE).len();
        (bodies, lines, app.connections())
    });
}

/// `http-after-response` rules run on every answer the proxy makes itself — `return`,
/// `deny`, `redirect`, the 503 of a refused server, `http-response deny`'s 502 — the
/// backend's first, as on a server's answer; and a `set-status` there is what the
/// client gets. (They used to run on servers' and Lua services' answers only.)
#[test]
fn after_response_rules_run_on_the_proxys_own_answers() {
    for bin in moonproxy_and_haproxy() {
        let app = http_app();
        let dead = RefusingPort::new();
        let proxy = ProxyBuilder::new(
            "defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{{fe}}
    http-request set-var(txn.p) path
    http-request return status 200 content-type text/plain string hi if { path /ret }
    http-request deny if { path /deny }
    http-request redirect location /x if { path /redir }
    use_backend dead if { path /dead }
    http-response deny if { var(txn.p) -m str /rdeny }
    http-after-response set-header X-After yes
    http-after-response set-status 299 if { status 403 }
    default_backend app
backend app
    server s1 127.0.0.1:{{be}}
backend dead
    http-after-response set-header X-Dead 1
    server s1 127.0.0.1:{{dead}}
",
        )
        .bin(&bin)
        .port("be", app.port())
        .port("dead", dead.port())
        .start();
        let mut got = Vec::new();
        for path in ["/ret", "/deny", "/redir", "/dead", "/rdeny", "/"] {
            let mut c = connect(&proxy, "fe");
            write!(c.get_mut(), "GET {path} HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
            let head = c.read_head().unwrap().expect("a response");
            got.push((path, head.status(), head.header("x-after").map(String::from), head.header("x-dead").map(String::from)));
        }
        let yes = || Some("yes".to_string());
        assert_eq!(
            got,
            vec![
                ("/ret", 200, yes(), None),
                ("/deny", 299, yes(), None),
                ("/redir", 302, yes(), None),
                ("/dead", 503, yes(), Some("1".into())),
                ("/rdeny", 502, yes(), None),
                ("/", 200, yes(), None),
            ],
            "{}",
            bin.display()
        );
    }
}

/// An HTTP/1.0 server's answer to an HTTP/1.1 client on a kept-alive connection says
/// `connection: keep-alive` (the client would assume a close from the 1.0 status line),
/// and the next request on that connection is served.
#[test]
fn an_http10_answer_tells_the_client_the_connection_persists() {
    for bin in moonproxy_and_haproxy() {
        let old = Backend::reply(b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok");
        let proxy = ProxyBuilder::new(
            "defaults\n    mode http\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\nlisten l\n    bind 127.0.0.1:{{fe}}\n    server s1 127.0.0.1:{{be}}\n",
        )
        .bin(&bin)
        .port("be", old.port())
        .start();
        let mut c = connect(&proxy, "fe");
        let mut got = Vec::new();
        for _ in 0..2 {
            c.get_mut().write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
            let head = c.read_head().unwrap().expect("a response on the same connection");
            c.read_body(&head, false, |_| {}).unwrap();
            got.push((head.status(), head.header("connection").map(str::to_ascii_lowercase)));
        }
        let ka = || Some("keep-alive".to_string());
        assert_eq!(got, vec![(200, ka()), (200, ka())], "{}", bin.display());
    }
}

/// An ACL whose fetch cannot run where it is used (`path` in `http-response`: the
/// request headers are gone in HAProxy) sees no sample: false, and true negated —
/// what HAProxy's "will never match" warning means at run time.
#[test]
fn an_acl_unusable_in_its_rule_sees_no_sample() {
    for bin in moonproxy_and_haproxy() {
        let app = http_app();
        let proxy = ProxyBuilder::new(
            "defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
listen l
    bind 127.0.0.1:{{fe}}
    http-response set-header X-Neg y if !{ path /x }
    http-response set-header X-Pos y if { path / }
    http-response set-header X-Found y if { path -m found }
    http-response set-header X-Method y if { method GET }
    server s1 127.0.0.1:{{be}}
",
        )
        .bin(&bin)
        .port("be", app.port())
        .start();
        let mut c = connect(&proxy, "fe");
        c.get_mut().write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
        let head = c.read_head().unwrap().expect("a response");
        let got: Vec<bool> = ["x-neg", "x-pos", "x-found", "x-method"].iter().map(|h| head.header(h).is_some()).collect();
        assert_eq!(got, [true, false, false, true], "{}", bin.display());
    }
}

/// `ssl_fc` on a plain connection: false, as a sample and as an ACL.
#[test]
fn ssl_fc_is_false_on_a_plain_connection() {
    for bin in moonproxy_and_haproxy() {
        let proxy = ProxyBuilder::new(
            "defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{{fe}}
    http-request return status 200 hdr x-ssl %[ssl_fc] if !{ ssl_fc }
    http-request return status 500
",
        )
        .bin(&bin)
        .start();
        let mut c = connect(&proxy, "fe");
        c.get_mut().write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
        let head = c.read_head().unwrap().expect("a response");
        assert_eq!((head.status(), head.header("x-ssl")), (200, Some("0")), "{}", bin.display());
    }
}

/// `set-log-level`: `silent` drops the transaction's line, another level changes the
/// level it is sent at (here above the target's `err` minimum, so it appears); a
/// `monitor-uri` probe is answered before the rules and not logged; `monitor fail`
/// turns it into a 503. (set-log-level was parsed but not applied.)
#[test]
fn log_levels_and_monitor_probes_log_as_haproxy_does() {
    for bin in moonproxy_and_haproxy() {
        let proxy = ProxyBuilder::new(
            "global
    log stdout format raw local0 err
defaults
    mode http
    log global
    log-format \"LOG %HU %ST\"
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{{fe}}
    monitor-uri /health
    monitor fail if { req.hdr(x-fail) yes }
    http-request set-log-level silent if { path /quiet }
    http-request set-log-level err if { path_beg /loud }
    http-request deny
",
        )
        .bin(&bin)
        .start();
        let name = bin.display().to_string();
        let mut statuses = Vec::new();
        for (path, extra) in [("/health", ""), ("/health", "x-fail: yes\r\n"), ("/quiet", ""), ("/plain", ""), ("/loud1", ""), ("/loud2", "")] {
            let mut c = connect(&proxy, "fe");
            write!(c.get_mut(), "GET {path} HTTP/1.1\r\nHost: t\r\n{extra}\r\n").unwrap();
            statuses.push(c.read_head().unwrap().expect("a response").status());
        }
        assert_eq!(statuses, [200, 503, 403, 403, 403, 403], "{name}");
        // Lines arrive in order: once /loud2's is there, the others would have been too.
        proxy.wait_for_line(|l| l == "LOG /loud2 403", DEADLINE);
        let logged: Vec<String> = proxy.lines().into_iter().map(|l| l.text).filter(|l| is_log_line(l)).collect();
        assert_eq!(logged, ["LOG /loud1 403", "LOG /loud2 403"], "{name}");
    }
}

/// The body of the answer to `GET path` with the extra header lines `hdrs` (each ending
/// in CRLF), on a new connection to `fe`: the backends of the tests below answer their
/// name.
fn body_of(proxy: &Proxy, path: &str, hdrs: &str) -> String {
    let mut c = connect(proxy, "fe");
    write!(c.get_mut(), "GET {path} HTTP/1.1\r\nHost: t\r\n{hdrs}\r\n").unwrap();
    let head = c.read_head().unwrap().expect("a response");
    let mut body = Vec::new();
    c.read_body(&head, false, |b| body.extend_from_slice(b)).unwrap();
    String::from_utf8_lossy(&body).into_owned()
}

/// `use-server`: the first rule whose condition holds picks its server before load
/// balancing; a server in maintenance is skipped (the next rule, then the balancing);
/// HAProxy's parse errors. (It was refused as not supported.)
#[test]
fn use_server_rules_pick_the_server_as_haproxy_does() {
    for bin in moonproxy_and_haproxy() {
        let (one, two, three) = (Backend::http(b"one"), Backend::http(b"two"), Backend::http(b"three"));
        let proxy = ProxyBuilder::new(
            "defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{{fe}}
    default_backend b
backend b
    balance roundrobin
    use-server s3 if { path_beg /three }
    use-server s2 if { path_beg /two } || { path_beg /three }
    use-server s1 if { hdr(x-srv) one }
    server s1 127.0.0.1:{{one}}
    server s2 127.0.0.1:{{two}}
    server s3 127.0.0.1:{{three}} disabled
",
        )
        .bin(&bin)
        .port("one", one.port())
        .port("two", two.port())
        .port("three", three.port())
        .start();
        let ask = |path: &str, hdr: &str| body_of(&proxy, path, hdr);
        let name = bin.display().to_string();
        for _ in 0..3 {
            assert_eq!(ask("/two", ""), "two", "{name}");
            assert_eq!(ask("/x", "x-srv: one\r\n"), "one", "{name}");
        }
        // s3 is in maintenance: its rule is skipped, the next one matches.
        assert_eq!(ask("/three", ""), "two", "{name}");
        // No rule: round robin over s1 and s2.
        let mut seen: Vec<String> = (0..4).map(|_| ask("/x", "")).collect();
        seen.sort();
        assert_eq!(seen, ["one", "one", "two", "two"], "{name}");
    }
}

/// `force-persist`: a cookie naming a server in maintenance reaches it when the
/// condition holds (else the request is balanced); `ignore-persist`: the cookie is not
/// followed when the condition holds. (Both were refused as not supported.)
#[test]
fn force_and_ignore_persist_as_haproxy() {
    for bin in moonproxy_and_haproxy() {
        let (one, two, three) = (Backend::http(b"one"), Backend::http(b"two"), Backend::http(b"three"));
        let proxy = ProxyBuilder::new(
            "defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{{fe}}
    default_backend b
backend b
    balance roundrobin
    cookie SRV insert indirect nocache
    force-persist if { hdr(x-force) yes }
    ignore-persist if { hdr(x-ignore) yes }
    server s1 127.0.0.1:{{one}} cookie a disabled
    server s2 127.0.0.1:{{two}} cookie b
    server s3 127.0.0.1:{{three}} cookie c
",
        )
        .bin(&bin)
        .port("one", one.port())
        .port("two", two.port())
        .port("three", three.port())
        .start();
        let ask = |hdrs: &str| body_of(&proxy, "/", hdrs);
        let name = bin.display().to_string();
        assert_eq!(ask("Cookie: SRV=a\r\nx-force: yes\r\n"), "one", "{name}: forced to the server in maintenance");
        assert_ne!(ask("Cookie: SRV=a\r\n"), "one", "{name}: not forced");
        for _ in 0..3 {
            assert_eq!(ask("Cookie: SRV=b\r\n"), "two", "{name}: the cookie is followed");
        }
        let mut seen: Vec<String> = (0..4).map(|_| ask("Cookie: SRV=b\r\nx-ignore: yes\r\n")).collect();
        seen.sort();
        seen.dedup();
        assert_eq!(seen, ["three", "two"], "{name}: ignored, balanced over s2 and s3");
    }
}
