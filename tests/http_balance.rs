//! The hash-based `balance` algorithms of HTTP backends (`uri`, `url_param`, `hdr`)
//! send each request where HAProxy 2.6 sends it: the same configuration runs on both
//! and the server names they answer with are compared request by request.

mod common;

use common::*;

/// The server each request went to, asked on a new connection per request.
fn servers_for(bin: &std::path::Path, balance: &str, hash_type: &str, backends: &[Backend; 3], requests: &[String]) -> Vec<String> {
    let config = format!(
        "defaults
            mode http
            timeout connect 5s
            timeout client 5s
            timeout server 5s
        listen fe
            bind 127.0.0.1:{{{{fe}}}}
            balance {balance}
            hash-type {hash_type}
            server a 127.0.0.1:{{{{a}}}} weight 1
            server b 127.0.0.1:{{{{b}}}} weight 2
            server c 127.0.0.1:{{{{c}}}} weight 3"
    );
    let proxy = ProxyBuilder::new(&config)
        .bin(bin)
        .port("a", backends[0].port())
        .port("b", backends[1].port())
        .port("c", backends[2].port())
        .start();
    requests
        .iter()
        .map(|req| {
            let mut c = proxy.connect("fe");
            let res = c.http_request(req.as_bytes());
            String::from_utf8(res.body).unwrap()
        })
        .collect()
}

#[test]
fn hash_based_balancing_picks_the_servers_haproxy_picks() {
    let Some(haproxy) = haproxy_bin() else {
        assert!(std::env::var_os("CI").is_none(), "CI must install haproxy (see .ci/run)");
        eprintln!("haproxy not installed: comparison skipped");
        return;
    };
    let backends = [Backend::http(b"a"), Backend::http(b"b"), Backend::http(b"c")];
    let get = |target: String, extra: &str| format!("GET {target} HTTP/1.1\r\nHost: www.site{extra}.example.com\r\nConnection: close\r\n\r\n");
    let uris: Vec<String> = (0..40).map(|i| get(format!("/d{}/f{i}.png?v={}", i % 5, i * 7), "")).collect();
    // An absolute-form target needs the same host in Host (else both answer 400).
    let absolute: Vec<String> = (0..20)
        .map(|i| format!("GET http://h{i}.example.com/p/{i}?x HTTP/1.1\r\nHost: h{i}.example.com\r\nConnection: close\r\n\r\n"))
        .collect();
    let params: Vec<String> = (0..40).map(|i| get(if i % 7 == 0 { format!("/x?other={i}") } else { format!("/x?a=1&user={}", i * 13) }, "")).collect();
    let hosts: Vec<String> = (0..40).map(|i| get("/".into(), &i.to_string())).collect();
    let cases: [(&str, &Vec<String>); 8] = [
        ("uri", &uris),
        ("uri whole", &uris),
        ("uri depth 1", &uris),
        ("uri len 4", &uris),
        ("uri path-only", &absolute),
        ("url_param user", &params),
        ("hdr(host)", &hosts),
        ("hdr(host) use_domain_only", &hosts),
    ];
    for hash_type in ["map-based", "consistent", "map-based djb2 avalanche"] {
        for (balance, requests) in cases {
            // url_param without the parameter falls back to round robin: compare only
            // the requests that carry it.
            let ours = servers_for(&moonproxy_bin(), balance, hash_type, &backends, requests);
            let theirs = servers_for(&haproxy, balance, hash_type, &backends, requests);
            let keep = |i: &usize| balance != "url_param user" || requests[*i].contains("user=");
            let pick = |v: &Vec<String>| (0..v.len()).filter(keep).map(|i| v[i].clone()).collect::<Vec<_>>();
            assert_eq!(pick(&ours), pick(&theirs), "balance {balance}, hash-type {hash_type}: moonproxy (left) vs HAProxy (right)");
        }
    }
}
