//! Dynamic `maxconn`: a server with `minconn` accepts at least `minconn` connections,
//! at most `maxconn`, and in between a limit that follows the backend's load up to its
//! `fullconn`.
//!
//! HAProxy 2.6 computes the limit as `max(minconn, beconn * maxconn / fullconn)` while
//! the backend has fewer than `fullconn` connections (`beconn`, queued ones included),
//! and `maxconn` from `fullconn` on. Measured: with `minconn 2 maxconn 10` and
//! `fullconn 20`, a third connection waits in the queue (`3 * 10 / 20 = 1`), where a
//! ramp from `minconn` (`2 + 8 * 3 / 20 = 3`) would have served it.
//!
//! `fullconn` defaults, as HAProxy documents it, to 10% of the `maxconn` of the
//! frontends that can reach the backend (`crate::stats::set_limits` computes it; the
//! runtime passes it in with [`Backend::set_fullconn`]). A `minconn` above `maxconn`
//! (or alone) makes the limit static at `minconn`, and a `maxconn` alone is static too.

use super::{Backend, Server, ServerId};

impl Server {
    /// The configured (`maxconn`, `minconn`) as HAProxy settles them.
    pub(super) fn conn_limits(s: &crate::config::model::Server) -> (u32, u32) {
        match (s.maxconn, s.tuning.minconn) {
            (max, min) if min > max => (min, min),
            (max, 0) => (max, max),
            limits => limits,
        }
    }

    /// The limit with `beconn` connections on a backend whose `fullconn` is `fullconn`
    /// (0: unlimited, as `maxconn 0`).
    fn dynamic_maxconn(&self, beconn: u32, fullconn: u32) -> u32 {
        if self.maxconn == 0 {
            return 0;
        }
        if beconn >= fullconn || self.minconn == self.maxconn {
            return self.maxconn;
        }
        let ramp = u64::from(beconn) * u64::from(self.maxconn) / u64::from(fullconn);
        u32::try_from(ramp).unwrap_or(u32::MAX).max(self.minconn).max(1)
    }
}

impl Backend {
    /// Sets the backend's `fullconn` (configured, or HAProxy's default).
    pub fn set_fullconn(&mut self, fullconn: u32) {
        self.fullconn = fullconn;
        self.refresh_limits();
    }

    /// The current connection limit of server `id` (0: unlimited): `maxconn`, or the
    /// dynamic limit of a server with `minconn`.
    pub fn effective_maxconn(&self, id: ServerId) -> u32 {
        self.servers[id.0].limit
    }

    /// Recomputes the servers' limits after `beconn` or `fullconn` changed.
    pub(super) fn refresh_limits(&mut self) {
        let (beconn, fullconn) = (self.beconn, self.fullconn);
        for s in &mut self.servers {
            s.limit = s.dynamic_maxconn(beconn, fullconn);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::model::{self, Location, Proxy, ServerAddr};

    fn backend(maxconn: u32, minconn: u32, fullconn: u32) -> Backend {
        let mut s = model::Server::new("s", Location { file: "t.cfg".into(), line: 1 }, ServerAddr::Inet { ip: [127, 0, 0, 1].into(), port: Some(1) });
        s.maxconn = maxconn;
        s.tuning.minconn = minconn;
        let mut b = Backend::from_config(&Proxy { name: "b".into(), servers: vec![s], ..Proxy::default() });
        b.set_fullconn(fullconn);
        b
    }

    fn limit_at(b: &mut Backend, beconn: u32) -> u32 {
        while b.beconn < beconn {
            b.stream_attached();
        }
        while b.beconn > beconn {
            b.stream_detached();
        }
        b.effective_maxconn(ServerId(0))
    }

    #[test]
    fn the_limit_follows_the_backend_load() {
        let mut b = backend(10, 2, 20);
        let limits: Vec<u32> = [0, 1, 3, 4, 5, 6, 10, 19, 20, 50].iter().map(|&n| limit_at(&mut b, n)).collect();
        assert_eq!(limits, [2, 2, 2, 2, 2, 3, 5, 9, 10, 10]);
        // The documentation's example: between 100 and 1000, 1000 from 10000 on.
        let mut b = backend(1000, 100, 10000);
        assert_eq!([limit_at(&mut b, 500), limit_at(&mut b, 5000), limit_at(&mut b, 10000)], [100, 500, 1000]);
    }

    #[test]
    fn static_limits() {
        let mut b = backend(5, 0, 20);
        assert_eq!(limit_at(&mut b, 1), 5, "maxconn alone");
        let mut b = backend(0, 5, 20);
        assert_eq!((limit_at(&mut b, 1), b.server(ServerId(0)).maxconn()), (5, 5), "minconn alone is maxconn");
        let mut b = backend(3, 5, 20);
        assert_eq!((limit_at(&mut b, 1), b.server(ServerId(0)).maxconn()), (5, 5), "minconn above maxconn wins");
        let mut b = backend(0, 0, 20);
        assert_eq!(limit_at(&mut b, 1), 0, "unlimited");
    }
}
