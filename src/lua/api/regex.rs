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
//! * Patterns are compiled by [`crate::sample::regex`], as `regsub` and `-m reg` compile
//!   theirs: PCRE2 semantics on bytes without UTF, with the `regex` crate (linear-time
//!   matching) as the engine. What PCRE2 has and that engine has not (backreferences,
//!   look-around, possessive quantifiers...) is refused by `Regex.new` with
//!   `false, message`; that module's doc lists the options and the deviations.
//! * `Regex.exec(re, str)` and `Regex.match(re, str)` work too: the `Regex` table's metatable
//!   gives access to the methods, as in HAProxy.
//!
//! Deviations of the class itself:
//!
//! * `Regex.new` with a non-boolean second argument says
//!   `bad argument #2 to 'new' (boolean expected, got nil)`, and methods called on something
//!   else than a Regex say `(Regex expected, got nil)`, where HAProxy says `((null))`.
//! * The object is a userdata of class `Regex` (`tostring` gives `Regex: 0x...`,
//!   `getmetatable` gives `false`), where HAProxy's is a table holding a userdata at `[0]`.
use crate::lua::callback::{self, CallCtx, RustFunction};
use crate::lua::error::LuaError;
use crate::lua::state::{self, State};
use crate::lua::userdata::Class;
use crate::sample::regex as shared;
use lua54_sys as ffi;
use std::os::raw::c_int;

/// At most this many entries in the table `match` returns (HAProxy's `MAX_MATCH`).
const MAX_MATCH: usize = 20;

/// A compiled pattern.
pub struct Regex {
    regex: shared::Regex,
}

impl Regex {
    /// Compiles `pattern` as HAProxy does (see [`crate::sample::regex`]). The error is the
    /// message `Regex.new` returns.
    pub fn new(pattern: &[u8], case_sensitive: bool) -> Result<Regex, String> {
        shared::Regex::new(pattern, !case_sensitive)
            .map(|regex| Regex { regex })
            .map_err(|e| e.to_string())
    }

    /// Whether the pattern matches anywhere in `subject`.
    pub fn exec(&self, subject: &[u8]) -> bool {
        self.regex.is_match(subject)
    }

    /// The whole match then the groups, up to the first group that did not take part, at
    /// most [`MAX_MATCH`] entries; `None` when there is no match.
    pub fn captures<'s>(&self, subject: &'s [u8]) -> Option<Vec<&'s [u8]>> {
        let captures = self.regex.captures_at(subject, 0)?;
        Some(
            captures
                .iter()
                .take(MAX_MATCH)
                .map_while(|group| group.map(|m| m.as_bytes()))
                .collect(),
        )
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
    fn the_second_argument_means_case_sensitive() {
        // The compile step and its semantics are tested in `crate::sample::regex`.
        assert!(re("^a(b+)c$", false).exec(b"ABBC"));
        assert!(!re("^a(b+)c$", true).exec(b"ABBC"));
        assert_eq!(
            Regex::new(b"a(b", true).err().unwrap(),
            "regex 'a(b' is invalid (error=unclosed group, erroffset=1)"
        );
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
}
