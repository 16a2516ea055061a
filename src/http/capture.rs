//! What a frontend records about each HTTP transaction for its log: captured header
//! values (`capture request|response header`), the captured cookie (`capture cookie`)
//! and the unique id (`unique-id-format`, `unique-id-header`).
//!
//! The stream calls these when a head is parsed and stores the results in its
//! [`crate::http::txn::Txn`] (`req_captures`, `res_captures`, `unique_id`), from which the
//! log record ([`crate::log::HttpLog`]) is filled.
//!
//! ```
//! use moonproxy::config::model::{CaptureHeader, Location};
//! use moonproxy::http::{capture, Headers};
//! let loc = Location { file: "x.cfg".into(), line: 1 };
//! let decls = vec![CaptureHeader { name: "Host".into(), len: 5, location: loc }];
//! let mut h = Headers::new();
//! h.add("host", "example.org");
//! let mut slots = Vec::new();
//! capture::capture_headers(&decls, &h, &mut slots);
//! assert_eq!(slots, vec![Some(b"examp".to_vec())]);
//! ```

use super::Headers;
use crate::config::model::{CaptureCookie, CaptureHeader, Proxy};
use crate::log::{LogFormat, StreamLog};
use crate::sample::SampleCtx;

/// Fills `slots` (one per declaration, in order) from `headers`: the value of the last
/// field line with the declared name, cut to the declared length, `None` when the
/// header is absent. As HAProxy, the whole line is taken (`a, b` stays one value).
/// A `declare capture` slot (no name) keeps what rules or converters stored there (a
/// `capture-res()` in a request rule, before the response arrives).
pub fn capture_headers(
    decls: &[CaptureHeader],
    headers: &Headers,
    slots: &mut Vec<Option<Vec<u8>>>,
) {
    slots.truncate(decls.len());
    slots.resize(decls.len(), None);
    for (d, slot) in decls.iter().zip(slots.iter_mut()) {
        if !d.name.is_empty() {
            *slot = headers.get_all(&d.name).last().map(|v| v[..v.len().min(d.len)].to_vec());
        }
    }
}

/// `capture cookie <name> len <n>` on a request (`%CC`): the first cookie of the
/// `Cookie` headers whose name starts with `name`, as `name=value`, cut to `len`.
pub fn capture_request_cookie(decl: &CaptureCookie, headers: &Headers) -> Option<String> {
    headers
        .get_all("cookie")
        .flat_map(|v| v.split(|&b| b == b';'))
        .map(|c| c.trim_ascii())
        .find(|c| c.starts_with(decl.name.as_bytes()))
        .map(|c| cut(c, decl.len))
}

/// `capture cookie` on a response (`%CS`): the first `Set-Cookie` header whose cookie
/// name starts with `name`, cut to `len` (attributes included, as HAProxy).
pub fn capture_response_cookie(decl: &CaptureCookie, headers: &Headers) -> Option<String> {
    headers
        .get_all("set-cookie")
        .map(|v| v.trim_ascii())
        .find(|v| v.starts_with(decl.name.as_bytes()))
        .map(|v| cut(v, decl.len))
}

fn cut(v: &[u8], len: usize) -> String {
    String::from_utf8_lossy(&v[..v.len().min(len)]).into_owned()
}

/// The compiled `unique-id-format` of a frontend (`None` without one). The format was
/// checked when the configuration was loaded, so this only fails on a configuration
/// that did not go through the parser's checks.
pub fn unique_id_format(proxy: &Proxy) -> Option<LogFormat> {
    LogFormat::compile(proxy.unique_id_format.as_deref()?).ok()
}

/// Renders `unique-id-format` for a transaction. `rec` is the log record as known when
/// the request head is complete (addresses, frontend, dates, stream number) and `cx`
/// the sample context for `%[...]` parts. The stream stores it in `Txn::unique_id`,
/// logs it as `%ID`, and adds it to the request as `unique-id-header` when set
/// ([`unique_id_header`]).
pub fn unique_id(format: &LogFormat, rec: &StreamLog, cx: Option<&dyn SampleCtx>) -> String {
    let mut id = String::new();
    format.render_full(rec, cx, crate::log::RenderEnv::process(), &mut id);
    id
}

/// Adds the unique id to the request as `unique-id-header <name>` does: any header of
/// that name already there is replaced.
pub fn unique_id_header(headers: &mut Headers, name: &str, id: &str) {
    headers.set(name, id.as_bytes().to_vec());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::model::Location;

    fn loc() -> Location {
        Location {
            file: "t.cfg".into(),
            line: 1,
        }
    }

    fn hdr(name: &str, len: usize) -> CaptureHeader {
        CaptureHeader {
            name: name.into(),
            len,
            location: loc(),
        }
    }

    /// HAProxy 2.6 logged `hr={b|c}` for `X-A: 1234567`, `X-A: b`, `x-b: a, b`,
    /// `X-B: c` with `capture request header X-A len 4` and `x-b len 40`.
    #[test]
    fn last_occurrence_cut_to_len() {
        let mut h = Headers::new();
        h.add("X-A", "1234567");
        h.add("X-A", "b");
        h.add("x-b", "a, b");
        h.add("X-B", "c");
        let decls = [hdr("X-A", 4), hdr("x-b", 40), hdr("X-C", 3), hdr("x-a", 0)];
        let mut slots = vec![Some(b"old".to_vec())];
        capture_headers(&decls, &h, &mut slots);
        assert_eq!(
            slots,
            vec![
                Some(b"b".to_vec()),
                Some(b"c".to_vec()),
                None,
                Some(Vec::new())
            ]
        );
        let mut h = Headers::new();
        h.add("X-A", "1234567");
        capture_headers(&decls[..1], &h, &mut slots);
        assert_eq!(slots, vec![Some(b"1234".to_vec())]);
    }

    /// HAProxy 2.6 with `capture cookie SE len 6`: `Cookie: a=1; SESSION=2; SE=xyz`
    /// gave `%CC` `SESSIO`, and `Set-Cookie: SESS=abc; path=/` gave `%CS` `SESS=a`.
    #[test]
    fn cookies_match_by_name_prefix() {
        let decl = CaptureCookie {
            name: "SE".into(),
            len: 6,
            location: loc(),
        };
        let mut h = Headers::new();
        h.add("Cookie", "a=1; SESSION=2; SE=xyz; SE=2");
        assert_eq!(capture_request_cookie(&decl, &h).as_deref(), Some("SESSIO"));
        let mut h = Headers::new();
        h.add("Cookie", "SEx=1");
        h.add("Cookie", "SE=");
        assert_eq!(capture_request_cookie(&decl, &h).as_deref(), Some("SEx=1"));
        let mut h = Headers::new();
        h.add("Set-Cookie", "other=1");
        h.add("Set-Cookie", "SESS=abc; path=/");
        h.add("Set-Cookie", "SE=qqqq");
        assert_eq!(
            capture_response_cookie(&decl, &h).as_deref(),
            Some("SESS=a")
        );
        assert_eq!(capture_request_cookie(&decl, &Headers::new()), None);
    }

    #[test]
    fn unique_id_is_rendered_and_set_as_a_header() {
        let f = LogFormat::compile("%{+X}o%ci:%cp_%[str(x)]").unwrap();
        let rec = StreamLog {
            client: Some("127.0.0.1:44670".parse().unwrap()),
            ..StreamLog::default()
        };
        let cx = crate::sample::TestCtx::default();
        let proxy = Proxy {
            unique_id_format: Some("%{+X}o%ci:%cp_%[str(x)]".into()),
            ..Proxy::default()
        };
        assert_eq!(unique_id_format(&proxy), Some(f.clone()));
        assert_eq!(unique_id_format(&Proxy::default()), None);
        // HAProxy printed `7F000001:AE7E` for `%{+X}o%ci:%cp` and port 44670.
        assert_eq!(unique_id(&f, &rec, Some(&cx)), "7F000001:AE7E_x");
        assert_eq!(unique_id(&f, &rec, None), "7F000001:AE7E_-");
        let mut h = Headers::new();
        h.add("X-Unique-ID", "forged");
        unique_id_header(&mut h, "X-Unique-ID", "7F000001:AE7E");
        assert_eq!(h.get("x-unique-id"), Some(&b"7F000001:AE7E"[..]));
        assert_eq!(h.count("x-unique-id"), 1);
    }
}
