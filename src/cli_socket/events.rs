//! `show events [<sink>] [-w] [-n]`: the event sinks (stdout, stderr and the rings of
//! `crate::log::ring`), or one ring's lines. `-n` skips the lines already there, `-w`
//! keeps the session open and sends new lines as they come until the client sends
//! anything (the session polls the ring: [`Follow`]).

use super::Exec;
use crate::config::model::CliLevel;
use crate::log::ring::{self, Ring};
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Instant;

/// A session waiting for a ring's new lines (`show events <ring> -w`).
pub struct Follow {
    pub ring: Arc<Ring>,
    /// The sequence number of the next line to send.
    pub next: u64,
    /// When the session's timer polls the ring next (`None`: not armed yet).
    pub poll_at: Option<Instant>,
}

/// The command. A dump with `-w` leaves a [`Follow`] in `exec.follow`.
pub fn show_events(exec: &mut Exec<'_>, args: &[String]) -> String {
    let Some(name) = args.first() else { return list() };
    if exec.state.level < CliLevel::Operator {
        return "Permission denied\n".into();
    }
    // Past the level check, HAProxy's errors end without the empty line.
    let mut error = |msg: &str| {
        exec.bare = true;
        format!("{msg}\n")
    };
    let Some(ring) = ring::find(name) else {
        return error(match name.as_str() {
            // The two stream sinks exist but keep nothing to dump.
            "stdout" | "stderr" => "Nothing to report for this sink",
            _ => "No such event sink",
        });
    };
    let (mut wait, mut new_only) = (false, false);
    for flag in &args[1..] {
        match flag.as_str() {
            "-w" => wait = true,
            "-n" => new_only = true,
            _ => return error("unknown option"),
        }
    }
    let mut out = Vec::new();
    let next = if new_only { ring.end() } else { ring.read_from(0, &mut out) };
    if wait {
        exec.follow = Some(Follow { ring, next, poll_at: None });
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn list() -> String {
    let mut out = String::from("Supported events sinks are listed below. Add -w(wait), -n(new). Any key to stop\n");
    for (name, fd) in [("stdout", 1), ("stderr", 2)] {
        // Counted by the writer thread, if one was started (listing starts none).
        let dropped = crate::log::stdio::failed_lines(fd);
        // "standard output" for fd#2 too: HAProxy 2.6's wording, kept for the tools that read it.
        let _ = writeln!(out, "    {name:<10} : type=fd, {dropped} dropped, standard output (fd#{fd})");
    }
    for r in ring::all() {
        let _ = writeln!(out, "    {:<10} : type=buffer, {} dropped, {}", r.name(), r.dropped(), r.description());
    }
    out
}
