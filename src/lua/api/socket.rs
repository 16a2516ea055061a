//! `core.tcp()` and the `Socket` class (HAProxy's `hlua_socket_*`), on the reactor.
//!
//! A `Socket` is a userdata holding a [`SocketRef`]: the key of a slot in this module's
//! socket table (a thread-local, one per reactor thread like the Lua state). The slot owns
//! the non-blocking connection (TCP or UNIX), a read buffer and a write buffer, the
//! timeouts, and at most one *pending operation*: the call that is waiting, with the
//! coroutine to resume (its [`Waiter`]) and its deadline.
//!
//! How a call waits (`doc/lua-sockets.md` tells the whole story):
//!
//! 1. the method tries to finish at once (read what the kernel has, write what it takes);
//! 2. if it cannot, it records the pending operation, arms a reactor timer at its deadline
//!    (`TimerTarget::Entry(Kind::LuaSocket, key)`) and yields the coroutine
//!    (`WaitReason::Io`). The socket is registered with the poll registry once, at
//!    connect, under the token `(Kind::LuaSocket, key)`;
//! 3. the reactor hands the socket's events ([`on_ready`]) and timers ([`on_timer`]) to the
//!    Lua runtime, which asks this module whether the operation is now complete. A
//!    [`Completion`] names the waiter and carries the call's results; the runtime pushes
//!    them on the coroutine and resumes it, so they become the results of the call that
//!    yielded.
//!
//! The Lua object never owns the connection: when the collector finalizes it, its key goes
//! to an orphan list (a `__gc` must not touch the reactor, rule U3 of `doc/lua-ffi.md`)
//! and [`reap`] closes it at the next safe point. A coroutine that connected sockets gets a
//! full collection when it ends ([`coroutine_ended`]), as HAProxy does, so a socket it left
//! open and unreachable is closed at once.
//!
//! Return values and error strings are HAProxy 2.6's, checked against it
//! (`tests/lua_socket.rs`): `connect` gives `1` or `nil, "Can't connect"`, `receive` gives
//! the data, or on close or timeout the partial data or `nil, "connection closed."`,
//! `send` gives the number of bytes taken or `-1` on a closed socket.
use super::core::{core, Phase};
use crate::dns::lookup;
use crate::dns::query::Query;
use crate::lua::host;
use crate::lua::{CallCtx, Class, LuaError, RustFunction, Value, WaitReason};
use crate::reactor::{token, Ctx, GenSlab, Key, Kind, Ready, TimerTarget};
use lua54_sys as ffi;
use mio::{Interest, Registry};
use std::cell::{Cell, RefCell};
use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::os::raw::c_int;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The coroutine a socket operation resumes when it completes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Waiter {
    /// A `core.register_task` task, by its key in `runtime::lua::LuaRt`.
    Task(Key),
    /// A stream's coroutine (its actions, fetches and services), by the stream's key.
    Stream(Key),
}

/// A pending operation is over: resume `waiter` with `results` as the values returned by
/// the call that yielded.
#[derive(Debug, Clone, PartialEq)]
pub struct Completion {
    pub waiter: Waiter,
    pub results: Vec<Value>,
}

/// HAProxy's socket timeouts when the script sets none: the internal `LUA-SOCKET` proxy
/// has no `timeout` settings, so a connect, a receive or a send waits until the peer acts
/// (a receive on a silent server was still waiting after 100 s).
/// `settimeout` sets all three.
pub const DEFAULT_TIMEOUT: Option<Duration> = None;

/// Bytes a `send` may leave unwritten before it waits for the peer to read (HAProxy waits
/// when the internal stream's buffer is full: one `tune.bufsize`).
pub const SEND_BUFFER: usize = 16384;

/// Bytes read ahead while no `receive` is pending; the rest stays in the kernel.
const READ_AHEAD: usize = 256 * 1024;

/// HAProxy's error strings (a period included).
pub const CLOSED: &str = "connection closed.";
pub const CANT_CONNECT: &str = "Can't connect";

/// The Lua side of a socket: the key of its slot, and (for a `core.tcp()` socket opened
/// by a call) who it counts against in `show lua stats` until it is closed. Dropped by
/// `__gc`.
pub struct SocketRef(Key, RefCell<Option<std::rc::Rc<crate::lua::stats::Owner>>>);

impl SocketRef {
    pub(super) fn from_key(key: Key) -> SocketRef {
        SocketRef(key, RefCell::new(None))
    }

    pub(super) fn key(&self) -> Key {
        self.0
    }

    /// Closed (or collected): no longer an open socket of its function.
    fn uncount(&self) {
        if let Some(owner) = self.1.borrow_mut().take() {
            crate::lua::stats::socket_closed(&owner);
        }
    }
}

impl Drop for SocketRef {
    fn drop(&mut self) {
        self.uncount();
        // Never touch the table here: a collection may run while a callback holds it.
        let _ = ORPHANS.try_with(|o| o.borrow_mut().push(self.0));
    }
}

/// The `Socket` class: its methods, under HAProxy's names.
pub static SOCKET: Class<SocketRef> = Class::new(
    "Socket",
    &[
        (c"connect", &CONNECT),
        (c"connect_ssl", &CONNECT_SSL),
        (c"send", &SEND),
        (c"receive", &RECEIVE),
        (c"settimeout", &SETTIMEOUT),
        (c"getpeername", &GETPEERNAME),
        (c"getsockname", &GETSOCKNAME),
        (c"close", &CLOSE),
        (c"setoption", &SETOPTION),
    ],
);

pub static TCP: RustFunction = RustFunction::new("tcp", tcp);
static CONNECT: RustFunction = RustFunction::new("connect", connect);
static CONNECT_SSL: RustFunction = RustFunction::new("connect_ssl", connect_ssl);
static SEND: RustFunction = RustFunction::new("send", send);
static RECEIVE: RustFunction = RustFunction::new("receive", receive);
static SETTIMEOUT: RustFunction = RustFunction::new("settimeout", settimeout);
static GETPEERNAME: RustFunction = RustFunction::new("getpeername", getpeername);
static GETSOCKNAME: RustFunction = RustFunction::new("getsockname", getsockname);
static CLOSE: RustFunction = RustFunction::new("close", close);
static SETOPTION: RustFunction = RustFunction::new("setoption", setoption);

/// The `core` functions of this module.
pub fn core_functions() -> &'static [(&'static str, &'static RustFunction)] {
    static FUNCTIONS: [(&str, &RustFunction); 1] = [("tcp", &TCP)];
    &FUNCTIONS
}

// ---- the table --------------------------------------------------------------------------

/// Where a connection is to go (`connect`'s address, parsed as HAProxy's `str2sa_range`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Inet(SocketAddr),
    Unix(std::path::PathBuf),
    /// `abns@name`: Linux's abstract namespace.
    Abstract(Vec<u8>),
}

enum Transport {
    Tcp(mio::net::TcpStream),
    Unix(mio::net::UnixStream),
    /// `connect_ssl`, `https://` in the HTTP client (`crate::tls`).
    Tls(Box<crate::tls::TlsStream>),
}

/// How to start TLS on a connection: the client config and the server name.
pub(super) type TlsStart = (std::sync::Arc<rustls::ClientConfig>, rustls::pki_types::ServerName<'static>);

impl Transport {
    fn open(target: &Target, tls: Option<TlsStart>) -> io::Result<Transport> {
        Ok(match target {
            Target::Inet(a) => {
                let tcp = mio::net::TcpStream::connect(*a)?;
                match tls {
                    Some((config, name)) => Transport::Tls(Box::new(crate::tls::TlsStream::connect(tcp, config, name)?)),
                    None => Transport::Tcp(tcp),
                }
            }
            Target::Unix(p) => Transport::Unix(mio::net::UnixStream::connect(p)?),
            Target::Abstract(name) => {
                use std::os::linux::net::SocketAddrExt;
                let addr = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
                Transport::Unix(mio::net::UnixStream::connect_addr(&addr)?)
            }
        })
    }

    fn source(&mut self) -> &mut dyn mio::event::Source {
        match self {
            Transport::Tcp(s) => s,
            Transport::Unix(s) => s,
            Transport::Tls(s) => s.tcp_mut(),
        }
    }

    /// Pushes out TLS records a write left in rustls (nothing to do on plain sockets).
    fn flush_tls(&mut self) {
        if let Transport::Tls(s) = self {
            let _ = s.flush();
        }
    }

    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Transport::Tcp(s) => s.read(buf),
            Transport::Unix(s) => s.read(buf),
            Transport::Tls(s) => s.read(buf),
        }
    }

    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Transport::Tcp(s) => s.write(buf),
            Transport::Unix(s) => s.write(buf),
            Transport::Tls(s) => s.write(buf),
        }
    }

    /// `Ok(true)` connected, `Ok(false)` still connecting, `Err` failed.
    fn connected(&mut self) -> io::Result<bool> {
        let (err, peer) = match self {
            Transport::Tcp(s) => (s.take_error()?, s.peer_addr().map(|_| ())),
            Transport::Unix(s) => (s.take_error()?, s.peer_addr().map(|_| ())),
            Transport::Tls(s) => (s.tcp().take_error()?, s.tcp().peer_addr().map(|_| ())),
        };
        if let Some(e) = err {
            return Err(e);
        }
        match peer {
            // A TLS connection is connected once its handshake is done.
            Ok(()) => match self {
                Transport::Tls(s) => s.drive_handshake(),
                _ => Ok(true),
            },
            Err(e) if e.kind() == io::ErrorKind::NotConnected => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// HAProxy's names: `ip:port`, `[ipv6]:port`, `unix` for a UNIX socket.
    fn name(&self, peer: bool) -> Option<String> {
        let tcp = match self {
            Transport::Tcp(s) => Some(s),
            Transport::Tls(s) => Some(s.tcp()),
            Transport::Unix(_) => None,
        };
        match tcp {
            Some(s) => {
                let a = if peer { s.peer_addr() } else { s.local_addr() }.ok()?;
                Some(match a {
                    SocketAddr::V4(a) => format!("{}:{}", a.ip(), a.port()),
                    SocketAddr::V6(a) => format!("[{}]:{}", a.ip(), a.port()),
                })
            }
            None => Some("unix".into()),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Conn {
    /// Created by `core.tcp()`, never connected.
    Fresh,
    /// The HTTP client resolves the host name ([`Resolving`]); the connection follows.
    Resolving,
    Connecting,
    Connected,
    /// Closed by the script, by a timeout, or by an error.
    Closed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pattern {
    /// `*l`: a line, without its LF and the CR before it.
    Line,
    /// `*a`: everything until the peer closes.
    All,
    /// That many bytes.
    Bytes(usize),
}

/// What a waiting call waits for.
enum Op {
    Connect,
    Receive {
        pattern: Pattern,
        prefix: Vec<u8>,
    },
    /// The data is in the write buffer; the call returns `count` once it drained enough.
    Send {
        count: i64,
    },
    /// An HTTP exchange of `core.httpclient()` (see `httpclient.rs`).
    Http(Box<super::httpclient::Exchange>),
}

struct Pending {
    waiter: Waiter,
    op: Op,
    /// `None`: no timeout.
    deadline: Option<Instant>,
}

/// The three timeouts (HAProxy's connect timeout and the read and write timeouts of the
/// internal stream); `None` waits forever.
#[derive(Debug, Clone, Copy)]
struct Timeouts {
    connect: Option<Duration>,
    read: Option<Duration>,
    write: Option<Duration>,
}

struct Sock {
    transport: Option<Transport>,
    conn: Conn,
    rbuf: Vec<u8>,
    /// The peer closed its side (reads return 0).
    eof: bool,
    wbuf: Vec<u8>,
    timeouts: Timeouts,
    pending: Option<Pending>,
    /// An HTTP exchange's result, waiting for `HTTPClient` to collect it.
    http_result: Option<super::httpclient::Outcome>,
    /// The name lookup before an HTTP client's connection.
    resolving: Option<Box<Resolving>>,
}

/// An HTTP client's host name being resolved (`crate::dns::query::Query`: one UDP
/// socket per name server of the section, registered under the slot's own token), and
/// what to connect once the address is known.
struct Resolving {
    query: Query,
    then: Then,
}

/// The connection an HTTP client makes once its host name resolved.
struct Then {
    port: u16,
    /// The request, written once connected.
    request: Vec<u8>,
    tls: Option<TlsStart>,
}

impl Sock {
    fn new() -> Sock {
        Sock {
            transport: None,
            conn: Conn::Fresh,
            rbuf: Vec::new(),
            eof: false,
            wbuf: Vec::new(),
            timeouts: Timeouts {
                connect: DEFAULT_TIMEOUT,
                read: DEFAULT_TIMEOUT,
                write: DEFAULT_TIMEOUT,
            },
            pending: None,
            http_result: None,
            resolving: None,
        }
    }

    /// Closes the connection (deregistered when a registry is at hand; closing the file
    /// descriptor removes it from epoll anyway).
    fn shut(&mut self, registry: Option<&Registry>) {
        if let Some(mut r) = self.resolving.take() {
            r.query.close(registry);
        }
        if let Some(mut t) = self.transport.take() {
            if let Some(r) = registry {
                let _ = r.deregister(t.source());
            }
        }
        self.conn = Conn::Closed;
        self.wbuf.clear();
    }

    /// Moves a connect on once the socket says so; failures close it.
    fn check_connect(&mut self, registry: Option<&Registry>) {
        if self.conn != Conn::Connecting {
            return;
        }
        let Some(t) = self.transport.as_mut() else {
            return;
        };
        match t.connected() {
            Ok(true) => self.conn = Conn::Connected,
            Ok(false) => {}
            Err(_) => self.shut(registry),
        }
    }

    /// Reads what the kernel has, until it would block, or until the buffer holds `cap`
    /// bytes (read-ahead while no call reads). Returns whether anything arrived.
    ///
    /// A call that is about to wait for data reads with no cap: readiness is
    /// edge-triggered, so only a read that reached `WouldBlock` guarantees another event.
    fn fill(&mut self, registry: Option<&Registry>, cap: Option<usize>) -> bool {
        if self.conn != Conn::Connected || self.eof {
            return false;
        }
        let before = self.rbuf.len();
        let mut chunk = [0u8; 16384];
        while cap.is_none_or(|c| self.rbuf.len() < c) {
            let Some(t) = self.transport.as_mut() else {
                break;
            };
            match t.read(&mut chunk) {
                Ok(0) => {
                    self.eof = true;
                    break;
                }
                Ok(n) => self.rbuf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => {
                    // A reset: what was read stays readable, nothing more comes.
                    self.eof = true;
                    let rbuf = std::mem::take(&mut self.rbuf);
                    self.shut(registry);
                    self.rbuf = rbuf;
                    break;
                }
            }
        }
        self.rbuf.len() > before
    }

    /// Writes what the kernel takes. A write error closes the socket.
    fn flush(&mut self, registry: Option<&Registry>) {
        if self.conn == Conn::Connected {
            if let Some(t) = self.transport.as_mut() {
                t.flush_tls();
            }
        }
        while self.conn == Conn::Connected && !self.wbuf.is_empty() {
            let Some(t) = self.transport.as_mut() else {
                return;
            };
            match t.write(&self.wbuf) {
                Ok(0) => break,
                Ok(n) => {
                    self.wbuf.drain(..n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => {
                    let (rbuf, eof) = (std::mem::take(&mut self.rbuf), self.eof);
                    self.shut(registry);
                    (self.rbuf, self.eof) = (rbuf, eof);
                }
            }
        }
    }

    /// No more bytes will arrive.
    fn read_over(&self) -> bool {
        self.eof || self.conn != Conn::Connected
    }

    /// The results of a `receive`, if it can finish now (see the module comment).
    fn try_receive(&mut self, pattern: Pattern, prefix: &[u8]) -> Option<Vec<Value>> {
        let take = match pattern {
            Pattern::Line => self.rbuf.iter().position(|&b| b == b'\n').map(|lf| {
                let mut line: Vec<u8> = self.rbuf.drain(..=lf).collect();
                line.pop();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                line
            }),
            Pattern::Bytes(n) if self.rbuf.len() >= n => Some(self.rbuf.drain(..n).collect()),
            Pattern::All | Pattern::Bytes(_) => None,
        };
        if let Some(data) = take {
            return Some(vec![Value::String([prefix, &data].concat())]);
        }
        if !self.read_over() {
            return None;
        }
        // Closed: what there is, or HAProxy's error.
        let rest: Vec<u8> = [prefix, &std::mem::take(&mut self.rbuf)].concat();
        Some(if rest.is_empty() {
            closed_results()
        } else {
            vec![Value::String(rest)]
        })
    }

    /// The results of `op` if it can finish now.
    fn attempt(&mut self, op: &mut Op) -> Option<Vec<Value>> {
        match op {
            Op::Connect => match self.conn {
                Conn::Connected => Some(vec![Value::Integer(1)]),
                Conn::Closed | Conn::Fresh => Some(cant_connect()),
                Conn::Connecting | Conn::Resolving => None,
            },
            Op::Receive { pattern, prefix } => self.try_receive(*pattern, prefix),
            Op::Send { count } => match self.conn {
                Conn::Closed | Conn::Fresh => Some(vec![Value::Integer(-1)]),
                _ if self.wbuf.len() <= SEND_BUFFER => Some(vec![Value::Integer(*count)]),
                _ => None,
            },
            Op::Http(_) if matches!(self.conn, Conn::Connecting | Conn::Resolving) => None,
            Op::Http(x) => {
                let closed = self.read_over();
                let outcome = x.progress(self.conn == Conn::Connected, &mut self.rbuf, closed);
                outcome.map(|o| {
                    self.http_result = Some(o);
                    Vec::new()
                })
            }
        }
    }

    /// The waiter and results of the pending operation if it is over.
    fn try_complete(&mut self) -> Option<(Waiter, Vec<Value>)> {
        let mut p = self.pending.take()?;
        match self.attempt(&mut p.op) {
            Some(results) => Some((p.waiter, results)),
            None => {
                self.pending = Some(p);
                None
            }
        }
    }

    /// The pending operation's deadline passed: HAProxy aborts the internal stream, so
    /// the socket is closed and the call returns what a close gives.
    fn time_out(&mut self, registry: Option<&Registry>) -> Option<Vec<Value>> {
        let p = self.pending.take()?;
        let (rbuf, eof) = (std::mem::take(&mut self.rbuf), self.eof);
        self.shut(registry);
        (self.rbuf, self.eof) = (rbuf, eof);
        Some(match p.op {
            Op::Connect => cant_connect(),
            Op::Receive { pattern, prefix } => self
                .try_receive(pattern, &prefix)
                .unwrap_or_else(closed_results),
            Op::Send { .. } => vec![Value::Integer(-1)],
            Op::Http(_) => {
                self.http_result = Some(super::httpclient::Outcome::timed_out());
                Vec::new()
            }
        })
    }
}

fn closed_results() -> Vec<Value> {
    vec![Value::Nil, Value::String(CLOSED.into())]
}

fn cant_connect() -> Vec<Value> {
    vec![Value::Nil, Value::String(CANT_CONNECT.into())]
}

#[derive(Default)]
struct Table {
    socks: GenSlab<Sock>,
    /// Coroutines that connected a socket since they started (a full collection follows
    /// their end).
    used_by: Vec<Waiter>,
}

impl Table {
    fn get(&mut self, key: Key) -> Option<&mut Sock> {
        self.socks.get_mut(key)
    }

    fn remove(&mut self, key: Key) -> Option<Sock> {
        self.socks.remove(key)
    }
}

thread_local! {
    static TABLE: RefCell<Table> = RefCell::default();
    /// Keys of sockets whose Lua object was collected, closed by [`reap`].
    static ORPHANS: RefCell<Vec<Key>> = const { RefCell::new(Vec::new()) };
    /// The coroutine being resumed ([`running_as`]).
    static CURRENT: Cell<Option<Waiter>> = const { Cell::new(None) };
    /// Calls completed by another coroutine (a `close` while someone waits), for
    /// [`take_completed`].
    static COMPLETED: RefCell<Vec<Completion>> = const { RefCell::new(Vec::new()) };
}

/// Calls that completed during the last resume without an event of their own (another
/// coroutine closed the socket): the runtime resumes their waiters after the resume.
pub fn take_completed() -> Vec<Completion> {
    COMPLETED.with(|q| std::mem::take(&mut *q.borrow_mut()))
}

fn with_table<R>(f: impl FnOnce(&mut Table) -> R) -> R {
    TABLE.with(|t| f(&mut t.borrow_mut()))
}

fn with_sock<R>(key: Key, f: impl FnOnce(&mut Sock) -> R) -> Option<R> {
    with_table(|t| t.get(key).map(f))
}

/// Restores the previous waiter when [`running_as`] ends, unwinding included.
struct RestoreWaiter(Option<Waiter>);

impl Drop for RestoreWaiter {
    fn drop(&mut self) {
        CURRENT.with(|c| c.set(self.0));
    }
}

/// Runs `f` (a resume of `waiter`'s coroutine): socket calls made meanwhile wait on behalf
/// of `waiter`.
pub fn running_as<R>(waiter: Waiter, f: impl FnOnce() -> R) -> R {
    let _restore = RestoreWaiter(CURRENT.with(|c| c.replace(Some(waiter))));
    f()
}

/// The coroutine being resumed, if the runtime said.
pub(super) fn current_waiter() -> Option<Waiter> {
    CURRENT.with(|c| c.get())
}

/// Live sockets (tests, `show` commands).
pub fn live_count() -> usize {
    with_table(|t| t.socks.len())
}

/// A socket event reached the runtime: does I/O, and completes the pending operation if
/// it can. Stale keys are ignored.
pub fn on_ready(cx: &mut Ctx<'_>, key: Key, ready: Ready) -> Option<Completion> {
    let _ = ready; // the socket is asked directly: edge events only say "look again"
    let registry = Some(cx.registry);
    with_table(|t| {
        let sock = t.get(key)?;
        if sock.resolving.is_some() {
            return resolve_ready(cx, key, sock);
        }
        sock.check_connect(registry);
        sock.flush(registry);
        let reading = matches!(
            sock.pending.as_ref().map(|p| &p.op),
            Some(Op::Receive { .. } | Op::Http(_))
        );
        // A waiting reader reads everything; otherwise read ahead up to READ_AHEAD and
        // leave the rest in the kernel (the next receive reads it before waiting).
        let arrived = sock.fill(registry, (!reading).then_some(READ_AHEAD));
        if let Some((waiter, results)) = sock.try_complete() {
            return Some(Completion { waiter, results });
        }
        // Still waiting: data arriving pushes the read timeout back (an inactivity timeout,
        // as HAProxy's). The armed timer stays; when it fires early, `on_timer` re-arms it
        // at the new deadline, so a busy socket keeps one timer, not one per event.
        if let Some(p) = sock.pending.as_mut() {
            if arrived && matches!(p.op, Op::Receive { .. } | Op::Http(_)) {
                if let Some(d) = sock.timeouts.read {
                    p.deadline = Some(cx.now + d);
                }
            }
        }
        None
    })
}

/// A timer armed for socket `key` expired: if its pending operation still has that
/// deadline, the operation times out.
pub fn on_timer(cx: &mut Ctx<'_>, key: Key, deadline: Instant) -> Option<Completion> {
    let registry = Some(cx.registry);
    with_table(|t| {
        let sock = t.get(key)?;
        let p = sock.pending.as_ref()?;
        match p.deadline {
            Some(at) if at == deadline => {}
            Some(later) if later > deadline => {
                cx.timers
                    .arm(later, TimerTarget::Entry(Kind::LuaSocket, key));
                return None;
            }
            _ => return None,
        }
        if sock.resolving.is_some() {
            return resolve_timer(cx, key, sock, deadline);
        }
        let waiter = p.waiter;
        let results = sock.time_out(registry)?;
        Some(Completion { waiter, results })
    })
}

/// Closes the sockets whose Lua objects were collected. Safe points only: after a resume,
/// once per reactor iteration.
pub fn reap(registry: Option<&Registry>) -> usize {
    let keys = ORPHANS.with(|o| std::mem::take(&mut *o.borrow_mut()));
    with_table(|t| {
        let mut n = 0;
        for key in keys {
            if let Some(mut sock) = t.remove(key) {
                sock.shut(registry);
                n += 1;
            }
        }
        n
    })
}

/// `waiter`'s coroutine is over: its pending operations are dropped (the sockets stay
/// for whoever still holds them). Returns whether it connected sockets, in which case the
/// caller runs a full collection and then [`reap`]s.
pub fn coroutine_ended(waiter: Waiter) -> bool {
    with_table(|t| {
        for (_, sock) in t.socks.iter_mut() {
            if sock.pending.as_ref().is_some_and(|p| p.waiter == waiter) {
                sock.pending = None;
                // Nobody waits for the HTTP client's lookup any more: no connection
                // must follow it (closing the UDP sockets takes them out of epoll).
                if let Some(mut r) = sock.resolving.take() {
                    r.query.close(None);
                    sock.conn = Conn::Closed;
                }
            }
        }
        let before = t.used_by.len();
        t.used_by.retain(|w| *w != waiter);
        t.used_by.len() != before
    })
}

// ---- the Lua side -----------------------------------------------------------------------

/// Whether the running C function was called with `:` (Lua then counts arguments without
/// `self` in its messages, as `luaL_argerror` does).
fn called_as_method(l: *mut ffi::lua_State) -> bool {
    let mut ar = ffi::lua_Debug::zeroed();
    // SAFETY: level 0 is the running C function; `lua_getstack` and `lua_getinfo` with
    // "n" only read the call information (no allocation, no metamethod: they never raise),
    // and `namewhat` points at a static string or is null.
    unsafe {
        if ffi::lua_getstack(l, 0, &mut ar) == 0 {
            return false;
        }
        ffi::lua_getinfo(l, c"n".as_ptr(), &mut ar);
        !ar.namewhat.is_null() && std::ffi::CStr::from_ptr(ar.namewhat).to_bytes() == b"method"
    }
}

/// An argument error numbered as Lua numbers it for method calls.
fn arg_error(ctx: &CallCtx, n: c_int, msg: &str) -> LuaError {
    let n = if called_as_method(ctx.raw()) {
        n - 1
    } else {
        n
    };
    if n == 0 {
        return LuaError::runtime(format!("calling '{}' on bad self ({msg})", ctx.name()));
    }
    ctx.arg_error(n, msg)
}

fn type_error(ctx: &CallCtx, n: c_int, expected: &str) -> LuaError {
    arg_error(
        ctx,
        n,
        &format!("{expected} expected, got {}", ctx.type_name(n)),
    )
}

/// Argument `n` as an integer (`luaL_checkinteger`: numbers with an integer value and
/// numeric strings).
fn arg_integer(ctx: &CallCtx, n: c_int) -> Result<i64, LuaError> {
    match ctx.value(n) {
        Value::Integer(i) => Ok(i),
        Value::Number(f) if f.fract() == 0.0 && f.abs() < 9.2e18 => Ok(f as i64),
        Value::Number(_) => Err(arg_error(ctx, n, "number has no integer representation")),
        Value::String(s) => {
            let t = String::from_utf8_lossy(&s);
            let t = t.trim();
            t.parse::<i64>()
                .ok()
                .or_else(|| {
                    t.parse::<f64>()
                        .ok()
                        .filter(|f| f.fract() == 0.0)
                        .map(|f| f as i64)
                })
                .ok_or_else(|| type_error(ctx, n, "number"))
        }
        _ => Err(type_error(ctx, n, "number")),
    }
}

/// Argument `n` as a number (`luaL_checknumber`).
fn arg_number(ctx: &CallCtx, n: c_int) -> Result<f64, LuaError> {
    match ctx.value(n) {
        Value::Integer(i) => Ok(i as f64),
        Value::Number(f) => Ok(f),
        Value::String(s) => String::from_utf8_lossy(&s)
            .trim()
            .parse::<f64>()
            .map_err(|_| type_error(ctx, n, "number")),
        _ => Err(type_error(ctx, n, "number")),
    }
}

/// Argument `n` as bytes (`luaL_checklstring`: strings and numbers).
fn arg_bytes(ctx: &CallCtx, n: c_int) -> Result<Vec<u8>, LuaError> {
    match ctx.value(n) {
        Value::String(_) | Value::Integer(_) | Value::Number(_) => ctx.bytes(n),
        _ => Err(type_error(ctx, n, "string")),
    }
}

/// `self`: the socket's key.
fn this(ctx: &CallCtx) -> Result<Key, LuaError> {
    match ctx.userdata(1, &SOCKET) {
        Ok(r) => Ok(r.0),
        Err(_) => Err(type_error(ctx, 1, "Socket")),
    }
}

fn push_values(ctx: &mut CallCtx, values: &[Value]) -> Result<c_int, LuaError> {
    for v in values {
        match v {
            Value::Nil | Value::Other(_) => ctx.push_nil()?,
            Value::Boolean(b) => ctx.push_boolean(*b)?,
            Value::Integer(i) => ctx.push_integer(*i)?,
            Value::Number(f) => ctx.push_number(*f)?,
            Value::String(s) => ctx.push_bytes(s)?,
        }
    }
    Ok(values.len() as c_int)
}

/// Creates a socket slot for a new Lua object (`None`: more sockets than a poll token
/// can name).
pub(super) fn new_socket() -> Option<Key> {
    with_table(|t| t.socks.insert(Sock::new()))
}

/// `core.tcp()`: a new, unconnected `Socket`. In a `lua-load` body HAProxy has no socket
/// machinery yet and raises the error reproduced here.
fn tcp(ctx: &mut CallCtx) -> Result<c_int, LuaError> {
    if core()?.phase.get() == Phase::Body {
        return Err(LuaError::runtime("socket: uninitialized pools."));
    }
    let key = new_socket().ok_or_else(|| LuaError::runtime("socket: too many sockets."))?;
    let owner = ctx.running_task().map(crate::lua::stats::socket_opened);
    ctx.push_userdata(&SOCKET, SocketRef(key, RefCell::new(owner)))?;
    Ok(1)
}

/// Parses `connect`'s destination as HAProxy does: `[ipv4@|ipv6@]host:port`, `[v6]:port`,
/// `unix@path` or `/path`, `abns@name`; `*` or an empty host is 0.0.0.0. Host names are
/// refused, as by HAProxy (no resolution on the data path). `port` is the optional second
/// argument, appended as `:port`.
pub fn parse_target(host: &str, port: Option<i64>) -> Result<Target, String> {
    let shown = match port {
        Some(_) => format!("{host}:"),
        None => host.to_string(),
    };
    let cannot = || format!("connect: cannot parse destination address '{shown}'");
    if let Some(path) = host.strip_prefix("unix@") {
        return Ok(Target::Unix(path.into()));
    }
    if let Some(name) = host.strip_prefix("abns@") {
        return Ok(Target::Abstract(name.as_bytes().to_vec()));
    }
    if host.starts_with('/') {
        return Ok(Target::Unix(host.into()));
    }
    let (family, rest) = if let Some(r) = host.strip_prefix("ipv4@") {
        (Some(4), r)
    } else if let Some(r) = host.strip_prefix("ipv6@") {
        (Some(6), r)
    } else if host.contains('@') {
        return Err(cannot());
    } else {
        (None, host)
    };
    let full = match port {
        Some(p) => format!("{rest}:{p}"),
        None => rest.to_string(),
    };
    // The port is after the last colon; `[v6]` brackets are optional.
    let (ip_part, port_part) = match full.rsplit_once(':') {
        Some((ip, p)) if !ip.is_empty() || p.is_empty() => (ip, Some(p)),
        Some((_, p)) => ("", Some(p)),
        None => (full.as_str(), None),
    };
    let ip_text = ip_part.trim_start_matches('[').trim_end_matches(']');
    let ip: IpAddr = if ip_text.is_empty() || ip_text == "*" {
        IpAddr::V4(Ipv4Addr::UNSPECIFIED)
    } else {
        ip_text.parse().map_err(|_| cannot())?
    };
    match (family, ip) {
        (Some(4), IpAddr::V6(_)) | (Some(6), IpAddr::V4(_)) => return Err(cannot()),
        _ => {}
    }
    let port: u16 = match port_part {
        None | Some("") => return Err("connect: port missing".into()),
        Some(p) => p.parse().map_err(|_| cannot())?,
    };
    Ok(Target::Inet(SocketAddr::new(ip, port)))
}

/// How the calling coroutine waits for the socket `key` doing `op`: it is recorded, the
/// deadline armed, and the coroutine yields. `timeout` is the one for this operation.
fn wait(ctx: &mut CallCtx, key: Key, op: Op, timeout: Option<Duration>) -> Result<c_int, LuaError> {
    let now = host::with_host(|h| h.cx.now.max(Instant::now())).unwrap_or_else(Instant::now);
    wait_until(ctx, key, op, timeout.map(|d| now + d))
}

/// [`wait`] with its deadline (`None`: none).
fn wait_until(ctx: &mut CallCtx, key: Key, op: Op, deadline: Option<Instant>) -> Result<c_int, LuaError> {
    let waiter = current_waiter().ok_or_else(|| {
        LuaError::runtime("sockets can only wait in a task, an action or a service")
    })?;
    if with_sock(key, |s| s.pending.is_some()).unwrap_or(false) {
        return Err(LuaError::runtime(
            "socket: another coroutine is already waiting on this socket",
        ));
    }
    let armed = host::with_host(|h| {
        if let Some(at) = deadline {
            h.cx.timers
                .arm(at, TimerTarget::Entry(Kind::LuaSocket, key));
        }
        deadline
    });
    let Some(deadline) = armed else {
        return Err(LuaError::runtime(
            "sockets need the reactor: not available here",
        ));
    };
    ctx.yield_now(WaitReason::Io)?;
    with_sock(key, |s| {
        s.pending = Some(Pending {
            waiter,
            op,
            deadline,
        })
    });
    Ok(0)
}

fn connect(ctx: &mut CallCtx) -> Result<c_int, LuaError> {
    if ctx.nargs() < 2 {
        return Err(LuaError::runtime("connect: need at least 2 arguments"));
    }
    connect_to(ctx, false)
}

/// `connect` and `connect_ssl`: with `ssl`, a TLS session that verifies nothing and
/// sends no SNI, as HAProxy 2.6's `connect_ssl`.
fn connect_to(ctx: &mut CallCtx, ssl: bool) -> Result<c_int, LuaError> {
    let key = this(ctx)?;
    let host = String::from_utf8_lossy(&arg_bytes(ctx, 2)?).into_owned();
    let port = match ctx.value(3) {
        Value::Nil => None,
        _ => Some(arg_integer(ctx, 3)?),
    };
    let target = parse_target(&host, port).map_err(LuaError::runtime)?;
    // In an init function HAProxy's connect silently does nothing.
    if core()?.phase.get() != Phase::Running {
        return Ok(0);
    }
    let state = with_sock(key, |s| s.conn)
        .ok_or_else(|| LuaError::runtime("Socket object no longer valid"))?;
    if state == Conn::Connected {
        ctx.push_integer(1)?;
        return Ok(1);
    }
    let tls = match (&target, ssl) {
        (Target::Inet(a), true) => Some((crate::tls::insecure_client_config(), crate::tls::ServerTls::server_name(None, Some(a.ip())))),
        (_, true) => return Err(LuaError::runtime("connect_ssl: TLS needs an IP address")),
        _ => None,
    };
    if !open(key, &target, Vec::new(), tls)? {
        return push_values(ctx, &cant_connect());
    }
    if let Some(r) = with_sock(key, |s| s.attempt(&mut Op::Connect)).flatten() {
        return push_values(ctx, &r);
    }
    let timeout = with_sock(key, |s| s.timeouts.connect).flatten();
    wait(ctx, key, Op::Connect, timeout)
}

/// Starts connecting socket `key` to `target` on behalf of the running coroutine, with
/// `first` queued to be written once connected. `Ok(false)`: the connection failed at once.
fn open(key: Key, target: &Target, first: Vec<u8>, tls: Option<TlsStart>) -> Result<bool, LuaError> {
    let Some(waiter) = current_waiter() else {
        return Err(LuaError::runtime(
            "sockets can only connect in a task, an action or a service",
        ));
    };
    let opened = host::with_host(|h| {
        let mut t = Transport::open(target, tls).ok()?;
        let tok = token::encode(Kind::LuaSocket, key);
        h.cx.registry
            .register(t.source(), tok, Interest::READABLE | Interest::WRITABLE)
            .ok()?;
        Some(t)
    })
    .ok_or_else(|| LuaError::runtime("sockets need the reactor: not available here"))?;
    let Some(transport) = opened else {
        return Ok(false);
    };
    with_table(|t| {
        if !t.used_by.contains(&waiter) {
            t.used_by.push(waiter);
        }
        let s = t
            .get(key)
            .ok_or_else(|| LuaError::runtime("Socket object no longer valid"))?;
        s.transport = Some(transport);
        s.conn = Conn::Connecting;
        s.rbuf.clear();
        s.eof = false;
        s.wbuf = first;
        s.check_connect(None);
        s.flush(None);
        Ok(true)
    })
}

/// Runs an HTTP exchange of `core.httpclient()` on socket `key`: resolves `dest` if it
/// is a name, connects, sends `request`, and waits until `exchange` has the response (or
/// the failure) for [`take_http_result`]. `timeout` bounds the connect and each wait for
/// the server; the resolution is bounded by its section (`timeout retry`,
/// `resolve_retries`).
pub(super) fn start_exchange(
    ctx: &mut CallCtx,
    key: Key,
    dest: super::httpclient::Destination,
    request: Vec<u8>,
    exchange: super::httpclient::Exchange,
    timeout: Option<Duration>,
    tls: Option<TlsStart>,
) -> Result<c_int, LuaError> {
    if core()?.phase.get() != Phase::Running {
        ctx.push_str("the HTTP client is only available in tasks, actions and services")?;
        return Ok(1);
    }
    with_sock(key, |s| {
        s.shut(None);
        s.http_result = None;
        if timeout.is_some() {
            s.timeouts = Timeouts {
                connect: timeout,
                read: timeout,
                write: timeout,
            };
        }
    });
    let mut op = Op::Http(Box::new(exchange));
    let target = match dest {
        super::httpclient::Destination::Addr(t) => t,
        super::httpclient::Destination::Name { host, port } => {
            let settings = match lookup::httpclient() {
                Ok(s) => s,
                Err(why) => {
                    unresolved(key, &host, &why, None);
                    return Ok(0);
                }
            };
            let now = host::with_host(|h| h.cx.now.max(Instant::now())).unwrap_or_else(Instant::now);
            match lookup::cached(&settings, &host, now) {
                Some(ip) => Target::Inet(SocketAddr::new(ip, port)),
                None => return resolve_first(ctx, key, (settings, &host), Then { port, request, tls }, op, now),
            }
        }
    };
    if !open(key, &target, request, tls)? {
        with_sock(key, |s| {
            s.http_result = Some(super::httpclient::Outcome::unavailable())
        });
        return Ok(0);
    }
    if with_sock(key, |s| s.attempt(&mut op)).flatten().is_some() {
        return Ok(0);
    }
    let timeout = with_sock(key, |s| s.timeouts.connect).flatten();
    wait(ctx, key, op, timeout)
}

/// Starts resolving `host` for the HTTP exchange `op` and waits: the socket's events
/// ([`on_ready`], [`on_timer`]) carry the lookup on, then the connection
/// ([`resolved`]).
fn resolve_first(
    ctx: &mut CallCtx,
    key: Key,
    (settings, host): (Arc<lookup::Settings>, &str),
    then: Then,
    op: Op,
    now: Instant,
) -> Result<c_int, LuaError> {
    let Some(waiter) = current_waiter() else {
        return Err(LuaError::runtime(
            "sockets can only connect in a task, an action or a service",
        ));
    };
    let tok = token::encode(Kind::LuaSocket, key);
    let section = settings.section.name.clone();
    let started = host::with_host(|h| Query::start(h.cx.registry, tok, settings, host, now).map(|query| Resolving { query, then }))
        .ok_or_else(|| LuaError::runtime("sockets need the reactor: not available here"))?;
    let r = match started {
        Ok(r) => r,
        Err(failure) => {
            unresolved(key, host, failure.text(), Some(&section));
            return Ok(0);
        }
    };
    let deadline = r.query.deadline();
    with_table(|t| {
        if !t.used_by.contains(&waiter) {
            t.used_by.push(waiter);
        }
        if let Some(s) = t.get(key) {
            s.resolving = Some(Box::new(r));
            s.conn = Conn::Resolving;
        }
    });
    wait_until(ctx, key, op, Some(deadline))
}

/// The HTTP client's host did not resolve: HAProxy's empty 503, and a warning naming
/// the host.
fn unresolved(key: Key, host: &str, why: &str, section: Option<&str>) {
    with_sock(key, |s| s.http_result = Some(super::httpclient::Outcome::unresolved()));
    warn_unresolved(host, why, section);
}

fn warn_unresolved(host: &str, why: &str, section: Option<&str>) {
    let via = section.map(|s| format!(" with resolvers '{s}'")).unwrap_or_default();
    crate::diag::emit(
        crate::diag::Severity::Warning,
        format_args!("httpclient: cannot resolve '{host}'{via}: {why}."),
    );
}

/// The lookup of socket `key`'s HTTP exchange ended: connect to the address (the
/// exchange then goes on as any other), or fail it with the 503 of a name that does
/// not resolve.
fn resolved(cx: &mut Ctx<'_>, key: Key, sock: &mut Sock, outcome: Result<IpAddr, lookup::Failure>) -> Option<Completion> {
    let mut r = sock.resolving.take()?;
    let registry = cx.registry;
    r.query.close(Some(registry));
    if sock.pending.is_none() {
        // Nobody waits for this exchange any more (`coroutine_ended` drops the lookup
        // too): no connection.
        sock.shut(Some(registry));
        return None;
    }
    let ip = match outcome {
        Ok(ip) => ip,
        Err(failure) => {
            sock.shut(Some(registry));
            sock.http_result = Some(super::httpclient::Outcome::unresolved());
            warn_unresolved(r.query.name(), failure.text(), Some(&r.query.settings().section.name));
            let p = sock.pending.take()?;
            return Some(Completion { waiter: p.waiter, results: Vec::new() });
        }
    };
    lookup::remember(r.query.settings(), r.query.name(), ip, cx.now);
    let target = Target::Inet(SocketAddr::new(ip, r.then.port));
    let tok = token::encode(Kind::LuaSocket, key);
    let opened = Transport::open(&target, r.then.tls.take()).ok().and_then(|mut t| {
        registry.register(t.source(), tok, Interest::READABLE | Interest::WRITABLE).ok()?;
        Some(t)
    });
    match opened {
        Some(t) => {
            sock.transport = Some(t);
            sock.conn = Conn::Connecting;
            sock.rbuf.clear();
            sock.eof = false;
            sock.wbuf = std::mem::take(&mut r.then.request);
            sock.check_connect(Some(registry));
            sock.flush(Some(registry));
        }
        None => sock.conn = Conn::Closed,
    }
    // From here on, the connection's own deadline.
    let deadline = sock.timeouts.connect.map(|d| cx.now + d);
    if let Some(p) = sock.pending.as_mut() {
        p.deadline = deadline;
    }
    if let Some(at) = deadline {
        cx.timers.arm(at, TimerTarget::Entry(Kind::LuaSocket, key));
    }
    sock.try_complete().map(|(waiter, results)| Completion { waiter, results })
}

/// Socket `key` is resolving and one of its name-server sockets is readable.
fn resolve_ready(cx: &mut Ctx<'_>, key: Key, sock: &mut Sock) -> Option<Completion> {
    let r = sock.resolving.as_mut()?;
    let before = r.query.deadline();
    if let Some(outcome) = r.query.on_readable(cx.now) {
        return resolved(cx, key, sock, outcome.map(|addrs| crate::dns::query::chosen(&addrs)));
    }
    // A fallback query went out: its own deadline.
    let after = r.query.deadline();
    if after != before {
        if let Some(p) = sock.pending.as_mut() {
            p.deadline = Some(after);
        }
        cx.timers.arm(after, TimerTarget::Entry(Kind::LuaSocket, key));
    }
    None
}

/// Socket `key` is resolving and its query's deadline passed: ask again, or fail.
fn resolve_timer(cx: &mut Ctx<'_>, key: Key, sock: &mut Sock, deadline: Instant) -> Option<Completion> {
    let r = sock.resolving.as_mut()?;
    if let Some(outcome) = r.query.on_timer(cx.now.max(deadline)) {
        return resolved(cx, key, sock, outcome.map(|addrs| crate::dns::query::chosen(&addrs)));
    }
    let next = r.query.deadline();
    if let Some(p) = sock.pending.as_mut() {
        p.deadline = Some(next);
    }
    cx.timers.arm(next, TimerTarget::Entry(Kind::LuaSocket, key));
    None
}

/// The result of the last HTTP exchange on socket `key`.
pub(super) fn take_http_result(key: Key) -> Option<super::httpclient::Outcome> {
    with_sock(key, |s| s.http_result.take()).flatten()
}

/// `connect_ssl(addr, port)`: `connect` over TLS (HAProxy's argument check first). Like
/// HAProxy 2.6 it verifies no certificate and sends no SNI.
fn connect_ssl(ctx: &mut CallCtx) -> Result<c_int, LuaError> {
    if ctx.nargs() != 3 {
        return Err(LuaError::runtime("'connect_ssl' needs 3 arguments"));
    }
    connect_to(ctx, true)
}

/// `send(data [, i [, j]])`: bytes `i..j` of `data` (negative indexes count from the end,
/// as `string.sub`); returns how many were taken, or -1 on a closed socket.
fn send(ctx: &mut CallCtx) -> Result<c_int, LuaError> {
    if ctx.nargs() < 2 {
        return Err(LuaError::runtime("'send' needs at least 2 arguments"));
    }
    let key = this(ctx)?;
    let data = arg_bytes(ctx, 2)?;
    let len = data.len() as i64;
    let mut i = match ctx.value(3) {
        Value::Nil => 1,
        _ => arg_integer(ctx, 3)?,
    };
    let mut j = match ctx.value(4) {
        Value::Nil => len,
        _ => arg_integer(ctx, 4)?,
    };
    if i < 0 {
        i = (len + i + 1).max(1);
    }
    i = i.max(1);
    if j < 0 {
        j += len + 1;
    }
    j = j.min(len);
    let registry_flush = |s: &mut Sock| {
        host::with_host(|h| s.flush(Some(h.cx.registry))).unwrap_or_else(|| s.flush(None))
    };
    let outcome = with_sock(key, |s| {
        if matches!(s.conn, Conn::Closed | Conn::Fresh) {
            return Err(-1);
        }
        if i > j {
            return Err(0);
        }
        let count = j - i + 1;
        s.wbuf
            .extend_from_slice(&data[(i - 1) as usize..j as usize]);
        registry_flush(s);
        if s.conn == Conn::Closed {
            return Err(-1);
        }
        Ok((count, s.wbuf.len() <= SEND_BUFFER, s.timeouts.write))
    });
    match outcome {
        None => {
            ctx.push_integer(-1)?;
            Ok(1)
        }
        Some(Err(n)) | Some(Ok((n, true, _))) => {
            ctx.push_integer(n)?;
            Ok(1)
        }
        Some(Ok((count, false, timeout))) => wait(ctx, key, Op::Send { count }, timeout),
    }
}

/// `receive([pattern [, prefix]])`: `*l` (the default) a line, `*a` everything until the
/// peer closes, or a byte count; `prefix` goes before the data.
fn receive(ctx: &mut CallCtx) -> Result<c_int, LuaError> {
    let key = this(ctx)?;
    let pattern = match ctx.value(2) {
        Value::String(s) => match s.as_slice() {
            b"*l" => Pattern::Line,
            b"*a" => Pattern::All,
            _ => return Err(LuaError::runtime("Unsupported pattern.")),
        },
        Value::Integer(_) | Value::Number(_) => {
            let n = arg_integer(ctx, 2)?;
            if n < 0 {
                return Err(LuaError::runtime("Unsupported size."));
            }
            Pattern::Bytes(n as usize)
        }
        _ => Pattern::Line,
    };
    let prefix = match ctx.value(3) {
        Value::Nil => Vec::new(),
        _ => arg_bytes(ctx, 3)?,
    };
    let registry_fill = |s: &mut Sock| {
        host::with_host(|h| s.fill(Some(h.cx.registry), None)).unwrap_or_else(|| s.fill(None, None))
    };
    let mut op = Op::Receive { pattern, prefix };
    let now = with_sock(key, |s| {
        registry_fill(s);
        s.attempt(&mut op)
    });
    match now {
        None => push_values(ctx, &closed_results()),
        Some(Some(r)) => push_values(ctx, &r),
        Some(None) => {
            let timeout = with_sock(key, |s| s.timeouts.read).flatten();
            wait(ctx, key, op, timeout)
        }
    }
}

/// `settimeout(seconds)`: the connect, read and write timeouts; a fraction gives
/// milliseconds; 0 means none (HAProxy's "eternity" tick). Returns 1.
fn settimeout(ctx: &mut CallCtx) -> Result<c_int, LuaError> {
    if ctx.nargs() != 2 {
        return Err(LuaError::runtime("'settimeout' needs 2 arguments"));
    }
    let key = this(ctx)?;
    let secs = arg_number(ctx, 2)?;
    if secs < 0.0 {
        return Err(LuaError::runtime("settimeout: cannot set negatives values"));
    }
    let ms = (secs * 1000.0) as u64;
    let d = (ms > 0).then(|| Duration::from_millis(ms));
    with_sock(key, |s| {
        s.timeouts = Timeouts {
            connect: d,
            read: d,
            write: d,
        }
    });
    ctx.push_integer(1)?;
    Ok(1)
}

fn name_of(ctx: &mut CallCtx, peer: bool) -> Result<c_int, LuaError> {
    let key = this(ctx)?;
    let name = with_sock(key, |s| match (s.conn, &s.transport) {
        (Conn::Connected, Some(t)) => t.name(peer),
        _ => None,
    })
    .flatten();
    match name {
        Some(n) => ctx.push_str(&n)?,
        None => ctx.push_nil()?,
    }
    Ok(1)
}

/// `getpeername()`: `ip:port`, `[ipv6]:port` or `unix`; nil when not connected.
fn getpeername(ctx: &mut CallCtx) -> Result<c_int, LuaError> {
    name_of(ctx, true)
}

fn getsockname(ctx: &mut CallCtx) -> Result<c_int, LuaError> {
    name_of(ctx, false)
}

/// `close()`: closes the connection; the object stays, and its calls answer as on a closed
/// socket. Returns nothing, as HAProxy.
fn close(ctx: &mut CallCtx) -> Result<c_int, LuaError> {
    let key = this(ctx)?;
    if let Ok(s) = ctx.userdata(1, &SOCKET) {
        s.uncount();
    }
    let woken = with_sock(key, |s| {
        // What `send` accepted goes out if the kernel takes it now (no lingering).
        s.flush(None);
        host::with_host(|h| s.shut(Some(h.cx.registry))).unwrap_or_else(|| s.shut(None));
        s.rbuf.clear();
        // Another coroutine waiting on this socket gets the answer of a closed socket.
        let mut p = s.pending.take()?;
        let results = s.attempt(&mut p.op).unwrap_or_else(closed_results);
        Some(Completion {
            waiter: p.waiter,
            results,
        })
    })
    .flatten();
    if let Some(c) = woken {
        COMPLETED.with(|q| q.borrow_mut().push(c));
    }
    Ok(0)
}

/// `setoption(...)`: accepted and ignored, as in HAProxy.
fn setoption(ctx: &mut CallCtx) -> Result<c_int, LuaError> {
    this(ctx)?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destinations_parse_as_haproxy_reads_them() {
        let inet = |s: &str| Target::Inet(s.parse().unwrap());
        assert_eq!(
            parse_target("127.0.0.1", Some(80)),
            Ok(inet("127.0.0.1:80"))
        );
        assert_eq!(parse_target("127.0.0.1:81", None), Ok(inet("127.0.0.1:81")));
        assert_eq!(
            parse_target("ipv4@10.0.0.1:5", None),
            Ok(inet("10.0.0.1:5"))
        );
        assert_eq!(parse_target("::1", Some(80)), Ok(inet("[::1]:80")));
        assert_eq!(parse_target("[::1]:80", None), Ok(inet("[::1]:80")));
        assert_eq!(parse_target("ipv6@::1", Some(8)), Ok(inet("[::1]:8")));
        assert_eq!(parse_target("*", Some(8)), Ok(inet("0.0.0.0:8")));
        assert_eq!(
            parse_target("unix@/tmp/s", None),
            Ok(Target::Unix("/tmp/s".into()))
        );
        assert_eq!(
            parse_target("/tmp/s", None),
            Ok(Target::Unix("/tmp/s".into()))
        );
        assert_eq!(
            parse_target("abns@x", None),
            Ok(Target::Abstract(b"x".to_vec()))
        );
        assert_eq!(
            parse_target("127.0.0.1", None),
            Err("connect: port missing".into())
        );
        assert_eq!(
            parse_target("localhost", Some(80)),
            Err("connect: cannot parse destination address 'localhost:'".into())
        );
        assert_eq!(
            parse_target("127.0.0.1:1", Some(80)),
            Err("connect: cannot parse destination address '127.0.0.1:1:'".into())
        );
        assert!(parse_target("ipv4@::1", Some(1)).is_err());
        assert!(parse_target("fd@3", None).is_err());
    }

    /// A coroutine that ends while its HTTP client resolves (its stream went away):
    /// the lookup is dropped, so no connection follows the answer.
    #[test]
    fn a_lookup_nobody_waits_for_is_dropped() {
        let loc = crate::config::model::Location { file: Arc::from("t"), line: 1 };
        let mut section = crate::config::parse::resolvers::with_defaults("dns", &loc);
        section.nameservers = vec![("ns".into(), "127.0.0.1:53".parse().unwrap())];
        let settings = Arc::new(lookup::Settings { section, prefer: crate::config::model::ResolvePrefer::Ipv4 });
        let query = Query::detached(settings, "x.test", Instant::now());
        let key = new_socket().unwrap();
        let waiter = Waiter::Task(key);
        with_sock(key, |s| {
            let then = Then { port: 80, request: b"GET / HTTP/1.1\r\n\r\n".to_vec(), tls: None };
            s.resolving = Some(Box::new(Resolving { query, then }));
            s.conn = Conn::Resolving;
            let exchange = super::super::httpclient::Exchange::new(crate::http::Method::Get);
            s.pending = Some(Pending { waiter, op: Op::Http(Box::new(exchange)), deadline: None });
        });
        coroutine_ended(waiter);
        let left = with_sock(key, |s| (s.resolving.is_none(), s.conn, s.pending.is_none())).unwrap();
        assert_eq!(left, (true, Conn::Closed, true));
    }

    fn sock_with(data: &[u8], eof: bool) -> Sock {
        let mut s = Sock::new();
        s.conn = Conn::Connected;
        s.rbuf = data.to_vec();
        s.eof = eof;
        s
    }

    fn text(v: &[Value]) -> Vec<String> {
        v.iter()
            .map(|v| match v {
                Value::String(s) => String::from_utf8_lossy(s).into_owned(),
                Value::Nil => "nil".into(),
                other => format!("{other:?}"),
            })
            .collect()
    }

    #[test]
    fn receive_patterns_take_what_they_need() {
        let mut s = sock_with(b"one\r\ntwo\nthr", false);
        assert_eq!(text(&s.try_receive(Pattern::Line, b"").unwrap()), ["one"]);
        assert_eq!(text(&s.try_receive(Pattern::Line, b">").unwrap()), [">two"]);
        assert!(s.try_receive(Pattern::Line, b"").is_none(), "no LF yet");
        assert!(s.try_receive(Pattern::Bytes(4), b"").is_none());
        assert_eq!(
            text(&s.try_receive(Pattern::Bytes(2), b"").unwrap()),
            ["th"]
        );
        assert!(
            s.try_receive(Pattern::All, b"").is_none(),
            "*a waits for the close"
        );
        s.eof = true;
        assert_eq!(text(&s.try_receive(Pattern::All, b"").unwrap()), ["r"]);
        assert_eq!(
            text(&s.try_receive(Pattern::All, b"").unwrap()),
            ["nil", CLOSED]
        );
        assert_eq!(
            text(&s.try_receive(Pattern::Line, b"p").unwrap()),
            ["p"],
            "the prefix alone"
        );
    }

    #[test]
    fn a_close_gives_the_partial_data() {
        let mut s = sock_with(b"partial", true);
        assert_eq!(
            text(&s.try_receive(Pattern::Line, b"").unwrap()),
            ["partial"]
        );
        let mut s = sock_with(b"abc", true);
        assert_eq!(
            text(&s.try_receive(Pattern::Bytes(10), b"P:").unwrap()),
            ["P:abc"]
        );
    }
}
