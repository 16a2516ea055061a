//! `cookie <name> [rewrite|insert|prefix] [indirect] [nocache] [postonly] [preserve]
//! [httponly] [secure] [domain <d>]* [attr <v>]*` (backends): cookie-based server
//! persistence, applied by `crate::http::persist`. The servers' `cookie <value>` is
//! read with the other `server` options (src/config/parse/server.rs).
//!
//! Errors and warnings are worded as HAProxy 2.6 words them. `dynamic` with
//! `dynamic-cookie-key <key>` gives the servers without a value one computed from the
//! key and their address.

use super::{proxy_type_name, Line, Parser};
use crate::config::diagnostic::Diagnostic;
use crate::config::model::{Config, CookieConf, CookieMode, Mode};
use crate::config::units;
use crate::diag::Severity;

/// HAProxy's list of the options, for an unknown one.
const USAGE: &str = "'cookie' supports 'rewrite', 'insert', 'prefix', 'indirect', 'nocache', 'postonly', 'domain', 'maxidle', 'dynamic', 'maxlife' and 'attr' options.";

pub fn cookie(p: &mut Parser, l: &Line) -> Result<(), String> {
    if l.arg(1).is_empty() {
        return Err("'cookie' expects <cookie_name> as argument.".into());
    }
    let mut c = CookieConf { name: l.arg(1).to_string(), location: Some(l.loc.clone()), ..CookieConf::default() };
    // The modes named, to report two of them given together.
    let mut modes = 0;
    let mut i = 2;
    while i < l.args.len() {
        let value = l.arg(i + 1);
        match l.arg(i) {
            "rewrite" => {
                c.mode = CookieMode::Rewrite;
                modes += 1;
            }
            "insert" => {
                c.mode = CookieMode::Insert;
                modes += 1;
            }
            "prefix" => {
                c.mode = CookieMode::Prefix;
                modes += 1;
            }
            "indirect" => c.indirect = true,
            "nocache" => c.nocache = true,
            "postonly" => c.postonly = true,
            "preserve" => c.preserve = true,
            "httponly" => c.httponly = true,
            "secure" => c.secure = true,
            "domain" => {
                if value.is_empty() {
                    p.alert_directive(&l.loc, "'domain' expects <domain> as argument.");
                    return Ok(());
                }
                c.domains.push(value.to_string());
                i += 1;
            }
            "attr" => {
                if value.is_empty() {
                    p.alert_directive(&l.loc, "'attr' expects <value> as argument.");
                    return Ok(());
                }
                if let Some(b) = value.bytes().find(|&b| b == b';' || b.is_ascii_control()) {
                    p.alert_directive(&l.loc, format!("character '%x{b:02X}' is not permitted in attribute value."));
                    return Ok(());
                }
                c.attrs.push(value.to_string());
                i += 1;
            }
            kw @ ("maxidle" | "maxlife") => {
                let what = if kw == "maxidle" { "idletime" } else { "lifetime" };
                if value.is_empty() {
                    p.alert_directive(&l.loc, format!("'{kw}' expects <{what}> in seconds as argument."));
                    return Ok(());
                }
                let Some(secs) = seconds(p, l, kw, value) else { return Ok(()) };
                if kw == "maxidle" {
                    c.maxidle = secs;
                } else {
                    c.maxlife = secs;
                }
                i += 1;
            }
            "dynamic" => c.dynamic = true,
            _ => return Err(USAGE.into()),
        }
        i += 1;
    }
    if modes > 1 {
        return Err("cookie 'rewrite', 'insert' and 'prefix' modes are incompatible.".into());
    }
    if c.mode == CookieMode::Rewrite && c.indirect {
        return Err("cookie 'rewrite' and 'indirect' modes are incompatible.".into());
    }
    if c.preserve && !c.indirect && c.mode != CookieMode::Insert {
        return Err("cookie 'preserve' requires at least 'insert' or 'indirect'.".into());
    }
    // Without a mode `c.mode` stays `Passive`: requests are directed by the cookie,
    // responses are left as the server made them.
    p.draft().proxy.cookie = Some(c);
    Ok(())
}

/// `dynamic-cookie-key <key>`.
pub fn dynamic_cookie_key(p: &mut Parser, l: &Line) -> Result<(), String> {
    if l.arg(1).is_empty() {
        return Err(format!("'{}' expects <key> as argument.", l.arg(0)));
    }
    p.draft().proxy.dynamic_cookie_key = Some(l.arg(1).to_string());
    Ok(())
}

/// A `maxidle`/`maxlife` time: seconds without a unit, HAProxy's time units otherwise.
fn seconds(p: &mut Parser, l: &Line, kw: &str, value: &str) -> Option<u32> {
    if let Ok(secs) = value.parse::<u32>() {
        return Some(secs);
    }
    match units::parse_time(value) {
        Ok(t) => Some(u32::try_from(t.as_secs()).unwrap_or(u32::MAX)),
        Err(units::UnitError::Unexpected(c)) => {
            p.alert_directive(&l.loc, format!("unexpected character '{c}' in argument to <{kw}>."));
            None
        }
        Err(e) => {
            p.alert_directive(&l.loc, units::time_error_message(&e, value, &format!("<{kw}>")));
            None
        }
    }
}

/// Post-parse: a persistence cookie, and the servers' cookie values, need HTTP mode.
pub fn check(config: &Config, diags: &mut Vec<Diagnostic>) {
    for p in config.proxies.iter().filter(|p| p.mode == Mode::Tcp && p.cap.backend) {
        let what = format!("{} '{}'", proxy_type_name(p.cap), p.name);
        if p.cookie.is_some() {
            diags.push(Diagnostic::plain(Severity::Warning, None, format!("cookie will be ignored for {what} (needs 'mode http').")));
        }
        for s in p.servers.iter().filter(|s| s.cookie.is_some()) {
            let msg = format!("{what} : ignoring cookie for server '{}' as HTTP mode is disabled.", s.name);
            diags.push(Diagnostic::plain(Severity::Warning, None, msg));
        }
    }
}
