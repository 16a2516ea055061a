//! `stick on|match|store-request|store-response`: server persistence through a table
//! storing `server_id`.
//!
//! When the stream chooses a server (after `use-server` and the persistence cookie, as
//! HAProxy orders its analysers), [`StickRules::on_request`] runs the rules in order:
//! the first `match`/`on` rule whose key is in its table designates the server (by its
//! numeric id), and every `on`/`store-request` rule whose condition holds leaves its
//! key to be stored. Once the stream connects to a server, [`store_pending`] writes that
//! server's id into each key's entry. `store-response` rules run on the response head
//! ([`StickRules::on_response`]) and store at once. HAProxy keeps at most 8 keys per
//! stream, one per table.

use super::session;
use super::table::Key;
use super::Table;
use crate::config::model::{StickRuleConf, StickRuleKind};
use crate::sample::{Expr, SampleCtx};
use crate::stream::acl::{AclSet, CompiledCond};
use std::sync::Arc;

/// Keys a stream stores at most.
const MAX_STORES: usize = 8;

#[derive(Debug)]
struct StickRule {
    kind: StickRuleKind,
    expr: Expr,
    table: String,
    cond: Option<CompiledCond>,
}

/// A backend's compiled `stick` rules.
#[derive(Debug)]
pub struct StickRules {
    rules: Vec<StickRule>,
}

impl StickRules {
    /// Compiles the rules of a proxy; `None` when it has none. Errors are alert texts.
    pub fn compile(confs: &[StickRuleConf], acls: &AclSet) -> Result<Option<Box<StickRules>>, Vec<String>> {
        let mut rules = Vec::new();
        let mut errors = Vec::new();
        for c in confs {
            let expr = match Expr::parse(&c.expr) {
                Ok(e) => e,
                Err(e) => {
                    errors.push(format!("parsing [{}] : 'stick': {e}.", c.location));
                    continue;
                }
            };
            let cond = match c.cond.as_ref().map(|cond| CompiledCond::compile(cond, acls)).transpose() {
                Ok(c) => c,
                Err(e) => {
                    errors.push(e);
                    continue;
                }
            };
            rules.push(StickRule { kind: c.kind, expr, table: c.table.clone(), cond });
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok((!rules.is_empty()).then(|| Box::new(StickRules { rules })))
    }

    /// Runs the request-side rules: the server a `match`/`on` rule found (when
    /// `may_match`), and the keys to store once connected.
    pub fn on_request(&self, acls: &AclSet, cx: &dyn SampleCtx, may_match: bool) -> Option<Stuck> {
        let mut found = None;
        for r in &self.rules {
            let matching = matches!(r.kind, StickRuleKind::On | StickRuleKind::Match);
            let storing = matches!(r.kind, StickRuleKind::On | StickRuleKind::StoreRequest);
            if !storing && (found.is_some() || !may_match) {
                continue;
            }
            if !r.cond.as_ref().is_none_or(|c| c.eval(acls, cx)) {
                continue;
            }
            let Some(t) = super::table(&r.table) else { continue };
            let Some(key) = r.expr.eval(cx).and_then(|s| t.def.key_of(s)) else { continue };
            if matching && may_match && found.is_none() {
                found = stuck(&t, &key);
            }
            if storing {
                session::add_store(&t, key, MAX_STORES);
            }
        }
        found
    }

    /// Runs the `store-response` rules on the response head and stores their keys
    /// with the server (`puid` and name).
    pub fn on_response(&self, acls: &AclSet, cx: &dyn SampleCtx, server: (u32, &str)) {
        for r in self.rules.iter().filter(|r| r.kind == StickRuleKind::StoreResponse) {
            if !r.cond.as_ref().is_none_or(|c| c.eval(acls, cx)) {
                continue;
            }
            let Some(t) = super::table(&r.table) else { continue };
            if let Some(key) = r.expr.eval(cx).and_then(|s| t.def.key_of(s)) {
                store(&t, &key, server);
            }
        }
    }
}

/// The server an entry designates: by name (`server_key`) when it has one, which
/// HAProxy 2.6 tries first, else by numeric id (`server_id`, 0: none).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stuck {
    pub name: String,
    pub id: u32,
}

fn stuck(t: &Table, key: &Key) -> Option<Stuck> {
    let now = super::now_ms();
    let l = t.lock(now);
    let e = l.get(key)?;
    let id = e.read(&t.def, super::data::DataType::ServerId, now).and_then(|id| u32::try_from(id).ok()).unwrap_or(0);
    let name = match e.value(&t.def, super::data::DataType::ServerKey) {
        Some(super::data::Value::Str(n)) => n.clone(),
        _ => String::new(),
    };
    (id > 0 || !name.is_empty()).then_some(Stuck { name, id })
}

fn store(t: &Arc<Table>, key: &Key, (puid, name): (u32, &str)) {
    let now = super::now_ms();
    let mut l = t.lock(now);
    if let Some(e) = l.get_or_create(key, now) {
        e.set(&t.def, super::data::DataType::ServerId, i64::from(puid), now);
        e.set_str(&t.def, super::data::DataType::ServerKey, name);
        l.touch(key, now);
    }
}

/// The stream connects to the server (`puid` and name): the keys its request rules
/// left are stored.
pub fn store_pending(server: (u32, &str)) {
    for (t, key) in session::take_stores() {
        store(&t, &key, server);
    }
}
