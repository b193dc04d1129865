//! Portable Poly1305 (RFC 8439 §2.5) over three 44/44/42-bit limbs with 64x64->128-bit
//! multiplies, after Andrew Moon's poly1305-donna-64. Used only for short messages, where the
//! `poly1305` crate's runtime-detected AVX2 backend spends more on its per-message setup than
//! on the data (see `BENCHMARKS.md`). No branch and no memory index depends on key or data;
//! the final reduction selects with masks. Checked against the `poly1305` crate in the tests
//! of `crate::aead` on many keys and lengths.

use zeroize::{Zeroize, ZeroizeOnDrop};

const MASK44: u64 = (1 << 44) - 1;
const MASK42: u64 = (1 << 42) - 1;

/// A one-time Poly1305 state. Its key and accumulator are zeroized on drop.
#[derive(Zeroize, ZeroizeOnDrop)]
pub(crate) struct Poly1305 {
    r: [u64; 3],
    s: [u64; 2],
    h: [u64; 3],
    pad: [u64; 2],
}

fn le64(b: &[u8; 16], half: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(b.get(half * 8..half * 8 + 8).unwrap_or(&[0; 8]));
    u64::from_le_bytes(w)
}

fn mul(a: u64, b: u64) -> u128 {
    u128::from(a) * u128::from(b)
}

impl Poly1305 {
    /// A state for the one-time key `key` (r | s, r clamped here).
    pub(crate) fn new(key: &[u8; 32]) -> Self {
        let mut lo = [0u8; 16];
        let mut hi = [0u8; 16];
        lo.copy_from_slice(&key[..16]);
        hi.copy_from_slice(&key[16..]);
        let (t0, t1) = (le64(&lo, 0), le64(&lo, 1));
        let r0 = t0 & 0xffc_0fff_ffff;
        let r1 = ((t0 >> 44) | (t1 << 20)) & 0xfff_ffc0_ffff;
        let r2 = (t1 >> 24) & 0x00f_ffff_fc0f;
        let st = Poly1305 {
            r: [r0, r1, r2],
            s: [r1 * (5 << 2), r2 * (5 << 2)],
            h: [0; 3],
            pad: [le64(&hi, 0), le64(&hi, 1)],
        };
        lo.zeroize();
        hi.zeroize();
        st
    }

    /// Absorbs one full 16-byte block (with the 2^128 bit set).
    fn block(&mut self, m: &[u8; 16]) {
        let [r0, r1, r2] = self.r;
        let [s1, s2] = self.s;
        let [mut h0, mut h1, mut h2] = self.h;
        let (t0, t1) = (le64(m, 0), le64(m, 1));
        h0 += t0 & MASK44;
        h1 += ((t0 >> 44) | (t1 << 20)) & MASK44;
        h2 += ((t1 >> 24) & MASK42) | (1 << 40);

        let d0 = mul(h0, r0) + mul(h1, s2) + mul(h2, s1);
        let mut d1 = mul(h0, r1) + mul(h1, r0) + mul(h2, s2);
        let mut d2 = mul(h0, r2) + mul(h1, r1) + mul(h2, r0);

        let mut c = (d0 >> 44) as u64;
        h0 = (d0 as u64) & MASK44;
        d1 += u128::from(c);
        c = (d1 >> 44) as u64;
        h1 = (d1 as u64) & MASK44;
        d2 += u128::from(c);
        c = (d2 >> 42) as u64;
        h2 = (d2 as u64) & MASK42;
        h0 += c * 5;
        c = h0 >> 44;
        h0 &= MASK44;
        h1 += c;
        self.h = [h0, h1, h2];
    }

    /// Absorbs `data` as 16-byte blocks, the last one padded with zeros (RFC 8439 §2.8).
    pub(crate) fn update_padded(&mut self, data: &[u8]) {
        let mut chunks = data.chunks_exact(16);
        for c in &mut chunks {
            let mut b = [0u8; 16];
            b.copy_from_slice(c);
            self.block(&b);
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut b = [0u8; 16];
            if let Some(head) = b.get_mut(..rest.len()) {
                head.copy_from_slice(rest);
            }
            self.block(&b);
            b.zeroize();
        }
    }

    /// Absorbs one full block.
    pub(crate) fn update_block(&mut self, block: &[u8; 16]) {
        self.block(block);
    }

    /// The tag: h mod 2^130 - 5, plus s, mod 2^128.
    pub(crate) fn finalize(mut self) -> [u8; 16] {
        let [mut h0, mut h1, mut h2] = self.h;
        let mut c = h1 >> 44;
        h1 &= MASK44;
        h2 += c;
        c = h2 >> 42;
        h2 &= MASK42;
        h0 += c * 5;
        c = h0 >> 44;
        h0 &= MASK44;
        h1 += c;
        c = h1 >> 44;
        h1 &= MASK44;
        h2 += c;
        c = h2 >> 42;
        h2 &= MASK42;
        h0 += c * 5;
        c = h0 >> 44;
        h0 &= MASK44;
        h1 += c;

        // g = h + 5 - 2^130; keep h when g is negative, else g. Selected with masks.
        let mut g0 = h0 + 5;
        c = g0 >> 44;
        g0 &= MASK44;
        let mut g1 = h1 + c;
        c = g1 >> 44;
        g1 &= MASK44;
        let mut g2 = h2.wrapping_add(c).wrapping_sub(1 << 42);
        let use_g = (g2 >> 63).wrapping_sub(1);
        g0 &= use_g;
        g1 &= use_g;
        g2 &= use_g;
        let keep_h = !use_g;
        h0 = (h0 & keep_h) | g0;
        h1 = (h1 & keep_h) | g1;
        h2 = (h2 & keep_h) | g2;

        let [t0, t1] = self.pad;
        h0 += t0 & MASK44;
        c = h0 >> 44;
        h0 &= MASK44;
        h1 += (((t0 >> 44) | (t1 << 20)) & MASK44) + c;
        c = h1 >> 44;
        h1 &= MASK44;
        h2 += ((t1 >> 24) & MASK42) + c;
        h2 &= MASK42;

        let lo = h0 | (h1 << 44);
        let hi = (h1 >> 20) | (h2 << 24);
        let mut tag = [0u8; 16];
        tag[..8].copy_from_slice(&lo.to_le_bytes());
        tag[8..].copy_from_slice(&hi.to_le_bytes());
        self.zeroize();
        tag
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use poly1305::universal_hash::{KeyInit, UniversalHash};

    fn unhex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// RFC 8439 Appendix A.3 test vectors #5 to #11: the edge cases of the carry chain and the
    /// final reduction (h >= 2^130 - 5), which random inputs essentially never reach. All are
    /// whole 16-byte blocks, the only shape the AEAD feeds this implementation.
    #[test]
    fn rfc8439_edge_case_vectors() {
        let r10 = "01000000000000000400000000000000";
        let zero = "00000000000000000000000000000000";
        let cases = [
            ("02000000000000000000000000000000", zero, "ffffffffffffffffffffffffffffffff", "03000000000000000000000000000000"),
            ("02000000000000000000000000000000", "ffffffffffffffffffffffffffffffff", "02000000000000000000000000000000", "03000000000000000000000000000000"),
            ("01000000000000000000000000000000", zero, "ffffffffffffffffffffffffffffffff f0ffffffffffffffffffffffffffffff 11000000000000000000000000000000", "05000000000000000000000000000000"),
            ("01000000000000000000000000000000", zero, "ffffffffffffffffffffffffffffffff fbfefefefefefefefefefefefefefefe 01010101010101010101010101010101", "00000000000000000000000000000000"),
            ("02000000000000000000000000000000", zero, "fdffffffffffffffffffffffffffffff", "faffffffffffffffffffffffffffffff"),
            (r10, zero, "e33594d7505e43b90000000000000000 3394d7505e4379cd0100000000000000 00000000000000000000000000000000 01000000000000000000000000000000", "14000000000000005500000000000000"),
            (r10, zero, "e33594d7505e43b90000000000000000 3394d7505e4379cd0100000000000000 00000000000000000000000000000000", "13000000000000000000000000000000"),
        ];
        for (i, (r, s, msg, tag)) in cases.iter().enumerate() {
            let key: [u8; 32] = [unhex(r), unhex(s)].concat().try_into().unwrap();
            let msg = unhex(msg);
            let mut soft = Poly1305::new(&key);
            soft.update_padded(&msg);
            let got = soft.finalize();
            let mut simd = poly1305::Poly1305::new((&key).into());
            simd.update_padded(&msg);
            let reference: [u8; 16] = simd.finalize().into();
            assert_eq!(got, reference, "case {i}: differs from the poly1305 crate");
            assert_eq!(got.to_vec(), unhex(tag), "case {i}: differs from RFC 8439");
        }
    }
}
