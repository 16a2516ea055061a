//! `benchtool`: the helper binary of `bench/run.sh`. Standard library only, loopback only.
//!
//! ```text
//! benchtool serve [--port-file FILE]            HTTP/1.1 keep-alive backend on 127.0.0.1:0;
//!                                               GET /16k answers 16384 bytes, anything else 64
//! benchtool free-port                           print a port free on 127.0.0.1
//! benchtool wait-port PORT [TIMEOUT_MS]         exit 0 once PORT accepts connections
//! benchtool check PORT PATH LEN [NAME:VALUE]    one GET PATH, exit 0 if 200 with a LEN-byte body
//!                                               (and, if given, that response header)
//! benchtool requests PORT PATH N               N GETs of PATH, one after the other on one
//!                                               keep-alive connection; exit 0 if all are 200
//! benchtool idle-rss PORT PID N [SETTLE_MS]     open N connections through PORT (one request
//!                                               each, then idle), print PID's VmRSS before and
//!                                               after and the difference per connection
//! ```
//!
//! A thread per connection keeps the backend obvious and, at 50 keep-alive connections, fast
//! enough that it is never what limits the proxies under test.

use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::process::ExitCode;
use std::thread;
use std::time::{Duration, Instant};

const SMALL_BODY: usize = 64;
const LARGE_BODY: usize = 16 * 1024;
/// Bound on every blocking socket operation of the probes and of the idle client.
const IO_TIMEOUT: Duration = Duration::from_secs(5);

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let result = match args.as_slice() {
        ["serve"] => serve(None),
        ["serve", "--port-file", file] => serve(Some(file)),
        ["free-port"] => free_port().map(|port| println!("{port}")),
        ["wait-port", port] => wait_port(parse(port), 10_000),
        ["wait-port", port, timeout] => wait_port(parse(port), parse(timeout)),
        ["check", port, path, len] => check(parse(port), path, parse(len), None),
        ["requests", port, path, n] => requests(parse(port), path, parse(n)),
        ["check", port, path, len, header] => check(parse(port), path, parse(len), Some(header)),
        ["idle-rss", port, pid, n] => idle_rss(parse(port), parse(pid), parse(n), 500),
        ["idle-rss", port, pid, n, settle] => {
            idle_rss(parse(port), parse(pid), parse(n), parse(settle))
        }
        _ => {
            eprintln!("usage: see the top of bench/src/main.rs");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("benchtool: {e}");
            ExitCode::FAILURE
        }
    }
}

fn parse<T: std::str::FromStr>(text: &str) -> T {
    text.parse().unwrap_or_else(|_| {
        eprintln!("benchtool: not a number: {text:?}");
        std::process::exit(2)
    })
}

fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, port))
}

fn free_port() -> io::Result<u16> {
    Ok(TcpListener::bind(loopback(0))?.local_addr()?.port())
}

/// A complete response with a body of `len` bytes.
fn response(len: usize) -> Vec<u8> {
    let mut r = format!("HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {len}\r\n\r\n")
        .into_bytes();
    r.extend((0..len).map(|i| b'a' + (i % 26) as u8));
    r
}

fn serve(port_file: Option<&str>) -> io::Result<()> {
    let listener = TcpListener::bind(loopback(0))?;
    let port = listener.local_addr()?.port();
    match port_file {
        // Written then renamed, so a reader never sees a partial file.
        Some(file) => {
            let tmp = format!("{file}.tmp");
            std::fs::write(&tmp, format!("{port}\n"))?;
            std::fs::rename(&tmp, file)?;
        }
        None => println!("{port}"),
    }
    let small: &'static [u8] = Box::leak(response(SMALL_BODY).into_boxed_slice());
    let large: &'static [u8] = Box::leak(response(LARGE_BODY).into_boxed_slice());
    for conn in listener.incoming() {
        let Ok(conn) = conn else {
            thread::sleep(Duration::from_millis(10));
            continue;
        };
        let spawned = thread::Builder::new()
            .stack_size(64 * 1024)
            .spawn(move || {
                let _ = serve_connection(conn, small, large);
            });
        if let Err(e) = spawned {
            eprintln!("benchtool serve: cannot start a thread: {e}");
        }
    }
    Ok(())
}

/// Answers every request (a head with no body) on `conn` until the peer closes.
fn serve_connection(mut conn: TcpStream, small: &[u8], large: &[u8]) -> io::Result<()> {
    conn.set_nodelay(true)?;
    let mut buf = vec![0u8; 64 * 1024];
    let mut filled = 0;
    let mut out = Vec::with_capacity(64 * 1024);
    loop {
        let n = conn.read(&mut buf[filled..])?;
        if n == 0 {
            return Ok(());
        }
        filled += n;
        // Answer every complete head in the buffer with one write.
        let mut start = 0;
        while let Some(end) = find_head_end(&buf[start..filled]) {
            let head = &buf[start..start + end];
            let wants_large = head.split(|b| *b == b'\r').next().is_some_and(|line| {
                line.windows(4).any(|w| w == b"/16k")
            });
            out.extend_from_slice(if wants_large { large } else { small });
            start += end;
        }
        buf.copy_within(start..filled, 0);
        filled -= start;
        if filled == buf.len() {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "request head too large"));
        }
        if !out.is_empty() {
            conn.write_all(&out)?;
            out.clear();
        }
    }
}

/// The length of the head at the start of `buf`, up to and including the empty line.
fn find_head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4)
}

fn wait_port(port: u16, timeout_ms: u64) -> io::Result<()> {
    let deadline = Instant::now() + Duration::from_millis(timeout_ms);
    loop {
        if TcpStream::connect_timeout(&loopback(port), Duration::from_millis(200)).is_ok() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(io::Error::new(io::ErrorKind::TimedOut, format!("nothing listens on {port}")));
        }
        thread::sleep(Duration::from_millis(20));
    }
}

fn connect(port: u16) -> io::Result<TcpStream> {
    let conn = TcpStream::connect_timeout(&loopback(port), IO_TIMEOUT)?;
    conn.set_read_timeout(Some(IO_TIMEOUT))?;
    conn.set_write_timeout(Some(IO_TIMEOUT))?;
    Ok(conn)
}

/// Sends `GET path` on `conn` and reads the whole response; returns (status, body length).
fn exchange(conn: &mut TcpStream, path: &str) -> io::Result<(u16, usize)> {
    exchange_head(conn, path).map(|(status, len, _)| (status, len))
}

/// [`exchange`], also returning the response head, lower-cased.
fn exchange_head(conn: &mut TcpStream, path: &str) -> io::Result<(u16, usize, String)> {
    conn.write_all(format!("GET {path} HTTP/1.1\r\nHost: bench\r\n\r\n").as_bytes())?;
    let mut buf = Vec::with_capacity(LARGE_BODY + 256);
    let mut chunk = [0u8; 16 * 1024];
    let head_end = loop {
        if let Some(end) = find_head_end(&buf) {
            break end;
        }
        let n = conn.read(&mut chunk)?;
        if n == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "closed before a response"));
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "no content-length"))?;
    while buf.len() < head_end + len {
        let n = conn.read(&mut chunk)?;
        if n == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "closed in the body"));
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    Ok((status, len, head))
}

fn check(port: u16, path: &str, expected_len: usize, header: Option<&str>) -> io::Result<()> {
    let mut conn = connect(port)?;
    let (status, len, head) = exchange_head(&mut conn, path)?;
    let wrong = |what: String| Err(io::Error::new(io::ErrorKind::InvalidData, format!("GET {path}: {what}")));
    if (status, len) != (200, expected_len) {
        return wrong(format!("status {status}, {len} bytes; expected 200, {expected_len} bytes"));
    }
    if let Some(h) = header {
        let (name, value) = h.split_once(':').unwrap_or((h, ""));
        let want = format!("{}: {}", name.trim(), value.trim()).to_ascii_lowercase();
        if !head.lines().any(|l| l.trim_end() == want) {
            return wrong(format!("no '{h}' header in the response"));
        }
    }
    Ok(())
}

/// `n` requests in sequence on one connection: a fixed amount of work, for counting the
/// instructions a proxy spends on it (`bench/lua-accounting.sh`).
fn requests(port: u16, path: &str, n: usize) -> io::Result<()> {
    let mut conn = connect(port)?;
    for i in 0..n {
        let (status, _) = exchange(&mut conn, path).map_err(|e| annotate(e, i))?;
        if status != 200 {
            return Err(io::Error::new(io::ErrorKind::InvalidData, format!("request {i}: status {status}")));
        }
    }
    Ok(())
}

/// VmRSS of `pid`, in kB.
fn rss_kb(pid: u32) -> io::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "no VmRSS"))
}

/// Opens `n` connections through the proxy on `port`, each carrying one request so that the
/// proxy's connection to the backend is established too, keeps them idle for `settle_ms`,
/// and reports the proxy's RSS growth per connection.
fn idle_rss(port: u16, pid: u32, n: usize, settle_ms: u64) -> io::Result<()> {
    let before = rss_kb(pid)?;
    let mut conns = Vec::with_capacity(n);
    for i in 0..n {
        let mut conn = connect(port).map_err(|e| annotate(e, i))?;
        match exchange(&mut conn, "/64").map_err(|e| annotate(e, i))? {
            (200, SMALL_BODY) => conns.push(conn),
            (status, len) => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("connection {i}: status {status}, {len} bytes"),
                ))
            }
        }
    }
    thread::sleep(Duration::from_millis(settle_ms));
    let after = rss_kb(pid)?;
    let per_conn = (after as f64 - before as f64) * 1024.0 / n as f64;
    println!("{before} {after} {per_conn:.0}");
    Ok(())
}

fn annotate(e: io::Error, i: usize) -> io::Error {
    io::Error::new(e.kind(), format!("connection {i}: {e}"))
}
