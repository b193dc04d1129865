//! The bare AEAD backend of this build, for the benches of this crate (not included by
//! `ldk-node-tests`, which has no `ring` feature). Each bench uses the part it needs.
#![allow(dead_code)]

/// The AEAD backend this build's `EncryptedStore` uses (the `chacha20poly1305` crate, or ring
/// with the `ring` feature), called bare: sealing and opening in place, no store, no record.
/// It is the reference the record path is held to.
pub struct Bare {
    #[cfg(not(feature = "ring"))]
    cipher: chacha20poly1305::XChaCha20Poly1305,
    #[cfg(feature = "ring")]
    key: [u8; 32],
}

impl Bare {
    /// Name of the backend, for the report.
    pub const NAME: &'static str = if cfg!(feature = "ring") {
        "ring"
    } else {
        "chacha20poly1305"
    };

    pub fn new(key: [u8; 32]) -> Bare {
        #[cfg(not(feature = "ring"))]
        {
            use chacha20poly1305::aead::KeyInit;
            Bare {
                cipher: chacha20poly1305::XChaCha20Poly1305::new(&key.into()),
            }
        }
        #[cfg(feature = "ring")]
        Bare { key }
    }

    #[cfg(feature = "ring")]
    fn ring_key(&self, nonce: &[u8; 24]) -> (ring::aead::LessSafeKey, ring::aead::Nonce) {
        let sub = chacha20::hchacha::<chacha20::R20>(
            (&self.key).into(),
            (&nonce[..16]).try_into().unwrap(),
        );
        let key = ring::aead::UnboundKey::new(&ring::aead::CHACHA20_POLY1305, &sub).unwrap();
        let mut n = [0u8; 12];
        n[4..].copy_from_slice(&nonce[16..]);
        (
            ring::aead::LessSafeKey::new(key),
            ring::aead::Nonce::assume_unique_for_key(n),
        )
    }

    /// Encrypts `buf` in place; returns the tag.
    pub fn seal(&self, nonce: &[u8; 24], ad: &[u8], buf: &mut [u8]) -> [u8; 16] {
        #[cfg(not(feature = "ring"))]
        {
            use chacha20poly1305::aead::AeadInOut;
            self.cipher
                .encrypt_inout_detached(&(*nonce).into(), ad, buf.into())
                .unwrap()
                .into()
        }
        #[cfg(feature = "ring")]
        {
            let (key, n) = self.ring_key(nonce);
            let tag = key
                .seal_in_place_separate_tag(n, ring::aead::Aad::from(ad), buf)
                .unwrap();
            tag.as_ref().try_into().unwrap()
        }
    }

    /// Decrypts `buf` in place; panics unless `tag` authenticates it.
    pub fn open(&self, nonce: &[u8; 24], ad: &[u8], buf: &mut [u8], tag: &[u8; 16]) {
        #[cfg(not(feature = "ring"))]
        {
            use chacha20poly1305::aead::AeadInOut;
            self.cipher
                .decrypt_inout_detached(&(*nonce).into(), ad, buf.into(), &(*tag).into())
                .unwrap()
        }
        #[cfg(feature = "ring")]
        {
            let (key, n) = self.ring_key(nonce);
            key.open_in_place_separate_tag(
                n,
                ring::aead::Aad::from(ad),
                ring::aead::Tag::from(*tag),
                buf,
                0..,
            )
            .unwrap();
        }
    }
}
