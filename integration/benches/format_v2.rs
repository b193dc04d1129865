//! What the store's options cost against a store with the default options (names in clear,
//! values unpadded: "plain"), as ratios measured in one run:
//!
//! 1. the record path over `MemoryStore`, write and read, 64 B to 1 MiB: encrypted names,
//!    padding, both, each against plain;
//! 2. over LDK's `FilesystemStore` (fsync on every write), 1 KiB and 64 KiB: names and padding
//!    against plain;
//! 3. `list` of a namespace of 1,000 keys, against plain listed by the instance that wrote the
//!    keys (every key's watermark checked): plain reopened (no watermark), and the same with
//!    encrypted names (every key decoded); and each against the inner `MemoryStore`'s own
//!    `list` of the same keys (targets: 1.3 plain, 3 with encrypted names);
//! 4. LDK's `MonitorUpdatingPersister` pattern over `MemoryStore`: 99 updates written to
//!    `monitor_updates/<monitor>/<id>`, the full monitor written, the 101 ids of the range
//!    removed lazily, as ldk-node does (`maximum_pending_updates` = 100); cost per cycle, names
//!    and padding against plain, and each against the same cycle on `MemoryStore` with the
//!    bare AEAD sealing every value into a new buffer (target 1.10).
//!
//! Each comparison is measured twice: by criterion, the variants back to back in one group
//! (ratio of medians), and interleaved, the variants taking turns batch by batch in rotating
//! order (median of the per-round ratios), which drift between the variants cannot bias.
//! Interleaved passes run only for cells criterion measured (a filter skips both).
//!
//! `cargo bench --bench format_v2 [--features ring] -- --warm-up-time 1 --measurement-time 3`
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[path = "support/bare.rs"]
mod bare;
#[path = "support/mod.rs"]
mod support;

use std::cell::Cell;

use bare::Bare;
use criterion::measurement::WallTime;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion};
use encrypted_kvstore::ldk::{InnerStore, V0_2};
use encrypted_kvstore::{
    Credential, EncryptedStore, MemoryStore, OpenOptions, OsRandom, RandomSource, RawKey,
    RESERVED_PRIMARY_NAMESPACE,
};
use lightning::util::persist::{KVStoreSync, MigratableKVStore};
use lightning_persister::fs_store::FilesystemStore;
use support::{
    batch_for, fmt_time, fresh, interleave, median_ratio, report, value, Recorder, ROUNDS,
};

const P: &str = "monitors";
const K: &str = "0101010101010101010101010101010101010101010101010101010101010101_0";
/// Rounds of the interleaved pass of writes to `FilesystemStore` (others: [`ROUNDS`]).
const FS_WRITE_ROUNDS: usize = 200;
/// The store options compared. Plain is what `OpenOptions::new()` creates; every store is
/// checked to have the options it stands for, so a change of default cannot turn the plain
/// column into a second column of another variant unnoticed.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Variant {
    Plain,
    Names,
    Padding,
    NamesPadding,
}

impl Variant {
    fn label(self) -> &'static str {
        match self {
            Variant::Plain => "plain",
            Variant::Names => "names",
            Variant::Padding => "padding",
            Variant::NamesPadding => "names_padding",
        }
    }

    fn options(self) -> OpenOptions {
        let o = OpenOptions::new();
        match self {
            Variant::Plain => o,
            Variant::Names => o.encrypt_names(),
            Variant::Padding => o.pad_values(),
            Variant::NamesPadding => o.encrypt_names().pad_values(),
        }
    }

    fn check(self, info: encrypted_kvstore::StoreInfo) {
        let (names, padded) = match self {
            Variant::Plain => (false, false),
            Variant::Names => (true, false),
            Variant::Padding => (false, true),
            Variant::NamesPadding => (true, true),
        };
        assert_eq!(
            (info.names_encrypted, info.values_padded),
            (names, padded),
            "{} store has the wrong format",
            self.label()
        );
    }
}

fn key() -> RawKey {
    RawKey::from_bytes([7; 32])
}

fn create<S: InnerStore<V0_2>>(v: Variant, inner: S) -> EncryptedStore<S> {
    let store = v
        .options()
        .create::<V0_2, S>(inner, Credential::raw_key(&key()))
        .unwrap();
    v.check(store.info());
    store
}

/// The size of the one record a store over `inner` holds besides its header.
fn record_len(inner: &MemoryStore) -> usize {
    let keys = MigratableKVStore::list_all_keys(inner).unwrap();
    let mut data = keys
        .iter()
        .filter(|(p, _, _)| p.as_str() != RESERVED_PRIMARY_NAMESPACE);
    let (p, s, k) = data.next().unwrap();
    assert!(data.next().is_none());
    KVStoreSync::read(inner, p, s, k).unwrap().len()
}

/// Criterion's write and read of a value of `size` through each variant's store, in that order.
/// The value is written again before its reads (a filter may have skipped the writes) and read
/// back once to check it.
fn write_and_read<S: KVStoreSync>(
    rec: &Recorder,
    g: &mut BenchmarkGroup<'_, WallTime>,
    variants: &[Variant],
    stores: &[EncryptedStore<S>],
    (n, label): (usize, &str),
    v: &[u8],
) {
    for (var, store) in variants.iter().zip(stores) {
        rec.bench(
            g,
            &format!("write_{}", var.label()),
            label,
            n,
            || fresh(v),
            |buf| KVStoreSync::write(store, P, "", K, buf).unwrap(),
        );
    }
    for (var, store) in variants.iter().zip(stores) {
        KVStoreSync::write(store, P, "", K, fresh(v)).unwrap();
        rec.bench(
            g,
            &format!("read_{}", var.label()),
            label,
            n,
            || (),
            |()| KVStoreSync::read(store, P, "", K).unwrap(),
        );
        assert_eq!(KVStoreSync::read(store, P, "", K).unwrap(), v);
    }
}

const RECORD_SIZES: [(usize, &str); 4] = [
    (64, "64B"),
    (1 << 10, "1KiB"),
    (64 << 10, "64KiB"),
    (1 << 20, "1MiB"),
];

/// Part 1: the record path over `MemoryStore`.
fn record(c: &mut Criterion) {
    let rec = Recorder::default();
    let variants = [
        Variant::Plain,
        Variant::Names,
        Variant::Padding,
        Variant::NamesPadding,
    ];
    let stores: Vec<_> = variants
        .iter()
        .map(|&v| create(v, MemoryStore::new()))
        .collect();
    let mut g = c.benchmark_group("v2_record");
    for (n, label) in RECORD_SIZES {
        g.sample_size(if n >= 1 << 20 { 10 } else { 50 });
        let v = value(n);
        write_and_read(&rec, &mut g, &variants, &stores, (n, label), &v);
    }
    g.finish();

    println!(
        "\nbackend: {}",
        if cfg!(feature = "ring") {
            "ring"
        } else {
            "chacha20poly1305"
        }
    );
    for (n, label) in RECORD_SIZES {
        let v = value(n);
        let lens: Vec<String> = stores
            .iter()
            .zip(&variants)
            .map(|(s, var)| {
                KVStoreSync::write(s, P, "", K, fresh(&v)).unwrap();
                format!("{} {} B", var.label(), record_len(s.inner()))
            })
            .collect();
        println!("SIZE record of a {label} value: {}", lens.join(", "));
        for op in ["write", "read"] {
            let base = format!("{op}_plain/{label}");
            let inter = rec.median(&base).map(|t| {
                let batch = batch_for(t);
                if op == "write" {
                    interleave(
                        variants.len(),
                        ROUNDS,
                        batch,
                        |_| fresh(&v),
                        |i, buf| KVStoreSync::write(&stores[i], P, "", K, buf).unwrap(),
                    )
                } else {
                    interleave(
                        variants.len(),
                        ROUNDS,
                        batch,
                        |_| (),
                        |i, ()| KVStoreSync::read(&stores[i], P, "", K).unwrap(),
                    )
                }
            });
            for (i, var) in variants.iter().enumerate().skip(1) {
                report(
                    &rec,
                    &format!("record {op} {label}, {} / plain", var.label()),
                    &format!("{op}_{}/{label}", var.label()),
                    &base,
                    inter.as_ref().map(|t| (median_ratio(t, i, 0), ROUNDS)),
                    None,
                );
            }
        }
    }
}

/// Part 2: over LDK's `FilesystemStore`.
fn filesystem(c: &mut Criterion) {
    let rec = Recorder::default();
    let variants = [Variant::Plain, Variant::NamesPadding];
    let dirs: Vec<_> = variants
        .iter()
        .map(|_| tempfile::tempdir().unwrap())
        .collect();
    let stores: Vec<_> = variants
        .iter()
        .zip(&dirs)
        .map(|(&v, d)| create(v, FilesystemStore::new(d.path().to_path_buf())))
        .collect();
    let sizes = [(1usize << 10, "1KiB"), (64 << 10, "64KiB")];
    let mut g = c.benchmark_group("v2_filesystem");
    g.sample_size(20);
    for (n, label) in sizes {
        let v = value(n);
        write_and_read(&rec, &mut g, &variants, &stores, (n, label), &v);
    }
    g.finish();

    for (n, label) in sizes {
        let v = value(n);
        for op in ["write", "read"] {
            let base = format!("{op}_plain/{label}");
            let rounds = if op == "write" {
                FS_WRITE_ROUNDS
            } else {
                ROUNDS
            };
            let inter = rec.median(&base).map(|t| {
                if op == "write" {
                    // One fsync'd write a turn.
                    interleave(
                        variants.len(),
                        rounds,
                        1,
                        |_| fresh(&v),
                        |i, buf| KVStoreSync::write(&stores[i], P, "", K, buf).unwrap(),
                    )
                } else {
                    interleave(
                        variants.len(),
                        rounds,
                        batch_for(t),
                        |_| (),
                        |i, ()| KVStoreSync::read(&stores[i], P, "", K).unwrap(),
                    )
                }
            });
            if let Some(t) = &inter {
                let medians: Vec<String> = variants
                    .iter()
                    .enumerate()
                    .map(|(i, var)| {
                        let mut x = t[i].clone();
                        x.sort_by(f64::total_cmp);
                        format!("{} {}", var.label(), fmt_time(x[x.len() / 2]))
                    })
                    .collect();
                println!(
                    "TIME filesystem {op} {label}, interleaved medians: {}",
                    medians.join(", ")
                );
            }
            for (i, var) in variants.iter().enumerate().skip(1) {
                report(
                    &rec,
                    &format!("filesystem {op} {label}, {} / plain", var.label()),
                    &format!("{op}_{}/{label}", var.label()),
                    &base,
                    inter.as_ref().map(|t| (median_ratio(t, i, 0), rounds)),
                    None,
                );
            }
        }
    }
}

/// Keys in the listed namespace.
const LIST_KEYS: usize = 1000;

/// Part 3: `list` of a namespace of 1,000 keys.
fn list(c: &mut Criterion) {
    let rec = Recorder::default();
    // (label, format, reopened: listed by a new instance that holds no watermark).
    let cases = [
        ("plain", Variant::Plain, false),
        ("plain_reopened", Variant::Plain, true),
        ("names", Variant::Names, false),
        ("names_reopened", Variant::Names, true),
    ];
    let keys: Vec<String> = (0..LIST_KEYS).map(|i| format!("{i:064x}")).collect();
    let stores: Vec<_> = cases
        .iter()
        .map(|&(_, v, reopen)| {
            let store = create(v, MemoryStore::new());
            for k in &keys {
                KVStoreSync::write(&store, "payments", "", k, vec![1; 100]).unwrap();
            }
            if !reopen {
                return store;
            }
            let store = OpenOptions::new()
                .open::<V0_2, _>(store.into_inner(), Credential::raw_key(&key()))
                .unwrap();
            v.check(store.info());
            store
        })
        .collect();
    for s in &stores {
        let mut listed = KVStoreSync::list(s, "payments", "").unwrap();
        listed.sort();
        assert_eq!(listed, keys);
    }
    // The inner store of the plain store holds the same 1,000 keys under the same names.
    let inner = stores[0].inner();
    let list_of = |i: usize| {
        if i < stores.len() {
            KVStoreSync::list(&stores[i], "payments", "").unwrap()
        } else {
            KVStoreSync::list(inner, "payments", "").unwrap()
        }
    };
    assert_eq!(list_of(stores.len()).len(), LIST_KEYS);
    let mut g = c.benchmark_group("v2_list");
    g.sample_size(50);
    for (i, (label, _, _)) in cases.iter().enumerate() {
        rec.bench(
            &mut g,
            &format!("list_{label}"),
            "1000keys",
            LIST_KEYS * 64,
            || (),
            |()| list_of(i),
        );
    }
    rec.bench(
        &mut g,
        "list_inner",
        "1000keys",
        LIST_KEYS * 64,
        || (),
        |()| list_of(stores.len()),
    );
    g.finish();

    let base = "list_plain/1000keys";
    let inter = rec.median(base).map(|t| {
        interleave(
            cases.len() + 1,
            ROUNDS,
            batch_for(t),
            |_| (),
            |i, ()| list_of(i),
        )
    });
    for (i, (label, _, _)) in cases.iter().enumerate().skip(1) {
        report(
            &rec,
            &format!("list {LIST_KEYS} keys, {label} / plain"),
            &format!("list_{label}/1000keys"),
            base,
            inter.as_ref().map(|t| (median_ratio(t, i, 0), ROUNDS)),
            None,
        );
    }
    for (i, (label, v, _)) in cases.iter().enumerate() {
        let target = if *v == Variant::Names { 3.0 } else { 1.3 };
        report(
            &rec,
            &format!("list {LIST_KEYS} keys, {label} / inner MemoryStore"),
            &format!("list_{label}/1000keys"),
            "list_inner/1000keys",
            inter
                .as_ref()
                .map(|t| (median_ratio(t, i, cases.len()), ROUNDS)),
            Some(target),
        );
    }
}

/// ldk-node's `maximum_pending_updates` (`PERSISTER_MAX_PENDING_UPDATES`).
const MAX_PENDING: u64 = 100;
const UPDATES: &str = "monitor_updates";
const MONITOR: &str = "0202020202020202020202020202020202020202020202020202020202020202_1";

/// One cycle of `MonitorUpdatingPersister` for one monitor from update id `base`: updates
/// `base + 1 .. base + 100` written one by one, the full monitor written at `base + 100`, then
/// the ids `base ..= base + 100` removed lazily (`cleanup_in_range`).
fn cycle(store: &EncryptedStore<MemoryStore>, base: &Cell<u64>, update: &[u8], monitor: &[u8]) {
    let b = base.get();
    for id in b + 1..b + MAX_PENDING {
        KVStoreSync::write(store, UPDATES, MONITOR, &id.to_string(), fresh(update)).unwrap();
    }
    KVStoreSync::write(store, P, "", MONITOR, fresh(monitor)).unwrap();
    for id in b..=b + MAX_PENDING {
        KVStoreSync::remove(store, UPDATES, MONITOR, &id.to_string(), true).unwrap();
    }
    base.set(b + MAX_PENDING);
}

/// A fresh nonce from the same OS source the library uses.
fn nonce() -> [u8; 24] {
    let mut n = [0u8; 24];
    OsRandom.fill(&mut n).unwrap();
    n
}

/// The same cycle on `MemoryStore` with the bare AEAD: each value sealed into a new buffer
/// (what an allocating `encrypt` does) under associated data of the record's shape, the removes
/// passed through.
fn bare_cycle(inner: &MemoryStore, bare: &Bare, base: &Cell<u64>, update: &[u8], monitor: &[u8]) {
    let ad = [0x5au8; 27 + 1 + 4 + 8 + 16 + 12 + 15 + 66 + 20];
    let seal = |v: &[u8]| {
        let mut ct = Vec::with_capacity(v.len() + 16);
        ct.extend_from_slice(v);
        let tag = bare.seal(&nonce(), &ad, &mut ct);
        ct.extend_from_slice(&tag);
        ct
    };
    let b = base.get();
    for id in b + 1..b + MAX_PENDING {
        let ct = seal(&fresh(update));
        KVStoreSync::write(inner, UPDATES, MONITOR, &id.to_string(), ct).unwrap();
    }
    KVStoreSync::write(inner, P, "", MONITOR, seal(&fresh(monitor))).unwrap();
    for id in b..=b + MAX_PENDING {
        KVStoreSync::remove(inner, UPDATES, MONITOR, &id.to_string(), true).unwrap();
    }
    base.set(b + MAX_PENDING);
}

/// Part 4: LDK's monitor-update pattern.
fn monitor_updates(c: &mut Criterion) {
    let rec = Recorder::default();
    let variants = [Variant::Plain, Variant::NamesPadding];
    let stores: Vec<_> = variants
        .iter()
        .map(|&v| create(v, MemoryStore::new()))
        .collect();
    let inner = MemoryStore::new();
    let bare = Bare::new([9u8; 32]);
    // One base per variant, the last for the bare cycle.
    let bases: Vec<Cell<u64>> = (0..=variants.len()).map(|_| Cell::new(0)).collect();
    let run = |i: usize, update: &[u8], monitor: &[u8]| {
        if i < stores.len() {
            cycle(&stores[i], &bases[i], update, monitor)
        } else {
            bare_cycle(&inner, &bare, &bases[i], update, monitor)
        }
    };
    // Sizes LDK 0.2.7 wrote in this crate's LDK test (BENCHMARKS.md, "Padding overhead"): a
    // monitor update after a payment, a channel monitor after one payment.
    let update = value(532);
    let monitor = value(6147);
    let mut g = c.benchmark_group("v2_monitor_updates");
    g.sample_size(50);
    for (i, var) in variants.iter().enumerate() {
        rec.bench(
            &mut g,
            &format!("cycle_{}", var.label()),
            "100updates",
            64 << 10,
            || (),
            |()| run(i, &update, &monitor),
        );
    }
    rec.bench(
        &mut g,
        "cycle_inner_plus_aead",
        "100updates",
        64 << 10,
        || (),
        |()| run(variants.len(), &update, &monitor),
    );
    g.finish();
    // Nothing accumulates: after the last cycle only the monitor (and the header) is left (and
    // only the header if a filter skipped the cycles).
    for s in &stores {
        assert!(s.inner().len() <= 2);
    }
    assert!(inner.len() <= 1);

    let base = "cycle_plain/100updates";
    let inter = rec.median(base).map(|t| {
        interleave(
            variants.len() + 1,
            ROUNDS,
            batch_for(t),
            |_| (),
            |i, ()| run(i, &update, &monitor),
        )
    });
    let what = "monitor-update cycle (99 writes, 1 monitor write, 101 lazy removes)";
    for (i, var) in variants.iter().enumerate().skip(1) {
        report(
            &rec,
            &format!("{what}, {} / plain", var.label()),
            &format!("cycle_{}/100updates", var.label()),
            base,
            inter.as_ref().map(|t| (median_ratio(t, i, 0), ROUNDS)),
            None,
        );
    }
    for (i, var) in variants.iter().enumerate() {
        report(
            &rec,
            &format!("{what}, {} / (MemoryStore + bare AEAD)", var.label()),
            &format!("cycle_{}/100updates", var.label()),
            "cycle_inner_plus_aead/100updates",
            inter
                .as_ref()
                .map(|t| (median_ratio(t, i, variants.len()), ROUNDS)),
            Some(1.10),
        );
    }
}

criterion_group!(benches, record, filesystem, list, monitor_updates);
criterion_main!(benches);
