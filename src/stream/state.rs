//! The states of a stream and the only function allowed to move between them.

/// Where a stream is in its life (see `doc/lifetime-of-a-stream.md`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// Running the frontend's rule pipeline (choosing a backend). Resumable: a rule
    /// that must wait leaves the cursor on itself and the stream stays here.
    Route,
    /// Every usable server is at its `maxconn`: waiting in the backend's queue.
    Queued,
    /// A connect attempt failed; waiting `min(timeout connect, 1s)` before retrying
    /// the same server, as HAProxy does.
    TurnAround,
    /// A non-blocking connect to the chosen server is in progress.
    Connecting,
    /// Both connections are up: bytes flow both ways.
    Forwarding,
    /// Over: the termination code is set, the log line is written, the runtime
    /// removes the stream from the slab.
    Closed,
}

impl State {
    /// The legal moves. Everything may end in `Closed`.
    pub fn can_go(self, to: State) -> bool {
        use State::*;
        matches!(
            (self, to),
            (Route, Queued | Connecting)
                | (Queued, Connecting)
                | (Connecting, Connecting | TurnAround | Queued | Forwarding)
                | (TurnAround, Connecting | Queued)
                | (_, Closed)
        ) && self != Closed
    }
}

#[cfg(test)]
mod tests {
    use super::State::*;

    #[test]
    fn closed_is_final_and_forwarding_only_closes() {
        for s in [Route, Queued, TurnAround, Connecting, Forwarding, Closed] {
            assert!(!Closed.can_go(s));
        }
        assert!(Forwarding.can_go(Closed));
        assert!(!Forwarding.can_go(Connecting));
        assert!(Route.can_go(Connecting));
        assert!(!Route.can_go(Forwarding));
        assert!(Connecting.can_go(Connecting), "a redispatch retries from Connecting");
    }
}
