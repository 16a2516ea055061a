//! A channel carries bytes in one direction (request: client → server, response:
//! server → client) through one fixed buffer of `tune.bufsize` bytes.
//!
//! [`Buffer`] invariants: `start <= end <= cap`; bytes `start..end` are pending
//! data, in order; nothing is ever reallocated. When the data is fully consumed both
//! indexes go back to 0; when the free tail is empty but bytes were consumed at the
//! front, the pending bytes are moved to the front (at most once per fill), so a
//! reader always gets a contiguous slice.

pub struct Buffer {
    mem: Box<[u8]>,
    start: usize,
    end: usize,
}

impl Buffer {
    pub fn new(cap: usize) -> Buffer {
        Buffer { mem: vec![0u8; cap.max(1)].into_boxed_slice(), start: 0, end: 0 }
    }

    pub fn len(&self) -> usize {
        self.end - self.start
    }

    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }

    pub fn is_full(&self) -> bool {
        self.len() == self.mem.len()
    }

    /// Pending bytes.
    pub fn data(&self) -> &[u8] {
        &self.mem[self.start..self.end]
    }

    /// Free room to read into (empty only when the buffer is full).
    pub fn space(&mut self) -> &mut [u8] {
        if self.end == self.mem.len() && self.start > 0 {
            self.mem.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        &mut self.mem[self.end..]
    }

    /// `n` bytes were written into [`space`](Self::space).
    pub fn produced(&mut self, n: usize) {
        debug_assert!(self.end + n <= self.mem.len());
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
