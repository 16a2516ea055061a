//! Forms that a survey of 121 public haproxy.cfg files found HAProxy 2.6 accepting and
//! moonproxy refusing (doc/config.md): each runs on both proxies with the same file, and
//! the answers (or `-c` verdicts and warnings) are compared.

mod common;

use common::*;

const DEFAULTS: &str = "defaults\n mode http\n timeout client 5s\n timeout server 5s\n timeout connect 5s\n";

/// `redirect` options before the redirection type, and `OR` in capitals.
#[test]
fn redirect_options_in_any_order_and_capital_or_as_haproxy() {
    let mut runs = Vec::new();
    for bin in moonproxy_and_haproxy() {
        let proxy = ProxyBuilder::new(&format!(
            "{DEFAULTS}frontend f\n bind 127.0.0.1:{{{{f}}}}\n acl a path /a\n acl b path /b\n\
             http-request deny deny_status 403 if a OR b\n\
             http-request redirect code 301 location /moved if {{ path /c }}\n\
             http-request return status 200 if {{ path /other }}\n\
             redirect code 308 drop-query prefix /p if {{ path_beg /d }}\n"
        ))
        .bin(&bin)
        .start();
        let mut seen = Vec::new();
        for path in ["/a", "/b", "/c", "/d/x?q=1", "/other"] {
            let r = Client::connect(proxy.port("f")).http_get(path);
            let location = r.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case("location")).map(|(_, v)| v.clone());
            seen.push(format!("{path} {} {location:?}", r.status));
        }
        runs.push((bin, seen));
    }
    assert_eq!(runs[0].1, ["/a 403 None", "/b 403 None", "/c 301 Some(\"/moved\")", "/d/x?q=1 308 Some(\"/p/d/x\")", "/other 200 None"]);
    assert_runs_agree(&runs);
}

/// `bind-process` in a proxy: a deprecation warning, as HAProxy 2.6 gives, and a
/// process that does not exist refused.
#[test]
fn bind_process_is_a_warning_as_in_haproxy() {
    for bin in moonproxy_and_haproxy() {
        let out = ProxyBuilder::new(&format!(
            "{DEFAULTS}frontend f\n bind 127.0.0.1:{{{{f}}}}\n bind-process all\n http-request return status 200\n"
        ))
        .bin(&bin)
        .flags(["-c"])
        .run();
        assert_eq!(out.code(), Some(0), "{}: {}", bin.display(), out.stderr);
        assert!(out.stderr.contains(":8]: 'bind-process' has no effect, is deprecated, and will be removed in version 2.7."), "{}: {}", bin.display(), out.stderr);
        let out = ProxyBuilder::new(&format!(
            "{DEFAULTS}frontend f\n bind 127.0.0.1:{{{{f}}}}\n bind-process 1-2\n http-request return status 200\n"
        ))
        .bin(&bin)
        .flags(["-c"])
        .run();
        assert_ne!(out.code(), Some(0), "{}", bin.display());
        assert!(out.stderr.contains("bind-process : '1-2' is not a valid number/range. It supports numbers from 1 to 1."), "{}: {}", bin.display(), out.stderr);
    }
}

/// The `parsing [file:N] : message` alerts of a `-c` run, as `N message`.
fn alerts(stderr: &str) -> Vec<String> {
    stderr
        .lines()
        .filter_map(|l| {
            let rest = l.split("parsing [").nth(1)?;
            let (place, msg) = rest.split_once("] : ")?;
            Some(format!("{} {msg}", place.rsplit(':').next()?))
        })
        .collect()
}

/// Directives of HAProxy 1.x that old configurations still carry, and the address on a
/// `frontend`/`listen` line: HAProxy 2.6's refusals name what replaces them, and
/// moonproxy gives the same words rather than "unknown keyword".
#[test]
fn removed_directives_are_refused_in_haproxys_words() {
    let cfg = format!(
        "{DEFAULTS}frontend old *:8080\n mode http\nbackend b\n contimeout 5s\n clitimeout 5s\n srvtimeout 5s\n\
         reqadd X-A:\\ b\n rspadd X-A:\\ b\n reqrep ^a b\n reqidel ^X\n rspdeny ^Y\n block if TRUE\n\
         redispatch\n monitor-net 10.0.0.0/8\n appsession JSESSIONID len 52\n"
    );
    let mut runs = Vec::new();
    for bin in moonproxy_and_haproxy() {
        let out = ProxyBuilder::new(&cfg).bin(&bin).flags(["-c"]).run();
        assert_ne!(out.code(), Some(0), "{}", bin.display());
        runs.push((bin, alerts(&out.stderr)));
    }
    assert_eq!(runs[0].1.len(), 14, "{:?}", runs[0].1);
    assert_eq!(runs[0].1[0], "6 please use the 'bind' keyword for listening addresses.");
    assert_eq!(runs[0].1[1], "7 'listen' or 'defaults' expected.");
    assert_runs_agree(&runs);
}

/// A timer with characters after its unit (`15min`, `1s[`) is read up to the unit, with
/// HAProxy 2.6's warning (the server line's placed as HAProxy places it).
#[test]
fn timers_with_trailing_characters_warn_as_in_haproxy() {
    let cfg = "defaults\n mode http\n timeout client 15min\n timeout server 30sec\n timeout connect 5s\n\
               frontend f\n bind 127.0.0.1:{{f}}\n default_backend b\n\
               backend b\n server s 127.0.0.1:{{f}} check inter 1s[\n";
    let mut runs = Vec::new();
    for bin in moonproxy_and_haproxy() {
        let out = ProxyBuilder::new(cfg).bin(&bin).flags(["-c"]).run();
        assert_eq!(out.code(), Some(0), "{}: {}", bin.display(), out.stderr);
        let warnings: Vec<String> = out
            .stderr
            .lines()
            .filter(|l| l.contains("after the timer value"))
            .map(|l| {
                let msg = l.split(" : config : ").nth(1).unwrap_or(l);
                // `[/tmp/.../proxy.cfg:10] : ...`: the line number stays, the directory goes.
                match msg.strip_prefix('[').and_then(|r| r.split_once("] : ")) {
                    Some((place, rest)) => format!("[{}] : {rest}", place.rsplit(':').next().unwrap_or("")),
                    None => msg.to_string(),
                }
            })
            .collect();
        runs.push((bin, warnings));
    }
    assert_eq!(runs[0].1.len(), 3, "{:?}", runs[0].1);
    assert!(runs[0].1[0].starts_with("unexpected character 'i' after the timer value '15min'"), "{:?}", runs[0].1);
    assert_runs_agree(&runs);
}


/// `src_http_req_rate()` with an empty argument reads the proxy's own table, and a
/// server's `addr` may be a host name: both accepted by HAProxy 2.6 and seen in users'
/// files. The rate a client sees after three requests is compared.
#[test]
fn empty_table_argument_and_addr_host_name_as_haproxy() {
    let mut runs = Vec::new();
    for bin in moonproxy_and_haproxy() {
        let proxy = ProxyBuilder::new(&format!(
            "{DEFAULTS}frontend f\n bind 127.0.0.1:{{{{f}}}}\n stick-table type ip size 1k expire 1m store http_req_rate(10s)\n\
             http-request track-sc0 src\n\
             http-request return status 200 hdr x-rate %[src_http_req_rate()]\n\
             backend b\n server s 127.0.0.1:{{{{f}}}} check addr localhost port {{{{f}}}}\n"
        ))
        .bin(&bin)
        .start();
        let mut seen = Vec::new();
        for _ in 0..3 {
            let r = Client::connect(proxy.port("f")).http_get("/");
            seen.push(r.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case("x-rate")).map(|(_, v)| v.clone()));
        }
        runs.push((bin, seen));
    }
    assert_eq!(runs[0].1, [Some("1".to_string()), Some("2".to_string()), Some("3".to_string())]);
    assert_runs_agree(&runs);
}

/// A configuration whose only listeners are a stats socket or the local peer is valid
/// for `-c`, as HAProxy 2.6 says (both run it).
#[test]
fn a_stats_socket_or_a_local_peer_is_a_listener_for_the_check() {
    for bin in moonproxy_and_haproxy() {
        for (cfg, flags) in [
            (format!("global\n stats socket {{{{dir}}}}/s.sock\n{DEFAULTS}"), vec!["-c"]),
            (format!("peers p\n peer me 127.0.0.1:{{{{pp}}}}\n{DEFAULTS}"), vec!["-c", "-L", "me"]),
        ] {
            let out = ProxyBuilder::new(&cfg).bin(&bin).flags(flags).free_port("pp").run();
            assert_eq!(out.code(), Some(0), "{}: {cfg}\n{}{}", bin.display(), out.stdout, out.stderr);
            assert!(out.stdout.contains("Configuration file is valid"), "{}: {}", bin.display(), out.stdout);
        }
    }
}

/// `return ... errorfile <file>`: the file is the whole response, its status line winning
/// over `status`, as HAProxy 2.6 sends it.
#[test]
fn return_with_an_errorfile_sends_the_file_as_haproxy() {
    let mut runs = Vec::new();
    for bin in moonproxy_and_haproxy() {
        let proxy = ProxyBuilder::new(&format!(
            "{DEFAULTS}frontend f\n bind 127.0.0.1:{{{{f}}}}\n\
             http-request return status 404 errorfile {{{{dir}}}}/e.http if {{ path /a }}\n\
             http-request return status 200\n"
        ))
        .file("e.http", "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nX-From: file\r\nContent-Length: 5\r\n\r\nsorry")
        .bin(&bin)
        .start();
        let r = Client::connect(proxy.port("f")).http_get("/a");
        let from = r.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case("x-from")).map(|(_, v)| v.clone());
        runs.push((bin, vec![format!("{} {from:?} {}", r.status, String::from_utf8_lossy(&r.body))]));
    }
    assert_eq!(runs[0].1, ["503 Some(\"file\") sorry"]);
    assert_runs_agree(&runs);
}

/// `filter cache <name>`: the explicit declaration of the cache `cache-use` and
/// `cache-store` name, with HAProxy's refusals.
#[test]
fn filter_cache_is_checked_as_in_haproxy() {
    for (line, expected) in [
        ("filter cache c", None),
        ("filter cache", Some("'filter' : 'cache : expects a <name> argument'")),
        ("filter cache c extra", Some("'filter cache' : unknown keyword 'extra'.")),
        ("filter cache nosuch", Some("config: frontend 'f': unable to find the cache 'nosuch' referenced by the filter 'cache'.")),
    ] {
        for bin in moonproxy_and_haproxy() {
            let cfg = format!(
                "cache c\n total-max-size 4\n{DEFAULTS}frontend f\n bind 127.0.0.1:{{{{f}}}}\n {line}\n\
                 http-request cache-use c\n http-response cache-store c\n http-request return status 200\n"
            );
            let out = ProxyBuilder::new(&cfg).bin(&bin).flags(["-c"]).run();
            match expected {
                None => assert_eq!(out.code(), Some(0), "{}: {line}: {}", bin.display(), out.stderr),
                Some(msg) => {
                    assert_ne!(out.code(), Some(0), "{}: {line}", bin.display());
                    assert!(out.stderr.contains(msg), "{}: {line}: {}", bin.display(), out.stderr);
                }
            }
        }
    }
}

/// The alert and warning lines of a `-c` run, without the pid and the directory.
fn diagnostics(stderr: &str) -> Vec<String> {
    stderr
        .lines()
        .filter(|l| l.starts_with("[ALERT]") || l.starts_with("[WARNING]"))
        .filter(|l| !l.contains("Error(s) found") && !l.contains("Fatal errors"))
        .map(|l| {
            let msg = l.split(" : config : ").nth(1).unwrap_or(l);
            match msg.split_once('[').and_then(|(pre, r)| r.split_once(']').map(|(place, post)| (pre, place, post))) {
                Some((pre, place, post)) => format!("{pre}[{}]{post}", place.rsplit(':').next().unwrap_or("")),
                None => msg.to_string(),
            }
        })
        .collect()
}

/// What a second survey (123 more files) found worded differently or refused: `nbproc`,
/// `option httplog` in a backend, `option forwardfor|originalto` in TCP mode, a `deny`
/// status without an error page, `fall 2s` (read as 2, as `atol` does).
#[test]
fn second_survey_messages_as_haproxy() {
    for cfg in [
        "global\n nbproc 2\n".to_string(),
        format!("{DEFAULTS}backend b\n option httplog\n server s 127.0.0.1:1 check fall 2s rise 3x\nbackend c\n server s 127.0.0.1:1 check fall abc\n"),
        format!("{DEFAULTS}option forwardfor\nfrontend f\n bind 127.0.0.1:{{{{f}}}}\n mode tcp\n option originalto\n default_backend b\nbackend b\n mode tcp\n server s 127.0.0.1:1\n"),
        format!("{DEFAULTS}frontend f\n bind 127.0.0.1:{{{{f}}}}\n http-request deny deny_status 509\n http-request deny deny_status 509 content-type text/plain string x\n"),
        format!("{DEFAULTS}frontend f\n bind 127.0.0.1:{{{{f}}}}\n acl a1 dst_port 80:abc\n acl a2 hdr_cnt(x) gtx 3\n acl a3 !hdr(accept) -m found\n acl a4 req.hdr(x),wordcount -m found\n"),
    ] {
        let mut runs = Vec::new();
        for bin in moonproxy_and_haproxy() {
            let out = ProxyBuilder::new(&cfg).bin(&bin).flags(["-c"]).run();
            runs.push((bin, diagnostics(&out.stderr)));
        }
        assert!(!runs[0].1.is_empty(), "{cfg}");
        assert_runs_agree(&runs);
    }
}

/// `filter trace`: checked as HAProxy 2.6 checks it, then accepted without effect
/// with a warning (doc/http.md says why); traffic goes through as without it.
#[test]
fn filter_trace_is_accepted_with_a_warning() {
    for (line, expected) in [
        ("filter trace", None),
        ("filter trace name T random-parsing random-forwarding hexdump", None),
        ("filter trace foo", Some("'filter trace' : unknown keyword 'foo'.")),
        ("filter trace name", Some("'filter' : ''trace' : 'name' option without value'")),
    ] {
        for bin in moonproxy_and_haproxy() {
            let cfg = format!("{DEFAULTS}frontend f\n bind 127.0.0.1:{{{{f}}}}\n {line}\n http-request return status 200\n");
            let out = ProxyBuilder::new(&cfg).bin(&bin).flags(["-c"]).run();
            match expected {
                None => {
                    assert_eq!(out.code(), Some(0), "{}: {line}: {}", bin.display(), out.stderr);
                    if bin == moonproxy_bin() {
                        assert!(out.stderr.contains("[WARNING]") && out.stderr.contains("'filter trace' has no effect in moonproxy"), "{line}: {}", out.stderr);
                    }
                }
                Some(msg) => {
                    assert_ne!(out.code(), Some(0), "{}: {line}", bin.display());
                    assert!(out.stderr.contains(msg), "{}: {line}: {}", bin.display(), out.stderr);
                }
            }
        }
    }
    let defaults = format!("{DEFAULTS} filter trace\nfrontend f\n bind 127.0.0.1:{{{{f}}}}\n http-request return status 200\n");
    for bin in moonproxy_and_haproxy() {
        let out = ProxyBuilder::new(&defaults).bin(&bin).flags(["-c"]).run();
        // (HAProxy: "filter is not allowed in a 'default' section.", moonproxy: its
        // words for any keyword out of place.)
        assert!(out.code() != Some(0) && out.stderr.contains("filter") && out.stderr.contains("default"), "{}: {}", bin.display(), out.stderr);
    }
    let proxy = ProxyBuilder::new(&format!("{DEFAULTS}frontend f\n bind 127.0.0.1:{{{{f}}}}\n filter trace name T\n http-request return status 200 content-type text/plain string ok\n")).start();
    let r = Client::connect(proxy.port("f")).http_request(b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n");
    assert_eq!((r.status, r.body.as_slice()), (200, &b"ok"[..]));
}

/// `req_ssl_ver` patterns that are not dotted versions, and an integer operator without
/// a number, in HAProxy's words.
#[test]
fn req_ssl_ver_pattern_errors_as_haproxy() {
    let cfg = format!(
        "{DEFAULTS}frontend f\n bind 127.0.0.1:{{{{f}}}}\n mode tcp\n acl a req_ssl_ver 3.x\n acl b req.ssl_ver 3.1:x\n acl c req_ssl_ver -m int 3.1\n acl d req_ssl_ver gt x\n acl e dst_port gt x\n"
    );
    let mut runs = Vec::new();
    for bin in moonproxy_and_haproxy() {
        let out = ProxyBuilder::new(&cfg).bin(&bin).flags(["-c"]).run();
        runs.push((bin, diagnostics(&out.stderr)));
    }
    assert_eq!(runs[0].1.len(), 5, "{:?}", runs[0].1);
    assert_runs_agree(&runs);
}

/// `tarpit` (and `deny`) with `return` arguments (`status`, `hdr`, a payload, an
/// errorfile): after the wait, the reply they build, as HAProxy 2.6 sends it; with only
/// `deny_status` (or nothing), the error page. The replies are compared byte for byte
/// but for the `connection: close` moonproxy adds to a reply it closes after.
#[test]
fn tarpit_and_deny_with_return_arguments_as_haproxy() {
    let cfg = format!(
        "{DEFAULTS} timeout tarpit 100ms\nfrontend f\n bind 127.0.0.1:{{{{f}}}}\n\
         http-request tarpit hdr x-a b if {{ path /t1 }}\n\
         http-request tarpit status 403 hdr x-a b if {{ path /t2 }}\n\
         http-request tarpit deny_status 429 hdr x-a b content-type text/plain string hello if {{ path /t3 }}\n\
         http-request tarpit content-type text/plain if {{ path /t4 }}\n\
         http-request tarpit deny_status 429 if {{ path /t5 }}\n\
         http-request tarpit if {{ path /t6 }}\n\
         http-request tarpit deny_status 503 errorfile {{{{dir}}}}/e.http if {{ path /t7 }}\n\
         http-request deny hdr x-a b if {{ path /d1 }}\n\
         http-request deny status 403 if {{ path /d2 }}\n\
         http-request deny deny_status 403 if {{ path /d3 }}\n\
         http-request return status 200\n"
    );
    let mut runs = Vec::new();
    for bin in moonproxy_and_haproxy() {
        let proxy = ProxyBuilder::new(&cfg).bin(&bin).file("e.http", "HTTP/1.0 503 Nope\r\ncontent-type: text/plain\r\n\r\nerrorfile body\n").start();
        let mut seen = Vec::new();
        for path in ["/t1", "/t2", "/t3", "/t4", "/t5", "/t6", "/t7", "/d1", "/d2", "/d3"] {
            let mut c = proxy.connect("f");
            c.send(format!("GET {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n").as_bytes());
            let (bytes, _) = c.recv_until_close();
            let text = String::from_utf8_lossy(&bytes).replace("connection: close\r\n", "");
            seen.push(format!("{path} {text}"));
        }
        runs.push((bin, seen));
    }
    assert!(runs[0].1[2].contains("HTTP/1.1 429 Too Many Requests\r\nx-a: b\r\ncontent-length: 5\r\ncontent-type: text/plain\r\n\r\nhello"), "{:?}", runs[0].1);
    assert_runs_agree(&runs);
}

/// An HTTP frontend (or listen) whose `default_backend` or `use_backend` names a TCP
/// backend is refused, as HAProxy 2.6 refuses it (a TCP frontend may hand over to an
/// HTTP backend; a log-format name is resolved per request and not checked).
#[test]
fn http_frontends_cannot_use_tcp_backends_as_in_haproxy() {
    let cfg = format!(
        "{DEFAULTS}frontend f\n bind 127.0.0.1:{{{{f}}}}\n default_backend t\n use_backend l if {{ path /l }}\n use_backend %[str(t)] if {{ path /d }}\n\
         frontend up\n mode tcp\n bind 127.0.0.1:{{{{u}}}}\n default_backend h\n\
         backend t\n mode tcp\n server s 127.0.0.1:1\n\
         listen l\n mode tcp\n bind 127.0.0.1:{{{{l}}}}\n server s 127.0.0.1:1\n\
         backend h\n server s 127.0.0.1:1\n"
    );
    let mut runs = Vec::new();
    for bin in moonproxy_and_haproxy() {
        let out = ProxyBuilder::new(&cfg).bin(&bin).flags(["-c"]).run();
        assert_eq!(out.code(), Some(1), "{bin:?}: {}", out.stderr);
        // `(<file>:<line>)` read as `(<line>)`: the two runs' files differ.
        let lines: Vec<String> = diagnostics(&out.stderr)
            .into_iter()
            .map(|l| l.split(" (").map(|part| part.rsplit_once(".cfg:").map_or(part.to_string(), |(_, line)| line.to_string())).collect::<Vec<_>>().join(" ("))
            .collect();
        runs.push((bin, lines));
    }
    assert_eq!(
        runs[0].1,
        [
            "http frontend 'f' (6) tries to use incompatible tcp backend 't' (15) as its default backend (see 'mode').",
            "http frontend 'f' (6) tries to use incompatible tcp proxy 'l' (18) in a 'use_backend' rule (see 'mode').",
        ]
    );
    assert_runs_agree(&runs);
}

/// `deny` with `return` arguments is still a denial: logged `PR--` and counted in
/// `dreq`, and, as HAProxy 2.6 does, the connection stays open for the next request
/// (it used to close with `connection: close` and log `LR--`).
#[test]
fn deny_with_return_arguments_keeps_the_connection_and_logs_a_denial_as_haproxy() {
    let cfg = format!(
        "global\n log stdout format raw local0\n stats socket {{{{dir}}}}/s.sock level admin\n{DEFAULTS} log global\n option httplog\nfrontend f\n bind 127.0.0.1:{{{{f}}}}\n\
         http-request deny status 418 content-type text/plain string hi if {{ path /r }}\n\
         http-request return status 200 content-type text/plain string ok\n"
    );
    let mut runs = Vec::new();
    for bin in moonproxy_and_haproxy() {
        let proxy = ProxyBuilder::new(&cfg).bin(&bin).start();
        let mut c = proxy.connect("f");
        let denied = c.http_request(b"GET /r HTTP/1.1\r\nhost: x\r\n\r\n");
        let next = c.http_request(b"GET /ok HTTP/1.1\r\nhost: x\r\n\r\n");
        let line = proxy.wait_for_line(|l| l.contains("\"GET /r HTTP/1.1\""), DEADLINE);
        let stat = cli(&proxy.dir().join("s.sock"), "show stat\n");
        let dreq = stat.lines().find(|l| l.starts_with("f,FRONTEND,")).and_then(|l| l.split(',').nth(10)).unwrap_or("").to_string();
        let seen = vec![
            format!("{} {:?} {}", denied.status, denied.header("connection"), String::from_utf8_lossy(&denied.body)),
            format!("{} {}", next.status, String::from_utf8_lossy(&next.body)),
            // The termination state: the field after the two cookie fields.
            line.split(' ').skip_while(|w| *w != "-").nth(2).unwrap_or("").to_string(),
            format!("dreq {dreq}"),
        ];
        runs.push((bin, seen));
    }
    assert_eq!(runs[0].1, ["418 None hi", "200 ok", "PR--", "dreq 1"]);
    assert_runs_agree(&runs);
}

/// `tarpit`, with or without `return` arguments: the held time is logged as the queue
/// time (`Tw`) with no request time (`TR` -1), and the connection stays open for the
/// next request, as HAProxy 2.6 does (moonproxy logged it as the total time only, and
/// closed after a tarpit's own reply).
#[test]
fn tarpit_timers_and_keep_alive_as_haproxy() {
    let cfg = "global\n log stdout format raw local0\ndefaults\n mode http\n log global\n option httplog\n timeout client 5s\n timeout server 5s\n timeout connect 5s\n timeout tarpit 200ms\n\
               frontend f\n bind 127.0.0.1:{{f}}\n\
               http-request tarpit if { path /t }\n\
               http-request tarpit status 429 content-type text/plain string slow if { path /r }\n\
               http-request return status 200 content-type text/plain string ok\n";
    let mut runs = Vec::new();
    for bin in moonproxy_and_haproxy() {
        let proxy = ProxyBuilder::new(cfg).bin(&bin).start();
        let mut seen = Vec::new();
        for path in ["/t", "/r"] {
            let mut c = proxy.connect("f");
            let held = c.http_request(format!("GET {path} HTTP/1.1\r\nhost: x\r\n\r\n").as_bytes());
            let next = c.http_request(b"GET /ok HTTP/1.1\r\nhost: x\r\n\r\n");
            let line = proxy.wait_for_line(|l| l.contains(&format!("\"GET {path} HTTP/1.1\"")), DEADLINE);
            // `TR/Tw/Tc/Tr/Ta`: the fifth field after the date.
            let timers: Vec<i64> = line.split(' ').nth(4).unwrap_or("").split('/').map(|t| t.parse().unwrap_or(i64::MIN)).collect();
            assert!(timers.len() == 5 && timers[1] >= 190, "{bin:?}: Tw is the time held: {line}");
            seen.push(format!("{path} {} {} TR={} Tc={} Tr={} {}", held.status, next.status, timers[0], timers[2], timers[3], line.split(' ').nth(9).unwrap_or("")));
        }
        runs.push((bin, seen));
    }
    assert_eq!(runs[0].1, ["/t 500 200 TR=-1 Tc=-1 Tr=-1 PT--", "/r 429 200 TR=-1 Tc=-1 Tr=-1 PT--"]);
    assert_runs_agree(&runs);
}
