//! The bytes of HAProxy's peers protocol (version 2.1, as HAProxy 2.6 speaks it), with
//! no I/O: the text handshake, the message frames, and the stick-table messages.
//!
//! What is on the wire (learnt from HAProxy's doc/peers-v2.0.txt and by talking to
//! HAProxy 2.6):
//! - handshake, from the connecting side: `HAProxyS 2.1\n<remote name>\n<local name>
//!   <pid> <relative pid>\n`, answered by a status line (`200\n` for success);
//! - then messages: a class byte, a type byte and, for types 128 and above, a
//!   variable-length integer giving the length of the body that follows;
//! - integers in bodies are HAProxy's variable-length encoding ([`put_varint`]), update
//!   ids and expiry delays are 4 bytes in network order.

use super::super::stick::data::{DataType, ALL};
use super::super::stick::KeyType;

pub const VERSION: &str = "2.1";

/// Message classes.
pub const CLASS_CONTROL: u8 = 0;
pub const CLASS_ERROR: u8 = 1;
pub const CLASS_TABLE: u8 = 10;

/// Control messages (class 0, no body).
pub const CTRL_RESYNC_REQUEST: u8 = 0;
pub const CTRL_RESYNC_FINISHED: u8 = 1;
pub const CTRL_RESYNC_PARTIAL: u8 = 2;
pub const CTRL_RESYNC_CONFIRM: u8 = 3;
pub const CTRL_HEARTBEAT: u8 = 4;

/// Error messages (class 1, no body).
pub const ERR_PROTOCOL: u8 = 0;
pub const ERR_SIZE_LIMIT: u8 = 1;

/// Stick-table messages (class 10, with a body).
pub const TBL_UPDATE: u8 = 128;
pub const TBL_INC_UPDATE: u8 = 129;
pub const TBL_DEFINE: u8 = 130;
pub const TBL_SWITCH: u8 = 131;
pub const TBL_ACK: u8 = 132;
pub const TBL_UPDATE_TIMED: u8 = 133;
pub const TBL_INC_UPDATE_TIMED: u8 = 134;

/// The longest message body accepted (HAProxy's are bounded by its 16 kB buffers).
pub const MAX_BODY: usize = 64 * 1024;

/// Why bytes could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// More bytes are needed.
    Incomplete,
    /// The bytes are wrong: the peer is dropped.
    Invalid(String),
}

fn invalid<T>(what: impl Into<String>) -> Result<T, Error> {
    Err(Error::Invalid(what.into()))
}

/// Appends `v` in HAProxy's variable-length encoding (`crate::varint`).
pub fn put_varint(out: &mut Vec<u8>, v: u64) {
    crate::varint::put(out, v);
}

/// Reads a variable-length integer at `*pos`, advancing it.
pub fn get_varint(buf: &[u8], pos: &mut usize) -> Result<u64, Error> {
    crate::varint::get(buf, pos).or_else(|e| match e {
        crate::varint::Short::Incomplete => Err(Error::Incomplete),
        crate::varint::Short::TooLong => invalid("integer too long"),
    })
}

/// A cursor over a complete message body: running out of bytes is an error there.
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Reader<'a> {
        Reader { buf, pos: 0 }
    }
    pub fn varint(&mut self) -> Result<u64, Error> {
        get_varint(self.buf, &mut self.pos).map_err(|e| match e {
            Error::Incomplete => Error::Invalid("message truncated".into()),
            e => e,
        })
    }
    pub fn bytes(&mut self, n: usize) -> Result<&'a [u8], Error> {
        match self.buf.get(self.pos..self.pos.saturating_add(n)) {
            Some(b) if self.pos.checked_add(n).is_some() => {
                self.pos += n;
                Ok(b)
            }
            _ => invalid("message truncated"),
        }
    }
    pub fn u32(&mut self) -> Result<u32, Error> {
        let b = self.bytes(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    pub fn at_end(&self) -> bool {
        self.pos >= self.buf.len()
    }
}

/// One message as framed on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame<'a> {
    pub class: u8,
    pub ty: u8,
    pub body: &'a [u8],
}

/// The next message in `buf` and its length on the wire; `Ok(None)` when incomplete.
pub fn next_frame(buf: &[u8]) -> Result<Option<(Frame<'_>, usize)>, Error> {
    if buf.len() < 2 {
        return Ok(None);
    }
    let (class, ty) = (buf[0], buf[1]);
    if ty < 128 {
        return match class {
            CLASS_CONTROL if ty <= CTRL_HEARTBEAT => Ok(Some((Frame { class, ty, body: &[] }, 2))),
            CLASS_ERROR if ty <= ERR_SIZE_LIMIT => Ok(Some((Frame { class, ty, body: &[] }, 2))),
            _ => invalid(format!("unknown message {class}/{ty}")),
        };
    }
    let mut pos = 2;
    let len = match get_varint(buf, &mut pos) {
        Ok(l) => l,
        Err(Error::Incomplete) => return Ok(None),
        Err(e) => return Err(e),
    };
    if len > MAX_BODY as u64 {
        return invalid(format!("message of {len} bytes (class {class}, type {ty})"));
    }
    let end = pos + len as usize;
    if buf.len() < end {
        return Ok(None);
    }
    Ok(Some((Frame { class, ty, body: &buf[pos..end] }, end)))
}

/// Appends a message without body (control and error classes).
pub fn put_short(out: &mut Vec<u8>, class: u8, ty: u8) {
    out.extend_from_slice(&[class, ty]);
}

/// Appends a stick-table message with its body.
pub fn put_table_msg(out: &mut Vec<u8>, ty: u8, body: &[u8]) {
    out.extend_from_slice(&[CLASS_TABLE, ty]);
    put_varint(out, body.len() as u64);
    out.extend_from_slice(body);
}

/// The key type codes (HAProxy's sample types).
pub fn key_type_code(k: KeyType) -> u64 {
    match k {
        KeyType::Integer => 2,
        KeyType::Ip => 4,
        KeyType::Ipv6 => 5,
        KeyType::String => 6,
        KeyType::Binary => 7,
    }
}

/// The data type of wire number `n` (HAProxy's order, the order of [`ALL`]).
pub fn data_type(n: u64) -> Option<DataType> {
    ALL.get(usize::try_from(n).ok()?).copied()
}

pub fn data_type_code(t: DataType) -> u64 {
    ALL.iter().position(|d| *d == t).unwrap_or(0) as u64
}

/// How a data type's values are encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Std {
    /// server_id, counters, gpt, bytes counters: one integer.
    Int,
    /// A frequency counter: age of the current period, current and previous counts.
    Rate,
    /// server_key: an entry of the sender's dictionary cache.
    Dict,
}

pub fn std_of(t: DataType) -> Std {
    match t {
        DataType::ServerKey => Std::Dict,
        t if t.is_rate() => Std::Rate,
        _ => Std::Int,
    }
}

/// A data type as a table definition announces it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WireType {
    pub ty: DataType,
    /// Elements of an array type (1 otherwise).
    pub count: u32,
    /// Period of a rate, milliseconds.
    pub period: u32,
}

/// The stick-table definition message (which also makes the table the current one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Define {
    /// The sender's identifier of the table.
    pub id: u64,
    pub name: Vec<u8>,
    pub key_type: u64,
    pub key_len: u64,
    /// `expire`, milliseconds.
    pub expire: u64,
    /// The stored types, in wire order.
    pub types: Vec<WireType>,
}

impl Define {
    pub fn encode(&self) -> Vec<u8> {
        let mut b = Vec::new();
        put_varint(&mut b, self.id);
        put_varint(&mut b, self.name.len() as u64);
        b.extend_from_slice(&self.name);
        put_varint(&mut b, self.key_type);
        put_varint(&mut b, self.key_len);
        let mask = self.types.iter().fold(0u64, |m, t| m | 1 << data_type_code(t.ty));
        put_varint(&mut b, mask);
        put_varint(&mut b, self.expire);
        for t in &self.types {
            let rate = std_of(t.ty) == Std::Rate;
            if t.ty.is_array() || rate {
                put_varint(&mut b, data_type_code(t.ty));
                if t.ty.is_array() {
                    put_varint(&mut b, u64::from(t.count));
                }
                if rate {
                    put_varint(&mut b, u64::from(t.period));
                }
            }
        }
        b
    }

    pub fn decode(body: &[u8]) -> Result<Define, Error> {
        let mut r = Reader::new(body);
        let id = r.varint()?;
        let len = r.varint()?;
        if len > 255 {
            return invalid("table name too long");
        }
        let name = r.bytes(len as usize)?.to_vec();
        let key_type = r.varint()?;
        let key_len = r.varint()?;
        let mask = r.varint()?;
        let expire = r.varint()?;
        let mut types: Vec<WireType> = Vec::new();
        for n in 0..64u64 {
            if mask & (1 << n) != 0 {
                let Some(ty) = data_type(n) else { return invalid(format!("unknown data type {n}")) };
                types.push(WireType { ty, count: 1, period: 0 });
            }
        }
        // The parameters of arrays and rates: (type, [elements], [period]) each.
        while !r.at_end() {
            let n = r.varint()?;
            let Some(t) = data_type(n).and_then(|ty| types.iter_mut().find(|t| t.ty == ty)) else {
                return invalid(format!("parameters for data type {n}, not announced"));
            };
            if t.ty.is_array() {
                t.count = u32::try_from(r.varint()?).ok().filter(|c| (1..=100).contains(c)).ok_or(Error::Invalid("array length out of range".into()))?;
            }
            if std_of(t.ty) == Std::Rate {
                t.period = u32::try_from(r.varint()?).unwrap_or(u32::MAX);
            }
        }
        Ok(Define { id, name, key_type, key_len, expire, types })
    }
}

/// One value of an update.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WireValue {
    Int(u64),
    /// `age`: milliseconds since the current period started.
    Rate { age: u32, curr: u32, prev: u32 },
    /// A dictionary entry: its id in the sender's cache and, the first time, its value.
    Dict(Option<(u64, Option<Vec<u8>>)>),
    Array(Vec<WireValue>),
}

/// The key and values of an update (the part after the update id and expiry).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub key: Vec<u8>,
    pub values: Vec<WireValue>,
}

/// How a table's keys are encoded: strings with a length, the others at their fixed
/// length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyFormat {
    pub string: bool,
    pub len: usize,
}

impl Entry {
    pub fn encode(&self, key: KeyFormat, types: &[WireType], out: &mut Vec<u8>) {
        if key.string {
            put_varint(out, self.key.len() as u64);
            out.extend_from_slice(&self.key);
        } else {
            let mut k = self.key.clone();
            k.resize(key.len, 0);
            out.extend_from_slice(&k);
        }
        for v in self.values.iter().take(types.len()) {
            put_value(out, v);
        }
    }

    pub fn decode(r: &mut Reader<'_>, key: KeyFormat, types: &[WireType]) -> Result<Entry, Error> {
        let key = if key.string {
            let n = r.varint()?;
            if n > key.len as u64 {
                return invalid(format!("string key of {n} bytes, longer than the table's"));
            }
            r.bytes(n as usize)?.to_vec()
        } else {
            r.bytes(key.len)?.to_vec()
        };
        let mut values = Vec::with_capacity(types.len());
        for t in types {
            let std = std_of(t.ty);
            values.push(if t.ty.is_array() {
                WireValue::Array((0..t.count).map(|_| get_value(r, std)).collect::<Result<_, _>>()?)
            } else {
                get_value(r, std)?
            });
        }
        Ok(Entry { key, values })
    }
}

fn put_value(out: &mut Vec<u8>, v: &WireValue) {
    match v {
        WireValue::Int(i) => put_varint(out, *i),
        WireValue::Rate { age, curr, prev } => {
            put_varint(out, u64::from(*age));
            put_varint(out, u64::from(*curr));
            put_varint(out, u64::from(*prev));
        }
        WireValue::Dict(None) => put_varint(out, 0),
        WireValue::Dict(Some((id, value))) => {
            let mut chunk = Vec::new();
            put_varint(&mut chunk, id + 1);
            if let Some(v) = value {
                put_varint(&mut chunk, v.len() as u64);
                chunk.extend_from_slice(v);
            }
            put_varint(out, chunk.len() as u64);
            out.extend_from_slice(&chunk);
        }
        WireValue::Array(a) => a.iter().for_each(|e| put_value(out, e)),
    }
}

fn get_value(r: &mut Reader<'_>, std: Std) -> Result<WireValue, Error> {
    Ok(match std {
        Std::Int => WireValue::Int(r.varint()?),
        Std::Rate => {
            let mut u = || r.varint().map(|v| v as u32);
            WireValue::Rate { age: u()?, curr: u()?, prev: u()? }
        }
        Std::Dict => {
            let len = r.varint()?;
            if len == 0 {
                return Ok(WireValue::Dict(None));
            }
            let mut c = Reader::new(r.bytes(usize::try_from(len).map_err(|_| Error::Invalid("dictionary entry too long".into()))?)?);
            let id = c.varint()?.checked_sub(1).ok_or(Error::Invalid("dictionary id 0".into()))?;
            let value = match c.at_end() {
                true => None,
                false => {
                    let n = c.varint()?;
                    Some(c.bytes(usize::try_from(n).unwrap_or(usize::MAX))?.to_vec())
                }
            };
            WireValue::Dict(Some((id, value)))
        }
    })
}

/// An update message's head: its id (implicit for the incremental forms) and, for the
/// timed forms, the milliseconds until the entry expires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UpdateHead {
    pub id: Option<u32>,
    pub expire: Option<u32>,
}

impl UpdateHead {
    /// Reads the head of a message of type `ty` (one of the four update types).
    pub fn decode(ty: u8, r: &mut Reader<'_>) -> Result<UpdateHead, Error> {
        let id = matches!(ty, TBL_UPDATE | TBL_UPDATE_TIMED).then(|| r.u32()).transpose()?;
        let expire = matches!(ty, TBL_UPDATE_TIMED | TBL_INC_UPDATE_TIMED).then(|| r.u32()).transpose()?;
        Ok(UpdateHead { id, expire })
    }

    /// The message type and the head's bytes.
    pub fn encode(&self, out: &mut Vec<u8>) -> u8 {
        if let Some(id) = self.id {
            out.extend_from_slice(&id.to_be_bytes());
        }
        if let Some(e) = self.expire {
            out.extend_from_slice(&e.to_be_bytes());
        }
        match (self.id.is_some(), self.expire.is_some()) {
            (true, false) => TBL_UPDATE,
            (false, false) => TBL_INC_UPDATE,
            (true, true) => TBL_UPDATE_TIMED,
            (false, true) => TBL_INC_UPDATE_TIMED,
        }
    }
}

/// The acknowledgement: the receiver's id of the table and the last update applied.
pub fn encode_ack(table_id: u64, update: u32) -> Vec<u8> {
    let mut b = Vec::new();
    put_varint(&mut b, table_id);
    b.extend_from_slice(&update.to_be_bytes());
    b
}

pub fn decode_ack(body: &[u8]) -> Result<(u64, u32), Error> {
    let mut r = Reader::new(body);
    Ok((r.varint()?, r.u32()?))
}

/// Handshake status codes.
pub const STATUS_OK: u16 = 200;
pub const STATUS_TRY_AGAIN: u16 = 300;
pub const STATUS_PROTOCOL_ERROR: u16 = 501;
pub const STATUS_BAD_VERSION: u16 = 502;
pub const STATUS_LOCAL_NAME: u16 = 503;
pub const STATUS_REMOTE_NAME: u16 = 504;

/// The connecting side's greeting.
pub fn hello(remote: &str, local: &str, pid: u32) -> Vec<u8> {
    format!("HAProxyS {VERSION}\n{remote}\n{local} {pid} 1\n").into_bytes()
}

/// A greeting received: the name the sender gave us and its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hello {
    pub to: String,
    pub from: String,
}

/// Parses a greeting (three lines): `Ok(None)` while incomplete, `Err(status)` for a
/// greeting to refuse with that status.
pub fn parse_hello(buf: &[u8]) -> Result<Option<(Hello, usize)>, u16> {
    let mut lines = Vec::new();
    let mut start = 0;
    for (i, b) in buf.iter().enumerate() {
        if *b == b'\n' {
            lines.push(&buf[start..i]);
            start = i + 1;
            if lines.len() == 3 {
                break;
            }
        }
    }
    if lines.len() < 3 {
        return if buf.len() > 1024 { Err(STATUS_PROTOCOL_ERROR) } else { Ok(None) };
    }
    let text = |b: &[u8]| std::str::from_utf8(b).map(|s| s.trim_end_matches('\r').to_string()).map_err(|_| STATUS_PROTOCOL_ERROR);
    let version = text(lines[0])?;
    let Some(v) = version.strip_prefix("HAProxyS ") else { return Err(STATUS_PROTOCOL_ERROR) };
    if v.split('.').next() != Some("2") {
        return Err(STATUS_BAD_VERSION);
    }
    let to = text(lines[1])?;
    let from = text(lines[2])?.split(' ').next().unwrap_or("").to_string();
    Ok(Some((Hello { to, from }, start)))
}

/// Parses the status line answering our greeting: `Ok(None)` while incomplete.
pub fn parse_status(buf: &[u8]) -> Result<Option<(u16, usize)>, Error> {
    let Some(nl) = buf.iter().position(|b| *b == b'\n') else {
        return if buf.len() > 16 { invalid("no status line") } else { Ok(None) };
    };
    let code = std::str::from_utf8(&buf[..nl]).ok().and_then(|s| s.trim().parse::<u16>().ok());
    match code {
        Some(c) => Ok(Some((c, nl + 1))),
        None => invalid(format!("bad status line {:?}", String::from_utf8_lossy(&buf[..nl]))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn varint(v: u64) -> Vec<u8> {
        let mut b = Vec::new();
        put_varint(&mut b, v);
        b
    }

    #[test]
    fn varints_match_haproxys_bytes() {
        // Values and bytes seen from HAProxy 2.6: 30000 ms, 10000 ms, 60000 ms.
        assert_eq!(varint(30_000), [0xf0, 0xc4, 0x0d]);
        assert_eq!(varint(10_000), [0xf0, 0xe2, 0x03]);
        assert_eq!(varint(60_000), [0xf0, 0x97, 0x1c]);
        assert_eq!(varint(239), [239]);
        assert_eq!(varint(240), [0xf0, 0x00]);
        for v in [0, 1, 239, 240, 241, 2287, 2288, 1 << 20, u32::MAX as u64, 1 << 50] {
            let b = varint(v);
            let mut pos = 0;
            assert_eq!(get_varint(&b, &mut pos), Ok(v), "{v}");
            assert_eq!(pos, b.len());
            assert_eq!(get_varint(&b[..b.len() - 1], &mut 0), Err(Error::Incomplete));
        }
        assert!(matches!(get_varint(&[0xff; 12], &mut 0), Err(Error::Invalid(_))));
    }

    #[test]
    fn haproxys_definition_decodes() {
        // `stick-table type ip size 100 expire 30s store gpc0,http_req_rate(10s),conn_cur,conn_cnt`
        // of proxy `fe`, as HAProxy 2.6 sent it.
        let body = [0x02, 0x02, b'f', b'e', 0x04, 0x04, 0xf4, 0x36, 0xf0, 0xc4, 0x0d, 0x0a, 0xf0, 0xe2, 0x03];
        let d = Define::decode(&body).unwrap();
        assert_eq!((d.id, d.name.as_slice(), d.key_type, d.key_len, d.expire), (2, &b"fe"[..], 4, 4, 30_000));
        let tys: Vec<_> = d.types.iter().map(|t| (t.ty, t.period)).collect();
        use DataType::*;
        assert_eq!(tys, [(Gpc0, 0), (ConnCnt, 0), (ConnCur, 0), (HttpReqRate, 10_000)]);
        assert_eq!(d.encode(), body);
        // Arrays: `gpt(2),gpc_rate(2,10s),server_id,bytes_in_cnt`, string keys of 32.
        let body = [
            0x01, 0x03, b'/', b't', b'2', 0x06, 0x21, 0xf1, 0xf1, 0x82, 0x4f, 0xf0, 0x97, 0x1c, 0x16, 0x02, 0x18, 0x02, 0xf0, 0xe2, 0x03,
        ];
        let d = Define::decode(&body).unwrap();
        let tys: Vec<_> = d.types.iter().map(|t| (t.ty, t.count, t.period)).collect();
        assert_eq!(tys, [(ServerId, 1, 0), (BytesInCnt, 1, 0), (Gpt, 2, 0), (GpcRate, 2, 10_000)]);
        assert_eq!(d.encode(), body);
        assert!(matches!(Define::decode(&body[..6]), Err(Error::Invalid(_))));
    }

    #[test]
    fn haproxys_updates_decode() {
        let frame = [0x0a, 0x80, 0x0f, 0, 0, 0, 8, 127, 0, 0, 1, 2, 2, 0, 0xf1, 0x30, 2, 0];
        let (f, n) = next_frame(&frame).unwrap().unwrap();
        assert_eq!((f.class, f.ty, n), (CLASS_TABLE, TBL_UPDATE, frame.len()));
        assert_eq!(next_frame(&frame[..10]), Ok(None));
        let mut r = Reader::new(f.body);
        assert_eq!(UpdateHead::decode(f.ty, &mut r).unwrap(), UpdateHead { id: Some(8), expire: None });
        use DataType::*;
        let types: Vec<WireType> = [Gpc0, ConnCnt, ConnCur, HttpReqRate].map(|ty| WireType { ty, count: 1, period: 10_000 }).to_vec();
        let key = KeyFormat { string: false, len: 4 };
        let e = Entry::decode(&mut r, key, &types).unwrap();
        assert_eq!(e.key, [127, 0, 0, 1]);
        use WireValue::*;
        assert_eq!(e.values, [Int(2), Int(2), Int(0), Rate { age: 1009, curr: 2, prev: 0 }]);
        let mut again = Vec::new();
        UpdateHead { id: Some(8), expire: None }.encode(&mut again);
        e.encode(key, &types, &mut again);
        assert_eq!(again, f.body);
        // Arrays of a string-keyed table.
        let types = [WireType { ty: Gpt, count: 2, period: 0 }, WireType { ty: GpcRate, count: 2, period: 10_000 }];
        let e = Entry { key: b"abc".to_vec(), values: vec![Array(vec![Int(7), Int(300)]), Array(vec![Rate { age: 5, curr: 1, prev: 2 }; 2])] };
        let key = KeyFormat { string: true, len: 33 };
        let mut b = Vec::new();
        e.encode(key, &types, &mut b);
        assert_eq!(&b[..4], [3, b'a', b'b', b'c']);
        assert_eq!(Entry::decode(&mut Reader::new(&b), key, &types).unwrap(), e);
        assert!(Entry::decode(&mut Reader::new(&b[..b.len() - 1]), key, &types).is_err());
    }

    #[test]
    fn dictionary_values_and_timed_heads_round_trip() {
        let types = [WireType { ty: DataType::ServerKey, count: 1, period: 0 }];
        let key = KeyFormat { string: false, len: 4 };
        for v in [WireValue::Dict(None), WireValue::Dict(Some((3, Some(b"srv1".to_vec())))), WireValue::Dict(Some((3, None)))] {
            let e = Entry { key: vec![1, 2, 3, 4], values: vec![v] };
            let mut b = Vec::new();
            e.encode(key, &types, &mut b);
            assert_eq!(Entry::decode(&mut Reader::new(&b), key, &types).unwrap(), e);
        }
        let mut b = Vec::new();
        let head = UpdateHead { id: None, expire: Some(1234) };
        assert_eq!(head.encode(&mut b), TBL_INC_UPDATE_TIMED);
        assert_eq!(UpdateHead::decode(TBL_INC_UPDATE_TIMED, &mut Reader::new(&b)).unwrap(), head);
    }

    #[test]
    fn frames_and_handshakes() {
        assert_eq!(next_frame(&[0, 4]).unwrap().unwrap().1, 2);
        assert!(next_frame(&[0, 9]).is_err());
        assert!(next_frame(b"GET / HTTP/1.1\r\n").is_err());
        let mut big = vec![10, 128];
        put_varint(&mut big, MAX_BODY as u64 + 1);
        assert!(next_frame(&big).is_err());
        let (h, n) = parse_hello(b"HAProxyS 2.1\nmp\nhap 21564 1\n\x00\x00").unwrap().unwrap();
        assert_eq!((h.to.as_str(), h.from.as_str(), n), ("mp", "hap", 28));
        assert_eq!(parse_hello(b"HAProxyS 2.1\nmp\n"), Ok(None));
        assert_eq!(parse_hello(b"HAProxyS 3.0\nmp\nx 1 1\n"), Err(STATUS_BAD_VERSION));
        assert_eq!(parse_hello(b"GET / HTTP/1.0\r\nHost: x\r\n\r\n"), Err(STATUS_PROTOCOL_ERROR));
        assert_eq!(parse_status(b"200\n\x00"), Ok(Some((200, 4))));
        assert!(parse_status(b"hello\n").is_err());
        assert_eq!(hello("hap", "mp", 7), b"HAProxyS 2.1\nhap\nmp 7 1\n");
    }
}
