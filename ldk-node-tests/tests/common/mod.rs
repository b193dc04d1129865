//! Shared fixtures: a node builder that never reaches the network, the stores ldk-node is built
//! on, and raw views of the SQLite file.
#![allow(dead_code)] // each test binary uses a part of this module

use std::path::{Path, PathBuf};
use std::sync::Arc;

use encrypted_kvstore::{Credential, EncryptedStore, KdfParams, OpenError, OpenOptions};
use ldk_node::bitcoin::{Address, Network};
use ldk_node::io::sqlite_store::{SqliteStore, KV_TABLE_NAME, SQLITE_DB_FILE_NAME};
use ldk_node::{Builder, Node};

pub const PASSPHRASE: &[u8] = b"correct horse battery staple";

/// The fixed wallet seed every node in these tests uses.
pub const SEED: [u8; 64] = [0x5a; 64];

/// Cheap Argon2id costs: these tests are about ldk-node, not the KDF.
pub fn test_kdf() -> KdfParams {
    KdfParams::insecure_for_tests_only(64, 1, 1).unwrap()
}

/// A builder with a fixed seed, on regtest, whose chain source is a port on loopback where
/// nothing listens. The node is built, never started, so no request is ever made.
pub fn builder(dir: &Path) -> Builder {
    let mut b = Builder::new();
    b.set_network(Network::Regtest)
        .set_storage_dir_path(dir.to_str().unwrap().to_owned())
        .set_entropy_seed_bytes(SEED)
        .set_chain_source_esplora("http://127.0.0.1:9/".to_owned(), None);
    b
}

/// ldk-node's own SQLite store, with the file and table names `Builder::build` uses.
pub fn sqlite(dir: &Path) -> SqliteStore {
    SqliteStore::new(
        dir.to_path_buf(),
        Some(SQLITE_DB_FILE_NAME.to_owned()),
        Some(KV_TABLE_NAME.to_owned()),
    )
    .unwrap()
}

pub fn db_path(dir: &Path) -> PathBuf {
    dir.join(SQLITE_DB_FILE_NAME)
}

/// A new store with the default options (names in clear, values unpadded) over ldk-node's
/// SQLite file in `dir` (the tests of the options make their own).
pub fn create_encrypted(dir: &Path) -> EncryptedStore<SqliteStore> {
    OpenOptions::new()
        .create(
            sqlite(dir),
            Credential::passphrase_with(PASSPHRASE, test_kdf()),
        )
        .unwrap()
}

pub fn open_encrypted(
    dir: &Path,
    passphrase: &[u8],
) -> Result<EncryptedStore<SqliteStore>, OpenError> {
    EncryptedStore::open(sqlite(dir), Credential::passphrase(passphrase))
}

/// Builds a node on an encrypted store (the integration the README shows).
pub fn build_on(dir: &Path, store: EncryptedStore<SqliteStore>) -> Node {
    builder(dir).build_with_store(Arc::new(store)).unwrap()
}

/// The first `n` receive addresses this seed derives, from a node on a fresh plaintext
/// `SqliteStore` elsewhere: what an encrypted node must hand out, in this order.
pub fn reference_addresses(n: usize) -> Vec<Address> {
    let dir = tempfile::tempdir().unwrap();
    let node = builder(dir.path())
        .build_with_store(Arc::new(sqlite(dir.path())))
        .unwrap();
    (0..n)
        .map(|_| node.onchain_payment().new_address().unwrap())
        .collect()
}

/// Every row of ldk-node's table, read with rusqlite: (primary, secondary, key, value).
pub fn rows(db: &Path) -> Vec<(String, String, String, Vec<u8>)> {
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap();
    let mut stmt = conn
        .prepare(&format!(
            "SELECT primary_namespace, secondary_namespace, key, value FROM {KV_TABLE_NAME} \
             ORDER BY primary_namespace, secondary_namespace, key"
        ))
        .unwrap();
    let rows = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    rows
}

/// The table's schema as SQLite keeps it, and the database's `user_version`.
pub fn schema(db: &Path) -> (Vec<String>, u32) {
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap();
    let mut stmt = conn
        .prepare("SELECT type || ' ' || name || ': ' || ifnull(sql, '') FROM sqlite_master ORDER BY type, name")
        .unwrap();
    let objects = stmt
        .query_map([], |r| r.get::<_, String>(0))
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let version = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    (objects, version)
}

/// Whether `needle` occurs anywhere in `haystack`.
pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

/// The first distinctive 24-byte window of `value` found in `file`, if any. A window is
/// distinctive when it holds at least 12 different byte values: runs of zeros or small
/// integers occur in any SQLite page, a 24-byte stretch of varied bytes does not by chance.
pub fn leaked_window(file: &[u8], value: &[u8]) -> Option<usize> {
    const W: usize = 24;
    if value.len() < W {
        return None;
    }
    (0..=value.len() - W).find(|&i| {
        let w = &value[i..i + W];
        let mut seen = [false; 256];
        w.iter().for_each(|&b| seen[b as usize] = true);
        seen.iter().filter(|&&s| s).count() >= 12 && contains(file, w)
    })
}
