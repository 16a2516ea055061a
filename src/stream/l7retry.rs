//! L7 retries (`retry-on`): a request whose server failed it before its response
//! started is sent again, on a new connection.
//!
//! What HAProxy 2.6 does, measured, and done here the same way:
//! - Only a request that can be sent again is retried: when its head first leaves for
//!   the server, the whole message (head and body) must be in the buffer. Its bytes,
//!   as sent, are then kept ([`L7Copy::Kept`]) until the transaction ends. A request
//!   whose body was still arriving (streamed, or larger than the buffer) is never
//!   retried, whatever `retry-on` says.
//! - The events: `empty-response` (the server closed, or reset, before any response
//!   byte), `junk-response` (an invalid or truncated response head),
//!   `response-timeout` (`timeout server` before any response byte), and a response
//!   head whose status is in the set (`503`...). The response that triggered the retry
//!   is discarded; the client never sees it.
//! - Each retry counts against `retries` (shared with connection retries), in the
//!   `wretr` statistics and in the log's `%rc`. Once they are used up, the last
//!   attempt's outcome stands: its response (a 503 from the server passes as it is),
//!   or the proxy's error (502 `SH`, 504 `sH`).
//! - With `option redispatch` (whatever its interval), every L7 retry goes to another
//!   server (`%rc` then reads `+1`); otherwise to the same server.
//! - `conn-failure` gates the connection retries (`Stream::connect_failed`): without
//!   it (`retry-on 503`, `retry-on none`), a refused connection is not retried.
//!
//! Unlike HAProxy 2.6.12, which counts each L7 retry twice in `wretr`, a retry
//! counts once here (as connection retries do in both).

use super::http::{HttpSide, Stage};
use super::termination::{Cause, Phase};
use super::{Env, State, Stream};
use crate::config::model::RetryOn;
use super::Attempt;

/// The copy of the request kept for a retry.
#[derive(Debug, Default)]
pub enum L7Copy {
    /// The request has not started leaving yet.
    #[default]
    Undecided,
    /// The request as sent (head, then the whole body with its framing).
    Kept(Vec<u8>),
    /// Not retryable: no `retry-on` event beyond `conn-failure`, or the body was not
    /// all here when the head left.
    No,
}

/// Called as the request head is about to leave for the server: the first time, keeps
/// a copy of the whole request if a retry may need it (`l7_retries`: `retry-on` names
/// an event beyond `conn-failure`) and all of it is here (`pending`: the channel's
/// bytes, the message's first `h.req.fwd` of them).
pub(super) fn keep_request(h: &mut HttpSide, pending: &[u8], l7_retries: bool) {
    if !matches!(h.l7, L7Copy::Undecided) {
        return;
    }
    h.l7 = if l7_retries && h.req.stage == Stage::Done {
        let mut copy = h.req.out.clone();
        copy.extend_from_slice(&pending[..h.req.fwd]);
        L7Copy::Kept(copy)
    } else {
        L7Copy::No
    };
}

impl Stream {
    /// The stream is about to close with `cause` while waiting for the response head:
    /// an empty response, a truncated one or a response timeout retries the request if
    /// `retry-on` says so. True when retried.
    pub(super) fn l7_retry_on_close(&mut self, env: &mut Env<'_, '_>, cause: Cause, phase: Phase) -> bool {
        if phase != Phase::Headers {
            return false;
        }
        let nothing_yet = self.res.buf.is_empty();
        let event = match cause {
            Cause::ServerAbort if nothing_yet => RetryOn::EMPTY_RESPONSE,
            Cause::ServerAbort => RetryOn::JUNK_RESPONSE,
            Cause::ServerTimeout if nothing_yet => RetryOn::RESPONSE_TIMEOUT,
            _ => return false,
        };
        self.l7_retry(env, event)
    }

    /// Sends the request again on a new connection (to the same server unless
/// `option redispatch` says otherwise) if `event` is
    /// one the backend's `retry-on` names, the request was kept and a retry is left.
    /// The response so far is discarded. True when retried (the stream is connecting).
    pub(super) fn l7_retry(&mut self, env: &mut Env<'_, '_>, event: RetryOn) -> bool {
        if self.state != State::Forwarding || self.retries_left == 0 {
            return false;
        }
        let Some(be) = self.backend else { return false };
        if !env.proxies[be].retry_on.contains(event) {
            return false;
        }
        let Some(h) = self.http.as_mut() else { return false };
        if h.txn.no_l7_retry {
            return false; // `http-request disable-l7-retry`
        }
        let L7Copy::Kept(copy) = &h.l7 else { return false };
        if h.res_started() || !h.res.out.is_empty() {
            return false;
        }
        // The request again, from the copy: whatever of it is still in the buffer is
        // already in the copy.
        h.req.out.clear();
        h.req.out.extend_from_slice(copy);
        let pending = h.req.fwd;
        self.req.buf.consumed(pending);
        h.req.sent(pending);
        h.l7_discard_response();
        self.res.buf.clear();
        self.res.eof = false;
        self.retries_left -= 1;
        self.retries_done += 1;
        let side = self.server.as_mut().expect("forwarding has a server");
        if let Some(c) = side.conn.as_mut() {
            c.deregister(env.cx.registry);
        }
        side.conn = None;
        let (srv, addr) = (side.srv(), side.addr.clone());
        ::log::debug!("stream {}: retrying the request ({event:?})", self.id);
        self.t_connect = None;
        self.connect_started = None;
        if env.proxies[be].options.redispatch {
            // `option redispatch`: another server, on every L7 retry whatever its
            // interval (measured on HAProxy 2.6.12: `option redispatch 2` moves the
            // first retry already).
            env.pool.record(be, srv, Attempt::Redispatched);
            env.pool.release(be, srv);
            self.server = None;
            self.redispatched = true;
            self.assign_server(env, Some(srv));
        } else {
            // The slot stays reserved: the new connection takes it over.
            env.pool.record(be, srv, Attempt::Retried);
            self.start_connect(env, srv, addr);
        }
        true
    }
}
