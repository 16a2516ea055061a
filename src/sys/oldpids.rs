//! Signals to the processes a reload replaces (`-sf` / `-st`).

/// Sends `sig` to each of `pids`; returns how many were reached (a pid already gone
/// is skipped, as HAProxy skips it).
pub fn tell_old_pids(pids: &[i32], sig: i32) -> usize {
    pids.iter()
        .filter(|&&pid| pid > 0)
        // SAFETY: kill(2) takes plain integers; a positive pid names one process only.
        .filter(|&&pid| unsafe { libc::kill(pid, sig) } == 0)
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_reach_live_processes_only() {
        let mut child = std::process::Command::new("sleep").arg("10").spawn().unwrap();
        let pid = child.id() as i32;
        assert_eq!(tell_old_pids(&[pid, 0, -1], 0), 1, "signal 0 probes; 0 and -1 are never signalled");
        assert_eq!(tell_old_pids(&[pid], libc::SIGTERM), 1);
        let status = child.wait().unwrap();
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(status.signal(), Some(libc::SIGTERM));
        assert_eq!(tell_old_pids(&[pid], 0), 0, "gone");
    }
}
