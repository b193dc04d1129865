//! Real LDK nodes persisting through EncryptedStore: the suite in `ldk_nodes/suite.rs`, compiled
//! once per enabled LDK version (`ldk_0_2::suite::*`, `ldk_0_3::suite::*`) over that version's
//! adapter and crates, over format 1 stores, and again over format 2 stores with encrypted names
//! and padded values (`ldk_0_2::v2::suite::*`, ...), whose watermarks `ldk_nodes/freshness.rs`
//! puts to work on a node's monitors (`ldk_0_2::v2::freshness::*`, ...).

// One suite file, compiled once per LDK version, on purpose.
#![allow(clippy::duplicate_mod)]

mod common;

#[cfg(feature = "lightning-0-2")]
#[path = "ldk_nodes"]
mod ldk_0_2 {
    use crate::common::v0_2 as v;
    /// Format version 1 stores, as the suite has always run.
    #[path = "mode_v1.rs"]
    mod mode;
    mod suite;

    /// The same suite over format version 2 stores with encrypted names and padded values, and
    /// the freshness checks on a real node's monitors.
    #[path = "."]
    mod v2 {
        use super::{compat, v};
        mod freshness;
        #[path = "mode_v2.rs"]
        mod mode;
        mod rotation;
        mod suite;
    }

    /// The functional-test helpers whose signatures changed in 0.3.
    #[path = "compat_0_2.rs"]
    mod compat;
}

#[cfg(feature = "lightning-0-3")]
#[path = "ldk_nodes"]
mod ldk_0_3 {
    use crate::common::v0_3 as v;
    /// Format version 1 stores, as the suite has always run.
    #[path = "mode_v1.rs"]
    mod mode;
    mod suite;

    /// The same suite over format version 2 stores with encrypted names and padded values, and
    /// the freshness checks on a real node's monitors.
    #[path = "."]
    mod v2 {
        use super::{compat, v};
        mod freshness;
        #[path = "mode_v2.rs"]
        mod mode;
        mod rotation;
        mod suite;
    }

    /// The functional-test helpers whose signatures changed in 0.3.
    #[path = "compat_0_3.rs"]
    mod compat;
}
