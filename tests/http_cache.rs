//! The small object cache (`cache` sections, `http-request cache-use`,
//! `http-response cache-store`, `res.cache_hit`, `res.cache_name`, `show cache`) through
//! the real binary, with a backend written here that counts the requests it serves.
//! `what_is_cached_matches_haproxy` runs the same requests on HAProxy 2.6 and compares
//! which were answered by the cache; `configuration_errors_match_haproxy` compares the
//! messages of bad sections.

mod common;

use common::*;
use std::io::Write;
use std::net::TcpStream;
use std::time::Duration;

const CONFIG: &str = "global
    stats socket {{dir}}/cli.sock level admin
defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
cache small
    total-max-size 1
    max-object-size 400000
    max-age 120
cache vary
    total-max-size 4
    process-vary on
    max-secondary-entries 2
listen main
    bind 127.0.0.1:{{main}}
    http-request cache-use small
    http-response cache-store small
    http-response set-header X-Resp-Hit %[res.cache_hit]
    http-after-response set-header X-Hit %[res.cache_hit]
    http-after-response set-header X-Cache-Name %[res.cache_name]
    server s 127.0.0.1:{{app}}
frontend split
    bind 127.0.0.1:{{split}}
    http-request cache-use small
    http-request deny if { req.hdr(x-deny) -m found }
    http-request set-var(txn.after) str(yes)
    http-response cache-store small
    http-response add-header X-After-Store 1
    http-after-response set-header X-After %[var(txn.after)]
    default_backend split_be
backend split_be
    http-response add-header X-Be 1
    server s 127.0.0.1:{{app}}
listen varied
    bind 127.0.0.1:{{varied}}
    http-request cache-use vary
    http-response cache-store vary
    server s 127.0.0.1:{{app}}
";

/// The application server: each request says what it wants in its headers. `X-Len`
/// body bytes (default 5) of a pattern; `X-Status`; `X-Framing: chunked` (chunks of
/// 1000 bytes); each `X-Res: Name: value` becomes a response header. Every response
/// carries `X-Count`, the number of requests served so far, this one included.
fn app() -> Backend {
    Backend::custom(|s: TcpStream, stats| {
        let mut r = HttpReader::new(s);
        while let Ok(Some(head)) = r.read_head() {
            if r.read_body(&head, false, |_| {}).is_err() {
                return;
            }
            stats.add_request();
            let h = |n: &str| head.header(n).map(str::to_string);
            let status: u16 = h("x-status").and_then(|s| s.parse().ok()).unwrap_or(200);
            let len: usize = h("x-len").and_then(|s| s.parse().ok()).unwrap_or(5);
            let head_only = head.line.starts_with("HEAD ");
            let mut out = format!("HTTP/1.1 {status} OK\r\nX-Count: {}\r\n", stats.requests());
            for (k, v) in &head.headers {
                if k == "x-res" {
                    out.push_str(v);
                    out.push_str("\r\n");
                }
            }
            let body: Vec<u8> = (0..len).map(|i| b'a' + (i % 26) as u8).collect();
            let mut wire = Vec::new();
            if h("x-framing").as_deref() == Some("chunked") {
                out.push_str("Transfer-Encoding: chunked\r\n\r\n");
                wire.extend_from_slice(out.as_bytes());
                if !head_only {
                    for part in body.chunks(1000) {
                        wire.extend_from_slice(format!("{:x}\r\n", part.len()).as_bytes());
                        wire.extend_from_slice(part);
                        wire.extend_from_slice(b"\r\n");
                    }
                    wire.extend_from_slice(b"0\r\n\r\n");
                }
            } else {
                out.push_str(&format!("Content-Length: {len}\r\n\r\n"));
                wire.extend_from_slice(out.as_bytes());
                if !head_only {
                    wire.extend_from_slice(&body);
                }
            }
            if r.get_mut().write_all(&wire).is_err() {
                return;
            }
        }
    })
}

fn start(bin: &std::path::Path, app: &Backend) -> Proxy {
    ProxyBuilder::new(CONFIG).bin(bin).port("app", app.port()).start()
}

/// `GET path` (or the method of a first `METHOD` word, `HTTP/1.0` if listed) on a new
/// connection with `headers`; a `HEAD` response is read without its body.
fn send(proxy: &Proxy, listen: &str, path: &str, headers: &[&str]) -> HttpResponse {
    let method = headers.first().filter(|h| !h.contains(':') && !h.starts_with("HTTP/")).copied().unwrap_or("GET");
    let version = if headers.contains(&"HTTP/1.0") { "HTTP/1.0" } else { "HTTP/1.1" };
    let mut req = format!("{method} {path} {version}\r\nHost: cache.test\r\n");
    for h in headers.iter().filter(|h| h.contains(':')) {
        req.push_str(h);
        req.push_str("\r\n");
    }
    if method == "POST" {
        req.push_str("Content-Length: 0\r\n");
    }
    req.push_str("\r\n");
    let mut c = proxy.connect(listen);
    if method != "HEAD" {
        return c.http_request(req.as_bytes());
    }
    c.http_head_request(req.as_bytes())
}

const FRESH: &str = "X-Res: Cache-Control: max-age=60";

#[test]
fn a_fresh_response_is_answered_by_the_proxy() {
    let app = app();
    let proxy = start(&moonproxy_bin(), &app);
    let first = send(&proxy, "main", "/one?q=1", &[FRESH]);
    assert_eq!((first.status, first.header("x-count"), first.header("age")), (200, Some("1"), None), "{}", first.head);
    assert_eq!((first.header("x-hit"), first.header("x-resp-hit")), (Some("0"), Some("0")));
    let second = send(&proxy, "main", "/one?q=1", &[FRESH]);
    assert_eq!(app.stats().requests(), 1, "the second GET reached the server");
    assert_eq!((second.status, second.header("x-count"), second.body.as_slice()), (200, Some("1"), &b"abcde"[..]));
    assert!(second.header("age").is_some_and(|a| a.parse::<u64>().is_ok()), "{}", second.head);
    // The response rules run on it as on HAProxy's cache applet's.
    assert_eq!((second.header("x-hit"), second.header("x-resp-hit"), second.header("x-cache-name")), (Some("1"), Some("1"), Some("small")));
    // Another query string, another object.
    send(&proxy, "main", "/one?q=2", &[FRESH]);
    assert_eq!(app.stats().requests(), 2);
    // HEAD is answered from the stored GET.
    let head = send(&proxy, "main", "/one?q=1", &["HEAD"]);
    assert_eq!((head.status, head.header("x-count"), head.header("content-length")), (200, Some("1"), Some("5")));
    assert_eq!(app.stats().requests(), 2);
    // The response's own Age is kept and grows from there.
    send(&proxy, "main", "/aged", &[FRESH, "X-Res: Age: 30"]);
    let aged = send(&proxy, "main", "/aged", &[]);
    assert!(aged.header("age").and_then(|a| a.parse::<u64>().ok()).is_some_and(|a| (30..40).contains(&a)), "{}", aged.head);
}

#[test]
fn what_is_not_stored_or_not_served() {
    let app = app();
    let proxy = start(&moonproxy_bin(), &app);
    let cases: &[(&str, &[&str], &[&str])] = &[
        ("no-store", &["X-Res: Cache-Control: no-store"], &[]),
        ("private", &["X-Res: Cache-Control: private, max-age=60"], &[]),
        ("no-cache", &["X-Res: Cache-Control: no-cache"], &[]),
        ("pragma", &[FRESH, "X-Res: Pragma: no-cache"], &[]),
        ("set-cookie", &[FRESH, "X-Res: Set-Cookie: id=42"], &[]),
        ("no-freshness", &[], &[]),
        ("vary", &[FRESH, "X-Res: Vary: Accept-Encoding"], &[]),
        ("status-404", &[FRESH, "X-Status: 404"], &[FRESH, "X-Status: 404"]),
        ("authorization", &[FRESH, "Authorization: Basic YTpi"], &[FRESH, "Authorization: Basic YTpi"]),
        ("served-not-to-authorization", &[FRESH], &["Authorization: Basic YTpi"]),
        ("request-no-cache", &[FRESH], &["Cache-Control: no-cache"]),
        ("request-no-store", &[FRESH, "Cache-Control: no-store"], &[]),
        ("post", &["POST", FRESH], &["POST", FRESH]),
        ("http-1.0", &[FRESH, "HTTP/1.0"], &[FRESH]),
        ("too-large", &[FRESH, "X-Len: 500000"], &[]),
        ("too-large-chunked", &[FRESH, "X-Len: 500000", "X-Framing: chunked"], &[]),
    ];
    for (name, first, second) in cases {
        let path = format!("/not/{name}");
        let before = app.stats().requests();
        let a = send(&proxy, "main", &path, first);
        let b = send(&proxy, "main", &path, second);
        assert_eq!(app.stats().requests(), before + 2, "{name}: the second request was answered by the cache\n{}", b.head);
        assert!(a.header("age").is_none() && b.header("age").is_none(), "{name}");
        if name.starts_with("too-large") {
            // Forwarded whole, though not stored.
            assert_eq!(a.body.len(), 500_000, "{name}");
        }
    }
    // Served from the cache once stored, even though the first request was not.
    send(&proxy, "main", "/stored-after-no-cache", &[FRESH, "Cache-Control: no-cache"]);
    let hit = send(&proxy, "main", "/stored-after-no-cache", &[]);
    assert!(hit.header("age").is_some(), "{}", hit.head);
    // A successful POST drops the stored object of its URL.
    send(&proxy, "main", "/invalidated", &[FRESH]);
    assert!(send(&proxy, "main", "/invalidated", &[]).header("age").is_some());
    send(&proxy, "main", "/invalidated", &["POST"]);
    let after = send(&proxy, "main", "/invalidated", &[FRESH]);
    assert!(after.header("age").is_none(), "{}", after.head);
}

#[test]
fn large_and_chunked_bodies_come_back_whole() {
    let app = app();
    let proxy = start(&moonproxy_bin(), &app);
    for framing in ["cl", "chunked"] {
        let path = format!("/big/{framing}");
        let headers = [FRESH, "X-Len: 300000", &format!("X-Framing: {framing}")];
        let first = send(&proxy, "main", &path, &headers);
        let second = send(&proxy, "main", &path, &headers);
        assert!(second.header("age").is_some(), "{framing}: {}", second.head);
        assert_eq!(second.header("transfer-encoding").is_some(), framing == "chunked");
        assert_eq!(first.body, second.body, "{framing}");
        assert_eq!(second.body.len(), 300_000);
    }
    assert_eq!(app.stats().requests(), 2);
}

#[test]
fn the_response_max_age_expires_the_object() {
    let app = app();
    let proxy = start(&moonproxy_bin(), &app);
    let short = "X-Res: Cache-Control: max-age=1";
    send(&proxy, "main", "/short", &[short]);
    // Fresh at least until the end of the next whole second.
    let hit = send(&proxy, "main", "/short", &[short]);
    assert!(hit.header("age").is_some() || app.stats().requests() == 2);
    let before = app.stats().requests();
    std::thread::sleep(Duration::from_millis(2100));
    let stale = send(&proxy, "main", "/short", &[short]);
    assert!(stale.header("age").is_none(), "{}", stale.head);
    assert_eq!(app.stats().requests(), before + 1);
}

#[test]
fn conditional_requests_are_answered_304() {
    let app = app();
    let proxy = start(&moonproxy_bin(), &app);
    send(&proxy, "main", "/etag", &[FRESH, "X-Res: ETag: \"v1\""]);
    let nm = send(&proxy, "main", "/etag", &["If-None-Match: \"v0\", \"v1\""]);
    assert_eq!((nm.status, nm.body.len(), nm.header("etag")), (304, 0, Some("\"v1\"")), "{}", nm.head);
    let other = send(&proxy, "main", "/etag", &["If-None-Match: \"v2\""]);
    assert_eq!((other.status, other.body.as_slice()), (200, &b"abcde"[..]));
    send(&proxy, "main", "/lm", &[FRESH, "X-Res: Last-Modified: Thu, 01 Jan 2026 00:00:00 GMT"]);
    let ims = send(&proxy, "main", "/lm", &["If-Modified-Since: Thu, 01 Jan 2026 00:00:00 GMT"]);
    assert_eq!(ims.status, 304);
    let older = send(&proxy, "main", "/lm", &["If-Modified-Since: Wed, 31 Dec 2025 00:00:00 GMT"]);
    assert_eq!(older.status, 200);
    assert_eq!(app.stats().requests(), 2);
}

#[test]
fn variants_with_process_vary() {
    let app = app();
    let proxy = start(&moonproxy_bin(), &app);
    let vary = "X-Res: Vary: Accept-Encoding";
    let gzip = send(&proxy, "varied", "/v", &[FRESH, vary, "Accept-Encoding: gzip"]);
    let br = send(&proxy, "varied", "/v", &[FRESH, vary, "Accept-Encoding: br"]);
    assert_eq!((gzip.header("x-count"), br.header("x-count")), (Some("1"), Some("2")));
    let gzip_again = send(&proxy, "varied", "/v", &["Accept-Encoding: gzip"]);
    let br_again = send(&proxy, "varied", "/v", &["Accept-Encoding: br"]);
    assert_eq!((gzip_again.header("x-count"), br_again.header("x-count")), (Some("1"), Some("2")));
    // A third variant is over max-secondary-entries: forwarded, not stored.
    send(&proxy, "varied", "/v", &[FRESH, vary, "Accept-Encoding: deflate"]);
    send(&proxy, "varied", "/v", &[FRESH, vary, "Accept-Encoding: deflate"]);
    assert_eq!(app.stats().requests(), 4);
    // Varying on a header HAProxy does not vary on: not stored.
    send(&proxy, "varied", "/ua", &[FRESH, "X-Res: Vary: User-Agent"]);
    send(&proxy, "varied", "/ua", &[FRESH, "X-Res: Vary: User-Agent"]);
    assert_eq!(app.stats().requests(), 6);
}

/// `small` holds 1 MiB: a fourth object of 300 kB pushes out the least recently used.
#[test]
fn the_least_recently_used_object_is_evicted_and_show_cache_lists_them() {
    let app = app();
    let proxy = start(&moonproxy_bin(), &app);
    let big = [FRESH, "X-Len: 300000"];
    for p in ["/e1", "/e2", "/e3"] {
        send(&proxy, "main", p, &big);
    }
    assert!(send(&proxy, "main", "/e1", &[]).header("age").is_some()); // /e2 is now the oldest
    send(&proxy, "main", "/e4", &big);
    assert_eq!(app.stats().requests(), 4);
    for p in ["/e1", "/e3", "/e4"] {
        assert!(send(&proxy, "main", p, &[]).header("age").is_some(), "{p} was evicted");
    }
    assert!(send(&proxy, "main", "/e2", &[]).header("age").is_none(), "/e2 was kept");
    let shown = cli(&proxy.dir().join("cli.sock"), "show cache\n");
    let lines: Vec<&str> = shown.lines().filter(|l| !l.is_empty()).collect();
    // `small` with its three objects, then `vary`, empty.
    assert_eq!(lines.len(), 5, "{shown}");
    assert!(lines[0].starts_with("0x") && lines[0].contains(": small (shctx:0x") && lines[0].ends_with(')'), "{shown}");
    let free: usize = lines[0].split("available blocks:").nth(1).unwrap().trim_end_matches(')').parse().unwrap();
    assert!(free < 1024 - 3 * 293, "{shown}");
    for l in &lines[1..4] {
        let words: Vec<&str> = l.split(' ').collect();
        assert!(words[0].starts_with("0x") && words[1].starts_with("hash:") && words[2] == "vary:0x0000000000000000", "{l}");
        assert!(l.contains(" blocks), refcount:0, expire:"), "{l}");
        let expire: i64 = l.rsplit("expire:").next().unwrap().parse().unwrap();
        assert!((50..=60).contains(&expire), "{l}");
    }
    assert!(lines[4].contains(": vary (shctx:0x"), "{shown}");
    // Admin only, as in HAProxy.
    assert!(cli(&proxy.dir().join("cli.sock"), "operator\nshow cache\n").contains("Permission denied"));
}

/// `age: N` as `age: B+` where B is N rounded down to the step's base age (0, or the 10
/// the server sent): both proxies count whole seconds since the object was stored, so a
/// second boundary crossed between the store and the hit adds one, on a loaded machine
/// for either of them.
fn age_to_the_second(line: String) -> String {
    let Some(n) = line.strip_prefix("age: ").and_then(|n| n.parse::<u64>().ok()) else { return line };
    let base = if n >= 10 { 10 } else { 0 };
    assert!(n - base <= 1, "age {n}: more than a second after the store");
    format!("age: {base}+")
}

/// Which requests HAProxy 2.6 and moonproxy answer from the cache, and the response
/// heads of the hits (names without case, `date`-like values aside), for the same
/// sequence on the same configuration.
#[test]
fn what_is_cached_matches_haproxy() {
    let steps: &[(&str, &[&str])] = &[
        ("/m/a", &[FRESH]),
        ("/m/a", &[]),
        ("/m/a", &["HEAD"]),
        ("/m/a", &["HTTP/1.0"]),
        ("/m/a", &["Cache-Control: no-cache"]),
        ("/m/a", &["Pragma: no-cache"]),
        ("/m/a", &["Authorization: Basic YTpi"]),
        ("/m/etag", &["X-Res: ETag: \"x\""]),
        ("/m/etag", &["If-None-Match: W/\"x\""]),
        ("/m/etag", &["If-None-Match: \"y\""]),
        ("/m/lm", &["X-Res: Last-Modified: Thu, 01 Jan 2026 00:00:00 GMT"]),
        ("/m/lm", &["If-Modified-Since: Thu, 01 Jan 2026 00:00:00 GMT"]),
        ("/m/expires", &["X-Res: Expires: Thu, 01 Jan 2099 00:00:00 GMT"]),
        ("/m/expires", &[]),
        ("/m/none", &[]),
        ("/m/none", &[]),
        ("/m/public", &["X-Res: Cache-Control: public"]),
        ("/m/public", &[]),
        ("/m/smax0", &["X-Res: Cache-Control: s-maxage=0"]),
        ("/m/smax0", &[]),
        ("/m/301", &[FRESH, "X-Status: 301"]),
        ("/m/301", &[]),
        ("/m/chunked", &[FRESH, "X-Framing: chunked"]),
        ("/m/chunked", &[]),
        ("/m/vary", &[FRESH, "X-Res: Vary: Accept-Encoding"]),
        ("/m/vary", &[]),
        ("/m/age", &[FRESH, "X-Res: Age: 10"]),
        ("/m/age", &[]),
    ];
    let mut runs = Vec::new();
    for bin in moonproxy_and_haproxy() {
        let app = app();
        let proxy = start(&bin, &app);
        let mut seen = Vec::new();
        // The last ones on a frontend answering from the cache before its backend: what
        // was stored (at `cache-store`), which response rules run again on a hit, and
        // the request rules after `cache-use` (they still run; a `deny` wins).
        let split: &[(&str, &[&str])] = &[("/s/a", &[FRESH]), ("/s/a", &[]), ("/s/a", &["X-Deny: 1"])];
        let all = steps.iter().map(|s| ("main", s)).chain(split.iter().map(|s| ("split", s)));
        for (listen, (path, headers)) in all {
            let before = app.stats().requests();
            let res = send(&proxy, listen, path, headers);
            let from_cache = app.stats().requests() == before;
            let lines: Vec<String> = res.header_lines().into_iter().map(age_to_the_second).collect();
            seen.push((format!("{path} {headers:?}"), res.status, from_cache, lines, res.body.len()));
        }
        runs.push((bin, seen));
    }
    assert_runs_agree(&runs);
}

#[test]
fn configuration_errors_match_haproxy() {
    let frontend = "defaults\n    mode http\n    timeout client 1s\n    timeout server 1s\n    timeout connect 1s\nfrontend f\n    bind 127.0.0.1:{{fe}}\n";
    let cases: &[(&str, &str)] = &[
        ("cache c\n    max-age 10\n", "Size not specified for cache 'c'"),
        ("cache c\n    total-max-size 0\n", "Size not specified for cache 'c'"),
        ("cache c\n    total-max-size 5000\n", "proxy.cfg:2]: \"total-max-size\" (5000) must not be greater than 4095"),
        ("cache c\n    total-max-size abc\n", "proxy.cfg:2]: total-max-size wrong value 'abc'"),
        ("cache c\n    total-max-size 1\n    max-object-size 600000\n", "\"max-object-size\" is limited to an half of \"total-max-size\" => 524288"),
        ("cache c\n    total-max-size 1\n    max-object-size x\n", "proxy.cfg:3]: max-object-size wrong value 'x'"),
        ("cache c\n    total-max-size 1\n    max-secondary-entries 0\n", "proxy.cfg:3]: max-secondary-entries wrong value '0'"),
        ("cache c\n    total-max-size 1\n    bogus 1\n", "proxy.cfg:3] : unknown keyword 'bogus' in 'cache' section"),
        ("cache c\n    total-max-size 1 2\n", "proxy.cfg:2] : 'total-max-size' cannot handle unexpected argument '2'."),
        ("cache\n", "proxy.cfg:1] : 'cache' expects a <name> argument"),
        ("cache c\n    total-max-size 1\ncache c\n    total-max-size 1\n", "proxy.cfg:3]: Duplicate cache name 'c'."),
        ("cache c\n    total-max-size 1\n{F}    http-request cache-use nope\n", "config: frontend 'f': unable to find the cache 'nope' referenced by the filter 'cache'."),
        ("cache c\n    total-max-size 1\n{F}    http-response cache-store nope\n", "config: frontend 'f': unable to find the cache 'nope' referenced by the filter 'cache'."),
        ("cache c\n    total-max-size 1\n{F}    http-request cache-use\n", "while parsing 'http-request cache-use' rule : expects a cache name."),
        ("cache c\n    total-max-size 1\n{F}    http-request cache-use c foo\n", "'http-request cache-use' expects either 'if' or 'unless' followed by a condition but found 'foo'."),
    ];
    for bin in moonproxy_and_haproxy() {
        for (cfg, message) in cases {
            let cfg = if cfg.contains("{F}") { cfg.replace("{F}", frontend) } else { format!("{cfg}{frontend}") };
            let out = ProxyBuilder::new(&cfg).bin(&bin).flags(["-c"]).run();
            assert_ne!(out.code(), Some(0), "{}: {cfg}", bin.display());
            assert!(out.stderr.contains(message), "{}: {cfg}\nwanted {message}\n{}", bin.display(), out.stderr);
        }
        // Warnings only: the configuration is valid.
        let cfg = format!("cache c\n    total-max-size 1\n    max-age\n    process-vary maybe\n{frontend}    http-request cache-use c if TRUE\n    http-response cache-store c unless FALSE\n");
        let out = ProxyBuilder::new(&cfg).bin(&bin).flags(["-c"]).run();
        assert_eq!(out.code(), Some(0), "{}: {}", bin.display(), out.stderr);
        assert!(out.stderr.contains("'max-age' expects an age parameter in seconds."), "{}", out.stderr);
        assert!(out.stderr.contains("'process-vary' expects \"on\" or \"off\" (enable or disable vary processing)."), "{}", out.stderr);
    }
}

/// The proxy's resident memory (`VmRSS`, kB).
fn rss_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("the proxy runs");
    status.lines().find_map(|l| l.strip_prefix("VmRSS:")).unwrap().trim().trim_end_matches("kB").trim().parse().unwrap()
}

/// 8 MB of cacheable responses through a 1 MiB cache: what it keeps stays within its
/// blocks, and the process grows by little more than the cache's size.
#[test]
fn memory_stays_bounded_by_total_max_size() {
    let app = app();
    let proxy = start(&moonproxy_bin(), &app);
    // Warm-up: buffers and allocator arenas the traffic needs anyway.
    for i in 0..20 {
        send(&proxy, "main", &format!("/warm/{i}"), &[FRESH, "X-Len: 300000"]);
    }
    let before = rss_kb(proxy.pid());
    for i in 0..1100 {
        send(&proxy, "main", &format!("/small/{i}"), &[FRESH, "X-Len: 100"]);
    }
    for i in 0..24 {
        send(&proxy, "main", &format!("/large/{i}"), &[FRESH, "X-Len: 300000"]);
    }
    let after = rss_kb(proxy.pid());
    let shown = cli(&proxy.dir().join("cli.sock"), "show cache\n");
    let small = shown.lines().next().unwrap();
    let free: usize = small.split("available blocks:").nth(1).unwrap().trim_end_matches(')').parse().unwrap();
    let objects = shown.lines().take_while(|l| !l.contains(": vary (")).count() - 1;
    let held: usize = shown
        .lines()
        .take(objects + 1)
        .skip(1)
        .map(|l| l.split(" (").nth(1).unwrap().split(' ').next().unwrap().parse::<usize>().unwrap())
        .sum();
    assert_eq!(held + free, 1024, "{small}");
    assert!(objects > 0 && objects < 1100, "{objects} objects");
    eprintln!("cache memory: RSS {before} kB -> {after} kB, {objects} objects in {held} blocks");
    assert!(after.saturating_sub(before) < 6 * 1024, "RSS grew from {before} kB to {after} kB");
}

/// Hits keep the client's connection, and pipelined requests are answered in order,
/// from the cache or from the server.
#[test]
fn hits_keep_the_connection_alive_and_in_order() {
    let app = app();
    let proxy = start(&moonproxy_bin(), &app);
    let mut c = proxy.connect("main");
    let get = |path: &str| format!("GET {path} HTTP/1.1\r\nHost: cache.test\r\nX-Res: Cache-Control: max-age=60\r\n\r\n");
    let first = c.http_request(get("/ka").as_bytes());
    assert_eq!(first.header("x-count"), Some("1"));
    c.send(format!("{}{}{}", get("/ka"), get("/ka-other"), get("/ka")).as_bytes());
    let answers: Vec<HttpResponse> = (0..3).map(|_| c.read_http_response()).collect();
    let counts: Vec<Option<&str>> = answers.iter().map(|r| r.header("x-count")).collect();
    assert_eq!(counts, [Some("1"), Some("2"), Some("1")]);
    let ages: Vec<bool> = answers.iter().map(|r| r.header("age").is_some()).collect();
    assert_eq!(ages, [true, false, true]);
    assert!(answers.iter().all(|r| r.header("connection").is_none() && r.body == b"abcde"));
    assert_eq!(app.stats().requests(), 2);
}
