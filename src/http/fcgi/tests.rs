//! The codec against a scripted application: what it writes for a request, what HTTP
//! it gives back for the records it reads.

use super::codec::Codec;
use super::record::{self, Type};
use super::{App, ConnFacts, Prepared};
use crate::config::model::{FcgiApp, FcgiRule, Location};
use crate::http::h1::{RequestParser, Status};
use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::sync::Arc;

/// A socket: reads come from a script (`None`: would block; an empty chunk: EOF),
/// writes are kept.
#[derive(Default)]
struct Script {
    reads: VecDeque<Option<Vec<u8>>>,
    written: Vec<u8>,
}

impl Read for Script {
    fn read(&mut self, b: &mut [u8]) -> io::Result<usize> {
        match self.reads.pop_front() {
            None | Some(None) => Err(io::ErrorKind::WouldBlock.into()),
            Some(Some(mut data)) => {
                let n = data.len().min(b.len());
                b[..n].copy_from_slice(&data[..n]);
                if n < data.len() {
                    self.reads.push_front(Some(data.split_off(n)));
                }
                Ok(n)
            }
        }
    }
}

impl Write for Script {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        self.written.extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn loc() -> Location {
    Location { file: "t.cfg".into(), line: 1 }
}

fn app(keep_conn: bool) -> Arc<App> {
    let conf = FcgiApp {
        name: "php".into(),
        location: loc(),
        docroot: Some("/srv".into()),
        index: Some("index.php".into()),
        path_info: Some(r"^(/.+\.php)(/.*)?$".into()),
        log_stderr: Vec::new(),
        log_stderr_global: false,
        keep_conn,
        get_values: false,
        mpxs_conns: false,
        max_reqs: 1,
        set_params: vec![FcgiRule { name: "REDIRECT_STATUS".into(), value: Some("200".into()), cond: None, location: loc() }],
        pass_headers: Vec::new(),
        acls: Vec::new(),
    };
    Arc::new(App::compile(&conf, "be", Arc::new(crate::log::LogIdentity::default())).unwrap())
}

struct NoCtx;
impl crate::sample::SampleCtx for NoCtx {}

fn prepare(app: &Arc<App>, head: &[u8]) -> Arc<Prepared> {
    let Ok(Status::Complete(req, _)) = RequestParser::new(Default::default()).parse(head) else { panic!("bad head") };
    let facts = ConnFacts { src: Some("10.0.0.1:5000".parse().unwrap()), dst: Some("10.0.0.2:80".parse().unwrap()), tls: true };
    Arc::new(app.prepare(&req, &NoCtx, &facts).unwrap())
}

/// Every record in `bytes`, as (type, content).
fn records(mut bytes: &[u8]) -> Vec<(Type, Vec<u8>)> {
    let mut out = Vec::new();
    while let Some((r, used)) = record::take(bytes).unwrap() {
        out.push((r.kind, r.content));
        bytes = &bytes[used..];
    }
    assert!(bytes.is_empty(), "trailing bytes");
    out
}

fn param<'a>(pairs: &'a [(Vec<u8>, Vec<u8>)], name: &str) -> Option<&'a str> {
    pairs.iter().find(|(n, _)| n == name.as_bytes()).map(|(_, v)| std::str::from_utf8(v).unwrap())
}

/// Records as (type, content), and name-value pairs.
type Records = Vec<(Type, Vec<u8>)>;
type Pairs = Vec<(Vec<u8>, Vec<u8>)>;

/// Writes `http` as the stream would, returns the records sent and the PARAMS.
fn send(codec: &mut Codec, io: &mut Script, prepared: Arc<Prepared>, http: &[u8]) -> (Records, Pairs) {
    codec.expect(prepared);
    // In small pieces: the codec resumes anywhere.
    for piece in http.chunks(5) {
        assert_eq!(codec.write(io, &[piece]).unwrap(), piece.len());
    }
    let recs = records(&std::mem::take(&mut io.written));
    let params: Vec<u8> = recs.iter().filter(|(t, _)| *t == Type::Params).flat_map(|(_, c)| c.clone()).collect();
    (recs, record::parse_pairs(&params).unwrap())
}

fn read_all(codec: &mut Codec, io: &mut Script) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut buf = [0u8; 7];
    loop {
        match codec.read(io, &mut buf) {
            Ok(0) => return Ok(out),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(out),
            Err(e) => return Err(e),
        }
    }
}

#[test]
fn a_get_becomes_begin_params_and_an_empty_stdin() {
    let app = app(true);
    let head = b"GET /a/b.php/x/y?q=1 HTTP/1.1\r\nHost: example\r\nConnection: close\r\nAuthorization: secret\r\n\r\n";
    let (mut codec, mut io) = (Codec::new("be/s"), Script::default());
    let (recs, params) = send(&mut codec, &mut io, prepare(&app, head), head);
    assert_eq!(recs[0], (Type::BeginRequest, vec![0, 1, 1, 0, 0, 0, 0, 0]));
    assert_eq!(recs.iter().map(|r| r.0).collect::<Vec<_>>(), [Type::BeginRequest, Type::Params, Type::Params, Type::Stdin]);
    assert!(recs[2].1.is_empty() && recs[3].1.is_empty());
    for (name, value) in [
        ("HTTP_HOST", Some("example")),
        ("HTTP_CONNECTION", None),
        ("HTTP_AUTHORIZATION", None),
        ("SCRIPT_NAME", Some("/a/b.php")),
        ("PATH_INFO", Some("/x/y")),
        ("PATH_TRANSLATED", Some("/srv/x/y")),
        ("SCRIPT_FILENAME", Some("/srv/a/b.php")),
        ("QUERY_STRING", Some("q=1")),
        ("REMOTE_ADDR", Some("10.0.0.1")),
        ("SERVER_PORT", Some("80")),
        ("HTTPS", Some("on")),
        ("CONTENT_LENGTH", Some("0")),
        ("REDIRECT_STATUS", Some("200")),
    ] {
        assert_eq!(param(&params, name), value, "{name}");
    }
}

#[test]
fn bodies_go_as_stdin_and_chunked_ones_with_their_length() {
    let app = app(true);
    let (mut codec, mut io) = (Codec::new("be/s"), Script::default());
    let head = b"POST /f.php HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\n";
    let (recs, params) = send(&mut codec, &mut io, prepare(&app, head), &[&head[..], b"hello"].concat());
    assert_eq!(param(&params, "CONTENT_LENGTH"), Some("5"));
    let stdin: Vec<u8> = recs.iter().filter(|r| r.0 == Type::Stdin).flat_map(|r| r.1.clone()).collect();
    assert_eq!(stdin, b"hello");
    assert_eq!(recs.last().unwrap(), &(Type::Stdin, Vec::new()), "the empty STDIN ends the body");
    // The answer, then the next request on the same connection: chunked.
    let mut answer = Vec::new();
    record::push(&mut answer, Type::Stdout, 1, b"Status: 201 Created\r\n\r\nok");
    record::push(&mut answer, Type::EndRequest, 1, &[0; 8]);
    io.reads.push_back(Some(answer));
    let http = read_all(&mut codec, &mut io).unwrap();
    assert_eq!(http, b"HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok");
    let head = b"POST /u/ HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n";
    let (recs, params) = send(&mut codec, &mut io, prepare(&app, head), &[&head[..], b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"].concat());
    assert_eq!((param(&params, "CONTENT_LENGTH"), param(&params, "SCRIPT_NAME")), (Some("5"), Some("/u/index.php")));
    let stdin: Vec<u8> = recs.iter().filter(|r| r.0 == Type::Stdin).flat_map(|r| r.1.clone()).collect();
    assert_eq!(stdin, b"abcde");
    assert_eq!(recs.last().unwrap(), &(Type::Stdin, Vec::new()));
}

#[test]
fn responses_are_framed_by_length_or_chunks() {
    let app = app(false);
    let head = b"GET /i.php HTTP/1.1\r\nHost: h\r\n\r\n";
    let (mut codec, mut io) = (Codec::new("be/s"), Script::default());
    let (recs, _) = send(&mut codec, &mut io, prepare(&app, head), head);
    assert_eq!(recs[0].1[2], 0, "no FCGI_KEEP_CONN");
    // The head alone first: chunked, then the body as it comes.
    let mut first = Vec::new();
    record::push(&mut first, Type::Stderr, 1, b"a warning\n");
    record::push(&mut first, Type::Stdout, 1, b"Location: /there\nX-A: 1\n\nab");
    io.reads.push_back(Some(first));
    let got = read_all(&mut codec, &mut io).unwrap();
    assert_eq!(got, b"HTTP/1.1 302 Moved Temporarily\r\nLocation: /there\r\nX-A: 1\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n2\r\nab\r\n");
    let mut rest = Vec::new();
    record::push(&mut rest, Type::Stdout, 1, b"cd");
    record::push(&mut rest, Type::EndRequest, 1, &[0; 8]);
    io.reads.push_back(Some(rest));
    io.reads.push_back(Some(Vec::new()));
    assert_eq!(read_all(&mut codec, &mut io).unwrap(), b"2\r\ncd\r\n0\r\n\r\n");
}

#[test]
fn broken_applications_fail_the_read() {
    let app = app(true);
    let head = b"GET /i.php HTTP/1.1\r\nHost: h\r\n\r\n";
    let rec = |id: u16, content: &[u8]| {
        let mut r = Vec::new();
        record::push(&mut r, Type::Stdout, id, content);
        r
    };
    let cases = [
        b"\x07not fastcgi".to_vec(),
        // Half a response, then the connection closes.
        rec(1, b"Content-Type: text/plain\r\n\r\npart"),
        // A record for another request.
        rec(2, b"x"),
        // The end before a complete head.
        [rec(1, b"Content-Type: text/plain\r\n"), { let mut e = Vec::new(); record::push(&mut e, Type::EndRequest, 1, &[0; 8]); e }].concat(),
    ];
    for (i, bytes) in cases.into_iter().enumerate() {
        let (mut codec, mut io) = (Codec::new("be/s"), Script::default());
        send(&mut codec, &mut io, prepare(&app, head), head);
        io.reads.push_back(Some(bytes));
        io.reads.push_back(Some(Vec::new()));
        let err = read_all(&mut codec, &mut io).expect_err(&format!("case {i}"));
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert!(err.to_string().contains("be/s"), "{err}");
    }
}
