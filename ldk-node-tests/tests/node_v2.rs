//! ldk-node 0.7 on an `EncryptedStore<SqliteStore>` created with
//! `OpenOptions::new().encrypt_names().pad_values()`: the node builds on it, hands out
//! addresses, restarts from it with the same identity and wallet, and ldk-node's SQLite table,
//! read directly, shows neither a namespace or key nor a value's exact size.
//!
//! ldk-node takes a store that is both `KVStoreSync` and `KVStore` (`DynStore`); `SqliteStore`
//! is exactly that (not `MigratableKVStore`), and so is the wrapper over it, whatever the
//! format. Without `list_all_keys`, the test enumerates the store through `list` over the
//! namespaces ldk-node uses, and checks that this accounts for every row of the table.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::*;
use encrypted_kvstore::{
    padme, Credential, EncryptedStore, OpenOptions, RECORD_OVERHEAD,
    RESERVED_PRIMARY_NAMESPACE as RESERVED,
};
use ldk_node::io::sqlite_store::SqliteStore;
use ldk_node::lightning::util::persist::KVStoreSync;

/// A new store with both options over ldk-node's SQLite file in `dir`.
fn create_v2(dir: &Path) -> EncryptedStore<SqliteStore> {
    let store = OpenOptions::new()
        .encrypt_names()
        .pad_values()
        .create(
            sqlite(dir),
            Credential::passphrase_with(PASSPHRASE, test_kdf()),
        )
        .unwrap();
    let info = EncryptedStore::inspect(&sqlite(dir)).unwrap();
    assert_eq!(info.format_version, encrypted_kvstore::FORMAT_VERSION);
    assert!(info.names_encrypted);
    store
}

/// The primary namespaces ldk-node 0.7 (and the LDK parts it runs) write under, with the top
/// level (`""`): every key of the store is in one of them with an empty secondary namespace
/// (a node that never had a channel writes no monitor updates).
const PRIMARIES: [&str; 8] = [
    "",
    "bdk_wallet",
    "payments",
    "monitors",
    "archived_monitors",
    "spendable_outputs",
    "static_invoices",
    "forwarded_payments",
];

/// Every value of the store, by plaintext name, through `list` and `read` only.
fn values(store: &EncryptedStore<SqliteStore>) -> BTreeMap<(String, String), Vec<u8>> {
    let mut out = BTreeMap::new();
    for p in PRIMARIES {
        for k in KVStoreSync::list(store, p, "").unwrap() {
            let v = KVStoreSync::read(store, p, "", &k).unwrap();
            out.insert((p.to_owned(), k), v);
        }
    }
    out
}

#[test]
fn a_node_on_a_v2_store_with_encrypted_names_and_padding_restarts_and_hides_names_and_sizes() {
    let reference = reference_addresses(3);
    let dir = tempfile::tempdir().unwrap();

    let node = build_on(dir.path(), create_v2(dir.path()));
    let node_id = node.node_id();
    let first = node.onchain_payment().new_address().unwrap();
    assert_eq!(first, reference[0]);
    drop(node);

    // Restart from the store: `open` needs no option, the header says what the store is.
    let node = build_on(dir.path(), open_encrypted(dir.path(), PASSPHRASE).unwrap());
    assert_eq!(node.node_id(), node_id);
    // A wallet whose state was lost would start over at index 0 and hand out `first` again.
    let second = node.onchain_payment().new_address().unwrap();
    assert_eq!(second, reference[1]);
    drop(node);

    let node = build_on(dir.path(), open_encrypted(dir.path(), PASSPHRASE).unwrap());
    assert_eq!(node.node_id(), node_id);
    assert_eq!(node.onchain_payment().new_address().unwrap(), reference[2]);
    drop(node);

    // The table as a thief of the file sees it, and the store's contents with the passphrase.
    let rows = rows(&db_path(dir.path()));
    let file = std::fs::read(db_path(dir.path())).unwrap();
    let store = OpenOptions::new()
        .read_only()
        .open(sqlite(dir.path()), Credential::passphrase(PASSPHRASE))
        .unwrap();
    let values = values(&store);
    for key in [
        "descriptor",
        "change_descriptor",
        "network",
        "local_chain",
        "indexer",
    ] {
        assert!(
            values.contains_key(&("bdk_wallet".to_owned(), key.to_owned())),
            "bdk_wallet/{key} missing: {:?}",
            values.keys()
        );
    }
    assert!(values.contains_key(&(String::new(), "node_metrics".to_owned())));

    let data: Vec<_> = rows.iter().filter(|r| r.0 != RESERVED).collect();
    // Every row is a value the store lists, and every value is one row, of its padded size
    // (as multisets: the stored names do not say which row is which value).
    let mut stored: Vec<usize> = data.iter().map(|r| r.3.len()).collect();
    let mut expected: Vec<usize> = values
        .values()
        .map(|v| RECORD_OVERHEAD + padme(8 + v.len() as u64).unwrap() as usize)
        .collect();
    stored.sort_unstable();
    expected.sort_unstable();
    assert_eq!(stored, expected, "rows against the store's values");

    // No row's size is any value's exact size plus a record's overhead.
    for (p, s, k, v) in &data {
        for ((vp, vk), plain) in &values {
            assert_ne!(
                v.len(),
                plain.len() + RECORD_OVERHEAD,
                "row {p}/{s}/{k} has the exact size of {vp}/{vk} (+{RECORD_OVERHEAD})"
            );
        }
    }

    // No stored name shows a plaintext namespace or key, or the node id.
    let node_hex = node_id.to_string();
    let mut secrets: Vec<String> = [
        "payments",
        "bdk_wallet",
        "monitors",
        "manager",
        "network_graph",
        "scorer",
        "node_metrics",
        "descriptor",
        "local_chain",
        "indexer",
        "network",
    ]
    .map(str::to_owned)
    .to_vec();
    secrets.push(node_hex.clone());
    secrets.extend(values.keys().flat_map(|(p, k)| [p.clone(), k.clone()]));
    for (p, s, k, _) in &data {
        for name in [p, s, k] {
            for secret in secrets.iter().filter(|s| !s.is_empty()) {
                assert!(
                    !name.contains(secret.as_str()),
                    "stored name {name:?} shows {secret:?}"
                );
            }
        }
    }
    assert!(!contains(&file, node_hex.as_bytes()));
    for name in [
        "bdk_wallet",
        "node_metrics",
        "local_chain",
        "change_descriptor",
    ] {
        assert!(!contains(&file, name.as_bytes()), "{name} in the file");
    }

    // And no value is in the file in clear (the wallet descriptor among them).
    for ((p, k), plain) in &values {
        if let Some(at) = leaked_window(&file, plain) {
            panic!("{p}/{k}: plaintext bytes {at}.. found in the database file");
        }
    }
    assert!(!contains(&file, b"wpkh("));
}
