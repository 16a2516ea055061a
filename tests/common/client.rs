//! A raw TCP client for tests: blocking I/O bounded by a deadline, half-close, close detection
//! and a minimal HTTP/1.1 exchange.

use super::backend::find;
use super::{loopback, DEADLINE};
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::Duration;

/// How a connection ended, as seen by [`Client::recv_until_close`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CloseKind {
    /// The peer closed (or half-closed) cleanly: end of file.
    Eof,
    /// The peer reset the connection (RST).
    Reset,
    /// Nothing happened before the client's timeout: the connection is still open.
    Timeout,
}

/// One HTTP/1.x response read by [`Client::read_http_response`].
#[derive(Clone, Debug)]
pub struct HttpResponse {
    pub status: u16,
    /// The status line and headers as received, up to the empty line (excluded).
    pub head: String,
    /// Header names and values in order, names as received.
    pub headers: Vec<(String, String)>,
    /// The body, de-chunked if it was chunked.
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The headers as `name: value` lines, names lowercased: what tests compare between
    /// moonproxy and HAProxy (which spell some names differently).
    pub fn header_lines(&self) -> Vec<String> {
        self.headers.iter().map(|(k, v)| format!("{}: {v}", k.to_ascii_lowercase())).collect()
    }
}

/// A TCP connection to a proxy or a backend. Reads block for at most the client's timeout
/// ([`DEADLINE`] by default). The helpers panic with a clear message on unexpected errors;
/// [`Read`] and [`Write`] are implemented for anything else.
#[derive(Debug)]
pub struct Client {
    stream: TcpStream,
    /// Bytes received but not consumed yet (read ahead while looking for a delimiter).
    pending: Vec<u8>,
}

impl Client {
    /// Connects to 127.0.0.1:`port`; panics if the connection fails.
    pub fn connect(port: u16) -> Client {
        Client::try_connect(port).unwrap_or_else(|e| panic!("connect to 127.0.0.1:{port}: {e}"))
    }

    pub fn try_connect(port: u16) -> io::Result<Client> {
        Client::try_connect_addr(loopback(port))
    }

    pub fn try_connect_addr(addr: SocketAddr) -> io::Result<Client> {
        let stream = TcpStream::connect_timeout(&addr, DEADLINE)?;
        let client = Client {
            stream,
            pending: Vec::new(),
        };
        client.set_timeout(DEADLINE);
        Ok(client)
    }

    /// Changes how long a read or write may block.
    pub fn set_timeout(&self, timeout: Duration) {
        self.stream
            .set_read_timeout(Some(timeout))
            .expect("set_read_timeout");
        self.stream
            .set_write_timeout(Some(timeout))
            .expect("set_write_timeout");
    }

    pub fn stream(&self) -> &TcpStream {
        &self.stream
    }

    pub fn local_port(&self) -> u16 {
        self.stream.local_addr().expect("local_addr").port()
    }

    /// Writes all of `data`; panics on error.
    pub fn send(&mut self, data: &[u8]) {
        self.stream
            .write_all(data)
            .unwrap_or_else(|e| panic!("send {} bytes: {e}", data.len()));
    }

    /// Half-closes: the peer reads end of file, the client can still read.
    pub fn shutdown_write(&self) {
        self.stream
            .shutdown(Shutdown::Write)
            .expect("shutdown(Write)");
    }

    /// Reads exactly `n` bytes; panics (showing what arrived) on end of file, error or timeout.
    pub fn recv_exact(&mut self, n: usize) -> Vec<u8> {
        while self.pending.len() < n {
            match self.read_more() {
                Ok(0) => panic!(
                    "end of file after {} of {n} bytes: {:?}",
                    self.pending.len(),
                    String::from_utf8_lossy(&self.pending)
                ),
                Ok(_) => {}
                Err(e) => panic!("after {} of {n} bytes: {e}", self.pending.len()),
            }
        }
        self.pending.drain(..n).collect()
    }

    /// Reads up to and including `delimiter`; panics on end of file, error or timeout.
    pub fn recv_until(&mut self, delimiter: &[u8]) -> Vec<u8> {
        loop {
            if let Some(i) = find(&self.pending, delimiter) {
                return self.pending.drain(..i + delimiter.len()).collect();
            }
            match self.read_more() {
                Ok(0) => panic!(
                    "end of file before {:?}; received {:?}",
                    String::from_utf8_lossy(delimiter),
                    String::from_utf8_lossy(&self.pending)
                ),
                Ok(_) => {}
                Err(e) => panic!("waiting for {:?}: {e}", String::from_utf8_lossy(delimiter)),
            }
        }
    }

    /// Reads everything until the connection ends or the timeout passes, and says how it
    /// ended.
    pub fn recv_until_close(&mut self) -> (Vec<u8>, CloseKind) {
        let kind = loop {
            match self.read_more() {
                Ok(0) => break CloseKind::Eof,
                Ok(_) => {}
                Err(e) if is_timeout(&e) => break CloseKind::Timeout,
                Err(e) if e.kind() == io::ErrorKind::ConnectionReset => break CloseKind::Reset,
                Err(e) => panic!("reading until close: {e}"),
            }
        };
        (std::mem::take(&mut self.pending), kind)
    }

    /// Sends a `GET path` request (HTTP/1.1, `Host: test`) and reads the response.
    pub fn http_get(&mut self, path: &str) -> HttpResponse {
        self.http_request(format!("GET {path} HTTP/1.1\r\nHost: test\r\n\r\n").as_bytes())
    }

    /// Sends a raw request and reads one response.
    pub fn http_request(&mut self, request: &[u8]) -> HttpResponse {
        self.send(request);
        self.read_http_response()
    }

    /// Sends a raw `HEAD` request and reads the response head (a reader cannot tell from
    /// the head alone that a response to HEAD has no body).
    pub fn http_head_request(&mut self, request: &[u8]) -> HttpResponse {
        self.send(request);
        self.read_http_head()
    }

    /// Reads one response head; `body` is left empty.
    pub fn read_http_head(&mut self) -> HttpResponse {
        let raw_head = self.recv_until(b"\r\n\r\n");
        let head = String::from_utf8_lossy(&raw_head[..raw_head.len() - 4]).into_owned();
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap_or_default();
        let status = status_line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("bad status line {status_line:?}"));
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
            .collect();
        HttpResponse {
            status,
            head,
            headers,
            body: Vec::new(),
        }
    }

    /// Reads one response: head, then a body delimited by `Content-Length`, chunked encoding,
    /// or the end of the connection (no body for 1xx, 204 and 304).
    pub fn read_http_response(&mut self) -> HttpResponse {
        let mut response = self.read_http_head();
        let status = response.status;
        let chunked = response
            .header("transfer-encoding")
            .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
        response.body = if status < 200 || status == 204 || status == 304 {
            Vec::new()
        } else if chunked {
            self.recv_chunked()
        } else if let Some(len) = response.header("content-length") {
            let len = len
                .parse()
                .unwrap_or_else(|_| panic!("bad content-length {len:?}"));
            self.recv_exact(len)
        } else {
            self.recv_until_close().0
        };
        response
    }

    fn recv_chunked(&mut self) -> Vec<u8> {
        let mut body = Vec::new();
        loop {
            let line = self.recv_until(b"\r\n");
            let size_text = String::from_utf8_lossy(&line[..line.len() - 2]);
            let size_text = size_text.split(';').next().unwrap_or_default().trim();
            let size = usize::from_str_radix(size_text, 16)
                .unwrap_or_else(|_| panic!("bad chunk size {size_text:?}"));
            if size == 0 {
                // Trailers, up to the empty line.
                while self.recv_until(b"\r\n").len() > 2 {}
                return body;
            }
            body.extend(self.recv_exact(size));
            self.recv_exact(2);
        }
    }

    /// One read into `pending`; returns the number of bytes read.
    fn read_more(&mut self) -> io::Result<usize> {
        let mut buf = [0; 16 * 1024];
        loop {
            match self.stream.read(&mut buf) {
                Ok(n) => {
                    self.pending.extend_from_slice(&buf[..n]);
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

impl Read for Client {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.pending.is_empty() {
            return self.stream.read(buf);
        }
        let n = buf.len().min(self.pending.len());
        buf[..n].copy_from_slice(&self.pending[..n]);
        self.pending.drain(..n);
        Ok(n)
    }
}

impl Write for Client {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.stream.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.stream.flush()
    }
}
