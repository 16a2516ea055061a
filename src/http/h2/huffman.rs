//! The static Huffman code of HPACK (RFC 7541 §5.2, Appendix B).
//!
//! The code is canonical: codes of equal length are consecutive numbers in symbol
//! order, and each length's first code follows the previous length's last one. So the
//! 257 code lengths below are the whole table; the codes are computed from them once,
//! at compile time. Symbol 256 is EOS, which a decoder must never see.

/// The code length in bits of each symbol 0..=256 (Appendix B, the `len` column).
const LENGTHS: [u8; 257] = [
    13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28,
    28, 28, 28, 28, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 28,
    6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6,
    5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 7, 8, 15, 6, 12, 10,
    13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,
    7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19, 13, 14, 6,
    15, 5, 6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6, 6, 5,
    6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13, 28,
    20, 22, 20, 20, 22, 22, 22, 23, 22, 23, 23, 23, 23, 23, 24, 23,
    24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24,
    22, 21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23,
    21, 21, 22, 21, 23, 22, 23, 23, 20, 22, 22, 22, 23, 22, 22, 23,
    26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25,
    19, 21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27,
    20, 24, 20, 21, 22, 21, 21, 23, 22, 22, 25, 25, 24, 24, 26, 23,
    26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26,
    30,];

const EOS: usize = 256;

/// The canonical code of every symbol, right-aligned in a `u32`.
const CODES: [u32; 257] = canonical_codes();

const fn canonical_codes() -> [u32; 257] {
    let mut codes = [0u32; 257];
    let mut code: u32 = 0;
    let mut len = 1;
    while len <= 30 {
        let mut sym = 0;
        while sym < 257 {
            if LENGTHS[sym] as u32 == len {
                codes[sym] = code;
                code += 1;
            }
            sym += 1;
        }
        code <<= 1;
        len += 1;
    }
    codes
}

/// For each code length, the first code of that length and the index in [`SORTED`]
/// of its symbol (canonical decoding: a code of length `n` is `FIRST[n] + k`).
struct Canon {
    first: [u32; 31],
    count: [u16; 31],
    start: [u16; 31],
    sorted: [u16; 257],
}

const CANON: Canon = canon();

const fn canon() -> Canon {
    let mut c = Canon { first: [0; 31], count: [0; 31], start: [0; 31], sorted: [0; 257] };
    let mut at = 0;
    let mut len = 1;
    while len <= 30 {
        c.start[len] = at as u16;
        let mut sym = 0;
        while sym < 257 {
            if LENGTHS[sym] as usize == len {
                if c.count[len] == 0 {
                    c.first[len] = CODES[sym];
                }
                c.count[len] += 1;
                c.sorted[at] = sym as u16;
                at += 1;
            }
            sym += 1;
        }
        len += 1;
    }
    c
}

/// The encoded length of `s` in bytes (to choose between Huffman and plain).
pub fn encoded_len(s: &[u8]) -> usize {
    let bits: usize = s.iter().map(|&b| LENGTHS[b as usize] as usize).sum();
    bits.div_ceil(8)
}

/// Appends the Huffman encoding of `s`, padded with the most significant bits of EOS
/// (all ones).
pub fn encode(s: &[u8], out: &mut Vec<u8>) {
    let mut acc: u64 = 0;
    let mut bits = 0u32;
    for &b in s {
        let len = LENGTHS[b as usize] as u32;
        acc = (acc << len) | CODES[b as usize] as u64;
        bits += len;
        while bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    if bits > 0 {
        out.push(((acc << (8 - bits)) as u8) | (0xff >> bits));
    }
}

/// Why a Huffman string is refused (RFC 7541 §5.2): each is a COMPRESSION_ERROR.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HuffmanError {
    /// The EOS symbol appears in the string.
    Eos,
    /// Padding longer than 7 bits, or not made of ones.
    BadPadding,
}

/// Decodes a Huffman string, appending the bytes to `out`.
pub fn decode(input: &[u8], out: &mut Vec<u8>) -> Result<(), HuffmanError> {
    let c = &CANON;
    let mut code: u32 = 0;
    let mut len = 0usize;
    for &byte in input {
        for i in (0..8).rev() {
            code = (code << 1) | ((byte >> i) & 1) as u32;
            len += 1;
            if len > 30 {
                return Err(HuffmanError::Eos); // only EOS is 30 bits, and it is all ones
            }
            let n = c.count[len] as u32;
            if n > 0 && code >= c.first[len] && code - c.first[len] < n {
                let sym = c.sorted[c.start[len] as usize + (code - c.first[len]) as usize] as usize;
                if sym == EOS {
                    return Err(HuffmanError::Eos);
                }
                out.push(sym as u8);
                code = 0;
                len = 0;
            }
        }
    }
    // What is left is padding: fewer than 8 bits, all ones.
    if len > 7 || code != (1 << len) - 1 {
        return Err(HuffmanError::BadPadding);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
    }

    #[test]
    fn codes_match_appendix_b_samples() {
        assert_eq!((CODES[0], LENGTHS[0]), (0x1ff8, 13));
        assert_eq!((CODES[b'0' as usize], LENGTHS[b'0' as usize]), (0x0, 5));
        assert_eq!((CODES[b'a' as usize], LENGTHS[b'a' as usize]), (0x3, 5));
        assert_eq!((CODES[255], LENGTHS[255]), (0x3ffffee, 26));
        assert_eq!((CODES[EOS], LENGTHS[EOS]), (0x3fffffff, 30));
    }

    /// RFC 7541 C.4.1 and C.6.1: Huffman strings of the examples.
    #[test]
    fn rfc_examples_round_trip() {
        for (plain, coded) in [
            (&b"www.example.com"[..], "f1e3 c2e5 f23a 6ba0 ab90 f4ff"),
            (b"no-cache", "a8eb 1064 9cbf"),
            (b"custom-key", "25a8 49e9 5ba9 7d7f"),
            (b"custom-value", "25a8 49e9 5bb8 e8b4 bf"),
            (b"302", "6402"),
            (b"private", "aec3 771a 4b"),
            (b"Mon, 21 Oct 2013 20:13:21 GMT", "d07a be94 1054 d444 a820 0595 040b 8166 e082 a62d 1bff"),
            (b"https://www.example.com", "9d29 ad17 1863 c78f 0b97 c8e9 ae82 ae43 d3"),
        ] {
            let mut out = Vec::new();
            encode(plain, &mut out);
            assert_eq!(out, hex(coded), "{}", String::from_utf8_lossy(plain));
            assert_eq!(encoded_len(plain), out.len());
            let mut back = Vec::new();
            decode(&out, &mut back).unwrap();
            assert_eq!(back, plain);
        }
    }

    #[test]
    fn every_byte_round_trips() {
        let all: Vec<u8> = (0..=255).collect();
        let mut out = Vec::new();
        encode(&all, &mut out);
        let mut back = Vec::new();
        decode(&out, &mut back).unwrap();
        assert_eq!(back, all);
    }

    #[test]
    fn bad_padding_and_eos_are_refused() {
        // "a" is 00011 then padding 111: 0x1f is fine; 0x18 pads with zeros.
        let mut v = Vec::new();
        assert_eq!(decode(&[0x1f], &mut v), Ok(()));
        assert_eq!(decode(&[0x18], &mut v), Err(HuffmanError::BadPadding));
        // A whole byte of ones is padding longer than 7 bits.
        assert_eq!(decode(&[0x1f, 0xff], &mut v), Err(HuffmanError::BadPadding));
        // EOS itself: 30 ones.
        assert_eq!(decode(&[0xff, 0xff, 0xff, 0xfc], &mut v), Err(HuffmanError::Eos));
    }
}
