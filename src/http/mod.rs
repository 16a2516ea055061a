//! The HTTP/1.x message model and its parsers.
//!
//! This module is plain data plus sans-io parsers: no socket, no clock, no buffer
//! ownership. The stream (and, later, Lua's `TXN`/`HTTP` classes) drive it:
//!
//! - [`Request`] / [`Response`]: a start line ([`RequestLine`], [`StatusLine`]), an
//!   ordered [`Headers`] list (case-insensitive lookup, original case and order kept)
//!   and the [`BodyFraming`] the head implies.
//! - [`h1::parse`]: restartable, strict request-head and response-head parsers
//!   (RFC 9112), each rejection a distinct [`h1::ErrorKind`] with the status it maps to.
//! - [`h1::body`]: a streaming body decoder for Content-Length and chunked bodies that
//!   reports the payload ranges to forward and never buffers a whole body.
//!
//! The contract and the table of rejections are in `doc/http.md`.

pub mod auth;
pub mod cache;
pub mod capture;
pub mod compress;
pub mod errors;
pub mod fcgi;
pub mod h1;
pub mod h2;
pub mod live;
pub mod options;
pub mod persist;
pub mod proxy_options;
pub mod rules;
pub mod txn;

/// Writes the queued bytes of a protocol layer on a connection (FastCGI records, HTTP/2
/// frames to a server) until none is left, or the socket would block (`WouldBlock`, with
/// what was not written still queued).
pub fn write_queued(io: &mut impl std::io::Write, out: &mut Vec<u8>) -> std::io::Result<()> {
    while !out.is_empty() {
        match io.write(out) {
            Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(n) => {
                out.drain(..n);
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

use std::fmt;

/// The protocol version of a message. Only HTTP/1.0 and HTTP/1.1 exist on the wire here;
/// a higher 1.x minor version is read as 1.1 (RFC 9110 §2.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Version {
    Http10,
    Http11,
    /// A request received over HTTP/2 (`crate::http::h2`): it reads `HTTP/2.0` in logs
    /// and fetches as in HAProxy, and goes to servers as HTTP/1.1 in origin form.
    Http2,
}

impl Version {
    /// The version as written on the wire (`HTTP/1.0`, `HTTP/1.1`).
    pub fn as_str(self) -> &'static str {
        match self {
            Version::Http10 => "HTTP/1.0",
            Version::Http11 => "HTTP/1.1",
            Version::Http2 => "HTTP/2.0",
        }
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A request method. The methods the protocol gives a meaning to are variants; any other
/// token is kept verbatim in [`Method::Other`]. Methods are case-sensitive (RFC 9110 §9.1):
/// `get` is `Other("get")`, not `Get`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Method {
    Get,
    Head,
    Post,
    Put,
    Delete,
    Connect,
    Options,
    Trace,
    Patch,
    Other(String),
}

impl Method {
    /// The method for a token already validated as a `token` (RFC 9110 §5.6.2).
    pub fn from_token(token: &str) -> Method {
        match token {
            "GET" => Method::Get,
            "HEAD" => Method::Head,
            "POST" => Method::Post,
            "PUT" => Method::Put,
            "DELETE" => Method::Delete,
            "CONNECT" => Method::Connect,
            "OPTIONS" => Method::Options,
            "TRACE" => Method::Trace,
            "PATCH" => Method::Patch,
            other => Method::Other(other.to_owned()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
            Method::Connect => "CONNECT",
            Method::Options => "OPTIONS",
            Method::Trace => "TRACE",
            Method::Patch => "PATCH",
            Method::Other(s) => s,
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The four shapes of a request target (RFC 9112 §3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetForm {
    /// `/path?query`: the usual form.
    Origin,
    /// `http://host/path`: sent to proxies.
    Absolute,
    /// `host:port`: only with `CONNECT`.
    Authority,
    /// `*`: only with `OPTIONS`.
    Asterisk,
}

/// `method SP request-target SP HTTP-version`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestLine {
    pub method: Method,
    /// The target exactly as received (validated, never normalised).
    pub target: String,
    pub form: TargetForm,
    pub version: Version,
}

/// `HTTP-version SP status-code SP [reason-phrase]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusLine {
    pub version: Version,
    /// 100..=999.
    pub status: u16,
    /// The reason phrase as received (may be empty; may hold obs-text bytes).
    pub reason: Vec<u8>,
}

/// One header field line: the name in its original case, the value with its leading and
/// trailing whitespace removed. Values are bytes: obs-text (0x80-0xFF) is legal in them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub name: String,
    pub value: Vec<u8>,
}

impl Header {
    /// The value as text, if it is UTF-8 (it is ASCII in practice).
    pub fn value_str(&self) -> Option<&str> {
        std::str::from_utf8(&self.value).ok()
    }
}

/// An ordered list of header fields. Lookups ignore ASCII case; the original case and
/// order are kept, so a message is forwarded as it came and Lua's
/// `req_get_headers()` can give each name's values 0-indexed in order of appearance.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headers {
    fields: Vec<Header>,
}

impl Headers {
    pub fn new() -> Headers {
        Headers::default()
    }

    /// An empty list with room for `n` field lines.
    pub fn with_capacity(n: usize) -> Headers {
        Headers { fields: Vec::with_capacity(n) }
    }

    /// Number of field lines (not of distinct names).
    pub fn len(&self) -> usize {
        self.fields.len()
    }

    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// Every field line in order.
    pub fn iter(&self) -> impl Iterator<Item = &Header> {
        self.fields.iter()
    }

    /// The values of `name`, in order (index 0 is the first occurrence).
    pub fn get_all<'a, 'n>(
        &'a self,
        name: &'n str,
    ) -> impl Iterator<Item = &'a [u8]> + use<'a, 'n> {
        self.fields
            .iter()
            .filter(move |h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value.as_slice())
    }

    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        self.get_all(name).next()
    }

    /// The `index`-th value (0-based) of `name`; HAProxy's `hdr(name,occ)` counts from 1
    /// and negative from the end, which the fetch converts to this.
    pub fn nth(&self, name: &str, index: usize) -> Option<&[u8]> {
        self.get_all(name).nth(index)
    }

    /// How many field lines are named `name`.
    pub fn count(&self, name: &str) -> usize {
        self.get_all(name).count()
    }

    pub fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// Appends a field line (`http-request add-header`).
    pub fn add(&mut self, name: impl Into<String>, value: impl Into<Vec<u8>>) {
        self.fields.push(Header {
            name: name.into(),
            value: value.into(),
        });
    }

    /// Removes every `name` line then appends one (`http-request set-header`).
    pub fn set(&mut self, name: impl Into<String>, value: impl Into<Vec<u8>>) {
        let name = name.into();
        self.del(&name);
        self.add(name, value);
    }

    /// Removes every `name` line; returns how many were removed (`del-header`).
    pub fn del(&mut self, name: &str) -> usize {
        let before = self.fields.len();
        self.fields.retain(|h| !h.name.eq_ignore_ascii_case(name));
        before - self.fields.len()
    }

    /// Removes the `index`-th (0-based) `name` line; true if there was one.
    pub fn del_nth(&mut self, name: &str, index: usize) -> bool {
        let pos = self
            .fields
            .iter()
            .enumerate()
            .filter(|(_, h)| h.name.eq_ignore_ascii_case(name))
            .nth(index)
            .map(|(i, _)| i);
        match pos {
            Some(i) => {
                self.fields.remove(i);
                true
            }
            None => false,
        }
    }

    /// Rewrites each `name` value in place, keeping position and name case: `f` returns
    /// the new value, or `None` to leave it unchanged (`replace-header`, `replace-value`
    /// compile their regex into such a function). Returns how many values changed.
    pub fn replace_with(
        &mut self,
        name: &str,
        mut f: impl FnMut(&[u8]) -> Option<Vec<u8>>,
    ) -> usize {
        let mut changed = 0;
        for h in self
            .fields
            .iter_mut()
            .filter(|h| h.name.eq_ignore_ascii_case(name))
        {
            if let Some(v) = f(&h.value) {
                h.value = v;
                changed += 1;
            }
        }
        changed
    }

    /// The comma-separated list elements of every `name` line, trimmed, empty elements
    /// skipped (RFC 9110 §5.6.1), in order.
    pub fn list<'a, 'n>(&'a self, name: &'n str) -> impl Iterator<Item = &'a [u8]> + use<'a, 'n> {
        self.get_all(name)
            .flat_map(|v| v.split(|&b| b == b','))
            .map(trim_ows)
            .filter(|e| !e.is_empty())
    }

    /// Whether the list header `name` holds `token` (ASCII case-insensitive), e.g.
    /// `Connection: close`.
    pub fn has_token(&self, name: &str, token: &str) -> bool {
        self.list(name)
            .any(|e| e.eq_ignore_ascii_case(token.as_bytes()))
    }

    /// The values grouped by lowercased name, names in order of first appearance and
    /// values in order: the shape of Lua's `txn.http:req_get_headers()`, whose per-name
    /// arrays are indexed from 0.
    pub fn grouped(&self) -> Vec<(String, Vec<&[u8]>)> {
        let mut groups: Vec<(String, Vec<&[u8]>)> = Vec::new();
        for h in &self.fields {
            match groups
                .iter_mut()
                .find(|(n, _)| n.eq_ignore_ascii_case(&h.name))
            {
                Some((_, values)) => values.push(&h.value),
                None => groups.push((h.name.to_ascii_lowercase(), vec![&h.value])),
            }
        }
        groups
    }

    /// Appends every field line as `name: value CRLF`.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        out.reserve(self.wire_len());
        for h in &self.fields {
            out.extend_from_slice(h.name.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(&h.value);
            out.extend_from_slice(b"\r\n");
        }
    }

    /// The bytes [`Headers::write_to`] appends.
    pub fn wire_len(&self) -> usize {
        self.fields.iter().map(|h| h.name.len() + h.value.len() + 4).sum()
    }
}

impl<'a> IntoIterator for &'a Headers {
    type Item = &'a Header;
    type IntoIter = std::slice::Iter<'a, Header>;
    fn into_iter(self) -> Self::IntoIter {
        self.fields.iter()
    }
}

/// Strips optional whitespace (SP / HTAB) from both ends.
pub(crate) fn trim_ows(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

/// How the body of a message is delimited (RFC 9112 §6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFraming {
    /// No body follows the head (a request without Content-Length or Transfer-Encoding, a
    /// response to HEAD, 1xx/204/304, a 2xx answer to CONNECT).
    None,
    /// Exactly `n` bytes follow.
    ContentLength(u64),
    /// A chunked body follows (the final transfer coding is `chunked`).
    Chunked,
    /// A response body that ends when the server closes the connection.
    UntilClose,
}

/// What the `Connection` and `Upgrade` headers say about the connection after this
/// message (RFC 9112 §9.3, RFC 9110 §7.6.1, §7.8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionInfo {
    /// `Connection: close` is present.
    pub close: bool,
    /// `Connection: keep-alive` is present.
    pub keep_alive: bool,
    /// `Connection: upgrade` is present together with an `Upgrade` header.
    pub upgrade: bool,
}

impl ConnectionInfo {
    pub fn from_headers(headers: &Headers) -> ConnectionInfo {
        // One pass over the `Connection` tokens: this runs several times per request.
        let mut info = ConnectionInfo { close: false, keep_alive: false, upgrade: false };
        for token in headers.list("connection") {
            if token.eq_ignore_ascii_case(b"close") {
                info.close = true;
            } else if token.eq_ignore_ascii_case(b"keep-alive") {
                info.keep_alive = true;
            } else if token.eq_ignore_ascii_case(b"upgrade") {
                info.upgrade = true;
            }
        }
        info.upgrade = info.upgrade && headers.contains("upgrade");
        info
    }

    /// Whether the connection persists after this message: HTTP/1.1 does unless `close`,
    /// HTTP/1.0 only with `keep-alive` (and never with `close`).
    pub fn persistent(&self, version: Version) -> bool {
        match version {
            Version::Http11 | Version::Http2 => !self.close,
            Version::Http10 => self.keep_alive && !self.close,
        }
    }
}

/// A parsed request head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub line: RequestLine,
    pub headers: Headers,
    pub framing: BodyFraming,
}

impl RequestLine {
    /// The target without scheme and authority (`/` for an absolute-form target with
    /// no path); other forms as they are.
    pub fn origin_form(&self) -> &str {
        if self.form != TargetForm::Absolute {
            return &self.target;
        }
        let after_scheme = &self.target[self.target.find("://").map_or(0, |i| i + 3)..];
        match after_scheme.find(['/', '?']) {
            Some(i) if after_scheme.as_bytes()[i] == b'/' => &after_scheme[i..],
            _ => "/",
        }
    }

    /// The path of an origin-form or absolute-form target (what HAProxy's `path` fetch
    /// returns): up to the `?`, without scheme and authority. `*` for asterisk-form, the
    /// empty string for authority-form and for an absolute-form target with no path.
    pub fn path(&self) -> &str {
        let t = match self.form {
            TargetForm::Origin | TargetForm::Asterisk => self.target.as_str(),
            TargetForm::Authority => return "",
            TargetForm::Absolute => {
                let after_scheme = &self.target[self.target.find("://").map_or(0, |i| i + 3)..];
                &after_scheme[after_scheme.find(['/', '?']).unwrap_or(after_scheme.len())..]
            }
        };
        // A byte search: `split('?')` went through the generic char searcher, and ACLs
        // on the path call this several times per request.
        t.as_bytes().iter().position(|&b| b == b'?').map_or(t, |q| &t[..q])
    }

    /// What follows the first `?` of the target (HAProxy's `query` fetch), if any.
    pub fn query(&self) -> Option<&str> {
        match self.form {
            TargetForm::Authority => None,
            _ => self.target.split_once('?').map(|(_, q)| q),
        }
    }

    /// The authority of an absolute-form or authority-form target.
    pub fn authority(&self) -> Option<&str> {
        match self.form {
            TargetForm::Authority => Some(&self.target),
            TargetForm::Absolute => {
                let rest = &self.target[self.target.find("://")? + 3..];
                Some(&rest[..rest.find(['/', '?']).unwrap_or(rest.len())])
            }
            _ => None,
        }
    }
}

impl Request {
    /// Appends the head as it goes on the wire: request line, field lines, empty line.
    pub fn write_head(&self, out: &mut Vec<u8>) {
        // One reservation for the whole head, and no formatting: this runs per request.
        let l = &self.line;
        // A request received over HTTP/2 goes on as HTTP/1.1, its target in origin form
        // (the authority is in `host`), as HAProxy sends it.
        let (target, version) = match l.version {
            Version::Http2 => (l.origin_form(), Version::Http11.as_str()),
            v => (l.target.as_str(), v.as_str()),
        };
        let method = l.method.as_str();
        out.reserve(method.len() + target.len() + version.len() + 6 + self.headers.wire_len());
        for part in [method.as_bytes(), b" ", target.as_bytes(), b" ", version.as_bytes(), b"\r\n"] {
            out.extend_from_slice(part);
        }
        self.headers.write_to(out);
        out.extend_from_slice(b"\r\n");
    }

    pub fn connection(&self) -> ConnectionInfo {
        ConnectionInfo::from_headers(&self.headers)
    }

    /// Whether the client keeps the connection open after this exchange.
    pub fn keep_alive(&self) -> bool {
        self.connection().persistent(self.line.version)
    }

    /// The `Upgrade` protocols asked for (`websocket`, ...), if the request asks to switch.
    pub fn upgrade(&self) -> Option<&[u8]> {
        if self.connection().upgrade {
            self.headers.get("upgrade")
        } else {
            None
        }
    }

    /// `Expect: 100-continue` is present (HTTP/1.1 only, RFC 9110 §10.1.1).
    pub fn expects_continue(&self) -> bool {
        self.line.version == Version::Http11 && self.headers.has_token("expect", "100-continue")
    }
}

/// A parsed response head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub line: StatusLine,
    pub headers: Headers,
    pub framing: BodyFraming,
}

impl Response {
    /// Appends the head as it goes on the wire: status line, field lines, empty line.
    pub fn write_head(&self, out: &mut Vec<u8>) {
        // As for requests: one reservation, no formatting.
        let l = &self.line;
        let version = l.version.as_str();
        out.reserve(version.len() + 5 + l.reason.len() + 2 + self.headers.wire_len() + 2);
        out.extend_from_slice(version.as_bytes());
        out.push(b' ');
        // Three digits at least, as `{:03}` writes them.
        let st = l.status;
        if st < 1000 {
            out.extend_from_slice(&[b'0' + (st / 100) as u8, b'0' + (st / 10 % 10) as u8, b'0' + (st % 10) as u8]);
        } else {
            out.extend_from_slice(st.to_string().as_bytes());
        }
        out.push(b' ');
        out.extend_from_slice(&l.reason);
        out.extend_from_slice(b"\r\n");
        self.headers.write_to(out);
        out.extend_from_slice(b"\r\n");
    }

    pub fn connection(&self) -> ConnectionInfo {
        ConnectionInfo::from_headers(&self.headers)
    }

    /// Whether the server keeps the connection open after this response. A body read
    /// until close obviously does not.
    pub fn keep_alive(&self) -> bool {
        self.framing != BodyFraming::UntilClose && self.connection().persistent(self.line.version)
    }

    /// An interim response (1xx other than 101): the final response is still to come.
    pub fn is_interim(&self) -> bool {
        (100..200).contains(&self.line.status) && self.line.status != 101
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hdrs(list: &[(&str, &str)]) -> Headers {
        let mut h = Headers::new();
        for (n, v) in list {
            h.add(*n, v.as_bytes());
        }
        h
    }

    #[test]
    fn lookup_ignores_case_and_keeps_order() {
        let h = hdrs(&[
            ("Host", "a"),
            ("X-A", "1"),
            ("x-a", "2"),
            ("X-B", "3"),
            ("X-a", "4"),
        ]);
        assert_eq!(h.get("x-A"), Some(&b"1"[..]));
        assert_eq!(h.nth("X-A", 2), Some(&b"4"[..]));
        assert_eq!(h.nth("X-A", 3), None);
        assert_eq!(h.count("x-a"), 3);
        let names: Vec<_> = h.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["Host", "X-A", "x-a", "X-B", "X-a"]);
    }

    #[test]
    fn add_set_del_replace() {
        let mut h = hdrs(&[("A", "1"), ("B", "2"), ("a", "3")]);
        h.set("a", "9");
        assert_eq!(
            h.iter()
                .map(|f| (f.name.as_str(), f.value.as_slice()))
                .collect::<Vec<_>>(),
            [("B", &b"2"[..]), ("a", b"9")]
        );
        h.add("B", "x");
        assert!(h.del_nth("b", 1));
        assert_eq!(h.get_all("b").collect::<Vec<_>>(), [b"2"]);
        assert_eq!(h.replace_with("B", |v| Some([v, b"!"].concat())), 1);
        assert_eq!(h.get("b"), Some(&b"2!"[..]));
        assert_eq!(h.del("nope"), 0);
        assert_eq!(h.del("A"), 1);
        assert_eq!(h.len(), 1);
    }

    #[test]
    fn list_tokens() {
        let h = hdrs(&[
            ("Connection", " Keep-Alive , ,Upgrade"),
            ("connection", "x"),
            ("Upgrade", "websocket"),
        ]);
        assert_eq!(
            h.list("connection").collect::<Vec<_>>(),
            [&b"Keep-Alive"[..], b"Upgrade", b"x"]
        );
        assert!(h.has_token("Connection", "keep-alive"));
        assert!(!h.has_token("Connection", "close"));
        let c = ConnectionInfo::from_headers(&h);
        assert!(c.upgrade && c.keep_alive && !c.close);
    }

    #[test]
    fn grouped_for_lua() {
        let h = hdrs(&[("Accept", "a"), ("X-Y", "1"), ("accept", "b")]);
        let g = h.grouped();
        assert_eq!(g.len(), 2);
        assert_eq!(g[0], ("accept".to_string(), vec![&b"a"[..], b"b"]));
        assert_eq!(g[1], ("x-y".to_string(), vec![&b"1"[..]]));
    }

    #[test]
    fn target_parts() {
        let line = |target: &str, form| RequestLine {
            method: Method::Get,
            target: target.into(),
            form,
            version: Version::Http11,
        };
        let o = line("/a/b?x=1?y", TargetForm::Origin);
        assert_eq!(
            (o.path(), o.query(), o.authority()),
            ("/a/b", Some("x=1?y"), None)
        );
        let a = line("http://h:80/p?q", TargetForm::Absolute);
        assert_eq!(
            (a.path(), a.query(), a.authority()),
            ("/p", Some("q"), Some("h:80"))
        );
        let bare = line("http://h?q", TargetForm::Absolute);
        assert_eq!((bare.path(), bare.authority()), ("", Some("h")));
        let c = line("h:443", TargetForm::Authority);
        assert_eq!(
            (c.path(), c.query(), c.authority()),
            ("", None, Some("h:443"))
        );
        assert_eq!(line("*", TargetForm::Asterisk).path(), "*");
    }

    #[test]
    fn persistence_per_version() {
        let none = ConnectionInfo::from_headers(&Headers::new());
        assert!(none.persistent(Version::Http11));
        assert!(!none.persistent(Version::Http10));
        let ka = ConnectionInfo::from_headers(&hdrs(&[("Connection", "keep-alive")]));
        assert!(ka.persistent(Version::Http10));
        let close = ConnectionInfo::from_headers(&hdrs(&[("Connection", "keep-alive, close")]));
        assert!(!close.persistent(Version::Http10));
        assert!(!close.persistent(Version::Http11));
        // Upgrade needs both the token and the header.
        assert!(!ConnectionInfo::from_headers(&hdrs(&[("Upgrade", "websocket")])).upgrade);
    }
}
