//! The responses the proxy generates itself: the default error pages for each status
//! it can answer (400, 403, 408, 500, 502, 503, 504 ...), and the pages configured with
//! `errorfile`, `errorfiles` and `http-errors` sections ([`ErrorPages`]).
//!
//! A configured page is a complete HTTP/1 response read from a file at load time and
//! sent as it is ([`load_error_file`] checks it as HAProxy does). An empty file is
//! legal: the connection is then closed without a response.
//!
//! ```
//! use moonproxy::http::errors::ErrorPages;
//! let pages = ErrorPages::default(); // a proxy without errorfile
//! assert!(pages.page(503).starts_with(b"HTTP/1.1 503 Service Unavailable\r\n"));
//! ```

use std::borrow::Cow;
use std::sync::{Arc, OnceLock};

use super::h1::{Limits, ResponseParser, Status};
use super::{BodyFraming, Method};
use crate::config::model::Proxy;

/// The statuses `errorfile` accepts (HAProxy 2.6's list of the responses it generates).
pub const HANDLED_STATUSES: [u16; 17] = [
    200, 400, 401, 403, 404, 405, 407, 408, 410, 413, 425, 429, 500, 501, 502, 503, 504,
];

/// A proxy's configured error pages, looked up by status.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ErrorPages {
    /// Sorted by status.
    pages: Vec<(u16, Arc<[u8]>)>,
}

impl ErrorPages {
    /// The pages of `proxy` (its `errorfile`, `errorfiles` and inherited ones, resolved
    /// by the configuration parser into `Proxy::error_pages`).
    pub fn from_proxy(proxy: &Proxy) -> ErrorPages {
        ErrorPages::from_pages(proxy.error_pages.clone())
    }

    /// Pages given directly (tests, Lua); a later entry wins for the same status.
    pub fn from_pages(list: Vec<(u16, Arc<[u8]>)>) -> ErrorPages {
        let mut pages: Vec<(u16, Arc<[u8]>)> = Vec::with_capacity(list.len());
        for (status, page) in list {
            match pages.binary_search_by_key(&status, |(s, _)| *s) {
                Ok(i) => pages[i].1 = page,
                Err(i) => pages.insert(i, (status, page)),
            }
        }
        ErrorPages { pages }
    }

    /// The configured page for `status`, if any.
    pub fn configured(&self, status: u16) -> Option<&[u8]> {
        self.pages
            .binary_search_by_key(&status, |(s, _)| *s)
            .ok()
            .map(|i| &*self.pages[i].1)
    }

    /// The response to send for `status`: the configured page, else [`default_page`]
    /// (built once per process for HAProxy's statuses: no allocation per response).
    pub fn page(&self, status: u16) -> Cow<'_, [u8]> {
        match self.configured(status) {
            Some(p) => Cow::Borrowed(p),
            None => default_page_cow(status),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.pages.is_empty()
    }
}

/// The response for `status` when a stream has a backend and a frontend: the backend's
/// page first, then the frontend's, then the default (HAProxy's order).
pub fn page_for<'a>(
    status: u16,
    backend: Option<&'a ErrorPages>,
    frontend: &'a ErrorPages,
) -> Cow<'a, [u8]> {
    match backend.and_then(|b| b.configured(status)) {
        Some(p) => Cow::Borrowed(p),
        None => frontend.page(status),
    }
}

/// The page of `errorloc` / `errorloc302` (`code` 302) and `errorloc303` (303): an
/// empty redirect to `url`, as HAProxy 2.6 sends it.
pub fn redirect_page(code: u16, url: &str) -> Vec<u8> {
    let reason = if code == 303 { "See Other" } else { "Found" };
    format!(
        "HTTP/1.1 {code} {reason}\r\ncache-control: no-cache\r\ncontent-length: 0\r\nlocation: {url}\r\n\r\n"
    )
    .into_bytes()
}

/// [`default_page`], borrowed from a table built once for [`HANDLED_STATUSES`].
fn default_page_cow(status: u16) -> Cow<'static, [u8]> {
    static PAGES: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    let pages = PAGES.get_or_init(|| HANDLED_STATUSES.iter().map(|&s| default_page(s)).collect());
    match HANDLED_STATUSES.iter().position(|&s| s == status) {
        Some(i) => Cow::Borrowed(&pages[i]),
        None => Cow::Owned(default_page(status)),
    }
}

/// Reads and checks the file of an `errorfile <status> <path>` line. The error is
/// HAProxy's message after `errorfile : ` (`error opening file '/x'.`, `'/x': unable to
/// parse headers (error offset: 0)`, `'/x': payload size does not match the announced
/// content-length (6 != 3)`).
pub fn load_error_file(path: &str) -> Result<Vec<u8>, String> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e)
            if e.kind() == std::io::ErrorKind::NotFound
                || e.kind() == std::io::ErrorKind::PermissionDenied =>
        {
            return Err(format!("error opening file '{path}'."));
        }
        Err(_) => return Err(format!("error reading file '{path}'.")),
    };
    check_error_response(bytes).map_err(|e| format!("'{path}': {e}"))
}

/// Checks that `bytes` is one complete HTTP/1 response (or nothing) and returns it as it
/// will be sent: a head with bare LF line ends (accepted by HAProxy) gets CRLF ones.
pub fn check_error_response(bytes: Vec<u8>) -> Result<Vec<u8>, String> {
    if bytes.is_empty() {
        return Ok(bytes);
    }
    let bytes = match parse_head(&bytes) {
        Ok(_) => bytes,
        Err(offset) => {
            let crlf = with_crlf_head(&bytes);
            if parse_head(&crlf).is_err() {
                // HAProxy points at the start of the faulty line.
                let at = offset.min(bytes.len() as u64) as usize;
                let line = bytes[..at]
                    .iter()
                    .rposition(|&b| b == b'\n')
                    .map_or(0, |p| p + 1);
                return Err(format!("unable to parse headers (error offset: {line})"));
            }
            crlf
        }
    };
    let (framing, head_len) = parse_head(&bytes).expect("checked above");
    let body = (bytes.len() - head_len) as u64;
    if let BodyFraming::ContentLength(n) = framing {
        if n != body {
            return Err(format!(
                "payload size does not match the announced content-length ({body} != {n})"
            ));
        }
    }
    Ok(bytes)
}

/// The head's body framing and length, or the offset of the error.
fn parse_head(bytes: &[u8]) -> Result<(BodyFraming, usize), u64> {
    match ResponseParser::new(Limits::default(), Method::Get).parse(bytes) {
        Ok(Status::Complete(res, used)) => Ok((res.framing, used)),
        Ok(Status::Partial) => Err(bytes.len() as u64),
        Err(e) => Err(e.offset),
    }
}

/// `bytes` with every bare LF of its head (up to the first empty line) made CRLF.
fn with_crlf_head(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() + 16);
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'\n' && (i == 0 || bytes[i - 1] != b'\r') {
            out.push(b'\r');
        }
        out.push(b);
        i += 1;
        if out.ends_with(b"\r\n\r\n") {
            break;
        }
    }
    out.extend_from_slice(&bytes[i..]);
    out
}

/// The reason phrase the proxy sends with `status`.
pub fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        407 => "Unauthorized",
        408 => "Request Time-out",
        410 => "Gone",
        413 => "Payload Too Large",
        414 => "URI Too Long",
        425 => "Too Early",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Time-out",
        _ => "Unknown",
    }
}

/// The line HAProxy's default page for `status` says under its title, for the
/// statuses it generates ([`HANDLED_STATUSES`]); the 501 text keeps HAProxy's leading
/// period.
pub fn message(status: u16) -> Option<&'static str> {
    Some(match status {
        200 => "Service ready.",
        400 => "Your browser sent an invalid request.",
        401 | 407 => "You need a valid user and password to access this content.",
        403 => "Request forbidden by administrative rules.",
        404 => "The resource could not be found.",
        405 => {
            "A request was made of a resource using a request method not supported by that resource"
        }
        408 => "Your browser didn't send a complete request in time.",
        410 => "The resource is no longer available and will not be available again.",
        413 => "The request entity exceeds the maximum allowed.",
        425 => "Your browser sent early data.",
        429 => "You have sent too many requests in a given amount of time.",
        500 => "An internal server error occurred.",
        501 => ".The server does not support the functionality required to fulfill the request.",
        502 => "The server returned an invalid or incomplete response.",
        503 => "No server is available to handle this request.",
        504 => "The server didn't respond in time.",
        _ => return None,
    })
}

/// The complete default response for `status` (head and a small HTML body), byte for
/// byte HAProxy 2.6's for the statuses it generates. As in HAProxy, only the 400 and
/// 408 pages say `connection: close`: whether the connection stays open after another
/// page is the stream's decision. Statuses HAProxy has no page for (414, 431 ...) get
/// the same shape without the message line, closing the connection.
pub fn default_page(status: u16) -> Vec<u8> {
    let reason = reason(status);
    let (body, close) = match message(status) {
        Some(msg) => (
            format!("<html><body><h1>{status} {reason}</h1>\n{msg}\n</body></html>\n"),
            matches!(status, 400 | 408),
        ),
        None => (
            format!("<html><body><h1>{status} {reason}</h1>\n</body></html>\n"),
            true,
        ),
    };
    let connection = if close { "connection: close\r\n" } else { "" };
    format!(
        "HTTP/1.1 {status} {reason}\r\ncontent-length: {}\r\ncache-control: no-cache\r\ncontent-type: text/html\r\n{connection}\r\n{body}",
        body.len()
    )
    .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(s: &str) -> Arc<[u8]> {
        Arc::from(s.as_bytes())
    }

    #[test]
    fn configured_pages_override_defaults() {
        let fe = ErrorPages::from_pages(vec![
            (503, page("HTTP/1.0 503 A\r\n\r\n")),
            (403, page("HTTP/1.0 403 F\r\n\r\n")),
            (503, page("HTTP/1.0 503 B\r\n\r\n")),
        ]);
        assert_eq!(
            &*fe.page(503),
            b"HTTP/1.0 503 B\r\n\r\n",
            "the last one wins"
        );
        assert_eq!(fe.configured(403), Some(&b"HTTP/1.0 403 F\r\n\r\n"[..]));
        assert_eq!(&*fe.page(502), &default_page(502)[..]);
        let be = ErrorPages::from_pages(vec![(403, page("HTTP/1.0 403 BE\r\n\r\n"))]);
        assert_eq!(&*page_for(403, Some(&be), &fe), b"HTTP/1.0 403 BE\r\n\r\n");
        assert_eq!(&*page_for(503, Some(&be), &fe), b"HTTP/1.0 503 B\r\n\r\n");
        assert_eq!(&*page_for(504, None, &fe), &default_page(504)[..]);
        assert!(matches!(fe.page(504), Cow::Borrowed(_)), "built once");
        assert_eq!(&*fe.page(414), &default_page(414)[..]);
        assert!(ErrorPages::default().is_empty());
    }

    /// The files `haproxy -c` accepts and refuses, with its messages.
    #[test]
    fn error_files_are_checked_like_haproxy() {
        let ok =
            b"HTTP/1.0 503 Service Unavailable\r\nCache-Control: no-cache\r\n\r\n<b>down</b>\n";
        assert_eq!(check_error_response(ok.to_vec()).unwrap(), ok.to_vec());
        assert_eq!(check_error_response(Vec::new()).unwrap(), b"");
        assert_eq!(
            check_error_response(b"garbage\n".to_vec()).unwrap_err(),
            "unable to parse headers (error offset: 0)"
        );
        assert_eq!(
            check_error_response(b"HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nabcdef".to_vec())
                .unwrap_err(),
            "payload size does not match the announced content-length (6 != 3)"
        );
        // Bare LF line ends are accepted, and sent as CRLF.
        assert_eq!(
            check_error_response(b"HTTP/1.0 503 X\nA: b\n\nbody\n".to_vec()).unwrap(),
            b"HTTP/1.0 503 X\r\nA: b\r\n\r\nbody\n"
        );
        assert_eq!(
            load_error_file("/nonexistent/x.http").unwrap_err(),
            "error opening file '/nonexistent/x.http'."
        );
        assert_eq!(load_error_file("/").unwrap_err(), "error reading file '/'.");
    }

    /// The pages HAProxy 2.6.12 sent for `http-request deny deny_status <status>`.
    #[test]
    fn default_pages_match_haproxy() {
        assert_eq!(
            default_page(503),
            b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 107\r\ncache-control: no-cache\r\ncontent-type: text/html\r\n\r\n<html><body><h1>503 Service Unavailable</h1>\nNo server is available to handle this request.\n</body></html>\n"
        );
        assert_eq!(
            default_page(400),
            b"HTTP/1.1 400 Bad request\r\ncontent-length: 90\r\ncache-control: no-cache\r\ncontent-type: text/html\r\nconnection: close\r\n\r\n<html><body><h1>400 Bad request</h1>\nYour browser sent an invalid request.\n</body></html>\n"
        );
        assert_eq!(
            default_page(200),
            b"HTTP/1.1 200 OK\r\ncontent-length: 58\r\ncache-control: no-cache\r\ncontent-type: text/html\r\n\r\n<html><body><h1>200 OK</h1>\nService ready.\n</body></html>\n"
        );
        // Content-Length of every page HAProxy sent, and which ones close.
        let haproxy = [
            (200, 58, false),
            (400, 90, true),
            (401, 112, false),
            (403, 93, false),
            (404, 83, false),
            (405, 146, false),
            (407, 112, false),
            (408, 110, true),
            (410, 114, false),
            (413, 106, false),
            (425, 80, false),
            (429, 117, false),
            (500, 97, false),
            (501, 136, false),
            (502, 107, false),
            (503, 107, false),
            (504, 92, false),
        ];
        for (status, len, close) in haproxy {
            let page = String::from_utf8(default_page(status)).unwrap();
            assert!(
                page.contains(&format!("\r\ncontent-length: {len}\r\n")),
                "{page}"
            );
            assert_eq!(page.contains("connection: close"), close, "{status}");
        }
        assert_eq!(HANDLED_STATUSES.map(|s| s), haproxy.map(|(s, _, _)| s));
    }

    /// HAProxy 2.6.12's answers to a deny with `errorloc 403 http://x/y?a=1` and
    /// `errorloc303 403 /sorry`.
    #[test]
    fn redirect_pages_match_haproxy() {
        assert_eq!(
            redirect_page(302, "http://x/y?a=1"),
            b"HTTP/1.1 302 Found\r\ncache-control: no-cache\r\ncontent-length: 0\r\nlocation: http://x/y?a=1\r\n\r\n"
        );
        assert_eq!(
            redirect_page(303, "/sorry"),
            b"HTTP/1.1 303 See Other\r\ncache-control: no-cache\r\ncontent-length: 0\r\nlocation: /sorry\r\n\r\n"
        );
    }

    #[test]
    fn default_pages_are_complete_responses() {
        for status in [200, 400, 403, 408, 414, 431, 501, 502, 599] {
            let page = default_page(status);
            assert_eq!(
                check_error_response(page.clone()),
                Ok(page.clone()),
                "{status}"
            );
            let page = String::from_utf8(page).unwrap();
            let (head, body) = page.split_once("\r\n\r\n").unwrap();
            assert!(head.starts_with(&format!("HTTP/1.1 {status} {}\r\n", reason(status))));
            assert!(head.contains(&format!("content-length: {}", body.len())));
        }
        assert!(String::from_utf8(default_page(414))
            .unwrap()
            .contains("connection: close"));
    }
}
