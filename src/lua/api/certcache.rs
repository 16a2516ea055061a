//! The global `CertCache` class (HAProxy 2.6): `CertCache.set{filename=..., crt=...,
//! key=..., ocsp=..., issuer=..., sctl=...}` replaces a certificate loaded by a bind
//! line at run time, as the CLI's `set ssl cert` + `commit ssl cert` do in HAProxy
//! ([`crate::tls::cert_store`]). Messages are HAProxy's, raised without a position:
//!
//! - `'CertCache.set' needs a table as argument`, `No filename specified!`;
//! - `Can't replace a certificate which is not referenced by the configuration!`;
//! - `Unsupported field 'x'` (after the file name is found, as HAProxy checks);
//! - the certificate's own errors (`unable to load SSL private key into SSL Context
//!   '<file>'.` ...).
//!
//! Deviations: `crt` and `key` are taken together whatever order the table gives them
//! (HAProxy loads them in the table's order, a `crt` without key read after `key`
//! dropping it); `issuer` and `sctl` are accepted and not used (rustls has no SCT
//! list; OCSP responses are not fetched); the call never yields (HAProxy yields every
//! 10 rebuilt contexts) and works in every context.

use crate::lua::callback::{CallCtx, RustFunction};
use crate::lua::error::LuaError;
use crate::lua::state::State;
use std::os::raw::c_int;

static SET: RustFunction = RustFunction::new("set", certcache_set);

/// The class, in Lua over one Rust function: the table is read by plain Lua (no
/// metamethods run from Rust), which hands the fields over as arguments.
const CLASS_LUA: &str = r#"
local set = ...
local known = { filename = true, crt = true, key = true, ocsp = true, issuer = true, sctl = true }
CertCache = {
  set = function(t)
    if type(t) ~= "table" then error("'CertCache.set' needs a table as argument", 0) end
    if type(t.filename) ~= "string" then error("No filename specified!", 0) end
    local unsupported
    for k in pairs(t) do
      if not known[k] then unsupported = tostring(k) break end
    end
    return set(t.filename, t.crt, t.key, t.ocsp, unsupported)
  end,
}
"#;

/// Creates the global `CertCache`.
pub fn install(st: &State) -> Result<(), LuaError> {
    st.set_global_function("__moonproxy_certcache_set", &SET)?;
    let glue = format!(
        "local f = load({CLASS_LUA:?}, '=CertCache')
         local s = __moonproxy_certcache_set
         __moonproxy_certcache_set = nil
         f(s)"
    );
    st.exec(glue.as_bytes(), "=CertCache").map(|_| ())
}

/// An optional string argument.
fn optional(ctx: &CallCtx, n: c_int) -> Result<Option<Vec<u8>>, LuaError> {
    if ctx.type_name(n) == "nil" {
        return Ok(None);
    }
    ctx.bytes(n).map(Some)
}

/// `(filename, crt, key, ocsp, unsupported field)`: replaces the certificate, or
/// raises HAProxy's message.
fn certcache_set(ctx: &mut CallCtx) -> Result<c_int, LuaError> {
    let filename = ctx.string(1)?;
    let (crt, key, ocsp) = (optional(ctx, 2)?, optional(ctx, 3)?, optional(ctx, 4)?);
    let unsupported = optional(ctx, 5)?;
    if !crate::tls::cert_store::is_loaded(&filename) {
        return Err(LuaError::message("Can't replace a certificate which is not referenced by the configuration!"));
    }
    if let Some(field) = unsupported {
        return Err(LuaError::message(format!("Unsupported field '{}'", String::from_utf8_lossy(&field))));
    }
    let update = crate::tls::cert_store::Update { crt: crt.as_deref(), key: key.as_deref(), ocsp: ocsp.as_deref() };
    crate::tls::cert_store::replace(&filename, &update).map_err(LuaError::message)?;
    Ok(0)
}
