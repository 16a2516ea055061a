//! `show stat json` and the page's `;json`: HAProxy 2.6's typed JSON shape, an array
//! of rows, each an array of its non-empty fields:
//! `{"objType":"Server","proxyId":3,"id":1,"field":{"pos":4,"name":"scur"},
//! "processNum":1,"value":{"type":"u32","value":0}}`.
//! HAProxy adds a `tags` object (origin, nature, scope) to each field; moonproxy does
//! not yet (doc/stats.md).

use super::fields::{self, NAMES};
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
    let num = |v: &Value| match v {
        Value::U32(n) => u64::from(*n),
        _ => 0,
    };
    let (iid, sid) = (num(r.get(fields::IID)), num(r.get(fields::SID)));
    out.push('[');
    let mut first = true;
    for (pos, v) in r.values.iter().enumerate() {
        let (ty, val) = match v {
            Value::Empty => continue,
            Value::U32(n) => ("u32", n.to_string()),
            Value::U64(n) => ("u64", n.to_string()),
            Value::S32(n) => ("s32", n.to_string()),
            Value::Str(s) => ("str", quote(s)),
        };
        if !first {
            out.push(',');
        }
        first = false;
        let _ = write!(
            out,
            "{{\"objType\":\"{obj}\",\"proxyId\":{iid},\"id\":{sid},\"field\":{{\"pos\":{pos},\"name\":{}}},\
             \"processNum\":1,\"value\":{{\"type\":\"{ty}\",\"value\":{val}}}}}",
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
