//! The states of a stream and the only function allowed to move between them.

/// Where a stream is in its life (see `doc/lifetime-of-a-stream.md`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// HTTP mode: waiting for a request head (the first one, or the next one on a
    /// kept-alive connection), parsing it, then running the frontend's `http-request`
    /// rules. Moves to `Route` once the request is accepted.
    HttpHead,
    /// HTTP mode: `http-request tarpit`: holding the client for `timeout tarpit`
    /// before answering with the error page.
    Tarpit,
    /// HTTP mode: sending a response the proxy made itself (error page, `return`,
    /// `deny`), then closing, or waiting for the next request.
    LocalReply,
    /// HTTP mode: `use-service lua.<name>`: a Lua service answers the request
    /// (`super::service`), then `LocalReply` sends its response.
    LuaService,
    /// TCP mode: `tcp-request content use-service lua.<name>`: a Lua TCP service
    /// talks with the client (`super::service_tcp`) until it returns, then the stream
    /// closes.
    TcpService,
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
    ///
    /// HTTP mode adds a loop: `HttpHead → Route → … → Forwarding → HttpHead` for
    /// each transaction of a kept-alive connection; `Route`/`Queued → Forwarding`
    /// when an idle server connection is reused (`Forwarding → Connecting` when the
    /// server had closed it: the request is sent again on a new one); and `LocalReply` wherever the proxy
    /// answers instead of a server (a rejected request, `deny`, a failed connect,
    /// a bad or missing response).
    pub fn can_go(self, to: State) -> bool {
        use State::*;
        matches!(
            (self, to),
            (Route, Queued | Connecting)
                | (Queued, Connecting)
                | (Connecting, Connecting | TurnAround | Queued | Forwarding)
                | (TurnAround, Connecting | Queued)
                | (HttpHead, Route | Tarpit | LocalReply)
                | (Route | Queued, Forwarding)
                | (Route, Tarpit | LocalReply)
                | (HttpHead | Route, LuaService)
                | (LuaService, LocalReply)
                | (Route, TcpService)
                | (Queued | Connecting | TurnAround | Forwarding | Tarpit, LocalReply)
                | (Forwarding | LocalReply, HttpHead)
                | (Forwarding, Connecting)
                | (_, Closed)
        ) && self != Closed
    }
}

#[cfg(test)]
mod tests {
    use super::State::*;

    #[test]
    fn closed_is_final_and_forwarding_only_closes() {
        for s in [HttpHead, Tarpit, LocalReply, LuaService, TcpService, Route, Queued, TurnAround, Connecting, Forwarding, Closed] {
            assert!(!Closed.can_go(s));
        }
        assert!(Forwarding.can_go(Closed));
        assert!(!Forwarding.can_go(Queued));
        assert!(Route.can_go(Connecting));
        assert!(!Route.can_go(TurnAround));
        assert!(Connecting.can_go(Connecting), "a redispatch retries from Connecting");
    }

    #[test]
    fn http_transactions_loop_back_to_the_head() {
        assert!(HttpHead.can_go(Route));
        assert!(Forwarding.can_go(HttpHead), "the next request on a kept-alive connection");
        assert!(Route.can_go(Forwarding), "an idle server connection reused");
        assert!(Forwarding.can_go(LocalReply), "502/504 before the response started");
        assert!(!HttpHead.can_go(Forwarding), "a request is routed first");
        assert!(!LocalReply.can_go(Forwarding));
        assert!(!Tarpit.can_go(Route));
    }
}
