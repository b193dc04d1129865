//! An adversary with write access to the inner store (LDK's `FilesystemStore` of the version under
//! test, in a temporary directory). Every tampered record or header must make
//! the read (or open) fail with the documented typed error, never panic and never affect any
//! other value; the one thing not detected by design, rollback to an older authentic record of
//! the same key, must behave exactly as documented (the older value is returned).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::sync::Arc;

use super::v::{fs, ldk, snapshot, TempFs, V};
use crate::common::{
    assert_auth_failed, cheap, reseal_checksum, Snapshot, CHECKSUM_AT, HEADER_LEN, PASSPHRASE,
};
use encrypted_kvstore::{
    Credential, EncryptedStore, KdfParams, OpenError, OpenOptions, OsRandom, RandomError,
    RandomSource, RawKey, HEADER_KEY, HEADER_SECONDARY_NAMESPACE, RECORD_OVERHEAD,
    RESERVED_PRIMARY_NAMESPACE,
};
use ldk::io::ErrorKind;
use ldk::util::persist::KVStoreSync;

const TARGET: (&str, &str, &str) = ("p", "s", "k");

/// Values around the target, in every relation to it: same namespaces, other key; other
/// secondary; other primary; top level.
const NEIGHBOURS: [(&str, &str, &str); 6] = [
    ("p", "s", "k2"),
    ("p", "", "k"),
    ("p", "t", "k"),
    ("q", "s", "k"),
    ("", "", "k"),
    ("p", "", "sk"),
];

fn value_of(p: &str, s: &str, k: &str) -> Vec<u8> {
    format!("value of {p}/{s}/{k}").into_bytes()
}

/// A store holding the target and its neighbours; returns the plaintext inner store too.
fn populated() -> (TempFs, EncryptedStore<TempFs>) {
    let inner = TempFs::new();
    let store = encrypted_kvstore::OpenOptions::new()
        .create::<V, _>(
            inner.clone(),
            Credential::passphrase_with(PASSPHRASE, cheap()),
        )
        .unwrap();
    for (p, s, k) in std::iter::once(TARGET).chain(NEIGHBOURS) {
        store.write(p, s, k, value_of(p, s, k)).unwrap();
    }
    (inner, store)
}

fn header(inner: &TempFs) -> Vec<u8> {
    inner
        .read(
            RESERVED_PRIMARY_NAMESPACE,
            HEADER_SECONDARY_NAMESPACE,
            HEADER_KEY,
        )
        .unwrap()
}

fn put_header(inner: &TempFs, bytes: Vec<u8>) {
    inner
        .write(
            RESERVED_PRIMARY_NAMESPACE,
            HEADER_SECONDARY_NAMESPACE,
            HEADER_KEY,
            bytes,
        )
        .unwrap();
}

/// Everything but `except` is as in `before`, and every neighbour still reads its own value.
#[track_caller]
fn others_unaffected(
    inner: &TempFs,
    store: &EncryptedStore<TempFs>,
    before: &Snapshot,
    except: (&str, &str, &str),
) {
    let now = snapshot(inner);
    let key = |(p, s, k): (&str, &str, &str)| (p.to_owned(), s.to_owned(), k.to_owned());
    let strip = |m: &Snapshot| {
        let mut m = m.clone();
        m.remove(&key(except));
        m
    };
    assert!(strip(before) == strip(&now), "other values changed");
    for (p, s, k) in std::iter::once(TARGET).chain(NEIGHBOURS) {
        if (p, s, k) != except {
            assert_eq!(
                store.read(p, s, k).unwrap(),
                value_of(p, s, k),
                "{p}/{s}/{k}"
            );
        }
    }
}

#[test]
fn every_single_byte_flip_of_a_record_is_refused() {
    let (inner, store) = populated();
    let before = snapshot(&inner);
    let (p, s, k) = TARGET;
    let rec = inner.read(p, s, k).unwrap();
    assert_eq!(rec.len(), value_of(p, s, k).len() + RECORD_OVERHEAD);
    for i in 0..rec.len() {
        for mask in [0x01u8, 0x80, 0xff] {
            let mut bad = rec.clone();
            bad[i] ^= mask;
            inner.write(p, s, k, bad).unwrap();
            assert_auth_failed(store.read(p, s, k), p, s, k);
        }
    }
    others_unaffected(&inner, &store, &before, TARGET);
    inner.write(p, s, k, rec).unwrap();
    assert_eq!(store.read(p, s, k).unwrap(), value_of(p, s, k));
}

#[test]
fn every_truncation_and_any_appended_bytes_are_refused() {
    let (inner, store) = populated();
    let before = snapshot(&inner);
    let (p, s, k) = TARGET;
    let rec = inner.read(p, s, k).unwrap();
    for len in 0..rec.len() {
        inner.write(p, s, k, rec[..len].to_vec()).unwrap();
        assert_auth_failed(store.read(p, s, k), p, s, k);
    }
    let other = inner.read("p", "s", "k2").unwrap();
    let appendices: Vec<Vec<u8>> = vec![
        vec![0],
        vec![0xff; 16],
        vec![0; RECORD_OVERHEAD],
        rec.clone(),
        other,
        vec![7; 10_000],
    ];
    for tail in appendices {
        let mut bad = rec.clone();
        bad.extend_from_slice(&tail);
        inner.write(p, s, k, bad).unwrap();
        assert_auth_failed(store.read(p, s, k), p, s, k);
        // Bytes cut from the front are refused as well.
        inner.write(p, s, k, rec[1..].to_vec()).unwrap();
        assert_auth_failed(store.read(p, s, k), p, s, k);
    }
    others_unaffected(&inner, &store, &before, TARGET);
}

#[test]
fn a_record_copied_to_another_key_or_namespace_is_refused() {
    let (inner, store) = populated();
    let (p, s, k) = TARGET;
    let rec = inner.read(p, s, k).unwrap();
    // Over existing values (each a neighbour: other key, secondary, primary, top level, and
    // names whose concatenation equals the target's) and into fresh places.
    let places = NEIGHBOURS.into_iter().chain([
        ("p", "s", "fresh"),
        ("ps", "", "k"),
        // (Not `p/sk/x`: LDK's contract forbids a namespace named like a key beside it, `p/sk`,
        // and FilesystemStore cannot hold both.)
        ("", "", "psk"),
        ("monitors", "", "k"),
    ]);
    for (p2, s2, k2) in places {
        let before = snapshot(&inner);
        let original = inner.read(p2, s2, k2).ok();
        inner.write(p2, s2, k2, rec.clone()).unwrap();
        assert_auth_failed(store.read(p2, s2, k2), p2, s2, k2);
        others_unaffected(&inner, &store, &before, (p2, s2, k2));
        match original {
            Some(orig) => inner.write(p2, s2, k2, orig).unwrap(),
            None => inner.remove(p2, s2, k2, false).unwrap(),
        }
    }
    // Two records swapped: both refused.
    let other = inner.read("p", "s", "k2").unwrap();
    inner.write("p", "s", "k2", rec.clone()).unwrap();
    inner.write(p, s, k, other).unwrap();
    assert_auth_failed(store.read(p, s, k), p, s, k);
    assert_auth_failed(store.read("p", "s", "k2"), "p", "s", "k2");
}

#[test]
fn a_record_from_another_store_with_the_same_passphrase_is_refused() {
    let (inner, store) = populated();
    let before = snapshot(&inner);
    let (other_inner, other) = populated();
    assert_eq!(other.read("p", "s", "k").unwrap(), value_of("p", "s", "k"));
    for (p, s, k) in std::iter::once(TARGET).chain(NEIGHBOURS) {
        let foreign = other_inner.read(p, s, k).unwrap();
        inner.write(p, s, k, foreign).unwrap();
        assert_auth_failed(store.read(p, s, k), p, s, k);
    }
    for ((p, s, k), rec) in before {
        inner.write(&p, &s, &k, rec).unwrap();
    }
    for (p, s, k) in std::iter::once(TARGET).chain(NEIGHBOURS) {
        assert_eq!(store.read(p, s, k).unwrap(), value_of(p, s, k));
    }
}

/// Random bytes from the OS, except for requests of `fixed_len` bytes, which get a constant.
/// With `fixed_len = 32` two stores get the same data key (and salt) but different store ids;
/// with 16, the same store id but different keys.
struct FixedLength {
    fixed_len: usize,
}

impl RandomSource for FixedLength {
    fn fill(&self, dest: &mut [u8]) -> Result<(), RandomError> {
        if dest.len() == self.fixed_len {
            dest.fill(0x42);
            Ok(())
        } else {
            OsRandom.fill(dest)
        }
    }
}

/// The store identity alone is what refuses a record from a store that has the same data key:
/// it is bound into every record.
#[test]
fn the_store_identity_is_bound_into_every_record() {
    let same_key =
        OpenOptions::new().random_source_for_tests_only(Arc::new(FixedLength { fixed_len: 32 }));
    let key = RawKey::from_bytes([1; 32]);
    let (a_inner, b_inner) = (TempFs::new(), TempFs::new());
    let a = same_key
        .create::<V, _>(a_inner.clone(), Credential::raw_key(&key))
        .unwrap();
    let b = same_key
        .create::<V, _>(b_inner.clone(), Credential::raw_key(&key))
        .unwrap();
    assert_ne!(a.info().store_id, b.info().store_id);
    a.write("p", "s", "k", b"from store a".to_vec()).unwrap();
    b_inner
        .write("p", "s", "k", a_inner.read("p", "s", "k").unwrap())
        .unwrap();
    assert_auth_failed(b.read("p", "s", "k"), "p", "s", "k");

    // Control: with the same identity too (and the same key), the record is accepted, so the
    // refusal above is due to the identity and nothing else.
    let twins = OpenOptions::new().random_source_for_tests_only(Arc::new(Twins));
    let (c_inner, d_inner) = (TempFs::new(), TempFs::new());
    let c = twins
        .create::<V, _>(c_inner.clone(), Credential::raw_key(&key))
        .unwrap();
    let d = twins
        .create::<V, _>(d_inner.clone(), Credential::raw_key(&key))
        .unwrap();
    assert_eq!(c.info().store_id, d.info().store_id);
    c.write("p", "s", "k", b"from store c".to_vec()).unwrap();
    d_inner
        .write("p", "s", "k", c_inner.read("p", "s", "k").unwrap())
        .unwrap();
    // The open `d` never wrote the key and the record is of its own session's versions: absent
    // to it. A new instance of `d` (its session starts above the record) opens the record.
    assert_eq!(
        d.read("p", "s", "k").unwrap_err().kind(),
        ErrorKind::NotFound
    );
    drop(d);
    let d = EncryptedStore::open::<V>(d_inner.clone(), Credential::raw_key(&key)).unwrap();
    assert_eq!(d.read("p", "s", "k").unwrap(), b"from store c");
}

/// Same store id and data key for every store; random nonces.
struct Twins;

impl RandomSource for Twins {
    fn fill(&self, dest: &mut [u8]) -> Result<(), RandomError> {
        if dest.len() == 16 || dest.len() == 32 {
            dest.fill(0x42);
            Ok(())
        } else {
            OsRandom.fill(dest)
        }
    }
}

#[test]
fn plaintext_or_arbitrary_bytes_behind_the_wrapper_are_refused() {
    let (inner, store) = populated();
    let before = snapshot(&inner);
    let (p, s, k) = TARGET;
    let rec = inner.read(p, s, k).unwrap();
    let mut prefix_only = rec[..5].to_vec();
    prefix_only.extend_from_slice(&[0; 40]);
    let mut random = vec![0u8; 5000];
    OsRandom.fill(&mut random).unwrap();
    let mut random_with_prefix = rec[..29].to_vec();
    random_with_prefix.extend_from_slice(&random[..100]);
    let candidates: Vec<Vec<u8>> = vec![
        value_of(p, s, k),
        Vec::new(),
        vec![1],
        vec![0; RECORD_OVERHEAD - 1],
        vec![0; RECORD_OVERHEAD],
        vec![1; RECORD_OVERHEAD],
        prefix_only,
        random_with_prefix,
        random,
        header(&inner),
        b"{\"plaintext\": \"json\"}".to_vec(),
    ];
    for bytes in candidates {
        inner.write(p, s, k, bytes).unwrap();
        assert_auth_failed(store.read(p, s, k), p, s, k);
        // Planted under a key the store never wrote, too.
        inner.write("p", "s", "planted", value_of(p, s, k)).unwrap();
        assert_auth_failed(store.read("p", "s", "planted"), "p", "s", "planted");
        inner.remove("p", "s", "planted", false).unwrap();
    }
    others_unaffected(&inner, &store, &before, TARGET);
}

/// An older authentic record of the same key, written back, is refused by the open store
/// (`Rollback`), and a removed key brought back is absent (`Removed`, kind `NotFound`, never
/// served). Documented limit
/// (SECURITY.md): a new instance without a freshness anchor has not seen the newer record, and
/// reads the older value; even then the record is bound to its key and cannot move.
#[test]
fn rollback_to_an_older_record_of_the_same_key_is_refused_while_open() {
    use crate::common::read_error;
    use encrypted_kvstore::ReadError;
    let (inner, store) = populated();
    let (p, s, k) = TARGET;
    store.write(p, s, k, b"version 1".to_vec()).unwrap();
    let old = inner.read(p, s, k).unwrap();
    store.write(p, s, k, b"version 2".to_vec()).unwrap();
    assert_eq!(store.read(p, s, k).unwrap(), b"version 2");

    inner.write(p, s, k, old.clone()).unwrap();
    let e = store.read(p, s, k).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidData);
    assert!(
        matches!(read_error(&e), Some(ReadError::Rollback { .. })),
        "{e:?}"
    );

    // A removed key brought back is absent: never served.
    store.remove(p, s, k, false).unwrap();
    assert_eq!(store.read(p, s, k).unwrap_err().kind(), ErrorKind::NotFound);
    inner.write(p, s, k, old.clone()).unwrap();
    let e = store.read(p, s, k).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
    assert!(
        matches!(read_error(&e), Some(ReadError::Removed { found, .. }) if *found == u64::from_le_bytes(old[5..13].try_into().unwrap())),
        "{e:?}"
    );

    // Changing the passphrase does not change the data key: a new instance without an anchor
    // reads the old record.
    store
        .change_credential::<V>(Credential::passphrase_with(b"new passphrase", cheap()))
        .unwrap();
    drop(store);
    inner.write(p, s, k, old.clone()).unwrap();
    let reopened =
        EncryptedStore::open::<V>(inner.clone(), Credential::passphrase(b"new passphrase"))
            .unwrap();
    assert_eq!(reopened.read(p, s, k).unwrap(), b"version 1");
    // The rolled-back record is still bound to its key: it cannot move.
    inner.write("p", "s", "k2", old).unwrap();
    assert_auth_failed(reopened.read("p", "s", "k2"), "p", "s", "k2");
}

/// Documented limit (SECURITY.md): an older header written back is an authentic header. After a
/// passphrase change, whoever kept the old header and knows the old passphrase still opens the
/// store, including values written after the change (the data key is not rotated).
#[test]
fn rollback_of_the_header_restores_the_old_passphrase() {
    let (inner, store) = populated();
    let old_header = header(&inner);
    store
        .change_credential::<V>(Credential::passphrase_with(b"new passphrase", cheap()))
        .unwrap();
    store
        .write("p", "s", "after", b"written after the change".to_vec())
        .unwrap();
    assert!(matches!(
        EncryptedStore::open::<V>(inner.clone(), Credential::passphrase(PASSPHRASE)),
        Err(OpenError::WrongPassphrase)
    ));
    put_header(&inner, old_header);
    let rolled_back =
        EncryptedStore::open::<V>(inner.clone(), Credential::passphrase(PASSPHRASE)).unwrap();
    assert_eq!(
        rolled_back.read("p", "s", "after").unwrap(),
        b"written after the change"
    );
    assert!(matches!(
        EncryptedStore::open::<V>(inner, Credential::passphrase(b"new passphrase")),
        Err(OpenError::WrongPassphrase)
    ));
}

#[test]
fn every_write_draws_a_fresh_nonce() {
    let (inner, store) = populated();
    let mut records = std::collections::BTreeSet::new();
    let mut nonces = std::collections::BTreeSet::new();
    for _ in 0..64 {
        store
            .write("p", "s", "same", b"same value".to_vec())
            .unwrap();
        let rec = inner.read("p", "s", "same").unwrap();
        nonces.insert(rec[5..29].to_vec());
        records.insert(rec);
    }
    assert_eq!(records.len(), 64);
    assert_eq!(nonces.len(), 64);
}

/// The documented outcome of opening a header with byte `i` changed (checksum not recomputed).
#[track_caller]
fn assert_corrupt_header_error(i: usize, mask: u8, r: Result<EncryptedStore<TempFs>, OpenError>) {
    match (i, r) {
        (_, Ok(_)) => panic!("header with byte {i} ^ {mask:#x} opened"),
        (8, Err(OpenError::UnsupportedVersion { version })) => assert_eq!(version, 2 ^ mask),
        (i, Err(OpenError::CorruptHeader { .. })) if i != 8 => {}
        (i, Err(e)) => panic!("header byte {i} ^ {mask:#x}: unexpected {e:?}"),
    }
}

#[test]
fn every_single_byte_flip_of_the_header_is_refused_as_corrupt() {
    let (inner, store) = populated();
    let good = header(&inner);
    assert_eq!(good.len(), HEADER_LEN);
    for i in 0..HEADER_LEN {
        for mask in [0x01u8, 0x80, 0xff] {
            let mut bad = good.clone();
            bad[i] ^= mask;
            put_header(&inner, bad.clone());
            let before = snapshot(&inner);
            assert_corrupt_header_error(
                i,
                mask,
                EncryptedStore::open::<V>(inner.clone(), Credential::passphrase(PASSPHRASE)),
            );
            assert_corrupt_header_error(
                i,
                mask,
                EncryptedStore::open::<V>(inner.clone(), Credential::passphrase(b"wrong")),
            );
            assert!(EncryptedStore::open::<V>(
                inner.clone(),
                Credential::raw_key(&RawKey::from_bytes([0; 32]))
            )
            .is_err());
            match EncryptedStore::<TempFs>::inspect::<V>(&inner) {
                Err(OpenError::CorruptHeader { .. })
                | Err(OpenError::UnsupportedVersion { .. }) => {}
                other => panic!("inspect with byte {i} ^ {mask:#x}: {other:?}"),
            }
            assert!(before == snapshot(&inner), "open wrote to the store");
        }
    }
    // The store that was open is unaffected, and the good header opens again.
    put_header(&inner, good);
    assert_eq!(store.read("p", "s", "k").unwrap(), value_of("p", "s", "k"));
    let reopened = EncryptedStore::open::<V>(inner, Credential::passphrase(PASSPHRASE)).unwrap();
    assert_eq!(
        reopened.read("p", "s", "k").unwrap(),
        value_of("p", "s", "k")
    );
}

/// What a flip of header byte `i` (outside the version byte and the Argon2id costs), with the
/// checksum recomputed, must be refused with (docs/FORMAT.md, "The header"): the magic, the
/// protection byte, reserved bytes, the key count, the current key id and the key ids are
/// checked as they are parsed (`CorruptHeader`); the salt, store id, wrap nonce and wrapped hk
/// by the key wrap (`wrong`); the sequence number and version limit (`CorruptHeader` when the
/// flip makes one 0), the secrets' nonce and the sealed secrets by the secrets' seal
/// (`HeaderAuthenticationFailed`).
#[track_caller]
fn assert_forged_state_refused(i: usize, wrong: OpenError, e: OpenError) {
    let ok = match i {
        0..=7 | 9..=11 | 144..=147 | 164..=171 => matches!(e, OpenError::CorruptHeader { .. }),
        24..=143 => std::mem::discriminant(&e) == std::mem::discriminant(&wrong),
        148..=163 => matches!(
            e,
            OpenError::CorruptHeader { .. } | OpenError::HeaderAuthenticationFailed
        ),
        _ => matches!(e, OpenError::HeaderAuthenticationFailed),
    };
    assert!(ok, "forged header (byte {i}): unexpected {e:?}");
}

/// The header checksum is unkeyed: an attacker can recompute it. Every flip of the
/// checksummed bytes, with the checksum fixed up, must still fail to open, with a typed error.
#[test]
fn header_flips_with_a_recomputed_checksum_are_refused() {
    let (inner, _store) = populated();
    let good = header(&inner);
    for i in 0..CHECKSUM_AT {
        let mut bad = good.clone();
        bad[i] ^= 0x01;
        reseal_checksum(&mut bad);
        put_header(&inner, bad);
        let r = EncryptedStore::open::<V>(inner.clone(), Credential::passphrase(PASSPHRASE));
        match (i, r) {
            (_, Ok(_)) => panic!("forged header (byte {i}) opened"),
            (8, Err(OpenError::UnsupportedVersion { version: 3 })) => {}
            // Argon2id costs: either out of bounds, or a different key that does not unwrap.
            (12..=23, Err(OpenError::KdfParamsOutOfBounds | OpenError::WrongPassphrase)) => {}
            (i, Err(e)) => assert_forged_state_refused(i, OpenError::WrongPassphrase, e),
        }
    }
}

#[test]
fn raw_key_header_flips_with_a_recomputed_checksum_are_refused() {
    let inner = TempFs::new();
    let key = RawKey::from_bytes([7; 32]);
    let store = encrypted_kvstore::OpenOptions::new()
        .create::<V, _>(inner.clone(), Credential::raw_key(&key))
        .unwrap();
    store.write("p", "s", "k", b"v".to_vec()).unwrap();
    let good = header(&inner);
    for i in 0..CHECKSUM_AT {
        let mut bad = good.clone();
        bad[i] ^= 0x01;
        reseal_checksum(&mut bad);
        put_header(&inner, bad);
        match (
            i,
            EncryptedStore::open::<V>(inner.clone(), Credential::raw_key(&key)),
        ) {
            (_, Ok(_)) => panic!("forged raw-key header (byte {i}) opened"),
            (8, Err(OpenError::UnsupportedVersion { version: 3 })) => {}
            // A raw-key header carries no Argon2id costs.
            (12..=23, Err(OpenError::CorruptHeader { .. })) => {}
            (i, Err(e)) => assert_forged_state_refused(i, OpenError::WrongKey, e),
        }
    }
    // A passphrase header rewritten to say "raw key" does not open with any key.
    let (pinner, _pstore) = populated();
    let mut forged = header(&pinner);
    forged[9] = 2;
    forged[12..24].fill(0);
    reseal_checksum(&mut forged);
    put_header(&pinner, forged);
    assert!(matches!(
        EncryptedStore::open::<V>(pinner.clone(), Credential::raw_key(&key)),
        Err(OpenError::WrongKey)
    ));
    assert!(matches!(
        EncryptedStore::open::<V>(pinner, Credential::passphrase(PASSPHRASE)),
        Err(OpenError::RawKeyRequired)
    ));
}

#[test]
fn every_header_truncation_and_extension_is_refused_as_corrupt() {
    let (inner, _store) = populated();
    let good = header(&inner);
    for len in 0..HEADER_LEN {
        put_header(&inner, good[..len].to_vec());
        assert!(
            matches!(
                EncryptedStore::open::<V>(inner.clone(), Credential::passphrase(PASSPHRASE)),
                Err(OpenError::CorruptHeader { .. })
            ),
            "header of {len} bytes"
        );
    }
    for extra in [1usize, 32, 64, 180] {
        let mut long = good.clone();
        long.extend(std::iter::repeat_n(0u8, extra));
        put_header(&inner, long);
        assert!(matches!(
            EncryptedStore::open::<V>(inner.clone(), Credential::passphrase(PASSPHRASE)),
            Err(OpenError::CorruptHeader { .. })
        ));
    }
    for junk in [b"plaintext".to_vec(), vec![0; HEADER_LEN], Vec::new()] {
        put_header(&inner, junk);
        assert!(matches!(
            EncryptedStore::open::<V>(inner.clone(), Credential::passphrase(PASSPHRASE)),
            Err(OpenError::CorruptHeader { .. })
        ));
    }
}

/// A header from another store opens only with that store's passphrase; what it unlocks is the
/// other store's key, and every value of this store then fails authentication. Putting the
/// right header back restores everything.
#[test]
fn a_header_from_another_store_unlocks_nothing_of_this_store() {
    let (inner, _store) = populated();
    let own = header(&inner);
    let other_inner = TempFs::new();
    encrypted_kvstore::OpenOptions::new()
        .create::<V, _>(
            other_inner.clone(),
            Credential::passphrase_with(b"other passphrase", cheap()),
        )
        .unwrap();
    put_header(&inner, header(&other_inner));
    assert!(matches!(
        EncryptedStore::open::<V>(inner.clone(), Credential::passphrase(PASSPHRASE)),
        Err(OpenError::WrongPassphrase)
    ));

    // Same passphrase, other store: opens, but reads nothing.
    let same_pw_inner = TempFs::new();
    encrypted_kvstore::OpenOptions::new()
        .create::<V, _>(
            same_pw_inner.clone(),
            Credential::passphrase_with(PASSPHRASE, cheap()),
        )
        .unwrap();
    put_header(&inner, header(&same_pw_inner));
    let wrong =
        EncryptedStore::open::<V>(inner.clone(), Credential::passphrase(PASSPHRASE)).unwrap();
    for (p, s, k) in std::iter::once(TARGET).chain(NEIGHBOURS) {
        assert_auth_failed(wrong.read(p, s, k), p, s, k);
    }
    put_header(&inner, own);
    let right = EncryptedStore::open::<V>(inner, Credential::passphrase(PASSPHRASE)).unwrap();
    for (p, s, k) in std::iter::once(TARGET).chain(NEIGHBOURS) {
        assert_eq!(right.read(p, s, k).unwrap(), value_of(p, s, k));
    }
}

/// Absurd Argon2id costs in a (checksum-valid) header are refused before anything is
/// allocated or computed. Without the ceiling, `t = u32::MAX` would run for days and
/// `m = u32::MAX` KiB would ask for 4 TiB: this test finishing is the proof.
#[test]
fn absurd_kdf_costs_in_a_header_are_refused_before_deriving() {
    let (inner, _store) = populated();
    let good = header(&inner);
    let c = KdfParams::CEILING_MEMORY_KIB;
    let cases: [(u32, u32, u32); 11] = [
        (u32::MAX, u32::MAX, u32::MAX),
        (u32::MAX, 1, 1),
        (64, u32::MAX, 1),
        (64, 1, u32::MAX),
        (c + 1, 1, 1),
        (c, 5, 1),
        (4 * c, 1, 1),
        (64, 11, 1),
        (64 * 17, 1, 17),
        (64, 0, 1),
        (64, 1, 0),
    ];
    for (m, t, p) in cases {
        let mut bad = good.clone();
        bad[12..16].copy_from_slice(&m.to_le_bytes());
        bad[16..20].copy_from_slice(&t.to_le_bytes());
        bad[20..24].copy_from_slice(&p.to_le_bytes());
        reseal_checksum(&mut bad);
        put_header(&inner, bad);
        assert!(
            matches!(
                EncryptedStore::open::<V>(inner.clone(), Credential::passphrase(PASSPHRASE)),
                Err(OpenError::KdfParamsOutOfBounds)
            ),
            "m={m} t={t} p={p}"
        );
        assert!(matches!(
            EncryptedStore::<TempFs>::inspect::<V>(&inner),
            Err(OpenError::KdfParamsOutOfBounds)
        ));
    }
}

#[test]
fn a_missing_header_over_existing_data_is_not_initialized_and_nothing_is_written() {
    let (inner, store) = populated();
    store
        .write("monitors", "", "m_0", b"monitor".to_vec())
        .unwrap();
    drop(store);
    inner
        .remove(
            RESERVED_PRIMARY_NAMESPACE,
            HEADER_SECONDARY_NAMESPACE,
            HEADER_KEY,
            false,
        )
        .unwrap();
    let before = snapshot(&inner);
    assert!(matches!(
        EncryptedStore::open::<V>(inner.clone(), Credential::passphrase(PASSPHRASE)),
        Err(OpenError::NotInitialized)
    ));
    assert!(matches!(
        EncryptedStore::open::<V>(
            inner.clone(),
            Credential::raw_key(&RawKey::from_bytes([1; 32]))
        ),
        Err(OpenError::NotInitialized)
    ));
    assert!(matches!(
        EncryptedStore::<TempFs>::inspect::<V>(&inner),
        Err(OpenError::NotInitialized)
    ));
    // Nor does create start a new store over the orphaned records.
    match encrypted_kvstore::OpenOptions::new().create::<V, _>(
        inner.clone(),
        Credential::passphrase_with(PASSPHRASE, cheap()),
    ) {
        Err(OpenError::ExistingData { primary_namespace }) => assert_eq!(primary_namespace, ""),
        other => panic!("{other:?}"),
    }
    assert!(before == snapshot(&inner), "something was written");
}

/// The same attacks on LDK's `FilesystemStore`, through the files themselves.
#[test]
fn tampering_with_files_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let store = encrypted_kvstore::OpenOptions::new()
        .create::<V, _>(
            fs(dir.path()),
            Credential::passphrase_with(PASSPHRASE, cheap()),
        )
        .unwrap();
    store
        .write("monitors", "", "aa_0", b"monitor a".to_vec())
        .unwrap();
    store
        .write("monitors", "", "bb_0", b"monitor b".to_vec())
        .unwrap();
    let path = |p: &str, k: &str| dir.path().join(p).join(k);
    let rec = std::fs::read(path("monitors", "aa_0")).unwrap();
    for i in 0..rec.len() {
        let mut bad = rec.clone();
        bad[i] ^= 0x20;
        std::fs::write(path("monitors", "aa_0"), &bad).unwrap();
        assert_auth_failed(store.read("monitors", "", "aa_0"), "monitors", "", "aa_0");
    }
    std::fs::write(path("monitors", "aa_0"), &rec).unwrap();
    std::fs::copy(path("monitors", "aa_0"), path("monitors", "bb_0")).unwrap();
    assert_auth_failed(store.read("monitors", "", "bb_0"), "monitors", "", "bb_0");
    assert_eq!(store.read("monitors", "", "aa_0").unwrap(), b"monitor a");

    let hpath = path(RESERVED_PRIMARY_NAMESPACE, HEADER_KEY);
    let good = std::fs::read(&hpath).unwrap();
    let mut bad = good.clone();
    bad[100] ^= 1;
    std::fs::write(&hpath, &bad).unwrap();
    assert!(matches!(
        EncryptedStore::open::<V>(fs(dir.path()), Credential::passphrase(PASSPHRASE)),
        Err(OpenError::CorruptHeader { .. })
    ));
    std::fs::remove_file(&hpath).unwrap();
    let listing = |d: &std::path::Path| {
        let mut v: Vec<_> = walk(d);
        v.sort();
        v
    };
    let before = listing(dir.path());
    assert!(matches!(
        EncryptedStore::open::<V>(fs(dir.path()), Credential::passphrase(PASSPHRASE)),
        Err(OpenError::NotInitialized)
    ));
    assert_eq!(before, listing(dir.path()), "open wrote to the directory");
    std::fs::write(&hpath, &good).unwrap();
    let reopened =
        EncryptedStore::open::<V>(fs(dir.path()), Credential::passphrase(PASSPHRASE)).unwrap();
    assert_eq!(reopened.read("monitors", "", "aa_0").unwrap(), b"monitor a");
}

fn walk(d: &std::path::Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(d).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            let bytes = std::fs::read(&p).unwrap();
            out.push((p, bytes));
        }
    }
    out
}

#[test]
fn errors_reach_ldk_as_invalid_data_not_not_found() {
    // LDK treats NotFound as "no such value" (e.g. MonitorUpdatingPersister stops reading
    // updates there); a tampered value must never look missing.
    let (inner, store) = populated();
    inner.write("p", "s", "k", Vec::new()).unwrap();
    let e = store.read("p", "s", "k").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidData);
    assert_ne!(e.kind(), ErrorKind::NotFound);
}
