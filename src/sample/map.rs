//! Map files and the `map*` converters: `map_<match>[_<output>](file[,default])`.
//!
//! A map file holds one `key value` pair a line (`#` comments and blank lines
//! skipped; the value is the rest of the line, blanks around it removed). It is read
//! once, at its first use, into the process-wide pattern store ([`patref`]), which
//! every converter and Lua `Map` on that file shares and which run-time changes
//! (`core.set_map`, the CLI) edit; keys are compiled as the patterns of the
//! match method (`str`, `beg`, `sub`, `dir`, `dom`, `end`, `reg`, `int`, `ip`) and the
//! values are typed as the output (`str`, `int` or `ip`). The first matching key
//! wins, the longest prefix for `ip` and `beg`; without a match the default is returned, or
//! the sample is dropped.

pub mod patref;

use super::args::Arg;
use super::matching::{Matcher, Method};
use super::{Sample, SampleType};
use patref::PatRef;
use std::sync::{Arc, Mutex};

/// A map file as one converter (or one Lua `Map`) sees it: the shared entries of the
/// file ([`patref`]) compiled for a match method and an output type. The compiled form
/// follows the entries: it is rebuilt at the first lookup after a change.
#[derive(Debug)]
pub struct MapFile {
    pat: Arc<PatRef>,
    method: Method,
    out: SampleType,
    compiled: Mutex<Compiled>,
}

#[derive(Debug)]
struct Compiled {
    /// The generation of the entries this was built from.
    generation: u64,
    matcher: Matcher,
    values: Vec<Sample>,
}

impl MapFile {
    /// Opens `path` through the pattern store (read at its first use), checking every
    /// key for `method` and every value for `out`. Errors read as HAProxy's (after
    /// `invalid args in converter 'x' : `).
    pub fn load(path: &str, method: Method, out: SampleType) -> Result<MapFile, String> {
        let pat = patref::store().load_map(path)?;
        let (generation, entries) = pat.entries();
        // Entries are checked one by one so that an error names its line (for a file
        // nobody changed yet, entry ids are line ranks among the non-blank lines).
        for e in &entries {
            let value = e.value.as_deref().unwrap_or("");
            let at = || line_of(path, e.id);
            typed_value(value, out).ok_or_else(|| format!("unable to parse '{value}' at line {} of file '{path}'", at()))?;
            Matcher::compile("map", key_type(method), method, false, &[e.key.as_str()])
                .map_err(|err| format!("{err} at line {} of file '{path}'", at()))?;
        }
        let compiled = compile(generation, &entries, method, out);
        Ok(MapFile { pat, method, out, compiled: Mutex::new(compiled) })
    }

    /// The match method of the keys.
    pub fn method(&self) -> Method {
        self.method
    }

    /// The shared entries this map reads.
    pub fn pattern_ref(&self) -> &Arc<PatRef> {
        &self.pat
    }

    /// The value of the first key matching `sample` (the longest prefix for `ip` and `beg`), as
    /// the entries are now.
    pub fn lookup(&self, sample: Sample) -> Option<Sample> {
        let mut c = self.compiled.lock().unwrap_or_else(|e| e.into_inner());
        if c.generation != self.pat.generation() {
            let (generation, entries) = self.pat.entries();
            *c = compile(generation, &entries, self.method, self.out);
        }
        c.values.get(c.matcher.first_match(sample)?).cloned()
    }
}

/// The 1-based line of the entry with id `id` in the file as read (ids count the
/// non-blank, non-comment lines).
fn line_of(path: &str, id: u64) -> usize {
    let Ok(text) = std::fs::read(path) else { return id as usize };
    let mut seen = 0;
    for (n, line) in text.split(|&b| b == b'\n').enumerate() {
        let line = String::from_utf8_lossy(line);
        let line = line.trim_end_matches('\r').trim_matches([' ', '\t']);
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        seen += 1;
        if seen == id {
            return n + 1;
        }
    }
    id as usize
}

/// Compiles the entries; an entry whose key or value does not fit this map (one added
/// at run time) is left out of it.
fn compile(generation: u64, entries: &[patref::Entry], method: Method, out: SampleType) -> Compiled {
    let mut keys = Vec::with_capacity(entries.len());
    let mut values = Vec::with_capacity(entries.len());
    for e in entries {
        let Some(v) = typed_value(e.value.as_deref().unwrap_or(""), out) else { continue };
        keys.push(e.key.as_str());
        values.push(v);
    }
    let matcher = match Matcher::compile("map", key_type(method), method, false, &keys) {
        Ok(m) => m,
        Err(_) => {
            // Keep the keys that compile on their own.
            let (k, v): (Vec<&str>, Vec<Sample>) = keys
                .into_iter()
                .zip(values)
                .filter(|(k, _)| Matcher::compile("map", key_type(method), method, false, &[k]).is_ok())
                .unzip();
            values = v;
            Matcher::compile("map", key_type(method), method, false, &k).unwrap_or_else(|_| {
                // Keys that compile alone compile together; should they not, the map
                // is empty rather than wrong.
                values.clear();
                Matcher::compile("map", key_type(method), method, false, &[])
                    .expect("no pattern compiles for the method's own input type")
            })
        }
    };
    Compiled { generation, matcher, values }
}

fn key_type(method: Method) -> SampleType {
    match method {
        Method::Ip => SampleType::Addr,
        Method::Int => SampleType::Sint,
        _ => SampleType::Str,
    }
}

fn typed_value(v: &str, out: SampleType) -> Option<Sample> {
    match out {
        SampleType::Sint => Some(Sample::Sint(super::args::parse_int(v)?)),
        SampleType::Addr => Some(Sample::ip(v.parse().ok()?)),
        _ => Some(Sample::str(v)),
    }
}

/// Compile-time check of a `map*` converter: loads the file into `Arg::Map` and
/// types the default.
pub fn check(a: &mut [Arg], method: Method, out: SampleType) -> Result<(), String> {
    let path = a.first().and_then(Arg::str).unwrap_or("").to_string();
    let map = MapFile::load(&path, method, out)?;
    a[0] = Arg::Map(Arc::new(map));
    if let Some(Arg::Str(d)) = a.get(1) {
        if typed_value(d, out).is_none() {
            return Err(format!("cannot parse default value '{d}'"));
        }
    }
    Ok(())
}

/// Runs a `map*` converter.
pub fn run(s: Sample, a: &[Arg], out: SampleType) -> Option<Sample> {
    let Some(Arg::Map(map)) = a.first() else { return None };
    match map.lookup(s) {
        Some(v) => Some(v),
        None => typed_value(a.get(1)?.str()?, out),
    }
}

#[cfg(test)]
mod tests {
    use crate::sample::{Expr, Sample, TestCtx};

    /// Values from HAProxy 2.6 on the same files.
    #[test]
    fn lookups_as_haproxy_does() {
        let dir = std::env::temp_dir().join(format!("mp-map-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let t = dir.join("t.map");
        std::fs::write(&t, "/a  A value \n/b\tB\n# x\n\n/c\n").unwrap();
        let ip = dir.join("ip.map");
        std::fs::write(&ip, "10.0.0.0/8 net8\n10.1.0.0/16 net16\n").unwrap();
        let int = dir.join("int.map");
        std::fs::write(&int, "5 five\n10:20 range\n").unwrap();
        let (t, ip, int) = (t.display(), ip.display(), int.display());
        let cx = TestCtx::default();
        let eval = |e: String| Expr::parse(&e).unwrap_or_else(|err| panic!("{e}: {err}")).eval(&cx);
        let s = |v: &str| Some(Sample::str(v));
        let cases = [
            (format!("str(/a),map({t})"), s("A value")),
            (format!("str(/b/x),map({t})"), None),
            (format!("str(/b/x),map_beg({t},def)"), s("B")),
            (format!("str(/zz/a),map_sub({t})"), s("A value")),
            (format!("str(/zz/a),map_beg({t},def)"), s("def")),
            (format!("str(/c),map_beg({t},def)"), s("")),
            (format!("str(10.1.2.3),map_ip({ip})"), s("net16")),
            (format!("str(10.2.2.3),map_ip({ip},none)"), s("net8")),
            (format!("str(11.1.1.1),map_ip({ip},none)"), s("none")),
            (format!("int(15),map_int({int},none)"), s("range")),
            (format!("int(5),map_int({int},none)"), s("five")),
            (format!("str(x),map_int({int},none)"), s("none")),
        ];
        for (e, want) in cases {
            assert_eq!(eval(e.clone()), want, "{e}");
        }
        assert_eq!(
            Expr::parse(&format!("str(a),map_str_int({t})")).unwrap_err().to_string(),
            format!("invalid args in converter 'map_str_int' : unable to parse 'A value' at line 1 of file '{t}'")
        );
        assert_eq!(
            Expr::parse("str(a),map(/nonexistent/x.map)").unwrap_err().to_string(),
            "invalid args in converter 'map' : failed to open pattern file </nonexistent/x.map>"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// `map_beg` answers the longest matching key, wherever it is in the file, as
    /// HAProxy 2.6's prefix tree does (checked on 2.6.12 with these two files).
    #[test]
    fn map_beg_prefers_the_longest_prefix() {
        let dir = std::env::temp_dir().join(format!("mp-map-beg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (m1, m2) = (dir.join("m1.map"), dir.join("m2.map"));
        std::fs::write(&m1, "ab long\na short\n").unwrap();
        std::fs::write(&m2, "a short\nab long\nabc longer-but-not\n").unwrap();
        let cx = TestCtx::default();
        let look = |m: &std::path::Path, v: &str| {
            let e = format!("str({v}),map_beg({},none)", m.display());
            match Expr::parse(&e).unwrap().eval(&cx) {
                Some(Sample::Str(b)) => Some(String::from_utf8_lossy(&b).into_owned()),
                other => panic!("{e}: {other:?}"),
            }
        };
        for (v, want1, want2) in [("abc", "long", "longer-but-not"), ("abx", "long", "long"), ("a", "short", "short"), ("zz", "none", "none")] {
            assert_eq!(look(&m1, v).as_deref(), Some(want1), "{v} in m1");
            assert_eq!(look(&m2, v).as_deref(), Some(want2), "{v} in m2");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
