//! `map_regm(<file>[,<default>])`: a map whose keys are regular expressions and whose
//! values may name the groups of the match (`\1` ... `\9`, `\0` the whole match). The
//! first key matching anywhere in the input gives the value; without a match, the
//! default, else no sample. The file lives in the shared pattern store
//! ([`super::map::patref`]) as other maps do, so run-time changes (`add map`, Lua
//! `core.set_map`) are seen; its regexes are compiled again after a change.

use super::args::{Arg, ArgType as A};
use super::conv::{self, spec, Conv};
use super::map::patref::PatRef;
use super::map::MapFile;
use super::regex::Regex;
use super::{Method, Sample, SampleCtx, SampleType as T};
use std::sync::{Arc, Mutex};

pub static CONVERTERS: &[Conv] = &[Conv::new("map_regm", spec(&[A::Str, A::Str], 1), T::Str, T::Str, check, run)];

/// Each key's regex with its value.
type Rules = Vec<(Regex, Vec<u8>)>;

/// The map's entries and their regexes, compiled for one generation of the entries.
struct RegmMap {
    pat: Arc<PatRef>,
    compiled: Mutex<(u64, Rules)>,
}

impl RegmMap {
    fn compile(pat: &PatRef) -> (u64, Rules) {
        let (generation, entries) = pat.entries();
        let rules = entries
            .iter()
            .filter_map(|e| {
                let re = Regex::new(e.key.as_bytes(), false).ok()?;
                Some((re, e.value.clone().unwrap_or_default().into_bytes()))
            })
            .collect();
        (generation, rules)
    }

    /// The value of the first matching key, its group references replaced.
    fn lookup(&self, subject: &[u8]) -> Option<Vec<u8>> {
        let mut c = self.compiled.lock().unwrap_or_else(|e| e.into_inner());
        if c.0 != self.pat.generation() {
            *c = RegmMap::compile(&self.pat);
        }
        c.1.iter().find_map(|(re, value)| {
            let caps = re.captures_at(subject, 0)?;
            Some(expand(value, |n| caps.get(n).map(|m| m.as_bytes())))
        })
    }
}

/// `value` with each `\N` (a digit) replaced by group N (nothing for a group that did
/// not take part).
fn expand<'a>(value: &[u8], group: impl Fn(usize) -> Option<&'a [u8]>) -> Vec<u8> {
    let mut out = Vec::with_capacity(value.len());
    let mut i = 0;
    while i < value.len() {
        if value[i] == b'\\' && value.get(i + 1).is_some_and(u8::is_ascii_digit) {
            out.extend_from_slice(group((value[i + 1] - b'0') as usize).unwrap_or_default());
            i += 2;
        } else {
            out.push(value[i]);
            i += 1;
        }
    }
    out
}

/// Loads the file as a `map_reg` does (same errors), then keeps its entries.
fn check(a: &mut [Arg]) -> Result<(), String> {
    let path = a.first().and_then(Arg::str).unwrap_or("").to_string();
    let map = MapFile::load(&path, Method::Reg, T::Str)?;
    let pat = map.pattern_ref().clone();
    let compiled = Mutex::new(RegmMap::compile(&pat));
    a[0] = Arg::Data(Arc::new(RegmMap { pat, compiled }));
    Ok(())
}

fn run(s: Sample, a: &[Arg], _: &dyn SampleCtx) -> Option<Sample> {
    let Some(Arg::Data(data)) = a.first() else { return None };
    let map = data.downcast_ref::<RegmMap>()?;
    match map.lookup(&conv::bytes(s)?) {
        Some(v) => Some(Sample::Str(v)),
        None => Some(Sample::str(a.get(1)?.str()?)),
    }
}

#[cfg(test)]
mod tests {
    use crate::sample::{Expr, Sample, TestCtx};

    #[test]
    fn values_name_the_groups() {
        let dir = std::env::temp_dir().join(format!("mp-regm-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("m.map");
        std::fs::write(&f, "^/api/v([0-9]+)/(.*) api-\\1:\\2\n^/static/ static\n").unwrap();
        let cx = TestCtx::default();
        let eval = |v: &str| Expr::parse(&format!("str({v}),map_regm({},none)", f.display())).unwrap().eval(&cx);
        assert_eq!(eval("/api/v2/users"), Some(Sample::str("api-2:users")));
        assert_eq!(eval("/static/x"), Some(Sample::str("static")));
        assert_eq!(eval("/other"), Some(Sample::str("none")));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
