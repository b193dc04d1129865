//! The LDK versions this crate speaks, one adapter module each (`ldk/v0_2.rs`, `ldk/v0_3.rs`),
//! and the version markers the constructors infer.
//!
//! Each adapter implements one version's store traits for [`EncryptedStore`],
//! [`SharedStore`] and [`MemoryStore`](crate::MemoryStore) by checking names, calling the store
//! core and mapping its errors; nothing else lives there. Enable the versions you need with the
//! features `lightning-0-2` (default) and `lightning-0-3`; both may be on at once.
//!
//! # Version markers
//!
//! The constructors ([`EncryptedStore::create`], [`open`](crate::EncryptedStore::open),
//! [`inspect`](crate::EncryptedStore::inspect), [`OpenOptions`](crate::OpenOptions)'s methods, ...)
//! take a marker type parameter, [`V0_2`] or [`V0_3`], that says through which LDK version's
//! traits the header is read and written. The compiler infers it from the traits the inner store
//! implements, so `EncryptedStore::create(FilesystemStore::new(dir), ...)` needs no annotation.
//! Only a store that implements the traits of **both** versions (such as
//! [`MemoryStore`](crate::MemoryStore) with both features on) needs it spelled out, and either
//! choice gives the same store:
//!
//! ```ignore
//! let store = EncryptedStore::create::<encrypted_kvstore::ldk::V0_3>(MemoryStore::new(), pass, params)?;
//! ```
//!
//! [`EncryptedStore`]: crate::EncryptedStore
//! [`EncryptedStore::create`]: crate::EncryptedStore::create
//! [`SharedStore`]: crate::SharedStore
#![cfg_attr(
    feature = "lightning-0-3",
    doc = r#"
# With LDK 0.3

With `default-features = false, features = ["lightning-0-3"]` the same names work on LDK 0.3's
stores, and the wrapper is a `PaginatedKVStore` wherever its inner store is one (as ldk-node's
main branch requires of every store), listing with the inner store's order and page tokens:

```
# // This crate's tests name LDK 0.3 `lightning_0_3`; your Cargo.toml names it `lightning`.
# use lightning_0_3 as lightning;
# use lightning_persister_0_3 as lightning_persister;
use encrypted_kvstore::{EncryptedStore, KdfParams};
use lightning::util::persist::{KVStoreSync, PaginatedKVStoreSync};
use lightning_persister::fs_store::v2::FilesystemStoreV2;

let dir = tempfile::tempdir()?;
let inner = FilesystemStoreV2::new(dir.path().into())?;
let store = EncryptedStore::create(inner, b"a long passphrase", KdfParams::default())?;
store.write("payments", "", "p1", b"payment details".to_vec())?;
let page = store.list_paginated("payments", "", None)?;
assert_eq!(page.keys, ["p1"]);
assert_eq!(store.read("payments", "", "p1")?, b"payment details");
# Ok::<(), Box<dyn std::error::Error>>(())
```
"#
)]

#[cfg(feature = "lightning-0-2")]
mod v0_2;
#[cfg(feature = "lightning-0-3")]
mod v0_3;

/// Marker for `lightning` 0.2's store traits (feature `lightning-0-2`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum V0_2 {}

/// Marker for `lightning` 0.3's store traits (feature `lightning-0-3`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum V0_3 {}

pub use crate::io::{AsyncInnerStore, InnerStore, MigratableInnerStore};
