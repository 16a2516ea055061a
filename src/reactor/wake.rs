//! The run queue: streams to process again this iteration without new I/O
//! (a stream that stopped reading because its peer's buffer was full and is now
//! unblocked, a listener resumed, later a Lua coroutine ready to resume).
//!
//! Drained after the I/O events of an iteration. A target queued twice runs twice at
//! most; the owner treats a wake-up as "re-evaluate", so duplicates are harmless,
//! but [`WakeQueue::push`] skips an immediate duplicate to keep the queue short.

use super::token::{Key, Kind};
use std::collections::VecDeque;

#[derive(Default)]
pub struct WakeQueue {
    queue: VecDeque<(Kind, Key)>,
}

impl WakeQueue {
    pub fn push(&mut self, kind: Kind, key: Key) {
        if self.queue.back() != Some(&(kind, key)) {
            self.queue.push_back((kind, key));
        }
    }

    /// Takes the current contents; wake-ups pushed while they run wait for the next
    /// round, so a stream that keeps waking itself cannot starve the poller.
    pub fn take(&mut self) -> VecDeque<(Kind, Key)> {
        std::mem::take(&mut self.queue)
    }

    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// What waits in the queue, in order (`show tasks`).
    pub fn iter(&self) -> impl Iterator<Item = &(Kind, Key)> {
        self.queue.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn take_drains_in_order_and_skips_adjacent_duplicates() {
        let mut q = WakeQueue::default();
        let a = Key { slot: 1, gen: 0 };
        let b = Key { slot: 2, gen: 0 };
        q.push(Kind::Client, a);
        q.push(Kind::Client, a);
        q.push(Kind::Client, b);
        let got: Vec<_> = q.take().into_iter().collect();
        assert_eq!(got, vec![(Kind::Client, a), (Kind::Client, b)]);
        assert!(q.is_empty());
    }
}
