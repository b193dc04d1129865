//! XChaCha20-Poly1305 from the `chacha20poly1305` crate, called as its API intends.

use chacha20poly1305::aead::{AeadInOut, KeyInit};
use chacha20poly1305::{Tag, XChaCha20Poly1305, XNonce};

use super::{OpenFailed, SealFailed, KEY_LEN, NONCE_LEN, TAG_LEN};

/// A key of the crate's `XChaCha20Poly1305` (zeroized on drop by the crate's `zeroize`
/// feature).
pub(crate) struct Key(XChaCha20Poly1305);

impl Key {
    pub(crate) fn new(key: &[u8; KEY_LEN]) -> Key {
        Key(XChaCha20Poly1305::new(key.into()))
    }

    pub(crate) fn seal_in_place(
        &self,
        nonce: &[u8; NONCE_LEN],
        ad: &[u8],
        buf: &mut [u8],
    ) -> Result<[u8; TAG_LEN], SealFailed> {
        self.0
            .encrypt_inout_detached(&XNonce::from(*nonce), ad, buf.into())
            .map(Into::into)
            .map_err(|_| SealFailed)
    }

    /// The crate checks the tag before it decrypts; the caller zeroizes `buf` on failure
    /// anyway.
    pub(crate) fn open_in_place(
        &self,
        nonce: &[u8; NONCE_LEN],
        ad: &[u8],
        buf: &mut [u8],
        tag: &[u8; TAG_LEN],
    ) -> Result<(), OpenFailed> {
        self.0
            .decrypt_inout_detached(&XNonce::from(*nonce), ad, buf.into(), &Tag::from(*tag))
            .map_err(|_| OpenFailed)
    }

    /// Opens in place at `buf[shift..]`, then moves the plaintext to the front.
    pub(crate) fn open_shifted(
        &self,
        nonce: &[u8; NONCE_LEN],
        ad: &[u8],
        buf: &mut [u8],
        shift: usize,
    ) -> Result<usize, OpenFailed> {
        let tag_at = buf.len().checked_sub(TAG_LEN).ok_or(OpenFailed)?;
        let (body, tag) = buf.split_at_mut(tag_at);
        let tag: [u8; TAG_LEN] = (&*tag).try_into().map_err(|_| OpenFailed)?;
        let ct = body.get_mut(shift..).ok_or(OpenFailed)?;
        let len = ct.len();
        self.open_in_place(nonce, ad, ct, &tag)?;
        body.copy_within(shift.., 0);
        Ok(len)
    }
}
