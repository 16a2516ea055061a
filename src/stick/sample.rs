//! The stick-table sample fetches and converters, found by `crate::sample::fetch::lookup`
//! and `crate::sample::conv::lookup` after their own tables.
//!
//! - `sc_<x>(<N>[,<table>])`, `sc0_<x>([<table>])` .. `sc2_<x>`: the entry counter N
//!   tracks (with a table: the same key in that table). No sample when N tracks
//!   nothing, or when the table does not store `<x>`.
//! - `src_<x>([<table>])`: the entry of the client's address in the table (the current
//!   proxy's by default): 0 when there is none; `src_inc_gpc0`, `src_clr_gpc0` and
//!   `src_updt_conn_cnt` create it.
//! - `table_cnt([<table>])`, `table_avl([<table>])`: entries used and free.
//! - converters `table_<x>(<table>)`: the entry whose key is the input (0 when none),
//!   `in_table(<table>)`.
//!
//! "The current proxy's table", for `src_*` and `table_*` without a table, is the
//! backend's when the stream has a backend with a table, else the frontend's (HAProxy
//! resolves it from the rule's own proxy when parsing; the difference shows only in
//! a backend rule of a backend without a table).

use super::data::DataType as D;
use super::table::{Key, Table};
use super::{now_ms, session};
use crate::sample::args::{Arg, ArgSpec, ArgType as A};
use crate::sample::conv::Conv;
use crate::sample::fetch::Fetch;
use crate::sample::{Sample, SampleCtx, SampleType as T};
use std::sync::Arc;

/// What a fetch or converter does with the entry.
#[derive(Clone, Copy, Debug)]
enum Op {
    Read(D),
    /// `kbytes_in`/`kbytes_out`: a byte count in kilobytes.
    Kbytes(D),
    /// `inc_gpc0`: counts one on the counter and its rate, returns the counter.
    Inc(D, D),
    /// `clr_gpc0`: returns the counter and sets it to 0.
    Clr(D),
    Tracked,
    Trackers,
    /// `src_updt_conn_cnt`: counts a connection, returns `conn_cnt`.
    UpdtConnCnt,
    /// `in_table`.
    InTable,
    /// `table_expire`, `table_idle`: milliseconds.
    Expire,
    Idle,
}

/// Which entry a fetch reads.
#[derive(Clone, Copy, Debug)]
enum Who {
    /// `sc_x(N[,table])`.
    ScArg,
    /// `scN_x([table])`.
    Sc(usize),
    /// `src_x([table])`.
    Src,
    /// `sc_x(<idx>,<N>[,table])`: element `idx` of an array type.
    ScIdx,
    /// `src_x(<idx>,<table>)`.
    SrcIdx,
}

const SC_ARGS: ArgSpec = ArgSpec { types: &[A::Int, A::Str], mandatory: 1 };
const TABLE_ARG: ArgSpec = ArgSpec { types: &[A::Str], mandatory: 0 };
const TABLE_MANDATORY: ArgSpec = ArgSpec { types: &[A::Str], mandatory: 1 };
const TABLE_DEFAULT: ArgSpec = ArgSpec { types: &[A::Str, A::Int], mandatory: 1 };
const SC_IDX_ARGS: ArgSpec = ArgSpec { types: &[A::Int, A::Int, A::Str], mandatory: 2 };
const SRC_IDX_ARGS: ArgSpec = ArgSpec { types: &[A::Int, A::Str], mandatory: 2 };
const CONV_IDX_ARGS: ArgSpec = ArgSpec { types: &[A::Int, A::Str], mandatory: 2 };

/// The element index of an array fetch or converter (HAProxy: below 100).
fn check_idx(a: &[Arg]) -> Result<(), String> {
    match a.first().and_then(Arg::int) {
        Some(n) if (0..100).contains(&n) => Ok(()),
        _ => Err("invalid array index, the max allowed is 99".into()),
    }
}

fn check_sc(a: &mut [Arg]) -> Result<(), String> {
    match a.first().and_then(Arg::int) {
        Some(n) if (0..session::MAX_SC as i64).contains(&n) => Ok(()),
        _ => Err(format!("invalid stick counter, the max allowed is {}", session::MAX_SC - 1)),
    }
}

thread_local! {
    /// Tables named by arguments while the configuration is parsed (before the tables
    /// exist), with the message if one is missing: `check_parsed` reports them.
    static PENDING: std::cell::RefCell<Vec<(String, String)>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Checks the table named by argument `pos` of keyword `kw` (`what`: "sample fetch
/// keyword" or "converter"). Once the tables exist ([`super::installed`]) a missing
/// one is an error; while parsing it is recorded for [`check_parsed`] (a table may be
/// declared after its first use).
fn check_table(a: &[Arg], pos: usize, what: &str, kw: &str) -> Result<(), String> {
    let Some(name) = table_name(a.get(pos)) else { return Ok(()) };
    let msg = format!("unable to find table '{name}' referenced in arg {} of {what} '{kw}'", pos + 1);
    if super::installed() {
        return match super::table(name) {
            Some(_) => Ok(()),
            None => Err(msg),
        };
    }
    PENDING.with(|p| p.borrow_mut().push((name.to_string(), msg)));
    Ok(())
}

/// The messages for the tables arguments named since the last call that are not in
/// `declared` (the configuration's post-parse check).
pub fn check_parsed(declared: &[String]) -> Vec<String> {
    PENDING.with(|p| std::mem::take(&mut *p.borrow_mut()))
        .into_iter()
        .filter(|(name, _)| !declared.contains(name))
        .map(|(_, msg)| msg)
        .collect()
}

const fn fetch(name: &'static str, args: ArgSpec, out: T, check: fn(&mut [Arg]) -> Result<(), String>, run: fn(&[Arg], &dyn SampleCtx) -> Option<Sample>) -> Fetch {
    Fetch { name, args, out, check, run, all: None, visit: None }
}

/// One family: `sc_x`, `sc0_x`, `sc1_x`, `sc2_x` and `src_x` (`""`: no such name).
macro_rules! family {
    ($op:expr, $out:expr, $sc:expr, $sc0:expr, $sc1:expr, $sc2:expr, $src:expr) => {
        [
            fetch($sc, SC_ARGS, $out, |a| { check_sc(a)?; check_table(a, 1, FETCH, $sc) }, |a, cx| run(Who::ScArg, $op, a, cx)),
            fetch($sc0, TABLE_ARG, $out, |a| check_table(a, 0, FETCH, $sc0), |a, cx| run(Who::Sc(0), $op, a, cx)),
            fetch($sc1, TABLE_ARG, $out, |a| check_table(a, 0, FETCH, $sc1), |a, cx| run(Who::Sc(1), $op, a, cx)),
            fetch($sc2, TABLE_ARG, $out, |a| check_table(a, 0, FETCH, $sc2), |a, cx| run(Who::Sc(2), $op, a, cx)),
            fetch($src, TABLE_ARG, $out, |a| check_table(a, 0, FETCH, $src), |a, cx| run(Who::Src, $op, a, cx)),
        ]
    };
    ($d:ident, $x:literal) => {
        family!(Op::Read(D::$d), T::Sint, concat!("sc_", $x), concat!("sc0_", $x), concat!("sc1_", $x), concat!("sc2_", $x), concat!("src_", $x))
    };
}

static FAMILIES: &[[Fetch; 5]] = &[
    family!(BytesInRate, "bytes_in_rate"),
    family!(BytesOutRate, "bytes_out_rate"),
    family!(ConnCnt, "conn_cnt"),
    family!(ConnCur, "conn_cur"),
    family!(ConnRate, "conn_rate"),
    family!(Gpc0, "get_gpc0"),
    family!(Gpc1, "get_gpc1"),
    family!(Gpt0, "get_gpt0"),
    family!(Gpc0Rate, "gpc0_rate"),
    family!(Gpc1Rate, "gpc1_rate"),
    family!(HttpErrCnt, "http_err_cnt"),
    family!(HttpErrRate, "http_err_rate"),
    family!(HttpFailCnt, "http_fail_cnt"),
    family!(HttpFailRate, "http_fail_rate"),
    family!(HttpReqCnt, "http_req_cnt"),
    family!(HttpReqRate, "http_req_rate"),
    family!(SessCnt, "sess_cnt"),
    family!(SessRate, "sess_rate"),
    family!(Op::Kbytes(D::BytesInCnt), T::Sint, "sc_kbytes_in", "sc0_kbytes_in", "sc1_kbytes_in", "sc2_kbytes_in", "src_kbytes_in"),
    family!(Op::Kbytes(D::BytesOutCnt), T::Sint, "sc_kbytes_out", "sc0_kbytes_out", "sc1_kbytes_out", "sc2_kbytes_out", "src_kbytes_out"),
    family!(Op::Inc(D::Gpc0, D::Gpc0Rate), T::Sint, "sc_inc_gpc0", "sc0_inc_gpc0", "sc1_inc_gpc0", "sc2_inc_gpc0", "src_inc_gpc0"),
    family!(Op::Inc(D::Gpc1, D::Gpc1Rate), T::Sint, "sc_inc_gpc1", "sc0_inc_gpc1", "sc1_inc_gpc1", "sc2_inc_gpc1", "src_inc_gpc1"),
    family!(Op::Clr(D::Gpc0), T::Sint, "sc_clr_gpc0", "sc0_clr_gpc0", "sc1_clr_gpc0", "sc2_clr_gpc0", "src_clr_gpc0"),
    family!(Op::Clr(D::Gpc1), T::Sint, "sc_clr_gpc1", "sc0_clr_gpc1", "sc1_clr_gpc1", "sc2_clr_gpc1", "src_clr_gpc1"),
    family!(Op::Tracked, T::Bool, "sc_tracked", "sc0_tracked", "sc1_tracked", "sc2_tracked", ""),
    family!(Op::Trackers, T::Sint, "sc_trackers", "sc0_trackers", "sc1_trackers", "sc2_trackers", ""),
    family!(Op::UpdtConnCnt, T::Sint, "", "", "", "", "src_updt_conn_cnt"),
];

/// The fetches on array elements: `sc_<x>(<idx>,<N>[,<table>])` and
/// `src_<x>(<idx>,<table>)`.
macro_rules! array_family {
    ($op:expr, $sc:literal, $src:literal) => {
        [
            fetch($sc, SC_IDX_ARGS, T::Sint, |a| {
                check_idx(a)?;
                check_sc(&mut a[1..])?;
                check_table(a, 2, FETCH, $sc)
            }, |a, cx| run(Who::ScIdx, $op, a, cx)),
            fetch($src, SRC_IDX_ARGS, T::Sint, |a| {
                check_idx(a)?;
                check_table(a, 1, FETCH, $src)
            }, |a, cx| run(Who::SrcIdx, $op, a, cx)),
        ]
    };
}

static ARRAY_FAMILIES: &[[Fetch; 2]] = &[
    array_family!(Op::Read(D::Gpc), "sc_get_gpc", "src_get_gpc"),
    array_family!(Op::Read(D::Gpt), "sc_get_gpt", "src_get_gpt"),
    array_family!(Op::Read(D::GpcRate), "sc_gpc_rate", "src_gpc_rate"),
    array_family!(Op::Inc(D::Gpc, D::GpcRate), "sc_inc_gpc", "src_inc_gpc"),
    array_family!(Op::Clr(D::Gpc), "sc_clr_gpc", "src_clr_gpc"),
];

const FETCH: &str = "sample fetch keyword";

static TABLE_FETCHES: &[Fetch] = &[
    // HAProxy 2.6 has this one fixed-counter form of `sc_clr_gpc` (not `sc0_`/`sc2_`).
    fetch("sc1_clr_gpc", ArgSpec { types: &[A::Int, A::Str], mandatory: 1 }, T::Sint, |a| {
        check_idx(a)?;
        check_table(a, 1, FETCH, "sc1_clr_gpc")
    }, |a, cx| {
        let mut args = vec![a.first()?.clone(), Arg::Int(1)];
        args.extend(a.get(1).cloned());
        run(Who::ScIdx, Op::Clr(D::Gpc), &args, cx)
    }),
    fetch("table_avl", TABLE_ARG, T::Sint, |a| check_table(a, 0, FETCH, "table_avl"), |a, cx| {
        let t = table_arg(a.first(), cx)?;
        let used = t.lock(now_ms()).used();
        Some(Sample::Sint(t.def.size.saturating_sub(used) as i64))
    }),
    fetch("table_cnt", TABLE_ARG, T::Sint, |a| check_table(a, 0, FETCH, "table_cnt"), |a, cx| {
        Some(Sample::Sint(table_arg(a.first(), cx)?.lock(now_ms()).used() as i64))
    }),
];

/// The fetch named `name`, if it is a stick-table one.
pub fn lookup_fetch(name: &str) -> Option<&'static Fetch> {
    if !(name.starts_with("sc") || name.starts_with("src_") || name.starts_with("table_")) {
        return None;
    }
    FAMILIES.iter().flatten().chain(ARRAY_FAMILIES.iter().flatten()).chain(TABLE_FETCHES).find(|f| f.name == name && !name.is_empty())
}

/// The table a table argument names: none when it is absent or empty
/// (`src_http_req_rate()`, which HAProxy reads as the current proxy's table).
fn table_name(arg: Option<&Arg>) -> Option<&str> {
    arg.and_then(Arg::str).filter(|n| !n.is_empty())
}

/// The table an argument names, else the current proxy's (see the module's notes).
fn table_arg(arg: Option<&Arg>, cx: &dyn SampleCtx) -> Option<Arc<Table>> {
    match table_name(arg) {
        Some(name) => super::table(name),
        None => cx.backend_name().and_then(super::table).or_else(|| cx.frontend_name().and_then(super::table)),
    }
}

fn run(who: Who, op: Op, a: &[Arg], cx: &dyn SampleCtx) -> Option<Sample> {
    // Element of an array type: the first argument.
    let (idx, a) = match who {
        Who::ScIdx | Who::SrcIdx => (a.first()?.int()? as usize, &a[1..]),
        _ => (0, a),
    };
    let (table, key) = match who {
        Who::ScArg | Who::Sc(_) | Who::ScIdx => {
            let (n, targ) = match who {
                Who::Sc(n) => (n, a.first()),
                _ => (a.first()?.int()? as usize, a.get(1)),
            };
            let tracked = session::tracked(n);
            if let Op::Tracked = op {
                return Some(Sample::Bool(tracked.is_some()));
            }
            let tr = tracked?;
            match table_name(targ) {
                Some(name) if name != tr.table.def.name => (super::table(name)?, tr.key),
                _ => (tr.table, tr.key),
            }
        }
        Who::Src | Who::SrcIdx => {
            let t = table_arg(a.first(), cx)?;
            let key = t.def.key_of(Sample::ip(cx.src()?.ip()))?;
            (t, key)
        }
    };
    let create = matches!(who, Who::Src | Who::SrcIdx) && matches!(op, Op::Inc(..) | Op::Clr(_) | Op::UpdtConnCnt);
    apply(&table, &key, op, idx, create)
}

/// Runs `op` on element `idx` (arrays; 0 otherwise) of the entry `key` of `table`
/// (created first when `create`).
fn apply(table: &Table, key: &Key, op: Op, idx: usize, create: bool) -> Option<Sample> {
    let now = now_ms();
    let def = &table.def;
    let mut l = table.lock(now);
    if create {
        l.get_or_create(key, now);
    }
    let stored = |d: D| def.locate(d, idx).is_some();
    let int = |v: i64| Some(Sample::Sint(v));
    match op {
        Op::InTable => return Some(Sample::Bool(l.get(key).is_some())),
        Op::Trackers => return int(l.get(key).map_or(0, |e| i64::from(e.ref_cnt))),
        Op::Tracked => return None,
        _ => {}
    }
    let Some(e) = l.get_mut(key) else {
        // No entry: 0, provided the table stores what is asked.
        let d = match op {
            Op::Read(d) | Op::Kbytes(d) | Op::Clr(d) => d,
            Op::Inc(d, r) => if stored(d) { d } else { r },
            Op::UpdtConnCnt => D::ConnCnt,
            Op::Expire | Op::Idle => return None,
            _ => return None,
        };
        return stored(d).then_some(Sample::Sint(0));
    };
    match op {
        Op::Read(d) => int(e.read_at(def, d, idx, now)?),
        Op::Kbytes(d) => int(e.read(def, d, now)? >> 10),
        Op::Inc(d, rate) => {
            let a = e.add_at(def, rate, idx, 1, now);
            let b = e.add_at(def, d, idx, 1, now);
            if !(a || b) {
                return None;
            }
            let v = e.read_at(def, d, idx, now).or_else(|| e.read_at(def, rate, idx, now));
            l.touch(key, now);
            int(v.unwrap_or(0))
        }
        Op::Clr(d) => {
            let v = e.read_at(def, d, idx, now)?;
            e.set_at(def, d, idx, 0, now);
            l.touch(key, now);
            int(v)
        }
        Op::UpdtConnCnt => {
            if !e.add(def, D::ConnCnt, 1, now) {
                return None;
            }
            let v = e.read(def, D::ConnCnt, now);
            l.touch(key, now);
            int(v.unwrap_or(0))
        }
        Op::Expire => {
            def.expire?;
            int(e.expire.saturating_sub(now) as i64)
        }
        Op::Idle => {
            let exp = def.expire?;
            int(now.saturating_sub(e.expire.saturating_sub(exp)) as i64)
        }
        Op::InTable | Op::Trackers | Op::Tracked => None,
    }
}

/// What `tcp-request connection` rules see: the connection's addresses (which
/// `set-src`... rewrite) and its frontend (whose table `src_*` fetches read by default).
pub struct ConnRuleCtx<'a> {
    pub src: std::cell::Cell<Option<std::net::SocketAddr>>,
    pub dst: std::cell::Cell<Option<std::net::SocketAddr>>,
    pub frontend: &'a str,
    /// The socket and the listener (`fc_rtt`, `so_id`, `dst_conn`...).
    pub conn: crate::sample::fetch_conn::ClientConn,
}

impl SampleCtx for ConnRuleCtx<'_> {
    fn client_conn(&self) -> Option<crate::sample::fetch_conn::ClientConn> {
        Some(self.conn.clone())
    }
    fn src(&self) -> Option<std::net::SocketAddr> {
        self.src.get()
    }
    fn dst(&self) -> Option<std::net::SocketAddr> {
        self.dst.get()
    }
    fn set_addr(&self, part: crate::stream::set_addr::AddrPart, value: Sample) -> bool {
        crate::stream::set_addr::set_cell(part, value, (&self.src, &self.dst));
        true
    }
    fn frontend_name(&self) -> Option<&str> {
        Some(self.frontend)
    }
}

// ---- converters ------------------------------------------------------------

const fn conv(
    name: &'static str,
    args: ArgSpec,
    out: T,
    check: fn(&mut [Arg]) -> Result<(), String>,
    run: fn(Sample, &[Arg], &dyn SampleCtx) -> Option<Sample>,
) -> Conv {
    Conv { name, args, input: T::Any, out, check, run }
}

fn convert(s: Sample, a: &[Arg], op: Op) -> Option<Sample> {
    convert_at(s, a, op, 0)
}

/// `table_gpc(<idx>,<table>)` and the like.
fn convert_idx(s: Sample, a: &[Arg], op: Op) -> Option<Sample> {
    convert_at(s, &a[1..], op, a.first()?.int()? as usize)
}

fn convert_at(s: Sample, a: &[Arg], op: Op, idx: usize) -> Option<Sample> {
    let t = super::table(a.first()?.str()?)?;
    let Some(key) = t.def.key_of(s) else {
        return match op {
            Op::InTable => Some(Sample::Bool(false)),
            _ => None,
        };
    };
    let r = apply(&t, &key, op, idx, false);
    match (op, r) {
        // `table_expire`/`table_idle`: the default when there is no entry.
        (Op::Expire | Op::Idle, None) => a.get(1).and_then(Arg::int).map(Sample::Sint),
        (_, r) => r,
    }
}

macro_rules! table_conv {
    ($name:literal, $op:expr) => {
        conv($name, TABLE_MANDATORY, T::Sint, |a| check_table(a, 0, "converter", $name), |s, a, _| convert(s, a, $op))
    };
}

static CONVERTERS: &[Conv] = &[
    conv("in_table", TABLE_MANDATORY, T::Bool, |a| check_table(a, 0, "converter", "in_table"), |s, a, _| convert(s, a, Op::InTable)),
    table_conv!("table_bytes_in_rate", Op::Read(D::BytesInRate)),
    table_conv!("table_bytes_out_rate", Op::Read(D::BytesOutRate)),
    table_conv!("table_conn_cnt", Op::Read(D::ConnCnt)),
    table_conv!("table_conn_cur", Op::Read(D::ConnCur)),
    table_conv!("table_conn_rate", Op::Read(D::ConnRate)),
    conv("table_expire", TABLE_DEFAULT, T::Sint, |a| check_table(a, 0, "converter", "table_expire"), |s, a, _| convert(s, a, Op::Expire)),
    conv("table_gpc", CONV_IDX_ARGS, T::Sint, |a| { check_idx(a)?; check_table(a, 1, "converter", "table_gpc") }, |s, a, _| convert_idx(s, a, Op::Read(D::Gpc))),
    table_conv!("table_gpc0", Op::Read(D::Gpc0)),
    table_conv!("table_gpc0_rate", Op::Read(D::Gpc0Rate)),
    table_conv!("table_gpc1", Op::Read(D::Gpc1)),
    table_conv!("table_gpc1_rate", Op::Read(D::Gpc1Rate)),
    conv("table_gpc_rate", CONV_IDX_ARGS, T::Sint, |a| { check_idx(a)?; check_table(a, 1, "converter", "table_gpc_rate") }, |s, a, _| convert_idx(s, a, Op::Read(D::GpcRate))),
    conv("table_gpt", CONV_IDX_ARGS, T::Sint, |a| { check_idx(a)?; check_table(a, 1, "converter", "table_gpt") }, |s, a, _| convert_idx(s, a, Op::Read(D::Gpt))),
    table_conv!("table_gpt0", Op::Read(D::Gpt0)),
    table_conv!("table_http_err_cnt", Op::Read(D::HttpErrCnt)),
    table_conv!("table_http_err_rate", Op::Read(D::HttpErrRate)),
    table_conv!("table_http_fail_cnt", Op::Read(D::HttpFailCnt)),
    table_conv!("table_http_fail_rate", Op::Read(D::HttpFailRate)),
    table_conv!("table_http_req_cnt", Op::Read(D::HttpReqCnt)),
    table_conv!("table_http_req_rate", Op::Read(D::HttpReqRate)),
    conv("table_idle", TABLE_DEFAULT, T::Sint, |a| check_table(a, 0, "converter", "table_idle"), |s, a, _| convert(s, a, Op::Idle)),
    table_conv!("table_kbytes_in", Op::Kbytes(D::BytesInCnt)),
    table_conv!("table_kbytes_out", Op::Kbytes(D::BytesOutCnt)),
    table_conv!("table_server_id", Op::Read(D::ServerId)),
    table_conv!("table_sess_cnt", Op::Read(D::SessCnt)),
    table_conv!("table_sess_rate", Op::Read(D::SessRate)),
    table_conv!("table_trackers", Op::Trackers),
];

/// The converter named `name`, if it is a stick-table one.
pub fn lookup_conv(name: &str) -> Option<&'static Conv> {
    CONVERTERS.iter().find(|c| c.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_family_name_is_unique_and_found() {
        let names: Vec<&str> = FAMILIES.iter().flatten().chain(ARRAY_FAMILIES.iter().flatten()).chain(TABLE_FETCHES).map(|f| f.name).filter(|n| !n.is_empty()).collect();
        for n in &names {
            assert_eq!(lookup_fetch(n).map(|f| f.name), Some(*n));
            assert_eq!(names.iter().filter(|m| *m == n).count(), 1, "{n}");
        }
        assert!(lookup_fetch("sc_http_req_rate").is_some() && lookup_fetch("src_updt_conn_cnt").is_some());
        assert!(lookup_fetch("").is_none() && lookup_fetch("src_tracked").is_none());
        assert!(lookup_conv("table_http_req_rate").is_some());
    }
}
