//! `EncryptedStore<SqliteStore>` (ldk-node's own SQLite store) against `SqliteStore` plus the
//! bare AEAD (`chacha20poly1305`'s XChaCha20-Poly1305 sealing into a new buffer and opening in
//! place), 64 B to 1 MiB, write and read. Prints `encrypted / (sqlite + bare AEAD)` per size
//! from medians measured in this run, a drift-free interleaved write ratio, and the parts a
//! 1 MiB write is made of (SQLite's cost for the `RECORD_OVERHEAD` more bytes of a record, the
//! AEAD alone, our record path alone over a store that costs nothing).
//!
//! `cargo bench --manifest-path ldk-node-tests/Cargo.toml -- --warm-up-time 1 --measurement-time 3`
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

// The library's bench helpers (per-sample recorder, values, a store that costs nothing).
#[path = "../../integration/benches/support/mod.rs"]
mod support;

use std::time::Instant;

use chacha20poly1305::aead::{AeadInOut, KeyInit};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use criterion::{criterion_group, criterion_main, Criterion};
use encrypted_kvstore::{
    Credential, EncryptedStore, OsRandom, RandomSource, RawKey, RECORD_OVERHEAD,
};
use ldk_node::io::sqlite_store::{SqliteStore, KV_TABLE_NAME, SQLITE_DB_FILE_NAME};
use ldk_node::lightning::util::persist::KVStoreSync;
use support::{fresh, value, Handoff, Recorder, SIZES};

const P: &str = "payments";
const K: &str = "0101010101010101010101010101010101010101010101010101010101010101";

fn sqlite(dir: &std::path::Path) -> SqliteStore {
    SqliteStore::new(
        dir.to_path_buf(),
        Some(SQLITE_DB_FILE_NAME.to_owned()),
        Some(KV_TABLE_NAME.to_owned()),
    )
    .unwrap()
}

/// The bare AEAD sealing into a new buffer, as `Aead::encrypt` does.
fn seal_bare(cipher: &XChaCha20Poly1305, nonce: &XNonce, ad: &[u8], msg: &[u8]) -> Vec<u8> {
    let mut ct = Vec::with_capacity(msg.len() + 16);
    ct.extend_from_slice(msg);
    let tag = cipher
        .encrypt_inout_detached(nonce, ad, (&mut ct[..]).into())
        .unwrap();
    ct.extend_from_slice(&tag);
    ct
}

fn open_bare(cipher: &XChaCha20Poly1305, nonce: &XNonce, ad: &[u8], mut buf: Vec<u8>) -> Vec<u8> {
    let tag_at = buf.len() - 16;
    let tag = chacha20poly1305::Tag::try_from(&buf[tag_at..]).unwrap();
    cipher
        .decrypt_inout_detached(nonce, ad, (&mut buf[..tag_at]).into(), &tag)
        .unwrap();
    buf.truncate(tag_at);
    buf
}

fn sqlite_bench(c: &mut Criterion) {
    let rec = Recorder::default();
    let mut g = c.benchmark_group("sqlite");
    let key = RawKey::from_bytes([7; 32]);
    let dir_enc = tempfile::tempdir().unwrap();
    let dir_plain = tempfile::tempdir().unwrap();
    let enc = EncryptedStore::create(sqlite(dir_enc.path()), Credential::raw_key(&key)).unwrap();
    let plain = sqlite(dir_plain.path());
    let hand_enc = EncryptedStore::create(Handoff::default(), Credential::raw_key(&key)).unwrap();
    let hand = hand_enc.inner();
    hand.clear();
    let cipher = XChaCha20Poly1305::new(&[9u8; 32].into());
    let nonce = || {
        let mut n = [0u8; 24];
        OsRandom.fill(&mut n).unwrap();
        XNonce::from(n)
    };
    // Associated data of the same shape and length as ours for this key.
    let ad = [0x5au8; 27 + 1 + 4 + 16 + 12 + 8 + 64];

    for (n, label) in SIZES.into_iter().filter(|(n, _)| *n <= 1 << 20) {
        g.sample_size(if n >= 1 << 20 { 10 } else { 20 });
        let v = value(n);
        let v_record = value(n + RECORD_OVERHEAD);

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
            "write_sqlite_plus_aead",
            label,
            n,
            || fresh(&v),
            |buf| {
                let ct = seal_bare(&cipher, &nonce(), &ad, &buf);
                drop(buf);
                KVStoreSync::write(&plain, P, "", K, ct).unwrap()
            },
        );
        // Parts: the inner store alone, with a value of n and of n + `RECORD_OVERHEAD` bytes (a record's
        // size); the bare AEAD alone; our record path alone over a store that costs nothing.
        rec.bench(
            &mut g,
            "write_sqlite",
            label,
            n,
            || fresh(&v),
            |buf| KVStoreSync::write(&plain, P, "", K, buf).unwrap(),
        );
        rec.bench(
            &mut g,
            "write_sqlite_record_size",
            label,
            n,
            || fresh(&v_record),
            |buf| KVStoreSync::write(&plain, P, "", K, buf).unwrap(),
        );
        rec.bench(
            &mut g,
            "seal_bare",
            label,
            n,
            || fresh(&v),
            |buf| seal_bare(&cipher, &nonce(), &ad, &buf),
        );
        rec.bench(
            &mut g,
            "seal_record",
            label,
            n,
            || {
                hand.clear();
                fresh(&v)
            },
            |buf| KVStoreSync::write(&hand_enc, P, "", K, buf).unwrap(),
        );

        KVStoreSync::write(&enc, P, "", K, fresh(&v)).unwrap();
        let bare_nonce = nonce();
        KVStoreSync::write(&plain, P, "", K, seal_bare(&cipher, &bare_nonce, &ad, &v)).unwrap();
        rec.bench_read(&mut g, "read_encrypted", label, &enc, (P, K), n);
        rec.bench(
            &mut g,
            "read_sqlite_plus_aead",
            label,
            n,
            || (),
            |()| {
                open_bare(
                    &cipher,
                    &bare_nonce,
                    &ad,
                    KVStoreSync::read(&plain, P, "", K).unwrap(),
                )
            },
        );
        rec.bench_read(&mut g, "read_sqlite", label, &plain, (P, K), n);
        assert_eq!(KVStoreSync::read(&enc, P, "", K).unwrap(), *v);
    }
    g.finish();

    println!();
    for (_, label) in SIZES.into_iter().filter(|(n, _)| *n <= 1 << 20) {
        rec.ratio(
            &format!("sqlite write {label}: encrypted / (sqlite + bare AEAD)"),
            &format!("write_encrypted/{label}"),
            &format!("write_sqlite_plus_aead/{label}"),
            Some(1.05),
        );
        rec.ratio(
            &format!("sqlite read {label}: encrypted / (sqlite + bare AEAD)"),
            &format!("read_encrypted/{label}"),
            &format!("read_sqlite_plus_aead/{label}"),
            Some(1.05),
        );
        rec.ratio(
            &format!("sqlite write {label}: sqlite n + {RECORD_OVERHEAD} B / sqlite n"),
            &format!("write_sqlite_record_size/{label}"),
            &format!("write_sqlite/{label}"),
            None,
        );
        rec.ratio(
            &format!("write {label}: our record path / bare AEAD"),
            &format!("seal_record/{label}"),
            &format!("seal_bare/{label}"),
            None,
        );
        for key in [
            "write_encrypted",
            "write_sqlite_plus_aead",
            "write_sqlite",
            "seal_bare",
        ] {
            if let Some(t) = rec.median(&format!("{key}/{label}")) {
                println!("TIME {key}/{label}: {}", support::fmt_time(t));
            }
        }
    }

    // Criterion measures one side after the other, so drift between them shows up as a
    // ratio. Also write the two sides alternately and report the median per-pair ratio
    // (under `cargo bench` only: `cargo test --benches` runs each benchmark once, as a test).
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    println!();
    for (n, label) in SIZES.into_iter().filter(|(n, _)| *n <= 1 << 20) {
        let pairs = if n >= 1 << 20 { 40 } else { 200 };
        let v = value(n);
        let mut ratios = Vec::with_capacity(pairs);
        for _ in 0..pairs {
            let (a, b) = (fresh(&v), fresh(&v));
            let t = Instant::now();
            KVStoreSync::write(&enc, P, "", K, a).unwrap();
            let te = t.elapsed();
            let t = Instant::now();
            let ct = seal_bare(&cipher, &nonce(), &ad, &b);
            drop(b);
            KVStoreSync::write(&plain, P, "", K, ct).unwrap();
            let tp = t.elapsed();
            ratios.push(te.as_secs_f64() / tp.as_secs_f64());
        }
        ratios.sort_by(f64::total_cmp);
        let r = ratios[ratios.len() / 2];
        let met = if r <= 1.05 { "met" } else { "NOT met" };
        println!(
            "RATIO sqlite write {label}, interleaved ({pairs} pairs, median of per-pair ratios): \
             {r:.3}  (target <= 1.05: {met})"
        );
    }
}

criterion_group!(benches, sqlite_bench);
criterion_main!(benches);
