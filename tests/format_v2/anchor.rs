//! The freshness anchor across restarts (docs/FORMAT.md, "The freshness anchor"): a version 2
//! store over LDK's `FilesystemStore`, anchored in a second `FilesystemStore` through
//! `StoreAnchor`. While the node is stopped, an attacker with write access to the store's
//! directory (not to the anchor's) replays one older record, deletes the newest monitor update,
//! brings back a removed key (hard or lazy, also among many removes in one pair), or puts a
//! whole older copy of the directory back, header and all. At the next start each is refused
//! with a typed error naming what it found: `Rollback`, `Missing` (per key, `InvalidData` at
//! the trait edge), `HeaderRolledBack` at open, or, for a removed key put back, treated as
//! absent: `Removed` (kind `NotFound`), never served, left out of `list`.
//!
//! Each attack is also run against the same store without an anchor, where the restart
//! accepts it: the records put back are authentic and a fresh instance has no watermarks (the
//! known limit, SECURITY.md: "Rollback across a restart without an anchor"). So each refusal
//! is seen to come from the anchor. Then the explicit ways on: accepting the current state
//! after the anchor was lost or after a restore on purpose, and detaching the anchor.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::BTreeSet;
use std::path::Path;

use super::v::{fs, ldk, AsyncOps, FilesystemStore, MigratableKVStoreSync, Ops, V};
use crate::common::{cheap, PASSPHRASE};
use encrypted_kvstore::{
    Credential, EncryptedStore, ListError, MemoryStore, OpenError, OpenOptions, RawKey, ReadError,
    StoreAnchor, RESERVED_PRIMARY_NAMESPACE,
};
use ldk::io::{self, ErrorKind};
use ldk::util::persist::KVStoreSync;

type Name = (String, String, String);
type Store = EncryptedStore<FilesystemStore>;

/// The monitor key of these tests: LDK's `<funding txid>_<index>`.
const MON: &str = "8d2c9f0e5b7a4136c1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8_1";

/// Both name modes: the attack works on stored names, plain or encrypted.
fn modes() -> [(&'static str, OpenOptions); 2] {
    [
        ("plain", OpenOptions::new()),
        (
            "names+padding",
            OpenOptions::new().encrypt_names().pad_values(),
        ),
    ]
}

/// The anchor of these tests: a `FilesystemStore` of its own, out of the attacker's reach.
fn anchor(dir: &Path) -> StoreAnchor<FilesystemStore, V> {
    StoreAnchor::new(fs(dir))
}

/// A store directory and its anchor directory (`None`: the store is not anchored).
struct Node {
    data: tempfile::TempDir,
    anchor: Option<tempfile::TempDir>,
}

impl Node {
    fn new(anchored: bool) -> Node {
        Node {
            data: tempfile::tempdir().unwrap(),
            anchor: anchored.then(|| tempfile::tempdir().unwrap()),
        }
    }

    fn options(&self, opts: OpenOptions) -> OpenOptions {
        match &self.anchor {
            Some(a) => opts.anchor(anchor(a.path())),
            None => opts,
        }
    }

    fn create(&self, opts: &OpenOptions) -> Store {
        self.options(opts.clone())
            .create::<V, _>(
                fs(self.data.path()),
                Credential::passphrase_with(PASSPHRASE, cheap()),
            )
            .unwrap()
    }

    /// A restart: the store opened from disk, with its anchor if it has one, writable.
    fn start(&self) -> Result<Store, OpenError> {
        self.options(OpenOptions::new())
            .open::<V, _>(fs(self.data.path()), Credential::passphrase(PASSPHRASE))
    }

    /// The inner store, as the attacker sees it.
    fn disk(&self) -> FilesystemStore {
        fs(self.data.path())
    }
}

fn all_inner(inner: &FilesystemStore) -> BTreeSet<Name> {
    MigratableKVStoreSync::list_all_keys(inner)
        .unwrap()
        .into_iter()
        .filter(|(p, _, _)| p != RESERVED_PRIMARY_NAMESPACE)
        .collect()
}

/// Writes `value` at a new key through `store` and returns its stored names.
fn write_new(
    store: &Store,
    disk: &FilesystemStore,
    (p, s, k): (&str, &str, &str),
    value: &[u8],
) -> Name {
    let before = all_inner(disk);
    KVStoreSync::write(store, p, s, k, value.to_vec()).unwrap();
    let after = all_inner(disk);
    let new: Vec<&Name> = after.difference(&before).collect();
    assert_eq!(new.len(), 1, "one new inner value");
    new[0].clone()
}

fn raw(disk: &FilesystemStore, (p, s, k): &Name) -> Vec<u8> {
    KVStoreSync::read(disk, p, s, k).unwrap()
}

fn put(disk: &FilesystemStore, (p, s, k): &Name, bytes: Vec<u8>) {
    KVStoreSync::write(disk, p, s, k, bytes).unwrap();
}

fn version_of(record: &[u8]) -> u64 {
    assert_eq!(record[0], 2, "a version 2 record");
    u64::from_le_bytes(record[5..13].try_into().unwrap())
}

#[track_caller]
fn read_error(e: &io::Error) -> &ReadError {
    // A refusal is `InvalidData`; a record of an absent key (`Removed`) is `NotFound`.
    let kind = match e.get_ref().and_then(|e| e.downcast_ref::<ReadError>()) {
        Some(ReadError::Removed { .. }) => ErrorKind::NotFound,
        _ => ErrorKind::InvalidData,
    };
    assert_eq!(e.kind(), kind, "{e:?}");
    e.get_ref()
        .and_then(|e| e.downcast_ref::<ReadError>())
        .unwrap_or_else(|| panic!("untyped error {e:?}"))
}

#[track_caller]
fn list_error(e: &io::Error) -> &ListError {
    assert_eq!(e.kind(), ErrorKind::InvalidData, "{e:?}");
    e.get_ref()
        .and_then(|e| e.downcast_ref::<ListError>())
        .unwrap_or_else(|| panic!("untyped error {e:?}"))
}

fn read(store: &Store, (p, s, k): (&str, &str, &str)) -> io::Result<Vec<u8>> {
    KVStoreSync::read(store, p, s, k)
}

/// Copies the tree of `from` into `to` (which must not exist).
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// Replaces everything in `dir` by the copy in `copy`: a whole store restored from a backup.
fn restore_tree(dir: &Path, copy: &Path) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            std::fs::remove_dir_all(&path).unwrap();
        } else {
            std::fs::remove_file(&path).unwrap();
        }
    }
    copy_tree(copy, dir);
}

/// One older record of a monitor put back while the node is stopped: refused as `Rollback`
/// after an anchored restart, loaded as the stale monitor after a restart without an anchor.
#[test]
fn an_older_record_put_back_between_restarts_is_refused_only_with_an_anchor() {
    for (mode, opts) in modes() {
        for anchored in [true, false] {
            let ctx = format!("{mode}, anchored {anchored}");
            let node = Node::new(anchored);
            let disk = node.disk();
            let store = node.create(&opts);
            let at = write_new(&store, &disk, ("monitors", "", MON), b"monitor at open");
            let old = raw(&disk, &at);
            drop(store);
            // A restart, then the monitor is rewritten (payments) and the node stops.
            let store = node.start().unwrap();
            KVStoreSync::write(&store, "monitors", "", MON, b"monitor after".to_vec()).unwrap();
            let newer = version_of(&raw(&disk, &at));
            drop(store);
            put(&disk, &at, old.clone());

            let store = node.start().unwrap();
            let r = read(&store, ("monitors", "", MON));
            if anchored {
                let e = r.unwrap_err();
                assert_eq!(
                    read_error(&e),
                    &ReadError::Rollback {
                        primary_namespace: "monitors".into(),
                        secondary_namespace: "".into(),
                        key: MON.into(),
                        found: version_of(&old),
                        expected_at_least: newer,
                    },
                    "{ctx}"
                );
            } else {
                // The known limit: the authentic older record is the stale monitor.
                assert_eq!(r.unwrap(), b"monitor at open", "{ctx}");
            }
        }
    }
}

/// The newest monitor update deleted while the node is stopped: refused on read and on list
/// after an anchored restart (LDK would otherwise replay the monitor one update short), a
/// plain `NotFound` without an anchor.
#[test]
fn the_newest_monitor_update_deleted_between_restarts_is_refused_only_with_an_anchor() {
    for (mode, opts) in modes() {
        for anchored in [true, false] {
            let ctx = format!("{mode}, anchored {anchored}");
            let node = Node::new(anchored);
            let disk = node.disk();
            let store = node.create(&opts);
            let mut newest = None;
            for n in 1..=3u32 {
                let name = ("monitor_updates", MON, &*n.to_string());
                newest = Some(write_new(&store, &disk, name, b"update"));
            }
            let newest = newest.unwrap();
            let version = version_of(&raw(&disk, &newest));
            drop(store);
            KVStoreSync::remove(&disk, &newest.0, &newest.1, &newest.2, false).unwrap();

            let store = node.start().unwrap();
            let listed = KVStoreSync::list(&store, "monitor_updates", MON);
            let r = read(&store, ("monitor_updates", MON, "3"));
            if anchored {
                let e = listed.unwrap_err();
                assert_eq!(
                    list_error(&e),
                    &ListError::Missing {
                        primary_namespace: "monitor_updates".into(),
                        secondary_namespace: MON.into(),
                        key: "3".into(),
                        expected_version: version,
                    },
                    "{ctx}"
                );
                let e = r.unwrap_err();
                assert_eq!(
                    read_error(&e),
                    &ReadError::Missing {
                        primary_namespace: "monitor_updates".into(),
                        secondary_namespace: MON.into(),
                        key: "3".into(),
                        expected_version: version,
                    },
                    "{ctx}"
                );
            } else {
                let mut l = listed.unwrap();
                l.sort();
                assert_eq!(l, ["1", "2"], "{ctx}");
                assert_eq!(r.unwrap_err().kind(), ErrorKind::NotFound, "{ctx}");
            }
            // The other updates read either way.
            assert_eq!(
                read(&store, ("monitor_updates", MON, "2")).unwrap(),
                b"update"
            );
        }
    }
}

/// A removed key brought back while the node is stopped, hard or lazily removed, alone or
/// among 33 removes in its pair: after an anchored restart it is absent (`Removed`, kind
/// `NotFound`, the version found named) and left out of `list`. Without an anchor the
/// restart serves it (the known limit). A key that was never removed reads as it is.
#[test]
fn a_removed_key_brought_back_between_restarts_is_absent_only_with_an_anchor() {
    for (mode, opts) in modes() {
        for anchored in [true, false] {
            let ctx = format!("{mode}, anchored {anchored}");
            let node = Node::new(anchored);
            let disk = node.disk();
            let store = node.create(&opts);
            let hard = write_new(&store, &disk, ("payments", "", "pay_1"), b"paid");
            let lazy = write_new(&store, &disk, ("payments", "", "pay_2"), b"paid too");
            let among_many = write_new(&store, &disk, ("archive", "", "a00"), b"archived");
            let stays = write_new(&store, &disk, ("archive", "", "stays"), b"stays");
            let records: Vec<Vec<u8>> = [&hard, &lazy, &among_many]
                .iter()
                .map(|n| raw(&disk, n))
                .collect();
            KVStoreSync::remove(&store, "payments", "", "pay_1", false).unwrap();
            KVStoreSync::remove(&store, "payments", "", "pay_2", true).unwrap();
            // 33 hard removes in one pair (most of them of keys never written).
            for i in 0..33 {
                KVStoreSync::remove(&store, "archive", "", &format!("a{i:02}"), false).unwrap();
            }
            drop(store);
            for (n, rec) in [&hard, &lazy, &among_many].into_iter().zip(records.clone()) {
                put(&disk, n, rec);
            }

            let store = node.start().unwrap();
            assert_eq!(read(&store, ("archive", "", "stays")).unwrap(), b"stays");
            let _ = stays;
            for ((p, k), rec) in [
                ("payments", "pay_1"),
                ("payments", "pay_2"),
                ("archive", "a00"),
            ]
            .into_iter()
            .zip(&records)
            {
                let r = read(&store, (p, "", k));
                if anchored {
                    let e = r.unwrap_err();
                    assert_eq!(e.kind(), ErrorKind::NotFound, "{ctx}: {p}/{k}");
                    assert_eq!(
                        read_error(&e),
                        &ReadError::Removed {
                            primary_namespace: p.into(),
                            secondary_namespace: "".into(),
                            key: k.into(),
                            found: version_of(rec),
                        },
                        "{ctx}"
                    );
                } else {
                    assert!(r.is_ok(), "{ctx}: {p}/{k}: {r:?}");
                }
            }
            let listed = |p: &str| KVStoreSync::list(&store, p, "").unwrap();
            if anchored {
                assert_eq!(listed("payments"), Vec::<String>::new(), "{ctx}");
                assert_eq!(listed("archive"), ["stays"], "{ctx}");
            } else {
                assert_eq!(listed("payments").len(), 2, "{ctx}");
            }
        }
    }
}

/// The values the whole-store tests write and then change.
fn populate(store: &Store) {
    for (p, s, k, v) in [
        ("monitors", "", MON, &b"monitor 1"[..]),
        ("", "", "manager", b"manager 1"),
        ("payments", "", "pay_1", b"paid"),
    ] {
        KVStoreSync::write(store, p, s, k, v.to_vec()).unwrap();
    }
}

/// What changes after the copy is taken: the monitor rewritten, a new update, a payment
/// hard removed.
fn change(store: &Store) {
    KVStoreSync::write(store, "monitors", "", MON, b"monitor 2".to_vec()).unwrap();
    KVStoreSync::write(store, "monitor_updates", MON, "1", b"update".to_vec()).unwrap();
    KVStoreSync::remove(store, "payments", "", "pay_1", false).unwrap();
}

/// A whole older copy of the store's directory, header and all, put back while the node is
/// stopped. With an anchor: a copy from an earlier run has an older header (every writable
/// open writes the header) and is refused at open with `HeaderRolledBack`; a copy taken
/// during the last run has the header the anchor last saw, opens, and each changed value is
/// refused: `Rollback` (the rewritten monitor), `Missing` (the new update, on read and list),
/// absent (the removed payment: `Removed`, kind `NotFound`). Without an anchor both copies
/// open and every old value reads as current: the known limit SECURITY.md states.
#[test]
fn a_whole_older_copy_of_the_store_put_back() {
    for (mode, opts) in modes() {
        for anchored in [true, false] {
            for copy_in_last_run in [false, true] {
                let ctx =
                    format!("{mode}, anchored {anchored}, copy in the last run {copy_in_last_run}");
                let node = Node::new(anchored);
                let backup = tempfile::tempdir().unwrap();
                let copy = backup.path().join("copy");
                let store = node.create(&opts);
                populate(&store);
                drop(store);
                let store = node.start().unwrap();
                if !copy_in_last_run {
                    // The backup is taken while the node is stopped, before this run.
                    drop(store);
                    copy_tree(node.data.path(), &copy);
                    let store = node.start().unwrap();
                    change(&store);
                    drop(store);
                } else {
                    copy_tree(node.data.path(), &copy);
                    change(&store);
                    drop(store);
                }
                // The header the anchor saw last (read without opening, which would write it).
                let header_seq = EncryptedStore::inspect::<V>(&node.disk())
                    .unwrap()
                    .header_seq;
                restore_tree(node.data.path(), &copy);

                match (anchored, copy_in_last_run, node.start()) {
                    (
                        true,
                        false,
                        Err(OpenError::HeaderRolledBack {
                            header_seq: found,
                            anchor_header_seq,
                        }),
                    ) => {
                        assert!(
                            found < anchor_header_seq,
                            "{ctx}: {found} {anchor_header_seq}"
                        );
                        assert_eq!(anchor_header_seq, header_seq, "{ctx}");
                    }
                    (true, true, Ok(store)) => {
                        let e = read(&store, ("monitors", "", MON)).unwrap_err();
                        assert!(
                            matches!(read_error(&e), ReadError::Rollback { key, .. } if key == MON),
                            "{ctx}: {e:?}"
                        );
                        let e = read(&store, ("monitor_updates", MON, "1")).unwrap_err();
                        assert!(
                            matches!(read_error(&e), ReadError::Missing { key, .. } if key == "1"),
                            "{ctx}: {e:?}"
                        );
                        let e = KVStoreSync::list(&store, "monitor_updates", MON).unwrap_err();
                        assert!(
                            matches!(list_error(&e), ListError::Missing { key, .. } if key == "1"),
                            "{ctx}: {e:?}"
                        );
                        let e = read(&store, ("payments", "", "pay_1")).unwrap_err();
                        assert_eq!(e.kind(), ErrorKind::NotFound, "{ctx}");
                        assert!(
                            matches!(read_error(&e), ReadError::Removed { key, .. } if key == "pay_1"),
                            "{ctx}: {e:?}"
                        );
                        // What did not change since the copy reads as it is.
                        assert_eq!(read(&store, ("", "", "manager")).unwrap(), b"manager 1");
                    }
                    (false, _, Ok(store)) => {
                        assert_eq!(read(&store, ("monitors", "", MON)).unwrap(), b"monitor 1");
                        assert_eq!(
                            read(&store, ("monitor_updates", MON, "1"))
                                .unwrap_err()
                                .kind(),
                            ErrorKind::NotFound,
                            "{ctx}"
                        );
                        assert_eq!(read(&store, ("payments", "", "pay_1")).unwrap(), b"paid");
                    }
                    (_, _, r) => panic!("{ctx}: {:?}", r.map(|s| s.info())),
                }
            }
        }
    }
}

/// The ways on, each explicit: an anchored store does not open without its anchor
/// (`AnchorRequired`), nor with an anchor that knows nothing of it (`AnchorEmpty`: a new
/// device, the anchor lost); an unanchored store does not open with an anchor
/// (`AnchorNotAttached`). `accept_current_state` trusts what the store holds now and watches
/// it from there: a rollback after it is refused again across a restart. It also takes a
/// store restored on purpose past `HeaderRolledBack`.
#[test]
fn accepting_the_current_state_after_a_lost_anchor_or_a_restore() {
    for (mode, opts) in modes() {
        let node = Node::new(true);
        let disk = node.disk();
        let store = node.create(&opts);
        let at = write_new(&store, &disk, ("monitors", "", MON), b"monitor 1");
        populate(&store);
        drop(store);
        assert!(
            matches!(
                EncryptedStore::open::<V>(node.disk(), Credential::passphrase(PASSPHRASE)),
                Err(OpenError::AnchorRequired)
            ),
            "{mode}"
        );

        // The anchor is lost (a new device): a new, empty anchor.
        let lost = node.anchor.as_ref().unwrap().path().to_owned();
        std::fs::remove_dir_all(&lost).unwrap();
        std::fs::create_dir(&lost).unwrap();
        assert!(
            matches!(node.start(), Err(OpenError::AnchorEmpty)),
            "{mode}"
        );
        let store = OpenOptions::new()
            .anchor(anchor(&lost))
            .accept_current_state::<V, _>(node.disk(), Credential::passphrase(PASSPHRASE))
            .unwrap();
        assert_eq!(read(&store, ("monitors", "", MON)).unwrap(), b"monitor 1");
        assert!(store.info().anchored);
        let old = raw(&disk, &at);
        KVStoreSync::write(&store, "monitors", "", MON, b"monitor 2".to_vec()).unwrap();
        drop(store);
        // Watched again from the accepted state: a rollback across a restart is refused.
        put(&disk, &at, old.clone());
        let store = node.start().unwrap();
        let e = read(&store, ("monitors", "", MON)).unwrap_err();
        assert!(
            matches!(read_error(&e), ReadError::Rollback { .. }),
            "{mode}: {e:?}"
        );
        drop(store);

        // A restore on purpose: the operator accepts the older store the anchor refuses.
        let backup = tempfile::tempdir().unwrap();
        let copy = backup.path().join("copy");
        copy_tree(node.data.path(), &copy);
        drop(node.start().unwrap());
        restore_tree(node.data.path(), &copy);
        assert!(
            matches!(node.start(), Err(OpenError::HeaderRolledBack { .. })),
            "{mode}"
        );
        let store = OpenOptions::new()
            .anchor(anchor(&lost))
            .accept_current_state::<V, _>(node.disk(), Credential::passphrase(PASSPHRASE))
            .unwrap();
        // The state accepted is the restored one, older monitor record included.
        assert_eq!(read(&store, ("monitors", "", MON)).unwrap(), b"monitor 1");
        drop(store);
        let store = node.start().unwrap();
        assert_eq!(read(&store, ("monitors", "", MON)).unwrap(), b"monitor 1");
        assert_eq!(read(&store, ("", "", "manager")).unwrap(), b"manager 1");

        // An unanchored store opened with an anchor: refused until it is attached.
        let plain = Node::new(false);
        drop(plain.create(&opts));
        let a = tempfile::tempdir().unwrap();
        assert!(
            matches!(
                OpenOptions::new()
                    .anchor(anchor(a.path()))
                    .open::<V, _>(plain.disk(), Credential::passphrase(PASSPHRASE)),
                Err(OpenError::AnchorNotAttached)
            ),
            "{mode}"
        );
        let attached = OpenOptions::new()
            .anchor(anchor(a.path()))
            .accept_current_state::<V, _>(plain.disk(), Credential::passphrase(PASSPHRASE))
            .unwrap();
        assert!(attached.info().anchored, "{mode}");
    }
}

/// `detach_anchor` clears the header's `anchored` bit: the store opens without the anchor
/// again, refuses the anchor it had (`AnchorNotAttached`), and a rollback across a restart is
/// no longer detected, as documented.
#[test]
fn detaching_the_anchor() {
    for (mode, opts) in modes() {
        let node = Node::new(true);
        let disk = node.disk();
        let store = node.create(&opts);
        let at = write_new(&store, &disk, ("monitors", "", MON), b"monitor 1");
        let old = raw(&disk, &at);
        KVStoreSync::write(&store, "monitors", "", MON, b"monitor 2".to_vec()).unwrap();
        store.detach_anchor::<V>().unwrap();
        assert!(!store.info().anchored, "{mode}");
        // Still the same store: writes go on.
        KVStoreSync::write(&store, "", "", "manager", b"manager".to_vec()).unwrap();
        drop(store);
        assert!(
            matches!(node.start(), Err(OpenError::AnchorNotAttached)),
            "{mode}"
        );
        put(&disk, &at, old);
        let store =
            EncryptedStore::open::<V>(node.disk(), Credential::passphrase(PASSPHRASE)).unwrap();
        assert_eq!(read(&store, ("monitors", "", MON)).unwrap(), b"monitor 1");
        assert_eq!(read(&store, ("", "", "manager")).unwrap(), b"manager");
    }
}

/// LDK's monitor pattern through an anchored store, over a `MemoryStore` with the anchor in
/// another `MemoryStore`: a channel's monitor written at its open, then 100,000 monitor
/// updates, each `monitor_updates/<monitor>/<n>` written once; after every 100th (ldk-node's
/// largest number of pending updates) the full monitor is written and the updates it covers
/// are removed lazily. The anchor holds as many values after 100 cycles as after 100,000 (its
/// meta and the monitor's entry: one entry per live key, nothing for a removed one), and never
/// more than those and one entry per pending update. A restart with updates pending, and one at the end, open and
/// read everything with no false alarm.
#[test]
fn the_anchor_stays_bounded_over_100000_monitor_update_cycles() {
    const MAX_PENDING: usize = 100;
    const CYCLES: u64 = 100_000;
    let started = std::time::Instant::now();
    let (inner, anchor_store) = (MemoryStore::new(), MemoryStore::new());
    let key = RawKey::from_bytes([9; 32]);
    let anchored =
        || OpenOptions::new().anchor(StoreAnchor::<MemoryStore, V>::new(anchor_store.clone()));
    let mut store = anchored()
        .create::<V, _>(inner.clone(), Credential::raw_key(&key))
        .unwrap();
    let mon = format!("{:064x}_0", 1);
    let monitors = [mon.clone()];
    KVStoreSync::write(&store, "monitors", "", &mon, b"at open".to_vec()).unwrap();
    let mut pending = vec![Vec::new()];
    let (mut at_100, mut most) = (None, 0);
    for cycle in 1..=CYCLES {
        let id = cycle.to_string();
        KVStoreSync::write(
            &store,
            "monitor_updates",
            &mon,
            &id,
            id.clone().into_bytes(),
        )
        .unwrap();
        pending[0].push(id);
        most = most.max(anchor_store.len());
        if pending[0].len() == MAX_PENDING {
            KVStoreSync::write(&store, "monitors", "", &mon, cycle.to_le_bytes().to_vec()).unwrap();
            for id in pending[0].drain(..) {
                KVStoreSync::remove(&store, "monitor_updates", &mon, &id, true).unwrap();
            }
        }
        if cycle == 100 {
            at_100 = Some(anchor_store.len());
        }
        if cycle == CYCLES / 2 + 17 {
            // A restart with 17 updates pending: they read back, nothing is refused.
            drop(store);
            store = anchored()
                .open::<V, _>(inner.clone(), Credential::raw_key(&key))
                .unwrap();
            check_monitors(&store, &monitors, &pending);
        }
    }
    let end = anchor_store.len();
    println!(
        "anchored monitor pattern, {CYCLES} cycles: anchor values after 100 cycles {at_100:?}, \
         after {CYCLES} {end}, at most {most}; {:.1} s",
        started.elapsed().as_secs_f64()
    );
    // meta and the monitor's entry.
    assert_eq!(at_100, Some(2));
    assert_eq!(end, 2, "the anchor grows with the cycles");
    // At most: those and the entries of 100 pending updates, just before the monitor write.
    assert_eq!(most, 2 + MAX_PENDING);
    drop(store);
    let store = anchored()
        .open::<V, _>(inner.clone(), Credential::raw_key(&key))
        .unwrap();
    check_monitors(&store, &monitors, &pending);
    assert_eq!(
        KVStoreSync::read(&store, "monitors", "", &mon).unwrap(),
        CYCLES.to_le_bytes()
    );
}

/// Every monitor and every pending update reads, and each monitor's updates list as pending.
#[track_caller]
fn check_monitors<S>(store: &EncryptedStore<S>, monitors: &[String], pending: &[Vec<String>])
where
    EncryptedStore<S>: KVStoreSync,
{
    for (mon, updates) in monitors.iter().zip(pending) {
        KVStoreSync::read(store, "monitors", "", mon).unwrap();
        let mut listed = KVStoreSync::list(store, "monitor_updates", mon).unwrap();
        listed.sort();
        let mut want = updates.clone();
        want.sort();
        assert_eq!(listed, want);
        for id in updates {
            assert_eq!(
                KVStoreSync::read(store, "monitor_updates", mon, id).unwrap(),
                id.as_bytes()
            );
        }
    }
}

/// The same watch through the asynchronous trait (LDK's `KVStore`, as ldk-node drives its
/// store): written, overwritten, lazily and hard removed through `KVStore`, then, while the
/// node is stopped, an older record put back and the hard-removed one brought back. After an
/// anchored restart both are refused; what was not touched reads as written.
#[test]
fn the_anchor_watches_the_async_trait_across_a_restart() {
    for (mode, opts) in modes() {
        let node = Node::new(true);
        let disk = node.disk();
        let store = node.create(&opts);
        let at = write_new(&store, &disk, ("monitors", "", MON), b"monitor 1");
        let gone = write_new(&store, &disk, ("payments", "", "pay_1"), b"paid");
        let (old, gone_rec) = (raw(&disk, &at), raw(&disk, &gone));
        {
            let ops = AsyncOps::new(&store);
            ops.write("monitors", "", MON, b"monitor 2".to_vec())
                .unwrap();
            ops.write("monitor_updates", MON, "1", b"u".to_vec())
                .unwrap();
            ops.remove("monitor_updates", MON, "1", true).unwrap();
            ops.remove("payments", "", "pay_1", false).unwrap();
            ops.write("", "", "manager", b"manager".to_vec()).unwrap();
        }
        drop(store);
        put(&disk, &at, old);
        put(&disk, &gone, gone_rec);
        let store = node.start().unwrap();
        let ops = AsyncOps::new(&store);
        let e = ops.read("monitors", "", MON).unwrap_err();
        assert!(
            matches!(read_error(&e), ReadError::Rollback { .. }),
            "{mode}: {e:?}"
        );
        let e = ops.read("payments", "", "pay_1").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotFound, "{mode}");
        assert!(
            matches!(read_error(&e), ReadError::Removed { .. }),
            "{mode}: {e:?}"
        );
        assert_eq!(ops.read("", "", "manager").unwrap(), b"manager", "{mode}");
        assert_eq!(
            ops.read("monitor_updates", MON, "1").unwrap_err().kind(),
            ErrorKind::NotFound
        );
    }
}
