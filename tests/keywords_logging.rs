//! Logging keywords of proxies compared with HAProxy 2.6: `log-tag` (the syslog tag of
//! a frontend's lines) and `log-format-sd` (RFC 5424 structured data).

mod common;

use common::*;
use std::net::UdpSocket;

/// The next datagram, as text.
fn recv(sock: &UdpSocket) -> String {
    let mut buf = [0u8; 4096];
    let n = sock.recv(&mut buf).expect("a log line");
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

/// An RFC 5424 line without its timestamp and pid (which differ between runs):
/// `<134>1 - ftag - [sd] msg`.
fn stable_5424(line: &str) -> String {
    let w: Vec<&str> = line.trim_end().splitn(7, ' ').collect();
    // <pri>1 time host tag pid msgid rest
    format!("{} {} {} {} {}", w[0], w[2], w[3], w[5], w[6])
}

/// An RFC 3164 line from its tag on, without the pid: `ftag: msg`.
fn stable_3164(line: &str) -> String {
    let line = line.trim_end();
    let Some(colon) = line.find("]: ") else { return line.to_string() };
    let open = line[..colon].rfind('[').unwrap_or(colon);
    let tag_start = line[..open].rfind(' ').map_or(0, |i| i + 1);
    format!("{}{}", &line[tag_start..open], &line[colon + 1..])
}

#[test]
fn log_tag_and_structured_data() {
    let app = http_app();
    for bin in moonproxy_and_haproxy() {
        let s5424 = UdpSocket::bind("127.0.0.1:0").unwrap();
        let s3164 = UdpSocket::bind("127.0.0.1:0").unwrap();
        for s in [&s5424, &s3164] {
            s.set_read_timeout(Some(DEADLINE)).unwrap();
        }
        let proxy = ProxyBuilder::new(
            "global\n log-tag gtag\n\
             defaults\n mode http\n timeout connect 2s\n timeout client 5s\n timeout server 5s\n\
              log 127.0.0.1:{{l5424}} format rfc5424 local0\n log 127.0.0.1:{{l3164}} local0\n\
             frontend f\n bind 127.0.0.1:{{fe}}\n log-tag ftag\n log-format \"%ST %r\"\n\
              log-format-sd \"[exampleSDID@1234 status=\\\"%ST\\\" fe=\\\"%f\\\" h=\\\"%[capture.req.hdr(0)]\\\" v=\\\"%[var(txn.x)]\\\"]\"\n\
              capture request header host len 20\n http-request set-var(txn.x) str(abc)\n default_backend b\n\
             frontend f2\n bind 127.0.0.1:{{fe2}}\n log-format \"f2 %ST\"\n default_backend b\n\
             backend b\n log-tag btag\n server s 127.0.0.1:{{app}}\n",
        )
        .bin(&bin)
        .port("app", app.port())
        .var("l5424", s5424.local_addr().unwrap().port())
        .var("l3164", s3164.local_addr().unwrap().port())
        .start();
        let mut lines = Vec::new();
        for fe in ["fe", "fe2"] {
            let mut c = proxy.connect(fe);
            let res = c.http_request(b"GET /x HTTP/1.1\r\nhost: h\r\nconnection: close\r\n\r\n");
            assert_eq!(res.status, 200);
            lines.push(stable_5424(&recv(&s5424)));
            // (HAProxy 2.6.12 writes no host field here, moonproxy `localhost`: the
            // comparison starts at the tag.)
            lines.push(stable_3164(&recv(&s3164)));
        }
        let who = bin.display().to_string();
        assert_eq!(
            lines,
            [
                "<134>1 - ftag - [exampleSDID@1234 status=\"200\" fe=\"f\" h=\"h\" v=\"abc\"] 200 GET /x HTTP/1.1",
                "ftag: 200 GET /x HTTP/1.1",
                // The backend's tag is for its own events: the frontend's (the global
                // one here) tags the stream's line.
                "<134>1 - gtag - - f2 200",
                "gtag: f2 200",
            ],
            "{who}"
        );
    }
}

#[test]
fn logging_keyword_errors_as_haproxy() {
    for bin in moonproxy_and_haproxy() {
        for (line, msg) in [
            ("log-format-sd", "log-format-sd expects an argument."),
            ("log-format-sd a b", "log-format-sd expects only one argument, don't forget to escape spaces!"),
            ("log-tag", "'log-tag' expects a tag for use in syslog."),
            ("log-format-sd %XX", "failed to parse log-format-sd : no such format variable 'XX'"),
        ] {
            let cfg = format!("defaults\n mode http\n timeout client 1s\n timeout server 1s\n timeout connect 1s\nfrontend f\n bind 127.0.0.1:{{{{fe}}}}\n {line}\n");
            let out = ProxyBuilder::new(&cfg).bin(&bin).flags(["-c"]).run();
            assert_eq!(out.code(), Some(1), "{}: {line}", bin.display());
            assert!(out.stderr.contains(msg), "{}: {line}: {}", bin.display(), out.stderr);
        }
    }
}

#[test]
fn logurilen_cuts_the_logged_request_line() {
    let app = http_app();
    for bin in moonproxy_and_haproxy() {
        let proxy = ProxyBuilder::new(
            "global\n tune.http.logurilen 20\n\
             defaults\n mode http\n timeout connect 2s\n timeout client 5s\n timeout server 5s\n\
             frontend f\n bind 127.0.0.1:{{fe}}\n log stdout format raw local0\n\
              log-format \"r=[%r] HM=[%HM] HU=[%HU] HP=[%HP] Q=%{+Q}r\"\n default_backend b\n\
             backend b\n server s 127.0.0.1:{{app}}\n",
        )
        .bin(&bin)
        .port("app", app.port())
        .start();
        let mut c = proxy.connect("fe");
        let res = c.http_request(b"GET /abcdefghijklmnopqrstuvwxyz0123456789?q=1 HTTP/1.1\r\nhost: h\r\nconnection: close\r\n\r\n");
        assert_eq!(res.status, 200);
        proxy.wait_for_line(
            |l| l == "r=[GET /abcdefghijklmno] HM=[GET] HU=[/abcdefghijklmno] HP=[/abcdefghijklmno] Q=\"GET /abcdefghijklmno\"",
            DEADLINE,
        );
    }
}
