//! FastCGI records (the FastCGI 1.0 specification, §3): the 8-byte header, the
//! name-value pairs of `FCGI_PARAMS`, and a sans-io reader of the records a server sends.
//!
//! ```text
//! version(1) type(1) request-id(2) content-length(2) padding-length(1) reserved(1)
//! content(content-length) padding(padding-length)
//! ```

/// `FCGI_VERSION_1`, the only version.
pub const VERSION: u8 = 1;
/// The largest content of one record.
pub const MAX_CONTENT: usize = 0xffff;
/// `FCGI_KEEP_CONN`, the flag of `FCGI_BEGIN_REQUEST`: the application keeps the
/// connection open after its answer.
pub const KEEP_CONN: u8 = 1;
/// `FCGI_RESPONDER`, the role of every request moonproxy sends.
pub const RESPONDER: u16 = 1;

/// The record types (`FCGI_BEGIN_REQUEST` = 1 ... `FCGI_UNKNOWN_TYPE` = 11).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Type {
    BeginRequest = 1,
    AbortRequest = 2,
    EndRequest = 3,
    Params = 4,
    Stdin = 5,
    Stdout = 6,
    Stderr = 7,
    Data = 8,
    GetValues = 9,
    GetValuesResult = 10,
    UnknownType = 11,
}

impl Type {
    pub fn from_u8(t: u8) -> Option<Type> {
        use Type::*;
        Some(match t {
            1 => BeginRequest,
            2 => AbortRequest,
            3 => EndRequest,
            4 => Params,
            5 => Stdin,
            6 => Stdout,
            7 => Stderr,
            8 => Data,
            9 => GetValues,
            10 => GetValuesResult,
            11 => UnknownType,
            _ => return None,
        })
    }
}

/// Appends one record with `content` (at most [`MAX_CONTENT`] bytes), padded to a
/// multiple of 8 as the specification recommends.
pub fn push(out: &mut Vec<u8>, t: Type, id: u16, content: &[u8]) {
    debug_assert!(content.len() <= MAX_CONTENT);
    let pad = (8 - content.len() % 8) % 8;
    let [l1, l0] = (content.len() as u16).to_be_bytes();
    let [i1, i0] = id.to_be_bytes();
    out.extend_from_slice(&[VERSION, t as u8, i1, i0, l1, l0, pad as u8, 0]);
    out.extend_from_slice(content);
    out.extend_from_slice(&[0u8; 8][..pad]);
}

/// Appends `content` as as many records of type `t` as it takes (none when empty).
pub fn push_stream(out: &mut Vec<u8>, t: Type, id: u16, content: &[u8]) {
    for part in content.chunks(MAX_CONTENT) {
        push(out, t, id, part);
    }
}

/// `FCGI_BEGIN_REQUEST` for a responder, with `FCGI_KEEP_CONN` when `keep_conn`.
pub fn push_begin(out: &mut Vec<u8>, id: u16, keep_conn: bool) {
    let [r1, r0] = RESPONDER.to_be_bytes();
    push(out, Type::BeginRequest, id, &[r1, r0, if keep_conn { KEEP_CONN } else { 0 }, 0, 0, 0, 0, 0]);
}

/// Appends one name-value pair (§3.4): lengths below 128 in one byte, others in four
/// with the high bit set.
pub fn push_pair(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    for len in [name.len(), value.len()] {
        if len < 128 {
            out.push(len as u8);
        } else {
            out.extend_from_slice(&((len as u32) | 0x8000_0000).to_be_bytes());
        }
    }
    out.extend_from_slice(name);
    out.extend_from_slice(value);
}

/// Decodes name-value pairs; `None` when they are truncated.
pub fn parse_pairs(mut b: &[u8]) -> Option<Vec<(Vec<u8>, Vec<u8>)>> {
    fn len(b: &mut &[u8]) -> Option<usize> {
        let first = *b.first()?;
        if first < 128 {
            *b = &b[1..];
            return Some(first as usize);
        }
        let n = u32::from_be_bytes(b.get(..4)?.try_into().ok()?) & 0x7fff_ffff;
        *b = &b[4..];
        Some(n as usize)
    }
    let mut out = Vec::new();
    while !b.is_empty() {
        let (n, v) = (len(&mut b)?, len(&mut b)?);
        let name = b.get(..n)?.to_vec();
        let value = b.get(n..n + v)?.to_vec();
        b = &b[n + v..];
        out.push((name, value));
    }
    Some(out)
}

/// One record read from a server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    pub kind: Type,
    pub id: u16,
    pub content: Vec<u8>,
}

/// Why the bytes from a server are not FastCGI.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RecordError {
    /// The version byte is not 1.
    Version(u8),
    /// A type the specification does not define.
    Type(u8),
}

impl std::fmt::Display for RecordError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RecordError::Version(v) => write!(f, "unsupported FastCGI version {v}"),
            RecordError::Type(t) => write!(f, "unknown FastCGI record type {t}"),
        }
    }
}

/// Takes one whole record from the front of `buf`: `Ok(None)` while it is incomplete.
/// Returns the record and the bytes it used (header, content and padding).
pub fn take(buf: &[u8]) -> Result<Option<(Record, usize)>, RecordError> {
    let Some(h) = buf.get(..8) else {
        // A bad version is reported as soon as its byte is here, not after 8 bytes.
        return match buf.first() {
            Some(&v) if v != VERSION => Err(RecordError::Version(v)),
            _ => Ok(None),
        };
    };
    if h[0] != VERSION {
        return Err(RecordError::Version(h[0]));
    }
    let kind = Type::from_u8(h[1]).ok_or(RecordError::Type(h[1]))?;
    let id = u16::from_be_bytes([h[2], h[3]]);
    let clen = u16::from_be_bytes([h[4], h[5]]) as usize;
    let total = 8 + clen + h[6] as usize;
    if buf.len() < total {
        return Ok(None);
    }
    Ok(Some((Record { kind, id, content: buf[8..8 + clen].to_vec() }, total)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_are_padded_to_eight_and_read_back() {
        let mut out = Vec::new();
        push(&mut out, Type::Stdout, 1, b"hello");
        assert_eq!(&out[..8], &[1, 6, 0, 1, 0, 5, 3, 0]);
        assert_eq!(out.len(), 16);
        let (rec, used) = take(&out).unwrap().unwrap();
        assert_eq!((rec.kind, rec.id, rec.content.as_slice(), used), (Type::Stdout, 1, &b"hello"[..], 16));
        // Incomplete: nothing yet, at every cut.
        for cut in 0..out.len() {
            assert_eq!(take(&out[..cut]), Ok(None), "cut at {cut}");
        }
    }

    #[test]
    fn begin_request_carries_the_role_and_keep_conn() {
        let mut out = Vec::new();
        push_begin(&mut out, 1, true);
        assert_eq!(out, [1, 1, 0, 1, 0, 8, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0]);
        out.clear();
        push_begin(&mut out, 1, false);
        assert_eq!(out[10], 0);
    }

    #[test]
    fn long_content_is_split_into_several_records() {
        let mut out = Vec::new();
        push_stream(&mut out, Type::Stdin, 1, &vec![b'x'; MAX_CONTENT + 10]);
        let (a, used) = take(&out).unwrap().unwrap();
        let (b, _) = take(&out[used..]).unwrap().unwrap();
        assert_eq!((a.content.len(), b.content.len()), (MAX_CONTENT, 10));
        out.clear();
        push_stream(&mut out, Type::Stdin, 1, b"");
        assert!(out.is_empty(), "an empty stream is no record (the caller ends it)");
    }

    #[test]
    fn pairs_use_one_or_four_byte_lengths() {
        let mut out = Vec::new();
        let long = vec![b'v'; 300];
        push_pair(&mut out, b"SHORT", b"x");
        push_pair(&mut out, b"LONG", &long);
        assert_eq!(&out[..2], &[5, 1]);
        assert_eq!(&out[8..13], &[4, 0x80, 0, 1, 44]);
        let pairs = parse_pairs(&out).unwrap();
        assert_eq!(pairs, vec![(b"SHORT".to_vec(), b"x".to_vec()), (b"LONG".to_vec(), long)]);
        assert_eq!(parse_pairs(&out[..out.len() - 1]), None);
    }

    #[test]
    fn bad_version_and_type_are_errors() {
        assert_eq!(take(b"\x07garbage"), Err(RecordError::Version(7)));
        assert_eq!(take(b"\x07"), Err(RecordError::Version(7)));
        assert_eq!(take(&[1, 42, 0, 1, 0, 0, 0, 0]), Err(RecordError::Type(42)));
    }
}
