//! The PROXY protocol inside a stream: the header a client must send first on a
//! `bind ... accept-proxy` listener, and the one a `send-proxy`/`send-proxy-v2`
//! server connection starts with. The wire format is [`crate::proxy_protocol`].
//!
//! A client's header is read before anything else runs (HTTP parsing, `tcp-request
//! content` rules ...), and its addresses replace the connection's: `src`, `dst`,
//! `%ci/%cp`, the log line and the header sent on to a server all see them. Only
//! `tcp-request connection` rules, which run at accept, see the real addresses (as
//! HAProxy documents). On a `bind ... ssl` listener the header comes in clear before
//! the TLS handshake: it is peeked at in the socket and exactly its bytes are taken, so
//! the TLS session reads the ClientHello after it from the socket. A bad or missing header closes the connection with HAProxy's
//! log line instead of the stream's (see [`Stream::proxy_error_line`]).

use super::conn::ReadEnd;
use super::{Env, Stream};
use crate::proxy_protocol::{self, Error, Version};
use std::net::SocketAddr;
use std::time::{Instant, SystemTime};

/// The stream's PROXY protocol state.
#[derive(Default)]
pub(super) struct ProxyHeader {
    /// Waiting for the client's header until this deadline (`timeout client`).
    wait: Option<Instant>,
    /// Why the connection was closed while waiting.
    error: Option<Error>,
    /// A header was received (`fc_rcvd_proxy`).
    pub(super) received: bool,
    /// Its TLVs the fetches read (`fc_pp_authority`, `fc_pp_unique_id`).
    pub(super) tlvs: Option<std::sync::Arc<crate::sample::fetch_conn::PpTlvs>>,
    /// `accept-netscaler-cip <magic>`: a NetScaler Client IP header is expected
    /// instead of a PROXY one.
    cip_magic: Option<u32>,
}

/// What [`Stream::proxy_header_step`] concluded.
pub(super) enum Step {
    /// No header expected, or it was read: go on.
    Done,
    /// Wait for more (the timer is armed through `state_deadline`).
    Wait,
    /// Closed: the runtime logs [`Stream::proxy_error_line`].
    Failed,
}

impl Stream {
    /// `accept-proxy`: the client's first bytes must be a PROXY header, within
    /// `timeout` (the frontend's `timeout client`; none: wait forever, as HAProxy).
    pub fn expect_proxy_header(&mut self, now: Instant, timeout: Option<std::time::Duration>) {
        let deadline = timeout.map_or(now + std::time::Duration::from_secs(365 * 86400), |t| now + t);
        self.proxy_hdr.get_or_insert_with(Default::default).wait = Some(deadline);
        self.state_deadline = Some(deadline);
    }

    /// `accept-netscaler-cip <magic>`: the client's first bytes must be a NetScaler
    /// Client IP header with this magic number, within `timeout`, as for
    /// [`Stream::expect_proxy_header`]; its addresses replace the connection's.
    pub fn expect_netscaler_cip(&mut self, magic: u32, now: Instant, timeout: Option<std::time::Duration>) {
        self.expect_proxy_header(now, timeout);
        self.proxy_hdr.get_or_insert_with(Default::default).cip_magic = Some(magic);
    }

    /// `fc_rcvd_proxy`: the connection started with a PROXY header.
    pub fn received_proxy_header(&self) -> bool {
        self.proxy_hdr.as_ref().is_some_and(|h| h.received)
    }

    /// Reads and applies the client's header when one is expected.
    pub(super) fn proxy_header_step(&mut self, env: &mut Env<'_, '_>) -> Step {
        let Some(deadline) = self.proxy_hdr.as_ref().and_then(|h| h.wait) else { return Step::Done };
        // With `ssl` the header is only looked at in the socket, which then gives the
        // TLS session the bytes after it (see `Conn::peek_clear`).
        let under_tls = self.client.is_tls();
        let mut end = ReadEnd::WouldBlock;
        if self.client.readable || self.client.hup {
            end = if under_tls { self.client.peek_clear(&mut self.req.buf).1 } else { self.client.read_into(&mut self.req.buf).1 };
        }
        let cip = self.proxy_hdr.as_ref().and_then(|h| h.cip_magic);
        let data = self.req.buf.data();
        if !data.is_empty() {
            let parsed = match cip {
                Some(magic) => proxy_protocol::parse_netscaler_cip(data, magic),
                None => proxy_protocol::parse(data),
            };
            return match parsed {
                Ok(h) => {
                    let tlvs = if cip.is_some() { None } else { crate::sample::fetch_conn::PpTlvs::from_header(&data[..h.len]).map(std::sync::Arc::new) };
                    let (taken, rest) = if under_tls { (data.len(), 0) } else { (h.len, data.len() - h.len) };
                    if under_tls && self.client.skip_clear(h.len).is_err() {
                        return self.proxy_header_failed(env, Error::Abort, false);
                    }
                    self.req.buf.consumed(taken);
                    self.req.total += rest as u64;
                    self.req.eof |= end == ReadEnd::Eof;
                    if let Some((src, dst)) = h.addrs {
                        (self.src, self.dst) = (Some(src), Some(dst));
                    }
                    // `fc_rcvd_proxy` is about PROXY headers only.
                    self.proxy_hdr = Some(Box::new(ProxyHeader { wait: None, error: None, received: cip.is_none(), tlvs, cip_magic: cip }));
                    self.state_deadline = None;
                    Step::Done
                }
                Err(e) => self.proxy_header_failed(env, e, true),
            };
        }
        match end {
            ReadEnd::Eof => self.proxy_header_failed(env, Error::Empty, false),
            ReadEnd::Error => self.proxy_header_failed(env, Error::Abort, false),
            _ if self.client.hup => self.proxy_header_failed(env, Error::Abort, false),
            _ if deadline <= env.cx.now => self.proxy_header_failed(env, Error::Timeout, false),
            _ => {
                self.state_deadline = Some(deadline);
                Step::Wait
            }
        }
    }

    fn proxy_header_failed(&mut self, env: &mut Env<'_, '_>, e: Error, unread: bool) -> Step {
        let e = if self.proxy_hdr.as_ref().is_some_and(|h| h.cip_magic.is_some()) { e.for_netscaler() } else { e };
        // HAProxy leaves what it did not read in the socket, so its close is a reset.
        if unread {
            self.client.set_nolinger();
        }
        self.client.deregister(env.cx.registry);
        let h = self.proxy_hdr.get_or_insert_with(Default::default);
        h.error = Some(e);
        h.wait = None;
        self.state_deadline = None;
        self.goto(super::State::Closed);
        Step::Failed
    }

    /// The line HAProxy logs for a connection closed while waiting for its header
    /// (`127.0.0.1:33032 [26/Nov/2026:10:08:37.954] fe/1: Received something which
    /// does not look like a PROXY protocol header`); `bind` is the listener's name, or
    /// its number in the frontend.
    pub fn proxy_error_line(&self, frontend: &str, bind: &str) -> Option<String> {
        let e = self.proxy_hdr.as_ref()?.error?;
        let from = self.src.map_or_else(|| "unix".to_string(), |a| format!("{}:{}", a.ip(), a.port()));
        let mut date = String::new();
        let at: SystemTime = self.accept_date.get();
        crate::log::time::breakdown(at, crate::log::time::local_offset(at)).write_log_date_ms(&mut date);
        Some(format!("{from} [{date}] {frontend}/{bind}: {}", e.message()))
    }

    /// The header a new server connection starts with (`send-proxy`, `send-proxy-v2`),
    /// for this stream's (possibly received) addresses.
    pub(super) fn proxy_header_for_server(&self, version: Version, opts: proxy_protocol::V2Options) -> Vec<u8> {
        let (src, dst): (Option<SocketAddr>, Option<SocketAddr>) = (self.src, self.dst);
        match version {
            Version::V1 => proxy_protocol::v1(src, dst),
            Version::V2 => {
                let id = if opts.unique_id { self.unique_id_for_proxy() } else { None };
                let tls = self.client.tls_info().map(|t| &**t);
                // In HAProxy's order: the authority (the client's SNI), the unique id, the TLS.
                let sni = tls.and_then(|t| t.sni.as_deref()).filter(|_| opts.authority);
                let mut tlvs: Vec<(u8, &[u8])> = sni.iter().map(|v| (proxy_protocol::PP2_TYPE_AUTHORITY, v.as_bytes())).collect();
                tlvs.extend(id.iter().map(|v| (proxy_protocol::PP2_TYPE_UNIQUE_ID, v.as_bytes())));
                let ssl = opts.ssl.then(|| crate::tls::pp2_ssl_value(tls, &opts));
                if let Some(v) = &ssl {
                    tlvs.push((proxy_protocol::PP2_TYPE_SSL, v));
                }
                if opts.crc32c {
                    proxy_protocol::v2_checksummed(src, dst, &tlvs)
                } else {
                    proxy_protocol::v2(src, dst, &tlvs)
                }
            }
        }
    }

    /// The stream's unique id (`unique-id-format`) when it has one.
    fn unique_id_for_proxy(&self) -> Option<String> {
        self.http.as_ref().and_then(|h| h.txn.unique_id.clone())
    }
}

impl Stream {
    /// The PROXY header for server `srv` of backend `be`, when it has `send-proxy` or
    /// `send-proxy-v2`.
    pub(super) fn proxy_header_to_send(&self, env: &Env<'_, '_>, be: usize, srv: usize) -> Option<Vec<u8>> {
        let b = env.pool.backend_state(be)?;
        let conf = b.server(crate::backend::ServerId(srv)).send_proxy();
        Some(self.proxy_header_for_server(conf.version?, conf.v2_options))
    }

    /// Writes the PROXY header on a server connection that was just established, when
    /// its server has `send-proxy` or `send-proxy-v2`. A fresh socket's send buffer
    /// takes a header whole; `false` if it did not (the attempt then fails). On a TLS
    /// connection the header was queued in clear ahead of the handshake when the
    /// connection started (`start_connect`), as HAProxy sends it.
    pub(super) fn send_proxy_header(&mut self, env: &mut Env<'_, '_>) -> bool {
        let Some(side) = self.server.as_mut() else { return true };
        let Some(b) = env.pool.backend_state(side.be()) else { return true };
        if b.server(crate::backend::ServerId(side.srv())).send_proxy().version.is_none() {
            return true;
        }
        // The header names this client: the connection is never given to another one
        // (HAProxy keys reusable connections by their PROXY header too).
        side.private = true;
        let (be, srv) = (side.be(), side.srv());
        if side.conn.as_ref().is_none_or(|c| c.is_tls() || c.is_h2_to_server()) {
            return true; // no socket, or the header already queued ahead of TLS or HTTP/2
        }
        let Some(mut header) = self.proxy_header_to_send(env, be, srv) else { return true };
        let Some(conn) = self.server.as_mut().and_then(|s| s.conn.as_mut()) else { return true };
        let (_, end) = conn.write_vec(&mut header);
        header.is_empty() && end == super::conn::WriteEnd::Drained
    }
}
