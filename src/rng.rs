//! The one place randomness comes from: the OS CSPRNG in production, a caller-supplied source
//! in tests that need deterministic output (test vectors, fuzzing).

use core::fmt;
use std::panic::{RefUnwindSafe, UnwindSafe};
use std::sync::Arc;

use rand::TryRng;

/// The randomness could not be obtained.
#[derive(Debug, Clone)]
pub struct RandomError {
    detail: String,
}

impl RandomError {
    /// An error with a description of what failed (must not hold secret material).
    pub fn new(detail: impl Into<String>) -> Self {
        RandomError {
            detail: detail.into(),
        }
    }
}

impl fmt::Display for RandomError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "no random bytes could be obtained: {}", self.detail)
    }
}

impl std::error::Error for RandomError {}

/// A source of random bytes for salts, store identities, data keys and nonces.
///
/// Production code never needs this: every constructor uses [`OsRandom`] unless told
/// otherwise. It exists so tests can make output reproducible; a weak source here
/// destroys the security of every value written with it.
///
/// The unwind-safety bounds let [`EncryptedStore<S>`](crate::EncryptedStore) keep every auto
/// trait of `S` (LDK's store test helpers require `RefUnwindSafe`); a source that holds its
/// state in a `Mutex` or atomics has them.
pub trait RandomSource: Send + Sync + UnwindSafe + RefUnwindSafe {
    /// Fills `dest` with random bytes, or fails without filling it.
    fn fill(&self, dest: &mut [u8]) -> Result<(), RandomError>;
}

/// The operating system's CSPRNG (`getrandom`), read afresh for every value.
#[derive(Debug, Clone, Copy, Default)]
pub struct OsRandom;

impl RandomSource for OsRandom {
    fn fill(&self, dest: &mut [u8]) -> Result<(), RandomError> {
        rand::rngs::SysRng
            .try_fill_bytes(dest)
            .map_err(|e| RandomError::new(e.to_string()))
    }
}

pub(crate) type SharedRandom = Arc<dyn RandomSource>;

pub(crate) fn os() -> SharedRandom {
    Arc::new(OsRandom)
}
