//! HTTP/1.x on the wire: the head parsers ([`parse`]) and the body decoder ([`body`]).
//!
//! Both are sans-io: bytes in, a [`Status`] or a [`ParseError`] out, state kept in a
//! struct so that feeding more bytes resumes where the last call stopped. Every
//! rejection is a distinct [`ErrorKind`] carrying the byte offset where it was found
//! and the status a server answers with ([`ErrorKind::status`]); a response that fails
//! to parse is answered 502 by the proxy whatever the kind.

pub mod body;
pub mod parse;

pub use body::{BodyDecoder, Decoded};
pub use parse::{RequestParser, ResponseParser, Strictness};

use std::fmt;

/// Size limits a parser enforces. They come from the configuration: `tune.bufsize` and
/// `tune.http.maxhdr`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The largest head (start line, field lines and the final empty line), in bytes:
    /// the head must fit in one buffer (`tune.bufsize`, default 16384).
    pub max_head: usize,
    /// The most lines in a head, the start line included, as HAProxy counts
    /// `tune.http.maxhdr` (default 101): at most `max_headers - 1` field lines.
    pub max_headers: usize,
    /// The largest trailer section of a chunked body, in bytes (the same buffer bound).
    pub max_trailers: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_head: 16384,
            max_headers: 101,
            max_trailers: 16384,
        }
    }
}

/// The outcome of feeding bytes to a head parser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status<T> {
    /// The head is not complete yet: call again with the same bytes and more after them.
    Partial,
    /// The head is complete: the message, and how many bytes of the input it took
    /// (the body, or the next message, starts there).
    Complete(T, usize),
}

/// Why a message was rejected. Each maps to the status a server answers a request with
/// ([`ErrorKind::status`]); doc/http.md has the table with HAProxy's behaviour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    // --- start line ---
    /// The request line is not `method SP target SP version` (a missing or doubled space).
    BadRequestLine,
    /// A byte of the method is not a token character.
    BadMethod,
    /// A byte of the request target is not allowed, or the target has no valid form.
    BadTarget,
    /// A valid form used with the wrong method: `*` without OPTIONS, `host:port` without
    /// CONNECT, CONNECT without `host:port`.
    BadTargetForm,
    /// The request line does not fit in the buffer.
    UriTooLong,
    /// The version is not `HTTP/DIGIT.DIGIT`.
    BadVersion,
    /// The version is well formed but its major version is not 1.
    UnsupportedVersion,
    /// The status code of a response is not three digits from 100 to 999.
    BadStatus,
    // --- bytes and lines ---
    /// A CR not followed by LF.
    BareCr,
    /// An LF not preceded by CR.
    BareLf,
    /// NUL or another control byte (other than HTAB) in a field name, value or reason.
    ControlChar,
    /// A field name that is empty or holds a non-token byte.
    BadHeaderName,
    /// Whitespace between a field name and its colon (RFC 9112 §5.1: MUST reject).
    SpaceBeforeColon,
    /// A field line without a colon.
    MissingColon,
    /// A line starting with whitespace: obsolete line folding (RFC 9112 §5.2).
    ObsFold,
    /// `tune.http.maxhdr` lines or more, the start line included.
    TooManyHeaders,
    /// The head does not fit in the buffer (`tune.bufsize`).
    HeadTooLarge,
    /// More than one Host field line (RFC 9112 §3.2: MUST reject).
    MultipleHost,
    /// An absolute-form target whose authority is not the Host header's (compared
    /// without case and without the scheme's default port), which HAProxy 2.6 rejects:
    /// the proxy and the server could otherwise route by different hosts.
    HostMismatch,
    // --- framing ---
    /// Content-Length and Transfer-Encoding in one message.
    ContentLengthWithTransferEncoding,
    /// A Content-Length value that is not a decimal number fitting in 64 bits.
    BadContentLength,
    /// Several Content-Length values that differ.
    ConflictingContentLength,
    /// A Transfer-Encoding list that is empty, malformed, or names `chunked` twice.
    BadTransferEncoding,
    /// A request Transfer-Encoding whose final coding is not `chunked`.
    TransferEncodingNotChunked,
    /// A request transfer coding this proxy does not know.
    UnknownTransferCoding,
    /// Transfer-Encoding in an HTTP/1.0 message (RFC 9112 §6.1: the framing is faulty).
    TransferEncodingHttp10,
    /// An HTTP/1.0 GET, HEAD or DELETE request with a payload, refused (413) unless the
    /// global `h1-accept-payload-with-any-method` (HAProxy 2.6's rule).
    PayloadWithMethod,
    // --- chunked body ---
    /// A chunk-size line that is not `1*HEXDIG [ext] CRLF`.
    BadChunkSize,
    /// A chunk size that does not fit in 64 bits (or has more than 16 digits).
    ChunkSizeOverflow,
    /// Chunk extensions longer than the bound the decoder accepts.
    ChunkExtTooLong,
    /// Chunk data not followed by CRLF.
    BadChunkEnd,
    /// A trailer section larger than `Limits::max_trailers`.
    TrailersTooLarge,
    /// The connection ended before the body did.
    Truncated,
}

impl ErrorKind {
    /// The status a server answers a request rejected for this reason with. (A response
    /// rejected for any reason is answered 502 to the client.)
    pub fn status(self) -> u16 {
        match self {
            ErrorKind::UriTooLong => 414,
            ErrorKind::PayloadWithMethod => 413,
            ErrorKind::TooManyHeaders | ErrorKind::HeadTooLarge => 431,
            ErrorKind::UnknownTransferCoding => 501,
            ErrorKind::UnsupportedVersion => 505,
            _ => 400,
        }
    }

    /// A short description for log lines.
    pub fn describe(self) -> &'static str {
        match self {
            ErrorKind::BadRequestLine => "malformed request line",
            ErrorKind::BadMethod => "invalid character in method",
            ErrorKind::BadTarget => "invalid request target",
            ErrorKind::BadTargetForm => "request target form not allowed for this method",
            ErrorKind::UriTooLong => "request line too long",
            ErrorKind::BadVersion => "malformed HTTP version",
            ErrorKind::UnsupportedVersion => "unsupported HTTP version",
            ErrorKind::BadStatus => "malformed status code",
            ErrorKind::BareCr => "CR not followed by LF",
            ErrorKind::BareLf => "LF not preceded by CR",
            ErrorKind::ControlChar => "control character in header",
            ErrorKind::BadHeaderName => "invalid header name",
            ErrorKind::SpaceBeforeColon => "whitespace before colon in header",
            ErrorKind::MissingColon => "header line without colon",
            ErrorKind::ObsFold => "obsolete line folding",
            ErrorKind::TooManyHeaders => "too many headers",
            ErrorKind::HeadTooLarge => "headers too large",
            ErrorKind::MultipleHost => "several Host headers",
            ErrorKind::HostMismatch => "Host header differs from the target's authority",
            ErrorKind::ContentLengthWithTransferEncoding => {
                "both Content-Length and Transfer-Encoding"
            }
            ErrorKind::BadContentLength => "invalid Content-Length",
            ErrorKind::ConflictingContentLength => "differing Content-Length values",
            ErrorKind::BadTransferEncoding => "malformed Transfer-Encoding",
            ErrorKind::TransferEncodingNotChunked => "final transfer coding is not chunked",
            ErrorKind::UnknownTransferCoding => "unknown transfer coding",
            ErrorKind::TransferEncodingHttp10 => "Transfer-Encoding in an HTTP/1.0 message",
            ErrorKind::PayloadWithMethod => "HTTP/1.0 GET/HEAD/DELETE request with a payload",
            ErrorKind::BadChunkSize => "invalid chunk size",
            ErrorKind::ChunkSizeOverflow => "chunk size too large",
            ErrorKind::ChunkExtTooLong => "chunk extensions too long",
            ErrorKind::BadChunkEnd => "chunk data not followed by CRLF",
            ErrorKind::TrailersTooLarge => "trailers too large",
            ErrorKind::Truncated => "message truncated",
        }
    }
}

/// A rejection: what was wrong and where. `offset` counts bytes from the start of the
/// message head (for [`parse`]) or from the start of the body (for [`body`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ParseError {
    pub kind: ErrorKind,
    pub offset: u64,
}

impl ParseError {
    pub(crate) fn new(kind: ErrorKind, offset: usize) -> ParseError {
        ParseError {
            kind,
            offset: offset as u64,
        }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at byte {}", self.kind.describe(), self.offset)
    }
}

impl std::error::Error for ParseError {}
