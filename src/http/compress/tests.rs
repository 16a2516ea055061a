use std::io::Read;

use super::*;
use crate::http::h1::Limits;
use crate::http::{RequestLine, StatusLine, TargetForm};
use CompressionAlgo::{Deflate, Gzip, Identity, RawDeflate};

fn policy(algos: &[CompressionAlgo], types: &[&str], offload: bool) -> Policy {
    let conf = Compression { algos: algos.to_vec(), types: types.iter().map(|t| t.to_string()).collect(), offload };
    Policy::new(&conf, &CompressionTuning::default())
}

fn request(version: Version, method: Method, headers: &[(&str, &str)]) -> Request {
    let mut h = Headers::new();
    for (n, v) in headers {
        h.add(*n, v.as_bytes());
    }
    Request {
        line: RequestLine { method, target: "/".into(), form: TargetForm::Origin, version },
        headers: h,
        framing: BodyFraming::None,
    }
}

fn response(status: u16, framing: BodyFraming, headers: &[(&str, &str)]) -> Response {
    let mut h = Headers::new();
    for (n, v) in headers {
        h.add(*n, v.as_bytes());
    }
    Response { line: StatusLine { version: Version::Http11, status, reason: b"OK".to_vec() }, headers: h, framing }
}

/// The algorithm chosen for `accept` (HAProxy 2.6 answers the same to each, checked
/// against it by hand: `compression algo gzip deflate`).
fn pick(p: &Policy, accept: &str) -> Option<CompressionAlgo> {
    let mut req = request(Version::Http11, Method::Get, &[("Accept-Encoding", accept)]);
    negotiate(applied(Some(p), None).unwrap(), &mut req)
}

#[test]
fn accept_encoding_negotiation() {
    let p = policy(&[Gzip, Deflate], &[], false);
    assert_eq!(pick(&p, "gzip"), Some(Gzip));
    assert_eq!(pick(&p, "GZIP"), Some(Gzip));
    assert_eq!(pick(&p, "deflate, gzip"), Some(Deflate), "the client's first element");
    assert_eq!(pick(&p, "gzip, deflate"), Some(Gzip));
    assert_eq!(pick(&p, "*"), Some(Deflate), "the last declared first, as HAProxy");
    assert_eq!(pick(&p, "gzip;q=0"), None);
    assert_eq!(pick(&p, "gzip;q=0, deflate"), Some(Deflate));
    assert_eq!(pick(&p, "gzip;q=0.5, deflate"), Some(Deflate));
    assert_eq!(pick(&p, "deflate;q=0.5, gzip;q=0.6"), Some(Gzip));
    assert_eq!(pick(&p, "gzip;level=1;q=0.3, deflate;q=0.2"), Some(Gzip));
    assert_eq!(pick(&p, "gzip ;q=0.1"), Some(Gzip));
    assert_eq!(pick(&p, "identity"), None);
    assert_eq!(pick(&p, "identity;q=0"), None);
    assert_eq!(pick(&p, "br"), None);
    assert_eq!(pick(&p, "x-gzip"), None);
    assert_eq!(pick(&p, "*;q=0"), None);
    assert_eq!(pick(&p, "deflate;q=0, *"), Some(Gzip), "deviation: `*` skips a refused coding");
}

#[test]
fn identity_is_the_fallback_and_raw_deflate_answers_deflate() {
    let p = policy(&[Identity, Deflate], &[], false);
    assert_eq!(pick(&p, "br"), Some(Identity));
    assert_eq!(pick(&p, "deflate"), Some(Deflate));
    let raw = policy(&[RawDeflate], &[], false);
    assert_eq!(pick(&raw, "deflate"), Some(RawDeflate));
    assert_eq!(RawDeflate.token(), "deflate");
}

#[test]
fn offload_removes_accept_encoding_only_when_an_algorithm_is_chosen() {
    let p = policy(&[Gzip], &[], true);
    let a = applied(Some(&p), None).unwrap();
    let mut req = request(Version::Http11, Method::Get, &[("Accept-Encoding", "gzip"), ("accept-encoding", "br")]);
    assert_eq!(negotiate(a, &mut req), Some(Gzip));
    assert!(!req.headers.contains("accept-encoding"));
    let mut other = request(Version::Http11, Method::Get, &[("Accept-Encoding", "br")]);
    assert_eq!(negotiate(a, &mut other), None);
    assert!(other.headers.contains("accept-encoding"));
}

#[test]
fn old_mozilla_user_agents_are_not_compressed() {
    assert!(is_old_mozilla(b"Mozilla/4.0"));
    assert!(is_old_mozilla(b"Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.1)"));
    assert!(!is_old_mozilla(b"Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.1; SV1)"));
    assert!(!is_old_mozilla(b"Mozilla/4.0 (compatible; MSIE 7.0; Windows NT 5.1)"));
    assert!(!is_old_mozilla(b"Mozilla/5.0"));
    let p = policy(&[Gzip], &[], false);
    let mut req = request(Version::Http11, Method::Get, &[("User-Agent", "Mozilla/4.0"), ("Accept-Encoding", "gzip")]);
    assert_eq!(negotiate(applied(Some(&p), None).unwrap(), &mut req), None);
}

#[test]
fn backend_settings_win_offload_from_either() {
    let fe = policy(&[Gzip], &["text/html"], true);
    let be = policy(&[Deflate], &[], false);
    let a = applied(Some(&fe), Some(&be)).unwrap();
    assert_eq!((a.algos, a.offload), (&[Deflate][..], true));
    assert_eq!(a.types, ["text/html".to_string()], "the backend has no types: the frontend's");
    assert!(applied(None, None).is_none());
    assert_eq!(applied(None, Some(&be)).unwrap().algos, [Deflate]);
}

#[test]
fn response_conditions() {
    let p = policy(&[Gzip], &[], false);
    let a = applied(Some(&p), None).unwrap();
    let get = request(Version::Http11, Method::Get, &[]);
    let cl = BodyFraming::ContentLength(10);
    let ok = |res: &Response| decide(a, Some(Gzip), &get, res);
    assert_eq!(ok(&response(200, cl, &[("Content-Type", "text/html")])), Some(Gzip));
    assert_eq!(ok(&response(203, BodyFraming::Chunked, &[])), Some(Gzip));
    assert_eq!(ok(&response(206, cl, &[])), None);
    assert_eq!(ok(&response(404, cl, &[])), None);
    assert_eq!(ok(&response(200, BodyFraming::ContentLength(0), &[])), None);
    assert_eq!(ok(&response(200, BodyFraming::UntilClose, &[])), None);
    assert_eq!(ok(&response(200, cl, &[("Content-Encoding", "br")])), None);
    assert_eq!(ok(&response(200, BodyFraming::Chunked, &[("Transfer-Encoding", "gzip, chunked")])), None);
    assert_eq!(ok(&response(200, BodyFraming::Chunked, &[("Transfer-Encoding", "Chunked")])), Some(Gzip));
    assert_eq!(ok(&response(200, cl, &[("Cache-Control", "public, No-Transform")])), None);
    assert_eq!(ok(&response(200, cl, &[("Content-Type", "multipart/mixed")])), None);
    assert_eq!(ok(&response(200, cl, &[("ETag", "abc")])), None);
    assert_eq!(ok(&response(200, cl, &[("ETag", "\"a\""), ("ETag", "\"b\"")])), None);
    assert_eq!(ok(&response(200, cl, &[("ETag", "W/\"a\"")])), Some(Gzip));
    assert_eq!(decide(a, None, &get, &response(200, cl, &[])), None);
    let head = request(Version::Http11, Method::Head, &[]);
    assert_eq!(decide(a, Some(Gzip), &head, &response(200, cl, &[])), None);
    let old = request(Version::Http10, Method::Get, &[]);
    assert_eq!(decide(a, Some(Gzip), &old, &response(200, cl, &[])), None);
    let mut v10 = response(200, cl, &[]);
    v10.line.version = Version::Http10;
    assert_eq!(ok(&v10), None);
}

#[test]
fn compression_types_are_prefixes() {
    let p = policy(&[Gzip], &["text/html", "application/json"], false);
    let a = applied(Some(&p), None).unwrap();
    let get = request(Version::Http11, Method::Get, &[]);
    let with = |ct: Option<&str>| {
        let h: Vec<(&str, &str)> = ct.map(|c| ("Content-Type", c)).into_iter().collect();
        decide(a, Some(Gzip), &get, &response(200, BodyFraming::Chunked, &h))
    };
    assert_eq!(with(Some("text/html; charset=utf-8")), Some(Gzip));
    assert_eq!(with(Some("Application/JSON")), Some(Gzip));
    assert_eq!(with(Some("text/plain")), None);
    assert_eq!(with(None), None, "a type list needs a Content-Type");
}

#[test]
fn head_rewrite_in_haproxy_order() {
    let mut h = Headers::new();
    h.add("Content-Type", "text/html");
    h.add("ETag", "\"v1\"");
    h.add("Content-Length", "600");
    h.add("X-Rule", "1");
    rewrite_head(&mut h, Gzip);
    let lines: Vec<(String, String)> = h.iter().map(|f| (f.name.clone(), String::from_utf8(f.value.clone()).unwrap())).collect();
    let expect = [
        ("Content-Type", "text/html"),
        ("ETag", "W/\"v1\""),
        ("X-Rule", "1"),
        ("Transfer-Encoding", "chunked"),
        ("Vary", "Accept-Encoding"),
        ("Content-Encoding", "gzip"),
    ];
    assert_eq!(lines, expect.map(|(n, v)| (n.to_string(), v.to_string())));
    let mut chunked = Headers::new();
    chunked.add("Transfer-Encoding", "chunked");
    rewrite_head(&mut chunked, Identity);
    assert_eq!(chunked.count("transfer-encoding"), 1);
    assert!(!chunked.contains("content-encoding"), "identity claims no coding");
}

/// Decodes a chunked body into its payload and trailers.
fn dechunk(mut wire: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let mut payload = Vec::new();
    loop {
        let eol = wire.windows(2).position(|w| w == b"\r\n").expect("a size line");
        let size = usize::from_str_radix(std::str::from_utf8(&wire[..eol]).unwrap(), 16).unwrap();
        wire = &wire[eol + 2..];
        if size == 0 {
            return (payload, wire.to_vec());
        }
        assert!(size > 0);
        payload.extend_from_slice(&wire[..size]);
        assert_eq!(&wire[size..size + 2], b"\r\n");
        wire = &wire[size + 2..];
    }
}

/// Feeds `body` (framed as `framing`) to an encoder `step` bytes at a time, dropping
/// what it used as the stream does, draining `out` as a client would.
fn encode(algo: CompressionAlgo, framing: BodyFraming, body: &[u8], step: usize) -> (Vec<u8>, Vec<u8>) {
    let mut dec = BodyDecoder::new(framing, &Limits::default());
    let mut enc = BodyEncoder::new(algo, 1);
    let (mut buf, mut sent, mut out) = (Vec::new(), Vec::new(), Vec::new());
    let mut input = body.chunks(step);
    loop {
        if out.len() < OUT_HIGH {
            if let Some(c) = input.next() {
                buf.extend_from_slice(c);
            }
        }
        let done = enc.scan(&mut dec, &buf, &mut out).unwrap();
        buf.drain(..enc.take_consumed());
        sent.append(&mut out);
        if done {
            assert!(buf.is_empty());
            return dechunk(&sent);
        }
    }
}

fn inflate(algo: CompressionAlgo, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    match algo {
        Gzip => flate2::read::GzDecoder::new(data).read_to_end(&mut out),
        Deflate => flate2::read::ZlibDecoder::new(data).read_to_end(&mut out),
        RawDeflate => flate2::read::DeflateDecoder::new(data).read_to_end(&mut out),
        Identity => {
            out.extend_from_slice(data);
            Ok(data.len())
        }
    }
    .unwrap();
    out
}

#[test]
fn bodies_round_trip_for_every_algorithm_and_framing() {
    let text: Vec<u8> = (0..40_000u32).flat_map(|i| format!("line {i} of the body\n").into_bytes()).collect();
    for algo in [Gzip, Deflate, RawDeflate, Identity] {
        let (z, trailers) = encode(algo, BodyFraming::ContentLength(text.len() as u64), &text, 7000);
        assert_eq!(inflate(algo, &z), text, "{algo:?}");
        assert_eq!(trailers, b"\r\n");
        if algo != Identity {
            assert!(z.len() < text.len() / 4, "{algo:?} compresses");
        }
        let mut chunked = Vec::new();
        for part in text.chunks(3000) {
            chunked.extend_from_slice(format!("{:x};ext=1\r\n", part.len()).as_bytes());
            chunked.extend_from_slice(part);
            chunked.extend_from_slice(b"\r\n");
        }
        chunked.extend_from_slice(b"0\r\nX-Sum: 1\r\n\r\n");
        let (z, trailers) = encode(algo, BodyFraming::Chunked, &chunked, 1000);
        assert_eq!(inflate(algo, &z), text, "{algo:?} chunked");
        assert_eq!(trailers, b"X-Sum: 1\r\n\r\n", "trailers follow the last chunk");
    }
}

#[test]
fn an_empty_chunked_body_is_an_empty_stream() {
    let (z, _) = encode(Gzip, BodyFraming::Chunked, b"0\r\n\r\n", 10);
    assert!(inflate(Gzip, &z).is_empty());
}

#[test]
fn each_pass_is_flushed_and_output_is_bounded() {
    let mut dec = BodyDecoder::new(BodyFraming::ContentLength(1_000_000), &Limits::default());
    let mut enc = BodyEncoder::new(Gzip, 1);
    let mut out = Vec::new();
    assert!(!enc.scan(&mut dec, b"hello", &mut out).unwrap());
    assert_eq!(enc.take_consumed(), 5);
    let (z, _) = dechunk(&[&out[..], b"0\r\n\r\n"].concat());
    let mut partial = Vec::new();
    let _ = flate2::read::GzDecoder::new(&z[..]).read_to_end(&mut partial);
    assert_eq!(partial, b"hello", "a sync flush makes the bytes so far decodable");
    // Incompressible input: the encoder stops taking input once OUT_HIGH bytes wait.
    let mut noise = Vec::new();
    let mut x = 1u32;
    for _ in 0..64 * 1024 {
        x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        noise.push((x >> 24) as u8);
    }
    let mut out = Vec::new();
    for part in noise.chunks(16 * 1024) {
        enc.scan(&mut dec, part, &mut out).unwrap();
        enc.take_consumed();
    }
    assert!(out.len() < OUT_HIGH + 20 * 1024, "{}", out.len());
    let before = out.len();
    enc.scan(&mut dec, b"more", &mut out).unwrap();
    assert_eq!((out.len(), enc.take_consumed()), (before, 0), "nothing taken while the client lags");
}
