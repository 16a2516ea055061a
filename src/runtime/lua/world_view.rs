//! [`WorldParts`]: the runtime's tables as a [`WorldView`], what Lua's `Proxy`,
//! `Server`, `Listener` and `core.get_info` read and change during a resume.
//!
//! Stats tables are rows of `stats::snapshot` (the `show stat` columns, non-empty cells
//! only); server changes go through the backend module and are applied as a check
//! result is ([`WorldParts::apply`]): messages to stderr and the backend's log,
//! `stats::server_state_changed`, queued streams handed the freed slots (the world
//! wakes them after the resume), redispatched streams woken, idle connections to a
//! server that left the farm (or moved) dropped.
use crate::backend::AdminState;
use crate::listener::Listener;
use crate::lua::api::world::{addr_text, ip_port};
use crate::lua::host::{Deferred, Field, ServerOp, ServerView, StatsOf, WorldView};
use crate::reactor::Ctx;
use crate::runtime::pool::Farm;
use crate::runtime::world::ProxyLog;
use crate::stats::snapshot::{self, RowKind, Value, View};
use crate::stream::proxy::ProxyRt;
use std::time::Instant;

/// The world as Lua callbacks see it during a resume: the runtime's tables, borrowed
/// from the runtime's `World` next to its `lua` field.
pub struct WorldParts<'a> {
    pub proxies: &'a mut [ProxyRt],
    pub farm: &'a mut Farm,
    pub listeners: &'a [Listener],
    pub logs: &'a [ProxyLog],
    /// Live client connections and the global `maxconn` (`core.get_info`).
    pub conns: (u32, u32),
    /// What the world does once the resume is over (it owns streams and listeners).
    pub deferred: &'a mut Vec<Deferred>,
}

impl<'a> WorldParts<'a> {
    pub fn new(
        proxies: &'a mut [ProxyRt],
        farm: &'a mut Farm,
        listeners: &'a [Listener],
        logs: &'a [ProxyLog],
        conns: (u32, u32),
        deferred: &'a mut Vec<Deferred>,
    ) -> WorldParts<'a> {
        WorldParts { proxies, farm, listeners, logs, conns, deferred }
    }

    fn listener_stats(&self, px: usize, k: usize) -> Option<Vec<(&'static str, Field)>> {
        let l = self.listeners.iter().filter(|l| l.proxy == px).nth(k)?;
        let p = self.proxies.get(px)?;
        let mut f = vec![
            ("pxname", Field::Str(p.name.clone())),
            ("svname", Field::Str(l.name.clone().unwrap_or_else(|| format!("sock-{}", l.luid)))),
            ("scur", Field::Int(i64::from(l.conns))),
        ];
        if let Some(m) = l.maxconn {
            f.push(("slim", Field::Int(i64::from(m))));
        }
        f.extend([
            ("status", Field::Str(if l.full() { "FULL" } else { "OPEN" }.into())),
            ("pid", Field::Int(1)),
            ("iid", Field::Int(i64::from(p.uuid))),
            ("sid", Field::Int(i64::from(l.luid))),
            ("type", Field::Int(3)),
        ]);
        Some(f)
    }
}

/// A stats row as `(name, value)` pairs: the non-empty cells of HAProxy's own fields
/// (2.6's Lua tables stop at the `-` column: no extra modules' fields such as `h1_*`).
fn row_fields(row: &snapshot::Row) -> Vec<(&'static str, Field)> {
    crate::stats::fields::NAMES
        .iter()
        .zip(&row.values)
        .take_while(|(name, _)| **name != "-")
        .filter_map(|(name, v)| {
            let v = match v {
                Value::Empty => return None,
                Value::U32(n) => Field::Int(i64::from(*n)),
                Value::U64(n) => Field::Int(i64::try_from(*n).unwrap_or(i64::MAX)),
                Value::S32(n) => Field::Int(i64::from(*n)),
                Value::Str(s) => Field::Str(s.clone()),
            };
            Some((*name, v))
        })
        .collect()
}

/// The stats of a proxy or server (`Proxy:get_stats()`, `Server:get_stats()`) from the
/// proxies and the server pool: also what a stream's Lua code reads (a Lua service).
/// `None` for a listener (the listeners are the world's).
pub fn proxy_stats(proxies: &[ProxyRt], pool: &dyn crate::stream::ServerPool, of: StatsOf, now: Instant) -> Option<Vec<(&'static str, Field)>> {
    let px = match of {
        StatsOf::Listener(..) => return None,
        StatsOf::Proxy(px) | StatsOf::Server(px, _) => px,
    };
    let mut view = View::new(proxies, pool, now);
    view.legends = true; // 2.6's Lua tables have `addr` and `algo`
    let rows = snapshot::rows(&view, &|i, _| i == px);
    let row = match of {
        StatsOf::Server(_, s) => {
            // The rows list the live servers only: server `s`'s rank among them.
            let rank = pool.backend_state(px)?.iter_servers().position(|(id, _)| id.0 == s)?;
            rows.iter().filter(|r| r.kind == RowKind::Server).nth(rank)
        }
        _ => {
            let want = if proxies.get(px)?.cap.backend { RowKind::Backend } else { RowKind::Frontend };
            rows.iter().find(|r| r.kind == want)
        }
    };
    row.map(row_fields)
}

/// What `Server.get_weight/get_maxconn/get_addr/is_draining` read of server `srv` of a
/// backend: also what a stream's Lua code reads (actions, services).
pub fn server_view(backend: &crate::backend::Backend, srv: usize) -> Option<ServerView> {
    let s = backend.servers().get(srv).filter(|s| !s.is_deleted())?;
    let (ip, port) = ip_port(s.addr());
    Some(ServerView {
        weight: s.weight(),
        maxconn: s.maxconn(),
        addr: addr_text(s.addr()),
        ip,
        port,
        draining: s.admin_state() == AdminState::Drain,
    })
}

impl WorldView for WorldParts<'_> {
    fn proxy_names(&self) -> Vec<String> {
        self.proxies.iter().map(|p| p.name.clone()).collect()
    }
    fn proxies(&self) -> Option<(&[ProxyRt], &dyn crate::stream::ServerPool)> {
        Some((self.proxies, &*self.farm))
    }

    fn stats(&self, of: StatsOf, now: Instant) -> Option<Vec<(&'static str, Field)>> {
        match of {
            StatsOf::Listener(px, k) => self.listener_stats(px, k),
            _ => proxy_stats(self.proxies, &*self.farm, of, now),
        }
    }

    fn info(&self, _now: Instant) -> Vec<(&'static str, Field)> {
        let fe = self.proxies.iter().filter(|p| p.cap.frontend);
        let (cum_conns, cum_req) = fe.fold((0u64, 0u64), |(c, r), p| (c + p.cum_fe, r + p.counters.fe.req_tot));
        let (actconn, maxconn) = self.conns;
        let int = |v: u64| Field::Int(i64::try_from(v).unwrap_or(i64::MAX));
        vec![
            ("Maxconn", Field::Int(i64::from(maxconn))),
            ("Hard_maxconn", Field::Int(i64::from(maxconn))),
            ("CurrConns", Field::Int(i64::from(actconn))),
            ("CumConns", int(cum_conns)),
            ("CumReq", int(cum_req)),
            ("Listeners", int(self.listeners.len() as u64)),
            ("Stopping", Field::Int(0)),
        ]
    }

    fn server(&self, px: usize, srv: usize) -> Option<ServerView> {
        server_view(self.farm.backends.get(px)?.as_ref()?, srv)
    }

    fn defer(&mut self, what: Deferred) -> bool {
        self.deferred.push(what);
        true
    }

    fn server_op(&mut self, cx: &mut Ctx<'_>, px: usize, srv: usize, op: ServerOp) -> Result<(), String> {
        use crate::runtime::world::{apply_server_op, NoSuch};
        apply_server_op(cx, self.proxies, self.farm, self.logs, px, srv, op, "changed from Lua script").map_err(|e| match e {
            NoSuch::Backend => "unknown backend".to_string(),
            NoSuch::Server => "unknown server".to_string(),
        })
    }
}
