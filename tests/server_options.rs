//! Server options compared with HAProxy 2.6 on the same configuration: `redir`,
//! `on-marked-down shutdown-sessions`, `on-marked-up shutdown-backup-sessions`.

mod common;

use common::*;
use std::net::TcpListener;
use std::time::Duration;

#[test]
fn redir_answers_302_to_the_prefix() {
    for bin in moonproxy_and_haproxy() {
        let backend = Backend::http(b"never");
        let p = ProxyBuilder::new(
            "global
    log stdout format raw local0
defaults
    mode http
    log global
    option httplog
    timeout connect 1s
    timeout client 3s
    timeout server 3s
listen l
    bind 127.0.0.1:{{fe}}
    server s1 127.0.0.1:{{be}} redir http://example.com:8080
",
        )
        .bin(&bin)
        .port("be", backend.port())
        .start();
        let who = bin.display().to_string();
        let mut c = p.connect("fe");
        c.send(b"GET /a/b?x=1 HTTP/1.1\r\nhost: h\r\n\r\n");
        let (got, _) = c.recv_until_close();
        assert_eq!(
            String::from_utf8_lossy(&got),
            "HTTP/1.1 302 Found\r\ncache-control: no-cache\r\ncontent-length: 0\r\nlocation: http://example.com:8080/a/b?x=1\r\nconnection: close\r\n\r\n",
            "{who}"
        );
        let line = p.wait_for_line(|l| l.contains("\"GET /a/b?x=1 HTTP/1.1\""), DEADLINE);
        // HAProxy logs 127 bytes for the 128 it sends (its count leaves out one byte of
        // the added `connection: close`); the byte count is not compared.
        assert!(line.contains(" l l/s1 0/0/-1/-1/") && line.contains(" 302 ") && line.contains(" - - LC-- "), "{who}: {line}");
        assert_eq!(backend.connections(), 0, "{who}: the server saw nothing");
    }
}

/// A port whose listener the test closes to make the checks of a server fail.
fn check_port() -> (TcpListener, u16) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    (l, port)
}

#[test]
fn on_marked_down_shutdown_sessions() {
    for bin in moonproxy_and_haproxy() {
        let backend = Backend::silent();
        let (chk, chk_port) = check_port();
        let p = ProxyBuilder::new(
            "global
    log stdout format raw local0
defaults
    mode tcp
    log global
    option tcplog
    timeout connect 1s
    timeout client 10s
    timeout server 10s
listen l
    bind 127.0.0.1:{{fe}}
    server s1 127.0.0.1:{{be}} check port {{chk}} inter 100 rise 1 fall 1 on-marked-down shutdown-sessions
",
        )
        .bin(&bin)
        .port("be", backend.port())
        .port("chk", chk_port)
        .start();
        let who = bin.display().to_string();
        let mut c = p.connect("fe");
        c.send(b"x");
        assert!(wait_until(DEADLINE, || backend.connections() == 1), "{who}: connected");
        drop(chk);
        let (_, _) = c.recv_until_close();
        let line = p.wait_for_line(|l| l.contains(" l l/s1 "), DEADLINE);
        let log = TcpLog::parse(&line);
        assert_eq!(log.termination, "D-", "{who}: {line}");
    }
}

#[test]
fn on_marked_up_shutdown_backup_sessions() {
    for bin in moonproxy_and_haproxy() {
        let active = Backend::silent();
        let backup = Backend::silent();
        // The active server's checks fail until the test listens on its check port.
        let chk_port = free_port();
        let p = ProxyBuilder::new(
            "global
    log stdout format raw local0
defaults
    mode tcp
    log global
    option tcplog
    timeout connect 1s
    timeout client 10s
    timeout server 10s
listen l
    bind 127.0.0.1:{{fe}}
    server a 127.0.0.1:{{a}} check port {{chk}} inter 100 rise 1 fall 1 on-marked-up shutdown-backup-sessions
    server b 127.0.0.1:{{b}} backup
",
        )
        .bin(&bin)
        .port("a", active.port())
        .port("b", backup.port())
        .port("chk", chk_port)
        .start();
        let who = bin.display().to_string();
        p.wait_for_line(|l| l.contains("Server l/a is DOWN"), DEADLINE);
        let mut c = p.connect("fe");
        c.send(b"x");
        assert!(wait_until(DEADLINE, || backup.connections() == 1), "{who}: on the backup");
        let _chk = TcpListener::bind(("127.0.0.1", chk_port)).unwrap();
        let (_, _) = c.recv_until_close();
        let line = p.wait_for_line(|l| l.contains(" l l/b "), DEADLINE);
        assert_eq!(TcpLog::parse(&line).termination, "U-", "{who}: {line}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// `on-marked-down` and `on-marked-up` also act when the CLI marks a server DOWN or UP
/// (`set server … health`) or puts it in and out of maintenance (`state maint|ready`), and
/// for the servers tracking it in another proxy: HAProxy 2.6 ends those sessions, moonproxy
/// used to end them only on a check's verdict.
#[test]
fn on_marked_down_and_up_follow_cli_changes_and_trackers() {
    for bin in moonproxy_and_haproxy() {
        let active = Backend::silent();
        let backup = Backend::silent();
        let p = ProxyBuilder::new(
            "global
    log stdout format raw local0
    stats socket {{dir}}/s.sock level admin
defaults
    mode tcp
    log global
    option tcplog
    timeout connect 1s
    timeout client 10s
    timeout server 10s
listen l
    bind 127.0.0.1:{{fe}}
    server s1 127.0.0.1:{{a}} check inter 60s on-marked-down shutdown-sessions on-marked-up shutdown-backup-sessions
    server b1 127.0.0.1:{{b}} backup
listen t
    bind 127.0.0.1:{{te}}
    server t1 127.0.0.1:{{a}} track l/s1 on-marked-down shutdown-sessions on-marked-up shutdown-backup-sessions
    server b2 127.0.0.1:{{b}} backup
",
        )
        .bin(&bin)
        .port("a", active.port())
        .port("b", backup.port())
        .start();
        let who = bin.display().to_string();
        let sock = p.dir().join("s.sock");
        for (down, up) in [("health down", "health up"), ("state maint", "state ready")] {
            // Marked DOWN: the sessions on l/s1 and on its tracker t/t1 end with `D`.
            // Marked UP: the sessions on both proxies' backup servers end with `U`.
            for (command, server, cause) in [(down, (&active, "s1", "t1"), "D-"), (up, (&backup, "b1", "b2"), "U-")] {
                let (backend, srv, tracker) = server;
                let before = backend.connections();
                let mut clients = [p.connect("fe"), p.connect("te")];
                for c in &mut clients {
                    c.send(b"x");
                }
                assert!(wait_until(DEADLINE, || backend.connections() == before + 2), "{who}: before `{command}` on {srv}");
                let mark = p.mark();
                assert_eq!(cli(&sock, &format!("set server l/s1 {command}\n")).trim(), "", "{who}: {command}");
                for (c, (px, srv)) in clients.iter_mut().zip([("l", srv), ("t", tracker)]) {
                    assert_ne!(c.recv_until_close().1, CloseKind::Timeout, "{who}: {command}: the session on {px}/{srv} stays");
                    let line = p.wait_for_line_after(mark, |l| l.contains(&format!(" {px} {px}/{srv} ")), DEADLINE);
                    assert_eq!(TcpLog::parse(&line).termination, cause, "{who}: {command}: {line}");
                }
            }
        }
    }
}

/// The `weight` column of `show stat` for `l/s1`.
fn stat_weight(p: &Proxy) -> String {
    let out = cli(&p.dir().join("s.sock"), "show stat\n");
    let header: Vec<&str> = out.lines().next().unwrap_or("").trim_start_matches("# ").split(',').collect();
    let col = header.iter().position(|h| *h == "weight").expect("a weight column");
    let row = out.lines().find(|l| l.starts_with("l,s1,")).unwrap_or_else(|| panic!("no l/s1 row in {out}"));
    row.split(',').nth(col).unwrap_or("").to_string()
}

#[test]
fn agent_check_as_haproxy() {
    use std::io::{Read, Write};
    use std::sync::{Arc, Mutex};
    for bin in moonproxy_and_haproxy() {
        let reply = Arc::new(Mutex::new(String::from("75%\n")));
        let heard = Arc::new(Mutex::new(Vec::<Vec<u8>>::new()));
        let (r, h) = (reply.clone(), heard.clone());
        let agent = Backend::custom(move |mut s, _| {
            s.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
            let mut buf = [0u8; 64];
            let n = s.read(&mut buf).unwrap_or(0);
            h.lock().unwrap().push(buf[..n].to_vec());
            let _ = s.write_all(r.lock().unwrap().as_bytes());
        });
        let server = Backend::echo();
        let p = ProxyBuilder::new(
            r#"global
    log stdout format raw local0
    stats socket {{dir}}/s.sock level admin
defaults
    mode tcp
    log global
    timeout connect 1s
    timeout client 3s
    timeout server 3s
listen l
    bind 127.0.0.1:{{fe}}
    server s1 127.0.0.1:{{be}} weight 20 agent-check agent-port {{agent}} agent-inter 100 agent-send "hello\n"
"#,
        )
        .bin(&bin)
        .port("be", server.port())
        .port("agent", agent.port())
        .start();
        let who = bin.display().to_string();
        let set = |s: &str| *reply.lock().unwrap() = s.to_string();
        assert!(wait_until(DEADLINE, || stat_weight(&p) == "15"), "{who}: 75% of 20");
        assert_eq!(heard.lock().unwrap()[0], b"hello\n", "{who}: agent-send");
        set("down #gone fishing\n");
        p.wait_for_line(
            |l| l.starts_with("Server l/s1 is DOWN, reason: Layer7 wrong status, code: 0, info: \"via agent : down (gone fishing)\", check duration: "),
            DEADLINE,
        );
        set("up 100%\n");
        p.wait_for_line(|l| l.starts_with("Server l/s1 is UP, reason: Layer7 check passed, code: 0, info: \"via agent : up\", check duration: "), DEADLINE);
        assert!(wait_until(DEADLINE, || stat_weight(&p) == "20"), "{who}: 100%");
        set("drain\n");
        p.wait_for_line(|l| l.starts_with("Server l/s1 enters drain state."), DEADLINE);
        set("ready\n");
        p.wait_for_line(|l| l == "Server l/s1 is UP (leaving forced drain).", DEADLINE);
        set("maint\n");
        p.wait_for_line(|l| l.starts_with("Server l/s1 is going DOWN for maintenance."), DEADLINE);
        set("ready\n");
        p.wait_for_line(|l| l == "Server l/s1 is UP/READY (leaving forced maintenance).", DEADLINE);
    }
}

#[test]
fn bind_socket_options() {
    let backend = Backend::echo();
    let p = ProxyBuilder::new(
        "global
    log stdout format raw local0
defaults
    mode tcp
    log global
    timeout connect 1s
    timeout client 3s
    timeout server 3s
frontend fe
    bind 127.0.0.1:{{fe}} mss 1200 interface lo defer-accept tfo nice 10 thread 1 process 1 id 7 accept-proxy
    default_backend be
backend be
    server s1 127.0.0.1:{{be}}
",
    )
    .port("be", backend.port())
    .start();
    // The listener works, and `id 7` names it in the PROXY-header error line.
    let mut c = p.connect("fe");
    c.send(b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\nping");
    assert_eq!(c.recv_exact(4), b"ping");
    let mut bad = p.connect("fe");
    bad.send(b"nonsense");
    let _ = bad.recv_until_close();
    p.wait_for_line(|l| l.contains("] fe/7: Received something which does not look like a PROXY protocol header"), DEADLINE);
}

#[test]
fn slowstart_ramps_the_weight_up() {
    for bin in moonproxy_and_haproxy() {
        let server = Backend::echo();
        let chk_port = free_port();
        let p = ProxyBuilder::new(
            "global
    stats socket {{dir}}/s.sock level admin
defaults
    mode tcp
    timeout connect 1s
    timeout client 3s
    timeout server 3s
listen l
    bind 127.0.0.1:{{fe}}
    server s1 127.0.0.1:{{be}} weight 40 check port {{chk}} inter 100 rise 1 fall 1 slowstart 3s
",
        )
        .bin(&bin)
        .port("be", server.port())
        .port("chk", chk_port)
        .start();
        let who = bin.display().to_string();
        assert!(wait_until(DEADLINE, || cli(&p.dir().join("s.sock"), "show stat\n").contains("l,s1,") && {
            let out = cli(&p.dir().join("s.sock"), "show stat\n");
            out.lines().any(|l| l.starts_with("l,s1,") && l.contains(",DOWN,"))
        }), "{who}: DOWN first");
        let _chk = TcpListener::bind(("127.0.0.1", chk_port)).unwrap();
        let is_up = || cli(&p.dir().join("s.sock"), "show stat\n").lines().any(|l| l.starts_with("l,s1,") && l.contains(",UP,"));
        assert!(wait_until(DEADLINE, is_up), "{who}: back UP");
        // Back UP: a small weight first, then the whole of it within the 3 s.
        let mut seen = Vec::new();
        assert!(
            wait_until(DEADLINE, || {
                let w: u32 = stat_weight(&p).parse().unwrap_or(0);
                if seen.last() != Some(&w) {
                    seen.push(w);
                }
                w == 40
            }),
            "{who}: {seen:?}"
        );
        assert!(seen.iter().any(|&w| w > 0 && w < 40), "{who}: the weight grew in steps: {seen:?}");
    }
}

#[test]
fn init_addr_methods() {
    for bin in moonproxy_and_haproxy() {
        let server = Backend::echo();
        let p = ProxyBuilder::new(
            "global
    stats socket {{dir}}/s.sock level admin
defaults
    mode tcp
    timeout connect 1s
    timeout client 3s
    timeout server 3s
listen l
    bind 127.0.0.1:{{fe}}
    server s1 nohost.invalid:{{be}} init-addr last,libc,127.0.0.1
    server s2 nohost.invalid:1 init-addr none
",
        )
        .bin(&bin)
        .port("be", server.port())
        .start();
        let who = bin.display().to_string();
        let mut c = p.connect("fe");
        c.send(b"ping");
        assert_eq!(c.recv_exact(4), b"ping", "{who}: s1 at 127.0.0.1");
        let out = cli(&p.dir().join("s.sock"), "show stat\n");
        let row = out.lines().find(|l| l.starts_with("l,s2,")).unwrap_or_else(|| panic!("{who}: {out}"));
        assert!(row.split(',').nth(17).unwrap_or("").starts_with("MAINT"), "{who}: {row}");
    }
    // Without a method that works, the configuration is refused.
    let out = ProxyBuilder::new("defaults\n    mode tcp\nlisten l\n    bind 127.0.0.1:{{fe}}\n    server s1 nohost.invalid:80 init-addr last,libc\n").arg("-c").run();
    assert_ne!(out.code(), Some(0));
}

#[test]
fn track_follows_the_tracked_server() {
    for bin in moonproxy_and_haproxy() {
        let chk_port = free_port();
        let p = ProxyBuilder::new(
            "global
    log stdout format raw local0
defaults
    mode tcp
    log global
    timeout connect 1s
    timeout client 3s
    timeout server 3s
listen l
    bind 127.0.0.1:{{fe}}
    server s1 127.0.0.1:1 check port {{chk}} inter 100 rise 1 fall 1
    server s2 127.0.0.1:2 track s1
backend b2
    server t 127.0.0.1:3 track l/s1
",
        )
        .bin(&bin)
        .port("chk", chk_port)
        .start();
        let who = bin.display().to_string();
        // Logged and printed on stderr: the log lines only (no `[WARNING]` prefix).
        let lines = p.wait_for_lines(2, |l| l.starts_with("Server ") && l.contains(" via "), DEADLINE);
        assert_eq!(
            lines,
            [
                "Server b2/t is DOWN via l/s1. 0 active and 0 backup servers left. 0 sessions active, 0 requeued, 0 remaining in queue.",
                "Server l/s2 is DOWN via l/s1. 0 active and 0 backup servers left. 0 sessions active, 0 requeued, 0 remaining in queue.",
            ],
            "{who}"
        );
        let _chk = TcpListener::bind(("127.0.0.1", chk_port)).unwrap();
        p.wait_for_line(|l| l == "Server l/s2 is UP via l/s1. 2 active and 0 backup servers online. 0 sessions requeued, 0 total in queue.", DEADLINE);
    }
}

/// The `status` of the servers of a `show stat` CSV, by `proxy/server`.
fn statuses(stat: &str) -> std::collections::HashMap<String, String> {
    stat.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            Some((format!("{}/{}", f.first()?, f.get(1)?), f.get(17)?.to_string()))
        })
        .collect()
}

/// A server that tracks another shows the tracked server's health and inherits its
/// maintenance (`MAINT (via b/s)`, taking no traffic) and drain, in `show stat` (CSV
/// and typed) and on the stats page, with HAProxy 2.6's log lines.
#[test]
fn tracking_servers_show_the_tracked_state_as_haproxy() {
    let app = Backend::http(b"ok");
    for bin in moonproxy_and_haproxy() {
        let p = ProxyBuilder::new(
            "global
    stats socket {{dir}}/s.sock level admin
defaults
    mode http
    timeout connect 1s
    timeout client 3s
    timeout server 3s
listen stats
    bind 127.0.0.1:{{stats}}
    stats enable
    stats uri /
listen l
    bind 127.0.0.1:{{fe}}
    server other 127.0.0.1:{{app}} check inter 100 rise 1 fall 1
    server t 127.0.0.1:{{app}} track other
listen b2
    bind 127.0.0.1:{{fe2}}
    server t3 127.0.0.1:{{app}} track l/t
",
        )
        .bin(&bin)
        .port("app", app.port())
        .start();
        let who = bin.display().to_string();
        let sock = p.dir().join("s.sock");
        let stat = || statuses(&cli(&sock, "show stat\n"));
        let wait_status = |srv: &str, want: &str| {
            let ok = wait_until(DEADLINE, || stat().get(srv).is_some_and(|s| s == want));
            assert!(ok, "{who}: {srv} never {want}: {:?}", stat());
        };
        wait_status("l/other", "UP");
        // A tracking server has no check of its own: it shows the tracked one's health.
        let s = stat();
        assert_eq!((s["l/t"].as_str(), s["b2/t3"].as_str()), ("UP", "UP"), "{who}");

        let mark = p.mark();
        assert_eq!(cli(&sock, "disable server l/other\n").trim(), "", "{who}");
        let s = stat();
        assert_eq!(s["l/other"], "MAINT", "{who}");
        assert_eq!(s["l/t"], "MAINT (via l/other)", "{who}");
        assert_eq!(s["b2/t3"], "MAINT (via l/t)", "{who}");
        assert_eq!(s["b2/BACKEND"], "DOWN", "{who}: the inherited maintenance takes t3 out");
        let typed = cli(&sock, "show stat typed\n");
        assert!(typed.lines().any(|l| l.contains(".status.") && l.ends_with(":str:MAINT (via l/other)")), "{who}: {typed}");
        p.wait_for_line_after(mark, |l| l.contains("Server l/t is going DOWN for maintenance via l/other. "), DEADLINE);
        p.wait_for_line_after(mark, |l| l.contains("Server b2/t3 is going DOWN for maintenance via l/t. "), DEADLINE);
        let mut c = p.connect("fe2");
        let res = c.http_request(b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n");
        assert_eq!(res.status, 503, "{who}");
        // The page shows it too (HAProxy in a column of its own, moonproxy in `Status`).
        let page = Client::connect(p.port("stats")).http_request(b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n");
        let page = String::from_utf8_lossy(&page.body).into_owned();
        let via = if bin == moonproxy_bin() { "MAINT (via l/other)" } else { ">via l/other</a>" };
        assert!(page.contains(via), "{who}: {page}");

        // Its own maintenance ends, the inherited one stays.
        assert_eq!(cli(&sock, "disable server l/t\n").trim(), "", "{who}");
        let mark = p.mark();
        assert_eq!(cli(&sock, "enable server l/t\n").trim(), "", "{who}");
        p.wait_for_line_after(mark, |l| l.contains("Server l/t is leaving forced maintenance but remains in maintenance via l/other."), DEADLINE);
        assert_eq!(stat()["l/t"], "MAINT (via l/other)", "{who}");

        let mark = p.mark();
        assert_eq!(cli(&sock, "enable server l/other\n").trim(), "", "{who}");
        p.wait_for_line_after(mark, |l| l.contains("Server b2/t3 is UP/READY (leaving maintenance)."), DEADLINE);
        wait_status("l/other", "UP");
        let s = stat();
        assert_eq!((s["l/t"].as_str(), s["b2/t3"].as_str()), ("UP", "UP"), "{who}");
        let mut c = p.connect("fe2");
        assert_eq!(c.http_request(b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n").status, 200, "{who}");

        let mark = p.mark();
        assert_eq!(cli(&sock, "set server l/other state drain\n").trim(), "", "{who}");
        let s = stat();
        assert_eq!((s["l/other"].as_str(), s["l/t"].as_str(), s["b2/t3"].as_str()), ("DRAIN", "DRAIN", "DRAIN"), "{who}");
        p.wait_for_line_after(mark, |l| l.contains("Server l/t enters drain state via l/other. "), DEADLINE);
        let mark = p.mark();
        assert_eq!(cli(&sock, "set server l/other state ready\n").trim(), "", "{who}");
        p.wait_for_line_after(mark, |l| l.contains("Server b2/t3 is UP (leaving forced drain)."), DEADLINE);
        assert_eq!(stat()["b2/t3"], "UP", "{who}");

        // The tracked server forced DOWN: its trackers follow.
        let mark = p.mark();
        assert_eq!(cli(&sock, "set server l/other health down\n").trim(), "", "{who}");
        p.wait_for_line_after(mark, |l| l.contains("Server l/t is DOWN via l/other. "), DEADLINE);
    }
}

/// A server tracking one `disabled` in the configuration starts in maintenance "via"
/// it (and takes no traffic); one in maintenance of its own follows its tracked
/// server's health without a word and leaves maintenance in that state, as HAProxy 2.6.
#[test]
fn trackers_of_disabled_servers_start_in_maintenance() {
    let (dead, dead2) = (RefusingPort::new(), RefusingPort::new());
    let app = Backend::http(b"ok");
    for bin in moonproxy_and_haproxy() {
        let p = ProxyBuilder::new(
            "global
    stats socket {{dir}}/s.sock level admin
defaults
    mode http
    timeout connect 1s
    timeout client 3s
    timeout server 3s
listen l
    bind 127.0.0.1:{{fe}}
    server other 127.0.0.1:{{dead}} check inter 100 disabled
    server t 127.0.0.1:{{app}} track other
    server d 127.0.0.1:{{dead2}} check inter 100 rise 1 fall 1
    server t2 127.0.0.1:{{app}} track d disabled
",
        )
        .bin(&bin)
        .port("app", app.port())
        .port("dead", dead.port())
        .port("dead2", dead2.port())
        .start();
        let who = bin.display().to_string();
        let sock = p.dir().join("s.sock");
        let stat = || statuses(&cli(&sock, "show stat\n"));
        // d goes DOWN; t2, in maintenance, follows silently; nothing serves l.
        p.wait_for_line(|l| l.contains("Server l/d is DOWN") && l.contains(". 0 active and 0 backup servers left."), DEADLINE);
        let s = stat();
        assert_eq!((s["l/other"].as_str(), s["l/t"].as_str(), s["l/t2"].as_str()), ("MAINT", "MAINT (via l/other)", "MAINT"), "{who}");
        assert_eq!(p.connect("fe").http_request(b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n").status, 503, "{who}");
        assert_eq!(app.stats().requests(), 0, "{who}: t took traffic while other is disabled");
        let mark = p.mark();
        assert_eq!(cli(&sock, "enable server l/t2\n").trim(), "", "{who}");
        p.wait_for_line_after(mark, |l| l.contains("Server l/t2 is DOWN/READY (leaving forced maintenance)."), DEADLINE);
        assert_eq!(stat()["l/t2"], "DOWN", "{who}");
        assert_eq!(p.count_lines(|l| l.contains("Server l/t2 is DOWN via")), 0, "{who}: a server in maintenance follows silently");
        if bin == moonproxy_bin() {
            // An added tracker too (HAProxy 2.6 shows it `UP 0/2`: doc/cli.md).
            assert_eq!(cli(&sock, "add server l/n 127.0.0.1:1 track other enabled\n").trim(), "New server registered.");
            assert_eq!(stat()["l/n"], "MAINT (via l/other)");
        }
    }
}
