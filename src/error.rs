//! One error type per operation: opening or creating a store ([`OpenError`]), reading a value
//! ([`ReadError`]), writing one ([`WriteError`]), removing one ([`RemoveError`]), listing
//! ([`ListError`]) and the maintenance of an open store ([`RotateError`], which wraps
//! [`HeaderError`] for a change of its header), and the reasons a header or an anchor is refused
//! as corrupt ([`HeaderCorruption`], [`AnchorCorruption`]). The errors of the operations on
//! values are in `value.rs`. None of them ever carries a passphrase, a key or a byte of a value.

use core::fmt;

use bitcoin::io;

use crate::rng::RandomError;

mod value;
pub use value::{ListError, ReadError, RemoveError, WriteError};

/// Why a store could not be created, opened, or have its current state accepted.
#[derive(Debug)]
#[non_exhaustive]
pub enum OpenError {
    /// The inner store has no encrypted-store header. Nothing was written.
    NotInitialized,
    /// `create` found a header: the inner store already is an encrypted store. Nothing was written.
    AlreadyInitialized,
    /// `create` found values in the inner store but no header: it refuses to start an encrypted
    /// store on top of existing data. Migrate that data instead (with LDK's
    /// `migrate_kv_store_data`).
    ExistingData {
        /// A primary namespace where values were found (`""` for the top level).
        primary_namespace: String,
    },
    /// The passphrase does not unlock this store.
    WrongPassphrase,
    /// The raw key does not unlock this store.
    WrongKey,
    /// The store is protected by a passphrase, but a raw key was given.
    PassphraseRequired,
    /// The store is protected by a raw key, but a passphrase was given.
    RawKeyRequired,
    /// An empty passphrase was given for a new store.
    EmptyPassphrase,
    /// The header is not a well-formed header.
    CorruptHeader {
        /// What is wrong with it (no secret material).
        reason: HeaderCorruption,
    },
    /// The header is of a format version this library does not read: version 1 (written by
    /// pre-releases of encrypted-kvstore) or an unknown one.
    UnsupportedVersion {
        /// The version byte found.
        version: u8,
    },
    /// The header asks for Argon2id costs above the documented ceiling; refused before any
    /// memory was allocated.
    KdfParamsOutOfBounds,
    /// The KDF's working memory could not be allocated.
    OutOfMemory,
    /// The operating system gave no random bytes.
    Random(RandomError),
    /// Wrapping the data key (or deriving the raw-key KEK) failed inside the vetted crates,
    /// which they document as impossible for our fixed sizes. Nothing was written; no weaker
    /// header is ever produced instead.
    KeyWrapFailed,
    /// The inner store failed.
    Io(io::Error),
    /// The credential opened the header, but its state block (options, keyring,
    /// counter, sealed secrets) is not the one sealed with it: tampered with.
    HeaderAuthenticationFailed,
    /// `accept_current_state` found the header in the inner store changed since it read it
    /// (another instance, or an attacker, changed it). The header was not written; run it
    /// again with the node stopped.
    HeaderChanged,
    /// The store's version counter or header sequence number cannot grow any further.
    CounterExhausted,
    /// The store's header says it is watched by a freshness anchor, and none was
    /// given (`OpenOptions::anchor`). Opening without it would silently lose rollback
    /// detection across restarts.
    AnchorRequired,
    /// The anchor knows nothing of this store (no `meta` value for its store id): a
    /// new device, a lost anchor, or an anchor that was never attached. Accept the store's
    /// current state explicitly (`OpenOptions::accept_current_state`) to go on.
    AnchorEmpty,
    /// An anchor was given, but the store's header does not say it is anchored.
    /// Attach it explicitly with `OpenOptions::accept_current_state`.
    AnchorNotAttached,
    /// A value in the anchor is not a well-formed anchor value for this store.
    AnchorCorrupt {
        /// What is wrong (no secret material).
        reason: AnchorCorruption,
    },
    /// The anchor failed.
    AnchorIo(io::Error),
    /// The anchor saw a newer header than the one in the inner store: an older
    /// header (an older copy of the store) was put back.
    HeaderRolledBack {
        /// The `header_seq` of the header found in the inner store.
        header_seq: u64,
        /// The `header_seq` the anchor last recorded.
        anchor_header_seq: u64,
    },
}

impl fmt::Display for OpenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OpenError::NotInitialized => f.write_str(
                "this is not an encrypted store: no encrypted-kvstore header was found \
                 (create one with EncryptedStore::create; open never creates one)",
            ),
            OpenError::AlreadyInitialized => f.write_str(
                "an encrypted store already exists here; open it instead of creating a new one",
            ),
            OpenError::ExistingData { primary_namespace } => write!(
                f,
                "the inner store already holds values (in primary namespace \"{primary_namespace}\") \
                 but no encrypted-kvstore header; refusing to create an encrypted store on top of \
                 existing data (migrate it into a new, empty store instead)"
            ),
            OpenError::WrongPassphrase => f.write_str("wrong passphrase: it does not unlock this store"),
            OpenError::WrongKey => f.write_str("wrong key: it does not unlock this store"),
            OpenError::PassphraseRequired => {
                f.write_str("this store is protected by a passphrase, not a raw key")
            }
            OpenError::RawKeyRequired => {
                f.write_str("this store is protected by a raw key, not a passphrase")
            }
            OpenError::EmptyPassphrase => f.write_str("the passphrase may not be empty"),
            OpenError::CorruptHeader { reason } => {
                write!(f, "the encrypted-kvstore header is corrupt: {reason}")
            }
            OpenError::UnsupportedVersion { version: 1 } => f.write_str(
                "the encrypted-kvstore header has format version 1: the store was made by a \
                 pre-release of encrypted-kvstore and cannot be opened by this version",
            ),
            OpenError::UnsupportedVersion { version } => write!(
                f,
                "the encrypted-kvstore header has format version {version}, which this version \
                 of the library does not support"
            ),
            OpenError::KdfParamsOutOfBounds => write!(
                f,
                "the header asks for Argon2id costs above the accepted ceiling; refused: {}",
                crate::kdf::KdfParamsError::OutOfBounds
            ),
            OpenError::OutOfMemory => {
                f.write_str("the memory for the key derivation could not be allocated")
            }
            OpenError::Random(_) => f.write_str("no random bytes could be obtained"),
            OpenError::KeyWrapFailed => f.write_str(
                "the data key could not be wrapped (the key derivation or AEAD refused its \
                 input); nothing was written",
            ),
            OpenError::Io(_) => f.write_str("the inner store failed"),
            OpenError::HeaderAuthenticationFailed => f.write_str(
                "the header's keyring and counter are not authentic: the header was tampered with",
            ),
            OpenError::HeaderChanged => f.write_str(
                "the header was changed by another writer since it was read; the header was not \
                 written (run it again with the node stopped)",
            ),
            OpenError::CounterExhausted => f.write_str("the store's version counter is exhausted"),
            OpenError::AnchorRequired => f.write_str(
                "this store is watched by a freshness anchor: open it with its anchor",
            ),
            OpenError::AnchorEmpty => f.write_str(
                "the anchor knows nothing of this store: on a new device or after a restore, \
                 accept the current state explicitly",
            ),
            OpenError::AnchorNotAttached => f.write_str(
                "an anchor was given, but this store is not attached to one: accept the current \
                 state explicitly to attach it",
            ),
            OpenError::AnchorCorrupt { reason } => {
                write!(f, "the freshness anchor is corrupt: {reason}")
            }
            OpenError::AnchorIo(_) => f.write_str("the freshness anchor failed"),
            OpenError::HeaderRolledBack {
                header_seq,
                anchor_header_seq,
            } => write!(
                f,
                "the store's header is older than the anchor says (header_seq {header_seq}, \
                 the anchor saw {anchor_header_seq}): an older copy of the store was put back"
            ),
        }
    }
}

impl std::error::Error for OpenError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            OpenError::Random(e) => Some(e),
            OpenError::Io(e) | OpenError::AnchorIo(e) => Some(e),
            _ => None,
        }
    }
}

/// Why a header change of an open store (a credential change, a rekey, a data-key rotation or
/// retirement, detaching the anchor) failed. Unless said otherwise, the header is unchanged and
/// the store stays usable with the credential and keys it had.
#[derive(Debug)]
#[non_exhaustive]
pub enum HeaderError {
    /// The header in the inner store is no longer the one this instance last read or wrote
    /// (another writer changed it), or an earlier header write of this instance failed and may
    /// have landed. Nothing was written; this instance writes no header again (reopen the
    /// store).
    Changed,
    /// The inner store failed reading or writing the header. A failed write may have landed:
    /// this instance writes no header again (reopen the store to see which header holds).
    Io(io::Error),
    /// The header was written, but the freshness anchor's `meta` could not record it. The
    /// change is made; the record is pending and is written before any later write or remove.
    Anchor(io::Error),
    /// The random source gave no bytes (a salt, a nonce or a new data key).
    Random(RandomError),
    /// The vetted crates refused to derive a key or seal the new header, which they document
    /// as impossible for our fixed sizes (or this instance's keyring does not match its
    /// header). Nothing was written; no weaker header is ever produced instead.
    SealFailed,
    /// The header's sequence number cannot grow any further.
    CounterExhausted,
    /// The new passphrase is empty.
    EmptyPassphrase,
    /// The new Argon2id costs are above the memory ceiling of the options that opened the
    /// store (`OpenOptions::max_kdf_memory_kib`), or Argon2id refused them. Nothing was
    /// written.
    KdfParamsOutOfBounds,
    /// The memory for the key derivation of the new passphrase could not be allocated.
    OutOfMemory,
    /// The store was opened read-only.
    ReadOnly,
}

impl fmt::Display for HeaderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HeaderError::Changed => f.write_str(
                "the header was changed by another writer since this store read it (or an \
                 earlier header write of this store failed); nothing was written (reopen the \
                 store)",
            ),
            HeaderError::Io(_) => {
                f.write_str("the inner store failed reading or writing the header")
            }
            HeaderError::Anchor(_) => {
                f.write_str("the header was written, but the freshness anchor could not record it")
            }
            HeaderError::Random(_) => f.write_str("no random bytes could be obtained"),
            HeaderError::SealFailed => {
                f.write_str("the new header could not be sealed; nothing was written")
            }
            HeaderError::CounterExhausted => {
                f.write_str("the header's sequence number is exhausted")
            }
            HeaderError::EmptyPassphrase => f.write_str("the passphrase may not be empty"),
            HeaderError::KdfParamsOutOfBounds => f.write_str(
                "the new Argon2id costs are above the memory ceiling this store was opened with, \
                 or outside the accepted bounds; nothing was written",
            ),
            HeaderError::OutOfMemory => {
                f.write_str("the memory for the key derivation could not be allocated")
            }
            HeaderError::ReadOnly => f.write_str("the store was opened read-only"),
        }
    }
}

impl std::error::Error for HeaderError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            HeaderError::Io(e) | HeaderError::Anchor(e) => Some(e),
            HeaderError::Random(e) => Some(e),
            _ => None,
        }
    }
}

/// Why the maintenance of an open store failed: a credential change, a rekey, a rotation,
/// re-encryption or retirement of data keys, or detaching the anchor. What was done before the
/// error stays done, and every value stays readable.
#[derive(Debug)]
#[non_exhaustive]
pub enum RotateError {
    /// The keyring holds 8 keys (or the current key id is the largest): re-encrypt and retire
    /// first (`rotate_data_key`, `rekey`). Nothing was written.
    KeyringFull,
    /// The store was opened read-only.
    ReadOnly,
    /// `retire_old_keys` found a record not yet re-encrypted under the current key. Nothing was
    /// written.
    NotReencrypted {
        /// Primary namespace of the record.
        primary_namespace: String,
        /// Secondary namespace of the record.
        secondary_namespace: String,
        /// Key of the record.
        key: String,
        /// The key id that seals it.
        key_id: u32,
    },
    /// `retire_old_keys` waited 30 seconds for writes sealed under an old key that were
    /// still in flight. Nothing was written; retry.
    WritesInFlight,
    /// The header could not be changed (see [`HeaderError`]).
    Header(HeaderError),
    /// A value could not be read (authentication or freshness failure, or the inner store).
    Read(io::Error),
    /// A value could not be written back.
    Write(io::Error),
    /// The store could not be listed.
    List(io::Error),
}

impl fmt::Display for RotateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RotateError::KeyringFull => f.write_str(
                "the keyring is full (8 keys): re-encrypt every value and retire the old keys first",
            ),
            RotateError::ReadOnly => f.write_str("the store was opened read-only"),
            RotateError::NotReencrypted {
                primary_namespace,
                secondary_namespace,
                key,
                key_id,
            } => write!(
                f,
                "primary namespace \"{primary_namespace}\", secondary namespace \
                 \"{secondary_namespace}\", key \"{key}\" is still sealed under key {key_id}: \
                 re-encrypt before retiring"
            ),
            RotateError::WritesInFlight => f.write_str(
                "writes sealed under an old key were still in flight after 30 seconds; nothing \
                 was written (retry)",
            ),
            RotateError::Header(e) => write!(f, "the header could not be updated: {e}"),
            RotateError::Read(e) => write!(f, "a value could not be read: {e}"),
            RotateError::Write(e) => write!(f, "a value could not be written back: {e}"),
            RotateError::List(e) => write!(f, "the store could not be listed: {e}"),
        }
    }
}

impl std::error::Error for RotateError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            RotateError::Header(e) => Some(e),
            RotateError::Read(e) | RotateError::Write(e) | RotateError::List(e) => Some(e),
            _ => None,
        }
    }
}

impl From<OpenError> for io::Error {
    fn from(e: OpenError) -> io::Error {
        match e {
            OpenError::Io(inner) => inner,
            OpenError::Random(_)
            | OpenError::OutOfMemory
            | OpenError::KeyWrapFailed
            | OpenError::HeaderChanged
            | OpenError::CounterExhausted => io::Error::new(io::ErrorKind::Other, e),
            OpenError::AnchorIo(ref inner) => io::Error::new(inner.kind(), e),
            OpenError::EmptyPassphrase => io::Error::new(io::ErrorKind::InvalidInput, e),
            OpenError::NotInitialized => io::Error::new(io::ErrorKind::NotFound, e),
            OpenError::AlreadyInitialized | OpenError::ExistingData { .. } => {
                io::Error::new(io::ErrorKind::AlreadyExists, e)
            }
            _ => io::Error::new(io::ErrorKind::InvalidData, e),
        }
    }
}

/// Why a header was refused as corrupt ([`OpenError::CorruptHeader`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum HeaderCorruption {
    /// It does not start with the encrypted-kvstore magic bytes.
    BadMagic,
    /// It is truncated.
    Truncated,
    /// It has trailing bytes.
    TrailingBytes,
    /// Its checksum does not match.
    ChecksumMismatch,
    /// Its reserved bytes are not zero.
    ReservedBytesSet,
    /// Its key count is not between 1 and 8.
    KeyCountOutOfRange,
    /// Its length does not match its key count and options.
    LengthMismatch,
    /// Its key ids are not strictly ascending.
    KeyIdsNotAscending,
    /// Its current key id is not its largest key id.
    CurrentKeyNotLargest,
    /// Its header sequence number is 0.
    HeaderSeqZero,
    /// Its version limit is 0.
    VersionLimitZero,
    /// A raw-key header carries KDF parameters.
    RawKeyWithKdfParams,
    /// Its key protection method is unknown.
    UnknownProtection,
}

impl fmt::Display for HeaderCorruption {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            HeaderCorruption::BadMagic => {
                "it does not start with the encrypted-kvstore magic bytes"
            }
            HeaderCorruption::Truncated => "it is truncated",
            HeaderCorruption::TrailingBytes => "it has trailing bytes",
            HeaderCorruption::ChecksumMismatch => "its checksum does not match",
            HeaderCorruption::ReservedBytesSet => "its reserved bytes are not zero",
            HeaderCorruption::KeyCountOutOfRange => "its key count is not between 1 and 8",
            HeaderCorruption::LengthMismatch => {
                "its length does not match its key count and options"
            }
            HeaderCorruption::KeyIdsNotAscending => "its key ids are not strictly ascending",
            HeaderCorruption::CurrentKeyNotLargest => {
                "its current key id is not its largest key id"
            }
            HeaderCorruption::HeaderSeqZero => "its header sequence number is 0",
            HeaderCorruption::VersionLimitZero => "its version limit is 0",
            HeaderCorruption::RawKeyWithKdfParams => "a raw-key header carries KDF parameters",
            HeaderCorruption::UnknownProtection => "its key protection method is unknown",
        })
    }
}

/// Why the freshness anchor was refused as corrupt ([`OpenError::AnchorCorrupt`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AnchorCorruption {
    /// The meta value has the wrong length.
    MetaLength,
    /// The meta value does not authenticate (another store, another key, or edited).
    MetaNotAuthentic,
    /// The meta value is truncated.
    MetaTruncated,
    /// The meta value's accept mark is above its version limit.
    AcceptMarkAboveLimit,
    /// The anchor holds a value under a name it does not use.
    UnknownName,
    /// An entry does not authenticate (another store, another key, moved or edited).
    EntryNotAuthentic,
    /// An entry is truncated.
    EntryTruncated,
    /// An entry holds a name that is not UTF-8.
    EntryNameNotUtf8,
    /// An entry is longer than its names.
    EntryTrailingBytes,
    /// An entry holds an invalid name.
    EntryInvalidName,
    /// An entry's name cannot be computed.
    EntryNameUncomputable,
    /// An entry is stored under another key's name.
    EntryMisplaced,
    /// An entry's version is 0, or at or above the meta's limit.
    EntryVersionOutOfBounds,
    /// An entry has version 0.
    EntryVersionZero,
}

impl fmt::Display for AnchorCorruption {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AnchorCorruption::MetaLength => "the meta value has the wrong length",
            AnchorCorruption::MetaNotAuthentic => {
                "the meta value does not authenticate (another store, another key, or edited)"
            }
            AnchorCorruption::MetaTruncated => "the meta value is truncated",
            AnchorCorruption::AcceptMarkAboveLimit => {
                "the meta value's accept mark is above its version limit"
            }
            AnchorCorruption::UnknownName => {
                "the anchor holds a value under a name it does not use"
            }
            AnchorCorruption::EntryNotAuthentic => {
                "an entry does not authenticate (another store, another key, moved or edited)"
            }
            AnchorCorruption::EntryTruncated => "an entry is truncated",
            AnchorCorruption::EntryNameNotUtf8 => "an entry holds a name that is not UTF-8",
            AnchorCorruption::EntryTrailingBytes => "an entry is longer than its names",
            AnchorCorruption::EntryInvalidName => "an entry holds an invalid name",
            AnchorCorruption::EntryNameUncomputable => "an entry's name cannot be computed",
            AnchorCorruption::EntryMisplaced => "an entry is stored under another key's name",
            AnchorCorruption::EntryVersionOutOfBounds => {
                "an entry's version is 0, or at or above the meta's limit"
            }
            AnchorCorruption::EntryVersionZero => "an entry has version 0",
        })
    }
}
