//! Allocation counts of the write and read paths, counted by a global allocator wrapper, for
//! each combination of the options (names in clear or encrypted, values unpadded or padded):
//!
//! - a write allocates the record (or, when the caller's buffer has room for it, nothing the
//!   size of the value: the record is sealed there) and a fixed number of small buffers for the
//!   names and the freshness bookkeeping, whatever the value's size; it reallocates nothing and
//!   keeps no copy of the value;
//! - a read allocates nothing the size of the value (it is decrypted where the inner store put
//!   the record) and the same fixed number of small buffers.
//!
//! The counts are exact: a second buffer for the value (padding it apart from the record, say)
//! or buffers a name cipher rebuilt per name would allocate (its associated data, its output)
//! change them. Counts are deterministic, so this is a test; times are not, so the benches
//! report those. They are the same with either AEAD backend (the default and `ring`): the
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

use encrypted_kvstore::{padme, Credential, EncryptedStore, OpenOptions, RawKey, RECORD_OVERHEAD};
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
/// names and the freshness bookkeeping of a key).
const BOOKKEEPING: usize = 512;

/// Small buffers a synchronous write allocates besides the record, whatever the value's size:
/// none. The key's freshness entry was made by its first write and is found by the borrowed
/// names; its ticket names the entry's slot. With names in clear the inner store is handed the
/// caller's names (borrowed); a padded copy of the value, or names copied per write, add to it.
const WRITE_ALLOCS: usize = 0;
/// Small buffers a synchronous read allocates (nothing the size of the value): none. The
/// read's freshness ticket shares the names of the key's entry.
const READ_ALLOCS: usize = 0;
/// What encrypted names add to either: the stored forms of the names, made once per operation
/// (here the primary namespace and the key; an empty secondary namespace is stored empty, and
/// the name cipher allocates nothing else). A name cipher rebuilt per call that allocated its
/// associated data or its output adds to it.
const NAME_ALLOCS: usize = 2;

/// The options of a store.
struct Variant {
    label: &'static str,
    names: bool,
    padding: bool,
}

const VARIANTS: [Variant; 4] = [
    Variant {
        label: "plain",
        names: false,
        padding: false,
    },
    Variant {
        label: "names",
        names: true,
        padding: false,
    },
    Variant {
        label: "padding",
        names: false,
        padding: true,
    },
    Variant {
        label: "names+padding",
        names: true,
        padding: true,
    },
];

impl Variant {
    fn create(&self) -> EncryptedStore<Slot> {
        let mut options = OpenOptions::new();
        if self.names {
            options = options.encrypt_names();
        }
        if self.padding {
            options = options.pad_values();
        }
        let store = options
            .create(
                Slot::default(),
                Credential::raw_key(&RawKey::from_bytes([3; 32])),
            )
            .unwrap();
        let info = store.info();
        assert_eq!(
            (info.names_encrypted, info.values_padded),
            (self.names, self.padding)
        );
        // The header write left the header in the slot; clear it.
        assert!(store.inner().0.lock().unwrap().take().is_some());
        // The first write of a key sets up its freshness state (once per namespace and key,
        // not per write); counted from the second write on.
        KVStoreSync::write(&store, P, "", K, Vec::new()).unwrap();
        KVStoreSync::read(&store, P, "", K).unwrap();
        store
    }

    /// The small buffers an operation that makes `fixed` of them with names in clear makes.
    fn small(&self, fixed: usize) -> usize {
        fixed + if self.names { NAME_ALLOCS } else { 0 }
    }

    /// The length of the record of a value of `n` bytes.
    fn record_len(&self, n: usize) -> usize {
        let sealed = if self.padding {
            padme(8 + n as u64).unwrap() as usize
        } else {
            n
        };
        sealed + RECORD_OVERHEAD
    }
}

fn value(n: usize, spare: usize) -> Vec<u8> {
    let mut v = Vec::with_capacity(n + spare);
    v.extend((0..n).map(|i| (i * 13 + 1) as u8));
    v
}

/// Checks a synchronous write region of a value of `n` bytes, handed over with `capacity`.
fn check_write(var: &Variant, n: usize, capacity: usize, s: stats_alloc::Stats) {
    let what = format!("{} write of {n} bytes (capacity {capacity})", var.label);
    let record = var.record_len(n);
    assert_eq!(s.reallocations, 0, "{what}: {s:?}");
    if capacity >= record {
        // Sealed in the caller's buffer: nothing the size of the value.
        assert_eq!(s.allocations, var.small(WRITE_ALLOCS), "{what}: {s:?}");
        assert!(s.bytes_allocated <= BOOKKEEPING, "{what}: {s:?}");
    } else {
        // One new buffer, the record.
        assert_eq!(s.allocations, var.small(WRITE_ALLOCS) + 1, "{what}: {s:?}");
        assert!(
            s.bytes_allocated >= record && s.bytes_allocated <= record + BOOKKEEPING,
            "{what}: {s:?}"
        );
    }
    // The caller's buffer (the value) was freed or became the record, and the previous record
    // was freed: no more than the bookkeeping stays live.
    let net = s.bytes_allocated as isize - s.bytes_deallocated as isize;
    assert!(
        net <= (record - n + BOOKKEEPING) as isize,
        "{what}, net bytes {net}: {s:?}"
    );
}

/// Checks a synchronous read region: nothing the size of the value, nothing reallocated.
fn check_read(var: &Variant, n: usize, s: stats_alloc::Stats) {
    let what = format!("{} read of {n} bytes", var.label);
    assert_eq!(s.reallocations, 0, "{what}: {s:?}");
    assert_eq!(s.allocations, var.small(READ_ALLOCS), "{what}: {s:?}");
    assert!(s.bytes_allocated <= BOOKKEEPING, "{what}: {s:?}");
}

fn sync_paths(var: &Variant, store: &EncryptedStore<Slot>) {
    for n in SIZES {
        // Exact capacity (what LDK's serialisers usually hand over: the record is one new
        // buffer), room for an unpadded record's overhead, or room for the record itself (it
        // is sealed in the caller's buffer).
        for spare in [0, RECORD_OVERHEAD, var.record_len(n) - n] {
            let v = value(n, spare);
            let capacity = v.capacity();
            let reg = Region::new(GLOBAL);
            KVStoreSync::write(store, P, "", K, v).unwrap();
            check_write(var, n, capacity, reg.change());

            let reg = Region::new(GLOBAL);
            let back = KVStoreSync::read(store, P, "", K).unwrap();
            check_read(var, n, reg.change());
            assert_eq!(back, value(n, 0));
        }
    }
}

/// Bytes the asynchronous record path may allocate besides the record and owned copies of
/// the names (its futures and the freshness bookkeeping), whatever the value's size.
const ASYNC_BOOKKEEPING: usize = 2048;

/// The async paths allocate their futures and owned copies of the three names, and a write
/// its record, never anything else the size of the value.
fn async_paths(var: &Variant, store: &EncryptedStore<Slot>) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let names = 2 * (P.len() + K.len());
    for n in SIZES {
        let v = value(n, 0);
        let reg = Region::new(GLOBAL);
        rt.block_on(KVStore::write(store, P, "", K, v)).unwrap();
        let w = reg.change();
        let what = format!("{} async write of {n} bytes", var.label);
        assert_eq!(w.reallocations, 0, "{what}: {w:?}");
        let record = var.record_len(n);
        assert!(
            w.bytes_allocated >= record && w.bytes_allocated <= record + names + ASYNC_BOOKKEEPING,
            "{what}: {w:?}"
        );

        let reg = Region::new(GLOBAL);
        let back = rt.block_on(KVStore::read(store, P, "", K)).unwrap();
        let r = reg.change();
        let what = format!("{} async read of {n} bytes", var.label);
        assert_eq!(r.reallocations, 0, "{what}: {r:?}");
        assert!(
            r.bytes_allocated <= names + ASYNC_BOOKKEEPING,
            "{what}: {r:?}"
        );
        assert_eq!(back, value(n, 0));
    }
}

fn main() {
    for var in &VARIANTS {
        let store = var.create();
        sync_paths(var, &store);
        async_paths(var, &store);
    }
    println!(
        "allocations: with names in clear or encrypted and values unpadded or padded, a write \
         allocates at most the record and a read nothing the size of the value"
    );
}
