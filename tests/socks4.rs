//! `server ... socks4 <addr>:<port>` and `check-via-socks4`: connections (and checks) to
//! a server go through a SOCKS4 proxy, written here, which records each CONNECT
//! request and relays to the address it names; compared with HAProxy 2.6 where it is
//! installed.

mod common;

use common::*;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddrV4, TcpListener, TcpStream};
use std::path::Path;
use std::sync::{Arc, Mutex};

/// A SOCKS4 proxy on loopback: records every CONNECT request; grants it (status 90)
/// and relays both ways, or refuses it (91) and closes.
struct Socks {
    port: u16,
    requests: Arc<Mutex<Vec<Vec<u8>>>>,
}

impl Socks {
    fn start(grant: bool) -> Socks {
        let listener = TcpListener::bind(loopback(0)).unwrap();
        let port = listener.local_addr().unwrap().port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = requests.clone();
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { return };
                let seen = seen.clone();
                std::thread::spawn(move || serve(client, grant, &seen));
            }
        });
        Socks { port, requests }
    }

    fn requests(&self) -> Vec<Vec<u8>> {
        self.requests.lock().unwrap().clone()
    }
}

/// One client of the proxy: its request (the 8 fixed bytes, then the user id up to its
/// NUL), the reply, then the relay.
fn serve(mut client: TcpStream, grant: bool, seen: &Mutex<Vec<Vec<u8>>>) {
    client.set_read_timeout(Some(DEADLINE)).unwrap();
    let mut request = Vec::new();
    let mut byte = [0u8];
    while request.len() < 8 || request.last() != Some(&0) {
        match client.read(&mut byte) {
            Ok(1) => request.push(byte[0]),
            _ => return,
        }
    }
    seen.lock().unwrap().push(request.clone());
    if !grant {
        let _ = client.write_all(&[0, 91, 0, 0, 0, 0, 0, 0]);
        return;
    }
    let ip = Ipv4Addr::new(request[4], request[5], request[6], request[7]);
    let port = u16::from_be_bytes([request[2], request[3]]);
    let Ok(server) = TcpStream::connect(SocketAddrV4::new(ip, port)) else { return };
    let _ = client.write_all(&[0, 90, 0, 0, 0, 0, 0, 0]);
    client.set_read_timeout(None).unwrap();
    let (mut c2, mut s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut c2, &mut s2);
        let _ = s2.shutdown(std::net::Shutdown::Write);
    });
    let (mut c, mut s) = (client, server);
    let _ = std::io::copy(&mut s, &mut c);
    let _ = c.shutdown(std::net::Shutdown::Write);
}

/// The request a SOCKS4 CONNECT to 127.0.0.1:`port` carries, as HAProxy 2.6 sends it.
fn connect_request(port: u16) -> Vec<u8> {
    let mut r = vec![4, 1];
    r.extend_from_slice(&port.to_be_bytes());
    r.extend_from_slice(&[127, 0, 0, 1]);
    r.extend_from_slice(b"HAProxy\0");
    r
}

const CONFIG: &str = "defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{{fe}}
    default_backend be
backend be
    retries 1
    server s1 127.0.0.1:{{app}} socks4 127.0.0.1:{{socks}}
";

/// The statuses of `n` requests, each on its own connection.
fn statuses(bin: &Path, app: &Backend, socks: &Socks, n: usize) -> Vec<u16> {
    let proxy = ProxyBuilder::new(CONFIG).bin(bin).port("app", app.port()).port("socks", socks.port).start();
    (0..n)
        .map(|_| {
            let mut c = proxy.connect("fe");
            c.http_request(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").status
        })
        .collect()
}

#[test]
fn requests_reach_the_server_through_the_proxy_as_with_haproxy() {
    let app = http_app();
    let mut runs = Vec::new();
    for bin in moonproxy_and_haproxy() {
        let socks = Socks::start(true);
        let before = app.stats().requests();
        let seen = statuses(&bin, &app, &socks, 3);
        assert_eq!(seen, [200, 200, 200], "{}", bin.display());
        assert_eq!(app.stats().requests() - before, 3, "{}: the server answered each", bin.display());
        let requests = socks.requests();
        assert_eq!(requests, vec![connect_request(app.port()); 3], "{}: one CONNECT per server connection", bin.display());
        runs.push((bin, vec![format!("{seen:?}"), format!("{requests:?}")]));
    }
    assert_runs_agree(&runs);
}

#[test]
fn a_refusing_proxy_is_a_failed_connection_retried_then_503() {
    let app = http_app();
    let mut runs = Vec::new();
    for bin in moonproxy_and_haproxy() {
        let socks = Socks::start(false);
        let before = app.stats().connections();
        let seen = statuses(&bin, &app, &socks, 1);
        assert_eq!(seen, [503], "{}", bin.display());
        assert_eq!(app.stats().connections(), before, "{}: the server saw nothing", bin.display());
        // The first attempt and its retry (`retries 1`) each asked the proxy.
        let asked = socks.requests().len();
        assert_eq!(asked, 2, "{}", bin.display());
        runs.push((bin, vec![format!("{seen:?} {asked}")]));
    }
    assert_runs_agree(&runs);
}

#[test]
fn checks_go_through_the_proxy_only_with_check_via_socks4() {
    for bin in moonproxy_and_haproxy() {
        for via in [true, false] {
            let app = http_app();
            let socks = Socks::start(true);
            let config = format!(
                "defaults
    mode http
    option httpchk GET /health
    timeout connect 1s
    timeout client 5s
    timeout server 5s
    timeout check 1s
frontend fe
    bind 127.0.0.1:{{{{fe}}}}
    default_backend be
backend be
    server s1 127.0.0.1:{{{{app}}}} socks4 127.0.0.1:{{{{socks}}}} check inter 100ms {}
",
                if via { "check-via-socks4" } else { "" }
            );
            let _proxy = ProxyBuilder::new(&config).bin(&bin).port("app", app.port()).port("socks", socks.port).start();
            // HTTP checks every 100 ms: wait for two at the server, by either way.
            assert!(wait_until(DEADLINE, || app.stats().requests() >= 2), "{}: no check reached the server (via socks4: {via}; the proxy saw {:?})", bin.display(), socks.requests());
            let requests = socks.requests();
            if via {
                assert!(requests.len() >= 2 && requests.iter().all(|r| *r == connect_request(app.port())), "{}: {requests:?}", bin.display());
            } else {
                assert!(requests.is_empty(), "{}: a check went through the proxy without check-via-socks4", bin.display());
            }
        }
    }
}

#[test]
fn configuration_errors_match_haproxy() {
    let mut runs = Vec::new();
    for bin in moonproxy_and_haproxy() {
        let mut seen = Vec::new();
        for opts in ["socks4", "socks4 127.0.0.1", "socks4 foo", "socks4 127.0.0.1:1080 check-via-socks4"] {
            let config = format!(
                "defaults\n    mode tcp\n    timeout connect 1s\n    timeout client 1s\n    timeout server 1s\nfrontend fe\n    bind 127.0.0.1:8080\n    default_backend be\nbackend be\n    server s1 127.0.0.1:80 {opts}\n"
            );
            let out = ProxyBuilder::new(&config).bin(&bin).flags(["-c"]).run();
            let alert = format!("{}{}", out.stdout, out.stderr)
                .lines()
                .find(|l| l.contains("'server be/s1'"))
                .map(|l| l.split_once("] : ").map_or(l, |(_, rest)| rest).to_string());
            seen.push((out.status.code(), alert));
        }
        assert_eq!(seen[3], (Some(0), None), "{}", bin.display());
        assert!(seen[..3].iter().all(|(code, _)| *code != Some(0)), "{}: {seen:?}", bin.display());
        runs.push((bin, seen));
    }
    assert_runs_agree(&runs);
}

/// `ssl` and `send-proxy` on a server behind the proxy: the SOCKS4 exchange comes
/// first, then the PROXY header, then the TLS handshake, as HAProxy orders them (the
/// TLS server here reads the PROXY line before its handshake).
#[test]
fn tls_and_the_proxy_protocol_go_through_the_tunnel() {
    use common::tls::*;
    let (pem, _) = cert(&["app.test"]);
    let app = serve_tls(std::sync::Arc::new(server_config(&pem)), |s| {
        let (conn, mut sock) = (s.conn, s.sock);
        // The PROXY v1 line, in clear, before the ClientHello.
        let mut line = Vec::new();
        let mut byte = [0u8];
        while !line.ends_with(b"\r\n") && sock.read(&mut byte).unwrap_or(0) == 1 {
            line.push(byte[0]);
        }
        let mut s = rustls::StreamOwned::new(conn, sock);
        if read_head(&mut s).is_some() {
            let body = String::from_utf8_lossy(&line).split(' ').next().unwrap_or("").to_string();
            let _ = write!(s, "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
            let _ = s.flush();
        }
    });
    let config = "defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{{fe}}
    default_backend be
backend be
    server s1 127.0.0.1:{{app}} socks4 127.0.0.1:{{socks}} ssl verify none send-proxy
";
    let mut runs = Vec::new();
    for bin in moonproxy_and_haproxy() {
        let socks = Socks::start(true);
        let proxy = ProxyBuilder::new(config).bin(&bin).port("app", app).port("socks", socks.port).start();
        let r = proxy.connect("fe").http_request(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
        let seen = (r.status, String::from_utf8_lossy(&r.body).into_owned(), socks.requests());
        assert_eq!(seen, (200, "PROXY".to_string(), vec![connect_request(app)]), "{}", bin.display());
        runs.push((bin, vec![format!("{seen:?}")]));
    }
    assert_runs_agree(&runs);
}
