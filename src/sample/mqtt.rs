//! MQTT (3.1.1 and 5.0) decoders: `mqtt_is_valid` and `mqtt_field_value(<packet
//! type>,<field name or property id>)`, pure functions of the payload. As in HAProxy
//! 2.6, only CONNECT and CONNACK packets are read: other types are not valid and give
//! no field. A packet shorter than its announced length gives no sample yet (the rule
//! waits for more data).

use super::args::{Arg, ArgType as A};
use super::conv::{self, spec, Conv};
use super::{Sample, SampleCtx, SampleType as T};

pub static CONVERTERS: &[Conv] = &[
    Conv::new("mqtt_is_valid", spec(&[], 0), T::Bin, T::Bool, conv::no_check, |s, _, cx| {
        match parse(&conv::bytes(s)?) {
            Parsed::Packet(_) => Some(Sample::Bool(true)),
            Parsed::Invalid => Some(Sample::Bool(false)),
            Parsed::NeedMore => {
                cx.may_change();
                None
            }
        }
    }),
    Conv::new("mqtt_field_value", spec(&[A::Str, A::Str], 2), T::Bin, T::Bin, check_field, run_field),
];

const TYPES: &[&str] = &[
    "", "connect", "connack", "publish", "puback", "pubrec", "pubrel", "pubcomp", "subscribe", "suback",
    "unsubscribe", "unsuback", "pingreq", "pingresp", "disconnect", "auth",
];
const CONNECT: u8 = 1;
const CONNACK: u8 = 2;

const CONNECT_FIELDS: &[&str] = &[
    "protocol_name", "protocol_version", "flags", "keepalive", "client_identifier", "will_topic", "will_payload",
    "username", "password",
];
const CONNACK_FIELDS: &[&str] = &["flags", "reason_code"];

/// How a property's value is encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PropKind {
    Byte,
    Int2,
    Int4,
    Varint,
    Utf8,
    Binary,
    Pair,
}

impl PropKind {
    fn is_number(self) -> bool {
        matches!(self, PropKind::Byte | PropKind::Int2 | PropKind::Int4 | PropKind::Varint)
    }
}

/// MQTT 5.0 properties: id, encoding, and the packet types (bit per type) carrying it.
/// CONNECT includes the will properties of its payload.
const PROPS: &[(u8, PropKind, u16)] = {
    const C: u16 = 1 << 1;
    const CA: u16 = 1 << 2;
    const P: u16 = 1 << 3;
    const D: u16 = 1 << 14;
    const AU: u16 = 1 << 15;
    const ACKS: u16 = (1 << 4) | (1 << 5) | (1 << 6) | (1 << 7) | (1 << 9) | (1 << 11);
    use PropKind::*;
    &[
        (0x01, Byte, P | C),
        (0x02, Int4, P | C),
        (0x03, Utf8, P | C),
        (0x08, Utf8, P | C),
        (0x09, Binary, P | C),
        (0x0B, Varint, P | (1 << 8)),
        (0x11, Int4, C | CA | D),
        (0x12, Utf8, CA),
        (0x13, Int2, CA),
        (0x15, Utf8, C | CA | AU),
        (0x16, Binary, C | CA | AU),
        (0x17, Byte, C),
        (0x18, Int4, C),
        (0x19, Byte, C),
        (0x1A, Utf8, CA),
        (0x1C, Utf8, CA | D),
        (0x1F, Utf8, CA | ACKS | D | AU),
        (0x21, Int2, C | CA),
        (0x22, Int2, C | CA),
        (0x23, Int2, P),
        (0x24, Byte, CA),
        (0x25, Byte, CA),
        (0x26, Pair, 0xFFFE),
        (0x27, Int4, C | CA),
        (0x28, Byte, CA),
        (0x29, Byte, CA),
        (0x2A, Byte, CA),
    ]
};

/// The packet type (a name in any case, or its number) to `Arg::Int`; the field to
/// `Arg::Str` in lower case, or `Arg::Int(id)` for a property.
fn check_field(a: &mut [Arg]) -> Result<(), String> {
    let ty_name = a.first().and_then(Arg::str).unwrap_or("").to_string();
    let ty = TYPES
        .iter()
        .position(|t| !t.is_empty() && t.eq_ignore_ascii_case(&ty_name))
        .or_else(|| ty_name.parse::<usize>().ok().filter(|t| (1..16).contains(t)))
        .ok_or_else(|| format!("Unknown MQTT type '{ty_name}'"))? as u8;
    let field = a.get(1).and_then(Arg::str).unwrap_or("").to_string();
    let unknown = || format!("Unknown MQTT field name '{field}' for packet type '{ty_name}'");
    let names = match ty {
        CONNECT => CONNECT_FIELDS,
        CONNACK => CONNACK_FIELDS,
        _ => &[][..],
    };
    a[0] = Arg::Int(ty as i64);
    if let Some(name) = names.iter().find(|n| n.eq_ignore_ascii_case(&field)) {
        a[1] = Arg::Str(name.to_string());
        return Ok(());
    }
    let id: u8 = field.parse().map_err(|_| unknown())?;
    if !PROPS.iter().any(|&(p, _, types)| p == id && types & (1 << ty) != 0) {
        return Err(unknown());
    }
    a[1] = Arg::Int(id as i64);
    Ok(())
}

fn run_field(s: Sample, a: &[Arg], cx: &dyn SampleCtx) -> Option<Sample> {
    let packet = match parse(&conv::bytes(s)?) {
        Parsed::Packet(p) => p,
        Parsed::Invalid => return None,
        Parsed::NeedMore => {
            cx.may_change();
            return None;
        }
    };
    if packet.ty as i64 != a.first()?.int()? {
        return None;
    }
    let value = match a.get(1)? {
        Arg::Str(name) => packet.fields.iter().find(|(n, _)| n == name)?.1.clone(),
        Arg::Int(id) => match packet.props.iter().find(|(p, _)| *p as i64 == *id) {
            Some((_, v)) => v.clone(),
            // HAProxy answers 0 for a numeric property an MQTT 5.0 packet lacks.
            None if packet.v5 && PROPS.iter().any(|&(p, k, _)| p as i64 == *id && k.is_number()) => b"0".to_vec(),
            None => return None,
        },
        _ => return None,
    };
    Some(Sample::Bin(value))
}

/// A CONNECT or CONNACK packet's fields (numbers as decimal text) and properties.
#[derive(Debug, Default)]
pub struct Packet {
    pub ty: u8,
    pub fields: Vec<(&'static str, Vec<u8>)>,
    pub props: Vec<(u8, Vec<u8>)>,
    /// MQTT 5.0 (properties present in the format).
    pub v5: bool,
}

#[derive(Debug)]
pub enum Parsed {
    Packet(Packet),
    Invalid,
    NeedMore,
}

/// A cursor over the packet's bytes; every read fails past the end.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, rest) = (self.0.get(..n)?, self.0.get(n..)?);
        self.0 = rest;
        Some(head)
    }
    fn byte(&mut self) -> Option<u8> {
        Some(self.take(1)?[0])
    }
    fn int2(&mut self) -> Option<u16> {
        Some(u16::from_be_bytes(self.take(2)?.try_into().ok()?))
    }
    fn int4(&mut self) -> Option<u32> {
        Some(u32::from_be_bytes(self.take(4)?.try_into().ok()?))
    }
    fn varint(&mut self) -> Option<u32> {
        let mut v = 0u32;
        for i in 0..4 {
            let b = self.byte()?;
            v |= ((b & 0x7f) as u32) << (7 * i);
            if b & 0x80 == 0 {
                return Some(v);
            }
        }
        None
    }
    /// A length-prefixed string or binary value.
    fn data(&mut self) -> Option<&'a [u8]> {
        let n = self.int2()? as usize;
        self.take(n)
    }
    fn utf8(&mut self) -> Option<&'a [u8]> {
        let d = self.data()?;
        std::str::from_utf8(d).ok()?;
        Some(d)
    }
}

/// Reads a property list (MQTT 5.0) of `ty` packets into `out`.
fn properties(r: &mut Reader<'_>, ty: u8, out: &mut Vec<(u8, Vec<u8>)>) -> Option<()> {
    let len = r.varint()? as usize;
    let mut p = Reader(r.take(len)?);
    while !p.0.is_empty() {
        let id = p.byte()?;
        let &(_, kind, types) = PROPS.iter().find(|(i, _, _)| *i == id)?;
        if types & (1 << ty) == 0 {
            return None;
        }
        let value = match kind {
            PropKind::Byte => p.byte()?.to_string().into_bytes(),
            PropKind::Int2 => p.int2()?.to_string().into_bytes(),
            PropKind::Int4 => p.int4()?.to_string().into_bytes(),
            PropKind::Varint => p.varint()?.to_string().into_bytes(),
            PropKind::Utf8 => p.utf8()?.to_vec(),
            PropKind::Binary => p.data()?.to_vec(),
            PropKind::Pair => [p.utf8()?, b":", p.utf8()?].concat(),
        };
        out.push((id, value));
    }
    Some(())
}

/// Parses the first packet of `data`.
pub fn parse(data: &[u8]) -> Parsed {
    let mut r = Reader(data);
    let (Some(first), Some(len)) = (r.byte(), r.varint()) else {
        // Too short to know: a fixed header is at most 5 bytes.
        return if data.len() < 5 { Parsed::NeedMore } else { Parsed::Invalid };
    };
    let Some(body) = r.take(len as usize) else { return Parsed::NeedMore };
    let (ty, flags) = (first >> 4, first & 0x0f);
    let packet = match (ty, flags) {
        (CONNECT, 0) => connect(body),
        (CONNACK, 0) => connack(body),
        _ => None,
    };
    packet.map_or(Parsed::Invalid, Parsed::Packet)
}

fn number(n: impl ToString) -> Vec<u8> {
    n.to_string().into_bytes()
}

fn connect(body: &[u8]) -> Option<Packet> {
    let mut r = Reader(body);
    let mut p = Packet { ty: CONNECT, ..Packet::default() };
    let name = r.utf8()?;
    let version = r.byte()?;
    if name != b"MQTT" || !matches!(version, 4 | 5) {
        return None;
    }
    let flags = r.byte()?;
    let keepalive = r.int2()?;
    let (will, will_qos, will_retain) = (flags & 0x04 != 0, (flags >> 3) & 3, flags & 0x20 != 0);
    let (user, pass) = (flags & 0x80 != 0, flags & 0x40 != 0);
    if flags & 1 != 0 || will_qos == 3 || (!will && (will_qos != 0 || will_retain)) || (version == 4 && pass && !user) {
        return None;
    }
    p.fields.push(("protocol_name", name.to_vec()));
    p.fields.push(("protocol_version", number(version)));
    p.fields.push(("flags", number(flags)));
    p.fields.push(("keepalive", number(keepalive)));
    if version == 5 {
        p.v5 = true;
        properties(&mut r, CONNECT, &mut p.props)?;
    }
    p.fields.push(("client_identifier", r.utf8()?.to_vec()));
    if will {
        if version == 5 {
            properties(&mut r, CONNECT, &mut p.props)?;
        }
        p.fields.push(("will_topic", r.utf8()?.to_vec()));
        p.fields.push(("will_payload", r.data()?.to_vec()));
    }
    if user {
        p.fields.push(("username", r.utf8()?.to_vec()));
    }
    if pass {
        p.fields.push(("password", r.data()?.to_vec()));
    }
    r.0.is_empty().then_some(p)
}

/// CONNACK: acknowledge flags and reason code, then properties for MQTT 5.0 (a longer
/// body than the 3.1.1 two bytes).
fn connack(body: &[u8]) -> Option<Packet> {
    let mut r = Reader(body);
    let mut p = Packet { ty: CONNACK, ..Packet::default() };
    let flags = r.byte()?;
    let reason = r.byte()?;
    if flags & 0xfe != 0 {
        return None;
    }
    p.fields.push(("flags", number(flags)));
    p.fields.push(("reason_code", number(reason)));
    if !r.0.is_empty() {
        p.v5 = true;
        properties(&mut r, CONNACK, &mut p.props)?;
    }
    r.0.is_empty().then_some(p)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample::{Expr, TestCtx};

    /// MQTT 3.1.1 and 5.0 CONNECT packets (client `abc`, user `user`, password `pass`,
    /// keepalive 60; 5.0 with session expiry interval 10): values from HAProxy 2.6.12.
    const C3: &str = "101b00044d51545404c2003c0003616263000475736572000470617373";
    const C5: &str = "102100044d51545405c2003c05110000000a0003616263000475736572000470617373";

    fn eval(e: &str) -> Option<Sample> {
        Expr::parse(e).unwrap_or_else(|err| panic!("{e}: {err}")).eval(&TestCtx::default())
    }

    #[test]
    fn connect_and_connack() {
        let bin = |v: &str| Some(Sample::Bin(v.as_bytes().to_vec()));
        assert_eq!(eval(&format!("bin({C3}),mqtt_is_valid")), Some(Sample::Bool(true)));
        assert_eq!(eval(&format!("bin({C3}),mqtt_field_value(connect,protocol_name)")), bin("MQTT"));
        assert_eq!(eval(&format!("bin({C3}),mqtt_field_value(connect,flags)")), bin("194"));
        assert_eq!(eval(&format!("bin({C3}),mqtt_field_value(1,Username)")), bin("user"));
        assert_eq!(eval(&format!("bin({C3}),mqtt_field_value(connect,will_topic)")), None);
        assert_eq!(eval(&format!("bin({C5}),mqtt_field_value(connect,17)")), bin("10"));
        assert_eq!(eval(&format!("bin({C5}),mqtt_field_value(connect,protocol_version)")), bin("5"));
        assert_eq!(eval("bin(20020000),mqtt_field_value(connack,reason_code)"), bin("0"));
        assert_eq!(eval("bin(200600000322000a),mqtt_field_value(connack,34)"), bin("10"));
        assert_eq!(eval("bin(200600000322000a),mqtt_field_value(connack,17)"), bin("0"));
        assert_eq!(eval(&format!("bin({C3}),mqtt_field_value(connect,17)")), None);
        assert_eq!(eval("bin(30020000),mqtt_is_valid"), Some(Sample::Bool(false)));
        assert_eq!(eval("bin(101b0004),mqtt_is_valid"), None);
    }

    #[test]
    fn argument_errors() {
        let err = |e: &str| Expr::parse(e).unwrap_err().to_string();
        assert_eq!(err("str(a),mqtt_field_value(foo,1)"), "invalid args in converter 'mqtt_field_value' : Unknown MQTT type 'foo'");
        assert_eq!(
            err("str(a),mqtt_field_value(connect,18)"),
            "invalid args in converter 'mqtt_field_value' : Unknown MQTT field name '18' for packet type 'connect'"
        );
        assert!(Expr::parse("str(a),mqtt_field_value(publish,1)").is_ok());
    }
}
