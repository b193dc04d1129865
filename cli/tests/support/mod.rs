//! Fixtures shared by the test binaries of the command-line tool.
#![allow(dead_code)] // each test binary uses a part of this module

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Child, Stdio};

use lightning::ln::functional_test_utils::{
    create_announced_chan_between_nodes, create_chanmon_cfgs, create_network, create_node_cfgs,
    create_node_chanmgrs, send_payment,
};
use lightning::util::persist::{read_channel_monitors, KVStoreSync};
use lightning::util::ser::Writeable;
use lightning::util::test_utils::{TestChainMonitor, TestKeysInterface};
use lightning_persister::fs_store::FilesystemStore;

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_encrypted-kvstore");
/// The variable the binary reads a passphrase from.
pub const PASS_ENV: &str = "ENCRYPTED_KVSTORE_PASSPHRASE";
/// The binary's test hook: stop at a named point until a line arrives on stdin.
pub const PAUSE_ENV: &str = "ENCRYPTED_KVSTORE_TEST_PAUSE";

/// Builds a real LDK node data directory in `dir`: two nodes whose chain monitors persist into
/// `FilesystemStore`s, an announced channel, payments both ways, then node 0's channel manager
/// and network graph written where LDK's background processor puts them. Then runs `check`
/// with node 0's keys (to read the monitors back), while the nodes are alive.
pub fn with_ldk_node_data(dir: &Path, check: impl FnOnce(&TestKeysInterface)) {
    let other = tempfile::tempdir().unwrap();
    let store_0 = FilesystemStore::new(dir.to_path_buf());
    let store_1 = FilesystemStore::new(other.path().to_path_buf());
    let chanmon_cfgs = create_chanmon_cfgs(2);
    let mut node_cfgs = create_node_cfgs(2, &chanmon_cfgs);
    let chain_mon_0 = TestChainMonitor::new(
        Some(&chanmon_cfgs[0].chain_source),
        &chanmon_cfgs[0].tx_broadcaster,
        &chanmon_cfgs[0].logger,
        &chanmon_cfgs[0].fee_estimator,
        &store_0,
        node_cfgs[0].keys_manager,
    );
    let chain_mon_1 = TestChainMonitor::new(
        Some(&chanmon_cfgs[1].chain_source),
        &chanmon_cfgs[1].tx_broadcaster,
        &chanmon_cfgs[1].logger,
        &chanmon_cfgs[1].fee_estimator,
        &store_1,
        node_cfgs[1].keys_manager,
    );
    node_cfgs[0].chain_monitor = chain_mon_0;
    node_cfgs[1].chain_monitor = chain_mon_1;
    let node_chanmgrs = create_node_chanmgrs(2, &node_cfgs, &[None, None]);
    let nodes = create_network(2, &node_cfgs, &node_chanmgrs);

    create_announced_chan_between_nodes(&nodes, 0, 1);
    send_payment(&nodes[0], &[&nodes[1]], 8_000_000);
    send_payment(&nodes[1], &[&nodes[0]], 4_000_000);

    KVStoreSync::write(&store_0, "", "", "manager", nodes[0].node.encode()).unwrap();
    KVStoreSync::write(
        &store_0,
        "",
        "",
        "network_graph",
        nodes[0].network_graph.encode(),
    )
    .unwrap();
    let monitors =
        read_channel_monitors(&store_0, nodes[0].keys_manager, nodes[0].keys_manager).unwrap();
    assert_eq!(monitors.len(), 1);
    assert_eq!(monitors[0].1.get_latest_update_id(), 10);

    check(nodes[0].keys_manager);
}

/// Spawns the binary paused at `point` (stdin piped), and returns once it says it got there.
pub fn spawn_paused(args: &[&str], point: &str) -> Child {
    spawn_paused_with_stderr(args, point).0
}

/// [`spawn_paused`], with a thread that collects the rest of the child's stderr (it also keeps
/// the pipe drained, so the child never blocks on it).
pub fn spawn_paused_with_stderr(
    args: &[&str],
    point: &str,
) -> (Child, std::thread::JoinHandle<String>) {
    let mut child = std::process::Command::new(BIN)
        .args(args)
        .env_remove(PASS_ENV)
        .env(PAUSE_ENV, point)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut seen = String::new();
    loop {
        let mut line = String::new();
        assert!(
            err.read_line(&mut line).unwrap() > 0,
            "exited before the pause: {seen}"
        );
        seen.push_str(&line);
        if line.starts_with(&format!("test pause: {point}")) {
            break;
        }
    }
    // Keep draining stderr so the child never blocks on a full pipe.
    let rest = std::thread::spawn(move || {
        let mut s = String::new();
        err.read_to_string(&mut s).unwrap();
        s
    });
    (child, rest)
}

/// Lets a child paused by [`spawn_paused`] go on, and waits for it.
pub fn resume(mut child: Child) -> std::process::Output {
    child.stdin.take().unwrap().write_all(b"\n").unwrap();
    child.wait_with_output().unwrap()
}
