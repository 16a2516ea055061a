//! Request-head and response-head parsers (RFC 9112 §2-§6), strict and restartable.
//!
//! # Contract
//!
//! `parse(&mut self, buf)` takes every byte received for this message so far, from its
//! first byte: each call passes the same bytes as the last one, possibly followed by
//! more. It returns [`Status::Partial`] (call again when more bytes arrive),
//! [`Status::Complete`] with the message and the number of bytes its head took, or a
//! [`ParseError`] whose offset counts from `buf[0]`. Work is not redone: complete lines
//! are parsed once and the search for the end of the current line resumes where it
//! stopped, so feeding a head one byte at a time costs the same as feeding it whole.
//!
//! A line is judged only once its LF has arrived, so the verdict on a message does not
//! depend on how it was split; only the size limits look at a partial line (a head
//! that has not ended within `Limits::max_head` bytes is rejected at that offset).
//!
//! After `Complete` or an error the parser is spent; make a new one per message.

use super::{ErrorKind, Limits, ParseError, Status};
use crate::http::{
    trim_ows, BodyFraming, Headers, Method, Request, RequestLine, Response, StatusLine, TargetForm,
    Version,
};

type Result<T> = std::result::Result<T, ParseError>;

fn err<T>(kind: ErrorKind, offset: usize) -> Result<T> {
    Err(ParseError::new(kind, offset))
}

/// Parses a request head. See the module documentation for the contract.
#[derive(Debug)]
pub struct RequestParser {
    core: HeadCore,
    line: Option<RequestLine>,
    /// `h1-accept-payload-with-any-method`: see [`RequestParser::accept_payload_with_any_method`].
    payload_any_method: bool,
}

impl RequestParser {
    pub fn new(limits: Limits) -> RequestParser {
        RequestParser {
            core: HeadCore::new(limits),
            line: None,
            payload_any_method: false,
        }
    }

    /// The same parser, letting an HTTP/1.0 GET, HEAD or DELETE carry a payload when
    /// `accept` (the global `h1-accept-payload-with-any-method`). Without it such a
    /// request is refused with [`ErrorKind::PayloadWithMethod`] (413), as HAProxy 2.6
    /// does: an HTTP/1.0 server may not expect a body there and read it as the next
    /// request.
    pub fn accept_payload_with_any_method(mut self, accept: bool) -> RequestParser {
        self.payload_any_method = accept;
        self
    }

    /// The same parser, relaxed as `option accept-invalid-http-request` asks when
    /// `accept` (see [`Strictness`]).
    pub fn accept_invalid(mut self, accept: bool) -> RequestParser {
        self.core.strictness = Strictness::from_option(accept);
        self
    }

    pub fn parse(&mut self, buf: &[u8]) -> Result<Status<Request>> {
        let line = &mut self.line;
        let strictness = self.core.strictness;
        let done = self.core.advance(buf, true, |text, at| {
            *line = Some(parse_request_line(text, at, strictness)?);
            Ok(())
        })?;
        if !done {
            return Ok(Status::Partial);
        }
        let line = self.line.take().expect("a complete head has a start line");
        let headers = std::mem::take(&mut self.core.headers);
        let framing = request_framing(&line, &headers, &self.core.offsets);
        let framing = http10_payload(&line, framing, self.payload_any_method, self.core.pos)?;
        Ok(Status::Complete(
            Request {
                line,
                headers,
                framing,
            },
            self.core.pos,
        ))
    }
}

/// Parses a response head. It needs the method of the request it answers: a response
/// to HEAD, or a 2xx to CONNECT, has no body whatever its headers say.
#[derive(Debug)]
pub struct ResponseParser {
    core: HeadCore,
    line: Option<StatusLine>,
    request_method: Method,
}

impl ResponseParser {
    pub fn new(limits: Limits, request_method: Method) -> ResponseParser {
        ResponseParser {
            core: HeadCore::new(limits),
            line: None,
            request_method,
        }
    }

    /// The same parser, relaxed as `option accept-invalid-http-response` asks when
    /// `accept` (see [`Strictness`]).
    pub fn accept_invalid(mut self, accept: bool) -> ResponseParser {
        self.core.strictness = Strictness::from_option(accept);
        self
    }

    pub fn parse(&mut self, buf: &[u8]) -> Result<Status<Response>> {
        let line = &mut self.line;
        let done = self.core.advance(buf, false, |text, at| {
            *line = Some(parse_status_line(text, at)?);
            Ok(())
        })?;
        if !done {
            return Ok(Status::Partial);
        }
        let line = self.line.take().expect("a complete head has a start line");
        let headers = std::mem::take(&mut self.core.headers);
        let framing = response_framing(&self.request_method, &line, &headers, &self.core.offsets)?;
        Ok(Status::Complete(
            Response {
                line,
                headers,
                framing,
            },
            self.core.pos,
        ))
    }
}

/// How strict a head parser is about bytes no recipient can misread.
///
/// `Strict` (the default) is RFC 9112. `AcceptInvalid` is what HAProxy's `option
/// accept-invalid-http-request` (frontends) and `accept-invalid-http-response`
/// (backends) allow, for clients and servers that cannot be fixed at once:
/// - a field name may hold any ASCII byte but NUL and `:` (control bytes, `"`, `{`,
///   spaces inside the name ...), not only token characters;
/// - a request target may hold `#` and non-ASCII bytes (UTF-8 only: the target is
///   kept as text).
///
/// What keeps messages unambiguous stays checked in both modes: whitespace before
/// the colon (HAProxy 2.6 lets it through with the option, where a server that trims
/// it would read a different `Content-Length` than the proxy), bare CR or LF,
/// obs-fold, control bytes in the request target, and every framing rule
/// (Content-Length, Transfer-Encoding, chunk sizes). Non-ASCII bytes in names are
/// still refused (names are kept as text). doc/config.md lists these deviations.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Strictness {
    #[default]
    Strict,
    AcceptInvalid,
}

impl Strictness {
    /// `AcceptInvalid` when the option is set.
    pub fn from_option(accept_invalid: bool) -> Strictness {
        if accept_invalid {
            Strictness::AcceptInvalid
        } else {
            Strictness::Strict
        }
    }

    /// A byte a field name may hold.
    fn name_byte(self, b: u8) -> bool {
        match self {
            Strictness::Strict => is_tchar(b),
            Strictness::AcceptInvalid => is_tchar(b) || (b != 0 && b != b':' && b < 0x80),
        }
    }

    /// A byte a request target may hold.
    fn target_byte(self, b: u8) -> bool {
        match self {
            Strictness::Strict => is_target_byte(b),
            Strictness::AcceptInvalid => is_target_byte(b) || b == b'#' || b >= 0x80,
        }
    }
}

/// The line-by-line engine both parsers share: it finds complete lines, hands the first
/// one to the start-line parser and parses the others as field lines.
#[derive(Debug)]
struct HeadCore {
    limits: Limits,
    /// Start of the first line not parsed yet (at the end: the bytes the head took).
    pos: usize,
    /// Where the search for the current line's LF resumes.
    scanned: usize,
    start_done: bool,
    strictness: Strictness,
    headers: Headers,
    /// The offset of each field line in `headers`, for framing errors.
    offsets: Vec<usize>,
}

impl HeadCore {
    fn new(limits: Limits) -> HeadCore {
        HeadCore {
            limits,
            pos: 0,
            scanned: 0,
            start_done: false,
            strictness: Strictness::Strict,
            // Room for a typical head's fields: one allocation each instead of three.
            headers: Headers::with_capacity(8),
            offsets: Vec::with_capacity(8),
        }
    }

    /// Parses every complete line; true once the empty line ending the head is seen.
    fn advance(
        &mut self,
        buf: &[u8],
        skip_leading_empty_lines: bool,
        mut start_line: impl FnMut(&[u8], usize) -> Result<()>,
    ) -> Result<bool> {
        debug_assert!(
            buf.len() >= self.scanned.min(self.limits.max_head),
            "parse() must be given the same bytes again, plus more"
        );
        // Bytes past the limit can never be part of an acceptable head.
        let window = &buf[..buf.len().min(self.limits.max_head)];
        while let Some(nl) = memchr::memchr(b'\n', &window[self.scanned..]) {
            let lf = self.scanned + nl;
            if lf == self.pos || window[lf - 1] != b'\r' {
                return err(ErrorKind::BareLf, lf);
            }
            let at = self.pos;
            let text = &window[at..lf - 1];
            self.pos = lf + 1;
            self.scanned = self.pos;
            let bare_cr = |text: &[u8]| memchr::memchr(b'\r', text).map(|cr| ParseError::new(ErrorKind::BareCr, at + cr));
            if !self.start_done {
                if let Some(e) = bare_cr(text) {
                    return Err(e);
                }
                // RFC 9112 §2.2: a server SHOULD ignore empty lines before a request line.
                if text.is_empty() && skip_leading_empty_lines {
                    continue;
                }
                start_line(text, at)?;
                self.start_done = true;
                continue;
            }
            if text.is_empty() {
                return Ok(true);
            }
            // A CR fails a field line's own checks (it is neither a `tchar` nor a value
            // byte); it is looked for only then, to name the error, instead of on every line.
            let (name, value) = parse_field_line_with(text, at, self.strictness).map_err(|e| bare_cr(text).unwrap_or(e))?;
            // `tune.http.maxhdr` counts the start line (HAProxy 2.6 answers a request
            // with 100 field lines and refuses one with 101).
            if self.headers.len() + 1 >= self.limits.max_headers {
                return err(ErrorKind::TooManyHeaders, at);
            }
            self.headers.add(name, value);
            self.offsets.push(at);
        }
        self.scanned = window.len();
        if buf.len() >= self.limits.max_head {
            let kind = if self.start_done {
                ErrorKind::HeadTooLarge
            } else {
                ErrorKind::UriTooLong
            };
            return err(kind, self.limits.max_head);
        }
        Ok(false)
    }
}

/// `tchar` (RFC 9110 §5.6.2), one table lookup per byte (header names are the hot loop).
pub(crate) fn is_tchar(b: u8) -> bool {
    TCHAR[usize::from(b)]
}

static TCHAR: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        t[b] = c.is_ascii_alphanumeric() || matches!(c, b'!' | b'#' | b'$' | b'%' | b'&' | b'\'' | b'*' | b'+' | b'-' | b'.' | b'^' | b'_' | b'`' | b'|' | b'~');
        b += 1;
    }
    t
};

/// A byte allowed in a field value or reason phrase: VCHAR, obs-text, SP, HTAB.
fn is_field_byte(b: u8) -> bool {
    b == b'\t' || (b' '..=b'~').contains(&b) || b >= 0x80
}

fn is_ctl(b: u8) -> bool {
    b < 0x20 || b == 0x7f
}

/// Parses one field line (without its CRLF, already free of CR): `name ":" OWS value OWS`.
/// Shared with the trailer section of chunked bodies. `at` is the line's offset.
pub(crate) fn parse_field_line(text: &[u8], at: usize) -> Result<(String, Vec<u8>)> {
    parse_field_line_with(text, at, Strictness::Strict)
}

/// [`parse_field_line`] with the field-name rule of `strictness`.
fn parse_field_line_with(text: &[u8], at: usize, strictness: Strictness) -> Result<(String, Vec<u8>)> {
    if let Some(b' ' | b'\t') = text.first() {
        return err(ErrorKind::ObsFold, at);
    }
    // The common case in one pass: a token, then the colon.
    let name_end = text.iter().position(|&b| !is_tchar(b));
    if let Some(colon) = name_end.filter(|&i| i > 0 && text[i] == b':') {
        return field_value(text, colon, at);
    }
    let Some(colon) = text.iter().position(|&b| b == b':') else {
        // Say what is wrong with the name before saying the colon is missing.
        if let Some(i) = text.iter().position(|&b| !is_tchar(b)) {
            let kind = if is_ctl(text[i]) {
                ErrorKind::ControlChar
            } else {
                ErrorKind::BadHeaderName
            };
            return err(kind, at + i);
        }
        return err(ErrorKind::MissingColon, at + text.len());
    };
    let name = &text[..colon];
    if name.is_empty() {
        return err(ErrorKind::BadHeaderName, at);
    }
    if let Some(i) = name.iter().position(|&b| !is_tchar(b)) {
        let trailing_ws = name[i..].iter().all(|&b| b == b' ' || b == b'\t');
        if !trailing_ws {
            let last = name.iter().rposition(|&b| b != b' ' && b != b'\t').unwrap_or(0);
            let tail_ok = last + 1 == name.len();
            if tail_ok && name.iter().all(|&b| strictness.name_byte(b)) {
                return field_value(text, colon, at);
            }
        }
        let kind = match name[i] {
            b' ' | b'\t' if name[i..].iter().all(|&b| b == b' ' || b == b'\t') => {
                ErrorKind::SpaceBeforeColon
            }
            b if is_ctl(b) && b != b'\t' => ErrorKind::ControlChar,
            _ => ErrorKind::BadHeaderName,
        };
        return err(kind, at + i);
    }
    field_value(text, colon, at)
}

/// The rest of a field line whose name (`text[..colon]`, a token) was checked.
fn field_value(text: &[u8], colon: usize, at: usize) -> Result<(String, Vec<u8>)> {
    let raw = &text[colon + 1..];
    if let Some(i) = raw.iter().position(|&b| !is_field_byte(b)) {
        return err(ErrorKind::ControlChar, at + colon + 1 + i);
    }
    let name = String::from_utf8(text[..colon].to_vec()).expect("name bytes are ASCII");
    Ok((name, trim_ows(raw).to_vec()))
}

/// `HTTP/DIGIT.DIGIT`; a 1.x minor version above 1 is read as 1.1 (RFC 9110 §2.5).
fn parse_version(text: &[u8], at: usize) -> Result<Version> {
    match text {
        [b'H', b'T', b'T', b'P', b'/', major, b'.', minor]
            if major.is_ascii_digit() && minor.is_ascii_digit() =>
        {
            match (major, minor) {
                (b'1', b'0') => Ok(Version::Http10),
                (b'1', _) => Ok(Version::Http11),
                _ => err(ErrorKind::UnsupportedVersion, at),
            }
        }
        _ => err(ErrorKind::BadVersion, at),
    }
}

fn parse_request_line(text: &[u8], at: usize, strictness: Strictness) -> Result<RequestLine> {
    // method
    let Some(sp1) = text.iter().position(|&b| !is_tchar(b)) else {
        return err(ErrorKind::BadRequestLine, at + text.len());
    };
    if text[sp1] != b' ' {
        return err(ErrorKind::BadMethod, at + sp1);
    }
    if sp1 == 0 {
        return err(ErrorKind::BadRequestLine, at);
    }
    let method = Method::from_token(std::str::from_utf8(&text[..sp1]).expect("tokens are ASCII"));
    // target
    let t0 = sp1 + 1;
    let Some(len) = text[t0..].iter().position(|&b| !strictness.target_byte(b)) else {
        return err(ErrorKind::BadRequestLine, at + text.len());
    };
    let sp2 = t0 + len;
    if text[sp2] != b' ' {
        return err(ErrorKind::BadTarget, at + sp2);
    }
    if len == 0 {
        return err(ErrorKind::BadRequestLine, at + sp2);
    }
    let target = &text[t0..sp2];
    let form = target_form(&method, target, at + t0)?;
    // version: everything after the second space (a third space makes it invalid)
    let version = parse_version(&text[sp2 + 1..], at + sp2 + 1)?;
    // Only a relaxed parser lets non-ASCII bytes through: they must form UTF-8.
    let Ok(target) = String::from_utf8(target.to_vec()) else {
        return err(ErrorKind::BadTarget, at + t0);
    };
    Ok(RequestLine {
        method,
        target,
        form,
        version,
    })
}

/// Bytes allowed in a request target: visible ASCII except `#` (a fragment is never
/// sent). Stricter URI grammar (`"`, `<`, `{`, `|` ...) is left alone as HAProxy does:
/// those bytes are not ambiguous to any recipient, and real clients send them.
fn is_target_byte(b: u8) -> bool {
    (b'!'..=b'~').contains(&b) && b != b'#'
}

fn target_form(method: &Method, target: &[u8], at: usize) -> Result<TargetForm> {
    let form = if target == b"*" {
        TargetForm::Asterisk
    } else if target[0] == b'/' {
        TargetForm::Origin
    } else if let Some(form) = absolute_form(target, at)? {
        form
    } else if *method == Method::Connect {
        authority_form(target, at)?;
        TargetForm::Authority
    } else {
        return err(ErrorKind::BadTarget, at);
    };
    let allowed = match form {
        TargetForm::Asterisk => *method == Method::Options,
        TargetForm::Authority => true,
        TargetForm::Origin | TargetForm::Absolute => *method != Method::Connect,
    };
    if !allowed {
        return err(ErrorKind::BadTargetForm, at);
    }
    Ok(form)
}

/// `scheme "://" authority [path-abempty] ["?" query]`; `None` if `target` does not
/// start with a scheme and `://`. The authority must be non-empty and carry no userinfo
/// (RFC 9110 §4.2.4: a recipient SHOULD treat `user@host` as an error; it is a classic
/// way to confuse a URL parser about the real host).
fn absolute_form(target: &[u8], at: usize) -> Result<Option<TargetForm>> {
    let Some(colon) = target.iter().position(|&b| b == b':') else {
        return Ok(None);
    };
    let scheme = &target[..colon];
    let scheme_ok = scheme.first().is_some_and(u8::is_ascii_alphabetic)
        && scheme
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b"+-.".contains(&b));
    if !scheme_ok || !target[colon..].starts_with(b"://") {
        return Ok(None);
    }
    let a0 = colon + 3;
    let authority_len = target[a0..]
        .iter()
        .position(|&b| b == b'/' || b == b'?')
        .unwrap_or(target.len() - a0);
    let authority = &target[a0..a0 + authority_len];
    if authority.is_empty() {
        return err(ErrorKind::BadTarget, at + a0);
    }
    if let Some(i) = authority.iter().position(|&b| !is_authority_byte(b)) {
        return err(ErrorKind::BadTarget, at + a0 + i);
    }
    Ok(Some(TargetForm::Absolute))
}

/// unreserved / sub-delims / ":" / "[" / "]" / pct-encoded: what a host and port use.
fn is_authority_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:[]%".contains(&b)
}

/// `host ":" port` with a non-empty host and a decimal port (RFC 9112 §3.2.3).
fn authority_form(target: &[u8], at: usize) -> Result<()> {
    if let Some(i) = target.iter().position(|&b| !is_authority_byte(b)) {
        return err(ErrorKind::BadTarget, at + i);
    }
    let colon = target.iter().rposition(|&b| b == b':');
    match colon {
        Some(c)
            if c > 0 && c + 1 < target.len() && target[c + 1..].iter().all(u8::is_ascii_digit) =>
        {
            Ok(())
        }
        _ => err(ErrorKind::BadTarget, at),
    }
}

fn parse_status_line(text: &[u8], at: usize) -> Result<StatusLine> {
    let sp = text.iter().position(|&b| b == b' ').unwrap_or(text.len());
    let version = parse_version(&text[..sp], at)?;
    if sp == text.len() {
        return err(ErrorKind::BadStatus, at + sp);
    }
    let code = &text[sp + 1..];
    let status = match code {
        [a @ b'1'..=b'9', b, c, ..] if b.is_ascii_digit() && c.is_ascii_digit() => {
            u16::from(a - b'0') * 100 + u16::from(b - b'0') * 10 + u16::from(c - b'0')
        }
        _ => return err(ErrorKind::BadStatus, at + sp + 1),
    };
    // After the code: the end of the line (a missing reason is tolerated: unambiguous),
    // or SP and a reason phrase.
    let reason = match &code[3..] {
        [] => &[][..],
        [b' ', reason @ ..] => reason,
        _ => return err(ErrorKind::BadStatus, at + sp + 4),
    };
    if let Some(i) = reason.iter().position(|&b| !is_field_byte(b)) {
        return err(ErrorKind::ControlChar, at + sp + 5 + i);
    }
    Ok(StatusLine {
        version,
        status,
        reason: reason.to_vec(),
    })
}

/// What the framing headers of a head say, validated (RFC 9112 §6).
struct Framing {
    /// Some(lowercased final coding is chunked) if Transfer-Encoding is present.
    chunked: Option<bool>,
    content_length: Option<u64>,
}

/// Transfer codings a request may carry before the final `chunked`: the registered
/// ones. Anything else is answered 501 (RFC 9112 §6.1).
const KNOWN_CODINGS: &[&str] = &[
    "chunked",
    "gzip",
    "x-gzip",
    "deflate",
    "compress",
    "x-compress",
];

fn framing_headers(
    version: Version,
    headers: &Headers,
    offsets: &[usize],
    request: bool,
) -> Result<Framing> {
    let mut te_at = None;
    let mut cl: Option<(u64, usize)> = None;
    for (h, &at) in headers.iter().zip(offsets) {
        if h.name.eq_ignore_ascii_case("transfer-encoding") {
            te_at.get_or_insert(at);
        } else if h.name.eq_ignore_ascii_case("content-length") {
            for element in h.value.split(|&b| b == b',') {
                let n = parse_content_length(trim_ows(element))
                    .ok_or(ParseError::new(ErrorKind::BadContentLength, at))?;
                match cl {
                    Some((prev, _)) if prev != n => {
                        return err(ErrorKind::ConflictingContentLength, at)
                    }
                    Some(_) => {}
                    None => cl = Some((n, at)),
                }
            }
        }
    }
    let Some(te_at) = te_at else {
        return Ok(Framing {
            chunked: None,
            content_length: cl.map(|(n, _)| n),
        });
    };
    if version == Version::Http10 {
        return err(ErrorKind::TransferEncodingHttp10, te_at);
    }
    if let Some((_, cl_at)) = cl {
        return err(
            ErrorKind::ContentLengthWithTransferEncoding,
            cl_at.max(te_at),
        );
    }
    // The codings of every Transfer-Encoding line, in order.
    let mut codings = Vec::new();
    for (h, &at) in headers.iter().zip(offsets) {
        if !h.name.eq_ignore_ascii_case("transfer-encoding") {
            continue;
        }
        for element in h.value.split(|&b| b == b',') {
            let element = trim_ows(element);
            // A coding may carry parameters (`gzip;q=1` is not valid here but `;param`
            // syntax is); only the name matters.
            let name = trim_ows(element.split(|&b| b == b';').next().unwrap_or_default());
            if name.is_empty() {
                if element.is_empty() {
                    continue; // empty list elements are ignored (RFC 9110 §5.6.1)
                }
                return err(ErrorKind::BadTransferEncoding, at);
            }
            if !name.iter().all(|&b| is_tchar(b)) {
                return err(ErrorKind::BadTransferEncoding, at);
            }
            codings.push((name.to_ascii_lowercase(), at));
        }
    }
    let Some(last) = codings.last() else {
        return err(ErrorKind::BadTransferEncoding, te_at);
    };
    let last_is_chunked = last.0 == b"chunked";
    if let Some((_, at)) = codings.iter().rev().skip(1).find(|(c, _)| c == b"chunked") {
        // chunked applied twice, or chunked not last (then nothing can find the end).
        let kind = if last_is_chunked {
            ErrorKind::BadTransferEncoding
        } else {
            ErrorKind::TransferEncodingNotChunked
        };
        return err(kind, *at);
    }
    if request {
        if let Some((_, at)) = codings
            .iter()
            .find(|(c, _)| !KNOWN_CODINGS.iter().any(|k| k.as_bytes() == c.as_slice()))
        {
            return err(ErrorKind::UnknownTransferCoding, *at);
        }
        if !last_is_chunked {
            return err(ErrorKind::TransferEncodingNotChunked, last.1);
        }
    }
    Ok(Framing {
        chunked: Some(last_is_chunked),
        content_length: None,
    })
}

/// `1*DIGIT` fitting in a u64.
fn parse_content_length(s: &[u8]) -> Option<u64> {
    if s.is_empty() {
        return None;
    }
    s.iter().try_fold(0u64, |n, &b| {
        if !b.is_ascii_digit() {
            return None;
        }
        n.checked_mul(10)?.checked_add(u64::from(b - b'0'))
    })
}

fn request_framing(
    line: &RequestLine,
    headers: &Headers,
    offsets: &[usize],
) -> Result<BodyFraming> {
    let mut hosts = headers
        .iter()
        .zip(offsets)
        .filter(|(h, _)| h.name.eq_ignore_ascii_case("host"));
    let first = hosts.next();
    if let (Some(_), Some((_, &at))) = (first, hosts.next()) {
        return err(ErrorKind::MultipleHost, at);
    }
    if let (TargetForm::Absolute, Some((host, &at))) = (line.form, first) {
        let authority = line.authority().unwrap_or_default();
        let https = line.target.get(..8).is_some_and(|s| s.eq_ignore_ascii_case("https://"));
        if !same_host(authority.as_bytes(), host.value.trim_ascii(), if https { b":443" } else { b":80" }) {
            return err(ErrorKind::HostMismatch, at);
        }
    }
    let f = framing_headers(line.version, headers, offsets, true)?;
    Ok(match (f.chunked, f.content_length) {
        (Some(_), _) => BodyFraming::Chunked,
        (None, Some(n)) => BodyFraming::ContentLength(n),
        (None, None) => BodyFraming::None,
    })
}

/// HAProxy 2.6 answers 413 to an HTTP/1.0 GET, HEAD or DELETE request announcing a
/// payload (a non-zero Content-Length, or Transfer-Encoding) unless `accept`
/// (`h1-accept-payload-with-any-method`); HTTP/1.1 requests and other methods pass.
/// Transfer-Encoding in an HTTP/1.0 request is refused (400) whatever the method, but
/// on these three methods HAProxy's 413 comes first: so it does here. `end` is the
/// offset reported, the end of the head.
fn http10_payload(line: &RequestLine, framing: Result<BodyFraming>, accept: bool, end: usize) -> Result<BodyFraming> {
    let refused = !accept
        && line.version == Version::Http10
        && matches!(line.method, Method::Get | Method::Head | Method::Delete);
    if !refused {
        return framing;
    }
    match framing {
        Ok(BodyFraming::Chunked | BodyFraming::ContentLength(1..)) => err(ErrorKind::PayloadWithMethod, end),
        Err(e) if e.kind == ErrorKind::TransferEncodingHttp10 => err(ErrorKind::PayloadWithMethod, end),
        other => other,
    }
}

fn response_framing(
    method: &Method,
    line: &StatusLine,
    headers: &Headers,
    offsets: &[usize],
) -> Result<BodyFraming> {
    // Validate even when no body follows: a conflict is a broken server either way.
    let f = framing_headers(line.version, headers, offsets, false)?;
    let status = line.status;
    if *method == Method::Head
        || (100..200).contains(&status)
        || status == 204
        || status == 304
        || (*method == Method::Connect && (200..300).contains(&status))
    {
        return Ok(BodyFraming::None);
    }
    Ok(match (f.chunked, f.content_length) {
        (Some(true), _) => BodyFraming::Chunked,
        // RFC 9112 §6.3 (4): a response whose final coding is not chunked is read until close.
        (Some(false), _) => BodyFraming::UntilClose,
        (None, Some(n)) => BodyFraming::ContentLength(n),
        (None, None) => BodyFraming::UntilClose,
    })
}

#[cfg(test)]
#[path = "parse_tests.rs"]
mod tests;

/// Whether two `host[:port]` forms name the same host: ASCII case ignored, and the
/// scheme's default port (`default`, e.g. `:80`) the same as none.
fn same_host(a: &[u8], b: &[u8], default: &[u8]) -> bool {
    let strip = |h: &'_ [u8]| -> Vec<u8> {
        let h = h.to_ascii_lowercase();
        match h.strip_suffix(default) {
            Some(rest) => rest.to_vec(),
            None => h,
        }
    };
    strip(a) == strip(b)
}
