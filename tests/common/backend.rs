//! Small servers for tests, one std thread per connection, on loopback.

use super::{loopback, wait_until};
use std::collections::HashMap;
use std::fmt;
use std::io::{self, Read, Write};
use socket2::{Domain, Socket, Type};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::{self, JoinHandle};
use std::time::Duration;

/// Connection threads do little and hold their buffers on the heap; a small stack lets a test
/// keep a thousand connections open.
const CONNECTION_STACK: usize = 256 * 1024;

/// The accept queue of a backend's listening socket.
const BACKLOG: i32 = 4096;

/// What a [`Backend`] does with each connection it accepts.
#[derive(Clone)]
pub enum Behaviour {
    /// Sends back every byte it receives; half-closes its side after the peer's end of file.
    Echo,
    /// Reads and counts everything until end of file, never writes, then closes.
    Sink,
    /// An HTTP/1.1 server with keep-alive: answers every request (head, plus a body of
    /// `Content-Length` bytes if any) with `status` and `body`; closes after a request with
    /// `Connection: close`.
    Http { status: u16, body: Vec<u8> },
    /// Sends these bytes, half-closes, then reads and discards until end of file.
    Reply(Vec<u8>),
    /// Closes every connection as soon as it is accepted.
    Close,
    /// Accepts, reads and discards, never writes and never closes (until the backend stops).
    Silent,
    /// Sends `len` bytes of [`random_bytes`]`(seed, ..)`, half-closes, then reads and discards
    /// until end of file.
    Random { seed: u64, len: u64 },
    /// Anything else: the handler owns the connection; it may count into [`Stats`].
    Custom(Handler),
}

/// A connection handler for [`Behaviour::Custom`].
pub type Handler = Arc<dyn Fn(TcpStream, &Stats) + Send + Sync>;

impl fmt::Debug for Behaviour {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Behaviour::Echo => f.write_str("Echo"),
            Behaviour::Sink => f.write_str("Sink"),
            Behaviour::Http { status, body } => write!(f, "Http({status}, {} bytes)", body.len()),
            Behaviour::Reply(bytes) => write!(f, "Reply({:?})", String::from_utf8_lossy(bytes)),
            Behaviour::Close => f.write_str("Close"),
            Behaviour::Silent => f.write_str("Silent"),
            Behaviour::Random { seed, len } => write!(f, "Random(seed {seed}, {len} bytes)"),
            Behaviour::Custom(_) => f.write_str("Custom"),
        }
    }
}

/// Counters of a [`Backend`], updated by its threads as they go.
#[derive(Debug, Default)]
pub struct Stats {
    connections: AtomicU64,
    active: AtomicU64,
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
    requests: AtomicU64,
}

impl Stats {
    /// Connections accepted since the start.
    pub fn connections(&self) -> u64 {
        self.connections.load(Ordering::SeqCst)
    }
    /// Connections currently open.
    pub fn active(&self) -> u64 {
        self.active.load(Ordering::SeqCst)
    }
    /// Bytes received from peers, all connections together.
    pub fn bytes_in(&self) -> u64 {
        self.bytes_in.load(Ordering::SeqCst)
    }
    /// Bytes sent to peers, all connections together.
    pub fn bytes_out(&self) -> u64 {
        self.bytes_out.load(Ordering::SeqCst)
    }
    /// HTTP requests answered ([`Behaviour::Http`], or a custom handler that counts them).
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::SeqCst)
    }
    pub fn add_bytes_in(&self, n: usize) {
        self.bytes_in.fetch_add(n as u64, Ordering::SeqCst);
    }
    pub fn add_bytes_out(&self, n: usize) {
        self.bytes_out.fetch_add(n as u64, Ordering::SeqCst);
    }
    pub fn add_request(&self) {
        self.requests.fetch_add(1, Ordering::SeqCst);
    }
}

/// State shared by the acceptor, the connection threads and the [`Backend`] handle.
#[derive(Default)]
struct Shared {
    stats: Stats,
    stopping: AtomicBool,
    /// A clone of every open connection, to shut them down when the backend stops.
    live: Mutex<HashMap<u64, TcpStream>>,
    /// Set (and notified) when the backend stops; [`Behaviour::Silent`] waits on it.
    stopped: (Mutex<bool>, Condvar),
}

/// A test server on 127.0.0.1 (or another loopback address: [`Backend::start_at`]).
/// Stopped on drop: the listening socket is closed and every open connection is shut down.
pub struct Backend {
    addr: SocketAddr,
    behaviour: Behaviour,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
    /// A second descriptor of the listening socket, for `stop` to shut it down.
    listener: TcpListener,
}

impl Backend {
    /// Starts a server with `behaviour` on a free port.
    pub fn start(behaviour: Behaviour) -> Backend {
        Backend::start_on(0, behaviour).expect("start a backend on 127.0.0.1:0")
    }

    /// Starts a server on a given port (e.g. the port of a backend stopped earlier, to bring a
    /// server back); fails if the port is taken.
    pub fn start_on(port: u16, behaviour: Behaviour) -> io::Result<Backend> {
        let socket = Socket::new(Domain::IPV4, Type::STREAM, None)?;
        socket.set_reuse_address(true)?;
        socket.bind(&loopback(port).into())?;
        Backend::start_on_socket(socket, behaviour)
    }

    /// Starts a server on another loopback address (`127.0.0.2:<port>`: Linux answers
    /// on all of 127.0.0.0/8), e.g. on the port a proxy listens on at 127.0.0.1, for a
    /// server without a port, which connects to the client's destination port.
    pub fn start_at(addr: SocketAddr, behaviour: Behaviour) -> io::Result<Backend> {
        let socket = Socket::new(Domain::IPV4, Type::STREAM, None)?;
        socket.set_reuse_address(true)?;
        socket.bind(&addr.into())?;
        Backend::start_on_socket(socket, behaviour)
    }

    /// Starts a server on a socket already bound (a [`RefusingPort`] coming to life).
    fn start_on_socket(socket: Socket, behaviour: Behaviour) -> io::Result<Backend> {
        // A deep accept queue: a burst of connections (a thousand clients at once) must not
        // overflow it, or the kernel drops SYNs and the proxy sees connect timeouts.
        socket.listen(BACKLOG)?;
        let listener = TcpListener::from(socket);
        let addr = listener.local_addr()?;
        let copy = listener.try_clone()?;
        let port = addr.port();
        let shared = Arc::new(Shared::default());
        let acceptor = {
            let shared = Arc::clone(&shared);
            let behaviour = behaviour.clone();
            thread::Builder::new()
                .name(format!("backend-{port}"))
                .spawn(move || accept_loop(listener, behaviour, shared))?
        };
        Ok(Backend {
            addr,
            behaviour,
            shared,
            acceptor: Some(acceptor),
            listener: copy,
        })
    }

    pub fn echo() -> Backend {
        Backend::start(Behaviour::Echo)
    }
    pub fn sink() -> Backend {
        Backend::start(Behaviour::Sink)
    }
    /// An HTTP server answering `200` with `body`.
    pub fn http(body: &[u8]) -> Backend {
        Backend::start(Behaviour::Http {
            status: 200,
            body: body.to_vec(),
        })
    }
    /// Answers every connection with `bytes` (a server's name, to see which one was picked)
    /// and half-closes.
    pub fn reply(bytes: &[u8]) -> Backend {
        Backend::start(Behaviour::Reply(bytes.to_vec()))
    }
    /// Runs `handler` on every connection, in a thread of its own.
    pub fn custom(handler: impl Fn(TcpStream, &Stats) + Send + Sync + 'static) -> Backend {
        Backend::start(Behaviour::Custom(Arc::new(handler)))
    }
    pub fn close() -> Backend {
        Backend::start(Behaviour::Close)
    }
    pub fn silent() -> Backend {
        Backend::start(Behaviour::Silent)
    }
    pub fn random(seed: u64, len: u64) -> Backend {
        Backend::start(Behaviour::Random { seed, len })
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
    pub fn behaviour(&self) -> &Behaviour {
        &self.behaviour
    }
    pub fn stats(&self) -> &Stats {
        &self.shared.stats
    }
    /// Connections accepted since the start.
    pub fn connections(&self) -> u64 {
        self.stats().connections()
    }

    /// Waits until at least `n` connections were accepted; false after `timeout`.
    pub fn wait_connections(&self, n: u64, timeout: Duration) -> bool {
        wait_until(timeout, || self.connections() >= n)
    }

    /// Shuts down every open connection and goes on accepting new ones (a server closing
    /// its idle keep-alive connections).
    pub fn close_connections(&self) {
        for (_, conn) in self.shared.live.lock().unwrap().drain() {
            let _ = conn.shutdown(Shutdown::Both);
        }
    }

    /// Closes the listening socket (new connections are refused) and shuts down every open
    /// connection. Idempotent; also done on drop.
    pub fn stop(&mut self) {
        let Some(acceptor) = self.acceptor.take() else {
            return;
        };
        self.shared.stopping.store(true, Ordering::SeqCst);
        // Shutting a listener down ends its LISTEN state at once, whoever else holds a
        // descriptor of it (a process another test is forking keeps a copy until its exec:
        // a CI run saw the port still listening after closing it), and wakes the acceptor
        // blocked in accept(), which sees `stopping` and returns.
        let _ = socket2::SockRef::from(&self.listener).shutdown(Shutdown::Read);
        let _ = acceptor.join();
        for (_, conn) in self.shared.live.lock().unwrap().drain() {
            let _ = conn.shutdown(Shutdown::Both);
        }
        let (stopped, cond) = &self.shared.stopped;
        *stopped.lock().unwrap() = true;
        cond.notify_all();
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        self.stop();
    }
}

fn accept_loop(listener: TcpListener, behaviour: Behaviour, shared: Arc<Shared>) {
    let mut next_id = 0u64;
    for conn in listener.incoming() {
        if shared.stopping.load(Ordering::SeqCst) {
            break;
        }
        let conn = match conn {
            Ok(conn) => conn,
            Err(_) => {
                // Out of descriptors or an aborted handshake: try again shortly.
                thread::sleep(Duration::from_millis(10));
                continue;
            }
        };
        shared.stats.connections.fetch_add(1, Ordering::SeqCst);
        shared.stats.active.fetch_add(1, Ordering::SeqCst);
        let id = next_id;
        next_id += 1;
        if let Ok(clone) = conn.try_clone() {
            shared.live.lock().unwrap().insert(id, clone);
        }
        let shared = Arc::clone(&shared);
        let behaviour = behaviour.clone();
        let spawned = thread::Builder::new()
            .stack_size(CONNECTION_STACK)
            .spawn(move || {
                serve(conn, &behaviour, &shared);
                shared.live.lock().unwrap().remove(&id);
                shared.stats.active.fetch_sub(1, Ordering::SeqCst);
            });
        if spawned.is_err() {
            // The connection was moved into the closure that failed to start: it is closed.
            eprintln!("[harness] backend: cannot start a connection thread");
        }
    }
}

fn serve(mut conn: TcpStream, behaviour: &Behaviour, shared: &Shared) {
    let stats = &shared.stats;
    match behaviour {
        Behaviour::Echo => {
            let mut buf = vec![0; 16 * 1024];
            loop {
                match conn.read(&mut buf) {
                    Ok(0) => {
                        let _ = conn.shutdown(Shutdown::Write);
                        drain(&mut conn, stats);
                        return;
                    }
                    Ok(n) => {
                        stats.add_bytes_in(n);
                        if conn.write_all(&buf[..n]).is_err() {
                            return;
                        }
                        stats.add_bytes_out(n);
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(_) => return,
                }
            }
        }
        Behaviour::Sink => drain(&mut conn, stats),
        Behaviour::Http { status, body } => serve_http(conn, *status, body, stats),
        Behaviour::Close => drop(conn),
        Behaviour::Silent => {
            drain(&mut conn, stats);
            let (stopped, cond) = &shared.stopped;
            let mut stopped = stopped.lock().unwrap();
            while !*stopped {
                stopped = cond.wait(stopped).unwrap();
            }
        }
        Behaviour::Reply(bytes) => {
            if conn.write_all(bytes).is_err() {
                return;
            }
            stats.add_bytes_out(bytes.len());
            let _ = conn.shutdown(Shutdown::Write);
            drain(&mut conn, stats);
        }
        Behaviour::Random { seed, len } => {
            let mut counted = Counted {
                inner: &mut conn,
                stats,
            };
            if send_random(&mut counted, *seed, *len).is_err() {
                return;
            }
            let _ = conn.shutdown(Shutdown::Write);
            drain(&mut conn, stats);
        }
        Behaviour::Custom(handler) => handler(conn, stats),
    }
}

/// A writer that adds what it writes to [`Stats::bytes_out`].
struct Counted<'a, W> {
    inner: W,
    stats: &'a Stats,
}

impl<W: Write> Write for Counted<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.stats.add_bytes_out(n);
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Reads and discards until end of file or an error.
fn drain(conn: &mut TcpStream, stats: &Stats) {
    let mut buf = vec![0; 16 * 1024];
    loop {
        match conn.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => stats.add_bytes_in(n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return,
        }
    }
}

fn serve_http(mut conn: TcpStream, status: u16, body: &[u8], stats: &Stats) {
    let reason = match status {
        200 => "OK",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Status",
    };
    let mut response = format!(
        "HTTP/1.1 {status} {reason}\r\ncontent-length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    response.extend_from_slice(body);

    let mut pending: Vec<u8> = Vec::new();
    let mut buf = vec![0; 16 * 1024];
    loop {
        // Answer every complete request already buffered (pipelining works naturally).
        while let Some(head_len) = find(&pending, b"\r\n\r\n").map(|i| i + 4) {
            let head = String::from_utf8_lossy(&pending[..head_len]).to_ascii_lowercase();
            let body_len = header_value(&head, "content-length")
                .and_then(|v| v.parse::<usize>().ok())
                .unwrap_or(0);
            if pending.len() < head_len + body_len {
                break;
            }
            pending.drain(..head_len + body_len);
            if conn.write_all(&response).is_err() {
                return;
            }
            stats.add_bytes_out(response.len());
            stats.add_request();
            if header_value(&head, "connection").is_some_and(|v| v.contains("close")) {
                let _ = conn.shutdown(Shutdown::Write);
                return;
            }
        }
        match conn.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => {
                stats.add_bytes_in(n);
                pending.extend_from_slice(&buf[..n]);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return,
        }
    }
}

/// The trimmed value of header `name` in a lower-cased request head.
fn header_value<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.split("\r\n").skip(1).find_map(|line| {
        let (key, value) = line.split_once(':')?;
        (key.trim() == name).then(|| value.trim())
    })
}

pub(crate) fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Reads a request head from `conn` (up to and including the empty line, and whatever
/// came with it); `None` if the peer closed or failed first. For the custom backends of
/// the tests.
pub fn read_request_head(conn: &mut impl Read) -> Option<Vec<u8>> {
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match conn.read(&mut buf) {
            Ok(0) | Err(_) => return None,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    Some(head)
}

/// `len` bytes of the deterministic pseudo-random stream for `seed`: what
/// [`Behaviour::Random`] sends, for a test to compare with what it received.
pub fn random_bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut bytes = vec![0; len];
    RandomStream::new(seed).fill(&mut bytes);
    bytes
}

/// A deterministic byte stream (SplitMix64), identical whatever the sizes of the reads:
/// filling 10 then 20 bytes gives the same 30 bytes as filling 30 at once. Lets a test
/// check 100 MB transferred without holding them in memory.
#[derive(Clone, Debug)]
pub struct RandomStream {
    state: u64,
    /// Bytes of the last generated word not handed out yet (little-endian order).
    word: [u8; 8],
    used: usize,
}

impl RandomStream {
    pub fn new(seed: u64) -> RandomStream {
        RandomStream {
            state: seed,
            word: [0; 8],
            used: 8,
        }
    }

    fn next_word(&mut self) -> [u8; 8] {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        (z ^ (z >> 31)).to_le_bytes()
    }

    /// Fills `out` with the next `out.len()` bytes of the stream.
    pub fn fill(&mut self, out: &mut [u8]) {
        let mut out = out;
        // Finish the current word, then whole words, then start a new word for the tail.
        while self.used < 8 && !out.is_empty() {
            out[0] = self.word[self.used];
            self.used += 1;
            out = &mut out[1..];
        }
        let mut chunks = out.chunks_exact_mut(8);
        for chunk in &mut chunks {
            chunk.copy_from_slice(&self.next_word());
        }
        let tail = chunks.into_remainder();
        if !tail.is_empty() {
            self.word = self.next_word();
            tail.copy_from_slice(&self.word[..tail.len()]);
            self.used = tail.len();
        }
    }
}

/// Writes `len` bytes of the stream for `seed` ([`random_bytes`]) to `out`, 64 KiB at a time.
pub fn send_random(out: &mut impl Write, seed: u64, len: u64) -> io::Result<()> {
    let mut source = RandomStream::new(seed);
    let mut buf = vec![0; 64 * 1024];
    let mut left = len;
    while left > 0 {
        let n = left.min(buf.len() as u64) as usize;
        source.fill(&mut buf[..n]);
        out.write_all(&buf[..n])?;
        left -= n as u64;
    }
    Ok(())
}

/// Reads `input` to end of file and checks that it is exactly the `len` bytes of the stream
/// for `seed`; returns how many bytes were read. Panics at the first differing block, on more
/// bytes than `len`, on a short stream, or on a read error (a timeout included).
pub fn expect_random(input: &mut impl Read, seed: u64, len: u64) -> u64 {
    let mut source = RandomStream::new(seed);
    let mut got = vec![0; 64 * 1024];
    let mut want = vec![0; 64 * 1024];
    let mut seen = 0u64;
    loop {
        let n = match input.read(&mut got) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => panic!("read after {seen} of {len} bytes: {e}"),
        };
        assert!(seen + n as u64 <= len, "more bytes than sent: {} of {len}", seen + n as u64);
        source.fill(&mut want[..n]);
        assert!(got[..n] == want[..n], "byte mismatch in the block at offset {seen}");
        seen += n as u64;
    }
    assert_eq!(seen, len, "short stream: {seen} of {len} bytes");
    seen
}

/// A loopback port that refuses connections and stays reserved: its socket is bound but not
/// listening, so no other test can take the port (as it could one merely freed again). A
/// server that is down, for retries and health checks; [`listen`](Self::listen) brings it
/// up on the same port.
pub struct RefusingPort {
    socket: Socket,
    port: u16,
}

impl RefusingPort {
    pub fn new() -> RefusingPort {
        let socket = Socket::new(Domain::IPV4, Type::STREAM, None).expect("socket");
        socket
            .bind(&loopback(0).into())
            .expect("bind 127.0.0.1:0");
        let port = socket
            .local_addr()
            .ok()
            .and_then(|a| a.as_socket())
            .expect("local_addr of a bound socket")
            .port();
        RefusingPort { socket, port }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn addr(&self) -> SocketAddr {
        loopback(self.port)
    }

    /// Starts listening: a [`Backend`] with `behaviour` on this very port.
    pub fn listen(self, behaviour: Behaviour) -> Backend {
        Backend::start_on_socket(self.socket, behaviour).expect("listen on a reserved port")
    }
}
