//! The typed configuration: what the parser produces and the runtime consumes.
//!
//! Every item that can be wrong at run time keeps its [`Location`] so later errors
//! (an unknown backend, a bind that fails) can still name the file and line.
//! Durations are `std::time::Duration`; "not set" is `None`, never a magic zero.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Where a keyword was read: file and 1-based line.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Location {
    pub file: Arc<str>,
    pub line: u32,
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.file, self.line)
    }
}

/// The whole configuration after parsing and post-parse checks.
#[derive(Clone, Debug, Default)]
pub struct Config {
    pub global: Global,
    /// Every `frontend`, `backend` and `listen` section, in file order.
    pub proxies: Vec<Proxy>,
    /// The files read, in order (also exported as `HAPROXY_CFGFILES`).
    pub files: Vec<PathBuf>,
    /// `http-errors` sections, in file order.
    pub http_errors: Vec<HttpErrorsSection>,
    /// `userlist` sections, in file order (a duplicated name is ignored with a warning).
    pub userlists: Vec<Userlist>,
    /// The `table` lines of `peers` sections (added for stick tables: the tables are
    /// created, nothing is synchronised), named `<peers>/<table>` as in HAProxy.
    pub peers_tables: Vec<crate::stick::TableDef>,
    /// The names of the `peers` sections (added for stick tables).
    pub peers_sections: Vec<String>,
    /// The `peers` sections: peers and addresses (`crate::peers`).
    pub peers: Vec<crate::peers::config::Section>,
    /// `resolvers` sections, in file order (added for DNS resolution, `src/dns/`).
    pub resolvers: Vec<Resolvers>,
    /// The servers resolved at run time through a `resolvers` section (`resolvers <name>`
    /// on a `server` or `server-template` line), in declaration order.
    pub server_resolutions: Vec<ServerResolution>,
    /// `mailers` sections, in file order (added by "extcheck").
    pub mailers: Vec<Mailers>,
    /// `ring` sections in file order, then the rings made for `log tcp@` lines
    /// (src/config/parse/ring.rs, src/log/ring.rs).
    pub rings: Vec<Ring>,
    /// `program` sections, in file order: commands the master starts beside the
    /// worker (src/config/parse/program.rs, src/master/).
    pub programs: Vec<Program>,
    /// `cache` sections, in file order (added by "cache": src/config/parse/cache.rs,
    /// run by src/http/cache.rs).
    pub caches: Vec<CacheSection>,
    /// `log-forward` sections, in file order (added by "logfwd": the syslog relay,
    /// src/config/parse/log_forward.rs, run by src/log/forward/).
    pub log_forwards: Vec<LogForward>,
    /// `fcgi-app` sections, in file order (added by "fcgi": src/config/parse/fcgi_app.rs,
    /// run by src/http/fcgi/).
    pub fcgi_apps: Vec<FcgiApp>,
}

/// A `log-forward <name>` section (added by "logfwd"): syslog messages received on its
/// listeners are parsed and sent again to its `log` targets (doc/config.md, Logs).
#[derive(Clone, Debug)]
pub struct LogForward {
    pub name: String,
    pub location: Location,
    /// `bind` lines: stream listeners (octet-counted or newline-framed messages).
    pub binds: Vec<Bind>,
    /// `dgram-bind` lines: UDP listeners, one message per datagram.
    pub dgram_binds: Vec<Bind>,
    /// `log` lines (`log global` copies the global ones).
    pub logs: Vec<LogTarget>,
    /// `maxconn` (HAProxy's default for a log forwarder: 10).
    pub maxconn: u32,
    /// `backlog` (default: `maxconn`).
    pub backlog: Option<u32>,
    /// `timeout client`: an idle stream connection is closed (`None`: never).
    pub timeout_client: Option<Duration>,
}

/// An `fcgi-app <name>` section (added by "fcgi"): a FastCGI responder application that
/// backends name with `use-fcgi-app` (HAProxy's configuration manual, section 10).
#[derive(Clone, Debug, PartialEq)]
pub struct FcgiApp {
    pub name: String,
    pub location: Location,
    /// `docroot <path>` (required).
    pub docroot: Option<String>,
    /// `index <script-name>`: appended to a path ending with `/` for SCRIPT_NAME.
    pub index: Option<String>,
    /// `path-info <regex>`: captures SCRIPT_NAME and PATH_INFO from the decoded path.
    pub path_info: Option<String>,
    /// `log-stderr`: where STDERR records are logged (`log-stderr global` is resolved
    /// to the global targets at the end of parsing).
    pub log_stderr: Vec<LogTarget>,
    /// `log-stderr global` lines not resolved yet (the global section may come later).
    pub log_stderr_global: bool,
    /// `option keep-conn` (the default) / `no option keep-conn`.
    pub keep_conn: bool,
    /// `option get-values`: accepted; moonproxy does not ask (one request per connection).
    pub get_values: bool,
    /// `option mpxs-conns`: accepted; moonproxy does not multiplex.
    pub mpxs_conns: bool,
    /// `option max-reqs <n>` (1).
    pub max_reqs: u32,
    /// `set-param <name> <fmt> [if|unless cond]`, in order.
    pub set_params: Vec<FcgiRule>,
    /// `pass-header <name> [if|unless cond]`, in order.
    pub pass_headers: Vec<FcgiRule>,
    /// The section's own ACLs (private to it, as in HAProxy).
    pub acls: Vec<Acl>,
}

/// A `set-param` (with its log-format value) or `pass-header` line (value `None`).
#[derive(Clone, Debug, PartialEq)]
pub struct FcgiRule {
    pub name: String,
    pub value: Option<String>,
    pub cond: Option<Condition>,
    pub location: Location,
}

/// A `cache <name>` section (added by "cache"): HAProxy's small object cache, used by
/// `http-request cache-use` and `http-response cache-store` (doc/cache.md).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CacheSection {
    pub name: String,
    pub location: Location,
    /// `total-max-size` in megabytes (1..=4095; required, as in HAProxy).
    pub total_max_size_mb: u32,
    /// `max-object-size` in bytes; 0: a 256th of `total-max-size` (HAProxy's default).
    pub max_object_size: u64,
    /// `max-age` in seconds (default 60): the longest an object stays fresh.
    pub max_age: u32,
    /// `process-vary on|off` (off by default in 2.6): responses with `Vary` are stored
    /// per variant instead of not at all.
    pub process_vary: bool,
    /// `max-secondary-entries` (default 10): variants kept for one URL.
    pub max_secondary_entries: u32,
}

/// A `resolvers <name>` section: the name servers asked and the timings of the
/// resolutions made for the servers that name it (`doc/resolvers.md`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resolvers {
    pub name: String,
    pub location: Location,
    /// `nameserver <id> <ip>:<port>` (UDP), and those of `parse-resolv-conf`.
    pub nameservers: Vec<(String, SocketAddr)>,
    /// `resolve_retries` (default 3): queries sent before a resolution times out.
    pub resolve_retries: u32,
    /// `timeout resolve` (default 1s): the interval between two resolutions of a name.
    pub timeout_resolve: Duration,
    /// `timeout retry` (default 1s): how long to wait for an answer before asking again.
    pub timeout_retry: Duration,
    /// `hold <status> <time>`.
    pub hold: ResolverHold,
    /// `accepted_payload_size` (default 512): the EDNS0 UDP size announced.
    pub accepted_payload_size: u16,
}

/// `hold <status> <time>`: how long the last valid answer is kept when a resolution
/// ends with this status (HAProxy's defaults: 10s valid, 30s the errors, 0 obsolete).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResolverHold {
    pub valid: Duration,
    pub nx: Duration,
    pub timeout: Duration,
    pub refused: Duration,
    pub other: Duration,
    /// How long an address that left the answers still fills a `server-template` slot.
    pub obsolete: Duration,
}

impl Default for ResolverHold {
    fn default() -> Self {
        let s = Duration::from_secs;
        ResolverHold { valid: s(10), nx: s(30), timeout: s(30), refused: s(30), other: s(30), obsolete: s(0) }
    }
}

/// The address family asked first (`resolve-prefer`; HAProxy's default is IPv6).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ResolvePrefer {
    Ipv4,
    #[default]
    Ipv6,
}

/// One server resolved at run time: `server <name> <fqdn>[:<port>] resolvers <id>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerResolution {
    /// The proxy and server names (the server is found by name at start).
    pub proxy: String,
    pub server: String,
    pub location: Location,
    /// The name asked (the host of the server's address, without the port).
    pub fqdn: String,
    /// The `resolvers` section's name.
    pub resolvers: String,
    pub prefer: ResolvePrefer,
    /// `resolve-opts allow-dup-ip`: servers of the same backend may share an address.
    pub allow_dup_ip: bool,
    /// `resolve-opts ignore-weight`: SRV weights are not applied (no effect on A/AAAA).
    pub ignore_weight: bool,
    /// `resolve-net`: preferred networks (an address in one of them is picked first).
    pub nets: Vec<(std::net::IpAddr, u8)>,
}

/// A `userlist` section: users with passwords and the groups they belong to
/// (`http_auth`, `http_auth_group`, `http-request auth`).
#[derive(Clone, Debug, Default)]
pub struct Userlist {
    pub name: String,
    pub location: Option<Location>,
    /// Groups in declaration order, each with its members once the section is checked
    /// (from `group <g> users a,b` and from `user <u> groups g1,g2`).
    pub groups: Vec<UserGroup>,
    pub users: Vec<User>,
}

#[derive(Clone, Debug, Default)]
pub struct UserGroup {
    pub name: String,
    pub users: Vec<String>,
}

#[derive(Clone, Debug)]
pub struct User {
    pub name: String,
    pub password: Password,
    /// Groups named on the `user` line (`groups g1,g2`).
    pub groups: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Password {
    /// No password given: the user never authenticates.
    None,
    /// `insecure-password <pw>`: compared as is.
    Insecure(String),
    /// `password <hash>`: a crypt(3) hash.
    Crypt(String),
}

impl Config {
    pub fn proxy(&self, name: &str) -> Option<&Proxy> {
        self.proxies.iter().find(|p| p.name == name)
    }
    pub fn frontends(&self) -> impl Iterator<Item = &Proxy> {
        self.proxies.iter().filter(|p| p.cap.frontend)
    }
    pub fn backends(&self) -> impl Iterator<Item = &Proxy> {
        self.proxies.iter().filter(|p| p.cap.backend)
    }
}

/// The `global` section.
#[derive(Clone, Debug)]
pub struct Global {
    pub daemon: bool,
    pub pidfile: Option<PathBuf>,
    pub nbthread: u32,
    /// Global `maxconn`; `None` means derived from the fd limit.
    pub maxconn: Option<u32>,
    pub hard_stop_after: Option<Duration>,
    /// `noreuseport`: listeners without SO_REUSEPORT (a reload then needs `-x`).
    pub noreuseport: bool,
    pub logs: Vec<LogTarget>,
    /// `log-tag` (defaults to the program name).
    pub log_tag: Option<String>,
    /// `log-send-hostname [name]`.
    pub log_send_hostname: Option<String>,
    /// `node` / `localpeer`.
    pub node: Option<String>,
    pub localpeer: Option<String>,
    /// `tune.bufsize`.
    pub bufsize: usize,
    /// `tune.http.maxhdr` (default 101): header lines of a message, its start line
    /// counted, as HAProxy counts them.
    pub http_maxhdr: usize,
    /// `tune.maxaccept`.
    pub maxaccept: u32,
    pub quiet: bool,
    pub location: Option<Location>,
    /// `lua-load`, `lua-prepend-path` and `tune.lua.*`.
    pub lua: LuaSettings,
    /// `stats socket` lines: the CLI's listening sockets (see `doc/cli.md`).
    pub stats_sockets: Vec<StatsSocket>,
    /// `stats timeout`: a CLI session idle this long is closed (default 10s).
    pub stats_timeout: Duration,
    /// `stats maxconn`: concurrent CLI sessions per socket (default 10).
    pub stats_maxconn: u32,
    /// `profiling.tasks on|auto|off` (default `auto`, as HAProxy 2.6).
    pub profiling_tasks: crate::stats::activity::TasksMode,
    /// The TLS defaults (`ca-base`, `ssl-default-bind-options`, `tune.ssl.*`...) as
    /// written: keyword and arguments. Without TLS they have no effect yet.
    pub tls_defaults: Vec<(String, Vec<String>)>,
    /// `chroot`, `user`/`uid`, `group`/`gid`, `ulimit-n`, `cpu-map`: what the process does
    /// to itself once its listeners are bound (`crate::sys::privs`, `crate::sys::affinity`).
    pub process: ProcessSettings,
    /// `master-worker` (same as `-W`): a master process runs the workers.
    pub master_worker: bool,
    /// `master-worker no-exit-on-failure`: a worker that dies does not take the
    /// master and the other workers down with it.
    pub master_worker_no_exit_on_failure: bool,
    /// `external-check` and `insecure-fork-wanted` (added by "extcheck":
    /// src/config/parse/external_check.rs).
    pub external_check: ExternalCheckGlobal,
    /// `tune.comp.maxlevel`, `maxcomprate`, `maxcompcpuusage`, `maxzlibmem`,
    /// `tune.zlib.*` (added for HTTP compression, src/http/compress.rs).
    pub compression: CompressionTuning,
    /// Smaller process-wide knobs (`tune.sndbuf.*`, `maxconnrate` ...), added by "kw".
    pub tuning: GlobalTuning,
    /// `server-state-file` and `server-state-base` (added by "state":
    /// src/runtime/server_state.rs).
    pub server_state: GlobalServerState,
}

/// Where the server-state files are (`server-state-file`, `server-state-base`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GlobalServerState {
    /// `server-state-file <file>`: the file `load-server-state-from-file global` reads.
    pub file: Option<String>,
    /// `server-state-base <dir>`: the directory of relative state file names.
    pub base: Option<String>,
}

/// The global settings of HTTP compression. Only `maxlevel` has an effect; the
/// others are recorded (see `doc/http.md`, "Compression").
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompressionTuning {
    /// `tune.comp.maxlevel` (1 to 9, default 1): the level every compressed response uses.
    pub maxlevel: u32,
    /// `maxcomprate` in kB/s (0: no limit).
    pub maxcomprate: u32,
    /// `maxcompcpuusage` in percent (default 100: no limit).
    pub maxcompcpuusage: u32,
    /// `maxzlibmem` in megabytes (0: no limit).
    pub maxzlibmem: u64,
    /// `tune.zlib.memlevel` (1 to 9, default 8) and `tune.zlib.windowsize` (8 to 15, default 15).
    pub zlib_memlevel: u32,
    pub zlib_windowsize: u32,
}

impl Default for CompressionTuning {
    fn default() -> Self {
        CompressionTuning { maxlevel: 1, maxcomprate: 0, maxcompcpuusage: 100, maxzlibmem: 0, zlib_memlevel: 8, zlib_windowsize: 15 }
    }
}

/// Process-wide knobs of the `global` section that each act in one place (added by "kw").
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GlobalTuning {
    /// `tune.h2.header-table-size`, `tune.h2.initial-window-size`,
    /// `tune.h2.max-concurrent-streams`, `tune.h2.max-frame-size` (unset: HAProxy's
    /// defaults 4096, 65535, 100, 16384): what HTTP/2 client connections advertise.
    pub h2_header_table_size: Option<u32>,
    pub h2_initial_window_size: Option<u32>,
    pub h2_max_concurrent_streams: Option<u32>,
    pub h2_max_frame_size: Option<u32>,
    /// `tune.rcvbuf.client` / `tune.sndbuf.client`: SO_RCVBUF / SO_SNDBUF of client
    /// connections (bytes; 0 or unset: the kernel's default).
    pub rcvbuf_client: Option<u32>,
    pub sndbuf_client: Option<u32>,
    /// `tune.rcvbuf.server` / `tune.sndbuf.server`: the same for server connections.
    pub rcvbuf_server: Option<u32>,
    /// `tune.pool-high-fd-ratio` (percent of `maxsock`, default 25): above this many
    /// idle server connections, a connection that becomes idle is closed instead of
    /// kept (`crate::runtime::idle`).
    pub pool_high_fd_ratio: Option<u32>,
    pub sndbuf_server: Option<u32>,
    /// `maxconnrate` / `maxsessrate`: connections / sessions accepted per second by
    /// the process (0 or unset: no limit).
    pub maxconnrate: Option<u32>,
    pub maxsessrate: Option<u32>,
    /// `zero-warning`: any configuration warning is fatal.
    pub zero_warning: bool,
    /// `grace <time>`: after a soft-stop signal, listeners keep accepting this long.
    pub grace: Option<Duration>,
    /// `close-spread-time <time>`: on a soft stop, idle client connections are closed
    /// over this window rather than all at once (`None`: at once; `Duration::MAX`:
    /// `infinite`, never).
    pub close_spread_time: Option<Duration>,
    /// `tune.http.logurilen` (default 1024), `tune.http.cookielen` (63),
    /// `tune.maxrewrite` and `tune.vars.*-max-size` as given (see doc/config.md for
    /// what each does in moonproxy).
    pub http_logurilen: Option<usize>,
    pub http_cookielen: Option<usize>,
    pub maxrewrite: Option<usize>,
    pub vars_max_size: Vec<(String, u64)>,
    /// `unix-bind prefix|mode|uid|gid|user|group`: defaults for UNIX socket binds.
    pub unix_bind: UnixBind,
    /// `set-var` / `set-var-fmt` in `global`: `proc.*` variables set at start, in order.
    pub proc_vars: Vec<ProcVarInit>,
    /// `h1-case-adjust <from> <to>` lines and the `h1-case-adjust-file` entries
    /// (merged after parsing).
    pub h1_case_adjust: Vec<(String, String)>,
    pub h1_case_adjust_file: Option<std::path::PathBuf>,
    /// `maxsslconn` / `maxsslrate` (added by "globals"): live TLS client connections,
    /// and TLS connections accepted per second, over the `ssl` listeners (0 or unset:
    /// no limit). Past either, those listeners stop accepting for a while.
    pub maxsslconn: Option<u32>,
    pub maxsslrate: Option<u32>,
    /// `mworker-max-reloads <n>` (added by "globals"): after a reload, the master
    /// sends SIGTERM to the old workers that have lived through more than `n` reloads.
    pub mworker_max_reloads: Option<u32>,
    /// `pp2-never-send-local` (added by "globals"): health checks with
    /// `check-send-proxy` send a version 2 `PROXY` command, not `LOCAL`.
    pub pp2_never_send_local: bool,
    /// `h1-accept-payload-with-any-method` (added by "httpgaps"): HTTP/1.0 GET, HEAD
    /// and DELETE requests may carry a payload (refused with 413 without it).
    pub h1_accept_payload_with_any_method: bool,
    /// `httpclient.resolvers.id` / `httpclient.resolvers.prefer` (added by "globals"),
    /// as written; the id must name a `resolvers` section.
    pub httpclient_resolvers_id: Option<String>,
    pub httpclient_resolvers_prefer: Option<String>,
    /// The accepted keywords with no effect in moonproxy (pollers, splicing, HTTP/2,
    /// OpenSSL tuning ...), as written, for `doc/config.md`'s reasons (added by "globals").
    pub no_effect: Vec<(String, Vec<String>)>,
}

/// A global `set-var proc.<name> <expr>` (`fmt: false`) or `set-var-fmt proc.<name>
/// <format>` (`fmt: true`), checked at parse time (added by "kw").
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcVarInit {
    pub name: String,
    pub value: String,
    pub fmt: bool,
    pub location: Location,
}

/// `unix-bind` settings (added by "kw").
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UnixBind {
    /// Prepended to the path of every UNIX socket bind.
    pub prefix: Option<String>,
    pub mode: Option<u32>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
}

/// The process-wide settings applied at start-up, after the listeners are bound and the
/// pidfile written (see `doc/operations.md`, "Privileges and limits").
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProcessSettings {
    /// `chroot <dir>`.
    pub chroot: Option<PathBuf>,
    /// `uid` / `user`. `uid 0` (or `user root`) leaves it unset: as in HAProxy, the
    /// process then keeps the identity it was started with.
    pub uid: Option<u32>,
    /// `gid` / `group`, with the same rule for 0.
    pub gid: Option<u32>,
    /// `ulimit-n`: the file-descriptor limit to raise to (`None`: computed from `maxconn`).
    pub ulimit_n: Option<u64>,
    /// `strict-limits` / `no strict-limits`; `None` is HAProxy 2.6's default, on: a file
    /// descriptor limit that cannot be raised enough stops start-up.
    pub strict_limits: Option<bool>,
    /// `cpu-map`, resolved per thread: thread number (1-based) → the CPUs it may run on,
    /// ascending. A later line replaces an earlier one for the threads both name.
    pub cpu_map: std::collections::BTreeMap<u32, Vec<usize>>,
}

/// One `stats socket` line: where the CLI listens and what its sessions may do.
#[derive(Clone, Debug)]
pub struct StatsSocket {
    /// The address and the `bind` settings that apply (`mode`, `uid`, `gid`...).
    pub bind: Bind,
    /// `level` (default `operator`, as HAProxy 2.6 grants when none is given).
    pub level: CliLevel,
    /// `expose-fd listeners` (recorded; fd passing is not implemented yet).
    pub expose_fd_listeners: bool,
    /// `severity-output none|number|string`: how the sessions start.
    pub severity_output: SeverityOutput,
}

/// Whether a CLI message starts with its severity (`severity-output` on `stats socket`,
/// the CLI's `set severity-output`): `[3]: ` or `[err]: `.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SeverityOutput {
    #[default]
    None,
    Number,
    String,
}

impl SeverityOutput {
    /// `none`, `number`, `string`.
    pub fn parse(word: &str) -> Option<SeverityOutput> {
        match word {
            "none" => Some(SeverityOutput::None),
            "number" => Some(SeverityOutput::Number),
            "string" => Some(SeverityOutput::String),
            _ => None,
        }
    }
}

/// A CLI session's access level, lowest first.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub enum CliLevel {
    User,
    #[default]
    Operator,
    Admin,
}

impl CliLevel {
    /// The word used by `level` and printed by `show cli level`.
    pub fn name(self) -> &'static str {
        match self {
            CliLevel::User => "user",
            CliLevel::Operator => "operator",
            CliLevel::Admin => "admin",
        }
    }
}

impl Default for Global {
    fn default() -> Self {
        Global {
            daemon: false,
            pidfile: None,
            nbthread: 1,
            maxconn: None,
            hard_stop_after: None,
            noreuseport: false,
            logs: Vec::new(),
            log_tag: None,
            log_send_hostname: None,
            node: None,
            localpeer: None,
            bufsize: 16384,
            http_maxhdr: 101,
            maxaccept: 64,
            quiet: false,
            location: None,
            lua: LuaSettings::default(),
            stats_sockets: Vec::new(),
            stats_timeout: Duration::from_secs(10),
            stats_maxconn: 10,
            profiling_tasks: crate::stats::activity::TasksMode::Auto,
            tls_defaults: Vec::new(),
            process: ProcessSettings::default(),
            master_worker: false,
            master_worker_no_exit_on_failure: false,
            external_check: ExternalCheckGlobal::default(),
            compression: CompressionTuning::default(),
            tuning: GlobalTuning::default(),
            server_state: GlobalServerState::default(),
        }
    }
}

/// The Lua part of the `global` section. The runtime (`crate::lua::api::core::Engine`) acts
/// on it; the parser only records it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LuaSettings {
    /// `lua-load`, `lua-load-per-thread` and `lua-prepend-path`, in configuration order
    /// (a prepended path only affects the files loaded after it).
    pub directives: Vec<LuaDirective>,
    /// `tune.lua.forced-yield` when set explicitly (see `doc/lua-ffi.md`, section 8).
    pub forced_yield: Option<u32>,
    /// `tune.lua.preempt timer|count` (moonproxy): how `forced-yield` is enforced.
    pub preempt_mode: PreemptMode,
    /// `tune.lua.maxmem` in megabytes (0 or unset: unlimited).
    pub maxmem_mb: usize,
    /// `tune.lua.session-timeout` (actions, fetches, converters, CLI); `None`: no limit.
    pub session_timeout: Option<Duration>,
    /// `tune.lua.service-timeout`.
    pub service_timeout: Option<Duration>,
    /// `tune.lua.task-timeout` (default: none).
    pub task_timeout: Option<Duration>,
    /// `tune.lua.burst-timeout` (HAProxy 2.8; default here: none, as 2.6 has none).
    pub burst_timeout: Option<Duration>,
    /// `tune.lua.log.loggers` (HAProxy 2.9; default on).
    pub log_loggers: bool,
    /// `tune.lua.log.stderr` (HAProxy 2.9).
    pub log_stderr: LuaLogStderr,
    /// `tune.lua.bool-sample-conversion` (HAProxy 3.2): `true` for `normal` (booleans reach Lua
    /// as booleans), `false` for `pre-3.1-bug` (as integers, HAProxy 2.6's behaviour, default).
    pub bool_sample_normal: bool,
    /// `tune.lua.strict-blocking on` (moonproxy): a blocking call at run time (`io.*`,
    /// `os.execute`, `print`...) raises an error instead of logging a warning.
    pub strict_blocking: bool,
    /// `tune.lua.stats on|off` (moonproxy, default on): the per-function counters of
    /// `show lua stats`, the stall report and the `moonproxy_lua_*` metrics. Off, a
    /// resume is not accounted at all (what `bench/lua-accounting.sh` compares).
    pub accounting: bool,
    /// `tune.lua.stall-warn` (moonproxy): a resume holding the reactor longer is logged
    /// (`lua::stats`); zero turns the report off. Default 100 ms.
    pub stall_warn: Duration,
}

/// How a task is made to give way (`tune.lua.preempt`, a moonproxy keyword).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PreemptMode {
    /// Run with no hook; a timer signal interrupts the task after a time slice derived from
    /// `tune.lua.forced-yield` (the default: full VM speed).
    #[default]
    Timer,
    /// HAProxy's mechanism: a count hook every `forced-yield` instructions (the VM then
    /// traces every instruction, about half speed).
    Count,
}

impl Default for LuaSettings {
    fn default() -> Self {
        LuaSettings {
            directives: Vec::new(),
            forced_yield: None,
            preempt_mode: PreemptMode::Timer,
            maxmem_mb: 0,
            session_timeout: Some(Duration::from_secs(4)),
            service_timeout: Some(Duration::from_secs(4)),
            task_timeout: None,
            burst_timeout: None,
            log_loggers: true,
            log_stderr: LuaLogStderr::On,
            bool_sample_normal: false,
            strict_blocking: false,
            accounting: true,
            stall_warn: Duration::from_millis(100),
        }
    }
}

/// `tune.lua.log.stderr`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LuaLogStderr {
    /// Always (unless `-q`): HAProxy 2.6's behaviour, the default here.
    On,
    /// Only when no logger received the line (HAProxy 2.9's default).
    Auto,
    Off,
}

/// One Lua directive of the `global` section.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LuaDirective {
    /// `lua-load <file> [args...]` (`per_thread`: `lua-load-per-thread`, the same single state
    /// here since moonproxy runs one reactor thread).
    Load {
        file: PathBuf,
        args: Vec<String>,
        per_thread: bool,
        location: Location,
    },
    /// `lua-prepend-path <path> [path|cpath]`.
    PrependPath {
        path: String,
        cpath: bool,
        location: Location,
    },
}

/// What a proxy section can do: `frontend` (fe), `backend` (be), `listen` (both).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Capabilities {
    pub frontend: bool,
    pub backend: bool,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Mode {
    #[default]
    Tcp,
    Http,
}

/// The set of `retry-on` events (added for L7 retries): one bit per keyword, see
/// `crate::config::parse::retry_on` for the names and `crate::stream::l7retry` for
/// what each one retries.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RetryOn(pub u32);

impl RetryOn {
    pub const CONN_FAILURE: RetryOn = RetryOn(1);
    pub const EMPTY_RESPONSE: RetryOn = RetryOn(1 << 1);
    pub const JUNK_RESPONSE: RetryOn = RetryOn(1 << 2);
    pub const RESPONSE_TIMEOUT: RetryOn = RetryOn(1 << 3);
    pub const ZERO_RTT_REJECTED: RetryOn = RetryOn(1 << 4);
    /// The status codes `retry-on` accepts, in bit order after the events above.
    pub const STATUSES: [u16; 8] = [404, 408, 425, 500, 501, 502, 503, 504];

    /// The bit of a retryable response status, if it is one `retry-on` accepts.
    pub fn status(code: u16) -> Option<RetryOn> {
        let i = Self::STATUSES.iter().position(|&s| s == code)?;
        Some(RetryOn(1 << (5 + i)))
    }

    pub fn contains(self, other: RetryOn) -> bool {
        self.0 & other.0 == other.0 && other.0 != 0
    }

    /// Whether any event other than a connection failure retries (the request must then
    /// be kept until its response starts).
    pub fn any_l7(self) -> bool {
        self.0 & !Self::CONN_FAILURE.0 != 0
    }
}

/// `option tcp-check` and its `tcp-check` rules (added for TCP health checks).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TcpCheck {
    /// `option tcp-check` is on (without it the rules are ignored, with a warning).
    pub enabled: bool,
    /// Set in a `defaults` section: a proxy's first rule of its own starts over.
    pub inherited: bool,
    /// The rules, in order (their 1-based index is HAProxy's `step`).
    pub rules: Vec<TcpCheckRule>,
    /// `option redis-check`, `smtpchk`, `mysql-check`, `pgsql-check`, `ldap-check` or
    /// `ssl-hello-chk`: a predefined rule set replaces `rules` (added for protocol
    /// health checks; built by `crate::backend::proto_check`).
    pub protocol: Option<ProtocolCheck>,
}

/// A protocol health check: HAProxy runs each as a predefined `tcp-check` sequence
/// (added for protocol health checks).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProtocolCheck {
    /// `option redis-check`: `PING`, expects `+PONG`.
    Redis,
    /// `option smtpchk [HELO|EHLO <domain>]`: the greeting, then `hello` (e.g.
    /// `HELO localhost`) and `QUIT` must be answered 2xx.
    Smtp { hello: String },
    /// `option pgsql-check user <name>`: a startup message, expects an authentication request.
    Pgsql { user: String },
    /// `option mysql-check [user <name> [post-41|pre-41]]`: the server's handshake
    /// and, with a user, the answer to a login (followed by `QUIT`).
    Mysql { user: Option<String>, pre41: bool },
    /// `option ldap-check`: an anonymous LDAPv3 bind, expects a successful bind response.
    Ldap,
    /// `option ssl-hello-chk`: a ClientHello, expects a TLS handshake or alert record.
    SslHello,
    /// `option spop-check`: a HAPROXY-HELLO with `healthcheck`, expects an AGENT-HELLO
    /// (added for SPOE, `crate::spoe`).
    Spop,
}

/// One `tcp-check` rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TcpCheckRule {
    /// `connect [port <n>] [linger]` (the first rule only).
    Connect { port: Option<u16>, linger: bool },
    /// `send <string>` / `send-binary <hex>`: bytes to write.
    Send(Vec<u8>),
    /// `expect ...`.
    Expect(TcpCheckExpect),
    /// `comment <text>`: reported when the next rule fails.
    Comment(String),
}

/// `tcp-check expect [min-recv <n>] [error-status <st>] [on-success <text>]
/// [on-error <text>] [!] <match> <pattern>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TcpCheckExpect {
    pub negate: bool,
    pub kind: TcpCheckMatch,
    /// Wait for at least this many bytes (unless the server closes).
    pub min_recv: Option<usize>,
    /// `error-status L7RSP|L7TOUT|L4CON|L6RSP|L4TOUT|L6TOUT`: the status of a failure.
    pub error_status: Option<String>,
    /// Plain `on-success` / `on-error` texts: the check's `info`.
    pub on_success: Option<String>,
    pub on_error: Option<String>,
}

/// What a `tcp-check expect` rule looks for in the bytes received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TcpCheckMatch {
    String(Vec<u8>),
    /// A regular expression (validated by the parser).
    RString(String),
    Binary(Vec<u8>),
    /// A regular expression matched, as HAProxy does, against the bytes written in
    /// hexadecimal digits (`+PONG` reads `2B504F4E47`; case-insensitive).
    RBinary(String),
}

/// A `frontend`, `backend` or `listen` section (HAProxy calls all of them proxies).
#[derive(Clone, Debug, Default)]
pub struct Proxy {
    pub name: String,
    pub cap: Capabilities,
    pub location: Option<Location>,
    /// `id <n>`: the proxy's numeric id as configured (see `stats::proxy_ids` for the
    /// ids of all proxies).
    pub id: Option<u32>,
    pub mode: Mode,
    pub disabled: bool,
    /// Frontend side.
    pub binds: Vec<Bind>,
    /// Per-frontend `maxconn` (None: inherits the global limit).
    pub maxconn: Option<u32>,
    pub backlog: Option<u32>,
    pub default_backend: Option<NamedRef>,
    pub use_backends: Vec<UseBackend>,
    /// `use-server <server> if|unless <cond>` lines (backends), in order.
    pub use_servers: Vec<UseServer>,
    /// `force-persist if|unless <cond>`: when one holds, a persistent request (cookie,
    /// `use-server`) goes to its server even if it is down or in maintenance.
    pub force_persist: Vec<Condition>,
    /// `ignore-persist if|unless <cond>`: when one holds, the persistence cookie is
    /// ignored (the request is load balanced).
    pub ignore_persist: Vec<Condition>,
    pub acls: Vec<Acl>,
    /// Log targets after `log global` is resolved; `no log` empties it.
    pub logs: Vec<LogTarget>,
    /// `log-format`, or the format implied by `option tcplog`/`httplog`.
    pub log_format: Option<String>,
    /// `log-tag`: the syslog tag of this proxy's log lines instead of the global one
    /// (added by "kw").
    pub log_tag: Option<String>,
    /// `log-format-sd`: the RFC 5424 structured data of this proxy's stream log lines
    /// (added by "kw").
    pub log_format_sd: Option<String>,
    /// `rate-limit sessions <n>`: new sessions per second this frontend accepts
    /// (added by "kw").
    pub rate_limit_sessions: Option<u32>,
    /// `hash-balance-factor <percent>`: consistent hashing with bounded loads
    /// (added by "kw").
    pub hash_balance_factor: Option<u32>,
    /// `max-keep-alive-queue <n>` (`None`: -1, no limit), added by "kw"; see the note
    /// in doc/config.md.
    pub max_keep_alive_queue: Option<u32>,
    /// `dispatch <addr>:<port>`: where a backend without servers sends its
    /// connections (added by "kw"; see `config::parse::server_extra`).
    pub dispatch: Option<ServerAddr>,
    pub options: ProxyOptions,
    pub timeouts: Timeouts,
    /// Backend side.
    pub servers: Vec<Server>,
    pub balance: Balance,
    /// A `balance` line was written (here or in the `defaults` it inherits from):
    /// HAProxy refuses it together with `option transparent`.
    pub balance_set: bool,
    /// `persist rdp-cookie[(<name>)]` (added by "httpgaps"): the RDP cookie (`msts` by
    /// default) whose value names the server's address and port.
    pub persist_rdp_cookie: Option<String>,
    pub hash_type: HashType,
    pub retries: u32,
    /// `retry-on` (added for L7 retries): the events after which a request is sent
    /// again; `None` is HAProxy's default, `conn-failure` only.
    pub retry_on: Option<RetryOn>,
    /// `http-reuse` (backends).
    pub http_reuse: HttpReuse,
    /// `fullconn`, kept for `show stat`.
    pub fullconn: Option<u32>,
    /// `unique-id-format`.
    pub unique_id_format: Option<String>,
    /// `monitor-uri`: a request for exactly this URI is answered by the proxy
    /// (200, or 503 when a `monitor fail` condition holds), before the rules and unlogged.
    pub monitor_uri: Option<String>,
    /// `monitor fail if|unless <cond>` lines.
    pub monitor_fail: Vec<Condition>,
    /// `option httpchk` and the `http-check` rules: the servers' `check` is an HTTP
    /// check (added for HTTP health checks).
    pub http_check: Option<HttpCheck>,
    /// `option tcp-check` and the `tcp-check` rules (added for TCP health checks,
    /// src/config/parse/tcp_check.rs).
    pub tcp_check: Option<TcpCheck>,
    /// `option external-check`, `external-check command|path` (added by "extcheck":
    /// src/config/parse/external_check.rs, run by src/runtime/external_check.rs).
    pub external_check: Option<ExternalCheck>,
    /// `email-alert mailers|from|to|level|myhostname` (added by "extcheck":
    /// src/config/parse/mailers.rs, sent by src/runtime/mailers.rs).
    pub email_alert: Option<EmailAlert>,
    // -- HTTP captures, unique id header and error pages (src/config/parse/http_misc.rs).
    /// `capture request header <name> len <n>` (frontends), in declaration order: the
    /// slots of `%hr` and `capture.req.hdr(idx)`.
    pub req_captures: Vec<CaptureHeader>,
    /// `capture response header <name> len <n>` (frontends): `%hs`, `capture.res.hdr`.
    pub res_captures: Vec<CaptureHeader>,
    /// `capture cookie <name> len <n>`: `%CC` and `%CS`.
    pub capture_cookie: Option<CaptureCookie>,
    /// `unique-id-header <name>`: the request header the unique id is added as.
    pub unique_id_header: Option<String>,
    /// `errorfile`, `errorloc*` and `errorfiles` lines, inherited ones first, in order
    /// (a later one overrides an earlier one for the same status).
    pub error_directives: Vec<ErrorDirective>,
    /// The error pages after `errorfiles` are resolved (post-parse): one response per
    /// status, sorted by status. `crate::http::errors::ErrorPages::from_proxy` reads it.
    pub error_pages: Vec<(u16, Arc<[u8]>)>,
    /// The `http-error` replies rendered per response that won for their status over
    /// this proxy's other error directives (added by "kw"; a status is in one of
    /// `error_pages` and `error_replies`, never both).
    pub error_replies: Vec<HttpErrorReply>,
    /// Where `log-format` and `unique-id-format` were set (maybe in a `defaults`
    /// section): the formats are compiled after parsing and errors name this line.
    pub log_format_at: Option<Location>,
    pub unique_id_format_at: Option<Location>,
    /// `http-request`, `http-response` and `http-after-response` lines, in order
    /// (those of a named `defaults` section first).
    pub http_rules: Vec<HttpRuleConf>,
    /// `tcp-request connection|content` and `tcp-response content` lines, in order.
    pub tcp_rules: Vec<TcpRuleConf>,
    /// The `stats` lines (the statistics page, src/config/parse/stats.rs); `None`
    /// when no `stats` keyword enabled it. Inherited from `defaults` as a whole.
    pub stats: Option<StatsConf>,
    /// `cookie <name> ...`: cookie-based server persistence (backends; added for
    /// cookie persistence, src/http/persist.rs).
    pub cookie: Option<CookieConf>,
    /// `dynamic-cookie-key <key>`: the secret of `cookie ... dynamic`.
    pub dynamic_cookie_key: Option<String>,
    /// `compression algo|type|offload` (added for HTTP compression, src/http/compress.rs);
    /// `None` when no `compression` line applies (inherited from `defaults` like the rest).
    pub compression: Option<Compression>,
    /// `filter lua.<name> [args...]` lines, in order (added for Lua filters,
    /// src/stream/filter.rs).
    pub lua_filters: Vec<LuaFilterConf>,
    /// `filter cache <name>` lines: the cache is the one `cache-use`/`cache-store` name,
    /// which moonproxy runs with or without this declaration (checked after parsing).
    pub cache_filters: Vec<NamedRef>,
    /// `filter spoe` lines with their SPOE file's scope (added for SPOE, `crate::spoe`).
    pub spoe_filters: Vec<crate::spoe::conf::SpoeConf>,
    /// `use-fcgi-app <name>` (added by "fcgi", backends in HTTP mode).
    pub use_fcgi_app: Option<String>,
    /// `stick-table ...` (added for stick tables, src/config/parse/stick.rs): the
    /// proxy's table, named after the proxy.
    pub stick_table: Option<crate::stick::TableDef>,
    /// `stick on|match|store-request|store-response` lines (backends), in order.
    pub stick_rules: Vec<StickRuleConf>,
    /// `load-server-state-from-file` and `server-state-file-name` (added by "state").
    pub server_state: ProxyServerState,
    /// `source <addr>[:<port>] [usesrc ...] [interface ...]`: the default local address
    /// of the connections to this backend's servers (added by "state"; a server's own
    /// `source` wins, and the parser copies this one to the servers without one).
    pub source: Option<SourceConf>,
}

/// A `filter lua.<name> [args...]` line (added for Lua filters).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LuaFilterConf {
    /// The name given to `core.register_filter`.
    pub name: String,
    pub args: Vec<String>,
    pub location: Location,
}

/// A backend's `load-server-state-from-file` and `server-state-file-name`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProxyServerState {
    /// `None`: not set, which HAProxy treats as `none`.
    pub load: Option<LoadServerState>,
    /// `server-state-file-name <file>`; `None` (unset or `use-backend-name`): the
    /// backend's name.
    pub file_name: Option<String>,
}

/// `load-server-state-from-file global|local|none`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoadServerState {
    /// From the global `server-state-file`.
    Global,
    /// From this backend's own file (`server-state-file-name`).
    Local,
    None,
}

/// `source <addr>[:<port>] [usesrc <addr>[:<port>]|client|clientip] [interface <name>]`
/// on a backend, in `defaults` or on a server line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceConf {
    /// The local address connections bind to (port 0: any).
    pub addr: SocketAddr,
    /// A server's `source <addr>:<low>-<high>`: each connection binds to a free port
    /// of this range (the port of `addr` is then 0; `crate::stream::conn`).
    pub ports: Option<(u16, u16)>,
    /// `usesrc`: a foreign address, bound with IP_TRANSPARENT.
    pub usesrc: Option<UseSrc>,
    /// `interface <name>`: SO_BINDTODEVICE.
    pub interface: Option<String>,
    /// The line it is on (start-up errors name it).
    pub location: Location,
}

/// What `usesrc` binds the server connection to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UseSrc {
    /// `client`: the client's address and port.
    Client,
    /// `clientip`: the client's address, any port.
    ClientIp,
    /// A fixed address (port 0: any).
    Addr(SocketAddr),
}

/// A proxy's `compression` lines.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Compression {
    /// `compression algo` names in declaration order, inherited ones first.
    /// HAProxy tries them last-declared first (see `crate::http::compress`).
    pub algos: Vec<CompressionAlgo>,
    /// `compression type` values in declaration order, inherited ones first: a response
    /// is compressed only if its `Content-Type` starts with one of them (any case).
    pub types: Vec<String>,
    /// `compression offload`: `Accept-Encoding` is removed from requests the proxy
    /// will compress the response of (never set from a `defaults` section).
    pub offload: bool,
}

/// The algorithms of `compression algo`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CompressionAlgo {
    Identity,
    Gzip,
    Deflate,
    RawDeflate,
}

impl CompressionAlgo {
    /// The name in the configuration (and from `res.comp_algo`).
    pub fn name(self) -> &'static str {
        match self {
            CompressionAlgo::Identity => "identity",
            CompressionAlgo::Gzip => "gzip",
            CompressionAlgo::Deflate => "deflate",
            CompressionAlgo::RawDeflate => "raw-deflate",
        }
    }

    pub fn from_name(name: &str) -> Option<CompressionAlgo> {
        [CompressionAlgo::Identity, CompressionAlgo::Gzip, CompressionAlgo::Deflate, CompressionAlgo::RawDeflate]
            .into_iter()
            .find(|a| a.name() == name)
    }

    /// The content-coding token it answers in `Accept-Encoding` and sends in
    /// `Content-Encoding`: `raw-deflate` answers (and claims to be) `deflate`.
    pub fn token(self) -> &'static str {
        match self {
            CompressionAlgo::RawDeflate => "deflate",
            other => other.name(),
        }
    }
}

/// Which `stick` rule (added for stick tables).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StickRuleKind {
    /// `stick on`: match then store the request's pattern.
    On,
    Match,
    StoreRequest,
    StoreResponse,
}

/// `stick on|match|store-request|store-response <pattern> [table <t>] [if|unless <cond>]`.
#[derive(Clone, Debug)]
pub struct StickRuleConf {
    pub kind: StickRuleKind,
    /// The sample expression, checked when parsed.
    pub expr: String,
    /// The table (the proxy's own when not given).
    pub table: String,
    pub cond: Option<Condition>,
    pub location: Location,
}

/// How the persistence cookie is handled (`cookie <name> rewrite|insert|prefix`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CookieMode {
    /// None of the modes given: the cookie (set by the application itself) only
    /// directs requests; responses are left alone (but for `indirect`).
    #[default]
    Passive,
    /// `rewrite`: the server's own `Set-Cookie <name>` gets the server's value.
    Rewrite,
    /// `insert`: the proxy adds `Set-Cookie <name>=<value>; path=/`.
    Insert,
    /// `prefix`: the server's cookie value is prefixed with `<value>~`.
    Prefix,
}

/// `cookie <name> [rewrite|insert|prefix] [indirect] [nocache] [postonly] [preserve]
/// [httponly] [secure] [domain <d>]* [attr <v>]*`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CookieConf {
    pub name: String,
    pub mode: CookieMode,
    pub indirect: bool,
    pub nocache: bool,
    pub postonly: bool,
    pub preserve: bool,
    pub httponly: bool,
    pub secure: bool,
    /// `domain` values, in order (each adds `; domain=<d>`).
    pub domains: Vec<String>,
    /// `attr` values, in order (each adds `; <v>`).
    pub attrs: Vec<String>,
    /// `maxidle <t>` / `maxlife <t>` in seconds (0: none): inserted cookies carry
    /// their last-seen and first dates, and older ones are ignored.
    pub maxidle: u32,
    pub maxlife: u32,
    pub location: Option<Location>,
    /// `dynamic`: servers without a `cookie` value get one computed from the backend's
    /// `dynamic-cookie-key` and their address (`crate::http::persist`).
    pub dynamic: bool,
}

/// The statistics page of a proxy: `stats enable|uri|realm|auth|refresh|scope|admin|
/// hide-version|show-legends|show-node|show-desc|show-modules|http-request`.
#[derive(Clone, Debug)]
pub struct StatsConf {
    /// `stats uri`: the prefix a request's URI must start with (`/haproxy?stats`).
    pub uri: String,
    /// `stats realm`: the basic-auth realm (`HAProxy Statistics` when unset).
    pub realm: Option<String>,
    /// `stats auth user:pass`, in order (none: no authentication).
    pub auth: Vec<(String, String)>,
    /// `stats refresh`: the page's `Refresh` header.
    pub refresh: Option<Duration>,
    pub hide_version: bool,
    pub show_legends: bool,
    pub show_modules: bool,
    /// `stats show-node [name]`: `Some("")` means the host name.
    pub show_node: Option<String>,
    /// `stats show-desc [desc]`: `Some("")` means the global `description`.
    pub show_desc: Option<String>,
    /// `stats scope`: the proxies shown (`.` is the proxy itself); empty: all.
    pub scope: Vec<String>,
    /// `stats admin { if | unless } <cond>`: parsed, the admin actions are not served.
    pub admin: Option<Condition>,
    /// `stats http-request { allow | deny | auth [realm <r>] } [{ if | unless } <cond>]`.
    pub http_rules: Vec<HttpRuleConf>,
}

/// HAProxy's default `stats uri`.
pub const STATS_DEFAULT_URI: &str = "/haproxy?stats";

impl Default for StatsConf {
    fn default() -> Self {
        StatsConf {
            uri: STATS_DEFAULT_URI.to_string(),
            realm: None,
            auth: Vec::new(),
            refresh: None,
            hide_version: false,
            show_legends: false,
            show_modules: false,
            show_node: None,
            show_desc: None,
            scope: Vec::new(),
            admin: None,
            http_rules: Vec::new(),
        }
    }
}

/// `capture request|response header <name> len <n>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CaptureHeader {
    pub name: String,
    /// At most this many bytes of the value are kept.
    pub len: usize,
    pub location: Location,
}

/// `capture cookie <name> len <n>`: the first cookie whose name starts with `name`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CaptureCookie {
    pub name: String,
    pub len: usize,
    pub location: Location,
}

/// One `errorfile <status> <file>` line, its file read and checked at load.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ErrorFile {
    pub status: u16,
    pub path: PathBuf,
    /// The complete response as sent (empty: close without answering).
    pub response: Arc<[u8]>,
    pub location: Location,
}

/// An `errorfile`, `errorloc` or `errorfiles` line of a proxy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ErrorDirective {
    File(ErrorFile),
    /// `errorloc`, `errorloc302`, `errorloc303 <status> <url>`: a redirect built at load.
    Redirect {
        status: u16,
        response: Arc<[u8]>,
        location: Location,
    },
    /// `errorfiles <name> [<status> ...]`: the pages of an `http-errors` section (all of
    /// them when no status is listed), resolved after parsing.
    Section {
        name: String,
        statuses: Vec<u16>,
        location: Location,
    },
    /// `http-error status <code> default-errorfiles`: no page of this proxy for the
    /// status (an inherited one is dropped): the next proxy's, else the built-in one
    /// (added by "kw").
    Default { status: u16, location: Location },
    /// `http-error` with log-format parts (`lf-string`, `lf-file`, a `hdr` value with
    /// `%`): rendered for each response (added by "kw").
    Reply(HttpErrorReply),
}

/// An `http-error` reply rendered per response (added by "kw").
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpErrorReply {
    pub status: u16,
    pub content_type: Option<String>,
    /// The payload: literal bytes, or a log-format string when `body_is_format`.
    pub body: Vec<u8>,
    pub body_is_format: bool,
    /// `hdr <name> <fmt>` fields, in order (names lower-cased).
    pub headers: Vec<(String, String)>,
    pub location: Location,
}

/// An `http-errors <name>` section.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpErrorsSection {
    pub name: String,
    pub files: Vec<ErrorFile>,
    pub location: Location,
}

/// Which list an HTTP rule line goes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HttpRuleList {
    Request,
    Response,
    AfterResponse,
}

/// One `http-request|http-response|http-after-response <action> [args] [if|unless cond]`
/// line, checked when parsed and compiled by `http::rules::HttpRules::compile`.
#[derive(Clone, Debug)]
pub struct HttpRuleConf {
    pub list: HttpRuleList,
    /// The action and its arguments: the words before `if`/`unless`.
    pub action: Vec<String>,
    pub cond: Option<Condition>,
    pub location: Location,
    /// A `redirect` line (`action` starts with `redirect`): it runs after the
    /// proxy's `http-request` rules, wherever it is written.
    pub redirect_keyword: bool,
}

/// Which list a TCP rule line goes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TcpRuleList {
    /// `tcp-request connection`.
    Connection,
    /// `tcp-request content`.
    Content,
    /// `tcp-response content`.
    ResponseContent,
}

/// What a TCP rule does.
#[derive(Clone, Debug, PartialEq)]
pub enum TcpAction {
    Accept,
    Reject,
    /// `silent-drop`: close the client connection without telling the client
    /// (`crate::sys::sockopt::silent_drop`).
    SilentDrop,
    /// `tcp-response content close`.
    Close,
    /// `set-var(name) <expr>`: the expression text, checked when parsed.
    SetVar { name: String, expr: String },
    /// `unset-var(name)`.
    UnsetVar { name: String },
    /// `tcp-request content use-service lua.<name>`: a Lua TCP service takes the
    /// connection (`name` as written, with its `lua.` prefix).
    UseService { name: String },
    /// `lua.<name> [args...]` (`tcp-request content`, `tcp-response content`): an
    /// action of `core.register_action`, resolved once the Lua files ran.
    Lua { name: String, args: Vec<String> },
    /// `track-sc<N>`, `sc-inc-gpc0(<N>)`, `sc-inc-gpc1(<N>)`, `sc-set-gpt0(<N>)` (added
    /// for stick tables): the words of the action, checked when parsed, and the
    /// proxy whose table is the default one.
    StickCounter { words: Vec<String>, proxy: String },
    /// `set-src|set-dst|set-src-port|set-dst-port <expr>` (`tcp-request connection`
    /// and `content`): the keyword and the expression text, checked when parsed.
    SetAddr { keyword: String, expr: String },
    /// `set-mark <n>`, `set-tos <n>`: an option of the client socket.
    SockOpt(crate::stream::sockopt_action::SockOpt),
    /// `set-nice <n>` (`content` rules): accepted without effect.
    SetNice(i32),
    /// `tcp-request content` / `tcp-response content send-spoe-group <engine> <group>`
    /// (added for SPOE).
    SendSpoeGroup { engine: String, group: String },
    /// `tcp-request content do-resolve(<var>,<resolvers>[,ipv4|ipv6]) <expr>`: the
    /// words of the action, checked when parsed (`crate::stream::resolve`).
    DoResolve { words: Vec<String> },
    /// `tcp-request content set-priority-class|offset <expr>`: the expression text,
    /// checked when parsed.
    SetPriority { offset: bool, expr: String },
}

/// One `tcp-request connection|content` or `tcp-response content` rule, or the
/// `inspect-delay` of a list (`delay` set, `action` None).
#[derive(Clone, Debug)]
pub struct TcpRuleConf {
    pub list: TcpRuleList,
    pub action: Option<TcpAction>,
    /// `tcp-request inspect-delay` / `tcp-response inspect-delay`.
    pub delay: Option<Duration>,
    pub cond: Option<Condition>,
    pub location: Location,
}

/// A reference to another section by name, checked after parsing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NamedRef {
    pub name: String,
    pub location: Location,
}

#[derive(Clone, Debug, Default)]
pub struct ProxyOptions {
    pub tcplog: bool,
    pub httplog: bool,
    pub dontlognull: bool,
    pub redispatch: bool,
    /// `option redispatch [<interval>]`: N > 0 redispatches on every Nth retry, N < -1 on the
    /// Nth retry from the end, 0 disables. -1 (the default) is documented by HAProxy as "the
    /// last retry" but HAProxy 2.6 redispatches on every retry, and so do we.
    pub redispatch_interval: i32,
    pub log_separate_errors: bool,
    pub tcpka: bool,
    pub clitcpka: bool,
    pub srvtcpka: bool,
    pub splice_auto: bool,
    pub nolinger: bool,
    pub abortonclose: bool,
    pub log_health_checks: bool,
    pub allbackups: bool,
    /// `option persist`: a persistence cookie still directs requests to a server that
    /// is down (added for cookie persistence).
    pub persist: bool,
    /// `option transparent`: a backend without servers connects to the address the
    /// client connected to (`config::parse::server_extra::finish_dispatch`).
    pub transparent: bool,
    /// HTTP-mode options (`option httpclose`, `forwardfor` ...), added for issue 5.
    pub http: HttpOptions,
    /// `clitcpka-cnt|idle|intvl`: keep-alive probes of client connections (with
    /// `option clitcpka` or `tcpka`), added by "kw".
    pub clitcpka_probes: TcpKeepalive,
    /// `srvtcpka-cnt|idle|intvl`: the same for server connections.
    pub srvtcpka_probes: TcpKeepalive,
    /// `option h1-case-adjust-bogus-client` / `-server`: the `h1-case-adjust` names on
    /// responses to clients / requests to servers (added by "kw").
    pub h1_case_adjust_bogus_client: bool,
    pub h1_case_adjust_bogus_server: bool,
    /// `option dontlog-normal`: only transactions that failed, were retried or got a
    /// 5xx are logged (added by "fmt", see [`crate::log::StreamLog::is_error`]).
    pub dontlog_normal: bool,
    /// `option http-ignore-probes`: a connection closed or timed out before its first
    /// byte gets neither a 408 nor a log line (added by "fmt").
    pub http_ignore_probes: bool,
    /// `option disable-h2-upgrade`: an HTTP/1 connection starting with the HTTP/2
    /// preface is not switched to HTTP/2 (ALPN `h2` and `proto h2` still are).
    pub disable_h2_upgrade: bool,
    /// `option idle-close-on-response`: on soft-stop, an idle kept-alive client
    /// connection stays until its next response, which closes it (added by "fmt").
    pub idle_close_on_response: bool,
    /// `option prefer-last-server`: the server of the connection the previous request
    /// left idle takes the next one (added by "fmt").
    pub prefer_last_server: bool,
    /// `option logasap`: an HTTP transaction is logged when its response head goes
    /// out, with the times and bytes so far (added by "fmt").
    pub logasap: bool,
    /// `option http-restrict-req-hdr-names` (added by "fmt").
    pub restrict_req_hdr_names: HdrNamesPolicy,
    /// `option accept-invalid-http-request` / `-response`: the head parsers' relaxed
    /// mode, see [`crate::http::h1::Strictness`] (added by "httpopts").
    pub accept_invalid_http_request: bool,
    pub accept_invalid_http_response: bool,
    /// `option checkcache`: a cacheable response carrying `Set-Cookie` is blocked
    /// (502), see [`crate::http::proxy_options::checkcache_blocks`] (added by "httpopts").
    pub checkcache: bool,
    /// `option independent-streams`: accepted, no effect (doc/config.md; "httpopts").
    pub independent_streams: bool,
}

/// `option http-restrict-req-hdr-names preserve|delete|reject`: what becomes of request
/// headers whose names hold other characters than letters, digits and `-` (added by "fmt").
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum HdrNamesPolicy {
    /// Forwarded as they are (the default).
    #[default]
    Preserve,
    /// Removed before the `http-request` rules.
    Delete,
    /// The request is answered 403.
    Reject,
}

/// TCP keep-alive probe settings (TCP_KEEPCNT, TCP_KEEPIDLE, TCP_KEEPINTVL); `None`:
/// the kernel's default (added by "kw").
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TcpKeepalive {
    /// Unanswered probes before the connection is dropped.
    pub cnt: Option<u32>,
    /// Idle time before the first probe (whole seconds).
    pub idle: Option<Duration>,
    /// Time between probes (whole seconds).
    pub intvl: Option<Duration>,
}

/// How an HTTP proxy treats connections between transactions: `option http-keep-alive`
/// (the default), `http-server-close`, `httpclose`. The last one set in a section wins;
/// a frontend and a backend combine to the most closing of the two.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub enum HttpConnMode {
    /// Both sides stay open between transactions.
    #[default]
    KeepAlive,
    /// The client side stays open; the server connection closes after each response.
    ServerClose,
    /// Both sides close after each transaction.
    Close,
}

/// `option forwardfor [except <net>] [header <name>] [if-none]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ForwardFor {
    /// The header to add (`X-Forwarded-For` by default).
    pub header: String,
    /// Clients in this network get no header (`except`): address and prefix length.
    pub except: Option<(std::net::IpAddr, u8)>,
    /// Add the header only when the request has none (`if-none`).
    pub if_none: bool,
}

/// `option originalto [except <net>] [header <name>]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OriginalTo {
    /// The header to add (`X-Original-To` by default).
    pub header: String,
    /// Destinations in this network get no header.
    pub except: Option<(std::net::IpAddr, u8)>,
}

/// The HTTP-mode options of a proxy.
#[derive(Clone, Debug, Default)]
pub struct HttpOptions {
    /// `option http-keep-alive` / `http-server-close` / `httpclose`; `None`: not set
    /// in this section (keep-alive).
    pub conn_mode: Option<HttpConnMode>,
    /// `option http-pretend-keepalive`: do not announce `Connection: close` to the server.
    pub pretend_keepalive: bool,
    pub forwardfor: Option<ForwardFor>,
    pub originalto: Option<OriginalTo>,
    /// `option http-buffer-request`.
    pub buffer_request: bool,
    /// `http-send-name-header <name>` (backends): the name of the server a request goes
    /// to, in this request header, replacing any the client sent (added by "kw").
    pub send_name_header: Option<String>,
}

/// The timeouts a proxy knows. `None`: not set (infinite, with HAProxy's warning).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Timeouts {
    pub connect: Option<Duration>,
    pub client: Option<Duration>,
    pub server: Option<Duration>,
    pub tunnel: Option<Duration>,
    pub client_fin: Option<Duration>,
    pub server_fin: Option<Duration>,
    pub queue: Option<Duration>,
    pub check: Option<Duration>,
    pub http_request: Option<Duration>,
    pub http_keep_alive: Option<Duration>,
    pub tarpit: Option<Duration>,
}

/// One `bind` line.
#[derive(Clone, Debug)]
pub struct Bind {
    pub location: Location,
    /// One `bind` line may list several addresses and port ranges.
    pub addrs: Vec<BindAddr>,
    pub name: Option<String>,
    pub maxconn: Option<u32>,
    pub backlog: Option<u32>,
    pub v4v6: bool,
    pub v6only: bool,
    pub reuseport: bool,
    /// Unix sockets: permissions and ownership.
    pub mode: Option<u32>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    /// `ssl crt ...`: the TLS this bind terminates (`crate::tls`).
    pub tls: Option<crate::tls::BindTls>,
    /// `accept-proxy`: connections start with a PROXY protocol header (v1 or v2).
    pub accept_proxy: bool,
    /// `mss`, `interface`, `transparent`, `defer-accept`, `tfo`, `id`.
    pub tuning: BindTuning,
}

/// Settings of a `bind` line's listening socket.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BindTuning {
    /// `mss <size>` (`TCP_MAXSEG`).
    pub mss: Option<u32>,
    /// `interface <name>` (`SO_BINDTODEVICE`).
    pub interface: Option<String>,
    /// `transparent` (`IP_TRANSPARENT`, needs CAP_NET_ADMIN).
    pub transparent: bool,
    /// `defer-accept`: parsed; no effect yet.
    pub defer_accept: bool,
    /// `tfo`: `TCP_FASTOPEN` on the listening socket.
    pub tfo: bool,
    /// `proto h2`: connections speak HTTP/2 from their first byte (doc/http.md).
    pub proto_h2: bool,
    /// `id <n>`: the listener's id.
    pub id: Option<u32>,
    /// `tcp-ut <delay>`: `TCP_USER_TIMEOUT` on the listening socket, inherited by
    /// the accepted connections (added by "misc").
    pub tcp_ut: Option<Duration>,
    /// `accept-netscaler-cip <magic>`: connections start with a NetScaler Client IP
    /// insertion header carrying this magic number (added by "misc").
    pub netscaler_cip: Option<u32>,
}

impl Bind {
    /// A `bind` line with these addresses and every option at its default.
    pub fn new(location: Location, addrs: Vec<BindAddr>) -> Bind {
        Bind {
            location,
            addrs,
            name: None,
            maxconn: None,
            backlog: None,
            v4v6: false,
            v6only: false,
            reuseport: false,
            mode: None,
            uid: None,
            gid: None,
            tls: None,
            accept_proxy: false,
            tuning: BindTuning::default(),
        }
    }
}

/// An address that can be listened on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BindAddr {
    /// IPv4/IPv6 address and port (ranges are expanded by the parser).
    Inet(SocketAddr),
    /// `unix@path` or an absolute path.
    Unix(PathBuf),
    /// `abns@name`: Linux abstract namespace.
    Abstract(String),
    /// `fd@N`: an inherited listening socket.
    Fd(i32),
}

#[derive(Clone, Debug)]
pub struct UseBackend {
    pub backend: NamedRef,
    pub cond: Option<Condition>,
}

/// `use-server <server> if|unless <cond>`: the first rule whose condition holds sends
/// the request to its server, before cookies and load balancing.
#[derive(Clone, Debug)]
pub struct UseServer {
    pub server: String,
    pub cond: Condition,
}

/// `if|unless` followed by ACL terms: an OR of AND groups, each term possibly negated.
#[derive(Clone, Debug, PartialEq)]
pub struct Condition {
    pub unless: bool,
    /// Outer Vec: `||`; inner Vec: implicit AND.
    pub or_groups: Vec<Vec<CondTerm>>,
    pub location: Location,
}

#[derive(Clone, Debug, PartialEq)]
pub struct CondTerm {
    pub negate: bool,
    pub acl: AclRef,
    /// The ACL's fetch cannot run where the condition is used (`path` in an
    /// `http-response` rule): as in HAProxy, which warns that it "will never match",
    /// the term sees no sample, so it is false (true when negated).
    pub unusable: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub enum AclRef {
    /// A named ACL declared in the section (several `acl` lines with one name are ORed).
    Named(String),
    /// A predefined ACL (`TRUE`, `FALSE`, ...).
    Predefined(PredefinedAcl),
    /// An anonymous `{ fetch [flags] patterns }` ACL.
    Anonymous(Box<AclExpr>),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PredefinedAcl {
    True,
    False,
    LocalHost,
}

/// `acl <name> <criterion> [flags] [operator] <value> ...`
#[derive(Clone, Debug, PartialEq)]
pub struct Acl {
    pub name: String,
    pub expr: AclExpr,
    pub location: Location,
}

/// A sample fetch with its converters, a match method and the patterns.
#[derive(Clone, Debug, PartialEq)]
pub struct AclExpr {
    pub fetch: String,
    pub fetch_args: Vec<String>,
    pub converters: Vec<(String, Vec<String>)>,
    pub method: MatchMethod,
    pub ignore_case: bool,
    /// The patterns written on the line.
    pub patterns: Vec<String>,
    /// The sample expression as compiled (`req.hdr(host),lower`): ACL keywords such as
    /// `path_beg` resolved to their fetch (`path`). Empty: built from the fields above.
    pub sample: String,
    /// `-f` pattern files (checked while parsing), matched through the process-wide
    /// pattern store so that `core.add_acl` / `del_acl` (and the CLI) change them.
    pub files: Vec<String>,
    /// `-M`: the `-f` files are maps, their keys are the patterns.
    pub files_are_maps: bool,
    /// The keyword as written (`path_beg`, `hdr_sub`), for messages; `None`: `fetch`.
    pub keyword: Option<String>,
}

/// ACL match methods (`-m str`, `-m ip`...): the sample module's, re-exported so the
/// parsed configuration and the matcher use one enum.
pub use crate::sample::Method as MatchMethod;

/// `balance` algorithms.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Balance {
    #[default]
    RoundRobin,
    StaticRr,
    LeastConn,
    First,
    Source,
    /// `uri [whole] [len N] [depth N] [path-only]`: a hash of the request target.
    Uri(UriHash),
    /// `url_param <name> [check_post]`: a hash of one query-string parameter's value.
    UrlParam { name: String },
    /// `hdr(<name>) [use_domain_only]`: a hash of a request header's value.
    Hdr { name: String, domain_only: bool },
    /// `random[(<draws>)]`: the least loaded of `draws` random weighted picks.
    Random { draws: u32 },
    /// `rdp-cookie[(<name>)]` (added by "httpgaps"): a hash of the RDP cookie `name`
    /// (`mstshash` by default) the client's first packet carries (TCP mode).
    RdpCookie { name: String },
}

/// The options of `balance uri`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UriHash {
    /// `whole`: hash the query string too.
    pub whole: bool,
    /// `len N`: hash at most the first N characters (0: no limit).
    pub len: u32,
    /// `depth N`: hash up to the Nth slash (0: no limit).
    pub depth: u32,
    /// `path-only`: leave out the scheme and authority of an absolute-form target.
    pub path_only: bool,
}

/// `hash-type <method> [<function>] [avalanche]`: how hash-based algorithms map a hash
/// to a server.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HashType {
    /// `consistent` (a ring of points per server) rather than `map-based` (the default).
    pub consistent: bool,
    pub function: HashFunction,
    /// `avalanche`: mix the hash before using it.
    pub avalanche: bool,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum HashFunction {
    #[default]
    Sdbm,
    Djb2,
    Wt6,
    Crc32,
}

/// One `server` line (after `default-server` values are applied).
#[derive(Clone, Debug)]
pub struct Server {
    pub name: String,
    pub location: Location,
    pub addr: ServerAddr,
    pub weight: u32,
    /// 0: unlimited.
    pub maxconn: u32,
    /// Waiting slots when `maxconn` is reached (`maxqueue`, 0: unlimited).
    pub maxqueue: u32,
    pub backup: bool,
    pub disabled: bool,
    pub check: Option<CheckParams>,
    /// `id` (numeric server id, assigned when absent).
    pub id: Option<u32>,
    /// `pool-max-conn`, `pool-purge-delay`, `max-reuse`: its idle HTTP connections.
    pub idle: IdlePoolConf,
    /// `cookie <value>`: the value of the persistence cookie that designates this
    /// server (added for cookie persistence).
    pub cookie: Option<String>,
    /// `ssl ...`: connections to this server are TLS (`crate::tls`).
    pub tls: Option<crate::tls::ServerTls>,
    /// `send-proxy`, `send-proxy-v2`, `proxy-v2-options`, `check-send-proxy`.
    pub send_proxy: SendProxy,
    /// `on-marked-down`, `on-marked-up`, `redir`, `non-stick`, `slowstart`.
    pub tuning: ServerTuning,
}

/// Server settings that change what happens around its state changes and requests.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServerTuning {
    /// `on-marked-down shutdown-sessions`: its streams are killed when it goes DOWN.
    pub down_shutdown_sessions: bool,
    /// `on-marked-up shutdown-backup-sessions`: the backup servers' streams are killed
    /// when it (an active server) comes UP.
    pub up_shutdown_backup_sessions: bool,
    /// `redir <prefix>`: GET and HEAD requests for it are answered with a 302 to
    /// `<prefix><uri>` instead of being forwarded.
    pub redir: Option<String>,
    /// `non-stick`: not stored in stick tables.
    pub non_stick: bool,
    /// `agent-check` and its `agent-*` settings.
    pub agent: AgentConf,
    /// `track [<backend>/]<server>`: its state follows that server's.
    pub track: Option<String>,
    /// `slowstart <time>`: after coming back UP, the weight grows linearly from
    /// almost nothing to its full value over this time.
    pub slowstart: Option<Duration>,
    /// `source ...`: the local address of its connections and health checks, its own
    /// or its backend's (added by "state").
    pub source: Option<SourceConf>,
    /// `observe layer4|layer7` (`None`: `observe none`, the default), with `on-error`
    /// and `error-limit` (added for health analysis, `crate::backend::observe`).
    pub observe: Option<ObserveMode>,
    /// `on-error`: what `error-limit` consecutive errors seen on traffic do.
    pub on_error: OnError,
    /// `error-limit <n>` (`None`: HAProxy's default, 10).
    pub error_limit: Option<u32>,
    /// `minconn <n>`: with the backend's `fullconn`, the server's limit grows from
    /// this to `maxconn` with the backend's load (added for dynamic maxconn).
    pub minconn: u32,
    /// `proto <name>`: the multiplexer of its connections; `fcgi` speaks FastCGI to it
    /// (added by "fcgi", src/http/fcgi/). `None`: HTTP/1 (or TCP).
    pub proto: Option<String>,
    /// `check-proto <name>`: the multiplexer of its HTTP checks' connections, in place
    /// of `proto`'s (`h2`: HTTP/2 from the first byte; `h1`: HTTP/1.1 whatever ALPN
    /// says).
    pub check_proto: Option<String>,
    /// `tcp-ut <delay>`: `TCP_USER_TIMEOUT` on its connections (added by "misc").
    pub tcp_ut: Option<Duration>,
    /// `tfo`: `TCP_FASTOPEN_CONNECT` on its connections (added by "misc").
    pub tfo: bool,
    /// `pool-low-conn <n>`: parsed (added by "misc"); see doc/config.md.
    pub pool_low_conn: Option<u32>,
    /// `socks4 <addr>:<port>`: its connections go through this SOCKS4 proxy
    /// (`crate::stream::socks4`).
    pub socks4: Option<std::net::SocketAddr>,
    /// `check-via-socks4`: its health checks too.
    pub check_via_socks4: bool,
}

/// `observe <mode>`: which traffic events count for a server's health.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ObserveMode {
    /// Connection attempts: established or failed.
    Layer4,
    /// HTTP responses (and connection failures): 5xx other than 501 and 505, invalid
    /// responses and servers closing before answering are errors.
    Layer7,
}

/// `on-error <mode>`: what enough consecutive errors do to the server's health check.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OnError {
    /// The next check comes after `fastinter`.
    FastInter,
    /// As a failed check (and `fastinter`). HAProxy's default.
    #[default]
    FailCheck,
    /// As a failed check that leaves one more failure before DOWN.
    SuddenDeath,
    /// The server goes DOWN at once.
    MarkDown,
}

/// An agent check: a TCP connection to the server's agent, which answers one line
/// (`75%`, `up`, `down #reason`, `drain`, `maint`, `ready` ...).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AgentConf {
    /// `agent-check` (`no-agent-check` clears it).
    pub enabled: bool,
    /// `agent-port` (required).
    pub port: Option<u16>,
    /// `agent-inter` (default: the server's `inter`).
    pub inter: Option<Duration>,
    /// `agent-addr` (default: the server's address).
    pub addr: Option<std::net::IpAddr>,
    /// `agent-send`: written once connected.
    pub send: Option<String>,
}

/// The PROXY protocol header a server's connections start with.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SendProxy {
    /// `send-proxy` (v1) or `send-proxy-v2`; `None`: no header.
    pub version: Option<crate::proxy_protocol::Version>,
    /// `proxy-v2-options`: the TLVs added to version 2 headers.
    pub v2_options: crate::proxy_protocol::V2Options,
    /// `check-send-proxy`: health checks send a header too.
    pub check: bool,
}

/// How many idle HTTP connections a server keeps, and for how long
/// (`pool-max-conn`, `pool-purge-delay`, `max-reuse` on its `server` line).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdlePoolConf {
    /// `pool-max-conn`: `None` (-1, the default) for no limit; 0 keeps no idle
    /// connection at all, not even for the next request of the same client.
    pub max_conn: Option<u32>,
    /// `pool-purge-delay` (default 5 s): an idle connection unused this long is closed.
    pub purge_delay: std::time::Duration,
    /// `max-reuse` (`None`: -1, unlimited). Parsed; like HAProxy 2.6 it only bounds
    /// multiplexed protocols, so it changes nothing for HTTP/1 connections.
    pub max_reuse: Option<u32>,
}

impl Default for IdlePoolConf {
    fn default() -> Self {
        IdlePoolConf { max_conn: None, purge_delay: std::time::Duration::from_secs(5), max_reuse: None }
    }
}

/// `http-reuse`: which idle server connections a request may be sent over.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum HttpReuse {
    /// An idle connection serves only the client that opened it.
    Never,
    /// The first request of a client gets its own connection; later ones may take any
    /// idle connection (the default).
    #[default]
    Safe,
    /// Like `safe`, and a first request may take a connection that was reused already.
    Aggressive,
    /// Any request may take any idle connection.
    Always,
}

impl Server {
    /// A `server` line with HAProxy's defaults: weight 1, no limits, active, no checks.
    pub fn new(name: impl Into<String>, location: Location, addr: ServerAddr) -> Server {
        Server {
            name: name.into(),
            location,
            addr,
            weight: 1,
            maxconn: 0,
            maxqueue: 0,
            backup: false,
            disabled: false,
            check: None,
            id: None,
            idle: IdlePoolConf::default(),
            cookie: None,
            tls: None,
            send_proxy: SendProxy::default(),
            tuning: ServerTuning::default(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ServerAddr {
    /// Address and port. The port may be absent (`None`, or `:0`, `:+0`): then the
    /// client's destination port is used.
    Inet { ip: std::net::IpAddr, port: Option<u16> },
    /// `ip:+N` / `ip:-N`: the client's destination port moved by `offset` (HAProxy's
    /// mapped ports, wrapping at 65536).
    PortOffset { ip: std::net::IpAddr, offset: i32 },
    /// A host name resolved at start-up (kept for messages).
    Resolved { host: String, addr: SocketAddr },
    Unix(PathBuf),
    Abstract(String),
}

/// `check` with its `inter/fastinter/downinter/rise/fall/port/addr` settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckParams {
    pub inter: Duration,
    pub fastinter: Option<Duration>,
    pub downinter: Option<Duration>,
    pub rise: u32,
    pub fall: u32,
    pub port: Option<u16>,
    pub addr: Option<std::net::IpAddr>,
}

impl Default for CheckParams {
    fn default() -> Self {
        CheckParams {
            inter: Duration::from_secs(2),
            fastinter: None,
            downinter: None,
            rise: 2,
            fall: 3,
            port: None,
            addr: None,
        }
    }
}

/// An HTTP health check: `option httpchk [<method> <uri> [<version>]]` completed by
/// `http-check send` and `http-check expect` (HAProxy 2.6 semantics).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpCheck {
    /// `option httpchk` was given (here or in `defaults`): without it the `http-check`
    /// rules are ignored, with HAProxy's warning, and checks stay TCP checks.
    pub enabled: bool,
    /// A request is sent (`option httpchk` or `http-check send` in the rule set); a
    /// rule set of only `expect` rules sends nothing and waits for the server.
    pub send: bool,
    /// Request method, `OPTIONS` by default.
    pub method: String,
    /// Request target, `/` by default.
    pub uri: String,
    /// Request version, `HTTP/1.0` by default.
    pub version: String,
    /// Extra header fields, in order (`http-check send hdr`, or the pre-2.2 form hidden
    /// after `\r\n` in the version of `option httpchk`).
    pub headers: Vec<(String, String)>,
    /// Request body (`http-check send body`); a `content-length` is added when set.
    pub body: String,
    /// `http-check expect` rules, all of which must match; none: status 2xx or 3xx.
    pub expects: Vec<HttpCheckExpect>,
    /// `http-check disable-on-404`.
    pub disable_on_404: bool,
    /// `http-check connect port <n>`: probe this port instead of the server's.
    pub connect_port: Option<u16>,
    /// The most bytes of a response the check reads: `tune.bufsize`, filled in after
    /// parsing (HAProxy reads one buffer).
    pub response_limit: usize,
    /// The rules came from a `defaults` section: a proxy's own first `http-check`
    /// `send`/`expect`/`connect` line replaces them instead of adding to them.
    pub inherited: bool,
}

impl Default for HttpCheck {
    fn default() -> Self {
        HttpCheck {
            enabled: false,
            send: false,
            method: "OPTIONS".into(),
            uri: "/".into(),
            version: "HTTP/1.0".into(),
            headers: Vec::new(),
            body: String::new(),
            expects: Vec::new(),
            disable_on_404: false,
            connect_port: None,
            response_limit: 16384,
            inherited: false,
        }
    }
}

/// One `http-check expect [!] <match> <pattern>` rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpCheckExpect {
    /// `!`: the rule passes when the match fails.
    pub negate: bool,
    pub kind: HttpCheckMatch,
}

/// What an `http-check expect` rule looks at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HttpCheckMatch {
    /// `status <codes>`: a comma-separated list of codes and `lo-hi` ranges.
    Status(Vec<(u16, u16)>),
    /// `rstatus <regex>` on the three status digits.
    RStatus(String),
    /// `string <text>` found in the body.
    String(String),
    /// `rstring <regex>` matching the body.
    RString(String),
}

/// A `log` line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogTarget {
    pub location: Location,
    pub dest: LogDest,
    pub format: LogWireFormat,
    /// Truncate lines longer than this (`len`), default 1024.
    pub maxlen: usize,
    pub facility: Facility,
    /// Only messages at this level or more urgent are sent.
    pub max_level: Level,
    /// Messages more urgent than this are lowered to it (HAProxy's minimum level).
    pub min_level: Option<Level>,
    /// `sample <ranges>:<size>`, kept as text.
    pub sample: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LogDest {
    Stdout,
    Stderr,
    /// `fd@N`.
    Fd(i32),
    Udp(SocketAddr),
    /// `/dev/log` or another unix datagram socket.
    Unix(PathBuf),
    /// `ring@<name>`: a `ring` section's buffer.
    Ring(String),
    /// `tcp@<addr>` as parsed; the post-parse checks turn each into a [`LogDest::Ring`]
    /// naming the ring made for its line, as HAProxy does.
    Tcp(SocketAddr),
}

/// How a log line is framed on the wire (`format` on a `log` line).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LogWireFormat {
    /// No `format` on the `log` line: RFC 3164 framing, with a host field only when
    /// `log-send-hostname` is set (HAProxy 2.6 writes none otherwise, where an explicit
    /// `format rfc3164` writes `localhost`). Added by "fmt".
    #[default]
    Default,
    Rfc3164,
    Rfc5424,
    Raw,
    Short,
    Timed,
    Iso,
    Local,
    Priority,
}

/// Syslog facilities, numbered as in RFC 5424.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Facility {
    Kern = 0,
    User,
    Mail,
    Daemon,
    Auth,
    Syslog,
    Lpr,
    News,
    Uucp,
    Cron,
    Auth2,
    Ftp,
    Ntp,
    Audit,
    Alert,
    Cron2,
    Local0,
    Local1,
    Local2,
    Local3,
    Local4,
    Local5,
    Local6,
    Local7,
}

/// Syslog severities, most urgent first (numbering as in RFC 5424).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Emerg = 0,
    Alert,
    Crit,
    Err,
    Warning,
    Notice,
    Info,
    Debug,
}

/// The global switches external checks need (added by "extcheck").
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExternalCheckGlobal {
    /// `external-check`: without it, `option external-check` is refused.
    pub enabled: bool,
    /// `insecure-fork-wanted`: without it HAProxy warns that the checks will likely fail.
    pub insecure_fork_wanted: bool,
}

/// A proxy's external check (added by "extcheck").
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExternalCheck {
    /// `option external-check` is the proxy's health check (the last check option wins).
    pub enabled: bool,
    /// `external-check command <path>`.
    pub command: Option<String>,
    /// `external-check path <PATH>`: the `PATH` the command sees (default empty).
    pub path: Option<String>,
    /// Where the `command` was set, for the warning when it is unused.
    pub command_location: Option<Location>,
}

/// A `program <name>` section: a command the master of master-worker mode runs and
/// watches beside its worker.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Program {
    pub name: String,
    pub location: Location,
    /// `command <command> [<argument>*]`: run without a shell.
    pub command: Vec<String>,
    /// `user <name>`, `group <name>`: who it runs as (the master's user otherwise).
    pub user: Option<String>,
    pub group: Option<String>,
    /// `option start-on-reload` (the default): a reload starts a new instance and
    /// stops the old one; without it the running instance is kept.
    pub start_on_reload: bool,
}

/// A `ring <name>` section, or the ring HAProxy makes for a `log tcp@<addr>` line
/// (named `ring#N`): a bounded buffer of log lines that `show events` dumps and that
/// its servers receive over TCP (src/log/ring.rs).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ring {
    pub name: String,
    pub location: Location,
    /// `description` (`show events` lists it; the name when unset).
    pub description: Option<String>,
    /// `format`: how lines are framed in the buffer (default `raw`).
    pub format: LogWireFormat,
    /// `maxlen`: longer lines are cut to this many bytes.
    pub maxlen: usize,
    /// `size`: bytes of the buffer (16384 at least, as in HAProxy).
    pub size: usize,
    /// `timeout connect` for the servers (`None`: the system's).
    pub timeout_connect: Option<Duration>,
    /// `timeout server`: a server that takes longer to accept a line is disconnected
    /// (`None`: never).
    pub timeout_server: Option<Duration>,
    pub servers: Vec<RingServer>,
}

/// A `server` line of a `ring` section: a syslog server over TCP.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RingServer {
    pub name: String,
    pub location: Location,
    pub addr: SocketAddr,
    /// `log-proto octet-count` (RFC 6587 octet counting: `<len> <line>`); the default,
    /// `legacy`, ends each line with a newline.
    pub octet_count: bool,
}

/// A `mailers <name>` section (added by "extcheck": src/config/parse/mailers.rs).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mailers {
    pub name: String,
    pub location: Location,
    /// `mailer <name> <ip>:<port>` lines, in order.
    pub mailers: Vec<(String, SocketAddr)>,
    /// `timeout mail` (default 10s).
    pub timeout_mail: Duration,
}

/// A proxy's `email-alert` settings (added by "extcheck").
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EmailAlert {
    /// `email-alert mailers <name>`.
    pub mailers: Option<String>,
    /// `email-alert from <addr>`.
    pub from: Option<String>,
    /// `email-alert to <addr>`.
    pub to: Option<String>,
    /// `email-alert level <level>` as a syslog severity (default 1, `alert`).
    pub level: Option<u8>,
    /// `email-alert myhostname <name>` (default: the host name).
    pub myhostname: Option<String>,
    /// Where the first `email-alert` line was, for messages.
    pub location: Option<Location>,
}
