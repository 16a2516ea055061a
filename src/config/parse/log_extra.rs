//! Logging keywords of proxies: `log-tag` and `log-format-sd` (the global `log-tag`
//! is in [`super::global`]). The runtime gives each proxy's logger its own identity
//! and renders the structured data with the stream's log line.

use super::{Line, Parser};
use crate::config::model::Mode;
use crate::log::LogFormat;

/// `log-tag <tag>` in a proxy: the tag of the lines this proxy logs (its streams for a
/// frontend, its server state changes for a backend). As HAProxy, extra words are
/// ignored.
pub fn log_tag(p: &mut Parser, l: &Line) -> Result<(), String> {
    if l.arg(1).is_empty() {
        return Err("'log-tag' expects a tag for use in syslog.".into());
    }
    p.draft().proxy.log_tag = Some(l.arg(1).to_string());
    Ok(())
}

/// `log-format-sd <fmt>`: RFC 5424 structured data, rendered like `log-format` for each
/// stream log line (its `%[...]` values evaluated by the stream while the transaction
/// lives) and written by `format rfc5424` targets in place of the `-`.
pub fn log_format_sd(p: &mut Parser, l: &Line) -> Result<(), String> {
    if l.args.len() < 2 {
        return Err("log-format-sd expects an argument.".into());
    }
    if l.args.len() > 2 {
        return Err("log-format-sd expects only one argument, don't forget to escape spaces!".into());
    }
    let fmt = l.arg(1);
    LogFormat::compile_for(fmt, Mode::Http).map_err(|e| format!("failed to parse log-format-sd : {}", e.message))?;
    p.draft().proxy.log_format_sd = Some(fmt.to_string());
    Ok(())
}
