//! Issue 5's streaming acceptance: a 1 GiB chunked upload and a 1 GiB chunked download
//! through the proxy on one kept-alive connection, every byte checked, with the proxy's
//! peak resident memory bounded.
//!
//! The suite runs a debug build, so the harness side keeps its own work cheap: the
//! payload is made of 4 KiB blocks, each a fixed pseudo-random template stamped with its
//! block number, produced and checked with `memcpy`/`memcmp` rather than byte by byte.
//! A byte lost, repeated, reordered or altered anywhere changes a stamp or a template
//! byte, so comparing with the expected blocks is an exact check of the content (stronger
//! than a checksum), and a running FNV-1a over the stamps is also compared end to end.
//! Chunk sizes vary deterministically (from a few bytes to about 1 MiB) so that the
//! proxy's buffer sees chunk boundaries at every kind of offset.

mod common;

use common::*;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Instant;

/// The size of each transfer.
const SIZE: u64 = 1 << 30;
/// The bound asserted on the proxy's peak RSS (`VmHWM`) after both transfers.
const RSS_BOUND_KIB: u64 = 32 * 1024;
const BLOCK: usize = 4096;

/// The payload: block `b` is [`template`] with its first 8 bytes replaced by `b`.
struct Payload {
    template: Vec<u8>,
    block: Vec<u8>,
    block_no: u64,
}

impl Payload {
    fn new() -> Payload {
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        let template = (0..BLOCK)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        Payload {
            template,
            block: vec![0; BLOCK],
            block_no: u64::MAX,
        }
    }

    fn block(&mut self, b: u64) -> &[u8] {
        if self.block_no != b {
            self.block.copy_from_slice(&self.template);
            self.block[..8].copy_from_slice(&b.to_le_bytes());
            self.block_no = b;
        }
        &self.block
    }

    /// Fills `out` with the payload bytes from offset `at`.
    fn fill(&mut self, mut at: u64, mut out: &mut [u8]) {
        while !out.is_empty() {
            let off = (at % BLOCK as u64) as usize;
            let n = (BLOCK - off).min(out.len());
            out[..n].copy_from_slice(&self.block(at / BLOCK as u64)[off..off + n]);
            out = &mut out[n..];
            at += n as u64;
        }
    }
}

/// Checks received bytes against the payload as they come.
struct Checker {
    payload: Payload,
    expected: Vec<u8>,
    at: u64,
    first_bad: Option<u64>,
    /// FNV-1a over the stamp of every block received.
    digest: u64,
    stamp: [u8; 8],
}

impl Checker {
    fn new() -> Checker {
        Checker {
            payload: Payload::new(),
            expected: Vec::new(),
            at: 0,
            first_bad: None,
            digest: FNV_BASIS,
            stamp: [0; 8],
        }
    }

    fn feed(&mut self, got: &[u8]) {
        self.expected.resize(got.len(), 0);
        self.payload.fill(self.at, &mut self.expected);
        if self.first_bad.is_none() && got != &self.expected[..] {
            let i = got
                .iter()
                .zip(&self.expected)
                .position(|(a, b)| a != b)
                .unwrap_or(0);
            self.first_bad = Some(self.at + i as u64);
        }
        // Fold every block stamp that ends in this piece into the digest; a stamp cut
        // between two pieces is gathered in `stamp`.
        let end = self.at + got.len() as u64;
        let mut b = self.at / BLOCK as u64;
        while b * (BLOCK as u64) < end {
            let (s, e) = (b * BLOCK as u64, b * BLOCK as u64 + 8);
            let (from, to) = (s.max(self.at), e.min(end));
            if from < to {
                self.stamp[(from - s) as usize..(to - s) as usize]
                    .copy_from_slice(&got[(from - self.at) as usize..(to - self.at) as usize]);
                if to == e {
                    self.digest = fnv(self.digest, &self.stamp);
                }
            }
            b += 1;
        }
        self.at += got.len() as u64;
    }

    /// What is wrong with the bytes received, unless they are exactly the `SIZE` bytes
    /// of the payload.
    fn problem(&self) -> Option<String> {
        if let Some(at) = self.first_bad {
            Some(format!("first wrong byte at offset {at}"))
        } else if self.at != SIZE {
            Some(format!("{} bytes instead of {SIZE}", self.at))
        } else if self.digest != expected_digest() {
            Some("the digest of the block stamps differs".to_string())
        } else {
            None
        }
    }
}

const FNV_BASIS: u64 = 0xcbf2_9ce4_8422_2325;

fn fnv(mut h: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

fn expected_digest() -> u64 {
    (0..SIZE / BLOCK as u64).fold(FNV_BASIS, |h, b| fnv(h, &b.to_le_bytes()))
}

/// The size of the `i`-th chunk: mostly large, sometimes tiny, never aligned on purpose.
fn chunk_size(i: u64) -> u64 {
    match i % 8 {
        0 => 1,
        3 => 4093,
        5 => 65_537,
        _ => 1_048_576 - (i * 7919) % 65_536,
    }
}

/// Writes `SIZE` payload bytes as a chunked body (with the last chunk and an empty
/// trailer section), from one reused buffer.
fn send_chunked(w: &mut impl Write) -> std::io::Result<()> {
    let mut payload = Payload::new();
    let mut buf = Vec::new();
    let (mut at, mut i) = (0u64, 0u64);
    while at < SIZE {
        let n = chunk_size(i).min(SIZE - at);
        buf.clear();
        buf.extend_from_slice(format!("{n:x}\r\n").as_bytes());
        let head = buf.len();
        buf.resize(head + n as usize, 0);
        payload.fill(at, &mut buf[head..]);
        buf.extend_from_slice(b"\r\n");
        w.write_all(&buf)?;
        at += n;
        i += 1;
    }
    w.write_all(b"0\r\n\r\n")
}

/// Reads a head: its lines, without the final empty one.
fn read_head(r: &mut impl BufRead) -> Option<Vec<String>> {
    let mut lines = Vec::new();
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let line = line.trim_end_matches(['\r', '\n']).to_string();
        if line.is_empty() {
            return Some(lines);
        }
        lines.push(line);
    }
}

fn is_chunked(head: &[String]) -> bool {
    head.iter().any(|l| {
        l.to_ascii_lowercase().starts_with("transfer-encoding:")
            && l.to_ascii_lowercase().contains("chunked")
    })
}

/// Decodes a chunked body from `r` into `sink`, reading each chunk's data in pieces.
fn read_chunked(r: &mut impl BufRead, mut sink: impl FnMut(&[u8])) {
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let mut size = String::new();
        r.read_line(&mut size).expect("chunk size line");
        let size = size.trim_end();
        let mut left =
            u64::from_str_radix(size, 16).unwrap_or_else(|_| panic!("chunk size {size:?}"));
        if left == 0 {
            assert_eq!(read_head(r).expect("trailer section"), Vec::<String>::new());
            return;
        }
        while left > 0 {
            let n = (left as usize).min(buf.len());
            r.read_exact(&mut buf[..n]).expect("chunk data");
            sink(&buf[..n]);
            left -= n as u64;
        }
        let mut crlf = [0u8; 2];
        r.read_exact(&mut crlf).unwrap();
        assert_eq!(&crlf, b"\r\n", "chunk data ends with CRLF");
    }
}

/// The server: `PUT /upload` checks a chunked body and answers `ok <bytes>`;
/// `GET /download` answers a chunked body of `SIZE` payload bytes.
fn server(stream: TcpStream, _: &Stats) {
    let mut w = stream.try_clone().unwrap();
    let mut r = BufReader::with_capacity(256 * 1024, stream);
    while let Some(head) = read_head(&mut r) {
        if head[0].starts_with("PUT /upload ") {
            assert!(
                is_chunked(&head),
                "the upload reaches the server chunked: {head:?}"
            );
            let mut check = Checker::new();
            read_chunked(&mut r, |p| check.feed(p));
            let body = match check.problem() {
                None => format!("ok {}", check.at),
                Some(p) => p,
            };
            let resp = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
            w.write_all(resp.as_bytes()).unwrap();
        } else if head[0].starts_with("GET /download ") {
            w.write_all(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
                .unwrap();
            if send_chunked(&mut w).is_err() {
                return;
            }
        } else {
            return;
        }
    }
}

/// Peak and current resident memory of a process, in KiB.
fn rss_kib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("read /proc status");
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or_else(|| panic!("{name} in /proc/{pid}/status"))
    };
    (field("VmHWM:"), field("VmRSS:"))
}

#[test]
fn one_gib_chunked_upload_and_download_stream_with_bounded_memory() {
    let backend = Backend::custom(server);
    let proxy = ProxyBuilder::new(
        "defaults
    mode http
    timeout connect 5s
    timeout client 120s
    timeout server 120s
listen l
    bind 127.0.0.1:{{fe}}
    server s1 127.0.0.1:{{be}}
",
    )
    .port("be", backend.port())
    .start();
    let stream = TcpStream::connect(proxy.addr("fe")).unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(120)))
        .unwrap();
    let mut w = stream.try_clone().unwrap();
    let mut r = BufReader::with_capacity(256 * 1024, stream);

    // Upload: a thread writes while the proxy streams to the server, which checks.
    let started = Instant::now();
    let writer = std::thread::spawn(move || {
        w.write_all(b"PUT /upload HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n")
            .unwrap();
        send_chunked(&mut w).unwrap();
        w
    });
    let head = read_head(&mut r).expect("a response to the upload");
    let mut w = writer.join().unwrap();
    assert_eq!(head[0], "HTTP/1.1 200 OK");
    let len: usize = head
        .iter()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length:")
                .map(|v| v.trim().parse().unwrap())
        })
        .expect("content-length");
    let mut body = vec![0; len];
    r.read_exact(&mut body).unwrap();
    assert_eq!(
        String::from_utf8_lossy(&body),
        format!("ok {SIZE}"),
        "what the server received"
    );
    eprintln!("1 GiB upload: {:?}", started.elapsed());

    // Download on the same connection, checked as it comes.
    let started = Instant::now();
    w.write_all(b"GET /download HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    let head = read_head(&mut r).expect("a response to the download");
    assert_eq!(head[0], "HTTP/1.1 200 OK");
    assert!(is_chunked(&head), "the download stays chunked: {head:?}");
    let mut check = Checker::new();
    read_chunked(&mut r, |p| check.feed(p));
    assert_eq!(check.problem(), None, "the download");
    eprintln!("1 GiB download: {:?}", started.elapsed());

    let (peak, now) = rss_kib(proxy.pid());
    eprintln!("proxy RSS: peak {peak} KiB, now {now} KiB");
    assert!(
        peak < RSS_BOUND_KIB,
        "the proxy's peak RSS is {peak} KiB after moving 2 GiB: bodies must not be buffered"
    );
}

/// The check above can fail: a missing block, an altered byte and a short body are each
/// reported.
#[test]
fn the_payload_checker_notices_loss_and_corruption() {
    let mut p = Payload::new();
    let mut blocks = vec![0u8; 3 * BLOCK];
    p.fill(0, &mut blocks);

    let mut skipped = Checker::new();
    skipped.feed(&blocks[..BLOCK]);
    skipped.feed(&blocks[2 * BLOCK..]);
    assert_eq!(skipped.first_bad, Some(BLOCK as u64));

    let mut altered = Checker::new();
    blocks[5000] ^= 1;
    altered.feed(&blocks[..4999]);
    altered.feed(&blocks[4999..]);
    assert_eq!(altered.first_bad, Some(5000));

    let mut short = Checker::new();
    blocks[5000] ^= 1;
    short.feed(&blocks);
    assert_eq!(short.first_bad, None);
    assert!(short
        .problem()
        .is_some_and(|p| p.contains("bytes instead of")));
}
