//! HAProxy 2.6's `show stat` CSV: a `# pxname,svname,...` header line, then one line
//! per row; every line ends with a comma, as HAProxy writes them.

use super::fields;
use super::snapshot::{Row, Value};
use std::fmt::Write;

/// Appends the header line.
pub fn write_header(out: &mut String) {
    out.push_str("# ");
    for name in fields::NAMES {
        out.push_str(name);
        out.push(',');
    }
    out.push('\n');
}

/// Appends one row.
pub fn write_row(out: &mut String, row: &Row) {
    for v in &row.values {
        write_value(out, v);
        out.push(',');
    }
    out.push('\n');
}

/// The header and the rows.
pub fn write(out: &mut String, rows: &[Row]) {
    write_header(out);
    for r in rows {
        write_row(out, r);
    }
}

fn write_value(out: &mut String, v: &Value) {
    let _ = match v {
        Value::Empty => Ok(()),
        Value::U32(n) => write!(out, "{n}"),
        Value::U64(n) => write!(out, "{n}"),
        Value::S32(n) => write!(out, "{n}"),
        Value::Str(s) => {
            write_str(out, s);
            Ok(())
        }
    };
}

/// A string cell; one holding a comma, a quote or a line break is quoted, inner
/// quotes doubled (RFC 4180, as HAProxy's `csv_enc`).
fn write_str(out: &mut String, s: &str) {
    if s.contains([',', '"', '\n', '\r']) {
        out.push('"');
        out.push_str(&s.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(s);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_is_haproxy_26s() {
        let mut s = String::new();
        write_header(&mut s);
        assert!(s.starts_with("# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,"));
        assert!(s.ends_with(",h1_bytes_in,h1_bytes_out,h1_spliced_bytes_in,h1_spliced_bytes_out,\n"));
        assert_eq!(s.matches(',').count(), fields::COUNT);
    }

    #[test]
    fn cells_are_written_and_quoted() {
        let mut out = String::new();
        for v in [Value::Empty, Value::U32(3), Value::S32(-1), Value::Str("a,\"b\"".into()), Value::Str("UP 1/3".into())] {
            write_value(&mut out, &v);
            out.push(',');
        }
        assert_eq!(out, ",3,-1,\"a,\"\"b\"\"\",UP 1/3,");
    }
}
