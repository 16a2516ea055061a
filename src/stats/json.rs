//! `show stat json` and the page's `;json`: HAProxy 2.6's typed JSON, an array of
//! rows, each an array of its non-empty fields:
//! `{"objType":"Server","proxyId":3,"id":1,"field":{"pos":4,"name":"scur"},
//! "processNum":1,"tags":{"origin":"Metric","nature":"Gauge","scope":"Process"},
//! "value":{"type":"u32","value":0}}` (tags and types from [`super::typed`]).

use super::fields::NAMES;
use super::typed;
use super::snapshot::{Row, RowKind, Value};
use std::fmt::Write;

/// Appends the rows as one JSON document.
pub fn write(out: &mut String, rows: &[Row]) {
    out.push('[');
    for (i, r) in rows.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_row(out, r);
    }
    out.push_str("]\n");
}

fn write_row(out: &mut String, r: &Row) {
    let obj = match r.kind {
        RowKind::Frontend => "Frontend",
        RowKind::Backend => "Backend",
        RowKind::Server => "Server",
    };
    let (_, iid, sid) = typed::row_key(r);
    out.push('[');
    let mut first = true;
    for (pos, v) in r.values.iter().enumerate() {
        let Some(at) = typed::typed_pos(pos) else { continue };
        let val = match v {
            Value::Empty => continue,
            Value::U32(n) => n.to_string(),
            Value::U64(n) => n.to_string(),
            Value::S32(n) => n.to_string(),
            Value::Str(s) => quote(s),
        };
        let (tags, ty) = typed::meta(r.kind, pos, v);
        let (origin, nature, scope) = typed::tag_names(tags);
        if !first {
            out.push(',');
        }
        first = false;
        let _ = write!(
            out,
            "{{\"objType\":\"{obj}\",\"proxyId\":{iid},\"id\":{sid},\"field\":{{\"pos\":{at},\"name\":{}}},\
             \"processNum\":1,\"tags\":{{\"origin\":\"{origin}\",\"nature\":\"{nature}\",\"scope\":\"{scope}\"}},\
             \"value\":{{\"type\":\"{ty}\",\"value\":{val}}}}}",
            quote(NAMES[pos])
        );
    }
    out.push(']');
}

/// A JSON string literal.
fn quote(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + 2);
    o.push('"');
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(o, "\\u{:04x}", c as u32);
            }
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(quote("a\"b\\c\n"), "\"a\\\"b\\\\c\\u000a\"");
    }
}
