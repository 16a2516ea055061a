//! The global `Regex` class.
//!
//! HAProxy 2.6 semantics (checked against `haproxy -c` running a `lua-load` body; Debian's
//! HAProxy is built with PCRE2, without its UTF mode):
//!
//! * `Regex.new(pattern, case_sensitive)` returns `true, regex` or `false, message`, the
//!   message reading `regex 'a(b' is invalid (error=<reason>, erroffset=<n>)`. The second
//!   argument is required and must be a boolean: **`true` means case-sensitive**, `false`
//!   caseless (HAProxy's documentation calls it `icase`, but the code passes it as "case
//!   sensitive", and that is what scripts observe). A number is accepted as the pattern.
//! * `regex:exec(str)` returns whether the pattern matches anywhere in `str`.
//! * `regex:match(str)` returns `true, {whole, group1, ...}` or `false, {}`. The table holds
//!   the whole match then the groups, at most 20 entries, and stops at the first group that
//!   did not take part in the match: `(a)|(b)` on `"b"` gives `{"b"}`, `(a)(b)?` on `"a"`
//!   gives `{"a", "a"}`.
//! * `str` may be a number; other types give
//!   `bad argument #1 to 'exec' (string expected, got nil)`. Extra arguments are ignored.
//! * Matching works on bytes, as PCRE2 without UTF does: `.` matches one byte (any but `\n`),
//!   `\w`, `\d`, `\s`, `\b`, POSIX classes and caseless matching are ASCII-only, and non-ASCII
//!   characters of the pattern stand for their bytes (`[é]` is the class of the two bytes of
//!   `é` in UTF-8). `^` and `$` match at the ends of the subject only (no multiline mode unless
//!   `(?m)`), and inline flags such as `(?i)` work. A `{` that does not begin a quantifier
//!   (`{n}`, `{n,}`, `{n,m}`) is a literal (`a{,3}`), and a quantifier after a quantifier is
//!   an error (`a**`), as in PCRE2.
//! * `Regex.exec(re, str)` and `Regex.match(re, str)` work too: the `Regex` table's metatable
//!   gives access to the methods, as in HAProxy.
//!
//! Engine and deviations. moonproxy uses the `regex` crate (a finite-automaton engine, linear
//! time, so a pattern cannot make the process spin as backtracking can), not PCRE2. What
//! PCRE2 has and it has not is refused by `Regex.new` with `false, message`:
//! backreferences (`\1`), look-around (`(?=`, `(?!`, `(?<=`, `(?<!`), atomic groups and
//! possessive quantifiers (`(?>`, `a++`), recursion, conditionals, `\Q...\E`, `\Z`, and
//! Unicode properties (`\p{L}`). Also:
//!
//! * The reason and offset in the error message are the `regex` parser's (`unclosed group`
//!   at the opening parenthesis) rather than PCRE2's (`missing closing parenthesis` at the
//!   end); the offset is a byte offset into the pattern as given.
//! * `$` matches at the very end only; PCRE2's `$` also matches before a final `\n`
//!   (`^abc$` matches `"abc\n"` in HAProxy, not here).
//! * A NUL byte in the pattern is a literal NUL byte; HAProxy ends the pattern there.
//! * `Regex.new` with a non-boolean second argument says
//!   `bad argument #2 to 'new' (boolean expected, got nil)`, and methods called on something
//!   else than a Regex say `(Regex expected, got nil)`, where HAProxy says `((null))`.
//! * The object is a userdata of class `Regex` (`tostring` gives `Regex: 0x...`,
//!   `getmetatable` gives `false`), where HAProxy's is a table holding a userdata at `[0]`.
use crate::lua::callback::{self, CallCtx, RustFunction};
use crate::lua::error::LuaError;
use crate::lua::state::{self, State};
use crate::lua::userdata::Class;
use lua54_sys as ffi;
use std::fmt::Write;
use std::os::raw::c_int;

/// At most this many entries in the table `match` returns (HAProxy's `MAX_MATCH`).
const MAX_MATCH: usize = 20;

/// A compiled pattern.
pub struct Regex {
    regex: regex::bytes::Regex,
}

impl Regex {
    /// Compiles `pattern` as HAProxy does (PCRE2 semantics on bytes, see the module doc).
    /// The error is the message `Regex.new` returns.
    pub fn new(pattern: &[u8], case_sensitive: bool) -> Result<Regex, String> {
        let translated = Translated::new(pattern);
        let invalid = |(reason, at): (String, usize)| {
            format!(
                "regex '{}' is invalid (error={reason}, erroffset={})",
                String::from_utf8_lossy(pattern),
                translated.pattern_offset(at)
            )
        };
        // The syntax tree first, for PCRE2's quantifier rules; a parse error is reported
        // by the build below, with the same parser.
        if let Ok(ast) = regex_syntax::ast::parse::Parser::new().parse(&translated.text) {
            check_quantifiers(&ast).map_err(invalid)?;
        }
        regex::bytes::RegexBuilder::new(&translated.text)
            .unicode(false)
            .case_insensitive(!case_sensitive)
            .build()
            .map(|regex| Regex { regex })
            .map_err(|e| invalid(translated.explain(&e, case_sensitive)))
    }

    /// Whether the pattern matches anywhere in `subject`.
    pub fn exec(&self, subject: &[u8]) -> bool {
        self.regex.is_match(subject)
    }

    /// The whole match then the groups, up to the first group that did not take part, at
    /// most [`MAX_MATCH`] entries; `None` when there is no match.
    pub fn captures<'s>(&self, subject: &'s [u8]) -> Option<Vec<&'s [u8]>> {
        let captures = self.regex.captures(subject)?;
        Some(
            captures
                .iter()
                .take(MAX_MATCH)
                .map_while(|group| group.map(|m| m.as_bytes()))
                .collect(),
        )
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

    /// The reason and the offset (in the translation) of a compilation error. The `regex` crate's own
    /// message is a multi-line report; the parser of `regex-syntax` (which `regex` uses) gives
    /// the short reason and the position.
    fn explain(&self, error: &regex::Error, case_sensitive: bool) -> (String, usize) {
        let parsed = regex_syntax::ParserBuilder::new()
            .unicode(false)
            .utf8(false)
            .case_insensitive(!case_sensitive)
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

/// The Regex class of the objects `Regex.new` returns.
pub static REGEX: Class<Regex> =
    Class::new("Regex", &[(c"exec", &REGEX_EXEC), (c"match", &REGEX_MATCH)]);

static REGEX_NEW: RustFunction = RustFunction::new("new", regex_new);
static REGEX_EXEC: RustFunction = RustFunction::new("exec", regex_exec);
static REGEX_MATCH: RustFunction = RustFunction::new("match", regex_match);

/// Creates the global `Regex` table: `{new = ...}`, whose metatable's `__index` holds
/// `exec` and `match` (so `Regex.exec(re, s)` works, as in HAProxy).
pub fn install_globals(state: &State) -> Result<(), LuaError> {
    // SAFETY: the main thread between calls; the closure captures nothing, holds only Copy
    // locals and runs under protection (rule L2); it leaves the stack as it found it (the
    // tables are consumed by lua_setfield, lua_setmetatable and lua_setglobal).
    unsafe {
        state::protect(state.raw(), 0, 0, |l| {
            ffi::lua_createtable(l, 0, 1);
            callback::push_function(l, &REGEX_NEW);
            ffi::lua_setfield(l, -2, c"new".as_ptr());
            ffi::lua_createtable(l, 0, 1);
            ffi::lua_createtable(l, 0, 2);
            callback::push_function(l, &REGEX_EXEC);
            ffi::lua_setfield(l, -2, c"exec".as_ptr());
            callback::push_function(l, &REGEX_MATCH);
            ffi::lua_setfield(l, -2, c"match".as_ptr());
            ffi::lua_setfield(l, -2, c"__index".as_ptr());
            ffi::lua_setmetatable(l, -2);
            ffi::lua_setglobal(l, c"Regex".as_ptr());
            0
        })
    }
}

/// `Regex.new(pattern, case_sensitive)`: `true, regex` or `false, message`.
fn regex_new(ctx: &mut CallCtx) -> Result<c_int, LuaError> {
    let pattern = ctx.check_lstring(1)?;
    if ctx.type_name(2) != "boolean" {
        return Err(ctx.lua_type_error(2, "boolean"));
    }
    let case_sensitive = ctx.boolean(2);
    match Regex::new(&pattern, case_sensitive) {
        Ok(regex) => {
            ctx.push_boolean(true)?;
            ctx.push_userdata(&REGEX, regex)?;
        }
        Err(message) => {
            ctx.push_boolean(false)?;
            ctx.push_str(&message)?;
        }
    }
    Ok(2)
}

/// `regex:exec(str)`: a boolean.
fn regex_exec(ctx: &mut CallCtx) -> Result<c_int, LuaError> {
    let regex = ctx.check_self(&REGEX)?;
    let subject = ctx.check_lstring(2)?;
    let matched = regex.exec(&subject);
    ctx.push_boolean(matched)?;
    Ok(1)
}

/// `regex:match(str)`: `true, {captures}` or `false, {}`.
fn regex_match(ctx: &mut CallCtx) -> Result<c_int, LuaError> {
    let regex = ctx.check_self(&REGEX)?;
    let subject = ctx.check_lstring(2)?;
    let captures = regex.captures(&subject);
    ctx.push_boolean(captures.is_some())?;
    ctx.push_string_array(captures.as_deref().unwrap_or(&[]))?;
    Ok(2)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn re(p: &str, cs: bool) -> Regex {
        Regex::new(p.as_bytes(), cs).unwrap()
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
        assert!(re("a{,3}", true).exec(b"a{,3}"));
        assert!(!re("a{,3}", true).exec(b"aaa"));
        assert!(re("a{2", true).exec(b"a{2"));
        assert!(re("^a{2}$", true).exec(b"aa"));
        assert!(re(r"\x{41}", true).exec(b"A"));
    }

    #[test]
    fn quantified_quantifiers_are_refused() {
        let err = |p: &str| Regex::new(p.as_bytes(), true).err().unwrap();
        assert_eq!(
            err("a++b"),
            "regex 'a++b' is invalid (error=possessive quantifiers are not supported, erroffset=2)"
        );
        assert!(err("x(a*+)").contains("possessive"));
        assert_eq!(
            err("a**"),
            "regex 'a**' is invalid (error=quantifier does not follow a repeatable item, erroffset=2)"
        );
        assert!(
            err("a{2}{3}").contains("quantifier does not follow a repeatable item, erroffset=4")
        );
        assert!(Regex::new(b"(?:a+)+b|a+?|a??", true).is_ok());
    }

    #[test]
    fn matches_bytes_like_pcre_without_utf() {
        assert!(re("^a(b+)c$", false).exec(b"ABBC"));
        assert!(!re("^a(b+)c$", true).exec(b"ABBC"));
        assert!(!re("^.$", false).exec("é".as_bytes()), "two bytes");
        assert!(re("^.$", false).exec(b"\xff"));
        let class = re("[é]", true);
        assert!(class.exec(b"\xa9") && class.exec(b"\xc3"));
        assert!(
            !re("é", false).exec("É".as_bytes()),
            "caseless is ASCII-only"
        );
        assert!(!re(r"\w", true).exec("é".as_bytes()));
        assert!(!re("a.c", true).exec(b"a\nc"));
        assert!(!re("^b", true).exec(b"a\nb"));
        assert!(re("(?i)AB", true).exec(b"ab"));
        assert!(re("b", true).exec(b"a\0b"));
        assert!(re("a\0b", true).exec(b"a\0b") && !re("a\0b", true).exec(b"a"));
    }

    #[test]
    fn captures_stop_at_the_first_unset_group() {
        let caps = |p: &str, s: &str| {
            re(p, true).captures(s.as_bytes()).map(|v| {
                v.iter()
                    .map(|c| String::from_utf8_lossy(c).into_owned())
                    .collect::<Vec<_>>()
            })
        };
        assert_eq!(caps("a(b+)(x)?c", "zzabbbczz").unwrap(), ["abbbc", "bbb"]);
        assert_eq!(caps("(a)|(b)", "b").unwrap(), ["b"]);
        assert_eq!(caps("(a)(b)?", "a").unwrap(), ["a", "a"]);
        assert_eq!(caps("a", "nope"), None);
        let many = "(a)(b)(c)(d)(e)(f)(g)(h)(i)(j)(k)(l)(m)(n)(o)(p)(q)(r)(s)(t)(u)(v)";
        let got = caps(many, "abcdefghijklmnopqrstuv").unwrap();
        assert_eq!(got.len(), MAX_MATCH);
        assert_eq!(got[19], "s");
    }

    #[test]
    fn errors_name_the_pattern_reason_and_offset() {
        let err = |p: &[u8]| Regex::new(p, true).err().unwrap();
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
    }
}
