//! moonproxy's one regular-expression compiler, shared by `regsub`, `-m reg` and the Lua
//! `Regex` class (`src/lua/api/regex.rs`), so that a pattern means the same everywhere.
//!
//! HAProxy compiles its patterns with PCRE2 (Debian's build, without the UTF mode); this
//! module compiles them with the `regex` crate, a finite-automaton engine: matching takes
//! time linear in the subject, so a pattern cannot make the process spin on hostile input
//! as a backtracking engine can, and no match is ever abandoned half-way.
//!
//! The options are HAProxy's:
//!
//! * Matching works on bytes, as PCRE2 without UTF does: `.` matches one byte (any but
//!   `\n`), `\w`, `\d`, `\s`, `\b`, POSIX classes and caseless matching are ASCII-only, and
//!   non-ASCII characters of the pattern stand for their bytes (`[é]` is the class of the
//!   two bytes of `é` in UTF-8).
//! * `^` and `$` match at the ends of the subject only (no multiline mode unless `(?m)`),
//!   and inline flags such as `(?i)` work. The `icase` argument is HAProxy's `-i` (and the
//!   `i` flag of `regsub`).
//! * A `{` that does not begin a quantifier (`{n}`, `{n,}`, `{n,m}`) is a literal
//!   (`a{,3}`), and a quantifier after a quantifier is an error (`a**`), as in PCRE2.
//! * A bad pattern gives HAProxy's message,
//!   `regex 'a(b' is invalid (error=<reason>, erroffset=<n>)` (see [`RegexError`]).
//!
//! Deviations from PCRE2. What PCRE2 has and the `regex` crate has not is refused at
//! compile time, with the message above: backreferences (`\1`), look-around (`(?=`, `(?!`,
//! `(?<=`, `(?<!`), atomic groups and possessive quantifiers (`(?>`, `a++`), recursion,
//! conditionals, `\Q...\E`, `\Z`, and Unicode properties (`\p{L}`). Also:
//!
//! * The reason and offset of an error are the `regex` parser's (`unclosed group` at the
//!   opening parenthesis) rather than PCRE2's (`missing closing parenthesis` at the end);
//!   the offset is a byte offset into the pattern as given.
//! * `$` matches at the very end only; PCRE2's `$` also matches before a final `\n`
//!   (`^abc$` matches `"abc\n"` in HAProxy, not here).
//! * A NUL byte in the pattern is a literal NUL byte; HAProxy ends the pattern there.
//! * A pattern whose compiled program exceeds the `regex` crate's size limit (10 MiB, e.g.
//!   `(a{1000}){1000}`) is refused.

use std::fmt::{self, Write};

/// A compiled pattern. Cloning is cheap (the compiled program is shared).
#[derive(Clone)]
pub struct Regex {
    regex: regex::bytes::Regex,
    /// The pattern as given, to compile it again with other options.
    pattern: Vec<u8>,
}

impl fmt::Debug for Regex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Regex({:?})", String::from_utf8_lossy(&self.pattern))
    }
}

/// Why a pattern does not compile. It displays as HAProxy's message:
/// `regex 'a(b' is invalid (error=unclosed group, erroffset=1)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegexError {
    /// The pattern as given.
    pub pattern: Vec<u8>,
    /// The parser's reason (`unclosed group`, `backreferences are not supported`...).
    pub reason: String,
    /// The byte offset in the pattern where the parser found the problem.
    pub offset: usize,
}

impl fmt::Display for RegexError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "regex '{}' is invalid (error={}, erroffset={})",
            String::from_utf8_lossy(&self.pattern),
            self.reason,
            self.offset
        )
    }
}

impl std::error::Error for RegexError {}

impl Regex {
    /// Compiles `pattern` as HAProxy does (PCRE2 semantics on bytes, see the module doc);
    /// `icase` makes ASCII letters match either case.
    pub fn new(pattern: &[u8], icase: bool) -> Result<Regex, RegexError> {
        let translated = Translated::new(pattern);
        let invalid = |(reason, at): (String, usize)| RegexError {
            pattern: pattern.to_vec(),
            reason,
            offset: translated.pattern_offset(at),
        };
        // The syntax tree first, for PCRE2's quantifier rules; a parse error is reported
        // by the build below, with the same parser.
        if let Ok(ast) = regex_syntax::ast::parse::Parser::new().parse(&translated.text) {
            check_quantifiers(&ast).map_err(invalid)?;
        }
        regex::bytes::RegexBuilder::new(&translated.text)
            .unicode(false)
            .case_insensitive(icase)
            .build()
            .map(|regex| Regex {
                regex,
                pattern: pattern.to_vec(),
            })
            .map_err(|e| invalid(translated.explain(&e, icase)))
    }

    /// The same pattern compiled again, caseless or not (`regsub`'s `i` flag comes after
    /// the pattern).
    pub fn with_icase(&self, icase: bool) -> Result<Regex, RegexError> {
        Regex::new(&self.pattern, icase)
    }

    /// The pattern as given.
    pub fn pattern(&self) -> &[u8] {
        &self.pattern
    }

    /// Whether the pattern matches anywhere in `subject`.
    pub fn is_match(&self, subject: &[u8]) -> bool {
        self.regex.is_match(subject)
    }

    /// The leftmost match starting at or after `start`, with its groups (group 0 is the
    /// whole match). The bytes before `start` still count for `^` and `\b`.
    ///
    /// # Panics
    ///
    /// When `start > subject.len()`.
    pub fn captures_at<'s>(
        &self,
        subject: &'s [u8],
        start: usize,
    ) -> Option<regex::bytes::Captures<'s>> {
        self.regex.captures_at(subject, start)
    }
}

/// A pattern rewritten for the `regex` crate: every byte that is not ASCII, and NUL, becomes
/// `\xHH`, which stands for that byte when Unicode mode is off. The pattern then is ASCII
/// text, and non-ASCII characters stand for their bytes everywhere, in classes and ranges
/// too, as in PCRE2 without UTF.
struct Translated {
    text: String,
    /// For each byte of `text`, the offset of the pattern byte it comes from.
    origin: Vec<usize>,
}

impl Translated {
    fn new(pattern: &[u8]) -> Translated {
        let mut text = String::with_capacity(pattern.len());
        let mut origin = Vec::with_capacity(pattern.len());
        let mut escaped = false;
        // The previous byte is the letter of an escape that takes a `{...}` argument
        // (`\x{41}`, `\p{L}`, `\g{1}`...).
        let mut braced_escape = false;
        for (offset, &b) in pattern.iter().enumerate() {
            if b.is_ascii() && b != 0 {
                if b == b'{'
                    && !escaped
                    && !braced_escape
                    && !starts_quantifier(&pattern[offset + 1..])
                {
                    // PCRE2 reads a `{` that does not begin `{n}`, `{n,}` or `{n,m}` as a
                    // literal (`a{,3}`, `a{x`); the `regex` parser would not.
                    text.push('\\');
                    origin.push(offset);
                }
                text.push(b as char);
                origin.push(offset);
                braced_escape = escaped && b"xopPgkN".contains(&b);
                escaped = !escaped && b == b'\\';
                continue;
            }
            braced_escape = false;
            if escaped {
                // `\` followed by a non-alphanumeric byte is that byte, literally: drop the
                // backslash, the escape below says the same.
                text.pop();
                origin.pop();
                escaped = false;
            }
            let start = text.len();
            let _ = write!(text, "\\x{b:02X}");
            origin.extend(std::iter::repeat_n(offset, text.len() - start));
        }
        Translated { text, origin }
    }

    /// The offset in the original pattern of the byte at `at` in the translation.
    fn pattern_offset(&self, at: usize) -> usize {
        match self.origin.get(at) {
            Some(&offset) => offset,
            None => self.origin.last().map_or(0, |&last| last + 1),
        }
    }

    /// The reason and the offset (in the translation) of a compilation error. The `regex`
    /// crate's own message is a multi-line report; the parser of `regex-syntax` (which
    /// `regex` uses) gives the short reason and the position.
    fn explain(&self, error: &regex::Error, icase: bool) -> (String, usize) {
        let parsed = regex_syntax::ParserBuilder::new()
            .unicode(false)
            .utf8(false)
            .case_insensitive(icase)
            .build()
            .parse(&self.text);
        match parsed {
            Err(regex_syntax::Error::Parse(e)) => (e.kind().to_string(), e.span().start.offset),
            Err(regex_syntax::Error::Translate(e)) => (e.kind().to_string(), e.span().start.offset),
            // The pattern parses: the error is a limit of the compiled program.
            _ => match error {
                regex::Error::CompiledTooBig(limit) => (
                    format!("compiled regex exceeds size limit of {limit} bytes"),
                    0,
                ),
                other => (other.to_string(), 0),
            },
        }
    }
}

/// Whether `rest`, the text after a `{`, makes it a quantifier for PCRE2 (10.42):
/// `n}`, `n,}` or `n,m}`.
fn starts_quantifier(rest: &[u8]) -> bool {
    let digits = |s: &[u8]| s.iter().take_while(|b| b.is_ascii_digit()).count();
    let n = digits(rest);
    if n == 0 {
        return false;
    }
    match &rest[n..] {
        [b'}', ..] => true,
        [b',', after @ ..] => after.get(digits(after)) == Some(&b'}'),
        _ => false,
    }
}

/// Applies PCRE2's rule for a quantifier that follows a quantified item, which the `regex`
/// parser accepts as a repetition of a repetition: `+` there makes the first one possessive
/// (`a++`, `a*+`, `a{2}+`), a semantics the `regex` engine does not have, and any other
/// quantifier is an error (`a**`, `a{2}{3}`). Both are refused, with the reason and offset
/// (in the translation) of the second quantifier.
fn check_quantifiers(ast: &regex_syntax::ast::Ast) -> Result<(), (String, usize)> {
    use regex_syntax::ast::{Ast, RepetitionKind};
    match ast {
        Ast::Repetition(outer) => {
            if let Ast::Repetition(_) = &*outer.ast {
                let at = outer.op.span.start.offset;
                let reason = if outer.op.kind == RepetitionKind::OneOrMore && outer.greedy {
                    "possessive quantifiers are not supported"
                } else {
                    "quantifier does not follow a repeatable item"
                };
                return Err((reason.to_string(), at));
            }
            check_quantifiers(&outer.ast)
        }
        Ast::Group(group) => check_quantifiers(&group.ast),
        Ast::Alternation(alternation) => alternation.asts.iter().try_for_each(check_quantifiers),
        Ast::Concat(concat) => concat.asts.iter().try_for_each(check_quantifiers),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn re(p: &str, icase: bool) -> Regex {
        Regex::new(p.as_bytes(), icase).unwrap()
    }

    /// The span of the leftmost match at or after byte 0.
    fn find(p: &str, t: &str) -> Option<(usize, usize)> {
        re(p, false)
            .captures_at(t.as_bytes(), 0)
            .map(|c| (c.get(0).unwrap().start(), c.get(0).unwrap().end()))
    }

    fn err(p: &[u8]) -> String {
        Regex::new(p, false).err().unwrap().to_string()
    }

    #[test]
    fn basics() {
        assert_eq!(find("l+", "hello"), Some((2, 4)));
        assert_eq!(find("^a(.*)$", "abc"), Some((0, 3)));
        assert_eq!(find("[0-9]+", "ab12cd"), Some((2, 4)));
        assert_eq!(find("a|b", "xxb"), Some((2, 3)));
        assert_eq!(find("a*", "bbb"), Some((0, 0)));
        assert_eq!(find("x{2,3}", "axxxxb"), Some((1, 4)));
        assert_eq!(find("x{2,3}?", "axxxxb"), Some((1, 3)));
        assert_eq!(find("\\bfoo\\b", "a foo b"), Some((2, 5)));
        assert_eq!(find("[^a-c]", "abcd"), Some((3, 4)));
        assert_eq!(find("\\d\\s\\w", "x1 y"), Some((1, 4)));
        assert_eq!(find("(?:ab)+", "ababx"), Some((0, 4)));
        assert_eq!(find("a.c", "a\nc"), None);
        assert!(re("H", true).is_match(b"hello"));
    }

    #[test]
    fn captures() {
        let r = re("([a-z])=([0-9])", false);
        let spans = |start| {
            let c = r.captures_at(b"x=1;y=2", start).unwrap();
            c.iter()
                .map(|g| g.map(|m| (m.start(), m.end())))
                .collect::<Vec<_>>()
        };
        assert_eq!(spans(0), vec![Some((0, 3)), Some((0, 1)), Some((2, 3))]);
        assert_eq!(spans(3)[1], Some((4, 5)));
        // What comes before `start` counts for anchors and word boundaries.
        assert!(re("^b", false).captures_at(b"ab", 1).is_none());
        assert!(re(r"\bb", false).captures_at(b"ab", 1).is_none());
    }

    #[test]
    fn long_inputs_match() {
        let text = "a".repeat(200_000) + "x";
        assert_eq!(find(".*x$", &text), Some((0, 200_001)));
        assert_eq!(find("a+?x", &text), Some((0, 200_001)));
        assert_eq!(find("[a-z]*y", "aaay"), Some((0, 4)));
    }

    #[test]
    fn patterns_catastrophic_for_a_backtracker_answer_correctly() {
        let text = "a".repeat(40);
        assert!(!re("(a|aa)*b", false).is_match(text.as_bytes()));
        assert!(re("(a|aa)*$", false).is_match(text.as_bytes()));
    }

    #[test]
    fn case_can_be_changed_after_compilation() {
        let r = re("^h", false);
        assert!(!r.is_match(b"Hello"));
        let caseless = r.with_icase(true).unwrap();
        assert!(caseless.is_match(b"Hello"));
        assert_eq!(caseless.pattern(), b"^h");
        assert_eq!(format!("{caseless:?}"), "Regex(\"^h\")");
    }

    #[test]
    fn translation_keeps_ascii_and_escapes_other_bytes() {
        let t = Translated::new("a(é)\\é\0".as_bytes());
        assert_eq!(t.text, r"a(\xC3\xA9)\xC3\xA9\x00");
        assert_eq!(t.origin.len(), t.text.len());
        // The escaped `\é` maps back to the bytes of é (offsets 6 and 7).
        assert_eq!(t.origin[t.text.len() - 5], 7);
        let t = Translated::new(br"\\\xff");
        assert_eq!(t.text, r"\\\xff", "ASCII escapes are untouched");
    }

    #[test]
    fn braces_that_are_not_quantifiers_are_literal() {
        assert_eq!(
            Translated::new(b"a{,3}b{2}c{2,}d{2,5}").text,
            r"a\{,3}b{2}c{2,}d{2,5}"
        );
        assert_eq!(Translated::new(b"a{x").text, r"a\{x");
        assert_eq!(Translated::new(br"\x{41}\p{L}\{").text, r"\x{41}\p{L}\{");
        assert!(re("a{,3}", false).is_match(b"a{,3}"));
        assert!(!re("a{,3}", false).is_match(b"aaa"));
        assert!(re("a{2", false).is_match(b"a{2"));
        assert!(re("^a{2}$", false).is_match(b"aa"));
        assert!(re(r"\x{41}", false).is_match(b"A"));
    }

    #[test]
    fn quantified_quantifiers_are_refused() {
        assert_eq!(
            err(b"a++b"),
            "regex 'a++b' is invalid (error=possessive quantifiers are not supported, erroffset=2)"
        );
        assert!(err(b"x(a*+)").contains("possessive"));
        assert_eq!(
            err(b"a**"),
            "regex 'a**' is invalid (error=quantifier does not follow a repeatable item, erroffset=2)"
        );
        assert!(
            err(b"a{2}{3}").contains("quantifier does not follow a repeatable item, erroffset=4")
        );
        assert!(Regex::new(b"(?:a+)+b|a+?|a??", false).is_ok());
    }

    #[test]
    fn matches_bytes_like_pcre_without_utf() {
        assert!(re("^a(b+)c$", true).is_match(b"ABBC"));
        assert!(!re("^a(b+)c$", false).is_match(b"ABBC"));
        assert!(!re("^.$", true).is_match("é".as_bytes()), "two bytes");
        assert!(re("^.$", true).is_match(b"\xff"));
        let class = re("[é]", false);
        assert!(class.is_match(b"\xa9") && class.is_match(b"\xc3"));
        assert!(
            !re("é", true).is_match("É".as_bytes()),
            "caseless is ASCII-only"
        );
        assert!(!re(r"\w", false).is_match("é".as_bytes()));
        assert!(!re("a.c", false).is_match(b"a\nc"));
        assert!(!re("^b", false).is_match(b"a\nb"));
        assert!(re("(?i)AB", false).is_match(b"ab"));
        assert!(re("b", false).is_match(b"a\0b"));
        assert!(re("a\0b", false).is_match(b"a\0b") && !re("a\0b", false).is_match(b"a"));
    }

    #[test]
    fn errors_name_the_pattern_reason_and_offset() {
        assert_eq!(
            err(b"a(b"),
            "regex 'a(b' is invalid (error=unclosed group, erroffset=1)"
        );
        assert!(err(b"[").starts_with("regex '[' is invalid (error=unclosed character class"));
        assert!(err(b"(a)\\1").contains("backreferences are not supported, erroffset=3)"));
        assert!(err(b"a(?=b)").contains("look-around"));
        // Offsets count the pattern's own bytes, not the translation's.
        assert_eq!(
            err("é(".as_bytes()),
            "regex 'é(' is invalid (error=unclosed group, erroffset=2)"
        );
        assert!(err(b"a{2,1}").contains("erroffset="));
        // Parses, but the compiled program is over the engine's size limit.
        assert_eq!(
            err(b"(a{1000}){1000}"),
            "regex '(a{1000}){1000}' is invalid (error=compiled regex exceeds size limit of \
             10485760 bytes, erroffset=0)"
        );
        let e = Regex::new(b"x(", true).unwrap_err();
        assert_eq!((e.pattern.as_slice(), e.offset), (&b"x("[..], 1));
        assert_eq!(e.reason, "unclosed group");
    }

    #[test]
    fn other_bad_patterns_are_refused() {
        for p in ["(a", "a)", "*a", "(?=a)"] {
            assert!(Regex::new(p.as_bytes(), false).is_err(), "{p}");
        }
    }
}
