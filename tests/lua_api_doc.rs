//! `doc/lua-api.md` lists every name of HAProxy 2.6's Lua API with its state in moonproxy.
//! These tests keep the table usable as the others flip names: every name once, every state
//! one of the documented forms, and the counts at the top equal to what the tables say.

use std::collections::BTreeMap;

const BEGIN: &str = "<!-- api: begin -->";
const END: &str = "<!-- api: end -->";
const COUNTS_BEGIN: &str = "<!-- counts: the test recomputes these from the tables below -->";
const COUNTS_END: &str = "<!-- end counts -->";
/// Issues a `not yet (issue N)` may name: 4 Lua engine, 6 Lua in the stream, 7 CLI.
const ISSUES: &[&str] = &["4", "6", "7"];

fn doc() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/doc/lua-api.md");
    std::fs::read_to_string(path).expect("doc/lua-api.md exists")
}

fn between<'a>(text: &'a str, begin: &str, end: &str) -> &'a str {
    let start = text
        .find(begin)
        .unwrap_or_else(|| panic!("doc/lua-api.md lacks {begin}"));
    let rest = &text[start + begin.len()..];
    &rest[..rest
        .find(end)
        .unwrap_or_else(|| panic!("doc/lua-api.md lacks {end}"))]
}

/// The cells of a markdown table row, trimmed.
fn cells(row: &str) -> Vec<&str> {
    row.trim()
        .trim_matches('|')
        .split('|')
        .map(str::trim)
        .collect()
}

/// The (name, state) rows of the name tables in `section`: rows whose first cell is code.
fn rows(section: &str) -> Vec<(&str, &str)> {
    section
        .lines()
        .filter(|line| line.starts_with("| `"))
        .map(|line| {
            let c = cells(line);
            assert_eq!(c.len(), 3, "a name row has Name, State and Notes: {line}");
            (c[0], c[1])
        })
        .collect()
}

/// The category a state counts under, or None if it is not one of the documented forms.
fn category(state: &str) -> Option<String> {
    match state {
        "supported" | "not yet (no issue)" => Some(state.to_owned()),
        _ if state
            .strip_prefix("deviation: ")
            .is_some_and(|why| !why.trim().is_empty()) =>
        {
            Some("deviation".to_owned())
        }
        _ => {
            let issue = state.strip_prefix("not yet (issue ")?.strip_suffix(')')?;
            ISSUES.contains(&issue).then(|| state.to_owned())
        }
    }
}

#[test]
fn state_forms_are_recognised_and_typos_refused() {
    assert_eq!(category("supported").as_deref(), Some("supported"));
    assert_eq!(
        category("deviation: reason honoured").as_deref(),
        Some("deviation")
    );
    assert_eq!(
        category("not yet (issue 6)").as_deref(),
        Some("not yet (issue 6)")
    );
    for bad in [
        "Supported",
        "deviation:",
        "deviation: ",
        "not yet (issue 5)",
        "not yet",
        "in progress (issue 6)",
        "",
    ] {
        assert_eq!(category(bad), None, "{bad:?} must be refused");
    }
}

#[test]
fn every_name_appears_once_with_a_valid_state() {
    let doc = doc();
    let api = between(&doc, BEGIN, END);
    let beyond = &doc[doc.find(END).expect("end marker")..];
    let mut seen = BTreeMap::new();
    for (name, state) in rows(api).into_iter().chain(rows(beyond)) {
        assert!(
            category(state).is_some(),
            "{name}: invalid state {state:?} (see the States table)"
        );
        if let Some(previous) = seen.insert(name, state) {
            panic!("{name} is listed twice ({previous:?} and {state:?})");
        }
    }
    // HAProxy 2.6 documents 291 names; the tables also hold undocumented ones. Far fewer rows
    // means a table was lost or a row no longer starts with a code cell.
    assert!(
        rows(api).len() >= 291,
        "only {} names between the api markers",
        rows(api).len()
    );
}

#[test]
fn counts_match_the_tables() {
    let doc = doc();
    let mut actual: BTreeMap<String, usize> = BTreeMap::new();
    for (_, state) in rows(between(&doc, BEGIN, END)) {
        *actual
            .entry(category(state).expect("valid state"))
            .or_default() += 1;
    }
    let total: usize = actual.values().sum();
    for line in between(&doc, COUNTS_BEGIN, COUNTS_END)
        .lines()
        .filter(|l| l.starts_with('|'))
    {
        let c = cells(line);
        let (label, number) = (c[0].trim_matches('*'), c[1].trim_matches('*'));
        let Ok(documented) = number.parse::<usize>() else {
            continue;
        }; // header and rule rows
        let expected = if label == "total" {
            total
        } else {
            actual.remove(label).unwrap_or(0)
        };
        assert_eq!(
            documented, expected,
            "doc/lua-api.md says {documented} for {label:?}; the tables hold {expected}"
        );
    }
    assert!(
        actual.is_empty(),
        "states missing from the counts table: {actual:?}"
    );
}
