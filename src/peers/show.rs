//! `show peers [dict|-] [<section>]`: the state of the peers, in HAProxy 2.6's layout
//! (the thread publishes a view every tick; the CLI renders it). Addresses stand for
//! HAProxy's object pointers; the fields moonproxy has no counterpart for are 0.

use std::fmt::Write;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

pub struct SectionView {
    pub name: String,
    pub started: SystemTime,
    pub resync_until: Option<Instant>,
    pub peers: Vec<PeerView>,
    pub tables: Vec<String>,
}

pub struct PeerView {
    pub name: String,
    pub local: bool,
    pub active: bool,
    pub addr: Option<std::net::SocketAddr>,
    pub last_status: &'static str,
    pub last_hdshk: Option<Instant>,
    pub reconnect: Option<Instant>,
    pub heartbeat: Option<Instant>,
    pub tx_hbt: u64,
    pub rx_hbt: u64,
    pub new_conn: u64,
    pub proto_err: u64,
    pub established: bool,
    /// Per table: [`super::session::Session::table_view`].
    pub tables: Vec<[u64; 5]>,
}

static VIEWS: Mutex<Vec<SectionView>> = Mutex::new(Vec::new());

pub fn publish(views: Vec<SectionView>) {
    *VIEWS.lock().unwrap_or_else(|p| p.into_inner()) = views;
}

/// A duration as HAProxy's `human_time` prints it, rounded down to the unit.
fn human(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m{}s", s / 60, s % 60),
        _ => format!("{}h{}m", s / 3600, (s % 3600) / 60),
    }
}

fn until(t: Option<Instant>, now: Instant) -> String {
    match t {
        None => "<NEVER>".into(),
        Some(t) if t <= now => "<PAST>".into(),
        Some(t) => human(t - now),
    }
}

/// A stable pseudo-address for an object of the dump.
fn addr(parts: &[&str]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in parts.iter().flat_map(|p| p.bytes().chain([0])) {
        h = (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
    }
    format!("0x{:012x}", h & 0xffff_ffff_fff8)
}

/// The command's answer; `args` are the words after `show peers`.
pub fn show(args: &[String]) -> String {
    let mut args = args.iter().map(String::as_str).peekable();
    if matches!(args.peek(), Some(&"dict") | Some(&"-")) {
        args.next(); // moonproxy keeps no dictionary cache to dump
    }
    let wanted = args.next();
    let views = VIEWS.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(w) = wanted {
        if !views.iter().any(|s| s.name == w) {
            return "No such peers\n".into();
        }
    }
    let now = Instant::now();
    let mut out = String::new();
    for s in views.iter().filter(|s| wanted.is_none_or(|w| w == s.name)) {
        let mut date = String::new();
        crate::log::time::breakdown(s.started, crate::log::time::local_offset(s.started)).write_log_date_tz(&mut date);
        let date = date.split(' ').next().unwrap_or("");
        let _ = writeln!(
            out,
            "{}: [{date}] id={} disabled=0 flags=0x0 resync_timeout={} task_calls=0",
            addr(&[&s.name]),
            s.name,
            until(s.resync_until, now)
        );
        // Newest first, as HAProxy lists them (its lists are built by insertion at the head).
        for p in s.peers.iter().rev() {
            let _ = writeln!(
                out,
                "  {}: id={}({},{}) addr={} last_status={} last_hdshk={}",
                addr(&[&s.name, &p.name]),
                p.name,
                if p.local { "local" } else { "remote" },
                if p.active { "active" } else { "inactive" },
                p.addr.map_or_else(|| "-".into(), |a| a.to_string()),
                p.last_status,
                p.last_hdshk.map_or_else(|| "<NEVER>".into(), |t| human(now.saturating_duration_since(t)))
            );
            let _ = writeln!(
                out,
                "        reconnect={} heartbeat={} confirm=0 tx_hbt={} rx_hbt={} no_hbt=0 new_conn={} proto_err={} coll=0",
                until(p.reconnect, now),
                until(p.heartbeat, now),
                p.tx_hbt,
                p.rx_hbt,
                p.new_conn,
                p.proto_err
            );
            let _ = writeln!(out, "        flags=0x0{}", if p.established { " state=EST" } else { "" });
            out.push_str("        shared tables:\n");
            for (i, t) in s.tables.iter().enumerate().rev() {
                let [remote_id, acked, pushed, get, update] = p.tables.get(i).copied().unwrap_or_default();
                let _ = writeln!(out, "          {} local_id={} remote_id={remote_id} flags=0x0 remote_data=0x0", addr(&[&s.name, &p.name, t]), i + 1);
                let _ = writeln!(out, "              last_acked={acked} last_pushed={pushed} last_get={get} teaching_origin=0 update={update}");
                let _ = writeln!(out, "              table:{} id={t} update=0 localupdate=0 commitupdate=0 refcnt=1", addr(&[t]));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_unknown_sections() {
        assert_eq!(human(Duration::from_millis(2_500)), "2s");
        assert_eq!(human(Duration::from_secs(61)), "1m1s");
        assert_eq!(until(None, Instant::now()), "<NEVER>");
        assert_eq!(show(&["nope".to_string()]), "No such peers\n");
    }
}
