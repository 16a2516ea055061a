//! Stats socket commands beyond the core (`clear counters [all]`, `show startup-logs`,
//! `set rate-limit`), compared with HAProxy 2.6 on the same configuration.

mod common;

use common::*;
use std::path::Path;

/// No `timeout` at all: both proxies warn about it at start-up.
const CONFIG: &str = "global
    stats socket {{dir}}/cli.sock level admin
defaults
    mode http
frontend fe
    bind 127.0.0.1:{{fe}}
    default_backend be
backend be
    server s1 127.0.0.1:{{a}}
";

/// `show stat` as rows of cells, the header first.
fn stat(sock: &Path) -> Vec<Vec<String>> {
    cli(sock, "show stat\n")
        .lines()
        .filter(|l| !l.is_empty())
        .map(|l| l.trim_start_matches("# ").split(',').map(str::to_string).collect())
        .collect()
}

fn cell(rows: &[Vec<String>], px: &str, sv: &str, field: &str) -> String {
    let col = rows[0].iter().position(|h| h == field).unwrap_or_else(|| panic!("no column {field}"));
    rows.iter().find(|r| r[0] == px && r[1] == sv).unwrap_or_else(|| panic!("no row {px}/{sv}"))[col].clone()
}

/// What each proxy answers, and the counters around `clear counters [all]`.
struct Run {
    answers: Vec<String>,
    /// `fe`, `be/s1`, `be` cells of the compared fields: after traffic, after
    /// `clear counters`, after `clear counters all`.
    counters: Vec<Vec<String>>,
    startup: String,
}

const COMMANDS: &[&str] = &[
    "set rate-limit\n",
    "set rate-limit connections foo\n",
    "set rate-limit bogus global 1\n",
    "set rate-limit sessions global\n",
    "set rate-limit connections global -1\n",
    "operator;set rate-limit connections global 1\n",
    "operator;clear counters all\n",
    "operator;clear counters\n",
    "user;clear counters\n",
    "user;show startup-logs\n",
    "help clear counters\n",
    "help set rate-limit\n",
    "help show startup-logs\n",
];

const FIELDS: &[&str] = &["smax", "stot", "rate_max", "req_rate_max", "req_tot", "conn_rate_max", "conn_tot", "hrsp_2xx", "lbtot", "bin"];

fn run(bin: &Path, app: &Backend) -> Run {
    let proxy = ProxyBuilder::new(CONFIG).bin(bin).port("a", app.port()).start();
    let sock = proxy.dir().join("cli.sock");
    assert!(proxy.wait_for_path(&sock, DEADLINE));
    let answers = COMMANDS.iter().map(|c| cli(&sock, c)).collect();
    let traffic = || {
        for _ in 0..3 {
            let mut c = Client::connect(proxy.port("fe"));
            assert_eq!(c.http_request(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").status, 200);
        }
    };
    let cells = || {
        // The streams above have ended once the frontend has no session left.
        assert!(wait_until(DEADLINE, || cell(&stat(&sock), "fe", "FRONTEND", "scur") == "0"));
        let rows = stat(&sock);
        let mut out = Vec::new();
        for (px, sv) in [("fe", "FRONTEND"), ("be", "s1"), ("be", "BACKEND")] {
            for f in FIELDS {
                out.push(format!("{px}/{sv} {f}={}", cell(&rows, px, sv, f)));
            }
        }
        out
    };
    traffic();
    let mut counters = vec![cells()];
    assert_eq!(cli(&sock, "clear counters\n"), "\n");
    counters.push(cells());
    assert_eq!(cli(&sock, "clear counters all\n"), "\n");
    counters.push(cells());
    // Without the process id, and only the warnings (HAProxy adds its own notices).
    let startup = cli(&sock, "show startup-logs\n")
        .lines()
        .filter(|l| !l.starts_with("[NOTICE]"))
        .map(|l| l.split_once(") : ").map_or(l.to_string(), |(tag, rest)| format!("{} {rest}", &tag[..11])))
        .collect::<Vec<_>>()
        .join("\n");
    Run { answers, counters, startup }
}

#[test]
fn answers_and_counters_match_haproxy() {
    let app = Backend::http(b"ok");
    let runs: Vec<(String, Run)> = moonproxy_and_haproxy().iter().map(|b| (b.display().to_string(), run(b, &app))).collect();
    let ours = &runs[0].1;
    assert!(ours.startup.contains("[WARNING]   config : missing timeouts for frontend 'fe'."), "{}", ours.startup);
    assert!(ours.counters[0].contains(&"fe/FRONTEND stot=3".to_string()), "{:?}", ours.counters[0]);
    assert!(ours.counters[1].contains(&"fe/FRONTEND smax=0".to_string()), "the maxima are cleared");
    assert!(ours.counters[1].contains(&"fe/FRONTEND stot=3".to_string()), "not the totals");
    assert!(ours.counters[2].contains(&"be/s1 stot=0".to_string()), "all of them with 'all'");
    assert!(ours.answers[6].ends_with("Permission denied\n\n"), "{:?}", ours.answers[6]);
    if let Some((hname, theirs)) = runs.get(1) {
        for (i, c) in COMMANDS.iter().enumerate() {
            // A valid rate limit: HAProxy sets it, moonproxy has none (doc/cli.md).
            if !c.starts_with("operator;set rate-limit") {
                assert_eq!(ours.answers[i], theirs.answers[i], "answer to {c:?} ({hname})");
            }
        }
        for (stage, (a, b)) in ours.counters.iter().zip(&theirs.counters).enumerate() {
            // `bin` is compared for being cleared only (the heads differ in length), the
            // first `smax` not at all (a connection may still be closing as the next
            // one arrives).
            let strip = |v: &Vec<String>| {
                v.iter()
                    .map(|c| match () {
                        _ if c.contains(" bin=") && !c.ends_with(" bin=0") => "bin>0".into(),
                        _ if stage == 0 && c.contains(" smax=") => "smax".into(),
                        _ => c.clone(),
                    })
                    .collect::<Vec<String>>()
            };
            assert_eq!(strip(a), strip(b), "counters at stage {stage} ({hname})");
        }
        assert_eq!(ours.startup, theirs.startup, "show startup-logs");
    }
}

/// Proxy ids as HAProxy numbers them: the CLI's `GLOBAL` frontend first, explicit
/// `id`s kept, every proxy (disabled ones too) advancing the counter.
#[test]
fn proxy_ids_match_haproxy() {
    let cfg = "global
    stats socket {{dir}}/cli.sock level admin
defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{{fe}}
    default_backend be
backend be
    server s1 127.0.0.1:{{a}}
backend b3
    id 3
    server s1 127.0.0.1:{{a}}
listen l
    bind 127.0.0.1:{{l}}
    server s1 127.0.0.1:{{a}}
backend dis
    disabled
    server s1 127.0.0.1:{{a}}
backend last
    server s1 127.0.0.1:{{a}}
frontend f1
    id 1
    bind 127.0.0.1:{{f1}}
    default_backend be
";
    let app = Backend::http(b"ok");
    let mut seen = Vec::new();
    for bin in moonproxy_and_haproxy() {
        let proxy = ProxyBuilder::new(cfg).bin(&bin).port("a", app.port()).start();
        let sock = proxy.dir().join("cli.sock");
        assert!(proxy.wait_for_path(&sock, DEADLINE));
        let rows = stat(&sock);
        let iid = rows[0].iter().position(|h| h == "iid").expect("iid column");
        let ids: Vec<String> = rows[1..].iter().map(|r| format!("{}/{} {}", r[0], r[1], r[iid])).collect();
        let state: Vec<String> = cli(&sock, "show servers state\n")
            .lines()
            .filter(|l| !l.starts_with('#') && l.contains(' '))
            .map(|l| l.split(' ').take(2).collect::<Vec<_>>().join(" "))
            .collect();
        seen.push((ids, state));
    }
    let ours = &seen[0];
    // GLOBAL advances the counter (even though f1 takes 1 explicitly): fe 2, be 4 (3 is
    // b3's), l 6, the disabled `dis` 7 (shown by `show servers state` only), last 8.
    let has = |s: &str| ours.0.contains(&s.to_string());
    assert!(has("fe/FRONTEND 2") && has("be/BACKEND 4") && has("b3/BACKEND 3") && has("l/FRONTEND 6"), "{:?}", ours.0);
    assert!(has("f1/FRONTEND 1") && has("last/BACKEND 8") && !ours.0.iter().any(|r| r.starts_with("dis/")), "{:?}", ours.0);
    assert!(ours.1.contains(&"7 dis".to_string()) && ours.1.contains(&"8 last".to_string()), "{:?}", ours.1);
    if let [ours, theirs] = &seen[..] {
        assert_eq!(ours, theirs, "ids in show stat and show servers state");
    }
}

/// Two proxies with the same `id` are refused with HAProxy's words.
#[test]
fn duplicate_proxy_ids_are_refused() {
    let cfg = "defaults\n    mode http\n    timeout client 1s\n    timeout server 1s\n    timeout connect 1s\nbackend a\n    id 3\nlisten b\n    id 3\n";
    for bin in moonproxy_and_haproxy() {
        let out = ProxyBuilder::new(cfg).bin(&bin).arg("-c").timeout(DEADLINE).run();
        assert!(
            out.stderr.contains("b reuses same custom id as backend a (declared at "),
            "{}: {}",
            bin.display(),
            out.stderr
        );
    }
}

/// `show errors`: the invalid request and response captured with their bytes and the
/// error's position, as HAProxy prints them (dates, client ports and HAProxy's internal
/// H1 flags and buffer wrap aside).
#[test]
fn show_errors_matches_haproxy() {
    let cfg = "global
    stats socket {{dir}}/cli.sock level admin
defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{{fe}}
    default_backend be
backend be
    server bad 127.0.0.1:{{bad}}
";
    let bad = Backend::reply(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nBad\tHeader: x\r\n\r\n");
    let normalize = |text: &str| -> Vec<String> {
        text.lines()
            .filter(|l| !l.starts_with("  H1 "))
            .map(|l| {
                let mut l = l.to_string();
                if let (Some(a), Some(b)) = (l.find('['), l.find(']')) {
                    l.replace_range(a..=b, "[date]");
                }
                if let Some(i) = l.find(", src ") {
                    l.truncate(i);
                }
                if let Some(i) = l.find(", wraps at ") {
                    let end = l.find(", error at").unwrap_or(l.len());
                    l.replace_range(i..end, "");
                }
                l
            })
            .collect()
    };
    let mut seen = Vec::new();
    for bin in moonproxy_and_haproxy() {
        let proxy = ProxyBuilder::new(cfg).bin(&bin).port("bad", bad.port()).start();
        let sock = proxy.dir().join("cli.sock");
        assert!(proxy.wait_for_path(&sock, DEADLINE));
        let empty = cli(&sock, "show errors\n");
        assert!(empty.starts_with("Total events captured on [") && empty.ends_with("] : 0\n\n"), "{}: {empty:?}", bin.display());
        let mut c = Client::connect(proxy.port("fe"));
        assert_eq!(c.http_request(b"GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n").status, 400);
        let mut c = Client::connect(proxy.port("fe"));
        assert_eq!(c.http_request(b"GET /r HTTP/1.1\r\nHost: x\r\n\r\n").status, 502);
        let all = cli(&sock, "show errors\n");
        let answers = [
            all.clone(),
            cli(&sock, "show errors fe\n"),
            cli(&sock, "show errors be response\n"),
            cli(&sock, "show errors -1 request\n"),
            cli(&sock, "show errors nope\n"),
            cli(&sock, "show errors 99\n"),
            cli(&sock, "user;show errors\n"),
        ];
        seen.push(answers.iter().map(|a| normalize(a)).collect::<Vec<_>>());
    }
    let ours = &seen[0];
    let all = ours[0].join("\n");
    assert!(all.contains("] : 2"), "{all}");
    assert!(all.contains("frontend fe (#2): invalid request\n  backend <NONE> (#-1), server <NONE> (#-1), event #0"), "{all}");
    assert!(all.contains("backend be (#3): invalid response\n  frontend fe (#2), server bad (#1), event #1"), "{all}");
    assert!(all.contains("len 39, error at position 28") && all.contains("  00025  Bad Header\\r\\n"), "{all}");
    if let [ours, theirs] = &seen[..] {
        for (i, (a, b)) in ours.iter().zip(theirs).enumerate() {
            assert_eq!(a, b, "answer {i}");
        }
    }
}

/// The fields of a `show fd` line moonproxy prints (HAProxy's poller pipes, flags,
/// owners and addresses aside), in a fixed order; `None` for HAProxy's own pipes.
fn fd_fields(line: &str) -> Option<String> {
    let iocb = line.split("iocb=").nth(1)?.split_whitespace().next()?;
    let iocb = &iocb[iocb.find('(')?..];
    if iocb.contains("poller_pipe") {
        return None;
    }
    let mut keep = vec![iocb.to_string()];
    let back1 = line.contains(" back=1");
    for w in line.split_whitespace() {
        let key = w.split('=').next().unwrap_or_default();
        // The server side's family is not printed by moonproxy, nor the ports of
        // connections.
        let conn = line.contains("(sock_conn_iocb)");
        if ["l.st", "fe", "fam", "lport", "back", "sv", "px", "mux"].contains(&key) && !(back1 && key == "fam") && !(conn && key == "lport") {
            keep.push(w.to_string());
        }
    }
    Some(keep.join(" "))
}

/// `show fd`: the same descriptors (listeners, the CLI's socket and session, a client
/// connection and its server connection) with the same names as HAProxy.
#[test]
fn show_fd_matches_haproxy() {
    let cfg = "global
    stats socket {{dir}}/cli.sock level admin
defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{{fe}}
    default_backend be
backend be
    server s1 127.0.0.1:{{slow}}
listen t
    mode tcp
    bind 127.0.0.1:{{t}}
    server s1 127.0.0.1:{{slow}}
";
    let slow = Backend::silent();
    let mut seen = Vec::new();
    for bin in moonproxy_and_haproxy() {
        let proxy = ProxyBuilder::new(cfg).bin(&bin).port("slow", slow.port()).start();
        let sock = proxy.dir().join("cli.sock");
        assert!(proxy.wait_for_path(&sock, DEADLINE));
        let mut c = Client::connect(proxy.port("fe"));
        c.send(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n");
        let mut text = String::new();
        assert!(wait_until(DEADLINE, || {
            text = cli(&sock, "show fd\n");
            text.contains(" back=1 ")
        }), "{}: no server connection in {text}", bin.display());
        let mut fields: Vec<String> = text.lines().filter_map(fd_fields).collect();
        fields.sort();
        // One descriptor alone, and a word: nothing.
        let first: i32 = text.split(':').next().unwrap_or_default().trim().parse().expect("an fd number");
        let one = cli(&sock, &format!("show fd {first}\n"));
        assert_eq!(one.lines().filter(|l| !l.is_empty()).count(), 1, "{}: {one}", bin.display());
        assert_eq!(cli(&sock, "show fd x\n"), "\n");
        seen.push(fields);
        drop(c);
    }
    let ours = seen[0].join("\n");
    assert!(ours.contains("(sock_accept_iocb) l.st=RDY fe=fe fam=ipv4 lport="), "{ours}");
    assert!(ours.contains("(sock_accept_iocb) l.st=RDY fe=GLOBAL fam=unix"), "{ours}");
    assert!(ours.contains("(sock_conn_iocb) back=0 fam=ipv4 fe=fe mux=H1"), "{ours}");
    assert!(ours.contains("(sock_conn_iocb) back=1 sv=be/s1 mux=H1"), "{ours}");
    assert!(ours.contains("(sock_conn_iocb) back=0 fam=unix fe=GLOBAL mux=PASS"), "{ours}");
    if let [ours, theirs] = &seen[..] {
        // HAProxy's listener lines carry `lport` values of its own ports.
        let strip = |v: &Vec<String>| {
            v.iter().map(|l| l.split(' ').filter(|w| !w.starts_with("lport=")).collect::<Vec<_>>().join(" ")).collect::<Vec<_>>()
        };
        assert_eq!(strip(ours), strip(theirs));
    }
}

/// `show activity`: HAProxy's fields in its order; the loop and accept counters move.
#[test]
fn show_activity_has_haproxys_fields() {
    let app = Backend::http(b"ok");
    let mut names = Vec::new();
    for bin in moonproxy_and_haproxy() {
        let proxy = ProxyBuilder::new(CONFIG).bin(&bin).port("a", app.port()).start();
        let sock = proxy.dir().join("cli.sock");
        assert!(proxy.wait_for_path(&sock, DEADLINE));
        let before = cli(&sock, "show activity\n");
        let mut c = Client::connect(proxy.port("fe"));
        assert_eq!(c.http_request(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").status, 200);
        let after = cli(&sock, "user;show activity\n");
        let value = |text: &str, name: &str| -> u64 {
            let line = text.lines().find(|l| l.starts_with(&format!("{name}: "))).unwrap_or_else(|| panic!("no {name} in {text}"));
            line[name.len() + 2..].split_whitespace().next().unwrap_or_default().parse().expect("a number")
        };
        assert!(value(&after, "loops") > value(&before, "loops"), "{}: {after}", bin.display());
        assert!(value(&after, "accepted") > value(&before, "accepted"), "{}: {after}", bin.display());
        names.push(before.lines().filter(|l| !l.is_empty()).map(|l| l.split(':').next().unwrap_or_default().to_string()).collect::<Vec<_>>());
    }
    if let [ours, theirs] = &names[..] {
        assert_eq!(ours, theirs, "show activity fields");
    }
}

const PROCESS_CONFIG: &str = "global
    nbthread 1
    stats socket {{dir}}/cli.sock level admin
    stats socket {{dir}}/num.sock level admin severity-output number
resolvers dns
    nameserver ns1 127.0.0.1:{{ns}}
    nameserver ns2 127.0.0.2:{{ns}}
    resolve_retries 2
    timeout retry 100ms
    timeout resolve 100ms
resolvers other
    nameserver x 127.0.0.1:{{ns}}
defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{{fe}}
    default_backend be
backend be
    server s1 127.0.0.1:{{a}}
";

/// `show schema json`, `show resolvers <section>`, `set severity-output` and the
/// `severity-output` of `stats socket`, compared with HAProxy.
const PROCESS_COMMANDS: &[&str] = &[
    "show schema json\n",
    "show resolvers dns\n",
    "show resolvers other\n",
    "show resolvers nope\n",
    "set severity-output\n",
    "set severity-output bogus\n",
    "set severity-output number;show resolvers nope\n",
    "set severity-output string;show resolvers nope\n",
    "set severity-output number;add server be/d1 127.0.0.1:1\n",
    "set severity-output string;add server be/d1 127.0.0.1:1\n",
    "set severity-output number;set severity-output none;show resolvers nope\n",
    "set severity-output number;set server be/s1 addr 127.0.0.2\n",
    "set severity-output number;get weight be/s1\n",
    "set severity-output number;show servers state nope\n",
    "set severity-output number;disable server be/nope\n",
    "set severity-output number;set server be/s1 state foo\n",
    "set severity-output number;show errors nope\n",
    "set severity-output number;shutdown session 0x1\n",
    "set severity-output number;enable frontend nope\n",
    "set severity-output number;abort ssl cert x\n",
    "set severity-output number;set timeout cli x\n",
    "set severity-output number;show table nope\n",
    "set severity-output number;get var proc.x\n",
    "set severity-output string;del server be/d1\n",
    "set severity-output string;set server be/d1 state maint;del server be/d1\n",
    "set severity-output number;clear counters\n",
    "help set severity-output\n",
];

#[test]
fn process_commands_match_haproxy() {
    let app = Backend::http(b"ok");
    // A name server that never answers (nothing resolves through it here).
    let ns = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut runs = Vec::new();
    for bin in moonproxy_and_haproxy() {
        let proxy = ProxyBuilder::new(PROCESS_CONFIG).bin(&bin).port("a", app.port()).port("ns", ns.local_addr().unwrap().port()).start();
        let sock = proxy.dir().join("cli.sock");
        assert!(proxy.wait_for_path(&sock, DEADLINE));
        let mut seen: Vec<String> = PROCESS_COMMANDS.iter().map(|c| format!("{c}{}", cli(&sock, c))).collect();
        seen.push(cli(&proxy.dir().join("num.sock"), "show resolvers nope\n"));
        runs.push((bin, seen));
    }
    let ours = &runs[0].1;
    assert!(ours[1].contains(" nameserver ns2:\n  sent:        0\n"), "{}", ours[1]);
    assert!(ours.last().is_some_and(|l| l == "[3]: Can't find that resolvers section\n\n"), "{ours:?}");
    assert_runs_agree(&runs);
}

/// `show resolvers` counts what was sent to a name server that does not answer.
#[test]
fn show_resolvers_counts_queries() {
    let ns = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let cfg = PROCESS_CONFIG.replace("    server s1 127.0.0.1:{{a}}", "    server s1 app.test:{{a}} resolvers other init-addr none");
    let proxy = ProxyBuilder::new(&cfg).port("a", 1).port("ns", ns.local_addr().unwrap().port()).start();
    let sock = proxy.dir().join("cli.sock");
    assert!(proxy.wait_for_path(&sock, DEADLINE));
    let count = |field: &str| -> u64 {
        let text = cli(&sock, "show resolvers other\n");
        let line = text.lines().find(|l| l.trim_start().starts_with(&format!("{field}:"))).unwrap_or_else(|| panic!("{text}"));
        line.split_whitespace().last().unwrap().parse().unwrap()
    };
    assert!(wait_until(DEADLINE, || count("sent") >= 2 && count("timeout") >= 1), "{}", cli(&sock, "show resolvers other\n"));
    // The other section asked nothing.
    assert!(cli(&sock, "show resolvers dns\n").contains("  sent:        0\n"));
}

/// `show libs`: HAProxy's layout, the program first, libc among the libraries.
#[test]
fn show_libs_lists_the_program_and_its_libraries() {
    let app = Backend::http(b"ok");
    let proxy = ProxyBuilder::new(CONFIG).port("a", app.port()).start();
    let sock = proxy.dir().join("cli.sock");
    assert!(proxy.wait_for_path(&sock, DEADLINE));
    let libs = cli(&sock, "show libs\n");
    let lines: Vec<&str> = libs.lines().filter(|l| !l.is_empty()).collect();
    for l in &lines {
        let (range, rest) = l.split_once(' ').unwrap();
        let (start, end) = range.split_once('-').unwrap();
        let size = rest.split_once(' ').unwrap().0.trim_matches(['(', ')']);
        let hex = |s: &str| u64::from_str_radix(s.trim_start_matches("0x"), 16).unwrap();
        assert!(start.len() == 14 && end.len() == 14 && size.len() == 9, "{l}");
        assert_eq!(hex(end) - hex(start) + 1, hex(size), "{l}");
    }
    assert!(lines[0].ends_with(&format!(" {}", moonproxy_bin().canonicalize().unwrap().display())), "{libs}");
    assert!(lines.iter().any(|l| l.contains("/libc.so")), "{libs}");
}
