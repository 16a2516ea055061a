//! Stick tables, as HAProxy 2.6 has them: `stick-table` declarations, `track-sc*`
//! counters, the `sc_*`/`src_*`/`table_*` samples, `stick on|match|store-*` persistence
//! and the `show|clear|set table` CLI commands. `doc/stick-tables.md` says what is
//! supported and where moonproxy differs.
//!
//! Layout:
//! - [`data`]: the data types of `store` lists and HAProxy's frequency counter;
//! - [`table`]: one table, its entries, expiry and eviction;
//! - [`session`]: a stream's sticky counters and the counting done on them;
//! - [`sample`]: the fetches and converters (looked up by `crate::sample`);
//! - [`action`]: `track-sc*`, `sc-inc-gpc0/1`, `sc-set-gpt0` for the rule lists;
//! - [`persist`]: `stick on|match|store-request|store-response`;
//! - [`cli`]: `show table`, `clear table`, `set table`.
//!
//! Tables are process-wide: every reactor thread sees the same entries (each table's
//! entries are behind a mutex held for one operation), as HAProxy's threads do. They
//! are created once from the configuration ([`install`]) and found by name.

pub mod action;
pub mod cli;
pub mod data;
pub mod persist;
pub mod sample;
pub mod session;
pub mod table;

pub use session::{enter, leave, Session};
pub use table::{Key, KeyType, Table, TableDef};

use std::sync::{Arc, OnceLock, RwLock};
use std::time::Instant;

/// Milliseconds of the stick-table clock (monotonic). It starts at 2^31 rather than 0
/// so that a counter a peer received, whose period began before this process started,
/// still has its start on this clock.
pub fn now_ms() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    (1 << 31) + START.get_or_init(Instant::now).elapsed().as_millis() as u64
}

/// The tables of the process, in declaration order.
static TABLES: RwLock<Vec<Arc<Table>>> = RwLock::new(Vec::new());

/// Set once [`install`] ran: table names in sample arguments are then checked at once.
static INSTALLED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Whether the tables of the running configuration exist.
pub fn installed() -> bool {
    INSTALLED.load(std::sync::atomic::Ordering::Relaxed)
}

/// Creates the tables of the configuration. A table already there with the same
/// definition is kept with its entries (every reactor thread calls this with the
/// same configuration); the others are replaced.
pub fn install(defs: &[TableDef]) {
    INSTALLED.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut tables = TABLES.write().unwrap_or_else(|p| p.into_inner());
    let old = std::mem::take(&mut *tables);
    *tables = defs
        .iter()
        .map(|d| match old.iter().find(|t| t.def == *d) {
            Some(t) => t.clone(),
            None => Arc::new(Table::new(d.clone())),
        })
        .collect();
}

/// The table named `name`.
pub fn table(name: &str) -> Option<Arc<Table>> {
    TABLES.read().unwrap_or_else(|p| p.into_inner()).iter().find(|t| t.def.name == name).cloned()
}

/// Every table, in declaration order.
pub fn tables() -> Vec<Arc<Table>> {
    TABLES.read().unwrap_or_else(|p| p.into_inner()).clone()
}

/// Whether any table exists (the hooks of streams cost nothing otherwise).
pub fn any() -> bool {
    !TABLES.read().unwrap_or_else(|p| p.into_inner()).is_empty()
}

/// The tables the configuration declares, in declaration order: each proxy's
/// `stick-table`, and the tables of `peers` sections.
pub fn defs(config: &crate::config::model::Config) -> Vec<TableDef> {
    let mut defs: Vec<TableDef> = config.proxies.iter().filter_map(|p| p.stick_table.clone()).chain(config.peers_tables.iter().cloned()).collect();
    let file_index = |d: &TableDef| {
        let file = d.location.as_ref().map(|l| l.file.to_string()).unwrap_or_default();
        config.files.iter().position(|f| f.to_string_lossy() == file.as_str()).unwrap_or(0)
    };
    defs.sort_by_key(|d| (file_index(d), d.location.as_ref().map_or(0, |l| l.line)));
    defs
}
