//! ldk-node 0.7 on `EncryptedStore<PostgresStore>`, names encrypted and values padded, with its
//! freshness anchor on local disk (a `StoreAnchor` over a `FilesystemStore` directory, as the
//! README sets it up): the node builds on a table, the table as a `SELECT` shows it holds no
//! plaintext name or value, and the node restarts from it with the same identity and wallet.
//! After a failover to a streaming standby that had replayed everything, the node rebuilds on
//! the promoted standby with the same node id; after a failover to a standby that lagged, the
//! anchor refuses the older state before a node is built on it.
//!
//! Needs a server: `eval "$(scripts/pg-test-cluster start DIR PORT)"` (see
//! `encrypted_kvstore_postgres::test_support`); without one each test says it is skipped and
//! passes (with `EKV_PG_REQUIRED=1` it fails instead). The failover tests start a primary and
//! standby of their own.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use common::*;
use encrypted_kvstore::{
    Credential, EncryptedStore, OpenError, OpenOptions, StoreAnchor,
    RESERVED_PRIMARY_NAMESPACE as RESERVED,
};
use encrypted_kvstore_postgres::test_support::{pg_env, runtime, unique_table, PrivateCluster};
use encrypted_kvstore_postgres::{PostgresOptions, PostgresStore};
use ldk_node::lightning::util::persist::KVStoreSync;
use ldk_node::lightning::util::persist::MigratableKVStore;
use ldk_node::Node;
use lightning_persister::fs_store::FilesystemStore;
use tokio::runtime::Runtime;

/// The anchor: a `FilesystemStore` directory on the node's own disk.
fn anchor(dir: &Path) -> StoreAnchor<FilesystemStore, encrypted_kvstore::ldk::V0_2> {
    StoreAnchor::new(FilesystemStore::new(dir.to_path_buf()))
}

fn pg(rt: &Runtime, url: &str, table: &str) -> PostgresStore {
    PostgresOptions::new()
        .table(table)
        .connect(url, rt.handle().clone())
        .unwrap()
}

/// A new store on `table`: format 2, names encrypted, values padded, anchored in `anchor_dir`.
fn create(
    rt: &Runtime,
    url: &str,
    table: &str,
    anchor_dir: &Path,
) -> EncryptedStore<PostgresStore> {
    OpenOptions::new()
        .encrypt_names()
        .pad_values()
        .anchor(anchor(anchor_dir))
        .create(
            pg(rt, url, table),
            Credential::passphrase_with(PASSPHRASE, test_kdf()),
        )
        .unwrap()
}

fn open(
    rt: &Runtime,
    url: &str,
    table: &str,
    anchor_dir: &Path,
) -> Result<EncryptedStore<PostgresStore>, OpenError> {
    OpenOptions::new()
        .anchor(anchor(anchor_dir))
        .open(pg(rt, url, table), Credential::passphrase(PASSPHRASE))
}

/// A node whose storage directory (logs and the like) is `dir` and whose data is in `store`.
fn node_on(dir: &Path, store: EncryptedStore<PostgresStore>) -> Node {
    builder(dir).build_with_store(Arc::new(store)).unwrap()
}

/// Every row of `table` as `SELECT` returns it, through a plain client connection:
/// (primary namespace, secondary namespace, key, value).
fn select_all(rt: &Runtime, url: &str, table: &str) -> Vec<(String, String, String, Vec<u8>)> {
    rt.block_on(async {
        let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(connection);
        client
            .query(
                &format!(
                    "SELECT primary_namespace, secondary_namespace, key, value FROM \"{table}\""
                ),
                &[],
            )
            .await
            .unwrap()
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
            .collect()
    })
}

#[test]
fn a_node_on_postgres_stores_only_ciphertext_and_restarts_with_its_identity_and_wallet() {
    let Some(env) = pg_env("a_node_on_postgres_stores_only_ciphertext") else {
        return;
    };
    let reference = reference_addresses(3);
    let rt = runtime();
    let table = unique_table("node_pg");
    let (dir, anchor_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());

    let started = std::time::Instant::now();
    let node = node_on(
        dir.path(),
        create(&rt, &env.primary, &table, anchor_dir.path()),
    );
    eprintln!(
        "node built on a new PostgreSQL store in {:?}",
        started.elapsed()
    );
    let node_id = node.node_id();
    assert_eq!(node.onchain_payment().new_address().unwrap(), reference[0]);
    drop(node);

    // Restart from the table (and the anchor): same node, the wallet goes on.
    let started = std::time::Instant::now();
    let node = node_on(
        dir.path(),
        open(&rt, &env.primary, &table, anchor_dir.path()).unwrap(),
    );
    eprintln!("node rebuilt from PostgreSQL in {:?}", started.elapsed());
    assert_eq!(node.node_id(), node_id);
    assert_eq!(node.onchain_payment().new_address().unwrap(), reference[1]);
    drop(node);

    // What the store holds, with the passphrase (read-only: nothing is written)...
    let reader = PostgresOptions::new()
        .table(&table)
        .read_only()
        .connect(&env.primary, rt.handle().clone())
        .unwrap();
    let store = OpenOptions::new()
        .read_only()
        .anchor(anchor(anchor_dir.path()))
        .open(reader, Credential::passphrase(PASSPHRASE))
        .unwrap();
    let values: BTreeMap<(String, String, String), Vec<u8>> = store
        .list_all_keys()
        .unwrap()
        .into_iter()
        .map(|(p, s, k)| {
            let v = KVStoreSync::read(&store, &p, &s, &k).unwrap();
            ((p, s, k), v)
        })
        .collect();
    for key in ["descriptor", "change_descriptor", "network", "local_chain"] {
        let k = ("bdk_wallet".to_owned(), String::new(), key.to_owned());
        assert!(values.contains_key(&k), "bdk_wallet/{key} missing");
    }
    drop(store);

    // ... and what a SELECT on the table shows: one row per value plus the header, no name
    // and no value in clear.
    let rows = select_all(&rt, &env.primary, &table);
    let data: Vec<_> = rows.iter().filter(|r| r.0 != RESERVED).collect();
    assert_eq!(data.len(), values.len());
    let mut secrets: Vec<String> = [
        "bdk_wallet",
        "descriptor",
        "local_chain",
        "indexer",
        "network",
        "node_metrics",
        "payments",
        "manager",
        "network_graph",
        "scorer",
    ]
    .map(str::to_owned)
    .to_vec();
    secrets.push(node_id.to_string());
    secrets.extend(
        values
            .keys()
            .flat_map(|(p, s, k)| [p.clone(), s.clone(), k.clone()])
            .filter(|n| !n.is_empty()),
    );
    for (p, s, k, v) in &data {
        for name in [p, s, k] {
            for secret in &secrets {
                assert!(
                    !name.contains(secret.as_str()),
                    "stored name {name:?} shows {secret:?}"
                );
            }
        }
        for secret in &secrets {
            assert!(!contains(v, secret.as_bytes()), "a value shows {secret:?}");
        }
        for ((vp, vs, vk), plain) in &values {
            if let Some(at) = leaked_window(v, plain) {
                panic!("{vp}/{vs}/{vk}: plaintext bytes {at}.. in a stored value");
            }
        }
        assert!(!contains(v, b"wpkh("));
    }

    // Once more, from the table: the index the restarted node wrote survived too.
    let node = node_on(
        dir.path(),
        open(&rt, &env.primary, &table, anchor_dir.path()).unwrap(),
    );
    assert_eq!(node.node_id(), node_id);
    assert_eq!(node.onchain_payment().new_address().unwrap(), reference[2]);
}

#[test]
fn after_a_failover_to_a_caught_up_standby_the_node_rebuilds_there_with_its_identity() {
    let Some(cluster) = PrivateCluster::start("after_a_failover_to_a_caught_up_standby") else {
        return;
    };
    let reference = reference_addresses(2);
    let rt = runtime();
    let table = unique_table("node_failover");
    let (dir, anchor_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());

    let node = node_on(
        dir.path(),
        create(&rt, &cluster.primary, &table, anchor_dir.path()),
    );
    let node_id = node.node_id();
    assert_eq!(node.onchain_payment().new_address().unwrap(), reference[0]);
    drop(node);

    // The standby replays everything, the primary crashes, the standby is promoted.
    let started = std::time::Instant::now();
    cluster.wait_standby();
    cluster.kill_primary();
    cluster.promote();
    eprintln!("failover (wait, kill, promote) in {:?}", started.elapsed());

    // The node rebuilds on the promoted standby, with the same anchor: no false alarm, the
    // same node, and the wallet goes on from where it was.
    let node = node_on(
        dir.path(),
        open(&rt, &cluster.standby, &table, anchor_dir.path()).unwrap(),
    );
    assert_eq!(node.node_id(), node_id);
    assert_eq!(node.onchain_payment().new_address().unwrap(), reference[1]);
}

#[test]
fn after_a_failover_to_a_lagging_standby_the_anchor_refuses_the_older_state() {
    let Some(cluster) = PrivateCluster::start("after_a_failover_to_a_lagging_standby") else {
        return;
    };
    let rt = runtime();
    let table = unique_table("node_lagging");
    let (dir, anchor_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());

    let node = node_on(
        dir.path(),
        create(&rt, &cluster.primary, &table, anchor_dir.path()),
    );
    node.onchain_payment().new_address().unwrap();
    drop(node);
    // The standby has everything so far, then stops following the primary.
    cluster.wait_standby();
    cluster.cut_standby();

    // The node runs once more on the primary; the standby misses it.
    let node = node_on(
        dir.path(),
        open(&rt, &cluster.primary, &table, anchor_dir.path()).unwrap(),
    );
    node.onchain_payment().new_address().unwrap();
    drop(node);

    // The primary is lost; the lagging standby is promoted in its place.
    cluster.kill_primary();
    cluster.start_standby();
    cluster.promote();
    match open(&rt, &cluster.standby, &table, anchor_dir.path()) {
        Err(OpenError::HeaderRolledBack {
            header_seq,
            anchor_header_seq,
        }) => assert!(header_seq < anchor_header_seq),
        Err(e) => panic!("expected HeaderRolledBack, got {e:?}"),
        Ok(_) => panic!("the lagging standby's older state was accepted"),
    }
}
