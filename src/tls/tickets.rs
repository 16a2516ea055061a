//! `tls-ticket-keys <file>`: the file is read and checked as HAProxy checks it (base64
//! lines of 48- or 80-byte keys, all the same size, at least 3), so `-c` agrees with
//! HAProxy. The keys themselves are not used: rustls's ticketer makes its own random
//! key and rotates it (every 6 hours), so tickets do not survive a reload and are not
//! shared between processes (doc/tls.md).

use std::path::Path;

/// HAProxy's default `TLS_TICKETS_NO`: the least number of keys in the file.
const MIN_KEYS: usize = 3;

/// Checks a ticket keys file; returns how many keys it holds.
pub fn check_key_file(path: &Path, shown: &str) -> Result<usize, String> {
    let text = std::fs::read_to_string(path).map_err(|_| format!("'{shown}' : unable to load ssl tickets keys file"))?;
    let mut size = None;
    let mut count = 0;
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let key = base64_decode(line).ok_or_else(|| format!("'{shown}' : unable to decode base64 key on line {}", i + 1))?;
        let ok = matches!(key.len(), 48 | 80) && size.is_none_or(|s| s == key.len());
        if !ok {
            return Err(format!("'{shown}' : wrong sized key on line {}", i + 1));
        }
        size = Some(key.len());
        count += 1;
    }
    if count < MIN_KEYS {
        return Err(format!("'{shown}' : please supply at least {MIN_KEYS} keys in the tls-tickets-file"));
    }
    Ok(count)
}

/// Standard base64 with `=` padding; `None` on anything else.
fn base64_decode(s: &str) -> Option<Vec<u8>> {
    fn val(c: u8) -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    }
    let bytes = s.as_bytes();
    if !bytes.len().is_multiple_of(4) {
        return None;
    }
    let mut out = Vec::with_capacity(bytes.len() / 4 * 3);
    for (n, chunk) in bytes.chunks(4).enumerate() {
        let last = n == bytes.len() / 4 - 1;
        let pad = chunk.iter().rev().take_while(|&&c| c == b'=').count();
        if pad > 2 || (pad > 0 && !last) {
            return None;
        }
        let mut acc = 0u32;
        for &c in &chunk[..4 - pad] {
            acc = (acc << 6) | val(c)?;
        }
        acc <<= 6 * pad as u32;
        let three = [(acc >> 16) as u8, (acc >> 8) as u8, acc as u8];
        out.extend_from_slice(&three[..3 - pad]);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_decodes_and_refuses_garbage() {
        assert_eq!(base64_decode("aGVsbG8="), Some(b"hello".to_vec()));
        assert_eq!(base64_decode("aGk="), Some(b"hi".to_vec()));
        assert_eq!(base64_decode("aGV5"), Some(b"hey".to_vec()));
        assert_eq!(base64_decode("aGV5!"), None);
        assert_eq!(base64_decode("a==b"), None);
    }

    #[test]
    fn key_files_are_checked_as_haproxy_checks_them() {
        let dir = std::env::temp_dir().join(format!("moonproxy-tickets-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let k48 = "B".repeat(64); // 48 bytes
        let write = |name: &str, lines: &[&str]| {
            let p = dir.join(name);
            std::fs::write(&p, lines.join("\n")).unwrap();
            p
        };
        assert_eq!(check_key_file(&write("ok", &[&k48, &k48, &k48]), "ok"), Ok(3));
        assert_eq!(check_key_file(&write("few", &[&k48]), "few").unwrap_err(), "'few' : please supply at least 3 keys in the tls-tickets-file");
        assert_eq!(check_key_file(&write("bad", &["-----BEGIN"]), "bad").unwrap_err(), "'bad' : unable to decode base64 key on line 1");
        assert_eq!(check_key_file(&write("size", &[&k48, "QUJD"]), "size").unwrap_err(), "'size' : wrong sized key on line 2");
        assert!(check_key_file(&dir.join("missing"), "missing").unwrap_err().contains("unable to load ssl tickets keys file"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
