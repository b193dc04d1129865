//! The errors of the operations on values: reading, writing, removing, listing.

use core::fmt;

use bitcoin::io;

use crate::names::InvalidName;
use crate::rng::RandomError;

/// Why a value could not be read. Inner-store errors (including `NotFound`) are passed up
/// unchanged and are not wrapped in this type.
///
/// At the trait edge it travels inside an [`io::Error`]: [`ReadError::InvalidName`] with kind
/// `InvalidInput`, [`ReadError::AuthenticationFailed`] with kind `InvalidData`. Get it back with
/// `err.get_ref().and_then(|e| e.downcast_ref::<ReadError>())`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReadError {
    /// The namespace or key breaks LDK's naming rules, or is reserved.
    InvalidName(InvalidName),
    /// The bytes stored under this key are not an authentic record of this store for this
    /// exact namespace and key: tampered, truncated, moved from another key or namespace,
    /// copied from another store, or written behind the wrapper's back.
    AuthenticationFailed {
        /// Primary namespace of the value.
        primary_namespace: String,
        /// Secondary namespace of the value.
        secondary_namespace: String,
        /// Key of the value.
        key: String,
    },
    /// The stored record is authentic but older than one this store has already
    /// written or read for this key: a rollback.
    Rollback {
        /// Primary namespace of the value.
        primary_namespace: String,
        /// Secondary namespace of the value.
        secondary_namespace: String,
        /// Key of the value.
        key: String,
        /// The version found.
        found: u64,
        /// The version this store knows the key had at least.
        expected_at_least: u64,
    },
    /// The key is absent, but this store wrote or read it and has not removed it:
    /// a deletion behind the wrapper's back.
    Missing {
        /// Primary namespace of the value.
        primary_namespace: String,
        /// Secondary namespace of the value.
        secondary_namespace: String,
        /// Key of the value.
        key: String,
        /// The version this store knows the key had at least.
        expected_version: u64,
    },
    /// An authentic record was found, but the key is absent for this store: it was removed,
    /// or its write did not complete (docs/FORMAT.md, "The rule"). Kind `NotFound`: the value
    /// is treated as absent, never served.
    Removed {
        /// Primary namespace of the value.
        primary_namespace: String,
        /// Secondary namespace of the value.
        secondary_namespace: String,
        /// Key of the value.
        key: String,
        /// The version of the record found.
        found: u64,
    },
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadError::InvalidName(e) => write!(f, "invalid name: {e}"),
            ReadError::AuthenticationFailed {
                primary_namespace,
                secondary_namespace,
                key,
            } => write!(
                f,
                "authentication failed for primary namespace \"{primary_namespace}\", secondary \
                 namespace \"{secondary_namespace}\", key \"{key}\": the stored value is not an \
                 authentic record of this store for this key"
            ),
            ReadError::Rollback {
                primary_namespace,
                secondary_namespace,
                key,
                found,
                expected_at_least,
            } => write!(
                f,
                "rollback detected for primary namespace \"{primary_namespace}\", secondary \
                 namespace \"{secondary_namespace}\", key \"{key}\": found version {found}, \
                 expected at least {expected_at_least}"
            ),
            ReadError::Missing {
                primary_namespace,
                secondary_namespace,
                key,
                expected_version,
            } => write!(
                f,
                "deletion detected for primary namespace \"{primary_namespace}\", secondary \
                 namespace \"{secondary_namespace}\", key \"{key}\": it is absent, expected \
                 version {expected_version} or later"
            ),
            ReadError::Removed {
                primary_namespace,
                secondary_namespace,
                key,
                found,
            } => write!(
                f,
                "not found: primary namespace \"{primary_namespace}\", secondary namespace \
                 \"{secondary_namespace}\", key \"{key}\" was removed (or its write did not \
                 complete); the record of version {found} found there is not served"
            ),
        }
    }
}

impl std::error::Error for ReadError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ReadError::InvalidName(e) => Some(e),
            _ => None,
        }
    }
}

/// Why a value could not be written. Inner-store errors are passed up unchanged.
#[derive(Debug)]
#[non_exhaustive]
pub enum WriteError {
    /// The namespace or key breaks LDK's naming rules, or is reserved (kind `InvalidInput`).
    InvalidName(InvalidName),
    /// No nonce could be drawn from the random source (kind `Other`).
    Random(RandomError),
    /// The value is too large for the AEAD (kind `InvalidInput`).
    ValueTooLarge,
    /// The AEAD refused to seal the value for another reason (kind `Other`). The vetted
    /// backends document no such case for values that fit; nothing was written.
    EncryptionFailed,
    /// This instance has used every version it reserved when it was opened (2^32), or the
    /// store's version counter cannot grow any further (kind `Other`); nothing was written.
    /// Reopen the store.
    VersionsExhausted,
    /// The store was opened read-only (kind `PermissionDenied`); nothing was written.
    ReadOnly,
    /// The freshness anchor failed (kind `Other`). Either the value was written and the
    /// anchor could not record it (the change is kept and written before any later write or
    /// remove; nothing is lost and no false alarm follows), or an earlier change could still
    /// not be written and this write was refused before it reached the inner store.
    Anchor(io::Error),
}

impl fmt::Display for WriteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WriteError::InvalidName(e) => write!(f, "invalid name: {e}"),
            WriteError::Random(_) => f.write_str("no random nonce could be obtained"),
            WriteError::ValueTooLarge => f.write_str("the value is too large to encrypt"),
            WriteError::EncryptionFailed => {
                f.write_str("the value could not be encrypted; nothing was written")
            }
            WriteError::VersionsExhausted => f.write_str(
                "this instance has no record version left to give; nothing was written (reopen \
                 the store)",
            ),
            WriteError::ReadOnly => f.write_str("the store was opened read-only"),
            WriteError::Anchor(_) => {
                f.write_str("the value was written, but the freshness anchor could not record it")
            }
        }
    }
}

impl std::error::Error for WriteError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            WriteError::InvalidName(e) => Some(e),
            WriteError::Random(e) => Some(e),
            WriteError::Anchor(e) => Some(e),
            WriteError::ValueTooLarge
            | WriteError::EncryptionFailed
            | WriteError::VersionsExhausted
            | WriteError::ReadOnly => None,
        }
    }
}

impl From<ReadError> for io::Error {
    fn from(e: ReadError) -> io::Error {
        let kind = match e {
            ReadError::InvalidName(_) => io::ErrorKind::InvalidInput,
            ReadError::Removed { .. } => io::ErrorKind::NotFound,
            _ => io::ErrorKind::InvalidData,
        };
        io::Error::new(kind, e)
    }
}

impl From<WriteError> for io::Error {
    fn from(e: WriteError) -> io::Error {
        let kind = match e {
            WriteError::InvalidName(_) | WriteError::ValueTooLarge => io::ErrorKind::InvalidInput,
            WriteError::Random(_)
            | WriteError::EncryptionFailed
            | WriteError::VersionsExhausted
            | WriteError::Anchor(_) => io::ErrorKind::Other,
            WriteError::ReadOnly => io::ErrorKind::PermissionDenied,
        };
        io::Error::new(kind, e)
    }
}

impl From<InvalidName> for io::Error {
    fn from(e: InvalidName) -> io::Error {
        io::Error::new(io::ErrorKind::InvalidInput, e)
    }
}

/// Why a value could not be removed. Inner-store errors are passed up unchanged.
#[derive(Debug)]
#[non_exhaustive]
pub enum RemoveError {
    /// The namespace or key breaks LDK's naming rules, or is reserved (kind `InvalidInput`).
    InvalidName(InvalidName),
    /// The store was opened read-only (kind `PermissionDenied`); nothing was removed.
    ReadOnly,
    /// The freshness anchor could not record the removal (kind `Other`); nothing was
    /// removed. Retrying is safe.
    Anchor(io::Error),
}

impl fmt::Display for RemoveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RemoveError::InvalidName(e) => write!(f, "invalid name: {e}"),
            RemoveError::ReadOnly => f.write_str("the store was opened read-only"),
            RemoveError::Anchor(_) => {
                f.write_str("the freshness anchor could not record the removal")
            }
        }
    }
}

impl std::error::Error for RemoveError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            RemoveError::InvalidName(e) => Some(e),
            RemoveError::Anchor(e) => Some(e),
            RemoveError::ReadOnly => None,
        }
    }
}

impl From<RemoveError> for io::Error {
    fn from(e: RemoveError) -> io::Error {
        let kind = match e {
            RemoveError::InvalidName(_) => io::ErrorKind::InvalidInput,
            RemoveError::Anchor(_) => io::ErrorKind::Other,
            RemoveError::ReadOnly => io::ErrorKind::PermissionDenied,
        };
        io::Error::new(kind, e)
    }
}

/// Why a listing failed. Inner-store errors are passed up unchanged.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ListError {
    /// The namespace breaks LDK's naming rules, or is reserved (kind `InvalidInput`).
    InvalidName(InvalidName),
    /// The store encrypts names, and a name the inner store listed is not one this store made
    /// (kind `InvalidData`): forged, moved from another place, or corrupted. Never skipped.
    UndecodableName {
        /// The stored primary namespace, as found.
        stored_primary_namespace: String,
        /// The stored secondary namespace, as found.
        stored_secondary_namespace: String,
        /// The stored key, as found.
        stored_key: String,
    },
    /// A key this store wrote or read, and did not remove, is not in the listing: a deletion
    /// behind the wrapper's back (kind `InvalidData`).
    Missing {
        /// Primary namespace listed.
        primary_namespace: String,
        /// Secondary namespace listed.
        secondary_namespace: String,
        /// The missing key (the smallest, if several are).
        key: String,
        /// The version this store knows the key had at least.
        expected_version: u64,
    },
}

impl fmt::Display for ListError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ListError::InvalidName(e) => write!(f, "invalid name: {e}"),
            ListError::UndecodableName {
                stored_primary_namespace,
                stored_secondary_namespace,
                stored_key,
            } => write!(
                f,
                "the inner store lists a name this store did not make: primary namespace \
                 \"{stored_primary_namespace}\", secondary namespace \
                 \"{stored_secondary_namespace}\", key \"{stored_key}\" (as stored)"
            ),
            ListError::Missing {
                primary_namespace,
                secondary_namespace,
                key,
                expected_version,
            } => write!(
                f,
                "deletion detected while listing primary namespace \"{primary_namespace}\", \
                 secondary namespace \"{secondary_namespace}\": key \"{key}\" is absent, \
                 expected version {expected_version} or later"
            ),
        }
    }
}

impl std::error::Error for ListError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ListError::InvalidName(e) => Some(e),
            _ => None,
        }
    }
}

impl From<ListError> for io::Error {
    fn from(e: ListError) -> io::Error {
        let kind = match e {
            ListError::InvalidName(_) => io::ErrorKind::InvalidInput,
            _ => io::ErrorKind::InvalidData,
        };
        io::Error::new(kind, e)
    }
}
