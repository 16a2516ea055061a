use super::*;
use crate::http::{RequestLine, StatusLine};

fn req(method: Method, target: &str, version: Version, headers: &[(&str, &str)]) -> Request {
    let mut h = Headers::new();
    for (n, v) in headers {
        h.add(*n, v.as_bytes());
    }
    let form = if target.contains("://") { TargetForm::Absolute } else { TargetForm::Origin };
    Request {
        line: RequestLine { method, target: target.into(), form, version },
        headers: h,
        framing: BodyFraming::None,
    }
}

fn get(headers: &[(&str, &str)]) -> Request {
    req(Method::Get, "/a?b=1", Version::Http11, &[&[("Host", "example.com")], headers].concat())
}

fn res(status: u16, headers: &[(&str, &str)]) -> Response {
    let mut h = Headers::new();
    for (n, v) in headers {
        h.add(*n, v.as_bytes());
    }
    let framing = h
        .get("content-length")
        .and_then(|v| std::str::from_utf8(v).ok()?.parse().ok())
        .map_or(BodyFraming::ContentLength(0), BodyFraming::ContentLength);
    Response { line: StatusLine { version: Version::Http11, status, reason: b"OK".to_vec() }, headers: h, framing }
}

fn settings() -> Settings {
    Settings { name: "c".into(), blocks: 8, max_object: 4096, max_age: 60, process_vary: false, max_secondary: 2 }
}

#[test]
fn requests_haproxy_serves_and_stores() {
    let both = RequestPolicy { serve: true, store: true };
    let neither = RequestPolicy { serve: false, store: false };
    assert_eq!(request_policy(&get(&[])), both);
    assert_eq!(request_policy(&req(Method::Head, "/", Version::Http11, &[])), RequestPolicy { serve: true, store: false });
    assert_eq!(request_policy(&req(Method::Post, "/", Version::Http11, &[])), neither);
    assert_eq!(request_policy(&req(Method::Get, "/", Version::Http10, &[])), neither);
    assert_eq!(request_policy(&get(&[("Authorization", "Basic x")])), neither);
    assert_eq!(request_policy(&get(&[("Cache-Control", "no-cache")])), RequestPolicy { serve: false, store: true });
    assert_eq!(request_policy(&get(&[("Cache-Control", "max-age=0")])), RequestPolicy { serve: false, store: true });
    assert_eq!(request_policy(&get(&[("Cache-Control", "no-store")])), RequestPolicy { serve: true, store: false });
    assert_eq!(request_policy(&get(&[("Pragma", "no-cache")])), RequestPolicy { serve: false, store: true });
    // Cache-Control present: Pragma is ignored (RFC 9111 §5.4).
    assert_eq!(request_policy(&get(&[("Pragma", "no-cache"), ("Cache-Control", "max-stale")])), both);
}

#[test]
fn responses_haproxy_stores() {
    let s = settings();
    let ok = |h: &[(&str, &str)]| response_policy(&res(200, h), &s);
    assert_eq!(ok(&[("Cache-Control", "max-age=10")]), Ok(()));
    assert_eq!(ok(&[("Cache-Control", "public, s-maxage=10")]), Ok(()));
    assert_eq!(ok(&[("ETag", "\"x\"")]), Ok(()));
    assert_eq!(ok(&[("Last-Modified", "Thu, 01 Jan 2026 00:00:00 GMT")]), Ok(()));
    assert_eq!(ok(&[("Expires", "Thu, 01 Jan 2030 00:00:00 GMT")]), Ok(()));
    assert_eq!(ok(&[]), Err(Refusal::NoFreshness));
    assert_eq!(ok(&[("Cache-Control", "public")]), Err(Refusal::NoFreshness));
    for cc in ["private", "no-cache", "no-store", "max-age=0", "s-maxage=0", "max-age=10, private", "no-cache=\"set-cookie\""] {
        assert_eq!(ok(&[("Cache-Control", cc)]), Err(Refusal::Directive), "{cc}");
    }
    assert_eq!(ok(&[("Cache-Control", "max-age=10"), ("Pragma", "no-cache")]), Err(Refusal::Directive));
    assert_eq!(ok(&[("Cache-Control", "max-age=10"), ("Vary", "accept-encoding")]), Err(Refusal::Vary));
    assert_eq!(ok(&[("Cache-Control", "max-age=10"), ("Set-Cookie", "a=b")]), Err(Refusal::SetCookie));
    assert_eq!(ok(&[("Cache-Control", "max-age=10"), ("Content-Length", "5000")]), Err(Refusal::TooLarge));
    assert_eq!(response_policy(&res(404, &[("Cache-Control", "max-age=10")]), &s), Err(Refusal::Status));
    assert_eq!(response_policy(&res(301, &[("Cache-Control", "max-age=10")]), &s), Err(Refusal::Status));
    let vary = Settings { process_vary: true, ..settings() };
    assert_eq!(response_policy(&res(200, &[("Cache-Control", "max-age=1"), ("Vary", "Accept-Encoding, Referer")]), &vary), Ok(()));
    assert_eq!(response_policy(&res(200, &[("Cache-Control", "max-age=1"), ("Vary", "User-Agent")]), &vary), Err(Refusal::Vary));
    assert_eq!(response_policy(&res(200, &[("Cache-Control", "max-age=1"), ("Vary", "*")]), &vary), Err(Refusal::Vary));
}

#[test]
fn freshness_is_capped_by_the_cache() {
    let h = |v: &[(&str, &str)]| res(200, v).headers;
    assert_eq!(freshness(&h(&[("Cache-Control", "max-age=10")]), 60, 0), 10);
    assert_eq!(freshness(&h(&[("Cache-Control", "max-age=1000")]), 60, 0), 60);
    assert_eq!(freshness(&h(&[("Cache-Control", "max-age=10, s-maxage=20")]), 60, 0), 20);
    assert_eq!(freshness(&h(&[("ETag", "\"x\"")]), 60, 0), 60);
    let date = "Thu, 01 Jan 2026 00:00:00 GMT";
    let expires = "Thu, 01 Jan 2026 00:00:30 GMT";
    assert_eq!(freshness(&h(&[("Date", date), ("Expires", expires)]), 60, 0), 30);
    // Expired already: not fresh at all.
    assert_eq!(freshness(&h(&[("Date", expires), ("Expires", date)]), 60, 0), 0);
}

#[test]
fn http_dates_in_the_three_formats() {
    let t = 784_111_777; // Sun, 06 Nov 1994 08:49:37 GMT (RFC 9110's example)
    assert_eq!(parse_http_date(b"Sun, 06 Nov 1994 08:49:37 GMT"), Some(t));
    assert_eq!(parse_http_date(b"Sunday, 06-Nov-94 08:49:37 GMT"), Some(t));
    assert_eq!(parse_http_date(b"Sun Nov  6 08:49:37 1994"), Some(t));
    assert_eq!(parse_http_date(b"Thu, 01 Jan 1970 00:00:00 GMT"), Some(0));
    assert_eq!(parse_http_date(b"yesterday"), None);
    assert_eq!(parse_http_date(b"Sun, 06 Nov 1994 25:49:37 GMT"), None);
}

#[test]
fn keys_are_host_and_path_with_query() {
    assert_eq!(primary_key(&get(&[])), "example.com/a?b=1");
    let abs = req(Method::Get, "http://other.example:8080/x?y", Version::Http11, &[("Host", "ignored")]);
    assert_eq!(primary_key(&abs), "other.example:8080/x?y");
}

fn object(body: &[u8], headers: &[(&str, &str)], now: u64, expire: u64) -> Object {
    let r = res(200, headers);
    Object { status: 200, reason: b"OK".to_vec(), headers: r.headers, body: body.to_vec(), age: 0, stored_at: now, expire, vary: 0 }
}

#[test]
fn served_responses_carry_age_and_skip_bodies_for_head_and_304() {
    let o = Object { age: 5, ..object(b"hello", &[("Content-Length", "5")], 100, 200) };
    let whole = String::from_utf8(o.response(110, false, false)).unwrap();
    assert_eq!(whole, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nage: 15\r\n\r\nhello");
    let head = String::from_utf8(o.response(110, false, true)).unwrap();
    assert!(head.ends_with("age: 15\r\n\r\n"), "{head}");
    let nm = String::from_utf8(o.response(110, true, false)).unwrap();
    assert!(nm.starts_with("HTTP/1.1 304 Not Modified\r\n") && nm.ends_with("\r\n\r\n"), "{nm}");
}

#[test]
fn conditional_requests() {
    let tagged = object(b"", &[("ETag", "W/\"v1\""), ("Date", "Thu, 01 Jan 2026 00:00:00 GMT")], 0, 10);
    let h = |v: &[(&str, &str)]| get(v).headers;
    assert!(not_modified(&h(&[("If-None-Match", "\"v1\"")]), &tagged));
    assert!(not_modified(&h(&[("If-None-Match", "\"a\", W/\"v1\"")]), &tagged));
    assert!(not_modified(&h(&[("If-None-Match", "*")]), &tagged));
    assert!(!not_modified(&h(&[("If-None-Match", "\"v2\"")]), &tagged));
    // If-None-Match decides alone when present.
    assert!(!not_modified(&h(&[("If-None-Match", "\"v2\""), ("If-Modified-Since", "Thu, 01 Jan 2099 00:00:00 GMT")]), &tagged));
    // If-Modified-Since against the Date (no Last-Modified).
    assert!(not_modified(&h(&[("If-Modified-Since", "Thu, 01 Jan 2026 00:00:00 GMT")]), &tagged));
    assert!(!not_modified(&h(&[("If-Modified-Since", "Wed, 31 Dec 2025 23:59:59 GMT")]), &tagged));
    assert!(!not_modified(&h(&[("If-Modified-Since", "junk")]), &tagged));
    assert!(!not_modified(&h(&[]), &tagged));
}

#[test]
fn store_evicts_the_least_recently_used_within_its_blocks() {
    let s = Settings { blocks: 3, max_secondary: 10, ..settings() };
    let mut st = Store::default();
    let big = vec![b'x'; 500]; // one block each, bookkeeping included
    let none = Headers::new();
    for k in ["a", "b", "c"] {
        assert!(st.insert(k.into(), vec![], vec![], object(&big, &[], 0, 100), &s));
    }
    assert_eq!(st.used_blocks(), 3);
    assert!(st.lookup("a", &none, 1).is_some()); // "b" is now the oldest
    assert!(st.insert("d".into(), vec![], vec![], object(&big, &[], 0, 100), &s));
    assert_eq!((st.len(), st.used_blocks()), (3, 3));
    assert!(st.lookup("b", &none, 1).is_none());
    assert!(st.lookup("a", &none, 1).is_some() && st.lookup("c", &none, 1).is_some() && st.lookup("d", &none, 1).is_some());
    // Larger than the whole cache: refused, nothing evicted.
    assert!(!st.insert("e".into(), vec![], vec![], object(&vec![b'x'; 4000], &[], 0, 100), &s));
    assert_eq!(st.len(), 3);
    // Replacing a key frees its old blocks first.
    assert!(st.insert("a".into(), vec![], vec![], object(b"small", &[], 0, 100), &s));
    assert_eq!((st.len(), st.used_blocks()), (3, 3));
}

#[test]
fn expired_objects_are_dropped_on_lookup() {
    let s = settings();
    let mut st = Store::default();
    st.insert("a".into(), vec![], vec![], object(b"x", &[], 0, 10), &s);
    let none = Headers::new();
    assert!(st.lookup("a", &none, 9).is_some());
    assert!(st.lookup("a", &none, 10).is_none());
    assert!(st.is_empty() && st.used_blocks() == 0);
}

#[test]
fn variants_follow_the_request_headers_and_are_bounded() {
    let s = settings(); // max_secondary 2
    let mut st = Store::default();
    let names = vec!["accept-encoding"];
    let ae = |v: &str| get(&[("Accept-Encoding", v)]).headers;
    for (v, body) in [("gzip", b"g" as &[u8]), ("br, gzip", b"b")] {
        let sk = secondary_key(&ae(v), &names);
        assert!(st.insert("k".into(), names.clone(), sk, object(body, &[], 0, 100), &s));
    }
    // A third variant is over max-secondary-entries.
    assert!(!st.insert("k".into(), names.clone(), secondary_key(&ae("identity"), &names), object(b"i", &[], 0, 100), &s));
    assert_eq!(st.lookup("k", &ae("GZIP"), 1).unwrap().body, b"g");
    assert_eq!(st.lookup("k", &ae("gzip;q=1, br"), 1).unwrap().body, b"b");
    assert!(st.lookup("k", &ae("deflate"), 1).is_none());
    st.invalidate("k");
    assert!(st.is_empty() && st.used_blocks() == 0);
}

#[test]
fn a_body_is_stored_once_whole_and_dropped_when_too_large() {
    let cache = Arc::new(Cache::new(Settings { max_object: 100, ..settings() }));
    let pending = |cache: &Arc<Cache>, key: &str| {
        let object = object(b"", &[("Content-Length", "10")], unix_now(), unix_now() + 60);
        TxnCache { hit: None, answer: None, pending: Some(Box::new(Pending { cache: cache.clone(), key: key.into(), names: vec![], secondary: vec![], object })) }
    };
    let mut t = pending(&cache, "k");
    on_body(&mut t, b"01234", false);
    assert!(t.storing() && cache.store().is_empty());
    on_body(&mut t, b"56789", true);
    assert!(!t.storing());
    assert_eq!(cache.store().lookup("k", &Headers::new(), unix_now()).unwrap().body, b"0123456789");
    let mut t = pending(&cache, "big");
    on_body(&mut t, &[b'x'; 60], false);
    on_body(&mut t, &[b'x'; 60], false);
    assert!(!t.storing());
    on_body(&mut t, b"", true);
    assert!(cache.store().lookup("big", &Headers::new(), unix_now()).is_none());
}

#[test]
fn settings_resolve_haproxy_defaults() {
    let c = CacheSection {
        name: "c".into(),
        location: crate::config::model::Location { file: "t.cfg".into(), line: 1 },
        total_max_size_mb: 4,
        max_object_size: 0,
        max_age: 60,
        process_vary: false,
        max_secondary_entries: 10,
    };
    let s = Settings::from_section(&c);
    assert_eq!((s.blocks, s.max_object), (4096, 4 * 1024 * 1024 / 256));
}

#[test]
fn the_answer_waits_for_the_end_of_the_request_rules() {
    use crate::http::rules::Verdict;
    let found = || TxnCache { hit: Some(Arc::from("c")), answer: Some(b"HTTP/1.1 200 OK\r\n\r\n".to_vec()), pending: None };
    let mut t = found();
    assert_eq!(after_request_rules(&mut t, &Verdict::Yield(crate::stream::analysers::WaitFor::Forced)), None);
    assert!(t.answer.is_some(), "kept while the rules wait");
    assert!(after_request_rules(&mut t, &Verdict::Continue).is_some());
    assert!(t.hit.is_some() && t.answer.is_none());
    let mut t = found();
    assert_eq!(after_request_rules(&mut t, &Verdict::Deny { status: 403 }), None);
    assert!(t.hit.is_none(), "a denied request was not answered by the cache");
}
