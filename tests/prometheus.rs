//! `http-request use-service prometheus-exporter`: compared with HAProxy 2.6's
//! exporter on the same configuration after the same traffic (the same series, in the
//! same order, with the same `# HELP`/`# TYPE` lines, and the same values for the
//! deterministic ones), then the query string (`scope`, `no-maint`), `HEAD`, and the
//! log's `<PROMEX>` server name.

mod common;

use common::*;
use std::path::Path;
use std::time::Duration;

/// The samples of an exposition, in order: (series, value), the series being the
/// metric name with its labels.
fn samples(body: &[u8]) -> Vec<(String, String)> {
    let text = String::from_utf8(body.to_vec()).expect("UTF-8 metrics");
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| {
            let (series, value) = l.rsplit_once(' ').unwrap_or_else(|| panic!("a sample line: {l}"));
            (series.to_string(), value.to_string())
        })
        .collect()
}

/// The `# HELP` and `# TYPE` lines.
fn comments(body: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(body).lines().filter(|l| l.starts_with('#')).map(str::to_string).collect()
}

/// The configuration both proxies run. The exporter has its own frontend so that
/// polling it does not change the counters compared. No `log` line: the counters must
/// not depend on logging.
fn config() -> String {
    "global
    maxconn 500
defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend prom
    bind 127.0.0.1:{{prom}}
    log stdout format raw local0
    log-format \"PROM %b/%s %ST\"
    http-request use-service prometheus-exporter if { path_beg /metrics }
frontend fe
    bind 127.0.0.1:{{fe}}
    http-request deny if { path /deny }
    default_backend be
backend be
    http-response deny if { status 204 }
    server a 127.0.0.1:{{be}} weight 3
    server b 127.0.0.1:{{be}} backup
    server c 127.0.0.1:{{be}} disabled
    server e 127.0.0.1:{{be}} check inter 100ms weight 0
backend bd
    server d 127.0.0.1:{{dead}} check inter 100ms
backend empty
listen t
    mode tcp
    bind 127.0.0.1:{{t}}
    server s1 127.0.0.1:{{be}}
"
    .to_string()
}

/// The metrics whose values are deterministic after the traffic below (the others:
/// times, rates, ages, byte counts, limits derived from the machine, idle connections).
const DETERMINISTIC: &[&str] = &[
    "current_queue", "max_queue", "sessions_total", "requests_denied_total", "responses_denied_total",
    "request_errors_total", "connection_errors_total", "response_errors_total", "retry_warnings_total",
    "redispatch_warnings_total", "status", "weight", "active_servers", "backup_servers", "check_up_down_total",
    "loadbalanced_total", "http_responses_total", "http_requests_total", "client_aborts_total",
    "server_aborts_total", "connections_total", "intercepted_requests_total", "denied_connections_total",
    "denied_sessions_total", "failed_header_rewriting_total", "connection_attempts_total", "uweight",
    "agg_server_status", "agg_server_check_status", "agg_check_status", "check_status", "check_code",
    "limit_session_rate", "queue_limit", "current_throttle", "http_comp_bytes_in_total", "nbproc",
    "relative_process_id", "stopping", "max_connections", "hard_max_connections",
];

fn deterministic(series: &str) -> bool {
    let name = series.split('{').next().unwrap_or(series);
    let suffix = ["haproxy_process_", "haproxy_frontend_", "haproxy_backend_", "haproxy_server_"]
        .iter()
        .find_map(|p| name.strip_prefix(p))
        .unwrap_or(name);
    // The exporter's own frontend counts its polls, and so do the process totals.
    DETERMINISTIC.contains(&suffix) && !series.contains("proxy=\"prom\"") && !name.starts_with("haproxy_process_connections")
}

/// Runs the same traffic on `bin` and returns the exporter's full answer.
fn traffic_and_metrics(bin: &Path, app: &Backend) -> Vec<u8> {
    let dead = RefusingPort::new();
    let proxy = ProxyBuilder::new(&config()).bin(bin).port("be", app.port()).port("dead", dead.port()).start();
    let (prom, fe, t) = (proxy.port("prom"), proxy.port("fe"), proxy.port("t"));
    // Server `e`'s first check has passed, and `d` is down after its third failure.
    assert!(
        wait_until(DEADLINE, || {
            let s = samples(&get_closing(prom, "/metrics?scope=server").body);
            let has = |k: &str| s.iter().any(|(series, v)| series == k && v == "1");
            has("haproxy_server_check_status{proxy=\"be\",server=\"e\",state=\"L4OK\"}")
                && has("haproxy_server_status{proxy=\"bd\",server=\"d\",state=\"DOWN\"}")
        }),
        "{}: the checks of servers e and d did not conclude",
        bin.display()
    );
    for _ in 0..3 {
        assert_eq!(get_closing(fe, "/hello").status, 200);
    }
    assert_eq!(get_closing(fe, "/deny").status, 403);
    assert_eq!(get_closing(fe, "/204").status, 502);
    assert_eq!(get_closing(fe, "/bad").status, 502);
    let mut c = Client::connect(fe);
    assert_eq!(c.http_request(b"G(T / HTTP/1.1\r\nHost: t\r\n\r\n").status, 400);
    let mut c = Client::connect(t);
    assert_eq!(c.http_request(b"GET /tcp HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").status, 200);
    drop(c);
    // Every stream above has ended.
    assert!(wait_until(DEADLINE, || {
        let s = samples(&get_closing(prom, "/metrics?scope=frontend").body);
        s.iter().filter(|(k, _)| k.starts_with("haproxy_frontend_current_sessions{")).all(|(k, v)| v == "0" || k.contains("\"prom\""))
    }));
    std::thread::sleep(Duration::from_millis(100));
    get_closing(prom, "/metrics").body
}

/// Same series in the same order, same comments, same deterministic values.
#[test]
fn metrics_match_haproxy() {
    let app = http_app();
    let mut results = Vec::new();
    for bin in moonproxy_and_haproxy() {
        results.push((bin.display().to_string(), traffic_and_metrics(&bin, &app)));
    }
    let ours = samples(&results[0].1);
    let get = |k: &str| ours.iter().find(|(s, _)| s == k).map(|(_, v)| v.as_str());
    // Without HAProxy to compare with, the figures the traffic gives.
    assert_eq!(get("haproxy_frontend_http_requests_total{proxy=\"fe\"}"), Some("7"));
    assert_eq!(get("haproxy_frontend_requests_denied_total{proxy=\"fe\"}"), Some("1"));
    assert_eq!(get("haproxy_frontend_request_errors_total{proxy=\"fe\"}"), Some("1"));
    assert_eq!(get("haproxy_server_http_responses_total{proxy=\"be\",server=\"a\",code=\"2xx\"}"), Some("4"));
    assert_eq!(get("haproxy_server_status{proxy=\"be\",server=\"c\",state=\"MAINT\"}"), Some("1"));
    assert_eq!(get("haproxy_backend_agg_check_status{proxy=\"bd\",state=\"L4CON\"}"), Some("1"));
    assert!(ours.iter().all(|(s, _)| !s.contains("proxy=\"empty\"") || !s.contains("agg_")), "no aggregate of a backend without servers");
    assert!(!ours.iter().any(|(s, _)| s.starts_with("haproxy_frontend_http_requests_total{proxy=\"t\"")), "no HTTP metric for a TCP proxy");
    assert!(ours.iter().any(|(s, _)| s.starts_with("haproxy_process_build_info{version=")));
    if let Some((hname, theirs)) = results.get(1) {
        assert_eq!(comments(&results[0].1), comments(theirs), "the HELP and TYPE lines");
        let theirs = samples(theirs);
        let keys = |s: &[(String, String)]| s.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>();
        let build = |k: &String| !k.starts_with("haproxy_process_build_info");
        assert_eq!(
            keys(&ours).into_iter().filter(build).collect::<Vec<_>>(),
            keys(&theirs).into_iter().filter(build).collect::<Vec<_>>(),
            "the series and their order"
        );
        let diffs: Vec<String> = ours
            .iter()
            .zip(&theirs)
            .filter(|((k, a), (_, b))| deterministic(k) && a != b)
            .map(|((k, a), (_, b))| format!("{k}: moonproxy {a}, {hname} {b}"))
            .collect();
        assert!(diffs.is_empty(), "differences:\n{}", diffs.join("\n"));
    }
}

/// `scope`, `no-maint`, an unknown scope, `HEAD`, the answer's head and its log line.
#[test]
fn scopes_head_and_log() {
    let app = http_app();
    let proxy = ProxyBuilder::new(&config()).port("be", app.port()).port("dead", RefusingPort::new().port()).start();
    let prom = proxy.port("prom");
    let all = get_closing(prom, "/metrics");
    assert_eq!(all.status, 200);
    assert_eq!(all.header("content-type"), Some("text/plain; version=0.0.4"));
    assert_eq!(all.header("cache-control"), Some("no-cache"));
    let names = |r: &HttpResponse| {
        let mut n: Vec<String> = samples(&r.body).into_iter().map(|(k, _)| k.split(['{', '_']).nth(1).unwrap_or_default().to_string()).collect();
        n.dedup();
        n
    };
    assert_eq!(names(&all), ["process", "frontend", "backend", "server"]);
    assert_eq!(names(&get_closing(prom, "/metrics?scope=backend")), ["backend"]);
    assert_eq!(names(&get_closing(prom, "/metrics?scope=server&scope=global")), ["process", "server"]);
    assert_eq!(names(&get_closing(prom, "/metrics?other=1&scope=frontend")), ["frontend"]);
    let empty = get_closing(prom, "/metrics?scope=");
    assert_eq!((empty.status, empty.body.len()), (200, 0));
    assert_eq!(get_closing(prom, "/metrics?scope=all").status, 400);
    let has_c = |r: &HttpResponse| samples(&r.body).iter().any(|(k, _)| k.contains("server=\"c\""));
    assert!(has_c(&get_closing(prom, "/metrics?scope=server")));
    assert!(!has_c(&get_closing(prom, "/metrics?scope=server&no-maint")));
    let mut c = Client::connect(prom);
    c.send(b"HEAD /metrics HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    let head = String::from_utf8(c.recv_until_close().0).expect("UTF-8 head");
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n") && head.ends_with("\r\n\r\n"), "a head alone: {head:?}");
    proxy.wait_for_lines(1, |l| l == "PROM prom/<PROMEX> 200", DEADLINE);
}
