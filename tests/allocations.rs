//! Allocation counts of the write and read paths, counted by a global allocator wrapper:
//! a write allocates at most the one record buffer the AEAD needs (none when the caller's
//! buffer has room for the 45-byte overhead), a read allocates nothing for the value (it is
//! decrypted in place in the buffer the inner store returned). Counts are deterministic, so
//! this is a test; times are not, so the benches report those.
//!
//! Counts are exact at every size and with either AEAD backend (the default and `ring`): the
//! backends seal and open in place and allocate nothing.
//!
//! Runs without the test harness (`harness = false`) so that no other thread allocates while
//! a region is counted.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::alloc::System;

use encrypted_kvstore::{EncryptedStore, RawKey, RECORD_OVERHEAD};
use lightning::util::persist::{KVStore, KVStoreSync};
use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

#[path = "common/slot.rs"]
mod slot;
use slot::Slot;

const P: &str = "monitors";
const K: &str = "0101010101010101010101010101010101010101010101010101010101010101_0";
const SIZES: [usize; 10] = [
    0,
    1,
    64,
    1000,
    1 << 10,
    64 << 10,
    256 << 10,
    (1 << 20) - 1,
    1 << 20,
    4 << 20,
];

/// Checks that a region allocated exactly `value_allocs` buffers of `value_bytes` in all, and
/// reallocated nothing.
fn check(what: &str, n: usize, s: stats_alloc::Stats, value_allocs: usize, value_bytes: usize) {
    assert_eq!(
        (s.allocations, s.reallocations, s.bytes_allocated),
        (value_allocs, 0, value_bytes),
        "{what} of {n} bytes: {s:?}"
    );
}

/// Checks that a region's net change (bytes allocated minus freed) is exactly `expected`.
fn check_net(what: &str, n: usize, s: stats_alloc::Stats, expected: isize) {
    let net = s.bytes_allocated as isize - s.bytes_deallocated as isize;
    assert_eq!(net, expected, "{what} of {n} bytes, net bytes: {s:?}");
}

fn value(n: usize, spare: usize) -> Vec<u8> {
    let mut v = Vec::with_capacity(n + spare);
    v.extend((0..n).map(|i| (i * 13 + 1) as u8));
    v
}

fn sync_paths(store: &EncryptedStore<Slot>) {
    for n in SIZES {
        // Exact capacity (what LDK's serialisers usually hand over): one allocation of the
        // record's exact size, the value copied into it once, nothing reallocated.
        let v = value(n, 0);
        let reg = Region::new(GLOBAL);
        KVStoreSync::write(store, P, "", K, v).unwrap();
        let w = reg.change();
        check("write (exact capacity)", n, w, 1, n + RECORD_OVERHEAD);
        // The caller's buffer was freed; only the record is live.
        check_net("write (exact capacity)", n, w, RECORD_OVERHEAD as isize);

        // Read: the value is decrypted where the inner store put the record; nothing new.
        let reg = Region::new(GLOBAL);
        let back = KVStoreSync::read(store, P, "", K).unwrap();
        let r = reg.change();
        check("read", n, r, 0, 0);
        check_net("read", n, r, 0);
        assert_eq!(back, value(n, 0));
        drop(back);

        // Room for the overhead: sealed in place, no allocation at all.
        let v = value(n, RECORD_OVERHEAD);
        let reg = Region::new(GLOBAL);
        KVStoreSync::write(store, P, "", K, v).unwrap();
        let w = reg.change();
        check("write (spare capacity)", n, w, 0, 0);
        check_net("write (spare capacity)", n, w, 0);
        assert_eq!(KVStoreSync::read(store, P, "", K).unwrap(), value(n, 0));
    }
}

/// The async paths allocate their futures and owned copies of the three names, never anything
/// the size of the value.
fn async_paths(store: &EncryptedStore<Slot>) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    for n in SIZES {
        let v = value(n, RECORD_OVERHEAD);
        let reg = Region::new(GLOBAL);
        rt.block_on(KVStore::write(store, P, "", K, v)).unwrap();
        let w = reg.change();
        assert_eq!(w.reallocations, 0, "async write of {n} bytes: {w:?}");
        assert!(w.bytes_allocated < 512, "async write of {n} bytes: {w:?}");

        let reg = Region::new(GLOBAL);
        let back = rt.block_on(KVStore::read(store, P, "", K)).unwrap();
        let r = reg.change();
        assert_eq!(r.reallocations, 0, "async read of {n} bytes: {r:?}");
        assert!(
            r.bytes_allocated < 2 * (P.len() + K.len()) + 512,
            "async read of {n} bytes: {r:?}"
        );
        assert_eq!(back, value(n, 0));
    }
}

fn main() {
    let store = encrypted_kvstore::OpenOptions::new()
        .format_v1()
        .create_with_key(Slot::default(), &RawKey::from_bytes([3; 32]))
        .unwrap();
    // The header write left the header in the slot; clear it.
    assert_eq!(
        store.inner().0.lock().unwrap().take().map(|h| h.len()),
        Some(180)
    );
    sync_paths(&store);
    async_paths(&store);
    println!("allocations: write and read paths allocate only what the AEAD needs");
}
