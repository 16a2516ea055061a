//! Converters that read or write the proxy rather than the sample: `nbsrv` (the usable
//! servers of the backend the input names), `srv_queue` (the queue of the server it
//! names), `capture-req`/`capture-res` (store the input in a capture slot) and `debug`
//! (prints the sample and passes it on).

use super::args::{Arg, ArgType as A};
use super::conv::{self, no_check, spec, Conv};
use super::{Sample, SampleCtx, SampleType as T};
use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, Ordering};

pub static CONVERTERS: &[Conv] = &[
    Conv::new("nbsrv", spec(&[], 0), T::Str, T::Sint, no_check, |s, _, cx| {
        let name = String::from_utf8(conv::bytes(s)?).ok()?;
        // An unknown name (or a frontend's) gives no sample, as in HAProxy.
        Some(Sample::Sint(cx.nbsrv(Some(&name))?))
    }),
    // `<backend>/<server>` (or a server of the current backend): its queued streams.
    Conv::new("srv_queue", spec(&[], 0), T::Str, T::Sint, no_check, |s, _, cx| {
        let name = String::from_utf8(conv::bytes(s)?).ok()?;
        Some(Sample::Sint(super::fetch_proxy::server_queue(&name, cx)?))
    }),
    Conv::new("capture-req", spec(&[A::Int], 1), T::Str, T::Str, note_capture_used, |s, a, cx| capture(s, a, cx, false)),
    Conv::new("capture-res", spec(&[A::Int], 1), T::Str, T::Str, note_capture_used, |s, a, cx| capture(s, a, cx, true)),
    Conv::new("debug", spec(&[A::Str, A::Str], 0), T::Any, T::Any, check_debug, run_debug),
];

/// `capture-req(<id>)` / `capture-res(<id>)`: the input, cut to the slot's declared
/// length, goes into capture slot `<id>` of the frontend (its `capture request|response
/// header` and `declare capture` lines, in order: `%hr`/`%hs`, `capture.req.hdr(<id>)`),
/// and passes on unchanged. A slot the frontend does not declare (a negative one too),
/// or a context without a transaction, makes the converter fail, as in HAProxy.
fn capture(s: Sample, a: &[Arg], cx: &dyn SampleCtx, response: bool) -> Option<Sample> {
    let slot = usize::try_from(a.first()?.int()?).ok()?;
    let len = super::fetch_proxy::capture_len(cx.frontend_name()?, response, slot)?;
    let value = match &s {
        Sample::Str(b) | Sample::Bin(b) | Sample::Meth(b) => b,
        _ => return None,
    };
    cx.set_capture(response, slot, &value[..value.len().min(len)]).then_some(s)
}

/// Whether some expression of the configuration uses `capture-req`/`capture-res`: until
/// then, the rule runner's [`apply_captures`] after each rule costs one load (it runs
/// after every rule of every request).
static CAPTURE_USED: AtomicBool = AtomicBool::new(false);

/// The converters' argument check: notes that captures may be pending after a rule.
fn note_capture_used(_: &mut [Arg]) -> Result<(), String> {
    CAPTURE_USED.store(true, Ordering::Relaxed);
    Ok(())
}

thread_local! {
    /// Captures made by converters during a rule, stored by the rule runner once the
    /// transaction may be changed ([`apply_captures`]).
    static PENDING: RefCell<Vec<(bool, usize, Vec<u8>)>> = const { RefCell::new(Vec::new()) };
}

/// Records a converter's capture for [`apply_captures`]; always true.
pub fn record_capture(response: bool, slot: usize, value: &[u8]) -> bool {
    CAPTURE_USED.store(true, Ordering::Relaxed);
    PENDING.with(|p| p.borrow_mut().push((response, slot, value.to_vec())));
    true
}

/// Stores the captures recorded since the last call into the transaction's slots.
#[inline]
pub fn apply_captures(req: &mut Vec<Option<Vec<u8>>>, res: &mut Vec<Option<Vec<u8>>>) {
    if CAPTURE_USED.load(Ordering::Relaxed) {
        drain_captures(req, res);
    }
}

fn drain_captures(req: &mut Vec<Option<Vec<u8>>>, res: &mut Vec<Option<Vec<u8>>>) {
    PENDING.with(|p| {
        for (response, slot, value) in p.borrow_mut().drain(..) {
            let slots = if response { &mut *res } else { &mut *req };
            if slots.len() <= slot {
                slots.resize(slot + 1, None);
            }
            slots[slot] = Some(value);
        }
    });
}

/// The sinks HAProxy 2.6 always has; `ring` sections are not supported yet.
const SINKS: &[&str] = &["buf0", "stdout", "stderr"];

fn check_debug(a: &mut [Arg]) -> Result<(), String> {
    match a.get(1).and_then(Arg::str) {
        Some(sink) if !SINKS.contains(&sink) => Err(format!("No such sink '{sink}'")),
        _ => Ok(()),
    }
}

/// HAProxy writes `[debug] <prefix>: type=<type> <value>` to the sink (`buf0`, a
/// memory ring, by default). moonproxy writes the same line to stdout or stderr when
/// named, and as an `info` log record for `buf0` (there is no ring to read it from).
fn run_debug(s: Sample, a: &[Arg], _: &dyn SampleCtx) -> Option<Sample> {
    let prefix = a.first().and_then(Arg::str).unwrap_or("");
    let line = debug_line(prefix, &s);
    match a.get(1).and_then(Arg::str).unwrap_or("buf0") {
        "stdout" => println!("{line}"),
        "stderr" => eprintln!("{line}"),
        _ => log::info!("{line}"),
    }
    Some(s)
}

/// The line `debug` prints: non-printable bytes of the value as `.`.
pub fn debug_line(prefix: &str, s: &Sample) -> String {
    let value: String = match s.clone().cast(T::Str).and_then(Sample::into_bytes) {
        Some(b) => b.iter().map(|&c| if (0x20..0x7f).contains(&c) { c as char } else { '.' }).collect(),
        None => String::new(),
    };
    format!("[debug] {prefix}: type={} <{value}>", s.ty().name())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample::{Expr, TestCtx};

    #[test]
    fn debug_lines_and_sinks() {
        assert_eq!(debug_line("pfx", &Sample::str("a\tb")), "[debug] pfx: type=str <a.b>");
        assert_eq!(debug_line("", &Sample::Sint(12)), "[debug] : type=sint <12>");
        assert_eq!(
            Expr::parse("str(a),debug(x,nope)").unwrap_err().to_string(),
            "invalid args in converter 'debug' : No such sink 'nope'"
        );
        let cx = TestCtx { nbsrv: Some(2), ..TestCtx::default() };
        assert_eq!(Expr::parse("str(be),nbsrv").unwrap().eval(&cx), Some(Sample::Sint(2)));
        assert_eq!(Expr::parse("int(7),debug(x,buf0)").unwrap().eval(&cx), Some(Sample::Sint(7)));
    }
}
