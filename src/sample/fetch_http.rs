//! Sample fetches on the HTTP transaction: the request and response heads
//! ([`SampleCtx::http_req`], [`SampleCtx::http_res`]), the buffered bodies and the
//! captures ([`SampleCtx::http_txn`]), with HAProxy 2.6's names and types.
//!
//! Header fetches follow HAProxy's two views of a header:
//! - `hdr`, `req.hdr`, `res.hdr`, `hdr_cnt`, `hdr_val`, `hdr_ip` see each
//!   comma-separated value as one occurrence (`X: a, b` holds two);
//! - `req.fhdr`, `res.fhdr`, `req.fhdr_cnt`, `res.fhdr_cnt` see whole field lines.
//!
//! The occurrence argument counts from 1 at the first value, from -1 at the last; it
//! defaults to the last one, as in HAProxy's sample expressions. (In ACLs HAProxy
//! tries every occurrence in turn; here the last one is matched.)

use super::args::{Arg, ArgSpec, ArgType};
use super::fetch::Fetch;
use super::{Sample, SampleCtx, SampleType};
use crate::http::{auth, Headers, Request, TargetForm};

use ArgType as A;
use SampleType as T;

const fn spec(types: &'static [ArgType], mandatory: usize) -> ArgSpec {
    ArgSpec { types, mandatory }
}

fn no_check(_: &mut [Arg]) -> Result<(), String> {
    Ok(())
}

macro_rules! fetch {
    ($name:expr, $args:expr, $out:expr, $run:expr) => {
        Fetch {
            name: $name,
            args: $args,
            out: $out,
            check: no_check,
            run: $run,
            all: None,
            visit: None,
        }
    };
    ($name:expr, $args:expr, $out:expr, $run:expr, visit: $visit:expr) => {
        Fetch {
            name: $name,
            args: $args,
            out: $out,
            check: no_check,
            run: $run,
            all: None,
            visit: Some($visit),
        }
    };
    ($name:expr, $args:expr, $out:expr, $run:expr, all: $all:expr) => {
        Fetch {
            name: $name,
            args: $args,
            out: $out,
            check: no_check,
            run: $run,
            all: Some($all),
            visit: None,
        }
    };
    ($name:expr, $args:expr, $out:expr, $run:expr, all: $all:expr, visit: $visit:expr) => {
        Fetch {
            name: $name,
            args: $args,
            out: $out,
            check: no_check,
            run: $run,
            all: Some($all),
            visit: Some($visit),
        }
    };
}

/// [`Fetch::visit`] for a fetch with one string value borrowed from the request.
fn visit_one(value: Option<&[u8]>, f: &mut dyn FnMut(&[u8]) -> bool) -> Option<bool> {
    Some(value.is_some_and(f))
}

/// [`Fetch::visit`] of `hdr(name)` / `req.hdr(name)`: every comma-separated value, as
/// [`hdr_all`] gives them; not for a chosen occurrence.
fn visit_hdr(a: &[Arg], cx: &dyn SampleCtx, f: &mut dyn FnMut(&[u8]) -> bool) -> Option<bool> {
    if a.len() > 1 {
        return None;
    }
    let name = a.first()?.str()?;
    let Some(req) = cx.http_req() else { return Some(false) };
    Some(
        req.headers
            .get_all(name)
            .flat_map(|v| v.split(|&b| b == b','))
            .map(crate::http::trim_ows)
            .any(f),
    )
}

const NAME_OCC: ArgSpec = spec(&[A::Str, A::Int], 0);
const NAME: ArgSpec = spec(&[A::Str], 0);

/// Every HTTP fetch, looked up after [`super::fetch::FETCHES`].
pub static FETCHES: &[Fetch] = &[
    fetch!("base", ArgSpec::NONE, T::Str, |_, cx| Some(Sample::Str(base(cx.http_req()?)?))),
    fetch!("base32", ArgSpec::NONE, T::Sint, |_, cx| Some(Sample::Sint(
        super::hash::avalanche(super::hash::sdbm(&base(cx.http_req()?)?)) as i64
    ))),
    fetch!("base32+src", ArgSpec::NONE, T::Bin, |_, cx| {
        let hash = super::hash::avalanche(super::hash::sdbm(&base(cx.http_req()?)?));
        Some(Sample::Bin(with_src(hash, cx)?))
    }),
    fetch!("baseq", ArgSpec::NONE, T::Str, |_, cx| {
        let req = cx.http_req()?;
        let mut out = base(req)?;
        if let Some(q) = req.line.query() {
            out.push(b'?');
            out.extend_from_slice(q.as_bytes());
        }
        Some(Sample::Str(out))
    }),
    fetch!("capture.req.hdr", spec(&[A::Int], 1), T::Str, |a, cx| {
        capture(&cx.http_txn()?.req_captures, a)
    }),
    fetch!("capture.req.method", ArgSpec::NONE, T::Str, |_, cx| Some(Sample::str(
        cx.http_req()?.line.method.as_str()
    ))),
    fetch!("capture.req.uri", ArgSpec::NONE, T::Str, |_, cx| Some(Sample::str(pathq(cx.http_req()?)))),
    // HAProxy 2.6 says `HTTP/1.1` for a request received over HTTP/2 here (and
    // `2.0` for `req.ver`).
    fetch!("capture.req.ver", ArgSpec::NONE, T::Str, |_, cx| Some(Sample::str(match cx.http_req()?.line.version {
        crate::http::Version::Http2 => "HTTP/1.1",
        v => v.as_str(),
    }))),
    fetch!("capture.res.hdr", spec(&[A::Int], 1), T::Str, |a, cx| {
        capture(&cx.http_txn()?.res_captures, a)
    }),
    fetch!("capture.res.ver", ArgSpec::NONE, T::Str, |_, cx| Some(Sample::str(
        cx.http_res()?.line.version.as_str()
    ))),
    fetch!("cook", NAME, T::Str, |a, cx| req_cookie(cx, a), all: |a, cx| cookie_all(cookies(&cx.http_req()?.headers), a, Conv::Str)),
    fetch!("cook_cnt", NAME, T::Sint, |a, cx| req_cookie_cnt(cx, a)),
    fetch!("cook_val", NAME, T::Sint, |a, cx| to_int(req_cookie(cx, a)), all: |a, cx| cookie_all(cookies(&cx.http_req()?.headers), a, Conv::Int)),
    fetch!("cookie", NAME, T::Str, |a, cx| req_cookie(cx, a), all: |a, cx| cookie_all(cookies(&cx.http_req()?.headers), a, Conv::Str)),
    fetch!("hdr", NAME_OCC, T::Str, |a, cx| hdr_value(&cx.http_req()?.headers, a, false), all: |a, cx| hdr_all(&cx.http_req()?.headers, a, false, Conv::Str), visit: visit_hdr),
    fetch!("hdr_cnt", NAME, T::Sint, |a, cx| hdr_count(&cx.http_req()?.headers, a, false)),
    fetch!("hdr_ip", NAME_OCC, T::Ipv4, |a, cx| to_ip(hdr_value(&cx.http_req()?.headers, a, false)), all: |a, cx| hdr_all(&cx.http_req()?.headers, a, false, Conv::Ip)),
    fetch!("hdr_val", NAME_OCC, T::Sint, |a, cx| to_int(hdr_value(&cx.http_req()?.headers, a, false)), all: |a, cx| hdr_all(&cx.http_req()?.headers, a, false, Conv::Int)),
    // Basic authentication (src/http/auth.rs). `http_auth_group` gives the user name; an
    // ACL on it matches the groups the user belongs to (HAProxy's group patterns).
    fetch!("http_auth", spec(&[A::Str], 1), T::Bool, |a, cx| {
        let ul = cx.userlist(a.first()?.str()?)?;
        Some(Sample::Bool(auth::authenticated_user(ul, &cx.http_req()?.headers).is_some()))
    }),
    fetch!("http_auth_bearer", spec(&[A::Str], 0), T::Str, |a, cx| {
        // `Bearer <token>` in `Authorization` (or the header named): the token as sent.
        let name = a.first().and_then(Arg::str).unwrap_or("authorization");
        let v = cx.http_req()?.headers.get(name)?;
        let sp = v.iter().position(|&b| b == b' ')?;
        let (scheme, token) = (&v[..sp], &v[sp + 1..]);
        (scheme.eq_ignore_ascii_case(b"bearer") && !token.is_empty()).then(|| Sample::Str(token.to_vec()))
    }),
    fetch!("http_auth_group", spec(&[A::Str], 1), T::Str, |a, cx| {
        let ul = cx.userlist(a.first()?.str()?)?;
        Some(Sample::str(auth::authenticated_user(ul, &cx.http_req()?.headers)?))
    }, all: |a, cx| {
        let ul = cx.userlist(a.first()?.str()?)?;
        let user = auth::authenticated_user(ul, &cx.http_req()?.headers)?;
        Some(ul.groups.iter().filter(|g| g.users.contains(&user)).map(|g| Sample::str(g.name.as_str())).collect())
    }),
    fetch!("http_auth_pass", ArgSpec::NONE, T::Str, |_, cx| {
        Some(Sample::str(auth::basic_credentials(&cx.http_req()?.headers)?.1))
    }),
    fetch!("http_auth_type", ArgSpec::NONE, T::Str, |_, cx| {
        let value = cx.http_req()?.headers.get("authorization")?.trim_ascii();
        Some(Sample::str(value.split(|&c| c == b' ').next()?.to_vec()))
    }),
    fetch!("http_auth_user", ArgSpec::NONE, T::Str, |_, cx| {
        Some(Sample::str(auth::basic_credentials(&cx.http_req()?.headers)?.0))
    }),
    fetch!("method", ArgSpec::NONE, T::Meth, |_, cx| Some(Sample::Meth(
        cx.http_req()?.line.method.as_str().as_bytes().to_vec()
    ))),
    fetch!("path", ArgSpec::NONE, T::Str, |_, cx| Some(Sample::str(path(cx.http_req()?)?)), visit: |_, cx, f| visit_one(cx.http_req().and_then(path).map(str::as_bytes), f)),
    fetch!("pathq", ArgSpec::NONE, T::Str, |_, cx| {
        let req = cx.http_req()?;
        path(req)?;
        Some(Sample::str(pathq(req)))
    }),
    fetch!("query", ArgSpec::NONE, T::Str, |_, cx| Some(Sample::str(cx.http_req()?.line.query()?))),
    fetch!("req.body", ArgSpec::NONE, T::Bin, |_, cx| Some(Sample::Bin(cx.http_txn()?.req_body.clone()))),
    fetch!("req.body_len", ArgSpec::NONE, T::Sint, |_, cx| Some(Sample::Sint(
        cx.http_txn()?.req_body.len() as i64
    ))),
    fetch!("req.body_size", ArgSpec::NONE, T::Sint, |_, cx| {
        let req = cx.http_req()?;
        match req.headers.get("content-length").and_then(super::str_to_int) {
            Some(n) => Some(Sample::Sint(n)),
            None => Some(Sample::Sint(cx.http_txn()?.req_body.len() as i64)),
        }
    }),
    fetch!("req.cook", NAME, T::Str, |a, cx| req_cookie(cx, a), all: |a, cx| cookie_all(cookies(&cx.http_req()?.headers), a, Conv::Str)),
    fetch!("req.cook_cnt", NAME, T::Sint, |a, cx| req_cookie_cnt(cx, a)),
    fetch!("req.cook_val", NAME, T::Sint, |a, cx| to_int(req_cookie(cx, a)), all: |a, cx| cookie_all(cookies(&cx.http_req()?.headers), a, Conv::Int)),
    fetch!("req.fhdr", NAME_OCC, T::Str, |a, cx| hdr_value(&cx.http_req()?.headers, a, true), all: |a, cx| hdr_all(&cx.http_req()?.headers, a, true, Conv::Str)),
    fetch!("req.fhdr_cnt", NAME, T::Sint, |a, cx| hdr_count(&cx.http_req()?.headers, a, true)),
    fetch!("req.hdr", NAME_OCC, T::Str, |a, cx| hdr_value(&cx.http_req()?.headers, a, false), all: |a, cx| hdr_all(&cx.http_req()?.headers, a, false, Conv::Str), visit: visit_hdr),
    fetch!("req.hdr_cnt", NAME, T::Sint, |a, cx| hdr_count(&cx.http_req()?.headers, a, false)),
    fetch!("req.hdr_ip", NAME_OCC, T::Ipv4, |a, cx| to_ip(hdr_value(&cx.http_req()?.headers, a, false)), all: |a, cx| hdr_all(&cx.http_req()?.headers, a, false, Conv::Ip)),
    fetch!("req.hdr_names", spec(&[A::Str], 0), T::Str, |a, cx| hdr_names(&cx.http_req()?.headers, a)),
    fetch!("req.hdr_val", NAME_OCC, T::Sint, |a, cx| to_int(hdr_value(&cx.http_req()?.headers, a, false)), all: |a, cx| hdr_all(&cx.http_req()?.headers, a, false, Conv::Int)),
    fetch!("req.hdrs", ArgSpec::NONE, T::Str, |_, cx| Some(Sample::Str(hdrs_text(&cx.http_req()?.headers)))),
    fetch!("req.hdrs_bin", ArgSpec::NONE, T::Bin, |_, cx| Some(Sample::Bin(hdrs_bin(&cx.http_req()?.headers)))),
    fetch!("req.ver", ArgSpec::NONE, T::Str, |_, cx| Some(Sample::str(version(
        cx.http_req()?.line.version
    )))),
    fetch!("req_ver", ArgSpec::NONE, T::Str, |_, cx| Some(Sample::str(version(
        cx.http_req()?.line.version
    )))),
    fetch!("req.body_param", spec(&[A::Str], 0), T::Bin, |a, cx| {
        // The body as an url-encoded form: the first parameter named so (any without
        // a name), its value as sent.
        let name = a.first().and_then(Arg::str).unwrap_or("").as_bytes();
        let body = &cx.http_txn()?.req_body;
        body.split(|&b| b == b'&').find_map(|p| {
            let (k, v) = match p.iter().position(|&b| b == b'=') {
                Some(eq) => (&p[..eq], &p[eq + 1..]),
                None => (p, &p[p.len()..]),
            };
            (name.is_empty() || k == name).then(|| Sample::Bin(v.to_vec()))
        })
    }),
    fetch!("res.body_size", ArgSpec::NONE, T::Sint, |_, cx| {
        let res = cx.http_res()?;
        match res.headers.get("content-length").and_then(super::str_to_int) {
            Some(n) => Some(Sample::Sint(n)),
            None => Some(Sample::Sint(cx.http_txn()?.res_body.len() as i64)),
        }
    }),
    fetch!("res.hdrs", ArgSpec::NONE, T::Bin, |_, cx| Some(Sample::Bin(hdrs_text(&cx.http_res()?.headers)))),
    fetch!("res.hdrs_bin", ArgSpec::NONE, T::Bin, |_, cx| Some(Sample::Bin(hdrs_bin(&cx.http_res()?.headers)))),
    fetch!("res.body", ArgSpec::NONE, T::Bin, |_, cx| Some(Sample::Bin(cx.http_txn()?.res_body.clone()))),
    fetch!("res.body_len", ArgSpec::NONE, T::Sint, |_, cx| Some(Sample::Sint(
        cx.http_txn()?.res_body.len() as i64
    ))),
    // HTTP compression (crate::http::compress): decided when the response head arrives.
    fetch!("res.cache_hit", ArgSpec::NONE, T::Bool, |_, cx| Some(Sample::Bool(cx.http_txn()?.cache.hit.is_some()))),
    fetch!("res.cache_name", ArgSpec::NONE, T::Str, |_, cx| Some(Sample::str(cx.http_txn()?.cache.hit.as_deref()?.as_bytes()))),
    fetch!("res.comp", ArgSpec::NONE, T::Bool, |_, cx| Some(Sample::Bool(cx.http_txn()?.comp.active.is_some()))),
    fetch!("res.comp_algo", ArgSpec::NONE, T::Str, |_, cx| Some(Sample::str(cx.http_txn()?.comp.active?.name()))),
    fetch!("res.cook", NAME, T::Str, |a, cx| res_cookie(cx, a), all: |a, cx| cookie_all(set_cookies(&cx.http_res()?.headers), a, Conv::Str)),
    fetch!("res.cook_cnt", NAME, T::Sint, |a, cx| res_cookie_cnt(cx, a)),
    fetch!("res.cook_val", NAME, T::Sint, |a, cx| to_int(res_cookie(cx, a)), all: |a, cx| cookie_all(set_cookies(&cx.http_res()?.headers), a, Conv::Int)),
    fetch!("res.fhdr", NAME_OCC, T::Str, |a, cx| hdr_value(&cx.http_res()?.headers, a, true), all: |a, cx| hdr_all(&cx.http_res()?.headers, a, true, Conv::Str)),
    fetch!("res.fhdr_cnt", NAME, T::Sint, |a, cx| hdr_count(&cx.http_res()?.headers, a, true)),
    fetch!("res.hdr", NAME_OCC, T::Str, |a, cx| hdr_value(&cx.http_res()?.headers, a, false), all: |a, cx| hdr_all(&cx.http_res()?.headers, a, false, Conv::Str)),
    fetch!("res.hdr_cnt", NAME, T::Sint, |a, cx| hdr_count(&cx.http_res()?.headers, a, false)),
    fetch!("res.hdr_ip", NAME_OCC, T::Ipv4, |a, cx| to_ip(hdr_value(&cx.http_res()?.headers, a, false)), all: |a, cx| hdr_all(&cx.http_res()?.headers, a, false, Conv::Ip)),
    fetch!("res.hdr_names", spec(&[A::Str], 0), T::Str, |a, cx| hdr_names(&cx.http_res()?.headers, a)),
    fetch!("res.hdr_val", NAME_OCC, T::Sint, |a, cx| to_int(hdr_value(&cx.http_res()?.headers, a, false)), all: |a, cx| hdr_all(&cx.http_res()?.headers, a, false, Conv::Int)),
    fetch!("res.ver", ArgSpec::NONE, T::Str, |_, cx| Some(Sample::str(version(
        cx.http_res()?.line.version
    )))),
    fetch!("resp_ver", ArgSpec::NONE, T::Str, |_, cx| Some(Sample::str(version(
        cx.http_res()?.line.version
    )))),
    fetch!("scook", NAME, T::Str, |a, cx| res_cookie(cx, a), all: |a, cx| cookie_all(set_cookies(&cx.http_res()?.headers), a, Conv::Str)),
    fetch!("scook_cnt", NAME, T::Sint, |a, cx| res_cookie_cnt(cx, a)),
    fetch!("scook_val", NAME, T::Sint, |a, cx| to_int(res_cookie(cx, a)), all: |a, cx| cookie_all(set_cookies(&cx.http_res()?.headers), a, Conv::Int)),
    fetch!("shdr", NAME_OCC, T::Str, |a, cx| hdr_value(&cx.http_res()?.headers, a, false), all: |a, cx| hdr_all(&cx.http_res()?.headers, a, false, Conv::Str)),
    fetch!("shdr_cnt", NAME, T::Sint, |a, cx| hdr_count(&cx.http_res()?.headers, a, false)),
    fetch!("shdr_ip", NAME_OCC, T::Ipv4, |a, cx| to_ip(hdr_value(&cx.http_res()?.headers, a, false)), all: |a, cx| hdr_all(&cx.http_res()?.headers, a, false, Conv::Ip)),
    fetch!("shdr_val", NAME_OCC, T::Sint, |a, cx| to_int(hdr_value(&cx.http_res()?.headers, a, false)), all: |a, cx| hdr_all(&cx.http_res()?.headers, a, false, Conv::Int)),
    fetch!("status", ArgSpec::NONE, T::Sint, |_, cx| Some(Sample::Sint(cx.http_res()?.line.status as i64))),
    fetch!("unique-id", ArgSpec::NONE, T::Str, |_, cx| Some(Sample::str(
        cx.http_txn()?.unique_id.as_deref()?
    ))),
    fetch!("url", ArgSpec::NONE, T::Str, |_, cx| Some(Sample::str(cx.http_req()?.line.target.as_str())), visit: |_, cx, f| visit_one(cx.http_req().map(|r| r.line.target.as_bytes()), f)),
    fetch!("url_ip", ArgSpec::NONE, T::Ipv4, |_, cx| {
        let (host, _) = url_host_port(cx.http_req()?)?;
        Some(Sample::ip(host))
    }),
    fetch!("url_param", NAME_DELIM, T::Str, |a, cx| url_param(cx.http_req()?, a)),
    fetch!("url_port", ArgSpec::NONE, T::Sint, |_, cx| {
        let (_, port) = url_host_port(cx.http_req()?)?;
        Some(Sample::Sint(port))
    }),
    fetch!("url32", ArgSpec::NONE, T::Sint, |_, cx| Some(Sample::Sint(
        super::hash::avalanche(super::hash::sdbm(&host_url(cx.http_req()?))) as i64
    ))),
    fetch!("url32+src", ArgSpec::NONE, T::Bin, |_, cx| {
        let hash = super::hash::avalanche(super::hash::sdbm(&host_url(cx.http_req()?)));
        Some(Sample::Bin(with_src(hash, cx)?))
    }),
    fetch!("urlp", NAME_DELIM, T::Str, |a, cx| url_param(cx.http_req()?, a)),
    fetch!("urlp_val", NAME_DELIM, T::Sint, |a, cx| to_int(url_param(cx.http_req()?, a))),
    // The `http-request`/`http-response`/`http-after-response` rule (in TCP mode, the
    // `tcp-request|tcp-response content` rule) that ended its list with a verdict
    // (`allow`, `deny`, `return`, `accept`, `reject`...): where it is written. Nothing
    // before such a rule ran.
    fetch!("last_rule_file", ArgSpec::NONE, T::Str, |_, cx| Some(Sample::str(&*cx.last_rule()?.file))),
    fetch!("last_rule_line", ArgSpec::NONE, T::Sint, |_, cx| Some(Sample::Sint(i64::from(cx.last_rule()?.line)))),
];

const NAME_DELIM: ArgSpec = spec(&[A::Str, A::Str], 0);

/// The fetch named `name`.
pub fn lookup(name: &str) -> Option<&'static Fetch> {
    FETCHES.iter().find(|f| f.name == name)
}

fn version(v: crate::http::Version) -> &'static str {
    match v {
        crate::http::Version::Http10 => "1.0",
        crate::http::Version::Http11 => "1.1",
        crate::http::Version::Http2 => "2.0",
    }
}

fn to_int(s: Option<Sample>) -> Option<Sample> {
    match s? {
        Sample::Str(b) => Some(Sample::Sint(super::str_to_int(&b)?)),
        _ => None,
    }
}

fn to_ip(s: Option<Sample>) -> Option<Sample> {
    match s? {
        Sample::Str(b) => Some(Sample::ip(std::str::from_utf8(&b).ok()?.trim().parse().ok()?)),
        _ => None,
    }
}

/// The values of `name`: whole lines (`full`) or comma-separated elements.
fn occurrences<'a>(h: &'a Headers, name: &str, full: bool) -> Vec<&'a [u8]> {
    if full {
        h.get_all(name).collect()
    } else {
        h.get_all(name)
            .flat_map(|v| v.split(|&b| b == b','))
            .map(crate::http::trim_ows)
            .collect()
    }
}

/// `hdr(name[,occ])`: the `occ`-th occurrence, the last by default.
fn hdr_value(h: &Headers, a: &[Arg], full: bool) -> Option<Sample> {
    let name = a.first()?.str()?;
    let occ = a.get(1).and_then(Arg::int).unwrap_or(-1);
    let all = occurrences(h, name, full);
    let v = match occ {
        0 => return None,
        n if n > 0 => all.get(n as usize - 1)?,
        n => all.get(all.len().checked_sub(n.unsigned_abs() as usize)?)?,
    };
    Some(Sample::Str(v.to_vec()))
}

/// `hdr_cnt([name])`: how many occurrences; every field line without a name.
fn hdr_count(h: &Headers, a: &[Arg], full: bool) -> Option<Sample> {
    let n = match a.first().and_then(Arg::str) {
        None | Some("") if full => h.len(),
        None | Some("") => h.iter().map(|f| f.value.split(|&b| b == b',').count()).sum(),
        Some(name) => occurrences(h, name, full).len(),
    };
    Some(Sample::Sint(n as i64))
}

/// `req.hdr_names([delim])`: the field names in order, joined by `delim` (`,`).
fn hdr_names(h: &Headers, a: &[Arg]) -> Option<Sample> {
    let delim = a.first().and_then(Arg::str).unwrap_or(",");
    // HAProxy keeps header names in lower case.
    let names: Vec<String> = h.iter().map(|f| f.name.to_ascii_lowercase()).collect();
    Some(Sample::str(names.join(delim)))
}

fn capture(slots: &[Option<Vec<u8>>], a: &[Arg]) -> Option<Sample> {
    let i = usize::try_from(a.first()?.int()?).ok()?;
    Some(Sample::Str(slots.get(i)?.clone()?))
}

/// `base`: the `Host` header (if any) followed by the path.
fn base(req: &Request) -> Option<Vec<u8>> {
    let mut out = req.headers.get("host").unwrap_or_default().to_vec();
    out.extend_from_slice(path(req).unwrap_or_default().as_bytes());
    Some(out)
}

/// The path of the request, for `path` and `pathq`; none for an asterisk-form target
/// (`OPTIONS *`), where HAProxy 2.6 finds no path (`base` is then the host alone).
fn path(req: &Request) -> Option<&str> {
    (req.line.form != TargetForm::Asterisk).then(|| req.line.path())
}

/// `url32`'s input: the `Host` header (if any) followed by the path and query
/// (without the scheme and authority of an absolute-form target).
fn host_url(req: &Request) -> Vec<u8> {
    let mut out = req.headers.get("host").unwrap_or_default().to_vec();
    out.extend_from_slice(pathq(req).as_bytes());
    out
}

/// `base32+src`, `url32+src`: the hash (sdbm with HAProxy's final avalanche) in
/// network order, then the client address.
fn with_src(hash: u32, cx: &dyn SampleCtx) -> Option<Vec<u8>> {
    let mut out = hash.to_be_bytes().to_vec();
    match cx.src()?.ip() {
        std::net::IpAddr::V4(a) => out.extend_from_slice(&a.octets()),
        std::net::IpAddr::V6(a) => out.extend_from_slice(&a.octets()),
    }
    Some(out)
}

/// `pathq`: the path and the query string, without scheme and authority.
fn pathq(req: &Request) -> &str {
    let l = &req.line;
    match l.form {
        TargetForm::Absolute => {
            let after = &l.target[l.target.find("://").map_or(0, |i| i + 3)..];
            &after[after.find(['/', '?']).unwrap_or(after.len())..]
        }
        TargetForm::Authority | TargetForm::Asterisk => "",
        _ => &l.target,
    }
}

/// The address and port of an absolute-form target whose host is an IP address
/// (`url_ip`, `url_port`; port 80 by default). A host name gives nothing, as in HAProxy.
fn url_host_port(req: &Request) -> Option<(std::net::IpAddr, i64)> {
    if req.line.form != TargetForm::Absolute {
        return None;
    }
    let auth = req.line.authority()?;
    let auth = auth.rsplit_once('@').map_or(auth, |(_, h)| h);
    let (host, port) = match auth.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') || h.ends_with(']') => (h, p.parse().ok()?),
        _ => (auth, 80),
    };
    Some((host.trim_matches(['[', ']']).parse().ok()?, port))
}

/// `url_param([name[,delim]])`: the value of the first `name` parameter (the first
/// parameter without a name). The parameters start after the first `delim` of the
/// target (`?` by default) and are separated by `&` or `;`.
fn url_param(req: &Request, a: &[Arg]) -> Option<Sample> {
    let name = a.first().and_then(Arg::str).unwrap_or("");
    let delim = a.get(1).and_then(Arg::str).and_then(|d| d.chars().next()).unwrap_or('?');
    let (_, params) = req.line.target.split_once(delim)?;
    for p in params.split(['&', ';', delim]) {
        let (k, v) = p.split_once('=').unwrap_or((p, ""));
        if name.is_empty() || k == name {
            return Some(Sample::str(v));
        }
    }
    None
}

/// The field lines as HAProxy forwards them (names in lower case), then the empty line
/// (`req.hdrs`, `res.hdrs`).
fn hdrs_text(h: &Headers) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, value) in forwarded(h) {
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(&value);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// The fields as HAProxy's message keeps them: names in lower case, and `Connection`
/// without its `close` and `keep-alive` options (the connection's business, not the
/// message's), dropped when nothing else is left.
fn forwarded(h: &Headers) -> impl Iterator<Item = (String, std::borrow::Cow<'_, [u8]>)> {
    h.iter().filter_map(|f| {
        let name = f.name.to_ascii_lowercase();
        if name != "connection" {
            return Some((name, std::borrow::Cow::Borrowed(&f.value[..])));
        }
        let kept: Vec<&[u8]> = f
            .value
            .split(|&b| b == b',')
            .map(crate::http::trim_ows)
            .filter(|t| !t.is_empty() && !t.eq_ignore_ascii_case(b"close") && !t.eq_ignore_ascii_case(b"keep-alive"))
            .collect();
        (!kept.is_empty()).then(|| (name, std::borrow::Cow::Owned(kept.join(&b", "[..]))))
    })
}

/// HAProxy's binary header list (`req.hdrs_bin`, `res.hdrs_bin`): for each field, its
/// lower-case name and its value, each as a varint length and the bytes; two empty
/// strings end the list.
fn hdrs_bin(h: &Headers) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, value) in forwarded(h) {
        crate::varint::put(&mut out, name.len() as u64);
        out.extend_from_slice(name.as_bytes());
        crate::varint::put(&mut out, value.len() as u64);
        out.extend_from_slice(&value);
    }
    out.extend_from_slice(&[0, 0]);
    out
}


/// The `(name, value)` pairs of the request's `Cookie` lines, in order.
fn cookies(h: &Headers) -> impl Iterator<Item = (&[u8], &[u8])> {
    h.get_all("cookie")
        .flat_map(|v| v.split(|&b| b == b';' || b == b','))
        .filter_map(|c| {
            let c = crate::http::trim_ows(c);
            let eq = c.iter().position(|&b| b == b'=')?;
            Some((crate::http::trim_ows(&c[..eq]), crate::http::trim_ows(&c[eq + 1..])))
        })
}

/// The `(name, value)` pairs of the response's `Set-Cookie` lines (attributes skipped).
fn set_cookies(h: &Headers) -> impl Iterator<Item = (&[u8], &[u8])> {
    h.get_all("set-cookie").filter_map(|v| {
        let first = v.split(|&b| b == b';').next()?;
        let eq = first.iter().position(|&b| b == b'=')?;
        Some((crate::http::trim_ows(&first[..eq]), crate::http::trim_ows(&first[eq + 1..])))
    })
}

fn cookie_pick<'a>(it: impl Iterator<Item = (&'a [u8], &'a [u8])>, a: &[Arg]) -> Option<Sample> {
    let name = a.first().and_then(Arg::str).unwrap_or("");
    // The last occurrence, as HAProxy's sample fetch returns.
    it.filter(|(k, _)| name.is_empty() || *k == name.as_bytes())
        .last()
        .map(|(_, v)| Sample::Str(v.to_vec()))
}

fn cookie_count<'a>(it: impl Iterator<Item = (&'a [u8], &'a [u8])>, a: &[Arg]) -> Option<Sample> {
    let name = a.first().and_then(Arg::str).unwrap_or("");
    Some(Sample::Sint(
        it.filter(|(k, _)| name.is_empty() || *k == name.as_bytes()).count() as i64,
    ))
}

fn req_cookie(cx: &dyn SampleCtx, a: &[Arg]) -> Option<Sample> {
    cookie_pick(cookies(&cx.http_req()?.headers), a)
}

fn req_cookie_cnt(cx: &dyn SampleCtx, a: &[Arg]) -> Option<Sample> {
    cookie_count(cookies(&cx.http_req()?.headers), a)
}

fn res_cookie(cx: &dyn SampleCtx, a: &[Arg]) -> Option<Sample> {
    cookie_pick(set_cookies(&cx.http_res()?.headers), a)
}

fn res_cookie_cnt(cx: &dyn SampleCtx, a: &[Arg]) -> Option<Sample> {
    cookie_count(set_cookies(&cx.http_res()?.headers), a)
}

/// How the values of a multi-occurrence fetch are typed.
#[derive(Clone, Copy)]
enum Conv {
    Str,
    Int,
    Ip,
}

fn typed(v: &[u8], conv: Conv) -> Option<Sample> {
    let s = Some(Sample::Str(v.to_vec()));
    match conv {
        Conv::Str => s,
        Conv::Int => to_int(s),
        Conv::Ip => to_ip(s),
    }
}

/// Every occurrence of a header, unless the arguments name one.
fn hdr_all(h: &Headers, a: &[Arg], full: bool, conv: Conv) -> Option<Vec<Sample>> {
    if a.len() > 1 {
        return None;
    }
    let name = a.first()?.str()?;
    Some(occurrences(h, name, full).into_iter().filter_map(|v| typed(v, conv)).collect())
}

/// Every cookie named like the argument.
fn cookie_all<'a>(it: impl Iterator<Item = (&'a [u8], &'a [u8])>, a: &[Arg], conv: Conv) -> Option<Vec<Sample>> {
    let name = a.first().and_then(Arg::str).unwrap_or("");
    Some(
        it.filter(|(k, _)| name.is_empty() || *k == name.as_bytes())
            .filter_map(|(_, v)| typed(v, conv))
            .collect(),
    )
}
