//! `program <name>` sections: commands the master of master-worker mode starts and
//! watches beside its worker (`crate::master`), with HAProxy 2.6's messages.
//!
//! ```text
//! program dataplane
//!     command /usr/bin/dataplaneapi -f /etc/dataplane.yml
//!     user haproxy
//!     group haproxy
//!     no option start-on-reload
//! ```

use super::{Diagnostic, Line, Parser};
use crate::config::model::{Config, Location, Program};
use crate::diag::Severity;

/// Opens a `program <name>` section; `None` (its lines checked, then dropped) when the
/// name is missing or taken.
pub fn start(p: &mut Parser, line: &Line) -> Option<usize> {
    let name = line.arg(1);
    if name.is_empty() {
        p.alert(&line.loc, "'program' expects an <id> argument");
        return None;
    }
    if let Some(other) = p.config.programs.iter().find(|r| r.name == name) {
        let msg = format!("'program' section '{name}' has the same name as another 'program' section declared at {}.", other.location);
        p.alert(&line.loc, msg);
        return None;
    }
    p.config.programs.push(empty(name, &line.loc));
    Some(p.config.programs.len() - 1)
}

fn empty(name: &str, loc: &Location) -> Program {
    Program { name: name.to_string(), location: loc.clone(), command: Vec::new(), user: None, group: None, start_on_reload: true }
}

/// One line inside a `program` section.
pub fn keyword(p: &mut Parser, section: Option<usize>, line: &Line) {
    let mut scratch = None;
    let program = match section {
        Some(i) => &mut p.config.programs[i],
        None => scratch.insert(empty("", &line.loc)),
    };
    if let Err(msg) = apply(program, line) {
        p.alert(&line.loc, msg);
    }
}

fn apply(program: &mut Program, line: &Line) -> Result<(), String> {
    let kw = line.arg(0);
    match kw {
        "command" => {
            if line.args.len() < 2 {
                return Err(format!("'{kw}' expects an <argument>"));
            }
            program.command = line.args[1..].to_vec();
        }
        "user" | "group" => {
            let v = line.arg(1);
            if v.is_empty() {
                return Err(format!("'{kw}' expects an argument"));
            }
            *(if kw == "user" { &mut program.user } else { &mut program.group }) = Some(v.to_string());
        }
        "option" | "no" => {
            let (negated, name) = if kw == "no" { (true, line.arg(2)) } else { (false, line.arg(1)) };
            if (kw == "no" && line.arg(1) != "option") || name != "start-on-reload" {
                return Err(format!("unknown keyword '{}' in 'program' section", line.args[..line.args.len().min(if kw == "no" { 3 } else { 2 })].join(" ")));
            }
            program.start_on_reload = !negated;
        }
        _ => return Err(format!("unknown keyword '{kw}' in 'program' section")),
    }
    Ok(())
}

/// Post-parse: each program has a command; programs need master-worker mode (`-W` on
/// the command line, `master_worker_flag`, or `master-worker` in `global`).
pub fn check(config: &Config, master_worker_flag: bool, diags: &mut Vec<Diagnostic>) {
    if config.programs.is_empty() {
        return;
    }
    if !(master_worker_flag || config.global.master_worker) {
        diags.push(Diagnostic::plain(Severity::Alert, None, "Can't use a 'program' section without master worker mode."));
        return;
    }
    for p in config.programs.iter().filter(|p| p.command.is_empty()) {
        diags.push(Diagnostic::plain(Severity::Alert, None, format!("The program section '{}' lacks a command to launch.", p.name)));
    }
    for p in &config.programs {
        for (what, name) in [("user", &p.user), ("group", &p.group)] {
            let Some(name) = name else { continue };
            let known = if what == "user" { crate::sys::privs::user_id(name).is_ok() } else { crate::sys::privs::group_id(name).is_ok() };
            if !known {
                diags.push(Diagnostic::plain(Severity::Alert, Some(&p.location), format!("program '{}': unknown {what} '{name}'.", p.name)));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    fn parse(text: &str, master_worker: bool) -> Result<crate::config::model::Config, String> {
        let opts = crate::config::ParseOptions { master_worker, ..Default::default() };
        crate::config::parse_str("t.cfg", text, &opts)
            .map(|l| l.config)
            .map_err(|d| d.iter().map(|d| d.to_string()).collect::<Vec<_>>().join("\n"))
    }

    #[test]
    fn a_program_section() {
        let c = parse("program p1\n  command sleep 100\n  user root\n  no option start-on-reload\n", true).unwrap();
        let p = &c.programs[0];
        assert_eq!((p.name.as_str(), p.command.join(" "), p.user.as_deref(), p.start_on_reload), ("p1", "sleep 100".into(), Some("root"), false));
        let c = parse("global\n  master-worker\nprogram p1\n  command true\n", false).unwrap();
        assert!(c.programs[0].start_on_reload, "the default");
    }

    #[test]
    fn haproxys_refusals() {
        assert!(parse("program p1\n  command sleep 100\n", false).unwrap_err().contains("Can't use a 'program' section without master worker mode."));
        assert!(parse("program p1\n", true).unwrap_err().contains("The program section 'p1' lacks a command to launch."));
        assert!(parse("program p1\n  command x\n  bogus\n", true).unwrap_err().contains("t.cfg:3] : unknown keyword 'bogus' in 'program' section"));
        assert!(parse("program p1\n  command x\n  user no-such-user-here\n", true).unwrap_err().contains("unknown user 'no-such-user-here'"));
    }
}
