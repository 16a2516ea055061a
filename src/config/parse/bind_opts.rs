//! `bind` settings about the listening socket and its scheduling: `mss`, `interface`,
//! `transparent`, `defer-accept`, `tfo`, `id`, `nice`, `process`, `thread`.
//! [`super::proxy::bind`] hands each setting here first.

use crate::config::model::BindTuning;

/// Applies `kw` (with `value`, the next word) if it is one of this module's settings:
/// `Ok(Some(n))` with the number of words used, `Ok(None)` if not ours. Errors are
/// the part after `'bind <addr>' in section '<name>' : `.
pub fn apply(t: &mut BindTuning, kw: &str, value: &str) -> Result<Option<usize>, String> {
    let need = || -> Result<&str, String> {
        if value.is_empty() {
            Err(format!("'{kw}' : missing value"))
        } else {
            Ok(value)
        }
    };
    match kw {
        "transparent" => t.transparent = true,
        "defer-accept" => t.defer_accept = true,
        "tfo" => t.tfo = true,
        "mss" => {
            let v = need()?;
            let n: i64 = v.parse().map_err(|_| format!("'{kw}' : invalid value '{v}'"))?;
            // HAProxy: a negative value asks for the path MTU minus it, which the
            // kernel does not offer on a listening socket; moonproxy takes it as the size.
            let n = n.unsigned_abs();
            if !(1..=65535).contains(&n) {
                return Err(format!("'{kw}' : invalid value '{v}'"));
            }
            t.mss = Some(n as u32);
            return Ok(Some(2));
        }
        "interface" => {
            t.interface = Some(need()?.to_string());
            return Ok(Some(2));
        }
        "id" => {
            let v = need()?;
            let id: u32 = v.parse().map_err(|_| format!("'{kw}' : invalid value '{v}'"))?;
            if id == 0 {
                return Err("custom id 0 reserved for internal use.".into());
            }
            t.id = Some(id);
            return Ok(Some(2));
        }
        // Scheduling hints with no counterpart in a single-reactor-per-thread design:
        // checked and accepted.
        "nice" => {
            let v = need()?;
            let n: i32 = v.parse().map_err(|_| format!("'{kw}' : invalid value '{v}'"))?;
            if !(-1024..=1024).contains(&n) {
                return Err(format!("'{kw}' : values must be between -1024 and 1024 (got {n})"));
            }
            return Ok(Some(2));
        }
        "process" | "thread" => {
            need()?;
            return Ok(Some(2));
        }
        _ => return Ok(None),
    }
    Ok(Some(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings() {
        let mut t = BindTuning::default();
        assert_eq!(apply(&mut t, "mss", "1400"), Ok(Some(2)));
        assert_eq!(apply(&mut t, "interface", "lo"), Ok(Some(2)));
        assert_eq!(apply(&mut t, "transparent", ""), Ok(Some(1)));
        assert_eq!(apply(&mut t, "thread", "1-2"), Ok(Some(2)));
        assert_eq!((t.mss, t.interface.as_deref(), t.transparent), (Some(1400), Some("lo"), true));
        assert!(apply(&mut t, "mss", "x").is_err());
        assert!(apply(&mut t, "nice", "5000").is_err());
        assert!(apply(&mut t, "id", "0").is_err());
        assert_eq!(apply(&mut t, "name", "x"), Ok(None));
    }
}
