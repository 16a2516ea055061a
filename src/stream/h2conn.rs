//! An HTTP/2 client connection and the virtual connections of its streams.
//!
//! [`Shared`] owns the socket and the sans-io [`Session`]; the runtime registers the
//! socket under a `Kind::H2` token and drives it (`runtime::world::h2`). Each HTTP/2
//! stream is served by an ordinary moonproxy [`super::Stream`] whose client [`Conn`]
//! is a [`Handle`]: reading it gives the request as HTTP/1.1, writing it sends the
//! HTTP/1.1 response back as frames. The stream never knows; the runtime wakes it with
//! a client readiness event when its handle has something new.

use super::conn::{Conn, ReadEnd, WriteEnd};
use crate::http::h2::session::Session;
use crate::reactor::Key;
use std::cell::RefCell;
use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;

/// What the session's output may hold before writers are told to wait for the socket
/// (and the socket is not read: a client that sends without reading, PINGs for
/// instance, cannot grow it).
pub const OUT_HIGH: usize = 256 * 1024;

pub struct Shared {
    pub session: Session,
    /// The client socket (plain or TLS).
    pub sock: Conn,
    pub peer: Option<SocketAddr>,
    pub local: Option<SocketAddr>,
    pub listener: usize,
    pub frontend: usize,
    /// The moonproxy stream serving each HTTP/2 stream.
    pub streams: HashMap<u32, Key>,
    /// Streams whose last write found the output full: woken once it drains.
    pub starved: Vec<u32>,
    /// The client closed or the socket failed.
    pub gone: bool,
    /// When the connection last had no stream (for the idle timeout).
    pub idle_since: Option<std::time::Instant>,
    /// The deadline of the idle timer armed for it, if any (one at a time: an
    /// earlier one re-arms itself when it fires, as streams' timers do).
    pub idle_timer: Option<std::time::Instant>,
}

impl Shared {
    /// Writes the session's output to the socket until it is empty or the kernel is full.
    pub fn flush(&mut self) -> WriteEnd {
        let out = self.session.output();
        if out.is_empty() {
            return WriteEnd::Drained;
        }
        let (_, end) = self.sock.write_vec(out);
        if end == WriteEnd::Error {
            self.gone = true;
            self.session.peer_gone();
            self.session.output().clear();
        }
        end
    }

    /// Reads what the socket has and feeds it to the session.
    pub fn receive(&mut self, scratch: &mut super::channel::Buffer) -> ReadEnd {
        loop {
            let (n, end) = self.sock.read_into(scratch);
            if n > 0 {
                self.session.feed(scratch.data());
                let all = scratch.data().len();
                scratch.consumed(all);
            }
            match end {
                ReadEnd::BufferFull => continue,
                ReadEnd::Eof | ReadEnd::Error => {
                    self.gone = true;
                    self.session.peer_gone();
                    return end;
                }
                ReadEnd::WouldBlock => return end,
            }
        }
    }
}

pub type SharedRc = Rc<RefCell<Shared>>;

/// The client side of one HTTP/2 stream, as a moonproxy stream sees it.
pub struct Handle {
    shared: SharedRc,
    id: u32,
    /// What the stream asks of its client connection without borrowing the session.
    pub tls: Option<std::sync::Arc<crate::tls::TlsInfo>>,
    pub peer: Option<SocketAddr>,
    pub local: Option<SocketAddr>,
    pub fd: i32,
    /// The connection's slot in the runtime's table.
    pub conn_key: Key,
    /// Not the first request of its connection: for `http-reuse safe`, its session's
    /// first request was another stream's.
    pub later: bool,
}

impl Handle {
    pub fn new(shared: &SharedRc, id: u32, conn_key: Key) -> Handle {
        let s = shared.borrow();
        let later = s.session.opened > 1;
        Handle { shared: shared.clone(), id, tls: s.sock.tls_info().cloned(), peer: s.peer, local: s.local, fd: s.sock.raw_fd(), conn_key, later }
    }

    /// Reads the request. A WINDOW_UPDATE it owes the client goes with the
    /// connection's next write (the runtime flushes each connection its streams used
    /// once per reactor iteration).
    pub fn read(&mut self, b: &mut [u8]) -> io::Result<usize> {
        self.shared.borrow_mut().session.read(self.id, b)
    }

    pub fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        let mut s = self.shared.borrow_mut();
        if s.gone {
            return Err(io::ErrorKind::BrokenPipe.into());
        }
        if s.session.output().len() >= OUT_HIGH && s.flush() != WriteEnd::Drained {
            s.starved.push(self.id);
            return Err(io::ErrorKind::WouldBlock.into());
        }
        // The frames wait in the session's output for the end of the iteration.
        s.session.write(self.id, b)
    }

    pub fn shutdown_write(&mut self) {
        self.shared.borrow_mut().session.shutdown_write(self.id);
    }

    /// Whether a read would find bytes or an end (so a short read proves nothing).
    pub fn readable(&self) -> bool {
        self.shared.borrow().session.readable(self.id)
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        // The runtime never holds the session borrowed while it drops a stream.
        if let Ok(mut s) = self.shared.try_borrow_mut() {
            s.session.detach(self.id);
            s.streams.remove(&self.id);
        }
    }
}
