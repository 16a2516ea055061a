//! Keyword parsers of the `global` section.

use super::{atoi, expect_args, u32_arg, Line, Parser};
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
/// not anything uses TLS. They are checked as HAProxy checks them and recorded; bind and
/// server lines read them back through `crate::tls::parse::GlobalTls`.
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
    if p.localpeer_from_cli {
        p.warn(&l.loc, "'localpeer' ignored since it is already set by using the '-L' command line argument.");
        return Ok(());
    }
    if !p.config.peers.is_empty() {
        p.warn(&l.loc, "'localpeer' ignored since it is used after 'peers' section.");
        return Ok(());
    }
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

// ---- keywords HAProxy 2.6 has for features moonproxy does otherwise --------------------
//
// Each checks its arguments as HAProxy 2.6 does, so that a configuration `haproxy -c`
// accepts is accepted here and one it refuses is refused with the same message. What
// moonproxy does with each is in `doc/config.md` (the notes of `keywords.rs`).


/// The value of `<kw> <integer>` read as HAProxy reads it (`'<kw>' expects an integer
/// argument.` when missing, extra arguments refused).
fn int_value(l: &Line) -> Result<i64, String> {
    expect_args(l, 1, "an integer argument")?;
    Ok(atoi(l.arg(1)))
}

/// Records a keyword that is accepted with no effect (see its `keywords.rs` note).
fn no_effect(p: &mut Parser, l: &Line) {
    p.config.global.tuning.no_effect.push((l.arg(0).to_string(), l.args[1..].to_vec()));
}

/// `maxsslconn <n>` / `maxsslrate <n>`: limits on the `ssl` listeners
/// (`crate::listener::rate`).
pub fn ssl_limit(p: &mut Parser, l: &Line) -> Result<(), String> {
    let v = int_value(l)?;
    // HAProxy checks only `maxsslconn`; a negative `maxsslrate` is no limit.
    if v < 0 && l.arg(0) == "maxsslconn" {
        return Err(format!("'{}' expects a positive numeric value.", l.arg(0)));
    }
    let v = Some(v.clamp(0, i64::from(u32::MAX)) as u32).filter(|&v| v > 0);
    match l.arg(0) {
        "maxsslconn" => p.config.global.tuning.maxsslconn = v,
        _ => p.config.global.tuning.maxsslrate = v,
    }
    Ok(())
}

/// `mworker-max-reloads <n>`. HAProxy 2.6 only warns about a missing value.
pub fn mworker_max_reloads(p: &mut Parser, l: &Line) -> Result<(), String> {
    if l.arg(1).is_empty() {
        p.warn(&l.loc, "'mworker-max-reloads' expects an integer argument.");
        return Ok(());
    }
    let v = int_value(l)?;
    p.config.global.tuning.mworker_max_reloads = Some(v.clamp(0, i64::from(u32::MAX)) as u32);
    Ok(())
}

/// Keywords without arguments that moonproxy accepts: `pp2-never-send-local` and the
/// ones with no effect (pollers, NUMA, HTTP/2 ...).
pub fn flag(p: &mut Parser, l: &Line) -> Result<(), String> {
    expect_args(l, 0, "no argument")?;
    match l.arg(0) {
        "pp2-never-send-local" => p.config.global.tuning.pp2_never_send_local = true,
        "h1-accept-payload-with-any-method" => p.config.global.tuning.h1_accept_payload_with_any_method = true,
        _ => no_effect(p, l),
    }
    Ok(())
}

/// Integer tuning keywords accepted with no effect, with HAProxy 2.6's checks.
pub fn tune_int(p: &mut Parser, l: &Line) -> Result<(), String> {
    let kw = l.arg(0);
    let range = |lo: i64, hi: i64| -> Result<(), String> {
        let v = l.arg(1).parse::<i64>().unwrap_or(-1);
        if l.args.len() > 2 || !(lo..=hi).contains(&v) {
            return Err(format!("'{kw}' expects a numeric value between {lo} and {hi}."));
        }
        Ok(())
    };
    let t = &mut p.config.global.tuning;
    match kw {
        "tune.h2.header-table-size" => {
            range(4096, 65536)?;
            t.h2_header_table_size = Some(atoi(l.arg(1)) as u32);
            return Ok(());
        }
        "tune.h2.max-frame-size" => {
            range(16384, 16_777_215)?;
            t.h2_max_frame_size = Some(atoi(l.arg(1)) as u32);
            return Ok(());
        }
        // HAProxy reads these two with atoi and no check at all (0 streams: its
        // default; a window above 2^31-1 would break the protocol: clamped).
        "tune.h2.initial-window-size" => {
            t.h2_initial_window_size = Some(atoi(l.arg(1)).clamp(0, (1 << 31) - 1) as u32);
            return Ok(());
        }
        "tune.h2.max-concurrent-streams" => {
            t.h2_max_concurrent_streams = Some(atoi(l.arg(1)).clamp(0, i64::from(u32::MAX)) as u32).filter(|&v| v > 0);
            return Ok(());
        }
        // HAProxy reads these with atoi (a word is 0) and checks the range.
        "tune.pool-high-fd-ratio" | "tune.pool-low-fd-ratio" => {
            let v = atoi(l.arg(1));
            if l.arg(1).is_empty() || !(0..=100).contains(&v) {
                return Err(format!("'{kw}' expects an integer argument between 0 and 100."));
            }
            if kw == "tune.pool-high-fd-ratio" {
                t.pool_high_fd_ratio = Some(v as u32);
                return Ok(());
            }
        }
        "tune.fail-alloc" => {
            if !l.arg(1).is_empty() {
                range(0, 100)?;
            }
        }
        "tune.peers.max-updates-at-once" => {
            if l.args.len() > 2 || atoi(l.arg(1)) <= 0 {
                return Err(format!("'{kw}' expects an integer argument greater than 0."));
            }
        }
        // maxpipes, tune.pipesize, tune.buffers.*,
        // tune.ssl.ssl-ctx-cache-size.
        _ => {
            int_value(l)?;
        }
    }
    no_effect(p, l);
    Ok(())
}

/// `tune.listener.multi-queue on|off`: accepted, no effect.
pub fn on_off(p: &mut Parser, l: &Line) -> Result<(), String> {
    if !matches!(l.arg(1), "on" | "off") {
        return Err(format!("'{}' expects either 'on' or 'off' but got '{}'.", l.arg(0), l.arg(1)));
    }
    expect_args(l, 1, "either 'on' or 'off'")?;
    no_effect(p, l);
    Ok(())
}

/// `thread-groups <n>`: moonproxy has one group of threads, as an HAProxy 2.6 build
/// without thread groups (MAX_TGROUPS 1), so only 1 is valid.
pub fn thread_groups(p: &mut Parser, l: &Line) -> Result<(), String> {
    let Ok(n) = l.arg(1).parse::<i64>() else {
        return Err(format!("'thread-groups' passed a missing or unparsable integer value in '{}'", l.arg(1)));
    };
    if n != 1 {
        return Err(format!("'thread-groups' value must be between 1 and 1 (was {n})"));
    }
    no_effect(p, l);
    Ok(())
}

/// `thread-group <n> [<threads>...]`: group 1 only, which holds every thread.
pub fn thread_group(p: &mut Parser, l: &Line) -> Result<(), String> {
    let Ok(n) = l.arg(1).parse::<i64>() else {
        return Err(format!("'thread-group' passed a missing or unparsable integer value in '{}'", l.arg(1)));
    };
    if n != 1 {
        return Err(format!("'thread-group' thread-group number must be between 1 and 1 (was {n})"));
    }
    no_effect(p, l);
    Ok(())
}

/// `default-path current|config|parent|origin <dir>`. moonproxy resolves relative paths
/// from the working directory, which is `current`; the other modes are refused rather
/// than silently not applied.
pub fn default_path(p: &mut Parser, l: &Line) -> Result<(), String> {
    let modes = "supported modes include 'current', 'config', 'parent', and 'origin'.";
    match l.arg(1) {
        "" => return Err(format!("missing default-path mode '' for 'default-path', {modes}")),
        "origin" if l.arg(2).is_empty() => return Err("'default-path origin' expects a directory as an argument.".into()),
        "current" => {
            expect_args(l, 1, "a mode")?;
            no_effect(p, l);
            return Ok(());
        }
        "config" | "parent" | "origin" => {}
        m => return Err(format!("unsupported default-path mode '{m}' for 'default-path', {modes}")),
    }
    Err(format!("'default-path {}' is not supported by moonproxy yet (relative paths are relative to the working directory, as with 'current').", l.arg(1)))
}

/// `httpclient.resolvers.id <section>`: checked after parsing ([`check`]).
pub fn httpclient_resolvers(p: &mut Parser, l: &Line) -> Result<(), String> {
    if l.arg(0) == "httpclient.resolvers.prefer" {
        if !matches!(l.arg(1), "ipv4" | "ipv6") {
            return Err("'httpclient.resolvers.prefer' expects 'ipv4' or 'ipv6' as argument.".into());
        }
        p.config.global.tuning.httpclient_resolvers_prefer = Some(l.arg(1).to_string());
    } else {
        p.config.global.tuning.httpclient_resolvers_id = Some(l.arg(1).to_string());
    }
    Ok(())
}

/// `cluster-secret <secret>` (QUIC retry tokens in HAProxy): accepted, no effect.
pub fn cluster_secret(p: &mut Parser, l: &Line) -> Result<(), String> {
    if l.arg(1).is_empty() {
        return Err("expects an ASCII string argument.".into());
    }
    no_effect(p, l);
    Ok(())
}

/// The OpenSSL-specific keywords (`ssl-provider`, `ssl-propquery`, `ssl-load-extra-*`,
/// ...): rustls has nothing they could select, so they are accepted after HAProxy's
/// argument checks and have no effect; a configuration written for HAProxy then still
/// loads.
pub fn openssl_only(p: &mut Parser, l: &Line) -> Result<(), String> {
    let kw = l.arg(0);
    let missing = match kw {
        "ssl-propquery" => Some("global statement 'ssl-propquery' expects a property string as an argument."),
        "ssl-provider" => Some("global statement 'ssl-provider' expects a valid engine provider name as an argument."),
        "ssl-provider-path" => Some("global statement 'ssl-provider-path' expects a directory path as an argument."),
        _ => None,
    };
    if let Some(msg) = missing.filter(|_| l.arg(1).is_empty()) {
        return Err(msg.into());
    }
    if kw == "ssl-load-extra-files" {
        const KINDS: [&str; 7] = ["none", "all", "bundle", "sctl", "ocsp", "issuer", "key"];
        if l.args.len() < 2 || l.args[1..].iter().any(|a| !KINDS.contains(&a.as_str())) {
            return Err("'ssl-load-extra-files' expects one or multiple arguments (none, all, bundle, sctl, ocsp, issuer).".into());
        }
    }
    no_effect(p, l);
    Ok(())
}

/// Keywords of optional HAProxy modules that Debian's HAProxy 2.6 is built without
/// (`debug` and `trace` are not in 2.6 at all): refused with the message such a build
/// gives.
pub fn not_built_in(_: &mut Parser, l: &Line) -> Result<(), String> {
    use crate::config::keywords::{suggest, GLOBAL};
    // HAProxy suggests among the keywords it has, so not among these.
    const ABSENT: [&str; 6] = ["51degrees-data-file", "debug", "deviceatlas-json-file", "ssl-engine", "trace", "wurfl-data-file"];
    let known = GLOBAL.iter().map(|k| k.name).filter(|n| !ABSENT.contains(n));
    let hint = suggest(l.arg(0), known).map(|s| format!("; did you mean '{s}' maybe ?")).unwrap_or_default();
    Err(format!("unknown keyword '{}' in 'global' section{hint}", l.arg(0)))
}

/// The checks of these keywords that need the whole configuration.
pub fn check(config: &crate::config::model::Config, diags: &mut Vec<crate::config::Diagnostic>) {
    if let Some(id) = &config.global.tuning.httpclient_resolvers_id {
        if !config.resolvers.iter().any(|r| &r.name == id) {
            let text = format!("Proxy '<HTTPCLIENT>': Can't find resolvers section '{id}' for do-resolve action.");
            diags.push(crate::config::Diagnostic::plain(crate::diag::Severity::Alert, None, text));
        }
    }
}
