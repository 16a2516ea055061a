//! `core.register_init`, `register_task` and the registrations the stream side will use
//! (`register_action`, `register_fetches`, `register_converters`, `register_service`,
//! `register_cli`), with HAProxy 2.6's argument checks and messages. The functions are kept
//! as registry references in [`Registered`], which the runtime can list.
use super::{core, Core, TaskSpec};
use crate::lua::{CallCtx, LuaError, RegistryRef, RustFunction, Value};
use lua54_sys as ffi;
use std::os::raw::c_int;

/// Where a Lua action may be used (`register_action`'s second argument).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ActionKind {
    TcpReq,
    TcpRes,
    HttpReq,
    HttpRes,
}

/// `core.register_action(name, {kinds}, fn [, nb_args])`: the keyword `lua.<name>`.
#[derive(Debug)]
pub struct ActionDef {
    pub name: String,
    pub kinds: Vec<ActionKind>,
    pub func: RegistryRef,
    /// Mandatory string arguments on the configuration line.
    pub nb_args: i64,
}

/// `core.register_fetches(name, fn)` / `register_converters(name, fn)`.
#[derive(Debug)]
pub struct FunctionDef {
    pub name: String,
    pub func: RegistryRef,
}

/// `core.register_service(name, "tcp"|"http", fn)`.
#[derive(Debug)]
pub struct ServiceDef {
    pub name: String,
    pub http: bool,
    pub func: RegistryRef,
}

/// `core.register_cli({words}, usage, fn)`.
#[derive(Debug)]
pub struct CliDef {
    pub words: Vec<String>,
    pub usage: String,
    pub func: RegistryRef,
}

/// Everything registered for the stream side, by kind. A second registration of a name
/// replaces the first, with HAProxy 2.6's warning.
#[derive(Debug, Default)]
pub struct Registered {
    pub actions: Vec<ActionDef>,
    pub fetches: Vec<FunctionDef>,
    pub converters: Vec<FunctionDef>,
    pub services: Vec<ServiceDef>,
    pub clis: Vec<CliDef>,
}

impl Registered {
    pub fn action(&self, name: &str) -> Option<&ActionDef> {
        self.actions.iter().find(|a| a.name == name)
    }
    pub fn fetch(&self, name: &str) -> Option<&FunctionDef> {
        self.fetches.iter().find(|a| a.name == name)
    }
    pub fn converter(&self, name: &str) -> Option<&FunctionDef> {
        self.converters.iter().find(|a| a.name == name)
    }
    pub fn service(&self, name: &str) -> Option<&ServiceDef> {
        self.services.iter().find(|a| a.name == name)
    }
}

/// Anchors argument `n` in the registry.
fn anchor(core: &Core, ctx: &mut CallCtx, n: c_int) -> Result<RegistryRef, LuaError> {
    ctx.reserve(1)?;
    let l = ctx.raw();
    // SAFETY: lua_pushvalue never raises (room reserved). from_top runs luaL_ref in a nested
    // lua_pcall, which is allowed inside a C function; it pops the copy.
    unsafe {
        ffi::lua_pushvalue(l, n);
        RegistryRef::from_top(&core.state, l)
    }
}

fn check_function(ctx: &CallCtx, n: c_int) -> Result<(), LuaError> {
    if ctx.type_name(n) == "function" {
        Ok(())
    } else {
        Err(ctx.arg_error(n, &format!("function expected, got {}", ctx.type_name(n))))
    }
}

/// The values of table argument `n` at 1..#t, if they all are strings (a non-table: `None`).
fn string_list(ctx: &mut CallCtx, n: c_int) -> Result<Option<Vec<String>>, LuaError> {
    if ctx.type_name(n) != "table" {
        return Ok(None);
    }
    ctx.reserve(1)?;
    let l = ctx.raw();
    // SAFETY: lua_rawlen, lua_rawgeti (no metamethod, no allocation), read_value and lua_pop
    // never raise; one slot reserved.
    unsafe {
        let len = ffi::lua_rawlen(l, n) as i64;
        let mut out = Vec::new();
        for i in 1..=len {
            ffi::lua_rawgeti(l, n, i);
            let v = crate::lua::state::read_value(l, -1);
            ffi::lua_pop(l, 1);
            match v {
                Value::String(b) => out.push(String::from_utf8_lossy(&b).into_owned()),
                _ => return Ok(None),
            }
        }
        Ok(Some(out))
    }
}

fn warn_twice(core: &Core, what: &str, name: &str) {
    let msg = format!(
        "Trying to register {what} 'lua.{name}' more than once. This will become a hard error in version 2.5."
    );
    crate::warning!("config : {msg}");
    core.warnings.borrow_mut().push(msg);
}

fn register_init(ctx: &mut CallCtx) -> Result<c_int, LuaError> {
    if ctx.nargs() != 1 {
        return Err(LuaError::runtime("'register_init' needs 1 arguments"));
    }
    check_function(ctx, 1)?;
    let core = core()?;
    let f = anchor(&core, ctx, 1)?;
    core.inits.borrow_mut().push(f);
    Ok(0)
}

/// `core.register_task(fn [, args...])`: the arguments (HAProxy 2.8) are passed to `fn`.
fn register_task(ctx: &mut CallCtx) -> Result<c_int, LuaError> {
    if ctx.nargs() < 1 {
        return Err(LuaError::runtime(
            "'register_task' needs at least 1 argument",
        ));
    }
    check_function(ctx, 1)?;
    let core = core()?;
    let func = anchor(&core, ctx, 1)?;
    let mut args = Vec::new();
    for n in 2..=ctx.nargs() {
        args.push(anchor(&core, ctx, n)?);
    }
    core.new_tasks.borrow_mut().push(TaskSpec { func, args });
    Ok(0)
}

fn register_action(ctx: &mut CallCtx) -> Result<c_int, LuaError> {
    if !(3..=4).contains(&ctx.nargs()) {
        return Err(LuaError::runtime(
            "'register_action' needs between 3 and 4 arguments",
        ));
    }
    let name = ctx.string(1)?;
    let Some(words) = string_list(ctx, 2)? else {
        return Err(LuaError::runtime(
            "register_action: second argument must be a table of strings",
        ));
    };
    check_function(ctx, 3)?;
    let nb_args = if ctx.nargs() == 4 { ctx.integer(4)? } else { 0 };
    let mut kinds = Vec::new();
    for w in &words {
        kinds.push(match w.as_str() {
            "tcp-req" => ActionKind::TcpReq,
            "tcp-res" => ActionKind::TcpRes,
            "http-req" => ActionKind::HttpReq,
            "http-res" => ActionKind::HttpRes,
            other => {
                return Err(LuaError::runtime(format!(
                    "Lua action environment '{other}' is unknown. 'tcp-req', 'tcp-res', 'http-req' or 'http-res' are expected."
                )))
            }
        });
    }
    let core = core()?;
    let func = anchor(&core, ctx, 3)?;
    let mut reg = core.registered.borrow_mut();
    if let Some(i) = reg.actions.iter().position(|a| a.name == name) {
        warn_twice(&core, "action", &name);
        reg.actions.remove(i);
    }
    reg.actions.push(ActionDef {
        name,
        kinds,
        func,
        nb_args,
    });
    Ok(0)
}

/// `register_fetches` and `register_converters`: `(name, fn)`.
fn register_named(ctx: &mut CallCtx, what: &str, fetch: bool) -> Result<c_int, LuaError> {
    if ctx.nargs() != 2 {
        return Err(LuaError::runtime(format!(
            "'{}' needs 2 arguments",
            ctx.name()
        )));
    }
    let name = ctx.string(1)?;
    check_function(ctx, 2)?;
    let core = core()?;
    let func = anchor(&core, ctx, 2)?;
    let mut reg = core.registered.borrow_mut();
    let list = if fetch {
        &mut reg.fetches
    } else {
        &mut reg.converters
    };
    if let Some(i) = list.iter().position(|a| a.name == name) {
        list.remove(i);
        warn_twice(&core, what, &name);
    }
    list.push(FunctionDef { name, func });
    Ok(0)
}

fn register_service(ctx: &mut CallCtx) -> Result<c_int, LuaError> {
    if ctx.nargs() != 3 {
        return Err(LuaError::runtime("'register_service' needs 3 arguments"));
    }
    let name = ctx.string(1)?;
    let env = ctx.string(2)?;
    check_function(ctx, 3)?;
    let http = match env.as_str() {
        "tcp" => false,
        "http" => true,
        other => {
            return Err(LuaError::runtime(format!(
                "Lua service environment '{other}' is unknown. 'tcp' or 'http' are expected."
            )))
        }
    };
    let core = core()?;
    let func = anchor(&core, ctx, 3)?;
    let mut reg = core.registered.borrow_mut();
    if let Some(i) = reg.services.iter().position(|a| a.name == name) {
        reg.services.remove(i);
        warn_twice(&core, "service", &name);
    }
    reg.services.push(ServiceDef { name, http, func });
    Ok(0)
}

/// `core.register_cli({words}, usage, fn)`: up to 5 words.
fn register_cli(ctx: &mut CallCtx) -> Result<c_int, LuaError> {
    if ctx.nargs() != 3 {
        return Err(LuaError::runtime("'register_cli' needs 3 arguments"));
    }
    let Some(words) = string_list(ctx, 1)? else {
        return Err(if ctx.type_name(1) == "table" {
            ctx.arg_error(1, "table of strings expected")
        } else {
            ctx.arg_error(1, "1st argument must be a table")
        });
    };
    if words.len() > 5 {
        return Err(ctx.arg_error(1, "table size exceed the maximum allowed (5)"));
    }
    let usage = ctx.string(2)?;
    check_function(ctx, 3)?;
    let core = core()?;
    let func = anchor(&core, ctx, 3)?;
    let mut reg = core.registered.borrow_mut();
    if let Some(i) = reg.clis.iter().position(|c| c.words == words) {
        reg.clis.remove(i);
        warn_twice(&core, "CLI keyword", &words.join(" "));
    }
    reg.clis.push(CliDef { words, usage, func });
    Ok(0)
}

pub static REGISTER_INIT: RustFunction = RustFunction::new("register_init", register_init);
pub static REGISTER_TASK: RustFunction = RustFunction::new("register_task", register_task);
pub static REGISTER_ACTION: RustFunction = RustFunction::new("register_action", register_action);
pub static REGISTER_FETCHES: RustFunction = RustFunction::new("register_fetches", |c| {
    register_named(c, "sample-fetch", true)
});
pub static REGISTER_CONVERTERS: RustFunction = RustFunction::new("register_converters", |c| {
    register_named(c, "converter", false)
});
pub static REGISTER_SERVICE: RustFunction = RustFunction::new("register_service", register_service);
pub static REGISTER_CLI: RustFunction = RustFunction::new("register_cli", register_cli);
