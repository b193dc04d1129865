//! Property 2. The whole store restored from an older copy of its directory (header and all),
//! after five restarts that each wrote two keys: opening refuses it (`HeaderRolledBack`); the
//! explicit `accept_current_state` takes it as the new truth; from then on none of the records
//! written after the copy was taken is ever served again, for a key written after the accept
//! and for one that was not, while the store is open and after a restart. Also: a key left out
//! of `accept_current_state_listed` is absent; another store put in place of the store, and
//! the header from before the anchor was attached, are refused.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use super::support::{
    anchor, assert_absent, assert_rollback, create_anchored, create_plain, dir_files,
    open_anchored, open_anchored_refused, put_back, put_stored_header, restore_dir, stored_header,
    version_of, write_located, Layout, Name,
};
use super::v::{ldk, TempFs, V};
use crate::common::PASSPHRASE;
use encrypted_kvstore::{Credential, EncryptedStore, OpenError, OpenOptions};
use ldk::io;
use ldk::util::persist::KVStoreSync;

const CYCLES: usize = 5;

#[test]
fn records_of_a_timeline_abandoned_by_an_accept_are_refused() {
    for layout in Layout::BOTH {
        let (inner, a) = (TempFs::new(), TempFs::new());
        let store = create_anchored(layout, inner.clone(), &a);
        let (m1_stored, _) = write_located(&store, "monitors", "", "m1", b"copied");
        let (m2_stored, _) = write_located(&store, "monitors", "", "m2", b"copied");
        store.write("", "", "manager", b"copied".to_vec()).unwrap();
        drop(store);
        let copy = dir_files(inner.path());

        // Five restarts, each writing both keys; every intermediate record is kept.
        let mut kept: Vec<(&str, Name, Vec<u8>)> = Vec::new();
        for cycle in 0..CYCLES {
            let store = open_anchored(inner.clone(), &a).unwrap();
            for (k, stored) in [("m1", &m1_stored), ("m2", &m2_stored)] {
                let value = format!("cycle {cycle}");
                let (at, record) = write_located(&store, "monitors", "", k, value.as_bytes());
                assert_eq!(&at, stored);
                kept.push((k, at, record));
            }
        }
        let seq_before_restore = EncryptedStore::inspect::<V>(&inner).unwrap().header_seq;

        // The old copy goes back: refused at open, writable and read-only.
        restore_dir(inner.path(), &copy);
        for (mode, e) in open_anchored_refused(&inner, &a) {
            assert!(
                matches!(e, OpenError::HeaderRolledBack { header_seq, anchor_header_seq }
                    if header_seq < anchor_header_seq && anchor_header_seq == seq_before_restore),
                "{layout:?}, {mode}: {e:?}"
            );
            assert_eq!(io::Error::from(e).kind(), io::ErrorKind::InvalidData);
        }

        // The explicit way on: the copy becomes the truth.
        let store = OpenOptions::new()
            .anchor(anchor(&a))
            .accept_current_state::<V, _>(inner.clone(), Credential::passphrase(PASSPHRASE))
            .unwrap();
        for k in ["m1", "m2"] {
            assert_eq!(
                store.read("monitors", "", k).unwrap(),
                b"copied",
                "{layout:?}"
            );
        }
        // One new write of m1 (m2 stays at its accepted record).
        store
            .write("monitors", "", "m1", b"after accept".to_vec())
            .unwrap();
        let m1_now = inner
            .read(&m1_stored.0, &m1_stored.1, &m1_stored.2)
            .unwrap();
        let m2_now = inner
            .read(&m2_stored.0, &m2_stored.1, &m2_stored.2)
            .unwrap();
        assert!(kept
            .iter()
            .all(|(_, _, r)| version_of(r) < version_of(&m1_now)));

        // Every kept record is newer than what was accepted, and none is served: while open ...
        let check = |store: &EncryptedStore<TempFs>, when: &str| {
            for (k, at, record) in &kept {
                put_back(&inner, at, record);
                let (found, _) = assert_rollback(store.read("monitors", "", k), "monitors", "", k);
                assert_eq!(found, version_of(record), "{layout:?} {when} {k}");
            }
            put_back(&inner, &m1_stored, &m1_now);
            put_back(&inner, &m2_stored, &m2_now);
            assert_eq!(store.read("monitors", "", "m1").unwrap(), b"after accept");
            assert_eq!(store.read("monitors", "", "m2").unwrap(), b"copied");
        };
        check(&store, "open");
        drop(store);
        // ... and after a restart.
        let store = open_anchored(inner.clone(), &a).unwrap();
        check(&store, "after restart");
        // And after a restart with one of them left in place while the store was down.
        drop(store);
        let (k, at, record) = &kept[kept.len() - 1];
        put_back(&inner, at, record);
        let store = open_anchored(inner.clone(), &a).unwrap();
        assert_rollback(store.read("monitors", "", k), "monitors", "", k);
        assert_eq!(store.read("", "", "manager").unwrap(), b"copied");
    }
}

/// `accept_current_state_listed` (for an inner store that cannot list itself): the caller
/// names every stored triple it found; a key left out is absent from then on (never served
/// stale, loud for LDK), also after a restart, until written again.
#[test]
fn a_key_left_out_of_a_listed_accept_is_absent() {
    for layout in Layout::BOTH {
        let (inner, a) = (TempFs::new(), TempFs::new());
        let store = create_anchored(layout, inner.clone(), &a);
        let (kept_at, kept_old) = write_located(&store, "monitors", "", "kept", b"k1");
        write_located(&store, "monitors", "", "kept", b"k2");
        let (_, left_out) = write_located(&store, "monitors", "", "left_out", b"l");
        drop(store);

        // The anchor is lost: a new, empty one.
        let fresh = TempFs::new();
        let e = open_anchored(inner.clone(), &fresh).unwrap_err();
        assert!(matches!(e, OpenError::AnchorEmpty), "{layout:?}: {e:?}");
        let store = OpenOptions::new()
            .anchor(anchor(&fresh))
            .accept_current_state_listed::<V, _>(
                inner.clone(),
                Credential::passphrase(PASSPHRASE),
                vec![kept_at.clone()],
            )
            .unwrap();
        let check = |store: &EncryptedStore<TempFs>, when: &str| {
            assert_eq!(store.read("monitors", "", "kept").unwrap(), b"k2", "{when}");
            let found = assert_absent(
                store.read("monitors", "", "left_out"),
                "monitors",
                "",
                "left_out",
                true,
            );
            assert_eq!(found, Some(version_of(&left_out)), "{layout:?} {when}");
            assert_eq!(store.list("monitors", "").unwrap(), ["kept"], "{when}");
        };
        check(&store, "open");
        drop(store);
        let store = open_anchored(inner.clone(), &fresh).unwrap();
        check(&store, "after restart");
        // An older record of the accepted key is still a rollback.
        put_back(&inner, &kept_at, &kept_old);
        assert_rollback(store.read("monitors", "", "kept"), "monitors", "", "kept");
        // Written again, the left-out key is live.
        store
            .write("monitors", "", "left_out", b"again".to_vec())
            .unwrap();
        drop(store);
        let store = open_anchored(inner.clone(), &fresh).unwrap();
        assert_eq!(store.read("monitors", "", "left_out").unwrap(), b"again");
    }
}

/// Another store made with the same passphrase, put in place of the whole store: its store id
/// is not the one the anchor knows, so opening refuses it (`AnchorEmpty`) instead of serving
/// another store's values as this one's.
#[test]
fn another_store_in_place_of_the_store_is_refused() {
    let (inner, a) = (TempFs::new(), TempFs::new());
    let store = create_anchored(Layout::Plain, inner.clone(), &a);
    store.write("monitors", "", "m1", b"ours".to_vec()).unwrap();
    drop(store);
    let other = TempFs::new();
    let theirs = create_plain(Layout::Plain, other.clone());
    theirs
        .write("monitors", "", "m1", b"theirs".to_vec())
        .unwrap();
    drop(theirs);
    let ours = dir_files(inner.path());
    restore_dir(inner.path(), &dir_files(other.path()));
    let e = open_anchored(inner.clone(), &a).unwrap_err();
    assert!(
        matches!(e, OpenError::AnchorRequired | OpenError::AnchorNotAttached),
        "an unanchored substitute: {e:?}"
    );
    // An anchored substitute (its own anchor elsewhere) is unknown to ours.
    let (other, elsewhere) = (TempFs::new(), TempFs::new());
    let theirs = create_anchored(Layout::Plain, other.clone(), &elsewhere);
    theirs
        .write("monitors", "", "m1", b"theirs".to_vec())
        .unwrap();
    drop(theirs);
    restore_dir(inner.path(), &dir_files(other.path()));
    let e = open_anchored(inner.clone(), &a).unwrap_err();
    assert!(matches!(e, OpenError::AnchorEmpty), "{e:?}");
    restore_dir(inner.path(), &ours);
    let store = open_anchored(inner.clone(), &a).unwrap();
    assert_eq!(store.read("monitors", "", "m1").unwrap(), b"ours");
}

/// The header from before the anchor was attached (its `anchored` bit clear), put back: the
/// node opening with its anchor refuses it (`HeaderRolledBack`, docs/FORMAT.md "Opening with
/// an anchor"), instead of `AnchorNotAttached`, which would invite a new accept.
#[test]
fn a_header_from_before_the_anchor_was_attached_is_refused() {
    let (inner, a) = (TempFs::new(), TempFs::new());
    let store = create_plain(Layout::Plain, inner.clone());
    store.write("monitors", "", "m1", b"one".to_vec()).unwrap();
    drop(store);
    let unanchored = stored_header(&inner);
    let store = OpenOptions::new()
        .anchor(anchor(&a))
        .accept_current_state::<V, _>(inner.clone(), Credential::passphrase(PASSPHRASE))
        .unwrap();
    store.write("monitors", "", "m1", b"two".to_vec()).unwrap();
    drop(store);
    let anchored = stored_header(&inner);
    put_stored_header(&inner, unanchored);
    let e = open_anchored(inner.clone(), &a).unwrap_err();
    assert!(matches!(e, OpenError::HeaderRolledBack { .. }), "{e:?}");
    put_stored_header(&inner, anchored);
    let store = open_anchored(inner.clone(), &a).unwrap();
    assert_eq!(store.read("monitors", "", "m1").unwrap(), b"two");
}
