//! `cpu-map`: the CPUs a reactor thread may run on.
//!
//! The configuration resolves every `cpu-map` line into a per-thread table
//! ([`ProcessSettings::cpu_map`]); each reactor thread, once started, looks up its own
//! number with [`cpus_for_thread`] and pins itself with [`pin_current_thread`] (or both at
//! once with [`apply`]). Thread numbers are 1-based, as in the configuration.

use crate::config::model::ProcessSettings;
use crate::warning;
use std::io;

/// The CPUs `cpu-map` gives thread `thread` (1-based), or `None` when no line names it
/// (the thread then runs wherever the process may).
pub fn cpus_for_thread(settings: &ProcessSettings, thread: u32) -> Option<&[usize]> {
    settings.cpu_map.get(&thread).map(Vec::as_slice).filter(|cpus| !cpus.is_empty())
}

/// Restricts the calling thread (not the whole process) to `cpus`. Fails with `EINVAL`
/// when none of them exists or is allowed to this process.
pub fn pin_current_thread(cpus: &[usize]) -> io::Result<()> {
    // SAFETY: a zeroed cpu_set_t is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    let capacity = 8 * std::mem::size_of::<libc::cpu_set_t>();
    for &cpu in cpus {
        if cpu >= capacity {
            return Err(io::Error::from_raw_os_error(libc::EINVAL));
        }
        // SAFETY: `cpu` is below the set's capacity (checked above).
        unsafe { libc::CPU_SET(cpu, &mut set) };
    }
    // SAFETY: pid 0 is the calling thread; `set` is a valid cpu_set_t of the size given,
    // which the kernel only reads.
    if unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Pins the calling thread, reactor thread number `thread`, to its `cpu-map` CPUs if any
/// line names it. A refusal of the kernel is a warning: the thread runs unpinned.
pub fn apply(settings: &ProcessSettings, thread: u32) {
    let Some(cpus) = cpus_for_thread(settings, thread) else { return };
    if let Err(e) = pin_current_thread(cpus) {
        warning!("cpu-map: cannot bind thread {thread} to CPUs {}: {e}.", cpu_list(cpus));
    }
}

/// `0-3,6`: a CPU set written as Linux writes `Cpus_allowed_list`.
pub fn cpu_list(cpus: &[usize]) -> String {
    let mut out = String::new();
    let mut i = 0;
    while i < cpus.len() {
        let start = cpus[i];
        while i + 1 < cpus.len() && cpus[i + 1] == cpus[i] + 1 {
            i += 1;
        }
        if !out.is_empty() {
            out.push(',');
        }
        if cpus[i] == start {
            out.push_str(&start.to_string());
        } else {
            out.push_str(&format!("{start}-{}", cpus[i]));
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_like_the_kernel() {
        assert_eq!(cpu_list(&[0, 1, 2, 3, 6]), "0-3,6");
        assert_eq!(cpu_list(&[1]), "1");
        assert_eq!(cpu_list(&[]), "");
    }

    #[test]
    fn a_thread_without_a_line_has_no_cpus() {
        let mut s = ProcessSettings::default();
        s.cpu_map.insert(2, vec![0]);
        assert_eq!(cpus_for_thread(&s, 1), None);
        assert_eq!(cpus_for_thread(&s, 2), Some(&[0][..]));
    }

    #[test]
    fn pinning_to_a_missing_cpu_fails() {
        // Runs on a thread of its own: the pinning must not leak into other tests.
        std::thread::spawn(|| assert!(pin_current_thread(&[100_000]).is_err())).join().unwrap();
    }
}
