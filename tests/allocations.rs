//! Allocation counts of the write and read paths, counted by a global allocator wrapper:
//! a write allocates one buffer the size of the value, the record (the caller's buffer is
//! freed), and a few bytes of bookkeeping whatever the value's size; a read allocates nothing
//! the size of the value (it is decrypted in place in the buffer the inner store returned).
//! Counts are deterministic, so this is a test; times are not, so the benches report those.
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

/// Bytes the record path may allocate besides the record, whatever the value's size (the
/// freshness bookkeeping of a key and its names).
const BOOKKEEPING: usize = 512;

/// Checks that a write region allocated the record (`n + RECORD_OVERHEAD` bytes) and at most
/// [`BOOKKEEPING`] bytes besides, reallocated nothing, and did not keep the value's buffer.
fn check_write(what: &str, n: usize, s: stats_alloc::Stats) {
    let record = n + RECORD_OVERHEAD;
    assert_eq!(s.reallocations, 0, "{what} of {n} bytes: {s:?}");
    assert!(
        s.bytes_allocated >= record && s.bytes_allocated <= record + BOOKKEEPING,
        "{what} of {n} bytes: {s:?}"
    );
    // The caller's buffer (the value) was freed: no more than the record's overhead and the
    // bookkeeping stays live.
    let net = s.bytes_allocated as isize - s.bytes_deallocated as isize;
    assert!(
        net <= (RECORD_OVERHEAD + BOOKKEEPING) as isize,
        "{what} of {n} bytes, net bytes {net}: {s:?}"
    );
}

/// Checks that a read region allocated nothing the size of the value and reallocated nothing.
fn check_read(what: &str, n: usize, s: stats_alloc::Stats) {
    assert_eq!(s.reallocations, 0, "{what} of {n} bytes: {s:?}");
    assert!(
        s.bytes_allocated <= BOOKKEEPING,
        "{what} of {n} bytes: {s:?}"
    );
}

fn value(n: usize, spare: usize) -> Vec<u8> {
    let mut v = Vec::with_capacity(n + spare);
    v.extend((0..n).map(|i| (i * 13 + 1) as u8));
    v
}

fn sync_paths(store: &EncryptedStore<Slot>) {
    for n in SIZES {
        for spare in [0, RECORD_OVERHEAD] {
            // Exact capacity (what LDK's serialisers usually hand over) or room to spare: the
            // record is one new buffer either way.
            let v = value(n, spare);
            let reg = Region::new(GLOBAL);
            KVStoreSync::write(store, P, "", K, v).unwrap();
            check_write("write", n, reg.change());

            // Read: the value is decrypted where the inner store put the record.
            let reg = Region::new(GLOBAL);
            let back = KVStoreSync::read(store, P, "", K).unwrap();
            check_read("read", n, reg.change());
            assert_eq!(back, value(n, 0));
        }
    }
}

/// Bytes the asynchronous record path may allocate besides the record and owned copies of
/// the names (its futures and the freshness bookkeeping), whatever the value's size.
const ASYNC_BOOKKEEPING: usize = 2048;

/// The async paths allocate their futures and owned copies of the three names, and a write
/// its record, never anything else the size of the value.
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
        let record = n + RECORD_OVERHEAD;
        assert!(
            w.bytes_allocated >= record
                && w.bytes_allocated <= record + 2 * (P.len() + K.len()) + ASYNC_BOOKKEEPING,
            "async write of {n} bytes: {w:?}"
        );

        let reg = Region::new(GLOBAL);
        let back = rt.block_on(KVStore::read(store, P, "", K)).unwrap();
        let r = reg.change();
        assert_eq!(r.reallocations, 0, "async read of {n} bytes: {r:?}");
        assert!(
            r.bytes_allocated <= 2 * (P.len() + K.len()) + ASYNC_BOOKKEEPING,
            "async read of {n} bytes: {r:?}"
        );
        assert_eq!(back, value(n, 0));
    }
}

fn main() {
    let store = encrypted_kvstore::OpenOptions::new()
        .create_with_key(Slot::default(), &RawKey::from_bytes([3; 32]))
        .unwrap();
    // The header write left the header in the slot; clear it.
    assert_eq!(
        store.inner().0.lock().unwrap().take().map(|h| h.len()),
        Some(308)
    );
    // The first write of a key sets up its freshness state (once per namespace and key, not
    // per write); counted from the second write on.
    KVStoreSync::write(&store, P, "", K, Vec::new()).unwrap();
    KVStoreSync::read(&store, P, "", K).unwrap();
    sync_paths(&store);
    async_paths(&store);
    println!("allocations: write and read paths allocate only what the AEAD needs");
}
