//! XChaCha20-Poly1305 for records (draft-irtf-cfrg-xchacha over RFC 8439's AEAD), composed from
//! the `chacha20` and `poly1305` crates so that the record path can
//!
//! - hash short messages with a portable Poly1305 ([`crate::poly1305_soft`]): the `poly1305`
//!   crate picks its AVX2 backend at run time on every x86 CPU that has AVX2, and that backend
//!   costs thousands of instructions per message before the first byte (its helpers are not
//!   inlined into AVX2 code), which dominates a 64-byte value. The choice depends only on the
//!   message length, so it is right on every CPU; no build flag is involved;
//! - encrypt and authenticate in one pass over cache-sized chunks instead of two passes over
//!   the whole value (matters once a value no longer fits in the cache);
//! - on read, move the plaintext to the front of the buffer chunk by chunk while it is in
//!   cache, instead of a second pass to drop the record prefix.
//!
//! The output is byte-for-byte the `chacha20poly1305` crate's `XChaCha20Poly1305` (tests below
//! compare both on many keys, nonces, associated data and lengths; the record test vectors pin
//! the format). Tags are compared in constant time (`ctutils`). On a failed open the buffer,
//! which then holds unauthenticated plaintext, is zeroized before it is returned as an error.

use chacha20::cipher::{KeyIvInit, StreamCipher, StreamCipherSeek};
use chacha20::XChaCha20;
use ctutils::CtEq;
use poly1305::universal_hash::{KeyInit, UniversalHash};
use zeroize::{Zeroize, Zeroizing};

use crate::poly1305_soft;

#[cfg(feature = "parallel")]
mod parallel;

/// How a message is processed: `None` on the calling thread only, `Some(h)` on the calling
/// thread and up to `h` helper threads (`parallel` feature; values of at least 1 MiB).
type Threads = Option<usize>;

/// The default for a message of `len` bytes.
fn threads_for(len: usize) -> Threads {
    #[cfg(feature = "parallel")]
    if len >= parallel::MIN_LEN {
        let helpers = parallel::helpers();
        if helpers > 0 {
            return Some(helpers);
        }
    }
    let _ = len;
    None
}

/// Bytes processed per step: a multiple of the ChaCha20 block (64) and of the Poly1305 block
/// (16), small enough to stay in the L1 cache between encrypting and hashing it.
const CHUNK: usize = 4096;

/// Up to this many hashed bytes (padded associated data + padded message + 16), the portable
/// Poly1305 costs fewer instructions than the AVX2 backend with its setup (callgrind: equal at
/// about 1.6 KiB; a 1 KiB monitor update hashes about 1.2 KiB). See `BENCHMARKS.md`.
const SOFT_MAC_MAX: usize = 1536;

/// Longest message: ChaCha20's 32-bit block counter (as the `chacha20poly1305` crate checks).
const MAX_BLOCKS: usize = u32::MAX as usize;

/// The message is too long for one nonce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TooLong;

/// The XChaCha20-Poly1305 key of a store.
pub(crate) struct XChaCha20Poly1305 {
    key: Zeroizing<[u8; 32]>,
    /// Tests force a number of helper threads (or none) whatever the length.
    forced: Option<Threads>,
}

// Lives on the stack for one message; boxing the large variant would cost an allocation.
#[allow(clippy::large_enum_variant)]
enum Mac {
    Soft(poly1305_soft::Poly1305),
    Simd(poly1305::Poly1305),
}

impl Mac {
    fn update_padded(&mut self, data: &[u8]) {
        match self {
            Mac::Soft(m) => m.update_padded(data),
            Mac::Simd(m) => m.update_padded(data),
        }
    }

    fn finalize(self, ad_len: usize, msg_len: usize) -> [u8; 16] {
        let mut lengths = [0u8; 16];
        lengths[..8].copy_from_slice(&(ad_len as u64).to_le_bytes());
        lengths[8..].copy_from_slice(&(msg_len as u64).to_le_bytes());
        match self {
            Mac::Soft(mut m) => {
                m.update_block(&lengths);
                m.finalize()
            }
            Mac::Simd(mut m) => {
                m.update(&[lengths.into()]);
                m.finalize().into()
            }
        }
    }
}

fn padded(n: usize) -> usize {
    n.div_ceil(16).saturating_mul(16)
}

impl XChaCha20Poly1305 {
    pub(crate) fn new(key: &[u8; 32]) -> Self {
        XChaCha20Poly1305 {
            key: Zeroizing::new(*key),
            forced: None,
        }
    }

    /// The same key, always on `threads` (tests of the threaded path on short lengths).
    #[cfg(all(test, feature = "parallel"))]
    fn forcing(mut self, threads: Threads) -> Self {
        self.forced = Some(threads);
        self
    }

    fn threads(&self, len: usize) -> Threads {
        self.forced.unwrap_or_else(|| threads_for(len))
    }

    /// The keystream positioned at block 1 and the Poly1305 state keyed from block 0.
    fn start(
        &self,
        nonce: &[u8; 24],
        ad_len: usize,
        msg_len: usize,
    ) -> Result<(XChaCha20, Mac), TooLong> {
        if msg_len / 64 >= MAX_BLOCKS {
            return Err(TooLong);
        }
        let mut stream = XChaCha20::new((&*self.key).into(), nonce.into());
        let mut mac_key = Zeroizing::new([0u8; 32]);
        stream.apply_keystream(&mut mac_key[..]);
        stream.seek(64u64);
        let hashed = padded(ad_len)
            .saturating_add(padded(msg_len))
            .saturating_add(16);
        let mac = if hashed <= SOFT_MAC_MAX {
            Mac::Soft(poly1305_soft::Poly1305::new(&mac_key))
        } else {
            Mac::Simd(poly1305::Poly1305::new((&*mac_key).into()))
        };
        Ok((stream, mac))
    }

    /// Encrypts `buf` in place on this thread and returns the tag.
    fn seal_in_place(
        &self,
        nonce: &[u8; 24],
        ad: &[u8],
        buf: &mut [u8],
    ) -> Result<[u8; 16], TooLong> {
        let (mut stream, mut mac) = self.start(nonce, ad.len(), buf.len())?;
        mac.update_padded(ad);
        for chunk in buf.chunks_mut(CHUNK) {
            stream.apply_keystream(chunk);
            mac.update_padded(chunk);
        }
        Ok(mac.finalize(ad.len(), buf.len()))
    }

    /// Moves the message at `buf[..len]` to `buf[shift..]` (`buf` is `shift + len` long, at
    /// most 32 bytes of shift) and encrypts it there; returns the tag. On several threads the
    /// move is done unit by unit as the units are encrypted, not in a separate pass.
    pub(crate) fn seal_shifted(
        &self,
        nonce: &[u8; 24],
        ad: &[u8],
        buf: &mut [u8],
        shift: usize,
        len: usize,
    ) -> Result<[u8; 16], TooLong> {
        if shift.checked_add(len) != Some(buf.len()) {
            return Err(TooLong);
        }
        let threads = self.threads(len);
        #[cfg(feature = "parallel")]
        if let Some(helpers) = threads {
            if let Some(units) = parallel::ShiftedUnits::new(buf, shift, len) {
                let (_, mut mac) = self.start(nonce, ad.len(), len)?;
                mac.update_padded(ad);
                let count = len.div_ceil(parallel::UNIT);
                if !parallel::seal(&self.key, nonce, &mut mac, units, count, helpers) {
                    return Err(TooLong); // cannot happen: the units are cut to `count`
                }
                return Ok(mac.finalize(ad.len(), len));
            }
        }
        let _ = threads;
        buf.copy_within(..len, shift);
        let body = buf.get_mut(shift..).ok_or(TooLong)?;
        self.seal_in_place(nonce, ad, body)
    }

    /// Returns `prefix ‖ ciphertext ‖ tag` in one new buffer of exactly that size.
    pub(crate) fn seal_new(
        &self,
        nonce: &[u8; 24],
        ad: &[u8],
        prefix: &[u8],
        plaintext: &[u8],
    ) -> Result<Vec<u8>, TooLong> {
        let threads = self.threads(plaintext.len());
        let total = prefix
            .len()
            .checked_add(plaintext.len())
            .and_then(|n| n.checked_add(16))
            .ok_or(TooLong)?;
        #[cfg(feature = "parallel")]
        if let Some(helpers) = threads {
            let (_, mut mac) = self.start(nonce, ad.len(), plaintext.len())?;
            mac.update_padded(ad);
            // Safe Rust cannot hand out uninitialised memory, so the record is allocated
            // zeroed: for a buffer this large the allocator usually maps fresh pages, which
            // the kernel has zeroed already, so nothing is written twice, and each page is
            // first touched by the thread that encrypts into it.
            let mut rec = vec![0u8; total];
            let (head, rest) = rec.split_at_mut(prefix.len());
            head.copy_from_slice(prefix);
            let (body, tag_out) = rest.split_at_mut(plaintext.len());
            let count = plaintext.len().div_ceil(parallel::UNIT);
            let units = body
                .chunks_mut(parallel::UNIT)
                .zip(plaintext.chunks(parallel::UNIT));
            if !parallel::seal(&self.key, nonce, &mut mac, units, count, helpers) {
                return Err(TooLong); // cannot happen: the units are cut to `count`
            }
            tag_out.copy_from_slice(&mac.finalize(ad.len(), plaintext.len()));
            return Ok(rec);
        }
        let _ = threads;
        let mut rec = Vec::with_capacity(total);
        rec.extend_from_slice(prefix);
        let tag = self.seal_append(nonce, ad, plaintext, &mut rec)?;
        rec.extend_from_slice(&tag);
        Ok(rec)
    }

    /// Appends `plaintext` to `out` encrypted, chunk by chunk on this thread (each chunk is
    /// copied once, then encrypted while in cache), and returns the tag.
    fn seal_append(
        &self,
        nonce: &[u8; 24],
        ad: &[u8],
        plaintext: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<[u8; 16], TooLong> {
        let (mut stream, mut mac) = self.start(nonce, ad.len(), plaintext.len())?;
        mac.update_padded(ad);
        for chunk in plaintext.chunks(CHUNK) {
            let at = out.len();
            out.extend_from_slice(chunk);
            if let Some(c) = out.get_mut(at..) {
                stream.apply_keystream(c);
                mac.update_padded(c);
            }
        }
        Ok(mac.finalize(ad.len(), plaintext.len()))
    }

    /// Opens the ciphertext at `buf[shift..shift + len]` and leaves the plaintext at
    /// `buf[..len]` (each chunk is hashed, moved and decrypted while in cache). `Err` when the
    /// tag does not match; `buf` is then zeroized.
    pub(crate) fn open_shifted(
        &self,
        nonce: &[u8; 24],
        ad: &[u8],
        buf: &mut [u8],
        shift: usize,
        len: usize,
        tag: &[u8; 16],
    ) -> Result<(), ()> {
        if shift.checked_add(len).is_none_or(|end| end > buf.len()) {
            return Err(());
        }
        let threads = self.threads(len);
        let (mut stream, mut mac) = self.start(nonce, ad.len(), len).map_err(|_| ())?;
        mac.update_padded(ad);
        #[cfg(feature = "parallel")]
        if let Some(helpers) = threads {
            if !parallel::open_shifted(&self.key, nonce, &mut mac, buf, shift, len, helpers) {
                buf.zeroize();
                return Err(());
            }
            return self.check_tag(mac, ad.len(), len, tag, buf);
        }
        let _ = threads;
        let mut at = 0;
        while at < len {
            let n = CHUNK.min(len - at);
            let src = shift + at..shift + at + n;
            if let Some(c) = buf.get(src.clone()) {
                mac.update_padded(c);
            }
            buf.copy_within(src, at);
            if let Some(c) = buf.get_mut(at..at + n) {
                stream.apply_keystream(c);
            }
            at += n;
        }
        self.check_tag(mac, ad.len(), len, tag, buf)
    }

    /// Compares the tag in constant time; on mismatch zeroizes `buf`, which then holds
    /// unauthenticated plaintext.
    fn check_tag(
        &self,
        mac: Mac,
        ad_len: usize,
        len: usize,
        tag: &[u8; 16],
        buf: &mut [u8],
    ) -> Result<(), ()> {
        let expected = mac.finalize(ad_len, len);
        if bool::from(expected.ct_eq(tag)) {
            Ok(())
        } else {
            buf.zeroize();
            Err(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chacha20poly1305::aead::AeadInOut;

    /// A small deterministic generator for test inputs (not for keys in use).
    struct Lcg(u64);
    impl Lcg {
        fn next(&mut self) -> u8 {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (self.0 >> 56) as u8
        }
        fn fill(&mut self, b: &mut [u8]) {
            b.iter_mut().for_each(|x| *x = self.next());
        }
    }

    fn reference(key: &[u8; 32], nonce: &[u8; 24], ad: &[u8], msg: &[u8]) -> (Vec<u8>, [u8; 16]) {
        let c = chacha20poly1305::XChaCha20Poly1305::new(key.into());
        let mut ct = msg.to_vec();
        let tag = c
            .encrypt_inout_detached(&(*nonce).into(), ad, (&mut ct[..]).into())
            .unwrap();
        (ct, tag.into())
    }

    const LENS: [usize; 31] = [
        0, 1, 15, 16, 17, 31, 32, 33, 63, 64, 65, 100, 127, 128, 129, 255, 256, 257, 500, 1000,
        1024, 1025, 2000, 4095, 4096, 4097, 8191, 8192, 10000, 65536, 70001,
    ];

    #[test]
    fn identical_to_chacha20poly1305_crate() {
        let mut rng = Lcg(1);
        for (i, &len) in LENS.iter().enumerate() {
            for ad_len in [0usize, 1, 16, 60, 137, 300, 1200] {
                let (mut key, mut nonce) = ([0u8; 32], [0u8; 24]);
                rng.fill(&mut key);
                rng.fill(&mut nonce);
                let mut ad = vec![0u8; ad_len];
                let mut msg = vec![0u8; len];
                rng.fill(&mut ad);
                rng.fill(&mut msg);
                let (ct, tag) = reference(&key, &nonce, &ad, &msg);
                let ours = XChaCha20Poly1305::new(&key);

                let mut buf = msg.clone();
                assert_eq!(
                    ours.seal_in_place(&nonce, &ad, &mut buf).unwrap(),
                    tag,
                    "{i} {len} {ad_len}"
                );
                assert_eq!(buf, ct, "seal_in_place {len} {ad_len}");

                let mut shifted = msg.clone();
                shifted.resize(len + 29, 0);
                let got = ours.seal_shifted(&nonce, &ad, &mut shifted, 29, len);
                assert_eq!(got.unwrap(), tag, "seal_shifted {len} {ad_len}");
                assert_eq!(&shifted[29..], &ct[..], "seal_shifted {len} {ad_len}");

                let mut out = vec![0xEE; 3];
                assert_eq!(ours.seal_append(&nonce, &ad, &msg, &mut out).unwrap(), tag);
                assert_eq!(&out[3..], &ct[..], "seal_append {len} {ad_len}");
                let rec = ours.seal_new(&nonce, &ad, &[0xEE; 3], &msg).unwrap();
                assert_eq!((rec.len(), rec.capacity()), (3 + len + 16, 3 + len + 16));
                assert_eq!(&rec[3..3 + len], &ct[..], "seal_new {len} {ad_len}");
                assert_eq!(&rec[3 + len..], &tag[..], "seal_new {len} {ad_len}");

                for shift in [0usize, 1, 29] {
                    let mut rec = vec![0xAB; shift];
                    rec.extend_from_slice(&ct);
                    ours.open_shifted(&nonce, &ad, &mut rec, shift, len, &tag)
                        .unwrap();
                    assert_eq!(&rec[..len], &msg[..], "open {len} {ad_len} {shift}");
                }
            }
        }
    }

    /// The several-thread path against the crate, with 0 to 3 helpers, on lengths around the
    /// unit size and past the ring of units in flight (so units wrap around it).
    #[cfg(feature = "parallel")]
    #[test]
    fn parallel_identical_to_chacha20poly1305_crate() {
        use parallel::UNIT;
        let mut rng = Lcg(11);
        let lens = [
            0,
            1,
            28,
            29,
            30,
            UNIT - 1,
            UNIT,
            UNIT + 1,
            3 * UNIT + 17,
            32 * UNIT,
            33 * UNIT + 5,
            100 * UNIT + 31,
            parallel::MIN_LEN,
        ];
        for &len in &lens {
            let (mut key, mut nonce) = ([0u8; 32], [0u8; 24]);
            rng.fill(&mut key);
            rng.fill(&mut nonce);
            let mut ad = vec![0u8; 137];
            let mut msg = vec![0u8; len];
            rng.fill(&mut ad);
            rng.fill(&mut msg);
            let (ct, tag) = reference(&key, &nonce, &ad, &msg);
            for helpers in 0..=3 {
                let ours = XChaCha20Poly1305::new(&key).forcing(Some(helpers));

                for shift in [0usize, 1, 29, 32] {
                    let mut buf = msg.clone();
                    buf.resize(len + shift, 0x77);
                    let got = ours.seal_shifted(&nonce, &ad, &mut buf, shift, len);
                    assert_eq!(got.unwrap(), tag, "seal_shifted {len} {helpers} {shift}");
                    assert!(
                        buf[shift..] == ct[..],
                        "seal_shifted {len} {helpers} {shift}"
                    );
                }

                let rec = ours.seal_new(&nonce, &ad, &[0xEE; 29], &msg).unwrap();
                assert_eq!(rec.len(), 29 + len + 16);
                assert_eq!(rec[..29], [0xEE; 29]);
                assert!(rec[29..29 + len] == ct[..], "seal_new {len} {helpers}");
                assert_eq!(rec[29 + len..], tag, "seal_new {len} {helpers}");

                for shift in [0usize, 29] {
                    let mut rec = vec![0xAB; shift];
                    rec.extend_from_slice(&ct);
                    rec.extend_from_slice(&tag);
                    ours.open_shifted(&nonce, &ad, &mut rec, shift, len, &tag)
                        .unwrap();
                    assert!(rec[..len] == msg[..], "open {len} {helpers} {shift}");
                }
            }
        }
    }

    #[cfg(feature = "parallel")]
    #[test]
    fn parallel_any_flip_fails_and_zeroizes() {
        let ours = XChaCha20Poly1305::new(&[5; 32]);
        let nonce = [6; 24];
        let len = 40 * parallel::UNIT + 3;
        let msg: Vec<u8> = (0..len).map(|i| (i * 7) as u8).collect();
        let mut ct = msg.clone();
        let tag = ours.seal_in_place(&nonce, b"ad", &mut ct).unwrap();
        for (helpers, i) in [(1, 0), (2, len / 2), (3, len - 1), (1, 17 * parallel::UNIT)] {
            let mut bad = vec![0xCD; 29];
            bad.extend_from_slice(&ct);
            bad[29 + i] ^= 0x01;
            let threaded = XChaCha20Poly1305::new(&[5; 32]).forcing(Some(helpers));
            let r = threaded.open_shifted(&nonce, b"ad", &mut bad, 29, len, &tag);
            assert!(r.is_err(), "flip at {i}");
            assert!(
                bad.iter().all(|&b| b == 0),
                "not zeroized after flip at {i}"
            );
        }
        // Buffer shorter than shift + len: refused, nothing touched.
        let mut short = ct[..len - 1].to_vec();
        let threaded = XChaCha20Poly1305::new(&[5; 32]).forcing(Some(1));
        assert!(threaded
            .open_shifted(&nonce, b"ad", &mut short, 0, len, &tag)
            .is_err());
    }

    /// The default choice (threads for long values when the feature is on) on long values.
    #[test]
    fn long_values_identical_to_crate() {
        let mut rng = Lcg(3);
        for len in [(1 << 20) - 1, 1 << 20, (1 << 20) + 12345, 3 << 20] {
            let (mut key, mut nonce) = ([0u8; 32], [0u8; 24]);
            rng.fill(&mut key);
            rng.fill(&mut nonce);
            let mut msg = vec![0u8; len];
            rng.fill(&mut msg);
            let (ct, tag) = reference(&key, &nonce, b"names", &msg);
            let ours = XChaCha20Poly1305::new(&key);
            let rec = ours.seal_new(&nonce, b"names", &[9; 29], &msg).unwrap();
            assert!(
                rec[29..29 + len] == ct[..] && rec[29 + len..] == tag,
                "{len}"
            );
            let mut buf = msg.clone();
            buf.resize(len + 29, 0);
            let got = ours.seal_shifted(&nonce, b"names", &mut buf, 29, len);
            assert_eq!(got.unwrap(), tag);
            assert!(buf[29..] == ct[..], "{len}");
            let mut rec = vec![1u8; 29];
            rec.extend_from_slice(&ct);
            ours.open_shifted(&nonce, b"names", &mut rec, 29, len, &tag)
                .unwrap();
            assert!(rec[..len] == msg[..], "{len}");
        }
    }

    #[test]
    fn soft_poly1305_matches_crate() {
        let mut rng = Lcg(7);
        for len in 0..600usize {
            let mut key = [0u8; 32];
            rng.fill(&mut key);
            if len % 7 == 0 {
                // Keys with every clamped bit set and all-ones data stress the carries.
                key = [0xFF; 32];
            }
            let mut msg = vec![0u8; len];
            if len % 7 == 0 {
                msg.fill(0xFF);
            } else {
                rng.fill(&mut msg);
            }
            let mut soft = poly1305_soft::Poly1305::new(&key);
            soft.update_padded(&msg);
            let mut simd = poly1305::Poly1305::new((&key).into());
            simd.update_padded(&msg);
            assert_eq!(
                soft.finalize(),
                <[u8; 16]>::from(simd.finalize()),
                "len {len}"
            );
        }
    }

    #[test]
    fn rfc8439_poly1305_vector() {
        // RFC 8439 §2.5.2 (its message is not a multiple of 16: checked through the crate's
        // compute_unpadded against our padded blocks is not possible, so use the AEAD vector
        // below for padded use and this key on a padded message against the crate).
        let key: [u8; 32] = [
            0x85, 0xd6, 0xbe, 0x78, 0x57, 0x55, 0x6d, 0x33, 0x7f, 0x44, 0x52, 0xfe, 0x42, 0xd5,
            0x06, 0xa8, 0x01, 0x03, 0x80, 0x8a, 0xfb, 0x0d, 0xb2, 0xfd, 0x4a, 0xbf, 0xf6, 0xaf,
            0x41, 0x49, 0xf5, 0x1b,
        ];
        let msg = b"Cryptographic Forum Research Group";
        let mut soft = poly1305_soft::Poly1305::new(&key);
        soft.update_padded(msg);
        let mut simd = poly1305::Poly1305::new((&key).into());
        simd.update_padded(msg);
        assert_eq!(soft.finalize(), <[u8; 16]>::from(simd.finalize()));
    }

    #[test]
    fn xchacha_draft_vector() {
        // draft-irtf-cfrg-xchacha-03, Appendix A.3.1.
        let key: [u8; 32] = core::array::from_fn(|i| 0x80 + i as u8);
        let nonce: [u8; 24] = core::array::from_fn(|i| 0x40 + i as u8);
        let ad = [
            0x50, 0x51, 0x52, 0x53, 0xc0, 0xc1, 0xc2, 0xc3, 0xc4, 0xc5, 0xc6, 0xc7,
        ];
        let msg = b"Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.";
        let mut buf = msg.to_vec();
        let tag = XChaCha20Poly1305::new(&key)
            .seal_in_place(&nonce, &ad, &mut buf)
            .unwrap();
        assert_eq!(
            tag,
            [
                0xc0, 0x87, 0x59, 0x24, 0xc1, 0xc7, 0x98, 0x79, 0x47, 0xde, 0xaf, 0xd8, 0x78, 0x0a,
                0xcf, 0x49
            ]
        );
        assert_eq!(&buf[..8], &[0xbd, 0x6d, 0x17, 0x9d, 0x3e, 0x83, 0xd4, 0x3b]);
    }

    #[test]
    fn any_flip_fails_and_zeroizes() {
        let ours = XChaCha20Poly1305::new(&[5; 32]);
        let nonce = [6; 24];
        for len in [0usize, 10, 64, 2000, 5000] {
            let msg: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let mut ct = msg.clone();
            let tag = ours.seal_in_place(&nonce, b"ad", &mut ct).unwrap();
            for i in (0..len).step_by(len / 7 + 1) {
                let mut bad = ct.clone();
                bad[i] ^= 0x80;
                assert!(ours
                    .open_shifted(&nonce, b"ad", &mut bad, 0, len, &tag)
                    .is_err());
                assert!(bad.iter().all(|&b| b == 0));
            }
            let mut bad_tag = tag;
            bad_tag[15] ^= 1;
            let mut b = ct.clone();
            assert!(ours
                .open_shifted(&nonce, b"ad", &mut b, 0, len, &bad_tag)
                .is_err());
            let mut b = ct.clone();
            assert!(ours
                .open_shifted(&nonce, b"aD", &mut b, 0, len, &tag)
                .is_err());
            let mut b = ct.clone();
            assert!(ours
                .open_shifted(&[7; 24], b"ad", &mut b, 0, len, &tag)
                .is_err());
            let mut b = ct.clone();
            assert!(ours
                .open_shifted(&nonce, b"ad", &mut b, 1, len, &tag)
                .is_err());
        }
    }
}
