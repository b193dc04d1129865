//! Question 1, wrapper overhead, for the AEAD backend of this build (the `chacha20poly1305`
//! crate by default, ring with `--features ring`):
//!
//! - `EncryptedStore<MemoryStore>` against the same in-memory store plus the bare backend
//!   sealing into a new buffer / opening in place, write and read (target 1.05);
//! - the record path alone (`EncryptedStore` over a store that costs nothing, the value handed
//!   over with room for the overhead) against the bare backend sealing and opening the same
//!   bytes in place, each with a fresh nonce from the OS (which any user of the bare AEAD must
//!   draw too);
//! - a floor: the inner store plus the bare backend plus the least per-key state that can refuse
//!   a rollback (each key's version in a map behind a lock, looked up when a write is issued and
//!   when it completes, and when a read completes), to show how much of the fixed work per
//!   operation any store that detects rollbacks must do.
//!
//! 64 B to 16 MiB. Prints the ratios of each pair, measured in the same run.
//!
//! `cargo bench --bench overhead [--features ring] -- --warm-up-time 1 --measurement-time 3`
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
// MemoryStore implements the store traits of every enabled LDK version: name the one to use.
use encrypted_kvstore::ldk::V0_2;
use encrypted_kvstore::{
    Credential, EncryptedStore, MemoryStore, OsRandom, RandomSource, RawKey, RECORD_OVERHEAD,
};
use lightning::util::persist::KVStoreSync;
use std::collections::HashMap;
use std::hint::black_box;
use std::sync::Mutex;
use support::{
    batch_for, fresh, interleave, median_ratio, report, value, Handoff, Recorder, ROUNDS, SIZES,
};

const P: &str = "monitors";
const K: &str = "0101010101010101010101010101010101010101010101010101010101010101_0";

/// A fresh nonce from the same OS source the library uses.
fn nonce() -> [u8; 24] {
    let mut n = [0u8; 24];
    OsRandom.fill(&mut n).unwrap();
    n
}

/// The least per-key state that can refuse a rollback: each key's version, in a map behind a
/// lock, keyed by the key's full name (built once here: a store would have to build it per
/// operation).
struct Floor {
    versions: Mutex<HashMap<String, u64>>,
}

impl Floor {
    fn new(name: &str) -> Floor {
        Floor {
            versions: Mutex::new(HashMap::from([(name.to_owned(), 0)])),
        }
    }

    /// A write issued: the key's next version.
    fn issue(&self, name: &str) -> u64 {
        self.versions.lock().unwrap().get(name).unwrap() + 1
    }

    /// A write completed: the key holds `version`.
    fn done(&self, name: &str, version: u64) {
        *self.versions.lock().unwrap().get_mut(name).unwrap() = version;
    }

    /// A read completed: whether the version found is at least the one held.
    fn fresh(&self, name: &str, found: u64) -> bool {
        found >= *self.versions.lock().unwrap().get(name).unwrap()
    }
}

/// The write variants, in the order the interleaved pass numbers them.
const WRITES: [&str; 3] = ["write_encrypted", "write_inner_plus_aead", "write_floor"];
/// The read variants, likewise.
const READS: [&str; 3] = ["read_encrypted", "read_inner_plus_aead", "read_floor"];

/// The three variants of an operation interleaved (`None` when `base` was filtered out).
fn interleaved<I, O>(
    rec: &Recorder,
    base: &str,
    setup: impl FnMut(usize) -> I,
    op: impl FnMut(usize, I) -> O,
) -> Option<Vec<Vec<f64>>> {
    rec.median(base)
        .map(|t| interleave(3, ROUNDS, batch_for(t), setup, op))
}

fn overhead(c: &mut Criterion) {
    let rec = Recorder::default();
    let mut g = c.benchmark_group("overhead");
    let key = RawKey::from_bytes([7; 32]);
    let enc =
        EncryptedStore::create::<V0_2>(MemoryStore::new(), Credential::raw_key(&key)).unwrap();
    let plain = MemoryStore::new();
    let hand_enc = EncryptedStore::create(Handoff::default(), Credential::raw_key(&key)).unwrap();
    let hand = hand_enc.inner();
    hand.clear();
    let bare = Bare::new([9u8; 32]);
    // Associated data of the same shape as ours (label, ids and the three names).
    let ad = [0x5au8; 27 + 1 + 4 + 16 + 12 + 8 + 66];
    let floor_name = format!("{P}//{K}");
    let floor = Floor::new(&floor_name);
    // The interleaved turns of each size: (size, writes, reads).
    let mut turns = Vec::new();

    for (n, label) in SIZES {
        g.sample_size(if n >= 1 << 20 { 10 } else { 50 });
        let v = value(n);

        // Write: the caller hands over a Vec it no longer needs. Each variant as `WRITES`
        // names it: ours, the inner store plus the bare backend, and the floor (the same with
        // the least per-key state around it).
        let write = |i: usize, buf: Vec<u8>| {
            if i == 0 {
                return KVStoreSync::write(&enc, P, "", K, buf).unwrap();
            }
            let version = (i == 2).then(|| floor.issue(&floor_name));
            // What an allocating `encrypt` does: one new buffer of n + 16 bytes.
            let mut ct = Vec::with_capacity(buf.len() + 16);
            ct.extend_from_slice(&buf);
            drop(buf);
            let tag = bare.seal(&nonce(), &ad, &mut ct);
            ct.extend_from_slice(&tag);
            KVStoreSync::write(&plain, P, "", K, ct).unwrap();
            if let Some(version) = version {
                floor.done(&floor_name, version)
            }
        };
        for (i, name) in WRITES.iter().enumerate() {
            rec.bench(&mut g, name, label, n, || fresh(&v), |buf| write(i, buf));
        }
        let writes = interleaved(
            &rec,
            &format!("write_inner_plus_aead/{label}"),
            |_| fresh(&v),
            write,
        );

        // Read: the inner store hands back its copy of the record.
        KVStoreSync::write(&enc, P, "", K, fresh(&v)).unwrap();
        let bare_nonce = nonce();
        let mut ct = fresh(&v);
        let tag = bare.seal(&bare_nonce, &ad, &mut ct);
        ct.extend_from_slice(&tag);
        KVStoreSync::write(&plain, P, "", K, ct).unwrap();
        let read = |i: usize, ()| {
            if i == 0 {
                return KVStoreSync::read(&enc, P, "", K).unwrap();
            }
            let mut buf = KVStoreSync::read(&plain, P, "", K).unwrap();
            let tag_at = buf.len() - 16;
            let tag: [u8; 16] = buf[tag_at..].try_into().unwrap();
            bare.open(&bare_nonce, &ad, &mut buf[..tag_at], &tag);
            buf.truncate(tag_at);
            if i == 2 {
                black_box(floor.fresh(&floor_name, 1));
            }
            buf
        };
        for (i, name) in READS.iter().enumerate() {
            rec.bench(&mut g, name, label, n, || (), |()| read(i, ()));
        }
        let reads = interleaved(&rec, &format!("read_inner_plus_aead/{label}"), |_| (), read);
        turns.push((label, writes, reads));
        assert_eq!(KVStoreSync::read(&enc, P, "", K).unwrap(), *v);

        // The record path alone, over a store that costs nothing (writes kept, reads handed a
        // record queued in setup), next to the bare backend in place on the same bytes.
        rec.bench(
            &mut g,
            "seal_record",
            label,
            n,
            || {
                hand.clear();
                let mut buf = Vec::with_capacity(n + RECORD_OVERHEAD);
                buf.extend_from_slice(&v);
                buf
            },
            |buf| KVStoreSync::write(&hand_enc, P, "", K, buf).unwrap(),
        );
        rec.bench(
            &mut g,
            "seal_bare",
            label,
            n,
            || fresh(&v),
            |mut buf| {
                let tag = bare.seal(&nonce(), &ad, &mut buf);
                (buf, tag)
            },
        );
        hand.clear();
        KVStoreSync::write(&hand_enc, P, "", K, fresh(&v)).unwrap();
        let record = hand.clear().unwrap();
        rec.bench(
            &mut g,
            "open_record",
            label,
            n,
            || hand.queue(record.clone()),
            |()| KVStoreSync::read(&hand_enc, P, "", K).unwrap(),
        );
        hand.queue(record.clone());
        assert_eq!(KVStoreSync::read(&hand_enc, P, "", K).unwrap(), *v);
        let mut sealed = fresh(&v);
        let tag = bare.seal(&bare_nonce, &ad, &mut sealed);
        rec.bench(
            &mut g,
            "open_bare",
            label,
            n,
            || sealed.clone(),
            |mut buf| {
                bare.open(&bare_nonce, &ad, &mut buf, &tag);
                buf
            },
        );
    }
    g.finish();

    println!("\nbackend: {}", Bare::NAME);
    for (n, label) in SIZES {
        let (writes, reads) = turns
            .iter()
            .find(|(l, _, _)| *l == label)
            .map(|(_, w, r)| (w.as_ref(), r.as_ref()))
            .unwrap_or((None, None));
        for (op, times) in [("write", writes), ("read", reads)] {
            let of = |i: usize| times.map(|t| (median_ratio(t, i, 1), ROUNDS));
            report(
                &rec,
                &format!("overhead {op} {label}: encrypted / (inner + bare AEAD)"),
                &format!("{op}_encrypted/{label}"),
                &format!("{op}_inner_plus_aead/{label}"),
                of(0),
                Some(1.05),
            );
            report(
                &rec,
                &format!("overhead {op} {label}: floor (inner + bare AEAD + a per-key version) / (inner + bare AEAD)"),
                &format!("{op}_floor/{label}"),
                &format!("{op}_inner_plus_aead/{label}"),
                of(2),
                None,
            );
        }
        for (op, bare) in [("seal", "seal_bare"), ("open", "open_bare")] {
            rec.ratio(
                &format!("record path {op} {label}: record / bare backend in place"),
                &format!("{op}_record/{label}"),
                &format!("{bare}/{label}"),
                Some(1.05),
            );
            if n >= 1 << 20 {
                rec.throughput(
                    &format!("{op} {label}, record path (EncryptedStore over a free store)"),
                    &format!("{op}_record/{label}"),
                    n,
                    None,
                );
                rec.throughput(
                    &format!("{op} {label}, bare backend in place"),
                    &format!("{bare}/{label}"),
                    n,
                    None,
                );
            }
        }
    }
}

criterion_group!(benches, overhead);
criterion_main!(benches);
