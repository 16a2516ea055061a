//! Conditions of `.if`/`.elif` blocks and of `-cc`.
//!
//! Grammar (HAProxy 2.6):
//! ```text
//! expr   := and ( "||" and )*
//! and    := unary ( "&&" unary )*
//! unary  := "!" unary | "(" expr ")" | term
//! term   := predicate "(" args ")" | integer | <empty>
//! ```
//! An integer is true when non-zero; an empty expression is false. Predicates:
//! `defined(VAR)`, `feature(NAME)`, `streq(a,b)`, `strneq(a,b)`, `version_atleast(v)`,
//! `version_before(v)`. Arguments may be quoted (`"a b"`, `'a b'`) and contain `\`
//! escapes. Versions are compared with [`HAPROXY_COMPAT_VERSION`], the HAProxy
//! release moonproxy follows, not moonproxy's own version. `feature()` is true for the
//! names in [`FEATURES`] marked as built in.

use super::env::Env;
use crate::version::HAPROXY_COMPAT_VERSION;

/// Build features as `-vv` lists them (`+NAME` built in, `-NAME` not), and as
/// `feature(NAME)` sees them. Names follow HAProxy's feature list.
pub const FEATURES: &[(&str, bool)] = &[
    ("EPOLL", true),
    ("GETADDRINFO", true),
    ("LUA", true),
    ("OPENSSL", false),
    ("PCRE2", false),
    ("PROMEX", true),
    ("QUIC", false),
    ("THREAD", false),
    ("ZLIB", false),
];

/// Is `name` a built-in feature (`feature(name)`)? Names are case-sensitive, as in HAProxy.
pub fn has_feature(name: &str) -> bool {
    FEATURES.iter().any(|(n, on)| *on && *n == name)
}

/// An error in a condition: HAProxy's message and the 0-based offset in the expression.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CondError {
    pub message: String,
    pub offset: usize,
}

/// Evaluates a condition against the process environment (used by `-cc`).
/// The error text is HAProxy's, without position.
pub fn evaluate(expr: &str) -> Result<bool, String> {
    evaluate_in(expr, &Env::new()).map_err(|e| e.message)
}

/// Evaluates a condition with an explicit environment (used by the parser, where
/// `setenv` may have changed it).
pub fn evaluate_in(expr: &str, env: &Env) -> Result<bool, CondError> {
    let mut p = CondParser {
        s: expr.as_bytes(),
        expr,
        pos: 0,
        env,
    };
    p.skip_blanks();
    if p.pos == p.s.len() {
        return Ok(false);
    }
    let v = p.or_expr()?;
    p.skip_blanks();
    if p.pos < p.s.len() {
        let c = expr[p.pos..].chars().next().unwrap_or(' ');
        return Err(CondError {
            message: format!(
                "unexpected character '{c}' at the end of conditional expression '{expr}'"
            ),
            offset: p.pos,
        });
    }
    Ok(v)
}

struct CondParser<'a> {
    s: &'a [u8],
    expr: &'a str,
    pos: usize,
    env: &'a Env,
}

impl CondParser<'_> {
    fn skip_blanks(&mut self) {
        while self
            .s
            .get(self.pos)
            .is_some_and(|c| *c == b' ' || *c == b'\t')
        {
            self.pos += 1;
        }
    }

    fn eat(&mut self, tok: &str) -> bool {
        self.skip_blanks();
        if self.s[self.pos..].starts_with(tok.as_bytes()) {
            self.pos += tok.len();
            true
        } else {
            false
        }
    }

    fn or_expr(&mut self) -> Result<bool, CondError> {
        let mut v = self.and_expr()?;
        while self.eat("||") {
            // Both sides are always parsed so errors are found whatever the values.
            let r = self.and_expr()?;
            v = v || r;
        }
        Ok(v)
    }

    fn and_expr(&mut self) -> Result<bool, CondError> {
        let mut v = self.unary()?;
        while self.eat("&&") {
            let r = self.unary()?;
            v = v && r;
        }
        Ok(v)
    }

    fn unary(&mut self) -> Result<bool, CondError> {
        self.skip_blanks();
        if self.eat("!") {
            return Ok(!self.unary()?);
        }
        if self.eat("(") {
            let v = self.or_expr()?;
            if !self.eat(")") {
                return Err(CondError {
                    message: "expected ')' at the end of sub-expression in conditional expression"
                        .into(),
                    offset: self.pos,
                });
            }
            return Ok(v);
        }
        self.term()
    }

    fn unparsable(&self, at: usize) -> CondError {
        CondError {
            message: format!("unparsable conditional expression '{}'", &self.expr[at..]),
            offset: at,
        }
    }

    fn term(&mut self) -> Result<bool, CondError> {
        self.skip_blanks();
        let start = self.pos;
        let digits = self.s[start..]
            .iter()
            .take_while(|c| c.is_ascii_digit())
            .count();
        if digits > 0 {
            self.pos += digits;
            return Ok(self.expr[start..start + digits].bytes().any(|c| c != b'0'));
        }
        let name_len = self.s[start..]
            .iter()
            .take_while(|c| c.is_ascii_alphanumeric() || **c == b'_')
            .count();
        let name = &self.expr[start..start + name_len];
        let nargs = match name {
            "defined" | "feature" | "version_atleast" | "version_before" => 1,
            "streq" | "strneq" => 2,
            _ => return Err(self.unparsable(start)),
        };
        self.pos += name_len;
        if self.s.get(self.pos) != Some(&b'(') {
            return Err(self.unparsable(start));
        }
        self.pos += 1;
        let args = self.args(name, nargs)?;
        Ok(match name {
            "defined" => self.env.is_defined(&args[0]),
            "feature" => has_feature(&args[0]),
            "streq" => args[0] == args[1],
            "strneq" => args[0] != args[1],
            "version_atleast" => {
                compare_versions(HAPROXY_COMPAT_VERSION, &args[0]) != std::cmp::Ordering::Less
            }
            _ => compare_versions(HAPROXY_COMPAT_VERSION, &args[0]) == std::cmp::Ordering::Less,
        })
    }

    /// Reads `nargs` comma-separated arguments and the closing parenthesis.
    fn args(&mut self, name: &str, nargs: usize) -> Result<Vec<String>, CondError> {
        let mut args = Vec::new();
        for n in 1..=nargs {
            let mut arg = Vec::new();
            let mut quote = None;
            loop {
                let Some(&c) = self.s.get(self.pos) else {
                    return Err(CondError {
                        message: format!(
                            "expected ')' in argument {n} of predicate '{name}' used in conditional expression"
                        ),
                        offset: self.pos,
                    });
                };
                match (quote, c) {
                    (Some(q), c) if c == q => quote = None,
                    (None, b'"' | b'\'') => quote = Some(c),
                    (Some(b'"') | None, b'\\') if self.pos + 1 < self.s.len() => {
                        self.pos += 1;
                        arg.push(self.s[self.pos]);
                    }
                    (None, b',' | b')') => break,
                    _ => arg.push(c),
                }
                self.pos += 1;
            }
            let sep = self.s[self.pos];
            args.push(String::from_utf8_lossy(&arg).into_owned());
            if n < nargs && sep != b',' {
                return Err(CondError {
                    message: format!("expected ',' after argument {n} of predicate '{name}' used in conditional expression"),
                    offset: self.pos,
                });
            }
            if n == nargs && sep != b')' {
                return Err(CondError {
                    message: format!("expected ')' in argument {n} of predicate '{name}' used in conditional expression"),
                    offset: self.pos,
                });
            }
            self.pos += 1;
        }
        Ok(args)
    }
}

/// Compares dotted versions numerically (`2.6` == `2.6.0`; a `-dev` suffix sorts before the release).
pub fn compare_versions(a: &str, b: &str) -> std::cmp::Ordering {
    fn parts(v: &str) -> (Vec<u64>, bool) {
        let (num, suffix) = match v.find(|c: char| !(c.is_ascii_digit() || c == '.')) {
            Some(i) => (&v[..i], !v[i..].is_empty()),
            None => (v, false),
        };
        (
            num.split('.')
                .filter(|p| !p.is_empty())
                .map(|p| p.parse().unwrap_or(0))
                .collect(),
            suffix,
        )
    }
    let (mut pa, da) = parts(a);
    let (mut pb, db) = parts(b);
    let len = pa.len().max(pb.len());
    pa.resize(len, 0);
    pb.resize(len, 0);
    pa.cmp(&pb).then(db.cmp(&da))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(s: &str) -> Result<bool, CondError> {
        let mut env = Env::new();
        env.set("SET", "x");
        env.unset("NOPE");
        evaluate_in(s, &env)
    }

    #[test]
    fn predicates() {
        assert_eq!(ev("defined(SET)"), Ok(true));
        assert_eq!(ev("defined(NOPE)"), Ok(false));
        assert_eq!(ev("feature(LUA)"), Ok(true));
        assert_eq!(ev("feature(OPENSSL)"), Ok(false));
        assert_eq!(ev("streq(a,a)"), Ok(true));
        assert_eq!(ev(r#"streq("a b",'a b')"#), Ok(true));
        assert_eq!(ev("strneq(a,b)"), Ok(true));
        assert_eq!(ev("version_atleast(2.6)"), Ok(true));
        assert_eq!(ev("version_atleast(2.7)"), Ok(false));
        assert_eq!(ev("version_before(2.6.12)"), Ok(true));
        assert_eq!(ev("version_before(2.6)"), Ok(false));
    }

    #[test]
    fn operators_and_literals() {
        assert_eq!(ev(""), Ok(false));
        assert_eq!(ev("1"), Ok(true));
        assert_eq!(ev("0"), Ok(false));
        assert_eq!(ev("!0"), Ok(true));
        assert_eq!(ev("1 && 0"), Ok(false));
        assert_eq!(ev("1 && 0 || 1"), Ok(true));
        assert_eq!(ev("!(1 || 0) || defined(SET) && !feature(LUA)"), Ok(false));
        assert_eq!(ev("( defined(SET) )"), Ok(true));
    }

    #[test]
    fn errors_have_haproxy_wording() {
        assert_eq!(
            ev("foo(1)").unwrap_err().message,
            "unparsable conditional expression 'foo(1)'"
        );
        let e = ev("defined(A").unwrap_err();
        assert_eq!(
            e.message,
            "expected ')' in argument 1 of predicate 'defined' used in conditional expression"
        );
        assert_eq!(e.offset, 9);
        let e = ev("1 2").unwrap_err();
        assert_eq!(
            e.message,
            "unexpected character '2' at the end of conditional expression '1 2'"
        );
        assert_eq!(e.offset, 2);
        assert!(ev("(1").is_err());
        assert!(ev("streq(a)").is_err());
    }

    #[test]
    fn versions() {
        use std::cmp::Ordering::*;
        assert_eq!(compare_versions("2.6.0", "2.6"), Equal);
        assert_eq!(compare_versions("2.6", "2.10"), Less);
        assert_eq!(compare_versions("2.6-dev1", "2.6"), Less);
    }

    /// Random expressions never make the condition parser panic.
    #[test]
    fn never_panics() {
        let tokens = [
            "defined(",
            "streq(",
            "feature(",
            "version_atleast(",
            ")",
            "(",
            ",",
            "!",
            "&&",
            "||",
            "1",
            "0",
            " ",
            "\"",
            "'",
            "\\",
            "é",
            "x",
        ];
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..20_000 {
            let mut expr = String::new();
            for _ in 0..(seed % 12) {
                seed = seed
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                expr.push_str(tokens[(seed >> 33) as usize % tokens.len()]);
            }
            if let Err(e) = ev(&expr) {
                assert!(e.offset <= expr.len(), "{expr:?}");
            }
        }
    }
}
