//! The PROXY protocol on moonproxy and on HAProxy 2.6 with the same configuration:
//! `bind ... accept-proxy` reading v1 and v2 headers (IPv4 and IPv6, `UNKNOWN`,
//! `LOCAL`), the addresses they carry in logs and fetches, HAProxy's log line for a
//! bad or missing header, and what `send-proxy` / `send-proxy-v2` write to a server,
//! byte for byte. The expected v2 bytes are built here from the specification, not
//! with the crate's own encoder.

mod common;

use common::*;
use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const SIG: &[u8] = b"\r\n\r\n\0\r\nQUIT\n";

/// A server that records what each connection sent: until EOF in TCP, until the end
/// of the head for an HTTP request (then it answers 200 and closes).
#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Vec<Vec<u8>>>>);

impl Recorder {
    fn start() -> (Recorder, Backend) {
        let r = Recorder::default();
        let me = r.clone();
        (r, Backend::custom(move |s, _| me.serve(s)))
    }

    fn serve(&self, mut s: TcpStream) {
        s.set_read_timeout(Some(DEADLINE)).unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            match s.read(&mut buf) {
                Ok(n) if n > 0 => got.extend_from_slice(&buf[..n]),
                _ => break,
            }
            if got.windows(4).any(|w| w == b"\r\n\r\n") && got.windows(5).any(|w| w == b"GET /") {
                let _ = s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
                break;
            }
        }
        self.0.lock().unwrap().push(got);
    }

    /// The bytes of the next connection to end.
    fn next(&self) -> Vec<u8> {
        assert!(wait_until(DEADLINE, || !self.0.lock().unwrap().is_empty()), "the server saw no connection");
        self.0.lock().unwrap().remove(0)
    }

    fn count(&self) -> usize {
        self.0.lock().unwrap().len()
    }
}

fn v2_tcp(src: SocketAddr, dst: SocketAddr) -> Vec<u8> {
    let mut h = SIG.to_vec();
    let ip = |a: SocketAddr| match a.ip() {
        IpAddr::V4(v4) => v4.octets().to_vec(),
        IpAddr::V6(v6) => v6.octets().to_vec(),
    };
    let fam = if src.is_ipv4() { 0x11 } else { 0x21 };
    let body: Vec<u8> = [ip(src), ip(dst), src.port().to_be_bytes().to_vec(), dst.port().to_be_bytes().to_vec()].concat();
    h.extend_from_slice(&[0x21, fam]);
    h.extend_from_slice(&(body.len() as u16).to_be_bytes());
    h.extend_from_slice(&body);
    h
}

fn sa(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

struct Setup {
    p: Proxy,
    v1: Recorder,
    v2: Recorder,
    _b: (Backend, Backend),
}

fn start(bin: &std::path::Path) -> Setup {
    let (v1, b1) = Recorder::start();
    let (v2, b2) = Recorder::start();
    let p = ProxyBuilder::new(
        r#"global
    log stdout format raw local0
defaults
    log global
    timeout connect 1s
    timeout client 3s
    timeout server 3s
    log-format "LOG %ft %ci:%cp>%fi:%fp %[src]:%[src_port]>%[dst]:%[dst_port]"
frontend pp
    mode tcp
    bind 127.0.0.1:{{pp}} accept-proxy
    default_backend v1
frontend pp2
    mode tcp
    bind 127.0.0.1:{{pp2}} accept-proxy
    default_backend v2
frontend plain
    mode tcp
    bind 127.0.0.1:{{plain}}
    default_backend v2
frontend web
    mode http
    bind 127.0.0.1:{{web}} accept-proxy
    default_backend webv1
backend v1
    mode tcp
    server s 127.0.0.1:{{b1}} send-proxy
backend v2
    mode tcp
    server s 127.0.0.1:{{b2}} send-proxy-v2
backend webv1
    mode http
    server s 127.0.0.1:{{b1}} send-proxy
"#,
    )
    .bin(bin)
    .port("b1", b1.port())
    .port("b2", b2.port())
    .start();
    Setup { p, v1, v2, _b: (b1, b2) }
}

/// Sends `data` to `port` and half-closes, then reads until the proxy closes.
fn exchange(p: &Proxy, name: &str, data: &[u8]) -> (Client, Vec<u8>) {
    let mut c = p.connect(name);
    c.send(data);
    c.shutdown_write();
    let (got, _) = c.recv_until_close();
    (c, got)
}

#[test]
fn accept_proxy_and_send_proxy_as_haproxy() {
    for bin in moonproxy_and_haproxy() {
        let s = start(&bin);
        let who = bin.display().to_string();

        // v1 IPv4 in, v1 out: the header's addresses go on, the data follows.
        exchange(&s.p, "pp", b"PROXY TCP4 1.2.3.4 5.6.7.8 1111 2222\r\nhello");
        assert_eq!(s.v1.next(), b"PROXY TCP4 1.2.3.4 5.6.7.8 1111 2222\r\nhello", "{who}");
        s.p.wait_for_line(|l| l == "LOG pp 1.2.3.4:1111>5.6.7.8:2222 1.2.3.4:1111>5.6.7.8:2222", DEADLINE);

        // v1 IPv6 in.
        exchange(&s.p, "pp", b"PROXY TCP6 2001:db8::1 2001:db8::2 1111 2222\r\nsix");
        assert_eq!(s.v1.next(), b"PROXY TCP6 2001:db8::1 2001:db8::2 1111 2222\r\nsix", "{who}");
        s.p.wait_for_line(|l| l == "LOG pp 2001:db8::1:1111>2001:db8::2:2222 2001:db8::1:1111>2001:db8::2:2222", DEADLINE);

        // v2 IPv4 and IPv6 in, v2 out.
        let mut h = v2_tcp(sa("10.0.0.1:40000"), sa("10.0.0.2:443"));
        h.extend_from_slice(b"v2data");
        exchange(&s.p, "pp2", &h);
        assert_eq!(s.v2.next(), h, "{who}: v2 IPv4 relayed as received");
        let mut h6 = v2_tcp(sa("[2001:db8::7]:5"), sa("[::1]:6"));
        h6.extend_from_slice(b"x");
        exchange(&s.p, "pp2", &h6);
        assert_eq!(s.v2.next(), h6, "{who}: v2 IPv6 relayed as received");
        s.p.wait_for_line(|l| l == "LOG pp2 2001:db8::7:5>::1:6 2001:db8::7:5>::1:6", DEADLINE);

        // v2 from the connection's own addresses.
        let c = exchange(&s.p, "plain", b"raw").0;
        let me = c.stream().local_addr().unwrap();
        let mut want = v2_tcp(me, s.p.addr("plain"));
        want.extend_from_slice(b"raw");
        assert_eq!(s.v2.next(), want, "{who}: send-proxy-v2 bytes");

        // UNKNOWN and LOCAL keep the real addresses.
        let c = exchange(&s.p, "pp", b"PROXY UNKNOWN\r\nu").0;
        let me = c.stream().local_addr().unwrap();
        let real = format!("PROXY TCP4 127.0.0.1 127.0.0.1 {} {}\r\n", me.port(), s.p.port("pp"));
        assert_eq!(s.v1.next(), [real.as_bytes(), b"u"].concat(), "{who}: UNKNOWN");
        let local = [SIG, b"\x20\x00\x00\x00", b"l"].concat();
        let c = exchange(&s.p, "pp", &local).0;
        let me = c.stream().local_addr().unwrap();
        let real = format!("PROXY TCP4 127.0.0.1 127.0.0.1 {} {}\r\n", me.port(), s.p.port("pp"));
        assert_eq!(s.v1.next(), [real.as_bytes(), b"l"].concat(), "{who}: LOCAL");

        // HTTP: the header is read before the request.
        let mut c = s.p.connect("web");
        c.send(b"PROXY TCP4 9.9.9.9 8.8.8.8 999 80\r\n");
        let r = c.http_request(b"GET /x HTTP/1.1\r\nhost: a\r\n\r\n");
        assert_eq!(r.status, 200, "{who}");
        let got = s.v1.next();
        assert!(got.starts_with(b"PROXY TCP4 9.9.9.9 8.8.8.8 999 80\r\nGET /x HTTP/1.1\r\n"), "{who}: {}", String::from_utf8_lossy(&got));
        s.p.wait_for_line(|l| l == "LOG web 9.9.9.9:999>8.8.8.8:80 9.9.9.9:999>8.8.8.8:80", DEADLINE);
    }
}

#[test]
fn bad_or_missing_header_closes_with_haproxys_log_line() {
    for bin in moonproxy_and_haproxy() {
        let s = start(&bin);
        let who = bin.display().to_string();
        let cases: [(&[u8], &str); 5] = [
            (b"GET / HTTP/1.0\r\n\r\n", "Received something which does not look like a PROXY protocol header"),
            (b"PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n", "Received an unhandled protocol in the PROXY protocol header"),
            (b"PROXY TCP4 1.2.3.4", "Truncated PROXY protocol header received"),
            (b"PROXY TCP4 1.2.3.4 5.6.7.8 1\r\nx", "Received an invalid PROXY protocol header"),
            (b"", "Connection closed while waiting for PROXY protocol header"),
        ];
        for (data, message) in cases {
            let mut c = s.p.connect("pp");
            let me = c.stream().local_addr().unwrap();
            if !data.is_empty() {
                c.send(data);
            }
            std::thread::sleep(Duration::from_millis(50));
            let _ = c.stream().shutdown(std::net::Shutdown::Write);
            let _ = c.recv_until_close();
            let line = s.p.wait_for_line(|l| l.ends_with(message), DEADLINE);
            let prefix = format!("127.0.0.1:{} [", me.port());
            assert!(line.starts_with(&prefix) && line.contains("] pp/1: "), "{who}: {line}");
        }
        assert_eq!(s.v1.count(), 0, "{who}: nothing reached the server");
    }
}

#[test]
fn check_send_proxy_as_haproxy() {
    for bin in moonproxy_and_haproxy() {
        let (v1, b1) = Recorder::start();
        let (v2, b2) = Recorder::start();
        let _p = ProxyBuilder::new(
            "defaults
    mode tcp
    timeout connect 1s
    timeout client 3s
    timeout server 3s
listen l
    bind 127.0.0.1:{{fe}}
    server s1 127.0.0.1:{{b1}} send-proxy check check-send-proxy inter 200
    server s2 127.0.0.1:{{b2}} send-proxy-v2 check check-send-proxy inter 200
",
        )
        .bin(&bin)
        .port("b1", b1.port())
        .port("b2", b2.port())
        .start();
        let who = bin.display().to_string();
        // v1: the probe's own addresses; v2: the LOCAL command, no address.
        let got = String::from_utf8(v1.next()).unwrap();
        assert!(got.starts_with("PROXY TCP4 127.0.0.1 127.0.0.1 ") && got.ends_with(&format!(" {}\r\n", b1.port())), "{who}: {got:?}");
        assert_eq!(v2.next(), [SIG, b"\x20\x00\x00\x00"].concat(), "{who}");
    }
}

/// CRC32c as the PROXY protocol specification defines it, written here independently.
fn crc32c(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ 0x82F6_3B78 } else { crc >> 1 };
        }
    }
    !crc
}

#[test]
fn proxy_v2_crc32c_as_haproxy() {
    for bin in moonproxy_and_haproxy() {
        let (rec, b) = Recorder::start();
        let p = ProxyBuilder::new(
            "defaults
    mode tcp
    timeout connect 1s
    timeout client 3s
    timeout server 3s
listen l
    bind 127.0.0.1:{{fe}}
    server s 127.0.0.1:{{be}} send-proxy-v2 proxy-v2-options crc32c
",
        )
        .bin(&bin)
        .port("be", b.port())
        .start();
        let c = exchange(&p, "fe", b"z").0;
        let me = c.stream().local_addr().unwrap();
        // The addresses, then the CRC32C TLV (type 3, length 4) computed over the whole
        // header with its value at zero.
        let mut want = v2_tcp(me, p.addr("fe"));
        want[15] += 7;
        want.extend_from_slice(&[3, 0, 4, 0, 0, 0, 0]);
        let crc = crc32c(&want);
        let n = want.len();
        want[n - 4..].copy_from_slice(&crc.to_be_bytes());
        want.push(b'z');
        assert_eq!(rec.next(), want, "{}", bin.display());
    }
}

#[test]
fn send_proxy_connections_are_not_shared_between_clients() {
    // An HTTP server that keeps connections alive and says which header it got.
    let headers = Arc::new(Mutex::new(Vec::<String>::new()));
    let h = headers.clone();
    let server = Backend::custom(move |mut s, _| {
        s.set_read_timeout(Some(DEADLINE)).unwrap();
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            match s.read(&mut chunk) {
                Ok(n) if n > 0 => buf.extend_from_slice(&chunk[..n]),
                _ => return,
            }
            while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&buf[..end]).into_owned();
                if let Some(line) = head.lines().find(|l| l.starts_with("PROXY ")) {
                    h.lock().unwrap().push(line.to_string());
                }
                buf.drain(..end + 4);
                let _ = s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n");
            }
        }
    });
    let p = ProxyBuilder::new(
        "defaults
    mode http
    timeout connect 1s
    timeout client 3s
    timeout server 3s
    http-reuse always
listen l
    bind 127.0.0.1:{{fe}} accept-proxy
    server s 127.0.0.1:{{be}} send-proxy
",
    )
    .port("be", server.port())
    .start();
    for ip in ["1.1.1.1", "2.2.2.2"] {
        let mut c = p.connect("fe");
        c.send(format!("PROXY TCP4 {ip} 9.9.9.9 1000 80\r\n").as_bytes());
        assert_eq!(c.http_request(b"GET / HTTP/1.1\r\nhost: a\r\n\r\n").status, 200);
    }
    // Each client's requests went on a connection that announced that client.
    assert_eq!(server.connections(), 2, "{:?}", headers.lock().unwrap());
    let got = headers.lock().unwrap().clone();
    assert_eq!(got, ["PROXY TCP4 1.1.1.1 9.9.9.9 1000 80", "PROXY TCP4 2.2.2.2 9.9.9.9 1000 80"]);
}
