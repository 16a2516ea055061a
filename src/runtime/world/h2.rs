//! HTTP/2 client connections in the world: taking a connection over from the stream
//! that found it speaks HTTP/2, reading and writing its socket (`Kind::H2` tokens),
//! starting a stream for each request and waking the streams its frames concern.
//!
//! Counting: the connection keeps the place the first stream had in the process's,
//! listener's and frontend's connection counts (`actconn`, `feconn`...); the streams
//! serving its requests are not counted again ([`World::forget_stream`]).

use super::World;
use crate::http::h2::session::{Config, Note, Session};
use crate::reactor::{token, Ctx, Key, Kind, Ready, TimerTarget};
use crate::stream::channel::Buffer;
use crate::stream::h2conn::{Handle, Shared, SharedRc};
use crate::stream::{Event, Stream};
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

impl World {
    /// The stream at `key` found its client speaking HTTP/2: the connection leaves it.
    pub(super) fn h2_takeover(&mut self, cx: &mut Ctx<'_>, key: Key) {
        let Some(s) = self.streams.remove(key) else { return };
        let (li, fe) = (s.listener, s.frontend);
        let (mut sock, bytes) = s.into_h2();
        let (peer, local) = (sock.peer_addr(), sock.local_addr());
        let slot = self.h2.vacant_key();
        if sock.reregister(cx.registry, token::encode(Kind::H2, slot)).is_err() {
            self.h2_uncount(li, fe);
            return;
        }
        let shared = Shared {
            session: Session::new(self.h2_config()),
            sock,
            peer,
            local,
            listener: li,
            frontend: fe,
            streams: HashMap::new(),
            starved: Vec::new(),
            gone: false,
            idle_since: None, // set, and its timer armed, by the first `h2_attend`
            idle_timer: None,
        };
        let Some(slot) = self.h2.insert(Rc::new(RefCell::new(shared))) else {
            // No slot: the connection is dropped (closed) and leaves the counts.
            return self.h2_uncount(li, fe);
        };
        let rc = self.h2.get(slot).expect("inserted").clone();
        rc.borrow_mut().session.feed(&bytes);
        // The socket may hold more than the first stream read.
        self.h2_ready(cx, slot, Ready { readable: true, writable: true, ..Default::default() });
    }

    /// Our settings, from `tune.h2.*`.
    fn h2_config(&self) -> Config {
        Config { max_header_list: self.bufsize, ..self.h2_settings }
    }

    /// `tune.h2.*` from the `global` section.
    pub fn set_h2_tuning(&mut self, t: &crate::config::model::GlobalTuning) {
        self.h2_settings = Config::from_tuning(t, Config::default().max_header_list);
    }

    /// A readiness event on a connection's socket (or a nudge with `ready` made up).
    pub(super) fn h2_ready(&mut self, cx: &mut Ctx<'_>, key: Key, ready: Ready) {
        let Some(rc) = self.h2.get(key).cloned() else { return };
        let starved = {
            let mut sh = rc.borrow_mut();
            sh.sock.note(ready);
            sh.flush();
            // What arrives is read while the answers can leave; the readiness is kept
            // (edge-triggered) and used once the output drains.
            let room = sh.session.output().len() < crate::stream::h2conn::OUT_HIGH;
            if room && sh.sock.readable && sh.session.closing().is_none_or(|c| c == crate::http::h2::frame::ErrorCode::NoError) {
                let mut scratch = Buffer::new(16384);
                sh.receive(&mut scratch);
            }
            let flushed = sh.flush() == crate::stream::conn::WriteEnd::Drained;
            if flushed { std::mem::take(&mut sh.starved) } else { Vec::new() }
        };
        self.h2_notes(cx, key, &rc);
        for id in starved {
            self.h2_wake_stream(cx, &rc, id);
        }
        self.h2_attend(cx, key);
    }

    /// Starts the streams of new requests and wakes those with something new.
    fn h2_notes(&mut self, cx: &mut Ctx<'_>, key: Key, rc: &SharedRc) {
        loop {
            let notes = rc.borrow_mut().session.take_notes();
            if notes.is_empty() {
                return;
            }
            for note in notes {
                match note {
                    Note::Opened(id) => self.h2_open(cx, key, rc, id),
                    Note::Ready(id) => self.h2_wake_stream(cx, rc, id),
                }
            }
        }
    }

    fn h2_open(&mut self, cx: &mut Ctx<'_>, key: Key, rc: &SharedRc, id: u32) {
        let (li, fe, peer, local) = {
            let sh = rc.borrow();
            (sh.listener, sh.frontend, sh.peer, sh.local)
        };
        let conn = crate::stream::conn::Conn::h2(Handle::new(rc, id, key));
        let limits = crate::stream::http::limits_for(self.bufsize);
        let stream = Stream::new(self.next_stream_id, fe, li, conn, peer, local, self.bufsize, cx.now).with_http(crate::http::h1::Limits { max_headers: self.http_maxhdr, ..limits });
        let Some(skey) = self.streams.insert(stream) else { return };
        self.next_stream_id += self.stream_id_step;
        // Not a new session: `stot`, `conn_tot` and the session rate counted the
        // connection once, as HAProxy does (its requests count in `req_tot`).
        {
            let mut sh = rc.borrow_mut();
            sh.streams.insert(id, skey);
            sh.idle_since = None;
        }
        self.stream_event(cx, skey, Event::Client(Ready { readable: true, writable: true, ..Default::default() }));
    }

    fn h2_wake_stream(&mut self, cx: &mut Ctx<'_>, rc: &SharedRc, id: u32) {
        let skey = rc.borrow().streams.get(&id).copied();
        if let Some(skey) = skey {
            self.stream_event(cx, skey, Event::Client(Ready { readable: true, writable: true, ..Default::default() }));
        }
    }

    /// The connections whose streams ran or ended since the last call: their notes
    /// (a stream whose response is complete reads its end and goes, making room for
    /// the next request) and [`World::h2_attend`].
    pub(super) fn h2_settle(&mut self, cx: &mut Ctx<'_>) {
        if std::mem::replace(&mut self.h2_settling, true) {
            return; // the outer call takes what is marked meanwhile
        }
        while let Some(key) = self.h2_dirty.pop() {
            if let Some(rc) = self.h2.get(key).cloned() {
                self.h2_notes(cx, key, &rc);
            }
            if self.h2_unflushed.last() != Some(&key) {
                self.h2_unflushed.push(key);
            }
        }
        self.h2_settling = false;
    }

    /// At the end of an iteration: the connections whose streams wrote send it all
    /// at once, and those done close.
    pub(super) fn h2_flush(&mut self, cx: &mut Ctx<'_>) {
        let mut keys = std::mem::take(&mut self.h2_unflushed);
        keys.sort_unstable();
        keys.dedup();
        for key in keys {
            self.h2_attend(cx, key);
        }
    }

    /// After anything happened to a connection: closes it once it is done (the client
    /// left, or our GOAWAY went out, and no stream is served any more), or arms its
    /// idle timer.
    pub(super) fn h2_attend(&mut self, cx: &mut Ctx<'_>, key: Key) {
        let Some(rc) = self.h2.get(key).cloned() else { return };
        let done = {
            let mut sh = rc.borrow_mut();
            let flushed = sh.flush() == crate::stream::conn::WriteEnd::Drained;
            let no_stream = sh.streams.is_empty();
            // The idle timer is armed once, when the last stream goes.
            let newly_idle = no_stream && sh.idle_since.is_none();
            if newly_idle {
                sh.idle_since = Some(cx.now);
            }
            let t = &self.proxies[sh.frontend].timeouts;
            if let Some(deadline) = t.http_keep_alive.or(t.client).filter(|_| newly_idle).map(|d| cx.now + d) {
                if sh.idle_timer.is_none_or(|armed| armed > deadline) {
                    sh.idle_timer = Some(deadline);
                    cx.timers.arm(deadline, TimerTarget::Entry(Kind::H2, key));
                }
            }
            no_stream && (sh.gone || (sh.session.closing().is_some() && flushed))
        };
        if done {
            self.h2_close(cx, key);
        }
    }

    /// The idle timer: a connection with no stream for `timeout http-keep-alive` (else
    /// `timeout client`) gets GOAWAY and is closed, as HAProxy does.
    pub(super) fn h2_timer(&mut self, cx: &mut Ctx<'_>, key: Key, at: std::time::Instant) {
        let Some(rc) = self.h2.get(key).cloned() else { return };
        {
            let mut sh = rc.borrow_mut();
            if sh.idle_timer != Some(at) {
                return; // superseded
            }
            sh.idle_timer = None;
            if !sh.streams.is_empty() {
                return; // busy again: armed anew when it is next idle
            }
            let t = &self.proxies[sh.frontend].timeouts;
            let Some(deadline) = sh.idle_since.zip(t.http_keep_alive.or(t.client)).map(|(since, d)| since + d) else { return };
            if deadline > at {
                // Idle again since this timer was armed: wait for the rest.
                sh.idle_timer = Some(deadline);
                cx.timers.arm(deadline, TimerTarget::Entry(Kind::H2, key));
                return;
            }
            sh.session.shutdown();
            sh.flush();
            sh.gone = true;
        }
        self.h2_close(cx, key);
    }

    /// Soft stop: GOAWAY on every connection; each closes when its streams are done.
    pub(super) fn h2_soft_stop(&mut self, cx: &mut Ctx<'_>) {
        for key in self.h2.keys() {
            if let Some(rc) = self.h2.get(key) {
                rc.borrow_mut().session.shutdown();
            }
            self.h2_attend(cx, key);
        }
    }

    fn h2_close(&mut self, cx: &mut Ctx<'_>, key: Key) {
        let Some(rc) = self.h2.remove(key) else { return };
        let (li, fe) = {
            let mut sh = rc.borrow_mut();
            sh.sock.deregister(cx.registry);
            if let Some((code, why)) = sh.session.error {
                ::log::debug!("HTTP/2 connection from {:?} failed: {} ({why})", sh.peer, code.name());
            }
            (sh.listener, sh.frontend)
        };
        // Streams still holding a handle keep the connection's state alive until they
        // go; the socket closes with the last reference.
        self.h2_uncount(li, fe);
    }

    /// The connection leaves the connection counts (see the module doc).
    fn h2_uncount(&mut self, li: usize, fe: usize) {
        self.actconn -= 1;
        if let Some(l) = self.listeners.get_mut(li) {
            l.conns -= 1;
            crate::sample::fetch_conn::set_listener_conns(li, l.conns);
        }
        self.proxies[fe].feconn -= 1;
        self.listeners_dirty = true;
    }
}
