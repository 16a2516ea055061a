//! External health checks (`option external-check`) on moonproxy and on HAProxy 2.6
//! with the same configuration: a shell script decides UP or DOWN by the exit status
//! the test writes in a file, and records the arguments and environment it was given,
//! which must be the same on both.

mod common;

use common::*;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::time::Duration;

/// A scratch directory with the check script: it writes `$0`..`$4`, `$#` and its
/// exported environment (`export -p`, a shell builtin: the command's `PATH` may be
/// empty) to `seen.<pid>`, then exits with the number in `status`.
struct Script {
    dir: PathBuf,
}

impl Script {
    fn new(tag: &str, body_end: &str) -> Script {
        let dir = std::env::temp_dir().join(format!("moonproxy-extcheck-{tag}-{}-{}", std::process::id(), free_port()));
        std::fs::create_dir_all(&dir).unwrap();
        let d = dir.display();
        let text = format!("#!/bin/sh\n{{ echo \"$0|$1|$2|$3|$4|$#\"; export -p; }} > {d}/seen.$$\n{}\n", body_end.replace("@DIR@", &d.to_string()));
        let path = dir.join("check.sh");
        std::fs::write(&path, text).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        Script { dir }
    }

    fn path(&self) -> PathBuf {
        self.dir.join("check.sh")
    }

    fn set_status(&self, code: u8) {
        std::fs::write(self.dir.join("status"), format!("{code}\n")).unwrap();
    }

    /// What the most recent run of the script saw, without the `PWD` the shell adds.
    fn last_seen(&self) -> String {
        let mut runs: Vec<(std::time::SystemTime, PathBuf)> = std::fs::read_dir(&self.dir)
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().starts_with("seen."))
            .map(|e| (e.metadata().unwrap().modified().unwrap(), e.path()))
            .collect();
        runs.sort();
        let (_, last) = runs.last().expect("the script ran");
        let text = std::fs::read_to_string(last).unwrap();
        text.lines().filter(|l| !l.starts_with("export PWD=")).map(|l| format!("{l}\n")).collect()
    }
}

impl Drop for Script {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The check duration of a state change line replaced by `X`.
fn without_duration(line: &str) -> String {
    let at = line.find("check duration: ").expect("a check duration");
    let rest = &line[at..];
    let end = rest.find("ms").expect("milliseconds");
    format!("{}check duration: X{}", &line[..at], &rest[end..])
}

fn duration_ms(line: &str) -> u64 {
    let at = line.find("check duration: ").expect("a check duration") + "check duration: ".len();
    line[at..].split("ms").next().unwrap().parse().unwrap()
}

fn state_line(proxy: &Proxy, after: usize, what: &str) -> String {
    let line = proxy.wait_for_line_after(after, |l| l.contains(what), DEADLINE);
    let from = line.find("Server ").expect("a server message");
    without_duration(&line[from..])
}

const CONFIG: &str = "global
    external-check
    insecure-fork-wanted
defaults
    mode tcp
    timeout connect 1s
    timeout client 5s
    timeout server 5s
listen px
    bind 127.0.0.1:{{fe}}
    option external-check
    external-check path /usr/bin:/bin
    external-check command {{script}}
    server s1 127.0.0.1:{{srv}} check inter 100ms rise 1 fall 1 maxconn 7 id 42
";

/// Exit status 1 takes the server DOWN, 0 brings it back UP, with HAProxy's reasons;
/// the script gets HAProxy's arguments and environment (nothing else: no `HOME`).
#[test]
fn exit_status_decides_and_the_command_sees_haproxys_arguments_and_environment() {
    let mut seen = Vec::new();
    for bin in moonproxy_and_haproxy() {
        // Exits with the number in `status`.
        let script = Script::new("status", "read s < @DIR@/status; exit $s");
        script.set_status(1);
        let srv = RefusingPort::new();
        let proxy = ProxyBuilder::new(CONFIG).bin(&bin).var("script", script.path().display()).port("srv", srv.port()).start();
        let down = state_line(&proxy, 0, "is DOWN");
        assert_eq!(
            down,
            "Server px/s1 is DOWN, reason: External check error, code: 1, check duration: Xms. 0 active and 0 backup servers left. 0 sessions active, 0 requeued, 0 remaining in queue.",
            "{}",
            bin.display()
        );
        let mark = proxy.mark();
        script.set_status(0);
        let up = state_line(&proxy, mark, "is UP");
        assert_eq!(
            up,
            "Server px/s1 is UP, reason: External check passed, code: 0, check duration: Xms. 1 active and 0 backup servers online. 0 sessions requeued, 0 total in queue.",
            "{}",
            bin.display()
        );
        let fe = proxy.port("fe");
        let expected = format!(
            "{script}|127.0.0.1|{fe}|127.0.0.1|{srv}|4
export HAPROXY_PROXY_ADDR='127.0.0.1'
export HAPROXY_PROXY_ID='1'
export HAPROXY_PROXY_NAME='px'
export HAPROXY_PROXY_PORT='{fe}'
export HAPROXY_SERVER_ADDR='127.0.0.1'
export HAPROXY_SERVER_CURCONN='0'
export HAPROXY_SERVER_ID='42'
export HAPROXY_SERVER_MAXCONN='7'
export HAPROXY_SERVER_NAME='s1'
export HAPROXY_SERVER_PORT='{srv}'
export HAPROXY_SERVER_PROTO='tcp'
export HAPROXY_SERVER_SSL='0'
export PATH='/usr/bin:/bin'
",
            script = script.path().display(),
            srv = srv.port()
        );
        let got = script.last_seen();
        assert_eq!(got, expected, "{}", bin.display());
        seen.push(got.replace(&script.path().display().to_string(), "SCRIPT").replace(&fe.to_string(), "FE").replace(&srv.port().to_string(), "SRV"));
    }
    assert!(seen.windows(2).all(|w| w[0] == w[1]), "{seen:#?}");
}

/// A command still running at its deadline is killed (`SIGTERM`, HAProxy's `kill
/// <pid>` warning) and the check fails with `External check timeout`. With `timeout
/// check` set, the deadline is `min(inter, timeout connect)` (HAProxy 2.6 measured);
/// without, `inter`. Meanwhile the proxy serves.
#[test]
fn a_command_past_its_deadline_is_killed() {
    for bin in moonproxy_and_haproxy() {
        let script = Script::new("slow", "exec /bin/sleep 30");
        let echo = Backend::echo();
        let config = "global
    external-check
    insecure-fork-wanted
defaults
    mode tcp
    timeout client 5s
    timeout server 5s
listen px
    bind 127.0.0.1:{{fe}}
    timeout connect 300ms
    timeout check 100ms
    option external-check
    external-check command {{script}}
    server s1 127.0.0.1:{{srv}} check inter 2s rise 1 fall 1
";
        let proxy = ProxyBuilder::new(config).bin(&bin).var("script", script.path().display()).port("srv", echo.port()).start();
        // The loop does not wait for the command: the proxy forwards meanwhile.
        let mut client = proxy.connect("fe");
        client.send(b"ping");
        assert_eq!(client.recv_exact(4), b"ping");
        let line = proxy.wait_for_line(|l| l.contains("is DOWN"), DEADLINE);
        let ms = duration_ms(&line);
        assert!((300..2000).contains(&ms), "{}: {line}", bin.display());
        let from = line.find("Server ").unwrap();
        let to = line.find(" servers left.").unwrap();
        // The client's stream may still be counted in the sessions part: not compared.
        assert_eq!(
            without_duration(&line[from..to]),
            "Server px/s1 is DOWN, reason: External check timeout, code: 0, check duration: Xms. 0 active and 0 backup",
            "{}",
            bin.display()
        );
        let kill = proxy.wait_for_line(|l| l.contains("kill "), DEADLINE);
        assert!(kill.ends_with(|c: char| c.is_ascii_digit()), "{}: {kill}", bin.display());
    }
}

/// The configuration checks, word for word.
#[test]
fn configuration_messages_match_haproxy() {
    let backend = "backend be\n    timeout connect 1s\n    timeout server 1s\n";
    let both = "global\n    external-check\n    insecure-fork-wanted\n";
    let cases: &[(&str, &str, &[&str])] = &[
        ("", "    option external-check\n    external-check command /bin/true\n    server s1 127.0.0.1:1 check\n", &[
            "Proxy 'be' : 'option external-check' unable to find required 'global.external-check'.",
            "Proxy 'be' : 'insecure-fork-wanted' not enabled in the global section, 'option external-check' will likely fail.",
        ]),
        (both, "    option external-check\n    server s1 127.0.0.1:1 check\n", &["Proxy 'be' : 'option external-check' unable to find required 'external-check command'."]),
        (both, "    external-check command\n", &["missing argument after 'command'."]),
        (both, "    external-check path\n", &["missing argument after 'path'."]),
        (both, "    external-check foo\n", &["'external-check' only supports 'command' and 'path'. but got 'foo'."]),
        (both, "    external-check command a b\n", &["'external-check' cannot handle unexpected argument 'b'."]),
        (both, "    option external-check x\n", &["'option external-check' cannot handle unexpected argument 'x'."]),
        (both, "    no option external-check\n", &["negation/default is not supported for option 'external-check'."]),
        ("global\n    external-check x\n", "", &["'external-check' cannot handle unexpected argument 'x'."]),
        ("global\n    insecure-fork-wanted x\n", "", &["'insecure-fork-wanted' cannot handle unexpected argument 'x'."]),
    ];
    for bin in moonproxy_and_haproxy() {
        for (global, lines, messages) in cases {
            let out = ProxyBuilder::new(&format!("{global}{backend}{lines}")).bin(&bin).arg("-c").run();
            assert_eq!(out.code(), Some(1), "{}: {lines}\n{}", bin.display(), out.stderr);
            for m in *messages {
                assert!(out.stderr.contains(m), "{}: {lines}: {m}\n{}", bin.display(), out.stderr);
            }
        }
        // Valid (exit 2: no listener): a command without the option is ignored with a
        // warning; the last check option wins.
        let valid = [
            ("    external-check command /bin/true\n    server s1 127.0.0.1:1 check\n", "'external-check command' will be ignored for backend 'be' (requires 'option external-check')."),
            ("    option external-check\n    option httpchk\n    external-check command /bin/true\n    server s1 127.0.0.1:1 check\n", "'external-check command' will be ignored for backend 'be' (requires 'option external-check')."),
        ];
        for (lines, warning) in valid {
            let out = ProxyBuilder::new(&format!("{both}{backend}{lines}")).bin(&bin).arg("-c").run();
            assert_eq!(out.code(), Some(2), "{}: {lines}\n{}", bin.display(), out.stderr);
            assert!(out.stderr.contains(warning), "{}: {lines}\n{}", bin.display(), out.stderr);
        }
    }
}

/// A backend without `bind` (`NOT_USED` arguments, empty proxy variables), in HTTP
/// mode (`HAPROXY_SERVER_PROTO=h1`), with a unix-socket server (its path, port
/// `NOT_USED`): the script sees the same on both.
#[test]
fn backend_http_and_unix_server_environment_matches_haproxy() {
    let mut seen = Vec::new();
    for bin in moonproxy_and_haproxy() {
        let script = Script::new("backend", "exit 0");
        let config = "global
    external-check
    insecure-fork-wanted
defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{{fe}}
    default_backend be
backend be
    option external-check
    external-check command {{script}}
    server s1 {{sock}} check inter 100ms
";
        let sock = script.dir.join("sock");
        let proxy = ProxyBuilder::new(config).bin(&bin).var("script", script.path().display()).var("sock", sock.display()).start();
        let d = script.dir.display().to_string();
        assert!(wait_until(DEADLINE, || std::fs::read_dir(&script.dir).unwrap().filter_map(|e| e.ok()).any(|e| e.file_name().to_string_lossy().starts_with("seen."))), "{}", bin.display());
        // Let the script finish writing.
        std::thread::sleep(Duration::from_millis(200));
        drop(proxy);
        let got = script.last_seen().replace(&d, "DIR");
        assert!(got.starts_with("DIR/check.sh|NOT_USED|NOT_USED|DIR/sock|NOT_USED|4\n"), "{}: {got}", bin.display());
        assert!(got.contains("export HAPROXY_SERVER_PROTO='h1'\n"), "{}: {got}", bin.display());
        seen.push(got);
    }
    assert!(seen.windows(2).all(|w| w[0] == w[1]), "{seen:#?}");
}
