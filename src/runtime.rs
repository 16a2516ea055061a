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
    match serve(&config, &opts, proxies, farm, listeners) {
        Ok(code) => code,
        Err(e) => {
            alert!("[{}.main()] reactor failure: {e}", env!("CARGO_PKG_NAME"));
            1
        }
    }
}

fn serve(config: &Config, opts: &RunOptions, proxies: Vec<crate::stream::proxy::ProxyRt>, farm: pool::Farm, listeners: Vec<Listener>) -> std::io::Result<i32> {
    let mut reactor = Reactor::new()?;
    let mut signals = Signals::install()?;
    signals.register(reactor.registry(), token::SIGNALS)?;
    let checks = checks::Checks::build(&farm);
    let g = &config.global;
    let maxconn = g.maxconn.unwrap_or_else(default_maxconn);
    let mut world = world::World::new(proxies, farm, listeners, checks, signals, g.bufsize, g.maxaccept, maxconn, g.hard_stop_after);
    world.debug = opts.debug;
    {
        let mut cx = reactor.ctx();
        world.sync_listeners(&mut cx);
        world.checks.start(&mut cx, &world.farm);
    }
    reactor.run(&mut world)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::model::{Bind, BindAddr, Capabilities, Location, Proxy, Server, ServerAddr, Timeouts};
    use std::io::{Read, Write};
    use std::sync::Arc;
    use std::time::Duration;

    fn loc() -> Location {
        Location { file: Arc::from("unit.cfg"), line: 1 }
    }

    /// A `listen` section forwarding `port` to `backend`, built without the parser.
    fn listen_config(port: u16, backend: std::net::SocketAddr) -> Config {
        let mut p = Proxy { name: "l".into(), cap: Capabilities { frontend: true, backend: true }, ..Default::default() };
        p.binds.push(Bind {
            location: loc(),
            addrs: vec![BindAddr::Inet(([127, 0, 0, 1], port).into())],
            name: None,
            maxconn: None,
            backlog: None,
            v4v6: false,
            v6only: false,
            reuseport: false,
            mode: None,
            uid: None,
            gid: None,
        });
        p.retries = 3;
        p.timeouts = Timeouts {
            connect: Some(Duration::from_secs(1)),
            client: Some(Duration::from_secs(5)),
            server: Some(Duration::from_secs(5)),
            ..Default::default()
        };
        p.servers.push(Server {
            name: "s1".into(),
            location: loc(),
            addr: ServerAddr::Inet { ip: backend.ip(), port: Some(backend.port()) },
            weight: 1,
            maxconn: 0,
            maxqueue: 0,
            backup: false,
            disabled: false,
            check: None,
            id: None,
        });
        Config { proxies: vec![p], ..Default::default() }
    }

    /// End to end without the parser: a hand-built `listen` proxies an echo server,
    /// then SIGTERM stops the loop with exit code 0.
    #[test]
    fn forwards_to_an_echo_server_and_stops_on_sigterm() {
        let echo = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let echo_addr = echo.local_addr().unwrap();
        std::thread::spawn(move || {
            for c in echo.incoming() {
                let mut c = c.unwrap();
                std::thread::spawn(move || {
                    let mut buf = [0u8; 4096];
                    loop {
                        match c.read(&mut buf) {
                            Ok(0) | Err(_) => break,
                            Ok(n) => c.write_all(&buf[..n]).unwrap(),
                        }
                    }
                });
            }
        });
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let cfg = listen_config(port, echo_addr);
        let proxy = std::thread::spawn(move || run(cfg, RunOptions::default()));
        let mut client = None;
        for _ in 0..100 {
            if let Ok(c) = std::net::TcpStream::connect(("127.0.0.1", port)) {
                client = Some(c);
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let mut client = client.expect("proxy listens");
        client.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let msg: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        let mut w = client.try_clone().unwrap();
        let m2 = msg.clone();
        let writer = std::thread::spawn(move || {
            w.write_all(&m2).unwrap();
            w.shutdown(std::net::Shutdown::Write).unwrap();
        });
        let mut got = Vec::new();
        client.read_to_end(&mut got).unwrap();
        writer.join().unwrap();
        assert_eq!(got.len(), msg.len());
        assert!(got == msg, "echoed bytes differ");
        std::process::Command::new("kill").arg("-TERM").arg(std::process::id().to_string()).status().unwrap();
        assert_eq!(proxy.join().unwrap(), 0);
    }
}
