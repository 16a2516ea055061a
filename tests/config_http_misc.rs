//! `capture`, `unique-id-header`, `errorfile`, `errorfiles`, `http-errors` and
//! `option httplog [clf]`: what they put in the model and HAProxy's messages when they
//! are wrong (each expected message was printed by `haproxy -c` 2.6.12 for the same
//! line).

use moonproxy::config::model::*;
use moonproxy::config::{parse_str, ParseOptions};
use moonproxy::http::errors::{default_page, ErrorPages};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

const DEFAULTS: &str =
    "defaults\n  mode http\n  timeout client 1s\n  timeout server 1s\n  timeout connect 1s\n";

/// A new directory with error files (one per call: tests run in parallel).
fn files() -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("moonproxy-errfiles-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let write = |name: &str, body: &[u8]| std::fs::write(dir.join(name), body).unwrap();
    write(
        "503.http",
        b"HTTP/1.0 503 Service Unavailable\r\nContent-Type: text/html\r\n\r\n<b>down</b>\n",
    );
    write(
        "403.http",
        b"HTTP/1.0 403 Forbidden\r\nContent-Length: 2\r\n\r\nno",
    );
    write("404.http", b"HTTP/1.0 404 Not Found\r\n\r\n");
    write("bad.http", b"garbage\n");
    write(
        "cl.http",
        b"HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nabcdef",
    );
    dir
}

/// The configuration text, `DIR` replaced by a new directory of error files.
fn config(body: &str) -> (String, PathBuf) {
    let dir = files();
    (
        format!("{DEFAULTS}{}", body.replace("DIR", dir.to_str().unwrap())),
        dir,
    )
}

fn parse(body: &str) -> Config {
    let (text, dir) = config(body);
    let parsed = parse_str("m.cfg", &text, &ParseOptions::default());
    // The pages were read while parsing.
    let _ = std::fs::remove_dir_all(dir);
    match parsed {
        Ok(l) => l.config,
        Err(d) => panic!(
            "unexpected errors: {:#?}",
            d.iter().map(|d| d.to_string()).collect::<Vec<_>>()
        ),
    }
}

/// Every diagnostic's text, with the test directory written `DIR`.
fn diags(body: &str) -> Vec<String> {
    let (text, dir) = config(body);
    let out = match parse_str("m.cfg", &text, &ParseOptions::default()) {
        Ok(l) => l.diagnostics,
        Err(d) => d,
    };
    let _ = std::fs::remove_dir_all(&dir);
    out.iter()
        .map(|d| d.to_string().replace(dir.to_str().unwrap(), "DIR"))
        .collect()
}

fn page(c: &Config, proxy: &str, status: u16) -> Vec<u8> {
    ErrorPages::from_proxy(c.proxy(proxy).unwrap())
        .page(status)
        .into_owned()
}

#[test]
fn captures_and_unique_id_header() {
    let c = parse(
        "frontend fe\n  bind :8\n  capture request header Host len 5\n  capture request header X-A len x\n  \
         capture response header Content-Type len 10\n  capture cookie SE len 6\n  \
         unique-id-format %{+X}o%ci:%cp\n  unique-id-header X-Unique-ID\n  default_backend be\nbackend be\n",
    );
    let fe = c.proxy("fe").unwrap();
    let names: Vec<(&str, usize)> = fe
        .req_captures
        .iter()
        .map(|c| (c.name.as_str(), c.len))
        .collect();
    assert_eq!(
        names,
        [("Host", 5), ("X-A", 0)],
        "`len x` is 0, as atol reads it"
    );
    assert_eq!(fe.res_captures[0].name, "Content-Type");
    assert_eq!(fe.res_captures[0].location.line, 10);
    assert_eq!(
        fe.capture_cookie.as_ref().map(|c| (c.name.as_str(), c.len)),
        Some(("SE", 6))
    );
    assert_eq!(fe.unique_id_header.as_deref(), Some("X-Unique-ID"));
}

#[test]
fn capture_errors_match_haproxy() {
    for (line, msg) in [
        (
            "capture request header",
            "'capture request' expects 'header' <header_name> 'len' <len>.",
        ),
        (
            "capture request header X-A size 3",
            "'capture request' expects 'header' <header_name> 'len' <len>.",
        ),
        (
            "capture response header X-A len 3 foo",
            "'capture response' cannot handle unexpected argument 'foo'.",
        ),
        (
            "capture foo",
            "'capture' expects 'cookie' or 'request header' or 'response header'.",
        ),
        (
            "capture cookie X len",
            "'capture' expects 'cookie' <cookie_name> 'len' <len>.",
        ),
        ("unique-id-header", "unique-id-header expects an argument."),
    ] {
        let d = diags(&format!(
            "frontend fe\n  bind :8\n  {line}\n  default_backend be\nbackend be\n"
        ));
        assert_eq!(
            d[0],
            format!("config : parsing [m.cfg:8] : {msg}"),
            "{line}"
        );
    }
    let d = diags("backend be\n  capture request header X len 3\n");
    assert_eq!(
        d[0],
        "config : parsing [m.cfg:7] : 'capture' ignored because backend 'be' has no frontend capability."
    );
}

#[test]
fn error_files_replace_default_pages() {
    let c = parse(
        "http-errors site\n  errorfile 403 DIR/403.http\n  errorfile 404 DIR/404.http\n\
         frontend fe\n  bind :8\n  errorfile 503 DIR/503.http\n  default_backend be\n\
         backend be\n  errorfiles site 403\n\
         backend all\n  errorfiles site\n  errorfile 404 DIR/503.http\n",
    );
    assert_eq!(c.http_errors.len(), 1);
    assert_eq!(c.http_errors[0].files.len(), 2);
    assert!(page(&c, "fe", 503).starts_with(b"HTTP/1.0 503 Service Unavailable\r\n"));
    assert_eq!(page(&c, "fe", 403), default_page(403));
    assert_eq!(
        page(&c, "be", 403),
        b"HTTP/1.0 403 Forbidden\r\nContent-Length: 2\r\n\r\nno"
    );
    assert_eq!(
        page(&c, "be", 404),
        default_page(404),
        "only 403 was taken from the section"
    );
    assert_eq!(
        page(&c, "all", 403),
        b"HTTP/1.0 403 Forbidden\r\nContent-Length: 2\r\n\r\nno"
    );
    assert!(
        page(&c, "all", 404).starts_with(b"HTTP/1.0 503"),
        "a later line wins"
    );
}

#[test]
fn error_files_are_inherited_from_defaults() {
    let c = parse(
        "defaults d2\n  mode http\n  errorfile 503 DIR/503.http\nfrontend fe from d2\n  bind :8\n  timeout client 1s\n",
    );
    assert!(page(&c, "fe", 503).starts_with(b"HTTP/1.0 503 Service Unavailable\r\n"));
}

#[test]
fn errorfile_errors_match_haproxy() {
    for (line, msg) in [
        (
            "errorfile 503 DIR/nope.http",
            "errorfile : error opening file 'DIR/nope.http'.",
        ),
        (
            "errorfile 503 DIR/bad.http",
            "errorfile : 'DIR/bad.http': unable to parse headers (error offset: 0)",
        ),
        (
            "errorfile 999 DIR/503.http",
            "errorfile : status code '999' not handled.",
        ),
        (
            "errorfile 414 DIR/503.http",
            "errorfile : status code '414' not handled.",
        ),
        (
            "errorfile abc DIR/503.http",
            "errorfile : status code '0' not handled.",
        ),
        (
            "errorfile 503",
            "errorfile : expects <status_code> and <file> as arguments.",
        ),
        (
            "errorfile 200 DIR/cl.http",
            "errorfile : 'DIR/cl.http': payload size does not match the announced content-length (6 != 3)",
        ),
        ("errorfile 503 DIR", "errorfile : error reading file 'DIR'."),
        ("errorfiles", "errorfiles : expects <name> as argument."),
        (
            "errorfiles x 999",
            "errorfiles : status code '999' not handled.",
        ),
    ] {
        let d = diags(&format!("frontend fe\n  bind :8\n  {line}\n"));
        assert_eq!(
            d[0],
            format!("config : parsing [m.cfg:8] : {msg}"),
            "{line}"
        );
        assert_eq!(
            d.last().unwrap(),
            "config : Fatal errors found in configuration."
        );
    }
}

#[test]
fn errorfiles_resolution_errors_match_haproxy() {
    let d = diags("frontend fe\n  bind :8\n  errorfiles nope\n");
    assert!(
        d.contains(
            &"config : proxy 'fe': unknown http-errors section 'nope' (at m.cfg:8).".to_string()
        ),
        "{d:#?}"
    );
    let d = diags(
        "http-errors e\n  errorfile 503 DIR/503.http\nfrontend fe\n  bind :8\n  errorfiles e 503 404\n  default_backend be\nbackend be\n",
    );
    assert_eq!(
        d[0],
        "config : config: proxy 'fe' : status '404' not declared in http-errors section 'e' (at m.cfg:10)."
    );
}

#[test]
fn http_errors_section_errors_match_haproxy() {
    let d = diags(
        "http-errors\nhttp-errors e\n  errorfile 503 DIR/503.http\nhttp-errors e\n  errorfile 503 DIR/nope.http\n",
    );
    assert_eq!(
        d[0],
        "config : parsing [m.cfg:6] : missing name for http-errors section."
    );
    assert_eq!(
        d[1],
        "config : parsing [m.cfg:9]: http-errors section 'e' already exists (declared at m.cfg:7)."
    );
    let d = diags("http-errors e\n  errorfile 503 DIR/nope.http\n  errorfile 504\n  foo bar\n");
    assert_eq!(
        d[..3],
        [
            "config : parsing [m.cfg:7] : errorfile : error opening file 'DIR/nope.http'.",
            "config : parsing [m.cfg:8]: errorfile: expects <status_code> and <file> as arguments.",
            "config : parsing [m.cfg:9] : unknown keyword 'foo' in 'http-errors' section",
        ]
    );
}

#[test]
fn httplog_and_clf_formats() {
    let c = parse(
        "frontend fe\n  bind :8\n  option httplog\nfrontend clf\n  bind :9\n  option httplog clf\n",
    );
    assert_eq!(
        c.proxy("fe").unwrap().log_format.as_deref(),
        Some(moonproxy::log::HTTPLOG_FORMAT)
    );
    assert_eq!(
        c.proxy("clf").unwrap().log_format.as_deref(),
        Some(moonproxy::log::HTTPLOG_CLF_FORMAT)
    );
    let d = diags("frontend fe\n  bind :8\n  option httplog foo\n");
    assert_eq!(
        d[0],
        "config : parsing [m.cfg:8] : 'option httplog' cannot handle unexpected argument 'foo'."
    );
}

/// Formats are compiled after parsing, for the proxy's mode, as `haproxy -c` does.
#[test]
fn bad_formats_are_config_errors() {
    let d = diags("frontend fe\n  bind :8\n  log stdout local0\n  log-format \"x=%[nope]\"\n  unique-id-format \"%[src,nope]\"\n");
    assert_eq!(
        d[..2],
        [
            "config : Parsing [m.cfg:9]: failed to parse log-format : failed to parse sample expression <nope]> : unknown fetch method 'nope'.",
            "config : Parsing [m.cfg:10]: failed to parse unique-id : failed to parse sample expression <src,nope]> : unknown converter 'nope'.",
        ]
    );
    let d =
        diags("frontend fe\n  mode tcp\n  bind :8\n  log stdout local0\n  log-format \"x=%r\"\n");
    assert_eq!(d[0], "config : Parsing [m.cfg:10]: failed to parse log-format : format variable 'r' is reserved for HTTP mode.");
    // A bad format in `defaults` is reported once, at its line.
    let d = diags("defaults d\n  mode http\n  log-format \"%[nope]\"\nfrontend a from d\n  bind :8\nfrontend b from d\n  bind :9\n");
    let at_line: Vec<&String> = d
        .iter()
        .filter(|m| m.contains("m.cfg:8]: failed"))
        .collect();
    assert_eq!(at_line.len(), 1, "{d:#?}");
    // Valid HTTP formats pass.
    parse("frontend fe\n  bind :8\n  log stdout local0\n  log-format \"%r %[src] %{+Q}[str(a),lower]\"\n  unique-id-format %{+X}o%ci:%cp\n");
}

#[test]
fn errorloc_pages_are_redirects() {
    let c = parse("frontend fe\n  bind :8\n  errorloc 403 http://x/y?a=1\n  errorloc303 503 /sorry\n  errorloc302 504 /s2\n  errorfile 504 DIR/503.http\n");
    assert_eq!(
        page(&c, "fe", 403),
        b"HTTP/1.1 302 Found\r\ncache-control: no-cache\r\ncontent-length: 0\r\nlocation: http://x/y?a=1\r\n\r\n"
    );
    assert!(page(&c, "fe", 503).starts_with(b"HTTP/1.1 303 See Other\r\n"));
    assert!(
        page(&c, "fe", 504).starts_with(b"HTTP/1.0 503"),
        "the later errorfile wins"
    );
    for (line, msg) in [
        (
            "errorloc 403",
            "errorloc : expects <status_code> and <url> as arguments.",
        ),
        (
            "errorloc303",
            "errorloc303 : expects <status_code> and <url> as arguments.",
        ),
        (
            "errorloc 999 /x",
            "errorloc : status code '999' not handled.",
        ),
    ] {
        let d = diags(&format!("frontend fe\n  bind :8\n  {line}\n"));
        assert_eq!(
            d[0],
            format!("config : parsing [m.cfg:8] : {msg}"),
            "{line}"
        );
    }
}
