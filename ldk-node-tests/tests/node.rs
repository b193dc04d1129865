//! ldk-node 0.7 on `EncryptedStore<SqliteStore>`: a node built on the encrypted store persists
//! its wallet and state through it, comes back with the passphrase, and leaves no plaintext of
//! what it wrote in the SQLite file.

mod common;

use std::fs;
use std::path::Path;

use common::*;
use encrypted_kvstore::{OpenError, RECORD_OVERHEAD, RESERVED_PRIMARY_NAMESPACE as RESERVED};
use ldk_node::lightning::util::persist::KVStoreSync;

/// Every byte of the SQLite database, including a journal or WAL file if one was left.
fn database_bytes(dir: &Path) -> Vec<u8> {
    let mut all = Vec::new();
    for entry in fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        if entry
            .file_name()
            .to_string_lossy()
            .starts_with("ldk_node_data.sqlite")
        {
            all.extend(fs::read(entry.path()).unwrap());
        }
    }
    assert!(!all.is_empty(), "no database file in {}", dir.display());
    all
}

#[test]
fn node_id_and_wallet_index_survive_a_reopen() {
    let reference = reference_addresses(3);
    let dir = tempfile::tempdir().unwrap();

    let node = build_on(dir.path(), create_encrypted(dir.path()));
    let node_id = node.node_id();
    let first = node.onchain_payment().new_address().unwrap();
    assert_eq!(first, reference[0]);
    drop(node);

    let node = build_on(dir.path(), open_encrypted(dir.path(), PASSPHRASE).unwrap());
    assert_eq!(node.node_id(), node_id);
    // A wallet whose state was lost would start over at index 0 and hand out `first` again.
    let second = node.onchain_payment().new_address().unwrap();
    assert_ne!(second, first);
    assert_eq!(second, reference[1]);
    drop(node);

    // And once more: the index written by the reopened node survives too.
    let node = build_on(dir.path(), open_encrypted(dir.path(), PASSPHRASE).unwrap());
    assert_eq!(node.onchain_payment().new_address().unwrap(), reference[2]);
}

#[test]
fn the_sqlite_file_holds_no_plaintext_of_what_ldk_node_wrote() {
    let dir = tempfile::tempdir().unwrap();
    let node = build_on(dir.path(), create_encrypted(dir.path()));
    node.onchain_payment().new_address().unwrap();
    node.onchain_payment().new_address().unwrap();
    drop(node);

    let file = database_bytes(dir.path());
    let rows = rows(&db_path(dir.path()));
    let store = open_encrypted(dir.path(), PASSPHRASE).unwrap();

    let names: Vec<(&str, &str, &str)> = rows
        .iter()
        .filter(|r| r.0 != RESERVED)
        .map(|r| (r.0.as_str(), r.1.as_str(), r.2.as_str()))
        .collect();
    // Names are in clear without `encrypt_names` (so this test can find them): ldk-node wrote its wallet
    // (the transaction graph stays empty, and unwritten, without a chain sync) and its metrics.
    assert!(names.contains(&("", "", "node_metrics")), "{names:?}");
    for key in [
        "descriptor",
        "change_descriptor",
        "network",
        "local_chain",
        "indexer",
    ] {
        assert!(
            names.contains(&("bdk_wallet", "", key)),
            "bdk_wallet/{key} missing: {names:?}"
        );
    }

    let mut descriptor = None;
    for (p, s, k, stored) in rows.iter().filter(|r| r.0 != RESERVED) {
        let plain = store.read(p, s, k).unwrap();
        assert_eq!(
            stored.len(),
            plain.len() + RECORD_OVERHEAD,
            "{p}/{s}/{k}: not an unpadded record"
        );
        // (A value of a few bytes can occur in any random record by chance.)
        if plain.len() >= 16 {
            assert!(!contains(stored, &plain), "{p}/{s}/{k}: stored in clear");
        }
        if let Some(at) = leaked_window(&file, &plain) {
            panic!("{p}/{s}/{k}: plaintext bytes {at}.. found in the database file");
        }
        if (p.as_str(), k.as_str()) == ("bdk_wallet", "descriptor") {
            descriptor = Some(plain);
        }
    }

    // The wallet descriptor (a public descriptor string inside ldk-node's serialization) is in
    // the decrypted value, and neither it nor its script type appears in the file.
    let descriptor = descriptor.unwrap();
    let start = descriptor.windows(5).position(|w| w == b"wpkh(").unwrap();
    let text = &descriptor[start..];
    assert!(
        text.len() > 60,
        "descriptor string too short: {}",
        String::from_utf8_lossy(text)
    );
    assert!(!contains(&file, text));
    assert!(!contains(&file, b"wpkh("));
}

/// The control for the test above: the same node on a plaintext `SqliteStore` leaves its
/// descriptor and values in the file, where the checks find them.
#[test]
fn control_a_plaintext_store_shows_what_the_checks_look_for() {
    let dir = tempfile::tempdir().unwrap();
    let node = builder(dir.path())
        .build_with_store(std::sync::Arc::new(sqlite(dir.path())))
        .unwrap();
    node.onchain_payment().new_address().unwrap();
    drop(node);

    let file = database_bytes(dir.path());
    assert!(contains(&file, b"wpkh("));
    let rows = rows(&db_path(dir.path()));
    let descriptor = &rows
        .iter()
        .find(|r| (r.0.as_str(), r.2.as_str()) == ("bdk_wallet", "descriptor"))
        .unwrap()
        .3;
    assert!(leaked_window(&file, descriptor).is_some());
}

#[test]
fn a_wrong_passphrase_is_refused_before_ldk_node_gets_a_store() {
    let dir = tempfile::tempdir().unwrap();
    let node = build_on(dir.path(), create_encrypted(dir.path()));
    node.onchain_payment().new_address().unwrap();
    drop(node);
    let before = fs::read(db_path(dir.path())).unwrap();

    // `open` returns no store at all, so there is nothing to hand to `build_with_store`.
    match open_encrypted(dir.path(), b"correct horse battery stapler") {
        Err(OpenError::WrongPassphrase) => {}
        other => panic!("expected WrongPassphrase, got {:?}", other.map(|_| ())),
    }
    // Refusing wrote nothing.
    assert_eq!(fs::read(db_path(dir.path())).unwrap(), before);

    // A database ldk-node wrote without encryption is not mistaken for an encrypted one.
    let plain = tempfile::tempdir().unwrap();
    drop(
        builder(plain.path())
            .build_with_store(std::sync::Arc::new(sqlite(plain.path())))
            .unwrap(),
    );
    match open_encrypted(plain.path(), PASSPHRASE) {
        Err(OpenError::NotInitialized) => {}
        other => panic!("expected NotInitialized, got {:?}", other.map(|_| ())),
    }
}
