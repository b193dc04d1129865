//! Property tests (proptest) of the record format through the public API: round trips for
//! arbitrary valid names and values (empty and 1 MiB included), no associated-data collision
//! between different (primary, secondary, key) triples, and no single-byte change of a record
//! or header that still opens. The fuzz targets in `fuzz/` check the same properties for
//! longer; these run on every `cargo test`.
//!
//! Deterministic: every test has a fixed proptest seed and case count, and the stores draw
//! their randomness from a seeded generator. No failure file is written; a failure prints its
//! minimal input, which belongs in a named regression test.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use super::v::{ldk, V};
use std::future::Future;
use std::pin::pin;
use std::sync::atomic::AtomicU64;
use std::task::{Context, Poll, Waker};

use encrypted_kvstore::{
    EncryptedStore, KdfParams, MemoryStore, OpenError, OpenOptions, RandomSource, RawKey,
    ReadError, HEADER_KEY, HEADER_SECONDARY_NAMESPACE, RECORD_OVERHEAD, RESERVED_PRIMARY_NAMESPACE,
};
use ldk::io::ErrorKind;
use ldk::util::persist::{KVStore, KVStoreSync};
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{Config, RngSeed};

fn options(seed: u64) -> OpenOptions {
    crate::common::seeded_options(seed)
}

/// A fresh raw-key store (no KDF cost) over a memory store, and that memory store.
fn store(seed: u64) -> (EncryptedStore<MemoryStore>, MemoryStore) {
    let inner = MemoryStore::new();
    let s = options(seed)
        .create_with_key::<V, _>(inner.clone(), &RawKey::from_bytes([7; 32]))
        .unwrap();
    (s, inner)
}

fn config(cases: u32, seed: u64) -> Config {
    Config {
        cases,
        rng_seed: RngSeed::Fixed(seed),
        failure_persistence: None,
        ..Config::default()
    }
}

/// Polls a future that is ready at once (every future of `MemoryStore` is).
fn now<T>(fut: impl Future<Output = T>) -> T {
    let mut fut = pin!(fut);
    match fut.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("a memory-store future was not ready"),
    }
}

type Triple = (String, String, String);

/// Any (primary, secondary, key) LDK accepts and the crate does not reserve.
fn triple() -> impl Strategy<Value = Triple> {
    let name = |min: usize| {
        proptest::string::string_regex(&format!("[A-Za-z0-9_-]{{{min},120}}")).unwrap()
    };
    (name(0), name(0), name(1))
        .prop_filter("reserved primary namespace", |(p, _, _)| {
            p != RESERVED_PRIMARY_NAMESPACE
        })
        .prop_map(|(p, s, k)| {
            // LDK: no secondary namespace without a primary one.
            let s = if p.is_empty() { String::new() } else { s };
            (p, s, k)
        })
}

/// Values: often empty, usually short, of any bytes.
fn value() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        1 => Just(Vec::new()),
        4 => proptest::collection::vec(any::<u8>(), 0..2048),
    ]
}

/// `len` pseudo-random bytes from `seed` (cheaper than drawing each byte through proptest).
fn bytes_from(seed: u64, len: usize) -> Vec<u8> {
    let mut out = vec![0u8; len];
    crate::common::SplitMix(AtomicU64::new(seed))
        .fill(&mut out)
        .unwrap();
    out
}

fn auth_failed(r: Result<Vec<u8>, ldk::io::Error>, (p, s, k): &Triple) {
    let e = r.expect_err("a record opened where it must not");
    assert_eq!(e.kind(), ErrorKind::InvalidData, "{e}");
    assert_eq!(
        e.get_ref().and_then(|e| e.downcast_ref::<ReadError>()),
        Some(&ReadError::AuthenticationFailed {
            primary_namespace: p.clone(),
            secondary_namespace: s.clone(),
            key: k.clone(),
        })
    );
}

fn round_trip(t: &Triple, v: &[u8], seed: u64) {
    let (st, inner) = store(seed);
    let (p, s, k) = t;
    KVStoreSync::write(&st, p, s, k, v.to_vec()).unwrap();
    let rec = KVStoreSync::read(&inner, p, s, k).unwrap();
    assert_eq!(rec.len(), v.len() + RECORD_OVERHEAD);
    if v.len() >= 16 {
        // Version, key id and nonce come first (29 bytes), then the ciphertext.
        assert_ne!(&rec[29..29 + v.len()], v, "the record holds the plaintext");
    }
    assert_eq!(KVStoreSync::read(&st, p, s, k).unwrap(), v);
    assert_eq!(now(KVStore::read(&st, p, s, k)).unwrap(), v);
    assert_eq!(KVStoreSync::list(&st, p, s).unwrap(), vec![k.clone()]);
}

proptest! {
    #![proptest_config(config(96, 0x5EED_0001))]

    #[test]
    fn round_trip_any_names_and_values(t in triple(), v in value(), seed in any::<u64>()) {
        round_trip(&t, &v, seed);
    }
}

proptest! {
    #![proptest_config(config(2, 0x5EED_0002))]

    #[test]
    fn round_trip_one_mib_values(t in triple(), seed in any::<u64>()) {
        round_trip(&t, &bytes_from(seed, 1 << 20), seed);
    }
}

/// Two different triples whose names concatenate to the same string: where a naive
/// concatenation of the names as associated data would collide.
fn same_concatenation() -> impl Strategy<Value = (Triple, Triple)> {
    let split = |s: &str, i: usize, j: usize| -> Option<Triple> {
        let (p, rest) = s.split_at(i);
        let (sec, k) = rest.split_at(j - i);
        let ok = !k.is_empty()
            && (!p.is_empty() || sec.is_empty())
            && p.len() <= 120
            && sec.len() <= 120
            && k.len() <= 120
            && p != RESERVED_PRIMARY_NAMESPACE;
        ok.then(|| (p.to_owned(), sec.to_owned(), k.to_owned()))
    };
    (
        proptest::string::string_regex("[A-Za-z0-9_-]{1,40}").unwrap(),
        any::<(Index, Index, Index, Index)>(),
    )
        .prop_filter_map("no two different valid splits", move |(s, (a, b, c, d))| {
            let n = s.len() + 1;
            let (i1, j1) = (a.index(n), b.index(n));
            let (i2, j2) = (c.index(n), d.index(n));
            let t1 = split(&s, i1.min(j1), i1.max(j1))?;
            let t2 = split(&s, i2.min(j2), i2.max(j2))?;
            (t1 != t2).then_some((t1, t2))
        })
}

fn arbitrary_pair() -> impl Strategy<Value = (Triple, Triple)> {
    (triple(), triple()).prop_filter("equal triples", |(a, b)| a != b)
}

/// A record written under `t1` never opens under `t2`, and still opens under `t1`.
fn no_collision(t1: &Triple, t2: &Triple, v: &[u8], seed: u64) {
    let (st, inner) = store(seed);
    KVStoreSync::write(&st, &t1.0, &t1.1, &t1.2, v.to_vec()).unwrap();
    let rec = KVStoreSync::read(&inner, &t1.0, &t1.1, &t1.2).unwrap();
    KVStoreSync::write(&inner, &t2.0, &t2.1, &t2.2, rec).unwrap();
    auth_failed(KVStoreSync::read(&st, &t2.0, &t2.1, &t2.2), t2);
    assert_eq!(KVStoreSync::read(&st, &t1.0, &t1.1, &t1.2).unwrap(), v);
}

proptest! {
    #![proptest_config(config(128, 0x5EED_0003))]

    #[test]
    fn no_ad_collision_between_splits_of_one_string(
        (t1, t2) in same_concatenation(), v in value(), seed in any::<u64>()
    ) {
        no_collision(&t1, &t2, &v, seed);
    }

    #[test]
    fn no_ad_collision_between_any_two_triples(
        (t1, t2) in arbitrary_pair(), v in value(), seed in any::<u64>()
    ) {
        no_collision(&t1, &t2, &v, seed);
    }
}

proptest! {
    #![proptest_config(config(256, 0x5EED_0004))]

    #[test]
    fn any_single_byte_change_of_a_record_fails(
        t in triple(), v in value(), at in any::<Index>(), delta in 1u8..=255, seed in any::<u64>()
    ) {
        let (st, inner) = store(seed);
        let (p, s, k) = &t;
        KVStoreSync::write(&st, p, s, k, v.clone()).unwrap();
        let rec = KVStoreSync::read(&inner, p, s, k).unwrap();

        let mut changed = rec.clone();
        let i = at.index(rec.len());
        changed[i] ^= delta;
        KVStoreSync::write(&inner, p, s, k, changed).unwrap();
        auth_failed(KVStoreSync::read(&st, p, s, k), &t);

        // One byte fewer, or one more (at any place), fails too.
        let mut shorter = rec.clone();
        shorter.remove(at.index(rec.len()));
        KVStoreSync::write(&inner, p, s, k, shorter).unwrap();
        auth_failed(KVStoreSync::read(&st, p, s, k), &t);
        let mut longer = rec.clone();
        longer.insert(at.index(rec.len() + 1), delta);
        KVStoreSync::write(&inner, p, s, k, longer).unwrap();
        auth_failed(KVStoreSync::read(&st, p, s, k), &t);

        // And the authentic record, put back, opens.
        KVStoreSync::write(&inner, p, s, k, rec).unwrap();
        prop_assert_eq!(KVStoreSync::read(&st, p, s, k).unwrap(), v);
    }
}

proptest! {
    #![proptest_config(config(64, 0x5EED_0005))]

    #[test]
    fn any_single_byte_change_of_the_header_fails_to_open(
        at in any::<Index>(), delta in 1u8..=255, seed in any::<u64>()
    ) {
        let inner = MemoryStore::new();
        let cheap = KdfParams::insecure_for_tests_only(8, 1, 1).unwrap();
        options(seed).create::<V, _>(inner.clone(), b"pw", cheap).unwrap();
        let read_header = || {
            KVStoreSync::read(&inner, RESERVED_PRIMARY_NAMESPACE, HEADER_SECONDARY_NAMESPACE, HEADER_KEY)
                .unwrap()
        };
        let mut h = read_header();
        let at = at.index(h.len());
        h[at] ^= delta;
        KVStoreSync::write(&inner, RESERVED_PRIMARY_NAMESPACE, HEADER_SECONDARY_NAMESPACE, HEADER_KEY, h)
            .unwrap();
        let r = EncryptedStore::open::<V>(inner.clone(), b"pw");
        prop_assert!(
            matches!(r, Err(OpenError::CorruptHeader { .. } | OpenError::UnsupportedVersion { .. })),
            "{:?}", r.err()
        );
    }
}
