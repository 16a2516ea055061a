//! The hash functions behind HAProxy's hash converters, written from their public
//! definitions (CRC-32/ISO-HDLC, CRC-32C, XXH32, XXH64, djb2, sdbm, wt6, and Bob
//! Jenkins' 32-bit integer mix HAProxy calls "avalanche").

/// Bob Jenkins' 32-bit integer hash followed by a multiplication by a prime, applied when a hash converter's avalanche flag is set.
pub fn avalanche(mut a: u32) -> u32 {
    a = a.wrapping_add(0x7ed5_5d16).wrapping_add(a << 12);
    a = (a ^ 0xc761_c23c) ^ (a >> 19);
    a = a.wrapping_add(0x1656_67b1).wrapping_add(a << 5);
    a = a.wrapping_add(0xd3a2_646c) ^ (a << 9);
    a = a.wrapping_add(0xfd70_46c5).wrapping_add(a << 3);
    a = (a ^ 0xb55a_4f09) ^ (a >> 16);
    // Spread the values by a large prime close to 3/4 of the 32-bit space.
    a.wrapping_mul(3_221_225_473)
}

pub fn sdbm(data: &[u8]) -> u32 {
    data.iter().fold(0u32, |h, &c| {
        (c as u32)
            .wrapping_add(h << 6)
            .wrapping_add(h << 16)
            .wrapping_sub(h)
    })
}

pub fn djb2(data: &[u8]) -> u32 {
    data.iter()
        .fold(5381u32, |h, &c| h.wrapping_mul(33).wrapping_add(c as u32))
}

/// Willy Tarreau's "wt6" hash: two rotating 32-bit states whose rotation steps
/// depend on the data.
pub fn wt6(data: &[u8]) -> u32 {
    let (mut h0, mut h1): (u32, u32) = (0xa53c_965a, 0x5ca6_953a);
    let (mut step0, mut step1): (u32, u32) = (6, 18);
    for &c in data {
        let t = c as u32;
        h0 = !(h0 ^ t);
        h1 = !(h1.wrapping_add(t));
        let t = h1.rotate_left(step0);
        h1 = h0.rotate_left(step1);
        h0 = t;
        let t = ((h0 >> 16) ^ h1) & 0xffff;
        step0 = t & 0x1f;
        step1 = t >> 11;
    }
    h0 ^ h1
}

fn crc_table(poly: u32) -> [u32; 256] {
    let mut t = [0u32; 256];
    for (i, e) in t.iter_mut().enumerate() {
        let mut c = i as u32;
        for _ in 0..8 {
            c = if c & 1 != 0 { poly ^ (c >> 1) } else { c >> 1 };
        }
        *e = c;
    }
    t
}

fn crc(table: &[u32; 256], data: &[u8]) -> u32 {
    !data.iter().fold(!0u32, |c, &b| {
        table[((c ^ b as u32) & 0xff) as usize] ^ (c >> 8)
    })
}

/// CRC-32 as in zlib and Ethernet (reflected polynomial 0xEDB88320).
pub fn crc32(data: &[u8]) -> u32 {
    static T: std::sync::OnceLock<[u32; 256]> = std::sync::OnceLock::new();
    crc(T.get_or_init(|| crc_table(0xEDB8_8320)), data)
}

/// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78).
pub fn crc32c(data: &[u8]) -> u32 {
    static T: std::sync::OnceLock<[u32; 256]> = std::sync::OnceLock::new();
    crc(T.get_or_init(|| crc_table(0x82F6_3B78)), data)
}

const P64: [u64; 5] = [
    0x9E37_79B1_85EB_CA87,
    0xC2B2_AE3D_27D4_EB4F,
    0x1656_67B1_9E37_79F9,
    0x85EB_CA77_C2B2_AE63,
    0x27D4_EB2F_1656_67C5,
];

fn rd64(b: &[u8]) -> u64 {
    u64::from_le_bytes(b[..8].try_into().expect("8 bytes"))
}

fn rd32(b: &[u8]) -> u32 {
    u32::from_le_bytes(b[..4].try_into().expect("4 bytes"))
}

fn round64(acc: u64, lane: u64) -> u64 {
    acc.wrapping_add(lane.wrapping_mul(P64[1]))
        .rotate_left(31)
        .wrapping_mul(P64[0])
}

fn merge64(acc: u64, v: u64) -> u64 {
    (acc ^ round64(0, v))
        .wrapping_mul(P64[0])
        .wrapping_add(P64[3])
}

/// XXH64 with a seed.
pub fn xxh64(data: &[u8], seed: u64) -> u64 {
    let mut rest = data;
    let mut h = if data.len() >= 32 {
        let mut v = [
            seed.wrapping_add(P64[0]).wrapping_add(P64[1]),
            seed.wrapping_add(P64[1]),
            seed,
            seed.wrapping_sub(P64[0]),
        ];
        while rest.len() >= 32 {
            for (i, lane) in v.iter_mut().enumerate() {
                *lane = round64(*lane, rd64(&rest[i * 8..]));
            }
            rest = &rest[32..];
        }
        let mut h = v[0]
            .rotate_left(1)
            .wrapping_add(v[1].rotate_left(7))
            .wrapping_add(v[2].rotate_left(12))
            .wrapping_add(v[3].rotate_left(18));
        for lane in v {
            h = merge64(h, lane);
        }
        h
    } else {
        seed.wrapping_add(P64[4])
    };
    h = h.wrapping_add(data.len() as u64);
    while rest.len() >= 8 {
        h ^= round64(0, rd64(rest));
        h = h.rotate_left(27).wrapping_mul(P64[0]).wrapping_add(P64[3]);
        rest = &rest[8..];
    }
    if rest.len() >= 4 {
        h ^= (rd32(rest) as u64).wrapping_mul(P64[0]);
        h = h.rotate_left(23).wrapping_mul(P64[1]).wrapping_add(P64[2]);
        rest = &rest[4..];
    }
    for &c in rest {
        h ^= (c as u64).wrapping_mul(P64[4]);
        h = h.rotate_left(11).wrapping_mul(P64[0]);
    }
    h ^= h >> 33;
    h = h.wrapping_mul(P64[1]);
    h ^= h >> 29;
    h = h.wrapping_mul(P64[2]);
    h ^ (h >> 32)
}

const P32: [u32; 5] = [
    0x9E37_79B1,
    0x85EB_CA77,
    0xC2B2_AE3D,
    0x27D4_EB2F,
    0x1656_67B1,
];

fn round32(acc: u32, lane: u32) -> u32 {
    acc.wrapping_add(lane.wrapping_mul(P32[1]))
        .rotate_left(13)
        .wrapping_mul(P32[0])
}

/// XXH32 with a seed.
pub fn xxh32(data: &[u8], seed: u32) -> u32 {
    let mut rest = data;
    let mut h = if data.len() >= 16 {
        let mut v = [
            seed.wrapping_add(P32[0]).wrapping_add(P32[1]),
            seed.wrapping_add(P32[1]),
            seed,
            seed.wrapping_sub(P32[0]),
        ];
        while rest.len() >= 16 {
            for (i, lane) in v.iter_mut().enumerate() {
                *lane = round32(*lane, rd32(&rest[i * 4..]));
            }
            rest = &rest[16..];
        }
        v[0].rotate_left(1)
            .wrapping_add(v[1].rotate_left(7))
            .wrapping_add(v[2].rotate_left(12))
            .wrapping_add(v[3].rotate_left(18))
    } else {
        seed.wrapping_add(P32[4])
    };
    h = h.wrapping_add(data.len() as u32);
    while rest.len() >= 4 {
        h = h
            .wrapping_add(rd32(rest).wrapping_mul(P32[2]))
            .rotate_left(17)
            .wrapping_mul(P32[3]);
        rest = &rest[4..];
    }
    for &c in rest {
        h = h
            .wrapping_add((c as u32).wrapping_mul(P32[4]))
            .rotate_left(11)
            .wrapping_mul(P32[0]);
    }
    h ^= h >> 15;
    h = h.wrapping_mul(P32[1]);
    h ^= h >> 13;
    h = h.wrapping_mul(P32[2]);
    h ^ (h >> 16)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Values printed by HAProxy 2.6 for `str(abc),<hash>` and `<hash>(1)`.
    #[test]
    fn hashes_of_abc_match_haproxy() {
        assert_eq!(sdbm(b"abc"), 807794786);
        assert_eq!(avalanche(sdbm(b"abc")), 659243622);
        assert_eq!(djb2(b"abc"), 193485963);
        assert_eq!(avalanche(djb2(b"abc")), 2235766107);
        assert_eq!(crc32(b"abc"), 891568578);
        assert_eq!(avalanche(crc32(b"abc")), 930845320);
        assert_eq!(crc32c(b"abc"), 910901175);
        assert_eq!(wt6(b"abc"), 2483038440);
        assert_eq!(avalanche(wt6(b"abc")), 266135527);
        assert_eq!(xxh64(b"abc", 0) as i64, 4952883123889572249);
        assert_eq!(xxh64(b"abc", 1) as i64, -4708009277469325048);
        assert_eq!(xxh64(b"abc", u64::MAX) as i64, 2895935887265243510);
        assert_eq!(xxh32(b"abc", 0), 852579327);
    }

    #[test]
    fn long_inputs_use_the_striped_loop() {
        // Reference values of the published algorithms.
        assert_eq!(xxh64(b"", 0), 0xEF46_DB37_51D8_E999);
        assert_eq!(xxh32(b"", 0), 0x02CC_5D05);
        let long = b"Nobody inspects the spammish repetition";
        assert_eq!(xxh64(long, 0), 0xFBCE_A83C_8A37_8BF1);
        assert_eq!(xxh32(long, 0), 0xE229_3B2F);
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32c(b"123456789"), 0xE306_9283);
    }
}
