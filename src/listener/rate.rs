//! Accept rate limits: `maxconnrate` and `maxsessrate` (global, per second) and
//! `rate-limit sessions` (per frontend).
//!
//! As in HAProxy, a limit does not refuse anything: when the rate over the last second
//! reaches it, the listener stops accepting until the rate falls below it again, and
//! the connections that arrive meanwhile wait in the kernel's accept queue (the
//! backlog). The rate is HAProxy's sliding estimate over two one-second periods: the
//! events of the current period plus those of the previous one weighted by the part of
//! it still inside the last second.
//!
//! With `nbthread N`, each reactor thread enforces its share of a limit (the limit
//! split as `maxconn` is), since threads share no counter.

use std::time::{Duration, Instant};

const PERIOD: Duration = Duration::from_secs(1);

/// Events per second over a sliding second.
#[derive(Clone, Debug)]
pub struct Rate {
    start: Instant,
    curr: u32,
    prev: u32,
}

impl Rate {
    pub fn new(now: Instant) -> Rate {
        Rate { start: now, curr: 0, prev: 0 }
    }

    /// Moves the window to the period holding `now`.
    fn rotate(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.start);
        if elapsed < PERIOD {
            return;
        }
        let periods = elapsed.as_nanos() / PERIOD.as_nanos();
        self.prev = if periods == 1 { self.curr } else { 0 };
        self.curr = 0;
        self.start += PERIOD * periods as u32;
    }

    /// Counts one event at `now`.
    pub fn add(&mut self, now: Instant) {
        self.rotate(now);
        self.curr = self.curr.saturating_add(1);
    }

    /// The estimated number of events in the second before `now`.
    pub fn per_second(&mut self, now: Instant) -> f64 {
        self.rotate(now);
        let into = now.saturating_duration_since(self.start).as_secs_f64();
        f64::from(self.curr) + f64::from(self.prev) * (1.0 - into).max(0.0)
    }

    /// `None` when one more event stays within `limit` per second, else how long to
    /// wait until it does.
    pub fn wait(&mut self, limit: u32, now: Instant) -> Option<Duration> {
        if self.per_second(now) < f64::from(limit) {
            return None;
        }
        let into = now.saturating_duration_since(self.start).as_secs_f64();
        let end_of_period = PERIOD.as_secs_f64() - into;
        // Within this period the estimate falls only as `prev` fades out; if `curr`
        // alone reaches the limit, the next period is the earliest.
        let wait = if self.curr >= limit || self.prev == 0 {
            end_of_period
        } else {
            // curr + prev * (1 - t) < limit  ⇔  t > 1 - (limit - curr) / prev
            let t = 1.0 - f64::from(limit - self.curr) / f64::from(self.prev);
            (t - into).max(0.0)
        };
        // A millisecond at least: timers are not finer, and a zero wait would spin.
        Some(Duration::from_secs_f64(wait).max(Duration::from_millis(1)))
    }
}

/// The accept limits of one reactor thread.
#[derive(Debug)]
pub struct AcceptRates {
    conn: Option<(u32, Rate)>,
    sess: Option<(u32, Rate)>,
    /// Per proxy (indexed like the proxies): `rate-limit sessions`.
    frontends: Vec<Option<(u32, Rate)>>,
    /// Per listener: when its retry timer is due, so that the connection events that
    /// keep coming while it waits do not arm one timer each.
    retry_at: Vec<Option<Instant>>,
    /// `maxsslrate`: TLS connections accepted per second on `ssl` listeners.
    ssl_rate: Option<(u32, Rate)>,
    /// `maxsslconn`: live TLS connections on `ssl` listeners.
    maxsslconn: Option<u32>,
}

impl AcceptRates {
    /// `maxconnrate`, `maxsessrate` and each proxy's `rate-limit sessions`, already
    /// divided for this thread.
    pub fn new(maxconnrate: Option<u32>, maxsessrate: Option<u32>, frontends: Vec<Option<u32>>, now: Instant) -> AcceptRates {
        let limit = |l: Option<u32>| l.filter(|&l| l > 0).map(|l| (l, Rate::new(now)));
        AcceptRates {
            conn: limit(maxconnrate),
            sess: limit(maxsessrate),
            frontends: frontends.into_iter().map(limit).collect(),
            retry_at: Vec::new(),
            ssl_rate: None,
            maxsslconn: None,
        }
    }

    /// Adds `maxsslrate` and `maxsslconn` (already divided for this thread).
    pub fn with_ssl(mut self, maxsslrate: Option<u32>, maxsslconn: Option<u32>, now: Instant) -> AcceptRates {
        self.ssl_rate = maxsslrate.filter(|&l| l > 0).map(|l| (l, Rate::new(now)));
        self.maxsslconn = maxsslconn.filter(|&l| l > 0);
        self
    }

    /// Whether `ssl_conns` live TLS connections leave room for one more (`maxsslconn`).
    pub fn ssl_room(&self, ssl_conns: u32) -> bool {
        self.maxsslconn.is_none_or(|max| ssl_conns < max)
    }

    /// Whether an `ssl` listener may accept one more connection now (`maxsslrate`); if
    /// not, how long to wait.
    pub fn ssl_wait(&mut self, now: Instant) -> Option<Duration> {
        self.ssl_rate.as_mut().and_then(|(limit, rate)| rate.wait(*limit, now))
    }

    /// A connection was accepted on an `ssl` listener.
    pub fn ssl_accepted(&mut self, now: Instant) {
        if let Some((_, r)) = self.ssl_rate.as_mut() {
            r.add(now);
        }
    }

    /// Whether a retry timer must be armed for listener `li` at `at` (none is pending).
    pub fn arm_retry(&mut self, li: usize, at: Instant, now: Instant) -> bool {
        if self.retry_at.len() <= li {
            self.retry_at.resize(li + 1, None);
        }
        if self.retry_at[li].is_some_and(|due| due > now) {
            return false;
        }
        self.retry_at[li] = Some(at);
        true
    }

    /// The limits of `config` for reactor thread `number` (from 1) of `threads`.
    pub fn for_thread(config: &crate::config::model::Config, threads: usize, number: usize, now: Instant) -> AcceptRates {
        let part = |l: Option<u32>| l.map(|l| share(l, threads, number));
        let t = &config.global.tuning;
        let frontends = config.proxies.iter().map(|p| part(p.rate_limit_sessions.filter(|_| p.cap.frontend))).collect();
        AcceptRates::new(part(t.maxconnrate), part(t.maxsessrate), frontends, now).with_ssl(part(t.maxsslrate), part(t.maxsslconn), now)
    }

    /// No limit at all: the accept path skips every check.
    pub fn is_empty(&self) -> bool {
        self.conn.is_none() && self.sess.is_none() && self.ssl_rate.is_none() && self.frontends.iter().all(Option::is_none)
    }

    /// Whether frontend `fe` may accept one more connection now; if not, how long
    /// to wait.
    pub fn wait(&mut self, fe: usize, now: Instant) -> Option<Duration> {
        let limits = [self.conn.as_mut(), self.sess.as_mut(), self.frontends.get_mut(fe).and_then(Option::as_mut)];
        limits.into_iter().flatten().filter_map(|(limit, rate)| rate.wait(*limit, now)).max()
    }

    /// A connection was accepted for frontend `fe`.
    pub fn accepted(&mut self, now: Instant) {
        if let Some((_, r)) = self.conn.as_mut() {
            r.add(now);
        }
    }

    /// A session started on frontend `fe` (its connection passed the `tcp-request
    /// connection` rules).
    pub fn session(&mut self, fe: usize, now: Instant) {
        if let Some((_, r)) = self.sess.as_mut() {
            r.add(now);
        }
        if let Some(Some((_, r))) = self.frontends.get_mut(fe) {
            r.add(now);
        }
    }
}

/// Thread `number`'s part of `limit` over `threads` threads (the remainder to the first
/// ones, and one at least so that every thread accepts).
fn share(limit: u32, threads: usize, number: usize) -> u32 {
    let n = threads.max(1) as u32;
    let k = number.clamp(1, threads.max(1)) as u32;
    (limit / n + u32::from(k <= limit % n)).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limit_holds_within_a_period_and_fades_with_the_next() {
        let t0 = Instant::now();
        let mut r = Rate::new(t0);
        for _ in 0..5 {
            assert_eq!(r.wait(5, t0), None);
            r.add(t0);
        }
        // Five in this period: wait for the next one.
        assert_eq!(r.wait(5, t0), Some(PERIOD));
        let half = t0 + PERIOD / 2;
        assert_eq!(r.wait(5, half), Some(PERIOD / 2));
        // Next period: the previous five count for the part of the second they still
        // cover. Just after the boundary the estimate is below 5 again; after one more
        // event (6 = 1 + 5), the next waits until a fifth of the period has passed
        // (1 + 5 × 0.8 = 5 is the limit).
        let next = t0 + PERIOD;
        assert_eq!(r.wait(5, next), Some(Duration::from_millis(1)));
        assert_eq!(r.wait(5, next + Duration::from_millis(1)), None);
        r.add(next);
        let w = r.wait(5, next).unwrap();
        assert!(w >= Duration::from_millis(199) && w <= Duration::from_millis(201), "{w:?}");
        assert_eq!(r.wait(5, next + Duration::from_millis(250)), None);
        // Long idle: everything is forgotten.
        assert_eq!(r.per_second(t0 + PERIOD * 3), 0.0);
    }

    #[test]
    fn accept_rates_take_the_longest_wait() {
        let t0 = Instant::now();
        let mut a = AcceptRates::new(Some(100), None, vec![None, Some(2)], t0);
        assert!(!a.is_empty());
        for _ in 0..2 {
            assert_eq!(a.wait(1, t0), None);
            a.accepted(t0);
            a.session(1, t0);
        }
        assert_eq!(a.wait(1, t0), Some(PERIOD), "frontend 1 is at its limit");
        assert_eq!(a.wait(0, t0), None, "frontend 0 has no limit of its own");
        assert!(AcceptRates::new(None, Some(0), vec![None], t0).is_empty());
        // One retry timer per listener at a time.
        let later = t0 + PERIOD;
        assert!(a.arm_retry(3, later, t0));
        assert!(!a.arm_retry(3, later, t0 + PERIOD / 2));
        assert!(a.arm_retry(3, later + PERIOD, later));
    }

    #[test]
    fn ssl_limits() {
        let t0 = Instant::now();
        let mut a = AcceptRates::new(None, None, vec![None], t0).with_ssl(Some(2), Some(3), t0);
        assert!(!a.is_empty());
        assert!(a.ssl_room(2) && !a.ssl_room(3));
        for _ in 0..2 {
            assert_eq!(a.ssl_wait(t0), None);
            a.ssl_accepted(t0);
        }
        assert_eq!(a.ssl_wait(t0), Some(PERIOD));
        assert_eq!(a.wait(0, t0), None, "plain listeners are not limited");
        let none = AcceptRates::new(None, None, vec![None], t0).with_ssl(Some(0), None, t0);
        assert!(none.is_empty() && none.ssl_room(u32::MAX));
    }

    #[test]
    fn threads_share_a_limit() {
        assert_eq!((1..=3).map(|k| share(10, 3, k)).collect::<Vec<_>>(), [4, 3, 3]);
        assert_eq!(share(1, 2, 2), 1);
        assert_eq!(share(7, 1, 1), 7);
    }
}
