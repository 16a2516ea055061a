//! The HTTP/2 session (`moonproxy::http::h2`): frames, HPACK and the translation to
//! HTTP/1.1 from arbitrary client bytes. Properties: no panic; the frames sent and
//! the requests handed to streams are the same whether the input arrives whole or
//! split in two at the offset the first byte picks (the session resumes anywhere);
//! a header block that decodes re-encodes to a block that decodes to the same fields.
#![no_main]

use libfuzzer_sys::fuzz_target;
use moonproxy::http::h2::hpack::{Decoder, Encoder};
use moonproxy::http::h2::session::{Config, Note, Session};

/// Everything observable: the output frames, then each opened stream's request
/// (read once all the input is in, so that reading cannot move a WINDOW_UPDATE).
fn run(pieces: &[&[u8]]) -> (Vec<u8>, Vec<(u32, Vec<u8>)>) {
    let mut s = Session::new(Config::default());
    let mut opened = Vec::new();
    for p in pieces {
        s.feed(p);
        opened.extend(s.take_notes().into_iter().filter_map(|n| match n {
            Note::Opened(id) => Some(id),
            Note::Ready(_) => None,
        }));
    }
    let mut requests = Vec::new();
    for id in opened {
        let mut buf = [0u8; 4096];
        let mut got = Vec::new();
        while let Ok(k) = s.read(id, &mut buf) {
            if k == 0 {
                break;
            }
            got.extend_from_slice(&buf[..k]);
        }
        requests.push((id, got));
    }
    (std::mem::take(s.output()), requests)
}

fuzz_target!(|data: &[u8]| {
    let Some((&first, rest)) = data.split_first() else { return };
    let mut input = moonproxy::http::h2::PREFACE.to_vec();
    input.extend_from_slice(rest);
    let whole = run(&[&input]);
    let at = (first as usize * input.len() / 256).min(input.len());
    let (a, b) = input.split_at(at);
    assert_eq!(whole, run(&[a, b]), "split at {at}");
    // HPACK on its own: decode, re-encode, decode.
    if let Ok(fields) = Decoder::new(4096).decode(rest, 1 << 16) {
        let mut e = Encoder::new();
        let mut block = Vec::new();
        for f in &fields {
            e.field(&mut block, &f.name, &f.value);
        }
        let again = Decoder::new(4096).decode(&block, 1 << 20).expect("our own block decodes");
        assert_eq!(fields, again);
    }
});
