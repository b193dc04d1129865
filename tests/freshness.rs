//! Freshness as an attacker tests it (docs/FORMAT.md, "Freshness", "The freshness anchor",
//! "Data-key rotation", "Changing the passphrase or key"): each module shows one property of
//! the design with tests that fail when it breaks, over LDK's `FilesystemStore` anchored in a
//! second `FilesystemStore`, compiled once per enabled LDK version.
//!
//! - `restarts`: anchored, across restarts, no older record, deleted live value or removed
//!   value is ever served;
//! - `whole_store`: a whole older copy of the store is refused, and after an explicit accept
//!   no record of the abandoned timeline is served;
//! - `junk`: junk values and failing lists or reads do not switch protection off;
//! - `forged_anchor`: forged or moved anchor values are refused at open;
//! - `failing_anchor`: an anchor that cannot be written stops writes before they reach the
//!   inner store, and raises no alarm once it works again;
//! - `honest`: no false alarm in honest use (a process killed at any step, lazy removes
//!   applied late, a read-only instance beside the writer);
//! - `in_session`: without an anchor, within one open store;
//! - `rotation`: re-encryption and retirement lose no write, `rekey`;
//! - `bounded`: the anchor holds the live keys and nothing else;
//! - `model`: random honest histories with attacks, against a model.

// One suite, compiled once per LDK version, on purpose.
#![allow(clippy::duplicate_mod)]

mod common;

// The LDK 0.2 run is the root package's, the LDK 0.3 run integration/'s (whose build script
// sets `ekv_integration`; only it has LDK 0.3's test utilities): see integration/Cargo.toml.
#[cfg(all(feature = "lightning-0-2", not(ekv_integration)))]
#[path = "freshness"]
mod ldk_0_2 {
    use crate::common::v0_2 as v;
    mod bounded;
    mod failing_anchor;
    mod forged_anchor;
    mod honest;
    mod in_session;
    mod junk;
    mod model;
    mod restarts;
    mod rotation;
    mod support;
    mod whole_store;
}

#[cfg(all(feature = "lightning-0-3", ekv_integration))]
#[path = "freshness"]
mod ldk_0_3 {
    use crate::common::v0_3 as v;
    mod bounded;
    mod failing_anchor;
    mod forged_anchor;
    mod honest;
    mod in_session;
    mod junk;
    mod model;
    mod restarts;
    mod rotation;
    mod support;
    mod whole_store;
}
