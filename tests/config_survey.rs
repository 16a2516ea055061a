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
