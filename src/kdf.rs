//! Argon2id parameters, their bounds, and key derivation into zeroized memory.

use core::fmt;

use argon2::{Algorithm, Argon2, Block, Params, Version};
use zeroize::{Zeroize, Zeroizing};

/// Argon2id cost parameters for turning a passphrase into a key-encryption key.
///
/// Build them with [`KdfParams::default`] (RFC 9106's second recommended setting:
/// 64 MiB, 3 passes, 4 lanes) or [`KdfParams::new`], which refuses anything weaker than
/// OWASP's minimum (19 MiB, 2 passes, 1 lane) or above [`KdfParams::CEILING_MEMORY_KIB`] and
/// friends. Cheaper parameters exist only through
/// [`KdfParams::insecure_for_tests_only`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct KdfParams {
    memory_kib: u32,
    iterations: u32,
    parallelism: u32,
}

/// A cost parameter was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum KdfParamsError {
    /// Weaker than the documented floor for new stores.
    TooWeak,
    /// Above the documented ceiling (or not accepted by Argon2 itself).
    OutOfBounds,
}

impl fmt::Display for KdfParamsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KdfParamsError::TooWeak => write!(
                f,
                "Argon2id parameters are weaker than the minimum for new stores \
                 (memory >= {} KiB, iterations >= {}, parallelism >= 1)",
                KdfParams::FLOOR_MEMORY_KIB,
                KdfParams::FLOOR_ITERATIONS
            ),
            KdfParamsError::OutOfBounds => write!(
                f,
                "Argon2id parameters are outside the accepted bounds \
                 (memory <= {} KiB, iterations <= {}, memory x iterations <= {} KiB, \
                 1 <= parallelism <= {}, memory >= 8 x parallelism)",
                KdfParams::CEILING_MEMORY_KIB,
                KdfParams::CEILING_ITERATIONS,
                KdfParams::CEILING_WORK_KIB,
                KdfParams::CEILING_PARALLELISM
            ),
        }
    }
}

impl std::error::Error for KdfParamsError {}

impl Default for KdfParams {
    /// RFC 9106's second recommended option: 64 MiB, t = 3, p = 4.
    fn default() -> Self {
        KdfParams {
            memory_kib: 64 * 1024,
            iterations: 3,
            parallelism: 4,
        }
    }
}

impl KdfParams {
    /// Largest memory cost accepted anywhere, in KiB (1 GiB).
    pub const CEILING_MEMORY_KIB: u32 = 1024 * 1024;
    /// Largest number of passes accepted anywhere.
    pub const CEILING_ITERATIONS: u32 = 10;
    /// Largest memory x passes accepted anywhere, in KiB (4 GiB of block work).
    pub const CEILING_WORK_KIB: u64 = 4 * 1024 * 1024;
    /// Largest number of lanes accepted anywhere.
    pub const CEILING_PARALLELISM: u32 = 16;
    /// Smallest memory cost accepted by [`KdfParams::new`], in KiB (OWASP: 19 MiB).
    pub const FLOOR_MEMORY_KIB: u32 = 19 * 1024;
    /// Smallest number of passes accepted by [`KdfParams::new`] (OWASP: 2).
    pub const FLOOR_ITERATIONS: u32 = 2;

    /// Parameters for a new store: at least OWASP's minimum and at most the ceiling.
    pub fn new(memory_kib: u32, iterations: u32, parallelism: u32) -> Result<Self, KdfParamsError> {
        let p = Self::insecure_for_tests_only(memory_kib, iterations, parallelism)?;
        if memory_kib < Self::FLOOR_MEMORY_KIB || iterations < Self::FLOOR_ITERATIONS {
            return Err(KdfParamsError::TooWeak);
        }
        Ok(p)
    }

    /// Parameters with no floor beyond Argon2's own (memory >= 8 KiB per lane, one pass).
    ///
    /// **Never use this for real data**: a cheap KDF makes a stolen store easy to brute-force.
    /// It exists so that tests, fuzzing and test vectors run fast. Stores opened with
    /// [`open`](crate::EncryptedStore::open) accept any parameters within the ceiling, so a
    /// store created this way opens like any other.
    pub fn insecure_for_tests_only(
        memory_kib: u32,
        iterations: u32,
        parallelism: u32,
    ) -> Result<Self, KdfParamsError> {
        let p = KdfParams {
            memory_kib,
            iterations,
            parallelism,
        };
        p.check_bounds()?;
        Ok(p)
    }

    /// Memory cost in KiB.
    pub fn memory_kib(&self) -> u32 {
        self.memory_kib
    }

    /// Number of passes over memory.
    pub fn iterations(&self) -> u32 {
        self.iterations
    }

    /// Number of lanes.
    pub fn parallelism(&self) -> u32 {
        self.parallelism
    }

    /// Builds parameters read from a header; checks the ceiling before anything is allocated.
    pub(crate) fn from_header(
        memory_kib: u32,
        iterations: u32,
        parallelism: u32,
    ) -> Result<Self, KdfParamsError> {
        Self::insecure_for_tests_only(memory_kib, iterations, parallelism)
    }

    fn check_bounds(&self) -> Result<(), KdfParamsError> {
        let ok = self.parallelism >= 1
            && self.parallelism <= Self::CEILING_PARALLELISM
            && self.iterations >= 1
            && self.iterations <= Self::CEILING_ITERATIONS
            && self.memory_kib <= Self::CEILING_MEMORY_KIB
            && u64::from(self.memory_kib) >= 8 * u64::from(self.parallelism)
            && u64::from(self.memory_kib) * u64::from(self.iterations) <= Self::CEILING_WORK_KIB;
        if ok {
            Ok(())
        } else {
            Err(KdfParamsError::OutOfBounds)
        }
    }
}

/// Why a derivation did not produce a key.
#[derive(Debug)]
pub(crate) enum DeriveError {
    /// The working memory could not be allocated.
    OutOfMemory,
    /// Argon2 refused its inputs (cannot happen for checked parameters; kept typed anyway).
    Argon2,
}

/// Argon2id(passphrase, salt) with the given (already bounded) parameters, into a 32-byte key.
/// The working memory is ours, so it is zeroized before it is freed.
pub(crate) fn argon2id(
    params: &KdfParams,
    passphrase: &[u8],
    salt: &[u8],
) -> Result<Zeroizing<[u8; 32]>, DeriveError> {
    params.check_bounds().map_err(|_| DeriveError::Argon2)?;
    let a2params = Params::new(
        params.memory_kib,
        params.iterations,
        params.parallelism,
        Some(32),
    )
    .map_err(|_| DeriveError::Argon2)?;
    let mut blocks = Blocks::new(a2params.block_count())?;
    let mut out = Zeroizing::new([0u8; 32]);
    Argon2::new(Algorithm::Argon2id, Version::V0x13, a2params)
        .hash_password_into_with_memory(passphrase, salt, &mut out[..], &mut blocks.0[..])
        .map_err(|_| DeriveError::Argon2)?;
    Ok(out)
}

/// Argon2's working memory (64 MiB with the default costs), handed to the `argon2` crate
/// through `hash_password_into_with_memory` so that it is ours to zeroize before it is freed.
struct Blocks(Vec<Block>);

impl Blocks {
    fn new(count: usize) -> Result<Self, DeriveError> {
        let mut blocks = Vec::new();
        blocks
            .try_reserve_exact(count)
            .map_err(|_| DeriveError::OutOfMemory)?;
        blocks.resize(count, Block::new());
        Ok(Blocks(blocks))
    }
}

impl Drop for Blocks {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds() {
        assert!(KdfParams::new(64 * 1024, 3, 4).is_ok());
        assert_eq!(
            KdfParams::new(19 * 1024, 2, 1).map(|p| p.memory_kib()),
            Ok(19 * 1024)
        );
        assert_eq!(
            KdfParams::new(19 * 1024 - 1, 2, 1),
            Err(KdfParamsError::TooWeak)
        );
        assert_eq!(
            KdfParams::new(64 * 1024, 1, 1),
            Err(KdfParamsError::TooWeak)
        );
        assert_eq!(
            KdfParams::new(64 * 1024, 3, 0),
            Err(KdfParamsError::OutOfBounds)
        );
        assert_eq!(
            KdfParams::new(KdfParams::CEILING_MEMORY_KIB + 1, 2, 1),
            Err(KdfParamsError::OutOfBounds)
        );
        assert_eq!(
            KdfParams::new(KdfParams::CEILING_MEMORY_KIB, 5, 1),
            Err(KdfParamsError::OutOfBounds)
        );
        assert_eq!(
            KdfParams::new(64 * 1024, 11, 1),
            Err(KdfParamsError::OutOfBounds)
        );
        assert_eq!(
            KdfParams::new(64 * 1024, 3, 17),
            Err(KdfParamsError::OutOfBounds)
        );
        assert_eq!(
            KdfParams::from_header(u32::MAX, u32::MAX, u32::MAX),
            Err(KdfParamsError::OutOfBounds)
        );
        assert_eq!(
            KdfParams::insecure_for_tests_only(7, 1, 1),
            Err(KdfParamsError::OutOfBounds)
        );
        assert!(KdfParams::insecure_for_tests_only(8, 1, 1).is_ok());
        // Memory of at least 8 KiB per lane, checked here (not only by Argon2 at derivation).
        assert_eq!(
            KdfParams::insecure_for_tests_only(31, 1, 4),
            Err(KdfParamsError::OutOfBounds)
        );
        assert!(KdfParams::insecure_for_tests_only(32, 1, 4).is_ok());
        let d = KdfParams::default();
        assert_eq!(
            (d.memory_kib(), d.iterations(), d.parallelism()),
            (65536, 3, 4)
        );
    }

    /// Each error states the bounds it enforces (`OpenError::KdfParamsOutOfBounds` shows the
    /// ceiling's).
    #[test]
    fn errors_state_the_bounds() {
        let weak = KdfParamsError::TooWeak.to_string();
        assert!(
            weak.contains("memory >= 19456 KiB, iterations >= 2"),
            "{weak}"
        );
        let out = KdfParamsError::OutOfBounds.to_string();
        assert!(
            out.contains("memory <= 1048576 KiB, iterations <= 10")
                && out.contains("1 <= parallelism <= 16"),
            "{out}"
        );
    }

    #[test]
    fn argon2id_is_deterministic_and_salted() {
        let p = KdfParams::insecure_for_tests_only(64, 1, 1).unwrap();
        let a = argon2id(&p, b"pw", &[1u8; 16]).unwrap();
        let b = argon2id(&p, b"pw", &[1u8; 16]).unwrap();
        let c = argon2id(&p, b"pw", &[2u8; 16]).unwrap();
        assert_eq!(*a, *b);
        assert_ne!(*a, *c);
    }
}
