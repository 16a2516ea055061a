//! Traffic log lines: TCP configurations that log every stream on stdout, and parsers for
//! the two line shapes the tests read (a key=value `log-format`, and `option tcplog`).

use super::{Backend, ProxyBuilder};

/// A `log-format` whose lines are easy to take apart with [`field`]: a `LOG ` prefix, then
/// `key=value` pairs separated by single spaces (no value contains a space).
pub const LOG_FORMAT: &str = "LOG ts=%ts b=%b s=%s rc=%rc U=%U B=%B Tw=%Tw Tc=%Tc";

/// Whether `line` is a traffic log line written with [`LOG_FORMAT`].
pub fn is_log_line(line: &str) -> bool {
    line.starts_with("LOG ")
}

/// The value of `key` in a [`LOG_FORMAT`] line (`field(line, "ts")` is the termination
/// state). Panics, showing the line, if the key is missing.
pub fn field<'a>(line: &'a str, key: &str) -> &'a str {
    let pattern = format!(" {key}=");
    let start = line
        .find(&pattern)
        .unwrap_or_else(|| panic!("no {key}= in {line:?}"))
        + pattern.len();
    line[start..].split(' ').next().unwrap_or_default()
}

/// A TCP configuration that logs every stream on stdout (raw format) with [`LOG_FORMAT`]:
/// `global` and `defaults` sections (`mode tcp`, `timeout connect 1s`, `timeout client 5s`,
/// `timeout server 5s`), each followed by the lines of `global_extra` / `defaults_extra`
/// (which may override them), then `proxies` (frontends, backends, listens; placeholders
/// allowed, as in any [`ProxyBuilder`](super::ProxyBuilder) configuration).
///
/// Most tests need no extra lines: see [`ProxyBuilder::logged_tcp`].
///
/// ```ignore
/// let proxy = ProxyBuilder::new(&logged_tcp_config("", "    timeout client 200ms", "
///     listen l
///         bind 127.0.0.1:{{fe}}
///         server s1 127.0.0.1:{{be}}",
/// ))
/// .port("be", backend.port())
/// .start();
/// let line = proxy.wait_for_line(is_log_line, DEADLINE);
/// assert_eq!(field(&line, "ts"), "cD", "{line}");
/// ```
pub fn logged_tcp_config(global_extra: &str, defaults_extra: &str, proxies: &str) -> String {
    format!(
        "global
    log stdout format raw local0
{global_extra}
defaults
    mode tcp
    log global
    log-format \"{LOG_FORMAT}\"
    timeout connect 1s
    timeout client 5s
    timeout server 5s
{defaults_extra}
{proxies}
"
    )
}

impl ProxyBuilder {
    /// moonproxy on [`logged_tcp_config`]`("", "", proxies)`.
    pub fn logged_tcp(proxies: &str) -> ProxyBuilder {
        ProxyBuilder::new(&logged_tcp_config("", "", proxies))
    }

    /// The simplest logged TCP proxy: `listen l` on `{{fe}}`, whose one server `s1` is
    /// `backend` (`{{be}}`).
    pub fn logged_tcp_listen(backend: &Backend) -> ProxyBuilder {
        ProxyBuilder::logged_tcp(
            "listen l
                bind 127.0.0.1:{{fe}}
                server s1 127.0.0.1:{{be}}",
        )
        .port("be", backend.port())
    }
}

/// An `option tcplog` line as HAProxy writes it in raw format, split into its fields:
///
/// ```text
/// 127.0.0.1:41234 [25/Nov/2026:20:58:58.123] l l/s1 0/0/1 5 -- 1/1/0/0/0 0/0
/// client          date                       fe b/s  timers bytes ts conns queues
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TcpLog<'a> {
    /// `%ci:%cp`.
    pub client: &'a str,
    /// `[%t]`, brackets included.
    pub date: &'a str,
    /// `%ft`.
    pub frontend: &'a str,
    /// `%b/%s`.
    pub backend_server: &'a str,
    /// `%Tw/%Tc/%Tt`.
    pub timers: &'a str,
    /// `%B`: bytes sent to the client.
    pub bytes: &'a str,
    /// `%ts`: the two-letter termination state.
    pub termination: &'a str,
    /// `%ac/%fc/%bc/%sc/%rc`.
    pub conns: &'a str,
    /// `%sq/%bq`.
    pub queues: &'a str,
}

impl<'a> TcpLog<'a> {
    /// Splits a tcplog line; panics, showing the line, unless it has exactly nine fields.
    pub fn parse(line: &'a str) -> TcpLog<'a> {
        let fields: Vec<&str> = line.split(' ').collect();
        let [client, date, frontend, backend_server, timers, bytes, termination, conns, queues] =
            fields[..]
        else {
            panic!("not a tcplog line (9 fields): {line:?}");
        };
        TcpLog {
            client,
            date,
            frontend,
            backend_server,
            timers,
            bytes,
            termination,
            conns,
            queues,
        }
    }
}
