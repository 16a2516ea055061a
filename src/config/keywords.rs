//! The keyword tables: the one place that says what moonproxy does with each keyword
//! HAProxy 2.6 knows.
//!
//! Every keyword is in one of three states ([`State`]):
//! - **supported**: parsed into the model by the function in the table;
//! - **ignored**: a harmless tuning knob, accepted with no effect (a short list);
//! - **not yet**: HAProxy has it, moonproxy does not yet; using it is an error
//!   (`'X' is not supported by moonproxy yet.`), never silently ignored.
//!
//! A keyword in no table is unknown: the error names it and suggests the closest
//! known keyword ([`suggest`]).
//!
//! Tables: [`GLOBAL`] for `global`; [`PROXY`] for `defaults`, `frontend`, `backend` and
//! `listen` (each entry says in which of them it is allowed, like HAProxy's keyword
//! matrix); [`OPTIONS`] for `option X`, [`SERVER_OPTIONS`] for `server` and
//! `default-server` settings and [`BIND_OPTIONS`] for `bind` settings.
//! `doc/config.md` embeds [`markdown`]'s output; a test fails when it is stale.

use super::parse::compression as comp;
use super::parse::cookie;
use super::parse::fcgi_app;
use super::parse::declare;
use super::parse::global as g;
use super::parse::http_misc;
use super::parse::lua;
use super::parse::process;
use super::parse::proxy as p;
use super::parse::KwFn;

/// What moonproxy does with a keyword.
#[derive(Clone, Copy)]
pub enum State {
    Supported(KwFn),
    /// Accepted and ignored (harmless tuning knobs only).
    Ignored,
    /// Known to HAProxy 2.6, not supported by moonproxy yet.
    NotYet,
}

impl State {
    pub fn label(&self) -> &'static str {
        match self {
            State::Supported(_) => "supported",
            State::Ignored => "ignored",
            State::NotYet => "not yet",
        }
    }
}

/// Section kinds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Section {
    Global,
    Defaults,
    Frontend,
    Backend,
    Listen,
}

impl Section {
    /// The name HAProxy uses in messages (`'global' section`).
    pub fn name(self) -> &'static str {
        match self {
            Section::Global => "global",
            Section::Defaults => "defaults",
            Section::Frontend => "frontend",
            Section::Backend => "backend",
            Section::Listen => "listen",
        }
    }

    /// The proxy mask bit(s) this section satisfies.
    fn allows(self, mask: u8) -> bool {
        match self {
            Section::Global => true,
            Section::Defaults => mask & D != 0,
            Section::Frontend => mask & F != 0,
            Section::Backend => mask & B != 0,
            Section::Listen => mask & (F | B) != 0,
        }
    }
}

/// Allowed in `defaults`.
pub const D: u8 = 1;
/// Allowed in `frontend` (and `listen`).
pub const F: u8 = 2;
/// Allowed in `backend` (and `listen`).
pub const B: u8 = 4;
const DFB: u8 = D | F | B;
const DF: u8 = D | F;
const DB: u8 = D | B;
const FB: u8 = F | B;

/// One keyword.
#[derive(Clone, Copy)]
pub struct Keyword {
    pub name: &'static str,
    pub state: State,
    /// For proxy keywords: where allowed ([`D`], [`F`], [`B`]); 0 for global ones.
    pub sections: u8,
    pub note: &'static str,
}

impl Keyword {
    pub fn allowed_in(&self, section: Section) -> bool {
        section.allows(self.sections)
    }
}

const fn sup(name: &'static str, sections: u8, f: KwFn, note: &'static str) -> Keyword {
    Keyword {
        name,
        state: State::Supported(f),
        sections,
        note,
    }
}
const fn ign(name: &'static str, sections: u8, note: &'static str) -> Keyword {
    Keyword {
        name,
        state: State::Ignored,
        sections,
        note,
    }
}
#[allow(dead_code)] // for keywords not supported yet, when there is none
const fn nyi(name: &'static str, sections: u8) -> Keyword {
    Keyword {
        name,
        state: State::NotYet,
        sections,
        note: "",
    }
}
#[allow(dead_code)] // for "not yet" rows that need a note
const fn nyi_n(name: &'static str, sections: u8, note: &'static str) -> Keyword {
    Keyword {
        name,
        state: State::NotYet,
        sections,
        note,
    }
}

/// A sub-keyword with no parser of its own (options of `option`, `server`, `bind`).
#[derive(Clone, Copy)]
pub struct SubKeyword {
    pub name: &'static str,
    pub state: SubState,
    /// For options: where allowed; 0 when unrestricted.
    pub sections: u8,
    pub note: &'static str,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SubState {
    Supported,
    Ignored,
    NotYet,
}

impl SubState {
    pub fn label(self) -> &'static str {
        match self {
            SubState::Supported => "supported",
            SubState::Ignored => "ignored",
            SubState::NotYet => "not yet",
        }
    }
}

const fn s(name: &'static str, sections: u8, note: &'static str) -> SubKeyword {
    SubKeyword {
        name,
        state: SubState::Supported,
        sections,
        note,
    }
}
const fn i(name: &'static str, sections: u8, note: &'static str) -> SubKeyword {
    SubKeyword {
        name,
        state: SubState::Ignored,
        sections,
        note,
    }
}
const fn n(name: &'static str, sections: u8) -> SubKeyword {
    SubKeyword {
        name,
        state: SubState::NotYet,
        sections,
        note: "",
    }
}

/// Keywords of the `global` section.
pub static GLOBAL: &[Keyword] = &[
    sup("daemon", 0, g::daemon, "same as `-D`"),
    sup("pidfile", 0, g::pidfile, "`-p` overrides it"),
    sup(
        "nbthread",
        0,
        g::nbthread,
        "N reactor threads, each with its own Lua state (see doc/architecture.md, Threads)",
    ),
    sup("maxconn", 0, g::maxconn, "computed from the fd limit when not set, as HAProxy"),
    sup("ulimit-n", 0, process::ulimit_n, "raises the fd limit, never lowers it (as HAProxy 2.6)"),
    sup("strict-limits", 0, process::strict_limits, "on by default; `no strict-limits`: fd-limit alerts do not stop start-up"),
    sup("chroot", 0, process::chroot, "after the pidfile, before dropping privileges"),
    sup("user", 0, process::user, "sets the uid only, as HAProxy"),
    sup("group", 0, process::group, ""),
    sup("uid", 0, process::uid, ""),
    sup("gid", 0, process::gid, "clears supplementary groups"),
    sup("cpu-map", 0, process::cpu_map, "`auto:`, thread sets; see doc/operations.md"),
    sup("hard-stop-after", 0, g::hard_stop_after, ""),
    sup(
        "log",
        0,
        g::log,
        "stdout, stderr, `fd@N`, UDP, unix sockets, `ring@<name>` (a `ring` section), `tcp@<addr>` (through a ring of its own, `ring#N`, as HAProxy does)",
    ),
    sup("log-tag", 0, g::log_tag, ""),
    sup("log-send-hostname", 0, g::log_send_hostname, ""),
    sup("node", 0, g::node, ""),
    sup("localpeer", 0, g::localpeer, "also set by `-L`; names the local peer of `peers` sections (doc/stick-tables.md)"),
    sup("tune.bufsize", 0, g::bufsize, "size units accepted"),
    sup("tune.maxaccept", 0, g::maxaccept, ""),
    sup("quiet", 0, g::quiet, "same as `-q`"),
    sup("master-worker", 0, g::master_worker, "same as `-W`; `no-exit-on-failure` accepted"),
    sup("stats", 0, super::parse::cli::stats, "`socket`, `timeout`, `maxconn`: the CLI (see doc/cli.md)"),
    sup("setenv", 0, g::setenv, "acts while parsing"),
    sup("presetenv", 0, g::presetenv, "acts while parsing"),
    sup("resetenv", 0, g::resetenv, "acts while parsing"),
    sup("unsetenv", 0, g::unsetenv, "acts while parsing"),
    sup("lua-load", 0, lua::load, "runs right after parsing; arguments (HAProxy 2.7) as `...`"),
    sup("lua-load-per-thread", 0, lua::load_per_thread, "one reactor thread: the same state as `lua-load`"),
    sup("lua-prepend-path", 0, lua::prepend_path, ""),
    sup("tune.lua.bool-sample-conversion", 0, lua::bool_sample_conversion, "HAProxy 3.2 keyword, recorded"),
    sup("tune.lua.burst-timeout", 0, lua::burst_timeout, "HAProxy 2.8 keyword; default none"),
    sup("tune.lua.forced-yield", 0, lua::forced_yield, "mapped to a time slice (doc/lua-ffi.md section 8)"),
    sup("tune.lua.preempt", 0, lua::preempt, "moonproxy: `timer` (default) or `count` (HAProxy's hook)"),
    sup("tune.lua.log.loggers", 0, lua::log_loggers, "HAProxy 2.9 keyword"),
    sup("tune.lua.log.stderr", 0, lua::log_stderr, "HAProxy 2.9 keyword; default `on` as 2.6"),
    sup("tune.lua.maxmem", 0, lua::maxmem, "MB"),
    sup("tune.lua.openlibs", 0, lua::openlibs, "HAProxy 3.4 keyword; only `all`"),
    sup("tune.lua.service-timeout", 0, lua::service_timeout, "the run-time budget of Lua services"),
    sup("tune.lua.session-timeout", 0, lua::session_timeout, "recorded for actions, fetches, converters"),
    sup("tune.lua.stall-warn", 0, lua::stall_warn, "moonproxy: log a resume holding the reactor longer (default 100ms, 0: off)"),
    sup("tune.lua.strict-blocking", 0, lua::strict_blocking, "moonproxy: blocking calls at run time are errors"),
    sup("tune.lua.stats", 0, lua::accounting, "moonproxy: `off` stops the `show lua stats` accounting (default on)"),
    sup("tune.lua.task-timeout", 0, lua::task_timeout, ""),
    ign("busy-polling", 0, "the reactor never spins"),
    ign("description", 0, "informational"),
    ign("expose-experimental-directives", 0, ""),
    ign("max-spread-checks", 0, ""),
    ign("no-memory-trimming", 0, ""),
    ign("nosplice", 0, "moonproxy does not splice"),
    ign("set-dumpable", 0, ""),
    ign("spread-checks", 0, ""),
    ign("tune.fd.edge-triggered", 0, ""),
    ign("tune.idle-pool.shared", 0, ""),
    ign("tune.idletimer", 0, ""),
    ign("tune.maxpollevents", 0, ""),
    ign("tune.pattern.cache-size", 0, ""),
    sup("tune.pool-high-fd-ratio", 0, g::tune_int, "percent of `maxsock` (default 25) that idle server connections may hold, per process: past it a connection that becomes idle is closed instead of kept"),
    sup("tune.pool-low-fd-ratio", 0, g::tune_int, "checked, no effect: each thread keeps its own idle connections, none are taken from another thread"),
    ign("tune.recv_enough", 0, ""),
    ign("tune.runqueue-depth", 0, ""),
    ign("tune.sched.low-latency", 0, ""),
    sup("server-state-base", 0, super::parse::server_state::base, "the directory of relative server-state file names"),
    sup("server-state-file", 0, super::parse::server_state::file, "read at start-up by backends with `load-server-state-from-file global`; write it with `show servers state`"),
    sup("51degrees-data-file", 0, g::not_built_in, "refused with the error of an HAProxy 2.6 built without it (Debian's): `unknown keyword`"),
    sup("ca-base", 0, g::tls_default, "TLS: base directory of relative `ca-file`/`crl-file` paths"),
    sup("close-spread-time", 0, super::parse::global_extra::close_spread_time, "soft stop: streams told to stop evenly over the window (HAProxy: at random); `infinite`: never"),
    sup("cluster-secret", 0, g::cluster_secret, "accepted, no effect: it keys QUIC retry tokens and moonproxy has no QUIC"),
    sup("crt-base", 0, g::tls_default, "TLS: base directory of relative `crt` paths"),
    sup("debug", 0, g::not_built_in, "not a 2.6 keyword (removed): refused as HAProxy 2.6 does; use `-d`"),
    sup("default-path", 0, g::default_path, "`current` (what moonproxy does: paths relative to the working directory); `config`, `parent`, `origin` refused as not yet"),
    sup("deviceatlas-json-file", 0, g::not_built_in, "refused with the error of an HAProxy 2.6 built without it (Debian's): `unknown keyword`"),
    sup("external-check", 0, super::parse::external_check::global_external_check, "allows `option external-check` (doc/checks.md)"),
    sup("grace", 0, super::parse::global_extra::grace, "soft stop: the listeners keep accepting this long first"),
    sup("h1-accept-payload-with-any-method", 0, g::flag, "HTTP/1.0 GET/HEAD/DELETE requests may carry a payload; without it they are answered 413, as HAProxy does (HTTP/1.0 with Transfer-Encoding stays refused on other methods)"),
    sup("h1-case-adjust", 0, super::parse::global_extra::h1_case_adjust, "with `option h1-case-adjust-bogus-client|server`; moonproxy keeps other names as received (HAProxy lowercases them)"),
    sup("h1-case-adjust-file", 0, super::parse::global_extra::h1_case_adjust_file, "read after parsing, HAProxy's checks"),
    sup("h2-workaround-bogus-websocket-clients", 0, g::flag, "accepted, no effect: moonproxy never advertises extended CONNECT (RFC 8441) to HTTP/2 clients"),
    sup("httpclient.resolvers.id", 0, g::httpclient_resolvers, "the section the Lua httpclient resolves host names with (default `default`, the implicit section built from /etc/resolv.conf); it must exist (HAProxy's error otherwise); doc/resolvers.md"),
    sup("httpclient.resolvers.prefer", 0, g::httpclient_resolvers, "the family the Lua httpclient asks first (default `ipv6`), the other one when it has no address"),
    sup("httpclient.ssl.ca-file", 0, g::tls_default, "CAs for `https://` in the Lua HTTP client (default `@system-ca`)"),
    sup("httpclient.ssl.verify", 0, g::tls_default, "`none` or `required` (default) for `https://` in the Lua HTTP client"),
    sup("insecure-fork-wanted", 0, super::parse::external_check::insecure_fork_wanted, "recorded: without it, `option external-check` gets HAProxy's warning (moonproxy forks anyway)"),
    sup("insecure-setuid-wanted", 0, g::flag, "accepted: moonproxy never forbids setuid programs (HAProxy does with `no_new_privs` unless set)"),
    sup("issuers-chain-path", 0, g::tls_default, "TLS default: recorded, no effect (rustls has no equivalent: doc/tls.md)"),
    sup("maxcompcpuusage", 0, comp::maxcompcpuusage, "recorded, no effect"),
    sup("maxcomprate", 0, comp::maxcomprate, "recorded, no effect"),
    sup("maxconnrate", 0, super::parse::rates::max_rate, "accepting pauses at the rate (connections wait in the backlog); split between threads"),
    sup("maxpipes", 0, g::tune_int, "accepted, no effect: moonproxy does not splice (no pipes)"),
    sup("maxsessrate", 0, super::parse::rates::max_rate, "sessions: connections past `tcp-request connection`; accepting pauses, split between threads"),
    sup("maxsslconn", 0, g::ssl_limit, "live TLS connections on `ssl` listeners (server-side TLS not counted); past it those listeners pause and clients wait in the backlog; split between threads"),
    sup("maxsslrate", 0, g::ssl_limit, "TLS connections accepted per second on `ssl` listeners (counted at accept, HAProxy counts handshakes); accepting pauses, split between threads"),
    sup("maxzlibmem", 0, comp::maxzlibmem, "recorded, no effect (no zlib: miniz_oxide)"),
    sup("mworker-max-reloads", 0, g::mworker_max_reloads, "after a reload the master sends SIGTERM to old workers that lived through more reloads"),
    sup("noepoll", 0, g::flag, "accepted, no effect: moonproxy has one poller (mio: epoll on Linux)"),
    sup("noevports", 0, g::flag, "accepted, no effect: moonproxy has one poller (mio: epoll on Linux)"),
    sup("nogetaddrinfo", 0, g::flag, "accepted, no effect: names in the configuration resolve with getaddrinfo (Rust's std) either way"),
    sup("nokqueue", 0, g::flag, "accepted, no effect: moonproxy has one poller (mio: epoll on Linux)"),
    sup("nopoll", 0, g::flag, "accepted, no effect: moonproxy has one poller (mio: epoll on Linux)"),
    sup("noreuseport", 0, g::noreuseport, "listeners without SO_REUSEPORT"),
    sup("numa-cpu-mapping", 0, g::flag, "accepted, no effect: threads are placed by `cpu-map` only"),
    sup("pp2-never-send-local", 0, g::flag, "`check-send-proxy` health checks send a v2 `PROXY` command with the probe's addresses instead of `LOCAL`"),
    sup("profiling.tasks", 0, g::profiling_tasks, "per-handler CPU profiling at start-up (`show profiling`; default auto)"),
    sup("set-var", 0, super::parse::global_extra::set_var, "`proc.*` only, evaluated at start in order (each thread has its own `proc` store)"),
    sup("set-var-fmt", 0, super::parse::global_extra::set_var, "`proc.*` only, rendered at start in order"),
    sup("ssl-default-bind-ciphers", 0, g::tls_default, "TLS: the binds' default `ciphers`: read as OpenSSL reads it, narrows what rustls offers (doc/tls.md, cipher and group lists)"),
    sup("ssl-default-bind-ciphersuites", 0, g::tls_default, "TLS: the binds' default `ciphersuites`; narrows what rustls offers (doc/tls.md, cipher and group lists)"),
    sup("ssl-default-bind-curves", 0, g::tls_default, "TLS: the binds' default `curves`; narrows what rustls offers (doc/tls.md, cipher and group lists)"),
    sup("ssl-default-bind-options", 0, g::tls_default, "TLS: ssl-min-ver, ssl-max-ver, force-tlsv1x, no-tlsv1x, no-tls-tickets, prefer-client-ciphers (no effect); others refused as in HAProxy"),
    sup("ssl-default-server-ciphers", 0, g::tls_default, "TLS: the servers' default `ciphers`; narrows what rustls offers (doc/tls.md, cipher and group lists)"),
    sup("ssl-default-server-ciphersuites", 0, g::tls_default, "TLS: the servers' default `ciphersuites`; narrows what rustls offers (doc/tls.md, cipher and group lists)"),
    sup("ssl-default-server-options", 0, g::tls_default, "TLS: ssl-min-ver, ssl-max-ver, force-tlsv1x, no-tlsv1x, no-tls-tickets; others refused as in HAProxy"),
    sup("ssl-dh-param-file", 0, g::tls_default, "TLS: accepted, no effect (rustls has no finite-field DH: doc/tls.md)"),
    sup("ssl-engine", 0, g::not_built_in, "OpenSSL engines: refused as by HAProxy 2.6 built on OpenSSL 3 (Debian's): `unknown keyword`"),
    sup("ssl-load-extra-del-ext", 0, g::flag, "accepted, no effect: rustls loads only the named PEM"),
    sup("ssl-load-extra-files", 0, g::openssl_only, "checked, no effect: only the named PEM is loaded (as `none`)"),
    sup("ssl-mode-async", 0, g::flag, "accepted, no effect: OpenSSL async engines do not apply to rustls"),
    sup("ssl-propquery", 0, g::openssl_only, "OpenSSL 3 providers: accepted so configurations stay portable, no effect (rustls)"),
    sup("ssl-provider", 0, g::openssl_only, "OpenSSL 3 providers: accepted so configurations stay portable, no effect (rustls)"),
    sup("ssl-provider-path", 0, g::openssl_only, "OpenSSL 3 providers: accepted so configurations stay portable, no effect (rustls)"),
    sup("ssl-server-verify", 0, g::tls_default, "TLS: default `verify` of `ssl` servers (`required` unless set to `none`)"),
    sup("ssl-skip-self-issued-ca", 0, g::tls_default, "TLS default: recorded, no effect (rustls has no equivalent: doc/tls.md)"),
    sup("thread-group", 0, g::thread_group, "group 1 only (it holds every thread)"),
    sup("thread-groups", 0, g::thread_groups, "1 only, as an HAProxy 2.6 build without thread groups"),
    sup("trace", 0, g::not_built_in, "not a 2.6 `global` keyword: refused as HAProxy 2.6 does"),
    sup("tune.buffers.limit", 0, g::tune_int, "accepted, no effect: buffers are allocated per connection, not from a pool"),
    sup("tune.buffers.reserve", 0, g::tune_int, "accepted, no effect: buffers are allocated per connection, not from a pool"),
    sup("tune.comp.maxlevel", 0, comp::maxlevel, "1 to 9, default 1: the level of every compressed response"),
    sup("tune.fail-alloc", 0, g::tune_int, "accepted (0 to 100), no effect: no allocation-failure injection"),
    sup("tune.h2.header-table-size", 0, g::tune_int, "the HPACK table size HTTP/2 clients may use (SETTINGS_HEADER_TABLE_SIZE)"),
    sup("tune.h2.initial-window-size", 0, g::tune_int, "each HTTP/2 client stream's receive window (SETTINGS_INITIAL_WINDOW_SIZE)"),
    sup("tune.h2.max-concurrent-streams", 0, g::tune_int, "HTTP/2 streams a client may open at once; more are refused (REFUSED_STREAM)"),
    sup("tune.h2.max-frame-size", 0, g::tune_int, "the largest frame an HTTP/2 client may send (SETTINGS_MAX_FRAME_SIZE)"),
    sup("tune.http.cookielen", 0, super::parse::global_extra::tune_int, "bounds `capture cookie ... len` (default 63), with HAProxy's warning"),
    sup("tune.http.logurilen", 0, super::parse::global_extra::tune_int, "the logged request line is cut to it (default 1024); a cut version logs empty for `%HV` (HAProxy: `HTTP/0.9`)"),
    sup("tune.http.maxhdr", 0, g::http_maxhdr, "1 to 32767; the start line counts, as in HAProxy"),
    sup("tune.listener.multi-queue", 0, g::on_off, "accepted, no effect: each thread accepts on shared listeners (doc/operations.md)"),
    sup("tune.maxrewrite", 0, super::parse::global_extra::tune_int, "accepted: moonproxy rebuilds heads rather than rewriting in the buffer, so it reserves nothing"),
    sup("tune.peers.max-updates-at-once", 0, g::tune_int, "accepted, no effect: moonproxy's peers push up to 512 updates per table every 100 ms (doc/stick-tables.md)"),
    sup("tune.pipesize", 0, g::tune_int, "accepted, no effect: moonproxy does not splice"),
    sup("tune.rcvbuf.client", 0, super::parse::sockets::sockbuf, "SO_RCVBUF of accepted connections"),
    sup("tune.rcvbuf.server", 0, super::parse::sockets::sockbuf, "SO_RCVBUF of connections to servers (not health checks)"),
    sup("tune.sndbuf.client", 0, super::parse::sockets::sockbuf, "SO_SNDBUF of accepted connections"),
    sup("tune.sndbuf.server", 0, super::parse::sockets::sockbuf, "SO_SNDBUF of connections to servers (not health checks)"),
    sup("tune.ssl.cachesize", 0, g::tls_default, "TLS: accepted, no effect (rustls keeps its own session cache: doc/tls.md)"),
    sup("tune.ssl.capture-buffer-size", 0, crate::tls::parse::global_capture_size, "the ClientHello capture of the `ssl_fc_cipherlist_*` fetches (doc/tls.md)"),
    sup("tune.ssl.capture-cipherlist-size", 0, crate::tls::parse::global_capture_size, "old name of `tune.ssl.capture-buffer-size`"),
    sup("tune.ssl.default-dh-param", 0, g::tls_default, "TLS default: recorded, no effect (rustls has no equivalent: doc/tls.md)"),
    sup("tune.ssl.force-private-cache", 0, g::tls_default, "TLS default: recorded, no effect (rustls has no equivalent: doc/tls.md)"),
    sup("tune.ssl.keylog", 0, crate::tls::parse::global_keylog, "keeps the TLS 1.3 secrets for the `ssl_fc_*_secret` fetches (doc/tls.md)"),
    sup("tune.ssl.lifetime", 0, g::tls_default, "TLS default: recorded, no effect (rustls has no equivalent: doc/tls.md)"),
    sup("tune.ssl.maxrecord", 0, g::tls_default, "TLS default: recorded, no effect (rustls has no equivalent: doc/tls.md)"),
    sup("tune.ssl.ssl-ctx-cache-size", 0, g::tune_int, "accepted, no effect: no generated certificates"),
    sup("tune.vars.global-max-size", 0, super::parse::global_extra::tune_vars, "recorded; variable sizes are not bounded yet"),
    sup("tune.vars.proc-max-size", 0, super::parse::global_extra::tune_vars, "recorded; variable sizes are not bounded yet"),
    sup("tune.vars.reqres-max-size", 0, super::parse::global_extra::tune_vars, "recorded; variable sizes are not bounded yet"),
    sup("tune.vars.sess-max-size", 0, super::parse::global_extra::tune_vars, "recorded; variable sizes are not bounded yet"),
    sup("tune.vars.txn-max-size", 0, super::parse::global_extra::tune_vars, "recorded; variable sizes are not bounded yet"),
    sup("tune.zlib.memlevel", 0, comp::zlib, "recorded, no effect (HAProxy builds with zlib have it)"),
    sup("tune.zlib.windowsize", 0, comp::zlib, "recorded, no effect (HAProxy builds with zlib have it)"),
    sup("unix-bind", 0, super::parse::global_extra::unix_bind, "prefix, mode, user/uid, group/gid of UNIX socket binds (and stats sockets)"),
    sup("wurfl-data-file", 0, g::not_built_in, "refused with the error of an HAProxy 2.6 built without it (Debian's): `unknown keyword`"),
    sup("zero-warning", 0, super::parse::global_extra::zero_warning, "configuration warnings are fatal (not those found at start-up, e.g. the fd limit)"),
];

/// Keywords of the proxy sections (`defaults`, `frontend`, `backend`, `listen`).
pub static PROXY: &[Keyword] = &[
    sup("acl", FB, p::acl, "any sample expression, ACL keywords (`path_beg` ...), `-m` methods, `-i`, `-f`, `-M`; see doc/samples.md"),
    sup("backlog", DF, p::backlog, ""),
    sup("balance", DB, p::balance, "roundrobin, static-rr, leastconn, first, source, uri, url_param, hdr(), random, rdp-cookie[(name)] (TCP mode: the RDP cookie of the client's first packet); not hash yet"),
    sup("bind", F, p::bind, "see the bind options table"),
    sup("bind-process", DFB, p::bind_process, "no effect (one process): HAProxy 2.6's deprecation warning; `all`, `odd`, `even`, `1` accepted, other numbers refused as HAProxy does"),
    sup("default-server", DB, p::default_server, "see the server options table"),
    sup("default_backend", DF, p::default_backend, ""),
    sup("description", FB, p::description, "informational"),
    sup("disabled", DFB, p::disabled, ""),
    sup("enabled", DFB, p::enabled, ""),
    sup("fullconn", DB, p::fullconn, "the backend load at which servers with `minconn` reach their `maxconn`; default 10% of the reaching frontends' `maxconn`"),
    sup("http-check", DB, super::parse::http_check::http_check, "`send`, `expect [!] status, rstatus, string, rstring`, `connect port`, `disable-on-404`"),
    sup("id", FB, p::id, "the proxy's id (`iid`, Lua `Proxy.uuid`); duplicates refused"),
    sup("log", DFB, p::log, "`log global`, `no log`, targets as in global"),
    sup("log-format", DF, http_misc::log_format, ""),
    sup("maxconn", DF, p::maxconn, ""),
    sup("mode", DFB, p::mode, "`tcp`, `http`"),
    sup("option", DFB, p::option, "see the options table"),
    sup("retries", DB, p::retries, ""),
    sup("server", B, p::server, "see the server options table"),
    sup("timeout", DFB, p::timeout, "client, server, connect, queue, check, tunnel, client-fin, server-fin, http-request, http-keep-alive, tarpit"),
    sup("unique-id-format", DF, http_misc::unique_id_format, ""),
    sup("use_backend", F, p::use_backend, "`if`/`unless` conditions on ACLs; log-format names (`%[...]`)"),
    sup("capture", F, http_misc::capture, "request/response header, cookie"),
    // HTTP and TCP rules (src/config/parse/rules.rs); `defaults` only when named.
    sup("http-after-response", DFB, p::http_rule, "add-header allow capture del-header replace-header replace-value set-header set-status set-var set-var-fmt unset-var; strict-mode accepted without effect"),
    sup("http-request", DFB, p::http_rule, "add-header allow auth capture del-header deny disable-l7-retry early-hint normalize-uri redirect replace-header replace-path replace-pathq replace-uri replace-value return set-header set-log-level set-method set-path set-pathq set-query set-uri set-var set-var-fmt tarpit unset-var use-service (lua.*) wait-for-body set-src set-dst set-src-port set-dst-port set-timeout set-map del-map add-acl del-acl set-mark set-tos set-priority-class set-priority-offset do-resolve (doc/resolvers.md); set-nice wait-for-handshake strict-mode accepted without effect (doc/rules.md)"),
    sup("http-response", DFB, p::http_rule, "add-header allow capture del-header deny redirect replace-header replace-value return set-header set-log-level set-status set-var set-var-fmt unset-var set-map del-map add-acl del-acl set-mark set-tos; set-nice strict-mode accepted without effect (doc/rules.md)"),
    sup("redirect", FB, p::redirect_rule, "location, prefix, scheme; after the `http-request` rules"),
    sup("tcp-request", DFB, p::tcp_rule, "connection (at accept) and content (before use_backend, per request in HTTP mode): accept reject set-var unset-var set-src set-dst set-src-port set-dst-port set-mark set-tos, content use-service (lua.*, TCP mode), do-resolve (doc/resolvers.md), set-priority-class set-priority-offset and set-nice (without effect); content rules wait for data within inspect-delay (TCP mode)"),
    sup("tcp-response", DFB, p::tcp_rule, "content accept reject close set-var unset-var set-mark set-tos set-nice (without effect), inspect-delay (waits for data in TCP mode; on the response head in HTTP mode)"),
    sup("clitcpka-cnt", DF, super::parse::sockets::tcpka_cnt, "TCP_KEEPCNT, with `option clitcpka` or `tcpka`"),
    sup("clitcpka-idle", DF, super::parse::sockets::tcpka_time, "TCP_KEEPIDLE in seconds (default unit), with `option clitcpka` or `tcpka`"),
    sup("clitcpka-intvl", DF, super::parse::sockets::tcpka_time, "TCP_KEEPINTVL in seconds (default unit), with `option clitcpka` or `tcpka`"),
    sup("compression", DFB, comp::compression, "algo (identity gzip deflate raw-deflate), type, offload: doc/http.md"),
    sup("cookie", DB, cookie::cookie, "rewrite, insert, prefix, indirect, nocache, postonly, preserve, httponly, secure, domain, attr, maxidle, maxlife, dynamic (with `dynamic-cookie-key`)"),
    sup("declare", DFB, declare::declare, "frontends: `capture request|response len <n>`, slots for `http-request|http-response capture ... id <n>`"),
    sup("dispatch", B, super::parse::server_extra::dispatch, "a backend without servers gets one at the address, named `<NOSRV>` as HAProxy logs it (it shows in `show stat`, unlike HAProxy)"),
    sup("dynamic-cookie-key", DB, cookie::dynamic_cookie_key, "the secret of `cookie ... dynamic`: a server without `cookie` gets the XXH64 of the key, its IP and port, as HAProxy computes it; `enable|disable dynamic-cookie`, `set dynamic-cookie-key` on the CLI"),
    sup("email-alert", DFB, super::parse::mailers::email_alert, "`mailers`, `from`, `to`, `level`, `myhostname`: server state changes mailed over SMTP (doc/checks.md)"),
    sup("errorfile", DFB, http_misc::errorfile, ""),
    sup("errorfiles", DFB, http_misc::errorfiles, "with `http-errors` sections"),
    sup("errorloc", DFB, http_misc::errorloc, ""),
    sup("errorloc302", DFB, http_misc::errorloc, ""),
    sup("errorloc303", DFB, http_misc::errorloc, ""),
    sup("external-check", DB, super::parse::external_check::proxy_keyword, "`command <path>`, `path <PATH>`: with `option external-check` (doc/checks.md)"),
    sup("filter", FB, comp::filter, "`compression`, `cache <name>` (the cache `cache-use`/`cache-store` name, which runs with or without it), `lua.<name>` (Lua filters, doc/http.md), `fcgi-app <name>` (as `use-fcgi-app`) and `spoe [engine <name>] config <file>` (doc/spoe.md); `trace` accepted without effect, with a warning (doc/http.md); as in HAProxy 2.6, no `bwlim-*` (2.7's)"),
    sup("force-persist", B, p::persist_rule, "`if|unless <cond>`: cookie and `use-server` persistence to a down server"),
    sup("hash-balance-factor", DB, super::parse::server_extra::hash_balance_factor, "with `hash-type consistent`: a server over factor% of its share of the load passes the request to the next one on the ring"),
    sup("hash-type", DB, p::hash_type, "map-based and consistent, sdbm, djb2, wt6 or crc32, avalanche"),
    sup("http-error", DFB, super::parse::http_extra::http_error, "`errorfile`, `errorfiles`, `default-errorfiles`, `string`, `file`, `lf-string`, `lf-file`, `hdr`; built at load unless it has log-format parts"),
    sup("http-reuse", DB, p::http_reuse, "never, safe, aggressive, always: doc/http.md"),
    sup("http-send-name-header", DB, super::parse::http_extra::send_name_header, "HTTP backends: set on each connection to a server (and again on a retry or redispatch to another)"),
    sup("ignore-persist", B, p::persist_rule, "`if|unless <cond>`: the persistence cookie is ignored"),
    sup("load-server-state-from-file", DB, super::parse::server_state::load_from_file, "read at start-up: admin and operational state, weight, port (and address of a server named by host) as HAProxy applies them: doc/operations.md"),
    sup("log-format-sd", DF, super::parse::log_extra::log_format_sd, "written by `format rfc5424` targets"),
    sup("log-tag", DFB, super::parse::log_extra::log_tag, "a frontend's for its streams' lines, a backend's for its server events"),
    sup("max-keep-alive-queue", DB, super::parse::server_extra::max_keep_alive_queue, "checked and recorded; no effect: every request is load-balanced afresh (no `prefer-last-server` yet), so none waits for its previous server"),
    sup("monitor", F, p::monitor, "`fail if|unless <cond>`: the `monitor-uri` answers 503"),
    sup("monitor-uri", DF, p::monitor_uri, "exact URI, answered 200 before any rule, not logged"),
    sup("persist", DB, p::persist, "`rdp-cookie[(name)]`: the `msts` RDP cookie names the server (TCP mode, with `tcp-request inspect-delay`)"),
    sup("rate-limit", DF, super::parse::rates::rate_limit, "`sessions <n>`: the frontend stops accepting at the rate (connections wait in the backlog); split between threads"),
    sup("retry-on", DB, super::parse::retry_on::retry_on, "conn-failure empty-response junk-response response-timeout 404 408 425 500 501 502 503 504 all-retryable-errors none; 0rtt-rejected accepted (no TLS): doc/http.md"),
    sup("server-state-file-name", DB, super::parse::server_state::file_name, "relative to `server-state-base`; default or `use-backend-name`: the backend's name"),
    sup("server-template", B, super::parse::server_extra::server_template, "servers `<prefix>1..N` (or a range); with `resolvers` the name's records fill the servers at run time, otherwise it is resolved once at start"),
    sup("source", DB, super::parse::source::source, "`<addr>[:<port>]`, `usesrc client|clientip|<addr>` (IP_TRANSPARENT: needs CAP_NET_ADMIN, checked at start-up), `interface`; connections and health checks"),
    sup("srvtcpka-cnt", DB, super::parse::sockets::tcpka_cnt, "TCP_KEEPCNT, with `option srvtcpka` or `tcpka`"),
    sup("srvtcpka-idle", DB, super::parse::sockets::tcpka_time, "TCP_KEEPIDLE in seconds (default unit), with `option srvtcpka` or `tcpka`"),
    sup("srvtcpka-intvl", DB, super::parse::sockets::tcpka_time, "TCP_KEEPINTVL in seconds (default unit), with `option srvtcpka` or `tcpka`"),
    sup(
        "stats",
        DFB,
        super::parse::stats::stats,
        "the stats page (see doc/stats.md); `stats admin` is parsed, its actions are not served",
    ),
    sup("stick", B, super::parse::stick::stick, "`on`, `match`, `store-request`, `store-response` with `table`, `if`/`unless`: doc/stick-tables.md"),
    sup("stick-table", FB, super::parse::stick::stick_table, "ip, ipv6, integer, string, binary keys; `size`, `expire`, `nopurge`, `peers` (synchronised: doc/stick-tables.md#peers), `store` with the `gpc`/`gpt` arrays; shared by all threads: doc/stick-tables.md"),
    sup("tcp-check", DB, super::parse::tcp_check::tcp_check, "`connect [port] [linger]`, `send`, `send-binary`, `expect [!] string, rstring, binary, rbinary` with `min-recv`, `error-status`, plain `on-success`/`on-error`; `comment`: doc/checks.md"),
    sup("unique-id-header", DF, http_misc::unique_id_header, ""),
    sup("use-fcgi-app", FB, fcgi_app::use_fcgi_app, "the `fcgi-app` section whose FastCGI application the backend's `proto fcgi` servers run (doc/http.md, FastCGI)"),
    sup("use-server", B, p::use_server, "`<server> if|unless <cond>`: before cookies and load balancing; a down server is skipped unless `option persist`"),
];

/// `option X` (and `no option X`).
pub static OPTIONS: &[SubKeyword] = &[
    s("abortonclose", DB, ""),
    s("allbackups", DB, ""),
    s("clitcpka", DF, ""),
    s("dontlognull", DF, ""),
    s("httplog", DF, ""),
    s("httpchk", DB, "HTTP health checks, see `http-check`"),
    s("log-health-checks", DB, ""),
    s("log-separate-errors", DF, ""),
    s("nolinger", DFB, ""),
    s("persist", DB, "a persistence cookie still directs requests to a down server"),
    s("redispatch", DB, "optional interval"),
    s("srvtcpka", DB, ""),
    s("tcpka", DFB, ""),
    s("tcplog", DF, ""),
    // HTTP mode (issue 5, http-stream).
    s("forwardfor", DFB, "`except`, `header`, `if-none`"),
    s("http-buffer-request", DFB, "frontend: the body (up to the buffer) is awaited before the rules"),
    s("http-keep-alive", DFB, ""),
    s("http-pretend-keepalive", DFB, ""),
    s("http-server-close", DFB, ""),
    s("httpclose", DFB, ""),
    s("originalto", DFB, "`except`, `header`"),
    i("contstats", DF, ""),
    i("splice-auto", DFB, "moonproxy does not splice"),
    i("splice-request", DFB, "moonproxy does not splice"),
    i("splice-response", DFB, "moonproxy does not splice"),
    i("tcp-smart-accept", DF, ""),
    i("tcp-smart-connect", DB, ""),
    s("accept-invalid-http-request", DF, "field names with any ASCII byte but NUL and `:`, `#` and UTF-8 in the target; still refused (deviation): whitespace before the colon, non-ASCII names, HTTP/0.9 and multi-digit versions"),
    s("accept-invalid-http-response", DB, "field names with any ASCII byte but NUL and `:`; whitespace before the colon and non-ASCII names still refused"),
    s("checkcache", DB, "a cacheable GET/HEAD response with `Set-Cookie` is blocked with a 502 (`PH`) and an alert; deviation: HAProxy 2.6.12 blocks the same responses but sends its error page for the server's status (`200 OK` \"Service ready\")"),
    s("disable-h2-upgrade", DF, "an HTTP/1 connection starting with the HTTP/2 preface stays HTTP/1 (ALPN h2 and `proto h2` still switch)"),
    s("dontlog-normal", DF, "only transactions with an error, a retry or a 5xx are logged"),
    s("external-check", DB, "the check runs `external-check command` (doc/checks.md)"),
    s("h1-case-adjust-bogus-client", DF, "responses to clients: the `h1-case-adjust` names (others keep their case)"),
    s("h1-case-adjust-bogus-server", DB, "requests to servers: the `h1-case-adjust` names (others keep their case)"),
    s("http-ignore-probes", DF, "no 408 and no log line for a connection that sends nothing"),
    i("http-no-delay", DFB, "moonproxy never holds data back to merge it (no MSG_MORE)"),
    s("http-restrict-req-hdr-names", DFB, "`preserve`, `delete`, `reject` (403) for names with other characters than letters, digits and `-`"),
    i("http-use-proxy-header", DF, "HAProxy 2.6 shows no effect of it either: `Proxy-Connection` decides nothing (checked live)"),
    s("http_proxy", DFB, "refused with HAProxy 2.6's alert: the option was removed in HAProxy 2.5 (`http-request set-dst` and `set-uri` do it)"),
    s("idle-close-on-response", DF, "soft-stop keeps an idle client connection until its next response"),
    i("independent-streams", DFB, "deviation: timeouts are refreshed by activity on either side, as HAProxy does without the option"),
    s("ldap-check", DB, "an anonymous LDAPv3 bind; UP on resultCode 0 (doc/checks.md)"),
    s("logasap", DF, "HTTP: the line goes out with the response head (`+` before `%Tt %Ta %B`); TCP streams are logged at their end"),
    s("mysql-check", DB, "`[user <name> [post-41|pre-41]]`: the server's handshake, with a user the reply to a login (doc/checks.md)"),
    s("pgsql-check", DB, "`user <name>`: a startup message; UP on an authentication request (doc/checks.md)"),
    s("prefer-last-server", DB, "HTTP: the server of the previous request's idle connection, before load balancing, with `http-reuse never` and no hash-based `balance` (as HAProxy 2.6)"),
    s("redis-check", DB, "`PING`, expects `+PONG` (doc/checks.md)"),
    s("smtpchk", DB, "`[HELO|EHLO <domain>]`: greeting, HELO/EHLO and QUIT answered 2xx (doc/checks.md)"),
    i("socket-stats", DF, "no per-listener statistics"),
    s("spop-check", B, "a HAPROXY-HELLO with `healthcheck`, UP on a valid AGENT-HELLO (doc/spoe.md)"),
    s("ssl-hello-chk", DB, "a TLS ClientHello; UP on a handshake or alert record (doc/checks.md)"),
    s("tcp-check", DB, "TCP health checks, see `tcp-check`"),
    s("transparent", DB, "the backend connects to the client's destination (as `set-dst` leaves it), logged as `<NOSRV>`, its servers taking only what persistence sends them; refused with `balance`; the destination is the accepted socket's local address (TPROXY), not `SO_ORIGINAL_DST` (doc/operations.md)"),
];

/// Settings on `server` and `default-server` lines.
pub static SERVER_OPTIONS: &[SubKeyword] = &[
    s("addr", 0, "check address"),
    s("backup", 0, ""),
    s("check", 0, "TCP connect checks"),
    s("cookie", 0, "the value of the backend's persistence cookie for this server"),
    s("disabled", 0, ""),
    s("downinter", 0, ""),
    s("enabled", 0, ""),
    s("fall", 0, ""),
    s("fastinter", 0, ""),
    s("id", 0, "`server` only"),
    s("inter", 0, ""),
    s("maxconn", 0, ""),
    s("maxqueue", 0, ""),
    s("no-backup", 0, ""),
    s("no-check", 0, ""),
    s("port", 0, "check port"),
    s("rise", 0, ""),
    s("weight", 0, "0 to 256"),
    s("agent-addr", 0, ""),
    s("agent-check", 0, "a TCP agent answers one line (`75%`, `up`, `down #reason`, `drain`, `maint`, `ready`, `stopped`, `fail`, `maxconn:N`); see doc/checks.md"),
    s("agent-inter", 0, "default: `inter`"),
    s("agent-port", 0, "required with `agent-check`, as HAProxy"),
    s("agent-send", 0, ""),
    n("allow-0rtt", 0),
    s("alpn", 0, "TLS: ALPN names offered to the server; in `mode http`, `h2` chosen by the server means HTTP/2 to it (doc/http.md)"),
    s("ca-file", 0, "TLS: CAs the server certificate must chain to (`verify required`)"),
    s("check-alpn", 0, "TLS: ALPN names offered by health checks (else `alpn`)"),
    s("check-proto", 0, "`h1`, `h2`: the protocol of HTTP checks in place of `proto`'s (`h2` from the first byte, `h1` whatever ALPN says); with TCP checks refused as HAProxy refuses it"),
    s("check-send-proxy", 0, "health checks start with the server's PROXY header (v2: `LOCAL`)"),
    s("check-sni", 0, "TLS: the SNI health checks send (a string)"),
    s("check-ssl", 0, "TLS: health checks over TLS (connect and HTTP checks; no L6 handshake result)"),
    s("check-via-socks4", 0, "health checks go through the server's `socks4` proxy too"),
    s("ciphers", 0, "TLS 1.2 suites in OpenSSL's cipher-list language, read as OpenSSL reads it; narrows what rustls offers (doc/tls.md, cipher and group lists)"),
    s("ciphersuites", 0, "TLS 1.3 suites; narrows what rustls offers (doc/tls.md, cipher and group lists)"),
    s("crl-file", 0, "TLS: revocation lists checked on the whole chain (webpki; an issuer without a list is refused, as OpenSSL)"),
    s("crt", 0, "TLS: client certificate and key (one PEM, relative to `crt-base`) presented to the server"),
    s("error-limit", 0, "consecutive errors seen on traffic (`observe`) that trigger `on-error` (default 10)"),
    n("force-sslv3", 0),
    n("force-tlsv10", 0),
    n("force-tlsv11", 0),
    s("force-tlsv12", 0, "TLS: only TLSv1.2 (sets ssl-min-ver and ssl-max-ver)"),
    s("force-tlsv13", 0, "TLS: only TLSv1.3 (sets ssl-min-ver and ssl-max-ver)"),
    s("init-addr", 0, "`libc`, `none` (starts in maintenance without an address), `<ip>`; `last` never succeeds (no state file)"),
    s("log-proto", 0, "`legacy` or `octet-count`: the framing of a `ring` section's servers; checked and without effect on a backend's, as in HAProxy"),
    s("max-reuse", 0, "parsed; no effect on HTTP/1 connections, as in HAProxy 2.6"),
    s("minconn", 0, "with the backend's `fullconn`: the limit grows from `minconn` to `maxconn` with the backend's load"),
    n("namespace", 0),
    s("no-agent-check", 0, ""),
    s("no-check-send-proxy", 0, ""),
    s("no-check-ssl", 0, ""),
    s("no-send-proxy", 0, ""),
    s("no-send-proxy-v2", 0, ""),
    s("no-send-proxy-v2-ssl", 0, ""),
    s("no-send-proxy-v2-ssl-cn", 0, ""),
    s("no-ssl", 0, ""),
    s("no-ssl-reuse", 0, "TLS: no session resumption (rustls keeps 256 client sessions otherwise)"),
    s("no-sslv3", 0, "TLS: accepted (rustls has no SSLv3)"),
    s("no-tfo", 0, "undoes `tfo`"),
    s("no-tls-tickets", 0, "TLS: TLS 1.2 resumption by session id only (TLS 1.3 always resumes with tickets)"),
    s("no-tlsv10", 0, "TLS: accepted (rustls has no TLSv1.0)"),
    s("no-tlsv11", 0, "TLS: accepted (rustls has no TLSv1.1)"),
    s("no-tlsv12", 0, "TLS: see doc/tls.md (no-* are ignored beside ssl-min-ver/ssl-max-ver, as in HAProxy)"),
    s("no-tlsv13", 0, "TLS: see doc/tls.md (no-* are ignored beside ssl-min-ver/ssl-max-ver, as in HAProxy)"),
    s("non-stick", 0, "`stick on|store-request|store-response` never store it"),
    n("npn", 0),
    s("observe", 0, "`layer4` (connection outcomes) or `layer7` (HTTP responses: 5xx but 501/505, invalid responses, server closes and timeouts; and connection failures) count toward `error-limit`"),
    s("on-error", 0, "`fastinter`, `fail-check` (default), `sudden-death`, `mark-down`, applied to the health check"),
    s("on-marked-down", 0, "`shutdown-sessions`: its streams end with `D` when it goes DOWN: its checks, the CLI, Lua or the resolvers (maintenance counts as DOWN), or the server it tracks"),
    s("on-marked-up", 0, "`shutdown-backup-sessions`: the backup servers' streams end with `U` when it comes UP (as for `on-marked-down`)"),
    s("pool-low-conn", 0, "parsed; no effect (a thread never takes another thread's idle connections)"),
    s("pool-max-conn", 0, "idle connections kept per server"),
    s("pool-purge-delay", 0, "an idle connection unused this long is closed"),
    s("proto", 0, "`h2`: HTTP/2 to the server with prior knowledge, one stream per connection at a time (`mode http`, doc/http.md); `fcgi`: the server is a FastCGI application (`use-fcgi-app`, doc/http.md); `h1`: HTTP/1, as without it"),
    s("proxy-v2-options", 0, "`crc32c`, `unique-id`, `authority` (the client's SNI), `ssl`, `cert-cn`, `ssl-cipher`, `cert-sig`, `cert-key` (the frontend certificate's signature and key algorithms: `ecdsa-with-SHA256`, `EC256`, `RSA2048`) TLVs"),
    s("redir", 0, "GET/HEAD answered with a 302 to `<prefix><uri>`, logged `LC` as HAProxy"),
    s("resolve-net", 0, "preferred networks for the resolved address"),
    s("resolve-opts", 0, "`allow-dup-ip`, `prevent-dup-ip`, `ignore-weight`"),
    s("resolve-prefer", 0, "`ipv4` or `ipv6` (default)"),
    s("resolvers", 0, "the `resolvers` section that resolves the server's name at run time (`doc/resolvers.md`)"),
    s("send-proxy", 0, "PROXY protocol v1 header on each new connection"),
    s("send-proxy-v2", 0, "PROXY protocol v2 header on each new connection"),
    s("send-proxy-v2-ssl", 0, "PROXY v2 header with the PP2_TYPE_SSL TLV of the client's TLS (doc/tls.md)"),
    s("send-proxy-v2-ssl-cn", 0, "`send-proxy-v2-ssl` with the client certificate's CN sub-TLV (doc/tls.md)"),
    s("slowstart", 0, "after a check brings it back UP, the weight grows linearly (steps of max(1s, slowstart/20)); `show stat` `weight` shows it; maxconn is not ramped"),
    s("sni", 0, "TLS: sample expression, evaluated per connection; the name is then verified"),
    s("socks4", 0, "`<host>:<port>` (a name is resolved at start): connections reach the server through this SOCKS4 proxy (CONNECT with user id `HAProxy`, as 2.6); IPv4 servers only"),
    s("source", 0, "as the backend keyword (with `usesrc`, `interface`), and a port range `<addr>:<low>-<high>` (doc/operations.md); no `usesrc hdr_ip`"),
    s("ssl", 0, "TLS to the server with rustls (doc/tls.md)"),
    s("ssl-max-ver", 0, "TLSv1.2 or TLSv1.3 (older versions refused: rustls has none)"),
    s("ssl-min-ver", 0, "TLSv1.2 or TLSv1.3 (older versions refused: rustls has none)"),
    s("ssl-reuse", 0, "TLS: session resumption (the default)"),
    s("stick", 0, "undoes a `default-server non-stick`"),
    s("tcp-ut", 0, "`TCP_USER_TIMEOUT` on its connections"),
    s("tfo", 0, "`TCP_FASTOPEN_CONNECT` on its connections"),
    s("tls-tickets", 0, "TLS: TLS 1.2 resumption by tickets too (the default)"),
    s("track", 0, "follows a checked server's UP/DOWN state (`... is DOWN via b/s`) and its maintenance and drain from the CLI, Lua or an agent (`MAINT (via b/s)` in `show stat`); a missing server is not reported at start-up"),
    s("usesrc", 0, "after `source` only"),
    s("verify", 0, "none or required (default: `ssl-server-verify`, itself `required`)"),
    s("verifyhost", 0, "TLS: the name checked when no SNI is sent (`verify required`)"),
    s("ws", 0, "`auto` or `h1` (WebSocket over HTTP/1.1); `h2` (RFC 8441) is refused"),
];

/// Settings on `bind` lines.
pub static BIND_OPTIONS: &[SubKeyword] = &[
    s("backlog", 0, ""),
    s("gid", 0, "unix sockets"),
    s("maxconn", 0, ""),
    s("mode", 0, "unix sockets, octal"),
    s("name", 0, ""),
    s(
        "reuseport",
        0,
        "moonproxy extension: SO_REUSEPORT is always set, as in HAProxy",
    ),
    s("uid", 0, "unix sockets"),
    s("v4v6", 0, ""),
    s("v6only", 0, ""),
    s("accept-netscaler-cip", 0, "NetScaler Client IP header (legacy and standard forms) read first; its addresses replace the connection's; not with `accept-proxy` or `ssl`"),
    s("accept-proxy", 0, "PROXY v1/v2 header read first (whole in the first read, as HAProxy), before the TLS handshake with `ssl`; `tcp-request connection` rules see the real addresses"),
    s("allow-0rtt", 0, "TLS: accepted; rustls is never offered 0-RTT (no early data)"),
    s("alpn", 0, "TLS: advertised names; in `mode http` only h2, http/1.1 and http/1.0 (HTTP/2 to clients: doc/http.md)"),
    s("ca-file", 0, "TLS: CAs for client certificates (`verify`)"),
    s("ca-ignore-err", 0, "TLS: `all` or OpenSSL ids rustls maps (doc/tls.md); merged with crt-ignore-err (rustls gives no depth)"),
    n("ca-sign-file", 0),
    n("ca-sign-pass", 0),
    s("ca-verify-file", 0, "TLS: more CAs for client certificates, left out of the CA names the CertificateRequest lists"),
    s("ciphers", 0, "TLS 1.2 suites in OpenSSL's cipher-list language, read as OpenSSL reads it; narrows what rustls offers (doc/tls.md, cipher and group lists)"),
    s("ciphersuites", 0, "TLS 1.3 suites; narrows what rustls offers (doc/tls.md, cipher and group lists)"),
    s("crl-file", 0, "TLS: revocation lists for client certificates, whole chain (an issuer without a list is refused, as OpenSSL)"),
    s("crt", 0, "TLS: PEM with chain and key, or a directory of them; picked by SNI, the first is the default"),
    s("crt-ignore-err", 0, "TLS: `all` or OpenSSL ids rustls maps (doc/tls.md); merged with ca-ignore-err (rustls gives no depth)"),
    s("crt-list", 0, "TLS: SNI filters, `!` exclusions; `[...]` options alpn, verify, ca-file, crl-file, ssl-min/max-ver per certificate (doc/tls.md)"),
    s("curves", 0, "TLS key-exchange groups, each one OpenSSL knows; narrows what rustls offers (doc/tls.md, cipher and group lists)"),
    s("defer-accept", 0, "accepted; no effect yet (connections are accepted at once)"),
    s("ecdhe", 0, "TLS: one named curve (without `curves`); narrows what rustls offers (doc/tls.md, cipher and group lists)"),
    n("expose-fd", 0),
    n("force-sslv3", 0),
    n("force-tlsv10", 0),
    n("force-tlsv11", 0),
    s("force-tlsv12", 0, "TLS: only TLSv1.2 (sets ssl-min-ver and ssl-max-ver)"),
    s("force-tlsv13", 0, "TLS: only TLSv1.3 (sets ssl-min-ver and ssl-max-ver)"),
    n("generate-certificates", 0),
    n("group", 0),
    s("id", 0, "the listener id"),
    s("interface", 0, "`SO_BINDTODEVICE`"),
    n("level", 0),
    s("mss", 0, "`TCP_MAXSEG` on the listening socket; a negative value is taken as its absolute value"),
    n("namespace", 0),
    s("nice", 0, "accepted; no effect (one reactor per thread, no task priorities)"),
    s("no-ca-names", 0, "TLS: the CertificateRequest lists no CA names"),
    s("no-sslv3", 0, "TLS: accepted (rustls has no SSLv3)"),
    s("no-tls-tickets", 0, "TLS: stateful resumption only (tickets are on by default, rustls's ring ticketer)"),
    s("no-tlsv10", 0, "TLS: accepted (rustls has no TLSv1.0)"),
    s("no-tlsv11", 0, "TLS: accepted (rustls has no TLSv1.1)"),
    s("no-tlsv12", 0, "TLS: see doc/tls.md (no-* are ignored beside ssl-min-ver/ssl-max-ver, as in HAProxy)"),
    s("no-tlsv13", 0, "TLS: see doc/tls.md (no-* are ignored beside ssl-min-ver/ssl-max-ver, as in HAProxy)"),
    n("npn", 0),
    s("prefer-client-ciphers", 0, "TLS: the client's order of suites wins (by default the bind's order does, as in HAProxy)"),
    s("process", 0, "accepted; no effect (one process)"),
    s("proto", 0, "`h2`: HTTP/2 from the first byte, without waiting for the preface (`mode http`); `h1`: as without (doc/http.md)"),
    n("severity-output", 0),
    n("shards", 0),
    s("ssl", 0, "TLS termination with rustls (doc/tls.md)"),
    s("ssl-max-ver", 0, "TLSv1.2 or TLSv1.3 (older versions refused: rustls has none)"),
    s("ssl-min-ver", 0, "TLSv1.2 or TLSv1.3 (older versions refused: rustls has none)"),
    s("strict-sni", 0, "TLS: no default certificate: a client without a matching SNI fails its handshake"),
    s("tcp-ut", 0, "`TCP_USER_TIMEOUT` on the listening socket, inherited by its connections"),
    s("tfo", 0, "`TCP_FASTOPEN` on the listening socket (queue of 1024 pending requests)"),
    s("thread", 0, "accepted; every thread accepts on every listener (see doc/operations.md)"),
    s("tls-ticket-keys", 0, "TLS: the file is checked as HAProxy checks it; rustls uses its own rotating key (doc/tls.md)"),
    s("transparent", 0, "`IP_TRANSPARENT`; without CAP_NET_ADMIN the bind fails with \"cannot make listening socket transparent\""),
    n("user", 0),
    s("verify", 0, "TLS client certificates: none, optional, required (needs `ca-file`)"),
];

/// The keywords usable in `section` (global, or proxy keywords allowed there).
pub fn keywords(section: Section) -> impl Iterator<Item = &'static Keyword> {
    let table = if section == Section::Global {
        GLOBAL
    } else {
        PROXY
    };
    table.iter().filter(move |k| k.allowed_in(section))
}

/// Finds a keyword of the table for `section`, whether or not it is allowed there.
pub fn lookup(section: Section, name: &str) -> Option<&'static Keyword> {
    let table = if section == Section::Global {
        GLOBAL
    } else {
        PROXY
    };
    table.iter().find(|k| k.name == name)
}

pub fn lookup_sub(table: &'static [SubKeyword], name: &str) -> Option<&'static SubKeyword> {
    table.iter().find(|k| k.name == name)
}

/// The known word closest to `word`, if it is close enough to be a likely typo: HAProxy
/// 2.6's "did you mean '...' maybe ?" choice. Each word is summed up by the pairs of
/// consecutive characters it holds ([`Fingerprint`]); the distance between two words
/// counts the pairs one has and the other has not. The closest candidate (the first of
/// equals) is proposed unless that distance is more than twice the length of either
/// word.
pub fn suggest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let target = Fingerprint::of(word);
    let mut best: Option<(usize, &str)> = None;
    for c in candidates {
        let d = target.distance(&Fingerprint::of(c));
        if best.is_none_or(|(bd, _)| d < bd) {
            best = Some((d, c));
        }
    }
    best.filter(|(d, c)| *d <= 2 * word.len() && *d <= 2 * c.len()).map(|(_, c)| c)
}

/// How many times each pair of consecutive character classes occurs in a word, whose
/// start and end count as two more classes: letters (case folded) are a class each,
/// digits one class, anything else one more.
struct Fingerprint([u8; Fingerprint::CLASSES * Fingerprint::CLASSES]);

impl Fingerprint {
    const CLASSES: usize = 32;
    const DIGIT: usize = 26;
    const OTHER: usize = 27;
    const START: usize = 28;
    const END: usize = 29;

    fn of(word: &str) -> Fingerprint {
        let mut pairs = [0u8; Self::CLASSES * Self::CLASSES];
        let mut count = |from: usize, to: usize| pairs[from * Self::CLASSES + to] = pairs[from * Self::CLASSES + to].saturating_add(1);
        let mut from = Self::START;
        for b in word.bytes() {
            let to = match b.to_ascii_lowercase() {
                c @ b'a'..=b'z' => usize::from(c - b'a'),
                b'0'..=b'9' => Self::DIGIT,
                _ => Self::OTHER,
            };
            count(from, to);
            from = to;
        }
        count(from, Self::END);
        Fingerprint(pairs)
    }

    fn distance(&self, other: &Fingerprint) -> usize {
        self.0.iter().zip(&other.0).map(|(a, b)| usize::from(a.abs_diff(*b))).sum()
    }
}

fn where_allowed(mask: u8) -> String {
    let yes = |b: bool| if b { "yes" } else { "-" };
    format!(
        "{} | {} | {} | {}",
        yes(mask & D != 0),
        yes(mask & F != 0),
        yes(mask & (F | B) != 0),
        yes(mask & B != 0)
    )
}

/// One Markdown table of proxy-section keywords: (name, allowed sections, state, note) rows.
fn proxy_table<'a>(
    out: &mut String,
    first_column: &str,
    rows: impl Iterator<Item = (&'a str, u8, &'static str, &'a str)>,
) {
    out.push_str(&format!(
        "| {first_column} | defaults | frontend | listen | backend | state | notes |\n|---|---|---|---|---|---|---|\n"
    ));
    for (name, sections, state, note) in rows {
        out.push_str(&format!(
            "| `{name}` | {} | {state} | {note} |\n",
            where_allowed(sections)
        ));
    }
}

/// The generated part of `doc/config.md`: every table as Markdown.
pub fn markdown() -> String {
    let mut out = String::new();
    out.push_str("### `global`\n\n| keyword | state | notes |\n|---|---|---|\n");
    for k in GLOBAL {
        out.push_str(&format!(
            "| `{}` | {} | {} |\n",
            k.name,
            k.state.label(),
            k.note
        ));
    }
    out.push_str("\n### Proxies (`defaults`, `frontend`, `listen`, `backend`)\n\n");
    proxy_table(&mut out, "keyword", PROXY.iter().map(|k| (k.name, k.sections, k.state.label(), k.note)));
    out.push_str("\n### `option`\n\n");
    proxy_table(&mut out, "option", OPTIONS.iter().map(|k| (k.name, k.sections, k.state.label(), k.note)));
    for (title, table) in [
        ("`server` and `default-server` settings", SERVER_OPTIONS),
        ("`bind` settings", BIND_OPTIONS),
    ] {
        out.push_str(&format!(
            "\n### {title}\n\n| setting | state | notes |\n|---|---|---|\n"
        ));
        for k in table {
            out.push_str(&format!(
                "| `{}` | {} | {} |\n",
                k.name,
                k.state.label(),
                k.note
            ));
        }
    }
    // Sections with a handful of keywords of their own, parsed by their module.
    out.push_str("\n### Other sections\n\n| section | keyword | state | notes |\n|---|---|---|---|\n");
    for (section, kw, note) in OTHER_SECTIONS {
        out.push_str(&format!("| `{section}` | `{kw}` | supported | {note} |\n"));
    }
    out
}

/// The keywords of the small sections (`src/config/parse/userlist.rs` ...), for the
/// generated table.
const OTHER_SECTIONS: &[(&str, &str, &str)] = &[
    ("userlist", "group", "`users a,b`"),
    ("userlist", "user", "`password` (any crypt(3) scheme libcrypt knows), `insecure-password`, `groups`"),
    ("peers", "peer", "`peer <name> <ip>:<port>`: the local peer (`-L`, `localpeer` or the host name) listens there, the others are connected to (TCP; no `check`, `init-addr`, `resolvers`: warned as HAProxy does); a section without the local peer is removed with HAProxy's warning (doc/stick-tables.md#peers)"),
    ("peers", "bind", "`bind <ip>:<port>`: where the local peer listens, with `server` lines instead of `peer` (the two forms do not mix); `bind` settings ignored"),
    ("peers", "server", "`server <name> [<ip>:<port>]`: a remote peer with its address, the local one without"),
    ("peers", "default-server", "accepted, its settings not used"),
    ("peers", "default-bind", "accepted, its settings not used"),
    ("peers", "disabled", "the section synchronises nothing (`enabled` undoes it)"),
    ("peers", "enabled", "undoes `disabled`"),
    ("peers", "log", "accepted; moonproxy logs the peers' events on standard error"),
    ("peers", "table", "`table <name> type ... [store ...]`: a stick table `<section>/<name>` shared with the section's peers"),
    ("resolvers", "nameserver", "`nameserver <id> <ip>[:<port>]` (UDP; `doc/resolvers.md`)"),
    ("resolvers", "parse-resolv-conf", "the `nameserver` lines of /etc/resolv.conf"),
    ("resolvers", "resolve_retries", "queries sent before a resolution times out (3)"),
    ("resolvers", "timeout", "`resolve` (interval between resolutions, 1s), `retry` (1s)"),
    ("resolvers", "hold", "`valid` (10s), `nx`, `timeout`, `refused`, `other` (30s), `obsolete` (0s)"),
    ("resolvers", "accepted_payload_size", "EDNS0 UDP payload announced (512)"),
    ("http-errors", "errorfile", "`errorfile <status> <file>`, used with `errorfiles <name>`"),
    ("program", "command", "`command <command> [<argument>*]`, run without a shell by the master (doc/operations.md)"),
    ("program", "user", "the user the command runs as"),
    ("program", "group", "the group the command runs as"),
    ("program", "option", "`[no] option start-on-reload`: a reload starts a new instance and stops the old one (the default), or keeps the running one"),
    ("ring", "description", "the text `show events` lists (default: the name)"),
    ("ring", "format", "how lines are framed in the ring, as on a `log` line (default `raw`)"),
    ("ring", "maxlen", "longer lines are cut (default and at most `size`)"),
    ("ring", "size", "bytes of lines kept, each with a 2-4 byte header (16384, the least HAProxy accepts); the oldest make room unless a connected server has not sent them yet, then the new line is dropped and counted"),
    ("ring", "timeout", "`connect` and `server` for the servers (none: the system's connect timeout, no write timeout)"),
    ("ring", "server", "`server <name> <ip>:<port> [log-proto legacy|octet-count]`: each line is sent over TCP by a thread of its own, newline-terminated or RFC 6587 octet-counted; reconnects every second after a failure, resuming where it stopped; other server options refused"),
    ("log-forward", "bind", "a TCP listener: octet-counted (`LEN SP MSG`) and newline-framed messages, as HAProxy accepts both; the `bind` settings of proxies (`ssl` included), `accept-proxy` refused"),
    ("log-forward", "dgram-bind", "a UDP listener, or a unix datagram socket's path; one message per datagram; `interface`, `transparent`, `name`, `id`, `mode` apply, the other `bind` settings are skipped as HAProxy skips them"),
    ("log-forward", "log", "`log global` or any `log` target (UDP, `tcp@` through a ring, `ring@`, unix sockets, stdout/stderr, `fd@`) with `len`, `format`, `sample`, facility and levels: each received message is re-framed in the target's format (no `format`: the received message's)"),
    ("log-forward", "maxconn", "TCP connections at once (10); more wait in the backlog"),
    ("log-forward", "backlog", "the TCP listeners' backlog (default: `maxconn`)"),
    ("log-forward", "timeout", "`client`: an idle TCP connection is closed (none: never)"),
    ("cache", "total-max-size", "megabytes, 1 to 4095, required; objects are counted in 1 KiB blocks, least recently used out first (`doc/cache.md`)"),
    ("cache", "max-object-size", "bytes (a 256th of `total-max-size` by default, at most half of it); larger responses are forwarded, not stored"),
    ("cache", "max-age", "seconds an object stays fresh at most (60); the response's `s-maxage`/`max-age`/`Expires` may shorten it"),
    ("cache", "process-vary", "`on`: responses with `Vary: accept-encoding|referer|origin` are stored per variant; `off` (the default): not stored"),
    ("cache", "max-secondary-entries", "variants kept for one URL with `process-vary on` (10)"),
    ("fcgi-app", "acl", "ACLs private to the section, for `set-param` and `pass-header` conditions (doc/http.md, FastCGI)"),
    ("fcgi-app", "docroot", "required: DOCUMENT_ROOT, and the start of SCRIPT_FILENAME and PATH_TRANSLATED"),
    ("fcgi-app", "index", "appended to a script name ending with `/`"),
    ("fcgi-app", "log-stderr", "`global` or a `log` line's target: where the application's STDERR records are logged (level `err`, one message per record)"),
    ("fcgi-app", "option", "`[no] option keep-conn` (FCGI_KEEP_CONN, the default), `max-reqs <n>`; `get-values` and `mpxs-conns` accepted: one request at a time per connection, nothing asked"),
    ("fcgi-app", "pass-header", "`pass-header <name> [if|unless <cond>]`: `Authorization` or `Proxy-Authorization` as HTTP_* too"),
    ("fcgi-app", "path-info", "regex on the URL-decoded path: capture 1 is SCRIPT_NAME, capture 2 PATH_INFO"),
    ("fcgi-app", "set-param", "`set-param <name> <log-format> [if|unless <cond>]`: an empty value sets nothing; overrides a default parameter"),
];


/// A keyword HAProxy removed (the `req*`/`rsp*` regex rewrites, the old timeouts,
/// `block`... in proxies, `nbproc` in `global`): HAProxy 2.6's own refusal, which names what replaces it, rather than an
/// unknown keyword. Old configurations carry these more than any other obsolete line.
pub fn removed(section: Section, kw: &str, arg: &str) -> Option<String> {
    if section == Section::Global {
        return (kw == "nbproc").then(|| {
            "nbproc is not supported any more since HAProxy 2.5. Threads will automatically be used on multi-processor machines if available.".to_string()
        });
    }
    let since = "is not supported anymore since HAProxy 2.1.";
    let timeout = |what: &str| format!("the '{kw}' directive {since} Use 'timeout {what}'.");
    let instead = |what: &str| format!("The '{kw}' directive {since} Use '{what}' instead.");
    Some(match kw {
        "contimeout" => timeout("connect"),
        "clitimeout" => timeout("client"),
        "srvtimeout" => timeout("server"),
        "reqadd" => instead("http-request add-header"),
        "rspadd" => instead("http-response add-header"),
        "reqrep" => format!("The '{kw}' directive {since} Use 'http-request replace-path', 'http-request replace-uri' or 'http-request replace-header' instead."),
        "reqirep" => instead("http-request replace-header"),
        "reqdel" | "reqidel" => instead("http-request del-header"),
        "reqdeny" => format!("The '{kw}' not supported anymore since HAProxy 2.1. Use 'http-request deny' instead."),
        "reqideny" => instead("http-request deny"),
        "reqpass" => format!("The '{kw}' not supported anymore since HAProxy 2.1."),
        "reqipass" => format!("The '{kw}' directive {since}"),
        "reqallow" | "reqiallow" => instead("http-request allow"),
        "reqtarpit" | "reqitarpit" => instead("http-request tarpit"),
        "rsprep" | "rspirep" => instead("http-response replace-header"),
        "rspdel" => format!("The '{kw}' directive {since} Use 'http-response del-header' ."),
        "rspidel" => instead("http-response del-header"),
        "rspdeny" | "rspideny" => instead("http-response deny"),
        "block" => format!("The '{kw}' directive {since} Use 'http-request deny' which uses the exact same syntax."),
        "redispatch" => format!("keyword '{kw}' directive {since} Use 'option redispatch'."),
        "monitor-net" => format!("'{kw}' doesn't exist anymore. Please use 'http-request return status 200 if {{ src {arg} }}' instead."),
        "appsession" => format!("'{kw}' is not supported anymore since HAProxy 1.6."),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_have_no_duplicates_and_are_reachable() {
        for table in [GLOBAL, PROXY] {
            let mut names: Vec<_> = table.iter().map(|k| k.name).collect();
            let len = names.len();
            names.sort_unstable();
            names.dedup();
            assert_eq!(names.len(), len, "duplicate keyword");
        }
        for table in [OPTIONS, SERVER_OPTIONS, BIND_OPTIONS] {
            let mut names: Vec<_> = table.iter().map(|k| k.name).collect();
            let len = names.len();
            names.sort_unstable();
            names.dedup();
            assert_eq!(names.len(), len, "duplicate sub-keyword");
        }
        assert!(PROXY.iter().all(|k| k.sections != 0));
    }

    #[test]
    fn ignored_list_stays_short() {
        let ignored = GLOBAL
            .iter()
            .chain(PROXY)
            .filter(|k| matches!(k.state, State::Ignored))
            .count();
        assert!(
            ignored <= 20,
            "{ignored} ignored keywords: the ignored list must stay short"
        );
    }

    #[test]
    fn section_masks() {
        let bind = lookup(Section::Frontend, "bind").unwrap();
        assert!(bind.allowed_in(Section::Frontend) && bind.allowed_in(Section::Listen));
        assert!(!bind.allowed_in(Section::Backend) && !bind.allowed_in(Section::Defaults));
        assert!(keywords(Section::Backend).any(|k| k.name == "server"));
        assert!(!keywords(Section::Frontend).any(|k| k.name == "server"));
    }

    #[test]
    fn suggestions() {
        assert_eq!(
            suggest("daemonn", GLOBAL.iter().map(|k| k.name)),
            Some("daemon")
        );
        assert_eq!(
            suggest("optoin", PROXY.iter().map(|k| k.name)),
            Some("option")
        );
        assert_eq!(suggest("zzzzzzzzzzzz", PROXY.iter().map(|k| k.name)), None);
    }
}
