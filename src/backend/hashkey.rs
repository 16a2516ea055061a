//! The hash an HTTP request gives the hash-based `balance` algorithms (`uri`,
//! `url_param`, `hdr`), with the backend's `hash-type` function. The lookup itself
//! (hash modulo the total weight into the weighted map) is [`super::lb`]'s.
//!
//! What is hashed, from HAProxy's documentation of `balance`:
//! - `uri`: the request target up to the `?` (all of it with `whole`), at most `len`
//!   characters, up to `depth` directory levels (one per slash), without the scheme and
//!   authority of an absolute-form target with `path-only`;
//! - `url_param <name>`: the value of the first `name=value` of the query string; no
//!   hash (round robin) when the parameter is absent or has no value;
//! - `hdr(<name>)`: the first value of the header (up to a comma); with
//!   `use_domain_only`, only the registrable label of a host name (`1wt` in
//!   `haproxy.1wt.eu`); no hash when the header is absent or empty;
//! - `rdp-cookie(<name>)` (TCP mode, [`payload_hash`]): the value of the RDP cookie
//!   at the start of the client's first packet; no hash without it.

use crate::config::model::{Balance, HashFunction, HashType, UriHash};
use crate::http::Request;
use crate::sample::hash;

/// The hash of `req` for `algo`, or `None` when the algorithm hashes nothing here
/// (not a hash-based algorithm, or the parameter or header is missing).
pub fn request_hash(algo: &Balance, ht: HashType, req: &Request) -> Option<u32> {
    let key: &[u8] = match algo {
        Balance::Uri(u) => uri_key(u, &req.line.target),
        Balance::UrlParam { name } => url_param(req.line.target.as_str(), name)?,
        Balance::Hdr { name, domain_only } => {
            let value = req.headers.get(name)?;
            let first = value.split(|&c| c == b',').next().unwrap_or_default().trim_ascii();
            let key = if *domain_only { domain_label(first) } else { first };
            if key.is_empty() {
                return None;
            }
            key
        }
        _ => return None,
    };
    Some(hash_bytes(ht, key))
}

/// TCP mode: the hash of the client's first bytes for `balance rdp-cookie(<name>)`:
/// the cookie's value ([`super::rdp::cookie`]); `None` (round robin, as HAProxy falls
/// back to) without that cookie or with an empty value.
pub fn payload_hash(algo: &Balance, ht: HashType, data: &[u8]) -> Option<u32> {
    let Balance::RdpCookie { name } = algo else { return None };
    match super::rdp::cookie(data, Some(name.as_bytes())) {
        super::rdp::Cookie::Found(v) if !v.is_empty() => Some(hash_bytes(ht, v)),
        _ => None,
    }
}

/// `gen_hash` in HAProxy's terms: the configured function, then `avalanche` if asked.
pub fn hash_bytes(ht: HashType, key: &[u8]) -> u32 {
    let h = match ht.function {
        HashFunction::Sdbm => hash::sdbm(key),
        HashFunction::Djb2 => hash::djb2(key),
        HashFunction::Wt6 => hash::wt6(key),
        HashFunction::Crc32 => hash::crc32(key),
    };
    if ht.avalanche { hash::avalanche(h) } else { h }
}

fn uri_key<'t>(u: &UriHash, target: &'t str) -> &'t [u8] {
    let mut t = target.as_bytes();
    if u.path_only {
        if let Some(i) = target.find("://") {
            let rest = &t[i + 3..];
            t = &rest[rest.iter().position(|&c| c == b'/' || c == b'?').unwrap_or(rest.len())..];
        }
    }
    if u.len > 0 {
        t = &t[..t.len().min(u.len as usize)];
    }
    let mut slashes = 0;
    for (i, &c) in t.iter().enumerate() {
        if c == b'?' && !u.whole {
            return &t[..i];
        }
        if c == b'/' {
            slashes += 1;
            if u.depth > 0 && slashes > u.depth {
                return &t[..i];
            }
        }
    }
    t
}

/// The value of the first `name=value` parameter of the query string, if not empty.
fn url_param<'t>(target: &'t str, name: &str) -> Option<&'t [u8]> {
    let (_, query) = target.split_once('?')?;
    query
        .split('&')
        .find_map(|p| p.strip_prefix(name).and_then(|rest| rest.strip_prefix('=')))
        .filter(|v| !v.is_empty())
        .map(str::as_bytes)
}

/// `use_domain_only`: the label before the top-level domain (`1wt` of
/// `haproxy.1wt.eu`), a port left out; the whole name when it has no dot.
fn domain_label(host: &[u8]) -> &[u8] {
    let host = match host.iter().rposition(|&c| c == b':') {
        Some(i) if !host.contains(&b']') || host[i - 1] == b']' => &host[..i],
        _ => host,
    };
    let mut labels = host.rsplit(|&c| c == b'.');
    match (labels.next(), labels.next()) {
        (Some(_tld), Some(domain)) => domain,
        _ => host,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::h1::{Limits, RequestParser, Status};

    fn req(head: &str) -> Request {
        match RequestParser::new(Limits::default()).parse(head.as_bytes()).unwrap() {
            Status::Complete(r, _) => r,
            Status::Partial => panic!("partial: {head}"),
        }
    }

    fn key_of(u: UriHash, target: &str) -> String {
        String::from_utf8(uri_key(&u, target).to_vec()).unwrap()
    }

    #[test]
    fn uri_stops_at_the_query_unless_whole() {
        assert_eq!(key_of(UriHash::default(), "/a/b?x=1"), "/a/b");
        assert_eq!(key_of(UriHash { whole: true, ..Default::default() }, "/a/b?x=1"), "/a/b?x=1");
    }

    #[test]
    fn uri_len_and_depth_bound_the_key() {
        assert_eq!(key_of(UriHash { len: 3, ..Default::default() }, "/abcdef"), "/ab");
        assert_eq!(key_of(UriHash { depth: 1, ..Default::default() }, "/a/b/c"), "/a");
        assert_eq!(key_of(UriHash { depth: 2, ..Default::default() }, "/a/b/c"), "/a/b");
        assert_eq!(key_of(UriHash { depth: 5, ..Default::default() }, "/a/b/c"), "/a/b/c");
    }

    #[test]
    fn path_only_drops_scheme_and_authority() {
        let u = UriHash { path_only: true, ..Default::default() };
        assert_eq!(key_of(u.clone(), "http://example.com/p?q"), "/p");
        assert_eq!(key_of(UriHash::default(), "http://example.com/p?q"), "http://example.com/p");
        assert_eq!(key_of(u, "/p"), "/p");
    }

    #[test]
    fn url_param_takes_the_first_non_empty_value() {
        assert_eq!(url_param("/x?a=1&id=42&id=7", "id"), Some(&b"42"[..]));
        assert_eq!(url_param("/x?ida=1", "id"), None);
        assert_eq!(url_param("/x?id=", "id"), None);
        assert_eq!(url_param("/x", "id"), None);
    }

    #[test]
    fn domain_only_keeps_the_registrable_label() {
        assert_eq!(domain_label(b"haproxy.1wt.eu"), b"1wt");
        assert_eq!(domain_label(b"www.example.com:8080"), b"example");
        assert_eq!(domain_label(b"localhost"), b"localhost");
    }

    #[test]
    fn request_hash_uses_the_configured_function() {
        let r = req("GET /img/a.png?v=2 HTTP/1.1\r\nHost: www.example.com\r\n\r\n");
        let uri = Balance::Uri(UriHash::default());
        assert_eq!(request_hash(&uri, HashType::default(), &r), Some(hash::sdbm(b"/img/a.png")));
        let djb2 = HashType { function: HashFunction::Djb2, avalanche: true, ..Default::default() };
        assert_eq!(request_hash(&uri, djb2, &r), Some(hash::avalanche(hash::djb2(b"/img/a.png"))));
        let host = Balance::Hdr { name: "host".into(), domain_only: true };
        assert_eq!(request_hash(&host, HashType::default(), &r), Some(hash::sdbm(b"example")));
        let missing = Balance::Hdr { name: "x-user".into(), domain_only: false };
        assert_eq!(request_hash(&missing, HashType::default(), &r), None);
        let param = Balance::UrlParam { name: "v".into() };
        assert_eq!(request_hash(&param, HashType::default(), &r), Some(hash::sdbm(b"2")));
        assert_eq!(request_hash(&Balance::RoundRobin, HashType::default(), &r), None);
    }
}
