//! The library part of the HAProxy Lua API: `core.concat` (Concat), `core.tokenize`,
//! `core.parse_addr`, `core.match_addr` and the `Regex` class.
//!
//! The expected values are what HAProxy 2.6 answers to the same snippets (a `lua-load` body
//! printing them with `core.Alert`, run by `haproxy -c`), except where a module's doc lists a
//! deviation; those cases say so. `same_answers_as_haproxy` replays the cases where moonproxy
//! means to answer exactly as HAProxy through the real `haproxy` and compares.
mod common;

use moonproxy::lua::api::{addr, concat, regex, text};
use moonproxy::lua::{maxmem_bytes, RustFunction, State, Value};

/// Serialises any value the way the tests compare them: strings quoted (`%q`), tables with
/// sorted keys, other values as `type:value`.
const SHOW: &str = r#"
function show(v)
  if type(v) == "table" then
    local keys = {}
    for k in pairs(v) do keys[#keys + 1] = k end
    table.sort(keys, function(a, b)
      if type(a) == type(b) and type(a) == "number" then return a < b end
      return tostring(a) < tostring(b)
    end)
    local out = {}
    for _, k in ipairs(keys) do out[#out + 1] = tostring(k) .. "=" .. show(v[k]) end
    return "{" .. table.concat(out, ",") .. "}"
  end
  if type(v) == "string" then return (string.format("%q", v):gsub("\\\n", "\\n")) end
  return type(v) .. ":" .. tostring(v)
end
-- Runs f in pcall and shows everything it returned: "ok | r1 | r2" or "err | message".
function try(f)
  local r = table.pack(pcall(f))
  local out = { r[1] and "ok" or "err" }
  for i = 2, r.n do
    out[#out + 1] = (not r[1] and type(r[i]) == "string") and r[i] or show(r[i])
  end
  return table.concat(out, " | ")
end
"#;

/// A state with the `core` table built from the modules' `core_functions()` (as the core
/// module will do), the global `Regex`, and the test helpers above.
fn state() -> State {
    let state = State::new().unwrap();
    install(&state);
    state
}

fn install(state: &State) {
    let groups: [&[(&str, &'static RustFunction)]; 3] = [
        concat::core_functions(),
        text::core_functions(),
        addr::core_functions(),
    ];
    state.exec(b"core = {}", "setup").unwrap();
    for (name, f) in groups.into_iter().flatten() {
        state.set_global_function("__f", f).unwrap();
        let code = format!("core.{name} = __f; __f = nil");
        state.exec(code.as_bytes(), "setup").unwrap();
    }
    regex::install_globals(state).unwrap();
    state.exec(SHOW.as_bytes(), "show").unwrap();
}

/// Runs `body` (a function body) under `try` and returns its summary line.
fn run(state: &State, body: &str) -> String {
    let code = format!("return try(function() {body} end)");
    match state.exec(code.as_bytes(), "t.lua") {
        Ok(v) => match v.as_slice() {
            [Value::String(s)] => String::from_utf8_lossy(s).into_owned(),
            other => panic!("unexpected results {other:?}"),
        },
        Err(e) => panic!("chunk failed: {e}"),
    }
}

/// Asserts each `(body, expected)` pair on one state.
fn check(cases: &[(&str, &str)]) {
    let state = state();
    for (body, expected) in cases {
        assert_eq!(run(&state, body), *expected, "for: {body}");
    }
}

// --- core_functions() --------------------------------------------------------------------------

#[test]
fn core_function_names_are_haproxys() {
    let names =
        |f: &[(&str, &RustFunction)]| f.iter().map(|(n, _)| n.to_string()).collect::<Vec<_>>();
    assert_eq!(names(concat::core_functions()), ["concat"]);
    assert_eq!(names(text::core_functions()), ["tokenize"]);
    assert_eq!(names(addr::core_functions()), ["parse_addr", "match_addr"]);
}

// --- Concat ------------------------------------------------------------------------------------

#[test]
fn concat_adds_and_dumps() {
    check(&[
        (
            r#"local c = core.concat(); c:add("a"); c:add("bc"); return c:dump()"#,
            r#"ok | "abc""#,
        ),
        (r#"return core.concat():dump()"#, r#"ok | """#),
        // add returns nothing, ignores extra arguments.
        (r#"local c = core.concat(); return c:add("x")"#, "ok"),
        (
            r#"local c = core.concat(); c:add("a", "b"); return c:dump()"#,
            r#"ok | "a""#,
        ),
        // dump does not empty the buffer.
        (
            r#"local c = core.concat(); c:add("ab"); local d = c:dump(); c:add("c"); return d, c:dump()"#,
            r#"ok | "ab" | "abc""#,
        ),
        // Binary content.
        (
            r#"local c = core.concat(); c:add("a\0b"); return c:dump(), #c:dump()"#,
            r#"ok | "a\0b" | number:3"#,
        ),
        // Two objects are independent.
        (
            r#"local a, b = core.concat(), core.concat(); a:add("1"); b:add("2"); return a:dump(), b:dump()"#,
            r#"ok | "1" | "2""#,
        ),
        // Methods can be called through the class too.
        (
            r#"local c = core.concat(); c.add(c, "x"); return c.dump(c)"#,
            r#"ok | "x""#,
        ),
    ]);
}

#[test]
fn concat_accepts_numbers_formatted_as_tostring() {
    check(&[
        (
            r#"local c = core.concat(); c:add(12); c:add(1.5); return c:dump()"#,
            r#"ok | "121.5""#,
        ),
        (
            r#"local c = core.concat(); c:add(3.0); return c:dump()"#,
            r#"ok | "3.0""#,
        ),
        (
            r#"local c = core.concat(); c:add(2^53); c:add(-0.0); c:add(1e100); c:add(math.huge); c:add(math.mininteger) return c:dump()"#,
            r#"ok | "9.007199254741e+15-0.01e+100inf-9223372036854775808""#,
        ),
    ]);
}

#[test]
fn concat_argument_errors() {
    check(&[
        (
            r#"local c = core.concat(); c:add(nil)"#,
            "err | t.lua:1: bad argument #1 to 'add' (string expected, got nil)",
        ),
        (
            r#"local c = core.concat(); c:add(true)"#,
            "err | t.lua:1: bad argument #1 to 'add' (string expected, got boolean)",
        ),
        (
            r#"local c = core.concat(); c:add({})"#,
            "err | t.lua:1: bad argument #1 to 'add' (string expected, got table)",
        ),
        (
            r#"local c = core.concat(); c:add()"#,
            "err | t.lua:1: bad argument #1 to 'add' (string expected, got no value)",
        ),
        // Not a method call: the object counts as argument #1 (as in HAProxy).
        (
            r#"local c = core.concat(); c.add(c)"#,
            "err | t.lua:1: bad argument #2 to 'add' (string expected, got no value)",
        ),
        // Deviation: HAProxy says "((null))" for a bad object.
        (
            r#"local c = core.concat(); c.add(nil, "x")"#,
            "err | t.lua:1: bad argument #1 to 'add' (Concat expected, got nil)",
        ),
        (
            r#"local c = core.concat(); c.dump({})"#,
            "err | t.lua:1: bad argument #1 to 'dump' (Concat expected, got table)",
        ),
        (
            r#"local c = core.concat(); local t = { add = c.add }; t:add("x")"#,
            "err | t.lua:1: calling 'add' on bad self (Concat expected, got table)",
        ),
        // Called by pcall directly there is no caller position, as with luaL_error.
        (
            r#"return pcall(core.concat().dump, 1)"#,
            "ok | boolean:false | \"bad argument #1 to 'dump' (Concat expected, got number)\"",
        ),
    ]);
}

#[test]
fn concat_object_is_a_closed_userdata() {
    // Deviation: HAProxy's object is a table with a visible metatable.
    check(&[(
        r#"local c = core.concat(); return type(c), getmetatable(c), (tostring(c):gsub("0x%x+", "ADDR"))"#,
        r#"ok | "userdata" | boolean:false | "Concat object: ADDR""#,
    )]);
}

#[test]
fn concat_large_inputs() {
    check(&[
        (
            r#"local c = core.concat(); for i = 1, 100000 do c:add("xyz") end; return #c:dump()"#,
            "ok | number:300000",
        ),
        (
            r#"local c = core.concat(); local big = string.rep("0123456789", 100000)
               c:add(big); c:add(big); local d = c:dump()
               return #d, d == big .. big"#,
            "ok | number:2000000 | boolean:true",
        ),
        (
            r#"local c = core.concat(); local want = {}
               for i = 1, 5000 do c:add(i); want[#want + 1] = tostring(i) end
               return c:dump() == table.concat(want)"#,
            "ok | boolean:true",
        ),
    ]);
}

#[test]
fn concat_memory_counts_against_maxmem() {
    let state = state();
    state.set_memory_limit(state.memory().current + maxmem_bytes(1));
    // 100 KB chunks: the Concat passes the 1 MB limit and its add fails, not the process.
    let r = run(
        &state,
        r#"local c = core.concat(); local chunk = string.rep("x", 100000)
           for i = 1, 100 do c:add(chunk) end"#,
    );
    assert_eq!(r, "err | not enough memory");
    // The state works again once the garbage (the Concat) is collected.
    state.collect_garbage();
    let r = run(
        &state,
        r#"local c = core.concat(); c:add("ok"); return c:dump()"#,
    );
    assert_eq!(r, r#"ok | "ok""#);
}

#[test]
fn garbage_concats_are_collected_before_the_limit_refuses() {
    // 100 Concats of 500 KB each under a 4 MB limit: the collector does not see the buffers
    // grow, so without an emergency collection on refusal (and collector steps as they grow)
    // the garbage ones would exhaust the limit.
    let state = state();
    state.collect_garbage();
    state.set_memory_limit(state.memory().current + maxmem_bytes(4));
    let r = run(
        &state,
        r#"local chunk = string.rep("z", 500000)
           for i = 1, 100 do local c = core.concat(); c:add(chunk) end
           local c = core.concat(); c:add(chunk); c:add(chunk); return #c:dump()"#,
    );
    assert_eq!(r, "ok | number:1000000");
}

#[test]
fn concat_buffers_are_freed_by_the_collector() {
    let state = state();
    state.collect_garbage();
    let before = state.memory().current;
    state
        .exec(
            br#"for i = 1, 50 do local c = core.concat(); c:add(string.rep("y", 100000)) end"#,
            "t.lua",
        )
        .unwrap();
    state.collect_garbage();
    let after = state.memory().current;
    assert!(
        after < before + 100_000,
        "50 buffers of 100 KB were released: {before} -> {after}"
    );
}

// --- core.tokenize -----------------------------------------------------------------------------

#[test]
fn tokenize_splits_as_haproxy() {
    check(&[
        (
            r#"return core.tokenize("a,b,,c", ",")"#,
            r#"ok | {1="a",2="b",3="",4="c"}"#,
        ),
        (
            r#"return core.tokenize("a,b,,c", ",", true)"#,
            r#"ok | {1="a",2="b",3="c"}"#,
        ),
        (
            r#"return core.tokenize(",a,b,", ",")"#,
            r#"ok | {1="",2="a",3="b",4=""}"#,
        ),
        (
            r#"return core.tokenize(",a,b,", ",", true)"#,
            r#"ok | {1="a",2="b"}"#,
        ),
        (r#"return core.tokenize("", ",")"#, r#"ok | {1=""}"#),
        (r#"return core.tokenize("", ",", true)"#, "ok | {}"),
        (r#"return core.tokenize("abc", "")"#, r#"ok | {1="abc"}"#),
        (
            r#"return core.tokenize("a b;c", " ;")"#,
            r#"ok | {1="a",2="b",3="c"}"#,
        ),
        (
            r#"return core.tokenize(12345, 3)"#,
            r#"ok | {1="12",2="45"}"#,
        ),
        (r#"return core.tokenize(1.5, ".")"#, r#"ok | {1="1",2="5"}"#),
        (
            r#"return core.tokenize("a,,b", ",", false)"#,
            r#"ok | {1="a",2="",3="b"}"#,
        ),
        (r#"return core.tokenize(",,,", ",", true)"#, "ok | {}"),
        (
            r#"return core.tokenize(",,,", ",")"#,
            r#"ok | {1="",2="",3="",4=""}"#,
        ),
        (
            r#"return core.tokenize("a,b", ",", true, 5)"#,
            r#"ok | {1="a",2="b"}"#,
        ),
        (r#"return #core.tokenize("a,b", ",")"#, "ok | number:2"),
    ]);
}

#[test]
fn tokenize_is_binary_safe() {
    // Deviation: HAProxy stops at the first NUL byte ({"a"} here).
    check(&[
        (
            r#"return core.tokenize("a\0b,c", ",")"#,
            r#"ok | {1="a\0b",2="c"}"#,
        ),
        (
            r#"return core.tokenize("a\0b", "\0")"#,
            r#"ok | {1="a",2="b"}"#,
        ),
    ]);
}

#[test]
fn tokenize_large_input() {
    check(&[(
        r#"local s = string.rep("ab,", 100000); local t = core.tokenize(s, ",")
           return #t, t[1], t[100000], t[100001]"#,
        r#"ok | number:100001 | "ab" | "ab" | """#,
    )]);
}

#[test]
fn tokenize_argument_errors() {
    check(&[
        (
            r#"return core.tokenize(nil, ",")"#,
            "err | t.lua:1: bad argument #1 to 'tokenize' (string expected, got nil)",
        ),
        (
            r#"return core.tokenize("a", nil)"#,
            "err | t.lua:1: bad argument #2 to 'tokenize' (string expected, got nil)",
        ),
        (
            r#"return core.tokenize()"#,
            "err | t.lua:1: bad argument #1 to 'tokenize' (string expected, got no value)",
        ),
        (
            r#"return core.tokenize({}, ",")"#,
            "err | t.lua:1: bad argument #1 to 'tokenize' (string expected, got table)",
        ),
        (
            r#"return core.tokenize("a,b", ",", 1)"#,
            "err | t.lua:1: bad argument #3 to 'tokenize' (boolean expected)",
        ),
        (
            r#"return core.tokenize("a,b", ",", nil)"#,
            "err | t.lua:1: bad argument #3 to 'tokenize' (boolean expected)",
        ),
        (
            r#"return core.tokenize("a,b", ",", "x")"#,
            "err | t.lua:1: bad argument #3 to 'tokenize' (boolean expected)",
        ),
    ]);
}

#[test]
fn tokenize_under_a_memory_limit() {
    let state = state();
    state.set_memory_limit(state.memory().current + maxmem_bytes(1));
    // 300,000 pieces need far more than 1 MB: the call fails, the state survives.
    let r = run(
        &state,
        r#"return #core.tokenize(string.rep(",", 300000), ",")"#,
    );
    assert_eq!(r, "err | not enough memory");
    state.collect_garbage();
    let r = run(&state, r#"return core.tokenize("a,b", ",")"#);
    assert_eq!(r, r#"ok | {1="a",2="b"}"#);
}

// --- core.parse_addr / core.match_addr ------------------------------------------------------------

#[test]
fn parse_addr_returns_a_userdata_or_nil() {
    let parsed = |s: &str| format!(r#"local a = core.parse_addr("{s}") return type(a)"#);
    let state = state();
    for ok in [
        "192.168.1.1",
        "192.168.1.0/24",
        "10.0.0.0/255.0.0.0",
        "10.0.0.0/255.0.255.0",
        "1.2.3.4/0",
        "1.2.3.4/32",
        "1.2.3.4/ 8",
        "1.2.3.4/+8",
        "1.2.3.4/08",
        "0.0.0.0",
        "::1",
        "2001:db8::/32",
        "::ffff:1.2.3.4",
        "::/0",
        "::1/ 64",
    ] {
        assert_eq!(run(&state, &parsed(ok)), r#"ok | "userdata""#, "{ok}");
    }
    for bad in [
        "bogus",
        "",
        "192.168.1.1/33",
        "::1/129",
        "256.1.1.1",
        " 1.2.3.4",
        "1.2.3.4 ",
        "1.2.3.4/",
        "1.2.3.4:80",
        "[::1]",
        "1.2.3.4/24/8",
        "fe80::1%eth0",
        "*",
        "::1/64x",
        "1.2.3.4/8x",
        "::1/-1",
        "1.2.3.4/-1",
        "2001:db8::1/ffff::",
        "1.2.3.4/4294967295",
        "ipv4@1.2.3.4",
        "0x1.2.3.4",
    ] {
        assert_eq!(run(&state, &parsed(bad)), r#"ok | "nil""#, "{bad}");
    }
    // Deviations (see addr.rs): HAProxy resolves these with getaddrinfo, moonproxy never
    // resolves (a blocking DNS query), and reads the string whole.
    for numeric_only in ["localhost", "1.2.3", "01.2.3.4", "1.2.3.4\\0junk"] {
        assert_eq!(
            run(&state, &parsed(numeric_only)),
            r#"ok | "nil""#,
            "{numeric_only}"
        );
    }
}

#[test]
fn parse_addr_argument_errors() {
    check(&[
        (
            "return core.parse_addr(nil)",
            "err | t.lua:1: bad argument #1 to 'parse_addr' (string expected, got nil)",
        ),
        (
            "return core.parse_addr()",
            "err | t.lua:1: bad argument #1 to 'parse_addr' (string expected, got no value)",
        ),
        (
            "return core.parse_addr({})",
            "err | t.lua:1: bad argument #1 to 'parse_addr' (string expected, got table)",
        ),
        // A number is read as its text (HAProxy then resolves "1234" to 0.0.4.210).
        ("return core.parse_addr(1234)", "ok | nil:nil"),
    ]);
}

#[test]
fn match_addr_as_haproxy() {
    let state = state();
    let cases = [
        ("192.168.1.1", "192.168.1.1", true),
        ("192.168.1.1", "192.168.1.0/24", true),
        ("192.168.1.0/24", "192.168.1.1", true),
        ("192.168.2.1", "192.168.1.0/24", false),
        ("192.168.0.0/16", "192.168.1.0/24", true),
        ("0.0.0.0/0", "1.2.3.4", true),
        ("10.1.0.0/16", "10.0.0.0/8", true),
        ("10.0.0.0/8", "10.1.0.0/16", true),
        ("1.2.3.4/24", "1.2.3.5/24", true),
        ("10.0.0.0/255.0.255.0", "10.1.0.1", true),
        ("10.0.0.0/255.0.255.0", "10.1.1.1", false),
        // The addresses are not masked at parse time (HAProxy's formula).
        ("10.1.0.0/16", "10.1.0.0/8", false),
        ("10.1.2.3/8", "10.9.9.9/32", false),
        ("1.2.3.4", "1.2.3.4/0", false),
        ("::1", "::1", true),
        ("2001:db8::1", "2001:db8::/32", true),
        ("2001:db9::1", "2001:db8::/32", false),
        ("2001:db8::1/16", "2001:db9::1/16", true),
        ("2001:db8::/16", "2001:db8::", false),
        ("2001:db8::/32", "2001:db8::/16", false),
        ("2001:db8::/16", "2001:db8::/32", false),
        ("::/0", "::1", true),
        ("2001:db8::1", "::/0", true),
        ("2001:db8::5/127", "2001:db8::4", false),
        ("2001:db8::4/127", "2001:db8::5", true),
        ("2001:db8::/33", "2001:db8:8000::", false),
        ("2001:db8::/33", "2001:db8:7fff::", true),
        ("2001:db8::/3", "3fff::", false),
        // Families never match.
        ("1.2.3.4", "::ffff:1.2.3.4", false),
        ("::ffff:1.2.3.4", "1.2.3.4", false),
        ("::/0", "1.2.3.4", false),
        ("1.2.3.0/24", "::ffff:1.2.3.9", false),
    ];
    for (a, b, expected) in cases {
        let code =
            format!(r#"return core.match_addr(core.parse_addr("{a}"), core.parse_addr("{b}"))"#);
        assert_eq!(
            run(&state, &code),
            format!("ok | boolean:{expected}"),
            "{a} vs {b}"
        );
    }
}

#[test]
fn match_addr_with_other_values_is_false() {
    check(&[
        (
            r#"return core.match_addr(nil, core.parse_addr("1.2.3.4"))"#,
            "ok | boolean:false",
        ),
        (
            r#"return core.match_addr(core.parse_addr("1.2.3.4"), "1.2.3.4")"#,
            "ok | boolean:false",
        ),
        (
            r#"return core.match_addr(core.parse_addr("1.2.3.4"))"#,
            "ok | boolean:false",
        ),
        (
            r#"return core.match_addr(core.concat(), core.parse_addr("1.2.3.4"))"#,
            "ok | boolean:false",
        ),
        (r#"return core.match_addr()"#, "ok | boolean:false"),
    ]);
}

// --- Regex ---------------------------------------------------------------------------------------

#[test]
fn regex_new_returns_status_and_object() {
    check(&[
        (
            r#"local ok, r = Regex.new("^a(b+)c$", false) return ok, type(r)"#,
            r#"ok | boolean:true | "userdata""#,
        ),
        (
            r#"local ok, r = Regex.new(12, true) return ok, r:exec("a12")"#,
            "ok | boolean:true | boolean:true",
        ),
        (
            r#"return Regex.new("a(b", false)"#,
            r#"ok | boolean:false | "regex 'a(b' is invalid (error=unclosed group, erroffset=1)""#,
        ),
        (
            r#"local ok, e = Regex.new("[", false) return ok, e:match("^regex '%[' is invalid %(error=.*, erroffset=%d+%)$") ~= nil"#,
            "ok | boolean:false | boolean:true",
        ),
        (
            r#"local ok, e = Regex.new("*", false) return ok, e:match("^regex '%*' is invalid") ~= nil"#,
            "ok | boolean:false | boolean:true",
        ),
        // Extra arguments are ignored.
        (r#"return (Regex.new("a", true, 5))"#, "ok | boolean:true"),
        // The global table: new, plus exec and match through its metatable.
        (
            r#"local ok, r = Regex.new("a", true) return Regex.exec(r, "a"), Regex.match(r, "a")"#,
            r#"ok | boolean:true | boolean:true | {1="a"}"#,
        ),
        (
            r#"local n = 0 for k in pairs(Regex) do n = n + 1 end return n, type(Regex.new)"#,
            r#"ok | number:1 | "function""#,
        ),
    ]);
}

#[test]
fn regex_second_argument_is_case_sensitive() {
    // HAProxy's documentation names it "icase"; HAProxy 2.6 treats true as case-sensitive.
    check(&[
        (
            r#"local ok, r = Regex.new("^a(b+)c$", false) return r:exec("abbc"), r:exec("ABBC"), r:exec("xabbc")"#,
            "ok | boolean:true | boolean:true | boolean:false",
        ),
        (
            r#"local ok, r = Regex.new("^a(b+)c$", true) return r:exec("abbc"), r:exec("ABBC")"#,
            "ok | boolean:true | boolean:false",
        ),
        (
            r#"local ok, r = Regex.new("(?i)AB", true) return r:exec("ab")"#,
            "ok | boolean:true",
        ),
        // Caseless matching is ASCII-only (PCRE2 without UTF).
        (
            r#"local ok, r = Regex.new("é", false) return r:exec("É"), r:exec("é")"#,
            "ok | boolean:false | boolean:true",
        ),
    ]);
}

#[test]
fn regex_match_returns_captures() {
    check(&[
        (
            r#"local ok, r = Regex.new("a(b+)(x)?c", false) return r:match("zzabbbczz")"#,
            r#"ok | boolean:true | {1="abbbc",2="bbb"}"#,
        ),
        (
            r#"local ok, r = Regex.new("a(b+)c", false) return r:match("nope")"#,
            "ok | boolean:false | {}",
        ),
        (
            r#"local ok, r = Regex.new("(a)|(b)", false) return r:match("b")"#,
            r#"ok | boolean:true | {1="b"}"#,
        ),
        (
            r#"local ok, r = Regex.new("(a)(b)?", false) return r:match("a")"#,
            r#"ok | boolean:true | {1="a",2="a"}"#,
        ),
        (
            r#"local ok, r = Regex.new("\\d+", false) return r:match("ab123cd")"#,
            r#"ok | boolean:true | {1="123"}"#,
        ),
        (
            r#"local ok, r = Regex.new("(?<year>\\d{4})", false) return r:match("in 2024")"#,
            r#"ok | boolean:true | {1="2024",2="2024"}"#,
        ),
        (
            r#"local ok, r = Regex.new("[[:alpha:]]+", true) return r:match("12ab3")"#,
            r#"ok | boolean:true | {1="ab"}"#,
        ),
        (
            r#"local ok, r = Regex.new("", false) return r:exec(""), r:match("")"#,
            r#"ok | boolean:true | boolean:true | {1=""}"#,
        ),
        // At most 20 entries: the whole match and the first 19 groups.
        (
            r#"local ok, r = Regex.new("(a)(b)(c)(d)(e)(f)(g)(h)(i)(j)(k)(l)(m)(n)(o)(p)(q)(r)(s)(t)(u)(v)", false)
               local _, t = r:match("abcdefghijklmnopqrstuv") return #t, t[1], t[20]"#,
            r#"ok | number:20 | "abcdefghijklmnopqrstuv" | "s""#,
        ),
        (
            r#"local ok, r = Regex.new("a", false) return r:exec(12)"#,
            "ok | boolean:false",
        ),
        (
            r#"local ok, r = Regex.new("a", false) return r:exec("a", "b")"#,
            "ok | boolean:true",
        ),
    ]);
}

#[test]
fn regex_matches_bytes() {
    check(&[
        (
            r#"local ok, r = Regex.new("^.$", false) return r:exec("é"), r:exec("\xff")"#,
            "ok | boolean:false | boolean:true",
        ),
        (
            r#"local ok, r = Regex.new("[é]", true) return r:exec("\xa9"), r:exec("\xc3")"#,
            "ok | boolean:true | boolean:true",
        ),
        (
            r#"local ok, r = Regex.new("\\w+", true) return r:match("é")"#,
            "ok | boolean:false | {}",
        ),
        (
            r#"local ok, r = Regex.new("a.c", false) return r:exec("a\nc")"#,
            "ok | boolean:false",
        ),
        (
            r#"local ok, r = Regex.new("^b", false) return r:exec("a\nb")"#,
            "ok | boolean:false",
        ),
        (
            r#"local ok, r = Regex.new("b", false) return r:exec("a\0b")"#,
            "ok | boolean:true",
        ),
        (
            r#"local ok, r = Regex.new("\\bfoo\\b", true) return r:exec("a foo b")"#,
            "ok | boolean:true",
        ),
        // A pathological pattern for backtracking engines is linear here.
        (
            r#"local ok, r = Regex.new("^(a+)+$", false) return r:exec(string.rep("a", 5000) .. "b")"#,
            "ok | boolean:false",
        ),
    ]);
}

#[test]
fn regex_pcre_only_features_are_refused() {
    // Deviation: PCRE2 accepts these (backreferences, look-around, possessive quantifiers).
    check(&[
        (
            r#"local ok, e = Regex.new("(a)\\1", false) return ok, e"#,
            r#"ok | boolean:false | "regex '(a)\\1' is invalid (error=backreferences are not supported, erroffset=3)""#,
        ),
        (
            r#"local ok, e = Regex.new("a(?=b)", false) return ok, e"#,
            r#"ok | boolean:false | "regex 'a(?=b)' is invalid (error=look-around, including look-ahead and look-behind, is not supported, erroffset=1)""#,
        ),
        (r#"return (Regex.new("a++b", true))"#, "ok | boolean:false"),
        (
            r#"return (Regex.new("(?<=x)a", true))"#,
            "ok | boolean:false",
        ),
    ]);
}

#[test]
fn regex_argument_errors() {
    check(&[
        (
            r#"return Regex.new(nil, true)"#,
            "err | t.lua:1: bad argument #1 to 'new' (string expected, got nil)",
        ),
        // HAProxy says "((null))" for the second argument.
        (
            r#"return Regex.new("a(b")"#,
            "err | t.lua:1: bad argument #2 to 'new' (boolean expected, got no value)",
        ),
        (
            r#"return Regex.new("ab", 1)"#,
            "err | t.lua:1: bad argument #2 to 'new' (boolean expected, got number)",
        ),
        (
            r#"return Regex.new("ab", nil)"#,
            "err | t.lua:1: bad argument #2 to 'new' (boolean expected, got nil)",
        ),
        (
            r#"local ok, r = Regex.new("a", false) return r:exec(nil)"#,
            "err | t.lua:1: bad argument #1 to 'exec' (string expected, got nil)",
        ),
        (
            r#"local ok, r = Regex.new("a", false) return r:exec()"#,
            "err | t.lua:1: bad argument #1 to 'exec' (string expected, got no value)",
        ),
        (
            r#"local ok, r = Regex.new("a", false) return r:match(nil)"#,
            "err | t.lua:1: bad argument #1 to 'match' (string expected, got nil)",
        ),
        (
            r#"local ok, r = Regex.new("a", false) return r.exec(nil, "a")"#,
            "err | t.lua:1: bad argument #1 to 'exec' (Regex expected, got nil)",
        ),
        (
            r#"return Regex.exec("a", "b")"#,
            "err | t.lua:1: bad argument #1 to 'exec' (Regex expected, got string)",
        ),
        (
            r#"local ok, r = Regex.new("a", false) return r.match({}, "a")"#,
            "err | t.lua:1: bad argument #1 to 'match' (Regex expected, got table)",
        ),
        (
            r#"local ok, r = Regex.new("a", false) return r.match(core.concat(), "a")"#,
            "err | t.lua:1: bad argument #1 to 'match' (Regex expected, got userdata)",
        ),
    ]);
}

// --- Differential test against HAProxy ---------------------------------------------------------

/// Snippets (function bodies) whose results must be the same in moonproxy and HAProxy 2.6.
/// Error messages are compared without their `file:line:` prefix.
const SAME_AS_HAPROXY: &[&str] = &[
    // Concat
    r#"local c = core.concat(); c:add("a"); c:add("bc"); return c:dump()"#,
    r#"return core.concat():dump()"#,
    r#"local c = core.concat(); return c:add("x")"#,
    r#"local c = core.concat(); c:add("a", "b"); return c:dump()"#,
    r#"local c = core.concat(); c:add("ab"); local d = c:dump(); c:add("c"); return d, c:dump()"#,
    r#"local c = core.concat(); c:add("a\0b"); return c:dump(), #c:dump()"#,
    r#"local c = core.concat(); c:add(12); c:add(1.5); c:add(3.0); c:add(-0.0); c:add(2^53); c:add(1e100); c:add(math.huge); c:add(math.mininteger); return c:dump()"#,
    r#"local c = core.concat(); for i = 1, 20000 do c:add("xyz") end; return #c:dump()"#,
    r#"local c = core.concat(); c:add(nil)"#,
    r#"local c = core.concat(); c:add(true)"#,
    r#"local c = core.concat(); c:add({})"#,
    r#"local c = core.concat(); c:add()"#,
    r#"local c = core.concat(); c.add(c)"#,
    // tokenize
    r#"return core.tokenize("a,b,,c", ",")"#,
    r#"return core.tokenize("a,b,,c", ",", true)"#,
    r#"return core.tokenize(",a,b,", ",")"#,
    r#"return core.tokenize(",a,b,", ",", true)"#,
    r#"return core.tokenize("", ",")"#,
    r#"return core.tokenize("", ",", true)"#,
    r#"return core.tokenize("abc", "")"#,
    r#"return core.tokenize("a b;c", " ;")"#,
    r#"return core.tokenize(12345, 3)"#,
    r#"return core.tokenize(1.5, ".")"#,
    r#"return core.tokenize("a,,b", ",", false)"#,
    r#"return core.tokenize(",,,", ",", true)"#,
    r#"return core.tokenize(",,,", ",")"#,
    r#"return core.tokenize("a,b", ",", true, 5)"#,
    r#"return core.tokenize(nil, ",")"#,
    r#"return core.tokenize("a", nil)"#,
    r#"return core.tokenize()"#,
    r#"return core.tokenize({}, ",")"#,
    r#"return core.tokenize("a,b", ",", 1)"#,
    r#"return core.tokenize("a,b", ",", nil)"#,
    // parse_addr
    r#"local t = {}
       for _, s in ipairs({"192.168.1.1", "192.168.1.0/24", "10.0.0.0/255.0.0.0",
           "10.0.0.0/255.0.255.0", "1.2.3.4/0", "1.2.3.4/32", "1.2.3.4/ 8", "1.2.3.4/+8",
           "1.2.3.4/08", "0.0.0.0", "::1", "2001:db8::/32", "::ffff:1.2.3.4", "::/0", "::1/ 64",
           "bogus", "", "192.168.1.1/33", "::1/129", "256.1.1.1", " 1.2.3.4", "1.2.3.4 ",
           "1.2.3.4/", "1.2.3.4:80", "[::1]", "1.2.3.4/24/8", "fe80::1%eth0", "*", "::1/64x",
           "1.2.3.4/8x", "::1/-1", "1.2.3.4/-1", "2001:db8::1/ffff::", "1.2.3.4/4294967295",
           "ipv4@1.2.3.4", "0x1.2.3.4"}) do
         t[#t + 1] = s .. "=" .. type(core.parse_addr(s))
       end
       return table.concat(t, " ")"#,
    r#"return core.parse_addr(nil)"#,
    r#"return core.parse_addr()"#,
    // match_addr
    r#"local t = {}
       for _, p in ipairs({{"192.168.1.1", "192.168.1.0/24"}, {"192.168.1.0/24", "192.168.1.1"},
           {"192.168.2.1", "192.168.1.0/24"}, {"192.168.0.0/16", "192.168.1.0/24"},
           {"0.0.0.0/0", "1.2.3.4"}, {"10.1.0.0/16", "10.0.0.0/8"}, {"10.1.0.0/16", "10.1.0.0/8"},
           {"10.1.2.3/8", "10.9.9.9/32"}, {"1.2.3.4", "1.2.3.4/0"}, {"10.0.0.0/255.0.255.0", "10.1.0.1"},
           {"10.0.0.0/255.0.255.0", "10.1.1.1"}, {"2001:db8::1", "2001:db8::/32"},
           {"2001:db8::/32", "2001:db8::/16"}, {"2001:db8::1/16", "2001:db9::1/16"},
           {"2001:db8::4/127", "2001:db8::5"}, {"2001:db8::5/127", "2001:db8::4"},
           {"2001:db8::/33", "2001:db8:8000::"}, {"2001:db8::/33", "2001:db8:7fff::"},
           {"::/0", "::1"}, {"2001:db8::1", "::/0"}, {"1.2.3.4", "::ffff:1.2.3.4"}, {"::/0", "1.2.3.4"}}) do
         t[#t + 1] = tostring(core.match_addr(core.parse_addr(p[1]), core.parse_addr(p[2])))
       end
       return table.concat(t, " ")"#,
    r#"return core.match_addr(nil, core.parse_addr("1.2.3.4")), core.match_addr(core.parse_addr("1.2.3.4"), "1.2.3.4"), core.match_addr(core.concat(), core.parse_addr("1.2.3.4"))"#,
    // Regex
    r#"local ok, r = Regex.new("^a(b+)c$", false) return ok, r:exec("abbc"), r:exec("ABBC"), r:exec("xabbc")"#,
    r#"local ok, r = Regex.new("^a(b+)c$", true) return ok, r:exec("abbc"), r:exec("ABBC")"#,
    r#"local ok, r = Regex.new(12, true) return ok, r:exec("a12")"#,
    r#"local ok, r = Regex.new("a(b+)(x)?c", false) return r:match("zzabbbczz")"#,
    r#"local ok, r = Regex.new("a(b+)c", false) return r:match("nope")"#,
    r#"local ok, r = Regex.new("(a)|(b)", false) return r:match("b")"#,
    r#"local ok, r = Regex.new("(a)(b)?", false) return r:match("a")"#,
    r#"local ok, r = Regex.new("(?<year>\\d{4})", false) return r:match("in 2024")"#,
    r#"local ok, r = Regex.new("[[:alpha:]]+", true) return r:match("12ab3")"#,
    r#"local ok, r = Regex.new("", false) return r:exec(""), r:match("")"#,
    r#"local ok, r = Regex.new("(a)(b)(c)(d)(e)(f)(g)(h)(i)(j)(k)(l)(m)(n)(o)(p)(q)(r)(s)(t)(u)(v)", false) return r:match("abcdefghijklmnopqrstuv")"#,
    r#"local ok, r = Regex.new("^.$", false) return r:exec("é"), r:exec("\xff")"#,
    r#"local ok, r = Regex.new("[é]", true) return r:exec("\xa9"), r:exec("\xc3")"#,
    r#"local ok, r = Regex.new("é", false) return r:exec("É"), r:exec("é")"#,
    r#"local ok, r = Regex.new("\\w+", true) return r:match("é")"#,
    r#"local ok, r = Regex.new("a.c", false) return r:exec("a\nc"), r:exec("abc")"#,
    r#"local ok, r = Regex.new("^b", false) return r:exec("a\nb")"#,
    r#"local ok, r = Regex.new("b", false) return r:exec("a\0b")"#,
    r#"local ok, r = Regex.new("(?i)AB", true) return r:exec("ab")"#,
    r#"local ok, r = Regex.new("\\bfoo\\b", true) return r:exec("a foo b"), r:exec("afoo")"#,
    r#"local ok, r = Regex.new("a{,3}", true) return r:exec("a{,3}"), r:exec("aaa")"#,
    r#"local ok, r = Regex.new("a{2", true) return r:exec("a{2")"#,
    r#"local ok, r = Regex.new("a", false) return r:exec(12), r:exec("a", "b")"#,
    r#"local ok, r = Regex.new("a", true) return Regex.exec(r, "a"), Regex.match(r, "a")"#,
    r#"return (Regex.new("a(b", false)), (Regex.new("[", false)), (Regex.new("a**", false))"#,
    r#"return Regex.new(nil, true)"#,
    r#"local ok, r = Regex.new("a", false) return r:exec(nil)"#,
    r#"local ok, r = Regex.new("a", false) return r:exec()"#,
    r#"local ok, r = Regex.new("a", false) return r:match(nil)"#,
];

/// A `lua-load` file that prints `CASE <n> <result>` for each case with `core.Alert`.
fn differential_script() -> String {
    let mut script = String::from(SHOW);
    // Error positions differ by chunk name; compare the messages without them.
    script.push_str(
        r#"
local function case(n, f)
  local line = try(f):gsub("| [^ ]+:%d+: ", "| ", 1)
  core.Alert("CASE " .. n .. " " .. line)
end
"#,
    );
    for (n, body) in SAME_AS_HAPROXY.iter().enumerate() {
        script.push_str(&format!("case({n}, function() {body} end)\n"));
    }
    script
}

/// The `CASE <n> ...` lines of an output, by case number.
fn case_lines(output: &str) -> Vec<(usize, String)> {
    output
        .lines()
        .filter_map(|line| {
            let rest = &line[line.find("CASE ")? + 5..];
            let (n, result) = rest.split_once(' ')?;
            Some((n.parse().ok()?, result.to_string()))
        })
        .collect()
}

/// Runs `cases.lua` as a `lua-load` body under `<bin> -c` and returns its `CASE` lines.
fn run_cases(bin: &std::path::Path, script: &str, tag: &str) -> Vec<(usize, String)> {
    let dir = std::env::temp_dir().join(format!("moonproxy-lua-lib-{}-{tag}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let lua = dir.join("cases.lua");
    let cfg = dir.join("proxy.cfg");
    std::fs::write(&lua, script).unwrap();
    std::fs::write(&cfg, format!("global\n    lua-load {}\n", lua.display())).unwrap();
    let out = std::process::Command::new(bin).arg("-c").arg("-f").arg(&cfg).output().unwrap();
    std::fs::remove_dir_all(&dir).ok();
    let lines = case_lines(&String::from_utf8_lossy(&out.stderr));
    assert_eq!(
        lines.len(),
        SAME_AS_HAPROXY.len(),
        "{} ran every case: {}",
        bin.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    lines
}

#[test]
fn same_answers_as_haproxy() {
    let script = differential_script();
    // Both binaries run the same file body with `-c`; core.Alert prints each case's line.
    let ours = run_cases(std::path::Path::new(env!("CARGO_BIN_EXE_moonproxy")), &script, "moonproxy");
    let Some(haproxy) = common::haproxy_bin() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must install haproxy (see .ci/run)"
        );
        eprintln!("note: haproxy is not installed; only moonproxy's side ran");
        return;
    };
    let theirs = run_cases(std::path::Path::new(&haproxy), &script, "haproxy");
    for ((n, ours), (_, theirs)) in ours.iter().zip(&theirs) {
        assert_eq!(ours, theirs, "case {n}: {}", SAME_AS_HAPROXY[*n]);
    }
}
