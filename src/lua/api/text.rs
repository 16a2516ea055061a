//! String helpers of the `core` table: `core.tokenize`.
//!
//! `core.tokenize(str, separators [, noblank])` splits `str` at every byte that appears in
//! `separators` and returns the pieces as an array (a table indexed from 1). HAProxy 2.6
//! semantics (checked against `haproxy -c` running a `lua-load` body):
//!
//! * Empty pieces are kept: `("a,,b", ",")` gives `{"a", "", "b"}`, `(",a,", ",")` gives
//!   `{"", "a", ""}`, `("", ",")` gives `{""}`. With `noblank` true they are dropped:
//!   `("", ",", true)` gives `{}`.
//! * An empty separator set returns the whole string as the only piece.
//! * `str` and `separators` may be numbers (converted as `tostring` does: `(12345, 3)` gives
//!   `{"12", "45"}`); other types are argument errors
//!   (`bad argument #1 to 'tokenize' (string expected, got nil)`).
//! * `noblank`, when given (even as `nil`), must be a boolean:
//!   `bad argument #3 to 'tokenize' (boolean expected)`. Extra arguments are ignored.
//!
//! Deviation: HAProxy reads both strings as C strings, so a NUL byte ends them
//! (`("a\0b,c", ",")` gives `{"a"}` there). moonproxy treats Lua strings as the byte strings
//! they are: `{"a\0b", "c"}`, and `"\0"` is a valid separator.
use crate::lua::callback::{CallCtx, RustFunction};
use crate::lua::error::LuaError;
use lua54_sys as ffi;
use std::os::raw::c_int;

static TOKENIZE: RustFunction = RustFunction::new("tokenize", tokenize);

/// The `core` functions of this module, by name without the `core.` prefix.
pub fn core_functions() -> &'static [(&'static str, &'static RustFunction)] {
    &CORE_FUNCTIONS
}

static CORE_FUNCTIONS: [(&str, &RustFunction); 1] = [("tokenize", &TOKENIZE)];

/// `core.tokenize(str, separators [, noblank])`.
fn tokenize(ctx: &mut CallCtx) -> Result<c_int, LuaError> {
    let text = ctx.check_lstring(1)?;
    let separators = ctx.check_lstring(2)?;
    let noblank = if ctx.nargs() >= 3 {
        if ctx.type_name(3) != "boolean" {
            return Err(ctx.lua_arg_error(3, "boolean expected"));
        }
        ctx.boolean(3)
    } else {
        false
    };
    let pieces = split(&text, &separators, noblank);
    ctx.push_string_array(&pieces)?;
    Ok(1)
}

/// Splits `text` at every byte found in `separators`; drops empty pieces if `noblank`.
pub fn split<'a>(text: &'a [u8], separators: &[u8], noblank: bool) -> Vec<&'a [u8]> {
    let mut is_separator = [false; 256];
    for &b in separators {
        is_separator[b as usize] = true;
    }
    text.split(|&b| is_separator[b as usize])
        .filter(|piece| !(noblank && piece.is_empty()))
        .collect()
}

/// Table results, shared by the library modules (see the note on the argument helpers in
/// [`super::concat`]).
impl CallCtx {
    /// Pushes a new array `{items[1], items[2], ...}` of strings. Allocates: protected when
    /// the state has a memory limit (rule M2).
    pub(crate) fn push_string_array(&mut self, items: &[&[u8]]) -> Result<(), LuaError> {
        // One slot for the table, one for the string being stored.
        self.reserve(2)?;
        let (list, count) = (items.as_ptr(), items.len());
        let size_hint = c_int::try_from(count).unwrap_or(c_int::MAX);
        // SAFETY: the closure captures a pointer and length into `items`, which outlives the
        // call, and holds only Copy locals (rule L1); it pushes exactly one value (the table):
        // each string is popped by lua_rawseti, which does not call metamethods.
        unsafe {
            self.allocating(move |l| {
                ffi::lua_createtable(l, size_hint, 0);
                for i in 0..count {
                    let item = *list.add(i);
                    ffi::lua_pushlstring(l, item.as_ptr().cast(), item.len());
                    ffi::lua_rawseti(l, -2, i as ffi::lua_Integer + 1);
                }
                1
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::split;

    fn s(text: &str, seps: &str, noblank: bool) -> Vec<String> {
        split(text.as_bytes(), seps.as_bytes(), noblank)
            .into_iter()
            .map(|p| String::from_utf8(p.to_vec()).unwrap())
            .collect()
    }

    #[test]
    fn splits_like_haproxy() {
        assert_eq!(s("a,b,,c", ",", false), ["a", "b", "", "c"]);
        assert_eq!(s("a,b,,c", ",", true), ["a", "b", "c"]);
        assert_eq!(s(",a,b,", ",", false), ["", "a", "b", ""]);
        assert_eq!(s(",a,b,", ",", true), ["a", "b"]);
        assert_eq!(s("", ",", false), [""]);
        assert!(s("", ",", true).is_empty());
        assert_eq!(s("abc", "", false), ["abc"]);
        assert_eq!(s("a b;c", " ;", false), ["a", "b", "c"]);
        assert_eq!(s(",,,", ",", false), ["", "", "", ""]);
        assert!(s(",,,", ",", true).is_empty());
    }

    #[test]
    fn every_byte_may_separate() {
        assert_eq!(
            split(b"a\0b\xffc", b"\0\xff", false),
            [&b"a"[..], &b"b"[..], &b"c"[..]]
        );
    }
}
