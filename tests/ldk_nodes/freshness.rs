//! The freshness watermarks under real LDK nodes: an older monitor record put back, or the
//! newest monitor update deleted, behind the back of the node's open store makes LDK's own
//! loading fail with `InvalidData` instead of loading a stale monitor.
//!
//! Without a freshness anchor, only within the open store: an instance opened afresh (a
//! restart without an anchor) has no watermarks and loads the stale state. Each test shows
//! that too, so the refusal is seen to come from the watermarks (the record put back is
//! authentic). With an anchor the watermarks outlive the process: an older monitor put back
//! while the node is stopped is refused when it starts again.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use super::compat::{channel_config, LISTS_MONITOR_UPDATES};
use super::mode::{self, Store};
use super::v::{fs, ldk, FilesystemStore, V};
use crate::common::{cheap, read_error, PASSPHRASE};
use encrypted_kvstore::{Credential, ListError, OpenOptions, ReadError, StoreAnchor};
use ldk::ln::functional_test_utils::{
    create_announced_chan_between_nodes, create_chanmon_cfgs, create_network, create_node_cfgs,
    create_node_cfgs_with_persisters, create_node_chanmgrs, send_payment,
};
use ldk::util::persist::{
    read_channel_monitors, MonitorUpdatingPersister, CHANNEL_MONITOR_PERSISTENCE_PRIMARY_NAMESPACE,
    CHANNEL_MONITOR_PERSISTENCE_SECONDARY_NAMESPACE,
    CHANNEL_MONITOR_UPDATE_PERSISTENCE_PRIMARY_NAMESPACE,
};
use ldk::util::test_utils::TestChainMonitor;

/// Monitor updates per payment in these channels (as in the suite).
const UPDATES_PER_PAYMENT: u64 = 5;

#[test]
fn an_older_monitor_put_back_behind_the_open_store_is_refused_as_rollback() {
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let stores: Vec<Store> = dirs.iter().map(|d| mode::create(d.path())).collect();
    let chanmon_cfgs = create_chanmon_cfgs(2);
    let node_cfgs = create_node_cfgs_with_persisters(2, &chanmon_cfgs, stores.iter().collect());
    let node_chanmgrs = create_node_chanmgrs(
        2,
        &node_cfgs,
        &[Some(channel_config()), Some(channel_config())],
    );
    let nodes = create_network(2, &node_cfgs, &node_chanmgrs);
    let keys = nodes[0].keys_manager;

    create_announced_chan_between_nodes(&nodes, 0, 1);
    let files = mode::monitor_files(dirs[0].path());
    assert_eq!(files.len(), 1);
    let file = &files[0];
    let at_open = std::fs::read(file).unwrap();
    let loaded = read_channel_monitors(&stores[0], keys, keys).unwrap();
    assert_eq!(loaded.len(), 1);
    assert_eq!(loaded[0].1.get_latest_update_id(), 0);
    let monitor_key = loaded[0].1.persistence_key().to_string();

    // The payment rewrites the monitor in place (the same stored name).
    send_payment(&nodes[0], &[&nodes[1]], 8_000_000);
    let current = std::fs::read(file).unwrap();
    assert_ne!(current, at_open);
    let loaded = read_channel_monitors(&stores[0], keys, keys).unwrap();
    assert_eq!(loaded[0].1.get_latest_update_id(), UPDATES_PER_PAYMENT);

    // The record of the monitor at the channel open, put back behind the store's back.
    std::fs::write(file, &at_open).unwrap();
    let Err(err) = read_channel_monitors(&stores[0], keys, keys) else {
        panic!("the stale monitor loaded through the open store");
    };
    assert_monitor_rolled_back(&err, &monitor_key);

    // Not detected by design: the old record is authentic, and a fresh instance (what a
    // restart without an anchor opens) loads the monitor as it was at the channel open.
    let fresh = mode::reopen_to_check(dirs[0].path());
    let stale = read_channel_monitors(&fresh, keys, keys).unwrap();
    assert_eq!(stale[0].1.get_latest_update_id(), 0);

    // With the current record back, the open store loads the node's monitor again.
    std::fs::write(file, &current).unwrap();
    let loaded = read_channel_monitors(&stores[0], keys, keys).unwrap();
    assert_eq!(loaded[0].1.get_latest_update_id(), UPDATES_PER_PAYMENT);
}

#[test]
fn the_newest_monitor_update_deleted_behind_the_open_store_is_refused_as_missing() {
    // A full monitor every 3 updates: after one payment (updates 1 to 5) the store holds the
    // monitor at update 3 and the update records 4 and 5.
    let max_pending = 3u64;
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let stores: Vec<Store> = dirs.iter().map(|d| mode::create(d.path())).collect();
    let chanmon_cfgs = create_chanmon_cfgs(2);
    let persisters: Vec<_> = (0..2)
        .map(|i| {
            MonitorUpdatingPersister::new(
                &stores[i],
                &chanmon_cfgs[i].logger,
                max_pending,
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
    // A persister over a given store of node 0, as LDK builds one at start-up.
    let persister = |store| {
        MonitorUpdatingPersister::new(
            store,
            &chanmon_cfgs[0].logger,
            max_pending,
            &chanmon_cfgs[0].keys_manager,
            &chanmon_cfgs[0].keys_manager,
            &chanmon_cfgs[0].tx_broadcaster,
            &chanmon_cfgs[0].fee_estimator,
        )
    };

    create_announced_chan_between_nodes(&nodes, 0, 1);
    send_payment(&nodes[0], &[&nodes[1]], 8_000_000);
    let loaded = persister(&stores[0])
        .read_all_channel_monitors_with_updates()
        .unwrap();
    assert_eq!(loaded.len(), 1);
    assert_eq!(loaded[0].1.get_latest_update_id(), UPDATES_PER_PAYMENT);
    let monitor_key = loaded[0].1.persistence_key().to_string();

    // The newest update record (the last file written) deleted behind the store's back.
    let updates = mode::update_files(dirs[0].path());
    assert_eq!(updates.len(), 2, "{updates:?}");
    let newest = updates
        .iter()
        .max_by_key(|p| std::fs::metadata(p).unwrap().modified().unwrap())
        .unwrap();
    let newest_bytes = std::fs::read(newest).unwrap();
    std::fs::remove_file(newest).unwrap();

    let Err(err) = persister(&stores[0]).read_all_channel_monitors_with_updates() else {
        panic!("a monitor without its newest update loaded through the open store");
    };
    assert_eq!(err.kind(), ldk::io::ErrorKind::InvalidData, "{err}");
    // LDK 0.2 reads the updates by id: the read of the deleted one is `ReadError::Missing`.
    // LDK 0.3 lists them first: the listing is `ListError::Missing`.
    let typed = err.get_ref();
    let listed = match (
        typed.and_then(|e| e.downcast_ref::<ReadError>()),
        typed.and_then(|e| e.downcast_ref::<ListError>()),
    ) {
        (
            Some(ReadError::Missing {
                primary_namespace,
                secondary_namespace,
                key,
                expected_version,
            }),
            None,
        ) => {
            assert_eq!(
                primary_namespace,
                CHANNEL_MONITOR_UPDATE_PERSISTENCE_PRIMARY_NAMESPACE
            );
            assert_eq!(secondary_namespace, &monitor_key);
            assert_eq!(key, &UPDATES_PER_PAYMENT.to_string());
            assert!(*expected_version > 0);
            false
        }
        (
            None,
            Some(ListError::Missing {
                primary_namespace,
                secondary_namespace,
                key,
                ..
            }),
        ) => {
            assert_eq!(
                primary_namespace,
                CHANNEL_MONITOR_UPDATE_PERSISTENCE_PRIMARY_NAMESPACE
            );
            assert_eq!(secondary_namespace, &monitor_key);
            assert_eq!(key, &UPDATES_PER_PAYMENT.to_string());
            true
        }
        other => panic!("expected ReadError or ListError Missing, got {other:?} ({err})"),
    };
    assert_eq!(listed, LISTS_MONITOR_UPDATES);

    // Not detected by design: a fresh instance (a restart without an anchor) loads the monitor
    // one update short, which also shows the deleted record was the newest.
    let fresh = mode::reopen_to_check(dirs[0].path());
    let stale = persister(&fresh)
        .read_all_channel_monitors_with_updates()
        .unwrap();
    assert_eq!(stale[0].1.get_latest_update_id(), UPDATES_PER_PAYMENT - 1);

    // With the record back, the open store loads the node's monitor again.
    std::fs::write(newest, &newest_bytes).unwrap();
    let loaded = persister(&stores[0])
        .read_all_channel_monitors_with_updates()
        .unwrap();
    assert_eq!(loaded[0].1.get_latest_update_id(), UPDATES_PER_PAYMENT);
}

/// A node whose store is anchored (a second `FilesystemStore` holds the watermarks): a copy of
/// its channel monitor's record is taken at the channel open, two payments rewrite the
/// monitor, the node stops, the old record is put back, and the node starts again. LDK's
/// loading of the monitors through the restarted store fails with `InvalidData`
/// (`ReadError::Rollback` naming the monitor) instead of loading the monitor as it was at the
/// channel open. Then the contrast: the same directory with the anchor detached opens without
/// watermarks, and the stale monitor loads.
#[test]
fn an_older_monitor_put_back_while_the_node_is_stopped_is_refused_at_restart_with_an_anchor() {
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let anchor_dir = tempfile::tempdir().unwrap();
    let anchored = || {
        OpenOptions::new().encrypt_names().pad_values().anchor(
            StoreAnchor::<FilesystemStore, V>::new(fs(anchor_dir.path())),
        )
    };
    let stores: Vec<Store> = vec![
        anchored()
            .create::<V, _>(
                fs(dirs[0].path()),
                Credential::passphrase_with(PASSPHRASE, cheap()),
            )
            .unwrap(),
        mode::create(dirs[1].path()),
    ];
    assert!(stores[0].info().anchored);
    let chanmon_cfgs = create_chanmon_cfgs(2);
    let node_cfgs = create_node_cfgs_with_persisters(2, &chanmon_cfgs, stores.iter().collect());
    let node_chanmgrs = create_node_chanmgrs(
        2,
        &node_cfgs,
        &[Some(channel_config()), Some(channel_config())],
    );
    let nodes = create_network(2, &node_cfgs, &node_chanmgrs);
    let keys = nodes[0].keys_manager;

    create_announced_chan_between_nodes(&nodes, 0, 1);
    let files = mode::monitor_files(dirs[0].path());
    assert_eq!(files.len(), 1);
    let file = &files[0];
    let at_open = std::fs::read(file).unwrap();
    let loaded = read_channel_monitors(&stores[0], keys, keys).unwrap();
    assert_eq!(loaded[0].1.get_latest_update_id(), 0);
    let monitor_key = loaded[0].1.persistence_key().to_string();

    send_payment(&nodes[0], &[&nodes[1]], 8_000_000);
    send_payment(&nodes[1], &[&nodes[0]], 4_000_000);
    let current = std::fs::read(file).unwrap();
    assert_ne!(current, at_open);
    assert_eq!(
        read_channel_monitors(&stores[0], keys, keys).unwrap()[0]
            .1
            .get_latest_update_id(),
        2 * UPDATES_PER_PAYMENT
    );

    // The node stops (its store is not used again), the record of the monitor at the channel
    // open is put back, and the node starts: its store opened from disk with the anchor.
    std::fs::write(file, &at_open).unwrap();
    let restarted = anchored()
        .open::<V, _>(fs(dirs[0].path()), Credential::passphrase(PASSPHRASE))
        .unwrap();
    let Err(err) = read_channel_monitors(&restarted, keys, keys) else {
        panic!("the stale monitor loaded after an anchored restart");
    };
    assert_monitor_rolled_back(&err, &monitor_key);
    drop(restarted);

    // With the current record back, the restarted node loads its monitor.
    std::fs::write(file, &current).unwrap();
    let restarted = anchored()
        .open::<V, _>(fs(dirs[0].path()), Credential::passphrase(PASSPHRASE))
        .unwrap();
    let reloaded = read_channel_monitors(&restarted, keys, keys).unwrap();
    assert_eq!(
        reloaded[0].1.get_latest_update_id(),
        2 * UPDATES_PER_PAYMENT
    );

    // The contrast: the anchor detached, the same stale record loads after a restart.
    restarted.detach_anchor::<V>().unwrap();
    drop(restarted);
    std::fs::write(file, &at_open).unwrap();
    let unanchored = mode::reopen(dirs[0].path());
    let stale = read_channel_monitors(&unanchored, keys, keys).unwrap();
    assert_eq!(stale[0].1.get_latest_update_id(), 0);
}

/// `err` is LDK's monitor loading refused with `InvalidData` carrying `ReadError::Rollback` for
/// the monitor `monitor_key`.
#[track_caller]
fn assert_monitor_rolled_back(err: &ldk::io::Error, monitor_key: &str) {
    assert_eq!(err.kind(), ldk::io::ErrorKind::InvalidData, "{err}");
    match read_error(err) {
        Some(ReadError::Rollback {
            primary_namespace,
            secondary_namespace,
            key,
            found,
            expected_at_least,
        }) => {
            assert_eq!(
                primary_namespace,
                CHANNEL_MONITOR_PERSISTENCE_PRIMARY_NAMESPACE
            );
            assert_eq!(
                secondary_namespace,
                CHANNEL_MONITOR_PERSISTENCE_SECONDARY_NAMESPACE
            );
            assert_eq!(key, monitor_key);
            assert!(found < expected_at_least, "{found} >= {expected_at_least}");
        }
        other => panic!("expected ReadError::Rollback, got {other:?} ({err})"),
    }
}
