//! `option` keywords added by "httpopts", parsed here and applied where the stream
//! does what they change:
//!
//! - `accept-invalid-http-request` (frontends) / `accept-invalid-http-response`
//!   (backends): the head parsers' relaxed mode, [`crate::http::h1::Strictness`];
//! - `checkcache` (backends): a response a shared cache could store that carries
//!   `Set-Cookie` is blocked and answered 502, [`checkcache_blocks`];
//! - `independent-streams`: accepted with no effect (moonproxy refreshes `timeout
//!   client` and `timeout server` as HAProxy does without it; doc/config.md);
//! - `http_proxy`: refused with HAProxy 2.6's alert (removed in 2.5).

use crate::config::model::ProxyOptions;
use crate::http::options::Parsed;
use crate::http::{Method, Response};

/// Parses `option <name>` (`negate`: `no option`) for the options of this module;
/// `None` for another option.
pub fn parse(o: &mut ProxyOptions, name: &str, negate: bool, args: &[String]) -> Option<Parsed> {
    let flag = match name {
        "http_proxy" => return Some(Parsed::Directive(HTTP_PROXY_REMOVED.into())),
        "accept-invalid-http-request" => &mut o.accept_invalid_http_request,
        "accept-invalid-http-response" => &mut o.accept_invalid_http_response,
        "checkcache" => &mut o.checkcache,
        "independent-streams" => &mut o.independent_streams,
        _ => return None,
    };
    if let Some(extra) = args.first() {
        return Some(Parsed::Err(format!("'option {name}' cannot handle unexpected argument '{extra}'.")));
    }
    *flag = !negate;
    Some(Parsed::Ok)
}

/// HAProxy 2.6's alert for `option http_proxy`.
const HTTP_PROXY_REMOVED: &str = "option 'http_proxy' is not supported any more since HAProxy 2.5. This option stopped working in HAProxy 1.9 and usually had nasty side effects. It can be more reliably implemented with combinations of 'http-request set-dst' and 'http-request set-uri', and even 'http-request do-resolve' if DNS resolution is desired.";

/// Statuses a cache may store by default (HAProxy's list; RFC 9110 §15.1 plus 404,
/// 405, 414 and 501).
const CACHEABLE_STATUSES: [u16; 11] = [200, 203, 204, 206, 300, 301, 404, 405, 410, 414, 501];

/// `option checkcache`: whether the response to a `method` request must be blocked:
/// it carries `Set-Cookie` (or `Set-Cookie2`) and a shared cache could store it with
/// that cookie. As HAProxy 2.6 decides (checked live, request headers play no part):
/// - only GET and HEAD responses with a status of [`CACHEABLE_STATUSES`];
/// - `Cache-Control: private`, `no-cache`, `no-store`, `max-age=0`, `s-maxage=0`
///   or a response `Pragma: no-cache` make it not cacheable, and
///   `no-cache="set-cookie..."` keeps the cookie out of the cache;
/// - it must say how long it stays fresh or how to revalidate it: `max-age`,
///   `s-maxage`, `Expires`, `Last-Modified` or `ETag` (`public` alone is not enough).
pub fn checkcache_blocks(method: &Method, res: &Response) -> bool {
    if !matches!(method, Method::Get | Method::Head) || !CACHEABLE_STATUSES.contains(&res.line.status) {
        return false;
    }
    let h = &res.headers;
    if !h.contains("set-cookie") && !h.contains("set-cookie2") {
        return false;
    }
    if h.list("pragma").any(|v| v.eq_ignore_ascii_case(b"no-cache")) {
        return false;
    }
    let mut fresh = h.contains("expires") || h.contains("last-modified") || h.contains("etag");
    for v in h.list("cache-control") {
        let v = v.to_ascii_lowercase();
        match v.as_slice() {
            b"private" | b"no-cache" | b"no-store" | b"max-age=0" | b"s-maxage=0" => return false,
            _ if v.starts_with(b"no-cache=\"set-cookie") => return false,
            _ if v.starts_with(b"max-age") || v.starts_with(b"s-maxage") => fresh = true,
            _ => {}
        }
    }
    fresh
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::h1::{ResponseParser, Status};

    fn blocks(method: Method, head: &str) -> bool {
        let raw = format!("{head}\r\nContent-Length: 0\r\n\r\n");
        let Ok(Status::Complete(res, _)) = ResponseParser::new(Default::default(), method.clone()).parse(raw.as_bytes()) else {
            panic!("bad test response {raw:?}")
        };
        checkcache_blocks(&method, &res)
    }

    #[test]
    fn cacheable_cookies_as_haproxy_decides() {
        let sc = "Set-Cookie: a=1";
        assert!(blocks(Method::Get, &format!("HTTP/1.1 200 OK\r\n{sc}\r\nCache-Control: max-age=60")));
        assert!(blocks(Method::Head, &format!("HTTP/1.1 404 X\r\n{sc}\r\nExpires: Thu, 01 Dec 1994 16:00:00 GMT")));
        assert!(blocks(Method::Get, "HTTP/1.1 200 OK\r\nSet-Cookie2: a=1\r\nETag: \"x\""));
        assert!(blocks(Method::Get, &format!("HTTP/1.1 301 X\r\n{sc}\r\nCache-Control: public, s-maxage=5")));
        // Not cacheable, or no cookie.
        assert!(!blocks(Method::Get, &format!("HTTP/1.1 200 OK\r\n{sc}")));
        assert!(!blocks(Method::Get, &format!("HTTP/1.1 200 OK\r\n{sc}\r\nCache-Control: public")));
        assert!(!blocks(Method::Post, &format!("HTTP/1.1 200 OK\r\n{sc}\r\nCache-Control: max-age=60")));
        assert!(!blocks(Method::Get, &format!("HTTP/1.1 302 X\r\n{sc}\r\nCache-Control: max-age=60")));
        assert!(!blocks(Method::Get, &format!("HTTP/1.1 200 OK\r\n{sc}\r\nCache-Control: max-age=60, PRIVATE")));
        assert!(!blocks(Method::Get, &format!("HTTP/1.1 200 OK\r\n{sc}\r\nCache-Control: max-age=60\r\nPragma: no-cache")));
        assert!(!blocks(Method::Get, &format!("HTTP/1.1 200 OK\r\n{sc}\r\nCache-Control: max-age=60, no-cache=\"set-cookie\"")));
        assert!(!blocks(Method::Get, "HTTP/1.1 200 OK\r\nCache-Control: max-age=60"));
    }

    #[test]
    fn options_take_no_argument() {
        let mut o = ProxyOptions::default();
        assert!(matches!(parse(&mut o, "checkcache", false, &[]), Some(Parsed::Ok)));
        assert!(o.checkcache);
        assert!(matches!(parse(&mut o, "checkcache", true, &[]), Some(Parsed::Ok)));
        assert!(!o.checkcache);
        let err = parse(&mut o, "independent-streams", false, &["x".into()]);
        assert!(matches!(err, Some(Parsed::Err(e)) if e == "'option independent-streams' cannot handle unexpected argument 'x'."));
        assert!(matches!(parse(&mut o, "http_proxy", false, &[]), Some(Parsed::Directive(e)) if e.starts_with("option 'http_proxy' is not supported any more")));
        assert!(parse(&mut o, "httplog", false, &[]).is_none());
    }
}
