//! Starting a `program` section's command (the master watches it: `super::Master`).

use crate::config::model::Program;
use std::os::unix::process::CommandExt;
use std::process::Command;

/// Starts `conf`'s command as its `user`/`group`, without a shell; returns its pid.
/// The master reaps it with its workers (`crate::sys::process::reap`), so the
/// `Child` handle is not kept.
pub fn spawn(conf: &Program) -> std::io::Result<i32> {
    let Some((prog, args)) = conf.command.split_first() else {
        return Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, "no command"));
    };
    let mut cmd = Command::new(prog);
    cmd.args(args);
    let lookup = |e: crate::sys::privs::LookupError| std::io::Error::other(e.to_string());
    if let Some(group) = &conf.group {
        cmd.gid(crate::sys::privs::group_id(group).map_err(lookup)?);
    }
    if let Some(user) = &conf.user {
        cmd.uid(crate::sys::privs::user_id(user).map_err(lookup)?);
    }
    let child = cmd.spawn()?;
    Ok(child.id() as i32)
}
