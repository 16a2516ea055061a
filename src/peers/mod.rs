//! Stick-table synchronisation with HAProxy's peers protocol (2.1, the version HAProxy
//! 2.6 speaks), so that moonproxy and HAProxy nodes share tables in one cluster and a
//! reload keeps the tables' contents.
//!
//! Layout:
//! - [`config`]: `peers` sections (peers, addresses, HAProxy's messages);
//! - [`codec`]: the bytes on the wire, sans-io;
//! - [`session`]: one connection after its handshake, sans-io: applies what it
//!   receives to the tables, encodes their updates;
//! - [`node`]: the thread that owns the sockets and drives the sessions;
//! - [`show`]: `show peers` on the CLI.
//!
//! The tables a section synchronises are its own `table` lines and the `stick-table`s
//! of the proxies that name it (`peers <name>`). The local peer is the one named by
//! `-L`, `localpeer` or the host name. `doc/stick-tables.md` (Peers) says what is
//! supported and where moonproxy differs.

pub mod codec;
pub mod config;
pub mod node;
pub mod session;
pub mod show;

use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// The name of the local peer: `-L` / `localpeer`, else the host name.
pub fn local_name(config: &crate::config::model::Config) -> String {
    config.global.localpeer.clone().unwrap_or_else(|| crate::log::target::system_hostname().to_string())
}

struct Running {
    control: Arc<node::Control>,
    waker: Arc<mio::Waker>,
}

static RUNNING: OnceLock<Running> = OnceLock::new();

/// The node bound by [`start`], waiting for [`spawn`] (after the process detached).
static PENDING: std::sync::Mutex<Option<node::Node>> = std::sync::Mutex::new(None);

/// Prepares the peers of `config` (nothing without `peers` sections): binds the local
/// peers' listeners; [`spawn`] starts them once the process detached. `reloading`:
/// the process replaces another one (`-sf`/`-st`), which teaches it its tables first.
/// `Err` is the alert for a listener that cannot bind.
pub fn start(config: &crate::config::model::Config, reloading: bool) -> Result<(), String> {
    let local = local_name(config);
    let tables = crate::stick::tables();
    let plans: Vec<node::SectionPlan> = config
        .peers
        .iter()
        .filter(|s| !s.disabled && s.check(&local).is_ok())
        .map(|s| node::SectionPlan {
            name: s.name.clone(),
            local: local.clone(),
            listen: s.listen_addr(&local),
            peers: s.peers.iter().map(|p| (p.name.clone(), if p.name == local { s.listen_addr(&local) } else { p.addr })).collect(),
            tables: tables.iter().filter(|t| t.def.peers.as_deref() == Some(s.name.as_str())).cloned().collect(),
            reloading,
        })
        .filter(|p| !p.tables.is_empty())
        .collect();
    if plans.is_empty() || RUNNING.get().is_some() {
        return Ok(());
    }
    let control = Arc::new(node::Control::default());
    let (node, waker) = node::Node::new(plans, control.clone())?;
    *PENDING.lock().unwrap_or_else(|p| p.into_inner()) = Some(node);
    let _ = RUNNING.set(Running { control, waker });
    Ok(())
}

/// Starts the thread of the peers [`start`] prepared.
pub fn spawn() {
    let Some(node) = PENDING.lock().unwrap_or_else(|p| p.into_inner()).take() else { return };
    if let Err(e) = std::thread::Builder::new().name("peers".into()).spawn(move || node.run()) {
        crate::alert!("peers: cannot start the thread: {e}");
    }
}

/// The process soft-stops: the peers close their listeners and teach the next process.
pub fn soft_stop() {
    if let Some(r) = RUNNING.get() {
        r.control.state.lock().unwrap_or_else(|p| p.into_inner()).soft_stop = true;
        let _ = r.waker.wake();
    }
}

/// The process leaves: waits (a few seconds at most) until the last updates, and the
/// teaching of the next process, are sent.
pub fn finish() {
    let Some(r) = RUNNING.get() else { return };
    if PENDING.lock().unwrap_or_else(|p| p.into_inner()).is_some() {
        return; // never started
    }
    let mut s = r.control.state.lock().unwrap_or_else(|p| p.into_inner());
    s.finish = true;
    let _ = r.waker.wake();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !s.done {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return;
        }
        s = r.control.cond.wait_timeout(s, left).unwrap_or_else(|p| p.into_inner()).0;
    }
}
