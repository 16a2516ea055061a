//! The SPOE agents' connections (`crate::spoe`): one pool per engine, over the servers
//! of the agent's backend, under `Kind::Spoe` tokens.
//!
//! A connection says HAPROXY-HELLO, waits for the AGENT-HELLO (`timeout hello`), then
//! carries the streams' NOTIFY frames ([`Job`]) and brings back their ACKs as
//! [`Outcome`]s. With `option pipelining` (the default) and an agent announcing
//! `pipelining` too, up to `max-waiting-frames` frames are in flight on a connection,
//! their ACKs in any order; otherwise one at a time. A connection with room serves the
//! next stream of any client; one with nothing in flight is closed after `timeout idle`
//! with a HAPROXY-DISCONNECT. Jobs wait in the engine's queue; a connection is opened
//! when those waiting exceed what the connections being opened will take.
//!
//! Failures: a connection that fails takes its frames with it (`256 + status`,
//! HAProxy's code); jobs still queued go to the next server at once, each usable
//! server being tried once, then wait for another connection until their stream gives
//! up at `timeout processing`. A frame past that deadline is forgotten (its late
//! ACK is ignored); without pipelining the connection, stuck on it, is closed.
//! (HAProxy's `async` mode, ACKs on any connection, is not used: doc/spoe.md.)

use crate::reactor::{token, Ctx, GenSlab, Key, Kind, Ready, TimerTarget};
use crate::spoe::engine::{error, Engine};
use crate::spoe::frame::{self, status, Frame, Parsed};
use crate::spoe::{Job, Outcome};
use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::sync::Arc;
use std::time::Instant;

/// A stream's answer: the stream, its NOTIFY's FRAME-ID and the outcome.
pub type Completion = (Key, u64, Outcome);

/// A connection to server `srv` of backend `be` was opened (`true`) or closed: the
/// runtime counts it on the server as HAProxy counts its SPOE applets (`scur`, `stot`).
pub type SlotChange = (usize, usize, bool);

/// FRAME-IDs given up on that a connection remembers, so that their late ACKs are
/// not taken for protocol errors.
const ABANDONED_KEPT: usize = 64;

enum Sock {
    Tcp(mio::net::TcpStream),
    Unix(mio::net::UnixStream),
}

impl Sock {
    fn source(&mut self) -> &mut dyn mio::event::Source {
        match self {
            Sock::Tcp(s) => s,
            Sock::Unix(s) => s,
        }
    }

    fn take_error(&self) -> io::Result<Option<io::Error>> {
        match self {
            Sock::Tcp(s) => s.take_error(),
            Sock::Unix(s) => s.take_error(),
        }
    }
}

impl Read for Sock {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Sock::Tcp(s) => s.read(buf),
            Sock::Unix(s) => s.read(buf),
        }
    }
}

impl Write for Sock {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Sock::Tcp(s) => s.write(buf),
            Sock::Unix(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Connecting,
    /// HAPROXY-HELLO sent, AGENT-HELLO awaited.
    Hello,
    Ready,
}

/// A NOTIFY whose ACK is awaited.
struct InFlight {
    stream: Key,
    stream_id: u64,
    frame_id: u64,
    deadline: Option<Instant>,
}

struct AgentConn {
    engine: usize,
    /// The server (of the engine's backend).
    srv: usize,
    sock: Sock,
    phase: Phase,
    input: Vec<u8>,
    output: Vec<u8>,
    /// The negotiated frame size.
    max_frame: u32,
    /// How many frames may be in flight (1 without pipelining).
    room: usize,
    inflight: Vec<InFlight>,
    abandoned: VecDeque<u64>,
    /// `timeout hello` while saying hello, then `timeout idle` while nothing is in flight.
    deadline: Option<Instant>,
}

impl AgentConn {
    fn has_room(&self) -> bool {
        self.phase == Phase::Ready && self.inflight.len() < self.room
    }
}

#[derive(Default)]
struct Pool {
    /// The established connections.
    ready: Vec<Key>,
    queue: VecDeque<Job>,
    /// Connections not ready yet.
    opening: usize,
    /// The next server to try (round robin over the usable ones).
    next_server: usize,
    /// Connections that failed before their hello since the last one that succeeded:
    /// while fewer than the usable servers, the next server is tried at once for the
    /// jobs waiting (beyond, they wait for a new job or their deadline).
    failures: usize,
}

/// Every engine's agent connections.
pub struct Hub {
    engines: Vec<Arc<Engine>>,
    pools: Vec<Pool>,
    conns: GenSlab<AgentConn>,
    done: Vec<Completion>,
    slots: Vec<SlotChange>,
    /// The engine id of this process (`engine-id` of the HAPROXY-HELLO).
    engine_id: String,
}

impl Hub {
    /// The pools of `engines` (every proxy's `filter spoe`, indexed by their id).
    pub fn new(mut engines: Vec<Arc<Engine>>) -> Hub {
        engines.sort_by_key(|e| e.id);
        let pools = engines.iter().map(|_| Pool::default()).collect();
        Hub { engines, pools, conns: GenSlab::default(), done: Vec::new(), slots: Vec::new(), engine_id: format!("moonproxy-{}", std::process::id()) }
    }

    pub fn is_empty(&self) -> bool {
        self.engines.is_empty()
    }

    /// The answers that came since the last call.
    pub fn take_completions(&mut self) -> Vec<Completion> {
        std::mem::take(&mut self.done)
    }

    /// The connections opened and closed since the last call, in order.
    pub fn take_slot_changes(&mut self) -> Vec<SlotChange> {
        std::mem::take(&mut self.slots)
    }

    /// Frames a connection of engine `e` may carry at once, as far as moonproxy knows
    /// before the agent's hello.
    fn expected_room(&self, e: usize) -> usize {
        let a = &self.engines[e].agent;
        if a.pipelining {
            a.max_waiting_frames.max(1) as usize
        } else {
            1
        }
    }

    /// Sends what the streams asked ([`crate::spoe::take_jobs`]).
    pub fn submit(&mut self, cx: &mut Ctx<'_>, farm: &super::pool::Farm, jobs: Vec<Job>) {
        for job in jobs {
            let e = job.engine;
            if e >= self.pools.len() {
                continue;
            }
            self.pools[e].failures = 0;
            // Jobs their streams gave up on are dropped first.
            self.pools[e].queue.retain(|j| j.deadline.is_none_or(|d| d > cx.now));
            self.pools[e].queue.push_back(job);
            self.dispatch(cx, farm, e);
        }
    }

    /// Gives queued jobs to connections with room; opens a connection when more jobs
    /// wait than the connections being opened will take.
    fn dispatch(&mut self, cx: &mut Ctx<'_>, farm: &super::pool::Farm, e: usize) {
        while !self.pools[e].queue.is_empty() {
            let conns = &self.conns;
            let Some(&key) = self.pools[e].ready.iter().find(|k| conns.get(**k).is_some_and(AgentConn::has_room)) else { break };
            let job = self.pools[e].queue.pop_front().expect("not empty");
            self.send_job(cx, key, job);
        }
        let pool = &self.pools[e];
        if pool.queue.len() > pool.opening * self.expected_room(e) {
            self.open(cx, farm, e);
        }
    }

    fn open(&mut self, cx: &mut Ctx<'_>, farm: &super::pool::Farm, e: usize) {
        let engine = &self.engines[e];
        let servers = farm.backend(engine.backend).servers();
        let usable: Vec<usize> = (0..servers.len()).filter(|&i| servers[i].is_usable()).collect();
        if usable.is_empty() || self.pools[e].failures >= usable.len() {
            // The jobs wait (and time out, as in HAProxy with no server), or a new job
            // tries the servers again.
            return;
        }
        let pool = &mut self.pools[e];
        let srv = usable[pool.next_server % usable.len()];
        pool.next_server = pool.next_server.wrapping_add(1);
        let sock = match super::pool::target_of(&servers[srv]) {
            Some(crate::stream::Target::Inet(a)) => mio::net::TcpStream::connect(a).map(|s| {
                let _ = s.set_nodelay(true);
                Sock::Tcp(s)
            }),
            Some(crate::stream::Target::Unix(p)) => mio::net::UnixStream::connect(p).map(Sock::Unix),
            _ => Err(io::Error::new(io::ErrorKind::Unsupported, "agent address")),
        };
        let Ok(sock) = sock else { return };
        let deadline = engine.agent.timeout_hello.map(|t| cx.now + t);
        let conn = AgentConn {
            engine: e,
            srv,
            sock,
            phase: Phase::Connecting,
            input: Vec::new(),
            output: Vec::new(),
            max_frame: engine.max_frame_size,
            room: 1,
            inflight: Vec::new(),
            abandoned: VecDeque::new(),
            deadline,
        };
        let Some(key) = self.conns.insert(conn) else { return };
        let c = self.conns.get_mut(key).expect("just inserted");
        let interest = mio::Interest::READABLE | mio::Interest::WRITABLE;
        if cx.registry.register(c.sock.source(), token::encode(Kind::Spoe, key), interest).is_err() {
            self.conns.remove(key);
            return;
        }
        self.pools[e].opening += 1;
        self.slots.push((engine.backend, srv, true));
        if let Some(d) = deadline {
            cx.timers.arm(d, TimerTarget::Entry(Kind::Spoe, key));
        }
    }

    fn send_job(&mut self, cx: &mut Ctx<'_>, key: Key, job: Job) {
        let Some(c) = self.conns.get_mut(key) else { return };
        let frame = Frame { ty: frame::NOTIFY, flags: frame::FLAG_FIN, stream_id: job.stream_id, frame_id: job.frame_id, payload: job.payload };
        let bytes = frame.encode();
        if bytes.len() - 4 > c.max_frame as usize {
            // Larger than the agent takes: HAProxy's "frame too big" for the stream.
            self.done.push((job.stream, job.frame_id, Outcome::Error(error::TOO_BIG)));
            return;
        }
        c.output.extend_from_slice(&bytes);
        c.inflight.push(InFlight { stream: job.stream, stream_id: job.stream_id, frame_id: job.frame_id, deadline: job.deadline });
        c.deadline = None; // not idle
        if let Some(d) = job.deadline {
            cx.timers.arm(d, TimerTarget::Entry(Kind::Spoe, key));
        }
        self.flush(cx, key);
    }

    /// Writes what the connection has to send; a write error closes it.
    fn flush(&mut self, cx: &mut Ctx<'_>, key: Key) {
        let Some(c) = self.conns.get_mut(key) else { return };
        while !c.output.is_empty() {
            match c.sock.write(&c.output) {
                Ok(0) => return self.close(cx, key, status::IO, false),
                Ok(n) => {
                    c.output.drain(..n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return self.close(cx, key, status::IO, false),
            }
        }
    }

    /// A connection's readiness: connect, hello, frames.
    pub fn ready(&mut self, cx: &mut Ctx<'_>, farm: &super::pool::Farm, key: Key, ready: Ready) {
        let Some(e) = self.conns.get(key).map(|c| c.engine) else { return };
        self.io(cx, farm, key, ready);
        if self.conns.get(key).is_none() {
            self.dispatch(cx, farm, e); // it ended: the jobs waiting may need another
        }
    }

    fn io(&mut self, cx: &mut Ctx<'_>, farm: &super::pool::Farm, key: Key, ready: Ready) {
        let Some(c) = self.conns.get_mut(key) else { return };
        let e = c.engine;
        if c.phase == Phase::Connecting {
            if !(ready.writable || ready.error || ready.write_closed) {
                return;
            }
            if ready.error || !matches!(c.sock.take_error(), Ok(None)) {
                return self.close(cx, key, status::IO, false);
            }
            c.phase = Phase::Hello;
            let engine = &self.engines[e];
            let caps = if engine.agent.pipelining { "pipelining" } else { "" };
            c.output.extend_from_slice(&frame::haproxy_hello(engine.max_frame_size, caps, false, &self.engine_id).encode());
        }
        self.flush(cx, key);
        let Some(c) = self.conns.get_mut(key) else { return };
        let mut eof = false;
        let mut chunk = [0u8; 16384];
        loop {
            match c.sock.read(&mut chunk) {
                Ok(0) => {
                    eof = true;
                    break;
                }
                Ok(n) => c.input.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return self.close(cx, key, status::IO, false),
            }
        }
        self.frames(cx, farm, key);
        if eof && self.conns.get(key).is_some() {
            self.close(cx, key, status::IO, false);
        }
    }

    /// Handles the complete frames received.
    fn frames(&mut self, cx: &mut Ctx<'_>, farm: &super::pool::Farm, key: Key) {
        loop {
            let Some(c) = self.conns.get_mut(key) else { return };
            let (f, used) = match frame::parse(&c.input, c.max_frame) {
                Parsed::Partial => return,
                Parsed::TooBig => return self.close(cx, key, status::TOO_BIG, true),
                Parsed::Invalid => return self.close(cx, key, status::INVALID, true),
                Parsed::Frame(f, used) => (f, used),
            };
            c.input.drain(..used);
            let e = c.engine;
            match (c.phase, f.ty) {
                (_, frame::AGENT_DISCONNECT) => {
                    let code = frame::disconnect_status(&f.payload);
                    return self.close(cx, key, code, false);
                }
                (Phase::Hello, frame::AGENT_HELLO) => match frame::agent_hello(&f.payload, self.engines[e].max_frame_size) {
                    Ok(hello) => {
                        let agent = &self.engines[e].agent;
                        let pipelined = agent.pipelining && hello.capabilities.split(',').any(|c| c.trim() == "pipelining");
                        c.room = if pipelined { agent.max_waiting_frames.max(1) as usize } else { 1 };
                        c.phase = Phase::Ready;
                        c.max_frame = hello.max_frame_size;
                        let pool = &mut self.pools[e];
                        pool.opening = pool.opening.saturating_sub(1);
                        pool.failures = 0;
                        pool.ready.push(key);
                        self.idle_if_empty(cx, key);
                        self.dispatch(cx, farm, e);
                    }
                    Err(code) => return self.close(cx, key, code, true),
                },
                (Phase::Ready, frame::ACK) => {
                    let found = c.inflight.iter().position(|i| (i.stream_id, i.frame_id) == (f.stream_id, f.frame_id));
                    let Some(at) = found else {
                        if c.abandoned.contains(&f.frame_id) {
                            continue; // too late: its stream went on without it
                        }
                        return self.close(cx, key, status::FRAMEID_NOTFOUND, true);
                    };
                    if f.flags & frame::FLAG_FIN == 0 {
                        return self.close(cx, key, status::FRAG_NOT_SUPPORTED, true);
                    }
                    let outcome = match frame::parse_actions(&f.payload) {
                        Ok(actions) => Outcome::Ack(actions),
                        Err(_) => return self.close(cx, key, status::INVALID, true),
                    };
                    let job = c.inflight.swap_remove(at);
                    self.done.push((job.stream, job.frame_id, outcome));
                    self.idle_if_empty(cx, key);
                    self.dispatch(cx, farm, e);
                }
                // Unknown frames are skipped, as SPOE.txt allows.
                (_, t) if t != frame::AGENT_HELLO && t != frame::ACK => {}
                _ => return self.close(cx, key, status::INVALID, true),
            }
        }
    }

    /// A connection with nothing in flight starts its `timeout idle`.
    fn idle_if_empty(&mut self, cx: &mut Ctx<'_>, key: Key) {
        let Some(c) = self.conns.get_mut(key) else { return };
        if !c.inflight.is_empty() {
            return;
        }
        c.deadline = self.engines[c.engine].agent.timeout_idle.map(|t| cx.now + t);
        if let Some(d) = c.deadline {
            cx.timers.arm(d, TimerTarget::Entry(Kind::Spoe, key));
        }
    }

    pub fn timer(&mut self, cx: &mut Ctx<'_>, farm: &super::pool::Farm, key: Key) {
        let e = self.conns.get(key).map(|c| c.engine);
        self.expire(cx, key);
        if let Some(e) = e.filter(|_| self.conns.get(key).is_none()) {
            self.dispatch(cx, farm, e); // it ended: the jobs waiting may need another
        }
    }

    fn expire(&mut self, cx: &mut Ctx<'_>, key: Key) {
        let now = cx.now;
        let Some(c) = self.conns.get_mut(key) else { return };
        // Frames past their stream's deadline: forgotten (the stream reports its own
        // timeout); a connection without pipelining is stuck on it and closes.
        if c.inflight.iter().any(|i| i.deadline.is_some_and(|d| d <= now)) {
            if c.room == 1 {
                return self.close(cx, key, status::TIMEOUT, true);
            }
            let (late, kept): (Vec<InFlight>, Vec<InFlight>) = std::mem::take(&mut c.inflight).into_iter().partition(|i| i.deadline.is_some_and(|d| d <= now));
            c.inflight = kept;
            for l in late {
                if c.abandoned.len() == ABANDONED_KEPT {
                    c.abandoned.pop_front();
                }
                c.abandoned.push_back(l.frame_id);
            }
            self.idle_if_empty(cx, key);
            return;
        }
        let Some(c) = self.conns.get(key) else { return };
        if c.deadline.is_some_and(|d| d <= now) {
            // Idle: a normal goodbye; still saying hello: a timeout.
            let idle = c.phase == Phase::Ready;
            self.close(cx, key, if idle { status::NORMAL } else { status::TIMEOUT }, true);
        }
    }

    /// Closes a connection: its frames fail with `256 + code` (HAProxy's error for an
    /// SPOP status; a timeout is the engine's own); `say_bye` sends a
    /// HAPROXY-DISCONNECT first.
    fn close(&mut self, cx: &mut Ctx<'_>, key: Key, code: u32, say_bye: bool) {
        let Some(mut c) = self.conns.remove(key) else { return };
        if say_bye && c.phase != Phase::Connecting {
            let bye = frame::haproxy_disconnect(code).encode();
            let _ = c.sock.write_all(&bye);
        }
        let _ = cx.registry.deregister(c.sock.source());
        self.slots.push((self.engines[c.engine].backend, c.srv, false));
        let pool = &mut self.pools[c.engine];
        pool.ready.retain(|k| *k != key);
        if matches!(c.phase, Phase::Connecting | Phase::Hello) {
            pool.opening = pool.opening.saturating_sub(1);
            pool.failures += 1;
        }
        let err = if code == status::TIMEOUT { error::TIMEOUT } else { error::spop(code) };
        for i in c.inflight {
            self.done.push((i.stream, i.frame_id, Outcome::Error(err)));
        }
    }
}
