//! Keyword parsers of the `global` section about the process itself: `chroot`,
//! `user`/`uid`, `group`/`gid`, `ulimit-n`, `strict-limits` and `cpu-map`. They fill
//! [`ProcessSettings`](crate::config::model::ProcessSettings); `crate::sys::privs` and
//! `crate::sys::affinity` act on it at start-up. Messages are HAProxy 2.6's, including its
//! non-fatal "already specified" alerts.

use super::{expect_args, Line, Parser};
use crate::config::diagnostic::Diagnostic;
use crate::sys::privs;
use std::path::PathBuf;

/// Thread (and process) numbers go from 1 to this (HAProxy's `LONGBITS`).
const MAX_THREADS: u32 = 64;
/// CPU numbers go from 0 to this.
const MAX_CPU: usize = 1023;
/// The upper bound of an open CPU range (`0-`), as HAProxy's `LONGBITS - 1`.
const OPEN_CPU_RANGE_END: usize = 63;

/// An alert that does not make the configuration invalid: HAProxy reports a repeated
/// keyword this way and keeps the first value.
fn alert_continuing(p: &mut Parser, l: &Line, msg: &str) {
    p.diags.push(Diagnostic::alert(&l.loc, msg));
}

pub fn chroot(p: &mut Parser, l: &Line) -> Result<(), String> {
    expect_args_at_most(l, 1)?;
    if p.config.global.process.chroot.is_some() {
        alert_continuing(p, l, "'chroot' already specified. Continuing.");
        return Ok(());
    }
    if l.arg(1).is_empty() {
        return Err("'chroot' expects a directory as an argument.".into());
    }
    p.config.global.process.chroot = Some(PathBuf::from(l.arg(1)));
    Ok(())
}

pub fn user(p: &mut Parser, l: &Line) -> Result<(), String> {
    expect_args_at_most(l, 1)?;
    if p.config.global.process.uid.is_some() {
        alert_continuing(p, l, "user/uid already specified. Continuing.");
        return Ok(());
    }
    let uid = privs::user_id(l.arg(1)).map_err(|e| format!("cannot find user id for '{}' ({e})", l.arg(1)))?;
    p.config.global.process.uid = (uid != 0).then_some(uid);
    Ok(())
}

pub fn group(p: &mut Parser, l: &Line) -> Result<(), String> {
    expect_args_at_most(l, 1)?;
    if p.config.global.process.gid.is_some() {
        alert_continuing(p, l, "group/gid already specified. Continuing.");
        return Ok(());
    }
    let gid = privs::group_id(l.arg(1)).map_err(|e| format!("cannot find group id for '{}' ({e})", l.arg(1)))?;
    p.config.global.process.gid = (gid != 0).then_some(gid);
    Ok(())
}

pub fn uid(p: &mut Parser, l: &Line) -> Result<(), String> {
    expect_args_at_most(l, 1)?;
    if p.config.global.process.uid.is_some() {
        alert_continuing(p, l, "user/uid already specified. Continuing.");
        return Ok(());
    }
    p.config.global.process.uid = numeric_id(p, l, "user")?;
    Ok(())
}

pub fn gid(p: &mut Parser, l: &Line) -> Result<(), String> {
    expect_args_at_most(l, 1)?;
    if p.config.global.process.gid.is_some() {
        alert_continuing(p, l, "group/gid already specified. Continuing.");
        return Ok(());
    }
    p.config.global.process.gid = numeric_id(p, l, "group")?;
    Ok(())
}

/// The number of `uid <n>` / `gid <n>`: a C `int` as HAProxy reads it (so `-1` is accepted
/// and kept as the id 4294967295). Not a number is only a warning; 0 leaves the id unset.
fn numeric_id(p: &mut Parser, l: &Line, by_name: &str) -> Result<Option<u32>, String> {
    let a = l.arg(1);
    if a.is_empty() {
        return Err(format!("'{}' expects an integer argument.", l.arg(0)));
    }
    match a.parse::<i32>() {
        Ok(n) => Ok((n != 0).then_some(n as u32)),
        Err(_) => {
            p.warn(
                &l.loc,
                format!(
                    " {}: string '{a}' is not a number.\n   | You might want to use the '{by_name}' parameter to use a system {by_name} name.",
                    l.arg(0)
                ),
            );
            Ok(None)
        }
    }
}

pub fn ulimit_n(p: &mut Parser, l: &Line) -> Result<(), String> {
    expect_args_at_most(l, 1)?;
    if p.config.global.process.ulimit_n.is_some() {
        alert_continuing(p, l, "'ulimit-n' already specified. Continuing.");
        return Ok(());
    }
    if l.arg(1).is_empty() {
        return Err("'ulimit-n' expects an integer argument.".into());
    }
    // C's atol, as HAProxy: leading digits, anything else is 0, and 0 means "computed".
    let digits: String = l.arg(1).chars().take_while(char::is_ascii_digit).collect();
    let n = digits.parse::<u64>().unwrap_or(if digits.is_empty() { 0 } else { u64::MAX });
    p.config.global.process.ulimit_n = (n != 0).then_some(n);
    Ok(())
}

/// `strict-limits` and `no strict-limits`.
pub fn strict_limits(p: &mut Parser, l: &Line) -> Result<(), String> {
    let negated = l.arg(0) == "no";
    let extra = if negated { 2 } else { 1 };
    if l.args.len() > extra {
        return Err(format!("'strict-limits' cannot handle unexpected argument '{}'.", l.arg(extra)));
    }
    p.config.global.process.strict_limits = Some(!negated);
    Ok(())
}

/// `cpu-map [auto:]<process-set>[/<thread-set>] <cpu-set>...`, resolved into the per-thread
/// table of [`ProcessSettings::cpu_map`](crate::config::model::ProcessSettings::cpu_map).
/// Only process 1 exists: a line for other processes is accepted and ignored, and a lone
/// process set means all of its threads.
pub fn cpu_map(p: &mut Parser, l: &Line) -> Result<(), String> {
    if l.args.len() < 3 {
        return Err("cpu-map expects a process number  ('all', 'odd', 'even', a number from 1 to 64 or a range),  \
                    followed by a list of CPU ranges with numbers from 0 to 63."
            .into());
    }
    let spec = l.arg(1);
    let (auto, spec) = match spec.strip_prefix("auto:") {
        Some(rest) => (true, rest),
        None => (false, spec),
    };
    let (procs, threads) = match spec.split_once('/') {
        Some((proc, thread)) => (number_set(proc)?, Some(number_set(thread)?)),
        None => (number_set(spec)?, None),
    };
    let mut cpus = Vec::new();
    for a in &l.args[2..] {
        cpus.extend(cpu_range(a)?);
    }
    cpus.sort_unstable();
    cpus.dedup();
    if auto {
        let proc_range = procs.len() > 1;
        let thread_range = threads.as_ref().is_some_and(|t| t.len() > 1);
        let n = if thread_range { threads.as_ref().map_or(0, Vec::len) } else { procs.len() };
        // A set of one CPU for a thread range is accepted (all those threads share it),
        // as HAProxy 2.6 accepts it.
        let single_cpu_for_threads = thread_range && cpus.len() == 1;
        if (proc_range && thread_range) || (n != cpus.len() && !single_cpu_for_threads) {
            return Err("cpu-map : PROC/THREAD range and CPU sets must have the same size to be automatically bound".into());
        }
    }
    if !procs.contains(&1) {
        return Ok(()); // another process: none exists
    }
    let threads = threads.unwrap_or_else(|| (1..=MAX_THREADS).collect());
    let map = &mut p.config.global.process.cpu_map;
    for (i, t) in threads.into_iter().enumerate() {
        let set = if auto && cpus.len() > 1 { vec![cpus[i]] } else { cpus.clone() };
        map.insert(t, set);
    }
    Ok(())
}

/// A process or thread set: `all`, `odd`, `even`, `N`, `N-`, `N-M` (either order),
/// numbers from 1 to 64; ascending.
fn number_set(s: &str) -> Result<Vec<u32>, String> {
    let all = 1..=MAX_THREADS;
    match s {
        "all" => return Ok(all.collect()),
        "odd" => return Ok(all.filter(|n| n % 2 == 1).collect()),
        "even" => return Ok(all.filter(|n| n % 2 == 0).collect()),
        _ => {}
    }
    let out_of_range = || format!("cpu-map : '{s}' is not a valid number/range. It supports numbers from 1 to 64.");
    let not_a_range = || format!("cpu-map : '{s}' is not a valid number/range.");
    if s.is_empty() || s.starts_with('-') {
        return Err(out_of_range());
    }
    let (lo, hi) = match s.split_once('-') {
        Some((lo, "")) => (lo, MAX_THREADS.to_string()),
        Some((lo, hi)) => (lo, hi.to_string()),
        None => (s, s.to_string()),
    };
    let number = |t: &str| -> Result<u32, String> {
        if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
            return Err(not_a_range());
        }
        match t.parse::<u32>() {
            Ok(n @ 1..=MAX_THREADS) => Ok(n),
            _ => Err(out_of_range()),
        }
    };
    let (a, b) = (number(lo)?, number(&hi)?);
    Ok((a.min(b)..=a.max(b)).collect())
}

/// One CPU range: `N`, `N-` (up to 63) or `N-M` (either order), CPUs 0 to 1023.
fn cpu_range(s: &str) -> Result<Vec<usize>, String> {
    let not_a_range = || format!("cpu-map : '{s}' is not a CPU range.");
    let number = |t: &str| -> Result<usize, String> {
        if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
            return Err(not_a_range());
        }
        match t.parse::<usize>() {
            Ok(n) if n <= MAX_CPU => Ok(n),
            _ => Err("cpu-map : supports CPU numbers from 0 to 1023.".into()),
        }
    };
    let (a, b) = match s.split_once('-') {
        Some((lo, "")) => (number(lo)?, OPEN_CPU_RANGE_END),
        Some((lo, hi)) => (number(lo)?, number(hi)?),
        None => (number(s)?, number(s)?),
    };
    Ok((a.min(b)..=a.max(b)).collect())
}

/// HAProxy's "too many arguments" check for keywords taking at most `n` arguments (a
/// missing one is reported by the keyword with its own words).
fn expect_args_at_most(l: &Line, n: usize) -> Result<(), String> {
    if l.args.len() > n + 1 {
        return expect_args(l, n, "");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn number_sets() {
        assert_eq!(number_set("1").unwrap(), vec![1]);
        assert_eq!(number_set("3-1").unwrap(), vec![1, 2, 3]);
        assert_eq!(number_set("63-").unwrap(), vec![63, 64]);
        assert_eq!(number_set("even").unwrap().len(), 32);
        assert!(number_set("0").unwrap_err().ends_with("It supports numbers from 1 to 64."));
        assert_eq!(number_set("x").unwrap_err(), "cpu-map : 'x' is not a valid number/range.");
        assert_eq!(number_set("1,2").unwrap_err(), "cpu-map : '1,2' is not a valid number/range.");
    }

    #[test]
    fn cpu_ranges() {
        assert_eq!(cpu_range("2").unwrap(), vec![2]);
        assert_eq!(cpu_range("3-1").unwrap(), vec![1, 2, 3]);
        assert_eq!(cpu_range("60-").unwrap(), vec![60, 61, 62, 63]);
        assert_eq!(cpu_range("-2").unwrap_err(), "cpu-map : '-2' is not a CPU range.");
        assert_eq!(cpu_range("1024").unwrap_err(), "cpu-map : supports CPU numbers from 0 to 1023.");
    }
}
