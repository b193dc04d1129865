//! Question 3, the peer: our seal/open against the value encryption ldk-node users run today,
//! `vss-client-ng`'s `StorableBuilder` (ChaCha20-Poly1305, 12-byte nonce, protobuf `Storable`).
//!
//! Ours: `EncryptedStore::write`/`read` over a store that keeps nothing and hands back one
//! stored record (so only our seal/open and its allocations are timed, plus one copy of the
//! record on read, as any store returning an owned `Vec` makes); and a write through
//! `EncryptedStore<MemoryStore>`, the whole path of a write including an in-memory store. Theirs: `build` then
//! `encode_to_vec` (the bytes VSS stores); `decode` of those bytes then `deconstruct`. Both
//! draw nonces from the OS generator and both use the storage key as associated data.
//!
//! The write through `EncryptedStore<MemoryStore>` and vss's seal also take turns (interleaved,
//! as the overhead bench does), and that ratio judges the target.
//!
//! `cargo bench --bench peer -- --warm-up-time 1 --measurement-time 3`
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[path = "support/mod.rs"]
mod support;

use std::sync::Mutex;

use criterion::{criterion_group, criterion_main, Criterion};
use encrypted_kvstore::ldk::V0_2;
use encrypted_kvstore::{Credential, EncryptedStore, MemoryStore, OsRandom, RandomSource, RawKey};
use lightning::io;
use lightning::util::persist::KVStoreSync;
use support::{batch_for, fresh, interleave, median_ratio, report, value, Recorder, ROUNDS, SIZES};
use vss_client_ng::prost::Message;
use vss_client_ng::types::Storable;
use vss_client_ng::util::storable_builder::{EntropySource, StorableBuilder};

/// Keeps the last record written; reads hand out a copy of it.
#[derive(Default)]
struct Sink {
    last: Mutex<Vec<u8>>,
    keep: Mutex<bool>,
}

impl KVStoreSync for Sink {
    fn read(&self, _: &str, _: &str, _: &str) -> Result<Vec<u8>, io::Error> {
        let last = self.last.lock().unwrap();
        if last.is_empty() {
            return Err(io::Error::from(io::ErrorKind::NotFound));
        }
        Ok(last.clone())
    }
    fn write(&self, _: &str, _: &str, _: &str, buf: Vec<u8>) -> Result<(), io::Error> {
        if *self.keep.lock().unwrap() {
            *self.last.lock().unwrap() = buf;
        }
        Ok(())
    }
    fn remove(&self, _: &str, _: &str, _: &str, _: bool) -> Result<(), io::Error> {
        Ok(())
    }
    fn list(&self, _: &str, _: &str) -> Result<Vec<String>, io::Error> {
        Ok(Vec::new())
    }
}

/// The OS generator, as ours uses.
struct OsEntropy;
impl EntropySource for OsEntropy {
    fn fill_bytes(&self, buffer: &mut [u8]) {
        OsRandom.fill(buffer).unwrap();
    }
}

const P: &str = "monitors";
const K: &str = "0101010101010101010101010101010101010101010101010101010101010101_0";

fn peer(c: &mut Criterion) {
    let rec = Recorder::default();
    let mut g = c.benchmark_group("peer");
    let ours = EncryptedStore::create(
        Sink::default(),
        Credential::raw_key(&RawKey::from_bytes([7; 32])),
    )
    .unwrap();
    let memory = EncryptedStore::create::<V0_2>(
        MemoryStore::new(),
        Credential::raw_key(&RawKey::from_bytes([7; 32])),
    )
    .unwrap();
    let vss = StorableBuilder::new(OsEntropy);
    let dek = [9u8; 32];
    let aad = format!("{P}#{K}");
    // The write through `EncryptedStore<MemoryStore>` and vss's seal, taking turns (the
    // target's comparison), per size.
    let mut writes = Vec::new();

    for (n, label) in SIZES {
        g.sample_size(if n >= 1 << 20 { 10 } else { 50 });
        let v = value(n);

        *ours.inner().keep.lock().unwrap() = false;
        rec.bench_write(&mut g, "seal_ours", label, &ours, (P, K), &v);
        rec.bench_write(&mut g, "write_ours_memory", label, &memory, (P, K), &v);
        rec.bench(
            &mut g,
            "seal_vss",
            label,
            n,
            || fresh(&v),
            |buf| vss.build(buf, 0, &dek, aad.as_bytes()).encode_to_vec(),
        );
        let turns = rec.median(&format!("seal_vss/{label}")).map(|t| {
            let times = interleave(
                2,
                ROUNDS,
                batch_for(t),
                |_| fresh(&v),
                |i, buf| match i {
                    0 => {
                        KVStoreSync::write(&memory, P, "", K, buf).unwrap();
                        None
                    }
                    _ => Some(vss.build(buf, 0, &dek, aad.as_bytes()).encode_to_vec()),
                },
            );
            (median_ratio(&times, 0, 1), ROUNDS)
        });
        writes.push((label, turns));

        *ours.inner().keep.lock().unwrap() = true;
        KVStoreSync::write(&ours, P, "", K, fresh(&v)).unwrap();
        let stored = vss
            .build(fresh(&v), 0, &dek, aad.as_bytes())
            .encode_to_vec();
        rec.bench(
            &mut g,
            "open_ours",
            label,
            n,
            || (),
            |()| KVStoreSync::read(&ours, P, "", K).unwrap(),
        );
        rec.bench(
            &mut g,
            "open_vss",
            label,
            n,
            || (),
            |()| {
                let s = Storable::decode(&stored[..]).unwrap();
                vss.deconstruct(s, &dek, aad.as_bytes()).unwrap().0
            },
        );
        assert_eq!(KVStoreSync::read(&ours, P, "", K).unwrap(), *v);
        let s = Storable::decode(&stored[..]).unwrap();
        assert_eq!(vss.deconstruct(s, &dek, aad.as_bytes()).unwrap().0, *v);
    }
    g.finish();

    println!();
    for (label, turns) in writes {
        report(
            &rec,
            &format!("peer write {label} through EncryptedStore<MemoryStore> / vss-client-ng seal"),
            &format!("write_ours_memory/{label}"),
            &format!("seal_vss/{label}"),
            turns,
            Some(1.0),
        );
        for op in ["seal", "open"] {
            rec.ratio(
                &format!("peer {op} {label}: ours / vss-client-ng"),
                &format!("{op}_ours/{label}"),
                &format!("{op}_vss/{label}"),
                Some(1.0),
            );
        }
    }
}

criterion_group!(benches, peer);
criterion_main!(benches);
