//! The `StickTable` class (HAProxy's hlua_fcn.c): `Proxy.stktable`, `info()`,
//! `lookup(key)` and `dump([filter])` over the process's stick tables (src/stick/).
//!
//! Shape, as the other world objects (`world.rs`): a table holding its private reference
//! at `[0]` (here the table's index in `crate::stick::tables()`, which does not change
//! once the configuration is loaded) with a metatable whose `__index` holds the methods.
//! `world.lua` builds it for each proxy that has a table, and wraps `dump` to flatten
//! the filter triplets before calling [`stk_dump`] (the checks of the triplets' shape
//! are there, the others here).
//!
//! Values, as in 2.6: `info()` gives `{type, length, size, used, nopurge, expire,
//! data = {<type> = <period or -1>}}` (a string key's length counts its final NUL);
//! `lookup()` the entry's data plus `expire` (milliseconds left) and `use` (its
//! trackers), or nil; `dump()` `{<key> = <data>}`, or nil and HAProxy's message for a
//! bad filter. The methods never yield.

use crate::lua::callback::{CallCtx, RustFunction};
use crate::lua::error::LuaError;
use crate::lua::userdata::{self, Class};
use crate::stick::data::{DataType, Value};
use crate::stick::{now_ms, Table};
use lua54_sys as ffi;
use std::ffi::CStr;
use std::os::raw::c_int;
use std::sync::Arc;

/// What a `StickTable` object's `[0]` holds.
#[derive(Clone, Copy, Debug)]
struct StkRef {
    index: usize,
}

static STK: Class<StkRef> = Class::new("StickTable", &[]);

/// A value of a Lua table built here.
enum V {
    Int(i64),
    Str(String),
    Bool(bool),
    Table(Vec<(String, V)>),
}

/// Pushes `v` (nested tables included).
///
/// # Safety
/// Called inside `CallCtx::allocating` with room for the nesting depth times two slots
/// (the callers' tables are at most two levels deep).
unsafe fn push_value(l: *mut ffi::lua_State, v: &V) {
    // SAFETY: forwarded contract; each key/value pair is consumed by lua_rawset.
    unsafe {
        match v {
            V::Int(n) => ffi::lua_pushinteger(l, *n),
            V::Str(s) => {
                ffi::lua_pushlstring(l, s.as_ptr().cast(), s.len());
            }
            V::Bool(b) => ffi::lua_pushboolean(l, c_int::from(*b)),
            V::Table(fields) => {
                ffi::lua_createtable(l, 0, fields.len() as c_int);
                for (k, v) in fields {
                    ffi::lua_pushlstring(l, k.as_ptr().cast(), k.len());
                    push_value(l, v);
                    ffi::lua_rawset(l, -3);
                }
            }
        }
    }
}

impl CallCtx {
    /// Pushes a built value (one slot).
    fn push_built(&mut self, v: &V) -> Result<(), LuaError> {
        self.reserve(8)?;
        let v: *const V = v;
        // SAFETY: the closure captures a pointer to `v`, which outlives the call, and holds
        // no value with a destructor (rule L1): what it reads is borrowed, what it pushes
        // is Lua's. Five slots cover the two levels of nesting; eight are reserved.
        unsafe { self.allocating(move |l| {
            push_value(l, &*v);
            1
        }) }
    }

    /// Argument 1 as a `StickTable` object (a table whose `[0]` is its reference).
    fn stk_ref(&mut self) -> Result<Arc<Table>, LuaError> {
        let l = self.raw();
        // SAFETY: lua_type never raises.
        if unsafe { ffi::lua_type(l, 1) } == ffi::LUA_TTABLE {
            self.reserve(1)?;
            // SAFETY: a raw read of a table never raises nor runs metamethods; one slot is
            // reserved; the reference is copied before the pop.
            let r = unsafe {
                ffi::lua_rawgeti(l, 1, 0);
                let top = ffi::lua_gettop(l);
                let r = userdata::check::<StkRef>(l, top, &STK).copied();
                ffi::lua_settop(l, top - 1);
                r
            };
            if let Some(t) = r.and_then(|r| crate::stick::tables().get(r.index).cloned()) {
                return Ok(t);
            }
        }
        Err(self.lua_type_error(1, "StickTable"))
    }
}

/// An entry's data as Lua fields.
/// An entry's data as Lua fields. An array shows as its name with its first element's
/// value, as HAProxy 2.6 gives it (`gpc`; the other elements are not visible to Lua).
fn data_fields(t: &Table, e: &crate::stick::table::Entry, now: u64) -> Vec<(String, V)> {
    let scalar = |v: &Value, period: u32| match v {
        Value::Str(s) => V::Str(s.clone()),
        Value::Rate(f) => V::Int(i64::from(f.read(now, period))),
        Value::Sint(x) => V::Int(i64::from(*x)),
        Value::Uint(x) => V::Int(i64::from(*x)),
        Value::Ull(x) => V::Int(*x as i64),
        Value::Array(_) => V::Int(0),
    };
    t.def
        .store
        .iter()
        .zip(&e.data.0)
        .map(|(s, v)| {
            let v = match v {
                Value::Array(a) => a.first().map_or(V::Int(0), |first| scalar(first, s.period)),
                v => scalar(v, s.period),
            };
            (s.ty.name().to_string(), v)
        })
        .collect()
}

/// `StickTable.info(t)`.
fn stk_info(ctx: &mut CallCtx) -> Result<c_int, LuaError> {
    let t = ctx.stk_ref()?;
    let d = &t.def;
    let used = t.lock(now_ms()).used();
    let length = match d.key {
        crate::stick::KeyType::String => d.key_len + 1,
        _ => d.key_len,
    };
    let data = d.store.iter().map(|s| (s.ty.name().to_string(), V::Int(if s.ty.is_rate() { i64::from(s.period) } else { -1 }))).collect();
    let info = V::Table(vec![
        ("type".into(), V::Str(d.key.name().into())),
        ("length".into(), V::Int(length as i64)),
        ("size".into(), V::Int(d.size as i64)),
        ("used".into(), V::Int(used as i64)),
        ("nopurge".into(), V::Bool(d.nopurge)),
        ("expire".into(), V::Int(d.expire.unwrap_or(0) as i64)),
        ("data".into(), V::Table(data)),
    ]);
    ctx.push_built(&info)?;
    Ok(1)
}

/// `StickTable.lookup(t, key)`: the entry, or nil.
fn stk_lookup(ctx: &mut CallCtx) -> Result<c_int, LuaError> {
    let t = ctx.stk_ref()?;
    let key = ctx.bytes(2)?;
    let now = now_ms();
    let found = t.def.key_of(crate::sample::Sample::Str(key)).and_then(|k| {
        let l = t.lock(now);
        let e = l.get(&k)?;
        let mut fields = data_fields(&t, e, now);
        let exp = if t.def.expire.is_some() { e.expire.saturating_sub(now) } else { 0 };
        fields.push(("expire".into(), V::Int(exp as i64)));
        fields.push(("use".into(), V::Int(i64::from(e.ref_cnt))));
        Some(V::Table(fields))
    });
    match found {
        Some(v) => ctx.push_built(&v)?,
        None => ctx.push_nil()?,
    }
    Ok(1)
}

/// `dump(t, col1, op1, val1, ...)` (world.lua flattens `dump(t, {{col, op, val}...})`):
/// `{key = data}`, or nil and HAProxy's message.
fn stk_dump(ctx: &mut CallCtx) -> Result<c_int, LuaError> {
    let t = ctx.stk_ref()?;
    let mut filters = Vec::new();
    let mut n = 2;
    while n + 2 <= ctx.nargs() {
        let entry = filters.len() + 1;
        let col = ctx.string(n)?;
        let Some(ty) = DataType::from_name(&col).filter(|ty| t.def.stores(*ty)) else {
            return fail(ctx, &format!("Filter table data column not present in stick table (entry #{entry})"));
        };
        let op = ctx.string(n + 1)?;
        let cmp: fn(i64, i64) -> bool = match op.as_str() {
            "eq" => |a, b| a == b,
            "ne" => |a, b| a != b,
            "le" => |a, b| a <= b,
            "ge" => |a, b| a >= b,
            "lt" => |a, b| a < b,
            "gt" => |a, b| a > b,
            _ => return fail(ctx, &format!("Unknown operator in filter table (entry #{entry})")),
        };
        let value = ctx.integer(n + 2)?;
        filters.push((ty, cmp, value));
        n += 3;
    }
    let now = now_ms();
    let entries = {
        let l = t.lock(now);
        let mut keys = l.keys();
        keys.sort();
        keys.iter()
            .filter_map(|k| {
                let e = l.get(k)?;
                let keep = filters.iter().all(|(ty, cmp, v)| e.read(&t.def, *ty, now).is_some_and(|x| cmp(x, *v)));
                keep.then(|| (t.def.key_text(k), V::Table(data_fields(&t, e, now))))
            })
            .collect()
    };
    ctx.push_built(&V::Table(entries))?;
    Ok(1)
}

fn fail(ctx: &mut CallCtx, msg: &str) -> Result<c_int, LuaError> {
    ctx.push_nil()?;
    ctx.push_str(msg)?;
    Ok(2)
}

/// `stktable(name)`: the reference of the table named `name`, or nil.
fn prim_stktable(ctx: &mut CallCtx) -> Result<c_int, LuaError> {
    let name = ctx.string(1)?;
    match crate::stick::tables().iter().position(|t| t.def.name == name) {
        Some(index) => ctx.push_userdata(&STK, StkRef { index })?,
        None => ctx.push_nil()?,
    }
    Ok(1)
}

pub static PRIM_STKTABLE: RustFunction = RustFunction::new("stktable", prim_stktable);
static STK_INFO: RustFunction = RustFunction::new("info", stk_info);
static STK_LOOKUP: RustFunction = RustFunction::new("lookup", stk_lookup);
pub static STK_DUMP: RustFunction = RustFunction::new("dump", stk_dump);

/// The methods `world.lua` puts in the class's `__index` (`dump` through its wrapper).
pub static METHODS: &[(&CStr, &RustFunction)] = &[(c"info", &STK_INFO), (c"lookup", &STK_LOOKUP)];
