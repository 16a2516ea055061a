//! Lua on the stats socket CLI: commands registered by `core.register_cli`, compared
//! with HAProxy 2.6 on the same script (their answers, their place in `help`, the
//! error line of a failing one), and how they share the reactor (a command that sleeps
//! holds its own session only; a client that leaves stops its command).

mod common;

use common::*;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;

const CONFIG: &str = "global
    lua-load {{dir}}/cli.lua
    stats socket {{dir}}/cli.sock level admin
defaults
    mode tcp
    timeout connect 1s
    timeout client 5s
    timeout server 5s
listen fe
    bind 127.0.0.1:{{fe}}
    server s 127.0.0.1:{{fe}}
";

const SCRIPT: &str = r#"
core.register_cli({"hello", "world"}, "hello world <x> : say hello", function(applet, ...)
  local t = {...}
  applet:send("args=" .. table.concat(t, ",") .. " n=" .. #t .. "\n")
  applet:send(tostring(applet) .. "\n")
  core.msleep(50)
  applet:send("after sleep\n")
end)
core.register_cli({"boom"}, "boom : fail", function(applet)
  applet:send("before\n")
  error("kaboom")
end)
core.register_cli({"tableerr"}, "tableerr : fail with a table", function(applet) error({}) end)
core.register_cli({"lines"}, "lines : echo a line", function(applet)
  local l = applet:getline()
  applet:send("got [" .. tostring(l) .. "]\n")
end)
core.register_cli({"big"}, "big : much output", function(applet)
  for i = 1, 3000 do applet:send(string.format("%05d", i) .. string.rep("x", 94) .. "\n") end
end)
core.register_cli({"empty"}, "empty : nothing", function(applet) end)
core.register_task(function() while true do core.sleep(60) end end)
core.register_cli({"ticker"}, "ticker : tick forever", function(applet)
  while true do applet:send("tick\n") core.msleep(10) end
end)
core.register_cli({"nap"}, "nap : sleep long", function(applet)
  applet:send("napping\n")
  core.msleep(3000)
  applet:send("woke\n")
end)
"#;

/// The inputs both implementations answer, in order.
const INPUTS: &[&str] = &[
    "hello world a b\n",
    "hello world\nshow cli level\n",
    "boom\n",
    "tableerr\n",
    "lines\nabc\n",
    "lines\n",
    "empty\n",
    "empty;empty\n",
    "user\nempty\n",
    "prompt\nempty\nhello world x\nquit\n",
    "hello\n",
    "help hello\n",
];

#[test]
fn registered_commands_answer_as_in_haproxy() {
    let mut seen = Vec::new();
    for bin in moonproxy_and_haproxy() {
        let proxy = ProxyBuilder::new(CONFIG).bin(&bin).file("cli.lua", SCRIPT).start();
        let sock = proxy.dir().join("cli.sock");
        assert!(proxy.wait_for_path(&sock, DEADLINE));
        let mut answers: Vec<String> = INPUTS.iter().map(|i| cli(&sock, i)).collect();
        // `help`: the Lua usages as written, sorted among HAProxy's own commands (whose
        // lists differ: only the neighbourhood of the Lua lines is compared).
        let help = cli(&sock, "help\n");
        let lines: Vec<&str> = help.lines().collect();
        for usage in ["  boom : fail", "  hello world <x> : say hello", "  lines : echo a line"] {
            let i = lines.iter().position(|l| *l == usage).unwrap_or_else(|| panic!("{}: {usage} in {help}", bin.display()));
            assert!(lines[i - 1] < lines[i] && lines[i] < lines[i + 1], "{}: sorted: {help}", bin.display());
        }
        let big = cli(&sock, "big\n");
        assert_eq!(big.len(), 3000 * 100 + 1, "{}", bin.display());
        assert!(big.starts_with("00001x") && big.ends_with(&format!("03000{}\n\n", "x".repeat(94))), "{}", bin.display());
        // The errors, file paths aside (each run has its own directory).
        let dir = proxy.dir().display().to_string();
        let boom = proxy.wait_for_line(|l| l.contains("Lua cli '<lua.cli.boom>'"), DEADLINE);
        let table = proxy.wait_for_line(|l| l.contains("Lua cli '<lua.cli.tableerr>'"), DEADLINE);
        for l in [boom, table] {
            let at = l.find("Lua cli").unwrap();
            assert!(l.starts_with("[ALERT]"), "{l}");
            answers.push(l[at..].replace(&dir, "DIR"));
        }
        seen.push(answers);
    }
    let ours = &seen[0];
    assert_eq!(ours[0], "args=hello,world,a,b n=4\nHAProxy class AppletTCP\nafter sleep\n\n");
    assert_eq!(ours[1], "args=hello,world n=2\nHAProxy class AppletTCP\nafter sleep\n\nadmin\n\n", "the next line runs after");
    assert_eq!(ours[2], "before\n\n", "what was sent before the error stays");
    assert_eq!(ours[4], "got [abc\n]\n\n");
    assert_eq!(ours[6], "\n");
    assert!(ours[9].starts_with("\n> \n> args=hello,world,x n=3\n"), "{:?}", ours[9]);
    assert!(ours[10].contains("\n  hello world <x> : say hello\n  help [<command>]"), "no fuzzy match: {}", ours[10]);
    assert_eq!(
        ours[12],
        "Lua cli '<lua.cli.boom>': [state-id 0] runtime error: DIR/cli.lua:11: kaboom from [C]: in global 'error', DIR/cli.lua:11: in function line 9."
    );
    assert!(ours[13].starts_with("Lua cli '<lua.cli.tableerr>': [state-id 0] unknown runtime error from "), "{}", ours[13]);
    if let [ours, theirs] = &seen[..] {
        for (i, (a, b)) in ours.iter().zip(theirs).enumerate() {
            assert_eq!(a, b, "answer {i}");
        }
    }
}

/// A command that sleeps parks its own session only: another session is answered
/// meanwhile, and a client that leaves stops its command (the process goes on).
#[test]
fn a_sleeping_command_holds_only_its_session() {
    let proxy = ProxyBuilder::new(CONFIG).file("cli.lua", SCRIPT).start();
    let sock = proxy.dir().join("cli.sock");
    assert!(proxy.wait_for_path(&sock, DEADLINE));
    let mut napping = UnixStream::connect(&sock).unwrap();
    napping.set_read_timeout(Some(DEADLINE)).unwrap();
    napping.write_all(b"nap\n").unwrap();
    let mut first = [0u8; 8];
    napping.read_exact(&mut first).unwrap();
    assert_eq!(&first, b"napping\n", "output streams before the command ends");
    assert_eq!(cli(&sock, "show cli level\n"), "admin\n\n");
    // `show lua tasks` lists the sleeping command and the script's task.
    let tasks = cli(&sock, "show lua tasks\n");
    let lines: Vec<&str> = tasks.lines().collect();
    assert_eq!(lines[0], "# 2 Lua tasks: kind name state age cpu at [stream]", "{tasks}");
    let sleeping = |l: &str, prefix: &str, max: u128| {
        let rest = l.strip_prefix(prefix).unwrap_or_else(|| panic!("{tasks}"));
        let (left, rest) = rest.split_once("ms) age=").unwrap_or_else(|| panic!("{tasks}"));
        let (age, rest) = rest.split_once("ms cpu=").unwrap_or_else(|| panic!("{tasks}"));
        let (cpu, at) = rest.split_once("us at=").unwrap_or_else(|| panic!("{tasks}"));
        assert!(left.parse::<u128>().unwrap() <= max && age.parse::<u128>().is_ok() && cpu.parse::<u128>().is_ok(), "{tasks}");
        assert!(at.contains("cli.lua:"), "where it sleeps: {tasks}");
    };
    sleeping(lines[1], "task #0 sleeping(", 60_000);
    sleeping(lines[2], "cli <lua.cli.nap> sleeping(", 3000);
    assert_eq!(cli(&sock, "user\nshow lua tasks\n"), "\nPermission denied\n\n");
    assert!(cli(&sock, "hello world\n").ends_with("after sleep\n\n"));
    drop(napping);
    // Leaving twice more while commands sleep; the CLI still answers.
    for _ in 0..2 {
        let mut s = UnixStream::connect(&sock).unwrap();
        s.write_all(b"nap\n").unwrap();
    }
    assert_eq!(cli(&sock, "empty\n"), "\n", "the process goes on");
    // A command that never ends stops when its client is gone.
    let mut ticker = UnixStream::connect(&sock).unwrap();
    ticker.set_read_timeout(Some(DEADLINE)).unwrap();
    ticker.write_all(b"ticker\n").unwrap();
    let mut tick = [0u8; 5];
    ticker.read_exact(&mut tick).unwrap();
    assert_eq!(&tick, b"tick\n");
    assert!(cli(&sock, "show lua tasks\n").contains("cli <lua.cli.ticker> "));
    drop(ticker);
    let deadline = std::time::Instant::now() + DEADLINE;
    while cli(&sock, "show lua tasks\n").contains("ticker") {
        assert!(std::time::Instant::now() < deadline, "the ticker goes on without its client");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    // A client that reads late gets everything (the command waits for it to read).
    let mut late = UnixStream::connect(&sock).unwrap();
    late.set_read_timeout(Some(DEADLINE)).unwrap();
    late.write_all(b"big\n").unwrap();
    std::thread::sleep(std::time::Duration::from_millis(200));
    let mut out = Vec::new();
    late.read_to_end(&mut out).unwrap();
    assert_eq!(out.len(), 3000 * 100 + 1);
    assert!(out.ends_with(format!("03000{}\n\n", "x".repeat(94)).as_bytes()));
}

/// `show lua errors`: one entry per distinct error with its origin, name, place and
/// traceback; repeats are counted on one line; `clear lua errors` forgets them; both are
/// operator commands (beyond HAProxy 2.6, which has neither).
#[test]
fn lua_errors_are_kept_counted_and_cleared() {
    let cfg = "global
    lua-load {{dir}}/errors.lua
    stats socket {{dir}}/cli.sock level admin
defaults
    mode tcp
    timeout connect 1s
    timeout client 2s
    timeout server 2s
listen fe
    bind 127.0.0.1:{{fe}}
    tcp-request content lua.fail
    tcp-request content set-var(txn.x) lua.ffail
    tcp-request content use-service lua.sfail
";
    let script = r#"
core.register_action("fail", {"tcp-req"}, function(txn) error("action boom") end)
core.register_fetches("ffail", function(txn) error("fetch boom") end)
core.register_service("sfail", "tcp", function(applet) error({}) end)
core.register_task(function() error("task boom") end)
core.register_cli({"oops"}, "oops : fail", function(applet) local x = nil; return x.y end)
"#;
    let proxy = ProxyBuilder::new(cfg).file("errors.lua", script).start();
    let sock = proxy.dir().join("cli.sock");
    assert!(proxy.wait_for_path(&sock, DEADLINE));
    proxy.wait_for_line(|l| l.contains("Lua task:"), DEADLINE);
    for _ in 0..30 {
        let mut c = Client::connect(proxy.port("fe"));
        c.recv_until_close(); // the rules run at once; the failing service closes
    }
    cli(&sock, "oops\n");
    let dir = proxy.dir().display().to_string();
    let shown = cli(&sock, "show lua errors\n").replace(&dir, "DIR");
    let lines: Vec<&str> = shown.lines().collect();
    assert_eq!(lines[0], "# 92 errors recorded, 5 kept, 0 dropped", "{shown}");
    let entry = |kind: &str| -> &str {
        lines.iter().find(|l| l.contains(&format!(" {kind} '"))).unwrap_or_else(|| panic!("{kind}: {shown}"))
    };
    assert!(entry("task").ends_with(" task '' at DIR/errors.lua:5: task boom from [C]: in global 'error', DIR/errors.lua:5: in function line 5"), "{shown}");
    assert!(entry("task").contains(" count=1 "), "{shown}");
    assert!(entry("action").contains(" count=30 first=") && entry("action").ends_with("action 'fail' on fe/-/- at DIR/errors.lua:2: action boom from [C]: in global 'error', DIR/errors.lua:2: in function line 2"), "{shown}");
    assert!(entry("fetch").contains(" count=30 ") && entry("fetch").contains("'ffail' on fe/-/- at DIR/errors.lua:3: fetch boom"), "{shown}");
    assert!(entry("service").contains(" count=30 ") && entry("service").contains("'sfail' on fe/-/- at DIR/errors.lua:4: unknown runtime error"), "{shown}");
    assert!(entry("cli").contains("'<lua.cli.oops>' at DIR/errors.lua:6: attempt to index a nil value (local 'x')"), "{shown}");
    // The stream's frontend (no backend yet at `tcp-request content`); none for a task.
    assert!(!entry("task").contains(" on "), "{shown}");
    // `<last> count=<n> first=<first>`, UTC.
    let stamp = &entry("action")[..24];
    assert!(stamp.ends_with('Z') && stamp.as_bytes()[10] == b'T', "{stamp}");
    assert_eq!(cli(&sock, "user\nshow lua errors\n"), "\nPermission denied\n\n");
    assert_eq!(cli(&sock, "operator\nclear lua errors\nshow lua errors\n"), "\n\n# 0 errors recorded, 0 kept, 0 dropped\n\n");
}
