//! Helpers for the TCP data-path integration tests (`tests/tcp_*.rs`): start the real
//! binary on a configuration written to a temporary file, collect its output lines,
//! and small backends written with std threads.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// A loopback port nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// `true` if a TCP socket listens on 127.0.0.1:`port` (read from /proc/net/tcp).
pub fn is_listening(port: u16) -> bool {
    let want = format!("0100007F:{port:04X}");
    std::fs::read_to_string("/proc/net/tcp")
        .unwrap_or_default()
        .lines()
        .skip(1)
        .any(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            f.len() > 3 && f[1] == want && f[3] == "0A"
        })
}

/// A fresh temporary directory for one test.
pub fn temp_dir(tag: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let d = std::env::temp_dir().join(format!("moonproxy-{tag}-{}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed)));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Output lines of the proxy (stdout and stderr merged), with a condition variable
/// to wait for a line.
#[derive(Clone, Default)]
pub struct Lines(Arc<(Mutex<Vec<String>>, Condvar)>);

impl Lines {
    fn push(&self, l: String) {
        let (m, c) = &*self.0;
        m.lock().unwrap().push(l);
        c.notify_all();
    }

    pub fn all(&self) -> Vec<String> {
        self.0 .0.lock().unwrap().clone()
    }

    /// Waits until a line satisfies `pred`; returns it. Panics after `timeout`
    /// with every line seen so far.
    pub fn wait_for(&self, timeout: Duration, pred: impl Fn(&str) -> bool) -> String {
        let (m, c) = &*self.0;
        let deadline = Instant::now() + timeout;
        let mut g = m.lock().unwrap();
        loop {
            if let Some(l) = g.iter().find(|l| pred(l)) {
                return l.clone();
            }
            let now = Instant::now();
            if now >= deadline {
                panic!("no matching line within {timeout:?}; output so far:\n{}", g.join("\n"));
            }
            g = c.wait_timeout(g, deadline - now).unwrap().0;
        }
    }

    /// Every line satisfying `pred` that arrives within `timeout`, waiting for `n` of them.
    pub fn wait_n(&self, n: usize, timeout: Duration, pred: impl Fn(&str) -> bool) -> Vec<String> {
        let (m, c) = &*self.0;
        let deadline = Instant::now() + timeout;
        let mut g = m.lock().unwrap();
        loop {
            let found: Vec<String> = g.iter().filter(|l| pred(l)).cloned().collect();
            if found.len() >= n {
                return found;
            }
            let now = Instant::now();
            if now >= deadline {
                panic!("only {} of {n} matching lines within {timeout:?}; output so far:\n{}", found.len(), g.join("\n"));
            }
            g = c.wait_timeout(g, deadline - now).unwrap().0;
        }
    }
}

/// The running binary.
pub struct Proxy {
    pub child: Child,
    pub lines: Lines,
    pub dir: PathBuf,
    pub cfg: PathBuf,
}

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_moonproxy")
}

impl Proxy {
    /// Writes `config` and starts `moonproxy -f <file> <extra...>`.
    pub fn start_with(config: &str, extra: &[&str]) -> Proxy {
        let dir = temp_dir("tcp");
        let cfg = dir.join("test.cfg");
        std::fs::write(&cfg, config).unwrap();
        let mut child = Command::new(bin())
            .arg("-f")
            .arg(&cfg)
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start moonproxy");
        let lines = Lines::default();
        for out in [Box::new(child.stdout.take().unwrap()) as Box<dyn Read + Send>, Box::new(child.stderr.take().unwrap())] {
            let l = lines.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(out).lines() {
                    match line {
                        Ok(line) => l.push(line),
                        Err(_) => break,
                    }
                }
            });
        }
        Proxy { child, lines, dir, cfg }
    }

    /// Starts the proxy and waits until `port` accepts connections.
    pub fn start(config: &str, port: u16) -> Proxy {
        let p = Proxy::start_with(config, &[]);
        p.wait_listening(port);
        p
    }

    /// Waits until something listens on 127.0.0.1:`port`, without connecting (a
    /// probe connection would be proxied and show up in counts and logs).
    pub fn wait_listening(&self, port: u16) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if is_listening(port) {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("proxy not listening on {port}; output:\n{}", self.lines.all().join("\n"));
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill").arg(format!("-{sig}")).arg(self.pid().to_string()).status().unwrap().success();
        assert!(ok, "kill -{sig} failed");
    }

    /// Waits for the process to exit; returns its code.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<i32> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                return st.code();
            }
            if Instant::now() >= deadline {
                panic!("proxy did not exit within {timeout:?}; output:\n{}", self.lines.all().join("\n"));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// The traffic log lines (those starting with `marker`).
    pub fn log_line(&self, marker: &str) -> String {
        self.lines.wait_for(Duration::from_secs(10), |l| l.starts_with(marker))
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A log format easy to parse: `LOG ts=<%ts> b=<%b> s=<%s> rc=<%rc> U=<%U> B=<%B> Tw=<%Tw> Tc=<%Tc>`.
pub const LOG_FORMAT: &str = "LOG ts=%ts b=%b s=%s rc=%rc U=%U B=%B Tw=%Tw Tc=%Tc";

/// The value of `key=` in a [`LOG_FORMAT`] line.
pub fn field<'a>(line: &'a str, key: &str) -> &'a str {
    let pat = format!(" {key}=");
    let start = line.find(&pat).unwrap_or_else(|| panic!("no {key}= in {line:?}")) + pat.len();
    line[start..].split(' ').next().unwrap()
}

/// The global and defaults sections every test uses: logs on stdout in raw format.
pub fn preamble(extra_global: &str, extra_defaults: &str) -> String {
    format!(
        "global\n    log stdout format raw local0\n{extra_global}\ndefaults\n    mode tcp\n    log global\n    log-format \"{LOG_FORMAT}\"\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n{extra_defaults}\n"
    )
}

/// A backend server in a thread: accepts connections and runs `handler` on each in
/// its own thread. `hits` counts accepted connections.
pub struct Backend {
    pub addr: SocketAddr,
    pub hits: Arc<AtomicUsize>,
}

impl Backend {
    pub fn spawn<F>(handler: F) -> Backend
    where
        F: Fn(TcpStream) + Send + Sync + 'static,
    {
        // A deep backlog: bursts of connections must not overflow the accept queue
        // (the kernel would drop SYNs and the proxy would see connect timeouts).
        let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        s.bind(&"127.0.0.1:0".parse::<SocketAddr>().unwrap().into()).unwrap();
        s.listen(4096).unwrap();
        Backend::spawn_on(s.into(), handler)
    }

    pub fn spawn_on<F>(l: TcpListener, handler: F) -> Backend
    where
        F: Fn(TcpStream) + Send + Sync + 'static,
    {
        let addr = l.local_addr().unwrap();
        let hits = Arc::new(AtomicUsize::new(0));
        let h = hits.clone();
        let handler = Arc::new(handler);
        std::thread::spawn(move || {
            for c in l.incoming() {
                let Ok(c) = c else { continue };
                h.fetch_add(1, Ordering::SeqCst);
                let handler = handler.clone();
                std::thread::spawn(move || handler(c));
            }
        });
        Backend { addr, hits }
    }

    /// Echoes everything, then closes after the client's FIN.
    pub fn echo() -> Backend {
        Backend::spawn(echo_conn)
    }

    /// Replies with its own `name` and closes, ignoring input.
    pub fn named(name: &'static str) -> Backend {
        Backend::spawn(move |mut c| {
            let _ = c.write_all(name.as_bytes());
            let _ = c.shutdown(Shutdown::Write);
            let mut sink = [0u8; 64];
            let _ = c.read(&mut sink);
        })
    }

    /// Accepts and holds the connection silently until the peer closes.
    pub fn silent() -> Backend {
        Backend::spawn(|mut c| {
            let mut buf = [0u8; 1024];
            while matches!(c.read(&mut buf), Ok(n) if n > 0) {}
        })
    }

    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

pub fn echo_conn(mut c: TcpStream) {
    let mut buf = [0u8; 16384];
    loop {
        match c.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if c.write_all(&buf[..n]).is_err() {
                    return;
                }
            }
        }
    }
    let _ = c.shutdown(Shutdown::Write);
}

/// Connects to the proxy with a read timeout.
pub fn connect(port: u16) -> TcpStream {
    let c = TcpStream::connect(("127.0.0.1", port)).expect("connect to proxy");
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    c
}

/// Sends nothing, reads everything until EOF.
pub fn read_all(mut c: TcpStream) -> Vec<u8> {
    let mut v = Vec::new();
    let _ = c.read_to_end(&mut v);
    v
}

/// A deterministic pseudo-random byte stream (xorshift64*), for byte-exact checks
/// without holding 100 MB in memory.
pub struct Prng(u64);

impl Prng {
    pub fn new(seed: u64) -> Prng {
        Prng(seed | 1)
    }
    pub fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            let v = self.0.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }
}

/// Writes `total` bytes of the stream seeded `seed` to `w`.
pub fn send_random(w: &mut impl Write, seed: u64, total: usize) -> std::io::Result<()> {
    let mut p = Prng::new(seed);
    let mut buf = vec![0u8; 64 * 1024];
    let mut left = total;
    while left > 0 {
        let n = left.min(buf.len());
        p.fill(&mut buf[..n]);
        w.write_all(&buf[..n])?;
        left -= n;
    }
    Ok(())
}

/// Reads until EOF and checks the bytes are exactly the stream seeded `seed` of
/// length `total`. Returns the number of bytes read.
pub fn expect_random(r: &mut impl Read, seed: u64, total: usize) -> usize {
    let mut p = Prng::new(seed);
    let mut got = vec![0u8; 64 * 1024];
    let mut want = vec![0u8; 64 * 1024];
    let mut seen = 0usize;
    // The expected stream is generated in the same 64 KiB blocks as `send_random`.
    let mut pending: Vec<u8> = Vec::new();
    loop {
        let n = r.read(&mut got).expect("read");
        if n == 0 {
            break;
        }
        pending.extend_from_slice(&got[..n]);
        while pending.len() >= want.len().min(total - seen).max(1) && seen < total {
            let blk = want.len().min(total - seen);
            p.fill(&mut want[..blk]);
            assert!(pending[..blk] == want[..blk], "byte mismatch in block at offset {seen}");
            pending.drain(..blk);
            seen += blk;
        }
        assert!(seen + pending.len() <= total, "more bytes than sent");
    }
    assert!(pending.is_empty() && seen == total, "short stream: {} of {total}", seen + pending.len());
    seen
}
