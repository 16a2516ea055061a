//! The Map class and the `core` functions that change pattern files:
//! `core.set_map`, `core.del_map`, `core.add_acl`, `core.del_acl`.
//!
//! A `Map` reads a map file through the process-wide pattern store
//! ([`crate::sample::map::patref`]), the same entries the `map*` converters of the
//! configuration read: a change made by `core.set_map` (or later the CLI) is seen by
//! both at their next lookup. HAProxy 2.6 semantics (compared with `haproxy` running the
//! same script):
//!
//! * `Map.new(file [, method])`: `method` is one of the constants (`Map._str` by
//!   default; `_int _ip _str _beg _sub _dir _dom _end _reg`, and the plain forms
//!   `Map.str`...); `found bool bin len regm` say `'new' doesn't support this match
//!   mode.`, other numbers `'new' needs a valid match method.`. A file that cannot be
//!   read: `'new': failed to open pattern file <f>.`. Once the process serves, 2.6
//!   refuses to load: `'new': map: cannot load map at runtime.` (so does moonproxy).
//! * `m:lookup(key)` gives the value as a string or nil; `m:slookup(key)` gives "" for
//!   nil. Both need exactly 2 arguments (`'lookup' needs 2 arguments`). The key of an
//!   `_int` map must be an integer (or a numeric string); 2.6 then says `bad argument
//!   #1 to 'lookup' (number expected, got string)`, moonproxy `#2`.
//! * `core.set_map(file, key, value)` sets the value of every entry with this key, or
//!   appends one; `core.del_map(file, key)` removes the entries with this key;
//!   `core.add_acl(file, pattern)` appends one; `core.del_acl(file, pattern)` removes
//!   them. They return nothing. The file must have been loaded (by the configuration or
//!   `Map.new`), else `'set_map': unknown map file '<f>'` (`'add_acl'`, `'del_acl'`:
//!   `unknown acl file`; 2.6 also says `acl` for `'del_map'`, reproduced).
//!
//! Deviations: a Map is a userdata (`type(m)` is `"userdata"`, HAProxy's is a table),
//! and a method called on something else says `bad argument #1 to 'lookup' (Map
//! expected, got nil)` where 2.6 says `bad argument #1 to '?' ((null))`. ACL pattern
//! files (`acl ... -f file`) are not in the store yet: `core.add_acl` reaches the files
//! maps and `Map.new` loaded, and says `unknown acl file` for the others.
use crate::lua::api::core::{core, Phase};
use crate::lua::callback::{self, CallCtx, RustFunction};
use crate::lua::error::LuaError;
use crate::lua::userdata::Class;
use crate::lua::{state, State};
use crate::sample::map::{patref, MapFile};
use crate::sample::matching::Method;
use crate::sample::{Sample, SampleType};
use lua54_sys as ffi;
use std::ffi::CStr;
use std::os::raw::c_int;
use std::sync::Arc;

/// The Map class.
pub static MAP: Class<Arc<MapFile>> = Class::new("Map", &[(c"lookup", &MAP_LOOKUP), (c"slookup", &MAP_SLOOKUP)]);

static MAP_NEW: RustFunction = RustFunction::new("new", map_new);
static MAP_LOOKUP: RustFunction = RustFunction::new("lookup", map_lookup);
static MAP_SLOOKUP: RustFunction = RustFunction::new("slookup", map_slookup);
static SET_MAP: RustFunction = RustFunction::new("set_map", set_map);
static DEL_MAP: RustFunction = RustFunction::new("del_map", del_map);
static ADD_ACL: RustFunction = RustFunction::new("add_acl", add_acl);
static DEL_ACL: RustFunction = RustFunction::new("del_acl", del_acl);

/// The `core` functions of this module.
pub fn core_functions() -> &'static [(&'static str, &'static RustFunction)] {
    &CORE_FUNCTIONS
}

static CORE_FUNCTIONS: [(&str, &RustFunction); 4] =
    [("set_map", &SET_MAP), ("del_map", &DEL_MAP), ("add_acl", &ADD_ACL), ("del_acl", &DEL_ACL)];

/// HAProxy 2.6's match method numbers (`PAT_MATCH_*`), as the Map constants give them.
const METHODS: [(&str, &CStr, &CStr, i64); 14] = [
    ("found", c"found", c"_found", 0),
    ("bool", c"bool", c"_bool", 1),
    ("int", c"int", c"_int", 2),
    ("ip", c"ip", c"_ip", 3),
    ("bin", c"bin", c"_bin", 4),
    ("len", c"len", c"_len", 5),
    ("str", c"str", c"_str", 6),
    ("beg", c"beg", c"_beg", 7),
    ("sub", c"sub", c"_sub", 8),
    ("dir", c"dir", c"_dir", 9),
    ("dom", c"dom", c"_dom", 10),
    ("end", c"end", c"_end", 11),
    ("reg", c"reg", c"_reg", 12),
    ("regm", c"regm", c"_regm", 13),
];

/// The method `Map.new` accepts for a constant, or its message.
fn method_of(n: i64) -> Result<Method, &'static str> {
    let (name, ..) = METHODS.iter().find(|m| m.3 == n).ok_or("'new' needs a valid match method.")?;
    match *name {
        "found" | "bool" | "bin" | "len" | "regm" => Err("'new' doesn't support this match mode."),
        name => Method::parse(name).ok_or("'new' doesn't support this match mode."),
    }
}

/// `Map.new(file [, method])`.
fn map_new(ctx: &mut CallCtx) -> Result<c_int, LuaError> {
    if ctx.nargs() < 1 {
        return Err(LuaError::runtime("'new' needs at least 1 argument."));
    }
    let file = String::from_utf8_lossy(&ctx.check_lstring(1)?).into_owned();
    let n = if ctx.nargs() >= 2 && ctx.type_name(2) != "nil" { ctx.integer(2)? } else { 6 };
    let method = method_of(n).map_err(LuaError::runtime)?;
    if core()?.phase.get() == Phase::Running {
        return Err(LuaError::runtime("'new': map: cannot load map at runtime."));
    }
    let map = MapFile::load(&file, method, SampleType::Str).map_err(|e| LuaError::runtime(format!("'new': {e}.")))?;
    ctx.push_userdata(&MAP, Arc::new(map))?;
    Ok(1)
}

/// The value for argument 2, if any.
fn lookup(ctx: &mut CallCtx, name: &str) -> Result<Option<Vec<u8>>, LuaError> {
    if ctx.nargs() != 2 {
        return Err(LuaError::runtime(format!("'{name}' needs 2 arguments")));
    }
    let map = ctx.check_self(&MAP)?.clone();
    // An `_int` map takes an integer key (a numeric string too), as in 2.6.
    let key = match map.method() {
        Method::Int => Sample::Sint(ctx.integer(2)?),
        _ => Sample::str(ctx.check_lstring(2)?),
    };
    Ok(map.lookup(key).map(|v| match v {
        Sample::Str(b) | Sample::Bin(b) => b,
        other => format!("{other:?}").into_bytes(),
    }))
}

fn map_lookup(ctx: &mut CallCtx) -> Result<c_int, LuaError> {
    match lookup(ctx, "lookup")? {
        Some(v) => ctx.push_bytes(&v)?,
        None => ctx.push_nil()?,
    }
    Ok(1)
}

fn map_slookup(ctx: &mut CallCtx) -> Result<c_int, LuaError> {
    let v = lookup(ctx, "slookup")?.unwrap_or_default();
    ctx.push_bytes(&v)?;
    Ok(1)
}

/// The pattern reference of argument 1, after checking the argument count.
fn pattern_ref(ctx: &CallCtx, name: &str, nargs: c_int, what: &str) -> Result<Arc<patref::PatRef>, LuaError> {
    if ctx.nargs() != nargs {
        return Err(LuaError::runtime(format!("'{name}' needs {nargs} arguments")));
    }
    let file = String::from_utf8_lossy(&ctx.check_lstring(1)?).into_owned();
    patref::store()
        .get(&file)
        .ok_or_else(|| LuaError::runtime(format!("'{name}': unknown {what} file '{file}'")))
}

fn key_arg(ctx: &CallCtx, n: c_int) -> Result<String, LuaError> {
    Ok(String::from_utf8_lossy(&ctx.check_lstring(n)?).into_owned())
}

fn set_map(ctx: &mut CallCtx) -> Result<c_int, LuaError> {
    let r = pattern_ref(ctx, "set_map", 3, "map")?;
    let (key, value) = (key_arg(ctx, 2)?, key_arg(ctx, 3)?);
    r.set_or_add(&key, &value);
    Ok(0)
}

fn del_map(ctx: &mut CallCtx) -> Result<c_int, LuaError> {
    let r = pattern_ref(ctx, "del_map", 2, "acl")?;
    r.delete(&key_arg(ctx, 2)?);
    Ok(0)
}

fn add_acl(ctx: &mut CallCtx) -> Result<c_int, LuaError> {
    let r = pattern_ref(ctx, "add_acl", 2, "acl")?;
    r.add(&key_arg(ctx, 2)?, None);
    Ok(0)
}

fn del_acl(ctx: &mut CallCtx) -> Result<c_int, LuaError> {
    let r = pattern_ref(ctx, "del_acl", 2, "acl")?;
    r.delete(&key_arg(ctx, 2)?);
    Ok(0)
}

/// Creates the global `Map`: `new` and the method constants (`_str` and `str`...).
pub fn install(st: &State) -> Result<(), LuaError> {
    // SAFETY: the main thread between calls; the closure captures nothing, holds only
    // Copy locals and runs under protection (rule L2); the table is consumed by
    // lua_setglobal, field names by lua_setfield.
    unsafe {
        state::protect(st.raw(), 0, 0, |l| {
            ffi::lua_createtable(l, 0, 2 * METHODS.len() as c_int + 1);
            callback::push_function(l, &MAP_NEW);
            ffi::lua_setfield(l, -2, c"new".as_ptr());
            for (_, plain, underscored, n) in METHODS {
                for key in [plain, underscored] {
                    ffi::lua_pushinteger(l, n);
                    ffi::lua_setfield(l, -2, key.as_ptr());
                }
            }
            ffi::lua_setglobal(l, c"Map".as_ptr());
            0
        })
    }
}
