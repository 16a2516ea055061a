//! Traffic logs: targets (stdout, stderr, UDP syslog, unix sockets), wire formats
//! (raw, RFC 3164, RFC 5424), `log-format` rendering and the per-stream record.
//!
//! Logging never blocks the reactor: every target is non-blocking and a line that
//! cannot be sent at once is counted as dropped.
//!
//! - [`target`]: [`Logger`] (a proxy's `log` lines, opened and ready) or [`LogSink`]
//!   (shared sockets, targets given per call), wire framing, the default tag.
//! - [`format`]: [`LogFormat`] (`log-format` compiled once, rendered per stream),
//!   [`connect_line`] (the accept line logged without a log format).
//! - [`events`]: the life-cycle lines HAProxy logs (`Proxy x stopped ...`).
//! - [`time`], [`tz`]: dates in the formats HAProxy prints, local zone.
//! - [`stdio`]: writer threads that keep stdout/stderr from blocking the reactor.
//! - [`forward`]: `log-forward` sections, the syslog relay (listeners on the reactor,
//!   the syslog parser and the re-framing of received messages).
//!
//! A stream's life in the log: at accept, if its frontend has targets and no log format,
//! `logger.send(Level::Info, &connect_line(..))`; at close, with a format,
//! `format.render(&stream_log, &mut line); logger.send(stream_log.level(sep), &line)`.
//! In HTTP mode one line is logged per transaction, with [`StreamLog::http`] filled
//! from the transaction ([`HttpLog`]), and `format.render_in(&rec, cx, &mut line)`
//! gives `%[...]` expressions the stream's [`crate::sample::SampleCtx`]. The variables
//! and their rendering are listed in `doc/config.md` (section Logs).
//!
//! ```
//! use std::sync::Arc;
//! use moonproxy::config::model::{Global, Level};
//! use moonproxy::log::{LogFormat, LogIdentity, Logger, StreamLog};
//!
//! let identity = Arc::new(LogIdentity::from_global(&Global::default()));
//! let logger = Logger::new(&[], identity); // a proxy's `logs`
//! let format = LogFormat::compile("%ci:%cp %ft %b/%s %ts").unwrap();
//! let rec = StreamLog { frontend: "fe".into(), ..StreamLog::default() };
//! let mut line = String::new();
//! format.render(&rec, &mut line);
//! assert_eq!(line, "-:- fe fe/<NOSRV> --");
//! logger.send(rec.level(false), &line);
//! ```

pub mod events;
pub mod format;
pub mod forward;
pub mod ring;
pub mod stdio;
pub mod target;
pub mod time;
pub mod tz;

pub use events::LogLine;
pub use format::{connect_line, connect_line_unix, FormatError, LogFormat, RenderEnv, SampleExpr};
pub use target::{total_dropped, Frame, LogIdentity, LogSink, Logger, Sampling, DEFAULT_LOG_TAG};

use std::net::SocketAddr;
use std::time::{Duration, SystemTime};

/// Everything a `log-format` can print about one finished (or starting) stream.
/// The stream fills it in as it goes; the log module only reads it.
///
/// Build it with `StreamLog { field: value, ..StreamLog::default() }` so that fields
/// added later do not break the construction; a default is "not known" (`-` / `-1`).
#[derive(Clone, Debug)]
pub struct StreamLog {
    /// `%ID`, unique id if `unique-id-format` is set.
    pub unique_id: Option<String>,
    /// Stream number, increasing from 0.
    pub stream_id: u64,
    /// Accept date (`%t`, `%T`, `%ts` ...).
    pub accept_date: SystemTime,
    pub client: Option<SocketAddr>,
    /// The local address the client connected to.
    pub frontend_addr: Option<SocketAddr>,
    pub frontend: String,
    /// `%ft` appends `~` for SSL listeners.
    pub frontend_ssl: bool,
    /// The client connection's TLS (`%sslv`, `%sslc`, `ssl_fc*` in log formats).
    pub tls: Option<std::sync::Arc<crate::tls::TlsInfo>>,
    /// The server connection's TLS (`ssl_bc*` in log formats).
    pub server_tls: Option<std::sync::Arc<crate::tls::TlsInfo>>,
    pub backend: Option<String>,
    pub server: Option<String>,
    pub server_addr: Option<SocketAddr>,
    /// `%Tw`: time spent in queues; `None` logs -1.
    pub t_queue: Option<Duration>,
    /// `%Tc`: time to establish the server connection; `None` logs -1.
    pub t_connect: Option<Duration>,
    /// `%Tt`: accept to close. For an HTTP transaction: from the transaction's start
    /// ([`HttpLog::request_date`], the accept date for the first one) to its end.
    pub t_total: Duration,
    /// `%U`: bytes from the client.
    pub bytes_in: u64,
    /// `%B`: bytes to the client.
    pub bytes_out: u64,
    /// `%ts`: two-letter termination state (`--`, `cD`, `SC` ...).
    pub termination: [u8; 2],
    /// `%ac %fc %bc %sc`: connection counts at log time.
    pub actconn: u32,
    pub feconn: u32,
    pub beconn: u32,
    pub srv_conn: u32,
    /// `%rc`: retries; `redispatched` prints a `+` before it.
    pub retries: u32,
    pub redispatched: bool,
    /// `%sq %bq`: queue lengths seen when the stream was queued.
    pub srv_queue: u32,
    pub backend_queue: u32,
    /// The HTTP part of the record, for streams of a `mode http` proxy.
    pub http: Option<Box<HttpLog>>,
    /// The values of the log format's `%[...]` expressions, in order, evaluated by the
    /// stream while its transaction (headers, `txn.*` variables) still existed; empty
    /// when the format has none (they are then evaluated on this record).
    pub samples: Vec<Option<Vec<u8>>>,
    /// The same for the `log-format-sd` expressions (added by "kw").
    pub sd_samples: Vec<Option<Vec<u8>>>,
    /// `%bi %bp`: the local address of the server connection; kept by the stream only
    /// when some format prints it ([`format::backend_src_used`]).
    pub backend_src: Option<SocketAddr>,
    /// `%lc`: the lines the frontend logged before this one.
    pub log_count: u64,
    // Not here yet: `t_handshake` (`%Th`, 0 without TLS or PROXY protocol).
}

/// What an HTTP transaction adds to its log record (`%r %HM %HU %ST %hr %Tq %TR` ...).
/// Filled by the stream from its [`crate::http::txn::Txn`] when the transaction ends.
#[derive(Clone, Debug, Default)]
pub struct HttpLog {
    /// The request line as received (`%r`, `%HM %HU %HV`); `None` when no complete
    /// request line was read (HAProxy prints `<BADREQ>`).
    pub method: Option<String>,
    pub uri: Option<String>,
    pub version: Option<String>,
    /// `%ST`: the status sent to the client; `None` logs -1.
    pub status: Option<u16>,
    /// `%hr` / `%hs`: captured header values, in declaration order.
    pub req_captures: Vec<Option<Vec<u8>>>,
    pub res_captures: Vec<Option<Vec<u8>>>,
    /// `%Th`: accept to the connection being ready (TLS/PROXY handshakes; 0 without).
    pub t_handshake: Duration,
    /// `%Ti`: idle time before the first byte of this request (keep-alive wait, or
    /// the wait for the first request); `None` logs -1 and makes `%Tq` -1.
    pub t_idle: Option<Duration>,
    /// `%TR`: first byte to the complete request head; `None` logs -1.
    pub t_request: Option<Duration>,
    /// `%Tr`: request sent to the server to the complete response head; `None` logs -1.
    pub t_response: Option<Duration>,
    /// The start of this transaction (its `%t`), which on a kept-alive connection is
    /// later than the connection's accept date: HAProxy restarts a transaction's clock
    /// at the end of the previous one, so `Ti` is the wait for the next request and
    /// `StreamLog::t_total` (`%Tt`) counts from this date. `None`: the accept date.
    /// `%tr` (the request's own date) is this date plus `Th` and `Ti`.
    pub request_date: Option<SystemTime>,
    /// `%CC` / `%CS`: captured cookies (`-` when none).
    pub cookie_req: Option<String>,
    pub cookie_res: Option<String>,
    /// The last two characters of `%tsc`: the persistence cookie's state on the
    /// request and on the response (`--` when no `cookie` persistence is configured;
    /// a zero byte prints `-`).
    pub cookie_flags: [u8; 2],
    /// `set-log-level <level>` (a rule, or Lua's `txn:set_loglevel`): the level this
    /// transaction's line goes out at.
    pub level: Option<crate::config::model::Level>,
    /// `set-log-level silent`, or a `monitor-uri` probe: no line at all.
    pub silent: bool,
    /// `option logasap`: the line was built when the response head went out, so
    /// `%Tt`, `%Ta` and `%B` are values so far and print with a `+` (added by "fmt").
    pub logasap: bool,
}

impl HttpLog {
    /// Records the request line for `%r %HM %HU %HP %HQ %HV`. Call it when the head is
    /// parsed, before `http-request` rules run: HAProxy logs the request as the client
    /// sent it, not as rules rewrote it.
    pub fn set_request_line(&mut self, line: &crate::http::RequestLine) {
        self.method = Some(line.method.as_str().to_string());
        self.uri = Some(line.target.clone());
        self.version = Some(line.version.as_str().to_string());
    }
}

impl Default for StreamLog {
    fn default() -> Self {
        StreamLog {
            unique_id: None,
            stream_id: 0,
            accept_date: SystemTime::UNIX_EPOCH,
            client: None,
            frontend_addr: None,
            frontend: String::new(),
            frontend_ssl: false,
            tls: None,
            server_tls: None,
            backend: None,
            server: None,
            server_addr: None,
            t_queue: None,
            t_connect: None,
            t_total: Duration::ZERO,
            bytes_in: 0,
            bytes_out: 0,
            termination: *b"--",
            actconn: 0,
            feconn: 0,
            beconn: 0,
            srv_conn: 0,
            retries: 0,
            redispatched: false,
            srv_queue: 0,
            backend_queue: 0,
            http: None,
            samples: Vec::new(),
            sd_samples: Vec::new(),
            backend_src: None,
            log_count: 0,
        }
    }
}

/// A finished stream's record answers the fetches that only need what it holds
/// (`src`, `dst`, `fe_name`, `be_name`, `srv_name` ...): [`LogFormat::render`] uses it
/// for `%[...]` when the stream gives no richer context ([`LogFormat::render_in`]).
impl crate::sample::SampleCtx for StreamLog {
    fn tls(&self) -> Option<&crate::tls::TlsInfo> {
        self.tls.as_deref()
    }
    fn server_tls(&self) -> Option<&crate::tls::TlsInfo> {
        self.server_tls.as_deref()
    }
    fn src(&self) -> Option<SocketAddr> {
        self.client
    }
    fn dst(&self) -> Option<SocketAddr> {
        self.frontend_addr
    }
    fn frontend_name(&self) -> Option<&str> {
        Some(&self.frontend)
    }
    fn backend_name(&self) -> Option<&str> {
        self.backend.as_deref()
    }
    fn server_name(&self) -> Option<&str> {
        self.server.as_deref()
    }
}

/// HAProxy's `option tcplog` format.
pub const TCPLOG_FORMAT: &str =
    "%ci:%cp [%t] %ft %b/%s %Tw/%Tc/%Tt %B %ts %ac/%fc/%bc/%sc/%rc %sq/%bq";

/// HAProxy's `option httplog` format.
pub const HTTPLOG_FORMAT: &str = "%ci:%cp [%tr] %ft %b/%s %TR/%Tw/%Tc/%Tr/%Ta %ST %B %CC %CS %tsc \
     %ac/%fc/%bc/%sc/%rc %sq/%bq %hr %hs %{+Q}r";

/// HAProxy's `option httplog clf` format (Common Log Format, then HAProxy's fields).
pub const HTTPLOG_CLF_FORMAT: &str =
    "%{+Q}o %{-Q}ci - - [%trg] %r %ST %B \"\" \"\" %cp %ms %ft %b %s \
     %TR %Tw %Tc %Tr %Ta %tsc %ac %fc %bc %sc %rc %sq %bq %CC %CS %hrl %hsl";

impl StreamLog {
    /// Did the stream end in error, as HAProxy counts it for `option log-separate-errors`
    /// and `option dontlog-normal`: redispatched, retried, terminated by anything
    /// else than a normal end (`-`) or a local action (`L`), or answered with a 5xx.
    pub fn is_error(&self) -> bool {
        self.redispatched
            || self.retries > 0
            || !matches!(self.termination[0], b'-' | b'L')
            || self.http.as_ref().and_then(|h| h.status).is_some_and(|s| s >= 500)
    }

    /// The level of the stream's log line: `err` for an error with
    /// `option log-separate-errors`, `info` otherwise.
    pub fn level(&self, log_separate_errors: bool) -> crate::config::model::Level {
        use crate::config::model::Level;
        if let Some(l) = self.http.as_ref().and_then(|h| h.level) {
            l
        } else if log_separate_errors && self.is_error() {
            Level::Err
        } else {
            Level::Info
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::model::Level;

    #[test]
    fn errors_and_levels() {
        let ok = StreamLog::default();
        assert!(!ok.is_error());
        assert_eq!(ok.level(true), Level::Info);
        let local = StreamLog {
            termination: *b"LR",
            ..StreamLog::default()
        };
        assert!(!local.is_error());
        for (f, rec) in [
            (
                "SC",
                StreamLog {
                    termination: *b"SC",
                    ..StreamLog::default()
                },
            ),
            (
                "cD",
                StreamLog {
                    termination: *b"cD",
                    ..StreamLog::default()
                },
            ),
            (
                "retried",
                StreamLog {
                    retries: 1,
                    ..StreamLog::default()
                },
            ),
            (
                "redispatched",
                StreamLog {
                    redispatched: true,
                    ..StreamLog::default()
                },
            ),
        ] {
            assert!(rec.is_error(), "{f}");
            assert_eq!(rec.level(true), Level::Err, "{f}");
            assert_eq!(rec.level(false), Level::Info, "{f}");
        }
    }
}
