//! Log targets: where a line goes (`log stdout`, `log 127.0.0.1:514`, `log /dev/log`,
//! `log fd@3`) and how it is framed on the wire (`format raw|rfc3164|rfc5424|...`).
//!
//! A [`Logger`] is the set of targets of one proxy (or of `global`): one
//! [`Logger::send`] frames the message for every target that accepts its level.
//! Sending never blocks: sockets are non-blocking and stdout/stderr/fd go through a
//! bounded queue (see [`super::stdio`]); a line that cannot be handed over at once is
//! dropped and counted ([`Logger::dropped`], [`total_dropped`]).
//!
//! # Wire formats (checked byte for byte against HAProxy 2.6)
//!
//! With facility `local0`, level `info`, tag `haproxy`, pid 1234, at 2026-11-25 20:30:01.123456 UTC:
//!
//! | format     | line                                                                  |
//! |------------|-----------------------------------------------------------------------|
//! | `raw`      | `msg`                                                                 |
//! | (none)     | `<134>Nov 25 20:30:01 haproxy[1234]: msg`                             |
//! | `rfc3164`  | `<134>Nov 25 20:30:01 localhost haproxy[1234]: msg`                   |
//! | `local`    | `<134>Nov 25 20:30:01 haproxy[1234]: msg`                             |
//! | `rfc5424`  | `<134>1 2026-11-25T20:30:01.123456+00:00 - haproxy 1234 - - msg`      |
//! | `short`    | `<6>msg`                                                              |
//! | `priority` | `<134>msg`                                                            |
//! | `timed`    | `<6>2026-11-25T20:30:01.123456+00:00 msg`                             |
//! | `iso`      | `2026-11-25T20:30:01.123456+00:00 msg`                                |
//!
//! Every line ends with `\n`, on sockets too. The host field is the
//! `log-send-hostname` value when set; otherwise HAProxy prints none without a
//! `format` (the default framing, RFC 3164's otherwise), `localhost` with an explicit
//! `format rfc3164` and `-` in RFC 5424, and so do we. Dates are local time.
//! `len N` bounds the whole line, newline included: a longer line is cut to N-1 bytes
//! plus the newline.
//!
//! # Tag
//!
//! HAProxy's default tag is its program name, which is `haproxy` for every installed
//! HAProxy. moonproxy keeps **`haproxy`** as the default tag (not `moonproxy`): the
//! tag is what syslog rules and log pipelines match on (`if $programname == 'haproxy'`),
//! and a user replacing HAProxy by moonproxy must not have their logs silently land in
//! another file. `log-tag moonproxy` in `global` names the process honestly when wanted.

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use super::stdio::{self, LineWriter};
use super::time;
use crate::config::model::{Facility, Global, Level, LogDest, LogTarget, LogWireFormat};

/// The tag used when `global` has no `log-tag` (see the module documentation).
pub const DEFAULT_LOG_TAG: &str = "haproxy";

/// Dropped lines of every logger in the process (`show info`'s `DroppedLogs`).
static TOTAL_DROPPED: AtomicU64 = AtomicU64::new(0);

/// Lines dropped by every [`Logger`] of the process since start.
pub fn total_dropped() -> u64 {
    TOTAL_DROPPED.load(Ordering::Relaxed)
}

/// Who is logging: the fields of the syslog header that do not depend on the message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogIdentity {
    /// `log-tag`, default [`DEFAULT_LOG_TAG`].
    pub tag: String,
    /// `log-send-hostname`: `None` when not set (an explicit `format rfc3164` then says `localhost`, the default format nothing,
    /// RFC 5424 `-`).
    pub hostname: Option<String>,
    pub pid: u32,
}

impl LogIdentity {
    /// From the `global` section: `log-tag`, `log-send-hostname` (an empty value, i.e. the
    /// keyword without argument, means the system's host name), this process's pid.
    pub fn from_global(global: &Global) -> LogIdentity {
        let hostname = global.log_send_hostname.as_ref().map(|h| {
            if h.is_empty() {
                system_hostname().to_string()
            } else {
                h.clone()
            }
        });
        LogIdentity {
            tag: global
                .log_tag
                .clone()
                .unwrap_or_else(|| DEFAULT_LOG_TAG.to_string()),
            hostname,
            pid: std::process::id(),
        }
    }
}

impl Default for LogIdentity {
    fn default() -> Self {
        LogIdentity {
            tag: DEFAULT_LOG_TAG.to_string(),
            hostname: None,
            pid: std::process::id(),
        }
    }
}

/// The system's host name (`%H`, bare `log-send-hostname`), read once.
pub fn system_hostname() -> &'static str {
    static NAME: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    NAME.get_or_init(|| {
        ["/proc/sys/kernel/hostname", "/etc/hostname"]
            .iter()
            .find_map(|p| {
                let s = std::fs::read_to_string(p).ok()?;
                let s = s.trim();
                (!s.is_empty()).then(|| s.to_string())
            })
            .unwrap_or_else(|| "localhost".to_string())
    })
}

/// Is a message at `level` sent by a target whose maximum level is `max`?
/// (Levels are ordered most urgent first: `Emerg` < ... < `Debug`.)
pub fn level_passes(level: Level, max: Level) -> bool {
    level <= max
}

/// The level actually written: a message more urgent than the target's minimum level is
/// lowered to it (`log ... local0 info notice` writes an `alert` as `notice`).
pub fn effective_level(level: Level, min: Option<Level>) -> Level {
    match min {
        Some(min) if level < min => min,
        _ => level,
    }
}

/// Everything in a line besides the message: its framing and its time.
///
/// `now` and `utc_offset` are fields so tests can fix them; [`Logger::send`] uses the
/// current time and the local zone's offset.
#[derive(Clone, Copy, Debug)]
pub struct Frame<'a> {
    pub format: LogWireFormat,
    pub facility: Facility,
    /// The level written (after the target's minimum level is applied).
    pub level: Level,
    pub identity: &'a LogIdentity,
    pub now: SystemTime,
    /// Seconds east of UTC, for the local dates.
    pub utc_offset: i32,
    /// `len`: bound on the whole line, newline included; 0 means no bound.
    pub maxlen: usize,
    /// `log-format-sd`: the structured data of an RFC 5424 line (`None`: `-`).
    pub sd: Option<&'a str>,
}

impl Frame<'_> {
    /// Frames `msg` as one complete line in `out` (cleared first), newline included.
    pub fn encode(&self, msg: &str, out: &mut Vec<u8>) {
        write_line(out, self, msg)
    }
}

/// [`Frame::encode`] with the frame's fields as arguments (the first published form).
#[allow(clippy::too_many_arguments)]
pub fn encode(
    out: &mut Vec<u8>,
    format: LogWireFormat,
    facility: Facility,
    level: Level,
    identity: &LogIdentity,
    now: SystemTime,
    utc_offset: i32,
    msg: &str,
    maxlen: usize,
) {
    let frame = Frame {
        format,
        facility,
        level,
        identity,
        now,
        utc_offset,
        maxlen,
        sd: None,
    };
    write_line(out, &frame, msg)
}

fn write_line(out: &mut Vec<u8>, f: &Frame<'_>, msg: &str) {
    use std::fmt::Write as _;
    let Frame {
        format,
        facility,
        level,
        identity: id,
        now,
        utc_offset,
        maxlen,
        sd,
    } = *f;
    let pri = facility as u32 * 8 + level as u32;
    let mut hdr = String::with_capacity(64);
    let tm = || time::breakdown(now, utc_offset);
    match format {
        LogWireFormat::Raw => {}
        LogWireFormat::Default | LogWireFormat::Rfc3164 | LogWireFormat::Local => {
            let _ = write!(hdr, "<{pri}>");
            tm().write_rfc3164(&mut hdr);
            hdr.push(' ');
            let host = match format {
                LogWireFormat::Rfc3164 => Some(id.hostname.as_deref().unwrap_or("localhost")),
                LogWireFormat::Default => id.hostname.as_deref(),
                _ => None,
            };
            if let Some(host) = host {
                hdr.push_str(host);
                hdr.push(' ');
            }
            let _ = write!(hdr, "{}[{}]: ", id.tag, id.pid);
        }
        LogWireFormat::Rfc5424 => {
            let _ = write!(hdr, "<{pri}>1 ");
            tm().write_iso(&mut hdr);
            let host = id.hostname.as_deref().unwrap_or("-");
            let sd = sd.filter(|s| !s.is_empty()).unwrap_or("-");
            let _ = write!(hdr, " {host} {} {} - {sd} ", id.tag, id.pid);
        }
        LogWireFormat::Short => {
            let _ = write!(hdr, "<{}>", level as u32);
        }
        LogWireFormat::Priority => {
            let _ = write!(hdr, "<{pri}>");
        }
        LogWireFormat::Timed => {
            let _ = write!(hdr, "<{}>", level as u32);
            tm().write_iso(&mut hdr);
            hdr.push(' ');
        }
        LogWireFormat::Iso => {
            tm().write_iso(&mut hdr);
            hdr.push(' ');
        }
    }
    out.clear();
    out.extend_from_slice(hdr.as_bytes());
    // The line gets exactly one newline: a caller's own trailing ones are dropped, as
    // HAProxy does for its `send_log("...\n")` messages.
    out.extend_from_slice(msg.trim_end_matches(['\n', '\0']).as_bytes());
    if maxlen > 0 && out.len() + 1 > maxlen {
        out.truncate(maxlen - 1);
    }
    out.push(b'\n');
}

/// A destination, opened lazily and re-tried after failures.
enum Sink {
    /// stdout, stderr, `fd@N`: the process-wide writer thread for it, looked up on
    /// each line (so a forked child gets its own).
    Stream(StreamDest),
    Udp(SocketAddr, Option<UdpSocket>),
    /// Sent with `send_to` by path on every line, so a syslog daemon that starts (or
    /// restarts) after us is reached as soon as its socket exists.
    Unix(PathBuf, Option<UnixDatagram>),
    /// `ring@<name>` and `tcp@<addr>`: a process-wide ring (`None`: no such ring, the
    /// configuration check warned).
    Ring(Option<Arc<super::ring::Ring>>),
}

#[derive(Clone, Copy, Debug)]
enum StreamDest {
    Stdout,
    Stderr,
    Fd(i32),
}

impl StreamDest {
    fn writer(self) -> Option<LineWriter> {
        match self {
            StreamDest::Stdout => stdio::stdout(),
            StreamDest::Stderr => stdio::stderr(),
            StreamDest::Fd(n) => stdio::fd(n),
        }
    }
}

impl Sink {
    fn new(dest: &LogDest) -> Sink {
        match dest {
            LogDest::Stdout => Sink::Stream(StreamDest::Stdout),
            LogDest::Stderr => Sink::Stream(StreamDest::Stderr),
            LogDest::Fd(n) => Sink::Stream(StreamDest::Fd(*n)),
            LogDest::Udp(addr) => Sink::Udp(*addr, None),
            LogDest::Unix(path) => Sink::Unix(path.clone(), None),
            LogDest::Ring(name) => Sink::Ring(super::ring::find(name)),
            // The configuration check gives each `tcp@` line a ring; a `LogDest::Tcp`
            // left (a configuration built by hand) has nowhere to go.
            LogDest::Tcp(_) => Sink::Ring(None),
        }
    }

    /// Hands `line` over without blocking. `false`: dropped.
    fn send(&mut self, line: &[u8]) -> bool {
        match self {
            Sink::Stream(dest) => dest.writer().is_some_and(|w| w.try_write(line.to_vec())),
            Sink::Udp(addr, sock) => {
                if sock.is_none() {
                    *sock = open_udp(addr).ok();
                }
                let Some(s) = sock else { return false };
                // WouldBlock (buffer full), ECONNREFUSED (an earlier datagram bounced):
                // either way this line is lost, the socket stays usable.
                s.send_to(line, *addr).is_ok()
            }
            Sink::Unix(path, sock) => {
                if sock.is_none() {
                    *sock = open_unix().ok();
                }
                let Some(s) = sock else { return false };
                s.send_to(line, &*path).is_ok()
            }
            // Stored without its newline: the ring frames each line for its readers.
            Sink::Ring(ring) => ring.as_ref().is_some_and(|r| r.push(line.strip_suffix(b"\n").unwrap_or(line))),
        }
    }

    fn flush(&self, timeout: Duration) {
        if let Sink::Stream(dest) = self {
            if let Some(w) = dest.writer() {
                w.flush(timeout);
            }
        }
    }
}

fn open_udp(addr: &SocketAddr) -> io::Result<UdpSocket> {
    let local: SocketAddr = if addr.is_ipv4() {
        ([0, 0, 0, 0], 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let s = UdpSocket::bind(local)?;
    s.set_nonblocking(true)?;
    Ok(s)
}

fn open_unix() -> io::Result<UnixDatagram> {
    let s = UnixDatagram::unbound()?;
    s.set_nonblocking(true)?;
    Ok(s)
}

/// `sample <ranges>:<size>` on a `log` line: of every `size` messages (that pass the
/// level filter), only those whose 1-based position is in `ranges` are sent.
/// `sample 2-3:3` sends messages 2, 3, 5, 6, 8, 9 ... (checked against HAProxy 2.6).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sampling {
    /// Inclusive 1-based ranges.
    pub ranges: Vec<(u32, u32)>,
    pub size: u32,
}

impl Sampling {
    /// Parses `1,3-5:10`. The error names what is wrong.
    pub fn parse(spec: &str) -> Result<Sampling, String> {
        let (ranges, size) = spec
            .rsplit_once(':')
            .ok_or_else(|| format!("missing sample size in '{spec}'"))?;
        let size: u32 = size
            .parse()
            .ok()
            .filter(|&n| n > 0)
            .ok_or_else(|| format!("invalid sample size '{size}'"))?;
        let mut out = Vec::new();
        for r in ranges.split(',') {
            let (lo, hi) = r.split_once('-').unwrap_or((r, r));
            let parse = |v: &str| v.trim().parse::<u32>().ok().filter(|&n| n > 0);
            match (parse(lo), parse(hi)) {
                (Some(lo), Some(hi)) if lo <= hi => out.push((lo, hi)),
                _ => return Err(format!("invalid sample range '{r}'")),
            }
        }
        Ok(Sampling { ranges: out, size })
    }

    /// Is the message at 0-based index `n` (among those this target saw) sent?
    pub fn selects(&self, n: u64) -> bool {
        let pos = (n % u64::from(self.size)) as u32 + 1;
        self.ranges.iter().any(|&(lo, hi)| lo <= pos && pos <= hi)
    }
}

/// One configured `log` line with its open destination.
struct Target {
    conf: LogTarget,
    sink: Sink,
    /// `sample` (an invalid spec, which the config check refuses, samples nothing out).
    sampling: Option<Sampling>,
    /// Messages that passed the level filter so far (the sampling position).
    seen: u64,
}

/// What became of a message for one target.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Delivery {
    /// Refused by the level filter or sampled out.
    Skipped,
    Sent,
    Dropped,
}

impl Target {
    fn new(conf: &LogTarget) -> Target {
        let sink = Sink::new(&conf.dest);
        let mut conf = conf.clone();
        if let Sink::Ring(Some(ring)) = &sink {
            // A ring frames its lines its own way and bounds them by its `maxlen`
            // (the framed line is stored without the newline `len` counts).
            conf.format = ring.format();
            conf.maxlen = conf.maxlen.min(ring.maxlen().saturating_add(1));
        }
        let sampling = conf.sample.as_deref().and_then(|s| Sampling::parse(s).ok());
        Target { conf, sink, sampling, seen: 0 }
    }

    /// Filters, frames (into `line`, a reusable buffer) and hands over one message.
    #[allow(clippy::too_many_arguments)]
    fn deliver(
        &mut self,
        id: &LogIdentity,
        level: Level,
        msg: &str,
        now: SystemTime,
        utc_offset: i32,
        line: &mut Vec<u8>,
        sd: Option<&str>,
    ) -> Delivery {
        if !level_passes(level, self.conf.max_level) {
            return Delivery::Skipped;
        }
        let n = self.seen;
        self.seen += 1;
        if self.sampling.as_ref().is_some_and(|s| !s.selects(n)) {
            return Delivery::Skipped;
        }
        let level = effective_level(level, self.conf.min_level);
        let frame = Frame {
            format: self.conf.format,
            facility: self.conf.facility,
            level,
            identity: id,
            now,
            utc_offset,
            maxlen: self.conf.maxlen,
            sd,
        };
        frame.encode(msg, line);
        if self.sink.send(line) {
            Delivery::Sent
        } else {
            TOTAL_DROPPED.fetch_add(1, Ordering::Relaxed);
            Delivery::Dropped
        }
    }
}

/// A target's settings for a line its caller frames itself ([`Logger::relay`]).
#[derive(Clone, Copy, Debug)]
pub struct RelayFrame {
    /// The target's `format` (a ring's own format for `ring@` targets).
    pub format: LogWireFormat,
    pub facility: Facility,
    /// The level to write: the message's, raised to the target's minimum level; a
    /// message without a level is written at the minimum level (`emerg` without one).
    pub level: Level,
    /// `len` (bounded by a ring's `maxlen`); 0 means none.
    pub maxlen: usize,
}

impl Target {
    /// [`Target::deliver`] for a line framed by `frame` (the `log-forward` relay):
    /// a message without a level (`None`) passes every level filter, as in HAProxy.
    fn relay(&mut self, level: Option<Level>, line: &mut Vec<u8>, frame: &mut dyn FnMut(&RelayFrame, &mut Vec<u8>)) -> Delivery {
        if level.is_some_and(|l| !level_passes(l, self.conf.max_level)) {
            return Delivery::Skipped;
        }
        let n = self.seen;
        self.seen += 1;
        if self.sampling.as_ref().is_some_and(|s| !s.selects(n)) {
            return Delivery::Skipped;
        }
        let level = match level {
            Some(l) => effective_level(l, self.conf.min_level),
            None => self.conf.min_level.unwrap_or(Level::Emerg),
        };
        let rf = RelayFrame { format: self.conf.format, facility: self.conf.facility, level, maxlen: self.conf.maxlen };
        frame(&rf, line);
        if self.sink.send(line) {
            Delivery::Sent
        } else {
            TOTAL_DROPPED.fetch_add(1, Ordering::Relaxed);
            Delivery::Dropped
        }
    }
}

/// The log targets of one proxy (or of `global`), ready to send.
///
/// `send` takes `&self` so a proxy's logger can be shared by all its streams; the
/// sinks sit behind a mutex that is never contended on the reactor thread.
pub struct Logger {
    identity: Arc<LogIdentity>,
    targets: Mutex<Vec<Target>>,
    /// Levels accepted by at least one target: `wants()` without locking.
    max_level: Option<Level>,
    dropped: AtomicU64,
}

impl std::fmt::Debug for Logger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Logger")
            .field("identity", &self.identity)
            .field("max_level", &self.max_level)
            .field("dropped", &self.dropped())
            .finish_non_exhaustive()
    }
}

impl Logger {
    /// A logger for `targets` (a proxy's `logs` after `log global` is resolved, or
    /// `global.logs`). Nothing is opened until the first line.
    pub fn new(targets: &[LogTarget], identity: Arc<LogIdentity>) -> Logger {
        let max_level = targets.iter().map(|t| t.max_level).max();
        Logger {
            identity,
            targets: Mutex::new(targets.iter().map(Target::new).collect()),
            max_level,
            dropped: AtomicU64::new(0),
        }
    }

    /// A logger with no target: every send is a no-op.
    pub fn none() -> Logger {
        Logger::new(&[], Arc::new(LogIdentity::default()))
    }

    /// No target at all (the caller can skip building the line).
    pub fn is_empty(&self) -> bool {
        self.max_level.is_none()
    }

    /// Would at least one target send a message at `level`?
    pub fn wants(&self, level: Level) -> bool {
        self.max_level.is_some_and(|max| level_passes(level, max))
    }

    /// Sends `msg` (one line, no trailing newline) at `level` to every target whose
    /// level filter accepts it, with that target's facility and format. Never blocks.
    pub fn send(&self, level: Level, msg: &str) {
        if !self.wants(level) {
            return;
        }
        let now = SystemTime::now();
        self.send_at(level, msg, now, time::local_offset(now));
    }

    /// [`send`](Self::send) with an explicit timestamp and UTC offset (tests, replays).
    pub fn send_at(&self, level: Level, msg: &str, now: SystemTime, utc_offset: i32) {
        self.send_framed(level, msg, None, now, utc_offset)
    }

    /// [`send`](Self::send) with RFC 5424 structured data (`log-format-sd`), written
    /// by targets in `rfc5424` format only.
    pub fn send_sd(&self, level: Level, msg: &str, sd: &str) {
        if !self.wants(level) {
            return;
        }
        let now = SystemTime::now();
        self.send_framed(level, msg, Some(sd), now, time::local_offset(now));
    }

    fn send_framed(&self, level: Level, msg: &str, sd: Option<&str>, now: SystemTime, utc_offset: i32) {
        let Ok(mut targets) = self.targets.lock() else {
            return;
        };
        let mut line = Vec::with_capacity(msg.len() + 80);
        for t in targets.iter_mut() {
            if t.deliver(&self.identity, level, msg, now, utc_offset, &mut line, sd)
                == Delivery::Dropped
            {
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Sends a message whose lines the caller frames for each target (the
    /// `log-forward` relay: `frame` writes the whole line, newline included, for the
    /// target's settings). Level filters, minimum levels and sampling apply as in
    /// [`send`](Self::send); `level: None` passes every filter. Never blocks.
    pub fn relay(&self, level: Option<Level>, mut frame: impl FnMut(&RelayFrame, &mut Vec<u8>)) {
        let Ok(mut targets) = self.targets.lock() else {
            return;
        };
        let mut line = Vec::with_capacity(1024);
        for t in targets.iter_mut() {
            if t.relay(level, &mut line, &mut frame) == Delivery::Dropped {
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Lines this logger could not hand over (one per target and message).
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Waits (at most `timeout` per target) until lines queued for stdout, stderr and
    /// fd targets are written. For shutdown and tests, never on the reactor loop.
    pub fn flush(&self, timeout: Duration) {
        if let Ok(targets) = self.targets.lock() {
            for t in targets.iter() {
                t.sink.flush(timeout);
            }
        }
    }

    pub fn identity(&self) -> &LogIdentity {
        &self.identity
    }
}

/// Sockets and writers shared by every proxy, with the targets given on each call:
/// `sink.send(&proxy.logs, level, msg)`. The alternative to one [`Logger`] per proxy
/// when the caller keeps the `LogTarget`s itself; targets are matched by value (a
/// proxy that inherited `log global` shares the global line's destination and
/// sampling position, as in HAProxy where `log global` points at the same loggers).
pub struct LogSink {
    identity: LogIdentity,
    targets: Vec<Target>,
    dropped: u64,
    line: Vec<u8>,
}

impl std::fmt::Debug for LogSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogSink")
            .field("identity", &self.identity)
            .field("targets", &self.targets.len())
            .field("dropped", &self.dropped)
            .finish()
    }
}

impl Default for LogSink {
    fn default() -> Self {
        LogSink::new(LogIdentity::default())
    }
}

impl LogSink {
    pub fn new(identity: LogIdentity) -> LogSink {
        LogSink {
            identity,
            targets: Vec::new(),
            dropped: 0,
            line: Vec::with_capacity(1024),
        }
    }

    /// Sends `msg` at `level` to each of `targets` whose filters accept it. Never blocks.
    pub fn send(&mut self, targets: &[LogTarget], level: Level, msg: &str) {
        if !targets.iter().any(|t| level_passes(level, t.max_level)) {
            return;
        }
        let now = SystemTime::now();
        self.send_at(targets, level, msg, now, time::local_offset(now));
    }

    /// [`send`](Self::send) with an explicit timestamp and UTC offset (tests).
    pub fn send_at(
        &mut self,
        targets: &[LogTarget],
        level: Level,
        msg: &str,
        now: SystemTime,
        utc_offset: i32,
    ) {
        for conf in targets {
            let i = match self.targets.iter().position(|t| t.conf == *conf) {
                Some(i) => i,
                None => {
                    self.targets.push(Target::new(conf));
                    self.targets.len() - 1
                }
            };
            let t = &mut self.targets[i];
            if t.deliver(&self.identity, level, msg, now, utc_offset, &mut self.line, None)
                == Delivery::Dropped
            {
                self.dropped += 1;
            }
        }
    }

    /// Lines this sink could not hand over.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Waits until stdout/stderr/fd lines are written (shutdown, tests).
    pub fn flush(&self, timeout: Duration) {
        for t in &self.targets {
            t.sink.flush(timeout);
        }
    }

    pub fn identity(&self) -> &LogIdentity {
        &self.identity
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::model::Location;
    use std::time::UNIX_EPOCH;

    fn at() -> SystemTime {
        // 2026-11-25 20:30:01.123456 UTC
        UNIX_EPOCH + Duration::new(1_795_638_601, 123_456_000)
    }

    fn id() -> LogIdentity {
        LogIdentity {
            tag: "haproxy".into(),
            hostname: None,
            pid: 1234,
        }
    }

    fn enc(format: LogWireFormat, id: &LogIdentity, msg: &str, maxlen: usize) -> String {
        let mut out = Vec::new();
        Frame {
            format,
            facility: Facility::Local0,
            level: Level::Info,
            identity: id,
            now: at(),
            utc_offset: 0,
            maxlen,
            sd: None,
        }
        .encode(msg, &mut out);
        String::from_utf8(out).unwrap()
    }

    fn target(dest: LogDest, format: LogWireFormat) -> LogTarget {
        LogTarget {
            location: Location {
                file: "t.cfg".into(),
                line: 1,
            },
            dest,
            format,
            maxlen: 1024,
            facility: Facility::Local0,
            max_level: Level::Debug,
            min_level: None,
            sample: None,
        }
    }

    #[test]
    fn every_wire_format_matches_haproxy() {
        let id = id();
        use LogWireFormat::*;
        let cases = [
            (Raw, "msg\n"),
            // No `format`: no host field without `log-send-hostname`.
            (Default, "<134>Nov 25 20:30:01 haproxy[1234]: msg\n"),
            (
                Rfc3164,
                "<134>Nov 25 20:30:01 localhost haproxy[1234]: msg\n",
            ),
            (Local, "<134>Nov 25 20:30:01 haproxy[1234]: msg\n"),
            (
                Rfc5424,
                "<134>1 2026-11-25T20:30:01.123456+00:00 - haproxy 1234 - - msg\n",
            ),
            (Short, "<6>msg\n"),
            (Priority, "<134>msg\n"),
            (Timed, "<6>2026-11-25T20:30:01.123456+00:00 msg\n"),
            (Iso, "2026-11-25T20:30:01.123456+00:00 msg\n"),
        ];
        for (fmt, want) in cases {
            assert_eq!(enc(fmt, &id, "msg", 1024), want, "{fmt:?}");
        }
    }

    #[test]
    fn trailing_newlines_are_not_doubled() {
        assert_eq!(
            enc(LogWireFormat::Raw, &id(), "Proxy p stopped.\n", 0),
            "Proxy p stopped.\n"
        );
        assert_eq!(enc(LogWireFormat::Short, &id(), "x\n\n", 0), "<6>x\n");
    }

    #[test]
    fn hostname_and_tag_appear_where_haproxy_puts_them() {
        let id = LogIdentity {
            tag: "mytag".into(),
            hostname: Some("vm".into()),
            pid: 6768,
        };
        assert_eq!(
            enc(LogWireFormat::Rfc3164, &id, "m", 0),
            "<134>Nov 25 20:30:01 vm mytag[6768]: m\n"
        );
        assert_eq!(
            enc(LogWireFormat::Default, &id, "m", 0),
            "<134>Nov 25 20:30:01 vm mytag[6768]: m\n"
        );
        assert_eq!(
            enc(LogWireFormat::Rfc5424, &id, "m", 0),
            "<134>1 2026-11-25T20:30:01.123456+00:00 vm mytag 6768 - - m\n"
        );
        // `local` never carries the host name.
        assert_eq!(
            enc(LogWireFormat::Local, &id, "m", 0),
            "<134>Nov 25 20:30:01 mytag[6768]: m\n"
        );
    }

    #[test]
    fn priority_combines_facility_and_level() {
        let mut out = Vec::new();
        Frame {
            format: LogWireFormat::Priority,
            facility: Facility::Local1,
            level: Level::Debug,
            identity: &id(),
            now: at(),
            utc_offset: 0,
            maxlen: 0,
            sd: None,
        }
        .encode("x", &mut out);
        assert_eq!(out, b"<143>x\n");
        Frame {
            format: LogWireFormat::Short,
            facility: Facility::Kern,
            level: Level::Emerg,
            identity: &id(),
            now: at(),
            utc_offset: 0,
            maxlen: 0,
            sd: None,
        }
        .encode("x", &mut out);
        assert_eq!(out, b"<0>x\n");
    }

    #[test]
    fn local_time_offset_is_used_in_headers() {
        let mut out = Vec::new();
        Frame {
            format: LogWireFormat::Rfc5424,
            facility: Facility::Local0,
            level: Level::Info,
            identity: &id(),
            now: at(),
            utc_offset: 3600,
            maxlen: 0,
            sd: None,
        }
        .encode("x", &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "<134>1 2026-11-25T21:30:01.123456+01:00 - haproxy 1234 - - x\n"
        );
        // `log-format-sd`: the structured data replaces the second `-`.
        let frame = Frame { format: LogWireFormat::Rfc5424, facility: Facility::Local0, level: Level::Info, identity: &id(), now: at(), utc_offset: 0, maxlen: 0, sd: Some("[a@1 b=\"c\"]") };
        let mut out = Vec::new();
        frame.encode("x", &mut out);
        assert_eq!(String::from_utf8(out).unwrap(), "<134>1 2026-11-25T20:30:01.123456+00:00 - haproxy 1234 - [a@1 b=\"c\"] x\n");
    }

    /// `len 80` on a 78-byte message: raw fits (79 with the newline), framed formats are
    /// cut to 79 bytes plus the newline, as HAProxy does.
    #[test]
    fn len_truncates_the_whole_line_newline_included() {
        let msg = "127.0.0.1:53476 [25/Nov/2026:20:21:22.118] fe1 fe1/s1 1/0/0 6 -- 1/1/0/0/0 0/0";
        assert_eq!(msg.len(), 78);
        let id = id();
        assert_eq!(enc(LogWireFormat::Raw, &id, msg, 80), format!("{msg}\n"));
        assert_eq!(enc(LogWireFormat::Raw, &id, msg, 79), format!("{msg}\n"));
        assert_eq!(
            enc(LogWireFormat::Raw, &id, msg, 78),
            format!("{}\n", &msg[..77])
        );
        let framed = enc(LogWireFormat::Rfc3164, &id, msg, 80);
        assert_eq!(framed.len(), 80);
        assert_eq!(
            framed,
            "<134>Nov 25 20:30:01 localhost haproxy[1234]: 127.0.0.1:53476 [25/Nov/2026:20:2\n"
        );
        let short = enc(LogWireFormat::Short, &id, msg, 80);
        assert_eq!(short, format!("<6>{}\n", &msg[..76]));
    }

    #[test]
    fn level_filter_and_min_level() {
        assert!(level_passes(Level::Info, Level::Info));
        assert!(level_passes(Level::Emerg, Level::Info));
        assert!(!level_passes(Level::Debug, Level::Info));
        assert_eq!(
            effective_level(Level::Emerg, Some(Level::Notice)),
            Level::Notice
        );
        assert_eq!(
            effective_level(Level::Info, Some(Level::Debug)),
            Level::Debug
        );
        assert_eq!(
            effective_level(Level::Debug, Some(Level::Notice)),
            Level::Debug
        );
        assert_eq!(effective_level(Level::Alert, None), Level::Alert);
    }

    fn recv_all(sock: &UdpSocket) -> Vec<String> {
        sock.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 2048];
        while let Ok(n) = sock.recv(&mut buf) {
            got.push(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
        got
    }

    #[test]
    fn udp_delivery_with_level_filter_and_min_level() {
        let peer = UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = peer.local_addr().unwrap();
        let mut t = target(LogDest::Udp(addr), LogWireFormat::Rfc5424);
        t.facility = Facility::Local1;
        t.max_level = Level::Info;
        t.min_level = Some(Level::Notice);
        let logger = Logger::new(&[t], Arc::new(id()));
        assert!(logger.wants(Level::Info));
        assert!(!logger.wants(Level::Debug));
        logger.send_at(Level::Info, "info line", at(), 0);
        logger.send_at(Level::Debug, "filtered", at(), 0);
        logger.send_at(Level::Emerg, "capped", at(), 0);
        let got = recv_all(&peer);
        assert_eq!(
            got,
            vec![
                "<142>1 2026-11-25T20:30:01.123456+00:00 - haproxy 1234 - - info line\n",
                // emerg raised to the minimum level notice: 17*8+5
                "<141>1 2026-11-25T20:30:01.123456+00:00 - haproxy 1234 - - capped\n",
            ]
        );
        assert_eq!(logger.dropped(), 0);
    }

    #[test]
    fn one_send_reaches_every_target_in_its_own_format() {
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").unwrap();
        let logger = Logger::new(
            &[
                target(LogDest::Udp(a.local_addr().unwrap()), LogWireFormat::Raw),
                target(LogDest::Udp(b.local_addr().unwrap()), LogWireFormat::Short),
            ],
            Arc::new(id()),
        );
        logger.send_at(Level::Warning, "Proxy p stopped.", at(), 0);
        assert_eq!(recv_all(&a), vec!["Proxy p stopped.\n"]);
        assert_eq!(recv_all(&b), vec!["<4>Proxy p stopped.\n"]);
    }

    #[test]
    fn unix_datagram_delivery_and_late_socket() {
        let dir = std::env::temp_dir().join(format!(
            "moonproxy-log-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("log.sock");
        let _ = std::fs::remove_file(&path);
        let logger = Logger::new(
            &[target(LogDest::Unix(path.clone()), LogWireFormat::Local)],
            Arc::new(id()),
        );
        // The syslog socket does not exist yet: the line is dropped and counted.
        logger.send_at(Level::Info, "too early", at(), 0);
        assert_eq!(logger.dropped(), 1);
        // Once it exists, the next line reaches it without reconfiguration.
        let peer = UnixDatagram::bind(&path).unwrap();
        logger.send_at(Level::Info, "hello", at(), 0);
        peer.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        let mut buf = [0u8; 512];
        let n = peer.recv(&mut buf).unwrap();
        assert_eq!(
            &buf[..n],
            b"<134>Nov 25 20:30:01 haproxy[1234]: hello\n".as_slice()
        );
        assert_eq!(logger.dropped(), 1);
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A unix peer that never reads: once its queue is full, sends fail at once with
    /// `WouldBlock` and are counted; the sender never waits.
    #[test]
    fn full_unix_peer_drops_and_counts() {
        let dir = std::env::temp_dir().join(format!("moonproxy-logfull-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("full.sock");
        let _ = std::fs::remove_file(&path);
        let _peer = UnixDatagram::bind(&path).unwrap();
        let logger = Logger::new(
            &[target(LogDest::Unix(path.clone()), LogWireFormat::Raw)],
            Arc::new(id()),
        );
        let msg = "x".repeat(1000);
        let before = total_dropped();
        for _ in 0..5000 {
            logger.send_at(Level::Info, &msg, at(), 0);
        }
        let dropped = logger.dropped();
        assert!(dropped > 0, "a peer that never reads must fill up");
        assert!(dropped < 5000, "the first lines fit in the socket buffer");
        assert!(total_dropped() >= before + dropped);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn sampling_matches_haproxy() {
        let s = Sampling::parse("2-3:3").unwrap();
        let sent: Vec<u64> = (0..7).filter(|&n| s.selects(n)).collect();
        assert_eq!(sent, vec![1, 2, 4, 5]);
        let s = Sampling::parse("1,3:4").unwrap();
        let sent: Vec<u64> = (0..7).filter(|&n| s.selects(n)).collect();
        assert_eq!(sent, vec![0, 2, 4, 6]);
        assert!(Sampling::parse("1-2").is_err());
        assert!(Sampling::parse("3-1:4").is_err());
        assert!(Sampling::parse("1:0").is_err());
        assert!(Sampling::parse("x:2").is_err());
    }

    #[test]
    fn sampled_target_sends_only_selected_messages() {
        let peer = UdpSocket::bind("127.0.0.1:0").unwrap();
        let mut t = target(LogDest::Udp(peer.local_addr().unwrap()), LogWireFormat::Raw);
        t.sample = Some("1:2".into());
        t.max_level = Level::Info;
        let logger = Logger::new(&[t], Arc::new(id()));
        for i in 0..5 {
            // Filtered messages do not move the sampling position.
            logger.send_at(Level::Debug, "debug", at(), 0);
            logger.send_at(Level::Info, &format!("m{i}"), at(), 0);
        }
        assert_eq!(recv_all(&peer), vec!["m0\n", "m2\n", "m4\n"]);
    }

    /// `fd@N`: lines reach an inherited descriptor (here a file opened by the test)
    /// through the writer thread; `flush` waits for them.
    #[test]
    fn fd_target_writes_lines() {
        use std::os::fd::AsRawFd;
        let path = std::env::temp_dir().join(format!("moonproxy-logfd-{}", std::process::id()));
        let file = std::fs::File::create(&path).unwrap();
        let logger = Logger::new(
            &[target(LogDest::Fd(file.as_raw_fd()), LogWireFormat::Short)],
            Arc::new(id()),
        );
        logger.send_at(Level::Notice, "one", at(), 0);
        logger.send_at(Level::Err, "two", at(), 0);
        logger.flush(Duration::from_secs(5));
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "<5>one\n<3>two\n");
        assert_eq!(logger.dropped(), 0);
        drop(file);
        let _ = std::fs::remove_file(&path);
    }

    /// An fd that cannot be reached is counted, not fatal.
    #[test]
    fn missing_fd_is_counted() {
        let logger = Logger::new(
            &[target(LogDest::Fd(999_999), LogWireFormat::Raw)],
            Arc::new(id()),
        );
        logger.send_at(Level::Info, "lost", at(), 0);
        logger.send_at(Level::Info, "lost again", at(), 0);
        assert_eq!(logger.dropped(), 2);
    }

    /// The shared sink: targets passed per call, sockets opened once per destination.
    #[test]
    fn log_sink_sends_to_the_targets_given() {
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").unwrap();
        let ta = target(LogDest::Udp(a.local_addr().unwrap()), LogWireFormat::Raw);
        let mut tb = target(
            LogDest::Udp(b.local_addr().unwrap()),
            LogWireFormat::Priority,
        );
        tb.max_level = Level::Warning;
        let mut sink = LogSink::new(id());
        let proxy1 = [ta.clone()];
        let proxy2 = [ta, tb];
        sink.send_at(&proxy1, Level::Info, "p1", at(), 0);
        sink.send_at(&proxy2, Level::Info, "p2 info", at(), 0);
        sink.send_at(&proxy2, Level::Warning, "p2 warn", at(), 0);
        assert_eq!(recv_all(&a), vec!["p1\n", "p2 info\n", "p2 warn\n"]);
        assert_eq!(recv_all(&b), vec!["<132>p2 warn\n"]);
        assert_eq!(sink.targets.len(), 2, "one state per distinct target");
        assert_eq!(sink.dropped(), 0);
        let missing = target(
            LogDest::Unix("/nonexistent/moonproxy.sock".into()),
            LogWireFormat::Raw,
        );
        sink.send_at(&[missing], Level::Info, "x", at(), 0);
        assert_eq!(sink.dropped(), 1);
    }

    #[test]
    fn empty_logger_wants_nothing() {
        let l = Logger::none();
        assert!(l.is_empty());
        assert!(!l.wants(Level::Emerg));
        l.send(Level::Emerg, "nowhere");
        assert_eq!(l.dropped(), 0);
    }

    #[test]
    fn identity_from_global() {
        let mut g = Global::default();
        let id = LogIdentity::from_global(&g);
        assert_eq!(id.tag, "haproxy");
        assert_eq!(id.hostname, None);
        assert_eq!(id.pid, std::process::id());
        g.log_tag = Some("edge".into());
        g.log_send_hostname = Some(String::new());
        let id = LogIdentity::from_global(&g);
        assert_eq!(id.tag, "edge");
        assert_eq!(id.hostname.as_deref(), Some(system_hostname()));
        g.log_send_hostname = Some("lb1".into());
        assert_eq!(
            LogIdentity::from_global(&g).hostname.as_deref(),
            Some("lb1")
        );
    }
}
