//! SplitMix64, the one deterministic random source of the test suite and of the fuzz fixtures
//! (`fuzz/src/lib.rs` includes this file by path).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use encrypted_kvstore::{OpenOptions, RandomError, RandomSource};

/// SplitMix64 over a counter: reproducible bytes for the stores under test and for the pinned
/// test vectors (their generator must reproduce them byte for byte). Never a source for real
/// data.
pub struct SplitMix(pub AtomicU64);

impl RandomSource for SplitMix {
    fn fill(&self, dest: &mut [u8]) -> Result<(), RandomError> {
        for chunk in dest.chunks_mut(8) {
            let mut z = self
                .0
                .fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed)
                .wrapping_add(0x9E37_79B9_7F4A_7C15);
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^= z >> 31;
            chunk.copy_from_slice(&z.to_le_bytes()[..chunk.len()]);
        }
        Ok(())
    }
}

/// Options whose random stream (salts, store ids, nonces) depends only on `seed`.
pub fn seeded_options(seed: u64) -> OpenOptions {
    OpenOptions::new().random_source_for_tests_only(Arc::new(SplitMix(AtomicU64::new(seed))))
}
