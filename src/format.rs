//! The format, byte by byte (see `docs/FORMAT.md`): what every part shares (the magic, the key
//! protection, the key-encryption-key derivations) here, the header and the record in [`v2`].
//! Pure functions: no I/O, no panics on any input.

use blake2::digest::consts::U32;
use blake2::digest::{KeyInit, Mac};
use blake2::Blake2bMac;
use zeroize::{Zeroize, Zeroizing};

use crate::kdf::KdfParams;

pub(crate) mod v2;

/// The format version `create` writes and `open` reads: the version byte of every header and
/// the format byte of every record. Any other version is refused
/// ([`OpenError::UnsupportedVersion`](crate::OpenError::UnsupportedVersion)).
pub const FORMAT_VERSION: u8 = v2::VERSION;

/// First eight bytes of every header.
pub(crate) const MAGIC: &[u8; 8] = b"EKVSTORE";

pub(crate) const SALT_LEN: usize = 32;
pub(crate) const STORE_ID_LEN: usize = 16;
pub(crate) use crate::aead::{KEY_LEN as DATA_KEY_LEN, NONCE_LEN, TAG_LEN};

/// Bytes a record adds to its value without padding (53: format byte, key id, version, nonce
/// and tag).
pub const RECORD_OVERHEAD: usize = v2::RECORD_OVERHEAD;

/// Prefix of the Argon2id salt.
const PASSPHRASE_KEK_LABEL: &[u8; 35] = b"encrypted-kvstore v2 passphrase kek";
/// Prefix of the raw-key KEK's message.
const RAW_KEY_KEK_LABEL: &[u8; 32] = b"encrypted-kvstore v2 raw-key kek";

/// How a store's data key is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Protection {
    /// By a key-encryption key derived from a passphrase with Argon2id.
    Passphrase(KdfParams),
    /// By a key-encryption key derived from a caller-held 32-byte key.
    RawKey,
}

/// Why header bytes did not parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HeaderParseError {
    Corrupt(crate::error::HeaderCorruption),
    UnsupportedVersion(u8),
    KdfOutOfBounds,
}

/// The `N` bytes at `off`; `None` when `b` is too short (never a zero-filled stand-in).
fn array_at<const N: usize>(b: &[u8], off: usize) -> Option<[u8; N]> {
    b.get(off..off.checked_add(N)?)?.try_into().ok()
}

fn u32_at(b: &[u8], off: usize) -> Option<u32> {
    array_at(b, off).map(u32::from_le_bytes)
}

/// Salt input to Argon2id: the label, then the header's random salt.
pub(crate) fn passphrase_salt(salt: &[u8; SALT_LEN]) -> [u8; 35 + SALT_LEN] {
    let mut s = [0u8; 35 + SALT_LEN];
    let (label, random) = s.split_at_mut(PASSPHRASE_KEK_LABEL.len());
    label.copy_from_slice(PASSPHRASE_KEK_LABEL);
    random.copy_from_slice(salt);
    s
}

/// The keyed hash refused its key (BLAKE2b takes keys of 1 to 64 bytes, so a 32-byte key
/// cannot be refused; if it ever were, no KEK is produced rather than a weak one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct KeyedHashFailed;

/// KEK for the raw-key mode: BLAKE2b-256 keyed with the raw key over a label and the salt.
pub(crate) fn raw_kek(
    raw: &[u8; 32],
    salt: &[u8; SALT_LEN],
) -> Result<Zeroizing<[u8; 32]>, KeyedHashFailed> {
    let mut mac = <Blake2bMac<U32> as KeyInit>::new_from_slice(raw).map_err(|_| KeyedHashFailed)?;
    Mac::update(&mut mac, RAW_KEY_KEK_LABEL);
    Mac::update(&mut mac, salt);
    let mut digest = mac.finalize().into_bytes();
    let mut out = Zeroizing::new([0u8; 32]);
    out.copy_from_slice(&digest);
    digest.as_mut_slice().zeroize();
    Ok(out)
}

/// Why a value could not be sealed into a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SealError {
    /// The value (plus the record overhead) does not fit in memory or in one AEAD message.
    TooLarge,
    /// The AEAD refused to seal (or the associated data could not be formed).
    Failed,
}
