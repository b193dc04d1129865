//! XChaCha20-Poly1305 on ring's ChaCha20-Poly1305 (feature `ring`).
//!
//! XChaCha20-Poly1305 (draft-irtf-cfrg-xchacha, section 2.3) is ChaCha20-Poly1305 (RFC 8439)
//! under the subkey `HChaCha20(key, nonce[0..16])` with the 12-byte nonce
//! `0x00000000 || nonce[16..24]`. The subkey comes from the `chacha20` crate's `hchacha`; the
//! AEAD itself is ring's (BoringSSL's assembly with run-time CPU dispatch). Nothing here
//! computes a cipher or a MAC.

use chacha20::{hchacha, R20};
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, CHACHA20_POLY1305};
use zeroize::{Zeroize, Zeroizing};

use super::{OpenFailed, SealFailed, KEY_LEN, NONCE_LEN, TAG_LEN};

/// The store's XChaCha20-Poly1305 key; each message gets its own ring key (the subkey).
pub(crate) struct Key(Zeroizing<[u8; KEY_LEN]>);

/// Error while preparing ring's key (a wrong key length for ring: cannot happen with 32
/// bytes, and is an error all the same).
struct NoKey;

impl Key {
    pub(crate) fn new(key: &[u8; KEY_LEN]) -> Key {
        Key(Zeroizing::new(*key))
    }

    /// ring's ChaCha20-Poly1305 key and nonce for the XChaCha20 `nonce`.
    fn subkey(&self, nonce: &[u8; NONCE_LEN]) -> Result<(LessSafeKey, Nonce), NoKey> {
        let (head, tail) = nonce.split_at(16);
        let mut sub = hchacha::<R20>((&*self.0).into(), head.try_into().map_err(|_| NoKey)?);
        let unbound = UnboundKey::new(&CHACHA20_POLY1305, sub.as_slice());
        sub.as_mut_slice().zeroize();
        let mut n = [0u8; 12];
        n.get_mut(4..).ok_or(NoKey)?.copy_from_slice(tail);
        Ok((
            LessSafeKey::new(unbound.map_err(|_| NoKey)?),
            Nonce::assume_unique_for_key(n),
        ))
    }

    pub(crate) fn seal_in_place(
        &self,
        nonce: &[u8; NONCE_LEN],
        ad: &[u8],
        buf: &mut [u8],
    ) -> Result<[u8; TAG_LEN], SealFailed> {
        let (key, n) = self.subkey(nonce).map_err(|_| SealFailed)?;
        let tag = key
            .seal_in_place_separate_tag(n, Aad::from(ad), buf)
            .map_err(|_| SealFailed)?;
        tag.as_ref().try_into().map_err(|_| SealFailed)
    }

    /// ring leaves `buf` unspecified on failure; the caller zeroizes it.
    pub(crate) fn open_in_place(
        &self,
        nonce: &[u8; NONCE_LEN],
        ad: &[u8],
        buf: &mut [u8],
        tag: &[u8; TAG_LEN],
    ) -> Result<(), OpenFailed> {
        let (key, n) = self.subkey(nonce).map_err(|_| OpenFailed)?;
        let tag = ring::aead::Tag::from(*tag);
        key.open_in_place_separate_tag(n, Aad::from(ad), tag, buf, 0..)
            .map(|_| ())
            .map_err(|_| OpenFailed)
    }

    /// ring decrypts `buf[shift..]` (ciphertext and tag) to the front of `buf` in one pass.
    pub(crate) fn open_shifted(
        &self,
        nonce: &[u8; NONCE_LEN],
        ad: &[u8],
        buf: &mut [u8],
        shift: usize,
    ) -> Result<usize, OpenFailed> {
        if buf.len() < shift.checked_add(TAG_LEN).ok_or(OpenFailed)? {
            return Err(OpenFailed);
        }
        let (key, n) = self.subkey(nonce).map_err(|_| OpenFailed)?;
        key.open_within(n, Aad::from(ad), buf, shift..)
            .map(|plaintext| plaintext.len())
            .map_err(|_| OpenFailed)
    }
}
