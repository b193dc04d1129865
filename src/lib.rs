// The README is the crate documentation, and its example a doctest; that example speaks LDK 0.2
// (the default feature), so with LDK 0.3 alone the docs say where to look instead.
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
mod io;
mod kdf;
mod keys;
mod memory;
mod names;
mod rng;
mod store;
// The header's life cycle up to an open store (create, open, accept), over a private header I/O.
mod open;
// One adapter per LDK version, and the version markers.
pub mod ldk;

pub use anchor::{FreshnessAnchor, StoreAnchor, ANCHOR_PRIMARY_NAMESPACE};
pub use error::{
    AnchorCorruption, HeaderCorruption, HeaderError, ListError, OpenError, ReadError, RemoveError,
    RotateError, WriteError,
};
pub use format::{Protection, FORMAT_VERSION, RECORD_OVERHEAD};

/// The Padmé size bucket of `x` (Nikitin et al., PETS 2019): a store with
/// [`OpenOptions::pad_values`] stores a value of `L` bytes in a record of
/// `53 + padme(8 + L)` bytes. At most 12 % above `x` (2.4 % at 1,000 bytes, 0.4 % at 100 kB);
/// `None` when the bucket does not fit in a `u64`. See docs/FORMAT.md, "Length padding".
pub fn padme(x: u64) -> Option<u64> {
    format::v2::padme(x)
}
pub use kdf::{KdfParams, KdfParamsError};
pub use keys::{Credential, RawKey};
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
pub mod __fuzzing;
