//! Backend keywords about servers and their choice, compared with HAProxy 2.6:
//! `server-template`, `hash-balance-factor`.

mod common;

use common::*;
use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::sync::{Arc, Mutex};

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

/// A server that notes the `X-Srv` field of each request it gets and never answers
/// (the connection stays busy until the client leaves).
fn holding_server(seen: Arc<Mutex<Vec<String>>>) -> Backend {
    Backend::custom(move |stream: TcpStream, _| {
        let mut reader = BufReader::new(stream);
        let mut srv = String::new();
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                break;
            }
            if let Some((n, v)) = line.split_once(':') {
                if n.eq_ignore_ascii_case("x-srv") {
                    srv = v.trim().to_string();
                }
            }
        }
        seen.lock().unwrap().push(srv);
        let mut rest = String::new();
        let _ = std::io::Read::read_to_string(&mut reader, &mut rest); // until the proxy closes
    })
}

#[test]
fn hash_balance_factor_bounds_the_load_of_a_hot_key() {
    for factor in ["", "hash-balance-factor 150\n"] {
        for bin in moonproxy_and_haproxy() {
            let seen = Arc::new(Mutex::new(Vec::new()));
            let server = holding_server(seen.clone());
            let proxy = ProxyBuilder::new(&format!(
                "defaults\n mode http\n timeout connect 2s\n timeout client 10s\n timeout server 10s\n\
                 frontend f\n bind 127.0.0.1:{{{{fe}}}}\n default_backend b\n\
                 backend b\n balance uri\n hash-type consistent\n {factor} http-send-name-header X-Srv\n\
                  server-template s 3 127.0.0.1:{{{{be}}}}\n"
            ))
            .bin(&bin)
            .port("be", server.port())
            .start();
            // Six requests for the same URI, each still in progress when the next comes.
            let mut clients = Vec::new();
            for i in 0..6 {
                let mut c = proxy.connect("fe");
                c.send(b"GET /same HTTP/1.1\r\nhost: x\r\n\r\n");
                clients.push(c);
                assert!(wait_until(DEADLINE, || seen.lock().unwrap().len() == i + 1), "{}", bin.display());
            }
            let seen = seen.lock().unwrap().clone();
            let mut per: Vec<usize> = ["s1", "s2", "s3"].iter().map(|s| seen.iter().filter(|x| x == s).count()).collect();
            per.sort();
            let who = format!("{} {factor:?}: {seen:?}", bin.display());
            if factor.is_empty() {
                assert_eq!(per, [0, 0, 6], "{who}: one key, one server");
            } else {
                // The key's server takes at most 1.5 times its share of the load.
                assert!(per[2] <= 3 && per[1] >= 1, "{who}");
            }
        }
    }
}

#[test]
fn max_keep_alive_queue_is_checked_as_haproxy() {
    for bin in moonproxy_and_haproxy() {
        for (line, msg) in [
            ("max-keep-alive-queue", Some("'max-keep-alive-queue' expects expects an integer value (or -1 to disable)")),
            ("max-keep-alive-queue x", Some("'max-keep-alive-queue' : unexpected character 'x' in integer value 'x'")),
            ("max-keep-alive-queue -1", None),
            ("max-keep-alive-queue 3", None),
        ] {
            let out = ProxyBuilder::new(&format!("backend b\n mode http\n {line}\n server s 127.0.0.1:1\n")).bin(&bin).flags(["-c"]).run();
            match msg {
                Some(msg) => assert!(out.code() == Some(1) && out.stderr.contains(msg), "{}: {line}: {}", bin.display(), out.stderr),
                None => assert_eq!(out.code(), Some(2), "{}: {line}: {}", bin.display(), out.stderr), // valid, no listener
            }
        }
    }
}

#[test]
fn dispatch_serves_a_backend_without_servers() {
    let app = http_app();
    for bin in moonproxy_and_haproxy() {
        let proxy = ProxyBuilder::new(
            "defaults\n mode http\n timeout connect 2s\n timeout client 5s\n timeout server 5s\n\
             frontend f\n bind 127.0.0.1:{{fe}}\n log stdout format raw local0\n log-format \"s=%s b=%b ST=%ST\"\n default_backend b\n\
             backend b\n dispatch 127.0.0.1:{{app}}\n",
        )
        .bin(&bin)
        .port("app", app.port())
        .start();
        let mut c = proxy.connect("fe");
        let res = c.http_request(b"GET /x HTTP/1.1\r\nhost: h\r\nconnection: close\r\n\r\n");
        assert_eq!((res.status, res.body.as_slice()), (200, &b"path=/x"[..]), "{}", bin.display());
        proxy.wait_for_line(|l| l.contains("s=<NOSRV> b=b ST=200"), DEADLINE);
    }
}

#[test]
fn dispatch_errors_as_haproxy() {
    for bin in moonproxy_and_haproxy() {
        for (line, msg) in [
            ("dispatch", "'dispatch' : '' resolves to an empty address (environment variable missing?)"),
            ("dispatch 127.0.0.1", "'dispatch' : missing port specification in '127.0.0.1'"),
            ("dispatch [::1]:", "'dispatch' : missing port specification in '[::1]:'"),
            ("dispatch 127.0.0.1:0", "'dispatch' : invalid port '0'"),
            ("dispatch 127.0.0.1:65536", "'dispatch' : invalid port '65536'"),
            ("dispatch 127.0.0.1:80-90", "'dispatch' : port range not permitted here in '127.0.0.1:80-90'"),
            ("dispatch 127.0.0.1:+1", "'dispatch' : port offset not permitted here in '127.0.0.1:+1'"),
            ("dispatch nosuchhost.invalid:80", "'dispatch' : invalid address: 'nosuchhost.invalid' in 'nosuchhost.invalid:80'"),
            ("dispatch ipv4@::1:80", "'dispatch' : invalid address: '::1' in 'ipv4@::1:80'"),
            ("dispatch udp@127.0.0.1:80", "'dispatch' : dgram-type address not acceptable in 'udp@127.0.0.1:80'"),
        ] {
            let out = ProxyBuilder::new(&format!("backend b\n mode http\n {line}\n")).bin(&bin).flags(["-c"]).run();
            assert_eq!(out.code(), Some(1), "{}: {line}", bin.display());
            let want = format!("proxy.cfg:3] : {msg}");
            assert!(out.stderr.lines().any(|l| l.contains("parsing [") && l.ends_with(&want)), "{}: {line}: {}", bin.display(), out.stderr);
        }
        // A host name is resolved, as on a server line.
        let out = ProxyBuilder::new("backend b\n mode http\n dispatch localhost:80\n").bin(&bin).flags(["-c"]).run();
        assert!(!out.stderr.contains("ALERT"), "{}: {}", bin.display(), out.stderr);
    }
}

/// A misspelt keyword on a `server` or `default-server` line: HAProxy 2.6's alert with
/// its "did you mean" guess (the same word, by the same measure), word for word.
#[test]
fn unknown_server_keywords_get_haproxys_suggestion() {
    for bin in moonproxy_and_haproxy() {
        for (kw, tail) in [
            ("chek", "; did you mean 'check' maybe ?"),
            ("wieght 2", "; did you mean 'weight' maybe ?"),
            ("intr 2s", "; did you mean 'inter' maybe ?"),
            ("inetr 2s", "; did you mean 'inter' maybe ?"),
            ("fal 2", "; did you mean 'fall' maybe ?"),
            ("sni-x str(a)", "; did you mean 'sni' maybe ?"),
            ("ssl-verify none", "; did you mean 'verify' maybe ?"),
            ("on-marked-dwn shutdown-sessions", "; did you mean 'on-marked-down' maybe ?"),
            ("xyzzy", "."),
        ] {
            let word = kw.split(' ').next().unwrap_or(kw);
            for (line, want) in [
                (format!("server s 127.0.0.1:80 {kw}"), format!("proxy.cfg:4] : 'server b/s' : unknown keyword '{word}'{tail}")),
                (format!("default-server {kw}"), format!("proxy.cfg:4] : unknown keyword '{word}'{tail} Hint: no address was expected for this server.")),
            ] {
                let out = ProxyBuilder::new(&format!("defaults\n mode tcp\nbackend b\n {line}\n")).bin(&bin).flags(["-c"]).run();
                assert_eq!(out.code(), Some(1), "{}: {line}", bin.display());
                assert!(out.stderr.lines().any(|l| l.ends_with(&want)), "{}: {line}: want {want}\n{}", bin.display(), out.stderr);
            }
        }
    }
}

/// `log-proto` on a backend's server (it frames a `ring` section's servers): checked as
/// HAProxy 2.6 checks it, and accepted without effect there.
#[test]
fn log_proto_on_a_backend_server_as_haproxy() {
    for bin in moonproxy_and_haproxy() {
        let ok = ProxyBuilder::new("defaults\n mode tcp\nbackend b\n server s 127.0.0.1:80 log-proto octet-count\n server t 127.0.0.1:80 log-proto legacy\n").bin(&bin).flags(["-c"]).run();
        assert!(!ok.stderr.contains("ALERT"), "{}: {}", bin.display(), ok.stderr);
        let bad = ProxyBuilder::new("defaults\n mode tcp\nbackend b\n server s 127.0.0.1:80 log-proto bogus\n").bin(&bin).flags(["-c"]).run();
        assert_eq!(bad.code(), Some(1), "{}", bin.display());
        let want = "proxy.cfg:4] : 'server b/s' : 'log-proto' expects one of 'legacy' or 'octet-count' but got 'bogus'.";
        assert!(bad.stderr.lines().any(|l| l.ends_with(want)), "{}: {}", bin.display(), bad.stderr);
    }
}
