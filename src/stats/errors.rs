//! `show errors`: the last invalid request of each frontend and the last invalid
//! response of each backend, captured with the offending bytes and the position of the
//! error, as HAProxy 2.6 keeps and prints them.
//!
//! The capture hook ([`capture`]) runs only when the HTTP parser refuses a head: it
//! copies the bytes received so far (at most one buffer) into a per-thread table that
//! keeps one capture per proxy and direction, and counts the event. Nothing is done on
//! the success path.

use std::cell::RefCell;
use std::fmt::Write;
use std::net::SocketAddr;
use std::time::SystemTime;

/// Which side was invalid.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// A request, kept by its frontend.
    Request,
    /// A response, kept by its backend.
    Response,
}

/// What the stream knows when its parser refuses a head.
#[derive(Clone, Debug)]
pub struct Capture {
    pub side: Side,
    /// The proxy keeping it (the frontend for a request, the backend for a response),
    /// and the one on the other side, if any (indexes in the proxy table).
    pub proxy: usize,
    pub other: Option<usize>,
    /// The server that sent an invalid response: its name and `puid`.
    pub server: Option<(String, u32)>,
    pub src: Option<SocketAddr>,
    /// The bytes received (at most a buffer) and the offset of the error in them.
    pub bytes: Vec<u8>,
    pub error_at: usize,
    /// The stream's buffer size (`free` is printed from it).
    pub bufsize: usize,
}

struct Kept {
    capture: Capture,
    when: SystemTime,
    event: u64,
}

#[derive(Default)]
struct Errors {
    /// Events captured since start (HAProxy's global error counter).
    total: u64,
    kept: Vec<Kept>,
}

thread_local! {
    static ERRORS: RefCell<Errors> = RefCell::new(Errors::default());
}

/// Keeps `c` as the last error of its proxy and side (the error path only).
pub fn capture(mut c: Capture) {
    c.bytes.truncate(c.bufsize.max(1));
    ERRORS.with(|e| {
        let mut e = e.borrow_mut();
        let event = e.total;
        e.total += 1;
        let kept = Kept { capture: c, when: SystemTime::now(), event };
        match e.kept.iter_mut().find(|k| k.capture.proxy == kept.capture.proxy && k.capture.side == kept.capture.side) {
            Some(slot) => *slot = kept,
            None => e.kept.push(kept),
        }
    });
}

/// `clear counters all` forgets nothing here, as HAProxy; tests reset with this.
#[cfg(test)]
fn reset() {
    ERRORS.with(|e| *e.borrow_mut() = Errors::default());
}

/// A proxy as `show errors` names it.
pub struct Named {
    pub name: String,
    pub uuid: u32,
}

fn date(t: SystemTime) -> String {
    let tm = crate::log::time::breakdown(t, crate::log::time::local_offset(t));
    let mut s = String::new();
    tm.write_log_date_ms(&mut s);
    s
}

/// `show errors [<proxy>] [request|response]`: `proxy` names a proxy index (for
/// each capture); `only_proxy` keeps the captures of that proxy or whose other side it
/// is (a frontend shows the invalid responses its streams received, as HAProxy).
pub fn show(proxy: &dyn Fn(usize) -> Option<Named>, only_proxy: Option<usize>, only_side: Option<Side>) -> String {
    ERRORS.with(|e| {
        let e = e.borrow();
        let mut out = format!("Total events captured on [{}] : {}\n", date(SystemTime::now()), e.total);
        let mut kept: Vec<&Kept> = e
            .kept
            .iter()
            .filter(|k| only_proxy.is_none_or(|p| p == k.capture.proxy || Some(p) == k.capture.other))
            .filter(|k| only_side.is_none_or(|s| s == k.capture.side))
            .collect();
        // Proxy by proxy in declaration order, the request before the response.
        kept.sort_by_key(|k| (k.capture.proxy, k.capture.side == Side::Response));
        for k in kept {
            write_one(&mut out, k, proxy);
        }
        out
    })
}

fn write_one(out: &mut String, k: &Kept, proxy: &dyn Fn(usize) -> Option<Named>) {
    let c = &k.capture;
    let named = |i: Option<usize>| i.and_then(proxy).map_or(("<NONE>".to_string(), -1i64), |n| (n.name, i64::from(n.uuid)));
    let (name, id) = named(Some(c.proxy));
    let (other, other_id) = named(c.other);
    let (server, server_id) = c.server.as_ref().map_or(("<NONE>".to_string(), -1i64), |(n, id)| (n.clone(), i64::from(*id)));
    let src = c.src.map_or("unix".to_string(), |a| a.to_string());
    let (kind, what, other_kind) = match c.side {
        Side::Request => ("frontend", "request", "backend"),
        Side::Response => ("backend", "response", "frontend"),
    };
    let _ = write!(
        out,
        " \n[{}] {kind} {name} (#{id}): invalid {what}\n  {other_kind} {other} (#{other_id}), server {server} (#{server_id}), event #{}, src {src}\n  \
         buffer starts at 0 (including 0 out), {} free,\n  len {}, wraps at {}, error at position {}\n  \n",
        date(k.when),
        k.event,
        c.bufsize.saturating_sub(c.bytes.len()),
        c.bytes.len(),
        c.bufsize,
        c.error_at
    );
    dump(out, &c.bytes);
}

/// The bytes as HAProxy dumps them: one line per received line (or per 64 bytes), each
/// with its offset (`+` when it continues a longer line), `\r`, `\n`, `\t`, `\\` and
/// non-printable bytes escaped.
fn dump(out: &mut String, bytes: &[u8]) {
    const WIDTH: usize = 64;
    let mut pos = 0;
    let mut continued = false;
    while pos < bytes.len() {
        let _ = write!(out, "  {pos:05}{} ", if continued { '+' } else { ' ' });
        let start = pos;
        continued = true;
        while pos < bytes.len() && pos - start < WIDTH {
            let b = bytes[pos];
            pos += 1;
            match b {
                b'\n' => {
                    out.push_str("\\n");
                    continued = false;
                    break;
                }
                b'\r' => out.push_str("\\r"),
                b'\t' => out.push_str("\\t"),
                b'\\' => out.push_str("\\\\"),
                0x20..=0x7e => out.push(b as char),
                _ => {
                    let _ = write!(out, "\\x{b:02x}");
                }
            }
        }
        out.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dump_escapes_and_breaks_lines() {
        let mut out = String::new();
        dump(&mut out, b"GET / HTTP/1.1\r\nHost: x\r\nBad\x01\\Header\r\n\r\n");
        assert_eq!(out, "  00000  GET / HTTP/1.1\\r\\n\n  00016  Host: x\\r\\n\n  00025  Bad\\x01\\\\Header\\r\\n\n  00038  \\r\\n\n");
        let mut out = String::new();
        dump(&mut out, &[b'a'; 70]);
        assert!(out.contains("\n  00064+ aaaaaa\n"), "{out}");
    }

    #[test]
    fn one_capture_per_proxy_and_side() {
        reset();
        let c = |proxy, side, b: &[u8]| Capture {
            side,
            proxy,
            other: None,
            server: None,
            src: None,
            bytes: b.to_vec(),
            error_at: 1,
            bufsize: 100,
        };
        capture(c(1, Side::Request, b"a"));
        capture(c(1, Side::Request, b"bb"));
        capture(c(0, Side::Response, b"c"));
        let names = |i: usize| Some(Named { name: ["be", "fe"][i].to_string(), uuid: i as u32 + 2 });
        let all = show(&names, None, None);
        assert!(all.contains("] : 3\n"), "{all}");
        assert_eq!(all.matches("invalid").count(), 2, "{all}");
        assert!(all.find("backend be (#2): invalid response") < all.find("frontend fe (#3): invalid request"));
        assert!(all.contains("event #1, src unix\n") && all.contains("len 2, wraps at 100, error at position 1"), "{all}");
        assert_eq!(show(&names, None, Some(Side::Request)).matches("invalid").count(), 1);
        assert_eq!(show(&names, Some(0), None).matches("invalid response").count(), 1);
        assert_eq!(show(&names, Some(1), None).matches("invalid").count(), 1);
    }
}
