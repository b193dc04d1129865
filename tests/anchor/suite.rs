//! The freshness anchor over LDK's `FilesystemStore` (data and anchor in two directories):
//! opening refuses an anchored store without its anchor, an anchor that knows nothing of the
//! store, an anchor not attached to it, a corrupt anchor and an older header put back; a record
//! rolled back or deleted while the store was closed is refused after the restart (also by
//! `list_all_keys`, for a namespace deleted behind the store), and a removed one put back is
//! absent; creating with an
//! anchor makes an anchored store; attaching an anchor and accepting the current state are
//! explicit, check every value first, start a new epoch (never the old one) and refuse the
//! records of the timeline they abandon, and an accept of a caller's listing drops what it
//! leaves out; detaching lets the store open without its anchor; a failing anchor
//! loses nothing and raises no false alarm; a read-only instance beside the writer raises none
//! either.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use super::v::{
    anchor, ldk, open_anchored, open_anchored_read_only, open_anchored_refused, snapshot, AsyncOps,
    Ops, SyncOps, TempFs, V,
};
use crate::common::{
    assert_anchor_remove_error, assert_anchor_write_error, assert_list_missing, cheap, Snapshot,
    PASSPHRASE,
};
use encrypted_kvstore::{
    Credential, EncryptedStore, FreshnessAnchor, ListError, OpenError, OpenOptions, RandomError,
    RandomSource, ReadError, ANCHOR_PRIMARY_NAMESPACE, RESERVED_PRIMARY_NAMESPACE,
};
use ldk::io::{self, ErrorKind};
use ldk::util::persist::KVStoreSync;

/// A new anchored store over `inner`, its anchor in `a`.
fn create(inner: &TempFs, a: &TempFs) -> EncryptedStore<TempFs> {
    OpenOptions::new()
        .anchor(anchor(a))
        .create::<V, _>(
            inner.clone(),
            Credential::passphrase_with(PASSPHRASE, cheap()),
        )
        .unwrap()
}

/// A new store over `inner` without an anchor.
fn create_unanchored(inner: &TempFs) -> EncryptedStore<TempFs> {
    OpenOptions::new()
        .create::<V, _>(
            inner.clone(),
            Credential::passphrase_with(PASSPHRASE, cheap()),
        )
        .unwrap()
}

/// Opens the anchored store in `inner` with its anchor in `a`, writable.
fn open(inner: &TempFs, a: &TempFs) -> Result<EncryptedStore<TempFs>, OpenError> {
    open_anchored(inner.clone(), a)
}

/// Accepts the current state of the store in `inner` into the anchor in `a`.
fn accept(inner: &TempFs, a: &TempFs) -> Result<EncryptedStore<TempFs>, OpenError> {
    OpenOptions::new()
        .anchor(anchor(a))
        .accept_current_state::<V, _>(inner.clone(), Credential::passphrase(PASSPHRASE))
}

/// Puts `to` back as every value of `store`: what is not in it is removed.
fn restore(store: &TempFs, to: &Snapshot) {
    for ((p, s, k), _) in snapshot(store) {
        store.remove(&p, &s, &k, false).unwrap();
    }
    for ((p, s, k), v) in to {
        store.write(p, s, k, v.clone()).unwrap();
    }
}

/// Reading `monitors/m1` through `store` is refused as a rollback.
#[track_caller]
fn assert_m1_rolled_back(store: &EncryptedStore<TempFs>) {
    let e = store.read("monitors", "", "m1").unwrap_err();
    assert!(
        matches!(read_error(&e), ReadError::Rollback { .. }),
        "{e:?}"
    );
}

fn read_error(e: &io::Error) -> &ReadError {
    e.get_ref()
        .and_then(|e| e.downcast_ref::<ReadError>())
        .unwrap_or_else(|| panic!("untyped error {e:?}"))
}

/// The names the anchor holds for its one store.
fn anchor_names(a: &TempFs) -> BTreeSet<String> {
    let groups = a.list(ANCHOR_PRIMARY_NAMESPACE, "").unwrap();
    assert!(
        groups.is_empty(),
        "values at the top of the anchor namespace"
    );
    super::v::MigratableKVStoreSync::list_all_keys(a)
        .unwrap()
        .into_iter()
        .map(|(p, _, k)| {
            assert_eq!(p, ANCHOR_PRIMARY_NAMESPACE);
            k
        })
        .collect()
}

/// The inner store's copy of every record (the header left out).
fn records(inner: &TempFs) -> Vec<((String, String, String), Vec<u8>)> {
    snapshot(inner)
        .into_iter()
        .filter(|((p, _, _), _)| p != RESERVED_PRIMARY_NAMESPACE)
        .collect()
}

fn version_of(record: &[u8]) -> u64 {
    assert_eq!(record[0], 2, "a version 2 record");
    u64::from_le_bytes(record[5..13].try_into().unwrap())
}

#[test]
fn an_anchored_store_opens_only_with_its_anchor() {
    let (inner, a) = (TempFs::new(), TempFs::new());
    let store = create(&inner, &a);
    assert!(store.info().anchored);
    store.write("monitors", "", "m1", b"one".to_vec()).unwrap();
    drop(store);
    // No anchor: refused, never a silent fallback; also read-only.
    for opts in [OpenOptions::new(), OpenOptions::new().read_only()] {
        let e = opts
            .open::<V, _>(inner.clone(), Credential::passphrase(PASSPHRASE))
            .unwrap_err();
        assert!(matches!(e, OpenError::AnchorRequired), "{e:?}");
        assert_eq!(io::Error::from(e).kind(), ErrorKind::InvalidData);
    }
    // An anchor that knows nothing of the store: refused.
    let elsewhere = TempFs::new();
    let e = open(&inner, &elsewhere).unwrap_err();
    assert!(matches!(e, OpenError::AnchorEmpty), "{e:?}");
    assert!(e.to_string().contains("accept the current state"), "{e}");
    // With its anchor: opens, reads, and the inspect view says so.
    let store = open(&inner, &a).unwrap();
    assert_eq!(store.read("monitors", "", "m1").unwrap(), b"one");
    assert!(EncryptedStore::inspect::<V>(&inner).unwrap().anchored);
}

/// Rollback, deletion and resurrection across a restart: a replayed record, a deleted one, a
/// removed one put back, through the sync and the async traits.
#[test]
fn rollback_deletion_and_resurrection_between_restarts_are_refused() {
    for how in ["sync", "async"] {
        let (inner, a) = (TempFs::new(), TempFs::new());
        let store = create(&inner, &a);
        let async_ops = AsyncOps::new(&store);
        let ops: &dyn Ops = if how == "sync" {
            &SyncOps(&store)
        } else {
            &async_ops
        };
        ops.write("monitors", "", "m1", b"state 1".to_vec())
            .unwrap();
        let old = inner.read("monitors", "", "m1").unwrap();
        ops.write("monitors", "", "m1", b"state 2".to_vec())
            .unwrap();
        let new = inner.read("monitors", "", "m1").unwrap();
        ops.write("monitor_updates", "m1", "1", b"update".to_vec())
            .unwrap();
        ops.write("payments", "", "p1", b"paid".to_vec()).unwrap();
        let p1 = inner.read("payments", "", "p1").unwrap();
        ops.remove("payments", "", "p1", false).unwrap();
        drop(async_ops);
        drop(store);

        // 1. Replay: the older monitor record is put back while the node is down.
        inner.write("monitors", "", "m1", old.clone()).unwrap();
        let store = open(&inner, &a).unwrap();
        let e = store.read("monitors", "", "m1").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidData, "{how}");
        assert_eq!(
            read_error(&e),
            &ReadError::Rollback {
                primary_namespace: "monitors".into(),
                secondary_namespace: "".into(),
                key: "m1".into(),
                found: version_of(&old),
                expected_at_least: version_of(&new),
            },
            "{how}"
        );
        inner.write("monitors", "", "m1", new).unwrap();
        assert_eq!(store.read("monitors", "", "m1").unwrap(), b"state 2");
        drop(store);

        // 2. Deletion of the newest monitor update: refused on read and on list.
        inner.remove("monitor_updates", "m1", "1", false).unwrap();
        let store = open(&inner, &a).unwrap();
        let e = store.read("monitor_updates", "m1", "1").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidData, "{how}");
        assert!(
            matches!(read_error(&e), ReadError::Missing { key, .. } if key == "1"),
            "{e:?}"
        );
        let e = store.list("monitor_updates", "m1").unwrap_err();
        assert_list_missing(&e, "1", how);
        drop(store);

        // 3. Resurrection of the hard-removed payment: absent (`Removed`, kind `NotFound`),
        //    never served, and left out of the listing.
        let p1_version = version_of(&p1);
        inner.write("payments", "", "p1", p1).unwrap();
        let store = open(&inner, &a).unwrap();
        let e = store.read("payments", "", "p1").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotFound, "{how}");
        assert_eq!(
            read_error(&e),
            &ReadError::Removed {
                primary_namespace: "payments".into(),
                secondary_namespace: "".into(),
                key: "p1".into(),
                found: p1_version,
            },
            "{how}"
        );
        assert_eq!(store.list("payments", "").unwrap(), Vec::<String>::new());
        assert!(inner.read("payments", "", "p1").is_ok(), "still stored");
    }
}

/// A whole older copy of the store (header and all) put back: its header is older than the one
/// the anchor saw, so opening refuses it before anything is read.
#[test]
fn a_whole_older_copy_of_the_store_is_refused_at_open() {
    let (inner, a) = (TempFs::new(), TempFs::new());
    let store = create(&inner, &a);
    store.write("monitors", "", "m1", b"old".to_vec()).unwrap();
    let backup = snapshot(&inner);
    store.write("monitors", "", "m1", b"new".to_vec()).unwrap();
    store.write("monitors", "", "m2", b"new".to_vec()).unwrap();
    drop(store);
    // A restart: the writable open reserves versions, a header write the anchor records.
    drop(open(&inner, &a).unwrap());
    let now = EncryptedStore::inspect::<V>(&inner).unwrap().header_seq;
    // Restore the backup: every value of the copy, and nothing else.
    restore(&inner, &backup);
    let then = EncryptedStore::inspect::<V>(&inner).unwrap().header_seq;
    assert!(then < now);
    // Writable and read-only.
    for (mode, e) in open_anchored_refused(&inner, &a) {
        assert!(
            matches!(e, OpenError::HeaderRolledBack { header_seq, anchor_header_seq }
                if header_seq == then && anchor_header_seq == now),
            "{mode}: {e:?}"
        );
        assert_eq!(io::Error::from(e).kind(), ErrorKind::InvalidData);
    }
}

/// An older copy of the values under the current header: each rolled-back key is refused.
#[test]
fn older_values_under_the_current_header_are_refused_per_key() {
    let (inner, a) = (TempFs::new(), TempFs::new());
    let store = create(&inner, &a);
    store.write("monitors", "", "m1", b"old".to_vec()).unwrap();
    let backup = records(&inner);
    store.write("monitors", "", "m1", b"new".to_vec()).unwrap();
    drop(store);
    for ((p, s, k), v) in &backup {
        inner.write(p, s, k, v.clone()).unwrap();
    }
    let store = open(&inner, &a).unwrap();
    assert_m1_rolled_back(&store);
}

/// An anchor given for a store that has none is refused until attached explicitly; attaching
/// reads and accepts every value, and from then on they are watched across restarts.
#[test]
fn attaching_an_anchor_is_explicit_and_watches_every_value() {
    let (inner, a) = (TempFs::new(), TempFs::new());
    let store = create_unanchored(&inner);
    assert!(!store.info().anchored);
    store.write("monitors", "", "m1", b"one".to_vec()).unwrap();
    store.write("", "", "manager", b"two".to_vec()).unwrap();
    drop(store);
    let e = open(&inner, &a).unwrap_err();
    assert!(matches!(e, OpenError::AnchorNotAttached), "{e:?}");
    let store = accept(&inner, &a).unwrap();
    assert!(store.info().anchored);
    assert_eq!(store.read("", "", "manager").unwrap(), b"two");
    drop(store);
    // The accepted values are watched: a deletion while the store is closed is refused.
    inner.remove("", "", "manager", false).unwrap();
    let store = open(&inner, &a).unwrap();
    let e = store.read("", "", "manager").unwrap_err();
    assert!(matches!(read_error(&e), ReadError::Missing { .. }), "{e:?}");
    assert_eq!(store.read("monitors", "", "m1").unwrap(), b"one");
}

/// Accepting again (a lost anchor, a deliberate restore) starts a new epoch: every value of the
/// old one is removed, one entry per value is written, and a tampered value stops it first.
#[test]
fn accepting_the_current_state_checks_every_value_and_starts_a_new_epoch() {
    let (inner, a) = (TempFs::new(), TempFs::new());
    let store = create(&inner, &a);
    for k in ["a", "b", "c"] {
        store
            .write("payments", "", k, k.as_bytes().to_vec())
            .unwrap();
    }
    drop(store);
    let before = anchor_names(&a);
    assert_eq!(before.len(), 4, "meta and one entry per value: {before:?}");

    // A tampered value: the operation fails, the anchor is unchanged.
    let good = inner.read("payments", "", "b").unwrap();
    let mut bad = good.clone();
    *bad.last_mut().unwrap() ^= 1;
    inner.write("payments", "", "b", bad).unwrap();
    let e = accept(&inner, &a).unwrap_err();
    let OpenError::Io(io) = &e else {
        panic!("{e:?}")
    };
    assert!(matches!(read_error(io), ReadError::AuthenticationFailed { key, .. } if key == "b"));
    assert_eq!(anchor_names(&a), before);
    inner.write("payments", "", "b", good).unwrap();

    // Clean: a new epoch, no name of the old one left but `meta`.
    let store = accept(&inner, &a).unwrap();
    let after = anchor_names(&a);
    assert_eq!(after.len(), 4, "{after:?}");
    assert_eq!(
        after.intersection(&before).collect::<Vec<_>>(),
        ["meta"],
        "every entry is renamed by the new epoch"
    );
    assert_eq!(store.read("payments", "", "c").unwrap(), b"c");
}

/// A lost anchor: opening refuses until the current state is accepted into a new one.
#[test]
fn a_lost_anchor_is_replaced_only_by_accepting_the_current_state() {
    let (inner, a) = (TempFs::new(), TempFs::new());
    let store = create(&inner, &a);
    store.write("monitors", "", "m1", b"one".to_vec()).unwrap();
    drop(store);
    let fresh = TempFs::new();
    assert!(matches!(open(&inner, &fresh), Err(OpenError::AnchorEmpty)));
    let store = accept(&inner, &fresh).unwrap();
    assert_eq!(store.read("monitors", "", "m1").unwrap(), b"one");
    drop(store);
    assert_eq!(
        open(&inner, &fresh)
            .unwrap()
            .read("monitors", "", "m1")
            .unwrap(),
        b"one"
    );
}

/// Every accept draws a new epoch: over three accepts of the same values no entry name recurs
/// (an epoch drawn again would make the entries left over from its first use valid again).
#[test]
fn every_accept_draws_a_new_epoch() {
    let (inner, a) = (TempFs::new(), TempFs::new());
    let store = create(&inner, &a);
    store.write("monitors", "", "m1", b"one".to_vec()).unwrap();
    drop(store);
    let mut seen = anchor_names(&a);
    for i in 0..3 {
        drop(accept(&inner, &a).unwrap());
        let names = anchor_names(&a);
        assert_eq!(
            names.intersection(&seen).collect::<Vec<_>>(),
            ["meta"],
            "accept {i}"
        );
        seen.extend(names);
    }
}

/// A lost anchor and a restored backup: the accept puts its mark 2^40 above the backup
/// header's limit, so a record of the abandoned timeline (written by a later session, from
/// versions above that limit) is refused as a rollback, not served as a newer write whose
/// anchor update was cut short.
#[test]
fn after_an_accept_the_abandoned_timeline_is_refused() {
    let (inner, a) = (TempFs::new(), TempFs::new());
    let store = create(&inner, &a);
    store.write("monitors", "", "m1", b"old".to_vec()).unwrap();
    drop(store);
    let backup = snapshot(&inner);
    let store = open(&inner, &a).unwrap();
    store.write("monitors", "", "m1", b"new".to_vec()).unwrap();
    drop(store);
    let abandoned = inner.read("monitors", "", "m1").unwrap();
    restore(&inner, &backup);
    let store = accept(&inner, &TempFs::new()).unwrap();
    assert_eq!(store.read("monitors", "", "m1").unwrap(), b"old");
    inner.write("monitors", "", "m1", abandoned).unwrap();
    assert_m1_rolled_back(&store);
}

/// A random source that gives only zeros: every draw repeats the one before.
struct Zeros;

impl RandomSource for Zeros {
    fn fill(&self, dest: &mut [u8]) -> Result<(), RandomError> {
        dest.fill(0);
        Ok(())
    }
}

/// An accept whose random draw repeats the meta's epoch still starts a new one. In the old
/// epoch its entries would have the old names, and its last step, removing the old values,
/// would remove them: every key would be absent after the next open.
#[test]
fn an_accept_that_draws_the_metas_epoch_starts_another() {
    let (inner, a) = (TempFs::new(), TempFs::new());
    let zeros = || {
        OpenOptions::new()
            .random_source_for_tests_only(Arc::new(Zeros))
            .anchor(anchor(&a))
    };
    let store = zeros()
        .create::<V, _>(
            inner.clone(),
            Credential::passphrase_with(PASSPHRASE, cheap()),
        )
        .unwrap();
    store.write("monitors", "", "m1", b"one".to_vec()).unwrap();
    drop(store);
    let before = anchor_names(&a);
    drop(
        zeros()
            .accept_current_state::<V, _>(inner.clone(), Credential::passphrase(PASSPHRASE))
            .unwrap(),
    );
    let after = anchor_names(&a);
    assert_eq!(after.len(), 2, "meta and m1's entry: {after:?}");
    assert_eq!(after.intersection(&before).collect::<Vec<_>>(), ["meta"]);
    let store = open(&inner, &a).unwrap();
    assert_eq!(store.read("monitors", "", "m1").unwrap(), b"one");
}

#[test]
fn detaching_the_anchor_lets_the_store_open_without_it() {
    let (inner, a) = (TempFs::new(), TempFs::new());
    let store = create(&inner, &a);
    store.write("monitors", "", "m1", b"one".to_vec()).unwrap();
    store.detach_anchor().unwrap();
    assert!(!store.info().anchored);
    // The anchor is no longer written, and detaching again writes nothing.
    let names = anchor_names(&a);
    let seq = EncryptedStore::inspect::<V>(&inner).unwrap().header_seq;
    store.write("monitors", "", "m1", b"two".to_vec()).unwrap();
    store.write("monitors", "", "m2", b"new".to_vec()).unwrap();
    store.detach_anchor().unwrap();
    assert_eq!(anchor_names(&a), names);
    assert_eq!(
        EncryptedStore::inspect::<V>(&inner).unwrap().header_seq,
        seq
    );
    drop(store);
    let store =
        EncryptedStore::open::<V>(inner.clone(), Credential::passphrase(PASSPHRASE)).unwrap();
    assert_eq!(store.read("monitors", "", "m1").unwrap(), b"two");
    drop(store);
    // The old anchor no longer applies to it.
    assert!(matches!(
        open(&inner, &a),
        Err(OpenError::AnchorNotAttached)
    ));
}

/// Every value of the anchor is sealed under the anchor key and bound to its store and name: a
/// flipped byte, a truncated value, a value moved to another name, a value from another
/// store's anchor, a forged value and an unknown name are each `AnchorCorrupt`; mended, the
/// store opens again.
#[test]
fn a_corrupt_anchor_is_refused() {
    let (inner, a) = (TempFs::new(), TempFs::new());
    let store = create(&inner, &a);
    store.write("monitors", "", "m1", b"one".to_vec()).unwrap();
    store.write("monitors", "", "m2", b"two".to_vec()).unwrap();
    let id = store.info().store_id;
    drop(store);
    let ns: String = id.iter().map(|b| format!("{b:02x}")).collect();
    let entries: Vec<String> = anchor_names(&a)
        .into_iter()
        .filter(|n| n.starts_with('k'))
        .collect();
    assert_eq!(entries.len(), 2, "{entries:?}");
    let (entry, other) = (&entries[0], &entries[1]);
    let good = a.read(ANCHOR_PRIMARY_NAMESPACE, &ns, entry).unwrap();
    let good_other = a.read(ANCHOR_PRIMARY_NAMESPACE, &ns, other).unwrap();
    let meta = a.read(ANCHOR_PRIMARY_NAMESPACE, &ns, "meta").unwrap();
    assert_eq!(meta.len(), 72, "nonce, sealed 32 bytes, tag");
    // The sealed values of another anchored store, with the same names in it.
    let (inner2, a2) = (TempFs::new(), TempFs::new());
    let store2 = create(&inner2, &a2);
    store2.write("monitors", "", "m1", b"one".to_vec()).unwrap();
    let id2 = store2.info().store_id;
    drop(store2);
    let ns2: String = id2.iter().map(|b| format!("{b:02x}")).collect();
    let meta2 = a2.read(ANCHOR_PRIMARY_NAMESPACE, &ns2, "meta").unwrap();
    let entry2_name = anchor_names(&a2)
        .into_iter()
        .find(|n| n.starts_with('k'))
        .unwrap();
    let entry2 = a2
        .read(ANCHOR_PRIMARY_NAMESPACE, &ns2, &entry2_name)
        .unwrap();

    let put = |name: &str, v: Vec<u8>| a.write(ANCHOR_PRIMARY_NAMESPACE, &ns, name, v).unwrap();
    let flip = |v: &[u8], i: usize| {
        let mut v = v.to_vec();
        v[i] ^= 1;
        v
    };
    let forged_meta = {
        // What an unsealed meta would hold (epoch, header_seq, limit, mark), padded to size.
        let mut m = vec![0u8; 24];
        for x in [7u64, 1_000, u64::MAX, 1] {
            m.extend_from_slice(&x.to_le_bytes());
        }
        m.extend_from_slice(&[0u8; 16]);
        m
    };
    let cases: Vec<(&str, &str, Vec<u8>)> = vec![
        ("an entry's nonce flipped", entry.as_str(), flip(&good, 0)),
        (
            "an entry's ciphertext flipped",
            entry.as_str(),
            flip(&good, 30),
        ),
        (
            "an entry's tag flipped",
            entry.as_str(),
            flip(&good, good.len() - 1),
        ),
        ("a truncated entry", entry.as_str(), good[..20].to_vec()),
        ("an empty entry", entry.as_str(), Vec::new()),
        (
            "an entry moved to another entry's name",
            entry.as_str(),
            good_other.clone(),
        ),
        (
            "another store's entry under this store",
            entry2_name.as_str(),
            entry2.clone(),
        ),
        ("an unknown name", "stray", vec![1]),
        ("a name short of the hash form", &entry[..64], good.clone()),
        ("meta too short", "meta", meta[..40].to_vec()),
        ("meta's nonce flipped", "meta", flip(&meta, 9)),
        ("meta's tag flipped", "meta", flip(&meta, 71)),
        ("meta of another store", "meta", meta2.clone()),
        ("a forged meta", "meta", forged_meta),
        ("an entry written as meta", "meta", good.clone()),
    ];
    let mut before = snapshot(&a);
    for (what, name, value) in cases {
        put(name, value);
        for (mode, e) in open_anchored_refused(&inner, &a) {
            assert!(
                matches!(e, OpenError::AnchorCorrupt { .. }),
                "{what}, {mode}: {e:?}"
            );
            assert_eq!(io::Error::from(e).kind(), ErrorKind::InvalidData, "{what}");
        }
        // Mend: put back exactly what the anchor held.
        restore(&a, &before);
        let store = open(&inner, &a).unwrap_or_else(|e| panic!("{what}: mended, {e:?}"));
        assert_eq!(store.read("monitors", "", "m1").unwrap(), b"one", "{what}");
        drop(store);
        // The writable open rewrote meta (its reservation): the state to mend to next.
        before = snapshot(&a);
    }
}

/// An anchor that fails on demand.
struct Flaky<A> {
    inner: A,
    fail: Arc<AtomicBool>,
}

impl<A: FreshnessAnchor> FreshnessAnchor for Flaky<A> {
    fn read(&self, store: &str, name: &str) -> Result<Option<Vec<u8>>, io::Error> {
        self.check()?;
        self.inner.read(store, name)
    }
    fn write(&self, store: &str, name: &str, value: &[u8]) -> Result<(), io::Error> {
        self.check()?;
        self.inner.write(store, name, value)
    }
    fn remove(&self, store: &str, name: &str) -> Result<(), io::Error> {
        self.check()?;
        self.inner.remove(store, name)
    }
    fn list(&self, store: &str) -> Result<Vec<String>, io::Error> {
        self.check()?;
        self.inner.list(store)
    }
}

impl<A> Flaky<A> {
    fn check(&self) -> Result<(), io::Error> {
        if self.fail.load(Ordering::SeqCst) {
            Err(io::Error::new(ErrorKind::Other, "anchor down"))
        } else {
            Ok(())
        }
    }
}

/// A failing anchor: the write lands and is reported as `WriteError::Anchor`; while that change
/// is pending, a remove or another write is refused before it reaches the inner store; nothing
/// is lost, and neither this instance nor the next raises a false alarm. Once the anchor is
/// back, the changes reach it.
#[test]
fn a_failing_anchor_loses_nothing_and_raises_no_false_alarm() {
    let (inner, a) = (TempFs::new(), TempFs::new());
    let fail = Arc::new(AtomicBool::new(false));
    let flaky = || Flaky {
        inner: anchor(&a),
        fail: Arc::clone(&fail),
    };
    let reopen = || {
        OpenOptions::new()
            .anchor(flaky())
            .open::<V, _>(inner.clone(), Credential::passphrase(PASSPHRASE))
            .unwrap()
    };
    let store = OpenOptions::new()
        .anchor(flaky())
        .create::<V, _>(
            inner.clone(),
            Credential::passphrase_with(PASSPHRASE, cheap()),
        )
        .unwrap();
    store.write("monitors", "", "m1", b"one".to_vec()).unwrap();
    store.write("monitors", "", "m2", b"one".to_vec()).unwrap();

    fail.store(true, Ordering::SeqCst);
    assert_anchor_write_error(
        store.write("monitors", "", "m1", b"two".to_vec()),
        "a write the anchor refuses",
    );
    assert_eq!(store.read("monitors", "", "m1").unwrap(), b"two");
    assert_anchor_remove_error(
        store.remove("monitors", "", "m2", false),
        "a remove while a write is pending",
    );
    assert_eq!(
        store.read("monitors", "", "m2").unwrap(),
        b"one",
        "not removed"
    );
    // While the change is pending, a write of another key is refused before it reaches the
    // inner store: at most one operation runs ahead of the anchor.
    assert_anchor_write_error(
        store.write("monitors", "", "m3", b"three".to_vec()),
        "a write of another key while a write is pending",
    );
    assert_eq!(
        inner.read("monitors", "", "m3").unwrap_err().kind(),
        ErrorKind::NotFound,
        "nothing reached the inner store"
    );
    drop(store);

    // A restart with the anchor still behind: no false alarm on the newer m1.
    fail.store(false, Ordering::SeqCst);
    let store = reopen();
    assert_eq!(store.read("monitors", "", "m1").unwrap(), b"two");
    store.remove("monitors", "", "m2", false).unwrap();
    assert_eq!(
        store.read("monitors", "", "m2").unwrap_err().kind(),
        ErrorKind::NotFound
    );
    // And the retried write brings the anchor up to date: an older m1 is refused after a
    // restart.
    let old = inner.read("monitors", "", "m1").unwrap();
    store
        .write("monitors", "", "m1", b"three".to_vec())
        .unwrap();
    drop(store);
    inner.write("monitors", "", "m1", old).unwrap();
    let store = reopen();
    assert_m1_rolled_back(&store);
}

/// The node and a read-only tool over one store and one anchor: the writer's removes (hard and
/// lazy) of keys the reader loaded as live raise no alarm in the reader, which re-reads the
/// anchor before reporting; a removed record it found absent, put back behind both their backs,
/// stays absent and out of its listing; a deletion behind both their backs is still refused.
#[test]
fn a_read_only_instance_beside_the_writer_raises_no_false_alarm() {
    let (inner, a) = (TempFs::new(), TempFs::new());
    let writer = create(&inner, &a);
    for k in ["hard", "lazy", "kept", "stolen"] {
        writer
            .write("payments", "", k, k.as_bytes().to_vec())
            .unwrap();
    }
    let reader = open_anchored_read_only(inner.clone(), &a).unwrap();
    let hard = inner.read("payments", "", "hard").unwrap();
    writer.remove("payments", "", "hard", false).unwrap();
    writer.remove("payments", "", "lazy", true).unwrap();
    for k in ["hard", "lazy"] {
        assert_eq!(
            reader.read("payments", "", k).unwrap_err().kind(),
            ErrorKind::NotFound,
            "{k}"
        );
    }
    inner.write("payments", "", "hard", hard).unwrap();
    assert_eq!(
        reader.read("payments", "", "hard").unwrap_err().kind(),
        ErrorKind::NotFound
    );
    assert_eq!(reader.list("payments", "").unwrap().len(), 2);
    assert_eq!(reader.read("payments", "", "kept").unwrap(), b"kept");
    // A key the anchor still holds live, deleted behind both instances' backs.
    inner.remove("payments", "", "stolen", false).unwrap();
    let e = reader.read("payments", "", "stolen").unwrap_err();
    assert!(matches!(read_error(&e), ReadError::Missing { .. }), "{e:?}");
    // The reader never wrote the anchor or the store.
    let e = reader.write("payments", "", "x", vec![]).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::PermissionDenied);
}

/// For an inner store that cannot list its keys, the caller lists them
/// (`accept_current_state_listed`): every listed key is watched across restarts from the
/// accept on, and a key left out of the listing is absent from then on (`Removed`, kind
/// `NotFound`, left out of `list`), never served stale, until it is written again. A listed key
/// gone since the listing is skipped.
#[test]
fn accepting_a_callers_listing_watches_what_it_lists_and_drops_the_rest() {
    let (inner, a) = (TempFs::new(), TempFs::new());
    let store = create_unanchored(&inner);
    store.write("monitors", "", "m1", b"one".to_vec()).unwrap();
    store
        .write("monitors", "", "m2", b"left out".to_vec())
        .unwrap();
    drop(store);
    let mut listed: Vec<(String, String, String)> = records(&inner)
        .into_iter()
        .map(|(names, _)| names)
        .filter(|(_, _, k)| k != "m2")
        .collect();
    assert_eq!(listed.len(), 1);
    listed.push(("monitors".into(), "".into(), "gone".into()));
    let m2 = inner.read("monitors", "", "m2").unwrap();
    let store = OpenOptions::new()
        .anchor(anchor(&a))
        .accept_current_state_listed::<V, _>(
            inner.clone(),
            Credential::passphrase(PASSPHRASE),
            listed,
        )
        .unwrap();
    assert!(store.info().anchored);
    assert_eq!(anchor_names(&a).len(), 2, "meta and m1's entry");
    assert_eq!(store.read("monitors", "", "m1").unwrap(), b"one");
    let e = store.read("monitors", "", "m2").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
    assert_eq!(
        read_error(&e),
        &ReadError::Removed {
            primary_namespace: "monitors".into(),
            secondary_namespace: "".into(),
            key: "m2".into(),
            found: version_of(&m2),
        }
    );
    assert_eq!(store.list("monitors", "").unwrap(), ["m1"]);
    let old = inner.read("monitors", "", "m1").unwrap();
    store.write("monitors", "", "m1", b"two".to_vec()).unwrap();
    drop(store);
    // Across a restart: m1 rolled back is refused, m2 is still absent.
    inner.write("monitors", "", "m1", old).unwrap();
    let store = open(&inner, &a).unwrap();
    assert_m1_rolled_back(&store);
    assert_eq!(
        store.read("monitors", "", "m2").unwrap_err().kind(),
        ErrorKind::NotFound
    );
    // Written again, it is live and watched.
    store
        .write("monitors", "", "m2", b"again".to_vec())
        .unwrap();
    assert_eq!(store.read("monitors", "", "m2").unwrap(), b"again");
    drop(store);
    inner.write("monitors", "", "m2", m2).unwrap();
    let store = open(&inner, &a).unwrap();
    let e = store.read("monitors", "", "m2").unwrap_err();
    assert!(
        matches!(read_error(&e), ReadError::Rollback { .. }),
        "{e:?}"
    );
}

/// An anchor is never silently ignored: `create` with one makes an anchored store.
#[test]
fn an_anchor_makes_an_anchored_store() {
    let (inner, a) = (TempFs::new(), TempFs::new());
    let store = create(&inner, &a);
    assert_eq!(
        store.info().format_version,
        encrypted_kvstore::FORMAT_VERSION
    );
    assert!(store.info().anchored);
    assert!(EncryptedStore::inspect::<V>(&inner).unwrap().anchored);
}

/// `list_all_keys` checks every pair as `list` checks one: a namespace whose every value was
/// deleted behind the store's back (so that no per-namespace `list` of it is ever asked for
/// by a tool that walks `list_all_keys`) is refused, while the store is open and, with the
/// anchor, after a restart, also on a read-only instance; honest removes raise nothing.
#[test]
fn list_all_keys_refuses_a_namespace_deleted_behind_the_store() {
    let (inner, a) = (TempFs::new(), TempFs::new());
    let all = |s: &EncryptedStore<TempFs>| super::v::MigratableKVStoreSync::list_all_keys(s);
    let missing = |r: Result<Vec<(String, String, String)>, io::Error>| {
        let e = r.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidData, "{e:?}");
        match e.get_ref().and_then(|e| e.downcast_ref::<ListError>()) {
            Some(ListError::Missing {
                primary_namespace,
                key,
                ..
            }) => (primary_namespace.clone(), key.clone()),
            other => panic!("{other:?}"),
        }
    };
    let store = create(&inner, &a);
    store.write("monitors", "", "m0", b"m0".to_vec()).unwrap();
    store.write("payments", "", "p0", b"p0".to_vec()).unwrap();
    store.write("payments", "", "p1", b"p1".to_vec()).unwrap();
    store.remove("payments", "", "p1", false).unwrap();
    store.write("gone", "", "g0", b"g0".to_vec()).unwrap();
    store.remove("gone", "", "g0", true).unwrap();
    assert_eq!(all(&store).unwrap().len(), 2);
    // Deleted behind its back: the whole `payments` namespace (one file left in it).
    let stored = records(&inner);
    let ((sp, ss, sk), _) = stored
        .iter()
        .find(|((p, _, k), _)| p == "payments" && k == "p0")
        .unwrap();
    inner.remove(sp, ss, sk, false).unwrap();
    assert_eq!(missing(all(&store)), ("payments".into(), "p0".into()));
    drop(store);
    // After a restart, from the anchor; a read-only instance also refuses.
    let store = open(&inner, &a).unwrap();
    assert_eq!(missing(all(&store)), ("payments".into(), "p0".into()));
    let ro = open_anchored_read_only(inner.clone(), &a).unwrap();
    assert_eq!(missing(all(&ro)), ("payments".into(), "p0".into()));
    // Without an anchor the restart knows nothing of it (the documented limit).
    store.detach_anchor::<V>().unwrap();
    drop((store, ro));
    let store =
        EncryptedStore::open::<V>(inner.clone(), Credential::passphrase(PASSPHRASE)).unwrap();
    assert_eq!(
        all(&store).unwrap(),
        [("monitors".to_owned(), String::new(), "m0".to_owned())]
    );
}
