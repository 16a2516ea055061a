//! The life-cycle lines HAProxy sends to a proxy's log targets, with their levels.
//!
//! Observed with HAProxy 2.6 (`log stdout format rfc3164`):
//!
//! | when                          | level   | line                                                  |
//! |-------------------------------|---------|-------------------------------------------------------|
//! | SIGTTOU (listeners paused)    | warning | `Paused proxy fe1.` / `Paused frontend fe2.`          |
//! | SIGTTIN (listeners resumed)   | warning | `Resumed proxy fe1.` / `Resumed frontend fe2.`        |
//! | a proxy stops (soft stop, exit) | warning | `Proxy fe1 stopped (cumulated conns: FE: 1, BE: 1).` |
//!
//! Pause and resume concern proxies with listeners (frontends and `listen`); every proxy,
//! backends included, logs its stop line. HAProxy 2.6 also prints the same text on
//! stderr as `[WARNING]  (pid) : ...` unless quiet: that copy belongs to
//! [`crate::diag`], not here.
//!
//! [`proxy_started`] and [`proxy_stopping`] are the lines of older HAProxy versions
//! (`Proxy x started.`, `Stopping frontend x in 0 ms.`); 2.6 does not send them, so
//! moonproxy should not either. They are kept for callers that want the old wording
//! and are documented as such.

use crate::config::model::{Capabilities, Level};

/// A message ready for [`super::Logger::send`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogLine {
    pub level: Level,
    pub text: String,
}

/// HAProxy's word for a proxy: `frontend`, `backend`, or `proxy` for a `listen`.
pub fn proxy_kind(cap: Capabilities) -> &'static str {
    match (cap.frontend, cap.backend) {
        (true, true) => "proxy",
        (true, false) => "frontend",
        (false, true) => "backend",
        (false, false) => "proxy",
    }
}

/// `Paused proxy fe1.` (warning), logged when SIGTTOU pauses the listeners.
pub fn proxy_paused(cap: Capabilities, name: &str) -> LogLine {
    LogLine {
        level: Level::Warning,
        text: format!("Paused {} {name}.", proxy_kind(cap)),
    }
}

/// `Resumed frontend fe2.` (warning), logged when SIGTTIN resumes the listeners.
pub fn proxy_resumed(cap: Capabilities, name: &str) -> LogLine {
    LogLine {
        level: Level::Warning,
        text: format!("Resumed {} {name}.", proxy_kind(cap)),
    }
}

/// `Proxy fe1 stopped (cumulated conns: FE: 1, BE: 1).` (warning): `fe_conns` and
/// `be_conns` are the connections the proxy accepted as a frontend and served as a backend.
pub fn proxy_stopped(name: &str, fe_conns: u64, be_conns: u64) -> LogLine {
    LogLine {
        level: Level::Warning,
        text: format!("Proxy {name} stopped (cumulated conns: FE: {fe_conns}, BE: {be_conns})."),
    }
}

/// `Proxy x started.` (notice). Not sent by HAProxy 2.6 (older versions only).
pub fn proxy_started(name: &str) -> LogLine {
    LogLine {
        level: Level::Notice,
        text: format!("Proxy {name} started."),
    }
}

/// `Stopping frontend x in 0 ms.` (warning). Not sent by HAProxy 2.6, whose `grace`
/// keyword is gone (older versions only).
pub fn proxy_stopping(cap: Capabilities, name: &str, in_ms: u64) -> LogLine {
    LogLine {
        level: Level::Warning,
        text: format!("Stopping {} {name} in {in_ms} ms.", proxy_kind(cap)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LISTEN: Capabilities = Capabilities {
        frontend: true,
        backend: true,
    };
    const FRONTEND: Capabilities = Capabilities {
        frontend: true,
        backend: false,
    };
    const BACKEND: Capabilities = Capabilities {
        frontend: false,
        backend: true,
    };

    #[test]
    fn lines_and_levels_match_haproxy() {
        assert_eq!(
            proxy_paused(LISTEN, "fe1"),
            LogLine {
                level: Level::Warning,
                text: "Paused proxy fe1.".into()
            }
        );
        assert_eq!(proxy_paused(FRONTEND, "fe2").text, "Paused frontend fe2.");
        assert_eq!(proxy_resumed(LISTEN, "fe1").text, "Resumed proxy fe1.");
        assert_eq!(proxy_resumed(FRONTEND, "fe2").level, Level::Warning);
        assert_eq!(
            proxy_stopped("fe1", 1, 1),
            LogLine {
                level: Level::Warning,
                text: "Proxy fe1 stopped (cumulated conns: FE: 1, BE: 1).".into()
            }
        );
        assert_eq!(proxy_started("p").text, "Proxy p started.");
        assert_eq!(proxy_started("p").level, Level::Notice);
        assert_eq!(
            proxy_stopping(BACKEND, "be", 0).text,
            "Stopping backend be in 0 ms."
        );
    }
}
