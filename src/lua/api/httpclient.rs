//! `core.httpclient()` and the `HTTPClient` class (HAProxy 2.5+'s `hlua_httpclient_*`).
//!
//! An `HTTPClient` is a Lua table `{[0] = handle}` whose metatable holds the methods
//! `get head put post delete`, as HAProxy builds its objects. The methods are small Lua
//! functions ([`CLASS_LUA`]) that check the request table as HAProxy does (unknown keys,
//! missing `url`), then call two Rust functions:
//!
//! - `start(hc, method, url, body, timeout, dst, name1, value1, ...)` builds the HTTP/1.1
//!   request, opens a connection through the socket table (`socket.rs`) and waits there
//!   like a socket call (an `Op::Http` pending operation): the response is parsed with the
//!   project's parser ([`ResponseParser`], [`BodyDecoder`]: Content-Length, chunked, or
//!   until close) as bytes arrive;
//! - `collect(hc)` returns status, reason, body and the header fields as flat values,
//!   which the Lua side turns into HAProxy's response table
//!   `{status=, reason=, headers={name={[0]=v1, v2...}}, body=}` (names lower-case,
//!   values 0-indexed).
//!
//! A URL whose host is a name is resolved first, through the `resolvers` section of
//! `httpclient.resolvers.id` (`crate::dns::lookup`; the socket slot sends the queries
//! and the coroutine waits as it does for the connection).
//!
//! A connection that fails gives HAProxy's 503 answer, a timeout its 504, a response that
//! does not parse its 502, a name that does not resolve an empty 503: the same tables
//! HAProxy's internal proxy returns.
use super::socket::{self, SocketRef, Target};
use crate::http::h1::{self, BodyDecoder, ResponseParser, Status};
use crate::http::{Method, Response};
use crate::lua::{CallCtx, Class, LuaError, RustFunction, State, Value};
use std::os::raw::c_int;
use std::time::Duration;

/// The `[0]` handle of an `HTTPClient` table: its internal socket.
pub static HANDLE: Class<SocketRef> = Class::new("HTTPClient", &[]);

static NEW: RustFunction = RustFunction::new("httpclient", new);
static START: RustFunction = RustFunction::new("httpclient", start);
static COLLECT: RustFunction = RustFunction::new("httpclient", collect);

/// The Lua half of the class: argument checks worded as HAProxy's, and the response table.
const CLASS_LUA: &str = r##"
local new, start, collect = ...
local type, pairs, tostring, select, error, setmetatable = type, pairs, tostring, select, error, setmetatable

local function build(status, reason, body, ...)
  local headers = {}
  for i = 1, select("#", ...), 2 do
    local n, v = select(i, ...)
    local t = headers[n]
    if t then t[#t + 1] = v else headers[n] = {[0] = v} end
  end
  return {status = status, reason = reason, headers = headers, body = body}
end

local HTTPClient = {}
HTTPClient.__index = HTTPClient
HTTPClient.__name = "HTTPClient"
HTTPClient.__tostring = function() return "HAProxy class HTTPClient" end

local function method(name)
  local verb = name:upper()
  return function(hc, t)
    if type(t) ~= "table" then error("'" .. name .. "' needs a table as argument", 2) end
    local url, body, timeout, dst, hdrs
    for k, v in pairs(t) do
      if k == "url" then url = v
      elseif k == "body" then body = v
      elseif k == "timeout" then timeout = v
      elseif k == "dst" then dst = v
      elseif k == "headers" then hdrs = v
      else error("'" .. tostring(k) .. "' invalid parameter name", 2) end
    end
    if url == nil then error("'" .. name .. "' need a 'url' argument", 2) end
    local flat, n = {}, 0
    if type(hdrs) == "table" then
      for hname, values in pairs(hdrs) do
        if type(values) == "table" then
          for i = 0, #values do
            local v = values[i]
            if v ~= nil then flat[n + 1], flat[n + 2], n = hname, v, n + 2 end
          end
        end
      end
    end
    local err = start(rawget(hc, 0), verb, url, body, timeout, dst, table.unpack(flat, 1, n))
    if err then error(err, 2) end
    return build(collect(rawget(hc, 0)))
  end
end

for _, m in ipairs({"get", "head", "put", "post", "delete"}) do
  HTTPClient[m] = method(m)
end

core.httpclient = function()
  return setmetatable({[0] = new()}, HTTPClient)
end
"##;

/// Installs `core.httpclient` (the `core` table exists).
pub fn install(st: &State) -> Result<(), LuaError> {
    st.set_global_function("__moonproxy_hc_new", &NEW)?;
    st.set_global_function("__moonproxy_hc_start", &START)?;
    st.set_global_function("__moonproxy_hc_collect", &COLLECT)?;
    let glue = format!(
        "local f = load({CLASS_LUA:?}, '=httpclient')
         local a, b, c = __moonproxy_hc_new, __moonproxy_hc_start, __moonproxy_hc_collect
         __moonproxy_hc_new, __moonproxy_hc_start, __moonproxy_hc_collect = nil, nil, nil
         f(a, b, c)"
    );
    st.exec(glue.as_bytes(), "=httpclient").map(|_| ())
}

/// A finished exchange, as the script gets it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub status: u16,
    pub reason: Vec<u8>,
    /// Lower-case names, in order of appearance.
    pub headers: Vec<(String, Vec<u8>)>,
    pub body: Vec<u8>,
}

impl Outcome {
    /// HAProxy's answer of its own (`errorfile` pages of the internal proxy).
    fn canned(status: u16, reason: &str, text: &str) -> Outcome {
        let body = format!("<html><body><h1>{status} {reason}</h1>\n{text}\n</body></html>\n")
            .into_bytes();
        Outcome {
            status,
            reason: reason.as_bytes().to_vec(),
            headers: vec![
                ("content-length".into(), body.len().to_string().into_bytes()),
                ("cache-control".into(), b"no-cache".to_vec()),
                ("content-type".into(), b"text/html".to_vec()),
            ],
            body,
        }
    }

    /// The server could not be reached.
    pub fn unavailable() -> Outcome {
        Outcome::canned(
            503,
            "Service Unavailable",
            "No server is available to handle this request.",
        )
    }

    /// The timeout expired.
    pub fn timed_out() -> Outcome {
        Outcome::canned(
            504,
            "Gateway Time-out",
            "The server didn't respond in time.",
        )
    }

    /// The host name did not resolve: the `return status 503` of HAProxy's internal
    /// proxy, an empty answer.
    pub fn unresolved() -> Outcome {
        Outcome {
            status: 503,
            reason: b"Service Unavailable".to_vec(),
            headers: vec![("content-length".into(), b"0".to_vec())],
            body: Vec::new(),
        }
    }

    /// The response did not parse, or was cut short.
    pub fn bad_gateway() -> Outcome {
        Outcome::canned(
            502,
            "Bad Gateway",
            "The server returned an invalid or incomplete response.",
        )
    }
}

/// The response side of an exchange in progress.
pub struct Exchange {
    parser: ResponseParser,
    head: Option<Response>,
    decoder: Option<BodyDecoder>,
    body: Vec<u8>,
    /// A byte of the response arrived (a close before that is a failed connection).
    answered: bool,
}

impl Exchange {
    pub fn new(method: Method) -> Exchange {
        Exchange {
            parser: ResponseParser::new(h1::Limits::default(), method),
            head: None,
            decoder: None,
            body: Vec::new(),
            answered: false,
        }
    }

    /// Feeds what arrived (consumed from `rbuf`). `connected`: the connection is up or
    /// coming; `closed`: nothing more will arrive. Returns the outcome once known.
    pub fn progress(
        &mut self,
        connected: bool,
        rbuf: &mut Vec<u8>,
        closed: bool,
    ) -> Option<Outcome> {
        self.answered |= !rbuf.is_empty();
        if !connected && !self.answered {
            return Some(Outcome::unavailable());
        }
        if self.head.is_none() {
            match self.parser.parse(rbuf) {
                Ok(Status::Partial) if closed => {
                    return Some(if self.answered {
                        Outcome::bad_gateway()
                    } else {
                        Outcome::unavailable()
                    })
                }
                Ok(Status::Partial) => return None,
                Ok(Status::Complete(resp, n)) => {
                    rbuf.drain(..n);
                    self.decoder = Some(BodyDecoder::new(resp.framing, &h1::Limits::default()));
                    self.head = Some(resp);
                }
                Err(_) => return Some(Outcome::bad_gateway()),
            }
        }
        let decoder = self.decoder.as_mut()?;
        while !decoder.is_done() && !rbuf.is_empty() {
            match decoder.decode(rbuf) {
                Ok(d) => {
                    self.body.extend_from_slice(&rbuf[d.data.clone()]);
                    rbuf.drain(..d.consumed);
                    if d.consumed == 0 {
                        break;
                    }
                }
                Err(_) => return Some(Outcome::bad_gateway()),
            }
        }
        if !decoder.is_done() {
            if !closed {
                return None;
            }
            if decoder.finish().is_err() {
                return Some(Outcome::bad_gateway());
            }
        }
        let head = self.head.take()?;
        Some(Outcome {
            status: head.line.status,
            reason: head.line.reason,
            headers: head
                .headers
                .iter()
                .map(|h| (h.name.to_ascii_lowercase(), h.value.clone()))
                .collect(),
            body: std::mem::take(&mut self.body),
        })
    }
}

/// Where a request goes: an address, or a name to resolve first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    Addr(Target),
    /// Resolved through the client's `resolvers` section (`crate::dns::lookup`), then
    /// connected on `port`.
    Name { host: String, port: u16 },
}

/// A request to send, once its URL is understood.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub dest: Destination,
    pub head_and_body: Vec<u8>,
    /// `https://`: the host name the TLS session is for (SNI, certificate check).
    pub tls_host: Option<String>,
}

/// Builds the HTTP/1.1 request: the script's headers (names lower-cased), then `host`,
/// `accept` and `user-agent` as HAProxy adds them when missing, a `content-length` for a
/// body, and `connection: close` (one request per connection).
pub fn build_request(
    verb: &str,
    url: &str,
    body: Option<&[u8]>,
    dst: Option<&str>,
    headers: &[(String, Vec<u8>)],
) -> Result<Request, String> {
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| format!("cannot parse url '{url}'"))?;
    let https = scheme.eq_ignore_ascii_case("https");
    if !https && !scheme.eq_ignore_ascii_case("http") {
        return Err(format!("cannot parse url '{url}'"));
    }
    let (authority, path) = match rest.find(['/', '?']) {
        Some(i) if rest.as_bytes()[i] == b'/' => (&rest[..i], rest[i..].to_string()),
        Some(i) => (&rest[..i], format!("/{}", &rest[i..])),
        None => (rest, "/".to_string()),
    };
    if authority.is_empty() || authority.contains('@') {
        return Err(format!("cannot parse url '{url}'"));
    }
    let (url_host, port) = split_authority(authority, https).ok_or_else(|| format!("cannot parse url '{url}'"))?;
    let dest = match dst {
        Some(d) => Destination::Addr(socket::parse_target(d, None).map_err(|e| e.replace("connect: ", "dst: "))?),
        // A numeric host is the address; a name is resolved, and as HAProxy's internal
        // proxy does (`do-resolve ... hdr(Host),host_only`), the name asked is the one of
        // the Host header sent: the script's, else the URL's.
        None => match numeric(url_host) {
            Some(ip) => Destination::Addr(Target::Inet(std::net::SocketAddr::new(ip, port))),
            None => {
                let host_header = headers.iter().rev().find(|(h, _)| h.eq_ignore_ascii_case("host"));
                let name = match host_header {
                    Some((_, v)) => host_only(&String::from_utf8_lossy(v)).to_string(),
                    None => url_host.to_string(),
                };
                match numeric(&name) {
                    Some(ip) => Destination::Addr(Target::Inet(std::net::SocketAddr::new(ip, port))),
                    None if name.is_empty() => return Err(format!("cannot parse url '{url}'")),
                    None => Destination::Name { host: name, port },
                }
            }
        },
    };
    let mut out = format!("{verb} {path} HTTP/1.1\r\n").into_bytes();
    let has = |n: &str| headers.iter().any(|(h, _)| h.eq_ignore_ascii_case(n));
    for (name, value) in headers {
        if name.eq_ignore_ascii_case("content-length")
            || name.eq_ignore_ascii_case("transfer-encoding")
        {
            continue; // framing is ours
        }
        out.extend_from_slice(name.to_ascii_lowercase().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value);
        out.extend_from_slice(b"\r\n");
    }
    if !has("host") {
        out.extend_from_slice(format!("host: {authority}\r\n").as_bytes());
    }
    if !has("accept") {
        out.extend_from_slice(b"accept: */*\r\n");
    }
    if !has("user-agent") {
        out.extend_from_slice(b"user-agent: HAProxy\r\n");
    }
    if let Some(b) = body {
        out.extend_from_slice(format!("content-length: {}\r\n", b.len()).as_bytes());
    }
    out.extend_from_slice(b"connection: close\r\n\r\n");
    if let Some(b) = body {
        out.extend_from_slice(b);
    }
    Ok(Request {
        dest,
        tls_host: https.then(|| url_host.to_string()),
        head_and_body: out,
    })
}

/// The host (brackets removed) and port of a URL's authority; the scheme's port when it
/// has none.
fn split_authority(authority: &str, https: bool) -> Option<(&str, u16)> {
    let default = if https { 443 } else { 80 };
    let port = |p: &str| if p.is_empty() { Some(default) } else { p.parse::<u16>().ok() };
    if let Some(rest) = authority.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        return match after {
            "" => Some((host, default)),
            a => Some((host, port(a.strip_prefix(':')?)?)),
        };
    }
    match authority.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') => Some((h, port(p)?)),
        _ => Some((authority, default)),
    }
}

/// The host of a Host header value, without its port (the `host_only` converter).
fn host_only(value: &str) -> &str {
    let v = value.trim();
    if let Some(rest) = v.strip_prefix('[') {
        return rest.split(']').next().unwrap_or("");
    }
    match v.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') && p.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => v,
    }
}

/// The address a host stands for without asking the DNS: an IP literal, or `localhost`
/// (127.0.0.1: RFC 6761 names it loopback and says resolvers should not send it out;
/// HAProxy asks its resolvers section).
fn numeric(host: &str) -> Option<std::net::IpAddr> {
    match host.parse() {
        Ok(ip) => Some(ip),
        Err(_) if host.trim_end_matches('.').eq_ignore_ascii_case("localhost") => Some(std::net::Ipv4Addr::LOCALHOST.into()),
        Err(_) => None,
    }
}

/// `core.httpclient()`'s handle: a fresh internal socket.
fn new(ctx: &mut CallCtx) -> Result<c_int, LuaError> {
    let key = socket::new_socket().ok_or_else(|| LuaError::runtime("httpclient: too many sockets."))?;
    ctx.push_userdata(&HANDLE, SocketRef::from_key(key))?;
    Ok(1)
}

fn handle(ctx: &CallCtx) -> Result<crate::reactor::Key, LuaError> {
    ctx.userdata(1, &HANDLE)
        .map(|r| r.key())
        .map_err(|_| LuaError::runtime("HTTPClient object expected"))
}

fn opt_bytes(ctx: &CallCtx, n: c_int) -> Result<Option<Vec<u8>>, LuaError> {
    match ctx.value(n) {
        Value::Nil => Ok(None),
        Value::String(s) => Ok(Some(s)),
        Value::Integer(_) | Value::Number(_) => ctx.bytes(n).map(Some),
        _ => Err(LuaError::message(format!(
            "'{}' must be a string",
            ["", "", "", "url", "body", "", "dst"]
                .get(n as usize)
                .unwrap_or(&"argument")
        ))),
    }
}

/// `start(handle, VERB, url, body, timeout, dst, name, value, ...)`: returns an error
/// message for the Lua side to raise, or nothing once the exchange is over (it waits).
fn start(ctx: &mut CallCtx) -> Result<c_int, LuaError> {
    let key = handle(ctx)?;
    let verb = ctx.string(2)?;
    let Some(url) = opt_bytes(ctx, 3)? else {
        ctx.push_str(&format!("'{}' need a 'url' argument", verb.to_lowercase()))?;
        return Ok(1);
    };
    let url = String::from_utf8_lossy(&url).into_owned();
    let body = opt_bytes(ctx, 4)?;
    let timeout = match ctx.value(5) {
        Value::Nil => None,
        Value::Integer(ms) if ms > 0 => Some(Duration::from_millis(ms as u64)),
        Value::Number(ms) if ms > 0.0 => Some(Duration::from_millis(ms as u64)),
        Value::Integer(_) | Value::Number(_) => None,
        _ => {
            ctx.push_str("'timeout' must be a number of milliseconds")?;
            return Ok(1);
        }
    };
    let dst = opt_bytes(ctx, 6)?.map(|d| String::from_utf8_lossy(&d).into_owned());
    let mut headers = Vec::new();
    let mut n = 7;
    while n < ctx.nargs() {
        headers.push((ctx.string(n)?, ctx.bytes(n + 1)?));
        n += 2;
    }
    let req = match build_request(&verb, &url, body.as_deref(), dst.as_deref(), &headers) {
        Ok(r) => r,
        Err(e) => {
            ctx.push_str(&format!("'{}': {e}", verb.to_lowercase()))?;
            return Ok(1);
        }
    };
    let tls = match &req.tls_host {
        Some(host) => match crate::tls::httpclient_config() {
            Ok(config) => {
                let ip = match &req.dest {
                    Destination::Addr(Target::Inet(a)) => Some(a.ip()),
                    _ => None,
                };
                Some((config, crate::tls::ServerTls::server_name(Some(host), ip)))
            }
            Err(e) => {
                ctx.push_str(&format!("'{}': https: {e}", verb.to_lowercase()))?;
                return Ok(1);
            }
        },
        None => None,
    };
    let method = Method::from_token(&verb);
    socket::start_exchange(
        ctx,
        key,
        req.dest,
        req.head_and_body,
        Exchange::new(method),
        timeout,
        tls,
    )
}

/// `collect(handle)`: status, reason, body, then each header's name and value.
fn collect(ctx: &mut CallCtx) -> Result<c_int, LuaError> {
    let key = handle(ctx)?;
    let o = socket::take_http_result(key).unwrap_or_else(Outcome::unavailable);
    ctx.reserve(3 + 2 * o.headers.len() as c_int)?;
    ctx.push_integer(i64::from(o.status))?;
    ctx.push_bytes(&o.reason)?;
    ctx.push_bytes(&o.body)?;
    for (name, value) in &o.headers {
        ctx.push_str(name)?;
        ctx.push_bytes(value)?;
    }
    Ok(3 + 2 * o.headers.len() as c_int)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_built_as_haproxy_sends_them() {
        let r = build_request(
            "GET",
            "http://127.0.0.1:8080/a?b",
            None,
            None,
            &[("X-T".into(), b"1".to_vec())],
        )
        .unwrap();
        assert_eq!(r.dest, Destination::Addr(Target::Inet("127.0.0.1:8080".parse().unwrap())));
        assert_eq!(
            String::from_utf8(r.head_and_body).unwrap(),
            "GET /a?b HTTP/1.1\r\nx-t: 1\r\nhost: 127.0.0.1:8080\r\naccept: */*\r\nuser-agent: HAProxy\r\nconnection: close\r\n\r\n"
        );
        let r = build_request(
            "POST",
            "http://h.example/",
            Some(b"xyz"),
            Some("127.0.0.1:9"),
            &[],
        )
        .unwrap();
        assert_eq!(r.dest, Destination::Addr(Target::Inet("127.0.0.1:9".parse().unwrap())));
        assert!(String::from_utf8(r.head_and_body)
            .unwrap()
            .ends_with("content-length: 3\r\nconnection: close\r\n\r\nxyz"));
        let r = build_request("GET", "https://localhost/", None, None, &[]).unwrap();
        assert_eq!((r.dest, r.tls_host.as_deref()), (Destination::Addr(Target::Inet("127.0.0.1:443".parse().unwrap())), Some("localhost")));
        let r = build_request("GET", "https://Name.example/", None, None, &[]).unwrap();
        let name = |host: &str, port| Destination::Name { host: host.into(), port };
        assert_eq!((r.dest, r.tls_host.as_deref()), (name("Name.example", 443), Some("Name.example")));
        // The Host header sent is the name asked (HAProxy's `hdr(Host),host_only`); the
        // port stays the URL's.
        let host = |v: &str| vec![("Host".to_string(), v.as_bytes().to_vec())];
        let r = build_request("GET", "http://a.example:81/", None, None, &host("b.example:99")).unwrap();
        assert_eq!(r.dest, name("b.example", 81));
        assert!(String::from_utf8(r.head_and_body).unwrap().contains("host: b.example:99\r\n"));
        let r = build_request("GET", "http://a.example/", None, None, &host("10.0.0.1")).unwrap();
        assert_eq!(r.dest, Destination::Addr(Target::Inet("10.0.0.1:80".parse().unwrap())));
        let r = build_request("GET", "http://10.0.0.2/", None, None, &host("b.example")).unwrap();
        assert_eq!(r.dest, Destination::Addr(Target::Inet("10.0.0.2:80".parse().unwrap())), "a numeric URL is not resolved");
        assert_eq!(host_only("[::1]:80"), "::1");
        assert_eq!(host_only("x.example:8080"), "x.example");
        assert!(build_request("GET", "nothttp", None, None, &[]).is_err());
        let r = build_request("GET", "http://[::1]:81", None, None, &[]).unwrap();
        assert_eq!(r.dest, Destination::Addr(Target::Inet("[::1]:81".parse().unwrap())));
        let r = build_request("GET", "http://[::1]/", None, None, &[]).unwrap();
        assert_eq!(r.dest, Destination::Addr(Target::Inet("[::1]:80".parse().unwrap())));
    }

    #[test]
    fn responses_are_read_with_each_framing() {
        let mut x = Exchange::new(Method::Get);
        let mut buf =
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-A: 1\r\n\r\n5\r\nhel".to_vec();
        assert_eq!(x.progress(true, &mut buf, false), None);
        buf.extend_from_slice(b"lo\r\n0\r\n\r\n");
        let o = x.progress(true, &mut buf, false).unwrap();
        assert_eq!((o.status, o.body.as_slice()), (200, &b"hello"[..]));
        assert_eq!(o.headers[1], ("x-a".to_string(), b"1".to_vec()));

        let mut x = Exchange::new(Method::Get);
        let mut buf = b"HTTP/1.1 404 Nope\r\n\r\nuntil close".to_vec();
        assert_eq!(x.progress(true, &mut buf, false), None);
        let o = x.progress(true, &mut buf, true).unwrap();
        assert_eq!(
            (o.status, o.reason.as_slice(), o.body.as_slice()),
            (404, &b"Nope"[..], &b"until close"[..])
        );

        let mut x = Exchange::new(Method::Get);
        let mut buf = b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort".to_vec();
        assert_eq!(
            x.progress(true, &mut buf, true).unwrap().status,
            502,
            "cut short"
        );
        let mut x = Exchange::new(Method::Get);
        assert_eq!(
            x.progress(false, &mut Vec::new(), true).unwrap().status,
            503
        );
    }
}
