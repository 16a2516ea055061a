//! `crypt_rn(3)` from libxcrypt (Debian's libcrypt): the password hashing `userlist`
//! passwords use, as in HAProxy, so that every scheme the system supports (`$6$`
//! SHA-512, `$5$`, `$y$` yescrypt, `$2b$` bcrypt, `$1$` MD5 ...) works unchanged.
//! The reentrant form, with a caller-provided work area, so that several threads (and
//! the test harness) may hash at once.
//!
//! Like the C modules, not part of liblua: declared here because this crate is the one
//! place that names C symbols.
use std::os::raw::{c_char, c_int, c_void};

/// `sizeof(struct crypt_data)` in libxcrypt's `<crypt.h>` (fixed at 32768 bytes).
pub const CRYPT_DATA_SIZE: usize = 32768;

#[link(name = "crypt")]
unsafe extern "C" {
    /// Hashes `phrase` with the scheme and salt of `setting` (a full hash works as a
    /// setting) using `data`, a zero-initialised work area of `size` bytes (at least
    /// [`CRYPT_DATA_SIZE`]). Returns a pointer into `data` to the NUL-terminated hash, or
    /// null on failure (unsupported scheme, malformed setting, `size` too small).
    pub fn crypt_rn(phrase: *const c_char, setting: *const c_char, data: *mut c_void, size: c_int) -> *mut c_char;
}
