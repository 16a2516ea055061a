//! Cookie-based server persistence (`cookie <name> insert|rewrite|prefix ...`, server
//! `cookie <value>`), side by side with HAProxy 2.6 on the same configuration: which
//! server answers, the `Cookie` header it sees, the `Set-Cookie` and `Cache-control`
//! headers the client gets, and the persistence letters of `%tsc` in the `option
//! httplog` line must be the same. Each scenario also asserts what HAProxy does, so the
//! test checks moonproxy alone when HAProxy is not installed.

mod common;

use common::*;
use std::io::Write;
use std::net::TcpStream;
use std::path::Path;

const CONFIG: &str = "global
    log stdout format raw local0
defaults
    mode http
    log global
    option httplog
    timeout connect 1s
    timeout client 5s
    timeout server 5s
listen ins
    bind 127.0.0.1:{{ins}}
    cookie SRV insert indirect nocache
    server s1 127.0.0.1:{{s1}} cookie a
    server s2 127.0.0.1:{{s2}} cookie b
listen post
    bind 127.0.0.1:{{post}}
    cookie SRV insert postonly httponly secure domain .example.com domain .example.org attr SameSite=Lax
    server s1 127.0.0.1:{{s1}} cookie a
    server s2 127.0.0.1:{{s2}} cookie b
listen keep
    bind 127.0.0.1:{{keep}}
    cookie SRV insert preserve
    server s1 127.0.0.1:{{s1}} cookie a
    server s2 127.0.0.1:{{s2}} cookie b
listen pf
    bind 127.0.0.1:{{pf}}
    cookie JS prefix
    server s1 127.0.0.1:{{s1}} cookie a
    server s2 127.0.0.1:{{s2}} cookie b
listen rw
    bind 127.0.0.1:{{rw}}
    cookie JS rewrite
    server s1 127.0.0.1:{{s1}} cookie a
    server s2 127.0.0.1:{{s2}} cookie b
listen pers
    bind 127.0.0.1:{{pers}}
    option persist
    option redispatch
    retries 1
    cookie SRV insert
    server s1 127.0.0.1:{{dead}} cookie a check inter 100ms fall 1
    server s2 127.0.0.1:{{s2}} cookie b
listen persnr
    bind 127.0.0.1:{{persnr}}
    option persist
    retries 1
    cookie SRV insert
    server s1 127.0.0.1:{{dead}} cookie a check inter 100ms fall 1
    server s2 127.0.0.1:{{s2}} cookie b
listen pmaint
    bind 127.0.0.1:{{pmaint}}
    option persist
    cookie SRV insert
    server s1 127.0.0.1:{{s1}} cookie a disabled
    server s2 127.0.0.1:{{s2}} cookie b
listen mi
    bind 127.0.0.1:{{mi}}
    cookie SRV insert indirect maxidle 2s maxlife 10s
    server s1 127.0.0.1:{{s1}} cookie a
    server s2 127.0.0.1:{{s2}} cookie b
listen mu
    bind 127.0.0.1:{{mu}}
    cookie SRV insert maxidle 20
    server s1 127.0.0.1:{{s1}} cookie a
    server s2 127.0.0.1:{{s2}} cookie b
listen q
    bind 127.0.0.1:{{q}}
    cookie SRV insert
    server s1 127.0.0.1:{{s1}} cookie a maxconn 1
    server s2 127.0.0.1:{{s2}} cookie b
listen passive
    bind 127.0.0.1:{{passive}}
    cookie SRV
    server s1 127.0.0.1:{{s1}} cookie a
    server s2 127.0.0.1:{{s2}} cookie b
listen ind
    bind 127.0.0.1:{{ind}}
    cookie SRV indirect
    server s1 127.0.0.1:{{s1}} cookie a
    server s2 127.0.0.1:{{s2}} cookie b
listen dn
    bind 127.0.0.1:{{dn}}
    cookie SRV insert indirect
    server s1 127.0.0.1:{{dead}} cookie a check inter 100ms fall 1
    server s2 127.0.0.1:{{s2}} cookie b
listen drain
    bind 127.0.0.1:{{drain}}
    cookie SRV insert
    server s1 127.0.0.1:{{s1}} cookie a weight 0
    server s2 127.0.0.1:{{s2}} cookie b
listen redisp
    bind 127.0.0.1:{{redisp}}
    option redispatch
    retries 1
    cookie SRV insert
    server s1 127.0.0.1:{{dead}} cookie a
    server s2 127.0.0.1:{{s2}} cookie b
";

/// A server that answers `<name> cookie=<its Cookie header or ->` and copies each
/// `X-Res: <name>: <value>` request header into its response, after `X-Delay`
/// milliseconds if the request says so.
fn app(name: &'static str) -> Backend {
    Backend::custom(move |s: TcpStream, _stats| {
        let mut r = HttpReader::new(s);
        while let Ok(Some(head)) = r.read_head() {
            if r.read_body(&head, false, |_| {}).is_err() {
                return;
            }
            if let Some(ms) = head.header("x-delay").and_then(|d| d.parse().ok()) {
                std::thread::sleep(std::time::Duration::from_millis(ms));
            }
            let cookie = head.header("cookie").unwrap_or("-");
            let body = format!("{name} cookie={cookie}");
            let mut out = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n", body.len());
            for (k, v) in &head.headers {
                if k == "x-res" {
                    out.push_str(v);
                    out.push_str("\r\n");
                }
            }
            out.push_str("\r\n");
            out.push_str(&body);
            if r.get_mut().write_all(out.as_bytes()).is_err() {
                return;
            }
        }
    })
}

/// A `Set-Cookie` value with its dates (`|` and 5 characters each) shown as `|date`:
/// they depend on the second the answer was made.
fn masked_dates(cookie: &str) -> String {
    let (value, attrs) = cookie.split_once(';').unwrap_or((cookie, ""));
    let mut parts = value.split('|');
    let mut out = parts.next().unwrap_or_default().to_string();
    for date in parts {
        assert_eq!(date.len(), 5, "a date is 5 characters: {cookie}");
        out.push_str("|date");
    }
    if !attrs.is_empty() {
        out.push(';');
        out.push_str(attrs);
    }
    out
}

/// The cookie a server received with its dates shown as `|date`, as in [`masked_dates`].
fn masked_body_dates(body: &str) -> String {
    let mut parts = body.split('|');
    let mut out = parts.next().unwrap_or_default().to_string();
    for part in parts {
        out.push_str("|date");
        out.push_str(part.get(5..).unwrap_or_default());
    }
    out
}

/// `<value>|<last seen>|<first>` as a proxy stamps a cookie, the dates `ago_last` and
/// `ago_first` seconds ago: 30 bits of 4-second units, 6 bits per character.
fn stamped(value: &str, ago_last: u64, ago_first: u64) -> String {
    const DIGITS: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let date = |ago: u64| -> String { [24, 18, 12, 6, 0].iter().map(|s| DIGITS[((((now - ago) >> 2) >> s) & 63) as usize] as char).collect() };
    format!("{value}|{}|{}", date(ago_last), date(ago_first))
}

/// What one exchange showed.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Seen {
    /// `<server> cookie=<what it received>`.
    body: String,
    set_cookie: Vec<String>,
    cache_control: Vec<String>,
    /// `%b/%s` and `%tsc` of the log line.
    logged: String,
}

fn exchange(proxy: &Proxy, listen: &str, method: &str, headers: &[&str]) -> Seen {
    let mark = proxy.mark();
    let s = TcpStream::connect(proxy.addr(listen)).unwrap();
    s.set_read_timeout(Some(DEADLINE)).unwrap();
    let mut c = HttpReader::new(s);
    let mut req = format!("{method} / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n");
    for h in headers {
        req.push_str(h);
        req.push_str("\r\n");
    }
    req.push_str(if method == "POST" { "Content-Length: 2\r\n\r\nhi" } else { "\r\n" });
    c.get_mut().write_all(req.as_bytes()).unwrap();
    let head = c.read_head().unwrap().expect("a response");
    let mut body = Vec::new();
    c.read_body(&head, false, |b| body.extend_from_slice(b)).unwrap();
    let all = |n: &str| head.headers.iter().filter(|(k, _)| k == n).map(|(_, v)| v.to_ascii_lowercase()).collect::<Vec<_>>();
    let line = proxy.wait_for_line_after(mark, |l| l.contains(&format!("] {listen} ")) && l.contains('"'), DEADLINE);
    let words: Vec<&str> = line.split(' ').collect();
    Seen {
        body: masked_body_dates(&String::from_utf8_lossy(&body)),
        set_cookie: all("set-cookie").iter().map(|c| masked_dates(c)).collect(),
        cache_control: all("cache-control"),
        logged: format!("{} {}", words[3], words[9]),
    }
}

/// The scenarios, in order, on a fresh proxy: what each showed.
fn run(bin: &Path) -> Vec<Seen> {
    let (s1, s2) = (app("s1"), app("s2"));
    let dead = RefusingPort::new();
    // The listens' ports are picked by the harness (and waited for).
    let proxy = ProxyBuilder::new(CONFIG).bin(bin).port("s1", s1.port()).port("s2", s2.port()).port("dead", dead.port()).start();
    let mut seen = Vec::new();
    let mut see = |listen: &str, method: &str, headers: &[&str]| {
        let s = exchange(&proxy, listen, method, headers);
        seen.push(s.clone());
        s
    };

    // insert indirect nocache: the first answer sets the cookie, later requests with it
    // reach that server, without the cookie and without a new one.
    let first = see("ins", "GET", &[]);
    assert_eq!(first.logged, "ins/s1 --NI");
    assert_eq!(first.set_cookie, ["srv=a; path=/"]);
    assert!(first.cache_control.is_empty(), "a response no cache would keep gets no Cache-control");
    for _ in 0..3 {
        let again = see("ins", "GET", &["Cookie: x=1; SRV=a; y=2"]);
        assert_eq!(again.logged, "ins/s1 --VN");
        assert_eq!(again.body, "s1 cookie=x=1; y=2", "indirect: the server does not see the cookie");
        assert!(again.set_cookie.is_empty());
    }
    let b = see("ins", "GET", &["Cookie: SRV=b"]);
    assert_eq!((b.logged.as_str(), b.body.as_str()), ("ins/s2 --VN", "s2 cookie=-"));
    // An unknown value: load balanced, a new cookie, the old one stripped.
    let unknown = see("ins", "GET", &["Cookie: SRV=zz"]);
    assert!(unknown.logged.ends_with(" --II"), "{unknown:?}");
    assert_eq!(unknown.set_cookie.len(), 1);
    assert!(unknown.body.ends_with("cookie=-"));
    // nocache on a response a cache could keep.
    let cached = see("ins", "GET", &["X-Res: Expires: Thu, 01 Dec 2099 16:00:00 GMT"]);
    assert_eq!(cached.cache_control, ["private"]);
    // The server's own cookie of that name is removed.
    let own = see("ins", "GET", &["Cookie: SRV=a", "X-Res: Set-Cookie: SRV=own"]);
    assert_eq!((own.logged.as_str(), own.set_cookie.len()), ("ins/s1 --VD", 0));

    // postonly and the attributes.
    let get = see("post", "GET", &[]);
    assert_eq!((get.logged.ends_with(" --NN"), get.set_cookie.len()), (true, 0));
    let post = see("post", "POST", &[]);
    assert!(post.logged.ends_with(" --NI"));
    assert_eq!(post.set_cookie.len(), 1);
    assert!(post.set_cookie[0].ends_with("; path=/; domain=.example.com; domain=.example.org; httponly; secure; samesite=lax"), "{post:?}");

    // preserve: the server's own cookie stays, none is inserted.
    let kept = see("keep", "GET", &["X-Res: Set-Cookie: SRV=mine; path=/x"]);
    assert!(kept.logged.ends_with(" --NP"));
    assert_eq!(kept.set_cookie, ["srv=mine; path=/x"]);
    let valid = see("keep", "GET", &["Cookie: SRV=b"]);
    assert_eq!((valid.logged.as_str(), valid.body.as_str()), ("keep/s2 --VN", "s2 cookie=SRV=b"));

    // prefix: the server's cookie gets `<value>~`, which requests lose again.
    let set = see("pf", "GET", &["X-Res: Set-Cookie: JS=abc; path=/"]);
    assert_eq!((set.logged.as_str(), set.set_cookie.clone()), ("pf/s1 --NR", vec!["js=a~abc; path=/".to_string()]));
    let back = see("pf", "GET", &["Cookie: a=1; JS=b~abc"]);
    assert_eq!((back.logged.as_str(), back.body.as_str()), ("pf/s2 --VN", "s2 cookie=a=1; JS=abc"));
    let renew = see("pf", "GET", &["Cookie: JS=b~abc", "X-Res: Set-Cookie: JS=new"]);
    assert_eq!((renew.logged.as_str(), renew.set_cookie.clone()), ("pf/s2 --VR", vec!["js=b~new".to_string()]));
    let junk = see("pf", "GET", &["Cookie: JS=zz"]);
    assert!(junk.logged.ends_with(" --IN") && junk.body.ends_with("cookie=JS=zz"), "{junk:?}");

    // rewrite: the server's cookie value is replaced; requests keep theirs.
    let rw = see("rw", "GET", &["X-Res: Set-Cookie: JS=abc; path=/"]);
    assert_eq!((rw.logged.as_str(), rw.set_cookie.clone()), ("rw/s1 --NR", vec!["js=a; path=/".to_string()]));
    let rw = see("rw", "GET", &["Cookie: JS=b"]);
    assert_eq!((rw.logged.as_str(), rw.body.as_str()), ("rw/s2 --VN", "s2 cookie=JS=b"));

    // No mode: the application's own cookie directs requests, nothing is inserted,
    // and HAProxy logs no letters.
    let passive = see("passive", "GET", &[]);
    assert_eq!((passive.logged.ends_with(" ----"), passive.set_cookie.len()), (true, 0));
    let passive = see("passive", "GET", &["Cookie: SRV=b", "X-Res: Set-Cookie: SRV=x"]);
    assert_eq!((passive.logged.as_str(), passive.set_cookie.clone()), ("passive/s2 ----", vec!["srv=x".to_string()]));
    // `indirect` alone: the cookie stays in the request, the server's is removed from
    // the answer to a client that presented a valid one.
    let ind = see("ind", "GET", &["Cookie: SRV=b", "X-Res: Set-Cookie: SRV=x"]);
    assert_eq!((ind.logged.as_str(), ind.body.as_str(), ind.set_cookie.len()), ("ind/s2 --VD", "s2 cookie=SRV=b", 0));
    let ind = see("ind", "GET", &["X-Res: Set-Cookie: SRV=x"]);
    assert!(ind.logged.ends_with(" --NP") && ind.set_cookie == ["srv=x"], "{ind:?}");

    // maxidle / maxlife: inserted cookies carry their dates; a cookie idle too long
    // (E) or too old (O) is ignored; a valid one gets a fresh last-seen date (U).
    let first = see("mi", "GET", &[]);
    assert_eq!((first.logged.ends_with(" --NI"), first.set_cookie.len()), (true, 1));
    assert!(first.set_cookie[0].ends_with("|date|date; path=/"), "{first:?}");
    let idle = see("mi", "GET", &[&format!("Cookie: SRV={}", stamped("a", 9, 0))]);
    assert!(idle.logged.ends_with(" --EI") && idle.body.ends_with("cookie=-"), "{idle:?}");
    let old = see("mi", "GET", &[&format!("Cookie: SRV={}", stamped("b", 0, 30))]);
    assert!(old.logged.ends_with(" --OI"), "{old:?}");
    let refreshed = see("mu", "GET", &[&format!("Cookie: SRV={}", stamped("b", 8, 8))]);
    assert_eq!((refreshed.logged.as_str(), refreshed.set_cookie.clone()), ("mu/s2 --VU", vec!["srv=b|date; path=/".to_string()]));
    let undated = see("mu", "GET", &["Cookie: SRV=a"]);
    assert_eq!((undated.logged.as_str(), undated.set_cookie.clone()), ("mu/s1 --VU", vec!["srv=a|date; path=/".to_string()]));
    // Without maxidle, a dated cookie is given back without its dates.
    let dated = see("drain", "GET", &[&format!("Cookie: SRV={}", stamped("b", 8, 8))]);
    assert_eq!((dated.logged.as_str(), dated.set_cookie.clone()), ("drain/s2 --VU", vec!["srv=b; path=/".to_string()]));

    // A down server's cookie: load balanced to another, whose cookie is inserted.
    proxy.wait_for_line(|l| l.contains("dn/s1 is DOWN"), DEADLINE);
    let down = see("dn", "GET", &["Cookie: SRV=a"]);
    assert_eq!((down.logged.as_str(), down.set_cookie.clone()), ("dn/s2 --DI", vec!["srv=b; path=/".to_string()]));

    // A server at weight 0 (drain) keeps its sticky clients, and only them.
    for _ in 0..2 {
        let sticky = see("drain", "GET", &["Cookie: SRV=a"]);
        assert_eq!(sticky.logged, "drain/s1 --VN");
    }
    let fresh = see("drain", "GET", &[]);
    assert_eq!(fresh.logged, "drain/s2 --NI");

    // `option persist`: the cookie still directs requests to a down server (logged
    // `D`); `option redispatch` then moves them when it refuses, else they fail.
    proxy.wait_for_line(|l| l.contains("pers/s1 is DOWN"), DEADLINE);
    proxy.wait_for_line(|l| l.contains("persnr/s1 is DOWN"), DEADLINE);
    let moved = see("pers", "GET", &["Cookie: SRV=a"]);
    assert_eq!((moved.logged.as_str(), moved.set_cookie.clone()), ("pers/s2 --DI", vec!["srv=b; path=/".to_string()]));
    let failed = see("persnr", "GET", &["Cookie: SRV=a"]);
    assert_eq!(failed.logged, "persnr/s1 SCDN");
    let maint = see("pmaint", "GET", &["Cookie: SRV=a"]);
    assert_eq!((maint.logged.as_str(), maint.body.as_str()), ("pmaint/s1 --DN", "s1 cookie=SRV=a"));

    // The cookie's server refuses: `option redispatch` sends the request elsewhere,
    // logged as a down server's cookie, and the new server's cookie is inserted.
    let moved = see("redisp", "GET", &["Cookie: SRV=a"]);
    assert_eq!((moved.logged.as_str(), moved.set_cookie.clone()), ("redisp/s2 --DI", vec!["srv=b; path=/".to_string()]));

    // At its maxconn the cookie's server queues the request, which it serves once
    // free; the other server is not used.
    let slow = std::thread::scope(|scope| {
        let slow = scope.spawn(|| exchange(&proxy, "q", "GET", &["Cookie: SRV=a", "X-Delay: 400"]));
        std::thread::sleep(std::time::Duration::from_millis(100));
        let mark = proxy.mark();
        // A POST, to tell its log line from the other.
        let queued = exchange(&proxy, "q", "POST", &["Cookie: SRV=a"]);
        let line = proxy.wait_for_line_after(mark, |l| l.contains("] q q/s1 ") && l.contains("\"POST "), DEADLINE);
        (slow.join().unwrap(), queued, line)
    });
    assert_eq!((slow.0.logged.as_str(), slow.1.logged.as_str()), ("q/s1 --VN", "q/s1 --VN"));
    // `%Tw`, the time spent queued, is not 0. (`%sq` is not compared: HAProxy counts
    // a request that waited alone as 1, moonproxy's queues as 0, for any queued
    // request, with or without persistence.)
    let words: Vec<&str> = slow.2.split(' ').collect();
    assert_ne!(words[4].split('/').nth(1), Some("0"), "{}", slow.2);
    seen.push(slow.0);
    seen.push(slow.1);
    seen
}

#[test]
fn cookie_persistence_behaves_as_haproxys() {
    let runs: Vec<(String, Vec<Seen>)> = moonproxy_and_haproxy().iter().map(|bin| (bin.display().to_string(), run(bin))).collect();
    if let [(_, ours), (haproxy, theirs)] = &runs[..] {
        for (i, (a, b)) in ours.iter().zip(theirs).enumerate() {
            assert_eq!(a, b, "exchange {i}: moonproxy (left) and {haproxy} (right) differ");
        }
    }
}

#[test]
fn cookie_configuration_errors_read_as_haproxys() {
    for (line, message) in [
        ("cookie", "'cookie' expects <cookie_name> as argument."),
        ("cookie SRV foo", "'cookie' supports 'rewrite', 'insert', 'prefix', 'indirect', 'nocache', 'postonly', 'domain', 'maxidle', 'dynamic', 'maxlife' and 'attr' options."),
        ("cookie SRV insert rewrite", "cookie 'rewrite', 'insert' and 'prefix' modes are incompatible."),
        ("cookie SRV rewrite indirect", "cookie 'rewrite' and 'indirect' modes are incompatible."),
        ("cookie SRV rewrite preserve", "cookie 'preserve' requires at least 'insert' or 'indirect'."),
        ("cookie SRV insert domain", "'domain' expects <domain> as argument."),
        ("cookie SRV insert attr a;b", "character '%x3B' is not permitted in attribute value."),
        ("cookie SRV insert maxidle", "'maxidle' expects <idletime> in seconds as argument."),
        ("cookie SRV insert maxlife 10x", "unexpected character 'x' in argument to <maxlife>."),
        ("server s9 127.0.0.1:1 cookie", "'server b/s9' : 'cookie' expects <value> as argument.."),
    ] {
        let config = format!("defaults\n    mode http\n    timeout connect 1s\n    timeout client 1s\n    timeout server 1s\nbackend b\n    {line}\n    server s1 127.0.0.1:1 cookie a\n");
        for bin in moonproxy_and_haproxy() {
            let out = ProxyBuilder::new(&config).bin(&bin).arg("-c").timeout(DEADLINE).run();
            assert_ne!(out.code(), Some(0), "{line}: {} accepted it", bin.display());
            assert!(out.stderr.contains(message), "{line}: {}:\n{}", bin.display(), out.stderr);
        }
    }
}
