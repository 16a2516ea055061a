//! The SPOE agents' connections (`crate::spoe`): one pool per engine, over the servers
//! of the agent's backend, under `Kind::Spoe` tokens.
//!
//! A connection says HAPROXY-HELLO, waits for the AGENT-HELLO (`timeout hello`), then
//! carries one NOTIFY at a time: the stream's [`Job`] goes out, its ACK comes back and
//! becomes an [`Outcome`] for the stream, and the connection is idle again, for the next
//! stream of any client (`timeout idle` closes it with a HAPROXY-DISCONNECT). Jobs wait
//! in the engine's queue for a connection; a new one is opened when every connection
//! is busy. A connection that fails takes its job with it (`256 + status`, HAProxy's
//! code); jobs still queued wait for another connection until their stream gives up
//! at `timeout processing`. (HAProxy's pipelining and async modes, several NOTIFY
//! frames in flight on a connection, are not used: doc/spoe.md.)

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

struct AgentConn {
    engine: usize,
    sock: Sock,
    phase: Phase,
    input: Vec<u8>,
    output: Vec<u8>,
    /// The negotiated frame size.
    max_frame: u32,
    /// The job whose ACK is awaited: stream, STREAM-ID, FRAME-ID.
    busy: Option<(Key, u64, u64)>,
    /// The hello, processing or idle deadline (its timer).
    deadline: Option<Instant>,
}

#[derive(Default)]
struct Pool {
    idle: Vec<Key>,
    queue: VecDeque<Job>,
    /// Connections not ready yet (each will take a queued job).
    opening: usize,
    /// The next server to try (round robin over the usable ones).
    next_server: usize,
}

/// Every engine's agent connections.
pub struct Hub {
    engines: Vec<Arc<Engine>>,
    pools: Vec<Pool>,
    conns: GenSlab<AgentConn>,
    done: Vec<Completion>,
    /// The engine id of this process (`engine-id` of the HAPROXY-HELLO).
    engine_id: String,
}

impl Hub {
    /// The pools of `engines` (every proxy's `filter spoe`, indexed by their id).
    pub fn new(mut engines: Vec<Arc<Engine>>) -> Hub {
        engines.sort_by_key(|e| e.id);
        let pools = engines.iter().map(|_| Pool::default()).collect();
        Hub { engines, pools, conns: GenSlab::default(), done: Vec::new(), engine_id: format!("moonproxy-{}", std::process::id()) }
    }

    pub fn is_empty(&self) -> bool {
        self.engines.is_empty()
    }

    /// The answers that came since the last call.
    pub fn take_completions(&mut self) -> Vec<Completion> {
        std::mem::take(&mut self.done)
    }

    /// Sends what the streams asked ([`crate::spoe::take_jobs`]).
    pub fn submit(&mut self, cx: &mut Ctx<'_>, farm: &super::pool::Farm, jobs: Vec<Job>) {
        for job in jobs {
            let e = job.engine;
            if e >= self.pools.len() {
                continue;
            }
            // Jobs their streams gave up on are dropped first.
            self.pools[e].queue.retain(|j| j.deadline.is_none_or(|d| d > cx.now));
            self.pools[e].queue.push_back(job);
            self.dispatch(cx, farm, e);
        }
    }

    /// Gives queued jobs to idle connections; opens a connection when jobs are left
    /// that no opening connection will take.
    fn dispatch(&mut self, cx: &mut Ctx<'_>, farm: &super::pool::Farm, e: usize) {
        while !self.pools[e].queue.is_empty() {
            let Some(key) = self.pools[e].idle.pop() else { break };
            let job = self.pools[e].queue.pop_front().expect("not empty");
            self.send_job(cx, key, job);
        }
        let pool = &self.pools[e];
        if pool.queue.len() > pool.opening {
            self.open(cx, farm, e);
        }
    }

    fn open(&mut self, cx: &mut Ctx<'_>, farm: &super::pool::Farm, e: usize) {
        let engine = &self.engines[e];
        let servers = farm.backend(engine.backend).servers();
        let usable: Vec<usize> = (0..servers.len()).filter(|&i| servers[i].is_usable()).collect();
        if usable.is_empty() {
            return; // the jobs wait (and time out) as in HAProxy with no server
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
        let conn = AgentConn { engine: e, sock, phase: Phase::Connecting, input: Vec::new(), output: Vec::new(), max_frame: engine.max_frame_size, busy: None, deadline };
        let Some(key) = self.conns.insert(conn) else { return };
        let c = self.conns.get_mut(key).expect("just inserted");
        let interest = mio::Interest::READABLE | mio::Interest::WRITABLE;
        if cx.registry.register(c.sock.source(), token::encode(Kind::Spoe, key), interest).is_err() {
            self.conns.remove(key);
            return;
        }
        self.pools[e].opening += 1;
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
            self.pools[c.engine].idle.push(key);
            return;
        }
        c.output.extend_from_slice(&bytes);
        c.busy = Some((job.stream, job.stream_id, job.frame_id));
        c.deadline = job.deadline;
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

    pub fn ready(&mut self, cx: &mut Ctx<'_>, farm: &super::pool::Farm, key: Key, ready: Ready) {
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
            c.output.extend_from_slice(&frame::haproxy_hello(self.engines[e].max_frame_size, false, &self.engine_id).encode());
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
                        c.phase = Phase::Ready;
                        c.max_frame = hello.max_frame_size;
                        self.pools[e].opening = self.pools[e].opening.saturating_sub(1);
                        self.become_idle(cx, key);
                        self.dispatch(cx, farm, e);
                    }
                    Err(code) => return self.close(cx, key, code, true),
                },
                (Phase::Ready, frame::ACK) => {
                    let Some((stream, stream_id, frame_id)) = c.busy else { return self.close(cx, key, status::FRAMEID_NOTFOUND, true) };
                    if (f.stream_id, f.frame_id) != (stream_id, frame_id) {
                        return self.close(cx, key, status::FRAMEID_NOTFOUND, true);
                    }
                    if f.flags & frame::FLAG_FIN == 0 {
                        return self.close(cx, key, status::FRAG_NOT_SUPPORTED, true);
                    }
                    let outcome = match frame::parse_actions(&f.payload) {
                        Ok(actions) => Outcome::Ack(actions),
                        Err(_) => return self.close(cx, key, status::INVALID, true),
                    };
                    c.busy = None;
                    self.done.push((stream, frame_id, outcome));
                    self.become_idle(cx, key);
                    self.dispatch(cx, farm, e);
                }
                // Unknown frames are skipped, as SPOE.txt allows.
                (_, t) if t != frame::AGENT_HELLO && t != frame::ACK => {}
                _ => return self.close(cx, key, status::INVALID, true),
            }
        }
    }

    fn become_idle(&mut self, cx: &mut Ctx<'_>, key: Key) {
        let Some(c) = self.conns.get_mut(key) else { return };
        let e = c.engine;
        c.deadline = self.engines[e].agent.timeout_idle.map(|t| cx.now + t);
        if let Some(d) = c.deadline {
            cx.timers.arm(d, TimerTarget::Entry(Kind::Spoe, key));
        }
        self.pools[e].idle.push(key);
    }

    pub fn timer(&mut self, cx: &mut Ctx<'_>, key: Key, at: Instant) {
        let Some(c) = self.conns.get(key) else { return };
        if c.deadline != Some(at) || at > cx.now {
            return; // an older timer of the connection
        }
        // Idle: a normal goodbye; waiting for a hello or an ACK: a timeout.
        let idle = c.phase == Phase::Ready && c.busy.is_none();
        self.close(cx, key, if idle { status::NORMAL } else { status::TIMEOUT }, true);
    }

    /// Closes a connection: its job fails with `256 + code` (HAProxy's error for an
    /// SPOP status); `say_bye` sends a HAPROXY-DISCONNECT first.
    fn close(&mut self, cx: &mut Ctx<'_>, key: Key, code: u32, say_bye: bool) {
        let Some(mut c) = self.conns.remove(key) else { return };
        if say_bye && c.phase != Phase::Connecting {
            let bye = frame::haproxy_disconnect(code).encode();
            let _ = c.sock.write_all(&bye);
        }
        let _ = cx.registry.deregister(c.sock.source());
        let pool = &mut self.pools[c.engine];
        pool.idle.retain(|k| *k != key);
        if matches!(c.phase, Phase::Connecting | Phase::Hello) {
            pool.opening = pool.opening.saturating_sub(1);
        }
        if let Some((stream, _, frame_id)) = c.busy {
            let err = if code == status::TIMEOUT { error::TIMEOUT } else { error::spop(code) };
            self.done.push((stream, frame_id, Outcome::Error(err)));
        }
    }
}
