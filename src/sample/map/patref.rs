//! The process-wide store of pattern references (HAProxy's `pat_ref`): the entries of
//! every pattern file, by the file name written in the configuration, shared by every
//! user of that file.
//!
//! A file is read once, at its first use ([`Store::load_map`] for the `map*` converters
//! and Lua's `Map.new`, [`Store::load_acl`] for ACL pattern files); later users get the
//! same [`PatRef`]. Changes made at run time (Lua's `core.set_map` / `del_map` /
//! `add_acl` / `del_acl`, later the CLI's `add map`, `set map`, `del map`, `clear map`)
//! edit the reference's entries and bump its generation: each compiled view
//! ([`super::MapFile`]) recompiles its matcher when it sees a new generation, so the
//! running rules see the change at their next lookup. Entries are kept in file order,
//! new ones appended, as HAProxy keeps them (the first matching key wins).
//!
//! Versions (the CLI's `prepare`, `add @<ver>`, `commit`): every entry belongs to a
//! version, the file's to 0. Lookups and [`PatRef::entries`] see the current version
//! only; `prepare` opens the next one, entries are added to it unseen, and `commit`
//! makes it current and drops the older versions' entries in one step (the atomic
//! replacement of a whole file). Version numbers compare with wrapping arithmetic,
//! as HAProxy's do.
//!
//! The process runs one reactor thread today; the store is behind a mutex anyway, so
//! the compiled views can sit in `Send + Sync` sample arguments.

use crate::sample::matching::{Matcher, Method};
use crate::sample::{Sample, SampleType};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

/// How a file's lines were read: `key value` pairs (maps), or one pattern a line (ACLs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RefKind {
    Map,
    Acl,
}

/// One line of a pattern file (or one added at run time).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// A stable id for the CLI (HAProxy shows an entry's address; `del map #<id>`).
    pub id: u64,
    pub key: String,
    /// The value, for maps (`None` for ACL patterns).
    pub value: Option<String>,
    /// The version it belongs to.
    pub version: u32,
}

/// The entries of one pattern file.
#[derive(Debug)]
pub struct PatRef {
    name: String,
    kind: RefKind,
    state: Mutex<RefState>,
}

#[derive(Debug, Default)]
struct RefState {
    entries: Vec<Entry>,
    generation: u64,
    next_id: u64,
    /// The version lookups see.
    curr_ver: u32,
    /// The last version `prepare` opened (`curr_ver` when none is open).
    next_ver: u32,
}

impl RefState {
    fn push(&mut self, key: &str, value: Option<&str>) {
        let version = self.curr_ver;
        self.push_at(version, key, value);
    }

    fn push_at(&mut self, version: u32, key: &str, value: Option<&str>) {
        self.next_id += 1;
        self.entries.push(Entry { id: self.next_id, key: key.to_string(), value: value.map(str::to_string), version });
    }
}

/// Why a versioned change is refused (HAProxy's words in [`VersionError::message`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VersionError {
    /// `add @<ver>` beyond the last version prepared.
    Future,
    /// `commit @<ver>` of a version not prepared, or already current.
    OutOfRange,
}

impl VersionError {
    pub fn message(self, family: &str) -> String {
        match self {
            VersionError::Future => format!("Version number in the future, please use 'prepare {family}' before."),
            VersionError::OutOfRange => "Version number out of range.".into(),
        }
    }
}

impl PatRef {
    fn new(name: &str, kind: RefKind) -> PatRef {
        PatRef { name: name.to_string(), kind, state: Mutex::new(RefState::default()) }
    }

    fn lock(&self) -> MutexGuard<'_, RefState> {
        // A panic while holding the lock leaves consistent data (every change is one
        // push or retain): recover it.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The file name, as written in the configuration.
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn kind(&self) -> RefKind {
        self.kind
    }

    /// Bumped by every change: compiled views recompile when it moves.
    pub fn generation(&self) -> u64 {
        self.lock().generation
    }

    /// A copy of the current version's entries, in order (what lookups see, `show
    /// map`), with the current generation.
    pub fn entries(&self) -> (u64, Vec<Entry>) {
        let s = self.lock();
        (s.generation, s.entries.iter().filter(|e| e.version == s.curr_ver).cloned().collect())
    }

    /// The entries of version `version` (`show map @<ver>`).
    pub fn entries_of(&self, version: u32) -> Vec<Entry> {
        self.lock().entries.iter().filter(|e| e.version == version).cloned().collect()
    }

    /// The current and the last prepared versions, and the entries of every version
    /// (`show map`'s `curr_ver`, `next_ver`, `entry_cnt`).
    pub fn versions(&self) -> (u32, u32, usize) {
        let s = self.lock();
        (s.curr_ver, s.next_ver, s.entries.len())
    }

    /// `prepare map|acl`: opens a new version, empty, and returns its number.
    pub fn prepare(&self) -> u32 {
        let mut s = self.lock();
        s.next_ver = s.next_ver.wrapping_add(1);
        s.next_ver
    }

    /// `add map|acl @<ver>`: appends an entry to version `version`, the current one or
    /// one prepared.
    pub fn add_at(&self, version: u32, key: &str, value: Option<&str>) -> Result<(), VersionError> {
        let mut s = self.lock();
        if version.wrapping_sub(s.curr_ver) > s.next_ver.wrapping_sub(s.curr_ver) {
            return Err(VersionError::Future);
        }
        s.push_at(version, key, value);
        if version == s.curr_ver {
            s.generation += 1;
        }
        Ok(())
    }

    /// `commit map|acl @<ver>`: version `version` (prepared, after the current one)
    /// becomes current; the entries of the versions before it go.
    pub fn commit(&self, version: u32) -> Result<(), VersionError> {
        let mut s = self.lock();
        let ahead = version.wrapping_sub(s.curr_ver);
        if ahead == 0 || ahead > s.next_ver.wrapping_sub(s.curr_ver) {
            return Err(VersionError::OutOfRange);
        }
        s.curr_ver = version;
        // Older: before `version` in wrapping order (later prepared versions stay).
        s.entries.retain(|e| (version.wrapping_sub(e.version) as i32) <= 0);
        s.generation += 1;
        Ok(())
    }

    /// `clear map|acl @<ver>`: removes the entries of version `version`.
    pub fn clear_version(&self, version: u32) {
        let mut s = self.lock();
        s.entries.retain(|e| e.version != version);
        if version == s.curr_ver {
            s.generation += 1;
        }
    }

    /// Appends an entry (`add map`, `add acl`, `core.add_acl`).
    pub fn add(&self, key: &str, value: Option<&str>) {
        let mut s = self.lock();
        s.push(key, value);
        s.generation += 1;
    }

    /// Sets the value of every entry whose key is `key` (`set map`), in every version as
    /// HAProxy 2.6 does; `false` when there is none.
    pub fn set(&self, key: &str, value: &str) -> bool {
        let mut s = self.lock();
        let mut found = false;
        for e in s.entries.iter_mut().filter(|e| e.key == key) {
            e.value = Some(value.to_string());
            found = true;
        }
        if found {
            s.generation += 1;
        }
        found
    }

    /// `core.set_map`: sets the value of the entries with this key, or appends one.
    pub fn set_or_add(&self, key: &str, value: &str) {
        if !self.set(key, value) {
            self.add(key, Some(value));
        }
    }

    /// `add-acl`: appends a pattern unless an entry of the current version has it.
    pub fn add_unless_present(&self, key: &str) {
        let mut s = self.lock();
        let curr = s.curr_ver;
        if !s.entries.iter().any(|e| e.version == curr && e.key == key) {
            s.push(key, None);
            s.generation += 1;
        }
    }

    /// Removes every entry whose key is `key` (`del map`, `core.del_map`, `core.del_acl`),
    /// in every version as HAProxy 2.6 does; `false` when there was none.
    pub fn delete(&self, key: &str) -> bool {
        let mut s = self.lock();
        let before = s.entries.len();
        s.entries.retain(|e| e.key != key);
        let removed = s.entries.len() != before;
        if removed {
            s.generation += 1;
        }
        removed
    }

    /// Removes the entry with this id (`del map #<id>`); `false` when there is none.
    pub fn delete_id(&self, id: u64) -> bool {
        let mut s = self.lock();
        let before = s.entries.len();
        s.entries.retain(|e| e.id != id);
        let removed = s.entries.len() != before;
        if removed {
            s.generation += 1;
        }
        removed
    }

    /// Removes every entry of the current version (`clear map`).
    pub fn clear(&self) {
        let version = self.lock().curr_ver;
        self.clear_version(version);
    }
}

/// Every pattern reference of the process, by file name.
#[derive(Debug, Default)]
pub struct Store {
    refs: Mutex<HashMap<String, Arc<PatRef>>>,
}

/// The store of this process.
pub fn store() -> &'static Store {
    static STORE: OnceLock<Store> = OnceLock::new();
    STORE.get_or_init(Store::default)
}

impl Store {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, Arc<PatRef>>> {
        self.refs.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The reference of file `name`, if something loaded it.
    pub fn get(&self, name: &str) -> Option<Arc<PatRef>> {
        self.lock().get(name).cloned()
    }

    /// Every reference, sorted by name (`show map`, `show acl`).
    pub fn list(&self) -> Vec<Arc<PatRef>> {
        let mut v: Vec<_> = self.lock().values().cloned().collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v
    }

    /// The reference of map file `path`, read now if nobody has yet. Lines are
    /// `key value` (the value is the rest of the line, blanks around it removed); `#`
    /// comments and blank lines are skipped.
    pub fn load_map(&self, path: &str) -> Result<Arc<PatRef>, String> {
        self.load(path, RefKind::Map)
    }

    /// The reference of ACL pattern file `path`: one pattern a line, leading blanks
    /// removed.
    pub fn load_acl(&self, path: &str) -> Result<Arc<PatRef>, String> {
        self.load(path, RefKind::Acl)
    }

    fn load(&self, path: &str, kind: RefKind) -> Result<Arc<PatRef>, String> {
        if let Some(r) = self.get(path) {
            return Ok(r);
        }
        let text = std::fs::read(path).map_err(|_| format!("failed to open pattern file <{path}>"))?;
        let r = PatRef::new(path, kind);
        {
            let mut s = r.lock();
            for line in text.split(|&b| b == b'\n') {
                let line = String::from_utf8_lossy(line);
                let line = line.trim_end_matches('\r').trim_start_matches([' ', '\t']);
                if line.is_empty() || line.starts_with('#') {
                    continue;
                }
                match kind {
                    RefKind::Map => {
                        let line = line.trim_end_matches([' ', '\t']);
                        let (key, value) = line.split_once([' ', '\t']).unwrap_or((line, ""));
                        s.push(key, Some(value.trim_matches([' ', '\t'])));
                    }
                    RefKind::Acl => s.push(line, None),
                }
            }
        }
        // Another loader may have raced us between get and insert (not on one thread,
        // but keep the first one either way).
        Ok(self.lock().entry(path.to_string()).or_insert_with(|| Arc::new(r)).clone())
    }
}

/// The patterns of an ACL's `-f` files as the ACL matches them: the shared entries
/// (edited at run time by `core.add_acl`, `del_acl`, the CLI's `add acl`...) compiled
/// with the ACL's method and flags, recompiled when they change. The ACL's own
/// patterns (written on its line) stay in its own matcher; a sample matches the ACL
/// when it matches either.
#[derive(Debug)]
pub struct AclFiles {
    refs: Vec<Arc<PatRef>>,
    keyword: String,
    fetch_type: SampleType,
    method: Method,
    icase: bool,
    /// `-M`: the files are maps, the patterns are their keys.
    keys_only: bool,
    compiled: Mutex<(Vec<u64>, Matcher)>,
}

impl AclFiles {
    /// Loads `files` through the store (as ACL files, or as maps with `-M`) and checks
    /// every pattern as `acl` does, naming the file and line of a bad one.
    pub fn load(
        files: &[String],
        keyword: &str,
        fetch_type: SampleType,
        method: Method,
        icase: bool,
        keys_only: bool,
    ) -> Result<AclFiles, String> {
        let mut refs = Vec::with_capacity(files.len());
        for f in files {
            let r = if keys_only { store().load_map(f)? } else { store().load_acl(f)? };
            for e in &r.entries().1 {
                Matcher::compile(keyword, fetch_type, method, icase, &[acl_pattern(e, keys_only)])
                    .map_err(|err| format!("{err} at line {} of file '{f}'", super::line_of(f, e.id)))?;
            }
            refs.push(r);
        }
        let (generations, matcher) = compile_acl(&refs, keyword, fetch_type, method, icase, keys_only);
        Ok(AclFiles {
            refs,
            keyword: keyword.to_string(),
            fetch_type,
            method,
            icase,
            keys_only,
            compiled: Mutex::new((generations, matcher)),
        })
    }

    /// Whether `sample` matches one of the files' patterns, as they are now.
    pub fn matches(&self, sample: Option<Sample>) -> bool {
        let mut c = self.compiled.lock().unwrap_or_else(|e| e.into_inner());
        if self.refs.iter().zip(&c.0).any(|(r, g)| r.generation() != *g) {
            *c = compile_acl(&self.refs, &self.keyword, self.fetch_type, self.method, self.icase, self.keys_only);
        }
        c.1.matches(sample)
    }

    /// The files' references (`show acl`).
    pub fn refs(&self) -> &[Arc<PatRef>] {
        &self.refs
    }
}

fn acl_pattern(e: &Entry, keys_only: bool) -> &str {
    if keys_only {
        e.key.split([' ', '\t']).next().unwrap_or(&e.key)
    } else {
        &e.key
    }
}

/// Compiles the entries of every file; a pattern that does not compile (one added at
/// run time) is left out.
fn compile_acl(
    refs: &[Arc<PatRef>],
    keyword: &str,
    fetch_type: SampleType,
    method: Method,
    icase: bool,
    keys_only: bool,
) -> (Vec<u64>, Matcher) {
    let mut generations = Vec::with_capacity(refs.len());
    let mut entries = Vec::new();
    for r in refs {
        let (g, e) = r.entries();
        generations.push(g);
        entries.extend(e);
    }
    let patterns: Vec<&str> = entries
        .iter()
        .map(|e| acl_pattern(e, keys_only))
        .filter(|p| Matcher::compile(keyword, fetch_type, method, icase, &[p]).is_ok())
        .collect();
    let matcher = Matcher::compile(keyword, fetch_type, method, icase, &patterns)
        .or_else(|_| Matcher::compile(keyword, fetch_type, method, icase, &[]))
        .expect("an empty pattern list compiles for a method the ACL accepted");
    (generations, matcher)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_is_read_once_and_shared_and_changes_bump_the_generation() {
        let dir = std::env::temp_dir().join(format!("mp-patref-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("x.map");
        std::fs::write(&f, "  k1  v 1 \n# c\n\nk2\tv2\nk1 again\n").unwrap();
        let name = f.display().to_string();
        let a = store().load_map(&name).unwrap();
        std::fs::write(&f, "changed on disk\n").unwrap();
        let b = store().load_map(&name).unwrap();
        assert!(Arc::ptr_eq(&a, &b), "the second user shares the first reading");
        let keys = |r: &PatRef| r.entries().1.into_iter().map(|e| (e.key, e.value.unwrap())).collect::<Vec<_>>();
        assert_eq!(keys(&a), [("k1".into(), "v 1".into()), ("k2".into(), "v2".into()), ("k1".into(), "again".into())]);
        let g = a.generation();
        a.set_or_add("k1", "new");
        assert_eq!(keys(&a)[0].1, "new");
        assert_eq!(keys(&a)[2].1, "new", "set changes every entry with the key");
        a.set_or_add("k3", "v3");
        assert_eq!(keys(&a).last().unwrap(), &("k3".to_string(), "v3".to_string()));
        assert!(a.delete("k1"));
        assert!(!a.delete("k1"));
        assert_eq!(keys(&a), [("k2".into(), "v2".into()), ("k3".into(), "v3".into())]);
        assert!(a.generation() > g);
        let id = a.entries().1[0].id;
        assert!(a.delete_id(id));
        a.clear();
        assert!(a.entries().1.is_empty());
        assert!(store().load_map("/nonexistent/y.map").unwrap_err().contains("failed to open pattern file"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn versions_replace_the_entries_at_commit() {
        let r = PatRef::new("v.map", RefKind::Map);
        r.add("k", Some("old"));
        assert_eq!(r.add_at(1, "x", Some("1")), Err(VersionError::Future));
        assert_eq!(r.prepare(), 1);
        assert_eq!(r.prepare(), 2);
        r.add_at(1, "k", Some("new")).unwrap();
        r.add_at(2, "k", Some("later")).unwrap();
        assert_eq!(r.entries().1.len(), 1, "the prepared versions are not seen");
        assert_eq!(r.versions(), (0, 2, 3));
        assert_eq!(r.commit(0), Err(VersionError::OutOfRange));
        assert_eq!(r.commit(3), Err(VersionError::OutOfRange));
        let g = r.generation();
        r.commit(1).unwrap();
        assert!(r.generation() > g);
        assert_eq!(r.entries().1[0].value.as_deref(), Some("new"));
        assert_eq!(r.versions(), (1, 2, 2), "version 0 is gone, 2 stays");
        r.clear_version(2);
        assert_eq!(r.versions(), (1, 2, 1));
        assert_eq!(r.commit(1), Err(VersionError::OutOfRange));
    }

    #[test]
    fn an_acl_sees_patterns_added_and_removed_at_run_time() {
        let dir = std::env::temp_dir().join(format!("mp-patref-acl-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("bad.acl");
        std::fs::write(&f, "# first\n/admin\n  /private\n").unwrap();
        let name = f.display().to_string();
        let acl = AclFiles::load(std::slice::from_ref(&name), "path", SampleType::Str, Method::Beg, false, false).unwrap();
        let hit = |p: &str| acl.matches(Some(Sample::str(p)));
        assert!(hit("/admin/x") && hit("/private") && !hit("/public"));
        let r = store().get(&name).unwrap();
        r.add("/public", None);
        assert!(hit("/public/x"), "an added pattern matches at once");
        r.delete("/admin");
        assert!(!hit("/admin/x"), "a removed one no longer does");
        // "/admin" was deleted: the first entry left is "/private", on line 3.
        let err = AclFiles::load(&[name], "src", SampleType::Addr, Method::Ip, false, false).unwrap_err();
        assert!(err.ends_with(&format!("is not a valid IPv4 or IPv6 address at line 3 of file '{}'", f.display())), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
