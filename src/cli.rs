//! Command-line flags, HAProxy-compatible.
//!
//! ```text
//! moonproxy [-f <cfgfile|cfgdir>]* [-c] [-cc <cond>] [-d] [-db] [-dD] [-D] [-p <pidfile>]
//!           [-q] [-V] [-v] [-vv] [-n <maxconn>] [-N <maxpconn>] [-C <dir>] [-L <name>]
//!           [-sf|-st <pid>*] [-x <socket>] [-W|-Ws] [-S <bind>[,<bind options>]] [-- <cfgfile>*]
//! ```
//! Exit codes follow HAProxy: `-c` exits 0 when valid, 1 on errors, 2 when the
//! configuration is valid but has no listener; `-cc` exits 0 (true), 1 (false) or
//! 2 (error); a bad command line prints the usage and exits 1.

use crate::config::{self, diagnostic, ParseOptions};
use crate::runtime::{self, RunOptions};
use crate::version::{HAPROXY_COMPAT_VERSION, VERSION};
use std::path::PathBuf;

/// What the command line asks for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Cli {
    pub action: Action,
    /// `-f` arguments and files after `--`, in order.
    pub files: Vec<PathBuf>,
    /// `-d`: foreground with debug output.
    pub debug: bool,
    /// `-db`: foreground.
    pub foreground: bool,
    /// `-dD`: diagnostic messages.
    pub diag: bool,
    /// `-D`: daemon.
    pub daemon: bool,
    /// `-p <pidfile>`.
    pub pidfile: Option<PathBuf>,
    pub quiet: bool,
    pub verbose: bool,
    /// `-N <n>`: default per-proxy `maxconn` for frontends that set none.
    pub default_maxconn: Option<u32>,
    /// `-n <n>`: global `maxconn` (overrides the configuration).
    pub global_maxconn: Option<u32>,
    /// `-C <dir>`: directory to change to before loading files.
    pub chdir: Option<PathBuf>,
    /// `-L <name>`: local peer name.
    pub localpeer: Option<String>,
    /// `-sf <pid>*`: old processes to finish (soft stop) once started.
    pub finish_pids: Vec<i32>,
    /// `-st <pid>*`: old processes to terminate once started.
    pub terminate_pids: Vec<i32>,
    /// `-x <socket>`: the old process's stats socket, to take its listeners over.
    pub takeover: Option<PathBuf>,
    /// `-W` (or `-Ws`): master-worker mode (see `crate::master`).
    pub master_worker: bool,
    /// `-Ws`: master-worker mode with systemd notifications (`Type=notify`).
    pub systemd: bool,
    /// `-S <addr>[,<bind options>]*`: the master CLI's sockets.
    pub master_cli: Vec<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Action {
    #[default]
    Run,
    /// `-c`.
    Check,
    /// `-cc <condition>`.
    CheckCondition(String),
    /// `-v`.
    Version,
    /// `-vv`.
    BuildInfo,
}

/// The usage text printed on a bad command line.
pub fn usage() -> String {
    format!(
        "Usage : moonproxy [-f <cfgfile|cfgdir>]* [ -vdVD ] [ -n <maxconn> ] [ -N <maxpconn> ]\n\
         \x20       [ -p <pidfile> ] [ -C <dir> ] [ -L <name> ] [-- <cfgfile>*]\n\
         \x20       -v displays version ; -vv shows known build options.\n\
         \x20       -d enters debug mode ; -db only disables background mode.\n\
         \x20       -dD diagnostic mode : warn about suspicious configuration statements\n\
         \x20       -V enters verbose mode (disables quiet mode)\n\
         \x20       -D goes daemon\n\
         \x20       -q quiet mode : don't display messages\n\
         \x20       -c check mode : only check config files and exit\n\
         \x20       -cc check condition : evaluate a condition and exit\n\
         \x20       -n sets the maximum total # of connections\n\
         \x20       -N sets the default, per-proxy maximum # of connections\n\
         \x20       -C changes to <dir> before loading files\n\
         \x20       -L set local peer name (default to hostname)\n\
         \x20       -p writes the pid to this file\n\
         \x20       -sf/-st [pid ]* finishes/terminates old pids.\n\
         \x20       -x <unix_socket> get listening sockets from a unix socket\n\
         \x20       -W master-worker mode ; -Ws with systemd notifications.\n\
         \x20       -S <bind>[,<bind options>...] new master CLI\n\
         (moonproxy {VERSION}, HAProxy {HAPROXY_COMPAT_VERSION} compatible)"
    )
}

/// Parses the arguments (without the program name).
pub fn parse_args(args: &[String]) -> Result<Cli, String> {
    let mut cli = Cli::default();
    let mut i = 0;
    let value = |i: &mut usize, flag: &str| -> Result<String, String> {
        *i += 1;
        args.get(*i)
            .cloned()
            .ok_or_else(|| format!("'{flag}' expects an argument"))
    };
    while i < args.len() {
        let a = args[i].as_str();
        match a {
            "-f" => cli.files.push(PathBuf::from(value(&mut i, a)?)),
            "-c" => cli.action = Action::Check,
            "-cc" => cli.action = Action::CheckCondition(value(&mut i, a)?),
            "-v" => cli.action = Action::Version,
            "-vv" => cli.action = Action::BuildInfo,
            "-d" => cli.debug = true,
            "-db" => cli.foreground = true,
            "-dD" => cli.diag = true,
            "-D" => cli.daemon = true,
            "-q" => cli.quiet = true,
            "-V" => cli.verbose = true,
            "-p" => cli.pidfile = Some(PathBuf::from(value(&mut i, a)?)),
            "-L" => cli.localpeer = Some(value(&mut i, a)?),
            "-N" | "-n" => {
                let v = value(&mut i, a)?;
                let n = v
                    .parse()
                    .map_err(|_| format!("'{a}' expects an integer, got '{v}'"))?;
                if a == "-N" {
                    cli.default_maxconn = Some(n);
                } else {
                    cli.global_maxconn = Some(n);
                }
            }
            // Help: only the usage, no alert.
            "-h" | "--help" => return Err(String::new()),
            "-C" => cli.chdir = Some(PathBuf::from(value(&mut i, a)?)),
            "-W" => cli.master_worker = true,
            "-Ws" => {
                cli.master_worker = true;
                cli.systemd = true;
            }
            "-x" => cli.takeover = Some(PathBuf::from(value(&mut i, a)?)),
            "-S" => cli.master_cli.push(value(&mut i, a)?),
            "-m" | "-de" | "-dp" | "-dS" | "-dG" | "-dR" | "-dL" | "-dr" | "-dV"
            | "-dW" => {
                return Err(format!(
                    "HAProxy's '{a}' flag is not supported by moonproxy yet"
                ))
            }
            _ if a.starts_with("-dK") || a.starts_with("-dM") => {
                return Err(format!(
                    "HAProxy's '{a}' flag is not supported by moonproxy yet"
                ))
            }
            "-sf" | "-st" => {
                while let Some(pid) = args.get(i + 1).and_then(|p| p.parse::<i32>().ok()) {
                    if a == "-sf" {
                        cli.finish_pids.push(pid)
                    } else {
                        cli.terminate_pids.push(pid)
                    }
                    i += 1;
                }
            }
            "--" => {
                cli.files.extend(args[i + 1..].iter().map(PathBuf::from));
                break;
            }
            _ => return Err(format!("unknown option '{a}'")),
        }
        i += 1;
    }
    if matches!(cli.action, Action::Run | Action::Check) && cli.files.is_empty() {
        return Err("no configuration file: use '-f <cfgfile|cfgdir>'".into());
    }
    Ok(cli)
}

/// One line: moonproxy's version and the HAProxy version it follows.
pub fn version_line() -> String {
    format!("moonproxy version {VERSION} (HAProxy {HAPROXY_COMPAT_VERSION} compatible configuration and Lua API)")
}

/// `-vv`: version, build options, features, Lua, poller.
pub fn build_info() -> String {
    let features: Vec<String> = config::cond::FEATURES
        .iter()
        .map(|(n, on)| format!("{}{n}", if *on { '+' } else { '-' }))
        .collect();
    let g = config::model::Global::default();
    format!(
        "{}\n\
         Build options :\n\
         \x20 TARGET  = {}\n\
         \x20 PROFILE = {}\n\
         \n\
         Feature list : {}\n\
         \n\
         Default settings :\n\
         \x20 bufsize = {}, maxaccept = {}\n\
         \n\
         Built with Lua version : Lua {}.{}\n\
         Built without multi-threading support (one reactor per process).\n\
         \n\
         Available polling systems :\n\
         \x20     epoll (mio) : pref=300,  test result OK\n\
         Total: 1 (1 usable), will use epoll (mio).\n",
        version_line(),
        env!("MOONPROXY_BUILD_TARGET"),
        env!("MOONPROXY_BUILD_PROFILE"),
        features.join(" "),
        g.bufsize,
        g.maxaccept,
        lua54_sys::LUA_VERSION_MAJOR,
        lua54_sys::LUA_VERSION_MINOR,
    )
}

/// Entry point used by `main.rs`; returns the process exit code.
pub fn main() -> i32 {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let cli = match parse_args(&args) {
        Ok(c) => c,
        Err(e) => {
            if !e.is_empty() {
                crate::alert!("{e}");
            }
            eprintln!("{}", usage());
            return 1;
        }
    };
    run(cli)
}

/// Carries out a parsed command line; returns the exit code.
pub fn run(cli: Cli) -> i32 {
    crate::diag::set_quiet(cli.quiet && !cli.verbose);
    crate::diag::set_diag(cli.diag);
    match &cli.action {
        Action::Version => {
            println!("{}", version_line());
            return 0;
        }
        Action::BuildInfo => {
            print!("{}", build_info());
            return 0;
        }
        Action::CheckCondition(c) => {
            return match config::cond::evaluate(c) {
                Ok(true) => 0,
                Ok(false) => 1,
                Err(e) => {
                    crate::alert!("config : Failed to evaluate condition: {e}");
                    2
                }
            };
        }
        Action::Run | Action::Check => {}
    }
    if let Some(dir) = &cli.chdir {
        if let Err(e) = std::env::set_current_dir(dir) {
            crate::alert!("Cannot chdir to {} : {e}", dir.display());
            return 1;
        }
    }
    let opts = ParseOptions {
        localpeer: cli.localpeer.clone(),
        master_worker: cli.master_worker,
    };
    // A master re-executed by a reload carries its state in the environment.
    let reexec = (cli.action == Action::Run).then(crate::master::take_reexec_state).flatten();
    let loaded = match config::load(&cli.files, &opts) {
        Ok(l) => l,
        Err(diags) => {
            diagnostic::print_all(&diags);
            if let Some(state) = reexec {
                return crate::master::run_after_failed_load(master_options(&cli, None), state);
            }
            return 1;
        }
    };
    let mut cfg = loaded.config;
    let quiet = (cli.quiet || cfg.global.quiet) && !cli.verbose;
    crate::diag::set_quiet(quiet);
    diagnostic::print_all(&loaded.diagnostics);
    if let Some(n) = cli.global_maxconn {
        cfg.global.maxconn = Some(n);
    }
    if let Some(n) = cli.default_maxconn {
        for p in cfg
            .proxies
            .iter_mut()
            .filter(|p| p.cap.frontend && p.maxconn.is_none())
        {
            p.maxconn = Some(n);
        }
    }
    let mut has_warnings = loaded
        .diagnostics
        .iter()
        .any(|d| d.severity == crate::diag::Severity::Warning);
    // Single-threaded start-up: the only moment the process environment may change.
    // Before the `lua-load` bodies, for `-c` too: they read what `setenv` set.
    loaded.env.apply_to_process();
    if cli.action == Action::Check {
        // `-c` runs the `lua-load` bodies (HAProxy runs them while parsing) but not the
        // `register_init` functions, nor any task.
        let lua_opts = crate::lua::api::core::EngineOptions { quiet, debug: cli.debug };
        match runtime::lua::boot(&cfg, lua_opts) {
            Ok(Some(engine)) => has_warnings |= !engine.take_warnings().is_empty(),
            Ok(None) => {}
            Err(runtime::lua::BootFailed) => return 1,
        }
    }
    // As at start-up (`runtime::serve`): a stats socket or a peers section with the local
    // peer listens too, and HAProxy reports such a configuration valid.
    let has_listener = cfg.frontends().any(|p| !p.disabled && !p.binds.is_empty())
        || cfg.log_forwards.iter().any(|f| !f.binds.is_empty() || !f.dgram_binds.is_empty())
        || !cfg.global.stats_sockets.is_empty()
        || cfg.peers.iter().any(|s| !s.disabled && s.check(&crate::peers::local_name(&cfg)).is_ok());
    if cli.action == Action::Check {
        if !quiet && has_warnings {
            println!("Warnings were found.");
        }
        if !has_listener {
            if !quiet {
                println!(
                    "Configuration file has no error but will not start (no listener) => exit(2)."
                );
            }
            return 2;
        }
        if !quiet {
            println!("Configuration file is valid");
        }
        return 0;
    }
    let run_opts = RunOptions {
        foreground: cli.foreground || cli.debug,
        debug: cli.debug,
        daemon: (cli.daemon || cfg.global.daemon) && !(cli.foreground || cli.debug),
        pidfile: cli.pidfile.clone().or_else(|| cfg.global.pidfile.clone()),
        quiet,
        verbose: cli.verbose,
        takeover: cli.takeover.clone(),
        finish_pids: cli.finish_pids.clone(),
        terminate_pids: cli.terminate_pids.clone(),
        ready: None,
    };
    if cli.master_worker || cfg.global.master_worker || reexec.is_some() {
        let mw = master_options(&cli, Some(&cfg));
        return crate::master::run(cfg, run_opts, mw, reexec);
    }
    runtime::run(cfg, run_opts)
}

/// `-Ws`, `-S` and `master-worker no-exit-on-failure`.
fn master_options(cli: &Cli, cfg: Option<&config::model::Config>) -> crate::master::Options {
    crate::master::Options {
        systemd: cli.systemd,
        master_cli: cli.master_cli.clone(),
        no_exit_on_failure: cfg.map(|c| c.global.master_worker_no_exit_on_failure),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Cli, String> {
        parse_args(&s.split_whitespace().map(String::from).collect::<Vec<_>>())
    }

    #[test]
    fn flags() {
        let c = parse("-f a.cfg -f dir -c -q -L peer1 -N 100 -p /run/x.pid -sf 12 13 -db").unwrap();
        assert_eq!(c.action, Action::Check);
        assert_eq!(c.files, [PathBuf::from("a.cfg"), PathBuf::from("dir")]);
        assert!(c.quiet && c.foreground && !c.debug);
        assert_eq!(c.localpeer.as_deref(), Some("peer1"));
        assert_eq!(c.default_maxconn, Some(100));
        assert_eq!(c.finish_pids, [12, 13]);
        assert_eq!(c.pidfile, Some(PathBuf::from("/run/x.pid")));
        assert_eq!(
            parse("-cc 1").unwrap().action,
            Action::CheckCondition("1".into())
        );
        assert_eq!(parse("-vv").unwrap().action, Action::BuildInfo);
        assert_eq!(parse("-st 5 -- x.cfg y.cfg").unwrap().files.len(), 2);
        let r = parse("-f a.cfg -x /run/old.sock -sf 7").unwrap();
        assert_eq!(r.takeover, Some(PathBuf::from("/run/old.sock")));
        assert_eq!(r.finish_pids, [7]);
    }

    #[test]
    fn bad_command_lines() {
        assert!(parse("-f").is_err());
        assert!(parse("-x").is_err(), "-x needs its socket");
        assert!(parse("-c").is_err(), "no file");
        assert!(parse("-f a -N x").is_err());
        assert_eq!(parse("-h"), Err(String::new()));
    }

    #[test]
    fn master_worker_flags() {
        let c = parse("-W -f a -S /tmp/m.sock,mode,600 -S 127.0.0.1:0").unwrap();
        assert!(c.master_worker && !c.systemd);
        assert_eq!(c.master_cli, ["/tmp/m.sock,mode,600", "127.0.0.1:0"]);
        let c = parse("-Ws -f a").unwrap();
        assert!(c.master_worker && c.systemd);
        assert!(parse("-W -f a -S").is_err());
    }

    #[test]
    fn maxconn_and_chdir_flags() {
        let c = parse("-C /etc -n 5 -f a.cfg").unwrap();
        assert_eq!(c.chdir, Some(PathBuf::from("/etc")));
        assert_eq!(c.global_maxconn, Some(5));
    }
}
