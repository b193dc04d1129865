//! Question 4, opening a store: `open` with the default `KdfParams` (Argon2id 64 MiB, t = 3,
//! p = 4) and `open` with a raw key, over an in-memory store. Also times the bare
//! Argon2id derivation at the same cost (argon2 crate, a fresh `vec!` of blocks, not
//! zeroized afterwards), as the baseline of what `open` adds.
//!
//! `cargo bench --bench open -- --warm-up-time 1 --measurement-time 3`
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[path = "support/mod.rs"]
mod support;

use std::time::Duration;

use argon2::{Algorithm, Argon2, Block, Params, Version};
use criterion::{criterion_group, criterion_main, Criterion};
// MemoryStore implements the store traits of every enabled LDK version: name the one to use.
use encrypted_kvstore::ldk::V0_2;
use encrypted_kvstore::{Credential, EncryptedStore, KdfParams, MemoryStore, RawKey};
use support::Recorder;

fn open(c: &mut Criterion) {
    let rec = Recorder::default();
    let mut g = c.benchmark_group("open");
    g.sample_size(10);

    let pw_store = MemoryStore::new();
    drop(
        EncryptedStore::create::<V0_2>(
            pw_store.clone(),
            Credential::passphrase_with(b"correct horse", KdfParams::default()),
        )
        .unwrap(),
    );
    let key = RawKey::from_bytes([7; 32]);
    let key_store = MemoryStore::new();
    drop(EncryptedStore::create::<V0_2>(key_store.clone(), Credential::raw_key(&key)).unwrap());

    rec.bench(
        &mut g,
        "open_passphrase",
        "default",
        1 << 26,
        || (),
        |()| {
            EncryptedStore::open::<V0_2>(pw_store.clone(), Credential::passphrase(b"correct horse"))
                .unwrap()
        },
    );
    rec.bench(
        &mut g,
        "argon2id_bare",
        "default",
        1 << 26,
        || (),
        |()| {
            let d = KdfParams::default();
            let params =
                Params::new(d.memory_kib(), d.iterations(), d.parallelism(), Some(32)).unwrap();
            let mut blocks = vec![Block::new(); params.block_count()];
            let mut out = [0u8; 32];
            Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
                .hash_password_into_with_memory(
                    b"correct horse",
                    &[1; 67],
                    &mut out,
                    &mut blocks[..],
                )
                .unwrap();
            out
        },
    );
    g.sample_size(50);
    rec.bench(
        &mut g,
        "open_raw_key",
        "-",
        1 << 10,
        || (),
        |()| EncryptedStore::open::<V0_2>(key_store.clone(), Credential::raw_key(&key)).unwrap(),
    );
    g.finish();

    println!();
    rec.absolute(
        "open, default KdfParams (64 MiB, t=3, p=4)",
        "open_passphrase/default",
        Duration::from_millis(150),
    );
    rec.ratio(
        "open default / bare Argon2id (fresh memory, not zeroized)",
        "open_passphrase/default",
        "argon2id_bare/default",
        None,
    );
    rec.absolute("open, raw key", "open_raw_key/-", Duration::from_millis(1));
}

criterion_group!(benches, open);
criterion_main!(benches);
