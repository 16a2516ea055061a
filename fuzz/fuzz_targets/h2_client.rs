//! The HTTP/2 session in its client role (HTTP/2 to servers, `moonproxy::stream::h2srv`):
//! frames, HPACK and the translation of responses to HTTP/1.1 from arbitrary server
//! bytes, after two requests were written. Properties: no panic; the frames sent and
//! the responses handed to the streams are the same whether the input arrives whole or
//! split in two at the offset the first byte picks.
#![no_main]

use libfuzzer_sys::fuzz_target;
use moonproxy::http::h2::session::{Config, Session};

/// Everything observable: the output frames, then each stream's response (read once
/// all the input is in).
fn run(pieces: &[&[u8]]) -> (Vec<u8>, Vec<Vec<u8>>) {
    let mut s = Session::client(Config::default(), false);
    let mut ids = Vec::new();
    for req in [&b"GET / HTTP/1.1\r\nHost: h\r\n\r\n"[..], b"POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc"] {
        let Some(id) = s.open() else { break };
        let _ = s.write(id, req);
        ids.push(id);
    }
    for p in pieces {
        s.feed(p);
        s.take_notes();
    }
    let mut responses = Vec::new();
    for id in ids {
        let mut buf = [0u8; 4096];
        let mut got = Vec::new();
        while let Ok(k) = s.read(id, &mut buf) {
            if k == 0 {
                break;
            }
            got.extend_from_slice(&buf[..k]);
        }
        responses.push(got);
    }
    (std::mem::take(s.output()), responses)
}

fuzz_target!(|data: &[u8]| {
    let Some((&first, input)) = data.split_first() else { return };
    let whole = run(&[input]);
    let at = (first as usize * input.len() / 256).min(input.len());
    let (a, b) = input.split_at(at);
    assert_eq!(whole, run(&[a, b]), "split at {at}");
});
