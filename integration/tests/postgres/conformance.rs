//! LDK's store contract (`conformance/contract.rs`) over `EncryptedStore<PostgresStore>`,
//! through the sync and the async trait, and over `PostgresStore` itself (so the contract is
//! seen to be LDK's, met by the plain store too); every row the encrypted store leaves is a
//! sealed record of its value; LDK's migration into and out of the encrypted store.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use super::contract::{v, Refusal, Subject};
use super::pg::{connect, fresh, Pg};
use super::v::{fs, ldk, snapshot, AsyncOps, MigratableKVStoreSync, Ops, SyncOps, V};
use crate::common::{cheap, PASSPHRASE};
use crate::server::pg_env;
use encrypted_kvstore::{
    Credential, EncryptedStore, HEADER_KEY, HEADER_SECONDARY_NAMESPACE, RESERVED_PRIMARY_NAMESPACE,
};
use ldk::util::persist::{migrate_kv_store_data, KVStoreSync};

/// What a record adds to its value: format, key id, version, nonce, tag (docs/FORMAT.md).
const OVERHEAD: usize = 53;

/// The contract over `store`, via `ops`; then every row is the header or a sealed record.
fn encrypted<'a, O: Ops>(
    make: impl FnOnce(&'a EncryptedStore<Pg>) -> O,
    store: &'a EncryptedStore<Pg>,
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
    for ((p, s, k), bytes) in snapshot(store.inner()) {
        if p == RESERVED_PRIMARY_NAMESPACE {
            assert_eq!(
                (s.as_str(), k.as_str()),
                (HEADER_SECONDARY_NAMESPACE, HEADER_KEY)
            );
            continue;
        }
        let plain = KVStoreSync::read(store, &p, &s, &k).unwrap();
        assert_eq!(bytes.len(), plain.len() + OVERHEAD, "{p}/{s}/{k}");
    }
}

#[test]
fn contract_sync_encrypted_postgres_store() {
    let Some(url) = pg_env("contract_sync_encrypted_postgres_store").map(|env| env.primary) else {
        return;
    };
    let (inner, table) = fresh(&url, "contract_sync");
    let store =
        EncryptedStore::create::<V>(inner, Credential::passphrase_with(PASSPHRASE, cheap()))
            .unwrap();
    encrypted(SyncOps, &store, "sync EncryptedStore<PostgresStore>");
    drop(store);
    // The data is in the database: a fresh store over a new connection reads it.
    let reopened =
        EncryptedStore::open::<V>(connect(&url, &table), Credential::passphrase(PASSPHRASE))
            .unwrap();
    assert_eq!(
        KVStoreSync::read(&reopened, "", "", "toplevel").unwrap(),
        v("top", 8)
    );
}

#[test]
fn contract_async_encrypted_postgres_store() {
    let Some(url) = pg_env("contract_async_encrypted_postgres_store").map(|env| env.primary) else {
        return;
    };
    let (inner, _) = fresh(&url, "contract_async");
    let store =
        EncryptedStore::create::<V>(inner, Credential::passphrase_with(PASSPHRASE, cheap()))
            .unwrap();
    encrypted(AsyncOps::new, &store, "async EncryptedStore<PostgresStore>");
}

#[test]
fn contract_sync_plain_postgres_store() {
    let Some(url) = pg_env("contract_sync_plain_postgres_store").map(|env| env.primary) else {
        return;
    };
    let (store, _) = fresh(&url, "contract_plain");
    let raw = || snapshot(&store);
    Subject {
        ops: SyncOps(&store),
        raw: &raw,
        refusal: Refusal::ErrorOrDebugAssert,
        label: "sync PostgresStore",
    }
    .run();
}

/// A namespace pair and key.
type Place = (&'static str, &'static str, &'static str);

/// LDK's migration from a plaintext `FilesystemStore` into the encrypted store over
/// PostgreSQL, and from there (reopened over a new connection) into a second plaintext store:
/// every key and byte comes back, and no row holds a value in the clear.
#[test]
fn migrate_into_and_out_of_an_encrypted_postgres_store() {
    let Some(url) =
        pg_env("migrate_into_and_out_of_an_encrypted_postgres_store").map(|env| env.primary)
    else {
        return;
    };
    let (d1, d2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut plain = fs(d1.path());
    let items: Vec<(Place, Vec<u8>)> = vec![
        (("", "", "manager"), v("manager", 3000)),
        (("monitors", "", "aa_0"), v("monitor", 700)),
        (("monitor_updates", "aa_0", "1"), v("update", 40)),
        (("payments", "", "p1"), v("payment", 100)),
        (("", "", "empty"), Vec::new()),
    ];
    for ((p, s, k), val) in &items {
        KVStoreSync::write(&plain, p, s, k, val.clone()).unwrap();
    }
    let (inner, table) = fresh(&url, "migrate");
    let mut enc =
        EncryptedStore::create::<V>(inner, Credential::passphrase_with(PASSPHRASE, cheap()))
            .unwrap();
    migrate_kv_store_data(&mut plain, &mut enc).unwrap();
    for ((p, s, k), raw) in snapshot(enc.inner()) {
        if p == RESERVED_PRIMARY_NAMESPACE {
            continue;
        }
        let (_, val) = items
            .iter()
            .find(|((ip, is, ik), _)| (*ip, *is, *ik) == (p.as_str(), s.as_str(), k.as_str()))
            .unwrap();
        assert_ne!(&raw, val);
        if val.len() >= 16 {
            assert!(!raw.windows(16).any(|w| w == &val[val.len() - 16..]));
        }
    }
    drop(enc);
    let mut reopened =
        EncryptedStore::open::<V>(connect(&url, &table), Credential::passphrase(PASSPHRASE))
            .unwrap();
    let mut back = fs(d2.path());
    migrate_kv_store_data(&mut reopened, &mut back).unwrap();
    assert_eq!(snapshot(&plain), snapshot(&back));
    assert_eq!(
        MigratableKVStoreSync::list_all_keys(&back).unwrap().len(),
        items.len()
    );
}
