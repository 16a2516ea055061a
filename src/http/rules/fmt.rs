//! The log-format strings of rule actions (`set-header` values, `return lf-string`,
//! `set-var-fmt`, `redirect location` ...): literal text, `%[expr]` sample expressions,
//! `%%`, and the few `%` variables a rule can know (client and frontend addresses,
//! proxy and server names, unique id, the request line's parts).
//!
//! A sample that finds nothing renders as nothing, as HAProxy does in these strings.
//! Control characters (but tab) and DEL in a sample or variable are written `%XX`, as
//! HAProxy's HTTP log-format does: a sample can never put a CR or LF in a header.
//! `%{+Q}` quotes the next item; other `%{...}` flags are accepted and ignored. The
//! log module has the full formatter for log lines; this one only serves rules.

#[cfg(doc)]
use super::RuleCtx;
use crate::sample::{Expr, SampleCtx};

#[derive(Clone, Debug)]
enum Part {
    Lit(Vec<u8>),
    Sample { expr: Expr, quote: bool },
    Var { var: Var, quote: bool },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Var {
    ClientIp,
    ClientPort,
    FrontendIp,
    FrontendPort,
    Frontend,
    Backend,
    Server,
    UniqueId,
    Method,
    Uri,
    Path,
    Query,
    Version,
}

const VARS: &[(&str, Var)] = &[
    ("ci", Var::ClientIp),
    ("cp", Var::ClientPort),
    ("fi", Var::FrontendIp),
    ("fp", Var::FrontendPort),
    ("f", Var::Frontend),
    ("ft", Var::Frontend),
    ("b", Var::Backend),
    ("s", Var::Server),
    ("ID", Var::UniqueId),
    ("HM", Var::Method),
    ("HU", Var::Uri),
    ("HP", Var::Path),
    ("HQ", Var::Query),
    ("HV", Var::Version),
];

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
            let mut quote = false;
            if b.get(i) == Some(&b'{') {
                let end = text[i..].find('}').ok_or("missing '}' after '%{'")? + i;
                quote = text[i + 1..end].split(',').any(|f| f == "+Q");
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
                parts.push(Part::Sample { expr, quote });
                i = end + 1;
                continue;
            }
            let end = text[i..]
                .find(|c: char| !c.is_ascii_alphabetic())
                .map_or(text.len(), |n| n + i);
            let name = &text[i..end];
            // The longest known name that starts here (`%ci%cp`, `%HMx`).
            let Some((n, var)) = VARS
                .iter()
                .filter(|(n, _)| name.starts_with(n))
                .max_by_key(|(n, _)| n.len())
            else {
                let shown = if name.is_empty() { &text[i..(i + 1).min(text.len())] } else { name };
                return Err(format!(
                    "no such format variable '{shown}'. If you wanted to emit the '%' character verbatim, you need to use '%%'"
                ));
            };
            parts.push(Part::Var { var: *var, quote });
            i += n.len();
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
        for p in &self.parts {
            let (value, quote) = match p {
                Part::Lit(l) => {
                    out.extend_from_slice(l);
                    continue;
                }
                Part::Sample { expr, quote } => (expr.eval_str(cx), *quote),
                Part::Var { var, quote } => (var_value(*var, cx), *quote),
            };
            if quote {
                out.push(b'"');
            }
            for &b in value.as_deref().unwrap_or_default() {
                if (b < 0x20 && b != b'\t') || b == 0x7f {
                    out.extend_from_slice(format!("%{b:02X}").as_bytes());
                } else {
                    out.push(b);
                }
            }
            if quote {
                out.push(b'"');
            }
        }
        out
    }
}

fn var_value(v: Var, cx: &dyn SampleCtx) -> Option<Vec<u8>> {
    let s = |x: &str| Some(x.as_bytes().to_vec());
    let req = cx.http_req();
    match v {
        Var::ClientIp => s(&cx.src()?.ip().to_string()),
        Var::ClientPort => s(&cx.src()?.port().to_string()),
        Var::FrontendIp => s(&cx.dst()?.ip().to_string()),
        Var::FrontendPort => s(&cx.dst()?.port().to_string()),
        Var::Frontend => s(cx.frontend_name()?),
        Var::Backend => s(cx.backend_name()?),
        Var::Server => s(cx.server_name()?),
        Var::UniqueId => s(cx.http_txn()?.unique_id.as_deref()?),
        Var::Method => s(req?.line.method.as_str()),
        Var::Uri => s(&req?.line.target),
        Var::Path => s(req?.line.path()),
        Var::Query => {
            let q = req?.line.query()?;
            Some(format!("?{q}").into_bytes())
        }
        Var::Version => s(req?.line.version.as_str()),
    }
}
