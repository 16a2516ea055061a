//! Commands about the process rather than its proxies: `show libs`, `show schema
//! json`, `show resolvers`, `set severity-output`.

use super::Exec;
use crate::config::model::SeverityOutput;

/// HAProxy 2.6's JSON schema of the typed statistics (`show info json`, `show stat
/// json`), which moonproxy's JSON follows.
const SCHEMA: &str = include_str!("schema.json");

pub fn show_schema_json(_: &mut Exec<'_>, _: &[String]) -> String {
    SCHEMA.to_string()
}

/// `show libs`: the program and its shared libraries, each with the range its
/// loadable segments span, as HAProxy 2.6 prints them (`<start>-<last byte> (<size>)
/// <path>`).
pub fn show_libs(_: &mut Exec<'_>, _: &[String]) -> String {
    crate::sys::libs::loaded_objects()
        .iter()
        .map(|o| format!("0x{:012x}-0x{:012x} (0x{:07x}) {}\n", o.start, o.end - 1, o.end - o.start, o.path))
        .collect()
}

/// `show resolvers [<section>]`: every name server's counters.
pub fn show_resolvers(exec: &mut Exec<'_>, args: &[String]) -> String {
    let all = exec.host.resolvers();
    let only = args.first();
    if let Some(name) = only {
        if !all.iter().any(|(s, _)| s == name) {
            return exec.err("Can't find that resolvers section\n");
        }
    }
    let mut out = String::new();
    for (section, servers) in all.iter().filter(|(s, _)| only.is_none_or(|o| o == s)) {
        out.push_str(&format!("Resolvers section {section}\n"));
        for (id, counters) in servers {
            out.push_str(&format!(" nameserver {id}:\n"));
            out.push_str(&counters.lines());
        }
    }
    out
}

/// `set severity-output none|number|string`: for this session.
pub fn set_severity_output(exec: &mut Exec<'_>, args: &[String]) -> String {
    match args.first().and_then(|w| SeverityOutput::parse(w)) {
        Some(how) => {
            exec.state.severity_output = how;
            String::new()
        }
        None => exec.err("one of 'none', 'number', 'string' is a required argument\n"),
    }
}
