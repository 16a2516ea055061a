//! SPOP 2.0 frames (HAProxy's SPOE.txt, section 3), sans-io: what moonproxy sends to an
//! agent (HAPROXY-HELLO, NOTIFY, HAPROXY-DISCONNECT) and what it reads back
//! (AGENT-HELLO, ACK, AGENT-DISCONNECT).
//!
//! ```text
//! <FRAME-LENGTH:4 bytes, big endian> <TYPE:1> <FLAGS:4> <STREAM-ID:varint> <FRAME-ID:varint> <PAYLOAD>
//! ```
//!
//! Payloads are key/value lists (hello, disconnect), lists of messages (NOTIFY) or lists
//! of actions (ACK), made of typed data whose integers use HAProxy's varint
//! ([`crate::varint`]). Fragmented payloads are neither sent nor accepted (moonproxy
//! announces no `fragmentation` capability).

use crate::varint;
use std::net::{Ipv4Addr, Ipv6Addr};

pub const HAPROXY_HELLO: u8 = 1;
pub const HAPROXY_DISCONNECT: u8 = 2;
pub const NOTIFY: u8 = 3;
pub const AGENT_HELLO: u8 = 101;
pub const AGENT_DISCONNECT: u8 = 102;
pub const ACK: u8 = 103;

/// The FIN flag: the frame carries its whole payload.
pub const FLAG_FIN: u32 = 1;
/// The ABORT flag: the processing of the frame is cancelled.
pub const FLAG_ABORT: u32 = 2;

/// The SPOP version moonproxy speaks.
pub const VERSION: &str = "2.0";

/// SPOP status codes (SPOE.txt, "Errors & timeouts").
pub mod status {
    pub const NORMAL: u32 = 0;
    pub const IO: u32 = 1;
    pub const TIMEOUT: u32 = 2;
    pub const TOO_BIG: u32 = 3;
    pub const INVALID: u32 = 4;
    pub const NO_VSN: u32 = 5;
    pub const NO_FRAME_SIZE: u32 = 6;
    pub const NO_CAP: u32 = 7;
    pub const BAD_VSN: u32 = 8;
    pub const BAD_FRAME_SIZE: u32 = 9;
    pub const FRAG_NOT_SUPPORTED: u32 = 10;
    pub const INTERLACED_FRAMES: u32 = 11;
    pub const FRAMEID_NOTFOUND: u32 = 12;
    pub const RES: u32 = 13;
    pub const UNKNOWN: u32 = 99;

    /// HAProxy's text for a status code (the `message` of a HAPROXY-DISCONNECT).
    pub fn reason(code: u32) -> &'static str {
        match code {
            NORMAL => "normal",
            IO => "I/O error",
            TIMEOUT => "a timeout occurred",
            TOO_BIG => "frame is too big",
            INVALID => "invalid frame received",
            NO_VSN => "version value not found",
            NO_FRAME_SIZE => "max-frame-size value not found",
            NO_CAP => "capabilities value not found",
            BAD_VSN => "unsupported version",
            BAD_FRAME_SIZE => "max-frame-size too big or too small",
            FRAG_NOT_SUPPORTED => "fragmentation not supported",
            INTERLACED_FRAMES => "invalid interlaced frames",
            FRAMEID_NOTFOUND => "frame-id not found",
            RES => "resource allocation error",
            _ => "an unknown error occurred",
        }
    }
}

/// A typed value (SPOE.txt 3.1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    Null,
    Bool(bool),
    Int32(i32),
    Uint32(u32),
    Int64(i64),
    Uint64(u64),
    Ipv4(Ipv4Addr),
    Ipv6(Ipv6Addr),
    Str(Vec<u8>),
    Bin(Vec<u8>),
}

impl Value {
    /// A sample as HAProxy encodes it: integers as INT64, methods as strings, no
    /// sample as NULL.
    pub fn from_sample(s: Option<crate::sample::Sample>) -> Value {
        use crate::sample::Sample;
        match s {
            None => Value::Null,
            Some(Sample::Bool(b)) => Value::Bool(b),
            Some(Sample::Sint(i)) => Value::Int64(i),
            Some(Sample::Ipv4(a)) => Value::Ipv4(a),
            Some(Sample::Ipv6(a)) => Value::Ipv6(a),
            Some(Sample::Str(s) | Sample::Meth(s)) => Value::Str(s),
            Some(Sample::Bin(b)) => Value::Bin(b),
        }
    }

    /// The sample a `set-var` action stores (`None` for NULL).
    pub fn into_sample(self) -> Option<crate::sample::Sample> {
        use crate::sample::Sample;
        Some(match self {
            Value::Null => return None,
            Value::Bool(b) => Sample::Bool(b),
            Value::Int32(i) => Sample::Sint(i64::from(i)),
            Value::Uint32(u) => Sample::Sint(i64::from(u)),
            Value::Int64(i) => Sample::Sint(i),
            // HAProxy keeps the bits in its signed integer.
            Value::Uint64(u) => Sample::Sint(u as i64),
            Value::Ipv4(a) => Sample::Ipv4(a),
            Value::Ipv6(a) => Sample::Ipv6(a),
            Value::Str(s) => Sample::Str(s),
            Value::Bin(b) => Sample::Bin(b),
        })
    }

    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Value::Null => out.push(0),
            Value::Bool(b) => out.push(1 | if *b { 0x10 } else { 0 }),
            Value::Int32(i) => {
                out.push(2);
                // HAProxy casts the signed value to its 64-bit unsigned varint.
                varint::put(out, i64::from(*i) as u64);
            }
            Value::Uint32(u) => {
                out.push(3);
                varint::put(out, u64::from(*u));
            }
            Value::Int64(i) => {
                out.push(4);
                varint::put(out, *i as u64);
            }
            Value::Uint64(u) => {
                out.push(5);
                varint::put(out, *u);
            }
            Value::Ipv4(a) => {
                out.push(6);
                out.extend_from_slice(&a.octets());
            }
            Value::Ipv6(a) => {
                out.push(7);
                out.extend_from_slice(&a.octets());
            }
            Value::Str(s) => {
                out.push(8);
                put_bytes(out, s);
            }
            Value::Bin(b) => {
                out.push(9);
                put_bytes(out, b);
            }
        }
    }

    pub fn decode(buf: &[u8], pos: &mut usize) -> Result<Value, Invalid> {
        let ty = *buf.get(*pos).ok_or(Invalid)?;
        *pos += 1;
        let int = |pos: &mut usize| varint::get(buf, pos).map_err(|_| Invalid);
        Ok(match ty & 0x0f {
            0 => Value::Null,
            1 => Value::Bool(ty & 0x10 != 0),
            2 => Value::Int32(int(pos)? as i64 as i32),
            3 => Value::Uint32(int(pos)? as u32),
            4 => Value::Int64(int(pos)? as i64),
            5 => Value::Uint64(int(pos)?),
            6 => {
                let b: [u8; 4] = take(buf, pos, 4)?.try_into().map_err(|_| Invalid)?;
                Value::Ipv4(Ipv4Addr::from(b))
            }
            7 => {
                let b: [u8; 16] = take(buf, pos, 16)?.try_into().map_err(|_| Invalid)?;
                Value::Ipv6(Ipv6Addr::from(b))
            }
            8 => Value::Str(get_bytes(buf, pos)?.to_vec()),
            9 => Value::Bin(get_bytes(buf, pos)?.to_vec()),
            _ => return Err(Invalid),
        })
    }
}

/// A frame or payload that does not parse.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Invalid;

fn take<'b>(buf: &'b [u8], pos: &mut usize, n: usize) -> Result<&'b [u8], Invalid> {
    let end = pos.checked_add(n).filter(|&e| e <= buf.len()).ok_or(Invalid)?;
    let s = &buf[*pos..end];
    *pos = end;
    Ok(s)
}

/// A length-prefixed string or binary.
pub fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    varint::put(out, b.len() as u64);
    out.extend_from_slice(b);
}

fn get_bytes<'b>(buf: &'b [u8], pos: &mut usize) -> Result<&'b [u8], Invalid> {
    let n = varint::get(buf, pos).map_err(|_| Invalid)?;
    take(buf, pos, usize::try_from(n).map_err(|_| Invalid)?)
}

/// One frame, without its length prefix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    pub ty: u8,
    pub flags: u32,
    pub stream_id: u64,
    pub frame_id: u64,
    pub payload: Vec<u8>,
}

impl Frame {
    /// The frame with its 4-byte length, ready to write.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![0; 4];
        out.push(self.ty);
        out.extend_from_slice(&self.flags.to_be_bytes());
        varint::put(&mut out, self.stream_id);
        varint::put(&mut out, self.frame_id);
        out.extend_from_slice(&self.payload);
        let len = u32::try_from(out.len() - 4).unwrap_or(u32::MAX);
        out[..4].copy_from_slice(&len.to_be_bytes());
        out
    }
}

/// What [`parse`] found at the front of a buffer.
#[derive(Debug, PartialEq, Eq)]
pub enum Parsed {
    /// A frame, and the bytes it took.
    Frame(Frame, usize),
    /// Not all of it arrived yet.
    Partial,
    /// Longer than `max` (status [`status::TOO_BIG`]).
    TooBig,
    /// Malformed (status [`status::INVALID`]).
    Invalid,
}

/// Reads the frame at the front of `buf`, at most `max` bytes long (without the prefix).
pub fn parse(buf: &[u8], max: u32) -> Parsed {
    let Some(head) = buf.get(..4) else { return Parsed::Partial };
    let len = u32::from_be_bytes(head.try_into().expect("4 bytes"));
    if len > max {
        return Parsed::TooBig;
    }
    let end = 4 + len as usize;
    let Some(body) = buf.get(4..end) else { return Parsed::Partial };
    let mut pos = 5;
    let (Some(&ty), Some(flags)) = (body.first(), body.get(1..5)) else { return Parsed::Invalid };
    let flags = u32::from_be_bytes(flags.try_into().expect("4 bytes"));
    let (Ok(stream_id), Ok(frame_id)) = (varint::get(body, &mut pos), varint::get(body, &mut pos)) else { return Parsed::Invalid };
    Parsed::Frame(Frame { ty, flags, stream_id, frame_id, payload: body[pos..].to_vec() }, end)
}

/// A key/value list (hello and disconnect payloads).
pub fn kv_list(items: &[(&str, Value)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (k, v) in items {
        put_bytes(&mut out, k.as_bytes());
        v.encode(&mut out);
    }
    out
}

pub fn parse_kv_list(payload: &[u8]) -> Result<Vec<(String, Value)>, Invalid> {
    let mut pos = 0;
    let mut out = Vec::new();
    while pos < payload.len() {
        let k = String::from_utf8_lossy(get_bytes(payload, &mut pos)?).into_owned();
        out.push((k, Value::decode(payload, &mut pos)?));
    }
    Ok(out)
}

/// HAPROXY-HELLO: the versions, the largest frame moonproxy takes, its capabilities
/// (`pipelining` or none), `healthcheck` for a check, the engine's id.
pub fn haproxy_hello(max_frame_size: u32, capabilities: &str, healthcheck: bool, engine_id: &str) -> Frame {
    let mut items = vec![
        ("supported-versions", Value::Str(VERSION.into())),
        ("max-frame-size", Value::Uint32(max_frame_size)),
        ("capabilities", Value::Str(capabilities.into())),
    ];
    if healthcheck {
        items.push(("healthcheck", Value::Bool(true)));
    }
    if !engine_id.is_empty() {
        items.push(("engine-id", Value::Str(engine_id.into())));
    }
    Frame { ty: HAPROXY_HELLO, flags: FLAG_FIN, stream_id: 0, frame_id: 0, payload: kv_list(&items) }
}

/// HAPROXY-DISCONNECT with a status code and its text.
pub fn haproxy_disconnect(code: u32) -> Frame {
    let items = [("status-code", Value::Uint32(code)), ("message", Value::Str(status::reason(code).into()))];
    Frame { ty: HAPROXY_DISCONNECT, flags: FLAG_FIN, stream_id: 0, frame_id: 0, payload: kv_list(&items) }
}

/// What an AGENT-HELLO settled.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hello {
    pub max_frame_size: u32,
    pub capabilities: String,
}

/// Checks an AGENT-HELLO against what moonproxy offered (`max`); the error is the
/// status code to disconnect with.
pub fn agent_hello(payload: &[u8], max: u32) -> Result<Hello, u32> {
    let items = parse_kv_list(payload).map_err(|_| status::INVALID)?;
    let get = |k: &str| items.iter().find(|(n, _)| n == k).map(|(_, v)| v);
    let version = match get("version") {
        Some(Value::Str(v)) => String::from_utf8_lossy(v).into_owned(),
        _ => return Err(status::NO_VSN),
    };
    let (major, minor) = version.trim().split_once('.').ok_or(status::BAD_VSN)?;
    if major.trim() != "2" || minor.trim().parse::<u32>().is_err() {
        return Err(status::BAD_VSN);
    }
    let size = match get("max-frame-size") {
        Some(Value::Uint32(n)) => u64::from(*n),
        Some(Value::Uint64(n)) => *n,
        Some(Value::Int32(n)) => *n as u64,
        Some(Value::Int64(n)) => *n as u64,
        _ => return Err(status::NO_FRAME_SIZE),
    };
    if !(256..=u64::from(max)).contains(&size) {
        return Err(status::BAD_FRAME_SIZE);
    }
    let capabilities = match get("capabilities") {
        Some(Value::Str(c)) => String::from_utf8_lossy(c).into_owned(),
        _ => return Err(status::NO_CAP),
    };
    Ok(Hello { max_frame_size: size as u32, capabilities })
}

/// The status code of an AGENT-DISCONNECT (`UNKNOWN` when it has none).
pub fn disconnect_status(payload: &[u8]) -> u32 {
    let items = parse_kv_list(payload).unwrap_or_default();
    match items.iter().find(|(k, _)| k == "status-code").map(|(_, v)| v) {
        Some(Value::Uint32(n)) => *n,
        Some(Value::Int32(n)) => *n as u32,
        Some(Value::Uint64(n)) => u32::try_from(*n).unwrap_or(status::UNKNOWN),
        Some(Value::Int64(n)) => u32::try_from(*n).unwrap_or(status::UNKNOWN),
        _ => status::UNKNOWN,
    }
}

/// Appends one message of a NOTIFY payload: its name, its argument count and its
/// named (or unnamed: empty name) arguments.
pub fn put_message(out: &mut Vec<u8>, name: &str, args: &[(&str, Value)]) {
    put_bytes(out, name.as_bytes());
    out.push(u8::try_from(args.len()).unwrap_or(u8::MAX));
    for (k, v) in args.iter().take(255) {
        put_bytes(out, k.as_bytes());
        v.encode(out);
    }
}

/// A message of a NOTIFY: its name and its arguments (name, possibly empty, and value).
pub type Message = (String, Vec<(String, Value)>);

/// Reads a NOTIFY payload back (the test agents use it).
pub fn parse_messages(payload: &[u8]) -> Result<Vec<Message>, Invalid> {
    let mut pos = 0;
    let mut out = Vec::new();
    while pos < payload.len() {
        let name = String::from_utf8_lossy(get_bytes(payload, &mut pos)?).into_owned();
        let n = *payload.get(pos).ok_or(Invalid)?;
        pos += 1;
        let mut args = Vec::new();
        for _ in 0..n {
            let k = String::from_utf8_lossy(get_bytes(payload, &mut pos)?).into_owned();
            args.push((k, Value::decode(payload, &mut pos)?));
        }
        out.push((name, args));
    }
    Ok(out)
}

/// A variable scope as an action names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VarScope {
    Proc = 0,
    Sess = 1,
    Txn = 2,
    Req = 3,
    Res = 4,
}

impl VarScope {
    fn from_byte(b: u8) -> Option<VarScope> {
        Some(match b {
            0 => VarScope::Proc,
            1 => VarScope::Sess,
            2 => VarScope::Txn,
            3 => VarScope::Req,
            4 => VarScope::Res,
            _ => return None,
        })
    }

    pub fn scope(self) -> crate::sample::vars::Scope {
        use crate::sample::vars::Scope;
        match self {
            VarScope::Proc => Scope::Proc,
            VarScope::Sess => Scope::Sess,
            VarScope::Txn => Scope::Txn,
            VarScope::Req => Scope::Req,
            VarScope::Res => Scope::Res,
        }
    }
}

/// An action of an ACK.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    SetVar { scope: VarScope, name: String, value: Value },
    UnsetVar { scope: VarScope, name: String },
}

impl Action {
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Action::SetVar { scope, name, value } => {
                out.extend_from_slice(&[1, 3, *scope as u8]);
                put_bytes(out, name.as_bytes());
                value.encode(out);
            }
            Action::UnsetVar { scope, name } => {
                out.extend_from_slice(&[2, 2, *scope as u8]);
                put_bytes(out, name.as_bytes());
            }
        }
    }
}

/// Reads an ACK payload. Unknown action types are skipped with their arguments, as
/// HAProxy does; a malformed list is [`Invalid`].
pub fn parse_actions(payload: &[u8]) -> Result<Vec<Action>, Invalid> {
    let mut pos = 0;
    let mut out = Vec::new();
    while pos < payload.len() {
        let head = take(payload, &mut pos, 2)?;
        let (ty, nargs) = (head[0], head[1]);
        match (ty, nargs) {
            (1, 3) | (2, 2) => {
                let scope_byte = take(payload, &mut pos, 1)?[0];
                let name = String::from_utf8_lossy(get_bytes(payload, &mut pos)?).into_owned();
                let scope = VarScope::from_byte(scope_byte);
                if ty == 1 {
                    let value = Value::decode(payload, &mut pos)?;
                    if let Some(scope) = scope {
                        out.push(Action::SetVar { scope, name, value });
                    }
                } else if let Some(scope) = scope {
                    out.push(Action::UnsetVar { scope, name });
                }
            }
            _ => {
                // An unknown action (or a wrong argument count): its arguments are
                // typed data, skipped.
                for _ in 0..nargs {
                    Value::decode(payload, &mut pos)?;
                }
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip_with_haproxy_type_bytes() {
        let values = [
            (Value::Null, vec![0]),
            (Value::Bool(true), vec![0x11]),
            (Value::Bool(false), vec![0x01]),
            // -1 as HAProxy's 64-bit unsigned varint: eleven bytes.
            (Value::Int32(-1), vec![2, 0xff, 0xf0, 0xfe, 0xfe, 0xfe, 0xfe, 0xfe, 0xfe, 0xfe, 0x0e]),
            (Value::Uint32(300), vec![3, 0xfc, 0x03]),
            (Value::Int64(7), vec![4, 7]),
            (Value::Uint64(239), vec![5, 239]),
            (Value::Ipv4(Ipv4Addr::new(127, 0, 0, 1)), vec![6, 127, 0, 0, 1]),
            (Value::Str(b"ab".to_vec()), vec![8, 2, b'a', b'b']),
            (Value::Bin(vec![0, 1]), vec![9, 2, 0, 1]),
        ];
        for (v, bytes) in values {
            let mut out = Vec::new();
            v.encode(&mut out);
            assert_eq!(out, bytes, "{v:?}");
            let mut pos = 0;
            assert_eq!(Value::decode(&out, &mut pos), Ok(v.clone()));
            assert_eq!(pos, out.len());
        }
        let v6 = Value::Ipv6("::1".parse().unwrap());
        let mut out = Vec::new();
        v6.encode(&mut out);
        assert_eq!(out.len(), 17);
        assert_eq!(Value::decode(&out, &mut 0), Ok(v6));
    }

    #[test]
    fn frames_parse_back_and_wait_for_their_end() {
        let f = Frame { ty: NOTIFY, flags: FLAG_FIN, stream_id: 1000, frame_id: 3, payload: b"xyz".to_vec() };
        let bytes = f.encode();
        assert_eq!(&bytes[..4], &(bytes.len() as u32 - 4).to_be_bytes());
        assert_eq!(parse(&bytes, 16384), Parsed::Frame(f, bytes.len()));
        assert_eq!(parse(&bytes[..bytes.len() - 1], 16384), Parsed::Partial);
        assert_eq!(parse(&bytes, 5), Parsed::TooBig);
        assert_eq!(parse(&[0, 0, 0, 2, 3, 0], 100), Parsed::Invalid);
    }

    #[test]
    fn agent_hello_is_checked() {
        let hello = |items: &[(&str, Value)]| kv_list(items);
        let ok = hello(&[("version", Value::Str(b"2.0".to_vec())), ("max-frame-size", Value::Uint32(1024)), ("capabilities", Value::Str(b"pipelining".to_vec()))]);
        assert_eq!(agent_hello(&ok, 16380), Ok(Hello { max_frame_size: 1024, capabilities: "pipelining".into() }));
        assert_eq!(agent_hello(&ok, 512), Err(status::BAD_FRAME_SIZE));
        let no_version = hello(&[("max-frame-size", Value::Uint32(1024)), ("capabilities", Value::Str(Vec::new()))]);
        assert_eq!(agent_hello(&no_version, 16380), Err(status::NO_VSN));
        let v1 = hello(&[("version", Value::Str(b"1.0".to_vec())), ("max-frame-size", Value::Uint32(1024)), ("capabilities", Value::Str(Vec::new()))]);
        assert_eq!(agent_hello(&v1, 16380), Err(status::BAD_VSN));
        let no_caps = hello(&[("version", Value::Str(b"2.0".to_vec())), ("max-frame-size", Value::Uint32(1024))]);
        assert_eq!(agent_hello(&no_caps, 16380), Err(status::NO_CAP));
    }

    #[test]
    fn messages_and_actions_round_trip() {
        let mut p = Vec::new();
        put_message(&mut p, "m1", &[("ip", Value::Ipv4(Ipv4Addr::LOCALHOST)), ("", Value::Int64(-5))]);
        put_message(&mut p, "m2", &[]);
        let back = parse_messages(&p).unwrap();
        assert_eq!(back[0].0, "m1");
        assert_eq!(back[0].1[1], (String::new(), Value::Int64(-5)));
        assert_eq!(back[1], ("m2".to_string(), vec![]));
        let actions = vec![
            Action::SetVar { scope: VarScope::Txn, name: "score".into(), value: Value::Uint32(42) },
            Action::UnsetVar { scope: VarScope::Sess, name: "x".into() },
        ];
        let mut a = Vec::new();
        for act in &actions {
            act.encode(&mut a);
        }
        // An unknown action with one argument is skipped.
        a.extend_from_slice(&[9, 1, 0x11]);
        assert_eq!(parse_actions(&a), Ok(actions));
        assert_eq!(parse_actions(&[1, 3, 2]), Err(Invalid));
    }
}
