//! Sample fetches on the raw bytes of a channel, for `tcp-request content` and
//! `tcp-response content` rules: `req.len`, `req.payload(off,len)`,
//! `req.payload_lv(off,len[,off2])`, `req.proto_http`, their `res.*` forms and the
//! old names (`req_len`, `payload`, `payload_lv`, `req_proto_http`), the RDP cookie
//! (`req.rdp_cookie([name])`, `req.rdp_cookie_cnt([name])`, also without `req.`) and
//! `wait_end`.
//!
//! The bytes come from [`SampleCtx::channel_data`]. While more may arrive (inside
//! `inspect-delay`), a fetch short of data reports [`SampleCtx::may_change`], so the
//! rule waits instead of deciding, as HAProxy's `SMP_F_MAY_CHANGE` does. In HTTP mode
//! there is no raw buffer: the payload fetches find nothing (HAProxy's on an HTX
//! stream neither), `req.len` and `req.proto_http` read the parsed request.

use super::args::{Arg, ArgSpec, ArgType};
use super::fetch::Fetch;
use super::{ChannelData, Dir, Sample, SampleCtx, SampleType};

use ArgType as A;
use SampleType as T;

const fn spec(types: &'static [ArgType], mandatory: usize) -> ArgSpec {
    ArgSpec { types, mandatory }
}

fn no_check(_: &mut [Arg]) -> Result<(), String> {
    Ok(())
}

macro_rules! fetch {
    ($name:expr, $args:expr, $out:expr, $check:expr, $run:expr) => {
        Fetch { name: $name, args: $args, out: $out, check: $check, run: $run, all: None, visit: None }
    };
}

const PAYLOAD: ArgSpec = spec(&[A::Int, A::Int], 2);
const PAYLOAD_LV: ArgSpec = spec(&[A::Int, A::Int, A::Str], 2);
const NAME: ArgSpec = spec(&[A::Str], 0);

/// Every payload fetch, looked up after [`super::fetch::FETCHES`].
pub static FETCHES: &[Fetch] = &[
    fetch!("distcc_body", DISTCC, T::Bin, check_distcc, |a, cx| distcc(cx, a, true)),
    fetch!("distcc_param", DISTCC, T::Sint, check_distcc, |a, cx| distcc(cx, a, false)),
    fetch!("payload", PAYLOAD, T::Bin, no_check, |a, cx| payload(cx, Dir::Req, a)),
    fetch!("payload_lv", PAYLOAD_LV, T::Bin, check_lv, |a, cx| payload_lv(cx, Dir::Req, a)),
    fetch!("rdp_cookie", NAME, T::Str, no_check, |a, cx| rdp_cookie(cx, a)),
    fetch!("rdp_cookie_cnt", NAME, T::Sint, no_check, |a, cx| rdp_cookie_cnt(cx, a)),
    fetch!("req.len", ArgSpec::NONE, T::Sint, no_check, |_, cx| req_len(cx)),
    fetch!("req.payload", PAYLOAD, T::Bin, no_check, |a, cx| payload(cx, Dir::Req, a)),
    fetch!("req.payload_lv", PAYLOAD_LV, T::Bin, check_lv, |a, cx| payload_lv(cx, Dir::Req, a)),
    fetch!("req.proto_http", ArgSpec::NONE, T::Bool, no_check, |_, cx| proto_http(cx)),
    fetch!("req.rdp_cookie", NAME, T::Str, no_check, |a, cx| rdp_cookie(cx, a)),
    fetch!("req.rdp_cookie_cnt", NAME, T::Sint, no_check, |a, cx| rdp_cookie_cnt(cx, a)),
    fetch!("req_len", ArgSpec::NONE, T::Sint, no_check, |_, cx| req_len(cx)),
    fetch!("req_proto_http", ArgSpec::NONE, T::Bool, no_check, |_, cx| proto_http(cx)),
    fetch!("res.len", ArgSpec::NONE, T::Sint, no_check, |_, cx| len(cx, Dir::Res)),
    fetch!("res.payload", PAYLOAD, T::Bin, no_check, |a, cx| payload(cx, Dir::Res, a)),
    fetch!("res.payload_lv", PAYLOAD_LV, T::Bin, check_lv, |a, cx| payload_lv(cx, Dir::Res, a)),
    fetch!("wait_end", ArgSpec::NONE, T::Bool, no_check, |_, cx| wait_end(cx)),
];

const DISTCC: ArgSpec = spec(&[A::Str, A::Int], 1);

fn check_distcc(a: &mut [Arg]) -> Result<(), String> {
    match a.first().and_then(Arg::str) {
        Some(t) if t.len() == 4 => Ok(()),
        _ => Err("token name must be exactly 4 characters".into()),
    }
}

/// `distcc_param(token[,occ])` and `distcc_body(token[,occ])`: walks the distcc
/// request (4-byte token, 8 hex digits of parameter, and for the tokens that carry
/// one, a body of that many bytes) to the `occ`th `token` (the first by default), and
/// gives its parameter or its body (what has come of it so far: a rule matching it
/// does not wait for the rest, as in HAProxy).
fn distcc(cx: &dyn SampleCtx, a: &[Arg], want_body: bool) -> Option<Sample> {
    let token = &a.first()?.str()?.as_bytes()[..4];
    let occ = a.get(1).and_then(Arg::int).unwrap_or(0);
    let d = data(cx, Dir::Req)?;
    let (b, mut ofs, mut seen) = (d.bytes, 0usize, 0i64);
    loop {
        let Some(head) = b.get(ofs..ofs + 12) else { return short(cx, d) };
        let param = std::str::from_utf8(&head[4..]).ok().and_then(|h| u32::from_str_radix(h, 16).ok().filter(|_| h.bytes().all(|c| c.is_ascii_hexdigit())))?;
        ofs += 12;
        let bodiless = matches!(&head[..4], b"ARGC" | b"DIST" | b"NFIL" | b"STAT" | b"DONE");
        let body = if bodiless { 0 } else { param as usize };
        if &head[..4] == token {
            seen += 1;
            if occ == 0 || occ == seen {
                if !want_body {
                    return Some(Sample::Sint(i64::from(param)));
                }
                // A body not all there yet gives its part so far, as HAProxy's.
                let end = ofs + body;
                if end > b.len() && !d.last {
                    cx.may_change();
                }
                return Some(Sample::Bin(b[ofs.min(b.len())..end.min(b.len())].to_vec()));
            }
        }
        ofs += body;
    }
}

/// The fetch named `name`.
pub fn lookup(name: &str) -> Option<&'static Fetch> {
    FETCHES.iter().find(|f| f.name == name)
}

/// The channel's bytes; `None` (and nothing to wait for) without a raw buffer.
fn data<'c>(cx: &'c dyn SampleCtx, dir: Dir) -> Option<ChannelData<'c>> {
    cx.channel_data(dir)
}

/// A fetch that lacks data: it fails, and says whether more may still come.
fn short(cx: &dyn SampleCtx, d: ChannelData<'_>) -> Option<Sample> {
    if !d.last {
        cx.may_change();
    }
    None
}

/// `res.len`: the bytes waiting; a value that grows until the data is final.
fn len(cx: &dyn SampleCtx, dir: Dir) -> Option<Sample> {
    let d = data(cx, dir)?;
    if !d.last {
        cx.may_change();
    }
    Some(Sample::Sint(d.bytes.len() as i64))
}

/// `req.len`: the raw bytes in TCP mode; in HTTP mode, the request head as it would
/// be sent plus the body bytes kept for the rules.
fn req_len(cx: &dyn SampleCtx) -> Option<Sample> {
    if cx.channel_data(Dir::Req).is_some() {
        return len(cx, Dir::Req);
    }
    let mut head = Vec::new();
    cx.http_req()?.write_head(&mut head);
    let body = cx.http_txn().map_or(0, |t| t.req_body.len());
    Some(Sample::Sint((head.len() + body) as i64))
}

/// `req.payload(<offset>,<length>)`: `length` bytes at `offset`; a length of 0 takes
/// every byte from `offset` on.
fn payload(cx: &dyn SampleCtx, dir: Dir, a: &[Arg]) -> Option<Sample> {
    let d = data(cx, dir)?;
    let off = usize::try_from(a.first()?.int()?).ok()?;
    let n = usize::try_from(a.get(1)?.int()?).ok()?;
    let end = if n == 0 { d.bytes.len() } else { off.checked_add(n)? };
    if end > d.bytes.len() || (n == 0 && off >= d.bytes.len()) {
        return short(cx, d);
    }
    Some(Sample::Bin(d.bytes[off..end].to_vec()))
}

/// `payload_lv` checks: a length field of at least one byte, and an `offset2` that is
/// a number (absolute, or relative to the end of the length field with a sign).
fn check_lv(a: &mut [Arg]) -> Result<(), String> {
    if a.get(1).and_then(Arg::int).is_some_and(|n| n <= 0) {
        return Err("payload length must be > 0".into());
    }
    if let Some(s) = a.get(2).and_then(Arg::str) {
        let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err("payload offset2 is not a number".into());
        }
    }
    Ok(())
}

/// `req.payload_lv(<offset1>,<length>[,<offset2>])`: a big-endian length of
/// `length` bytes at `offset1`, then that many bytes at `offset2` (by default right
/// after the length field; `+n`/`-n` counts from there, a bare number from the start).
fn payload_lv(cx: &dyn SampleCtx, dir: Dir, a: &[Arg]) -> Option<Sample> {
    let d = data(cx, dir)?;
    let len_off = usize::try_from(a.first()?.int()?).ok()?;
    let len_size = usize::try_from(a.get(1)?.int()?).ok()?;
    let len_end = len_off.checked_add(len_size)?;
    let Some(field) = d.bytes.get(len_off..len_end) else { return short(cx, d) };
    let size = field.iter().try_fold(0u64, |acc, &b| acc.checked_mul(256).map(|v| v + b as u64))?;
    let start = match a.get(2).and_then(Arg::str) {
        None => len_end as i64,
        Some(s) if s.starts_with(['+', '-']) => len_end as i64 + s.parse::<i64>().ok()?,
        Some(s) => s.parse::<i64>().ok()?,
    };
    let start = usize::try_from(start).ok()?;
    let end = start.checked_add(usize::try_from(size).ok()?)?;
    if end > d.bytes.len() {
        return short(cx, d);
    }
    Some(Sample::Bin(d.bytes[start..end].to_vec()))
}

/// `req.proto_http`: the bytes start with a complete, valid HTTP/1 request head (in
/// HTTP mode: there is a parsed request). A head still incomplete may change.
fn proto_http(cx: &dyn SampleCtx) -> Option<Sample> {
    let Some(d) = data(cx, Dir::Req) else { return Some(Sample::Bool(cx.http_req().is_some())) };
    // A method is a token: anything else (a TLS hello ...) is not HTTP, however short.
    if d.bytes.first().is_some_and(|&b| !(b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))) {
        return Some(Sample::Bool(false));
    }
    let mut parser = crate::http::h1::RequestParser::new(Default::default());
    match parser.parse(d.bytes) {
        Ok(crate::http::h1::Status::Complete(..)) => Some(Sample::Bool(true)),
        Ok(crate::http::h1::Status::Partial) if !d.last => short(cx, d),
        _ => Some(Sample::Bool(false)),
    }
}

/// The RDP cookie the argument names (the first cookie without one) in the client's
/// first bytes, see [`crate::backend::rdp::cookie`]; a line cut short may change.
fn rdp_cookie(cx: &dyn SampleCtx, a: &[Arg]) -> Option<Sample> {
    use crate::backend::rdp::{cookie, Cookie};
    let d = data(cx, Dir::Req)?;
    match cookie(d.bytes, a.first().and_then(Arg::str).map(str::as_bytes)) {
        Cookie::Found(v) => Some(Sample::Str(v.to_vec())),
        Cookie::Absent => None,
        Cookie::TooShort => short(cx, d),
    }
}

/// `rdp_cookie_cnt`: 1 when the cookie is there, 0 when it is not, nothing while it
/// may still come.
fn rdp_cookie_cnt(cx: &dyn SampleCtx, a: &[Arg]) -> Option<Sample> {
    use crate::backend::rdp::{cookie, Cookie};
    let d = data(cx, Dir::Req)?;
    match cookie(d.bytes, a.first().and_then(Arg::str).map(str::as_bytes)) {
        Cookie::Found(_) => Some(Sample::Sint(1)),
        Cookie::Absent => Some(Sample::Sint(0)),
        Cookie::TooShort if d.last => Some(Sample::Sint(0)),
        Cookie::TooShort => short(cx, d),
    }
}

/// `wait_end`: true once the rules run for the last time (the inspect delay expired,
/// the buffer is full or the client closed), nothing before, so a rule using it waits
/// until then. Where the rules run once (HTTP mode, no raw buffer) it is true at once.
fn wait_end(cx: &dyn SampleCtx) -> Option<Sample> {
    match cx.channel_data(Dir::Req) {
        Some(d) if !d.last => short(cx, d),
        _ => Some(Sample::Bool(true)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample::Expr;
    use std::cell::Cell;

    struct Bytes {
        data: Vec<u8>,
        last: bool,
        missed: Cell<bool>,
    }

    impl SampleCtx for Bytes {
        fn channel_data(&self, _dir: Dir) -> Option<ChannelData<'_>> {
            Some(ChannelData { bytes: &self.data, last: self.last })
        }
        fn may_change(&self) {
            self.missed.set(true);
        }
    }

    /// The sample as hex (or its integer), and whether the fetch asked to wait.
    fn eval(expr: &str, data: &[u8], last: bool) -> (Option<String>, bool) {
        let cx = Bytes { data: data.to_vec(), last, missed: Cell::new(false) };
        let v = Expr::parse(expr).unwrap().eval(&cx).map(|s| match s {
            Sample::Bin(b) | Sample::Str(b) => String::from_utf8_lossy(&b).into_owned(),
            other => format!("{:?}", other.to_int()),
        });
        (v, cx.missed.get())
    }

    #[test]
    fn distcc_tokens_params_and_bodies() {
        let msg = b"DIST00000001ARGC00000002ARGV00000005helloARGV00000003abcDOTI00000004ab";
        assert_eq!(eval("distcc_param(ARGC)", msg, false), (Some("Some(2)".into()), false));
        assert_eq!(eval("distcc_body(ARGV)", msg, false), (Some("hello".into()), false));
        assert_eq!(eval("distcc_body(ARGV,2)", msg, false), (Some("abc".into()), false));
        assert_eq!(eval("distcc_param(ARGV,2)", msg, false), (Some("Some(3)".into()), false));
        // A body not all there: its part so far, and more may come.
        assert_eq!(eval("distcc_body(DOTI)", msg, false), (Some("ab".into()), true));
        assert_eq!(eval("distcc_body(DOTI)", msg, true), (Some("ab".into()), false));
        // A token not there yet: nothing, and wait.
        assert_eq!(eval("distcc_param(DONE)", msg, false), (None, true));
        assert_eq!(eval("distcc_param(ARGV,3)", msg, true), (None, false));
        assert_eq!(eval("distcc_param(DIST)", b"DIST0000000x", true), (None, false), "bad hex");
        assert!(Expr::parse("distcc_param(AB)").is_err());
    }

    #[test]
    fn wait_end_waits_for_the_inspection_to_end() {
        assert_eq!(eval("wait_end", b"", false), (None, true));
        assert_eq!(eval("wait_end", b"", true), (Some("Some(1)".into()), false));
    }

    #[test]
    fn payload_waits_for_missing_bytes_until_the_data_is_final() {
        assert_eq!(eval("req.payload(0,4)", b"PING!", false), (Some("PING".into()), false));
        assert_eq!(eval("req.payload(2,4)", b"PING", false), (None, true));
        assert_eq!(eval("req.payload(2,4)", b"PING", true), (None, false));
        assert_eq!(eval("req.payload(1,0)", b"PING", false), (Some("ING".into()), false));
        assert_eq!(eval("payload(0,1)", b"", false), (None, true));
        assert_eq!(eval("req.len", b"abc", false), (Some("Some(3)".into()), true));
        assert_eq!(eval("res.len", b"abc", true), (Some("Some(3)".into()), false));
    }

    #[test]
    fn rdp_cookies_wait_for_the_line() {
        let p = b"\x03\x00\x00\x2a\x25\xe0\x00\x00\x00\x00\x00Cookie: mstshash=bob\r\n\x01";
        assert_eq!(eval("req.rdp_cookie", p, false), (Some("bob".into()), false));
        assert_eq!(eval("rdp_cookie(mstshash)", p, false), (Some("bob".into()), false));
        assert_eq!(eval("req.rdp_cookie(msts)", p, false), (None, false));
        assert_eq!(eval("req.rdp_cookie_cnt", p, false), (Some("Some(1)".into()), false));
        assert_eq!(eval("rdp_cookie_cnt(msts)", p, false), (Some("Some(0)".into()), false));
        assert_eq!(eval("req.rdp_cookie_cnt", &p[..20], false), (None, true));
        assert_eq!(eval("req.rdp_cookie_cnt", &p[..20], true), (Some("Some(0)".into()), false));
        assert_eq!(eval("req.rdp_cookie", &p[..20], false), (None, true));
    }

    #[test]
    fn wait_end_holds_once_the_data_is_final() {
        assert_eq!(eval("wait_end", b"x", false), (None, true));
        assert_eq!(eval("wait_end", b"x", true), (Some("Some(1)".into()), false));
    }

    #[test]
    fn length_value_payloads() {
        assert_eq!(eval("req.payload_lv(0,1)", b"\x03abcd", true).0.as_deref(), Some("abc"));
        assert_eq!(eval("req.payload_lv(1,2)", b"x\x00\x02ab", true).0.as_deref(), Some("ab"));
        assert_eq!(eval("req.payload_lv(0,1,+1)", b"\x02xab", true).0.as_deref(), Some("ab"));
        assert_eq!(eval("req.payload_lv(0,1,4)", b"\x02xyzab", true).0.as_deref(), Some("ab"));
        assert_eq!(eval("req.payload_lv(0,1)", b"\x05ab", false), (None, true));
        assert_eq!(eval("req.payload_lv(0,2)", b"\x05", false), (None, true));
        assert!(Expr::parse("req.payload_lv(0,0)").unwrap_err().to_string().contains("payload length must be > 0"));
        assert!(Expr::parse("req.payload_lv(0,2,x)").unwrap_err().to_string().contains("payload offset2 is not a number"));
    }

    #[test]
    fn http_detection_on_raw_bytes() {
        assert_eq!(eval("req.proto_http", b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", false).0.as_deref(), Some("Some(1)"));
        assert_eq!(eval("req.proto_http", b"GET / HT", false), (None, true));
        assert_eq!(eval("req.proto_http", b"GET / HT", true).0.as_deref(), Some("Some(0)"));
        assert_eq!(eval("req.proto_http", b"\x16\x03\x01", false).0.as_deref(), Some("Some(0)"));
    }
}
