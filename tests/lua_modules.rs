//! Modules: the built-in ones (`package.preload`), the C module moonproxy ships, external C
//! modules through `package.cpath`, and the detection of blocking calls at run time.
use moonproxy::lua::{modules, State};

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
