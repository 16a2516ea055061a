//! The environment seen by the configuration: the process environment plus the
//! changes made while parsing (`setenv`, `presetenv`, `resetenv`, `unsetenv`, and
//! HAProxy's own `HAPROXY_*` variables).
//!
//! Parsing never touches the real process environment (tests parse in parallel
//! threads); [`Env::apply_to_process`] does it once, from the single-threaded
//! start-up path in `cli`.

use std::collections::BTreeMap;

#[derive(Clone, Debug, Default)]
pub struct Env {
    /// Variables set (`Some`) or removed (`None`) while parsing.
    overrides: BTreeMap<String, Option<String>>,
    /// `resetenv` was used: process variables not in `overrides` are gone.
    cleared: bool,
}

impl Env {
    pub fn new() -> Self {
        Env::default()
    }

    /// The current value of `name`.
    pub fn get(&self, name: &str) -> Option<String> {
        match self.overrides.get(name) {
            Some(v) => v.clone(),
            None if self.cleared => None,
            None => std::env::var(name).ok(),
        }
    }

    pub fn is_defined(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// `setenv name value`.
    pub fn set(&mut self, name: &str, value: &str) {
        self.overrides
            .insert(name.to_string(), Some(value.to_string()));
    }

    /// `presetenv name value`: only if not already defined.
    pub fn preset(&mut self, name: &str, value: &str) {
        if !self.is_defined(name) {
            self.set(name, value);
        }
    }

    /// `unsetenv name`.
    pub fn unset(&mut self, name: &str) {
        self.overrides.insert(name.to_string(), None);
    }

    /// `resetenv [name...]`: removes every variable except those named.
    pub fn reset(&mut self, keep: &[String]) {
        let kept: Vec<(String, Option<String>)> =
            keep.iter().map(|k| (k.clone(), self.get(k))).collect();
        self.overrides.clear();
        self.cleared = true;
        for (k, v) in kept {
            if v.is_some() {
                self.overrides.insert(k, v);
            }
        }
    }

    /// Makes the real process environment match this one. Call only while the
    /// process is single-threaded (start-up).
    pub fn apply_to_process(&self) {
        if self.cleared {
            for (k, _) in std::env::vars_os() {
                if let Some(k) = k.to_str() {
                    if !self.overrides.contains_key(k) {
                        std::env::remove_var(k);
                    }
                }
            }
        }
        for (k, v) in &self.overrides {
            match v {
                Some(v) => std::env::set_var(k, v),
                None => std::env::remove_var(k),
            }
        }
    }
}
