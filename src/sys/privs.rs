//! `ulimit-n` and the file-descriptor arithmetic behind an automatic `maxconn`; `chroot`,
//! `group`/`gid` and `user`/`uid`: what the process does to itself between binding its
//! listeners and serving, in HAProxy's order and with HAProxy's messages.
//!
//! Start-up ([`crate::runtime`]) calls [`fd_limits`] once the listeners are open (their
//! number is part of the budget), then, after the pidfile is written, [`drop_privileges`].
//! Listening sockets survive both, so a process started as root can bind port 80 and then
//! serve as an unprivileged user inside an empty directory.
//!
//! The name lookups used by the configuration parser ([`user_id`], [`group_id`]) live here
//! too, with every other libc call of this job.

use crate::config::model::{Config, ProcessSettings};
use crate::{alert, warning};
use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;

/// Start-up must stop: the reason was printed as an alert (exit code 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refused;

/// File descriptors HAProxy 2.6 keeps in reserve besides those it counts one by one (for the
/// standard streams, log sockets and the like). Measured: `maxsock` minus everything else.
const FD_RESERVE: u64 = 10;
/// The lowest `maxconn` computed from the fd limit (HAProxy's floor).
const MIN_IDEAL_MAXCONN: u64 = 100;
/// The highest `maxconn` computed from the fd limit, whatever the limit.
const MAX_IDEAL_MAXCONN: u64 = 1_000_000;

/// The file descriptors a process needs besides its connections, counted as HAProxy counts
/// them, so `maxconn`, `maxsock` and the messages about them carry the same numbers:
/// one per listener, one per health-checked server, one per stats socket plus its
/// `stats maxconn` sessions, three per thread (the poller and a wake-up pipe) and
/// [`FD_RESERVE`]. Each connection takes two (client and server side).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FdBudget {
    /// Everything but the connections.
    pub fixed: u64,
}

impl FdBudget {
    /// The budget of `config` once `listeners` frontend listening sockets are open.
    pub fn of(config: &Config, listeners: usize) -> FdBudget {
        let g = &config.global;
        let checks = config.backends().flat_map(|p| &p.servers).filter(|s| s.check.is_some()).count();
        let cli = g.stats_sockets.len() as u64 * (1 + u64::from(g.stats_maxconn));
        let threads = u64::from(g.nbthread.max(1));
        FdBudget { fixed: FD_RESERVE + listeners as u64 + checks as u64 + cli + 3 * threads }
    }

    /// `maxsock`: the descriptors `maxconn` connections need with everything else.
    pub fn maxsock(&self, maxconn: u32) -> u64 {
        2 * u64::from(maxconn) + self.fixed
    }

    /// The `maxconn` that fits in `fd_limit` descriptors, at least 100.
    pub fn ideal_maxconn(&self, fd_limit: u64) -> u32 {
        let fit = fd_limit.saturating_sub(self.fixed) / 2;
        fit.clamp(MIN_IDEAL_MAXCONN, MAX_IDEAL_MAXCONN) as u32
    }
}

/// Sets the file-descriptor limit and returns the global `maxconn`.
///
/// As HAProxy 2.6: with no `maxconn`, it is computed from the larger of the soft and hard
/// limits the process was started with; the soft limit is then raised (never lowered) to
/// `ulimit-n`, or to `maxsock` when `ulimit-n` is not set. With `strict-limits` (HAProxy's
/// default), a limit that cannot be raised, or that stays below `maxsock`, is an alert and
/// start-up fails ([`Refused`]); with `no strict-limits`, the limit is raised as far as the
/// hard limit allows, the first case is a warning and the second an alert, and start-up
/// goes on.
pub fn fd_limits(config: &Config, listeners: usize) -> Result<u32, Refused> {
    let budget = FdBudget::of(config, listeners);
    let strict = config.global.process.strict_limits.unwrap_or(true);
    let prog = env!("CARGO_PKG_NAME");
    let (cur, max) = nofile_limit().unwrap_or((1024, 1024));
    let maxconn = config.global.maxconn.unwrap_or_else(|| budget.ideal_maxconn(cur.max(max)));
    let maxsock = budget.maxsock(maxconn);
    let wanted = config.global.process.ulimit_n.unwrap_or(maxsock);
    let current = || nofile_limit().map_or(cur, |(c, _)| c);
    if cur < wanted && set_nofile_limit(wanted, max.max(wanted)).is_err() {
        if strict {
            alert!("[{prog}.main()] Cannot raise FD limit to {wanted}, limit is {}.", current());
            return Err(Refused);
        }
        let _ = set_nofile_limit(max, max); // as far as allowed
        warning!("[{prog}.main()] Cannot raise FD limit to {wanted}, limit is {}.", current());
    }
    let now = current();
    if now < maxsock {
        alert!(
            "[{prog}.main()] FD limit ({now}) too low for maxconn={maxconn}/maxsock={maxsock}. \
             Please raise 'ulimit-n' to {maxsock} or more to avoid any trouble."
        );
        if strict {
            return Err(Refused);
        }
    }
    Ok(maxconn)
}

/// `chroot`, then the supplementary groups and `gid`, then `uid`, as HAProxy does them
/// after writing the pidfile. A step that fails is an alert and start-up fails ([`Refused`]);
/// clearing the supplementary groups is only warned about, as HAProxy does.
pub fn drop_privileges(settings: &ProcessSettings) -> Result<(), Refused> {
    let prog = env!("CARGO_PKG_NAME");
    if let Some(dir) = &settings.chroot {
        if chroot(dir).is_err() {
            alert!("[{prog}.main()] Cannot chroot({}).", dir.display());
            return Err(Refused);
        }
    }
    if let Some(gid) = settings.gid {
        if has_supplementary_groups() && clear_supplementary_groups().is_err() {
            warning!(
                "[{prog}.main()] Failed to drop supplementary groups. Using 'gid'/'group' \
                 without 'uid'/'user' is generally useless."
            );
        }
        // SAFETY: setgid takes a plain integer and touches no memory of ours; glibc
        // applies it to every thread of the process.
        if unsafe { libc::setgid(gid) } != 0 {
            alert!("[{prog}.main()] Cannot set gid {}.", gid as i32);
            return Err(Refused);
        }
    }
    if let Some(uid) = settings.uid {
        // SAFETY: as setgid above.
        if unsafe { libc::setuid(uid) } != 0 {
            alert!("[{prog}.main()] Cannot set uid {}.", uid as i32);
            return Err(Refused);
        }
    }
    Ok(())
}

/// The soft and hard `RLIMIT_NOFILE`.
pub fn nofile_limit() -> io::Result<(u64, u64)> {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: `lim` is a valid rlimit for getrlimit to fill.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok((lim.rlim_cur, lim.rlim_max))
}

/// Sets the soft and hard `RLIMIT_NOFILE` (raising the hard one needs `CAP_SYS_RESOURCE`).
pub fn set_nofile_limit(soft: u64, hard: u64) -> io::Result<()> {
    let lim = libc::rlimit { rlim_cur: soft, rlim_max: hard };
    // SAFETY: `lim` is a valid rlimit that setrlimit only reads.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// `chroot(dir)` then `chdir("/")`, so no directory outside the jail stays reachable.
fn chroot(dir: &std::path::Path) -> io::Result<()> {
    let path = CString::new(dir.as_os_str().as_bytes()).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    // SAFETY: `path` and the literal are NUL-terminated strings that outlive the calls.
    let rc = unsafe {
        if libc::chroot(path.as_ptr()) != 0 {
            -1
        } else {
            libc::chdir(c"/".as_ptr())
        }
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn has_supplementary_groups() -> bool {
    // SAFETY: with a size of 0, getgroups only returns the count and writes nothing.
    unsafe { libc::getgroups(0, std::ptr::null_mut()) > 0 }
}

fn clear_supplementary_groups() -> io::Result<()> {
    // SAFETY: an empty list: setgroups reads nothing through the null pointer.
    if unsafe { libc::setgroups(0, std::ptr::null()) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Why a user or group name did not resolve, in HAProxy's words: `errno:strerror`, which
/// is `0:Success` for a name that does not exist.
#[derive(Debug)]
pub struct LookupError(i32);

impl std::fmt::Display for LookupError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let text = if self.0 == 0 { "Success".to_string() } else { io::Error::from_raw_os_error(self.0).to_string() };
        // `io::Error`'s text ends with " (os error N)": HAProxy prints strerror alone.
        let text = text.split(" (os error").next().unwrap_or_default();
        write!(f, "{}:{text}", self.0)
    }
}

/// The uid of the user `name` (`getpwnam`).
pub fn user_id(name: &str) -> Result<u32, LookupError> {
    let name = CString::new(name).map_err(|_| LookupError(0))?;
    let mut buf = vec![0 as libc::c_char; 16 * 1024];
    // SAFETY: zeroed `passwd` is a valid out-parameter (pointers null, integers 0).
    let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
    let mut found: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: every pointer is valid for the call: the name is NUL-terminated, `buf` has
    // the length given, `pwd` and `found` are out-parameters the call fills.
    let rc = unsafe { libc::getpwnam_r(name.as_ptr(), &mut pwd, buf.as_mut_ptr(), buf.len(), &mut found) };
    if found.is_null() {
        return Err(LookupError(rc));
    }
    Ok(pwd.pw_uid)
}

/// The gid of the group `name` (`getgrnam`).
pub fn group_id(name: &str) -> Result<u32, LookupError> {
    let name = CString::new(name).map_err(|_| LookupError(0))?;
    let mut buf = vec![0 as libc::c_char; 64 * 1024];
    // SAFETY: zeroed `group` is a valid out-parameter (pointers null, integers 0).
    let mut grp: libc::group = unsafe { std::mem::zeroed() };
    let mut found: *mut libc::group = std::ptr::null_mut();
    // SAFETY: as in `user_id`.
    let rc = unsafe { libc::getgrnam_r(name.as_ptr(), &mut grp, buf.as_mut_ptr(), buf.len(), &mut found) };
    if found.is_null() {
        return Err(LookupError(rc));
    }
    Ok(grp.gr_gid)
}

/// The real uid of this process.
pub fn current_uid() -> u32 {
    // SAFETY: getuid cannot fail and touches no memory.
    unsafe { libc::getuid() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_matches_haproxy_figures() {
        // Measured on HAProxy 2.6 with nbthread 1: one bind and a stats socket (10
        // sessions) give maxsock 225 for maxconn 100, and 487 connections fit in 1000 fds.
        let config = Config::default();
        let b = FdBudget { fixed: FD_RESERVE + 1 + 11 + 3 };
        assert_eq!(b.maxsock(100), 225);
        assert_eq!(b.ideal_maxconn(1000), 487);
        assert_eq!(b.ideal_maxconn(100), 100, "never below 100");
        assert_eq!(FdBudget::of(&config, 1), FdBudget { fixed: 14 });
    }

    #[test]
    fn names_resolve_like_getent() {
        assert_eq!(user_id("root").unwrap(), 0);
        assert_eq!(group_id("root").unwrap(), 0);
        assert_eq!(user_id("no-such-user-here").unwrap_err().to_string(), "0:Success");
        assert_eq!(group_id("no-such-group-here").unwrap_err().to_string(), "0:Success");
    }
}
