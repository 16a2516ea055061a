//! `http-request do-resolve(<var>,<resolvers>[,ipv4|ipv6]) <expr>` with `set-dst`, as
//! HAProxy 2.6's documentation shows it: the request waits while its Host is resolved
//! by a DNS server written here (`common::dns`), then goes to the address found.
//! Compared with HAProxy 2.6 on the same configuration: what the clients get, the
//! questions the DNS server sees (family order, no cache between requests), failures,
//! a request waiting while others are served, and the configuration errors.

mod common;
use common::dns::{Answer, Dns};
use common::*;
use std::net::{IpAddr, SocketAddr};

/// HTTP servers answering `srv1` on 127.0.0.1, `srv2` on 127.0.0.2 and `srv3` on
/// 127.0.0.3, one port.
fn tagged_servers() -> (u16, Vec<Backend>) {
    let tagged = |host: u8, port: u16| {
        let body = format!("srv{host}").into_bytes();
        Backend::start_at(SocketAddr::from(([127, 0, 0, host], port)), Behaviour::Http { status: 200, body })
    };
    loop {
        let two = tagged(2, 0).expect("listen on 127.0.0.2");
        let port = two.port();
        if let (Ok(one), Ok(three)) = (tagged(1, port), tagged(3, port)) {
            return (port, vec![one, two, three]);
        }
    }
}

const CONFIG: &str = "\
resolvers dns
    nameserver ns1 127.0.0.1:{{dns}}
    resolve_retries 2
    timeout retry 1s
    hold valid 10s
defaults
    mode http
    timeout connect 2s
    timeout client 10s
    timeout server 10s
frontend fe
    bind 127.0.0.1:{{fe}}
    http-request do-resolve(txn.ip,dns,ipv4) hdr(host),host_only if !{ hdr(x-family) -m found }
    http-request do-resolve(txn.ip,dns) hdr(host),host_only if { hdr(x-family) default }
    http-request return status 503 content-type text/plain string unresolved if !{ var(txn.ip) -m found }
    http-request set-dst var(txn.ip)
    http-response set-header x-ip %[var(txn.ip)]
    default_backend be
backend be
    server clear 0.0.0.0:{{be}}
";

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// One request with this Host (and headers): `status body x-ip`.
fn get(proxy: &Proxy, host: &str, extra: &str) -> String {
    let r = Client::connect(proxy.port("fe")).http_request(format!("GET / HTTP/1.1\r\nhost: {host}\r\n{extra}connection: close\r\n\r\n").as_bytes());
    let x_ip = r.header("x-ip").unwrap_or("-").to_string();
    format!("{} {} {x_ip}", r.status, String::from_utf8_lossy(&r.body))
}

#[test]
fn names_resolve_and_steer_set_dst_as_haproxy() {
    let (port, _servers) = tagged_servers();
    let mut runs = Vec::new();
    for bin in moonproxy_and_haproxy() {
        let dns = Dns::start();
        dns.set("app.test", Answer::Addrs(vec![ip("127.0.0.2")]));
        dns.set("other.test", Answer::Addrs(vec![ip("127.0.0.3"), ip("127.0.0.2")]));
        dns.set("v4only.test", Answer::Addrs(vec![ip("127.0.0.3")]));
        dns.set("quiet.test", Answer::Silent);
        let proxy = ProxyBuilder::new(CONFIG).bin(&bin).port("dns", dns.port).port("be", port).start();
        let mut seen = vec![
            get(&proxy, "app.test", ""),
            // The port of the Host header is no part of the name (`host_only`); of
            // several addresses, HAProxy 2.6 takes the second.
            get(&proxy, "Other.Test:8080", ""),
            // Without a family: IPv6 asked first, then IPv4 for a name without AAAA.
            get(&proxy, "v4only.test", "x-family: default\r\n"),
            get(&proxy, "nx.test", ""),
            // No answer after `resolve_retries` queries: the variable stays unset.
            get(&proxy, "quiet.test", ""),
        ];
        // (After an NXDOMAIN HAProxy also asks the other family and starts again, up to
        // `resolve_retries`; moonproxy stops: a documented deviation.)
        seen.extend(dns.asked().into_iter().filter(|q| !q.starts_with("nx.test")));
        // Each request asks anew, `hold valid` or not: HAProxy frees a resolution with
        // its last requester.
        dns.forget_asked();
        seen.push(get(&proxy, "app.test", ""));
        seen.push(format!("asked again: {:?}", dns.asked()));
        runs.push((bin, seen));
    }
    assert_eq!(
        runs[0].1,
        [
            "200 srv2 127.0.0.2",
            "200 srv2 127.0.0.2",
            "200 srv3 127.0.0.3",
            "503 unresolved -",
            "503 unresolved -",
            "app.test A",
            "other.test A",
            "v4only.test AAAA",
            "v4only.test A",
            "quiet.test A",
            "quiet.test A",
            "200 srv2 127.0.0.2",
            "asked again: [\"app.test A\"]",
        ]
    );
    assert_runs_agree(&runs);
}

/// A request waiting for its answer holds up nobody: another client is served
/// meanwhile, and the first one goes on once the answer comes.
#[test]
fn a_waiting_request_blocks_nothing() {
    let (port, _servers) = tagged_servers();
    for bin in moonproxy_and_haproxy() {
        let dns = Dns::start();
        dns.set("slow.test", Answer::Gated(vec![ip("127.0.0.3")]));
        dns.set("app.test", Answer::Addrs(vec![ip("127.0.0.2")]));
        // Patient retries: the held answer must not time out while the test looks.
        let config = CONFIG.replace("timeout retry 1s", "timeout retry 20s");
        let proxy = ProxyBuilder::new(&config).bin(&bin).port("dns", dns.port).port("be", port).start();
        let fe = proxy.port("fe");
        let slow = std::thread::spawn(move || {
            let r = Client::connect(fe).http_request(b"GET / HTTP/1.1\r\nhost: slow.test\r\nconnection: close\r\n\r\n");
            format!("{} {}", r.status, String::from_utf8_lossy(&r.body))
        });
        assert!(wait_until(DEADLINE, || dns.asked().iter().any(|q| q == "slow.test A")), "{}: slow.test was not asked", bin.display());
        assert_eq!(get(&proxy, "app.test", ""), "200 srv2 127.0.0.2", "{}", bin.display());
        assert!(!slow.is_finished(), "{}: answered before its name resolved", bin.display());
        dns.open_gate();
        assert_eq!(slow.join().unwrap(), "200 srv3", "{}", bin.display());
    }
}

/// `tcp-request content do-resolve`: as HAProxy 2.6, the lookup is waited for only
/// while the rules may wait (an inspect delay); without one, or once it expired with
/// no answer, the variable stays unset (`set-dst` then changes nothing: the server
/// `0.0.0.0` gets the frontend's address, 127.0.0.1), in TCP and in HTTP mode.
#[test]
fn tcp_request_content_waits_within_the_inspect_delay_as_haproxy() {
    let (port, _servers) = tagged_servers();
    let config = "\
resolvers dns
    nameserver ns1 127.0.0.1:{{dns}}
defaults
    timeout connect 2s
    timeout client 10s
    timeout server 10s
frontend tcp_nodelay
    mode tcp
    bind 127.0.0.1:{{tn}}
    tcp-request content do-resolve(sess.ip,dns,ipv4) str(app.test)
    tcp-request content set-dst var(sess.ip)
    default_backend be_tcp
frontend tcp_delay
    mode tcp
    bind 127.0.0.1:{{td}}
    tcp-request inspect-delay 5s
    tcp-request content do-resolve(sess.ip,dns,ipv4) str(app.test)
    tcp-request content set-dst var(sess.ip)
    default_backend be_tcp
frontend tcp_short
    mode tcp
    bind 127.0.0.1:{{ts}}
    tcp-request inspect-delay 300ms
    tcp-request content do-resolve(sess.ip,dns,ipv4) str(held.test)
    tcp-request content set-dst var(sess.ip)
    default_backend be_tcp
frontend http_nodelay
    mode http
    bind 127.0.0.1:{{hn}}
    tcp-request content do-resolve(txn.ip,dns,ipv4) hdr(host),host_only
    http-request return status 200 content-type text/plain lf-string \"ip=%[var(txn.ip)]\"
frontend http_delay
    mode http
    bind 127.0.0.1:{{hd}}
    tcp-request inspect-delay 5s
    tcp-request content do-resolve(txn.ip,dns,ipv4) hdr(host),host_only
    http-request return status 200 content-type text/plain lf-string \"ip=%[var(txn.ip)]\"
backend be_tcp
    mode tcp
    server clear 0.0.0.0:{{be}}
";
    let mut runs = Vec::new();
    for bin in moonproxy_and_haproxy() {
        let dns = Dns::start();
        dns.set("app.test", Answer::Addrs(vec![ip("127.0.0.2")]));
        // Answered only once the gate opens, which it never does here.
        dns.set("held.test", Answer::Gated(vec![ip("127.0.0.3")]));
        let proxy = ProxyBuilder::new(config).bin(&bin).port("dns", dns.port).port("be", port).start();
        let mut seen = Vec::new();
        for fe in ["tn", "td", "ts", "hn", "hd"] {
            let r = Client::connect(proxy.port(fe)).http_request(b"GET / HTTP/1.1\r\nhost: app.test\r\nconnection: close\r\n\r\n");
            seen.push(format!("{fe} {} {}", r.status, String::from_utf8_lossy(&r.body)));
        }
        runs.push((bin, seen));
    }
    assert_eq!(runs[0].1, ["tn 200 srv1", "td 200 srv2", "ts 200 srv1", "hn 200 ip=", "hd 200 ip=127.0.0.2"]);
    assert_runs_agree(&runs);
}

#[test]
fn configuration_errors_as_haproxy() {
    let cases = [
        "http-request do-resolve(txn.ip,dns,ipv5) hdr(host)",
        "http-request do-resolve(txn.ip) hdr(host)",
        "http-request do-resolve(txn.ip,dns)",
        "http-request do-resolve(txn.ip,dns) nosuchfetch",
        "http-request do-resolve(txn.ip,nosuch,ipv4) hdr(host)",
        "http-request do-resolve(txn.ip,dns,ipv6) hdr(host),host_only",
        "http-request do-resolve(txn.ip,dns,) src if TRUE",
        "tcp-request content do-resolve(txn.ip,dns,ipv4) src",
        "tcp-request content do-resolve(txn.ip,nosuch) src",
    ];
    let mut runs = Vec::new();
    for bin in moonproxy_and_haproxy() {
        let mut seen = Vec::new();
        for rule in cases {
            let cfg = format!(
                "resolvers dns\n    nameserver ns 127.0.0.1:53\ndefaults\n    mode http\n    timeout connect 1s\n    timeout client 1s\n    timeout server 1s\n\
                 frontend fe\n    bind 127.0.0.1:{{{{fe}}}}\n    {rule}\n    default_backend be\nbackend be\n    server s 0.0.0.0:0\n"
            );
            let out = ProxyBuilder::new(&cfg).bin(&bin).flags(["-c"]).run();
            let alerts: Vec<String> = out
                .stderr
                .lines()
                .filter(|l| l.starts_with("[ALERT]"))
                .filter_map(|l| l.split_once(" : ").map(|(_, r)| r.replace(&*out_dir(&out), "DIR")))
                .filter(|l| !l.contains("Error(s) found in configuration file") && !l.contains("Fatal errors found"))
                .collect();
            seen.push(format!("{rule} => {} {alerts:?}", out.status.success()));
        }
        runs.push((bin, seen));
    }
    let first = &runs[0].1;
    assert!(first[0].contains("Can't parse 'do-resolve(txn.ip,dns,ipv5)'. Expects 'do-resolve(<varname>,<resolvers>[,<options>]) <expr>'. Available options are 'ipv4' and 'ipv6'."), "{}", first[0]);
    assert!(first[4].contains("Proxy 'fe': Can't find resolvers section 'nosuch' for do-resolve action."), "{}", first[4]);
    assert!(first[5].contains("=> true"), "{}", first[5]);
    assert_runs_agree(&runs);
}

/// The run's directory as it appears in messages (`parsing [<dir>/proxy.cfg:9]`).
fn out_dir(out: &RunOutput) -> String {
    out.stderr
        .split("parsing [")
        .nth(1)
        .and_then(|r| r.split("proxy.cfg").next())
        .unwrap_or("\u{0}")
        .to_string()
}

/// The action in a backend's `http-request` rules, and a name from a header through a
/// converter chain, as in HAProxy 2.6.
#[test]
fn a_backend_rule_resolves_too_as_haproxy() {
    let (port, _servers) = tagged_servers();
    let config = "\
resolvers dns
    nameserver ns1 127.0.0.1:{{dns}}
defaults
    mode http
    timeout connect 2s
    timeout client 10s
    timeout server 10s
frontend fe
    bind 127.0.0.1:{{fe}}
    default_backend be
backend be
    http-request do-resolve(txn.ip,dns,ipv4) req.hdr(x-target),lower
    http-request set-dst var(txn.ip)
    server clear 0.0.0.0:{{be}}
";
    let mut runs = Vec::new();
    for bin in moonproxy_and_haproxy() {
        let dns = Dns::start();
        dns.set("three.test", Answer::Addrs(vec![ip("127.0.0.3")]));
        let proxy = ProxyBuilder::new(config).bin(&bin).port("dns", dns.port).port("be", port).start();
        let seen = vec![get(&proxy, "x", "x-target: THREE.test\r\n"), get(&proxy, "x", "")];
        runs.push((bin, seen));
    }
    // Without the header nothing is asked: the destination stays the frontend's.
    assert_eq!(runs[0].1, ["200 srv3 -", "200 srv1 -"]);
    assert_runs_agree(&runs);
}
