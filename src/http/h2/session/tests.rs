use super::*;

/// A client's side of the conversation, written by hand.
struct Client {
    enc: hpack::Encoder,
    dec: hpack::Decoder,
}

impl Client {
    fn new() -> Client {
        Client { enc: hpack::Encoder::new(), dec: hpack::Decoder::new(4096) }
    }
    fn preface() -> Vec<u8> {
        let mut v = PREFACE.to_vec();
        frame::settings(&mut v, &[]);
        v
    }
    fn headers(&mut self, id: u32, fields: &[(&str, &str)], end: bool) -> Vec<u8> {
        let mut block = Vec::new();
        for (n, v) in fields {
            self.enc.field(&mut block, n.as_bytes(), v.as_bytes());
        }
        let mut out = Vec::new();
        frame::headers(&mut out, id, &block, end, 16384);
        out
    }
}

/// The frames in `out`, as (kind, flags, stream, payload).
fn frames(out: &[u8]) -> Vec<(u8, u8, u32, Vec<u8>)> {
    let mut v = Vec::new();
    let mut at = 0;
    while let Some(h) = Head::parse(&out[at..]) {
        v.push((h.kind, h.flags, h.stream, out[at + 9..at + 9 + h.len].to_vec()));
        at += 9 + h.len;
    }
    v
}

fn get(id: u32) -> Vec<(&'static str, &'static str)> {
    let _ = id;
    vec![(":method", "GET"), (":scheme", "https"), (":authority", "example.com"), (":path", "/a?b=1"), ("user-agent", "t"), ("cookie", "a=1"), ("cookie", "b=2")]
}

fn read_all(s: &mut Session, id: u32) -> Vec<u8> {
    let mut buf = [0u8; 4096];
    let mut got = Vec::new();
    while let Ok(n) = s.read(id, &mut buf) {
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
    }
    got
}

#[test]
fn a_get_becomes_http11_and_its_response_frames() {
    let mut s = Session::new(Config::default());
    let mut c = Client::new();
    let mut input = Client::preface();
    input.extend(c.headers(1, &get(1), true));
    s.feed(&input);
    assert_eq!(s.take_notes(), vec![Note::Opened(1)]);
    let req = String::from_utf8(read_all(&mut s, 1)).unwrap();
    assert_eq!(req, "GET https://example.com/a?b=1 HTTP/1.1\r\nhost: example.com\r\nuser-agent: t\r\ncookie: a=1; b=2\r\n\r\n");
    s.output().clear();
    let res = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: keep-alive\r\nX-A: b\r\n\r\nhello";
    assert_eq!(s.write(1, res).unwrap(), res.len());
    let f = frames(s.output());
    assert_eq!(f.len(), 2);
    assert_eq!((f[0].0, f[0].1), (kind::HEADERS, flag::END_HEADERS));
    let fields = c.dec.decode(&f[0].3, 1 << 20).unwrap();
    let names: Vec<_> = fields.iter().map(|f| String::from_utf8(f.name.clone()).unwrap()).collect();
    assert_eq!(names, [":status", "content-length", "x-a"]);
    assert_eq!((f[1].0, f[1].1, &f[1].3[..]), (kind::DATA, flag::END_STREAM, &b"hello"[..]));
    // The response is complete: the stream reads its end.
    assert_eq!(s.read(1, &mut [0u8; 8]).unwrap(), 0);
}

#[test]
fn a_body_without_length_goes_chunked_and_windows_are_credited() {
    let mut s = Session::new(Config::default());
    let mut c = Client::new();
    let mut input = Client::preface();
    input.extend(c.headers(1, &[(":method", "POST"), (":scheme", "http"), (":path", "/up")], false));
    frame::write(&mut input, kind::DATA, 0, 1, b"abc");
    frame::write(&mut input, kind::DATA, flag::END_STREAM, 1, b"de");
    s.feed(&input);
    s.output().clear();
    let req = String::from_utf8(read_all(&mut s, 1)).unwrap();
    assert_eq!(req, "POST /up HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n");
    // No stream credit after END_STREAM; the connection window is credited in bulk.
    assert!(frames(s.output()).iter().all(|f| f.0 != kind::WINDOW_UPDATE || f.2 == 0));
}

#[test]
fn a_chunked_response_waits_for_the_window() {
    let mut s = Session::new(Config::default());
    let mut c = Client::new();
    let mut input = Client::preface();
    frame::settings(&mut input, &[(setting::INITIAL_WINDOW_SIZE, 4)]);
    input.extend(c.headers(1, &get(1), true));
    s.feed(&input);
    s.take_notes();
    read_all(&mut s, 1);
    s.output().clear();
    let res = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\na\r\n0123456789\r\n0\r\n\r\n";
    let n = s.write(1, res).unwrap();
    assert!(n < res.len());
    assert_eq!(s.write(1, &res[n..]).unwrap_err().kind(), io::ErrorKind::WouldBlock);
    let mut wu = Vec::new();
    frame::window_update(&mut wu, 1, 100);
    s.feed(&wu);
    assert_eq!(s.take_notes(), vec![Note::Ready(1)]);
    let m = s.write(1, &res[n..]).unwrap();
    assert_eq!(n + m, res.len());
    let data: Vec<u8> = frames(s.output()).iter().filter(|f| f.0 == kind::DATA).flat_map(|f| f.3.clone()).collect();
    assert_eq!(data, b"0123456789");
    assert!(frames(s.output()).last().is_some_and(|f| f.1 & flag::END_STREAM != 0));
}

fn rst_code(out: &[u8], id: u32) -> Option<u32> {
    frames(out).iter().find(|f| f.0 == kind::RST_STREAM && f.2 == id).map(|f| u32::from_be_bytes(f.3[..4].try_into().unwrap()))
}

fn goaway_code(out: &[u8]) -> Option<u32> {
    frames(out).iter().find(|f| f.0 == kind::GOAWAY).map(|f| u32::from_be_bytes(f.3[4..8].try_into().unwrap()))
}

#[test]
fn malformed_requests_are_stream_errors() {
    for bad in [
        vec![(":method", "GET"), (":scheme", "http"), (":path", "/"), ("Upper", "x")],
        vec![(":method", "GET"), (":scheme", "http"), (":path", "/"), ("connection", "close")],
        vec![(":method", "GET"), (":scheme", "http"), ("x", "y"), (":path", "/")],
        vec![(":method", "GET"), (":scheme", "http")],
        vec![(":method", "GET"), (":scheme", "http"), (":path", "/"), ("te", "gzip")],
        vec![(":method", "CONNECT"), (":protocol", "websocket"), (":scheme", "http"), (":path", "/"), (":authority", "a")],
        vec![(":method", "CONNECT"), (":scheme", "http"), (":authority", "a")],
    ] {
        let mut s = Session::new(Config::default());
        let mut input = Client::preface();
        input.extend(Client::new().headers(1, &bad, true));
        s.feed(&input);
        assert_eq!(rst_code(s.output(), 1), Some(ErrorCode::ProtocolError as u32), "{bad:?}");
        assert!(s.closing().is_none());
    }
}

#[test]
fn content_length_must_match_the_data() {
    let mut s = Session::new(Config::default());
    let mut input = Client::preface();
    input.extend(Client::new().headers(1, &[(":method", "POST"), (":scheme", "http"), (":path", "/"), ("content-length", "3")], false));
    frame::write(&mut input, kind::DATA, flag::END_STREAM, 1, b"ab");
    s.feed(&input);
    assert_eq!(rst_code(s.output(), 1), Some(ErrorCode::ProtocolError as u32));
}

#[test]
fn connection_errors_send_goaway() {
    let cases: Vec<(Vec<u8>, ErrorCode)> = vec![
        (b"GET / HTTP/1.1\r\n\r\n".to_vec(), ErrorCode::ProtocolError),
        ({
            let mut v = Client::preface();
            frame::Head { len: 20000, kind: kind::DATA, flags: 0, stream: 1 }.write(&mut v);
            v
        }, ErrorCode::FrameSizeError),
        ({
            let mut v = Client::preface();
            frame::headers(&mut v, 1, &[0xff, 0xff, 0xff], true, 16384);
            v
        }, ErrorCode::CompressionError),
        ({
            let mut v = Client::preface();
            frame::write(&mut v, kind::PING, 0, 0, &[0; 7]);
            v
        }, ErrorCode::FrameSizeError),
        ({
            let mut v = Client::preface();
            frame::write(&mut v, kind::PUSH_PROMISE, 0, 1, &[0; 4]);
            v
        }, ErrorCode::ProtocolError),
        ({
            let mut v = Client::preface();
            frame::window_update(&mut v, 0, 0x7fff_ffff);
            v
        }, ErrorCode::FlowControlError),
    ];
    for (input, code) in cases {
        let mut s = Session::new(Config::default());
        s.feed(&input);
        assert_eq!(goaway_code(s.output()), Some(code as u32), "{code:?}");
        assert_eq!(s.closing(), Some(code));
    }
}

#[test]
fn streams_beyond_the_limit_are_refused_and_ping_is_answered() {
    let mut s = Session::new(Config { max_concurrent_streams: 1, ..Config::default() });
    let mut c = Client::new();
    let mut input = Client::preface();
    input.extend(c.headers(1, &get(1), true));
    input.extend(c.headers(3, &get(3), true));
    frame::write(&mut input, kind::PING, 0, 0, b"12345678");
    s.feed(&input);
    assert_eq!(s.take_notes(), vec![Note::Opened(1)]);
    assert_eq!(rst_code(s.output(), 3), Some(ErrorCode::RefusedStream as u32));
    assert!(frames(s.output()).iter().any(|f| f.0 == kind::PING && f.1 == flag::ACK && f.3 == b"12345678"));
}

#[test]
fn connect_asks_for_http11() {
    let mut s = Session::new(Config::default());
    let mut input = Client::preface();
    input.extend(Client::new().headers(1, &[(":method", "CONNECT"), (":authority", "a:443")], false));
    s.feed(&input);
    assert_eq!(rst_code(s.output(), 1), Some(ErrorCode::Http11Required as u32));
    assert!(s.take_notes().is_empty());
}

#[test]
fn a_lost_peer_ends_every_stream() {
    let mut s = Session::new(Config::default());
    let mut c = Client::new();
    let mut input = Client::preface();
    input.extend(c.headers(1, &[(":method", "POST"), (":scheme", "http"), (":path", "/")], false));
    s.feed(&input);
    s.take_notes();
    read_all(&mut s, 1);
    assert_eq!(s.read(1, &mut [0u8; 4]).unwrap_err().kind(), io::ErrorKind::WouldBlock);
    s.peer_gone();
    assert_eq!(s.take_notes(), vec![Note::Ready(1)]);
    assert_eq!(s.read(1, &mut [0u8; 4]).unwrap(), 0);
    assert!(s.write(1, b"HTTP/1.1 200 OK\r\n\r\n").is_err());
}

/// What `fuzz/fuzz_targets/h2.rs` checks, over deterministic mutations of a few
/// conversations: no panic, and the same frames and requests for the input fed whole
/// or split in two anywhere.
/// Runs `run` on mutations of `seed` (up to three bytes changed, cut or inserted after
/// its first `keep` bytes), each fed whole and split at a random point: no panic, and the
/// same result both ways. `MOONPROXY_FUZZ_ITERS` sets how many (3000); `state` seeds the
/// xorshift generator.
fn check_mutations<R: PartialEq + std::fmt::Debug>(seed: &[u8], keep: usize, mut state: u64, run: impl Fn(&[&[u8]]) -> R) {
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let iters = std::env::var("MOONPROXY_FUZZ_ITERS").ok().and_then(|v| v.parse().ok()).unwrap_or(3000);
    for _ in 0..iters {
        let mut input = seed.to_vec();
        for _ in 0..(next() % 4) {
            if input.len() <= keep {
                break;
            }
            let i = keep + (next() as usize % (input.len() - keep));
            match next() % 3 {
                0 => input[i] = next() as u8,
                1 => input.truncate(i),
                _ => input.insert(i, next() as u8),
            }
        }
        let at = next() as usize % (input.len() + 1);
        let (a, b) = input.split_at(at);
        assert_eq!(run(&[&input]), run(&[a, b]), "split at {at} of {input:?}");
    }
}

#[test]
fn mutated_conversations_resume_anywhere() {
    fn run(pieces: &[&[u8]]) -> (Vec<u8>, Vec<Vec<u8>>) {
        let mut s = Session::new(Config::default());
        let mut opened = Vec::new();
        for p in pieces {
            s.feed(p);
            opened.extend(s.take_notes().into_iter().filter_map(|n| if let Note::Opened(id) = n { Some(id) } else { None }));
        }
        let requests = opened.into_iter().map(|id| read_all(&mut s, id)).collect();
        (std::mem::take(s.output()), requests)
    }
    let mut c = Client::new();
    let mut seed = Client::preface();
    seed.extend(c.headers(1, &get(1), true));
    seed.extend(c.headers(3, &[(":method", "POST"), (":scheme", "http"), (":path", "/p"), ("content-length", "4")], false));
    frame::write(&mut seed, kind::DATA, flag::END_STREAM | flag::PADDED, 3, &[2, b'a', b'b', b'c', b'd', 0, 0]);
    frame::write(&mut seed, kind::PING, 0, 0, b"pingping");
    frame::window_update(&mut seed, 0, 1000);
    // `MOONPROXY_FUZZ_ITERS=300000 cargo test --lib mutated_conversations` for a longer run.
    check_mutations(&seed, PREFACE.len(), 0x2545_f491_4f6c_dd1d, run);
}

#[test]
fn continuation_padding_priority_and_trailers() {
    let mut s = Session::new(Config::default());
    let mut c = Client::new();
    let mut block = Vec::new();
    for (n, v) in [(":method", "POST"), (":scheme", "https"), (":path", "/t"), (":authority", "a"), ("x-long", "0123456789")] {
        c.enc.field(&mut block, n.as_bytes(), v.as_bytes());
    }
    let mut input = Client::preface();
    // HEADERS padded and with a priority part, then two CONTINUATIONs.
    let mut first = vec![3u8, 0, 0, 0, 0, 16];
    first.extend_from_slice(&block[..10]);
    first.extend_from_slice(&[0, 0, 0]);
    frame::write(&mut input, kind::HEADERS, flag::PADDED | flag::PRIORITY, 1, &first);
    frame::write(&mut input, kind::CONTINUATION, 0, 1, &block[10..20]);
    frame::write(&mut input, kind::CONTINUATION, flag::END_HEADERS, 1, &block[20..]);
    frame::write(&mut input, kind::PRIORITY, 0, 3, &[0, 0, 0, 1, 16]);
    frame::write(&mut input, kind::DATA, 0, 1, b"body");
    let mut trailers = Vec::new();
    c.enc.field(&mut trailers, b"x-sum", b"42");
    frame::headers(&mut input, 1, &trailers, true, 16384);
    s.feed(&input);
    assert_eq!(s.take_notes()[0], Note::Opened(1));
    let req = String::from_utf8(read_all(&mut s, 1)).unwrap();
    assert_eq!(req, "POST https://a/t HTTP/1.1\r\nhost: a\r\nx-long: 0123456789\r\ntransfer-encoding: chunked\r\n\r\n4\r\nbody\r\n0\r\nx-sum: 42\r\n\r\n");
    assert!(s.closing().is_none());
}

#[test]
fn a_frame_inside_a_header_block_is_a_connection_error() {
    let mut s = Session::new(Config::default());
    let mut input = Client::preface();
    let block = Client::new().headers(1, &get(1), true);
    // The HEADERS frame without END_HEADERS, then a PING.
    let mut h = block.clone();
    h[4] &= !flag::END_HEADERS;
    input.extend_from_slice(&h);
    frame::write(&mut input, kind::PING, 0, 0, b"12345678");
    s.feed(&input);
    assert_eq!(goaway_code(s.output()), Some(ErrorCode::ProtocolError as u32));
}

#[test]
fn the_peer_table_size_is_acknowledged_in_the_next_block() {
    let mut s = Session::new(Config::default());
    let mut c = Client::new();
    let mut input = Client::preface();
    frame::settings(&mut input, &[(setting::HEADER_TABLE_SIZE, 0)]);
    input.extend(c.headers(1, &get(1), true));
    s.feed(&input);
    s.take_notes();
    read_all(&mut s, 1);
    s.output().clear();
    s.write(1, b"HTTP/1.1 204 No Content\r\nserver: x\r\n\r\n").unwrap();
    let f = frames(s.output());
    assert_eq!(f[0].3[0], 0x20, "a size update to 0 opens the block");
    let mut dec = hpack::Decoder::new(4096);
    let fields = dec.decode(&f[0].3, 1 << 20).unwrap();
    assert_eq!(fields.len(), 2);
    assert_eq!(f[0].1 & flag::END_STREAM, flag::END_STREAM, "204: no body");
}

// ---- the client role (HTTP/2 to servers) ------------------------------------------

/// A server's frames: its HPACK encoder and decoder.
fn server_side() -> (hpack::Encoder, hpack::Decoder) {
    (hpack::Encoder::new(), hpack::Decoder::new(4096))
}

fn response(enc: &mut hpack::Encoder, id: u32, fields: &[(&str, &str)], end: bool) -> Vec<u8> {
    let mut block = Vec::new();
    for (n, v) in fields {
        enc.field(&mut block, n.as_bytes(), v.as_bytes());
    }
    let mut out = Vec::new();
    frame::headers(&mut out, id, &block, end, 16384);
    out
}

fn names_values(fields: &[hpack::Field]) -> Vec<(String, String)> {
    fields.iter().map(|f| (String::from_utf8_lossy(&f.name).into_owned(), String::from_utf8_lossy(&f.value).into_owned())).collect()
}

#[test]
fn as_a_client_the_request_goes_as_pseudo_headers_and_the_response_comes_back_chunked() {
    let mut s = Session::client(Config::default(), false);
    assert!(s.output().starts_with(PREFACE));
    let settings = frames(&s.output()[PREFACE.len()..]);
    assert_eq!((settings[0].0, &settings[0].3[..]), (kind::SETTINGS, &[0, 2, 0, 0, 0, 0][..]), "push disabled");
    s.output().clear();
    let (mut enc, mut dec) = server_side();
    assert_eq!(s.open(), Some(1));
    let req = b"GET /a?b=1 HTTP/1.1\r\nHost: example.com\r\nConnection: keep-alive\r\nTE: trailers, deflate\r\nX-A: 1\r\n\r\n";
    assert_eq!(s.write(1, req).unwrap(), req.len());
    let f = frames(s.output());
    assert_eq!((f.len(), f[0].0, f[0].1), (1, kind::HEADERS, flag::END_HEADERS | flag::END_STREAM));
    let want = [(":method", "GET"), (":scheme", "http"), (":authority", "example.com"), (":path", "/a?b=1"), ("te", "trailers"), ("x-a", "1")];
    assert_eq!(names_values(&dec.decode(&f[0].3, 1 << 20).unwrap()), want.map(|(n, v)| (n.to_string(), v.to_string())));
    s.output().clear();
    // The server's SETTINGS, a head without length, DATA, trailers.
    let mut input = Vec::new();
    frame::settings(&mut input, &[]);
    input.extend(response(&mut enc, 1, &[(":status", "200"), ("content-type", "application/grpc")], false));
    frame::write(&mut input, kind::DATA, 0, 1, b"hello");
    input.extend(response(&mut enc, 1, &[("grpc-status", "0")], true));
    s.feed(&input);
    let got = String::from_utf8(read_all(&mut s, 1)).unwrap();
    assert_eq!(got, "HTTP/1.1 200 \r\ncontent-type: application/grpc\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\ngrpc-status: 0\r\n\r\n");
    assert!(s.is_complete(1));
    assert!(frames(s.output()).iter().any(|f| f.0 == kind::SETTINGS && f.1 == flag::ACK));
    // The next request takes the next stream.
    s.detach(1);
    assert_eq!(s.open(), Some(3));
}

#[test]
fn as_a_client_interim_heads_pass_and_bodiless_answers_get_their_framing() {
    let mut s = Session::client(Config::default(), true);
    let (mut enc, mut dec) = server_side();
    // An absolute-form target gives scheme and authority (not the connection's TLS).
    s.open();
    s.write(1, b"HEAD http://h.test/x HTTP/1.1\r\nHost: h.test\r\n\r\n").unwrap();
    let f = frames(&s.output()[PREFACE.len()..]);
    let fields = names_values(&dec.decode(&f[1].3, 1 << 20).unwrap());
    assert_eq!(fields[..4], [(":method", "HEAD"), (":scheme", "http"), (":authority", "h.test"), (":path", "/x")].map(|(n, v)| (n.to_string(), v.to_string())));
    let mut input = response(&mut enc, 1, &[(":status", "100")], false);
    input.extend(response(&mut enc, 1, &[(":status", "200"), ("content-length", "5")], true));
    s.feed(&input);
    assert_eq!(String::from_utf8(read_all(&mut s, 1)).unwrap(), "HTTP/1.1 100 \r\n\r\nHTTP/1.1 200 \r\ncontent-length: 5\r\n\r\n");
    // A GET answered by a head with END_STREAM and no length: content-length 0.
    s.detach(1);
    s.open();
    s.write(3, b"GET / HTTP/1.1\r\nHost: h\r\n\r\n").unwrap();
    s.feed(&response(&mut enc, 3, &[(":status", "404")], true));
    assert_eq!(String::from_utf8(read_all(&mut s, 3)).unwrap(), "HTTP/1.1 404 \r\ncontent-length: 0\r\n\r\n");
    // DATA before the head, a pseudo-header that is not `:status`: the stream is reset.
    s.detach(3);
    s.open();
    s.write(5, b"GET / HTTP/1.1\r\nHost: h\r\n\r\n").unwrap();
    s.output().clear();
    let mut bad = Vec::new();
    frame::write(&mut bad, kind::DATA, 0, 5, b"x");
    s.feed(&bad);
    assert_eq!(rst_code(s.output(), 5), Some(ErrorCode::ProtocolError as u32));
    assert!(s.is_reset(5) && s.read(5, &mut [0u8; 8]).unwrap() == 0);
    s.detach(5);
    s.open();
    s.write(7, b"GET / HTTP/1.1\r\nHost: h\r\n\r\n").unwrap();
    s.feed(&response(&mut enc, 7, &[(":path", "/")], true));
    assert!(s.is_reset(7));
}

#[test]
fn as_a_client_a_request_body_waits_for_the_windows() {
    let mut s = Session::client(Config::default(), false);
    s.open();
    let head = b"POST /up HTTP/1.1\r\nHost: h\r\nContent-Length: 70000\r\n\r\n";
    let body = vec![7u8; 70_000];
    let all = [&head[..], &body].concat();
    let n = s.write(1, &all).unwrap();
    assert_eq!(n, head.len() + 65_535, "the body stops at the initial windows");
    assert_eq!(s.write(1, &all[n..]).unwrap_err().kind(), io::ErrorKind::WouldBlock);
    assert!(s.write_blocked(1));
    let mut wu = Vec::new();
    frame::window_update(&mut wu, 0, 10_000);
    frame::window_update(&mut wu, 1, 10_000);
    s.feed(&wu);
    assert_eq!(s.take_notes(), vec![Note::Ready(1)]);
    assert_eq!(s.write(1, &all[n..]).unwrap(), all.len() - n);
    let f = frames(&s.output()[PREFACE.len()..]);
    let data: usize = f.iter().filter(|f| f.0 == kind::DATA).map(|f| f.3.len()).sum();
    assert_eq!(data, 70_000);
    assert!(f.last().is_some_and(|f| f.0 == kind::DATA && f.1 == flag::END_STREAM));
}

#[test]
fn as_a_client_resets_and_goaway_end_the_stream_with_their_code() {
    let mut s = Session::client(Config::default(), false);
    s.open();
    s.write(1, b"GET / HTTP/1.1\r\nHost: h\r\n\r\n").unwrap();
    let mut rst = Vec::new();
    frame::rst_stream(&mut rst, 1, ErrorCode::RefusedStream);
    s.feed(&rst);
    assert_eq!(s.read(1, &mut [0u8; 8]).unwrap(), 0);
    assert_eq!(s.peer_reset(1), Some(ErrorCode::RefusedStream));
    s.detach(1);
    s.open();
    s.write(3, b"GET / HTTP/1.1\r\nHost: h\r\n\r\n").unwrap();
    // GOAWAY naming stream 1 as the last processed: stream 3 was not, and ends.
    let mut ga = Vec::new();
    frame::goaway(&mut ga, 1, ErrorCode::NoError);
    s.feed(&ga);
    assert_eq!(s.peer_reset(3), Some(ErrorCode::RefusedStream));
    assert_eq!(s.open(), None, "no new stream after GOAWAY");
    // PUSH_PROMISE was disabled: a connection error.
    let mut pp = Vec::new();
    frame::write(&mut pp, kind::PUSH_PROMISE, flag::END_HEADERS, 3, &[0, 0, 0, 2]);
    s.feed(&pp);
    assert_eq!(s.error.map(|e| e.0), Some(ErrorCode::ProtocolError));
}

/// The client role under the same deterministic mutations of a server's conversation
/// (a 100, a chunked response with trailers on stream 1, a response with a length on
/// stream 3, PING, SETTINGS, WINDOW_UPDATE): no panic, and the same frames and
/// responses for the input fed whole or split in two anywhere.
#[test]
fn as_a_client_mutated_responses_resume_anywhere() {
    fn run(pieces: &[&[u8]]) -> (Vec<u8>, Vec<Vec<u8>>) {
        let mut s = Session::client(Config::default(), false);
        for id in [1, 3] {
            assert_eq!(s.open(), Some(id));
            let _ = s.write(id, b"POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc");
        }
        for p in pieces {
            s.feed(p);
            s.take_notes();
        }
        let responses = [1, 3].into_iter().map(|id| read_all(&mut s, id)).collect();
        (std::mem::take(s.output()), responses)
    }
    let (mut enc, _) = server_side();
    let mut seed = Vec::new();
    frame::settings(&mut seed, &[(setting::INITIAL_WINDOW_SIZE, 100), (setting::MAX_FRAME_SIZE, 16_384)]);
    seed.extend(response(&mut enc, 1, &[(":status", "100")], false));
    seed.extend(response(&mut enc, 1, &[(":status", "200"), ("content-type", "text/plain")], false));
    frame::write(&mut seed, kind::DATA, flag::PADDED, 1, &[1, b'h', b'i', 0]);
    seed.extend(response(&mut enc, 1, &[("grpc-status", "0")], true));
    seed.extend(response(&mut enc, 3, &[(":status", "404"), ("content-length", "2")], false));
    frame::write(&mut seed, kind::DATA, flag::END_STREAM, 3, b"no");
    frame::write(&mut seed, kind::PING, 0, 0, b"pingping");
    frame::window_update(&mut seed, 0, 1000);
    assert_eq!(run(&[&seed]).1[0], b"HTTP/1.1 100 \r\n\r\nHTTP/1.1 200 \r\ncontent-type: text/plain\r\ntransfer-encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\ngrpc-status: 0\r\n\r\n");
    check_mutations(&seed, 0, 0x9e37_79b9_7f4a_7c15, run);
}

#[test]
fn as_a_client_a_write_stops_at_the_request_end_and_an_early_answer_drops_the_rest() {
    let mut s = Session::client(Config::default(), false);
    let (mut enc, _) = server_side();
    s.open();
    // The next request's bytes are not taken for this stream.
    let two = b"POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nokGET /b HTTP/1.1\r\nHost: h\r\n\r\n";
    assert_eq!(s.write(1, two).unwrap(), two.len() - b"GET /b HTTP/1.1\r\nHost: h\r\n\r\n".len());
    assert!(s.outbound_done(1));
    // An answer before the body's end, then RST_STREAM(NO_ERROR): the body's rest is
    // taken (to its end, not beyond) and dropped.
    s.open();
    let head = b"POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n";
    assert_eq!(s.write(3, head).unwrap(), head.len());
    let mut input = response(&mut enc, 3, &[(":status", "413")], true);
    frame::rst_stream(&mut input, 3, ErrorCode::NoError);
    s.feed(&input);
    assert_eq!(String::from_utf8(read_all(&mut s, 3)).unwrap(), "HTTP/1.1 413 \r\ncontent-length: 0\r\n\r\n");
    s.output().clear();
    let rest = b"2\r\nde\r\n0\r\n\r\nGET /next HTTP/1.1\r\n";
    assert_eq!(s.write(3, rest).unwrap(), 12);
    assert!(s.is_complete(3));
    assert!(s.output().is_empty(), "nothing sent for the dropped part");
}
