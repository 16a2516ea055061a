//! Table tests for the head parsers: every accept and reject rule, each input also fed
//! split at every byte boundary (see `feed_all_ways`).

use super::*;
use crate::http::h1::ErrorKind::*;

type Outcome<T> = std::result::Result<(T, usize), ParseError>;

/// Parses `input` whole, then byte by byte, then split in two at every boundary, and
/// checks that every way gives the same answer. Returns it.
fn feed_all_ways<T: PartialEq + std::fmt::Debug, P>(
    input: &[u8],
    new: impl Fn() -> P,
    parse: impl Fn(&mut P, &[u8]) -> Result<Status<T>>,
) -> Outcome<T> {
    let finish = |s: Result<Status<T>>| -> Option<Outcome<T>> {
        match s {
            Ok(Status::Partial) => None,
            Ok(Status::Complete(m, n)) => Some(Ok((m, n))),
            Err(e) => Some(Err(e)),
        }
    };
    let whole = finish(parse(&mut new(), input))
        .unwrap_or_else(|| panic!("incomplete: {:?}", String::from_utf8_lossy(input)));
    // Byte by byte: the first answer that is not Partial must be the same.
    let mut p = new();
    let mut incremental = None;
    for k in 1..=input.len() {
        if let Some(r) = finish(parse(&mut p, &input[..k])) {
            incremental = Some(r);
            break;
        }
    }
    assert_eq!(incremental.as_ref(), Some(&whole), "byte-by-byte differs");
    // Two pieces.
    for k in 0..input.len() {
        let mut p = new();
        let r = finish(parse(&mut p, &input[..k])).or_else(|| finish(parse(&mut p, input)));
        assert_eq!(r.as_ref(), Some(&whole), "split at {k} differs");
    }
    whole
}

fn req_with(input: &[u8], limits: Limits) -> Outcome<Request> {
    feed_all_ways(input, || RequestParser::new(limits), |p, b| p.parse(b))
}

fn req(input: &[u8]) -> Outcome<Request> {
    req_with(input, Limits::default())
}

fn res_to(method: Method, input: &[u8]) -> Outcome<Response> {
    feed_all_ways(
        input,
        || ResponseParser::new(Limits::default(), method.clone()),
        |p, b| p.parse(b),
    )
}

fn res(input: &[u8]) -> Outcome<Response> {
    res_to(Method::Get, input)
}

fn expect_err<T: std::fmt::Debug>(r: Outcome<T>, kind: ErrorKind, offset: u64) {
    match r {
        Err(e) => assert_eq!((e.kind, e.offset), (kind, offset), "{e}"),
        Ok(m) => panic!("accepted, expected {kind:?}: {m:?}"),
    }
}

/// `name: input => framing;` : the request is accepted whole, with that framing.
macro_rules! req_accepts {
    ($($name:ident: $input:expr => $framing:expr;)*) => {$(
        #[test]
        fn $name() {
            let input: &[u8] = $input;
            let (r, n) = req(input).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(n, input.len());
            assert_eq!(r.framing, $framing);
        }
    )*};
}

/// `name: input => Kind @ offset;` : the request is rejected so.
macro_rules! req_rejects {
    ($($name:ident: $input:expr => $kind:ident @ $off:expr;)*) => {$(
        #[test]
        fn $name() {
            expect_err(req($input), $kind, $off);
            assert!($kind.status() >= 400);
        }
    )*};
}

macro_rules! res_accepts {
    ($($name:ident: $method:ident $input:expr => $framing:expr;)*) => {$(
        #[test]
        fn $name() {
            let input: &[u8] = $input;
            let (r, n) = res_to(Method::$method, input).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(n, input.len());
            assert_eq!(r.framing, $framing);
        }
    )*};
}

macro_rules! res_rejects {
    ($($name:ident: $input:expr => $kind:ident @ $off:expr;)*) => {$(
        #[test]
        fn $name() {
            expect_err(res($input), $kind, $off);
        }
    )*};
}

use BodyFraming::{Chunked, ContentLength, UntilClose};
const NO_BODY: BodyFraming = BodyFraming::None;

req_accepts! {
    get_simple: b"GET / HTTP/1.1\r\nHost: a\r\n\r\n" => NO_BODY;
    get_http10_no_host: b"GET /x?y=1 HTTP/1.0\r\n\r\n" => NO_BODY;
    leading_empty_lines_skipped: b"\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n" => NO_BODY;
    absolute_form: b"GET http://example.com:8080/a?b HTTP/1.1\r\nHost: example.com:8080\r\n\r\n" => NO_BODY;
    absolute_form_no_path: b"GET https://[::1]:8443 HTTP/1.1\r\n\r\n" => NO_BODY;
    asterisk_options: b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n" => NO_BODY;
    connect_authority: b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n" => NO_BODY;
    extension_method: b"PROPFIND /dav HTTP/1.1\r\n\r\n" => NO_BODY;
    content_length: b"POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\n" => ContentLength(5);
    content_length_zero: b"POST / HTTP/1.1\r\ncontent-length: 0\r\n\r\n" => ContentLength(0);
    content_length_duplicates_collapse: b"POST / HTTP/1.1\r\nContent-Length: 7\r\nContent-Length: 7, 7\r\n\r\n" => ContentLength(7);
    content_length_max: b"POST / HTTP/1.1\r\nContent-Length: 18446744073709551615\r\n\r\n" => ContentLength(u64::MAX);
    chunked: b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n" => Chunked;
    chunked_case_insensitive: b"POST / HTTP/1.1\r\ntransfer-encoding: CHUNKED\r\n\r\n" => Chunked;
    gzip_then_chunked: b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n" => Chunked;
    codings_over_two_lines: b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: ,chunked\r\n\r\n" => Chunked;
    http_1_2_is_1_1: b"GET / HTTP/1.2\r\n\r\n" => NO_BODY;
    empty_value_and_tabs: b"GET / HTTP/1.1\r\nX-Empty:\r\nX-Tab:\t a b \t\r\n\r\n" => NO_BODY;
    obs_text_in_value: b"GET / HTTP/1.1\r\nX: caf\xc3\xa9 \xff\r\n\r\n" => NO_BODY;
    uri_chars_haproxy_accepts: b"GET /a|b{c}\"d<e>^`\\ HTTP/1.1\r\n\r\n" => NO_BODY;
}

req_rejects! {
    // start line
    double_space_after_method: b"GET  / HTTP/1.1\r\n\r\n" => BadRequestLine @ 4;
    no_version: b"GET /\r\n\r\n" => BadRequestLine @ 5;
    method_only: b"GET\r\n\r\n" => BadRequestLine @ 3;
    line_starts_with_space: b" GET / HTTP/1.1\r\n\r\n" => BadRequestLine @ 0;
    method_with_paren: b"G(T / HTTP/1.1\r\n\r\n" => BadMethod @ 1;
    method_with_tab: b"GET\t/ HTTP/1.1\r\n\r\n" => BadMethod @ 3;
    method_with_nul: b"GE\0T / HTTP/1.1\r\n\r\n" => BadMethod @ 2;
    target_fragment: b"GET /a#b HTTP/1.1\r\n\r\n" => BadTarget @ 6;
    target_nul: b"GET /a\0 HTTP/1.1\r\n\r\n" => BadTarget @ 6;
    target_non_ascii: b"GET /\xc3\xa9 HTTP/1.1\r\n\r\n" => BadTarget @ 5;
    target_no_form: b"GET index.html HTTP/1.1\r\n\r\n" => BadTarget @ 4;
    target_userinfo: b"GET http://user@host/ HTTP/1.1\r\n\r\n" => BadTarget @ 15;
    target_empty_authority: b"GET http:///x HTTP/1.1\r\n\r\n" => BadTarget @ 11;
    connect_without_port: b"CONNECT example.com HTTP/1.1\r\n\r\n" => BadTarget @ 8;
    connect_empty_port: b"CONNECT example.com: HTTP/1.1\r\n\r\n" => BadTarget @ 8;
    asterisk_with_get: b"GET * HTTP/1.1\r\n\r\n" => BadTargetForm @ 4;
    connect_origin_form: b"CONNECT / HTTP/1.1\r\n\r\n" => BadTargetForm @ 8;
    connect_absolute_form: b"CONNECT http://a:1/ HTTP/1.1\r\n\r\n" => BadTargetForm @ 8;
    version_lowercase: b"GET / http/1.1\r\n\r\n" => BadVersion @ 6;
    version_short: b"GET / HTTP/1\r\n\r\n" => BadVersion @ 6;
    version_trailing_space: b"GET / HTTP/1.1 \r\n\r\n" => BadVersion @ 6;
    version_two_digits: b"GET / HTTP/1.10\r\n\r\n" => BadVersion @ 6;
    version_2: b"GET / HTTP/2.0\r\n\r\n" => UnsupportedVersion @ 6;
    version_0_9: b"GET / HTTP/0.9\r\n\r\n" => UnsupportedVersion @ 6;
    // line endings and bytes
    bare_lf_request_line: b"GET / HTTP/1.1\nHost: a\n\n" => BareLf @ 14;
    bare_lf_header: b"GET / HTTP/1.1\r\nHost: a\n\r\n" => BareLf @ 23;
    bare_lf_empty_line: b"GET / HTTP/1.1\r\nHost: a\r\n\n" => BareLf @ 25;
    bare_cr_in_value: b"GET / HTTP/1.1\r\nX: a\rb\r\n\r\n" => BareCr @ 20;
    bare_cr_in_request_line: b"GET /\r HTTP/1.1\r\n\r\n" => BareCr @ 5;
    bare_cr_as_line_end: b"GET / HTTP/1.1\r\nX: a\rY: b\r\n\r\n" => BareCr @ 20;
    bare_cr_in_name: b"GET / HTTP/1.1\r\nX\rY: b\r\n\r\n" => BareCr @ 17;
    nul_in_value: b"GET / HTTP/1.1\r\nX: a\0b\r\n\r\n" => ControlChar @ 20;
    del_in_value: b"GET / HTTP/1.1\r\nX: a\x7f\r\n\r\n" => ControlChar @ 20;
    escape_in_value: b"GET / HTTP/1.1\r\nX: \x1b[1m\r\n\r\n" => ControlChar @ 19;
    nul_in_name: b"GET / HTTP/1.1\r\nX\0Y: a\r\n\r\n" => ControlChar @ 17;
    nul_in_name_no_colon: b"GET / HTTP/1.1\r\nX\0Y\r\n\r\n" => ControlChar @ 17;
    tab_inside_name: b"GET / HTTP/1.1\r\nX\tY: a\r\n\r\n" => BadHeaderName @ 17;
    paren_in_name: b"GET / HTTP/1.1\r\nX(Y: a\r\n\r\n" => BadHeaderName @ 17;
    non_ascii_name: b"GET / HTTP/1.1\r\nX\xc3\xa9: a\r\n\r\n" => BadHeaderName @ 17;
    empty_name: b"GET / HTTP/1.1\r\n: a\r\n\r\n" => BadHeaderName @ 16;
    space_inside_name: b"GET / HTTP/1.1\r\nX Y: a\r\n\r\n" => BadHeaderName @ 17;
    space_before_colon: b"GET / HTTP/1.1\r\nHost : a\r\n\r\n" => SpaceBeforeColon @ 20;
    tab_before_colon: b"GET / HTTP/1.1\r\nHost\t: a\r\n\r\n" => SpaceBeforeColon @ 20;
    missing_colon: b"GET / HTTP/1.1\r\nHost a\r\n\r\n" => BadHeaderName @ 20;
    missing_colon_token: b"GET / HTTP/1.1\r\nHosta\r\n\r\n" => MissingColon @ 21;
    obs_fold: b"GET / HTTP/1.1\r\nX: a\r\n b\r\n\r\n" => ObsFold @ 22;
    obs_fold_tab: b"GET / HTTP/1.1\r\nX: a\r\n\tb\r\n\r\n" => ObsFold @ 22;
    whitespace_first_header: b"GET / HTTP/1.1\r\n Host: a\r\n\r\n" => ObsFold @ 16;
    multiple_host: b"GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n" => MultipleHost @ 25;
    host_not_the_authority: b"GET http://a.example/p HTTP/1.1\r\nHost: b.example\r\n\r\n" => HostMismatch @ 33;
    // framing
    cl_and_te: b"POST / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n" => ContentLengthWithTransferEncoding @ 36;
    te_and_cl: b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n" => ContentLengthWithTransferEncoding @ 45;
    cl_plus_sign: b"POST / HTTP/1.1\r\nContent-Length: +5\r\n\r\n" => BadContentLength @ 17;
    cl_hex: b"POST / HTTP/1.1\r\nContent-Length: 0x5\r\n\r\n" => BadContentLength @ 17;
    cl_empty: b"POST / HTTP/1.1\r\nContent-Length:\r\n\r\n" => BadContentLength @ 17;
    cl_inner_space: b"POST / HTTP/1.1\r\nContent-Length: 1 2\r\n\r\n" => BadContentLength @ 17;
    cl_overflow: b"POST / HTTP/1.1\r\nContent-Length: 18446744073709551616\r\n\r\n" => BadContentLength @ 17;
    cl_differ_in_list: b"POST / HTTP/1.1\r\nContent-Length: 5, 6\r\n\r\n" => ConflictingContentLength @ 17;
    cl_differ_over_lines: b"POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n" => ConflictingContentLength @ 36;
    te_http10: b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n" => TransferEncodingHttp10 @ 17;
    get_http10_payload: b"GET / HTTP/1.0\r\nContent-Length: 4\r\n\r\n" => PayloadWithMethod @ 37;
    head_http10_payload: b"HEAD / HTTP/1.0\r\nContent-Length: 1\r\n\r\n" => PayloadWithMethod @ 38;
    delete_http10_chunked: b"DELETE / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n" => PayloadWithMethod @ 49;
    get_http10_bad_length: b"GET / HTTP/1.0\r\nContent-Length: x\r\n\r\n" => BadContentLength @ 16;
    te_gzip_only: b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n" => TransferEncodingNotChunked @ 17;
    te_chunked_not_last: b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n" => TransferEncodingNotChunked @ 17;
    te_chunked_twice: b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n" => BadTransferEncoding @ 17;
    te_unknown: b"POST / HTTP/1.1\r\nTransfer-Encoding: foo, chunked\r\n\r\n" => UnknownTransferCoding @ 17;
    te_empty: b"POST / HTTP/1.1\r\nTransfer-Encoding:\r\n\r\n" => BadTransferEncoding @ 17;
    te_bad_token: b"POST / HTTP/1.1\r\nTransfer-Encoding: \"chunked\"\r\n\r\n" => BadTransferEncoding @ 17;
}

/// HAProxy 2.6's rule: an HTTP/1.0 GET, HEAD or DELETE with a payload is refused
/// unless `h1-accept-payload-with-any-method`; an empty one, other methods and
/// HTTP/1.1 pass.
#[test]
fn http10_payloads_by_method() {
    let parse = |input: &[u8], accept: bool| {
        feed_all_ways(input, || RequestParser::new(Limits::default()).accept_payload_with_any_method(accept), |p, b| p.parse(b))
            .map(|(r, _)| r.framing)
            .map_err(|e| e.kind)
    };
    assert_eq!(parse(b"GET / HTTP/1.0\r\nContent-Length: 0\r\n\r\n", false), Ok(BodyFraming::ContentLength(0)));
    assert_eq!(parse(b"GET / HTTP/1.1\r\nContent-Length: 4\r\n\r\n", false), Ok(BodyFraming::ContentLength(4)));
    assert_eq!(parse(b"OPTIONS / HTTP/1.0\r\nContent-Length: 4\r\n\r\n", false), Ok(BodyFraming::ContentLength(4)));
    assert_eq!(parse(b"GET / HTTP/1.0\r\nContent-Length: 4\r\n\r\n", true), Ok(BodyFraming::ContentLength(4)));
    // With the option, Transfer-Encoding in HTTP/1.0 is the usual 400.
    assert_eq!(parse(b"GET / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", true), Err(TransferEncodingHttp10));
    assert_eq!(PayloadWithMethod.status(), 413);
}

#[test]
fn statuses_of_kinds() {
    assert_eq!(UriTooLong.status(), 414);
    assert_eq!(HeadTooLarge.status(), 431);
    assert_eq!(TooManyHeaders.status(), 431);
    assert_eq!(UnknownTransferCoding.status(), 501);
    assert_eq!(UnsupportedVersion.status(), 505);
    assert_eq!(ContentLengthWithTransferEncoding.status(), 400);
}

#[test]
fn header_count_limit() {
    // The start line counts: `max_headers: 4` allows three field lines.
    let limits = Limits {
        max_headers: 4,
        ..Limits::default()
    };
    let ok = b"GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n";
    assert_eq!(req_with(ok, limits).unwrap().0.headers.len(), 3);
    let over = b"GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n";
    expect_err(req_with(over, limits), TooManyHeaders, 34);
    // The default is HAProxy's tune.http.maxhdr: 100 field lines pass, 101 do not
    // (checked against HAProxy 2.6).
    let mut many = b"GET / HTTP/1.1\r\n".to_vec();
    for i in 0..100 {
        many.extend_from_slice(format!("X-{i}: v\r\n").as_bytes());
    }
    let mut over = many.clone();
    many.extend_from_slice(b"\r\n");
    assert!(RequestParser::new(Limits::default())
        .parse(&many)
        .is_ok_and(|s| matches!(s, Status::Complete(..))));
    over.extend_from_slice(b"X-last: v\r\n\r\n");
    let e = RequestParser::new(Limits::default())
        .parse(&over)
        .unwrap_err();
    assert_eq!(e.kind, TooManyHeaders);
}

#[test]
fn head_size_limit() {
    let input = b"GET /abc HTTP/1.1\r\nHost: a\r\n\r\n"; // 30 bytes
    let exact = Limits {
        max_head: input.len(),
        ..Limits::default()
    };
    assert!(req_with(input, exact).is_ok());
    // One byte short: the request line fits, the head does not.
    let short = Limits {
        max_head: input.len() - 1,
        ..Limits::default()
    };
    expect_err(req_with(input, short), HeadTooLarge, 29);
    // The request line itself does not fit: 414.
    let tiny = Limits {
        max_head: 10,
        ..Limits::default()
    };
    expect_err(req_with(input, tiny), UriTooLong, 10);
    // A never-ending line is cut at the limit, not buffered forever.
    let endless = vec![b'a'; 100];
    let e = RequestParser::new(tiny).parse(&endless).unwrap_err();
    assert_eq!((e.kind, e.offset), (UriTooLong, 10));
    // Bytes after a complete head do not count.
    let mut pipelined = input.to_vec();
    pipelined.extend_from_slice(&[b'x'; 100]);
    let mut p = RequestParser::new(exact);
    assert!(matches!(p.parse(&pipelined), Ok(Status::Complete(_, 30))));
}

#[test]
fn request_fields_preserved() {
    let input = b"POST http://h/p?q HTTP/1.1\r\nHost: h\r\nX-A: 1\r\nx-a:  2  \r\nContent-Length: 3\r\n\r\nabc";
    let (r, n) = req(input).unwrap();
    assert_eq!(n, input.len() - 3);
    assert_eq!(r.line.method, Method::Post);
    assert_eq!(r.line.target, "http://h/p?q");
    assert_eq!(r.line.form, TargetForm::Absolute);
    assert_eq!(r.line.version, Version::Http11);
    let names: Vec<_> = r.headers.iter().map(|h| h.name.as_str()).collect();
    assert_eq!(names, ["Host", "X-A", "x-a", "Content-Length"]);
    assert_eq!(r.headers.nth("X-A", 1), Some(&b"2"[..]));
    assert_eq!(r.framing, ContentLength(3));
    assert!(r.keep_alive());
}

#[test]
fn connection_semantics_of_requests() {
    let (r, _) = req(b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n").unwrap();
    assert!(r.keep_alive());
    let (r, _) = req(b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n").unwrap();
    assert!(!r.keep_alive());
    let (r, _) =
        req(b"GET /ws HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n").unwrap();
    assert_eq!(r.upgrade(), Some(&b"websocket"[..]));
    let (r, _) =
        req(b"POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n").unwrap();
    assert!(r.expects_continue());
    let (r, _) = req(b"GET / HTTP/1.0\r\nExpect: 100-continue\r\n\r\n").unwrap();
    assert!(!r.expects_continue());
}

#[test]
fn unknown_method_case_is_kept() {
    let (r, _) = req(b"get / HTTP/1.1\r\n\r\n").unwrap();
    assert_eq!(r.line.method, Method::Other("get".into()));
}

res_accepts! {
    res_content_length: Get b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n" => ContentLength(3);
    res_chunked: Get b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" => Chunked;
    res_until_close: Get b"HTTP/1.1 200 OK\r\n\r\n" => UntilClose;
    res_final_coding_gzip_until_close: Get b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n" => UntilClose;
    res_unknown_coding_forwarded: Get b"HTTP/1.1 200 OK\r\nTransfer-Encoding: br, chunked\r\n\r\n" => Chunked;
    res_to_head: Head b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n" => NO_BODY;
    res_204: Get b"HTTP/1.1 204 No Content\r\n\r\n" => NO_BODY;
    res_304_with_length: Get b"HTTP/1.1 304 Not Modified\r\nContent-Length: 99\r\n\r\n" => NO_BODY;
    res_100: Post b"HTTP/1.1 100 Continue\r\n\r\n" => NO_BODY;
    res_101: Get b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n" => NO_BODY;
    res_connect_200: Connect b"HTTP/1.1 200 Connection established\r\n\r\n" => NO_BODY;
    res_connect_403_has_body: Connect b"HTTP/1.1 403 Forbidden\r\nContent-Length: 2\r\n\r\n" => ContentLength(2);
    res_no_reason: Get b"HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n" => ContentLength(0);
    res_empty_reason: Get b"HTTP/1.0 404 \r\nContent-Length: 0\r\n\r\n" => ContentLength(0);
    res_reason_obs_text: Get b"HTTP/1.1 200 \xc3\x89t\xc3\xa9\r\nContent-Length: 0\r\n\r\n" => ContentLength(0);
}

res_rejects! {
    res_status_two_digits: b"HTTP/1.1 20 OK\r\n\r\n" => BadStatus @ 9;
    res_status_four_digits: b"HTTP/1.1 2000 OK\r\n\r\n" => BadStatus @ 12;
    res_status_letters: b"HTTP/1.1 abc OK\r\n\r\n" => BadStatus @ 9;
    res_status_below_100: b"HTTP/1.1 099 OK\r\n\r\n" => BadStatus @ 9;
    res_no_status: b"HTTP/1.1\r\n\r\n" => BadStatus @ 8;
    res_bad_version: b"HTTX/1.1 200 OK\r\n\r\n" => BadVersion @ 0;
    res_version_2: b"HTTP/2 200 OK\r\n\r\n" => BadVersion @ 0;
    res_nul_in_reason: b"HTTP/1.1 200 O\0K\r\n\r\n" => ControlChar @ 14;
    res_leading_empty_line: b"\r\nHTTP/1.1 200 OK\r\n\r\n" => BadVersion @ 0;
    res_cl_and_te: b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n" => ContentLengthWithTransferEncoding @ 45;
    res_cl_conflict: b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n" => ConflictingContentLength @ 36;
    res_te_http10: b"HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" => TransferEncodingHttp10 @ 17;
    res_chunked_not_last_twice: b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n" => BadTransferEncoding @ 17;
    res_obs_fold: b"HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n" => ObsFold @ 23;
    res_space_before_colon: b"HTTP/1.1 200 OK\r\nContent-Length : 3\r\n\r\n" => SpaceBeforeColon @ 31;
    res_bare_lf: b"HTTP/1.1 200 OK\nContent-Length: 0\n\n" => BareLf @ 15;
    res_conflict_even_without_body: b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\nTransfer-Encoding: chunked\r\n\r\n" => ContentLengthWithTransferEncoding @ 44;
}

#[test]
fn response_fields_and_keep_alive() {
    let (r, n) =
        res(b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nhi").unwrap();
    assert_eq!(n, 62);
    assert_eq!(r.line.status, 200);
    assert_eq!(r.line.reason, b"OK");
    assert!(r.keep_alive());
    let (r, _) = res(b"HTTP/1.1 200 OK\r\n\r\n").unwrap();
    assert!(
        !r.keep_alive(),
        "a body read until close ends the connection"
    );
    let (r, _) = res_to(Method::Post, b"HTTP/1.1 100 Continue\r\n\r\n").unwrap();
    assert!(r.is_interim());
}

#[test]
fn heads_round_trip_through_write_head() {
    let (r, _) = req(b"\r\nPOST http://h/p HTTP/1.2\r\nHost:h\r\nX:  a b\t\r\nTransfer-Encoding: chunked\r\n\r\n").unwrap();
    let mut out = Vec::new();
    r.write_head(&mut out);
    assert_eq!(
        out,
        b"POST http://h/p HTTP/1.1\r\nHost: h\r\nX: a b\r\nTransfer-Encoding: chunked\r\n\r\n"
    );
    assert_eq!(req(&out).unwrap().0, r);
    let (r, _) = res(b"HTTP/1.0 404\r\nContent-Length:0\r\n\r\n").unwrap();
    let mut out = Vec::new();
    r.write_head(&mut out);
    assert_eq!(out, b"HTTP/1.0 404 \r\nContent-Length: 0\r\n\r\n");
    assert_eq!(res(&out).unwrap().0, r);
}

/// What HAProxy 2.6 accepts for an absolute-form target with a Host header (checked live):
/// the same host in any case, with or without the scheme's default port.
#[test]
fn host_matching_the_authority_is_accepted() {
    for (target, host) in [
        ("http://h0.example.com/p", "h0.example.com"),
        ("http://h0.example.com/p", "H0.Example.COM"),
        ("http://h0.example.com:80/p", "h0.example.com"),
        ("http://h0.example.com/p", "h0.example.com:80"),
        ("http://h0.example.com:8080/p", "h0.example.com:8080"),
        ("https://h0.example.com:443/p", "h0.example.com"),
    ] {
        let head = format!("GET {target} HTTP/1.1\r\nHost: {host}\r\n\r\n");
        assert!(req(head.as_bytes()).is_ok(), "{target} with Host {host}");
    }
    let head = b"GET http://h0.example.com:8080/p HTTP/1.1\r\nHost: h0.example.com\r\n\r\n";
    assert!(req(head).is_err(), "a different port is a different authority");
}

/// `option accept-invalid-http-request|response`: the bytes it lets through, and the
/// rules that stay (whitespace before the colon, NUL, non-ASCII names, framing).
#[test]
fn accept_invalid_relaxes_names_and_targets_only() {
    let req = |input: &str, lenient: bool| {
        feed_all_ways(
            input.as_bytes(),
            || RequestParser::new(Limits::default()).accept_invalid(lenient),
            |p, b| p.parse(b),
        )
        .map(|(r, _)| r)
    };
    let kind = |r: std::result::Result<Request, ParseError>| r.err().map(|e| e.kind);
    for (input, strict) in [
        ("GET / HTTP/1.1\r\nX_F{o: 1\r\n\r\n", BadHeaderName),
        ("GET / HTTP/1.1\r\nX\"o: 1\r\n\r\n", BadHeaderName),
        ("GET / HTTP/1.1\r\nX o: 1\r\n\r\n", BadHeaderName),
        ("GET / HTTP/1.1\r\nX\x01o: 1\r\n\r\n", ControlChar),
        ("GET /a#b HTTP/1.1\r\n\r\n", BadTarget),
        ("GET /é HTTP/1.1\r\n\r\n", BadTarget),
    ] {
        assert_eq!(kind(req(input, false)), Some(strict), "{input:?}");
        assert!(req(input, true).is_ok(), "{input:?} is accepted with the option");
    }
    let names: Vec<String> = req("GET / HTTP/1.1\r\nX{o: 1\r\n\r\n", true).unwrap().headers.iter().map(|h| h.name.clone()).collect();
    assert_eq!(names, ["X{o"]);
    for (input, still) in [
        ("GET / HTTP/1.1\r\nContent-Length : 5\r\n\r\n", SpaceBeforeColon),
        ("GET / HTTP/1.1\r\nX\0o: 1\r\n\r\n", ControlChar),
        ("GET / HTTP/1.1\r\n: 1\r\n\r\n", BadHeaderName),
        ("GET /a\x7f HTTP/1.1\r\n\r\n", BadTarget),
        ("GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", ConflictingContentLength),
    ] {
        assert_eq!(kind(req(input, true)), Some(still), "{input:?}");
    }
    let res = |lenient: bool| {
        ResponseParser::new(Limits::default(), Method::Get).accept_invalid(lenient).parse(b"HTTP/1.1 200 OK\r\nX{o: 1\r\n\r\n").map(|_| ())
    };
    assert_eq!(res(false).map_err(|e| e.kind), Err(BadHeaderName));
    assert!(res(true).is_ok());
}
