//! Question 2, a real store: `EncryptedStore<FilesystemStore>` against `FilesystemStore`
//! alone, 1 KiB and 64 KiB values, write (with LDK's fsync), read (page cache) and list.
//!
//! `cargo bench --bench filesystem -- --warm-up-time 1 --measurement-time 3`
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[path = "support/mod.rs"]
mod support;

use std::time::Instant;

use criterion::{criterion_group, criterion_main, Criterion};
use encrypted_kvstore::{EncryptedStore, RawKey};
use lightning::util::persist::KVStoreSync;
use lightning_persister::fs_store::FilesystemStore;
use support::{fresh, value, Recorder};

const P: &str = "monitors";
/// Alternating write pairs for the drift-free ratio.
const PAIRS: usize = 200;
const K: &str = "0101010101010101010101010101010101010101010101010101010101010101_0";

fn filesystem(c: &mut Criterion) {
    let rec = Recorder::default();
    let mut g = c.benchmark_group("filesystem");
    g.sample_size(20);
    let dir_enc = tempfile::tempdir().unwrap();
    let dir_plain = tempfile::tempdir().unwrap();
    let enc = EncryptedStore::create_with_key(
        FilesystemStore::new(dir_enc.path().to_path_buf()),
        &RawKey::from_bytes([7; 32]),
    )
    .unwrap();
    let plain = FilesystemStore::new(dir_plain.path().to_path_buf());
    // A monitors namespace with a few dozen entries, as a node with channels has.
    for i in 0..32 {
        let k = format!("{i:064x}_0");
        KVStoreSync::write(&enc, P, "", &k, vec![1; 100]).unwrap();
        KVStoreSync::write(&plain, P, "", &k, vec![1; 100]).unwrap();
    }

    for (n, label) in [(1usize << 10, "1KiB"), (64 << 10, "64KiB")] {
        let v = value(n);
        rec.bench(
            &mut g,
            "write_encrypted",
            label,
            n,
            || fresh(&v),
            |buf| KVStoreSync::write(&enc, P, "", K, buf).unwrap(),
        );
        rec.bench(
            &mut g,
            "write_plain",
            label,
            n,
            || fresh(&v),
            |buf| KVStoreSync::write(&plain, P, "", K, buf).unwrap(),
        );
        rec.bench(
            &mut g,
            "read_encrypted",
            label,
            n,
            || (),
            |()| KVStoreSync::read(&enc, P, "", K).unwrap(),
        );
        rec.bench(
            &mut g,
            "read_plain",
            label,
            n,
            || (),
            |()| KVStoreSync::read(&plain, P, "", K).unwrap(),
        );
        assert_eq!(KVStoreSync::read(&enc, P, "", K).unwrap(), *v);
    }
    rec.bench(
        &mut g,
        "list_encrypted",
        "33keys",
        64,
        || (),
        |()| KVStoreSync::list(&enc, P, "").unwrap(),
    );
    rec.bench(
        &mut g,
        "list_plain",
        "33keys",
        64,
        || (),
        |()| KVStoreSync::list(&plain, P, "").unwrap(),
    );
    g.finish();

    // Criterion measures one side after the other, so drift in fsync times between the two
    // shows up as a ratio. Also measure the two sides alternately, write by write, and report
    // the median of the per-pair ratios, which drift cannot bias.
    println!();
    for (n, label) in [(1usize << 10, "1KiB"), (64 << 10, "64KiB")] {
        let v = value(n);
        let mut ratios = Vec::with_capacity(PAIRS);
        for _ in 0..PAIRS {
            let (a, b) = (fresh(&v), fresh(&v));
            let t = Instant::now();
            KVStoreSync::write(&enc, P, "", K, a).unwrap();
            let te = t.elapsed();
            let t = Instant::now();
            KVStoreSync::write(&plain, P, "", K, b).unwrap();
            let tp = t.elapsed();
            ratios.push(te.as_secs_f64() / tp.as_secs_f64());
        }
        ratios.sort_by(f64::total_cmp);
        let r = ratios[ratios.len() / 2];
        let met = if r <= 1.05 { "met" } else { "NOT met" };
        println!(
            "RATIO filesystem write {label}, interleaved ({PAIRS} pairs, median of per-pair \
             ratios): {r:.3}  (target <= 1.05: {met})"
        );
    }
    for label in ["1KiB", "64KiB"] {
        rec.ratio(
            &format!("filesystem write {label}: encrypted / plain"),
            &format!("write_encrypted/{label}"),
            &format!("write_plain/{label}"),
            Some(1.05),
        );
        rec.ratio(
            &format!("filesystem read {label}: encrypted / plain"),
            &format!("read_encrypted/{label}"),
            &format!("read_plain/{label}"),
            None,
        );
    }
    rec.ratio(
        "filesystem list: encrypted / plain",
        "list_encrypted/33keys",
        "list_plain/33keys",
        None,
    );
}

criterion_group!(benches, filesystem);
criterion_main!(benches);
