//! `tune.http.logurilen` (default 1024): HAProxy keeps at most this many bytes of the
//! request line for its logs, so a longer line is logged cut (`%r`, and the `%HM`,
//! `%HU`, `%HP`, `%HQ`, `%HV` taken from it). The cut happens when the line is
//! logged, on a copy of the record.
//!
//! Where the cut leaves no version, HAProxy prints `HTTP/0.9` for `%HV`; moonproxy
//! prints nothing. A cut inside the method (a length under 4 or so) logs `<BADREQ>`.

use crate::log::{HttpLog, StreamLog};
use std::borrow::Cow;

/// HAProxy's default `tune.http.logurilen`.
pub const DEFAULT_LOG_URI_LEN: usize = 1024;

/// `rec` with its request line cut to `max` bytes, borrowed when it fits.
pub fn cut_request_line(rec: &StreamLog, max: usize) -> Cow<'_, StreamLog> {
    let Some(h) = rec.http.as_deref() else { return Cow::Borrowed(rec) };
    let (Some(m), Some(u), Some(v)) = (&h.method, &h.uri, &h.version) else { return Cow::Borrowed(rec) };
    if m.len() + u.len() + v.len() + 2 <= max {
        return Cow::Borrowed(rec);
    }
    let mut rec = rec.clone();
    if let Some(h) = rec.http.as_deref_mut() {
        cut(h, max);
    }
    Cow::Owned(rec)
}

fn cut(h: &mut HttpLog, max: usize) {
    let line = format!("{} {} {}", h.method.as_deref().unwrap_or(""), h.uri.as_deref().unwrap_or(""), h.version.as_deref().unwrap_or(""));
    let mut end = max.min(line.len());
    while !line.is_char_boundary(end) {
        end -= 1;
    }
    let mut parts = line[..end].splitn(3, ' ');
    let method = parts.next().unwrap_or("");
    h.method = Some(method.to_string());
    h.uri = parts.next().map(str::to_string);
    // An empty version: `%r` ends with the URI, as HAProxy's cut line does.
    h.version = Some(parts.next().unwrap_or("").to_string());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log(m: &str, u: &str, v: &str) -> HttpLog {
        HttpLog { method: Some(m.into()), uri: Some(u.into()), version: Some(v.into()), ..HttpLog::default() }
    }

    #[test]
    fn the_line_is_cut_as_haproxy_stores_it() {
        let mut h = log("GET", "/abcdefghijklmnopqrstuvwxyz0123456789?q=1", "HTTP/1.1");
        cut(&mut h, 20);
        assert_eq!((h.method.as_deref(), h.uri.as_deref(), h.version.as_deref()), (Some("GET"), Some("/abcdefghijklmno"), Some("")));
        let mut h = log("GET", "/a", "HTTP/1.1");
        cut(&mut h, 10);
        assert_eq!((h.uri.as_deref(), h.version.as_deref()), (Some("/a"), Some("HTT")));
    }
}
