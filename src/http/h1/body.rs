//! A streaming body decoder (RFC 9112 §6, §7): Content-Length, chunked, until-close.
//!
//! # Contract
//!
//! [`BodyDecoder::decode`] takes the bytes received after the head (or after what the
//! last call consumed) and returns a [`Decoded`]: how many bytes it consumed, the range
//! of payload among them to forward, and whether the message has ended. The caller
//! forwards `input[data]`, drops `input[..consumed]` and calls again; `consumed == 0`
//! with `done == false` means "need more bytes". Each call returns at most one payload
//! range, so a loop is needed to drain a buffer. The decoder keeps a few integers of
//! state (and the trailer section, bounded by `Limits::max_trailers`): it never holds
//! payload, and it resumes at any byte boundary.
//!
//! Offsets in errors count from the first byte of the body.
//!
//! A proxy that forwards chunked bodies unchanged can forward `input[..consumed]`
//! instead of the payload range: the decoder then only finds where the message ends.

use std::ops::Range;

use super::parse::parse_field_line;
use super::{ErrorKind, Limits, ParseError};
use crate::http::{BodyFraming, Headers};

/// The longest run of chunk extensions accepted on one chunk-size line. RFC 9112 §7.1.1
/// says a recipient MUST ignore unknown extensions, and may limit their length.
pub const MAX_CHUNK_EXT: usize = 4096;

/// The most hex digits of a chunk size (16 fill a u64; leading zeros count too, so a
/// size line cannot be made endless with them).
pub const MAX_CHUNK_DIGITS: u8 = 16;

/// The result of one [`BodyDecoder::decode`] call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded {
    /// Bytes of the input used up (framing and payload).
    pub consumed: usize,
    /// The payload bytes among them, to forward (may be empty).
    pub data: Range<usize>,
    /// The message has ended; bytes after `consumed` belong to the next message.
    pub done: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Length {
        remaining: u64,
    },
    UntilClose,
    /// Hex digits of a chunk size.
    Size {
        digits: u8,
    },
    /// Whitespace after the size: only `;` (an extension) may follow (BWS).
    SizeWs,
    /// Chunk extensions, ignored, up to CR.
    Ext {
        len: usize,
    },
    /// CR of the size line seen; LF expected.
    SizeLf,
    Data {
        remaining: u64,
    },
    DataCr,
    DataLf,
    /// A trailer line (or the empty line ending the message) is being read.
    Trailer,
    /// CR of a trailer line seen; LF expected.
    TrailerLf,
    Done,
}

/// Decodes one message body. Make one per message from the head's [`BodyFraming`].
#[derive(Debug)]
pub struct BodyDecoder {
    state: State,
    /// The size of the chunk whose size line is being read.
    chunk_size: u64,
    /// Bytes consumed so far (the offset of the next byte).
    pos: u64,
    max_trailers: usize,
    /// The trailer line being read, and where it started.
    line: Vec<u8>,
    line_at: u64,
    trailer_bytes: usize,
    trailers: Headers,
}

impl BodyDecoder {
    pub fn new(framing: BodyFraming, limits: &Limits) -> BodyDecoder {
        let state = match framing {
            BodyFraming::None | BodyFraming::ContentLength(0) => State::Done,
            BodyFraming::ContentLength(n) => State::Length { remaining: n },
            BodyFraming::Chunked => State::Size { digits: 0 },
            BodyFraming::UntilClose => State::UntilClose,
        };
        BodyDecoder {
            state,
            chunk_size: 0,
            pos: 0,
            max_trailers: limits.max_trailers,
            line: Vec::new(),
            line_at: 0,
            trailer_bytes: 0,
            trailers: Headers::new(),
        }
    }

    /// Whether the message has ended.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Body bytes consumed so far, framing included.
    pub fn position(&self) -> u64 {
        self.pos
    }

    /// The trailer fields of a chunked body (complete once [`is_done`](Self::is_done)).
    pub fn trailers(&self) -> &Headers {
        &self.trailers
    }

    /// The connection was closed by the peer: fine for a body read until close (it has
    /// now ended), an error for any other body not yet complete.
    pub fn finish(&mut self) -> Result<(), ParseError> {
        match self.state {
            State::Done => Ok(()),
            State::UntilClose => {
                self.state = State::Done;
                Ok(())
            }
            _ => Err(self.error(ErrorKind::Truncated, 0)),
        }
    }

    fn error(&self, kind: ErrorKind, i: usize) -> ParseError {
        ParseError {
            kind,
            offset: self.pos + i as u64,
        }
    }

    /// Counts one byte of the trailer section (everything after the last chunk's size
    /// line, final CRLF included) against `Limits::max_trailers`.
    fn count_trailer_byte(&mut self, i: usize) -> Result<(), ParseError> {
        self.trailer_bytes += 1;
        if self.trailer_bytes > self.max_trailers {
            return Err(self.error(ErrorKind::TrailersTooLarge, i));
        }
        Ok(())
    }

    /// Consumes framing bytes and at most one run of payload. See the module docs.
    pub fn decode(&mut self, input: &[u8]) -> Result<Decoded, ParseError> {
        let mut i = 0;
        let result = self.step(input, &mut i);
        self.pos += i as u64;
        result
    }

    fn step(&mut self, input: &[u8], i: &mut usize) -> Result<Decoded, ParseError> {
        let data_out = |start: usize, end: usize, done: bool| Decoded {
            consumed: end,
            data: start..end,
            done,
        };
        while *i < input.len() {
            let b = input[*i];
            match self.state {
                State::Done => break,
                State::UntilClose => {
                    let start = *i;
                    *i = input.len();
                    return Ok(data_out(start, *i, false));
                }
                State::Length { remaining } | State::Data { remaining } => {
                    let start = *i;
                    let take = remaining.min((input.len() - start) as u64);
                    *i += take as usize;
                    let left = remaining - take;
                    self.state = match (self.state, left) {
                        (State::Length { .. }, 0) => State::Done,
                        (State::Length { .. }, _) => State::Length { remaining: left },
                        (_, 0) => State::DataCr,
                        _ => State::Data { remaining: left },
                    };
                    return Ok(data_out(start, *i, self.state == State::Done));
                }
                State::Size { digits } => {
                    if let Some(v) = (b as char).to_digit(16) {
                        // 16 digits fill a u64: the bound on digits is the overflow check.
                        if digits == MAX_CHUNK_DIGITS {
                            return Err(self.error(ErrorKind::ChunkSizeOverflow, *i));
                        }
                        self.chunk_size = self.chunk_size << 4 | u64::from(v);
                        self.state = State::Size { digits: digits + 1 };
                    } else if digits == 0 {
                        return Err(self.error(ErrorKind::BadChunkSize, *i));
                    } else {
                        self.state = match b {
                            b';' => State::Ext { len: 0 },
                            b' ' | b'\t' => State::SizeWs,
                            b'\r' => State::SizeLf,
                            _ => return Err(self.error(ErrorKind::BadChunkSize, *i)),
                        };
                    }
                }
                State::SizeWs => match b {
                    b' ' | b'\t' => {}
                    b';' => self.state = State::Ext { len: 0 },
                    _ => return Err(self.error(ErrorKind::BadChunkSize, *i)),
                },
                State::Ext { len } => match b {
                    b'\r' => self.state = State::SizeLf,
                    b'\t' | b' '..=b'~' | 0x80.. => {
                        if len == MAX_CHUNK_EXT {
                            return Err(self.error(ErrorKind::ChunkExtTooLong, *i));
                        }
                        self.state = State::Ext { len: len + 1 };
                    }
                    _ => return Err(self.error(ErrorKind::BadChunkSize, *i)),
                },
                State::SizeLf => {
                    if b != b'\n' {
                        return Err(ParseError {
                            kind: ErrorKind::BareCr,
                            offset: self.pos + *i as u64 - 1,
                        });
                    }
                    self.state = if self.chunk_size == 0 {
                        self.line_at = self.pos + *i as u64 + 1;
                        State::Trailer
                    } else {
                        State::Data {
                            remaining: self.chunk_size,
                        }
                    };
                    self.chunk_size = 0;
                }
                State::DataCr => match b {
                    b'\r' => self.state = State::DataLf,
                    _ => return Err(self.error(ErrorKind::BadChunkEnd, *i)),
                },
                State::DataLf => match b {
                    b'\n' => self.state = State::Size { digits: 0 },
                    _ => return Err(self.error(ErrorKind::BadChunkEnd, *i)),
                },
                State::Trailer => {
                    self.count_trailer_byte(*i)?;
                    match b {
                        b'\r' => self.state = State::TrailerLf,
                        b'\n' => return Err(self.error(ErrorKind::BareLf, *i)),
                        _ => self.line.push(b),
                    }
                }
                State::TrailerLf => {
                    self.count_trailer_byte(*i)?;
                    if b != b'\n' {
                        return Err(ParseError {
                            kind: ErrorKind::BareCr,
                            offset: self.pos + *i as u64 - 1,
                        });
                    }
                    if self.line.is_empty() {
                        self.state = State::Done;
                        *i += 1;
                        return Ok(data_out(*i, *i, true));
                    }
                    let line = std::mem::take(&mut self.line);
                    let (name, value) = parse_field_line(&line, 0).map_err(|e| ParseError {
                        kind: e.kind,
                        offset: self.line_at + e.offset,
                    })?;
                    self.trailers.add(name, value);
                    self.line_at = self.pos + *i as u64 + 1;
                    self.state = State::Trailer;
                }
            }
            *i += 1;
        }
        Ok(Decoded {
            consumed: *i,
            data: *i..*i,
            done: self.state == State::Done,
        })
    }
}

#[cfg(test)]
#[path = "body_tests.rs"]
mod tests;
