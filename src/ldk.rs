//! The LDK versions this crate speaks, one adapter module each (`ldk/v0_2.rs`, `ldk/v0_3.rs`),
//! and the version markers the constructors infer.
//!
//! Each adapter implements one version's store traits for [`EncryptedStore`],
//! [`SharedStore`] and [`MemoryStore`](crate::MemoryStore) by calling the store core, which
//! checks names and returns its typed errors inside `io::Error`; what the two adapters share is
//! written once here. Nothing else lives there. Enable the versions you need with the features
//! `lightning-0-2` (default) and `lightning-0-3`; both may be on at once.
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
//! let store = EncryptedStore::create::<encrypted_kvstore::ldk::V0_3>(MemoryStore::new(), credential)?;
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
main branch requires of every store), listing with the inner store's order and page tokens.
Over LDK's `FilesystemStoreV2` (lightning-persister 0.3) or any other 0.3 store the marker is
inferred; over the crate's [`MemoryStore`](crate::MemoryStore), which implements both
versions' traits when both features are on, it is spelled out:

```
# // This crate names LDK 0.3 `lightning_0_3`; your Cargo.toml names it `lightning`.
# use lightning_0_3 as lightning;
use encrypted_kvstore::{ldk::V0_3, Credential, EncryptedStore, MemoryStore};
use lightning::util::persist::{KVStoreSync, PaginatedKVStoreSync};

let store = EncryptedStore::create::<V0_3>(
    MemoryStore::new(),
    Credential::passphrase(b"a long passphrase"),
)?;
store.write("payments", "", "p1", b"payment details".to_vec())?;
let page = store.list_paginated("payments", "", None)?;
assert_eq!(page.keys, ["p1"]);
assert_eq!(store.read("payments", "", "p1")?, b"payment details");
# Ok::<(), Box<dyn std::error::Error>>(())
```
"#
)]

/// The implementations both adapters share, written once: each adapter invokes it with its
/// version marker, and the trait names (`KVStoreSync`, `KVStore`) and `io` resolve to that
/// version's in the adapter's module.
macro_rules! shared_impls {
    ($v:ident) => {
        impl<S: KVStoreSync + ?Sized> sealed::SyncIo<$v> for S {
            fn read(&self, p: &str, s: &str, k: &str) -> Result<Vec<u8>, io::Error> {
                KVStoreSync::read(self, p, s, k)
            }
            fn write(&self, p: &str, s: &str, k: &str, buf: Vec<u8>) -> Result<(), io::Error> {
                KVStoreSync::write(self, p, s, k, buf)
            }
            fn list(&self, p: &str, s: &str) -> Result<Vec<String>, io::Error> {
                KVStoreSync::list(self, p, s)
            }
            fn remove(&self, p: &str, s: &str, k: &str, lazy: bool) -> Result<(), io::Error> {
                KVStoreSync::remove(self, p, s, k, lazy)
            }
        }

        impl<S: KVStore + ?Sized> sealed::AsyncIo<$v> for S {
            fn read(
                &self,
                p: &str,
                s: &str,
                k: &str,
            ) -> impl Future<Output = Result<Vec<u8>, io::Error>> + Send + 'static {
                KVStore::read(self, p, s, k)
            }
            fn write(
                &self,
                p: &str,
                s: &str,
                k: &str,
                buf: Vec<u8>,
            ) -> impl Future<Output = Result<(), io::Error>> + Send + 'static {
                KVStore::write(self, p, s, k, buf)
            }
            fn list(
                &self,
                p: &str,
                s: &str,
            ) -> impl Future<Output = Result<Vec<String>, io::Error>> + Send + 'static {
                KVStore::list(self, p, s)
            }
            fn remove(
                &self,
                p: &str,
                s: &str,
                k: &str,
                lazy: bool,
            ) -> impl Future<Output = Result<(), io::Error>> + Send + 'static {
                KVStore::remove(self, p, s, k, lazy)
            }
        }

        impl<S: KVStoreSync> KVStoreSync for EncryptedStore<S> {
            fn read(
                &self,
                primary_namespace: &str,
                secondary_namespace: &str,
                key: &str,
            ) -> Result<Vec<u8>, io::Error> {
                let io = SyncIo::<S, $v>::new(&self.inner);
                complete_io(
                    self.engine
                        .read(&io, primary_namespace, secondary_namespace, key),
                )
            }

            fn write(
                &self,
                primary_namespace: &str,
                secondary_namespace: &str,
                key: &str,
                buf: Vec<u8>,
            ) -> Result<(), io::Error> {
                let io = SyncIo::<S, $v>::new(&self.inner);
                let (p, s, k) = (primary_namespace, secondary_namespace, key);
                self.engine
                    .serialized(p, s, k, || self.engine.write(&io, p, s, k, buf))
            }

            fn remove(
                &self,
                primary_namespace: &str,
                secondary_namespace: &str,
                key: &str,
                lazy: bool,
            ) -> Result<(), io::Error> {
                let io = SyncIo::<S, $v>::new(&self.inner);
                let (p, s, k) = (primary_namespace, secondary_namespace, key);
                self.engine
                    .serialized(p, s, k, || self.engine.remove(&io, p, s, k, lazy))
            }

            fn list(
                &self,
                primary_namespace: &str,
                secondary_namespace: &str,
            ) -> Result<Vec<String>, io::Error> {
                let io = SyncIo::<S, $v>::new(&self.inner);
                complete_io(
                    self.engine
                        .list(&io, primary_namespace, secondary_namespace),
                )
            }
        }

        impl<S: KVStoreSync + ?Sized> KVStoreSync for SharedStore<S> {
            fn read(&self, p: &str, s: &str, k: &str) -> Result<Vec<u8>, io::Error> {
                self.0.read(p, s, k)
            }
            fn write(&self, p: &str, s: &str, k: &str, buf: Vec<u8>) -> Result<(), io::Error> {
                self.0.write(p, s, k, buf)
            }
            fn remove(&self, p: &str, s: &str, k: &str, lazy: bool) -> Result<(), io::Error> {
                self.0.remove(p, s, k, lazy)
            }
            fn list(&self, p: &str, s: &str) -> Result<Vec<String>, io::Error> {
                self.0.list(p, s)
            }
        }

        impl KVStoreSync for MemoryStore {
            fn read(&self, p: &str, s: &str, key: &str) -> Result<Vec<u8>, io::Error> {
                self.get(p, s, key)
            }
            fn write(&self, p: &str, s: &str, key: &str, buf: Vec<u8>) -> Result<(), io::Error> {
                self.put(p, s, key, buf)
            }
            fn remove(&self, p: &str, s: &str, key: &str, _lazy: bool) -> Result<(), io::Error> {
                self.delete(p, s, key)
            }
            fn list(&self, p: &str, s: &str) -> Result<Vec<String>, io::Error> {
                self.keys_in(p, s)
            }
        }
    };
}
#[cfg(any(feature = "lightning-0-2", feature = "lightning-0-3"))]
pub(crate) use shared_impls;

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
