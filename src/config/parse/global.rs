//! Keyword parsers of the `global` section.

use super::{expect_args, u32_arg, Line, Parser};
use crate::config::units;
use std::path::PathBuf;

pub fn daemon(p: &mut Parser, l: &Line) -> Result<(), String> {
    expect_args(l, 0, "no argument")?;
    p.config.global.daemon = true;
    Ok(())
}

pub fn noreuseport(p: &mut Parser, l: &Line) -> Result<(), String> {
    expect_args(l, 0, "no argument")?;
    p.config.global.noreuseport = true;
    Ok(())
}

pub fn quiet(p: &mut Parser, l: &Line) -> Result<(), String> {
    expect_args(l, 0, "no argument")?;
    p.config.global.quiet = true;
    Ok(())
}

/// `master-worker [no-exit-on-failure]`.
pub fn master_worker(p: &mut Parser, l: &Line) -> Result<(), String> {
    // HAProxy counts the arguments first.
    if l.args.len() > 2 {
        return Err(format!("'master-worker' cannot handle unexpected argument '{}'.", l.arg(2)));
    }
    match l.arg(1) {
        "" => {}
        "no-exit-on-failure" => p.config.global.master_worker_no_exit_on_failure = true,
        _ => return Err("'master-worker' only supports 'no-exit-on-failure' option.".into()),
    }
    p.config.global.master_worker = true;
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

/// The TLS defaults of `global` (`ca-base`, `crt-base`, `ssl-default-bind-*`,
/// `tune.ssl.*`...): stock configurations (Debian's `haproxy.cfg`) set them whether or
/// not anything uses TLS. moonproxy has no TLS yet and refuses `ssl` on `bind` and
/// `server` lines, so these can only be recorded (for when it has), after HAProxy's
/// check that the value is there.
pub fn tls_default(p: &mut Parser, l: &Line) -> Result<(), String> {
    let kw = l.arg(0);
    let needs_value = match kw {
        "ca-base" => Some("global statement 'ca-base' expects a directory path as an argument."),
        "crt-base" => Some("global statement 'crt-base' expects a directory path as an argument."),
        "issuers-chain-path" => Some("global statement 'issuers-chain-path' expects a directory path as an argument."),
        "ssl-default-bind-ciphers" => Some("global statement 'ssl-default-bind-ciphers' expects a cipher suite as an argument."),
        "ssl-default-bind-ciphersuites" => Some("global statement 'ssl-default-bind-ciphersuites' expects a cipher suite as an argument."),
        "ssl-default-bind-curves" => Some("global statement 'ssl-default-bind-curves' expects a curves suite as an arguments."),
        "ssl-default-bind-options" => Some("global statement 'ssl-default-bind-options' expects an option as an argument."),
        "ssl-default-server-ciphers" => Some("global statement 'ssl-default-server-ciphers' expects a cipher suite as an argument."),
        "ssl-default-server-ciphersuites" => Some("global statement 'ssl-default-server-ciphersuites' expects a cipher suite as an argument."),
        "ssl-default-server-options" => Some("global statement 'ssl-default-server-options' expects an option as an argument."),
        "ssl-dh-param-file" => Some("'ssl-dh-param-file' expects a file path as an argument."),
        "ssl-server-verify" => Some("'ssl-server-verify' expects an integer argument."),
        "ssl-skip-self-issued-ca" => None,
        "tune.ssl.cachesize" => Some("'tune.ssl.cachesize' expects an integer argument."),
        "tune.ssl.default-dh-param" => Some("'tune.ssl.default-dh-param' expects an integer argument."),
        "tune.ssl.force-private-cache" => None,
        "tune.ssl.lifetime" => Some("'tune.ssl.lifetime' expects ssl sessions <lifetime> in seconds as argument."),
        "tune.ssl.maxrecord" => Some("'tune.ssl.maxrecord' expects an integer argument."),
        _ => None,
    };
    if let Some(msg) = needs_value.filter(|_| l.arg(1).is_empty()) {
        return Err(msg.to_string());
    }
    crate::tls::parse::check_global_line(kw, &l.args[1..])?;
    p.config.global.tls_defaults.push((kw.to_string(), l.args[1..].to_vec()));
    Ok(())
}

/// `profiling.tasks on|auto|off`: the start-up mode `set profiling tasks` changes.
pub fn profiling_tasks(p: &mut Parser, l: &Line) -> Result<(), String> {
    use crate::stats::activity::TasksMode;
    p.config.global.profiling_tasks = match l.arg(1) {
        "on" => TasksMode::On,
        "auto" => TasksMode::Auto,
        "off" => TasksMode::Off,
        v => return Err(format!("'{}' expects either 'on', 'auto', or 'off' but got '{v}'.", l.arg(0))),
    };
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
