//! The encrypted store over a real PostgreSQL (`EncryptedStore<PostgresStore>`): LDK's store
//! contract, an adversary with write access to the table, the freshness anchor across restarts,
//! what the table holds (only ciphertext), a read-only instance on a streaming standby, a
//! failover to a standby that lags, a dropped table, LDK's own store tests with real nodes, and
//! (LDK 0.3) paginated listing.
//! Compiled once per enabled LDK version (`ldk_0_2::*`, `ldk_0_3::*`).
//!
//! The servers: `eval "$(scripts/pg-test-cluster start DIR PORT)"` sets `EKV_PG_PRIMARY` and
//! `EKV_PG_STANDBY`; without them every test here says why it is skipped and passes, unless
//! `EKV_PG_REQUIRED=1`, where it fails. Each test uses tables of its own; the failover test
//! starts a private primary/standby pair through the same script.

// One suite, compiled once per LDK version, on purpose.
#![allow(clippy::duplicate_mod)]

#[path = "../../tests/common/mod.rs"]
mod common;
#[path = "postgres/server.rs"]
mod server;

#[cfg(feature = "lightning-0-2")]
#[path = "postgres"]
mod ldk_0_2 {
    use crate::common::v0_2 as v;
    mod adversary;
    mod anchor;
    #[allow(dead_code)] // the node tests use part of it
    #[path = "../../../tests/ldk_nodes/compat_0_2.rs"]
    mod compat;
    mod conformance;
    #[path = "../../../tests/conformance/contract.rs"]
    mod contract;
    mod nodes;
    mod pg;
    mod replica;
    mod rows;
}

#[cfg(feature = "lightning-0-3")]
#[path = "postgres"]
mod ldk_0_3 {
    use crate::common::v0_3 as v;
    mod adversary;
    mod anchor;
    #[allow(dead_code)] // the node tests use part of it
    #[path = "../ldk_nodes/compat_0_3.rs"]
    mod compat;
    mod conformance;
    #[path = "../../../tests/conformance/contract.rs"]
    mod contract;
    mod nodes;
    mod pagination;
    mod pg;
    mod replica;
    mod rows;
}
