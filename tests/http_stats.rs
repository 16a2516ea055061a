//! The stats page (`stats enable`, `stats uri` ...) and its `show stat` CSV: served by
//! the proxy itself, compared with HAProxy 2.6 on the same configuration (same header,
//! same rows in the same order, same values for the deterministic fields, the same
//! empty cells), authentication, refresh, scope, and the log line.

mod common;

use common::*;
use std::path::Path;
use std::time::Duration;

/// A CSV answer parsed into rows of cells (the header row first, without its `# `).
fn parse_csv(body: &[u8]) -> Vec<Vec<String>> {
    let text = String::from_utf8(body.to_vec()).expect("UTF-8 CSV");
    text.lines()
        .filter(|l| !l.is_empty())
        .map(|l| {
            let l = l.strip_prefix("# ").unwrap_or(l);
            // No cell of these configurations holds a comma.
            let mut cells: Vec<String> = l.split(',').map(str::to_string).collect();
            assert_eq!(cells.pop().as_deref(), Some(""), "every line ends with a comma: {l}");
            cells
        })
        .collect()
}

fn col(header: &[String], name: &str) -> usize {
    header.iter().position(|h| h == name).unwrap_or_else(|| panic!("no column {name}"))
}

const COMPARED: &str = "/st;csv";

/// The configuration both proxies run for the comparison.
fn comparison_config() -> String {
    "global
    log stdout format raw local0
    maxconn 500
defaults
    mode http
    log global
    log-format \"LOG ts=%ts s=%s\"
    timeout connect 1s
    timeout client 5s
    timeout server 5s
listen stats
    bind 127.0.0.1:{{st}}
    stats enable
    stats uri /st
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
listen t
    mode tcp
    bind 127.0.0.1:{{t}}
    server s1 127.0.0.1:{{be}}
"
    .to_string()
}

/// Runs the same traffic on `bin` and returns the stats CSV it then serves, and the
/// description of each field of its JSON output.
fn traffic_and_csv(bin: &Path, app: &Backend) -> (Vec<Vec<String>>, Vec<String>) {
    let dead = RefusingPort::new();
    let proxy = ProxyBuilder::new(&comparison_config()).bin(bin).port("be", app.port()).port("dead", dead.port()).start();
    let (st, fe, t) = (proxy.port("st"), proxy.port("fe"), proxy.port("t"));
    // Server `e`'s first check has passed, and `d` is down after its third failure.
    assert!(
        wait_until(DEADLINE, || {
            let rows = parse_csv(&get_closing(st, COMPARED).body);
            let (check, status) = (col(&rows[0], "check_status"), col(&rows[0], "status"));
            rows.iter().any(|r| r[1] == "e" && r[check] == "L4OK") && rows.iter().any(|r| r[1] == "d" && r[status] == "DOWN")
        }),
        "{}: the checks of servers e and d did not conclude",
        bin.display()
    );
    for _ in 0..3 {
        assert_eq!(get_closing(fe, "/hello").status, 200);
    }
    assert_eq!(get_closing(fe, "/deny").status, 403);
    // A response denied by `http-response deny`, an invalid one.
    assert_eq!(get_closing(fe, "/204").status, 502);
    assert_eq!(get_closing(fe, "/bad").status, 502);
    let mut c = Client::connect(fe);
    assert_eq!(c.http_request(b"G(T / HTTP/1.1\r\nHost: t\r\n\r\n").status, 400);
    // A client that leaves in the middle of a head, one that leaves without a byte.
    for partial in [&b"GET / HTTP/1.1\r\nHost"[..], b""] {
        let mut c = Client::connect(fe);
        c.send(partial);
        c.shutdown_write();
        let _ = c.recv_until_close();
    }
    let mut c = Client::connect(t);
    assert_eq!(c.http_request(b"GET /tcp HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").status, 200);
    drop(c);
    // Every stream above is logged (ended) before the stats are read.
    proxy.wait_for_lines(9 + 1, |l| l.starts_with("LOG ") && !l.contains("s=<STATS>"), DEADLINE);
    std::thread::sleep(Duration::from_millis(100));
    let csv = parse_csv(&get_closing(st, COMPARED).body);
    (csv, json_fields(&get_closing(st, "/st;json").body))
}

/// For each field object of a `show stat json` answer: its object type, position,
/// name, tags and value type (the text from `"objType"` to the value's type, without
/// the ids).
fn json_fields(body: &[u8]) -> Vec<String> {
    let text = String::from_utf8(body.to_vec()).expect("UTF-8 JSON");
    text.split("{\"objType\":")
        .skip(1)
        .map(|obj| {
            let kind = obj.split(',').next().unwrap_or_default();
            let field = obj.find("\"field\":").map_or("", |i| &obj[i..]);
            let end = field.find("\",\"value\":").map_or(field.len(), |i| i);
            format!("{kind} {}", &field[..end])
        })
        .collect()
}

/// The fields whose values are deterministic after that traffic; the others (times,
/// rates, ages, limits derived from the machine) are compared for emptiness only.
const DETERMINISTIC: &[&str] = &[
    "pxname", "svname", "qcur", "qmax", "slim", "stot", "dreq", "dresp", "ereq", "econ", "eresp", "wretr", "wredis",
    "status", "weight", "act", "bck", "chkdown", "pid", "iid", "sid", "lbtot", "type", "rate_lim",
    "check_status", "check_code", "check_rise", "check_fall", "check_health", "hrsp_1xx", "hrsp_2xx",
    "hrsp_3xx", "hrsp_4xx", "hrsp_5xx", "hrsp_other", "req_tot", "cli_abrt", "srv_abrt", "check_desc",
    "mode", "conn_tot", "intercepted", "dcon", "dses", "wrew", "connect", "uweight", "-", "ssl_sess",
];

/// Same header, rows, deterministic values and empty cells as HAProxy 2.6.
#[test]
fn csv_matches_haproxy() {
    let app = http_app();
    let mut results = Vec::new();
    for bin in moonproxy_and_haproxy() {
        let (csv, json) = traffic_and_csv(&bin, &app);
        results.push((bin.display().to_string(), csv, json));
    }
    let (name, ours, our_json) = &results[0];
    let header = &ours[0];
    assert_eq!(header[..2], ["pxname".to_string(), "svname".to_string()]);
    assert_eq!(header.last().map(String::as_str), Some("h1_spliced_bytes_out"));
    let get = |rows: &[Vec<String>], px: &str, sv: &str, field: &str| -> String {
        let r = rows.iter().find(|r| r[0] == px && r[1] == sv).unwrap_or_else(|| panic!("no row {px}/{sv}"));
        r[col(&rows[0], field)].clone()
    };
    if let Some((hname, theirs, their_json)) = results.get(1) {
        assert_eq!(ours[0], theirs[0], "the header line");
        assert_eq!(ours.len(), theirs.len(), "row count");
        let mut diffs = Vec::new();
        for (a, b) in ours[1..].iter().zip(&theirs[1..]) {
            for (i, field) in header.iter().enumerate() {
                // The stats proxy's own counters depend on how many times each polled.
                let own = a[0] == "stats" && !["pxname", "svname", "status", "type", "iid", "sid", "mode"].contains(&field.as_str());
                // `* ` before a check status means "a check is running right now": a
                // matter of when the CSV was read, not of what the check found.
                let settled = |v: &str| if field == "check_status" { v.trim_start_matches("* ").to_string() } else { v.to_string() };
                // While a check runs, HAProxy may leave the last check's text empty.
                let running = [a, b].iter().any(|r| r[col(header, "check_status")].starts_with("* "));
                let same = if field == "last_chk" && running {
                    true
                } else if DETERMINISTIC.contains(&field.as_str()) && !own {
                    settled(&a[i]) == settled(&b[i])
                } else {
                    a[i].is_empty() == b[i].is_empty()
                };
                if !same {
                    diffs.push(format!("{}/{} {field}: moonproxy {:?}, haproxy {:?}", a[0], a[1], a[i], b[i]));
                }
            }
        }
        assert!(diffs.is_empty(), "differences with {hname}:\n{}", diffs.join("\n"));
        // The JSON: the same fields with the same tags and types.
        for (a, b) in our_json.iter().zip(their_json) {
            assert_eq!(a, b, "a JSON field and its tags");
        }
        assert_eq!(our_json.len(), their_json.len(), "JSON field count");
    }
    assert!(our_json.iter().any(|f| f.contains("\"name\":\"req_tot\"")));
    // Our own expectations, so that the test means something without HAProxy too.
    assert_eq!(get(ours, "fe", "FRONTEND", "req_tot"), "9", "{name}");
    assert_eq!(get(ours, "fe", "FRONTEND", "hrsp_5xx"), "2");
    assert_eq!(get(ours, "fe", "FRONTEND", "dresp"), "1");
    assert_eq!(get(ours, "be", "a", "dresp"), "1");
    assert_eq!(get(ours, "be", "a", "eresp"), "1");
    assert_eq!(get(ours, "be", "BACKEND", "eresp"), "1");
    assert_eq!(get(ours, "fe", "FRONTEND", "hrsp_2xx"), "3");
    assert_eq!(get(ours, "fe", "FRONTEND", "hrsp_4xx"), "4");
    assert_eq!(get(ours, "fe", "FRONTEND", "dreq"), "1");
    assert_eq!(get(ours, "fe", "FRONTEND", "ereq"), "3");
    assert_eq!(get(ours, "be", "a", "stot"), "5");
    assert_eq!(get(ours, "be", "BACKEND", "hrsp_2xx"), "3");
    assert_eq!(get(ours, "be", "BACKEND", "weight"), "3");
    assert_eq!(get(ours, "be", "c", "status"), "MAINT");
    assert_eq!(get(ours, "be", "e", "status"), "UP");
    assert_eq!(get(ours, "bd", "d", "check_status"), "L4CON");
    assert_eq!(get(ours, "bd", "BACKEND", "status"), "DOWN");
    assert_eq!(get(ours, "t", "s1", "stot"), "1");
    assert!(get(ours, "stats", "FRONTEND", "intercepted").parse::<u64>().unwrap() >= 2);
    let names: Vec<(String, String)> = ours[1..].iter().map(|r| (r[0].clone(), r[1].clone())).collect();
    let expected: Vec<(String, String)> = [
        ("stats", "FRONTEND"),
        ("stats", "BACKEND"),
        ("fe", "FRONTEND"),
        ("be", "a"),
        ("be", "b"),
        ("be", "c"),
        ("be", "e"),
        ("be", "BACKEND"),
        ("bd", "d"),
        ("bd", "BACKEND"),
        ("t", "FRONTEND"),
        ("t", "s1"),
        ("t", "BACKEND"),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    assert_eq!(names, expected);
}

fn stats_proxy(stats_lines: &str) -> (Proxy, Backend) {
    let app = http_app();
    let proxy = ProxyBuilder::new(&format!(
        "global
    log stdout format raw local0
defaults
    mode http
    log global
    log-format \"LOG ts=%ts s=%s b=%b ST=%ST\"
    timeout connect 1s
    timeout client 5s
    timeout server 5s
listen web
    bind 127.0.0.1:{{{{web}}}}
{stats_lines}
    server s1 127.0.0.1:{{{{be}}}}
frontend fe
    bind 127.0.0.1:{{{{fe}}}}
    default_backend be
backend be
    server a 127.0.0.1:{{{{be}}}}
"
    ))
    .port("be", app.port())
    .start();
    (proxy, app)
}

#[test]
fn auth_is_required_and_checked() {
    let (proxy, app) = stats_proxy("    stats uri /st\n    stats auth admin:secret\n    stats auth ops:pw\n    stats realm My\\ Realm");
    let web = proxy.port("web");
    for auth in ["", "Authorization: Basic YWRtaW46YmFk\r\n"] {
        // none, then admin:bad
        let mut c = Client::connect(web);
        let r = c.http_request(format!("GET /st;csv HTTP/1.1\r\nHost: t\r\n{auth}\r\n").as_bytes());
        assert_eq!(r.status, 401);
        assert_eq!(r.header("www-authenticate"), Some("Basic realm=\"My Realm\""));
        assert!(String::from_utf8_lossy(&r.body).contains("401 Unauthorized"));
    }
    for cred in ["YWRtaW46c2VjcmV0", "b3BzOnB3"] {
        // admin:secret, ops:pw
        let mut c = Client::connect(web);
        let r = c.http_request(format!("GET /st;csv HTTP/1.1\r\nHost: t\r\nAuthorization: Basic {cred}\r\n\r\n").as_bytes());
        assert_eq!(r.status, 200);
        assert_eq!(r.header("content-type"), Some("text/plain"));
        assert!(r.body.starts_with(b"# pxname,svname,"));
    }
    // Other URIs go to the servers, without authentication.
    assert_eq!(get_closing(web, "/other").body, b"path=/other");
    assert_eq!(app.stats().requests(), 1);
    // Logged as HAProxy logs its stats applet: server <STATS>, `LR`.
    let line = proxy.wait_for_line(|l| l.starts_with("LOG ") && l.contains("ST=200") && l.contains("<STATS>"), DEADLINE);
    assert_eq!(field(&line, "ts"), "LR");
    assert_eq!(field(&line, "b"), "web");
}

#[test]
fn refresh_header_and_options() {
    let (proxy, _app) = stats_proxy("    stats enable\n    stats refresh 7s");
    let web = proxy.port("web");
    let r = get_closing(web, "/haproxy?stats");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("refresh"), Some("7"));
    assert_eq!(r.header("content-type"), Some("text/html"));
    let r = get_closing(web, "/haproxy?stats;csv;norefresh");
    assert_eq!(r.header("refresh"), None);
    assert!(r.body.starts_with(b"# pxname"));
    let r = get_closing(web, "/haproxy?stats;json");
    assert_eq!(r.header("content-type"), Some("application/json"));
    let body = String::from_utf8(r.body).unwrap();
    assert!(body.starts_with("[[{\"objType\":\"Frontend\",\"proxyId\":1,\"id\":0,\"field\":{\"pos\":0,\"name\":\"pxname\"}"), "{body}");
    assert!(body.contains(
        "{\"pos\":1,\"name\":\"svname\"},\"processNum\":1,\"tags\":{\"origin\":\"Key\",\"nature\":\"Name\",\"scope\":\"Service\"},\
         \"value\":{\"type\":\"str\",\"value\":\"BACKEND\"}"
    ));
    let r = get_closing(web, "/haproxy?stats;typed");
    assert!(r.body.starts_with(b"F.1.0.0.pxname.1:KNS:str:web\nF.1.0.1.svname.1:KNS:str:FRONTEND\n"));
    // HEAD: the head only.
    let mut c = Client::connect(web);
    c.send(b"HEAD /haproxy?stats HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    let (raw, _) = c.recv_until_close();
    let text = String::from_utf8(raw).unwrap();
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n") && text.ends_with("\r\n\r\n"), "{text}");
}

#[test]
fn scope_filters_the_proxies() {
    let (proxy, _app) = stats_proxy("    stats uri /st\n    stats scope .\n    stats scope be");
    let rows = parse_csv(&get_closing(proxy.port("web"), "/st;csv").body);
    let names: Vec<&str> = rows[1..].iter().map(|r| r[0].as_str()).collect();
    assert_eq!(names, ["web", "web", "web", "be", "be"]);
    let rows = parse_csv(&get_closing(proxy.port("web"), "/st;csv;scope=b").body);
    let names: Vec<&str> = rows[1..].iter().map(|r| r[0].as_str()).collect();
    assert_eq!(names, ["web", "web", "web", "be", "be"], "web and be contain a b");
    let rows = parse_csv(&get_closing(proxy.port("web"), "/st;csv;scope=we").body);
    assert!(rows[1..].iter().all(|r| r[0] == "web"));
}

#[test]
fn html_page_rules_and_options() {
    let (proxy, app) = stats_proxy(
        "    acl local src 127.0.0.2\n    stats uri /st\n    stats hide-version\n    stats show-node edge-1\n    \
         stats show-legends\n    stats admin if TRUE\n    stats http-request deny if { path_end /forbidden }",
    );
    let web = proxy.port("web");
    let r = get_closing(web, "/st");
    assert_eq!(r.status, 200);
    let html = String::from_utf8(r.body).unwrap();
    assert!(html.contains("<title>Statistics Report for edge-1</title>"), "{html}");
    assert!(!html.contains("version"), "hide-version");
    for id in ["web", "fe", "be"] {
        assert!(html.contains(&format!("<table id=\"{id}\">")), "a table for {id}");
    }
    assert!(html.contains("Legend"));
    assert_eq!(get_closing(web, "/st/forbidden").status, 403);
    // With show-legends, the CSV has the servers' addresses and the algorithm.
    let rows = parse_csv(&get_closing(web, "/st;csv").body);
    let a = rows.iter().find(|r| r[0] == "be" && r[1] == "a").unwrap();
    assert_eq!(a[col(&rows[0], "addr")], format!("127.0.0.1:{}", app.port()));
    let b = rows.iter().find(|r| r[0] == "be" && r[1] == "BACKEND").unwrap();
    assert_eq!(b[col(&rows[0], "algo")], "roundrobin");
}

#[test]
fn counters_follow_the_traffic() {
    let (proxy, _app) = stats_proxy("    stats uri /st");
    let fe = proxy.port("fe");
    // Two requests on one kept-alive connection, one on another.
    let mut c = Client::connect(fe);
    for _ in 0..2 {
        assert_eq!(c.http_get("/x").status, 200);
    }
    drop(c);
    assert_eq!(get_closing(fe, "/y").status, 200);
    let (rows, polls) = wait_rows(&proxy, |rows| value(rows, "be", "BACKEND", "req_tot") == "3");
    assert_eq!(value(&rows, "fe", "FRONTEND", "req_tot"), "3");
    assert_eq!(value(&rows, "fe", "FRONTEND", "stot"), "2");
    assert_eq!(value(&rows, "fe", "FRONTEND", "conn_tot"), "2");
    assert_eq!(value(&rows, "fe", "FRONTEND", "hrsp_2xx"), "3");
    assert_eq!(value(&rows, "be", "a", "hrsp_2xx"), "3");
    assert_eq!(value(&rows, "be", "a", "lbtot"), "3");
    assert_ne!(value(&rows, "be", "a", "bout"), "0");
    assert_eq!(value(&rows, "be", "a", "bout"), value(&rows, "be", "BACKEND", "bout"));
    assert_eq!(value(&rows, "web", "FRONTEND", "intercepted"), polls.to_string());
}

fn value(rows: &[Vec<String>], px: &str, sv: &str, field: &str) -> String {
    let r = rows.iter().find(|r| r[0] == px && r[1] == sv).unwrap_or_else(|| panic!("no row {px}/{sv}"));
    r[col(&rows[0], field)].clone()
}

/// Reads the stats (without polling the page more than needed) until `ok`.
/// Also returns how many times the page was read.
fn wait_rows(proxy: &Proxy, ok: impl Fn(&[Vec<String>]) -> bool) -> (Vec<Vec<String>>, u32) {
    let mut rows = Vec::new();
    for polls in 1..=100 {
        rows = parse_csv(&get_closing(proxy.port("web"), "/st;csv").body);
        if ok(&rows) {
            return (rows, polls);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("stats never reached the expected state: {rows:?}");
}

/// The log line of a request the page answered, and of one it refused, read the same
/// on both: `<STATS>` as the server, `LR`, and no queue, connect or response time.
#[test]
fn stats_requests_are_logged_like_haproxy() {
    let mut logged = Vec::new();
    for bin in moonproxy_and_haproxy() {
        let proxy = ProxyBuilder::new(
            "global
    log stdout format raw local0
defaults
    mode http
    log global
    log-format \"LOG %ft %b/%s %Tw/%Tc/%Tr %ST %ts %HM %HU\"
    timeout connect 1s
    timeout client 5s
    timeout server 5s
listen web
    bind 127.0.0.1:{{web}}
    stats uri /st
    stats auth u:p
",
        )
        .bin(&bin)
        .start();
        let web = proxy.port("web");
        assert_eq!(get_closing(web, "/st;csv").status, 401);
        let mut c = Client::connect(web);
        let ok = c.http_request(b"GET /st;csv HTTP/1.1\r\nHost: t\r\nAuthorization: Basic dTpw\r\nConnection: close\r\n\r\n");
        assert_eq!(ok.status, 200);
        logged.push(proxy.wait_for_lines(2, |l| l.starts_with("LOG "), DEADLINE));
    }
    assert_eq!(
        logged[0],
        ["LOG web web/<STATS> 0/0/-1 401 LR GET /st;csv", "LOG web web/<STATS> 0/0/0 200 LR GET /st;csv"],
    );
    if let Some(haproxy) = logged.get(1) {
        // HAProxy 2.6 logs its stats page's 401 (and 403) as a 400: moonproxy logs the
        // status it sent (doc/stats.md).
        let theirs: Vec<String> = haproxy.iter().map(|l| l.replace(" 400 ", " 401 ")).collect();
        assert_eq!(logged[0], theirs);
    }
}

/// `-c` refuses what HAProxy refuses: `stats auth` with `stats http-request`, `stats
/// admin` in `defaults`, an unknown `stats` parameter; both name the same problem.
#[test]
fn bad_stats_configurations_are_refused_like_haproxy() {
    let base = "defaults\n    mode http\n    timeout connect 1s\n    timeout client 1s\n    timeout server 1s\n";
    for (body, message) in [
        (
            "listen web\n    bind 127.0.0.1:{{web}}\n    stats auth u:p\n    stats http-request deny\n",
            "proxy 'web': stats 'auth'/'realm' and 'http-request' can't be used at the same time.",
        ),
        ("    stats admin if TRUE\nlisten web\n    bind 127.0.0.1:{{web}}\n", "'stats admin' not allowed in 'defaults' section."),
        ("listen web\n    bind 127.0.0.1:{{web}}\n    stats bogus\n", "unknown stats parameter 'bogus'"),
    ] {
        for bin in moonproxy_and_haproxy() {
            let out = ProxyBuilder::new(&format!("{base}{body}")).bin(&bin).flags(["-c"]).run();
            assert_ne!(out.code(), Some(0), "{}: {body}", bin.display());
            assert!(out.stderr.contains(message) || out.stdout.contains(message), "{}: {body}\n{out:?}", bin.display());
        }
    }
    let ok = ProxyBuilder::new(&format!("{base}listen web\n    bind 127.0.0.1:{{{{web}}}}\n    stats enable\n    stats admin if TRUE\n"))
        .flags(["-c"])
        .run();
    assert_eq!(ok.code(), Some(0), "{ok:?}");
}
