//! Stick-table synchronisation with HAProxy's peers protocol: moonproxy and HAProxy 2.6
//! sharing tables in both directions, two moonproxy nodes, a restarted node taught by
//! the others, a reload keeping the tables, and a peer sending wrong bytes.
//!
//! Tables are compared through `show table` on each process's stats socket, with the
//! entry's address and its remaining time (`exp=`) left out; rates, read by each
//! process at its own instant over a sliding window, are compared within one event.

mod common;
use common::*;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;

/// Two peers, `mp` and `hap` (each process is one of them, `{{me}}`), sharing the
/// frontend's table and a table of the `peers` section with arrays, string keys and
/// 64-bit counters.
const CFG: &str = "
global
    stats socket {{dir}}/stats.sock level admin
    localpeer {{me}}
peers p
    peer mp 127.0.0.1:{{peer_mp}}
    peer hap 127.0.0.1:{{peer_hap}}
    table strings type string len 16 size 100 expire {{expire}} store gpt(2),gpc_rate(2,10s),server_id,bytes_in_cnt
    table ints type integer size 10 expire {{expire}} store gpc0
    table v6 type ipv6 size 10 expire {{expire}} store gpc0
    table bins type binary len 4 size 10 expire {{expire}} store gpc0,http_req_cnt
defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{{fe}}
    stick-table type ip size 100 expire {{expire}} peers p store gpc0,http_req_rate(10s),conn_cur,conn_cnt
    http-request track-sc0 src
    http-request sc-inc-gpc0(0)
    http-request track-sc1 req.hdr(x-key) table p/bins if { req.hdr(x-key) -m found }
    http-request return status 200
";

struct Node {
    proxy: Proxy,
}

impl Node {
    fn start(bin: PathBuf, me: &str, peer_mp: u16, peer_hap: u16, expire: &str) -> Node {
        let proxy = ProxyBuilder::new(CFG).bin(bin).var("me", me).port("peer_mp", peer_mp).port("peer_hap", peer_hap).var("expire", expire).start();
        Node { proxy }
    }

    fn sock(&self) -> PathBuf {
        self.proxy.dir().join("stats.sock")
    }

    /// The entries of `table`, sorted, without address and `exp=`; rates apart.
    fn table(&self, table: &str) -> Vec<(String, Vec<u64>)> {
        parse_table(&cli(&self.sock(), &format!("show table {table}\n")))
    }

    fn request(&self) {
        assert_eq!(get_closing(self.proxy.port("fe"), "/").status, 200);
    }
}

/// `show table` lines: (the fields but the address, `use=`, `exp=` and the rates; the
/// rates' values).
fn parse_table(out: &str) -> Vec<(String, Vec<u64>)> {
    let mut v: Vec<(String, Vec<u64>)> = out
        .lines()
        .filter(|l| l.contains(" key="))
        .map(|l| {
            let fields: Vec<&str> = l.split(' ').skip(1).filter(|f| !f.starts_with("exp=") && !f.starts_with("use=")).collect();
            let rates = fields.iter().filter(|f| f.contains("_rate(")).map(|f| f.rsplit('=').next().unwrap().parse().unwrap()).collect();
            let rest: Vec<&str> = fields.into_iter().filter(|f| !f.contains("_rate(")).collect();
            (rest.join(" "), rates)
        })
        .collect();
    v.sort();
    v
}

/// Whether two dumps hold the same entries with the same counters, and rates within one
/// event of each other.
fn same_entries(a: &[(String, Vec<u64>)], b: &[(String, Vec<u64>)]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.0 == y.0 && x.1.len() == y.1.len() && x.1.iter().zip(&y.1).all(|(r, s)| r.abs_diff(*s) <= 1))
}

/// What a process printed, for failure messages.
fn output(p: &Proxy) -> String {
    p.lines().iter().map(|l| l.text.as_str()).collect::<Vec<_>>().join("\n")
}

fn haproxy() -> Option<PathBuf> {
    let bin = haproxy_bin();
    if bin.is_none() {
        assert!(std::env::var_os("CI").is_none(), "CI must install haproxy (see .ci/run)");
        eprintln!("note: haproxy is not installed; skipped");
    }
    bin
}

/// Waits until both nodes show the same entries in `table`, `want` of them; panics
/// with both dumps otherwise.
fn wait_same(a: &Node, b: &Node, table: &str, want: usize) -> Vec<(String, Vec<u64>)> {
    wait_same_with(a, b, table, |t| t.len() == want)
}

/// Waits until both nodes show the same entries in `table`, entries that `cond` accepts.
fn wait_same_with(a: &Node, b: &Node, table: &str, cond: impl Fn(&[(String, Vec<u64>)]) -> bool) -> Vec<(String, Vec<u64>)> {
    let ok = wait_until(DEADLINE, || {
        let (x, y) = (a.table(table), b.table(table));
        !x.is_empty() && cond(&x) && same_entries(&x, &y)
    });
    let (x, y) = (a.table(table), b.table(table));
    assert!(ok, "the tables '{table}' differ:\n{x:?}\n{y:?}\n{}\n{}", output(&a.proxy), output(&b.proxy));
    x
}

#[test]
fn moonproxy_and_haproxy_share_entries_both_ways() {
    let Some(hap_bin) = haproxy() else { return };
    let (peer_mp, peer_hap) = (free_port(), free_port());
    let mp = Node::start(moonproxy_bin(), "mp", peer_mp, peer_hap, "60s");
    let hap = Node::start(hap_bin.clone(), "hap", peer_mp, peer_hap, "60s");
    // Requests through both: one entry counting the three. (Each update carries the
    // entry's values, the last one received wins: a node counts on top of what it was
    // told, so the test lets each update arrive before the next request.)
    hap.request();
    hap.request();
    let t = wait_same(&mp, &hap, "fe", 1);
    assert_eq!(t[0].0, "key=127.0.0.1 gpc0=2 conn_cnt=2 conn_cur=0", "{t:?}");
    mp.request();
    let t = wait_same_with(&mp, &hap, "fe", |t| t[0].0.contains("gpc0=3"));
    assert_eq!(t[0].0, "key=127.0.0.1 gpc0=3 conn_cnt=3 conn_cur=0", "{t:?}");
    assert!((2..=3).contains(&t[0].1[0]), "http_req_rate: {t:?}");
    // The CLI of each, on the section's table (string keys, arrays, 64-bit counters).
    assert_eq!(cli(&mp.sock(), "set table p/strings key from-mp data.gpt0 7 data.server_id 3 data.gpc0_rate 5\n").trim(), "");
    cli(&hap.sock(), "set table p/strings key from-hap data.server_id 9 data.bytes_in_cnt 123456789012\n");
    let t = wait_same(&mp, &hap, "p/strings", 2);
    assert_eq!(t[0].0, "key=from-hap server_id=9 bytes_in_cnt=123456789012 gpt0=0 gpt1=0", "{t:?}");
    assert_eq!(t[1].0, "key=from-mp server_id=3 bytes_in_cnt=0 gpt0=7 gpt1=0", "{t:?}");
    assert_eq!(t[1].1[0], 5, "gpc0_rate: {t:?}");
    // `show peers` says the same of both (peers in reverse declaration order): the
    // remote peer connected, the local one not.
    let peers = |n: &Node| -> Vec<String> {
        let out = cli(&n.sock(), "show peers\n");
        out.lines()
            .filter(|l| l.contains(": id=") && l.contains("last_status="))
            .map(|l| l.split_whitespace().filter(|w| w.starts_with("id=") || w.starts_with("last_status=")).collect::<Vec<_>>().join(" "))
            .collect()
    };
    assert_eq!(peers(&mp), ["id=hap(remote,active) last_status=ESTA", "id=mp(local,inactive) last_status=NONE"]);
    assert_eq!(peers(&hap), ["id=hap(local,inactive) last_status=NONE", "id=mp(remote,active) last_status=ESTA"]);
    // The other key types: integer and ipv6 keys set on the CLI, a binary key tracked
    // by a request.
    cli(&hap.sock(), "set table p/ints key 4000000000 data.gpc0 11\n");
    cli(&mp.sock(), "set table p/v6 key 2001:db8::1 data.gpc0 12\n");
    let mut c = Client::connect(mp.proxy.port("fe"));
    assert_eq!(c.http_request(b"GET / HTTP/1.1\r\nHost: t\r\nX-Key: ab\r\nConnection: close\r\n\r\n").status, 200);
    assert_eq!(wait_same(&mp, &hap, "p/ints", 1)[0].0, "key=4000000000 gpc0=11");
    assert_eq!(wait_same(&mp, &hap, "p/v6", 1)[0].0, "key=2001:db8::1 gpc0=12");
    assert_eq!(wait_same(&mp, &hap, "p/bins", 1)[0].0, "key=61620000 gpc0=0 http_req_cnt=1");
    // An update of an existing entry goes too.
    mp.request();
    wait_same_with(&mp, &hap, "fe", |t| t[0].0.contains("gpc0=5"));
    // HAProxy restarted asks for the table and gets it from moonproxy.
    drop(hap);
    let hap = Node::start(hap_bin, "hap", peer_mp, peer_hap, "60s");
    wait_same_with(&mp, &hap, "fe", |t| t[0].0.contains("gpc0=5"));
    wait_same(&mp, &hap, "p/strings", 2);
}

#[test]
fn expiry_propagates_with_the_entries() {
    let Some(hap_bin) = haproxy() else { return };
    let (peer_mp, peer_hap) = (free_port(), free_port());
    let mp = Node::start(moonproxy_bin(), "mp", peer_mp, peer_hap, "2s");
    let hap = Node::start(hap_bin, "hap", peer_mp, peer_hap, "2s");
    hap.request();
    wait_same(&mp, &hap, "fe", 1);
    // Both drop the entry once its expiry passed, moonproxy counting from the update.
    assert!(wait_until(DEADLINE, || mp.table("fe").is_empty() && hap.table("fe").is_empty()), "{:?} {:?}", mp.table("fe"), hap.table("fe"));
    mp.request();
    wait_same(&mp, &hap, "fe", 1);
    assert!(wait_until(DEADLINE, || mp.table("fe").is_empty() && hap.table("fe").is_empty()));
}

#[test]
fn two_moonproxy_nodes_share_and_a_restarted_one_is_resynchronised() {
    let (peer_a, peer_b) = (free_port(), free_port());
    let a = Node::start(moonproxy_bin(), "mp", peer_a, peer_b, "60s");
    let b = Node::start(moonproxy_bin(), "hap", peer_a, peer_b, "60s");
    a.request();
    wait_same(&a, &b, "fe", 1);
    b.request();
    let t = wait_same_with(&a, &b, "fe", |t| t[0].0.contains("gpc0=2"));
    assert_eq!(t[0].0, "key=127.0.0.1 gpc0=2 conn_cnt=2 conn_cur=0");
    drop(b);
    // Meanwhile, a counts one more; b, started again, is taught everything.
    a.request();
    let b = Node::start(moonproxy_bin(), "hap", peer_a, peer_b, "60s");
    let t = wait_same_with(&a, &b, "fe", |t| t[0].0.contains("gpc0=3"));
    assert_eq!(t[0].0, "key=127.0.0.1 gpc0=3 conn_cnt=3 conn_cur=0");
}

/// A process alone in its section: the local peer is how a reload hands the tables over.
const RELOAD_CFG: &str = "
global
    stats socket {{sock}} level admin
    localpeer me
peers p
    peer me 127.0.0.1:{{peer}}
defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{{fe}}
    stick-table type ip size 100 expire 60s peers p store gpc0,http_req_rate(10s)
    http-request track-sc0 src
    http-request deny deny_status 429 if { sc_http_req_rate(0) gt 4 }
    http-request sc-inc-gpc0(0)
    http-request return status 200
";

#[test]
fn a_reload_keeps_the_tables_and_a_rate_limit_holds() {
    let dir = std::env::temp_dir().join(format!("mp-peers-reload-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let sock = dir.join("stats.sock");
    let (peer, fe) = (free_port(), free_port());
    let build = || ProxyBuilder::new(RELOAD_CFG).var("sock", sock.display()).port("peer", peer).port("fe", fe);
    let mut old = build().start();
    assert!(wait_until(DEADLINE, || is_listening(fe)));
    for _ in 0..3 {
        assert_eq!(get_closing(fe, "/").status, 200);
    }
    let mut new = build().flags(["-db".to_string(), "-sf".to_string(), old.pid().to_string()]).start();
    old.wait_exit(DEADLINE);
    // The new process applies what the old one sent on its peers thread: the table may
    // fill a moment after the old process is gone.
    let mut t = Vec::new();
    let taught = wait_until(DEADLINE, || {
        t = parse_table(&cli(&sock, "show table fe\n"));
        !t.is_empty()
    });
    assert!(taught && t.len() == 1, "{t:?}\n{}", output(&new));
    assert_eq!(t[0].0, "key=127.0.0.1 gpc0=3");
    // The rate the old process counted still limits (more than 4 requests in 10 s): the
    // fourth request passes, the fifth is over the limit.
    assert_eq!(get_closing(fe, "/").status, 200);
    assert_eq!(get_closing(fe, "/").status, 429);
    new.stop();
    let _ = std::fs::remove_dir_all(&dir);
}

/// A process with a peer the test plays by hand.
const RAW_CFG: &str = "
global
    stats socket {{dir}}/stats.sock level admin
    localpeer mp
peers p
    peer mp 127.0.0.1:{{peer}}
    peer fake 127.0.0.1:{{fake}}
defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{{fe}}
    stick-table type ip size 100 expire 60s peers p store gpc0
    http-request track-sc0 src
    http-request return status 200
";

/// Connects to the peer port as `from`: the status line.
fn greet(port: u16, from: &str) -> (TcpStream, String) {
    let mut s = TcpStream::connect(loopback(port)).unwrap();
    s.set_read_timeout(Some(DEADLINE)).unwrap();
    s.write_all(format!("HAProxyS 2.1\nmp\n{from} 1 1\n").as_bytes()).unwrap();
    let mut status = Vec::new();
    let mut b = [0u8; 1];
    while s.read(&mut b).unwrap() == 1 && b[0] != b'\n' {
        status.push(b[0]);
    }
    (s, String::from_utf8(status).unwrap())
}

/// Reads until the peer closes; what came.
fn until_close(s: &mut TcpStream) -> Vec<u8> {
    let mut all = Vec::new();
    let _ = s.read_to_end(&mut all);
    all
}

#[test]
fn a_peer_speaking_wrong_bytes_is_logged_and_dropped() {
    let (peer, fake) = (free_port(), free_port());
    let mp = ProxyBuilder::new(RAW_CFG).port("peer", peer).port("fake", fake).start();
    assert!(wait_until(DEADLINE, || is_listening(peer)));
    let sock = mp.dir().join("stats.sock");
    // A stranger is refused with HAProxy's status.
    assert_eq!(greet(peer, "nobody").1, "504");
    // An update before any table definition: an error message, then the close.
    let (mut s, status) = greet(peer, "fake");
    assert_eq!(status, "200");
    s.write_all(&[10, 128, 3, 1, 2, 3]).unwrap();
    let got = until_close(&mut s);
    assert!(got.windows(2).any(|w| w == [1, 0]), "the protocol error message: {got:?}");
    mp.wait_for_line(|l| l.contains("peers 'p': peer 'fake'") && l.contains("update before any table definition; connection dropped."), DEADLINE);
    // Traffic goes on, and the peer may come back and speak properly: a definition of
    // `fe` (id 1, ip keys, gpc0 stored, 60 s) and an update of 10.0.0.1 with gpc0=42.
    assert_eq!(get_closing(mp.port("fe"), "/").status, 200);
    let (mut s, status) = greet(peer, "fake");
    assert_eq!(status, "200");
    let define = [1, 2, b'f', b'e', 4, 4, 4, 0xf0, 0x97, 0x1c];
    let mut msg = vec![10, 130, define.len() as u8];
    msg.extend_from_slice(&define);
    msg.extend_from_slice(&[10, 128, 9, 0, 0, 0, 1, 10, 0, 0, 1, 42]);
    s.write_all(&msg).unwrap();
    assert!(wait_until(DEADLINE, || cli(&sock, "show table fe\n").contains("key=10.0.0.1 use=0")), "{}", cli(&sock, "show table fe\n"));
    assert!(cli(&sock, "show table fe\n").contains("gpc0=42"));
    // The acknowledgement of update 1 of table 1.
    let mut ack = [0u8; 8];
    s.read_exact(&mut ack[..2]).unwrap();
    while ack[..2] != [10, 132] {
        ack[0] = ack[1];
        s.read_exact(&mut ack[1..2]).unwrap();
    }
    s.read_exact(&mut ack[2..8]).unwrap();
    assert_eq!(ack[2..], [5, 1, 0, 0, 0, 1]);
    // Bytes that are no message at all.
    s.write_all(b"\x07\x07garbage").unwrap();
    until_close(&mut s);
    mp.wait_for_line(|l| l.contains("peer 'fake'") && l.contains("unknown message 7/7"), DEADLINE);
    assert_eq!(get_closing(mp.port("fe"), "/").status, 200);
}

/// Bad addresses on the lines of a `peers` section: HAProxy's reasons with the file and
/// line. For the local peer's `peer` line and a `bind` line the whole alert is
/// HAProxy's; a wrong range or host on a `peer` line HAProxy reports for its internal
/// server (`'server <local>/<name>' : ...`), which moonproxy names `'peer <name>'`.
#[test]
fn bad_peer_addresses_are_refused_in_haproxys_words() {
    for bin in moonproxy_and_haproxy() {
        let who = bin.display().to_string();
        for (line, whole, reason) in [
            ("peer a 127.0.0.1", true, "'peer a' : missing port specification in '127.0.0.1'"),
            ("peer a 127.0.0.1:", true, "'peer a' : missing port specification in '127.0.0.1:'"),
            ("peer a 127.0.0.1:0", true, "'peer a' : invalid port '0'"),
            ("peer a 127.0.0.1:99999", true, "'peer a' : invalid port '99999'"),
            ("peer a 127.0.0.1:+1", true, "'peer a' : port offset not permitted here in '127.0.0.1:+1'"),
            ("peer a udp@127.0.0.1:1000", true, "'peer a' : dgram-type address not acceptable in 'udp@127.0.0.1:1000'"),
            ("peer a nosuchhost.invalid:1000", true, "'peer a' : invalid address: 'nosuchhost.invalid' in 'nosuchhost.invalid:1000'"),
            ("peer a 127.0.0.1:1000-1001", false, "port range not permitted here in '127.0.0.1:1000-1001'"),
            ("peer b ipv4@::1:1000", false, "invalid address: '::1' in 'ipv4@::1:1000'"),
            ("bind 127.0.0.1", true, "'bind 127.0.0.1' : missing port specification in '127.0.0.1'"),
            ("bind 127.0.0.1:0", true, "'bind 127.0.0.1:0' : invalid port '0'"),
            ("bind nosuchhost.invalid:1000", true, "'bind nosuchhost.invalid:1000' : invalid address: 'nosuchhost.invalid' in 'nosuchhost.invalid:1000'"),
        ] {
            let rest = if line.starts_with("bind") { "    server a\n" } else if line.starts_with("peer b") { "    peer a 127.0.0.1:1000\n" } else { "" };
            let cfg = format!("global\n    localpeer a\npeers p\n    {line}\n{rest}");
            let out = ProxyBuilder::new(&cfg).bin(&bin).flags(["-c"]).run();
            assert_eq!(out.code(), Some(1), "{who}: {line}: {}", out.stderr);
            let at = "proxy.cfg:4] : ";
            let found = out.stderr.lines().any(|l| match whole {
                true => l.contains("parsing [") && l.ends_with(&format!("{at}{reason}")),
                false => l.contains(at) && l.ends_with(&format!("' : {reason}")),
            });
            assert!(found, "{who}: {line}: {}", out.stderr);
        }
    }
}
