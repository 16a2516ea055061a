//! Converters: pure functions from a sample (already cast to the converter's input
//! type) and compiled arguments to a new sample. `None` drops the sample.

use super::args::{Arg, ArgSpec, ArgType};
use super::matching::Method;
use super::digest::{self, Algorithm};
use super::{hash, json, map, Sample, SampleCtx, SampleType};
use std::net::{Ipv4Addr, Ipv6Addr};

/// A converter keyword.
pub struct Conv {
    pub name: &'static str,
    pub args: ArgSpec,
    pub input: SampleType,
    pub out: SampleType,
    /// Checks and rewrites the typed arguments once, at compile time.
    pub check: fn(&mut [Arg]) -> Result<(), String>,
    pub run: fn(Sample, &[Arg], &dyn SampleCtx) -> Option<Sample>,
}

impl Conv {
    /// A converter table row (the families in other files build theirs with it).
    pub const fn new(
        name: &'static str,
        args: ArgSpec,
        input: SampleType,
        out: SampleType,
        check: fn(&mut [Arg]) -> Result<(), String>,
        run: fn(Sample, &[Arg], &dyn SampleCtx) -> Option<Sample>,
    ) -> Conv {
        Conv { name, args, input, out, check, run }
    }
}

impl std::fmt::Debug for Conv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Conv({})", self.name)
    }
}

use ArgType as A;
use SampleType as T;

pub(super) const fn spec(types: &'static [ArgType], mandatory: usize) -> ArgSpec {
    ArgSpec { types, mandatory }
}

pub(super) fn no_check(_: &mut [Arg]) -> Result<(), String> {
    Ok(())
}

macro_rules! conv {
    ($name:expr, $args:expr, $in:expr => $out:expr, $check:expr, $run:expr) => {
        Conv {
            name: $name,
            args: $args,
            input: $in,
            out: $out,
            check: $check,
            run: $run,
        }
    };
}

const INT_OR_VAR: ArgSpec = spec(&[A::Str], 1);
const AVALANCHE: ArgSpec = spec(&[A::Int], 0);
const FIELD: ArgSpec = spec(&[A::Int, A::Str, A::Int], 2);
const TIME: ArgSpec = spec(&[A::Str, A::Int], 1);

/// Every converter this module implements, sorted by name.
pub static CONVERTERS: &[Conv] = &[
    conv!("add_item", spec(&[A::Str, A::Str, A::Str], 1), T::Str => T::Str, check_concat, run_add_item),
    conv!("add", INT_OR_VAR, T::Sint => T::Sint, check_int_or_var, |s, a, cx| arith(s, a, cx, i64::saturating_add)),
    conv!("and", INT_OR_VAR, T::Sint => T::Sint, check_int_or_var, |s, a, cx| arith(s, a, cx, |x, y| x & y)),
    conv!("b64dec", ArgSpec::NONE, T::Str => T::Bin, no_check, |s, _, _| Some(Sample::Bin(b64_decode(&bytes(s)?, false)?))),
    conv!("base64", ArgSpec::NONE, T::Bin => T::Str, no_check, |s, _, _| Some(Sample::Str(b64_encode(&bytes(s)?, false)))),
    conv!("bool", ArgSpec::NONE, T::Sint => T::Bool, no_check, |s, _, _| Some(Sample::Bool(int(&s)? != 0))),
    conv!("bytes", spec(&[A::Int, A::Int], 1), T::Bin => T::Bin, no_check, run_bytes),
    conv!("concat", spec(&[A::Str, A::Str, A::Str], 0), T::Str => T::Str, check_concat, run_concat),
    conv!("cpl", ArgSpec::NONE, T::Sint => T::Sint, no_check, |s, _, _| Some(Sample::Sint(!int(&s)?))),
    conv!("cut_crlf", ArgSpec::NONE, T::Str => T::Str, no_check, |s, _, _| {
        let mut b = bytes(s)?;
        if let Some(i) = b.iter().position(|&c| c == b'\r' || c == b'\n') {
            b.truncate(i);
        }
        Some(Sample::Str(b))
    }),
    conv!("crc32", AVALANCHE, T::Bin => T::Sint, no_check, |s, a, _| hash32(s, a, hash::crc32)),
    conv!("crc32c", AVALANCHE, T::Bin => T::Sint, no_check, |s, a, _| hash32(s, a, hash::crc32c)),
    conv!("digest", spec(&[A::Str], 0), T::Bin => T::Bin, check_digest, |s, a, _| Some(Sample::Bin(algorithm(a)?.digest(&bytes(s)?)))),
    conv!("div", INT_OR_VAR, T::Sint => T::Sint, check_int_or_var, |s, a, cx| {
        arith(s, a, cx, |x, y| match y {
            0 => i64::MAX,
            _ => x.checked_div(y).unwrap_or(i64::MAX),
        })
    }),
    conv!("djb2", AVALANCHE, T::Bin => T::Sint, no_check, |s, a, _| hash32(s, a, hash::djb2)),
    conv!("even", ArgSpec::NONE, T::Sint => T::Bool, no_check, |s, _, _| Some(Sample::Bool(int(&s)? & 1 == 0))),
    conv!("field", FIELD, T::Str => T::Str, check_field, |s, a, _| split_fields(s, a, false)),
    conv!("hex", ArgSpec::NONE, T::Bin => T::Str, no_check, |s, _, _| {
        Some(Sample::Str(bytes(s)?.iter().flat_map(|b| format!("{b:02X}").into_bytes()).collect()))
    }),
    conv!("hex2i", ArgSpec::NONE, T::Str => T::Sint, no_check, |s, _, _| Some(Sample::Sint(hex_to_int(&bytes(s)?)?))),
    conv!("hmac", spec(&[A::Str, A::Str], 2), T::Bin => T::Bin, check_hmac, run_hmac),
    conv!("http_date", spec(&[A::Int, A::Str], 0), T::Sint => T::Str, check_time_unit, run_http_date),
    conv!("iif", spec(&[A::Str, A::Str], 2), T::Bool => T::Str, no_check, |s, a, _| {
        let pick = if matches!(s, Sample::Bool(true)) { a.first()? } else { a.get(1)? };
        Some(Sample::str(pick.str()?))
    }),
    conv!("ipmask", spec(&[A::Mask4, A::Mask6], 1), T::Addr => T::Addr, no_check, run_ipmask),
    conv!("json", spec(&[A::Str], 0), T::Str => T::Str, check_json, run_json),
    conv!("json_query", spec(&[A::Str, A::Str], 1), T::Str => T::Any, check_json_query, run_json_query),
    conv!("length", ArgSpec::NONE, T::Str => T::Sint, no_check, |s, _, _| Some(Sample::Sint(bytes(s)?.len() as i64))),
    conv!("lower", ArgSpec::NONE, T::Str => T::Str, no_check, |s, _, _| Some(Sample::Str(bytes(s)?.to_ascii_lowercase()))),
    conv!("ltime", TIME, T::Sint => T::Str, no_check, |s, a, _| format_time(s, a, true)),
    conv!("ltrim", spec(&[A::Str], 1), T::Str => T::Str, no_check, |s, a, _| {
        let set = a.first()?.str()?.as_bytes();
        let b = bytes(s)?;
        let start = b.iter().position(|c| !set.contains(c)).unwrap_or(b.len());
        Some(Sample::Str(b[start..].to_vec()))
    }),
    conv!("mod", INT_OR_VAR, T::Sint => T::Sint, check_int_or_var, |s, a, cx| {
        arith(s, a, cx, |x, y| if y == 0 { 0 } else { x.checked_rem(y).unwrap_or(0) })
    }),
    conv!("mul", INT_OR_VAR, T::Sint => T::Sint, check_int_or_var, |s, a, cx| arith(s, a, cx, i64::saturating_mul)),
    conv!("neg", ArgSpec::NONE, T::Sint => T::Sint, no_check, |s, _, _| Some(Sample::Sint(int(&s)?.checked_neg().unwrap_or(i64::MAX)))),
    conv!("not", ArgSpec::NONE, T::Sint => T::Bool, no_check, |s, _, _| Some(Sample::Bool(int(&s)? == 0))),
    conv!("odd", ArgSpec::NONE, T::Sint => T::Bool, no_check, |s, _, _| Some(Sample::Bool(int(&s)? & 1 == 1))),
    conv!("or", INT_OR_VAR, T::Sint => T::Sint, check_int_or_var, |s, a, cx| arith(s, a, cx, |x, y| x | y)),
    conv!("regsub", spec(&[A::Regex, A::Str, A::Str], 2), T::Str => T::Str, check_regsub, run_regsub),
    conv!("rtrim", spec(&[A::Str], 1), T::Str => T::Str, no_check, |s, a, _| {
        let set = a.first()?.str()?.as_bytes();
        let b = bytes(s)?;
        let end = b.iter().rposition(|c| !set.contains(c)).map_or(0, |i| i + 1);
        Some(Sample::Str(b[..end].to_vec()))
    }),
    conv!("sdbm", AVALANCHE, T::Bin => T::Sint, no_check, |s, a, _| hash32(s, a, hash::sdbm)),
    conv!("sha1", ArgSpec::NONE, T::Bin => T::Bin, no_check, |s, _, _| Some(Sample::Bin(Algorithm::Sha1.digest(&bytes(s)?)))),
    conv!("sha2", spec(&[A::Int], 0), T::Bin => T::Bin, check_sha2, |s, a, _| {
        let bits = a.first().and_then(Arg::int).unwrap_or(256);
        Some(Sample::Bin(Algorithm::sha2(bits)?.digest(&bytes(s)?)))
    }),
    conv!("sub", INT_OR_VAR, T::Sint => T::Sint, check_int_or_var, |s, a, cx| arith(s, a, cx, i64::saturating_sub)),
    conv!("ub64dec", ArgSpec::NONE, T::Str => T::Bin, no_check, |s, _, _| Some(Sample::Bin(b64_decode(&bytes(s)?, true)?))),
    conv!("ub64enc", ArgSpec::NONE, T::Bin => T::Str, no_check, |s, _, _| Some(Sample::Str(b64_encode(&bytes(s)?, true)))),
    conv!("upper", ArgSpec::NONE, T::Str => T::Str, no_check, |s, _, _| Some(Sample::Str(bytes(s)?.to_ascii_uppercase()))),
    conv!("url_dec", spec(&[A::Int], 0), T::Str => T::Str, no_check, |s, a, _| {
        let plus = a.first().and_then(Arg::int).is_some_and(|v| v != 0);
        Some(Sample::Str(url_decode(&bytes(s)?, plus)?))
    }),
    conv!("url_enc", spec(&[A::Str], 0), T::Str => T::Str, check_url_enc, |s, _, _| Some(Sample::Str(url_encode(&bytes(s)?)))),
    conv!("utime", TIME, T::Sint => T::Str, no_check, |s, a, _| format_time(s, a, false)),
    conv!("word", FIELD, T::Str => T::Str, check_field, |s, a, _| split_fields(s, a, true)),
    conv!("wt6", AVALANCHE, T::Bin => T::Sint, no_check, |s, a, _| hash32(s, a, hash::wt6)),
    conv!("xor", INT_OR_VAR, T::Sint => T::Sint, check_int_or_var, |s, a, cx| arith(s, a, cx, |x, y| x ^ y)),
    conv!("xxh32", AVALANCHE, T::Bin => T::Sint, no_check, |s, a, _| {
        let seed = a.first().and_then(Arg::int).unwrap_or(0) as u32;
        Some(Sample::Sint(hash::xxh32(&bytes(s)?, seed) as i64))
    }),
    conv!("map_str", MAP_ARGS, T::Str => T::Str, check_map_str_str, |s, a, _| map::run(s, a, T::Str)),
    conv!("map", MAP_ARGS, T::Str => T::Str, check_map_str_str, |s, a, _| map::run(s, a, T::Str)),
    conv!("map_str_str", MAP_ARGS, T::Str => T::Str, check_map_str_str, |s, a, _| map::run(s, a, T::Str)),
    conv!("map_str_int", MAP_ARGS, T::Str => T::Sint, check_map_str_int, |s, a, _| map::run(s, a, T::Sint)),
    conv!("map_str_ip", MAP_ARGS, T::Str => T::Addr, check_map_str_ip, |s, a, _| map::run(s, a, T::Addr)),
    conv!("map_beg", MAP_ARGS, T::Str => T::Str, check_map_beg_str, |s, a, _| map::run(s, a, T::Str)),
    conv!("map_beg_str", MAP_ARGS, T::Str => T::Str, check_map_beg_str, |s, a, _| map::run(s, a, T::Str)),
    conv!("map_beg_int", MAP_ARGS, T::Str => T::Sint, check_map_beg_int, |s, a, _| map::run(s, a, T::Sint)),
    conv!("map_beg_ip", MAP_ARGS, T::Str => T::Addr, check_map_beg_ip, |s, a, _| map::run(s, a, T::Addr)),
    conv!("map_sub", MAP_ARGS, T::Str => T::Str, check_map_sub_str, |s, a, _| map::run(s, a, T::Str)),
    conv!("map_sub_str", MAP_ARGS, T::Str => T::Str, check_map_sub_str, |s, a, _| map::run(s, a, T::Str)),
    conv!("map_sub_int", MAP_ARGS, T::Str => T::Sint, check_map_sub_int, |s, a, _| map::run(s, a, T::Sint)),
    conv!("map_sub_ip", MAP_ARGS, T::Str => T::Addr, check_map_sub_ip, |s, a, _| map::run(s, a, T::Addr)),
    conv!("map_dir", MAP_ARGS, T::Str => T::Str, check_map_dir_str, |s, a, _| map::run(s, a, T::Str)),
    conv!("map_dir_str", MAP_ARGS, T::Str => T::Str, check_map_dir_str, |s, a, _| map::run(s, a, T::Str)),
    conv!("map_dir_int", MAP_ARGS, T::Str => T::Sint, check_map_dir_int, |s, a, _| map::run(s, a, T::Sint)),
    conv!("map_dir_ip", MAP_ARGS, T::Str => T::Addr, check_map_dir_ip, |s, a, _| map::run(s, a, T::Addr)),
    conv!("map_dom", MAP_ARGS, T::Str => T::Str, check_map_dom_str, |s, a, _| map::run(s, a, T::Str)),
    conv!("map_dom_str", MAP_ARGS, T::Str => T::Str, check_map_dom_str, |s, a, _| map::run(s, a, T::Str)),
    conv!("map_dom_int", MAP_ARGS, T::Str => T::Sint, check_map_dom_int, |s, a, _| map::run(s, a, T::Sint)),
    conv!("map_dom_ip", MAP_ARGS, T::Str => T::Addr, check_map_dom_ip, |s, a, _| map::run(s, a, T::Addr)),
    conv!("map_end", MAP_ARGS, T::Str => T::Str, check_map_end_str, |s, a, _| map::run(s, a, T::Str)),
    conv!("map_end_str", MAP_ARGS, T::Str => T::Str, check_map_end_str, |s, a, _| map::run(s, a, T::Str)),
    conv!("map_end_int", MAP_ARGS, T::Str => T::Sint, check_map_end_int, |s, a, _| map::run(s, a, T::Sint)),
    conv!("map_end_ip", MAP_ARGS, T::Str => T::Addr, check_map_end_ip, |s, a, _| map::run(s, a, T::Addr)),
    conv!("map_reg", MAP_ARGS, T::Str => T::Str, check_map_reg_str, |s, a, _| map::run(s, a, T::Str)),
    conv!("map_reg_str", MAP_ARGS, T::Str => T::Str, check_map_reg_str, |s, a, _| map::run(s, a, T::Str)),
    conv!("map_reg_int", MAP_ARGS, T::Str => T::Sint, check_map_reg_int, |s, a, _| map::run(s, a, T::Sint)),
    conv!("map_reg_ip", MAP_ARGS, T::Str => T::Addr, check_map_reg_ip, |s, a, _| map::run(s, a, T::Addr)),
    conv!("map_int", MAP_ARGS, T::Sint => T::Str, check_map_int_str, |s, a, _| map::run(s, a, T::Str)),
    conv!("map_int_str", MAP_ARGS, T::Sint => T::Str, check_map_int_str, |s, a, _| map::run(s, a, T::Str)),
    conv!("map_int_int", MAP_ARGS, T::Sint => T::Sint, check_map_int_int, |s, a, _| map::run(s, a, T::Sint)),
    conv!("map_int_ip", MAP_ARGS, T::Sint => T::Addr, check_map_int_ip, |s, a, _| map::run(s, a, T::Addr)),
    conv!("map_ip", MAP_ARGS, T::Addr => T::Str, check_map_ip_str, |s, a, _| map::run(s, a, T::Str)),
    conv!("map_ip_str", MAP_ARGS, T::Addr => T::Str, check_map_ip_str, |s, a, _| map::run(s, a, T::Str)),
    conv!("map_ip_int", MAP_ARGS, T::Addr => T::Sint, check_map_ip_int, |s, a, _| map::run(s, a, T::Sint)),
    conv!("map_ip_ip", MAP_ARGS, T::Addr => T::Addr, check_map_ip_ip, |s, a, _| map::run(s, a, T::Addr)),
    conv!("set-var", spec(&[A::Str], 1), T::Any => T::Any, check_var_name, |s, a, cx| {
        if let Some(Arg::Var(v)) = a.first() {
            cx.set_var(v, Some(s.clone()));
        }
        Some(s)
    }),
    conv!("unset-var", spec(&[A::Str], 1), T::Any => T::Any, check_var_name, |s, a, cx| {
        if let Some(Arg::Var(v)) = a.first() {
            cx.set_var(v, None);
        }
        Some(s)
    }),
    conv!("xxh64", AVALANCHE, T::Bin => T::Sint, no_check, |s, a, _| {
        let seed = a.first().and_then(Arg::int).unwrap_or(0) as u64;
        Some(Sample::Sint(hash::xxh64(&bytes(s)?, seed) as i64))
    }),
];

/// `sha2([bits])`: 224, 256 (the default), 384 or 512.
fn check_sha2(a: &mut [Arg]) -> Result<(), String> {
    match a.first().and_then(Arg::int) {
        Some(bits) if Algorithm::sha2(bits).is_none() => {
            Err(format!("Unsupported number of bits: '{bits}'"))
        }
        _ => Ok(()),
    }
}

/// The algorithm named by the first argument of `digest` and `hmac`, compiled to
/// `Arg::Int(id)`; HAProxy accepts any OpenSSL digest name.
fn check_algorithm(a: &mut [Arg]) -> Result<(), String> {
    let name = a.first().and_then(Arg::str).unwrap_or("").to_string();
    match Algorithm::from_name(&name) {
        Some(alg) => {
            a[0] = Arg::Int(alg.id());
            Ok(())
        }
        None if digest::KNOWN_UNSUPPORTED.contains(&name.to_ascii_lowercase().as_str()) => Err(
            format!("digest '{name}' is not supported yet (sha1, sha224, sha256, sha384 and sha512 are)"),
        ),
        None => Err("algorithm must be a valid OpenSSL message digest name.".to_string()),
    }
}

fn check_digest(a: &mut [Arg]) -> Result<(), String> {
    check_algorithm(a)
}

/// `hmac(<algorithm>,<key>)`: the key is base64 text, given as is or as the name of a
/// variable holding it (`txn.key`).
fn check_hmac(a: &mut [Arg]) -> Result<(), String> {
    check_algorithm(a)?;
    if let Some(var) = a.get(1).and_then(Arg::str).and_then(super::VarName::parse) {
        a[1] = Arg::Var(var);
    }
    Ok(())
}

fn algorithm(a: &[Arg]) -> Option<Algorithm> {
    Algorithm::from_id(a.first()?.int()?)
}

/// The HMAC of the sample; no sample when the key is not valid base64 (or its variable
/// is not set).
fn run_hmac(s: Sample, a: &[Arg], cx: &dyn SampleCtx) -> Option<Sample> {
    let key_b64 = match a.get(1)? {
        Arg::Str(text) => text.as_bytes().to_vec(),
        Arg::Var(v) => bytes(cx.var(v)?)?,
        _ => return None,
    };
    let key = b64_decode(&key_b64, false)?;
    Some(Sample::Bin(algorithm(a)?.hmac(&key, &bytes(s)?)))
}

/// `set-var(name)`, `unset-var(name)`: the variable name, checked once.
fn check_var_name(a: &mut [Arg]) -> Result<(), String> {
    let name = a.first().and_then(Arg::str).unwrap_or("").to_string();
    match super::VarName::parse(&name) {
        Some(v) => {
            a[0] = Arg::Var(v);
            Ok(())
        }
        None => Err(format!(
            "invalid variable name '{name}'. A variable name must be start by its scope. The scope can be 'proc', 'sess', 'txn', 'req', 'res' or 'check'"
        )),
    }
}

/// `map*(file[,default])`.
const MAP_ARGS: ArgSpec = spec(&[A::Str, A::Str], 1);

fn check_map_str_str(a: &mut [Arg]) -> Result<(), String> {
    map::check(a, Method::Str, T::Str)
}

fn check_map_str_int(a: &mut [Arg]) -> Result<(), String> {
    map::check(a, Method::Str, T::Sint)
}

fn check_map_str_ip(a: &mut [Arg]) -> Result<(), String> {
    map::check(a, Method::Str, T::Addr)
}

fn check_map_beg_str(a: &mut [Arg]) -> Result<(), String> {
    map::check(a, Method::Beg, T::Str)
}

fn check_map_beg_int(a: &mut [Arg]) -> Result<(), String> {
    map::check(a, Method::Beg, T::Sint)
}

fn check_map_beg_ip(a: &mut [Arg]) -> Result<(), String> {
    map::check(a, Method::Beg, T::Addr)
}

fn check_map_sub_str(a: &mut [Arg]) -> Result<(), String> {
    map::check(a, Method::Sub, T::Str)
}

fn check_map_sub_int(a: &mut [Arg]) -> Result<(), String> {
    map::check(a, Method::Sub, T::Sint)
}

fn check_map_sub_ip(a: &mut [Arg]) -> Result<(), String> {
    map::check(a, Method::Sub, T::Addr)
}

fn check_map_dir_str(a: &mut [Arg]) -> Result<(), String> {
    map::check(a, Method::Dir, T::Str)
}

fn check_map_dir_int(a: &mut [Arg]) -> Result<(), String> {
    map::check(a, Method::Dir, T::Sint)
}

fn check_map_dir_ip(a: &mut [Arg]) -> Result<(), String> {
    map::check(a, Method::Dir, T::Addr)
}

fn check_map_dom_str(a: &mut [Arg]) -> Result<(), String> {
    map::check(a, Method::Dom, T::Str)
}

fn check_map_dom_int(a: &mut [Arg]) -> Result<(), String> {
    map::check(a, Method::Dom, T::Sint)
}

fn check_map_dom_ip(a: &mut [Arg]) -> Result<(), String> {
    map::check(a, Method::Dom, T::Addr)
}

fn check_map_end_str(a: &mut [Arg]) -> Result<(), String> {
    map::check(a, Method::End, T::Str)
}

fn check_map_end_int(a: &mut [Arg]) -> Result<(), String> {
    map::check(a, Method::End, T::Sint)
}

fn check_map_end_ip(a: &mut [Arg]) -> Result<(), String> {
    map::check(a, Method::End, T::Addr)
}

fn check_map_reg_str(a: &mut [Arg]) -> Result<(), String> {
    map::check(a, Method::Reg, T::Str)
}

fn check_map_reg_int(a: &mut [Arg]) -> Result<(), String> {
    map::check(a, Method::Reg, T::Sint)
}

fn check_map_reg_ip(a: &mut [Arg]) -> Result<(), String> {
    map::check(a, Method::Reg, T::Addr)
}

fn check_map_int_str(a: &mut [Arg]) -> Result<(), String> {
    map::check(a, Method::Int, T::Str)
}

fn check_map_int_int(a: &mut [Arg]) -> Result<(), String> {
    map::check(a, Method::Int, T::Sint)
}

fn check_map_int_ip(a: &mut [Arg]) -> Result<(), String> {
    map::check(a, Method::Int, T::Addr)
}

fn check_map_ip_str(a: &mut [Arg]) -> Result<(), String> {
    map::check(a, Method::Ip, T::Str)
}

fn check_map_ip_int(a: &mut [Arg]) -> Result<(), String> {
    map::check(a, Method::Ip, T::Sint)
}

fn check_map_ip_ip(a: &mut [Arg]) -> Result<(), String> {
    map::check(a, Method::Ip, T::Addr)
}

/// Converter names of HAProxy 2.6 (`haproxy -dKall`), so that one not implemented
/// yet is reported as such rather than as unknown.
#[rustfmt::skip]
pub static KNOWN_CONVERTERS: &[&str] = &[
    "add", "add_item", "aes_gcm_dec", "and", "b64dec", "base64", "be2dec", "be2hex", "bool", "bytes",
    "capture-req", "capture-res", "concat", "cpl", "crc32", "crc32c", "cut_crlf", "debug", "digest", "div",
    "djb2", "even", "field", "fix_is_valid", "fix_tag_value", "hex", "hex2i", "hmac", "host_only", "htonl",
    "http_date", "iif", "in_table", "ipmask", "json", "json_query", "jwt_header_query", "jwt_payload_query",
    "jwt_verify", "language", "length", "lower", "ltime", "ltrim", "map", "map_beg", "map_beg_int",
    "map_beg_ip", "map_dir", "map_dir_int", "map_dir_ip", "map_dom", "map_dom_int", "map_dom_ip", "map_end",
    "map_end_int", "map_end_ip", "map_int", "map_int_int", "map_int_ip", "map_ip", "map_ip_int", "map_ip_ip",
    "map_reg", "map_reg_int", "map_reg_ip", "map_regm", "map_str", "map_str_int", "map_str_ip", "map_sub",
    "map_sub_int", "map_sub_ip", "mod", "mqtt_field_value", "mqtt_is_valid", "mul", "nbsrv", "neg", "not",
    "odd", "or", "port_only", "protobuf", "regsub", "rtrim", "sdbm", "secure_memcmp", "set-var", "sha1",
    "sha2", "srv_queue", "strcmp", "sub", "table_bytes_in_rate", "table_bytes_out_rate", "table_conn_cnt",
    "table_conn_cur", "table_conn_rate", "table_expire", "table_gpc", "table_gpc0", "table_gpc0_rate",
    "table_gpc1", "table_gpc1_rate", "table_gpc_rate", "table_gpt", "table_gpt0", "table_http_err_cnt",
    "table_http_err_rate", "table_http_fail_cnt", "table_http_fail_rate", "table_http_req_cnt",
    "table_http_req_rate", "table_idle", "table_kbytes_in", "table_kbytes_out", "table_server_id",
    "table_sess_cnt", "table_sess_rate", "table_trackers", "ub64dec", "ub64enc", "ungrpc", "unset-var",
    "upper", "url_dec", "url_enc", "utime", "word", "wt6", "xor", "xxh3", "xxh32", "xxh64",
];

/// The converter tables, one a family: this file's, then those with a file of their own.
static FAMILIES: &[&[Conv]] = &[
    CONVERTERS,
    super::jwt::CONVERTERS,
    super::conv_text::CONVERTERS,
    super::map_regm::CONVERTERS,
    super::aes::CONVERTERS,
    super::conv_proxy::CONVERTERS,
    super::proto::CONVERTERS,
    super::mqtt::CONVERTERS,
];

/// Every converter of the tables above (not the stick-table ones, which live in
/// `stick::sample`).
pub fn all() -> impl Iterator<Item = &'static Conv> {
    FAMILIES.iter().flat_map(|f| f.iter())
}

/// The converter named `name`.
pub fn lookup(name: &str) -> Option<&'static Conv> {
    all().find(|c| c.name == name).or_else(|| crate::stick::sample::lookup_conv(name))
}

pub(super) fn bytes(s: Sample) -> Option<Vec<u8>> {
    match s {
        Sample::Str(b) | Sample::Bin(b) | Sample::Meth(b) => Some(b),
        _ => None,
    }
}

fn int(s: &Sample) -> Option<i64> {
    match s {
        Sample::Sint(i) => Some(*i),
        Sample::Bool(b) => Some(*b as i64),
        _ => None,
    }
}

/// The arithmetic converters take an integer or a variable name.
fn check_int_or_var(a: &mut [Arg]) -> Result<(), String> {
    let Some(Arg::Str(s)) = a.first() else {
        return Ok(());
    };
    a[0] = if s.is_empty() {
        Arg::Int(0)
    } else if let Some(i) = super::args::parse_int(s) {
        Arg::Int(i)
    } else if let Some(v) = super::VarName::parse(s) {
        Arg::Var(v)
    } else {
        return Err("expects an integer or a variable name".into());
    };
    Ok(())
}

/// Applies `op` to the sample and the argument (a missing variable drops the sample).
fn arith(s: Sample, a: &[Arg], cx: &dyn SampleCtx, op: fn(i64, i64) -> i64) -> Option<Sample> {
    let rhs = match a.first()? {
        Arg::Int(i) => *i,
        Arg::Var(v) => cx.var(v)?.to_int()?,
        _ => return None,
    };
    Some(Sample::Sint(op(int(&s)?, rhs)))
}

fn hash32(s: Sample, a: &[Arg], f: fn(&[u8]) -> u32) -> Option<Sample> {
    let mut h = f(&bytes(s)?);
    if a.first().and_then(Arg::int).is_some_and(|v| v != 0) {
        h = hash::avalanche(h);
    }
    Some(Sample::Sint(h as i64))
}

fn run_bytes(s: Sample, a: &[Arg], _: &dyn SampleCtx) -> Option<Sample> {
    let b = bytes(s)?;
    let off = a.first()?.int()?;
    if off < 0 {
        return None;
    }
    let off = (off as usize).min(b.len());
    let end = match a.get(1).and_then(Arg::int) {
        Some(len) if len < 0 => return None,
        Some(len) => off.saturating_add(len as usize).min(b.len()),
        None => b.len(),
    };
    Some(Sample::Bin(b[off..end].to_vec()))
}

/// `add_item(delim[,var][,suffix])`: appends the variable's text and the suffix,
/// preceded by `delim` when the sample is not empty and something is appended.
fn run_add_item(s: Sample, a: &[Arg], cx: &dyn SampleCtx) -> Option<Sample> {
    let mut out = bytes(s)?;
    let mut tail = Vec::new();
    if let Some(Arg::Var(v)) = a.get(1) {
        if let Some(val) = cx.var(v).and_then(Sample::into_bytes) {
            tail.extend_from_slice(&val);
        }
    }
    if let Some(p) = a.get(2).and_then(Arg::str) {
        tail.extend_from_slice(p.as_bytes());
    }
    if !out.is_empty() && !tail.is_empty() {
        out.extend_from_slice(a.first()?.str()?.as_bytes());
    }
    out.extend_from_slice(&tail);
    Some(Sample::Str(out))
}

/// Hexadecimal digits as an integer (wrapping past 64 bits); any other byte fails.
fn hex_to_int(b: &[u8]) -> Option<i64> {
    b.iter().try_fold(0i64, |v, &c| {
        Some(
            v.wrapping_mul(16)
                .wrapping_add(char::from(c).to_digit(16)? as i64),
        )
    })
}

fn check_time_unit(a: &mut [Arg]) -> Result<(), String> {
    match a.get(1).and_then(Arg::str) {
        None | Some("s" | "ms" | "us") => Ok(()),
        Some(u) => Err(format!("expects 's', 'ms' or 'us', got '{u}'")),
    }
}

/// `http_date([offset[,unit]])`: an IMF-fixdate (`Tue, 14 Nov 2023 22:13:20 GMT`).
/// With `ms` or `us` the sub-second part follows the seconds as a plain number
/// (`20.5` for 5 ms), as HAProxy prints it.
fn run_http_date(s: Sample, a: &[Arg], _: &dyn SampleCtx) -> Option<Sample> {
    let per_sec = match a.get(1).and_then(Arg::str) {
        Some("ms") => 1000,
        Some("us") => 1_000_000,
        _ => 1,
    };
    let v = int(&s)?.saturating_add(a.first().and_then(Arg::int).unwrap_or(0));
    let (t, frac) = (v.div_euclid(per_sec), v.rem_euclid(per_sec));
    let fmt = if per_sec == 1 {
        "%a, %d %b %Y %H:%M:%S GMT".to_string()
    } else {
        format!("%a, %d %b %Y %H:%M:%S.{frac} GMT")
    };
    Some(Sample::Str(strftime(&fmt, t, 0, false).into_bytes()))
}

fn check_concat(a: &mut [Arg]) -> Result<(), String> {
    if let Some(Arg::Str(name)) = a.get(1) {
        if !name.is_empty() {
            let v = super::VarName::parse(name)
                .ok_or_else(|| format!("failed to register variable name '{name}'"))?;
            a[1] = Arg::Var(v);
        }
    }
    Ok(())
}

/// `concat([prefix][,var][,suffix])`: the sample, the prefix, the variable's value as
/// text (nothing when unset) and the suffix.
fn run_concat(s: Sample, a: &[Arg], cx: &dyn SampleCtx) -> Option<Sample> {
    let mut out = bytes(s)?;
    if let Some(p) = a.first().and_then(Arg::str) {
        out.extend_from_slice(p.as_bytes());
    }
    if let Some(Arg::Var(v)) = a.get(1) {
        if let Some(val) = cx.var(v).and_then(Sample::into_bytes) {
            out.extend_from_slice(&val);
        }
    }
    if let Some(p) = a.get(2).and_then(Arg::str) {
        out.extend_from_slice(p.as_bytes());
    }
    Some(Sample::Str(out))
}

fn check_field(a: &mut [Arg]) -> Result<(), String> {
    match a.first().and_then(Arg::int) {
        Some(0) => Err("Unexpected value 0 for index".into()),
        _ => Ok(()),
    }
}

/// `field(index,delims[,count])` and `word(...)`: pick `count` fields (0: all the
/// rest) from position `index` (negative: from the end). `word` ignores empty fields.
fn split_fields(s: Sample, a: &[Arg], words: bool) -> Option<Sample> {
    let text = bytes(s)?;
    let index = a.first()?.int()?;
    let delims = a.get(1)?.str()?.as_bytes();
    let count = a.get(2).and_then(Arg::int).unwrap_or(1);
    // (start, end) of each field.
    let mut fields: Vec<(usize, usize)> = Vec::new();
    let mut start = 0;
    for (i, c) in text.iter().enumerate() {
        if delims.contains(c) {
            fields.push((start, i));
            start = i + 1;
        }
    }
    fields.push((start, text.len()));
    if words {
        fields.retain(|(s, e)| s != e);
    }
    let n = fields.len() as i64;
    let (first, last) = if index > 0 {
        let first = index - 1;
        let last = if count <= 0 {
            n - 1
        } else {
            (first + count - 1).min(n - 1)
        };
        (first, last)
    } else {
        let last = n + index;
        let first = if count <= 0 {
            0
        } else {
            (last - count + 1).max(0)
        };
        (first, last)
    };
    if first < 0 || first >= n || last < first {
        return Some(Sample::Str(Vec::new()));
    }
    Some(Sample::Str(
        text[fields[first as usize].0..fields[last as usize].1].to_vec(),
    ))
}

fn run_ipmask(s: Sample, a: &[Arg], _: &dyn SampleCtx) -> Option<Sample> {
    let mask = |a: Option<&Arg>| match a {
        Some(Arg::Mask(m)) => Some(*m as u32),
        _ => None,
    };
    let v4 = |ip: Ipv4Addr| {
        let m = mask(a.first())?;
        let bits = if m == 0 { 0 } else { u32::MAX << (32 - m) };
        Some(Sample::Ipv4(Ipv4Addr::from(u32::from(ip) & bits)))
    };
    match s {
        Sample::Ipv4(ip) => v4(ip),
        // A v4-mapped address is masked as the IPv4 address it carries.
        Sample::Ipv6(ip) => match ip.to_ipv4_mapped() {
            Some(ip4) => v4(ip4),
            None => {
                let m = mask(a.get(1))?;
                let bits = if m == 0 { 0 } else { u128::MAX << (128 - m) };
                Some(Sample::Ipv6(Ipv6Addr::from(u128::from(ip) & bits)))
            }
        },
        _ => None,
    }
}

const JSON_MODES: [&str; 5] = ["ascii", "utf8", "utf8s", "utf8p", "utf8ps"];

fn check_json(a: &mut [Arg]) -> Result<(), String> {
    match a.first().and_then(Arg::str) {
        None | Some("") => Ok(()),
        Some(m) if JSON_MODES.contains(&m) => Ok(()),
        Some(_) => Err("Unexpected input code type. Allowed value are 'ascii', 'utf8', 'utf8s', 'utf8p' and 'utf8ps'".into()),
    }
}

/// Escapes for a JSON string: `"`, `\`, `/` and control characters; bytes above 127
/// are escaped one by one (`ascii`) or decoded as UTF-8 (`utf8*`; `utf8s` and
/// `utf8ps` skip invalid sequences, the others fail on them).
fn run_json(s: Sample, a: &[Arg], _: &dyn SampleCtx) -> Option<Sample> {
    let mode = a.first().and_then(Arg::str).unwrap_or("ascii");
    let utf8 = mode.starts_with("utf8");
    let skip_bad = mode.ends_with('s');
    let input = bytes(s)?;
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        let c = input[i];
        if c >= 0x80 && utf8 {
            let len = match c {
                0xc2..=0xdf => 2,
                0xe0..=0xef => 3,
                0xf0..=0xf4 => 4,
                _ => 0,
            };
            match input
                .get(i..i + len)
                .and_then(|seq| std::str::from_utf8(seq).ok())
                .and_then(|s| s.chars().next())
            {
                Some(ch) if len > 0 => {
                    out.extend_from_slice(format!("\\u{:04x}", ch as u32).as_bytes());
                    i += len;
                }
                _ if skip_bad => i += 1,
                _ => return None,
            }
            continue;
        }
        match c {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'/' => out.extend_from_slice(b"\\/"),
            b'\x08' => out.extend_from_slice(b"\\b"),
            b'\x0c' => out.extend_from_slice(b"\\f"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            c if !(0x20..0x80).contains(&c) => {
                out.extend_from_slice(format!("\\u{c:04x}").as_bytes())
            }
            c => out.push(c),
        }
        i += 1;
    }
    Some(Sample::Str(out))
}

pub(super) fn check_json_query(a: &mut [Arg]) -> Result<(), String> {
    match a.get(1).and_then(Arg::str) {
        None | Some("int") => {}
        Some(_) => return Err("output_type only supports \"int\" as argument".into()),
    }
    // HAProxy does not check the path here: one it cannot follow finds nothing.
    Ok(())
}

/// Strings give their unescaped text, numbers their text (or an integer with `int`),
/// booleans a boolean; objects, arrays, null and missing keys drop the sample.
pub(super) fn run_json_query(s: Sample, a: &[Arg], _: &dyn SampleCtx) -> Option<Sample> {
    let doc = json::parse(&bytes(s)?)?;
    let path = json::parse_path(a.first()?.str()?)?;
    let as_int = a.get(1).and_then(Arg::str) == Some("int");
    match json::query(&doc, &path)? {
        json::Value::Str(v) => Some(Sample::Str(v.clone())),
        json::Value::Number(n) if as_int => Some(Sample::Sint(n.parse().ok()?)),
        json::Value::Number(n) => Some(Sample::Str(n.clone().into_bytes())),
        json::Value::Bool(b) => Some(Sample::Bool(*b)),
        _ => None,
    }
}

fn check_regsub(a: &mut [Arg]) -> Result<(), String> {
    let flags = a.get(2).and_then(Arg::str).unwrap_or("").to_string();
    for f in flags.chars() {
        if f != 'i' && f != 'g' {
            return Err(format!(
                "invalid regex flag '{f}', only 'i' and 'g' are supported"
            ));
        }
    }
    if flags.contains('i') {
        if let Some(Arg::Regex(r)) = a.first() {
            a[0] = Arg::Regex(r.with_icase(true).map_err(|e| e.to_string())?);
        }
    }
    Ok(())
}

/// `regsub(regex,replacement[,flags])`: `\0`..`\9` in the replacement name captures.
fn run_regsub(s: Sample, a: &[Arg], _: &dyn SampleCtx) -> Option<Sample> {
    let Some(Arg::Regex(re)) = a.first() else {
        return None;
    };
    let repl = a.get(1)?.str()?.as_bytes();
    let global = a.get(2).and_then(Arg::str).is_some_and(|f| f.contains('g'));
    let text = bytes(s)?;
    let mut out = Vec::with_capacity(text.len());
    let mut pos = 0;
    while pos <= text.len() {
        let Some(caps) = re.captures_at(&text, pos) else {
            break;
        };
        let whole = caps.get(0)?;
        let (ms, me) = (whole.start(), whole.end());
        out.extend_from_slice(&text[pos..ms]);
        let mut i = 0;
        while i < repl.len() {
            if repl[i] == b'\\' && i + 1 < repl.len() && repl[i + 1].is_ascii_digit() {
                if let Some(group) = caps.get((repl[i + 1] - b'0') as usize) {
                    out.extend_from_slice(group.as_bytes());
                }
                i += 2;
            } else {
                out.push(repl[i]);
                i += 1;
            }
        }
        pos = me;
        if ms == me {
            // An empty match: copy one byte so the next search moves on.
            if pos < text.len() {
                out.push(text[pos]);
            }
            pos += 1;
        }
        if !global {
            break;
        }
    }
    if pos < text.len() {
        out.extend_from_slice(&text[pos..]);
    }
    Some(Sample::Str(out))
}

fn check_url_enc(a: &mut [Arg]) -> Result<(), String> {
    match a.first().and_then(Arg::str) {
        None | Some("query") => Ok(()),
        Some(_) => Err("Unexpected encode type. Allowed value is 'query'".into()),
    }
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
pub fn url_encode(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    for &c in s {
        if c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~') {
            out.push(c);
        } else {
            out.extend_from_slice(format!("%{c:02X}").as_bytes());
        }
    }
    out
}

/// Decodes `%XX` (failing on a bad escape) and, when `plus` is set, `+` as a space.
pub fn url_decode(s: &[u8], plus: bool) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        match s[i] {
            b'%' => {
                let h = s.get(i + 1..i + 3)?;
                out.push(super::fetch::unhex(h)?[0]);
                i += 3;
            }
            b'+' if plus => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    Some(out)
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const B64URL: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Base64 (`url`: the URL-safe alphabet without padding).
pub fn b64_encode(s: &[u8], url: bool) -> Vec<u8> {
    let alpha = if url { B64URL } else { B64 };
    let mut out = Vec::with_capacity(s.len().div_ceil(3) * 4);
    for chunk in s.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | (b as u32) << (16 - 8 * i));
        let emit = chunk.len() + 1;
        for i in 0..4 {
            if i < emit {
                out.push(alpha[(n >> (18 - 6 * i) & 63) as usize]);
            } else if !url {
                out.push(b'=');
            }
        }
    }
    out
}

/// Decodes base64; `None` on a bad character or a bad length.
pub fn b64_decode(s: &[u8], url: bool) -> Option<Vec<u8>> {
    let alpha = if url { B64URL } else { B64 };
    let body: &[u8] = if url {
        s
    } else {
        if !s.len().is_multiple_of(4) {
            return None;
        }
        let pad = s.iter().rev().take_while(|&&c| c == b'=').count();
        if pad > 2 {
            return None;
        }
        &s[..s.len() - pad]
    };
    if body.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(body.len() * 3 / 4);
    for chunk in body.chunks(4) {
        let mut n = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            let v = alpha.iter().position(|&a| a == c)? as u32;
            n |= v << (18 - 6 * i);
        }
        for i in 0..chunk.len() - 1 {
            out.push((n >> (16 - 8 * i)) as u8);
        }
    }
    Some(out)
}

/// `ltime`/`utime(format[,offset])`: the integer as a date, offset by `offset`
/// seconds, in the local zone or UTC, formatted like `strftime`.
fn format_time(s: Sample, a: &[Arg], local: bool) -> Option<Sample> {
    let fmt = a.first()?.str()?;
    let t = int(&s)?.saturating_add(a.get(1).and_then(Arg::int).unwrap_or(0));
    let offset = if local {
        crate::log::tz::local_zone().offset_at(t)
    } else {
        0
    };
    Some(Sample::Str(strftime(fmt, t, offset, local).into_bytes()))
}

const DAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];
const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// The `strftime` conversions of the C locale that do not need week-numbering rules.
/// Unknown conversions are copied as they are.
pub fn strftime(fmt: &str, t: i64, offset: i32, local: bool) -> String {
    let secs = t + offset as i64;
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, mo, d) = crate::log::time::civil_from_days(days);
    let (mo, d) = (i64::from(mo), i64::from(d));
    let (h, mi, s) = (rem / 3600, rem / 60 % 60, rem % 60);
    let wday = (days + 4).rem_euclid(7) as usize;
    let yday = days - days_from_civil(y, 1, 1);
    let mut out = String::new();
    let mut it = fmt.chars();
    while let Some(c) = it.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let Some(conv) = it.next() else {
            out.push('%');
            break;
        };
        let piece = match conv {
            'a' => DAYS[wday][..3].to_string(),
            'A' => DAYS[wday].to_string(),
            'b' | 'h' => MONTHS[mo as usize - 1][..3].to_string(),
            'B' => MONTHS[mo as usize - 1].to_string(),
            'c' => format!(
                "{} {} {:2} {h:02}:{mi:02}:{s:02} {y}",
                &DAYS[wday][..3],
                &MONTHS[mo as usize - 1][..3],
                d
            ),
            'C' => format!("{:02}", y.div_euclid(100)),
            'd' => format!("{d:02}"),
            'D' => format!("{mo:02}/{d:02}/{:02}", y.rem_euclid(100)),
            'e' => format!("{d:2}"),
            'F' => format!("{y}-{mo:02}-{d:02}"),
            'H' => format!("{h:02}"),
            'I' => format!("{:02}", if h % 12 == 0 { 12 } else { h % 12 }),
            'j' => format!("{:03}", yday + 1),
            'k' => format!("{h:2}"),
            'l' => format!("{:2}", if h % 12 == 0 { 12 } else { h % 12 }),
            'm' => format!("{mo:02}"),
            'M' => format!("{mi:02}"),
            'n' => "\n".into(),
            'p' => if h < 12 { "AM" } else { "PM" }.into(),
            'r' => format!(
                "{:02}:{mi:02}:{s:02} {}",
                if h % 12 == 0 { 12 } else { h % 12 },
                if h < 12 { "AM" } else { "PM" }
            ),
            'R' => format!("{h:02}:{mi:02}"),
            's' => t.to_string(),
            'S' => format!("{s:02}"),
            't' => "\t".into(),
            'T' => format!("{h:02}:{mi:02}:{s:02}"),
            'u' => (if wday == 0 { 7 } else { wday }).to_string(),
            'w' => wday.to_string(),
            'y' => format!("{:02}", y.rem_euclid(100)),
            'Y' => y.to_string(),
            'z' => {
                let o = offset.abs();
                format!(
                    "{}{:02}{:02}",
                    if offset < 0 { '-' } else { '+' },
                    o / 3600,
                    o / 60 % 60
                )
            }
            'Z' => {
                if local && offset != 0 {
                    format!("{:+03}", offset / 3600)
                } else {
                    "GMT".into()
                }
            }
            '%' => "%".into(),
            other => format!("%{other}"),
        };
        out.push_str(&piece);
    }
    out
}

fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}
