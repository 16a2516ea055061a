//! `show table`, `clear table` and `set table`, with HAProxy 2.6's output and messages.
//!
//! `show table` lists the tables (newest first, as HAProxy's list); `show table <t>`
//! prints the table's head line then its entries in key order, each as
//! `0x<id>: key=<k> use=<trackers> exp=<ms> <data>=<value>...`, where `<id>` is a
//! stable number standing for HAProxy's entry address. Filters: up to 4
//! `data.<type> <eq|ne|le|ge|lt|gt> <int>`, or `key <k>` (then only that entry, and
//! nothing at all when it does not exist). Levels, as HAProxy 2.6: `show` for every
//! level but dumps entries from the operator level, `clear` and `set` need operator.

use super::data::{DataType, Value};
use super::table::{Entry, Key, Locked, Table, TableDef};
use super::now_ms;
use std::fmt::Write;
use std::sync::Arc;

/// HAProxy keeps at most this many `data.` filters.
const MAX_FILTERS: usize = 4;

const USAGE: &str = "Required arguments: <table> \"data.<store_data_type>\" <operator> <value> or <table> key <key>\n";

#[derive(Clone, Copy)]
enum Op {
    Eq,
    Ne,
    Le,
    Ge,
    Lt,
    Gt,
}

struct Filter {
    ty: DataType,
    op: Op,
    value: i64,
}

/// What the words after the table name ask for.
enum Select {
    All(Vec<Filter>),
    Key(Key),
}

fn head(t: &Table, used: usize) -> String {
    format!("# table: {}, type: {}, size:{}, used:{}\n", t.def.name, t.def.key.name(), t.def.size, used)
}

/// A stable stand-in for HAProxy's entry address.
fn entry_id(def: &TableDef, key: &Key) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    def.name.hash(&mut h);
    key.hash(&mut h);
    0x5500_0000_0000 | (h.finish() & 0xff_ffff_fff0)
}

/// One entry line (without the end of line).
pub fn entry_line(def: &TableDef, key: &Key, e: &Entry, now: u64) -> String {
    let exp = if def.expire.is_some() { e.expire.saturating_sub(now) } else { 0 };
    let mut s = format!("0x{:x}: key={} use={} exp={exp}", entry_id(def, key), def.key_text(key), e.ref_cnt);
    for (name, v, period) in e.data.fields(&def.store) {
        let _ = match v {
            Value::Rate(f) => write!(s, " {name}({period})={}", f.read(now, period)),
            Value::Sint(x) => write!(s, " {name}={x}"),
            Value::Uint(x) => write!(s, " {name}={x}"),
            Value::Ull(x) => write!(s, " {name}={x}"),
            Value::Str(x) if x.is_empty() => write!(s, " {name}=-"),
            Value::Str(x) => write!(s, " {name}={x}"),
            Value::Array(_) => Ok(()),
        };
    }
    s
}

fn ordinal(n: usize) -> String {
    let suffix = match (n % 10, n % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}

/// Parses the filters of `show`/`clear table <t> ...`: the reply on error.
fn parse_select(def: &TableDef, words: &[String]) -> Result<Select, String> {
    if words.first().map(String::as_str) == Some("key") {
        let k = words.get(1).filter(|k| !k.is_empty()).ok_or("Key value expected\n")?;
        return def.key_from_text(k).map(Select::Key).ok_or_else(|| "Invalid key\n".into());
    }
    let mut filters = Vec::new();
    let mut i = 0;
    while i < words.len() {
        if filters.len() == MAX_FILTERS {
            // HAProxy counts the words from `show`: the command, `table`, the name.
            return Err(format!("Detected extra data in filter, {} word of input, after '{}'\n", ordinal(i + 4), words[i - 1]));
        }
        let n = filters.len() + 1;
        let Some(name) = words[i].strip_prefix("data.") else { return Err(USAGE.into()) };
        let ty = DataType::from_name(name).ok_or_else(|| format!("Filter entry #{n}: Unknown data type\n"))?;
        if !def.stores(ty) {
            return Err(format!("Filter entry #{n}: Data type not stored in this table\n"));
        }
        let op = match words.get(i + 1).map(String::as_str) {
            Some("eq") => Op::Eq,
            Some("ne") => Op::Ne,
            Some("le") => Op::Le,
            Some("ge") => Op::Ge,
            Some("lt") => Op::Lt,
            Some("gt") => Op::Gt,
            _ => return Err(format!("Filter entry #{n}: Require and operator among \"eq\", \"ne\", \"le\", \"ge\", \"lt\", \"gt\"\n")),
        };
        let value = words
            .get(i + 2)
            .and_then(|v| v.parse::<i64>().ok())
            .ok_or_else(|| format!("Filter entry #{n}: Require a valid integer value to compare against\n"))?;
        filters.push(Filter { ty, op, value });
        i += 3;
    }
    Ok(Select::All(filters))
}

fn matches(def: &TableDef, e: &Entry, filters: &[Filter], now: u64) -> bool {
    filters.iter().all(|f| {
        let Some(v) = e.read(def, f.ty, now) else { return false };
        match f.op {
            Op::Eq => v == f.value,
            Op::Ne => v != f.value,
            Op::Le => v <= f.value,
            Op::Ge => v >= f.value,
            Op::Lt => v < f.value,
            Op::Gt => v > f.value,
        }
    })
}

fn sorted_keys(l: &Locked<'_>) -> Vec<Key> {
    let mut keys = l.keys();
    keys.sort();
    keys
}

/// `show table [<table> [<filter>]*]`. Below the operator level (`!operator`), a
/// table's entries are not dumped, as in HAProxy.
pub fn show(args: &[String], operator: bool) -> String {
    let Some(name) = args.first() else {
        return super::tables().iter().rev().map(|t| head(t, t.lock(now_ms()).used())).collect();
    };
    let Some(t) = super::table(name) else { return "No such table\n".into() };
    let select = match parse_select(&t.def, &args[1..]) {
        Ok(s) => s,
        Err(e) => return e,
    };
    let now = now_ms();
    let l = t.lock(now);
    if !operator {
        return format!("{}# contents not dumped due to insufficient privileges\n", head(&t, l.used()));
    }
    match select {
        Select::Key(k) => match l.get(&k) {
            Some(e) => format!("{}{}\n", head(&t, l.used()), entry_line(&t.def, &k, e, now)),
            None => String::new(),
        },
        Select::All(filters) => {
            let mut out = head(&t, l.used());
            for k in sorted_keys(&l) {
                if let Some(e) = l.get(&k).filter(|e| matches(&t.def, e, &filters, now)) {
                    out.push_str(&entry_line(&t.def, &k, e, now));
                    out.push('\n');
                }
            }
            out
        }
    }
}

/// `clear table <table> [<filter>]*`: removes the entries no stream tracks. Below the
/// operator level (`!operator`) it does nothing and says nothing, as HAProxy.
pub fn clear(args: &[String], operator: bool) -> String {
    let Some(name) = args.first() else { return USAGE.into() };
    let Some(t) = super::table(name) else { return "No such table\n".into() };
    let select = match parse_select(&t.def, &args[1..]) {
        Ok(s) => s,
        Err(e) => return e,
    };
    if !operator {
        return String::new();
    }
    let now = now_ms();
    let mut l = t.lock(now);
    match select {
        Select::Key(k) => {
            l.remove(&k);
        }
        Select::All(filters) => {
            for k in sorted_keys(&l) {
                if l.get(&k).is_some_and(|e| matches(&t.def, e, &filters, now)) {
                    l.remove(&k);
                }
            }
        }
    }
    String::new()
}

/// `set table <table> key <k> [data.<type> <value>]*`: creates the entry if needed.
pub fn set(args: &[String]) -> String {
    let Some(name) = args.first() else { return USAGE.into() };
    let Some(t) = super::table(name) else { return "No such table\n".into() };
    if args.get(1).map(String::as_str) != Some("key") {
        return "content-based lookup is only supported with the \"show\" and \"clear\" actions\n".into();
    }
    let Some(k) = args.get(2).filter(|k| !k.is_empty()) else { return "Key value expected\n".into() };
    if t.def.key == super::KeyType::Binary {
        return "Inserting keys into tables of type other than ip, ipv6, string and integer is not supported\n".into();
    }
    let Some(key) = t.def.key_from_text(k) else { return "Invalid key\n".into() };
    set_entry(&t, &key, &args[3..])
}

/// Creates `key` and applies `data.<type> <value>` pairs, as `set table` does (the
/// entry is created even when a later pair is wrong).
fn set_entry(t: &Arc<Table>, key: &Key, pairs: &[String]) -> String {
    let now = now_ms();
    let def = &t.def;
    let mut l = t.lock(now);
    if l.get_or_create(key, now).is_none() {
        return "Unable to allocate a new entry\n".into();
    }
    let mut out = String::new();
    for pair in pairs.chunks(2) {
        let Some(ty) = pair[0].strip_prefix("data.").and_then(DataType::from_name).filter(|_| pair.len() == 2) else {
            out = if pair[0].starts_with("data.") && pair.len() == 2 {
                "Unknown data type\n".into()
            } else if pair[0].starts_with("data.") {
                "Require a valid integer value to store\n".into()
            } else {
                "\"data.<type>\" followed by a value expected\n".into()
            };
            break;
        };
        if !def.stores(ty) {
            out = "Data type not stored in this table\n".into();
            break;
        }
        let Ok(v) = pair[1].parse::<i64>() else {
            out = "Require a valid integer value to store\n".into();
            break;
        };
        if let Some(e) = l.get_mut(key) {
            e.set(def, ty, v, now);
        }
    }
    l.touch(key, now);
    out
}
