//! Just enough JSON for `json_query`: a parser into a value tree and HAProxy's JSON
//! path subset (`$`, `.key`, `['key']`, `[index]`).

#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    /// The number's text as it appears in the document.
    Number(String),
    Str(Vec<u8>),
    Array(Vec<Value>),
    Object(Vec<(Vec<u8>, Value)>),
}

/// One step of a JSON path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    Key(String),
    Index(usize),
}

/// Parses a JSON path such as `$.a.b[1]`; `None` when it is not one.
pub fn parse_path(p: &str) -> Option<Vec<Step>> {
    let b = p.as_bytes();
    if b.first() != Some(&b'$') {
        return None;
    }
    let mut i = 1;
    let mut steps = Vec::new();
    while i < b.len() {
        match b[i] {
            b'.' => {
                let start = i + 1;
                i = start;
                while i < b.len() && b[i] != b'.' && b[i] != b'[' {
                    i += 1;
                }
                if i == start {
                    return None;
                }
                steps.push(Step::Key(p[start..i].to_string()));
            }
            b'[' => {
                let close = p[i..].find(']')? + i;
                let inner = &p[i + 1..close];
                if let Some(k) = inner.strip_prefix('\'').and_then(|s| s.strip_suffix('\'')) {
                    steps.push(Step::Key(k.to_string()));
                } else {
                    steps.push(Step::Index(inner.parse().ok()?));
                }
                i = close + 1;
            }
            _ => return None,
        }
    }
    Some(steps)
}

/// Parses the JSON value at the start of `s` (trailing bytes are ignored, as HAProxy
/// stops once it has found what the path asks for).
pub fn parse(s: &[u8]) -> Option<Value> {
    let mut p = P { b: s, i: 0 };
    p.value(0)
}

/// Follows `path` in `v`.
pub fn query<'v>(v: &'v Value, path: &[Step]) -> Option<&'v Value> {
    let mut cur = v;
    for step in path {
        cur = match (step, cur) {
            (Step::Key(k), Value::Object(members)) => {
                &members.iter().find(|(name, _)| name == k.as_bytes())?.1
            }
            (Step::Index(n), Value::Array(items)) => items.get(*n)?,
            _ => return None,
        };
    }
    Some(cur)
}

struct P<'a> {
    b: &'a [u8],
    i: usize,
}

const MAX_DEPTH: usize = 64;

impl P<'_> {
    fn ws(&mut self) {
        while self.i < self.b.len() && matches!(self.b[self.i], b' ' | b'\t' | b'\n' | b'\r') {
            self.i += 1;
        }
    }

    fn eat(&mut self, c: u8) -> bool {
        self.ws();
        if self.b.get(self.i) == Some(&c) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn value(&mut self, depth: usize) -> Option<Value> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.ws();
        let c = *self.b.get(self.i)?;
        match c {
            b'{' => {
                self.i += 1;
                let mut members = Vec::new();
                if self.eat(b'}') {
                    return Some(Value::Object(members));
                }
                loop {
                    self.ws();
                    if self.b.get(self.i) != Some(&b'"') {
                        return None;
                    }
                    let k = self.string()?;
                    if !self.eat(b':') {
                        return None;
                    }
                    let v = self.value(depth + 1)?;
                    members.push((k, v));
                    if self.eat(b',') {
                        continue;
                    }
                    return self.eat(b'}').then_some(Value::Object(members));
                }
            }
            b'[' => {
                self.i += 1;
                let mut items = Vec::new();
                if self.eat(b']') {
                    return Some(Value::Array(items));
                }
                loop {
                    items.push(self.value(depth + 1)?);
                    if self.eat(b',') {
                        continue;
                    }
                    return self.eat(b']').then_some(Value::Array(items));
                }
            }
            b'"' => self.string().map(Value::Str),
            b't' => self.word(b"true", Value::Bool(true)),
            b'f' => self.word(b"false", Value::Bool(false)),
            b'n' => self.word(b"null", Value::Null),
            b'-' | b'0'..=b'9' => {
                let start = self.i;
                self.i += 1;
                while self.i < self.b.len()
                    && matches!(
                        self.b[self.i],
                        b'0'..=b'9' | b'.' | b'e' | b'E' | b'+' | b'-'
                    )
                {
                    self.i += 1;
                }
                Some(Value::Number(
                    String::from_utf8_lossy(&self.b[start..self.i]).into_owned(),
                ))
            }
            _ => None,
        }
    }

    fn word(&mut self, w: &[u8], v: Value) -> Option<Value> {
        if self.b[self.i..].starts_with(w) {
            self.i += w.len();
            Some(v)
        } else {
            None
        }
    }

    /// A string starting at the opening quote, unescaped (`\uXXXX` as UTF-8).
    fn string(&mut self) -> Option<Vec<u8>> {
        self.i += 1;
        let mut out = Vec::new();
        loop {
            let c = *self.b.get(self.i)?;
            self.i += 1;
            match c {
                b'"' => return Some(out),
                b'\\' => {
                    let e = *self.b.get(self.i)?;
                    self.i += 1;
                    match e {
                        b'"' | b'\\' | b'/' => out.push(e),
                        b'b' => out.push(8),
                        b'f' => out.push(12),
                        b'n' => out.push(b'\n'),
                        b'r' => out.push(b'\r'),
                        b't' => out.push(b'\t'),
                        b'u' => {
                            let hex = std::str::from_utf8(self.b.get(self.i..self.i + 4)?).ok()?;
                            let cp = u32::from_str_radix(hex, 16).ok()?;
                            self.i += 4;
                            let ch = char::from_u32(cp).unwrap_or('\u{fffd}');
                            out.extend_from_slice(ch.encode_utf8(&mut [0; 4]).as_bytes());
                        }
                        _ => return None,
                    }
                }
                c => out.push(c),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_queries() {
        let v = parse(br#"{"a":{"b":[1,"z"]},"c":"x\"y","d":true}"#).unwrap();
        let q = |p| query(&v, &parse_path(p).unwrap()).cloned();
        assert_eq!(q("$.a.b[1]"), Some(Value::Str(b"z".to_vec())));
        assert_eq!(q("$.a.b[0]"), Some(Value::Number("1".into())));
        assert_eq!(q("$['c']"), Some(Value::Str(b"x\"y".to_vec())));
        assert_eq!(q("$.d"), Some(Value::Bool(true)));
        assert_eq!(q("$.e"), None);
        assert!(parse_path("a.b").is_none());
        assert!(parse(b"{\"a\":").is_none());
    }
}
