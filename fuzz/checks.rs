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
use moonproxy::http::{BodyFraming, Headers, Method, Request, Response};

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
    // As the stream receives it: the buffer grows by a few bytes per read and the
    // parser sees all of it each time.
    let piece = usize::from(cut % 13) + 1;
    assert_eq!(grown(data, piece, new(), &parse), whole, "pieces of {piece} differ");
}

/// Feeds `data` to `p` through a buffer that grows by `piece` bytes per call, until an
/// answer; the whole input last.
fn grown<T, P>(
    data: &[u8],
    piece: usize,
    mut p: P,
    parse: impl Fn(&mut P, &[u8]) -> Result<Status<T>, ParseError>,
) -> Option<Result<(T, usize), ParseError>> {
    let mut end = 0;
    loop {
        end = (end + piece).min(data.len());
        if let Some(answer) = outcome(parse(&mut p, &data[..end])) {
            return Some(answer);
        }
        if end == data.len() {
            return None;
        }
    }
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

/// What decoding a body gave: the payload, the bytes consumed (0 after an error: how
/// much was consumed before the error depends on the cuts, the error does not), the
/// error, and the trailers of a complete chunked body.
type BodyOutcome = (Vec<u8>, usize, Option<ParseError>, Option<Headers>);

/// Decodes `input` as the stream would, the bytes arriving up to each `cuts` offset in
/// turn (then all of it); a call that consumes nothing asks for the next piece, and
/// the end of the input is the peer closing.
fn decode(
    framing: BodyFraming,
    lim: &Limits,
    input: &[u8],
    cuts: impl IntoIterator<Item = usize>,
) -> BodyOutcome {
    let mut cuts = cuts.into_iter();
    let mut dec = BodyDecoder::new(framing, lim);
    let (mut payload, mut start, mut avail) = (Vec::new(), 0, 0);
    loop {
        let d = match dec.decode(&input[start..avail]) {
            Ok(d) => d,
            Err(e) => return (payload, 0, Some(e), None),
        };
        assert!(d.data.end <= d.consumed && d.consumed <= avail - start);
        assert!(d.data.start <= d.data.end);
        payload.extend_from_slice(&input[start..avail][d.data]);
        start += d.consumed;
        if d.done {
            assert!(dec.is_done());
            return (payload, start, None, Some(dec.trailers().clone()));
        }
        if d.consumed == 0 {
            if avail == input.len() {
                let e = dec.finish().err();
                let trailers = e.is_none().then(|| dec.trailers().clone());
                return (payload, start, e, trailers);
            }
            avail = cuts
                .by_ref()
                .find(|&c| c > avail)
                .unwrap_or(input.len())
                .min(input.len());
        }
    }
}

/// Offsets every `piece` bytes, up to `len`.
fn every(piece: usize, len: usize) -> impl Iterator<Item = usize> {
    (1..=len.div_ceil(piece)).map(move |i| (i * piece).min(len))
}

/// Fuzz target `body`: the first byte picks the framing and the piece size. The body is
/// decoded whole, in pieces, byte by byte and, when short, split in two at every offset:
/// the answers must be equal.
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
    let whole = decode(framing, &lim, rest, []);
    let piece = usize::from(seed >> 2) + 1;
    let pieces = decode(framing, &lim, rest, every(piece, rest.len()));
    assert_eq!(pieces, whole, "pieces of {piece} differ");
    let bytes = decode(framing, &lim, rest, every(1, rest.len()));
    assert_eq!(bytes, whole, "byte by byte differs");
    if rest.len() <= 512 {
        for k in 1..rest.len() {
            assert_eq!(decode(framing, &lim, rest, [k]), whole, "split at {k} differs");
        }
    }
}

/// One event of a connection's message stream, for comparing two feeds.
#[derive(Debug, PartialEq)]
enum Event<M> {
    Head(M, usize),
    Body(BodyOutcome),
    HeadError(ParseError),
}

/// Parses a stream of pipelined messages (heads and bodies, as `src/stream/http.rs`
/// drives the parsers) from `data` arriving up to each offset of `cuts`. `head` parses
/// the `i`-th head from its first byte and returns it with its framing.
fn messages<M: Clone>(
    data: &[u8],
    lim: &Limits,
    cuts: &[usize],
    mut new_parser: impl FnMut(usize) -> Box<dyn FnMut(&[u8]) -> Result<Status<M>, ParseError>>,
    framing_of: impl Fn(&M) -> BodyFraming,
) -> Vec<Event<M>> {
    let mut events = Vec::new();
    let mut start = 0;
    for i in 0.. {
        if start == data.len() || i == 8 {
            break;
        }
        // The head: the buffer from `start` grows to each cut past it.
        let mut parse = new_parser(i);
        let mut ends = cuts.iter().copied().filter(|&c| c > start).chain([data.len()]);
        let (msg, n) = loop {
            let end = ends.next().expect("the last end is the whole input");
            match parse(&data[start..end]) {
                Ok(Status::Partial) if end < data.len() => continue,
                Ok(Status::Partial) => return events,
                Ok(Status::Complete(m, n)) => break (m, n),
                Err(e) => {
                    events.push(Event::HeadError(e));
                    return events;
                }
            }
        };
        events.push(Event::Head(msg.clone(), n));
        start += n;
        // The body, from the bytes after the head, with the same cuts.
        let rest = &data[start..];
        let body_cuts = cuts.iter().filter(|&&c| c > start).map(|&c| c - start).collect::<Vec<_>>();
        let outcome = decode(framing_of(&msg), lim, rest, body_cuts);
        let (consumed, failed) = (outcome.1, outcome.2.is_some());
        events.push(Event::Body(outcome));
        if failed || framing_of(&msg) == BodyFraming::UntilClose {
            break;
        }
        start += consumed;
    }
    events
}

/// Fuzz target `exchange`: a connection's worth of pipelined requests or responses,
/// heads and bodies, parsed whole and in pieces (the first byte picks requests or
/// responses, the limits and the piece size). Every message parsed must be the same.
pub fn exchange(data: &[u8]) {
    let Some((&seed, rest)) = data.split_first() else {
        return;
    };
    let lim = limits(seed);
    let piece = usize::from(seed >> 3) + 1;
    let cuts: Vec<usize> = every(piece, rest.len()).collect();
    if seed & 2 == 0 {
        let run = |cuts: &[usize]| {
            messages(
                rest,
                &lim,
                cuts,
                |_| {
                    let mut p = RequestParser::new(lim);
                    Box::new(move |b: &[u8]| p.parse(b))
                },
                |r: &Request| r.framing,
            )
        };
        assert_eq!(run(&cuts), run(&[]), "requests in pieces of {piece} differ");
    } else {
        // The responses answer GET, HEAD, POST and CONNECT in turn.
        const METHODS: [Method; 4] = [Method::Get, Method::Head, Method::Post, Method::Connect];
        let run = |cuts: &[usize]| {
            messages(
                rest,
                &lim,
                cuts,
                |i| {
                    let mut p = ResponseParser::new(lim, METHODS[i % 4].clone());
                    Box::new(move |b: &[u8]| p.parse(b))
                },
                |r: &Response| r.framing,
            )
        };
        assert_eq!(run(&cuts), run(&[]), "responses in pieces of {piece} differ");
    }
}
