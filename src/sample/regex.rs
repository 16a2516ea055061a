//! A small backtracking regular-expression engine for `regsub` and `-m reg`.
//!
//! HAProxy uses PCRE; this covers the common subset of it: literals, `.`, classes
//! (`[a-z]`, `[^...]`, `\d \w \s` and their negations), anchors `^ $ \b \B`, groups
//! (capturing and `(?:...)`), alternation, greedy and lazy quantifiers (`* + ? {n,m}`),
//! and case-insensitive matching. Backreferences inside the pattern, lookaround and
//! Unicode classes are refused at compile time. Matching works on bytes.

use std::fmt;

#[derive(Clone, Debug)]
enum Node {
    Byte(u8),
    Any,
    Class(Box<[bool; 256]>),
    Start,
    End,
    WordBoundary(bool),
    Group(Vec<Vec<Node>>, Option<usize>),
    Repeat {
        node: Box<Node>,
        min: u32,
        max: Option<u32>,
        greedy: bool,
    },
}

/// A compiled regular expression.
#[derive(Clone)]
pub struct Regex {
    source: String,
    /// The whole pattern as capture group 0.
    root: Node,
    groups: usize,
    icase: bool,
}

impl fmt::Debug for Regex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Regex({:?})", self.source)
    }
}

/// Capture positions: group 0 is the whole match.
pub type Captures = Vec<Option<(usize, usize)>>;

struct Parser<'a> {
    b: &'a [u8],
    pos: usize,
    groups: usize,
}

impl Regex {
    /// Compiles `pattern`; `icase` makes letters match either case.
    pub fn new(pattern: &str, icase: bool) -> Result<Regex, String> {
        let mut p = Parser {
            b: pattern.as_bytes(),
            pos: 0,
            groups: 0,
        };
        let alts = p.alternation()?;
        if p.pos < p.b.len() {
            return Err(format!(
                "unmatched closing parenthesis, erroffset={}",
                p.pos
            ));
        }
        Ok(Regex {
            source: pattern.to_string(),
            root: Node::Group(alts, Some(0)),
            groups: p.groups,
            icase,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// The same expression, case-insensitive.
    pub fn with_icase(mut self, icase: bool) -> Regex {
        self.icase = icase;
        self
    }

    /// Whether the expression matches somewhere in `text`.
    pub fn is_match(&self, text: &[u8]) -> bool {
        self.find_at(text, 0).is_some()
    }

    /// The leftmost match starting at or after `start`, with its captures.
    pub fn find_at(&self, text: &[u8], start: usize) -> Option<Captures> {
        let m = Matcher {
            text,
            icase: self.icase,
            budget: std::cell::Cell::new(MATCH_LIMIT),
        };
        for s in start..=text.len() {
            if m.budget.get() == 0 {
                return None;
            }
            let mut caps: Captures = vec![None; self.groups + 1];
            let mut found = None;
            if m.one(&self.root, s, &mut caps, &mut |_, c| {
                found = Some(c.clone());
                true
            }) {
                return found;
            }
        }
        None
    }
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.pos).copied()
    }

    fn alternation(&mut self) -> Result<Vec<Vec<Node>>, String> {
        let mut alts = vec![self.sequence()?];
        while self.peek() == Some(b'|') {
            self.pos += 1;
            alts.push(self.sequence()?);
        }
        Ok(alts)
    }

    fn sequence(&mut self) -> Result<Vec<Node>, String> {
        let mut seq = Vec::new();
        while let Some(c) = self.peek() {
            if c == b'|' || c == b')' {
                break;
            }
            let atom = self.atom()?;
            let atom = self.quantifier(atom)?;
            seq.push(atom);
        }
        Ok(seq)
    }

    fn atom(&mut self) -> Result<Node, String> {
        let c = self.b[self.pos];
        self.pos += 1;
        Ok(match c {
            b'.' => Node::Any,
            b'^' => Node::Start,
            b'$' => Node::End,
            b'(' => {
                let capture = if self.b[self.pos..].starts_with(b"?:") {
                    self.pos += 2;
                    None
                } else if self.peek() == Some(b'?') {
                    return Err(format!("unsupported group syntax, erroffset={}", self.pos));
                } else {
                    self.groups += 1;
                    Some(self.groups)
                };
                let alts = self.alternation()?;
                if self.peek() != Some(b')') {
                    return Err(format!(
                        "missing closing parenthesis, erroffset={}",
                        self.pos
                    ));
                }
                self.pos += 1;
                Node::Group(alts, capture)
            }
            b'[' => self.class()?,
            b'\\' => self.escape(false)?,
            b'*' | b'+' | b'?' => {
                return Err(format!(
                    "quantifier does not follow a repeatable item, erroffset={}",
                    self.pos - 1
                ))
            }
            c => Node::Byte(c),
        })
    }

    fn escape(&mut self, in_class: bool) -> Result<Node, String> {
        let c = self
            .peek()
            .ok_or_else(|| format!("\\ at end of pattern, erroffset={}", self.pos))?;
        self.pos += 1;
        let class = |f: fn(u8) -> bool, neg: bool| {
            let mut t = Box::new([false; 256]);
            for (i, e) in t.iter_mut().enumerate() {
                *e = f(i as u8) != neg;
            }
            Node::Class(t)
        };
        Ok(match c {
            b'd' => class(|c| c.is_ascii_digit(), false),
            b'D' => class(|c| c.is_ascii_digit(), true),
            b'w' => class(|c| c.is_ascii_alphanumeric() || c == b'_', false),
            b'W' => class(|c| c.is_ascii_alphanumeric() || c == b'_', true),
            b's' => class(
                |c| matches!(c, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c),
                false,
            ),
            b'S' => class(
                |c| matches!(c, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c),
                true,
            ),
            b'b' if !in_class => Node::WordBoundary(true),
            b'B' if !in_class => Node::WordBoundary(false),
            b'n' => Node::Byte(b'\n'),
            b'r' => Node::Byte(b'\r'),
            b't' => Node::Byte(b'\t'),
            b'x' => {
                let h = self
                    .b
                    .get(self.pos..self.pos + 2)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                let h = h.ok_or_else(|| format!("bad \\x escape, erroffset={}", self.pos))?;
                self.pos += 2;
                Node::Byte(h)
            }
            c if c.is_ascii_alphanumeric() => {
                return Err(format!(
                    "unsupported escape \\{}, erroffset={}",
                    c as char,
                    self.pos - 1
                ))
            }
            c => Node::Byte(c),
        })
    }

    fn class(&mut self) -> Result<Node, String> {
        let mut set = Box::new([false; 256]);
        let neg = self.peek() == Some(b'^');
        if neg {
            self.pos += 1;
        }
        let mut first = true;
        loop {
            let c = self.peek().ok_or_else(|| {
                format!(
                    "missing terminating ] for character class, erroffset={}",
                    self.b.len()
                )
            })?;
            if c == b']' && !first {
                self.pos += 1;
                break;
            }
            first = false;
            let lo = if c == b'\\' {
                self.pos += 1;
                match self.escape(true)? {
                    Node::Byte(b) => b,
                    Node::Class(t) => {
                        for i in 0..256 {
                            set[i] |= t[i];
                        }
                        continue;
                    }
                    _ => unreachable!("escape in a class is a byte or a class"),
                }
            } else {
                self.pos += 1;
                c
            };
            if self.peek() == Some(b'-') && self.b.get(self.pos + 1).is_some_and(|&n| n != b']') {
                let hi = self.b[self.pos + 1];
                self.pos += 2;
                if hi < lo {
                    return Err(format!(
                        "range out of order in character class, erroffset={}",
                        self.pos - 1
                    ));
                }
                for i in lo..=hi {
                    set[i as usize] = true;
                }
            } else {
                set[lo as usize] = true;
            }
        }
        if neg {
            for e in set.iter_mut() {
                *e = !*e;
            }
        }
        Ok(Node::Class(set))
    }

    fn quantifier(&mut self, atom: Node) -> Result<Node, String> {
        let (min, max) = match self.peek() {
            Some(b'*') => (0, None),
            Some(b'+') => (1, None),
            Some(b'?') => (0, Some(1)),
            Some(b'{') => match self.braces() {
                Some(r) => r,
                None => return Ok(atom),
            },
            _ => return Ok(atom),
        };
        if matches!(atom, Node::Start | Node::End | Node::WordBoundary(_)) {
            return Err(format!(
                "quantifier does not follow a repeatable item, erroffset={}",
                self.pos
            ));
        }
        // Past the quantifier character (or the closing brace).
        self.pos += 1;
        let greedy = if self.peek() == Some(b'?') {
            self.pos += 1;
            false
        } else {
            true
        };
        Ok(Node::Repeat {
            node: Box::new(atom),
            min,
            max,
            greedy,
        })
    }

    /// `{n}`, `{n,}`, `{n,m}`: leaves `pos` on the closing brace. Anything else is a literal `{`.
    fn braces(&mut self) -> Option<(u32, Option<u32>)> {
        let rest = &self.b[self.pos + 1..];
        let close = rest.iter().position(|&c| c == b'}')?;
        let body = std::str::from_utf8(&rest[..close]).ok()?;
        let (min, max) = match body.split_once(',') {
            None => {
                let n = body.parse().ok()?;
                (n, Some(n))
            }
            Some((a, "")) => (a.parse().ok()?, None),
            Some((a, b)) => (a.parse().ok()?, Some(b.parse().ok()?)),
        };
        self.pos += 1 + close;
        Some((min, max))
    }
}

struct Matcher<'t> {
    text: &'t [u8],
    icase: bool,
    /// Steps left before giving up (PCRE's match limit; HAProxy then sees no match).
    budget: std::cell::Cell<u64>,
}

/// Backtracking steps allowed per match attempt.
const MATCH_LIMIT: u64 = 1_000_000;

type Cont<'c> = dyn FnMut(usize, &mut Captures) -> bool + 'c;

impl Matcher<'_> {
    fn is_word(&self, i: usize) -> bool {
        self.text
            .get(i)
            .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_')
    }

    /// Whether a one-byte node matches `c`.
    fn byte_matches(&self, node: &Node, c: u8) -> bool {
        match node {
            Node::Byte(b) => c == *b || (self.icase && c.eq_ignore_ascii_case(b)),
            Node::Any => c != b'\n',
            Node::Class(set) => {
                set[c as usize]
                    || (self.icase
                        && (set[c.to_ascii_lowercase() as usize]
                            || set[c.to_ascii_uppercase() as usize]))
            }
            _ => false,
        }
    }

    /// Matches one node at `pos`; on success calls `k` with the end position.
    fn one(&self, node: &Node, pos: usize, caps: &mut Captures, k: &mut Cont<'_>) -> bool {
        let left = self.budget.get();
        if left == 0 {
            return false;
        }
        self.budget.set(left - 1);
        let t = self.text;
        match node {
            // A repeated single byte is counted in a loop, so that `.*` over a long
            // input does not recurse once per byte.
            Node::Repeat {
                node: inner,
                min,
                max,
                greedy,
            } if matches!(**inner, Node::Byte(_) | Node::Any | Node::Class(_)) => {
                let cap = max.map_or(usize::MAX, |m| m as usize);
                let mut n = 0;
                while n < cap && pos + n < t.len() && self.byte_matches(inner, t[pos + n]) {
                    n += 1;
                }
                let min = *min as usize;
                if n < min {
                    return false;
                }
                if *greedy {
                    (min..=n).rev().any(|c| k(pos + c, caps))
                } else {
                    (min..=n).any(|c| k(pos + c, caps))
                }
            }
            Node::Byte(b) => {
                pos < t.len()
                    && (t[pos] == *b || (self.icase && t[pos].eq_ignore_ascii_case(b)))
                    && k(pos + 1, caps)
            }
            Node::Any => pos < t.len() && t[pos] != b'\n' && k(pos + 1, caps),
            Node::Class(set) => {
                pos < t.len()
                    && (set[t[pos] as usize]
                        || (self.icase
                            && (set[t[pos].to_ascii_lowercase() as usize]
                                || set[t[pos].to_ascii_uppercase() as usize])))
                    && k(pos + 1, caps)
            }
            Node::Start => pos == 0 && k(pos, caps),
            Node::End => pos == t.len() && k(pos, caps),
            Node::WordBoundary(want) => {
                let at = pos > 0 && self.is_word(pos - 1);
                (at != self.is_word(pos)) == *want && k(pos, caps)
            }
            Node::Group(alts, idx) => {
                for alt in alts {
                    let ok = self.seq(alt, pos, caps, &mut |end, caps: &mut Captures| match idx {
                        Some(i) => {
                            let saved = caps[*i];
                            caps[*i] = Some((pos, end));
                            if k(end, caps) {
                                return true;
                            }
                            caps[*i] = saved;
                            false
                        }
                        None => k(end, caps),
                    });
                    if ok {
                        return true;
                    }
                }
                false
            }
            Node::Repeat {
                node,
                min,
                max,
                greedy,
            } => self.repeat(node, *min, *max, *greedy, 0, pos, usize::MAX, caps, k),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn repeat(
        &self,
        node: &Node,
        min: u32,
        max: Option<u32>,
        greedy: bool,
        count: u32,
        pos: usize,
        last: usize,
        caps: &mut Captures,
        k: &mut Cont<'_>,
    ) -> bool {
        let can_stop = count >= min;
        let can_more = max.is_none_or(|m| count < m) && pos != last;
        if can_stop && !greedy && k(pos, caps) {
            return true;
        }
        if can_more
            && self.one(node, pos, caps, &mut |p, caps: &mut Captures| {
                self.repeat(node, min, max, greedy, count + 1, p, pos, caps, k)
            })
        {
            return true;
        }
        can_stop && greedy && k(pos, caps)
    }

    fn seq(&self, nodes: &[Node], pos: usize, caps: &mut Captures, k: &mut Cont<'_>) -> bool {
        match nodes.split_first() {
            None => k(pos, caps),
            Some((first, rest)) => self.one(first, pos, caps, &mut |p, caps: &mut Captures| {
                self.seq(rest, p, caps, k)
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn find(p: &str, t: &str) -> Option<(usize, usize)> {
        Regex::new(p, false)
            .unwrap()
            .find_at(t.as_bytes(), 0)
            .and_then(|c| c[0])
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
        assert!(Regex::new("H", true).unwrap().is_match(b"hello"));
    }

    #[test]
    fn captures() {
        let r = Regex::new("([a-z])=([0-9])", false).unwrap();
        let c = r.find_at(b"x=1;y=2", 0).unwrap();
        assert_eq!(c, vec![Some((0, 3)), Some((0, 1)), Some((2, 3))]);
        let c = r.find_at(b"x=1;y=2", 3).unwrap();
        assert_eq!(c[1], Some((4, 5)));
    }

    #[test]
    fn long_inputs_do_not_recurse_per_byte() {
        let text = "a".repeat(200_000) + "x";
        assert_eq!(find(".*x$", &text), Some((0, 200_001)));
        assert_eq!(find("a+?x", &text), Some((0, 200_001)));
        assert_eq!(find("[a-z]*y", "aaay"), Some((0, 4)));
    }

    #[test]
    fn catastrophic_patterns_give_up_instead_of_hanging() {
        let text = "a".repeat(40);
        // Exponential for a backtracker; the step budget turns it into "no match".
        assert!(!Regex::new("(a|aa)*b", false)
            .unwrap()
            .is_match(text.as_bytes()));
    }

    #[test]
    fn errors() {
        assert!(Regex::new("[", false)
            .unwrap_err()
            .contains("missing terminating ]"));
        assert!(Regex::new("(a", false).is_err());
        assert!(Regex::new("a)", false).is_err());
        assert!(Regex::new("*a", false).is_err());
        assert!(Regex::new("(?=a)", false).is_err());
    }
}
