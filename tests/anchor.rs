//! The freshness anchor (docs/FORMAT.md, "The freshness anchor"): opening checks, accepting the
//! current state, detaching, a read-only instance beside the writer, and a failing anchor. The
//! suite in `anchor/suite.rs`, compiled once per enabled LDK version.

// One suite file, compiled once per LDK version, on purpose.
#![allow(clippy::duplicate_mod)]

mod common;

// The LDK 0.2 run is the root package's, the LDK 0.3 run integration/'s (whose build script
// sets `ekv_integration`; only it has LDK 0.3's test utilities): see integration/Cargo.toml.
#[cfg(all(feature = "lightning-0-2", not(ekv_integration)))]
#[path = "anchor"]
mod ldk_0_2 {
    use crate::common::v0_2 as v;
    mod suite;
}

#[cfg(all(feature = "lightning-0-3", ekv_integration))]
#[path = "anchor"]
mod ldk_0_3 {
    use crate::common::v0_3 as v;
    mod suite;
}
