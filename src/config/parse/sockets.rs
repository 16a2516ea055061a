//! Socket tuning keywords: `clitcpka-cnt|idle|intvl`, `srvtcpka-cnt|idle|intvl` (proxy
//! sections) and `tune.rcvbuf.client|server`, `tune.sndbuf.client|server` (global).
//! The runtime applies them through `crate::sys::sockopt`.

use super::{Line, Parser};
use crate::config::model::TcpKeepalive;
use crate::config::units;
use std::time::Duration;

/// `clitcpka-cnt <n>` and `srvtcpka-cnt <n>`. As HAProxy, a negative count is accepted
/// (the kernel then refuses it and the default stays).
pub fn tcpka_cnt(p: &mut Parser, l: &Line) -> Result<(), String> {
    let kw = l.arg(0);
    let v = l.arg(1);
    if v.is_empty() {
        return Err(format!("'{kw}' expects an integer value"));
    }
    let digits = v.strip_prefix('-').unwrap_or(v);
    if let Some(c) = digits.chars().find(|c| !c.is_ascii_digit()) {
        return Err(format!("'{kw}' : unexpected character '{c}' in integer value '{v}'"));
    }
    let n: i64 = v.parse().unwrap_or(i64::MAX);
    probes(p, kw).cnt = u32::try_from(n).ok().filter(|&n| n > 0);
    Ok(())
}

/// `clitcpka-idle <time>`, `clitcpka-intvl <time>` and the `srvtcpka-` ones: a time
/// whose default unit is the second, rounded up to whole seconds (the kernel's unit).
pub fn tcpka_time(p: &mut Parser, l: &Line) -> Result<(), String> {
    let kw = l.arg(0);
    let v = l.arg(1);
    if v.is_empty() {
        return Err(format!("'{kw}' expects an integer value"));
    }
    let t = if v.bytes().all(|b| b.is_ascii_digit()) {
        Duration::from_secs(v.parse().map_err(|_| format!("timer overflow in argument '{v}' to <{kw}>"))?)
    } else {
        units::parse_time(v).map_err(|e| match e {
            units::UnitError::Unexpected(c) => format!("unexpected character '{c}' in argument to <{kw}>.\n"),
            e => units::time_error_message(&e, v, &format!("<{kw}>")),
        })?
    };
    let secs = Duration::from_secs(t.as_millis().div_ceil(1000) as u64);
    let ka = probes(p, kw);
    if kw.ends_with("-idle") {
        ka.idle = Some(secs);
    } else {
        ka.intvl = Some(secs);
    }
    Ok(())
}

fn probes<'p>(p: &'p mut Parser, kw: &str) -> &'p mut TcpKeepalive {
    let opts = &mut p.draft().proxy.options;
    if kw.starts_with("cli") { &mut opts.clitcpka_probes } else { &mut opts.srvtcpka_probes }
}

/// `tune.rcvbuf.client|server <bytes>`, `tune.sndbuf.client|server <bytes>`. HAProxy
/// reads the number with `atol` (leading digits; `10k` is 10), and 0 leaves the kernel's
/// default.
pub fn sockbuf(p: &mut Parser, l: &Line) -> Result<(), String> {
    let kw = l.arg(0);
    if l.arg(1).is_empty() {
        return Err(format!("'{kw}' expects an integer argument."));
    }
    let digits: String = l.arg(1).chars().take_while(char::is_ascii_digit).collect();
    let v = digits.parse::<u64>().map_or(0, |v| v.min(u64::from(i32::MAX as u32)) as u32);
    let t = &mut p.config.global.tuning;
    let slot = match kw {
        "tune.rcvbuf.client" => &mut t.rcvbuf_client,
        "tune.rcvbuf.server" => &mut t.rcvbuf_server,
        "tune.sndbuf.client" => &mut t.sndbuf_client,
        _ => &mut t.sndbuf_server,
    };
    *slot = Some(v).filter(|&v| v > 0);
    Ok(())
}
