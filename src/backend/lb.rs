//! Load-balancing algorithms: `roundrobin`, `static-rr`, `leastconn`, `first` and `source`.
//!
//! The algorithms are pure: [`LbState::pick`] receives a snapshot of the servers that
//! are currently *eligible* (usable and in the farm being served: the active servers,
//! or the backup ones when no active server is left) as a slice of [`Slot`]s, and
//! returns the one to use. Counting connections, queueing and reserving the slot is
//! [`Backend`](super::Backend)'s job. The only state kept here is the algorithm's own
//! memory (round-robin scores, the static map, the leastconn tie-breaking cursor).
//!
//! Shared rule, as in HAProxy: every algorithm but `source` skips a server that
//! [`Slot::is_full`]; `source` hashes to one server whatever its load (the caller
//! then queues on that server if it is full). A server to `avoid` (the one that just failed, for redispatch) is skipped
//! unless it is the only choice left.

use std::net::IpAddr;

use super::ServerId;
use crate::config::model::Balance;

/// Scale used to compare `connections / weight` ratios in integers (leastconn).
const LC_SCALE: u64 = 1 << 16;

/// What an algorithm sees of one eligible server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Slot {
    /// The server.
    pub id: ServerId,
    /// Numeric server id (`id` keyword, or assigned): `first` walks servers in this order.
    pub puid: u32,
    /// Effective weight, always > 0 for an eligible server.
    pub weight: u32,
    /// Connections currently served (slots taken).
    pub served: u32,
    /// Requests waiting in this server's own queue.
    pub queued: u32,
    /// `maxconn` (0: unlimited).
    pub maxconn: u32,
    /// `maxqueue` (0: unlimited). Not used by the algorithms: queue limits are
    /// the caller's business.
    pub maxqueue: u32,
}

impl Slot {
    /// HAProxy's "full" test for walking algorithms: with a `maxconn`, a server is full
    /// when it serves `maxconn` connections or already has a queue of its own.
    pub fn is_full(&self) -> bool {
        self.maxconn != 0 && (self.queued != 0 || self.served >= self.maxconn)
    }
}

/// The memory of one backend's balancing algorithm.
#[derive(Clone, Debug)]
pub struct LbState {
    algo: Balance,
    /// Smooth weighted round-robin scores, indexed by `ServerId`.
    scores: Vec<i64>,
    /// The weighted map used by `static-rr` and `source` (HAProxy's `map-based` lookup).
    map: Vec<ServerId>,
    /// The eligible set the map was built from, to know when to rebuild it.
    map_key: Vec<(ServerId, u32)>,
    /// Next map index for `static-rr`.
    map_cursor: usize,
    /// Last server picked by `leastconn`, to break ties round-robin.
    lc_last: Option<ServerId>,
    /// `hash-type consistent`: hashes look up [`LbState::ring`] instead of the map.
    consistent: bool,
    /// The consistent-hash ring: (point, server), sorted by point.
    ring: Vec<(u32, ServerId)>,
    /// `hash-balance-factor` (percent, > 100; `None`: no bound): with consistent
    /// hashing, a server already serving more than this share of the average load
    /// (by weight) is passed over for the next one on the ring.
    balance_factor: Option<u32>,
}

impl LbState {
    /// A fresh state for `algo` over a backend of `nb_servers` servers.
    pub fn new(algo: Balance, nb_servers: usize) -> LbState {
        LbState {
            algo,
            scores: vec![0; nb_servers],
            map: Vec::new(),
            map_key: Vec::new(),
            map_cursor: 0,
            lc_last: None,
            consistent: false,
            ring: Vec::new(),
            balance_factor: None,
        }
    }

    /// `hash-balance-factor <percent>`: consistent hashing with bounded loads (0: off).
    pub fn balance_factor(mut self, factor: u32) -> LbState {
        self.balance_factor = Some(factor).filter(|&f| f > 0);
        self
    }

    /// `hash-type consistent`: hash-based algorithms (`source`, `uri`, `url_param`,
    /// `hdr`) look the hash up in a ring of points instead of the weighted map, so a
    /// server going away only moves the keys it had.
    pub fn consistent(mut self, on: bool) -> LbState {
        self.consistent = on;
        self
    }

    /// `hash-type consistent`.
    pub fn is_consistent(&self) -> bool {
        self.consistent
    }

    /// The algorithm this state runs.
    pub fn algo(&self) -> &Balance {
        &self.algo
    }

    /// Forgets the round-robin history. Called when the eligible set or a weight
    /// changes, so the new weights apply from the next pick on.
    pub fn reset(&mut self) {
        self.scores.iter_mut().for_each(|s| *s = 0);
    }

    /// Chooses a server among `slots` (the eligible servers, in declaration order).
    /// Returns `None` when every server is full (the request must queue) or `slots`
    /// is empty. `client_ip` is used by `source` only; without one (a unix socket
    /// client) `source` falls back to `static-rr` over the same map.
    pub fn pick(
        &mut self,
        slots: &[Slot],
        client_ip: Option<IpAddr>,
        avoid: Option<ServerId>,
    ) -> Option<ServerId> {
        self.pick_keyed(slots, client_ip, None, avoid)
    }

    /// [`LbState::pick`] with the request's hash for the hash-based algorithms (`uri`,
    /// `url_param`, `hdr`: see [`super::hashkey::request_hash`]). Without one (no such
    /// parameter or header in the request) they walk the map in turn, as HAProxy falls
    /// back to round robin. Like `source`, a hash sends the request to its server even
    /// when that server is full: it queues there.
    pub fn pick_keyed(
        &mut self,
        slots: &[Slot],
        client_ip: Option<IpAddr>,
        hash: Option<u32>,
        avoid: Option<ServerId>,
    ) -> Option<ServerId> {
        if slots.is_empty() {
            return None;
        }
        match self.algo {
            Balance::Uri(_) | Balance::UrlParam { .. } | Balance::Hdr { .. } | Balance::RdpCookie { .. } => match hash {
                Some(h) => self.pick_hashed(slots, h),
                None => self.pick_static_rr(slots, avoid),
            },
            Balance::Random { draws } => self.pick_random(slots, draws, avoid),
            Balance::RoundRobin => self.pick_smooth_rr(slots, avoid),
            Balance::StaticRr => self.pick_static_rr(slots, avoid),
            Balance::LeastConn => self.pick_leastconn(slots, avoid),
            Balance::First => pick_first(slots, avoid),
            Balance::Source => match client_ip {
                Some(ip) => self.pick_source(slots, ip),
                None => self.pick_static_rr(slots, avoid),
            },
        }
    }

    /// `roundrobin`: smooth weighted round robin. Each non-full server's score grows
    /// by its weight, the highest score wins and pays back the total weight. Over
    /// any window of `sum(weights)` picks each server gets exactly its weight, and
    /// the picks are interleaved (weights 1 and 3 give `b a b b`). A weight change
    /// applies immediately, which is what HAProxy's dynamic round robin guarantees.
    /// The shares are HAProxy's; the exact order is not (HAProxy 2.6 gives
    /// `b b b a` for 1 and 3, and its first cycle after start-up is irregular).
    fn pick_smooth_rr(&mut self, slots: &[Slot], avoid: Option<ServerId>) -> Option<ServerId> {
        if let Some(max) = slots.iter().map(|s| s.id.0).max() {
            if self.scores.len() <= max {
                self.scores.resize(max + 1, 0);
            }
        }
        let usable = |s: &&Slot| !s.is_full() && Some(s.id) != avoid;
        let mut total: i64 = 0;
        let mut best: Option<ServerId> = None;
        for s in slots.iter().filter(usable) {
            self.scores[s.id.0] += i64::from(s.weight);
            total += i64::from(s.weight);
            let score = self.scores[s.id.0];
            if best.is_none_or(|b| score > self.scores[b.0]) {
                best = Some(s.id);
            }
        }
        match best {
            Some(b) => {
                self.scores[b.0] -= total;
                Some(b)
            }
            None => avoid.filter(|a| slots.iter().any(|s| s.id == *a && !s.is_full())),
        }
    }

    /// Rebuilds the weighted map if the eligible set or its weights changed.
    fn refresh_map(&mut self, slots: &[Slot]) {
        let same = self.map_key.len() == slots.len()
            && self.map_key.iter().zip(slots).all(|(k, s)| k.0 == s.id && k.1 == s.weight);
        if same {
            return;
        }
        self.map_key = slots.iter().map(|s| (s.id, s.weight)).collect();
        self.map = build_map(&self.map_key);
        self.map_cursor = 0;
        if self.consistent {
            self.ring = build_ring(slots);
        }
    }

    /// `static-rr`: walks the weighted map from where it stopped, skipping full
    /// servers. Weights are those of the map, rebuilt only when the set changes.
    fn pick_static_rr(&mut self, slots: &[Slot], avoid: Option<ServerId>) -> Option<ServerId> {
        self.refresh_map(slots);
        let len = self.map.len();
        let mut avoided: Option<usize> = None;
        for step in 0..len {
            let idx = (self.map_cursor + step) % len;
            let id = self.map[idx];
            let Some(slot) = slots.iter().find(|s| s.id == id) else { continue };
            if slot.is_full() {
                continue;
            }
            if Some(id) == avoid {
                avoided.get_or_insert(idx);
                continue;
            }
            self.map_cursor = (idx + 1) % len;
            return Some(id);
        }
        let idx = avoided?;
        self.map_cursor = (idx + 1) % len;
        Some(self.map[idx])
    }

    /// `leastconn`: the server with the fewest connections (served plus queued)
    /// relative to its weight, as HAProxy orders its tree: an idle server has key 0,
    /// otherwise `(inflight + 1) / weight`. Ties go to the first server after the one
    /// picked last, so equally loaded servers take turns.
    fn pick_leastconn(&mut self, slots: &[Slot], avoid: Option<ServerId>) -> Option<ServerId> {
        let key = |s: &Slot| {
            let inflight = u64::from(s.served) + u64::from(s.queued);
            if inflight == 0 {
                0
            } else {
                (inflight + 1) * LC_SCALE / u64::from(s.weight.max(1))
            }
        };
        // Rotate the scan to start just after the last pick: the first minimum found
        // is then the next in turn among equals.
        let start = self
            .lc_last
            .and_then(|last| slots.iter().position(|s| s.id > last))
            .unwrap_or(0);
        let n = slots.len();
        let mut best: Option<(u64, ServerId)> = None;
        for s in (0..n).map(|i| &slots[(start + i) % n]) {
            if s.is_full() || Some(s.id) == avoid {
                continue;
            }
            let k = key(s);
            if best.is_none_or(|(bk, _)| k < bk) {
                best = Some((k, s.id));
            }
        }
        let chosen = match best {
            Some((_, id)) => id,
            None => avoid.filter(|a| slots.iter().any(|s| s.id == *a && !s.is_full()))?,
        };
        self.lc_last = Some(chosen);
        Some(chosen)
    }

    /// `source`: HAProxy's map-based hash of the client address. The IPv4 address
    /// as a big-endian integer (IPv6: its four 32-bit words XORed) modulo the total
    /// weight indexes the weighted map. With one server left there is nothing to hash.
    fn pick_source(&mut self, slots: &[Slot], ip: IpAddr) -> Option<ServerId> {
        let hash = if slots.len() == 1 { 0 } else { source_hash(ip) };
        self.pick_hashed(slots, hash)
    }

    /// HAProxy's `map-based` lookup: the hash modulo the total weight indexes the map;
    /// with `hash-type consistent`, the ring point nearest to the mixed (`avalanche`)
    /// hash, which is what makes neighbouring addresses spread over the ring as they do
    /// in HAProxy (tests/tcp_balance.rs compares 60 client addresses).
    fn pick_hashed(&mut self, slots: &[Slot], hash: u32) -> Option<ServerId> {
        self.refresh_map(slots);
        if self.consistent {
            let hash = crate::sample::hash::avalanche(hash);
            return match self.balance_factor {
                None => ring_lookup(&self.ring, hash),
                Some(factor) => bounded_ring_lookup(&self.ring, hash, slots, factor),
            };
        }
        if self.map.is_empty() {
            return None;
        }
        Some(self.map[hash as usize % self.map.len()])
    }

    /// `random(draws)`: `draws` servers drawn at random in proportion to their weights,
    /// and the least loaded of them (connections and queue relative to weight) wins,
    /// the first drawn on a tie. Full servers are drawn again when others are not.
    fn pick_random(&mut self, slots: &[Slot], draws: u32, avoid: Option<ServerId>) -> Option<ServerId> {
        self.refresh_map(slots);
        let slot = |id: ServerId| slots.iter().find(|s| s.id == id).expect("the map holds eligible servers");
        let preferred = |s: &Slot| !s.is_full() && Some(s.id) != avoid;
        if !slots.iter().any(preferred) {
            // Everything is full (queue), or only the server to avoid has room.
            return slots.iter().find(|s| !s.is_full()).map(|s| s.id);
        }
        let load = |s: &Slot| (u64::from(s.served) + u64::from(s.queued)) * LC_SCALE / u64::from(s.weight.max(1));
        let draws = draws.max(1);
        let (mut best, mut drawn, mut tries) = (None::<&Slot>, 0, 0);
        while drawn < draws && tries < 8 * draws {
            tries += 1;
            let s = slot(self.map[crate::sample::fetch::random_u32() as usize % self.map.len()]);
            if !preferred(s) {
                continue;
            }
            drawn += 1;
            if best.is_none_or(|b| load(s) < load(b)) {
                best = Some(s);
            }
        }
        best.or_else(|| slots.iter().find(|s| preferred(s))).map(|s| s.id)
    }
}

/// `first`: the server with the lowest numeric id that is not full, so servers
/// fill up one after the other (checked against HAProxy 2.6: with `maxconn 1
/// maxqueue 2` on the first server, the second connection goes to the second
/// server, not into the first one's queue).
fn pick_first(slots: &[Slot], avoid: Option<ServerId>) -> Option<ServerId> {
    let mut best: Option<&Slot> = None;
    let mut avoided = None;
    for s in slots.iter().filter(|s| !s.is_full()) {
        if Some(s.id) == avoid {
            avoided = Some(s.id);
            continue;
        }
        if best.is_none_or(|b| s.puid < b.puid) {
            best = Some(s);
        }
    }
    best.map(|s| s.id).or(avoided)
}

/// The 32-bit hash HAProxy's map-based `source` uses for an address.
pub fn source_hash(ip: IpAddr) -> u32 {
    match ip {
        IpAddr::V4(v4) => u32::from_be_bytes(v4.octets()),
        IpAddr::V6(v6) => v6
            .octets()
            .chunks_exact(4)
            .map(|w| u32::from_be_bytes([w[0], w[1], w[2], w[3]]))
            .fold(0, |h, w| h ^ w),
    }
}

/// Points per unit of weight on the consistent-hash ring.
const RING_POINTS_PER_WEIGHT: u32 = 16;
/// Point numbers reserved per server id: the most points a server of weight 256 has.
const RING_POINTS_RANGE: u32 = 256 * RING_POINTS_PER_WEIGHT;

/// The consistent-hash ring: `weight x 16` points per server, point `i` of the server
/// with numeric id `puid` at `avalanche(puid x 4096 + i)`, the layout HAProxy
/// describes for its consistent hashing (the ring is the same whatever else is up).
pub fn build_ring(slots: &[Slot]) -> Vec<(u32, ServerId)> {
    let mut ring: Vec<(u32, ServerId)> = slots
        .iter()
        .flat_map(|s| {
            let points = s.weight.min(256) * RING_POINTS_PER_WEIGHT;
            let base = s.puid.wrapping_mul(RING_POINTS_RANGE);
            (0..points).map(move |i| (crate::sample::hash::avalanche(base.wrapping_add(i)), s.id))
        })
        .collect();
    ring.sort_unstable_by_key(|&(point, id)| (point, id.0));
    ring
}

/// The server of the ring point nearest to `hash`, looking both ways round the ring
/// (the point before wins a tie).
pub fn ring_lookup(ring: &[(u32, ServerId)], hash: u32) -> Option<ServerId> {
    if ring.is_empty() {
        return None;
    }
    let next = ring.partition_point(|&(p, _)| p < hash);
    let after = ring[next % ring.len()];
    let before = ring[(next + ring.len() - 1) % ring.len()];
    let (d_before, d_after) = (hash.wrapping_sub(before.0), after.0.wrapping_sub(hash));
    Some(if d_before <= d_after { before.1 } else { after.1 })
}

/// Consistent hashing with bounded loads (`hash-balance-factor`): from the point
/// [`ring_lookup`] finds, the first server clockwise whose load stays within `factor`
/// percent of its share of the backend's load counting this request, that is
/// `served < ceil((total served + 1) × factor / 100 × weight / total weight)`. When
/// every server is over its bound, the nearest one is kept.
pub fn bounded_ring_lookup(ring: &[(u32, ServerId)], hash: u32, slots: &[Slot], factor: u32) -> Option<ServerId> {
    let nearest = ring_lookup(ring, hash)?;
    let total_weight: u64 = slots.iter().map(|s| u64::from(s.weight)).sum();
    let total_served: u64 = slots.iter().map(|s| u64::from(s.served)).sum();
    let within = |id: ServerId| {
        let Some(s) = slots.iter().find(|s| s.id == id) else { return false };
        let bound = ((total_served + 1) * u64::from(factor) * u64::from(s.weight)).div_ceil(100 * total_weight.max(1));
        u64::from(s.served) < bound
    };
    if within(nearest) {
        return Some(nearest);
    }
    // Clockwise from the hash.
    let start = ring.partition_point(|&(p, _)| p < hash);
    (0..ring.len()).map(|i| ring[(start + i) % ring.len()].1).find(|&id| within(id)).or(Some(nearest))
}

/// Builds a weighted map of `sum(weights)` entries in which each server appears
/// `weight` times, spread evenly. Like HAProxy's map, the first declared server
/// wins ties, so equal weights keep declaration order and the map starts with it.
pub fn build_map(servers: &[(ServerId, u32)]) -> Vec<ServerId> {
    let total: i64 = servers.iter().map(|&(_, w)| i64::from(w)).sum();
    if total == 0 {
        return Vec::new();
    }
    if servers.len() == 1 {
        return vec![servers[0].0; total as usize];
    }
    let mut scores = vec![0i64; servers.len()];
    let mut map = Vec::with_capacity(total as usize);
    for _ in 0..total {
        let mut best = 0;
        let mut max = i64::MIN;
        for (i, &(_, w)) in servers.iter().enumerate() {
            scores[i] += i64::from(w);
            // Quantised as HAProxy does: a coarse score in 0..=2, first one wins ties.
            let v = (scores[i] + total).div_euclid(total);
            if v > max {
                max = v;
                best = i;
            }
        }
        map.push(servers[best].0);
        scores[best] -= total;
    }
    map
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn slot(i: usize, weight: u32) -> Slot {
        Slot { id: ServerId(i), puid: i as u32 + 1, weight, served: 0, queued: 0, maxconn: 0, maxqueue: 0 }
    }

    fn count(picks: &[ServerId]) -> HashMap<usize, usize> {
        let mut m = HashMap::new();
        for p in picks {
            *m.entry(p.0).or_insert(0) += 1;
        }
        m
    }

    fn run(lb: &mut LbState, slots: &[Slot], n: usize) -> Vec<ServerId> {
        (0..n).map(|_| lb.pick(slots, None, None).expect("a server")).collect()
    }

    #[test]
    fn roundrobin_weights_1_3_over_400_picks() {
        let slots = [slot(0, 1), slot(1, 3)];
        let mut lb = LbState::new(Balance::RoundRobin, 2);
        let picks = run(&mut lb, &slots, 400);
        let c = count(&picks);
        assert_eq!((c[&0], c[&1]), (100, 300));
        // Smooth: never two picks of the light server in a row, and every window of
        // four picks has exactly one of it.
        for w in picks.chunks(4) {
            assert_eq!(w.iter().filter(|s| s.0 == 0).count(), 1, "{w:?}");
        }
        assert_eq!(&picks[..4], &[ServerId(1), ServerId(0), ServerId(1), ServerId(1)]);
    }

    #[test]
    fn roundrobin_equal_weights_alternate() {
        let slots = [slot(0, 1), slot(1, 1), slot(2, 1)];
        let mut lb = LbState::new(Balance::RoundRobin, 3);
        let picks: Vec<usize> = run(&mut lb, &slots, 6).iter().map(|s| s.0).collect();
        assert_eq!(picks, [0, 1, 2, 0, 1, 2]);
    }

    #[test]
    fn roundrobin_follows_weight_changes_and_departures() {
        let mut slots = vec![slot(0, 1), slot(1, 1)];
        let mut lb = LbState::new(Balance::RoundRobin, 3);
        let c = count(&run(&mut lb, &slots, 100));
        assert_eq!((c[&0], c[&1]), (50, 50));
        slots[1].weight = 4;
        lb.reset();
        let c = count(&run(&mut lb, &slots, 100));
        assert_eq!((c[&0], c[&1]), (20, 80));
        // Server 0 goes down, server 2 comes up.
        slots = vec![slot(1, 4), slot(2, 1)];
        lb.reset();
        let c = count(&run(&mut lb, &slots, 50));
        assert_eq!((c.get(&0), c[&1], c[&2]), (None, 40, 10));
    }

    #[test]
    fn roundrobin_skips_full_servers_and_avoids() {
        let mut slots = [slot(0, 1), slot(1, 1)];
        slots[0].maxconn = 1;
        slots[0].served = 1;
        let mut lb = LbState::new(Balance::RoundRobin, 2);
        assert!(run(&mut lb, &slots, 10).iter().all(|s| s.0 == 1));
        slots[1].maxconn = 2;
        slots[1].served = 2;
        assert_eq!(lb.pick(&slots, None, None), None);
        // Avoid: another server if possible, the avoided one otherwise.
        let slots = [slot(0, 1), slot(1, 1)];
        for _ in 0..5 {
            assert_eq!(lb.pick(&slots, None, Some(ServerId(0))), Some(ServerId(1)));
        }
        assert_eq!(lb.pick(&slots[..1], None, Some(ServerId(0))), Some(ServerId(0)));
    }

    #[test]
    fn static_rr_weights_1_3_over_400_picks() {
        let slots = [slot(0, 1), slot(1, 3)];
        let mut lb = LbState::new(Balance::StaticRr, 2);
        let picks = run(&mut lb, &slots, 400);
        let c = count(&picks);
        assert_eq!((c[&0], c[&1]), (100, 300));
        for w in picks.chunks(4) {
            assert_eq!(w.iter().filter(|s| s.0 == 0).count(), 1, "{w:?}");
        }
    }

    #[test]
    fn static_rr_skips_full_and_avoided() {
        let mut slots = [slot(0, 1), slot(1, 1), slot(2, 1)];
        let mut lb = LbState::new(Balance::StaticRr, 3);
        slots[1].maxconn = 5;
        slots[1].served = 5;
        let picks: Vec<usize> = run(&mut lb, &slots, 4).iter().map(|s| s.0).collect();
        assert_eq!(picks, [0, 2, 0, 2]);
        assert_eq!(lb.pick(&slots, None, Some(ServerId(0))), Some(ServerId(2)));
        assert_eq!(lb.pick(&slots[..2], None, Some(ServerId(0))), Some(ServerId(0)));
    }

    /// The maps HAProxy 2.6 builds, read from its `static-rr` order and from
    /// `source` with clients 127.0.0.1-10 (hash = address mod total weight).
    #[test]
    fn map_is_haproxys_map() {
        let ids = |m: Vec<ServerId>| m.iter().map(|s| s.0 + 1).collect::<Vec<_>>();
        let map = build_map(&[(ServerId(0), 1), (ServerId(1), 3)]);
        assert_eq!(ids(map), [1, 2, 2, 2]);
        let map = build_map(&[(ServerId(0), 2), (ServerId(1), 3), (ServerId(2), 5)]);
        assert_eq!(ids(map), [1, 3, 2, 3, 1, 3, 2, 3, 2, 3]);
    }

    #[test]
    fn source_matches_haproxy_for_loopback_clients() {
        let mut slots = [slot(0, 2), slot(1, 3), slot(2, 5)];
        let mut lb = LbState::new(Balance::Source, 3);
        let got: Vec<usize> =
            (1..=10u8).map(|i| lb.pick(&slots, Some([127, 0, 0, i].into()), None).unwrap().0 + 1).collect();
        // HAProxy 2.6, `balance source`, weights 2 3 5, clients 127.0.0.1 to .10.
        assert_eq!(got, [3, 1, 3, 2, 3, 2, 3, 1, 3, 2]);
        for s in &mut slots {
            s.weight = 1;
        }
        let got: Vec<usize> =
            (1..=6u8).map(|i| lb.pick(&slots, Some([127, 0, 0, i].into()), None).unwrap().0 + 1).collect();
        assert_eq!(got, [3, 1, 2, 3, 1, 2]);
    }

    #[test]
    fn map_spreads_weights_and_starts_with_first_server() {
        let map = build_map(&[(ServerId(0), 2), (ServerId(1), 2), (ServerId(2), 4)]);
        assert_eq!(map.len(), 8);
        assert_eq!(map[0], ServerId(0));
        let c = count(&map);
        assert_eq!((c[&0], c[&1], c[&2]), (2, 2, 4));
        assert!(build_map(&[]).is_empty());
    }

    #[test]
    fn leastconn_prefers_fewest_connections() {
        let mut slots = [slot(0, 1), slot(1, 1), slot(2, 1)];
        let mut lb = LbState::new(Balance::LeastConn, 3);
        // Connections held on servers 0 and 2: new ones go to 1 until it catches up.
        slots[0].served = 3;
        slots[2].served = 2;
        let mut picks = Vec::new();
        for _ in 0..4 {
            let p = lb.pick(&slots, None, None).unwrap();
            slots[p.0].served += 1;
            picks.push(p.0);
        }
        assert_eq!(picks, [1, 1, 2, 1]);
        assert_eq!(slots.map(|s| s.served), [3, 3, 3]);
        // Now all equal: they take turns.
        let mut picks = Vec::new();
        for _ in 0..3 {
            let p = lb.pick(&slots, None, None).unwrap();
            picks.push(p.0);
        }
        assert_eq!(count(&picks.iter().map(|&i| ServerId(i)).collect::<Vec<_>>()).len(), 3);
    }

    #[test]
    fn leastconn_relative_to_weight() {
        // Server 1 has twice the weight: at equilibrium it holds twice the connections.
        let mut slots = [slot(0, 1), slot(1, 2)];
        let mut lb = LbState::new(Balance::LeastConn, 2);
        for _ in 0..30 {
            let p = lb.pick(&slots, None, None).unwrap();
            slots[p.0].served += 1;
        }
        assert!((9..=11).contains(&slots[0].served), "{slots:?}");
        assert_eq!(slots[0].served + slots[1].served, 30);
    }

    #[test]
    fn leastconn_ties_round_robin_when_connections_close() {
        let slots = [slot(0, 1), slot(1, 1), slot(2, 1)];
        let mut lb = LbState::new(Balance::LeastConn, 3);
        let picks: Vec<usize> = run(&mut lb, &slots, 6).iter().map(|s| s.0).collect();
        assert_eq!(picks, [0, 1, 2, 0, 1, 2]);
    }

    #[test]
    fn first_fills_servers_in_id_order() {
        let mut slots = [slot(0, 1), slot(1, 1), slot(2, 1)];
        for s in &mut slots {
            s.maxconn = 2;
        }
        // Ids reversed: server 2 has the lowest id and fills first.
        slots[0].puid = 3;
        slots[2].puid = 1;
        let mut lb = LbState::new(Balance::First, 3);
        let mut picks = Vec::new();
        for _ in 0..6 {
            let p = lb.pick(&slots, None, None).unwrap();
            slots[p.0].served += 1;
            picks.push(p.0);
        }
        assert_eq!(picks, [2, 2, 1, 1, 0, 0]);
        assert_eq!(lb.pick(&slots, None, None), None);
        // A connection ends on server 1: it is the first with a free slot again.
        slots[1].served -= 1;
        assert_eq!(lb.pick(&slots, None, None), Some(ServerId(1)));
    }

    #[test]
    fn first_without_maxconn_sends_everything_to_the_first() {
        let slots = [slot(0, 1), slot(1, 1)];
        let mut lb = LbState::new(Balance::First, 2);
        assert!(run(&mut lb, &slots, 20).iter().all(|s| s.0 == 0));
        assert_eq!(lb.pick(&slots, None, Some(ServerId(0))), Some(ServerId(1)));
    }

    #[test]
    fn source_is_stable_per_ip_and_spreads() {
        let slots = [slot(0, 1), slot(1, 1), slot(2, 1), slot(3, 1)];
        let mut lb = LbState::new(Balance::Source, 4);
        let mut picks = Vec::new();
        for i in 0..=255u8 {
            let ip: IpAddr = [10, 0, 0, i].into();
            let first = lb.pick(&slots, Some(ip), None).unwrap();
            for _ in 0..3 {
                assert_eq!(lb.pick(&slots, Some(ip), None), Some(first));
            }
            picks.push(first);
        }
        let c = count(&picks);
        assert_eq!(c.len(), 4);
        assert!(c.values().all(|&n| n == 64), "{c:?}");
        // Exactly HAProxy's map-based arithmetic: 10.0.0.5 = 0x0a000005, mod 4 = 1.
        assert_eq!(lb.pick(&slots, Some([10, 0, 0, 5].into()), None), Some(ServerId(1)));
        let v6: IpAddr = "2001:db8::1".parse().unwrap();
        assert_eq!(source_hash(v6), 0x2001_0db8 ^ 1);
    }

    #[test]
    fn source_ignores_load_and_single_server_takes_all() {
        let mut slots = [slot(0, 1), slot(1, 1)];
        slots[1].maxconn = 1;
        slots[1].served = 1;
        let mut lb = LbState::new(Balance::Source, 2);
        // 0x0a000001 % 2 = 1: the full server is still chosen, the caller queues there.
        assert_eq!(lb.pick(&slots, Some([10, 0, 0, 1].into()), None), Some(ServerId(1)));
        assert_eq!(lb.pick(&slots[..1], Some([10, 0, 0, 1].into()), None), Some(ServerId(0)));
    }

    #[test]
    fn hashed_algorithms_index_the_weighted_map_and_fall_back_to_turns() {
        let mut lb = LbState::new(Balance::Uri(Default::default()), 2);
        let slots = [slot(0, 1), slot(1, 3)];
        let map = build_map(&[(ServerId(0), 1), (ServerId(1), 3)]);
        for h in [0u32, 1, 2, 3, 7, 1_000_003] {
            assert_eq!(lb.pick_keyed(&slots, None, Some(h), None), Some(map[h as usize % 4]), "hash {h}");
        }
        // The same hash always lands on the same server, even when it is full.
        let mut full = slots;
        full[1].maxconn = 1;
        full[1].served = 1;
        assert_eq!(lb.pick_keyed(&full, None, Some(1), None), Some(map[1]));
        // Without a hash: the map in turn, over 4 picks each server its weight.
        let picks: Vec<_> = (0..4).map(|_| lb.pick_keyed(&slots, None, None, None).unwrap()).collect();
        assert_eq!(count(&picks), HashMap::from([(0, 1), (1, 3)]));
    }

    #[test]
    fn random_with_two_draws_prefers_the_less_loaded() {
        let mut lb = LbState::new(Balance::Random { draws: 2 }, 2);
        let mut slots = [slot(0, 1), slot(1, 1)];
        slots[0].served = 50;
        let picks: Vec<_> = (0..400).map(|_| lb.pick_keyed(&slots, None, None, None).unwrap()).collect();
        let c = count(&picks);
        // Server 0 wins only when both draws are server 0: about a quarter of the time.
        assert!(c.get(&1).copied().unwrap_or(0) > 250, "{c:?}");
        assert!(c.get(&0).copied().unwrap_or(0) > 40, "{c:?}");
    }

    #[test]
    fn random_skips_full_servers_and_queues_when_all_are_full() {
        let mut lb = LbState::new(Balance::Random { draws: 1 }, 2);
        let mut slots = [slot(0, 1), slot(1, 1)];
        slots[0].maxconn = 1;
        slots[0].served = 1;
        for _ in 0..50 {
            assert_eq!(lb.pick_keyed(&slots, None, None, None), Some(ServerId(1)));
        }
        slots[1].maxconn = 1;
        slots[1].served = 1;
        assert_eq!(lb.pick_keyed(&slots, None, None, None), None);
        // Only the server to avoid has room: it is used rather than queueing.
        slots[1].served = 0;
        assert_eq!(lb.pick_keyed(&slots, None, None, Some(ServerId(1))), Some(ServerId(1)));
    }


    #[test]
    fn consistent_ring_moves_only_the_keys_of_a_departed_server() {
        let mut lb = LbState::new(Balance::Uri(Default::default()), 3).consistent(true);
        let all = [slot(0, 1), slot(1, 1), slot(2, 1)];
        let keys: Vec<u32> = (0..3000u32).map(crate::sample::hash::avalanche).collect();
        let before: Vec<_> = keys.iter().map(|&h| lb.pick_keyed(&all, None, Some(h), None).unwrap()).collect();
        let c = count(&before);
        for s in 0..3 {
            let n = c.get(&s).copied().unwrap_or(0);
            assert!((600..=1400).contains(&n), "server {s} got {n} of 3000: {c:?}");
        }
        let two = [slot(0, 1), slot(2, 1)];
        for (&h, &was) in keys.iter().zip(&before) {
            let now = lb.pick_keyed(&two, None, Some(h), None).unwrap();
            if was != ServerId(1) {
                assert_eq!(now, was, "hash {h} moved although its server stayed");
            }
        }
    }

    #[test]
    fn bounded_loads_pass_an_overloaded_server_to_the_next_on_the_ring() {
        let mut slots = [slot(0, 1), slot(1, 1), slot(2, 1)];
        let ring = build_ring(&slots);
        let hash = 0x1234_5678;
        let home = ring_lookup(&ring, hash).unwrap();
        // Idle backend: the key's own server.
        assert_eq!(bounded_ring_lookup(&ring, hash, &slots, 150), Some(home));
        // Its server serves 4 of 4 connections: the bound is ceil(5 × 1.5 / 3) = 3.
        slots[home.0].served = 4;
        let moved = bounded_ring_lookup(&ring, hash, &slots, 150).unwrap();
        assert_ne!(moved, home);
        // The same server for the same key while the load stays (stable choice).
        assert_eq!(bounded_ring_lookup(&ring, hash, &slots, 150), Some(moved));
        // A large factor allows it.
        assert_eq!(bounded_ring_lookup(&ring, hash, &slots, 1000), Some(home));
        // The bound follows the load: once the others serve as much, it fits again.
        slots[home.0].served = 4;
        for s in slots.iter_mut().filter(|s| s.id != home) {
            s.served = 4;
        }
        assert_eq!(bounded_ring_lookup(&ring, hash, &slots, 150), Some(home));
    }

    #[test]
    fn ring_lookup_takes_the_nearest_point_either_way() {
        let ring = vec![(100, ServerId(0)), (200, ServerId(1)), (u32::MAX - 10, ServerId(2))];
        assert_eq!(ring_lookup(&ring, 140), Some(ServerId(0)));
        assert_eq!(ring_lookup(&ring, 150), Some(ServerId(0)), "a tie goes to the point before");
        assert_eq!(ring_lookup(&ring, 160), Some(ServerId(1)));
        assert_eq!(ring_lookup(&ring, 5), Some(ServerId(2)), "wraps round");
        assert_eq!(ring_lookup(&ring, 60), Some(ServerId(0)));
        assert_eq!(ring_lookup(&[], 5), None);
    }

}
