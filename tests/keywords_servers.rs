//! Backend keywords about servers and their choice, compared with HAProxy 2.6:
//! `server-template`.

mod common;

use common::*;

/// The server names a backend's requests reached, in order, from the
/// `http-send-name-header X-Srv` field the application echoes back.
fn reached(proxy: &Proxy, n: usize, path: &str) -> Vec<String> {
    (0..n)
        .map(|_| {
            let mut c = proxy.connect("fe");
            let res = c.http_request(format!("GET /headers{path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n").as_bytes());
            assert_eq!(res.status, 200, "{}", res.head);
            let body = String::from_utf8_lossy(&res.body).into_owned();
            body.lines().find_map(|l| l.strip_prefix("X-Srv: ").or_else(|| l.strip_prefix("x-srv: "))).unwrap_or("?").trim().to_string()
        })
        .collect()
}

#[test]
fn server_template_makes_numbered_servers() {
    let app = http_app();
    for bin in moonproxy_and_haproxy() {
        let proxy = ProxyBuilder::new(
            "defaults\n mode http\n timeout connect 2s\n timeout client 5s\n timeout server 5s\n\
             frontend f\n bind 127.0.0.1:{{fe}}\n default_backend b\n\
             backend b\n balance roundrobin\n http-send-name-header X-Srv\n\
              server-template web 3 localhost:{{app}} weight 1\n server-template api 5-6 127.0.0.1:{{app}}\n",
        )
        .bin(&bin)
        .port("app", app.port())
        .start();
        let mut got = reached(&proxy, 5, "");
        got.sort();
        assert_eq!(got, ["api5", "api6", "web1", "web2", "web3"], "{}", bin.display());
    }
}

#[test]
fn server_template_errors_as_haproxy() {
    for bin in moonproxy_and_haproxy() {
        for (line, msgs) in [
            ("server-template web 2 nosuchhost.invalid:80", &["'server b/web1' : could not resolve address 'nosuchhost.invalid'.", "'server b/web2' : could not resolve address 'nosuchhost.invalid'."][..]),
            ("server-template web 2", &["'server-template' expects <prefix> <nb | range> <addr>[:<port>] as arguments."][..]),
            ("server-template web 3-1 localhost:80", &["Wrong server-template number or range arg '3-1'."][..]),
            ("server-template web 0 localhost:80", &["Wrong server-template number or range arg '0'."][..]),
        ] {
            let out = ProxyBuilder::new(&format!("backend b\n mode http\n {line}\n")).bin(&bin).flags(["-c"]).run();
            assert_eq!(out.code(), Some(1), "{}: {line}", bin.display());
            for msg in msgs {
                assert!(out.stderr.contains(msg), "{}: {line}: {}", bin.display(), out.stderr);
            }
        }
    }
}
