//! Turns a parsed [`Config`] into running listeners, streams and backends, and runs
//! the reactor until the process is told to stop.
//!
//! Start-up order (everything that can fail does so before anything serves):
//! 1. compile the proxies (rules, ACLs, backend references) — [`crate::stream::proxy`];
//! 2. build the backends (servers, balancing, checks) — [`crate::backend`];
//! 3. open every listening socket — [`crate::listener`]; one failure is an alert and
//!    exit code 1, as with HAProxy;
//! 4. detach (`daemon`/`-D`) and write the pidfile;
//! 5. install the signal pipe, register listeners, arm the first health checks, run
//!    the [`Reactor`] with the [`world::World`] handler.

mod checks;
mod logsink;
mod pool;
mod world;

use crate::backend::Backend;
use crate::config::model::Config;
use crate::listener::Listener;
use crate::reactor::{token, Reactor};
use crate::stream::proxy::build_proxies;
use crate::sys::daemon::{self, Detached};
use crate::sys::signals::Signals;
use crate::{alert, warning};
use std::path::PathBuf;

/// What the command line decides about running (the configuration decides the rest).
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    /// `-d` / `-db`: stay in the foreground, debug output on stderr.
    pub foreground: bool,
    pub debug: bool,
    /// `-D` (or `daemon` in global): detach.
    pub daemon: bool,
    /// `-p <pidfile>` (overrides `pidfile` in global).
    pub pidfile: Option<PathBuf>,
    /// `-q`: quiet.
    pub quiet: bool,
    /// `-V`: verbose (overrides `quiet`).
    pub verbose: bool,
}

/// Global `maxconn` when the configuration sets none: what the file-descriptor limit
/// allows with two sockets per connection and some room for listeners and checks.
fn default_maxconn() -> u32 {
    let nofile = crate::sys::fd::raise_nofile_limit().unwrap_or(1024);
    (nofile.saturating_sub(64) / 2).clamp(100, 1_000_000) as u32
}

/// Runs the proxy described by `config`; returns the process exit code
/// (0 after a clean stop, 1 when start-up failed).
pub fn run(config: Config, opts: RunOptions) -> i32 {
    if config.global.nbthread > 1 {
        warning!("nbthread {} is not supported: running one reactor thread.", config.global.nbthread);
    }
    // 1. Proxies.
    let proxies = match build_proxies(&config) {
        Ok(p) => p,
        Err(errors) => {
            for e in errors {
                alert!("config : {e}");
            }
            alert!("Fatal errors found in configuration.");
            return 1;
        }
    };
    // 2. Backends.
    let backends: Vec<Option<Backend>> =
        config.proxies.iter().map(|p| p.cap.backend.then(|| Backend::from_config(p))).collect();
    let farm = pool::Farm { backends, handed: Vec::new() };
    // 3. Listeners.
    let mut listeners = Vec::new();
    let mut failed = false;
    for (pi, p) in config.proxies.iter().enumerate() {
        if !p.cap.frontend || p.disabled {
            continue;
        }
        let kind = if p.cap.backend { "proxy" } else { "frontend" };
        for bind in &p.binds {
            for addr in &bind.addrs {
                match Listener::open(bind, addr, pi, listeners.len(), p.backlog, p.maxconn) {
                    Ok(l) => listeners.push(l),
                    Err(e) => {
                        alert!("Binding [{}] for {kind} {}: {e}", bind.location, p.name);
                        failed = true;
                    }
                }
            }
        }
    }
    if failed {
        alert!("[{}.main()] Some protocols failed to start their listeners! Exiting.", env!("CARGO_PKG_NAME"));
        return 1;
    }
    // 4. Detach, pidfile.
    let pidfile = opts.pidfile.clone().or_else(|| config.global.pidfile.clone());
    let daemon = (opts.daemon || config.global.daemon) && !opts.foreground && !opts.debug;
    if daemon {
        match daemon::daemonize(pidfile.as_deref(), opts.verbose) {
            Ok(Detached::Parent(code)) => return code,
            Ok(Detached::Daemon) => {}
            Err(e) => {
                alert!("[{}.main()] Cannot fork: {e}.", env!("CARGO_PKG_NAME"));
                return 1;
            }
        }
    } else if let Some(p) = &pidfile {
        if let Err(e) = daemon::write_pidfile(p) {
            alert!("[{}.main()] Cannot create pidfile {} ({e})", env!("CARGO_PKG_NAME"), p.display());
            return 1;
        }
    }
    // 5. Run.
    match serve(&config, proxies, farm, listeners) {
        Ok(code) => code,
        Err(e) => {
            alert!("[{}.main()] reactor failure: {e}", env!("CARGO_PKG_NAME"));
            1
        }
    }
}

fn serve(config: &Config, proxies: Vec<crate::stream::proxy::ProxyRt>, farm: pool::Farm, listeners: Vec<Listener>) -> std::io::Result<i32> {
    let mut reactor = Reactor::new()?;
    let mut signals = Signals::install()?;
    signals.register(reactor.registry(), token::SIGNALS)?;
    let checks = checks::Checks::build(config, &proxies);
    let g = &config.global;
    let maxconn = g.maxconn.unwrap_or_else(default_maxconn);
    let mut world = world::World::new(proxies, farm, listeners, checks, signals, g.bufsize, g.maxaccept, maxconn, g.hard_stop_after);
    {
        let mut cx = reactor.ctx();
        world.sync_listeners(&mut cx);
        world.checks.start(&mut cx, &world.farm);
    }
    reactor.run(&mut world)
}
