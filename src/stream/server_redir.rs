//! `server ... redir <prefix>`: a GET or HEAD request load-balanced to this server
//! is answered with `302 Found` to `<prefix><uri>` instead of being forwarded, as
//! HAProxy does (the log shows the server, `-1` connect and response times and the
//! `LC` termination state; the connection closes).

use super::termination::{Cause, Phase, Termination};
use super::{Env, ServerSide, Stream};
use crate::http::Method;

impl Stream {
    /// Answers with the server's redirect when it has one and the request may take it.
    /// `true`: answered, do not connect.
    pub(super) fn server_redirect(&mut self, env: &mut Env<'_, '_>, be: usize, srv: usize) -> bool {
        let Some(b) = env.pool.backend_state(be) else { return false };
        let Some(prefix) = b.server(crate::backend::ServerId(srv)).tuning().redir.clone() else { return false };
        let Some(req) = self.http.as_ref().and_then(|h| h.txn.req.as_ref()) else { return false };
        if !matches!(req.line.method, Method::Get | Method::Head) {
            return false;
        }
        let location = format!("{prefix}{}", req.line.target);
        // The slot the balancing gave is not used: give it back, keep the server for the log.
        env.pool.release(be, srv);
        self.server = Some(Box::new(ServerSide { be: super::index(be), srv: super::index(srv), addr: None, conn: None, fd: -1, released: true, served: 0, private: false }));
        let page = crate::http::errors::redirect_page(302, &location);
        self.http_local_reply(env, page, true, Termination::new(Cause::Local, Phase::Connect));
        true
    }
}
