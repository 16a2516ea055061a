//! Stand-in for the log module's targets and `log-format` renderer until it lands:
//! writes lines to `stdout`/`stderr`/UDP/unix datagram targets and renders the `%`
//! variables that apply to TCP. Kept deliberately small; the log module replaces it.

use crate::config::model::{Level, LogDest, LogTarget, LogWireFormat};
use crate::log::StreamLog;
use std::collections::HashMap;
use std::io::Write;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

#[derive(Default)]
pub struct LogSink {
    udp: Option<std::net::UdpSocket>,
    unix: HashMap<std::path::PathBuf, std::os::unix::net::UnixDatagram>,
    pub dropped: u64,
}

impl LogSink {
    /// Sends `msg` to every target whose level filter lets `level` through.
    pub fn send(&mut self, targets: &[LogTarget], level: Level, msg: &str) {
        for t in targets {
            if level > t.max_level {
                continue;
            }
            let level = t.min_level.map_or(level, |m| level.min(m));
            let pri = (t.facility as u32) * 8 + level as u32;
            let mut line = frame(t.format, pri, msg);
            if line.len() > t.maxlen && t.maxlen > 0 {
                let mut cut = t.maxlen;
                while !line.is_char_boundary(cut) {
                    cut -= 1;
                }
                line.truncate(cut);
            }
            let ok = match &t.dest {
                LogDest::Stdout => writeln!(std::io::stdout().lock(), "{line}").is_ok(),
                LogDest::Stderr => writeln!(std::io::stderr().lock(), "{line}").is_ok(),
                LogDest::Fd(_) => false,
                LogDest::Udp(addr) => {
                    if self.udp.is_none() {
                        let bind = if addr.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" };
                        self.udp = std::net::UdpSocket::bind(bind).ok();
                        if let Some(u) = &self.udp {
                            let _ = u.set_nonblocking(true);
                        }
                    }
                    self.udp.as_ref().is_some_and(|u| u.send_to(line.as_bytes(), addr).is_ok())
                }
                LogDest::Unix(path) => {
                    if !self.unix.contains_key(path) {
                        if let Ok(s) = std::os::unix::net::UnixDatagram::unbound() {
                            let _ = s.set_nonblocking(true);
                            self.unix.insert(path.clone(), s);
                        }
                    }
                    self.unix.get(path).is_some_and(|s| s.send_to(line.as_bytes(), path).is_ok())
                }
            };
            if !ok {
                self.dropped += 1;
            }
        }
    }
}

fn frame(fmt: LogWireFormat, pri: u32, msg: &str) -> String {
    let pid = std::process::id();
    let now = SystemTime::now();
    match fmt {
        LogWireFormat::Raw => msg.to_string(),
        LogWireFormat::Short => format!("<{pri}>{msg}"),
        LogWireFormat::Rfc5424 => {
            let c = civil(now);
            format!(
                "<{pri}>1 {:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}+00:00 - moonproxy {pid} - - {msg}",
                c.year, c.month, c.day, c.hour, c.min, c.sec, c.micros
            )
        }
        _ => {
            let c = civil(now);
            format!("<{pri}>{} {:2} {:02}:{:02}:{:02} moonproxy[{pid}]: {msg}", MONTHS[c.month as usize - 1], c.day, c.hour, c.min, c.sec)
        }
    }
}

const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

struct Civil {
    year: i64,
    month: u32,
    day: u32,
    hour: u32,
    min: u32,
    sec: u32,
    micros: u32,
}

/// UTC calendar fields (days-from-civil inverse, Howard Hinnant's algorithm).
fn civil(t: SystemTime) -> Civil {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
    let secs = d.as_secs() as i64;
    let days = secs.div_euclid(86400);
    let rem = secs.rem_euclid(86400);
    let z = days + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + if month <= 2 { 1 } else { 0 };
    Civil { year, month, day, hour: (rem / 3600) as u32, min: (rem / 60 % 60) as u32, sec: (rem % 60) as u32, micros: d.subsec_micros() }
}

fn ms(d: Option<Duration>) -> String {
    d.map_or("-1".to_string(), |d| d.as_millis().to_string())
}

/// Renders the TCP subset of `log-format` for a finished stream.
pub fn render(fmt: &str, r: &StreamLog) -> String {
    let mut out = String::with_capacity(fmt.len() + 64);
    let b = fmt.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'%' {
            let start = i;
            while i < b.len() && b[i] != b'%' {
                i += 1;
            }
            out.push_str(&fmt[start..i]);
            continue;
        }
        i += 1;
        let start = i;
        while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
            i += 1;
        }
        let var = &fmt[start..i];
        if var.is_empty() && i < b.len() && b[i] == b'%' {
            out.push('%');
            i += 1;
            continue;
        }
        let name = var;
        let c = civil(r.accept_date);
        let v = match name {
            "ci" => r.client.map_or("-".into(), |a| a.ip().to_string()),
            "cp" => r.client.map_or("-".into(), |a| a.port().to_string()),
            "fi" => r.frontend_addr.map_or("-".into(), |a| a.ip().to_string()),
            "fp" => r.frontend_addr.map_or("-".into(), |a| a.port().to_string()),
            "ft" => format!("{}{}", r.frontend, if r.frontend_ssl { "~" } else { "" }),
            "f" => r.frontend.clone(),
            "b" => r.backend.clone().unwrap_or_else(|| r.frontend.clone()),
            "s" => r.server.clone().unwrap_or_else(|| "<NOSRV>".into()),
            "si" => r.server_addr.map_or("-".into(), |a| a.ip().to_string()),
            "sp" => r.server_addr.map_or("-".into(), |a| a.port().to_string()),
            "Tw" => ms(r.t_queue),
            "Tc" => ms(r.t_connect),
            "Tt" => r.t_total.as_millis().to_string(),
            "B" => r.bytes_out.to_string(),
            "U" => r.bytes_in.to_string(),
            "ts" => String::from_utf8_lossy(&r.termination).into_owned(),
            "ac" => r.actconn.to_string(),
            "fc" => r.feconn.to_string(),
            "bc" => r.beconn.to_string(),
            "sc" => r.srv_conn.to_string(),
            "rc" => format!("{}{}", if r.redispatched { "+" } else { "" }, r.retries),
            "sq" => r.srv_queue.to_string(),
            "bq" => r.backend_queue.to_string(),
            "pid" => std::process::id().to_string(),
            "t" => format!("{:02}/{}/{:04}:{:02}:{:02}:{:02}.{:03}", c.day, MONTHS[c.month as usize - 1], c.year, c.hour, c.min, c.sec, c.micros / 1000),
            "T" => format!("{:02}/{}/{:04}:{:02}:{:02}:{:02} +0000", c.day, MONTHS[c.month as usize - 1], c.year, c.hour, c.min, c.sec),
            "ID" => r.unique_id.clone().unwrap_or_else(|| "-".into()),
            _ => String::new(),
        };
        out.push_str(&v);
    }
    out
}
