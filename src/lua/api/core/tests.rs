use super::*;
use crate::config::model::{Location, LuaSettings};
use crate::lua::Resume;
use std::io::Write;
use std::sync::Arc;

fn settings_with(files: &[(&std::path::Path, &[&str])]) -> LuaSettings {
    let mut s = LuaSettings::default();
    for (i, (f, args)) in files.iter().enumerate() {
        s.directives.push(LuaDirective::Load {
            file: f.to_path_buf(),
            args: args.iter().map(|a| a.to_string()).collect(),
            per_thread: false,
            location: Location {
                file: Arc::from("t.cfg"),
                line: i as u32 + 2,
            },
        });
    }
    s
}

fn script(name: &str, body: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("moonproxy-core-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::File::create(&p)
        .unwrap()
        .write_all(body.as_bytes())
        .unwrap();
    p
}

fn global_int(e: &Engine, expr: &str) -> Option<i64> {
    match e
        .state()
        .exec(format!("return {expr}").as_bytes(), "t")
        .unwrap()
        .first()
    {
        Some(Value::Integer(i)) => Some(*i),
        _ => None,
    }
}

use crate::lua::Value;

#[test]
fn body_gets_its_arguments_and_registers() {
    let f = script("a.lua", "ARGS = select('#', ...) X = ...\ncore.register_init(function() INIT = 1 end)\ncore.register_task(function(a, b) return a + b end, 2, 3)\n");
    let e = Engine::new(
        &settings_with(&[(&f, &["first", "second"])]),
        EngineOptions::default(),
    )
    .unwrap();
    e.load_files().unwrap();
    assert_eq!(global_int(&e, "ARGS"), Some(2));
    assert_eq!(
        e.state().exec(b"return X", "t").unwrap(),
        vec![Value::String(b"first".to_vec())]
    );
    assert_eq!(
        global_int(&e, "INIT"),
        None,
        "init functions run at start, not in the body"
    );
    e.start().unwrap();
    assert_eq!(global_int(&e, "INIT"), Some(1));
    let specs = e.take_new_tasks();
    assert_eq!(specs.len(), 1);
    let (mut t, nargs) = e.spawn(&specs[0]).unwrap();
    assert_eq!(t.resume(nargs), Resume::Finished(vec![Value::Integer(5)]));
}

#[test]
fn load_errors_have_haproxy_wording() {
    let syn = script("syn.lua", "local x =\n");
    let e = Engine::new(&settings_with(&[(&syn, &[])]), EngineOptions::default()).unwrap();
    let err = e.load_files().unwrap_err();
    assert_eq!(
        err,
        format!(
            "parsing [t.cfg:2] : error in Lua file '{0}': {0}:2: unexpected symbol near <eof>",
            syn.display()
        )
    );
    drop(e);
    let rt = script("rt.lua", "\nerror('boom')\n");
    let e = Engine::new(&settings_with(&[(&rt, &[])]), EngineOptions::default()).unwrap();
    assert_eq!(
        e.load_files().unwrap_err(),
        format!(
            "parsing [t.cfg:2] : Lua runtime error: {}:2: boom",
            rt.display()
        )
    );
    drop(e);
    let missing = std::path::Path::new("/nonexistent/x.lua");
    let e = Engine::new(&settings_with(&[(missing, &[])]), EngineOptions::default()).unwrap();
    assert_eq!(
        e.load_files().unwrap_err(),
        "parsing [t.cfg:2] : error in Lua file '/nonexistent/x.lua': cannot open /nonexistent/x.lua: No such file or directory"
    );
}

#[test]
fn register_argument_errors() {
    let e = Engine::new(&LuaSettings::default(), EngineOptions::default()).unwrap();
    for (code, msg) in [
        ("core.register_action('a')", "'register_action' needs between 3 and 4 arguments"),
        ("core.register_action('a', {'foo'}, function() end)", "Lua action environment 'foo' is unknown. 'tcp-req', 'tcp-res', 'http-req' or 'http-res' are expected."),
        ("core.register_action('a', 'http-req', function() end)", "register_action: second argument must be a table of strings"),
        ("core.register_action('a', {'http-req'}, 3)", "bad argument #3 to 'register_action' (function expected, got number)"),
        ("core.register_action('a', {'http-req'}, function() end, 'x')", "bad argument #4 to 'register_action' (number expected, got string)"),
        ("core.register_fetches('f')", "'register_fetches' needs 2 arguments"),
        ("core.register_converters('c', {})", "bad argument #2 to 'register_converters' (function expected, got table)"),
        ("core.register_service('s', 'foo', function() end)", "Lua service environment 'foo' is unknown. 'tcp' or 'http' are expected."),
        ("core.register_cli('a', 'u', function() end)", "bad argument #1 to 'register_cli' (1st argument must be a table)"),
        ("core.register_init(1)", "bad argument #1 to 'register_init' (function expected, got number)"),
        ("core.log(9, 'x')", "bad argument #1 to 'log' (Invalid loglevel.)"),
        ("core.Alert()", "'alert' needs 1 arguments"),
        ("core.sleep(1.5)", "bad argument #1 to 'sleep' (number has no integer representation)"),
    ] {
        let err = e.state().exec(code.as_bytes(), "m.lua").unwrap_err().to_string();
        assert_eq!(err, format!("m.lua:1: {msg}"), "{code}");
    }
    e.state()
        .exec(b"core.register_action('a', {'http-req', 'tcp-req'}, function() end, 1) core.register_fetches('f', print) core.register_service('s', 'http', print) core.register_cli({'x', 'y'}, 'usage', print)", "ok")
        .unwrap();
    let r = e.registered();
    let a = r.action("a").unwrap();
    assert_eq!(a.kinds, [ActionKind::HttpReq, ActionKind::TcpReq]);
    assert_eq!(a.nb_args, 1);
    assert!(r.fetch("f").is_some() && r.service("s").is_some_and(|s| s.http));
    assert_eq!(r.clis[0].words, ["x", "y"]);
}

#[test]
fn constants_now_thread_and_sleep_outside_tasks() {
    let e = Engine::new(&LuaSettings::default(), EngineOptions::default()).unwrap();
    assert_eq!(global_int(&e, "core.emerg"), Some(0));
    assert_eq!(global_int(&e, "core.debug"), Some(7));
    assert_eq!(global_int(&e, "core.thread"), Some(0));
    let sec = global_int(&e, "core.now().sec").unwrap();
    assert!(sec > 1_600_000_000);
    assert!(global_int(&e, "core.now().usec").unwrap() < 1_000_000);
    // In a body, sleeping and yielding do nothing (HAProxy 2.6).
    assert_eq!(
        global_int(
            &e,
            "(function() core.msleep(10) core.yield() core.done() return 1 end)()"
        ),
        Some(1)
    );
}

#[test]
fn forced_yield_setting() {
    use crate::config::model::PreemptMode::{Count, Timer};
    use std::time::Duration;
    // Unset and 0 are HAProxy's default (10,000): the 1 ms slice, which is also the
    // safety layer's default.
    assert_eq!(preempt_for(None, Timer), Preempt::default());
    assert_eq!(preempt_for(Some(0), Timer), Preempt::Timer(Duration::from_millis(1)));
    assert_eq!(preempt_for(Some(10), Timer), Preempt::Timer(Duration::from_micros(100)));
    assert_eq!(preempt_for(Some(500), Timer), Preempt::Timer(Duration::from_micros(500)));
    assert_eq!(preempt_for(Some(1000), Timer), Preempt::Timer(Duration::from_millis(1)));
    assert_eq!(preempt_for(Some(1_000_000), Timer), Preempt::Timer(Duration::from_millis(1)));
    assert_eq!(preempt_for(Some(500), Count), Preempt::Count(500));
    assert_eq!(preempt_for(None, Count), Preempt::Count(10_000));
}

#[test]
fn a_second_registration_replaces_the_first_with_haproxy_warning() {
    let e = Engine::new(&LuaSettings::default(), EngineOptions::default()).unwrap();
    e.state()
        .exec(b"core.register_cli({'a', 'b'}, 'u1', print) core.register_cli({'a', 'b'}, 'u2', print) core.register_converters('c', print) core.register_converters('c', print)", "t")
        .unwrap();
    assert_eq!(
        e.take_warnings(),
        [
            "Trying to register CLI keyword 'lua.a b' more than once. This will become a hard error in version 2.5.",
            "Trying to register converter 'lua.c' more than once. This will become a hard error in version 2.5.",
        ]
    );
    let r = e.registered();
    assert_eq!(r.clis.len(), 1);
    assert_eq!(r.clis[0].usage, "u2");
    assert_eq!(r.converters.len(), 1);
}
