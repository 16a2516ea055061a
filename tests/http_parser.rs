//! Larger cases for the HTTP/1 parsers (`src/http/h1/`): pipelined messages with mixed
//! framings, a 1 GiB chunked body streamed through a fixed buffer, and the std-only
//! mutation fuzzer that stands in for cargo-fuzz where no nightly toolchain is
//! available (see doc/http.md, "Fuzzing").

#[path = "../fuzz/checks.rs"]
mod checks;

use moonproxy::http::h1::{BodyDecoder, ErrorKind, Limits, RequestParser, Status};
use moonproxy::http::{BodyFraming, Method};

/// xorshift64*: a tiny deterministic generator, so every run sees the same inputs.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// One request of the pipeline: its encoding and what a parser must find in it.
struct Expected {
    method: Method,
    target: String,
    payload: Vec<u8>,
    framing: &'static str,
}

fn pipeline(count: usize, rng: &mut Rng) -> (Vec<u8>, Vec<Expected>) {
    let mut wire = Vec::new();
    let mut expected = Vec::new();
    for i in 0..count {
        let target = format!("/item/{i}?q={}", rng.below(1000));
        let body_len = if i % 4 == 0 { 0 } else { rng.below(300) };
        let payload: Vec<u8> = (0..body_len).map(|k| b'a' + ((i + k) % 26) as u8).collect();
        let (method, framing) = match i % 4 {
            0 => (Method::Get, "none"),
            1 => (Method::Post, "length"),
            2 => (Method::Put, "chunked"),
            _ => (Method::Post, "chunked+trailers"),
        };
        wire.extend_from_slice(
            format!("{method} {target} HTTP/1.1\r\nHost: example.com\r\nX-Seq: {i}\r\n").as_bytes(),
        );
        match framing {
            "none" => wire.extend_from_slice(b"\r\n"),
            "length" => {
                wire.extend_from_slice(
                    format!("Content-Length: {}\r\n\r\n", payload.len()).as_bytes(),
                );
                wire.extend_from_slice(&payload);
            }
            _ => {
                wire.extend_from_slice(b"Transfer-Encoding: chunked\r\n\r\n");
                let mut rest = &payload[..];
                while !rest.is_empty() {
                    let n = (rng.below(40) + 1).min(rest.len());
                    let ext = if rng.below(3) == 0 { ";ext=1" } else { "" };
                    wire.extend_from_slice(format!("{n:x}{ext}\r\n").as_bytes());
                    wire.extend_from_slice(&rest[..n]);
                    wire.extend_from_slice(b"\r\n");
                    rest = &rest[n..];
                }
                wire.extend_from_slice(b"0\r\n");
                if framing == "chunked+trailers" {
                    wire.extend_from_slice(format!("X-Checksum: {}\r\n", payload.len()).as_bytes());
                }
                wire.extend_from_slice(b"\r\n");
            }
        }
        let method = if framing == "none" {
            Method::Get
        } else {
            method
        };
        expected.push(Expected {
            method,
            target,
            payload,
            framing,
        });
    }
    (wire, expected)
}

#[test]
fn hundred_pipelined_requests_with_mixed_framings() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let (wire, expected) = pipeline(100, &mut rng);
    let limits = Limits::default();
    let mut at = 0;
    for (i, exp) in expected.iter().enumerate() {
        let mut parser = RequestParser::new(limits);
        let (req, head_len) = match parser.parse(&wire[at..]) {
            Ok(Status::Complete(r, n)) => (r, n),
            other => panic!("request {i}: {other:?}"),
        };
        assert_eq!(req.line.method, exp.method, "request {i}");
        assert_eq!(req.line.target, exp.target, "request {i}");
        assert_eq!(req.headers.get("x-seq"), Some(i.to_string().as_bytes()));
        let framing_ok = match (exp.framing, req.framing) {
            ("none", BodyFraming::None) => true,
            ("length", BodyFraming::ContentLength(n)) => n == exp.payload.len() as u64,
            ("chunked" | "chunked+trailers", BodyFraming::Chunked) => true,
            _ => false,
        };
        assert!(
            framing_ok,
            "request {i}: {:?} for {}",
            req.framing, exp.framing
        );
        at += head_len;
        // Drain the body from the shared buffer, in reads of a few bytes.
        let mut decoder = BodyDecoder::new(req.framing, &limits);
        let mut payload = Vec::new();
        let mut window_end = at;
        loop {
            let d = decoder
                .decode(&wire[at..window_end])
                .unwrap_or_else(|e| panic!("request {i}: {e}"));
            payload.extend_from_slice(&wire[at..window_end][d.data]);
            at += d.consumed;
            if d.done {
                break;
            }
            if d.consumed == 0 {
                assert!(window_end < wire.len(), "request {i}: body never ends");
                window_end = (window_end + 7).min(wire.len());
            }
        }
        assert_eq!(payload, exp.payload, "request {i}");
        if exp.framing == "chunked+trailers" {
            assert_eq!(
                decoder.trailers().get("x-checksum"),
                Some(exp.payload.len().to_string().as_bytes())
            );
        }
    }
    assert_eq!(at, wire.len(), "every byte belongs to a request");
}

/// Produces a chunked encoding of `total` payload bytes on the fly: chunk sizes cycle
/// through `SIZES`, payload byte k is `k % 251`.
struct ChunkedSource {
    total: u64,
    produced: u64,
    size_index: usize,
    /// The framing bytes to send before (or instead of) more payload.
    framing: Vec<u8>,
    framing_at: usize,
    chunk_left: usize,
    finished: bool,
}

const SIZES: [usize; 5] = [65536, 1, 40000, 4093, 65000];
const PERIOD: usize = 251;

fn pattern() -> Vec<u8> {
    (0..65536 + PERIOD).map(|i| (i % PERIOD) as u8).collect()
}

impl ChunkedSource {
    fn new(total: u64) -> ChunkedSource {
        ChunkedSource {
            total,
            produced: 0,
            size_index: 0,
            framing: Vec::new(),
            framing_at: 0,
            chunk_left: 0,
            finished: false,
        }
    }

    /// Fills `out` with the next bytes of the stream; 0 at the end.
    fn fill(&mut self, out: &mut [u8], pattern: &[u8]) -> usize {
        let mut n = 0;
        while n < out.len() {
            if self.framing_at < self.framing.len() {
                let k = (self.framing.len() - self.framing_at).min(out.len() - n);
                out[n..n + k].copy_from_slice(&self.framing[self.framing_at..self.framing_at + k]);
                self.framing_at += k;
                n += k;
            } else if self.chunk_left > 0 {
                let k = self.chunk_left.min(out.len() - n);
                let from = (self.produced % PERIOD as u64) as usize;
                out[n..n + k].copy_from_slice(&pattern[from..from + k]);
                self.produced += k as u64;
                self.chunk_left -= k;
                n += k;
                if self.chunk_left == 0 {
                    self.set_framing(b"\r\n".to_vec());
                }
            } else if self.finished {
                break;
            } else if self.produced == self.total {
                self.set_framing(b"0\r\n\r\n".to_vec());
                self.finished = true;
            } else {
                let size = (SIZES[self.size_index % SIZES.len()] as u64)
                    .min(self.total - self.produced) as usize;
                self.size_index += 1;
                self.chunk_left = size;
                self.set_framing(format!("{size:x}\r\n").into_bytes());
            }
        }
        n
    }

    fn set_framing(&mut self, bytes: Vec<u8>) {
        self.framing = bytes;
        self.framing_at = 0;
    }
}

/// 1 GiB of chunked payload through a 64 KiB buffer: memory stays at that buffer, the
/// decoder holds a few integers. Reads are of varying sizes so chunk boundaries land
/// everywhere. Pure CPU; a few seconds in a debug build.
#[test]
fn one_gib_chunked_body_streams_with_bounded_memory() {
    const TOTAL: u64 = 1 << 30;
    let pattern = pattern();
    let mut source = ChunkedSource::new(TOTAL);
    let mut decoder = BodyDecoder::new(BodyFraming::Chunked, &Limits::default());
    let mut buf = vec![0u8; 65536];
    let (mut start, mut end) = (0, 0);
    let mut forwarded: u64 = 0;
    let mut received: u64 = 0;
    let reads = [65536, 1000, 17, 30000];
    let mut read_index = 0;
    loop {
        let d = decoder
            .decode(&buf[start..end])
            .expect("valid chunked stream");
        let data = &buf[start..end][d.data];
        // The payload is the pattern at its offset (a memcmp, cheap even in debug).
        let from = (forwarded % PERIOD as u64) as usize;
        assert!(
            data == &pattern[from..from + data.len()],
            "payload differs at {forwarded}"
        );
        forwarded += data.len() as u64;
        start += d.consumed;
        if d.done {
            break;
        }
        if d.consumed == 0 {
            // Compact, then read more into the free space.
            buf.copy_within(start..end, 0);
            end -= start;
            start = 0;
            let want = reads[read_index % reads.len()].min(buf.len() - end);
            read_index += 1;
            let n = source.fill(&mut buf[end..end + want], &pattern);
            assert!(n > 0, "source ended before the decoder saw the end");
            end += n;
            received += n as u64;
        }
    }
    assert_eq!(forwarded, TOTAL);
    assert_eq!(start, end, "nothing after the last chunk");
    assert_eq!(buf.capacity(), 65536, "the buffer never grew");
    assert_eq!(
        decoder.position(),
        received,
        "the decoder consumed every byte received"
    );
}

#[test]
fn oversized_request_line_is_414_and_oversized_head_431() {
    let limits = Limits {
        max_head: 1024,
        ..Limits::default()
    };
    let long_uri = format!("GET /{} HTTP/1.1\r\nHost: a\r\n\r\n", "a".repeat(2000));
    let e = RequestParser::new(limits)
        .parse(long_uri.as_bytes())
        .unwrap_err();
    assert_eq!((e.kind, e.kind.status()), (ErrorKind::UriTooLong, 414));
    let long_header = format!(
        "GET / HTTP/1.1\r\nHost: a\r\nX: {}\r\n\r\n",
        "a".repeat(2000)
    );
    let e = RequestParser::new(limits)
        .parse(long_header.as_bytes())
        .unwrap_err();
    assert_eq!((e.kind, e.kind.status()), (ErrorKind::HeadTooLarge, 431));
}

/// Seeds for the mutation fuzzer: valid messages of each kind, prefixed with the byte
/// the targets use as a seed.
/// A fuzz target and one input for it.
type Seed = (fn(&[u8]), Vec<u8>);

fn corpus() -> Vec<Seed> {
    let heads: [&[u8]; 4] = [
        b"GET /a?b HTTP/1.1\r\nHost: h\r\nX: 1\r\n\r\n",
        b"POST http://h/ HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\nContent-Length: 3\r\n\r\n",
        b"CONNECT h:443 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
        b"OPTIONS * HTTP/1.1\r\nContent-Length: 5, 5\r\nHost: a\r\n\r\n",
    ];
    let responses: [&[u8]; 2] = [
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi",
        b"HTTP/1.0 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n",
    ];
    let bodies: [&[u8]; 2] = [
        b"5;a=b\r\nhello\r\n0\r\nX: 1\r\n\r\n",
        b"10\r\n0123456789abcdef\r\n0\r\n\r\n",
    ];
    let mut c: Vec<Seed> = Vec::new();
    for h in heads {
        c.push((checks::request_head, [&[10u8][..], h].concat()));
    }
    for r in responses {
        c.push((checks::response_head, [&[20u8][..], r].concat()));
    }
    for b in bodies {
        c.push((checks::body, [&[8u8][..], b].concat()));
    }
    let exchanges: [&[u8]; 2] = [
        b"\x10GET / HTTP/1.1\r\nHost: h\r\n\r\nPOST /p HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc\
          PUT /q HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3;x\r\nabc\r\n0\r\nT: 1\r\n\r\n",
        b"\x1aHTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n\
          HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nHTTP/1.1 204 No\r\n\r\n\
          HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n",
    ];
    for e in exchanges {
        c.push((checks::exchange, e.to_vec()));
    }
    c
}

/// One random mutation: flip, insert, delete, duplicate a span, or splice a token that
/// matters to HTTP framing.
fn mutate(input: &mut Vec<u8>, rng: &mut Rng) {
    const TOKENS: [&[u8]; 12] = [
        b"\r\n",
        b"\n",
        b"\r",
        b"\0",
        b" ",
        b":",
        b"chunked",
        b"Content-Length: 1\r\n",
        b"Transfer-Encoding: chunked\r\n",
        b"\t",
        b";",
        b"ffffffffffffffffff",
    ];
    for _ in 0..=rng.below(4) {
        let at = rng.below(input.len() + 1);
        match rng.below(5) {
            0 if at < input.len() => input[at] = rng.next() as u8,
            1 => input.insert(at, rng.next() as u8),
            2 if at < input.len() => {
                input.remove(at);
            }
            3 => {
                let t = TOKENS[rng.below(TOKENS.len())];
                input.splice(at..at, t.iter().copied());
            }
            _ if at < input.len() => {
                let len = rng.below(input.len() - at).min(64);
                let span = input[at..at + len].to_vec();
                input.splice(at..at, span);
            }
            _ => {}
        }
    }
    input.truncate(4096);
    if input.is_empty() {
        input.push(0);
    }
}

fn fuzz_for(iterations: Option<u64>, seconds: u64) -> u64 {
    let corpus = corpus();
    let mut rng = Rng(0x2545_F491_4F6C_DD1D ^ seconds);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(seconds);
    let mut runs = 0u64;
    loop {
        match iterations {
            Some(n) if runs >= n => break,
            None if runs.is_multiple_of(256) && std::time::Instant::now() >= deadline => break,
            _ => {}
        }
        let (target, seed) = &corpus[rng.below(corpus.len())];
        let mut input = seed.clone();
        mutate(&mut input, &mut rng);
        target(&input);
        runs += 1;
    }
    runs
}

/// A fixed number of mutations, run with every `cargo test`: a smoke test of the
/// fuzz properties (deterministic, not timed).
#[test]
fn fuzz_smoke_fixed_iterations() {
    assert_eq!(fuzz_for(Some(3000), 0), 3000);
    // The seeds themselves pass the properties.
    for (target, seed) in corpus() {
        target(&seed);
    }
}

/// The std-only fuzzer: `MOONPROXY_FUZZ_SECS=600 cargo test --release --test http_parser
/// -- --ignored fuzz_by_mutation --nocapture`. A failure panics with the property that
/// broke; the input can be reproduced from the deterministic seed.
#[test]
#[ignore = "runs for MOONPROXY_FUZZ_SECS seconds (default 30)"]
fn fuzz_by_mutation() {
    let secs = std::env::var("MOONPROXY_FUZZ_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(30);
    let runs = fuzz_for(None, secs);
    eprintln!("fuzz_by_mutation: {runs} inputs in {secs} s");
    assert!(runs > 0);
}
