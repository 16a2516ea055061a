//! The shared rate limiter `moonproxy.redis_ratelimit` (lua-modules/moonproxy/
//! redis_ratelimit.lua) against a tiny Redis written here (RESP: INCR, EXPIRE, PING): two
//! proxy processes count the same requests, and a Redis that is down or goes away lets
//! requests through with a warning. Also run on HAProxy 2.6 when it is installed, since
//! the module uses only HAProxy's Lua API.

mod common;

use common::*;
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// What the tiny Redis saw: the counters and every command, in arrival order.
#[derive(Default)]
struct Store {
    counters: HashMap<String, i64>,
    commands: Vec<Vec<String>>,
}

/// Reads one RESP command (an array of bulk strings); `None` at the end of the connection.
fn read_command(r: &mut impl BufRead) -> Option<Vec<String>> {
    let mut line = String::new();
    if r.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let n: usize = line.trim_end().strip_prefix('*')?.parse().ok()?;
    let mut args = Vec::with_capacity(n);
    for _ in 0..n {
        line.clear();
        r.read_line(&mut line).ok()?;
        let len: usize = line.trim_end().strip_prefix('$')?.parse().ok()?;
        let mut bulk = vec![0; len + 2];
        r.read_exact(&mut bulk).ok()?;
        bulk.truncate(len);
        args.push(String::from_utf8(bulk).ok()?);
    }
    Some(args)
}

/// A Redis with three commands, good enough for the limiter.
fn tiny_redis() -> (Backend, Arc<Mutex<Store>>) {
    let store = Arc::new(Mutex::new(Store::default()));
    let shared = Arc::clone(&store);
    let backend = Backend::custom(move |stream: TcpStream, _| {
        let mut out = stream.try_clone().unwrap();
        let mut r = BufReader::new(stream);
        while let Some(args) = read_command(&mut r) {
            let mut s = shared.lock().unwrap();
            s.commands.push(args.clone());
            let reply = match (args[0].to_ascii_uppercase().as_str(), args.len()) {
                ("PING", 1) => "+PONG\r\n".to_string(),
                ("INCR", 2) => {
                    let n = s.counters.entry(args[1].clone()).or_insert(0);
                    *n += 1;
                    format!(":{n}\r\n")
                }
                ("EXPIRE", 3) => format!(":{}\r\n", i32::from(s.counters.contains_key(&args[1]))),
                _ => "-ERR unknown command\r\n".to_string(),
            };
            drop(s);
            if out.write_all(reply.as_bytes()).is_err() {
                return;
            }
        }
    });
    (backend, store)
}

/// A frontend limited to `limit` requests per client address by the shared limiter at
/// `redis` (a port). The window is so long (a billion seconds) that no test crosses into
/// the next one.
fn limited(bin: &PathBuf, redis: u16, limit: u32) -> ProxyBuilder {
    let root = env!("CARGO_MANIFEST_DIR");
    let config = format!(
        "
global
    lua-prepend-path {root}/lua-modules/?.lua
    lua-load {{{{dir}}}}/limiter.lua
defaults
    mode http
    timeout connect 5s
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{{{{fe}}}}
    http-request lua.ratelimit
    http-request deny deny_status 429 if {{ var(txn.ratelimit_over) -m bool }}
    http-request return status 200 content-type text/plain lf-string \"count=%[var(txn.ratelimit_count)]\"
"
    );
    let script = format!(
        "require('moonproxy.redis_ratelimit').register({{ name = 'ratelimit', server = '127.0.0.1:{redis}', limit = {limit}, window = 1000000000, timeout = 2 }})\n"
    );
    ProxyBuilder::new(&config).bin(bin).file("limiter.lua", &script)
}

#[test]
fn two_processes_share_one_counter() {
    for bin in moonproxy_and_haproxy() {
        let (redis, store) = tiny_redis();
        let a = limited(&bin, redis.port(), 3).start();
        let b = limited(&bin, redis.port(), 3).start();
        // Alternate between the two processes: the 4th request and later ones are over.
        let statuses: Vec<u16> =
            (0..6).map(|i| get_closing(if i % 2 == 0 { &a } else { &b }.port("fe"), "/").status).collect();
        assert_eq!(statuses, [200, 200, 200, 429, 429, 429], "{}", bin.display());
        assert_eq!(get_closing(a.port("fe"), "/").status, 429);

        let s = store.lock().unwrap();
        assert_eq!(s.counters.get("ratelimit:127.0.0.1:1"), Some(&7), "{}: {:?}", bin.display(), s.counters);
        // Each request: INCR then EXPIRE for two windows.
        assert_eq!(s.commands[0], ["INCR", "ratelimit:127.0.0.1:1"]);
        assert_eq!(s.commands[1], ["EXPIRE", "ratelimit:127.0.0.1:1", "2000000000"]);
        assert_eq!(s.commands.len(), 14);
    }
}

#[test]
fn the_count_reaches_the_configuration() {
    let (redis, _store) = tiny_redis();
    let proxy = limited(&moonproxy_bin(), redis.port(), 10).start();
    for n in 1..=3 {
        let reply = get_closing(proxy.port("fe"), "/");
        assert_eq!(String::from_utf8_lossy(&reply.body), format!("count={n}"));
    }
    // Sequential requests reuse one Redis connection.
    assert_eq!(redis.connections(), 1);
}

#[test]
fn redis_down_lets_requests_through_with_a_warning() {
    for bin in moonproxy_and_haproxy() {
        let dead = RefusingPort::new();
        // A limit of 0: were Redis up, every request would be refused.
        let proxy = limited(&bin, dead.port(), 0).start();
        for _ in 0..3 {
            assert_eq!(get_closing(proxy.port("fe"), "/").status, 200, "{}", bin.display());
        }
        let line = proxy.wait_for_line(
            |l| l.contains(&format!("redis_ratelimit: Redis at 127.0.0.1:{}:", dead.port())),
            DEADLINE,
        );
        assert!(line.contains("let through unchecked (failing open)"), "{line}");
    }
}

#[test]
fn redis_going_away_is_noticed_on_a_kept_connection() {
    let (mut redis, _store) = tiny_redis();
    let proxy = limited(&moonproxy_bin(), redis.port(), 1).start();
    assert_eq!(get_closing(proxy.port("fe"), "/").status, 200);
    assert_eq!(get_closing(proxy.port("fe"), "/").status, 429);
    redis.stop(); // closes the proxy's idle connection too
    assert_eq!(get_closing(proxy.port("fe"), "/").status, 200);
    proxy.wait_for_line(|l| l.contains("redis_ratelimit: Redis at") && l.contains("failing open"), DEADLINE);
}

#[test]
fn the_example_configuration_is_valid() {
    for bin in moonproxy_and_haproxy() {
        let out = ProxyBuilder::no_config()
            .bin(&bin)
            .flags(["-c", "-f", concat!(env!("CARGO_MANIFEST_DIR"), "/examples/redis-ratelimit.cfg")])
            .run();
        assert_eq!(out.code(), Some(0), "{}: {}", bin.display(), out.stderr);
    }
}
