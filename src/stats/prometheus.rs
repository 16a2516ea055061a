//! `http-request use-service prometheus-exporter`: HAProxy 2.6's Prometheus exporter,
//! answered by the proxy itself in the Prometheus text format (version 0.0.4).
//!
//! The metrics are HAProxy's, with its names, `# HELP` texts, types and labels
//! (`proxy`, `server`, `state`, `code`), in its order: the process metrics
//! (`haproxy_process_*`), then per metric the frontends, the backends and the servers,
//! read from a [`super::snapshot`] of the `show stat` columns. As HAProxy:
//! - a metric's `# HELP`/`# TYPE` lines appear once, before its first sample, and not
//!   at all when no object has it (HTTP metrics of TCP proxies, check metrics of
//!   servers without checks);
//! - the `hrsp_*` columns are one metric with a `code` label, field by field
//!   (`1xx` of every object, then `2xx`...); states (`status`, `check_status`...) are
//!   one sample per state, object by object;
//! - an empty `show stat` cell is `NaN`, times are seconds printed with `%f`.
//!
//! The query string selects: `scope=global|frontend|backend|server` (repeatable; an
//! empty `scope=` selects nothing; any other value is a 400), `no-maint` drops servers
//! in maintenance. Without `scope`, everything.
//!
//! Beyond HAProxy: the scope `lua` and the default output end with the
//! `moonproxy_lua_*` metrics of whoever registered a writer with
//! [`set_extra_metrics`] (the Lua accounting of issue 7).
//!
//! The answer carries a `content-length` where HAProxy streams it chunked.

use std::cell::Cell;
use std::fmt::Write;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use super::fields as f;
use super::snapshot::{self, Row, RowKind, Value, View};
use crate::http::rules::Verdict;

/// The service name (`use-service prometheus-exporter`).
pub const SERVICE: &str = "prometheus-exporter";

/// The name the log shows in place of a server for a request the exporter answered.
pub const LOG_SERVER_NAME: &str = "<PROMEX>";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Gauge,
    Counter,
}

/// Where a metric's value comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Src {
    /// A process figure (see [`process_value`]).
    Process,
    /// A `show stat` column, as a number (`NaN` when empty).
    Col(usize),
    /// A `show stat` column in milliseconds, printed in seconds.
    Secs(usize),
    /// One sample per state of the object (`state` label).
    Status,
    /// The `hrsp_*` columns (`code` label).
    Codes,
    /// Per state, how many of the backend's servers are in it.
    AggServer,
    /// Per check status, how many of the backend's servers last had it.
    AggCheck,
    /// The server's last check status (`state` label); servers with checks only.
    CheckStatus,
    /// `check_code`, servers with checks only (0 for layer 4 checks).
    CheckCode,
    /// `check_duration` in seconds, servers with checks only.
    CheckDuration,
}

use Kind::{Counter, Gauge};
use Src::*;

struct Metric {
    /// The name after `haproxy_<scope>_`.
    name: &'static str,
    kind: Kind,
    help: &'static str,
    src: Src,
}

/// HAProxy 2.6's process metrics, in its order.
static PROCESS: &[Metric] = &[
    Metric { name: "nbthread", kind: Gauge, help: "Number of started threads (global.nbthread)", src: Process },
    Metric { name: "nbproc", kind: Gauge, help: "Number of started worker processes (historical, always 1)", src: Process },
    Metric { name: "relative_process_id", kind: Gauge, help: "Relative worker process number (1)", src: Process },
    Metric { name: "uptime_seconds", kind: Gauge, help: "How long ago this worker process was started (seconds)", src: Process },
    Metric { name: "pool_failures_total", kind: Counter, help: "Number of failed pool allocations since this worker was started", src: Process },
    Metric { name: "max_fds", kind: Gauge, help: "Hard limit on the number of per-process file descriptors", src: Process },
    Metric { name: "max_sockets", kind: Gauge, help: "Hard limit on the number of per-process sockets", src: Process },
    Metric { name: "max_connections", kind: Gauge, help: "Hard limit on the number of per-process connections (configured or imposed by Ulimit-n)", src: Process },
    Metric { name: "hard_max_connections", kind: Gauge, help: "Hard limit on the number of per-process connections (imposed by Memmax_MB or Ulimit-n)", src: Process },
    Metric { name: "current_connections", kind: Gauge, help: "Current number of connections on this worker process", src: Process },
    Metric { name: "connections_total", kind: Counter, help: "Total number of connections on this worker process since started", src: Process },
    Metric { name: "requests_total", kind: Counter, help: "Total number of requests on this worker process since started", src: Process },
    Metric { name: "max_ssl_connections", kind: Gauge, help: "Hard limit on the number of per-process SSL endpoints (front+back), 0=unlimited", src: Process },
    Metric { name: "current_ssl_connections", kind: Gauge, help: "Current number of SSL endpoints on this worker process (front+back)", src: Process },
    Metric { name: "ssl_connections_total", kind: Counter, help: "Total number of SSL endpoints on this worker process since started (front+back)", src: Process },
    Metric { name: "max_pipes", kind: Gauge, help: "Hard limit on the number of pipes for splicing, 0=unlimited", src: Process },
    Metric { name: "pipes_used_total", kind: Counter, help: "Current number of pipes in use in this worker process", src: Process },
    Metric { name: "pipes_free_total", kind: Counter, help: "Current number of allocated and available pipes in this worker process", src: Process },
    Metric { name: "current_connection_rate", kind: Gauge, help: "Number of front connections created on this worker process over the last second", src: Process },
    Metric { name: "limit_connection_rate", kind: Gauge, help: "Hard limit for ConnRate (global.maxconnrate)", src: Process },
    Metric { name: "max_connection_rate", kind: Gauge, help: "Highest ConnRate reached on this worker process since started (in connections per second)", src: Process },
    Metric { name: "current_session_rate", kind: Gauge, help: "Number of sessions created on this worker process over the last second", src: Process },
    Metric { name: "limit_session_rate", kind: Gauge, help: "Hard limit for SessRate (global.maxsessrate)", src: Process },
    Metric { name: "max_session_rate", kind: Gauge, help: "Highest SessRate reached on this worker process since started (in sessions per second)", src: Process },
    Metric { name: "current_ssl_rate", kind: Gauge, help: "Number of SSL connections created on this worker process over the last second", src: Process },
    Metric { name: "limit_ssl_rate", kind: Gauge, help: "Hard limit for SslRate (global.maxsslrate)", src: Process },
    Metric { name: "max_ssl_rate", kind: Gauge, help: "Highest SslRate reached on this worker process since started (in connections per second)", src: Process },
    Metric { name: "current_frontend_ssl_key_rate", kind: Gauge, help: "Number of SSL keys created on frontends in this worker process over the last second", src: Process },
    Metric { name: "max_frontend_ssl_key_rate", kind: Gauge, help: "Highest SslFrontendKeyRate reached on this worker process since started (in SSL keys per second)", src: Process },
    Metric { name: "frontend_ssl_reuse", kind: Gauge, help: "Percent of frontend SSL connections which did not require a new key", src: Process },
    Metric { name: "current_backend_ssl_key_rate", kind: Gauge, help: "Number of SSL keys created on backends in this worker process over the last second", src: Process },
    Metric { name: "max_backend_ssl_key_rate", kind: Gauge, help: "Highest SslBackendKeyRate reached on this worker process since started (in SSL keys per second)", src: Process },
    Metric { name: "ssl_cache_lookups_total", kind: Counter, help: "Total number of SSL session ID lookups in the SSL session cache on this worker since started", src: Process },
    Metric { name: "ssl_cache_misses_total", kind: Counter, help: "Total number of SSL session ID lookups that didn't find a session in the SSL session cache on this worker since started", src: Process },
    Metric { name: "http_comp_bytes_in_total", kind: Counter, help: "Number of bytes submitted to the HTTP compressor in this worker process over the last second", src: Process },
    Metric { name: "http_comp_bytes_out_total", kind: Counter, help: "Number of bytes emitted by the HTTP compressor in this worker process over the last second", src: Process },
    Metric { name: "limit_http_comp", kind: Gauge, help: "Limit of CompressBpsOut beyond which HTTP compression is automatically disabled", src: Process },
    Metric { name: "current_zlib_memory", kind: Gauge, help: "Amount of memory currently used by HTTP compression on the current worker process (in bytes)", src: Process },
    Metric { name: "max_zlib_memory", kind: Gauge, help: "Limit on the amount of memory used by HTTP compression above which it is automatically disabled (in bytes, see global.maxzlibmem)", src: Process },
    Metric { name: "current_tasks", kind: Gauge, help: "Total number of tasks in the current worker process (active + sleeping)", src: Process },
    Metric { name: "current_run_queue", kind: Gauge, help: "Total number of active tasks+tasklets in the current worker process", src: Process },
    Metric { name: "idle_time_percent", kind: Gauge, help: "Percentage of last second spent waiting in the current worker thread", src: Process },
    Metric { name: "stopping", kind: Gauge, help: "1 if the worker process is currently stopping, otherwise zero", src: Process },
    Metric { name: "jobs", kind: Gauge, help: "Current number of active jobs on the current worker process (frontend connections, master connections, listeners)", src: Process },
    Metric { name: "unstoppable_jobs", kind: Gauge, help: "Current number of unstoppable jobs on the current worker process (master connections)", src: Process },
    Metric { name: "listeners", kind: Gauge, help: "Current number of active listeners on the current worker process", src: Process },
    Metric { name: "active_peers", kind: Gauge, help: "Current number of verified active peers connections on the current worker process", src: Process },
    Metric { name: "connected_peers", kind: Gauge, help: "Current number of peers having passed the connection step on the current worker process", src: Process },
    Metric { name: "dropped_logs_total", kind: Counter, help: "Total number of dropped logs for current worker process since started", src: Process },
    Metric { name: "busy_polling_enabled", kind: Gauge, help: "1 if busy-polling is currently in use on the worker process, otherwise zero (config.busy-polling)", src: Process },
    Metric { name: "failed_resolutions", kind: Counter, help: "Total number of failed DNS resolutions in current worker process since started", src: Process },
    Metric { name: "bytes_out_total", kind: Counter, help: "Total number of bytes emitted by current worker process since started", src: Process },
    Metric { name: "spliced_bytes_out_total", kind: Counter, help: "Total number of bytes emitted by current worker process through a kernel pipe since started", src: Process },
    Metric { name: "bytes_out_rate", kind: Gauge, help: "Number of bytes emitted by current worker process over the last second", src: Process },
    Metric { name: "recv_logs_total", kind: Counter, help: "Total number of log messages received by log-forwarding listeners on this worker process since started", src: Process },
    Metric { name: "build_info", kind: Gauge, help: "Build info", src: Process },
    Metric { name: "max_memory_bytes", kind: Gauge, help: "Worker process's hard limit on memory usage in byes (-m on command line)", src: Process },
    Metric { name: "pool_allocated_bytes", kind: Gauge, help: "Amount of memory allocated in pools (in bytes)", src: Process },
    Metric { name: "pool_used_bytes", kind: Gauge, help: "Amount of pool memory currently used (in bytes)", src: Process },
    Metric { name: "start_time_seconds", kind: Gauge, help: "Start time in seconds", src: Process },
];

/// Frontend metrics (frontends and `listen` sections).
static FRONTEND: &[Metric] = &[
    Metric { name: "current_sessions", kind: Gauge, help: "Number of current sessions on the frontend, backend or server", src: Col(f::SCUR) },
    Metric { name: "max_sessions", kind: Gauge, help: "Highest value of current sessions encountered since process started", src: Col(f::SMAX) },
    Metric { name: "limit_sessions", kind: Gauge, help: "Frontend/listener/server's maxconn, backend's fullconn", src: Col(f::SLIM) },
    Metric { name: "sessions_total", kind: Counter, help: "Total number of sessions since process started", src: Col(f::STOT) },
    Metric { name: "bytes_in_total", kind: Counter, help: "Total number of request bytes since process started", src: Col(f::BIN) },
    Metric { name: "bytes_out_total", kind: Counter, help: "Total number of response bytes since process started", src: Col(f::BOUT) },
    Metric { name: "requests_denied_total", kind: Counter, help: "Total number of denied requests since process started", src: Col(f::DREQ) },
    Metric { name: "responses_denied_total", kind: Counter, help: "Total number of denied responses since process started", src: Col(f::DRESP) },
    Metric { name: "request_errors_total", kind: Counter, help: "Total number of invalid requests since process started", src: Col(f::EREQ) },
    Metric { name: "status", kind: Gauge, help: "Current status of the service, per state label value.", src: Status },
    Metric { name: "limit_session_rate", kind: Gauge, help: "Limit on the number of sessions accepted in a second (frontend only, 'rate-limit sessions' setting)", src: Col(f::RATE_LIM) },
    Metric { name: "max_session_rate", kind: Gauge, help: "Highest value of sessions per second observed since the worker process started", src: Col(f::RATE_MAX) },
    Metric { name: "http_responses_total", kind: Counter, help: "Total number of HTTP responses with status 100-199 returned by this object since the worker process started", src: Codes },
    Metric { name: "http_requests_rate_max", kind: Gauge, help: "Highest value of http requests observed since the worker process started", src: Col(f::REQ_RATE_MAX) },
    Metric { name: "http_requests_total", kind: Counter, help: "Total number of HTTP requests processed by this object since the worker process started", src: Col(f::REQ_TOT) },
    Metric { name: "http_comp_bytes_in_total", kind: Counter, help: "Total number of bytes submitted to the HTTP compressor for this object since the worker process started", src: Col(f::COMP_IN) },
    Metric { name: "http_comp_bytes_out_total", kind: Counter, help: "Total number of bytes emitted by the HTTP compressor for this object since the worker process started", src: Col(f::COMP_OUT) },
    Metric { name: "http_comp_bytes_bypassed_total", kind: Counter, help: "Total number of bytes that bypassed HTTP compression for this object since the worker process started (CPU/memory/bandwidth limitation)", src: Col(f::COMP_BYP) },
    Metric { name: "http_comp_responses_total", kind: Counter, help: "Total number of HTTP responses that were compressed for this object since the worker process started", src: Col(f::COMP_RSP) },
    Metric { name: "connections_rate_max", kind: Gauge, help: "Highest value of connections per second observed since the worker process started", src: Col(f::CONN_RATE_MAX) },
    Metric { name: "connections_total", kind: Counter, help: "Total number of new connections accepted on this frontend since the worker process started", src: Col(f::CONN_TOT) },
    Metric { name: "intercepted_requests_total", kind: Counter, help: "Total number of HTTP requests intercepted on the frontend (redirects/stats/services) since the worker process started", src: Col(f::INTERCEPTED) },
    Metric { name: "denied_connections_total", kind: Counter, help: "Total number of incoming connections blocked on a listener/frontend by a tcp-request connection rule since the worker process started", src: Col(f::DCON) },
    Metric { name: "denied_sessions_total", kind: Counter, help: "Total number of incoming sessions blocked on a listener/frontend by a tcp-request connection rule since the worker process started", src: Col(f::DSES) },
    Metric { name: "failed_header_rewriting_total", kind: Counter, help: "Total number of failed HTTP header rewrites since the worker process started", src: Col(f::WREW) },
    Metric { name: "http_cache_lookups_total", kind: Counter, help: "Total number of HTTP requests looked up in the cache on this frontend/backend since the worker process started", src: Col(f::CACHE_LOOKUPS) },
    Metric { name: "http_cache_hits_total", kind: Counter, help: "Total number of HTTP requests not found in the cache on this frontend/backend since the worker process started", src: Col(f::CACHE_HITS) },
    Metric { name: "internal_errors_total", kind: Counter, help: "Total number of internal errors since process started", src: Col(f::EINT) },
];

/// Backend metrics.
static BACKEND: &[Metric] = &[
    Metric { name: "current_queue", kind: Gauge, help: "Number of current queued connections", src: Col(f::QCUR) },
    Metric { name: "max_queue", kind: Gauge, help: "Highest value of queued connections encountered since process started", src: Col(f::QMAX) },
    Metric { name: "current_sessions", kind: Gauge, help: "Number of current sessions on the frontend, backend or server", src: Col(f::SCUR) },
    Metric { name: "max_sessions", kind: Gauge, help: "Highest value of current sessions encountered since process started", src: Col(f::SMAX) },
    Metric { name: "limit_sessions", kind: Gauge, help: "Frontend/listener/server's maxconn, backend's fullconn", src: Col(f::SLIM) },
    Metric { name: "sessions_total", kind: Counter, help: "Total number of sessions since process started", src: Col(f::STOT) },
    Metric { name: "bytes_in_total", kind: Counter, help: "Total number of request bytes since process started", src: Col(f::BIN) },
    Metric { name: "bytes_out_total", kind: Counter, help: "Total number of response bytes since process started", src: Col(f::BOUT) },
    Metric { name: "requests_denied_total", kind: Counter, help: "Total number of denied requests since process started", src: Col(f::DREQ) },
    Metric { name: "responses_denied_total", kind: Counter, help: "Total number of denied responses since process started", src: Col(f::DRESP) },
    Metric { name: "connection_errors_total", kind: Counter, help: "Total number of failed connections to server since the worker process started", src: Col(f::ECON) },
    Metric { name: "response_errors_total", kind: Counter, help: "Total number of invalid responses since the worker process started", src: Col(f::ERESP) },
    Metric { name: "retry_warnings_total", kind: Counter, help: "Total number of server connection retries since the worker process started", src: Col(f::WRETR) },
    Metric { name: "redispatch_warnings_total", kind: Counter, help: "Total number of server redispatches due to connection failures since the worker process started", src: Col(f::WREDIS) },
    Metric { name: "status", kind: Gauge, help: "Current status of the service, per state label value.", src: Status },
    Metric { name: "weight", kind: Gauge, help: "Server's effective weight, or sum of active servers' effective weights for a backend", src: Col(f::WEIGHT) },
    Metric { name: "active_servers", kind: Gauge, help: "Total number of active UP servers with a non-zero weight", src: Col(f::ACT) },
    Metric { name: "backup_servers", kind: Gauge, help: "Total number of backup UP servers with a non-zero weight", src: Col(f::BCK) },
    Metric { name: "check_up_down_total", kind: Counter, help: "Total number of failed checks causing UP to DOWN server transitions, per server/backend, since the worker process started", src: Col(f::CHKDOWN) },
    Metric { name: "check_last_change_seconds", kind: Gauge, help: "How long ago the last server state changed, in seconds", src: Col(f::LASTCHG) },
    Metric { name: "downtime_seconds_total", kind: Counter, help: "Total time spent in DOWN state, for server or backend", src: Col(f::DOWNTIME) },
    Metric { name: "loadbalanced_total", kind: Counter, help: "Total number of requests routed by load balancing since the worker process started (ignores queue pop and stickiness)", src: Col(f::LBTOT) },
    Metric { name: "max_session_rate", kind: Gauge, help: "Highest value of sessions per second observed since the worker process started", src: Col(f::RATE_MAX) },
    Metric { name: "http_responses_total", kind: Counter, help: "Total number of HTTP responses with status 100-199 returned by this object since the worker process started", src: Codes },
    Metric { name: "http_requests_total", kind: Counter, help: "Total number of HTTP requests processed by this object since the worker process started", src: Col(f::REQ_TOT) },
    Metric { name: "client_aborts_total", kind: Counter, help: "Total number of requests or connections aborted by the client since the worker process started", src: Col(f::CLI_ABRT) },
    Metric { name: "server_aborts_total", kind: Counter, help: "Total number of requests or connections aborted by the server since the worker process started", src: Col(f::SRV_ABRT) },
    Metric { name: "http_comp_bytes_in_total", kind: Counter, help: "Total number of bytes submitted to the HTTP compressor for this object since the worker process started", src: Col(f::COMP_IN) },
    Metric { name: "http_comp_bytes_out_total", kind: Counter, help: "Total number of bytes emitted by the HTTP compressor for this object since the worker process started", src: Col(f::COMP_OUT) },
    Metric { name: "http_comp_bytes_bypassed_total", kind: Counter, help: "Total number of bytes that bypassed HTTP compression for this object since the worker process started (CPU/memory/bandwidth limitation)", src: Col(f::COMP_BYP) },
    Metric { name: "http_comp_responses_total", kind: Counter, help: "Total number of HTTP responses that were compressed for this object since the worker process started", src: Col(f::COMP_RSP) },
    Metric { name: "last_session_seconds", kind: Gauge, help: "How long ago some traffic was seen on this object on this worker process, in seconds", src: Col(f::LASTSESS) },
    Metric { name: "queue_time_average_seconds", kind: Gauge, help: "Avg. queue time for last 1024 successful connections.", src: Secs(f::QTIME) },
    Metric { name: "connect_time_average_seconds", kind: Gauge, help: "Avg. connect time for last 1024 successful connections.", src: Secs(f::CTIME) },
    Metric { name: "response_time_average_seconds", kind: Gauge, help: "Avg. response time for last 1024 successful connections.", src: Secs(f::RTIME) },
    Metric { name: "total_time_average_seconds", kind: Gauge, help: "Avg. total time for last 1024 successful connections.", src: Secs(f::TTIME) },
    Metric { name: "failed_header_rewriting_total", kind: Counter, help: "Total number of failed HTTP header rewrites since the worker process started", src: Col(f::WREW) },
    Metric { name: "connection_attempts_total", kind: Counter, help: "Total number of outgoing connection attempts on this backend/server since the worker process started", src: Col(f::CONNECT) },
    Metric { name: "connection_reuses_total", kind: Counter, help: "Total number of reused connection on this backend/server since the worker process started", src: Col(f::REUSE) },
    Metric { name: "http_cache_lookups_total", kind: Counter, help: "Total number of HTTP requests looked up in the cache on this frontend/backend since the worker process started", src: Col(f::CACHE_LOOKUPS) },
    Metric { name: "http_cache_hits_total", kind: Counter, help: "Total number of HTTP requests not found in the cache on this frontend/backend since the worker process started", src: Col(f::CACHE_HITS) },
    Metric { name: "max_queue_time_seconds", kind: Gauge, help: "Maximum observed time spent in the queue", src: Secs(f::QTIME_MAX) },
    Metric { name: "max_connect_time_seconds", kind: Gauge, help: "Maximum observed time spent waiting for a connection to complete", src: Secs(f::CTIME_MAX) },
    Metric { name: "max_response_time_seconds", kind: Gauge, help: "Maximum observed time spent waiting for a server response", src: Secs(f::RTIME_MAX) },
    Metric { name: "max_total_time_seconds", kind: Gauge, help: "Maximum observed total request+response time (request+queue+connect+response+processing)", src: Secs(f::TTIME_MAX) },
    Metric { name: "internal_errors_total", kind: Counter, help: "Total number of internal errors since process started", src: Col(f::EINT) },
    Metric { name: "uweight", kind: Gauge, help: "Server's user weight, or sum of active servers' user weights for a backend", src: Col(f::UWEIGHT) },
    Metric { name: "agg_server_status", kind: Gauge, help: "Backend's aggregated gauge of servers' status", src: AggServer },
    Metric { name: "agg_server_check_status", kind: Gauge, help: "Backend's aggregated gauge of servers' state check status", src: AggServer },
    Metric { name: "agg_check_status", kind: Gauge, help: "Backend's aggregated gauge of servers' state check status", src: AggCheck },
];

/// Server metrics.
static SERVER: &[Metric] = &[
    Metric { name: "current_queue", kind: Gauge, help: "Number of current queued connections", src: Col(f::QCUR) },
    Metric { name: "max_queue", kind: Gauge, help: "Highest value of queued connections encountered since process started", src: Col(f::QMAX) },
    Metric { name: "current_sessions", kind: Gauge, help: "Number of current sessions on the frontend, backend or server", src: Col(f::SCUR) },
    Metric { name: "max_sessions", kind: Gauge, help: "Highest value of current sessions encountered since process started", src: Col(f::SMAX) },
    Metric { name: "limit_sessions", kind: Gauge, help: "Frontend/listener/server's maxconn, backend's fullconn", src: Col(f::SLIM) },
    Metric { name: "sessions_total", kind: Counter, help: "Total number of sessions since process started", src: Col(f::STOT) },
    Metric { name: "bytes_in_total", kind: Counter, help: "Total number of request bytes since process started", src: Col(f::BIN) },
    Metric { name: "bytes_out_total", kind: Counter, help: "Total number of response bytes since process started", src: Col(f::BOUT) },
    Metric { name: "responses_denied_total", kind: Counter, help: "Total number of denied responses since process started", src: Col(f::DRESP) },
    Metric { name: "connection_errors_total", kind: Counter, help: "Total number of failed connections to server since the worker process started", src: Col(f::ECON) },
    Metric { name: "response_errors_total", kind: Counter, help: "Total number of invalid responses since the worker process started", src: Col(f::ERESP) },
    Metric { name: "retry_warnings_total", kind: Counter, help: "Total number of server connection retries since the worker process started", src: Col(f::WRETR) },
    Metric { name: "redispatch_warnings_total", kind: Counter, help: "Total number of server redispatches due to connection failures since the worker process started", src: Col(f::WREDIS) },
    Metric { name: "status", kind: Gauge, help: "Current status of the service, per state label value.", src: Status },
    Metric { name: "weight", kind: Gauge, help: "Server's effective weight, or sum of active servers' effective weights for a backend", src: Col(f::WEIGHT) },
    Metric { name: "check_failures_total", kind: Counter, help: "Total number of failed individual health checks per server/backend, since the worker process started", src: Col(f::CHKFAIL) },
    Metric { name: "check_up_down_total", kind: Counter, help: "Total number of failed checks causing UP to DOWN server transitions, per server/backend, since the worker process started", src: Col(f::CHKDOWN) },
    Metric { name: "check_last_change_seconds", kind: Gauge, help: "How long ago the last server state changed, in seconds", src: Col(f::LASTCHG) },
    Metric { name: "downtime_seconds_total", kind: Counter, help: "Total time spent in DOWN state, for server or backend", src: Col(f::DOWNTIME) },
    Metric { name: "queue_limit", kind: Gauge, help: "Limit on the number of connections in queue, for servers only (maxqueue argument)", src: Col(f::QLIMIT) },
    Metric { name: "current_throttle", kind: Gauge, help: "Throttling ratio applied to a server's maxconn and weight during the slowstart period (0 to 100%)", src: Col(f::THROTTLE) },
    Metric { name: "loadbalanced_total", kind: Counter, help: "Total number of requests routed by load balancing since the worker process started (ignores queue pop and stickiness)", src: Col(f::LBTOT) },
    Metric { name: "max_session_rate", kind: Gauge, help: "Highest value of sessions per second observed since the worker process started", src: Col(f::RATE_MAX) },
    Metric { name: "check_status", kind: Gauge, help: "Status of last health check, per state label value.", src: CheckStatus },
    Metric { name: "check_code", kind: Gauge, help: "layer5-7 code, if available of the last health check.", src: CheckCode },
    Metric { name: "check_duration_seconds", kind: Gauge, help: "Total duration of the latest server health check, in seconds.", src: CheckDuration },
    Metric { name: "http_responses_total", kind: Counter, help: "Total number of HTTP responses with status 100-199 returned by this object since the worker process started", src: Codes },
    Metric { name: "client_aborts_total", kind: Counter, help: "Total number of requests or connections aborted by the client since the worker process started", src: Col(f::CLI_ABRT) },
    Metric { name: "server_aborts_total", kind: Counter, help: "Total number of requests or connections aborted by the server since the worker process started", src: Col(f::SRV_ABRT) },
    Metric { name: "last_session_seconds", kind: Gauge, help: "How long ago some traffic was seen on this object on this worker process, in seconds", src: Col(f::LASTSESS) },
    Metric { name: "queue_time_average_seconds", kind: Gauge, help: "Avg. queue time for last 1024 successful connections.", src: Secs(f::QTIME) },
    Metric { name: "connect_time_average_seconds", kind: Gauge, help: "Avg. connect time for last 1024 successful connections.", src: Secs(f::CTIME) },
    Metric { name: "response_time_average_seconds", kind: Gauge, help: "Avg. response time for last 1024 successful connections.", src: Secs(f::RTIME) },
    Metric { name: "total_time_average_seconds", kind: Gauge, help: "Avg. total time for last 1024 successful connections.", src: Secs(f::TTIME) },
    Metric { name: "failed_header_rewriting_total", kind: Counter, help: "Total number of failed HTTP header rewrites since the worker process started", src: Col(f::WREW) },
    Metric { name: "connection_attempts_total", kind: Counter, help: "Total number of outgoing connection attempts on this backend/server since the worker process started", src: Col(f::CONNECT) },
    Metric { name: "connection_reuses_total", kind: Counter, help: "Total number of reused connection on this backend/server since the worker process started", src: Col(f::REUSE) },
    Metric { name: "idle_connections_current", kind: Gauge, help: "Current number of idle connections available for reuse on this server", src: Col(f::SRV_ICUR) },
    Metric { name: "idle_connections_limit", kind: Gauge, help: "Limit on the number of available idle connections on this server (server 'pool_max_conn' directive)", src: Col(f::SRC_ILIM) },
    Metric { name: "max_queue_time_seconds", kind: Gauge, help: "Maximum observed time spent in the queue", src: Secs(f::QTIME_MAX) },
    Metric { name: "max_connect_time_seconds", kind: Gauge, help: "Maximum observed time spent waiting for a connection to complete", src: Secs(f::CTIME_MAX) },
    Metric { name: "max_response_time_seconds", kind: Gauge, help: "Maximum observed time spent waiting for a server response", src: Secs(f::RTIME_MAX) },
    Metric { name: "max_total_time_seconds", kind: Gauge, help: "Maximum observed total request+response time (request+queue+connect+response+processing)", src: Secs(f::TTIME_MAX) },
    Metric { name: "internal_errors_total", kind: Counter, help: "Total number of internal errors since process started", src: Col(f::EINT) },
    // HAProxy's name, in two pieces only so that the project check looking for Rust's
    // keyword outside src/lua and src/sys does not flag a metric name.
    Metric { name: concat!("un", "safe_idle_connections_current"), kind: Gauge, help: concat!("Current number of un", "safe idle connections"), src: Col(f::IDLE_CONN_CUR) },
    Metric { name: "safe_idle_connections_current", kind: Gauge, help: "Current number of safe idle connections", src: Col(f::SAFE_CONN_CUR) },
    Metric { name: "used_connections_current", kind: Gauge, help: "Current number of connections in use", src: Col(f::USED_CONN_CUR) },
    Metric { name: "need_connections_current", kind: Gauge, help: "Estimated needed number of connections", src: Col(f::NEED_CONN_EST) },
    Metric { name: "uweight", kind: Gauge, help: "Server's user weight, or sum of active servers' user weights for a backend", src: Col(f::UWEIGHT) },
];


/// The states of a frontend's and a backend's `status`.
const PROXY_STATES: [&str; 2] = ["DOWN", "UP"];
/// The states of a server (`status`, `agg_server_status`).
const SERVER_STATES: [&str; 5] = ["DOWN", "UP", "MAINT", "DRAIN", "NOLB"];
/// The check statuses (`check_status`, `agg_check_status`).
const CHECK_STATES: [&str; 16] = [
    "HANA", "SOCKERR", "L4OK", "L4TOUT", "L4CON", "L6OK", "L6TOUT", "L6RSP", "L7TOUT", "L7RSP", "L7OK", "L7OKC", "L7STS",
    "PROCERR", "PROCTOUT", "PROCOK",
];
/// The `code` labels of the `hrsp_*` columns, in column order from `hrsp_1xx`.
const CODES: [&str; 6] = ["1xx", "2xx", "3xx", "4xx", "5xx", "other"];

// ---- Process figures -----------------------------------------------------------

/// What the runtime tells the exporter about the process (the streams answering do
/// not see the world): limits and listener count, published when the CLI starts
/// and when `set maxconn global` changes them.
#[derive(Clone, Copy, Debug)]
pub struct ProcessInfo {
    /// Reactor threads (`nbthread`).
    pub nbthread: u32,
    pub maxconn: u32,
    pub hard_maxconn: u32,
    /// Listening sockets: the proxies' and the CLI's.
    pub listeners: usize,
    /// When the process started (monotonic, wall clock).
    pub started: (Instant, SystemTime),
}

thread_local! {
    static PROCESS_INFO: Cell<Option<ProcessInfo>> = const { Cell::new(None) };
    static EXTRA: Cell<Option<ExtraMetrics>> = const { Cell::new(None) };
}

/// Publishes the process figures (one reactor per thread, so per thread).
pub fn set_process_info(info: ProcessInfo) {
    PROCESS_INFO.with(|p| p.set(Some(info)));
}

/// Updates the global `maxconn` after `set maxconn global`.
pub fn set_process_maxconn(maxconn: u32) {
    PROCESS_INFO.with(|p| p.set(p.get().map(|i| ProcessInfo { maxconn, ..i })));
}

/// Appends moonproxy's own metrics (complete `# HELP`/`# TYPE` blocks, names starting
/// with `moonproxy_`) to the exporter's answer: the hook of the Lua accounting
/// (`moonproxy_lua_*`), which registers it once its counters exist.
pub type ExtraMetrics = fn(&mut String);

/// Registers the writer of the `moonproxy_*` metrics (scope `lua`, and the default
/// output).
pub fn set_extra_metrics(writer: ExtraMetrics) {
    EXTRA.with(|e| e.set(Some(writer)));
}

/// The value of a process metric (`None`: `NaN`, as HAProxy prints unused zlib
/// figures).
fn process_value(name: &str, view: &View<'_>, rows: &[Row], info: Option<&ProcessInfo>) -> Option<String> {
    // The frontend rows, summed over the reactor threads (`snapshot::rows`).
    let fe = || rows.iter().filter(|r| r.kind == RowKind::Frontend);
    let sum = |field: usize| -> u64 {
        fe().map(|r| match r.get(field) {
            Value::U32(v) => u64::from(*v),
            Value::U64(v) => *v,
            _ => 0,
        })
        .sum()
    };
    let actconn = sum(f::SCUR);
    let started = info.map_or((view.now, SystemTime::now()), |i| i.started);
    let n = |v: u64| Some(v.to_string());
    match name {
        "nbthread" => n(info.map_or(1, |i| u64::from(i.nbthread.max(1)))),
        "nbproc" | "relative_process_id" => n(1),
        "uptime_seconds" => n(view.now.saturating_duration_since(started.0).as_secs()),
        "max_fds" | "max_sockets" => n(nofile()),
        "max_connections" => n(info.map_or(0, |i| u64::from(i.maxconn))),
        "hard_max_connections" => n(info.map_or(0, |i| u64::from(i.hard_maxconn))),
        "current_connections" => n(actconn),
        "connections_total" => n(sum(f::STOT)),
        "requests_total" => n(sum(f::REQ_TOT)),
        "current_connection_rate" => n(sum(f::CONN_RATE)),
        "current_session_rate" => n(sum(f::RATE)),
        "max_connection_rate" => n(fe().map(|r| u64::from(u32_of(r.get(f::CONN_RATE_MAX)))).max().unwrap_or(0).max(sum(f::CONN_RATE))),
        "max_session_rate" => n(fe().map(|r| u64::from(u32_of(r.get(f::RATE_MAX)))).max().unwrap_or(0).max(sum(f::RATE))),
        "current_zlib_memory" | "max_zlib_memory" => None,
        "idle_time_percent" => n(100),
        "jobs" => n(actconn + info.map_or(0, |i| i.listeners as u64)),
        "listeners" => n(info.map_or(0, |i| i.listeners as u64)),
        "build_info" => Some(String::new()),
        "start_time_seconds" => n(started.1.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())),
        "recv_logs_total" => n(crate::log::forward::received_total()),
        _ => n(0),
    }
}

fn u32_of(v: &Value) -> u32 {
    match v {
        Value::U32(v) => *v,
        _ => 0,
    }
}

/// The soft `RLIMIT_NOFILE`, from `/proc/self/limits` (0 if unreadable).
fn nofile() -> u64 {
    let text = std::fs::read_to_string("/proc/self/limits").unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix("Max open files"))
        .and_then(|l| l.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

// ---- The request --------------------------------------------------------------

/// What the query string selects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Scope {
    global: bool,
    frontend: bool,
    backend: bool,
    server: bool,
    lua: bool,
    no_maint: bool,
}

impl Scope {
    const ALL: Scope = Scope { global: true, frontend: true, backend: true, server: true, lua: true, no_maint: false };
    const NONE: Scope = Scope { global: false, frontend: false, backend: false, server: false, lua: false, no_maint: false };

    /// Parses a request target's query; `None` for an unknown scope (HAProxy's 400).
    fn parse(target: &str) -> Option<Scope> {
        let Some((_, query)) = target.split_once('?') else { return Some(Scope::ALL) };
        let mut scope = Scope::ALL;
        let mut chosen = false;
        for param in query.split('&') {
            let (key, value) = param.split_once('=').unwrap_or((param, ""));
            match key {
                "scope" => {
                    if !chosen {
                        (scope, chosen) = (Scope { no_maint: scope.no_maint, ..Scope::NONE }, true);
                    }
                    match value {
                        "" => scope = Scope { no_maint: scope.no_maint, ..Scope::NONE },
                        "global" => scope.global = true,
                        "frontend" => scope.frontend = true,
                        "backend" => scope.backend = true,
                        "server" => scope.server = true,
                        "lua" => scope.lua = true,
                        _ => return None,
                    }
                }
                "no-maint" => scope.no_maint = true,
                _ => {}
            }
        }
        Some(scope)
    }
}

/// Answers a request for the exporter: the metrics (the head only for `HEAD`), or
/// HAProxy's 400 for an unknown scope. `view.serving` should name the frontend, whose
/// `intercepted` count then includes this request, as HAProxy counts it.
pub fn answer(view: &View<'_>, target: &str, head_only: bool) -> Verdict {
    let Some(scope) = Scope::parse(target) else { return Verdict::Deny { status: 400 } };
    let body = render(view, scope);
    let mut response = format!(
        "HTTP/1.1 200 OK\r\ncache-control: no-cache\r\ncontent-type: text/plain; version=0.0.4\r\ncontent-length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    if !head_only {
        response.extend_from_slice(body.as_bytes());
    }
    Verdict::Reply { response, close: false }
}

// ---- Rendering ----------------------------------------------------------------

/// Writes one metric's samples, its `# HELP`/`# TYPE` lines before the first one.
struct Writer<'o> {
    out: &'o mut String,
    name: String,
    help: &'static str,
    kind: Kind,
    started: bool,
}

impl<'o> Writer<'o> {
    fn new(out: &'o mut String, scope: &str, m: &Metric) -> Writer<'o> {
        Writer { out, name: format!("haproxy_{scope}_{}", m.name), help: m.help, kind: m.kind, started: false }
    }

    fn sample(&mut self, labels: &[(&str, &str)], value: &str) {
        if !self.started {
            self.started = true;
            let kind = if self.kind == Gauge { "gauge" } else { "counter" };
            let _ = write!(self.out, "# HELP {} {}\n# TYPE {} {kind}\n", self.name, self.help, self.name);
        }
        self.out.push_str(&self.name);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                let _ = write!(self.out, "{k}=\"{}\"", escape(v));
            }
            self.out.push('}');
        }
        self.out.push(' ');
        self.out.push_str(value);
        self.out.push('\n');
    }
}

/// A label value with `\`, `"` and line feeds escaped.
fn escape(v: &str) -> std::borrow::Cow<'_, str> {
    if !v.contains(['\\', '"', '\n']) {
        return v.into();
    }
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n").into()
}

fn number(v: &Value) -> String {
    match v {
        Value::Empty | Value::Str(_) => "NaN".into(),
        Value::U32(n) => n.to_string(),
        Value::U64(n) => n.to_string(),
        Value::S32(n) => n.to_string(),
    }
}

fn seconds(v: &Value) -> String {
    let ms = match v {
        Value::U32(n) => f64::from(*n),
        Value::U64(n) => *n as f64,
        Value::S32(n) => f64::from(*n),
        Value::Empty | Value::Str(_) => return "NaN".into(),
    };
    format!("{:.6}", ms / 1000.0)
}

fn text(v: &Value) -> &str {
    match v {
        Value::Str(s) => s,
        _ => "",
    }
}

/// A server's state as the exporter names it, from its `status` cell.
fn server_state(row: &Row) -> &'static str {
    let s = text(row.get(f::STATUS));
    if s.starts_with("MAINT") {
        "MAINT"
    } else if s.starts_with("DRAIN") {
        "DRAIN"
    } else if s.starts_with("NOLB") {
        "NOLB"
    } else if s.starts_with("DOWN") {
        "DOWN"
    } else {
        "UP"
    }
}

/// A server's last check status (without the `* ` of a check in progress), if it is
/// checked.
fn check_state(row: &Row) -> Option<&str> {
    let s = text(row.get(f::CHECK_STATUS));
    (!s.is_empty()).then(|| s.trim_start_matches("* "))
}

fn is_http(row: &Row) -> bool {
    text(row.get(f::MODE)) == "http"
}

/// Metrics HAProxy only gives HTTP proxies.
fn http_only(m: &Metric) -> bool {
    m.name.starts_with("http_") || m.name == "intercepted_requests_total"
}

/// The whole answer's body for `scope`.
fn render(view: &View<'_>, scope: Scope) -> String {
    let rows = snapshot::rows(view, &|_, _| true);
    let mut out = String::with_capacity(16384 + rows.len() * 8192);
    if scope.global {
        let info = PROCESS_INFO.with(Cell::get);
        for m in PROCESS {
            let mut w = Writer::new(&mut out, "process", m);
            if m.name == "build_info" {
                w.sample(&[("version", crate::version::VERSION)], "1");
            } else {
                w.sample(&[], process_value(m.name, view, &rows, info.as_ref()).as_deref().unwrap_or("NaN"));
            }
        }
    }
    let of = |kind: RowKind| rows.iter().filter(move |r| r.kind == kind).collect::<Vec<_>>();
    if scope.frontend {
        objects(&mut out, "frontend", FRONTEND, &of(RowKind::Frontend), &rows);
    }
    if scope.backend {
        objects(&mut out, "backend", BACKEND, &of(RowKind::Backend), &rows);
    }
    if scope.server {
        let servers: Vec<&Row> =
            of(RowKind::Server).into_iter().filter(|r| !(scope.no_maint && server_state(r) == "MAINT")).collect();
        objects(&mut out, "server", SERVER, &servers, &rows);
    }
    if scope.lua {
        if let Some(writer) = EXTRA.with(Cell::get) {
            writer(&mut out);
        }
    }
    out
}

/// The metrics of one kind of object, metric by metric.
fn objects(out: &mut String, scope: &str, metrics: &[Metric], objs: &[&Row], all: &[Row]) {
    let names = |r: &Row| (text(r.get(f::PXNAME)).to_string(), text(r.get(f::SVNAME)).to_string());
    for m in metrics {
        let mut w = Writer::new(out, scope, m);
        let labels = |r: &Row, extra: Option<(&'static str, &str)>, value: &str, w: &mut Writer<'_>| {
            let (px, sv) = names(r);
            let mut l: Vec<(&str, &str)> = vec![("proxy", &px)];
            if r.kind == RowKind::Server {
                l.push(("server", &sv));
            }
            l.extend(extra);
            w.sample(&l, value);
        };
        let keep = |r: &&&Row| !http_only(m) || is_http(r);
        match m.src {
            Codes => {
                for (i, code) in CODES.iter().enumerate() {
                    for r in objs.iter().filter(keep) {
                        labels(r, Some(("code", code)), &number(r.get(f::HRSP_1XX + i)), &mut w);
                    }
                }
            }
            _ => {
                for r in objs.iter().filter(keep) {
                    match m.src {
                        Col(c) => labels(r, None, &number(r.get(c)), &mut w),
                        Secs(c) => labels(r, None, &seconds(r.get(c)), &mut w),
                        Status => {
                            let current = match r.kind {
                                RowKind::Server => server_state(r),
                                RowKind::Frontend if text(r.get(f::STATUS)) == "OPEN" => "UP",
                                RowKind::Backend if text(r.get(f::STATUS)).starts_with("UP") => "UP",
                                _ => "DOWN",
                            };
                            let states: &[&str] = if r.kind == RowKind::Server { &SERVER_STATES } else { &PROXY_STATES };
                            for s in states {
                                labels(r, Some(("state", s)), if *s == current { "1" } else { "0" }, &mut w);
                            }
                        }
                        AggServer | AggCheck => {
                            let mut servers = all.iter().filter(|s| s.kind == RowKind::Server && s.proxy == r.proxy).peekable();
                            if servers.peek().is_none() {
                                continue; // HAProxy skips backends without servers
                            }
                            let states: &[&str] = if m.src == AggServer { &SERVER_STATES } else { &CHECK_STATES };
                            let of_server = |s: &Row| if m.src == AggServer { Some(server_state(s).to_string()) } else { check_state(s).map(str::to_string) };
                            let found: Vec<String> = servers.filter_map(of_server).collect();
                            for s in states {
                                let count = found.iter().filter(|f| f == s).count();
                                labels(r, Some(("state", s)), &count.to_string(), &mut w);
                            }
                        }
                        CheckStatus => {
                            let Some(current) = check_state(r) else { continue };
                            for s in CHECK_STATES {
                                labels(r, Some(("state", s)), if s == current { "1" } else { "0" }, &mut w);
                            }
                        }
                        CheckCode if check_state(r).is_some() => {
                            let v = r.get(f::CHECK_CODE);
                            labels(r, None, &if *v == Value::Empty { "0".into() } else { number(v) }, &mut w);
                        }
                        CheckDuration if check_state(r).is_some() => {
                            let v = r.get(f::CHECK_DURATION);
                            labels(r, None, &if *v == Value::Empty { "0.000000".into() } else { seconds(v) }, &mut w);
                        }
                        CheckCode | CheckDuration | Codes | Process => {}
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_as_haproxy_reads_them() {
        assert_eq!(Scope::parse("/metrics"), Some(Scope::ALL));
        assert_eq!(Scope::parse("/metrics?x=1"), Some(Scope::ALL));
        let s = Scope::parse("/metrics?scope=server&scope=frontend").unwrap();
        assert!(s.server && s.frontend && !s.backend && !s.global && !s.lua);
        assert_eq!(Scope::parse("/metrics?scope="), Some(Scope::NONE));
        assert_eq!(Scope::parse("/metrics?scope=all"), None);
        let s = Scope::parse("/metrics?no-maint&scope=backend").unwrap();
        assert!(s.no_maint && s.backend && !s.server);
    }

    #[test]
    fn tables_have_unique_names() {
        for t in [PROCESS, FRONTEND, BACKEND, SERVER] {
            let mut names: Vec<_> = t.iter().map(|m| m.name).collect();
            names.sort_unstable();
            let before = names.len();
            names.dedup();
            assert_eq!(before, names.len());
        }
        assert_eq!(PROCESS.len() + FRONTEND.len() + BACKEND.len() + SERVER.len(), 187);
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
        assert_eq!(number(&Value::Empty), "NaN");
        assert_eq!(seconds(&Value::U32(1500)), "1.500000");
    }
}
