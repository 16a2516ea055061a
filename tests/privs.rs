//! `chroot`, `user`/`group`/`uid`/`gid`, `ulimit-n`, `maxconn` against the fd limit and
//! `cpu-map`: the configuration's errors, the start-up refusals and what the running process
//! looks like from `/proc` (its limits, identity, root directory and CPU affinity).
//!
//! Refusals are tested as an unprivileged user: when the tests run as root, the binary is
//! started through `setpriv` as `nobody` (65534) with no capabilities; as root, `chroot` and
//! `user` are also tested for real. Messages are checked on HAProxy too when it is installed.

mod common;

use common::*;
use std::path::{Path, PathBuf};

/// The uid the tests run as (from `/proc/self/status`: tests have no `unsafe`).
fn own_id(field: &str) -> u32 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with(field)).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

fn running_as_root() -> bool {
    own_id("Uid:") == 0
}

/// `name: value` from `/proc/<pid>/status`.
fn proc_status(pid: u32, field: &str) -> String {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with(field)).unwrap_or_else(|| panic!("no {field} in {status}"));
    line[field.len()..].trim().to_string()
}

/// The soft and hard "Max open files" of `/proc/<pid>/limits`.
fn open_files_limit(pid: u32) -> (u64, u64) {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let line = limits.lines().find(|l| l.starts_with("Max open files")).unwrap();
    let v: Vec<&str> = line["Max open files".len()..].split_whitespace().collect();
    (v[0].parse().unwrap(), v[1].parse().unwrap())
}

/// The identity a process started by [`started`] with `unprivileged` runs as: `nobody` when
/// the tests run as root, the tests' own user otherwise.
fn unprivileged_ids() -> (u32, u32) {
    if running_as_root() {
        (65534, 65534)
    } else {
        (own_id("Uid:"), own_id("Gid:"))
    }
}

fn setpriv() -> Option<PathBuf> {
    ["/usr/bin/setpriv", "/bin/setpriv"].iter().map(PathBuf::from).find(|p| p.exists())
}

/// `bin` on `config`, started through `sh -c "<shell>; exec bin -db ..."` (to lower a limit
/// first), and as an unprivileged user when `unprivileged` and the tests run as root.
/// `None` when that user cannot be had (root without `setpriv`).
fn builder(bin: &Path, config: &str, shell: &str, unprivileged: bool) -> Option<ProxyBuilder> {
    let script = format!("{shell}; exec \"$0\" -db \"$@\"");
    let mut flags: Vec<String> = Vec::new();
    let mut outer = PathBuf::from("/bin/sh");
    if unprivileged && running_as_root() {
        let Some(setpriv) = setpriv() else {
            eprintln!("note: running as root without setpriv: unprivileged case skipped");
            return None;
        };
        outer = setpriv;
        flags.extend(["--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all", "/bin/sh"].map(String::from));
    }
    flags.extend(["-c".to_string(), script, bin.display().to_string()]);
    Some(ProxyBuilder::new(config).bin(outer).flags(flags))
}

/// What precedes a start-up alert's text: `[<program>.main()] ` (HAProxy writes its argv[0]
/// there, moonproxy its name).
const MAIN: &str = ".main()] ";

const FRONTEND: &str = "
defaults
    mode http
    timeout connect 5s
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{{fe}}
    http-request return status 200 content-type text/plain string ok
";

#[test]
fn parse_errors_name_the_file_and_line() {
    let cases = [
        ("chroot", "'chroot' expects a directory as an argument."),
        ("chroot /a /b", "'chroot' cannot handle unexpected argument '/b'."),
        ("user no-such-user-here", "cannot find user id for 'no-such-user-here' (0:Success)"),
        ("group no-such-group-here", "cannot find group id for 'no-such-group-here' (0:Success)"),
        ("uid", "'uid' expects an integer argument."),
        ("gid", "'gid' expects an integer argument."),
        ("ulimit-n", "'ulimit-n' expects an integer argument."),
        ("cpu-map 1", "cpu-map expects a process number  ('all', 'odd', 'even', a number from 1 to 64 or a range),  followed by a list of CPU ranges with numbers from 0 to 63."),
        ("cpu-map 1 abc", "cpu-map : 'abc' is not a CPU range."),
        ("cpu-map 65 0", "cpu-map : '65' is not a valid number/range. It supports numbers from 1 to 64."),
        ("cpu-map 1/x 0", "cpu-map : 'x' is not a valid number/range."),
        ("cpu-map 1 0-1024", "cpu-map : supports CPU numbers from 0 to 1023."),
        ("cpu-map auto:1/1-4 0-1", "cpu-map : PROC/THREAD range and CPU sets must have the same size to be automatically bound"),
    ];
    for bin in moonproxy_and_haproxy() {
        for (line, message) in cases {
            let out = ProxyBuilder::new(&format!("global\n    {line}\n")).bin(&bin).flags(["-c"]).run();
            let expected = format!("proxy.cfg:2] : {message}");
            assert!(out.stderr.contains(&expected), "{}: `{line}`: want {expected:?} in\n{}", bin.display(), out.stderr);
            assert_eq!(out.code(), Some(1), "{}: `{line}`", bin.display());
        }
    }
}

#[test]
fn repeated_keywords_are_non_fatal_alerts_and_bad_numbers_warnings() {
    for bin in moonproxy_and_haproxy() {
        let config = "global\n    chroot /a\n    chroot /b\n    uid 5\n    uid 6\n    ulimit-n 5\n    ulimit-n 6\n    gid abc\n";
        let out = ProxyBuilder::new(config).bin(&bin).flags(["-c"]).run();
        for message in [
            "[ALERT]",
            "proxy.cfg:3] : 'chroot' already specified. Continuing.",
            "proxy.cfg:5] : user/uid already specified. Continuing.",
            "proxy.cfg:7] : 'ulimit-n' already specified. Continuing.",
            "proxy.cfg:8] :  gid: string 'abc' is not a number.",
        ] {
            assert!(out.stderr.contains(message), "{}: want {message:?} in\n{}", bin.display(), out.stderr);
        }
        assert!(out.stderr.contains("You might want to use the 'group' parameter to use a system group name."), "{}", out.stderr);
        assert!(!out.stderr.contains("Fatal errors"), "{}: {}", bin.display(), out.stderr);
    }
}

#[test]
fn chroot_uid_and_gid_are_refused_to_an_unprivileged_user() {
    let (uid, gid) = unprivileged_ids();
    let cases = [
        ("chroot {{dir}}".to_string(), "Cannot chroot(/".to_string()),
        (format!("uid {}", uid + 1), format!("Cannot set uid {}.", uid + 1)),
        (format!("gid {}", gid + 1), format!("Cannot set gid {}.", gid + 1)),
    ];
    for bin in moonproxy_and_haproxy() {
        for (line, message) in &cases {
            let config = format!("global\n    nbthread 1\n    {line}\n{FRONTEND}");
            let Some(b) = builder(&bin, &config, "true", true) else { return };
            let out = b.run();
            let want = format!("{MAIN}{message}");
            assert!(out.stderr.contains(&want), "{}: `{line}`: want {want:?} in\n{}", bin.display(), out.stderr);
            assert_eq!(out.code(), Some(1), "{}: `{line}`: {}", bin.display(), out.stderr);
        }
    }
}

#[test]
fn uid_and_gid_equal_to_our_own_are_accepted() {
    let (uid, gid) = unprivileged_ids();
    let config = format!("global\n    nbthread 1\n    uid {uid}\n    gid {gid}\n{FRONTEND}");
    let Some(b) = builder(&moonproxy_bin(), &config, "true", true) else { return };
    let proxy = b.start();
    assert_eq!(get_closing(proxy.port("fe"), "/").status, 200);
    assert!(proc_status(proxy.pid(), "Uid:").starts_with(&format!("{uid}\t{uid}")));
    assert!(proc_status(proxy.pid(), "Gid:").starts_with(&format!("{gid}\t{gid}")));
}

#[test]
fn ulimit_n_raises_the_soft_limit_and_never_lowers_it() {
    let (_, hard) = open_files_limit(std::process::id());
    if hard < 1000 {
        eprintln!("note: hard fd limit {hard} < 1000: test skipped");
        return;
    }
    for (ulimit_n, expected) in [(800, 800), (300, 500)] {
        let config = format!("global\n    nbthread 1\n    maxconn 100\n    ulimit-n {ulimit_n}\n{FRONTEND}");
        let proxy = builder(&moonproxy_bin(), &config, "ulimit -Sn 500", false).unwrap().start();
        assert_eq!(open_files_limit(proxy.pid()).0, expected, "ulimit-n {ulimit_n} from a soft limit of 500");
    }
}

#[test]
fn maxconn_without_the_fds_it_needs_is_refused_with_haproxys_alert() {
    // Soft limit 200; `ulimit-n 150` asks for no more, `maxconn 1000` needs 2014 fds
    // (2 per connection, 1 listener, 3 per thread and HAProxy's reserve of 10).
    let config = format!("global\n    nbthread 1\n    maxconn 1000\n    ulimit-n 150\n{FRONTEND}");
    for bin in moonproxy_and_haproxy() {
        let out = builder(&bin, &config, "ulimit -Sn 200", false).unwrap().run();
        let want = format!(
            "{MAIN}FD limit (200) too low for maxconn=1000/maxsock=2014. Please raise 'ulimit-n' to 2014 or more to avoid any trouble."
        );
        assert!(out.stderr.contains(&want), "{}: want {want:?} in\n{}", bin.display(), out.stderr);
        assert_eq!(out.code(), Some(1), "{}", bin.display());
    }
}

#[test]
fn a_limit_that_cannot_be_raised_is_refused_with_haproxys_alert() {
    // Hard limit 200 for an unprivileged user: maxconn 1000 cannot get its 2014 fds.
    let config = format!("global\n    nbthread 1\n    maxconn 1000\n{FRONTEND}");
    for bin in moonproxy_and_haproxy() {
        let Some(b) = builder(&bin, &config, "ulimit -n 200", true) else { return };
        let out = b.run();
        let want = format!("{MAIN}Cannot raise FD limit to 2014, limit is 200.");
        assert!(out.stderr.contains(&want), "{}: want {want:?} in\n{}", bin.display(), out.stderr);
        assert_eq!(out.code(), Some(1), "{}", bin.display());
    }
}

#[test]
fn maxconn_follows_the_fd_limit_when_not_set() {
    // A hard limit of 1000: (1000 - 14) / 2 = 493 connections; the limit is then raised
    // to maxsock = 2 * 493 + 14 = 1000, i.e. left as it is, and the process starts.
    if open_files_limit(std::process::id()).1 < 1000 {
        eprintln!("note: hard fd limit below 1000: test skipped");
        return;
    }
    let Some(b) = builder(&moonproxy_bin(), &format!("global\n    nbthread 1\n{FRONTEND}"), "ulimit -n 1000", true) else { return };
    let proxy = b.start();
    assert_eq!(get_closing(proxy.port("fe"), "/").status, 200);
    assert_eq!(open_files_limit(proxy.pid()), (1000, 1000));
}

#[test]
fn cpu_map_pins_the_reactor_thread() {
    let allowed = proc_status(std::process::id(), "Cpus_allowed_list:");
    // The last CPU this test may use: `0-3` → 3, `0,2` → 2.
    let last: usize = allowed.rsplit([',', '-']).next().unwrap().parse().unwrap();
    for line in [format!("cpu-map 1/1 {last}"), format!("cpu-map 1 {last}"), format!("cpu-map auto:1/1-2 {last} {last}")] {
        let line = if line.starts_with("cpu-map auto") && last == 0 { "cpu-map auto:1/1 0".to_string() } else { line };
        let config = format!("global\n    nbthread 1\n    {line}\n{FRONTEND}");
        let proxy = ProxyBuilder::new(&config).start();
        assert_eq!(proc_status(proxy.pid(), "Cpus_allowed_list:"), last.to_string(), "`{line}`");
    }
    // A line for another thread leaves thread 1 where it was.
    let proxy = ProxyBuilder::new(&format!("global\n    nbthread 1\n    cpu-map 1/2 {last}\n{FRONTEND}")).start();
    assert_eq!(proc_status(proxy.pid(), "Cpus_allowed_list:"), allowed);
}

/// As root: a port below 1024 is bound, then the process chroots into an empty directory and
/// serves as `nobody`.
#[test]
fn as_root_binds_a_low_port_then_chroots_and_serves_as_nobody() {
    if !running_as_root() {
        eprintln!("note: not root: chroot and user tested only as refusals");
        return;
    }
    // A free port below 1024, found by binding it (and released for the proxy).
    let Some(low) = (600..1024).rev().find(|p| std::net::TcpListener::bind(loopback(*p)).is_ok()) else {
        eprintln!("note: no free port below 1024");
        return;
    };
    let config = "
global
    nbthread 1
    chroot {{dir}}/jail
    user nobody
    gid 65534
defaults
    mode http
    timeout connect 5s
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{{low}}
    bind 127.0.0.1:{{fe}}
    default_backend be
backend be
    server s1 127.0.0.1:{{be}}
";
    let backend = Backend::http(b"through the jail");
    let proxy = ProxyBuilder::new(config)
        .port("low", low)
        .port("be", backend.port())
        .file("jail/.keep", "")
        .start();
    let reply = get_closing(low, "/");
    assert_eq!(reply.status, 200);
    assert!(String::from_utf8_lossy(&reply.body).contains("through the jail"));
    let pid = proxy.pid();
    assert!(proc_status(pid, "Uid:").starts_with("65534\t65534\t65534\t65534"));
    assert!(proc_status(pid, "Gid:").starts_with("65534\t65534\t65534\t65534"));
    assert_eq!(proc_status(pid, "Groups:"), "", "gid drops the supplementary groups");
    let root = std::fs::read_link(format!("/proc/{pid}/root")).unwrap();
    assert_eq!(root, proxy.dir().join("jail"));
}

/// As root, under `-D`: the pidfile is written before privileges are dropped (in a directory
/// `nobody` may not write), then the daemon serves as `nobody`.
#[test]
fn as_root_the_daemon_writes_its_pidfile_then_runs_as_nobody() {
    if !running_as_root() {
        eprintln!("note: not root: daemon with user not tested");
        return;
    }
    let config = format!("global\n    nbthread 1\n    uid 65534\n    gid 65534\n{FRONTEND}");
    let mut p = ProxyBuilder::new(&config).flags(["-D", "-p", "{{dir}}/d.pid"]).spawn();
    assert_eq!(p.wait_exit(DEADLINE).code(), Some(0), "the original process returns");
    let pidfile = p.dir().join("d.pid");
    let pid: u32 = std::fs::read_to_string(&pidfile).unwrap().trim().parse().unwrap();
    let kill = |sig: &str| std::process::Command::new("kill").arg(sig).arg(pid.to_string()).status().unwrap().success();
    assert!(wait_until(DEADLINE, || is_listening(p.port("fe"))), "the daemon listens");
    assert_eq!(get_closing(p.port("fe"), "/").status, 200);
    let uid = proc_status(pid, "Uid:");
    assert!(kill("-TERM"));
    assert!(wait_until(DEADLINE, || !kill("-0")), "the daemon stops on SIGTERM");
    assert!(uid.starts_with("65534\t65534"), "{uid}");
    use std::os::unix::fs::MetadataExt;
    assert_eq!(std::fs::metadata(&pidfile).unwrap().uid(), 0, "written by root, before setuid");
}

/// As root, under `-D`, a `chroot` that fails once the process has detached: the original
/// process has already returned 0, and the daemon prints the alert on the stderr it
/// inherited before it leaves, as HAProxy's does (moonproxy used to close its stderr at
/// the fork, and the failure went unreported). Compared with HAProxy 2.6.
#[test]
fn as_root_a_daemon_that_cannot_chroot_says_so_on_stderr() {
    if !running_as_root() {
        eprintln!("note: not root: daemon chroot failure not tested");
        return;
    }
    let config = format!("global\n    nbthread 1\n    chroot /nonexistent-moonproxy-jail\n{FRONTEND}");
    for bin in moonproxy_and_haproxy() {
        let mut p = ProxyBuilder::new(&config).bin(&bin).flags(["-D", "-p", "{{dir}}/d.pid"]).spawn();
        assert_eq!(p.wait_exit(DEADLINE).code(), Some(0), "{}: the original process returns", bin.display());
        let line = p.wait_for_line(|l| l.contains("Cannot chroot"), DEADLINE);
        assert!(line.contains("[ALERT]") && line.contains(&format!("{MAIN}Cannot chroot(/nonexistent-moonproxy-jail).")), "{}: {line}", bin.display());
        let pid: u32 = std::fs::read_to_string(p.dir().join("d.pid")).unwrap().trim().parse().unwrap();
        let alive = || std::process::Command::new("kill").arg("-0").arg(pid.to_string()).status().unwrap().success();
        assert!(wait_until(DEADLINE, || !alive()), "{}: the daemon leaves", bin.display());
    }
}

#[test]
fn no_strict_limits_turns_the_fd_limit_refusals_into_messages() {
    let config = format!("global\n    nbthread 1\n    maxconn 1000\n    ulimit-n 150\n    no strict-limits\n{FRONTEND}");
    for bin in moonproxy_and_haproxy() {
        let proxy = builder(&bin, &config, "ulimit -Sn 200", false).unwrap().start();
        assert_eq!(get_closing(proxy.port("fe"), "/").status, 200, "{}", bin.display());
        let line = proxy.wait_for_line(|l| l.contains("FD limit (200) too low"), DEADLINE);
        assert!(line.contains("[ALERT]") && line.contains(&format!("{MAIN}FD limit (200) too low for maxconn=1000/maxsock=2014.")), "{line}");
    }
}

/// As root, with two threads and a Lua script outside the jail: every thread loads the
/// script before the process chroots (thread 2 used to load it after, and failed with
/// `cannot open`), and both serve through the Lua service.
#[test]
fn as_root_every_thread_loads_its_lua_before_the_chroot() {
    if !running_as_root() {
        eprintln!("note: not root: chroot not tested with threads");
        return;
    }
    let config = "
global
    nbthread 2
    chroot {{dir}}/jail
    lua-load {{dir}}/svc.lua
defaults
    mode http
    timeout connect 5s
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{{fe}}
    http-request use-service lua.hi
";
    let script = "core.register_service('hi', 'http', function(applet)\n  applet:set_status(200)\n  applet:start_response()\n  applet:send('thread ' .. core.thread)\nend)\n";
    let proxy = ProxyBuilder::new(config).file("jail/.keep", "").file("svc.lua", script).start();
    let fe = proxy.port("fe");
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..40 {
        let reply = get_closing(fe, "/");
        assert_eq!(reply.status, 200);
        seen.insert(String::from_utf8_lossy(&reply.body).into_owned());
    }
    assert!(seen.iter().all(|b| b == "thread 1" || b == "thread 2"), "{seen:?}");
    let root = std::fs::read_link(format!("/proc/{}/root", proxy.pid())).unwrap();
    assert_eq!(root, proxy.dir().join("jail"));
}
