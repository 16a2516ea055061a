//! One HTTP transaction's state apart from the sockets: the two messages as rules see
//! and rewrite them, the transaction's variables, captures and log decisions.
//!
//! The stream owns one [`Txn`] per request on a connection ([`Txn::reset`] starts the
//! next one on a kept-alive connection); rules ([`super::rules`]) read and rewrite it;
//! the log record ([`crate::log::HttpLog`]) is built from it when the transaction ends.
//! Later, Lua's `TXN` and `HTTP` classes are views of the same struct.
//!
//! Fields are added, never renamed: the stream, the rules, the log and Lua all use it.

use super::{Request, Response};
use crate::config::model::Level;
use crate::sample::vars::{Scope, Vars};

#[derive(Debug, Default)]
pub struct Txn {
    /// The request head, once parsed (rules rewrite it in place before it is sent).
    pub req: Option<Request>,
    /// The final response head, once parsed or generated.
    pub res: Option<Response>,
    /// Request body bytes kept for rules (`option http-buffer-request`,
    /// `http-request wait-for-body`): what `req.body` returns.
    pub req_body: Vec<u8>,
    /// Response body bytes kept for rules (`http-response wait-for-body`): `res.body`.
    pub res_body: Vec<u8>,
    /// Variables of the `txn`, `req` and `res` scopes. `sess` variables live as long as
    /// the client connection and `proc` ones in the process: not here.
    pub vars: Vars,
    /// `capture request header` slots, in declaration order (`%hr`, `capture.req.hdr`).
    pub req_captures: Vec<Option<Vec<u8>>>,
    /// `capture response header` slots (`%hs`, `capture.res.hdr`).
    pub res_captures: Vec<Option<Vec<u8>>>,
    /// `set-log-level`: the level the transaction's log line goes out at.
    pub log_level: Option<Level>,
    /// `set-log-level silent`: no log line for this transaction.
    pub silent: bool,
    /// `http-request disable-l7-retry`: no `retry-on` retry beyond connection failures
    /// for this transaction (see `crate::stream::l7retry`).
    pub no_l7_retry: bool,
    /// `unique-id-format` rendered (`%ID`, `unique-id`), or set by `unique-id` rules.
    pub unique_id: Option<String>,
    /// `capture cookie`: the request's and the response's cookie (`%CC`, `%CS`).
    pub cookie_req: Option<String>,
    pub cookie_res: Option<String>,
    /// The status sent to the client: the server's, or the one the proxy generated
    /// (deny, return, redirect, error pages). `None` while nothing was sent (`%ST` -1).
    pub status: Option<u16>,
    /// Cookie persistence in this transaction (`%tsc`), see [`crate::http::persist`].
    pub persist: crate::http::persist::PersistTxn,
    /// Compression of the response (`res.comp`, `res.comp_algo`), see
    /// [`crate::http::compress`].
    pub comp: crate::http::compress::TxnComp,
    /// The stream's dates, timers and counters, refreshed before each rule list: what
    /// the `%` variables of rule log-formats print (see [`crate::http::live`]).
    pub live: crate::http::live::LiveFacts,
    /// The cache's part (`cache-use` answered, a response being stored), see
    /// [`crate::http::cache`].
    pub cache: crate::http::cache::TxnCache,
    /// SPOE: what this transaction sent to agents and waits for (`crate::stream::spoe`).
    pub spoe: Option<Box<crate::spoe::TxnState>>,
    /// The TLS of the server connection the response came on (`ssl_bc*` in the
    /// transaction's log line, once that connection may be closed).
    pub server_tls: Option<std::sync::Arc<crate::tls::TlsInfo>>,
    /// `use-fcgi-app`: the request's CGI variables, handed to a FastCGI server
    /// connection with the head (`crate::http::fcgi`).
    pub fcgi: Option<std::sync::Arc<crate::http::fcgi::Prepared>>,
    /// The rule that ended the evaluation of its list with a verdict (`allow`, `deny`,
    /// `return`, `redirect` ...): `last_rule_file`, `last_rule_line` (added by "misc").
    pub last_rule: Option<crate::config::model::Location>,
    /// `http-request set-timeout server|tunnel`: this transaction's own timeouts, in
    /// place of its backend's (`cur_server_timeout`, `cur_tunnel_timeout`).
    pub timeouts: TimeoutOverrides,
    /// `http-request set-priority-class` and `set-priority-offset` (milliseconds): where
    /// the transaction goes in a backend or server queue (`crate::backend::QueuePriority`).
    pub priority: (i32, i32),
    /// The client connection's addresses before a `set-src`, `set-dst`... of this
    /// transaction changed them: the next transaction starts from them again, as each
    /// HAProxy stream does. Taken by the stream before [`Txn::reset`].
    pub conn_addrs: Option<(Option<std::net::SocketAddr>, Option<std::net::SocketAddr>)>,
    /// A `tarpit` rule's reply (its `return` arguments), which the stream sends in
    /// place of the error page once the tarpit ends.
    pub tarpit_reply: Option<Vec<u8>>,
    /// When a `tarpit` rule held the request: HAProxy logs the time held as the queue
    /// time (`Tw`) and no request time (`TR` -1).
    pub tarpit_since: Option<std::time::Instant>,
}

/// The timeouts `http-request set-timeout` gave a transaction (`None`: the backend's).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TimeoutOverrides {
    pub server: Option<std::time::Duration>,
    pub tunnel: Option<std::time::Duration>,
}

impl Txn {
    pub fn new() -> Txn {
        Txn::default()
    }

    /// Ends this transaction and starts the next on the same connection: messages,
    /// bodies, captures and the `txn`/`req`/`res` variables go, allocations stay.
    pub fn reset(&mut self) {
        self.req = None;
        self.res = None;
        self.req_body.clear();
        self.res_body.clear();
        for scope in [Scope::Txn, Scope::Req, Scope::Res] {
            self.vars.clear(scope);
        }
        self.req_captures.iter_mut().for_each(|c| *c = None);
        self.res_captures.iter_mut().for_each(|c| *c = None);
        self.log_level = None;
        self.silent = false;
        self.no_l7_retry = false;
        self.unique_id = None;
        self.server_tls = None;
        self.fcgi = None;
        self.last_rule = None;
        self.timeouts = TimeoutOverrides::default();
        self.priority = (0, 0);
        self.conn_addrs = None;
        self.tarpit_reply = None;
        self.tarpit_since = None;
        self.persist = Default::default();
        self.cookie_req = None;
        self.cookie_res = None;
        self.status = None;
        self.comp = Default::default();
        self.cache = Default::default();
    }
}
