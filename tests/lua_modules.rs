//! Modules: the built-in ones (`package.preload`), the C module moonproxy ships, external C
//! modules through `package.cpath`, and the detection of blocking calls at run time.
use moonproxy::lua::{modules, State, Value};

fn state() -> State {
    let state = State::new().unwrap();
    modules::install_preload(&state).unwrap();
    state
}

fn exec_str(state: &State, code: &str) -> String {
    let r = state.exec(code.as_bytes(), "t.lua").unwrap();
    match r.as_slice() {
        [v] => v
            .as_str()
            .unwrap_or_else(|| panic!("not a string: {v:?}"))
            .to_string(),
        other => panic!("expected one string, got {other:?}"),
    }
}

#[test]
fn print_r_is_required_from_preload_without_any_file() {
    let state = state();
    // No file can be found: the module must come from package.preload.
    state
        .exec(b"package.path = '' package.cpath = ''", "t.lua")
        .unwrap();
    let out = exec_str(
        &state,
        r#"local print_r = require("moonproxy.print_r")
           local t = { 1, "two", name = "x", sub = { ok = true } }
           t.sub.up = t
           return print_r.tostring(t)"#,
    );
    let expected = r#"(table) TABLE {
  [1] = (number) 1
  [2] = (string) "two"
  ["name"] = (string) "x"
  ["sub"] = (table) TABLE {
    ["ok"] = (boolean) true
    ["up"] = (table) TABLE <cycle>
  }
}"#;
    let masked = mask_addresses(&out);
    assert_eq!(masked, expected, "{out}");
}

#[test]
fn print_r_lists_methods_marks_shared_tables_and_writes_through_display() {
    let state = state();
    let out = exec_str(
        &state,
        r#"local print_r = require("moonproxy.print_r")
           local class = { __index = { get = function() end, set = function() end, n = 1 } }
           local obj = setmetatable({ id = 7 }, class)
           local shared = {}
           local lines = {}
           print_r({ obj = obj, a = shared, b = shared }, false, function(t) lines[#lines + 1] = t end)
           assert(#lines == 1)
           return lines[1]"#,
    );
    let expected = r#"(table) TABLE {
  ["a"] = (table) TABLE {}
  ["b"] = (table) TABLE <seen>
  ["obj"] = (table) TABLE {
    ["id"] = (number) 7
    methods: get, set
  }
}"#;
    assert_eq!(mask_addresses(&out), expected, "{out}");
    // Colours wrap each label in ANSI codes.
    let out = exec_str(
        &state,
        r#"return require("moonproxy.print_r").tostring("x", true)"#,
    );
    assert_eq!(out, "\u{1b}[32m(string) \"x\"\u{1b}[0m");
}

/// Replaces `table: 0x...` by `TABLE` (addresses vary).
fn mask_addresses(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find("table: 0x") {
        out.push_str(&rest[..i]);
        out.push_str("TABLE");
        rest = rest[i + "table: 0x".len()..].trim_start_matches(|c: char| c.is_ascii_hexdigit());
    }
    out.push_str(rest);
    out
}

// --- moonproxy.codec (the C module moonproxy ships) ----------------------------------------

/// Runs `code` with `codec` bound to the module, and returns its integer results.
fn codec_ints(state: &State, code: &str) -> Vec<i64> {
    let code = format!("local codec = require('moonproxy.codec')\n{code}");
    state
        .exec(code.as_bytes(), "t.lua")
        .unwrap()
        .into_iter()
        .map(|v| match v {
            Value::Integer(i) => i,
            other => panic!("not an integer: {other:?}"),
        })
        .collect()
}

/// 47 bytes: two 16-byte (XXH32) / one 32-byte (XXH64) stripe, then every tail length.
const A: &str = "0123456789012345678901234567890123456789abcdefg";

#[test]
fn codec_hashes_match_known_vectors_and_haproxy_converters() {
    let state = state();
    let lua = |expr: &str| codec_ints(&state, &format!("local A = {A:?}\nreturn {expr}"));
    // Check values of the specifications.
    assert_eq!(lua("codec.crc32('123456789')"), [0xCBF4_3926]);
    assert_eq!(lua("codec.crc32c('123456789')"), [0xE306_9283]);
    assert_eq!(
        lua("codec.xxh32(''), codec.xxh32('abc')"),
        [0x02CC_5D05, 0x32D1_53FF]
    );
    assert_eq!(
        lua("codec.xxh64(''), codec.xxh64('abc')"),
        [0xEF46_DB37_51D8_E999_u64 as i64, 0x44BC_2CF5_AD77_0999]
    );
    // Values printed by HAProxy 2.6 for %[str(A),crc32] %[str(A),crc32c] %[str(A),xxh32]
    // %[str(A),xxh32(42)] %[str(A),xxh64] %[str(A),xxh64(42)].
    assert_eq!(
        lua("codec.crc32(A), codec.crc32c(A), codec.xxh32(A), codec.xxh32(A, 42), codec.xxh64(A), codec.xxh64(A, 42)"),
        [749893354, 1269813327, 548930001, 3643808610, 5622134209332857410, 7784461116082079707]
    );
    // CRCs chain: crc(b, crc(a)) == crc(a .. b), as zlib's.
    assert_eq!(
        lua("codec.crc32(A:sub(8), codec.crc32(A:sub(1, 7))) - codec.crc32(A), codec.crc32c(A:sub(20), codec.crc32c(A:sub(1, 19))) - codec.crc32c(A)"),
        [0, 0]
    );
}

#[test]
fn codec_encodings_round_trip_and_reject_malformed_input() {
    let state = state();
    let code = r#"local codec = require('moonproxy.codec')
        local A = "@A@"
        local function check(cond, what) if not cond then error(what, 2) end end
        -- Outputs printed by HAProxy 2.6 for base64, ub64enc and hex of A, "ab".
        check(codec.base64(A) == "MDEyMzQ1Njc4OTAxMjM0NTY3ODkwMTIzNDU2Nzg5MDEyMzQ1Njc4OWFiY2RlZmc=", "base64")
        check(codec.ub64enc(A) == "MDEyMzQ1Njc4OTAxMjM0NTY3ODkwMTIzNDU2Nzg5MDEyMzQ1Njc4OWFiY2RlZmc", "ub64enc")
        check(codec.base64("ab") == "YWI=" and codec.ub64enc("ab") == "YWI", "ab")
        check(codec.hex("\0\1\171\255") == "0001ABFF", "hex")
        -- RFC 4648 section 10 vectors.
        local rfc = {{"", ""}, {"f", "Zg=="}, {"fo", "Zm8="}, {"foo", "Zm9v"}, {"foob", "Zm9vYg=="},
                     {"fooba", "Zm9vYmE="}, {"foobar", "Zm9vYmFy"}}
        for _, v in ipairs(rfc) do
          check(codec.base64(v[1]) == v[2], "base64 " .. v[1])
          check(codec.b64dec(v[2]) == v[1], "b64dec " .. v[2])
          check(codec.ub64dec((v[2]:gsub("=", ""))) == v[1], "ub64dec " .. v[2])
          check(codec.ub64dec(v[2]) == v[1], "ub64dec padded " .. v[2])
        end
        -- Every byte value survives every round trip.
        local all = {}
        for i = 0, 255 do all[#all + 1] = string.char(i) end
        all = table.concat(all)
        for n = 0, 5 do
          local s = all:sub(1, 250 + n)
          check(codec.b64dec(codec.base64(s)) == s, "base64 round trip " .. n)
          check(codec.ub64dec(codec.ub64enc(s)) == s, "ub64 round trip " .. n)
          check(codec.unhex(codec.hex(s)) == s, "hex round trip " .. n)
        end
        check(codec.ub64enc("\251\255") == "-_8", "url alphabet")
        check(codec.unhex("abCD") == "\171\205", "unhex either case")
        -- Malformed input: nil and a message, never an error.
        local bad = {{codec.b64dec, "Zg="}, {codec.b64dec, "Zg"}, {codec.b64dec, "Z$=="},
                     {codec.b64dec, "Zh=="}, {codec.b64dec, "Z==="}, {codec.ub64dec, "Z"},
                     {codec.ub64dec, "+/8"}, {codec.unhex, "abc"}, {codec.unhex, "zz"}}
        for i, b in ipairs(bad) do
          local r, msg = b[1](b[2])
          check(r == nil and type(msg) == "string" and msg:find("^invalid "), "malformed #" .. i)
        end
        -- A non-string argument raises Lua's usual argument error (named 'moonproxy.codec.crc32'
        -- when called from C, as here through pcall).
        local ok, e = pcall(codec.crc32, {})
        check(not ok and e:find("bad argument #1 to '", 1, true) and e:find("crc32' (string expected, got table)", 1, true), e)
        return "ok""#
        .replace("@A@", A);
    let r = state.exec(code.as_bytes(), "codec.lua");
    assert_eq!(r, Ok(vec![Value::String(b"ok".to_vec())]));
}

#[test]
fn codec_running_out_of_memory_fails_only_that_call() {
    let state = state();
    state
        .exec(
            b"codec = require('moonproxy.codec') big = string.rep('x', 1 << 20)",
            "t.lua",
        )
        .unwrap();
    // Room for the existing 1 MB string, not for its 2 MB hex form.
    state.set_memory_limit(state.memory().current + (512 << 10));
    let r = state
        .exec(b"return pcall(codec.hex, big)", "t.lua")
        .unwrap();
    assert_eq!(
        r,
        vec![
            Value::Boolean(false),
            Value::String(b"not enough memory".to_vec())
        ]
    );
    // The buffer was released by the collector, and the state keeps working.
    state.collect_garbage();
    let r = state
        .exec(
            b"return codec.hex(big:sub(1, 3)), codec.crc32(big)",
            "t.lua",
        )
        .unwrap();
    assert_eq!(r[0], Value::String(b"787878".to_vec()));
    assert!(state.memory().current < state.memory().limit);
}

// --- External C modules through package.cpath: Debian's lua-cjson ------------------------

/// The directory holding Debian's `cjson.so` for Lua 5.4 (`apt-get install lua-cjson`).
fn cjson_dir() -> Option<std::path::PathBuf> {
    let listed = std::process::Command::new("dpkg")
        .args(["-L", "lua-cjson"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    let from_dpkg = listed
        .lines()
        .find(|l| l.ends_with("/lua/5.4/cjson.so"))
        .map(std::path::PathBuf::from);
    let fallback = [
        "/usr/local/lib/lua/5.4/cjson.so",
        "/usr/lib/lua/5.4/cjson.so",
    ]
    .into_iter()
    .map(std::path::PathBuf::from);
    from_dpkg
        .into_iter()
        .chain(fallback)
        .find(|p| p.is_file())
        .map(|p| p.parent().unwrap().to_path_buf())
}

#[test]
fn cjson_from_package_cpath_round_trips_a_document() {
    let Some(dir) = cjson_dir() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "lua-cjson for Lua 5.4 must be installed under CI (.ci/run installs it)"
        );
        eprintln!("skipped: lua-cjson is not installed (apt-get install lua-cjson)");
        return;
    };
    let state = state();
    let code = r#"
        package.cpath = "@DIR@/?.so"
        local cjson = require("cjson")
        local doc = '{"name":"moon\\u00e9","ports":[80,443],"tls":true,"weight":1.5,' ..
                    '"backup":null,"nested":{"a":{"b":[[],{}]}}}'
        local v = cjson.decode(doc)
        assert(v.name == "moon\195\169" and v.ports[2] == 443 and v.tls == true, "decode")
        assert(v.weight == 1.5 and v.backup == cjson.null and #v.nested.a.b == 2, "decode 2")
        -- encode then decode again gives the same document
        local again = cjson.decode(cjson.encode(v))
        assert(again.name == v.name and again.ports[1] == 80 and again.nested.a.b[1] ~= nil, "rt")
        assert(cjson.encode({1, 2, "x"}) == '[1,2,"x"]', "array")
        local ok, err = pcall(cjson.decode, "{bad")
        assert(not ok and err:find("Expected object key string"), err)
        return cjson.encode({ok = true})
    "#
    .replace("@DIR@", dir.to_str().unwrap());
    let r = state.exec(code.as_bytes(), "cjson.lua");
    assert_eq!(r, Ok(vec![Value::String(br#"{"ok":true}"#.to_vec())]));
    // The module resolved the Lua API against this executable (exported, -rdynamic): no
    // second Lua library was loaded for it.
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
    // (Debian's cjson.so is a link to liblua5.4-cjson.so.0.0.0: that one is the module.)
    assert!(maps.contains("cjson.so"), "the module is mapped");
    let other_lua = maps
        .lines()
        .filter_map(|l| l.split_whitespace().nth(5))
        .find(|path| path.contains("liblua") && !path.contains("cjson"));
    assert_eq!(other_lua, None, "a second Lua library was loaded");
}

// --- Blocking calls at run time (src/lua/api/blocking.rs) ---------------------------------

use moonproxy::lua::api::blocking::{self, BlockingCall};
use moonproxy::lua::{Limits, Resume, Task};
use std::cell::RefCell;
use std::rc::Rc;

/// A state with the detector installed and a sink that records what it receives.
fn detecting_state() -> (State, Rc<RefCell<Vec<BlockingCall>>>) {
    let state = state();
    blocking::install(&state).unwrap();
    let seen = Rc::new(RefCell::new(Vec::new()));
    let sink = seen.clone();
    blocking::set_sink(&state, move |call| sink.borrow_mut().push(call.clone()));
    (state, seen)
}

fn call(function: &str, source: &str, line: i32) -> BlockingCall {
    BlockingCall {
        function: function.into(),
        source: source.into(),
        line,
    }
}

fn temp_file(tag: &str, content: &str) -> String {
    let path =
        std::env::temp_dir().join(format!("moonproxy-blocking-{tag}-{}", std::process::id()));
    std::fs::write(&path, content).unwrap();
    path.to_str().unwrap().to_string()
}

#[test]
fn blocking_functions_work_during_init_and_warn_once_per_call_site_at_run_time() {
    let (state, seen) = detecting_state();
    let path = temp_file("warn", "hello");
    // Init (lua-load body): blocking functions are allowed and silent.
    let init = format!(
        "PATH = {path:?}\n\
         local f = assert(io.open(PATH, 'a')) f:write(' world') f:close()\n\
         for line in io.lines(PATH) do INIT = line end\n\
         return INIT"
    );
    let r = state.exec(init.as_bytes(), "init.lua").unwrap();
    assert_eq!(r, vec![Value::String(b"hello world".to_vec())]);
    assert!(seen.borrow().is_empty(), "{:?}", seen.borrow());

    blocking::enter_runtime(&state);
    // Run time, in a task: each site is reported once, however often it runs, and the call
    // still happens (warning mode).
    let code = "local out = {}\n\
                for i = 1, 3 do\n\
                  local f = io.open(PATH, 'r')\n\
                  out[#out + 1] = f:read('a') f:close()\n\
                end\n\
                os.remove(PATH .. '.absent')\n\
                local again = io.open(PATH, 'r') again:close()\n\
                return table.concat(out, '|')";
    let mut task = Task::new(&state, Limits::default()).unwrap();
    task.load(code.as_bytes(), "run.lua").unwrap();
    match task.resume(0) {
        Resume::Finished(v) => assert_eq!(
            v,
            vec![Value::String(
                b"hello world|hello world|hello world".to_vec()
            )]
        ),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        *seen.borrow(),
        vec![
            call("io.open", "run.lua", 3),
            call("file:read", "run.lua", 4),
            call("file:close", "run.lua", 4),
            call("os.remove", "run.lua", 6),
            call("io.open", "run.lua", 7),
            call("file:close", "run.lua", 7),
        ]
    );
    let _ = std::fs::remove_file(&path);
}

#[test]
fn strict_blocking_raises_instead_of_calling() {
    let (state, seen) = detecting_state();
    let path = temp_file("strict", "keep me");
    state
        .exec(format!("PATH = {path:?}").as_bytes(), "init.lua")
        .unwrap();
    blocking::enter_runtime(&state);
    blocking::set_strict(&state, true);
    let code = "local ok, e = pcall(function()\n  os.remove(PATH)\nend)\n\
                local ok2, e2 = pcall(function() print('never printed') end)\n\
                return ok, e, ok2, e2";
    let r = state.exec(code.as_bytes(), "strict.lua").unwrap();
    assert_eq!(
        r,
        vec![
            Value::Boolean(false),
            Value::String(
                b"strict.lua:2: blocking function 'os.remove' called at run time \
                  (tune.lua.strict-blocking on)"
                    .to_vec()
            ),
            Value::Boolean(false),
            Value::String(
                b"strict.lua:4: blocking function 'print' called at run time \
                  (tune.lua.strict-blocking on)"
                    .to_vec()
            ),
        ]
    );
    // The original function did not run, and nothing went to the sink.
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "keep me");
    assert!(seen.borrow().is_empty());
    // Uncaught in a task, the error ends the task with its traceback.
    let mut task = Task::new(&state, Limits::default()).unwrap();
    task.load(b"io.write('x')", "task.lua").unwrap();
    match task.resume(0) {
        Resume::Error { message, .. } => assert_eq!(
            message,
            "task.lua:1: blocking function 'io.write' called at run time \
             (tune.lua.strict-blocking on)"
        ),
        other => panic!("{other:?}"),
    }
    // Back to warnings.
    blocking::set_strict(&state, false);
    state
        .exec(b"os.remove(PATH .. '.absent')", "w.lua")
        .unwrap();
    assert_eq!(*seen.borrow(), vec![call("os.remove", "w.lua", 1)]);
    let _ = std::fs::remove_file(&path);
}

#[test]
fn luasocket_and_file_system_require_are_detected() {
    let (state, seen) = detecting_state();
    // A stand-in for LuaSocket (not installed here): required at init, used at run time.
    state
        .exec(
            b"package.preload['socket'] = function()\n\
                return { tcp = function() return 'tcp object' end, gettime = function() return 1 end,\n\
                         dns = { toip = function() return '127.0.0.1' end } }\n\
              end\n\
              socket = require('socket')",
            "init.lua",
        )
        .unwrap();
    blocking::enter_runtime(&state);
    let code = "local t = socket.tcp()\n\
                local ip = socket.dns.toip('localhost')\n\
                local now = socket.gettime()\n\
                local again = require('socket')\n\
                local p = require('moonproxy.print_r')\n\
                local ok = pcall(require, 'no.such.module')\n\
                return t, ip, ok";
    let r = state.exec(code.as_bytes(), "net.lua").unwrap();
    assert_eq!(
        r,
        vec![
            Value::String(b"tcp object".to_vec()),
            Value::String(b"127.0.0.1".to_vec()),
            Value::Boolean(false),
        ]
    );
    // gettime does not block; an already loaded or preloaded module is not searched for.
    assert_eq!(
        *seen.borrow(),
        vec![
            call("socket.tcp", "net.lua", 1),
            call("socket.dns.toip", "net.lua", 2),
            call("require", "net.lua", 6),
        ]
    );
}

#[test]
fn wrapped_functions_keep_their_errors() {
    // Same messages, positions included, as without the wrappers (the deviations listed in
    // blocking.rs's docs, tail calls, method argument numbers and C callers, are left out).
    let plain = State::new().unwrap();
    let (state, _) = detecting_state();
    let bad_chunk = temp_file("chunk", "local x = 1\nerror('from the chunk')\n");
    let code = format!(
        r#"local results = {{}}
        local function try(f) local ok, e = pcall(f) results[#results + 1] = tostring(e) end
        try(function()
          local f = io.open()
        end)
        try(function() os.remove() end)
        try(function() print(setmetatable({{}}, {{ __tostring = function() return {{}} end }})) end)
        try(function() dofile({bad_chunk:?}) end)
        try(function() io.write({{}}) end)
        return table.concat(results, "\n")"#
    );
    let expected = plain.exec(code.as_bytes(), "t.lua").unwrap();
    assert_eq!(state.exec(code.as_bytes(), "t.lua").unwrap(), expected);
    blocking::enter_runtime(&state);
    assert_eq!(state.exec(code.as_bytes(), "t.lua").unwrap(), expected);
    let _ = std::fs::remove_file(&bad_chunk);
}
