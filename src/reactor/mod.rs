//! The reactor: one `mio::Poll` loop, generation-tagged tokens, one timer heap and a
//! run queue. It knows tokens, readiness and deadlines, nothing about TCP proxying or
//! HTTP: what an event *means* is the [`Handler`]'s business (see `runtime.rs`).
//!
//! One iteration of [`Reactor::run`]:
//!
//! 1. sleep in `poll()` until an event, the earliest timer, or at once if the run
//!    queue is not empty (`Interrupted` is retried: a signal woke us, and the signal's
//!    self-pipe will be readable at the next poll);
//! 2. hand every event to [`Handler::ready`] (decoded token, [`Ready`] set); events
//!    for tokens we never hand out are dropped here, stale generations by the handler's
//!    [`GenSlab`] lookups;
//! 3. fire expired timers ([`Handler::timer`]), at most [`MAX_TIMERS_PER_ITERATION`];
//! 4. run the streams queued in the [`WakeQueue`] ([`Handler::wake`]);
//! 5. [`Handler::end_of_iteration`] decides whether to go on or exit with a code.
//!
//! While task profiling is active (`set profiling tasks`, [`activity::profiling`], read
//! once per iteration), every dispatch of steps 2 to 4 is timed and counted under the
//! name [`Handler::task_id`] gives it.

pub mod slab;
pub mod timer;
pub mod token;
pub mod wake;

pub use self::slab::GenSlab;
pub use timer::{GlobalTimer, TimerTarget, Timers};
pub use token::{Key, Kind, Tagged};
pub use wake::WakeQueue;

use crate::stats::activity::{self, TaskFn, TaskId, Via};
use mio::{Events, Poll, Registry, Token};
use std::io;
use std::time::Instant;

/// Events fetched per `poll()` call.
pub const EVENTS_CAPACITY: usize = 1024;
/// Timers fired per iteration before going back to `poll()` (the rest wait one round).
pub const MAX_TIMERS_PER_ITERATION: usize = 4096;

/// Readiness reported by one event, as data (the handler keeps what it needs).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Ready {
    pub readable: bool,
    pub writable: bool,
    /// The peer closed its write side (reading will return EOF once drained).
    pub read_closed: bool,
    /// The peer will not accept more data (reset or shut down for reading).
    pub write_closed: bool,
    pub error: bool,
}

impl Ready {
    fn from_event(ev: &mio::event::Event) -> Ready {
        Ready {
            readable: ev.is_readable(),
            writable: ev.is_writable(),
            read_closed: ev.is_read_closed(),
            write_closed: ev.is_write_closed(),
            error: ev.is_error(),
        }
    }
}

/// What the handler may touch while it reacts: the poll registry (to register and
/// reregister sockets), the timers, the run queue, and the time of this iteration.
pub struct Ctx<'a> {
    pub registry: &'a Registry,
    pub timers: &'a mut Timers,
    pub wake: &'a mut WakeQueue,
    /// Read once after `poll()` returns; every deadline computed in this iteration
    /// starts from here.
    pub now: Instant,
}

/// Whether the loop goes on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flow {
    Continue,
    Exit(i32),
}

/// The owner of everything the tokens point at.
pub trait Handler {
    /// A reserved token (see [`token::SIGNALS`]) is ready.
    fn reserved(&mut self, cx: &mut Ctx<'_>, token: Token, ready: Ready);
    /// A listener, stream side or check is ready.
    fn ready(&mut self, cx: &mut Ctx<'_>, target: Tagged, ready: Ready);
    /// A timer armed for `target` at `deadline` expired.
    fn timer(&mut self, cx: &mut Ctx<'_>, deadline: Instant, target: TimerTarget);
    /// A target queued in the run queue.
    fn wake(&mut self, cx: &mut Ctx<'_>, kind: Kind, key: Key);
    /// Called once per iteration after events, timers and wake-ups.
    fn end_of_iteration(&mut self, cx: &mut Ctx<'_>) -> Flow;
    /// What task profiling (`show profiling`) names a dispatch to `kind`/`key`; asked
    /// just before the dispatch, only while profiling is active.
    fn task_id(&self, kind: Kind, _key: Key, via: Via) -> TaskId {
        TaskId::of(kind, via)
    }
}

pub struct Reactor {
    poll: Poll,
    events: Events,
    pub timers: Timers,
    pub wake: WakeQueue,
}

impl Reactor {
    pub fn new() -> io::Result<Reactor> {
        Ok(Reactor {
            poll: Poll::new()?,
            events: Events::with_capacity(EVENTS_CAPACITY),
            timers: Timers::default(),
            wake: WakeQueue::default(),
        })
    }

    pub fn registry(&self) -> &Registry {
        self.poll.registry()
    }

    /// A context outside of `run` (used while building listeners and checks).
    pub fn ctx(&mut self) -> Ctx<'_> {
        Ctx {
            registry: self.poll.registry(),
            timers: &mut self.timers,
            wake: &mut self.wake,
            now: Instant::now(),
        }
    }

    /// Runs until the handler returns [`Flow::Exit`]; returns its code.
    pub fn run<H: Handler>(&mut self, handler: &mut H) -> io::Result<i32> {
        loop {
            let timeout = if self.wake.is_empty() {
                self.timers.poll_timeout(Instant::now(), None)
            } else {
                Some(std::time::Duration::ZERO)
            };
            // mio rounds a sub-millisecond timeout up, so a deadline is never missed by a spin.
            match self.poll.poll(&mut self.events, timeout) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
            let mut cx = Ctx {
                registry: self.poll.registry(),
                timers: &mut self.timers,
                wake: &mut self.wake,
                now: Instant::now(),
            };
            // Task profiling: one branch per dispatch while it is inactive.
            let profiling = activity::profiling();
            let polled = cx.now;
            for ev in self.events.iter() {
                let ready = Ready::from_event(ev);
                let Some(tagged) = token::decode(ev.token()) else {
                    continue; // never handed out: spurious
                };
                if tagged.kind == Kind::Reserved {
                    if profiling {
                        activity::timed(TaskId::global(TaskFn::Signals), polled, || handler.reserved(&mut cx, ev.token(), ready));
                    } else {
                        handler.reserved(&mut cx, ev.token(), ready);
                    }
                } else if profiling {
                    let id = handler.task_id(tagged.kind, tagged.key, Via::Io);
                    activity::timed(id, polled, || handler.ready(&mut cx, tagged, ready));
                } else {
                    handler.ready(&mut cx, tagged, ready);
                }
            }
            let mut fired = 0;
            while fired < MAX_TIMERS_PER_ITERATION {
                let Some((at, target)) = cx.timers.pop_expired(cx.now) else { break };
                if profiling {
                    let id = match target {
                        TimerTarget::Entry(kind, key) => handler.task_id(kind, key, Via::Timer),
                        TimerTarget::Global(GlobalTimer::HardStop) => TaskId::global(TaskFn::HardStop),
                        TimerTarget::Global(GlobalTimer::Grace | GlobalTimer::CloseSpread | GlobalTimer::Resolvers) => TaskId::global(TaskFn::Other),
                    };
                    activity::timed(id, at, || handler.timer(&mut cx, at, target));
                } else {
                    handler.timer(&mut cx, at, target);
                }
                fired += 1;
            }
            let mut wakes = 0;
            for (kind, key) in cx.wake.take() {
                if profiling {
                    let id = handler.task_id(kind, key, Via::Wake);
                    activity::timed(id, polled, || handler.wake(&mut cx, kind, key));
                } else {
                    handler.wake(&mut cx, kind, key);
                }
                wakes += 1;
            }
            activity::iteration(self.events.iter().count(), fired, wakes);
            activity::loop_end(polled);
            if let Flow::Exit(code) = handler.end_of_iteration(&mut cx) {
                return Ok(code);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// Records what the loop delivers and stops after the second timer.
    #[derive(Default)]
    struct Recorder {
        seen: Vec<String>,
    }

    impl Handler for Recorder {
        fn reserved(&mut self, _: &mut Ctx<'_>, t: Token, _: Ready) {
            self.seen.push(format!("reserved {}", t.0));
        }
        fn ready(&mut self, _: &mut Ctx<'_>, t: Tagged, _: Ready) {
            self.seen.push(format!("ready {:?}", t.kind));
        }
        fn timer(&mut self, cx: &mut Ctx<'_>, _: Instant, target: TimerTarget) {
            if let TimerTarget::Entry(Kind::Client, key) = target {
                self.seen.push(format!("timer {}", key.slot));
                if key.slot == 1 {
                    // Wake-ups queued from a timer run in the same iteration.
                    cx.wake.push(Kind::Client, Key { slot: 9, gen: 0 });
                }
            }
        }
        fn wake(&mut self, _: &mut Ctx<'_>, _: Kind, key: Key) {
            self.seen.push(format!("wake {}", key.slot));
        }
        fn end_of_iteration(&mut self, _: &mut Ctx<'_>) -> Flow {
            if self.seen.last().is_some_and(|s| s != "|") {
                self.seen.push("|".into()); // the end of an iteration that delivered something
            }
            if self.seen.iter().filter(|s| s.starts_with("timer")).count() >= 2 {
                Flow::Exit(7)
            } else {
                Flow::Continue
            }
        }
    }

    #[test]
    fn timers_fire_in_order_then_wake_ups_run_then_exit() {
        let mut r = Reactor::new().unwrap();
        let now = Instant::now();
        r.timers.arm(now + Duration::from_millis(30), TimerTarget::Entry(Kind::Client, Key { slot: 2, gen: 0 }));
        r.timers.arm(now + Duration::from_millis(10), TimerTarget::Entry(Kind::Client, Key { slot: 1, gen: 0 }));
        let mut h = Recorder::default();
        assert_eq!(r.run(&mut h).unwrap(), 7);
        // The wake-up runs in the iteration of the timer that queued it, after that
        // iteration's timers: timer 2 comes in a later iteration, or in the same one when
        // a loaded machine kept the loop from polling before both deadlines passed.
        let seen = h.seen.join(" ");
        assert!(seen == "timer 1 wake 9 | timer 2 |" || seen == "timer 1 timer 2 wake 9 |", "{seen}");
        assert!(now.elapsed() >= Duration::from_millis(30), "poll slept until the deadlines");
    }

    #[test]
    fn socket_events_reach_the_handler_with_their_kind() {
        let mut r = Reactor::new().unwrap();
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.set_nonblocking(true).unwrap();
        let mut ml = mio::net::TcpListener::from_std(l);
        let key = Key { slot: 3, gen: 5 };
        r.registry().register(&mut ml, token::encode(Kind::Listener, key), mio::Interest::READABLE).unwrap();
        let _c = std::net::TcpStream::connect(ml.local_addr().unwrap()).unwrap();
        // Stop at the first timer, armed far enough for the connect event to come first.
        r.timers.arm(Instant::now() + Duration::from_millis(200), TimerTarget::Entry(Kind::Client, Key { slot: 0, gen: 0 }));
        r.timers.arm(Instant::now() + Duration::from_millis(201), TimerTarget::Entry(Kind::Client, Key { slot: 0, gen: 0 }));
        let mut h = Recorder::default();
        r.run(&mut h).unwrap();
        assert_eq!(h.seen.first().map(String::as_str), Some("ready Listener"));
    }
}
