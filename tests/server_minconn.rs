//! `minconn` with the backend's `fullconn`: the server's connection limit follows the
//! backend's load. Connections are held open by a silent server and counted with `show
//! stat` (the server's `scur`, the backend queue's `qcur`), on moonproxy and on HAProxy
//! 2.6 with the same configuration.

mod common;

use common::*;
use std::net::TcpStream;

/// `frontend f` (with `fe_opts`) to `backend b` (with `be_opts`), whose server `s`
/// (with `srv_opts`) never answers.
fn start(bin: &std::path::Path, fe_opts: &str, be_opts: &str, srv_opts: &str, silent: &Backend) -> Proxy {
    ProxyBuilder::new(&format!(
        "global
    stats socket {{{{dir}}}}/cli.sock level admin
defaults
    mode tcp
    timeout connect 1s
    timeout client 10s
    timeout server 10s
    timeout queue 10s
frontend f
    bind 127.0.0.1:{{{{fe}}}}
    {fe_opts}
    default_backend b
backend b
    {be_opts}
    server s 127.0.0.1:{{{{srv}}}} {srv_opts}"
    ))
    .bin(bin)
    .port("srv", silent.port())
    .start()
}

/// (`scur` of server `s`, `qcur` of backend `b`, `slim` of `s`, `scur` of `b`).
fn stat(proxy: &Proxy) -> (u32, u32, u32, u32) {
    let out = cli(&proxy.dir().join("cli.sock"), "show stat\n");
    let row = |sv: &str| -> Vec<String> {
        let line = out.lines().find(|l| l.starts_with(&format!("b,{sv},"))).unwrap_or_else(|| panic!("no {sv} row in {out}"));
        line.split(',').map(String::from).collect()
    };
    let num = |v: &str| v.parse::<u32>().unwrap_or(0);
    let (s, b) = (row("s"), row("BACKEND"));
    // Columns: pxname, svname, qcur, qmax, scur, smax, slim.
    (num(&s[4]), num(&b[2]), num(&s[6]), num(&b[4]))
}

/// Waits until `show stat` says the backend holds `total` connections, `expected` =
/// (served by `s`, queued) among them (HAProxy's threads may show a dequeued stream a
/// moment later); returns the last pair seen.
fn settle(proxy: &Proxy, total: u32, expected: (u32, u32)) -> (u32, u32) {
    let mut last = stat(proxy);
    wait_until(DEADLINE, || {
        last = stat(proxy);
        last.3 == total && (last.0, last.1) == expected
    });
    assert_eq!(last.3, total, "connections on the backend");
    (last.0, last.1)
}

/// Opens one connection after the other, expecting after each the (served, queued)
/// pair of `expected`; returns the clients and the pairs seen.
fn ramp(proxy: &Proxy, expected: &[(u32, u32)]) -> (Vec<TcpStream>, Vec<(u32, u32)>) {
    let mut clients = Vec::new();
    let mut seen = Vec::new();
    for (k, pair) in (1..).zip(expected) {
        clients.push(TcpStream::connect(proxy.addr("fe")).unwrap());
        seen.push(settle(proxy, k, *pair));
    }
    (clients, seen)
}

/// `minconn 2 maxconn 10`, `fullconn 20`: the limit is `max(minconn, beconn * maxconn /
/// fullconn)`, and a server with queued connections takes new ones only as slots free.
#[test]
fn the_limit_follows_the_backend_load() {
    for bin in moonproxy_and_haproxy() {
        for (fe_opts, be_opts) in [("", "fullconn 20"), ("maxconn 200", "")] {
            let silent = Backend::silent();
            let proxy = start(&bin, fe_opts, be_opts, "minconn 2 maxconn 10", &silent);
            let who = format!("{} {fe_opts}{be_opts}", bin.display());
            let expected = [(1, 0), (2, 0), (2, 1), (2, 2), (2, 3), (2, 4), (2, 5), (2, 6)];
            let (mut clients, seen) = ramp(&proxy, &expected);
            assert_eq!(seen, expected, "{who}");
            // A served client leaves: its slot is given back while the backend still
            // counts 8 connections, so the limit is 4 and three queued ones take slots.
            // (A reset: a plain close would wait for the silent server's answer.)
            let first = clients.remove(0);
            socket2::SockRef::from(&first).set_linger(Some(std::time::Duration::ZERO)).unwrap();
            drop(first);
            assert_eq!(settle(&proxy, 7, (4, 3)), (4, 3), "{who}");
        }
    }
}

#[test]
fn minconn_alone_or_above_maxconn_is_a_static_limit() {
    for bin in moonproxy_and_haproxy() {
        let silent = Backend::silent();
        let proxy = start(&bin, "", "fullconn 20", "minconn 3", &silent);
        let expected = [(1, 0), (2, 0), (3, 0), (3, 1)];
        let (_clients, seen) = ramp(&proxy, &expected);
        assert_eq!(seen, expected, "{}", bin.display());
        assert_eq!(stat(&proxy).2, 3, "{}: slim", bin.display());
        let proxy = start(&bin, "", "fullconn 20", "minconn 5 maxconn 3", &silent);
        assert_eq!(stat(&proxy).2, 5, "{}: slim", bin.display());
    }
}
