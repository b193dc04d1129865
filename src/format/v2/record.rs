//! The format 2 record (docs/FORMAT.md, "Records"): its prefix, its associated data, sealing
//! and opening, and Padmé padding of the sealed plaintext.

use zeroize::Zeroize;
#[cfg(any(test, feature = "fuzzing"))]
use zeroize::Zeroizing;

use super::super::{array_at, u32_at, SealError, NONCE_LEN, STORE_ID_LEN, TAG_LEN};
use super::{u64_at, VERSION};
use crate::aead::{Cipher, OpenFailed, SealFailed};

/// Record layout: format (1) | key id (4) | version (8) | nonce (24) | ciphertext | tag (16).
pub(crate) const RECORD_PREFIX_LEN: usize = 1 + 4 + 8 + NONCE_LEN;
/// Bytes a v2 record adds to its sealed plaintext.
pub(crate) const RECORD_OVERHEAD: usize = RECORD_PREFIX_LEN + TAG_LEN;

/// A buffer that holds plaintext until it is taken out: zeroized on drop unless emptied (so
/// moving the value along costs no wipe of an empty buffer, as `Zeroizing` would make).
pub(crate) struct Plaintext(Vec<u8>);

impl Plaintext {
    pub(crate) fn new(v: Vec<u8>) -> Self {
        Plaintext(v)
    }

    /// Takes the buffer out, leaving nothing to wipe.
    pub(crate) fn take(&mut self) -> Vec<u8> {
        core::mem::take(&mut self.0)
    }
}

impl core::ops::Deref for Plaintext {
    type Target = Vec<u8>;
    fn deref(&self) -> &Vec<u8> {
        &self.0
    }
}

impl core::ops::DerefMut for Plaintext {
    fn deref_mut(&mut self) -> &mut Vec<u8> {
        &mut self.0
    }
}

impl Drop for Plaintext {
    fn drop(&mut self) {
        if self.0.capacity() != 0 {
            // In bulk (`Vec`'s own zeroization writes its elements byte by byte).
            self.0.as_mut_slice().zeroize();
            self.0.spare_capacity_mut().zeroize();
        }
    }
}

const RECORD_AD_LABEL: &[u8] = b"encrypted-kvstore v2 record";
const MAX_NAME_LEN: usize = crate::names::KVSTORE_NAMESPACE_KEY_MAX_LEN;
const AD_MAX: usize = RECORD_AD_LABEL.len() + 1 + 4 + 8 + STORE_ID_LEN + 3 * (4 + MAX_NAME_LEN);

/// Padmé (Nikitin et al., PETS 2019) of `x`: the bucket a sealed plaintext of `x` bytes is
/// padded to. `None` when the bucket would not fit in a `u64`.
pub(crate) fn padme(x: u64) -> Option<u64> {
    if x < 2 {
        return Some(x);
    }
    let e = 63 - u64::from(x.leading_zeros()); // floor(log2 x)
    let s = 64 - u64::from(e.leading_zeros()); // floor(log2 e) + 1
    let mask = (1u64 << (e - s)) - 1;
    Some(x.checked_add(mask)? & !mask)
}

/// Length of the length field that starts a padded plaintext.
const PAD_LEN_FIELD: usize = 8;

/// The length of the sealed plaintext of a value of `len` bytes: the value itself, or with
/// `padded` its padded encoding (`padme(8 + len)`).
fn sealed_len(len: usize, padded: bool) -> Result<usize, SealError> {
    if !padded {
        return Ok(len);
    }
    let len = u64::try_from(len).map_err(|_| SealError::TooLarge)?;
    let x = len.checked_add(8).ok_or(SealError::TooLarge)?;
    usize::try_from(padme(x).ok_or(SealError::TooLarge)?).map_err(|_| SealError::TooLarge)
}

/// The padded plaintext of `value`: `len (8) || value || zeros` of length `padme(8 + len)`.
#[cfg(any(test, feature = "fuzzing"))]
pub(crate) fn pad(value: &[u8]) -> Result<Zeroizing<Vec<u8>>, SealError> {
    let total = sealed_len(value.len(), true)?;
    let len = u64::try_from(value.len()).map_err(|_| SealError::TooLarge)?;
    let mut p = Vec::new();
    p.try_reserve_exact(total)
        .map_err(|_| SealError::TooLarge)?;
    p.extend_from_slice(&len.to_le_bytes());
    p.extend_from_slice(value);
    p.resize(total, 0);
    Ok(Zeroizing::new(p))
}

/// The length of the value inside the padded plaintext `p`, if `p` is one this library
/// writes: `len <= len(p) - 8`, `len(p) = padme(8 + len)`, and every byte after the value zero.
fn padded_value_len(p: &[u8]) -> Option<usize> {
    let len = u64::from_le_bytes(array_at(p, 0)?);
    let total = u64::try_from(p.len()).ok()?;
    if len > total.checked_sub(8)? || padme(len.checked_add(8)?)? != total {
        return None;
    }
    let len = usize::try_from(len).ok()?;
    if p.get(PAD_LEN_FIELD + len..)?.iter().any(|&b| b != 0) {
        return None;
    }
    Some(len)
}

/// Checks and strips the padding of an opened plaintext, in place. `None` for anything this
/// library never writes.
#[cfg(any(test, feature = "fuzzing"))]
pub(crate) fn unpad(mut p: Vec<u8>) -> Option<Vec<u8>> {
    match padded_value_len(&p) {
        Some(len) => {
            p.copy_within(PAD_LEN_FIELD..PAD_LEN_FIELD + len, 0);
            p.truncate(len);
            Some(p)
        }
        None => {
            p.as_mut_slice().zeroize();
            None
        }
    }
}

/// The associated data of a v2 record, built on the stack.
pub(crate) struct RecordAd {
    buf: [u8; AD_MAX],
    len: usize,
}

impl RecordAd {
    /// `None` when a name is longer than LDK allows (callers check names first).
    pub(crate) fn new(
        store_id: &[u8; STORE_ID_LEN],
        key_id: u32,
        version: u64,
        primary: &str,
        secondary: &str,
        key: &str,
    ) -> Option<RecordAd> {
        let mut ad = RecordAd {
            buf: [0u8; AD_MAX],
            len: 0,
        };
        ad.push(RECORD_AD_LABEL)?;
        ad.push(&[VERSION])?;
        ad.push(&key_id.to_le_bytes())?;
        ad.push(&version.to_le_bytes())?;
        ad.push(store_id)?;
        for name in [primary, secondary, key] {
            if name.len() > MAX_NAME_LEN {
                return None;
            }
            ad.push(&u32::try_from(name.len()).ok()?.to_le_bytes())?;
            ad.push(name.as_bytes())?;
        }
        Some(ad)
    }

    fn push(&mut self, bytes: &[u8]) -> Option<()> {
        let end = self.len.checked_add(bytes.len())?;
        self.buf.get_mut(self.len..end)?.copy_from_slice(bytes);
        self.len = end;
        Some(())
    }

    pub(super) fn as_bytes(&self) -> Option<&[u8]> {
        self.buf.get(..self.len)
    }
}

/// Seals `value` (padded first when `padded`) into a v2 record, copying the value once: in
/// the caller's buffer when its capacity holds the record (the value is moved up past the
/// prefix, then encrypted over itself, so no plaintext is left behind); otherwise, unpadded,
/// encrypted over itself in the caller's buffer and the ciphertext copied into a new buffer of
/// the record's size (nothing to wipe); padded, copied into the new buffer with its padding and
/// encrypted there, and the caller's buffer zeroized.
pub(crate) fn seal_record(
    cipher: &Cipher,
    key_id: u32,
    version: u64,
    nonce: &[u8; NONCE_LEN],
    ad: &RecordAd,
    value: Vec<u8>,
    padded: bool,
) -> Result<Vec<u8>, SealError> {
    // Zeroized on every early return.
    let mut value = Plaintext::new(value);
    let ad = ad.as_bytes().ok_or(SealError::Failed)?;
    let n = value.len();
    let body_len = sealed_len(n, padded)?;
    let total = body_len
        .checked_add(RECORD_OVERHEAD)
        .ok_or(SealError::TooLarge)?;
    // Where the value starts in the record: after the prefix and, padded, its length.
    let at = RECORD_PREFIX_LEN + if padded { PAD_LEN_FIELD } else { 0 };
    if !padded && value.capacity() < total {
        let mut rec = Vec::new();
        rec.try_reserve_exact(total)
            .map_err(|_| SealError::TooLarge)?;
        let tag = cipher
            .seal_in_place(nonce, ad, value.as_mut_slice())
            .map_err(|SealFailed| SealError::Failed)?;
        // Sealed: the caller's buffer holds only ciphertext now.
        let ct = value.take();
        rec.push(VERSION);
        rec.extend_from_slice(&key_id.to_le_bytes());
        rec.extend_from_slice(&version.to_le_bytes());
        rec.extend_from_slice(nonce);
        rec.extend_from_slice(&ct);
        rec.extend_from_slice(&tag);
        if rec.len() != total {
            return Err(SealError::Failed);
        }
        return Ok(rec);
    }
    let rec = if value.capacity() >= total {
        let mut rec = value.take();
        // Within the capacity: no reallocation. Every byte from `n` on is zero, and the value
        // moved to `at > 0` leaves the bytes after it (the padding) zero.
        rec.resize(total, 0);
        rec.copy_within(..n, at);
        rec
    } else {
        let mut rec = Vec::new();
        rec.try_reserve_exact(total)
            .map_err(|_| SealError::TooLarge)?;
        rec.resize(at, 0);
        rec.extend_from_slice(&value);
        rec.resize(total, 0);
        // Zeroized and freed now, not when `value` drops (it is left empty).
        let mut value = value.take();
        value.as_mut_slice().zeroize();
        drop(value);
        rec
    };
    // Holds the plaintext until it is sealed: zeroized on every early return below.
    let mut rec = Plaintext::new(rec);
    let put = |rec: &mut [u8], at: usize, bytes: &[u8]| {
        rec.get_mut(at..at + bytes.len())
            .map(|dst| dst.copy_from_slice(bytes))
            .ok_or(SealError::Failed)
    };
    put(&mut rec, 0, &[VERSION])?;
    put(&mut rec, 1, &key_id.to_le_bytes())?;
    put(&mut rec, 5, &version.to_le_bytes())?;
    put(&mut rec, 13, nonce)?;
    if padded {
        let len = u64::try_from(n).map_err(|_| SealError::TooLarge)?;
        put(&mut rec, RECORD_PREFIX_LEN, &len.to_le_bytes())?;
    }
    let (body, tag) = rec
        .get_mut(RECORD_PREFIX_LEN..)
        .ok_or(SealError::Failed)?
        .split_at_mut(body_len);
    match cipher.seal_in_place(nonce, ad, body) {
        Ok(t) => {
            tag.copy_from_slice(&t);
            // Sealed: nothing secret is left to wipe.
            Ok(rec.take())
        }
        Err(SealFailed) => Err(SealError::Failed),
    }
}

/// The public prefix of a v2 record: key id and version (not yet authenticated).
pub(crate) fn record_prefix(rec: &[u8]) -> Option<(u32, u64)> {
    if rec.len() < RECORD_OVERHEAD || rec.first() != Some(&VERSION) {
        return None;
    }
    Some((u32_at(rec, 1)?, u64_at(rec, 5)?))
}

/// Opens a v2 record in place and returns its value, unpadded when `padded` (the caller took
/// key id and version from [`record_prefix`] and built `ad` with them). The value is moved to
/// the front of the buffer once: by ring in the pass that decrypts it (unpadded), or after
/// opening in place. The buffer is zeroized on failure, a bad padding included.
pub(crate) fn open_record(
    cipher: &Cipher,
    ad: &RecordAd,
    mut rec: Vec<u8>,
    padded: bool,
) -> Result<Vec<u8>, OpenFailed> {
    let ad = ad.as_bytes().ok_or(OpenFailed)?;
    if rec.len() < RECORD_OVERHEAD {
        rec.as_mut_slice().zeroize();
        return Err(OpenFailed);
    }
    let nonce: [u8; NONCE_LEN] = array_at(&rec, 13).ok_or(OpenFailed)?;
    if !padded {
        let len = cipher.open_shifted(&nonce, ad, &mut rec, RECORD_PREFIX_LEN)?;
        rec.truncate(len);
        return Ok(rec);
    }
    let tag_at = rec.len() - TAG_LEN;
    let tag: [u8; TAG_LEN] = array_at(&rec, tag_at).ok_or(OpenFailed)?;
    let body = rec.get_mut(RECORD_PREFIX_LEN..tag_at).ok_or(OpenFailed)?;
    cipher.open_in_place(&nonce, ad, body, &tag)?;
    let Some(len) = padded_value_len(body) else {
        body.zeroize();
        return Err(OpenFailed);
    };
    let at = RECORD_PREFIX_LEN + PAD_LEN_FIELD;
    rec.copy_within(at..at + len, 0);
    rec.truncate(len);
    Ok(rec)
}
