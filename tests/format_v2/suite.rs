//! The format over LDK's `FilesystemStore` (docs/FORMAT.md): every option
//! combination round-trips through the sync and async traits; an attacker with write access to
//! the inner store who replays an older record, deletes a value or brings a removed one back is
//! refused with a typed error naming the key (`InvalidData`, never `NotFound`); encrypted names
//! and padding leave no plaintext name and no exact size on disk; the counter grows across
//! restarts; a read-only instance never writes and raises no false alarm.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

use super::v::{fs, ldk, AsyncOps, FilesystemStore, Ops, SyncOps, TempFs, V};
use crate::common::{cheap, PASSPHRASE};
use encrypted_kvstore::{
    padme, Credential, EncryptedStore, HeaderError, InvalidName, ListError, OpenError, OpenOptions,
    RawKey, ReadError, RotateError, SharedStore, WriteError, RESERVED_PRIMARY_NAMESPACE,
};
use ldk::io::{self, ErrorKind};
use ldk::util::persist::KVStoreSync;

type Name = (String, String, String);

/// The four ways to create a version 2 store.
fn modes() -> [(&'static str, OpenOptions); 4] {
    [
        ("plain", OpenOptions::new()),
        ("names", OpenOptions::new().encrypt_names()),
        ("padding", OpenOptions::new().pad_values()),
        (
            "names+padding",
            OpenOptions::new().encrypt_names().pad_values(),
        ),
    ]
}

fn create(opts: &OpenOptions, inner: TempFs) -> EncryptedStore<TempFs> {
    opts.create::<V, _>(inner, Credential::passphrase_with(PASSPHRASE, cheap()))
        .unwrap()
}

fn all_inner(inner: &TempFs) -> BTreeSet<Name> {
    super::v::MigratableKVStoreSync::list_all_keys(inner)
        .unwrap()
        .into_iter()
        .filter(|(p, _, _)| p != RESERVED_PRIMARY_NAMESPACE)
        .collect()
}

/// Writes `value` at a new key through `store` and returns where the inner store keeps it.
fn write_new(
    store: &EncryptedStore<TempFs>,
    inner: &TempFs,
    name: (&str, &str, &str),
    value: &[u8],
) -> Name {
    let before = all_inner(inner);
    store.write(name.0, name.1, name.2, value.to_vec()).unwrap();
    let after = all_inner(inner);
    let new: Vec<&Name> = after.difference(&before).collect();
    assert_eq!(new.len(), 1, "one new inner value");
    new[0].clone()
}

fn raw(inner: &TempFs, (p, s, k): &Name) -> Vec<u8> {
    inner.read(p, s, k).unwrap()
}

fn put(inner: &TempFs, (p, s, k): &Name, bytes: Vec<u8>) {
    inner.write(p, s, k, bytes).unwrap();
}

fn read_error(e: &io::Error) -> &ReadError {
    e.get_ref()
        .and_then(|e| e.downcast_ref::<ReadError>())
        .unwrap_or_else(|| panic!("untyped error {e:?}"))
}

fn list_error(e: &io::Error) -> &ListError {
    e.get_ref()
        .and_then(|e| e.downcast_ref::<ListError>())
        .unwrap_or_else(|| panic!("untyped error {e:?}"))
}

fn version_of(record: &[u8]) -> u64 {
    assert_eq!(record[0], 2, "a version 2 record");
    u64::from_le_bytes(record[5..13].try_into().unwrap())
}

#[test]
fn every_mode_round_trips_through_both_traits_and_reopens() {
    for (mode, opts) in modes() {
        let inner = TempFs::new();
        let store = create(&opts, inner.clone());
        let info = store.info();
        assert_eq!(info.format_version, 2, "{mode}");
        assert_eq!(info.names_encrypted, mode.contains("names"), "{mode}");
        assert_eq!(info.values_padded, mode.contains("padding"), "{mode}");
        let async_ops = AsyncOps::new(&store);
        let ops: [(&str, &dyn Ops); 2] = [("sync", &SyncOps(&store)), ("async", &async_ops)];
        for (how, ops) in ops {
            let p = format!("ns_{how}");
            for (s, k, v) in [
                ("", "a", &b""[..]),
                ("sub", "b", b"two"),
                ("", "c", &[7u8; 5000]),
            ] {
                ops.write(&p, s, k, v.to_vec()).unwrap();
                assert_eq!(ops.read(&p, s, k).unwrap(), v, "{mode} {how}");
            }
            assert_eq!(ops.list(&p, "").unwrap(), ["a", "c"], "{mode} {how}");
            assert_eq!(ops.list(&p, "sub").unwrap(), ["b"], "{mode} {how}");
            ops.remove(&p, "", "a", false).unwrap();
            assert_eq!(
                ops.read(&p, "", "a").unwrap_err().kind(),
                ErrorKind::NotFound
            );
            assert_eq!(ops.list(&p, "").unwrap(), ["c"], "{mode} {how}");
            ops.write("", "", &format!("top_{how}"), b"top".to_vec())
                .unwrap();
        }
        let mut all = super::v::MigratableKVStoreSync::list_all_keys(&store).unwrap();
        all.sort();
        let names = |v: &[(&str, &str, &str)]| -> Vec<Name> {
            v.iter()
                .map(|(p, s, k)| (p.to_string(), s.to_string(), k.to_string()))
                .collect()
        };
        assert_eq!(
            all,
            names(&[
                ("", "", "top_async"),
                ("", "", "top_sync"),
                ("ns_async", "", "c"),
                ("ns_async", "sub", "b"),
                ("ns_sync", "", "c"),
                ("ns_sync", "sub", "b"),
            ]),
            "{mode}"
        );
        drop(async_ops);
        drop(store);
        let reopened =
            EncryptedStore::open::<V>(inner.clone(), Credential::passphrase(PASSPHRASE)).unwrap();
        assert_eq!(
            reopened.read("ns_sync", "sub", "b").unwrap(),
            b"two",
            "{mode}"
        );
        assert_eq!(
            reopened.read("ns_async", "", "c").unwrap(),
            [7u8; 5000],
            "{mode}"
        );
        assert!(matches!(
            EncryptedStore::open::<V>(inner, Credential::passphrase(b"wrong")),
            Err(OpenError::WrongPassphrase)
        ));
    }
}

/// An older authentic record put back behind the wrapper's back is refused, through both
/// traits, with the versions found and expected.
#[test]
fn a_replayed_record_is_refused_as_rollback() {
    for (mode, opts) in modes() {
        for how in ["sync", "async"] {
            let inner = TempFs::new();
            let store = create(&opts, inner.clone());
            let at = write_new(&store, &inner, ("monitors", "", "mon_1"), b"state 1");
            let old = raw(&inner, &at);
            let async_ops = AsyncOps::new(&store);
            let ops: &dyn Ops = if how == "sync" {
                &SyncOps(&store)
            } else {
                &async_ops
            };
            ops.write("monitors", "", "mon_1", b"state 2".to_vec())
                .unwrap();
            let new_version = version_of(&raw(&inner, &at));
            put(&inner, &at, old.clone());
            let e = ops.read("monitors", "", "mon_1").unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidData, "{mode} {how}");
            assert_eq!(
                read_error(&e),
                &ReadError::Rollback {
                    primary_namespace: "monitors".into(),
                    secondary_namespace: "".into(),
                    key: "mon_1".into(),
                    found: version_of(&old),
                    expected_at_least: new_version,
                },
                "{mode} {how}"
            );
            assert!(e.to_string().contains("mon_1"), "{e}");
            // Putting the current record back makes the key readable again.
            ops.write("monitors", "", "mon_1", b"state 3".to_vec())
                .unwrap();
            assert_eq!(ops.read("monitors", "", "mon_1").unwrap(), b"state 3");
        }
    }
}

/// A rollback is caught also when this instance only read the newer record (another instance,
/// or an earlier run, wrote it).
#[test]
fn a_rollback_after_a_read_is_refused() {
    let inner = TempFs::new();
    let store = create(&OpenOptions::new(), inner.clone());
    let at = write_new(&store, &inner, ("p", "", "k"), b"old");
    let old = raw(&inner, &at);
    store.write("p", "", "k", b"new".to_vec()).unwrap();
    drop(store);
    let reopened =
        EncryptedStore::open::<V>(inner.clone(), Credential::passphrase(PASSPHRASE)).unwrap();
    assert_eq!(reopened.read("p", "", "k").unwrap(), b"new");
    put(&inner, &at, old);
    let e = reopened.read("p", "", "k").unwrap_err();
    assert!(
        matches!(read_error(&e), ReadError::Rollback { .. }),
        "{e:?}"
    );
}

/// A value deleted behind the wrapper's back is refused on read (not `NotFound`, so LDK fails
/// loudly) and on `list`.
#[test]
fn a_deleted_value_is_refused_on_read_and_on_list() {
    for (mode, opts) in modes() {
        for how in ["sync", "async"] {
            let inner = TempFs::new();
            let store = create(&opts, inner.clone());
            let async_ops = AsyncOps::new(&store);
            let ops: &dyn Ops = if how == "sync" {
                &SyncOps(&store)
            } else {
                &async_ops
            };
            let mon = "8d2c9f0e5b7a4136c1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8_1";
            let mut newest = None;
            for n in 1..=5u32 {
                let at = write_new(
                    &store,
                    &inner,
                    ("monitor_updates", mon, &n.to_string()),
                    b"update",
                );
                newest = Some(at);
            }
            let newest = newest.unwrap();
            let version = version_of(&raw(&inner, &newest));
            inner
                .remove(&newest.0, &newest.1, &newest.2, false)
                .unwrap();
            let e = ops.list("monitor_updates", mon).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidData, "{mode} {how}");
            assert_eq!(
                list_error(&e),
                &ListError::Missing {
                    primary_namespace: "monitor_updates".into(),
                    secondary_namespace: mon.into(),
                    key: "5".into(),
                    expected_version: version,
                },
                "{mode} {how}"
            );
            let e = ops.read("monitor_updates", mon, "5").unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidData, "{mode} {how}");
            assert_eq!(
                read_error(&e),
                &ReadError::Missing {
                    primary_namespace: "monitor_updates".into(),
                    secondary_namespace: mon.into(),
                    key: "5".into(),
                    expected_version: version,
                },
                "{mode} {how}"
            );
            // The other updates are untouched.
            assert_eq!(ops.read("monitor_updates", mon, "4").unwrap(), b"update");
        }
    }
}

/// A removed key whose record comes back is absent, whether its remove was lazy or not (lazy
/// removes are removes): `ReadError::Removed` with kind `NotFound`, naming the version found,
/// never served; a key this instance never touched, written before it opened, is served.
#[test]
fn a_removed_key_that_comes_back_is_absent_lazy_or_not() {
    for (mode, opts) in modes() {
        for how in ["sync", "async"] {
            let inner = TempFs::new();
            let store = create(&opts, inner.clone());
            let async_ops = AsyncOps::new(&store);
            let ops: &dyn Ops = if how == "sync" {
                &SyncOps(&store)
            } else {
                &async_ops
            };
            let hard = write_new(&store, &inner, ("payments", "", "pay_1"), b"paid");
            let lazy = write_new(&store, &inner, ("payments", "", "pay_2"), b"paid too");
            let (hard_rec, lazy_rec) = (raw(&inner, &hard), raw(&inner, &lazy));
            ops.remove("payments", "", "pay_1", false).unwrap();
            ops.remove("payments", "", "pay_2", true).unwrap();
            assert_eq!(ops.list("payments", "").unwrap(), Vec::<String>::new());
            put(&inner, &hard, hard_rec.clone());
            put(&inner, &lazy, lazy_rec.clone());
            for (k, rec) in [("pay_1", &hard_rec), ("pay_2", &lazy_rec)] {
                let e = ops.read("payments", "", k).unwrap_err();
                assert_eq!(e.kind(), ErrorKind::NotFound, "{mode} {how} {k}");
                assert_eq!(
                    read_error(&e),
                    &ReadError::Removed {
                        primary_namespace: "payments".into(),
                        secondary_namespace: "".into(),
                        key: k.into(),
                        found: version_of(rec),
                    },
                    "{mode} {how}"
                );
            }
            // Written again, a key is live again.
            ops.write("payments", "", "pay_1", b"again".to_vec())
                .unwrap();
            assert_eq!(ops.read("payments", "", "pay_1").unwrap(), b"again");
            drop(async_ops);
            drop(store);
            // A new instance never saw those removes: records older than its open are served.
            let reopened = OpenOptions::new()
                .open::<V, _>(inner.clone(), Credential::passphrase(PASSPHRASE))
                .unwrap();
            assert_eq!(reopened.read("payments", "", "pay_2").unwrap(), b"paid too");
        }
    }
}

/// Every record version is new: versions grow within a run and across restarts, and each
/// writable open reserves a block in one header write.
#[test]
fn versions_grow_across_restarts() {
    let inner = TempFs::new();
    let store = create(&OpenOptions::new(), inner.clone());
    let first = store.info();
    assert_eq!((first.header_seq, first.version_limit), (1, (1 << 32) + 1));
    let at = write_new(&store, &inner, ("p", "", "k"), b"1");
    let mut last = version_of(&raw(&inner, &at));
    assert_eq!(last, 1);
    for run in 0..3 {
        for _ in 0..3 {
            store_write_and_check(&inner, &at, &mut last, run);
        }
    }
    fn store_write_and_check(inner: &TempFs, at: &Name, last: &mut u64, run: u32) {
        let limit = EncryptedStore::inspect::<V>(inner).unwrap().version_limit;
        let store =
            EncryptedStore::open::<V>(inner.clone(), Credential::passphrase(PASSPHRASE)).unwrap();
        let info = store.info();
        // One reservation of 2^32 versions, from the stored limit.
        assert_eq!(info.version_limit, limit + (1 << 32), "run {run}: {info:?}");
        store.write("p", "", "k", b"x".to_vec()).unwrap();
        let v = version_of(&raw(inner, at));
        assert!(v > *last, "run {run}: version {v} after {last}");
        assert_eq!(v, limit, "run {run}: the first version of the block");
        *last = v;
    }
    drop(store);
}

/// A read-only instance beside the writer never writes, refuses writes and removes with
/// `PermissionDenied`, and raises no alarm when the writer removes or rewrites what it read.
#[test]
fn a_read_only_instance_never_writes_and_raises_no_false_alarm() {
    let inner = TempFs::new();
    let writer = create(&OpenOptions::new().encrypt_names(), inner.clone());
    writer.write("p", "", "gone", b"1".to_vec()).unwrap();
    writer.write("p", "", "stays", b"2".to_vec()).unwrap();
    let before = super::v::snapshot(&inner);
    let reader = OpenOptions::new()
        .read_only()
        .open::<V, _>(inner.clone(), Credential::passphrase(PASSPHRASE))
        .unwrap();
    assert_eq!(reader.read("p", "", "gone").unwrap(), b"1");
    assert_eq!(reader.list("p", "").unwrap().len(), 2);
    for e in [
        reader.write("p", "", "new", b"x".to_vec()).unwrap_err(),
        reader.remove("p", "", "stays", false).unwrap_err(),
    ] {
        assert_eq!(e.kind(), ErrorKind::PermissionDenied, "{e:?}");
    }
    assert_eq!(super::v::snapshot(&inner), before, "the reader wrote");
    writer.remove("p", "", "gone", false).unwrap();
    writer.write("p", "", "stays", b"3".to_vec()).unwrap();
    assert_eq!(
        reader.read("p", "", "gone").unwrap_err().kind(),
        ErrorKind::NotFound
    );
    assert_eq!(reader.list("p", "").unwrap(), ["stays"]);
    assert_eq!(reader.read("p", "", "stays").unwrap(), b"3");
}

/// A change of passphrase keeps every value and the keyring; the old passphrase stops working.
/// A second writer that changed the header makes the first refuse to overwrite it.
#[test]
fn passphrase_change_and_a_changed_header() {
    let inner = TempFs::new();
    let store = create(
        &OpenOptions::new().encrypt_names().pad_values(),
        inner.clone(),
    );
    store.write("p", "s", "k", b"kept".to_vec()).unwrap();
    store
        .change_credential::<V>(Credential::passphrase_with(b"new passphrase", cheap()))
        .unwrap();
    store.write("p", "s", "k2", b"after".to_vec()).unwrap();
    assert!(matches!(
        EncryptedStore::open::<V>(inner.clone(), Credential::passphrase(PASSPHRASE)),
        Err(OpenError::WrongPassphrase)
    ));
    let reopened =
        EncryptedStore::open::<V>(inner.clone(), Credential::passphrase(b"new passphrase"))
            .unwrap();
    assert_eq!(reopened.read("p", "s", "k").unwrap(), b"kept");
    assert_eq!(reopened.read("p", "s", "k2").unwrap(), b"after");
    // `reopened`'s open wrote the header (its reservation): `store`'s header is no longer the
    // stored one.
    assert!(matches!(
        store.change_credential::<V>(Credential::passphrase_with(b"third", cheap())),
        Err(RotateError::Header(HeaderError::Changed))
    ));
    let key = RawKey::from_bytes([9; 32]);
    reopened
        .change_credential::<V>(Credential::raw_key(&key))
        .unwrap();
    let by_key = EncryptedStore::open::<V>(inner.clone(), Credential::raw_key(&key)).unwrap();
    assert_eq!(by_key.read("p", "s", "k").unwrap(), b"kept");
    let info = EncryptedStore::inspect::<V>(&inner).unwrap();
    assert!(info.names_encrypted && info.values_padded);
    assert_eq!(info.format_version, 2);
}

/// With names encrypted, a record moved to another stored name of the same store fails, and
/// a stored name this store did not make is refused with its name.
#[test]
fn moved_records_and_forged_names_are_refused() {
    let inner = TempFs::new();
    let store = create(&OpenOptions::new().encrypt_names(), inner.clone());
    let a = write_new(&store, &inner, ("monitors", "", "chan_a"), b"monitor a");
    let b = write_new(&store, &inner, ("monitors", "", "chan_b"), b"monitor b");
    assert_eq!(a.0, b.0, "one stored namespace");
    put(&inner, &b, raw(&inner, &a));
    crate::common::assert_auth_failed(
        store.read("monitors", "", "chan_b"),
        "monitors",
        "",
        "chan_b",
    );
    assert_eq!(store.read("monitors", "", "chan_a").unwrap(), b"monitor a");
    for forged in ["AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "abc", "monitors"] {
        inner.write(&a.0, "", forged, b"x".to_vec()).unwrap();
        let e = store.list("monitors", "").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidData);
        assert_eq!(
            list_error(&e),
            &ListError::UndecodableName {
                stored_primary_namespace: a.0.clone(),
                stored_secondary_namespace: "".into(),
                stored_key: forged.into(),
            }
        );
        assert!(e.to_string().contains(forged), "{e}");
        inner.remove(&a.0, "", forged, false).unwrap();
    }
    // Names longer than 74 bytes cannot be encrypted within LDK's 120 characters.
    let before = all_inner(&inner);
    let e = store
        .write("monitors", "", &"k".repeat(75), b"x".to_vec())
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    let typed = e.get_ref().and_then(|e| e.downcast_ref::<WriteError>());
    assert!(matches!(
        typed,
        Some(WriteError::InvalidName(InvalidName::TooLongToEncrypt {
            what: "key",
            len: 75
        }))
    ));
    assert_eq!(all_inner(&inner), before);
    store
        .write("monitors", "", &"k".repeat(74), b"x".to_vec())
        .unwrap();
}

/// Every name LDK and ldk-node use, and values the size of LDK's: on disk (a real
/// `FilesystemStore` directory) no path component is a plaintext name or holds a 64-hex id,
/// and with padding no record is the exact size of its value.
#[test]
fn on_disk_no_plaintext_name_and_no_exact_size() {
    let dir = tempfile::tempdir().unwrap();
    let store = OpenOptions::new()
        .encrypt_names()
        .pad_values()
        .create::<V, _>(
            fs(dir.path()),
            Credential::passphrase_with(PASSPHRASE, cheap()),
        )
        .unwrap();
    let txid = "8d2c9f0e5b7a4136c1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8";
    let monitor = format!("{txid}_1");
    let payment = "ab".repeat(32);
    let names: Vec<(String, String, String, usize)> = vec![
        ("monitors".into(), "".into(), monitor.clone(), 4157),
        ("monitor_updates".into(), monitor.clone(), "1".into(), 411),
        (
            "monitor_updates".into(),
            monitor.clone(),
            "18446744073709551615".into(),
            2047,
        ),
        (
            "archived_monitors".into(),
            "".into(),
            format!("{txid}_65535"),
            3001,
        ),
        ("".into(), "".into(), "manager".into(), 1013),
        ("".into(), "".into(), "network_graph".into(), 30_011),
        ("".into(), "".into(), "scorer".into(), 777),
        ("".into(), "".into(), "output_sweeper".into(), 12),
        ("payments".into(), "".into(), payment.clone(), 143),
        (
            "bdk_wallet".into(),
            "".into(),
            "change_descriptor".into(),
            129,
        ),
        (
            "lightning_liquidity_state".into(),
            "lsps2_service".into(),
            format!("02{txid}"),
            99,
        ),
        (
            "".into(),
            "".into(),
            "external_pathfinding_scores_cache".into(),
            5,
        ),
    ];
    let mut sizes = BTreeSet::new();
    for (p, s, k, len) in &names {
        store.write(p, s, k, vec![0x42; *len]).unwrap();
        sizes.insert(53 + padme(8 + *len as u64).unwrap());
    }
    let mut plain: BTreeSet<String> = names
        .iter()
        .flat_map(|(p, s, k, _)| [p.clone(), s.clone(), k.clone()])
        // Shorter names (an update number) occur in random base64 by chance.
        .filter(|n| n.len() >= 5)
        .collect();
    plain.insert(txid.to_owned());
    let mut files = 0;
    walk(dir.path(), &mut |path, len| {
        let rel = path.strip_prefix(dir.path()).unwrap();
        let comps: Vec<String> = rel
            .iter()
            .map(|c| c.to_string_lossy().into_owned())
            .collect();
        if comps.first().map(String::as_str) == Some(RESERVED_PRIMARY_NAMESPACE) {
            return;
        }
        for c in &comps {
            for n in &plain {
                assert!(!c.contains(n.as_str()), "{c} holds the plaintext name {n}");
            }
        }
        assert!(
            sizes.contains(&len),
            "{} has {len} bytes, not a padded size",
            rel.display()
        );
        files += 1;
    });
    assert_eq!(files, names.len());
    for (p, s, k, len) in &names {
        let exact = 53 + *len as u64;
        let padded = 53 + padme(8 + *len as u64).unwrap();
        assert_ne!(exact, padded, "{k}: choose sizes that padding changes");
        assert_eq!(store.read(p, s, k).unwrap().len(), *len);
    }
    // LDK still finds its monitors through `list`.
    assert_eq!(store.list("monitors", "").unwrap(), vec![monitor.clone()]);
    assert_eq!(store.list("monitor_updates", &monitor).unwrap().len(), 2);
}

fn walk(dir: &Path, f: &mut dyn FnMut(&Path, u64)) {
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        let meta = e.metadata().unwrap();
        if meta.is_dir() {
            walk(&e.path(), f);
        } else {
            f(&e.path(), meta.len());
        }
    }
}

/// Over an asynchronous-only inner store (LDK's `FilesystemStore` through `KVStore`), through
/// `SharedStore`, a rollback is still refused.
#[test]
fn async_inner_store_detects_rollback() {
    let dir = tempfile::tempdir().unwrap();
    let shared = SharedStore(Arc::new(fs(dir.path())));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let store = rt
        .block_on(OpenOptions::new().encrypt_names().create_async::<V, _>(
            shared.clone(),
            Credential::passphrase_with(PASSPHRASE, cheap()),
        ))
        .unwrap();
    let ops = AsyncOps::new(&store);
    ops.write("p", "", "k", b"one".to_vec()).unwrap();
    let raw_store: &FilesystemStore = &shared.0;
    let all = super::v::MigratableKVStoreSync::list_all_keys(raw_store).unwrap();
    let at = all
        .into_iter()
        .find(|(p, _, _)| p != RESERVED_PRIMARY_NAMESPACE)
        .unwrap();
    let old = KVStoreSync::read(raw_store, &at.0, &at.1, &at.2).unwrap();
    ops.write("p", "", "k", b"two".to_vec()).unwrap();
    KVStoreSync::write(raw_store, &at.0, &at.1, &at.2, old).unwrap();
    let e = ops.read("p", "", "k").unwrap_err();
    assert!(
        matches!(read_error(&e), ReadError::Rollback { .. }),
        "{e:?}"
    );
}

/// A writable open reserves 2^32 versions in its one header write, and nothing writes the
/// header while the store is open (sync and async): thousands of writes and removes are one
/// inner call each, the header bytes stay as the open wrote them, and a second writer that
/// rewrites the header does not stop this instance's writes (its versions stay in its own
/// block, below every version of the second writer); only a header write of this instance
/// (a passphrase change) is then refused with `HeaderChanged`, and writes nothing.
#[test]
fn one_reservation_per_open_and_no_header_write_while_open() {
    use encrypted_kvstore::MemoryStore;
    const BLOCK: u64 = 1 << 32;
    let key = RawKey::from_bytes([3; 32]);
    for how in ["sync", "async"] {
        let inner = super::v::FaultyStore::new(MemoryStore::new());
        let raw = inner.inner().clone();
        let store = OpenOptions::new()
            .create::<V, _>(inner.clone(), Credential::raw_key(&key))
            .unwrap();
        let info = store.info();
        assert_eq!(
            (info.header_seq, info.version_limit),
            (1, BLOCK + 1),
            "{how}"
        );
        let header = || KVStoreSync::read(&raw, RESERVED_PRIMARY_NAMESPACE, "", "header").unwrap();
        let created = header();
        let async_ops = AsyncOps::new(&store);
        let ops: &dyn Ops = if how == "sync" {
            &SyncOps(&store)
        } else {
            &async_ops
        };
        let version = || version_of(&KVStoreSync::read(&raw, "p", "", "k").unwrap());
        for i in 0..3_000u64 {
            let before = inner.ops();
            ops.write("p", "", "k", i.to_le_bytes().to_vec()).unwrap();
            if i % 100 == 0 {
                ops.remove("p", "", "gone", i % 200 == 0).unwrap();
            }
            assert!(
                inner.ops() - before <= 2,
                "{how}: only the value's own inner calls"
            );
        }
        assert_eq!(version(), 3_000, "{how}: one version per write, from 1");
        assert_eq!(
            header(),
            created,
            "{how}: the header was not written while open"
        );
        assert_eq!(store.info(), info, "{how}");

        // A second writer (against the README's advice) opens: its block starts above this one.
        let other = EncryptedStore::open::<V>(raw.clone(), Credential::raw_key(&key)).unwrap();
        let other_info = other.info();
        assert_eq!(
            (other_info.header_seq, other_info.version_limit),
            (2, 2 * BLOCK + 1),
            "{how}"
        );
        for _ in 0..10 {
            ops.write("p", "", "k", b"still mine".to_vec()).unwrap();
            assert!(version() < BLOCK + 1, "{how}: within this instance's block");
        }
        assert_eq!(version(), 3_010, "{how}");
        KVStoreSync::write(&other, "p", "", "k", b"other".to_vec()).unwrap();
        assert_eq!(
            version(),
            BLOCK + 1,
            "{how}: the other block starts at the old limit"
        );
        let stored = header();
        assert!(matches!(
            store.change_credential::<V>(Credential::raw_key(&RawKey::from_bytes([4; 32]))),
            Err(RotateError::Header(HeaderError::Changed))
        ));
        assert_eq!(
            header(),
            stored,
            "{how}: the refused header write wrote nothing"
        );
        drop(async_ops);
    }
}

fn key_id_of(record: &[u8]) -> u32 {
    u32::from_le_bytes(record[1..5].try_into().unwrap())
}

/// Rotation adds a key that seals every new write; re-encryption moves every record to it
/// (new versions: an old-key record put back is a rollback); retirement refuses until then,
/// and afterwards records of the retired key open with no key at all.
#[test]
fn rotate_reencrypt_retire() {
    let inner = TempFs::new();
    let store = create(
        &OpenOptions::new().encrypt_names().pad_values(),
        inner.clone(),
    );
    let mut at = Vec::new();
    for i in 0..20u32 {
        let k = format!("key_{i}");
        at.push((
            k.clone(),
            write_new(&store, &inner, ("monitors", "", &k), k.as_bytes()),
        ));
    }
    let old_record = raw(&inner, &at[3].1);
    assert_eq!(key_id_of(&old_record), 0);
    assert_eq!(store.rotate_data_key::<V>().unwrap(), 1);
    let info = store.info();
    assert_eq!((info.key_ids.clone(), info.key_id), (vec![0, 1], 1));
    assert_eq!(
        EncryptedStore::inspect::<V>(&inner).unwrap().key_ids,
        vec![0, 1]
    );
    store
        .write("monitors", "", "key_0", b"new".to_vec())
        .unwrap();
    assert_eq!(
        key_id_of(&raw(&inner, &at[0].1)),
        1,
        "new writes use the new key"
    );
    assert_eq!(
        store.read("monitors", "", "key_5").unwrap(),
        b"key_5",
        "old key still opens"
    );

    match store.retire_old_keys::<V>() {
        Err(encrypted_kvstore::RotateError::NotReencrypted { key_id: 0, .. }) => {}
        other => panic!("{other:?}"),
    }
    let mut seen = Vec::new();
    let done = store.reencrypt::<V>(|p| seen.push(p)).unwrap();
    assert_eq!((done.total, done.done, done.rewritten), (20, 20, 19));
    assert_eq!(seen.len(), 20);
    assert_eq!(seen.last().copied(), Some(done));
    for (k, name) in &at {
        assert_eq!(key_id_of(&raw(&inner, name)), 1, "{k}");
    }
    // Again: nothing left to rewrite.
    assert_eq!(store.reencrypt::<V>(|_| {}).unwrap().rewritten, 0);
    // The old-key record of key_3 put back: older than what re-encryption wrote.
    put(&inner, &at[3].1, old_record.clone());
    let e = store.read("monitors", "", "key_3").unwrap_err();
    assert!(
        matches!(read_error(&e), ReadError::Rollback { .. }),
        "{e:?}"
    );
    store
        .write("monitors", "", "key_3", b"key_3".to_vec())
        .unwrap();

    store.retire_old_keys::<V>().unwrap();
    assert_eq!(store.info().key_ids, vec![1]);
    drop(store);
    let reopened =
        EncryptedStore::open::<V>(inner.clone(), Credential::passphrase(PASSPHRASE)).unwrap();
    assert_eq!(reopened.info().key_ids, vec![1]);
    for (k, _) in &at[1..] {
        assert_eq!(
            reopened.read("monitors", "", k).unwrap(),
            k.as_bytes(),
            "{k}"
        );
    }
    // A fresh instance (no watermarks) still refuses the retired key's record.
    put(&inner, &at[3].1, old_record);
    crate::common::assert_auth_failed(
        reopened.read("monitors", "", "key_3"),
        "monitors",
        "",
        "key_3",
    );

    // The keyring holds at most 8 keys.
    for id in 2..=8 {
        assert_eq!(reopened.rotate_data_key::<V>().unwrap(), id);
    }
    assert_eq!(reopened.info().key_ids.len(), 8);
    assert!(matches!(
        reopened.rotate_data_key::<V>(),
        Err(encrypted_kvstore::RotateError::KeyringFull)
    ));
}

/// A crash (an inner operation failing, with or without effect) at every point of a
/// re-encryption pass loses nothing: every value opens afterwards, and running the pass again
/// finishes it, after which the old key can be retired.
#[test]
fn reencryption_survives_a_fault_at_every_inner_operation() {
    use crate::common::FaultKind;
    use encrypted_kvstore::MemoryStore;
    let key = RawKey::from_bytes([6; 32]);
    let values: Vec<(String, Vec<u8>)> = (0..6u8)
        .map(|i| (format!("k{i}"), vec![i; 100 * usize::from(i)]))
        .collect();
    let mut faults = 0;
    for kind in [FaultKind::Before, FaultKind::After] {
        for n in 0.. {
            let inner = super::v::FaultyStore::new(MemoryStore::new());
            let store = OpenOptions::new()
                .encrypt_names()
                .create::<V, _>(inner.clone(), Credential::raw_key(&key))
                .unwrap();
            for (k, v) in &values {
                store.write("p", "", k, v.clone()).unwrap();
            }
            store.rotate_data_key::<V>().unwrap();
            let base = inner.ops();
            inner.arm(base + n, kind);
            let first = store.reencrypt::<V>(|_| {});
            let used = inner.ops() - base;
            inner.disarm();
            if inner.fires() == 0 {
                first.unwrap();
                break;
            }
            faults += 1;
            // The same instance, and a fresh one, read every value.
            for (k, v) in &values {
                assert_eq!(&store.read("p", "", k).unwrap(), v, "{kind:?} at {n}: {k}");
            }
            let reopened =
                EncryptedStore::open::<V>(inner.clone(), Credential::raw_key(&key)).unwrap();
            for (k, v) in &values {
                assert_eq!(
                    &reopened.read("p", "", k).unwrap(),
                    v,
                    "{kind:?} at {n}: {k}"
                );
            }
            reopened.reencrypt::<V>(|_| {}).unwrap();
            reopened.retire_old_keys::<V>().unwrap();
            for (k, v) in &values {
                assert_eq!(
                    &reopened.read("p", "", k).unwrap(),
                    v,
                    "{kind:?} at {n}: {k}"
                );
            }
            assert!(used > 0);
        }
    }
    assert!(faults >= 2 * 13, "faults injected: {faults}");
}

/// Threads share one version 2 store (names and padding) over `FilesystemStore`, writing,
/// reading, listing and removing (hard and lazy) their own keys and shared ones, while a
/// read-only instance on its own handle reads and lists the same keys: honest concurrency never
/// raises a freshness alarm, and every read returns a value that was written to that key.
#[test]
fn concurrent_honest_use_raises_no_false_alarm() {
    use std::collections::HashSet;
    use std::sync::Mutex;
    const THREADS: u64 = 4;
    const OPS: u64 = 300;
    let dir = tempfile::tempdir().unwrap();
    let store = OpenOptions::new()
        .encrypt_names()
        .pad_values()
        .create::<V, _>(
            fs(dir.path()),
            Credential::passphrase_with(PASSPHRASE, cheap()),
        )
        .unwrap();
    let reader = OpenOptions::new()
        .read_only()
        .open::<V, _>(fs(dir.path()), Credential::passphrase(PASSPHRASE))
        .unwrap();
    let written: Mutex<HashSet<(String, Vec<u8>)>> = Mutex::new(HashSet::new());
    let alarm = |e: &io::Error| -> bool {
        let inner = e.get_ref();
        inner
            .and_then(|i| i.downcast_ref::<ReadError>())
            .is_some_and(|r| matches!(r, ReadError::Rollback { .. } | ReadError::Missing { .. }))
            || inner.and_then(|i| i.downcast_ref::<ListError>()).is_some()
    };
    std::thread::scope(|scope| {
        for t in 0..THREADS {
            let (store, written) = (&store, &written);
            scope.spawn(move || {
                let mut x = 0x9e37_79b9_7f4a_7c15u64 ^ t;
                let mut next = || {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x
                };
                for i in 0..OPS {
                    let shared = next() % 2 == 0;
                    let k = if shared {
                        format!("shared_{}", next() % 3)
                    } else {
                        format!("t{t}_{}", next() % 3)
                    };
                    match next() % 6 {
                        0 | 1 => {
                            let v = format!("{k} by {t} at {i}").into_bytes();
                            written.lock().unwrap().insert((k.clone(), v.clone()));
                            store.write("ns", "", &k, v).unwrap();
                        }
                        2 => match store.read("ns", "", &k) {
                            Ok(v) => {
                                assert!(written.lock().unwrap().contains(&(k.clone(), v)), "{k}")
                            }
                            Err(e) => assert_eq!(e.kind(), ErrorKind::NotFound, "{k}: {e:?}"),
                        },
                        3 => store.remove("ns", "", &k, next() % 2 == 0).unwrap(),
                        4 => {
                            if let Err(e) = store.list("ns", "") {
                                panic!("list: {e:?}");
                            }
                        }
                        _ => {
                            // Own keys only: this thread knows their state exactly.
                            if !shared {
                                let v = format!("{k} again by {t} at {i}").into_bytes();
                                written.lock().unwrap().insert((k.clone(), v.clone()));
                                store.write("ns", "", &k, v.clone()).unwrap();
                                assert_eq!(store.read("ns", "", &k).unwrap(), v);
                            }
                        }
                    }
                }
            });
        }
        let (reader, written) = (&reader, &written);
        scope.spawn(move || {
            for i in 0..OPS {
                let k = format!("shared_{}", i % 3);
                match reader.read("ns", "", &k) {
                    Ok(v) => assert!(written.lock().unwrap().contains(&(k.clone(), v)), "{k}"),
                    Err(e) => assert!(
                        !alarm(&e) && e.kind() == ErrorKind::NotFound,
                        "reader {k}: {e:?}"
                    ),
                }
                if let Err(e) = reader.list("ns", "") {
                    // A listing can race FilesystemStore's own temporary files; never an alarm.
                    assert!(!alarm(&e), "reader list: {e:?}");
                }
            }
        });
    });
}

/// Two threads write one key at once through a synchronous store. The first inner write is
/// held up until the second write returns or 300 ms pass: without the per-key lock from taking
/// the version to the freshness update, the second (newer) version would land first and the
/// first (older) one over it, and the next read would be a false `Rollback`.
#[test]
fn writes_of_one_key_are_serialized_from_version_to_watermark() {
    use encrypted_kvstore::MemoryStore;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::mpsc;
    use std::sync::Mutex;
    use std::time::Duration;

    struct Held {
        inner: MemoryStore,
        first: AtomicBool,
        second_done: Mutex<Option<mpsc::Receiver<()>>>,
    }
    impl KVStoreSync for Held {
        fn read(&self, p: &str, s: &str, k: &str) -> io::Result<Vec<u8>> {
            self.inner.read(p, s, k)
        }
        fn write(&self, p: &str, s: &str, k: &str, buf: Vec<u8>) -> io::Result<()> {
            if k == "k" && self.first.swap(false, Ordering::SeqCst) {
                if let Some(rx) = self.second_done.lock().unwrap().take() {
                    let _ = rx.recv_timeout(Duration::from_millis(300));
                }
            }
            self.inner.write(p, s, k, buf)
        }
        fn remove(&self, p: &str, s: &str, k: &str, lazy: bool) -> io::Result<()> {
            self.inner.remove(p, s, k, lazy)
        }
        fn list(&self, p: &str, s: &str) -> io::Result<Vec<String>> {
            self.inner.list(p, s)
        }
    }

    let (tx, rx) = mpsc::channel();
    let held = Held {
        inner: MemoryStore::new(),
        first: AtomicBool::new(false),
        second_done: Mutex::new(Some(rx)),
    };
    let store = OpenOptions::new()
        .create::<V, _>(held, Credential::raw_key(&RawKey::from_bytes([5; 32])))
        .unwrap();
    store.inner().first.store(true, Ordering::SeqCst);
    std::thread::scope(|scope| {
        let first = scope.spawn(|| store.write("p", "", "k", b"first".to_vec()).unwrap());
        // Give the first write time to take its version and reach the inner store.
        std::thread::sleep(Duration::from_millis(50));
        store.write("p", "", "k", b"second".to_vec()).unwrap();
        let _ = tx.send(());
        first.join().unwrap();
    });
    // Whichever landed last is what the store holds, and reading it is no alarm.
    let stored = store.read("p", "", "k").unwrap();
    assert_eq!(stored, b"second", "the later call's value is the one kept");
}

/// A fault (no effect, or effect with the acknowledgement lost) on the header read or the
/// header write of a writable open's reservation: the open fails with that fault and writes
/// nothing else, and the next open hands out versions above every version handed out before,
/// also above a reservation whose write landed unacknowledged.
#[test]
fn faults_on_the_reservation_at_open_lose_nothing() {
    use crate::common::FaultKind;
    use encrypted_kvstore::MemoryStore;
    let key = RawKey::from_bytes([8; 32]);
    for step in 0..2u64 {
        for kind in [FaultKind::Before, FaultKind::After] {
            let ctx = format!("fault on step {step} ({kind:?})");
            let inner = super::v::FaultyStore::new(MemoryStore::new());
            let raw = inner.inner().clone();
            let store = OpenOptions::new()
                .create::<V, _>(inner.clone(), Credential::raw_key(&key))
                .unwrap();
            for i in 0..5u64 {
                KVStoreSync::write(&store, "p", "", "k", i.to_le_bytes().to_vec()).unwrap();
            }
            drop(store);
            let version = || version_of(&KVStoreSync::read(&raw, "p", "", "k").unwrap());
            let before = super::v::snapshot(&raw);
            let at = inner.ops();
            inner.arm(at + step, kind);
            let e =
                EncryptedStore::open::<V>(inner.clone(), Credential::raw_key(&key)).unwrap_err();
            assert!(
                crate::common::injected_within(&e) == Some(at + step),
                "{ctx}: {e:?}"
            );
            assert_eq!(inner.fires(), 1, "{ctx}");
            assert_eq!(inner.ops(), at + step + 1, "{ctx}: nothing after the fault");
            let landed = step == 1 && kind == FaultKind::After;
            let after = super::v::snapshot(&raw);
            if landed {
                // Only the header changed: every record byte for byte as before.
                let records = |m: &crate::common::Snapshot| {
                    m.iter()
                        .filter(|((p, _, _), _)| p != RESERVED_PRIMARY_NAMESPACE)
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect::<Vec<_>>()
                };
                assert_eq!(records(&after), records(&before), "{ctx}");
                assert_ne!(after, before, "{ctx}: the header write landed");
            } else {
                assert_eq!(after, before, "{ctx}: the failed open wrote");
            }
            inner.disarm();
            let store =
                EncryptedStore::open::<V>(inner.clone(), Credential::raw_key(&key)).unwrap();
            let info = store.info();
            let expected = if landed { 3 } else { 2 };
            assert_eq!(info.header_seq, expected, "{ctx}");
            KVStoreSync::write(&store, "p", "", "k", b"after".to_vec()).unwrap();
            assert_eq!(
                version(),
                (expected - 1) * (1 << 32) + 1,
                "{ctx}: the first version of the new block"
            );
        }
    }
}
