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

pub mod slab;
pub mod timer;
pub mod token;
pub mod wake;

pub use self::slab::GenSlab;
pub use timer::{GlobalTimer, TimerTarget, Timers};
pub use token::{Key, Kind, Tagged};
pub use wake::WakeQueue;

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
            for ev in self.events.iter() {
                let ready = Ready::from_event(ev);
                let Some(tagged) = token::decode(ev.token()) else {
                    continue; // never handed out: spurious
                };
                if tagged.kind == Kind::Reserved {
                    handler.reserved(&mut cx, ev.token(), ready);
                } else {
                    handler.ready(&mut cx, tagged, ready);
                }
            }
            let mut fired = 0;
            while fired < MAX_TIMERS_PER_ITERATION {
                let Some((at, target)) = cx.timers.pop_expired(cx.now) else { break };
                handler.timer(&mut cx, at, target);
                fired += 1;
            }
            for (kind, key) in cx.wake.take() {
                handler.wake(&mut cx, kind, key);
            }
            if let Flow::Exit(code) = handler.end_of_iteration(&mut cx) {
                return Ok(code);
            }
        }
    }
}
