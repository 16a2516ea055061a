//! Health analysis (`observe layer4|layer7`, `on-error`, `error-limit`): what real
//! traffic says of a server counts toward its health check, as in HAProxy 2.6.
//!
//! Streams report each [`Observed`] event ([`Backend::observe`]). In `layer4` mode an
//! established connection is a success and a failed one an error; in `layer7` mode
//! (HTTP proxies) a response with a status other than 5xx (or 501, 505) is a success,
//! while a 5xx, an invalid response, a server that closes before answering or does not
//! answer within `timeout server`, and a failed connection are errors. A success resets the count of consecutive errors; when it
//! reaches `error-limit` (default 10) the count starts over and `on-error` acts on the
//! health check:
//!
//! - `fastinter`: the next check comes within `fastinter` (every mode does that when
//!   `fastinter` is set);
//! - `fail-check` (the default): a failed check, reported as HAProxy does: `reason: Health
//!   analyze, info: "Detected 10 consecutive errors, last one was: L4 unsuccessful
//!   connection"` (no check duration);
//! - `sudden-death`: a failed check that leaves the server one failure from DOWN;
//! - `mark-down`: a failed check that takes the server DOWN.
//!
//! The failed check is applied at once, as HAProxy does (the stream that saw the last
//! error still holds its slot: `1 sessions active` in a DOWN message); the runtime then
//! carries out the [`HealthAnalysis`]'s report (`crate::runtime::world::observe`).

use std::time::Duration;

use super::check::{CheckResult, FailReason};
use super::{Backend, OpState, ServerId, StateReport};
use crate::config::model::{ObserveMode, OnError};

/// HAProxy's default `error-limit`.
pub const DEFAULT_ERROR_LIMIT: u32 = 10;

/// An event seen on a server's traffic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Observed {
    /// A connection to the server was established.
    Connected,
    /// A connection attempt failed (refused, timed out...).
    ConnectFailed,
    /// HTTP: the server answered with this status.
    Status(u16),
    /// HTTP: the server's response could not be parsed.
    InvalidResponse,
    /// HTTP: the server closed before its response was complete.
    ServerClosed,
    /// HTTP: `timeout server` struck before the response's head.
    ReadTimeout,
}

impl Observed {
    /// HAProxy's words for it (`last one was: ...`).
    pub fn description(self) -> &'static str {
        match self {
            Observed::Connected => "L4 successful connection",
            Observed::ConnectFailed => "L4 unsuccessful connection",
            Observed::Status(s) if status_is_fine(s) => "Correct http response",
            Observed::Status(_) => "Wrong http response",
            Observed::InvalidResponse => "Invalid http response (headers)",
            Observed::ServerClosed => "Close from server (http)",
            Observed::ReadTimeout => "Read timeout (http)",
        }
    }

    /// What it means in `mode`: `Some(true)` a success, `Some(false)` an error, `None`
    /// nothing.
    fn verdict(self, mode: ObserveMode) -> Option<bool> {
        match (self, mode) {
            (Observed::ConnectFailed, _) => Some(false),
            (Observed::Connected, ObserveMode::Layer4) => Some(true),
            (Observed::Status(s), ObserveMode::Layer7) => Some(status_is_fine(s)),
            (Observed::InvalidResponse | Observed::ServerClosed | Observed::ReadTimeout, ObserveMode::Layer7) => Some(false),
            _ => None,
        }
    }
}

/// The statuses `observe layer7` takes for a healthy server: all but 5xx, and 501 and
/// 505 (the server does not support the request: not its fault).
fn status_is_fine(status: u16) -> bool {
    !(500..600).contains(&status) || status == 501 || status == 505
}

/// What enough consecutive errors did, for the runtime to carry out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HealthAnalysis {
    /// The failed check's report (messages, state change, queue moves) and the
    /// server's state before it; `None` for `on-error fastinter`.
    pub failed: Option<(OpState, StateReport)>,
    /// Run the next check within this delay (the configured `fastinter`).
    pub fastinter: Option<Duration>,
}

impl Backend {
    /// Counts `event` for server `id` when it has `observe` and a health check (and is
    /// not in maintenance). `Some` when it reached `error-limit` consecutive errors:
    /// the failed check `on-error` asks for is already applied.
    pub fn observe(&mut self, id: ServerId, event: Observed) -> Option<HealthAnalysis> {
        let srv = &mut self.servers[id.0];
        let mode = srv.tuning.observe?;
        if srv.in_maint() {
            return None;
        }
        let check = srv.check.as_mut()?;
        if event.verdict(mode)? {
            srv.consecutive_errors = 0;
            return None;
        }
        srv.consecutive_errors += 1;
        let limit = srv.tuning.error_limit.unwrap_or(DEFAULT_ERROR_LIMIT);
        if srv.consecutive_errors < limit {
            return None;
        }
        let count = std::mem::take(&mut srv.consecutive_errors);
        srv.counters.failed_hana += 1;
        let info = format!("Detected {count} consecutive errors, last one was: {}", event.description());
        let fastinter = check.configured_fastinter();
        match srv.tuning.on_error {
            OnError::FastInter => return Some(HealthAnalysis { failed: None, fastinter }),
            OnError::FailCheck => {}
            OnError::SuddenDeath => check.leave_one_failure(),
            OnError::MarkDown => check.leave_no_failure(),
        }
        let before = srv.op;
        let result = CheckResult::Failed { reason: FailReason::HealthAnalyze, info, duration: Duration::ZERO };
        let report = self.on_check_result(id, result);
        Some(HealthAnalysis { failed: Some((before, report)), fastinter })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::model::{self, CheckParams};

    fn backend(observe: ObserveMode, on_error: OnError, limit: Option<u32>) -> Backend {
        let tuning = model::ServerTuning { observe: Some(observe), on_error, error_limit: limit, ..Default::default() };
        let params = CheckParams { rise: 2, fall: 3, inter: Duration::from_secs(2), ..CheckParams::default() };
        let loc = crate::config::model::Location { file: "t.cfg".into(), line: 1 };
        let mut server = model::Server::new("s", loc, model::ServerAddr::Inet { ip: [127, 0, 0, 1].into(), port: Some(1) });
        server.check = Some(params);
        server.tuning = tuning;
        Backend::from_config(&model::Proxy { name: "b".into(), servers: vec![server], ..Default::default() })
    }

    fn health(b: &Backend) -> u32 {
        b.server(ServerId(0)).check().unwrap().health()
    }

    #[test]
    fn consecutive_errors_reach_the_limit_then_start_over() {
        let mut b = backend(ObserveMode::Layer4, OnError::FailCheck, Some(3));
        let id = ServerId(0);
        assert_eq!(b.observe(id, Observed::ConnectFailed), None);
        assert_eq!(b.observe(id, Observed::ConnectFailed), None);
        assert_eq!(b.observe(id, Observed::Connected), None, "a success resets the count");
        assert_eq!(b.observe(id, Observed::ConnectFailed), None);
        assert_eq!(b.observe(id, Observed::ConnectFailed), None);
        let a = b.observe(id, Observed::ConnectFailed).expect("third error in a row");
        assert!(a.failed.is_some());
        assert_eq!(
            b.server(id).check().unwrap().last_result().unwrap().to_string(),
            "reason: Health analyze, info: \"Detected 3 consecutive errors, last one was: L4 unsuccessful connection\""
        );
        assert_eq!(a.fastinter, None, "no fastinter configured");
        assert_eq!(b.server(id).counters().failed_hana, 1, "hanafail");
        assert_eq!(b.observe(id, Observed::ConnectFailed), None, "the count started over");
        // Layer 7 events mean nothing in layer4 mode.
        assert_eq!(b.observe(id, Observed::Status(503)), None);
    }

    #[test]
    fn layer7_judges_statuses_and_responses() {
        let mut b = backend(ObserveMode::Layer7, OnError::FailCheck, Some(1));
        let id = ServerId(0);
        for fine in [200, 404, 501, 505, 100] {
            assert_eq!(b.observe(id, Observed::Status(fine)), None, "{fine}");
        }
        assert_eq!(b.observe(id, Observed::Connected), None, "connections mean nothing in layer7 mode");
        for (event, words) in [
            (Observed::Status(500), "Wrong http response"),
            (Observed::Status(503), "Wrong http response"),
            (Observed::InvalidResponse, "Invalid http response (headers)"),
            (Observed::ServerClosed, "Close from server (http)"),
            (Observed::ReadTimeout, "Read timeout (http)"),
            (Observed::ConnectFailed, "L4 unsuccessful connection"),
        ] {
            assert!(b.observe(id, event).is_some_and(|a| a.failed.is_some()), "{event:?}");
            let r = b.server(id).check().unwrap().last_result().unwrap().to_string();
            assert!(r.ends_with(&format!("last one was: {words}\"")), "{r}");
        }
    }

    #[test]
    fn on_error_modes_move_the_health_counter() {
        // rise 2, fall 3: health runs 0..=4, UP from 2; it starts at 2, fully up is 4.
        let id = ServerId(0);
        let mut b = backend(ObserveMode::Layer4, OnError::MarkDown, Some(1));
        b.servers[0].check.as_mut().unwrap().force(true);
        let (before, report) = b.observe(id, Observed::ConnectFailed).unwrap().failed.unwrap();
        assert_eq!((before, report.changed), (OpState::Up, true));
        assert_eq!((health(&b), b.server(id).op_state()), (0, OpState::Down), "mark-down");

        let mut b = backend(ObserveMode::Layer4, OnError::SuddenDeath, Some(1));
        b.servers[0].check.as_mut().unwrap().force(true);
        assert!(b.observe(id, Observed::ConnectFailed).unwrap().failed.is_some());
        assert_eq!((health(&b), b.server(id).op_state()), (2, OpState::Up), "one failure left");

        let mut b = backend(ObserveMode::Layer4, OnError::FailCheck, Some(1));
        b.servers[0].check.as_mut().unwrap().force(true);
        assert!(b.observe(id, Observed::ConnectFailed).unwrap().failed.is_some());
        assert_eq!(health(&b), 3, "fail-check: one failed check");

        let mut b = backend(ObserveMode::Layer4, OnError::FastInter, Some(1));
        b.servers[0].check.as_mut().unwrap().force(true);
        assert_eq!(b.observe(id, Observed::ConnectFailed).unwrap().failed, None, "fastinter: no failure");
        assert_eq!(health(&b), 4);
    }
}
