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

/// Status, head and body of one request on its own connection.
fn answer(proxy: &Proxy, path: &str) -> (u16, String, String) {
    let mut c = proxy.connect("fe");
    let res = c.http_request(format!("GET {path} HTTP/1.1\r\nhost: x\r\n\r\n").as_bytes());
    (res.status, res.head.to_ascii_lowercase(), String::from_utf8_lossy(&res.body).into_owned())
}

#[test]
fn http_error_replaces_the_proxys_own_error_responses() {
    let dead = RefusingPort::new();
    let mut seen = Vec::new();
    for bin in moonproxy_and_haproxy() {
        let proxy = ProxyBuilder::new(
            "defaults\n mode http\n retries 0\n timeout connect 1s\n timeout client 5s\n timeout server 5s\n\
              http-error status 503 content-type text/plain string \"defaults 503\" hdr X-A \"a b\"\n\
             http-errors errs\n errorfile 400 {{dir}}/e400.http\n\
             frontend f\n bind 127.0.0.1:{{fe}}\n\
              http-error status 403 content-type text/html file {{dir}}/body.txt\n\
              http-error status 429\n\
              http-error status 400 errorfiles errs\n\
              http-request deny if { path /deny }\n\
              http-request deny deny_status 429 if { path /d429 }\n\
              http-request deny deny_status 400 if { path /d400 }\n\
              use_backend b2 if { path /b2 }\n\
              default_backend b\n\
             backend b\n server s 127.0.0.1:{{dead}}\n\
             backend b2\n http-error status 503 default-errorfiles\n server s 127.0.0.1:{{dead}}\n",
        )
        .bin(&bin)
        .port("dead", dead.port())
        .file("body.txt", "body from file")
        .file("e400.http", "HTTP/1.1 400 Bad Request\r\ncontent-length: 4\r\ncontent-type: text/plain\r\n\r\ne400")
        .start();
        let got: Vec<_> = ["/", "/deny", "/d429", "/d400", "/b2"].iter().map(|p| answer(&proxy, p)).collect();
        let who = bin.display().to_string();
        assert_eq!(got[0].0, 503, "{who}");
        assert!(got[0].1.contains("x-a: a b") && got[0].2 == "defaults 503", "{who}: {got:?}");
        assert_eq!((got[1].0, got[1].2.as_str()), (403, "body from file"), "{who}");
        assert!(got[1].1.contains("content-type: text/html"), "{who}: {got:?}");
        assert_eq!((got[2].0, got[2].2.as_str()), (429, ""), "{who}");
        assert_eq!((got[3].0, got[3].2.as_str()), (400, "e400"), "{who}");
        // `default-errorfiles` in the backend: its own page for 503 is dropped, so the
        // frontend's (from `defaults`) answers, as in HAProxy.
        assert_eq!((got[4].0, got[4].2.as_str()), (503, "defaults 503"), "{who}");
        seen.push(got);
    }
    if let [ours, theirs] = &seen[..] {
        let strip = |v: &Vec<(u16, String, String)>| v.iter().map(|(s, _, b)| (*s, b.clone())).collect::<Vec<_>>();
        assert_eq!(strip(ours), strip(theirs));
    }
}

#[test]
fn http_error_refuses_what_haproxy_refuses() {
    for bin in moonproxy_and_haproxy() {
        for (line, msg) in [
            ("http-error status 299", "http-error: status code '299' not handled."),
            ("http-error status 503 string x", "a content type must be defined when non-empty payload is configured"),
            ("http-error status 503 bogus", "http-error : unknown keyword 'bogus'."),
        ] {
            let out = ProxyBuilder::new(&format!("defaults\n mode http\n {line}\n")).bin(&bin).flags(["-c"]).run();
            assert_eq!(out.code(), Some(1), "{}: {line}", bin.display());
            assert!(out.stderr.contains(msg), "{}: {line}: {}", bin.display(), out.stderr);
        }
    }
}

#[test]
fn h1_case_adjust_writes_listed_names_in_their_case() {
    // A server answering with lower-case names and, as its body, the head it got.
    let server = Backend::custom(|stream: std::net::TcpStream, _| {
        use std::io::{BufRead, BufReader, Write};
        let mut out = stream.try_clone().unwrap();
        let mut reader = BufReader::new(stream);
        let mut head = String::new();
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                break;
            }
            head.push_str(&line);
        }
        let res = format!("HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\nx-custom: r\r\ncontent-length: {}\r\n\r\n{head}", head.len());
        let _ = out.write_all(res.as_bytes());
    });
    for bin in moonproxy_and_haproxy() {
        let proxy = ProxyBuilder::new(
            "global\n h1-case-adjust x-foo X-FOO\n h1-case-adjust-file {{dir}}/case.txt\n\
             defaults\n mode http\n timeout connect 2s\n timeout client 5s\n timeout server 5s\n\
             frontend f\n bind 127.0.0.1:{{fe}}\n option h1-case-adjust-bogus-client\n default_backend b\n\
             backend b\n option h1-case-adjust-bogus-server\n server s 127.0.0.1:{{be}}\n",
        )
        .bin(&bin)
        .port("be", server.port())
        .file("case.txt", "content-type Content-Type\n# a comment\n\nx-custom  X-CuStOm\n")
        .start();
        let mut c = proxy.connect("fe");
        let res = c.http_request(b"GET / HTTP/1.1\r\nhost: x\r\nx-foo: 1\r\nX-CUSTOM: 2\r\nconnection: close\r\n\r\n");
        let sent = String::from_utf8_lossy(&res.body).into_owned();
        let who = bin.display().to_string();
        assert!(sent.contains("\r\nX-FOO: 1\r\n") && sent.contains("\r\nX-CuStOm: 2\r\n"), "{who}: {sent}");
        assert!(res.head.contains("\r\nContent-Type: text/plain") && res.head.contains("\r\nX-CuStOm: r"), "{who}: {}", res.head);
    }
}

#[test]
fn h1_case_adjust_errors_as_haproxy() {
    for bin in moonproxy_and_haproxy() {
        for (global, file, msg) in [
            ("h1-case-adjust content-type", "", "'h1-case-adjust' expects <from> and <to> as argument."),
            ("h1-case-adjust content-type content-typo", "", "<from> and <to> must not differ execpt the case"),
            ("h1-case-adjust-file {{dir}}/case.txt", "ok Ok\nbad\n", "' : expect <to> at line 2."),
            ("h1-case-adjust-file {{dir}}/none.txt", "", "none.txt': failed to open file."),
        ] {
            let out = ProxyBuilder::new(&format!("global\n {global}\n")).bin(&bin).file("case.txt", file).flags(["-c"]).run();
            assert_eq!(out.code(), Some(1), "{}: {global}: {}", bin.display(), out.stderr);
            assert!(out.stderr.contains(msg), "{}: {global}: {}", bin.display(), out.stderr);
        }
    }
}

#[test]
fn disable_l7_retry_keeps_the_first_answer() {
    let s503 = Backend::reply(b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 4\r\n\r\nbusy");
    let s200 = Backend::reply(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok");
    for bin in moonproxy_and_haproxy() {
        let proxy = ProxyBuilder::new(
            "defaults\n mode http\n timeout connect 2s\n timeout client 5s\n timeout server 5s\n\
             frontend f\n bind 127.0.0.1:{{fe}}\n http-request disable-l7-retry if { path /no }\n default_backend b\n\
             backend b\n balance first\n retries 1\n retry-on 503\n option redispatch\n\
              server busy 127.0.0.1:{{a}}\n server ok 127.0.0.1:{{b}}\n",
        )
        .bin(&bin)
        .port("a", s503.port())
        .port("b", s200.port())
        .start();
        for (path, status) in [("/yes", 200), ("/no", 503)] {
            let mut c = proxy.connect("fe");
            let res = c.http_request(format!("GET {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n").as_bytes());
            assert_eq!(res.status, status, "{}: {path}", bin.display());
        }
    }
}

#[test]
fn http_error_log_format_replies_are_rendered_per_response() {
    let dead = RefusingPort::new();
    for bin in moonproxy_and_haproxy() {
        let proxy = ProxyBuilder::new(
            "defaults\n mode http\n retries 0\n timeout connect 1s\n timeout client 5s\n timeout server 5s\n\
             frontend f\n bind 127.0.0.1:{{fe}}\n\
              http-error status 403 content-type text/plain lf-string \"denied %[path] on %f\" hdr x-path \"p=%[path]\"\n\
              http-error status 503 content-type text/plain lf-file {{dir}}/503.fmt\n\
              http-request deny if { path_beg /deny }\n default_backend b\n\
             backend b\n server s 127.0.0.1:{{dead}}\n",
        )
        .bin(&bin)
        .port("dead", dead.port())
        .file("503.fmt", "no server for %[path]")
        .start();
        let who = bin.display().to_string();
        let mut c = proxy.connect("fe");
        let res = c.http_request(b"GET /deny/me HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n");
        assert_eq!((res.status, String::from_utf8_lossy(&res.body).as_ref()), (403, "denied /deny/me on f"), "{who}");
        assert_eq!(res.header("x-path"), Some("p=/deny/me"), "{who}: {}", res.head);
        let mut c = proxy.connect("fe");
        let res = c.http_request(b"GET /other HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n");
        assert_eq!((res.status, String::from_utf8_lossy(&res.body).as_ref()), (503, "no server for /other"), "{who}");
    }
}
