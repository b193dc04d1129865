//! Known-answer test vectors (the cases are `vectors/*.txt`): the suite in
//! `vectors_suite/suite.rs`, compiled once per enabled LDK version (`ldk_0_2::suite::*`,
//! `ldk_0_3::suite::*`) over that version's adapter and crates.

// One suite file, compiled once per LDK version, on purpose.
#![allow(clippy::duplicate_mod)]

mod common;

// The LDK 0.2 run is the root package's, the LDK 0.3 run integration/'s (whose build script
// sets `ekv_integration`; only it has LDK 0.3's test utilities): see integration/Cargo.toml.
#[cfg(all(feature = "lightning-0-2", not(ekv_integration)))]
#[path = "vectors_suite"]
mod ldk_0_2 {
    use crate::common::v0_2 as v;
    mod suite;
}

#[cfg(all(feature = "lightning-0-3", ekv_integration))]
#[path = "vectors_suite"]
mod ldk_0_3 {
    use crate::common::v0_3 as v;
    mod suite;
}
