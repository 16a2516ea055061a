//! Email alerts (`mailers` sections, `email-alert` in proxies): a server state change
//! at or above a proxy's `email-alert level` (default `alert`) is mailed to every
//! mailer of its section, as HAProxy 2.6 does it, with the same SMTP dialogue:
//!
//! ```text
//! S: 220 ...                      C: HELO <myhostname>
//! S: 250 ...                      C: MAIL FROM:<from>
//! S: 250 ...                      C: RCPT TO:<to>
//! S: 250 ...                      C: DATA
//! S: 354 ...                      C: From: <from> / To: <to> / Date: <date> /
//!                                    Subject: [HAProxy Alert] <message>, a blank line,
//!                                    <message>, a blank line, "."
//! S: 250 ...                      C: QUIT
//! S: 221 ...
//! ```
//!
//! The dialogue is a `tcp-check` rule set (as in HAProxy) run by the health-check
//! engine of `super::checks` over a non-blocking connection, bounded by `timeout mail`.
//! State changes are noted here ([`note`], from wherever the state changes) and sent
//! at the end of the reactor's iteration (`Checks::send_alerts`).

use crate::backend::TcpProbe;
use crate::config::model::{Config, Level, TcpCheck, TcpCheckExpect, TcpCheckMatch, TcpCheckRule};
use std::cell::RefCell;
use std::net::SocketAddr;
use std::time::{Duration, SystemTime};

thread_local! {
    /// State change messages not sent yet: (proxy index, level, text).
    static PENDING: RefCell<Vec<(usize, Level, String)>> = const { RefCell::new(Vec::new()) };
    /// Whether some proxy of this thread mails alerts ([`Alerts::build`]): without one,
    /// nothing is noted, and the reactor's end of iteration costs a `Cell` read.
    static ACTIVE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Whether email alerts are configured (the end of each reactor iteration asks).
pub fn active() -> bool {
    ACTIVE.with(|a| a.get())
}

/// A server state change message of proxy `be` (`Server b/s is DOWN, ...`), to mail
/// if the proxy has email alerts at this level. Other messages are not mailed.
pub fn note(be: usize, level: Level, text: &str) {
    if active() && text.starts_with("Server ") {
        PENDING.with(|p| p.borrow_mut().push((be, level, text.to_string())));
    }
}

/// One proxy's alert settings, resolved at start-up.
#[derive(Clone, Debug)]
struct ProxyAlerts {
    mailers: Vec<SocketAddr>,
    timeout: Duration,
    level: Level,
    from: String,
    to: String,
    hostname: String,
}

/// The email alerts of every proxy (by proxy index).
#[derive(Default)]
pub struct Alerts {
    proxies: Vec<Option<ProxyAlerts>>,
}

/// One mail to send: where, within how long, and the dialogue.
pub struct Mail {
    pub to: SocketAddr,
    pub timeout: Duration,
    pub dialogue: TcpProbe,
}

impl Alerts {
    pub fn build(config: &Config) -> Alerts {
        let proxies = config
            .proxies
            .iter()
            .map(|p| {
                let ea = p.email_alert.as_ref()?;
                let section = config.mailers.iter().find(|m| Some(&m.name) == ea.mailers.as_ref())?;
                Some(ProxyAlerts {
                    mailers: section.mailers.iter().map(|(_, a)| *a).collect(),
                    timeout: section.timeout_mail,
                    level: level_from(ea.level.unwrap_or(Level::Alert as u8)),
                    from: ea.from.clone().unwrap_or_default(),
                    to: ea.to.clone().unwrap_or_default(),
                    hostname: ea.myhostname.clone().unwrap_or_else(|| crate::log::target::system_hostname().to_string()),
                })
            })
            .collect::<Vec<_>>();
        ACTIVE.with(|a| a.set(proxies.iter().any(Option::is_some)));
        Alerts { proxies }
    }

    /// The mails for the state changes noted since the last call (one per mailer).
    pub fn take(&self) -> Vec<Mail> {
        let pending = PENDING.with(|p| std::mem::take(&mut *p.borrow_mut()));
        let mut mails = Vec::new();
        for (be, level, text) in pending {
            let Some(Some(a)) = self.proxies.get(be) else { continue };
            if level > a.level {
                continue;
            }
            // HAProxy mails the message without its final period.
            let message = text.strip_suffix('.').unwrap_or(&text);
            let rules = dialogue(a, message, SystemTime::now());
            for &to in &a.mailers {
                let tc = TcpCheck { enabled: true, inherited: false, rules: rules.clone(), protocol: None };
                mails.push(Mail { to, timeout: a.timeout, dialogue: TcpProbe::new(&tc, 4096) });
            }
        }
        mails
    }
}

fn level_from(n: u8) -> Level {
    [Level::Emerg, Level::Alert, Level::Crit, Level::Err, Level::Warning, Level::Notice, Level::Info, Level::Debug][usize::from(n.min(7))]
}

/// HAProxy's SMTP dialogue for one alert, as `tcp-check` rules.
fn dialogue(a: &ProxyAlerts, message: &str, now: SystemTime) -> Vec<TcpCheckRule> {
    let expect = |code: &str| {
        TcpCheckRule::Expect(TcpCheckExpect {
            negate: false,
            kind: TcpCheckMatch::String(format!("{code} ").into_bytes()),
            min_recv: None,
            error_status: None,
            on_success: None,
            on_error: None,
        })
    };
    let send = |text: String| TcpCheckRule::Send(text.into_bytes());
    let data = format!(
        "From: {from}\r\nTo: {to}\r\nDate: {date}\r\nSubject: [HAProxy Alert] {message}\r\n\r\n{message}\r\n\r\n.\r\n",
        from = a.from,
        to = a.to,
        date = rfc2822_date(now),
    );
    vec![
        expect("220"),
        send(format!("HELO {}\r\n", a.hostname)),
        expect("250"),
        send(format!("MAIL FROM:<{}>\r\n", a.from)),
        expect("250"),
        send(format!("RCPT TO:<{}>\r\n", a.to)),
        expect("250"),
        send("DATA\r\n".to_string()),
        expect("354"),
        send(data),
        expect("250"),
        send("QUIT\r\n".to_string()),
        expect("221"),
    ]
}

/// The `Date:` header as HAProxy writes it (`%a, %d %b %Y %T %z (%Z)` in local time).
/// moonproxy knows the zone's offset, not its abbreviation: `(UTC)` at offset 0, else
/// the offset again.
fn rfc2822_date(now: SystemTime) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let secs = crate::log::time::unix_secs(now) as i64;
    let offset = crate::log::tz::local_zone().offset_at(secs);
    let tm = crate::log::time::breakdown(now, offset);
    let weekday = DAYS[(secs + i64::from(offset)).div_euclid(86_400).rem_euclid(7) as usize];
    let sign = if offset < 0 { '-' } else { '+' };
    let off = format!("{sign}{:02}{:02}", offset.abs() / 3600, offset.abs() / 60 % 60);
    let zone = if offset == 0 { "UTC".to_string() } else { off.clone() };
    format!(
        "{weekday}, {:02} {} {} {:02}:{:02}:{:02} {off} ({zone})",
        tm.day,
        MONTHS[tm.month as usize - 1],
        tm.year,
        tm.hour,
        tm.min,
        tm.sec
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn date_header() {
        let t = std::time::UNIX_EPOCH + Duration::from_secs(1_795_700_000);
        let d = rfc2822_date(t);
        if crate::log::tz::local_zone().offset_at(1_795_700_000) == 0 {
            assert_eq!(d, "Thu, 26 Nov 2026 13:33:20 +0000 (UTC)");
        }
        assert!(d.contains("2026"), "{d}");
    }

    #[test]
    fn only_server_messages_at_or_above_the_level_are_mailed() {
        let alerts = Alerts {
            proxies: vec![Some(ProxyAlerts {
                mailers: vec!["127.0.0.1:25".parse().unwrap(), "127.0.0.1:26".parse().unwrap()],
                timeout: Duration::from_secs(1),
                level: Level::Alert,
                from: "a@b".into(),
                to: "c@d".into(),
                hostname: "h".into(),
            })],
        };
        ACTIVE.with(|a| a.set(true));
        note(0, Level::Alert, "Server b/s is DOWN.");
        note(0, Level::Notice, "Server b/s is UP.");
        note(0, Level::Emerg, "backend 'b' has no server available!");
        note(1, Level::Alert, "Server other/s is DOWN.");
        let mails = alerts.take();
        assert_eq!(mails.iter().map(|m| m.to.port()).collect::<Vec<_>>(), [25, 26]);
        assert!(alerts.take().is_empty());
    }

    #[test]
    fn nothing_is_noted_without_alerts() {
        let alerts = Alerts::build(&Config::default());
        assert!(!active());
        note(0, Level::Alert, "Server b/s is DOWN.");
        assert_eq!(PENDING.with(|p| p.borrow().len()), 0, "no mailers: nothing kept");
        assert!(alerts.take().is_empty());
    }
}
