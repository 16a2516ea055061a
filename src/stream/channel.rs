//! A channel carries bytes in one direction (request: client → server, response:
//! server → client) through one fixed buffer of `tune.bufsize` bytes, taken from a
//! per-thread pool while it holds data and given back when it is empty.
//!
//! [`Buffer`] invariants: `start <= end <= cap`; bytes `start..end` are pending
//! data, in order; nothing is ever reallocated. When the data is fully consumed both
//! indexes go back to 0; when the free tail is empty but bytes were consumed at the
//! front, the pending bytes are moved to the front (at most once per fill), so a
//! reader always gets a contiguous slice.

/// Free buffer memory kept for reuse (the reactor is single-threaded: one pool per
/// thread is one pool per reactor).
const POOL_MAX: usize = 1024;

thread_local! {
    static POOL: std::cell::RefCell<Vec<Box<[u8]>>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// A fixed-capacity byte buffer whose memory is attached only while it holds data
/// or is being filled: an idle connection holds no buffer memory (HAProxy does the
/// same with its buffer pools), which keeps idle connections cheap.
pub struct Buffer {
    mem: Option<Box<[u8]>>,
    cap: usize,
    start: usize,
    end: usize,
}

impl Buffer {
    pub fn new(cap: usize) -> Buffer {
        Buffer { mem: None, cap: cap.max(1), start: 0, end: 0 }
    }

    pub fn len(&self) -> usize {
        self.end - self.start
    }

    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }

    pub fn is_full(&self) -> bool {
        self.len() == self.cap
    }

    /// The most bytes the buffer holds.
    pub fn capacity(&self) -> usize {
        self.cap
    }

    /// Pending bytes.
    pub fn data(&self) -> &[u8] {
        match &self.mem {
            Some(m) => &m[self.start..self.end],
            None => &[],
        }
    }

    /// Free room to read into (empty only when the buffer is full). Attaches memory
    /// from the pool if needed.
    pub fn space(&mut self) -> &mut [u8] {
        let cap = self.cap;
        let mem = self.mem.get_or_insert_with(|| {
            POOL.with(|p| p.borrow_mut().pop())
                .filter(|m| m.len() == cap)
                .unwrap_or_else(|| vec![0u8; cap].into_boxed_slice())
        });
        if self.end == mem.len() && self.start > 0 {
            mem.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        &mut mem[self.end..]
    }

    /// `n` bytes were written into [`space`](Self::space).
    pub fn produced(&mut self, n: usize) {
        debug_assert!(self.end + n <= self.cap);
        self.end += n;
    }

    /// `n` bytes of [`data`](Self::data) were sent.
    pub fn consumed(&mut self, n: usize) {
        debug_assert!(n <= self.len());
        self.start += n;
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
    }

    /// Drops every pending byte.
    pub fn clear(&mut self) {
        self.consumed(self.len());
    }

    /// Gives the memory back to the pool if the buffer holds nothing.
    pub fn release_if_empty(&mut self) {
        if self.is_empty() {
            if let Some(m) = self.mem.take() {
                POOL.with(|p| {
                    let mut p = p.borrow_mut();
                    if p.len() < POOL_MAX {
                        p.push(m);
                    }
                });
            }
        }
    }

    /// Whether memory is attached (for tests and memory accounting).
    pub fn is_allocated(&self) -> bool {
        self.mem.is_some()
    }
}

impl Drop for Buffer {
    fn drop(&mut self) {
        self.start = 0;
        self.end = 0;
        self.release_if_empty();
    }
}

/// One direction of a stream.
pub struct Channel {
    pub buf: Buffer,
    /// The producer sent EOF (read side shut); no more bytes will enter.
    pub eof: bool,
    /// Bytes that entered the channel (`%U` for the request, `%B` for the response).
    pub total: u64,
}

impl Channel {
    pub fn new(bufsize: usize) -> Channel {
        Channel { buf: Buffer::new(bufsize), eof: false, total: 0 }
    }

    /// EOF was read and every byte was forwarded: time to shut the consumer's write side.
    pub fn drained_after_eof(&self) -> bool {
        self.eof && self.buf.is_empty()
    }

    /// Reads from `producer` while this channel can take bytes (not at EOF, the producer
    /// readable, room in the buffer), counting them in `total` and noting EOF.
    pub fn fill_from(&mut self, producer: &mut super::conn::Conn) -> Result<Fill, ReadFailed> {
        if self.eof || !producer.readable || self.buf.is_full() {
            return Ok(Fill::default());
        }
        let (bytes, end) = producer.read_into(&mut self.buf);
        self.total += bytes as u64;
        match end {
            super::conn::ReadEnd::Eof => self.eof = true,
            super::conn::ReadEnd::Error => return Err(ReadFailed),
            super::conn::ReadEnd::WouldBlock | super::conn::ReadEnd::BufferFull => {}
        }
        Ok(Fill { bytes, eof: end == super::conn::ReadEnd::Eof })
    }
}

/// The producer's socket failed (reset ...): the stream ends on that side's abort.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReadFailed;

/// What one [`Channel::fill_from`] brought.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Fill {
    /// Bytes read (the producer was active).
    pub bytes: usize,
    /// The producer's EOF was read now.
    pub eof: bool,
}

impl Fill {
    /// Anything happened: bytes or EOF.
    pub fn progress(self) -> bool {
        self.bytes > 0 || self.eof
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_come_out_in_order_across_compaction() {
        let mut b = Buffer::new(8);
        let mut out = Vec::new();
        let mut next = 0u8;
        for round in 0..50 {
            let room = b.space();
            let n = room.len().min(3 + round % 5);
            for x in &mut room[..n] {
                *x = next;
                next = next.wrapping_add(1);
            }
            b.produced(n);
            let take = b.len().min(2 + round % 3);
            out.extend_from_slice(&b.data()[..take]);
            b.consumed(take);
        }
        out.extend_from_slice(b.data());
        let expect: Vec<u8> = (0..out.len()).map(|i| i as u8).collect();
        assert_eq!(out, expect);
    }

    #[test]
    fn memory_is_attached_only_while_needed() {
        let mut b = Buffer::new(16);
        assert!(!b.is_allocated());
        assert!(b.data().is_empty());
        b.space()[..3].copy_from_slice(b"abc");
        b.produced(3);
        b.release_if_empty();
        assert!(b.is_allocated(), "holds data");
        b.consumed(3);
        b.release_if_empty();
        assert!(!b.is_allocated());
        assert_eq!(b.space().len(), 16, "reattached from the pool");
    }

    #[test]
    fn full_buffer_has_no_space() {
        let mut b = Buffer::new(4);
        b.space().copy_from_slice(b"abcd");
        b.produced(4);
        assert!(b.is_full());
        assert!(b.space().is_empty());
        b.consumed(1);
        assert_eq!(b.space().len(), 1, "compaction frees the consumed front");
        assert_eq!(b.data(), b"bcd");
    }
}
