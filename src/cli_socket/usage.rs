//! The usage text: `help`, `help <command>`, and the answer to an unknown command,
//! laid out as HAProxy 2.6 lays them out (usage padded to 40 columns, then `: ` and
//! the description, sorted, with `help`, `prompt` and `quit` last).
//!
//! Which commands an unknown one is compared with: those whose first words are
//! exactly what was typed (`show` lists every `show` command); failing that, the five
//! closest by HAProxy's word fingerprints (counts of letter pairs), dropping those more
//! than 2.5 times as far as the closest.

use super::commands::{Command, COMMANDS};

const TAIL: &str = "  help [<command>]                        : list matching or all commands\n  prompt                                  : toggle interactive mode with prompt\n  quit                                    : disconnect\n";

/// How many fuzzy suggestions at most (HAProxy's `CLI_MAX_MATCHES`).
const MAX_MATCHES: usize = 5;

fn line(out: &mut String, c: &Command) {
    out.push_str(&format!("  {:<40}: {}\n", c.usage, c.help));
}

fn listed() -> impl Iterator<Item = &'static Command> {
    COMMANDS.iter().filter(|c| !c.usage.is_empty())
}

/// The listed lines: the table's commands `keep` selects, and the usages of
/// `core.register_cli` commands (`lua`, printed as written, unpadded, as HAProxy does)
/// whose words start with `words`; sorted together as HAProxy sorts them.
fn lines(keep: impl Fn(&Command) -> bool, words: &[String], lua: &[String]) -> String {
    let mut all: Vec<String> = Vec::new();
    for c in listed().filter(|c| keep(c)) {
        let mut l = String::new();
        line(&mut l, c);
        all.push(l);
    }
    all.extend(lua.iter().filter(|u| lua_prefixed(u, words)).map(|u| format!("  {u}\n")));
    all.sort();
    all.concat()
}

/// Whether the usage of a Lua command starts with `words`.
fn lua_prefixed(usage: &str, words: &[String]) -> bool {
    let mut used = usage.split_whitespace();
    words.iter().all(|w| used.next() == Some(w.as_str()))
}

/// `help` and `help <words>`; `lua`: the usages of the `core.register_cli` commands.
pub fn help(words: &[String], lua: &[String]) -> String {
    let mut out = String::from("The following commands are valid at this level:\n");
    let selected = select(words, lua);
    out.push_str(&lines(|c| words.is_empty() || selected.contains(&c.words), words, lua));
    out.push_str(TAIL);
    out
}

/// The answer to a command nobody knows (`words` empty: an empty command).
pub fn unknown(words: &[String], lua: &[String]) -> String {
    if words.is_empty() {
        let mut out = String::from("Unknown command. Please enter one of the following commands only:\n");
        out.push_str(&lines(|_| true, words, lua));
        out.push_str(TAIL);
        return out;
    }
    let mut out = String::from("Unknown command, but maybe one of the following ones is a better match:\n");
    let selected = select(words, lua);
    out.push_str(&lines(|c| selected.contains(&c.words), words, lua));
    out.push_str(TAIL);
    out
}

/// The commands matching `words` (see the module comment); empty for no words.
/// A Lua command named by `words` (or whose first words they are) also counts as a
/// prefix match: then no fuzzy suggestion is made.
fn select(words: &[String], lua: &[String]) -> Vec<&'static [&'static str]> {
    if words.is_empty() {
        return Vec::new();
    }
    let prefixed: Vec<_> = listed()
        .filter(|c| words.len() <= c.words.len() && words.iter().zip(c.words).all(|(w, k)| w == k))
        .map(|c| c.words)
        .collect();
    let lua_hit = lua.iter().any(|u| lua_prefixed(u, words));
    if !prefixed.is_empty() || lua_hit {
        return prefixed;
    }
    let typed = fingerprint(&words.iter().take(5).map(String::as_str).collect::<Vec<_>>().join(" "));
    let mut scored: Vec<(usize, &'static [&'static str])> =
        listed().map(|c| (distance(&typed, &fingerprint(&c.words.join(" "))), c.words)).collect();
    scored.sort_by_key(|(d, _)| *d); // stable: ties keep the table's order
    scored.truncate(MAX_MATCHES);
    let best = scored.first().map_or(0, |(d, _)| *d);
    scored.into_iter().filter(|(d, _)| *d <= 5 * best / 2).map(|(_, w)| w).collect()
}

/// Letter-pair counts of a word: letters, digits (one class) and the rest (one
/// class, also standing for the start and end of the word).
fn fingerprint(word: &str) -> Vec<u8> {
    let class = |b: u8| match b.to_ascii_lowercase() {
        c @ b'a'..=b'z' => usize::from(c - b'a' + 1),
        b'0'..=b'9' => 27,
        _ => 28,
    };
    let mut fp = vec![0u8; 32 * 32];
    let mut from = 28;
    for b in word.bytes() {
        let to = class(b);
        fp[from * 32 + to] = fp[from * 32 + to].saturating_add(1);
        from = to;
    }
    fp[from * 32 + 28] = fp[from * 32 + 28].saturating_add(1);
    fp
}

fn distance(a: &[u8], b: &[u8]) -> usize {
    a.iter().zip(b).map(|(x, y)| usize::from(x.abs_diff(*y))).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn help_lines_are_padded_like_haproxy() {
        let h = help(&[], &[]);
        assert!(h.starts_with("The following commands are valid at this level:\n"));
        assert!(h.contains("  show info [desc|json|typed|float]*      : report information about the running process\n"));
        assert!(h.ends_with(TAIL));
    }

    #[test]
    fn help_is_sorted() {
        let h = help(&[], &[]);
        let lines: Vec<&str> = h.lines().skip(1).take_while(|l| !l.starts_with("  help ")).collect();
        let mut sorted = lines.clone();
        sorted.sort();
        assert_eq!(lines, sorted);
    }

    #[test]
    fn a_known_prefix_lists_its_commands() {
        let h = unknown(&w("set maxconn"), &[]);
        assert!(h.starts_with("Unknown command, but maybe"));
        // HAProxy 2.6 lists the same three.
        assert_eq!(h.lines().filter(|l| l.starts_with("  set maxconn")).count(), 3);
        assert_eq!(h.lines().count(), 1 + 3 + 3);
        let h = help(&w("set server"), &[]);
        assert_eq!(h.lines().nth(1).unwrap(), "  set server <bk>/<srv> [opts]            : change a server's state, weight, address or ssl");
    }

    #[test]
    fn lua_commands_are_sorted_among_the_others() {
        let lua = vec!["boom : fail".to_string(), "hello world <x> : say hello".to_string()];
        let h = help(&[], &lua);
        let lines: Vec<&str> = h.lines().collect();
        let boom = lines.iter().position(|l| *l == "  boom : fail").unwrap();
        assert!(lines[boom + 1].starts_with("  clear acl"), "{h}");
        let h = unknown(&w("hello"), &lua);
        assert!(h.contains("  hello world <x> : say hello\n") && !h.contains("boom"), "{h}");
    }

    #[test]
    fn fuzzy_suggestions_stay_few() {
        let h = unknown(&w("show foo"), &[]);
        let n = h.lines().count() - 4;
        assert!((1..=MAX_MATCHES).contains(&n), "{h}");
        assert!(unknown(&[], &[]).starts_with("Unknown command. Please enter one of the following commands only:\n"));
    }
}
