//! `log` lines: `log <target> [len <n>] [format <fmt>] [sample <ranges>:<size>]
//! <facility> [<max level> [<min level>]]`.

use super::addr::{self, Parsed};
use crate::config::model::{Facility, Level, Location, LogDest, LogTarget, LogWireFormat};
use std::net::SocketAddr;
use std::path::PathBuf;

const FACILITIES: &[(&str, Facility)] = &[
    ("kern", Facility::Kern),
    ("user", Facility::User),
    ("mail", Facility::Mail),
    ("daemon", Facility::Daemon),
    ("auth", Facility::Auth),
    ("syslog", Facility::Syslog),
    ("lpr", Facility::Lpr),
    ("news", Facility::News),
    ("uucp", Facility::Uucp),
    ("cron", Facility::Cron),
    ("auth2", Facility::Auth2),
    ("ftp", Facility::Ftp),
    ("ntp", Facility::Ntp),
    ("audit", Facility::Audit),
    ("alert", Facility::Alert),
    ("cron2", Facility::Cron2),
    ("local0", Facility::Local0),
    ("local1", Facility::Local1),
    ("local2", Facility::Local2),
    ("local3", Facility::Local3),
    ("local4", Facility::Local4),
    ("local5", Facility::Local5),
    ("local6", Facility::Local6),
    ("local7", Facility::Local7),
];

const LEVELS: &[(&str, Level)] = &[
    ("emerg", Level::Emerg),
    ("alert", Level::Alert),
    ("crit", Level::Crit),
    ("err", Level::Err),
    ("warning", Level::Warning),
    ("notice", Level::Notice),
    ("info", Level::Info),
    ("debug", Level::Debug),
];

const FORMATS: &[(&str, LogWireFormat)] = &[
    ("rfc3164", LogWireFormat::Rfc3164),
    ("rfc5424", LogWireFormat::Rfc5424),
    ("raw", LogWireFormat::Raw),
    ("short", LogWireFormat::Short),
    ("timed", LogWireFormat::Timed),
    ("iso", LogWireFormat::Iso),
    ("local", LogWireFormat::Local),
    ("priority", LogWireFormat::Priority),
];

fn find<T: Copy>(table: &[(&str, T)], name: &str) -> Option<T> {
    table.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
}

/// A `format` name (`rfc3164`, `raw` ...), also a `ring` section's.
pub fn wire_format(name: &str) -> Option<LogWireFormat> {
    find(FORMATS, name)
}

/// Parses the words after `log` (not `global`).
pub fn parse_log_target(args: &[String], loc: &Location) -> Result<LogTarget, String> {
    const USAGE: &str = "log : expects <address> and <facility>  as arguments";
    let Some(target) = args.first() else {
        return Err(USAGE.into());
    };
    let dest = parse_dest(target)?;
    let mut t = LogTarget {
        location: loc.clone(),
        dest,
        format: LogWireFormat::default(),
        maxlen: 1024,
        facility: Facility::User,
        max_level: Level::Debug,
        min_level: None,
        sample: None,
    };
    let mut i = 1;
    loop {
        match args.get(i).map(String::as_str) {
            Some("len") => {
                let v = args.get(i + 1).map_or("", String::as_str);
                t.maxlen = v
                    .parse::<usize>()
                    .ok()
                    .filter(|n| (80..=65535).contains(n))
                    .ok_or_else(|| {
                        format!("log : invalid log length '{v}', must be between 80 and 65535")
                    })?;
                i += 2;
            }
            Some("format") => {
                let v = args.get(i + 1).map_or("", String::as_str);
                t.format =
                    find(FORMATS, v).ok_or_else(|| format!("log : unknown log format '{v}'"))?;
                i += 2;
            }
            Some("sample") => {
                let v = args.get(i + 1).map_or("", String::as_str);
                let valid = v.split_once(':').is_some_and(|(ranges, size)| {
                    !ranges.is_empty() && size.parse::<u32>().is_ok_and(|n| n > 0)
                });
                if !valid {
                    return Err(format!(
                        "log : invalid sample expression '{v}', expects <ranges>:<size>"
                    ));
                }
                t.sample = Some(v.to_string());
                i += 2;
            }
            _ => break,
        }
    }
    let Some(fac) = args.get(i) else {
        return Err(USAGE.into());
    };
    t.facility =
        find(FACILITIES, fac).ok_or_else(|| format!("log : unknown log facility '{fac}'"))?;
    if let Some(lvl) = args.get(i + 1) {
        t.max_level =
            find(LEVELS, lvl).ok_or_else(|| format!("log : unknown optional log level '{lvl}'"))?;
    }
    if let Some(lvl) = args.get(i + 2) {
        t.min_level = Some(
            find(LEVELS, lvl)
                .ok_or_else(|| format!("log : unknown optional minimum log level '{lvl}'"))?,
        );
    }
    if let Some(extra) = args.get(i + 3) {
        return Err(format!("log : cannot handle unexpected argument '{extra}'"));
    }
    Ok(t)
}

fn parse_dest(target: &str) -> Result<LogDest, String> {
    match target {
        "stdout" => return Ok(LogDest::Stdout),
        "stderr" => return Ok(LogDest::Stderr),
        _ => {}
    }
    if let Some(name) = target.strip_prefix("ring@") {
        if name.is_empty() {
            return Err(format!("log : missing ring name in '{target}'"));
        }
        return Ok(LogDest::Ring(name.to_string()));
    }
    // A stream socket: the line goes through a ring made for it (post-parse checks).
    let tcp = ["tcp@", "tcp4@", "tcp6@"].iter().any(|p| target.starts_with(p));
    match addr::classify(target) {
        Parsed::Fd(n) => n
            .parse::<i32>()
            .ok()
            .filter(|n| *n >= 0)
            .map(LogDest::Fd)
            .ok_or_else(|| format!("log : invalid file descriptor in '{target}'")),
        Parsed::Unix(path) => Ok(LogDest::Unix(PathBuf::from(path))),
        Parsed::Abstract(_) => Err(format!(
            "log : '{target}': abstract sockets are not supported by moonproxy yet."
        )),
        Parsed::Unsupported(prefix) => Err(format!(
            "log : '{prefix}' addresses are not supported by moonproxy yet."
        )),
        Parsed::Inet { family, host, port } => {
            let ip = addr::resolve_host(host, family)
                .ok_or_else(|| format!("log : invalid address: '{host}' in '{target}'"))?;
            let port = match port {
                None => 514,
                Some(p) => {
                    addr::parse_port(p).ok_or_else(|| format!("log : invalid port '{p}'"))?
                }
            };
            let addr = SocketAddr::new(ip, port);
            Ok(if tcp { LogDest::Tcp(addr) } else { LogDest::Udp(addr) })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn parse(s: &str) -> Result<LogTarget, String> {
        let args: Vec<String> = s.split_whitespace().map(String::from).collect();
        parse_log_target(
            &args,
            &Location {
                file: Arc::from("t"),
                line: 1,
            },
        )
    }

    #[test]
    fn targets_and_options() {
        let t = parse("stdout format raw local0").unwrap();
        assert_eq!(
            (t.dest, t.format, t.facility),
            (LogDest::Stdout, LogWireFormat::Raw, Facility::Local0)
        );
        let t = parse("127.0.0.1 len 2048 local1 notice err").unwrap();
        assert_eq!(t.dest, LogDest::Udp("127.0.0.1:514".parse().unwrap()));
        assert_eq!(
            (t.maxlen, t.max_level, t.min_level),
            (2048, Level::Notice, Some(Level::Err))
        );
        assert_eq!(
            parse("udp@[::1]:1514 daemon").unwrap().dest,
            LogDest::Udp("[::1]:1514".parse().unwrap())
        );
        assert_eq!(
            parse("/dev/log local0").unwrap().dest,
            LogDest::Unix("/dev/log".into())
        );
        assert_eq!(parse("fd@3 local0").unwrap().dest, LogDest::Fd(3));
        assert_eq!(
            parse("stderr sample 1:2 local0").unwrap().sample.as_deref(),
            Some("1:2")
        );
    }

    #[test]
    fn errors() {
        assert_eq!(
            parse("127.0.0.1 local9").unwrap_err(),
            "log : unknown log facility 'local9'"
        );
        assert_eq!(
            parse("127.0.0.1").unwrap_err(),
            "log : expects <address> and <facility>  as arguments"
        );
        assert_eq!(
            parse("stdout format foo local0").unwrap_err(),
            "log : unknown log format 'foo'"
        );
        assert_eq!(
            parse("127.0.0.1 local0 foo").unwrap_err(),
            "log : unknown optional log level 'foo'"
        );
        assert_eq!(
            parse("127.0.0.1 local0 info err x").unwrap_err(),
            "log : cannot handle unexpected argument 'x'"
        );
        assert_eq!(
            parse("1.2.3.4:99999 local0").unwrap_err(),
            "log : invalid port '99999'"
        );
        assert_eq!(parse("ring@x local0").unwrap().dest, LogDest::Ring("x".into()));
        assert!(parse("ring@ local0").is_err());
        assert_eq!(
            parse("tcp@127.0.0.1:6514 local0").unwrap().dest,
            LogDest::Tcp("127.0.0.1:6514".parse().unwrap())
        );
        assert_eq!(
            parse("udp@127.0.0.1 local0").unwrap().dest,
            LogDest::Udp("127.0.0.1:514".parse().unwrap())
        );
    }
}
