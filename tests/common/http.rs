//! An HTTP/1.1 test application server ([`http_app`]) and a streaming HTTP reader
//! ([`HttpReader`]) for tests that move large bodies without holding them in memory.
//!
//! The application answers by path (every response but `/close` keeps the connection
//! open unless the request says `Connection: close`):
//!
//! | request | response |
//! |---|---|
//! | `* /echo` | 200, the request body; chunked if the request was chunked |
//! | `* /headers` | 200, the request head as received |
//! | `PUT /upload` | 200, `<bytes>` read, after checking they are [`pattern`] bytes |
//! | `GET /download/<n>` | 200, `n` bytes of [`pattern`], chunked in 64 KiB chunks |
//! | `* /continue` | `100 Continue` if asked, then as `/echo` |
//! | `GET /204` | 204, no body |
//! | `HEAD *` | 200 with `content-length: 5`, no body |
//! | `GET /ws` | 101 Switching Protocols, then echoes raw bytes |
//! | `GET /bad` | a malformed status line |
//! | `GET /close` | nothing: the connection is closed |
//! | `GET /untilclose` | 200 without a length, body `until close`, then closes |
//! | `CONNECT *` | 200, then echoes raw bytes |
//! | `GET /slow` | nothing, ever (until the peer closes) |
//! | anything else | 200, `path=<target>` |
//!
//! Every request counts in [`Stats::requests`] and every byte read in `bytes_in`.

use super::{Backend, Stats};
use std::io::{self, Read, Write};
use std::net::TcpStream;

/// The byte at offset `i` of the deterministic body used for large transfers.
pub fn pattern(i: u64) -> u8 {
    (i % 251) as u8
}

/// Starts the HTTP application server on a free port.
pub fn http_app() -> Backend {
    Backend::custom(serve_app)
}

/// A buffered reader over a socket with HTTP framing helpers; counts what it reads.
pub struct HttpReader<R> {
    inner: R,
    buf: Vec<u8>,
    start: usize,
    /// Bytes read from `inner`.
    pub read_total: u64,
}

/// A request or response head: the start line and the headers (names lowercased).
#[derive(Clone, Debug)]
pub struct Head {
    pub line: String,
    pub headers: Vec<(String, String)>,
    /// The head as received, CRLFs included.
    pub raw: Vec<u8>,
}

impl Head {
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers.iter().find(|(k, _)| *k == name).map(|(_, v)| v.as_str())
    }
    pub fn has_token(&self, name: &str, token: &str) -> bool {
        self.header(name)
            .is_some_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
    }
    pub fn chunked(&self) -> bool {
        self.has_token("transfer-encoding", "chunked")
    }
    pub fn content_length(&self) -> Option<u64> {
        self.header("content-length").and_then(|v| v.parse().ok())
    }
    /// The status of a response head.
    pub fn status(&self) -> u16 {
        self.line.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0)
    }
}

impl<R: Read> HttpReader<R> {
    pub fn new(inner: R) -> HttpReader<R> {
        HttpReader { inner, buf: Vec::with_capacity(64 * 1024), start: 0, read_total: 0 }
    }

    pub fn get_mut(&mut self) -> &mut R {
        &mut self.inner
    }

    fn fill(&mut self) -> io::Result<usize> {
        if self.start > 0 && self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        } else if self.start > 32 * 1024 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        let mut tmp = [0u8; 64 * 1024];
        let n = self.inner.read(&mut tmp)?;
        self.buf.extend_from_slice(&tmp[..n]);
        self.read_total += n as u64;
        Ok(n)
    }

    fn pending(&self) -> &[u8] {
        &self.buf[self.start..]
    }

    /// Reads one head; `None` if the peer closed before its first byte.
    pub fn read_head(&mut self) -> io::Result<Option<Head>> {
        loop {
            if let Some(i) = find(self.pending(), b"\r\n\r\n") {
                let raw = self.pending()[..i + 4].to_vec();
                self.start += i + 4;
                let text = String::from_utf8_lossy(&raw[..i]).into_owned();
                let mut lines = text.split("\r\n");
                let line = lines.next().unwrap_or_default().to_string();
                let headers = lines
                    .filter_map(|l| l.split_once(':'))
                    .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
                    .collect();
                return Ok(Some(Head { line, headers, raw }));
            }
            if self.fill()? == 0 {
                return if self.pending().is_empty() {
                    Ok(None)
                } else {
                    Err(io::Error::new(io::ErrorKind::UnexpectedEof, "closed inside a head"))
                };
            }
        }
    }

    /// Up to `max` bytes already buffered or read now; empty at end of file.
    pub fn read_some(&mut self, max: usize) -> io::Result<&[u8]> {
        if self.pending().is_empty() && self.fill()? == 0 {
            return Ok(&[]);
        }
        let n = self.pending().len().min(max);
        let s = self.start;
        self.start += n;
        Ok(&self.buf[s..s + n])
    }

    fn read_line(&mut self) -> io::Result<Vec<u8>> {
        loop {
            if let Some(i) = find(self.pending(), b"\r\n") {
                let line = self.pending()[..i].to_vec();
                self.start += i + 2;
                return Ok(line);
            }
            if self.fill()? == 0 {
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "closed inside a line"));
            }
        }
    }

    /// Reads the body `head` announces (no body for `no_body`), giving each piece to
    /// `sink`; returns its length.
    pub fn read_body(&mut self, head: &Head, no_body: bool, mut sink: impl FnMut(&[u8])) -> io::Result<u64> {
        if no_body {
            return Ok(0);
        }
        let mut total = 0u64;
        if head.chunked() {
            loop {
                let line = self.read_line()?;
                let text = String::from_utf8_lossy(&line);
                let size = u64::from_str_radix(text.split(';').next().unwrap_or("").trim(), 16)
                    .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, format!("bad chunk size {text:?}")))?;
                if size == 0 {
                    while !self.read_line()?.is_empty() {}
                    return Ok(total);
                }
                let mut left = size;
                while left > 0 {
                    let piece = self.read_some(left as usize)?;
                    if piece.is_empty() {
                        return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "closed inside a chunk"));
                    }
                    left -= piece.len() as u64;
                    total += piece.len() as u64;
                    sink(piece);
                }
                if !self.read_line()?.is_empty() {
                    return Err(io::Error::new(io::ErrorKind::InvalidData, "chunk not followed by CRLF"));
                }
            }
        } else if let Some(len) = head.content_length() {
            while total < len {
                let piece = self.read_some((len - total) as usize)?;
                if piece.is_empty() {
                    return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "closed inside a body"));
                }
                total += piece.len() as u64;
                sink(piece);
            }
            Ok(total)
        } else if head.line.starts_with("HTTP/") {
            // A response without length: until close.
            loop {
                let piece = self.read_some(64 * 1024)?;
                if piece.is_empty() {
                    return Ok(total);
                }
                total += piece.len() as u64;
                sink(piece);
            }
        } else {
            Ok(0)
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Writes a response with a content-length body.
fn respond(out: &mut impl Write, status: &str, extra: &str, body: &[u8]) -> io::Result<()> {
    let mut r = format!("HTTP/1.1 {status}\r\ncontent-length: {}\r\n{extra}\r\n", body.len()).into_bytes();
    r.extend_from_slice(body);
    out.write_all(&r)
}

/// A reader that adds what it reads to `Stats::bytes_in`.
struct CountedRead<'a> {
    inner: TcpStream,
    stats: &'a Stats,
}

impl Read for CountedRead<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.stats.add_bytes_in(n);
        Ok(n)
    }
}

fn serve_app(conn: TcpStream, stats: &Stats) {
    let mut out = match conn.try_clone() {
        Ok(c) => c,
        Err(_) => return,
    };
    let mut r = HttpReader::new(CountedRead { inner: conn, stats });
    let _ = (|| -> io::Result<()> {
        while let Some(head) = r.read_head()? {
            stats.add_request();
            let mut parts = head.line.split(' ');
            let method = parts.next().unwrap_or_default().to_string();
            let target = parts.next().unwrap_or_default().to_string();
            let close = head.has_token("connection", "close");
            let conn_hdr = if close { "connection: close\r\n" } else { "" };
            match (method.as_str(), target.as_str()) {
                ("HEAD", _) => {
                    r.read_body(&head, false, |_| {})?;
                    out.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n")?;
                }
                (_, "/echo") | (_, "/continue") => {
                    if target == "/continue" && head.has_token("expect", "100-continue") {
                        out.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
                    }
                    let mut body = Vec::new();
                    r.read_body(&head, false, |p| body.extend_from_slice(p))?;
                    if head.chunked() {
                        let mut resp = format!("HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n{conn_hdr}\r\n").into_bytes();
                        for part in body.chunks(7) {
                            resp.extend_from_slice(format!("{:x}\r\n", part.len()).as_bytes());
                            resp.extend_from_slice(part);
                            resp.extend_from_slice(b"\r\n");
                        }
                        resp.extend_from_slice(b"0\r\n\r\n");
                        out.write_all(&resp)?;
                    } else {
                        respond(&mut out, "200 OK", conn_hdr, &body)?;
                    }
                }
                (_, "/headers") => {
                    r.read_body(&head, false, |_| {})?;
                    respond(&mut out, "200 OK", conn_hdr, &head.raw)?;
                }
                (_, "/upload") => {
                    let mut at = 0u64;
                    let mut good = true;
                    r.read_body(&head, false, |p| {
                        for &b in p {
                            good &= b == pattern(at);
                            at += 1;
                        }
                    })?;
                    let body = if good { at.to_string() } else { format!("corrupt after {at}") };
                    respond(&mut out, "200 OK", conn_hdr, body.as_bytes())?;
                }
                ("GET", t) if t.starts_with("/download/") => {
                    let n: u64 = t["/download/".len()..].parse().unwrap_or(0);
                    out.write_all(format!("HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n{conn_hdr}\r\n").as_bytes())?;
                    let mut at = 0u64;
                    let mut chunk = Vec::with_capacity(64 * 1024 + 16);
                    while at < n {
                        let len = (n - at).min(64 * 1024);
                        chunk.clear();
                        chunk.extend_from_slice(format!("{len:x}\r\n").as_bytes());
                        chunk.extend((at..at + len).map(pattern));
                        chunk.extend_from_slice(b"\r\n");
                        out.write_all(&chunk)?;
                        at += len;
                    }
                    out.write_all(b"0\r\n\r\n")?;
                }
                ("GET", "/204") => out.write_all(b"HTTP/1.1 204 No Content\r\n\r\n")?,
                ("GET", "/bad") => out.write_all(b"HTTP/1.1 2x0 Nope\r\n\r\n")?,
                ("GET", "/close") => return Ok(()),
                ("GET", "/untilclose") => {
                    out.write_all(b"HTTP/1.1 200 OK\r\n\r\nuntil close")?;
                    return Ok(());
                }
                ("CONNECT", _) | ("GET", "/ws") => {
                    if method == "CONNECT" {
                        out.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")?;
                    } else {
                        out.write_all(b"HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: upgrade\r\nsec-websocket-accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n")?;
                    }
                    loop {
                        let piece = r.read_some(64 * 1024)?.to_vec();
                        if piece.is_empty() {
                            return Ok(());
                        }
                        out.write_all(&piece)?;
                    }
                }
                ("GET", "/slow") => {
                    // Never answer; wait for the peer to give up.
                    while !r.read_some(1024)?.is_empty() {}
                    return Ok(());
                }
                _ => {
                    r.read_body(&head, false, |_| {})?;
                    respond(&mut out, "200 OK", conn_hdr, format!("path={target}").as_bytes())?;
                }
            }
            if close {
                return Ok(());
            }
        }
        Ok(())
    })();
}
