//! Question 1, wrapper overhead: `EncryptedStore<MemoryStore>` against the same in-memory store
//! plus a bare XChaCha20-Poly1305 seal/open of the same value (chacha20poly1305 crate), for
//! 64 B to 16 MiB, write and read. Prints `encrypted / (inner + bare AEAD)` per size and the
//! seal/open throughput at 1 MiB and 16 MiB, of the record path alone (over a store that costs
//! nothing) and of the bare crate in place.
//!
//! `cargo bench --bench overhead -- --warm-up-time 1 --measurement-time 3`
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[path = "support/mod.rs"]
mod support;

use chacha20poly1305::aead::{AeadInOut, KeyInit};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use criterion::{criterion_group, criterion_main, Criterion};
// MemoryStore implements the store traits of every enabled LDK version: name the one to use.
use encrypted_kvstore::ldk::V0_2;
use encrypted_kvstore::{
    EncryptedStore, MemoryStore, OsRandom, RandomSource, RawKey, RECORD_OVERHEAD,
};
use lightning::util::persist::KVStoreSync;
use support::{fresh, value, Handoff, Recorder, SIZES};

const P: &str = "monitors";
const K: &str = "0101010101010101010101010101010101010101010101010101010101010101_0";

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

fn overhead(c: &mut Criterion) {
    let rec = Recorder::default();
    let mut g = c.benchmark_group("overhead");
    let key = RawKey::from_bytes([7; 32]);
    let enc = EncryptedStore::create_with_key::<V0_2>(MemoryStore::new(), &key).unwrap();
    let plain = MemoryStore::new();
    let hand_enc = EncryptedStore::create_with_key(Handoff::default(), &key).unwrap();
    let hand = hand_enc.inner();
    hand.clear();
    let cipher = XChaCha20Poly1305::new(&[9u8; 32].into());
    // The bare AEAD still needs a fresh nonce per value, from the same OS source we use.
    let nonce = || {
        let mut n = [0u8; 24];
        OsRandom.fill(&mut n).unwrap();
        XNonce::from(n)
    };
    // Associated data of the same shape as ours (label, ids and the three names).
    let ad = [0x5au8; 27 + 1 + 4 + 16 + 12 + 8 + 66];

    for (n, label) in SIZES {
        g.sample_size(if n >= 1 << 20 { 10 } else { 50 });
        let v = value(n);

        // Write: the caller hands over a Vec it no longer needs.
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
            "write_inner_plus_aead",
            label,
            n,
            || fresh(&v),
            |buf| {
                // What the AEAD's allocating `encrypt` does: one new buffer of n + 16 bytes.
                let ct = seal_bare(&cipher, &nonce(), &ad, &buf);
                drop(buf);
                KVStoreSync::write(&plain, P, "", K, ct).unwrap()
            },
        );

        // Read: the inner store hands back its copy of the record.
        KVStoreSync::write(&enc, P, "", K, fresh(&v)).unwrap();
        let bare_nonce = nonce();
        let ct = seal_bare(&cipher, &bare_nonce, &ad, &v);
        KVStoreSync::write(&plain, P, "", K, ct).unwrap();
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
            "read_inner_plus_aead",
            label,
            n,
            || (),
            |()| {
                let mut buf = KVStoreSync::read(&plain, P, "", K).unwrap();
                let tag_at = buf.len() - 16;
                let tag = chacha20poly1305::Tag::try_from(&buf[tag_at..]).unwrap();
                cipher
                    .decrypt_inout_detached(&bare_nonce, &ad, (&mut buf[..tag_at]).into(), &tag)
                    .unwrap();
                buf.truncate(tag_at);
                buf
            },
        );
        assert_eq!(KVStoreSync::read(&enc, P, "", K).unwrap(), *v);

        if n >= 1 << 20 {
            // Throughput of the record path alone: over a store that costs nothing (writes
            // kept, reads handed a record queued in setup), next to the bare crate sealing
            // and opening in place (no allocation, no store).
            // In place, as the bare crate below: the value has room for the 45-byte overhead.
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
            // Exact capacity: the record is a new buffer (its first use page-faults it in).
            rec.bench(
                &mut g,
                "seal_record_new_buffer",
                label,
                n,
                || {
                    hand.clear();
                    fresh(&v)
                },
                |buf| KVStoreSync::write(&hand_enc, P, "", K, buf).unwrap(),
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
            // Back to back on one buffer that stays in cache: read (open) the record, write
            // (seal, in place: the value read has room for the overhead) it again.
            hand.queue(record.clone());
            hand.loop_back(true);
            rec.bench(
                &mut g,
                "roundtrip_record",
                label,
                n,
                || (),
                |()| {
                    let value = KVStoreSync::read(&hand_enc, P, "", K).unwrap();
                    KVStoreSync::write(&hand_enc, P, "", K, value).unwrap()
                },
            );
            assert_eq!(KVStoreSync::read(&hand_enc, P, "", K).unwrap(), *v);
            hand.loop_back(false);
            rec.bench(
                &mut g,
                "seal_bare",
                label,
                n,
                || fresh(&v),
                |mut buf| {
                    let tag = cipher
                        .encrypt_inout_detached(&bare_nonce, &ad, (&mut buf[..]).into())
                        .unwrap();
                    (buf, tag)
                },
            );
            let mut sealed = fresh(&v);
            let tag = cipher
                .encrypt_inout_detached(&bare_nonce, &ad, (&mut sealed[..]).into())
                .unwrap();
            rec.bench(
                &mut g,
                "open_bare",
                label,
                n,
                || sealed.clone(),
                |mut buf| {
                    cipher
                        .decrypt_inout_detached(&bare_nonce, &ad, (&mut buf[..]).into(), &tag)
                        .unwrap();
                    buf
                },
            );
        }
    }
    g.finish();

    println!();
    for (n, label) in SIZES {
        for op in ["write", "read"] {
            rec.ratio(
                &format!("overhead {op} {label}: encrypted / (inner + bare AEAD)"),
                &format!("{op}_encrypted/{label}"),
                &format!("{op}_inner_plus_aead/{label}"),
                Some(1.10),
            );
        }
        if n >= 1 << 20 {
            for (op, bare) in [("seal", "seal_bare"), ("open", "open_bare")] {
                rec.throughput(
                    &format!("{op} {label}, record path (EncryptedStore over a free store)"),
                    &format!("{op}_record/{label}"),
                    n,
                    Some(1.5),
                );
                rec.throughput(
                    &format!("{op} {label}, bare crate in place (reference)"),
                    &format!("{bare}/{label}"),
                    n,
                    None,
                );
            }
            if let Some(t) = rec.median(&format!("roundtrip_record/{label}")) {
                println!(
                    "THROUGHPUT seal+open {label}, record path, back to back in cache: {:.2} GB/s \
                     per operation  [roundtrip_record/{label} {} for one seal and one open]",
                    2.0 * n as f64 / t / 1e9,
                    support::fmt_time(t)
                );
            }
            rec.throughput(
                &format!("seal {label}, record path into a new buffer"),
                &format!("seal_record_new_buffer/{label}"),
                n,
                None,
            );
            for op in ["write", "read"] {
                rec.throughput(
                    &format!("{op} {label} through EncryptedStore<MemoryStore>"),
                    &format!("{op}_encrypted/{label}"),
                    n,
                    None,
                );
                rec.throughput(
                    &format!("{op} {label} inner + bare AEAD"),
                    &format!("{op}_inner_plus_aead/{label}"),
                    n,
                    None,
                );
            }
        }
    }
}

criterion_group!(benches, overhead);
criterion_main!(benches);
