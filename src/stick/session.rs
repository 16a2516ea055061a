//! What a stream tracks: its sticky counters `sc0`..`sc2`, and the counting HAProxy does
//! on the entries they point at.
//!
//! Two levels, as in HAProxy: counters tracked by `tcp-request connection` rules belong
//! to the client connection (HAProxy's session) and live as long as it; those tracked by
//! `tcp-request content`, `http-request` and `http-response` rules belong to the stream,
//! which in HTTP mode is one transaction. `scN_*` fetches read the stream's counter N
//! when there is one, else the connection's.
//!
//! The stream owns a [`Session`] and lends it to this module while it runs
//! ([`enter`]/[`leave`], around the stream's event handling): rules, fetches and
//! converters reach it through a thread-local, so no rule context has to carry it. A
//! session that tracks nothing is a null pointer.
//!
//! Counting (HAProxy 2.6): tracking an entry counts a connection on it (`conn_cnt`,
//! `conn_cur`, `conn_rate`) and, from `http-request`, the request; each later request
//! counts `http_req_*` on the counters tracked then; a transaction ending with a 4xx
//! counts `http_err_*` (a 5xx other than 501 and 505 `http_fail_*`) and its bytes
//! (`bytes_in_*` from the client, `bytes_out_*` to it); a connection accepted after its
//! `tcp-request connection` rules counts `sess_*`. A tracker leaving gives back its
//! `conn_cur` and touches the entry (its expiry restarts).

use super::data::DataType as D;
use super::table::{Key, Table};
use std::cell::RefCell;
use std::sync::Arc;

/// Sticky counters per level (HAProxy's default `tune.stick-counters`).
pub const MAX_SC: usize = 3;

/// Where a counter is tracked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    /// `tcp-request connection`: the client connection.
    Connection,
    /// `tcp-request content`, `http-request`, `http-response`: the stream (transaction).
    Stream,
}

/// A tracked entry: its table and key (the entry cannot go while tracked).
#[derive(Clone, Debug)]
pub struct Tracked {
    pub table: Arc<Table>,
    pub key: Key,
}

#[derive(Default)]
struct Trackers {
    conn: [Option<Tracked>; MAX_SC],
    stream: [Option<Tracked>; MAX_SC],
    /// Keys `stick on|store-request` rules left to store once a server is chosen
    /// (src/stick/persist.rs).
    stores: Vec<(Arc<Table>, Key)>,
}

/// A stream's sticky counters; empty (no allocation) until something is tracked.
#[derive(Default)]
pub struct Session(Option<Box<Trackers>>);

impl Session {
    /// Whether the session holds trackers (and is not lent to the running rules).
    pub fn is_tracking(&self) -> bool {
        self.0.is_some()
    }
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() { "Session(tracking)" } else { "Session(none)" })
    }
}

thread_local! {
    static CURRENT: RefCell<Session> = RefCell::new(Session::default());
}

/// Lends `s` to the rules about to run; returns what was current (put it back with
/// [`leave`]).
pub fn enter(s: &mut Session) -> Session {
    let mine = std::mem::take(s);
    if mine.0.is_none() && CURRENT.with(|c| c.borrow().0.is_none()) {
        return Session::default();
    }
    CURRENT.with(|c| c.replace(mine))
}

/// Takes the session lent by [`enter`] back into `s` and restores `outer`.
pub fn leave(s: &mut Session, outer: Session) {
    if outer.0.is_none() && CURRENT.with(|c| c.borrow().0.is_none()) {
        return;
    }
    *s = CURRENT.with(|c| c.replace(outer));
}

fn with<R>(f: impl FnOnce(&mut Trackers) -> R) -> Option<R> {
    CURRENT.with(|c| c.borrow_mut().0.as_deref_mut().map(f))
}

/// The entry counter `n` points at: the stream's, else the connection's.
pub fn tracked(n: usize) -> Option<Tracked> {
    with(|t| t.stream.get(n).cloned().flatten().or_else(|| t.conn.get(n).cloned().flatten())).flatten()
}

/// Whether counter `n` is tracked at `level` already (a second `track-scN` is ignored).
pub fn tracked_at(n: usize, level: Level) -> bool {
    with(|t| match level {
        Level::Connection => t.conn.get(n).is_some_and(Option::is_some),
        Level::Stream => t.stream.get(n).is_some_and(Option::is_some),
    })
    .unwrap_or(false)
}

/// Whether the current stream tracks anything (the counting hooks are free otherwise).
pub fn active() -> bool {
    CURRENT.with(|c| c.borrow().0.is_some())
}

/// Each distinct entry counter N points at (stream's first), for the counting hooks.
fn effective() -> Vec<Tracked> {
    with(|t| (0..MAX_SC).filter_map(|n| t.stream[n].clone().or_else(|| t.conn[n].clone())).collect()).unwrap_or_default()
}

/// Applies `f` to each effective entry, then touches it.
fn count(f: impl Fn(&mut super::table::Entry, &super::table::TableDef, u64)) {
    if !active() {
        return;
    }
    let now = super::now_ms();
    for t in effective() {
        let mut l = t.table.lock(now);
        if let Some(e) = l.get_mut(&t.key) {
            f(e, &t.table.def, now);
            l.touch(&t.key, now);
        }
    }
}

/// `track-scN`: counter `n` at `level` tracks `key` in `table`, unless it already
/// tracks something. `request`: count the current HTTP request on it; `response`: the
/// status of the response being processed, counted as [`http_status`] does. False
/// when the table is full.
pub fn track(n: usize, level: Level, table: &Arc<Table>, key: Key, request: bool, response: Option<u16>) -> bool {
    if n >= MAX_SC {
        return false;
    }
    let busy = CURRENT.with(|c| {
        let c = c.borrow();
        c.0.as_deref().is_some_and(|t| match level {
            Level::Connection => t.conn[n].is_some(),
            Level::Stream => t.stream[n].is_some(),
        })
    });
    if busy {
        return true;
    }
    let now = super::now_ms();
    {
        let def = &table.def;
        let mut l = table.lock(now);
        let Some(e) = l.get_or_create(&key, now) else { return false };
        e.ref_cnt += 1;
        e.add(def, D::ConnCur, 1, now);
        e.add(def, D::ConnCnt, 1, now);
        e.add(def, D::ConnRate, 1, now);
        if request {
            e.add(def, D::HttpReqCnt, 1, now);
            e.add(def, D::HttpReqRate, 1, now);
        }
        if let Some(status) = response {
            count_status(e, def, status, now);
        }
        l.touch(&key, now);
    }
    let t = Tracked { table: table.clone(), key };
    CURRENT.with(|c| {
        let mut c = c.borrow_mut();
        let trackers = c.0.get_or_insert_with(Default::default);
        match level {
            Level::Connection => trackers.conn[n] = Some(t),
            Level::Stream => trackers.stream[n] = Some(t),
        }
    });
    true
}

/// The `tcp-request connection` rules ran: unless the connection was `rejected`,
/// `sess_*` counts on the connection's counters.
pub fn session_accepted_unless(rejected: bool) {
    if rejected || !active() {
        return;
    }
    let now = super::now_ms();
    let conn: Vec<Tracked> = with(|t| t.conn.iter().flatten().cloned().collect()).unwrap_or_default();
    for t in conn {
        let mut l = t.table.lock(now);
        if let Some(e) = l.get_mut(&t.key) {
            e.add(&t.table.def, D::SessCnt, 1, now);
            e.add(&t.table.def, D::SessRate, 1, now);
            l.touch(&t.key, now);
        }
    }
}

/// A new HTTP request head was read: `http_req_*` on the counters tracked now.
pub fn http_request() {
    count(|e, def, now| {
        e.add(def, D::HttpReqCnt, 1, now);
        e.add(def, D::HttpReqRate, 1, now);
    });
}

/// An HTTP error status: a server's response, or an error the proxy answers (`deny`,
/// `tarpit`, an invalid request, no server): a 4xx counts `http_err_*`, a 5xx other
/// than 501 and 505 `http_fail_*`. Replies of `return`, `redirect` and services do not
/// count, as in HAProxy 2.6.
pub fn http_status(status: u16) {
    count(|e, def, now| count_status(e, def, status, now));
}

fn count_status(e: &mut super::table::Entry, def: &super::table::TableDef, status: u16, now: u64) {
    let (cnt, rate) = match status {
        400..=499 => (D::HttpErrCnt, D::HttpErrRate),
        500..=599 if status != 501 && status != 505 => (D::HttpFailCnt, D::HttpFailRate),
        _ => return,
    };
    e.add(def, cnt, 1, now);
    e.add(def, rate, 1, now);
}

/// A transaction (HTTP) or a stream (TCP) ended, having read `bytes_in` from the
/// client and sent it `bytes_out`: the byte counters, then, when `release_now`, the
/// stream's trackers leave (else they leave with the session, once the stream's log
/// line is written: its samples still see them).
pub fn txn_end(bytes_in: u64, bytes_out: u64, release_now: bool) {
    if !active() {
        return;
    }
    count(|e, def, now| {
        e.add(def, D::BytesInCnt, bytes_in, now);
        e.add(def, D::BytesInRate, bytes_in, now);
        e.add(def, D::BytesOutCnt, bytes_out, now);
        e.add(def, D::BytesOutRate, bytes_out, now);
    });
    if !release_now {
        return;
    }
    let gone = with(|t| {
        t.stores.clear();
        std::mem::take(&mut t.stream)
    });
    for t in gone.into_iter().flatten().flatten() {
        release(t);
    }
}

fn release(t: Tracked) {
    let now = super::now_ms();
    let mut l = t.table.lock(now);
    if let Some(e) = l.get_mut(&t.key) {
        e.ref_cnt = e.ref_cnt.saturating_sub(1);
        e.dec(&t.table.def, D::ConnCur);
        l.touch(&t.key, now);
    }
}

impl Drop for Trackers {
    fn drop(&mut self) {
        for t in self.stream.iter_mut().chain(self.conn.iter_mut()) {
            if let Some(t) = t.take() {
                release(t);
            }
        }
    }
}

/// Leaves `key` of `table` to store when a server is chosen (one key per table, at
/// most `max`).
pub fn add_store(table: &Arc<Table>, key: Key, max: usize) {
    CURRENT.with(|c| {
        let mut c = c.borrow_mut();
        let t = c.0.get_or_insert_with(Default::default);
        if t.stores.len() < max && !t.stores.iter().any(|(x, _)| Arc::ptr_eq(x, table)) {
            t.stores.push((table.clone(), key));
        }
    });
}

/// The keys left by [`add_store`], taken.
pub fn take_stores() -> Vec<(Arc<Table>, Key)> {
    with(|t| std::mem::take(&mut t.stores)).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stick::data::parse_store_item;
    use crate::stick::TableDef;

    fn table() -> Arc<Table> {
        let store = ["conn_cnt", "conn_cur", "sess_cnt", "http_req_cnt", "http_err_cnt", "bytes_in_cnt"];
        Arc::new(Table::new(TableDef {
            name: "t".into(),
            key: crate::stick::KeyType::Ip,
            key_len: 4,
            size: 10,
            expire: None,
            nopurge: false,
            peers: None,
            store: store.iter().map(|s| parse_store_item(s).unwrap()).collect(),
            location: None,
        }))
    }

    fn read(t: &Table, key: &Key, ty: D) -> i64 {
        let l = t.lock(crate::stick::now_ms());
        l.get(key).unwrap().read(&t.def, ty, crate::stick::now_ms()).unwrap()
    }

    #[test]
    fn a_stream_counts_then_gives_its_entries_back() {
        let t = table();
        let key = t.def.key_from_text("10.0.0.1").unwrap();
        let mut stream = Session::default();
        let outer = enter(&mut stream);
        assert!(track(0, Level::Connection, &t, key.clone(), false, None));
        session_accepted_unless(false);
        // A request rule tracks the same entry: the request counts at once.
        assert!(track(1, Level::Stream, &t, key.clone(), true, None));
        assert!(track(1, Level::Stream, &t, key.clone(), true, None), "a second track-sc1 is ignored");
        http_status(404);
        txn_end(100, 10, true);
        assert!(tracked(1).is_none() && tracked(0).is_some(), "the connection's counter stays");
        leave(&mut stream, outer);
        assert!(stream.is_tracking());
        assert_eq!(read(&t, &key, D::ConnCnt), 2);
        assert_eq!(read(&t, &key, D::ConnCur), 1, "the request's tracker left with its transaction");
        assert_eq!(read(&t, &key, D::SessCnt), 1);
        assert_eq!(read(&t, &key, D::HttpReqCnt), 1);
        assert_eq!(read(&t, &key, D::HttpErrCnt), 2, "both counters saw the 404");
        assert_eq!(read(&t, &key, D::BytesInCnt), 200);
        drop(stream);
        assert_eq!(read(&t, &key, D::ConnCur), 0);
        assert_eq!(t.lock(crate::stick::now_ms()).get(&key).unwrap().ref_cnt, 0);
    }
}
