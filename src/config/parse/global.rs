//! Keyword parsers of the `global` section.

use super::{expect_args, u32_arg, Line, Parser};
use crate::config::units;
use std::path::PathBuf;

pub fn daemon(p: &mut Parser, l: &Line) -> Result<(), String> {
    expect_args(l, 0, "no argument")?;
    p.config.global.daemon = true;
    Ok(())
}

pub fn quiet(p: &mut Parser, l: &Line) -> Result<(), String> {
    expect_args(l, 0, "no argument")?;
    p.config.global.quiet = true;
    Ok(())
}

pub fn pidfile(p: &mut Parser, l: &Line) -> Result<(), String> {
    if l.arg(1).is_empty() {
        return Err("'pidfile' expects a file name as an argument.".into());
    }
    expect_args(l, 1, "a file name as an argument")?;
    if p.config.global.pidfile.is_some() {
        p.warn(&l.loc, "'pidfile' already specified. Continuing.");
        return Ok(());
    }
    p.config.global.pidfile = Some(PathBuf::from(l.arg(1)));
    Ok(())
}

pub fn nbthread(p: &mut Parser, l: &Line) -> Result<(), String> {
    expect_args(l, 1, "an integer argument")?;
    let n = u32_arg(l, 1, "nbthread")?;
    // HAProxy 2.6's limit (MAX_THREADS on 64-bit builds); each thread is a reactor.
    if !(1..=64).contains(&n) {
        return Err(format!("'nbthread' value must be between 1 and 64 (was {n})"));
    }
    p.config.global.nbthread = n;
    Ok(())
}

pub fn maxconn(p: &mut Parser, l: &Line) -> Result<(), String> {
    expect_args(l, 1, "an integer argument")?;
    p.config.global.maxconn = Some(u32_arg(l, 1, "maxconn")?);
    Ok(())
}

pub fn hard_stop_after(p: &mut Parser, l: &Line) -> Result<(), String> {
    if l.arg(1).is_empty() {
        return Err("'hard-stop-after' expects <time> as argument.".into());
    }
    expect_args(l, 1, "<time> as argument")?;
    let t = units::parse_time(l.arg(1)).map_err(|e| match e {
        units::UnitError::Unexpected(c) => {
            format!("unexpected character '{c}' in argument to <hard-stop-after>.")
        }
        e => units::time_error_message(&e, l.arg(1), "'hard-stop-after'"),
    })?;
    p.config.global.hard_stop_after = Some(t);
    Ok(())
}

pub fn log(p: &mut Parser, l: &Line) -> Result<(), String> {
    if l.arg(1) == "global" {
        return Err("log : 'global' is not supported for a global syslog server".into());
    }
    let target = super::log::parse_log_target(&l.args[1..], &l.loc)?;
    p.config.global.logs.push(target);
    Ok(())
}

pub fn log_tag(p: &mut Parser, l: &Line) -> Result<(), String> {
    if l.arg(1).is_empty() {
        return Err("'log-tag' expects a tag for use in syslog.".into());
    }
    expect_args(l, 1, "a tag for use in syslog")?;
    p.config.global.log_tag = Some(l.arg(1).to_string());
    Ok(())
}

pub fn log_send_hostname(p: &mut Parser, l: &Line) -> Result<(), String> {
    if l.args.len() > 2 {
        return Err(format!(
            "'log-send-hostname' cannot handle unexpected argument '{}'.",
            l.arg(2)
        ));
    }
    let name = match l.args.get(1) {
        Some(n) => n.clone(),
        None => crate::log::target::system_hostname().to_string(),
    };
    p.config.global.log_send_hostname = Some(name);
    Ok(())
}

pub fn node(p: &mut Parser, l: &Line) -> Result<(), String> {
    if l.arg(1).is_empty() {
        return Err("'node' expects a name.".into());
    }
    expect_args(l, 1, "a name")?;
    p.config.global.node = Some(l.arg(1).to_string());
    Ok(())
}

pub fn localpeer(p: &mut Parser, l: &Line) -> Result<(), String> {
    if l.arg(1).is_empty() {
        return Err("'localpeer' expects a name as an argument.".into());
    }
    expect_args(l, 1, "a name")?;
    p.config.global.localpeer = Some(l.arg(1).to_string());
    p.env.set("HAPROXY_LOCALPEER", l.arg(1));
    Ok(())
}

pub fn bufsize(p: &mut Parser, l: &Line) -> Result<(), String> {
    expect_args(l, 1, "an integer argument")?;
    let v = units::parse_size(l.arg(1))
        .map_err(|e| units::size_error_message(&e, l.arg(1), "'tune.bufsize'"))?;
    if v < 1024 {
        return Err(format!(
            "'tune.bufsize' : value '{}' is too small (minimum 1024).",
            l.arg(1)
        ));
    }
    p.config.global.bufsize = v as usize;
    Ok(())
}

pub fn http_maxhdr(p: &mut Parser, l: &Line) -> Result<(), String> {
    expect_args(l, 1, "an integer argument")?;
    match l.arg(1).parse::<usize>() {
        Ok(n @ 1..=32767) => {
            p.config.global.http_maxhdr = n;
            Ok(())
        }
        _ => Err("'tune.http.maxhdr' expects a numeric value between 1 and 32767".into()),
    }
}

pub fn maxaccept(p: &mut Parser, l: &Line) -> Result<(), String> {
    expect_args(l, 1, "an integer argument")?;
    // HAProxy: -1 means unlimited.
    p.config.global.maxaccept = if l.arg(1) == "-1" {
        u32::MAX
    } else {
        u32_arg(l, 1, "tune.maxaccept")?
    };
    Ok(())
}

pub fn setenv(p: &mut Parser, l: &Line) -> Result<(), String> {
    if l.args.len() != 3 {
        p.alert_directive(&l.loc, "'setenv' expects a name and a value.");
        return Ok(());
    }
    p.env.set(l.arg(1), l.arg(2));
    Ok(())
}

pub fn presetenv(p: &mut Parser, l: &Line) -> Result<(), String> {
    if l.args.len() != 3 {
        p.alert_directive(&l.loc, "'presetenv' expects a name and a value.");
        return Ok(());
    }
    p.env.preset(l.arg(1), l.arg(2));
    Ok(())
}

pub fn unsetenv(p: &mut Parser, l: &Line) -> Result<(), String> {
    if l.args.len() < 2 {
        p.alert_directive(&l.loc, "'unsetenv' expects at least one variable name.");
        return Ok(());
    }
    for name in &l.args[1..] {
        p.env.unset(name);
    }
    Ok(())
}

pub fn resetenv(p: &mut Parser, l: &Line) -> Result<(), String> {
    let keep = l.args[1..].to_vec();
    p.env.reset(&keep);
    Ok(())
}
