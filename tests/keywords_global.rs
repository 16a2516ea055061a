//! Smaller `global` keywords, each with its effect, compared with HAProxy 2.6 where
//! its behaviour is deterministic: `zero-warning`, `grace`, `close-spread-time`,
//! `tune.http.cookielen`, `unix-bind`.

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
