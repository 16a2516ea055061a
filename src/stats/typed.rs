//! `show stat typed` and the tags of `show stat json`: each field with its origin,
//! nature and scope (HAProxy's three tag letters) and its type, as HAProxy 2.6 prints
//! them for frontends, backends and servers.

use super::fields::{self, COUNT, NAMES};
use super::snapshot::{Row, RowKind, Value};
use std::fmt::Write;

/// `(tags, type)` of each column for a frontend, a backend and a server row, as
/// HAProxy 2.6 prints them (`None`: a column HAProxy never fills for that row type).
#[rustfmt::skip]
const META: [[Option<(&str, &str)>; 3]; COUNT] = [
    [Some(("KNS", "str")), Some(("KNS", "str")), Some(("KNS", "str"))], // pxname
    [Some(("KNS", "str")), Some(("KNS", "str")), Some(("KNS", "str"))], // svname
    [None, Some(("MGP", "u32")), Some(("MGP", "u32"))], // qcur
    [None, Some(("MMP", "u32")), Some(("MMP", "u32"))], // qmax
    [Some(("MGP", "u32")), Some(("MGP", "u32")), Some(("MGP", "u32"))], // scur
    [Some(("MMP", "u32")), Some(("MMP", "u32")), Some(("MMP", "u32"))], // smax
    [Some(("CLP", "u32")), Some(("CLP", "u32")), None], // slim
    [Some(("MCP", "u64")), Some(("MCP", "u64")), Some(("MCP", "u64"))], // stot
    [Some(("MCP", "u64")), Some(("MCP", "u64")), Some(("MCP", "u64"))], // bin
    [Some(("MCP", "u64")), Some(("MCP", "u64")), Some(("MCP", "u64"))], // bout
    [Some(("MCP", "u64")), Some(("MCP", "u64")), None], // dreq
    [Some(("MCP", "u64")), Some(("MCP", "u64")), Some(("MCP", "u64"))], // dresp
    [Some(("MCP", "u64")), None, None], // ereq
    [None, Some(("MCP", "u64")), Some(("MCP", "u64"))], // econ
    [None, Some(("MCP", "u64")), Some(("MCP", "u64"))], // eresp
    [None, Some(("MCP", "u64")), Some(("MCP", "u64"))], // wretr
    [None, Some(("MCP", "u64")), Some(("MCP", "u64"))], // wredis
    [Some(("SGP", "str")), Some(("SGP", "str")), Some(("SGP", "str"))], // status
    [None, Some(("MaP", "u32")), Some(("MaP", "u32"))], // weight
    [None, Some(("MGP", "u32")), Some(("SGP", "u32"))], // act
    [None, Some(("MGP", "u32")), Some(("SGP", "u32"))], // bck
    [None, None, Some(("MCP", "u64"))], // chkfail
    [None, Some(("MCP", "u64")), Some(("MCP", "u64"))], // chkdown
    [None, Some(("MAP", "u32")), Some(("MAP", "u32"))], // lastchg
    [None, Some(("MCP", "u32")), Some(("MCP", "u32"))], // downtime
    [None, None, None], // qlimit
    [Some(("KGP", "u32")), Some(("KGP", "u32")), Some(("KGP", "u32"))], // pid
    [Some(("KGS", "u32")), Some(("KGS", "u32")), Some(("KGS", "u32"))], // iid
    [Some(("KGS", "u32")), Some(("KGS", "u32")), Some(("KGS", "u32"))], // sid
    [None, None, None], // throttle
    [None, Some(("MCP", "u64")), Some(("MCP", "u64"))], // lbtot
    [None, None, None], // tracked
    [Some(("CGS", "u32")), Some(("CGS", "u32")), Some(("CGS", "u32"))], // type
    [Some(("MRP", "u32")), Some(("MGP", "u32")), Some(("MRP", "u32"))], // rate
    [Some(("CLP", "u32")), None, None], // rate_lim
    [Some(("MMP", "u32")), Some(("MGP", "u32")), Some(("MMP", "u32"))], // rate_max
    [None, None, Some(("MOP", "str"))], // check_status
    [None, None, None], // check_code
    [None, None, Some(("MDP", "u64"))], // check_duration
    [Some(("MCP", "u64")), Some(("MCP", "u64")), Some(("MCP", "u64"))], // hrsp_1xx
    [Some(("MCP", "u64")), Some(("MCP", "u64")), Some(("MCP", "u64"))], // hrsp_2xx
    [Some(("MCP", "u64")), Some(("MCP", "u64")), Some(("MCP", "u64"))], // hrsp_3xx
    [Some(("MCP", "u64")), Some(("MCP", "u64")), Some(("MCP", "u64"))], // hrsp_4xx
    [Some(("MCP", "u64")), Some(("MCP", "u64")), Some(("MCP", "u64"))], // hrsp_5xx
    [Some(("MCP", "u64")), Some(("MCP", "u64")), Some(("MCP", "u64"))], // hrsp_other
    [None, None, Some(("MCP", "u64"))], // hanafail
    [Some(("MRP", "u32")), None, None], // req_rate
    [Some(("MMP", "u32")), None, None], // req_rate_max
    [Some(("MCP", "u64")), Some(("MCP", "u64")), Some(("MCP", "u64"))], // req_tot
    [None, Some(("MCP", "u64")), Some(("MCP", "u64"))], // cli_abrt
    [None, Some(("MCP", "u64")), Some(("MCP", "u64"))], // srv_abrt
    [Some(("MCP", "u64")), Some(("MCP", "u64")), None], // comp_in
    [Some(("MCP", "u64")), Some(("MCP", "u64")), None], // comp_out
    [Some(("MCP", "u64")), Some(("MCP", "u64")), None], // comp_byp
    [Some(("MCP", "u64")), Some(("MCP", "u64")), None], // comp_rsp
    [None, Some(("MAP", "s32")), Some(("MAP", "s32"))], // lastsess
    [None, None, Some(("MOP", "str"))], // last_chk
    [None, None, None], // last_agt
    [None, Some(("MaP", "u32")), Some(("MaP", "u32"))], // qtime
    [None, Some(("MaP", "u32")), Some(("MaP", "u32"))], // ctime
    [None, Some(("MaP", "u32")), Some(("MaP", "u32"))], // rtime
    [None, Some(("MaP", "u32")), Some(("MaP", "u32"))], // ttime
    [None, None, None], // agent_status
    [None, None, None], // agent_code
    [None, None, None], // agent_duration
    [None, None, Some(("MOP", "str"))], // check_desc
    [None, None, None], // agent_desc
    [None, None, Some(("CGS", "u32"))], // check_rise
    [None, None, Some(("CGS", "u32"))], // check_fall
    [None, None, Some(("CGS", "u32"))], // check_health
    [None, None, None], // agent_rise
    [None, None, None], // agent_fall
    [None, None, None], // agent_health
    [None, None, Some(("CGS", "str"))], // addr
    [None, None, None], // cookie
    [Some(("CGS", "str")), Some(("CGS", "str")), Some(("CGS", "str"))], // mode
    [None, Some(("CGS", "str")), None], // algo
    [Some(("MRP", "u32")), None, None], // conn_rate
    [Some(("MMP", "u32")), None, None], // conn_rate_max
    [Some(("MCP", "u64")), None, None], // conn_tot
    [Some(("MCP", "u64")), None, None], // intercepted
    [Some(("MCP", "u64")), None, None], // dcon
    [Some(("MCP", "u64")), None, None], // dses
    [Some(("MCP", "u64")), Some(("MCP", "u64")), Some(("MCP", "u64"))], // wrew
    [None, Some(("MCP", "u64")), Some(("MCP", "u64"))], // connect
    [None, Some(("MCP", "u64")), Some(("MCP", "u64"))], // reuse
    [Some(("MCP", "u64")), Some(("MCP", "u64")), None], // cache_lookups
    [Some(("MCP", "u64")), Some(("MCP", "u64")), None], // cache_hits
    [None, None, Some(("MGP", "u32"))], // srv_icur
    [None, None, None], // src_ilim
    [None, Some(("MMP", "u32")), Some(("MMP", "u32"))], // qtime_max
    [None, Some(("MMP", "u32")), Some(("MMP", "u32"))], // ctime_max
    [None, Some(("MMP", "u32")), Some(("MMP", "u32"))], // rtime_max
    [None, Some(("MMP", "u32")), Some(("MMP", "u32"))], // ttime_max
    [Some(("MCP", "u64")), Some(("MCP", "u64")), Some(("MCP", "u64"))], // eint
    [None, None, Some(("MGP", "u32"))], // idle_conn_cur
    [None, None, Some(("MGP", "u32"))], // safe_conn_cur
    [None, None, Some(("MGP", "u32"))], // used_conn_cur
    [None, None, Some(("MGP", "u32"))], // need_conn_est
    [None, Some(("MaP", "u32")), Some(("MaP", "u32"))], // uweight
    [None, Some(("MGP", "u32")), None], // agg_server_status
    [None, Some(("MGP", "u32")), None], // agg_server_check_status
    [None, Some(("MGP", "u32")), None], // agg_check_status
    [None, None, None], // -
    [Some(("MCP", "u64")), Some(("MCP", "u64")), Some(("MCP", "u64"))], // ssl_sess
    [Some(("MCP", "u64")), Some(("MCP", "u64")), Some(("MCP", "u64"))], // ssl_reused_sess
    [Some(("MCP", "u64")), Some(("MCP", "u64")), Some(("MCP", "u64"))], // ssl_failed_handshake
    [Some(("MCP", "u64")), Some(("MCP", "u64")), None], // h2_headers_rcvd
    [Some(("MCP", "u64")), Some(("MCP", "u64")), None], // h2_data_rcvd
    [Some(("MCP", "u64")), Some(("MCP", "u64")), None], // h2_settings_rcvd
    [Some(("MCP", "u64")), Some(("MCP", "u64")), None], // h2_rst_stream_rcvd
    [Some(("MCP", "u64")), Some(("MCP", "u64")), None], // h2_goaway_rcvd
    [Some(("MCP", "u64")), Some(("MCP", "u64")), None], // h2_detected_conn_protocol_errors
    [Some(("MCP", "u64")), Some(("MCP", "u64")), None], // h2_detected_strm_protocol_errors
    [Some(("MCP", "u64")), Some(("MCP", "u64")), None], // h2_rst_stream_resp
    [Some(("MCP", "u64")), Some(("MCP", "u64")), None], // h2_goaway_resp
    [Some(("MGP", "u64")), Some(("MGP", "u64")), None], // h2_open_connections
    [Some(("MGP", "u64")), Some(("MGP", "u64")), None], // h2_backend_open_streams
    [Some(("MCP", "u64")), Some(("MCP", "u64")), None], // h2_total_connections
    [Some(("MCP", "u64")), Some(("MCP", "u64")), None], // h2_backend_total_streams
    [Some(("MGP", "u64")), Some(("MGP", "u64")), None], // h1_open_connections
    [Some(("MGP", "u64")), Some(("MGP", "u64")), None], // h1_open_streams
    [Some(("MCP", "u64")), Some(("MCP", "u64")), None], // h1_total_connections
    [Some(("MCP", "u64")), Some(("MCP", "u64")), None], // h1_total_streams
    [Some(("MCP", "u64")), Some(("MCP", "u64")), None], // h1_bytes_in
    [Some(("MCP", "u64")), Some(("MCP", "u64")), None], // h1_bytes_out
    [Some(("MCP", "u64")), Some(("MCP", "u64")), None], // h1_spliced_bytes_in
    [Some(("MCP", "u64")), Some(("MCP", "u64")), None], // h1_spliced_bytes_out
];

/// The tag letters and type of `field` in a row of `kind`; a column without known
/// metadata is an `MCP` counter of the value's own type.
pub fn meta(kind: RowKind, field: usize, v: &Value) -> (&'static str, &'static str) {
    let k = match kind {
        RowKind::Frontend => 0,
        RowKind::Backend => 1,
        RowKind::Server => 2,
    };
    META[field][k].unwrap_or(("MCP", value_type(v)))
}

fn value_type(v: &Value) -> &'static str {
    match v {
        Value::U32(_) => "u32",
        Value::S32(_) => "s32",
        Value::Str(_) => "str",
        Value::U64(_) | Value::Empty => "u64",
    }
}

/// The names of the tag letters (`show stat json`'s `tags`): origin, nature, scope.
pub fn tag_names(tags: &str) -> (&'static str, &'static str, &'static str) {
    let mut l = tags.chars();
    let origin = match l.next() {
        Some('K') => "Key",
        Some('C') => "Config",
        Some('P') => "Product",
        Some('S') => "Status",
        _ => "Metric",
    };
    let nature = match l.next() {
        Some('N') => "Name",
        Some('G') => "Gauge",
        Some('M') => "Max",
        Some('m') => "Min",
        Some('L') => "Limit",
        Some('R') => "Rate",
        Some('a') => "Avg",
        Some('A') => "Age",
        Some('O') => "Output",
        Some('D') => "Duration",
        Some('T') => "Time",
        _ => "Counter",
    };
    let scope = match l.next() {
        Some('S') => "Service",
        Some('s') => "System",
        Some('C') => "Cluster",
        _ => "Process",
    };
    (origin, nature, scope)
}

/// A column's position in `show stat typed` and `json`, where the CSV's `-`
/// separator is not a field (`None` for it): the columns after it move up by one.
pub fn typed_pos(field: usize) -> Option<usize> {
    match field {
        fields::DASH => None,
        f if f > fields::DASH => Some(f - 1),
        f => Some(f),
    }
}

/// The row's letter, proxy id and server id (`F.2.0`).
pub fn row_key(r: &Row) -> (char, u64, u64) {
    let num = |v: &Value| match v {
        Value::U32(n) => u64::from(*n),
        _ => 0,
    };
    let letter = match r.kind {
        RowKind::Frontend => 'F',
        RowKind::Backend => 'B',
        RowKind::Server => 'S',
    };
    (letter, num(r.get(fields::IID)), num(r.get(fields::SID)))
}

/// Appends the rows as `show stat typed` prints them: one line per non-empty field,
/// `F.<iid>.<sid>.<pos>.<name>.<process>:<tags>:<type>:<value>`.
pub fn write(out: &mut String, rows: &[Row]) {
    for r in rows {
        let (letter, iid, sid) = row_key(r);
        for (pos, v) in r.values.iter().enumerate() {
            let Some(at) = typed_pos(pos).filter(|_| *v != Value::Empty) else { continue };
            let (tags, ty) = meta(r.kind, pos, v);
            let _ = write!(out, "{letter}.{iid}.{sid}.{at}.{}.1:{tags}:{ty}:", NAMES[pos]);
            let _ = match v {
                Value::U32(n) => write!(out, "{n}"),
                Value::U64(n) => write!(out, "{n}"),
                Value::S32(n) => write!(out, "{n}"),
                Value::Str(s) => write!(out, "{s}"),
                Value::Empty => Ok(()),
            };
            out.push('\n');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_haproxys() {
        let mut r = Row { kind: RowKind::Server, proxy: 0, values: vec![Value::Empty; COUNT] };
        r.values[fields::PXNAME] = Value::Str("be".into());
        r.values[fields::IID] = Value::U32(3);
        r.values[fields::SID] = Value::U32(1);
        r.values[fields::WEIGHT] = Value::U32(2);
        r.values[fields::DASH] = Value::Str("-".into());
        r.values[fields::SSL_SESS] = Value::U64(0);
        let mut out = String::new();
        write(&mut out, &[r]);
        assert_eq!(out, "S.3.1.0.pxname.1:KNS:str:be\nS.3.1.18.weight.1:MaP:u32:2\nS.3.1.27.iid.1:KGS:u32:3\nS.3.1.28.sid.1:KGS:u32:1\nS.3.1.103.ssl_sess.1:MCP:u64:0\n");
        assert_eq!(tag_names("MaP"), ("Metric", "Avg", "Process"));
    }
}
