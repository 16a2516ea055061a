//! Server settings of health analysis and dynamic limits: `observe`, `on-error`,
//! `error-limit` (errors seen on real traffic count toward the health check, see
//! `crate::backend::observe`) and `minconn` (with the backend's `fullconn`, see
//! `crate::backend::Backend::effective_maxconn`). [`super::server`] hands each
//! setting here; the messages are HAProxy 2.6's.

use crate::config::model::{Mode, ObserveMode, OnError, ServerTuning};

/// `observe layer7` on a `server` line of a proxy that is not (yet) in HTTP mode: HAProxy's
/// complaint, checked as the line is read (the caller drops `observe`).
pub fn check_mode(t: &ServerTuning, mode: Mode) -> Result<(), String> {
    match (t.observe, mode) {
        (Some(ObserveMode::Layer7), m) if m != Mode::Http => Err("'layer7' can only be used in http proxies..".into()),
        _ => Ok(()),
    }
}

/// Applies `kw` (with `value`, the next word) if it is one of this module's settings:
/// `Ok(Some(n))` with the number of words used, `Ok(None)` if not ours.
pub fn apply(t: &mut ServerTuning, kw: &str, value: Option<&str>) -> Result<Option<usize>, String> {
    let value = value.filter(|v| !v.is_empty());
    match kw {
        "observe" => {
            let v = value.ok_or("'observe' expects <mode> as argument..")?;
            t.observe = match v {
                "none" => None,
                "layer4" => Some(ObserveMode::Layer4),
                "layer7" => Some(ObserveMode::Layer7),
                other => return Err(format!("'observe' expects one of 'none', 'layer4', 'layer7' but got '{other}'.")),
            };
        }
        "on-error" => {
            t.on_error = match value.unwrap_or("") {
                "fastinter" => OnError::FastInter,
                "fail-check" => OnError::FailCheck,
                "sudden-death" => OnError::SuddenDeath,
                "mark-down" => OnError::MarkDown,
                other => {
                    return Err(format!(
                        "'on-error' expects one of 'fastinter', 'fail-check', 'sudden-death' or 'mark-down' but got '{other}'."
                    ))
                }
            };
        }
        "error-limit" => {
            let v = value.ok_or("'error-limit' expects an integer argument..")?;
            // As HAProxy's atoi: a leading number, anything else is 0.
            match leading_number(v) {
                n if n > 0 => t.error_limit = Some(u32::try_from(n).unwrap_or(u32::MAX)),
                _ => return Err("error-limit has to be > 0..".into()),
            }
        }
        // HAProxy takes any word (atoi) and even no value at all.
        "minconn" => {
            t.minconn = value.map_or(0, |v| u32::try_from(leading_number(v).max(0)).unwrap_or(u32::MAX));
            return Ok(Some(if value.is_some() { 2 } else { 1 }));
        }
        _ => return Ok(None),
    }
    Ok(Some(2))
}

/// The number at the start of `v` (an optional sign, then digits), 0 without one.
fn leading_number(v: &str) -> i64 {
    let (sign, digits) = match v.strip_prefix('-') {
        Some(rest) => (-1, rest),
        None => (1, v.strip_prefix('+').unwrap_or(v)),
    };
    let end = digits.bytes().take_while(u8::is_ascii_digit).count();
    sign * digits[..end].parse::<i64>().unwrap_or(if end > 0 { i64::MAX } else { 0 })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn apply1(kw: &str, v: Option<&str>, mode: Mode) -> Result<ServerTuning, String> {
        let mut t = ServerTuning::default();
        apply(&mut t, kw, v)?;
        check_mode(&t, mode).map(|_| t)
    }

    #[test]
    fn settings_and_haproxys_messages() {
        assert_eq!(apply1("observe", Some("layer4"), Mode::Tcp).unwrap().observe, Some(ObserveMode::Layer4));
        assert_eq!(apply1("observe", Some("layer7"), Mode::Tcp).unwrap_err(), "'layer7' can only be used in http proxies..");
        assert_eq!(apply1("observe", Some("layer7"), Mode::Http).unwrap().observe, Some(ObserveMode::Layer7));
        assert_eq!(apply1("observe", None, Mode::Tcp).unwrap_err(), "'observe' expects <mode> as argument..");
        assert_eq!(apply1("on-error", Some("mark-down"), Mode::Tcp).unwrap().on_error, OnError::MarkDown);
        assert!(apply1("on-error", None, Mode::Tcp).unwrap_err().ends_with("but got ''."));
        assert_eq!(apply1("error-limit", Some("3"), Mode::Tcp).unwrap().error_limit, Some(3));
        for bad in ["0", "-1", "x"] {
            assert_eq!(apply1("error-limit", Some(bad), Mode::Tcp).unwrap_err(), "error-limit has to be > 0..");
        }
        assert_eq!(apply1("minconn", Some("12"), Mode::Tcp).unwrap().minconn, 12);
        assert_eq!(apply1("minconn", Some("x"), Mode::Tcp).unwrap().minconn, 0);
        assert_eq!(ServerTuning::default().on_error, OnError::FailCheck);
    }
}
