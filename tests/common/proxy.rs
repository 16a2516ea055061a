//! Running the proxy binary on a configuration string: placeholders, temporary directory,
//! start-up wait, captured output, signals, clean-up.

use super::{free_port, loopback, DEADLINE};
use std::collections::BTreeMap;
use std::fs;
use std::io::{BufRead, BufReader, Read};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How many times [`ProxyBuilder::start`] picks new ports after the proxy failed to bind one
/// (another process took it between our check and the proxy's bind).
const START_ATTEMPTS: usize = 5;

/// The placeholder that stands for the test's temporary directory (unix sockets, pid files,
/// extra configuration files).
const DIR_PLACEHOLDER: &str = "dir";

/// The moonproxy binary built by Cargo for this test run.
pub fn moonproxy_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_moonproxy"))
}

/// HAProxy, to run a configuration against the reference implementation: `$HAPROXY_BIN` if
/// set, else `haproxy` from `PATH`, else `/usr/sbin/haproxy` (not in a normal user's `PATH`).
/// `None` when none of these is an executable file.
pub fn haproxy_bin() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("HAPROXY_BIN") {
        return Some(PathBuf::from(path)).filter(|p| is_executable(p));
    }
    let in_path: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|paths| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join("haproxy"))
                .collect()
        })
        .unwrap_or_default();
    in_path
        .into_iter()
        .chain([PathBuf::from("/usr/sbin/haproxy")])
        .find(|p| is_executable(p))
}

/// The binaries a comparison test runs the same scenario on: moonproxy, then HAProxy when it
/// is installed (otherwise a note is printed; under `CI`, where `.ci/run` installs it, its
/// absence is a failure).
pub fn moonproxy_and_haproxy() -> Vec<PathBuf> {
    let mut bins = vec![moonproxy_bin()];
    match haproxy_bin() {
        Some(haproxy) => bins.push(haproxy),
        None => {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI must install haproxy (see .ci/run)"
            );
            eprintln!("note: haproxy is not installed; running moonproxy only");
        }
    }
    bins
}

/// Asserts that every binary's observations (from [`moonproxy_and_haproxy`], one list per
/// binary, in the same order) equal the first binary's, naming the two binaries and the
/// first observation that differs.
pub fn assert_runs_agree<T: PartialEq + std::fmt::Debug>(runs: &[(PathBuf, Vec<T>)]) {
    let Some(((first_bin, first), rest)) = runs.split_first() else { return };
    for (bin, seen) in rest {
        assert_eq!(first.len(), seen.len(), "{} vs {}: not as many observations\n{first:#?}\n{seen:#?}", first_bin.display(), bin.display());
        for (a, b) in first.iter().zip(seen) {
            assert_eq!(a, b, "{} vs {}", first_bin.display(), bin.display());
        }
    }
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Replaces every `{{name}}` in `template` (name: ASCII letters, digits, `_`) by
/// `value(name)`. Text that merely looks similar (`{{ x }}`, `{{`) is left as it is.
/// Errors name the first placeholder `value` has no value for.
pub fn render(template: &str, value: impl Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some((before, name, after)) = next_placeholder(rest) {
        out.push_str(before);
        match value(name) {
            Some(v) => out.push_str(&v),
            None => return Err(format!("no value for placeholder {{{{{name}}}}}")),
        }
        rest = after;
    }
    out.push_str(rest);
    Ok(out)
}

/// The names of the placeholders in `template`, in order of appearance, with repeats.
fn placeholders(template: &str) -> Vec<&str> {
    let mut names = Vec::new();
    let mut rest = template;
    while let Some((_, name, after)) = next_placeholder(rest) {
        names.push(name);
        rest = after;
    }
    names
}

/// Splits `s` around its first well-formed placeholder: (text before, name, text after).
fn next_placeholder(s: &str) -> Option<(&str, &str, &str)> {
    let mut from = 0;
    while let Some(open) = s[from..].find("{{").map(|i| i + from) {
        let name_start = open + 2;
        let name_len = s[name_start..]
            .bytes()
            .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_')
            .count();
        let name_end = name_start + name_len;
        if name_len > 0 && s[name_end..].starts_with("}}") {
            return Some((&s[..open], &s[name_start..name_end], &s[name_end + 2..]));
        }
        from = open + 1;
    }
    None
}

/// A unique directory under `std::env::temp_dir()`, removed on drop unless the thread is
/// panicking (then it is kept, and its path is printed, for a post-mortem).
struct TestDir {
    path: PathBuf,
}

impl TestDir {
    fn new() -> TestDir {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let base = std::env::temp_dir().join("moonproxy-tests");
        fs::create_dir_all(&base).expect("create the tests' temporary directory");
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        loop {
            let n = COUNTER.fetch_add(1, Ordering::Relaxed);
            let path = base.join(format!("{}-{n}-{nanos:09}", std::process::id()));
            match fs::create_dir(&path) {
                Ok(()) => return TestDir { path },
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => panic!("cannot create {}: {e}", path.display()),
            }
        }
    }
}

impl Drop for TestDir {
    fn drop(&mut self) {
        if thread::panicking() {
            eprintln!("[harness] keeping {} for inspection", self.path.display());
        } else {
            let _ = fs::remove_dir_all(&self.path);
        }
    }
}

/// Which output stream of the process a [`Line`] came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    Stdout,
    Stderr,
}

/// One line of the process's output, without its line terminator (invalid UTF-8 replaced).
#[derive(Clone, Debug)]
pub struct Line {
    pub source: Source,
    pub text: String,
}

/// The lines read so far by the two reader threads, shared with the test thread.
#[derive(Default)]
struct Captured {
    state: Mutex<CapturedState>,
    changed: Condvar,
}

#[derive(Default)]
struct CapturedState {
    lines: Vec<Line>,
    /// Output streams not yet at end of file (2 while the process runs).
    open: usize,
}

impl Captured {
    /// Starts a thread that appends every line of `reader` to `self`.
    fn follow(self: &Arc<Self>, reader: impl Read + Send + 'static, source: Source) {
        self.state.lock().unwrap().open += 1;
        let captured = Arc::clone(self);
        thread::Builder::new()
            .name(format!("harness-{source:?}").to_lowercase())
            .spawn(move || {
                let mut reader = BufReader::new(reader);
                let mut buf = Vec::new();
                loop {
                    buf.clear();
                    match reader.read_until(b'\n', &mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(_) => {
                            while buf.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
                                buf.pop();
                            }
                            let text = String::from_utf8_lossy(&buf).into_owned();
                            captured
                                .state
                                .lock()
                                .unwrap()
                                .lines
                                .push(Line { source, text });
                            captured.changed.notify_all();
                        }
                    }
                }
                captured.state.lock().unwrap().open -= 1;
                captured.changed.notify_all();
            })
            .expect("spawn an output reader thread");
    }

    /// Waits for a line at index `from` or later that satisfies `pred`; returns its index and
    /// text. `None` after `timeout`, or as soon as both streams are closed with no match.
    fn wait_for(
        &self,
        from: usize,
        pred: &dyn Fn(&str) -> bool,
        timeout: Duration,
    ) -> Option<(usize, String)> {
        let deadline = Instant::now() + timeout;
        let mut state = self.state.lock().unwrap();
        let mut checked = from;
        loop {
            if let Some(i) = (checked..state.lines.len()).find(|&i| pred(&state.lines[i].text)) {
                return Some((i, state.lines[i].text.clone()));
            }
            checked = checked.max(state.lines.len());
            let now = Instant::now();
            if state.open == 0 || now >= deadline {
                return None;
            }
            state = self.changed.wait_timeout(state, deadline - now).unwrap().0;
        }
    }

    /// Waits (at most `timeout`) until both streams reached end of file.
    fn wait_closed(&self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        let mut state = self.state.lock().unwrap();
        while state.open > 0 {
            let now = Instant::now();
            if now >= deadline {
                return;
            }
            state = self.changed.wait_timeout(state, deadline - now).unwrap().0;
        }
    }

    fn lines(&self) -> Vec<Line> {
        self.state.lock().unwrap().lines.clone()
    }

    /// Every line, prefixed with `out|` or `err|`, for failure messages.
    fn dump(&self) -> String {
        let state = self.state.lock().unwrap();
        if state.lines.is_empty() {
            return "    (no output)\n".to_string();
        }
        state
            .lines
            .iter()
            .map(|l| {
                let tag = if l.source == Source::Stdout {
                    "out"
                } else {
                    "err"
                };
                format!("    {tag}| {}\n", l.text)
            })
            .collect()
    }
}

/// Describes one run of the proxy binary; [`start`](Self::start) it (a long-running proxy) or
/// [`run`](Self::run) it to completion (`-c`, `-cc`, a configuration that must be refused).
///
/// The command line is `<bin> <flags...> -f <dir>/proxy.cfg <args...>`, with flags `-db` by
/// default. Placeholders `{{name}}` are replaced in the configuration, in extra files and in
/// flags and arguments:
///
/// - `{{dir}}`: the run's temporary directory;
/// - a name given a value with [`var`](Self::var) or [`port`](Self::port): that value (use it
///   for backends' ports);
/// - a name given with [`free_port`](Self::free_port): a free port nobody listens on (a dead
///   server);
/// - any other name: a free port the proxy is expected to listen on; `start` returns only once
///   every such port accepts connections.
///
/// ```ignore
/// let echo = Backend::start(Behaviour::Echo);
/// let proxy = ProxyBuilder::new("
///     defaults
///         mode tcp
///         timeout connect 5s
///         timeout client 5s
///         timeout server 5s
///     listen fe
///         bind 127.0.0.1:{{fe}}
///         server s1 127.0.0.1:{{be}}
/// ").port("be", echo.port()).start();
/// let mut client = proxy.connect("fe");
/// ```
#[derive(Clone, Debug)]
pub struct ProxyBuilder {
    bin: PathBuf,
    config: Option<String>,
    files: Vec<(PathBuf, String)>,
    flags: Vec<String>,
    args: Vec<String>,
    vars: BTreeMap<String, String>,
    free_ports: Vec<String>,
    env: Vec<(String, String)>,
    timeout: Duration,
}

impl ProxyBuilder {
    /// moonproxy on `config` (a configuration in HAProxy's language, with placeholders).
    pub fn new(config: &str) -> ProxyBuilder {
        ProxyBuilder {
            config: Some(config.to_string()),
            ..ProxyBuilder::no_config()
        }
    }

    /// moonproxy with no `-f` at all (for `-v`, `-vv`, usage errors).
    pub fn no_config() -> ProxyBuilder {
        ProxyBuilder {
            bin: moonproxy_bin(),
            config: None,
            files: Vec::new(),
            flags: vec!["-db".to_string()],
            args: Vec::new(),
            vars: BTreeMap::new(),
            free_ports: Vec::new(),
            env: Vec::new(),
            timeout: DEADLINE,
        }
    }

    /// Runs another binary with the same command line, e.g. [`haproxy_bin`].
    pub fn bin(mut self, bin: impl Into<PathBuf>) -> Self {
        self.bin = bin.into();
        self
    }

    /// Replaces the flags placed before `-f` (default: `-db`).
    pub fn flags<S: AsRef<str>>(mut self, flags: impl IntoIterator<Item = S>) -> Self {
        self.flags = flags.into_iter().map(|s| s.as_ref().to_string()).collect();
        self
    }

    /// Appends an argument after `-f <config>` (e.g. a second `-f {{dir}}/more.cfg`).
    pub fn arg(mut self, arg: &str) -> Self {
        self.args.push(arg.to_string());
        self
    }

    /// Writes one more file, placeholders replaced, at `{{dir}}/<relative_path>`. Unlike the
    /// main configuration (which gets a final LF if it lacks one), it is written as given.
    pub fn file(mut self, relative_path: &str, contents: &str) -> Self {
        self.files
            .push((PathBuf::from(relative_path), contents.to_string()));
        self
    }

    /// Gives `{{name}}` a fixed value.
    pub fn var(mut self, name: &str, value: impl ToString) -> Self {
        self.vars.insert(name.to_string(), value.to_string());
        self
    }

    /// Gives `{{name}}` a port number, typically a [`Backend`](super::Backend)'s.
    pub fn port(self, name: &str, port: u16) -> Self {
        self.var(name, port)
    }

    /// Gives `{{name}}` a port that was free when the run started and that nobody is expected
    /// to listen on (connections to it are refused).
    pub fn free_port(mut self, name: &str) -> Self {
        self.free_ports.push(name.to_string());
        self
    }

    /// Sets an environment variable for the process (it inherits the test's environment).
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.to_string(), value.to_string()));
        self
    }

    /// Changes the start-up (and [`run`](Self::run)) deadline, [`DEADLINE`] by default.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Starts the process and returns once every port it should listen on accepts
    /// connections. Panics, with the process's output, if it exits or does not listen in
    /// time. When it exits because a port was taken meanwhile, starts again on new ports.
    /// Listeners without a port placeholder (unix sockets) are not waited for: use
    /// [`Proxy::wait_for_path`].
    pub fn start(self) -> Proxy {
        for attempt in 1..=START_ATTEMPTS {
            let mut proxy = self.spawn();
            let listen: Vec<u16> = proxy
                .ports
                .iter()
                .filter(|(name, _)| !self.free_ports.contains(name))
                .map(|(_, port)| *port)
                .collect();
            match proxy.wait_listening(&listen, self.timeout) {
                Ok(()) => {
                    proxy.holds.clear();
                    return proxy;
                }
                Err(StartError::Exited(_))
                    if attempt < START_ATTEMPTS && proxy.lost_bind_race(&listen) =>
                {
                    eprintln!("[harness] a port was taken before the proxy bound it; retrying");
                    continue;
                }
                Err(e) => panic!(
                    "{} did not start: {e}\n{}",
                    self.bin.display(),
                    proxy.report()
                ),
            }
        }
        unreachable!("the last attempt returns or panics")
    }

    /// Starts the process without waiting for anything (it may exit at once).
    pub fn spawn(&self) -> Proxy {
        let dir = TestDir::new();
        let (ports, holds) = self.pick_ports();
        let value = |name: &str| -> Option<String> {
            if name == DIR_PLACEHOLDER {
                return Some(dir.path.display().to_string());
            }
            self.vars
                .get(name)
                .cloned()
                .or_else(|| ports.get(name).map(u16::to_string))
        };
        let fill = |text: &str| render(text, value).unwrap_or_else(|e| panic!("{e} in {text:?}"));

        let mut command = Command::new(&self.bin);
        command.args(self.flags.iter().map(|f| fill(f)));
        let config_path = dir.path.join("proxy.cfg");
        if let Some(config) = &self.config {
            let mut text = fill(config);
            // HAProxy refuses a last line without LF; an indented test string often lacks one.
            if !text.ends_with('\n') {
                text.push('\n');
            }
            fs::write(&config_path, text).expect("write the configuration");
            command.arg("-f").arg(&config_path);
        }
        for (path, contents) in &self.files {
            let path = dir.path.join(path);
            if let Some(parent) = path.parent() {
                fs::create_dir_all(parent).expect("create a directory for an extra file");
            }
            fs::write(&path, fill(contents)).expect("write an extra file");
        }
        command.args(self.args.iter().map(|a| fill(a)));
        command.envs(self.env.iter().map(|(k, v)| (k, v)));
        command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());

        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", self.bin.display()));
        let captured = Arc::new(Captured::default());
        captured.follow(child.stdout.take().expect("piped stdout"), Source::Stdout);
        captured.follow(child.stderr.take().expect("piped stderr"), Source::Stderr);
        Proxy {
            child,
            bin: self.bin.clone(),
            config_path,
            ports,
            holds,
            captured,
            exit: None,
            reported: AtomicBool::new(false),
            dir,
        }
    }

    /// Runs the process to completion (killing it and panicking after the deadline) and
    /// returns its exit status and output. For `-c`, `-cc`, `-v`, refused configurations.
    pub fn run(self) -> RunOutput {
        let mut proxy = self.spawn();
        let status = proxy.wait_exit(self.timeout);
        let lines = proxy.lines();
        let collect = |source| {
            let texts: Vec<&str> = lines
                .iter()
                .filter(|l| l.source == source)
                .map(|l| l.text.as_str())
                .collect();
            texts.join("\n")
        };
        RunOutput {
            status,
            stdout: collect(Source::Stdout),
            stderr: collect(Source::Stderr),
        }
    }

    /// Whether the process binds its listeners as this test's user: SO_REUSEPORT lets it
    /// bind beside a [`super::PortHold`] only then. The proxies themselves do (moonproxy
    /// and HAProxy bind before they drop privileges); a wrapper (`setpriv`, `sh -c` under
    /// `ulimit`, `capsh`) may run them as another user, and gets claimed ports without
    /// holds.
    fn binds_as_us(&self) -> bool {
        let name = self.bin.file_name().and_then(|n| n.to_str()).unwrap_or("");
        name.starts_with("moonproxy") || name.starts_with("haproxy")
    }

    /// Reserves a distinct free port for every placeholder without a value ([`free_port`]
    /// claims each for this process, so no two placeholders, or tests, share one).
    fn pick_ports(&self) -> (BTreeMap<String, u16>, Vec<super::PortHold>) {
        let texts = self
            .config
            .iter()
            .chain(self.files.iter().map(|(_, c)| c))
            .chain(&self.flags)
            .chain(&self.args);
        let mut ports = BTreeMap::new();
        let mut holds = Vec::new();
        for text in texts {
            for name in placeholders(text) {
                if name == DIR_PLACEHOLDER
                    || self.vars.contains_key(name)
                    || ports.contains_key(name)
                {
                    continue;
                }
                if self.binds_as_us() {
                    let (port, hold) = super::held_port();
                    ports.insert(name.to_string(), port);
                    holds.push(hold);
                } else {
                    ports.insert(name.to_string(), free_port());
                }
            }
        }
        for name in &self.free_ports {
            ports.entry(name.clone()).or_insert_with(free_port);
        }
        (ports, holds)
    }
}

/// The result of [`ProxyBuilder::run`].
#[derive(Debug)]
pub struct RunOutput {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl RunOutput {
    /// The exit code (`None` if the process was killed by a signal).
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }
}

enum StartError {
    Exited(ExitStatus),
    NotListening(Vec<u16>),
}

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StartError::Exited(status) => write!(f, "it exited ({status}) before listening"),
            StartError::NotListening(ports) => write!(f, "nothing listens on port(s) {ports:?}"),
        }
    }
}

/// A running proxy process. Killed (SIGKILL) and its temporary directory removed on drop; if
/// the test is failing, its output is printed and the directory kept.
pub struct Proxy {
    child: Child,
    bin: PathBuf,
    config_path: PathBuf,
    ports: BTreeMap<String, u16>,
    /// The picked ports' [`super::PortHold`]s, until the process listens on them.
    holds: Vec<super::PortHold>,
    captured: Arc<Captured>,
    exit: Option<ExitStatus>,
    /// Whether a failure message already showed the output (not to print it twice on drop).
    reported: AtomicBool,
    // Dropped last: the process must be gone before its directory is removed.
    dir: TestDir,
}

impl Proxy {
    /// moonproxy on `config`, placeholders filled with free ports, started and listening.
    pub fn start(config: &str) -> Proxy {
        ProxyBuilder::new(config).start()
    }

    /// The port picked for `{{name}}` (panics if the configuration has no such placeholder).
    pub fn port(&self, name: &str) -> u16 {
        match self.ports.get(name) {
            Some(port) => *port,
            None => panic!(
                "no port placeholder {{{{{name}}}}}; known: {:?}",
                self.ports
            ),
        }
    }

    /// `127.0.0.1:<port of {{name}}>`.
    pub fn addr(&self, name: &str) -> SocketAddr {
        loopback(self.port(name))
    }

    /// A new client connected to `{{name}}`.
    pub fn connect(&self, name: &str) -> super::Client {
        super::Client::connect(self.port(name))
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The run's temporary directory (`{{dir}}`).
    pub fn dir(&self) -> &Path {
        &self.dir.path
    }

    /// The configuration file as written, placeholders replaced.
    pub fn config_path(&self) -> &Path {
        &self.config_path
    }

    /// Sends a signal by name (`"TERM"`, `"USR1"`, `"TTOU"` ...) with the `kill` command.
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args(["-s", name, &self.pid().to_string()])
            .status()
            .unwrap_or_else(|e| panic!("cannot run kill: {e}"));
        assert!(
            status.success(),
            "kill -s {name} {} failed: {status}",
            self.pid()
        );
    }

    /// Stops the process with SIGTERM and waits for it to exit (HAProxy and moonproxy exit
    /// with 0 at once).
    pub fn stop(&mut self) -> ExitStatus {
        self.signal("TERM");
        self.wait_exit(DEADLINE)
    }

    /// The exit status if the process has exited, without waiting.
    pub fn try_exit_status(&mut self) -> Option<ExitStatus> {
        if self.exit.is_none() {
            self.exit = self.child.try_wait().expect("try_wait on the proxy");
        }
        self.exit
    }

    /// Waits for the process to exit and for its output to be fully read; panics with the
    /// output if it is still running after `timeout`.
    pub fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let bin = self.bin.display().to_string();
        let deadline = Instant::now() + timeout;
        let status = loop {
            if let Some(status) = self.try_exit_status() {
                break status;
            }
            if Instant::now() >= deadline {
                panic!("{bin} still running after {timeout:?}\n{}", self.report());
            }
            thread::sleep(Duration::from_millis(5));
        };
        // A daemonized child may keep the pipes open: do not wait for it forever.
        self.captured.wait_closed(Duration::from_secs(1));
        status
    }

    /// The first output line (stdout or stderr, from the start) for which `pred` is true.
    /// Panics with the whole output if there is none after `timeout` or once the process has
    /// closed its output.
    pub fn wait_for_line(&self, pred: impl Fn(&str) -> bool, timeout: Duration) -> String {
        self.wait_for_line_after(0, pred, timeout)
    }

    /// As [`wait_for_line`](Self::wait_for_line), but only among lines after `mark` (a value
    /// of [`mark`](Self::mark) taken earlier): "the next line that ...".
    pub fn wait_for_line_after(
        &self,
        mark: usize,
        pred: impl Fn(&str) -> bool,
        timeout: Duration,
    ) -> String {
        match self.captured.wait_for(mark, &pred, timeout) {
            Some((_, text)) => text,
            None => panic!(
                "no matching output line within {timeout:?}\n{}",
                self.report()
            ),
        }
    }

    /// The first `n` output lines for which `pred` is true, waiting for them as
    /// [`wait_for_line`](Self::wait_for_line) waits for one (`timeout` is for all of them).
    pub fn wait_for_lines(
        &self,
        n: usize,
        pred: impl Fn(&str) -> bool,
        timeout: Duration,
    ) -> Vec<String> {
        let deadline = Instant::now() + timeout;
        let mut found = Vec::with_capacity(n);
        let mut from = 0;
        while found.len() < n {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.captured.wait_for(from, &pred, left) {
                Some((i, text)) => {
                    found.push(text);
                    from = i + 1;
                }
                None => panic!(
                    "only {} of {n} matching output lines within {timeout:?}\n{}",
                    found.len(),
                    self.report()
                ),
            }
        }
        found
    }

    /// As [`wait_for_line`](Self::wait_for_line), returning `None` instead of panicking.
    pub fn try_wait_for_line(
        &self,
        pred: impl Fn(&str) -> bool,
        timeout: Duration,
    ) -> Option<String> {
        self.captured
            .wait_for(0, &pred, timeout)
            .map(|(_, text)| text)
    }

    /// The number of lines captured so far, to pass to
    /// [`wait_for_line_after`](Self::wait_for_line_after).
    pub fn mark(&self) -> usize {
        self.captured.state.lock().unwrap().lines.len()
    }

    /// Every line captured so far.
    pub fn lines(&self) -> Vec<Line> {
        self.captured.lines()
    }

    /// How many lines captured so far satisfy `pred`.
    pub fn count_lines(&self, pred: impl Fn(&str) -> bool) -> usize {
        self.captured
            .lines()
            .iter()
            .filter(|l| pred(&l.text))
            .count()
    }

    /// Waits until `path` exists (a unix socket, a pid file); false after `timeout`.
    pub fn wait_for_path(&self, path: &Path, timeout: Duration) -> bool {
        super::wait_until(timeout, || path.exists())
    }

    /// Command, configuration and output, for failure messages.
    fn report(&self) -> String {
        self.reported.store(true, Ordering::Relaxed);
        let config = fs::read_to_string(&self.config_path).unwrap_or_default();
        format!(
            "--- binary: {}\n--- ports: {:?}\n--- configuration ({}):\n{config}\n--- output:\n{}",
            self.bin.display(),
            self.ports,
            self.config_path.display(),
            self.captured.dump()
        )
    }

    fn wait_listening(&mut self, ports: &[u16], timeout: Duration) -> Result<(), StartError> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.try_exit_status() {
                self.captured.wait_closed(Duration::from_secs(1));
                return Err(StartError::Exited(status));
            }
            let missing: Vec<u16> = ports
                .iter()
                .copied()
                .filter(|p| !is_listening(*p))
                .collect();
            if missing.is_empty() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(StartError::NotListening(missing));
            }
            thread::sleep(Duration::from_millis(5));
        }
    }

    /// Whether the process exited because one of the ports the harness picked for it was
    /// taken meanwhile: HAProxy's message (which moonproxy keeps) ends with
    /// `cannot bind socket (Address already in use) for [127.0.0.1:<port>]`. A port the test
    /// chose itself is not retried: a test may want exactly that error.
    fn lost_bind_race(&self, picked: &[u16]) -> bool {
        self.captured.lines().iter().any(|l| {
            l.text.contains("Address already in use")
                && picked.iter().any(|p| l.text.contains(&format!(":{p}]")))
        })
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if self.try_exit_status().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        if thread::panicking() && !self.reported.load(Ordering::Relaxed) {
            eprintln!(
                "[harness] proxy {} output:\n{}",
                self.pid(),
                self.captured.dump()
            );
        }
    }
}

/// Whether something listens on 127.0.0.1:`port` (or on the wildcard address).
///
/// Reads the kernel's socket tables rather than connecting: a probe connection would reach the
/// proxy and then a backend, and show up in their counters and logs. Falls back to a probe
/// where `/proc` is not available.
pub fn is_listening(port: u16) -> bool {
    let mut readable = false;
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        if let Ok(text) = fs::read_to_string(table) {
            readable = true;
            if listening_in_table(&text, port) {
                return true;
            }
        }
    }
    !readable && TcpStream::connect_timeout(&loopback(port), Duration::from_millis(100)).is_ok()
}

/// Whether a `/proc/net/tcp{,6}` table has a socket in state LISTEN (`0A`) on local `port`.
fn listening_in_table(table: &str, port: u16) -> bool {
    table.lines().skip(1).any(|row| {
        let mut fields = row.split_whitespace().skip(1);
        let (Some(local), Some(_remote), Some(state)) =
            (fields.next(), fields.next(), fields.next())
        else {
            return false;
        };
        let local_port = local
            .rsplit(':')
            .next()
            .and_then(|p| u16::from_str_radix(p, 16).ok());
        state == "0A" && local_port == Some(port)
    })
}
