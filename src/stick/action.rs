//! The stick-counter actions of the rule lists: `track-sc<N> <sample> [table <t>]`,
//! `sc-inc-gpc0(<N>)`, `sc-inc-gpc1(<N>)`, `sc-inc-gpc(<idx>,<N>)`,
//! `sc-set-gpt0(<N>) <int|sample>` and `sc-set-gpt(<idx>,<N>) <int|sample>`, shared by
//! `http-request`, `http-response`, `tcp-request connection|content` and
//! `tcp-response content`.

use super::data::DataType as D;
use super::session::{self, Level, MAX_SC};
use crate::sample::{Expr, SampleCtx};

/// A compiled stick-counter action.
#[derive(Debug)]
pub enum StickAction {
    Track { sc: usize, expr: Expr, table: String },
    /// `sc-inc-gpc0` (`Gpc0`, element 0), `sc-inc-gpc1` (`Gpc1`) or `sc-inc-gpc(idx,N)`
    /// (`Gpc`, element `idx`).
    IncGpc { sc: usize, gpc: D, idx: usize },
    /// `sc-set-gpt0` (`Gpt0`) or `sc-set-gpt(idx,N)` (`Gpt`, element `idx`).
    SetGpt { sc: usize, gpt: D, idx: usize, value: GptValue },
}

#[derive(Debug)]
pub enum GptValue {
    Int(i64),
    Expr(Expr),
}

/// Whether `name` (the action word) is one of ours.
pub fn is_stick_action(name: &str) -> bool {
    let base = name.split('(').next().unwrap_or(name);
    matches!(base, "sc-inc-gpc0" | "sc-inc-gpc1" | "sc-set-gpt0" | "sc-inc-gpc" | "sc-set-gpt")
        || base.strip_prefix("track-sc").is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// The `(N)` of `sc-inc-gpc0(N)`: 0 without parentheses, as HAProxy.
fn sc_id(name: &str) -> Result<usize, String> {
    let Some((_, rest)) = name.split_once('(') else { return Ok(0) };
    let id = rest.strip_suffix(')').and_then(|n| n.parse::<usize>().ok());
    match id {
        Some(n) if n < MAX_SC => Ok(n),
        Some(_) => Err(format!("invalid stick table track ID. The max allowed ID is {}.", MAX_SC - 1)),
        None => Err(format!("invalid stick table track ID '{rest}'. The max allowed ID is {}.", MAX_SC - 1)),
    }
}

impl StickAction {
    /// Parses the action words (before `if`/`unless`); `proxy` names the default table.
    /// Errors are HAProxy's message bodies.
    pub fn parse(words: &[String], proxy: &str) -> Result<StickAction, String> {
        let name = words.first().map_or("", String::as_str);
        let args = &words[1.min(words.len())..];
        let unexpected = |w: &String| format!("expects either 'if' or 'unless' followed by a condition but found '{w}'");
        if let Some(n) = name.strip_prefix("track-sc") {
            let sc: usize = n.parse().map_err(|_| format!("unknown action '{name}'"))?;
            if sc >= MAX_SC {
                return Err(format!("{sc} track-sc number exceeding {} (MAX_SESS_STKCTR-1) value.", MAX_SC - 1));
            }
            let text = args.first().ok_or("missing fetch method")?;
            let expr = Expr::parse(text).map_err(|e| e.to_string())?;
            let table = match args.get(1).map(String::as_str) {
                None => proxy.to_string(),
                Some("table") => args.get(2).cloned().ok_or("missing table name")?,
                Some(_) => return Err(unexpected(&args[1])),
            };
            if let Some(w) = args.get(3) {
                return Err(unexpected(w));
            }
            return Ok(StickAction::Track { sc, expr, table });
        }
        let base = name.split('(').next().unwrap_or(name);
        // `sc-inc-gpc(<idx>,<N>)`, `sc-set-gpt(<idx>,<N>)`: the element, then the counter.
        let (idx, sc) = if matches!(base, "sc-inc-gpc" | "sc-set-gpt") {
            let what = if base == "sc-inc-gpc" { "gpc" } else { "gpt" };
            let inner = name.split_once('(').map_or("", |(_, r)| r.strip_suffix(')').unwrap_or(r));
            let Some((i, n)) = inner.split_once(',') else {
                return Err(format!("Missing {what} ID '{name}'. Expects {base}(<{} ID>,<Track ID>).", what.to_uppercase()));
            };
            let idx = i.trim().parse::<usize>().ok().filter(|&i| i < 100).ok_or_else(|| format!("invalid {what} ID '{i}'. The max allowed ID is 99."))?;
            (idx, sc_id(&format!("({})", n.trim()))?)
        } else {
            (0, sc_id(name)?)
        };
        match base {
            "sc-inc-gpc0" | "sc-inc-gpc1" | "sc-inc-gpc" => {
                if let Some(w) = args.first() {
                    return Err(unexpected(w));
                }
                let gpc = match base {
                    "sc-inc-gpc0" => D::Gpc0,
                    "sc-inc-gpc1" => D::Gpc1,
                    _ => D::Gpc,
                };
                Ok(StickAction::IncGpc { sc, gpc, idx })
            }
            "sc-set-gpt0" | "sc-set-gpt" => {
                let value = match args.first() {
                    None => GptValue::Int(0),
                    Some(v) => match v.parse::<i64>() {
                        Ok(i) => GptValue::Int(i),
                        Err(_) => GptValue::Expr(Expr::parse(v).map_err(|e| e.to_string())?),
                    },
                };
                if let Some(w) = args.get(1) {
                    return Err(unexpected(w));
                }
                let gpt = if base == "sc-set-gpt0" { D::Gpt0 } else { D::Gpt };
                Ok(StickAction::SetGpt { sc, gpt, idx, value })
            }
            _ => Err(format!("unknown action '{name}'")),
        }
    }

    /// The table a `track-sc` action names (checked after parsing).
    pub fn table(&self) -> Option<&str> {
        match self {
            StickAction::Track { table, .. } => Some(table),
            _ => None,
        }
    }

    /// The action's keyword for messages (`track-sc0`).
    pub fn keyword(&self) -> String {
        match self {
            StickAction::Track { sc, .. } => format!("track-sc{sc}"),
            StickAction::IncGpc { gpc, .. } => format!("sc-inc-{}", gpc.name()),
            StickAction::SetGpt { gpt, .. } => format!("sc-set-{}", gpt.name()),
        }
    }

    /// Runs the action. `level`: where a `track-sc` tracks (see [`Level`]).
    pub fn exec(&self, cx: &dyn SampleCtx, level: Level) {
        let now = super::now_ms();
        match self {
            StickAction::Track { sc, expr, table } => {
                let Some(t) = super::table(table) else { return };
                if session::tracked_at(*sc, level) {
                    return;
                }
                let Some(key) = expr.eval(cx).and_then(|s| t.def.key_of(s)) else { return };
                // Tracked by a stream in HTTP mode (request or response rules): the
                // request counts at once (its head was read before these rules ran).
                let request = level == Level::Stream && cx.http_req().is_some();
                // From `http-response` rules: the response's error counts at once too.
                let response = cx.http_res().map(|r| r.line.status).filter(|_| level == Level::Stream);
                session::track(*sc, level, &t, key, request, response);
            }
            StickAction::IncGpc { sc, gpc, idx } => {
                let Some(tr) = session::tracked(*sc) else { return };
                let def = &tr.table.def;
                let mut l = tr.table.lock(now);
                if let Some(e) = l.get_mut(&tr.key) {
                    let rate = match gpc {
                        D::Gpc0 => D::Gpc0Rate,
                        D::Gpc1 => D::Gpc1Rate,
                        _ => D::GpcRate,
                    };
                    let a = e.add_at(def, rate, *idx, 1, now);
                    let b = e.add_at(def, *gpc, *idx, 1, now);
                    if a || b {
                        l.touch(&tr.key, now);
                    }
                }
            }
            StickAction::SetGpt { sc, gpt, idx, value } => {
                let v = match value {
                    GptValue::Int(i) => *i,
                    GptValue::Expr(e) => match e.eval(cx).and_then(|s| s.to_int()) {
                        Some(v) => v,
                        None => return,
                    },
                };
                let Some(tr) = session::tracked(*sc) else { return };
                let mut l = tr.table.lock(now);
                if let Some(e) = l.get_mut(&tr.key) {
                    if e.set_at(&tr.table.def, *gpt, *idx, v, now) {
                        l.touch(&tr.key, now);
                    }
                }
            }
        }
    }
}

/// Post-parse check of the tables `track-sc` actions name: HAProxy's alert when one
/// does not exist.
pub fn check_tables(config: &crate::config::model::Config) -> Vec<String> {
    use crate::config::model::TcpAction;
    let names: Vec<String> = super::defs(config).into_iter().map(|d| d.name).collect();
    let mut errors = Vec::new();
    for p in &config.proxies {
        let http = p.http_rules.iter().map(|r| &r.action);
        let tcp = p.tcp_rules.iter().filter_map(|r| match &r.action {
            Some(TcpAction::StickCounter { words, .. }) => Some(words),
            _ => None,
        });
        for words in http.chain(tcp) {
            if !words.first().is_some_and(|w| is_stick_action(w)) {
                continue;
            }
            if let Ok(a) = StickAction::parse(words, &p.name) {
                if let Some(t) = a.table().filter(|t| !names.iter().any(|n| n == t)) {
                    errors.push(format!("Proxy '{}': unable to find table '{t}' referenced by {}.", p.name, a.keyword()));
                }
            }
        }
        for r in &p.stick_rules {
            if !names.contains(&r.table) {
                errors.push(format!("Proxy '{}': unable to find stick-table '{}'.", p.name, r.table));
            }
        }
    }
    errors
}
