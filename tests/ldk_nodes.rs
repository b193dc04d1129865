//! Real LDK nodes persisting through EncryptedStore: the suite in `ldk_nodes/suite.rs`, compiled
//! once per enabled LDK version (`ldk_0_2::suite::*`, `ldk_0_3::suite::*`) over that version's
//! adapter and crates, over stores with names in clear and values unpadded, and again over
//! stores with encrypted names and padded values (`ldk_0_2::hidden::suite::*`, ...), whose
//! watermarks `ldk_nodes/freshness.rs` puts to work on a node's monitors
//! (`ldk_0_2::hidden::freshness::*`, ...).

// One suite file, compiled once per LDK version, on purpose.
#![allow(clippy::duplicate_mod)]

mod common;

#[cfg(feature = "lightning-0-2")]
#[path = "ldk_nodes"]
mod ldk_0_2 {
    use crate::common::v0_2 as v;
    /// Stores with the default options: names in clear, values unpadded.
    #[path = "mode_plain.rs"]
    mod mode;
    mod suite;

    /// The same suite over stores with encrypted names and padded values, and the freshness
    /// checks on a real node's monitors.
    #[path = "."]
    mod hidden {
        use super::{compat, v};
        mod freshness;
        #[path = "mode_hidden.rs"]
        mod mode;
        mod rotation;
        mod suite;
    }

    /// The functional-test helpers whose signatures changed in 0.3.
    mod compat {
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
    }
}

#[cfg(feature = "lightning-0-3")]
#[path = "ldk_nodes"]
mod ldk_0_3 {
    use crate::common::v0_3 as v;
    /// Stores with the default options: names in clear, values unpadded.
    #[path = "mode_plain.rs"]
    mod mode;
    mod suite;

    /// The same suite over stores with encrypted names and padded values, and the freshness
    /// checks on a real node's monitors.
    #[path = "."]
    mod hidden {
        use super::{compat, v};
        mod freshness;
        #[path = "mode_hidden.rs"]
        mod mode;
        mod rotation;
        mod suite;
    }

    /// The functional-test helpers whose signatures changed in 0.3.
    mod compat {
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
    }
}
