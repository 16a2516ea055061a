//! A server without a port (`server s 127.0.0.2`) connects to the port the client
//! connected to (moved by an offset: `127.0.0.2:+1`), in TCP and HTTP mode, with the destination a PROXY header names when the
//! listener has `accept-proxy`; its health check needs a `port` of its own. Each scenario
//! runs under moonproxy and HAProxy 2.6 on the same configuration.
//!
//! The proxy listens on two ports of 127.0.0.1 and the servers on the same two ports of
//! 127.0.0.2, each answering with its own name, so the answer tells which port the
//! proxy connected to.

mod common;
use common::*;
use std::net::SocketAddr;

/// The servers behind the proxy's two ports: `one` on 127.0.0.2:`fe1`, `two` on
/// 127.0.0.2:`fe2`, answering with `behaviour(name)`.
fn servers_on_proxy_ports(proxy: &Proxy, behaviour: impl Fn(&[u8]) -> Behaviour) -> [Backend; 2] {
    let at = |name: &str| SocketAddr::from(([127, 0, 0, 2], proxy.port(name)));
    [
        Backend::start_at(at("fe1"), behaviour(b"one")).expect("listen on 127.0.0.2:fe1"),
        Backend::start_at(at("fe2"), behaviour(b"two")).expect("listen on 127.0.0.2:fe2"),
    ]
}

const DEFAULTS: &str = "defaults
    timeout connect 5s
    timeout client 5s
    timeout server 5s
";

#[test]
fn tcp_server_without_port_goes_to_the_clients_port() {
    let config = format!(
        "global
    stats socket {{{{dir}}}}/stats.sock level admin
{DEFAULTS}
listen l
    mode tcp
    bind 127.0.0.1:{{{{fe1}}}}
    bind 127.0.0.1:{{{{fe2}}}}
    server s 127.0.0.2 maxconn 4000
"
    );
    for bin in moonproxy_and_haproxy() {
        let proxy = ProxyBuilder::new(&config).bin(&bin).start();
        let servers = servers_on_proxy_ports(&proxy, |name| Behaviour::Reply(name.to_vec()));
        for (fe, name) in [("fe1", "one"), ("fe2", "two"), ("fe1", "one")] {
            let (got, _) = proxy.connect(fe).recv_until_close();
            assert_eq!(String::from_utf8_lossy(&got), name, "{}: through {fe}", bin.display());
        }
        assert_eq!([servers[0].connections(), servers[1].connections()], [2, 1], "{}", bin.display());
        // `show stat` gives it port 0.
        let stat = cli(&proxy.dir().join("stats.sock"), "show stat\n");
        let header: Vec<&str> = stat.lines().next().expect("a header").trim_start_matches("# ").split(',').collect();
        let row: Vec<&str> = stat.lines().find(|l| l.starts_with("l,s,")).expect("the server's row").split(',').collect();
        let addr = header.iter().position(|h| *h == "addr").expect("an addr column");
        assert_eq!(row[addr], "127.0.0.2:0", "{}", bin.display());
    }
}

#[test]
fn a_port_offset_moves_the_clients_port() {
    for offset in ["+1", "-1"] {
        let config = format!(
            "global
    stats socket {{{{dir}}}}/stats.sock level admin
{DEFAULTS}
listen l
    mode tcp
    bind 127.0.0.1:{{{{fe}}}}
    server s 127.0.0.2:{offset}
"
        );
        for bin in moonproxy_and_haproxy() {
            let proxy = ProxyBuilder::new(&config).bin(&bin).start();
            let port = proxy.port("fe").checked_add_signed(offset.parse().unwrap()).unwrap();
            let server = Backend::start_at(SocketAddr::from(([127, 0, 0, 2], port)), Behaviour::Reply(b"moved".to_vec())).expect("listen on 127.0.0.2");
            let (got, _) = proxy.connect("fe").recv_until_close();
            assert_eq!(String::from_utf8_lossy(&got), "moved", "{}: {offset}", bin.display());
            assert_eq!(server.connections(), 1, "{}: {offset}", bin.display());
            // `show stat` gives the offset as the port (`127.0.0.2:-1`).
            let stat = cli(&proxy.dir().join("stats.sock"), "show stat\n");
            let addr = stat.lines().find(|l| l.starts_with("l,s,")).expect("the server's row").split(',').nth(73).map(str::to_string);
            assert_eq!(addr.as_deref(), Some(format!("127.0.0.2:{}", offset.trim_start_matches('+')).as_str()), "{}", bin.display());
        }
    }
}

#[test]
fn http_server_without_port_goes_to_the_clients_port() {
    let config = format!(
        "{DEFAULTS}
listen l
    mode http
    bind 127.0.0.1:{{{{fe1}}}}
    bind 127.0.0.1:{{{{fe2}}}}
    server s 127.0.0.2
"
    );
    for bin in moonproxy_and_haproxy() {
        let proxy = ProxyBuilder::new(&config).bin(&bin).start();
        let servers = servers_on_proxy_ports(&proxy, |name| Behaviour::Http { status: 200, body: name.to_vec() });
        // Two requests on each client connection, the clients taking turns: a server
        // connection to one port never carries a request that came in on the other.
        let mut clients = [proxy.connect("fe1"), proxy.connect("fe2")];
        for _ in 0..2 {
            for (client, name) in clients.iter_mut().zip(["one", "two"]) {
                let res = client.http_get("/");
                assert_eq!((res.status, String::from_utf8_lossy(&res.body).into_owned()), (200, name.to_string()), "{}", bin.display());
            }
        }
        // (A server counts a request once it has answered it.)
        let counts = || [servers[0].stats().requests(), servers[1].stats().requests()];
        wait_until(DEADLINE, || counts() == [2, 2]);
        assert_eq!(counts(), [2, 2], "{}", bin.display());
    }
}

#[test]
fn the_port_comes_from_the_proxy_header_with_accept_proxy() {
    let config = format!(
        "{DEFAULTS}
listen l
    mode tcp
    bind 127.0.0.1:{{{{fe1}}}} accept-proxy
    bind 127.0.0.1:{{{{fe2}}}}
    server s 127.0.0.2
"
    );
    for bin in moonproxy_and_haproxy() {
        let proxy = ProxyBuilder::new(&config).bin(&bin).start();
        let servers = servers_on_proxy_ports(&proxy, |name| Behaviour::Reply(name.to_vec()));
        // Connected to fe1, but the header says the client was going to fe2's port.
        let mut client = proxy.connect("fe1");
        client.send(format!("PROXY TCP4 192.0.2.7 127.0.0.1 40000 {}\r\n", proxy.port("fe2")).as_bytes());
        let (got, _) = client.recv_until_close();
        assert_eq!(String::from_utf8_lossy(&got), "two", "{}", bin.display());
        assert_eq!([servers[0].connections(), servers[1].connections()], [0, 1], "{}", bin.display());
    }
}

/// The alerts of `-c` on `proxies` (after defaults in TCP mode), without the prefix
/// that carries the pid.
fn check_alerts(bin: &std::path::Path, proxies: &str) -> (Option<i32>, Vec<String>) {
    let config = format!("defaults\n  mode tcp\n  timeout connect 1s\n  timeout client 1s\n  timeout server 1s\n{proxies}");
    let out = ProxyBuilder::new(&config).bin(bin).flags(["-c"]).run();
    let alerts = out
        .stderr
        .lines()
        .filter(|l| l.contains("[ALERT]") && !l.contains("Fatal errors"))
        .map(|l| l[l.find(" : ").expect("alert prefix") + 3..].to_string())
        .collect();
    (out.code(), alerts)
}

#[test]
fn a_check_on_a_server_without_port_needs_a_port() {
    const NO_PORT: &str = "has neither service port nor check port.";
    const NO_RULE: &str = "has neither service port nor check port nor tcp_check rule 'connect' with port information.";
    // HAProxy 2.6's wording depends on the check rules the proxy has when its servers are
    // checked: none of its own makes the short form for the first such backend of the
    // file, the long one after it.
    let cases: &[(&str, &[&str])] = &[
        ("backend a\n  server s 127.0.0.2 check\n  server t 127.0.0.2 check\n", &["backend 'a': server 's' NO_PORT", "backend 'a': server 't' NO_PORT"]),
        ("backend a\n  server s 127.0.0.2:80\nbackend b\n  server s 127.0.0.2 check\n", &["backend 'b': server 's' NO_RULE"]),
        ("backend a\n  option httpchk\n  server s 127.0.0.2:80 check\nbackend b\n  server s 127.0.0.2 check\n", &["backend 'b': server 's' NO_PORT"]),
        ("backend a\n  server s 127.0.0.2:80\nbackend b\n  option tcp-check\n  server s 127.0.0.2 check\n", &["backend 'b': server 's' NO_PORT"]),
        ("backend a\n  option tcp-check\n  tcp-check send x\n  server s 127.0.0.2 check\n", &["backend 'a': server 's' NO_RULE"]),
        ("backend a\n  option redis-check\n  server s 127.0.0.2 check\n", &["backend 'a': server 's' NO_RULE"]),
        ("backend a\n  mode http\n  option httpchk\n  server s 127.0.0.2 check\n", &["backend 'a': server 's' NO_RULE"]),
        ("backend a\n  server s 127.0.0.2:+1 check\n", &["backend 'a': server 's' NO_PORT"]),
        ("backend a\n  server s 127.0.0.2:+1\nbackend b\n  server s 127.0.0.2:-1 check\n", &["backend 'b': server 's' NO_RULE"]),
        // A port for the check: accepted.
        ("backend a\n  server s 127.0.0.2 check port 80\n", &[]),
        ("backend a\n  server s 127.0.0.2:-1 check port 80\n", &[]),
        ("backend a\n  option tcp-check\n  tcp-check connect port 80\n  server s 127.0.0.2 check\n", &[]),
    ];
    for bin in moonproxy_and_haproxy() {
        for (proxies, alerts) in cases {
            let expected: Vec<String> = alerts
                .iter()
                .map(|a| format!("config : config: {}", a.replace("NO_PORT", NO_PORT).replace("NO_RULE", NO_RULE)))
                .collect();
            // Without a listener, a valid configuration exits with 2.
            let code = if expected.is_empty() { 2 } else { 1 };
            assert_eq!(check_alerts(&bin, proxies), (Some(code), expected), "{}:\n{proxies}", bin.display());
        }
    }
}
