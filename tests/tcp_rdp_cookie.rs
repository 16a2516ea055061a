//! The RDP cookie in TCP mode, side by side with HAProxy 2.6 on the same configuration:
//! `balance rdp-cookie` (the `mstshash` cookie of the client's first packet, hashed),
//! `persist rdp-cookie` (the `msts` cookie names a server's address and port), the
//! `RDP_COOKIE` and `WAIT_END` predefined ACLs in `tcp-request content` rules that wait
//! within `tcp-request inspect-delay`.

mod common;

use common::*;
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

/// The start of an X.224 connection request as an RDP client sends it, with `cookie`
/// (`mstshash=alice`) on its cookie line and a negotiation request after it.
fn packet(cookie: &str) -> Vec<u8> {
    let mut p = vec![0x03, 0x00, 0x00, 0x00, 0x00, 0xe0, 0x00, 0x00, 0x00, 0x00, 0x00];
    p.extend_from_slice(format!("Cookie: {cookie}\r\n").as_bytes());
    p.extend_from_slice(&[0x01, 0x00, 0x08, 0x00, 0x03, 0x00, 0x00, 0x00]);
    let len = p.len() as u16;
    p[2..4].copy_from_slice(&len.to_be_bytes());
    p[4] = (len - 5) as u8;
    p
}

/// The `msts` value naming 127.0.0.1:`port`: the address bytes read as a
/// little-endian integer, the port's network-order bytes read the same way.
fn msts(port: u16) -> String {
    let ip = u32::from_le_bytes([127, 0, 0, 1]);
    let port = u16::from_le_bytes(port.to_be_bytes());
    format!("msts={ip}.{port}.0000")
}

fn start(bin: &Path, a: &Backend, b: &Backend) -> Proxy {
    ProxyBuilder::new(
        "defaults
    mode tcp
    timeout connect 1s
    timeout client 5s
    timeout server 5s
listen bal
    bind 127.0.0.1:{{bal}}
    tcp-request inspect-delay 5s
    tcp-request content accept if RDP_COOKIE
    balance rdp-cookie
    server a 127.0.0.1:{{a}}
    server b 127.0.0.1:{{b}}
listen per
    bind 127.0.0.1:{{per}}
    tcp-request inspect-delay 5s
    tcp-request content accept if RDP_COOKIE
    persist rdp-cookie
    balance roundrobin
    server a 127.0.0.1:{{a}}
    server b 127.0.0.1:{{b}}
listen named
    bind 127.0.0.1:{{named}}
    tcp-request inspect-delay 5s
    tcp-request content accept if { req.rdp_cookie(user) -m found }
    balance rdp-cookie(user)
    server a 127.0.0.1:{{a}}
    server b 127.0.0.1:{{b}}
listen wait
    bind 127.0.0.1:{{wait}}
    tcp-request inspect-delay 300ms
    tcp-request content accept if WAIT_END
    server a 127.0.0.1:{{a}}
",
    )
    .bin(bin)
    .port("a", a.port())
    .port("b", b.port())
    .start()
}

/// Sends `parts` to `{{name}}` (a pause between them) and returns the name of the
/// server that answered.
fn ask(proxy: &Proxy, name: &str, parts: &[&[u8]]) -> String {
    let mut c = proxy.connect(name);
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            std::thread::sleep(Duration::from_millis(100));
        }
        c.stream().write_all(part).unwrap();
    }
    String::from_utf8(c.recv_until_close().0).unwrap()
}

/// The server each connection went to, in order, on one binary.
fn run(bin: &Path) -> Vec<String> {
    let (a, b) = (Backend::reply(b"a"), Backend::reply(b"b"));
    let proxy = start(bin, &a, &b);
    let who = bin.display();
    let mut out = Vec::new();
    // balance rdp-cookie: each user sticks to the server its hash gives.
    let users = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi"];
    for user in users {
        let first = ask(&proxy, "bal", &[&packet(&format!("mstshash={user}"))]);
        let again = ask(&proxy, "bal", &[&packet(&format!("mstshash={user}"))]);
        assert_eq!(first, again, "{who}: {user} changed servers");
        out.push(format!("bal {user} {first}"));
    }
    let spread: std::collections::HashSet<_> = out.iter().map(|l| l.rsplit(' ').next().unwrap().to_string()).collect();
    assert_eq!(spread.len(), 2, "{who}: every user on one server: {out:?}");
    // The cookie line cut in two: the rule waits for its end, then the same server.
    let p = packet("mstshash=alice");
    let cut = ask(&proxy, "bal", &[&p[..20], &p[20..]]);
    assert_eq!(format!("bal alice {cut}"), out[0], "{who}");
    // A named cookie.
    for user in users {
        out.push(format!("named {user} {}", ask(&proxy, "named", &[&packet(&format!("user={user}"))])));
    }

    // persist rdp-cookie: the msts cookie names b (then a) whatever the round robin says.
    for _ in 0..3 {
        assert_eq!(ask(&proxy, "per", &[&packet(&msts(b.port()))]), "b", "{who}");
    }
    assert_eq!(ask(&proxy, "per", &[&packet(&msts(a.port()))]), "a", "{who}");
    // A cookie naming no server: round robin.
    let rr: Vec<String> = (0..4).map(|_| ask(&proxy, "per", &[&packet("msts=1.2.0000")])).collect();
    assert_eq!(rr.iter().filter(|s| *s == "a").count(), 2, "{who}: {rr:?}");

    // WAIT_END: the rule holds until the inspect delay ends.
    let t = Instant::now();
    assert_eq!(ask(&proxy, "wait", &[b"hello"]), "a", "{who}");
    assert!(t.elapsed() >= Duration::from_millis(250), "{who}: accepted before the inspect delay ended");
    out
}

#[test]
fn rdp_cookie_balance_and_persistence_as_haproxy() {
    let ours = run(&moonproxy_bin());
    let Some(haproxy) = haproxy_bin() else {
        assert!(std::env::var_os("CI").is_none(), "CI must install haproxy (see .ci/run)");
        eprintln!("haproxy not installed: comparison skipped");
        return;
    };
    let theirs = run(&haproxy);
    assert_eq!(ours, theirs, "moonproxy (left) and HAProxy (right) pick different servers");
}

#[test]
fn persist_and_balance_rdp_cookie_are_checked_as_haproxy_does() {
    for (line, error) in [
        ("persist rdp-cookie()", "persist rdp-cookie(name)' requires an rdp cookie name."),
        ("persist rdp-cookiex", "persist rdp-cookie(name)' requires an rdp cookie name."),
        ("persist other", "unknown persist method."),
        ("persist", "missing persist method."),
        ("balance rdp-cookie(", "balance rdp-cookie : missing cookie name."),
        ("balance rdp-cookie()", "balance rdp-cookie : missing cookie name."),
    ] {
        for bin in moonproxy_and_haproxy() {
            let out = ProxyBuilder::new(&format!(
                "defaults\n    mode tcp\n    timeout connect 1s\n    timeout client 1s\n    timeout server 1s\nlisten l\n    bind 127.0.0.1:{{{{fe}}}}\n    {line}\n    server s 127.0.0.1:1\n"
            ))
            .bin(&bin)
            .arg("-c")
            .run();
            let text = &out.stderr;
            assert!(text.contains(&format!(" : {error}")), "{}: {line}: {text}", bin.display());
        }
    }
}
