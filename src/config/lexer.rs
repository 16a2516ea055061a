//! HAProxy's line tokenizer.
//!
//! One configuration line becomes a list of words:
//! - blanks separate words; `#` outside quotes starts a comment (even inside a word);
//! - `"..."` keeps blanks, honours backslash escapes and expands environment variables
//!   (`$VAR`, `${VAR}`, `${VAR-default}`, and `${VAR[*]}` which splits the value into
//!   several words);
//! - `'...'` is literal;
//! - outside quotes, backslash escapes apply but variables are *not* expanded (as in
//!   HAProxy 2.6, where `$` is only special between double quotes);
//! - escapes: `\ ` `\\` `\#` `\$` `\'` `\"` give the character, `\r` `\n` `\t` give
//!   CR, LF and TAB, `\xHH` a byte; any other `\c` is kept as written.
//!
//! Errors carry the byte offset HAProxy points at; [`LexError::render`] prints the
//! message, the line and a caret the way HAProxy does.

use super::env::Env;

/// A tokenizing error: a message and the 0-based byte offset in the raw line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LexError {
    pub message: &'static str,
    pub offset: usize,
}

impl LexError {
    /// `unmatched quote at position 11:\n  .notice "abc\n          ^` (HAProxy's shape:
    /// 1-based position, the line without its indentation shown after two blanks).
    pub fn render(&self, raw: &str) -> String {
        let raw = raw.trim_end_matches(['\r', '\n']);
        caret_message(self.message, raw, self.offset, self.offset + 1)
    }
}

/// Formats `message at position N:` followed by the line (without its indentation,
/// after two blanks) and a caret under byte `offset` of `raw`.
pub fn caret_message(message: &str, raw: &str, offset: usize, position: usize) -> String {
    let trimmed = raw.trim_start();
    let indent = raw.len() - trimmed.len();
    let col = offset.saturating_sub(indent);
    format!(
        "{message} at position {position}:\n  {trimmed}\n  {}^",
        " ".repeat(col)
    )
}

/// Splits one line into words. An empty result means a blank or comment line.
pub fn split_line(line: &str, env: &Env) -> Result<Vec<String>, LexError> {
    let line = line.trim_end_matches(['\r', '\n']);
    let b = line.as_bytes();
    let mut words: Vec<String> = Vec::new();
    // Bytes of the word being built (escapes may produce non-UTF-8 bytes).
    let mut cur: Vec<u8> = Vec::new();
    let mut in_word = false;
    let mut i = 0;
    let mut quote: Option<(u8, usize)> = None; // quote char and its offset

    fn finish(words: &mut Vec<String>, cur: &mut Vec<u8>) {
        words.push(String::from_utf8_lossy(cur).into_owned());
        cur.clear();
    }

    while i < b.len() {
        let c = b[i];
        match quote {
            Some((b'\'', _)) => {
                if c == b'\'' {
                    quote = None;
                } else {
                    cur.push(c);
                }
                i += 1;
            }
            _ => {
                let in_dq = quote.is_some();
                if !in_dq && (c == b' ' || c == b'\t') {
                    if in_word {
                        finish(&mut words, &mut cur);
                        in_word = false;
                    }
                    i += 1;
                    continue;
                }
                if !in_dq && c == b'#' {
                    break;
                }
                in_word = true;
                match c {
                    b'"' if in_dq => {
                        quote = None;
                        i += 1;
                    }
                    b'"' => {
                        quote = Some((b'"', i));
                        i += 1;
                    }
                    b'\'' if !in_dq => {
                        quote = Some((b'\'', i));
                        i += 1;
                    }
                    b'\\' => {
                        let next = b.get(i + 1).copied();
                        match next {
                            Some(n @ (b' ' | b'\\' | b'#' | b'$' | b'\'' | b'"')) => {
                                cur.push(n);
                                i += 2;
                            }
                            Some(b'r') => {
                                cur.push(b'\r');
                                i += 2;
                            }
                            Some(b'n') => {
                                cur.push(b'\n');
                                i += 2;
                            }
                            Some(b't') => {
                                cur.push(b'\t');
                                i += 2;
                            }
                            Some(b'x') => {
                                let hex = b
                                    .get(i + 2..i + 4)
                                    .and_then(|h| std::str::from_utf8(h).ok());
                                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                                    Some(v) => {
                                        cur.push(v);
                                        i += 4;
                                    }
                                    None => {
                                        return Err(LexError {
                                            message: "truncated or invalid hexadecimal sequence",
                                            offset: i,
                                        })
                                    }
                                }
                            }
                            _ => {
                                cur.push(b'\\');
                                i += 1;
                            }
                        }
                    }
                    b'$' if in_dq => {
                        i = expand_var(b, i, env, &mut words, &mut cur)?;
                    }
                    _ => {
                        cur.push(c);
                        i += 1;
                    }
                }
            }
        }
    }
    if let Some((_, at)) = quote {
        return Err(LexError {
            message: "unmatched quote",
            offset: at,
        });
    }
    if in_word {
        finish(&mut words, &mut cur);
    }
    Ok(words)
}

fn is_name_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_'
}

fn is_name_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

/// Expands the variable starting at `b[dollar] == '$'` into `cur` (and `words` for
/// `[*]`); returns the offset after it.
fn expand_var(
    b: &[u8],
    dollar: usize,
    env: &Env,
    words: &mut Vec<String>,
    cur: &mut Vec<u8>,
) -> Result<usize, LexError> {
    let mut i = dollar + 1;
    let braced = b.get(i) == Some(&b'{');
    let brace_at = i;
    if braced {
        i += 1;
    }
    let start = i;
    if !b.get(i).is_some_and(|&c| is_name_start(c)) {
        return Err(LexError {
            message: "forbidden first char in environment variable name",
            offset: i,
        });
    }
    while b.get(i).is_some_and(|&c| is_name_char(c)) {
        i += 1;
    }
    let name = std::str::from_utf8(&b[start..i]).unwrap_or_default();
    let mut split = false;
    let mut default: Option<&[u8]> = None;
    if braced {
        if b[i..].starts_with(b"[*]") {
            split = true;
            i += 3;
        }
        if b.get(i) == Some(&b'-') {
            let dstart = i + 1;
            let Some(close) = b[dstart..].iter().position(|&c| c == b'}') else {
                return Err(LexError {
                    message: "unmatched brace in environment variable name",
                    offset: brace_at,
                });
            };
            default = Some(&b[dstart..dstart + close]);
            i = dstart + close;
        }
        if b.get(i) != Some(&b'}') {
            return Err(LexError {
                message: "unmatched brace in environment variable name",
                offset: brace_at,
            });
        }
        i += 1;
    }
    let value: Vec<u8> = match env.get(name) {
        Some(v) => v.into_bytes(),
        None => default.map(<[u8]>::to_vec).unwrap_or_default(),
    };
    if split {
        let parts = value
            .split(|c| *c == b' ' || *c == b'\t')
            .filter(|p| !p.is_empty());
        let mut first = true;
        for p in parts {
            if !first {
                words.push(String::from_utf8_lossy(cur).into_owned());
                cur.clear();
            }
            first = false;
            cur.extend_from_slice(p);
        }
    } else {
        cur.extend_from_slice(&value);
    }
    Ok(i)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> Env {
        let mut e = Env::new();
        e.set("Y", "hi");
        e.set("X", "a b");
        e.unset("UNSET");
        e
    }

    fn words(s: &str) -> Vec<String> {
        split_line(s, &env()).unwrap()
    }

    #[test]
    fn blanks_comments_and_quotes() {
        assert_eq!(
            words("  bind  :80   name x # comment"),
            ["bind", ":80", "name", "x"]
        );
        assert_eq!(words("foo#bar baz"), ["foo"]);
        assert_eq!(words(r#"a"b c"d 'e f' "#), ["ab cd", "e f"]);
        assert_eq!(words(r#""" x"#), ["", "x"]);
        assert_eq!(words("   # only"), Vec::<String>::new());
        assert_eq!(words(r#"'$Y "q"' "'s'""#), [r#"$Y "q""#, "'s'"]);
    }

    #[test]
    fn escapes() {
        assert_eq!(
            words(r"a\ b \x41 \n. \q a\ "),
            ["a b", "A", "\n.", "\\q", "a "]
        );
        assert_eq!(words(r#""\t\"\\\#""#), ["\t\"\\#"]);
        assert_eq!(words(r"trail\"), ["trail\\"]);
        assert_eq!(words(r"\#x"), ["#x"]);
    }

    #[test]
    fn variables_only_in_double_quotes() {
        assert_eq!(
            words(r#""$Y" $Y "${Y}z" "$Yz" "${UNSET-dd}" "${Y-dd}""#),
            ["hi", "$Y", "hiz", "", "dd", "hi"]
        );
        assert_eq!(words(r#""${X[*]}"x end"#), ["a", "bx", "end"]);
        assert_eq!(words(r#""${X}""#), ["a b"]);
        assert_eq!(words(r#""${UNSET[*]}" z"#), ["", "z"]);
    }

    #[test]
    fn errors_point_where_haproxy_does() {
        let e = split_line(r#"  .notice "abc"#, &env()).unwrap_err();
        assert_eq!(
            e.render(r#"  .notice "abc"#),
            "unmatched quote at position 11:\n  .notice \"abc\n          ^"
        );
        let e = split_line(r#"  "${Y[*]""#, &env()).unwrap_err();
        assert_eq!(e.message, "unmatched brace in environment variable name");
        assert_eq!(e.offset, 4);
        let e = split_line(r#"  "$1""#, &env()).unwrap_err();
        assert_eq!(
            e.message,
            "forbidden first char in environment variable name"
        );
        assert_eq!(e.offset, 4);
        let e = split_line(r"  a\xZZ", &env()).unwrap_err();
        assert_eq!(
            e.render(r"  a\xZZ"),
            "truncated or invalid hexadecimal sequence at position 4:\n  a\\xZZ\n   ^"
        );
        assert_eq!(
            split_line("'abc", &env()).unwrap_err().message,
            "unmatched quote"
        );
    }
}
