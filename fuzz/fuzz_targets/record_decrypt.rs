//! Record decryption: arbitrary bytes handed back by the inner store for a key, under a fixed
//! store. Never panics; only the authentic record written for that very key opens, and it opens
//! to the value written.
//!
//! Input: one byte choosing the (primary, secondary, key) triple (modulo their number), then the
//! bytes the inner store returns for it. Read through both the sync and the async trait.

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
    let Some((&sel, bytes)) = data.split_first() else {
        return;
    };
    let i = usize::from(sel) % fx.triples.len();
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
