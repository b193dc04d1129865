//! Record decryption: arbitrary bytes handed back by the inner store for a key, under a fixed
//! store. Never panics; only the authentic record written for that very key opens, and it opens
//! to the value written.
//!
//! Input: one byte choosing the (primary, secondary, key) triple `i` (modulo their number), one
//! byte choosing the source, then `rest`. Source 255: the inner store returns `rest` itself.
//! Any other source `j`: it returns the fixture's authentic record of triple `j` (modulo) with
//! `rest` XORed over it from the start (bytes past its end are appended), so the target does not
//! depend on the seeds to reach authentic records, moved records and near-misses.
//! Read through both the sync and the async trait.

#![no_main]

use std::sync::OnceLock;

use encrypted_kvstore::ReadError;
use fuzz_fixtures::{alloc_baseline, alloc_peak_since, now, record_fixture, RecordFixture};
use libfuzzer_sys::fuzz_target;
use lightning::io::ErrorKind;
use lightning::util::persist::{KVStore, KVStoreSync};

static FIXTURE: OnceLock<RecordFixture> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let fx = FIXTURE.get_or_init(|| record_fixture().expect("the record fixture builds"));
    let [sel, src, rest @ ..] = data else {
        return;
    };
    let n = fx.triples.len();
    let i = usize::from(*sel) % n;
    let bytes = if *src == 255 {
        rest.to_vec()
    } else {
        let mut rec = fx.records[usize::from(*src) % n].0.clone();
        for (at, x) in rest.iter().enumerate() {
            match rec.get_mut(at) {
                Some(b) => *b ^= x,
                None => rec.push(*x),
            }
        }
        rec
    };
    let bytes = &bytes[..];
    let (p, s, k) = &fx.triples[i];
    let (authentic, value) = &fx.records[i];
    KVStoreSync::write(&fx.inner, p, s, k, bytes.to_vec()).expect("memory store write");

    let base = alloc_baseline();
    let sync = KVStoreSync::read(&fx.store, p, s, k);
    let asyn = now(KVStore::read(&fx.store, p, s, k));
    // Reading copies the record once (and the async path copies the names); nothing grows
    // with anything but the record's length.
    let peak = alloc_peak_since(base);
    assert!(
        peak <= 4 * bytes.len() + 4096,
        "reading a {}-byte record allocated {peak} bytes",
        bytes.len()
    );

    for got in [sync, asyn] {
        match got {
            Ok(v) => {
                assert_eq!(
                    bytes,
                    &authentic[..],
                    "a non-authentic record opened for {i}"
                );
                assert_eq!(&v, value, "the authentic record opened to another value");
            }
            Err(e) => {
                assert_ne!(
                    bytes,
                    &authentic[..],
                    "the authentic record of {i} did not open: {e}"
                );
                assert_eq!(e.kind(), ErrorKind::InvalidData, "{e}");
                let typed = e.get_ref().and_then(|e| e.downcast_ref::<ReadError>());
                assert_eq!(
                    typed,
                    Some(&ReadError::AuthenticationFailed {
                        primary_namespace: p.clone(),
                        secondary_namespace: s.clone(),
                        key: k.clone(),
                    })
                );
            }
        }
    }
});
