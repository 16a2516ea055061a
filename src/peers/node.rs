//! The peers of the process: one thread with its own poller, which listens for the
//! `peers` sections' local peers, connects to the remote ones, runs a [`Session`] per
//! connection and pushes the tables' updates every [`TICK`].
//!
//! A thread of its own rather than the reactor threads: the tables are process-wide
//! (every reactor thread writes them), the connections are few, and the protocol work
//! (the handshake, the codec and the sessions) is sans-io, so moving it onto a reactor
//! is a matter of driving the same calls.

use super::codec::{self, STATUS_LOCAL_NAME, STATUS_OK, STATUS_REMOTE_NAME};
use super::session::{Event, Session};
use crate::stick::Table;
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token, Waker};
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// How often updates are pushed (and timers checked).
const TICK: Duration = Duration::from_millis(100);
/// A heartbeat goes when nothing was sent for this long (HAProxy's 3 s)...
const HEARTBEAT: Duration = Duration::from_secs(3);
/// ... and a peer silent for this long is dropped (HAProxy's 5 s).
const SILENCE: Duration = Duration::from_secs(5);
/// Delay before connecting again to a peer (HAProxy's 5 s, made random below it so
/// that two peers connecting to each other at once do not keep doing so).
const RECONNECT: Duration = Duration::from_secs(5);
/// How long a new process waits for the old one's tables before asking remote peers.
const LOCAL_RESYNC_WAIT: Duration = Duration::from_secs(5);

const WAKER: Token = Token(usize::MAX);
const CONN_BASE: usize = 1 << 16;

/// Orders for the thread.
#[derive(Default)]
pub struct Control {
    pub state: Mutex<ControlState>,
    pub cond: Condvar,
}

#[derive(Default)]
pub struct ControlState {
    /// Soft stop: close the listeners, teach the local peer (the next process).
    pub soft_stop: bool,
    /// The process leaves: push what is left, then say [`ControlState::done`].
    pub finish: bool,
    pub done: bool,
}

/// One `peers` section at run time.
struct SectionRt {
    name: String,
    local: String,
    listener: Option<TcpListener>,
    peers: Vec<PeerRt>,
    tables: Vec<Arc<Table>>,
    /// A full resynchronisation from a peer is wanted (a process starting).
    needs_resync: bool,
    /// No remote is asked before this (a reload: the old process teaches first).
    wait_local_until: Option<Instant>,
}

struct PeerRt {
    name: String,
    addr: Option<SocketAddr>,
    /// The local peer (the other process of a reload).
    local: bool,
    conn: Option<usize>,
    next_try: Instant,
    /// The last update of each table the peer acknowledged: where a new connection
    /// resumes.
    acked: Vec<Option<u64>>,
    stats: PeerStats,
}

/// What `show peers` says of a peer beside its connection.
#[derive(Default)]
struct PeerStats {
    last_status: &'static str,
    last_hdshk: Option<Instant>,
    tx_hbt: u64,
    rx_hbt: u64,
    new_conn: u64,
    proto_err: u64,
}

enum Phase {
    /// Outgoing, waiting to be connected (then the greeting goes) and for the status.
    Connecting { hello_sent: bool },
    /// Incoming, waiting for the greeting.
    Greeting,
    Open(Box<Session>),
    /// Sending what is left (a refusal status), then closing.
    Closing,
}

struct Conn {
    sock: TcpStream,
    section: usize,
    peer: Option<usize>,
    phase: Phase,
    inbuf: Vec<u8>,
    last_rx: Instant,
    last_tx: Instant,
    addr: Option<SocketAddr>,
}

pub struct Node {
    started: std::time::SystemTime,
    poll: Poll,
    sections: Vec<SectionRt>,
    conns: slab::Slab<Conn>,
    control: Arc<Control>,
    stopping: bool,
    seed: u64,
}

/// What a section needs to run.
pub struct SectionPlan {
    pub name: String,
    pub local: String,
    pub listen: Option<SocketAddr>,
    pub peers: Vec<(String, Option<SocketAddr>)>,
    pub tables: Vec<Arc<Table>>,
    pub reloading: bool,
}

impl Node {
    /// Binds the sections' listeners (errors name the section and address).
    pub fn new(plans: Vec<SectionPlan>, control: Arc<Control>) -> Result<(Node, Arc<Waker>), String> {
        let poll = Poll::new().map_err(|e| format!("peers: cannot create a poller: {e}"))?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKER).map_err(|e| format!("peers: {e}"))?);
        let now = Instant::now();
        let mut sections = Vec::new();
        for (i, p) in plans.into_iter().enumerate() {
            let listener = match p.listen {
                Some(addr) => {
                    let mut l = bind(addr).map_err(|e| format!("Proxy '{}': cannot bind peers listener {addr} ({e}).", p.name))?;
                    poll.registry().register(&mut l, Token(i), Interest::READABLE).map_err(|e| format!("peers: {e}"))?;
                    Some(l)
                }
                None => None,
            };
            let ntables = p.tables.len();
            let peers = p
                .peers
                .into_iter()
                .map(|(name, addr)| PeerRt { local: name == p.local, name, addr, conn: None, next_try: now, acked: vec![None; ntables], stats: PeerStats { last_status: "NONE", ..Default::default() } })
                .collect();
            sections.push(SectionRt {
                name: p.name,
                local: p.local,
                listener,
                peers,
                tables: p.tables,
                needs_resync: true,
                wait_local_until: (p.reloading && p.listen.is_some()).then(|| now + LOCAL_RESYNC_WAIT),
            });
        }
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
        let seed = (u64::from(std::process::id()) << 32 | u64::from(nanos)) ^ 0x9e37_79b9_7f4a_7c15;
        Ok((Node { started: std::time::SystemTime::now(), poll, sections, conns: slab::Slab::new(), control, stopping: false, seed }, waker))
    }

    pub fn run(mut self) {
        let mut events = Events::with_capacity(64);
        let mut next_tick = Instant::now();
        loop {
            let timeout = next_tick.saturating_duration_since(Instant::now());
            if let Err(e) = self.poll.poll(&mut events, Some(timeout)) {
                if e.kind() != io::ErrorKind::Interrupted {
                    crate::alert!("peers: poll failed: {e}");
                    return;
                }
            }
            for ev in events.iter() {
                match ev.token() {
                    WAKER => {}
                    Token(t) if t < CONN_BASE => self.accept(t),
                    Token(t) => self.io(t - CONN_BASE),
                }
            }
            let (soft_stop, finish) = {
                let s = self.control.state.lock().unwrap_or_else(|p| p.into_inner());
                (s.soft_stop, s.finish)
            };
            if soft_stop && !self.stopping {
                self.soft_stop();
            }
            if Instant::now() >= next_tick || finish {
                self.tick();
                next_tick = Instant::now() + TICK;
            }
            if finish && self.flushed() {
                let mut s = self.control.state.lock().unwrap_or_else(|p| p.into_inner());
                s.done = true;
                self.control.cond.notify_all();
                return;
            }
        }
    }

    /// Whether nothing is left to send to the local peer (the one a stopping process
    /// teaches) or to the others.
    fn flushed(&self) -> bool {
        self.conns.iter().all(|(_, c)| match &c.phase {
            Phase::Open(s) => s.out.is_empty() && !s.is_teaching(),
            Phase::Connecting { .. } => !self.is_local(c),
            _ => true,
        })
    }

    fn is_local(&self, c: &Conn) -> bool {
        c.peer.is_some_and(|p| self.sections[c.section].peers[p].local)
    }

    fn random_delay(&mut self) -> Duration {
        // xorshift: enough to spread reconnections.
        self.seed ^= self.seed << 13;
        self.seed ^= self.seed >> 7;
        self.seed ^= self.seed << 17;
        RECONNECT / 2 + Duration::from_millis(self.seed % (RECONNECT.as_millis() as u64 / 2))
    }

    fn soft_stop(&mut self) {
        self.stopping = true;
        for s in &mut self.sections {
            if let Some(mut l) = s.listener.take() {
                let _ = self.poll.registry().deregister(&mut l);
            }
        }
        // The local peer is now the next process: teach it.
        let now = Instant::now();
        for si in 0..self.sections.len() {
            for pi in 0..self.sections[si].peers.len() {
                let p = &mut self.sections[si].peers[pi];
                if p.local && p.addr.is_some() {
                    p.next_try = now;
                }
            }
        }
        self.connect_due();
    }

    fn tick(&mut self) {
        let now = Instant::now();
        let now_ms = crate::stick::now_ms();
        self.connect_due();
        let keys: Vec<usize> = self.conns.iter().map(|(k, _)| k).collect();
        for k in keys {
            let c = &mut self.conns[k];
            let silent = now.duration_since(c.last_rx) >= SILENCE;
            if silent {
                self.drop_conn(k, "no message for 5 seconds (heartbeat timeout)".into());
                continue;
            }
            if let Phase::Open(s) = &mut c.phase {
                s.push(now_ms);
                if s.out.is_empty() && now.duration_since(c.last_tx) >= HEARTBEAT {
                    s.send_control(codec::CTRL_HEARTBEAT);
                    if let Some(pi) = c.peer {
                        self.sections[c.section].peers[pi].stats.tx_hbt += 1;
                    }
                }
            }
            self.ask_resync_if_needed(k);
            self.flush(k);
        }
        self.publish();
    }

    /// The view `show peers` renders.
    fn publish(&self) {
        let now = Instant::now();
        let views = self
            .sections
            .iter()
            .map(|s| super::show::SectionView {
                name: s.name.clone(),
                started: self.started,
                resync_until: s.wait_local_until,
                tables: s.tables.iter().map(|t| t.def.name.clone()).collect(),
                peers: s
                    .peers
                    .iter()
                    .map(|p| {
                        let conn = p.conn.and_then(|k| self.conns.get(k));
                        let session = conn.and_then(|c| match &c.phase {
                            Phase::Open(s) => Some(s),
                            _ => None,
                        });
                        super::show::PeerView {
                            name: p.name.clone(),
                            local: p.local,
                            active: conn.is_some(),
                            addr: p.addr,
                            last_status: p.stats.last_status,
                            last_hdshk: p.stats.last_hdshk,
                            reconnect: (conn.is_none() && p.addr.is_some() && !p.local).then_some(p.next_try.max(now)),
                            heartbeat: conn.map(|c| c.last_tx + HEARTBEAT),
                            tx_hbt: p.stats.tx_hbt,
                            rx_hbt: p.stats.rx_hbt + session.map_or(0, |s| s.rx_heartbeats),
                            new_conn: p.stats.new_conn,
                            proto_err: p.stats.proto_err,
                            established: session.is_some(),
                            tables: (0..s.tables.len()).map(|i| session.map_or([0; 5], |s| s.table_view(i))).collect(),
                        }
                    })
                    .collect(),
            })
            .collect();
        super::show::publish(views);
    }

    /// Asks the peer of connection `k` for a full resynchronisation if its section
    /// needs one and none is running.
    fn ask_resync_if_needed(&mut self, k: usize) {
        let Some(c) = self.conns.get(k) else { return };
        let local = self.is_local(c);
        let s = &self.sections[c.section];
        if !s.needs_resync || local || self.stopping || s.wait_local_until.is_some_and(|t| Instant::now() < t) {
            return;
        }
        let busy = self.conns.iter().any(|(_, o)| o.section == c.section && matches!(&o.phase, Phase::Open(s) if s.asked_resync));
        if busy {
            return;
        }
        if let Phase::Open(s) = &mut self.conns[k].phase {
            if !s.resync_answered {
                s.ask_resync();
            }
        }
    }

    fn connect_due(&mut self) {
        let now = Instant::now();
        for si in 0..self.sections.len() {
            for pi in 0..self.sections[si].peers.len() {
                let p = &self.sections[si].peers[pi];
                let Some(addr) = p.addr else { continue };
                // Ourselves only when stopping (the local peer is the next process then).
                if p.conn.is_some() || now < p.next_try || (p.local && !self.stopping) || (self.stopping && !p.local) {
                    continue;
                }
                let delay = self.random_delay();
                self.sections[si].peers[pi].next_try = now + delay;
                self.sections[si].peers[pi].stats.last_status = "CONN";
                match TcpStream::connect(addr) {
                    Ok(sock) => {
                        let c = Conn { sock, section: si, peer: Some(pi), phase: Phase::Connecting { hello_sent: false }, inbuf: Vec::new(), last_rx: now, last_tx: now, addr: Some(addr) };
                        self.register(c, Interest::READABLE | Interest::WRITABLE);
                    }
                    Err(e) => ::log::debug!("peers '{}': cannot connect to peer '{}' ({addr}): {e}", self.sections[si].name, self.sections[si].peers[pi].name),
                }
            }
        }
    }

    fn register(&mut self, c: Conn, interest: Interest) -> Option<usize> {
        let (si, pi) = (c.section, c.peer);
        let entry = self.conns.vacant_entry();
        let k = entry.key();
        let c = entry.insert(c);
        if self.poll.registry().register(&mut c.sock, Token(CONN_BASE + k), interest).is_err() {
            self.conns.remove(k);
            return None;
        }
        if let Some(pi) = pi {
            self.sections[si].peers[pi].conn = Some(k);
        }
        Some(k)
    }

    fn accept(&mut self, si: usize) {
        loop {
            let Some(l) = &self.sections[si].listener else { return };
            match l.accept() {
                Ok((sock, addr)) => {
                    let now = Instant::now();
                    let c = Conn { sock, section: si, peer: None, phase: Phase::Greeting, inbuf: Vec::new(), last_rx: now, last_tx: now, addr: Some(addr) };
                    self.register(c, Interest::READABLE);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(_) => return,
            }
        }
    }

    fn io(&mut self, k: usize) {
        if !self.conns.contains(k) {
            return;
        }
        if let Phase::Connecting { hello_sent: false } = self.conns[k].phase {
            let c = &mut self.conns[k];
            match c.sock.peer_addr() {
                Ok(_) => {
                    let s = &self.sections[c.section];
                    let remote = &s.peers[c.peer.expect("outgoing")].name;
                    let hello = codec::hello(remote, &s.local, std::process::id());
                    c.phase = Phase::Connecting { hello_sent: true };
                    let _ = c.sock.write_all(&hello); // a few bytes on a fresh socket
                    let _ = self.poll.registry().reregister(&mut c.sock, Token(CONN_BASE + k), Interest::READABLE);
                }
                Err(e) if e.kind() == io::ErrorKind::NotConnected => {
                    if let Ok(Some(e)) = c.sock.take_error() {
                        return self.drop_conn(k, format!("connect: {e}"));
                    }
                    return; // not connected yet
                }
                Err(e) => return self.drop_conn(k, format!("connect: {e}")),
            }
        }
        // Read what is there.
        let mut buf = [0u8; 16 * 1024];
        let mut eof = false;
        loop {
            let c = &mut self.conns[k];
            match c.sock.read(&mut buf) {
                Ok(0) => {
                    eof = true;
                    break;
                }
                Ok(n) => {
                    c.inbuf.extend_from_slice(&buf[..n]);
                    c.last_rx = Instant::now();
                    if c.inbuf.len() > 4 * codec::MAX_BODY {
                        break;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return self.drop_conn(k, format!("read: {e}")),
            }
        }
        if let Err(reason) = self.process(k) {
            return self.drop_conn(k, reason);
        }
        if eof && self.conns.contains(k) {
            return self.drop_conn(k, "connection closed by the peer".into());
        }
        self.flush(k);
    }

    /// Handles the bytes received on connection `k`.
    fn process(&mut self, k: usize) -> Result<(), String> {
        loop {
            let Some(c) = self.conns.get_mut(k) else { return Ok(()) };
            match &mut c.phase {
                Phase::Connecting { hello_sent: true } => match codec::parse_status(&c.inbuf) {
                    Ok(None) => return Ok(()),
                    Ok(Some((STATUS_OK, n))) => {
                        c.inbuf.drain(..n);
                        self.open(k);
                    }
                    Ok(Some((code, _))) => {
                        if let Some(pi) = c.peer {
                            self.sections[c.section].peers[pi].stats.last_status = status_label(code);
                        }
                        return Err(format!("the peer refused the connection with status {code}"));
                    }
                    Err(codec::Error::Invalid(e)) => return Err(e),
                    Err(codec::Error::Incomplete) => return Ok(()),
                },
                Phase::Connecting { hello_sent: false } => return Ok(()),
                Phase::Greeting => {
                    let hello = match codec::parse_hello(&c.inbuf) {
                        Ok(None) => return Ok(()),
                        Ok(Some(h)) => h,
                        Err(status) => {
                            self.refuse(k, status);
                            return Err(format!("bad greeting (status {status})"));
                        }
                    };
                    c.inbuf.drain(..hello.1);
                    let s = &self.sections[c.section];
                    let status = if hello.0.to != s.local {
                        Some(STATUS_LOCAL_NAME)
                    } else {
                        match s.peers.iter().position(|p| p.name == hello.0.from) {
                            None => Some(STATUS_REMOTE_NAME),
                            Some(pi) => {
                                // The newest connection with a peer replaces the other, as in HAProxy.
                                if let Some(old) = s.peers[pi].conn {
                                    self.drop_conn(old, "replaced by a new connection from the peer".into());
                                }
                                let c = &mut self.conns[k];
                                c.peer = Some(pi);
                                self.sections[c.section].peers[pi].conn = Some(k);
                                None
                            }
                        }
                    };
                    if let Some(status) = status {
                        let name = hello.0.from.clone();
                        self.refuse(k, status);
                        return Err(format!("greeting from '{name}' refused with status {status}"));
                    }
                    let c = &mut self.conns[k];
                    let _ = c.sock.write_all(format!("{STATUS_OK}\n").as_bytes());
                    self.open(k);
                }
                Phase::Open(s) => {
                    let mut events = Vec::new();
                    let used = match s.receive(&c.inbuf, crate::stick::now_ms(), &mut events) {
                        Ok(n) => n,
                        Err(e) => {
                            // Said to the peer as HAProxy does, before closing.
                            let _ = c.sock.write_all(&[codec::CLASS_ERROR, codec::ERR_PROTOCOL]);
                            if let Some(pi) = c.peer {
                                let st = &mut self.sections[c.section].peers[pi].stats;
                                st.proto_err += 1;
                                st.last_status = "EPRO";
                            }
                            return Err(e);
                        }
                    };
                    c.inbuf.drain(..used);
                    let (si, pi) = (c.section, c.peer.expect("open connections know their peer"));
                    for ev in events {
                        let sect = &mut self.sections[si];
                        match ev {
                            Event::Acked { table, seq } => sect.peers[pi].acked[table] = Some(seq),
                            Event::Resynced { full } => {
                                if sect.peers[pi].local {
                                    sect.wait_local_until = None;
                                    sect.needs_resync = false;
                                } else if full {
                                    sect.needs_resync = false;
                                }
                            }
                        }
                    }
                    return Ok(());
                }
                Phase::Closing => return Ok(()),
            }
        }
    }

    fn refuse(&mut self, k: usize, status: u16) {
        let c = &mut self.conns[k];
        let _ = c.sock.write_all(format!("{status}\n").as_bytes());
        c.phase = Phase::Closing;
    }

    fn open(&mut self, k: usize) {
        let c = &mut self.conns[k];
        let (si, pi) = (c.section, c.peer.expect("known peer"));
        let sect = &self.sections[si];
        let peer = &sect.peers[pi];
        let mut s = Session::new(sect.tables.clone(), &peer.acked, peer.local);
        let stats = &mut self.sections[si].peers[pi].stats;
        stats.last_status = "ESTA";
        stats.last_hdshk = Some(Instant::now());
        stats.new_conn += 1;
        let sect = &self.sections[si];
        let peer = &sect.peers[pi];
        if peer.local && self.stopping {
            s.teach();
        }
        c.phase = Phase::Open(Box::new(s));
        ::log::debug!("peers '{}': connected with peer '{}'", sect.name, peer.name);
        self.ask_resync_if_needed(k);
        if let Phase::Open(s) = &mut self.conns[k].phase {
            s.push(crate::stick::now_ms());
        }
    }

    /// Writes what the session has to send.
    fn flush(&mut self, k: usize) {
        let Some(c) = self.conns.get_mut(k) else { return };
        let Phase::Open(s) = &mut c.phase else { return };
        while !s.out.is_empty() {
            match c.sock.write(&s.out) {
                Ok(0) => break,
                Ok(n) => {
                    s.out.drain(..n);
                    c.last_tx = Instant::now();
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return self.drop_conn(k, format!("write: {e}")),
            }
        }
        let interest = if s.out.is_empty() { Interest::READABLE } else { Interest::READABLE | Interest::WRITABLE };
        let _ = self.poll.registry().reregister(&mut c.sock, Token(CONN_BASE + k), interest);
    }

    /// Closes connection `k`, logging why when the peer did something wrong.
    fn drop_conn(&mut self, k: usize, reason: String) {
        let Some(mut c) = self.conns.try_remove(k) else { return };
        let _ = self.poll.registry().deregister(&mut c.sock);
        let sect = &mut self.sections[c.section];
        let who = match c.peer {
            Some(pi) => format!("peer '{}'", sect.peers[pi].name),
            None => "an unidentified peer".to_string(),
        };
        let addr = c.addr.map(|a| a.to_string()).unwrap_or_default();
        // A peer going away is routine; a peer speaking wrong bytes is not.
        let quiet = matches!(c.phase, Phase::Connecting { .. }) || reason.starts_with("replaced") || reason.starts_with("connection closed") || reason.starts_with("read:") || reason.starts_with("write:");
        if quiet {
            ::log::debug!("peers '{}': {who} ({addr}): {reason}", sect.name);
        } else {
            crate::warning!("peers '{}': {who} ({addr}): {reason}; connection dropped.", sect.name);
        }
        if let Some(pi) = c.peer {
            if let Phase::Open(s) = &c.phase {
                sect.peers[pi].stats.rx_hbt += s.rx_heartbeats;
            }
            if sect.peers[pi].conn == Some(k) {
                sect.peers[pi].conn = None;
            }
        }
    }
}

/// HAProxy's names of the handshake statuses (`last_status` of `show peers`).
fn status_label(code: u16) -> &'static str {
    match code {
        codec::STATUS_OK => "ESTA",
        codec::STATUS_TRY_AGAIN => "TRYA",
        codec::STATUS_BAD_VERSION => "EVER",
        codec::STATUS_LOCAL_NAME => "EHST",
        codec::STATUS_REMOTE_NAME => "EPER",
        _ => "EPRO",
    }
}

fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    let domain = socket2::Domain::for_address(addr);
    let s = socket2::Socket::new(domain, socket2::Type::STREAM, Some(socket2::Protocol::TCP))?;
    s.set_reuse_address(true)?;
    // Beside the old process during a reload, as HAProxy's listeners.
    s.set_reuse_port(true)?;
    s.set_nonblocking(true)?;
    s.bind(&addr.into())?;
    s.listen(64)?;
    Ok(TcpListener::from_std(s.into()))
}
