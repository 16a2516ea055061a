//! HTTP health checks (`option httpchk`, `http-check send/expect`): the request a server
//! receives, the UP/DOWN transitions and HAProxy's log lines, and the configuration
//! errors. Scenarios run on moonproxy and, when installed, on HAProxy 2.6 with the
//! same expectations, so the wording is HAProxy's by construction.

mod common;

use common::*;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, Mutex};

/// A check target: answers each connection's request with the current `response`
/// (changeable while running) and records the requests it received.
#[derive(Clone, Default)]
struct CheckServer {
    response: Arc<Mutex<Vec<u8>>>,
    requests: Arc<Mutex<Vec<Vec<u8>>>>,
}

impl CheckServer {
    fn new(response: &str) -> (CheckServer, Backend) {
        let server = CheckServer::default();
        server.set(response);
        let s = server.clone();
        let backend = Backend::custom(move |stream, _stats| s.serve(stream));
        (server, backend)
    }

    fn set(&self, response: &str) {
        *self.response.lock().unwrap() = response.as_bytes().to_vec();
    }

    /// Reads the head and a `content-length` body, then answers and closes. A peer
    /// that closes first (a TCP check) is recorded with what it sent, if anything.
    fn serve(&self, mut stream: TcpStream) {
        stream.set_read_timeout(Some(DEADLINE)).unwrap();
        let mut req = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            let n = stream.read(&mut buf).unwrap_or(0);
            if n == 0 {
                self.requests.lock().unwrap().push(req);
                return;
            }
            req.extend_from_slice(&buf[..n]);
            let Some(end) = req.windows(4).position(|w| w == b"\r\n\r\n") else { continue };
            let head = String::from_utf8_lossy(&req[..end]).to_ascii_lowercase();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .map_or(0, |v| v.trim().parse().unwrap());
            if req.len() >= end + 4 + len {
                break;
            }
        }
        self.requests.lock().unwrap().push(req);
        let response = self.response.lock().unwrap().clone();
        let _ = stream.write_all(&response);
    }

    fn last_request(&self) -> String {
        let requests = self.requests.lock().unwrap();
        String::from_utf8_lossy(requests.last().expect("a check request")).into_owned()
    }
}

const OK: &str = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nready";
const UNAVAILABLE: &str = "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n";
const GARBAGE: &str = "this is not HTTP\r\n\r\n";

/// A `listen l` on `{{fe}}` whose servers are checked every 100 ms, logging to stdout.
/// `timeout check 5s`: a response may take longer than `inter` on a loaded machine
/// (the connection itself is still bounded by `inter`).
fn config(checks: &str, servers: &str) -> String {
    format!(
        "global
    log stdout format raw local0
defaults
    mode http
    log global
    timeout connect 1s
    timeout client 5s
    timeout server 5s
    timeout check 5s
listen l
    bind 127.0.0.1:{{{{fe}}}}
{checks}
{servers}
"
    )
}

/// The line with its `check duration: Nms` (timing) replaced by `check duration: Xms`.
fn without_duration(line: &str) -> String {
    match line.find("check duration: ") {
        Some(at) => {
            let rest = &line[at + 16..];
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            format!("{}check duration: X{}", &line[..at], &rest[digits..])
        }
        None => line.to_string(),
    }
}

#[test]
fn status_garbage_and_refused_give_haproxys_down_lines() {
    for bin in moonproxy_and_haproxy() {
        let (ok, ok_be) = CheckServer::new(OK);
        let (_, bad_be) = CheckServer::new(UNAVAILABLE);
        let (_, garbage_be) = CheckServer::new(GARBAGE);
        let dead = RefusingPort::new();
        let proxy = ProxyBuilder::new(&config(
            "    option httpchk",
            "    server ok 127.0.0.1:{{ok}} check inter 100ms
    server bad 127.0.0.1:{{bad}} check inter 100ms
    server garbage 127.0.0.1:{{garbage}} check inter 100ms
    server dead 127.0.0.1:{{dead}} check inter 100ms",
        ))
        .bin(&bin)
        .port("ok", ok_be.port())
        .port("bad", bad_be.port())
        .port("garbage", garbage_be.port())
        .port("dead", dead.port())
        .start();
        let down = |name: &str| {
            let line = proxy.wait_for_line(|l| l.starts_with(&format!("Server l/{name} is DOWN")), DEADLINE);
            let line = without_duration(&line);
            line.split(". ").next().unwrap().to_string()
        };
        assert_eq!(
            down("bad"),
            "Server l/bad is DOWN, reason: Layer7 wrong status, code: 503, info: \"Service Unavailable\", check duration: Xms",
            "{}",
            bin.display()
        );
        assert_eq!(down("garbage"), "Server l/garbage is DOWN, reason: Layer7 invalid response, check duration: Xms");
        assert_eq!(
            down("dead"),
            "Server l/dead is DOWN, reason: Layer4 connection problem, info: \"Connection refused\", check duration: Xms"
        );
        // The default request, and the healthy server stays up.
        assert!(wait_until(DEADLINE, || ok.requests.lock().unwrap().len() >= 2));
        assert_eq!(ok.last_request(), "OPTIONS / HTTP/1.0\r\n\r\n", "{}", bin.display());
        assert_eq!(proxy.count_lines(|l| l.contains("Server l/ok is")), 0, "{}", bin.display());
    }
}

#[test]
fn a_changing_status_takes_the_server_down_and_back_up() {
    for bin in moonproxy_and_haproxy() {
        let (flip, flip_be) = CheckServer::new(OK);
        let proxy = ProxyBuilder::new(&config(
            "    option httpchk GET /health",
            "    server flip 127.0.0.1:{{flip}} check inter 100ms rise 2 fall 2",
        ))
        .bin(&bin)
        .port("flip", flip_be.port())
        .start();
        assert!(wait_until(DEADLINE, || flip.requests.lock().unwrap().len() >= 2));
        assert_eq!(flip.last_request(), "GET /health HTTP/1.0\r\n\r\n");
        flip.set(UNAVAILABLE);
        let down = proxy.wait_for_line(|l| l.starts_with("Server l/flip is DOWN"), DEADLINE);
        assert!(
            without_duration(&down).starts_with(
                "Server l/flip is DOWN, reason: Layer7 wrong status, code: 503, info: \"Service Unavailable\", check duration: Xms. 0 active and 0 backup servers left."
            ),
            "{}: {down}",
            bin.display()
        );
        flip.set(OK);
        let up = proxy.wait_for_line(|l| l.starts_with("Server l/flip is UP"), DEADLINE);
        assert_eq!(
            without_duration(&up),
            "Server l/flip is UP, reason: Layer7 check passed, code: 200, check duration: Xms. 1 active and 0 backup servers online. 0 sessions requeued, 0 total in queue.",
            "{}",
            bin.display()
        );
    }
}

#[test]
fn send_builds_the_request_and_expect_rules_judge_the_response() {
    for bin in moonproxy_and_haproxy() {
        let (ready, ready_be) = CheckServer::new(OK);
        let (starting, starting_be) =
            CheckServer::new("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n8\r\nstarting\r\n0\r\n\r\n");
        let proxy = ProxyBuilder::new(&config(
            "    option httpchk
    option log-health-checks
    http-check send meth POST uri /health ver HTTP/1.1 hdr Host example.org hdr X-Check yes body ping
    http-check expect status 200-299
    http-check expect rstring ^re.dy$",
            "    server ready 127.0.0.1:{{ready}} check inter 100ms
    server starting 127.0.0.1:{{starting}} check inter 100ms",
        ))
        .bin(&bin)
        .port("ready", ready_be.port())
        .port("starting", starting_be.port())
        .start();
        let failed = proxy.wait_for_line(|l| l.starts_with("Health check for server l/starting failed"), DEADLINE);
        assert_eq!(
            without_duration(&failed),
            "Health check for server l/starting failed, reason: Layer7 invalid response, info: \"HTTP content check did not match\", check duration: Xms, status: 0/2 DOWN.",
            "{}",
            bin.display()
        );
        assert_eq!(
            starting.last_request(),
            "POST /health HTTP/1.1\r\nhost: example.org\r\nx-check: yes\r\ncontent-length: 4\r\nconnection: close\r\n\r\nping",
            "{}",
            bin.display()
        );
        assert!(wait_until(DEADLINE, || ready.requests.lock().unwrap().len() >= 3));
        assert_eq!(proxy.count_lines(|l| l.contains("server l/ready failed") || l.contains("Server l/ready is DOWN")), 0);
    }
}

#[test]
fn negated_expects_and_the_legacy_header_form() {
    for bin in moonproxy_and_haproxy() {
        let (s, be) = CheckServer::new(OK);
        let (_, bad_be) = CheckServer::new(UNAVAILABLE);
        let proxy = ProxyBuilder::new(&config(
            "    option httpchk GET /x HTTP/1.1\\r\\nHost:\\ legacy.example
    http-check expect ! string ready",
            "    server s 127.0.0.1:{{s}} check inter 100ms
    server b 127.0.0.1:{{b}} check inter 100ms",
        ))
        .bin(&bin)
        .port("s", be.port())
        .port("b", bad_be.port())
        .start();
        let down = proxy.wait_for_line(|l| l.starts_with("Server l/s is DOWN"), DEADLINE);
        assert!(
            without_duration(&down).starts_with(
                "Server l/s is DOWN, reason: Layer7 invalid response, info: \"HTTP check matched unwanted content\", check duration: Xms."
            ),
            "{}: {down}",
            bin.display()
        );
        // An empty body cannot hold the string, whatever the status.
        let down = proxy.wait_for_line(|l| l.starts_with("Server l/b is DOWN"), DEADLINE);
        assert!(
            without_duration(&down).starts_with(
                "Server l/b is DOWN, reason: Layer7 invalid response, info: \"HTTP content check could not find a response body\", check duration: Xms."
            ),
            "{}: {down}",
            bin.display()
        );
        assert_eq!(s.last_request(), "GET /x HTTP/1.1\r\nhost: legacy.example\r\nconnection: close\r\n\r\n");
        proxy.wait_for_line(|l| l.contains("hiding headers or body at the end of the version string is deprecated"), DEADLINE);
    }
}

#[test]
fn a_silent_server_is_a_layer7_timeout() {
    let silent = Backend::silent();
    let proxy = ProxyBuilder::new(&config(
        "    option httpchk\n    timeout check 200ms",
        "    server s 127.0.0.1:{{s}} check inter 100ms",
    ))
    .port("s", silent.port())
    .start();
    let down = proxy.wait_for_line(|l| l.starts_with("Server l/s is DOWN"), DEADLINE);
    assert!(without_duration(&down).starts_with("Server l/s is DOWN, reason: Layer7 timeout, check duration: Xms."), "{down}");
    // The response timeout is `timeout check`, counted once connected.
    let ms: u64 = down.split("check duration: ").nth(1).unwrap().split("ms").next().unwrap().parse().unwrap();
    assert!(ms >= 200, "{down}");
}

#[test]
fn http_check_connect_port_probes_another_port() {
    let (s, be) = CheckServer::new(OK);
    let dead = RefusingPort::new();
    let proxy = ProxyBuilder::new(&config(
        "    option httpchk\n    option log-health-checks\n    http-check connect port {{s}}",
        "    server s 127.0.0.1:{{dead}} check inter 100ms",
    ))
    .port("s", be.port())
    .port("dead", dead.port())
    .start();
    assert!(wait_until(DEADLINE, || s.requests.lock().unwrap().len() >= 3));
    let bad: Vec<String> = proxy
        .lines()
        .into_iter()
        .map(|l| l.text)
        .filter(|l| l.contains("Server l/s is DOWN") || l.contains("failed"))
        .collect();
    assert!(bad.is_empty(), "{bad:?}");
}

/// The alert for one bad line in a backend with `option httpchk`, as `-c` prints it,
/// from "parsing [file:line] : " on.
fn alert_for(bin: &std::path::Path, line: &str) -> String {
    let cfg = format!(
        "defaults\n  mode http\n  timeout connect 1s\n  timeout client 1s\n  timeout server 1s\nbackend b\n  option httpchk\n  {line}\n  server s 127.0.0.1:80 check\n"
    );
    let out = ProxyBuilder::new(&cfg).bin(bin).flags(["-c"]).run();
    assert_ne!(out.code(), Some(0), "{} accepted `{line}`", bin.display());
    let alert = out.stderr.lines().find(|l| l.contains(":8]")).unwrap_or_else(|| panic!("no alert for `{line}`: {}", out.stderr));
    let at = alert.find(":8]").unwrap() + 3;
    alert[at..].trim_start_matches([' ', ':']).trim().to_string()
}

#[test]
fn config_errors_are_haproxys() {
    let bad = [
        "http-check expect",
        "http-check expect status",
        "http-check expect status abc",
        "http-check expect foo bar",
        "http-check expect status 200 extra",
        "http-check send meth",
        "http-check send hdr X-Only-Name",
        "http-check send foo",
        "http-check frobnicate",
        "http-check disable-on-404 now",
        "http-check connect port",
        "http-check connect port 99999",
        "option httpchk GET / HTTP/1.1 extra",
        "no option httpchk",
        "http-check expect string",
        "http-check expect status 200 comment",
    ];
    let moon = moonproxy_bin();
    let haproxy = haproxy_bin();
    for line in bad {
        let ours = alert_for(&moon, line);
        assert!(!ours.is_empty(), "{line}");
        if let Some(h) = &haproxy {
            assert_eq!(ours, alert_for(h, line), "`{line}`");
        }
    }
    // What HAProxy has and moonproxy does not is refused, never ignored.
    for line in ["http-check send-state", "http-check expect status 200 ok-status L7OK", "http-check send uri-lf /%[str(x)]"] {
        assert!(alert_for(&moon, line).ends_with("is not supported by moonproxy yet."), "{line}");
    }
    // A bad regex is refused too (the reason comes from our regex engine).
    assert!(alert_for(&moon, "http-check expect rstring (").contains("regex '(' is invalid"));
}

#[test]
fn disable_on_404_stops_an_up_server_and_a_200_brings_it_back() {
    const NOT_FOUND: &str = "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";
    for bin in moonproxy_and_haproxy() {
        let (s, be) = CheckServer::new(OK);
        let (_, other_be) = CheckServer::new(OK);
        let proxy = ProxyBuilder::new(&config(
            "    option httpchk\n    http-check disable-on-404",
            "    server s 127.0.0.1:{{s}} check inter 100ms rise 2 fall 2
    server other 127.0.0.1:{{other}} check inter 100ms",
        ))
        .bin(&bin)
        .port("s", be.port())
        .port("other", other_be.port())
        .start();
        assert!(wait_until(DEADLINE, || s.requests.lock().unwrap().len() >= 2));
        s.set(NOT_FOUND);
        let stopping = proxy.wait_for_line(|l| l.starts_with("Server l/s is stopping"), DEADLINE);
        assert_eq!(
            without_duration(&stopping),
            "Server l/s is stopping, reason: Layer7 check conditionally passed, code: 404, check duration: Xms. 1 active and 0 backup servers online. 0 sessions requeued, 0 total in queue.",
            "{}",
            bin.display()
        );
        let mark = proxy.mark();
        s.set(OK);
        let up = proxy.wait_for_line_after(mark, |l| l.starts_with("Server l/s is UP"), DEADLINE);
        assert!(without_duration(&up).starts_with("Server l/s is UP, reason: Layer7 check passed, code: 200, check duration: Xms. 2 active"), "{up}");
        // A DOWN server answering 404 stays DOWN: the expect rules judge it.
        s.set(UNAVAILABLE);
        proxy.wait_for_line(|l| l.starts_with("Server l/s is DOWN"), DEADLINE);
        let mark = proxy.mark();
        s.set(NOT_FOUND);
        let n = s.requests.lock().unwrap().len();
        assert!(wait_until(DEADLINE, || s.requests.lock().unwrap().len() >= n + 4));
        assert_eq!(
            proxy.lines()[mark..].iter().filter(|l| l.text.starts_with("Server l/s is")).count(),
            0,
            "{}",
            bin.display()
        );
    }
}

#[test]
fn a_check_reads_at_most_one_buffer_of_the_response() {
    for bin in moonproxy_and_haproxy() {
        let body = format!("{}tail", "a".repeat(4000));
        let big = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}", body.len());
        let (_, be) = CheckServer::new(&big);
        let cfg = config(
            "    option httpchk\n    http-check expect string tail",
            "    server s 127.0.0.1:{{s}} check inter 100ms",
        )
        .replace("log stdout format raw local0", "log stdout format raw local0\n    tune.bufsize 2048");
        let proxy = ProxyBuilder::new(&cfg).bin(&bin).port("s", be.port()).start();
        let down = proxy.wait_for_line(|l| l.starts_with("Server l/s is DOWN"), DEADLINE);
        assert!(
            without_duration(&down)
                .starts_with("Server l/s is DOWN, reason: Layer7 invalid response, info: \"HTTP content check did not match\""),
            "{}: {down}",
            bin.display()
        );
    }
}

/// `option httpchk` and the `http-check` rules of `defaults` are one rule set, inherited
/// only by a backend that has no rule of its own; rules without `option httpchk` are
/// ignored with a warning.
#[test]
fn defaults_rules_are_inherited_only_without_rules_of_ones_own() {
    for bin in moonproxy_and_haproxy() {
        let servers: Vec<(CheckServer, Backend)> = (0..4).map(|_| CheckServer::new(OK)).collect();
        let cfg = "global
    log stdout format raw local0
defaults
    mode http
    log global
    timeout connect 1s
    timeout client 5s
    timeout server 5s
    timeout check 5s
    option httpchk GET /from-defaults
    http-check expect string not-in-the-body
listen l
    bind 127.0.0.1:{{fe}}
    server inherits 127.0.0.1:{{s0}} check inter 100ms
backend own_send
    http-check send hdr X-Own 1
    server s 127.0.0.1:{{s1}} check inter 100ms
backend own_option
    option httpchk GET /own
    server s 127.0.0.1:{{s2}} check inter 100ms
defaults
    mode http
    log global
    timeout connect 1s
    timeout client 5s
    timeout server 5s
backend no_option
    http-check send meth GET uri /ignored
    server s 127.0.0.1:{{s3}} check inter 100ms
";
        let mut builder = ProxyBuilder::new(cfg).bin(&bin);
        for (i, (_, be)) in servers.iter().enumerate() {
            builder = builder.port(&format!("s{i}"), be.port());
        }
        let proxy = builder.start();
        let down = proxy.wait_for_line(|l| l.starts_with("Server l/inherits is DOWN"), DEADLINE);
        assert!(down.contains("info: \"HTTP content check did not match\""), "{}: {down}", bin.display());
        proxy.wait_for_line(
            |l| l.contains("config : backend 'no_option' uses http-check rules without 'option httpchk', so the rules are ignored."),
            DEADLINE,
        );
        for (s, _) in &servers[1..3] {
            assert!(wait_until(DEADLINE, || s.requests.lock().unwrap().len() >= 2), "{}", bin.display());
        }
        assert_eq!(servers[0].0.last_request(), "GET /from-defaults HTTP/1.0\r\n\r\n");
        assert_eq!(servers[1].0.last_request(), "OPTIONS / HTTP/1.0\r\nx-own: 1\r\n\r\n", "{}", bin.display());
        assert_eq!(servers[2].0.last_request(), "GET /own HTTP/1.0\r\n\r\n");
        // A TCP check: no request. (HAProxy resets its TCP checks before the server's
        // accept returns them, so the server may see nothing at all.)
        assert!(servers[3].0.requests.lock().unwrap().iter().all(Vec::is_empty), "{}", bin.display());
        for name in ["own_send", "own_option", "no_option"] {
            assert_eq!(proxy.count_lines(|l| l.contains(&format!("Server {name}/s is DOWN"))), 0, "{}", bin.display());
        }
    }
}

#[test]
fn a_server_without_port_needs_a_check_port() {
    let cfg = |extra: &str| {
        format!(
            "defaults\n  mode http\n  timeout connect 1s\n  timeout client 1s\n  timeout server 1s\nbackend b\n  option httpchk\n{extra}  server s 127.0.0.1 check\n"
        )
    };
    let moon = moonproxy_bin();
    let alert_of = |bin: &std::path::Path, extra: &str| {
        let out = ProxyBuilder::new(&cfg(extra)).bin(bin).flags(["-c"]).run();
        let alert = out.stderr.lines().find(|l| l.contains("[ALERT]") && !l.contains("Fatal errors")).map(|l| {
            l[l.find(" : ").expect("alert prefix") + 3..].to_string()
        });
        (out.code(), alert)
    };
    let (code, alert) = alert_of(&moon, "");
    assert_eq!(code, Some(1));
    assert_eq!(
        alert.as_deref(),
        Some("config : config: backend 'b': server 's' has neither service port nor check port nor tcp_check rule 'connect' with port information.")
    );
    if let Some(h) = haproxy_bin() {
        assert_eq!(alert_of(&h, ""), (code, alert));
    }
    // `http-check connect port` gives the check its port.
    assert_eq!(alert_of(&moon, "  http-check connect port 8080\n"), (Some(2), None));
}
