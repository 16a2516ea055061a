//! The HTTP/2 frame layer (RFC 9113 §4, §6): frame headers, types, flags, error codes
//! and the writers of the frames the proxy sends. Sans-io: bytes in, bytes out.

/// The connection preface a client sends first (RFC 9113 §3.4).
pub const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// The size of a frame header.
pub const HEADER_LEN: usize = 9;

/// The largest window (2^31 - 1).
pub const MAX_WINDOW: i64 = (1 << 31) - 1;

/// The initial window and the default SETTINGS_MAX_FRAME_SIZE of RFC 9113.
pub const DEFAULT_WINDOW: u32 = 65_535;
pub const DEFAULT_FRAME_SIZE: u32 = 16_384;

pub mod kind {
    pub const DATA: u8 = 0x0;
    pub const HEADERS: u8 = 0x1;
    pub const PRIORITY: u8 = 0x2;
    pub const RST_STREAM: u8 = 0x3;
    pub const SETTINGS: u8 = 0x4;
    pub const PUSH_PROMISE: u8 = 0x5;
    pub const PING: u8 = 0x6;
    pub const GOAWAY: u8 = 0x7;
    pub const WINDOW_UPDATE: u8 = 0x8;
    pub const CONTINUATION: u8 = 0x9;
}

pub mod flag {
    pub const END_STREAM: u8 = 0x1;
    pub const ACK: u8 = 0x1;
    pub const END_HEADERS: u8 = 0x4;
    pub const PADDED: u8 = 0x8;
    pub const PRIORITY: u8 = 0x20;
}

pub mod setting {
    pub const HEADER_TABLE_SIZE: u16 = 0x1;
    pub const ENABLE_PUSH: u16 = 0x2;
    pub const MAX_CONCURRENT_STREAMS: u16 = 0x3;
    pub const INITIAL_WINDOW_SIZE: u16 = 0x4;
    pub const MAX_FRAME_SIZE: u16 = 0x5;
    pub const MAX_HEADER_LIST_SIZE: u16 = 0x6;
}

/// The error codes of RFC 9113 §7.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum ErrorCode {
    NoError = 0x0,
    ProtocolError = 0x1,
    InternalError = 0x2,
    FlowControlError = 0x3,
    SettingsTimeout = 0x4,
    StreamClosed = 0x5,
    FrameSizeError = 0x6,
    RefusedStream = 0x7,
    Cancel = 0x8,
    CompressionError = 0x9,
    ConnectError = 0xa,
    EnhanceYourCalm = 0xb,
    InadequateSecurity = 0xc,
    Http11Required = 0xd,
}

impl ErrorCode {
    pub fn name(self) -> &'static str {
        match self {
            ErrorCode::NoError => "NO_ERROR",
            ErrorCode::ProtocolError => "PROTOCOL_ERROR",
            ErrorCode::InternalError => "INTERNAL_ERROR",
            ErrorCode::FlowControlError => "FLOW_CONTROL_ERROR",
            ErrorCode::SettingsTimeout => "SETTINGS_TIMEOUT",
            ErrorCode::StreamClosed => "STREAM_CLOSED",
            ErrorCode::FrameSizeError => "FRAME_SIZE_ERROR",
            ErrorCode::RefusedStream => "REFUSED_STREAM",
            ErrorCode::Cancel => "CANCEL",
            ErrorCode::CompressionError => "COMPRESSION_ERROR",
            ErrorCode::ConnectError => "CONNECT_ERROR",
            ErrorCode::EnhanceYourCalm => "ENHANCE_YOUR_CALM",
            ErrorCode::InadequateSecurity => "INADEQUATE_SECURITY",
            ErrorCode::Http11Required => "HTTP_1_1_REQUIRED",
        }
    }
}

/// A frame header (§4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head {
    pub len: usize,
    pub kind: u8,
    pub flags: u8,
    pub stream: u32,
}

impl Head {
    /// Reads a frame header from the first 9 bytes of `b`, if there are 9.
    pub fn parse(b: &[u8]) -> Option<Head> {
        let h = b.get(..HEADER_LEN)?;
        Some(Head {
            len: (h[0] as usize) << 16 | (h[1] as usize) << 8 | h[2] as usize,
            kind: h[3],
            flags: h[4],
            // The reserved bit is ignored (§4.1).
            stream: u32::from_be_bytes([h[5], h[6], h[7], h[8]]) & 0x7fff_ffff,
        })
    }

    pub fn write(&self, out: &mut Vec<u8>) {
        let l = self.len as u32;
        out.extend_from_slice(&[(l >> 16) as u8, (l >> 8) as u8, l as u8, self.kind, self.flags]);
        out.extend_from_slice(&self.stream.to_be_bytes());
    }
}

/// Appends a whole frame.
pub fn write(out: &mut Vec<u8>, kind: u8, flags: u8, stream: u32, payload: &[u8]) {
    Head { len: payload.len(), kind, flags, stream }.write(out);
    out.extend_from_slice(payload);
}

pub fn settings(out: &mut Vec<u8>, list: &[(u16, u32)]) {
    let mut p = Vec::with_capacity(list.len() * 6);
    for (id, v) in list {
        p.extend_from_slice(&id.to_be_bytes());
        p.extend_from_slice(&v.to_be_bytes());
    }
    write(out, kind::SETTINGS, 0, 0, &p);
}

pub fn rst_stream(out: &mut Vec<u8>, stream: u32, code: ErrorCode) {
    write(out, kind::RST_STREAM, 0, stream, &(code as u32).to_be_bytes());
}

pub fn goaway(out: &mut Vec<u8>, last: u32, code: ErrorCode) {
    let mut p = [0u8; 8];
    p[..4].copy_from_slice(&last.to_be_bytes());
    p[4..].copy_from_slice(&(code as u32).to_be_bytes());
    write(out, kind::GOAWAY, 0, 0, &p);
}

pub fn window_update(out: &mut Vec<u8>, stream: u32, increment: u32) {
    write(out, kind::WINDOW_UPDATE, 0, stream, &increment.to_be_bytes());
}

/// A header block as HEADERS and CONTINUATION frames of at most `max` bytes each.
pub fn headers(out: &mut Vec<u8>, stream: u32, block: &[u8], end_stream: bool, max: usize) {
    let mut chunks = block.chunks(max.max(1)).peekable();
    let first = chunks.next().unwrap_or(&[]);
    let es = if end_stream { flag::END_STREAM } else { 0 };
    let eh = if chunks.peek().is_none() { flag::END_HEADERS } else { 0 };
    write(out, kind::HEADERS, es | eh, stream, first);
    while let Some(c) = chunks.next() {
        let eh = if chunks.peek().is_none() { flag::END_HEADERS } else { 0 };
        write(out, kind::CONTINUATION, eh, stream, c);
    }
}

/// Removes the padding of a DATA or HEADERS payload (§6.1): `None` when the pad length
/// is not smaller than the payload (a PROTOCOL_ERROR).
pub fn unpad(flags: u8, payload: &[u8]) -> Option<&[u8]> {
    if flags & flag::PADDED == 0 {
        return Some(payload);
    }
    let (&pad, rest) = payload.split_first()?;
    rest.len().checked_sub(pad as usize).map(|end| &rest[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn head_round_trips_and_ignores_the_reserved_bit() {
        let mut out = Vec::new();
        Head { len: 0x012345, kind: kind::HEADERS, flags: flag::END_HEADERS, stream: 7 }.write(&mut out);
        assert_eq!(out, [0x01, 0x23, 0x45, 0x01, 0x04, 0, 0, 0, 7]);
        out[5] |= 0x80;
        assert_eq!(Head::parse(&out), Some(Head { len: 0x012345, kind: 1, flags: 4, stream: 7 }));
        assert_eq!(Head::parse(&out[..8]), None);
    }

    #[test]
    fn padding_is_removed_or_refused() {
        assert_eq!(unpad(flag::PADDED, &[2, b'a', b'b', 0, 0]), Some(&b"ab"[..]));
        assert_eq!(unpad(flag::PADDED, &[3, b'a', 0]), None);
        assert_eq!(unpad(flag::PADDED, &[]), None);
        assert_eq!(unpad(0, b"xy"), Some(&b"xy"[..]));
    }

    #[test]
    fn long_blocks_continue() {
        let mut out = Vec::new();
        headers(&mut out, 1, &[9u8; 10], true, 4);
        let h1 = Head::parse(&out).unwrap();
        assert_eq!((h1.kind, h1.flags, h1.len), (kind::HEADERS, flag::END_STREAM, 4));
        let h3 = Head::parse(&out[2 * (9 + 4)..]).unwrap();
        assert_eq!((h3.kind, h3.flags, h3.len), (kind::CONTINUATION, flag::END_HEADERS, 2));
    }
}
