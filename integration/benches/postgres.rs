//! What encryption costs over PostgreSQL: `EncryptedStore<PostgresStore>` (format version 2,
//! raw key) against `PostgresStore` alone, both on one server in the same run, writes and reads
//! of one key at 64 B, 1 KiB, 64 KiB and 1 MiB of random bytes (and, apart, of a compressible
//! pattern, which PostgreSQL compresses in the plain store only); and an anchored write (the
//! anchor in a local `FilesystemStore` directory) against an unanchored one. Each ratio is measured twice: from
//! criterion's medians, and interleaved (the two sides alternately, operation by operation,
//! the median of per-pair ratios, which drift in the server's commit times cannot bias).
//!
//! Needs a server: `eval "$(scripts/pg-test-cluster start /tmp/ekv-bench 55470)"`, then
//! `cargo bench --bench postgres`. Without `EKV_PG_PRIMARY` it says so and measures nothing.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[path = "support/mod.rs"]
mod support;

use std::sync::Arc;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use encrypted_kvstore::ldk::V0_2;
use encrypted_kvstore::{
    Credential, EncryptedStore, OpenOptions, OsRandom, RandomSource, RawKey, SharedStore,
    StoreAnchor,
};
use encrypted_kvstore_postgres::{PostgresOptions, PostgresStore};
use lightning::util::persist::KVStoreSync;
use lightning_persister::fs_store::FilesystemStore;
use support::{fresh, interleaved_median, value, Recorder};

/// `n` random bytes: incompressible, as ciphertext is. PostgreSQL compresses values over about
/// 2 KiB (TOAST); a compressible plaintext would give the plain store a saving that no
/// encrypted value can have, measured apart below.
fn random(n: usize) -> Arc<Vec<u8>> {
    let mut v = vec![0; n];
    OsRandom.fill(&mut v).unwrap();
    Arc::new(v)
}

const P: &str = "monitors";
const K: &str = "0101010101010101010101010101010101010101010101010101010101010101_0";
/// Alternating operation pairs for the drift-free ratios.
const PAIRS: usize = 100;

/// The sizes asked about.
const SIZES: [(usize, &str); 4] = [
    (64, "64B"),
    (1 << 10, "1KiB"),
    (64 << 10, "64KiB"),
    (1 << 20, "1MiB"),
];

type Pg = SharedStore<PostgresStore>;

fn connect(url: &str, rt: &tokio::runtime::Runtime, table: &str) -> Pg {
    SharedStore(Arc::new(
        PostgresOptions::new()
            .table(table)
            .connect(url, rt.handle().clone())
            .unwrap(),
    ))
}

fn encrypted(inner: Pg, anchor: Option<&std::path::Path>) -> EncryptedStore<Pg> {
    let mut opts = OpenOptions::new();
    if let Some(dir) = anchor {
        opts = opts.anchor(StoreAnchor::new(FilesystemStore::new(dir.to_path_buf())));
    }
    opts.create::<V0_2, _>(inner, Credential::raw_key(&RawKey::from_bytes([7; 32])))
        .unwrap()
}

fn postgres(c: &mut Criterion) {
    let Ok(url) = std::env::var("EKV_PG_PRIMARY") else {
        println!(
            "postgres bench: EKV_PG_PRIMARY is not set, nothing measured (start a server with \
             scripts/pg-test-cluster start DIR PORT)"
        );
        return;
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let run = std::process::id();
    let plain = connect(&url, &rt, &format!("bench_plain_{run}"));
    let enc = encrypted(connect(&url, &rt, &format!("bench_enc_{run}")), None);
    // The same encrypted store over a table whose `value` column is stored uncompressed
    // (`SET STORAGE EXTERNAL`): PostgreSQL's default compression (pglz) gives up at once on
    // random bytes but, finding matches in a record's first bytes (format, key id, version),
    // runs over the whole sealed value before finding it incompressible.
    let external_table = format!("bench_ext_{run}");
    let enc_external = encrypted(connect(&url, &rt, &external_table), None);
    rt.block_on(async {
        let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(connection);
        client
            .batch_execute(&format!(
                "ALTER TABLE {external_table} ALTER COLUMN value SET STORAGE EXTERNAL"
            ))
            .await
            .unwrap();
    });
    let anchor_dir = tempfile::tempdir().unwrap();
    let anch = encrypted(
        connect(&url, &rt, &format!("bench_anch_{run}")),
        Some(anchor_dir.path()),
    );

    let rec = Recorder::default();
    let mut g = c.benchmark_group("postgres");
    g.sample_size(10);
    g.warm_up_time(Duration::from_millis(500));
    g.measurement_time(Duration::from_secs(2));
    for (n, label) in SIZES {
        let v = random(n);
        KVStoreSync::write(&plain, P, "", K, fresh(&v)).unwrap();
        KVStoreSync::write(&enc, P, "", K, fresh(&v)).unwrap();
        rec.bench_write(&mut g, "write_encrypted", label, &enc, (P, K), &v);
        rec.bench_write(&mut g, "write_plain", label, &plain, (P, K), &v);
        rec.bench_read(&mut g, "read_encrypted", label, &enc, (P, K), n);
        rec.bench_read(&mut g, "read_plain", label, &plain, (P, K), n);
    }
    let v = random(1 << 10);
    KVStoreSync::write(&anch, P, "", K, fresh(&v)).unwrap();
    rec.bench(
        &mut g,
        "write_anchored",
        "1KiB",
        1 << 10,
        || fresh(&v),
        |buf| KVStoreSync::write(&anch, P, "", K, buf).unwrap(),
    );
    g.finish();

    for (n, label) in SIZES {
        interleaved(&enc, &plain, &random(n), label, "random");
    }
    for (n, label) in &SIZES[2..] {
        interleaved(
            &enc_external,
            &plain,
            &random(*n),
            label,
            "random, storage external",
        );
    }
    // The same with a compressible value (a repeating pattern): PostgreSQL compresses the
    // plain value, never the ciphertext.
    for (n, label) in &SIZES[2..] {
        interleaved(&enc, &plain, &value(*n), label, "compressible");
    }
    let v = random(1 << 10);
    let (a1, a2, a) = both_orders(
        || (fresh(&v), fresh(&v)),
        |a| KVStoreSync::write(&anch, P, "", K, a).unwrap(),
        |b| KVStoreSync::write(&enc, P, "", K, b).unwrap(),
    );
    println!(
        "RATIO interleaved 1KiB: write anchored / not anchored {a:.3} ({a1:.3} anchored first, \
         {a2:.3} not anchored first; {PAIRS} pairs each, medians of per-pair ratios)"
    );
    for (_, label) in SIZES {
        for op in ["write", "read"] {
            rec.ratio(
                &format!("{op} {label}: encrypted / plain"),
                &format!("{op}_encrypted/{label}"),
                &format!("{op}_plain/{label}"),
                Some(1.05),
            );
        }
    }
    rec.ratio(
        "write 1KiB: anchored / not anchored",
        "write_anchored/1KiB",
        "write_encrypted/1KiB",
        None,
    );
}

/// Encrypted / plain for `op` on each side, the two sides alternately, each order in turn:
/// `PAIRS` pairs with the encrypted store first, `PAIRS` with the plain store first (the first
/// of a pair can pay for the commit the other one left behind). Returns both medians of
/// per-pair ratios and their geometric mean.
fn both_orders<I>(
    setup: impl Fn() -> (I, I),
    enc: impl Fn(I),
    plain: impl Fn(I),
) -> (f64, f64, f64) {
    let enc_first = interleaved_median(PAIRS, &setup, &enc, &plain);
    let plain_first = 1.0 / interleaved_median(PAIRS, &setup, &plain, &enc);
    (enc_first, plain_first, (enc_first * plain_first).sqrt())
}

/// Writes and reads of `v`, the encrypted store and the plain one alternately.
fn interleaved(enc: &EncryptedStore<Pg>, plain: &Pg, v: &[u8], label: &str, what: &str) {
    let (w1, w2, w) = both_orders(
        || (fresh(v), fresh(v)),
        |a| KVStoreSync::write(enc, P, "", K, a).unwrap(),
        |b| KVStoreSync::write(plain, P, "", K, b).unwrap(),
    );
    let (r1, r2, r) = both_orders(
        || ((), ()),
        |()| drop(KVStoreSync::read(enc, P, "", K).unwrap()),
        |()| drop(KVStoreSync::read(plain, P, "", K).unwrap()),
    );
    println!(
        "RATIO interleaved {label} {what}: write encrypted / plain {w:.3} ({w1:.3} encrypted \
         first, {w2:.3} plain first), read {r:.3} ({r1:.3}, {r2:.3}) ({PAIRS} pairs each, \
         medians of per-pair ratios; target <= 1.05)"
    );
}

criterion_group!(benches, postgres);
criterion_main!(benches);
