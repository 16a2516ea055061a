//! The command line: `-v`, `-vv`, `-cc`, `-c` with directories, usage errors.

use std::path::PathBuf;
use std::process::{Command, Output};

fn moonproxy(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_moonproxy"))
        .args(args)
        .output()
        .unwrap()
}

fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("moonproxy-cli-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn version_is_one_line_with_the_haproxy_compat_version() {
    let out = moonproxy(&["-v"]);
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    assert!(
        stdout.starts_with(&format!("moonproxy version {}", env!("CARGO_PKG_VERSION"))),
        "{stdout}"
    );
    assert!(stdout.contains("HAProxy 2.6"), "{stdout}");
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn build_info_lists_lua_features_and_poller() {
    let out = moonproxy(&["-vv"]);
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(stdout
        .lines()
        .next()
        .unwrap()
        .starts_with("moonproxy version"));
    assert!(
        stdout.contains("Built with Lua version : Lua 5.4"),
        "{stdout}"
    );
    assert!(
        stdout.contains("Feature list : +EPOLL +GETADDRINFO +LUA -OPENSSL"),
        "{stdout}"
    );
    assert!(stdout.contains("epoll (mio)"), "{stdout}");
    assert!(stdout.contains("PROFILE = "), "{stdout}");
    assert!(stdout.contains("TARGET  = "), "{stdout}");
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn check_condition_exit_codes() {
    assert_eq!(
        moonproxy(&["-cc", "version_atleast(2.6) && feature(LUA)"])
            .status
            .code(),
        Some(0)
    );
    assert_eq!(
        moonproxy(&["-cc", "version_atleast(2.7)"]).status.code(),
        Some(1)
    );
    assert_eq!(
        moonproxy(&["-cc", "streq(\"a b\",'a b')"]).status.code(),
        Some(0)
    );
    assert_eq!(moonproxy(&["-cc", ""]).status.code(), Some(1));
    let out = Command::new(env!("CARGO_BIN_EXE_moonproxy"))
        .args(["-cc", "defined(MOON_CLI_VAR)"])
        .env("MOON_CLI_VAR", "1")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let out = moonproxy(&["-cc", "foo(1)"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.ends_with(" : config : Failed to evaluate condition: unparsable conditional expression 'foo(1)'\n"),
        "{stderr}"
    );
    assert!(stderr.starts_with("[ALERT]    ("), "{stderr}");
}

#[test]
fn usage_error_exits_1() {
    for args in [&["-Z"][..], &["-f"][..], &[][..], &["-c"][..]] {
        let out = moonproxy(args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert!(
            stderr.contains("Usage : moonproxy [-f <cfgfile|cfgdir>]*"),
            "{args:?}: {stderr}"
        );
    }
    let stderr = String::from_utf8(moonproxy(&["-Z"]).stderr).unwrap();
    assert!(stderr.starts_with("[ALERT]    ("), "{stderr}");
    assert!(stderr.contains("unknown option '-Z'"), "{stderr}");
    // `-W` is accepted: a missing file is then a configuration error, not a usage one.
    let out = moonproxy(&["-W", "-f", "/nonexistent/x.cfg"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(!String::from_utf8(out.stderr).unwrap().contains("Usage :"));
}

#[test]
fn directory_loads_cfg_files_in_lexical_order() {
    let dir = temp_dir("dir");
    // 10-backend.cfg must be read before 20-frontend.cfg for the `from` to resolve.
    std::fs::write(
        dir.join("10-defaults.cfg"),
        "defaults base\n  mode tcp\n  timeout connect 1s\n  timeout client 1s\n  timeout server 1s\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("20-frontend.cfg"),
        "frontend fe from base\n  bind 127.0.0.1:0\n  default_backend be\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("30-backend.cfg"),
        "backend be from base\n  server s 127.0.0.1:1\n",
    )
    .unwrap();
    std::fs::write(dir.join("README.txt"), "not a configuration file\n").unwrap();
    let out = moonproxy(&["-c", "-f", dir.to_str().unwrap()]);
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "Configuration file is valid\n"
    );
    assert_eq!(out.status.code(), Some(0));

    // Renamed so that the frontend comes first: `from base` no longer resolves.
    std::fs::rename(dir.join("10-defaults.cfg"), dir.join("40-defaults.cfg")).unwrap();
    let out = moonproxy(&["-c", "-f", dir.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr
            .contains("20-frontend.cfg:1] : defaults section 'base' not found for frontend 'fe'."),
        "{stderr}"
    );
    assert_eq!(out.status.code(), Some(1));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn check_quiet_prints_nothing_and_localpeer_flag_sets_the_variable() {
    let dir = temp_dir("quiet");
    let cfg = dir.join("q.cfg");
    std::fs::write(
        &cfg,
        ".if !streq(\"${HAPROXY_LOCALPEER}\",peer7)\n.alert \"wrong local peer\"\n.endif\nlisten li\n  bind 127.0.0.1:0\n  server s 127.0.0.1:1\n",
    )
    .unwrap();
    let out = moonproxy(&["-c", "-q", "-L", "peer7", "-f", cfg.to_str().unwrap()]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "");
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "",
        "warnings are silenced by -q"
    );
    assert_eq!(out.status.code(), Some(0));
    let out = moonproxy(&["-c", "-L", "other", "-f", cfg.to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("'wrong local peer'."));
    assert_eq!(out.status.code(), Some(1));
    let _ = std::fs::remove_dir_all(&dir);
}
