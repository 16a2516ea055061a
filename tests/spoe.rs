//! SPOE (`filter spoe`, doc/spoe.md) with an agent written in the harness
//! (`common::spoa`): the same configuration runs on moonproxy and on HAProxy 2.6, and
//! the test compares what the agent received (message names, argument names, types and
//! values) and what the clients got (the rules acting on the agent's variables).

mod common;

use common::spoa::{set_txn, Messages, Reply, Spoa};
use common::*;
use moonproxy::spoe::frame::Value;
use std::path::PathBuf;
use std::time::Duration;

const SPOE_CONF: &str = "
[e1]
spoe-agent a
    messages check-request
    groups later
    option var-prefix pfx
    option set-on-error err
    timeout hello 2s
    timeout idle 10s
    timeout processing {{processing}}
    use-backend agents

spoe-message check-request
    acl skip path_beg /skip
    args ip=src path=path method=method n=int(7) neg=int(-3) b=bool(1) bin=bin(6162) v6=ipv6(::1) none=req.hdr(x-none) req.hdr(x-tag)
    event on-frontend-http-request unless skip

spoe-message late-msg
    args g=str(group) v=var(txn.pfx.score)

spoe-group later
    messages late-msg
";

const CONFIG: &str = "
defaults
    mode http
    timeout connect 2s
    timeout client 5s
    timeout server 5s

frontend fe
    bind 127.0.0.1:{{fe}}
    filter spoe engine e1 config {{dir}}/spoe.conf
    http-request deny deny_status 403 if { var(txn.pfx.verdict) -m str deny }
    http-request send-spoe-group e1 later if { path_beg /group }
    http-request send-spoe-group e1 later if { path_beg /group/twice }
    http-request return status 200 hdr x-score \"%[var(txn.pfx.score)]\" hdr x-err \"%[var(txn.pfx.err)]\" hdr x-late \"%[var(txn.pfx.late)]\" hdr x-txt \"%[var(txn.pfx.txt)]\"

backend agents
    mode tcp
    server a 127.0.0.1:{{spoa}}
";

/// The agent: `deny` for paths containing `deny`, a score, a text; `late` for the group.
fn decide(msgs: &Messages) -> Reply {
    let mut actions = Vec::new();
    for (name, args) in msgs {
        if name == "late-msg" {
            actions.push(set_txn("late", Value::Str(b"done".to_vec())));
            continue;
        }
        let path = args.iter().find(|(k, _)| k == "path").map(|(_, v)| v.clone());
        if matches!(&path, Some(Value::Str(p)) if p.windows(4).any(|w| w == b"deny")) {
            actions.push(set_txn("verdict", Value::Str(b"deny".to_vec())));
        }
        if matches!(&path, Some(Value::Str(p)) if p.windows(5).any(|w| w == b"/slow")) {
            return Reply::AckAfter(Duration::from_millis(2000), vec![set_txn("score", Value::Int32(1))]);
        }
        if matches!(&path, Some(Value::Str(p)) if p.starts_with(b"/bye")) {
            return Reply::Disconnect(42);
        }
        if matches!(&path, Some(Value::Str(p)) if p.starts_with(b"/hangup")) {
            return Reply::Close;
        }
        if matches!(&path, Some(Value::Str(p)) if p.starts_with(b"/garbage")) {
            // A frame of an unknown type 7 (skipped), then one announcing 1 MB.
            let mut g = vec![0, 0, 0, 7, 7, 0, 0, 0, 1, 0, 0];
            g.extend_from_slice(&[0, 0x10, 0, 0, 3]);
            return Reply::Garbage(g);
        }
        actions.push(set_txn("score", Value::Int32(42)));
        actions.push(set_txn("txt", Value::Str(b"hello".to_vec())));
    }
    Reply::Ack(actions)
}

fn start(bin: &PathBuf, spoa: &Spoa, processing: &str) -> Proxy {
    ProxyBuilder::new(CONFIG)
        .bin(bin)
        .file("spoe.conf", &SPOE_CONF.replace("{{processing}}", processing))
        .port("spoa", spoa.port())
        .start()
}

/// One request on its own connection: status and the echoed variables.
fn ask(proxy: &Proxy, path: &str, extra: &str) -> (u16, String, String, String, String) {
    let mut c = proxy.connect("fe");
    let r = c.http_request(format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n{extra}\r\n").as_bytes());
    let h = |n: &str| r.header(n).unwrap_or("").to_string();
    (r.status, h("x-score"), h("x-err"), h("x-late"), h("x-txt"))
}

#[test]
fn messages_reach_the_agent_and_its_variables_drive_the_rules() {
    let mut runs = Vec::new();
    let mut received = Vec::new();
    for bin in moonproxy_and_haproxy() {
        let agent = Spoa::start(decide);
        let proxy = start(&bin, &agent, "2s");
        let seen = vec![
            ask(&proxy, "/a", "x-tag: t1\r\n"),
            ask(&proxy, "/deny-me", ""),
            ask(&proxy, "/skip", ""),
            ask(&proxy, "/group", ""),
            ask(&proxy, "/group/twice", ""),
        ];
        // The event's messages with every argument's name, type and value.
        let notifies = agent.notifies();
        runs.push((bin.clone(), seen));
        received.push((bin, notifies));
    }
    let (_, first) = &runs[0];
    assert_eq!(first[0], (200, "42".into(), String::new(), String::new(), "hello".into()));
    assert_eq!(first[1].0, 403, "the agent's verdict denies");
    assert_eq!(first[2], (200, String::new(), String::new(), String::new(), String::new()), "the event's `unless` skipped the message");
    assert_eq!(first[3], (200, "42".into(), String::new(), "done".into(), "hello".into()), "send-spoe-group sent its group after the event");
    let (_, msgs) = &received[0];
    assert_eq!(msgs.len(), 7, "the event, then the group as many times as a rule sends it: {msgs:?}");
    assert_eq!((msgs[5][0].0.as_str(), msgs[6][0].0.as_str()), ("late-msg", "late-msg"));
    let (name, args) = &msgs[0][0];
    assert_eq!(name, "check-request");
    let expected: Vec<(String, Value)> = vec![
        ("ip".into(), Value::Ipv4("127.0.0.1".parse().unwrap())),
        ("path".into(), Value::Str(b"/a".to_vec())),
        ("method".into(), Value::Str(b"GET".to_vec())),
        ("n".into(), Value::Int64(7)),
        ("neg".into(), Value::Int64(-3)),
        ("b".into(), Value::Bool(true)),
        ("bin".into(), Value::Bin(b"ab".to_vec())),
        ("v6".into(), Value::Ipv6("::1".parse().unwrap())),
        ("none".into(), Value::Null),
        (String::new(), Value::Str(b"t1".to_vec())),
    ];
    assert_eq!(args, &expected);
    // The group's message saw the variable the event's answer set.
    assert_eq!(msgs[3][0], ("late-msg".to_string(), vec![("g".to_string(), Value::Str(b"group".to_vec())), ("v".to_string(), Value::Int64(42))]));
    assert_runs_agree(&runs);
    assert_runs_agree(&received);
}

#[test]
fn agent_connections_are_reused_across_streams() {
    let agent = Spoa::start(decide);
    let proxy = ProxyBuilder::new(&format!("global\n    stats socket {{{{dir}}}}/stats.sock level admin\n{CONFIG}"))
        .file("spoe.conf", &SPOE_CONF.replace("{{processing}}", "2s"))
        .port("spoa", agent.port())
        .start();
    for _ in 0..5 {
        assert_eq!(ask(&proxy, "/a", "").1, "42");
    }
    assert_eq!(agent.connections(), 1, "one agent connection for five streams one after the other");
    // The connection counts on the agent's server and backend, as HAProxy's SPOE
    // applets do: `scur` 1 (it stays open, idle), `stot` 1.
    let stat = cli(&proxy.dir().join("stats.sock"), "show stat\n");
    for name in ["agents,a,", "agents,BACKEND,"] {
        let row: Vec<&str> = stat.lines().find(|l| l.starts_with(name)).expect("the agent backend's rows").split(',').collect();
        assert_eq!((row[4], row[7]), ("1", "1"), "{name} {stat}");
    }
    assert_eq!(agent.hellos(), (1, 0));
    // Each NOTIFY names its own stream (frame ids start at 1 in each).
    let ids = agent.ids();
    assert_eq!(ids.len(), 5);
    let mut streams: Vec<u64> = ids.iter().map(|(s, _)| *s).collect();
    streams.dedup();
    assert_eq!(streams.len(), 5, "{ids:?}");
}

#[test]
fn errors_let_the_stream_go_on_and_set_the_error_variable() {
    let mut runs = Vec::new();
    for bin in moonproxy_and_haproxy() {
        let agent = Spoa::start(decide);
        let spoe = SPOE_CONF.replace("{{processing}}", "1s").replace("    use-backend agents", "    use-backend agents\n    max-frame-size 256");
        let proxy = ProxyBuilder::new(CONFIG).bin(&bin).file("spoe.conf", &spoe).port("spoa", agent.port()).start();
        // A slow agent: `timeout processing` (error 1); the late ACK is ignored.
        let slow = ask(&proxy, "/slow", "");
        // An AGENT-DISCONNECT with status 42: 256 + 42.
        let bye = ask(&proxy, "/bye", "");
        // The agent closes without a word.
        let hangup = ask(&proxy, "/hangup", "");
        // A frame larger than the negotiated size.
        let garbage = ask(&proxy, "/garbage", "");
        // A NOTIFY larger than `max-frame-size`: 3 at once, nothing sent (deviation,
        // doc/spoe.md: HAProxy 2.6.12 waits for `timeout processing`, 1).
        let big = ask(&proxy, "/a", &format!("x-tag: {}\r\n", "b".repeat(400)));
        if bin == moonproxy_bin() {
            assert_eq!(big.2, "3");
        }
        // An agent that is down: the event times out (1).
        let mut down = agent;
        down.stop();
        let dead = ask(&proxy, "/a", "");
        runs.push((bin, vec![slow, bye, hangup, garbage, dead]));
    }
    let err = |code: &str| (200, String::new(), code.to_string(), String::new(), String::new());
    let (_, first) = &runs[0];
    assert_eq!(first, &[err("1"), err("298"), err("257"), err("259"), err("1")]);
    assert_runs_agree(&runs);
}

/// An agent answering every HAPROXY-HELLO with an AGENT-DISCONNECT (status 8,
/// unsupported version).
fn refusing_agent() -> Backend {
    use moonproxy::spoe::frame::{self, Frame};
    use std::io::{Read, Write};
    Backend::custom(|mut s, _| {
        let mut buf = [0u8; 4096];
        if matches!(s.read(&mut buf), Ok(n) if n > 0) {
            let payload = frame::kv_list(&[("status-code", Value::Uint32(8)), ("message", Value::Str(b"unsupported version".to_vec()))]);
            let bye = Frame { ty: frame::AGENT_DISCONNECT, flags: frame::FLAG_FIN, stream_id: 0, frame_id: 0, payload };
            let _ = s.write_all(&bye.encode());
        }
    })
}

#[test]
fn spop_check_marks_agents_up_and_down() {
    let mut runs = Vec::new();
    for bin in moonproxy_and_haproxy() {
        let good = Spoa::start(decide);
        let refusing = refusing_agent();
        let junk = Backend::reply(b"HTTP/1.0 200 OK\r\n\r\n");
        let proxy = ProxyBuilder::new(
            "global
    log stdout format raw local0
defaults
    mode tcp
    log global
    option log-health-checks
    timeout connect 1s
    timeout client 5s
    timeout server 5s
    timeout check 500ms
frontend fe
    bind 127.0.0.1:{{fe}}
    default_backend good
backend good
    option spop-check
    server s 127.0.0.1:{{good}} check inter 100ms rise 1 fall 1
backend refusing
    option spop-check
    server s 127.0.0.1:{{refusing}} check inter 100ms rise 1 fall 1
backend junk
    option spop-check
    server s 127.0.0.1:{{junk}} check inter 100ms rise 1 fall 1",
        )
        .bin(&bin)
        .port("good", good.port())
        .port("refusing", refusing.port())
        .port("junk", junk.port())
        .start();
        let mut lines = Vec::new();
        for name in ["good", "refusing", "junk"] {
            let prefix = format!("Health check for server {name}/s ");
            let line = proxy.wait_for_line(|l| l.starts_with(&prefix), DEADLINE);
            let at = line.find("check duration: ").expect("a check duration");
            lines.push(line[..at].to_string());
        }
        assert!(wait_until(DEADLINE, || good.hellos().1 > 0), "the agent saw a healthcheck hello");
        assert_eq!(good.hellos().0, 0, "no other hello");
        runs.push((bin, lines));
    }
    assert_eq!(
        runs[0].1,
        [
            "Health check for server good/s succeeded, reason: Layer7 check passed, code: 0, info: \"SPOA server is ok\", ",
            "Health check for server refusing/s failed, reason: Layer7 invalid response, info: \"unsupported version\", ",
            "Health check for server junk/s failed, reason: Layer7 invalid response, info: \"invalid frame received\", ",
        ]
    );
    assert_runs_agree(&runs);
}

const TWO_ENGINES: &str = "
[e1]
spoe-agent a
    messages sess_msg fe_res
    option var-prefix p1
    timeout hello 2s
    timeout idle 10s
    timeout processing 2s
    use-backend agents
spoe-message sess_msg
    args src
    event on-client-session
spoe-message fe_res
    args status
    event on-http-response

[e2]
spoe-agent b
    messages be_msg be_res be_tcpres be_srv
    groups rg
    option var-prefix p2
    option set-process-time pt
    timeout hello 2s
    timeout idle 10s
    timeout processing 2s
    use-backend agents
spoe-message be_msg
    args path be=be_name
    event on-backend-http-request
spoe-message be_res
    args st=status srv=srv_name
    event on-http-response if { status 200 }
spoe-message be_tcpres
    args t=str(tcp)
    event on-tcp-response
spoe-message be_srv
    args s=str(srv)
    event on-server-session
spoe-message grp
    args seen=var(txn.p2.be_res)
spoe-group rg
    messages grp
";

/// The events of both sides of a transaction: a frontend's engine and a backend's,
/// `http-response send-spoe-group`, two requests on one connection.
#[test]
fn backend_and_response_events_in_the_order_haproxy_sends_them() {
    let mut runs = Vec::new();
    let mut received = Vec::new();
    for bin in moonproxy_and_haproxy() {
        // Each message's answer sets the variable named after it.
        let agent = Spoa::start(|msgs| Reply::Ack(msgs.iter().map(|(m, _)| set_txn(m, Value::Str(m.clone().into_bytes()))).collect()));
        let app = Backend::http(b"hello");
        let proxy = ProxyBuilder::new(
            "
defaults
    mode http
    timeout connect 2s
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{{fe}}
    filter spoe engine e1 config {{dir}}/spoe.conf
    http-response set-header x-fe \"%[var(txn.p1.sess_msg)]/%[var(txn.p1.fe_res)]/%[var(txn.p2.be_msg)]/%[var(txn.p2.be_res)]/%[var(txn.p2.grp)]\"
    default_backend be
backend be
    filter spoe engine e2 config {{dir}}/spoe.conf
    http-response send-spoe-group e2 rg
    http-response set-header x-be \"%[var(txn.p2.be_msg)]/%[var(txn.p2.grp)]/%[var(txn.p2.pt),add(1),bool]\"
    server app 127.0.0.1:{{app}}
backend agents
    mode tcp
    server a 127.0.0.1:{{spoa}}
",
        )
        .bin(&bin)
        .file("spoe.conf", TWO_ENGINES)
        .port("spoa", agent.port())
        .port("app", app.port())
        .start();
        let mut c = proxy.connect("fe");
        let mut seen = Vec::new();
        for path in ["/one", "/two"] {
            let r = c.http_get(path);
            seen.push(format!("{} {} {} {}", r.status, r.header("x-fe").unwrap_or("-"), r.header("x-be").unwrap_or("-"), String::from_utf8_lossy(&r.body)));
        }
        let notifies: Vec<Vec<String>> = agent.notifies().iter().map(|n| n.iter().map(|(m, args)| format!("{m} {args:?}")).collect()).collect();
        runs.push((bin.clone(), seen));
        received.push((bin, notifies));
    }
    let (_, first) = &runs[0];
    // `set-process-time` is set (a number of milliseconds, 0 or more).
    assert_eq!(first, &["200 sess_msg/fe_res/be_msg/be_res/grp be_msg/grp/1 hello"; 2]);
    let (_, msgs) = &received[0];
    assert_eq!(msgs.len(), 14, "seven NOTIFY frames per request: {msgs:#?}");
    assert_eq!(msgs[0], ["sess_msg [(\"\", Ipv4(127.0.0.1))]"]);
    assert_eq!(msgs[2], ["be_srv [(\"s\", Str([115, 114, 118]))]"], "on-server-session, then on-tcp-response, then the HTTP response's events");
    assert_eq!(msgs[3], ["be_tcpres [(\"t\", Str([116, 99, 112]))]"]);
    assert_eq!(msgs[6], ["grp [(\"seen\", Str([98, 101, 95, 114, 101, 115]))]"], "the group sees be_res's answer");
    assert_runs_agree(&runs);
    assert_runs_agree(&received);
}

/// `-c` on a configuration whose SPOE file is `spoe`: the alerts, the run's directory
/// written `DIR`, without the process id.
fn check_alerts(bin: &PathBuf, spoe: &str, frontend_extra: &str, agents_mode: &str) -> Vec<String> {
    check_filter_alerts(bin, spoe, "engine e1 config {{dir}}/spoe.conf", frontend_extra, agents_mode)
}

/// [`check_alerts`] with the `filter spoe` line's arguments.
fn check_filter_alerts(bin: &PathBuf, spoe: &str, filter: &str, frontend_extra: &str, agents_mode: &str) -> Vec<String> {
    let config = format!(
        "
defaults
    mode http
    timeout connect 2s
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{{{{fe}}}}
    filter spoe {filter}
{frontend_extra}
    default_backend app
backend app
    server s 127.0.0.1:{{{{fe}}}}
backend agents
    mode {agents_mode}
    server a 127.0.0.1:{{{{fe}}}}
"
    );
    let out = ProxyBuilder::new(&config).bin(bin).file("spoe.conf", spoe).flags(["-c"]).run();
    assert_ne!(out.status.code(), Some(0), "{out:?}");
    let text = format!("{}{}", out.stdout, out.stderr);
    text.lines()
        .filter(|l| l.starts_with("[ALERT]"))
        .map(|l| {
            let mut l = l[l.find(") : ").map_or(0, |i| i + 4)..].to_string();
            // Every path of the run's directory: `DIR/<file>`.
            while let Some(a) = l.find("/tmp/") {
                let end = ["/spoe.conf", "/proxy.cfg", "/none.conf"].iter().filter_map(|f| l[a..].find(f)).min().expect("a file of the run");
                l.replace_range(a..a + end, "DIR");
            }
            l
        })
        .collect()
}

const AGENT_OK: &str = "spoe-agent a\n  messages m1\n  use-backend agents\n  timeout hello 1s\n  timeout idle 1s\n  timeout processing 1s\n";
const MESSAGE_OK: &str = "spoe-message m1\n  args src\n  event on-frontend-http-request\n";

#[test]
fn bad_spoe_files_are_refused_naming_the_file_and_line() {
    let cases: Vec<(String, &str, &str)> = vec![
        ("[e1]\nfoo bar\n".into(), "", "tcp"),
        (format!("[e1]\n{AGENT_OK}  bogus 1\n{MESSAGE_OK}"), "", "tcp"),
        ("[e1]\nspoe-agent a\n  messages m1\n".into(), "", "tcp"),
        (format!("[e1]\n{}", AGENT_OK.replace("m1", "m2")), "", "tcp"),
        (format!("[e1]\n{AGENT_OK}  groups g2\n{MESSAGE_OK}spoe-group g2\n  messages mx\n"), "", "tcp"),
        (format!("[e1]\n{AGENT_OK}spoe-message m1\n  args src\n  event on-foo\n"), "", "tcp"),
        (format!("[e1]\n{AGENT_OK}  timeout processing abc\n{MESSAGE_OK}"), "", "tcp"),
        (format!("[e1]\n{}{MESSAGE_OK}", AGENT_OK.replace("use-backend agents", "use-backend nope")), "", "tcp"),
        (format!("[e1]\n{AGENT_OK}{MESSAGE_OK}spoe-message m2\n  args src\nspoe-group g1\n  messages m2\n"), "    http-request send-spoe-group e1 g1\n    http-request send-spoe-group e2 g1", "tcp"),
        (format!("[e1]\n{AGENT_OK}{MESSAGE_OK}"), "", "http"),
        (format!("[e1]\n{AGENT_OK}  option bogus\n  max-frame-size 100000\n  option var-prefix a-b\n  no option set-on-error\n{MESSAGE_OK}"), "", "tcp"),
        (format!("[e1]\n{AGENT_OK}  register-var-names ok a-b\n{MESSAGE_OK}"), "", "tcp"),
        (format!("[e1]\n{AGENT_OK}{MESSAGE_OK}spoe-message m1\n  args src(\n  event on-frontend-http-request when x\nspoe-message\n"), "", "tcp"),
    ];
    let ok = format!("[e1]\n{AGENT_OK}{MESSAGE_OK}");
    // The `filter` line itself, and scope lines.
    let filters: Vec<(String, &str, &str)> = vec![
        (ok.clone(), "engine e1 config {{dir}}/none.conf", ""),
        (ok.clone(), "engine e1", ""),
        (ok.clone(), "engine", ""),
        (ok.clone(), "bogus x", ""),
        (ok.clone(), "config {{dir}}/spoe.conf", ""),
        (ok.clone(), "engine e9 config {{dir}}/spoe.conf", ""),
        (ok.replace("[e1]", "[e1"), "engine e1 config {{dir}}/spoe.conf", ""),
        (ok.replace("[e1]", "[e1] x"), "engine e1 config {{dir}}/spoe.conf", ""),
        (ok.clone(), "engine e1 config {{dir}}/spoe.conf", "    filter spoe engine e1 config {{dir}}/spoe.conf"),
    ];
    let mut runs = Vec::new();
    for bin in moonproxy_and_haproxy() {
        let mut alerts: Vec<Vec<String>> = cases.iter().map(|(spoe, extra, mode)| check_alerts(&bin, spoe, extra, mode)).collect();
        alerts.extend(filters.iter().map(|(spoe, filter, extra)| check_filter_alerts(&bin, spoe, filter, extra, "tcp")));
        // HAProxy says this one twice.
        for a in &mut alerts {
            a.dedup();
        }
        runs.push((bin, alerts));
    }
    let (_, first) = &runs[0];
    assert_eq!(first[1][0], "config : parsing [DIR/spoe.conf:8] : unknown keyword 'bogus' in spoe-agent section.");
    assert_eq!(first[1][1], "config : parsing [DIR/proxy.cfg:9] : 'filter' : 'Error(s) found in configuration file DIR/spoe.conf'");
    assert_eq!(first[2][0], "config : parsing [DIR/proxy.cfg:9] : 'filter' : 'No backend declared for SPOE agent 'a' declared at DIR/spoe.conf:2'");
    assert_runs_agree(&runs);
}

const TCP_SPOE: &str = "
[e1]
spoe-agent a
    messages sess_msg fe_tcp be_tcp srv_sess tcp_res
    groups g
    option var-prefix tp
    timeout hello 2s
    timeout idle 10s
    timeout processing 2s
    use-backend agents
spoe-message sess_msg
    args src
    event on-client-session
spoe-message fe_tcp
    args k=str(fe)
    event on-frontend-tcp-request
spoe-message be_tcp
    args be=str(be)
    event on-backend-tcp-request
spoe-message srv_sess
    args s=str(srv)
    event on-server-session
spoe-message tcp_res
    args r=str(res)
    event on-tcp-response
spoe-message grp
    args head=req.payload(0,4)
spoe-group g
    messages grp
";

/// TCP mode: the session and TCP events (the response waits for `on-tcp-response`'s
/// answer), `tcp-request content send-spoe-group` after
/// the inspect delay brought data, and a `reject` the agent's variable decides.
#[test]
fn tcp_streams_send_their_events_and_groups() {
    let mut runs = Vec::new();
    let mut received = Vec::new();
    for bin in moonproxy_and_haproxy() {
        let agent = Spoa::start(|msgs| {
            let mut actions = Vec::new();
            for (m, args) in msgs {
                if m == "grp" && args.first().map(|(_, v)| v) == Some(&Value::Bin(b"deny".to_vec())) {
                    actions.push(set_txn("deny", Value::Bool(true)));
                }
            }
            Reply::Ack(actions)
        });
        let echo = Backend::echo();
        let proxy = ProxyBuilder::new(
            "
defaults
    mode tcp
    timeout connect 2s
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{{fe}}
    filter spoe engine e1 config {{dir}}/spoe.conf
    tcp-request inspect-delay 2s
    tcp-request content send-spoe-group e1 g if { req.len ge 4 }
    tcp-request content reject if { var(txn.tp.deny) -m bool }
    default_backend be
backend be
    server echo 127.0.0.1:{{echo}}
backend agents
    server a 127.0.0.1:{{spoa}}
",
        )
        .bin(&bin)
        .file("spoe.conf", TCP_SPOE)
        .port("spoa", agent.port())
        .port("echo", echo.port())
        .start();
        let mut seen = Vec::new();
        for word in ["ping", "deny"] {
            let mut c = proxy.connect("fe");
            c.send(word.as_bytes());
            // (Without a half-close: HAProxy 2.6.12 sent nothing back to a client that
            // half-closed while `on-tcp-response` was processed.)
            let bytes = if word == "ping" { c.recv_exact(4) } else { c.recv_until_close().0 };
            seen.push(String::from_utf8_lossy(&bytes).into_owned());
        }
        let notifies: Vec<Vec<String>> = agent.notifies().iter().map(|n| n.iter().map(|(m, args)| format!("{m} {args:?}")).collect()).collect();
        runs.push((bin.clone(), seen));
        received.push((bin, notifies));
    }
    assert_eq!(runs[0].1, ["ping", ""], "echoed, then rejected by the agent's variable");
    let (_, msgs) = &received[0];
    assert_eq!(msgs.len(), 9, "{msgs:#?}");
    assert_eq!(msgs[4], ["srv_sess [(\"s\", Str([115, 114, 118]))]"]);
    assert_eq!(msgs[5], ["tcp_res [(\"r\", Str([114, 101, 115]))]"]);
    assert_eq!(msgs[2], ["grp [(\"head\", Bin([112, 105, 110, 103]))]"]);
    assert_runs_agree(&runs);
    assert_runs_agree(&received);
}

/// With an agent that announces `pipelining`, concurrent streams share one connection:
/// their NOTIFY frames are in flight together, each ACK finds its stream.
#[test]
fn pipelined_frames_share_one_connection() {
    let agent = Spoa::with_capabilities("pipelining", |msgs| {
        let path = msgs[0].1.iter().find(|(k, _)| k == "path").map(|(_, v)| v.clone());
        let Some(Value::Str(p)) = path else { return Reply::Ack(Vec::new()) };
        // Each stream gets its own path back; slowly, so that the frames overlap.
        Reply::AckAfter(Duration::from_millis(50), vec![set_txn("txt", Value::Str(p))])
    });
    let proxy = start(&moonproxy_bin(), &agent, "5s");
    let port = proxy.port("fe");
    let clients: Vec<_> = (0..6)
        .map(|i| {
            std::thread::spawn(move || {
                let mut c = Client::connect(port);
                let r = c.http_request(format!("GET /p{i} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n").as_bytes());
                (r.status, r.header("x-txt").unwrap_or("").to_string())
            })
        })
        .collect();
    for (i, c) in clients.into_iter().enumerate() {
        assert_eq!(c.join().unwrap(), (200, format!("/p{i}")));
    }
    assert_eq!(agent.offered_capabilities(), ["pipelining"]);
    assert_eq!(agent.connections(), 1, "six concurrent streams on one pipelined connection");
}

/// `no option pipelining`: the HAPROXY-HELLO offers no capability.
#[test]
fn no_option_pipelining_offers_nothing() {
    let agent = Spoa::with_capabilities("pipelining", decide);
    let proxy = ProxyBuilder::new(CONFIG)
        .file("spoe.conf", &SPOE_CONF.replace("{{processing}}", "2s").replace("    option var-prefix pfx", "    option var-prefix pfx\n    no option pipelining"))
        .port("spoa", agent.port())
        .start();
    assert_eq!(ask(&proxy, "/a", "").1, "42");
    assert_eq!(agent.offered_capabilities(), [""]);
}

/// An agent server that refuses connections (no health check to notice it): the
/// frames go to the other one, every stream gets its answer. (Deviation, doc/spoe.md:
/// HAProxy 2.6.12 leaves every other stream waiting for `timeout processing`, error 1.)
#[test]
fn a_refusing_agent_server_is_passed_over() {
    let agent = Spoa::start(decide);
    let dead = RefusingPort::new();
    let config = CONFIG.replace("    server a 127.0.0.1:{{spoa}}", "    server dead 127.0.0.1:{{dead}}\n    server a 127.0.0.1:{{spoa}}");
    let proxy = ProxyBuilder::new(&config)
        .file("spoe.conf", &SPOE_CONF.replace("{{processing}}", "2s"))
        .port("spoa", agent.port())
        .port("dead", dead.port())
        .start();
    for _ in 0..4 {
        assert_eq!(ask(&proxy, "/a", ""), (200, "42".to_string(), String::new(), String::new(), "hello".to_string()));
    }
}

/// An HTTP/2 request (prior knowledge) waits for its agent like an HTTP/1 one: the
/// stream serving it is woken by the ACK, its response leaves in frames.
#[test]
fn http2_requests_wait_for_the_agent_too() {
    let mut runs = Vec::new();
    for bin in moonproxy_and_haproxy() {
        let agent = Spoa::start(decide);
        let proxy = start(&bin, &agent, "2s");
        let url = format!("http://127.0.0.1:{}/h2", proxy.port("fe"));
        let out = std::process::Command::new("curl").args(["-s", "-i", "--http2-prior-knowledge", "--max-time", "10", &url]).output().expect("curl runs");
        let text = String::from_utf8_lossy(&out.stdout).to_ascii_lowercase();
        let score = text.lines().find_map(|l| l.strip_prefix("x-score: ")).map(|v| v.trim().to_string());
        runs.push((bin, vec![(text.starts_with("http/2 200"), score)]));
    }
    assert_eq!(runs[0].1, [(true, Some("42".to_string()))]);
    assert_runs_agree(&runs);
}

const RESPONSE_GROUP: &str = "
[e2]
spoe-agent b
    groups rg
    option var-prefix tq
    timeout hello 2s
    timeout idle 10s
    timeout processing 2s
    use-backend agents
spoe-message rmsg
    args head=res.payload(0,4)
spoe-group rg
    messages rmsg
";

/// `tcp-response content send-spoe-group` in TCP and HTTP mode: the group goes when
/// its rule runs (TCP: once the response's first bytes came), the response waits, and
/// the agent's answer drives the next rule.
#[test]
fn tcp_response_rules_send_groups() {
    let mut runs = Vec::new();
    let mut received = Vec::new();
    for bin in moonproxy_and_haproxy() {
        let agent = Spoa::start(|msgs| {
            let evil = msgs.iter().any(|(_, args)| args.iter().any(|(_, v)| *v == Value::Bin(b"evil".to_vec())));
            Reply::Ack(if evil { vec![set_txn("bad", Value::Bool(true))] } else { vec![set_txn("seen", Value::Int32(1))] })
        });
        let echo = Backend::echo();
        let app = Backend::http(b"fine");
        let proxy = ProxyBuilder::new(
            "
defaults
    timeout connect 2s
    timeout client 5s
    timeout server 5s
frontend fe
    mode tcp
    bind 127.0.0.1:{{fe}}
    default_backend be
backend be
    mode tcp
    filter spoe engine e2 config {{dir}}/spoe.conf
    tcp-response inspect-delay 2s
    tcp-response content send-spoe-group e2 rg if { res.len ge 4 }
    tcp-response content reject if { var(txn.tq.bad) -m bool }
    server echo 127.0.0.1:{{echo}}
frontend web
    mode http
    bind 127.0.0.1:{{web}}
    default_backend app
backend app
    mode http
    filter spoe engine e2 config {{dir}}/spoe.conf
    # (Without an inspect delay HAProxy 2.6.12 sends nothing here: doc/spoe.md.)
    tcp-response inspect-delay 1s
    tcp-response content send-spoe-group e2 rg
    http-response set-header x-seen \"%[var(txn.tq.seen)]\"
    server app 127.0.0.1:{{app}}
backend agents
    mode tcp
    server a 127.0.0.1:{{spoa}}
",
        )
        .bin(&bin)
        .file("spoe.conf", RESPONSE_GROUP)
        .port("spoa", agent.port())
        .port("echo", echo.port())
        .port("app", app.port())
        .start();
        let mut seen = Vec::new();
        for word in ["good", "evil"] {
            let mut c = proxy.connect("fe");
            c.send(word.as_bytes());
            let bytes = if word == "good" { c.recv_exact(4) } else { c.recv_until_close().0 };
            seen.push(String::from_utf8_lossy(&bytes).into_owned());
        }
        let r = proxy.connect("web").http_get("/");
        seen.push(format!("{} {} {}", r.status, r.header("x-seen").unwrap_or("-"), String::from_utf8_lossy(&r.body)));
        let notifies: Vec<Vec<String>> = agent.notifies().iter().map(|n| n.iter().map(|(m, args)| format!("{m} {args:?}")).collect()).collect();
        runs.push((bin.clone(), seen));
        received.push((bin, notifies));
    }
    assert_eq!(runs[0].1, ["good", "", "200 1 fine"]);
    assert_eq!(received[0].1.len(), 3, "{:?}", received[0].1);
    assert_runs_agree(&runs);
    assert_runs_agree(&received);
}

/// After an error, the engine is off for the rest of the transaction (the group is not
/// sent), unless `option continue-on-error`; the next transaction starts afresh.
#[test]
fn continue_on_error_keeps_the_engine_on() {
    let mut runs = Vec::new();
    for bin in moonproxy_and_haproxy() {
        let mut seen = Vec::new();
        for continue_on_error in [false, true] {
            let agent = Spoa::start(decide);
            let mut spoe = SPOE_CONF.replace("{{processing}}", "1s");
            if continue_on_error {
                spoe = spoe.replace("    option set-on-error err", "    option set-on-error err\n    option continue-on-error");
            }
            let proxy = ProxyBuilder::new(CONFIG).bin(&bin).file("spoe.conf", &spoe).port("spoa", agent.port()).start();
            // The event times out (the agent is slow), then the group's rule runs.
            seen.push(ask(&proxy, "/group/slow", ""));
            seen.push(ask(&proxy, "/group", ""));
        }
        runs.push((bin, seen));
    }
    let r = |score: &str, err: &str, late: &str, txt: &str| (200, score.to_string(), err.to_string(), late.to_string(), txt.to_string());
    assert_eq!(runs[0].1, [r("", "1", "", ""), r("42", "", "done", "hello"), r("", "1", "done", ""), r("42", "", "done", "hello")]);
    assert_runs_agree(&runs);
}

/// With `nbthread 2` each reactor thread has its own agent connections; every stream
/// gets its answer whichever thread accepted it.
#[test]
fn every_thread_talks_to_the_agent() {
    let agent = Spoa::start(decide);
    let proxy = ProxyBuilder::new(&format!("global\n    nbthread 2\n{CONFIG}"))
        .file("spoe.conf", &SPOE_CONF.replace("{{processing}}", "2s"))
        .port("spoa", agent.port())
        .start();
    for i in 0..8 {
        assert_eq!(ask(&proxy, &format!("/t{i}"), "").1, "42");
    }
    assert_eq!(agent.notifies().len(), 8);
    assert!(agent.connections() <= 2, "at most one connection per thread: {}", agent.connections());
}
