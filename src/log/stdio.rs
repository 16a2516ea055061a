//! Log lines to stdout, stderr and inherited file descriptors, without blocking the reactor.
//!
//! A pipe or terminal cannot be written "only if it would not block" without switching
//! the descriptor to non-blocking mode, which would also affect every other writer of
//! the same open file (and make `println!` panic on `EAGAIN`). Instead each such
//! destination gets a small writer thread fed through a bounded queue: the reactor only
//! does a `try_send`, and a full queue means the line is dropped and counted, exactly
//! like a full socket buffer for the UDP and unix targets.
//!
//! Threads are started lazily, on the first line, and again in a forked child (daemon
//! mode), which does not inherit its parent's threads.

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Lines waiting for the writer thread before new ones are dropped.
pub const QUEUE_LINES: usize = 4096;

enum Msg {
    Line(Vec<u8>),
    /// Answered once every line queued before it has been written.
    Flush(SyncSender<()>),
}

/// A destination written by its own thread; cloning shares the thread.
#[derive(Clone)]
pub struct LineWriter {
    tx: SyncSender<Msg>,
    /// Lines the thread failed to write (closed pipe, I/O error).
    failed: Arc<AtomicU64>,
}

impl LineWriter {
    /// Starts a writer thread for `out`. `name` names the thread (`log-stdout` ...).
    pub fn spawn(name: &str, out: Box<dyn Write + Send>) -> std::io::Result<LineWriter> {
        let (tx, rx) = sync_channel(QUEUE_LINES);
        let failed = Arc::new(AtomicU64::new(0));
        let counter = failed.clone();
        std::thread::Builder::new()
            .name(name.to_string())
            .spawn(move || write_loop(rx, out, &counter))?;
        Ok(LineWriter { tx, failed })
    }

    /// Queues one complete line. `false` if it was dropped (queue full or thread gone).
    pub fn try_write(&self, line: Vec<u8>) -> bool {
        match self.tx.try_send(Msg::Line(line)) {
            Ok(()) => true,
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => false,
        }
    }

    /// Waits (at most `timeout`) until every line queued so far is written.
    /// Returns `false` on timeout. Meant for shutdown and tests, never the reactor loop.
    pub fn flush(&self, timeout: Duration) -> bool {
        let (ack_tx, ack_rx) = sync_channel(1);
        if self.tx.send(Msg::Flush(ack_tx)).is_err() {
            return false;
        }
        ack_rx.recv_timeout(timeout).is_ok()
    }

    /// Lines the thread could not write.
    pub fn failed(&self) -> u64 {
        self.failed.load(Ordering::Relaxed)
    }
}

fn write_loop(rx: Receiver<Msg>, mut out: Box<dyn Write + Send>, failed: &AtomicU64) {
    for msg in rx {
        match msg {
            Msg::Line(line) => {
                if out.write_all(&line).and_then(|()| out.flush()).is_err() {
                    failed.fetch_add(1, Ordering::Relaxed);
                }
            }
            Msg::Flush(ack) => {
                let _ = ack.send(());
            }
        }
    }
}

/// A process-wide writer, remembered with the pid that started it: after a `fork`
/// (daemon mode) the thread is gone, and the child starts its own on its first line.
type Slot = Mutex<Option<(u32, LineWriter)>>;

fn shared(
    slot: &Slot,
    name: &str,
    open: impl FnOnce() -> Option<Box<dyn Write + Send>>,
) -> Option<LineWriter> {
    let mut slot = slot.lock().ok()?;
    let pid = std::process::id();
    if let Some((owner, w)) = slot.as_ref() {
        if *owner == pid {
            return Some(w.clone());
        }
    }
    let w = LineWriter::spawn(name, open()?).ok()?;
    *slot = Some((pid, w.clone()));
    Some(w)
}

static STDOUT: Slot = Mutex::new(None);
static STDERR: Slot = Mutex::new(None);

/// The writer in `slot` if this process started it; never starts one.
fn running(slot: &Slot) -> Option<LineWriter> {
    let slot = slot.lock().ok()?;
    let (owner, w) = slot.as_ref()?;
    (*owner == std::process::id()).then(|| w.clone())
}

/// The shared writer for stdout (`log stdout`, `log fd@1`), started on first use.
pub fn stdout() -> Option<LineWriter> {
    shared(&STDOUT, "log-stdout", || Some(Box::new(std::io::stdout())))
}

/// The shared writer for stderr (`log stderr`, `log fd@2`), started on first use.
pub fn stderr() -> Option<LineWriter> {
    shared(&STDERR, "log-stderr", || Some(Box::new(std::io::stderr())))
}

/// Lines the stdout (`fd` 1) or stderr (`fd` 2) writer failed to write: 0 when it was
/// never started (asking does not start it).
pub fn failed_lines(fd: i32) -> u64 {
    let slot = match fd {
        1 => &STDOUT,
        2 => &STDERR,
        _ => return 0,
    };
    running(slot).map_or(0, |w| w.failed())
}

/// The writer for an inherited descriptor `fd@N`, shared by every target naming it.
///
/// Raw descriptors are only handled in `src/sys`, so here the descriptor is reached by reopening
/// `/proc/self/fd/N`: this works for pipes, terminals and files (the usual cases:
/// `fd@1`, a pipe to a log collector), not for a socket. `None` if it cannot be opened.
pub fn fd(n: i32) -> Option<LineWriter> {
    match n {
        1 => return stdout(),
        2 => return stderr(),
        _ => {}
    }
    /// One slot per descriptor number.
    type FdSlots = Mutex<Vec<(i32, Arc<Slot>)>>;
    static FDS: FdSlots = Mutex::new(Vec::new());
    let slot = {
        let mut fds = FDS.lock().ok()?;
        match fds.iter().find(|(k, _)| *k == n) {
            Some((_, slot)) => slot.clone(),
            None => {
                let slot = Arc::new(Mutex::new(None));
                fds.push((n, slot.clone()));
                slot
            }
        }
    };
    shared(&slot, &format!("log-fd{n}"), || {
        let file = std::fs::OpenOptions::new()
            .append(true)
            .open(format!("/proc/self/fd/{n}"))
            .ok()?;
        Some(Box::new(file))
    })
}

/// Waits until stdout and stderr writers (if started: none is started for it) have
/// written what they hold.
/// Call before the process exits so the last lines (`Proxy x stopped ...`) are not lost.
pub fn flush_all(timeout: Duration) {
    for w in [running(&STDOUT), running(&STDERR)].into_iter().flatten() {
        w.flush(timeout);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `Write` that appends to a shared buffer, to see what the thread wrote.
    #[derive(Clone, Default)]
    pub(crate) struct Shared(pub Arc<Mutex<Vec<u8>>>);
    impl Write for Shared {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn lines_are_written_in_order_and_flush_waits() {
        let buf = Shared::default();
        let w = LineWriter::spawn("test", Box::new(buf.clone())).unwrap();
        assert!(w.try_write(b"one\n".to_vec()));
        assert!(w.try_write(b"two\n".to_vec()));
        assert!(w.flush(Duration::from_secs(5)));
        assert_eq!(&*buf.0.lock().unwrap(), b"one\ntwo\n");
        assert_eq!(w.failed(), 0);
    }

    /// A writer that blocks until released: the queue fills and lines are dropped,
    /// the caller never waits.
    #[test]
    fn full_queue_drops_instead_of_blocking() {
        struct Gate(Arc<Mutex<()>>);
        impl Write for Gate {
            fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                drop(self.0.lock().unwrap());
                Ok(b.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let gate = Arc::new(Mutex::new(()));
        let held = gate.lock().unwrap();
        let w = LineWriter::spawn("test-gate", Box::new(Gate(gate.clone()))).unwrap();
        let mut accepted = 0;
        let mut dropped = 0;
        for _ in 0..QUEUE_LINES + 10 {
            if w.try_write(b"x\n".to_vec()) {
                accepted += 1;
            } else {
                dropped += 1;
            }
        }
        // The thread holds at most one line while blocked; the queue holds the rest.
        assert!(accepted <= QUEUE_LINES + 1, "accepted {accepted}");
        assert!(dropped >= 9, "dropped {dropped}");
        drop(held);
        assert!(w.flush(Duration::from_secs(5)));
    }

    #[test]
    fn write_errors_are_counted() {
        struct Broken;
        impl Write for Broken {
            fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
                Err(std::io::Error::from(std::io::ErrorKind::BrokenPipe))
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let w = LineWriter::spawn("test-broken", Box::new(Broken)).unwrap();
        assert!(w.try_write(b"x\n".to_vec()));
        assert!(w.flush(Duration::from_secs(5)));
        assert_eq!(w.failed(), 1);
    }
}
