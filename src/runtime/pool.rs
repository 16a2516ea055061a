//! [`Farm`]: the [`ServerPool`] streams use, over the backend module's sans-io
//! [`Backend`]s (one per proxy with backend capability, indexed like the proxy table).

use crate::backend::{Backend, Dequeued, Pick as BePick, ServerId, WaiterId};
use crate::reactor::Key;
use crate::stream::{Attempt, Pick, ServerPool};
use std::net::IpAddr;

pub struct Farm {
    /// Indexed like the proxy table; `None` for frontends.
    pub backends: Vec<Option<Backend>>,
    /// Slots handed to queued streams by [`ServerPool::release`] (and by check
    /// reports), waiting for the runtime to wake those streams.
    pub handed: Vec<(usize, Dequeued)>,
}

/// A stream's key as the backend's opaque waiter id.
pub fn waiter_of(key: Key) -> WaiterId {
    ((key.gen as u64) << 32) | key.slot as u64
}

pub fn key_of(w: WaiterId) -> Key {
    Key { slot: (w & 0xffff_ffff) as usize, gen: (w >> 32) as u32 }
}

impl Farm {
    pub fn backend(&self, be: usize) -> &Backend {
        self.backends[be].as_ref().expect("index of a backend")
    }

    pub fn backend_mut(&mut self, be: usize) -> &mut Backend {
        self.backends[be].as_mut().expect("index of a backend")
    }

    /// Hands every free slot of `srv` to queued streams.
    pub fn drain_queue(&mut self, be: usize, srv: usize) {
        let b = self.backends[be].as_mut().expect("index of a backend");
        while let Some(d) = b.next_dequeued(ServerId(srv)) {
            self.handed.push((be, d));
        }
    }
}

impl ServerPool for Farm {
    fn pick(&mut self, be: usize, client: Option<IpAddr>, avoid: Option<usize>) -> Pick {
        let b = self.backend_mut(be);
        match b.pick(client, avoid.map(ServerId)) {
            BePick::Server(id) => Pick::Server { srv: id.0, addr: b.server(id).socket_addr() },
            BePick::Queue => Pick::Queue { server: None },
            BePick::QueueOnServer(id) => Pick::Queue { server: Some(id.0) },
            BePick::QueueFull(_) => Pick::QueueFull,
            BePick::NoServer => Pick::NoServer,
        }
    }

    fn release(&mut self, be: usize, srv: usize) {
        self.backend_mut(be).connection_ended(ServerId(srv));
        self.drain_queue(be, srv);
    }

    fn enqueue(&mut self, be: usize, key: Key, server: Option<usize>) -> u32 {
        self.backend_mut(be).enqueue(waiter_of(key), server.map(ServerId)) as u32
    }

    fn leave_queue(&mut self, be: usize, key: Key) {
        self.backend_mut(be).remove(waiter_of(key));
    }

    fn is_queued(&self, be: usize, key: Key) -> bool {
        self.backend(be).is_queued(waiter_of(key))
    }

    fn attach(&mut self, be: usize) {
        self.backend_mut(be).stream_attached();
    }

    fn detach(&mut self, be: usize) {
        self.backend_mut(be).stream_detached();
    }

    fn beconn(&self, be: usize) -> u32 {
        self.backend(be).beconn()
    }

    fn server_name(&self, be: usize, srv: usize) -> &str {
        self.backend(be).server(ServerId(srv)).name()
    }

    fn server_conns(&self, be: usize, srv: usize) -> u32 {
        self.backend(be).server(ServerId(srv)).current_conns()
    }

    fn record(&mut self, be: usize, srv: usize, what: Attempt) {
        let b = self.backend_mut(be);
        match what {
            Attempt::Failed => b.connection_failed(ServerId(srv)),
            Attempt::Retried => b.connection_retried(ServerId(srv)),
            Attempt::Redispatched => b.redispatched(ServerId(srv)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waiter_ids_round_trip() {
        let k = Key { slot: 12345, gen: 0xdead_beef };
        assert_eq!(key_of(waiter_of(k)), k);
    }
}
