//! One CLI connection: request lines in, answers out, never blocking the reactor.
//!
//! The loop of [`Session::on_event`]: write what is pending; while an answer is not
//! fully written, run and read nothing more (a slow reader holds one answer and its
//! own input only); then run the next command of the line, or split the next complete
//! line into commands; then read. Without `prompt` the session closes once the
//! lines it has received are answered (a client writes a line, half-closes and reads to
//! the end, as `socat` does); with `prompt` it stays until `quit`, the client's end of
//! input, or `stats timeout` without any progress.

use super::commands::{self, Outcome};
use super::events::Follow;
use super::{parse, Host, SessionState, Shared, StreamLine};
use crate::config::model::{CliLevel, SeverityOutput};
use crate::reactor::Key;
use crate::stream::conn::Sock;
use mio::{Interest, Registry, Token};
use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// A request line longer than this closes the session (HAProxy's limit is its buffer
/// size).
const MAX_LINE: usize = 64 * 1024;

pub struct Session {
    sock: Sock,
    id: u64,
    listener: Key,
    /// The listener's number, for `show sess` (`unix:<n>`).
    luid: usize,
    peer: Option<SocketAddr>,
    state: SessionState,
    input: Vec<u8>,
    /// The commands of the current line not run yet: one runs only once the previous
    /// answer is written, so a session holds one answer at a time.
    pending: VecDeque<(Vec<String>, Option<String>)>,
    /// Payload mode: a line ended with `<<`; its commands (the line without the
    /// marker) wait for the lines that follow, up to an empty one.
    payload: Option<(Vec<u8>, String)>,
    output: Vec<u8>,
    /// How much of `output` is written.
    sent: usize,
    /// At least one line was answered.
    answered: bool,
    /// Close once the output is written (`quit`).
    closing: bool,
    /// The client will send nothing more.
    read_closed: bool,
    accepted: Instant,
    deadline: Instant,
    /// The `core.register_cli` command running for this session (a Lua task): the
    /// session is parked until it ends.
    lua: Option<Key>,
    /// `show events <ring> -w`: the ring's new lines are sent as they come, until the
    /// client sends anything; the session's timer polls the ring.
    follow: Option<Box<Follow>>,
}

/// How often a session following a ring looks for new lines.
pub const FOLLOW_POLL: Duration = Duration::from_millis(100);

impl Session {
    #[allow(clippy::too_many_arguments)]
    pub fn new(sock: Sock, id: u64, listener: Key, luid: usize, peer: Option<SocketAddr>, level: CliLevel, now: Instant, timeout: Duration) -> Session {
        Session {
            sock,
            id,
            listener,
            luid,
            peer,
            state: SessionState { level, prompt: false, expert: false, experimental: false, timeout, expose_fd: false, severity_output: Default::default() },
            input: Vec::new(),
            pending: VecDeque::new(),
            payload: None,
            output: Vec::new(),
            sent: 0,
            answered: false,
            closing: false,
            read_closed: false,
            accepted: now,
            deadline: now + timeout,
            lua: None,
            follow: None,
        }
    }

    pub fn register(&mut self, registry: &Registry, token: Token) -> io::Result<()> {
        let interest = Interest::READABLE | Interest::WRITABLE;
        match &mut self.sock {
            Sock::Tcp(s) => registry.register(s, token, interest),
            Sock::Unix(s) => registry.register(s, token, interest),
        }
    }

    pub fn deregister(&mut self, registry: &Registry) {
        let _ = match &mut self.sock {
            Sock::Tcp(s) => registry.deregister(s),
            Sock::Unix(s) => registry.deregister(s),
        };
    }

    /// The socket's `severity-output`.
    pub fn set_severity_output(&mut self, how: crate::config::model::SeverityOutput) {
        self.state.severity_output = how;
    }

    /// The session's socket has `expose-fd listeners`.
    pub fn set_expose_fd(&mut self, on: bool) {
        self.state.expose_fd = on;
    }

    pub fn listener(&self) -> Key {
        self.listener
    }

    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// When the ring this session follows is polled next (`None`: not following, or
    /// the poll timer not armed yet).
    pub fn follow_poll_at(&self) -> Option<Instant> {
        self.follow.as_ref().and_then(|f| f.poll_at)
    }

    /// `show events <ring> -w` is running.
    pub fn following(&self) -> bool {
        self.follow.is_some()
    }

    /// The session has just started following a ring: its poll timer must be armed.
    pub fn follow_starting(&self) -> bool {
        self.follow.as_ref().is_some_and(|f| f.poll_at.is_none())
    }

    /// Records the next poll (the caller arms the timer); returns `at`.
    pub fn set_follow_poll(&mut self, at: Instant) -> Instant {
        if let Some(f) = &mut self.follow {
            f.poll_at = Some(at);
        }
        at
    }

    /// The Lua command running for this session, if any.
    pub fn lua_task(&self) -> Option<Key> {
        self.lua
    }

    /// The idle timer fired: `None` closes the session, else the timer to arm next
    /// (one timer per session, moved forward lazily).
    pub fn on_timer(&self, now: Instant) -> Option<Instant> {
        // A running Lua command is not idleness of the client.
        (now < self.deadline || self.lua.is_some()).then_some(self.deadline.max(now + self.state.timeout))
    }

    pub fn line(&self, now: Instant) -> StreamLine {
        use std::os::fd::AsRawFd;
        let fd = match &self.sock {
            Sock::Tcp(s) => s.as_raw_fd(),
            Sock::Unix(s) => s.as_raw_fd(),
        };
        StreamLine {
            id: self.id,
            src: self.peer,
            listener: self.luid,
            frontend: None,
            backend: None,
            server: None,
            age: now.saturating_duration_since(self.accepted),
            fds: (fd, None),
        }
    }

    /// Handles readiness (or a wake-up); `false`: the session is over. `key`: the
    /// session's own, for the Lua command it may start.
    pub fn on_event(&mut self, now: Instant, key: Key, host: &mut dyn Host, shared: &mut Shared) -> bool {
        loop {
            if self.flush(now).is_err() {
                return false; // the reader is gone: drop the rest
            }
            if self.sent < self.output.len() {
                return true; // wait until writable
            }
            self.output.clear();
            self.sent = 0;
            if self.closing {
                return false;
            }
            if self.follow.is_some() {
                // "Any key to stop": input (or the client's end of it) ends the wait.
                match self.fill(now) {
                    Err(_) => return false,
                    Ok(_) if self.read_closed || !self.input.is_empty() => {
                        self.follow = None;
                        self.input.clear();
                        self.deadline = now + self.state.timeout;
                        self.end_answer();
                    }
                    Ok(_) => {
                        let Some(f) = &mut self.follow else { continue };
                        f.next = f.ring.read_from(f.next, &mut self.output);
                        if self.output.is_empty() {
                            return true; // until the next poll
                        }
                    }
                }
                continue;
            }
            if let Some(task) = self.lua {
                let (out, ended) = host.lua_cli_poll(task);
                self.output.extend_from_slice(&out);
                if let Some(unread) = ended {
                    self.lua = None;
                    self.input = unread;
                    self.end_answer();
                } else if out.is_empty() {
                    return true; // parked until the command sends or ends
                }
                continue;
            }
            if let Some((words, payload)) = self.pending.pop_front() {
                self.run(&words, payload.as_deref(), key, host, shared);
                continue;
            }
            if let Some(line) = self.next_line() {
                self.answered = true;
                self.take_line(line);
                continue;
            }
            if self.read_closed || (self.answered && !self.state.prompt && self.payload.is_none()) {
                return false; // an unfinished payload is dropped with the session
            }
            match self.fill(now) {
                Ok(true) => continue,
                Ok(false) => return true, // wait until readable
                Err(_) => return false,
            }
        }
    }

    /// The next complete line, without its `\n`.
    fn next_line(&mut self) -> Option<Vec<u8>> {
        let end = self.input.iter().position(|b| *b == b'\n')?;
        let mut line: Vec<u8> = self.input.drain(..=end).collect();
        line.pop();
        Some(line)
    }

    /// A complete request line: commands to run, or the start, a line or the end of a
    /// payload.
    fn take_line(&mut self, line: Vec<u8>) {
        if let Some((_, body)) = &mut self.payload {
            if !line.is_empty() && line != b"\r" {
                body.push_str(&String::from_utf8_lossy(&line));
                body.push('\n');
                self.continuation_prompt();
                return;
            }
            let (command, body) = self.payload.take().unwrap_or_default();
            let mut commands: Vec<_> = parse::split_line(&command).into_iter().map(|c| (c, None)).collect();
            if let Some(last) = commands.last_mut() {
                last.1 = Some(body); // the payload belongs to the line's last command
            }
            self.pending.extend(commands);
            return;
        }
        match payload_start(&line) {
            Some(command) => {
                self.payload = Some((command.to_vec(), String::new()));
                self.continuation_prompt();
            }
            None => self.pending.extend(parse::split_line(&line).into_iter().map(|c| (c, None))),
        }
    }

    /// In interactive mode, `+ ` asks for the next payload line.
    fn continuation_prompt(&mut self) {
        if self.state.prompt {
            self.output.extend_from_slice(b"+ ");
        }
    }

    /// The empty line that ends every answer, and the prompt.
    fn end_answer(&mut self) {
        self.output.push(b'\n');
        if self.state.prompt {
            self.output.extend_from_slice(b"> ");
        }
    }

    fn run(&mut self, words: &[String], payload: Option<&str>, key: Key, host: &mut dyn Host, shared: &mut Shared) {
        if words.len() == 1 && words[0] == "_getsocks" {
            return self.getsocks(host, shared);
        }
        let mut exec = super::Exec { host: &mut *host, state: &mut self.state, shared: &mut *shared, payload, follow: None, bare: false, severity: None };
        let outcome = commands::execute(&mut exec, words);
        let (follow, bare, severity) = (exec.follow.take(), exec.bare, exec.severity);
        match outcome {
            Outcome::Reply(text) => {
                // A message's severity first, as HAProxy's `severity-output` has it.
                match (self.state.severity_output, severity) {
                    (SeverityOutput::Number, Some(level)) => self.output.extend_from_slice(format!("[{level}]: ").as_bytes()),
                    (SeverityOutput::String, Some(level)) => self.output.extend_from_slice(format!("[{}]: ", severity_name(level)).as_bytes()),
                    _ => {}
                }
                self.output.extend_from_slice(text.as_bytes());
                match follow {
                    // The answer ends when the client stops the wait.
                    Some(f) => self.follow = Some(Box::new(f)),
                    None if bare => {
                        if self.state.prompt {
                            self.output.extend_from_slice(b"> ");
                        }
                    }
                    None => self.end_answer(),
                }
            }
            Outcome::Lua(index) => {
                // The command reads what the client sent after its line (`getline`,
                // `receive`), and gives back what it left; input that comes while it
                // runs waits for its end.
                let input = std::mem::take(&mut self.input);
                match host.lua_cli_start(key, index, words, input) {
                    Ok(task) => self.lua = Some(task),
                    Err(e) => {
                        ::log::warn!("Lua CLI command failed to start: {e}");
                        self.end_answer();
                    }
                }
            }
            Outcome::Quit => self.end_after_this(),
        }
    }

    /// Nothing more is read nor answered: the session closes once its output is out.
    fn end_after_this(&mut self) {
        self.closing = true;
        self.pending.clear();
        self.input.clear();
    }

    /// `_getsocks` (a seamless reload's new process asking, see `crate::sys::scm`):
    /// every listening socket of the process — the frontends' and the CLI's own, in
    /// descriptor order as HAProxy sends them — goes over this connection, which then
    /// closes. On a socket without `expose-fd listeners` the connection closes without a
    /// word, as HAProxy 2.6 does (at any level; `expose-fd` is the grant).
    ///
    /// The exchange blocks the reactor for its duration (a few `sendmsg`s, each batch
    /// of 253 waiting for the peer's acknowledgement, at most one second each), as it
    /// does in HAProxy: the peer is a process starting up, reading as fast as it can.
    fn getsocks(&mut self, host: &mut dyn Host, shared: &mut Shared) {
        self.end_after_this();
        if !self.state.expose_fd {
            return;
        }
        let Sock::Unix(stream) = &self.sock else {
            ::log::warn!("_getsocks: descriptors only pass over a unix socket");
            return;
        };
        let mut fds: Vec<i32> = host.listeners().iter().map(|l| l.fd).chain(shared.socket_fds.iter().map(|(fd, _)| *fd)).collect();
        fds.sort_unstable();
        fds.dedup();
        if fds.is_empty() {
            crate::warning!("_getsocks: attempt to get sockets but they were already sent and closed in this process!");
            return;
        }
        let sock = socket2::SockRef::from(stream);
        let blocking = sock.set_nonblocking(false).and_then(|()| sock.set_write_timeout(Some(Duration::from_secs(1)))).and_then(|()| sock.set_read_timeout(Some(Duration::from_secs(1))));
        let sent = blocking.and_then(|()| {
            use std::os::fd::AsFd;
            crate::sys::scm::send_listeners(stream.as_fd(), &fds)
        });
        if let Err(e) = sent {
            crate::warning!("Failed to transfer sockets ({e})");
        }
        let _ = sock.set_nonblocking(true);
    }

}

/// A line ending with the payload marker `<<` (alone or after a blank, nothing after
/// it but a CR): the line without it.
fn payload_start(line: &[u8]) -> Option<&[u8]> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let rest = line.strip_suffix(b"<<")?;
    (rest.is_empty() || matches!(rest.last(), Some(b' ' | b'\t'))).then_some(rest)
}

impl Session {
    /// Reads what the socket has; `Ok(true)` when something arrived (or the input
    /// ended), `Ok(false)` when nothing is there yet.
    fn fill(&mut self, now: Instant) -> io::Result<bool> {
        let mut buf = [0u8; 4096];
        let mut progress = false;
        loop {
            let r = match &mut self.sock {
                Sock::Tcp(s) => s.read(&mut buf),
                Sock::Unix(s) => s.read(&mut buf),
            };
            match r {
                Ok(0) => {
                    self.read_closed = true;
                    return Ok(true);
                }
                Ok(n) => {
                    self.input.extend_from_slice(&buf[..n]);
                    self.deadline = now + self.state.timeout;
                    progress = true;
                    if self.input.len() > MAX_LINE && !self.input.contains(&b'\n') {
                        return Err(io::Error::new(io::ErrorKind::InvalidData, "request line too long"));
                    }
                    if self.input.contains(&b'\n') {
                        return Ok(true);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(progress),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Writes pending output until done or the socket is full.
    fn flush(&mut self, now: Instant) -> io::Result<()> {
        while self.sent < self.output.len() {
            let pending = &self.output[self.sent..];
            let r = match &mut self.sock {
                Sock::Tcp(s) => s.write(pending),
                Sock::Unix(s) => s.write(pending),
            };
            match r {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    self.sent += n;
                    self.deadline = now + self.state.timeout;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

/// A syslog severity's name as `severity-output string` writes it.
fn severity_name(level: u8) -> &'static str {
    ["emerg", "alert", "crit", "err", "warning", "notice", "info", "debug"].get(usize::from(level)).copied().unwrap_or("debug")
}

#[cfg(test)]
mod tests {
    use super::payload_start;

    #[test]
    fn the_payload_marker_ends_the_line() {
        assert_eq!(payload_start(b"add map m <<"), Some(&b"add map m "[..]));
        assert_eq!(payload_start(b"add map m <<\r"), Some(&b"add map m "[..]));
        assert_eq!(payload_start(b"<<"), Some(&b""[..]));
        assert_eq!(payload_start(b"add map m <<x"), None);
        assert_eq!(payload_start(b"add map m<<"), None);
        assert_eq!(payload_start(b"add map m <<  "), None);
    }
}
