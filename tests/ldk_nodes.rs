//! Real LDK nodes persisting through EncryptedStore: the suite in `ldk_nodes/suite.rs`, compiled
//! once per enabled LDK version (`ldk_0_2::suite::*`, `ldk_0_3::suite::*`) over that version's
//! adapter and crates, over stores with names in clear and values unpadded, and again over
//! stores with encrypted names and padded values (`ldk_0_2::hidden::suite::*`, ...), whose
//! watermarks `ldk_nodes/freshness.rs` puts to work on a node's monitors
//! (`ldk_0_2::hidden::freshness::*`, ...), and whose data key `ldk_nodes/rotation.rs` rotates,
//! re-encrypts under and retires while a node runs (`ldk_0_2::hidden::rotation::*`, ...).

// One suite file, compiled once per LDK version, on purpose.
#![allow(clippy::duplicate_mod)]

mod common;

// The LDK 0.2 run is the root package's, the LDK 0.3 run integration/'s (whose build script
// sets `ekv_integration`; only it has LDK 0.3's test utilities): see integration/Cargo.toml.
#[cfg(all(feature = "lightning-0-2", not(ekv_integration)))]
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
    #[path = "compat_0_2.rs"]
    mod compat;
}

#[cfg(all(feature = "lightning-0-3", ekv_integration))]
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
    #[path = "../../integration/tests/ldk_nodes/compat_0_3.rs"]
    mod compat;
}
