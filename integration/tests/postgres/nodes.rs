//! LDK's own store tests (lightning-persister's `do_read_write_remove_list_persist` and
//! `do_test_store`, whose helpers are crate-private, written here against
//! `lightning::ln::functional_test_utils`) over `EncryptedStore<PostgresStore>`: the basic
//! operations at LDK's name limits, and two nodes that open a channel, pay each other and
//! force-close it (pre-anchor channels under 0.3, as LDK 0.3's own test), with their monitors persisted in PostgreSQL at every step and loaded back
//! both through the node's store and through a read-only instance over a second connection.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::panic::{catch_unwind, AssertUnwindSafe};

use super::anchor::{anchor, reopen_anchored};
use super::compat::{added_monitors, channel_config, closed_broadcast, closed_event};
use super::pg::{connect, connect_read_only, fresh, Pg};
use super::v::{ldk, V};
use crate::common::{cheap, read_error, PASSPHRASE};
use crate::server::{pg_env, table, PrivateCluster};
use encrypted_kvstore::{Credential, EncryptedStore, OpenOptions, ReadError};
use ldk::events::ClosureReason;
use ldk::ln::functional_test_utils::{
    connect_block, create_announced_chan_between_nodes, create_chanmon_cfgs, create_dummy_block,
    create_network, create_node_cfgs, create_node_chanmgrs, send_payment, TestChanMonCfg,
};
use ldk::util::persist::{
    read_channel_monitors, KVStoreSync, CHANNEL_MONITOR_PERSISTENCE_PRIMARY_NAMESPACE,
    KVSTORE_NAMESPACE_KEY_MAX_LEN,
};
use ldk::util::test_utils::TestChainMonitor;

/// `op` is refused (an error, or a panic as LDK's reference store's debug assertion gives)
/// and, from the encrypted store, refused with `InvalidInput`.
#[track_caller]
fn refused<T: std::fmt::Debug>(op: impl FnOnce() -> ldk::io::Result<T>) {
    match catch_unwind(AssertUnwindSafe(op)) {
        Ok(Err(e)) => assert_eq!(e.kind(), ldk::io::ErrorKind::InvalidInput, "{e:?}"),
        Ok(Ok(v)) => panic!("accepted: {v:?}"),
        Err(_) => panic!("panicked instead of an error"),
    }
}

/// lightning-persister's `do_read_write_remove_list_persist`, with "refused" for what it
/// checks with `catch_unwind` (its reference store panics in debug builds; ours returns the
/// typed error).
fn read_write_remove_list_persist<K: KVStoreSync>(kv_store: &K) {
    let data = vec![42u8; 32];
    let (primary_namespace, secondary_namespace, key) = ("testspace", "testsubspace", "testkey");
    kv_store
        .write(primary_namespace, secondary_namespace, key, data.clone())
        .unwrap();
    kv_store.write("", "", key, data.clone()).unwrap();
    refused(|| kv_store.write("", secondary_namespace, key, data.clone()));
    refused(|| kv_store.write(primary_namespace, secondary_namespace, "", data.clone()));

    let listed = kv_store
        .list(primary_namespace, secondary_namespace)
        .unwrap();
    assert_eq!(listed, [key]);
    assert_eq!(
        kv_store
            .read(primary_namespace, secondary_namespace, key)
            .unwrap(),
        data
    );
    kv_store
        .remove(primary_namespace, secondary_namespace, key, false)
        .unwrap();
    assert!(kv_store
        .list(primary_namespace, secondary_namespace)
        .unwrap()
        .is_empty());

    let max_chars = "A".repeat(KVSTORE_NAMESPACE_KEY_MAX_LEN);
    kv_store
        .write(&max_chars, &max_chars, &max_chars, data.clone())
        .unwrap();
    assert_eq!(
        kv_store.list(&max_chars, &max_chars).unwrap(),
        [max_chars.as_str()]
    );
    assert_eq!(
        kv_store.read(&max_chars, &max_chars, &max_chars).unwrap(),
        data
    );
    kv_store
        .remove(&max_chars, &max_chars, &max_chars, false)
        .unwrap();
    assert!(kv_store.list(&max_chars, &max_chars).unwrap().is_empty());
}

#[test]
fn read_write_remove_list_persist_over_encrypted_postgres() {
    let Some(url) =
        pg_env("read_write_remove_list_persist_over_encrypted_postgres").map(|env| env.primary)
    else {
        return;
    };
    let (inner, _) = fresh(&url, "persist");
    let store =
        EncryptedStore::create::<V>(inner, Credential::passphrase_with(PASSPHRASE, cheap()))
            .unwrap();
    read_write_remove_list_persist(&store);
}

/// lightning-persister's `do_test_store`: two nodes on encrypted PostgreSQL stores (names
/// encrypted, values padded, each anchored in a local directory) open a channel, pay both ways
/// and force-close; after each step each node's monitor is loaded from its store at the
/// expected update id, and again from a read-only instance over a connection of its own (what
/// is in the database, not in a cache). Then both nodes restart: each store, opened again over
/// a new connection with its anchor, loads the monitor at its last update, with no alarm.
#[test]
fn two_nodes_persist_their_monitors_in_encrypted_postgres() {
    let Some(url) =
        pg_env("two_nodes_persist_their_monitors_in_encrypted_postgres").map(|env| env.primary)
    else {
        return;
    };
    let tables = [table("nodes"), table("nodes")];
    let anchors = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let chanmon_cfgs = create_chanmon_cfgs(2);
    channel_life(&url, &tables, &anchors, &chanmon_cfgs, || {});
    for i in 0..2 {
        let store = reopen_anchored(&url, &tables[i], anchors[i].path()).unwrap();
        let keys = &chanmon_cfgs[i].keys_manager;
        let loaded = read_channel_monitors(&store, keys, keys).unwrap();
        assert_eq!(loaded.len(), 1, "node {i} after its restart");
        assert_eq!(
            loaded[0].1.get_latest_update_id(),
            11,
            "node {i} after its restart"
        );
    }
}

/// The channel's life of `do_test_store`, on the stores of `tables` at `url` anchored in
/// `anchors`; `after_open` runs once the channel is open and its monitors persisted.
#[allow(clippy::ptr_arg)] // LDK's `create_node_cfgs` takes a `&Vec`
fn channel_life(
    url: &str,
    tables: &[String; 2],
    anchors: &[tempfile::TempDir; 2],
    chanmon_cfgs: &Vec<TestChanMonCfg>,
    after_open: impl FnOnce(),
) {
    let stores: Vec<EncryptedStore<Pg>> = (0..2)
        .map(|i| {
            OpenOptions::new()
                .encrypt_names()
                .pad_values()
                .anchor(anchor(anchors[i].path()))
                .create::<V, _>(
                    connect(url, &tables[i]),
                    Credential::passphrase_with(PASSPHRASE, cheap()),
                )
                .unwrap()
        })
        .collect();
    let (store_0, store_1) = (&stores[0], &stores[1]);
    let mut node_cfgs = create_node_cfgs(2, chanmon_cfgs);
    let chain_mon_0 = TestChainMonitor::new(
        Some(&chanmon_cfgs[0].chain_source),
        &chanmon_cfgs[0].tx_broadcaster,
        &chanmon_cfgs[0].logger,
        &chanmon_cfgs[0].fee_estimator,
        store_0,
        node_cfgs[0].keys_manager,
    );
    let chain_mon_1 = TestChainMonitor::new(
        Some(&chanmon_cfgs[1].chain_source),
        &chanmon_cfgs[1].tx_broadcaster,
        &chanmon_cfgs[1].logger,
        &chanmon_cfgs[1].fee_estimator,
        store_1,
        node_cfgs[1].keys_manager,
    );
    node_cfgs[0].chain_monitor = chain_mon_0;
    node_cfgs[1].chain_monitor = chain_mon_1;
    let node_chanmgrs = create_node_chanmgrs(
        2,
        &node_cfgs,
        &[Some(channel_config()), Some(channel_config())],
    );
    let nodes = create_network(2, &node_cfgs, &node_chanmgrs);
    let node_b_id = nodes[1].node.get_our_node_id();

    let check = |expected: Option<u64>| {
        for i in 0..2 {
            let keys = nodes[i].keys_manager;
            let reader = OpenOptions::new()
                .read_only()
                .anchor(anchor(anchors[i].path()))
                .open::<V, _>(
                    connect_read_only(url, &tables[i]),
                    Credential::passphrase(PASSPHRASE),
                )
                .unwrap();
            for (how, loaded) in [
                (
                    "node's store",
                    read_channel_monitors(&stores[i], keys, keys).unwrap(),
                ),
                (
                    "second connection",
                    read_channel_monitors(&reader, keys, keys).unwrap(),
                ),
            ] {
                match expected {
                    None => assert!(loaded.is_empty(), "node {i}, {how}"),
                    Some(id) => {
                        assert_eq!(loaded.len(), 1, "node {i}, {how}");
                        assert_eq!(loaded[0].1.get_latest_update_id(), id, "node {i}, {how}");
                    }
                }
            }
        }
    };

    check(None);
    let _ = create_announced_chan_between_nodes(&nodes, 0, 1);
    check(Some(0));
    after_open();
    send_payment(&nodes[0], &[&nodes[1]], 8_000_000);
    check(Some(5));
    send_payment(&nodes[1], &[&nodes[0]], 4_000_000);
    check(Some(10));

    // Force close: a cooperative close persists no update.
    let message = "Channel force-closed".to_owned();
    let chan_id = nodes[0].node.list_channels()[0].channel_id;
    nodes[0]
        .node
        .force_close_broadcasting_latest_txn(&chan_id, &node_b_id, message.clone())
        .unwrap();
    let reason = ClosureReason::HolderForceClosed {
        broadcasted_latest_txn: Some(true),
        message,
    };
    closed_event(&nodes[0], reason, &[node_b_id], 100000);
    closed_broadcast(&nodes[0]);
    added_monitors(&nodes[0], 1);
    let node_txn = nodes[0].tx_broadcaster.txn_broadcast();
    assert_eq!(node_txn.len(), 1);
    connect_block(
        &nodes[1],
        &create_dummy_block(
            nodes[0].best_block_hash(),
            42,
            vec![node_txn[0].clone(), node_txn[0].clone()],
        ),
    );
    closed_broadcast(&nodes[1]);
    let node_a_id = nodes[0].node.get_our_node_id();
    closed_event(
        &nodes[1],
        ClosureReason::CommitmentTxConfirmed,
        &[node_a_id],
        100000,
    );
    added_monitors(&nodes[1], 1);
    check(Some(11));
}

/// Real nodes over a primary whose standby is cut off once the channel is open (monitors at
/// update 0 there); the channel's life goes on on the primary (to update 11), the primary dies
/// and the lagging standby is promoted. Restarted there with their anchors, both nodes' LDK
/// monitor loading fails with `InvalidData` (`Rollback`, naming the monitor): no node starts on
/// the stale monitor.
#[test]
fn ldk_refuses_a_stale_monitor_after_a_failover_to_a_lagging_standby() {
    let test = "ldk_refuses_a_stale_monitor_after_a_failover_to_a_lagging_standby";
    let Some(cluster) = PrivateCluster::start(test) else {
        return;
    };
    let tables = [table("fo_node"), table("fo_node")];
    let anchors = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let chanmon_cfgs = create_chanmon_cfgs(2);
    channel_life(&cluster.primary, &tables, &anchors, &chanmon_cfgs, || {
        cluster.wait_standby();
        cluster.cut_standby();
    });
    cluster.kill_primary();
    cluster.start_standby();
    cluster.promote();
    for i in 0..2 {
        // The header has not changed since the cut (no reservation was needed): the store
        // opens, and the refusal comes at the monitor.
        let store = reopen_anchored(&cluster.standby, &tables[i], anchors[i].path()).unwrap();
        let keys = &chanmon_cfgs[i].keys_manager;
        let Err(e) = read_channel_monitors(&store, keys, keys) else {
            panic!("node {i}: the stale monitor loaded");
        };
        assert_eq!(e.kind(), ldk::io::ErrorKind::InvalidData, "node {i}: {e:?}");
        match read_error(&e) {
            Some(ReadError::Rollback {
                primary_namespace,
                found,
                expected_at_least,
                ..
            }) => {
                assert_eq!(
                    primary_namespace,
                    CHANNEL_MONITOR_PERSISTENCE_PRIMARY_NAMESPACE
                );
                assert!(
                    found < expected_at_least,
                    "node {i}: {found} < {expected_at_least}"
                );
            }
            other => panic!("node {i}: {other:?}"),
        }
    }
}
