//! Health checks as a sans-io state machine: one [`HealthCheck`] per server with `check`.
//!
//! The reactor runs the probe when [`HealthCheck::next_check_in`] says so: a TCP
//! connect, or with `option httpchk` an HTTP exchange judged by an [`HttpProbe`]
//! (request bytes out, response bytes in, a [`CheckResult`] with HAProxy's reason).
//! It feeds the outcome to [`Backend::on_check_result`](super::Backend::on_check_result),
//! which calls [`HealthCheck::on_result`] and turns a [`Transition`] into the server's new
//! state, the queue moves and HAProxy's log lines.
//!
//! # The health counter (HAProxy 2.6)
//!
//! `health` runs from 0 to `rise + fall - 1`. The server is UP while `health >= rise`.
//! - A failure on an UP server decrements it; when it drops below `rise` the server
//!   goes DOWN and `health` becomes 0.
//! - A success on a DOWN server increments it; when it reaches `rise` the server goes
//!   UP and `health` jumps to its maximum.
//!
//! A server starts UP with `health = rise`: at the bottom of the UP range, so the
//! *first* failure takes it down (checked against HAProxy 2.6: with `fall 3`,
//! `option log-health-checks` logs `status: 0/3 DOWN` on the first failure), and
//! `fall` failures are needed only once it has been fully up.
//!
//! # Intervals
//!
//! `inter` while fully UP, `downinter` (default `inter`) while fully DOWN, and
//! `fastinter` (default `inter`) in between, i.e. while the state is transitioning,
//! including right after start-up.

use std::fmt;
use std::time::Duration;

use crate::config::model::{CheckParams, HttpCheck, HttpCheckMatch};
use crate::http::h1::{BodyDecoder, Limits, ResponseParser, Status};
use crate::http::Method;
use crate::sample::regex::Regex;

/// Why a check failed, with HAProxy's wording (`reason:` in the logs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailReason {
    /// The TCP connection failed (`Connection refused`, `No route to host`...; put
    /// the error text in `info`). HAProxy: "Layer4 connection problem".
    L4Connection,
    /// The TCP connection did not complete in time. HAProxy: "Layer4 timeout".
    L4Timeout,
    /// The socket could not be created or configured. HAProxy: "Socket error".
    SocketError,
    /// An application-level check got no answer in time. HAProxy: "Layer7 timeout".
    L7Timeout,
    /// An application-level check got an invalid answer. HAProxy: "Layer7 invalid response".
    L7Response,
    /// An application-level check got a wrong status. HAProxy: "Layer7 wrong status".
    L7Status,
    /// `tcp-check expect ... error-status L6RSP`. HAProxy: "Layer6 invalid response".
    L6Response,
    /// `option ssl-hello-chk` got no TLS record in time. HAProxy: "Layer6 timeout".
    L6Timeout,
    /// `observe`: enough errors seen on traffic (`super::observe`). HAProxy: "Health analyze".
    HealthAnalyze,
}

impl FailReason {
    /// HAProxy's description of the check status.
    pub fn description(self) -> &'static str {
        match self {
            FailReason::L4Connection => "Layer4 connection problem",
            FailReason::L4Timeout => "Layer4 timeout",
            FailReason::SocketError => "Socket error",
            FailReason::L7Timeout => "Layer7 timeout",
            FailReason::L7Response => "Layer7 invalid response",
            FailReason::L7Status => "Layer7 wrong status",
            FailReason::L6Response => "Layer6 invalid response",
            FailReason::L6Timeout => "Layer6 timeout",
            FailReason::HealthAnalyze => "Health analyze",
        }
    }
}

/// How an external check's command ended (HAProxy's PROCOK, PROCERR, PROCTOUT).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExternalOutcome {
    Passed,
    Error,
    Timeout,
}

impl ExternalOutcome {
    /// HAProxy's description of the check status.
    pub fn description(self) -> &'static str {
        match self {
            ExternalOutcome::Passed => "External check passed",
            ExternalOutcome::Error => "External check error",
            ExternalOutcome::Timeout => "External check timeout",
        }
    }

    /// HAProxy's status code (`check_status` in `show stat`).
    pub fn code(self) -> &'static str {
        match self {
            ExternalOutcome::Passed => "PROCOK",
            ExternalOutcome::Error => "PROCERR",
            ExternalOutcome::Timeout => "PROCTOUT",
        }
    }
}

/// The outcome of one probe, as reported by the reactor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CheckResult {
    /// The TCP connection was established ("Layer4 check passed").
    Ok {
        /// Time from the start of the probe to its outcome.
        duration: Duration,
    },
    /// An HTTP check got a response its rules accept ("Layer7 check passed").
    Passed {
        /// The response's status code.
        code: u16,
        /// Time from the start of the probe to its outcome.
        duration: Duration,
    },
    /// `http-check disable-on-404` and a 404 ("Layer7 check conditionally passed"): an
    /// UP server stops taking new load-balanced traffic (HAProxy's "stopping" state)
    /// while its health counts it as a success; a DOWN server is judged by `otherwise`,
    /// the verdict of the expect rules.
    ConditionalPass {
        /// The response's status code (404).
        code: u16,
        /// Time from the start of the probe to its outcome.
        duration: Duration,
        /// The verdict without `disable-on-404`.
        otherwise: Box<CheckResult>,
    },
    /// An HTTP check got a status its rules refuse ("Layer7 wrong status").
    WrongStatus {
        /// The response's status code.
        code: u16,
        /// The response's reason phrase.
        info: String,
        /// Time from the start of the probe to its outcome.
        duration: Duration,
    },
    /// A `tcp-check` rule set ran to its end ("Layer7 check passed").
    TcpPassed {
        /// 0, or the status a protocol check read (an SMTP reply's code).
        code: u16,
        /// `(tcp-check)`, or the `on-success` text.
        info: String,
        /// Time from the start of the probe to its outcome.
        duration: Duration,
    },
    /// `option ssl-hello-chk` got a TLS record ("Layer6 check passed").
    L6Passed {
        /// Time from the start of the probe to its outcome.
        duration: Duration,
    },
    /// An external check's command ended or was killed (`option external-check`,
    /// `crate::runtime::external_check`).
    External {
        /// Passed (exit status 0), error (another status) or timeout.
        outcome: ExternalOutcome,
        /// The exit status (0 for a timeout).
        code: i32,
        /// Time from the start of the command to its end.
        duration: Duration,
    },
    /// The probe failed.
    Failed {
        /// What failed.
        reason: FailReason,
        /// Details, e.g. `strerror` text ("Connection refused"); empty for none.
        info: String,
        /// Time from the start of the probe to its outcome.
        duration: Duration,
    },
}

impl CheckResult {
    /// `true` for a passed check.
    pub fn is_ok(&self) -> bool {
        matches!(self, CheckResult::Ok { .. } | CheckResult::Passed { .. } | CheckResult::ConditionalPass { .. } | CheckResult::TcpPassed { .. } | CheckResult::L6Passed { .. } | CheckResult::External { outcome: ExternalOutcome::Passed, .. })
    }

    /// Time the probe took.
    pub fn duration(&self) -> Duration {
        match self {
            CheckResult::Ok { duration }
            | CheckResult::L6Passed { duration }
            | CheckResult::Passed { duration, .. }
            | CheckResult::ConditionalPass { duration, .. }
            | CheckResult::WrongStatus { duration, .. }
            | CheckResult::TcpPassed { duration, .. }
            | CheckResult::External { duration, .. }
            | CheckResult::Failed { duration, .. } => *duration,
        }
    }

    /// HAProxy's `reason:` text.
    pub fn description(&self) -> &'static str {
        match self {
            CheckResult::Ok { .. } => "Layer4 check passed",
            CheckResult::L6Passed { .. } => "Layer6 check passed",
            CheckResult::Passed { .. } | CheckResult::TcpPassed { .. } => "Layer7 check passed",
            CheckResult::ConditionalPass { .. } => "Layer7 check conditionally passed",
            CheckResult::WrongStatus { .. } => FailReason::L7Status.description(),
            CheckResult::External { outcome, .. } => outcome.description(),
            CheckResult::Failed { reason, .. } => reason.description(),
        }
    }
}

/// Formats `reason: ...[, code: N][, info: "..."], check duration: Nms` as HAProxy
/// appends it to its server state messages.
impl fmt::Display for CheckResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "reason: {}", self.description())?;
        if let CheckResult::Passed { code, .. }
        | CheckResult::ConditionalPass { code, .. }
        | CheckResult::WrongStatus { code, .. } = self
        {
            write!(f, ", code: {code}")?;
        }
        if let CheckResult::TcpPassed { code, .. } = self {
            write!(f, ", code: {code}")?;
        }
        if let CheckResult::External { code, .. } = self {
            write!(f, ", code: {code}")?;
        }
        if let CheckResult::Failed { info, .. } | CheckResult::WrongStatus { info, .. } | CheckResult::TcpPassed { info, .. } = self {
            if !info.is_empty() {
                // Escaped as `escape_default` does, except `'` (HAProxy prints
                // `'+PONG'` in tcp-check reports as it is).
                let escaped: String = info.chars().map(|c| if c == '\'' { c.to_string() } else { c.escape_default().to_string() }).collect();
                write!(f, ", info: \"{escaped}\"")?;
            }
        }
        // A health analysis ran no probe: HAProxy gives no duration.
        if let CheckResult::Failed { reason: FailReason::HealthAnalyze, .. } = self {
            return Ok(());
        }
        write!(f, ", check duration: {}ms", self.duration().as_millis())
    }
}

/// A change of the server's operational state caused by a check result.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transition {
    /// The server reached `rise` consecutive successes while DOWN.
    WentUp,
    /// The server failed while at the bottom of its UP range.
    WentDown,
}

/// The health-check state of one server.
#[derive(Clone, Debug)]
pub struct HealthCheck {
    rise: u32,
    fall: u32,
    inter: Duration,
    fastinter: Duration,
    downinter: Duration,
    /// `fastinter` as configured (`None`: not set).
    fastinter_conf: Option<Duration>,
    health: u32,
    /// `port` on the server line: probe this port instead of the server's.
    port: Option<u16>,
    /// `addr` on the server line: probe this address instead of the server's.
    addr: Option<std::net::IpAddr>,
    /// The last result, for stats and `log-health-checks` lines.
    last: Option<CheckResult>,
    /// Whether the last result moved the health counter.
    last_changed: bool,
    /// Whether the last result's status (its `reason:` text) differs from the one
    /// before; the first result always does (HAProxy starts from "initializing").
    last_new_status: bool,
}

impl HealthCheck {
    /// A check configured by `params`, starting UP with `health = rise`.
    /// `rise` and `fall` of 0 are treated as 1.
    pub fn new(params: &CheckParams) -> HealthCheck {
        let rise = params.rise.max(1);
        HealthCheck {
            rise,
            fall: params.fall.max(1),
            inter: params.inter,
            fastinter: params.fastinter.unwrap_or(params.inter),
            fastinter_conf: params.fastinter,
            downinter: params.downinter.unwrap_or(params.inter),
            health: rise,
            port: params.port,
            addr: params.addr,
            last: None,
            last_changed: false,
            last_new_status: false,
        }
    }

    /// `true` while the server is considered UP by its checks.
    pub fn is_up(&self) -> bool {
        self.health >= self.rise
    }

    /// The raw health counter, `0..=rise + fall - 1`.
    pub fn health(&self) -> u32 {
        self.health
    }

    /// `inter` as configured: the interval while fully UP.
    pub fn inter(&self) -> Duration {
        self.inter
    }

    /// `rise` as configured.
    pub fn rise(&self) -> u32 {
        self.rise
    }

    /// `fall` as configured.
    pub fn fall(&self) -> u32 {
        self.fall
    }

    /// `port` override for the probe.
    pub fn port(&self) -> Option<u16> {
        self.port
    }

    /// `addr` override for the probe.
    pub fn addr(&self) -> Option<std::net::IpAddr> {
        self.addr
    }

    fn max_health(&self) -> u32 {
        self.rise + self.fall - 1
    }

    /// Delay before the next probe, to be armed after each result (and at start,
    /// see [`HealthCheck::first_check_in`]).
    pub fn next_check_in(&self) -> Duration {
        if self.health == self.max_health() {
            self.inter
        } else if self.health == 0 {
            self.downinter
        } else {
            self.fastinter
        }
    }

    /// Delay before the very first probe: HAProxy spreads the first checks of the
    /// `count` checked servers evenly over one interval, server `index` (0-based)
    /// starting at `index / count` of it.
    pub fn first_check_in(&self, index: usize, count: usize) -> Duration {
        let count = count.max(1) as u32;
        let index = (index as u32).min(count - 1);
        self.next_check_in() * index / count
    }

    /// Applies one probe result and says whether the server changed state.
    pub fn on_result(&mut self, result: CheckResult) -> Option<Transition> {
        let was_up = self.is_up();
        let before = self.health;
        if result.is_ok() {
            if self.health < self.max_health() {
                self.health += 1;
                if self.health >= self.rise {
                    self.health = self.max_health();
                }
            }
        } else if self.health > 0 {
            self.health -= 1;
            if self.health < self.rise {
                self.health = 0;
            }
        }
        self.last_changed = self.health != before;
        self.last_new_status = self.last.as_ref().map(CheckResult::description) != Some(result.description());
        self.last = Some(result);
        match (was_up, self.is_up()) {
            (false, true) => Some(Transition::WentUp),
            (true, false) => Some(Transition::WentDown),
            _ => None,
        }
    }

    /// The last result fed to [`HealthCheck::on_result`].
    pub fn last_result(&self) -> Option<&CheckResult> {
        self.last.as_ref()
    }

    /// `true` if the last result moved the health counter (HAProxy logs a
    /// `Health check for server ...` line only then, with `option log-health-checks`).
    pub fn last_changed_health(&self) -> bool {
        self.last_changed
    }

    /// `true` if the last result is worth a `Health check for server ...` line with
    /// `option log-health-checks`: HAProxy logs a check whose result moved the health
    /// counter or whose status differs from the previous check's (the first check,
    /// or `Layer7 timeout` after `Layer4 connection problem` on a server already DOWN).
    pub fn last_worth_logging(&self) -> bool {
        self.last_changed || self.last_new_status
    }

    /// The `status: N/M UP|DOWN` part of HAProxy's health-check lines: while UP,
    /// the remaining failures before going down out of `fall`; while DOWN, the
    /// successes so far out of `rise`.
    pub fn status_text(&self) -> String {
        if self.is_up() {
            format!("{}/{} UP", self.health - self.rise + 1, self.fall)
        } else {
            format!("{}/{} DOWN", self.health, self.rise)
        }
    }

    /// Forces the counter to fully DOWN (`up = false`) or fully UP, e.g. when an
    /// operator sets the state by hand.
    pub fn force(&mut self, up: bool) {
        self.health = if up { self.max_health() } else { 0 };
    }

    /// `fastinter` if configured.
    pub fn configured_fastinter(&self) -> Option<Duration> {
        self.fastinter_conf
    }

    /// `on-error sudden-death`: an UP server above the bottom of its range drops to one
    /// step above it, so the next failure leaves it one from DOWN.
    pub fn leave_one_failure(&mut self) {
        if self.health > self.rise {
            self.health = self.rise + 1;
        }
    }

    /// `on-error mark-down`: an UP server drops to the bottom of its range, so the next
    /// failure takes it DOWN.
    pub fn leave_no_failure(&mut self) {
        if self.health > self.rise {
            self.health = self.rise;
        }
    }

    /// Restarts the check as at start-up (UP with `health = rise`), used when a
    /// server leaves maintenance.
    pub fn restart(&mut self) {
        self.health = self.rise;
        self.last_changed = false;
        self.last = None;
    }
}

/// An HTTP check ready to run (`option httpchk`, `http-check send/expect`): the request
/// to send and the rules that judge the response. Sans-io: the reactor writes
/// [`HttpProbe::request`], reads at most [`HttpProbe::max_response`] bytes and asks
/// [`HttpProbe::evaluate`] after each read.
#[derive(Clone, Debug)]
pub struct HttpProbe {
    request: Vec<u8>,
    method: Method,
    expects: Vec<Expect>,
    /// A rule looks at the body: wait for all of it (or a full buffer).
    needs_body: bool,
    disable_on_404: bool,
    max_response: usize,
    port: Option<u16>,
}

#[derive(Clone, Debug)]
struct Expect {
    negate: bool,
    kind: ExpectKind,
}

#[derive(Clone, Debug)]
enum ExpectKind {
    Status(Vec<(u16, u16)>),
    RStatus(Regex),
    String(Vec<u8>),
    RString(Regex),
}

impl HttpProbe {
    /// Compiles a parsed check; at most `hc.response_limit` bytes of a response are
    /// read (`tune.bufsize`). Patterns were validated by the parser; one that does not
    /// compile here is dropped.
    pub fn new(hc: &HttpCheck) -> HttpProbe {
        let mut request = format!("{} {} {}\r\n", hc.method, hc.uri, hc.version);
        // HAProxy sends lower-case names, a content-length for a body and, in
        // HTTP/1.1, asks the server to close.
        for (name, value) in &hc.headers {
            request.push_str(&format!("{}: {}\r\n", name.to_ascii_lowercase(), value));
        }
        if !hc.body.is_empty() {
            request.push_str(&format!("content-length: {}\r\n", hc.body.len()));
        }
        if hc.version.eq_ignore_ascii_case("HTTP/1.1") {
            request.push_str("connection: close\r\n");
        }
        request.push_str("\r\n");
        request.push_str(&hc.body);
        if !hc.send {
            // Only `expect` rules: nothing is sent, the server is expected to speak.
            request.clear();
        }
        let expects: Vec<Expect> = hc
            .expects
            .iter()
            .filter_map(|e| {
                let kind = match &e.kind {
                    HttpCheckMatch::Status(r) => ExpectKind::Status(r.clone()),
                    HttpCheckMatch::RStatus(re) => ExpectKind::RStatus(Regex::new(re.as_bytes(), false).ok()?),
                    HttpCheckMatch::String(t) => ExpectKind::String(t.as_bytes().to_vec()),
                    HttpCheckMatch::RString(re) => ExpectKind::RString(Regex::new(re.as_bytes(), false).ok()?),
                };
                Some(Expect { negate: e.negate, kind })
            })
            .collect();
        HttpProbe {
            request: request.into_bytes(),
            method: Method::from_token(&hc.method),
            needs_body: expects.iter().any(|e| matches!(e.kind, ExpectKind::String(_) | ExpectKind::RString(_))),
            expects,
            disable_on_404: hc.disable_on_404,
            max_response: hc.response_limit.max(1024),
            port: hc.connect_port,
        }
    }

    /// The request bytes to send once connected.
    pub fn request(&self) -> &[u8] {
        &self.request
    }

    /// The most bytes of a response to read.
    pub fn max_response(&self) -> usize {
        self.max_response
    }

    /// `http-check connect port`: probe this port instead of the server's.
    pub fn port(&self) -> Option<u16> {
        self.port
    }

    /// Judges the response received so far. `ended`: no more bytes will come (the
    /// server closed, or `max_response` bytes were read). `None`: wait for more.
    pub fn evaluate(&self, received: &[u8], ended: bool, duration: Duration) -> Option<CheckResult> {
        let invalid = |info: &str| CheckResult::Failed { reason: FailReason::L7Response, info: info.into(), duration };
        let limits = Limits { max_head: self.max_response, ..Limits::default() };
        let (response, head_len) = match ResponseParser::new(limits, self.method.clone()).parse(received) {
            Err(_) => return Some(invalid("")),
            Ok(Status::Partial) if ended => return Some(invalid("")),
            Ok(Status::Partial) => return None,
            Ok(Status::Complete(r, n)) => (r, n),
        };
        let body = if self.needs_body {
            match body_of(&response, &received[head_len..], ended) {
                Ok(Some(b)) => b,
                Ok(None) => return None,
                Err(()) => return Some(invalid("")),
            }
        } else {
            Vec::new()
        };
        let verdict = self.verdict(&response, &body, duration);
        let code = response.line.status;
        if self.disable_on_404 && code == 404 {
            return Some(CheckResult::ConditionalPass { code, duration, otherwise: Box::new(verdict) });
        }
        Some(verdict)
    }

    /// What the expect rules (or the default 2xx/3xx rule) say of a complete response.
    fn verdict(&self, response: &crate::http::Response, body: &[u8], duration: Duration) -> CheckResult {
        let invalid = |info: &str| CheckResult::Failed { reason: FailReason::L7Response, info: info.into(), duration };
        let code = response.line.status;
        let wrong_status = || CheckResult::WrongStatus {
            code,
            info: String::from_utf8_lossy(&response.line.reason).into_owned(),
            duration,
        };
        if self.expects.is_empty() && !(200..400).contains(&code) {
            return wrong_status();
        }
        for e in &self.expects {
            let on_body = matches!(e.kind, ExpectKind::String(_) | ExpectKind::RString(_));
            if on_body && body.is_empty() {
                // Even a negated rule needs a body to look at.
                return invalid("HTTP content check could not find a response body");
            }
            let digits = format!("{code:03}");
            let matched = match &e.kind {
                ExpectKind::Status(ranges) => ranges.iter().any(|(lo, hi)| (*lo..=*hi).contains(&code)),
                ExpectKind::RStatus(re) => re.is_match(digits.as_bytes()),
                ExpectKind::String(t) => contains(body, t),
                ExpectKind::RString(re) => re.is_match(body),
            };
            if matched == e.negate {
                return match e.kind {
                    ExpectKind::Status(_) | ExpectKind::RStatus(_) => wrong_status(),
                    _ if e.negate => invalid("HTTP check matched unwanted content"),
                    _ => invalid("HTTP content check did not match"),
                };
            }
        }
        CheckResult::Passed { code, duration }
    }
}

/// The decoded body of `response` from the bytes after its head: `Ok(None)` while
/// incomplete, `Err` when its framing is broken. A body cut by `ended` is judged as
/// far as it goes.
fn body_of(response: &crate::http::Response, mut input: &[u8], ended: bool) -> Result<Option<Vec<u8>>, ()> {
    let mut decoder = BodyDecoder::new(response.framing, &Limits::default());
    let mut body = Vec::new();
    while !decoder.is_done() && !input.is_empty() {
        let d = decoder.decode(input).map_err(drop)?;
        body.extend_from_slice(&input[d.data.clone()]);
        input = &input[d.consumed..];
        if d.consumed == 0 {
            break;
        }
    }
    Ok((decoder.is_done() || ended).then_some(body))
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || haystack.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(rise: u32, fall: u32) -> CheckParams {
        CheckParams {
            inter: Duration::from_millis(1000),
            fastinter: Some(Duration::from_millis(200)),
            downinter: Some(Duration::from_millis(700)),
            rise,
            fall,
            ..CheckParams::default()
        }
    }

    fn ok() -> CheckResult {
        CheckResult::Ok { duration: Duration::ZERO }
    }

    fn refused() -> CheckResult {
        CheckResult::Failed {
            reason: FailReason::L4Connection,
            info: "Connection refused".into(),
            duration: Duration::from_micros(300),
        }
    }

    #[test]
    fn starts_up_and_first_failure_takes_it_down() {
        let mut c = HealthCheck::new(&params(3, 3));
        assert!(c.is_up());
        assert_eq!(c.status_text(), "1/3 UP");
        assert_eq!(c.on_result(refused()), Some(Transition::WentDown));
        assert_eq!(c.status_text(), "0/3 DOWN");
        assert_eq!(c.health(), 0);
    }

    #[test]
    fn rise_successes_bring_it_up_then_fall_failures_down() {
        let mut c = HealthCheck::new(&params(3, 3));
        c.on_result(refused());
        assert_eq!(c.on_result(ok()), None);
        assert_eq!(c.status_text(), "1/3 DOWN");
        assert_eq!(c.on_result(ok()), None);
        assert_eq!(c.on_result(ok()), Some(Transition::WentUp));
        assert_eq!(c.status_text(), "3/3 UP");
        assert_eq!(c.on_result(ok()), None);
        assert!(!c.last_changed_health());
        assert_eq!(c.on_result(refused()), None);
        assert_eq!(c.status_text(), "2/3 UP");
        assert_eq!(c.on_result(refused()), None);
        assert_eq!(c.status_text(), "1/3 UP");
        assert_eq!(c.on_result(refused()), Some(Transition::WentDown));
        assert_eq!(c.status_text(), "0/3 DOWN");
        assert_eq!(c.on_result(refused()), None);
        assert!(!c.last_changed_health());
    }

    #[test]
    fn a_success_while_failing_restores_full_health() {
        let mut c = HealthCheck::new(&params(2, 3));
        c.force(true);
        c.on_result(refused());
        c.on_result(refused());
        assert_eq!(c.status_text(), "1/3 UP");
        assert_eq!(c.on_result(ok()), None);
        assert_eq!(c.status_text(), "3/3 UP");
        // A failure while rising resets the rise to zero.
        c.force(false);
        c.on_result(ok());
        assert_eq!(c.on_result(refused()), None);
        assert_eq!(c.health(), 0);
    }

    #[test]
    fn intervals_follow_the_state() {
        let mut c = HealthCheck::new(&params(2, 2));
        // Start: health = rise, not the maximum: transitioning.
        assert_eq!(c.next_check_in(), Duration::from_millis(200));
        c.on_result(ok());
        assert_eq!(c.next_check_in(), Duration::from_millis(1000));
        c.on_result(refused());
        assert_eq!(c.next_check_in(), Duration::from_millis(200));
        c.on_result(refused());
        assert_eq!(c.next_check_in(), Duration::from_millis(700));
        c.on_result(ok());
        assert_eq!(c.next_check_in(), Duration::from_millis(200));
    }

    #[test]
    fn intervals_default_to_inter() {
        let p = CheckParams { inter: Duration::from_secs(2), rise: 1, fall: 1, ..CheckParams::default() };
        let mut c = HealthCheck::new(&p);
        assert_eq!(c.next_check_in(), Duration::from_secs(2));
        assert_eq!(c.on_result(refused()), Some(Transition::WentDown));
        assert_eq!(c.next_check_in(), Duration::from_secs(2));
        assert_eq!(c.on_result(ok()), Some(Transition::WentUp));
    }

    #[test]
    fn first_checks_are_spread_over_one_interval() {
        let c = HealthCheck::new(&params(1, 1));
        assert_eq!(c.first_check_in(0, 4), Duration::ZERO);
        assert_eq!(c.first_check_in(2, 4), Duration::from_millis(500));
    }

    #[test]
    fn result_text_matches_haproxy() {
        assert_eq!(
            refused().to_string(),
            "reason: Layer4 connection problem, info: \"Connection refused\", check duration: 0ms"
        );
        let t = CheckResult::Failed {
            reason: FailReason::L4Timeout,
            info: String::new(),
            duration: Duration::from_millis(2001),
        };
        assert_eq!(t.to_string(), "reason: Layer4 timeout, check duration: 2001ms");
        assert_eq!(
            CheckResult::Ok { duration: Duration::from_millis(3) }.to_string(),
            "reason: Layer4 check passed, check duration: 3ms"
        );
    }

    fn probe(expects: Vec<HttpCheckMatch>) -> HttpProbe {
        let hc = HttpCheck {
            enabled: true,
            send: true,
            expects: expects.into_iter().map(|kind| crate::config::model::HttpCheckExpect { negate: false, kind }).collect(),
            ..HttpCheck::default()
        };
        HttpProbe::new(&hc)
    }

    fn judge(p: &HttpProbe, response: &str, ended: bool) -> Option<String> {
        p.evaluate(response.as_bytes(), ended, Duration::ZERO).map(|r| r.to_string())
    }

    #[test]
    fn default_http_check_request_and_verdicts() {
        let p = probe(vec![]);
        assert_eq!(p.request(), b"OPTIONS / HTTP/1.0\r\n\r\n");
        assert_eq!(judge(&p, "HTTP/1.1 200 OK\r\n", false), None, "head incomplete");
        assert_eq!(
            judge(&p, "HTTP/1.1 302 Found\r\n\r\n", false).unwrap(),
            "reason: Layer7 check passed, code: 302, check duration: 0ms"
        );
        assert_eq!(
            judge(&p, "HTTP/1.0 404 Not Found\r\n\r\n", false).unwrap(),
            "reason: Layer7 wrong status, code: 404, info: \"Not Found\", check duration: 0ms"
        );
        assert_eq!(judge(&p, "HTTP/1.1 200", true).unwrap(), "reason: Layer7 invalid response, check duration: 0ms");
        assert_eq!(judge(&p, "SSH-2.0\r\n\r\n", false).unwrap(), "reason: Layer7 invalid response, check duration: 0ms");
    }

    #[test]
    fn body_rules_wait_for_the_body() {
        let p = probe(vec![HttpCheckMatch::String("up".into()), HttpCheckMatch::RStatus("^2".into())]);
        assert_eq!(judge(&p, "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\ni'", false), None);
        assert!(judge(&p, "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\ni'up", false).unwrap().contains("check passed"));
        assert!(judge(&p, "HTTP/1.1 200 OK\r\n\r\nall is up", true).unwrap().contains("check passed"), "body until close");
        assert!(judge(&p, "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\ndown", false)
            .unwrap()
            .contains("info: \"HTTP content check did not match\""));
        assert!(judge(&p, "HTTP/1.1 500 Oops\r\nContent-Length: 2\r\n\r\nup", false).unwrap().contains("wrong status, code: 500"));
    }

    #[test]
    fn status_ranges() {
        let p = probe(vec![HttpCheckMatch::Status(vec![(200, 204), (404, 404)])]);
        assert!(judge(&p, "HTTP/1.1 404 Not Found\r\n\r\n", false).unwrap().contains("passed"));
        assert!(judge(&p, "HTTP/1.1 205 Reset\r\n\r\n", false).unwrap().contains("wrong status"));
    }

    #[test]
    fn a_new_status_is_worth_logging_even_when_health_stays() {
        let mut c = HealthCheck::new(&params(1, 1));
        // The first result is always new, though `rise 1 fall 1` leaves health at 1.
        c.on_result(ok());
        assert!(!c.last_changed_health());
        assert!(c.last_worth_logging());
        c.on_result(ok());
        assert!(!c.last_worth_logging());
        c.on_result(refused());
        assert!(c.last_worth_logging());
        // DOWN, same status: nothing to log; DOWN with another status: logged.
        c.on_result(refused());
        assert!(!c.last_worth_logging());
        c.on_result(CheckResult::Failed { reason: FailReason::L7Timeout, info: String::new(), duration: Duration::ZERO });
        assert!(!c.last_changed_health());
        assert!(c.last_worth_logging());
    }
}
