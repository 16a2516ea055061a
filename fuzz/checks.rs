//! The properties each fuzz target checks, shared by the cargo-fuzz targets
//! (`fuzz/fuzz_targets/*.rs`) and the std-only mutation runner in
//! `tests/http_parser.rs`, which includes this file by path.
//!
//! Beyond "never panics": feeding the same bytes in two pieces gives the same answer as
//! feeding them whole, a complete head never claims more bytes than it was given, and
//! the payload a body decoder reports is the same however the input is cut.

// Each target uses only its own entry point.
#![allow(dead_code)]

use moonproxy::http::h1::{BodyDecoder, Limits, ParseError, RequestParser, ResponseParser, Status};
use moonproxy::http::{BodyFraming, Method, Request, Response};

/// Small limits, so the size rules are reached by short inputs too.
fn limits(seed: u8) -> Limits {
    if seed & 1 == 0 {
        Limits::default()
    } else {
        Limits {
            max_head: 64 + usize::from(seed),
            max_headers: 4,
            max_trailers: 32,
        }
    }
}

/// For re-parsing what `write_head` produced: `name: value` may be longer than the
/// `name:value` it came from.
const UNLIMITED: Limits = Limits {
    max_head: usize::MAX,
    max_headers: usize::MAX,
    max_trailers: usize::MAX,
};

fn outcome<T>(r: Result<Status<T>, ParseError>) -> Option<Result<(T, usize), ParseError>> {
    match r {
        Ok(Status::Partial) => None,
        Ok(Status::Complete(m, n)) => Some(Ok((m, n))),
        Err(e) => Some(Err(e)),
    }
}

/// Runs one head parser whole and in two pieces and compares.
fn head<T: PartialEq + std::fmt::Debug, P>(
    data: &[u8],
    new: impl Fn() -> P,
    reparse: impl Fn() -> P,
    write: impl Fn(&T, &mut Vec<u8>),
    parse: impl Fn(&mut P, &[u8]) -> Result<Status<T>, ParseError>,
) {
    let Some((&cut, data)) = data.split_first() else {
        return;
    };
    let whole = outcome(parse(&mut new(), data));
    if let Some(Ok((msg, n))) = &whole {
        assert!(*n <= data.len(), "consumed more than given");
        // What we would forward parses back to the same message.
        let mut out = Vec::new();
        write(msg, &mut out);
        let again = outcome(parse(&mut reparse(), &out));
        assert_eq!(
            again.as_ref().map(|r| r.as_ref().map(|(m, _)| m)),
            Some(Ok(msg)),
            "write_head does not round-trip"
        );
    }
    let k = usize::from(cut).min(data.len());
    let mut p = new();
    let split = outcome(parse(&mut p, &data[..k])).or_else(|| outcome(parse(&mut p, data)));
    assert_eq!(split, whole, "split at {k} differs");
}

/// Fuzz target `request_head`: the first byte picks the limits and the split point.
pub fn request_head(data: &[u8]) {
    let Some((&seed, rest)) = data.split_first() else {
        return;
    };
    head(
        rest,
        || RequestParser::new(limits(seed)),
        || RequestParser::new(UNLIMITED),
        |m: &Request, out: &mut Vec<u8>| m.write_head(out),
        |p, b| p.parse(b),
    );
}

/// Fuzz target `response_head`: the first byte also picks the request method.
pub fn response_head(data: &[u8]) {
    let Some((&seed, rest)) = data.split_first() else {
        return;
    };
    let method = match seed % 4 {
        0 => Method::Get,
        1 => Method::Head,
        2 => Method::Connect,
        _ => Method::Post,
    };
    head(
        rest,
        || ResponseParser::new(limits(seed), method.clone()),
        || ResponseParser::new(UNLIMITED, method.clone()),
        |m: &Response, out: &mut Vec<u8>| m.write_head(out),
        |p, b| p.parse(b),
    );
}

/// Decodes `input` fed in pieces of `piece` bytes: (payload, consumed, error); consumed
/// is 0 after an error.
fn decode(
    framing: BodyFraming,
    lim: &Limits,
    input: &[u8],
    piece: usize,
) -> (Vec<u8>, usize, Option<ParseError>) {
    let mut dec = BodyDecoder::new(framing, lim);
    let (mut payload, mut start, mut avail) = (Vec::new(), 0, 0);
    loop {
        let d = match dec.decode(&input[start..avail]) {
            Ok(d) => d,
            // How much was consumed before the error depends on the cuts; the error
            // (kind and absolute offset) and the payload before it do not.
            Err(e) => return (payload, 0, Some(e)),
        };
        assert!(d.data.end <= d.consumed && d.consumed <= avail - start);
        payload.extend_from_slice(&input[start..avail][d.data]);
        start += d.consumed;
        if d.done {
            return (payload, start, None);
        }
        if d.consumed == 0 {
            if avail == input.len() {
                return (payload, start, dec.finish().err());
            }
            avail = (avail + piece).min(input.len());
        }
    }
}

/// Fuzz target `body`: the first byte picks the framing and the piece size.
pub fn body(data: &[u8]) {
    let Some((&seed, rest)) = data.split_first() else {
        return;
    };
    let framing = match seed % 4 {
        0 | 1 => BodyFraming::Chunked,
        2 => BodyFraming::ContentLength(u64::from(seed)),
        _ => BodyFraming::UntilClose,
    };
    let lim = limits(seed);
    let whole = decode(framing, &lim, rest, rest.len().max(1));
    let pieces = decode(framing, &lim, rest, usize::from(seed >> 2) + 1);
    assert_eq!(pieces, whole, "pieces of {} differ", (seed >> 2) + 1);
    let bytes = decode(framing, &lim, rest, 1);
    assert_eq!(bytes, whole, "byte by byte differs");
}
