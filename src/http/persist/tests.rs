use super::*;
use crate::config::model::{Location, Server, ServerAddr};
use crate::http::{BodyFraming, RequestLine, StatusLine, TargetForm, Version};

/// A date for the tests, in seconds.
const NOW: u32 = 1_795_678_950;

impl PersistTxn {
    /// The request's verdict, as the tests below name it.
    fn cookie(&self) -> RequestCookie {
        match (self.req, self.target) {
            (b'V', Some(srv)) => RequestCookie::Server(srv),
            (b'I', _) => RequestCookie::Unknown,
            (b'E', _) => RequestCookie::Expired,
            (b'O', _) => RequestCookie::Old,
            _ => RequestCookie::Absent,
        }
    }
}

fn backend(conf: CookieConf) -> CookiePersist {
    let loc = Location { file: "t.cfg".into(), line: 1 };
    let addr = ServerAddr::Inet { ip: [127, 0, 0, 1].into(), port: Some(80) };
    let mut s1 = Server::new("s1", loc.clone(), addr.clone());
    s1.cookie = Some("a".into());
    let mut s2 = Server::new("s2", loc.clone(), addr.clone());
    s2.cookie = Some("b".into());
    let s3 = Server::new("s3", loc, addr);
    let p = Proxy { cookie: Some(conf), servers: vec![s1, s2, s3], ..Proxy::default() };
    CookiePersist::from_proxy(&p).expect("a cookie line")
}

fn conf(mode: CookieMode) -> CookieConf {
    CookieConf { name: "SRV".into(), mode, ..CookieConf::default() }
}

fn request(method: Method, cookies: &[&str]) -> Request {
    let mut headers = Headers::new();
    for c in cookies {
        headers.add("Cookie", c.as_bytes().to_vec());
    }
    Request {
        line: RequestLine { method, target: "/".into(), form: TargetForm::Origin, version: Version::Http11 },
        headers,
        framing: BodyFraming::None,
    }
}

fn response(status: u16, headers: &[(&str, &str)]) -> Response {
    let mut h = Headers::new();
    for (n, v) in headers {
        h.add(n.to_string(), v.as_bytes().to_vec());
    }
    Response {
        line: StatusLine { version: Version::Http11, status, reason: b"OK".to_vec() },
        headers: h,
        framing: BodyFraming::None,
    }
}

fn set_cookies(res: &Response) -> Vec<String> {
    res.headers.get_all("set-cookie").map(|v| String::from_utf8_lossy(v).into_owned()).collect()
}

#[test]
fn request_cookie_finds_the_server_and_indirect_strips_it() {
    let cp = backend(CookieConf { indirect: true, ..conf(CookieMode::Insert) });
    let mut req = request(Method::Get, &["x=1; SRV=b; y=2"]);
    assert_eq!(cp.on_request(&mut req, NOW).cookie(), RequestCookie::Server(1));
    assert_eq!(req.headers.get("cookie"), Some(&b"x=1; y=2"[..]));
    let mut req = request(Method::Get, &["SRV=zz"]);
    assert_eq!(cp.on_request(&mut req, NOW).cookie(), RequestCookie::Unknown);
    assert!(!req.headers.contains("cookie"), "an emptied Cookie header goes");
    let mut req = request(Method::Get, &["x=1"]);
    assert_eq!(cp.on_request(&mut req, NOW).cookie(), RequestCookie::Absent);
    assert_eq!(req.headers.get("cookie"), Some(&b"x=1"[..]));
}

#[test]
fn insert_without_indirect_leaves_the_request_alone() {
    let cp = backend(conf(CookieMode::Insert));
    let mut req = request(Method::Get, &["SRV=a"]);
    assert_eq!(cp.on_request(&mut req, NOW).cookie(), RequestCookie::Server(0));
    assert_eq!(req.headers.get("cookie"), Some(&b"SRV=a"[..]));
}

#[test]
fn prefix_mode_strips_the_server_part() {
    let cp = backend(conf(CookieMode::Prefix));
    let mut req = request(Method::Get, &["a=1; SRV=b~abc"]);
    assert_eq!(cp.on_request(&mut req, NOW).cookie(), RequestCookie::Server(1));
    assert_eq!(req.headers.get("cookie"), Some(&b"a=1; SRV=abc"[..]));
    let mut req = request(Method::Get, &["SRV=zz"]);
    assert_eq!(cp.on_request(&mut req, NOW).cookie(), RequestCookie::Unknown);
    assert_eq!(req.headers.get("cookie"), Some(&b"SRV=zz"[..]));
}

#[test]
fn insert_adds_the_cookie_with_its_attributes_unless_direct() {
    let cp = backend(CookieConf {
        httponly: true,
        secure: true,
        domains: vec![".x.com".into(), ".y.com".into()],
        attrs: vec!["SameSite=Lax".into()],
        ..conf(CookieMode::Insert)
    });
    let mut t = PersistTxn::default();
    let mut res = response(200, &[]);
    cp.on_response(&mut t, 1, &Method::Get, NOW, &mut res);
    assert_eq!(set_cookies(&res), ["SRV=b; path=/; domain=.x.com; domain=.y.com; HttpOnly; Secure; SameSite=Lax"]);
    assert_eq!(t.flags(true), *b"NI");
    let mut t = PersistTxn { req: b'V', target: Some(1), direct: true, ..PersistTxn::default() };
    let mut res = response(200, &[("Set-Cookie", "SRV=own; path=/")]);
    cp.on_response(&mut t, 1, &Method::Get, NOW, &mut res);
    assert!(set_cookies(&res).is_empty(), "the server's own cookie is deleted, none inserted");
    assert_eq!(t.flags(true), *b"VD");
    // A server without a cookie value makes the client forget it.
    let mut t = PersistTxn::default();
    let mut res = response(200, &[]);
    cp.on_response(&mut t, 2, &Method::Get, NOW, &mut res);
    assert!(set_cookies(&res)[0].starts_with("SRV=; Expires=Thu, 01-Jan-1970 00:00:01 GMT; path=/"));
}

#[test]
fn postonly_preserve_and_nocache() {
    let cp = backend(CookieConf { postonly: true, ..conf(CookieMode::Insert) });
    let mut t = PersistTxn::default();
    let mut res = response(200, &[]);
    cp.on_response(&mut t, 0, &Method::Get, NOW, &mut res);
    assert!(set_cookies(&res).is_empty());
    cp.on_response(&mut t, 0, &Method::Post, NOW, &mut res);
    assert_eq!(set_cookies(&res), ["SRV=a; path=/"]);

    let cp = backend(CookieConf { preserve: true, ..conf(CookieMode::Insert) });
    let mut t = PersistTxn::default();
    let mut res = response(200, &[("Set-Cookie", "SRV=zz")]);
    cp.on_response(&mut t, 0, &Method::Get, NOW, &mut res);
    assert_eq!(set_cookies(&res), ["SRV=zz"]);
    assert_eq!(t.flags(true), *b"NP");

    let cp = backend(CookieConf { nocache: true, ..conf(CookieMode::Insert) });
    for (headers, private) in [
        (vec![], false),
        (vec![("Expires", "Thu, 01 Dec 2099 16:00:00 GMT")], true),
        (vec![("Last-Modified", "Thu, 01 Dec 2020 16:00:00 GMT")], true),
        (vec![("Cache-Control", "public")], false),
        (vec![("Cache-Control", "max-age=60")], true),
        (vec![("Cache-Control", "max-age=60, private")], false),
    ] {
        let mut res = response(200, &headers);
        cp.on_response(&mut PersistTxn::default(), 0, &Method::Get, NOW, &mut res);
        assert_eq!(res.headers.get_all("cache-control").any(|v| v == b"private"), private, "{headers:?}");
    }
}

#[test]
fn rewrite_and_prefix_change_the_servers_cookie() {
    let cp = backend(conf(CookieMode::Rewrite));
    let mut t = PersistTxn::default();
    let mut res = response(200, &[("Set-Cookie", "SRV=abc; path=/")]);
    cp.on_response(&mut t, 0, &Method::Get, NOW, &mut res);
    assert_eq!(set_cookies(&res), ["SRV=a; path=/"]);
    assert_eq!(t.flags(true), *b"NR");

    let cp = backend(conf(CookieMode::Prefix));
    let mut t = PersistTxn::default();
    let mut res = response(200, &[("Set-Cookie", "other=1"), ("Set-Cookie", "SRV=abc; path=/")]);
    cp.on_response(&mut t, 1, &Method::Get, NOW, &mut res);
    assert_eq!(set_cookies(&res), ["other=1", "SRV=b~abc; path=/"]);
    let mut t = PersistTxn::default();
    let mut res = response(200, &[]);
    cp.on_response(&mut t, 1, &Method::Get, NOW, &mut res);
    assert_eq!(t.flags(true), *b"NN");
    assert_eq!(t.flags(false), *b"--");
}

#[test]
fn dates_are_stamped_checked_and_refreshed() {
    let cp = backend(CookieConf { indirect: true, maxidle: 2, maxlife: 10, ..conf(CookieMode::Insert) });
    let mut t = PersistTxn::default();
    let mut res = response(200, &[]);
    cp.on_response(&mut t, 0, &Method::Get, NOW, &mut res);
    // As HAProxy 2.6 stamped it at that date.
    assert_eq!(set_cookies(&res), ["SRV=a|awfi6|awfi6; path=/"]);
    assert_eq!(read_dates(b"awfi6|awfi6"), (NOW + 2, NOW + 2));

    let mut req = request(Method::Get, &["SRV=a|awfi6|awfi6"]);
    let fresh = cp.on_request(&mut req, NOW + 1);
    assert_eq!((fresh.cookie(), fresh.last_date), (RequestCookie::Server(0), NOW + 2));
    assert!(!req.headers.contains("cookie"));
    let mut req = request(Method::Get, &["SRV=a|awfi6|awfi6"]);
    assert_eq!(cp.on_request(&mut req, NOW + 5).cookie(), RequestCookie::Expired);
    let mut req = request(Method::Get, &["SRV=a|awfi6|awfi6"]);
    assert_eq!(cp.on_request(&mut req, NOW + 13).cookie(), RequestCookie::Old);
    let mut req = request(Method::Get, &["SRV=a|awfi6|awfi6"]);
    assert_eq!(cp.on_request(&mut req, NOW - 90_000).cookie(), RequestCookie::Old, "a day ahead");

    // A direct request gets its last-seen date refreshed once it passed, first kept.
    let mut t = PersistTxn { direct: true, ..fresh };
    let mut res = response(200, &[]);
    cp.on_response(&mut t, 0, &Method::Get, NOW + 1, &mut res);
    assert!(set_cookies(&res).is_empty(), "not passed yet");
    cp.on_response(&mut t, 0, &Method::Get, NOW + 3, &mut res);
    assert_eq!(set_cookies(&res), ["SRV=a|awfi7|awfi6; path=/"]);
    assert_eq!(t.flags(true), *b"VU");
}
