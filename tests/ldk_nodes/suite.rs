//! Real LDK nodes (lightning's functional test harness) persisting through
//! `EncryptedStore<FilesystemStore>`: a channel is opened, paid over both ways and force-closed.
//! After every step the store is reopened from disk with the passphrase (a fresh
//! `EncryptedStore` over a fresh `FilesystemStore`) and the monitors loaded from it must match
//! the node's. The `ChannelManager` and `NetworkGraph` are persisted and reloaded through the
//! store, and a node is restarted from it and keeps making payments. The same channel life is
//! then run through LDK's `MonitorUpdatingPersister` over the encrypted store.
//!
//! Compiled once per store layout: `super::mode` creates and opens the stores and checks what
//! is on disk (names in clear: each record at its plaintext path; encrypted names and padding:
//! the whole tree, whose names show nothing and whose sizes are Padmé buckets).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::Path;

use super::compat::{added_monitors, channel_config, closed_broadcast, closed_event, reload_node};
use super::mode::{self, Store};
use super::v::ldk;
use ldk::events::{ClosureReason, Event};
use ldk::ln::functional_test_utils::{
    connect_block, create_announced_chan_between_nodes, create_chanmon_cfgs, create_dummy_block,
    create_network, create_node_cfgs, create_node_cfgs_with_persisters, create_node_chanmgrs,
    reconnect_nodes, send_payment, Node, ReconnectArgs,
};
use ldk::ln::msgs::BaseMessageHandler;
use ldk::routing::gossip::NetworkGraph;
use ldk::routing::scoring::{ProbabilisticScorer, ProbabilisticScoringDecayParameters};
use ldk::util::persist::{
    read_channel_monitors, KVStoreSync, MonitorUpdatingPersister, CHANNEL_MANAGER_PERSISTENCE_KEY,
    CHANNEL_MANAGER_PERSISTENCE_PRIMARY_NAMESPACE, CHANNEL_MANAGER_PERSISTENCE_SECONDARY_NAMESPACE,
    CHANNEL_MONITOR_PERSISTENCE_PRIMARY_NAMESPACE, CHANNEL_MONITOR_PERSISTENCE_SECONDARY_NAMESPACE,
    CHANNEL_MONITOR_UPDATE_PERSISTENCE_PRIMARY_NAMESPACE, NETWORK_GRAPH_PERSISTENCE_KEY,
    NETWORK_GRAPH_PERSISTENCE_PRIMARY_NAMESPACE, NETWORK_GRAPH_PERSISTENCE_SECONDARY_NAMESPACE,
    SCORER_PERSISTENCE_KEY, SCORER_PERSISTENCE_PRIMARY_NAMESPACE,
    SCORER_PERSISTENCE_SECONDARY_NAMESPACE,
};
use ldk::util::ser::{ReadableArgs, Writeable};
use ldk::util::test_utils::TestChainMonitor;

/// Monitor update ids LDK's own store tests expect: five per payment, one for the close.
const UPDATES_PER_PAYMENT: u64 = 5;

/// Reopens the store in `dir` from disk and checks the monitors in it against `node`'s.
#[track_caller]
fn check_on_disk(dir: &Path, node: &Node, expected_update_id: u64) {
    let reopened = mode::reopen_to_check(dir);
    let loaded = read_channel_monitors(&reopened, node.keys_manager, node.keys_manager).unwrap();
    let live = node.chain_monitor.chain_monitor.list_monitors();
    assert_eq!(loaded.len(), live.len());
    assert_eq!(loaded.len(), 1);
    for (_, mon) in &loaded {
        let live_mon = node
            .chain_monitor
            .chain_monitor
            .get_monitor(mon.channel_id())
            .unwrap();
        assert_eq!(mon.get_latest_update_id(), live_mon.get_latest_update_id());
        assert_eq!(mon.get_latest_update_id(), expected_update_id);
        assert_eq!(mon.persistence_key(), live_mon.persistence_key());

        // On disk it is a sealed record, not the monitor's bytes.
        let key = mon.persistence_key().to_string();
        let plain = KVStoreSync::read(
            &reopened,
            CHANNEL_MONITOR_PERSISTENCE_PRIMARY_NAMESPACE,
            CHANNEL_MONITOR_PERSISTENCE_SECONDARY_NAMESPACE,
            &key,
        )
        .unwrap();
        mode::check_monitor_record(dir, &reopened, &key, &plain);
        mode::report(
            &format!("channel monitor at update {expected_update_id}"),
            plain.len(),
        );
    }
}

/// Force-closes the only channel from `nodes[0]` and confirms the commitment on `nodes[1]`.
fn force_close_and_confirm(nodes: &[Node]) {
    let node_a_id = nodes[0].node.get_our_node_id();
    let node_b_id = nodes[1].node.get_our_node_id();
    let chan_id = nodes[0].node.list_channels()[0].channel_id;
    let message = "Channel force-closed".to_owned();
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
    let txn = vec![node_txn[0].clone(), node_txn[0].clone()];
    let block = create_dummy_block(nodes[0].best_block_hash(), 42, txn);
    connect_block(&nodes[1], &block);
    closed_broadcast(&nodes[1]);
    let reason = ClosureReason::CommitmentTxConfirmed;
    closed_event(&nodes[1], reason, &[node_a_id], 100000);
    added_monitors(&nodes[1], 1);
}

#[test]
fn nodes_persist_through_encrypted_filesystem_stores_and_restart_from_them() {
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let stores: Vec<Store> = dirs.iter().map(|d| mode::create(d.path())).collect();
    let chanmon_cfgs = create_chanmon_cfgs(2);
    let node_cfgs = create_node_cfgs_with_persisters(2, &chanmon_cfgs, stores.iter().collect());
    // Node 0 after its restart: its store reopened from disk, its chain monitor and manager.
    let restarted_store;
    let restarted_chain_monitor;
    let restarted_manager;
    let node_chanmgrs = create_node_chanmgrs(
        2,
        &node_cfgs,
        &[Some(channel_config()), Some(channel_config())],
    );
    let mut nodes = create_network(2, &node_cfgs, &node_chanmgrs);

    for (i, dir) in dirs.iter().enumerate() {
        let reopened = mode::reopen_to_check(dir.path());
        let mons =
            read_channel_monitors(&reopened, nodes[i].keys_manager, nodes[i].keys_manager).unwrap();
        assert!(mons.is_empty());
    }

    create_announced_chan_between_nodes(&nodes, 0, 1);
    for i in 0..2 {
        check_on_disk(dirs[i].path(), &nodes[i], 0);
    }
    send_payment(&nodes[0], &[&nodes[1]], 8_000_000);
    for i in 0..2 {
        check_on_disk(dirs[i].path(), &nodes[i], UPDATES_PER_PAYMENT);
    }
    send_payment(&nodes[1], &[&nodes[0]], 4_000_000);
    for i in 0..2 {
        check_on_disk(dirs[i].path(), &nodes[i], 2 * UPDATES_PER_PAYMENT);
    }

    // Persist node 0's ChannelManager and NetworkGraph through its encrypted store.
    stores[0]
        .write(
            CHANNEL_MANAGER_PERSISTENCE_PRIMARY_NAMESPACE,
            CHANNEL_MANAGER_PERSISTENCE_SECONDARY_NAMESPACE,
            CHANNEL_MANAGER_PERSISTENCE_KEY,
            nodes[0].node.encode(),
        )
        .unwrap();
    stores[0]
        .write(
            NETWORK_GRAPH_PERSISTENCE_PRIMARY_NAMESPACE,
            NETWORK_GRAPH_PERSISTENCE_SECONDARY_NAMESPACE,
            NETWORK_GRAPH_PERSISTENCE_KEY,
            nodes[0].network_graph.encode(),
        )
        .unwrap();

    mode::report("channel manager", nodes[0].node.encode().len());
    mode::report("network graph", nodes[0].network_graph.encode().len());
    if mode::MEASURES_SIZES {
        // The scorer of the test network (two nodes, one channel; nothing learned: the
        // harness routes with its own test scorer), persisted as the background processor
        // does, for its size.
        let scorer = ProbabilisticScorer::new(
            ProbabilisticScoringDecayParameters::default(),
            nodes[0].network_graph,
            nodes[0].logger,
        );
        stores[0]
            .write(
                SCORER_PERSISTENCE_PRIMARY_NAMESPACE,
                SCORER_PERSISTENCE_SECONDARY_NAMESPACE,
                SCORER_PERSISTENCE_KEY,
                scorer.encode(),
            )
            .unwrap();
        mode::report("scorer (nothing learned)", scorer.encode().len());
    }

    // The network graph, reloaded from disk, is the node's graph.
    let reopened = mode::reopen_to_check(dirs[0].path());
    let graph_bytes = reopened
        .read(
            NETWORK_GRAPH_PERSISTENCE_PRIMARY_NAMESPACE,
            NETWORK_GRAPH_PERSISTENCE_SECONDARY_NAMESPACE,
            NETWORK_GRAPH_PERSISTENCE_KEY,
        )
        .unwrap();
    let graph = NetworkGraph::read(&mut &graph_bytes[..], nodes[0].logger).unwrap();
    assert!(graph == *nodes[0].network_graph);
    assert_eq!(graph.read_only().channels().len(), 1);
    assert_eq!(graph.read_only().nodes().len(), 2);

    // Restart node 0 from its store on disk: the ChannelManager and the monitors are read
    // through a fresh EncryptedStore over a fresh FilesystemStore, which also becomes the
    // restarted node's persister.
    let node_a_id = nodes[0].node.get_our_node_id();
    let node_b_id = nodes[1].node.get_our_node_id();
    let chan_count = nodes[0].node.list_channels().len();
    nodes[1].node.peer_disconnected(node_a_id);
    restarted_store = mode::reopen(dirs[0].path());
    let manager_bytes = restarted_store
        .read(
            CHANNEL_MANAGER_PERSISTENCE_PRIMARY_NAMESPACE,
            CHANNEL_MANAGER_PERSISTENCE_SECONDARY_NAMESPACE,
            CHANNEL_MANAGER_PERSISTENCE_KEY,
        )
        .unwrap();
    let monitor_bytes: Vec<Vec<u8>> = restarted_store
        .list(
            CHANNEL_MONITOR_PERSISTENCE_PRIMARY_NAMESPACE,
            CHANNEL_MONITOR_PERSISTENCE_SECONDARY_NAMESPACE,
        )
        .unwrap()
        .iter()
        .map(|k| {
            restarted_store
                .read(
                    CHANNEL_MONITOR_PERSISTENCE_PRIMARY_NAMESPACE,
                    CHANNEL_MONITOR_PERSISTENCE_SECONDARY_NAMESPACE,
                    k,
                )
                .unwrap()
        })
        .collect();
    assert_eq!(monitor_bytes.len(), 1);
    let monitor_refs: Vec<&[u8]> = monitor_bytes.iter().map(|m| &m[..]).collect();
    restarted_chain_monitor = TestChainMonitor::new(
        Some(nodes[0].chain_source),
        nodes[0].tx_broadcaster,
        nodes[0].logger,
        nodes[0].fee_estimator,
        &restarted_store,
        nodes[0].keys_manager,
    );
    nodes[0].chain_monitor = &restarted_chain_monitor;
    restarted_manager = reload_node(&nodes[0], channel_config(), &manager_bytes, &monitor_refs);
    nodes[0].node = &restarted_manager;
    nodes[0]
        .onion_messenger
        .set_offers_handler(&restarted_manager);
    nodes[0]
        .onion_messenger
        .set_async_payments_handler(&restarted_manager);
    assert_eq!(nodes[0].node.get_our_node_id(), node_a_id);
    assert_eq!(nodes[0].node.list_channels().len(), chan_count);
    assert_eq!(
        nodes[0].node.list_channels()[0].counterparty.node_id,
        node_b_id
    );
    reconnect_nodes(ReconnectArgs::new(&nodes[0], &nodes[1]));
    // LDK replays the claim of the payment node 0 received before the restart (the handling of
    // its event was not yet recorded in the persisted manager) and holds monitor updates of the
    // channel until the event is handled again.
    match &nodes[0].node.get_and_clear_pending_events()[..] {
        [Event::PaymentClaimed { amount_msat, .. }] => assert_eq!(*amount_msat, 4_000_000),
        other => panic!("unexpected events after restart: {other:?}"),
    }
    assert!(nodes[1].node.get_and_clear_pending_events().is_empty());

    // The restarted node keeps paying and persisting through the reopened store.
    send_payment(&nodes[0], &[&nodes[1]], 1_000_000);
    for i in 0..2 {
        check_on_disk(dirs[i].path(), &nodes[i], 3 * UPDATES_PER_PAYMENT);
    }
    force_close_and_confirm(&nodes);
    for i in 0..2 {
        check_on_disk(dirs[i].path(), &nodes[i], 3 * UPDATES_PER_PAYMENT + 1);
    }

    // A monitor file changed on disk makes loading fail loudly (never a silently missing or
    // altered monitor).
    let files = mode::monitor_files(dirs[1].path());
    assert_eq!(files.len(), 1);
    let file = &files[0];
    let mut bytes = std::fs::read(file).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 1;
    std::fs::write(file, bytes).unwrap();
    let reopened = mode::reopen_to_check(dirs[1].path());
    let Err(err) = read_channel_monitors(&reopened, nodes[1].keys_manager, nodes[1].keys_manager)
    else {
        panic!("a tampered monitor loaded");
    };
    assert_eq!(err.kind(), ldk::io::ErrorKind::InvalidData);
}

/// LDK's `MonitorUpdatingPersister` (full monitors plus a log of updates) over the encrypted
/// store: after every step, a fresh persister over the store reopened from disk reads the
/// monitors with their updates applied, at the node's update id, and holds the expected number
/// of update records.
#[test]
fn monitor_updating_persister_over_encrypted_filesystem_store() {
    let max_pending = [3u64, 1];
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let stores: Vec<Store> = dirs.iter().map(|d| mode::create(d.path())).collect();
    let chanmon_cfgs = create_chanmon_cfgs(2);
    let persisters: Vec<_> = (0..2)
        .map(|i| {
            MonitorUpdatingPersister::new(
                &stores[i],
                &chanmon_cfgs[i].logger,
                max_pending[i],
                &chanmon_cfgs[i].keys_manager,
                &chanmon_cfgs[i].keys_manager,
                &chanmon_cfgs[i].tx_broadcaster,
                &chanmon_cfgs[i].fee_estimator,
            )
        })
        .collect();
    let mut node_cfgs = create_node_cfgs(2, &chanmon_cfgs);
    for (i, cfg) in node_cfgs.iter_mut().enumerate() {
        cfg.chain_monitor = TestChainMonitor::new(
            Some(&chanmon_cfgs[i].chain_source),
            &chanmon_cfgs[i].tx_broadcaster,
            &chanmon_cfgs[i].logger,
            &chanmon_cfgs[i].fee_estimator,
            &persisters[i],
            &chanmon_cfgs[i].keys_manager,
        );
    }
    let node_chanmgrs = create_node_chanmgrs(
        2,
        &node_cfgs,
        &[Some(channel_config()), Some(channel_config())],
    );
    let nodes = create_network(2, &node_cfgs, &node_chanmgrs);

    let check = |expected: u64| {
        for i in 0..2 {
            let reopened = mode::reopen_to_check(dirs[i].path());
            let fresh = MonitorUpdatingPersister::new(
                &reopened,
                &chanmon_cfgs[i].logger,
                max_pending[i],
                &chanmon_cfgs[i].keys_manager,
                &chanmon_cfgs[i].keys_manager,
                &chanmon_cfgs[i].tx_broadcaster,
                &chanmon_cfgs[i].fee_estimator,
            );
            let loaded = fresh.read_all_channel_monitors_with_updates().unwrap();
            assert_eq!(loaded.len(), 1, "node {i}");
            let (_, mon) = &loaded[0];
            let live = nodes[i]
                .chain_monitor
                .chain_monitor
                .get_monitor(mon.channel_id())
                .unwrap();
            assert_eq!(
                mon.get_latest_update_id(),
                live.get_latest_update_id(),
                "node {i}"
            );
            assert_eq!(mon.get_latest_update_id(), expected, "node {i}");
            let updates = reopened
                .list(
                    CHANNEL_MONITOR_UPDATE_PERSISTENCE_PRIMARY_NAMESPACE,
                    &mon.persistence_key().to_string(),
                )
                .unwrap();
            assert_eq!(updates.len() as u64, expected % max_pending[i], "node {i}");
            for update in &updates {
                let value = reopened
                    .read(
                        CHANNEL_MONITOR_UPDATE_PERSISTENCE_PRIMARY_NAMESPACE,
                        &mon.persistence_key().to_string(),
                        update,
                    )
                    .unwrap();
                mode::report(&format!("monitor update {update}"), value.len());
            }
            mode::check_tree_of_monitor(
                dirs[i].path(),
                &reopened,
                &mon.persistence_key().to_string(),
            );
        }
    };

    create_announced_chan_between_nodes(&nodes, 0, 1);
    check(0);
    send_payment(&nodes[0], &[&nodes[1]], 8_000_000);
    check(UPDATES_PER_PAYMENT);
    send_payment(&nodes[1], &[&nodes[0]], 4_000_000);
    check(2 * UPDATES_PER_PAYMENT);
    for n in 3..=6u64 {
        let (from, to) = if n % 2 == 1 { (0, 1) } else { (1, 0) };
        send_payment(&nodes[from], &[&nodes[to]], 21_000);
        check(n * UPDATES_PER_PAYMENT);
    }
    force_close_and_confirm(&nodes);
    check(6 * UPDATES_PER_PAYMENT + 1);

    // A tampered update record must not read as "no more updates" (NotFound), which would
    // load a stale monitor without a word: loading fails with InvalidData.
    let updates = mode::update_files(dirs[0].path());
    assert!(!updates.is_empty());
    let update = &updates[0];
    let mut bytes = std::fs::read(update).unwrap();
    bytes[0] ^= 1;
    std::fs::write(update, bytes).unwrap();
    let reopened = mode::reopen_to_check(dirs[0].path());
    let fresh = MonitorUpdatingPersister::new(
        &reopened,
        &chanmon_cfgs[0].logger,
        max_pending[0],
        &chanmon_cfgs[0].keys_manager,
        &chanmon_cfgs[0].keys_manager,
        &chanmon_cfgs[0].tx_broadcaster,
        &chanmon_cfgs[0].fee_estimator,
    );
    let Err(err) = fresh.read_all_channel_monitors_with_updates() else {
        panic!("a tampered monitor update loaded");
    };
    assert_eq!(err.kind(), ldk::io::ErrorKind::InvalidData);
}
