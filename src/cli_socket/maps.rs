//! `show/get/add/set/del/clear map|acl` over the shared pattern store
//! (`crate::sample::map::patref`): a change bumps the reference's generation and every
//! rule, converter and Lua `Map` using the file sees it at its next lookup.
//!
//! A reference is named by its file, as written in the configuration, or `#<id>`, its
//! position in `show map`/`show acl` (the store's files sorted by name). An entry is
//! named by its key or `#<ref>`, the `0x...` handle `show map <map>` prints.
//!
//! Versions: `prepare map|acl` opens one, `add`, `show` and `clear` take `@<ver>` before
//! the file to work on it, `commit map|acl @<ver>` makes it the one lookups see
//! (`patref`'s versions). A version is read as HAProxy reads it, the leading digits
//! (`@x` is version 0).

use super::Exec;
use crate::sample::map::patref::{self, PatRef, RefKind};
use std::sync::Arc;

/// Which of the two families a command works on, with HAProxy's words for it.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Family {
    Map,
    Acl,
}

impl Family {
    fn kind(self) -> RefKind {
        match self {
            Family::Map => RefKind::Map,
            Family::Acl => RefKind::Acl,
        }
    }
    fn unknown(self) -> String {
        match self {
            Family::Map => "Unknown map identifier. Please use #<id> or <file>.\n".into(),
            Family::Acl => "Unknown ACL identifier. Please use #<id> or <file>.\n".into(),
        }
    }
    /// The word of `prepare map|acl`.
    fn prepare_word(self) -> &'static str {
        match self {
            Family::Map => "map",
            Family::Acl => "acl",
        }
    }
    fn word(self) -> &'static str {
        match self {
            Family::Map => "map",
            Family::Acl => "ACL",
        }
    }
}

/// The store's references with their `show map` ids.
fn refs() -> Vec<(usize, Arc<PatRef>)> {
    patref::store().list().into_iter().enumerate().collect()
}

/// `args` without a first `@<ver>` word, and that version.
fn versioned(args: &[String]) -> (Option<u32>, &[String]) {
    match args.first().and_then(|a| a.strip_prefix('@')) {
        Some(v) => {
            let digits = v.find(|c: char| !c.is_ascii_digit()).map_or(v, |end| &v[..end]);
            (Some(digits.parse::<u32>().unwrap_or(0)), &args[1..])
        }
        None => (None, args),
    }
}

/// The reference `name` (`<file>` or `#<id>`) of this family.
fn find(fam: Family, name: &str) -> Result<Arc<PatRef>, String> {
    let all = refs();
    let found = match name.strip_prefix('#') {
        Some(id) => id.parse::<usize>().ok().and_then(|id| all.into_iter().find(|(i, _)| *i == id)),
        None => all.into_iter().find(|(_, r)| r.name() == name),
    };
    // An ACL command may name a map file (`add acl` then refuses); not the reverse.
    match found {
        Some((_, r)) if r.kind() == fam.kind() || fam == Family::Acl => Ok(r),
        _ => Err(fam.unknown()),
    }
}

/// An entry by key or `#<ref>` (the handle `show map` prints: `#0x1f` or `#31`).
fn entry_id(key: &str) -> Option<u64> {
    let r = key.strip_prefix('#')?;
    match r.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => r.parse().ok(),
    }
}

fn list(fam: Family, args: &[String]) -> String {
    let (version, args) = versioned(args);
    match args.first() {
        None if version.is_some() => fam.unknown(),
        None => {
            let mut out = String::from("# id (file) description\n");
            for (id, r) in refs().into_iter().filter(|(_, r)| r.kind() == fam.kind()) {
                let (curr, next, count) = r.versions();
                let used = match fam {
                    Family::Map => "map",
                    Family::Acl => "acl",
                };
                out.push_str(&format!(
                    "{id} ({0}) pattern loaded from file '{0}' used by {used}. curr_ver={curr} next_ver={next} entry_cnt={count}\n",
                    r.name(),
                ));
            }
            out
        }
        Some(name) => match find(fam, name) {
            Ok(r) => version
                .map_or_else(|| r.entries().1, |v| r.entries_of(v))
                .iter()
                .map(|e| match &e.value {
                    Some(v) if fam == Family::Map => format!("0x{:x} {} {v}\n", e.id, e.key),
                    _ => format!("0x{:x} {}\n", e.id, e.key),
                })
                .collect(),
            Err(e) => e,
        },
    }
}

pub fn show_map(_: &mut Exec<'_>, args: &[String]) -> String {
    list(Family::Map, args)
}

pub fn show_acl(_: &mut Exec<'_>, args: &[String]) -> String {
    list(Family::Acl, args)
}

/// Adds an entry to the current version, or to `version`.
fn add_entry(fam: Family, r: &PatRef, version: Option<u32>, key: &str, value: Option<&str>) -> Result<(), String> {
    match version {
        Some(v) => r.add_at(v, key, value).map_err(|e| format!("{}\n", e.message(fam.prepare_word()))),
        None => {
            r.add(key, value);
            Ok(())
        }
    }
}

pub fn add_map(exec: &mut Exec<'_>, args: &[String]) -> String {
    const USAGE: &str = "'add map' expects three parameters (map identifier, key and value) or one parameter (map identifier) and a payload\n";
    let (version, args) = versioned(args);
    if let (Some(payload), Some(name)) = (exec.payload, args.first()) {
        // One `key value` a line; the value is the rest of the line.
        let r = match find(Family::Map, name) {
            Ok(r) => r,
            Err(e) => return e,
        };
        for line in payload.lines().map(str::trim).filter(|l| !l.is_empty()) {
            let Some((key, value)) = line.split_once([' ', '\t']) else { return format!("Missing value for key '{line}'.\n") };
            if let Err(e) = add_entry(Family::Map, &r, version, key, Some(value.trim_start())) {
                return e;
            }
        }
        return String::new();
    }
    if args.len() != 3 {
        return USAGE.into();
    }
    match find(Family::Map, &args[0]) {
        Ok(r) => add_entry(Family::Map, &r, version, &args[1], Some(&args[2])).err().unwrap_or_default(),
        Err(e) => e,
    }
}

pub fn add_acl(_: &mut Exec<'_>, args: &[String]) -> String {
    let (version, args) = versioned(args);
    if args.len() != 2 {
        return "'add acl' expects two parameters: ACL identifier and pattern.\n".into();
    }
    match find(Family::Acl, &args[0]) {
        Ok(r) if r.kind() == RefKind::Map => {
            "This ACL is shared with a map containing samples. You must use the command 'add map' to add values.\n".into()
        }
        Ok(r) => add_entry(Family::Acl, &r, version, &args[1], None).err().unwrap_or_default(),
        Err(e) => e,
    }
}

pub fn set_map(_: &mut Exec<'_>, args: &[String]) -> String {
    if args.len() != 3 {
        return "'set map' expects three parameters: map identifier, key and value.\n".into();
    }
    let r = match find(Family::Map, &args[0]) {
        Ok(r) => r,
        Err(e) => return e,
    };
    let done = match entry_id(&args[1]) {
        Some(id) => {
            let (_, entries) = r.entries();
            match entries.iter().find(|e| e.id == id) {
                // Setting by handle changes that one entry: rewrite it in place by key
                // only when the key is unique, else delete and re-add keeps the order
                // approximate; a unique key is the common case.
                Some(e) => r.set(&e.key, &args[2]),
                None => false,
            }
        }
        None => r.set(&args[1], &args[2]),
    };
    if done { String::new() } else { "entry not found.\n".into() }
}

fn delete(fam: Family, args: &[String]) -> String {
    if args.len() != 2 {
        return format!("This command expects two parameters: {} identifier and key.\n", fam.word());
    }
    let r = match find(fam, &args[0]) {
        Ok(r) => r,
        Err(e) => return e,
    };
    let done = match entry_id(&args[1]) {
        Some(id) => r.delete_id(id),
        None => r.delete(&args[1]),
    };
    if done { String::new() } else { "Key not found.\n".into() }
}

pub fn del_map(_: &mut Exec<'_>, args: &[String]) -> String {
    delete(Family::Map, args)
}

pub fn del_acl(_: &mut Exec<'_>, args: &[String]) -> String {
    delete(Family::Acl, args)
}

fn clear(fam: Family, args: &[String]) -> String {
    let (version, args) = versioned(args);
    let Some(name) = args.first() else { return format!("Missing {} identifier.\n", fam.word()) };
    match find(fam, name) {
        Ok(r) => {
            match version {
                Some(v) => r.clear_version(v),
                None => r.clear(),
            }
            String::new()
        }
        Err(e) => e,
    }
}

/// `prepare map|acl <ref>`: a new version to fill.
fn prepare(fam: Family, args: &[String]) -> String {
    match args.first().map(|name| find(fam, name)) {
        Some(Ok(r)) => format!("New version created: {}\n", r.prepare()),
        Some(Err(e)) => e,
        None => fam.unknown(),
    }
}

pub fn prepare_map(_: &mut Exec<'_>, args: &[String]) -> String {
    prepare(Family::Map, args)
}

pub fn prepare_acl(_: &mut Exec<'_>, args: &[String]) -> String {
    prepare(Family::Acl, args)
}

/// `commit map|acl @<ver> <ref>`: that version replaces the current one.
fn commit(fam: Family, args: &[String]) -> String {
    let (Some(version), args) = versioned(args) else { return "Missing version number.\n".into() };
    let r = match args.first().map(|name| find(fam, name)) {
        Some(Ok(r)) => r,
        Some(Err(e)) => return e,
        None => return fam.unknown(),
    };
    match r.commit(version) {
        Ok(()) => String::new(),
        Err(e) => format!("{}\n", e.message(fam.prepare_word())),
    }
}

pub fn commit_map(_: &mut Exec<'_>, args: &[String]) -> String {
    commit(Family::Map, args)
}

pub fn commit_acl(_: &mut Exec<'_>, args: &[String]) -> String {
    commit(Family::Acl, args)
}

pub fn clear_map(_: &mut Exec<'_>, args: &[String]) -> String {
    clear(Family::Map, args)
}

pub fn clear_acl(_: &mut Exec<'_>, args: &[String]) -> String {
    clear(Family::Acl, args)
}

/// `get map|acl <ref> <value>`: the first entry whose key is exactly `value` (the
/// `str` match; the file's own match method is not known to the store yet).
fn get(fam: Family, args: &[String]) -> String {
    if args.len() < 2 {
        return format!("Missing {} identifier and/or key.\n", fam.word());
    }
    let r = match find(fam, &args[0]) {
        Ok(r) => r,
        Err(e) => return e,
    };
    let (_, entries) = r.entries();
    let hit = entries.iter().find(|e| e.key == args[1]);
    match (fam, hit) {
        (Family::Map, Some(e)) => format!(
            "type=str, case=sensitive, found=yes, idx=tree, key=\"{}\", value=\"{}\", type=\"str\"\n",
            e.key,
            e.value.as_deref().unwrap_or("")
        ),
        (Family::Map, None) => "type=str, case=sensitive, found=no\n".into(),
        (Family::Acl, Some(e)) => format!("type=str, case=sensitive, match=yes, idx=tree, pattern=\"{}\"\n", e.key),
        (Family::Acl, None) => "type=str, case=sensitive, match=no\n".into(),
    }
}

pub fn get_map(_: &mut Exec<'_>, args: &[String]) -> String {
    get(Family::Map, args)
}

pub fn get_acl(_: &mut Exec<'_>, args: &[String]) -> String {
    get(Family::Acl, args)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_handles() {
        assert_eq!(entry_id("#0x1f"), Some(31));
        assert_eq!(entry_id("#31"), Some(31));
        assert_eq!(entry_id("key"), None);
    }
}
