//! XXH3, 64-bit, with a seed: the hash of HAProxy's `xxh3([seed])` converter, written
//! from the published XXH3 specification (Yann Collet's xxHash, BSD-2 format text):
//! four short-input paths (0, 1-3, 4-8, 9-16, 17-128, 129-240 bytes) and the striped
//! long-input loop over the 192-byte default secret (or the one derived from a
//! non-zero seed). Checked against HAProxy 2.6.12's values in the tests below.

const P32_1: u64 = 0x9E37_79B1;
const P32_2: u64 = 0x85EB_CA77;
const P32_3: u64 = 0xC2B2_AE3D;
const P64_1: u64 = 0x9E37_79B1_85EB_CA87;
const P64_2: u64 = 0xC2B2_AE3D_27D4_EB4F;
const P64_3: u64 = 0x1656_67B1_9E37_79F9;
const P64_4: u64 = 0x85EB_CA77_C2B2_AE63;
const P64_5: u64 = 0x27D4_EB2F_1656_67C5;
const PRIME_MX1: u64 = 0x1656_6791_9E37_79F9;
const PRIME_MX2: u64 = 0x9FB2_1C65_1E98_DF25;

const STRIPE_LEN: usize = 64;
const SECRET_CONSUME_RATE: usize = 8;

/// The default secret (`kSecret`).
#[rustfmt::skip]
const SECRET: [u8; 192] = [
    0xb8, 0xfe, 0x6c, 0x39, 0x23, 0xa4, 0x4b, 0xbe, 0x7c, 0x01, 0x81, 0x2c, 0xf7, 0x21, 0xad, 0x1c,
    0xde, 0xd4, 0x6d, 0xe9, 0x83, 0x90, 0x97, 0xdb, 0x72, 0x40, 0xa4, 0xa4, 0xb7, 0xb3, 0x67, 0x1f,
    0xcb, 0x79, 0xe6, 0x4e, 0xcc, 0xc0, 0xe5, 0x78, 0x82, 0x5a, 0xd0, 0x7d, 0xcc, 0xff, 0x72, 0x21,
    0xb8, 0x08, 0x46, 0x74, 0xf7, 0x43, 0x24, 0x8e, 0xe0, 0x35, 0x90, 0xe6, 0x81, 0x3a, 0x26, 0x4c,
    0x3c, 0x28, 0x52, 0xbb, 0x91, 0xc3, 0x00, 0xcb, 0x88, 0xd0, 0x65, 0x8b, 0x1b, 0x53, 0x2e, 0xa3,
    0x71, 0x64, 0x48, 0x97, 0xa2, 0x0d, 0xf9, 0x4e, 0x38, 0x19, 0xef, 0x46, 0xa9, 0xde, 0xac, 0xd8,
    0xa8, 0xfa, 0x76, 0x3f, 0xe3, 0x9c, 0x34, 0x3f, 0xf9, 0xdc, 0xbb, 0xc7, 0xc7, 0x0b, 0x4f, 0x1d,
    0x8a, 0x51, 0xe0, 0x4b, 0xcd, 0xb4, 0x59, 0x31, 0xc8, 0x9f, 0x7e, 0xc9, 0xd9, 0x78, 0x73, 0x64,
    0xea, 0xc5, 0xac, 0x83, 0x34, 0xd3, 0xeb, 0xc3, 0xc5, 0x81, 0xa0, 0xff, 0xfa, 0x13, 0x63, 0xeb,
    0x17, 0x0d, 0xdd, 0x51, 0xb7, 0xf0, 0xda, 0x49, 0xd3, 0x16, 0x55, 0x26, 0x29, 0xd4, 0x68, 0x9e,
    0x2b, 0x16, 0xbe, 0x58, 0x7d, 0x47, 0xa1, 0xfc, 0x8f, 0xf8, 0xb8, 0xd1, 0x7a, 0xd0, 0x31, 0xce,
    0x45, 0xcb, 0x3a, 0x8f, 0x95, 0x16, 0x04, 0x28, 0xaf, 0xd7, 0xfb, 0xca, 0xbb, 0x4b, 0x40, 0x7e,
];

fn r64(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

fn r32(b: &[u8], at: usize) -> u64 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes")) as u64
}

fn mul128_fold64(a: u64, b: u64) -> u64 {
    let p = a as u128 * b as u128;
    p as u64 ^ (p >> 64) as u64
}

fn avalanche(mut h: u64) -> u64 {
    h ^= h >> 37;
    h = h.wrapping_mul(PRIME_MX1);
    h ^ (h >> 32)
}

fn xxh64_avalanche(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(P64_2);
    h ^= h >> 29;
    h = h.wrapping_mul(P64_3);
    h ^ (h >> 32)
}

fn rrmxmx(mut h: u64, len: u64) -> u64 {
    h ^= h.rotate_left(49) ^ h.rotate_left(24);
    h = h.wrapping_mul(PRIME_MX2);
    h ^= (h >> 35).wrapping_add(len);
    h = h.wrapping_mul(PRIME_MX2);
    h ^ (h >> 28)
}

fn mix16(data: &[u8], d: usize, secret: &[u8], s: usize, seed: u64) -> u64 {
    mul128_fold64(
        r64(data, d) ^ r64(secret, s).wrapping_add(seed),
        r64(data, d + 8) ^ r64(secret, s + 8).wrapping_sub(seed),
    )
}

/// XXH3-64 of `data` with `seed`.
pub fn xxh3_64(data: &[u8], seed: u64) -> u64 {
    let len = data.len();
    let k = &SECRET[..];
    let l = len as u64;
    match len {
        0 => xxh64_avalanche(seed ^ r64(k, 56) ^ r64(k, 64)),
        1..=3 => {
            let combined = (data[0] as u64) << 16 | (data[len >> 1] as u64) << 24 | data[len - 1] as u64 | l << 8;
            let bitflip = (r32(k, 0) ^ r32(k, 4)).wrapping_add(seed);
            xxh64_avalanche(combined ^ bitflip)
        }
        4..=8 => {
            let seed = seed ^ ((seed as u32).swap_bytes() as u64) << 32;
            let input = r32(data, len - 4).wrapping_add(r32(data, 0) << 32);
            let bitflip = (r64(k, 8) ^ r64(k, 16)).wrapping_sub(seed);
            rrmxmx(input ^ bitflip, l)
        }
        9..=16 => {
            let lo = r64(data, 0) ^ (r64(k, 24) ^ r64(k, 32)).wrapping_add(seed);
            let hi = r64(data, len - 8) ^ (r64(k, 40) ^ r64(k, 48)).wrapping_sub(seed);
            avalanche(l.wrapping_add(lo.swap_bytes()).wrapping_add(hi).wrapping_add(mul128_fold64(lo, hi)))
        }
        17..=128 => {
            let mut acc = l.wrapping_mul(P64_1);
            let mut add = |d: usize, s: usize| acc = acc.wrapping_add(mix16(data, d, k, s, seed));
            if len > 32 {
                if len > 64 {
                    if len > 96 {
                        add(48, 96);
                        add(len - 64, 112);
                    }
                    add(32, 64);
                    add(len - 48, 80);
                }
                add(16, 32);
                add(len - 32, 48);
            }
            add(0, 0);
            add(len - 16, 16);
            avalanche(acc)
        }
        129..=240 => {
            let mut acc = l.wrapping_mul(P64_1);
            for i in 0..8 {
                acc = acc.wrapping_add(mix16(data, 16 * i, k, 16 * i, seed));
            }
            let end = mix16(data, len - 16, k, 136 - 17, seed);
            acc = avalanche(acc);
            for i in 8..len / 16 {
                acc = acc.wrapping_add(mix16(data, 16 * i, k, 16 * (i - 8) + 3, seed));
            }
            avalanche(acc.wrapping_add(end))
        }
        _ => {
            let mut custom = SECRET;
            if seed != 0 {
                for i in 0..12 {
                    let lo = r64(k, 16 * i).wrapping_add(seed);
                    let hi = r64(k, 16 * i + 8).wrapping_sub(seed);
                    custom[16 * i..16 * i + 8].copy_from_slice(&lo.to_le_bytes());
                    custom[16 * i + 8..16 * i + 16].copy_from_slice(&hi.to_le_bytes());
                }
            }
            hash_long(data, &custom)
        }
    }
}

fn accumulate_512(acc: &mut [u64; 8], data: &[u8], d: usize, secret: &[u8], s: usize) {
    for i in 0..8 {
        let value = r64(data, d + 8 * i);
        let key = value ^ r64(secret, s + 8 * i);
        acc[i ^ 1] = acc[i ^ 1].wrapping_add(value);
        acc[i] = acc[i].wrapping_add((key & 0xFFFF_FFFF).wrapping_mul(key >> 32));
    }
}

fn scramble(acc: &mut [u64; 8], secret: &[u8], s: usize) {
    for (i, a) in acc.iter_mut().enumerate() {
        let mut v = *a ^ (*a >> 47);
        v ^= r64(secret, s + 8 * i);
        *a = v.wrapping_mul(P32_1);
    }
}

fn hash_long(data: &[u8], secret: &[u8; 192]) -> u64 {
    let len = data.len();
    let mut acc = [P32_3, P64_1, P64_2, P64_3, P64_4, P32_2, P64_5, P32_1];
    let stripes_per_block = (secret.len() - STRIPE_LEN) / SECRET_CONSUME_RATE;
    let block_len = STRIPE_LEN * stripes_per_block;
    let blocks = (len - 1) / block_len;
    for n in 0..blocks {
        for st in 0..stripes_per_block {
            accumulate_512(&mut acc, data, n * block_len + st * STRIPE_LEN, secret, st * SECRET_CONSUME_RATE);
        }
        scramble(&mut acc, secret, secret.len() - STRIPE_LEN);
    }
    let stripes = ((len - 1) - block_len * blocks) / STRIPE_LEN;
    for st in 0..stripes {
        accumulate_512(&mut acc, data, blocks * block_len + st * STRIPE_LEN, secret, st * SECRET_CONSUME_RATE);
    }
    accumulate_512(&mut acc, data, len - STRIPE_LEN, secret, secret.len() - STRIPE_LEN - 7);
    let mut result = (len as u64).wrapping_mul(P64_1);
    for i in 0..4 {
        result = result.wrapping_add(mul128_fold64(acc[2 * i] ^ r64(secret, 11 + 16 * i), acc[2 * i + 1] ^ r64(secret, 11 + 16 * i + 8)));
    }
    avalanche(result)
}

#[cfg(test)]
mod tests {
    use super::xxh3_64;

    /// `str(...),xxh3(seed)` as HAProxy 2.6.12 prints it (a signed 64-bit value).
    #[test]
    fn values_haproxy_gives() {
        let hex = "0123456789abcdef";
        let cases: &[(String, u64, i64)] = &[
            ("abc".into(), 0, 8696274497037089104),
            ("abc".into(), 1, 7729416884403528232),
            (String::new(), 0, 3244421341483603138),
            ("The quick brown fox jumps over the lazy dog".into(), 7, -3679463819419824509),
            (hex.repeat(8), 0, 3041282556593506945),
            (hex.repeat(8) + "01234", 99, 1429120473101399569),
            (hex.repeat(36), 3, -6735428570981783679),
        ];
        for (input, seed, want) in cases {
            assert_eq!(xxh3_64(input.as_bytes(), *seed) as i64, *want, "{input:?} seed {seed}");
        }
    }
}
