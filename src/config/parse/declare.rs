//! `declare capture request|response len <n>` (frontends): a capture slot no header
//! fills, for `http-request capture <sample> id <n>` and `http-response capture
//! <sample> id <n>` to write to. Slots are numbered in declaration order together
//! with the `capture request|response header` lines, as in HAProxy, and show in
//! `%hr`/`%hs` and `capture.req.hdr(n)`/`capture.res.hdr(n)`.

use super::{Line, Parser};
use crate::config::diagnostic::Diagnostic;
use crate::config::model::{CaptureHeader, HttpRuleList, Proxy};
use crate::diag::Severity;

/// `declare capture request|response len <n>`. A declared slot is a
/// [`CaptureHeader`] with an empty name (no field line has one).
pub fn declare(p: &mut Parser, l: &Line) -> Result<(), String> {
    // Every section reaches here, to be refused with HAProxy's messages.
    if matches!(p.current, super::Current::Defaults(..)) {
        return Err("'declare' not available in default section".into());
    }
    if !p.draft().proxy.cap.frontend {
        return Err("'declare' only available in frontend or listen section".into());
    }
    if l.arg(1) != "capture" {
        return Err(format!("unknown declaration type '{}' (supports 'capture')", l.arg(1)));
    }
    let dir = l.arg(2);
    if dir != "request" && dir != "response" {
        return Err("'declare capture' requires a direction ('request' or 'response')".into());
    }
    if l.arg(3) != "len" {
        return Err("'declare capture' requires a capture length ('len')".into());
    }
    // HAProxy 2.6 names the `len` word, not the value, in this message.
    let len = match l.arg(4).parse::<usize>() {
        Ok(n) if n > 0 => n,
        _ => return Err("'declare capture': cannot parse the length 'len'.".into()),
    };
    let decl = CaptureHeader { name: String::new(), len, location: l.loc.clone() };
    let proxy = &mut p.draft().proxy;
    if dir == "request" {
        proxy.req_captures.push(decl);
    } else {
        proxy.res_captures.push(decl);
    }
    Ok(())
}

/// HAProxy's check of the `capture ... id <n>` rules of `proxy`: the slot must exist
/// (declared by `capture ... header` or `declare capture` in the same proxy).
pub fn check_capture_ids(proxy: &Proxy) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for r in &proxy.http_rules {
        let (Some("capture"), Some("id"), Some(id)) =
            (r.action.first().map(String::as_str), r.action.get(2).map(String::as_str), r.action.get(3))
        else {
            continue;
        };
        let (slots, what) = match r.list {
            HttpRuleList::Request => (proxy.req_captures.len(), "http-request"),
            HttpRuleList::Response => (proxy.res_captures.len(), "http-response"),
            HttpRuleList::AfterResponse => (proxy.res_captures.len(), "http-after-response"),
        };
        if id.parse::<usize>().map_or(true, |n| n >= slots) {
            let msg = format!("Proxy '{}': unable to find capture id '{id}' referenced by {what} capture rule.", proxy.name);
            out.push(Diagnostic::plain(Severity::Alert, None, msg));
        }
    }
    out
}

/// The length of each capture slot of a proxy (requests, responses): what an
/// `id <n>` capture is cut to.
pub fn slot_lens(proxy: &Proxy) -> (Vec<usize>, Vec<usize>) {
    let lens = |c: &[CaptureHeader]| c.iter().map(|d| d.len).collect();
    (lens(&proxy.req_captures), lens(&proxy.res_captures))
}
