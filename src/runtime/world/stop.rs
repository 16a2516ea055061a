//! How a soft stop is paced: `grace` (the listeners keep accepting for a while after
//! the signal) and `close-spread-time` (idle client connections are let go over a
//! window rather than all at once, so that clients do not all reconnect at the same
//! moment).
//!
//! With `close-spread-time W`, the streams alive when the soft stop starts are told
//! to stop one after the other, evenly over W: a stream idle between requests closes
//! when its turn comes, a busy one finishes its response first (with `connection:
//! close`), and until its turn a stream keeps serving its client as usual. HAProxy
//! draws the moment at random for each connection; the even spread gives the same
//! load with no randomness.

use super::{Env, Life, Phase, World};
use crate::reactor::{Ctx, GlobalTimer, Key, TimerTarget};
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// The soft-stop settings and progress of one reactor thread.
#[derive(Debug, Default)]
pub(super) struct Stopping {
    grace: Option<Duration>,
    spread: Option<Duration>,
    /// The signal came and the grace period is running.
    grace_running: bool,
    /// Streams not told to stop yet, and when to tell them (in order).
    queue: VecDeque<(Instant, Key)>,
}

impl World {
    /// `grace` and `close-spread-time` from the `global` section.
    pub fn set_stop_pacing(&mut self, grace: Option<Duration>, spread: Option<Duration>) {
        self.stopping.grace = grace;
        self.stopping.spread = spread;
    }

    /// On a soft-stop signal: with `grace`, schedules the stop and returns true (the
    /// listeners stay open meanwhile; a second signal changes nothing).
    pub(super) fn grace_first(&mut self, cx: &mut Ctx<'_>) -> bool {
        let Some(grace) = self.stopping.grace else { return false };
        if !self.stopping.grace_running {
            self.stopping.grace_running = true;
            if self.thread == 1 {
                crate::notice!("Scheduling a soft-stop in {} ms.", grace.as_millis());
            }
            cx.timers.arm(cx.now + grace, TimerTarget::Global(GlobalTimer::Grace));
        }
        true
    }

    pub(super) fn grace_expired(&mut self, cx: &mut Ctx<'_>) {
        if self.phase != Phase::Running {
            return;
        }
        if self.thread == 1 {
            crate::notice!("Grace period expired, proceeding with soft-stop now.");
        }
        self.soft_stop_now(cx);
    }

    /// Tells the streams `keys` that the process stops: all now, or spread over
    /// `close-spread-time`.
    pub(super) fn let_go(&mut self, cx: &mut Ctx<'_>, keys: Vec<Key>) {
        let Some(window) = self.stopping.spread else {
            for key in keys {
                self.let_go_one(cx, key);
            }
            return;
        };
        if window == Duration::MAX {
            return; // `infinite`: nobody is told, each stream ends at its own pace
        }
        let n = keys.len().max(1) as u32;
        self.stopping.queue = keys.into_iter().enumerate().map(|(i, key)| (cx.now + window * i as u32 / n, key)).collect();
        self.spread_tick(cx);
    }

    /// Tells the streams whose turn has come, and waits for the next turn.
    pub(super) fn spread_tick(&mut self, cx: &mut Ctx<'_>) {
        while let Some(&(at, key)) = self.stopping.queue.front() {
            if at > cx.now {
                cx.timers.arm(at, TimerTarget::Global(GlobalTimer::CloseSpread));
                return;
            }
            self.stopping.queue.pop_front();
            self.let_go_one(cx, key);
        }
    }

    fn let_go_one(&mut self, cx: &mut Ctx<'_>, key: Key) {
        let Some(s) = self.streams.get_mut(key) else { return }; // it ended meanwhile
        let mut env = Env { cx, key, proxies: &mut self.proxies, pool: &mut self.farm };
        if let Some(conn) = s.h2_conn() {
            self.h2_dirty.push(conn);
        }
        if s.soft_stop(&mut env) == Life::Finished {
            self.finish(cx, key);
        }
    }
}
