//! Accept rate limits: `rate-limit sessions <n>` (frontends), `maxconnrate <n>` and
//! `maxsessrate <n>` (global). The listener side is `crate::listener::rate`.

use super::{Line, Parser};

/// `rate-limit sessions <n>`.
pub fn rate_limit(p: &mut Parser, l: &Line) -> Result<(), String> {
    if l.arg(1) != "sessions" {
        return Err(format!("'rate-limit' only supports 'sessions' (got '{}')", l.arg(1)));
    }
    let v = l.arg(2);
    if v.is_empty() {
        return Err("'rate-limit sessions' expects expects an integer value (in sessions/second)".into());
    }
    if let Some(c) = v.chars().find(|c| !c.is_ascii_digit()) {
        return Err(format!("'rate-limit sessions' : unexpected character '{c}' in integer value '{v}'"));
    }
    p.draft().proxy.rate_limit_sessions = Some(v.parse().unwrap_or(u32::MAX));
    Ok(())
}

/// `maxconnrate <n>` and `maxsessrate <n>`, read with `atol` as HAProxy does (`x` is 0,
/// no limit).
pub fn max_rate(p: &mut Parser, l: &Line) -> Result<(), String> {
    let kw = l.arg(0);
    if l.arg(1).is_empty() {
        return Err(format!("'{kw}' expects an integer argument."));
    }
    let digits: String = l.arg(1).chars().take_while(char::is_ascii_digit).collect();
    let v = Some(digits.parse::<u32>().unwrap_or(if digits.is_empty() { 0 } else { u32::MAX })).filter(|&v| v > 0);
    let t = &mut p.config.global.tuning;
    if kw == "maxconnrate" {
        t.maxconnrate = v;
    } else {
        t.maxsessrate = v;
    }
    Ok(())
}
