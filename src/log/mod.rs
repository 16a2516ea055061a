//! Traffic logs: targets (stdout, stderr, UDP syslog, unix sockets), wire formats
//! (raw, RFC 3164, RFC 5424), `log-format` rendering and the per-stream record.
//!
//! Logging never blocks the reactor: every target is non-blocking and a line that
//! cannot be sent at once is counted as dropped.

use std::net::SocketAddr;
use std::time::{Duration, SystemTime};

/// Everything a `log-format` can print about one finished (or starting) stream.
/// The stream fills it in as it goes; the log module only reads it.
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
    pub backend: Option<String>,
    pub server: Option<String>,
    pub server_addr: Option<SocketAddr>,
    /// `%Tw`: time spent in queues; `None` logs -1.
    pub t_queue: Option<Duration>,
    /// `%Tc`: time to establish the server connection; `None` logs -1.
    pub t_connect: Option<Duration>,
    /// `%Tt`: accept to close.
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
}

/// HAProxy's `option tcplog` format.
pub const TCPLOG_FORMAT: &str =
    "%ci:%cp [%t] %ft %b/%s %Tw/%Tc/%Tt %B %ts %ac/%fc/%bc/%sc/%rc %sq/%bq";
