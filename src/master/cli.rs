//! The master CLI (`-S <addr>[,<bind options>]`): HAProxy 2.6's commands of the
//! master (`help`, `prompt`, `quit`, `show proc`, `show version`, `show cli level`,
//! `operator`, `user`, `reload`) and the routing prefixes:
//!
//! - `@<n>`: the worker of relative number `n` (`@1`, the current worker; there is one
//!   worker per master since `nbproc` is gone), `@!<pid>`: a worker by pid (old ones
//!   too), `@`, `@0` or `@master`: the master itself;
//! - a prefix followed by a command routes that line to the worker's internal stats
//!   socket and relays the answer; a prefix alone makes it the session's default
//!   target (the prompt then shows the worker's pid).
//!
//! A session reads lines until the client shuts its side or says `quit`, as HAProxy's
//! master CLI does (it does not close after one command). A routed command is relayed
//! without blocking: its answer is copied as the worker writes it, and the session
//! reads no further line until the worker has closed (end of answer).

use super::procs::Procs;
use crate::config::model::{CliLevel, StatsSocket};
use crate::listener::{Accept, Listener};
use crate::stream::conn::Sock;
use mio::{Interest, Registry, Token};
use std::io::{self, Read, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Tokens: listeners from [`LISTENER_BASE`], sessions from [`SESSION_BASE`] (two per
/// session: the client, then its relay to a worker).
pub const LISTENER_BASE: usize = 1 << 20;
pub const SESSION_BASE: usize = 1 << 21;
/// A line longer than this closes the session (HAProxy's CLI has a buffer limit too).
const MAX_LINE: usize = 64 * 1024;

/// Parses one `-S` argument: an address and comma-separated bind options, read like a
/// `stats socket` line (`-S /run/master.sock,mode,600,level,operator`). The master
/// CLI's default level is `admin`.
pub fn parse_spec(spec: &str) -> Result<StatsSocket, String> {
    let mut words = spec.split(',');
    let addr = words.next().unwrap_or_default();
    let opts: Vec<&str> = words.collect();
    let text = format!("global\n    stats socket {addr} {}\n", opts.join(" "));
    let parsed = crate::config::parse_str("-S", &text, &crate::config::ParseOptions::default()).map_err(|diags| {
        let msgs: Vec<String> = diags.iter().map(|d| d.message.clone()).collect();
        format!("-S '{spec}': {}", msgs.join("; "))
    })?;
    let mut sock = parsed.config.global.stats_sockets.into_iter().next().ok_or_else(|| format!("-S '{spec}': no address"))?;
    if !opts.contains(&"level") {
        sock.level = CliLevel::Admin;
    }
    Ok(sock)
}

/// What a session asks the master to do.
#[derive(Debug, PartialEq, Eq)]
pub enum Request {
    Reload,
}

/// Where a line goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Target {
    Master,
    Worker(i32),
}

/// The master's commands: usage and description, as `help` prints them.
const USAGE: &[(&str, &str)] = &[
    ("@!<pid>", "send a command to the <pid> process"),
    ("@<relative pid>", "send a command to the <relative pid> process"),
    ("@master", "send a command to the master process"),
    ("operator", "lower the level of the current CLI session to operator"),
    ("reload", "reload moonproxy"),
    ("show cli level", "display the level of the current CLI session"),
    ("show proc", "show processes status"),
    ("show version", "show version of the current process"),
    ("user", "lower the level of the current CLI session to user"),
    ("help [<command>]", "list matching or all commands"),
    ("prompt", "toggle interactive mode with prompt"),
    ("quit", "disconnect"),
];

fn usage_lines<'a>(rows: impl Iterator<Item = &'a (&'a str, &'a str)>) -> String {
    rows.map(|(u, d)| format!("  {u:<40}: {d}\n")).collect()
}

struct Relay {
    sock: mio::net::UnixStream,
    /// The command line still to send.
    pending: Vec<u8>,
    /// The line starts with `operator;` or `user;`, whose empty answer (one blank
    /// line) is not the client's.
    skip_blank: bool,
}

struct Session {
    sock: Sock,
    input: Vec<u8>,
    output: Vec<u8>,
    prompt: bool,
    level: CliLevel,
    target: Target,
    relay: Option<Relay>,
    /// The client shut its side: finish what is queued, then close.
    eof: bool,
    /// `quit` or an error: close once the output is written.
    closing: bool,
    /// Closed when nothing moves until then (`stats timeout`, as HAProxy's CLI).
    deadline: Instant,
}

/// The master CLI's sockets and sessions.
pub struct MasterCli {
    listeners: Vec<(Listener, CliLevel)>,
    sessions: slab::Slab<Session>,
    /// A session (or a worker answering it) idle this long is closed.
    timeout: Duration,
}

/// What the commands read: the process list and who the master is.
pub struct View<'a> {
    pub procs: &'a Procs,
    pub master_pid: u32,
}

impl MasterCli {
    /// Opens every `-S` socket (or adopts the fds kept across a reload, in order).
    pub fn open(specs: &[StatsSocket], inherited: &[i32], timeout: Duration) -> Result<MasterCli, String> {
        let mut cli = MasterCli { listeners: Vec::new(), sessions: slab::Slab::new(), timeout };
        let addrs = specs.iter().flat_map(|s| s.bind.addrs.iter().map(move |a| (s, a)));
        for (index, (spec, addr)) in addrs.enumerate() {
            let addr = match inherited.get(index) {
                Some(fd) => crate::config::model::BindAddr::Fd(*fd),
                None => addr.clone(),
            };
            let l = Listener::open(&spec.bind, &addr, usize::MAX, index, None, None)
                .map_err(|e| format!("Binding [{}] for master CLI: {e}", crate::listener::describe(&addr)))?;
            cli.listeners.push((l, spec.level));
        }
        Ok(cli)
    }

    pub fn register(&mut self, registry: &Registry) -> io::Result<()> {
        for (i, (l, _)) in self.listeners.iter_mut().enumerate() {
            l.register_as(registry, Token(LISTENER_BASE + i))?;
        }
        Ok(())
    }

    /// The listening fds, to keep across `execv`.
    pub fn listener_fds(&self) -> Vec<i32> {
        self.listeners.iter().filter_map(|(l, _)| l.raw_fd()).collect()
    }

    /// Every fd the CLI holds (a forked worker closes them).
    pub fn all_fds(&self) -> Vec<i32> {
        use std::os::fd::AsRawFd;
        let mut fds = self.listener_fds();
        for (_, s) in &self.sessions {
            fds.push(match &s.sock {
                Sock::Tcp(t) => t.as_raw_fd(),
                Sock::Unix(u) => u.as_raw_fd(),
            });
            if let Some(r) = &s.relay {
                fds.push(r.sock.as_raw_fd());
            }
        }
        fds
    }

    /// Handles readiness of one of our tokens; returns what the master must do.
    pub fn ready(&mut self, registry: &Registry, token: Token, view: &View<'_>) -> Option<Request> {
        let t = token.0;
        if (LISTENER_BASE..SESSION_BASE).contains(&t) {
            self.accept(registry, t - LISTENER_BASE);
            return None;
        }
        let key = (t - SESSION_BASE) / 2;
        let session = self.sessions.get_mut(key)?;
        session.deadline = Instant::now() + self.timeout;
        let (request, close) = session.pump(registry, key, view);
        if close {
            let mut s = self.sessions.remove(key);
            s.deregister(registry);
        }
        request
    }

    /// The earliest session deadline, for the master's poll timeout.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.sessions.iter().map(|(_, s)| s.deadline).min()
    }

    /// Closes the sessions idle past their deadline.
    pub fn expire(&mut self, registry: &Registry, now: Instant) {
        let expired: Vec<usize> = self.sessions.iter().filter(|(_, s)| s.deadline <= now).map(|(k, _)| k).collect();
        for key in expired {
            self.sessions.remove(key).deregister(registry);
        }
    }

    fn accept(&mut self, registry: &Registry, index: usize) {
        let Some((listener, level)) = self.listeners.get_mut(index) else { return };
        loop {
            match listener.accept() {
                Accept::Conn { sock, .. } => {
                    let entry = self.sessions.vacant_entry();
                    let key = entry.key();
                    let mut s = Session {
                        sock,
                        input: Vec::new(),
                        output: Vec::new(),
                        prompt: false,
                        level: *level,
                        target: Target::Master,
                        relay: None,
                        eof: false,
                        closing: false,
                        deadline: Instant::now() + self.timeout,
                    };
                    let tok = Token(SESSION_BASE + key * 2);
                    let r = match &mut s.sock {
                        Sock::Tcp(t) => registry.register(t, tok, Interest::READABLE | Interest::WRITABLE),
                        Sock::Unix(u) => registry.register(u, tok, Interest::READABLE | Interest::WRITABLE),
                    };
                    if r.is_ok() {
                        entry.insert(s);
                    }
                }
                Accept::WouldBlock => return,
                Accept::Failed(e) => {
                    crate::warning!("master CLI: accept failed: {e}");
                    return;
                }
            }
        }
    }
}

impl Session {
    fn deregister(&mut self, registry: &Registry) {
        let _ = match &mut self.sock {
            Sock::Tcp(t) => registry.deregister(t),
            Sock::Unix(u) => registry.deregister(u),
        };
        if let Some(mut r) = self.relay.take() {
            let _ = registry.deregister(&mut r.sock);
        }
    }

    fn read_client(&mut self) {
        let mut buf = [0u8; 4096];
        loop {
            let r = match &mut self.sock {
                Sock::Tcp(t) => t.read(&mut buf),
                Sock::Unix(u) => u.read(&mut buf),
            };
            match r {
                Ok(0) => {
                    self.eof = true;
                    return;
                }
                Ok(n) => self.input.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(_) => {
                    self.eof = true;
                    self.closing = true;
                    return;
                }
            }
        }
    }

    /// Writes what is queued; `false` when the client is gone.
    fn write_client(&mut self) -> bool {
        while !self.output.is_empty() {
            let r = match &mut self.sock {
                Sock::Tcp(t) => t.write(&self.output),
                Sock::Unix(u) => u.write(&self.output),
            };
            match r {
                Ok(0) => return false,
                Ok(n) => {
                    self.output.drain(..n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return true,
                Err(_) => return false,
            }
        }
        true
    }

    /// Moves the relay along; `true` once the worker has answered in full.
    fn pump_relay(&mut self) -> bool {
        let Some(r) = &mut self.relay else { return false };
        while !r.pending.is_empty() {
            match r.sock.write(&r.pending) {
                Ok(n) => {
                    r.pending.drain(..n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock || e.kind() == io::ErrorKind::NotConnected => return false,
                Err(_) => return true,
            }
        }
        let mut buf = [0u8; 16384];
        loop {
            match r.sock.read(&mut buf) {
                Ok(0) => return true,
                Ok(n) => {
                    let skip = usize::from(std::mem::take(&mut r.skip_blank) && buf[0] == b'\n');
                    self.output.extend_from_slice(&buf[skip..n]);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return false,
                Err(_) => return true,
            }
        }
    }

    /// One round: relay, read, run complete lines, write. Returns a request for the
    /// master and whether the session is over.
    fn pump(&mut self, registry: &Registry, key: usize, view: &View<'_>) -> (Option<Request>, bool) {
        let mut request = None;
        if self.relay.is_some() && self.pump_relay() {
            if let Some(mut r) = self.relay.take() {
                let _ = registry.deregister(&mut r.sock);
            }
            self.push_prompt();
        }
        if !self.eof {
            self.read_client();
        }
        if self.input.len() > MAX_LINE && !self.input.contains(&b'\n') {
            self.closing = true;
        }
        while self.relay.is_none() && !self.closing {
            let line = match self.input.iter().position(|&b| b == b'\n') {
                Some(i) => {
                    let line: Vec<u8> = self.input.drain(..=i).collect();
                    String::from_utf8_lossy(&line[..i]).into_owned()
                }
                // The last line of a client that shut its side needs no newline.
                None if self.eof && !self.input.is_empty() => String::from_utf8_lossy(&std::mem::take(&mut self.input)).into_owned(),
                None => break,
            };
            if let Some(r) = self.line(&line, registry, key, view) {
                request = Some(r);
                // The master re-executes itself: nothing more is read here.
                self.closing = true;
            }
        }
        let alive = self.write_client();
        let done = !alive || ((self.closing || (self.eof && self.input.is_empty())) && self.relay.is_none() && self.output.is_empty());
        (request, done)
    }

    fn push_prompt(&mut self) {
        if self.prompt {
            let who = match self.target {
                Target::Master => "master".to_string(),
                Target::Worker(pid) => pid.to_string(),
            };
            self.output.extend_from_slice(format!("{who}> ").as_bytes());
        }
    }

    /// Runs one line: a prefix, master commands, or a routed command.
    fn line(&mut self, line: &str, registry: &Registry, key: usize, view: &View<'_>) -> Option<Request> {
        let trimmed = line.trim_start_matches([' ', '\t']).trim_end_matches(['\r', ' ', '\t']);
        let mut target = self.target;
        let mut rest = trimmed;
        if let Some(prefixed) = trimmed.strip_prefix('@') {
            let end = prefixed.find([' ', '\t']).unwrap_or(prefixed.len());
            let word = &prefixed[..end];
            target = match resolve(word, view.procs) {
                Some(t) => t,
                None => {
                    self.output.extend_from_slice(format!("Can't find the target PID matching the prefix '@{word}'\n").as_bytes());
                    self.closing = true;
                    return None;
                }
            };
            rest = prefixed[end..].trim_start_matches([' ', '\t']);
            if rest.is_empty() {
                self.target = target;
                self.push_prompt();
                return None;
            }
        }
        match target {
            Target::Worker(pid) => {
                self.route(pid, rest, registry, key, view);
                None
            }
            Target::Master => {
                let mut request = None;
                for cmd in rest.split(';') {
                    let words: Vec<&str> = cmd.split_whitespace().collect();
                    if words.is_empty() && rest.contains(';') {
                        continue;
                    }
                    let (answer, r) = self.master_command(&words, view);
                    self.output.extend_from_slice(answer.as_bytes());
                    request = request.or(r);
                    if self.closing {
                        return request;
                    }
                }
                self.push_prompt();
                request
            }
        }
    }

    fn master_command(&mut self, words: &[&str], view: &View<'_>) -> (String, Option<Request>) {
        let answer = match words {
            [] => String::new(),
            ["quit"] => {
                self.closing = true;
                return (String::new(), None);
            }
            ["prompt"] => {
                self.prompt = !self.prompt;
                String::new()
            }
            ["help", filter @ ..] => {
                let rows: Vec<&(&str, &str)> = USAGE.iter().filter(|(u, _)| filter.is_empty() || u.starts_with(filter[0])).collect();
                format!("The following commands are valid at this level:\n{}\n", usage_lines(rows.into_iter()))
            }
            ["show", "proc"] => view.procs.show_proc(view.master_pid, crate::version::VERSION),
            ["show", "version"] => format!("{}\n\n", crate::version::VERSION),
            ["show", "cli", "level"] => format!("{}\n\n", self.level.name()),
            ["operator"] if self.level < CliLevel::Operator => "Permission denied\n\n".into(),
            ["operator"] => {
                self.level = CliLevel::Operator;
                String::new()
            }
            ["user"] => {
                self.level = CliLevel::User;
                String::new()
            }
            ["reload"] if self.level < CliLevel::Admin => "Permission denied\n\n".into(),
            ["reload"] => return (String::new(), Some(Request::Reload)),
            _ => {
                let first = words[0];
                let matching: Vec<&(&str, &str)> = USAGE.iter().filter(|(u, _)| u.split(' ').next() == Some(first)).collect();
                let rows = matching.into_iter().chain(USAGE.iter().skip(USAGE.len() - 3));
                format!("Unknown command, but maybe one of the following ones is a better match:\n{}\n", usage_lines(rows))
            }
        };
        (answer, None)
    }

    /// Sends `command` to worker `pid`'s stats socket; the answer is relayed as it comes.
    fn route(&mut self, pid: i32, command: &str, registry: &Registry, key: usize, view: &View<'_>) {
        let path: PathBuf = Procs::socket_of(&view.procs.dir, pid);
        let mut line = match self.level {
            CliLevel::Admin => String::new(),
            CliLevel::Operator => "operator;".into(),
            CliLevel::User => "user;".into(),
        };
        line.push_str(command);
        line.push('\n');
        match mio::net::UnixStream::connect(&path) {
            Ok(mut sock) => {
                if registry.register(&mut sock, Token(SESSION_BASE + key * 2 + 1), Interest::READABLE | Interest::WRITABLE).is_ok() {
                    let skip_blank = self.level != CliLevel::Admin;
                    self.relay = Some(Relay { sock, pending: line.into_bytes(), skip_blank });
                    return;
                }
                self.output.extend_from_slice(b"Can't connect to the target CLI!\n");
            }
            Err(_) => self.output.extend_from_slice(b"Can't connect to the target CLI!\n"),
        }
        self.push_prompt();
    }
}

/// The target of a prefix word (without its `@`), if it names a live process.
fn resolve(word: &str, procs: &Procs) -> Option<Target> {
    match word {
        "" | "0" | "master" => Some(Target::Master),
        _ => {
            if let Some(pid) = word.strip_prefix('!') {
                let pid: i32 = pid.parse().ok()?;
                return procs.worker(pid).map(|w| Target::Worker(w.pid));
            }
            match word.parse::<u32>().ok()? {
                1 => procs.current().map(|w| Target::Worker(w.pid)),
                _ => None,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::master::procs::{Role, Worker};

    #[test]
    fn prefixes_resolve_to_live_processes() {
        let mut p = Procs::new(PathBuf::from("/tmp/x"));
        p.workers.push(Worker { pid: 20, started: 0, reloads: 0, role: Role::Current, ready: None });
        p.workers.push(Worker { pid: 10, started: 0, reloads: 1, role: Role::Old, ready: None });
        assert_eq!(resolve("master", &p), Some(Target::Master));
        assert_eq!(resolve("", &p), Some(Target::Master));
        assert_eq!(resolve("1", &p), Some(Target::Worker(20)));
        assert_eq!(resolve("!10", &p), Some(Target::Worker(10)));
        assert_eq!(resolve("!11", &p), None);
        assert_eq!(resolve("2", &p), None);
    }

    #[test]
    fn spec_reads_bind_options_and_defaults_to_admin() {
        let s = parse_spec("/tmp/m.sock,mode,600").unwrap();
        assert_eq!(s.level, CliLevel::Admin);
        assert_eq!(s.bind.mode, Some(0o600));
        assert_eq!(parse_spec("127.0.0.1:0,level,operator").unwrap().level, CliLevel::Operator);
        assert!(parse_spec("/tmp/m.sock,bogus,1").is_err());
    }
}
