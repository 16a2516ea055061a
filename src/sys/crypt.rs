//! A safe `crypt(3)` for `userlist` passwords.

use lua54_sys::crypt::{crypt_rn, CRYPT_DATA_SIZE};
use std::ffi::{CStr, CString};

/// Hashes `phrase` with the scheme and salt of `setting` (typically a stored hash:
/// the password is right when the result equals it). `None` when the scheme is not
/// supported, the setting is malformed, or either string contains a NUL byte.
pub fn crypt(phrase: &[u8], setting: &str) -> Option<String> {
    let phrase = CString::new(phrase).ok()?;
    let setting = CString::new(setting).ok()?;
    let mut work = vec![0u8; CRYPT_DATA_SIZE];
    // SAFETY: both strings are NUL-terminated and alive for the call; `work` is a
    // zeroed, writable area of the size passed, alive until the result is copied out.
    let out = unsafe {
        crypt_rn(phrase.as_ptr(), setting.as_ptr(), work.as_mut_ptr().cast(), CRYPT_DATA_SIZE as i32)
    };
    if out.is_null() {
        return None;
    }
    // SAFETY: a non-null result points to a NUL-terminated string inside `work`.
    let hash = unsafe { CStr::from_ptr(out) }.to_str().ok()?.to_string();
    (!hash.starts_with('*')).then_some(hash)
}

#[cfg(test)]
mod tests {
    use super::crypt;

    #[test]
    fn sha512_crypt_round_trips_and_rejects_the_wrong_password() {
        let stored = crypt(b"secret", "$6$saltsalt$").expect("SHA-512 crypt");
        // `openssl passwd -6 -salt saltsalt secret`.
        assert_eq!(stored, "$6$saltsalt$TVLlQcbpFVof5W3Yz4DTP6gRstiNuHwwTt6GLc1E5n0U0aDehy0S5knV8wiOQSpT0Y77vwPZN.Pq.H91p5hVO1");
        assert_eq!(crypt(b"secret", &stored).as_deref(), Some(stored.as_str()));
        assert_ne!(crypt(b"Secret", &stored).as_deref(), Some(stored.as_str()));
    }

    #[test]
    fn a_known_md5_crypt_value() {
        // `openssl passwd -1 -salt abcdefgh password`.
        assert_eq!(crypt(b"password", "$1$abcdefgh$").as_deref(), Some("$1$abcdefgh$G//4keteveJp0qb8z2DxG/"));
    }

    #[test]
    fn bad_settings_and_nul_bytes_give_none() {
        assert_eq!(crypt(b"x", "$9$nope"), None);
        assert_eq!(crypt(b"a\0b", "$6$salt$"), None);
    }
}
