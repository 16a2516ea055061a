//! `log-forward` sections: a syslog relay on the reactor.
//!
//! Messages arrive on UDP sockets (`dgram-bind`, one message per datagram) and on TCP
//! connections (`bind`, RFC 6587 framing: [`framing`]); each is parsed ([`syslog::parse`])
//! and sent to the section's `log` targets, each target writing it in its own `format`
//! ([`syslog::Encoder`]) after its level filter, minimum level and sampling
//! ([`crate::log::Logger::relay`]). Sending never blocks (the targets are the ones of
//! proxies: non-blocking sockets, rings, writer threads).
//!
//! Shape, as the CLI's (`crate::cli_socket`): one [`Forwarder`] per process (thread 1)
//! owns every socket of every section in one generation-tagged table whose keys are
//! [`Kind::LogFwd`] tokens. The world routes their events, timers and wake-ups here.
//! A read loop handles at most [`BATCH`] messages or connections per event and queues
//! the entry in the run queue for the rest, so a busy sender never holds the reactor.
//!
//! Malformed input (TCP framing that is neither an octet count nor a `<`, a zero or
//! oversized length, a line longer than the buffer) closes that connection only; it is
//! counted ([`Forwarder::malformed`]) and logged once per connection with the peer's
//! address. A UDP datagram is always a message (text without a header is forwarded as
//! HAProxy does); only empty datagrams are dropped.

pub mod framing;
pub mod syslog;

use crate::config::model::{Bind, BindAddr, LogForward};
use crate::listener::{Accept, Listener};
use crate::log::{LogIdentity, Logger};
use crate::reactor::{token, Ctx, GenSlab, Key, Kind, Ready, TimerTarget};
use crate::stream::channel::Buffer;
use crate::stream::conn::{Conn, ReadEnd};
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

/// Datagrams, messages or connections handled per event before yielding the reactor.
pub const BATCH: usize = 64;

/// Messages received by every `log-forward` listener of the process (`show info`'s
/// `CumRecvLogs`).
static RECEIVED: AtomicU64 = AtomicU64::new(0);

/// Messages received by the `log-forward` listeners since start (`CumRecvLogs`).
pub fn received_total() -> u64 {
    RECEIVED.load(Ordering::Relaxed)
}

/// The largest datagram read (UDP's limit).
const MAX_DATAGRAM: usize = 65_535;

/// One `log-forward` section at run time.
struct Section {
    name: String,
    logger: Logger,
    maxconn: u32,
    timeout: Option<Duration>,
    conns: u32,
}

/// A datagram socket: UDP, or a unix datagram socket (a local `/dev/log`-like path).
enum DgramSock {
    Udp(mio::net::UdpSocket),
    Unix(mio::net::UnixDatagram),
}

impl DgramSock {
    fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            DgramSock::Udp(s) => s.recv_from(buf).map(|(n, _)| n),
            DgramSock::Unix(s) => s.recv_from(buf).map(|(n, _)| n),
        }
    }

    fn source(&mut self) -> &mut dyn mio::event::Source {
        match self {
            DgramSock::Udp(s) => s,
            DgramSock::Unix(s) => s,
        }
    }
}

struct DgramEntry {
    section: usize,
    sock: DgramSock,
}

struct TcpEntry {
    section: usize,
    listener: Listener,
    /// Left unaccepted at `maxconn`: accepted again when a connection of the section ends.
    blocked: bool,
}

struct Session {
    section: usize,
    conn: Conn,
    peer: Option<SocketAddr>,
    buf: Buffer,
    /// Closed when idle past this (`timeout client`).
    deadline: Option<Instant>,
}

enum Entry {
    Dgram(DgramEntry),
    Tcp(TcpEntry),
    Session(Box<Session>),
}

/// The sockets of the `log-forward` sections, opened (before daemonizing) but not yet
/// in the poller; [`Forwarder::new`] makes them run.
pub struct Opened {
    sections: Vec<LogForward>,
    dgram: Vec<(usize, DgramSock)>,
    tcp: Vec<(usize, Listener)>,
}

impl Opened {
    /// The number of sockets (for the fd limit).
    pub fn len(&self) -> usize {
        self.dgram.len() + self.tcp.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Opens every listener of every section; each failure is one message in HAProxy's
/// words (`Binding [file:line] for log-forward 'name': ...`); nothing is kept then.
pub fn open(sections: &[LogForward]) -> Result<Opened, Vec<String>> {
    let mut opened = Opened { sections: sections.to_vec(), dgram: Vec::new(), tcp: Vec::new() };
    let mut errors = Vec::new();
    for (si, f) in sections.iter().enumerate() {
        for bind in &f.dgram_binds {
            for addr in &bind.addrs {
                match open_dgram(bind, addr) {
                    Ok(s) => opened.dgram.push((si, s)),
                    Err(e) => errors.push(format!(
                        "Binding [{}] for log-forward {}: cannot bind datagram socket ({e}) for [{}]",
                        bind.location,
                        f.name,
                        crate::listener::describe(addr)
                    )),
                }
            }
        }
        for bind in &f.binds {
            for addr in &bind.addrs {
                match Listener::open(bind, addr, si, 0, f.backlog, Some(f.maxconn)) {
                    Ok(l) => opened.tcp.push((si, l)),
                    Err(e) => errors.push(format!("Binding [{}] for log-forward {}: {e}", bind.location, f.name)),
                }
            }
        }
    }
    if errors.is_empty() {
        Ok(opened)
    } else {
        Err(errors)
    }
}

fn open_dgram(bind: &Bind, addr: &BindAddr) -> io::Result<DgramSock> {
    use socket2::{Domain, Socket, Type};
    let sa = match addr {
        BindAddr::Inet(sa) => sa,
        BindAddr::Unix(path) => {
            // A socket file left by an earlier run is replaced, as a syslog daemon does.
            if std::fs::symlink_metadata(path).is_ok_and(|m| std::os::unix::fs::FileTypeExt::is_socket(&m.file_type())) {
                let _ = std::fs::remove_file(path);
            }
            let s = std::os::unix::net::UnixDatagram::bind(path)?;
            s.set_nonblocking(true)?;
            if let Some(mode) = bind.mode {
                std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(mode))?;
            }
            return Ok(DgramSock::Unix(mio::net::UnixDatagram::from_std(s)));
        }
        _ => return Err(io::Error::new(io::ErrorKind::InvalidInput, "not a datagram address")),
    };
    let s = Socket::new(Domain::for_address(*sa), Type::DGRAM, None)?;
    s.set_reuse_address(true)?;
    // As the TCP listeners: a reloading process binds beside the old one.
    if bind.reuseport || crate::listener::reuseport() {
        s.set_reuse_port(true)?;
    }
    if let Some(name) = &bind.tuning.interface {
        s.bind_device(Some(name.as_bytes()))?;
    }
    if bind.tuning.transparent {
        if sa.is_ipv4() {
            s.set_ip_transparent_v4(true)?;
        } else {
            s.set_ip_transparent_v6(true)?;
        }
    }
    s.set_nonblocking(true)?;
    s.set_cloexec(true)?;
    s.bind(&(*sa).into())?;
    Ok(DgramSock::Udp(mio::net::UdpSocket::from_std(s.into())))
}

/// The syslog relay of the process: every `log-forward` section's sockets.
pub struct Forwarder {
    table: GenSlab<Entry>,
    sections: Vec<Section>,
    bufsize: usize,
    /// Connections closed for malformed framing, and empty datagrams.
    malformed: u64,
    /// Reused for each datagram.
    scratch: Vec<u8>,
}

impl Forwarder {
    /// The relay over sockets already open; `identity` is the process's (its pid names
    /// nothing in a forwarded line, but the loggers are the proxies' kind).
    pub fn new(opened: Opened, identity: Arc<LogIdentity>, bufsize: usize) -> Forwarder {
        let sections = opened
            .sections
            .iter()
            .map(|f| Section {
                name: f.name.clone(),
                logger: Logger::new(&f.logs, identity.clone()),
                maxconn: f.maxconn,
                timeout: f.timeout_client,
                conns: 0,
            })
            .collect();
        let mut table = GenSlab::with_capacity(opened.len() + 8);
        for (section, sock) in opened.dgram {
            table.insert(Entry::Dgram(DgramEntry { section, sock }));
        }
        for (section, listener) in opened.tcp {
            table.insert(Entry::Tcp(TcpEntry { section, listener, blocked: false }));
        }
        Forwarder { table, sections, bufsize, malformed: 0, scratch: vec![0; MAX_DATAGRAM] }
    }

    /// Registers the sockets with the poller.
    pub fn start(&mut self, cx: &mut Ctx<'_>) {
        for (key, e) in self.table.iter_mut() {
            let tok = token::encode(Kind::LogFwd, key);
            let r = match e {
                Entry::Dgram(u) => cx.registry.register(u.sock.source(), tok, mio::Interest::READABLE),
                Entry::Tcp(t) => t.listener.register_as(cx.registry, tok),
                Entry::Session(_) => Ok(()),
            };
            if let Err(e) = r {
                crate::warning!("log-forward: could not start a listener: {e}");
            }
        }
    }

    /// The local addresses of the listeners (UDP and TCP), for tests and traces.
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.table
            .iter()
            .filter_map(|(_, e)| match e {
                Entry::Dgram(DgramEntry { sock: DgramSock::Udp(s), .. }) => s.local_addr().ok(),
                Entry::Dgram(_) => None,
                Entry::Tcp(t) => t.listener.local_addr(),
                Entry::Session(_) => None,
            })
            .collect()
    }

    /// Malformed inputs dropped since start.
    pub fn malformed(&self) -> u64 {
        self.malformed
    }

    /// Live TCP connections.
    pub fn connections(&self) -> u32 {
        self.sections.iter().map(|s| s.conns).sum()
    }

    /// A socket event (or a run-queue wake-up) for the entry `key`.
    pub fn ready(&mut self, cx: &mut Ctx<'_>, key: Key, ready: Option<Ready>) {
        match self.table.get_mut(key) {
            Some(Entry::Dgram(_)) => self.receive_datagrams(cx, key),
            Some(Entry::Tcp(_)) => self.accept(cx, key),
            Some(Entry::Session(s)) => {
                if let Some(r) = ready {
                    s.conn.note(r);
                }
                self.run_session(cx, key);
            }
            None => {}
        }
    }

    /// A connection's idle timer.
    pub fn timer(&mut self, cx: &mut Ctx<'_>, key: Key) {
        let Some(Entry::Session(s)) = self.table.get(key) else { return };
        match s.deadline {
            Some(at) if at <= cx.now => self.close_session(cx, key),
            Some(at) => cx.timers.arm(at, TimerTarget::Entry(Kind::LogFwd, key)),
            None => {}
        }
    }

    /// Soft stop: the listeners close and so do the connections (a relay holds no
    /// transaction to finish).
    pub fn close_all(&mut self, cx: &mut Ctx<'_>) {
        let keys: Vec<Key> = self.table.iter().map(|(k, _)| k).collect();
        for key in keys {
            match self.table.remove(key) {
                Some(Entry::Dgram(mut u)) => {
                    let _ = cx.registry.deregister(u.sock.source());
                }
                Some(Entry::Tcp(mut t)) => t.listener.close(cx.registry),
                Some(Entry::Session(mut s)) => s.conn.deregister(cx.registry),
                None => {}
            }
        }
        for s in &mut self.sections {
            s.conns = 0;
        }
    }

    fn receive_datagrams(&mut self, cx: &mut Ctx<'_>, key: Key) {
        for _ in 0..BATCH {
            let Some(Entry::Dgram(u)) = self.table.get_mut(key) else { return };
            let section = u.section;
            match u.sock.recv(&mut self.scratch) {
                Ok(0) => {
                    self.malformed += 1;
                    ::log::debug!("log-forward {}: empty datagram dropped", self.sections[section].name);
                }
                Ok(n) => {
                    RECEIVED.fetch_add(1, Ordering::Relaxed);
                    relay(&self.sections[section].logger, &self.scratch[..n]);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // ICMP errors of earlier sends and the like: nothing to read now.
                Err(_) => return,
            }
        }
        cx.wake.push(Kind::LogFwd, key); // more may be queued: after this iteration
    }

    fn accept(&mut self, cx: &mut Ctx<'_>, lkey: Key) {
        for _ in 0..BATCH {
            let Some(Entry::Tcp(t)) = self.table.get_mut(lkey) else { return };
            let section = t.section;
            let sec = &self.sections[section];
            if sec.maxconn > 0 && sec.conns >= sec.maxconn {
                t.blocked = true;
                return;
            }
            let (sock, peer) = match t.listener.accept() {
                Accept::Conn { sock, peer, .. } => (sock, peer),
                Accept::WouldBlock => return,
                Accept::Failed(e) => {
                    ::log::debug!("log-forward accept failed: {e}");
                    return;
                }
            };
            let Ok(conn) = t.listener.conn(sock) else { continue };
            let key = self.table.vacant_key();
            let timeout = self.sections[section].timeout;
            let mut s = Box::new(Session { section, conn, peer, buf: Buffer::new(self.bufsize), deadline: timeout.map(|t| cx.now + t) });
            if s.conn.register(cx.registry, token::encode(Kind::LogFwd, key)).is_err() {
                continue;
            }
            let deadline = s.deadline;
            if self.table.insert(Entry::Session(s)).is_none() {
                continue; // no slot left for a token: the connection is dropped
            }
            self.sections[section].conns += 1;
            if let Some(at) = deadline {
                cx.timers.arm(at, TimerTarget::Entry(Kind::LogFwd, key));
            }
            // Data sent with the connection is read at once (edge-triggered poller).
            cx.wake.push(Kind::LogFwd, key);
        }
        cx.wake.push(Kind::LogFwd, lkey); // budget spent: more may be pending
    }

    /// Reads what the connection has, relays every whole frame, closes it on EOF, an
    /// error or malformed framing.
    fn run_session(&mut self, cx: &mut Ctx<'_>, key: Key) {
        let mut handled = 0;
        loop {
            let Some(Entry::Session(s)) = self.table.get_mut(key) else { return };
            let before = handled;
            let (n, end) = s.conn.read_into(&mut s.buf);
            if n > 0 {
                s.deadline = self.sections[s.section].timeout.map(|t| cx.now + t);
            }
            // Every whole frame in the buffer.
            loop {
                match framing::next(s.buf.data(), self.bufsize) {
                    framing::Framed::Message { start, end, consumed } => {
                        RECEIVED.fetch_add(1, Ordering::Relaxed);
                        relay(&self.sections[s.section].logger, &s.buf.data()[start..end]);
                        s.buf.consumed(consumed);
                        handled += 1;
                    }
                    framing::Framed::Incomplete => break,
                    framing::Framed::Malformed(why) => {
                        self.malformed += 1;
                        let peer = s.peer.map_or_else(|| "unix".to_string(), |p| p.to_string());
                        crate::warning!("log-forward '{}': malformed syslog framing from {peer} ({why}): connection closed.", self.sections[s.section].name);
                        self.close_session(cx, key);
                        return;
                    }
                }
            }
            s.buf.release_if_empty();
            match end {
                ReadEnd::WouldBlock => return,
                ReadEnd::Eof | ReadEnd::Error => {
                    self.close_session(cx, key);
                    return;
                }
                // A full buffer with no whole frame in it: the frame cannot fit (which
                // `framing::next` reports first; kept so that no input can spin here).
                ReadEnd::BufferFull if handled == before => {
                    self.malformed += 1;
                    self.close_session(cx, key);
                    return;
                }
                ReadEnd::BufferFull => {}
            }
            if handled >= BATCH {
                cx.wake.push(Kind::LogFwd, key);
                return;
            }
        }
    }

    fn close_session(&mut self, cx: &mut Ctx<'_>, key: Key) {
        let Some(Entry::Session(mut s)) = self.table.remove(key) else { return };
        s.conn.deregister(cx.registry);
        let sec = &mut self.sections[s.section];
        sec.conns = sec.conns.saturating_sub(1);
        // A listener of this section left at its limit accepts again.
        let section = s.section;
        let blocked: Vec<Key> = self
            .table
            .iter_mut()
            .filter_map(|(k, e)| match e {
                Entry::Tcp(t) if t.section == section && t.blocked => {
                    t.blocked = false;
                    Some(k)
                }
                _ => None,
            })
            .collect();
        for k in blocked {
            cx.wake.push(Kind::LogFwd, k);
        }
    }
}

/// Parses one received message and sends it to every target of the section.
fn relay(logger: &Logger, bytes: &[u8]) {
    let msg = syslog::parse(bytes);
    let now = SystemTime::now();
    let offset = crate::log::time::local_offset(now);
    logger.relay(msg.pri.map(|p| p.level), |t, out| {
        let enc = syslog::Encoder { format: t.format, facility: t.facility, level: t.level, maxlen: t.maxlen, now, utc_offset: offset };
        enc.encode(&msg, out);
    });
}
