//! Rings: `ring` sections, `log ring@<name>`, `log tcp@<addr>`, the rings' TCP servers
//! and `show events`, compared with HAProxy 2.6 where the output is deterministic.

mod common;

use common::*;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;

/// Requests answered by the proxy itself, their paths logged raw into rings.
const CONFIG: &str = "global
    stats socket {{dir}}/cli.sock level admin
    stats socket {{dir}}/user.sock level user
ring buf
    description \"request paths\"
    format raw
    maxlen 12
    size 32768
ring fwd
    format raw
    timeout connect 2s
    timeout server 2s
    server syslog 127.0.0.1:{{octet}} log-proto octet-count
defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{{fe}}
    log-format \"%HP\"
    log ring@buf local0
    log ring@fwd local0
    log tcp@127.0.0.1:{{legacy}} format raw local1
    http-request return status 200 content-type text/plain string ok
";

/// Reads from `listener`'s first connection until `want` bytes came (or the deadline).
fn receive(listener: &TcpListener, want: usize) -> String {
    let (mut s, _) = listener.accept().expect("the ring's server connects");
    s.set_read_timeout(Some(DEADLINE)).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    while got.len() < want {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&got).into_owned()
}

struct Seen {
    list: String,
    dump: String,
    new_only: String,
    user_dump: String,
    user_list: String,
    errors: Vec<String>,
    octet: String,
    legacy: String,
}

fn run(bin: &Path) -> Seen {
    let octet = TcpListener::bind("127.0.0.1:0").unwrap();
    let legacy = TcpListener::bind("127.0.0.1:0").unwrap();
    let proxy = ProxyBuilder::new(CONFIG)
        .bin(bin)
        .port("octet", octet.local_addr().unwrap().port())
        .port("legacy", legacy.local_addr().unwrap().port())
        .start();
    let sock = proxy.dir().join("cli.sock");
    let user = proxy.dir().join("user.sock");
    assert!(proxy.wait_for_path(&sock, DEADLINE) && proxy.wait_for_path(&user, DEADLINE));
    for path in ["/a", "/bb", "/a-path-longer-than-twelve"] {
        assert_eq!(get_closing(proxy.port("fe"), path).status, 200);
    }
    // Three log lines, each in every ring.
    let dump_done = wait_until(DEADLINE, || cli(&sock, "show events buf\n").lines().filter(|l| !l.is_empty()).count() == 3);
    assert!(dump_done, "{}", cli(&sock, "show events buf\n"));
    let dir = proxy.dir().display().to_string();
    Seen {
        list: cli(&sock, "show events\n").replace(&dir, "DIR"),
        dump: cli(&sock, "show events buf\n"),
        new_only: cli(&sock, "show events buf -n\n"),
        user_dump: cli(&user, "show events buf\n"),
        user_list: cli(&user, "show events\n").replace(&dir, "DIR"),
        errors: ["show events nope\n", "show events buf -x\n", "show events -w buf\n", "show events stdout\n"].iter().map(|c| cli(&sock, c)).collect(),
        octet: receive(&octet, "2 /a3 /bb26 /a-path-longer-than-twelve".len()),
        legacy: receive(&legacy, "/a\n/bb\n/a-path-longer-than-twelve\n".len()),
    }
}

#[test]
fn rings_show_events_and_forwarding_match_haproxy() {
    let seen: Vec<(String, Seen)> = moonproxy_and_haproxy().iter().map(|b| (b.display().to_string(), run(b))).collect();
    let ours = &seen[0].1;
    assert_eq!(ours.dump, "/a\n/bb\n/a-path-long\n\n", "maxlen 12 cuts the third line");
    assert_eq!(ours.new_only, "\n");
    assert_eq!(ours.user_dump, "Permission denied\n\n");
    assert!(ours.list.starts_with("Supported events sinks are listed below. Add -w(wait), -n(new). Any key to stop\n"), "{}", ours.list);
    for row in [
        "    buf0       : type=buffer, 0 dropped, in-memory ring buffer\n",
        "    buf        : type=buffer, 0 dropped, request paths\n",
        "    fwd        : type=buffer, 0 dropped, fwd\n",
        "    ring#1     : type=buffer, 0 dropped, created from logserver declared into 'DIR/proxy.cfg' at line 24\n",
    ] {
        assert!(ours.list.contains(row), "{row:?} in\n{}", ours.list);
    }
    assert_eq!(ours.list, ours.user_list);
    assert_eq!(ours.errors, ["No such event sink\n", "unknown option\n", "No such event sink\n", "Nothing to report for this sink\n"]);
    assert_eq!(ours.octet, "2 /a3 /bb26 /a-path-longer-than-twelve");
    assert_eq!(ours.legacy, "/a\n/bb\n/a-path-longer-than-twelve\n");
    if let Some((hname, theirs)) = seen.get(1) {
        assert_eq!(ours.list, theirs.list, "show events ({hname})");
        assert_eq!(ours.user_list, theirs.user_list, "show events at level user ({hname})");
        assert_eq!((&ours.dump, &ours.new_only, &ours.user_dump), (&theirs.dump, &theirs.new_only, &theirs.user_dump), "{hname}");
        assert_eq!(ours.errors, theirs.errors, "{hname}");
        assert_eq!((&ours.octet, &ours.legacy), (&theirs.octet, &theirs.legacy), "what the servers receive ({hname})");
    }
}

/// `show events <ring> -w` sends new lines as they come, until the client sends
/// anything; other clients are served meanwhile.
#[test]
fn show_events_wait_follows_new_lines_until_a_key() {
    let cfg = "global
    stats socket {{dir}}/cli.sock level admin
ring buf
    format raw
defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{{fe}}
    log-format \"%HP\"
    log ring@buf local0
    http-request return status 200 content-type text/plain string ok
";
    let proxy = ProxyBuilder::new(cfg).start();
    let sock = proxy.dir().join("cli.sock");
    assert!(proxy.wait_for_path(&sock, DEADLINE));
    assert_eq!(get_closing(proxy.port("fe"), "/old").status, 200);
    assert!(wait_until(DEADLINE, || cli(&sock, "show events buf\n") == "/old\n\n"));
    let mut follower = connect_unix(&sock);
    follower.write_all(b"show events buf -w -n\n").unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 256];
    for path in ["/new-1", "/new-2"] {
        assert_eq!(get_closing(proxy.port("fe"), path).status, 200);
        // Another CLI client is answered while one follows.
        assert_eq!(cli(&sock, "show events nope\n"), "No such event sink\n");
        while !String::from_utf8_lossy(&got).contains(path) {
            let n = follower.read(&mut buf).expect("the follower gets the new line");
            assert!(n > 0, "the session stays open while following");
            got.extend_from_slice(&buf[..n]);
        }
    }
    assert_eq!(String::from_utf8_lossy(&got), "/new-1\n/new-2\n", "-n: no old line");
    follower.write_all(b"\n").unwrap();
    let mut rest = Vec::new();
    follower.read_to_end(&mut rest).unwrap();
    assert_eq!(rest, b"\n", "a key ends the answer, then the session");
    // The ring itself kept everything.
    assert_eq!(cli(&sock, "show events buf\n"), "/old\n/new-1\n/new-2\n\n");
}

/// Configuration errors in a ring section name the file and line, as HAProxy's.
#[test]
fn ring_errors_match_haproxy() {
    for (body, message) in [
        ("ring r\n    size 300\n", "proxy.cfg:2] : ignoring new size '300' that is smaller than current size '16384' for ring 'r'."),
        ("ring r\n    format foo\n", "proxy.cfg:2] : unknown format 'foo'."),
        ("ring r\n    bogus 1\n", "proxy.cfg:2] : unknown statement 'bogus'."),
        ("ring r\n    server s 127.0.0.1:1 log-proto x\n", "proxy.cfg:2] : 'server r/s' : 'log-proto' expects one of 'legacy' or 'octet-count' but got 'x'."),
        ("ring r\nring r\n", "proxy.cfg:2] : sink named 'r' already exists."),
    ] {
        for bin in moonproxy_and_haproxy() {
            let out = ProxyBuilder::new(body).bin(&bin).flags(["-c"]).run();
            assert_ne!(out.code(), Some(0), "{}: {body}", bin.display());
            assert!(out.stderr.contains(message), "{}: {body}\n{}", bin.display(), out.stderr);
        }
    }
}
