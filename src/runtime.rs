//! Turns a parsed [`Config`] into running listeners, streams and backends, and runs
//! the reactor until the process is told to stop.
//!
//! Start-up order (everything that can fail does so before anything serves):
//! 1. compile the proxies (rules, ACLs, backend references) — [`crate::stream::proxy`];
//! 2. build the backends (servers, balancing, checks) — [`crate::backend`];
//! 3. open every listening socket — [`crate::listener`]; one failure is an alert and
//!    exit code 1, as with HAProxy;
//!    then raise the fd limit and settle `maxconn` — [`crate::sys::privs::fd_limits`];
//! 4. detach (`daemon`/`-D`) and write the pidfile; then chroot, drop privileges and pin
//!    the thread to its `cpu-map` CPUs — [`crate::sys::privs`], [`crate::sys::affinity`];
//! 5. install the signal pipe, register listeners, arm the first health checks, run
//!    the [`Reactor`] with the `world::World` handler.

mod checks;
mod external_check;
mod mailers;
mod idle;
pub mod lua;
mod pool;
mod proc_vars;
mod reload;
pub mod server_state;
mod source;
mod spoe;
pub mod threads;
mod world;

use crate::config::model::Config;
use crate::listener::Listener;
use crate::log::events::proxy_kind;
use crate::log::{LogFormat, LogIdentity, Logger};
use crate::lua::api::core::{Engine, EngineOptions};
use crate::reactor::{token, Reactor};
use crate::stream::proxy::build_proxies;
use crate::sys::daemon::{self, Detached};
use crate::sys::signals::Signals;
use crate::alert;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

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
    /// `-x <socket>`: the stats socket of the process we replace; its listening
    /// sockets are taken over (`_getsocks`) before ours are opened.
    pub takeover: Option<PathBuf>,
    /// `-sf <pid>*`: told to soft-stop (SIGUSR1) once we serve.
    pub finish_pids: Vec<i32>,
    /// `-st <pid>*`: told to stop (SIGTERM) once we serve.
    pub terminate_pids: Vec<i32>,
    /// Master-worker mode: this process is a worker; tell the master once serving.
    pub ready: Option<crate::master::ReadyPipe>,
}

/// Runs the proxy described by `config`; returns the process exit code
/// (0 after a clean stop, 1 when start-up failed).
pub fn run(mut config: Config, opts: RunOptions) -> i32 {
    warn_unsupported(&config);
    crate::tls::configure_httpclient(&config.global.tls_defaults);
    crate::dns::lookup::configure(&config);
    threads::prepare(&config);
    proc_vars::init(&config);
    crate::stream::h1_case::set_map(&config.global.tuning.h1_case_adjust);
    // 0. Lua: the `lua-load` bodies run first, as HAProxy runs them while parsing.
    let engine = match lua::boot(&config, EngineOptions { quiet: opts.quiet && !opts.verbose, debug: opts.debug }) {
        Ok(e) => e,
        Err(lua::BootFailed) => return 1,
    };
    // 1. Stick tables (shared by every thread), proxies and their log formats.
    crate::stick::install(&crate::stick::defs(&config));
    crate::http::cache::install(&config.caches);
    let proxies = match build_proxies(&config) {
        Ok(p) => p,
        Err(errors) => return fatal(errors),
    };
    let formats = match compile_log_formats(&config) {
        Ok(f) => f,
        Err(errors) => return fatal(errors),
    };
    // 2. Backends.
    let mut farm = pool::Farm::from_config(&config);
    // The state the previous process left (`load-server-state-from-file`).
    server_state::apply(&config, &mut farm.backends);
    crate::backend::track::inherit_admin_states(&mut farm.backends);
    // `usesrc` needs IP_TRANSPARENT: refused now rather than at each connection.
    if let Err(errors) = source::check_transparent(&config) {
        for e in errors {
            alert!("{e}");
        }
        return 1;
    }
    // 3. Listeners: all of them, or none; a reload's old process hands its own over first.
    crate::listener::set_reuseport(!config.global.noreuseport);
    crate::sys::sockopt::set_buffer_sizes(&config.global.tuning);
    if let Err(code) = reload::take_over(&opts) {
        return code;
    }
    let Some(listeners) = open_listeners(&config) else {
        alert!("[{}.main()] Some protocols failed to start their listeners! Exiting.", env!("CARGO_PKG_NAME"));
        return 1;
    };
    // The local peers' listeners (`peers` sections), with the same rule.
    if let Err(e) = crate::peers::start(&config, !opts.finish_pids.is_empty() || !opts.terminate_pids.is_empty()) {
        alert!("{e}");
        alert!("[{}.main()] Some protocols failed to start their listeners! Exiting.", env!("CARGO_PKG_NAME"));
        return 1;
    }
    // The CLI's sockets (`stats socket`), with the same all-or-nothing rule.
    let cli_listeners = match crate::cli_socket::open(&config.global) {
        Ok(l) => l,
        Err(errors) => {
            for e in errors {
                alert!("{e}");
            }
            alert!("[{}.main()] Some protocols failed to start their listeners! Exiting.", env!("CARGO_PKG_NAME"));
            return 1;
        }
    };
    // The syslog relay's sockets (`log-forward` sections), with the same rule.
    let logfwd = match crate::log::forward::open(&config.log_forwards) {
        Ok(l) => l,
        Err(errors) => {
            for e in errors {
                alert!("{e}");
            }
            alert!("[{}.main()] Some protocols failed to start their listeners! Exiting.", env!("CARGO_PKG_NAME"));
            return 1;
        }
    };
    reload::close_unclaimed();
    // Nothing to accept anything on: HAProxy 2.6 refuses to run (a worker of the master
    // has the master's socket pair, so it runs).
    let peers_listen = config.peers.iter().any(|s| !s.disabled && s.check(&crate::peers::local_name(&config)).is_ok());
    if listeners.is_empty() && cli_listeners.is_empty() && logfwd.is_empty() && !peers_listen && opts.ready.is_none() {
        alert!("[{}.main()] No enabled listener found (check for 'bind' directives) ! Exiting.", env!("CARGO_PKG_NAME"));
        return 1;
    }
    // The fd limit, and `maxconn` when the configuration leaves it to the limit.
    let Ok(maxconn) = crate::sys::privs::fd_limits(&config, listeners.len() + logfwd.len()) else { return 1 };
    config.global.maxconn = Some(maxconn);
    // `tune.pool-high-fd-ratio`: the idle server connections' share of `maxsock`,
    // split between the threads, each of which keeps its own.
    let maxsock = crate::sys::privs::FdBudget::of(&config, listeners.len() + logfwd.len()).maxsock(maxconn);
    let ratio = u64::from(config.global.tuning.pool_high_fd_ratio.unwrap_or(idle::DEFAULT_HIGH_FD_RATIO));
    idle::set_limit(maxsock * ratio / 100 / u64::from(config.global.nbthread.max(1)));
    // 4. Detach, pidfile. (`serve` starts the other threads, then chroots and drops
    // the privileges.)
    let daemon = match detach(&config, &opts) {
        Ok(daemon) => daemon,
        Err(code) => return code,
    };
    // 5. Run.
    let code = match serve(&config, &opts, proxies, formats, farm, (listeners, cli_listeners, logfwd), engine, daemon) {
        Ok(code) => code,
        Err(e) => {
            alert!("[{}.main()] reactor failure: {e}", env!("CARGO_PKG_NAME"));
            1
        }
    };
    // Log lines go through writer threads: let them drain before the process exits.
    crate::log::stdio::flush_all(Duration::from_millis(500));
    crate::log::ring::flush_all(Duration::from_millis(500));
    code
}

/// Prints configuration errors found at start-up; returns the exit code.
fn fatal(errors: Vec<String>) -> i32 {
    for e in errors {
        alert!("config : {e}");
    }
    alert!("Fatal errors found in configuration.");
    1
}

/// What the configuration asks for and this version does not do yet.
fn warn_unsupported(_config: &Config) {}

/// Per proxy: its `log-format`, or the one `option tcplog` implies, compiled once.
fn compile_log_formats(config: &Config) -> Result<Vec<Option<LogFormat>>, Vec<String>> {
    let mut formats = Vec::new();
    let mut errors = Vec::new();
    for p in &config.proxies {
        formats.push(match (&p.log_format, p.options.tcplog) {
            (Some(f), _) => match LogFormat::compile_for(f, p.mode) {
                Ok(f) => Some(f),
                Err(e) => {
                    errors.push(format!("{} '{}' : failed to parse log-format : {e}", proxy_kind(p.cap), p.name));
                    None
                }
            },
            (None, true) => Some(crate::log::format::tcplog().clone()),
            (None, false) => None,
        });
    }
    if errors.is_empty() { Ok(formats) } else { Err(errors) }
}

/// Opens every listening socket of every enabled frontend. Each failure is an
/// alert in HAProxy's words; `None` if any failed (nothing is served then).
fn open_listeners(config: &Config) -> Option<Vec<Listener>> {
    let mut listeners: Vec<Listener> = Vec::new();
    let mut failed = false;
    for (pi, p) in config.proxies.iter().enumerate().filter(|(_, p)| p.cap.frontend && !p.disabled) {
        for bind in &p.binds {
            for addr in &bind.addrs {
                match Listener::open(bind, addr, pi, listeners.len(), p.backlog, p.maxconn) {
                    Ok(mut l) => {
                        // `bind ... id <n>` (its first address; the next ones count on).
                        let first = bind.tuning.id.map(|id| id + bind.addrs.iter().position(|a2| a2 == addr).unwrap_or(0) as u32);
                        l.luid = first.unwrap_or(listeners.iter().filter(|o| o.proxy == pi).count() as u32 + 1);
                        listeners.push(l);
                    }
                    Err(e) => {
                        alert!("Binding [{}] for {} {}: {e}", bind.location, proxy_kind(p.cap), p.name);
                        failed = true;
                    }
                }
            }
        }
    }
    (!failed).then_some(listeners)
}

/// `daemon`/`-D`: fork away (the original process gets `Err(exit code)`); then, or in
/// the foreground, write the pidfile. `Ok(true)` in the daemon, which closes its
/// standard descriptors once privileges are dropped (see [`serve`]).
fn detach(config: &Config, opts: &RunOptions) -> Result<bool, i32> {
    let pidfile = opts.pidfile.clone().or_else(|| config.global.pidfile.clone());
    let daemon = (opts.daemon || config.global.daemon) && !opts.foreground && !opts.debug;
    if daemon {
        return match daemon::daemonize(pidfile.as_deref()) {
            Ok(Detached::Parent(code)) => Err(code),
            Ok(Detached::Daemon) => Ok(true),
            Err(e) => {
                alert!("[{}.main()] Cannot fork: {e}.", env!("CARGO_PKG_NAME"));
                Err(1)
            }
        };
    }
    if let Some(p) = &pidfile {
        if let Err(e) = daemon::write_pidfile(p) {
            alert!("[{}.main()] Cannot create pidfile {} ({e})", env!("CARGO_PKG_NAME"), p.display());
            return Err(1);
        }
    }
    Ok(false)
}

/// Runs thread 1 (this thread: signals, CLI, health checks) and, with `nbthread` > 1,
/// threads 2..N ([`threads`]) on copies of the listeners; returns once every thread left
/// its loop. A `daemon` closes its standard descriptors once the privileges are dropped:
/// a refused `chroot` or `setuid` is still reported on stderr, as by HAProxy.
#[allow(clippy::too_many_arguments)]
fn serve(
    config: &Config,
    opts: &RunOptions,
    proxies: Vec<crate::stream::proxy::ProxyRt>,
    formats: Vec<Option<LogFormat>>,
    farm: pool::Farm,
    (listeners, cli_listeners, logfwd): (Vec<Listener>, Vec<crate::cli_socket::CliListener>, crate::log::forward::Opened),
    engine: Option<Engine>,
    daemon: bool,
) -> std::io::Result<i32> {
    crate::stats::activity::set_tasks_mode(config.global.profiling_tasks);
    // The rings every thread's loggers write into, and their servers' threads.
    crate::log::ring::install(&config.rings);
    crate::log::ring::start_forwarding();
    let mut reactor = Reactor::new()?;
    let mut signals = Signals::install()?;
    signals.register(reactor.registry(), token::SIGNALS)?;
    let g = &config.global;
    let mut checks = checks::Checks::build(&farm).with_pp2_never_send_local(g.tuning.pp2_never_send_local);
    checks.use_external(config, &farm);
    checks.use_mailers(config);
    let nthreads = threads::count(config);
    let maxconn = g.maxconn.unwrap_or(1024); // set by `run` from the fd limit
    let spawned = if nthreads > 1 {
        let hub = threads::Hub::new(nthreads);
        threads::install(hub.clone(), 1, reactor.registry(), maxconn)?;
        Some(threads::spawn(&hub, config, opts, &listeners)?)
    } else {
        None
    };
    // chroot, gid, uid: once every thread has built its world and loaded its Lua files
    // (they read them, and the modules they `require`, from paths outside the chroot).
    let ready = spawned.as_ref().map_or(Ok(()), threads::Spawned::wait_ready);
    let dropped = ready.and_then(|()| crate::sys::privs::drop_privileges(&config.global.process).map_err(|_refused| String::new()));
    if let Err(msg) = dropped {
        if !msg.is_empty() {
            alert!("{msg}");
        }
        if let Some(spawned) = spawned {
            spawned.stop_all();
            spawned.join(1);
        }
        return Ok(1);
    }
    if daemon {
        daemon::close_stdio(opts.verbose);
    }
    threads::pin(config, 1);
    // Loggers are opened after daemonizing: their identity carries the daemon's pid.
    let identity = Arc::new(LogIdentity::from_global(g));
    let mut proxies = proxies;
    threads::attach_log_samples(&mut proxies, &formats);
    threads::attach_sd_samples(&mut proxies, config);
    let logs = threads::proxy_logs(config, &formats, &identity);
    let share = threads::share(maxconn, nthreads, 1);
    let mut world = world::World::new(proxies, farm, listeners, checks, logs, Some(signals), g.bufsize, g.maxaccept, share, g.hard_stop_after);
    world.debug = opts.debug;
    world.http_maxhdr = g.http_maxhdr;
    world.set_h2_tuning(&g.tuning);
    world.tls_defaults = g.tls_defaults.clone();
    world.resolvers = config.resolvers.iter().map(|r| (r.name.clone(), r.nameservers.iter().map(|(id, _)| id.clone()).collect())).collect();
    world.set_thread(1, nthreads);
    world.set_accept_rates(crate::listener::rate::AcceptRates::for_thread(config, nthreads, 1, std::time::Instant::now()));
    world.set_stop_pacing(g.tuning.grace, g.tuning.close_spread_time);
    if let Some(len) = g.tuning.http_logurilen {
        world.log_uri_len = len;
    }
    let initial_weights = world.farm.backends.iter().map(|b| b.as_ref().map_or_else(Vec::new, |b| b.servers().iter().map(|s| s.initial_weight()).collect())).collect();
    world.start_cli(&mut reactor.ctx(), crate::cli_socket::Cli::new(cli_listeners, g.stats_timeout, g.stats_maxconn, initial_weights));
    if !logfwd.is_empty() {
        let mut relay = crate::log::forward::Forwarder::new(logfwd, identity.clone(), g.bufsize);
        relay.start(&mut reactor.ctx());
        world.logfwd = Some(relay);
    }
    // Lua post-init: log targets, `tune.lua.maxmem`, `register_init` functions, then tasks.
    let started = match engine {
        Some(engine) => {
            engine.set_logger(Logger::new(&g.logs, identity.clone()));
            world.start_lua(&mut reactor.ctx(), engine)
        }
        None => Ok(()),
    };
    // Run-time resolution of the servers that name a `resolvers` section (this thread
    // resolves for all: the changes reach the others through their mailboxes).
    let started = started.and_then(|()| match crate::dns::Dns::from_config(config, std::time::Instant::now()) {
        Ok(Some(dns)) => world.start_dns(&mut reactor.ctx(), dns).map_err(|e| format!("resolvers: cannot open a name-server socket: {e}")),
        Ok(None) => Ok(()),
        Err(e) => Err(format!("resolvers: cannot open a name-server socket: {e}")),
    });
    if let Err(msg) = started {
        alert!("{msg}");
        if let Some(spawned) = spawned {
            spawned.stop_all();
            spawned.join(1);
        }
        return Ok(1);
    }
    {
        let mut cx = reactor.ctx();
        world.sync_listeners(&mut cx);
        world.checks.start(&mut cx, &world.farm);
        if let Some(lua) = &mut world.lua {
            lua.spawn_new(&mut cx);
        }
    }
    crate::diag::end_startup(); // `show startup-logs` keeps what came before
    // Every thread serves now (`threads::spawn` waited for each): the old process may
    // stop, the master may be told.
    crate::peers::spawn();
    reload::tell_old_pids(opts);
    if let Some(ready) = &opts.ready {
        ready.signal();
    }
    // With several threads, thread 1 leaves its loop once the others left theirs
    // (`World::end_of_iteration`), still reading signals while they finish.
    let code = reactor.run(&mut world);
    crate::peers::finish(); // the last updates, the next process taught
    match (spawned, code) {
        (Some(spawned), Ok(code)) => Ok(spawned.join(code)),
        (Some(spawned), Err(e)) => {
            spawned.stop_all();
            spawned.join(1);
            Err(e)
        }
        (None, code) => code,
    }
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
        p.binds.push(Bind::new(loc(), vec![BindAddr::Inet(([127, 0, 0, 1], port).into())]));
        p.retries = 3;
        p.timeouts = Timeouts {
            connect: Some(Duration::from_secs(1)),
            client: Some(Duration::from_secs(5)),
            server: Some(Duration::from_secs(5)),
            ..Default::default()
        };
        p.servers.push(Server::new("s1", loc(), ServerAddr::Inet { ip: backend.ip(), port: Some(backend.port()) }));
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
