//! LDK's store contract (`KVStoreSync`, `KVStore`, `MigratableKVStoreSync`), as one generic suite run
//! over `EncryptedStore<FilesystemStore>`, `EncryptedStore<MemoryStore>` and, to show that the
//! suite itself is LDK's contract and not ours, over LDK's reference `FilesystemStore`.
//!
//! How invalid names are judged: the encrypted store must refuse them with an `InvalidInput`
//! error carrying our typed `InvalidName`, before the inner store sees the call. LDK's
//! `FilesystemStore` refuses them with `debug_assert!(false)` in debug builds (a panic in
//! `cargo test`) and an `Other` error in release builds; for it the suite requires "refused, by
//! error or by debug assertion, never accepted" (the same check LDK's own tests make with
//! `catch_unwind`). For every store the suite also checks that nothing was written.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use super::contract::{v, Refusal, Subject};
use super::v::{
    fs, ldk, snapshot, AsyncOps, FilesystemStore, MigratableKVStoreSync, Ops, SyncOps, V,
};
use crate::common::{cheap, PASSPHRASE};
use encrypted_kvstore::{Credential, EncryptedStore, MemoryStore, RawKey};
use ldk::util::persist::{migrate_kv_store_data, KVStoreSync, KVSTORE_NAMESPACE_KEY_MAX_LEN};

/// The contract over an encrypted store over LDK's `FilesystemStore`, via `ops`.
fn encrypted_fs<'a, O: Ops>(
    make: impl FnOnce(&'a EncryptedStore<FilesystemStore>) -> O,
    store: &'a EncryptedStore<FilesystemStore>,
    label: &'static str,
) {
    let raw = || snapshot(store.inner());
    let subject = Subject {
        ops: make(store),
        raw: &raw,
        refusal: Refusal::Typed,
        label,
    };
    subject.run();
    // Nothing on disk outside the header and records, and every record is sealed.
    for ((p, s, k), bytes) in snapshot(store.inner()) {
        if p == encrypted_kvstore::RESERVED_PRIMARY_NAMESPACE {
            assert_eq!((s.as_str(), k.as_str()), ("", "header"));
            continue;
        }
        let plain = KVStoreSync::read(store, &p, &s, &k).unwrap();
        assert_eq!(
            bytes.len(),
            plain.len() + encrypted_kvstore::RECORD_OVERHEAD
        );
    }
}

#[test]
fn contract_sync_encrypted_filesystem_store() {
    let dir = tempfile::tempdir().unwrap();
    let store = encrypted_kvstore::OpenOptions::new()
        .create::<V, _>(
            fs(dir.path()),
            Credential::passphrase_with(PASSPHRASE, cheap()),
        )
        .unwrap();
    encrypted_fs(SyncOps, &store, "sync EncryptedStore<FilesystemStore>");
    // The data is on disk: a fresh store over a fresh FilesystemStore reads it.
    let reopened =
        EncryptedStore::open::<V>(fs(dir.path()), Credential::passphrase(PASSPHRASE)).unwrap();
    assert_eq!(
        KVStoreSync::read(&reopened, "", "", "toplevel").unwrap(),
        v("top", 8)
    );
}

#[test]
fn contract_async_encrypted_filesystem_store() {
    let dir = tempfile::tempdir().unwrap();
    let store = encrypted_kvstore::OpenOptions::new()
        .create::<V, _>(
            fs(dir.path()),
            Credential::passphrase_with(PASSPHRASE, cheap()),
        )
        .unwrap();
    encrypted_fs(
        AsyncOps::new,
        &store,
        "async EncryptedStore<FilesystemStore>",
    );
}

fn encrypted_memory<'a, O: Ops>(
    make: impl FnOnce(&'a EncryptedStore<MemoryStore>) -> O,
    store: &'a EncryptedStore<MemoryStore>,
    label: &'static str,
) {
    let inner = store.inner().clone();
    let raw = move || snapshot(&inner);
    Subject {
        ops: make(store),
        raw: &raw,
        refusal: Refusal::Typed,
        label,
    }
    .run();
}

#[test]
fn contract_sync_encrypted_memory_store() {
    let store = encrypted_kvstore::OpenOptions::new()
        .create::<V, _>(
            MemoryStore::new(),
            Credential::passphrase_with(PASSPHRASE, cheap()),
        )
        .unwrap();
    encrypted_memory(SyncOps, &store, "sync EncryptedStore<MemoryStore>");
    let key = RawKey::from_bytes([9; 32]);
    let by_key = encrypted_kvstore::OpenOptions::new()
        .create::<V, _>(MemoryStore::new(), Credential::raw_key(&key))
        .unwrap();
    encrypted_memory(
        SyncOps,
        &by_key,
        "sync EncryptedStore<MemoryStore> (raw key)",
    );
}

#[test]
fn contract_async_encrypted_memory_store() {
    let store = encrypted_kvstore::OpenOptions::new()
        .create::<V, _>(
            MemoryStore::new(),
            Credential::passphrase_with(PASSPHRASE, cheap()),
        )
        .unwrap();
    encrypted_memory(AsyncOps::new, &store, "async EncryptedStore<MemoryStore>");
}

#[test]
fn contract_sync_reference_filesystem_store() {
    let dir = tempfile::tempdir().unwrap();
    let store = fs(dir.path());
    let raw = || snapshot(&store);
    Subject {
        ops: SyncOps(&store),
        raw: &raw,
        refusal: Refusal::ErrorOrDebugAssert,
        label: "sync FilesystemStore",
    }
    .run();
}

#[test]
fn contract_async_reference_filesystem_store() {
    let dir = tempfile::tempdir().unwrap();
    let store = fs(dir.path());
    let raw = || snapshot(&store);
    Subject {
        ops: AsyncOps::new(&store),
        raw: &raw,
        refusal: Refusal::ErrorOrDebugAssert,
        label: "async FilesystemStore",
    }
    .run();
}

/// A varied data set: LDK's own namespaces, empty and long names, empty and large values.
fn fill<S: KVStoreSync>(store: &S) -> Vec<((String, String, String), Vec<u8>)> {
    let max = "Z".repeat(KVSTORE_NAMESPACE_KEY_MAX_LEN);
    let items: Vec<((String, String, String), Vec<u8>)> = vec![
        (("", "", "manager"), v("manager", 3000)),
        (("", "", "network_graph"), v("graph", 50_000)),
        (("", "", "empty"), Vec::new()),
        (("monitors", "", "aa_0"), v("mon a", 700)),
        (("monitors", "", "bb_1"), v("mon b", 701)),
        (("monitor_updates", "aa_0", "1"), v("upd 1", 40)),
        (("monitor_updates", "aa_0", "2"), v("upd 2", 41)),
        (("archived_monitors", "", "cc_0"), v("archived", 10)),
        ((max.as_str(), max.as_str(), max.as_str()), v("max", 120)),
        (("p", "s", "k"), (0..=255u8).collect()),
    ]
    .into_iter()
    .map(|((p, s, k), v)| ((p.to_string(), s.to_string(), k.to_string()), v))
    .collect();
    for ((p, s, k), val) in &items {
        store.write(p, s, k, val.clone()).unwrap();
    }
    items
}

fn sorted<S: MigratableKVStoreSync>(s: &S) -> Vec<(String, String, String)> {
    let mut l = s.list_all_keys().unwrap();
    l.sort();
    l
}

#[test]
fn migrate_filesystem_plaintext_to_encrypted_and_back_gives_every_byte() {
    let (d1, d2, d3) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let mut plain = fs(d1.path());
    let items = fill(&plain);
    let mut enc = encrypted_kvstore::OpenOptions::new()
        .create::<V, _>(
            fs(d2.path()),
            Credential::passphrase_with(PASSPHRASE, cheap()),
        )
        .unwrap();
    migrate_kv_store_data(&mut plain, &mut enc).unwrap();

    // The encrypted store lists exactly the migrated keys (its header is not one of them) ...
    let mut want: Vec<_> = items.iter().map(|(k, _)| k.clone()).collect();
    want.sort();
    assert_eq!(sorted(&enc), want);
    // ... and nothing on its disk is plaintext.
    for ((p, s, k), raw) in snapshot(enc.inner()) {
        if p == encrypted_kvstore::RESERVED_PRIMARY_NAMESPACE {
            continue;
        }
        let (_, val) = items
            .iter()
            .find(|(n, _)| n == &(p.clone(), s.clone(), k.clone()))
            .unwrap();
        assert_ne!(&raw, val);
        if val.len() >= 16 {
            assert!(!raw.windows(16).any(|w| w == &val[val.len() - 16..]));
        }
    }

    // Reopened from disk, migrated out again into plaintext: every byte comes back.
    let mut reopened =
        EncryptedStore::open::<V>(fs(d2.path()), Credential::passphrase(PASSPHRASE)).unwrap();
    let mut back = fs(d3.path());
    migrate_kv_store_data(&mut reopened, &mut back).unwrap();
    assert_eq!(sorted(&back), want);
    for ((p, s, k), val) in &items {
        assert_eq!(
            &KVStoreSync::read(&back, p, s, k).unwrap(),
            val,
            "{p}/{s}/{k}"
        );
    }
    assert_eq!(snapshot(&plain), snapshot(&back));
}

#[test]
fn migrate_memory_plaintext_to_encrypted_to_encrypted_and_back() {
    let mut plain = MemoryStore::new();
    let items = fill(&plain);
    let mut enc1 = encrypted_kvstore::OpenOptions::new()
        .create::<V, _>(
            MemoryStore::new(),
            Credential::passphrase_with(PASSPHRASE, cheap()),
        )
        .unwrap();
    migrate_kv_store_data(&mut plain, &mut enc1).unwrap();
    // Re-encrypting under another store (another data key) by migration.
    let mut enc2 = encrypted_kvstore::OpenOptions::new()
        .create::<V, _>(
            MemoryStore::new(),
            Credential::raw_key(&RawKey::from_bytes([5; 32])),
        )
        .unwrap();
    migrate_kv_store_data(&mut enc1, &mut enc2).unwrap();
    let mut back = MemoryStore::new();
    migrate_kv_store_data(&mut enc2, &mut back).unwrap();
    assert_eq!(snapshot(&plain), snapshot(&back));
    assert_eq!(back.len(), items.len());
    // The two encrypted stores hold different bytes for every value.
    let (raw1, raw2) = (snapshot(enc1.inner()), snapshot(enc2.inner()));
    for (name, _) in &items {
        assert_ne!(raw1.get(name), raw2.get(name));
    }
}

/// LDK's `migrate_kv_store_data` is synchronous; an async node migrates by hand: the key list
/// from `MigratableKVStoreSync` (LDK has no async one), every value read and written through
/// `KVStore`, each future awaited. Read back through `KVStore`, every byte is there, and the
/// inner store holds no plaintext.
#[tokio::test]
async fn migrate_into_an_encrypted_store_through_the_async_contract() {
    use ldk::util::persist::KVStore;
    let plain = MemoryStore::new();
    let items = fill(&plain);
    let enc = encrypted_kvstore::OpenOptions::new()
        .create::<V, _>(
            MemoryStore::new(),
            Credential::passphrase_with(PASSPHRASE, cheap()),
        )
        .unwrap();
    for (p, s, k) in plain.list_all_keys().unwrap() {
        let v = KVStore::read(&plain, &p, &s, &k).await.unwrap();
        KVStore::write(&enc, &p, &s, &k, v).await.unwrap();
    }
    let mut want: Vec<_> = items.iter().map(|(k, _)| k.clone()).collect();
    want.sort();
    assert_eq!(sorted(&enc), want);
    for ((p, s, k), val) in &items {
        assert_eq!(&KVStore::read(&enc, p, s, k).await.unwrap(), val);
        let mut listed = KVStore::list(&enc, p, s).await.unwrap();
        listed.sort();
        assert!(listed.binary_search(k).is_ok(), "{p}/{s}: {listed:?}");
        let raw = KVStoreSync::read(enc.inner(), p, s, k).unwrap();
        assert_eq!(raw.len(), val.len() + encrypted_kvstore::RECORD_OVERHEAD);
        assert_ne!(&raw, val);
    }
}
