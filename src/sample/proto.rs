//! Binary protocol decoders, as pure functions of the payload: protocol buffers
//! (`protobuf`, and `ungrpc` for gRPC's length-prefixed messages) and FIX
//! (`fix_is_valid`, `fix_tag_value`). Values checked against HAProxy 2.6.12
//! (`tests/convs_vs_haproxy.rs`).

use super::args::{Arg, ArgType as A};
use super::conv::{self, spec, Conv};
use super::{Sample, SampleCtx, SampleType as T};

pub static CONVERTERS: &[Conv] = &[
    Conv::new("protobuf", spec(&[A::PbufFieldNumber, A::Str], 1), T::Bin, T::Bin, check_pbuf, |s, a, _| {
        protobuf_field(&conv::bytes(s)?, &field_path(a)?, pbuf_type(a))
    }),
    Conv::new("ungrpc", spec(&[A::PbufFieldNumber, A::Str], 1), T::Bin, T::Bin, check_pbuf, |s, a, _| {
        ungrpc(&conv::bytes(s)?, &field_path(a)?, pbuf_type(a))
    }),
    Conv::new("fix_is_valid", spec(&[], 0), T::Bin, T::Bool, conv::no_check, run_fix_is_valid),
    Conv::new("fix_tag_value", spec(&[A::Str], 1), T::Bin, T::Bin, check_fix_tag, |s, a, _| {
        let tag = a.first()?.int()?;
        Some(Sample::Bin(fix_tag_value(&conv::bytes(s)?, tag as u32)?.to_vec()))
    }),
];

/// How a field's value is read (the optional second argument of `protobuf`/`ungrpc`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PbufType {
    /// No type: the field's raw bytes.
    Raw,
    /// `int32 int64 uint32 uint64 bool enum`: the varint as a signed 64-bit value.
    Varint,
    /// `sint32 sint64`: a zigzag varint.
    Zigzag,
    Fixed32,
    Sfixed32,
    Float,
    Fixed64,
    Sfixed64,
    Double,
}

impl PbufType {
    fn parse(name: &str) -> Option<PbufType> {
        Some(match name {
            "int32" | "int64" | "uint32" | "uint64" | "bool" | "enum" => PbufType::Varint,
            "sint32" | "sint64" => PbufType::Zigzag,
            "fixed32" => PbufType::Fixed32,
            "sfixed32" => PbufType::Sfixed32,
            "float" => PbufType::Float,
            "fixed64" => PbufType::Fixed64,
            "sfixed64" => PbufType::Sfixed64,
            "double" => PbufType::Double,
            _ => return None,
        })
    }

    /// The wire type a value of this type has (`None`: any).
    fn wire_type(self) -> Option<u8> {
        match self {
            PbufType::Raw => None,
            PbufType::Varint | PbufType::Zigzag => Some(0),
            PbufType::Fixed64 | PbufType::Sfixed64 | PbufType::Double => Some(1),
            PbufType::Fixed32 | PbufType::Sfixed32 | PbufType::Float => Some(5),
        }
    }
}

/// The type is compiled to `Arg::Int(index)` of [`PBUF_TYPES`].
const PBUF_TYPES: &[PbufType] = &[
    PbufType::Raw,
    PbufType::Varint,
    PbufType::Zigzag,
    PbufType::Fixed32,
    PbufType::Sfixed32,
    PbufType::Float,
    PbufType::Fixed64,
    PbufType::Sfixed64,
    PbufType::Double,
];

fn check_pbuf(a: &mut [Arg]) -> Result<(), String> {
    if let Some(name) = a.get(1).and_then(Arg::str) {
        let t = PbufType::parse(name).ok_or_else(|| format!("Wrong protocol buffer type '{name}'"))?;
        a[1] = Arg::Int(PBUF_TYPES.iter().position(|&p| p == t).unwrap_or(0) as i64);
    }
    Ok(())
}

fn pbuf_type(a: &[Arg]) -> PbufType {
    a.get(1).and_then(Arg::int).and_then(|i| PBUF_TYPES.get(i as usize).copied()).unwrap_or(PbufType::Raw)
}

/// `1.2.3` as field numbers (empty parts, as in `.1`, are skipped).
fn field_path(a: &[Arg]) -> Option<Vec<u64>> {
    a.first()?.str()?.split('.').filter(|p| !p.is_empty()).map(|p| p.parse().ok()).collect()
}

/// A varint at the start of `b`: its value and its length.
fn varint(b: &[u8]) -> Option<(u64, usize)> {
    let mut v = 0u64;
    for (i, &c) in b.iter().enumerate().take(10) {
        v |= ((c & 0x7f) as u64) << (7 * i);
        if c & 0x80 == 0 {
            return Some((v, i + 1));
        }
    }
    None
}

/// The first field `path` leads to in the message `msg`, read as `ty`: intermediate
/// fields must be length-delimited messages; a field of another wire type than `ty`
/// reads gives no sample.
pub fn protobuf_field(msg: &[u8], path: &[u64], ty: PbufType) -> Option<Sample> {
    let (&want, rest_path) = path.split_first()?;
    let mut pos = 0;
    while pos < msg.len() {
        let (key, n) = varint(&msg[pos..])?;
        pos += n;
        let (number, wire) = (key >> 3, (key & 7) as u8);
        let value: &[u8] = match wire {
            0 => {
                let (_, n) = varint(&msg[pos..])?;
                &msg[pos..pos + n]
            }
            1 => msg.get(pos..pos + 8)?,
            2 => {
                let (len, n) = varint(&msg[pos..])?;
                pos += n;
                msg.get(pos..pos.checked_add(usize::try_from(len).ok()?)?)?
            }
            5 => msg.get(pos..pos + 4)?,
            _ => return None,
        };
        pos += value.len();
        if number != want {
            continue;
        }
        if !rest_path.is_empty() {
            return if wire == 2 { protobuf_field(value, rest_path, ty) } else { None };
        }
        if ty.wire_type().is_some_and(|w| w != wire) {
            return None;
        }
        return Some(match ty {
            PbufType::Raw => Sample::Bin(value.to_vec()),
            PbufType::Varint => Sample::Sint(varint(value)?.0 as i64),
            PbufType::Zigzag => {
                let v = varint(value)?.0;
                Sample::Sint((v >> 1) as i64 ^ -((v & 1) as i64))
            }
            PbufType::Fixed32 => Sample::Sint(u32::from_le_bytes(value.try_into().ok()?) as i64),
            PbufType::Sfixed32 => Sample::Sint(i32::from_le_bytes(value.try_into().ok()?) as i64),
            PbufType::Float => Sample::Sint(f32::from_le_bytes(value.try_into().ok()?) as i64),
            PbufType::Fixed64 | PbufType::Sfixed64 => Sample::Sint(i64::from_le_bytes(value.try_into().ok()?)),
            PbufType::Double => Sample::Sint(f64::from_le_bytes(value.try_into().ok()?) as i64),
        });
    }
    None
}

/// gRPC frames messages with a compression flag byte and a 4-byte big-endian length;
/// the field is looked for in each message in turn. A length past the end gives no
/// sample.
pub fn ungrpc(mut data: &[u8], path: &[u64], ty: PbufType) -> Option<Sample> {
    while data.len() > 5 {
        let len = u32::from_be_bytes(data[1..5].try_into().ok()?) as usize;
        let msg = data.get(5..5 + len)?;
        if let Some(s) = protobuf_field(msg, path, ty) {
            return Some(s);
        }
        data = &data[5 + len..];
    }
    None
}

/// FIX tag names `fix_tag_value` knows (any case), besides numbers.
const FIX_TAGS: &[(&str, i64)] = &[
    ("BeginString", 8),
    ("BodyLength", 9),
    ("CheckSum", 10),
    ("MsgType", 35),
    ("SenderCompID", 49),
    ("TargetCompID", 56),
];

fn check_fix_tag(a: &mut [Arg]) -> Result<(), String> {
    let name = a.first().and_then(Arg::str).unwrap_or("").to_string();
    let tag = FIX_TAGS
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(&name))
        .map(|&(_, t)| t)
        .or_else(|| name.parse::<u32>().ok().filter(|&t| t > 0).map(i64::from))
        .ok_or_else(|| format!("Unknown FIX tag name '{name}'"))?;
    a[0] = Arg::Int(tag);
    Ok(())
}

const SOH: u8 = 0x01;

/// The `tag=value` fields of a FIX message, up to the last complete one.
fn fix_fields(msg: &[u8]) -> impl Iterator<Item = (&[u8], &[u8])> {
    let complete = msg.iter().rposition(|&c| c == SOH).map_or(&msg[..0], |i| &msg[..i]);
    complete.split(|&c| c == SOH).filter(|f| !f.is_empty()).map(|f| {
        match f.iter().position(|&c| c == b'=') {
            Some(i) => (&f[..i], &f[i + 1..]),
            None => (f, &f[f.len()..]),
        }
    })
}

/// The value of the first field numbered `tag`; no validation (`fix_is_valid` does it).
pub fn fix_tag_value(msg: &[u8], tag: u32) -> Option<&[u8]> {
    let want = tag.to_string();
    fix_fields(msg).find(|(t, _)| *t == want.as_bytes()).map(|(_, v)| v)
}

/// What `fix_is_valid` decides.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FixVerdict {
    Valid,
    Invalid,
    /// Shorter than the smallest message (26 bytes): the answer may change.
    NeedMore,
}

fn run_fix_is_valid(s: Sample, _: &[Arg], cx: &dyn SampleCtx) -> Option<Sample> {
    match fix_validate(&conv::bytes(s)?) {
        FixVerdict::Valid => Some(Sample::Bool(true)),
        FixVerdict::Invalid => Some(Sample::Bool(false)),
        FixVerdict::NeedMore => {
            cx.may_change();
            None
        }
    }
}

/// The checks HAProxy documents: `8=` first with a known version (`FIX.4.0` to
/// `FIX.4.4`, `FIXT.1.1`), `9=` second holding the body length (from after its SOH to
/// the `10=` field), `35=` third, every tag numeric and every value non-empty, and
/// `10=` last with the byte sum modulo 256 in three digits. A message that is fine so
/// far but ends before its `10=` field may still become valid ([`FixVerdict::NeedMore`]).
pub fn fix_validate(msg: &[u8]) -> FixVerdict {
    if msg.len() < 26 {
        return FixVerdict::NeedMore;
    }
    // The complete fields, with their offsets, up to and including `10=`.
    let mut fields: Vec<(usize, &[u8], &[u8])> = Vec::new();
    let mut pos = 0;
    let mut complete = false;
    while let Some(len) = msg[pos..].iter().position(|&c| c == SOH) {
        let field = &msg[pos..pos + len];
        let Some(eq) = field.iter().position(|&c| c == b'=') else { return FixVerdict::Invalid };
        let (tag, value) = (&field[..eq], &field[eq + 1..]);
        if tag.is_empty() || value.is_empty() || !tag.iter().all(u8::is_ascii_digit) {
            return FixVerdict::Invalid;
        }
        let expected: Option<&[u8]> = match fields.len() {
            0 => Some(b"8"),
            1 => Some(b"9"),
            2 => Some(b"35"),
            _ => None,
        };
        if expected.is_some_and(|t| t != tag) {
            return FixVerdict::Invalid;
        }
        if fields.is_empty() && !matches!(value, b"FIX.4.0" | b"FIX.4.1" | b"FIX.4.2" | b"FIX.4.3" | b"FIX.4.4" | b"FIXT.1.1") {
            return FixVerdict::Invalid;
        }
        fields.push((pos, tag, value));
        pos += len + 1;
        if tag == b"10" {
            complete = true;
            break;
        }
    }
    if !complete {
        return FixVerdict::NeedMore;
    }
    let checks = || -> Option<()> {
        let (body, body_len, &(sum_at, _, sum)) = (fields.get(2)?.0, fields.get(1)?.2, fields.last()?);
        let body_len: usize = std::str::from_utf8(body_len).ok()?.parse().ok()?;
        if sum_at - body != body_len || sum.len() != 3 || pos != msg.len() {
            return None;
        }
        let computed = msg[..sum_at].iter().fold(0u8, |acc, &c| acc.wrapping_add(c));
        (std::str::from_utf8(sum).ok()?.parse::<u8>().ok()? == computed).then_some(())
    };
    match checks() {
        Some(()) => FixVerdict::Valid,
        None => FixVerdict::Invalid,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unhex(h: &str) -> Vec<u8> {
        (0..h.len()).step_by(2).map(|i| u8::from_str_radix(&h[i..i + 2], 16).unwrap()).collect()
    }

    /// Fields 1 (varint 150), 2 ("testing"), 3 ({1: 5, 2: "ab"}), 4 (float 1.0),
    /// 5 (double 1.0), 6 (varint 5), 7 (varint 5): values from HAProxy 2.6.12.
    const MSG: &str = "089601120774657374696e671a06080512026162250000803f29000000000000f03f30053805";

    #[test]
    fn protobuf_fields() {
        let m = unhex(MSG);
        let f = |path: &[u64], ty| protobuf_field(&m, path, ty);
        assert_eq!(f(&[1], PbufType::Raw), Some(Sample::Bin(vec![0x96, 0x01])));
        assert_eq!(f(&[1], PbufType::Varint), Some(Sample::Sint(150)));
        assert_eq!(f(&[2], PbufType::Raw), Some(Sample::Bin(b"testing".to_vec())));
        assert_eq!(f(&[2], PbufType::Varint), None);
        assert_eq!(f(&[3, 1], PbufType::Varint), Some(Sample::Sint(5)));
        assert_eq!(f(&[3, 2], PbufType::Raw), Some(Sample::Bin(b"ab".to_vec())));
        assert_eq!(f(&[3, 3], PbufType::Raw), None);
        assert_eq!(f(&[4], PbufType::Fixed32), Some(Sample::Sint(1065353216)));
        assert_eq!(f(&[4], PbufType::Float), Some(Sample::Sint(1)));
        assert_eq!(f(&[5], PbufType::Double), Some(Sample::Sint(1)));
        assert_eq!(f(&[6], PbufType::Zigzag), Some(Sample::Sint(-3)));
        assert_eq!(f(&[1], PbufType::Fixed32), None);
        let minus_one = unhex("38ffffffffffffffffff01");
        assert_eq!(protobuf_field(&minus_one, &[7], PbufType::Varint), Some(Sample::Sint(-1)));
        assert_eq!(protobuf_field(&minus_one, &[7], PbufType::Zigzag), Some(Sample::Sint(i64::MIN)));
        let grpc = unhex("0000000003089601000000000308ff01");
        assert_eq!(ungrpc(&grpc, &[1], PbufType::Varint), Some(Sample::Sint(150)));
        assert_eq!(ungrpc(&unhex("0000000005089601"), &[1], PbufType::Varint), None);
    }

    /// The example message of the FIX specification's introduction.
    const FIX: &[u8] = b"8=FIX.4.2\x019=65\x0135=A\x0149=SERVER\x0156=CLIENT\x0134=177\x0152=20090107-18:15:16\x0198=0\x01108=30\x0110=062\x01";

    #[test]
    fn fix_messages() {
        assert_eq!(fix_validate(FIX), FixVerdict::Valid);
        assert_eq!(fix_tag_value(FIX, 35), Some(&b"A"[..]));
        assert_eq!(fix_tag_value(FIX, 49), Some(&b"SERVER"[..]));
        assert_eq!(fix_tag_value(FIX, 99), None);
        let bad_sum = [&FIX[..FIX.len() - 4], b"063\x01"].concat();
        assert_eq!(fix_validate(&bad_sum), FixVerdict::Invalid);
        assert_eq!(fix_validate(&FIX[..20]), FixVerdict::NeedMore);
        assert_eq!(fix_validate(&FIX[..30]), FixVerdict::NeedMore);
        let bad_version = [b"8=FIX.9.9", &FIX[9..]].concat();
        assert_eq!(fix_validate(&bad_version), FixVerdict::Invalid);
    }
}
