//! Table tests for the body decoder: every input is also fed one byte at a time and
//! split in two at every boundary, and must decode to the same payload and end.

use super::*;
use crate::http::h1::ErrorKind::*;

/// Decodes `input` fed in pieces of the given sizes (the last repeats); returns the
/// payload, the bytes the body took, and the decoder (for trailers).
fn decode_in_pieces(
    framing: BodyFraming,
    input: &[u8],
    cuts: &[usize],
) -> Result<(Vec<u8>, usize, BodyDecoder), ParseError> {
    let mut dec = BodyDecoder::new(framing, &Limits::default());
    let mut payload = Vec::new();
    let (mut start, mut avail, mut cut) = (0, 0, 0);
    loop {
        let d = dec.decode(&input[start..avail])?;
        assert!(d.data.start <= d.data.end && d.data.end <= d.consumed);
        payload.extend_from_slice(&input[start..avail][d.data]);
        start += d.consumed;
        if d.done {
            assert!(dec.is_done());
            return Ok((payload, start, dec));
        }
        if d.consumed == 0 {
            if avail == input.len() {
                dec.finish()?;
                return Ok((payload, start, dec));
            }
            avail = (avail + cuts[cut.min(cuts.len() - 1)]).min(input.len());
            cut += 1;
        }
    }
}

fn decode_all_ways(framing: BodyFraming, input: &[u8]) -> Result<(Vec<u8>, usize), ParseError> {
    let whole = decode_in_pieces(framing, input, &[input.len().max(1)]).map(|(p, n, _)| (p, n));
    let bytewise = decode_in_pieces(framing, input, &[1]).map(|(p, n, _)| (p, n));
    assert_eq!(bytewise, whole, "byte by byte differs");
    for k in 0..input.len() {
        let split = decode_in_pieces(framing, input, &[k, input.len()]).map(|(p, n, _)| (p, n));
        assert_eq!(split, whole, "split at {k} differs");
    }
    whole
}

/// `name: framing, input => payload, consumed;`
macro_rules! body_accepts {
    ($($name:ident: $framing:expr, $input:expr => $payload:expr, $consumed:expr;)*) => {$(
        #[test]
        fn $name() {
            let (payload, consumed) = decode_all_ways($framing, $input).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(String::from_utf8_lossy(&payload), String::from_utf8_lossy($payload));
            assert_eq!(consumed, $consumed);
        }
    )*};
}

/// `name: input => Kind @ offset;` (chunked)
macro_rules! chunked_rejects {
    ($($name:ident: $input:expr => $kind:ident @ $off:expr;)*) => {$(
        #[test]
        fn $name() {
            let e = decode_all_ways(BodyFraming::Chunked, $input).unwrap_err();
            assert_eq!((e.kind, e.offset), ($kind, $off), "{e}");
        }
    )*};
}

use BodyFraming::{Chunked, ContentLength, UntilClose};

body_accepts! {
    length: ContentLength(5), b"hello" => b"hello", 5;
    length_stops_at_end: ContentLength(3), b"abcGET /" => b"abc", 3;
    length_zero: ContentLength(0), b"GET /" => b"", 0;
    no_body: BodyFraming::None, b"xyz" => b"", 0;
    until_close: UntilClose, b"all of it" => b"all of it", 9;
    chunked_simple: Chunked, b"5\r\nhello\r\n0\r\n\r\n" => b"hello", 15;
    chunked_two_chunks_hex: Chunked, b"3\r\nabc\r\nA\r\n0123456789\r\n0\r\n\r\nnext" => b"abc0123456789", 28;
    chunked_upper_lower_hex: Chunked, b"a\r\n0123456789\r\nA\r\n0123456789\r\n0\r\n\r\n" => b"01234567890123456789", 35;
    chunked_leading_zeros: Chunked, b"0005\r\nhello\r\n0000\r\n\r\n" => b"hello", 21;
    chunked_extensions: Chunked, b"5;name=value;x=\"q;\\\"\"\r\nhello\r\n0;last\r\n\r\n" => b"hello", 40;
    chunked_bws_before_ext: Chunked, b"5 \t;a\r\nhello\r\n0\r\n\r\n" => b"hello", 19;
    chunked_trailers: Chunked, b"2\r\nhi\r\n0\r\nX-Sum: 1\r\nX-B: 2\r\n\r\n" => b"hi", 30;
    chunked_sixteen_digits: Chunked, b"0000000000000002\r\nhi\r\n0\r\n\r\n" => b"hi", 27;
}

chunked_rejects! {
    size_missing: b"\r\nhello\r\n" => BadChunkSize @ 0;
    size_junk: b"5x\r\nhello\r\n" => BadChunkSize @ 1;
    size_sign: b"+5\r\nhello\r\n" => BadChunkSize @ 0;
    size_0x: b"0x5\r\nhello\r\n" => BadChunkSize @ 1;
    size_space_then_crlf: b"5 \r\nhello\r\n" => BadChunkSize @ 2;
    size_space_inside: b"1 0\r\n" => BadChunkSize @ 2;
    size_bare_lf: b"5\nhello\r\n" => BadChunkSize @ 1;
    size_bare_cr: b"5\rhello\r\n" => BareCr @ 1;
    size_seventeen_digits: b"00000000000000001\r\nh\r\n" => ChunkSizeOverflow @ 16;
    size_overflow: b"10000000000000000\r\n" => ChunkSizeOverflow @ 16;
    ext_control_char: b"5;a\0\r\nhello\r\n" => BadChunkSize @ 3;
    ext_bare_lf: b"5;a\nhello\r\n" => BadChunkSize @ 3;
    data_too_long: b"3\r\nhello\r\n0\r\n\r\n" => BadChunkEnd @ 6;
    data_missing_crlf: b"5\r\nhello0\r\n\r\n" => BadChunkEnd @ 8;
    data_lf_only: b"5\r\nhello\n0\r\n\r\n" => BadChunkEnd @ 8;
    data_cr_only: b"5\r\nhello\r0\r\n\r\n" => BadChunkEnd @ 9;
    trailer_bare_lf: b"0\r\nX: a\n\r\n" => BareLf @ 7;
    trailer_bare_cr: b"0\r\nX: a\rY: b\r\n\r\n" => BareCr @ 7;
    trailer_obs_fold: b"0\r\nX: a\r\n b\r\n\r\n" => ObsFold @ 9;
    trailer_nul: b"0\r\nX: a\0\r\n\r\n" => ControlChar @ 7;
    trailer_space_before_colon: b"0\r\nX : a\r\n\r\n" => SpaceBeforeColon @ 4;
    final_bare_lf: b"0\r\n\n" => BareLf @ 3;
    truncated_in_data: b"5\r\nhel" => Truncated @ 6;
    truncated_in_trailers: b"0\r\nX: a\r\n" => Truncated @ 9;
}

#[test]
fn length_truncated_by_close() {
    let e = decode_all_ways(ContentLength(10), b"short").unwrap_err();
    assert_eq!((e.kind, e.offset), (Truncated, 5));
}

#[test]
fn extension_length_bound() {
    let mut input = b"1;".to_vec();
    input.extend(std::iter::repeat_n(b'a', MAX_CHUNK_EXT));
    input.extend_from_slice(b"\r\nx\r\n0\r\n\r\n");
    assert_eq!(decode_in_pieces(Chunked, &input, &[7]).unwrap().0, b"x");
    input.insert(2, b'a');
    let e = decode_in_pieces(Chunked, &input, &[7]).unwrap_err();
    assert_eq!(
        (e.kind, e.offset),
        (ChunkExtTooLong, 2 + MAX_CHUNK_EXT as u64)
    );
}

#[test]
fn trailer_size_bound() {
    let limits = Limits {
        max_trailers: 10,
        ..Limits::default()
    };
    let mut dec = BodyDecoder::new(Chunked, &limits);
    // "X: 123\r\n" + "\r\n" is exactly 10 trailer bytes.
    assert!(dec.decode(b"0\r\nX: 123\r\n\r\n").unwrap().done);
    let mut dec = BodyDecoder::new(Chunked, &limits);
    let e = dec.decode(b"0\r\nX: 1234\r\n\r\n").unwrap_err();
    assert_eq!((e.kind, e.offset), (TrailersTooLarge, 13));
}

#[test]
fn trailers_are_kept() {
    let (_, _, dec) = decode_in_pieces(Chunked, b"0\r\nX-Sum: 1\r\nx-sum:2\r\n\r\n", &[3]).unwrap();
    assert_eq!(
        dec.trailers().get_all("X-SUM").collect::<Vec<_>>(),
        [b"1", b"2"]
    );
}

#[test]
fn until_close_needs_finish() {
    let mut dec = BodyDecoder::new(UntilClose, &Limits::default());
    let d = dec.decode(b"abc").unwrap();
    assert_eq!((d.consumed, d.data, d.done), (3, 0..3, false));
    assert!(!dec.is_done());
    dec.finish().unwrap();
    assert!(dec.is_done());
    assert_eq!(dec.position(), 3);
}

#[test]
fn largest_chunk_size_is_accepted() {
    let mut dec = BodyDecoder::new(Chunked, &Limits::default());
    let d = dec.decode(b"FFFFFFFFFFFFFFFF\r\nabc").unwrap();
    assert_eq!(d.data, 18..21);
}
