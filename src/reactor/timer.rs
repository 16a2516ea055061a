//! Every timeout in the process goes through one [`Timers`] heap.
//!
//! Entries are `(deadline, seq, target, generation)` in a min-heap. Cancellation is
//! lazy: nothing is removed when a stream changes its mind; instead, when an entry
//! expires the owner is asked whether it still cares (a stale generation or a deadline
//! that no longer matches is simply dropped). `seq` makes entries with equal deadlines
//! fire in arming order. The earliest deadline becomes `poll()`'s timeout.

use super::token::{Key, Kind};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::{Duration, Instant};

/// What a timer wakes: a stream, a health check, or a process-wide deadline.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TimerTarget {
    /// A slab entry (stream or check) by kind and generation-tagged key.
    Entry(Kind, Key),
    /// A named process-wide deadline (e.g. `hard-stop-after`).
    Global(GlobalTimer),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum GlobalTimer {
    /// `hard-stop-after` after a soft stop began.
    HardStop,
    /// `grace`: the soft stop itself, that long after the signal.
    Grace,
    /// `close-spread-time`: the next idle connections to let go during a soft stop.
    CloseSpread,
    /// The DNS resolution task (`crate::dns`): a query to send or to give up on.
    Resolvers,
}

#[derive(Default)]
pub struct Timers {
    heap: BinaryHeap<Reverse<(Instant, u64, TimerTarget)>>,
    seq: u64,
}

impl Timers {
    /// Arms a timer. Arming the same target twice keeps both entries; the owner
    /// ignores the one it no longer expects (lazy cancellation).
    pub fn arm(&mut self, at: Instant, target: TimerTarget) {
        self.seq += 1;
        self.heap.push(Reverse((at, self.seq, target)));
    }

    /// How long `poll()` may sleep: until the earliest deadline, capped by `max`.
    pub fn poll_timeout(&self, now: Instant, max: Option<Duration>) -> Option<Duration> {
        let next = self.heap.peek().map(|Reverse((at, _, _))| at.saturating_duration_since(now));
        match (next, max) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Pops one expired entry (deadline <= now), with the deadline it was armed for.
    pub fn pop_expired(&mut self, now: Instant) -> Option<(Instant, TimerTarget)> {
        match self.heap.peek() {
            Some(Reverse((at, _, _))) if *at <= now => {
                let Reverse((at, _, t)) = self.heap.pop()?;
                Some((at, t))
            }
            _ => None,
        }
    }

    pub fn len(&self) -> usize {
        self.heap.len()
    }

    /// Drops the entries `keep` rejects. Lazy cancellation leaves superseded entries
    /// in the heap until their deadline; with long timeouts and many short streams
    /// they would pile up, so the owner compacts from time to time (see
    /// [`Timers::needs_compaction`]).
    pub fn retain(&mut self, mut keep: impl FnMut(Instant, TimerTarget) -> bool) {
        self.heap.retain(|Reverse((at, _, t))| keep(*at, *t));
    }

    /// `true` when the heap holds many more entries than `live` targets can have
    /// armed (a stream has one armed deadline at a time).
    pub fn needs_compaction(&self, live: usize) -> bool {
        self.heap.len() > 1024 + 4 * live
    }

    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(slot: usize) -> TimerTarget {
        TimerTarget::Entry(Kind::Client, Key { slot, gen: 0 })
    }

    #[test]
    fn expires_in_deadline_then_arming_order() {
        let now = Instant::now();
        let mut t = Timers::default();
        t.arm(now + Duration::from_millis(20), target(1));
        t.arm(now + Duration::from_millis(10), target(2));
        t.arm(now + Duration::from_millis(10), target(3));
        assert_eq!(t.poll_timeout(now, None), Some(Duration::from_millis(10)));
        assert!(t.pop_expired(now).is_none());
        let later = now + Duration::from_millis(15);
        assert_eq!(t.pop_expired(later).unwrap().1, target(2));
        assert_eq!(t.pop_expired(later).unwrap().1, target(3));
        assert!(t.pop_expired(later).is_none());
        assert_eq!(t.pop_expired(now + Duration::from_millis(20)).unwrap().1, target(1));
        assert!(t.is_empty());
    }

    #[test]
    fn retain_drops_superseded_entries() {
        let now = Instant::now();
        let mut t = Timers::default();
        for slot in 0..10 {
            t.arm(now + Duration::from_secs(slot as u64), target(slot));
        }
        t.retain(|_, tg| matches!(tg, TimerTarget::Entry(_, k) if k.slot % 2 == 0));
        assert_eq!(t.len(), 5);
        assert!(!t.needs_compaction(0));
        let order: Vec<_> = std::iter::from_fn(|| t.pop_expired(now + Duration::from_secs(60)).map(|(_, tg)| tg)).collect();
        assert_eq!(order, vec![target(0), target(2), target(4), target(6), target(8)], "still a heap");
    }

    #[test]
    fn poll_timeout_respects_cap() {
        let now = Instant::now();
        let mut t = Timers::default();
        assert_eq!(t.poll_timeout(now, None), None);
        assert_eq!(t.poll_timeout(now, Some(Duration::from_secs(1))), Some(Duration::from_secs(1)));
        t.arm(now + Duration::from_secs(5), target(0));
        assert_eq!(t.poll_timeout(now, Some(Duration::from_secs(1))), Some(Duration::from_secs(1)));
        // An overdue deadline means "do not sleep".
        assert_eq!(t.poll_timeout(now + Duration::from_secs(6), None), Some(Duration::ZERO));
    }
}
