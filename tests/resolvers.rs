//! `resolvers` sections: servers resolved at run time against a DNS server written
//! here (UDP, answers the test sets and changes between queries), compared with
//! HAProxy 2.6 on the same configuration. Backends listen on 127.0.0.2, .3, .4 (Linux
//! answers on all of 127.0.0.0/8) on one port and say which one they are.

mod common;

use common::*;
use std::collections::HashMap;
use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, UdpSocket};
use std::sync::{Arc, Mutex};

/// What the test DNS server answers for a name.
#[derive(Clone)]
enum Answer {
    Nx,
    /// No answer at all (a name server that went away).
    Silent,
    A(Vec<Ipv4Addr>),
}

/// A DNS server on 127.0.0.1 answering A queries from a table the test changes; AAAA
/// queries get an empty NOERROR answer (no IPv6 address), unknown names NXDOMAIN.
struct DnsServer {
    port: u16,
    table: Arc<Mutex<HashMap<String, Answer>>>,
}

impl DnsServer {
    fn start() -> DnsServer {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = sock.local_addr().unwrap().port();
        let table: Arc<Mutex<HashMap<String, Answer>>> = Arc::default();
        let t = table.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 1500];
            while let Ok((len, from)) = sock.recv_from(&mut buf) {
                if let Some(reply) = answer(&buf[..len], &t.lock().unwrap()) {
                    let _ = sock.send_to(&reply, from);
                }
            }
        });
        DnsServer { port, table }
    }

    fn set(&self, name: &str, a: Answer) {
        self.table.lock().unwrap().insert(name.to_string(), a);
    }
}

/// The reply to one query: the question copied, the records after it.
fn answer(q: &[u8], table: &HashMap<String, Answer>) -> Option<Vec<u8>> {
    let (name, qtype, qend) = common::dns::question_and_end(q)?;
    let (rcode, addrs) = match table.get(&name) {
        Some(Answer::Silent) => return None,
        None | Some(Answer::Nx) => (3, vec![]),
        Some(Answer::A(a)) if qtype == 1 => (0, a.clone()),
        Some(Answer::A(_)) => (0, vec![]),
    };
    let mut out = q[..qend].to_vec();
    out[2] = 0x81; // QR, RD
    out[3] = 0x80 | rcode; // RA
    out[6..8].copy_from_slice(&(addrs.len() as u16).to_be_bytes());
    out[8..12].copy_from_slice(&[0, 0, 0, 0]);
    for ip in addrs {
        out.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 1, 0, 4]);
        out.extend_from_slice(&ip.octets());
    }
    Some(out)
}

/// TCP servers on 127.0.0.`host` for each host, all on one port, each writing
/// `srv<host>` to whoever connects and closing.
fn tagged_backends(hosts: &[u8]) -> u16 {
    'retry: loop {
        let first = TcpListener::bind((Ipv4Addr::new(127, 0, 0, hosts[0]), 0)).unwrap();
        let port = first.local_addr().unwrap().port();
        let mut listeners = vec![(hosts[0], first)];
        for &h in &hosts[1..] {
            match TcpListener::bind((Ipv4Addr::new(127, 0, 0, h), port)) {
                Ok(l) => listeners.push((h, l)),
                Err(_) => continue 'retry,
            }
        }
        for (h, l) in listeners {
            std::thread::spawn(move || {
                for mut c in l.incoming().flatten() {
                    let _ = c.write_all(format!("srv{h}").as_bytes());
                }
            });
        }
        return port;
    }
}

fn ip(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

const TIMINGS: &str = "\
resolvers dns
    nameserver ns1 127.0.0.1:{{dns}}
    hold valid 100ms
    hold nx 300ms
    hold other 300ms
    hold timeout 300ms
    timeout resolve 100ms
    timeout retry 200ms
defaults
    mode tcp
    timeout connect 1s
    timeout client 5s
    timeout server 5s
";

/// A server line's status in `show stat`.
fn status(proxy: &Proxy, be: &str, srv: &str) -> String {
    let out = cli(&proxy.dir().join("admin.sock"), "show stat\n");
    out.lines()
        .map(|l| l.split(',').collect::<Vec<_>>())
        .find(|c| c.len() > 17 && c[0] == be && c[1] == srv)
        .map(|c| c[17].to_string())
        .unwrap_or_default()
}

fn through(proxy: &Proxy) -> String {
    recv_all_from(proxy.addr("fe"), 1)
}

/// After the line announcing a change, new connections get `expected`. moonproxy writes
/// the line once every thread uses the change: the next connection must show it.
/// HAProxy may write it a moment before its other threads see the change: it gets until
/// the deadline.
fn reaches(proxy: &Proxy, bin: &std::path::Path, expected: &str) {
    if *bin == moonproxy_bin() {
        assert_eq!(through(proxy), expected);
    } else {
        assert!(wait_until(DEADLINE, || through(proxy) == expected), "{}: never {expected}", bin.display());
    }
}

#[test]
fn a_changed_address_takes_the_new_connections_and_nx_means_maintenance() {
    for bin in moonproxy_and_haproxy() {
        let dns = DnsServer::start();
        dns.set("localhost", Answer::A(vec![ip("127.0.0.2")]));
        let app = tagged_backends(&[2, 3]);
        let config = format!(
            "global\n    stats socket {{{{dir}}}}/admin.sock level admin\n{TIMINGS}\
             listen fe\n    bind 127.0.0.1:{{{{fe}}}}\n    server app localhost:{{{{app}}}} resolvers dns resolve-prefer ipv4\n"
        );
        let proxy = ProxyBuilder::new(&config).bin(&bin).port("dns", dns.port).port("app", app).start();
        let who = bin.display();
        proxy.wait_for_line(|l| l.contains("fe/app changed its IP from 127.0.0.1 to 127.0.0.2 by dns/ns1."), DEADLINE);
        reaches(&proxy, &bin, "srv2");

        dns.set("localhost", Answer::A(vec![ip("127.0.0.3")]));
        proxy.wait_for_line(|l| l.contains("fe/app changed its IP from 127.0.0.2 to 127.0.0.3 by dns/ns1."), DEADLINE);
        reaches(&proxy, &bin, "srv3");

        dns.set("localhost", Answer::Nx);
        let down = proxy.wait_for_line(|l| l.contains("Server fe/app is going DOWN for maintenance (DNS NX status)."), DEADLINE);
        assert!(down.contains("0 active and 0 backup servers left."), "{who}: {down}");
        assert_eq!(status(&proxy, "fe", "app"), "MAINT (resolution)", "{who}");
        reaches(&proxy, &bin, ""); // no server while the name does not resolve

        dns.set("localhost", Answer::A(vec![ip("127.0.0.3")]));
        proxy.wait_for_line(|l| l.contains("Server fe/app ('localhost') is UP/READY (resolves again)."), DEADLINE);
        assert_eq!(status(&proxy, "fe", "app"), "no check", "{who}");
        reaches(&proxy, &bin, "srv3");
    }
}

/// Six round-robin connections reach exactly the backends `expected` (with [`reaches`]'s
/// allowance for HAProxy's threads).
fn spread_over(proxy: &Proxy, bin: &std::path::Path, expected: &[&str]) {
    let spread = || {
        let mut seen: Vec<String> = (0..6).map(|_| through(proxy)).collect();
        seen.sort();
        seen.dedup();
        seen
    };
    if *bin == moonproxy_bin() {
        assert_eq!(spread(), expected);
    } else {
        assert!(wait_until(DEADLINE, || spread() == expected), "{}: never {expected:?}", bin.display());
    }
}

#[test]
fn template_slots_are_filled_from_the_records() {
    for bin in moonproxy_and_haproxy() {
        let dns = DnsServer::start();
        dns.set("localhost", Answer::A(vec![ip("127.0.0.2"), ip("127.0.0.3"), ip("127.0.0.4")]));
        let app = tagged_backends(&[2, 3, 4]);
        let config = format!(
            "global\n    stats socket {{{{dir}}}}/admin.sock level admin\n{TIMINGS}\
             listen fe\n    bind 127.0.0.1:{{{{fe}}}}\n    balance roundrobin\n\
             \x20   server-template web 4 localhost:{{{{app}}}} resolvers dns resolve-prefer ipv4\n"
        );
        let proxy = ProxyBuilder::new(&config).bin(&bin).port("dns", dns.port).port("app", app).start();
        let who = bin.display();
        // Three records, four slots: one slot has no address.
        proxy.wait_for_line(|l| l.contains("Server fe/web4 is going DOWN for maintenance (No IP for server )"), DEADLINE);
        assert!(wait_until(DEADLINE, || (1..=3).all(|n| status(&proxy, "fe", &format!("web{n}")) == "no check")), "{who}");
        assert_eq!(status(&proxy, "fe", "web4"), "MAINT (resolution)", "{who}");
        spread_over(&proxy, &bin, &["srv2", "srv3", "srv4"]);

        // 127.0.0.3 leaves the record set: its slot goes to maintenance, the others keep theirs.
        dns.set("localhost", Answer::A(vec![ip("127.0.0.2"), ip("127.0.0.4")]));
        let down = proxy.wait_for_line(|l| l.contains("is going DOWN for maintenance (No IP for server )") && !l.contains("web4"), DEADLINE);
        let slot = down.split("Server fe/").nth(1).and_then(|s| s.split(' ').next()).unwrap().to_string();
        assert_eq!(status(&proxy, "fe", &slot), "MAINT (resolution)", "{who}");
        spread_over(&proxy, &bin, &["srv2", "srv4"]);
    }
}

#[test]
fn resolvers_errors_as_haproxy() {
    for bin in moonproxy_and_haproxy() {
        for (lines, msg) in [
            ("resolvers dns\n nameserver ns1\n", "] : 'nameserver' expects <name> and <addr>[:<port>] as arguments."),
            ("resolvers dns\n hold bogus 3s\n", "] : 'hold' unknown <event>: 'bogus', expects either 'nx', 'timeout', 'valid', 'obsolete' or 'other'."),
            ("resolvers dns\n hold valid\n", "] : 'hold' expects an <event> and a <time> as arguments."),
            ("resolvers dns\n timeout foo 1s\n", "] : 'timeout' expects 'retry' or 'resolve' and <time> as arguments got 'foo'."),
            ("resolvers dns\n accepted_payload_size 70000\n", "] : 'accepted_payload_size' must be between 12 and 65535 inclusive (was 70000)."),
            ("resolvers dns\n foo bar\n", "] : unknown keyword 'foo' in 'resolvers' section"),
            ("resolvers\n", "] : missing name for resolvers section."),
            ("backend be\n server s1 localhost:80 resolvers nope\n", "backend 'be', server 's1': unable to find required resolvers 'nope'"),
            (
                "resolvers dns\n nameserver a 127.0.0.1:53\nbackend be\n server s2 localhost:80 resolvers dns resolve-prefer ipv5\n",
                "'server be/s2' : 'resolve-prefer' expects either ipv4 or ipv6 as argument..",
            ),
            (
                "resolvers dns\n nameserver a 127.0.0.1:53\nbackend be\n server s3 localhost:80 resolvers dns resolve-opts bogus\n",
                "'resolve-opts' : unknown resolve-opts option 'bogus', supported methods are 'allow-dup-ip', 'ignore-weight', and 'prevent-dup-ip'..",
            ),
            (
                "resolvers dns\n nameserver a 127.0.0.1:53\nbackend be\n server s4 localhost:80 resolvers dns resolve-net 10.0.0.0/8,zz\n",
                "'resolve-net' invalid network 'zz'..",
            ),
        ] {
            let out = ProxyBuilder::new(lines).bin(&bin).flags(["-c"]).run();
            assert_eq!(out.code(), Some(1), "{}: {lines}", bin.display());
            assert!(out.stderr.contains(msg), "{}: {lines}: {}", bin.display(), out.stderr);
        }
        let ok = "resolvers dns\n nameserver a 127.0.0.1:53\n parse-resolv-conf\n resolve_retries 2\n timeout resolve 2s\n timeout retry 500ms\n \
                  hold valid 5s\n hold obsolete 1s\n accepted_payload_size 8192\n\
                  backend be\n timeout connect 1s\n timeout server 1s\n server s localhost:80 resolvers dns resolve-prefer ipv4 resolve-opts allow-dup-ip,ignore-weight resolve-net 127.0.0.0/8\n";
        let out = ProxyBuilder::new(ok).bin(&bin).flags(["-c"]).run();
        // No listener: "no error but will not start" (2), not an error (1).
        assert_eq!(out.code(), Some(2), "{}: {}", bin.display(), out.stderr);
        assert!(!out.stderr.contains("ALERT"), "{}: {}", bin.display(), out.stderr);
    }
}

/// The answers are taken apart by the test's own code, not the proxy's.
#[test]
fn the_test_dns_server_answers_as_configured() {
    let dns = DnsServer::start();
    dns.set("web", Answer::A(vec![ip("10.1.2.3")]));
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(DEADLINE)).unwrap();
    let to: SocketAddr = ([127, 0, 0, 1], dns.port).into();
    sock.send_to(b"\x00\x07\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x03web\x00\x00\x01\x00\x01", to).unwrap();
    let mut buf = [0u8; 512];
    let (n, _) = sock.recv_from(&mut buf).unwrap();
    assert_eq!(&buf[n - 4..n], &[10, 1, 2, 3]);
    assert_eq!(buf[7], 1);
}

/// With several threads the change made by the resolving thread reaches the others: every
/// new connection, whichever thread accepts it, goes to the new address.
#[test]
fn every_thread_uses_the_new_address() {
    for bin in moonproxy_and_haproxy() {
        let dns = DnsServer::start();
        dns.set("localhost", Answer::A(vec![ip("127.0.0.2")]));
        let app = tagged_backends(&[2, 3]);
        let config = format!(
            "global\n    nbthread 2\n{TIMINGS}\
             listen fe\n    bind 127.0.0.1:{{{{fe}}}}\n    server app localhost:{{{{app}}}} resolvers dns resolve-prefer ipv4\n"
        );
        let proxy = ProxyBuilder::new(&config).bin(&bin).port("dns", dns.port).port("app", app).start();
        let who = bin.display();
        proxy.wait_for_line(|l| l.contains("changed its IP from 127.0.0.1 to 127.0.0.2"), DEADLINE);
        dns.set("localhost", Answer::A(vec![ip("127.0.0.3")]));
        proxy.wait_for_line(|l| l.contains("changed its IP from 127.0.0.2 to 127.0.0.3"), DEADLINE);
        reaches(&proxy, &bin, "srv3");
        let seen: Vec<String> = (0..20).map(|_| through(&proxy)).collect();
        assert!(seen.iter().all(|s| s == "srv3"), "{who}: {seen:?}");
    }
}

/// A name server that stops answering: after `resolve_retries` (3) queries the resolution
/// times out, and once `hold timeout` has passed the server goes to maintenance.
#[test]
fn a_silent_name_server_means_maintenance_after_hold_timeout() {
    for bin in moonproxy_and_haproxy() {
        let dns = DnsServer::start();
        dns.set("localhost", Answer::A(vec![ip("127.0.0.2")]));
        let app = tagged_backends(&[2]);
        let config = format!(
            "global\n    stats socket {{{{dir}}}}/admin.sock level admin\n{TIMINGS}\
             listen fe\n    bind 127.0.0.1:{{{{fe}}}}\n    server app localhost:{{{{app}}}} resolvers dns resolve-prefer ipv4\n"
        );
        let proxy = ProxyBuilder::new(&config).bin(&bin).port("dns", dns.port).port("app", app).start();
        let who = bin.display();
        proxy.wait_for_line(|l| l.contains("fe/app changed its IP from 127.0.0.1 to 127.0.0.2"), DEADLINE);
        dns.set("localhost", Answer::Silent);
        proxy.wait_for_line(|l| l.contains("Server fe/app is going DOWN for maintenance (DNS timeout status)."), DEADLINE);
        assert_eq!(status(&proxy, "fe", "app"), "MAINT (resolution)", "{who}");
        dns.set("localhost", Answer::A(vec![ip("127.0.0.2")]));
        proxy.wait_for_line(|l| l.contains("Server fe/app ('localhost') is UP/READY (resolves again)."), DEADLINE);
        reaches(&proxy, &bin, "srv2");
    }
}
