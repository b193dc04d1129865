//! Property 3. Nothing an attacker plants or breaks switches protection off: 150 keys written
//! and removed (lazily and not), a junk value planted in their namespace and every removed
//! record put back stay absent (`ReadError::Removed`, `NotFound`) while the store is open and
//! after a restart; and the same over an inner store whose lists and reads fail on demand.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;

use super::support::{
    assert_absent, create_anchored, open_anchored, put_back, records, Layout, Name, Rig,
};
use super::v::{ldk, MigratableKVStoreSync, TempFs};
use crate::common::Xorshift;
use encrypted_kvstore::{EncryptedStore, ListError};
use ldk::io::ErrorKind;
use ldk::util::persist::KVStoreSync;

const REMOVED: usize = 150;
const LIVE: usize = 10;

fn removed_key(i: usize) -> String {
    format!("p{i:03}")
}

fn live_key(i: usize) -> String {
    format!("live{i}")
}

/// A stored name of `len` characters of the base64url alphabet, as encrypted names look.
fn plausible_name(rng: &mut Xorshift, len: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    (0..len)
        .map(|_| ALPHABET[rng.below(64) as usize] as char)
        .collect()
}

/// A value that looks like a record (format byte, key id 1, a large version) followed by
/// random bytes.
fn junk_record(rng: &mut Xorshift) -> Vec<u8> {
    let mut v = vec![2u8];
    v.extend_from_slice(&1u32.to_le_bytes());
    v.extend_from_slice(&(u64::MAX / 2).to_le_bytes());
    v.extend((0..120).map(|_| rng.next_u64() as u8));
    v
}

/// Writes the live keys and the 150 doomed ones through `store` (over the file system
/// `fs`), removes the doomed ones (even hard, odd lazily), and returns their records as they
/// were before the removes.
fn write_and_remove<S: KVStoreSync>(
    store: &EncryptedStore<S>,
    fs: &TempFs,
) -> BTreeMap<Name, Vec<u8>> {
    for i in 0..LIVE {
        store
            .write("payments", "", &live_key(i), b"live".to_vec())
            .unwrap();
    }
    let before = records(fs);
    for i in 0..REMOVED {
        store
            .write(
                "payments",
                "",
                &removed_key(i),
                format!("value {i}").into_bytes(),
            )
            .unwrap();
    }
    let doomed: BTreeMap<Name, Vec<u8>> = records(fs)
        .into_iter()
        .filter(|(n, _)| !before.contains_key(n))
        .collect();
    assert_eq!(doomed.len(), REMOVED);
    for i in 0..REMOVED {
        store
            .remove("payments", "", &removed_key(i), i % 2 == 1)
            .unwrap();
    }
    doomed
}

/// Puts every doomed record back and plants one junk value in their namespace.
fn attack(fs: &TempFs, layout: Layout, doomed: &BTreeMap<Name, Vec<u8>>, seed: u64) {
    let mut rng = Xorshift(seed);
    for (stored, record) in doomed {
        put_back(fs, stored, record);
    }
    let (p, s, _) = doomed.keys().next().unwrap();
    let junk_key = match layout {
        Layout::Plain => "junk".to_owned(),
        Layout::NamesPadded => plausible_name(&mut rng, 24),
    };
    KVStoreSync::write(fs, p, s, &junk_key, junk_record(&mut rng)).unwrap();
}

/// Every doomed key is absent (its record is back), every live key is served, and a listing
/// holds exactly the live keys (with encrypted names the junk's stored name does not decode:
/// the listing refuses it, naming it, as docs/FORMAT.md says of any undecodable name).
#[track_caller]
fn check<S: KVStoreSync + MigratableKVStoreSync>(
    store: &EncryptedStore<S>,
    layout: Layout,
    when: &str,
) {
    for i in 0..REMOVED {
        let k = removed_key(i);
        let found = assert_absent(store.read("payments", "", &k), "payments", "", &k, true);
        assert!(found.unwrap() >= 1, "{layout:?} {when} {k}");
    }
    for i in 0..LIVE {
        assert_eq!(
            store.read("payments", "", &live_key(i)).unwrap(),
            b"live",
            "{layout:?} {when}"
        );
    }
    match layout {
        Layout::Plain => {
            let mut listed = store.list("payments", "").unwrap();
            listed.sort();
            let mut live: Vec<String> = (0..LIVE).map(live_key).collect();
            live.sort();
            assert_eq!(listed, live, "{layout:?} {when}");
            let mut all: Vec<String> = MigratableKVStoreSync::list_all_keys(store)
                .unwrap()
                .into_iter()
                .map(|(_, _, k)| k)
                .collect();
            all.sort();
            assert_eq!(all, live, "{layout:?} {when}: list_all_keys");
        }
        Layout::NamesPadded => {
            let e = store.list("payments", "").unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidData, "{when}: {e:?}");
            assert!(
                matches!(
                    e.get_ref().and_then(|e| e.downcast_ref::<ListError>()),
                    Some(ListError::UndecodableName { .. })
                ),
                "{when}: {e:?}"
            );
        }
    }
}

#[test]
fn junk_and_removed_records_put_back_stay_absent() {
    for layout in Layout::BOTH {
        let (inner, a) = (TempFs::in_memory_fs(), TempFs::new());
        let store = create_anchored(layout, inner.clone(), &a);
        let doomed = write_and_remove(&store, &inner);
        attack(&inner, layout, &doomed, 0x5eed);
        check(&store, layout, "open");
        drop(store);
        let store = open_anchored(inner.clone(), &a).unwrap();
        check(&store, layout, "after restart");
        // A later write in the namespace changes nothing for the removed keys.
        store
            .write("payments", "", "newcomer", b"new".to_vec())
            .unwrap();
        assert_absent(
            store.read("payments", "", "p000"),
            "payments",
            "",
            "p000",
            true,
        );
    }
}

#[test]
fn failing_lists_and_reads_do_not_switch_protection_off() {
    for layout in Layout::BOTH {
        let (fs, a) = (TempFs::in_memory_fs(), TempFs::new());
        let rig = Rig::new(fs.clone());
        let store = create_anchored(layout, rig.clone(), &a);
        let doomed = write_and_remove(&store, &fs);
        attack(&fs, layout, &doomed, 0xbad);

        // While the store is open: lists fail, reads of the doomed keys find them absent.
        rig.fail_lists.store(true, Ordering::SeqCst);
        for i in 0..REMOVED {
            let k = removed_key(i);
            assert_absent(store.read("payments", "", &k), "payments", "", &k, true);
        }
        // A listing that fails is an error of the inner store, passed on: never a reason to
        // forget anything.
        let e = store.list("payments", "").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Other, "{layout:?}: {e:?}");
        drop(store);

        // The restart happens while lists and reads of values fail.
        rig.fail_reads.store(true, Ordering::SeqCst);
        let store = open_anchored(rig.clone(), &a).unwrap();
        for i in [0, 1, REMOVED - 1] {
            let k = removed_key(i);
            assert!(
                store.read("payments", "", &k).is_err(),
                "{layout:?}: a read that failed served {k}"
            );
        }
        // Reads come back (lists still fail): every doomed key is still absent.
        rig.fail_reads.store(false, Ordering::SeqCst);
        for i in 0..REMOVED {
            let k = removed_key(i);
            assert_absent(store.read("payments", "", &k), "payments", "", &k, true);
        }
        // Lists come back: the listing is the live keys (or names the junk).
        rig.fail_lists.store(false, Ordering::SeqCst);
        check(
            &store,
            layout,
            "after a restart with failing lists and reads",
        );
        drop(store);
        // A second restart over a working store: still the same.
        let store = open_anchored(rig.clone(), &a).unwrap();
        check(&store, layout, "after a second restart");
    }
}
