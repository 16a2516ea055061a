//! The counting allocator given to `lua_newstate` (`doc/lua-ffi.md` section 10).
//!
//! Every block Lua allocates goes through `lua_alloc`, which keeps the live byte count and
//! its peak and refuses growth past the limit (`tune.lua.maxmem`). Lua answers a refusal with
//! an emergency collection and, if that is not enough, a `not enough memory` error in the
//! running call only. Shrinks and frees never fail.
use std::cell::Cell;
use std::os::raw::c_void;

/// Memory counters of one Lua state, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryStats {
    /// Bytes currently allocated by Lua.
    pub current: usize,
    /// Highest value of `current` seen.
    pub peak: usize,
    /// The limit (0: unlimited).
    pub limit: usize,
}

/// The allocator's counters. It lives at a stable address (inside the state's shared block) and
/// is the `ud` pointer Lua passes back to `lua_alloc`.
#[derive(Debug, Default)]
pub(crate) struct Allocator {
    current: Cell<usize>,
    peak: Cell<usize>,
    limit: Cell<usize>,
    /// Highest value of `current` since the last [`Allocator::start_mark`] (the start of
    /// the running resume, for `lua::stats`).
    mark: Cell<usize>,
}

impl Allocator {
    /// Starts a new high-water mark at the current use, which it returns.
    pub(crate) fn start_mark(&self) -> usize {
        let c = self.current.get();
        self.mark.set(c);
        c
    }

    /// The high-water mark since [`Allocator::start_mark`].
    pub(crate) fn mark(&self) -> usize {
        self.mark.get()
    }

    pub(crate) fn stats(&self) -> MemoryStats {
        MemoryStats {
            current: self.current.get(),
            peak: self.peak.get(),
            limit: self.limit.get(),
        }
    }

    /// Sets the limit in bytes (0 removes it). A limit below the current use only refuses
    /// further growth.
    pub(crate) fn set_limit(&self, bytes: usize) {
        self.limit.set(bytes);
    }

    pub(crate) fn is_limited(&self) -> bool {
        self.limit.get() != 0
    }

    /// Whether growing by `grow` bytes stays within the limit.
    fn admits(&self, grow: usize) -> bool {
        let limit = self.limit.get();
        limit == 0 || self.current.get().saturating_add(grow) <= limit
    }

    fn account(&self, old: usize, new: usize) {
        let current = self.current.get() - old + new;
        self.current.set(current);
        if current > self.mark.get() {
            self.mark.set(current);
            if current > self.peak.get() {
                self.peak.set(current);
            }
        }
    }
}

/// Converts `tune.lua.maxmem` (megabytes, as HAProxy takes it) to bytes.
pub fn maxmem_bytes(megabytes: usize) -> usize {
    megabytes.saturating_mul(1 << 20)
}

/// The `lua_Alloc` function. Plain `extern "C"`: it never unwinds, and it does not panic
/// (integer arithmetic only; a would-be underflow cannot happen because Lua always reports the
/// true old size of a block it owns).
///
/// # Safety
/// `ud` is the state's [`Allocator`]; `ptr`/`osize` describe a block this function returned
/// (or `ptr` is null, `osize` then being an object tag, not a size).
pub(crate) unsafe extern "C" fn lua_alloc(
    ud: *mut c_void,
    ptr: *mut c_void,
    osize: usize,
    nsize: usize,
) -> *mut c_void {
    // SAFETY: Lua passes back the `ud` given to lua_newstate, which is the Allocator inside the
    // state's shared block; it outlives the state.
    let alloc = unsafe { &*ud.cast::<Allocator>() };
    let old = if ptr.is_null() { 0 } else { osize };
    if nsize == 0 {
        if !ptr.is_null() {
            // SAFETY: `ptr` came from realloc below.
            unsafe { libc::free(ptr) };
            alloc.account(old, 0);
        }
        return std::ptr::null_mut();
    }
    if nsize > old && !alloc.admits(nsize - old) {
        return std::ptr::null_mut();
    }
    // SAFETY: `ptr` is null or a block from this allocator; malloc's alignment (16 on LP64)
    // covers LUAI_MAXALIGN.
    let new = unsafe { libc::realloc(ptr, nsize) };
    if new.is_null() {
        if nsize <= old {
            // Lua assumes a shrink never fails: keep the old, larger block.
            return ptr;
        }
        if !alloc.is_limited() {
            // Rule M2: without a limit, running out of memory is fatal, as for Rust's own
            // allocations; this keeps unprotected pushes in callbacks sound.
            out_of_memory_abort();
        }
        return std::ptr::null_mut();
    }
    alloc.account(old, nsize);
    new
}

fn out_of_memory_abort() -> ! {
    const MSG: &[u8] = b"moonproxy: Lua allocation failed with no memory limit set, aborting\n";
    // SAFETY: write(2) on stderr with a static buffer; its result does not matter here.
    unsafe { libc::write(2, MSG.as_ptr().cast(), MSG.len()) };
    std::process::abort()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_limits() {
        let a = Allocator::default();
        let ud = (&a as *const Allocator).cast_mut().cast::<c_void>();
        // SAFETY: blocks are obtained from and returned to lua_alloc with their true sizes.
        unsafe {
            let p = lua_alloc(ud, std::ptr::null_mut(), 4 /* a type tag */, 100);
            assert!(!p.is_null());
            assert_eq!(a.stats().current, 100);
            a.set_limit(150);
            assert!(
                lua_alloc(ud, p, 100, 200).is_null(),
                "growth past the limit is refused"
            );
            let q = lua_alloc(ud, p, 100, 40);
            assert!(!q.is_null(), "a shrink always succeeds");
            assert_eq!(
                a.stats(),
                MemoryStats {
                    current: 40,
                    peak: 100,
                    limit: 150
                }
            );
            assert!(lua_alloc(ud, q, 40, 0).is_null());
            assert_eq!(a.stats().current, 0);
        }
        assert_eq!(maxmem_bytes(8), 8 << 20);
    }
}
