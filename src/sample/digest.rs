//! The message digests behind HAProxy's `sha1`, `sha2`, `digest` and `hmac` converters,
//! written from their public definitions: SHA-1 and the SHA-2 family (FIPS 180-4) and
//! HMAC (RFC 2104). HAProxy takes them from OpenSSL, whose names `digest` and `hmac`
//! accept; [`Algorithm::from_name`] knows the ones implemented here.

/// A digest algorithm of the `digest` and `hmac` converters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Algorithm {
    Sha1,
    Sha224,
    Sha256,
    Sha384,
    Sha512,
}

/// OpenSSL digest names that moonproxy does not implement: refused with "not supported
/// yet" rather than as invalid names (which they are not for HAProxy).
#[rustfmt::skip]
pub const KNOWN_UNSUPPORTED: &[&str] = &[
    "md4", "md5", "md5-sha1", "mdc2", "ripemd", "ripemd160", "rmd160", "sha512-224",
    "sha512-256", "sha3-224", "sha3-256", "sha3-384", "sha3-512", "shake128", "shake256",
    "blake2b512", "blake2s256", "sm3", "whirlpool",
];

impl Algorithm {
    /// The algorithm an OpenSSL digest name designates (case-insensitive, with OpenSSL's
    /// `SHA2-256` style aliases), if implemented here.
    pub fn from_name(name: &str) -> Option<Algorithm> {
        Some(match name.to_ascii_lowercase().as_str() {
            "sha1" | "sha-1" => Algorithm::Sha1,
            "sha224" | "sha2-224" | "sha-224" => Algorithm::Sha224,
            "sha256" | "sha2-256" | "sha-256" => Algorithm::Sha256,
            "sha384" | "sha2-384" | "sha-384" => Algorithm::Sha384,
            "sha512" | "sha2-512" | "sha-512" => Algorithm::Sha512,
            _ => return None,
        })
    }

    /// The algorithm of `sha2(<bits>)`.
    pub fn sha2(bits: i64) -> Option<Algorithm> {
        Some(match bits {
            224 => Algorithm::Sha224,
            256 => Algorithm::Sha256,
            384 => Algorithm::Sha384,
            512 => Algorithm::Sha512,
            _ => return None,
        })
    }

    /// A stable number for the algorithm, to keep it in a compiled converter argument.
    pub fn id(self) -> i64 {
        self as i64
    }

    pub fn from_id(id: i64) -> Option<Algorithm> {
        [
            Algorithm::Sha1,
            Algorithm::Sha224,
            Algorithm::Sha256,
            Algorithm::Sha384,
            Algorithm::Sha512,
        ]
        .into_iter()
        .find(|a| a.id() == id)
    }

    /// The size in bytes of the blocks the algorithm compresses (HMAC pads keys to it).
    fn block_len(self) -> usize {
        match self {
            Algorithm::Sha1 | Algorithm::Sha224 | Algorithm::Sha256 => 64,
            Algorithm::Sha384 | Algorithm::Sha512 => 128,
        }
    }

    /// The digest of `data`.
    pub fn digest(self, data: &[u8]) -> Vec<u8> {
        self.digest_parts(&[data])
    }

    /// The digest of the concatenation of `parts`.
    fn digest_parts(self, parts: &[&[u8]]) -> Vec<u8> {
        match self {
            Algorithm::Sha1 => sha1(parts).to_vec(),
            Algorithm::Sha224 => sha256(parts, &SHA224_IV)[..28].to_vec(),
            Algorithm::Sha256 => sha256(parts, &SHA256_IV).to_vec(),
            Algorithm::Sha384 => sha512(parts, &SHA384_IV)[..48].to_vec(),
            Algorithm::Sha512 => sha512(parts, &SHA512_IV).to_vec(),
        }
    }

    /// HMAC (RFC 2104) of `data` with `key`.
    pub fn hmac(self, key: &[u8], data: &[u8]) -> Vec<u8> {
        let block = self.block_len();
        let mut k = if key.len() > block {
            self.digest(key)
        } else {
            key.to_vec()
        };
        k.resize(block, 0);
        let ipad: Vec<u8> = k.iter().map(|b| b ^ 0x36).collect();
        let opad: Vec<u8> = k.iter().map(|b| b ^ 0x5c).collect();
        let inner = self.digest_parts(&[&ipad, data]);
        self.digest_parts(&[&opad, &inner])
    }
}

/// The Merkle-Damgård padding of a message of `len` bytes for `block`-byte blocks with a
/// `len_bytes`-byte big-endian bit length: 0x80, zeros, the length.
fn padding(len: usize, block: usize, len_bytes: usize) -> Vec<u8> {
    let mut pad = vec![0x80u8];
    while (len + pad.len()) % block != block - len_bytes {
        pad.push(0);
    }
    let bits = (len as u128) * 8;
    pad.extend_from_slice(&bits.to_be_bytes()[16 - len_bytes..]);
    pad
}

/// Feeds the concatenation of `parts` and its padding to `compress`, block by block.
fn for_each_block<const B: usize>(
    parts: &[&[u8]],
    len_bytes: usize,
    mut compress: impl FnMut(&[u8; B]),
) {
    let total: usize = parts.iter().map(|p| p.len()).sum();
    let pad = padding(total, B, len_bytes);
    let mut block = [0u8; B];
    let mut filled = 0;
    for part in parts.iter().copied().chain([pad.as_slice()]) {
        for &byte in part {
            block[filled] = byte;
            filled += 1;
            if filled == B {
                compress(&block);
                filled = 0;
            }
        }
    }
    debug_assert_eq!(filled, 0, "the padding completes the last block");
}

#[rustfmt::skip]
const SHA1_IV: [u32; 5] = [0x6745_2301, 0xEFCD_AB89, 0x98BA_DCFE, 0x1032_5476, 0xC3D2_E1F0];

fn sha1(parts: &[&[u8]]) -> [u8; 20] {
    let mut h = SHA1_IV;
    for_each_block::<64>(parts, 8, |block| {
        let mut w = [0u32; 80];
        for (i, word) in block.chunks_exact(4).enumerate() {
            w[i] = u32::from_be_bytes([word[0], word[1], word[2], word[3]]);
        }
        for i in 16..80 {
            w[i] = (w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16]).rotate_left(1);
        }
        let [mut a, mut b, mut c, mut d, mut e] = h;
        for (i, wi) in w.iter().enumerate() {
            let (f, k) = match i {
                0..=19 => ((b & c) | (!b & d), 0x5A82_7999),
                20..=39 => (b ^ c ^ d, 0x6ED9_EBA1),
                40..=59 => ((b & c) | (b & d) | (c & d), 0x8F1B_BCDC),
                _ => (b ^ c ^ d, 0xCA62_C1D6),
            };
            let t = a
                .rotate_left(5)
                .wrapping_add(f)
                .wrapping_add(e)
                .wrapping_add(k)
                .wrapping_add(*wi);
            e = d;
            d = c;
            c = b.rotate_left(30);
            b = a;
            a = t;
        }
        for (hi, v) in h.iter_mut().zip([a, b, c, d, e]) {
            *hi = hi.wrapping_add(v);
        }
    });
    let mut out = [0u8; 20];
    for (chunk, word) in out.chunks_exact_mut(4).zip(h) {
        chunk.copy_from_slice(&word.to_be_bytes());
    }
    out
}

#[rustfmt::skip]
const SHA224_IV: [u32; 8] = [
    0xc105_9ed8, 0x367c_d507, 0x3070_dd17, 0xf70e_5939, 0xffc0_0b31, 0x6858_1511, 0x64f9_8fa7,
    0xbefa_4fa4,
];
#[rustfmt::skip]
const SHA256_IV: [u32; 8] = [
    0x6a09_e667, 0xbb67_ae85, 0x3c6e_f372, 0xa54f_f53a, 0x510e_527f, 0x9b05_688c, 0x1f83_d9ab,
    0x5be0_cd19,
];
#[rustfmt::skip]
const SHA256_K: [u32; 64] = [
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
];

/// SHA-256 (or, with its initial value, SHA-224 before truncation).
fn sha256(parts: &[&[u8]], iv: &[u32; 8]) -> [u8; 32] {
    let mut h = *iv;
    for_each_block::<64>(parts, 8, |block| {
        let mut w = [0u32; 64];
        for (i, word) in block.chunks_exact(4).enumerate() {
            w[i] = u32::from_be_bytes([word[0], word[1], word[2], word[3]]);
        }
        for i in 16..64 {
            let s0 = w[i - 15].rotate_right(7) ^ w[i - 15].rotate_right(18) ^ (w[i - 15] >> 3);
            let s1 = w[i - 2].rotate_right(17) ^ w[i - 2].rotate_right(19) ^ (w[i - 2] >> 10);
            w[i] = w[i - 16]
                .wrapping_add(s0)
                .wrapping_add(w[i - 7])
                .wrapping_add(s1);
        }
        let mut v = h;
        for i in 0..64 {
            let [a, b, c, d, e, f, g, hh] = v;
            let s1 = e.rotate_right(6) ^ e.rotate_right(11) ^ e.rotate_right(25);
            let ch = (e & f) ^ (!e & g);
            let t1 = hh
                .wrapping_add(s1)
                .wrapping_add(ch)
                .wrapping_add(SHA256_K[i])
                .wrapping_add(w[i]);
            let s0 = a.rotate_right(2) ^ a.rotate_right(13) ^ a.rotate_right(22);
            let maj = (a & b) ^ (a & c) ^ (b & c);
            let t2 = s0.wrapping_add(maj);
            v = [t1.wrapping_add(t2), a, b, c, d.wrapping_add(t1), e, f, g];
        }
        for (hi, vi) in h.iter_mut().zip(v) {
            *hi = hi.wrapping_add(vi);
        }
    });
    let mut out = [0u8; 32];
    for (chunk, word) in out.chunks_exact_mut(4).zip(h) {
        chunk.copy_from_slice(&word.to_be_bytes());
    }
    out
}

#[rustfmt::skip]
const SHA384_IV: [u64; 8] = [
    0xcbbb9d5dc1059ed8, 0x629a292a367cd507, 0x9159015a3070dd17, 0x152fecd8f70e5939,
    0x67332667ffc00b31, 0x8eb44a8768581511, 0xdb0c2e0d64f98fa7, 0x47b5481dbefa4fa4,
];
#[rustfmt::skip]
const SHA512_IV: [u64; 8] = [
    0x6a09e667f3bcc908, 0xbb67ae8584caa73b, 0x3c6ef372fe94f82b, 0xa54ff53a5f1d36f1,
    0x510e527fade682d1, 0x9b05688c2b3e6c1f, 0x1f83d9abfb41bd6b, 0x5be0cd19137e2179,
];
#[rustfmt::skip]
const SHA512_K: [u64; 80] = [
    0x428a2f98d728ae22, 0x7137449123ef65cd, 0xb5c0fbcfec4d3b2f, 0xe9b5dba58189dbbc, 0x3956c25bf348b538,
    0x59f111f1b605d019, 0x923f82a4af194f9b, 0xab1c5ed5da6d8118, 0xd807aa98a3030242, 0x12835b0145706fbe,
    0x243185be4ee4b28c, 0x550c7dc3d5ffb4e2, 0x72be5d74f27b896f, 0x80deb1fe3b1696b1, 0x9bdc06a725c71235,
    0xc19bf174cf692694, 0xe49b69c19ef14ad2, 0xefbe4786384f25e3, 0x0fc19dc68b8cd5b5, 0x240ca1cc77ac9c65,
    0x2de92c6f592b0275, 0x4a7484aa6ea6e483, 0x5cb0a9dcbd41fbd4, 0x76f988da831153b5, 0x983e5152ee66dfab,
    0xa831c66d2db43210, 0xb00327c898fb213f, 0xbf597fc7beef0ee4, 0xc6e00bf33da88fc2, 0xd5a79147930aa725,
    0x06ca6351e003826f, 0x142929670a0e6e70, 0x27b70a8546d22ffc, 0x2e1b21385c26c926, 0x4d2c6dfc5ac42aed,
    0x53380d139d95b3df, 0x650a73548baf63de, 0x766a0abb3c77b2a8, 0x81c2c92e47edaee6, 0x92722c851482353b,
    0xa2bfe8a14cf10364, 0xa81a664bbc423001, 0xc24b8b70d0f89791, 0xc76c51a30654be30, 0xd192e819d6ef5218,
    0xd69906245565a910, 0xf40e35855771202a, 0x106aa07032bbd1b8, 0x19a4c116b8d2d0c8, 0x1e376c085141ab53,
    0x2748774cdf8eeb99, 0x34b0bcb5e19b48a8, 0x391c0cb3c5c95a63, 0x4ed8aa4ae3418acb, 0x5b9cca4f7763e373,
    0x682e6ff3d6b2b8a3, 0x748f82ee5defb2fc, 0x78a5636f43172f60, 0x84c87814a1f0ab72, 0x8cc702081a6439ec,
    0x90befffa23631e28, 0xa4506cebde82bde9, 0xbef9a3f7b2c67915, 0xc67178f2e372532b, 0xca273eceea26619c,
    0xd186b8c721c0c207, 0xeada7dd6cde0eb1e, 0xf57d4f7fee6ed178, 0x06f067aa72176fba, 0x0a637dc5a2c898a6,
    0x113f9804bef90dae, 0x1b710b35131c471b, 0x28db77f523047d84, 0x32caab7b40c72493, 0x3c9ebe0a15c9bebc,
    0x431d67c49c100d4c, 0x4cc5d4becb3e42b6, 0x597f299cfc657e2a, 0x5fcb6fab3ad6faec, 0x6c44198c4a475817,
];

/// SHA-512 (or, with its initial value, SHA-384 before truncation).
fn sha512(parts: &[&[u8]], iv: &[u64; 8]) -> [u8; 64] {
    let mut h = *iv;
    for_each_block::<128>(parts, 16, |block| {
        let mut w = [0u64; 80];
        for (i, word) in block.chunks_exact(8).enumerate() {
            w[i] = u64::from_be_bytes(word.try_into().expect("8 bytes"));
        }
        for i in 16..80 {
            let s0 = w[i - 15].rotate_right(1) ^ w[i - 15].rotate_right(8) ^ (w[i - 15] >> 7);
            let s1 = w[i - 2].rotate_right(19) ^ w[i - 2].rotate_right(61) ^ (w[i - 2] >> 6);
            w[i] = w[i - 16]
                .wrapping_add(s0)
                .wrapping_add(w[i - 7])
                .wrapping_add(s1);
        }
        let mut v = h;
        for i in 0..80 {
            let [a, b, c, d, e, f, g, hh] = v;
            let s1 = e.rotate_right(14) ^ e.rotate_right(18) ^ e.rotate_right(41);
            let ch = (e & f) ^ (!e & g);
            let t1 = hh
                .wrapping_add(s1)
                .wrapping_add(ch)
                .wrapping_add(SHA512_K[i])
                .wrapping_add(w[i]);
            let s0 = a.rotate_right(28) ^ a.rotate_right(34) ^ a.rotate_right(39);
            let maj = (a & b) ^ (a & c) ^ (b & c);
            let t2 = s0.wrapping_add(maj);
            v = [t1.wrapping_add(t2), a, b, c, d.wrapping_add(t1), e, f, g];
        }
        for (hi, vi) in h.iter_mut().zip(v) {
            *hi = hi.wrapping_add(vi);
        }
    });
    let mut out = [0u8; 64];
    for (chunk, word) in out.chunks_exact_mut(8).zip(h) {
        chunk.copy_from_slice(&word.to_be_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::Algorithm::{self, *};

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// FIPS 180-4 example vectors ("abc", the two-block messages) and the empty message.
    #[test]
    fn digests_match_the_standard_vectors() {
        let two_blocks = b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
        let two_blocks_512 = b"abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu";
        let cases: &[(Algorithm, &[u8], &str)] = &[
            (Sha1, b"abc", "a9993e364706816aba3e25717850c26c9cd0d89d"),
            (Sha1, two_blocks, "84983e441c3bd26ebaae4aa1f95129e5e54670f1"),
            (Sha1, b"", "da39a3ee5e6b4b0d3255bfef95601890afd80709"),
            (Sha224, b"abc", "23097d223405d8228642a477bda255b32aadbce4bda0b3f7e36c9da7"),
            (Sha256, b"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
            (Sha256, two_blocks, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"),
            (Sha256, b"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
            (Sha384, b"abc", "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed8086072ba1e7cc2358baeca134c825a7"),
            (Sha512, b"abc", "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f"),
            (Sha512, two_blocks_512, "8e959b75dae313da8cf4f72814fc143f8f7779c6eb9f7fa17299aeadb6889018501d289e4900f7e4331b99dec4b5433ac7d329eeb6dd26545e96e55b874be909"),
        ];
        for (alg, input, want) in cases {
            assert_eq!(hex(&alg.digest(input)), *want, "{alg:?} {input:?}");
        }
        let a_million = vec![b'a'; 1_000_000];
        assert_eq!(
            hex(&Sha256.digest(&a_million)),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"
        );
        // Every length from 0 to 259 bytes, across the padding boundaries (55/56/64 for
        // 64-byte blocks, 111/112/128 for 128-byte ones): the SHA-256 of the concatenated
        // hex digests, as Python's hashlib computes it.
        let chained = [
            (
                Sha1,
                "65aa281136b4cdeeb7a41bf5f1cfa2bea203cc334fad2132f2c5aadbb3dca308",
            ),
            (
                Sha224,
                "e65e3238fcbd550a6a9f4a63ffd2d23904e715bb05778fcdb097da123e318fd5",
            ),
            (
                Sha256,
                "b941727062911011046b91a996ccbbecf2f25d15c1ab1591686c0e0319b69e08",
            ),
            (
                Sha384,
                "af1326ef6cb8df9359b107d33083046132fc7f4441e26a2362429f0b91977bd8",
            ),
            (
                Sha512,
                "0dee9a3fe1138f159daa1f7da748610ff4ab025c3ea07c32d6943aa63e242cdf",
            ),
        ];
        for (alg, want) in chained {
            let all: String = (0..260).map(|n| hex(&alg.digest(&vec![b'a'; n]))).collect();
            assert_eq!(hex(&Sha256.digest(all.as_bytes())), want, "{alg:?}");
        }
    }

    /// RFC 4231 test cases 1, 2 and 6 (a key longer than a block) and RFC 2202 case 2.
    #[test]
    fn hmac_matches_the_rfc_vectors() {
        let key20 = [0x0bu8; 20];
        assert_eq!(
            hex(&Sha256.hmac(&key20, b"Hi There")),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"
        );
        assert_eq!(
            hex(&Sha512.hmac(&key20, b"Hi There")),
            "87aa7cdea5ef619d4ff0b4241a1d6cb02379f4e2ce4ec2787ad0b30545e17cdedaa833b7d6b8a702038b274eaea3f4e4be9d914eeb61f1702e696c203a126854"
        );
        assert_eq!(
            hex(&Sha256.hmac(b"Jefe", b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert_eq!(
            hex(&Sha1.hmac(b"Jefe", b"what do ya want for nothing?")),
            "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"
        );
        let key131 = [0xaau8; 131];
        assert_eq!(
            hex(&Sha256.hmac(
                &key131,
                b"Test Using Larger Than Block-Size Key - Hash Key First"
            )),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
        assert_eq!(
            hex(&Sha384.hmac(b"Jefe", b"what do ya want for nothing?")),
            "af45d2e376484031617f78d2b58a6b1b9c7ef464f5a01b47e42ec3736322445e8e2240ca5e69e2c78b3239ecfab21649"
        );
    }

    #[test]
    fn names_are_openssls() {
        assert_eq!(Algorithm::from_name("SHA256"), Some(Sha256));
        assert_eq!(Algorithm::from_name("sha2-512"), Some(Sha512));
        assert_eq!(Algorithm::from_name("sha1"), Some(Sha1));
        assert_eq!(Algorithm::from_name("foo"), None);
        assert_eq!(Algorithm::sha2(100), None);
        for a in [Sha1, Sha224, Sha256, Sha384, Sha512] {
            assert_eq!(Algorithm::from_id(a.id()), Some(a));
        }
    }
}
