//! SPOE, the Stream Processing Offload Engine (`filter spoe`, doc/spoe.md): streams
//! send messages made of samples to external agents over SPOP and apply the variables
//! the agents set in their answers.
//!
//! - [`conf`]: the SPOE configuration file, read when the `filter spoe` line is parsed;
//! - [`frame`]: the SPOP 2.0 wire format (sans-io);
//! - [`engine`]: a filter compiled for the runtime (messages' samples and conditions);
//! - the agents' connections live in `crate::runtime::spoe`, the streams' side (events,
//!   `send-spoe-group`, waiting for the ACK) in `crate::stream::spoe`; between them, a
//!   stream's NOTIFY is a [`Job`] ([`submit`], [`take_jobs`]) and comes back as an
//!   [`Outcome`]; [`TxnState`] is what a transaction (or TCP stream) sent and waits for.

pub mod conf;
pub mod engine;
pub mod frame;

use crate::reactor::Key;
use std::cell::RefCell;
use std::time::Instant;

/// A NOTIFY a stream asks to send: the messages of one event or group of one engine.
#[derive(Debug)]
pub struct Job {
    /// [`engine::Engine::id`].
    pub engine: usize,
    pub stream: Key,
    /// SPOP's STREAM-ID (the stream's unique id) and FRAME-ID.
    pub stream_id: u64,
    pub frame_id: u64,
    /// The LIST-OF-MESSAGES.
    pub payload: Vec<u8>,
    /// `timeout processing` from the start of the event: past it the stream no
    /// longer waits, and the frame is not sent.
    pub deadline: Option<Instant>,
}

/// What became of a [`Job`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The agent's ACK and its actions.
    Ack(Vec<frame::Action>),
    /// The error code `option set-on-error` reports ([`engine::error`]).
    Error(u32),
}

thread_local! {
    /// Jobs the streams made during this event, sent by the runtime once the stream
    /// returns (`crate::runtime::spoe`).
    static OUTBOX: RefCell<Vec<Job>> = const { RefCell::new(Vec::new()) };
    /// The last FRAME-ID handed out: unique on the thread, so an answer that comes
    /// too late cannot be taken for the answer to a later NOTIFY of the same stream.
    static LAST_FRAME_ID: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// A new FRAME-ID.
pub fn next_frame_id() -> u64 {
    LAST_FRAME_ID.with(|c| {
        c.set(c.get() + 1);
        c.get()
    })
}

/// Queues `job` for the agents' connections.
pub fn submit(job: Job) {
    OUTBOX.with(|o| o.borrow_mut().push(job));
}

/// The jobs queued since the last call.
pub fn take_jobs() -> Vec<Job> {
    OUTBOX.with(|o| std::mem::take(&mut *o.borrow_mut()))
}

/// What an event or a group is, for the transaction's bookkeeping.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Work {
    Event(conf::Event),
    Group(String),
}

/// A NOTIFY in flight for the transaction.
#[derive(Debug)]
pub struct Pending {
    pub engine: usize,
    pub work: Work,
    pub frame_id: u64,
    pub started: Instant,
    pub deadline: Option<Instant>,
    /// Set by the runtime when the ACK (or an error) came.
    pub result: Option<Outcome>,
}

/// The SPOE state of one HTTP transaction (`crate::http::txn::Txn::spoe`) or TCP stream
/// (`crate::stream::inspect::Inspect::spoe`): what was processed, the engines an error
/// disabled, the NOTIFY waited for.
#[derive(Debug, Default)]
pub struct TxnState {
    /// The events processed, per engine (once per transaction each).
    events_done: Vec<(usize, conf::Event)>,
    /// Engines disabled for the rest of the transaction by an error (unless `option
    /// continue-on-error`).
    pub disabled: Vec<usize>,
    pub pending: Option<Pending>,
    /// Per engine: the processing time so far (`option set-total-time`).
    pub total_ms: Vec<(usize, u64)>,
}

impl TxnState {
    /// Records that `work` ran on engine `engine`: an event runs once per transaction,
    /// a group each time a rule sends it.
    pub fn mark_done(&mut self, engine: usize, work: &Work) {
        if let Work::Event(e) = work {
            self.events_done.push((engine, *e));
        }
    }

    pub fn is_done(&self, engine: usize, work: &Work) -> bool {
        match work {
            Work::Event(e) => self.events_done.contains(&(engine, *e)),
            Work::Group(_) => false,
        }
    }
}
