//! The log-format strings of rule actions (`set-header` values, `return lf-string`,
//! `set-var-fmt`, `redirect location` ...): literal text, `%[expr]` sample expressions,
//! `%%`, and every `%` variable HAProxy 2.6 accepts in a log-format (`%ci`, `%Ts`,
//! `%Tr`, `%ts`, `%hr` ...), with the `%{+Q}`, `%{+X}` and `%{+E}` flags and `%o`.
//!
//! Variables render with the log module's [`render_var`], on the record of the stream
//! as it stands when the rule runs ([`crate::http::live::record`]): a timer not reached
//! yet prints -1, the termination state `--`, `%Tt`, `%B` and `%U` 0, as HAProxy
//! prints them at that point. Two differences from log lines, as in HAProxy: a value
//! that is not known prints nothing (`""` with `+Q`) rather than `-`, and spaces are
//! kept as written.
//!
//! A sample that finds nothing renders as nothing, even with `+Q`. Control characters (but tab) and
//! DEL in a sample are written `%XX`: a sample can never put a CR or LF in a header.

#[cfg(doc)]
use super::RuleCtx;
use crate::log::format::{apply_flags, render_var, RenderEnv, Var, VarFlags};
use crate::log::StreamLog;
use crate::sample::{Expr, SampleCtx};

#[derive(Clone, Debug)]
enum Part {
    Lit(Vec<u8>),
    Sample { expr: Expr, flags: VarFlags },
    Var { var: Var, flags: VarFlags },
}

/// Set once a format printing a `%` variable is compiled. Only such formats read the
/// stream's live facts ([`crate::http::live`]); until one exists, streams skip taking
/// that snapshot before each rule list (it cost about 900 instructions per proxied
/// request). Compilation happens before any stream runs; the flag is never cleared.
static VARS_COMPILED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Whether some compiled format prints a `%` variable (see [`VARS_COMPILED`]).
pub fn vars_compiled() -> bool {
    VARS_COMPILED.load(std::sync::atomic::Ordering::Relaxed)
}

/// A compiled log-format string.
#[derive(Clone, Debug, Default)]
pub struct Fmt {
    parts: Vec<Part>,
}

impl Fmt {
    /// Compiles `text`; errors read as HAProxy's.
    pub fn parse(text: &str) -> Result<Fmt, String> {
        let b = text.as_bytes();
        let mut parts = Vec::new();
        let mut lit = Vec::new();
        // `%{...}o` makes its flags the default of the following items.
        let base = VarFlags { blank_absent: true, ..VarFlags::default() };
        let mut defaults = base;
        let mut i = 0;
        while i < b.len() {
            if b[i] != b'%' {
                lit.push(b[i]);
                i += 1;
                continue;
            }
            i += 1;
            if b.get(i) == Some(&b'%') {
                lit.push(b'%');
                i += 1;
                continue;
            }
            let mut flags = defaults;
            if b.get(i) == Some(&b'{') {
                let end = text[i..].find('}').ok_or("missing '}' after '%{'")? + i;
                apply_flags(&mut flags, &text[i + 1..end]);
                i = end + 1;
            }
            if !lit.is_empty() {
                parts.push(Part::Lit(std::mem::take(&mut lit)));
            }
            if b.get(i) == Some(&b'[') {
                let (expr, used) = Expr::parse_prefix(&text[i + 1..]).map_err(|e| {
                    format!("failed to parse sample expression <{}> : {e}", &text[i + 1..])
                })?;
                let end = i + 1 + used;
                if b.get(end) != Some(&b']') {
                    return Err(format!("missing ']' after '{}'", &text[i + 1..end]));
                }
                parts.push(Part::Sample { expr, flags });
                i = end + 1;
                continue;
            }
            // A name is a run of letters and digits, as in log lines (`%Ts%ms`).
            let end = text[i..]
                .find(|c: char| !c.is_ascii_alphanumeric())
                .map_or(text.len(), |n| n + i);
            let name = &text[i..end];
            if name == "o" {
                defaults = flags;
            } else {
                let Some((var, _)) = Var::lookup(name) else {
                    let shown = if name.is_empty() { &text[i..(i + 1).min(text.len())] } else { name };
                    return Err(format!(
                        "no such format variable '{shown}'. If you wanted to emit the '%' character verbatim, you need to use '%%'"
                    ));
                };
                parts.push(Part::Var { var, flags });
                VARS_COMPILED.store(true, std::sync::atomic::Ordering::Relaxed);
                crate::log::format::note_var(var);
            }
            i = end;
        }
        if !lit.is_empty() {
            parts.push(Part::Lit(lit));
        }
        Ok(Fmt { parts })
    }

    /// A format of literal text only.
    pub fn literal(text: &[u8]) -> Fmt {
        Fmt { parts: vec![Part::Lit(text.to_vec())] }
    }

    /// Renders the string for the transaction or connection in `cx`
    /// ([`RuleCtx`] in HTTP rules).
    pub fn render(&self, cx: &dyn SampleCtx) -> Vec<u8> {
        let mut out = Vec::new();
        // Built on the first variable, for all of them.
        let mut rec: Option<StreamLog> = None;
        let mut text = String::new();
        for p in &self.parts {
            match p {
                Part::Lit(l) => out.extend_from_slice(l),
                Part::Sample { expr, flags } => {
                    // Nothing at all (not even `""`) when the sample finds nothing.
                    if let Some(value) = expr.eval_str(cx) {
                        sample_value(&value, *flags, &mut out);
                    }
                }
                Part::Var { var, flags } => {
                    let rec = rec.get_or_insert_with(|| crate::http::live::record(cx));
                    text.clear();
                    render_var(*var, *flags, rec, RenderEnv::process(), &mut text);
                    out.extend_from_slice(text.as_bytes());
                }
            }
        }
        out
    }
}

/// A sample's value: quoted (`+Q`) and escaped (`+E`) as the flags say, control
/// bytes (but tab) and DEL written `%XX`.
fn sample_value(value: &[u8], flags: VarFlags, out: &mut Vec<u8>) {
    if flags.quote {
        out.push(b'"');
    }
    for &b in value {
        if (b < 0x20 && b != b'\t') || b == 0x7f {
            out.extend_from_slice(format!("%{b:02X}").as_bytes());
        } else {
            if flags.escape && matches!(b, b'"' | b'\\' | b']') {
                out.push(b'\\');
            }
            out.push(b);
        }
    }
    if flags.quote {
        out.push(b'"');
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::live::LiveFacts;
    use crate::http::txn::Txn;
    use crate::sample::SampleCtx;
    use std::time::{Duration, SystemTime};

    /// A transaction's context: the request line and the stream's facts only.
    struct Cx(Txn);

    impl SampleCtx for Cx {
        fn frontend_name(&self) -> Option<&str> {
            Some("fe")
        }
        fn http_txn(&self) -> Option<&Txn> {
            Some(&self.0)
        }
        fn now(&self) -> SystemTime {
            SystemTime::UNIX_EPOCH
        }
    }

    fn render(fmt: &str, cx: &Cx) -> String {
        String::from_utf8(Fmt::parse(fmt).unwrap().render(cx)).unwrap()
    }

    #[test]
    fn every_log_format_variable_is_accepted() {
        for v in ["Ts", "ms", "t", "T", "Tl", "tr", "trg", "trl", "pid", "H", "ac", "fc", "bc", "sc", "rc", "sq", "bq", "B", "U", "CC", "CS", "hr", "hrl", "hs", "hsl", "lc", "rt", "ts", "tsc", "Ta", "Tc", "Td", "Th", "Ti", "Tq", "TR", "Tr", "Tt", "Tu", "Tw", "ST", "r", "sslc", "sslv", "bi", "bp", "si", "sp"] {
            assert!(Fmt::parse(&format!("x %{v} y")).is_ok(), "%{v}");
        }
        assert!(Fmt::parse("%Tx").unwrap_err().starts_with("no such format variable 'Tx'"));
    }

    #[test]
    fn variables_print_the_stream_so_far() {
        let live = LiveFacts {
            stream_id: 7,
            // 2026-11-25 20:21:47.258 UTC
            txn_date: Some(SystemTime::UNIX_EPOCH + Duration::from_millis(1_795_638_107_258)),
            t_queue: Some(Duration::ZERO),
            t_connect: Some(Duration::from_millis(3)),
            t_idle: Some(Duration::ZERO),
            t_request: Some(Duration::ZERO),
            t_response: Some(Duration::from_millis(2)),
            retries: 1,
            redispatched: true,
            ..LiveFacts::default()
        };
        let cx = Cx(Txn { live, status: Some(503), ..Txn::default() });
        // Timers as HAProxy prints them mid-stream: `Tt` 0, so `Td` negative.
        assert_eq!(render("%Ts.%ms %Tw/%Tc/%Tr %Tt %Td %rc %rt %ts %ST", &cx), "1795638107.258 0/3/2 0 -5 +1 7 -- 503");
        assert_eq!(render("%{+X}rt %{+Q}b %s", &cx), "0007 \"fe\" <NOSRV>");
        // Unknown values print nothing, `""` quoted; `%o` makes flags stick.
        assert_eq!(render("[%si][%{+Q}CC][%{+Q}o%f %b]", &cx), "[][\"\"][\"fe\" \"fe\"]");
        // Before the stream knows anything: timers -1.
        let fresh = Cx(Txn::default());
        assert_eq!(render("%Tw %Tc %Tr %TR %Tq %ST", &fresh), "-1 -1 -1 -1 -1 -1");
    }
}
