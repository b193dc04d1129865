//! What unlocks a store: the credential (a passphrase or a caller-held raw key), the key
//! encryption key derived from it, and the credential block of a header sealed with it.

use core::fmt;

use blake2::digest::consts::U32;
use blake2::digest::{KeyInit, Mac};
use blake2::Blake2bMac;
use zeroize::Zeroizing;

use crate::error::{HeaderError, OpenError};
use crate::format::v2::{self as f2, HeaderV2, Secrets, State};
use crate::format::{self, Protection, NONCE_LEN, SALT_LEN, STORE_ID_LEN};
use crate::kdf::{self, DeriveError, KdfParams};
use crate::rng::{RandomError, RandomSource};

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

/// What unlocks a store, given to every constructor and credential change: a passphrase
/// (stretched with Argon2id) or a caller-held [`RawKey`].
///
/// It borrows the secret and copies nothing; its `Debug` output names the kind only
/// (`Credential::Passphrase`, `Credential::RawKey`), never a byte of it.
///
/// ```
/// use encrypted_kvstore::{Credential, KdfParams, RawKey};
///
/// let pass = Credential::passphrase(b"a long passphrase");
/// let costly = Credential::passphrase_with(b"a long passphrase", KdfParams::default());
/// let key = RawKey::from_bytes([7; 32]);
/// let raw = Credential::raw_key(&key);
/// let same: Credential<'_> = (&key).into();
/// assert_eq!(format!("{raw:?} {same:?}"), "Credential::RawKey Credential::RawKey");
/// assert_eq!(format!("{pass:?} {costly:?}"), "Credential::Passphrase Credential::Passphrase");
/// ```
#[derive(Clone, Copy)]
pub struct Credential<'a>(Cred<'a>);

/// The inside of a [`Credential`].
#[derive(Clone, Copy)]
enum Cred<'a> {
    /// A passphrase, and the Argon2id costs of a header made with it (`None`: the default).
    Passphrase(&'a [u8], Option<KdfParams>),
    Key(&'a RawKey),
}

impl<'a> Credential<'a> {
    /// A passphrase; a header made with it (`create`, a credential change, `rekey`) uses
    /// [`KdfParams::default`].
    pub fn passphrase(passphrase: &'a [u8]) -> Self {
        Credential(Cred::Passphrase(passphrase, None))
    }

    /// A passphrase and the Argon2id costs of any header made with it (ignored by `open`: the
    /// header holds its costs).
    pub fn passphrase_with(passphrase: &'a [u8], params: KdfParams) -> Self {
        Credential(Cred::Passphrase(passphrase, Some(params)))
    }

    /// A caller-held 32-byte key (no KDF cost).
    pub fn raw_key(key: &'a RawKey) -> Self {
        Credential(Cred::Key(key))
    }

    /// A passphrase, not a raw key.
    pub(crate) fn is_passphrase(&self) -> bool {
        matches!(self.0, Cred::Passphrase(..))
    }
}

impl<'a> From<&'a RawKey> for Credential<'a> {
    fn from(key: &'a RawKey) -> Self {
        Credential::raw_key(key)
    }
}

impl fmt::Debug for Credential<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.0 {
            Cred::Passphrase(..) => "Credential::Passphrase",
            Cred::Key(_) => "Credential::RawKey",
        })
    }
}

/// Why a header could not be sealed for a credential; each caller maps it to its own error.
#[derive(Debug)]
pub(crate) enum SealError {
    /// An empty passphrase for a new header.
    EmptyPassphrase,
    /// Argon2id refused the costs.
    KdfParamsOutOfBounds,
    /// The KDF's working memory could not be allocated.
    OutOfMemory,
    /// No random bytes.
    Random(RandomError),
    /// The vetted crates refused to derive or seal (documented as impossible for our sizes).
    Failed,
}

impl From<SealError> for OpenError {
    fn from(e: SealError) -> OpenError {
        match e {
            SealError::EmptyPassphrase => OpenError::EmptyPassphrase,
            SealError::KdfParamsOutOfBounds => OpenError::KdfParamsOutOfBounds,
            SealError::OutOfMemory => OpenError::OutOfMemory,
            SealError::Random(e) => OpenError::Random(e),
            SealError::Failed => OpenError::KeyWrapFailed,
        }
    }
}

impl From<SealError> for HeaderError {
    fn from(e: SealError) -> HeaderError {
        match e {
            SealError::EmptyPassphrase => HeaderError::EmptyPassphrase,
            SealError::KdfParamsOutOfBounds => HeaderError::KdfParamsOutOfBounds,
            SealError::OutOfMemory => HeaderError::OutOfMemory,
            SealError::Random(e) => HeaderError::Random(e),
            SealError::Failed => HeaderError::SealFailed,
        }
    }
}

fn fill<const N: usize>(rng: &dyn RandomSource) -> Result<[u8; N], SealError> {
    let mut b = [0u8; N];
    rng.fill(&mut b).map_err(SealError::Random)?;
    Ok(b)
}

/// The key encryption key of `protection` for `cred` and `salt`.
pub(crate) fn derive_kek(
    protection: &Protection,
    salt: &[u8; SALT_LEN],
    cred: Credential<'_>,
) -> Result<Zeroizing<[u8; 32]>, OpenError> {
    match (protection, cred.0) {
        (Protection::Passphrase(params), Cred::Passphrase(p, _)) => {
            kdf::argon2id(params, p, &format::passphrase_salt(salt)).map_err(|e| match e {
                DeriveError::OutOfMemory => OpenError::OutOfMemory,
                DeriveError::Argon2 => OpenError::KdfParamsOutOfBounds,
            })
        }
        (Protection::RawKey, Cred::Key(k)) => {
            format::raw_kek(k.bytes(), salt).map_err(|_| OpenError::KeyWrapFailed)
        }
        (Protection::Passphrase(_), Cred::Key(_)) => Err(OpenError::PassphraseRequired),
        (Protection::RawKey, Cred::Passphrase(..)) => Err(OpenError::RawKeyRequired),
    }
}

/// The protection a new header gets for `cred`: Argon2id with the credential's costs (the
/// default when it names none), or a raw key. An empty passphrase is refused.
pub(crate) fn protection(cred: Credential<'_>) -> Result<Protection, SealError> {
    match cred.0 {
        Cred::Passphrase(&[], _) => Err(SealError::EmptyPassphrase),
        Cred::Passphrase(_, params) => Ok(Protection::Passphrase(params.unwrap_or_default())),
        Cred::Key(_) => Ok(Protection::RawKey),
    }
}

/// A new credential block before it is sealed into a header: its protection, a new salt and
/// the key encryption key derived from the credential with it. Deriving is the slow part
/// (Argon2id); it needs no state of the store, so callers do it before taking any lock that
/// writes wait for, and seal with [`NewCredential::seal`] under it. Sealing consumes the block:
/// one salt, one header.
pub(crate) struct NewCredential {
    protection: Protection,
    salt: [u8; SALT_LEN],
    kek: Zeroizing<[u8; 32]>,
}

impl NewCredential {
    /// Draws a salt and derives the key encryption key of `protection` for `cred`.
    pub(crate) fn derive(
        rng: &dyn RandomSource,
        protection: Protection,
        cred: Credential<'_>,
    ) -> Result<NewCredential, SealError> {
        let salt = fill::<SALT_LEN>(rng)?;
        let kek = derive_kek(&protection, &salt, cred).map_err(|e| match e {
            OpenError::OutOfMemory => SealError::OutOfMemory,
            OpenError::KdfParamsOutOfBounds => SealError::KdfParamsOutOfBounds,
            _ => SealError::Failed,
        })?;
        Ok(NewCredential {
            protection,
            salt,
            kek,
        })
    }

    /// A header with this credential block (new wrap nonce and hk) over `state` and `secrets`,
    /// and its hk.
    pub(crate) fn seal(
        self,
        rng: &dyn RandomSource,
        store_id: [u8; STORE_ID_LEN],
        state: State,
        secrets: &Secrets,
    ) -> Result<(HeaderV2, Zeroizing<[u8; 32]>), SealError> {
        let wrap_nonce = fill::<NONCE_LEN>(rng)?;
        let mut hk = Zeroizing::new([0u8; f2::HK_LEN]);
        rng.fill(&mut hk[..]).map_err(SealError::Random)?;
        let secrets_nonce = fill::<NONCE_LEN>(rng)?;
        let h = HeaderV2::seal(
            self.protection,
            self.salt,
            store_id,
            wrap_nonce,
            &self.kek,
            &hk,
            state,
            secrets_nonce,
            secrets,
        )
        .map_err(|_| SealError::Failed)?;
        Ok((h, hk))
    }
}
