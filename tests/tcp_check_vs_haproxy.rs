//! TCP health checks (`option tcp-check`, `tcp-check` rules) on moonproxy and on
//! HAProxy 2.6 with the same configuration: a redis-like server answering `+PONG` or
//! not, the UP/DOWN transitions, and HAProxy's words in the log lines.

mod common;

use common::*;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, Mutex};

/// What the redis-like server does with each connection.
#[derive(Clone, Copy, Debug)]
enum Reply {
    /// Answers these bytes to the first line it reads, then closes.
    Say(&'static str),
    /// Closes without a byte once it read a line.
    Close,
    /// Reads and never answers.
    Silent,
}

#[derive(Clone)]
struct Redis {
    reply: Arc<Mutex<Reply>>,
    received: Arc<Mutex<Vec<Vec<u8>>>>,
}

impl Redis {
    fn start(reply: Reply) -> (Redis, Backend) {
        let r = Redis { reply: Arc::new(Mutex::new(reply)), received: Arc::default() };
        let server = r.clone();
        let backend = Backend::custom(move |s, _| server.serve(s));
        (r, backend)
    }

    fn set(&self, reply: Reply) {
        *self.reply.lock().unwrap() = reply;
    }

    fn serve(&self, mut s: TcpStream) {
        s.set_read_timeout(Some(DEADLINE)).unwrap();
        let mut line = Vec::new();
        let mut buf = [0u8; 256];
        while !line.ends_with(b"\r\n") {
            match s.read(&mut buf) {
                Ok(n) if n > 0 => line.extend_from_slice(&buf[..n]),
                _ => return,
            }
        }
        self.received.lock().unwrap().push(line);
        match *self.reply.lock().unwrap() {
            Reply::Say(text) => {
                let _ = s.write_all(text.as_bytes());
            }
            Reply::Close => {}
            Reply::Silent => while matches!(s.read(&mut buf), Ok(n) if n > 0) {},
        }
    }
}

/// `listen l` with `rules`, its servers checked every 100 ms; `timeout check 300ms`
/// bounds the wait for an answer.
fn config(rules: &str, servers: &str) -> String {
    format!(
        "global
    log stdout format raw local0
defaults
    mode tcp
    log global
    timeout connect 1s
    timeout client 5s
    timeout server 5s
    timeout check 300ms
listen l
    bind 127.0.0.1:{{{{fe}}}}
    option tcp-check
{rules}
{servers}
"
    )
}

const REDIS: &str = "    tcp-check send PING\\r\\n\n    tcp-check expect string +PONG";

/// The line with its `check duration: Nms` replaced by `check duration: Xms`, cut
/// after its first sentence.
fn state_line(proxy: &Proxy, prefix: &str) -> String {
    let line = proxy.wait_for_line(|l| l.starts_with(prefix), DEADLINE);
    let at = line.find("check duration: ").expect("a check duration");
    let rest = &line[at + 16..];
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    let line = format!("{}check duration: X{}", &line[..at], &rest[digits..]);
    match line.split_once("ms. ") {
        Some((first, _)) => format!("{first}ms"),
        None => line,
    }
}

#[test]
fn a_server_goes_down_on_a_wrong_answer_and_up_on_pong() {
    for bin in moonproxy_and_haproxy() {
        let (redis, be) = Redis::start(Reply::Say("+PONG\r\n"));
        let proxy = ProxyBuilder::new(&config(REDIS, "    server r 127.0.0.1:{{r}} check inter 100ms rise 2 fall 2"))
            .bin(&bin)
            .port("r", be.port())
            .start();
        let who = bin.display();
        assert!(wait_until(DEADLINE, || redis.received.lock().unwrap().len() >= 2), "{who}");
        assert_eq!(redis.received.lock().unwrap()[0], b"PING\r\n", "{who}");
        assert_eq!(proxy.count_lines(|l| l.starts_with("Server l/r is")), 0, "{who}: stays up");
        redis.set(Reply::Say("-ERR unknown\r\n"));
        assert_eq!(
            state_line(&proxy, "Server l/r is DOWN"),
            "Server l/r is DOWN, reason: Layer7 invalid response, info: \"TCPCHK did not match content '+PONG' at step 2\", check duration: Xms",
            "{who}"
        );
        redis.set(Reply::Say("+PONG\r\n"));
        assert_eq!(
            state_line(&proxy, "Server l/r is UP"),
            "Server l/r is UP, reason: Layer7 check passed, code: 0, info: \"(tcp-check)\", check duration: Xms",
            "{who}"
        );
    }
}

#[test]
fn refused_empty_and_silent_servers_get_haproxys_reasons() {
    for bin in moonproxy_and_haproxy() {
        let (_, closing) = Redis::start(Reply::Close);
        let (_, silent) = Redis::start(Reply::Silent);
        let dead = RefusingPort::new();
        let proxy = ProxyBuilder::new(&config(
            REDIS,
            "    server closing 127.0.0.1:{{closing}} check inter 100ms
    server silent 127.0.0.1:{{silent}} check inter 100ms
    server dead 127.0.0.1:{{dead}} check inter 100ms",
        ))
        .bin(&bin)
        .port("closing", closing.port())
        .port("silent", silent.port())
        .port("dead", dead.port())
        .start();
        let who = bin.display();
        assert_eq!(
            state_line(&proxy, "Server l/closing is DOWN"),
            "Server l/closing is DOWN, reason: Layer7 invalid response, info: \"TCPCHK got an empty response at step 2\", check duration: Xms",
            "{who}"
        );
        assert_eq!(
            state_line(&proxy, "Server l/silent is DOWN"),
            "Server l/silent is DOWN, reason: Layer7 timeout, info: \" at step 2 of tcp-check (expect string '+PONG')\", check duration: Xms",
            "{who}"
        );
        assert_eq!(
            state_line(&proxy, "Server l/dead is DOWN"),
            "Server l/dead is DOWN, reason: Layer4 connection problem, info: \"Connection refused at initial connection step of tcp-check\", check duration: Xms",
            "{who}"
        );
    }
}

/// `send-binary`, `!`, `comment`, `on-success` and `error-status`, in the
/// `Health check for server` lines of `option log-health-checks`.
#[test]
fn rule_options_word_the_reports_as_haproxy_does() {
    for bin in moonproxy_and_haproxy() {
        let (_, err) = Redis::start(Reply::Say("-ERR\r\n"));
        let (_, pong) = Redis::start(Reply::Say("+PONG\r\n"));
        let rules = "    option log-health-checks
    tcp-check comment ping
    tcp-check send-binary 50494e470d0a
    tcp-check comment pong
    tcp-check expect ! string ERR error-status L4CON
    tcp-check expect binary 2b504f4e47 on-success \"pong!\"";
        let proxy = ProxyBuilder::new(&config(
            rules,
            "    server err 127.0.0.1:{{err}} check inter 100ms
    server pong 127.0.0.1:{{pong}} check inter 100ms",
        ))
        .bin(&bin)
        .port("err", err.port())
        .port("pong", pong.port())
        .start();
        let who = bin.display();
        assert_eq!(
            state_line(&proxy, "Health check for server l/err failed"),
            "Health check for server l/err failed, reason: Layer4 connection problem, info: \"TCPCHK matched unwanted content 'ERR' at step 4 comment: pong\", check duration: Xms, status: 0/2 DOWN.",
            "{who}"
        );
        let ok = state_line(&proxy, "Health check for server l/pong succeeded");
        assert!(
            ok.starts_with("Health check for server l/pong succeeded, reason: Layer7 check passed, code: 0, info: \"pong!\", check duration: Xms, status: "),
            "{who}: {ok}"
        );
    }
}

#[test]
fn configuration_errors_and_warnings_match() {
    let cases = [
        ("    tcp-check expect", "'tcp-check expect' : expects at least a matching pattern as arguments."),
        ("    tcp-check expect string", "'tcp-check expect' : 'string' expects a <pattern> as argument."),
        ("    tcp-check foo", "'tcp-check' only supports 'comment', 'connect', 'send', 'send-binary', 'expect', 'set-var-fmt(*)', 'set-var(*)', 'unset-var(*)'. but got 'foo'"),
        ("    tcp-check send", "'tcp-check send' : 'string' expects a send as argument."),
        ("    tcp-check send-binary abc", "'tcp-check send-binary' : 'abc' invalid binary string (an even number of hex digit is expected)."),
        ("    tcp-check expect binary zz", "'tcp-check expect' : invalid binary string (an hex digit is expected (found 'z'))."),
        ("    tcp-check expect string x error-status FOO", "'tcp-check expect' : 'error-status' only supports 'L4CON', 'L6RSP', 'L7RSP' or 'L7STS' status (got 'FOO').."),
        ("    tcp-check connect port", "'tcp-check connect' : 'port' expects a port number or a sample expression as argument.."),
    ];
    for bin in moonproxy_and_haproxy() {
        for (rule, message) in cases {
            let out = ProxyBuilder::new(&config(rule, "    server s 127.0.0.1:9 check")).bin(&bin).arg("-c").run();
            assert_ne!(out.code(), Some(0), "{}: {rule}", bin.display());
            assert!(out.stderr.contains(message) || out.stdout.contains(message), "{}: {rule}\n{}{}", bin.display(), out.stdout, out.stderr);
        }
        let without_option = config("    tcp-check send PING\\r\\n", "    server s 127.0.0.1:9 check").replace("    option tcp-check\n", "");
        let out = ProxyBuilder::new(&without_option).bin(&bin).arg("-c").run();
        assert_eq!(out.code(), Some(0), "{}: {}{}", bin.display(), out.stdout, out.stderr);
        let warning = "proxy 'l' uses tcp-check rules without 'option tcp-check', so the rules are ignored.";
        assert!(out.stderr.contains(warning) || out.stdout.contains(warning), "{}: {}{}", bin.display(), out.stdout, out.stderr);
        // An HTTP server line without a port: `tcp-check connect port` gives the check one.
        let http = |rules: &str| {
            format!("defaults\n    mode http\n    timeout connect 1s\n    timeout client 1s\n    timeout server 1s\nlisten l\n    bind 127.0.0.1:{{{{fe}}}}\n    option tcp-check\n{rules}    server s 127.0.0.1 check\n")
        };
        let out = ProxyBuilder::new(&http("    tcp-check connect port 6379\n")).bin(&bin).arg("-c").run();
        assert_eq!(out.code(), Some(0), "{}: {}{}", bin.display(), out.stdout, out.stderr);
        let out = ProxyBuilder::new(&http("")).bin(&bin).arg("-c").run();
        let alert = "proxy 'l': server 's' has neither service port nor check port.";
        assert!(out.code() != Some(0) && out.stderr.contains(alert), "{}: {}{}", bin.display(), out.stdout, out.stderr);
    }
}
