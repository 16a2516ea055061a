//! Sample fetches that read the state of proxies and servers: identifiers, live
//! connections, queues, weights, session rates and timeouts (`be_id`, `srv_conn`,
//! `connslots`, `fe_req_rate`, `be_server_timeout`...), as HAProxy 2.6 defines them.
//!
//! They read the proxies and the server pool of the stream whose rules are being
//! evaluated, through the world the stream sets up around its rules (see
//! `crate::lua::api::fetches::with_world`): in `tcp-request`/`tcp-response`,
//! `http-request`/`http-response`/`http-after-response` rules, `use_backend` and
//! `use-server` conditions, and the log-format of the stream's log line. Where no
//! stream world is set (unit tests) they find nothing.
//!
//! Arguments as HAProxy's: an optional proxy name (`queue(be)`, `fe_req_rate(fe)`; the
//! stream's own by default) or a `[<backend>/]<server>` (the current backend's server
//! when the backend is omitted).

use super::args::{Arg, ArgSpec, ArgType};
use super::fetch::Fetch;
use super::{Sample, SampleCtx, SampleType};
use crate::backend::{AdminState, Backend, OpState, Server};
use crate::stream::proxy::ProxyRt;
use crate::stream::ServerPool;
use std::time::{Duration, Instant};

use ArgType as A;
use SampleType as T;

const fn spec(types: &'static [ArgType], mandatory: usize) -> ArgSpec {
    ArgSpec { types, mandatory }
}

const NO_ARG: ArgSpec = ArgSpec::NONE;
const PROXY: ArgSpec = spec(&[A::Str], 0);
const SERVER: ArgSpec = spec(&[A::Str], 1);

macro_rules! fetch {
    ($name:expr, $args:expr, $out:expr, $check:expr, $run:expr) => {
        Fetch { name: $name, args: $args, out: $out, check: $check, run: $run, all: None, visit: None }
    };
}

fn no_check(_: &mut [Arg]) -> Result<(), String> {
    Ok(())
}

/// `[<backend>/]<server>`: neither part may be empty.
fn check_server(a: &mut [Arg]) -> Result<(), String> {
    let s = a.first().and_then(Arg::str).unwrap_or("");
    let (be, srv) = match s.split_once('/') {
        Some((b, s)) => (Some(b), s),
        None => (None, s),
    };
    if srv.is_empty() || be == Some("") {
        return Err(format!("invalid server name: '{s}'"));
    }
    Ok(())
}

/// Every fetch this module implements.
pub static FETCHES: &[Fetch] = &[
    fetch!("avg_queue", PROXY, T::Sint, no_check, |a, cx| backend(a, cx, |_, b| {
        // The backend's queued streams shared among its usable servers, rounded up;
        // twice the queue when none is usable.
        let queued = b.total_queued() as i64;
        let n = b.nbsrv() as i64;
        Some(Sample::Sint(if n > 0 { (queued + n - 1) / n } else { queued * 2 }))
    })),
    fetch!("be_conn_free", PROXY, T::Sint, no_check, |a, cx| backend(a, cx, |_, b| {
        // -1 as soon as one server that may take traffic has no `maxconn`.
        let mut free = 0i64;
        for s in serving(b) {
            if s.maxconn() == 0 {
                return Some(Sample::Sint(-1));
            }
            free += i64::from(s.maxconn().saturating_sub(s.current_conns()));
        }
        Some(Sample::Sint(free))
    })),
    fetch!("be_id", NO_ARG, T::Sint, no_check, |_, cx| proxy(current_backend(cx)?, |p, _| Some(Sample::Sint(i64::from(p.uuid))))),
    fetch!("be_server_timeout", NO_ARG, T::Sint, no_check, |_, cx| proxy(current_backend(cx)?, |p, _| Some(millis(p.timeouts.server)))),
    fetch!("be_sess_rate", PROXY, T::Sint, no_check, |a, cx| {
        let name = arg_or(a, current_backend(cx))?;
        proxy(name, |p, _| Some(Sample::Sint(i64::from(p.counters.be.sess_rate.ctr.read(now_ms())))))
    }),
    fetch!("be_tunnel_timeout", NO_ARG, T::Sint, no_check, |_, cx| proxy(current_backend(cx)?, |p, _| Some(millis(p.timeouts.tunnel)))),
    fetch!("connslots", PROXY, T::Sint, no_check, |a, cx| backend(a, cx, |_, b| {
        // Free connection and queue slots of the servers that are not down; -1 as
        // soon as one has no `maxconn` or no `maxqueue`.
        let mut slots = 0i64;
        for s in b.servers().iter().filter(|s| !s.is_out()) {
            if s.maxconn() == 0 || s.maxqueue() == 0 {
                return Some(Sample::Sint(-1));
            }
            slots += i64::from(s.maxconn()) - i64::from(s.current_conns()) + i64::from(s.maxqueue()) - s.queue_len() as i64;
        }
        Some(Sample::Sint(slots))
    })),
    // The stream's timeouts: `http-request set-timeout`'s, else its backend's.
    fetch!("cur_server_timeout", NO_ARG, T::Sint, no_check, |_, cx| {
        let set = cx.http_txn().and_then(|t| t.timeouts.server);
        proxy(current_backend(cx)?, |p, _| Some(millis(set.or(p.timeouts.server))))
    }),
    fetch!("cur_tunnel_timeout", NO_ARG, T::Sint, no_check, |_, cx| {
        let set = cx.http_txn().and_then(|t| t.timeouts.tunnel);
        proxy(current_backend(cx)?, |p, _| Some(millis(set.or(p.timeouts.tunnel))))
    }),
    fetch!("fe_client_timeout", NO_ARG, T::Sint, no_check, |_, cx| proxy(cx.frontend_name()?, |p, _| Some(millis(p.timeouts.client)))),
    fetch!("fe_defbe", NO_ARG, T::Str, no_check, |_, cx| {
        let fe = cx.frontend_name()?;
        with_proxies(|all, _| {
            let p = all.iter().find(|p| p.name == fe)?;
            Some(Sample::str(all.get(p.default_backend?)?.name.as_str()))
        })
    }),
    fetch!("fe_id", NO_ARG, T::Sint, no_check, |_, cx| proxy(cx.frontend_name()?, |p, _| Some(Sample::Sint(i64::from(p.uuid))))),
    fetch!("fe_req_rate", PROXY, T::Sint, no_check, |a, cx| {
        proxy(arg_or(a, cx.frontend_name())?, |p, _| Some(Sample::Sint(i64::from(p.counters.fe.req_rate.ctr.read(now_ms())))))
    }),
    fetch!("fe_sess_rate", PROXY, T::Sint, no_check, |a, cx| {
        proxy(arg_or(a, cx.frontend_name())?, |p, _| Some(Sample::Sint(i64::from(p.counters.fe.sess_rate.ctr.read(now_ms())))))
    }),
    fetch!("queue", PROXY, T::Sint, no_check, |a, cx| backend(a, cx, |_, b| Some(Sample::Sint(b.total_queued() as i64)))),
    fetch!("srv_conn", SERVER, T::Sint, check_server, |a, cx| server(a, cx, |_, s, _| Some(Sample::Sint(i64::from(s.current_conns()))))),
    fetch!("srv_conn_free", SERVER, T::Sint, check_server, |a, cx| server(a, cx, |_, s, _| {
        Some(Sample::Sint(match s.maxconn() {
            0 => -1,
            max => i64::from(max.saturating_sub(s.current_conns())),
        }))
    })),
    fetch!("srv_id", NO_ARG, T::Sint, no_check, |_, cx| {
        let (be, srv) = (current_backend(cx)?, cx.server_name()?);
        with_server(be, srv, |_, s, _| Some(Sample::Sint(i64::from(s.puid()))))
    }),
    fetch!("srv_is_up", SERVER, T::Bool, check_server, |a, cx| server(a, cx, |_, s, _| {
        Some(Sample::Bool(s.op_state() == OpState::Up && s.admin_state() != AdminState::Maint && !s.in_resolution_maint()))
    })),
    fetch!("srv_iweight", SERVER, T::Sint, check_server, |a, cx| server(a, cx, |_, s, _| Some(Sample::Sint(i64::from(s.initial_weight()))))),
    fetch!("srv_queue", SERVER, T::Sint, check_server, |a, cx| server(a, cx, |_, s, _| Some(Sample::Sint(s.queue_len() as i64)))),
    fetch!("srv_sess_rate", SERVER, T::Sint, check_server, |a, cx| server(a, cx, |p, _, sid| {
        Some(Sample::Sint(p.counters.servers.get(sid).map_or(0, |t| i64::from(t.sess_rate.ctr.read(now_ms())))))
    })),
    fetch!("srv_uweight", SERVER, T::Sint, check_server, |a, cx| server(a, cx, |_, s, _| Some(Sample::Sint(i64::from(s.weight()))))),
    // The weight the balancing gives the server when up (a share during slowstart).
    fetch!("srv_weight", SERVER, T::Sint, check_server, |a, cx| server(a, cx, |_, s, _| Some(Sample::Sint(i64::from(s.current_weight()))))),
];

/// The fetch named `name`.
pub fn lookup(name: &str) -> Option<&'static Fetch> {
    FETCHES.iter().find(|f| f.name == name)
}

/// A timeout in milliseconds; 0 when not set (HAProxy's eternity).
fn millis(t: Option<Duration>) -> Sample {
    Sample::Sint(t.map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX)))
}

fn now_ms() -> u64 {
    crate::stats::counters::millis(Instant::now())
}

/// The stream's backend; before one is chosen, the frontend (HAProxy's stream starts
/// with its frontend as backend).
fn current_backend(cx: &dyn SampleCtx) -> Option<&str> {
    cx.backend_name().or_else(|| cx.frontend_name())
}

/// The first argument if given, else `default`.
fn arg_or<'a>(a: &'a [Arg], default: Option<&'a str>) -> Option<&'a str> {
    a.first().and_then(Arg::str).or(default)
}

/// Servers that may take load-balanced traffic: the usable active ones, or the usable
/// backups when no active one is.
fn serving(b: &Backend) -> impl Iterator<Item = &Server> {
    let any_active = b.servers().iter().any(|s| s.is_usable() && !s.is_backup());
    b.servers().iter().filter(move |s| s.is_usable() && s.is_backup() != any_active)
}

/// Runs `f` on the stream's proxies and server pool, if the stream set them.
fn with_proxies<R>(f: impl FnOnce(&[ProxyRt], &dyn ServerPool) -> Option<R>) -> Option<R> {
    crate::lua::api::fetches::with_world(|w| {
        let (proxies, pool) = w?.proxies()?;
        f(proxies, pool)
    })
}

/// Runs `f` on the proxy named `name` and its index.
fn proxy<R>(name: &str, f: impl FnOnce(&ProxyRt, usize) -> Option<R>) -> Option<R> {
    with_proxies(|all, _| {
        let i = all.iter().position(|p| p.name == name)?;
        f(&all[i], i)
    })
}

/// Runs `f` on the backend named by the first argument, or the stream's.
/// `nbsrv([backend])` from the running proxies: usable servers.
pub(super) fn nbsrv(a: &[Arg], cx: &dyn SampleCtx) -> Option<i64> {
    backend(a, cx, |_, b| Some(b.nbsrv() as i64))
}

/// `be_conn([backend])` from the running proxies: the streams using the backend.
pub(super) fn be_conn(a: &[Arg], cx: &dyn SampleCtx) -> Option<i64> {
    backend(a, cx, |_, b| Some(i64::from(b.beconn())))
}

/// `fe_conn([frontend])` from the running proxies: the frontend's live connections.
pub(super) fn fe_conn(a: &[Arg], cx: &dyn SampleCtx) -> Option<i64> {
    let name = arg_or(a, cx.frontend_name())?;
    proxy(name, |p, _| Some(i64::from(p.feconn)))
}

/// `srv_queue` as a converter: the queue of the server named `[<backend>/]<server>`.
pub(super) fn server_queue(name: &str, cx: &dyn SampleCtx) -> Option<i64> {
    let (be, srv) = match name.split_once('/') {
        Some((b, s)) => (b, s),
        None => (current_backend(cx)?, name),
    };
    with_server(be, srv, |_, s, _| Some(s.queue_len() as i64))
}

/// The declared length of capture slot `slot` of `frontend`'s requests (or
/// responses): `capture-req`, `capture-res`.
pub(super) fn capture_len(frontend: &str, response: bool, slot: usize) -> Option<usize> {
    proxy(frontend, |p, _| {
        let lens = &p.http_rules.capture_lens;
        (if response { &lens.1 } else { &lens.0 }).get(slot).copied()
    })
}

fn backend<R>(a: &[Arg], cx: &dyn SampleCtx, f: impl FnOnce(&ProxyRt, &Backend) -> Option<R>) -> Option<R> {
    let name = arg_or(a, current_backend(cx))?;
    with_proxies(|all, pool| {
        let i = all.iter().position(|p| p.name == name)?;
        f(&all[i], pool.backend_state(i)?)
    })
}

/// Runs `f` on the server named by the first argument (`[<backend>/]<server>`).
fn server<R>(a: &[Arg], cx: &dyn SampleCtx, f: impl FnOnce(&ProxyRt, &Server, usize) -> Option<R>) -> Option<R> {
    let s = a.first().and_then(Arg::str)?;
    let (be, srv) = match s.split_once('/') {
        Some((b, s)) => (b, s),
        None => (current_backend(cx)?, s),
    };
    with_server(be, srv, f)
}

fn with_server<R>(be: &str, srv: &str, f: impl FnOnce(&ProxyRt, &Server, usize) -> Option<R>) -> Option<R> {
    with_proxies(|all, pool| {
        let i = all.iter().position(|p| p.name == be)?;
        let b = pool.backend_state(i)?;
        let sid = b.server_by_name(srv)?.0;
        f(&all[i], &b.servers()[sid], sid)
    })
}
