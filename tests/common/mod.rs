//! The integration-test harness shared by every file in `tests/`.
//!
//! Use it from a test file with `mod common;` and `use common::*;`.
//!
//! It gives a test four things, all on loopback and on ephemeral ports (never a fixed port):
//!
//! - [`ProxyBuilder`] / [`Proxy`]: run the real binary (moonproxy by default, or any binary that
//!   speaks HAProxy's command line, such as `haproxy` itself, see [`haproxy_bin`]) on a
//!   configuration given as a string. `{{name}}` placeholders in the configuration are replaced
//!   by free loopback ports picked by the harness (or by values the test gives), the file is
//!   written to a fresh temporary directory, and [`ProxyBuilder::start`] returns once every
//!   picked port is listening. stdout and stderr are captured line by line in the background
//!   ([`Proxy::wait_for_line`]); signals go through the `kill` command ([`Proxy::signal`]); the
//!   process is killed and its directory removed when the [`Proxy`] is dropped.
//! - [`Backend`]: small servers on std threads ([`Behaviour`]: echo, sink, fixed HTTP response,
//!   close at once, silent, deterministic random data, or a custom handler), each with its port
//!   and counters (connections, bytes, requests).
//! - [`Client`]: a raw TCP client with blocking reads bounded by a deadline, half-close, close
//!   detection and a minimal HTTP/1.1 exchange.
//! - [`logged_tcp_config`]: a TCP configuration that logs every stream with [`LOG_FORMAT`],
//!   whose lines [`field`] takes apart; [`TcpLog`] splits an `option tcplog` line.
//! - [`http_app`]: an HTTP/1.1 application server (echo, upload, download, 100-continue,
//!   upgrade, bad and silent responses), and [`HttpReader`], a streaming HTTP reader.
//! - A few helpers: [`free_port`], [`RefusingPort`] (a dead server), [`wait_until`],
//!   [`connect_unix`], [`recv_all_from`], [`random_bytes`], [`send_random`] / [`expect_random`],
//!   [`cli`] (one stats-socket exchange) and [`get_closing`] (one GET on its own connection).
//! - [`tls`] (not glob-exported; `use common::tls::*;`): test certificates, rustls clients
//!   and a TLS server, for the TLS test files.
//! - [`spoa`] (not glob-exported): an SPOE agent speaking SPOP, recording the NOTIFY
//!   frames it gets and answering with the actions a test chooses (`tests/spoe.rs`).
//!
//! Timeouts in this module are deadlines after which a test fails with a clear message (and the
//! captured output of the proxy); they are generous on purpose and are never assertions about
//! speed. See `doc/testing.md` for the test doctrine.

// Each test file compiles its own copy of this module and uses only part of it.
#![allow(dead_code, unused_imports)]

mod backend;
mod client;
mod http;
mod log;
mod proxy;
pub mod dns;
pub mod spoa;
pub mod tls;

pub use backend::{
    expect_random, random_bytes, read_request_head, send_random, Backend, Behaviour, Handler, RandomStream,
    RefusingPort, Stats,
};
pub use client::{Client, CloseKind, HttpResponse};
pub use http::{http_app, pattern, Head, HttpReader};
pub use log::{field, is_log_line, logged_tcp_config, TcpLog, LOG_FORMAT};
pub use proxy::{
    assert_runs_agree, haproxy_bin, is_listening, moonproxy_and_haproxy, moonproxy_bin, render, Line, Proxy,
    ProxyBuilder, RunOutput, Source,
};

use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

/// Default deadline for anything a test waits for: start-up, a log line, a reply, an exit.
/// Long enough for a loaded CI machine; a healthy run never comes close.
pub const DEADLINE: Duration = Duration::from_secs(10);

/// The loopback address with `port`.
pub fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, port))
}

/// Connects to `addr` from the loopback address `127.0.0.<host>` (Linux answers on all
/// of 127.0.0.0/8), for tests of rules and balancing on the client address, and returns
/// what the peer sent until it closed (or reset) the connection.
pub fn recv_all_from(addr: SocketAddr, host: u8) -> String {
    use std::io::Read;
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    let from: SocketAddr = format!("127.0.0.{host}:0").parse().unwrap();
    sock.bind(&from.into()).unwrap();
    sock.connect(&addr.into()).unwrap();
    let mut stream: std::net::TcpStream = sock.into();
    stream.set_read_timeout(Some(DEADLINE)).unwrap();
    let mut got = Vec::new();
    let _ = stream.read_to_end(&mut got); // a rejecting proxy may reset
    String::from_utf8_lossy(&got).into_owned()
}

/// A port that was free on 127.0.0.1 a moment ago, and that no other test process of the
/// run is handed: the kernel picks it for a listener bound to port 0, which is then closed,
/// and the port is claimed with a lock file (`<tmp>/moonproxy-tests/ports/<port>`) this
/// process holds until it exits.
///
/// The claim matters because moonproxy and HAProxy set SO_REUSEPORT on their listeners: two
/// test processes handed the same port would both bind it and share its connections (a
/// client then talks to the other test's proxy). Any other process may still take the
/// port before the caller binds it, which is why [`ProxyBuilder::start`] retries with new
/// ports when the proxy fails to bind.
pub fn free_port() -> u16 {
    use std::sync::Mutex;
    static CLAIMS: Mutex<Vec<std::fs::File>> = Mutex::new(Vec::new());
    let dir = std::env::temp_dir().join("moonproxy-tests").join("ports");
    std::fs::create_dir_all(&dir).expect("create the port claims directory");
    loop {
        let listener = TcpListener::bind(loopback(0)).expect("bind 127.0.0.1:0");
        let port = listener.local_addr().expect("local_addr of a bound listener").port();
        let claim = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join(port.to_string()))
            .expect("open a port claim file");
        // flock: a second open file description conflicts, in this process too.
        if claim.try_lock().is_ok() {
            CLAIMS.lock().unwrap_or_else(|e| e.into_inner()).push(claim);
            return port;
        }
    }
}

/// A [`free_port`] kept out of every other process's reach until the caller's proxy is
/// listening on it: a socket bound to it with SO_REUSEPORT, never listening. The proxy
/// (moonproxy or HAProxy, both set SO_REUSEPORT on their listeners) binds beside it, while
/// an unrelated `bind(port 0)` (another test's backend) cannot be handed the port in the
/// meantime, which a CI run once saw: the test then talked to that backend. Drop it once
/// the proxy listens; connections never reach it.
pub struct PortHold(socket2::Socket);

/// A claimed free port and its [`PortHold`].
pub fn held_port() -> (u16, PortHold) {
    loop {
        let port = free_port();
        let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).expect("a socket");
        sock.set_reuse_port(true).expect("SO_REUSEPORT");
        // Not SO_REUSEADDR: with it, a std listener (which sets it) could bind beside a
        // socket that does not listen. Someone outside the harness may have bound the
        // port since it was picked: pick another.
        if sock.bind(&loopback(port).into()).is_ok() {
            return (port, PortHold(sock));
        }
    }
}

/// Polls `cond` every few milliseconds until it is true (returns true) or `timeout` has passed
/// (returns false). For conditions the test cannot be notified of, such as a counter reached
/// by another thread or process.
pub fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// One stats-socket exchange as `socat` does it: sends `input` on the unix socket `path`,
/// half-closes, and reads the answer to EOF (the CLI closes after answering).
pub fn cli(path: &Path, input: &str) -> String {
    use std::io::{Read, Write};
    let mut s = UnixStream::connect(path).unwrap_or_else(|e| panic!("connect {}: {e}", path.display()));
    s.set_read_timeout(Some(DEADLINE)).unwrap();
    s.write_all(input.as_bytes()).unwrap();
    s.shutdown(std::net::Shutdown::Write).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).expect("the CLI closes after answering");
    out
}

/// `GET path` on a new connection to `port` that asks to be closed: the response.
pub fn get_closing(port: u16, path: &str) -> HttpResponse {
    let mut c = Client::connect(port);
    c.http_request(format!("GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").as_bytes())
}

/// Connects to the unix socket at `path`, retrying until a listener accepts (a proxy's unix
/// listener is not waited for by [`ProxyBuilder::start`]); reads then block for at most
/// [`DEADLINE`]. Panics after [`DEADLINE`].
pub fn connect_unix(path: &Path) -> UnixStream {
    let mut stream = None;
    let connected = wait_until(DEADLINE, || {
        stream = UnixStream::connect(path).ok();
        stream.is_some()
    });
    assert!(connected, "nothing accepts on {} within {DEADLINE:?}", path.display());
    let stream = stream.expect("connected");
    stream
        .set_read_timeout(Some(DEADLINE))
        .expect("set_read_timeout");
    stream
}
