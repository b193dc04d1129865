//! What the freshness anchor costs: a version 2 `EncryptedStore<FilesystemStore>` with a
//! `StoreAnchor` over a second `FilesystemStore` (both on this machine's disk, LDK's fsync on
//! every write), against the same store without an anchor. 1 KiB and 64 KiB overwrites of one
//! key, LDK's monitor-update cycle (write update `n`, lazily remove `n - 1`), and a write plus
//! remove of a payment. And the anchor's floor: an anchored write against the same unanchored
//! write followed by one bare anchor write of an entry's size (what an anchored write cannot
//! avoid), interleaved.
//!
//! `cargo bench --bench anchor -- --warm-up-time 1 --measurement-time 3`
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[path = "support/mod.rs"]
mod support;

use std::cell::Cell;

use criterion::{criterion_group, criterion_main, Criterion};
use encrypted_kvstore::{
    Credential, EncryptedStore, FreshnessAnchor, OpenOptions, RawKey, StoreAnchor,
};
use lightning::util::persist::KVStoreSync;
use lightning_persister::fs_store::FilesystemStore;
use support::{fresh, interleaved_median, value, Recorder};

const P: &str = "monitors";
const K: &str = "0101010101010101010101010101010101010101010101010101010101010101_0";
/// Alternating operation pairs for the drift-free ratio.
const PAIRS: usize = 200;

type Store = EncryptedStore<FilesystemStore>;

fn store(dir: &std::path::Path, anchor: Option<&std::path::Path>) -> Store {
    let mut opts = OpenOptions::new();
    if let Some(a) = anchor {
        opts = opts.anchor(StoreAnchor::new(FilesystemStore::new(a.to_path_buf())));
    }
    opts.create(
        FilesystemStore::new(dir.to_path_buf()),
        Credential::raw_key(&RawKey::from_bytes([7; 32])),
    )
    .unwrap()
}

/// One monitor-update cycle: write update `n` of the monitor, lazily remove update `n - 1`.
fn cycle(s: &Store, n: &Cell<u64>, v: &[u8]) {
    let i = n.get();
    n.set(i + 1);
    KVStoreSync::write(s, "monitor_updates", K, &i.to_string(), v.to_vec()).unwrap();
    if i > 0 {
        KVStoreSync::remove(s, "monitor_updates", K, &(i - 1).to_string(), true).unwrap();
    }
}

/// A payment written and then removed (not lazily).
fn payment(s: &Store, n: &Cell<u64>, v: &[u8]) {
    let i = n.get();
    n.set(i + 1);
    let k = format!("{i:016x}");
    KVStoreSync::write(s, "payments", "", &k, v.to_vec()).unwrap();
    KVStoreSync::remove(s, "payments", "", &k, false).unwrap();
}

fn anchor(c: &mut Criterion) {
    let rec = Recorder::default();
    let mut g = c.benchmark_group("anchor");
    g.sample_size(20);
    let (d_plain, d_anch, d_anchor) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let plain = store(d_plain.path(), None);
    let anch = store(d_anch.path(), Some(d_anchor.path()));
    for s in [&plain, &anch] {
        for i in 0..32 {
            KVStoreSync::write(s, P, "", &format!("{i:064x}_0"), vec![1; 100]).unwrap();
        }
    }
    for (n, label) in [(1usize << 10, "1KiB"), (64 << 10, "64KiB")] {
        let v = value(n);
        for (name, s) in [("write_v2", &plain), ("write_v2_anchored", &anch)] {
            rec.bench(
                &mut g,
                name,
                label,
                n,
                || fresh(&v),
                |buf| KVStoreSync::write(s, P, "", K, buf).unwrap(),
            );
        }
    }
    let v = value(700);
    let (n_plain, n_anch) = (Cell::new(0), Cell::new(0));
    rec.bench(
        &mut g,
        "update_cycle_v2",
        "700B",
        700,
        || (),
        |()| cycle(&plain, &n_plain, &v),
    );
    rec.bench(
        &mut g,
        "update_cycle_v2_anchored",
        "700B",
        700,
        || (),
        |()| cycle(&anch, &n_anch, &v),
    );
    let (p_plain, p_anch) = (Cell::new(0), Cell::new(0));
    rec.bench(
        &mut g,
        "payment_v2",
        "700B",
        700,
        || (),
        |()| payment(&plain, &p_plain, &v),
    );
    rec.bench(
        &mut g,
        "payment_v2_anchored",
        "700B",
        700,
        || (),
        |()| payment(&anch, &p_anch, &v),
    );
    g.finish();

    // Both sides alternately, operation by operation: the median of per-pair ratios, which
    // drift in fsync times cannot bias.
    for (n, label) in [(1usize << 10, "1KiB"), (64 << 10, "64KiB")] {
        let v = value(n);
        let r = interleaved_median(
            PAIRS,
            || (fresh(&v), fresh(&v)),
            |a| KVStoreSync::write(&anch, P, "", K, a).unwrap(),
            |b| KVStoreSync::write(&plain, P, "", K, b).unwrap(),
        );
        println!(
            "RATIO anchor write {label}, interleaved, anchored / not anchored ({PAIRS} pairs, \
             median of per-pair ratios): {r:.3}"
        );
    }
    // The floor: an unanchored write plus one bare anchor write of an entry's size (a sealed
    // entry of a monitor key is 24 + 16 + 16 + 3 + 8 + 64 + 2 bytes, rounded up here).
    let bare = StoreAnchor::new(FilesystemStore::new(d_anchor.path().join("bare")));
    let entry = vec![0x5a; 160];
    for (n, label) in [(1usize << 10, "1KiB"), (64 << 10, "64KiB")] {
        let v = value(n);
        let r = interleaved_median(
            PAIRS,
            || (fresh(&v), fresh(&v)),
            |a| KVStoreSync::write(&anch, P, "", K, a).unwrap(),
            |b| {
                KVStoreSync::write(&plain, P, "", K, b).unwrap();
                bare.write("bare", "kentry", &entry).unwrap();
            },
        );
        println!(
            "RATIO anchor write {label}, interleaved, anchored / (not anchored + one bare anchor \
             write) ({PAIRS} pairs, median of per-pair ratios): {r:.3}"
        );
    }
    for label in ["1KiB", "64KiB"] {
        rec.ratio(
            &format!("write {label}: anchored / not anchored"),
            &format!("write_v2_anchored/{label}"),
            &format!("write_v2/{label}"),
            None,
        );
    }
    rec.ratio(
        "monitor-update cycle: anchored / not anchored",
        "update_cycle_v2_anchored/700B",
        "update_cycle_v2/700B",
        None,
    );
    rec.ratio(
        "payment write + hard remove: anchored / not anchored",
        "payment_v2_anchored/700B",
        "payment_v2/700B",
        None,
    );
}

criterion_group!(benches, anchor);
criterion_main!(benches);
