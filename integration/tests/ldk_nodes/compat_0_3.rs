//! The functional-test helpers whose signatures changed in 0.3: this file for LDK 0.3,
//! its twin `tests/ldk_nodes/compat_0_2.rs` for the other version.

use lightning_0_3::bitcoin::secp256k1::PublicKey;
use lightning_0_3::events::ClosureReason;
use lightning_0_3::ln::functional_test_utils::{
    _reload_node, check_added_monitors, check_closed_broadcast, check_closed_event,
    test_legacy_channel_config, Node, TestChannelManager,
};
use lightning_0_3::util::config::UserConfig;

/// The LDK version, for the sizes a run prints.
pub const LDK: &str = "0.3.0-rc3";
/// Whether `MonitorUpdatingPersister` finds updates by listing them: this version lists a monitor's updates, then reads them.
pub const LISTS_MONITOR_UPDATES: bool = true;
/// Pre-anchor channels, as LDK 0.3's own store tests use: a force close broadcasts the
/// commitment transaction itself (anchor channels leave that to a bump event).
pub fn channel_config() -> UserConfig {
    test_legacy_channel_config()
}
pub fn closed_event(node: &Node, reason: ClosureReason, peers: &[PublicKey], cap: u64) {
    check_closed_event(node, 1, reason, peers, cap);
}
pub fn closed_broadcast(node: &Node) {
    check_closed_broadcast(node, 1, true);
}
pub fn added_monitors(node: &Node, count: usize) {
    check_added_monitors(node, count);
}
pub fn reload_node<'a, 'b, 'c>(
    node: &'a Node<'a, 'b, 'c>,
    config: UserConfig,
    manager: &[u8],
    monitors: &[&[u8]],
) -> TestChannelManager<'b, 'c> {
    _reload_node(node, config, manager, monitors, None)
}
