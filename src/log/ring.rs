//! Rings: bounded in-memory buffers of log lines (`ring` sections, `log ring@<name>`,
//! and the ring behind each `log tcp@<addr>` line), dumped by the CLI's `show events`
//! and forwarded to their `server`s over TCP.
//!
//! # Semantics (HAProxy 2.6's)
//!
//! - A line is framed with the ring's `format` (default `raw`) and cut to its `maxlen`;
//!   it is stored without a newline.
//! - Each line costs its length plus a small header against `size` (HAProxy stores a
//!   varint length and a reader count before each message). When a new line does not
//!   fit, the oldest lines make room, unless a connected server has not sent them yet:
//!   then the new line is dropped and counted (`show events` prints the count), so a
//!   slow server loses the newest lines, never a gap in the middle.
//! - Each server gets every line from the moment it connects, in order: `legacy`
//!   framing ends each line with `\n`, `octet-count` (RFC 6587) prefixes its length
//!   and a space. After a disconnection it resumes where it stopped if those lines are
//!   still in the ring, else at the oldest one.
//!
//! # Threads
//!
//! The rings are process-wide (every reactor thread logs into the same ones) behind a
//! mutex held only to copy a line in or out. Each ring server has its own forwarding
//! thread doing blocking I/O with the ring's timeouts, as the stdout writer does
//! (`super::stdio`): the reactors only append to the buffer and signal a condition
//! variable, they never wait on a syslog server.

use crate::config::model::{self, LogWireFormat, RingServer};
use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

/// A forwarder waits this long before connecting again after a failure.
const RECONNECT_DELAY: Duration = Duration::from_secs(1);

/// How often an idle forwarder checks that its server is still there.
const IDLE_CHECK: Duration = Duration::from_secs(1);

/// Size of HAProxy's built-in `buf0` ring (its trace buffer; nothing writes to it
/// unless a `log ring@buf0` line does).
const BUF0_SIZE: usize = 1 << 20;

/// One ring.
pub struct Ring {
    name: String,
    description: String,
    format: LogWireFormat,
    maxlen: usize,
    size: usize,
    timeout_connect: Option<Duration>,
    timeout_server: Option<Duration>,
    servers: Vec<RingServer>,
    buf: Mutex<Buf>,
    /// Signalled when a line is added or a server moves its cursor.
    changed: Condvar,
    dropped: AtomicU64,
}

/// The stored lines and the servers' positions in them.
#[derive(Default)]
struct Buf {
    lines: VecDeque<Box<[u8]>>,
    /// Bytes accounted against the ring's `size`.
    used: usize,
    /// Sequence number of `lines[0]` (every line ever stored has the next number).
    first: u64,
    /// For each server, the sequence number of the next line it sends while it is
    /// connected (`None` otherwise): lines from there on are not evicted.
    held: Vec<Option<u64>>,
}

impl Buf {
    fn end(&self) -> u64 {
        self.first + self.lines.len() as u64
    }
}

/// The bytes a line takes in HAProxy's ring: the line, its varint length, one byte of
/// reader count.
fn cost(len: usize) -> usize {
    let mut varint = 1;
    let mut n = len >> 7;
    while n > 0 {
        varint += 1;
        n >>= 7;
    }
    len + varint + 1
}

impl Ring {
    pub fn new(conf: &model::Ring) -> Ring {
        Ring {
            name: conf.name.clone(),
            description: conf.description.clone().unwrap_or_else(|| conf.name.clone()),
            format: conf.format,
            maxlen: conf.maxlen,
            size: conf.size,
            timeout_connect: conf.timeout_connect,
            timeout_server: conf.timeout_server,
            servers: conf.servers.clone(),
            buf: Mutex::new(Buf { held: vec![None; conf.servers.len()], ..Buf::default() }),
            changed: Condvar::new(),
            dropped: AtomicU64::new(0),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn description(&self) -> &str {
        &self.description
    }

    /// How lines are framed in this ring.
    pub fn format(&self) -> LogWireFormat {
        self.format
    }

    /// Longest line kept (longer ones are cut).
    pub fn maxlen(&self) -> usize {
        self.maxlen
    }

    /// Lines refused because the oldest ones were not sent to a server yet.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    fn lock(&self) -> MutexGuard<'_, Buf> {
        // A poisoned lock only means a forwarder panicked mid-copy; the lines are whole.
        self.buf.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Stores one line (no newline; cut to `maxlen`). `false`: dropped.
    pub fn push(&self, line: &[u8]) -> bool {
        let line = &line[..line.len().min(self.maxlen)];
        let need = cost(line.len());
        if need > self.size {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return false;
        }
        let mut buf = self.lock();
        let oldest_held = buf.held.iter().flatten().min().copied();
        while buf.used + need > self.size {
            if oldest_held.is_some_and(|h| h <= buf.first) {
                drop(buf);
                self.dropped.fetch_add(1, Ordering::Relaxed);
                return false;
            }
            let Some(old) = buf.lines.pop_front() else { break };
            buf.used -= cost(old.len());
            buf.first += 1;
        }
        buf.used += need;
        buf.lines.push_back(line.into());
        drop(buf);
        self.changed.notify_all();
        true
    }

    /// The sequence number the next line will get: a reader starting here sees only
    /// new lines (`show events -n`).
    pub fn end(&self) -> u64 {
        self.lock().end()
    }

    /// Appends the lines from sequence number `from` on (or from the oldest one kept,
    /// if `from` was evicted), each followed by `\n`, to `out`; returns the number to
    /// read from next.
    pub fn read_from(&self, from: u64, out: &mut Vec<u8>) -> u64 {
        let buf = self.lock();
        let start = from.max(buf.first);
        for line in buf.lines.iter().skip((start - buf.first) as usize) {
            out.extend_from_slice(line);
            out.push(b'\n');
        }
        buf.end()
    }

    /// Waits until `timeout` has passed or every connected server has sent every line
    /// stored so far (shutdown and tests; never on a reactor thread).
    pub fn flush(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut buf = self.lock();
        loop {
            let end = buf.end();
            if buf.held.iter().flatten().all(|&h| h >= end) {
                return true;
            }
            let Some(left) = deadline.checked_duration_since(Instant::now()) else { return false };
            buf = self.changed.wait_timeout(buf, left).unwrap_or_else(|e| e.into_inner()).0;
        }
    }

    /// Starts the forwarding thread of each server.
    fn start_forwarders(self: &Arc<Ring>) {
        for i in 0..self.servers.len() {
            let ring = self.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("ring-{}-{}", self.name, self.servers[i].name))
                .spawn(move || ring.forward(i));
            if let Err(e) = spawned {
                crate::warning!("ring '{}': cannot start the thread of server '{}': {e}", self.name, self.servers[i].name);
            }
        }
    }

    /// A server's thread: connect, send every line as it comes, reconnect on failure.
    fn forward(&self, index: usize) {
        let server = &self.servers[index];
        let mut resume: Option<u64> = None;
        loop {
            let connected = match self.timeout_connect {
                Some(t) => TcpStream::connect_timeout(&server.addr, t),
                None => TcpStream::connect(server.addr),
            };
            let sock = match connected {
                Ok(s) => s,
                Err(e) => {
                    ::log::debug!("ring '{}': server '{}' ({}): connect: {e}", self.name, server.name, server.addr);
                    std::thread::sleep(RECONNECT_DELAY);
                    continue;
                }
            };
            let _ = sock.set_nodelay(true);
            let _ = sock.set_write_timeout(self.timeout_server);
            let next = {
                let mut buf = self.lock();
                let next = resume.unwrap_or(buf.first).max(buf.first);
                buf.held[index] = Some(next);
                next
            };
            let (stopped, why) = self.send_lines(index, sock, next);
            resume = Some(stopped);
            self.lock().held[index] = None;
            self.changed.notify_all();
            ::log::debug!("ring '{}': server '{}' ({}): {why}", self.name, server.name, server.addr);
            std::thread::sleep(RECONNECT_DELAY);
        }
    }

    /// Sends lines from `next` on until the connection fails; returns where it stopped.
    fn send_lines(&self, index: usize, mut sock: TcpStream, mut next: u64) -> (u64, io::Error) {
        let octet_count = self.servers[index].octet_count;
        let mut out = Vec::new();
        let mut batch;
        loop {
            {
                let mut buf = self.lock();
                while buf.end() <= next {
                    let (b, waited) = self.changed.wait_timeout(buf, IDLE_CHECK).unwrap_or_else(|e| e.into_inner());
                    buf = b;
                    if waited.timed_out() && buf.end() <= next {
                        drop(buf);
                        if let Err(e) = still_connected(&mut sock) {
                            return (next, e);
                        }
                        buf = self.lock();
                    }
                }
                next = next.max(buf.first);
                batch = buf.end() - next;
                out.clear();
                for line in buf.lines.iter().skip((next - buf.first) as usize) {
                    if octet_count {
                        out.extend_from_slice(format!("{} ", line.len()).as_bytes());
                        out.extend_from_slice(line);
                    } else {
                        out.extend_from_slice(line);
                        out.push(b'\n');
                    }
                }
            }
            // A failed batch is sent again after reconnecting (a line may arrive twice,
            // none is skipped).
            if let Err(e) = sock.write_all(&out) {
                return (next, e);
            }
            next += batch;
            self.lock().held[index] = Some(next);
            self.changed.notify_all();
        }
    }
}

/// Has the server closed the connection (or sent something, which a syslog server
/// never does)? Checked without blocking.
fn still_connected(sock: &mut TcpStream) -> io::Result<()> {
    sock.set_nonblocking(true)?;
    let mut byte = [0u8; 512];
    let r = sock.read(&mut byte);
    sock.set_nonblocking(false)?;
    match r {
        Ok(0) => Err(io::Error::new(io::ErrorKind::ConnectionAborted, "closed by the server")),
        Ok(_) => Ok(()), // ignored
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(()),
        Err(e) => Err(e),
    }
}

/// The rings of the process.
static RINGS: OnceLock<Mutex<Vec<Arc<Ring>>>> = OnceLock::new();

fn registry() -> MutexGuard<'static, Vec<Arc<Ring>>> {
    RINGS.get_or_init(Default::default).lock().unwrap_or_else(|e| e.into_inner())
}

/// Makes the configuration's rings (and HAProxy's built-in `buf0`) the process's,
/// replacing any before. Call once the process is what it will run as (after
/// daemonizing), then [`start_forwarding`].
pub fn install(rings: &[model::Ring]) {
    let buf0 = model::Ring {
        name: "buf0".into(),
        location: model::Location { file: Arc::from(""), line: 0 },
        description: Some("in-memory ring buffer".into()),
        format: LogWireFormat::Raw,
        maxlen: BUF0_SIZE,
        size: BUF0_SIZE,
        timeout_connect: None,
        timeout_server: None,
        servers: Vec::new(),
    };
    let mut all = Vec::with_capacity(rings.len() + 1);
    if !rings.iter().any(|r| r.name == "buf0") {
        all.push(Arc::new(Ring::new(&buf0)));
    }
    all.extend(rings.iter().map(|r| Arc::new(Ring::new(r))));
    *registry() = all;
}

/// Starts the threads that send the rings' lines to their servers.
pub fn start_forwarding() {
    for ring in registry().iter() {
        ring.start_forwarders();
    }
}

/// The ring named `name`.
pub fn find(name: &str) -> Option<Arc<Ring>> {
    registry().iter().find(|r| r.name == name).cloned()
}

/// Every ring, in declaration order (`buf0` first).
pub fn all() -> Vec<Arc<Ring>> {
    registry().clone()
}

/// Waits (at most `timeout` in all) until every ring's servers have every line.
pub fn flush_all(timeout: Duration) {
    let deadline = Instant::now() + timeout;
    for ring in all() {
        ring.flush(deadline.saturating_duration_since(Instant::now()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    fn conf(size: usize, maxlen: usize) -> model::Ring {
        model::Ring {
            name: "r".into(),
            location: model::Location { file: Arc::from("t"), line: 1 },
            description: None,
            format: LogWireFormat::Raw,
            maxlen,
            size,
            timeout_connect: Some(Duration::from_secs(1)),
            timeout_server: Some(Duration::from_secs(1)),
            servers: Vec::new(),
        }
    }

    fn dump(ring: &Ring, from: u64) -> String {
        let mut out = Vec::new();
        ring.read_from(from, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn lines_are_cut_and_the_oldest_make_room() {
        // Each 10-byte line costs 12 bytes: three fit in 40.
        let ring = Ring::new(&conf(40, 10));
        for l in ["line-1....", "line-2....", "line-3....", "line-4....xxxx"] {
            assert!(ring.push(l.as_bytes()));
        }
        assert_eq!(dump(&ring, 0), "line-2....\nline-3....\nline-4....\n");
        assert_eq!(ring.end(), 4);
        assert_eq!(dump(&ring, 3), "line-4....\n");
        assert_eq!(ring.dropped(), 0);
    }

    #[test]
    fn a_line_held_by_a_connected_server_is_not_evicted() {
        let mut c = conf(40, 10);
        c.servers.push(RingServer { name: "s".into(), location: c.location.clone(), addr: "127.0.0.1:1".parse().unwrap(), octet_count: false });
        let ring = Ring::new(&c);
        ring.lock().held[0] = Some(1);
        for l in ["a", "b", "c", "d", "e"] {
            ring.push(l.as_bytes());
        }
        // 3-byte lines: 13 fit in 40; all kept.
        assert_eq!(ring.dropped(), 0);
        let big = "x".repeat(10);
        for _ in 0..4 {
            ring.push(big.as_bytes());
        }
        // 15 + 2 x 12 bytes fit; for the third big line "a" goes, then "b" is held:
        // the third and fourth are dropped.
        assert_eq!(dump(&ring, 0), format!("b\nc\nd\ne\n{big}\n{big}\n"));
        assert_eq!(ring.dropped(), 2);
    }

    #[test]
    fn cost_counts_the_varint_header() {
        assert_eq!(cost(0), 2);
        assert_eq!(cost(127), 129);
        assert_eq!(cost(128), 131);
        assert_eq!(cost(16384), 16388);
    }

    #[test]
    fn a_server_gets_every_line_octet_counted_and_again_after_reconnecting() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut c = conf(16384, 1024);
        c.servers.push(RingServer { name: "s".into(), location: c.location.clone(), addr: listener.local_addr().unwrap(), octet_count: true });
        let ring = Arc::new(Ring::new(&c));
        ring.push(b"before connect");
        ring.start_forwarders();
        let (mut first, _) = listener.accept().unwrap();
        ring.push(b"second");
        assert!(ring.flush(Duration::from_secs(5)));
        first.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut got = [0u8; 64];
        let mut n = 0;
        while !got[..n].ends_with(b"6 second") {
            n += first.read(&mut got[n..]).unwrap();
        }
        assert_eq!(&got[..n], b"14 before connect6 second");
        drop(first);
        // The forwarder notices the close on its idle check, then reconnects and
        // resumes after what it sent.
        let (mut again, _) = listener.accept().unwrap();
        ring.push(b"third");
        assert!(ring.flush(Duration::from_secs(5)));
        again.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut got = [0u8; 16];
        let n = again.read(&mut got).unwrap();
        assert_eq!(&got[..n], b"5 third");
    }
}
