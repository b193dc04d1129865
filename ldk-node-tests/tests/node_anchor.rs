//! ldk-node 0.7 on an anchored `EncryptedStore<SqliteStore>`: the freshness
//! anchor is a `StoreAnchor` over a second `SqliteStore` in another directory (where a node
//! whose data is in a synced or cloud folder would keep it: on the device). The node restarts
//! from it with no false alarm; a copy of its database file from before the last restart, put
//! back while the node is down, is refused at the next start (`HeaderRolledBack`). Without an
//! anchor the same kind of restored file opens, and the node hands out an address it already
//! gave away: its wallet state went back.

mod common;

use std::path::Path;
use std::sync::Arc;

use common::*;
use encrypted_kvstore::{Credential, EncryptedStore, OpenError, OpenOptions, StoreAnchor};
use ldk_node::io::sqlite_store::SqliteStore;

fn anchor(dir: &Path) -> StoreAnchor<SqliteStore, encrypted_kvstore::ldk::V0_2> {
    StoreAnchor::new(
        SqliteStore::new(dir.to_path_buf(), Some("anchor.sqlite".into()), None).unwrap(),
    )
}

fn open_anchored(data: &Path, a: &Path) -> Result<EncryptedStore<SqliteStore>, OpenError> {
    OpenOptions::new()
        .anchor(anchor(a))
        .open(sqlite(data), Credential::passphrase(PASSPHRASE))
}

#[test]
fn an_anchored_node_restarts_and_a_restored_older_database_is_refused() {
    let reference = reference_addresses(3);
    let (data, a) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());

    let store = OpenOptions::new()
        .anchor(anchor(a.path()))
        .create(
            sqlite(data.path()),
            Credential::passphrase_with(PASSPHRASE, test_kdf()),
        )
        .unwrap();
    assert!(store.info().anchored);
    let node = build_on(data.path(), store);
    let node_id = node.node_id();
    assert_eq!(node.onchain_payment().new_address().unwrap(), reference[0]);
    drop(node);
    // The attacker's (or an old backup's) copy of the database file, taken now.
    let backup = std::fs::read(db_path(data.path())).unwrap();

    // A restart with the anchor: no false alarm, the wallet goes on.
    let node = builder(data.path())
        .build_with_store(Arc::new(open_anchored(data.path(), a.path()).unwrap()))
        .unwrap();
    assert_eq!(node.node_id(), node_id);
    assert_eq!(node.onchain_payment().new_address().unwrap(), reference[1]);
    drop(node);
    let current = std::fs::read(db_path(data.path())).unwrap();

    // The older file is put back while the node is down: refused before the node is built.
    std::fs::write(db_path(data.path()), &backup).unwrap();
    match open_anchored(data.path(), a.path()) {
        Err(OpenError::HeaderRolledBack {
            header_seq,
            anchor_header_seq,
        }) => assert!(header_seq < anchor_header_seq),
        Err(e) => panic!("expected HeaderRolledBack, got {e:?}"),
        Ok(_) => panic!("a restored older database was accepted"),
    }
    // Without its anchor the anchored store does not open at all.
    assert!(matches!(
        open_encrypted(data.path(), PASSPHRASE),
        Err(OpenError::AnchorRequired)
    ));

    // The current file back: the anchored node starts again, nothing lost.
    std::fs::write(db_path(data.path()), &current).unwrap();
    let node = builder(data.path())
        .build_with_store(Arc::new(open_anchored(data.path(), a.path()).unwrap()))
        .unwrap();
    assert_eq!(node.onchain_payment().new_address().unwrap(), reference[2]);
}

/// The contrast: without an anchor, the same restored copy opens, and the node's wallet goes
/// back: it hands out an address it already gave away.
#[test]
fn without_an_anchor_a_restored_older_database_is_accepted() {
    let reference = reference_addresses(2);
    let data = tempfile::tempdir().unwrap();
    let store = OpenOptions::new()
        .create(
            sqlite(data.path()),
            Credential::passphrase_with(PASSPHRASE, test_kdf()),
        )
        .unwrap();
    let node = build_on(data.path(), store);
    assert_eq!(node.onchain_payment().new_address().unwrap(), reference[0]);
    drop(node);
    let backup = std::fs::read(db_path(data.path())).unwrap();
    let node = build_on(
        data.path(),
        open_encrypted(data.path(), PASSPHRASE).unwrap(),
    );
    assert_eq!(node.onchain_payment().new_address().unwrap(), reference[1]);
    drop(node);
    std::fs::write(db_path(data.path()), &backup).unwrap();
    let node = build_on(
        data.path(),
        open_encrypted(data.path(), PASSPHRASE).unwrap(),
    );
    assert_eq!(
        node.onchain_payment().new_address().unwrap(),
        reference[1],
        "the rolled-back wallet hands out an address it already gave away"
    );
}
