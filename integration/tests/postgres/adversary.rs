//! An adversary with write access to the table (through the very `PostgresStore` the encrypted
//! store uses, or by SQL): every byte of a record flipped, records truncated, extended, moved
//! to another key, swapped, replayed (an older record of the same key), deleted, and a removed
//! one resurrected. Each is refused with the typed error naming the key (`InvalidData` at the
//! trait edge, never `NotFound`), through the sync and the async trait, with plaintext and with
//! encrypted names, and no other value is affected.
//!
//! The attack bodies are generic over the inner store, so they state what an attacker of any
//! inner store is refused; the tests run them over PostgreSQL.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::BTreeSet;

use super::pg::{fresh, Pg};
use super::v::{ldk, AsyncOps, MigratableKVStoreSync, Ops, SyncOps, V};
use crate::common::{assert_auth_failed, cheap, read_error, PASSPHRASE};
use crate::server::{pg_env, Sql};
use encrypted_kvstore::{
    Credential, EncryptedStore, ListError, OpenOptions, ReadError, RESERVED_PRIMARY_NAMESPACE,
};
use ldk::io::{self, ErrorKind};
use ldk::util::persist::KVStoreSync;

/// A name as the inner store keeps it (encrypted, when the store encrypts names).
pub type Name = (String, String, String);

/// The target of the attacks, and values around it in every relation to it.
const TARGET: (&str, &str, &str) = ("monitors", "", "8d2c9f0e5b7a4136_0");
const NEIGHBOURS: [(&str, &str, &str); 4] = [
    ("monitors", "", "8d2c9f0e5b7a4136_1"),
    ("monitor_updates", "8d2c9f0e5b7a4136_0", "1"),
    ("payments", "", "8d2c9f0e5b7a4136_0"),
    ("", "", "8d2c9f0e5b7a4136_0"),
];

fn value_of((p, s, k): (&str, &str, &str)) -> Vec<u8> {
    format!("the value of {p}/{s}/{k}").into_bytes()
}

/// The two ways of creating the stores under attack: plaintext and encrypted names.
pub fn modes() -> [(&'static str, OpenOptions); 2] {
    [
        ("v2", OpenOptions::new()),
        ("names", OpenOptions::new().encrypt_names()),
    ]
}

/// Every name the inner store holds outside the header.
pub fn inner_names<I: MigratableKVStoreSync>(inner: &I) -> BTreeSet<Name> {
    inner
        .list_all_keys()
        .unwrap()
        .into_iter()
        .filter(|(p, _, _)| p != RESERVED_PRIMARY_NAMESPACE)
        .collect()
}

/// Writes `value` at a new key through `ops` and returns where the inner store keeps it.
pub fn write_new<I: MigratableKVStoreSync>(
    ops: &dyn Ops,
    inner: &I,
    (p, s, k): (&str, &str, &str),
    value: &[u8],
) -> Name {
    let before = inner_names(inner);
    ops.write(p, s, k, value.to_vec()).unwrap();
    let new: Vec<Name> = inner_names(inner).difference(&before).cloned().collect();
    assert_eq!(new.len(), 1, "one new inner value for {p}/{s}/{k}");
    new.into_iter().next().unwrap()
}

/// The record under `name`.
pub fn raw<I: KVStoreSync>(inner: &I, (p, s, k): &Name) -> Vec<u8> {
    inner.read(p, s, k).unwrap()
}

/// Writes `bytes` under `name`, behind the wrapper's back.
pub fn put<I: KVStoreSync>(inner: &I, (p, s, k): &Name, bytes: Vec<u8>) {
    inner.write(p, s, k, bytes).unwrap();
}

/// The version a version 2 record carries.
pub fn version_of(record: &[u8]) -> u64 {
    assert_eq!(record[0], 2, "a version 2 record");
    u64::from_le_bytes(record[5..13].try_into().unwrap())
}

fn list_error(e: &io::Error) -> &ListError {
    e.get_ref()
        .and_then(|e| e.downcast_ref::<ListError>())
        .unwrap_or_else(|| panic!("untyped error {e:?}"))
}

/// Each neighbour still reads its own value.
#[track_caller]
fn neighbours_unaffected(ops: &dyn Ops, label: &str) {
    for n in NEIGHBOURS {
        assert_eq!(
            ops.read(n.0, n.1, n.2).unwrap(),
            value_of(n),
            "{label}: {n:?}"
        );
    }
}

/// Tampering: every byte of the target's record flipped, the record cut at every length and
/// extended, moved onto each neighbour's place and to a fresh place, two records swapped. Each
/// read is `AuthenticationFailed` naming the key read; putting the record back restores it.
pub fn tampered_records_are_refused<I: KVStoreSync + MigratableKVStoreSync>(
    ops: &dyn Ops,
    inner: &I,
    label: &str,
) {
    let (p, s, k) = TARGET;
    let at = write_new(ops, inner, TARGET, &value_of(TARGET));
    let places: Vec<Name> = NEIGHBOURS
        .iter()
        .map(|&n| write_new(ops, inner, n, &value_of(n)))
        .collect();
    let rec = raw(inner, &at);
    for i in 0..rec.len() {
        let mut bad = rec.clone();
        bad[i] ^= 0x01;
        put(inner, &at, bad);
        assert_auth_failed(ops.read(p, s, k), p, s, k);
    }
    for len in [0, 1, 12, rec.len() / 2, rec.len() - 1] {
        put(inner, &at, rec[..len].to_vec());
        assert_auth_failed(ops.read(p, s, k), p, s, k);
    }
    let mut long = rec.clone();
    long.push(0);
    put(inner, &at, long);
    assert_auth_failed(ops.read(p, s, k), p, s, k);
    put(inner, &at, value_of(TARGET));
    assert_auth_failed(ops.read(p, s, k), p, s, k);
    put(inner, &at, rec.clone());
    assert_eq!(ops.read(p, s, k).unwrap(), value_of(TARGET), "{label}");
    neighbours_unaffected(ops, label);

    // Moved: the target's record over each neighbour, refused there, and put back.
    for (n, place) in NEIGHBOURS.iter().zip(&places) {
        let original = raw(inner, place);
        put(inner, place, rec.clone());
        assert_auth_failed(ops.read(n.0, n.1, n.2), n.0, n.1, n.2);
        put(inner, place, original);
    }
    // Swapped: the target and its first neighbour, both refused.
    let other = raw(inner, &places[0]);
    put(inner, &places[0], rec.clone());
    put(inner, &at, other.clone());
    assert_auth_failed(ops.read(p, s, k), p, s, k);
    let n = NEIGHBOURS[0];
    assert_auth_failed(ops.read(n.0, n.1, n.2), n.0, n.1, n.2);
    put(inner, &places[0], other);
    put(inner, &at, rec);
    assert_eq!(ops.read(p, s, k).unwrap(), value_of(TARGET), "{label}");
    neighbours_unaffected(ops, label);
}

/// Freshness within the open store: an older record of the key put back is `Rollback` (with
/// the versions found and expected), a deleted value is `Missing` on read and on list, a key
/// removed that comes back, lazily or not, is absent (`Removed`, kind `NotFound`, the version
/// found named), never served. The refusals are `InvalidData`, never `NotFound`.
pub fn rollback_deletion_and_resurrection_are_refused<I: KVStoreSync + MigratableKVStoreSync>(
    ops: &dyn Ops,
    inner: &I,
    label: &str,
) {
    // Rollback.
    let (p, s, k) = TARGET;
    let at = write_new(ops, inner, TARGET, b"state 1");
    let old = raw(inner, &at);
    ops.write(p, s, k, b"state 2".to_vec()).unwrap();
    let newer = version_of(&raw(inner, &at));
    put(inner, &at, old.clone());
    let e = ops.read(p, s, k).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidData, "{label}");
    assert_eq!(
        read_error(&e),
        Some(&ReadError::Rollback {
            primary_namespace: p.into(),
            secondary_namespace: s.into(),
            key: k.into(),
            found: version_of(&old),
            expected_at_least: newer,
        }),
        "{label}"
    );
    ops.write(p, s, k, b"state 3".to_vec()).unwrap();
    assert_eq!(ops.read(p, s, k).unwrap(), b"state 3", "{label}");

    // Deletion of the newest monitor update.
    let mon = "8d2c9f0e5b7a4136_0";
    for n in 1..=3 {
        write_new(
            ops,
            inner,
            ("monitor_updates", mon, &n.to_string()),
            b"update",
        );
    }
    let newest = write_new(ops, inner, ("monitor_updates", mon, "4"), b"update 4");
    let version = version_of(&raw(inner, &newest));
    inner
        .remove(&newest.0, &newest.1, &newest.2, false)
        .unwrap();
    let missing = |key: &str| ReadError::Missing {
        primary_namespace: "monitor_updates".into(),
        secondary_namespace: mon.into(),
        key: key.into(),
        expected_version: version,
    };
    let e = ops.read("monitor_updates", mon, "4").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidData, "{label}");
    assert_eq!(read_error(&e), Some(&missing("4")), "{label}");
    let e = ops.list("monitor_updates", mon).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidData, "{label}");
    assert!(
        matches!(list_error(&e), ListError::Missing { key, expected_version, .. }
            if key == "4" && *expected_version == version),
        "{label}: {e:?}"
    );
    assert_eq!(ops.read("monitor_updates", mon, "3").unwrap(), b"update");

    // Resurrection: hard-removed and lazily removed payments brought back.
    let hard = write_new(ops, inner, ("payments", "", "pay_1"), b"paid");
    let lazy = write_new(ops, inner, ("payments", "", "pay_2"), b"paid too");
    let (hard_rec, lazy_rec) = (raw(inner, &hard), raw(inner, &lazy));
    ops.remove("payments", "", "pay_1", false).unwrap();
    ops.remove("payments", "", "pay_2", true).unwrap();
    assert_eq!(ops.list("payments", "").unwrap(), Vec::<String>::new());
    put(inner, &hard, hard_rec.clone());
    put(inner, &lazy, lazy_rec.clone());
    for (k, rec) in [("pay_1", &hard_rec), ("pay_2", &lazy_rec)] {
        let e = ops.read("payments", "", k).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotFound, "{label}: {k}");
        assert_eq!(
            read_error(&e),
            Some(&ReadError::Removed {
                primary_namespace: "payments".into(),
                secondary_namespace: "".into(),
                key: k.into(),
                found: version_of(rec),
            }),
            "{label}"
        );
    }
}

/// Runs `attack` over a new encrypted store on a table of its own, for each mode and through
/// each trait.
fn over_postgres(test: &str, attack: fn(&dyn Ops, &Pg, &str)) {
    let Some(url) = pg_env(test).map(|env| env.primary) else {
        return;
    };
    for (mode, opts) in modes() {
        for how in ["sync", "async"] {
            let (inner, _) = fresh(&url, "adversary");
            let store = opts
                .clone()
                .create::<V, _>(
                    inner.clone(),
                    Credential::passphrase_with(PASSPHRASE, cheap()),
                )
                .unwrap();
            let label = format!("{mode} {how}");
            match how {
                "sync" => attack(&SyncOps(&store), &inner, &label),
                _ => attack(&AsyncOps::new(&store), &inner, &label),
            }
        }
    }
}

#[test]
fn tampered_moved_and_swapped_rows_are_refused() {
    over_postgres(
        "tampered_moved_and_swapped_rows_are_refused",
        tampered_records_are_refused::<Pg>,
    );
}

#[test]
fn replayed_deleted_and_resurrected_rows_are_refused() {
    over_postgres(
        "replayed_deleted_and_resurrected_rows_are_refused",
        rollback_deletion_and_resurrection_are_refused::<Pg>,
    );
}

/// The same attacks by SQL, beside the store's own connection (its advisory lock keeps a
/// second store from writing, not a database user): an `UPDATE` of the value to an older
/// record is a rollback, a `DELETE` is a deletion, a row copied over another is refused.
#[test]
fn attacks_by_sql_beside_the_open_store_are_refused() {
    let Some(url) =
        pg_env("attacks_by_sql_beside_the_open_store_are_refused").map(|env| env.primary)
    else {
        return;
    };
    let (inner, table) = fresh(&url, "sql_attack");
    let store = EncryptedStore::create::<V>(
        inner.clone(),
        Credential::passphrase_with(PASSPHRASE, cheap()),
    )
    .unwrap();
    let sql = Sql::connect(&url);
    let (p, s, k) = TARGET;
    store.write(p, s, k, b"state 1".to_vec()).unwrap();
    let where_target =
        format!("primary_namespace = '{p}' AND secondary_namespace = '{s}' AND key = '{k}'");
    let old: Vec<u8> =
        sql.query(&format!("SELECT value FROM {table} WHERE {where_target}"))[0].get(0);
    store.write(p, s, k, b"state 2".to_vec()).unwrap();
    let hex: String = old.iter().map(|b| format!("{b:02x}")).collect();
    sql.batch(&format!(
        "UPDATE {table} SET value = '\\x{hex}'::bytea WHERE {where_target}"
    ));
    let e = store.read(p, s, k).unwrap_err();
    assert!(
        matches!(read_error(&e), Some(ReadError::Rollback { .. })),
        "{e:?}"
    );
    // A row copied onto another key.
    store.write(p, s, "other_0", b"other".to_vec()).unwrap();
    sql.batch(&format!(
        "UPDATE {table} SET value = '\\x{hex}'::bytea WHERE primary_namespace = '{p}' \
         AND key = 'other_0'"
    ));
    assert_auth_failed(store.read(p, s, "other_0"), p, s, "other_0");
    // A deleted row.
    sql.batch(&format!("DELETE FROM {table} WHERE {where_target}"));
    let e = store.read(p, s, k).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidData);
    assert!(
        matches!(read_error(&e), Some(ReadError::Missing { .. })),
        "{e:?}"
    );
}
