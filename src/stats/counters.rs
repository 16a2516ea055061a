//! The traffic counters a proxy keeps for the statistics (`show stat`, the stats page):
//! one [`FrontendCounters`] for its frontend side, one [`TrafficCounters`] for its
//! backend side and one per server. They live in the proxy table
//! ([`crate::stream::proxy::ProxyRt::counters`]) and are updated in place, O(1) and
//! without allocation, by the `account_*` functions of [`crate::stats`].
//!
//! What the backend module already counts (sessions, slots, queues, connect failures,
//! retries, redispatches, check failures) is read from [`crate::backend::Backend`]
//! when a snapshot is taken, not counted twice.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Milliseconds since the first call (the counters' common time base).
pub fn millis(now: Instant) -> u64 {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    let epoch = *EPOCH.get_or_init(|| now);
    now.saturating_duration_since(epoch).as_millis() as u64
}

/// Events per second over a sliding one-second window, as HAProxy's `freq_ctr`
/// estimates it: the events of the current second plus the previous second's,
/// weighted by the part of the window still covered by it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FreqCtr {
    /// The second (since [`millis`]'s epoch) `curr` counts.
    period: u64,
    curr: u32,
    prev: u32,
}

impl FreqCtr {
    /// Counts one event at `now_ms` and returns the rate including it.
    pub fn add(&mut self, now_ms: u64) -> u32 {
        let period = now_ms / 1000;
        if period == self.period + 1 {
            self.prev = self.curr;
            self.curr = 0;
        } else if period != self.period {
            self.prev = 0;
            self.curr = 0;
        }
        self.period = period;
        self.curr = self.curr.saturating_add(1);
        self.read(now_ms)
    }

    /// The rate at `now_ms`.
    pub fn read(&self, now_ms: u64) -> u32 {
        let period = now_ms / 1000;
        let left = 1000 - now_ms % 1000; // ms of the previous second still in the window
        let weighted = |n: u32| (u64::from(n) * left / 1000) as u32;
        if period == self.period {
            self.curr + weighted(self.prev)
        } else if period == self.period + 1 {
            weighted(self.curr)
        } else {
            0
        }
    }
}

/// A rate and the highest value it reached.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Rate {
    pub ctr: FreqCtr,
    pub max: u32,
}

impl Rate {
    pub fn add(&mut self, now_ms: u64) {
        let r = self.ctr.add(now_ms);
        self.max = self.max.max(r);
    }
}

/// The average of the last [`AvgMs::WINDOW`] samples (milliseconds), kept as a
/// running sum like HAProxy's sliding-window average: exact until the window is
/// full, then each new sample replaces one average sample.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AvgMs {
    sum: u64,
    count: u64,
    pub max: u64,
}

impl AvgMs {
    /// HAProxy documents the averages as "over the 1024 last requests".
    pub const WINDOW: u64 = 1024;

    pub fn add(&mut self, d: Duration) {
        let v = d.as_millis() as u64;
        self.max = self.max.max(v);
        if self.count < Self::WINDOW {
            self.count += 1;
            self.sum += v;
        } else {
            self.sum = self.sum - self.sum / Self::WINDOW + v;
        }
    }

    pub fn avg(&self) -> u64 {
        match self.count {
            0 => 0,
            n => self.sum / n,
        }
    }
}

/// HTTP responses by status class: 1xx, 2xx, 3xx, 4xx, 5xx, other.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StatusClasses(pub [u64; 6]);

impl StatusClasses {
    pub fn add(&mut self, status: u16) {
        let i = match status {
            100..=599 => usize::from(status / 100 - 1),
            _ => 5,
        };
        self.0[i] += 1;
    }
}

/// The frontend side of a proxy (HAProxy's `fe_counters`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FrontendCounters {
    /// Connections accepted (`conn_tot`), and their rate.
    pub conn_tot: u64,
    pub conn_rate: Rate,
    /// Sessions (`stot`): connections that passed `tcp-request connection`.
    pub sess_tot: u64,
    pub sess_rate: Rate,
    /// Highest `feconn` seen (`smax`).
    pub sess_max: u32,
    /// HTTP requests received (`req_tot`), and their rate.
    pub req_tot: u64,
    pub req_rate: Rate,
    /// Bytes from / to the clients.
    pub bytes_in: u64,
    pub bytes_out: u64,
    /// Requests denied by rules (`dreq`) and responses denied (`dresp`).
    pub denied_req: u64,
    pub denied_resp: u64,
    /// Bad or aborted requests (`ereq`).
    pub failed_req: u64,
    /// Connections refused by `tcp-request connection` (`dcon`) and sessions refused
    /// by `tcp-request session` (`dses`).
    pub denied_conn: u64,
    pub denied_sess: u64,
    /// Requests answered by the proxy itself: the stats page (`intercepted`).
    pub intercepted: u64,
    /// Responses sent, by status class (`hrsp_*`).
    pub rsp: StatusClasses,
}

/// The backend side of a proxy, and each server (HAProxy's `be_counters`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TrafficCounters {
    /// Bytes from the clients (`bin`) and to them (`bout`).
    pub bytes_in: u64,
    pub bytes_out: u64,
    /// Requests denied by the backend's rules (`dreq`, backends only).
    pub denied_req: u64,
    pub denied_resp: u64,
    /// Invalid or missing responses (`eresp`).
    pub failed_resp: u64,
    /// Transfers aborted by the client (`cli_abrt`) or the server (`srv_abrt`).
    pub cli_abrt: u64,
    pub srv_abrt: u64,
    /// HTTP requests sent (`req_tot`) and responses by class (`hrsp_*`).
    pub req_tot: u64,
    pub rsp: StatusClasses,
    /// Sessions assigned, per second (`rate`, `rate_max`).
    pub sess_rate: Rate,
    /// When the last session was assigned (`lastsess`).
    pub last_sess: Option<Instant>,
    /// Queue, connect, response and total times (`qtime ctime rtime ttime` and maxima).
    pub qtime: AvgMs,
    pub ctime: AvgMs,
    pub rtime: AvgMs,
    pub ttime: AvgMs,
    /// Server connections opened (`connect`) and requests sent over an idle one
    /// (`reuse`).
    pub connects: u64,
    pub reuses: u64,
    /// Servers: idle connections a client keeps for its next request (the shared pool's
    /// are counted by the pool); with them, `srv_icur` and `safe_conn_cur`.
    pub idle_private: u32,
}

/// When the state (UP/DOWN) of a server or backend last changed, and how long it was
/// down (`lastchg`, `downtime`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StateClock {
    pub last_change: Instant,
    pub down_since: Option<Instant>,
    pub downtime: Duration,
}

impl StateClock {
    pub fn new(now: Instant) -> StateClock {
        StateClock { last_change: now, down_since: None, downtime: Duration::ZERO }
    }

    /// Records a change to `up` (or down) at `now`.
    pub fn changed(&mut self, up: bool, now: Instant) {
        self.last_change = now;
        match (up, self.down_since) {
            (true, Some(since)) => {
                self.downtime += now.saturating_duration_since(since);
                self.down_since = None;
            }
            (false, None) => self.down_since = Some(now),
            _ => {}
        }
    }

    /// Total time down, including a current down period.
    pub fn downtime(&self, now: Instant) -> Duration {
        self.downtime + self.down_since.map_or(Duration::ZERO, |s| now.saturating_duration_since(s))
    }
}

/// Everything a proxy counts for the statistics.
#[derive(Clone, Debug)]
pub struct ProxyCounters {
    pub fe: FrontendCounters,
    pub be: TrafficCounters,
    /// Indexed like the backend's servers.
    pub servers: Vec<TrafficCounters>,
    /// The backend's UP/DOWN state, and each server's.
    pub be_state: StateClock,
    pub server_states: Vec<StateClock>,
    /// The backend was UP at the last state change (to notice its transitions).
    pub be_up: bool,
    /// `fullconn`, as configured.
    pub fullconn: Option<u32>,
    /// The session limits shown as `slim`: the frontend's `maxconn` (or the global
    /// one), the backend's `fullconn` (see [`crate::stats::set_limits`]).
    pub fe_limit: u32,
    pub be_limit: u32,
}

impl ProxyCounters {
    pub fn new(servers: usize, now: Instant) -> ProxyCounters {
        ProxyCounters {
            fe: FrontendCounters::default(),
            be: TrafficCounters::default(),
            servers: vec![TrafficCounters::default(); servers],
            be_state: StateClock::new(now),
            server_states: vec![StateClock::new(now); servers],
            be_up: true,
            fullconn: None,
            fe_limit: 0,
            be_limit: 0,
        }
    }
}

impl ProxyCounters {
    /// `clear counters`: the highest values (sessions, rates, times), as HAProxy
    /// clears them; with `all`, every counter (`clear counters all`). States, their
    /// clocks and the limits stay.
    pub fn clear(&mut self, all: bool) {
        let traffic = std::iter::once(&mut self.be).chain(self.servers.iter_mut());
        if all {
            self.fe = FrontendCounters::default();
            for t in traffic {
                // A gauge, not a counter: the idle connections still exist.
                *t = TrafficCounters { idle_private: t.idle_private, ..TrafficCounters::default() };
            }
            return;
        }
        let fe = &mut self.fe;
        fe.sess_max = 0;
        for r in [&mut fe.conn_rate, &mut fe.sess_rate, &mut fe.req_rate] {
            r.max = 0;
        }
        for t in traffic {
            t.sess_rate.max = 0;
            for a in [&mut t.qtime, &mut t.ctime, &mut t.rtime, &mut t.ttime] {
                a.max = 0;
            }
        }
    }
}

impl Default for ProxyCounters {
    fn default() -> Self {
        ProxyCounters::new(0, Instant::now())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn freq_ctr_slides_over_one_second() {
        let mut f = FreqCtr::default();
        for _ in 0..10 {
            f.add(5_000);
        }
        assert_eq!(f.read(5_999), 10);
        // Half-way through the next second, half of the previous one still counts.
        assert_eq!(f.read(6_500), 5);
        assert_eq!(f.add(6_500), 6);
        assert_eq!(f.read(8_000), 0);
        assert_eq!(f.add(9_000), 1);
    }

    #[test]
    fn averages_and_classes() {
        let mut a = AvgMs::default();
        assert_eq!(a.avg(), 0);
        a.add(Duration::from_millis(10));
        a.add(Duration::from_millis(20));
        assert_eq!((a.avg(), a.max), (15, 20));
        for _ in 0..5000 {
            a.add(Duration::from_millis(4));
        }
        assert_eq!(a.avg(), 4);
        let mut c = StatusClasses::default();
        for s in [100, 200, 204, 302, 404, 503, 600, 99] {
            c.add(s);
        }
        assert_eq!(c.0, [1, 2, 1, 1, 1, 2]);
    }

    #[test]
    fn downtime_accumulates() {
        let t0 = Instant::now();
        let mut s = StateClock::new(t0);
        s.changed(false, t0 + Duration::from_secs(1));
        assert_eq!(s.downtime(t0 + Duration::from_secs(3)), Duration::from_secs(2));
        s.changed(true, t0 + Duration::from_secs(4));
        assert_eq!(s.downtime(t0 + Duration::from_secs(10)), Duration::from_secs(3));
        assert_eq!(s.last_change, t0 + Duration::from_secs(4));
    }
}
