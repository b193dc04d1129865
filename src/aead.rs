//! The AEAD that seals records and wraps data keys: XChaCha20-Poly1305
//! (draft-irtf-cfrg-xchacha), always from a vetted implementation called through its own API.
//!
//! Two backends give byte-for-byte the same output (tests below compare them; the test vectors
//! in `tests/vectors/` pass with either):
//!
//! - [`rustcrypto`]: the `chacha20poly1305` crate's `XChaCha20Poly1305` (pure Rust; the default);
//! - `ring` (the module of feature `ring`): ring's `CHACHA20_POLY1305` (BoringSSL's assembly, run-time CPU
//!   dispatch) under the HChaCha20 subkey computed by the `chacha20` crate, with the nonce
//!   `0x00000000 || nonce[16..24]`: the XChaCha20-Poly1305 construction of the draft and of
//!   libsodium.
//!
//! Both encrypt and decrypt in place. On a failed open the buffer is zeroized before the error
//! is returned, whatever the backend leaves in it (ring documents it as unspecified).

use zeroize::Zeroize;

#[cfg(feature = "ring")]
mod ring;
mod rustcrypto;

/// Length of an XChaCha20-Poly1305 key.
pub(crate) const KEY_LEN: usize = 32;
/// Length of an XChaCha20-Poly1305 nonce.
pub(crate) const NONCE_LEN: usize = 24;
/// Length of a Poly1305 tag.
pub(crate) const TAG_LEN: usize = 16;

/// Sealing failed: the backend refused the input (a message longer than ChaCha20's block
/// counter allows). Nothing was produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SealFailed;

/// Opening failed: the tag does not authenticate the ciphertext and associated data under this
/// key and nonce (or the backend refused the input). The buffer has been zeroized.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct OpenFailed;

/// Which vetted implementation does the work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Backend {
    /// The `chacha20poly1305` crate. (With `ring` on, only the tests select it, to compare
    /// the two backends.)
    #[cfg_attr(feature = "ring", allow(dead_code))]
    RustCrypto,
    /// ring's ChaCha20-Poly1305 under an HChaCha20 subkey.
    #[cfg(feature = "ring")]
    Ring,
}

impl Backend {
    /// The backend this build uses: ring when the `ring` feature is on, else the RustCrypto
    /// crate.
    pub(crate) const DEFAULT: Backend = {
        #[cfg(feature = "ring")]
        {
            Backend::Ring
        }
        #[cfg(not(feature = "ring"))]
        {
            Backend::RustCrypto
        }
    };
}

/// An XChaCha20-Poly1305 key bound to one backend.
pub(crate) enum Cipher {
    RustCrypto(rustcrypto::Key),
    #[cfg(feature = "ring")]
    Ring(ring::Key),
}

impl Cipher {
    /// `key` under this build's default backend.
    pub(crate) fn new(key: &[u8; KEY_LEN]) -> Cipher {
        Cipher::with_backend(Backend::DEFAULT, key)
    }

    /// `key` under `backend`.
    pub(crate) fn with_backend(backend: Backend, key: &[u8; KEY_LEN]) -> Cipher {
        match backend {
            Backend::RustCrypto => Cipher::RustCrypto(rustcrypto::Key::new(key)),
            #[cfg(feature = "ring")]
            Backend::Ring => Cipher::Ring(ring::Key::new(key)),
        }
    }

    /// Encrypts `buf` in place and returns the tag.
    pub(crate) fn seal_in_place(
        &self,
        nonce: &[u8; NONCE_LEN],
        ad: &[u8],
        buf: &mut [u8],
    ) -> Result<[u8; TAG_LEN], SealFailed> {
        match self {
            Cipher::RustCrypto(k) => k.seal_in_place(nonce, ad, buf),
            #[cfg(feature = "ring")]
            Cipher::Ring(k) => k.seal_in_place(nonce, ad, buf),
        }
    }

    /// Decrypts `buf` in place if `tag` authenticates it; otherwise zeroizes `buf` and fails.
    pub(crate) fn open_in_place(
        &self,
        nonce: &[u8; NONCE_LEN],
        ad: &[u8],
        buf: &mut [u8],
        tag: &[u8; TAG_LEN],
    ) -> Result<(), OpenFailed> {
        let opened = match self {
            Cipher::RustCrypto(k) => k.open_in_place(nonce, ad, buf, tag),
            #[cfg(feature = "ring")]
            Cipher::Ring(k) => k.open_in_place(nonce, ad, buf, tag),
        };
        if opened.is_err() {
            buf.zeroize();
        }
        opened
    }

    /// Opens `buf = gap (shift bytes) || ciphertext || tag` and leaves the plaintext at the
    /// front of `buf`; returns its length. ring decrypts to the front in the same pass
    /// (`open_within`); the crate opens in place and the plaintext is then moved `shift` bytes
    /// down. On failure `buf` is zeroized.
    pub(crate) fn open_shifted(
        &self,
        nonce: &[u8; NONCE_LEN],
        ad: &[u8],
        buf: &mut [u8],
        shift: usize,
    ) -> Result<usize, OpenFailed> {
        let opened = match self {
            Cipher::RustCrypto(k) => k.open_shifted(nonce, ad, buf, shift),
            #[cfg(feature = "ring")]
            Cipher::Ring(k) => k.open_shifted(nonce, ad, buf, shift),
        };
        if opened.is_err() {
            buf.zeroize();
        }
        opened
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use super::*;

    fn backends() -> Vec<Backend> {
        vec![
            Backend::RustCrypto,
            #[cfg(feature = "ring")]
            Backend::Ring,
        ]
    }

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// draft-irtf-cfrg-xchacha-03, appendix A.3.1: the published XChaCha20-Poly1305 example.
    #[test]
    fn xchacha_draft_vector_with_every_backend() {
        let key: [u8; 32] = hex("808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f")
            .try_into()
            .unwrap();
        let nonce: [u8; 24] = hex("404142434445464748494a4b4c4d4e4f5051525354555657")
            .try_into()
            .unwrap();
        let ad = hex("50515253c0c1c2c3c4c5c6c7");
        let msg = b"Ladies and Gentlemen of the class of '99: If I could offer you only one tip \
                    for the future, sunscreen would be it.";
        // The draft's ciphertext starts with these bytes; the full output is compared across
        // backends below, and with the crate in the record vectors.
        let ct_start = hex("bd6d179d3e83d43b");
        let tag = hex("c0875924c1c7987947deafd8780acf49");
        for backend in backends() {
            let c = Cipher::with_backend(backend, &key);
            let mut buf = msg.to_vec();
            let t = c.seal_in_place(&nonce, &ad, &mut buf).unwrap();
            assert_eq!(buf[..8], ct_start[..], "{backend:?}");
            assert_eq!(t[..], tag[..], "{backend:?}");
            c.open_in_place(&nonce, &ad, &mut buf, &t).unwrap();
            assert_eq!(buf, msg, "{backend:?}");
        }
    }

    /// Deterministic bytes for the comparisons below (SplitMix64).
    fn fill(seed: &mut u64, out: &mut [u8]) {
        for b in out {
            *seed = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = *seed;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            *b = (z ^ (z >> 31)) as u8;
        }
    }

    /// Every backend gives the same ciphertext and tag on many lengths (around the ChaCha20
    /// block and Poly1305 block boundaries, and large), keys, nonces and associated data.
    #[test]
    fn backends_agree_byte_for_byte() {
        let mut seed = 7u64;
        let lens = [
            0usize, 1, 15, 16, 17, 63, 64, 65, 127, 128, 255, 256, 1000, 1024, 4095, 4096, 4097,
            65_535, 65_536, 100_003,
        ];
        for (i, &len) in lens.iter().enumerate() {
            for ad_len in [0usize, 1, 16, 17, 71, 433] {
                let (mut key, mut nonce) = ([0u8; 32], [0u8; 24]);
                fill(&mut seed, &mut key);
                fill(&mut seed, &mut nonce);
                let mut ad = vec![0u8; ad_len];
                fill(&mut seed, &mut ad);
                let mut msg = vec![0u8; len];
                fill(&mut seed, &mut msg);
                let mut outputs = Vec::new();
                for backend in backends() {
                    let c = Cipher::with_backend(backend, &key);
                    let mut buf = msg.clone();
                    let tag = c.seal_in_place(&nonce, &ad, &mut buf).unwrap();
                    outputs.push((buf.clone(), tag));
                    // Each backend opens what each other one sealed.
                    for other in backends() {
                        let mut back = buf.clone();
                        Cipher::with_backend(other, &key)
                            .open_in_place(&nonce, &ad, &mut back, &tag)
                            .unwrap();
                        assert_eq!(back, msg, "len {len} ad {ad_len} case {i}");
                    }
                }
                assert!(
                    outputs.windows(2).all(|w| w[0] == w[1]),
                    "backends differ at len {len}, ad {ad_len}"
                );
            }
        }
    }

    /// `open_shifted` gives the plaintext at the front, for every backend and shift (ring
    /// decrypts across the overlap in one pass), and zeroizes the buffer on failure.
    #[test]
    fn open_shifted_moves_the_plaintext_to_the_front() {
        let mut seed = 3u64;
        for backend in backends() {
            for len in [0usize, 1, 63, 64, 65, 1000, 4097, 70_000] {
                for shift in [0usize, 1, 29, 64] {
                    let mut key = [0u8; 32];
                    fill(&mut seed, &mut key);
                    let c = Cipher::with_backend(backend, &key);
                    let mut msg = vec![0u8; len];
                    fill(&mut seed, &mut msg);
                    let nonce = [shift as u8; 24];
                    let mut ct = msg.clone();
                    let tag = c.seal_in_place(&nonce, b"ad", &mut ct).unwrap();
                    let mut buf = vec![0xEEu8; shift];
                    buf.extend_from_slice(&ct);
                    buf.extend_from_slice(&tag);
                    let mut bad = buf.clone();
                    let n = c.open_shifted(&nonce, b"ad", &mut buf, shift).unwrap();
                    assert_eq!(n, len);
                    assert_eq!(buf[..n], msg[..], "{backend:?} {len} {shift}");
                    let last = bad.len() - 1;
                    bad[last] ^= 1;
                    assert!(c.open_shifted(&nonce, b"ad", &mut bad, shift).is_err());
                    assert!(bad.iter().all(|&b| b == 0));
                }
            }
            // Shorter than a tag, or than the gap and a tag: refused, never a panic.
            let c = Cipher::with_backend(backend, &[1; 32]);
            for (len, shift) in [(0usize, 0usize), (15, 0), (16, 1), (44, 29)] {
                let mut buf = vec![1u8; len];
                assert!(c.open_shifted(&[0; 24], b"", &mut buf, shift).is_err());
            }
        }
    }

    /// Any flipped bit in ciphertext, tag, nonce or associated data fails, and leaves the buffer
    /// zeroized (no unauthenticated plaintext reaches the caller).
    #[test]
    fn any_flip_fails_and_zeroizes() {
        for backend in backends() {
            let c = Cipher::with_backend(backend, &[3u8; 32]);
            let nonce = [5u8; 24];
            let ad = b"associated".to_vec();
            let msg: Vec<u8> = (0..200u8).collect();
            let mut sealed = msg.clone();
            let tag = c.seal_in_place(&nonce, &ad, &mut sealed).unwrap();
            for i in 0..sealed.len() {
                let mut buf = sealed.clone();
                buf[i] ^= 0x01;
                assert_eq!(
                    c.open_in_place(&nonce, &ad, &mut buf, &tag),
                    Err(OpenFailed)
                );
                assert!(buf.iter().all(|&b| b == 0), "{backend:?} flip {i}");
            }
            for i in 0..TAG_LEN {
                let mut t = tag;
                t[i] ^= 0x80;
                let mut buf = sealed.clone();
                assert!(c.open_in_place(&nonce, &ad, &mut buf, &t).is_err());
                assert!(buf.iter().all(|&b| b == 0));
            }
            for i in 0..NONCE_LEN {
                let mut n = nonce;
                n[i] ^= 0x01;
                let mut buf = sealed.clone();
                assert!(c.open_in_place(&n, &ad, &mut buf, &tag).is_err());
            }
            let mut buf = sealed.clone();
            assert!(c
                .open_in_place(&nonce, b"associatee", &mut buf, &tag)
                .is_err());
            let mut buf = sealed.clone();
            assert!(c.open_in_place(&nonce, &[], &mut buf, &tag).is_err());
            let mut buf = sealed.clone();
            c.open_in_place(&nonce, &ad, &mut buf, &tag).unwrap();
            assert_eq!(buf, msg);
        }
    }
}
