//! Allocation counts of the write and read paths, counted by a global allocator wrapper:
//! a write allocates at most the one record buffer the AEAD needs (none when the caller's
//! buffer has room for the 45-byte overhead), a read allocates nothing for the value (it is
//! decrypted in place in the buffer the inner store returned). Counts are deterministic, so
//! this is a test; times are not, so the benches report those.
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
use std::sync::Mutex;

use encrypted_kvstore::{EncryptedStore, RawKey, RECORD_OVERHEAD};
use lightning::io;
use lightning::util::persist::{KVStore, KVStoreSync};
use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// An inner store that allocates nothing itself: it keeps the last record written and hands
/// it back (moved, not copied) on the next read.
#[derive(Default)]
struct Slot(Mutex<Option<Vec<u8>>>);

impl KVStoreSync for Slot {
    fn read(&self, _: &str, _: &str, _: &str) -> Result<Vec<u8>, io::Error> {
        self.0
            .lock()
            .unwrap()
            .take()
            .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))
    }
    fn write(&self, _: &str, _: &str, _: &str, buf: Vec<u8>) -> Result<(), io::Error> {
        *self.0.lock().unwrap() = Some(buf);
        Ok(())
    }
    fn remove(&self, _: &str, _: &str, _: &str, _: bool) -> Result<(), io::Error> {
        Ok(())
    }
    fn list(&self, _: &str, _: &str) -> Result<Vec<String>, io::Error> {
        Ok(Vec::new())
    }
}

impl KVStore for Slot {
    fn read(
        &self,
        p: &str,
        s: &str,
        k: &str,
    ) -> lightning::util::async_poll::AsyncResult<'static, Vec<u8>, io::Error> {
        let r = KVStoreSync::read(self, p, s, k);
        Box::pin(async move { r })
    }
    fn write(
        &self,
        p: &str,
        s: &str,
        k: &str,
        buf: Vec<u8>,
    ) -> lightning::util::async_poll::AsyncResult<'static, (), io::Error> {
        let r = KVStoreSync::write(self, p, s, k, buf);
        Box::pin(async move { r })
    }
    fn remove(
        &self,
        _: &str,
        _: &str,
        _: &str,
        _: bool,
    ) -> lightning::util::async_poll::AsyncResult<'static, (), io::Error> {
        Box::pin(async { Ok(()) })
    }
    fn list(
        &self,
        _: &str,
        _: &str,
    ) -> lightning::util::async_poll::AsyncResult<'static, Vec<String>, io::Error> {
        Box::pin(async { Ok(Vec::new()) })
    }
}

const P: &str = "monitors";
const K: &str = "0101010101010101010101010101010101010101010101010101010101010101_0";
const SIZES: [usize; 7] = [0, 1, 64, 1000, 1 << 10, 64 << 10, 1 << 20];

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
        assert_eq!(
            (w.allocations, w.reallocations, w.bytes_allocated),
            (1, 0, n + RECORD_OVERHEAD),
            "write of {n} bytes (exact capacity): {w:?}"
        );
        // The caller's buffer was freed; only the record is live.
        assert_eq!(w.deallocations, usize::from(n > 0), "{n}: {w:?}");

        // Read: the value is decrypted where the inner store put the record; nothing new.
        let reg = Region::new(GLOBAL);
        let back = KVStoreSync::read(store, P, "", K).unwrap();
        let r = reg.change();
        assert_eq!(
            (r.allocations, r.reallocations, r.deallocations),
            (0, 0, 0),
            "read of {n} bytes: {r:?}"
        );
        assert_eq!(back, value(n, 0));
        drop(back);

        // Room for the overhead: sealed in place, no allocation at all.
        let v = value(n, RECORD_OVERHEAD);
        let reg = Region::new(GLOBAL);
        KVStoreSync::write(store, P, "", K, v).unwrap();
        let w = reg.change();
        assert_eq!(
            (w.allocations, w.reallocations, w.deallocations),
            (0, 0, 0),
            "write of {n} bytes (spare capacity): {w:?}"
        );
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
    let store =
        EncryptedStore::create_with_key(Slot::default(), &RawKey::from_bytes([3; 32])).unwrap();
    // The header write left the header in the slot; clear it.
    assert_eq!(
        store.inner().0.lock().unwrap().take().map(|h| h.len()),
        Some(180)
    );
    sync_paths(&store);
    async_paths(&store);
    println!("allocations: write and read paths allocate only what the AEAD needs");
}
