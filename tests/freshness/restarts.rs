//! Property 1. Anchored, across restarts, per key: an older record put back is `Rollback`, a
//! live value deleted while the store was down is `Missing`, and a removed value put back is
//! absent (`NotFound`, `ReadError::Removed`) and left out of `list` and `list_all_keys`. In
//! both layouts, through the sync and the async traits, also for a read-only instance (which
//! never serves a key's record older than one it served, nor a removed key's record put back
//! while it held the key), and after a crash in the middle of a write (the window is that one
//! write, no more).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use super::support::{
    assert_absent, assert_missing, assert_rollback, changed_record, create_anchored, open_anchored,
    records, version_of, Layout,
};
use super::v::{ldk, AsyncOps, MigratableKVStoreSync, Ops, SyncOps, TempFs};
use crate::common::assert_list_missing;
use encrypted_kvstore::Credential;
use ldk::util::persist::KVStoreSync;

const TRAITS: [&str; 2] = ["sync", "async"];

/// The cases of the tests below: each layout, through each trait.
fn cases() -> impl Iterator<Item = (Layout, &'static str)> {
    Layout::BOTH
        .into_iter()
        .flat_map(|layout| TRAITS.map(|how| (layout, how)))
}

/// A new anchored store of `layout` on which `body` runs, driven through the trait named
/// `how` and given the inner store; the store is closed afterwards, as at a shutdown. Returns
/// the inner store, the anchor's directory and what `body` returned.
fn written<T>(
    layout: Layout,
    how: &str,
    body: impl FnOnce(&dyn Ops, &TempFs) -> T,
) -> (TempFs, TempFs, T) {
    let (inner, a) = (TempFs::new(), TempFs::new());
    let store = create_anchored(layout, inner.clone(), &a);
    let out = if how == "sync" {
        body(&SyncOps(&store), &inner)
    } else {
        body(&AsyncOps::new(&store), &inner)
    };
    drop(store);
    (inner, a, out)
}

#[test]
fn a_record_put_back_after_a_newer_write_is_a_rollback_after_restart() {
    for (layout, how) in cases() {
        let (inner, a, (stored, old, new)) = written(layout, how, |ops, inner| {
            let before = records(inner);
            ops.write("monitors", "", "m1", b"state 1".to_vec())
                .unwrap();
            let (stored, old) = changed_record(&before, &records(inner));
            let before = records(inner);
            ops.write("monitors", "", "m1", b"state 2".to_vec())
                .unwrap();
            let (stored_again, new) = changed_record(&before, &records(inner));
            assert_eq!(stored, stored_again);
            (stored, old, new)
        });

        // The copy goes back while the node is down.
        KVStoreSync::write(&inner, &stored.0, &stored.1, &stored.2, old.clone()).unwrap();
        let store = open_anchored(inner.clone(), &a).unwrap();
        let (found, expected) =
            assert_rollback(store.read("monitors", "", "m1"), "monitors", "", "m1");
        assert_eq!(
            (found, expected),
            (version_of(&old), version_of(&new)),
            "{layout:?} {how}"
        );
        drop(store);
        // Refusing it did not make it acceptable: a second restart refuses it again.
        let store = open_anchored(inner.clone(), &a).unwrap();
        assert_rollback(store.read("monitors", "", "m1"), "monitors", "", "m1");
        // The newest record back: served.
        KVStoreSync::write(&inner, &stored.0, &stored.1, &stored.2, new).unwrap();
        assert_eq!(
            store.read("monitors", "", "m1").unwrap(),
            b"state 2",
            "{layout:?} {how}"
        );
    }
}

#[test]
fn a_live_value_deleted_while_down_is_missing_after_restart() {
    for (layout, how) in cases() {
        let (inner, a, stored) = written(layout, how, |ops, inner| {
            ops.write("monitor_updates", "m1", "0", b"u0".to_vec())
                .unwrap();
            let before = records(inner);
            ops.write("monitor_updates", "m1", "1", b"u1".to_vec())
                .unwrap();
            changed_record(&before, &records(inner)).0
        });

        KVStoreSync::remove(&inner, &stored.0, &stored.1, &stored.2, false).unwrap();
        let store = open_anchored(inner.clone(), &a).unwrap();
        assert_missing(
            store.read("monitor_updates", "m1", "1"),
            "monitor_updates",
            "m1",
            "1",
        );
        let at = format!("{layout:?} {how}");
        let e = store.list("monitor_updates", "m1").unwrap_err();
        assert_list_missing(&e, "1", &at);
        let e = MigratableKVStoreSync::list_all_keys(&store).unwrap_err();
        assert_list_missing(&e, "1", &at);
        // The untouched neighbour is served.
        assert_eq!(store.read("monitor_updates", "m1", "0").unwrap(), b"u0");
    }
}

#[test]
fn a_removed_value_put_back_while_down_is_absent_and_not_listed_after_restart() {
    for (layout, how) in cases() {
        let (inner, a, removed) = written(layout, how, |ops, inner| {
            ops.write("payments", "", "kept", b"kept".to_vec()).unwrap();
            let mut removed = Vec::new();
            for (k, lazy) in [("hard", false), ("lazy", true)] {
                // An older record and the last one: both are put back below.
                let before = records(inner);
                ops.write("payments", "", k, b"first".to_vec()).unwrap();
                let first = changed_record(&before, &records(inner));
                let before = records(inner);
                ops.write("payments", "", k, b"last".to_vec()).unwrap();
                let last = changed_record(&before, &records(inner));
                ops.remove("payments", "", k, lazy).unwrap();
                removed.push((k, first, last));
            }
            removed
        });

        for (k, first, last) in &removed {
            for (stored, record) in [first, last] {
                KVStoreSync::write(&inner, &stored.0, &stored.1, &stored.2, record.clone())
                    .unwrap();
                let store = open_anchored(inner.clone(), &a).unwrap();
                let found = assert_absent(store.read("payments", "", k), "payments", "", k, true);
                assert_eq!(found, Some(version_of(record)), "{layout:?} {how} {k}");
                let mut listed = store.list("payments", "").unwrap();
                listed.sort();
                assert_eq!(listed, ["kept"], "{layout:?} {how} {k}");
                let all = MigratableKVStoreSync::list_all_keys(&store).unwrap();
                assert_eq!(
                    all,
                    [("payments".to_owned(), String::new(), "kept".to_owned())],
                    "{layout:?} {how} {k}"
                );
            }
        }
        // Written again through the store, the key is live again (and the old records
        // stay refused).
        let store = open_anchored(inner.clone(), &a).unwrap();
        store
            .write("payments", "", "hard", b"again".to_vec())
            .unwrap();
        drop(store);
        let store = open_anchored(inner.clone(), &a).unwrap();
        assert_eq!(store.read("payments", "", "hard").unwrap(), b"again");
        let (stored, last) = &removed[0].2;
        KVStoreSync::write(&inner, &stored.0, &stored.1, &stored.2, last.clone()).unwrap();
        assert_rollback(store.read("payments", "", "hard"), "payments", "", "hard");
    }
}

/// A read-only instance (the CLI's `verify`, `cat`, `ls`) opened after the same attacks
/// refuses them the same way: it asks the anchor again before answering, and the anchor
/// confirms the refusal.
#[test]
fn a_read_only_instance_refuses_the_same_after_restart() {
    use super::support::{open_anchored_read_only, put_back, write_located};
    for layout in Layout::BOTH {
        let (inner, a) = (TempFs::new(), TempFs::new());
        let store = create_anchored(layout, inner.clone(), &a);
        let (m1_at, m1_old) = write_located(&store, "monitors", "", "m1", b"old");
        write_located(&store, "monitors", "", "m1", b"new");
        let (u1_at, _) = write_located(&store, "updates", "", "u1", b"u");
        let (p1_at, p1) = write_located(&store, "payments", "", "p1", b"p");
        store.write("payments", "", "p2", b"p".to_vec()).unwrap();
        store.remove("payments", "", "p1", false).unwrap();
        drop(store);

        put_back(&inner, &m1_at, &m1_old);
        KVStoreSync::remove(&inner, &u1_at.0, &u1_at.1, &u1_at.2, false).unwrap();
        put_back(&inner, &p1_at, &p1);
        let ro = open_anchored_read_only(inner.clone(), &a).unwrap();
        assert_rollback(ro.read("monitors", "", "m1"), "monitors", "", "m1");
        assert_missing(ro.read("updates", "", "u1"), "updates", "", "u1");
        let e = ro.list("updates", "").unwrap_err();
        assert_list_missing(&e, "u1", &format!("{layout:?}"));
        let found = assert_absent(ro.read("payments", "", "p1"), "payments", "", "p1", true);
        assert_eq!(found, Some(version_of(&p1)));
        assert_eq!(ro.list("payments", "").unwrap(), ["p2"], "{layout:?}");
    }
}

/// A read-only instance opened before the writer's newer writes never goes back on what it
/// served: once it served a key's newer record, the record it loaded at open put back is
/// `Rollback` for it, although the anchor held that version when it opened.
#[test]
fn a_read_only_instance_never_serves_older_than_it_served() {
    use super::support::{open_anchored_read_only, put_back, write_located};
    for layout in Layout::BOTH {
        let (inner, a) = (TempFs::new(), TempFs::new());
        let store = create_anchored(layout, inner.clone(), &a);
        let (at, old) = write_located(&store, "monitors", "", "m1", b"old");
        let ro = open_anchored_read_only(inner.clone(), &a).unwrap();
        assert_eq!(ro.read("monitors", "", "m1").unwrap(), b"old");
        store.write("monitors", "", "m1", b"new".to_vec()).unwrap();
        assert_eq!(ro.read("monitors", "", "m1").unwrap(), b"new", "{layout:?}");
        put_back(&inner, &at, &old);
        let (found, expected) =
            assert_rollback(ro.read("monitors", "", "m1"), "monitors", "", "m1");
        assert_eq!(found, version_of(&old), "{layout:?}");
        assert!(expected > found, "{layout:?}");
        // The writer refuses it too.
        assert_rollback(store.read("monitors", "", "m1"), "monitors", "", "m1");
    }
}

/// A read-only instance that held a key the writer then removed does not serve the key's
/// record put back: it re-reads the key's entry before serving, and the writer removed it.
#[test]
fn a_read_only_instance_never_serves_a_removed_record_put_back() {
    use super::support::{open_anchored_read_only, put_back, write_located};
    for layout in Layout::BOTH {
        let (inner, a) = (TempFs::new(), TempFs::new());
        let store = create_anchored(layout, inner.clone(), &a);
        let (at, record) = write_located(&store, "payments", "", "p1", b"p");
        let ro = open_anchored_read_only(inner.clone(), &a).unwrap();
        assert_eq!(ro.read("payments", "", "p1").unwrap(), b"p");
        store.remove("payments", "", "p1", false).unwrap();
        put_back(&inner, &at, &record);
        let found = assert_absent(ro.read("payments", "", "p1"), "payments", "", "p1", true);
        assert_eq!(found, Some(version_of(&record)), "{layout:?}");
        // Absent from now on, as for the writer.
        assert_absent(ro.read("payments", "", "p1"), "payments", "", "p1", true);
        assert_absent(store.read("payments", "", "p1"), "payments", "", "p1", true);
    }
}

/// The one-operation window (docs/FORMAT.md) is one operation wide and no wider: the process
/// is killed at every step of a third write of a key; after the restart, the record of the
/// first write put back is still `Rollback`, and the key deleted is still `Missing`, whatever
/// step the write died at.
#[test]
fn a_crash_opens_no_window_beyond_the_last_operation() {
    use super::support::{put_back, write_located, Crash, Rig, RigAnchor};
    use super::v::V;
    use crate::common::{cheap, PASSPHRASE};
    use encrypted_kvstore::OpenOptions;
    use std::sync::Arc;
    for layout in Layout::BOTH {
        let mut completed = false;
        for n in 0..100 {
            let (fs, afs, crash) = (TempFs::in_memory_fs(), TempFs::in_memory_fs(), Crash::new());
            let rig = Rig::with_crash(fs.clone(), Arc::clone(&crash));
            let store = layout
                .options()
                .anchor(RigAnchor::new(&afs, Arc::clone(&crash)))
                .create::<V, _>(
                    rig.clone(),
                    Credential::passphrase_with(PASSPHRASE, cheap()),
                )
                .unwrap();
            let (at, first) = write_located(&store, "monitors", "", "m1", b"first");
            write_located(&store, "monitors", "", "m1", b"second");
            crash.arm(n);
            let _ = store.write("monitors", "", "m1", b"third".to_vec());
            let died = crash.fired();
            crash.disarm();
            drop(store);
            let open = || {
                OpenOptions::new()
                    .anchor(RigAnchor::new(&afs, Arc::clone(&crash)))
                    .open::<V, _>(rig.clone(), Credential::passphrase(PASSPHRASE))
                    .unwrap()
            };
            let store = open();
            let now = store.read("monitors", "", "m1").unwrap();
            assert!(
                now == b"second" || now == b"third",
                "{layout:?} killed at {n}"
            );
            let current = KVStoreSync::read(&fs, &at.0, &at.1, &at.2).unwrap();
            drop(store);
            put_back(&fs, &at, &first);
            let store = open();
            assert_rollback(store.read("monitors", "", "m1"), "monitors", "", "m1");
            drop(store);
            KVStoreSync::remove(&fs, &at.0, &at.1, &at.2, false).unwrap();
            let store = open();
            assert_missing(store.read("monitors", "", "m1"), "monitors", "", "m1");
            put_back(&fs, &at, &current);
            assert_eq!(store.read("monitors", "", "m1").unwrap(), now);
            if !died {
                completed = true;
                break;
            }
        }
        assert!(completed, "{layout:?}: the write never completed");
    }
}
