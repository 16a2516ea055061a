//! `h1-case-adjust` / `h1-case-adjust-file` with `option h1-case-adjust-bogus-client`
//! (responses to clients) and `option h1-case-adjust-bogus-server` (requests to
//! servers): header names written in a given case, for HTTP/1 peers that wrongly
//! match names case-sensitively.
//!
//! HAProxy writes every header name in lower case and the map gives some of them
//! their case back. moonproxy forwards names as they came, so the map only changes
//! the names it lists (a listed name is written exactly as the map says whatever case
//! it arrived in); the others keep their case.
//!
//! The map is process-wide, as the `global` keywords that fill it, and set once at
//! start-up ([`set_map`]).

use super::{Env, Stream};
use std::sync::OnceLock;

/// Lower-case name → name as written.
static MAP: OnceLock<Vec<(String, String)>> = OnceLock::new();

/// Installs the map (start-up; a second call is ignored).
pub fn set_map(map: &[(String, String)]) {
    let _ = MAP.set(map.iter().map(|(from, to)| (from.to_ascii_lowercase(), to.clone())).collect());
}

fn map() -> &'static [(String, String)] {
    MAP.get().map_or(&[], Vec::as_slice)
}

impl Stream {
    /// The request head waiting for the server, if the backend has
    /// `option h1-case-adjust-bogus-server`.
    pub(super) fn http_case_adjust_request(&mut self, env: &Env<'_, '_>, be: usize) {
        if !env.proxies[be].options.h1_case_adjust_bogus_server || map().is_empty() {
            return;
        }
        if let Some(h) = self.http.as_mut() {
            adjust_head(&mut h.req.out, map());
        }
    }

    /// The response head just written for the client, if the frontend has
    /// `option h1-case-adjust-bogus-client`.
    pub(super) fn http_case_adjust_response(&mut self, env: &Env<'_, '_>) {
        if !env.proxies[self.frontend].options.h1_case_adjust_bogus_client || map().is_empty() {
            return;
        }
        if let Some(h) = self.http.as_mut() {
            adjust_head(&mut h.res.out, map());
        }
    }
}

/// Rewrites, in the head at the start of `out` (start line, fields, empty line), the
/// names `map` lists. Same lengths, so the bytes are changed in place.
pub fn adjust_head(out: &mut [u8], map: &[(String, String)]) {
    let Some(end) = out.windows(4).position(|w| w == b"\r\n\r\n") else { return };
    let Some(first) = out.windows(2).position(|w| w == b"\r\n") else { return };
    let mut at = first + 2;
    while at < end + 2 {
        let line_end = out[at..].windows(2).position(|w| w == b"\r\n").map_or(end + 2, |i| at + i);
        if let Some(colon) = out[at..line_end].iter().position(|&b| b == b':') {
            let name = &out[at..at + colon];
            if let Some((_, to)) = map.iter().find(|(from, _)| from.as_bytes().eq_ignore_ascii_case(name)) {
                out[at..at + colon].copy_from_slice(to.as_bytes());
            }
        }
        at = line_end + 2;
    }
}

#[cfg(test)]
mod tests {
    use super::adjust_head;

    #[test]
    fn listed_names_take_the_mapped_case_others_are_kept() {
        let map = vec![("x-foo".to_string(), "X-FOO".to_string()), ("content-type".to_string(), "Content-Type".to_string())];
        let mut head = b"HTTP/1.1 200 OK\r\nx-Foo: a\r\ncontent-type: t\r\nOther: x-foo\r\n\r\nx-foo: body".to_vec();
        adjust_head(&mut head, &map);
        assert_eq!(head, b"HTTP/1.1 200 OK\r\nX-FOO: a\r\nContent-Type: t\r\nOther: x-foo\r\n\r\nx-foo: body");
        let mut partial = b"GET / HTTP/1.1\r\nx-foo: a\r\n".to_vec();
        adjust_head(&mut partial, &map);
        assert_eq!(partial, b"GET / HTTP/1.1\r\nx-foo: a\r\n");
    }
}
