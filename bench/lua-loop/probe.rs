//! `probe`: the network helper of `bench/lua-loop/run.sh`. One file, standard library only,
//! loopback only; run.sh builds it with `rustc -O` (no Cargo, so `cargo test` never sees it).
//!
//! ```text
//! probe echo --port-file FILE        TCP echo server on 127.0.0.1:0 (a thread per connection);
//!                                    writes its port to FILE and serves until killed
//! probe free-port                    print a port free on 127.0.0.1
//! probe wait-port PORT TIMEOUT_MS    exit 0 once PORT accepts connections
//! probe latency PORT N INTERVAL_MS BUDGET_MS
//!                                    up to N round trips through PORT, INTERVAL_MS apart, each
//!                                    on a new connection: connect, send 32 bytes, read them
//!                                    back, close; none starts after BUDGET_MS. Prints
//!                                    "median_us max_us ok failed"
//! ```
//!
//! A round trip is timed from just before `connect` to the last byte echoed back, so it covers
//! the proxy accepting the client, connecting to the backend and forwarding both ways: every
//! step the proxy's reactor must take while a Lua task spins on the same thread.

use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::process::ExitCode;
use std::thread;
use std::time::{Duration, Instant};

/// A round trip slower than this counts as failed (and bounds every socket operation). Long,
/// because a stall of seconds is a result worth reporting (HAProxy at forced-yield 1000000).
const ROUND_TRIP_TIMEOUT: Duration = Duration::from_secs(10);
const PAYLOAD: &[u8; 32] = b"moonproxy lua-loop latency probe";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let result = match args.as_slice() {
        ["echo", "--port-file", file] => echo(file),
        ["free-port"] => free_port().map(|port| println!("{port}")),
        ["wait-port", port, timeout] => wait_port(parse(port), parse(timeout)),
        ["latency", port, n, interval, budget] => {
            latency(parse(port), parse(n), parse(interval), parse(budget))
        }
        _ => {
            eprintln!("usage: see the top of bench/lua-loop/probe.rs");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("probe: {e}");
            ExitCode::FAILURE
        }
    }
}

fn parse<T: std::str::FromStr>(text: &str) -> T {
    text.parse().unwrap_or_else(|_| {
        eprintln!("probe: not a number: {text:?}");
        std::process::exit(2)
    })
}

fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, port))
}

fn free_port() -> io::Result<u16> {
    Ok(TcpListener::bind(loopback(0))?.local_addr()?.port())
}

fn echo(port_file: &str) -> io::Result<()> {
    let listener = TcpListener::bind(loopback(0))?;
    // Write then rename, so that run.sh never reads a half-written port.
    let tmp = format!("{port_file}.tmp");
    std::fs::write(&tmp, format!("{}\n", listener.local_addr()?.port()))?;
    std::fs::rename(&tmp, port_file)?;
    for conn in listener.incoming() {
        let Ok(mut conn) = conn else { continue };
        thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n @ 1..) = conn.read(&mut buf) {
                if conn.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        });
    }
    Ok(())
}

fn wait_port(port: u16, timeout_ms: u64) -> io::Result<()> {
    let deadline = Instant::now() + Duration::from_millis(timeout_ms);
    loop {
        match TcpStream::connect_timeout(&loopback(port), Duration::from_millis(100)) {
            Ok(_) => return Ok(()),
            Err(e) if Instant::now() >= deadline => return Err(e),
            Err(_) => thread::sleep(Duration::from_millis(20)),
        }
    }
}

/// One connect + send + echo + close; the time until the last byte came back.
fn round_trip(port: u16) -> io::Result<Duration> {
    let start = Instant::now();
    let mut conn = TcpStream::connect_timeout(&loopback(port), ROUND_TRIP_TIMEOUT)?;
    conn.set_nodelay(true)?;
    conn.set_read_timeout(Some(ROUND_TRIP_TIMEOUT))?;
    conn.set_write_timeout(Some(ROUND_TRIP_TIMEOUT))?;
    conn.write_all(PAYLOAD)?;
    let mut got = [0u8; PAYLOAD.len()];
    conn.read_exact(&mut got)?;
    let elapsed = start.elapsed();
    let _ = conn.shutdown(Shutdown::Both);
    if &got != PAYLOAD {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "echo differs from what was sent"));
    }
    Ok(elapsed)
}

fn latency(port: u16, n: usize, interval_ms: u64, budget_ms: u64) -> io::Result<()> {
    let deadline = Instant::now() + Duration::from_millis(budget_ms);
    let mut times = Vec::with_capacity(n);
    let mut failed = 0;
    for i in 0..n {
        if i > 0 {
            thread::sleep(Duration::from_millis(interval_ms));
            if Instant::now() >= deadline {
                break;
            }
        }
        match round_trip(port) {
            Ok(t) => times.push(t.as_micros()),
            Err(e) => {
                failed += 1;
                eprintln!("probe: round trip {} of {n} failed: {e}", i + 1);
            }
        }
    }
    times.sort_unstable();
    let median = match times.len() {
        0 => return Err(io::Error::other(format!("all {failed} round trips failed"))),
        len if len % 2 == 1 => times[len / 2],
        len => (times[len / 2 - 1] + times[len / 2]) / 2,
    };
    println!("{median} {} {} {failed}", times[times.len() - 1], times.len());
    Ok(())
}
