//! Small HTTP keywords of proxies, each with its effect, compared with HAProxy 2.6
//! where it is installed: `http-send-name-header`, `http-error`.

mod common;

use common::*;

/// The request head a server received, from the application's `/headers` page.
fn headers_seen(proxy: &Proxy, extra: &str) -> String {
    let mut c = proxy.connect("fe");
    let req = format!("GET /headers HTTP/1.1\r\nhost: x\r\n{extra}connection: close\r\n\r\n");
    let res = c.http_request(req.as_bytes());
    assert_eq!(res.status, 200, "{}", res.head);
    String::from_utf8(res.body).unwrap()
}

fn field_values(head: &str, name: &str) -> Vec<String> {
    head.lines()
        .filter_map(|l| l.split_once(':'))
        .filter(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.trim().to_string())
        .collect()
}

#[test]
fn http_send_name_header_names_the_server_reached() {
    let app = http_app();
    let dead = RefusingPort::new();
    for bin in moonproxy_and_haproxy() {
        // `dead` refuses: the retry redispatches to `live`, and the header follows.
        let proxy = ProxyBuilder::new(
            "defaults\n mode http\n timeout connect 2s\n timeout client 5s\n timeout server 5s\n\
             frontend f\n bind 127.0.0.1:{{fe}}\n default_backend b\n\
             backend b\n http-send-name-header X-Srv\n retries 2\n option redispatch\n balance first\n\
              server dead 127.0.0.1:{{dead}}\n server live 127.0.0.1:{{app}}\n",
        )
        .bin(&bin)
        .port("app", app.port())
        .port("dead", dead.port())
        .start();
        let head = headers_seen(&proxy, "X-Srv: forged\r\nx-srv: again\r\nX-Srv-Other: kept\r\n");
        assert_eq!(field_values(&head, "x-srv"), ["live"], "{}: {head}", bin.display());
        assert_eq!(field_values(&head, "x-srv-other"), ["kept"], "{}: {head}", bin.display());
        // The server's field is the last one.
        let last = head.lines().rfind(|l| !l.is_empty()).unwrap_or("");
        assert!(last.to_ascii_lowercase().starts_with("x-srv:"), "{}: {head}", bin.display());
    }
}

#[test]
fn http_send_name_header_needs_a_name() {
    for bin in moonproxy_and_haproxy() {
        let out = ProxyBuilder::new("backend b\n mode http\n http-send-name-header\n server s 127.0.0.1:1\n")
            .bin(&bin)
            .flags(["-c"])
            .run();
        assert_eq!(out.code(), Some(1), "{}", bin.display());
        assert!(out.stderr.contains("'http-send-name-header' requires a header string."), "{}: {}", bin.display(), out.stderr);
    }
}
