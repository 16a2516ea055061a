//! `stick-table` and `stick on|match|store-request|store-response` (src/stick/), with
//! HAProxy 2.6's messages.

use super::{Line, Parser};
use crate::config::diagnostic::Diagnostic;
use crate::diag::Severity;
use crate::config::model::{Config, StickRuleConf, StickRuleKind};
use crate::stick::data::{parse_store_item, DataType, Stored};
use crate::stick::{KeyType, TableDef};

/// HAProxy's `unexpected character 'x' in argument of '<kw>'`.
fn bad_char(v: &str, kw: &str) -> String {
    match v.chars().find(|c| !c.is_ascii_digit()) {
        Some(c) => format!("stick-table: unexpected character '{c}' in argument of '{kw}'."),
        None => format!("stick-table: missing argument for '{kw}'."),
    }
}

/// `stick-table type <type> [len <n>] size <n> [expire <t>] [nopurge] [peers <p>]
/// [store <list>]*` (frontends, backends, listen). The table is named after the proxy.
pub fn stick_table(p: &mut Parser, l: &Line) -> Result<(), String> {
    let name = p.draft().proxy.name.clone();
    let def = parse_def(p, l, &name)?;
    if p.draft().proxy.stick_table.is_some() {
        let desc = p.draft().describe();
        let at = p.draft().proxy.location.as_ref().map(|l| l.to_string()).unwrap_or_default();
        return Err(format!("stick-table name '{name}' conflicts with table declared in {desc} at {at}."));
    }
    p.draft().proxy.stick_table = Some(def);
    Ok(())
}

/// The words after `stick-table` (or a `peers` section's `table <name>`).
pub fn parse_def(p: &mut Parser, l: &Line, name: &str) -> Result<TableDef, String> {
    let mut def = TableDef {
        name: name.to_string(),
        key: KeyType::Ip,
        key_len: 4,
        size: 0,
        expire: None,
        nopurge: false,
        peers: None,
        store: Vec::new(),
        location: Some(l.loc.clone()),
    };
    let mut typed = false;
    let mut store: Vec<Stored> = Vec::new();
    let args = &l.args;
    let mut i = 1;
    while i < args.len() {
        let kw = args[i].as_str();
        let val = args.get(i + 1).map_or("", String::as_str);
        match kw {
            "type" => {
                let (key, len) = match val {
                    "ip" | "ipv4" => (KeyType::Ip, 4),
                    "ipv6" => (KeyType::Ipv6, 16),
                    "integer" => (KeyType::Integer, 4),
                    "string" => (KeyType::String, 32),
                    "binary" => (KeyType::Binary, 32),
                    _ => return Err(format!("stick-table: unknown type '{val}'.")),
                };
                def.key = key;
                def.key_len = len;
                typed = true;
                i += 2;
                // `len <n>` right after a string or binary type.
                if matches!(key, KeyType::String | KeyType::Binary) && args.get(i).map(String::as_str) == Some("len") {
                    let v = args.get(i + 1).map_or("", String::as_str);
                    match v.parse::<usize>() {
                        Ok(n) if n > 0 => def.key_len = n,
                        _ => return Err(format!("stick-table: unknown type '{v}'.")),
                    }
                    i += 2;
                }
                continue;
            }
            "size" => {
                def.size = crate::config::units::parse_size(val).map_err(|_| bad_char(val, "size"))? as usize;
            }
            "expire" => {
                let d = crate::config::units::parse_time(val).map_err(|_| bad_char(val, "expire"))?;
                def.expire = Some(d.as_millis() as u64);
            }
            "peers" => {
                if val.is_empty() {
                    return Err("stick-table: missing argument after 'peers'.".into());
                }
                def.peers = Some(val.to_string());
            }
            "nopurge" => {
                def.nopurge = true;
                i += 1;
                continue;
            }
            "store" => {
                for item in split_store(val).into_iter().filter(|s| !s.is_empty()) {
                    let s = parse_store_item(item).map_err(|e| format!("stick-table: {e}"))?;
                    if store.iter().any(|x| x.ty == s.ty) {
                        p.warn(&l.loc, format!("stick-table: store option '{}' already enabled, ignored.", s.ty.name()));
                        continue;
                    }
                    store.push(s);
                }
            }
            "srvkey" | "write-to" | "recv-only" => {
                return Err(format!("stick-table: '{kw}' is not supported by moonproxy yet."));
            }
            _ => return Err(format!("stick-table: unknown argument '{kw}'.")),
        }
        i += 2;
    }
    if def.size == 0 {
        return Err("stick-table: missing size.".into());
    }
    if !typed {
        return Err("stick-table: missing type.".into());
    }
    crate::stick::data::check_store(&store).map_err(|e| format!("stick-table: {e}"))?;
    store.sort_by_key(|s| s.ty);
    def.store = store;
    Ok(def)
}

/// A `store` list split on the commas outside parentheses (`gpc_rate(2,10s)` is one).
fn split_store(list: &str) -> Vec<&str> {
    let (mut out, mut depth, mut start) = (Vec::new(), 0usize, 0);
    for (i, c) in list.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                out.push(&list[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&list[start..]);
    out
}

/// `stick on|match|store-request|store-response <pattern> [table <t>] [if|unless <cond>]`
/// (backends and listen).
pub fn stick(p: &mut Parser, l: &Line) -> Result<(), String> {
    let kind = match l.arg(1) {
        "on" => StickRuleKind::On,
        "match" => StickRuleKind::Match,
        "store-request" => StickRuleKind::StoreRequest,
        "store-response" => StickRuleKind::StoreResponse,
        _ => return Err("'stick' expects 'on', 'match', or 'store'.".into()),
    };
    let expr = l.arg(2);
    if expr.is_empty() {
        return Err("'stick' expects a fetch method.".into());
    }
    crate::sample::Expr::parse(expr).map_err(|e| format!("'stick': {e}."))?;
    let mut table = p.draft().proxy.name.clone();
    let mut i = 3;
    if l.arg(i) == "table" {
        if l.arg(i + 1).is_empty() {
            return Err("'stick' : missing table name.".into());
        }
        table = l.arg(i + 1).to_string();
        i += 2;
    }
    let cond = match l.arg(i) {
        "" => None,
        w @ ("if" | "unless") => {
            let acls = p.draft().proxy.acls.clone();
            let c = super::acl::parse_condition(w == "unless", &l.args[i + 1..], &acls, &l.loc)
                .map_err(|e| format!("'stick': error detected while parsing sticking condition : {e}."))?;
            Some(c)
        }
        w => return Err(format!("'stick' : unexpected keyword '{w}'.")),
    };
    p.draft().proxy.stick_rules.push(StickRuleConf { kind, expr: expr.to_string(), table, cond, location: l.loc.clone() });
    Ok(())
}

/// `peers <name>`: a section of peers sharing stick tables (`crate::peers`), whose
/// `table` lines declare tables named `<name>/<table>`.
pub fn start_peers(p: &mut Parser, l: &Line) -> String {
    let name = l.arg(1).to_string();
    if name.is_empty() {
        p.alert(&l.loc, "missing name for peers section.");
    } else if let Some(other) = p.config.peers.iter().find(|s| s.name == name) {
        let at = other.location.as_ref().map(|l| l.to_string()).unwrap_or_default();
        p.alert_directive(&l.loc, format!("peers section '{name}' has the same name as another peers section declared at {at}."));
    }
    p.config.peers_sections.push(name.clone());
    p.config.peers.push(crate::peers::config::Section::new(&name, l.loc.clone()));
    name
}

/// One line of a `peers` section.
pub fn peers_line(p: &mut Parser, peers: &str, l: &Line) {
    match l.arg(0) {
        "table" => {
            let tname = l.arg(1);
            if tname.is_empty() {
                return p.alert(&l.loc, "table: missing table name.");
            }
            let name = format!("{peers}/{tname}");
            let shifted = Line { args: l.args[1..].to_vec(), loc: l.loc.clone() };
            match parse_def(p, &shifted, &name) {
                Ok(_) if p.config.peers_tables.iter().any(|t| t.name == name) => {
                    p.alert(&l.loc, format!("stick-table name '{name}' conflicts with another table."));
                }
                Ok(mut def) => {
                    def.peers = Some(peers.to_string());
                    p.config.peers_tables.push(def)
                }
                Err(e) => p.alert(&l.loc, e),
            }
        }
        _ => {
            let Some(section) = p.config.peers.iter_mut().rev().find(|s| s.name == peers) else { return };
            match section.line(&l.args, &l.loc) {
                Ok(None) => {}
                Ok(Some(w)) => p.warn(&l.loc, w),
                Err(e) => p.alert(&l.loc, e),
            }
        }
    }
}

/// Post-parse: the tables named by `track-sc*` actions and `stick` rules exist, and a
/// table a `stick` rule uses stores `server_id` and `server_key` (HAProxy adds them).
pub fn check(config: &mut Config, diags: &mut Vec<Diagnostic>) {
    for e in crate::stick::action::check_tables(config) {
        diags.push(Diagnostic::plain(Severity::Alert, None, e));
    }
    let declared: Vec<String> = crate::stick::defs(config).into_iter().map(|d| d.name).collect();
    for e in crate::stick::sample::check_parsed(&declared) {
        diags.push(Diagnostic::plain(Severity::Alert, None, format!("{e}.")));
    }
    let local = crate::peers::local_name(config);
    for s in &config.peers {
        if let Err(e) = s.check(&local) {
            let severity = if e.starts_with("Removing") { Severity::Warning } else { Severity::Alert };
            diags.push(Diagnostic::plain(severity, None, e));
        }
    }
    for p in &config.proxies {
        if let Some(peers) = p.stick_table.as_ref().and_then(|t| t.peers.as_ref()) {
            if !config.peers_sections.contains(peers) {
                diags.push(Diagnostic::plain(Severity::Alert, None, format!("Proxy '{}': unable to find sync peers '{peers}'.", p.name)));
            }
        }
    }
    let used: Vec<String> = config.proxies.iter().flat_map(|p| p.stick_rules.iter().map(|r| r.table.clone())).collect();
    let tables = config.proxies.iter_mut().filter_map(|p| p.stick_table.as_mut()).chain(config.peers_tables.iter_mut());
    for t in tables.filter(|t| used.contains(&t.name)) {
        for ty in [DataType::ServerId, DataType::ServerKey] {
            if t.index(ty).is_none() {
                t.store.push(Stored::scalar(ty));
            }
        }
        t.store.sort_by_key(|s| s.ty);
    }
}

#[cfg(test)]
mod tests {
    use crate::config::{parse_str, ParseOptions};

    fn errors(body: &str) -> Vec<String> {
        match parse_str("t.cfg", body, &ParseOptions::default()) {
            Ok(l) => l.diagnostics.iter().map(|d| d.message.clone()).collect(),
            Err(d) => d.iter().map(|d| d.message.clone()).collect(),
        }
    }

    #[test]
    fn tables_parse_with_haproxys_messages() {
        let text = "backend b\n  stick-table type string len 12 size 10k expire 30s nopurge store gpc0,http_req_rate(10s) store conn_cur\n";
        let l = parse_str("t.cfg", text, &ParseOptions::default()).unwrap();
        let t = l.config.proxies[0].stick_table.as_ref().unwrap();
        assert_eq!((t.key_len, t.size, t.expire, t.nopurge, t.store.len()), (12, 10240, Some(30_000), true, 3));
        assert_eq!(t.store[1].ty, crate::stick::data::DataType::ConnCur, "kept in HAProxy's order");
        let e = errors("backend b\n  stick-table type foo size 1k\n");
        assert!(e.iter().any(|m| m == "stick-table: unknown type 'foo'."), "{e:?}");
        let e = errors("backend b\n  stick-table type ip\n");
        assert!(e.iter().any(|m| m == "stick-table: missing size."), "{e:?}");
        let e = errors("frontend f\n  bind :0\n  http-request track-sc0 src table nope\n");
        assert!(e.iter().any(|m| m == "Proxy 'f': unable to find table 'nope' referenced by track-sc0."), "{e:?}");
        let e = errors("frontend f\n  bind :0\n  http-request deny if { sc_get_gpc0(0,nope) gt 0 } || { src,table_gpc0(later) gt 0 }\nbackend later\n  stick-table type ip size 1\n");
        assert!(e.iter().any(|m| m == "unable to find table 'nope' referenced in arg 2 of sample fetch keyword 'sc_get_gpc0'."), "{e:?}");
        assert!(!e.iter().any(|m| m.contains("'later'")), "a table declared later is found: {e:?}");
        let e = errors("backend b\n  stick on src table nope\n");
        assert!(e.iter().any(|m| m == "Proxy 'b': unable to find stick-table 'nope'."), "{e:?}");
    }
}
