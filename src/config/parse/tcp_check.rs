//! TCP health checks: `option tcp-check` and the `tcp-check` keyword.
//!
//! Both fill [`Proxy::tcp_check`](crate::config::model::Proxy::tcp_check), run by
//! `crate::backend::tcp_check::TcpProbe`. HAProxy 2.6 semantics:
//! - `option tcp-check` makes the servers' `check` run the rules; without rules it is
//!   a plain connect. Rules without the option are ignored, with HAProxy's warning
//!   (`checks.rs`).
//! - `tcp-check connect [port <n>] [linger] [comment <text>]` (as the first rule),
//!   `send <string>`, `send-binary <hex>`, `expect [min-recv <n>] [error-status <st>]
//!   [on-success <text>] [on-error <text>] [comment <text>] [!] string|rstring|binary|
//!   rbinary <pattern>`, `comment <text>`.
//! - Inheritance as for `http-check`: the rules of a `defaults` section are inherited
//!   by a proxy without rules of its own; its first own rule starts over.
//! - `option redis-check`, `smtpchk`, `pgsql-check`, `mysql-check`, `ldap-check` and
//!   `ssl-hello-chk` ([`option_protocol`]) set [`TcpCheck::protocol`], a predefined rule
//!   set (`crate::backend::proto_check`) that replaces the check: `tcp-check` rules
//!   beside it are ignored with HAProxy's warning, `option tcp-check` replaces it.
//!
//! Error messages are HAProxy's, word for word. Not done (refused as not supported):
//! `set-var`/`unset-var`, `send-lf`, `string-lf`/`binary-lf`, `connect send-proxy`
//! (and the other connection options), a `connect` after the first rule, log-format
//! `on-success`/`on-error` texts (with `%`), `ok-status`, `tout-status`, `status-code`.

use super::{Line, Parser};
use crate::config::keywords::Section;
use crate::config::model::{ProtocolCheck, TcpCheck, TcpCheckExpect, TcpCheckMatch, TcpCheckRule};

/// The check of the proxy being parsed, created on first use (see `http_check::check`).
fn check(p: &mut Parser, rule: bool) -> &mut TcpCheck {
    let in_defaults = p.draft().section == Section::Defaults;
    let tc = p.draft().proxy.tcp_check.get_or_insert_with(TcpCheck::default);
    if in_defaults {
        tc.inherited = true;
    } else if rule && tc.inherited {
        // A protocol check (`option redis-check`...) stays: it ignores rules, as in HAProxy.
        *tc = TcpCheck { enabled: tc.enabled, protocol: tc.protocol.take(), ..TcpCheck::default() };
    }
    tc
}

/// `option tcp-check` (the caller checked the section and the option's state).
pub fn option_tcp_check(p: &mut Parser, l: &Line, negate: bool) -> Result<(), String> {
    if negate {
        p.alert_directive(&l.loc, "negation/default is not supported for option 'tcp-check'.");
        return Ok(());
    }
    if let Some(extra) = l.args.get(2) {
        return Err(format!("'option tcp-check' cannot handle unexpected argument '{extra}'."));
    }
    let tc = check(p, false);
    tc.enabled = true;
    if tc.protocol.take().is_some() {
        tc.rules.clear();
    }
    Ok(())
}

/// The protocol checks, `option <name>` (the caller checked the section and the
/// option's state): `None` when `name` is not one of them.
///
/// Each replaces the proxy's health check, as the last `option ...-check` does in
/// HAProxy: an `option httpchk` before it in the same section (or inherited) is dropped.
pub fn option_protocol(p: &mut Parser, l: &Line, negate: bool, name: &str, args: &[String]) -> Option<Result<(), String>> {
    if !matches!(name, "redis-check" | "smtpchk" | "pgsql-check" | "mysql-check" | "ldap-check" | "ssl-hello-chk" | "spop-check") {
        return None;
    }
    if negate {
        p.alert_directive(&l.loc, format!("negation/default is not supported for option '{name}'."));
        return Some(Ok(()));
    }
    let protocol = match protocol_args(name, args) {
        Ok(protocol) => protocol,
        Err(e) => return Some(Err(e)),
    };
    let in_defaults = p.draft().section == Section::Defaults;
    let proxy = &mut p.draft().proxy;
    proxy.http_check = None;
    proxy.tcp_check = Some(TcpCheck { enabled: true, inherited: in_defaults, rules: Vec::new(), protocol: Some(protocol) });
    Some(Ok(()))
}

/// The arguments of a protocol check option (`args` start after its name), with
/// HAProxy's messages.
fn protocol_args(name: &str, args: &[String]) -> Result<ProtocolCheck, String> {
    let unexpected = |extra: &String| format!("'option {name}' cannot handle unexpected argument '{extra}'.");
    let protocol = match name {
        "redis-check" | "ldap-check" | "ssl-hello-chk" | "spop-check" => {
            if let Some(extra) = args.first() {
                return Err(unexpected(extra));
            }
            match name {
                "redis-check" => ProtocolCheck::Redis,
                "ldap-check" => ProtocolCheck::Ldap,
                "spop-check" => ProtocolCheck::Spop,
                _ => ProtocolCheck::SslHello,
            }
        }
        // Anything but `HELO|EHLO <domain>` means the default greeting, as in HAProxy.
        "smtpchk" => match args {
            [verb, domain, rest @ ..] if verb == "HELO" || verb == "EHLO" => {
                if let Some(extra) = rest.first() {
                    return Err(unexpected(extra));
                }
                ProtocolCheck::Smtp { hello: format!("{verb} {domain}") }
            }
            _ => ProtocolCheck::Smtp { hello: "HELO localhost".into() },
        },
        "pgsql-check" => match args {
            [] => return Err("'option pgsql-check' expects 'user <username>' as argument.".into()),
            [kw, ..] if kw != "user" => return Err("'option pgsql-check' only supports optional values: 'user'.".into()),
            [_] => return Err("'option pgsql-check' expects 'user <username>' as argument.".into()),
            [_, user, rest @ ..] => {
                if let Some(extra) = rest.first() {
                    return Err(unexpected(extra));
                }
                ProtocolCheck::Pgsql { user: user.clone() }
            }
        },
        _ => match args {
            [] => ProtocolCheck::Mysql { user: None, pre41: false },
            [kw, ..] if kw != "user" => return Err(format!("'option mysql-check' only supports optional values: 'user' (got '{kw}').")),
            [_] => return Err("'option mysql-check user' expects <username> as argument.".into()),
            [_, user, rest @ ..] => {
                let pre41 = match rest.first().map(String::as_str) {
                    None | Some("post-41") => false,
                    Some("pre-41") => true,
                    Some(other) => return Err(format!("keyword 'user' only supports 'post-41' and 'pre-41' (got '{other}').")),
                };
                if let Some(extra) = rest.get(1) {
                    return Err(unexpected(extra));
                }
                ProtocolCheck::Mysql { user: Some(user.clone()), pre41 }
            }
        },
    };
    Ok(protocol)
}

/// `tcp-check <action> ...`.
pub fn tcp_check(p: &mut Parser, l: &Line) -> Result<(), String> {
    let rule = match l.arg(1) {
        "comment" => match l.args.get(2) {
            Some(text) => TcpCheckRule::Comment(text.clone()),
            None => return Err("'tcp-check comment' : 'comment' expects a string as argument.".into()),
        },
        "connect" => connect(p, l)?,
        "send" | "send-binary" => send(l)?,
        "expect" => TcpCheckRule::Expect(expect(l)?),
        kw @ "send-lf" | kw @ "send-binary-lf" => return Err(super::not_supported(&format!("tcp-check {kw}"))),
        kw if kw.starts_with("set-var") || kw.starts_with("unset-var") => {
            return Err(super::not_supported(&format!("tcp-check {kw}")))
        }
        other => {
            return Err(format!(
                "'tcp-check' only supports 'comment', 'connect', 'send', 'send-binary', 'expect', 'set-var-fmt(*)', 'set-var(*)', 'unset-var(*)'. but got '{other}'"
            ))
        }
    };
    check(p, true).rules.push(rule);
    Ok(())
}

/// `connect [port <n>] [linger] [comment <text>]`, as the first rule.
fn connect(p: &mut Parser, l: &Line) -> Result<TcpCheckRule, String> {
    const CTX: &str = "'tcp-check connect'";
    let first = p.draft().proxy.tcp_check.as_ref().is_none_or(|tc| tc.inherited || tc.rules.iter().all(|r| matches!(r, TcpCheckRule::Comment(_))));
    if !first {
        return Err(super::not_supported("tcp-check connect after other rules"));
    }
    let mut port = None;
    let mut linger = false;
    let mut i = 2;
    while i < l.args.len() {
        match l.arg(i) {
            "port" => {
                port = Some(super::http_check::connect_port(CTX, l.args.get(i + 1))?);
                i += 2;
            }
            "linger" => {
                linger = true;
                i += 1;
            }
            "comment" => i += 2,
            other => return Err(super::not_supported(&format!("tcp-check connect {other}"))),
        }
    }
    Ok(TcpCheckRule::Connect { port, linger })
}

/// `send <string>` / `send-binary <hex>`.
fn send(l: &Line) -> Result<TcpCheckRule, String> {
    let kw = l.arg(1);
    let Some(data) = l.args.get(2) else {
        let what = if kw == "send" { "string" } else { "binary string" };
        return Err(format!("'tcp-check {kw}' : '{what}' expects a {kw} as argument."));
    };
    let mut i = 3;
    while let Some(opt) = l.args.get(i) {
        match opt.as_str() {
            "comment" if l.args.get(i + 1).is_some() => i += 2,
            "comment" => return Err(format!("'tcp-check {kw}' : 'comment' expects a string as argument.")),
            other => return Err(format!("'tcp-check {kw}' : expects 'comment' but got '{other}' as argument.")),
        }
    }
    let bytes = if kw == "send" { data.as_bytes().to_vec() } else { hex(data).map_err(|e| format!("'tcp-check {kw}' : '{data}' {e}."))? };
    Ok(TcpCheckRule::Send(bytes))
}

/// A `send-binary` or `binary` pattern.
fn hex(s: &str) -> Result<Vec<u8>, String> {
    if !s.len().is_multiple_of(2) {
        return Err("invalid binary string (an even number of hex digit is expected)".into());
    }
    if let Some(c) = s.chars().find(|c| !c.is_ascii_hexdigit()) {
        return Err(format!("invalid binary string (an hex digit is expected (found '{c}'))"));
    }
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).map_err(|e| e.to_string())).collect()
}

/// `expect [options] [!] <match> <pattern> [options]`.
fn expect(l: &Line) -> Result<TcpCheckExpect, String> {
    const CTX: &str = "'tcp-check expect'";
    let mut negate = false;
    let mut found: Option<(String, String)> = None;
    let mut e = TcpCheckExpect { negate: false, kind: TcpCheckMatch::String(Vec::new()), min_recv: None, error_status: None, on_success: None, on_error: None };
    let mut i = 2;
    while i < l.args.len() {
        let kw = l.arg(i);
        let value = l.args.get(i + 1);
        match kw {
            "!" => {
                negate = !negate;
                i += 1;
                continue;
            }
            "string" | "rstring" | "binary" | "rbinary" if found.is_none() => {
                let pattern = value.ok_or_else(|| format!("{CTX} : '{kw}' expects a <pattern> as argument."))?;
                found = Some((kw.to_string(), pattern.clone()));
            }
            "min-recv" => {
                let v = value.ok_or_else(|| format!("{CTX} : '{kw}' expects an integer as argument."))?;
                e.min_recv = Some(v.parse().map_err(|_| format!("{CTX} : '{kw}' expects an integer as argument."))?);
            }
            "error-status" => {
                let v = value.ok_or_else(|| format!("{CTX} : '{kw}' expects a string as argument."))?;
                if !matches!(v.as_str(), "L7RSP" | "L7STS" | "L6RSP" | "L4CON") {
                    return Err(format!("{CTX} : '{kw}' only supports 'L4CON', 'L6RSP', 'L7RSP' or 'L7STS' status (got '{v}').."));
                }
                e.error_status = Some(v.clone());
            }
            "on-success" | "on-error" => {
                let v = value.ok_or_else(|| format!("{CTX} : '{kw}' expects a log-format string as argument."))?;
                if v.contains('%') {
                    return Err(super::not_supported(&format!("tcp-check expect {kw} with a log-format")));
                }
                *(if kw == "on-success" { &mut e.on_success } else { &mut e.on_error }) = Some(v.clone());
            }
            "comment" => {
                value.ok_or_else(|| format!("{CTX} : '{kw}' expects a string as argument."))?;
            }
            "ok-status" | "tout-status" | "status-code" | "string-lf" | "binary-lf" => {
                return Err(super::not_supported(&format!("tcp-check expect {kw}")))
            }
            other => {
                return Err(format!(
                    "{CTX} : 'only supports min-recv, '[!]binary', '[!]string', '[!]rstring', '[!]string-lf''[!]rbinary', '[!]binary-lf' or comment but got '{other}' as argument.."
                ))
            }
        }
        i += 2;
    }
    let Some((kw, pattern)) = found else {
        return Err(format!("{CTX} : expects at least a matching pattern as arguments."));
    };
    let regex = |icase: bool| {
        crate::sample::regex::Regex::new(pattern.as_bytes(), icase)
            .map(|_| pattern.clone())
            .map_err(|e| format!("{CTX} : {e}."))
    };
    e.negate = negate;
    e.kind = match kw.as_str() {
        "string" => TcpCheckMatch::String(pattern.as_bytes().to_vec()),
        "binary" => TcpCheckMatch::Binary(hex(&pattern).map_err(|e| format!("{CTX} : {e}."))?),
        "rstring" => TcpCheckMatch::RString(regex(false)?),
        _ => TcpCheckMatch::RBinary(regex(true)?),
    };
    Ok(e)
}

#[cfg(test)]
mod tests {
    use super::hex;

    #[test]
    fn hex_strings() {
        assert_eq!(hex("2b504f4e47").unwrap(), b"+PONG");
        assert_eq!(hex("zz").unwrap_err(), "invalid binary string (an hex digit is expected (found 'z'))");
        assert!(hex("abc").is_err());
    }
}
