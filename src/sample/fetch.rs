//! Sample fetches that need no HTTP message: constants, the connection's addresses,
//! proxy names, variables, the environment, the clock and randomness.

use super::args::{Arg, ArgSpec, ArgType};
use super::{Sample, SampleCtx, SampleType};
use std::time::UNIX_EPOCH;

/// A fetch keyword.
pub struct Fetch {
    pub name: &'static str,
    pub args: ArgSpec,
    pub out: SampleType,
    /// Checks and rewrites the typed arguments once, at compile time.
    pub check: fn(&mut [Arg]) -> Result<(), String>,
    pub run: fn(&[Arg], &dyn SampleCtx) -> Option<Sample>,
    /// Every value, for fetches with several occurrences (`hdr(x)` on `X: a, b`):
    /// ACLs try each in turn, as HAProxy does; `None` when the arguments pick one
    /// occurrence or the fetch has one value.
    pub all: Option<FetchAll>,
    /// The allocation-free path of an ACL on this fetch: calls the function on each
    /// string value (every occurrence where [`Fetch::all`] would give several),
    /// borrowed from the request, until it returns true; the result says whether one
    /// did. `None` from the visitor: not applicable to these arguments (the ACL then
    /// takes [`Fetch::run`] / [`Fetch::all`]). Only for `str` fetches.
    pub visit: Option<FetchVisit>,
}

/// A fetch's every-occurrence function ([`Fetch::all`]).
pub type FetchAll = fn(&[Arg], &dyn SampleCtx) -> Option<Vec<Sample>>;

/// A fetch's borrowed-values visitor ([`Fetch::visit`]).
pub type FetchVisit = fn(&[Arg], &dyn SampleCtx, &mut dyn FnMut(&[u8]) -> bool) -> Option<bool>;

impl std::fmt::Debug for Fetch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Fetch({})", self.name)
    }
}

fn no_check(_: &mut [Arg]) -> Result<(), String> {
    Ok(())
}

const fn spec(types: &'static [ArgType], mandatory: usize) -> ArgSpec {
    ArgSpec { types, mandatory }
}

use ArgType as A;
use SampleType as T;

macro_rules! fetch {
    ($name:expr, $args:expr, $out:expr, $check:expr, $run:expr) => {
        Fetch {
            name: $name,
            args: $args,
            out: $out,
            check: $check,
            run: $run,
            all: None,
            visit: None,
        }
    };
}

/// Every fetch this module implements.
pub static FETCHES: &[Fetch] = &[
    fetch!("always_false", ArgSpec::NONE, T::Bool, no_check, |_, _| {
        Some(Sample::Bool(false))
    }),
    fetch!(
        "always_true",
        ArgSpec::NONE,
        T::Bool,
        no_check,
        |_, _| Some(Sample::Bool(true))
    ),
    fetch!("be_name", ArgSpec::NONE, T::Str, no_check, |_, cx| Some(
        Sample::str(cx.backend_name()?)
    )),
    fetch!(
        "bin",
        spec(&[A::Str], 1),
        T::Bin,
        check_bin,
        |a, _| match a.first()? {
            Arg::Str(s) => Some(Sample::Bin(unhex(s.as_bytes())?)),
            _ => None,
        }
    ),
    fetch!(
        "bool",
        spec(&[A::Str], 1),
        T::Bool,
        check_bool,
        |a, _| Some(Sample::Bool(a.first()?.int()? != 0))
    ),
    fetch!(
        "date",
        spec(&[A::Int, A::Str], 0),
        T::Sint,
        check_date,
        run_date
    ),
    fetch!("dst", ArgSpec::NONE, T::Ipv4, no_check, |_, cx| Some(
        Sample::ip(cx.dst()?.ip())
    )),
    fetch!("dst_port", ArgSpec::NONE, T::Sint, no_check, |_, cx| Some(
        Sample::Sint(cx.dst()?.port() as i64)
    )),
    fetch!("env", spec(&[A::Str], 1), T::Str, no_check, |a, cx| Some(
        Sample::Str(cx.env(a.first()?.str()?)?)
    )),
    // The context's own answer (Lua's, tests'), else the running proxies' state.
    fetch!("be_conn", spec(&[A::Backend], 0), T::Sint, no_check, |a, cx| Some(
        Sample::Sint(cx.be_conn(a.first().and_then(Arg::str)).or_else(|| super::fetch_proxy::be_conn(a, cx))?)
    )),
    fetch!("fe_conn", spec(&[A::Str], 0), T::Sint, no_check, |a, cx| Some(
        Sample::Sint(cx.fe_conn(a.first().and_then(Arg::str)).or_else(|| super::fetch_proxy::fe_conn(a, cx))?)
    )),
    fetch!("fe_name", ArgSpec::NONE, T::Str, no_check, |_, cx| Some(
        Sample::str(cx.frontend_name()?)
    )),
    fetch!("int", spec(&[A::Int], 1), T::Sint, no_check, |a, _| Some(
        Sample::Sint(a.first()?.int()?)
    )),
    fetch!(
        "ipv4",
        spec(&[A::Ipv4], 1),
        T::Ipv4,
        no_check,
        |a, _| match a.first()? {
            Arg::Ipv4(ip) => Some(Sample::Ipv4(*ip)),
            _ => None,
        }
    ),
    fetch!(
        "ipv6",
        spec(&[A::Ipv6], 1),
        T::Ipv6,
        no_check,
        |a, _| match a.first()? {
            Arg::Ipv6(ip) => Some(Sample::Ipv6(*ip)),
            _ => None,
        }
    ),
    fetch!("meth", spec(&[A::Str], 1), T::Meth, no_check, |a, _| Some(
        Sample::Meth(a.first()?.str()?.as_bytes().to_vec())
    )),
    fetch!(
        "nbsrv",
        spec(&[A::Backend], 0),
        T::Sint,
        no_check,
        |a, cx| Some(Sample::Sint(cx.nbsrv(a.first().and_then(Arg::str)).or_else(|| super::fetch_proxy::nbsrv(a, cx))?))
    ),
    fetch!("rand", spec(&[A::Int], 0), T::Sint, no_check, |a, cx| {
        let r = cx.random_u32() as u64;
        Some(Sample::Sint(match a.first().and_then(Arg::int) {
            // Scaled to [0, range) as HAProxy does, by multiplication rather than modulo.
            Some(range) => ((r * range as u64) >> 32) as i64,
            None => r as i64,
        }))
    }),
    fetch!("src", ArgSpec::NONE, T::Ipv4, no_check, |_, cx| Some(
        Sample::ip(cx.src()?.ip())
    )),
    fetch!("src_port", ArgSpec::NONE, T::Sint, no_check, |_, cx| Some(
        Sample::Sint(cx.src()?.port() as i64)
    )),
    // The server connection's TLS (`crate::tls`), in response rules and logs.
    fetch!("ssl_bc", ArgSpec::NONE, T::Bool, no_check, |_, cx| Some(Sample::Bool(cx.server_tls().is_some()))),
    fetch!("ssl_bc_alg_keysize", ArgSpec::NONE, T::Sint, no_check, |_, cx| Some(Sample::Sint(cx.server_tls()?.key_bits.into()))),
    fetch!("ssl_bc_alpn", ArgSpec::NONE, T::Str, no_check, |_, cx| Some(Sample::Str(cx.server_tls()?.alpn.clone()?))),
    fetch!("ssl_bc_cipher", ArgSpec::NONE, T::Str, no_check, |_, cx| Some(Sample::str(cx.server_tls()?.cipher.as_str()))),
    // False without TLS, as in HAProxy.
    fetch!("ssl_bc_is_resumed", ArgSpec::NONE, T::Bool, no_check, |_, cx| Some(Sample::Bool(cx.server_tls().is_some_and(|t| t.resumed)))),
    fetch!("ssl_bc_protocol", ArgSpec::NONE, T::Str, no_check, |_, cx| Some(Sample::str(cx.server_tls()?.protocol))),
    fetch!("ssl_bc_use_keysize", ArgSpec::NONE, T::Sint, no_check, |_, cx| Some(Sample::Sint(cx.server_tls()?.key_bits.into()))),
    // The client connection's TLS (`crate::tls`): read once its handshake is done.
    fetch!("ssl_c_used", ArgSpec::NONE, T::Bool, no_check, |_, cx| Some(Sample::Bool(cx.tls()?.peer_cert))),
    fetch!("ssl_fc", ArgSpec::NONE, T::Bool, no_check, |_, cx| Some(Sample::Bool(cx.tls().is_some()))),
    fetch!("ssl_fc_alpn", ArgSpec::NONE, T::Str, no_check, |_, cx| Some(Sample::Str(cx.tls()?.alpn.clone()?))),
    fetch!("ssl_fc_cipher", ArgSpec::NONE, T::Str, no_check, |_, cx| Some(Sample::str(cx.tls()?.cipher.as_str()))),
    fetch!("ssl_fc_has_sni", ArgSpec::NONE, T::Bool, no_check, |_, cx| Some(Sample::Bool(cx.tls()?.sni.is_some()))),
    fetch!("ssl_fc_protocol", ArgSpec::NONE, T::Str, no_check, |_, cx| Some(Sample::str(cx.tls()?.protocol))),
    fetch!("ssl_fc_sni", ArgSpec::NONE, T::Str, no_check, |_, cx| Some(Sample::str(cx.tls()?.sni.as_deref()?))),
    fetch!("srv_name", ArgSpec::NONE, T::Str, no_check, |_, cx| Some(
        Sample::str(cx.server_name()?)
    )),
    fetch!("str", spec(&[A::Str], 1), T::Str, no_check, |a, _| Some(
        Sample::str(a.first()?.str()?)
    )),
    fetch!(
        "uuid",
        spec(&[A::Int], 0),
        T::Str,
        check_uuid,
        |_, cx| Some(Sample::Str(uuid_v4(cx).into_bytes()))
    ),
    fetch!(
        "var",
        spec(&[A::Str, A::Str], 1),
        T::Any,
        check_var,
        |a, cx| match a {
            [Arg::Var(v), rest @ ..] => cx
                .var(v)
                .or_else(|| Some(Sample::str(rest.first()?.str()?))),
            _ => None,
        }
    ),
];

/// The fetch named `name`.
pub fn lookup(name: &str) -> Option<&'static Fetch> {
    FETCHES
        .iter()
        .find(|f| f.name == name)
        .or_else(|| super::fetch_payload::lookup(name))
        .or_else(|| super::fetch_ssl_hello::lookup(name))
        .or_else(|| super::fetch_ssl_cert::lookup(name))
        .or_else(|| super::fetch_ssl_conn::lookup(name))
        .or_else(|| super::fetch_http::lookup(name))
        .or_else(|| super::fetch_proxy::lookup(name))
        .or_else(|| super::fetch_conn::lookup(name))
        .or_else(|| crate::stick::sample::lookup_fetch(name))
        .or_else(|| crate::http::fcgi::fetch::lookup(name))
}

/// Why `name` is refused when it is one of HAProxy's `internal.*` fetches: they show
/// HAProxy's own HTX message representation (blocks, sizes, free space), which
/// moonproxy does not have, so no value could mean the same.
pub fn htx_internal_refusal(name: &str) -> Option<String> {
    name.starts_with("internal.").then(|| {
        format!("fetch method '{name}' reads HAProxy's internal HTX representation, which has no meaning in moonproxy (see doc/samples.md)")
    })
}

fn check_bool(a: &mut [Arg]) -> Result<(), String> {
    let v = match a.first().and_then(Arg::str) {
        Some("true" | "1") => 1,
        Some("false" | "0") => 0,
        _ => return Err("Expects 'true', 'false', '0' or '1'".into()),
    };
    a[0] = Arg::Int(v);
    Ok(())
}

fn check_bin(a: &mut [Arg]) -> Result<(), String> {
    let s = a.first().and_then(Arg::str).unwrap_or("");
    if !s.len().is_multiple_of(2) {
        return Err("an even number of hex digit is expected".into());
    }
    if unhex(s.as_bytes()).is_none() {
        return Err(format!("invalid hex string '{s}'"));
    }
    Ok(())
}

pub(crate) fn unhex(s: &[u8]) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    s.chunks(2)
        .map(|p| Some((char::from(p[0]).to_digit(16)? * 16 + char::from(p[1]).to_digit(16)?) as u8))
        .collect()
}

fn check_date(a: &mut [Arg]) -> Result<(), String> {
    if let Some(Arg::Str(u)) = a.get(1) {
        if !matches!(u.as_str(), "s" | "ms" | "us") {
            return Err(format!("expects 's', 'ms' or 'us', got '{u}'"));
        }
    }
    Ok(())
}

/// `date([offset[,unit]])`: the time since the epoch in `unit` (seconds by default),
/// plus `offset` in the same unit.
fn run_date(a: &[Arg], cx: &dyn SampleCtx) -> Option<Sample> {
    let d = cx.now().duration_since(UNIX_EPOCH).ok()?;
    let off = a.first().and_then(Arg::int).unwrap_or(0);
    let v = match a.get(1).and_then(Arg::str) {
        Some("ms") => d.as_millis() as i64,
        Some("us") => d.as_micros() as i64,
        _ => d.as_secs() as i64,
    };
    Some(Sample::Sint(v.saturating_add(off)))
}

fn check_uuid(a: &mut [Arg]) -> Result<(), String> {
    match a.first().and_then(Arg::int) {
        None | Some(4) => Ok(()),
        Some(v) => Err(format!("Unsupported UUID version: '{v}'")),
    }
}

fn uuid_v4(cx: &dyn SampleCtx) -> String {
    let mut b = [0u8; 16];
    for chunk in b.chunks_mut(4) {
        chunk.copy_from_slice(&cx.random_u32().to_be_bytes());
    }
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

fn check_var(a: &mut [Arg]) -> Result<(), String> {
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

/// 32 bits from a xorshift generator seeded from the clock and the process id. Not for
/// cryptography (neither is HAProxy's `rand`).
pub fn random_u32() -> u32 {
    use std::cell::Cell;
    thread_local! {
        static STATE: Cell<u64> = Cell::new({
            let t = std::time::SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(1);
            (t ^ ((std::process::id() as u64) << 32)) | 1
        });
    }
    STATE.with(|s| {
        let mut x = s.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        s.set(x);
        (x >> 32) as u32
    })
}
