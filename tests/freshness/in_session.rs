//! Property 7. Without an anchor, within one open store: for every key the instance wrote, and
//! every key it read (written by an earlier session), an older record put back is `Rollback`
//! and a deleted record is `Missing` (on `read` and on `list`); a key this session wrote and
//! removed (lazily or not) whose record is put back is absent (`ReadError::Removed`). Over the
//! crate's in-memory store, in both layouts, read through both traits. And, anchored, a removed
//! record put back while a new write of its key is in flight stays absent; a write future
//! dropped unpolled leaves no opening for a removed record, with and without an anchor.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use super::support::{
    assert_absent, assert_missing, assert_rollback, create_plain, put_back, version_of,
    write_located, Layout, Name,
};
use super::v::{ldk, AsyncOps, Ops, SyncOps, V};
use crate::common::{assert_list_missing, PASSPHRASE};
use encrypted_kvstore::{Credential, EncryptedStore, MemoryStore};
use ldk::util::persist::KVStoreSync;

const KEYS: usize = 12;
const NS: &str = "monitors";

/// A key's stored name, an older record and its newest record.
struct Watched {
    key: String,
    stored: Name,
    older: Vec<u8>,
    newest: Vec<u8>,
}

fn write_twice(store: &EncryptedStore<MemoryStore>, key: String) -> Watched {
    let (stored, older) = write_located(store, NS, "", &key, b"first");
    let (again, newest) = write_located(store, NS, "", &key, b"second");
    assert_eq!(stored, again);
    Watched {
        key,
        stored,
        older,
        newest,
    }
}

#[test]
fn every_key_written_or_read_is_watched_while_open() {
    for layout in Layout::BOTH {
        let inner = MemoryStore::new();
        // An earlier session wrote the keys this session will only read.
        let earlier = create_plain(layout, inner.clone());
        let read_keys: Vec<Watched> = (0..KEYS)
            .map(|i| write_twice(&earlier, format!("read{i:02}")))
            .collect();
        drop(earlier);

        let store =
            EncryptedStore::open::<V>(inner.clone(), Credential::passphrase(PASSPHRASE)).unwrap();
        for w in &read_keys {
            assert_eq!(store.read(NS, "", &w.key).unwrap(), b"second");
        }
        let written: Vec<Watched> = (0..KEYS)
            .map(|i| write_twice(&store, format!("wrote{i:02}")))
            .collect();
        let removed: Vec<(String, Name, Vec<u8>)> = (0..KEYS)
            .map(|i| {
                let k = format!("gone{i:02}");
                let (stored, record) = write_located(&store, NS, "", &k, b"doomed");
                store.remove(NS, "", &k, i % 2 == 1).unwrap();
                (k, stored, record)
            })
            .collect();

        // The attacks are read through both traits, alternately.
        let sync_ops = SyncOps(&store);
        let async_ops = AsyncOps::new(&store);
        for (i, w) in read_keys.iter().chain(&written).enumerate() {
            let ops: &dyn Ops = if i % 2 == 0 { &sync_ops } else { &async_ops };
            let at = format!("{layout:?} {}", w.key);
            // Rolled back.
            put_back(&inner, &w.stored, &w.older);
            let (found, expected) = assert_rollback(ops.read(NS, "", &w.key), NS, "", &w.key);
            assert_eq!(
                (found, expected),
                (version_of(&w.older), version_of(&w.newest)),
                "{at}"
            );
            // Deleted: on read and on list.
            KVStoreSync::remove(&inner, &w.stored.0, &w.stored.1, &w.stored.2, false).unwrap();
            assert_missing(ops.read(NS, "", &w.key), NS, "", &w.key);
            assert_list_missing(&ops.list(NS, "").unwrap_err(), &w.key, &at);
            // Put right: served, and listed.
            put_back(&inner, &w.stored, &w.newest);
            assert_eq!(ops.read(NS, "", &w.key).unwrap(), b"second", "{at}");
        }
        let listed = store.list(NS, "").unwrap();
        assert_eq!(listed.len(), 2 * KEYS, "{layout:?}: {listed:?}");

        for (i, (k, stored, record)) in removed.iter().enumerate() {
            let ops: &dyn Ops = if i % 2 == 0 { &sync_ops } else { &async_ops };
            put_back(&inner, stored, record);
            let found = assert_absent(ops.read(NS, "", k), NS, "", k, true);
            assert_eq!(found, Some(version_of(record)), "{layout:?} {k}");
        }
    }
}

/// Anchored, the moment a new write of a removed key is in flight is no opening: a record of
/// the key from before its removal, put back while the write is parked in the inner store,
/// is older than the write in flight and stays absent; the write then lands and is served.
#[test]
fn a_removed_record_put_back_while_its_key_is_written_again_stays_absent() {
    use super::support::{create_anchored, Op, Rig};
    use super::v::TempFs;
    for layout in Layout::BOTH {
        let (fs, a) = (TempFs::new(), TempFs::new());
        let rig = Rig::new(fs.clone());
        let store = create_anchored(layout, rig.clone(), &a);
        let (stored, old) = write_located(&store, NS, "", "k", b"old");
        store.remove(NS, "", "k", false).unwrap();

        rig.gate.close_on(Op::Write, stored.clone());
        let (read, written) = std::thread::scope(|s| {
            let w = s.spawn(|| {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                let fut = ldk::util::persist::KVStore::write(&store, NS, "", "k", b"new".to_vec());
                rt.block_on(fut)
            });
            rig.gate.wait_parked();
            super::support::put_back_file(fs.path(), &stored, &old);
            let read = store.read(NS, "", "k");
            rig.gate.release();
            (read, w.join().unwrap())
        });
        let found = assert_absent(read, NS, "", "k", true);
        assert_eq!(found, Some(version_of(&old)), "{layout:?}");
        written.unwrap();
        assert_eq!(store.read(NS, "", "k").unwrap(), b"new", "{layout:?}");
    }
}

/// A write future dropped before it was polled is a failed write (docs/FORMAT.md, "Updates"):
/// it leaves no "in flight" mark behind that would open the key to a record put back. A key
/// written and removed in this session, then written again through a future that is dropped,
/// keeps refusing its removed record (absent), with and without an anchor.
#[test]
fn a_dropped_write_future_leaves_no_opening_for_a_removed_record() {
    use super::support::create_anchored;
    use super::v::TempFs;
    for anchored in [false, true] {
        for layout in Layout::BOTH {
            let (fs, a) = (TempFs::new(), TempFs::new());
            let store = if anchored {
                create_anchored(layout, fs.clone(), &a)
            } else {
                create_plain(layout, fs.clone())
            };
            let (stored, old) = write_located(&store, NS, "", "k", b"old");
            store.remove(NS, "", "k", false).unwrap();
            let fut = ldk::util::persist::KVStore::write(&store, NS, "", "k", b"new".to_vec());
            drop(fut);
            put_back(&fs, &stored, &old);
            let found = assert_absent(store.read(NS, "", "k"), NS, "", "k", true);
            assert_eq!(
                found,
                Some(version_of(&old)),
                "{layout:?} anchored {anchored}"
            );
        }
    }
}
