//! Question 2, a real store: `EncryptedStore<FilesystemStore>` against `FilesystemStore` plus
//! the bare AEAD backend of this build (what the wrapper adds beyond the AEAD itself), 1 KiB
//! and 64 KiB values, write (with LDK's fsync), read (page cache), and list against the plain
//! store.
//!
//! `cargo bench --bench filesystem [--features ring] -- --warm-up-time 1 --measurement-time 3`
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

use bare::Bare;
use criterion::{criterion_group, criterion_main, Criterion};
use encrypted_kvstore::{Credential, EncryptedStore, OsRandom, RandomSource, RawKey};
use lightning::util::persist::KVStoreSync;
use lightning_persister::fs_store::FilesystemStore;
use support::{fresh, interleaved_median, value, Recorder};

const P: &str = "monitors";
/// Alternating write pairs for the drift-free ratio.
const PAIRS: usize = 200;
const K: &str = "0101010101010101010101010101010101010101010101010101010101010101_0";
/// Associated data of the same shape as the wrapper's.
const AD: [u8; 134] = [0x5a; 134];

/// The plain store plus the bare backend: seal into a new buffer with a fresh OS nonce (stored
/// in front, as any user of the bare AEAD must), then write.
fn write_sealed(plain: &FilesystemStore, bare: &Bare, buf: Vec<u8>) {
    let mut nonce = [0u8; 24];
    OsRandom.fill(&mut nonce).unwrap();
    let mut rec = Vec::with_capacity(24 + buf.len() + 16);
    rec.extend_from_slice(&nonce);
    rec.extend_from_slice(&buf);
    drop(buf);
    let tag = bare.seal(&nonce, &AD, &mut rec[24..]);
    rec.extend_from_slice(&tag);
    KVStoreSync::write(plain, P, "", K, rec).unwrap()
}

/// Reads and opens what [`write_sealed`] wrote.
fn read_opened(plain: &FilesystemStore, bare: &Bare) -> Vec<u8> {
    let mut rec = KVStoreSync::read(plain, P, "", K).unwrap();
    let nonce: [u8; 24] = rec[..24].try_into().unwrap();
    let tag_at = rec.len() - 16;
    let tag: [u8; 16] = rec[tag_at..].try_into().unwrap();
    bare.open(&nonce, &AD, &mut rec[24..tag_at], &tag);
    rec.copy_within(24..tag_at, 0);
    rec.truncate(tag_at - 24);
    rec
}

fn filesystem(c: &mut Criterion) {
    let rec = Recorder::default();
    let mut g = c.benchmark_group("filesystem");
    g.sample_size(20);
    let dir_enc = tempfile::tempdir().unwrap();
    let dir_plain = tempfile::tempdir().unwrap();
    let enc = EncryptedStore::create(
        FilesystemStore::new(dir_enc.path().to_path_buf()),
        Credential::raw_key(&RawKey::from_bytes([7; 32])),
    )
    .unwrap();
    let plain = FilesystemStore::new(dir_plain.path().to_path_buf());
    let bare = Bare::new([9; 32]);
    // A monitors namespace with a few dozen entries, as a node with channels has.
    for i in 0..32 {
        let k = format!("{i:064x}_0");
        KVStoreSync::write(&enc, P, "", &k, vec![1; 100]).unwrap();
        KVStoreSync::write(&plain, P, "", &k, vec![1; 100]).unwrap();
    }

    for (n, label) in [(1usize << 10, "1KiB"), (64 << 10, "64KiB")] {
        let v = value(n);
        rec.bench_write(&mut g, "write_encrypted", label, &enc, (P, K), &v);
        rec.bench(
            &mut g,
            "write_plain_plus_aead",
            label,
            n,
            || fresh(&v),
            |buf| write_sealed(&plain, &bare, buf),
        );
        rec.bench_read(&mut g, "read_encrypted", label, &enc, (P, K), n);
        rec.bench(
            &mut g,
            "read_plain_plus_aead",
            label,
            n,
            || (),
            |()| read_opened(&plain, &bare),
        );
        assert_eq!(KVStoreSync::read(&enc, P, "", K).unwrap(), *v);
        assert_eq!(read_opened(&plain, &bare), *v);
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
    println!("\nbackend: {}", Bare::NAME);
    for (n, label) in [(1usize << 10, "1KiB"), (64 << 10, "64KiB")] {
        let v = value(n);
        let r = interleaved_median(
            PAIRS,
            || (fresh(&v), fresh(&v)),
            |a| KVStoreSync::write(&enc, P, "", K, a).unwrap(),
            |b| write_sealed(&plain, &bare, b),
        );
        let met = if r <= 1.05 { "met" } else { "NOT met" };
        println!(
            "RATIO filesystem write {label}, interleaved, encrypted / (plain + bare AEAD) \
             ({PAIRS} pairs, median of per-pair ratios): {r:.3}  (target <= 1.05: {met})"
        );
    }
    for label in ["1KiB", "64KiB"] {
        rec.ratio(
            &format!("filesystem write {label}: encrypted / (plain + bare AEAD)"),
            &format!("write_encrypted/{label}"),
            &format!("write_plain_plus_aead/{label}"),
            Some(1.05),
        );
        rec.ratio(
            &format!("filesystem read {label}: encrypted / (plain + bare AEAD)"),
            &format!("read_encrypted/{label}"),
            &format!("read_plain_plus_aead/{label}"),
            Some(1.05),
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
