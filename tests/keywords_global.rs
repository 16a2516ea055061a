//! Smaller `global` keywords, each with its effect, compared with HAProxy 2.6 where
//! its behaviour is deterministic: `zero-warning`, `grace`, `close-spread-time`,
//! `tune.http.cookielen`, `unix-bind`; `maxsslconn`, `maxsslrate`,
//! `pp2-never-send-local`, `mworker-max-reloads`, and the argument checks of
//! `tune.h2.*` (their effect: tests/http2.rs) and of the keywords accepted with no
//! effect (pollers, OpenSSL-only settings ...).

mod common;

use common::*;
use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

const RETURN_OK: &str = "defaults\n mode http\n timeout connect 2s\n timeout client 20s\n timeout server 20s\n\
    frontend f\n bind 127.0.0.1:{{fe}}\n http-request return status 200 content-type text/plain string ok\n";

#[test]
fn zero_warning_makes_warnings_fatal() {
    for bin in moonproxy_and_haproxy() {
        // A frontend without timeouts: a warning, which zero-warning turns into an error.
        let cfg = "global\n zero-warning\nfrontend f\n bind 127.0.0.1:{{fe}}\n";
        let out = ProxyBuilder::new(cfg).bin(&bin).flags(["-c"]).run();
        assert_eq!(out.code(), Some(1), "{}: {}", bin.display(), out.stderr);
        assert!(out.stderr.contains("Some warnings were found and 'zero-warning' is set. Aborting."), "{}: {}", bin.display(), out.stderr);
        // Without warnings it changes nothing.
        let out = ProxyBuilder::new(&format!("global\n zero-warning\n{RETURN_OK}")).bin(&bin).flags(["-c"]).run();
        assert_eq!(out.code(), Some(0), "{}: {}", bin.display(), out.stderr);
    }
}

#[test]
fn grace_keeps_accepting_after_a_soft_stop_signal() {
    for bin in moonproxy_and_haproxy() {
        let mut proxy = ProxyBuilder::new(&format!("global\n grace 1500ms\n{RETURN_OK}")).bin(&bin).start();
        proxy.signal("USR1");
        proxy.wait_for_line(|l| l.contains("Scheduling a soft-stop in 1500 ms."), DEADLINE);
        // During the grace period, new connections are still served.
        let mut c = proxy.connect("fe");
        assert_eq!(c.http_request(b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n").status, 200, "{}", bin.display());
        proxy.wait_for_line(|l| l.contains("Grace period expired, proceeding with soft-stop now."), DEADLINE);
        assert!(wait_until(DEADLINE, || !is_listening(proxy.port("fe"))), "{}: still listening", bin.display());
        proxy.wait_exit(DEADLINE);
    }
}

#[test]
fn close_spread_time_lets_idle_connections_go_one_after_the_other() {
    // moonproxy only: HAProxy draws each connection's moment at random in the window.
    let mut proxy = ProxyBuilder::new(&format!("global\n close-spread-time 20s\n hard-stop-after 30s\n{RETURN_OK}")).start();
    let mut clients: Vec<Client> = (0..2).map(|_| proxy.connect("fe")).collect();
    for c in &mut clients {
        // Kept alive, then idle.
        assert_eq!(c.http_request(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n").status, 200);
    }
    proxy.signal("USR1");
    assert!(wait_until(DEADLINE, || !is_listening(proxy.port("fe"))));
    // The first one's turn is at once: it is closed. The second's comes 10 s later:
    // meanwhile it is still kept alive (without the option both close at once).
    let mut first = None;
    assert!(wait_until(DEADLINE, || {
        first = clients.iter_mut().position(|c| {
            c.set_timeout(Duration::from_millis(50));
            let mut b = [0u8; 1];
            matches!(std::io::Read::read(c, &mut b), Ok(0))
        });
        first.is_some()
    }));
    let other = &mut clients[1 - first.unwrap()];
    other.set_timeout(DEADLINE);
    let res = other.http_request(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n");
    assert_eq!(res.status, 200);
    assert_eq!(res.header("connection"), None, "{}", res.head);
    assert_eq!(other.http_request(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n").status, 200);
    proxy.stop();
}

#[test]
fn cookielen_bounds_capture_cookie() {
    for bin in moonproxy_and_haproxy() {
        for (global, warned) in [("", Some(63)), (" tune.http.cookielen 100\n", None), (" tune.http.cookielen 10\n", Some(10))] {
            let cfg = format!("global\n{global}{RETURN_OK} capture cookie sid len 64\n");
            let out = ProxyBuilder::new(&cfg).bin(&bin).flags(["-c"]).run();
            assert_eq!(out.code(), Some(0), "{}: {}", bin.display(), out.stderr);
            let msg = "truncating capture length to";
            match warned {
                Some(n) => assert!(out.stderr.contains(&format!("{msg} {n} bytes for frontend 'f'.")), "{}: {global}: {}", bin.display(), out.stderr),
                None => assert!(!out.stderr.contains(msg), "{}: {}", bin.display(), out.stderr),
            }
        }
    }
}

#[test]
fn unix_bind_prefixes_paths_and_sets_the_mode() {
    for bin in moonproxy_and_haproxy() {
        let proxy = ProxyBuilder::new(
            "global\n unix-bind prefix {{dir}}/sub- mode 600\n\
             defaults\n mode http\n timeout connect 2s\n timeout client 20s\n timeout server 20s\n\
             frontend f\n bind 127.0.0.1:{{fe}}\n bind unix@a.sock\n bind unix@b.sock mode 644\n\
              http-request return status 200 content-type text/plain string ok\n",
        )
        .bin(&bin)
        .start();
        let a = proxy.dir().join("sub-a.sock");
        let b = proxy.dir().join("sub-b.sock");
        assert!(wait_until(DEADLINE, || a.exists() && b.exists()), "{}: {:?}", bin.display(), std::fs::read_dir(proxy.dir()).map(|d| d.count()));
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&a), 0o600, "{}", bin.display());
        assert_eq!(mode(&b), 0o644, "{}: the bind line's own mode wins", bin.display());
        let mut s = connect_unix(&a);
        std::io::Write::write_all(&mut s, b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n").unwrap();
        let mut got = String::new();
        std::io::Read::read_to_string(&mut s, &mut got).unwrap();
        assert!(got.starts_with("HTTP/1.1 200"), "{}: {got}", bin.display());
    }
}

#[test]
fn global_set_var_sets_proc_variables_at_start() {
    for bin in moonproxy_and_haproxy() {
        let proxy = ProxyBuilder::new(
            "global\n set-var proc.a int(3),add(4)\n set-var-fmt proc.b \"x%[var(proc.a)]y\"\n set-var proc.c str(hello)\n\
             defaults\n mode http\n timeout connect 2s\n timeout client 5s\n timeout server 5s\n\
             frontend f\n bind 127.0.0.1:{{fe}}\n\
              http-request return status 200 content-type text/plain lf-string \"%[var(proc.a)] %[var(proc.b)] %[var(proc.c)]\"\n",
        )
        .bin(&bin)
        .start();
        let mut c = proxy.connect("fe");
        let res = c.http_request(b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n");
        assert_eq!(String::from_utf8_lossy(&res.body), "7 x7y hello", "{}", bin.display());
    }
}

#[test]
fn global_set_var_errors_as_haproxy() {
    for bin in moonproxy_and_haproxy() {
        for (line, msg) in [
            ("set-var txn.a int(3)", "'set-var': cannot set variable 'txn.a', only scope 'proc' is permitted in the global section."),
            ("set-var proc.a", "'set-var' requires a process-wide variable name ('proc.<name>') and a sample expression."),
        ] {
            let out = ProxyBuilder::new(&format!("global\n {line}\n")).bin(&bin).flags(["-c"]).run();
            assert_eq!(out.code(), Some(1), "{}: {line}", bin.display());
            assert!(out.stderr.contains(msg), "{}: {line}: {}", bin.display(), out.stderr);
        }
    }
}

#[test]
fn unix_bind_errors_as_haproxy() {
    for bin in moonproxy_and_haproxy() {
        for (line, msg) in [
            ("unix-bind foo", "'unix-bind' only supports the 'prefix', 'mode', 'uid', 'gid', 'user' and 'group' options."),
            ("unix-bind user nosuchuser", "'unix-bind' : 'nosuchuser' unknown user."),
            ("unix-bind group nosuchgroup", "'unix-bind' : 'nosuchgroup' unknown group."),
        ] {
            let out = ProxyBuilder::new(&format!("global\n {line}\n")).bin(&bin).flags(["-c"]).run();
            assert_eq!(out.code(), Some(1), "{}: {line}", bin.display());
            assert!(out.stderr.contains(msg), "{}: {line}: {}", bin.display(), out.stderr);
        }
    }
}

#[test]
fn accepted_keywords_check_their_arguments_as_haproxy() {
    // Accepted by both: a whole configuration passes `-c`.
    let accepted = [
        "maxsslconn 10", "maxsslconn x", "maxsslrate 5", "mworker-max-reloads 3", "insecure-fork-wanted",
        "insecure-setuid-wanted", "nogetaddrinfo", "noepoll", "nopoll", "nokqueue", "noevports", "numa-cpu-mapping",
        "pp2-never-send-local", "h1-accept-payload-with-any-method", "h2-workaround-bogus-websocket-clients",
        "thread-groups 1", "thread-group 1", "default-path current", "cluster-secret abc", "maxpipes 10",
        "tune.pipesize 64k", "tune.buffers.limit 10", "tune.buffers.reserve 3", "tune.fail-alloc", "tune.fail-alloc 5",
        "tune.h2.header-table-size 4096", "tune.h2.initial-window-size 65535", "tune.h2.max-concurrent-streams 100",
        "tune.h2.max-frame-size 16384", "tune.listener.multi-queue on", "tune.peers.max-updates-at-once 100",
        "tune.ssl.capture-buffer-size 96", "tune.ssl.keylog on", "tune.ssl.ssl-ctx-cache-size 1000",
        "ssl-mode-async", "ssl-provider default", "ssl-provider-path /tmp", "ssl-load-extra-del-ext",
        "ssl-load-extra-files none", "ssl-load-extra-files bundle sctl ocsp issuer key", "httpclient.resolvers.prefer ipv4",
    ];
    let refused = [
        ("maxsslconn", "'maxsslconn' expects an integer argument."),
        ("maxsslconn -1", "'maxsslconn' expects a positive numeric value."),
        ("maxsslrate", "'maxsslrate' expects an integer argument."),
        ("insecure-fork-wanted x", "'insecure-fork-wanted' cannot handle unexpected argument 'x'."),
        ("noepoll x", "'noepoll' cannot handle unexpected argument 'x'."),
        ("thread-groups", "'thread-groups' passed a missing or unparsable integer value in ''"),
        ("thread-groups 2", "'thread-groups' value must be between 1 and 1 (was 2)"),
        ("thread-group 2 1", "'thread-group' thread-group number must be between 1 and 1 (was 2)"),
        ("default-path", "missing default-path mode '' for 'default-path', supported modes include 'current', 'config', 'parent', and 'origin'."),
        ("default-path foo", "unsupported default-path mode 'foo' for 'default-path'"),
        ("default-path origin", "'default-path origin' expects a directory as an argument."),
        ("cluster-secret", "expects an ASCII string argument."),
        ("tune.fail-alloc 101", "'tune.fail-alloc' expects a numeric value between 0 and 100."),
        ("tune.h2.header-table-size 100000", "'tune.h2.header-table-size' expects a numeric value between 4096 and 65536."),
        ("tune.h2.max-frame-size", "'tune.h2.max-frame-size' expects a numeric value between 16384 and 16777215."),
        ("tune.listener.multi-queue x", "'tune.listener.multi-queue' expects either 'on' or 'off' but got 'x'."),
        ("tune.ssl.keylog", "'tune.ssl.keylog' expects either 'on' or 'off' but got ''."),
        ("tune.peers.max-updates-at-once 0", "'tune.peers.max-updates-at-once' expects an integer argument greater than 0."),
        ("tune.pipesize", "'tune.pipesize' expects an integer argument."),
        ("ssl-provider", "global statement 'ssl-provider' expects a valid engine provider name as an argument."),
        ("ssl-propquery", "global statement 'ssl-propquery' expects a property string as an argument."),
        ("ssl-load-extra-files foo", "'ssl-load-extra-files' expects one or multiple arguments (none, all, bundle, sctl, ocsp, issuer)."),
        ("httpclient.resolvers.prefer foo", "'httpclient.resolvers.prefer' expects 'ipv4' or 'ipv6' as argument."),
        ("httpclient.resolvers.id nosuch", "Proxy '<HTTPCLIENT>': Can't find resolvers section 'nosuch' for do-resolve action."),
        // Not in HAProxy 2.6, or not in a build without the module (Debian's).
        ("debug", "unknown keyword 'debug' in 'global' section"),
        ("trace h1", "unknown keyword 'trace' in 'global' section; did you mean 'grace' maybe ?"),
        ("ssl-engine rdrand", "unknown keyword 'ssl-engine' in 'global' section"),
        ("51degrees-data-file x", "unknown keyword '51degrees-data-file' in 'global' section"),
        ("deviceatlas-json-file x", "unknown keyword 'deviceatlas-json-file' in 'global' section"),
        ("wurfl-data-file x", "unknown keyword 'wurfl-data-file' in 'global' section"),
    ];
    for bin in moonproxy_and_haproxy() {
        for line in accepted {
            let out = ProxyBuilder::new(&format!("global\n {line}\n{RETURN_OK}")).bin(&bin).flags(["-c"]).run();
            assert_eq!(out.code(), Some(0), "{}: {line}: {}", bin.display(), out.stderr);
        }
        for (line, msg) in refused {
            let out = ProxyBuilder::new(&format!("global\n {line}\n{RETURN_OK}")).bin(&bin).flags(["-c"]).run();
            assert_eq!(out.code(), Some(1), "{}: {line}", bin.display());
            assert!(out.stderr.contains(msg), "{}: {line}: {}", bin.display(), out.stderr);
        }
        // `mworker-max-reloads` without a value is only a warning.
        let out = ProxyBuilder::new(&format!("global\n mworker-max-reloads\n{RETURN_OK}")).bin(&bin).flags(["-c"]).run();
        assert_eq!(out.code(), Some(0), "{}: {}", bin.display(), out.stderr);
        assert!(out.stderr.contains("'mworker-max-reloads' expects an integer argument."), "{}: {}", bin.display(), out.stderr);
        // The httpclient's resolvers section, when it exists.
        let cfg = format!("global\n httpclient.resolvers.id dns\nresolvers dns\n nameserver ns 127.0.0.1:53\n{RETURN_OK}");
        let out = ProxyBuilder::new(&cfg).bin(&bin).flags(["-c"]).run();
        assert_eq!(out.code(), Some(0), "{}: {}", bin.display(), out.stderr);
    }
    // HAProxy resolves relative paths from the configuration's directory with these;
    // moonproxy refuses them rather than silently using the working directory.
    let out = ProxyBuilder::new(&format!("global\n default-path config\n{RETURN_OK}")).flags(["-c"]).run();
    assert_eq!(out.code(), Some(1), "{}", out.stderr);
    assert!(out.stderr.contains("'default-path config' is not supported by moonproxy yet"), "{}", out.stderr);
}

mod tls_client {
    use rustls::pki_types::{CertificateDer, ServerName};
    use std::net::TcpStream;
    use std::sync::Arc;
    use std::time::Duration;

    /// A self-signed certificate for `x.test`: the PEM `crt` wants, and a client
    /// configuration that trusts it.
    pub fn cert() -> (String, Arc<rustls::ClientConfig>) {
        let ck = rcgen::generate_simple_self_signed(vec!["x.test".to_string()]).unwrap();
        let mut roots = rustls::RootCertStore::empty();
        roots.add(CertificateDer::from(ck.cert.der().to_vec())).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        (format!("{}{}", ck.cert.pem(), ck.key_pair.serialize_pem()), Arc::new(config))
    }

    pub type Tls = rustls::StreamOwned<rustls::ClientConnection, TcpStream>;

    /// Connects and sends the ClientHello; the handshake is not driven further.
    pub fn start(port: u16, config: &Arc<rustls::ClientConfig>) -> Tls {
        let tcp = TcpStream::connect(("127.0.0.1", port)).unwrap();
        let conn = rustls::ClientConnection::new(config.clone(), ServerName::try_from("x.test").unwrap()).unwrap();
        let mut s = rustls::StreamOwned::new(conn, tcp);
        s.conn.write_tls(&mut s.sock).unwrap();
        s
    }

    /// Drives the handshake for at most `within`: whether it completed.
    pub fn handshake(s: &mut Tls, within: Duration) -> bool {
        s.sock.set_read_timeout(Some(within)).unwrap();
        while s.conn.is_handshaking() {
            if s.conn.complete_io(&mut s.sock).is_err() {
                return false;
            }
        }
        s.sock.set_read_timeout(Some(super::DEADLINE)).unwrap();
        true
    }

    /// One `GET /` on the session: the status line.
    pub fn get(s: &mut Tls) -> String {
        use std::io::{Read, Write};
        s.write_all(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n").unwrap();
        s.flush().unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 512];
        while !got.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = s.read(&mut buf).unwrap();
            assert!(n > 0, "closed: {}", String::from_utf8_lossy(&got));
            got.extend_from_slice(&buf[..n]);
        }
        String::from_utf8_lossy(&got).lines().next().unwrap_or_default().to_string()
    }
}

const TLS_FRONTEND: &str = "defaults\n mode http\n timeout connect 2s\n timeout client 20s\n timeout server 20s\n\
    frontend f\n bind 127.0.0.1:{{tls}} ssl crt {{dir}}/x.pem\n bind 127.0.0.1:{{plain}}\n\
     http-request return status 200 content-type text/plain string ok\n";

#[test]
fn maxsslconn_holds_the_next_tls_client() {
    let (pem, client) = tls_client::cert();
    for bin in moonproxy_and_haproxy() {
        let proxy = ProxyBuilder::new(&format!("global\n maxsslconn 1\n{TLS_FRONTEND}")).file("x.pem", &pem).bin(&bin).start();
        let mut first = tls_client::start(proxy.port("tls"), &client);
        assert!(tls_client::handshake(&mut first, DEADLINE), "{}", bin.display());
        assert!(tls_client::get(&mut first).starts_with("HTTP/1.1 200"), "{}", bin.display());
        // The second TLS client gets no answer to its ClientHello while the first is there.
        let mut second = tls_client::start(proxy.port("tls"), &client);
        assert!(!tls_client::handshake(&mut second, Duration::from_millis(700)), "{}: a second TLS session", bin.display());
        // Plain connections are not limited.
        assert_eq!(proxy.connect("plain").http_request(b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n").status, 200);
        // moonproxy only: the waiting client is served once the first leaves (HAProxy 2.6
        // accepted it and leaves it without an answer).
        if bin == moonproxy_bin() {
            drop(first);
            assert!(tls_client::handshake(&mut second, DEADLINE), "the waiting client is served");
            assert!(tls_client::get(&mut second).starts_with("HTTP/1.1 200"));
        }
    }
}

#[test]
fn maxsslrate_spaces_tls_accepts() {
    let (pem, client) = tls_client::cert();
    for bin in moonproxy_and_haproxy() {
        let proxy = ProxyBuilder::new(&format!("global\n maxsslrate 2\n{TLS_FRONTEND}")).file("x.pem", &pem).bin(&bin).start();
        // Five sessions at two per second: the last ones wait for the rate to fall, so
        // the five take more than a second (about 1.5 s by HAProxy's sliding estimate).
        let t0 = std::time::Instant::now();
        for _ in 0..5 {
            let mut s = tls_client::start(proxy.port("tls"), &client);
            assert!(tls_client::handshake(&mut s, DEADLINE), "{}", bin.display());
        }
        let took = t0.elapsed();
        assert!(took >= Duration::from_secs(1), "{}: {took:?}", bin.display());
    }
}

#[test]
fn pp2_never_send_local_sends_the_proxy_command_in_checks() {
    for bin in moonproxy_and_haproxy() {
        for (global, command) in [("", 0x20u8), (" pp2-never-send-local\n", 0x21)] {
            // The 13th byte of a version 2 header: version 2 and LOCAL (0x20) or PROXY (0x21).
            let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
            let record = seen.clone();
            let server = Backend::custom(move |mut s, _| {
                let mut head = [0u8; 16];
                s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
                if std::io::Read::read_exact(&mut s, &mut head).is_ok() {
                    record.lock().unwrap().push(head[12]);
                }
            });
            let cfg = format!(
                "global\n{global}defaults\n mode tcp\n timeout connect 2s\n timeout client 5s\n timeout server 5s\n\
                 listen l\n bind 127.0.0.1:{{{{fe}}}}\n server s 127.0.0.1:{} check inter 200ms send-proxy-v2 check-send-proxy\n",
                server.port()
            );
            let _proxy = ProxyBuilder::new(&cfg).bin(&bin).start();
            assert!(wait_until(DEADLINE, || !seen.lock().unwrap().is_empty()), "{}: no check", bin.display());
            assert_eq!(seen.lock().unwrap()[0], command, "{}: {global:?}", bin.display());
        }
    }
}

#[test]
fn mworker_max_reloads_stops_old_workers_that_outlive_it() {
    // A TCP relay keeps the old worker busy after a reload: without the keyword it
    // soft-stops and waits for the relay; with `mworker-max-reloads 0` the master sends
    // it SIGTERM and the relayed connection ends.
    let echo = Backend::echo();
    for (global, killed) in [("", false), (" mworker-max-reloads 0\n", true)] {
        let cfg = format!(
            "global\n{global}defaults\n mode tcp\n timeout connect 2s\n timeout client 30s\n timeout server 30s\n\
             listen l\n bind 127.0.0.1:{{{{fe}}}}\n server s 127.0.0.1:{}\n",
            echo.port()
        );
        let mut proxy = ProxyBuilder::new(&cfg).flags(["-W", "-S", "{{dir}}/master.sock"]).start();
        let sock = proxy.dir().join("master.sock");
        let workers = |sock: &std::path::Path| -> Vec<String> {
            cli(sock, "show proc\n").lines().filter(|l| l.contains(" worker ")).map(|l| l.split_whitespace().next().unwrap().to_string()).collect()
        };
        assert!(wait_until(DEADLINE, || sock.exists() && workers(&sock).len() == 1), "no worker");
        let mut c = proxy.connect("fe");
        c.send(b"ping");
        assert_eq!(c.recv_exact(4), b"ping");
        proxy.signal("USR2");
        if killed {
            proxy.wait_for_line(|l| l.contains("Reached max-reloads (0) for worker"), DEADLINE);
            assert!(wait_until(DEADLINE, || workers(&sock).len() == 1), "the old worker is gone");
            c.set_timeout(DEADLINE);
            let (_, close) = c.recv_until_close();
            assert!(!matches!(close, CloseKind::Timeout), "the relay ended with the old worker");
        } else {
            assert!(wait_until(DEADLINE, || workers(&sock).len() == 2), "new and old workers");
            std::thread::sleep(Duration::from_millis(500));
            assert_eq!(workers(&sock).len(), 2, "the old worker still relays");
            c.send(b"pong");
            assert_eq!(c.recv_exact(4), b"pong");
        }
        proxy.stop();
    }
}
