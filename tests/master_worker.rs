//! Master-worker mode (`-W`, `-Ws`, `-S`, `master-worker` in global): the real binary
//! on ephemeral loopback ports, its master CLI on a unix socket in a temp directory.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::net::{UnixDatagram, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_moonproxy");

mod common;
use common::held_port;

/// A master process with its directory (config, master CLI socket, stderr log).
struct Master {
    child: Child,
    dir: PathBuf,
    port: u16,
}

fn config(port: u16, global: &str) -> String {
    // `reuseport`: the new worker may bind beside the old one when no takeover is done.
    format!(
        "global\n{global}\ndefaults\n    mode http\n    timeout client 5s\n    timeout server 5s\n    timeout connect 5s\n\
         frontend f\n    bind 127.0.0.1:{port} reuseport\n    http-request return status 200 content-type text/plain string ok\n"
    )
}

impl Master {
    fn start(name: &str, global: &str, flags: &[&str]) -> Master {
        Master::start_with_env(name, global, flags, &[])
    }

    fn start_with_env(name: &str, global: &str, flags: &[&str], env: &[(&str, &str)]) -> Master {
        let dir = std::env::temp_dir().join(format!("moonproxy-mw-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let (port, hold) = held_port();
        std::fs::write(dir.join("p.cfg"), config(port, global)).unwrap();
        let log = std::fs::File::create(dir.join("stderr.log")).unwrap();
        let sock = dir.join("master.sock");
        let mut cmd = Command::new(BIN);
        cmd.args(flags).arg("-S").arg(&sock).arg("-f").arg(dir.join("p.cfg"));
        cmd.env("TMPDIR", &dir).envs(env.iter().copied()).stdout(Stdio::null()).stderr(log);
        let child = cmd.spawn().unwrap();
        let m = Master { child, dir, port };
        assert!(wait_until(Duration::from_secs(10), || m.worker_pids().len() == 1 && get(m.port).is_ok()), "no worker serving: {}", m.log());
        drop(hold);
        m
    }

    fn sock(&self) -> PathBuf {
        self.dir.join("master.sock")
    }

    fn cli(&self, command: &str) -> String {
        cli(&self.sock(), command)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("stderr.log")).unwrap_or_default()
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The pids under `# workers` in `show proc` (not the old workers).
    fn worker_pids(&self) -> Vec<u32> {
        let out = self.cli("show proc");
        out.lines()
            .skip_while(|l| *l != "# workers")
            .skip(1)
            .take_while(|l| !l.starts_with('#'))
            .filter_map(|l| l.split_whitespace().next()?.parse().ok())
            .collect()
    }

    fn signal(&self, sig: &str) {
        signal(self.pid(), sig);
    }

    fn wait_exit(&mut self, timeout: Duration) -> Option<i32> {
        let until = Instant::now() + timeout;
        while Instant::now() < until {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Master {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            self.signal("TERM");
            if self.wait_exit(Duration::from_secs(5)).is_none() {
                let _ = self.child.kill();
                let _ = self.child.wait();
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn signal(pid: u32, sig: &str) {
    Command::new("kill").arg(format!("-{sig}")).arg(pid.to_string()).status().unwrap();
}

fn alive(pid: u32) -> bool {
    // A reaped child has no /proc entry; a zombie has one in state Z.
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| !s.split(") ").nth(1).is_some_and(|r| r.starts_with('Z')))
}

/// One command on the master CLI: write it, shut our side, read the whole answer.
fn cli(sock: &Path, command: &str) -> String {
    let Ok(mut s) = UnixStream::connect(sock) else { return String::new() };
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(format!("{command}\n").as_bytes()).unwrap();
    s.shutdown(std::net::Shutdown::Write).unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

/// `GET /` with `Connection: close`; the body, or an error for any failure.
fn get(port: u16) -> Result<String, String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).map_err(|e| format!("connect: {e}"))?;
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").map_err(|e| format!("write: {e}"))?;
    let mut out = String::new();
    s.read_to_string(&mut out).map_err(|e| format!("read: {e}"))?;
    if out.starts_with("HTTP/1.1 200") && out.ends_with("ok") { Ok(out) } else { Err(format!("answer: {out:?}")) }
}

fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let until = Instant::now() + timeout;
    while Instant::now() < until {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    false
}

/// The inodes of the sockets listening on 127.0.0.1:`port` (`/proc/net/tcp`). The
/// same inode after a reload means the new worker took the old one's socket over.
fn listen_inodes(port: u16) -> Vec<u64> {
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap();
    let local = format!("0100007F:{port:04X}");
    let mut inodes: Vec<u64> = table
        .lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.get(1) == Some(&local.as_str()) && f.get(3) == Some(&"0A")).then(|| f.get(9)?.parse().ok())?
        })
        .collect();
    inodes.sort_unstable();
    inodes
}

/// `Pid:` of `show info` as answered through the master CLI.
fn info_pid(answer: &str) -> Option<u32> {
    answer.lines().find_map(|l| l.strip_prefix("Pid: ")?.trim().parse().ok())
}

#[test]
fn worker_serves_and_the_master_cli_routes_commands() {
    let m = Master::start("routes", "", &["-W"]);
    assert_eq!(get(m.port).unwrap().lines().last(), Some("ok"));
    let proc = m.cli("show proc");
    let lines: Vec<&str> = proc.lines().collect();
    assert_eq!(lines[0], "#<PID>          <type>          <reloads>       <uptime>        <version>      ");
    assert!(lines[1].starts_with(&format!("{:<15} master          0 [failed: 0]   ", m.pid())), "{proc}");
    let workers = m.worker_pids();
    assert_eq!(workers.len(), 1, "{proc}");
    let worker = workers[0];
    assert_ne!(worker, m.pid());
    assert!(m.log().contains(&format!("New worker ({worker}) forked")), "{}", m.log());
    // `@1` is the current worker; `@!<pid>` names it; the master answers `@master`.
    assert_eq!(info_pid(&m.cli("@1 show info")), Some(worker));
    assert_eq!(info_pid(&m.cli(&format!("@!{worker} show info"))), Some(worker));
    assert!(m.cli("@master show proc").contains(" master "));
    assert_eq!(m.cli("@!1 show info"), "Can't find the target PID matching the prefix '@!1'\n");
    assert_eq!(m.cli("@2 show info"), "Can't find the target PID matching the prefix '@2'\n");
    let help = m.cli("help");
    assert!(help.contains("  show proc                               : show processes status\n"), "{help}");
    assert!(m.cli("show foo").starts_with("Unknown command"));
    // Prompt mode: the prompt names the session's target, `@1` alone switches to the worker.
    let mut s = UnixStream::connect(m.sock()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut expect = |send: &str, want: &str| {
        s.write_all(send.as_bytes()).unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        while !got.ends_with(want.as_bytes()) {
            let n = s.read(&mut buf).unwrap();
            assert!(n > 0, "closed while waiting for {want:?}: {:?}", String::from_utf8_lossy(&got));
            got.extend_from_slice(&buf[..n]);
        }
        String::from_utf8(got).unwrap()
    };
    assert_eq!(expect("prompt\n", "master> "), "master> ");
    assert_eq!(expect("@1\n", &format!("{worker}> ")), format!("{worker}> "));
    assert_eq!(info_pid(&expect("show info\n", &format!("{worker}> "))), Some(worker));
    assert_eq!(expect("@master\n", "master> "), "master> ");
    assert!(expect("show cli level\n", "master> ").starts_with("admin\n"));
    // A lowered session reaches the worker at its own level.
    assert_eq!(expect("operator\n", "master> "), "master> ");
    assert_eq!(expect("@1 show cli level\n", "master> "), "operator\n\nmaster> ");
    assert_eq!(expect("reload\n", "master> "), "Permission denied\n\nmaster> ");
}

/// Runs GET requests in a loop until stopped; counts successes and failures.
struct Load {
    stop: Arc<AtomicBool>,
    ok: Arc<AtomicU64>,
    failed: Arc<AtomicU64>,
    errors: Arc<std::sync::Mutex<Vec<String>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Load {
    fn start(port: u16) -> Load {
        let (stop, ok, failed) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
        let errors = Arc::new(std::sync::Mutex::new(Vec::new()));
        let (s, o, f, e) = (stop.clone(), ok.clone(), failed.clone(), errors.clone());
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                match get(port) {
                    Ok(_) => o.fetch_add(1, Ordering::Relaxed),
                    Err(err) => {
                        e.lock().unwrap().push(err);
                        f.fetch_add(1, Ordering::Relaxed)
                    }
                };
            }
        });
        Load { stop, ok, failed, errors, thread: Some(thread) }
    }

    fn finish(mut self) -> (u64, u64, Vec<String>) {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.take().unwrap().join().unwrap();
        (self.ok.load(Ordering::Relaxed), self.failed.load(Ordering::Relaxed), self.errors.lock().unwrap().clone())
    }
}

/// Reloads with `how`, then waits for a new worker; returns (old, new) worker pids.
fn reload_and_wait(m: &Master, how: &str) -> (u32, u32) {
    let old = m.worker_pids()[0];
    match how {
        "SIGUSR2" => m.signal("USR2"),
        _ => assert_eq!(m.cli("reload"), ""),
    }
    let mut new = 0;
    assert!(
        wait_until(Duration::from_secs(10), || {
            new = m.worker_pids().first().copied().unwrap_or(0);
            new != 0 && new != old
        }),
        "no new worker after {how}: {}",
        m.log()
    );
    (old, new)
}

#[test]
fn reload_by_sigusr2_and_by_the_cli_keeps_the_master_and_serves() {
    let m = Master::start("reload", "", &["-W"]);
    let listening = listen_inodes(m.port);
    assert_eq!(listening.len(), 1);
    let load = Load::start(m.port);
    assert!(wait_until(Duration::from_secs(5), || load.ok.load(Ordering::Relaxed) > 20));
    for (i, how) in ["SIGUSR2", "reload"].into_iter().enumerate() {
        let (old, new) = reload_and_wait(&m, how);
        assert_eq!(info_pid(&m.cli("@1 show info")), Some(new));
        // The old worker soft-stops and is reaped: reported, and gone.
        assert!(wait_until(Duration::from_secs(10), || !alive(old)), "old worker {old} still alive");
        assert!(wait_until(Duration::from_secs(5), || m.log().contains(&format!("Former worker ({old}) exited with code 0 (Exit)"))), "{}", m.log());
        let proc = m.cli("show proc");
        assert!(proc.lines().nth(1).unwrap().starts_with(&format!("{:<15} master          {} [failed: 0]", m.pid(), i + 1)), "{proc}");
        assert!(!proc.contains(&format!("\n{old} ")), "{proc}");
    }
    let served_before = load.ok.load(Ordering::Relaxed);
    assert!(wait_until(Duration::from_secs(5), || load.ok.load(Ordering::Relaxed) > served_before + 20));
    let (ok, failed, errors) = load.finish();
    assert!(ok > 40);
    if listen_inodes(m.port) == listening {
        // The workers handed the listening socket over (`-x` / `_getsocks`).
        assert_eq!(failed, 0, "requests failed during the reloads: {errors:?}");
    } else {
        // Without takeover each worker binds its own SO_REUSEPORT socket, and the
        // connections still queued on the old one when it closes are reset.
        eprintln!("no socket takeover: {failed} failed request(s) of {} during the reloads", ok + failed);
        assert!(failed <= 5, "{errors:?}");
        assert!(errors.iter().all(|e| e.contains("reset")), "{errors:?}");
    }
    let log = m.log();
    assert_eq!(log.matches("Reloading moonproxy").count(), 2, "{log}");
    assert_eq!(log.matches("Loading success.").count(), 3, "{log}");
}

#[test]
fn a_killed_worker_stops_the_master_by_default() {
    let mut m = Master::start("killed", "", &["-W"]);
    let worker = m.worker_pids()[0];
    signal(worker, "KILL");
    assert_eq!(m.wait_exit(Duration::from_secs(10)), Some(137), "{}", m.log());
    let log = m.log();
    assert!(log.contains(&format!("[ALERT]    ({}) : Current worker ({worker}) exited with code 137 (Killed)", m.pid())), "{log}");
    assert!(log.contains("exit-on-failure: killing every processes with SIGTERM"), "{log}");
    assert!(log.contains("All workers exited. Exiting... (137)"), "{log}");
}

#[test]
fn no_exit_on_failure_keeps_the_master_and_reload_restarts_a_worker() {
    // `master-worker` in global, without -W.
    let m = Master::start("noexit", "    master-worker no-exit-on-failure", &[]);
    let worker = m.worker_pids()[0];
    signal(worker, "KILL");
    assert!(wait_until(Duration::from_secs(10), || m.worker_pids().is_empty()), "{}", m.cli("show proc"));
    assert!(m.log().contains(&format!("Current worker ({worker}) exited with code 137 (Killed)")), "{}", m.log());
    assert!(!m.log().contains("exit-on-failure: killing"));
    assert!(get(m.port).is_err(), "nothing serves");
    assert_eq!(m.cli("reload"), "");
    assert!(wait_until(Duration::from_secs(10), || m.worker_pids().len() == 1 && get(m.port).is_ok()), "{}", m.log());
    assert_ne!(m.worker_pids()[0], worker);
}

#[test]
fn a_bad_configuration_on_reload_keeps_the_worker_serving() {
    let m = Master::start("badcfg", "", &["-W"]);
    let worker = m.worker_pids()[0];
    let cfg = m.dir.join("p.cfg");
    let good = std::fs::read_to_string(&cfg).unwrap();
    std::fs::write(&cfg, format!("{good}    bogus-keyword\n")).unwrap();
    assert_eq!(m.cli("reload"), "");
    assert!(wait_until(Duration::from_secs(10), || m.log().contains("Loading failure!")), "{}", m.log());
    assert!(m.log().contains("unknown keyword 'bogus-keyword'"), "{}", m.log());
    assert!(m.cli("show proc").contains(" master          1 [failed: 1] "));
    assert_eq!(m.worker_pids(), [worker]);
    assert!(get(m.port).is_ok());
    // Fixed: the next reload replaces the worker.
    std::fs::write(&cfg, good).unwrap();
    let (old, new) = reload_and_wait(&m, "SIGUSR2");
    assert_eq!((old, m.worker_pids()), (worker, vec![new]));
    assert!(get(m.port).is_ok());
}

#[test]
fn sigterm_stops_the_workers_and_the_master() {
    let mut m = Master::start("sigterm", "", &["-W"]);
    let worker = m.worker_pids()[0];
    m.signal("TERM");
    assert_eq!(m.wait_exit(Duration::from_secs(10)), Some(0), "{}", m.log());
    assert!(!alive(worker));
    assert!(m.log().contains("All workers exited. Exiting... (0)"), "{}", m.log());
}

#[test]
fn systemd_mode_notifies_ready_and_reloading() {
    let dir = std::env::temp_dir().join(format!("moonproxy-mw-{}-notify-sock", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("notify");
    let rx = UnixDatagram::bind(&path).unwrap();
    rx.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let m = Master::start_with_env("notify", "", &["-Ws"], &[("NOTIFY_SOCKET", path.to_str().unwrap())]);
    let recv = || {
        let mut buf = [0u8; 512];
        let n = rx.recv(&mut buf).expect("a notification");
        String::from_utf8_lossy(&buf[..n]).into_owned()
    };
    assert!(recv().starts_with("READY=1\n"));
    m.signal("USR2");
    assert!(recv().starts_with("RELOADING=1\n"));
    assert!(recv().starts_with("READY=1\n"));
    drop(m);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_idle_master_cli_session_is_closed_after_stats_timeout() {
    let m = Master::start("idle", "    stats timeout 1s", &["-W"]);
    let mut s = UnixStream::connect(m.sock()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(b"prompt\n").unwrap();
    let mut got = Vec::new();
    // The prompt, then the end of the session (not a read timeout).
    s.read_to_end(&mut got).expect("the master closes the idle session");
    assert_eq!(got, b"master> ");
}

/// The pids and names under `# programs` in `show proc`.
fn program_pids(m: &Master) -> Vec<(String, u32)> {
    m.cli("show proc")
        .lines()
        .skip_while(|l| *l != "# programs")
        .skip(1)
        .take_while(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let pid = f.next()?.parse().ok()?;
            Some((f.next()?.to_string(), pid))
        })
        .collect()
}

/// `program` sections: started by the master before its worker, listed by `show proc`,
/// replaced on reload unless `no option start-on-reload`, and a current one that dies
/// stops everything (exit-on-failure), as in HAProxy 2.6.
#[test]
fn programs_start_with_the_master_and_are_replaced_on_reload() {
    let programs = "program p1\n    command sleep 1000\nprogram p2\n    command sleep 2000\n    no option start-on-reload";
    let mut m = Master::start("programs", programs, &["-W"]);
    assert!(wait_until(Duration::from_secs(5), || program_pids(&m).len() == 2), "{}", m.cli("show proc"));
    let before = program_pids(&m);
    let pid_of = |list: &[(String, u32)], name: &str| list.iter().find(|(n, _)| n == name).map(|(_, p)| *p).unwrap();
    let (p1, p2) = (pid_of(&before, "p1"), pid_of(&before, "p2"));
    assert!(alive(p1) && alive(p2));
    let log = m.log();
    let (prog, worker) = (log.find("New program 'p1'").unwrap(), log.find("New worker").unwrap());
    assert!(prog < worker, "programs first: {log}");
    let proc = m.cli("show proc");
    assert!(proc.contains(&format!("\n{p1:<15} p1              0               0d00h00m")), "{proc}");

    reload_and_wait(&m, "SIGUSR2");
    let after = program_pids(&m);
    let new_p1 = pid_of(&after, "p1");
    assert_ne!(new_p1, p1, "p1 starts again on reload");
    assert_eq!(pid_of(&after, "p2"), p2, "p2 is kept (no option start-on-reload)");
    // The replaced instance gets SIGUSR1 once the new worker serves.
    assert!(wait_until(Duration::from_secs(10), || m.log().contains(&format!("Former program 'p1' ({p1}) exited with code 138 (User defined signal 1)"))), "{}", m.log());
    assert!(alive(p2) && alive(new_p1));
    assert!(m.cli("show proc").contains(&format!("\n{p2:<15} p2              1 ")), "reloads counted");

    signal(p2, "KILL");
    assert_eq!(m.wait_exit(Duration::from_secs(10)), Some(137), "{}", m.log());
    let log = m.log();
    assert!(log.contains(&format!("Current program 'p2' ({p2}) exited with code 137 (Killed)")), "{log}");
    assert!(log.contains("exit-on-failure: killing every processes with SIGTERM"), "{log}");
    assert!(wait_until(Duration::from_secs(5), || !alive(new_p1)), "the other program is stopped too");
}

/// Without master-worker mode a `program` section is refused, as by HAProxy.
#[test]
fn a_program_section_needs_master_worker_mode() {
    let dir = std::env::temp_dir().join(format!("moonproxy-mw-{}-prog-check", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("p.cfg"), config(1, "program p1\n    command sleep 1")).unwrap();
    let out = Command::new(BIN).args(["-c", "-f"]).arg(dir.join("p.cfg")).output().unwrap();
    assert_ne!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stderr).contains("Can't use a 'program' section without master worker mode."));
    let out = Command::new(BIN).args(["-W", "-c", "-f"]).arg(dir.join("p.cfg")).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let _ = std::fs::remove_dir_all(&dir);
}
