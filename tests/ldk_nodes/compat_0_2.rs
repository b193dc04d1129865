//! The functional-test helpers whose signatures changed in 0.3: this file for LDK 0.2,
//! its twin `integration/tests/ldk_nodes/compat_0_3.rs` for the other version.

use lightning::bitcoin::secp256k1::PublicKey;
use lightning::events::ClosureReason;
use lightning::ln::functional_test_utils::TestChannelManager;
use lightning::ln::functional_test_utils::{
    _reload_node, check_closed_event, test_default_channel_config, Node,
};
use lightning::util::config::UserConfig;
use lightning::{check_added_monitors, check_closed_broadcast};

/// The LDK version, for the sizes a run prints.
pub const LDK: &str = "0.2.7";
/// Whether `MonitorUpdatingPersister` finds updates by listing them: this version reads updates by id until `NotFound`.
pub const LISTS_MONITOR_UPDATES: bool = false;
/// The channel configuration of the test nodes.
pub fn channel_config() -> UserConfig {
    test_default_channel_config()
}
pub fn closed_event(node: &Node, reason: ClosureReason, peers: &[PublicKey], cap: u64) {
    check_closed_event(node, 1, reason, false, peers, cap);
}
pub fn closed_broadcast(node: &Node) {
    check_closed_broadcast!(node, true);
}
pub fn added_monitors(node: &Node, count: usize) {
    check_added_monitors!(node, count);
}
pub fn reload_node<'a, 'b, 'c>(
    node: &'a Node<'a, 'b, 'c>,
    config: UserConfig,
    manager: &[u8],
    monitors: &[&[u8]],
) -> TestChannelManager<'b, 'c> {
    _reload_node(node, config, manager, monitors)
}
