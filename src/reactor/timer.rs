//! Every timeout in the process goes through one [`Timers`] heap.
//!
//! Entries are `(deadline, seq, target, generation)` in a min-heap. Cancellation is
//! lazy: nothing is removed when a stream changes its mind; instead, when an entry
//! expires the owner is asked whether it still cares (a stale generation or a deadline
//! that no longer matches is simply dropped). `seq` makes entries with equal deadlines
//! fire in arming order. The earliest deadline becomes `poll()`'s timeout.

use super::token::{self, Key, Kind};
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

/// The heap: 24 bytes an entry where `(Instant, u64, TimerTarget)` took 48. Every
/// stream keeps an entry or two in it for as long as it lives (an idle kept-alive client
/// included), so the entry's size is part of what a connection costs.
pub struct Timers {
    heap: BinaryHeap<Reverse<Entry>>,
    /// Deadlines are kept as nanoseconds since this instant (a day before the heap was
    /// made, so that every deadline the process computes comes after it).
    base: Instant,
    seq: u32,
}

/// A deadline, its arming order and its target, packed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Entry {
    /// Nanoseconds since [`Timers::base`].
    at: u64,
    /// Arming order among equal deadlines (wrapping: two entries armed four billion
    /// arms apart for the same nanosecond may fire out of order, which is harmless).
    seq: u32,
    /// A global timer, or `None` for an entry's timer whose token is `token`.
    global: Option<GlobalTimer>,
    /// [`token::encode`] of the entry's kind and key.
    token: usize,
}

impl Default for Timers {
    fn default() -> Timers {
        let now = Instant::now();
        let base = now.checked_sub(Duration::from_secs(86_400)).unwrap_or(now);
        Timers { heap: BinaryHeap::new(), base, seq: 0 }
    }
}

impl Timers {
    /// Arms a timer. Arming the same target twice keeps both entries; the owner
    /// ignores the one it no longer expects (lazy cancellation).
    pub fn arm(&mut self, at: Instant, target: TimerTarget) {
        self.seq = self.seq.wrapping_add(1);
        let at = self.offset(at);
        let entry = match target {
            TimerTarget::Entry(kind, key) => Entry { at, seq: self.seq, global: None, token: token::encode(kind, key).0 },
            TimerTarget::Global(g) => Entry { at, seq: self.seq, global: Some(g), token: 0 },
        };
        self.heap.push(Reverse(entry));
    }

    fn offset(&self, at: Instant) -> u64 {
        // Exact (`instant` gives it back) for every deadline after `base`; one before
        // it would be a bug, and fires at once.
        let d = at.checked_duration_since(self.base);
        debug_assert!(d.is_some(), "a deadline before the timer base");
        u64::try_from(d.unwrap_or_default().as_nanos()).unwrap_or(u64::MAX)
    }

    fn instant(&self, at: u64) -> Instant {
        self.base + Duration::from_nanos(at)
    }

    fn target(entry: &Entry) -> TimerTarget {
        match entry.global {
            Some(g) => TimerTarget::Global(g),
            None => {
                let t = token::decode(mio::Token(entry.token)).expect("a token the heap encoded");
                TimerTarget::Entry(t.kind, t.key)
            }
        }
    }

    /// How long `poll()` may sleep: until the earliest deadline, capped by `max`.
    pub fn poll_timeout(&self, now: Instant, max: Option<Duration>) -> Option<Duration> {
        let next = self.heap.peek().map(|Reverse(e)| self.instant(e.at).saturating_duration_since(now));
        match (next, max) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Pops one expired entry (deadline <= now), with the deadline it was armed for.
    pub fn pop_expired(&mut self, now: Instant) -> Option<(Instant, TimerTarget)> {
        match self.heap.peek() {
            Some(Reverse(e)) if self.instant(e.at) <= now => {
                let Reverse(e) = self.heap.pop()?;
                Some((self.instant(e.at), Self::target(&e)))
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
        let base = self.base;
        self.heap.retain(|Reverse(e)| keep(base + Duration::from_nanos(e.at), Self::target(e)));
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
    fn entries_are_small_and_give_back_exact_deadlines() {
        assert_eq!(std::mem::size_of::<Reverse<Entry>>(), 24);
        let now = Instant::now();
        let mut t = Timers::default();
        let at = now + Duration::new(3, 123_456_789);
        t.arm(at, TimerTarget::Entry(Kind::Check, Key { slot: token::MAX_SLOT, gen: u32::MAX }));
        t.arm(at, TimerTarget::Global(GlobalTimer::Resolvers));
        assert_eq!(t.pop_expired(at), Some((at, TimerTarget::Entry(Kind::Check, Key { slot: token::MAX_SLOT, gen: u32::MAX }))));
        assert_eq!(t.pop_expired(at), Some((at, TimerTarget::Global(GlobalTimer::Resolvers))), "armed second, fires second");
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
