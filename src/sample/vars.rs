//! Variables: HAProxy's `set-var` store with its scopes.

use super::Sample;
use std::collections::HashMap;
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
#[derive(Clone, Debug, Default)]
pub struct Vars {
    map: HashMap<(Scope, String), Sample>,
}

impl Vars {
    pub fn new() -> Vars {
        Vars::default()
    }

    pub fn get(&self, v: &VarName) -> Option<&Sample> {
        self.map.get(&(v.scope, v.name.clone()))
    }

    pub fn set(&mut self, v: &VarName, value: Sample) {
        self.map.insert((v.scope, v.name.clone()), value);
    }

    pub fn unset(&mut self, v: &VarName) -> Option<Sample> {
        self.map.remove(&(v.scope, v.name.clone()))
    }

    /// Drops every variable of `scope`.
    pub fn clear(&mut self, scope: Scope) {
        self.map.retain(|(s, _), _| *s != scope);
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
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
}
