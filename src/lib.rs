#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod aead;
mod error;
mod format;
mod kdf;
mod keys;
mod memory;
mod names;
mod rng;
mod store;

pub use error::{OpenError, ReadError, WriteError};
pub use format::{Protection, FORMAT_VERSION, RECORD_OVERHEAD};
pub use kdf::{KdfParams, KdfParamsError};
pub use keys::RawKey;
pub use memory::MemoryStore;
pub use names::{InvalidName, HEADER_KEY, HEADER_SECONDARY_NAMESPACE, RESERVED_PRIMARY_NAMESPACE};
pub use rng::{OsRandom, RandomError, RandomSource};
pub use store::{EncryptedStore, OpenOptions, SharedStore, StoreInfo};

/// Hooks for the fuzz targets in `fuzz/` (feature `fuzzing`). **Not an API**: hidden, unstable,
/// and absent from normal builds. It reaches parts of the format that the public API only uses
/// internally, so the targets can check properties of them directly.
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod __fuzzing {
    use crate::format::{self, Header, HEADER_LEN};

    /// Length of a v1 header.
    pub const HEADER_LEN_V1: usize = HEADER_LEN;

    /// Parses `bytes` as a header and serializes the result again; `None` when it does not
    /// parse. The format promises `Some(b)` implies `b == bytes`.
    pub fn header_reserialize(bytes: &[u8]) -> Option<[u8; HEADER_LEN]> {
        Header::parse(bytes).ok().map(|h| h.to_bytes())
    }

    /// `prefix` (the first 148 header bytes) followed by their correct checksum, so a fuzz
    /// target can reach the checks that come after the checksum.
    pub fn header_with_checksum(prefix: &[u8; HEADER_LEN - 32]) -> [u8; HEADER_LEN] {
        format::header_with_checksum(prefix)
    }
}
