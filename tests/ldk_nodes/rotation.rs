//! Data-key rotation on a real LDK node's store (names and padding): while
//! the channel is open and paying, a new key is rotated in, every record is re-encrypted under
//! it and the old key retired; LDK keeps persisting and loading its monitors through the same
//! store, and a restart loads them from records all under the new key.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use super::compat::channel_config;
use super::mode::{self, Store};
use super::v::{ldk, V};
use ldk::ln::functional_test_utils::{
    create_announced_chan_between_nodes, create_chanmon_cfgs, create_network,
    create_node_cfgs_with_persisters, create_node_chanmgrs, send_payment,
};
use ldk::util::persist::read_channel_monitors;

/// Monitor updates per payment in these channels (as in the suite).
const UPDATES_PER_PAYMENT: u64 = 5;

fn key_ids_on_disk(dir: &std::path::Path) -> Vec<u32> {
    let mut ids: Vec<u32> = mode::monitor_files(dir)
        .iter()
        .chain(mode::update_files(dir).iter())
        .map(|f| {
            let rec = std::fs::read(f).unwrap();
            assert_eq!(rec[0], 2, "a record of the store's format");
            u32::from_le_bytes(rec[1..5].try_into().unwrap())
        })
        .collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

#[test]
fn rotate_reencrypt_and_retire_under_a_paying_node() {
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
    send_payment(&nodes[0], &[&nodes[1]], 8_000_000);
    assert_eq!(key_ids_on_disk(dirs[0].path()), [0]);

    let store = &stores[0];
    assert_eq!(store.rotate_data_key::<V>().unwrap(), 1);
    // The node keeps paying: its monitor is written under the new key, read under either.
    send_payment(&nodes[1], &[&nodes[0]], 4_000_000);
    let loaded = read_channel_monitors(store, keys, keys).unwrap();
    assert_eq!(loaded[0].1.get_latest_update_id(), 2 * UPDATES_PER_PAYMENT);

    let done = store.reencrypt::<V>(|_| {}).unwrap();
    assert_eq!(done.done, done.total);
    assert_eq!(key_ids_on_disk(dirs[0].path()), [1]);
    store.retire_old_keys::<V>().unwrap();
    assert_eq!(store.info().key_ids, [1]);

    send_payment(&nodes[0], &[&nodes[1]], 2_000_000);
    let loaded = read_channel_monitors(store, keys, keys).unwrap();
    assert_eq!(loaded[0].1.get_latest_update_id(), 3 * UPDATES_PER_PAYMENT);
    let live = nodes[0]
        .chain_monitor
        .chain_monitor
        .get_monitor(loaded[0].1.channel_id())
        .unwrap();
    assert_eq!(
        loaded[0].1.get_latest_update_id(),
        live.get_latest_update_id()
    );

    // A restart: a fresh instance over the directory loads the same monitor, every record
    // under the one key left.
    let restarted = mode::reopen_to_check(dirs[0].path());
    assert_eq!(restarted.info().key_ids, [1]);
    let reloaded = read_channel_monitors(&restarted, keys, keys).unwrap();
    assert_eq!(
        reloaded[0].1.get_latest_update_id(),
        3 * UPDATES_PER_PAYMENT
    );
    assert_eq!(key_ids_on_disk(dirs[0].path()), [1]);
}
