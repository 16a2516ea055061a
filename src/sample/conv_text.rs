//! Converters on strings and bytes that need no other state: comparisons with a
//! variable (`strcmp`, `secure_memcmp`), the parts of a `Host` value (`host_only`,
//! `port_only`), `Accept-Language` negotiation (`language`), and the big-endian
//! integer readers (`be2dec`, `be2hex`, `htonl`), and `xxh3`. Values were checked against
//! HAProxy 2.6.12 (`tests/convs_vs_haproxy.rs`).

use super::args::{Arg, ArgType as A};
use super::conv::{self, no_check, spec, Conv};
use super::{Sample, SampleCtx, SampleType as T, VarName};

pub static CONVERTERS: &[Conv] = &[
    Conv::new("strcmp", spec(&[A::Str], 1), T::Str, T::Sint, check_var, run_strcmp),
    Conv::new("secure_memcmp", spec(&[A::Str], 1), T::Bin, T::Bool, check_var, run_secure_memcmp),
    Conv::new("host_only", spec(&[], 0), T::Str, T::Str, no_check, |s, _, _| {
        let b = conv::bytes(s)?;
        let end = port_colon(&b).unwrap_or(b.len());
        Some(Sample::Str(b[..end].to_vec()))
    }),
    Conv::new("port_only", spec(&[], 0), T::Str, T::Sint, no_check, |s, _, _| {
        let b = conv::bytes(s)?;
        Some(Sample::Sint(port_colon(&b).map_or(0, |i| port_value(&b[i + 1..])) as i64))
    }),
    Conv::new("language", spec(&[A::Str, A::Str], 1), T::Str, T::Str, no_check, run_language),
    Conv::new("be2dec", spec(&[A::Str, A::Int, A::Int], 1), T::Bin, T::Str, check_be2dec, run_be2dec),
    Conv::new("be2hex", spec(&[A::Str, A::Int, A::Int], 0), T::Bin, T::Str, check_be2hex, run_be2hex),
    Conv::new("htonl", spec(&[], 0), T::Sint, T::Bin, no_check, |s, _, _| {
        let Sample::Sint(i) = s else { return None };
        Some(Sample::Bin((i as u32).to_be_bytes().to_vec()))
    }),
    Conv::new("xxh3", spec(&[A::Int], 0), T::Bin, T::Sint, no_check, |s, a, _| {
        let seed = a.first().and_then(Arg::int).unwrap_or(0) as u64;
        Some(Sample::Sint(super::xxh3::xxh3_64(&conv::bytes(s)?, seed) as i64))
    }),
];

/// `strcmp(<var>)`, `secure_memcmp(<var>)`: the argument must name a variable.
fn check_var(a: &mut [Arg]) -> Result<(), String> {
    let name = a.first().and_then(Arg::str).unwrap_or("").to_string();
    let var = VarName::parse(&name).ok_or_else(|| format!("failed to register variable name '{name}'"))?;
    a[0] = Arg::Var(var);
    Ok(())
}

/// The variable of the first argument as bytes; `None` when it is not set.
fn var_bytes(a: &[Arg], cx: &dyn SampleCtx, as_type: T) -> Option<Vec<u8>> {
    let Some(Arg::Var(v)) = a.first() else { return None };
    conv::bytes(cx.var(v)?.cast(as_type)?)
}

/// `memcmp` on the common length (the difference of the first differing bytes, as
/// glibc answers), else the sign of the length difference.
fn run_strcmp(s: Sample, a: &[Arg], cx: &dyn SampleCtx) -> Option<Sample> {
    let other = var_bytes(a, cx, T::Str)?;
    let mine = conv::bytes(s)?;
    let diff = mine.iter().zip(&other).find(|(x, y)| x != y);
    let r = match diff {
        Some((&x, &y)) => x as i64 - y as i64,
        None => (mine.len() as i64 - other.len() as i64).signum(),
    };
    Some(Sample::Sint(r))
}

/// Equality in a time that depends on the length only, not on where bytes differ.
fn run_secure_memcmp(s: Sample, a: &[Arg], cx: &dyn SampleCtx) -> Option<Sample> {
    let other = var_bytes(a, cx, T::Bin)?;
    let mine = conv::bytes(s)?;
    if mine.len() != other.len() {
        return Some(Sample::Bool(false));
    }
    let acc = mine.iter().zip(&other).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    Some(Sample::Bool(acc == 0))
}

/// Where the `:port` of a host value starts: the last `:` not inside an IPv6 literal
/// (`[::1]` has none, `[::1]:80` one).
fn port_colon(host: &[u8]) -> Option<usize> {
    let i = host.iter().rposition(|&c| c == b':')?;
    (!host[i..].contains(&b']')).then_some(i)
}

/// HAProxy reads the port with `strl2ui`, which does not check its digits: each byte
/// adds `byte - '0'`, wrapping on 32 bits (`a:b` is 50, `x:-5` 4294967271).
fn port_value(text: &[u8]) -> u32 {
    text.iter().fold(0u32, |acc, &c| acc.wrapping_mul(10).wrapping_add((c as u32).wrapping_sub(b'0' as u32)))
}

/// `language(<supported>[,<default>])`: the supported language (a `;`-separated list)
/// the `Accept-Language` value prefers, by its `q` weight (thousandths; the first of
/// equal weights wins; `q=0` refuses); else the default, else no sample. A range
/// `en-GB` is served by a supported `en`; comparisons are case-sensitive, `*` matches
/// nothing, as in HAProxy 2.6.
fn run_language(s: Sample, a: &[Arg], _: &dyn SampleCtx) -> Option<Sample> {
    let header = conv::bytes(s)?;
    let supported: Vec<&[u8]> = a.first()?.str()?.as_bytes().split(|&c| c == b';').filter(|l| !l.is_empty()).collect();
    let mut best: Option<(u32, &[u8])> = None;
    for item in header.split(|&c| c == b',') {
        let mut params = item.split(|&c| c == b';');
        let range = trim(params.next().unwrap_or_default());
        let q = params
            .map(trim)
            .find_map(|p| p.strip_prefix(b"q="))
            .map_or(1000, qvalue);
        if q == 0 || best.is_some_and(|(bq, _)| q <= bq) {
            continue;
        }
        let matched = supported
            .iter()
            .find(|&&l| range == l || (range.starts_with(l) && range.get(l.len()) == Some(&b'-')));
        if let Some(l) = matched {
            best = Some((q, l));
        }
    }
    match best {
        Some((_, l)) => Some(Sample::str(l)),
        None => Some(Sample::str(a.get(1)?.str()?)),
    }
}

fn trim(b: &[u8]) -> &[u8] {
    let start = b.iter().position(|c| !c.is_ascii_whitespace()).unwrap_or(b.len());
    let end = b.iter().rposition(|c| !c.is_ascii_whitespace()).map_or(start, |i| i + 1);
    &b[start..end]
}

/// An HTTP weight in thousandths: `1`, `0.5`, `0.125` (digits past the third ignored).
fn qvalue(b: &[u8]) -> u32 {
    let (int, frac) = match b.iter().position(|&c| c == b'.') {
        Some(i) => (&b[..i], &b[i + 1..]),
        None => (b, &b""[..]),
    };
    let whole = match int {
        [d] if d.is_ascii_digit() => (d - b'0') as u32 * 1000,
        _ => return 0,
    };
    let mut scale = 100;
    let mut v = whole;
    for &d in frac.iter().take(3).take_while(|d| d.is_ascii_digit()) {
        v += (d - b'0') as u32 * scale;
        scale /= 10;
    }
    v
}

/// `be2dec(<separator>,<chunk size>[,<truncate>])`: 1 to 8 bytes a chunk (a missing
/// size is 0, refused, as HAProxy does).
fn check_be2dec(a: &mut [Arg]) -> Result<(), String> {
    match a.get(1).and_then(Arg::int).unwrap_or(0) {
        n if !(1..=8).contains(&n) => Err(format!("chunk_size out of [1..8] range ({n})")),
        _ => Ok(()),
    }
}

/// `be2hex([<separator>[,<chunk size>[,<truncate>]]])`: with arguments the size must be
/// positive; `be2hex` alone prints the whole input.
fn check_be2hex(a: &mut [Arg]) -> Result<(), String> {
    match a.get(1).and_then(Arg::int).unwrap_or(0) {
        n if n <= 0 => Err(format!("chunk_size needs to be positive ({n})")),
        _ => Ok(()),
    }
}

/// The input cut in `chunk`-byte big-endian integers printed in decimal, separated; a
/// shorter last chunk is dropped when `truncate` is non-zero, else printed on its own.
fn run_be2dec(s: Sample, a: &[Arg], _: &dyn SampleCtx) -> Option<Sample> {
    let (sep, chunk, truncate) = be2_args(a);
    let input = conv::bytes(s)?;
    let mut out = Vec::new();
    for (i, c) in chunks(&input, chunk, truncate).enumerate() {
        if i > 0 {
            out.extend_from_slice(sep);
        }
        let v = c.iter().fold(0u64, |acc, &b| acc << 8 | b as u64);
        out.extend_from_slice(v.to_string().as_bytes());
    }
    Some(Sample::Str(out))
}

/// The same as upper-case hexadecimal digits.
fn run_be2hex(s: Sample, a: &[Arg], _: &dyn SampleCtx) -> Option<Sample> {
    let (sep, chunk, truncate) = be2_args(a);
    let input = conv::bytes(s)?;
    let mut out = Vec::new();
    for (i, c) in chunks(&input, chunk, truncate).enumerate() {
        if i > 0 {
            out.extend_from_slice(sep);
        }
        for b in c {
            out.extend_from_slice(format!("{b:02X}").as_bytes());
        }
    }
    Some(Sample::Str(out))
}

fn be2_args(a: &[Arg]) -> (&[u8], usize, bool) {
    let sep = a.first().and_then(Arg::str).unwrap_or("").as_bytes();
    let chunk = a.get(1).and_then(Arg::int).unwrap_or(1).max(1) as usize;
    let truncate = a.get(2).and_then(Arg::int).unwrap_or(0) != 0;
    (sep, chunk, truncate)
}

fn chunks(input: &[u8], chunk: usize, truncate: bool) -> impl Iterator<Item = &[u8]> {
    input.chunks(chunk).filter(move |c| !truncate || c.len() == chunk)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_and_port_as_haproxy_splits_them() {
        let host = |h: &[u8]| port_colon(h).map_or(h, |i| &h[..i]).to_vec();
        let port = |h: &[u8]| port_colon(h).map_or(0, |i| port_value(&h[i + 1..]));
        for (h, want_host, want_port) in [
            (&b"www.example.com:8080"[..], &b"www.example.com"[..], 8080),
            (b"www.example.com", b"www.example.com", 0),
            (b"[::1]:8080", b"[::1]", 8080),
            (b"[::1]", b"[::1]", 0),
            (b"::1", b":", 1),
            (b":", b"", 0),
            (b"a:", b"a", 0),
            (b"a:b", b"a", 50),
            (b"a:12b", b"a", 170),
            (b"x:-5", b"x", 4294967271),
        ] {
            assert_eq!(host(h), want_host, "{}", String::from_utf8_lossy(h));
            assert_eq!(port(h), want_port, "{}", String::from_utf8_lossy(h));
        }
    }

    #[test]
    fn qvalues() {
        assert_eq!(qvalue(b"1"), 1000);
        assert_eq!(qvalue(b"0.5"), 500);
        assert_eq!(qvalue(b"0.0011"), 1);
        assert_eq!(qvalue(b"0"), 0);
        assert_eq!(qvalue(b"x"), 0);
    }
}
