//! Cookie-based server persistence (`cookie <name> insert|rewrite|prefix ...` in a
//! backend, `cookie <value>` on its `server` lines), as HAProxy 2.6 does it.
//!
//! On the request ([`CookiePersist::on_request`]), the first cookie called `<name>` in
//! the `Cookie` headers designates the server whose `cookie` value it carries (in
//! `prefix` mode, the part before the first `~`). That server takes the request without
//! load balancing if it is not down (a server in drain or at weight 0 still takes it),
//! queueing on it at its `maxconn`; the stream asks the pool for it
//! (`ServerPool::pick_persistent`). In `insert indirect` mode the cookie is removed
//! before the request goes to the server, in `prefix` mode its `<value>~` prefix is.
//!
//! On the response ([`CookiePersist::on_response`]):
//! - `insert`: a `Set-Cookie` of that name set by the server is removed (kept with
//!   `preserve`, which then also prevents the insertion). Unless the client presented
//!   the cookie of the server that answered, `Set-Cookie: <name>=<value>; path=/` is
//!   added, followed by `; domain=<d>` for each `domain`, `; HttpOnly`, `; Secure` and
//!   `; <attr>` for each `attr`; with `postonly` only on POST requests. With `nocache`,
//!   a response a shared cache could keep gets `Cache-control: private` too.
//! - `rewrite`: the value of the server's own `Set-Cookie <name>` becomes the server's
//!   cookie value.
//! - `prefix`: the value of the server's own `Set-Cookie <name>` is prefixed with
//!   `<value>~`.
//!
//! Without a mode (`cookie <name>` alone) the cookie only directs requests: the
//! application sets it, the proxy leaves responses alone (with `indirect`, the
//! server's cookie is removed from a response to a client that presented it).
//!
//! The outcome is logged as the last two characters of `%tsc` ([`PersistTxn::flags`]):
//! on the request `N` (no cookie), `I` (no server has that value), `D` (the server is
//! down), `V` (valid), `E`/`O` (expired/old); on the response `N` (nothing done), `I`
//! (inserted), `U` (dates updated), `D` (the server's cookie deleted), `P` (found and
//! left alone), `R` (rewritten or prefixed).
//!
//! With `maxidle` / `maxlife`, an inserted cookie carries its dates,
//! `<value>|<last seen>[|<first>]` (each 5 characters of 6 bits, the date in 4-second
//! units, rounded up): a request whose cookie was last seen more than `maxidle` ago
//! (`E`, expired) or first set more than `maxlife` ago (`O`, old) is load balanced, and
//! a valid one gets its cookie again with a fresh last-seen date once it passed
//! (response letter `U`).
//!
//! Dynamic cookies (`cookie ... dynamic` with `dynamic-cookie-key`): a server without
//! its own `cookie` value gets the XXH64 (seed 0) of the key, its IPv4 or IPv6 address
//! bytes and its port as a big-endian 32-bit number, in 16 hex digits, as HAProxy 2.6
//! computes it; recomputed when the key, the switch (the CLI's `set
//! dynamic-cookie-key`, `enable|disable dynamic-cookie`) or the address changes.
//!
//! Not done: `force-persist`/`ignore-persist`.

use super::{Headers, Method, Request, Response};
use crate::config::model::{CookieConf, CookieMode, Proxy, ServerAddr};
use std::net::SocketAddr;

/// A backend's persistence cookie, ready for the streams.
#[derive(Clone, Debug)]
pub struct CookiePersist {
    conf: CookieConf,
    /// Each server's value, its own or computed, indexed like the backend's servers.
    values: Vec<Option<String>>,
    /// Each server's own `cookie` value.
    configured: Vec<Option<String>>,
    /// Each server's address, for dynamic cookies (`None`: not IPv4 nor IPv6, none).
    addrs: Vec<Option<SocketAddr>>,
    /// `dynamic`, as configured then switched by `enable|disable dynamic-cookie`.
    dynamic: bool,
    /// `dynamic-cookie-key`.
    key: Option<String>,
    /// Servers added at run time that wait for a recomputation to get a dynamic value.
    later: Vec<bool>,
    /// What follows `<name>=<value>` in an inserted `Set-Cookie`.
    suffix: String,
}

/// A change of a backend's dynamic cookies (the CLI).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DynamicCookieOp {
    /// `enable|disable dynamic-cookie backend <b>`.
    Enable(bool),
    /// `set dynamic-cookie-key backend <b> <key>`.
    Key(String),
}

/// The cookie value HAProxy 2.6 computes for a server at `addr` with `key`.
pub fn dynamic_cookie(key: &str, addr: SocketAddr) -> String {
    let mut buf = key.as_bytes().to_vec();
    match addr.ip() {
        std::net::IpAddr::V4(ip) => buf.extend_from_slice(&ip.octets()),
        std::net::IpAddr::V6(ip) => buf.extend_from_slice(&ip.octets()),
    }
    buf.extend_from_slice(&u32::from(addr.port()).to_be_bytes());
    format!("{:016x}", crate::sample::hash::xxh64(&buf, 0))
}

/// Where a server's connections go, for its dynamic cookie.
fn cookie_addr(a: &ServerAddr) -> Option<SocketAddr> {
    match a {
        ServerAddr::Inet { ip, port } if !ip.is_unspecified() => Some(SocketAddr::new(*ip, port.unwrap_or(0))),
        // HAProxy keeps the offset as the 16-bit service port.
        ServerAddr::PortOffset { ip, offset } => Some(SocketAddr::new(*ip, offset.rem_euclid(65536) as u16)),
        ServerAddr::Resolved { addr, .. } => Some(*addr),
        _ => None,
    }
}

/// What persistence did in one transaction.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PersistTxn {
    /// The request's letter for `%tsc` (0: the request was not analysed).
    pub req: u8,
    /// The response's letter (0: nothing done yet, logged `N`).
    pub res: u8,
    /// The server the request's cookie designates (a valid cookie).
    pub target: Option<usize>,
    /// The request went to `target` because of its cookie (HAProxy's "direct"
    /// access): the response does not insert the cookie again.
    pub direct: bool,
    /// The dates the request's cookie carried (`<value>|<last seen>|<first>`), in
    /// seconds since the epoch; 0 when absent.
    pub last_date: u32,
    pub first_date: u32,
}

impl PersistTxn {
    /// The two `%tsc` characters: `--` when the backend has no persistence cookie.
    pub fn flags(&self, configured: bool) -> [u8; 2] {
        if !configured {
            return *b"--";
        }
        let or_n = |c: u8| if c == 0 { b'N' } else { c };
        [or_n(self.req), or_n(self.res)]
    }
}

/// The request's verdict before the server's state is known.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequestCookie {
    /// No cookie of that name.
    Absent,
    /// A cookie of that name that no server's value matches.
    Unknown,
    /// The cookie of that server.
    Server(usize),
    /// Its last-seen date is more than `maxidle` ago (or more than a day ahead).
    Expired,
    /// Its first date is more than `maxlife` ago (or more than a day ahead).
    Old,
}

impl CookiePersist {
    /// The persistence of a backend, if it has a `cookie` line.
    pub fn from_proxy(p: &Proxy) -> Option<CookiePersist> {
        let conf = p.cookie.clone()?;
        let mut suffix = String::from("; path=/");
        for d in &conf.domains {
            suffix.push_str("; domain=");
            suffix.push_str(d);
        }
        if conf.httponly {
            suffix.push_str("; HttpOnly");
        }
        if conf.secure {
            suffix.push_str("; Secure");
        }
        for a in &conf.attrs {
            suffix.push_str("; ");
            suffix.push_str(a);
        }
        let configured: Vec<Option<String>> = p.servers.iter().map(|s| s.cookie.clone()).collect();
        let addrs = p.servers.iter().map(|s| cookie_addr(&s.addr)).collect();
        let dynamic = conf.dynamic;
        let key = p.dynamic_cookie_key.clone();
        let mut c = CookiePersist { conf, values: configured.clone(), configured, addrs, dynamic, key, later: Vec::new(), suffix };
        c.refresh();
        Some(c)
    }

    /// Recomputes the values: each server's own, else its dynamic one.
    fn refresh(&mut self) {
        let key = self.key.as_deref().filter(|_| self.dynamic);
        self.values = self
            .configured
            .iter()
            .zip(&self.addrs)
            .enumerate()
            .map(|(i, (own, addr))| {
                let later = self.later.get(i).copied().unwrap_or(false);
                own.clone().or_else(|| Some(dynamic_cookie(key.filter(|_| !later)?, (*addr)?)))
            })
            .collect();
    }

    /// `enable|disable dynamic-cookie`, `set dynamic-cookie-key`.
    pub fn dynamic_op(&mut self, op: &DynamicCookieOp) {
        match op {
            DynamicCookieOp::Enable(on) => self.dynamic = *on,
            DynamicCookieOp::Key(key) => self.key = Some(key.clone()),
        }
        self.later.clear();
        self.refresh();
    }

    /// Server `srv` was added (`add server`), with its own value if any. As in HAProxy
    /// 2.6 it gets no dynamic value until the next `enable dynamic-cookie`, `set
    /// dynamic-cookie-key` or change of its address.
    pub fn add_server(&mut self, srv: usize, own: Option<String>, addr: &ServerAddr) {
        self.addrs.resize(srv, None);
        self.configured.resize(srv, None);
        self.addrs.push(cookie_addr(addr));
        self.configured.push(own);
        self.later.resize(srv, false);
        self.later.push(true);
        self.refresh();
    }

    /// Server `srv` moved (`set server ... addr`): its dynamic value follows.
    pub fn set_addr(&mut self, srv: usize, addr: &ServerAddr) {
        if let Some(a) = self.addrs.get_mut(srv) {
            *a = cookie_addr(addr);
        }
        if let Some(l) = self.later.get_mut(srv) {
            *l = false;
        }
        self.refresh();
    }

    /// Server `srv` was deleted: no cookie leads to it any more.
    pub fn remove_server(&mut self, srv: usize) {
        if let (Some(own), Some(addr)) = (self.configured.get_mut(srv), self.addrs.get_mut(srv)) {
            (*own, *addr) = (None, None);
        }
        self.refresh();
    }

    pub fn name(&self) -> &str {
        &self.conf.name
    }

    /// Whether `%tsc` shows the persistence letters: with a mode or `indirect`
    /// (HAProxy logs `--` for a passive cookie).
    pub fn logs_flags(&self) -> bool {
        self.conf.mode != CookieMode::Passive || self.conf.indirect
    }

    /// Finds the request's cookie and rewrites the `Cookie` headers for the server:
    /// every cookie of that name is removed in `insert indirect` mode; in `prefix`
    /// mode a `<value>~` prefix is removed from it.
    pub fn on_request(&self, req: &mut Request, now: u32) -> PersistTxn {
        let mut dates = (0, 0);
        let found = self.find_in_request(req, now, &mut dates);
        let (req, target) = match found {
            RequestCookie::Absent => (b'N', None),
            RequestCookie::Unknown => (b'I', None),
            RequestCookie::Server(srv) => (b'V', Some(srv)),
            RequestCookie::Expired => (b'E', None),
            RequestCookie::Old => (b'O', None),
        };
        PersistTxn { req, res: 0, target, direct: false, last_date: dates.0, first_date: dates.1 }
    }

    /// [`CookiePersist::on_request`]'s lookup and rewriting; `dates` gets the last-seen
    /// and first dates of a cookie still valid.
    fn find_in_request(&self, req: &mut Request, now: u32, dates: &mut (u32, u32)) -> RequestCookie {
        let mut found = RequestCookie::Absent;
        let name = self.conf.name.as_bytes();
        let strip = self.conf.indirect && self.conf.mode == CookieMode::Insert;
        let prefix = self.conf.mode == CookieMode::Prefix;
        let mut emptied = false;
        req.headers.replace_with("cookie", |value| {
            let mut changed = false;
            let mut parts: Vec<Vec<u8>> = Vec::new();
            for part in value.split(|&b| b == b';') {
                let (n, v) = split_cookie(part);
                if n != name {
                    parts.push(trim(part).to_vec());
                    continue;
                }
                // In prefix mode the server's part ends at the first `~`; otherwise
                // dates may follow it after a `|`.
                let (id, rest, stamp) = match (prefix, v.iter().position(|&b| b == if prefix { b'~' } else { b'|' })) {
                    (true, Some(t)) => (&v[..t], Some(&v[t + 1..]), None),
                    (false, Some(t)) => (&v[..t], None, Some(&v[t + 1..])),
                    (_, None) => (v, None, None),
                };
                if found == RequestCookie::Absent {
                    found = self.judge(id, stamp.map(read_dates).unwrap_or_default(), now, dates);
                }
                if strip {
                    changed = true;
                } else if let Some(rest) = rest {
                    changed = true;
                    parts.push([name, b"=", rest].concat());
                } else {
                    parts.push(trim(part).to_vec());
                }
            }
            if !changed {
                return None;
            }
            parts.retain(|p| !p.is_empty());
            emptied |= parts.is_empty();
            Some(parts.join(&b"; "[..]))
        });
        if emptied {
            remove_empty(&mut req.headers, "cookie");
        }
        found
    }

    /// A cookie's verdict: too old, expired, or the server whose value it is.
    fn judge(&self, id: &[u8], (last, first): (u32, u32), now: u32, dates: &mut (u32, u32)) -> RequestCookie {
        // More than a day ahead is as bad as too old, as HAProxy has it.
        let stale = |date: u32, max: u32| {
            let age = i64::from(now) - i64::from(date);
            date != 0 && max != 0 && (age > i64::from(max) || -age > 86400)
        };
        if stale(first, self.conf.maxlife) {
            return RequestCookie::Old;
        }
        if stale(last, self.conf.maxidle) {
            return RequestCookie::Expired;
        }
        *dates = (last, first);
        match self.values.iter().position(|s| s.as_deref().map(str::as_bytes) == Some(id)) {
            Some(srv) => RequestCookie::Server(srv),
            None => RequestCookie::Unknown,
        }
    }

    /// Applies the persistence to the response of server `srv`; `method` is the
    /// request's, `now` the date in seconds. Records what was done in `txn.res`.
    pub fn on_response(&self, txn: &mut PersistTxn, srv: usize, method: &Method, now: u32, res: &mut Response) {
        let name = self.conf.name.as_bytes();
        let value = self.values.get(srv).and_then(Option::as_deref);
        let direct = txn.direct && txn.target == Some(srv);
        let mut present = false;
        let mut delete = Vec::new();
        let mut index = 0;
        let mode = self.conf.mode;
        let (preserve, indirect) = (self.conf.preserve, self.conf.indirect);
        let mut flag = txn.res;
        res.headers.replace_with("set-cookie", |v| {
            let i = index;
            index += 1;
            let (n, val) = split_cookie(v.split(|&b| b == b';').next().unwrap_or_default());
            if n != name {
                return None;
            }
            // Found: `P`, unless something is done with it below.
            flag = b'P';
            if preserve {
                present = true;
                return None;
            }
            if mode == CookieMode::Insert || (direct && indirect) {
                delete.push(i);
                flag = b'D';
                return None;
            }
            if mode == CookieMode::Passive {
                return None;
            }
            let srv_value = value?;
            // Where the value starts and ends in the header line.
            let start = val.as_ptr() as usize - v.as_ptr() as usize;
            let end = start + val.len();
            let mut out = v[..start].to_vec();
            out.extend_from_slice(srv_value.as_bytes());
            if mode == CookieMode::Prefix {
                out.push(b'~');
                out.extend_from_slice(val);
            }
            out.extend_from_slice(&v[end..]);
            flag = b'R';
            Some(out)
        });
        for i in delete.into_iter().rev() {
            res.headers.del_nth("set-cookie", i);
        }
        // A direct request gets the cookie again to refresh its dates: the last-seen
        // one once passed (or to add or drop dates the configuration asks for).
        let (maxidle, maxlife) = (self.conf.maxidle, self.conf.maxlife);
        let (last, first) = (txn.last_date, txn.first_date);
        let refresh = ((maxidle != 0 || last != 0) && (last == 0 || last < now))
            || (maxlife != 0 && first == 0)
            || (maxlife == 0 && first != 0);
        let insert = mode == CookieMode::Insert && !present && (!direct || refresh) && (!self.conf.postonly || *method == Method::Post);
        if insert {
            let cookie = match value {
                Some(v) => {
                    let mut c = format!("{}={v}", self.conf.name);
                    if maxidle != 0 || maxlife != 0 {
                        c.push('|');
                        push_date(&mut c, (now + 3) >> 2);
                        if maxlife != 0 {
                            c.push('|');
                            push_date(&mut c, if first != 0 { first >> 2 } else { (now + 3) >> 2 });
                        }
                    }
                    c.push_str(&self.suffix);
                    c
                }
                // A server without a cookie value makes the client forget its cookie.
                None => format!("{}=; Expires=Thu, 01-Jan-1970 00:00:01 GMT{}", self.conf.name, self.suffix),
            };
            res.headers.add("Set-Cookie", cookie);
            // Only the dates changed: `U`pdated.
            flag = if value.is_some() && direct { b'U' } else { b'I' };
            if self.conf.nocache && cacheable(res) {
                res.headers.add("Cache-control", "private");
            }
        }
        txn.res = flag;
    }
}

/// Whether a shared cache could keep this response with its `Set-Cookie`, as
/// HAProxy judges it for `nocache`: a status cacheable by default, no `Pragma:
/// no-cache`, no `Cache-Control` `private`/`no-cache`/`no-store`/`s-maxage=0`, and
/// freshness information (`max-age`, `s-maxage`, `Expires`) or a validator (`ETag`,
/// `Last-Modified`).
fn cacheable(res: &Response) -> bool {
    if !matches!(res.line.status, 200 | 203 | 204 | 206 | 300 | 301 | 404 | 405 | 410 | 414 | 501) {
        return false;
    }
    let h = &res.headers;
    if h.list("pragma").any(|v| v.eq_ignore_ascii_case(b"no-cache")) {
        return false;
    }
    let mut fresh = false;
    for v in h.list("cache-control") {
        let lower = v.to_ascii_lowercase();
        match lower.as_slice() {
            b"private" | b"no-cache" | b"no-store" | b"s-maxage=0" => return false,
            _ if lower.starts_with(b"no-cache=\"set-cookie") => return false,
            _ if lower.starts_with(b"max-age") || lower.starts_with(b"s-maxage") => fresh = true,
            _ => {}
        }
    }
    fresh || h.contains("expires") || h.contains("etag") || h.contains("last-modified")
}

/// The alphabet of the dates in cookies: 6 bits per character.
const DATE_DIGITS: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Appends a date in 4-second units (30 bits) as 5 characters, most significant first.
fn push_date(out: &mut String, quads: u32) {
    for shift in [24, 18, 12, 6, 0] {
        out.push(DATE_DIGITS[((quads >> shift) & 0x3f) as usize] as char);
    }
}

/// The 30-bit value of 5 date characters; `None` if one is not in the alphabet.
fn read_date(s: &[u8]) -> Option<u32> {
    s.get(..5)?.iter().try_fold(0u32, |acc, c| Some(acc << 6 | DATE_DIGITS.iter().position(|d| d == c)? as u32))
}

/// The last-seen and first dates (seconds, 0 when absent or invalid) after the `|` of
/// `<value>|<last>[|<first>]`.
fn read_dates(stamp: &[u8]) -> (u32, u32) {
    let date = |s: &[u8]| read_date(s).filter(|&v| v > 0).map_or(0, |v| v << 2);
    let first = stamp.iter().position(|&b| b == b'|').map_or(0, |bar| date(&stamp[bar + 1..]));
    (date(stamp), first)
}

/// A cookie's name and value, blanks around each trimmed.
fn split_cookie(part: &[u8]) -> (&[u8], &[u8]) {
    match part.iter().position(|&b| b == b'=') {
        Some(eq) => (trim(&part[..eq]), trim(&part[eq + 1..])),
        None => (trim(part), &[]),
    }
}

fn trim(s: &[u8]) -> &[u8] {
    let start = s.iter().position(|b| !b.is_ascii_whitespace()).unwrap_or(s.len());
    let end = s.iter().rposition(|b| !b.is_ascii_whitespace()).map_or(start, |e| e + 1);
    &s[start..end]
}

/// Removes the `name` lines left empty.
fn remove_empty(headers: &mut Headers, name: &str) {
    let empty: Vec<usize> = headers.get_all(name).enumerate().filter(|(_, v)| v.is_empty()).map(|(i, _)| i).collect();
    for i in empty.into_iter().rev() {
        headers.del_nth(name, i);
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod dynamic_tests {
    use super::*;

    /// The values HAProxy 2.6 sets for a server at 127.0.0.1:9001.
    #[test]
    fn dynamic_cookies_are_haproxys() {
        let addr: SocketAddr = "127.0.0.1:9001".parse().unwrap();
        assert_eq!(dynamic_cookie("mykey", addr), "41b020a64630309c");
        assert_eq!(dynamic_cookie("other", addr), "266e5da3f0cea432");
    }
}
