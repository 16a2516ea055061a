//! Master-worker mode (`-W`, `-Ws`, `master-worker` in `global`), as HAProxy 2.6 runs it.
//!
//! The master parses the configuration, forks one worker that runs the normal
//! runtime ([`crate::runtime::run`]; with `nbthread` the worker has the threads), and
//! stays: it reaps workers and reports their exits, forwards the stop signals, serves
//! the master CLI (`-S`, [`cli`]) and reloads.
//!
//! Reload (SIGUSR2, SIGHUP or the master CLI's `reload`): the master blocks its
//! signals and re-executes `/proc/self/exe` with its original arguments (without the
//! `-sf`/`-st`/`-x` of the first start), keeping its pid and its children; its state
//! (counters, the workers, the master CLI's listening fds) travels in the
//! `MOONPROXY_MASTER_STATE` environment variable ([`procs::Procs::encode`]). HAProxy
//! adds `-sf <old workers>` for its new worker to signal them; here the master
//! signals them itself, so the worker is not given them. The new image parses the
//! configuration again and forks a new worker that takes the current worker's
//! listening sockets over its internal stats socket (`RunOptions::takeover`, HAProxy's
//! `-x` / `_getsocks`), so no connection is refused. Once the new worker reports it
//! serves ([`ReadyPipe`]), the previous ones get SIGUSR1 (soft stop) and become "old
//! workers". A configuration that fails to load keeps the master and the running
//! worker as they were, with the errors and `Loading failure!` logged.
//!
//! Each worker gets an internal stats socket (level admin, `expose-fd listeners`) in a
//! private directory of the master (mode 0700): the next worker's takeover and the
//! master CLI's `@<pid>` routing go through it.
//!
//! Exits: a current worker that dies with an error code (not 0, 130 or 143) makes the
//! master send SIGTERM to every worker and leave with that code (exit-on-failure),
//! unless `master-worker no-exit-on-failure` is set: then the master keeps running,
//! even with no worker left, and a `reload` starts a new one (HAProxy 2.6 leaves once
//! its last child is gone; see `doc/operations.md`).

mod cli;
mod procs;
mod program;
mod systemd;
mod worker;

pub use worker::ReadyPipe;

use crate::config::model::Config;
use crate::runtime::RunOptions;
use crate::sys::daemon::{self, Detached};
use crate::sys::process::{self, MasterSignals};
use crate::{alert, notice, warning};
use cli::{MasterCli, Request, View};
use mio::{Events, Interest, Poll, Token};
use procs::{ProgramProc, ProgramRole, Procs, Role, Worker};
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use systemd::Notifier;

/// The environment variable carrying the master's state across a reload.
const STATE_ENV: &str = "MOONPROXY_MASTER_STATE";
const SIGNALS: Token = Token(0);
/// Readiness links: this base plus the worker's pid.
const READY_BASE: usize = 1 << 40;

/// What the command line says about master-worker mode.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// `-Ws`: notify systemd (`$NOTIFY_SOCKET`).
    pub systemd: bool,
    /// `-S` arguments.
    pub master_cli: Vec<String>,
    /// `master-worker no-exit-on-failure`; `None` when no configuration was loaded.
    pub no_exit_on_failure: Option<bool>,
}

/// The state a previous master image left (this process is a reloaded master), taken
/// out of the environment so no worker inherits it. Call before anything else.
pub fn take_reexec_state() -> Option<String> {
    let state = std::env::var(STATE_ENV).ok();
    if state.is_some() {
        std::env::remove_var(STATE_ENV);
    }
    state
}

/// Runs the master with a loaded configuration; returns the exit code.
/// `reexec` is [`take_reexec_state`]'s value.
pub fn run(config: Config, run: RunOptions, opts: Options, reexec: Option<String>) -> i32 {
    let Some(mut master) = Master::start(run, &opts, reexec, config.global.stats_timeout) else { return 1 };
    let takeover = master.procs.current().map(|w| Procs::socket_of(&master.procs.dir, w.pid)).or_else(|| master.run.takeover.clone());
    if master.reloaded {
        // As HAProxy's re-executed master says which binary now runs.
        notice!("{} version is {}", env!("CARGO_PKG_NAME"), crate::version::VERSION);
        if let Ok(exe) = std::fs::read_link("/proc/self/exe") {
            notice!("path to executable is {}", exe.display());
        }
    }
    // As HAProxy: the programs first, then the worker.
    master.start_programs(&config);
    if let Err(e) = master.fork_worker(&config, takeover) {
        alert!("[{}.main()] Cannot fork: {e}.", env!("CARGO_PKG_NAME"));
        if !master.reloaded {
            return master.finish(1);
        }
        master.load_failed();
    }
    master.max_reloads = config.global.tuning.mworker_max_reloads;
    master.serve()
}

/// Runs a reloaded master whose new configuration failed to load (the errors are
/// printed): the running workers keep serving and the master waits for the next reload.
pub fn run_after_failed_load(opts: Options, reexec: String) -> i32 {
    let timeout = crate::config::model::Global::default().stats_timeout;
    let Some(mut master) = Master::start(RunOptions::default(), &opts, Some(reexec), timeout) else { return 1 };
    master.load_failed();
    master.serve()
}

struct Master {
    poll: Poll,
    signals: MasterSignals,
    cli: MasterCli,
    procs: Procs,
    run: RunOptions,
    notifier: Notifier,
    /// This image was started by a reload.
    reloaded: bool,
    /// A stop was asked (SIGTERM, SIGINT, SIGUSR1, or exit-on-failure): leave once the
    /// last worker is gone.
    stopping: bool,
    /// The exit code once stopping: the first abnormal worker status.
    exit_code: Option<i32>,
    /// `mworker-max-reloads` of the loaded configuration.
    max_reloads: Option<u32>,
}

impl Master {
    /// Everything but the worker: private directory, master CLI, detaching, signals.
    /// `cli_timeout`: the master CLI's idle timeout (`stats timeout`).
    fn start(run: RunOptions, opts: &Options, reexec: Option<String>, cli_timeout: Duration) -> Option<Master> {
        let (procs, cli_fds, reloaded) = match reexec.as_deref().and_then(Procs::decode) {
            Some((procs, fds)) => (procs, fds, true),
            None => {
                if reexec.is_some() {
                    warning!("master-worker: unreadable state from the previous master; starting afresh.");
                }
                (Procs::new(private_dir()), Vec::new(), false)
            }
        };
        // A failed load keeps the setting of the configuration still running.
        let exit_on_failure = match (&opts.no_exit_on_failure, reloaded) {
            (None, true) => procs.exit_on_failure,
            (no_exit, _) => !no_exit.unwrap_or(false),
        };
        let fail = |msg: String| {
            alert!("{msg}");
            None
        };
        if !reloaded {
            if let Err(e) = make_private_dir(&procs.dir) {
                return fail(format!("master-worker: cannot create {} : {e}", procs.dir.display()));
            }
        }
        let specs: Result<Vec<_>, String> = opts.master_cli.iter().map(|s| cli::parse_spec(s)).collect();
        let mut cli = match specs.and_then(|specs| MasterCli::open(&specs, &cli_fds, cli_timeout)) {
            Ok(cli) => cli,
            Err(e) => return fail(e),
        };
        if !reloaded {
            // Under systemd (`-Ws`) the master is the service's main process: never detach.
            if run.daemon && !opts.systemd {
                match daemon::daemonize(run.pidfile.as_deref()) {
                    Ok(Detached::Parent(code)) => std::process::exit(code),
                    Ok(Detached::Daemon) => daemon::close_stdio(run.verbose),
                    Err(e) => return fail(format!("[{}.main()] Cannot fork: {e}.", env!("CARGO_PKG_NAME"))),
                }
            } else if let Some(p) = &run.pidfile {
                if let Err(e) = daemon::write_pidfile(p) {
                    return fail(format!("[{}.main()] Cannot create pidfile {} ({e})", env!("CARGO_PKG_NAME"), p.display()));
                }
            }
        }
        let mut setup = || -> std::io::Result<(Poll, MasterSignals)> {
            let poll = Poll::new()?;
            let mut signals = MasterSignals::install()?;
            poll.registry().register(&mut signals.read, SIGNALS, Interest::READABLE)?;
            cli.register(poll.registry())?;
            Ok((poll, signals))
        };
        let (poll, signals) = match setup() {
            Ok(s) => s,
            Err(e) => return fail(format!("master-worker: {e}")),
        };
        let mut procs = procs;
        procs.exit_on_failure = exit_on_failure;
        Some(Master {
            poll,
            signals,
            cli,
            procs,
            run,
            notifier: Notifier::from_env(opts.systemd),
            reloaded,
            stopping: false,
            exit_code: None,
            max_reloads: None,
        })
    }

    fn fork_worker(&mut self, config: &Config, takeover: Option<PathBuf>) -> std::io::Result<()> {
        let mut close = self.cli.all_fds();
        close.push(self.poll.as_raw_fd());
        close.extend(self.procs.workers.iter().filter_map(|w| w.ready.as_ref().map(|r| r.as_raw_fd())));
        let start = worker::Start { config, opts: &self.run, dir: &self.procs.dir, takeover, signals: &self.signals, close };
        let (pid, mut ready) = worker::spawn(start)?;
        self.poll.registry().register(&mut ready, Token(READY_BASE + pid as usize), Interest::READABLE)?;
        notice!("New worker ({pid}) forked");
        self.procs.workers.push(Worker { pid, started: procs::now_secs(), reloads: 0, role: Role::Starting, ready: Some(ready) });
        Ok(())
    }

    /// Starts the `program` sections' commands. After a reload, a program keeps its
    /// running instance when it has `no option start-on-reload`; otherwise a new one
    /// starts and the previous one is stopped (SIGUSR1) once the new worker serves,
    /// as are the instances of programs the configuration no longer has.
    fn start_programs(&mut self, config: &Config) {
        for p in &mut self.procs.programs {
            if p.role == ProgramRole::Current {
                let kept = config.programs.iter().any(|c| c.name == p.name && !c.start_on_reload);
                if !kept {
                    p.role = ProgramRole::Replaced;
                }
            }
        }
        for conf in &config.programs {
            if self.procs.programs.iter().any(|p| p.name == conf.name && p.role == ProgramRole::Current) {
                continue;
            }
            match program::spawn(conf) {
                Ok(pid) => {
                    notice!("New program '{}' ({pid}) forked", conf.name);
                    self.procs.programs.push(ProgramProc { name: conf.name.clone(), pid, started: procs::now_secs(), reloads: 0, role: ProgramRole::Current });
                }
                Err(e) => alert!("Cannot fork program '{}': {e}.", conf.name),
            }
        }
    }

    /// The poll loop; returns the exit code.
    fn serve(mut self) -> i32 {
        let mut events = Events::with_capacity(64);
        // Children that left while the previous image was re-executing.
        self.reap();
        loop {
            if let Some(code) = self.should_exit() {
                return self.finish(code);
            }
            let timeout = self.cli.next_deadline().map(|d| d.saturating_duration_since(Instant::now()));
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() == std::io::ErrorKind::Interrupted {
                    continue;
                }
                alert!("master-worker: poll failed: {e}");
                return self.finish(1);
            }
            self.cli.expire(self.poll.registry(), Instant::now());
            for ev in events.iter() {
                match ev.token() {
                    SIGNALS => {
                        for signo in self.signals.drain() {
                            self.on_signal(signo);
                        }
                    }
                    Token(t) if t >= READY_BASE => self.on_ready(t - READY_BASE),
                    token => {
                        let view = View { procs: &self.procs, master_pid: std::process::id() };
                        if let Some(Request::Reload) = self.cli.ready(self.poll.registry(), token, &view) {
                            self.reload();
                        }
                    }
                }
            }
        }
    }

    fn on_signal(&mut self, signo: i32) {
        match signo {
            libc::SIGCHLD => self.reap(),
            libc::SIGUSR2 | libc::SIGHUP => self.reload(),
            libc::SIGTERM | libc::SIGINT | libc::SIGUSR1 => {
                self.stopping = true;
                for pid in self.procs.workers.iter().map(|w| w.pid).chain(self.procs.programs.iter().map(|p| p.pid)) {
                    process::kill(pid, signo);
                }
            }
            _ => {}
        }
    }

    /// A worker's readiness link is readable: it serves, or it died before serving.
    fn on_ready(&mut self, pid: usize) {
        let Some(w) = self.procs.workers.iter_mut().find(|w| w.pid as usize == pid) else { return };
        let Some(link) = w.ready.as_mut() else { return };
        let mut buf = [0u8; 8];
        let got = std::io::Read::read(link, &mut buf);
        if matches!(got, Err(ref e) if e.kind() == std::io::ErrorKind::WouldBlock) {
            return;
        }
        if let Some(mut link) = w.ready.take() {
            let _ = self.poll.registry().deregister(&mut link);
        }
        if !matches!(got, Ok(n) if n > 0) {
            return; // closed without a word: SIGCHLD tells the rest
        }
        w.role = Role::Current;
        let new = w.pid;
        for old in self.procs.workers.iter_mut().filter(|o| o.pid != new && o.role != Role::Old) {
            old.role = Role::Old;
            process::kill(old.pid, libc::SIGUSR1);
        }
        for old in self.procs.programs.iter_mut().filter(|p| p.role == ProgramRole::Replaced) {
            old.role = ProgramRole::Old;
            process::kill(old.pid, libc::SIGUSR1);
        }
        self.stop_overdue_workers();
        notice!("Loading success.");
        self.notify("READY=1\nSTATUS=Ready.\n");
    }

    fn notify(&self, state: &str) {
        if let Err(e) = self.notifier.notify(state) {
            warning!("master-worker: cannot notify systemd: {e}");
        }
    }

    /// Reaps every exited child and reports it in HAProxy's words.
    fn reap(&mut self) {
        while let Ok(Some(exit)) = process::reap() {
            if let Some(i) = self.procs.programs.iter().position(|p| p.pid == exit.pid) {
                let p = self.procs.programs.remove(i);
                let (pid, code, reason, name) = (exit.pid, exit.code, exit.reason(), &p.name);
                if p.role != ProgramRole::Current {
                    warning!("Former program '{name}' ({pid}) exited with code {code} ({reason})");
                    continue;
                }
                alert!("Current program '{name}' ({pid}) exited with code {code} ({reason})");
                self.child_failed(code);
                continue;
            }
            let Some(i) = self.procs.workers.iter().position(|w| w.pid == exit.pid) else { continue };
            let mut w = self.procs.workers.remove(i);
            if let Some(mut link) = w.ready.take() {
                let _ = self.poll.registry().deregister(&mut link);
            }
            let _ = std::fs::remove_file(Procs::socket_of(&self.procs.dir, w.pid));
            let (pid, code, reason) = (exit.pid, exit.code, exit.reason());
            match w.role {
                Role::Old => warning!("Former worker ({pid}) exited with code {code} ({reason})"),
                Role::Starting if self.procs.current().is_some() => {
                    alert!("New worker ({pid}) exited with code {code} ({reason}) before it was ready");
                    self.load_failed();
                }
                Role::Starting | Role::Current => {
                    if code < 128 {
                        warning!("Current worker ({pid}) exited with code {code} ({reason})");
                    } else {
                        alert!("Current worker ({pid}) exited with code {code} ({reason})");
                    }
                    // A worker that never served on first start: nothing to keep running.
                    if w.role == Role::Starting {
                        self.kill_all_on_failure(code);
                    } else {
                        self.child_failed(code);
                    }
                    if self.procs.workers.is_empty() && !self.stopping && !self.procs.exit_on_failure {
                        warning!("No worker left: the master keeps running (no-exit-on-failure); 'reload' starts a new one.");
                    }
                }
            }
        }
    }

    /// A current worker or program left with `code`: with exit-on-failure, an error
    /// code stops every process.
    fn child_failed(&mut self, code: i32) {
        if self.procs.exit_on_failure {
            self.kill_all_on_failure(code);
        } else if self.exit_code.is_none() && code != 0 && code != 143 {
            self.exit_code = Some(code);
        }
    }

    /// exit-on-failure: an error `code` (not 0, 130 or 143) sends SIGTERM to every
    /// worker and program; the master leaves with the first such code.
    fn kill_all_on_failure(&mut self, code: i32) {
        let failure = !matches!(code, 0 | 130 | 143);
        if failure && !self.stopping {
            alert!("exit-on-failure: killing every processes with SIGTERM");
            self.stopping = true;
            for pid in self.procs.workers.iter().map(|w| w.pid).chain(self.procs.programs.iter().map(|p| p.pid)) {
                process::kill(pid, libc::SIGTERM);
            }
        }
        if self.exit_code.is_none() && code != 0 && code != 143 {
            self.exit_code = Some(code);
        }
    }

    /// `Some(code)` once the master has nothing left to do: no worker left while
    /// stopping (or with exit-on-failure), and the programs gone too.
    fn should_exit(&mut self) -> Option<i32> {
        let done = self.procs.workers.is_empty() && (self.stopping || self.procs.exit_on_failure);
        if done && !self.procs.programs.is_empty() {
            if !self.stopping {
                self.stopping = true;
                for p in &self.procs.programs {
                    process::kill(p.pid, libc::SIGTERM);
                }
            }
            return None; // until they are reaped
        }
        done.then(|| self.exit_code.unwrap_or(0))
    }

    fn finish(&self, code: i32) -> i32 {
        warning!("All workers exited. Exiting... ({code})");
        let _ = std::fs::remove_dir_all(&self.procs.dir);
        code
    }

    /// `mworker-max-reloads <max>`: the old workers that lived through more than `max`
    /// reloads get SIGTERM (a hard stop) rather than finishing their soft stop.
    fn stop_overdue_workers(&self) {
        let Some(max) = self.max_reloads else { return };
        for w in self.procs.workers.iter().filter(|w| w.role == Role::Old && w.reloads > max) {
            warning!("Reached max-reloads ({max}) for worker {}: sending SIGTERM", w.pid);
            process::kill(w.pid, libc::SIGTERM);
        }
    }

    /// A reload failed (bad configuration, a new worker that could not start): the
    /// running workers go on as they were.
    fn load_failed(&mut self) {
        self.procs.failed += 1;
        warning!("Loading failure!");
        self.notify("READY=1\nSTATUS=Reload failed!\n");
    }

    /// Re-executes the master (see the module documentation). Returns only on failure.
    fn reload(&mut self) {
        notice!("Reloading {}", env!("CARGO_PKG_NAME"));
        self.notify("RELOADING=1\nSTATUS=Reloading Configuration.\n");
        self.procs.reloads += 1;
        for w in &mut self.procs.workers {
            w.reloads += 1;
        }
        for p in &mut self.procs.programs {
            p.reloads += 1;
        }
        let fds = self.cli.listener_fds();
        // The workers to replace travel in the state, not as `-sf`: the master tells
        // them to soft-stop once the new worker serves, and a worker given `-sf` would
        // signal them a second time.
        let args = reexec_args(std::env::args().collect());
        std::env::set_var(STATE_ENV, self.procs.encode(&fds));
        let prepared = process::block_master_signals(true).and_then(|_| fds.iter().try_for_each(|&fd| process::set_cloexec(fd, false)));
        let err = match prepared {
            Ok(()) => process::exec_self(&args),
            Err(e) => e,
        };
        alert!("master-worker: cannot re-execute {}: {err}", env!("CARGO_PKG_NAME"));
        std::env::remove_var(STATE_ENV);
        for fd in fds {
            let _ = process::set_cloexec(fd, true);
        }
        let _ = process::block_master_signals(false);
        self.load_failed();
    }
}

/// The command line for the next image: ours without `-sf`/`-st` and their pids and
/// without `-x` (those were for the first worker; the master hands sockets over and
/// stops old workers itself).
fn reexec_args(args: Vec<String>) -> Vec<String> {
    let mut out = Vec::with_capacity(args.len());
    let mut it = args.into_iter().peekable();
    if let Some(prog) = it.next() {
        out.push(prog);
    }
    while let Some(a) = it.next() {
        match a.as_str() {
            "-sf" | "-st" => {
                while it.peek().is_some_and(|p| p.parse::<i32>().is_ok()) {
                    it.next();
                }
            }
            "-x" => {
                it.next();
            }
            "--" => {
                out.push(a);
                out.extend(it);
                break;
            }
            _ => out.push(a),
        }
    }
    out
}

/// The master's private directory: the workers' internal sockets live there.
fn private_dir() -> PathBuf {
    std::env::temp_dir().join(format!("{}-master.{}", env!("CARGO_PKG_NAME"), std::process::id()))
}

/// Creates `dir` with mode 0700, replacing what a dead master with our pid left.
fn make_private_dir(dir: &std::path::Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    if dir.exists() {
        std::fs::remove_dir_all(dir)?;
    }
    std::fs::DirBuilder::new().mode(0o700).create(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn master_worker_keyword_as_haproxy_parses_it() {
        let parse = |text: &str| crate::config::parse_str("t.cfg", text, &Default::default());
        let g = parse("global\n    master-worker\n").unwrap().config.global;
        assert!(g.master_worker && !g.master_worker_no_exit_on_failure);
        let g = parse("global\n    master-worker no-exit-on-failure\n").unwrap().config.global;
        assert!(g.master_worker && g.master_worker_no_exit_on_failure);
        let err = |text: &str| parse(text).unwrap_err().iter().map(|d| d.message.clone()).collect::<Vec<_>>().join("\n");
        assert!(err("global\n    master-worker foo\n").contains("'master-worker' only supports 'no-exit-on-failure' option."));
        // HAProxy's spelling is one word; `no exit-on-failure` is refused as it refuses it.
        assert!(err("global\n    master-worker no exit-on-failure\n").contains("cannot handle unexpected argument 'exit-on-failure'."));
        assert!(err("global\n    master-worker no-exit-on-failure x\n").contains("cannot handle unexpected argument 'x'"));
    }

    #[test]
    fn reexec_drops_previous_reload_arguments() {
        assert_eq!(reexec_args(v("mp -W -f a.cfg -sf 12 13")), v("mp -W -f a.cfg"));
        assert_eq!(reexec_args(v("mp -sf 12 -x /s -W -f a.cfg")), v("mp -W -f a.cfg"));
        assert_eq!(reexec_args(v("mp -W -- -sf x.cfg")), v("mp -W -- -sf x.cfg"));
    }
}
