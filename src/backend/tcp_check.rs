//! TCP health checks (`option tcp-check` and its rules) as a sans-io probe.
//!
//! A [`TcpProbe`] is compiled once per backend from the parsed rules; each probe of a
//! server runs a [`TcpRun`] (the rule it is at, and where the bytes it judges start).
//! The reactor (`crate::runtime::checks`) connects, then calls [`TcpProbe::advance`]
//! with every byte received so far: it gets back the bytes to send and, at the end,
//! the [`CheckResult`] with HAProxy 2.6's wording (measured on 2.6.12):
//! - a pass is `Layer7 check passed, code: 0, info: "(tcp-check)"` (or the
//!   `on-success` text); a ruleless `option tcp-check` is a connect,
//!   `Layer4 check passed`;
//! - a failed connect says `<error> at initial connection step of tcp-check`;
//! - a mismatch is `Layer7 invalid response` with `TCPCHK did not match content
//!   '<pattern>' at step <n>` (`(regex)`, `(binary)`, `(binary regex)` for the other
//!   kinds; `matched unwanted content` for `!`), or `TCPCHK got an empty response at
//!   step <n>` when the server closed without a byte;
//! - a timeout while expecting is `Layer7 timeout` with ` at step <n> of tcp-check
//!   (expect string '<pattern>')`.
//!
//! Steps are the rules' 1-based positions, `comment` rules included; a failing rule
//! after a `comment` adds ` comment: <text>`. As in HAProxy, a `send` drops what was
//! received before it, and consecutive `expect` rules judge the same bytes.
//!
//! The protocol checks (`option redis-check` & co) are predefined rule sets run by the
//! same engine (`super::proto_check`); their reports differ as HAProxy's do (no step
//! in connect failures, timeouts and mismatches).

use std::time::Duration;

use super::check::{CheckResult, FailReason};
use super::proto_check::{self, Extras, Judge, ProtoRule, Verdict};
use crate::config::model::{TcpCheck, TcpCheckExpect, TcpCheckMatch, TcpCheckRule};
use crate::sample::regex::Regex;

/// A compiled `tcp-check` rule set.
#[derive(Clone, Debug)]
pub struct TcpProbe {
    steps: Vec<Step>,
    port: Option<u16>,
    /// Whether any rule sends or expects (else the check is a plain connect).
    talks: bool,
    max_response: usize,
    /// A protocol check's predefined rules rather than configured ones.
    predefined: bool,
}

#[derive(Clone, Debug)]
struct Step {
    action: Action,
    /// The `comment` rule right before this one.
    comment: Option<String>,
}

#[derive(Clone, Debug)]
enum Action {
    Nothing,
    Send(Vec<u8>),
    Expect(Box<Expect>),
    /// A protocol check's answer judged by code.
    Judge(Judge),
}

#[derive(Clone, Debug)]
struct Expect {
    rule: TcpCheckExpect,
    regex: Option<Regex>,
    extras: Extras,
}

/// Where one probe is in the rules.
#[derive(Clone, Debug, Default)]
pub struct TcpRun {
    step: usize,
    /// Received bytes before this offset were dropped by a `send`.
    from: usize,
    /// What the last passed rule that says something reports (protocol checks).
    passed: Option<Passed>,
}

/// A protocol check's report of a passed rule.
#[derive(Clone, Debug)]
struct Passed {
    /// The status read from the answer (an SMTP reply code), else 0.
    code: u16,
    info: String,
    /// `Layer6 check passed` rather than layer 7.
    layer6: bool,
}

impl TcpRun {
    /// Whether bytes past the last `send` were received (`received` bytes in all).
    pub fn has_new(&self, received: usize) -> bool {
        received > self.from
    }
}

impl TcpProbe {
    /// Compiles parsed rules; at most `max_response` bytes are read.
    pub fn new(tc: &TcpCheck, max_response: usize) -> TcpProbe {
        if let Some(protocol) = &tc.protocol {
            return TcpProbe::predefined(proto_check::rules(protocol), max_response);
        }
        let mut steps = Vec::with_capacity(tc.rules.len());
        let mut port = None;
        let mut comment = None;
        for rule in &tc.rules {
            let action = match rule {
                TcpCheckRule::Connect { port: p, .. } => {
                    port = port.or(*p);
                    Action::Nothing
                }
                TcpCheckRule::Comment(text) => {
                    steps.push(Step { action: Action::Nothing, comment: None });
                    comment = Some(text.clone());
                    continue;
                }
                TcpCheckRule::Send(bytes) => Action::Send(bytes.clone()),
                TcpCheckRule::Expect(e) => Action::Expect(Box::new(Expect::new(e.clone(), Extras::default()))),
            };
            steps.push(Step { action, comment: comment.take() });
        }
        let talks = steps.iter().any(|s| !matches!(s.action, Action::Nothing));
        TcpProbe { steps, port, talks, max_response: max_response.max(1024), predefined: false }
    }

    /// A protocol check's rule set.
    fn predefined(rules: Vec<ProtoRule>, max_response: usize) -> TcpProbe {
        let steps = rules
            .into_iter()
            .map(|rule| {
                let action = match rule {
                    ProtoRule::Connect => Action::Nothing,
                    ProtoRule::Send(bytes) => Action::Send(bytes),
                    ProtoRule::Expect(e, extras) => Action::Expect(Box::new(Expect::new(e, extras))),
                    ProtoRule::Judge(judge) => Action::Judge(judge),
                };
                Step { action, comment: None }
            })
            .collect();
        TcpProbe { steps, port: None, talks: true, max_response: max_response.max(1024), predefined: true }
    }

    /// `tcp-check connect port`: probe this port instead of the server's.
    pub fn port(&self) -> Option<u16> {
        self.port
    }

    /// The most bytes of a response to read.
    pub fn max_response(&self) -> usize {
        self.max_response
    }

    /// The most bytes the rules send in one probe.
    pub fn max_request(&self) -> usize {
        self.steps.iter().map(|s| if let Action::Send(b) = &s.action { b.len() } else { 0 }).sum::<usize>().max(1)
    }

    /// Runs the rules as far as `received` (all bytes received since connected) allows.
    /// `ended`: no more bytes will come. Bytes to send are appended to `out`; a
    /// verdict ends the probe, `None` waits for more bytes.
    pub fn advance(&self, run: &mut TcpRun, received: &[u8], ended: bool, out: &mut Vec<u8>, duration: Duration) -> Option<CheckResult> {
        while let Some(step) = self.steps.get(run.step) {
            let n = run.step + 1;
            match &step.action {
                Action::Nothing => {}
                Action::Send(bytes) => {
                    out.extend_from_slice(bytes);
                    run.from = received.len();
                }
                Action::Expect(e) => {
                    let data = &received[run.from.min(received.len())..];
                    if data.is_empty() && ended {
                        return Some(self.fail(e, step, data, format!("TCPCHK got an empty response at step {n}"), duration));
                    }
                    if e.rule.min_recv.is_some_and(|m| data.len() < m) && !ended {
                        return None;
                    }
                    let found = self.matches(e, data);
                    if !found && !ended && e.rule.min_recv.is_none() {
                        return None;
                    }
                    if found == e.rule.negate {
                        // A protocol check's own mismatch says nothing more than its status.
                        let what = if found { "matched unwanted content" } else { "did not match content" };
                        let info = if self.predefined { String::new() } else { format!("TCPCHK {what} {} at step {n}", pattern_text(&e.rule.kind, true)) };
                        return Some(self.fail(e, step, data, info, duration));
                    }
                    let x = &e.extras;
                    if x.layer6 || x.status_code || x.on_success.is_some() {
                        let code = if x.status_code { proto_check::status_code(data) } else { 0 };
                        let info = x.on_success.as_ref().map(|t| t.render(data)).unwrap_or_default();
                        run.passed = Some(Passed { code, info, layer6: x.layer6 });
                    }
                }
                Action::Judge(judge) => {
                    let data = &received[run.from.min(received.len())..];
                    if data.is_empty() && ended {
                        let info = format!("TCPCHK got an empty response at step {n}");
                        return Some(CheckResult::Failed { reason: FailReason::L7Response, info, duration });
                    }
                    match judge.judge(data, ended) {
                        Verdict::Wait => return None,
                        Verdict::Pass(info) => run.passed = Some(Passed { code: 0, info, layer6: false }),
                        Verdict::Status(code, info) => return Some(CheckResult::WrongStatus { code, info, duration }),
                        Verdict::Invalid(info) => return Some(CheckResult::Failed { reason: FailReason::L7Response, info, duration }),
                    }
                }
            }
            run.step += 1;
        }
        if !self.talks {
            return Some(CheckResult::Ok { duration });
        }
        match run.passed.take() {
            Some(Passed { layer6: true, .. }) => Some(CheckResult::L6Passed { duration }),
            Some(Passed { code, info, .. }) if self.predefined => Some(CheckResult::TcpPassed { code, info, duration }),
            _ => {
                let info = self.last_on_success().unwrap_or_else(|| "(tcp-check)".into());
                Some(CheckResult::TcpPassed { code: 0, info, duration })
            }
        }
    }

    /// The `info` of a failed connect (`info` is the error's text): a configured
    /// `tcp-check` names the step, a protocol check does not.
    pub fn connect_failure_info(&self, info: &str) -> String {
        if self.predefined {
            info.to_string()
        } else {
            connect_failure_info(info)
        }
    }

    /// The probe timed out at `run`'s step (waiting for an expected answer).
    pub fn timeout(&self, run: &TcpRun, duration: Duration) -> CheckResult {
        let n = run.step + 1;
        let step = self.steps.get(run.step).map(|s| &s.action);
        if self.predefined {
            // `ssl-hello-chk` waits for a TLS record: its timeout is at layer 6.
            let layer6 = matches!(step, Some(Action::Expect(e)) if e.extras.layer6);
            let reason = if layer6 { FailReason::L6Timeout } else { FailReason::L7Timeout };
            return CheckResult::Failed { reason, info: String::new(), duration };
        }
        let info = match step {
            Some(Action::Expect(e)) => format!(" at step {n} of tcp-check (expect {})", pattern_text(&e.rule.kind, false)),
            _ => format!(" at step {n} of tcp-check"),
        };
        CheckResult::Failed { reason: FailReason::L7Timeout, info, duration }
    }

    /// The connection failed (a reset) at `run`'s step with nothing new received:
    /// HAProxy's `Socket error` with the step.
    pub fn socket_error(&self, run: &TcpRun, duration: Duration) -> CheckResult {
        let CheckResult::Failed { info, .. } = self.timeout(run, duration) else { unreachable!("a timeout is a failure") };
        CheckResult::Failed { reason: FailReason::SocketError, info: format!("Connection reset by peer{info}"), duration }
    }

    fn matches(&self, e: &Expect, data: &[u8]) -> bool {
        match &e.rule.kind {
            TcpCheckMatch::String(s) | TcpCheckMatch::Binary(s) => data.windows(s.len().max(1)).any(|w| w == s.as_slice()),
            TcpCheckMatch::RString(_) => e.regex.as_ref().is_some_and(|r| r.is_match(data)),
            TcpCheckMatch::RBinary(_) => {
                let hex: String = data.iter().map(|b| format!("{b:02X}")).collect();
                e.regex.as_ref().is_some_and(|r| r.is_match(hex.as_bytes()))
            }
        }
    }

    /// The failure of expect rule `e` on the answer `data`; `info` is the default text.
    /// A wrong status (`error-status L7STS`) has a code: the answer's first digits for
    /// a protocol check that reads them, else 0.
    fn fail(&self, e: &Expect, step: &Step, data: &[u8], info: String, duration: Duration) -> CheckResult {
        let reason = match e.rule.error_status.as_deref() {
            Some("L4CON") => FailReason::L4Connection,
            Some("L7STS") => FailReason::L7Status,
            Some("L6RSP") => FailReason::L6Response,
            _ => FailReason::L7Response,
        };
        let answer_text = e.extras.on_error.as_ref().map(|t| t.render(data)).filter(|t| !t.is_empty());
        let info = match (&e.rule.on_error, answer_text, &step.comment) {
            (Some(text), _, _) => text.clone(),
            (None, Some(text), _) => text,
            (None, None, Some(c)) => format!("{info} comment: {c}"),
            (None, None, None) => info,
        };
        if reason == FailReason::L7Status {
            let code = if e.extras.status_code { proto_check::status_code(data) } else { 0 };
            return CheckResult::WrongStatus { code, info, duration };
        }
        CheckResult::Failed { reason, info, duration }
    }

    /// The `on-success` text of the last `expect` rule that has one.
    fn last_on_success(&self) -> Option<String> {
        self.steps.iter().rev().find_map(|s| match &s.action {
            Action::Expect(e) => e.rule.on_success.clone(),
            _ => None,
        })
    }
}

impl Expect {
    fn new(rule: TcpCheckExpect, extras: Extras) -> Expect {
        let regex = match &rule.kind {
            TcpCheckMatch::RString(re) => Regex::new(re.as_bytes(), false).ok(),
            TcpCheckMatch::RBinary(re) => Regex::new(re.as_bytes(), true).ok(),
            _ => None,
        };
        Expect { rule, regex, extras }
    }
}

/// How HAProxy names a pattern in its reports: `'+PONG'` for a string (and, in timeout
/// reports, for a binary pattern), `(regex)`, `(binary)`, `(binary regex)` otherwise.
fn pattern_text(kind: &TcpCheckMatch, mismatch: bool) -> String {
    match (kind, mismatch) {
        (TcpCheckMatch::String(s), true) => format!("'{}'", String::from_utf8_lossy(s)),
        (TcpCheckMatch::String(s), false) => format!("string '{}'", String::from_utf8_lossy(s)),
        (TcpCheckMatch::Binary(_), true) => "(binary)".into(),
        (TcpCheckMatch::Binary(b), false) => format!("binary '{}'", String::from_utf8_lossy(b)),
        (TcpCheckMatch::RString(_), true) => "(regex)".into(),
        (TcpCheckMatch::RString(_), false) => "regex".into(),
        (TcpCheckMatch::RBinary(_), true) => "(binary regex)".into(),
        (TcpCheckMatch::RBinary(_), false) => "binary regex".into(),
    }
}

/// The `info` of a failed connect, as HAProxy words it for a `tcp-check`.
pub fn connect_failure_info(info: &str) -> String {
    format!("{info} at initial connection step of tcp-check")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::model::{TcpCheck, TcpCheckExpect, TcpCheckMatch, TcpCheckRule};

    fn expect(kind: TcpCheckMatch, negate: bool) -> TcpCheckRule {
        TcpCheckRule::Expect(TcpCheckExpect { negate, kind, min_recv: None, error_status: None, on_success: None, on_error: None })
    }

    fn redis() -> TcpProbe {
        let rules = vec![TcpCheckRule::Send(b"PING\r\n".to_vec()), expect(TcpCheckMatch::String(b"+PONG".to_vec()), false)];
        TcpProbe::new(&TcpCheck { enabled: true, inherited: false, rules, protocol: None }, 16384)
    }

    /// Connects (the sends go out, nothing received yet), then `received` arrives.
    fn run(p: &TcpProbe, received: &[u8], ended: bool) -> (Vec<u8>, Option<String>) {
        let (mut out, mut run) = (Vec::new(), TcpRun::default());
        if let Some(r) = p.advance(&mut run, b"", false, &mut out, Duration::ZERO) {
            return (out, Some(r.to_string()));
        }
        let r = p.advance(&mut run, received, ended, &mut out, Duration::ZERO);
        (out, r.map(|r| r.to_string()))
    }

    #[test]
    fn redis_ping_pong() {
        let p = redis();
        let (out, verdict) = run(&p, b"", false);
        assert_eq!((out.as_slice(), verdict), (&b"PING\r\n"[..], None), "sends, then waits");
        let ok = "reason: Layer7 check passed, code: 0, info: \"(tcp-check)\", check duration: 0ms";
        assert_eq!(run(&p, b"+PONG\r\n", false).1.as_deref(), Some(ok));
        let bad = "reason: Layer7 invalid response, info: \"TCPCHK did not match content '+PONG' at step 2\", check duration: 0ms";
        assert_eq!(run(&p, b"-ERR\r\n", true).1.as_deref(), Some(bad));
        assert_eq!(run(&p, b"-ERR\r\n", false).1, None, "waits for more until the end");
        let empty = "reason: Layer7 invalid response, info: \"TCPCHK got an empty response at step 2\", check duration: 0ms";
        assert_eq!(run(&p, b"", true).1.as_deref(), Some(empty));
        let mut r = TcpRun::default();
        p.advance(&mut r, b"", false, &mut Vec::new(), Duration::ZERO);
        assert_eq!(
            p.timeout(&r, Duration::ZERO).to_string(),
            "reason: Layer7 timeout, info: \" at step 2 of tcp-check (expect string '+PONG')\", check duration: 0ms"
        );
    }

    #[test]
    fn negation_binary_and_regexes() {
        let probe = |rule| TcpProbe::new(&TcpCheck { enabled: true, inherited: false, rules: vec![rule], protocol: None }, 0);
        let unwanted = run(&probe(expect(TcpCheckMatch::String(b"ERR".to_vec()), true)), b"-ERR", false).1.unwrap();
        assert!(unwanted.contains("TCPCHK matched unwanted content 'ERR' at step 1"), "{unwanted}");
        assert!(run(&probe(expect(TcpCheckMatch::String(b"ERR".to_vec()), true)), b"+OK", true).1.unwrap().contains("passed"));
        assert!(run(&probe(expect(TcpCheckMatch::Binary(b"+PONG".to_vec()), false)), b"+PONG", false).1.unwrap().contains("passed"));
        assert!(run(&probe(expect(TcpCheckMatch::RBinary("2b50".into()), false)), b"+PONG", false).1.unwrap().contains("passed"));
        let re = run(&probe(expect(TcpCheckMatch::RString("^\\+P.NG".into()), false)), b"xPONG", true).1.unwrap();
        assert!(re.contains("TCPCHK did not match content (regex) at step 1"), "{re}");
        // No rule that talks: a connect check.
        assert_eq!(run(&TcpProbe::new(&TcpCheck::default(), 0), b"", false).1.unwrap(), "reason: Layer4 check passed, check duration: 0ms");
    }

    #[test]
    fn comments_count_as_steps_and_label_failures() {
        let rules = vec![
            TcpCheckRule::Comment("hello".into()),
            TcpCheckRule::Send(b"PING\r\n".to_vec()),
            TcpCheckRule::Comment("pong".into()),
            expect(TcpCheckMatch::String(b"+PONG".to_vec()), false),
        ];
        let p = TcpProbe::new(&TcpCheck { enabled: true, inherited: false, rules, protocol: None }, 0);
        let got = run(&p, b"nope", true).1.unwrap();
        assert!(got.contains("TCPCHK did not match content '+PONG' at step 4 comment: pong"), "{got}");
    }
}
