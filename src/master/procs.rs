//! The master's process list: the workers it forked, the reload counters, what
//! `show proc` prints, and the state handed to the master's next image across a
//! reload (`execv` keeps the pid and the children, not the memory).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// Where a worker is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Forked, not ready yet (it has not reported its listeners open).
    Starting,
    /// The worker serving the current configuration.
    Current,
    /// Replaced by a reload: soft-stopping, reaped when it leaves.
    Old,
}

/// One worker process.
#[derive(Debug)]
pub struct Worker {
    pub pid: i32,
    /// Start time, in seconds since the epoch (`show proc`'s uptime).
    pub started: u64,
    /// Reloads of the master this worker has lived through.
    pub reloads: u32,
    pub role: Role,
    /// The worker's end of the readiness socket pair, until it reports ready.
    pub ready: Option<mio::net::UnixStream>,
}

/// One instance of a `program` section.
#[derive(Debug)]
pub struct ProgramProc {
    pub name: String,
    pub pid: i32,
    pub started: u64,
    pub reloads: u32,
    pub role: ProgramRole,
}

/// Where a program instance is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProgramRole {
    Current,
    /// Replaced by an instance a reload started: gets SIGUSR1 once the new worker
    /// serves, as the old workers do.
    Replaced,
    /// Signalled: reaped when it leaves.
    Old,
}

/// The master's own counters and its workers.
#[derive(Debug)]
pub struct Procs {
    /// The master's first start (kept across reloads), seconds since the epoch.
    pub started: u64,
    pub reloads: u32,
    pub failed: u32,
    pub workers: Vec<Worker>,
    /// The running instances of the `program` sections.
    pub programs: Vec<ProgramProc>,
    /// The private directory holding the workers' internal stats sockets.
    pub dir: PathBuf,
    /// `false` with `master-worker no-exit-on-failure`.
    pub exit_on_failure: bool,
}

pub fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// HAProxy's `show proc` uptime: `0d00h10m24s`.
pub fn uptime(secs: u64) -> String {
    format!("{}d{:02}h{:02}m{:02}s", secs / 86400, secs / 3600 % 24, secs / 60 % 60, secs % 60)
}

impl Procs {
    pub fn new(dir: PathBuf) -> Procs {
        Procs { started: now_secs(), reloads: 0, failed: 0, workers: Vec::new(), programs: Vec::new(), dir, exit_on_failure: true }
    }

    /// The internal stats socket of worker `pid` (level admin, `expose-fd listeners`).
    pub fn socket_of(dir: &Path, pid: i32) -> PathBuf {
        dir.join(format!("worker.{pid}.sock"))
    }

    pub fn worker(&self, pid: i32) -> Option<&Worker> {
        self.workers.iter().find(|w| w.pid == pid)
    }

    pub fn current(&self) -> Option<&Worker> {
        self.workers.iter().find(|w| w.role == Role::Current)
    }

    /// `show proc`, in HAProxy 2.6's columns.
    pub fn show_proc(&self, master_pid: u32, version: &str) -> String {
        let now = now_secs();
        let mut out = String::new();
        let row = |out: &mut String, pid: &str, kind: &str, reloads: &str, started: u64| {
            let _ = writeln!(out, "{pid:<15} {kind:<15} {reloads:<15} {:<15} {version:<15}", uptime(now.saturating_sub(started)));
        };
        let _ = writeln!(out, "{:<15} {:<15} {:<15} {:<15} {:<15}", "#<PID>", "<type>", "<reloads>", "<uptime>", "<version>");
        row(&mut out, &master_pid.to_string(), "master", &format!("{} [failed: {}]", self.reloads, self.failed), self.started);
        out.push_str("# workers\n");
        for w in self.workers.iter().filter(|w| w.role != Role::Old) {
            row(&mut out, &w.pid.to_string(), "worker", &w.reloads.to_string(), w.started);
        }
        if self.workers.iter().any(|w| w.role == Role::Old) {
            out.push_str("# old workers\n");
            for w in self.workers.iter().filter(|w| w.role == Role::Old) {
                row(&mut out, &w.pid.to_string(), "worker", &w.reloads.to_string(), w.started);
            }
        }
        out.push_str("# programs\n");
        let program_row = |out: &mut String, p: &ProgramProc| {
            let _ = writeln!(out, "{:<15} {:<15} {:<15} {:<15} {:<15}", p.pid, p.name, p.reloads, uptime(now.saturating_sub(p.started)), "-");
        };
        for p in self.programs.iter().filter(|p| p.role == ProgramRole::Current) {
            program_row(&mut out, p);
        }
        if self.programs.iter().any(|p| p.role != ProgramRole::Current) {
            out.push_str("# old programs\n");
            for p in self.programs.iter().filter(|p| p.role != ProgramRole::Current) {
                program_row(&mut out, p);
            }
        }
        out.push('\n');
        out
    }

    /// The state the next master image needs, as one environment variable's value:
    /// `key=value` lines. `cli` lists the master CLI's listening fds, kept open across
    /// `execv`. Every worker is recorded as current (`1`) or old (`0`); one still
    /// starting counts as current (its readiness pipe does not survive the exec).
    pub fn encode(&self, cli_fds: &[i32]) -> String {
        let mut s = format!(
            "started={}\nreloads={}\nfailed={}\nexit-on-failure={}\ndir={}\n",
            self.started,
            self.reloads,
            self.failed,
            u8::from(self.exit_on_failure),
            self.dir.display()
        );
        let fds: Vec<String> = cli_fds.iter().map(i32::to_string).collect();
        let _ = writeln!(s, "cli={}", fds.join(","));
        for w in &self.workers {
            let _ = writeln!(s, "worker={}:{}:{}:{}", w.pid, w.reloads, w.started, u8::from(w.role != Role::Old));
        }
        for p in &self.programs {
            let role = match p.role {
                ProgramRole::Old => 0,
                ProgramRole::Current => 1,
                ProgramRole::Replaced => 2,
            };
            // The name last: it may hold any character but a newline.
            let _ = writeln!(s, "program={}:{}:{}:{role}:{}", p.pid, p.reloads, p.started, p.name);
        }
        s
    }

    /// Reads [`Procs::encode`]'s output back: the list and the CLI fds.
    pub fn decode(text: &str) -> Option<(Procs, Vec<i32>)> {
        let mut procs = Procs::new(PathBuf::new());
        let mut fds = Vec::new();
        for line in text.lines() {
            let (k, v) = line.split_once('=')?;
            match k {
                "started" => procs.started = v.parse().ok()?,
                "reloads" => procs.reloads = v.parse().ok()?,
                "failed" => procs.failed = v.parse().ok()?,
                "exit-on-failure" => procs.exit_on_failure = v == "1",
                "dir" => procs.dir = PathBuf::from(v),
                "cli" => fds = v.split(',').filter(|f| !f.is_empty()).map(str::parse).collect::<Result<_, _>>().ok()?,
                "worker" => {
                    let f: Vec<&str> = v.split(':').collect();
                    let [pid, reloads, started, current] = f[..] else { return None };
                    procs.workers.push(Worker {
                        pid: pid.parse().ok()?,
                        reloads: reloads.parse().ok()?,
                        started: started.parse().ok()?,
                        role: if current == "1" { Role::Current } else { Role::Old },
                        ready: None,
                    });
                }
                "program" => {
                    let mut f = v.splitn(5, ':');
                    let mut next = || f.next();
                    let (pid, reloads, started, role, name) = (next()?, next()?, next()?, next()?, next()?);
                    procs.programs.push(ProgramProc {
                        name: name.to_string(),
                        pid: pid.parse().ok()?,
                        reloads: reloads.parse().ok()?,
                        started: started.parse().ok()?,
                        role: match role {
                            "0" => ProgramRole::Old,
                            "1" => ProgramRole::Current,
                            _ => ProgramRole::Replaced,
                        },
                    });
                }
                _ => return None,
            }
        }
        (!procs.dir.as_os_str().is_empty()).then_some((procs, fds))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn worker(pid: i32, role: Role) -> Worker {
        Worker { pid, started: now_secs(), reloads: 1, role, ready: None }
    }

    #[test]
    fn show_proc_has_haproxy_columns() {
        let mut p = Procs::new(PathBuf::from("/tmp/x"));
        p.reloads = 2;
        p.workers.push(worker(11, Role::Current));
        let out = p.show_proc(10, "2.6.12");
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], "#<PID>          <type>          <reloads>       <uptime>        <version>      ");
        assert_eq!(lines[1], "10              master          2 [failed: 0]   0d00h00m00s     2.6.12         ");
        assert_eq!(lines[2], "# workers");
        assert!(lines[3].starts_with("11              worker          1               0d00h00m"));
        assert_eq!(&lines[4..], ["# programs", ""]);
        p.programs.push(ProgramProc { name: "p1".into(), pid: 12, started: now_secs(), reloads: 0, role: ProgramRole::Current });
        let out = p.show_proc(10, "v");
        assert!(out.contains("# programs\n12              p1              0               0d00h00m"), "{out}");
        assert!(out.ends_with("-              \n\n"), "{out:?}");
        p.workers.push(worker(9, Role::Old));
        assert!(p.show_proc(10, "v").contains("# old workers\n9 "));
    }

    #[test]
    fn uptime_format() {
        assert_eq!(uptime(0), "0d00h00m00s");
        assert_eq!(uptime(90061), "1d01h01m01s");
    }

    #[test]
    fn state_round_trips() {
        let mut p = Procs::new(PathBuf::from("/tmp/moonproxy master"));
        p.reloads = 3;
        p.failed = 1;
        p.exit_on_failure = false;
        p.workers.push(worker(11, Role::Current));
        p.workers.push(worker(9, Role::Old));
        p.programs.push(ProgramProc { name: "a:b c".into(), pid: 12, started: 5, reloads: 2, role: ProgramRole::Replaced });
        let (q, fds) = Procs::decode(&p.encode(&[5, 6])).unwrap();
        assert_eq!(fds, [5, 6]);
        assert_eq!((q.started, q.reloads, q.failed, q.dir, q.exit_on_failure), (p.started, 3, 1, p.dir.clone(), false));
        assert_eq!(q.workers.iter().map(|w| (w.pid, w.role)).collect::<Vec<_>>(), [(11, Role::Current), (9, Role::Old)]);
        assert_eq!(q.programs.iter().map(|p| (p.name.as_str(), p.pid, p.started, p.reloads, p.role)).collect::<Vec<_>>(), [("a:b c", 12, 5, 2, ProgramRole::Replaced)]);
        assert!(Procs::decode("garbage").is_none());
    }
}
