//! Variables: HAProxy's `set-var` store with its scopes.

use super::Sample;
use std::fmt;

/// A variable's scope, which fixes its lifetime: the process, the session (client
/// connection), the transaction (request and response), or one direction of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scope {
    Proc,
    Sess,
    Txn,
    Req,
    Res,
    Check,
}

impl Scope {
    pub fn parse(s: &str) -> Option<Scope> {
        Some(match s {
            "proc" => Scope::Proc,
            "sess" => Scope::Sess,
            "txn" => Scope::Txn,
            "req" => Scope::Req,
            "res" => Scope::Res,
            "check" => Scope::Check,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Scope::Proc => "proc",
            Scope::Sess => "sess",
            Scope::Txn => "txn",
            Scope::Req => "req",
            Scope::Res => "res",
            Scope::Check => "check",
        }
    }
}

/// `scope.name`, checked once at compile time.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct VarName {
    pub scope: Scope,
    pub name: String,
}

impl VarName {
    /// Parses `scope.name`; the name is letters, digits, `_` and `.` as HAProxy requires.
    pub fn parse(s: &str) -> Option<VarName> {
        let (scope, name) = s.split_once('.')?;
        let scope = Scope::parse(scope)?;
        if name.is_empty()
            || !name
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'.')
        {
            return None;
        }
        Some(VarName {
            scope,
            name: name.to_string(),
        })
    }
}

impl fmt::Display for VarName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.scope.name(), self.name)
    }
}

/// A variable store. A stream would hold one for `sess`/`txn`/`req`/`res` and share a
/// process-wide one for `proc`; this type holds any mix, and [`Vars::clear`] ends a
/// scope (e.g. `txn` at the end of a transaction).
///
/// A list searched from the front, as HAProxy 2.6 keeps its variables: a store holds a
/// handful, where comparing names beats hashing them, and an empty store (every idle
/// kept-alive connection's `sess` scope) is three words with no allocation.
#[derive(Clone, Debug, Default)]
pub struct Vars {
    entries: Vec<Var>,
}

#[derive(Clone, Debug)]
struct Var {
    scope: Scope,
    name: Box<str>,
    value: Sample,
}

impl Vars {
    pub fn new() -> Vars {
        Vars::default()
    }

    fn position(&self, v: &VarName) -> Option<usize> {
        self.entries.iter().position(|e| e.scope == v.scope && *e.name == *v.name)
    }

    pub fn get(&self, v: &VarName) -> Option<&Sample> {
        self.position(v).map(|i| &self.entries[i].value)
    }

    pub fn set(&mut self, v: &VarName, value: Sample) {
        match self.position(v) {
            Some(i) => self.entries[i].value = value,
            None => self.entries.push(Var { scope: v.scope, name: v.name.as_str().into(), value }),
        }
    }

    pub fn unset(&mut self, v: &VarName) -> Option<Sample> {
        self.position(v).map(|i| self.entries.swap_remove(i).value)
    }

    /// Drops every variable of `scope`.
    pub fn clear(&mut self, scope: Scope) {
        self.entries.retain(|e| e.scope != scope);
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

thread_local! {
    /// The `proc` scope: one store for the process (moonproxy runs one thread per
    /// process, so a thread-local store is the process's).
    static PROC_VARS: std::cell::RefCell<Vars> = std::cell::RefCell::new(Vars::new());
}

/// Runs `f` on the process-wide `proc.*` variables.
pub fn with_proc_vars<R>(f: impl FnOnce(&mut Vars) -> R) -> R {
    PROC_VARS.with(|v| f(&mut v.borrow_mut()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_need_a_known_scope_and_a_name() {
        assert_eq!(VarName::parse("txn.a").unwrap().to_string(), "txn.a");
        assert_eq!(VarName::parse("sess.a.b").unwrap().name, "a.b");
        for bad in ["foo", "x.y", "txn.", "txn", "txn.a-b"] {
            assert!(VarName::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn scopes_are_separate_and_clear_drops_one() {
        let mut v = Vars::new();
        let t = VarName::parse("txn.a").unwrap();
        let s = VarName::parse("sess.a").unwrap();
        v.set(&t, Sample::Sint(1));
        v.set(&s, Sample::Sint(2));
        assert_eq!(v.get(&t), Some(&Sample::Sint(1)));
        v.clear(Scope::Txn);
        assert_eq!(v.get(&t), None);
        assert_eq!(v.get(&s), Some(&Sample::Sint(2)));
        assert_eq!(v.unset(&s), Some(Sample::Sint(2)));
        assert!(v.is_empty());
    }

    #[test]
    fn set_replaces_and_unset_keeps_the_others() {
        let mut v = Vars::new();
        let names: Vec<VarName> = ["txn.a", "txn.b", "req.a", "txn.c"].iter().map(|n| VarName::parse(n).unwrap()).collect();
        for (i, n) in names.iter().enumerate() {
            v.set(n, Sample::Sint(i as i64));
        }
        v.set(&names[1], Sample::Sint(10));
        assert_eq!(v.len(), 4, "setting again replaces");
        assert_eq!(v.unset(&names[0]), Some(Sample::Sint(0)));
        assert_eq!(v.unset(&names[0]), None);
        assert_eq!(v.get(&names[1]), Some(&Sample::Sint(10)));
        assert_eq!(v.get(&names[2]), Some(&Sample::Sint(2)), "req.a is not txn.a");
        assert_eq!(v.get(&names[3]), Some(&Sample::Sint(3)));
        assert_eq!(v.len(), 3);
    }
}
