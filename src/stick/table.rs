//! One stick table: its definition (`stick-table type ... size ... store ...`) and its
//! entries, with HAProxy's expiry and eviction rules.
//!
//! - Every update of an entry ("touch") sets its expiry to now + `expire`; an entry
//!   whose expiry passed is removed, unless a stream tracks it (its `use` count).
//! - A new entry in a full table first evicts the least recently touched entries that
//!   no stream tracks (a batch of `size/256 + 1`, as HAProxy trashes the oldest); with
//!   `nopurge`, or when every entry is in use, the new entry is refused.
//!
//! Times are milliseconds of the process clock ([`super::now_ms`]); every method takes
//! `now` so the rules are tested without waiting.

use super::data::{Data, DataType, Stored, Value};
use crate::sample::{Sample, SampleType};
use std::collections::{BTreeMap, HashMap};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::{Mutex, MutexGuard};

/// The type of a table's keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyType {
    Ip,
    Ipv6,
    Integer,
    String,
    Binary,
}

impl KeyType {
    pub fn name(self) -> &'static str {
        match self {
            KeyType::Ip => "ip",
            KeyType::Ipv6 => "ipv6",
            KeyType::Integer => "integer",
            KeyType::String => "string",
            KeyType::Binary => "binary",
        }
    }
}

/// What `stick-table` (or a `peers` section's `table`) declares.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableDef {
    pub name: String,
    pub key: KeyType,
    /// Key length in bytes (`len`; fixed for ip, ipv6 and integer).
    pub key_len: usize,
    pub size: usize,
    /// `expire`, milliseconds.
    pub expire: Option<u64>,
    pub nopurge: bool,
    /// `peers <name>`: recorded, no synchronisation.
    pub peers: Option<String>,
    /// The `store` list, in HAProxy's data-type order.
    pub store: Vec<Stored>,
    /// Where it was declared (tables are listed in declaration order).
    pub location: Option<crate::config::model::Location>,
}

impl TableDef {
    /// Where `ty` is in an entry's data, if stored.
    pub fn index(&self, ty: DataType) -> Option<usize> {
        self.store.iter().position(|s| s.ty == ty)
    }

    /// Where element `idx` of `ty` is (0 for a type that is not an array): the index in
    /// the `store` list and, for arrays, the element. A legacy type the table does not
    /// store resolves to its array element (`gpc1` to `gpc[1]`), as in HAProxy 2.6.
    pub fn locate(&self, ty: DataType, idx: usize) -> Option<(usize, Option<usize>)> {
        if let Some(i) = self.index(ty) {
            return match ty.is_array() {
                true => (idx < self.store[i].count as usize).then_some((i, Some(idx))),
                false => (idx == 0).then_some((i, None)),
            };
        }
        match ty.legacy_element() {
            Some((array, elem)) if idx == 0 => self.locate(array, elem),
            _ => None,
        }
    }

    /// Whether the table answers for `ty` (stored, or through an array).
    pub fn stores(&self, ty: DataType) -> bool {
        self.locate(ty, 0).is_some()
    }

    /// The key for `sample` (HAProxy's `smp_to_stkey`): cast to the key type, strings
    /// cut to `len`, binary keys padded with zeros. `None` when the cast fails.
    pub fn key_of(&self, sample: Sample) -> Option<Key> {
        Some(Key(match self.key {
            KeyType::Ip => match sample.cast(SampleType::Ipv4)? {
                Sample::Ipv4(a) => a.octets().to_vec(),
                _ => return None,
            },
            KeyType::Ipv6 => match sample.cast(SampleType::Ipv6)? {
                Sample::Ipv6(a) => a.octets().to_vec(),
                _ => return None,
            },
            KeyType::Integer => (sample.to_int()? as u32).to_be_bytes().to_vec(),
            KeyType::String => {
                let mut s = sample.into_bytes()?;
                s.truncate(self.key_len);
                s
            }
            KeyType::Binary => {
                let mut b = match sample.cast(SampleType::Bin)? {
                    Sample::Bin(b) => b,
                    _ => return None,
                };
                b.resize(self.key_len, 0);
                b
            }
        }))
    }

    /// The key written on the CLI (`key <k>`); `None` when it does not parse.
    pub fn key_from_text(&self, text: &str) -> Option<Key> {
        match self.key {
            KeyType::Ip => self.key_of(Sample::Ipv4(text.parse::<Ipv4Addr>().ok()?)),
            KeyType::Ipv6 => self.key_of(Sample::Ipv6(text.parse::<Ipv6Addr>().ok()?)),
            KeyType::Integer => self.key_of(Sample::Sint(text.parse::<u32>().ok()? as i64)),
            KeyType::String => self.key_of(Sample::str(text)),
            KeyType::Binary => None,
        }
    }

    /// The key as `show table` prints it.
    pub fn key_text(&self, key: &Key) -> String {
        let b = &key.0;
        match self.key {
            KeyType::Ip if b.len() == 4 => Ipv4Addr::new(b[0], b[1], b[2], b[3]).to_string(),
            KeyType::Ipv6 if b.len() == 16 => {
                let mut o = [0u8; 16];
                o.copy_from_slice(b);
                Ipv6Addr::from(o).to_string()
            }
            KeyType::Integer if b.len() == 4 => u32::from_be_bytes([b[0], b[1], b[2], b[3]]).to_string(),
            KeyType::String => String::from_utf8_lossy(b).into_owned(),
            _ => b.iter().map(|c| format!("{c:02x}")).collect(),
        }
    }

    /// The key as a sample (the Lua `StickTable` and `stick` rules read it back).
    pub fn key_sample(&self, key: &Key) -> Sample {
        match self.key {
            KeyType::Integer => Sample::Sint(self.key_text(key).parse().unwrap_or(0)),
            KeyType::Binary => Sample::Bin(key.0.clone()),
            _ => Sample::str(self.key_text(key)),
        }
    }
}

/// A key in its table's binary form.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key(pub Vec<u8>);

/// One entry.
#[derive(Clone, Debug)]
pub struct Entry {
    pub data: Data,
    /// Streams tracking the entry (`use=` in `show table`); never evicted while > 0.
    pub ref_cnt: u32,
    /// Last touch + `expire` (the last touch without `expire`): the eviction order.
    pub expire: u64,
    /// Tie-breaker of the eviction index, and the order of updates (peers push the
    /// entries updated after the last one they sent).
    seq: u64,
    /// The last update came from a peer (`crate::peers`): not pushed back to peers.
    pub from_peer: bool,
}

#[derive(Default)]
struct Entries {
    map: HashMap<Key, Entry>,
    /// (expire, seq) → key: the least recently touched first.
    order: BTreeMap<(u64, u64), Key>,
    /// seq → key: the update order, for peers.
    updates: BTreeMap<u64, Key>,
    next_seq: u64,
}

/// A table: its definition and its entries behind a mutex (tables are shared by every
/// reactor thread; each operation holds the lock briefly).
pub struct Table {
    pub def: TableDef,
    entries: Mutex<Entries>,
}

impl std::fmt::Debug for Table {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Table({})", self.def.name)
    }
}

/// The entries of a table, locked: what the operations below work on.
pub struct Locked<'t> {
    def: &'t TableDef,
    e: MutexGuard<'t, Entries>,
}

impl Table {
    pub fn new(def: TableDef) -> Table {
        Table { def, entries: Mutex::new(Entries::default()) }
    }

    /// Locks the entries, first removing those expired at `now` that no stream tracks.
    pub fn lock(&self, now: u64) -> Locked<'_> {
        // A thread that panicked with the lock held left consistent data: every
        // operation below completes its changes before returning.
        let e = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let mut l = Locked { def: &self.def, e };
        l.purge_expired(now);
        l
    }
}

impl Locked<'_> {
    pub fn used(&self) -> usize {
        self.e.map.len()
    }

    pub fn get(&self, key: &Key) -> Option<&Entry> {
        self.e.map.get(key)
    }

    /// The entry for `key`, created if missing (`None`: the table is full and nothing
    /// could be evicted). A new entry is touched; an existing one is left as it is.
    pub fn get_or_create(&mut self, key: &Key, now: u64) -> Option<&mut Entry> {
        if !self.e.map.contains_key(key) {
            if self.e.map.len() >= self.def.size && !self.evict_oldest() {
                return None;
            }
            let entry = Entry { data: Data::new(&self.def.store), ref_cnt: 0, expire: 0, seq: 0, from_peer: false };
            self.e.map.insert(key.clone(), entry);
            self.touch(key, now);
        }
        self.e.map.get_mut(key)
    }

    pub fn get_mut(&mut self, key: &Key) -> Option<&mut Entry> {
        self.e.map.get_mut(key)
    }

    /// Sets the entry's expiry to `now + expire` and moves it to the end of the
    /// eviction order.
    pub fn touch(&mut self, key: &Key, now: u64) {
        self.touch_at(key, now + self.def.expire.unwrap_or(0), false);
    }

    /// The update of a peer: the entry expires at `expire` (the peer may tell how long
    /// it still has) and is not pushed back to peers.
    pub fn touch_from_peer(&mut self, key: &Key, expire: u64) {
        self.touch_at(key, expire, true);
    }

    fn touch_at(&mut self, key: &Key, expire: u64, from_peer: bool) {
        // Seqs start at 1: 0 is a new entry's, not yet in the indexes.
        self.e.next_seq += 1;
        let seq = self.e.next_seq;
        let Some(entry) = self.e.map.get_mut(key) else { return };
        let old = (entry.expire, entry.seq);
        entry.expire = expire;
        entry.seq = seq;
        entry.from_peer = from_peer;
        if old.1 != 0 {
            self.e.order.remove(&old);
            self.e.updates.remove(&old.1);
        }
        self.e.order.insert((expire, seq), key.clone());
        self.e.updates.insert(seq, key.clone());
    }

    /// Up to `max` entries updated after update `seq`, oldest update first, with the
    /// seq of their last update.
    pub fn updated_after(&self, seq: Option<u64>, max: usize) -> Vec<(u64, Key)> {
        let from = seq.map_or(std::ops::Bound::Unbounded, std::ops::Bound::Excluded);
        self.e.updates.range((from, std::ops::Bound::Unbounded)).take(max).map(|(s, k)| (*s, k.clone())).collect()
    }

    /// Removes `key` unless a stream tracks it; true when removed.
    pub fn remove(&mut self, key: &Key) -> bool {
        match self.e.map.get(key) {
            Some(entry) if entry.ref_cnt == 0 => {
                let at = (entry.expire, entry.seq);
                self.e.map.remove(key);
                self.e.order.remove(&at);
                self.e.updates.remove(&at.1);
                true
            }
            _ => false,
        }
    }

    /// The keys in eviction order (oldest first), for dumps.
    pub fn keys(&self) -> Vec<Key> {
        self.e.order.values().cloned().collect()
    }

    fn purge_expired(&mut self, now: u64) {
        if self.def.expire.is_none() {
            return;
        }
        let expired: Vec<Key> = self
            .e
            .order
            .range(..(now + 1, 0))
            .map(|(_, k)| k.clone())
            .filter(|k| self.e.map.get(k).is_some_and(|e| e.ref_cnt == 0))
            .collect();
        for k in expired {
            self.remove(&k);
        }
    }

    /// Frees room for a new entry: the oldest entries no stream tracks, a batch of
    /// `size/256 + 1`. False with `nopurge` or when nothing could go.
    fn evict_oldest(&mut self) -> bool {
        if self.def.nopurge {
            return false;
        }
        let batch = self.def.size / 256 + 1;
        let victims: Vec<Key> = self
            .e
            .order
            .values()
            .filter(|k| self.e.map.get(*k).is_some_and(|e| e.ref_cnt == 0))
            .take(batch)
            .cloned()
            .collect();
        for k in &victims {
            self.remove(k);
        }
        !victims.is_empty()
    }
}

impl Entry {
    /// The order of the entry's last update among the table's.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// The value of `ty` as stored (not resolved through the arrays): `server_key`.
    pub fn value<'e>(&'e self, def: &TableDef, ty: DataType) -> Option<&'e Value> {
        def.index(ty).map(|i| &self.data.0[i])
    }

    /// Element `idx` of `ty` (0 for other types) and its period.
    fn at(&self, def: &TableDef, ty: DataType, idx: usize) -> Option<(&Value, u32)> {
        let (i, elem) = def.locate(ty, idx)?;
        let v = &self.data.0[i];
        let v = match (v, elem) {
            (Value::Array(a), Some(e)) => a.get(e)?,
            (v, _) => v,
        };
        Some((v, def.store[i].period))
    }

    fn at_mut(&mut self, def: &TableDef, ty: DataType, idx: usize) -> Option<(&mut Value, u32)> {
        let (i, elem) = def.locate(ty, idx)?;
        let period = def.store[i].period;
        let v = match (&mut self.data.0[i], elem) {
            (Value::Array(a), Some(e)) => a.get_mut(e)?,
            (v, _) => v,
        };
        Some((v, period))
    }

    /// The value of `ty` as an integer read at `now` (rates over their period).
    pub fn read(&self, def: &TableDef, ty: DataType, now: u64) -> Option<i64> {
        self.read_at(def, ty, 0, now)
    }

    /// [`Entry::read`] of element `idx` of an array type.
    pub fn read_at(&self, def: &TableDef, ty: DataType, idx: usize, now: u64) -> Option<i64> {
        let (v, period) = self.at(def, ty, idx)?;
        Some(match v {
            Value::Sint(v) => i64::from(*v),
            Value::Uint(v) => i64::from(*v),
            Value::Ull(v) => *v as i64,
            Value::Rate(f) => i64::from(f.read(now, period)),
            Value::Str(_) | Value::Array(_) => return None,
        })
    }

    /// Adds `n` to a counter, or counts `n` events on a rate; false if not stored.
    pub fn add(&mut self, def: &TableDef, ty: DataType, n: u64, now: u64) -> bool {
        self.add_at(def, ty, 0, n, now)
    }

    /// [`Entry::add`] on element `idx` of an array type.
    pub fn add_at(&mut self, def: &TableDef, ty: DataType, idx: usize, n: u64, now: u64) -> bool {
        let Some((v, period)) = self.at_mut(def, ty, idx) else { return false };
        match v {
            Value::Uint(v) => *v = v.wrapping_add(n as u32),
            Value::Ull(v) => *v = v.wrapping_add(n),
            Value::Sint(v) => *v = v.wrapping_add(n as i32),
            Value::Rate(f) => f.add(now, period, n as u32),
            Value::Str(_) | Value::Array(_) => return false,
        }
        true
    }

    /// Decrements a counter (never below 0); `conn_cur` when a tracker leaves.
    pub fn dec(&mut self, def: &TableDef, ty: DataType) {
        if let Some((Value::Uint(v), _)) = self.at_mut(def, ty, 0) {
            *v = v.saturating_sub(1);
        }
    }

    /// Sets `server_key` (the server's name).
    pub fn set_str(&mut self, def: &TableDef, ty: DataType, v: &str) -> bool {
        match def.index(ty).map(|i| &mut self.data.0[i]) {
            Some(Value::Str(s)) => {
                *s = v.to_string();
                true
            }
            _ => false,
        }
    }

    /// Sets an integer datum (`set table`, `sc-set-gpt0`, `clr_gpc0`, `server_id`).
    /// A rate is reset and counts `v` events now, as HAProxy's `set table` does.
    pub fn set(&mut self, def: &TableDef, ty: DataType, v: i64, now: u64) -> bool {
        self.set_at(def, ty, 0, v, now)
    }

    /// [`Entry::set`] of element `idx` of an array type.
    pub fn set_at(&mut self, def: &TableDef, ty: DataType, idx: usize, v: i64, now: u64) -> bool {
        let Some((x, period)) = self.at_mut(def, ty, idx) else { return false };
        match x {
            Value::Uint(x) => *x = v as u32,
            Value::Ull(x) => *x = v as u64,
            Value::Sint(x) => *x = v as i32,
            Value::Rate(f) => {
                *f = Default::default();
                f.add(now, period, v as u32);
            }
            Value::Str(_) | Value::Array(_) => return false,
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stick::data::parse_store_item;

    fn def(size: usize, expire: Option<u64>, nopurge: bool) -> TableDef {
        TableDef {
            name: "t".into(),
            key: KeyType::Ip,
            key_len: 4,
            size,
            expire,
            nopurge,
            peers: None,
            store: vec![parse_store_item("gpc0").unwrap(), parse_store_item("http_req_rate(10s)").unwrap()],
            location: None,
        }
    }

    fn key(t: &TableDef, ip: &str) -> Key {
        t.key_from_text(ip).unwrap()
    }

    #[test]
    fn full_table_evicts_the_least_recently_touched_unused_entry() {
        let t = Table::new(def(2, None, false));
        let (a, b, c) = (key(&t.def, "10.0.0.1"), key(&t.def, "10.0.0.2"), key(&t.def, "10.0.0.3"));
        let mut l = t.lock(0);
        l.get_or_create(&a, 1).unwrap().ref_cnt = 1; // a stream tracks a
        l.get_or_create(&b, 2).unwrap();
        l.touch(&a, 3);
        assert!(l.get_or_create(&c, 4).is_some());
        assert!(l.get(&a).is_some() && l.get(&b).is_none(), "b was the oldest unused entry");
        l.get_mut(&c).unwrap().ref_cnt = 1;
        assert!(l.get_or_create(&b, 5).is_none(), "every entry is in use");
    }

    #[test]
    fn nopurge_refuses_new_entries_and_expiry_spares_tracked_ones() {
        let t = Table::new(def(1, Some(1_000), true));
        let (a, b) = (key(&t.def, "10.0.0.1"), key(&t.def, "10.0.0.2"));
        t.lock(0).get_or_create(&a, 0).unwrap();
        assert!(t.lock(10).get_or_create(&b, 10).is_none());
        assert_eq!(t.lock(1_001).used(), 0, "expired");
        t.lock(2_000).get_or_create(&a, 2_000).unwrap().ref_cnt = 1;
        assert_eq!(t.lock(5_000).used(), 1, "tracked entries do not expire");
    }

    #[test]
    fn keys_cast_and_print() {
        let mut d = def(1, None, false);
        assert_eq!(d.key_text(&d.key_of(Sample::str("1.2.3.4")).unwrap()), "1.2.3.4");
        assert!(d.key_of(Sample::Ipv6("2001:db8::1".parse().unwrap())).is_none());
        d.key = KeyType::String;
        d.key_len = 3;
        assert_eq!(d.key_of(Sample::Sint(12345)).unwrap().0, b"123");
        d.key = KeyType::Integer;
        assert_eq!(d.key_text(&d.key_from_text("42").unwrap()), "42");
        d.key = KeyType::Binary;
        d.key_len = 4;
        assert_eq!(d.key_of(Sample::Bin(vec![1])).unwrap().0, vec![1, 0, 0, 0]);
    }
}
