//! Protocol health checks (`option redis-check`, `smtpchk`, `pgsql-check`,
//! `mysql-check`, `ldap-check`, `ssl-hello-chk`) on moonproxy and on HAProxy 2.6 with
//! the same configuration: servers written here speak a minimal version of each
//! protocol, rightly or wrongly, and the `Health check for server` lines of
//! `option log-health-checks` must say the same on both.

mod common;

use common::*;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, Mutex};

/// One step of a scripted server's conversation.
#[derive(Clone, Debug)]
enum Step {
    /// Writes these bytes.
    Say(Vec<u8>),
    /// Reads once (what the check sent), stops if the check closed.
    Hear,
    /// Closes the connection.
    Close,
}
use Step::{Close, Hear, Say};

fn say(bytes: impl AsRef<[u8]>) -> Step {
    Say(bytes.as_ref().to_vec())
}

/// A server that plays `script` on every connection (then reads until the check
/// closes), keeping what it heard on the first one.
struct Scripted {
    heard: Arc<Mutex<Option<Vec<u8>>>>,
    backend: Backend,
}

impl Scripted {
    fn start(script: Vec<Step>) -> Scripted {
        let heard: Arc<Mutex<Option<Vec<u8>>>> = Arc::default();
        let keep = heard.clone();
        let backend = Backend::custom(move |mut s: TcpStream, _| {
            s.set_read_timeout(Some(DEADLINE)).unwrap();
            let mut got = Vec::new();
            let mut buf = [0u8; 4096];
            let mut closed = false;
            for step in &script {
                match step {
                    Say(bytes) => {
                        let _ = s.write_all(bytes);
                    }
                    Hear => match s.read(&mut buf) {
                        Ok(n) if n > 0 => got.extend_from_slice(&buf[..n]),
                        _ => break,
                    },
                    Close => {
                        closed = true;
                        break;
                    }
                }
            }
            keep.lock().unwrap().get_or_insert(got);
            if !closed {
                while matches!(s.read(&mut buf), Ok(n) if n > 0) {}
            }
        });
        Scripted { heard, backend }
    }

    fn heard(&self) -> Vec<u8> {
        assert!(wait_until(DEADLINE, || self.heard.lock().unwrap().is_some()), "the check connected");
        self.heard.lock().unwrap().clone().unwrap()
    }
}

/// One `listen` section per case, named after it, its server `s` checked by `option`.
struct Case {
    name: &'static str,
    option: &'static str,
    server: Scripted,
}

fn case(name: &'static str, option: &'static str, script: Vec<Step>) -> Case {
    Case { name, option, server: Scripted::start(script) }
}

/// Runs `cases` on `bin` and returns, per case, its first `Health check` line with
/// the duration left out.
fn run(bin: &std::path::Path, cases: &[Case]) -> Vec<String> {
    run_with(bin, "", cases)
}

/// [`run`] with more lines in the `defaults` section.
fn run_with(bin: &std::path::Path, defaults: &str, cases: &[Case]) -> Vec<String> {
    let mut config = format!(
        "global
    log stdout format raw local0
defaults
    mode tcp
    log global
    option log-health-checks
    timeout connect 1s
    timeout client 5s
    timeout server 5s
    timeout check 300ms
{defaults}"
    );
    for c in cases {
        config += &format!("backend {}\n    {}\n    server s 127.0.0.1:{{{{{}}}}} check inter 100ms rise 1 fall 1\n", c.name, c.option, c.name);
    }
    // HAProxy wants a listener.
    config += &format!("frontend fe\n    bind 127.0.0.1:{{{{fe}}}}\n    default_backend {}\n", cases[0].name);
    let mut builder = ProxyBuilder::new(&config).bin(bin);
    for c in cases {
        builder = builder.port(c.name, c.server.backend.port());
    }
    let proxy = builder.start();
    cases
        .iter()
        .map(|c| {
            let prefix = format!("Health check for server {}/s ", c.name);
            let line = proxy.wait_for_line(|l| l.starts_with(&prefix), DEADLINE);
            let at = line.find("check duration: ").expect("a check duration");
            let rest = &line[at..];
            let end = rest.find("ms").expect("milliseconds") + 2;
            format!("{}check duration: Xms{}", &line[..at], &rest[end..])
        })
        .collect()
}

/// Runs `cases` on moonproxy and HAProxy, expecting `lines` from both.
fn compare(cases: impl Fn() -> Vec<Case>, lines: &[&str]) {
    for bin in moonproxy_and_haproxy() {
        let got = run(&bin, &cases());
        assert_eq!(got, lines, "{}", bin.display());
    }
}

#[test]
fn redis_check() {
    compare(
        || {
            vec![
                case("pong", "option redis-check", vec![Hear, say("+PONG\r\n"), Close]),
                case("err", "option redis-check", vec![Hear, say("-ERR wrong\r\n"), Close]),
                case("closing", "option redis-check", vec![Hear, Close]),
            ]
        },
        &[
            "Health check for server pong/s succeeded, reason: Layer7 check passed, code: 0, info: \"Redis server is ok\", check duration: Xms, status: 1/1 UP.",
            "Health check for server err/s failed, reason: Layer7 wrong status, code: 0, info: \"-ERR wrong\", check duration: Xms, status: 0/1 DOWN.",
            "Health check for server closing/s failed, reason: Layer7 wrong status, code: 0, info: \"TCPCHK got an empty response at step 2\", check duration: Xms, status: 0/1 DOWN.",
        ],
    );
}

#[test]
fn redis_check_sends_a_resp_ping_and_a_refused_connect_has_no_step() {
    let pong = Scripted::start(vec![Hear, say("+PONG\r\n"), Close]);
    let dead = RefusingPort::new();
    let proxy = ProxyBuilder::new(
        "global
    log stdout format raw local0
defaults
    mode tcp
    log global
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{{fe}}
    default_backend b
backend b
    option redis-check
    server up 127.0.0.1:{{up}} check inter 100ms
    server dead 127.0.0.1:{{dead}} check inter 100ms",
    )
    .port("up", pong.backend.port())
    .port("dead", dead.port())
    .start();
    let down = proxy.wait_for_line(|l| l.starts_with("Server b/dead is DOWN"), DEADLINE);
    assert!(down.contains("reason: Layer4 connection problem, info: \"Connection refused\", check duration"), "{down}");
    assert_eq!(pong.heard(), b"*1\r\n$4\r\nPING\r\n");
    assert_eq!(proxy.count_lines(|l| l.starts_with("Server b/up is")), 0, "stays up");
}

#[test]
fn smtp_check() {
    compare(
        || {
            vec![
                case("ok", "option smtpchk", vec![say("220 mx ESMTP\r\n"), Hear, say("250 hello\r\n"), Hear, say("221 bye\r\n")]),
                case("ehlo", "option smtpchk EHLO example.org", vec![say("220 mx\r\n"), Hear, say("250-mx\r\n250 SIZE 1\r\n"), Hear, say("221 2.0.0 bye\r\n")]),
                case("refusing", "option smtpchk", vec![say("554 go away\r\n"), Hear]),
                case("junk", "option smtpchk", vec![say("hello\r\n"), Hear]),
                case("multiline", "option smtpchk", vec![say("220-mx\r\n220 ok\r\n"), Hear]),
                case("helo", "option smtpchk", vec![say("220 mx\r\n"), Hear, say("501 bad\r\n"), Close]),
                case("quit", "option smtpchk", vec![say("220 mx\r\n"), Hear, say("250 hi\r\n"), Hear, say("500 no\r\n"), Hear]),
                case("noquit", "option smtpchk", vec![say("220 mx\r\n"), Hear, say("250 hi\r\n"), Hear, Close]),
            ]
        },
        &[
            "Health check for server ok/s succeeded, reason: Layer7 check passed, code: 221, info: \"bye\", check duration: Xms, status: 1/1 UP.",
            "Health check for server ehlo/s succeeded, reason: Layer7 check passed, code: 221, info: \"2.0.0 bye\", check duration: Xms, status: 1/1 UP.",
            "Health check for server refusing/s failed, reason: Layer7 wrong status, code: 554, info: \"go away\", check duration: Xms, status: 0/1 DOWN.",
            "Health check for server junk/s failed, reason: Layer7 invalid response, info: \"hello\", check duration: Xms, status: 0/1 DOWN.",
            "Health check for server multiline/s failed, reason: Layer7 invalid response, info: \"220-mx\", check duration: Xms, status: 0/1 DOWN.",
            "Health check for server helo/s failed, reason: Layer7 wrong status, code: 501, info: \"bad\", check duration: Xms, status: 0/1 DOWN.",
            "Health check for server quit/s failed, reason: Layer7 wrong status, code: 500, info: \"no\", check duration: Xms, status: 0/1 DOWN.",
            "Health check for server noquit/s failed, reason: Layer7 wrong status, code: 0, info: \"TCPCHK got an empty response at step 7\", check duration: Xms, status: 0/1 DOWN.",
        ],
    );
}

#[test]
fn smtp_check_says_hello_then_quit() {
    for (option, hello) in [("option smtpchk", "HELO localhost"), ("option smtpchk EHLO example.org", "EHLO example.org"), ("option smtpchk FOO bar", "HELO localhost")] {
        let server = Scripted::start(vec![say("220 mx\r\n"), Hear, say("250 hi\r\n"), Hear, say("221 bye\r\n")]);
        let heard = server.heard.clone();
        run(&moonproxy_bin(), &[Case { name: "m", option, server }]);
        assert!(wait_until(DEADLINE, || heard.lock().unwrap().is_some()));
        let got = heard.lock().unwrap().clone().unwrap();
        assert_eq!(String::from_utf8_lossy(&got), format!("{hello}\r\nQUIT\r\n"), "{option}");
    }
}

fn auth(len: u32, code: u32) -> Vec<u8> {
    [&b"R"[..], &len.to_be_bytes(), &code.to_be_bytes()].concat()
}

#[test]
fn pgsql_check() {
    compare(
        || {
            vec![
                case("ok", "option pgsql-check user bob", vec![Hear, say(auth(8, 0)), Close]),
                case("md5", "option pgsql-check user bob", vec![Hear, say([auth(12, 5), b"salt".to_vec()].concat()), Close]),
                case("error", "option pgsql-check user bob", vec![Hear, say(b"E\0\0\0\x20SFATAL\0C28000\0Mno such role\0\0"), Hear]),
                case("other", "option pgsql-check user bob", vec![Hear, say(auth(8, 1)), Close]),
                case("closing", "option pgsql-check user bob", vec![Hear, Close]),
            ]
        },
        &[
            "Health check for server ok/s succeeded, reason: Layer7 check passed, code: 0, info: \"PostgreSQL server is ok\", check duration: Xms, status: 1/1 UP.",
            "Health check for server md5/s succeeded, reason: Layer7 check passed, code: 0, info: \"PostgreSQL server is ok\", check duration: Xms, status: 1/1 UP.",
            "Health check for server error/s failed, reason: Layer7 invalid response, info: \"FATAL\", check duration: Xms, status: 0/1 DOWN.",
            "Health check for server other/s failed, reason: Layer7 wrong status, code: 0, info: \"PostgreSQL unknown error\", check duration: Xms, status: 0/1 DOWN.",
            "Health check for server closing/s failed, reason: Layer7 invalid response, info: \"TCPCHK got an empty response at step 3\", check duration: Xms, status: 0/1 DOWN.",
        ],
    );
    // The startup message: protocol 3.0, `user`.
    let server = Scripted::start(vec![Hear, say(auth(8, 0)), Close]);
    let heard = server.heard.clone();
    run(&moonproxy_bin(), &[Case { name: "p", option: "option pgsql-check user bob", server }]);
    assert_eq!(heard.lock().unwrap().as_deref(), Some(&b"\0\0\0\x12\0\x03\0\0user\0bob\0\0"[..]));
}

fn mysql_packet(seq: u8, payload: &[u8]) -> Vec<u8> {
    [&(payload.len() as u32).to_le_bytes()[..3], &[seq], payload].concat()
}

fn mysql_handshake() -> Vec<u8> {
    mysql_packet(0, &[&b"\x0a5.7.1-test\0"[..], &[0; 40]].concat())
}

fn mysql_error(seq: u8) -> Vec<u8> {
    mysql_packet(seq, &[&[0xff, 0x15, 0x04][..], b"#28000Access denied for user"].concat())
}

#[test]
fn mysql_check() {
    let ok = || mysql_packet(2, &[0, 0, 0, 2, 0, 0, 0]);
    compare(
        || {
            vec![
                case("greets", "option mysql-check", vec![say(mysql_handshake()), Hear]),
                case("refuses", "option mysql-check", vec![say(mysql_error(0)), Hear]),
                case("closing", "option mysql-check", vec![Close]),
                case("login", "option mysql-check user bob", vec![say(mysql_handshake()), Hear, say(ok()), Close]),
                case("oldlogin", "option mysql-check user bob pre-41", vec![say(mysql_handshake()), Hear, say(ok()), Close]),
                case("denied", "option mysql-check user bob", vec![say(mysql_handshake()), Hear, say(mysql_error(2)), Close]),
                case("cut", "option mysql-check user bob", vec![say(mysql_handshake()), Hear, Close]),
            ]
        },
        &[
            "Health check for server greets/s succeeded, reason: Layer7 check passed, code: 0, info: \"5.7.1-test\", check duration: Xms, status: 1/1 UP.",
            "Health check for server refuses/s failed, reason: Layer7 wrong status, code: 1045, info: \"#28000Access denied for user\", check duration: Xms, status: 0/1 DOWN.",
            "Health check for server closing/s failed, reason: Layer7 invalid response, info: \"TCPCHK got an empty response at step 2\", check duration: Xms, status: 0/1 DOWN.",
            "Health check for server login/s succeeded, reason: Layer7 check passed, code: 0, info: \"5.7.1-test\", check duration: Xms, status: 1/1 UP.",
            "Health check for server oldlogin/s succeeded, reason: Layer7 check passed, code: 0, info: \"5.7.1-test\", check duration: Xms, status: 1/1 UP.",
            "Health check for server denied/s failed, reason: Layer7 wrong status, code: 1045, info: \"#28000Access denied for user\", check duration: Xms, status: 0/1 DOWN.",
            "Health check for server cut/s failed, reason: Layer7 invalid response, check duration: Xms, status: 0/1 DOWN.",
        ],
    );
}

#[test]
fn mysql_check_logs_in_then_quits() {
    let server = Scripted::start(vec![say(mysql_handshake()), Hear, say(mysql_packet(2, &[0, 0, 0, 2, 0, 0, 0])), Close]);
    let heard = server.heard.clone();
    run(&moonproxy_bin(), &[Case { name: "m", option: "option mysql-check user bob", server }]);
    let got = heard.lock().unwrap().clone().unwrap();
    // A login packet (sequence 1) naming the user, then COM_QUIT.
    assert_eq!(got[3], 1, "{got:?}");
    assert!(got.ends_with(b"bob\0\0\x01\0\0\0\x01"), "{got:?}");
}

#[test]
fn ldap_check() {
    let response = |code: u8| vec![0x30, 0x0c, 0x02, 0x01, 0x01, 0x61, 0x07, 0x0a, 0x01, code, 0x04, 0x00, 0x04, 0x00];
    compare(
        || {
            vec![
                case("ok", "option ldap-check", vec![Hear, say(response(0)), Close]),
                case("denied", "option ldap-check", vec![Hear, say(response(49)), Close]),
                case("junk", "option ldap-check", vec![Hear, say("hello world, this is junk"), Close]),
                case("short", "option ldap-check", vec![Hear, say([0x30, 0x0c, 0x02, 0x01, 0x01]), Close]),
            ]
        },
        &[
            "Health check for server ok/s succeeded, reason: Layer7 check passed, code: 0, info: \"Success\", check duration: Xms, status: 1/1 UP.",
            "Health check for server denied/s failed, reason: Layer7 wrong status, code: 49, info: \"See RFC: http://tools.ietf.org/html/rfc4511#section-4.1.9\", check duration: Xms, status: 0/1 DOWN.",
            "Health check for server junk/s failed, reason: Layer7 invalid response, info: \"Not LDAPv3 protocol\", check duration: Xms, status: 0/1 DOWN.",
            "Health check for server short/s failed, reason: Layer7 invalid response, check duration: Xms, status: 0/1 DOWN.",
        ],
    );
}

#[test]
fn ssl_hello_check() {
    let server_hello = [&[0x16, 0x03, 0x03, 0x00, 0x2a, 0x02, 0x00, 0x00, 0x26, 0x03, 0x03][..], &[0; 38]].concat();
    compare(
        || {
            vec![
                case("hello", "option ssl-hello-chk", vec![Hear, say(&server_hello), Hear]),
                case("alert", "option ssl-hello-chk", vec![Hear, say([0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x28]), Hear]),
                case("http", "option ssl-hello-chk", vec![Hear, say("HTTP/1.0 400 Bad\r\n\r\n"), Hear]),
                case("closing", "option ssl-hello-chk", vec![Hear, Close]),
                case("silent", "option ssl-hello-chk", vec![Hear, Hear]),
            ]
        },
        &[
            "Health check for server hello/s succeeded, reason: Layer6 check passed, check duration: Xms, status: 1/1 UP.",
            "Health check for server alert/s succeeded, reason: Layer6 check passed, check duration: Xms, status: 1/1 UP.",
            "Health check for server http/s failed, reason: Layer6 invalid response, check duration: Xms, status: 0/1 DOWN.",
            "Health check for server closing/s failed, reason: Layer6 invalid response, info: \"TCPCHK got an empty response at step 2\", check duration: Xms, status: 0/1 DOWN.",
            "Health check for server silent/s failed, reason: Layer6 timeout, check duration: Xms, status: 0/1 DOWN.",
        ],
    );
}

/// A real TLS server (the proxy's own `ssl` bind) answers moonproxy's ClientHello.
#[test]
fn ssl_hello_check_against_a_tls_listener() {
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let pem = format!("{}{}", ck.cert.pem(), ck.key_pair.serialize_pem());
    let proxy = ProxyBuilder::new(
        "global
    log stdout format raw local0
defaults
    mode tcp
    log global
    option log-health-checks
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend tls
    bind 127.0.0.1:{{tls}} ssl crt {{dir}}/cert.pem
    default_backend sink
backend sink
    server none 127.0.0.1:{{none}}
backend b
    option ssl-hello-chk
    server s 127.0.0.1:{{tls}} check inter 100ms rise 1 fall 1",
    )
    .free_port("tls")
    .free_port("none")
    .file("cert.pem", &pem)
    .start();
    let line = proxy.wait_for_line(|l| l.starts_with("Health check for server b/s "), DEADLINE);
    assert!(line.contains("succeeded, reason: Layer6 check passed"), "{line}");
}

/// Switching from one check to another: the last `option` wins, and `tcp-check`
/// rules after a protocol check are ignored with HAProxy's warning.
#[test]
fn configuration_matches_haproxy() {
    let base = "defaults\n    mode tcp\n    timeout connect 1s\n    timeout client 1s\n    timeout server 1s\nbackend b\n";
    let errors = [
        ("option mysql-check user", "'option mysql-check user' expects <username> as argument."),
        ("option mysql-check foo", "'option mysql-check' only supports optional values: 'user' (got 'foo')."),
        ("option mysql-check user bob post-42", "keyword 'user' only supports 'post-41' and 'pre-41' (got 'post-42')."),
        ("option mysql-check user bob post-41 x", "'option mysql-check' cannot handle unexpected argument 'x'."),
        ("option pgsql-check", "'option pgsql-check' expects 'user <username>' as argument."),
        ("option pgsql-check usr bob", "'option pgsql-check' only supports optional values: 'user'."),
        ("option pgsql-check user bob extra", "'option pgsql-check' cannot handle unexpected argument 'extra'."),
        ("option redis-check foo", "'option redis-check' cannot handle unexpected argument 'foo'."),
        ("option ldap-check x", "'option ldap-check' cannot handle unexpected argument 'x'."),
        ("option ssl-hello-chk x", "'option ssl-hello-chk' cannot handle unexpected argument 'x'."),
        ("option smtpchk EHLO a b", "'option smtpchk' cannot handle unexpected argument 'b'."),
        ("no option redis-check", "negation/default is not supported for option 'redis-check'."),
    ];
    for bin in moonproxy_and_haproxy() {
        for (line, message) in errors {
            let out = ProxyBuilder::new(&format!("{base}    {line}\n")).bin(&bin).arg("-c").run();
            assert_ne!(out.code(), Some(0), "{}: {line}", bin.display());
            assert!(out.stderr.contains(message), "{}: {line}\n{}", bin.display(), out.stderr);
        }
        let rules = format!("{base}    option redis-check\n    tcp-check send PING\\r\\n\n    server s 127.0.0.1:6379 check\n");
        let out = ProxyBuilder::new(&rules).bin(&bin).arg("-c").run();
        // Valid, but without a listener: exit 2 on both.
        assert_eq!(out.code(), Some(2), "{}: {}", bin.display(), out.stderr);
        let warning = "backend 'b' uses tcp-check rules without 'option tcp-check', so the rules are ignored.";
        assert!(out.stderr.contains(warning), "{}: {}", bin.display(), out.stderr);
    }
}

/// `tcp-check` rules after `option redis-check` are ignored; `option tcp-check` after it
/// replaces it (a connect check), as `option redis-check` replaces `option httpchk`.
#[test]
fn the_last_check_option_wins() {
    compare(
        || {
            vec![
                case("ignored", "option redis-check\n    tcp-check send PING\\r\\n\n    tcp-check expect string +OK", vec![Hear, say("+PONG\r\n"), Close]),
                case("replaced", "option redis-check\n    option tcp-check", vec![Close]),
                case("http", "option httpchk\n    option redis-check", vec![Hear, say("+PONG\r\n"), Close]),
            ]
        },
        &[
            "Health check for server ignored/s succeeded, reason: Layer7 check passed, code: 0, info: \"Redis server is ok\", check duration: Xms, status: 1/1 UP.",
            "Health check for server replaced/s succeeded, reason: Layer4 check passed, check duration: Xms, status: 1/1 UP.",
            "Health check for server http/s succeeded, reason: Layer7 check passed, code: 0, info: \"Redis server is ok\", check duration: Xms, status: 1/1 UP.",
        ],
    );
}

/// A protocol check in `defaults` is every backend's, unless one chooses another.
#[test]
fn defaults_pass_the_option_on() {
    for bin in moonproxy_and_haproxy() {
        let cases = [
            case("inherits", "", vec![Hear, say("+PONG\r\n"), Close]),
            case("own", "option tcp-check", vec![Close]),
        ];
        let got = run_with(&bin, "    option redis-check\n", &cases);
        assert_eq!(
            got,
            [
                "Health check for server inherits/s succeeded, reason: Layer7 check passed, code: 0, info: \"Redis server is ok\", check duration: Xms, status: 1/1 UP.",
                "Health check for server own/s succeeded, reason: Layer4 check passed, check duration: Xms, status: 1/1 UP.",
            ],
            "{}",
            bin.display()
        );
    }
}
