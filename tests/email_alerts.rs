//! Email alerts (`mailers`, `email-alert`) on moonproxy and on HAProxy 2.6 with the same
//! configuration: an SMTP server written here records what each proxy sends when a
//! server goes DOWN, and the dialogues must be the same byte for byte (but for the
//! date and the check's duration).

mod common;

use common::*;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

/// A minimal SMTP server: greets, answers each command as a mail relay would, and keeps
/// what every client sent (one entry per connection).
struct Smtp {
    port: u16,
    sessions: Arc<Mutex<Vec<Vec<u8>>>>,
}

impl Smtp {
    fn start() -> Smtp {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let sessions: Arc<Mutex<Vec<Vec<u8>>>> = Arc::default();
        let keep = sessions.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let keep = keep.clone();
                std::thread::spawn(move || Smtp::session(stream, &keep));
            }
        });
        Smtp { port, sessions }
    }

    fn session(mut stream: TcpStream, sessions: &Mutex<Vec<Vec<u8>>>) {
        stream.set_read_timeout(Some(DEADLINE)).unwrap();
        let index = {
            let mut all = sessions.lock().unwrap();
            all.push(Vec::new());
            all.len() - 1
        };
        let _ = stream.write_all(b"220 test ESMTP\r\n");
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut in_data = false;
        loop {
            let mut line = Vec::new();
            match reader.read_until(b'\n', &mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            sessions.lock().unwrap()[index].extend_from_slice(&line);
            let answer: &[u8] = if in_data {
                if line != b".\r\n" {
                    continue;
                }
                in_data = false;
                b"250 ok queued\r\n"
            } else if line.starts_with(b"HELO") || line.starts_with(b"EHLO") || line.starts_with(b"MAIL") || line.starts_with(b"RCPT") {
                b"250 ok\r\n"
            } else if line.starts_with(b"DATA") {
                in_data = true;
                b"354 go ahead\r\n"
            } else if line.starts_with(b"QUIT") {
                let _ = stream.write_all(b"221 bye\r\n");
                return;
            } else {
                b"500 what?\r\n"
            };
            let _ = stream.write_all(answer);
        }
    }

    /// The complete dialogues so far (those that reached `QUIT`), as text.
    fn complete(&self) -> Vec<String> {
        self.sessions.lock().unwrap().iter().filter(|s| s.ends_with(b"QUIT\r\n")).map(|s| String::from_utf8_lossy(s).into_owned()).collect()
    }
}

/// The dialogue with the date and the check duration replaced.
fn normalized(dialogue: &str) -> String {
    dialogue
        .split_inclusive("\r\n")
        .map(|l| {
            if l.starts_with("Date: ") {
                return "Date: X\r\n".to_string();
            }
            match l.find("check duration: ") {
                Some(at) => {
                    let rest = &l[at..];
                    let end = rest.find("ms").unwrap();
                    format!("{}check duration: X{}", &l[..at], &rest[end..])
                }
                None => l.to_string(),
            }
        })
        .collect()
}

const CONFIG: &str = "mailers mta
    mailer smtp1 127.0.0.1:{{smtp1}}
    mailer smtp2 127.0.0.1:{{smtp2}}
    timeout mail 5s
defaults
    mode tcp
    timeout connect 1s
    timeout client 5s
    timeout server 5s
listen px
    bind 127.0.0.1:{{fe}}
    email-alert mailers mta
    email-alert from haproxy@example.com
    email-alert to ops@example.com
    email-alert myhostname lb1
    email-alert level {{level}}
    server dead 127.0.0.1:{{dead}} check inter 200ms fall 1 rise 1
    server live 127.0.0.1:{{live}} check inter 200ms fall 1 rise 1
";

/// A server going DOWN (an `alert`) is mailed to both mailers with HAProxy's dialogue;
/// at level `alert` nothing else is, at `notice` its return UP is too.
#[test]
fn a_server_going_down_is_mailed_as_haproxy_does() {
    let expected = "HELO lb1\r
MAIL FROM:<haproxy@example.com>\r
RCPT TO:<ops@example.com>\r
DATA\r
From: haproxy@example.com\r
To: ops@example.com\r
Date: X\r
Subject: [HAProxy Alert] Server px/dead is DOWN, reason: Layer4 connection problem, info: \"Connection refused\", check duration: Xms. 1 active and 0 backup servers left. 0 sessions active, 0 requeued, 0 remaining in queue\r
\r
Server px/dead is DOWN, reason: Layer4 connection problem, info: \"Connection refused\", check duration: Xms. 1 active and 0 backup servers left. 0 sessions active, 0 requeued, 0 remaining in queue\r
\r
.\r
QUIT\r
";
    for bin in moonproxy_and_haproxy() {
        let (smtp1, smtp2) = (Smtp::start(), Smtp::start());
        let live = Backend::echo();
        let dead = RefusingPort::new();
        let proxy = ProxyBuilder::new(CONFIG)
            .bin(&bin)
            .port("smtp1", smtp1.port)
            .port("smtp2", smtp2.port)
            .port("live", live.port())
            .port("dead", dead.port())
            .var("level", "alert")
            .start();
        proxy.wait_for_line(|l| l.contains("Server px/dead is DOWN"), DEADLINE);
        assert!(wait_until(DEADLINE, || smtp1.complete().len() == 1 && smtp2.complete().len() == 1), "{}", bin.display());
        for smtp in [&smtp1, &smtp2] {
            assert_eq!(normalized(&smtp.complete()[0]), expected, "{}", bin.display());
        }
        let date = smtp1.complete()[0].lines().find(|l| l.starts_with("Date: ")).unwrap().to_string();
        // `Thu, 26 Nov 2026 13:36:49 +0000 (UTC)`
        assert!(date.len() > 30 && (date.contains(" +") || date.contains(" -")), "{}: {date}", bin.display());
        // The live server's checks pass without a state change: nothing more is mailed.
        std::thread::sleep(std::time::Duration::from_millis(600));
        assert_eq!(smtp1.sessions.lock().unwrap().len(), 1, "{}", bin.display());
    }
}

/// At `email-alert level notice`, a server coming back UP (a `notice`) is mailed too.
#[test]
fn level_notice_mails_a_server_coming_back_up() {
    for bin in moonproxy_and_haproxy() {
        let smtp = Smtp::start();
        let live = Backend::echo();
        let dead = RefusingPort::new();
        let dead_port = dead.port();
        let proxy = ProxyBuilder::new(CONFIG)
            .bin(&bin)
            .port("smtp1", smtp.port)
            .port("smtp2", smtp.port)
            .port("live", live.port())
            .port("dead", dead_port)
            .var("level", "notice")
            .start();
        proxy.wait_for_line(|l| l.contains("Server px/dead is DOWN"), DEADLINE);
        let _revived = dead.listen(Behaviour::Echo);
        proxy.wait_for_line(|l| l.contains("Server px/dead is UP"), DEADLINE);
        assert!(wait_until(DEADLINE, || smtp.complete().iter().filter(|d| d.contains("is UP")).count() == 2), "{}: {:?}", bin.display(), smtp.complete());
        let up = smtp.complete().into_iter().find(|d| d.contains("is UP")).unwrap();
        assert!(
            normalized(&up).contains("Subject: [HAProxy Alert] Server px/dead is UP, reason: Layer4 check passed, check duration: Xms. 2 active and 0 backup servers online. 0 sessions requeued, 0 total in queue\r\n"),
            "{}: {up}",
            bin.display()
        );
    }
}

/// The configuration messages, word for word.
#[test]
fn configuration_messages_match_haproxy() {
    let backend = "backend be\n    timeout connect 1s\n    timeout server 1s\n";
    let errors: &[(&str, &str)] = &[
        ("mailers m\n    mailer\n", "'mailer' expects <name> and <addr>[:<port>] as arguments."),
        ("mailers m\n    mailer a 1.2.3.4\n", "'mailer a' : missing port specification in '1.2.3.4'"),
        ("mailers m\n    mailer c 127.0.0.1:0\n", "'mailer c' : invalid port '0'"),
        ("mailers m\n    mailer e 127.0.0.1:25-30\n", "'mailer e' : port range not permitted here in '127.0.0.1:25-30'"),
        ("mailers m\n    timeout mail\n", "'timeout mail' expects <time> as argument."),
        ("mailers m\n    timeout foo 1s\n", "'timeout' expects 'mail' and <time> as arguments got 'foo'."),
        ("mailers m\n    foo\n", "unknown keyword 'foo' in 'mailers' section"),
        ("mailers\n", "missing name for mailers section."),
        ("mailers m\n    mailer a 127.0.0.1:25\nmailers m\n", "mailers section 'm' has the same name as another mailers section declared at"),
        ("backend be\n    email-alert\n", "missing argument after 'email-alert'."),
        ("backend be\n    email-alert foo x\n", "email-alert: unknown argument 'foo'."),
        ("backend be\n    email-alert level foo\n", "unknown log level 'level' after 'foo'"),
        (
            "backend be\n    email-alert from a@b\n    email-alert to c@d\n    email-alert mailers nosuch\n",
            "Proxy 'be': unable to find mailers 'nosuch'.",
        ),
    ];
    let incomplete = "'email-alert' will be ignored for backend 'be' (the presence any of 'email-alert from', 'email-alert level' 'email-alert mailers', 'email-alert myhostname', or 'email-alert to' requires each of 'email-alert from', 'email-alert mailers' and 'email-alert to' to be present).";
    for bin in moonproxy_and_haproxy() {
        for (text, message) in errors {
            let out = ProxyBuilder::new(&format!("{text}{}", if text.starts_with("backend") { "" } else { backend })).bin(&bin).arg("-c").run();
            assert_eq!(out.code(), Some(1), "{}: {text}\n{}", bin.display(), out.stderr);
            assert!(out.stderr.contains(message), "{}: {text}: {message}\n{}", bin.display(), out.stderr);
        }
        let out = ProxyBuilder::new(&format!("mailers m\n    mailer a 127.0.0.1:25\n{backend}    email-alert from a@b\n    server s1 127.0.0.1:1 check\n")).bin(&bin).arg("-c").run();
        assert_eq!(out.code(), Some(2), "{}: {}", bin.display(), out.stderr);
        assert!(out.stderr.contains(incomplete), "{}: {}", bin.display(), out.stderr);
        assert!(out.stderr.contains("Removing incomplete section 'mailers m'."), "{}: {}", bin.display(), out.stderr);
    }
}
