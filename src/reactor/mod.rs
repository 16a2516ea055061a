//! The reactor: one mio Poll loop, generation-tagged tokens, timers and a run queue.
