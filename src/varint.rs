//! HAProxy's variable-length integers, as its peers protocol (`crate::peers::codec`)
//! and the `req.hdrs_bin`/`res.hdrs_bin` fetches (`crate::sample::fetch_http`) write
//! them: below 240 one byte; otherwise a first byte carrying the low 4 bits with the top
//! 4 set, then 7 bits a byte, the high bit marking a byte that is not the last.

/// Why [`get`] read no integer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Short {
    /// The bytes end inside the integer.
    Incomplete,
    /// More continuation bytes than a 64-bit value holds.
    TooLong,
}

/// Appends `v`.
pub fn put(out: &mut Vec<u8>, mut v: u64) {
    if v < 240 {
        out.push(v as u8);
        return;
    }
    out.push((v as u8) | 240);
    v = (v - 240) >> 4;
    while v >= 128 {
        out.push((v as u8) | 128);
        v = (v - 128) >> 7;
    }
    out.push(v as u8);
}

/// Reads the integer at `*pos`, advancing it past the integer (not on error).
pub fn get(buf: &[u8], pos: &mut usize) -> Result<u64, Short> {
    let mut p = *pos;
    let first = *buf.get(p).ok_or(Short::Incomplete)?;
    p += 1;
    let mut v = u64::from(first);
    if first >= 240 {
        let mut shift = 4u32;
        loop {
            let b = *buf.get(p).ok_or(Short::Incomplete)?;
            p += 1;
            if shift > 60 {
                return Err(Short::TooLong);
            }
            v = v.wrapping_add(u64::from(b) << shift);
            shift += 7;
            if b < 128 {
                break;
            }
        }
    }
    *pos = p;
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(v: u64) -> Vec<u8> {
        let mut out = Vec::new();
        put(&mut out, v);
        out
    }

    #[test]
    fn encodings_are_haproxys() {
        assert_eq!(enc(0), [0]);
        assert_eq!(enc(239), [239]);
        assert_eq!(enc(240), [0xf0, 0]);
        assert_eq!(enc(300), [0xfc, 3]);
        // 240 + 16 * 128: the first continuation byte overflows into a third.
        assert_eq!(enc(240 + 16 * 128), [0xf0, 0x80, 0]);
    }

    #[test]
    fn values_read_back_and_short_input_is_refused() {
        for v in [0, 1, 239, 240, 241, 2287, 2288, 1 << 20, u64::from(u32::MAX), u64::MAX] {
            let bytes = enc(v);
            let mut pos = 0;
            assert_eq!(get(&bytes, &mut pos), Ok(v));
            assert_eq!(pos, bytes.len());
            if bytes.len() > 1 {
                let mut pos = 0;
                assert_eq!(get(&bytes[..bytes.len() - 1], &mut pos), Err(Short::Incomplete));
                assert_eq!(pos, 0);
            }
        }
        let mut pos = 0;
        assert_eq!(get(&[0xff; 12], &mut pos), Err(Short::TooLong));
    }
}
