//! Property 5. An anchor that cannot be written: the write whose entry it could not record
//! fails with `WriteError::Anchor` (its record landed); from then on every write and remove,
//! of any key, fails before the inner store changes (the inner directory is compared byte for
//! byte); once the anchor works again, writes and removes go on, nothing raises an alarm, and
//! the pending change has reached the anchor (a rollback of that key is refused after a
//! restart). The same for a header change whose `meta` update the anchor refused.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::sync::atomic::Ordering;

use super::support::{
    assert_absent, assert_rollback, dir_files, put_back, put_stored_header, stored_header,
    write_located, Crash, Layout, RigAnchor,
};
use super::v::{ldk, AsyncOps, Ops, TempFs, V};
use crate::common::{assert_anchor_remove_error, assert_anchor_write_error, cheap, PASSPHRASE};
use encrypted_kvstore::{Credential, EncryptedStore, OpenError, OpenOptions};
use ldk::io;
use ldk::util::persist::KVStoreSync;

/// One write or remove that must not reach the inner store.
type Attempt<'a> = Box<dyn Fn() -> io::Result<()> + 'a>;

/// A new store of `layout` over `inner`, anchored in `ra`.
fn create(layout: Layout, inner: &TempFs, ra: &RigAnchor) -> EncryptedStore<TempFs> {
    layout
        .options()
        .anchor(ra.clone())
        .create::<V, _>(
            inner.clone(),
            Credential::passphrase_with(PASSPHRASE, cheap()),
        )
        .unwrap()
}

/// Opens the store in `inner` anchored in `ra`, writable.
fn open(inner: &TempFs, ra: &RigAnchor) -> Result<EncryptedStore<TempFs>, OpenError> {
    OpenOptions::new()
        .anchor(ra.clone())
        .open::<V, _>(inner.clone(), Credential::passphrase(PASSPHRASE))
}

#[test]
fn an_unwritable_anchor_stops_writes_before_the_inner_store() {
    for layout in Layout::BOTH {
        let (inner, a) = (TempFs::new(), TempFs::new());
        let ra = RigAnchor::new(&a, Crash::new());
        let store = create(layout, &inner, &ra);
        let (k1_at, k1_one) = write_located(&store, "monitors", "", "k1", b"one");
        let (k3_at, k3_one) = write_located(&store, "monitors", "", "k3", b"one");
        for k in ["k2", "k4"] {
            store.write("monitors", "", k, b"one".to_vec()).unwrap();
        }

        ra.fail_writes.store(true, Ordering::SeqCst);
        // The first failure: the record landed, its entry did not.
        let before = dir_files(inner.path());
        assert_anchor_write_error(
            store.write("monitors", "", "k1", b"two".to_vec()),
            "the write the anchor could not record",
        );
        assert_ne!(
            dir_files(inner.path()),
            before,
            "{layout:?}: k1's record landed"
        );
        assert_eq!(store.read("monitors", "", "k1").unwrap(), b"two");

        // From now on nothing reaches the inner store.
        let frozen = dir_files(inner.path());
        let attempts: [(&str, Attempt<'_>); 8] = [
            (
                "a write of another key",
                Box::new(|| store.write("monitors", "", "k2", b"two".to_vec())),
            ),
            (
                "a write of the same key",
                Box::new(|| store.write("monitors", "", "k1", b"three".to_vec())),
            ),
            (
                "a write of a new key",
                Box::new(|| store.write("monitors", "", "k9", b"new".to_vec())),
            ),
            (
                "a write in another namespace",
                Box::new(|| store.write("", "", "manager", b"new".to_vec())),
            ),
            (
                "a remove",
                Box::new(|| store.remove("monitors", "", "k3", false)),
            ),
            (
                "a lazy remove",
                Box::new(|| store.remove("monitors", "", "k4", true)),
            ),
            (
                "an async write",
                Box::new(|| AsyncOps::new(&store).write("monitors", "", "k2", b"x".to_vec())),
            ),
            (
                "an async remove",
                Box::new(|| AsyncOps::new(&store).remove("monitors", "", "k4", false)),
            ),
        ];
        for (what, attempt) in attempts {
            let r = attempt();
            if what.contains("remove") {
                assert_anchor_remove_error(r, what);
            } else {
                assert_anchor_write_error(r, what);
            }
            assert_eq!(
                dir_files(inner.path()),
                frozen,
                "{layout:?}: {what} reached the inner store"
            );
        }
        // Reads raise nothing meanwhile.
        assert_eq!(store.read("monitors", "", "k1").unwrap(), b"two");
        for k in ["k2", "k3", "k4"] {
            assert_eq!(
                store.read("monitors", "", k).unwrap(),
                b"one",
                "{layout:?} {k}"
            );
        }

        // The anchor works again: writes and removes go on, no alarm.
        ra.fail_writes.store(false, Ordering::SeqCst);
        store.write("monitors", "", "k2", b"four".to_vec()).unwrap();
        store.remove("monitors", "", "k3", false).unwrap();
        let check = |store: &EncryptedStore<TempFs>, when: &str| {
            assert_eq!(store.read("monitors", "", "k1").unwrap(), b"two", "{when}");
            assert_eq!(store.read("monitors", "", "k2").unwrap(), b"four", "{when}");
            assert_absent(
                store.read("monitors", "", "k3"),
                "monitors",
                "",
                "k3",
                false,
            );
            assert_eq!(store.read("monitors", "", "k4").unwrap(), b"one", "{when}");
            let mut listed = store.list("monitors", "").unwrap();
            listed.sort();
            assert_eq!(listed, ["k1", "k2", "k4"], "{layout:?} {when}");
        };
        check(&store, "open");
        drop(store);
        let store = open(&inner, &ra).unwrap();
        check(&store, "after restart");
        drop(store);

        // The pending entry of k1 reached the anchor: its older record is refused after a
        // restart, and k3's record put back is absent.
        put_back(&inner, &k1_at, &k1_one);
        put_back(&inner, &k3_at, &k3_one);
        let store = open(&inner, &ra).unwrap();
        assert_rollback(store.read("monitors", "", "k1"), "monitors", "", "k1");
        assert_absent(store.read("monitors", "", "k3"), "monitors", "", "k3", true);
    }
}

/// A header change (here a rotation) whose `meta` update the anchor refused is pending like an
/// entry (docs/FORMAT.md, "Opening with an anchor": writes and removes retry it first): while
/// the anchor still refuses, no write or remove reaches the inner store; once it works, the
/// next write carries the `meta` update, so the header from before the rotation put back is
/// `HeaderRolledBack` after a restart.
#[test]
fn a_header_change_the_anchor_could_not_record_is_pending_too() {
    let (inner, a) = (TempFs::new(), TempFs::new());
    let ra = RigAnchor::new(&a, Crash::new());
    let store = create(Layout::Plain, &inner, &ra);
    store.write("monitors", "", "m1", b"one".to_vec()).unwrap();
    let before = stored_header(&inner);

    ra.fail_writes.store(true, Ordering::SeqCst);
    let rotated = store.rotate_data_key::<V>();
    let after = stored_header(&inner);
    assert_ne!(after, before, "the rotation wrote no header: {rotated:?}");
    let frozen = dir_files(inner.path());
    assert_anchor_write_error(
        store.write("monitors", "", "m1", b"two".to_vec()),
        "a write while the meta update is pending",
    );
    assert_anchor_remove_error(
        store.remove("monitors", "", "m1", false),
        "a remove while the meta update is pending",
    );
    assert_eq!(
        dir_files(inner.path()),
        frozen,
        "rotation result {rotated:?}"
    );

    ra.fail_writes.store(false, Ordering::SeqCst);
    store
        .write("monitors", "", "m1", b"three".to_vec())
        .unwrap();
    drop(store);
    let current = stored_header(&inner);
    put_stored_header(&inner, before);
    let e = open(&inner, &ra).unwrap_err();
    assert!(matches!(e, OpenError::HeaderRolledBack { .. }), "{e:?}");
    put_stored_header(&inner, current);
    let store = open(&inner, &ra).unwrap();
    assert_eq!(store.read("monitors", "", "m1").unwrap(), b"three");
}
