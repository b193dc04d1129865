// The README is the crate documentation, and its example a doctest; that example speaks LDK 0.2
// (as most users do today), so with LDK 0.3 alone the docs say where to look instead.
#![cfg_attr(feature = "lightning-0-2", doc = include_str!("../README.md"))]
#![cfg_attr(
    not(feature = "lightning-0-2"),
    doc = "Encryption at rest for LDK key-value stores: see the README for the design and the \
           [`ldk`] module for LDK 0.3 (its traits, the version markers, an example)."
)]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(not(any(feature = "lightning-0-2", feature = "lightning-0-3")))]
compile_error!(
    "encrypted-kvstore implements LDK's store traits: enable `lightning-0-2` (the default; \
     lightning 0.2, ldk-node 0.7) and/or `lightning-0-3` (lightning 0.3)"
);

// The core: format, keys, records, names, errors. Nothing here knows LDK's trait signatures.
mod aead;
mod anchor;
mod error;
mod format;
mod freshness;
mod kdf;
mod keys;
mod memory;
mod names;
mod rng;
mod store;
// The header's life cycle (create, open, change of credential), over a private header I/O.
mod open;
// One adapter per LDK version, and the version markers.
pub mod ldk;

pub use anchor::{FreshnessAnchor, StoreAnchor, ANCHOR_PRIMARY_NAMESPACE};
pub use error::{ListError, OpenError, ReadError, RemoveError, RotateError, WriteError};
pub use format::{Protection, FORMAT_VERSION, RECORD_OVERHEAD};

/// The Padmé size bucket of `x` (Nikitin et al., PETS 2019): a store with
/// [`OpenOptions::pad_values`] stores a value of `L` bytes in a record of
/// `53 + padme(8 + L)` bytes. At most 12 % above `x` (2.4 % at 1,000 bytes, 0.4 % at 100 kB);
/// `None` when the bucket does not fit in a `u64`. See docs/FORMAT.md, "Length padding".
pub fn padme(x: u64) -> Option<u64> {
    format::v2::padme(x)
}
pub use kdf::{KdfParams, KdfParamsError};
pub use keys::RawKey;
pub use memory::{MemoryStore, DEFAULT_PAGE_SIZE};
pub use names::{InvalidName, HEADER_KEY, HEADER_SECONDARY_NAMESPACE, RESERVED_PRIMARY_NAMESPACE};
pub use open::OpenOptions;
pub use rng::{OsRandom, RandomError, RandomSource};
pub use store::{EncryptedStore, ReencryptProgress, SharedStore, StoreInfo};

/// Hooks for the fuzz targets in `fuzz/` (feature `fuzzing`). **Not an API**: hidden, unstable,
/// and absent from normal builds. It reaches parts of the format that the public API only uses
/// internally, so the targets can check properties of them directly.
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod __fuzzing {
    use zeroize::Zeroizing;

    use crate::aead::Cipher;
    use crate::format::v2;
    use crate::names::encrypted::{self, Field, NameCipher};
    use crate::InvalidName;

    /// Shortest and longest header.
    pub const HEADER_V2_LEN: core::ops::RangeInclusive<usize> =
        v2::MIN_HEADER_LEN..=v2::MAX_HEADER_LEN;

    /// Parses `bytes` as a header and serializes the result again; `None` when it
    /// does not parse. The format promises `Some(b)` implies `b == bytes`.
    pub fn header_v2_reserialize(bytes: &[u8]) -> Option<Vec<u8>> {
        v2::HeaderV2::parse(bytes).ok().map(|h| h.to_bytes())
    }

    /// `prefix` (every byte of a header but the last 32) followed by its correct
    /// checksum.
    pub fn header_v2_with_checksum(prefix: &[u8]) -> Vec<u8> {
        v2::with_checksum(prefix)
    }

    /// Bytes a record adds to its sealed plaintext.
    pub const RECORD_V2_OVERHEAD: usize = v2::RECORD_OVERHEAD;

    /// The unauthenticated (key id, version) prefix of a record.
    pub fn record_v2_prefix(rec: &[u8]) -> Option<(u32, u64)> {
        v2::record_prefix(rec)
    }

    /// Seals `plaintext` into a record under `key`, as the store does with its data
    /// key `key_id` (but with the given nonce). `None` when a name is too long.
    #[allow(clippy::too_many_arguments)]
    pub fn record_v2_seal(
        key: &[u8; 32],
        store_id: &[u8; 16],
        key_id: u32,
        version: u64,
        nonce: &[u8; 24],
        names: (&str, &str, &str),
        plaintext: &[u8],
    ) -> Option<Vec<u8>> {
        let ad = v2::RecordAd::new(store_id, key_id, version, names.0, names.1, names.2)?;
        v2::seal_record(&Cipher::new(key), key_id, version, nonce, &ad, plaintext).ok()
    }

    /// Opens `rec` as the store reads a record whose key id is that of `key`: the
    /// associated data is built from the record's own prefix. Returns the prefix's key id and
    /// version with the sealed plaintext (still padded, if it was).
    pub fn record_v2_open(
        key: &[u8; 32],
        store_id: &[u8; 16],
        names: (&str, &str, &str),
        rec: Vec<u8>,
    ) -> Option<(u32, u64, Vec<u8>)> {
        let (key_id, version) = v2::record_prefix(&rec)?;
        let ad = v2::RecordAd::new(store_id, key_id, version, names.0, names.1, names.2)?;
        let plain = v2::open_record(&Cipher::new(key), &ad, rec).ok()?;
        Some((key_id, version, plain))
    }

    /// The padded form of `value` (option `padding`).
    pub fn pad_v2(value: &[u8]) -> Option<Vec<u8>> {
        v2::pad(value).ok().map(|p| p.to_vec())
    }

    /// Checks and strips the padding of an opened plaintext.
    pub fn unpad_v2(padded: Vec<u8>) -> Option<Vec<u8>> {
        v2::unpad(padded)
    }

    /// Longest plaintext name a store with encrypted names accepts.
    pub const NAME_MAX_PLAIN_LEN: usize = encrypted::MAX_PLAIN_NAME_LEN;

    /// The name key and store id of the name hooks.
    const NAME_KEY: [u8; 64] = [0x5a; 64];
    const NAME_STORE_ID: [u8; 16] = [0xa5; 16];

    fn name_field<'a>(field: u8, primary: &'a str, secondary: &'a str) -> Field<'a> {
        match field % 3 {
            0 => Field::Primary,
            1 => Field::Secondary { primary },
            _ => Field::Key { primary, secondary },
        }
    }

    fn name_cipher() -> NameCipher {
        NameCipher::new(Zeroizing::new(NAME_KEY), NAME_STORE_ID)
    }

    /// The stored form of `name` under a fixed name key, as field `field % 3` (0 primary
    /// namespace, 1 secondary namespace under `primary`, 2 key under `primary`/`secondary`).
    /// The caller is trusted to give a valid LDK name, as the store checks names first.
    pub fn name_encrypt(
        field: u8,
        primary: &str,
        secondary: &str,
        name: &str,
    ) -> Result<String, InvalidName> {
        name_cipher().encrypt(name_field(field, primary, secondary), name)
    }

    /// Decodes a stored name under the same fixed key and field as [`name_encrypt`]; `None`
    /// when it does not decode.
    pub fn name_decrypt(field: u8, primary: &str, secondary: &str, stored: &str) -> Option<String> {
        name_cipher()
            .decrypt(name_field(field, primary, secondary), stored)
            .ok()
    }
}
