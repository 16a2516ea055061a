//! Seamless reload: `_getsocks` over the stats socket, `-x` takeover, `-sf`/`-st`, the old
//! process's soft stop, and the acceptance test of issue 8 (20 reloads under load, no
//! refused connection, no failed request).

mod common;
use common::*;

use moonproxy::sys::scm;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

/// An HTTP frontend in front of a harness backend, a stats socket that may hand its
/// listeners over, and `X-Gen` telling which generation of the process answered.
const RELOAD_CFG: &str = "
global
    stats socket {{sock}} level admin expose-fd listeners
    hard-stop-after {{hsa}}
defaults
    mode http
    timeout connect 5s
    timeout client 10s
    timeout server 10s
frontend fe
    bind 127.0.0.1:{{fe}}
    http-response set-header X-Gen {{gen}}
    default_backend be
backend be
    server s1 127.0.0.1:{{be}}
";

/// A keep-alive HTTP/1.1 server answering each request after a short pause (so that
/// requests are in flight when a reload comes).
fn slow_http_backend() -> Backend {
    Backend::custom(|conn, stats| {
        let mut reader = BufReader::new(conn.try_clone().unwrap());
        let mut conn = conn;
        loop {
            // A request head (GET, no body): lines up to the empty one.
            let mut line = String::new();
            let mut got_any = false;
            loop {
                line.clear();
                match reader.read_line(&mut line) {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
                if line == "\r\n" && got_any {
                    break;
                }
                got_any = true;
            }
            thread::sleep(Duration::from_millis(2));
            stats.add_request();
            if conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok").is_err() {
                return;
            }
        }
    })
}

/// A directory of the test's own, for the stats socket every generation shares.
struct SockDir(PathBuf);

impl SockDir {
    fn new(name: &str) -> SockDir {
        let dir = std::env::temp_dir().join(format!("mp-reload-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        SockDir(dir)
    }
    fn sock(&self) -> PathBuf {
        self.0.join("stats.sock")
    }
}

impl Drop for SockDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Generation `gen` of the proxy, on port `fe` (the first: on a port the harness picks),
/// replacing `old` with `-sf <old>`, and `-x <sock>` when `takeover`.
fn generation(fe: Option<u16>, be: u16, sock: &Path, gen: u32, old: Option<u32>, takeover: bool) -> ProxyBuilder {
    let mut b = ProxyBuilder::new(RELOAD_CFG).port("be", be).var("sock", sock.display()).var("gen", gen).var("hsa", "10s");
    if let Some(fe) = fe {
        b = b.port("fe", fe);
    }
    if let Some(pid) = old {
        if takeover {
            b = b.arg("-x").arg(&sock.display().to_string());
        }
        b = b.arg("-sf").arg(&pid.to_string());
    }
    b
}

/// What one response said, or how the exchange failed.
#[derive(Debug)]
enum Exchange {
    Ok { gen: u32, close: bool },
    /// The connection ended (EOF or reset) before the first byte of a response.
    ClosedBeforeResponse,
    Failed(String),
}

/// Sends `GET /` on `conn` and reads the response (`Content-Length` framing).
fn exchange(conn: &mut TcpStream, close: bool) -> Exchange {
    let req: &[u8] = if close { b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n" } else { b"GET / HTTP/1.1\r\nHost: t\r\n\r\n" };
    if let Err(e) = conn.write_all(req) {
        return match e.kind() {
            io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset => Exchange::ClosedBeforeResponse,
            _ => Exchange::Failed(format!("write: {e}")),
        };
    }
    let mut reader = BufReader::new(&*conn);
    let mut status = String::new();
    match reader.read_line(&mut status) {
        Ok(0) => return Exchange::ClosedBeforeResponse,
        Err(e) if e.kind() == io::ErrorKind::ConnectionReset => return Exchange::ClosedBeforeResponse,
        Err(e) => return Exchange::Failed(format!("status line: {e}")),
        Ok(_) => {}
    }
    if !status.starts_with("HTTP/1.1 200") {
        return Exchange::Failed(format!("status {status:?}"));
    }
    let (mut len, mut gen, mut conn_close) = (None, None, false);
    loop {
        let mut line = String::new();
        match reader.read_line(&mut line) {
            Ok(0) => return Exchange::Failed("EOF in the response head".into()),
            Err(e) => return Exchange::Failed(format!("head: {e}")),
            Ok(_) => {}
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let (name, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.trim();
        match name.to_ascii_lowercase().as_str() {
            "content-length" => len = value.parse::<usize>().ok(),
            "x-gen" => gen = value.parse::<u32>().ok(),
            "connection" => conn_close = value.eq_ignore_ascii_case("close"),
            _ => {}
        }
    }
    let mut body = vec![0u8; len.unwrap_or(0)];
    if let Err(e) = reader.read_exact(&mut body) {
        return Exchange::Failed(format!("body: {e}"));
    }
    if body != b"ok" {
        return Exchange::Failed(format!("body {body:?}"));
    }
    match gen {
        Some(gen) => Exchange::Ok { gen, close: conn_close },
        None => Exchange::Failed("no X-Gen".into()),
    }
}

fn connect(port: u16) -> io::Result<TcpStream> {
    let c = TcpStream::connect(loopback(port))?;
    c.set_read_timeout(Some(DEADLINE))?;
    c.set_write_timeout(Some(DEADLINE))?;
    Ok(c)
}

/// `GET /` on a new connection: the generation that answered.
fn gen_of_new_connection(port: u16) -> Option<u32> {
    match exchange(&mut connect(port).ok()?, true) {
        Exchange::Ok { gen, .. } => Some(gen),
        _ => None,
    }
}

/// Asks for the listeners over `sock`: the descriptors, or the error (EOF: refused).
fn getsocks(sock: &Path) -> io::Result<Vec<std::os::fd::OwnedFd>> {
    let mut s = UnixStream::connect(sock)?;
    s.set_read_timeout(Some(DEADLINE))?;
    s.write_all(b"_getsocks\n")?;
    scm::recv_listeners(s.as_fd())
}

/// (a) `_getsocks` answers only on a socket with `expose-fd listeners`: elsewhere the
/// connection closes without a word, even at level admin. As with HAProxy 2.6 (checked
/// against it here when it is installed), `expose-fd` is the grant, whatever the level.
/// Every listening socket goes: the frontend's and the stats sockets.
#[test]
fn getsocks_needs_expose_fd_listeners() {
    for bin in moonproxy_and_haproxy() {
        let p = ProxyBuilder::new(
            "
global
    stats socket {{dir}}/plain.sock level admin
    stats socket {{dir}}/fd.sock level user expose-fd listeners
defaults
    mode http
    timeout connect 5s
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{{fe}}
    http-request return status 200
",
        )
        .bin(&bin)
        .start();
        let plain = p.dir().join("plain.sock");
        assert!(p.wait_for_path(&plain, DEADLINE));
        let mut s = UnixStream::connect(&plain).unwrap();
        s.set_read_timeout(Some(DEADLINE)).unwrap();
        s.write_all(b"_getsocks\n").unwrap();
        let mut answer = Vec::new();
        s.read_to_end(&mut answer).unwrap();
        assert_eq!(answer, b"", "{}: refused without a word", bin.display());
        assert_eq!(getsocks(&plain).unwrap_err().kind(), io::ErrorKind::UnexpectedEof);

        let fds = getsocks(&p.dir().join("fd.sock")).unwrap_or_else(|e| panic!("{}: {e}", bin.display()));
        let socks: Vec<socket2::Socket> = fds.into_iter().map(socket2::Socket::from).collect();
        assert_eq!(socks.len(), 3, "{}: the frontend's and both stats sockets", bin.display());
        assert!(socks.iter().all(|s| s.is_listener().unwrap()));
        let fe = p.addr("fe");
        assert!(socks.iter().any(|s| s.local_addr().unwrap().as_socket() == Some(fe)), "{}: the frontend's socket", bin.display());
    }
}

/// (b) `-x`: the new process takes the old one's socket, with its accept queue: a
/// connection made while the old process no longer accepted (paused with SIGTTOU) and
/// still waiting in the queue is served by the new process. The stats socket is taken
/// over too (it answers for the new process at the same path).
#[test]
fn takeover_keeps_the_accept_queue() {
    let backend = slow_http_backend();
    let dir = SockDir::new("queue");
    let old = generation(None, backend.port(), &dir.sock(), 1, None, false).start();
    let fe = old.port("fe");
    assert!(old.wait_for_path(&dir.sock(), DEADLINE));
    old.signal("TTOU");
    old.wait_for_line(|l| l.contains("Paused frontend fe"), DEADLINE);
    // Accepted by the kernel into the queue; nobody takes it from there yet.
    let mut waiting = connect(fe).expect("the backlog takes the connection");
    waiting.write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
    let mut new = generation(Some(fe), backend.port(), &dir.sock(), 2, Some(old.pid()), true).spawn();
    let mut reader = BufReader::new(waiting.try_clone().unwrap());
    let mut status = String::new();
    reader.read_line(&mut status).unwrap();
    assert!(status.starts_with("HTTP/1.1 200"), "{status:?}\n{}", new.report_lines());
    let mut head = String::new();
    while reader.read_line(&mut head).unwrap() > 2 {}
    assert!(head.to_ascii_lowercase().contains("x-gen: 2"), "served by the new process: {head}");
    let mut old = old;
    assert!(old.wait_exit(DEADLINE).success());
    let info = cli(&dir.sock(), "show info\n");
    assert!(info.contains(&format!("Pid: {}\n", new.pid())), "{info}");
    assert!(new.stop().success());
}

/// The exchange is HAProxy's: HAProxy 2.6 takes moonproxy's sockets over with `-x`,
/// and moonproxy takes them back from HAProxy (when HAProxy is installed).
#[test]
fn haproxy_and_moonproxy_take_each_others_sockets() {
    let Some(haproxy) = haproxy_bin() else { return };
    let backend = slow_http_backend();
    let dir = SockDir::new("cross");
    let mut first = generation(None, backend.port(), &dir.sock(), 1, None, false).start();
    let fe = first.port("fe");
    assert!(first.wait_for_path(&dir.sock(), DEADLINE));
    let mut second = generation(Some(fe), backend.port(), &dir.sock(), 2, Some(first.pid()), true).bin(&haproxy).spawn();
    assert!(wait_until(DEADLINE, || gen_of_new_connection(fe) == Some(2)), "HAProxy serves
{}", second.report_lines());
    assert!(first.wait_exit(DEADLINE).success());
    let mut third = generation(Some(fe), backend.port(), &dir.sock(), 3, Some(second.pid()), true).spawn();
    assert!(wait_until(DEADLINE, || gen_of_new_connection(fe) == Some(3)), "moonproxy serves
{}", third.report_lines());
    assert!(second.wait_exit(DEADLINE).success());
    assert!(third.stop().success());
}

trait ReportLines {
    fn report_lines(&self) -> String;
}

impl ReportLines for Proxy {
    /// The process's output so far, for a failure message.
    fn report_lines(&self) -> String {
        self.lines().iter().map(|l| l.text.clone()).collect::<Vec<_>>().join("\n")
    }
}

/// Without `-x`, `-sf` binds beside the old process (SO_REUSEPORT on TCP, and the
/// stats socket bound under a temporary name and renamed over the live one).
#[test]
fn sf_without_takeover_binds_beside_the_old_process() {
    let backend = slow_http_backend();
    let dir = SockDir::new("beside");
    let mut old = generation(None, backend.port(), &dir.sock(), 1, None, false).start();
    let fe = old.port("fe");
    assert!(old.wait_for_path(&dir.sock(), DEADLINE));
    let mut new = generation(Some(fe), backend.port(), &dir.sock(), 2, Some(old.pid()), false).spawn();
    assert!(wait_until(DEADLINE, || gen_of_new_connection(fe) == Some(2)), "the new process serves");
    assert!(old.wait_exit(DEADLINE).success(), "the old process soft-stopped");
    let info = cli(&dir.sock(), "show info\n");
    assert!(info.contains(&format!("Pid: {}\n", new.pid())), "{info}");
    assert!(!dir.0.read_dir().unwrap().any(|e| e.unwrap().file_name().to_string_lossy().ends_with(".tmp")), "no temporary name left");
    assert!(new.stop().success());
}

/// `-st`: the old process is stopped at once (SIGTERM), the new one serves.
#[test]
fn st_terminates_the_old_process() {
    let backend = slow_http_backend();
    let dir = SockDir::new("st");
    let mut old = generation(None, backend.port(), &dir.sock(), 1, None, false).start();
    let fe = old.port("fe");
    assert!(old.wait_for_path(&dir.sock(), DEADLINE));
    // A keep-alive client of the old process, idle: a soft stop would close it too, a
    // hard one just drops it.
    let mut idle = connect(fe).unwrap();
    assert!(matches!(exchange(&mut idle, false), Exchange::Ok { gen: 1, close: false }));
    let b = ProxyBuilder::new(RELOAD_CFG).port("fe", fe).port("be", backend.port()).var("sock", dir.sock().display()).var("gen", 2).var("hsa", "10s");
    let mut new = b.arg("-x").arg(&dir.sock().display().to_string()).arg("-st").arg(&old.pid().to_string()).spawn();
    assert!(old.wait_exit(DEADLINE).success());
    assert_eq!(gen_of_new_connection(fe), Some(2));
    assert!(new.stop().success());
}

/// A soft-stopped process waits for its requests in flight, but not longer than
/// `hard-stop-after`: a request stuck on a silent server is cut then.
#[test]
fn hard_stop_after_cuts_what_is_stuck() {
    let silent = Backend::start(Behaviour::Silent);
    let dir = SockDir::new("hsa");
    let hsa = Duration::from_millis(1500);
    let mut old = generation(None, silent.port(), &dir.sock(), 1, None, false).var("hsa", "1500ms").start();
    let fe = old.port("fe");
    assert!(old.wait_for_path(&dir.sock(), DEADLINE));
    let mut stuck = connect(fe).unwrap();
    stuck.write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
    assert!(silent.wait_connections(1, DEADLINE), "the request reached the server");
    let signalled_after = Instant::now();
    let new = generation(Some(fe), silent.port(), &dir.sock(), 2, Some(old.pid()), true).spawn();
    // The new process serves (its own request is stuck on the same silent server, so
    // ask its stats socket instead).
    assert!(wait_until(DEADLINE, || cli(&dir.sock(), "show info\n").contains(&format!("Pid: {}\n", new.pid()))));
    assert!(old.wait_exit(DEADLINE).success());
    assert!(signalled_after.elapsed() >= hsa, "the old process waited for its request until hard-stop-after");
    let mut rest = Vec::new();
    let _ = stuck.read_to_end(&mut rest); // closed (or reset) by the hard stop
    assert!(!String::from_utf8_lossy(&rest).starts_with("HTTP/1.1 200"), "{rest:?}");
    drop(new);
}

/// Counters of the client pool.
#[derive(Default)]
struct Tally {
    requests: AtomicU64,
    refused: AtomicU64,
    failed: AtomicU64,
    retries: AtomicU64,
    /// Responses on keep-alive connections that said `Connection: close` (the old
    /// process answering a request in flight when it was told to stop).
    closed_by_proxy: AtomicU64,
    failures: std::sync::Mutex<Vec<String>>,
}

impl Tally {
    fn fail(&self, what: String) {
        self.failed.fetch_add(1, Ordering::SeqCst);
        let mut f = self.failures.lock().unwrap();
        if f.len() < 20 {
            f.push(what);
        }
    }
}

/// One client: a keep-alive connection (or a new connection for each request), GETs
/// in a loop until `stop`. A request that finds its reused keep-alive connection closed
/// before any response byte is retried once on a new connection (RFC 9112 §9.3.1);
/// a refused connect or a failed retry is a failure.
fn client_loop(port: u16, keep_alive: bool, stop: &AtomicBool, tally: &Tally) {
    let mut conn: Option<(TcpStream, bool)> = None; // (connection, already used)
    while !stop.load(Ordering::SeqCst) {
        let (c, reused) = match conn.take() {
            Some(c) => c,
            None => match connect(port) {
                Ok(c) => (c, false),
                Err(e) => {
                    tally.refused.fetch_add(1, Ordering::SeqCst);
                    tally.fail(format!("connect: {e}"));
                    thread::sleep(Duration::from_millis(5));
                    continue;
                }
            },
        };
        let mut c = c;
        let outcome = match exchange(&mut c, !keep_alive) {
            Exchange::ClosedBeforeResponse if reused => {
                tally.retries.fetch_add(1, Ordering::SeqCst);
                match connect(port) {
                    Ok(fresh) => {
                        c = fresh;
                        exchange(&mut c, !keep_alive)
                    }
                    Err(e) => {
                        tally.refused.fetch_add(1, Ordering::SeqCst);
                        tally.fail(format!("connect (retry): {e}"));
                        continue;
                    }
                }
            }
            other => other,
        };
        match outcome {
            Exchange::Ok { close, .. } => {
                tally.requests.fetch_add(1, Ordering::SeqCst);
                if keep_alive && !close {
                    conn = Some((c, true));
                } else if keep_alive {
                    tally.closed_by_proxy.fetch_add(1, Ordering::SeqCst);
                }
            }
            Exchange::ClosedBeforeResponse => tally.fail(format!("closed before the response (reused: {reused})")),
            Exchange::Failed(why) => tally.fail(why),
        }
        thread::sleep(Duration::from_millis(1));
    }
}

/// (c) Issue 8's acceptance test: 50 keep-alive clients and a few clients opening a
/// connection per request keep the proxy busy while it is reloaded 20 times with
/// `-sf <old pid> -x <stats socket>`. No connect is refused, no request fails, and each
/// old process exits once its in-flight requests are answered.
#[test]
fn twenty_reloads_under_load_lose_nothing() {
    const RELOADS: u32 = 20;
    let backend = slow_http_backend();
    let dir = SockDir::new("load");
    let first = generation(None, backend.port(), &dir.sock(), 1, None, false).start();
    let fe = first.port("fe");
    assert!(first.wait_for_path(&dir.sock(), DEADLINE));

    let stop = Arc::new(AtomicBool::new(false));
    let tally = Arc::new(Tally::default());
    let clients: Vec<_> = (0..54)
        .map(|i| {
            let (stop, tally) = (stop.clone(), tally.clone());
            thread::spawn(move || client_loop(fe, i < 50, &stop, &tally))
        })
        .collect();
    assert!(wait_until(DEADLINE, || tally.requests.load(Ordering::SeqCst) > 200), "the clients run");

    let started = Instant::now();
    let mut current = first;
    let mut old_exits = Vec::new();
    for gen in 2..=RELOADS + 1 {
        let before = tally.requests.load(Ordering::SeqCst);
        let next = generation(Some(fe), backend.port(), &dir.sock(), gen, Some(current.pid()), true).spawn();
        let serving = wait_until(DEADLINE, || gen_of_new_connection(fe) == Some(gen));
        assert!(serving, "generation {gen} does not serve\n{}", next.report_lines());
        let mut old = std::mem::replace(&mut current, next);
        let status = old.wait_exit(DEADLINE);
        assert!(status.success(), "generation {} exited with {status}", gen - 1);
        old_exits.push(status);
        // Keep the load on between reloads.
        wait_until(DEADLINE, || tally.requests.load(Ordering::SeqCst) > before + 50);
    }
    let reload_time = started.elapsed();
    stop.store(true, Ordering::SeqCst);
    for c in clients {
        c.join().unwrap();
    }
    let (requests, refused, failed, retries, closed) = (
        tally.requests.load(Ordering::SeqCst),
        tally.refused.load(Ordering::SeqCst),
        tally.failed.load(Ordering::SeqCst),
        tally.retries.load(Ordering::SeqCst),
        tally.closed_by_proxy.load(Ordering::SeqCst),
    );
    eprintln!(
        "reload: {RELOADS} reloads in {reload_time:?}: {requests} requests, {closed} answered with Connection: close on keep-alive, \
         {retries} retried after an idle keep-alive close, {refused} refused, {failed} failed"
    );
    assert_eq!(old_exits.len(), RELOADS as usize);
    assert_eq!((refused, failed), (0, 0), "{:?}", tally.failures.lock().unwrap());
    assert!(requests > 1000, "the load was real: {requests} requests");
    // With 50 clients most of whose requests wait on the backend, every soft stop finds
    // some in flight: they are answered, with `Connection: close`.
    assert!(closed > 0, "requests in flight at a soft stop are answered with Connection: close");
    assert!(current.stop().success());
}
