//! External health checks (`option external-check`): each probe runs
//! `external-check command` as HAProxy 2.6 does, with its four arguments
//! (`<proxy_address> <proxy_port> <server_address> <server_port>`) and an environment
//! holding only the `HAPROXY_*` variables and `PATH` (`external-check path`, empty by
//! default). Exit status 0 passes the check.
//!
//! Nothing here blocks the reactor: the child is started with
//! [`std::process::Command`] and its exit is polled with `try_wait` (`waitpid` with
//! `WNOHANG`) on the check's own timer, every [`POLL`] until its deadline; a child still
//! running then gets `SIGTERM` (HAProxy's `kill <pid>` warning) and is reaped later.

use crate::backend::{CheckResult, ExternalOutcome, Server};
use crate::config::model::{BindAddr, Config, Mode, ServerAddr};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How often a running command's exit is looked for.
pub const POLL: Duration = Duration::from_millis(10);

/// What a server's external check runs, fixed at start-up.
#[derive(Clone, Debug)]
pub struct ExternalProbe {
    command: String,
    path: String,
    /// The proxy's first listening address and its port (`None` for a unix socket);
    /// `None` for a backend.
    proxy_addr: Option<(String, Option<String>)>,
    proxy_id: u32,
    proxy_name: String,
    server_id: u32,
    server_name: String,
    server_ssl: bool,
    /// `HAPROXY_SERVER_PROTO`: the server connections' protocol (`h1` in HTTP mode).
    server_proto: &'static str,
    /// How long the command may run: `inter`, or `min(inter, timeout connect)`
    /// with `timeout check` (HAProxy 2.6's rule, measured).
    pub timeout: Duration,
}

/// A command running for a probe.
pub struct Running {
    /// `None` once handed to the [`Reaper`].
    child: Option<Child>,
    started: Instant,
    deadline: Instant,
}

impl ExternalProbe {
    /// The external check of server `srv` of proxy `be`, when the proxy has one.
    pub fn for_server(config: &Config, be: usize, srv: usize, inter: Duration) -> Option<ExternalProbe> {
        let proxy = config.proxies.get(be)?;
        let ec = proxy.external_check.as_ref().filter(|ec| ec.enabled)?;
        let server = proxy.servers.get(srv)?;
        let proxy_addr = proxy.binds.iter().flat_map(|b| b.addrs.first()).next().map(|a| match a {
            BindAddr::Inet(sa) => (sa.ip().to_string(), Some(sa.port().to_string())),
            BindAddr::Unix(path) => (path.display().to_string(), None),
            BindAddr::Abstract(name) => (format!("abns@{name}"), None),
            BindAddr::Fd(fd) => (format!("fd@{fd}"), None),
        });
        let timeout = match (proxy.timeouts.check, proxy.timeouts.connect) {
            (Some(_), Some(connect)) => inter.min(connect),
            _ => inter,
        };
        Some(ExternalProbe {
            command: ec.command.clone()?,
            path: ec.path.clone().unwrap_or_default(),
            proxy_addr,
            proxy_id: crate::stats::proxy_ids(config).get(be).copied().unwrap_or(0),
            proxy_name: proxy.name.clone(),
            server_id: server.id.unwrap_or(srv as u32 + 1),
            server_name: server.name.clone(),
            server_ssl: server.tls.is_some(),
            server_proto: if proxy.mode == Mode::Http { "h1" } else { "tcp" },
            timeout,
        })
    }

    /// The command line and environment for a probe of `server` now.
    pub fn command(&self, server: &Server) -> Command {
        // What is unknown is `NOT_USED` in the arguments and empty in the environment
        // (HAProxy's manual): the address of a backend, the port of a unix socket.
        let not_used = || "NOT_USED".to_string();
        let (px_addr_env, px_port_env) = match &self.proxy_addr {
            Some((addr, port)) => (addr.clone(), port.clone()),
            None => (String::new(), None),
        };
        let px_addr_arg = self.proxy_addr.as_ref().map_or_else(not_used, |(a, _)| a.clone());
        let px_port_arg = px_port_env.clone().unwrap_or_else(not_used);
        let px_port_env = px_port_env.unwrap_or_default();
        // A unix socket server: its path, the port `NOT_USED` (empty in the environment).
        let (srv_addr, srv_port) = match server.addr() {
            ServerAddr::Inet { ip, port } => (ip.to_string(), port.map(|p| p.to_string())),
            // The port is the client's: none for a check.
            ServerAddr::PortOffset { ip, .. } => (ip.to_string(), None),
            ServerAddr::Resolved { addr, .. } => (addr.ip().to_string(), Some(addr.port().to_string())),
            ServerAddr::Unix(path) => (path.display().to_string(), None),
            ServerAddr::Abstract(name) => (format!("abns@{name}"), None),
        };
        let srv_port_arg = srv_port.clone().unwrap_or_else(not_used);
        let srv_port = srv_port.unwrap_or_default();
        let mut cmd = Command::new(&self.command);
        cmd.args([&px_addr_arg, &px_port_arg, &srv_addr, &srv_port_arg])
            .env_clear()
            .env("HAPROXY_PROXY_ADDR", px_addr_env)
            .env("HAPROXY_PROXY_ID", self.proxy_id.to_string())
            .env("HAPROXY_PROXY_NAME", &self.proxy_name)
            .env("HAPROXY_PROXY_PORT", px_port_env)
            .env("HAPROXY_SERVER_ADDR", &srv_addr)
            .env("HAPROXY_SERVER_CURCONN", server.current_conns().to_string())
            .env("HAPROXY_SERVER_ID", self.server_id.to_string())
            .env("HAPROXY_SERVER_MAXCONN", server.maxconn().to_string())
            .env("HAPROXY_SERVER_NAME", &self.server_name)
            .env("HAPROXY_SERVER_PORT", &srv_port)
            .env("HAPROXY_SERVER_PROTO", self.server_proto)
            .env("HAPROXY_SERVER_SSL", if self.server_ssl { "1" } else { "0" })
            .env("PATH", &self.path)
            .stdin(Stdio::null());
        cmd
    }

    /// Starts a probe of `server`. An error (the command cannot be run) is the
    /// check's failure at once.
    pub fn start(&self, server: &Server, now: Instant) -> Result<Running, CheckResult> {
        match self.command(server).spawn() {
            Ok(child) => Ok(Running { child: Some(child), started: now, deadline: now + self.timeout }),
            Err(e) => {
                // HAProxy's child reports the failed exec and exits with -1 (255).
                crate::diag::emit(crate::diag::Severity::Alert, format_args!("Failed to exec process for external health check: {}. Aborting.", crate::listener::strerror(&e)));
                Err(CheckResult::External { outcome: ExternalOutcome::Error, code: 255, duration: Duration::ZERO })
            }
        }
    }
}

impl Running {
    /// Looks at the command without waiting: its result once it has exited or its
    /// deadline passed (it is then sent `SIGTERM` and handed to `reaper`), `None` while
    /// it runs. `next`: when to look again.
    pub fn poll(&mut self, now: Instant, reaper: &mut Reaper) -> Poll {
        let duration = now.saturating_duration_since(self.started);
        let Some(child) = &mut self.child else {
            return Poll::Done(CheckResult::External { outcome: ExternalOutcome::Timeout, code: 0, duration });
        };
        match child.try_wait() {
            Ok(Some(status)) => {
                let (outcome, code) = match status.code() {
                    Some(0) => (ExternalOutcome::Passed, 0),
                    Some(code) => (ExternalOutcome::Error, code),
                    // Killed by a signal that is not ours.
                    None => (ExternalOutcome::Error, -1),
                };
                Poll::Done(CheckResult::External { outcome, code, duration })
            }
            Ok(None) if now >= self.deadline => {
                let pid = child.id();
                crate::diag::emit(crate::diag::Severity::Warning, format_args!("kill {pid}"));
                crate::sys::process::kill(pid as i32, libc::SIGTERM);
                reaper.adopt(self.child.take());
                Poll::Done(CheckResult::External { outcome: ExternalOutcome::Timeout, code: 0, duration })
            }
            Ok(None) => Poll::Again(self.deadline.min(now + POLL)),
            Err(_) => Poll::Done(CheckResult::External { outcome: ExternalOutcome::Error, code: -1, duration }),
        }
    }
}

/// What [`Running::poll`] found.
pub enum Poll {
    Done(CheckResult),
    /// Still running: look again at this instant.
    Again(Instant),
}

/// Commands killed on timeout, waited for without blocking until they are gone (so no
/// zombie is left behind).
#[derive(Default)]
pub struct Reaper {
    children: Vec<Child>,
}

impl Reaper {
    fn adopt(&mut self, child: Option<Child>) {
        self.children.extend(child);
    }

    /// Forgets the children that have exited.
    pub fn reap(&mut self) {
        self.children.retain_mut(|c| matches!(c.try_wait(), Ok(None)));
    }
}
