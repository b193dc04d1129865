//! What unlocks a store: the credential (a passphrase or a caller-held raw key), the key
//! encryption key derived from it, and the credential block of a header sealed with it.

use core::fmt;

use blake2::digest::consts::U32;
use blake2::digest::{KeyInit, Mac};
use blake2::Blake2bMac;
use zeroize::Zeroizing;

use crate::error::OpenError;
use crate::format::v2::{self as f2, HeaderV2, Secrets, State};
use crate::format::{self, Protection, NONCE_LEN, SALT_LEN, STORE_ID_LEN};
use crate::kdf::{self, DeriveError, KdfParams};
use crate::rng::RandomSource;

/// A 32-byte key held by the caller (for example derived from the node's seed), used instead of
/// a passphrase. It is zeroized on drop and its `Debug` output shows no key bytes.
///
/// The key must be uniformly random (256 bits of entropy): it is not stretched.
#[derive(Clone)]
pub struct RawKey(Zeroizing<[u8; 32]>);

impl RawKey {
    /// Takes a 32-byte key.
    pub fn from_bytes(bytes: [u8; 32]) -> RawKey {
        RawKey(Zeroizing::new(bytes))
    }

    /// Copies a key from a slice; `None` unless it is exactly 32 bytes.
    pub fn from_slice(bytes: &[u8]) -> Option<RawKey> {
        let arr: [u8; 32] = bytes.try_into().ok()?;
        Some(RawKey::from_bytes(arr))
    }

    /// Derives a storage key from a node seed (16 to 64 bytes; LDK's `KeysManager` seed is 32)
    /// with keyed BLAKE2b-256 under a fixed label, so the seed itself is never used as the
    /// storage key. `None` when the seed length is outside 16..=64.
    pub fn derive_from_seed(seed: &[u8]) -> Option<RawKey> {
        if !(16..=64).contains(&seed.len()) {
            return None;
        }
        let mut mac = <Blake2bMac<U32> as KeyInit>::new_from_slice(seed).ok()?;
        Mac::update(&mut mac, b"encrypted-kvstore v1 storage key from node seed");
        let mut out = Zeroizing::new([0u8; 32]);
        out.copy_from_slice(&mac.finalize().into_bytes());
        Some(RawKey(out))
    }

    pub(crate) fn bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for RawKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RawKey(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_key_and_seed_derivation_is_stable() {
        let k = RawKey::from_bytes([0xAB; 32]);
        let d = format!("{k:?}");
        assert!(!d.to_lowercase().contains("ab"), "{d}");
        assert!(RawKey::from_slice(&[0; 31]).is_none());
        assert!(RawKey::derive_from_seed(&[0; 15]).is_none());
        let a = RawKey::derive_from_seed(&[1; 32]).unwrap();
        let b = RawKey::derive_from_seed(&[1; 32]).unwrap();
        let c = RawKey::derive_from_seed(&[2; 32]).unwrap();
        assert_eq!(a.bytes(), b.bytes());
        assert_ne!(a.bytes(), c.bytes());
        assert_ne!(a.bytes(), &[1; 32]);
    }

    #[test]
    fn from_slice_keeps_the_bytes_and_debug_is_only_the_type() {
        let k = RawKey::from_slice(&[7; 32]).unwrap();
        assert_eq!(k.bytes(), &[7; 32]);
        assert!(RawKey::from_slice(&[7; 33]).is_none());
        assert_eq!(format!("{k:?}"), "RawKey(<redacted>)");
    }
}

/// What unlocks a store.
#[derive(Clone, Copy)]
pub(crate) enum Credential<'a> {
    Passphrase(&'a [u8]),
    Key(&'a RawKey),
}

fn fill<const N: usize>(rng: &dyn RandomSource) -> Result<[u8; N], OpenError> {
    let mut b = [0u8; N];
    rng.fill(&mut b).map_err(OpenError::Random)?;
    Ok(b)
}

/// The key encryption key of `protection` for `cred` and `salt`.
pub(crate) fn derive_kek(
    protection: &Protection,
    salt: &[u8; SALT_LEN],
    cred: Credential<'_>,
) -> Result<Zeroizing<[u8; 32]>, OpenError> {
    match (protection, cred) {
        (Protection::Passphrase(params), Credential::Passphrase(p)) => {
            kdf::argon2id(params, p, &format::passphrase_salt(salt)).map_err(|e| match e {
                DeriveError::OutOfMemory => OpenError::OutOfMemory,
                DeriveError::Argon2 => OpenError::KdfParamsOutOfBounds,
            })
        }
        (Protection::RawKey, Credential::Key(k)) => {
            format::raw_kek(k.bytes(), salt).map_err(|_| OpenError::KeyWrapFailed)
        }
        (Protection::Passphrase(_), Credential::Key(_)) => Err(OpenError::PassphraseRequired),
        (Protection::RawKey, Credential::Passphrase(_)) => Err(OpenError::RawKeyRequired),
    }
}

/// The protection a new header gets for `cred`.
pub(crate) fn protection(
    cred: Credential<'_>,
    params: Option<KdfParams>,
) -> Result<Protection, OpenError> {
    let protection = match (cred, params) {
        (Credential::Passphrase(p), Some(params)) => {
            if p.is_empty() {
                return Err(OpenError::EmptyPassphrase);
            }
            Protection::Passphrase(params)
        }
        (Credential::Passphrase(_), None) => Protection::Passphrase(KdfParams::default()),
        (Credential::Key(_), _) => Protection::RawKey,
    };
    Ok(protection)
}

/// A header with a new credential block for `cred` (new salt, wrap nonce and hk) over
/// `state` and `secrets`.
pub(crate) fn seal_credential(
    rng: &dyn RandomSource,
    store_id: [u8; STORE_ID_LEN],
    protection: Protection,
    cred: Credential<'_>,
    state: State,
    secrets: &Secrets,
) -> Result<(HeaderV2, Zeroizing<[u8; 32]>), OpenError> {
    let salt = fill::<SALT_LEN>(rng)?;
    let wrap_nonce = fill::<NONCE_LEN>(rng)?;
    let mut hk = Zeroizing::new([0u8; f2::HK_LEN]);
    rng.fill(&mut hk[..]).map_err(OpenError::Random)?;
    let secrets_nonce = fill::<NONCE_LEN>(rng)?;
    let kek = derive_kek(&protection, &salt, cred)?;
    let h = HeaderV2::seal(
        protection,
        salt,
        store_id,
        wrap_nonce,
        &kek,
        &hk,
        state,
        secrets_nonce,
        secrets,
    )
    .map_err(|_| OpenError::KeyWrapFailed)?;
    Ok((h, hk))
}
