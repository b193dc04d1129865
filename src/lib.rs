#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod aead;
mod error;
mod format;
mod kdf;
mod keys;
mod memory;
mod names;
mod poly1305_soft;
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
