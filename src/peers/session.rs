//! One peer connection after the handshake, without I/O: the bytes received go in
//! ([`Session::receive`]), the bytes to send come out in [`Session::out`], and the
//! tables are read and written as the messages say.
//!
//! What a session does:
//! - applies the updates it receives to the table of the same name (and key type),
//!   acknowledging them;
//! - pushes the updates of its tables made after the last one it pushed (or the last
//!   one the peer acknowledged on an earlier connection), announcing each table once
//!   with a definition message; the updates that came from peers are not pushed back;
//! - answers a resynchronisation request by pushing every entry (those from peers
//!   too), then "finished";
//! - to the local peer (the next process, on a reload), pushes every entry with its
//!   remaining time (the "timed" updates), then "finished", then what changes.

use super::codec::{self, Define, Entry as WireEntry, Error, KeyFormat, Reader, UpdateHead, WireType, WireValue};
use crate::stick::data::{DataType, FreqCtr, Value};
use crate::stick::{Key, KeyType, Table};
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

/// Updates encoded per table and call of [`Session::push`].
const BATCH: usize = 512;
/// Output not yet sent above which no more updates are encoded.
const OUT_HIGH: usize = 256 * 1024;

/// What the node learns from a session.
#[derive(Debug, PartialEq, Eq)]
pub enum Event {
    /// The peer acknowledged our updates of table `table` up to update `seq`.
    Acked { table: usize, seq: u64 },
    /// The resynchronisation we asked for finished (`full`) or was partial.
    Resynced { full: bool },
}

/// A table as the peer announced it.
struct Remote {
    /// Index in our tables; None for a table we do not have (its updates are skipped).
    local: Option<usize>,
    key: KeyFormat,
    types: Vec<WireType>,
    expire: u64,
    /// The last update id received, and whether it is not acknowledged yet.
    last_id: u32,
    unacked: bool,
}

/// What we push of one of our tables.
#[derive(Default)]
struct Out {
    defined: bool,
    /// The seq of the last update pushed.
    pushed: Option<u64>,
    last_id: u32,
    /// Update ids sent and the seq they carried, until acknowledged.
    sent: VecDeque<(u32, u64)>,
    /// The last update id the peer acknowledged.
    acked_id: u32,
    /// While teaching: push until this seq, entries from peers included.
    teach_until: Option<u64>,
}

pub struct Session {
    tables: Vec<Arc<Table>>,
    /// Bytes to send.
    pub out: Vec<u8>,
    remotes: HashMap<u64, Remote>,
    current_remote: Option<u64>,
    outs: Vec<Out>,
    current_out: Option<usize>,
    /// The connection to the local peer (the other process of a reload): updates carry
    /// their remaining time, and the entries from peers are pushed too.
    local_peer: bool,
    /// Teaching every entry: "finished" is sent once every table is pushed.
    teaching: bool,
    /// We asked this peer for a resynchronisation...
    pub asked_resync: bool,
    /// ... and it answered (not asked again on this connection, even if partial).
    pub resync_answered: bool,
    /// server_key values by the peer's dictionary ids.
    dict: HashMap<u64, Vec<u8>>,
    /// Heartbeats received (`show peers`).
    pub rx_heartbeats: u64,
}

/// The name of a table on the wire: a `peers` section's table `<section>/<t>` goes as
/// `/<t>` (what HAProxy 2.6 sends), a proxy's under the proxy's name.
pub fn wire_name(table: &Table) -> Vec<u8> {
    let name = &table.def.name;
    match &table.def.peers {
        Some(p) if name.starts_with(&format!("{p}/")) => name.as_bytes()[p.len()..].to_vec(),
        _ => name.as_bytes().to_vec(),
    }
}

fn key_format(key: KeyType, len: usize) -> KeyFormat {
    match key {
        KeyType::String => KeyFormat { string: true, len: len + 1 },
        KeyType::Ip => KeyFormat { string: false, len: 4 },
        KeyType::Ipv6 => KeyFormat { string: false, len: 16 },
        KeyType::Integer => KeyFormat { string: false, len: 4 },
        KeyType::Binary => KeyFormat { string: false, len },
    }
}

/// The types we announce and push: all the table stores but `server_key` (its
/// dictionary encoding is not implemented: doc/stick-tables.md).
fn wire_types(table: &Table) -> Vec<(usize, WireType)> {
    let store = &table.def.store;
    let mut v: Vec<(usize, WireType)> = store
        .iter()
        .enumerate()
        .filter(|(_, s)| s.ty != DataType::ServerKey)
        .map(|(i, s)| (i, WireType { ty: s.ty, count: s.count, period: s.period }))
        .collect();
    v.sort_by_key(|(_, t)| codec::data_type_code(t.ty));
    v
}

impl Session {
    /// `resume[i]`: the last update of table `i` the peer acknowledged before.
    pub fn new(tables: Vec<Arc<Table>>, resume: &[Option<u64>], local_peer: bool) -> Session {
        let outs = (0..tables.len()).map(|i| Out { pushed: resume.get(i).copied().flatten(), ..Default::default() }).collect();
        Session {
            tables,
            out: Vec::new(),
            remotes: HashMap::new(),
            current_remote: None,
            outs,
            current_out: None,
            local_peer,
            teaching: false,
            asked_resync: false,
            resync_answered: false,
            dict: HashMap::new(),
            rx_heartbeats: 0,
        }
    }

    /// Whether a full push is running ("finished" not sent yet).
    pub fn is_teaching(&self) -> bool {
        self.teaching
    }

    /// For `show peers`, table `i`: the peer's id of it, the last of the peer's update
    /// ids we acknowledged, the last we pushed, the last we received, and the last of
    /// ours the peer acknowledged.
    pub fn table_view(&self, i: usize) -> [u64; 5] {
        let remote = self.remotes.iter().find(|(_, r)| r.local == Some(i));
        let o = &self.outs[i];
        let (id, get, acked) = remote.map_or((0, 0, 0), |(id, r)| (*id, r.last_id, if r.unacked { r.last_id.wrapping_sub(1) } else { r.last_id }));
        [id, u64::from(acked), u64::from(o.last_id), u64::from(get), u64::from(o.acked_id)]
    }

    pub fn send_control(&mut self, ty: u8) {
        codec::put_short(&mut self.out, codec::CLASS_CONTROL, ty);
    }

    pub fn ask_resync(&mut self) {
        self.asked_resync = true;
        self.send_control(codec::CTRL_RESYNC_REQUEST);
    }

    /// Pushes every entry (from peers too) then "finished".
    pub fn teach(&mut self) {
        for (i, o) in self.outs.iter_mut().enumerate() {
            let last = self.tables[i].lock(crate::stick::now_ms()).updated_after(None, usize::MAX).last().map(|(s, _)| *s);
            o.pushed = None;
            o.teach_until = last;
        }
        self.teaching = true;
    }

    /// Handles the messages in `buf`; returns how many bytes were used. `Err`: the peer
    /// spoke wrong bytes (the reason) and is to be dropped.
    pub fn receive(&mut self, buf: &[u8], now: u64, events: &mut Vec<Event>) -> Result<usize, String> {
        let mut used = 0;
        loop {
            let (frame, len) = match codec::next_frame(&buf[used..]) {
                Ok(Some(f)) => f,
                Ok(None) => break,
                Err(Error::Invalid(e)) => return Err(e),
                Err(Error::Incomplete) => break,
            };
            self.message(frame.class, frame.ty, frame.body, now, events).map_err(|e| match e {
                Error::Invalid(e) => e,
                Error::Incomplete => "message truncated".to_string(),
            })?;
            used += len;
        }
        self.send_acks();
        Ok(used)
    }

    fn message(&mut self, class: u8, ty: u8, body: &[u8], now: u64, events: &mut Vec<Event>) -> Result<(), Error> {
        match (class, ty) {
            (codec::CLASS_CONTROL, codec::CTRL_RESYNC_REQUEST) => self.teach(),
            (codec::CLASS_CONTROL, t @ (codec::CTRL_RESYNC_FINISHED | codec::CTRL_RESYNC_PARTIAL)) => {
                self.send_control(codec::CTRL_RESYNC_CONFIRM);
                if std::mem::take(&mut self.asked_resync) || self.local_peer {
                    self.resync_answered = true;
                    events.push(Event::Resynced { full: t == codec::CTRL_RESYNC_FINISHED });
                }
            }
            (codec::CLASS_CONTROL, codec::CTRL_HEARTBEAT) => self.rx_heartbeats += 1,
            (codec::CLASS_CONTROL, _) => {} // confirm
            (codec::CLASS_ERROR, t) => {
                let what = if t == codec::ERR_SIZE_LIMIT { "a message too large" } else { "a protocol error" };
                return Err(Error::Invalid(format!("the peer reported {what}")));
            }
            (codec::CLASS_TABLE, codec::TBL_DEFINE) => {
                let d = Define::decode(body)?;
                let local = self.tables.iter().position(|t| wire_name(t) == d.name);
                let local = local.filter(|&i| {
                    let def = &self.tables[i].def;
                    let k = key_format(def.key, def.key_len);
                    codec::key_type_code(def.key) == d.key_type && k.len as u64 == d.key_len
                });
                let key = KeyFormat { string: d.key_type == codec::key_type_code(KeyType::String), len: d.key_len.min(1 << 16) as usize };
                self.remotes.insert(d.id, Remote { local, key, types: d.types, expire: d.expire, last_id: 0, unacked: false });
                self.current_remote = Some(d.id);
            }
            (codec::CLASS_TABLE, codec::TBL_SWITCH) => {
                let id = Reader::new(body).varint()?;
                if !self.remotes.contains_key(&id) {
                    return Err(Error::Invalid(format!("switch to table {id}, never defined")));
                }
                self.current_remote = Some(id);
            }
            (codec::CLASS_TABLE, codec::TBL_ACK) => {
                let (id, update) = codec::decode_ack(body)?;
                let Some(i) = usize::try_from(id).ok().and_then(|id| id.checked_sub(1)).filter(|i| *i < self.outs.len()) else {
                    return Ok(()); // an ack for a table we did not define: ignored
                };
                let o = &mut self.outs[i];
                o.acked_id = update;
                let mut acked = None;
                while let Some(&(sent, seq)) = o.sent.front() {
                    if update.wrapping_sub(sent) >= 1 << 31 {
                        break; // after the acknowledged one
                    }
                    acked = Some(seq);
                    o.sent.pop_front();
                }
                if let Some(seq) = acked {
                    events.push(Event::Acked { table: i, seq });
                }
            }
            (codec::CLASS_TABLE, t @ (codec::TBL_UPDATE | codec::TBL_INC_UPDATE | codec::TBL_UPDATE_TIMED | codec::TBL_INC_UPDATE_TIMED)) => {
                let id = self.current_remote.ok_or(Error::Invalid("update before any table definition".into()))?;
                let remote = self.remotes.get_mut(&id).expect("current table is defined");
                let mut r = Reader::new(body);
                let head = UpdateHead::decode(t, &mut r)?;
                let entry = WireEntry::decode(&mut r, remote.key, &remote.types)?;
                remote.last_id = head.id.unwrap_or(remote.last_id.wrapping_add(1));
                remote.unacked = true;
                if let Some(local) = remote.local {
                    let expire = head.expire.map(u64::from).unwrap_or(remote.expire);
                    let types = remote.types.clone();
                    self.apply(local, &types, entry, expire, now);
                }
            }
            (codec::CLASS_TABLE, _) => {} // a later message type: skipped, as its length says
            _ => return Err(Error::Invalid(format!("unknown message class {class}"))),
        }
        Ok(())
    }

    fn send_acks(&mut self) {
        let mut ids: Vec<u64> = self.remotes.iter().filter(|(_, r)| r.unacked).map(|(id, _)| *id).collect();
        ids.sort_unstable();
        for id in ids {
            let r = self.remotes.get_mut(&id).expect("listed");
            r.unacked = false;
            codec::put_table_msg(&mut self.out, codec::TBL_ACK, &codec::encode_ack(id, r.last_id));
        }
    }

    /// Writes a received entry into table `local`: the types both sides store.
    fn apply(&mut self, local: usize, types: &[WireType], entry: WireEntry, expire_in: u64, now: u64) {
        let table = self.tables[local].clone();
        let def = &table.def;
        let key = Key(match def.key {
            KeyType::String => {
                let mut k = entry.key;
                k.truncate(def.key_len);
                k
            }
            _ => entry.key,
        });
        let mut l = table.lock(now);
        let Some(e) = l.get_or_create(&key, now) else { return };
        for (t, v) in types.iter().zip(entry.values) {
            let Some(i) = def.index(t.ty) else { continue };
            if let WireValue::Dict(d) = &v {
                if let Some((id, value)) = d {
                    if let Some(value) = value {
                        self.dict.insert(*id, value.clone());
                    }
                    if let (Some(s), Value::Str(dst)) = (self.dict.get(id), &mut e.data.0[i]) {
                        *dst = String::from_utf8_lossy(s).into_owned();
                    }
                }
                continue;
            }
            set_value(&mut e.data.0[i], v, now);
        }
        let expire = if def.expire.is_some() { now + expire_in } else { now };
        l.touch_from_peer(&key, expire);
    }

    /// Encodes the updates of our tables made since the last push.
    pub fn push(&mut self, now: u64) {
        for i in 0..self.tables.len() {
            if self.out.len() >= OUT_HIGH {
                return;
            }
            self.push_table(i, now);
        }
        if self.teaching && self.outs.iter().all(|o| o.teach_until.is_none()) {
            self.teaching = false;
            self.send_control(codec::CTRL_RESYNC_FINISHED);
        }
    }

    fn push_table(&mut self, i: usize, now: u64) {
        let table = self.tables[i].clone();
        let types = wire_types(&table);
        let wire: Vec<WireType> = types.iter().map(|(_, t)| *t).collect();
        let kf = key_format(table.def.key, table.def.key_len);
        let l = table.lock(now);
        let o = &self.outs[i];
        let updates = l.updated_after(o.pushed, BATCH);
        let teaching = o.teach_until;
        for (seq, key) in updates {
            let Some(e) = l.get(&key) else { continue };
            let o = &mut self.outs[i];
            o.pushed = Some(seq);
            if teaching.is_some_and(|t| seq >= t) {
                o.teach_until = None;
            }
            if e.from_peer && teaching.is_none() && !self.local_peer {
                continue;
            }
            if !o.defined {
                o.defined = true;
                let d = Define {
                    id: i as u64 + 1,
                    name: wire_name(&table),
                    key_type: codec::key_type_code(table.def.key),
                    key_len: kf.len as u64,
                    expire: table.def.expire.unwrap_or(0),
                    types: wire.clone(),
                };
                codec::put_table_msg(&mut self.out, codec::TBL_DEFINE, &d.encode());
                self.current_out = Some(i);
            } else if self.current_out != Some(i) {
                let mut b = Vec::new();
                codec::put_varint(&mut b, i as u64 + 1);
                codec::put_table_msg(&mut self.out, codec::TBL_SWITCH, &b);
                self.current_out = Some(i);
            }
            let o = &mut self.outs[i];
            let id = o.last_id.wrapping_add(1);
            o.last_id = id;
            o.sent.push_back((id, seq));
            if o.sent.len() > 1 << 16 {
                o.sent.pop_front();
            }
            let head = UpdateHead { id: Some(id), expire: (self.local_peer && table.def.expire.is_some()).then(|| e.expire.saturating_sub(now).min(u64::from(u32::MAX)) as u32) };
            let mut body = Vec::new();
            let ty = head.encode(&mut body);
            let values = types.iter().map(|(si, _)| wire_value(&e.data.0[*si], now)).collect();
            WireEntry { key: key.0.clone(), values }.encode(kf, &wire, &mut body);
            codec::put_table_msg(&mut self.out, ty, &body);
        }
        let o = &mut self.outs[i];
        if o.teach_until.is_some() && l.updated_after(o.pushed, 1).is_empty() {
            o.teach_until = None; // what was to teach expired meanwhile
        }
    }
}

fn wire_value(v: &Value, now: u64) -> WireValue {
    match v {
        Value::Sint(i) => WireValue::Int(u64::from(*i as u32)),
        Value::Uint(u) => WireValue::Int(u64::from(*u)),
        Value::Ull(u) => WireValue::Int(*u),
        Value::Rate(f) => WireValue::Rate { age: now.wrapping_sub(f.curr_tick) as u32, curr: f.curr, prev: f.prev },
        Value::Str(_) => WireValue::Dict(None),
        Value::Array(a) => WireValue::Array(a.iter().map(|e| wire_value(e, now)).collect()),
    }
}

fn set_value(dst: &mut Value, v: WireValue, now: u64) {
    match (dst, v) {
        (Value::Sint(d), WireValue::Int(i)) => *d = i as u32 as i32,
        (Value::Uint(d), WireValue::Int(i)) => *d = i as u32,
        (Value::Ull(d), WireValue::Int(i)) => *d = i,
        (Value::Rate(f), WireValue::Rate { age, curr, prev }) => *f = FreqCtr { curr_tick: now.saturating_sub(u64::from(age)), curr, prev },
        (Value::Array(d), WireValue::Array(a)) => d.iter_mut().zip(a).for_each(|(d, v)| set_value(d, v, now)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stick::data::parse_store_item;
    use crate::stick::TableDef;

    fn table(name: &str, store: &[&str]) -> Arc<Table> {
        Arc::new(Table::new(TableDef {
            name: name.into(),
            key: KeyType::Ip,
            key_len: 4,
            size: 100,
            expire: Some(60_000),
            nopurge: false,
            peers: Some("p".into()),
            store: store.iter().map(|s| parse_store_item(s).unwrap()).collect(),
            location: None,
        }))
    }

    fn ip(t: &Table, a: &str) -> Key {
        t.def.key_from_text(a).unwrap()
    }

    /// Moves what `from` has to send into `to`; the events `to` reported.
    fn deliver(from: &mut Session, to: &mut Session, now: u64) -> Vec<Event> {
        let mut events = Vec::new();
        let bytes = std::mem::take(&mut from.out);
        assert_eq!(to.receive(&bytes, now, &mut events), Ok(bytes.len()));
        events
    }

    #[test]
    fn updates_go_across_and_are_acknowledged_not_echoed() {
        let now = 1 << 31;
        let (ta, tb) = (table("fe", &["gpc0", "http_req_rate(10s)", "gpc(2)"]), table("fe", &["gpc0", "http_req_rate(10s)", "gpc(2)"]));
        let (mut a, mut b) = (Session::new(vec![ta.clone()], &[None], false), Session::new(vec![tb.clone()], &[None], false));
        let k = ip(&ta, "10.0.0.1");
        {
            let mut l = ta.lock(now);
            let e = l.get_or_create(&k, now).unwrap();
            e.data.0[0] = Value::Uint(5);
            if let Value::Rate(f) = &mut e.data.0[1] {
                f.add(now, 10_000, 3);
            }
            e.data.0[2] = Value::Array(vec![Value::Uint(1), Value::Uint(2)]);
            l.touch(&k, now);
        }
        a.push(now);
        assert!(deliver(&mut a, &mut b, now + 5).is_empty());
        let l = tb.lock(now + 5);
        let e = l.get(&k).expect("the entry arrived");
        assert_eq!(e.data.0[0], Value::Uint(5));
        assert!(matches!(e.data.0[1], Value::Rate(f) if f.read(now + 5, 10_000) == 3));
        assert_eq!(e.data.0[2], Value::Array(vec![Value::Uint(1), Value::Uint(2)]));
        assert!(e.from_peer);
        drop(l);
        // b acknowledges update 1 of table 1, which tells a the seq it carried.
        let acked = deliver(&mut b, &mut a, now);
        assert!(matches!(acked[..], [Event::Acked { table: 0, .. }]), "{acked:?}");
        // b does not send the entry back; a second push of a sends nothing new either.
        b.push(now);
        a.push(now);
        assert!(b.out.is_empty() && a.out.is_empty());
    }

    #[test]
    fn a_resync_request_is_answered_with_everything_then_finished() {
        let now = 1 << 31;
        let (ta, tb) = (table("fe", &["gpc0"]), table("fe", &["gpc0"]));
        // ta has two entries, one of them from a third peer: both are taught.
        for (n, from_peer) in [("10.0.0.1", false), ("10.0.0.2", true)] {
            let k = ip(&ta, n);
            let mut l = ta.lock(now);
            l.get_or_create(&k, now).unwrap();
            if from_peer {
                l.touch_from_peer(&k, now + 60_000);
            }
        }
        let mut a = Session::new(vec![ta.clone()], &[None], false);
        a.push(now);
        let mut b = Session::new(vec![tb.clone()], &[None], false);
        b.ask_resync();
        deliver(&mut b, &mut a, now);
        assert!(a.is_teaching());
        a.push(now);
        assert!(!a.is_teaching());
        let events = deliver(&mut a, &mut b, now);
        assert_eq!(events, [Event::Resynced { full: true }]);
        let keys = tb.lock(now).keys();
        assert_eq!(keys.len(), 2, "{keys:?}");
        // b confirmed (and acknowledged).
        assert!(b.out.windows(2).any(|w| w == [codec::CLASS_CONTROL, codec::CTRL_RESYNC_CONFIRM]));
    }

    #[test]
    fn the_local_peer_gets_remaining_times_and_other_tables_are_skipped() {
        let now = 1 << 31;
        let ta = table("fe", &["gpc0"]);
        let other = table("other", &["gpc0"]);
        let tb = table("fe", &["gpc0"]);
        for t in [&ta, &other] {
            let k = ip(t, "10.0.0.1");
            t.lock(now).get_or_create(&k, now).unwrap();
        }
        // The old process teaches the new one 10 s later: 50 s are left.
        let mut a = Session::new(vec![ta.clone(), other.clone()], &[None, None], true);
        a.teach();
        a.push(now + 10_000);
        let mut b = Session::new(vec![tb.clone()], &[None], true);
        let events = deliver(&mut a, &mut b, now + 10_000);
        assert_eq!(events, [Event::Resynced { full: true }]);
        let l = tb.lock(now + 10_000);
        assert_eq!(l.used(), 1);
        assert_eq!(l.get(&ip(&tb, "10.0.0.1")).unwrap().expire, now + 60_000);
    }

    #[test]
    fn wrong_bytes_are_errors_naming_the_fault() {
        let t = table("fe", &["gpc0"]);
        let mut s = Session::new(vec![t], &[None], false);
        let mut ev = Vec::new();
        assert_eq!(s.receive(&[10, 128, 3, 1, 2, 3], 0, &mut ev).unwrap_err(), "update before any table definition");
        assert_eq!(s.receive(&[10, 131, 1, 9], 0, &mut ev).unwrap_err(), "switch to table 9, never defined");
        assert_eq!(s.receive(&[1, 0], 0, &mut ev).unwrap_err(), "the peer reported a protocol error");
        // Incomplete input waits for more.
        assert_eq!(s.receive(&[10, 130, 20, 1], 0, &mut ev), Ok(0));
    }
}
