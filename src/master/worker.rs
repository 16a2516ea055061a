//! The worker side of master-worker mode: forking a worker that runs the normal
//! runtime, and the link through which it tells the master it serves.

use crate::config::model::{Bind, BindAddr, CliLevel, Config, Location, StatsSocket};
use crate::runtime::RunOptions;
use crate::sys::process::{self, Forked, MasterSignals};
use std::io::Write;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The worker's end of its readiness link: the runtime calls [`ReadyPipe::signal`]
/// once its listeners are open and it is about to serve (`RunOptions::ready`).
#[derive(Clone, Debug)]
pub struct ReadyPipe(Arc<UnixStream>);

impl ReadyPipe {
    /// Tells the master this worker serves. Called once; a master already gone is
    /// not the worker's problem.
    pub fn signal(&self) {
        let _ = (&*self.0).write_all(b"R");
    }
}

/// The internal stats socket the master gives each worker, in its private directory:
/// level admin, with `expose-fd listeners` so the next worker takes its listening
/// sockets over (`-x`), and the master routes `@<pid>` commands to it.
pub fn internal_socket(path: &Path) -> StatsSocket {
    let mut bind = Bind::new(Location { file: Arc::from("master-worker"), line: 0 }, vec![BindAddr::Unix(path.to_path_buf())]);
    bind.mode = Some(0o600);
    StatsSocket { bind, level: CliLevel::Admin, expose_fd_listeners: true, severity_output: Default::default() }
}

/// What a new worker starts from.
pub struct Start<'a> {
    pub config: &'a Config,
    pub opts: &'a RunOptions,
    /// The master's private directory (the worker's internal socket goes there).
    pub dir: &'a Path,
    /// The stats socket of the worker to take the listening sockets from.
    pub takeover: Option<PathBuf>,
    pub signals: &'a MasterSignals,
    /// The master's fds the worker must not keep (poll, CLI, other workers' links).
    pub close: Vec<RawFd>,
}

/// Forks a worker. In the parent: its pid and the master's end of the readiness link
/// (non-blocking). The child never returns: it runs [`crate::runtime::run`] and exits
/// with its code.
pub fn spawn(start: Start<'_>) -> std::io::Result<(i32, mio::net::UnixStream)> {
    let (master_end, worker_end) = UnixStream::pair()?;
    match process::fork()? {
        Forked::Child => {
            start.signals.reset_in_child();
            let mut close = start.close;
            close.push(master_end.as_raw_fd());
            process::close_in_child(&close);
            std::mem::forget(master_end);
            let mut config = start.config.clone();
            let socket = super::procs::Procs::socket_of(start.dir, std::process::id() as i32);
            config.global.stats_sockets.push(internal_socket(&socket));
            let opts = RunOptions {
                daemon: false,
                pidfile: None,
                takeover: start.takeover,
                ready: Some(ReadyPipe(Arc::new(worker_end))),
                ..start.opts.clone()
            };
            let code = crate::runtime::run(config, opts);
            std::process::exit(code)
        }
        Forked::Parent(pid) => {
            drop(worker_end);
            master_end.set_nonblocking(true)?;
            Ok((pid, mio::net::UnixStream::from_std(master_end)))
        }
    }
}
