//! `log-forward` sections: syslog messages sent over UDP and TCP to moonproxy and to
//! HAProxy 2.6 with the same configuration; what each forwards is captured by UDP and
//! TCP receivers in the test and compared, the dates each proxy makes from its own
//! clock aside.

mod common;

use common::*;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::path::Path;
use std::time::{Duration, SystemTime};

/// The formats a `log` line can ask for (`none`: no `format`).
const FORMATS: [&str; 9] = ["none", "rfc3164", "rfc5424", "short", "raw", "priority", "timed", "iso", "local"];

/// Messages of every shape, each valid as HAProxy 2.6 reads it (the broken RFC 5424
/// headers, where moonproxy deliberately differs, are covered by the unit tests of
/// `log::forward::syslog`).
const MESSAGES: &[&str] = &[
    "<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut=\"3\" eventSource=\"App\"] An application event",
    "<34>Oct 11 22:14:15 mymachine su: 'su root' failed for lonvick",
    "<13>Feb  5 17:32:18 10.0.0.99 myproc[123]: Use the BFG!",
    "a raw line without any header",
    "<13>only a priority",
    "<13>1 - - - - - - all nil",
    "<13>1 - host app - - - nil time",
    "<14>1 - - app - - - a tag alone",
    "<13>1 2003-02-05T02:04:05Z - - - - - iso to legacy",
    "<13>1 2003-10-11T22:14:15.003Z h a p i [x][y z=\"1\"] two elements",
    "<13>Feb  5 17:32:18 host some message: with colon",
    "<999>an out-of-range priority",
    "<1x>not a priority",
];

/// One UDP receiver per format.
struct Receivers(Vec<(&'static str, UdpSocket)>);

impl Receivers {
    fn new(names: &[&'static str]) -> Receivers {
        Receivers(names.iter().map(|n| (*n, UdpSocket::bind("127.0.0.1:0").unwrap())).collect())
    }

    fn port(&self, name: &str) -> u16 {
        self.0.iter().find(|(n, _)| *n == name).unwrap().1.local_addr().unwrap().port()
    }

    /// Every datagram each receiver got until none came for `quiet`.
    fn drain(&self, quiet: Duration) -> Vec<(&'static str, Vec<String>)> {
        self.0
            .iter()
            .map(|(name, sock)| {
                sock.set_read_timeout(Some(quiet)).unwrap();
                let mut got = Vec::new();
                let mut buf = [0u8; 65536];
                while let Ok(n) = sock.recv(&mut buf) {
                    got.push(String::from_utf8_lossy(&buf[..n]).into_owned());
                }
                (*name, got)
            })
            .collect()
    }

    /// Waits until `name` got a datagram (consumed), for pacing.
    fn wait_one(&self, name: &str) -> Option<String> {
        let sock = &self.0.iter().find(|(n, _)| *n == name).unwrap().1;
        sock.set_read_timeout(Some(DEADLINE)).unwrap();
        let mut buf = [0u8; 65536];
        sock.recv(&mut buf).ok().map(|n| String::from_utf8_lossy(&buf[..n]).into_owned())
    }
}

/// Replaces the dates a proxy takes from its clock (no date in the received message)
/// with `<now>`: RFC 3339 with microseconds and an offset, and today's `Mmm dd hh:mm:ss`.
fn normalize(line: &str) -> String {
    let now = SystemTime::now();
    let mut today = String::new();
    moonproxy::log::time::breakdown(now, moonproxy::log::time::local_offset(now)).write_rfc3164(&mut today);
    let today = &today[..6];
    let b = line.as_bytes();
    let mut out = String::new();
    let mut i = 0;
    while i < b.len() {
        let rest = &line[i..];
        let iso_now = rest.len() >= 32
            && rest.as_bytes()[4] == b'-'
            && rest.as_bytes()[10] == b'T'
            && rest.as_bytes()[19] == b'.'
            && rest.as_bytes()[26..27].iter().all(|c| *c == b'+' || *c == b'-')
            && rest.as_bytes()[..4].iter().all(u8::is_ascii_digit);
        if iso_now {
            out.push_str("<now>");
            i += 32;
        } else if rest.starts_with(today) && rest.len() >= 15 && rest.as_bytes()[9] == b':' {
            out.push_str("<now>");
            i += 15;
        } else {
            let c = rest.chars().next().unwrap();
            out.push(c);
            i += c.len_utf8();
        }
    }
    out
}

fn config(rx: &Receivers, extra: &str) -> String {
    let mut cfg = String::from("log-forward lf\n    dgram-bind 127.0.0.1:{{fwd}}\n    bind 127.0.0.1:{{fwd}}\n    timeout client 5s\n");
    for f in FORMATS {
        let format = if f == "none" { String::new() } else { format!("format {f} ") };
        cfg.push_str(&format!("    log 127.0.0.1:{} {format}local3\n", rx.port(f)));
    }
    cfg.push_str(extra);
    cfg
}

/// Sends every message over UDP, then over TCP with octet counting, then newline
/// framed; returns what each format's receiver got, normalized.
fn relay_everything(bin: &Path) -> Vec<(&'static str, Vec<String>)> {
    let rx = Receivers::new(&FORMATS);
    let proxy = ProxyBuilder::new(&config(&rx, "")).bin(bin).start();
    let to = proxy.addr("fwd");
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut got: Vec<(&'static str, Vec<String>)> = FORMATS.iter().map(|f| (*f, Vec::new())).collect();
    // UDP: one by one (each waited for at the raw target), so the order is the sending order.
    for m in MESSAGES {
        udp.send_to(m.as_bytes(), to).unwrap();
        let raw = rx.wait_one("raw").unwrap_or_else(|| panic!("{}: nothing forwarded for {m:?}", bin.display()));
        got.iter_mut().find(|(n, _)| *n == "raw").unwrap().1.push(normalize(&raw));
    }
    // TCP, octet counting then non-transparent framing, on one connection, in pieces.
    let mut tcp = TcpStream::connect(to).unwrap();
    let mut stream = Vec::new();
    for m in MESSAGES.iter().filter(|m| m.starts_with('<')) {
        stream.extend_from_slice(format!("{} {m}", m.len()).as_bytes());
    }
    for m in MESSAGES.iter().filter(|m| m.starts_with('<')) {
        stream.extend_from_slice(format!("{m}\n").as_bytes());
    }
    for chunk in stream.chunks(37) {
        tcp.write_all(chunk).unwrap();
    }
    let tcp_count = 2 * MESSAGES.iter().filter(|m| m.starts_with('<')).count();
    for i in 0..tcp_count {
        let raw = rx.wait_one("raw").unwrap_or_else(|| panic!("{}: TCP message {i} not forwarded", bin.display()));
        got.iter_mut().find(|(n, _)| *n == "raw").unwrap().1.push(normalize(&raw));
    }
    for (name, lines) in rx.drain(Duration::from_millis(300)) {
        if name != "raw" {
            got.iter_mut().find(|(n, _)| *n == name).unwrap().1.extend(lines.iter().map(|l| normalize(l)));
        }
    }
    drop(tcp);
    got
}

#[test]
fn every_format_of_every_message_over_udp_and_tcp_matches_haproxy() {
    let runs: Vec<_> = moonproxy_and_haproxy().iter().map(|b| (b.display().to_string(), relay_everything(b))).collect();
    let ours = &runs[0].1;
    let lines = |f: &str| &ours.iter().find(|(n, _)| *n == f).unwrap().1;
    let framed = MESSAGES.iter().filter(|m| m.starts_with('<')).count();
    for (f, l) in ours {
        assert_eq!(l.len(), MESSAGES.len() + 2 * framed, "{f}: {l:#?}");
    }
    // A few lines checked by value (HAProxy 2.6's outputs, recorded).
    assert_eq!(lines("rfc3164")[0], "<165>Oct 11 22:14:15 mymachine.example.com evntslog: An application event\n");
    assert_eq!(lines("rfc5424")[2], format!("<13>1 {}-02-05T17:32:18-00:00 10.0.0.99 myproc 123 - - Use the BFG!\n", year()));
    assert_eq!(lines("none")[3], "a raw line without any header\n");
    assert_eq!(lines("rfc3164")[3], "<152><now> localhost a raw line without any header\n");
    assert_eq!(lines("short")[11], "<7>an out-of-range priority\n");
    assert_eq!(lines("priority")[11], "<999>an out-of-range priority\n");
    assert_eq!(lines("local")[7], "<14><now> app: a tag alone\n");
    // What TCP delivered is what UDP delivered, in both framings.
    let udp_framed: Vec<&String> = lines("rfc5424").iter().take(MESSAGES.len()).zip(MESSAGES).filter(|(_, m)| m.starts_with('<')).map(|(l, _)| l).collect();
    let tcp = &lines("rfc5424")[MESSAGES.len()..];
    assert_eq!(tcp[..framed].iter().collect::<Vec<_>>(), udp_framed, "octet counting");
    assert_eq!(tcp[framed..].iter().collect::<Vec<_>>(), udp_framed, "newline framing");
    if let Some((hname, theirs)) = runs.get(1) {
        // HAProxy may hand datagrams to several threads: the order of a target's
        // lines may differ, not the lines.
        let sorted = |l: &Vec<String>| {
            let mut l = l.clone();
            l.sort();
            l
        };
        for ((f, a), (_, b)) in ours.iter().zip(theirs) {
            assert_eq!(sorted(a), sorted(b), "format {f}: moonproxy vs {hname}");
        }
    }
}

fn year() -> i64 {
    let now = SystemTime::now();
    moonproxy::log::time::breakdown(now, moonproxy::log::time::local_offset(now)).year
}

struct Malformed {
    /// For each bad input: whether the proxy closed the connection.
    closed: Vec<bool>,
    /// What the good connection and UDP forwarded meanwhile.
    forwarded: Vec<String>,
}

fn malformed_run(bin: &Path) -> (Malformed, Proxy) {
    let rx = Receivers::new(&["raw"]);
    let cfg = format!("log-forward lf\n    dgram-bind 127.0.0.1:{{{{fwd}}}}\n    bind 127.0.0.1:{{{{fwd}}}}\n    timeout client 5s\n    log 127.0.0.1:{} format raw local0\n", rx.port("raw"));
    let proxy = ProxyBuilder::new(&cfg).bin(bin).start();
    let to = proxy.addr("fwd");
    // A good connection opened first, half a frame sent.
    let mut good = TcpStream::connect(to).unwrap();
    good.write_all(b"<13>first half").unwrap();
    let mut closed = Vec::new();
    for bad in [&b"hello, no framing\n"[..], b"3x <13>a\n", b"0 <13>z\n", b"99999999 <13>a", b"\n<13>c\n"] {
        let mut s = TcpStream::connect(to).unwrap();
        s.write_all(bad).unwrap();
        s.set_read_timeout(Some(DEADLINE)).unwrap();
        let mut buf = [0u8; 16];
        closed.push(matches!(s.read(&mut buf), Ok(0) | Err(_)));
    }
    good.write_all(b" and the rest\n").unwrap();
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    udp.send_to(b"<13>by udp", to).unwrap();
    let mut forwarded = Vec::new();
    while forwarded.len() < 2 {
        match rx.wait_one("raw") {
            Some(l) => forwarded.push(l),
            None => break,
        }
    }
    forwarded.sort();
    (Malformed { closed, forwarded }, proxy)
}

/// Bad framing closes that connection, counted and logged with the peer; the other
/// connections and the UDP socket go on.
#[test]
fn malformed_framing_closes_only_its_connection() {
    let bins = moonproxy_and_haproxy();
    let (ours, proxy) = malformed_run(&bins[0]);
    assert_eq!(ours.closed, [true; 5]);
    assert_eq!(ours.forwarded, ["by udp\n", "first half and the rest\n"]);
    let line = proxy.wait_for_line(|l| l.contains("malformed syslog framing from 127.0.0.1:"), DEADLINE);
    assert!(line.contains("log-forward 'lf'") && line.contains("connection closed"), "{line}");
    let five = wait_until(DEADLINE, || proxy.count_lines(|l| l.contains("malformed syslog framing")) == 5);
    assert!(five, "one warning per bad connection: {:?}", proxy.lines());
    if let Some(h) = bins.get(1) {
        let (theirs, _p) = malformed_run(h);
        assert_eq!(ours.closed, theirs.closed, "{}", h.display());
        assert_eq!(ours.forwarded, theirs.forwarded, "{}", h.display());
    }
}

/// Level filters, minimum levels and sampling per target.
fn filters_run(bin: &Path) -> Vec<(&'static str, Vec<String>)> {
    let rx = Receivers::new(&["warning", "min_notice", "sampled", "short_err"]);
    let cfg = format!(
        "log-forward lf\n    dgram-bind 127.0.0.1:{{{{fwd}}}}\n    bind 127.0.0.1:{{{{fwd}}}}\n    log 127.0.0.1:{} format priority local0 warning\n    log 127.0.0.1:{} format priority local1 info notice\n    log 127.0.0.1:{} format raw sample 1:2 local0\n    log 127.0.0.1:{} format short local0 err\n",
        rx.port("warning"),
        rx.port("min_notice"),
        rx.port("sampled"),
        rx.port("short_err")
    );
    let proxy = ProxyBuilder::new(&cfg).bin(bin).start();
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut tcp = TcpStream::connect(proxy.addr("fwd")).unwrap();
    // Levels 0 (emerg) .. 7 (debug), facility 1 (user), then a message without a PRI.
    for level in 0..8 {
        let m = format!("<{}>level {level}", 8 + level);
        udp.send_to(m.as_bytes(), proxy.addr("fwd")).unwrap();
        std::thread::sleep(Duration::from_millis(20));
    }
    tcp.write_all(b"24 no priority at all, tcp\n").unwrap();
    let out = rx.drain(Duration::from_millis(500));
    drop(proxy);
    out
}

#[test]
fn target_level_filters_minimum_levels_and_sampling_match_haproxy() {
    let bins = moonproxy_and_haproxy();
    let ours = filters_run(&bins[0]);
    let get = |name: &str| ours.iter().find(|(n, _)| *n == name).unwrap().1.clone();
    // Up to warning; the message's own facility (user) is kept.
    assert_eq!(get("warning"), ["<8>level 0\n", "<9>level 1\n", "<10>level 2\n", "<11>level 3\n", "<12>level 4\n", "<128>no priority at all, tcp\n"]);
    // Up to info, more urgent levels raised to notice; no PRI: written at notice with the target's facility.
    assert_eq!(
        get("min_notice"),
        ["<13>level 0\n", "<13>level 1\n", "<13>level 2\n", "<13>level 3\n", "<13>level 4\n", "<13>level 5\n", "<14>level 6\n", "<141>no priority at all, tcp\n"]
    );
    assert_eq!(get("sampled"), ["level 0\n", "level 2\n", "level 4\n", "level 6\n", "no priority at all, tcp\n"]);
    assert_eq!(get("short_err"), ["<0>level 0\n", "<1>level 1\n", "<2>level 2\n", "<3>level 3\n", "<0>no priority at all, tcp\n"]);
    if let Some(h) = bins.get(1) {
        // HAProxy's threads may reorder the datagrams of a target.
        let sorted = |runs: Vec<(&'static str, Vec<String>)>| {
            runs.into_iter()
                .map(|(n, mut l)| {
                    l.sort();
                    (n, l)
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(sorted(ours), sorted(filters_run(h)), "{}", h.display());
    }
}

/// `log ring@<name>` into a ring whose server takes octet-counted lines
/// (`log-proto octet-count`), `log tcp@` through an implicit ring, and `log global`.
#[test]
fn rings_tcp_targets_and_log_global_match_haproxy() {
    fn run(bin: &Path) -> (String, String, String, String) {
        let octet = TcpListener::bind("127.0.0.1:0").unwrap();
        let legacy = TcpListener::bind("127.0.0.1:0").unwrap();
        let global = UdpSocket::bind("127.0.0.1:0").unwrap();
        let cfg = "global
    stats socket {{dir}}/cli.sock level admin
    log 127.0.0.1:{{global}} format rfc5424 local2
ring r
    format rfc3164
    timeout connect 2s
    timeout server 2s
    server s 127.0.0.1:{{octet}} log-proto octet-count
log-forward lf
    dgram-bind 127.0.0.1:{{fwd}}
    bind 127.0.0.1:{{fwd}}
    log global
    log ring@r local0
    log tcp@127.0.0.1:{{legacy}} format raw local0
";
        let proxy = ProxyBuilder::new(cfg)
            .bin(bin)
            .var("octet", octet.local_addr().unwrap().port())
            .var("legacy", legacy.local_addr().unwrap().port())
            .var("global", global.local_addr().unwrap().port())
            .start();
        let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
        udp.send_to(b"<13>Feb  5 17:32:18 host app[7]: one", proxy.addr("fwd")).unwrap();
        // Apart, so that HAProxy's threads do not take them in parallel.
        std::thread::sleep(Duration::from_millis(100));
        udp.send_to(b"<13>1 2003-10-11T22:14:15.003Z h a p i - two", proxy.addr("fwd")).unwrap();
        let read = |l: &TcpListener, want: &str| {
            let (mut s, _) = l.accept().unwrap();
            s.set_read_timeout(Some(DEADLINE)).unwrap();
            let mut got = Vec::new();
            let mut buf = [0u8; 1024];
            while !String::from_utf8_lossy(&got).contains(want) {
                match s.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => got.extend_from_slice(&buf[..n]),
                }
            }
            String::from_utf8_lossy(&got).into_owned()
        };
        let ring = read(&octet, "two");
        let tcp = read(&legacy, "two");
        global.set_read_timeout(Some(DEADLINE)).unwrap();
        let mut g = String::new();
        let mut buf = [0u8; 1024];
        for _ in 0..2 {
            if let Ok(n) = global.recv(&mut buf) {
                g.push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        }
        // `show info` counts the messages received.
        let info = cli(&proxy.dir().join("cli.sock"), "show info\n");
        let recv = info.lines().find(|l| l.starts_with("CumRecvLogs:")).unwrap_or_default().to_string();
        drop(proxy);
        (ring, tcp, g, recv)
    }
    let bins = moonproxy_and_haproxy();
    let ours = run(&bins[0]);
    let octets = |lines: &[&str]| lines.iter().map(|l| format!("{} {l}", l.len())).collect::<String>();
    assert_eq!(ours.0, octets(&["<13>Feb  5 17:32:18 host app[7]: one", "<13>Oct 11 22:14:15 h a[p]: two"]));
    assert_eq!(ours.1, "one\ntwo\n");
    assert_eq!(ours.2, format!("<13>1 {}-02-05T17:32:18-00:00 host app 7 - - one\n<13>1 2003-10-11T22:14:15.003Z h a p i - two\n", year()));
    assert_eq!(ours.3, "CumRecvLogs: 2");
    if let Some(h) = bins.get(1) {
        assert_eq!(ours, run(h), "{}", h.display());
    }
}

/// `timeout client` closes an idle connection; `maxconn` holds the next one in the
/// backlog until a slot is free.
#[test]
fn idle_timeout_and_maxconn() {
    let rx = Receivers::new(&["raw"]);
    let cfg = format!("log-forward lf\n    bind 127.0.0.1:{{{{fwd}}}}\n    maxconn 1\n    timeout client 1s\n    log 127.0.0.1:{} format raw local0\n", rx.port("raw"));
    let proxy = ProxyBuilder::new(&cfg).start();
    let mut first = TcpStream::connect(proxy.addr("fwd")).unwrap();
    first.write_all(b"<13>from the first\n").unwrap();
    assert_eq!(rx.wait_one("raw").as_deref(), Some("from the first\n"));
    // The second waits: its message comes once the first is closed by its idle timeout.
    let mut second = TcpStream::connect(proxy.addr("fwd")).unwrap();
    second.write_all(b"<13>from the second\n").unwrap();
    first.set_read_timeout(Some(DEADLINE)).unwrap();
    let mut buf = [0u8; 8];
    assert!(matches!(first.read(&mut buf), Ok(0)), "closed when idle");
    assert_eq!(rx.wait_one("raw").as_deref(), Some("from the second\n"));
}

/// `-c` on the configuration of the configuration manual's example: valid for both; a
/// forwarder without listeners is warned about and will not start (exit 2), as HAProxy.
#[test]
fn check_mode_accepts_forwarders_as_listeners() {
    let valid = "ring myring
    format rfc5424
    maxlen 1200
    size 32764
    timeout connect 5s
    timeout server 10s
    server mysyslogsrv 127.0.0.1:514 log-proto octet-count
log-forward syslog
    dgram-bind 127.0.0.1:1514
    bind 127.0.0.1:1514
    maxconn 100
    backlog 10
    timeout client 10s
    log global
    log ring@myring local0
    log 10.0.0.1:514 format rfc5424 sample 1:2 local0 info
";
    let idle = "log-forward a\n    log stderr local0\n";
    for bin in moonproxy_and_haproxy() {
        let out = ProxyBuilder::new(valid).bin(&bin).flags(["-c"]).run();
        assert_eq!(out.code(), Some(0), "{}: {}{}", bin.display(), out.stdout, out.stderr);
        let out = ProxyBuilder::new(idle).bin(&bin).flags(["-c"]).run();
        assert_eq!(out.code(), Some(2), "{}: {}{}", bin.display(), out.stdout, out.stderr);
        assert!(out.stderr.contains("frontend 'a' has no 'bind' directive. Please declare it as a backend if this was intended."), "{}", out.stderr);
    }
}

/// Bad addresses on `bind` and `dgram-bind` lines: HAProxy's alert, word for word, with
/// the file and line. HAProxy 2.6 then goes on without the listener (a `bind` line's
/// alert is not even fatal there); moonproxy refuses the configuration (exit 1).
#[test]
fn bad_listener_addresses_are_refused_in_haproxys_words() {
    for bin in moonproxy_and_haproxy() {
        for kw in ["bind", "dgram-bind"] {
            for (addr, reason) in [
                ("127.0.0.1", "missing port specification in '127.0.0.1'"),
                ("[::1]:", "missing port specification in '[::1]:'"),
                ("127.0.0.1:99999", "invalid port '99999'"),
                ("127.0.0.1:90-80", "invalid port range '90-80'"),
                ("127.0.0.1:+1", "port offset not permitted here in '127.0.0.1:+1'"),
                ("nosuchhost.invalid:514", "invalid address: 'nosuchhost.invalid' in 'nosuchhost.invalid:514'"),
                ("ipv4@::1:514", "invalid address: '::1' in 'ipv4@::1:514'"),
            ] {
                let out = ProxyBuilder::new(&format!("log-forward lf\n    log stderr local0\n    {kw} {addr}\n")).bin(&bin).flags(["-c"]).run();
                let want = format!("proxy.cfg:3] : '{kw} {addr}' : {reason}");
                assert!(out.stderr.lines().any(|l| l.contains("[ALERT]") && l.ends_with(&want)), "{}: {kw} {addr}: {}", bin.display(), out.stderr);
                if bin == moonproxy_bin() {
                    assert_eq!(out.code(), Some(1), "{kw} {addr}");
                }
            }
        }
        let out = ProxyBuilder::new("log-forward lf\n    bind udp@127.0.0.1:514\n").bin(&bin).flags(["-c"]).run();
        assert!(out.stderr.contains("proxy.cfg:2] : 'bind udp@127.0.0.1:514' : dgram-type address not acceptable in 'udp@127.0.0.1:514'"), "{}: {}", bin.display(), out.stderr);
    }
}

/// `dgram-bind <path>`: a unix datagram socket (a local `/dev/log` relay), `mode` applied.
#[test]
fn unix_datagram_listener_matches_haproxy() {
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::net::UnixDatagram;
    fn run(bin: &Path) -> (u32, Vec<String>) {
        let rx = Receivers::new(&["rfc5424"]);
        let cfg = format!("log-forward lf\n    dgram-bind {{{{dir}}}}/log.sock mode 600\n    log 127.0.0.1:{} format rfc5424 local3\n", rx.port("rfc5424"));
        let proxy = ProxyBuilder::new(&cfg).bin(bin).start();
        let path = proxy.dir().join("log.sock");
        assert!(proxy.wait_for_path(&path, DEADLINE));
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        let client = UnixDatagram::unbound().unwrap();
        client.send_to(b"<13>Feb  5 17:32:18 host app: over a unix socket", &path).unwrap();
        let got = rx.wait_one("rfc5424").into_iter().collect();
        drop(proxy);
        (mode, got)
    }
    let bins = moonproxy_and_haproxy();
    let ours = run(&bins[0]);
    assert_eq!(ours, (0o600, vec![format!("<13>1 {}-02-05T17:32:18-00:00 host app - - - over a unix socket\n", year())]));
    if let Some(h) = bins.get(1) {
        assert_eq!(ours, run(h), "{}", h.display());
    }
}

/// `bind ... ssl crt`: syslog over TLS (RFC 5425 uses octet counting), compared with HAProxy.
#[test]
fn tls_listener_matches_haproxy() {
    use common::tls;
    fn run(bin: &Path) -> Vec<String> {
        let rx = Receivers::new(&["raw"]);
        let (pem, _) = tls::cert(&["syslog.test"]);
        let cfg = format!("log-forward lf\n    bind 127.0.0.1:{{{{fwd}}}} ssl crt {{{{dir}}}}/site.pem\n    log 127.0.0.1:{} format raw local0\n", rx.port("raw"));
        let proxy = ProxyBuilder::new(&cfg).bin(bin).file("site.pem", &pem).start();
        let mut s = tls::connect(proxy.port("fwd"), tls::any_server(None), "syslog.test");
        let m1 = "<13>1 2003-10-11T22:14:15.003Z h a p i - over TLS";
        s.write_all(format!("{} {m1}<14>newline framed too\n", m1.len()).as_bytes()).unwrap();
        s.flush().unwrap();
        let got = (0..2).filter_map(|_| rx.wait_one("raw")).collect();
        drop(proxy);
        got
    }
    let bins = moonproxy_and_haproxy();
    let ours = run(&bins[0]);
    assert_eq!(ours, ["over TLS\n", "newline framed too\n"]);
    if let Some(h) = bins.get(1) {
        assert_eq!(ours, run(h), "{}", h.display());
    }
}

/// `len` on a target cuts forwarded lines as HAProxy does (80 bytes, then the newline).
#[test]
fn len_cuts_forwarded_lines_as_haproxy() {
    fn run(bin: &Path) -> Vec<(&'static str, Vec<String>)> {
        let rx = Receivers::new(&["raw", "rfc3164", "rfc5424"]);
        let cfg = format!(
            "log-forward lf\n    dgram-bind 127.0.0.1:{{{{fwd}}}}\n    bind 127.0.0.1:{{{{fwd}}}}\n    log 127.0.0.1:{} len 80 format raw local0\n    log 127.0.0.1:{} len 80 format rfc3164 local0\n    log 127.0.0.1:{} len 100 format rfc5424 local0\n",
            rx.port("raw"),
            rx.port("rfc3164"),
            rx.port("rfc5424")
        );
        let proxy = ProxyBuilder::new(&cfg).bin(bin).start();
        let long = format!("<13>Oct 11 22:14:15 host tag: {}", "y".repeat(120));
        UdpSocket::bind("127.0.0.1:0").unwrap().send_to(long.as_bytes(), proxy.addr("fwd")).unwrap();
        let mut got = Vec::new();
        for name in ["raw", "rfc3164", "rfc5424"] {
            got.push((name, rx.wait_one(name).into_iter().collect()));
        }
        drop(proxy);
        got
    }
    let bins = moonproxy_and_haproxy();
    let ours = run(&bins[0]);
    assert_eq!(ours[0].1, [format!("{}\n", "y".repeat(80))]);
    assert_eq!(ours[1].1, [format!("<13>Oct 11 22:14:15 host tag: {}\n", "y".repeat(50))]);
    assert_eq!(ours[2].1[0].len(), 101);
    if let Some(h) = bins.get(1) {
        assert_eq!(ours, run(h), "{}", h.display());
    }
}
