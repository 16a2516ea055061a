//! Accept rate limits compared with HAProxy 2.6: `rate-limit sessions` (frontend),
//! `maxconnrate` and `maxsessrate` (global). Over the rate, accepting pauses and the
//! connections wait in the backlog: none is refused, they are served later.
//!
//! The assertions are lower bounds on how long the whole batch takes (30 connections
//! at 10 per second cannot all be accepted in less than about two seconds, however
//! fast the machine), never upper bounds.

mod common;

use common::*;
use std::io::{Read, Write};
use std::time::{Duration, Instant};

/// Opens `n` connections at once, sends a byte on each and returns how long it took
/// until the last echo came back (every connection must be served).
fn batch(proxy: &Proxy, n: usize) -> Duration {
    let start = Instant::now();
    let mut clients: Vec<Client> = (0..n).map(|_| proxy.connect("fe")).collect();
    for c in &mut clients {
        c.write_all(b"x").unwrap();
    }
    for (i, c) in clients.iter_mut().enumerate() {
        let mut b = [0u8; 1];
        c.read_exact(&mut b).unwrap_or_else(|e| panic!("connection {i} not served: {e}"));
        assert_eq!(&b, b"x");
    }
    start.elapsed()
}

fn run(global: &str, frontend: &str) {
    let echo = Backend::echo();
    for bin in moonproxy_and_haproxy() {
        let proxy = ProxyBuilder::new(&format!(
            "global\n{global}\
             defaults\n mode tcp\n timeout connect 2s\n timeout client 20s\n timeout server 20s\n\
             frontend f\n bind 127.0.0.1:{{{{fe}}}}\n{frontend} default_backend b\n\
             backend b\n server s 127.0.0.1:{{{{be}}}}\n"
        ))
        .bin(&bin)
        .port("be", echo.port())
        .start();
        let took = batch(&proxy, 30);
        assert!(took >= Duration::from_millis(1500), "{}: 30 connections at 10/s served in {took:?}", bin.display());
    }
}

#[test]
fn rate_limit_sessions_paces_a_frontend() {
    run("", " rate-limit sessions 10\n");
}

#[test]
fn maxconnrate_paces_the_process() {
    run(" maxconnrate 10\n", "");
}

#[test]
fn maxsessrate_paces_the_process() {
    run(" maxsessrate 10\n", "");
}

#[test]
fn rate_limit_errors_as_haproxy() {
    for bin in moonproxy_and_haproxy() {
        for (line, msg) in [
            ("rate-limit", "'rate-limit' only supports 'sessions' (got '')"),
            ("rate-limit sessions", "'rate-limit sessions' expects expects an integer value (in sessions/second)"),
            ("rate-limit sessions x", "'rate-limit sessions' : unexpected character 'x' in integer value 'x'"),
        ] {
            let cfg = format!("defaults\n timeout client 1s\n timeout server 1s\n timeout connect 1s\nfrontend f\n bind 127.0.0.1:{{{{fe}}}}\n {line}\n");
            let out = ProxyBuilder::new(&cfg).bin(&bin).flags(["-c"]).run();
            assert_eq!(out.code(), Some(1), "{}: {line}", bin.display());
            assert!(out.stderr.contains(msg), "{}: {line}: {}", bin.display(), out.stderr);
        }
    }
}
